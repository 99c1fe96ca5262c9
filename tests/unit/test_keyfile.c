/* keyfile: GLib key files plus inline comments, line numbers and errors that
 * say FILE:LINE: [group] key = value: why. */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include "common/keyfile.h"
#include "testutil.h"

/* Line numbers below refer to this text. */
#include "keyfile_sample.h"

static keyfile_t *sample_load(void)
{
    GError *error = NULL;
    keyfile_t *kf = keyfile_load_data(sample, strlen(sample), "sample.ini", &error);
    if (!kf)
        fprintf(stderr, "sample: %s\n", error->message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kf);
    return kf;
}

/* Loads `text` expecting failure; returns the message. */
static char *load_error(const char *text, const char *origin)
{
    GError *error = NULL;
    keyfile_t *kf = keyfile_load_data(text, strlen(text), origin, &error);
    CU_ASSERT_PTR_NULL(kf);
    keyfile_free(kf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    char *msg = g_strdup(error->message);
    g_error_free(error);
    return msg;
}

static void test_inline_comments(void)
{
    g_autoptr(keyfile_t) kf = sample_load();
    expect_value(kf, "nat", "timeout", "30s");
    expect_value(kf, "nat", "name", "a#b"); /* '#' inside a word is data */
    expect_value(kf, "nat", "loss", "5%");
    expect_value(kf, "nat", "tabbed", "x");
    expect_value(kf, "nat", "only", "");
    expect_value(kf, "nat", "spaced", "padded");
    expect_value(kf, "other", "timeout", "1min");
    expect_value(kf, "other", "hash", ""); /* a value that is all comment */
}

static void test_get_missing(void)
{
    g_autoptr(keyfile_t) kf = sample_load();
    expect_value(kf, "nat", "absent", NULL);
    expect_value(kf, "absent", "timeout", NULL);
}

static void test_groups_and_keys(void)
{
    g_autoptr(keyfile_t) kf = sample_load();
    CU_ASSERT_STRING_EQUAL(keyfile_origin(kf), "sample.ini");
    CU_ASSERT_TRUE(keyfile_has_group(kf, "nat"));
    CU_ASSERT_TRUE(keyfile_has_group(kf, "other"));
    CU_ASSERT_FALSE(keyfile_has_group(kf, "absent"));

    gsize n = 0;
    g_auto(GStrv) groups = keyfile_groups(kf, &n);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_STRING_EQUAL(groups[0], "nat");
    CU_ASSERT_STRING_EQUAL(groups[1], "other");

    g_auto(GStrv) keys = keyfile_keys(kf, "nat", &n);
    static const char *const want[] = { "timeout", "name",   "loss-inbound", "loss",
                                        "tabbed",  "only",   "spaced" };
    CU_ASSERT_EQUAL_FATAL(n, G_N_ELEMENTS(want));
    for (size_t i = 0; i < G_N_ELEMENTS(want); i++) /* in file order */
        CU_ASSERT_STRING_EQUAL(keys[i], want[i]);
    CU_ASSERT_PTR_NULL(keyfile_keys(kf, "absent", &n));
}

static void test_line_numbers(void)
{
    g_autoptr(keyfile_t) kf = sample_load();
    CU_ASSERT_EQUAL(keyfile_line(kf, "nat", "timeout"), 3);
    CU_ASSERT_EQUAL(keyfile_line(kf, "nat", "name"), 5);
    CU_ASSERT_EQUAL(keyfile_line(kf, "nat", "loss-inbound"), 6); /* indented */
    CU_ASSERT_EQUAL(keyfile_line(kf, "nat", "loss"), 7);         /* not loss-inbound's */
    CU_ASSERT_EQUAL(keyfile_line(kf, "nat", "tabbed"), 8);
    CU_ASSERT_EQUAL(keyfile_line(kf, "nat", "spaced"), 10);
    CU_ASSERT_EQUAL(keyfile_line(kf, "other", "timeout"), 12); /* its own group's */
    CU_ASSERT_EQUAL(keyfile_line(kf, "other", "hash"), 13);
    CU_ASSERT_EQUAL(keyfile_line(kf, "nat", "absent"), 0);
    CU_ASSERT_EQUAL(keyfile_line(kf, "nat", "hash"), 0);
    CU_ASSERT_EQUAL(keyfile_line(kf, "absent", "timeout"), 0);
}

static void test_line_numbers_group_prefix(void)
{
    /* [nat-a] is not [nat], and a group may be split in two. */
    const char text[] = "[nat-a]\nx = 1\n[nat]\ny = 2\n[b]\nz = 3\n[nat]\nx = 4\n";
    g_autoptr(keyfile_t) kf = keyfile_load_data(text, strlen(text), "t", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kf);
    CU_ASSERT_EQUAL(keyfile_line(kf, "nat", "x"), 8);
    CU_ASSERT_EQUAL(keyfile_line(kf, "nat", "y"), 4);
    CU_ASSERT_EQUAL(keyfile_line(kf, "nat-a", "x"), 2);
    expect_value(kf, "nat", "x", "4");
}

static void test_error_format(void)
{
    g_autoptr(keyfile_t) kf = sample_load();
    GError *error = NULL;
    keyfile_set_error(&error, kf, "nat", "timeout", "30s", "allowed: %s", "no more than 20s");
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    CU_ASSERT_EQUAL(error->domain, KEYFILE_ERROR);
    CU_ASSERT_EQUAL(error->code, KEYFILE_ERROR_VALUE);
    CU_ASSERT_STRING_EQUAL(error->message,
                           "sample.ini:3: [nat] timeout = 30s: allowed: no more than 20s");
    g_clear_error(&error);

    keyfile_set_error(&error, kf, "other", "timeout", "1min", "why");
    CU_ASSERT_STRING_EQUAL(error->message, "sample.ini:12: [other] timeout = 1min: why");
    g_clear_error(&error);

    /* Without a value, without a key, and for a key the file lacks. */
    keyfile_set_error(&error, kf, "nat", "loss", NULL, "why");
    CU_ASSERT_STRING_EQUAL(error->message, "sample.ini:7: [nat] loss: why");
    g_clear_error(&error);
    keyfile_set_error(&error, kf, "nat", NULL, NULL, "%d keys clash", 2);
    CU_ASSERT_STRING_EQUAL(error->message, "sample.ini: [nat]: 2 keys clash");
    g_clear_error(&error);
    keyfile_set_error(&error, kf, "nat", "absent", "v", "why");
    CU_ASSERT_STRING_EQUAL(error->message, "sample.ini: [nat] absent = v: why");
    g_clear_error(&error);

    keyfile_set_error(NULL, kf, "nat", "timeout", "30s", "ignored"); /* NULL error is fine */
}

static void test_default_origin(void)
{
    const char text[] = "[nat]\nk = v\n";
    g_autoptr(keyfile_t) kf = keyfile_load_data(text, strlen(text), NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kf);
    CU_ASSERT_STRING_EQUAL(keyfile_origin(kf), "<input>");
}

static void test_length_bounded(void)
{
    /* Only `len` bytes are read: the rest of the buffer is not part of the file. */
    const char text[] = "[nat]\nk = v\nthis is not a key file line\n";
    size_t len = strlen("[nat]\nk = v\n");
    g_autoptr(keyfile_t) kf = keyfile_load_data(text, len, "t", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kf);
    expect_value(kf, "nat", "k", "v");

    g_autoptr(keyfile_t) empty = keyfile_load_data("", 0, "empty", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(empty);
    CU_ASSERT_FALSE(keyfile_has_group(empty, "nat"));
}

static void test_syntax_error_has_line(void)
{
    g_autofree char *a = load_error("[nat]\n# fine\nk = v\nthis is not a key\nz = 1\n", "bad.ini");
    ASSERT_CONTAINS(a, "bad.ini:4: ");
    ASSERT_CONTAINS(a, "this is not a key");

    g_autofree char *b = load_error("# no group\nk = v\n", "nogroup.ini");
    ASSERT_CONTAINS(b, "nogroup.ini:2: ");

    g_autofree char *c = load_error("[nat]\nk = v\n[unclosed\n", "g.ini");
    ASSERT_CONTAINS(c, "g.ini:3: ");

    g_autofree char *d = load_error("[nat]\nk = v\n=nokey", "nokey.ini"); /* no final newline */
    ASSERT_CONTAINS(d, "nokey.ini:3: ");

    GError *error = NULL;
    CU_ASSERT_PTR_NULL(keyfile_load_data("x", 1, "t", &error));
    CU_ASSERT_EQUAL(error->domain, KEYFILE_ERROR);
    CU_ASSERT_EQUAL(error->code, KEYFILE_ERROR_PARSE);
    g_clear_error(&error);
}

static void test_duplicate_key_rejected(void)
{
    /* GLib would keep the last one silently. */
    g_autofree char *a = load_error("[nat]\ntimeout = 1s\n# later\ntimeout = 2s\n", "dup.ini");
    ASSERT_CONTAINS(a, "dup.ini:4: [nat] timeout");
    ASSERT_CONTAINS(a, "line 2");

    /* Also across two sections of the same group ... */
    g_autofree char *b = load_error("[nat]\nk = 1\n[x]\nk = 1\n[nat]\nk = 2\n", "split.ini");
    ASSERT_CONTAINS(b, "split.ini:6: [nat] k");

    /* ... but the same key in two groups is fine. */
    const char ok[] = "[a]\nk = 1\n[b]\nk = 2\n";
    g_autoptr(keyfile_t) kf = keyfile_load_data(ok, strlen(ok), "ok", NULL);
    CU_ASSERT_PTR_NOT_NULL(kf);
}

static void test_translations_are_keys(void)
{
    /* "key[xx]" reaches the caller (as an unknown key) whatever the locale. */
    const char text[] = "[nat]\ntimeout[de] = 1s\ntimeout[C] = 2s\n";
    g_autoptr(keyfile_t) kf = keyfile_load_data(text, strlen(text), "t", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kf);
    gsize n = 0;
    g_auto(GStrv) keys = keyfile_keys(kf, "nat", &n);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_STRING_EQUAL(keys[0], "timeout[de]");
    CU_ASSERT_EQUAL(keyfile_line(kf, "nat", "timeout[C]"), 3);
    expect_value(kf, "nat", "timeout", NULL);
}

static void test_free_null(void)
{
    keyfile_free(NULL);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "inline comments", test_inline_comments },
        { "get missing", test_get_missing },
        { "groups and keys", test_groups_and_keys },
        { "line numbers", test_line_numbers },
        { "line numbers group prefix", test_line_numbers_group_prefix },
        { "error format", test_error_format },
        { "default origin", test_default_origin },
        { "length bounded", test_length_bounded },
        { "syntax error has line", test_syntax_error_has_line },
        { "duplicate key rejected", test_duplicate_key_rejected },
        { "translations are keys", test_translations_are_keys },
        { "free null", test_free_null },
        { NULL, NULL },
    };
    return test_run_suite("keyfile", cases);
}
