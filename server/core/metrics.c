/* metrics.c: see metrics.h. */
#include "core/metrics.h"

#include <stdlib.h>
#include <string.h>

/* Upper bounds of the duration buckets, in seconds, shared by tasks and
 * requests: from a fast echo (~0.1 ms) to a long job; +Inf follows. */
static const double metrics_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,   0.5,     1,      2.5,   5,      10,    30,   60};
#define NBUCKET (ARRAY_LEN(metrics_bounds) + 1)
#define NSTATUS 600 /* HTTP status codes are below */

/* A histogram: counts per bucket (not cumulative: one add per sample) and
 * the sum in microseconds, so that it too is an integer add. */
typedef struct Histogram {
    uint64_t bucket[NBUCKET];
    uint64_t sum_us;
} Histogram;

static const char *const task_status_names[] = {"succeeded", "failed", "timed_out", "worker_lost",
                                                "cancelled", "not_run"};
static const char *const exit_cause_names[] = {"crash", "timeout", "cancel", "max_tasks",
                                               "start_failure", "start_timeout"};
static const char *const webhook_reason_names[] = {"delivered", "status", "timeout", "network", "refused"};

static struct {
    unsigned nfuncs, nroutes;
    char **funcs, **methods, **patterns; /* copies */
    uint64_t *tasks;        /* [func][MT_NSTATUS] */
    Histogram *task_time;   /* [func] */
    uint64_t *http;         /* [route + 1][NSTATUS]; row 0: no route */
    Histogram *http_time;   /* [route + 1] */
    uint64_t exits[MX_NCAUSE];
    uint64_t webhook[MW_NOUTCOME];
    uint64_t webhook_gave_up;
} M;

static void
count(uint64_t *slot, uint64_t n)
{
    __atomic_add_fetch(slot, n, __ATOMIC_RELAXED);
}

static uint64_t
read_count(const uint64_t *slot)
{
    return __atomic_load_n(slot, __ATOMIC_RELAXED);
}

static void
observe(Histogram *h, double seconds)
{
    size_t b = 0;

    while (b < ARRAY_LEN(metrics_bounds) && seconds > metrics_bounds[b])
        b++;
    count(&h->bucket[b], 1);
    count(&h->sum_us, (uint64_t)(seconds * 1e6 + 0.5));
}

static char **
copy_names(const char *const *names, unsigned n)
{
    char **out = calloc(n ? n : 1, sizeof(*out));

    for (unsigned i = 0; out && i < n; i++)
        if (!(out[i] = strdup(names[i]))) {
            while (i--)
                free(out[i]);
            free(out);
            return NULL;
        }
    return out;
}

static void
free_names(char **names, unsigned n)
{
    for (unsigned i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

int
metrics_init(const char *const *func_names, unsigned nfuncs, const char *const *route_methods,
             const char *const *route_patterns, unsigned nroutes)
{
    metrics_free();
    M.nfuncs = nfuncs;
    M.nroutes = nroutes;
    M.funcs = copy_names(func_names, nfuncs);
    M.methods = copy_names(route_methods, nroutes);
    M.patterns = copy_names(route_patterns, nroutes);
    M.tasks = calloc((size_t)nfuncs * MT_NSTATUS + 1, sizeof(*M.tasks));
    M.task_time = calloc((size_t)nfuncs + 1, sizeof(*M.task_time));
    M.http = calloc(((size_t)nroutes + 1) * NSTATUS, sizeof(*M.http));
    M.http_time = calloc((size_t)nroutes + 1, sizeof(*M.http_time));
    if (!M.funcs || !M.methods || !M.patterns || !M.tasks || !M.task_time || !M.http || !M.http_time) {
        metrics_free();
        return SVC_ENOMEM;
    }
    return SVC_OK;
}

void
metrics_free(void)
{
    free_names(M.funcs, M.nfuncs);
    free_names(M.methods, M.nroutes);
    free_names(M.patterns, M.nroutes);
    free(M.tasks);
    free(M.task_time);
    free(M.http);
    free(M.http_time);
    memset(&M, 0, sizeof(M));
}

void
metrics_http(int route, int status, double seconds)
{
    size_t row = route >= 0 && (unsigned)route < M.nroutes ? (size_t)route + 1 : 0;

    if (!M.http || status < 100 || status >= NSTATUS)
        return;
    count(&M.http[row * NSTATUS + (size_t)status], 1);
    observe(&M.http_time[row], seconds);
}

void
metrics_task(unsigned func, uint64_t items, uint64_t failed, MetricsTaskStatus status, double seconds)
{
    uint64_t *row;

    if (!M.tasks || func >= M.nfuncs)
        return;
    row = &M.tasks[(size_t)func * MT_NSTATUS];
    if (status == MT_SUCCEEDED) {
        failed = failed < items ? failed : items;
        count(&row[MT_FAILED], failed);
        items -= failed;
    }
    count(&row[status], items);
    if (seconds > 0)
        observe(&M.task_time[func], seconds);
}

void
metrics_worker_exit(MetricsExitCause cause)
{
    count(&M.exits[cause], 1);
}

void
metrics_webhook(MetricsWebhookOutcome outcome, int gave_up)
{
    count(&M.webhook[outcome], 1);
    if (gave_up)
        count(&M.webhook_gave_up, 1);
}

/* --- the text format --- */

const char *
metrics_escape(const char *value, char *buf, size_t len)
{
    size_t o = 0;

    for (const char *c = value; *c && o + 3 < len; c++) {
        if (*c == '\\' || *c == '"' || *c == '\n') {
            buf[o++] = '\\';
            buf[o++] = *c == '\n' ? 'n' : *c;
        } else {
            buf[o++] = *c;
        }
    }
    buf[o] = '\0';
    return buf;
}

void
metrics_family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
metrics_sample(FILE *f, const char *name, const char *labels, double value)
{
    /* Counts print whole (exact up to 2^53); sums in seconds to the
     * microsecond they were counted in. */
    int whole = value > -9007199254740992.0 && value < 9007199254740992.0 && value == (double)(int64_t)value;
    const char *fmt = whole ? "%.0f" : "%.10g";

    fprintf(f, labels[0] ? "%s{%s} " : "%s%s ", name, labels);
    fprintf(f, fmt, value);
    fputc('\n', f);
}

static uint64_t
histogram_count(const Histogram *h)
{
    uint64_t n = 0;

    for (size_t b = 0; b < NBUCKET; b++)
        n += read_count(&h->bucket[b]);
    return n;
}

/* A histogram's samples, cumulative as the format wants; labels ("" or
 * pairs) go before le. */
static void
write_histogram(FILE *f, const char *name, const char *labels, const Histogram *h)
{
    char bname[128], lab[600];
    uint64_t cum = 0;

    snprintf(bname, sizeof(bname), "%s_bucket", name);
    for (size_t b = 0; b < NBUCKET; b++) {
        cum += read_count(&h->bucket[b]);
        if (b < ARRAY_LEN(metrics_bounds))
            snprintf(lab, sizeof(lab), "%s%sle=\"%g\"", labels, labels[0] ? "," : "", metrics_bounds[b]);
        else
            snprintf(lab, sizeof(lab), "%s%sle=\"+Inf\"", labels, labels[0] ? "," : "");
        metrics_sample(f, bname, lab, (double)cum);
    }
    snprintf(bname, sizeof(bname), "%s_sum", name);
    metrics_sample(f, bname, labels, (double)read_count(&h->sum_us) / 1e6);
    snprintf(bname, sizeof(bname), "%s_count", name);
    metrics_sample(f, bname, labels, (double)cum);
}

static void
write_tasks(FILE *f)
{
    char func[300], lab[400];

    metrics_family(f, "poold_tasks_total", "counter",
                   "Calls of a function that ended, by function and how they ended.");
    for (unsigned i = 0; i < M.nfuncs; i++) {
        metrics_escape(M.funcs[i], func, sizeof(func));
        for (int s = 0; s < MT_NSTATUS; s++) {
            snprintf(lab, sizeof(lab), "func=\"%s\",status=\"%s\"", func, task_status_names[s]);
            metrics_sample(f, "poold_tasks_total", lab, (double)read_count(&M.tasks[(size_t)i * MT_NSTATUS + s]));
        }
    }
    metrics_family(f, "poold_task_duration_seconds", "histogram",
                   "How long a worker held a task (one apply, or one chunk of a map), by function.");
    for (unsigned i = 0; i < M.nfuncs; i++) {
        snprintf(lab, sizeof(lab), "func=\"%s\"", metrics_escape(M.funcs[i], func, sizeof(func)));
        write_histogram(f, "poold_task_duration_seconds", lab, &M.task_time[i]);
    }
}

static void
write_http(FILE *f)
{
    char pat[300], lab[400];

    metrics_family(f, "poold_http_requests_total", "counter", "HTTP requests answered, by route and status.");
    for (unsigned row = 0; row <= M.nroutes; row++) {
        const char *method = row ? M.methods[row - 1] : "", *route = row ? M.patterns[row - 1] : "unmatched";
        metrics_escape(route, pat, sizeof(pat));
        for (int s = 100; s < NSTATUS; s++) {
            uint64_t n = read_count(&M.http[(size_t)row * NSTATUS + (size_t)s]);
            if (!n)
                continue;
            snprintf(lab, sizeof(lab), "method=\"%s\",route=\"%s\",status=\"%d\"", method, pat, s);
            metrics_sample(f, "poold_http_requests_total", lab, (double)n);
        }
    }
    metrics_family(f, "poold_http_request_duration_seconds", "histogram",
                   "From a request's first byte to its answer's end, by route.");
    for (unsigned row = 0; row <= M.nroutes; row++) {
        const char *method = row ? M.methods[row - 1] : "", *route = row ? M.patterns[row - 1] : "unmatched";
        if (row && !histogram_count(&M.http_time[row]))
            continue; /* a route never called: no series */
        snprintf(lab, sizeof(lab), "method=\"%s\",route=\"%s\"", method, metrics_escape(route, pat, sizeof(pat)));
        write_histogram(f, "poold_http_request_duration_seconds", lab, &M.http_time[row]);
    }
}

void
metrics_write(FILE *f)
{
    char lab[64];
    uint64_t attempts = 0;

    if (!M.tasks)
        return;
    write_tasks(f);
    write_http(f);
    metrics_family(f, "poold_worker_restarts_total", "counter",
                   "Worker processes that ended and were replaced, by cause.");
    for (int c = 0; c < MX_NCAUSE; c++) {
        snprintf(lab, sizeof(lab), "cause=\"%s\"", exit_cause_names[c]);
        metrics_sample(f, "poold_worker_restarts_total", lab, (double)read_count(&M.exits[c]));
    }
    metrics_family(f, "poold_webhook_attempts_total", "counter", "Webhook deliveries attempted (each retry counts).");
    for (int o = 0; o < MW_NOUTCOME; o++)
        attempts += read_count(&M.webhook[o]);
    metrics_sample(f, "poold_webhook_attempts_total", "", (double)attempts);
    metrics_family(f, "poold_webhook_failures_total", "counter", "Webhook attempts that failed, by reason.");
    for (int o = MW_STATUS; o < MW_NOUTCOME; o++) {
        snprintf(lab, sizeof(lab), "reason=\"%s\"", webhook_reason_names[o]);
        metrics_sample(f, "poold_webhook_failures_total", lab, (double)read_count(&M.webhook[o]));
    }
    metrics_family(f, "poold_webhook_deliveries_total", "counter", "Webhook deliveries that ended, by result.");
    metrics_sample(f, "poold_webhook_deliveries_total", "result=\"delivered\"",
                   (double)read_count(&M.webhook[MW_DELIVERED]));
    metrics_sample(f, "poold_webhook_deliveries_total", "result=\"given_up\"",
                   (double)read_count(&M.webhook_gave_up));
}
