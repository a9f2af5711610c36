/*
 * fuzz.h: what the libFuzzer targets share. A failed FUZZ_CHECK aborts,
 * which libFuzzer reports as a crash and keeps the input that caused it:
 * an oracle's disagreement is then as loud as a sanitizer's report.
 */
#ifndef POOLD_FUZZ_H
#define POOLD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed\n", __FILE__,       \
                    __LINE__, #cond);                                         \
            abort();                                                          \
        }                                                                     \
    } while (0)

#endif
