/*
 * events.c: the ring and what publishers call (events.h): each event is
 * written once as its frame, under the lock only for its id and its slot;
 * and the counts /metrics shows. Readers are events_reader.c's.
 */
#include "events/events_impl.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/jtext.h"
#include "core/metrics.h"

EventsState events_state = {.lock = PTHREAD_MUTEX_INITIALIZER};
#define S events_state

static const char *const events_names[EV_NTYPES] = {
    [EV_JOB_CREATED] = "job.created",
    [EV_JOB_STARTED] = "job.started",
    [EV_JOB_PROGRESS] = "job.progress",
    [EV_JOB_SUCCEEDED] = "job.succeeded",
    [EV_JOB_FAILED] = "job.failed",
    [EV_JOB_TIMED_OUT] = "job.timed_out",
    [EV_JOB_WORKER_LOST] = "job.worker_lost",
    [EV_JOB_CANCELLED] = "job.cancelled",
    [EV_CALLBACK_DELIVERED] = "job.callback.delivered",
    [EV_CALLBACK_GIVEN_UP] = "job.callback.given_up",
    [EV_WORKER_STARTED] = "worker.started",
    [EV_WORKER_EXITED] = "worker.exited",
    [EV_WORKER_RECYCLED] = "worker.recycled",
    [EV_POOL_STATS] = "pool.stats",
    [EV_STREAM_GAP] = "stream.gap",
};

const char *
events_type_name(EventType t)
{
    return (unsigned)t < EV_NTYPES ? events_names[t] : "?";
}

void
events_count(EventType t)
{
    __atomic_add_fetch(&S.counts[t], 1, __ATOMIC_RELAXED);
}

int
events_init(const EventsOptions *o)
{
    S.opt = *o;
    S.cap = o->ring ? o->ring : EVENTS_DEFAULT_RING;
    if (S.opt.heartbeat <= 0)
        S.opt.heartbeat = EVENTS_DEFAULT_HEARTBEAT;
    if (!(S.ring = calloc(S.cap, sizeof(*S.ring))))
        return SVC_ENOMEM;
    /* Ids go on growing across restarts (milliseconds since the epoch,
     * a thousand a millisecond), so that a Last-Event-ID from an earlier
     * run is recognised as gone, never taken for one of this run's. They
     * stay below 2^53: a browser's numbers hold them. */
    S.first = S.next = (uint64_t)(clock_wall() * 1e3) * 1000;
    S.stopping = 0;
    clock_cond_init(&S.cond);
    if (pthread_create(&S.waker, NULL, events_waker, NULL) != 0) {
        free(S.ring);
        S.ring = NULL;
        return SVC_ERROR;
    }
    S.has_waker = 1;
    __atomic_store_n(&S.live, 1, __ATOMIC_RELEASE);
    return SVC_OK;
}

void
events_stop(void)
{
    pthread_mutex_lock(&S.lock);
    if (!S.has_waker) {
        pthread_mutex_unlock(&S.lock);
        return;
    }
    S.stopping = 1;
    pthread_cond_signal(&S.cond);
    pthread_mutex_unlock(&S.lock);
    pthread_join(S.waker, NULL);
    S.has_waker = 0;
}

void
events_free(void)
{
    events_stop();
    if (!S.ring)
        return;
    __atomic_store_n(&S.live, 0, __ATOMIC_RELEASE);
    for (size_t i = 0; S.ring && i < S.cap; i++)
        free(S.ring[i].text);
    free(S.ring);
    S.ring = NULL;
    pthread_cond_destroy(&S.cond);
}

uint64_t
events_oldest(void)
{
    return S.next - S.first > S.cap ? S.next - S.cap : S.first;
}

/* The event's JSON text: data's members beside type, job and time; a
 * text too long for a frame keeps only those three and says so. */
static char *
events_json(EventType type, const char *job, json_t *data)
{
    char *text;

    if (!data && !(data = json_object()))
        return NULL;
    json_object_set_new(data, "type", json_string(events_names[type]));
    if (job)
        json_object_set_new(data, "job", json_string(job));
    json_object_set_new(data, "time", json_real(clock_wall()));
    text = jtext_dumps(data, JSON_COMPACT);
    if (text && strlen(text) > EVENTS_MAX_FRAME - 128) {
        free(text);
        text = NULL;
        json_t *cut = json_pack("{s:s, s:s?, s:O, s:b}", "type", events_names[type], "job", job, "time",
                                json_object_get(data, "time"), "truncated", 1);
        if (cut)
            text = jtext_dumps(cut, JSON_COMPACT);
        json_decref(cut);
    }
    json_decref(data);
    return text;
}

void
events_publish(EventType type, const char *job, json_t *data)
{
    char *text, *frame, *old;
    size_t cap, len;
    EventsSlot *s;

    if ((unsigned)type >= EV_NTYPES || !__atomic_load_n(&S.live, __ATOMIC_ACQUIRE)) {
        json_decref(data);
        return;
    }
    events_count(type);
    if (!(text = events_json(type, job, data)))
        return;
    cap = strlen(text) + strlen(events_names[type]) + 64;
    frame = malloc(cap);
    if (!frame) {
        free(text);
        return;
    }
    pthread_mutex_lock(&S.lock);
    s = &S.ring[S.next % S.cap];
    old = s->text;
    s->id = S.next++;
    s->type = type;
    snprintf(s->job, sizeof(s->job), "%s", job ? job : "");
    len = (size_t)snprintf(frame, cap, "id: %" PRIu64 "\nevent: %s\ndata: %s\n\n", s->id, events_names[type], text);
    s->text = frame;
    s->len = len < cap ? len : cap - 1;
    if (S.sleeping > 0 && !S.news) {
        S.news = 1;
        pthread_cond_signal(&S.cond);
    }
    pthread_mutex_unlock(&S.lock);
    free(old);
    free(text);
}

void
events_metrics_write(FILE *f)
{
    char lab[64];

    metrics_family(f, "poold_events_total", "counter",
                   "Events published on GET /v1/events, by type (stream.gap: told to a reader that fell behind).");
    for (int t = 0; t < EV_NTYPES; t++) {
        snprintf(lab, sizeof(lab), "type=\"%s\"", events_names[t]);
        metrics_sample(f, "poold_events_total", lab, (double)__atomic_load_n(&S.counts[t], __ATOMIC_RELAXED));
    }
}

/* The bits of the types one pattern names: exact, "*", or "prefix.*". */
static unsigned
events_pattern_bits(const char *p, size_t len)
{
    unsigned bits = 0;

    for (int t = 0; t < EV_NTYPES; t++) {
        const char *n = events_names[t];
        if ((len == 1 && p[0] == '*') || (strlen(n) == len && memcmp(n, p, len) == 0) ||
            (len >= 2 && p[len - 1] == '*' && p[len - 2] == '.' && strncmp(n, p, len - 1) == 0))
            bits |= 1u << t;
    }
    return bits;
}

/* The bits types names, or 0 when one of its patterns names none. */
unsigned
events_filter_bits(const char *types)
{
    unsigned all = 0;

    if (!types || !*types)
        return (1u << EV_NTYPES) - 1;
    for (const char *p = types;;) {
        size_t len = strcspn(p, ",");
        unsigned bits = events_pattern_bits(p, len);
        if (!bits)
            return 0;
        all |= bits;
        if (!p[len])
            break;
        p += len + 1;
    }
    return all | 1u << EV_STREAM_GAP;
}

int
events_filter_check(const char *types, char *why, size_t len)
{
    if (events_filter_bits(types))
        return SVC_OK;
    snprintf(why, len, "type '%.100s' names no event: give names such as job.succeeded or job.*, "
             "comma-separated", types);
    return SVC_EINVAL;
}
