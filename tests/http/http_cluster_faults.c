/*
 * http_cluster_faults.c: poold replicas when something fails (issue 21): a
 * replica killed with SIGKILL, stopped, or silent (SIGSTOP) past
 * --claim-after; Redis away past --claim-after; a cancel racing the take.
 * Nothing acknowledged is lost, and nothing runs twice unless a replica
 * died with it in hand (each run counted: tests/lib/cluster.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "cluster.h"
#include "harness.h"

TEST(test_cluster_a_replica_killed_mid_run_loses_no_job)
{
    enum { N = 1000 };
    static char ids[N][40];
    static int runs[N];
    static const char *const fast_claim[] = {"--claim-after", "1", NULL};
    int twice = 0, never = 0;
    Cluster c;

    cluster_start(&c, 3, "2", fast_claim);
    CHECK_INT(submit_many(&c, N, 0.02, ids), 0);
    /* 20 ms a job: a backlog of seconds. r1 dies with jobs in hand: its
     * workers run some, one more waits. */
    for (double end = now_seconds() + 10; pool_number(&c.s[1], "queue.running") < 1 && now_seconds() < end;)
        sleep_seconds(0.01);
    CHECK(pool_number(&c.s[1], "queue.running") >= 1);
    c.s[1].expect_exit = 0;
    server_kill(&c.s[1], SIGKILL);
    double killed = now_seconds();
    CHECK_INT(await_all(&c.s[0], ids, N, 60), 0);
    CHECK_INT(await_all(&c.s[2], ids, N, 10), 0);
    count_runs(&c, runs, N);
    for (int v = 0; v < N; v++)
        twice += runs[v] > 1, never += runs[v] == 0;
    fprintf(stderr, "    all %d done %.1f s after the kill; run twice: %d (r1's jobs in hand), never: %d\n", N,
            now_seconds() - killed, twice, never);
    CHECK_INT(never, 0);
    CHECK(twice <= 2 + 1 + 8); /* at most what r1 held: its workers' tasks, written ahead, prefetched */
    cluster_stop(&c);
}

TEST(test_cluster_a_replica_stopped_gives_back_its_jobs_at_once)
{
    static const char *const quick_stop[] = {"--shutdown-grace", "0.2", NULL};
    Cluster c;
    char id[40];
    int on = -1;

    cluster_start(&c, 2, "1", quick_stop); /* --claim-after stays 30 s */
    snprintf(id, sizeof(id), "%s", job_submit(&c.s[0], "/v1/apply_async", "{\"func\":\"record\",\"args\":[0,3]}"));
    for (double end = now_seconds() + 10; (on = running_on(&c, id)) < 0 && now_seconds() < end;)
        sleep_seconds(0.02);
    CHECK(on >= 0);
    double stopped = now_seconds();
    CHECK_INT(server_stop(&c.s[on]), 0); /* its grace cuts the task short */
    const Server *other = &c.s[1 - on];
    for (double end = now_seconds() + 15; strcmp(job_status(other, id), "succeeded") != 0 && now_seconds() < end;)
        sleep_seconds(0.05);
    CHECK_STR(job_status(other, id), "succeeded");
    json_t *j = job_get(other, id);
    fprintf(stderr, "    ran again on %s %.1f s after the stop, attempt %lld\n",
            json_string_value(jpath(j, "replica")), now_seconds() - stopped,
            (long long)json_integer_value(jpath(j, "attempts")));
    CHECK_INT(json_integer_value(jpath(j, "attempts")), 2);
    CHECK(now_seconds() - stopped < 10); /* not --claim-after's 30 s */
    json_decref(j);
    cluster_stop(&c);
}

/* Redis away for longer than --claim-after, with jobs running and queued:
 * every lease has lapsed by Redis's clock when it comes back, and still
 * no running job is taken from its live replica. */
TEST(test_cluster_redis_away_past_claim_after_loses_nothing_and_runs_nothing_twice)
{
    enum { N = 12 };
    static char ids[N][40];
    static const char *const fast_claim[] = {"--claim-after", "1", NULL};
    int runs[N], twice = 0;
    Cluster c;
    Resp r;
    char path[96];

    cluster_start(&c, 2, "1", fast_claim);
    CHECK_INT(submit_many(&c, N, 0.6, ids), 0);
    for (double end = now_seconds() + 10; pool_number(&c.s[0], "queue.running") < 1 && now_seconds() < end;)
        sleep_seconds(0.02);
    redis_kill(&c.redis, SIGKILL); /* appendfsync always: every 202 is on its disk */
    CHECK(await_ready(&c.s[0], 503, 10));
    snprintf(path, sizeof(path), "/v1/jobs/%s", ids[N - 1]);
    CHECK_INT(req(&c.s[1], "GET", path, NULL, &r), 0);
    CHECK_INT(r.status, 503);
    resp_free(&r);
    post(&c.s[1], "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", 200, &r); /* sync calls go on */
    resp_free(&r);
    sleep_seconds(2.5); /* past --claim-after: every lease lapses */
    redis_restart(&c.redis);
    CHECK(await_ready(&c.s[0], 200, 15));
    CHECK(await_ready(&c.s[1], 200, 15));
    CHECK_INT(await_all(&c.s[0], ids, N, 60), 0);
    CHECK_INT(await_all(&c.s[1], ids, N, 10), 0);
    count_runs(&c, runs, N);
    for (int v = 0; v < N; v++)
        twice += runs[v] > 1;
    CHECK_INT(twice, 0);
    cluster_stop(&c);
}

TEST(test_cluster_a_replica_stopped_with_a_backlog_fails_none_of_it)
{
    enum { N = 10 };
    static char ids[N][40];
    static const char *const quick_stop[] = {"--shutdown-grace", "0.2", NULL};
    Cluster c;

    cluster_start(&c, 2, "1", quick_stop);
    CHECK_INT(submit_many(&c, N, 0.3, ids), 0);
    CHECK_INT(server_stop(&c.s[0]), 0); /* with most of the backlog still queued */
    CHECK_INT(await_all(&c.s[1], ids, N, 30), 0);
    cluster_stop(&c);
}

TEST(test_cluster_a_cancel_right_after_the_submit_wins_on_every_replica)
{
    Cluster c;
    char id[40], path[96];
    int runs[1];
    Resp r;

    cluster_start(&c, 2, "1", NULL);
    for (int round = 0; round < 5; round++) {
        snprintf(id, sizeof(id), "%s",
                 job_submit(&c.s[round % 2], "/v1/apply_async", "{\"func\":\"record\",\"args\":[0,0.3]}"));
        snprintf(path, sizeof(path), "/v1/jobs/%s", id);
        CHECK_INT(req(&c.s[1 - round % 2], "DELETE", path, NULL, &r), 0);
        CHECK_INT(r.status, 200);
        resp_free(&r);
        sleep_seconds(0.5); /* what would have run has run */
        for (int k = 0; k < 2; k++)
            CHECK_STR(job_status(&c.s[k], id), "cancelled");
    }
    count_runs(&c, runs, 1);
    fprintf(stderr, "    5 jobs cancelled at once: %d began before their cancel reached them\n", runs[0]);
    cluster_stop(&c);
}

TEST(test_cluster_a_replica_silent_past_claim_after_gives_its_job_up_without_ending_it)
{
    static const char *const fast_claim[] = {"--claim-after", "1", NULL};
    Cluster c;
    char id[40];
    int on = -1;

    cluster_start(&c, 2, "1", fast_claim);
    snprintf(id, sizeof(id), "%s", job_submit(&c.s[0], "/v1/apply_async", "{\"func\":\"record\",\"args\":[0,3]}"));
    for (double end = now_seconds() + 10; (on = running_on(&c, id)) < 0 && now_seconds() < end;)
        sleep_seconds(0.02);
    CHECK(on >= 0);
    kill(c.s[on].pid, SIGSTOP); /* silent: no heartbeat */
    const Server *other = &c.s[1 - on];
    json_t *j = NULL;
    for (double end = now_seconds() + 10; now_seconds() < end; sleep_seconds(0.05)) {
        json_decref(j);
        j = job_get(other, id);
        if (json_integer_value(jpath(j, "attempts")) == 2 &&
            strcmp(json_string_value(jpath(j, "status")) ?: "", "running") == 0)
            break;
    }
    kill(c.s[on].pid, SIGCONT);
    CHECK_INT(json_integer_value(jpath(j, "attempts")), 2); /* taken back, running again there */
    CHECK_STR(json_string_value(jpath(j, "status")), "running");
    json_decref(j);
    /* The silent one learns it lost the job, stops its attempt, and ends
     * nothing itself: both show the end of the attempt that ran on. */
    for (double end = now_seconds() + 10; strcmp(job_status(&c.s[on], id), "succeeded") != 0 && now_seconds() < end;)
        sleep_seconds(0.05);
    CHECK_STR(job_status(&c.s[on], id), "succeeded");
    CHECK_STR(job_status(other, id), "succeeded");
    j = job_get(&c.s[on], id);
    CHECK_INT(json_integer_value(jpath(j, "attempts")), 2);
    json_decref(j);
    cluster_stop(&c);
}

TEST(test_cluster_a_job_no_replica_can_queue_fails_once_never_loops)
{
    static const char *const small_queue[] = {"--max-queue", "4", NULL};
    Cluster c;
    char id[40];

    cluster_start(&c, 2, "1", small_queue);
    snprintf(id, sizeof(id), "%s",
             job_submit(&c.s[0], "/v1/map_async", "{\"func\":\"record\",\"iterable\":[1,2,3,4,5,6,7,8],\"chunksize\":1}"));
    for (double end = now_seconds() + 10; strcmp(job_status(&c.s[1], id), "failed") != 0 && now_seconds() < end;)
        sleep_seconds(0.05);
    json_t *j = job_get(&c.s[1], id);
    CHECK_STR(json_string_value(jpath(j, "status")), "failed");
    CHECK(strstr(json_string_value(jpath(j, "error.message")) ?: "", "--max-queue") != NULL);
    CHECK_INT(json_integer_value(jpath(j, "attempts")), 1);
    json_decref(j);
    cluster_stop(&c);
}

int
main(int argc, char **argv)
{
    return harness_run(argc, argv);
}
