/* http_status.c: see http_status.h. */
#include "http/http_status.h"

#include "core/common.h"

static const int http_status_of[OUTCOME_COUNT] = {
    [OUTCOME_OK] = 200,
    [OUTCOME_INVALID] = 400,
    [OUTCOME_NOT_FOUND] = 404,
    [OUTCOME_CANCELLED] = 410,
    [OUTCOME_TOO_LARGE] = 413,
    [OUTCOME_FUNCTION_ERROR] = 422,
    [OUTCOME_NOMEM] = 500,
    [OUTCOME_INTERNAL] = 500,
    [OUTCOME_WORKER_LOST] = 502,
    [OUTCOME_STOPPED] = 503,
    [OUTCOME_QUEUE_FULL] = 503,
    [OUTCOME_UNAVAILABLE] = 503,
    [OUTCOME_TIMED_OUT] = 504,
};

static const struct {
    int status;
    const char *slug, *title;
} http_status_problems[] = {
    {400, "invalid-request", "The request is not valid"},
    {401, "unauthorized", "Missing or wrong API key"},
    {404, "not-found", "Not found"},
    {405, "method-not-allowed", "Method not allowed"},
    {408, "request-timeout", "The request did not come in time"},
    {409, "conflict", "Conflict"},
    {410, "gone", "The job was cancelled"},
    {413, "body-too-large", "The request body is too large"},
    {422, "function-error", "The function raised an error"},
    {500, "internal-error", "Internal error"},
    {502, "worker-lost", "The worker died while running the task"},
    {503, "unavailable", "Service unavailable"},
    {504, "timed-out", "The task ran past its timeout"},
};

int
http_status(Outcome o)
{
    return (unsigned)o < OUTCOME_COUNT && http_status_of[o] ? http_status_of[o] : 500;
}

const char *
http_status_slug(int status)
{
    for (size_t i = 0; i < ARRAY_LEN(http_status_problems); i++)
        if (http_status_problems[i].status == status)
            return http_status_problems[i].slug;
    return "error";
}

const char *
http_status_title(int status)
{
    for (size_t i = 0; i < ARRAY_LEN(http_status_problems); i++)
        if (http_status_problems[i].status == status)
            return http_status_problems[i].title;
    return "Error";
}
