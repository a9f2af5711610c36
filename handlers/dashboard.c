/*
 * dashboard.c: GET /dashboard, a page that watches poold live (its files
 * are dashboard/'s, compiled in by script/embed-assets.sh), and GET /,
 * which sends a browser there.
 *
 * The page reads the JSON API and GET /v1/events like any client; these
 * routes serve only its files, which hold no data, so they need no key.
 * Every answer carries a Content-Security-Policy that lets the page load
 * and connect to nothing but poold itself.
 */
#include <string.h>

#include "handlers.h"

static const char dashboard_csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

static const DashboardAsset *
dashboard_find(const char *name)
{
    for (const DashboardAsset *a = dashboard_assets; a->name; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

static void
dashboard_send(HttpReq *r, const DashboardAsset *a)
{
    static const char *const headers[] = {"Content-Security-Policy", dashboard_csp,
                                          "X-Content-Type-Options", "nosniff",
                                          "Referrer-Policy", "no-referrer",
                                          "Cache-Control", "no-cache",
                                          NULL};

    if (!a) {
        http_reply_problem(r, 404, "no such file of the dashboard", NULL);
        return;
    }
    http_reply_static(r, 200, a->type, a->data, a->len, headers);
}

void
handle_dashboard(HttpReq *r)
{
    dashboard_send(r, dashboard_find("index.html"));
}

void
handle_dashboard_file(HttpReq *r)
{
    const char *name = http_param(r);

    dashboard_send(r, strcmp(name, "index.html") == 0 ? NULL : dashboard_find(name));
}

/* A browser (it asks for HTML) goes to the dashboard; an API client finds
 * nothing here, as before. */
void
handle_root(HttpReq *r)
{
    const char *accept = http_header(r, "Accept");
    const char *const headers[] = {"Location", "/dashboard", NULL};

    if (accept && strstr(accept, "text/html"))
        http_reply_json_h(r, 302, json_pack("{s:s}", "dashboard", "/dashboard"), headers);
    else
        http_reply_problem(r, 404, "no such endpoint: the API is under /v1, a dashboard at /dashboard", NULL);
}
