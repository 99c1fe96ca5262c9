/* results.jsonl: loading, merging shards, and an error naming FILE:LINE for
 * every malformed line (nothing skipped, nothing half-added). */
#include <glib.h>
#include <string.h>

#include "report_fixture.h"
#include "reports/results.h"
#include "testutil.h"

static const fx_pair_t pairs[] = {
    { NULL, "full-cone", FX_EIM, "symmetric", FX_APDM, 7, 2, 1, 100, 10 },
    { NULL, NULL, FX_PUBLIC, "no-nat", FX_OPEN, 3, 0, 0, 5, 1 },
    { "double-nat", "cgnat", FX_EIM, "firewall", FX_FIREWALL, 2, 3, 4, 50, 25 },
};

static size_t total_attempts(void)
{
    size_t n = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(pairs); i++)
        n += (size_t)(pairs[i].direct + pairs[i].relayed + pairs[i].failed);
    return n;
}

static void test_shards_merge_every_line(void)
{
    for (guint shards = 1; shards <= 5; shards++) {
        g_autoptr(results_t) r = fx_results(pairs, G_N_ELEMENTS(pairs), shards, 42 + shards);
        CU_ASSERT_EQUAL(r->attempts->len, total_attempts());
        CU_ASSERT_EQUAL(r->origins->len, shards);
        size_t outcomes[RESULT_N_OUTCOMES] = { 0 };
        for (guint i = 0; i < r->attempts->len; i++) {
            const result_attempt_t *located = r->attempts->pdata[i];
            const result_t *a = located->row;
            outcomes[a->outcome]++;
            CU_ASSERT_TRUE(located->line >= 1);
            CU_ASSERT_PTR_NOT_NULL(located->origin);
            if (a->outcome != RESULT_DIRECT) {
                CU_ASSERT_STRING_EQUAL(a->technique, "none");
                CU_ASSERT_TRUE(isnan(a->time_to_direct_ms));
            }
        }
        size_t want[RESULT_N_OUTCOMES] = { 0 };
        for (size_t i = 0; i < G_N_ELEMENTS(pairs); i++) {
            want[RESULT_DIRECT] += (size_t)pairs[i].direct;
            want[RESULT_RELAYED] += (size_t)pairs[i].relayed;
            want[RESULT_FAILED] += (size_t)pairs[i].failed;
        }
        for (int o = 0; o < RESULT_N_OUTCOMES; o++)
            CU_ASSERT_EQUAL(outcomes[o], want[o]);
    }
}

static void test_sides(void)
{
    g_autoptr(results_t) r = fx_results(pairs, G_N_ELEMENTS(pairs), 1, 1);
    for (guint i = 0; i < r->attempts->len; i++) {
        const result_t *a = ((const result_attempt_t *)r->attempts->pdata[i])->row;
        if (strcmp(result_nat_name(a->nat_b), "symmetric") == 0) {
            CU_ASSERT_STRING_EQUAL(a->nat_a, "full-cone");
            CU_ASSERT_TRUE(a->easy_a);
            CU_ASSERT_FALSE(a->easy_b);
            CU_ASSERT_STRING_EQUAL(a->pair, "full-cone/symmetric");
        } else if (strcmp(result_nat_name(a->nat_b), "no-nat") == 0) {
            CU_ASSERT_STRING_EQUAL(result_nat_name(a->nat_a), "public"); /* nat_a null */
            CU_ASSERT_TRUE(a->easy_a && a->easy_b);
        } else {
            CU_ASSERT_STRING_EQUAL(a->scenario, "double-nat");
            CU_ASSERT_TRUE(a->easy_a && a->easy_b); /* a firewall translates nothing */
        }
    }
}

static void test_profile_is_easy(void)
{
    static const struct {
        const char *type, *mapping;
        bool ok, easy;
    } cases[] = {
        { "nat", "endpoint-independent", true, true },
        { NULL, "endpoint-independent", true, true },
        { "nat", "address-dependent", true, false },
        { "nat", "address-and-port-dependent", true, false },
        { "open", NULL, true, true },
        { "firewall", NULL, true, true },
        { "blocked", NULL, true, false },
        { "nat", NULL, false, false },
        { NULL, NULL, false, false },
        { "nat", "endpoint-dependent", false, false },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        bool easy = !cases[i].easy;
        const char *why = NULL;
        bool ok = result_profile_is_easy(cases[i].type, cases[i].mapping, &easy, &why);
        CU_ASSERT_EQUAL(ok, cases[i].ok);
        if (ok) {
            CU_ASSERT_EQUAL(easy, cases[i].easy);
        } else {
            CU_ASSERT_PTR_NOT_NULL(why);
        }
    }
}

/* A valid fixture with line `at` (1-based) replaced by `bad`: the error names
 * that line and says what is wrong; nothing of the file is kept. */
static void expect_bad_line(const char *bad, guint at, bool final_newline, const char *why)
{
    g_autoptr(GPtrArray) lines = fx_lines(pairs, G_N_ELEMENTS(pairs), 9);
    g_free(lines->pdata[at - 1]);
    lines->pdata[at - 1] = g_strdup(bad);
    GString *text = g_string_new(NULL);
    for (guint i = 0; i < lines->len; i++)
        g_string_append_printf(text, "%s%s", (const char *)lines->pdata[i],
                               i + 1 < lines->len || final_newline ? "\n" : "");
    static const fx_pair_t earlier = { "earlier", "cgnat", FX_EIM, "cgnat", FX_EIM, 2, 1, 0, 9, 1 };
    g_autoptr(results_t) r = fx_results(&earlier, 1, 1, 3); /* something there before */
    guint before = r->attempts->len;
    g_autoptr(GError) error = NULL;
    bool ok = results_add_data(r, text->str, text->len, "shard/results.jsonl", "shard", &error);
    g_string_free(text, TRUE);
    CU_ASSERT_FALSE(ok);
    CU_ASSERT_EQUAL(r->attempts->len, before);
    CU_ASSERT_EQUAL(r->origins->len, 1);
    if (!error) {
        fprintf(stderr, "accepted: %s\n", bad);
        return;
    }
    g_autofree char *where = g_strdup_printf("shard/results.jsonl:%u: ", at);
    if (!g_str_has_prefix(error->message, where) || !strstr(error->message, why))
        fprintf(stderr, "got \"%s\", want \"%s...%s...\"\n", error->message, where, why);
    CU_ASSERT_TRUE(g_str_has_prefix(error->message, where));
    CU_ASSERT_PTR_NOT_NULL(strstr(error->message, why));
}

static void test_malformed_lines(void)
{
    const fx_pair_t *p = &pairs[0];
    g_autofree char *good = fx_line(p, 99, "direct", 12.5, "punch", NULL);
    guint n = (guint)total_attempts();
    /* Each fault at a different line, the first and the last included. */
    guint at[] = { 1, 2, n / 2, n - 1, n };
    struct {
        const char *needle, *replacement, *why;
    } edits[] = {
        { "\"outcome\": \"direct\"", "\"outcome\": \"sideways\"", "\"outcome\" is \"sideways\"" },
        { "\"scenario\": \"matrix\", ", "", "no \"scenario\"" },
        { "\"time_to_direct_ms\": 12.5", "\"time_to_direct_ms\": null", "time_to_direct_ms" },
        { "\"time_to_direct_ms\": 12.5", "\"time_to_direct_ms\": -3", "want a time >= 0 ms" },
        { "\"time_to_direct_ms\": 12.5", "\"time_to_direct_ms\": \"fast\"", "want milliseconds" },
        { "\"technique\": \"punch\"", "\"technique\": \"none\"", "technique" },
        { "\"nat_a\": \"full-cone\"", "\"nat_a\": 7", "\"nat_a\" is a number" },
        { "\"endpoint-independent\"", "\"sideways\"", "\"profile_a\" \"mapping\" is none of" },
        { "\"mapping\":\"address-and-port-dependent\",", "", "\"profile_b\" has no \"mapping\"" },
        { "\"profile_b\": ", "\"profile_x\": ", "no \"profile_b\"" },
        { "\"pcap\": null", "\"pcap\": \"/tmp/x.pcap\"", "want a path relative" },
        { "\"attempt\": 99", "\"attempt\": 9.5", "\"attempt\" is a number, want an integer" },
    };
    for (size_t e = 0; e < G_N_ELEMENTS(edits); e++) {
        const char *hit = strstr(good, edits[e].needle);
        CU_ASSERT_PTR_NOT_NULL_FATAL(hit);
        g_autofree char *bad = g_strdup_printf("%.*s%s%s", (int)(hit - good), good,
                                               edits[e].replacement, hit + strlen(edits[e].needle));
        expect_bad_line(bad, at[e % G_N_ELEMENTS(at)], true, edits[e].why);
    }
    expect_bad_line("{\"scenario\": \"matrix\", \"outcome\": \"direct\"", n, false,
                    "was the file cut short?");
    expect_bad_line("not json at all", 3, true, "not valid JSON");
    expect_bad_line("[1, 2, 3]", 4, true, "an array, want one JSON object per line");
    expect_bad_line("", 5, true, "empty line");
    expect_bad_line("{\"scenario\": \"m\xff\"}", 6, true, "not UTF-8");
}

static void test_crlf_and_final_line(void)
{
    g_autofree char *line = fx_line(&pairs[0], 1, "relayed", NAN, "none", NULL);
    g_autofree char *crlf = g_strdup_printf("%s\r\n%s", line, line);
    g_autoptr(results_t) r = results_new();
    g_autoptr(GError) error = NULL;
    /* Two attempts with the same identity: the second is refused. */
    CU_ASSERT_FALSE(results_add_data(r, crlf, strlen(crlf), "x.jsonl", ".", &error));
    CU_ASSERT_TRUE(error && strstr(error->message, "x.jsonl:2: the same attempt as x.jsonl:1"));
    g_clear_error(&error);
    g_autofree char *other = fx_line(&pairs[0], 2, "failed", NAN, "none", NULL);
    g_autofree char *ok = g_strdup_printf("%s\r\n%s", line, other); /* no final newline */
    CU_ASSERT_TRUE(results_add_data(r, ok, strlen(ok), "x.jsonl", ".", &error));
    CU_ASSERT_EQUAL(r->attempts->len, 2);
    /* An empty file is a shard that got no work: no attempts, no error. */
    CU_ASSERT_TRUE(results_add_data(r, "", 0, "empty.jsonl", ".", &error));
    CU_ASSERT_EQUAL(r->attempts->len, 2);
}

static void test_same_attempt_in_two_shards(void)
{
    g_autoptr(GPtrArray) lines = fx_lines(pairs, G_N_ELEMENTS(pairs), 5);
    g_autofree char *all = fx_shard(lines, 0, 1);
    g_autoptr(results_t) r = results_new();
    g_autoptr(GError) error = NULL;
    CU_ASSERT_TRUE(results_add_data(r, all, strlen(all), "a/results.jsonl", "a", &error));
    CU_ASSERT_FALSE(results_add_data(r, all, strlen(all), "b/results.jsonl", "b", &error));
    CU_ASSERT_PTR_NOT_NULL(error);
    if (error) {
        CU_ASSERT_TRUE(g_str_has_prefix(error->message, "b/results.jsonl:1: the same attempt as "
                                                        "a/results.jsonl:1"));
        CU_ASSERT_PTR_NOT_NULL(strstr(error->message, "given twice"));
    }
    CU_ASSERT_EQUAL(r->attempts->len, total_attempts());
    CU_ASSERT_EQUAL(r->origins->len, 1);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "shards merge every line", test_shards_merge_every_line },
        { "sides: names, public hosts, easy or hard", test_sides },
        { "profile: easy or hard", test_profile_is_easy },
        { "malformed lines: FILE:LINE and why", test_malformed_lines },
        { "CRLF, final line, empty file, duplicates", test_crlf_and_final_line },
        { "the same attempt in two shards", test_same_attempt_in_two_shards },
        { NULL, NULL },
    };
    return test_run_suite("report_results", cases);
}
