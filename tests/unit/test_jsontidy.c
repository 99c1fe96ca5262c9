/* jsontidy_numbers: shortest round-trip numbers, strings untouched, and the
 * same values when json-glib reads the result back. */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/jsontidy.h"
#include "common/rng.h"
#include "testutil.h"

static void expect(const char *in, const char *want)
{
    char *got = jsontidy_numbers(in);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "jsontidy(%s) = %s, want %s\n", in, got, want);
    CU_ASSERT_STRING_EQUAL(got, want);
    g_free(got);
}

static void test_shortest(void)
{
    expect("{\"a\":0.80000000000000004}", "{\"a\":0.8}");
    expect("[1.1000000000000001,2.0,3,-0.5,1e+300,12345678901234567]",
           "[1.1,2.0,3,-0.5,1e+300,12345678901234567]");
    expect("{\"t\":497.41699999999997,\"n\":null}", "{\"t\":497.417,\"n\":null}");
}

static void test_strings_untouched(void)
{
    expect("{\"x\":\"0.80000000000000004 \\\"1.10000000000001\\\"\",\"y\":1.5}",
           "{\"x\":\"0.80000000000000004 \\\"1.10000000000001\\\"\",\"y\":1.5}");
    expect("{\"v1.2\":7}", "{\"v1.2\":7}");
}

/* Any double survives: json-glib writes it, tidy shortens it, json-glib
 * reads back exactly the same double. */
static void test_round_trip(void)
{
    rng_t rng;
    rng_seed(&rng, 42);
    for (unsigned i = 0; i < 20000; i++) {
        double v;
        uint64_t bits = rng_next(&rng);
        if (i % 2)
            v = (double)(bits % 1000000) / 1000.0; /* milliseconds with µs */
        else {
            memcpy(&v, &bits, sizeof v);
            if (!isfinite(v))
                continue;
        }
        JsonNode *n = json_node_new(JSON_NODE_VALUE);
        json_node_set_double(n, v);
        JsonNode *arr = json_node_new(JSON_NODE_ARRAY);
        JsonArray *a = json_array_new();
        json_array_add_element(a, n);
        json_node_take_array(arr, a);
        char *text = json_to_string(arr, FALSE);
        char *tidy = jsontidy_numbers(text);
        if (strlen(tidy) > strlen(text))
            fprintf(stderr, "longer: %s -> %s\n", text, tidy);
        CU_ASSERT(strlen(tidy) <= strlen(text));
        JsonNode *back = json_from_string(tidy, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(back);
        double got = json_array_get_double_element(json_node_get_array(back), 0);
        if (got != v)
            fprintf(stderr, "%s -> %s: %.17g != %.17g\n", text, tidy, got, v);
        CU_ASSERT(got == v);
        json_node_unref(back);
        json_node_unref(arr);
        g_free(text);
        g_free(tidy);
    }
}

int main(void)
{
    static const test_case_t cases[] = {
        { "shortest form", test_shortest },
        { "strings untouched", test_strings_untouched },
        { "round trip through json-glib", test_round_trip },
        { NULL, NULL },
    };
    return test_run_suite("jsontidy", cases);
}
