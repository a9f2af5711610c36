/*
 * clock.h: seconds as doubles. Deadlines and durations use the monotonic
 * clock, which no clock change moves; timestamps shown to people use the
 * wall clock.
 */
#ifndef POOLD_CLOCK_H
#define POOLD_CLOCK_H

#include <time.h>

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

#endif
