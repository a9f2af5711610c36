/*
 * client.c: the HTTP tests' requests (see client.h): one keep-alive curl
 * handle per thread, the answers parsed, and the helpers that read poold's
 * state through them (/v1/pool, /v1/jobs) or through /proc.
 */
#include "client.h"
#include "contract.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

double
now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
sleep_seconds(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

const char *
job_submit(const Server *s, const char *path, const char *body)
{
    static char id[64];
    Resp r;

    post(s, path, body, 202, &r);
    snprintf(id, sizeof(id), "%s", json_string_value(jpath(r.json, "id")) ?: "");
    resp_free(&r);
    return id;
}

json_t *
job_get(const Server *s, const char *id)
{
    char path[128];

    snprintf(path, sizeof(path), "/v1/jobs/%.64s", id);
    return get_json(s, path);
}

const char *
job_status(const Server *s, const char *id)
{
    static char st[32];
    json_t *j = job_get(s, id);

    snprintf(st, sizeof(st), "%s", json_string_value(jpath(j, "status")) ?: "?");
    json_decref(j);
    return st;
}

json_t *
get_json(const Server *s, const char *path)
{
    Resp r;
    json_t *j = NULL;

    if (req(s, "GET", path, NULL, &r) == 0 && r.status == 200)
        j = json_incref(r.json);
    resp_free(&r);
    return j;
}

typedef struct Buf {
    char *data;
    size_t len;
} Buf;

static size_t
buf_write(char *ptr, size_t size, size_t n, void *arg)
{
    Buf *b = arg;
    char *grown = realloc(b->data, b->len + size * n + 1);

    if (!grown)
        return 0;
    memcpy(grown + b->len, ptr, size * n);
    b->data = grown;
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/* One handle per thread, kept so that keep-alive can be observed. A key
 * destructor frees a thread's handle when it ends, and an atexit hook the
 * main thread's, so that LeakSanitizer sees a clean test process. */
static __thread CURL *client_curl;
static __thread pid_t client_pid; /* a forked test must not share its parent's connection */
static pthread_key_t client_key;
static pthread_once_t client_once = PTHREAD_ONCE_INIT;

static void
client_free_handle(void *h)
{
    curl_easy_cleanup(h);
}

static void
client_free_main(void)
{
    if (client_curl)
        curl_easy_cleanup(client_curl);
    client_curl = NULL;
}

static void
client_init(void)
{
    pthread_key_create(&client_key, client_free_handle);
    atexit(client_free_main);
}

static CURL *
client_handle(void)
{
    pthread_once(&client_once, client_init);
    if (client_curl && client_pid != getpid()) {
        curl_easy_cleanup(client_curl); /* closes only this process's copy */
        client_curl = NULL;
    }
    if (!client_curl) {
        client_pid = getpid();
        client_curl = curl_easy_init();
        pthread_setspecific(client_key, client_curl);
    }
    return client_curl;
}

int
req_h(const Server *s, const char *method, const char *path, const char *body,
      const char *const *headers, Resp *r)
{
    CURL *h = client_handle();
    Buf b = {0}, hd = {0};
    struct curl_slist *hl = NULL;
    char url[512];
    CURLcode rc;
    int unchecked;

    memset(r, 0, sizeof(*r));
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s", s->ca[0] ? "https" : "http", s->port, path);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PORT, (long)contract_port(s, body));
    if (s->ca[0])
        curl_easy_setopt(h, CURLOPT_CAINFO, s->ca); /* verified: the peer and its name */
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, buf_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, buf_write);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hd);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    hl = curl_slist_append(hl, "Expect:");
    for (int i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    hl = contract_headers(s, body, headers, hl, &unchecked);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    rc = curl_easy_perform(h);
    curl_slist_free_all(hl);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &r->connects);
    curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, &r->seconds);
    r->body = b.data ? b.data : strdup("");
    r->len = b.len;
    r->headers = hd.data ? hd.data : strdup("");
    r->json = json_loadb(r->body, r->len, 0, NULL);
    contract_check(s, method, path, body, unchecked, r);
    return rc == CURLE_OK ? 0 : -1;
}

int
req(const Server *s, const char *method, const char *path, const char *body, Resp *r)
{
    return req_h(s, method, path, body, NULL, r);
}

void
resp_free(Resp *r)
{
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

void
post(const Server *s, const char *path, const char *body, long status, Resp *r)
{
    if (req(s, "POST", path, body, r) == 0 && r->status == status)
        return;
    fprintf(stderr, "    POST %s %s -> %ld %s (expected %ld)\n", path, body ? body : "", r->status,
            r->body ? r->body : "(no answer)", status);
    exit(1);
}

const char *
resp_header(const Resp *r, const char *name)
{
    static char val[512];
    size_t n = strlen(name);

    for (const char *line = r->headers; line && *line;) {
        const char *eol = strstr(line, "\r\n");
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            snprintf(val, sizeof(val), "%.*s", (int)(len - (size_t)(v - line)), v);
            return val;
        }
        line = eol ? eol + 2 : NULL;
    }
    return NULL;
}

json_t *
jpath(json_t *root, const char *path)
{
    char part[128];
    json_t *cur = root;

    while (cur && *path) {
        size_t n = strcspn(path, ".");
        snprintf(part, sizeof(part), "%.*s", (int)n, path);
        if (json_is_array(cur)) {
            char *end;
            long i = strtol(part, &end, 10);
            cur = *end ? NULL : json_array_get(cur, (size_t)i);
        } else {
            cur = json_object_get(cur, part);
        }
        path += n + (path[n] == '.');
    }
    return cur;
}

int
worker_in_state(const Server *s, const char *state)
{
    json_t *j = get_json(s, "/v1/pool"), *w;
    size_t i;
    int pid = 0;

    json_array_foreach(json_object_get(j, "workers"), i, w)
        if (!pid && strcmp(json_string_value(json_object_get(w, "state")), state) == 0)
            pid = (int)json_integer_value(json_object_get(w, "pid"));
    json_decref(j);
    return pid;
}

/* The number of workers /v1/pool shows idle. */
static int
idle_workers(const Server *s)
{
    json_t *j = get_json(s, "/v1/pool"), *w;
    size_t i;
    int idle = 0;

    json_array_foreach(json_object_get(j, "workers"), i, w)
        idle += strcmp(json_string_value(json_object_get(w, "state")), "idle") == 0;
    json_decref(j);
    return idle;
}

int
await_idle_workers(const Server *s, int n, double seconds)
{
    for (double end = now_seconds() + seconds; now_seconds() < end; usleep(10 * 1000))
        if (idle_workers(s) == n)
            return 1;
    return 0;
}

int
await_worker_replaced(const Server *s, int old_pid, double seconds)
{
    int fresh = 0;

    for (double end = now_seconds() + seconds; !fresh && now_seconds() < end; usleep(20000)) {
        json_t *p = get_json(s, "/v1/pool");
        int pid = (int)json_integer_value(jpath(p, "workers.0.pid"));
        fresh = pid > 0 && pid != old_pid && strcmp(json_string_value(jpath(p, "workers.0.state")) ?: "", "starting") != 0;
        json_decref(p);
    }
    return fresh;
}

long
pool_number(const Server *s, const char *path)
{
    json_t *j = get_json(s, "/v1/pool");
    long v = (long)json_integer_value(jpath(j, path));

    json_decref(j);
    return v;
}

int
await_pool_number(const Server *s, const char *path, long want, double seconds)
{
    for (double end = now_seconds() + seconds; now_seconds() < end; usleep(10 * 1000))
        if (pool_number(s, path) == want)
            return 1;
    return 0;
}

void *
bg_call_run(void *arg)
{
    BgCall *c = arg;

    req(c->s, "POST", c->path, c->body, &c->r);
    return NULL;
}

/* Field n (1-based, after the command) of /proc/pid/stat, 0 if gone. */
static long
proc_stat_field(int pid, int n)
{
    char path[64], buf[1024];
    long v = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (!(f = fopen(path, "r")))
        return 0;
    if (fgets(buf, sizeof(buf), f)) {
        char *p = strrchr(buf, ')'), *save = NULL;
        /* Fields after the command start at 3 (state). */
        int i = 3;
        for (char *tok = p ? strtok_r(p + 2, " ", &save) : NULL; tok; tok = strtok_r(NULL, " ", &save), i++)
            if (i == n) {
                v = strtol(tok, NULL, 10);
                break;
            }
    }
    fclose(f);
    return v;
}

int
parent_pid(int pid)
{
    return (int)proc_stat_field(pid, 4);
}

int
child_pid(int pid)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int child = 0;

    while (d && !child && (e = readdir(d)))
        if (atoi(e->d_name) > 0 && parent_pid(atoi(e->d_name)) == pid)
            child = atoi(e->d_name);
    if (d)
        closedir(d);
    return child;
}

double
cpu_seconds(int pid)
{
    return (double)(proc_stat_field(pid, 14) + proc_stat_field(pid, 15)) / (double)sysconf(_SC_CLK_TCK);
}

long
rss_kib(int pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    fclose(f);
    return kib;
}

const char *
test_plugin(void)
{
    return getenv("POOLD_TEST_PLUGIN") ? getenv("POOLD_TEST_PLUGIN") : "build/tests/misbehave.so";
}

int
fill_queue(const Server *s)
{
    int accepted = 0;
    Resp r;

    for (; accepted < 100000; accepted++) {
        if (req(s, "POST", "/v1/apply_async", "{\"func\":\"echo\",\"args\":[2]}", &r) != 0)
            return -1;
        long status = r.status;
        int retry = status == 503 && strcmp(resp_header(&r, "Retry-After") ?: "", "1") == 0;
        resp_free(&r);
        if (status == 503)
            return retry ? accepted : -1;
        if (status != 202 ||
            !await_pool_number(s, "queue.queued", accepted + 1, 5))
            return -1;
    }
    return -1;
}

int
await_ready(const Server *s, int want, double seconds)
{
    int got = 0;

    for (double end = now_seconds() + seconds; got != want && now_seconds() < end; sleep_seconds(0.05)) {
        Resp r = {0};
        got = req(s, "GET", "/readyz", NULL, &r) == 0 ? (int)r.status : 0;
        resp_free(&r);
    }
    return got == want;
}
