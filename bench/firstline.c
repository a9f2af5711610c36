/*
 * firstline.c: time from sending an imap call to reading its first line,
 * over a fresh connection each time (as a CI step's curl would), for the
 * URL and body given. Prints the median and p90 in milliseconds.
 *
 *   firstline URL BODY [RUNS]     (BODY "@file" reads the file)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "client.h"

typedef struct First {
    double began, at;
} First;

static size_t
first_write(char *data, size_t size, size_t n, void *ctx)
{
    First *f = ctx;

    if (f->at == 0 && memchr(data, '\n', size * n)) {
        f->at = now_seconds() - f->began;
        return 0; /* enough: hang up */
    }
    return size * n;
}

/* The body: the argument, or with "@path" the file's text (malloc'd). */
static char *
body_of(const char *arg)
{
    FILE *f;
    char *text = NULL;
    long len;

    if (arg[0] != '@')
        return strdup(arg);
    if (!(f = fopen(arg + 1, "r")))
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (text = malloc((size_t)len + 1)) && fread(text, 1, (size_t)len, f) == (size_t)len)
        text[len] = '\0';
    else
        free(text), text = NULL;
    fclose(f);
    return text;
}

static int
cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    int runs = argc > 3 ? atoi(argv[3]) : 50;
    double *t = calloc((size_t)runs, sizeof(*t));
    char *body = argc > 2 ? body_of(argv[2]) : NULL;

    if (argc < 3 || runs < 1 || !t || !body) {
        fprintf(stderr, "usage: firstline URL BODY [RUNS]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_ALL);
    for (int i = 0; i < runs; i++) {
        CURL *h = curl_easy_init();
        First f = {.began = now_seconds()};
        curl_easy_setopt(h, CURLOPT_URL, argv[1]);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, first_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &f);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
        curl_easy_perform(h);
        curl_easy_cleanup(h);
        if (f.at == 0) {
            fprintf(stderr, "firstline: no line came\n");
            return 1;
        }
        t[i] = f.at * 1e3;
    }
    qsort(t, (size_t)runs, sizeof(*t), cmp);
    printf("%.3f %.3f\n", t[runs / 2], t[runs * 9 / 10]);
    free(t);
    free(body);
    return 0;
}
