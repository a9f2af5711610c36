/*
 * clock.h: seconds as doubles. Deadlines and durations use the monotonic
 * clock, which no clock change moves; timestamps shown to people use the
 * wall clock.
 */
#ifndef POOLD_CLOCK_H
#define POOLD_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* The monotonic clock in nanoseconds, shared by processes (a worker's
 * stamp read by the dispatcher). */
static inline uint64_t
clock_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline double
clock_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double
clock_wall(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A condition variable whose timed waits count on the monotonic clock,
 * as every deadline here does. */
static inline void
clock_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t ca;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &ca);
    pthread_condattr_destroy(&ca);
}

/* Waits on a clock_cond_init condition until the monotonic time `until`
 * (a past one returns at once); pthread_cond_timedwait's answer. */
static inline int
clock_cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, double until)
{
    struct timespec ts = {.tv_sec = (time_t)until, .tv_nsec = (long)((until - (double)(time_t)until) * 1e9)};

    return pthread_cond_timedwait(cond, lock, &ts);
}

/* A wall-clock time as RFC 3339 in UTC with milliseconds:
 * "2026-12-01T08:24:15.993Z" (len at least 32). */
static inline void
clock_rfc3339(double t, char *buf, size_t len)
{
    time_t secs = (time_t)t;
    struct tm tm;
    char base[24];

    gmtime_r(&secs, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", base, (int)((t - (double)secs) * 1000) % 1000);
}

#endif
