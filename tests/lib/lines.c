/* lines.c: see lines.h. */
#include "lines.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One whole line of the stream: counted, its index checked against the
 * order imap promises, kept when asked. */
static void
lines_take(Lines *l, const char *text, size_t len)
{
    json_t *j = json_loadb(text, len, 0, NULL);

    if (l->rss_pid && l->count % 20000 == 0 && rss_kib(l->rss_pid) > l->rss_max)
        l->rss_max = rss_kib(l->rss_pid);
    if (l->count++ == 0)
        l->first_at = now_seconds() - l->began;
    if (json_object_get(j, "index")) { /* a final line has none */
        if (json_integer_value(json_object_get(j, "index")) != l->next_index)
            l->in_order = 0;
        l->next_index++;
    }
    if (l->keep && j)
        json_array_append(l->lines, j);
    json_decref(l->last);
    l->last = j;
}

static size_t
lines_write(char *data, size_t size, size_t n, void *ctx)
{
    Lines *l = ctx;
    size_t len = size * n, off = 0;

    if (strncmp(l->type, "application/x-ndjson", 20) != 0) { /* a problem: keep it whole */
        l->problem = realloc(l->problem, l->plen + len + 1);
        memcpy(l->problem + l->plen, data, len);
        l->plen += len;
        l->problem[l->plen] = '\0';
        return len;
    }
    while (off < len) {
        char *nl = memchr(data + off, '\n', len - off);
        size_t piece = nl ? (size_t)(nl - (data + off)) : len - off;
        l->partial = realloc(l->partial, l->plen + piece + 1);
        memcpy(l->partial + l->plen, data + off, piece);
        l->plen += piece;
        off += piece + (nl != NULL);
        if (!nl)
            break;
        lines_take(l, l->partial, l->plen);
        l->plen = 0;
        if (l->hang_up_after && (long)l->count >= l->hang_up_after)
            return 0; /* curl aborts and closes the connection */
    }
    return len;
}

static size_t
lines_header(char *data, size_t size, size_t n, void *ctx)
{
    Lines *l = ctx;

    if (size * n > 14 && strncasecmp(data, "Content-Type: ", 14) == 0)
        snprintf(l->type, sizeof(l->type), "%.*s", (int)(size * n - 14), data + 14);
    return size * n;
}

static size_t
lines_read(char *buf, size_t size, size_t n, void *ctx)
{
    Lines *l = ctx;

    return l->gen(buf, size * n, l->gen_ctx);
}

CURLcode
lines_post(const Server *s, Lines *l)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hl = curl_slist_append(NULL, "Expect:");
    char url[256];
    CURLcode rc;

    l->lines = json_array();
    l->in_order = 1;
    l->began = now_seconds();
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s", s->ca[0] ? "https" : "http", s->port, l->path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (s->ca[0])
        curl_easy_setopt(h, CURLOPT_CAINFO, s->ca);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, lines_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, l);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, lines_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, l);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)((l->timeout > 0 ? l->timeout : 120) * 1000));
    if (l->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, l->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(l->body));
    } else {
        hl = curl_slist_append(hl, "Content-Type: application/x-ndjson");
        hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
        curl_easy_setopt(h, CURLOPT_READFUNCTION, lines_read);
        curl_easy_setopt(h, CURLOPT_READDATA, l);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &l->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return rc;
}

void
lines_free(Lines *l)
{
    json_decref(l->lines);
    json_decref(l->last);
    free(l->partial);
    free(l->problem);
}

size_t
lines_text(char *buf, size_t max, void *ctx)
{
    LinesText *t = ctx;
    size_t len;

    if (!t->lines[t->at])
        return 0;
    len = strlen(t->lines[t->at]);
    if (len + 1 > max)
        return 0;
    memcpy(buf, t->lines[t->at++], len);
    buf[len] = '\n';
    return len + 1;
}

size_t
lines_overlong(char *buf, size_t max, void *ctx)
{
    LinesOverlong *o = ctx;
    size_t head = strlen(o->head), n = 0;

    for (; n < max && o->sent < o->limit; n++, o->sent++) {
        size_t at = o->sent;
        if (at < head)
            buf[n] = o->head[at];
        else if (at < head + o->overlong)
            buf[n] = 'a';
        else
            buf[n] = (at - head - o->overlong) % 2 ? '3' : '\n'; /* its newline, then "3" lines */
    }
    return n;
}
