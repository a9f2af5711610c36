/*
 * server.c: a test's poold from start to stop (server.h): spawned on a
 * free port with a data dir of its own, awaited, stopped or killed, and
 * judged by how it ended and by the sanitizer reports in its log.
 */
#include "server.h"
#include "client.h"
#include "contract.h"

#include <arpa/inet.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Asks the kernel for a free loopback port. Another process could take it
 * before poold binds it; server_start then tries again. */
int
free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

pid_t
spawn_logged(const char *log, const char *bin, const char *const *argv)
{
    pid_t pid;

    fflush(NULL);
    if ((pid = fork()) == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        /* A test that fails exits at once: what it started must not outlive it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* The lines a sanitizer's report starts with: ASan's errors (and the
 * deadly signal it caught, before its SEGV report), LSan's leaks and its
 * failure to run at all (a leak check that did not run must not pass as
 * one that found nothing), UBSan's "file:line:col: runtime error:", and
 * TSan's and MSan's, for builds with those. */
static const char *const server_san_marks[] = {
    "ERROR: AddressSanitizer", "AddressSanitizer:DEADLYSIGNAL", "ERROR: LeakSanitizer",
    "LeakSanitizer has encountered a fatal error", ": runtime error: ",
    "UndefinedBehaviorSanitizer:DEADLYSIGNAL", "WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer",
    "WARNING: MemorySanitizer", NULL};

#define SERVER_SAN_CONTEXT 40 /* lines shown from each report's start */
#define SERVER_SAN_SHOWN 200  /* lines shown in all: the log has the rest */

static int
server_san_line(const char *line)
{
    for (int i = 0; server_san_marks[i]; i++)
        if (strstr(line, server_san_marks[i]))
            return 1;
    return 0;
}

/* The number of sanitizer reports in f; with show, their first lines go
 * to stderr, indented under the test's name. */
static int
server_san_scan(FILE *f, int show)
{
    char *line = NULL;
    size_t cap = 0;
    int reports = 0, left = 0, shown = 0, hidden = 0;

    while (getline(&line, &cap, f) >= 0) {
        if (server_san_line(line)) {
            reports++;
            left = SERVER_SAN_CONTEXT;
        }
        if (!show || left <= 0)
            continue;
        left--;
        if (shown++ < SERVER_SAN_SHOWN)
            fprintf(stderr, "      %s%s", line, strchr(line, '\n') ? "" : "\n");
        else
            hidden++;
    }
    if (hidden)
        fprintf(stderr, "      (%d lines more)\n", hidden);
    free(line);
    return reports;
}

/* The reports in the log at path (0 when it cannot be read: a test that
 * removed it), shown with show. */
static int
server_log_reports(const char *path, int show)
{
    FILE *f = fopen(path, "r");
    int n;

    if (!f)
        return 0;
    n = server_san_scan(f, show);
    fclose(f);
    return n;
}

void
poold_log_check(const char *path)
{
    if (!server_log_reports(path, 0))
        return;
    fprintf(stderr, "    poold's log %s holds a sanitizer's report (the log is kept):\n", path);
    server_log_reports(path, 1);
    exit(1);
}

void
poold_output_check(const char *what, const char *text)
{
    FILE *f;

    if (!text || !(f = fmemopen((void *)text, strlen(text), "r")))
        return;
    if (server_san_scan(f, 0)) {
        fprintf(stderr, "    the output of %s holds a sanitizer's report:\n", what);
        rewind(f);
        server_san_scan(f, 1);
        fclose(f);
        exit(1);
    }
    fclose(f);
}

/* Appends opt to the environment variable name's options (colon-
 * separated, the last of a name winning) or prepends it, when the
 * caller's own setting should win. */
static void
server_san_option(const char *name, const char *opt, int last)
{
    const char *old = getenv(name);
    char buf[1024];

    if (!old || !*old)
        snprintf(buf, sizeof(buf), "%s", opt);
    else
        snprintf(buf, sizeof(buf), "%s:%s", last ? old : opt, last ? opt : old);
    setenv(name, buf, 1);
}

/* The sanitizers' options for every poold a test starts, however it
 * starts it (server_start, popen, system): set before main, while the
 * process has one thread, and read by each sanitized child at its start
 * (this process read its own already). LeakSanitizer on whatever the
 * caller set, since the stop's check counts on it; UBSan with its stack
 * (a single line otherwise), unless the caller says otherwise. A plain
 * build's poold ignores them. */
__attribute__((constructor)) static void
server_san_options(void)
{
    server_san_option("ASAN_OPTIONS", "detect_leaks=1", 1);
    server_san_option("UBSAN_OPTIONS", "print_stacktrace=1", 0);
}

/* Wait status st in words, for the failure message. */
static void
server_describe(int st, char *buf, size_t len)
{
    if (st == -1)
        snprintf(buf, len, "was not reaped");
    else if (WIFEXITED(st))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, len, "died of signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(buf, len, "ended with wait status %#x", (unsigned)st);
}

/* Fails the test unless poold, pid, reaped with wait status st, ended as
 * the test expects: by sig when sig is not 0 (the signal it sent on
 * purpose), else by exiting with s->expect_exit; and with no sanitizer's
 * report in its log. On failure the log and the data dir stay, as they
 * do when a CHECK fails before the stop. */
static void
server_check(const Server *s, pid_t pid, int st, int sig)
{
    char how[96], want[64];
    int ok = sig ? st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == sig
                 : st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == s->expect_exit;
    int reports = server_log_reports(s->log, 0);

    if (ok && !reports)
        return;
    server_describe(st, how, sizeof(how));
    if (sig)
        snprintf(want, sizeof(want), "death by signal %d (%s)", sig, strsignal(sig));
    else
        snprintf(want, sizeof(want), "exit status %d", s->expect_exit);
    if (!ok)
        fprintf(stderr, "    poold (pid %d) %s, expected %s; its log: %s\n", (int)pid, how, want, s->log);
    if (reports) {
        fprintf(stderr, "    poold's log %s holds %d sanitizer report%s:\n", s->log, reports,
                reports == 1 ? "" : "s");
        server_log_reports(s->log, 1);
    }
    exit(1);
}

/* poold's arguments: where to listen, the test's own, and a fresh data dir
 * unless they name a store or a data dir; notes the certificate of
 * --tls-cert for the requests. argv holds 64; port is the caller's. */
static void
server_argv(Server *s, const char *bin, const char *port, const char *const *args, const char **argv)
{
    int n = 0;
    int own_data = 1;

    argv[n++] = bin;
    argv[n++] = "--host";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--port";
    argv[n++] = port;
    s->ca[0] = '\0';
    for (int i = 0; args && args[i] && n < 60; i++) {
        if (strcmp(args[i], "--store") == 0 || strcmp(args[i], "--data-dir") == 0)
            own_data = 0;
        if (strcmp(args[i], "--tls-cert") == 0 && args[i + 1])
            snprintf(s->ca, sizeof(s->ca), "%s", args[i + 1]);
        argv[n++] = args[i];
    }
    s->data[0] = '\0';
    if (own_data && s->redis.pid) {
        argv[n++] = "--store";
        argv[n++] = s->redis.url;
    } else if (own_data) {
        snprintf(s->data, sizeof(s->data), "/tmp/poold-test-data-XXXXXX");
        if (!mkdtemp(s->data)) {
            perror("mkdtemp");
            exit(2);
        }
        argv[n++] = "--data-dir";
        argv[n++] = s->data;
    }
    argv[n] = NULL;
}

/* Waits up to 15 s for the spawned poold's /healthz; 0 when it answered
 * (its proxy started too), -1 when it exited or never answered (then it
 * is reaped and its data dir gone). */
static int
server_await(Server *s)
{
    for (double end = now_seconds() + 15; now_seconds() < end;) {
        Resp r;
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            /* Another process took the port first, say: worth another try,
             * unless the exit was a sanitizer's. */
            poold_log_check(s->log);
            if (s->data[0])
                remove_tree(s->data);
            return -1;
        }
        if (req(s, "GET", "/healthz", NULL, &r) == 0 && r.status == 200) {
            resp_free(&r);
            contract_start(s);
            return 0;
        }
        resp_free(&r);
        usleep(20 * 1000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    if (s->data[0])
        remove_tree(s->data);
    return -1;
}

static int
server_try(Server *s, const char *const *args)
{
    const char *bin = getenv("POOLD_BIN") ? getenv("POOLD_BIN") : "build/poold";
    char port[16];
    const char *argv[64];

    s->proxy_pid = 0;
    s->proxy_port = 0;
    s->expect_exit = 0;
    s->port = free_port();
    snprintf(port, sizeof(port), "%d", s->port);
    snprintf(s->log, sizeof(s->log), "/tmp/poold-test-%d-%d.log", (int)getpid(), s->port);
    server_argv(s, bin, port, args, argv);
    s->pid = spawn_logged(s->log, bin, argv);
    return server_await(s);
}

/* Whether args leave the store to the server (no --store, no --data-dir). */
static int
server_own_store(const char *const *args)
{
    for (int i = 0; args && args[i]; i++)
        if (strcmp(args[i], "--store") == 0 || strcmp(args[i], "--data-dir") == 0)
            return 0;
    return 1;
}

void
server_start(Server *s, const char *const *args)
{
    const char *store = getenv("POOLD_TEST_STORE");

    memset(&s->redis, 0, sizeof(s->redis));
    if (store && strcmp(store, "redis") == 0 && server_own_store(args))
        redis_start(&s->redis);
    for (int attempt = 0; attempt < 3; attempt++)
        if (server_try(s, args) == 0)
            return;
    fprintf(stderr, "cannot start poold; see %s\n", s->log);
    exit(2);
}

/* A test that fails exits before it stops its server, so its log stays
 * for reading; a clean stop removes it, unless POOLD_TEST_KEEP_LOGS. */
static void
server_drop_log(Server *s)
{
    if (!getenv("POOLD_TEST_KEEP_LOGS"))
        unlink(s->log);
    if (s->data[0])
        remove_tree(s->data);
    s->data[0] = '\0';
    if (s->redis.dir[0])
        redis_free(&s->redis);
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

void
remove_tree(const char *path)
{
    nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* What every end of a server has in common once it is reaped: the proxy
 * stopped, the ending checked, the log and the data dir dropped. */
static void
server_ended(Server *s, int st, int sig)
{
    pid_t pid = s->pid;

    s->pid = 0;
    contract_stop(s);
    server_check(s, pid, st, sig);
    server_drop_log(s);
}

int
server_stop(Server *s)
{
    int st = -1;

    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    for (double end = now_seconds() + 30; now_seconds() < end; usleep(10 * 1000))
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            server_ended(s, st, 0);
            return st;
        }
    fprintf(stderr, "    poold (pid %d) did not stop within 30 s of SIGTERM: killed\n", (int)s->pid);
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    server_ended(s, st, 0); /* fails: a death by SIGKILL */
    return st;
}

int
server_kill(Server *s, int sig)
{
    int st = -1;

    if (s->pid <= 0)
        return -1;
    kill(s->pid, sig);
    waitpid(s->pid, &st, 0);
    server_ended(s, st, sig);
    return st;
}

void
server_reaped(Server *s, int st)
{
    server_ended(s, st, 0);
}

const char *
server_data_dir(void)
{
    static char dir[64];

    snprintf(dir, sizeof(dir), "/tmp/poold-test-store-XXXXXX");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "server_data_dir: mkdtemp: %s\n", strerror(errno));
        exit(1);
    }
    return dir;
}

void
server_start_on(Server *s, const char *dir, const char *processes)
{
    const char *args[] = {"--data-dir", dir, "--processes", processes, NULL};

    server_start(s, args);
}

int
server_log_has(const Server *s, const char *text, double seconds)
{
    double end = now_seconds() + seconds;

    do {
        FILE *f = fopen(s->log, "r");
        char line[4096];
        int found = 0;
        while (f && !found && fgets(line, sizeof(line), f))
            found = strstr(line, text) != NULL;
        if (f)
            fclose(f);
        if (found)
            return 1;
        usleep(20 * 1000);
    } while (now_seconds() < end);
    return 0;
}

const char *
test_runtime_file(const char *name)
{
    static char path[PATH_MAX];
    char rel[PATH_MAX];
    const char *dir = getenv("POOLD_TEST_RUNTIME_DIR") ? getenv("POOLD_TEST_RUNTIME_DIR") : "tests/runtime";

    snprintf(rel, sizeof(rel), "%s/%s", dir, name);
    if (!realpath(rel, path))
        snprintf(path, sizeof(path), "%s", rel);
    return path;
}

const char *
test_write_file(char *path, size_t len, const char *stem, const char *text)
{
    FILE *f;

    snprintf(path, len, "/tmp/poold-test-%d-%s", (int)getpid(), stem); /* stem's extension last */
    if (!(f = fopen(path, "w"))) {
        fprintf(stderr, "test_write_file: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    return path;
}

int
test_pid_gone(int pid, double seconds)
{
    double end = now_seconds() + seconds;

    do {
        char path[64], buf[512], state = 0, *p;
        FILE *f;
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        if (!(f = fopen(path, "r")))
            return 1;
        if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
            state = p[2];
        fclose(f);
        if (state == 'Z')
            return 1;
        usleep(20 * 1000);
    } while (now_seconds() < end);
    return 0;
}
