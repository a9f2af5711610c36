/*
 * respawn.c: how long poold is a worker short after one is killed. Serves
 * poold (POOLD_BIN) with two workers, then 20 times: holds one worker busy
 * with a long call, kills it with SIGKILL, and polls /v1/pool until its
 * replacement reports ready (its WIRE_READY frame came). Prints each time
 * and the median, in milliseconds.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define RUNS 20

/* 1 when /v1/pool shows two workers ready (idle or busy), neither `gone`. */
static int
replaced(const Server *s, int gone)
{
    json_t *j = get_json(s, "/v1/pool"), *w;
    size_t i;
    int ready = 0;

    json_array_foreach(json_object_get(j, "workers"), i, w) {
        const char *st = json_string_value(json_object_get(w, "state"));
        ready += (strcmp(st, "idle") == 0 || strcmp(st, "busy") == 0) &&
                 json_integer_value(json_object_get(w, "pid")) != gone;
    }
    json_decref(j);
    return ready == 2;
}

static int
cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

int
main(void)
{
    static const char *const args[] = {"--processes", "2", "--log-level", "warn", NULL};
    double ms[RUNS];
    Server s;

    server_start(&s, args);
    for (int run = 0; run < RUNS; run++) {
        BgCall c = {.s = &s, .path = "/v1/apply", .body = "{\"func\":\"sleep\",\"args\":[30]}"};
        pthread_t t;
        int victim;
        double t0;

        pthread_create(&t, NULL, bg_call_run, &c);
        if (!await_pool_number(&s, "queue.running", 1, 5) || (victim = worker_in_state(&s, "busy")) <= 0) {
            fprintf(stderr, "respawn: no busy worker\n");
            return 1;
        }
        t0 = now_seconds();
        kill(victim, SIGKILL);
        while (!replaced(&s, victim))
            ;
        ms[run] = (now_seconds() - t0) * 1000;
        pthread_join(t, NULL);
        if (c.r.status != 502)
            fprintf(stderr, "respawn: the killed call answered %ld\n", c.r.status);
        resp_free(&c.r);
        printf("run %2d: %.2f ms\n", run + 1, ms[run]);
    }
    qsort(ms, RUNS, sizeof(ms[0]), cmp);
    printf("median kill -9 -> replacement ready: %.2f ms (min %.2f, max %.2f, %d runs)\n",
           (ms[RUNS / 2 - 1] + ms[RUNS / 2]) / 2, ms[0], ms[RUNS - 1], RUNS);
    server_stop(&s);
    return 0;
}
