/*
 * pipe.c: the floor of any process pool: one small message to another
 * process over a pipe and its answer back, the least a task can cost to
 * hand to a worker. Prints the median nanoseconds per round trip over
 * ROUNDS of N round trips each.
 *
 *     pipe [N] [BYTES]    (200000 round trips of 64 bytes)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 5

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads exactly len bytes; 0 at EOF, -1 on error. */
static int
read_all(int fd, char *buf, size_t len)
{
    for (size_t got = 0; got < len;) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n <= 0)
            return (int)n;
        got += (size_t)n;
    }
    return 1;
}

static int
cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    size_t len = argc > 2 ? (size_t)atol(argv[2]) : 64;
    int to[2], from[2];
    char *buf = calloc(1, len);
    double ns[ROUNDS];
    pid_t pid;

    if (!buf || n <= 0 || len == 0 || pipe(to) < 0 || pipe(from) < 0) {
        perror("pipe");
        return 1;
    }
    if ((pid = fork()) == 0) { /* the worker: answers each message */
        close(to[1]);
        close(from[0]);
        while (read_all(to[0], buf, len) == 1)
            if (write(from[1], buf, len) != (ssize_t)len)
                _exit(1);
        _exit(0);
    }
    close(to[0]);
    close(from[1]);
    for (int r = 0; r < ROUNDS; r++) {
        double began = now();
        for (long i = 0; i < n; i++) {
            memcpy(buf, &i, sizeof(i));
            if (write(to[1], buf, len) != (ssize_t)len || read_all(from[0], buf, len) != 1) {
                perror("round trip");
                return 1;
            }
        }
        ns[r] = (now() - began) / (double)n * 1e9;
    }
    close(to[1]);
    waitpid(pid, NULL, 0);
    qsort(ns, ROUNDS, sizeof(ns[0]), cmp);
    printf("%.0f\n", ns[ROUNDS / 2]);
    free(buf);
    return 0;
}
