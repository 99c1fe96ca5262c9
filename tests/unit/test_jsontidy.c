/* jsontidy: shortest round-trip numbers, strings untouched, and the same
 * values when json-glib reads the result back; fixed decimals where a
 * stream has always had them; the indented form of summary.json. */
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

/* What the agent's event lines and summary.json printed before they were
 * written through json-glib: "%.3f", and "%.4f" without trailing zeros. */
static void test_fixed_and_rounded(void)
{
    static const jsontidy_fixed_t fixed[] = { { "t_ms", 3 }, { "p", 4 }, { NULL, 0 } };
    rng_t rng;
    rng_seed(&rng, 7);
    for (unsigned i = 0; i < 20000; i++) {
        uint64_t us = rng_next(&rng) % (i % 2 ? 100000000000ull : 10000000ull);
        double share = (double)(rng_next(&rng) % 1000000) / 999983.0;
        char want[160], shown[G_ASCII_DTOSTR_BUF_SIZE];
        g_ascii_formatd(shown, sizeof shown, "%.4f", share);
        size_t n = strlen(shown); /* "%.4f" has a '.': 0.5000 -> 0.5, 1.0000 -> 1 */
        while (shown[n - 1] == '0')
            shown[--n] = '\0';
        if (shown[n - 1] == '.')
            shown[--n] = '\0';
        g_snprintf(want, sizeof want, "{\"t_ms\":%.3f,\"p\":%.4f,\"share\":%s,\"t\":%.1f}",
                   (double)us / 1000.0, share, shown, 2.0);
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        jsontidy_add_double(b, "t_ms", (double)us / 1000.0);
        jsontidy_add_double(b, "p", share);
        jsontidy_add_rounded(b, "share", share, 4);
        jsontidy_add_double(b, "t", 2.0);
        json_builder_end_object(b);
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        g_autofree char *got = jsontidy_line(root, fixed);
        if (strcmp(got, want) != 0)
            fprintf(stderr, "%s, want %s\n", got, want);
        CU_ASSERT_STRING_EQUAL(got, want);
    }
}

static void test_pretty(void)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    jsontidy_add_string(b, "name", "a: \"b\", [c]");
    json_builder_set_member_name(b, "empty");
    json_builder_begin_array(b);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "none");
    json_builder_begin_object(b);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "list");
    json_builder_begin_array(b);
    json_builder_begin_object(b);
    jsontidy_add_rounded(b, "rate", 0.81549, 4);
    jsontidy_add_rounded(b, "ms", 2.0004, 3);
    jsontidy_add_rounded(b, "zero", -0.00001, 4);
    jsontidy_add_rounded(b, "none", NAN, 4);
    json_builder_end_object(b);
    json_builder_end_array(b);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *got = jsontidy_pretty(root);
    CU_ASSERT_STRING_EQUAL(got, "{\n"
                                "  \"name\": \"a: \\\"b\\\", [c]\",\n"
                                "  \"empty\": [],\n"
                                "  \"none\": {},\n"
                                "  \"list\": [\n"
                                "    {\n"
                                "      \"rate\": 0.8155,\n"
                                "      \"ms\": 2,\n"
                                "      \"zero\": 0,\n"
                                "      \"none\": null\n"
                                "    }\n"
                                "  ]\n"
                                "}\n");
}

int main(void)
{
    static const test_case_t cases[] = {
        { "shortest form", test_shortest },
        { "strings untouched", test_strings_untouched },
        { "round trip through json-glib", test_round_trip },
        { "fixed decimals, rounded shares", test_fixed_and_rounded },
        { "indented", test_pretty },
        { NULL, NULL },
    };
    return test_run_suite("jsontidy", cases);
}
