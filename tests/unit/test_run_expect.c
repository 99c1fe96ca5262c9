/* run_expect: [expect] lines as a key file hands them over, and the one-line
 * verdicts over a scenario's attempts. */
#include <math.h>
#include <string.h>

#include "run/run_expect.h"
#include "testutil.h"

static result_t *attempt(unsigned k, result_outcome_t o, const char *technique, double ttd)
{
    result_t *r = result_new();
    r->attempt = k;
    r->outcome = o;
    g_free(r->technique);
    r->technique = g_strdup(technique);
    r->time_to_direct_ms = ttd;
    r->time_to_first_byte_ms = 3;
    r->duration_ms = 1000;
    r->path_changes = k;
    if (o == RESULT_FAILED)
        r->error = g_strdup("deadline 30 s passed");
    return r;
}

/* 5 attempts: 4 direct (punch, punch, punch, birthday), 1 relayed. */
static GPtrArray *five(void)
{
    GPtrArray *a = g_ptr_array_new_with_free_func((GDestroyNotify)result_free);
    g_ptr_array_add(a, attempt(1, RESULT_DIRECT, "punch", 100));
    g_ptr_array_add(a, attempt(2, RESULT_DIRECT, "punch", 200));
    g_ptr_array_add(a, attempt(3, RESULT_RELAYED, "none", NAN));
    g_ptr_array_add(a, attempt(4, RESULT_DIRECT, "punch", 300));
    g_ptr_array_add(a, attempt(5, RESULT_DIRECT, "birthday", 2500));
    return a;
}

/* Judges `lines` (key NUL value pairs as a key file gives them) over five(). */
static GPtrArray *judge(const char *const *kv, size_t n)
{
    run_expectations_t *set = run_expectations_new();
    for (size_t i = 0; i < n; i += 2) {
        char *why = NULL;
        CU_ASSERT_TRUE(run_expectations_add(set, kv[i], kv[i + 1], &why));
        if (why)
            fprintf(stderr, "%s = %s: %s\n", kv[i], kv[i + 1], why);
        g_free(why);
    }
    GPtrArray *a = five();
    GPtrArray *v = run_expectations_judge(set, (result_t *const *)a->pdata, a->len);
    g_ptr_array_free(a, TRUE);
    run_expectations_free(set);
    return v;
}

static const run_verdict_t *nth(GPtrArray *v, guint i)
{
    CU_ASSERT_FATAL(i < v->len);
    return g_ptr_array_index(v, i);
}

static void test_outcome_every_attempt(void)
{
    const char *kv[] = { "outcome", "direct" };
    GPtrArray *v = judge(kv, 2);
    CU_ASSERT_EQUAL(v->len, 1);
    CU_ASSERT_FALSE(nth(v, 0)->ok);
    ASSERT_CONTAINS(nth(v, 0)->line, "outcome = direct: 4 of 5 attempts went direct: #3 relayed");
    g_ptr_array_free(v, TRUE);
    /* No [expect] at all: every attempt must deliver (direct or relayed). */
    v = judge(NULL, 0);
    CU_ASSERT_TRUE(nth(v, 0)->ok);
    ASSERT_CONTAINS(nth(v, 0)->line, "outcome = any: 5 of 5 attempts delivered their data");
    g_ptr_array_free(v, TRUE);
}

static void test_success_rate(void)
{
    /* As GLib splits "success-rate >= 0.8": key "success-rate >", value "0.8". */
    const char *kv[] = { "outcome", "direct", "success-rate >", "0.8" };
    GPtrArray *v = judge(kv, 4);
    CU_ASSERT_EQUAL(v->len, 1); /* the rate replaces the every-attempt outcome check */
    CU_ASSERT_TRUE(nth(v, 0)->ok);
    ASSERT_CONTAINS(nth(v, 0)->line, "success-rate >= 0.8: 4 of 5 attempts (80%) went direct");
    g_ptr_array_free(v, TRUE);
    const char *kv2[] = { "outcome", "direct", "success-rate >", "95%" };
    v = judge(kv2, 4);
    CU_ASSERT_FALSE(nth(v, 0)->ok);
    ASSERT_CONTAINS(nth(v, 0)->line, "success-rate >= 95%: 4 of 5 attempts (80%) went direct: #3 relayed");
    g_ptr_array_free(v, TRUE);
}

static void test_technique(void)
{
    const char *kv[] = { "technique", "punch" };
    GPtrArray *v = judge(kv, 2);
    CU_ASSERT_EQUAL(v->len, 2);
    CU_ASSERT_FALSE(nth(v, 1)->ok);
    ASSERT_CONTAINS(nth(v, 1)->line, "technique = punch: attempt 5 went direct by birthday");
    g_ptr_array_free(v, TRUE);
    const char *kv2[] = { "technique", "punch, birthday" };
    v = judge(kv2, 2);
    CU_ASSERT_TRUE(nth(v, 1)->ok);
    g_ptr_array_free(v, TRUE);
}

static void test_metrics(void)
{
    const char *kv[] = { "time-to-direct-p95 <", "2s", "time-to-direct-p50 <", "300ms",
                         "path-changes <",       "5",  "probes-sent >",        "1",
                         "time-to-first-byte <", "5ms" };
    GPtrArray *v = judge(kv, 10);
    CU_ASSERT_EQUAL(v->len, 6);
    CU_ASSERT_FALSE(nth(v, 1)->ok); /* p95 of 100, 200, 300, 2500 ms is 2500 ms */
    ASSERT_CONTAINS(nth(v, 1)->line, "time-to-direct-p95 <= 2s: p95 2.50 s over 4 attempts");
    CU_ASSERT_TRUE(nth(v, 2)->ok);
    ASSERT_CONTAINS(nth(v, 2)->line, "time-to-direct-p50 <= 300ms: p50 200 ms");
    CU_ASSERT_TRUE(nth(v, 3)->ok); /* every attempt: at most 5 path changes */
    CU_ASSERT_FALSE(nth(v, 4)->ok); /* no probes were counted */
    ASSERT_CONTAINS(nth(v, 4)->line, "probes-sent >= 1: min 0");
    CU_ASSERT_TRUE(nth(v, 5)->ok);
    g_ptr_array_free(v, TRUE);
}

static void test_nothing_to_measure(void)
{
    run_expectations_t *set = run_expectations_new();
    char *why = NULL;
    CU_ASSERT_TRUE(run_expectations_add(set, "time-to-direct-max <", "1s", &why));
    result_t *r = attempt(1, RESULT_RELAYED, "none", NAN);
    GPtrArray *v = run_expectations_judge(set, &r, 1);
    CU_ASSERT_FALSE(nth(v, 1)->ok);
    ASSERT_CONTAINS(nth(v, 1)->line, "time-to-direct-max <= 1s: no attempt went direct");
    g_ptr_array_free(v, TRUE);
    /* No attempts at all: nothing holds. */
    v = run_expectations_judge(set, NULL, 0);
    CU_ASSERT_FALSE(nth(v, 0)->ok);
    g_ptr_array_free(v, TRUE);
    result_free(r);
    run_expectations_free(set);
}

static void test_errors_say_what_is_allowed(void)
{
    static const struct {
        const char *key, *value, *why;
    } bad[] = {
        { "outcome", "sideways", "allowed: outcome = direct, relayed, failed or any" },
        { "success-rate >", "1.5", "RATE from 0 to 1 or a percentage" },
        { "success-rate", "0.9", "allowed: success-rate >= RATE" },
        { "technique", "telepathy", "NAME one of punch, predicted, birthday" },
        { "time-to-direct-p95 <", "soon", "allowed: time-to-direct-p95 <= DURATION" },
        { "time-to-direct-p42 <", "1s", "unknown expectation; allowed: outcome" },
        { "path-changes <", "-1", "allowed: path-changes <= COUNT" },
        { "latency", "1s", "unknown expectation" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        run_expectations_t *set = run_expectations_new();
        char *why = NULL;
        CU_ASSERT_FALSE(run_expectations_add(set, bad[i].key, bad[i].value, &why));
        CU_ASSERT_PTR_NOT_NULL_FATAL(why);
        ASSERT_CONTAINS(why, bad[i].why);
        g_free(why);
        run_expectations_free(set);
    }
    char *line = run_expect_line("time-to-direct-p95 <", "2s");
    CU_ASSERT_STRING_EQUAL(line, "time-to-direct-p95 <= 2s");
    g_free(line);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "outcome: every attempt", test_outcome_every_attempt },
        { "success-rate", test_success_rate },
        { "technique", test_technique },
        { "metrics and percentiles", test_metrics },
        { "nothing to measure", test_nothing_to_measure },
        { "errors say what is allowed", test_errors_say_what_is_allowed },
        { NULL, NULL },
    };
    return test_run_suite("run_expect", cases);
}
