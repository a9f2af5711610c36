/* contract.c: see contract.h. */
#include "contract.h"

#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#define CONTRACT_START_SECONDS 60 /* node is slow to start on a busy machine */
#define CONTRACT_MAX_BODY (10 * 1000 * 1000) /* Prism answers 413 itself past 10 MiB */

/* Requests of this process in flight through each proxy: a proxy is
 * stopped only once the answers it carries have reached their tests (it
 * would cut an answer poold gave as it stopped). */
#define CONTRACT_PROXIES 16
static struct {
    int port, n;
} contract_flight[CONTRACT_PROXIES];
static pthread_mutex_t contract_lock = PTHREAD_MUTEX_INITIALIZER;

static void
contract_fly(int port, int delta)
{
    int slot = -1;

    pthread_mutex_lock(&contract_lock);
    for (int i = 0; i < CONTRACT_PROXIES && slot < 0; i++)
        if (contract_flight[i].port == port)
            slot = i;
    for (int i = 0; i < CONTRACT_PROXIES && slot < 0 && delta > 0; i++)
        if (contract_flight[i].n == 0)
            slot = i;
    if (slot >= 0) {
        contract_flight[slot].port = port;
        contract_flight[slot].n += delta;
    }
    pthread_mutex_unlock(&contract_lock);
}

static int
contract_in_flight(int port)
{
    int n = 0;

    pthread_mutex_lock(&contract_lock);
    for (int i = 0; i < CONTRACT_PROXIES; i++)
        if (contract_flight[i].port == port)
            n += contract_flight[i].n;
    pthread_mutex_unlock(&contract_lock);
    return n;
}

static const char *
contract_prism(void)
{
    const char *p = getenv("POOLD_CONTRACT_PROXY");

    return p && *p ? p : NULL;
}

int
contract_on(void)
{
    return contract_prism() != NULL;
}

int
contract_port(const Server *s, const char *body)
{
    return s->proxy_port && (!body || strlen(body) < CONTRACT_MAX_BODY) ? s->proxy_port : s->port;
}

/* One try at a proxy on a free port: 0 once it forwards /healthz, -1 if
 * it died (its port was taken, say) or never answered. */
static int
contract_try(Server *s)
{
    const char *spec = getenv("POOLD_OPENAPI") ? getenv("POOLD_OPENAPI") : "openapi.yaml";
    char upstream[64], port[16];
    int p = free_port(), st;

    snprintf(upstream, sizeof(upstream), "http://127.0.0.1:%d", s->port);
    snprintf(port, sizeof(port), "%d", p);
    snprintf(s->proxy_log, sizeof(s->proxy_log), "/tmp/poold-test-%d-%d.prism.log", (int)getpid(), p);
    /* No CORS headers: the answers stay poold's own. */
    const char *const argv[] = {contract_prism(), "proxy", spec, upstream, "--host", "127.0.0.1", "--port", port,
                                "--cors=false", NULL};
    s->proxy_pid = spawn_logged(s->proxy_log, contract_prism(), argv);
    for (double end = now_seconds() + CONTRACT_START_SECONDS; now_seconds() < end; usleep(50 * 1000)) {
        Resp r;
        int ok;
        if (waitpid(s->proxy_pid, &st, WNOHANG) == s->proxy_pid) {
            s->proxy_pid = 0;
            return -1;
        }
        s->proxy_port = p;
        ok = req(s, "GET", "/healthz", NULL, &r) == 0 && r.status == 200;
        resp_free(&r);
        if (ok)
            return 0;
        s->proxy_port = 0;
    }
    contract_stop(s);
    return -1;
}

void
contract_start(Server *s)
{
    s->proxy_pid = 0;
    s->proxy_port = 0;
    if (!contract_on())
        return;
    for (int attempt = 0; attempt < 3; attempt++)
        if (contract_try(s) == 0)
            return;
    fprintf(stderr, "cannot start the contract proxy %s; see %s\n", contract_prism(), s->proxy_log);
    exit(2);
}

void
contract_stop(Server *s)
{
    int st;

    if (s->proxy_pid <= 0)
        return;
    for (double end = now_seconds() + 5; contract_in_flight(s->proxy_port) && now_seconds() < end;)
        usleep(10 * 1000);
    kill(s->proxy_pid, SIGTERM);
    for (double end = now_seconds() + 5; now_seconds() < end; usleep(10 * 1000))
        if (waitpid(s->proxy_pid, &st, WNOHANG) == s->proxy_pid)
            goto reaped;
    kill(s->proxy_pid, SIGKILL);
    waitpid(s->proxy_pid, &st, 0);
reaped:
    if (!getenv("POOLD_TEST_KEEP_LOGS"))
        unlink(s->proxy_log);
    s->proxy_pid = 0;
    s->proxy_port = 0;
}

/* A number token JavaScript writes back as the same text: an integer
 * within 2^53, or a decimal fraction of few digits that does not end in
 * 0 and is not small enough for an exponent. */
static int
contract_number_kept(const char *tok, size_t len)
{
    size_t digits = 0, i = tok[0] == '-';
    const char *dot = memchr(tok, '.', len);

    if (memchr(tok, 'e', len) || memchr(tok, 'E', len) || (len == 2 && tok[0] == '-' && tok[1] == '0'))
        return 0;
    for (; i < len; i++)
        digits += isdigit((unsigned char)tok[i]) != 0;
    if (digits > 15)
        return 0;
    if (!dot)
        return 1;
    return tok[len - 1] != '0' && strncmp(tok + (tok[0] == '-'), "0.00000", 7) != 0;
}

/* 1 when JSON.stringify(JSON.parse(body)), as Prism forwards a JSON body,
 * is body itself: valid JSON without duplicate keys, without spaces
 * between tokens, without escapes JavaScript writes otherwise, and with
 * numbers it keeps. */
static int
contract_json_kept(const char *body)
{
    json_t *j = json_loads(body, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    int in_str = 0;

    json_decref(j);
    if (!j)
        return 0;
    for (const char *p = body; *p; p++) {
        if (in_str) {
            if (*p == '\\') {
                if (!strchr("\"\\bfnrt", p[1]))
                    return 0;
                p++;
            } else if (*p == '"') {
                in_str = 0;
            }
        } else if (*p == '"') {
            in_str = 1;
        } else if (isspace((unsigned char)*p)) {
            return 0;
        } else if (*p == '-' || isdigit((unsigned char)*p)) {
            size_t n = strspn(p, "-+.0123456789eE");
            if (!contract_number_kept(p, n))
                return 0;
            p += n - 1;
        }
    }
    return 1;
}

struct curl_slist *
contract_headers(const Server *s, const char *body, const char *const *headers, struct curl_slist *hl,
                 int *unchecked)
{
    int typed = 0;

    *unchecked = 0;
    if (contract_port(s, body) != s->proxy_port)
        return hl;
    contract_fly(s->proxy_port, 1);
    for (int i = 0; headers && headers[i]; i++) {
        const char *v = headers[i] + strcspn(headers[i], ":");
        v += *v ? 1 + strspn(v + 1, " ") : 0;
        /* The test chose it: Prism checks it as it is. */
        typed |= strncasecmp(headers[i], "Content-Type:", 13) == 0;
        /* RFC 9110 makes the scheme's name case-insensitive; Prism does not. */
        if (strncasecmp(headers[i], "Authorization:", 14) == 0 && strncasecmp(v, "bearer ", 7) == 0 &&
            strncmp(v, "Bearer ", 7) != 0)
            *unchecked |= CONTRACT_SCHEME_CASE;
    }
    if (!body || typed)
        return hl;
    if (contract_json_kept(body))
        return curl_slist_append(hl, "Content-Type: application/json");
    *unchecked |= CONTRACT_RAW_BODY;
    return hl;
}

/* The value of header name in a raw header block (malloc'd), or NULL. */
static char *
contract_header(const char *headers, const char *name)
{
    size_t n = strlen(name);

    for (const char *line = headers; line && *line;) {
        const char *eol = strstr(line, "\r\n");
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            return strndup(v, len - (size_t)(v - line));
        }
        line = eol ? eol + 2 : NULL;
    }
    return NULL;
}

static void
contract_breach(const char *method, const char *path, const char *body, const Resp *r, const char *what)
{
    fprintf(stderr, "    contract: %s %s%s%.300s -> %ld: %s\n", method, path, body ? " " : "", body ? body : "",
            r->status, what);
    exit(1);
}

/* Whether one of Prism's findings is a breach of the spec. */
static int
contract_breaks(const json_t *v, long status, int unchecked)
{
    const char *where = json_string_value(json_array_get(json_object_get(v, "location"), 0));
    const char *severity = json_string_value(json_object_get(v, "severity"));
    const char *message = json_string_value(json_object_get(v, "message"));
    int accepted = status >= 200 && status < 300;

    /* An answer the spec does not allow; a status it does not declare is
     * only a Warning to Prism, and a breach all the same. */
    if (where && strcmp(where, "response") == 0)
        return 1;
    if (!severity || strcmp(severity, "Error") != 0)
        /* Prism found no operation for it: poold must not serve it. */
        return message && strcmp(message, "Selected route not found") == 0 && accepted;
    if ((unchecked & CONTRACT_RAW_BODY) && json_integer_value(json_object_get(v, "code")) == 415)
        return 0;
    if ((unchecked & CONTRACT_SCHEME_CASE) && json_integer_value(json_object_get(v, "code")) == 401)
        return 0;
    return accepted;
}

void
contract_check(const Server *s, const char *method, const char *path, const char *body, int unchecked,
               const Resp *r)
{
    char *found;
    const char *type;
    json_t *v, *list;
    size_t i;

    if (contract_port(s, body) != s->proxy_port)
        return;
    contract_fly(s->proxy_port, -1);
    if (r->status == 0)
        return;
    type = json_string_value(json_object_get(r->json, "type"));
    if (type && strncmp(type, "https://stoplight.io/prism/errors#", 34) == 0)
        contract_breach(method, path, body, r, r->body); /* Prism answered, not poold */
    if (!(found = contract_header(r->headers, "sl-violations")))
        return;
    if (!(list = json_loads(found, 0, NULL)))
        contract_breach(method, path, body, r, found); /* "Too many violations! …" */
    json_array_foreach(list, i, v)
        if (contract_breaks(v, r->status, unchecked)) {
            char *text = json_dumps(v, JSON_COMPACT);
            contract_breach(method, path, body, r, text ? text : found);
        }
    json_decref(list);
    free(found);
}
