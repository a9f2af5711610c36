/* client.c: see client.h. */
#include "client.h"
#include "contract.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
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
static const char *const client_san_marks[] = {
    "ERROR: AddressSanitizer", "AddressSanitizer:DEADLYSIGNAL", "ERROR: LeakSanitizer",
    "LeakSanitizer has encountered a fatal error", ": runtime error: ",
    "UndefinedBehaviorSanitizer:DEADLYSIGNAL", "WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer",
    "WARNING: MemorySanitizer", NULL};

#define CLIENT_SAN_CONTEXT 40 /* lines shown from each report's start */
#define CLIENT_SAN_SHOWN 200  /* lines shown in all: the log has the rest */

static int
client_san_line(const char *line)
{
    for (int i = 0; client_san_marks[i]; i++)
        if (strstr(line, client_san_marks[i]))
            return 1;
    return 0;
}

/* The number of sanitizer reports in f; with show, their first lines go
 * to stderr, indented under the test's name. */
static int
client_san_scan(FILE *f, int show)
{
    char *line = NULL;
    size_t cap = 0;
    int reports = 0, left = 0, shown = 0, hidden = 0;

    while (getline(&line, &cap, f) >= 0) {
        if (client_san_line(line)) {
            reports++;
            left = CLIENT_SAN_CONTEXT;
        }
        if (!show || left <= 0)
            continue;
        left--;
        if (shown++ < CLIENT_SAN_SHOWN)
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
client_log_reports(const char *path, int show)
{
    FILE *f = fopen(path, "r");
    int n;

    if (!f)
        return 0;
    n = client_san_scan(f, show);
    fclose(f);
    return n;
}

void
poold_log_check(const char *path)
{
    if (!client_log_reports(path, 0))
        return;
    fprintf(stderr, "    poold's log %s holds a sanitizer's report (the log is kept):\n", path);
    client_log_reports(path, 1);
    exit(1);
}

void
poold_output_check(const char *what, const char *text)
{
    FILE *f;

    if (!text || !(f = fmemopen((void *)text, strlen(text), "r")))
        return;
    if (client_san_scan(f, 0)) {
        fprintf(stderr, "    the output of %s holds a sanitizer's report:\n", what);
        rewind(f);
        client_san_scan(f, 1);
        fclose(f);
        exit(1);
    }
    fclose(f);
}

/* Appends opt to the environment variable name's options (colon-
 * separated, the last of a name winning) or prepends it, when the
 * caller's own setting should win. */
static void
client_san_option(const char *name, const char *opt, int last)
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
client_san_options(void)
{
    client_san_option("ASAN_OPTIONS", "detect_leaks=1", 1);
    client_san_option("UBSAN_OPTIONS", "print_stacktrace=1", 0);
}

/* Wait status st in words, for the failure message. */
static void
client_describe(int st, char *buf, size_t len)
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
    int reports = client_log_reports(s->log, 0);

    if (ok && !reports)
        return;
    client_describe(st, how, sizeof(how));
    if (sig)
        snprintf(want, sizeof(want), "death by signal %d (%s)", sig, strsignal(sig));
    else
        snprintf(want, sizeof(want), "exit status %d", s->expect_exit);
    if (!ok)
        fprintf(stderr, "    poold (pid %d) %s, expected %s; its log: %s\n", (int)pid, how, want, s->log);
    if (reports) {
        fprintf(stderr, "    poold's log %s holds %d sanitizer report%s:\n", s->log, reports,
                reports == 1 ? "" : "s");
        client_log_reports(s->log, 1);
    }
    exit(1);
}

static int
server_try(Server *s, const char *const *args)
{
    const char *bin = getenv("POOLD_BIN") ? getenv("POOLD_BIN") : "build/poold";
    char port[16];
    const char *argv[64];
    int n = 0;

    int own_data = 1;

    s->proxy_pid = 0;
    s->proxy_port = 0;
    s->expect_exit = 0;
    s->port = free_port();
    snprintf(port, sizeof(port), "%d", s->port);
    snprintf(s->log, sizeof(s->log), "/tmp/poold-test-%d-%d.log", (int)getpid(), s->port);
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
    if (own_data) {
        snprintf(s->data, sizeof(s->data), "/tmp/poold-test-data-XXXXXX");
        if (!mkdtemp(s->data)) {
            perror("mkdtemp");
            exit(2);
        }
        argv[n++] = "--data-dir";
        argv[n++] = s->data;
    }
    argv[n] = NULL;
    s->pid = spawn_logged(s->log, bin, argv);
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

void
server_start(Server *s, const char *const *args)
{
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

const char *
test_plugin(void)
{
    return getenv("POOLD_TEST_PLUGIN") ? getenv("POOLD_TEST_PLUGIN") : "build/tests/misbehave.so";
}

int
fill_queue(const Server *s, int ahead)
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
            !await_pool_number(s, "queue.queued", accepted + 1 > ahead ? accepted + 1 - ahead : 0, 5))
            return -1;
    }
    return -1;
}
