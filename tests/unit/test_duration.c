/* duration_parse / duration_format: the units profile and scenario files use. */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/duration.h"
#include "testutil.h"

static void expect_parse(const char *text, usec_t want)
{
    usec_t got = -1;
    bool ok = duration_parse(text, &got);
    if (!ok || got != want)
        fprintf(stderr, "duration_parse(\"%s\"): ok=%d got %" G_GINT64_FORMAT
                        ", want %" G_GINT64_FORMAT "\n",
                text, ok, got, want);
    CU_ASSERT_TRUE(ok);
    CU_ASSERT_EQUAL(got, want);
}

static void expect_reject(const char *text)
{
    usec_t got = 12345;
    bool ok = duration_parse(text, &got);
    if (ok)
        fprintf(stderr, "duration_parse(\"%s\") accepted: %" G_GINT64_FORMAT "\n", text, got);
    CU_ASSERT_FALSE(ok);
    CU_ASSERT_EQUAL(got, 12345); /* untouched on failure */
}

static void expect_format(usec_t value, const char *want)
{
    char buf[32];
    duration_format(value, buf, sizeof buf);
    if (strcmp(buf, want) != 0)
        fprintf(stderr, "duration_format(%" G_GINT64_FORMAT "): \"%s\", want \"%s\"\n", value,
                buf, want);
    CU_ASSERT_STRING_EQUAL(buf, want);
}

static void test_parse_units(void)
{
    expect_parse("250us", 250);
    expect_parse("500ms", 500 * USEC_PER_MSEC);
    expect_parse("30s", 30 * USEC_PER_SEC);
    expect_parse("2min", 2 * USEC_PER_MIN);
    expect_parse("1h", USEC_PER_HOUR);
    expect_parse("1500ms", 1500 * USEC_PER_MSEC);
    expect_parse("0ms", 0);
    expect_parse("0h", 0);
}

static void test_parse_bare_zero(void)
{
    expect_parse("0", 0);
    expect_parse("000", 0);
}

static void test_parse_whitespace(void)
{
    /* Key files hand values over already stripped; stray blanks still parse. */
    expect_parse(" 30s", 30 * USEC_PER_SEC);
    expect_parse("30s ", 30 * USEC_PER_SEC);
    expect_parse("\t2min\t", 2 * USEC_PER_MIN);
}

static void test_parse_rejects(void)
{
    CU_ASSERT_FALSE(duration_parse(NULL, &(usec_t){ 0 }));
    expect_reject("");
    expect_reject("   ");
    expect_reject("5");   /* a bare number other than 0 has no unit */
    expect_reject("-1s"); /* negative */
    expect_reject("+1s");
    expect_reject("1.5s"); /* fractions: write 1500ms */
    expect_reject("10 parsecs");
    expect_reject("10parsecs");
    expect_reject("s");
    expect_reject("ms");
    expect_reject("1m"); /* ambiguous: minutes or metres? "min" it is */
    expect_reject("1sec");
    expect_reject("1S");
    expect_reject("1 s");
    expect_reject("1s1");
    expect_reject("1s 2s");
    expect_reject("0x10s");
    expect_reject("1e3ms");
}

static void test_parse_overflow(void)
{
    /* The largest representable durations parse ... */
    expect_parse("9223372036854775807us", INT64_MAX);
    expect_parse("2562047788h", 2562047788 * USEC_PER_HOUR);
    expect_parse("153722867280min", 153722867280 * USEC_PER_MIN);
    expect_parse("9223372036854ms", 9223372036854 * USEC_PER_MSEC);
    /* ... and one more does not, in every unit, instead of wrapping. */
    expect_reject("9223372036854775808us");
    expect_reject("2562047789h");
    expect_reject("153722867281min");
    expect_reject("9223372036855s");
    expect_reject("9223372036854776ms");
    expect_reject("18446744073709551616s"); /* past unsigned long long */
    expect_reject("99999999999999999999999999999999h");
}

static void test_format_shortest_exact(void)
{
    expect_format(0, "0s");
    expect_format(1, "1us");
    expect_format(250, "250us");
    expect_format(500 * USEC_PER_MSEC, "500ms");
    expect_format(1500 * USEC_PER_MSEC, "1500ms");
    expect_format(30 * USEC_PER_SEC, "30s");
    expect_format(90 * USEC_PER_SEC, "90s");
    expect_format(2 * USEC_PER_MIN, "2min");
    expect_format(90 * USEC_PER_MIN, "90min");
    expect_format(USEC_PER_HOUR, "1h");
    expect_format(24 * USEC_PER_HOUR, "24h");
    expect_format(1000001, "1000001us");
    expect_format(INT64_MAX, "9223372036854775807us");
}

static void test_round_trip_values(void)
{
    const usec_t values[] = {
        0,         1,         999,         1000,         1001,       USEC_PER_SEC,
        61000000,  USEC_PER_MIN, 3599 * USEC_PER_SEC, USEC_PER_HOUR, 36 * USEC_PER_HOUR,
        123456789, INT64_MAX,
    };
    for (size_t i = 0; i < G_N_ELEMENTS(values); i++) {
        char buf[32];
        duration_format(values[i], buf, sizeof buf);
        expect_parse(buf, values[i]);
    }
}

static void test_round_trip_texts(void)
{
    /* Canonical texts come back unchanged; others come back in shortest form. */
    static const struct {
        const char *in, *out;
    } cases[] = {
        { "250us", "250us" }, { "500ms", "500ms" }, { "30s", "30s" },    { "2min", "2min" },
        { "1h", "1h" },       { "0", "0s" },        { "60s", "1min" },   { "120min", "2h" },
        { "1000us", "1ms" },  { "3000ms", "3s" },   { "0min", "0s" },    { "90s", "90s" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        usec_t v;
        CU_ASSERT_TRUE_FATAL(duration_parse(cases[i].in, &v));
        expect_format(v, cases[i].out);
    }
}

static void test_format_small_buffer(void)
{
    char buf[4] = "xxx";
    duration_format(2 * USEC_PER_MIN, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "2mi"); /* truncated, still terminated */
}

int main(void)
{
    static const test_case_t cases[] = {
        { "parse units", test_parse_units },
        { "parse bare zero", test_parse_bare_zero },
        { "parse whitespace", test_parse_whitespace },
        { "parse rejects", test_parse_rejects },
        { "parse overflow", test_parse_overflow },
        { "format shortest exact", test_format_shortest_exact },
        { "round trip values", test_round_trip_values },
        { "round trip texts", test_round_trip_texts },
        { "format small buffer", test_format_small_buffer },
        { NULL, NULL },
    };
    return test_run_suite("duration", cases);
}
