/* run_junit and run_progress: the JUnit text CI dashboards read, the bar,
 * the attempt lines and the summary table. */
#include <math.h>
#include <string.h>

#include "run/run_expect.h"
#include "run/run_junit.h"
#include "run/run_progress.h"
#include "testutil.h"

static run_verdict_t *verdict(bool ok, const char *line)
{
    run_verdict_t *v = g_new0(run_verdict_t, 1);
    v->ok = ok;
    v->line = g_strdup(line);
    return v;
}

static void test_junit(void)
{
    GPtrArray *pass = g_ptr_array_new_with_free_func((GDestroyNotify)run_verdict_free);
    g_ptr_array_add(pass, verdict(true, "outcome = direct: 5 of 5 attempts went direct"));
    GPtrArray *fail = g_ptr_array_new_with_free_func((GDestroyNotify)run_verdict_free);
    g_ptr_array_add(fail, verdict(false, "success-rate >= 0.9: 3 of 5 <attempts> & more"));
    g_ptr_array_add(fail, verdict(false, "technique = birthday: attempt 2 went direct by punch"));
    run_junit_case_t cases[] = {
        { "mx-fc-fc", 1.5, NULL, pass, "5 attempts" },
        { "mx-prc-sym", 9.25, NULL, fail, "5 attempts" },
        { "broken", 0.1, "bringing the topology up: \"x\"", NULL, "" },
    };
    char *xml = run_junit_text("matrix", cases, 3, 12.0);
    CU_ASSERT_PTR_NOT_NULL(strstr(xml, "<testsuite name=\"matrix\" tests=\"3\" failures=\"1\" errors=\"1\" time=\"12.000\">"));
    CU_ASSERT_PTR_NOT_NULL(strstr(xml, "<testcase classname=\"matrix\" name=\"mx-fc-fc\" time=\"1.500\">"));
    CU_ASSERT_PTR_NOT_NULL(strstr(xml, "<failure message=\"success-rate &gt;= 0.9: 3 of 5 &lt;attempts&gt; &amp; more\" type=\"expectation\">"));
    CU_ASSERT_PTR_NOT_NULL(strstr(xml, "technique = birthday: attempt 2 went direct by punch\n</failure>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(xml, "<error message=\"bringing the topology up: &quot;x&quot;\"/>"));
    CU_ASSERT_PTR_NULL(strstr(strstr(xml, "<failure") + 1, "<failure")); /* one failure */
    g_free(xml);
    g_ptr_array_free(pass, TRUE);
    g_ptr_array_free(fail, TRUE);
}

static void test_progress(void)
{
    run_progress_t p = { .attempts_total = 140, .attempts_done = 35, .direct = 30, .relayed = 4,
                         .failed = 1, .scenarios_total = 28, .scenarios_done = 7, .running = 4,
                         .elapsed_s = 83 };
    char *bar = run_progress_bar(&p, 8);
    CU_ASSERT_STRING_EQUAL(bar, "[##------] 35/140 attempts  direct 30  relayed 4  failed 1  "
                                "scenarios 7/28 (4 running)  1:23");
    g_free(bar);
    char *clock = run_progress_clock(3725);
    CU_ASSERT_STRING_EQUAL(clock, "1:02:05");
    g_free(clock);

    result_t *r = result_new();
    r->scenario = g_strdup("mx-fc-prc");
    r->attempt = 3;
    r->outcome = RESULT_DIRECT;
    g_free(r->technique);
    r->technique = g_strdup("punch");
    r->time_to_first_byte_ms = 2;
    r->time_to_direct_ms = 410;
    r->duration_ms = 1200;
    char *line = run_progress_attempt_line(r, 5);
    CU_ASSERT_STRING_EQUAL(line, "mx-fc-prc #3/5  direct (punch)  first byte 2 ms, direct 410 ms  [1.2 s]");
    g_free(line);
    /* Relayed: which relay, when the run used TURN; as before otherwise. */
    result_t *t = result_new();
    t->scenario = g_strdup("mx-sym-sym");
    t->attempt = 1;
    t->outcome = RESULT_RELAYED;
    t->time_to_first_byte_ms = 2;
    line = run_progress_attempt_line(t, 1);
    CU_ASSERT_STRING_EQUAL(line, "mx-sym-sym #1/1  relayed  first byte 2 ms");
    g_free(line);
    t->relay = g_strdup("turn");
    line = run_progress_attempt_line(t, 1);
    CU_ASSERT_STRING_EQUAL(line, "mx-sym-sym #1/1  relayed (turn)  first byte 2 ms");
    g_free(line);
    result_free(t);
    result_t *f = result_new();
    f->scenario = g_strdup("mx-fc-prc");
    f->attempt = 4;
    f->error = g_strdup("deadline 30 s passed");
    result_t *both[] = { r, f };
    run_summary_row_t rows[] = { { "mx-fc-prc", "direct", both, 2, "FAIL" } };
    char *table = run_progress_summary(rows, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "SCENARIO   EXPECTED  RUNS  DIRECT  RELAYED  FAILED"));
    CU_ASSERT_PTR_NOT_NULL(strstr(table, "mx-fc-prc  direct       2       1        0       1  410ms/410ms        punch      FAIL\n"));
    g_free(table);
    result_free(r);
    result_free(f);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "JUnit XML", test_junit },
        { "progress bar, attempt lines, summary table", test_progress },
        { NULL, NULL },
    };
    return test_run_suite("run_junit", cases);
}
