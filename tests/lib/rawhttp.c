/*
 * rawhttp.c: HTTP by hand (rawhttp.h). Three parts: the checks on poold's
 * answers, the raw socket's send and read, and the sockets poold holds as
 * /proc/net/tcp shows them.
 */
#include "rawhttp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* --- answers --- */

void
check_problem(long got, const char *type, json_t *json, long status)
{
    CHECK(status >= 400 && status < 500);
    CHECK_INT(got, status);
    CHECK_STR(type, "application/problem+json");
    CHECK(json != NULL);
    CHECK_INT(json_integer_value(jpath(json, "status")), status);
    CHECK(strncmp(json_string_value(jpath(json, "type")) ?: "", "urn:poold:problem:", 18) == 0);
    CHECK(json_is_string(jpath(json, "title")));
    CHECK(json_is_string(jpath(json, "detail")));
}

void
check_still_up(const Server *s)
{
    Resp r;

    CHECK(kill(s->pid, 0) == 0);
    CHECK(req(s, "GET", "/healthz", NULL, &r) == 0);
    if (r.status == 408) { /* a poold under valgrind, slower than a test's --connection-timeout 1 */
        resp_free(&r);
        CHECK(req(s, "GET", "/healthz", NULL, &r) == 0);
    }
    CHECK_INT(r.status, 200);
    resp_free(&r);
    CHECK(req(s, "POST", "/v1/apply", "{\"func\":\"echo\",\"args\":[1]}", &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "{\"result\":1}");
    resp_free(&r);
}

/* --- raw sockets --- */

int
raw_connect(const char *src, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    CHECK(fd >= 0);
    if (src) {
        struct sockaddr_in b = {.sin_family = AF_INET};
        CHECK(inet_pton(AF_INET, src, &b.sin_addr) == 1);
        CHECK(bind(fd, (struct sockaddr *)&b, sizeof(b)) == 0);
    }
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    return fd;
}

int
raw_send(int fd, const void *data, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, (const char *)data + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

/* Reads the answer's status, Content-Type and body from what raw_read
 * took in. */
static void
raw_parse(RawAnswer *a)
{
    /* Into locals: scanning into *a would let clang's analyzer think a->text
     * overwritten, and its memory lost. */
    int status = 0;
    char type[sizeof(a->type)] = "";
    sscanf(a->text, "HTTP/1.%*d %d", &status);
    const char *eoh = strstr(a->text, "\r\n\r\n"), *ct = strcasestr(a->text, "\r\nContent-Type:");
    a->body = eoh ? eoh + 4 : a->text + a->len;
    if (ct && (!eoh || ct < eoh))
        sscanf(ct + 15, " %127[^\r\n]", type);
    a->status = status;
    memcpy(a->type, type, sizeof(type));
    a->json = json_loads(a->body, 0, NULL);
}

void
raw_read(int fd, double seconds, RawAnswer *a)
{
    size_t cap = 1 << 16, want = 0;
    double end = now_seconds() + seconds;
    int chunked = 0;

    memset(a, 0, sizeof(*a));
    a->text = malloc(cap + 1);
    CHECK(a->text != NULL);
    if (!a->text)
        return;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char *eoh;
        if (want && a->len >= want &&
            (!chunked || (a->len >= want + 5 && memcmp(a->text + a->len - 5, "0\r\n\r\n", 5) == 0)))
            break;
        int ms = (int)((end - now_seconds()) * 1000);
        if (ms <= 0 || poll(&p, 1, ms) <= 0)
            break;
        if (a->len == cap) {
            char *grown = realloc(a->text, cap * 2 + 1);
            CHECK(grown != NULL);
            if (!grown)
                break; /* what came so far is the answer */
            a->text = grown;
            cap *= 2;
        }
        ssize_t n = recv(fd, a->text + a->len, cap - a->len, 0);
        if (n <= 0) {
            a->closed = 1;
            break;
        }
        a->len += (size_t)n;
        a->text[a->len] = '\0';
        if (!want && (eoh = strstr(a->text, "\r\n\r\n"))) {
            const char *cl = strcasestr(a->text, "\r\nContent-Length:");
            const char *te = strcasestr(a->text, "\r\nTransfer-Encoding: chunked");
            want = (size_t)(eoh + 4 - a->text) + (cl && cl < eoh ? strtoul(cl + 17, NULL, 10) : 0);
            chunked = te && te < eoh;
        }
    }
    a->text[a->len] = '\0';
    raw_parse(a);
}

void
raw_free(RawAnswer *a)
{
    free(a->text);
    json_decref(a->json);
    memset(a, 0, sizeof(*a));
}

void
raw_exchange(int port, const void *data, size_t len, double seconds, RawAnswer *a)
{
    int fd = raw_connect(NULL, port);

    raw_send(fd, data, len);
    raw_read(fd, seconds, a);
    close(fd);
}

void
raw_post(int port, const char *path, const char *ctype, const void *body, size_t len, double seconds,
         RawAnswer *a)
{
    char head[512];
    int n = snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\n\r\n", path, ctype, len);
    int fd = raw_connect(NULL, port);

    CHECK(n > 0 && (size_t)n < sizeof(head));
    if (raw_send(fd, head, (size_t)n) == 0)
        raw_send(fd, body, len);
    raw_read(fd, seconds, a);
    close(fd);
}

void
expect_raw_problem(const Server *s, const char *path, const char *ctype, const char *body, size_t len,
                   long status)
{
    RawAnswer a;

    raw_post(s->port, path, ctype, body, len, 10, &a);
    if (a.status != status)
        fprintf(stderr, "    POST %s (%zu bytes) -> %.300s (expected %ld)\n", path, len, a.text, status);
    check_problem(a.status, a.type, a.json, status);
    raw_free(&a);
}

void
check_closed_unanswered(int fd)
{
    RawAnswer a;
    double t0 = now_seconds();

    raw_read(fd, 5, &a);
    CHECK(a.closed);
    CHECK_INT(a.len, 0);
    CHECK(now_seconds() - t0 < 3.5);
    raw_free(&a);
    close(fd);
}

void
check_healthz_from(const char *src, int port, int served)
{
    static const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd = raw_connect(src, port);
    RawAnswer a;

    raw_send(fd, LIT(get));
    raw_read(fd, 2, &a);
    if (served) {
        CHECK_INT(a.status, 200);
    } else {
        CHECK(a.closed);
        CHECK_INT(a.status, 0);
    }
    raw_free(&a);
    close(fd);
}

/* --- the sockets poold holds --- */

int
server_socks(int port, int client_port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    char line[512];
    int n = 0;

    CHECK(f != NULL);
    while (fgets(line, sizeof(line), f)) {
        unsigned lport, rport, st;
        unsigned long inode;
        if (sscanf(line, " %*d: %*8x:%x %*8x:%x %x %*x:%*x %*x:%*x %*x %*u %*u %lu", &lport, &rport, &st,
                   &inode) == 4 &&
            (int)lport == port && (st == 0x01 || st == 0x08) && inode != 0 &&
            (!client_port || (int)rport == client_port))
            n++;
    }
    fclose(f);
    return n;
}

int
server_conns(int port)
{
    return server_socks(port, 0);
}

int
await_conns_at_most(int port, int n, double seconds)
{
    for (double end = now_seconds() + seconds; now_seconds() < end; usleep(20 * 1000))
        if (server_conns(port) <= n)
            return 1;
    return 0;
}

int
sock_port(int fd)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);

    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    return ntohs(a.sin_port);
}
