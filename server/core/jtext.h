/*
 * jtext.h: JSON text as poold writes it. jansson writes a real with
 * "%.17g", so the 0.1 a client sent comes back as 0.10000000000000001;
 * poold writes each real the shortest way that reads back as the same
 * double, as Python's repr does (0.1, 1e+16, 1.5e-07), wherever it
 * writes JSON: answers, stream lines, results, webhooks, what an exec
 * function or a runtime reads.
 */
#ifndef POOLD_JTEXT_H
#define POOLD_JTEXT_H

#include <stddef.h>

#include <jansson.h>

/* The most a real takes in jtext_real, its NUL included. */
#define JTEXT_REAL_MAX 32

/* json_dumps(v, flags), with each real as jtext_real writes it. A text
 * with neither '.' nor 'e' costs a vectorized scan more than json_dumps;
 * one with either, a pass over it, and a copy when it holds a real. NULL
 * when json_dumps would be, or out of memory. */
char *jtext_dumps(const json_t *v, size_t flags);

/* The finite d, written into buf (JTEXT_REAL_MAX bytes) as Python's repr
 * writes a float: the fewest significant digits that read back as d (15
 * when they do, else 16, else 17), in positional notation from 1e-4 to
 * 1e16, and as d.ddde+XX outside; always with a '.' or an 'e', so that it
 * reads back as a real. Returns its length. */
int jtext_real(double d, char *buf);

#endif
