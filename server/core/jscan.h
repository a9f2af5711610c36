/*
 * jscan.h: a map's items found in the body's text, without building them.
 * (A warm runtime's answer of bare values is checked by it too: see
 * worker/worker_runtime_task.c.)
 *
 * Parsing a million items into JSON values only to write them out again
 * for the workers costs more than the workers' own work. For the common
 * case (numbers, strings, arrays of them) this scanner checks the items
 * and notes where each begins; the chunks sent to workers are then slices
 * of the text. It accepts only what it is sure jansson accepts the same
 * way, and defers everything else (objects, escapes it does not check,
 * numbers near the limits, anything invalid) to jansson, which parses the
 * whole body then and words the error: so a body the scanner takes is one
 * the full parse would have taken, with the same values.
 */
#ifndef POOLD_JSCAN_H
#define POOLD_JSCAN_H

#include <stddef.h>
#include <stdint.h>

#define JSCAN_OK 0
#define JSCAN_DEFER 1   /* leave it to the full parse */
#define JSCAN_NOMEM (-1)

/*
 * Finds member key of the object that text holds, at its top level: its
 * value spans [*start, *end). Values are skipped, not checked (the full
 * parse of the rest checks them). JSCAN_OK, or JSCAN_DEFER when there is
 * no such member, the key appears escaped, or the text is not an object
 * this walk can follow.
 */
int jscan_member(const char *text, size_t len, const char *key, size_t *start, size_t *end);

/* The items of an array, as offsets into its text. */
typedef struct JscanItems {
    uint32_t *starts; /* where each item begins (malloc'd) */
    size_t n;
    size_t close;     /* where the array's "]" is */
} JscanItems;

/*
 * Checks that text (all of it) is an array of at most max_items items of
 * the kind the scanner vouches for, and notes where each begins.
 * JSCAN_OK with items filled (free items->starts), JSCAN_DEFER, or
 * JSCAN_NOMEM. Texts of 4 GiB or more are deferred.
 */
int jscan_array(const char *text, size_t len, size_t max_items, JscanItems *items);

/* Where item i of the array ends: the end of its text, before the comma
 * (and any space) that follows it, or the array's close for the last. */
size_t jscan_item_end(const char *text, const JscanItems *items, size_t i);

#endif
