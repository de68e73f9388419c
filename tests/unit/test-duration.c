/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "duration.h"

#define S UINT64_C(1000000)

static void test_parse_valid(void **state) {
        static const struct {
                const char *in;
                uint64_t usec;
        } cases[] = {
                { "90", 90 * S },       { "90s", 90 * S },          { "5m", 300 * S },
                { "1h30m", 5400 * S },  { "2d", 2 * 86400 * S },    { "250ms", 250000 },
                { "1h0m5s", 3605 * S }, { "0s", 0 },                { "1m30s", 90 * S },
        };
        (void) state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                uint64_t v = 12345;
                assert_int_equal(duration_parse(cases[i].in, &v), 0);
                assert_int_equal(v, cases[i].usec);
        }
}

static void test_parse_invalid(void **state) {
        static const char *const bad[] = { "",    "s",   "5x",  "-5",  "5 m", "1h30", "m5",
                                           "5mm", "1.5h", "5M", "0x10", "5s ", " 5s", "5ms3" };
        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                uint64_t v = 777;
                assert_int_equal(duration_parse(bad[i], &v), -EINVAL);
                assert_int_equal(v, 777); /* untouched on failure */
        }
        assert_int_equal(duration_parse(NULL, &(uint64_t) { 0 }), -EINVAL);
}

static void test_parse_overflow(void **state) {
        uint64_t v;
        (void) state;
        assert_int_equal(duration_parse("99999999999999999999999", &v), -ERANGE);
        assert_int_equal(duration_parse("999999999999999d", &v), -ERANGE);
        assert_int_equal(duration_parse("18446744073709d18446744073709d", &v), -ERANGE);
}

static void test_format(void **state) {
        char buf[32];
        (void) state;
        assert_string_equal(duration_format(252 * S, buf, sizeof(buf)), "4m12s");
        assert_string_equal(duration_format(3600 * S, buf, sizeof(buf)), "1h");
        assert_string_equal(duration_format(90061 * S, buf, sizeof(buf)), "1d1h1m1s");
        assert_string_equal(duration_format(1500, buf, sizeof(buf)), "1ms");
        assert_string_equal(duration_format(0, buf, sizeof(buf)), "0ms");
        /* Truncates instead of overflowing a small buffer. */
        assert_string_equal(duration_format(90061 * S, buf, 4), "1d1");
}

static void test_rfc3339(void **state) {
        char buf[RFC3339_MAX];
        (void) state;
        assert_string_equal(rfc3339_format(0, buf, sizeof(buf)), "1970-01-01T00:00:00Z");
        assert_string_equal(rfc3339_format(UINT64_C(1795419281621367), buf, sizeof(buf)), "2026-11-23T07:34:41Z");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_valid), cmocka_unit_test(test_parse_invalid),
                cmocka_unit_test(test_parse_overflow), cmocka_unit_test(test_format),
                cmocka_unit_test(test_rfc3339),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
