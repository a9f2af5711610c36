/*
 * job_hook.c: the job table's webhook side. When a job ends, its callback
 * (success) or error_callback (any failure; callback when there is none)
 * receives {"type", "timestamp", "data": the job}; a cancelled job sends
 * nothing. Each attempt's outcome is kept in the job (and the store), so
 * that GET shows the delivery and a restart resumes it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/jtext.h"
#include "jobs/job_impl.h"
#include "core/log.h"

void
job_hook_free(JobCallback *cb)
{
    if (!cb)
        return;
    free(cb->url);
    free(cb->error_url);
    free(cb);
}

void
job_hook_due(Job *j, JobStatus s)
{
    JobCallback *cb = j->cb;

    if (!cb || s == JOB_CANCELLED)
        return;
    cb->target = s == JOB_SUCCEEDED || !cb->error_url ? cb->url : cb->error_url;
    snprintf(cb->event, sizeof(cb->event), "job.%s", job_names[s]);
    cb->pending = 1;
}

/* A failed attempt that another follows: said as it happens, not only at
 * the give-up, so that a receiver's trouble shows in the log while it can
 * still be fixed. The receiver's status when one came, and why it failed
 * (that status, or libcurl's error). */
static void
job_hook_log_retry(const Job *j, const WebhookReport *r)
{
    char at[40], why[300];

    clock_rfc3339(r->next_attempt_at, at, sizeof(at));
    if (r->last_status > 0)
        snprintf(why, sizeof(why), "status=%ld (%s)", r->last_status, r->last_error);
    else
        snprintf(why, sizeof(why), "%s", r->last_error);
    log_msg(LOG_INFO, "job=%s webhook to %s: attempt=%d failed, %s; next_attempt_at=%s (in %.1f s)", j->id,
            j->cb->target, r->attempts, why, at, r->next_attempt_at - clock_wall());
}

/* A WebhookReportFn: one attempt's outcome, into the job. Webhook thread
 * (or the stopping one, with r->stopped). */
static void
job_hook_report(void *ctx, const WebhookReport *r)
{
    Job *j = ctx;
    JobTable *t = j->table;
    int last = r->done || r->stopped;

    pthread_mutex_lock(&t->lock);
    if (!r->stopped) { /* a stop leaves the state as it was: the next start resumes it */
        j->cb->state = *r;
        job_store_persist(t, j);
    }
    if (last)
        j->cb->sending = 0;
    pthread_mutex_unlock(&t->lock);
    if (!r->stopped)
        job_events_callback(j, r);
    if (r->done && !r->delivered)
        log_msg(LOG_WARN, "job=%s webhook to %s not delivered after %d attempts: %s", j->id, j->cb->target,
                r->attempts, r->last_error);
    else if (!last && !r->delivered)
        job_hook_log_retry(j, r);
    if (last)
        job_unref(j); /* the delivery's */
}

void
job_hook_fire(JobTable *t, Job *j)
{
    JobCallback *cb = j->cb;
    char id[48], at[40], *body = NULL;
    json_t *data, *payload = NULL;
    int attempts, rc = SVC_ENOMEM;
    double delay;

    pthread_mutex_lock(&t->lock);
    if (!cb || !cb->pending || cb->sending || !t->opt.webhooks || t->quit) {
        pthread_mutex_unlock(&t->lock);
        return;
    }
    cb->pending = 0;
    cb->sending = 1;
    attempts = cb->state.attempts;
    delay = cb->state.next_attempt_at > 0 ? cb->state.next_attempt_at - clock_wall() : 0;
    pthread_mutex_unlock(&t->lock);

    clock_rfc3339(clock_wall(), at, sizeof(at));
    if ((data = job_view_json(t, j, 1)))
        payload = json_pack("{s:s, s:s, s:o}", "type", cb->event, "timestamp", at, "data", data);
    if (payload && (body = jtext_dumps(payload, JSON_COMPACT))) {
        /* One id per job: every attempt and redelivery carries it, so a
         * receiver deduplicates on it. */
        snprintf(id, sizeof(id), "msg_%s", j->id);
        rc = webhook_send(t->opt.webhooks, id, cb->target, body, strlen(body), attempts, delay,
                          job_hook_report, job_ref(j));
        if (rc != SVC_OK)
            job_unref(j);
    }
    json_decref(payload);
    free(body);
    if (rc != SVC_OK) {
        pthread_mutex_lock(&t->lock);
        cb->sending = 0;
        snprintf(cb->state.last_error, sizeof(cb->state.last_error), "%s",
                 rc == SVC_ESTOPPED ? "poold is stopping: delivered at the next start" : "out of memory");
        pthread_mutex_unlock(&t->lock);
    }
}

char *
job_hook_text(const Job *j)
{
    const JobCallback *cb = j->cb;
    json_t *o;
    char *text;

    if (!cb)
        return NULL;
    o = json_pack("{s:s, s:s?, s:s?, s:s, s:i, s:I, s:s, s:b, s:b, s:f}", "url", cb->url,
                  "error_url", cb->error_url, "target", cb->target, "event", cb->event,
                  "attempts", cb->state.attempts, "last_status", (json_int_t)cb->state.last_status,
                  "last_error", cb->state.last_error, "delivered", cb->state.delivered,
                  "done", cb->state.done, "next_at", cb->state.next_attempt_at);
    text = o ? jtext_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

void
job_hook_load(Job *j, const char *text, int resume)
{
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    const char *url = json_string_value(json_object_get(o, "url"));
    const char *err = json_string_value(json_object_get(o, "error_url"));
    const char *target = json_string_value(json_object_get(o, "target"));
    JobCallback *cb = NULL;

    if (!url || !(cb = calloc(1, sizeof(*cb))) || !(cb->url = strdup(url)) ||
        (err && !(cb->error_url = strdup(err)))) {
        if (url)
            log_msg(LOG_ERROR, "job=%s cannot read its callback back", j->id);
        job_hook_free(cb); /* out of memory half way: what was copied goes too */
        json_decref(o);
        return;
    }
    j->cb = cb;
    if (target)
        cb->target = cb->error_url && strcmp(target, cb->error_url) == 0 ? cb->error_url : cb->url;
    snprintf(cb->event, sizeof(cb->event), "%s", json_string_value(json_object_get(o, "event")) ?: "");
    cb->state.attempts = (int)json_integer_value(json_object_get(o, "attempts"));
    if (cb->state.attempts < 0 || cb->state.attempts > 1000) /* not a count this poold wrote */
        cb->state.attempts = 0;
    cb->state.last_status = (long)json_integer_value(json_object_get(o, "last_status"));
    snprintf(cb->state.last_error, sizeof(cb->state.last_error), "%s",
             json_string_value(json_object_get(o, "last_error")) ?: "");
    cb->state.delivered = json_is_true(json_object_get(o, "delivered"));
    cb->state.done = json_is_true(json_object_get(o, "done"));
    cb->state.next_attempt_at = json_real_value(json_object_get(o, "next_at"));
    /* Ended with a delivery not done: it goes on where it was (a copy of
     * another replica's job leaves it to that replica). */
    cb->pending = resume && cb->target && !cb->state.done;
    json_decref(o);
}

json_t *
job_hook_json(const Job *j)
{
    const JobCallback *cb = j->cb;
    char at[40];

    if (!cb)
        return NULL;
    if (cb->state.next_attempt_at > 0)
        clock_rfc3339(cb->state.next_attempt_at, at, sizeof(at));
    return json_pack("{s:s, s:s?, s:i, s:o, s:o, s:b, s:o}", "url", cb->target ? cb->target : cb->url,
                     "error_url", cb->error_url, "attempts", cb->state.attempts,
                     "last_status", cb->state.last_status ? json_integer(cb->state.last_status) : json_null(),
                     "last_error", cb->state.last_error[0] ? json_string(cb->state.last_error) : json_null(),
                     "delivered", cb->state.delivered,
                     "next_attempt_at", cb->state.next_attempt_at > 0 && !cb->state.done ? json_string(at)
                                                                                           : json_null());
}
