/* Runs a table of CUnit tests as one suite; the exit status says pass/fail. */
#pragma once
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

/* A failed containment names both strings. */
#define ASSERT_CONTAINS(haystack, needle)                                           \
    do {                                                                            \
        const char *h_ = (haystack);                                                \
        if (!h_ || !strstr(h_, (needle)))                                           \
            fprintf(stderr, "'%s' does not contain '%s'\n", h_ ? h_ : "(null)",     \
                    (needle));                                                      \
        CU_ASSERT_PTR_NOT_NULL(h_ ? strstr(h_, (needle)) : NULL);                   \
    } while (0)

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case_t;

int test_run_suite(const char *suite, const test_case_t *cases);
