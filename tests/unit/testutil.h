/* Runs a table of CUnit tests as one suite; the exit status says pass/fail. */
#pragma once
#include <CUnit/Basic.h>

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case_t;

int test_run_suite(const char *suite, const test_case_t *cases);
