/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agentid/limits.h"
#include "names.h"

static void test_template_names(void **state) {
        (void) state;
        assert_true(template_name_is_valid("default"));
        assert_true(template_name_is_valid("triage-2"));
        assert_true(template_name_is_valid("abcdefghijklmnop")); /* 16 */
        assert_false(template_name_is_valid("abcdefghijklmnopq"));
        assert_false(template_name_is_valid(""));
        assert_false(template_name_is_valid("2fast"));
        assert_false(template_name_is_valid("Triage"));
        assert_false(template_name_is_valid("tri_age"));
        assert_false(template_name_is_valid("tri/age"));
        assert_false(template_name_is_valid("tri age"));
        assert_false(template_name_is_valid(NULL));
}

static void test_agent_names(void **state) {
        (void) state;
        assert_true(agent_name_is_valid("ag-triage-k3x9p2"));
        assert_true(agent_name_is_valid("_svc"));
        assert_false(agent_name_is_valid("Ag-x"));
        assert_false(agent_name_is_valid("-ag"));
        assert_false(agent_name_is_valid("1234"));
        assert_false(agent_name_is_valid("ag$"));
        assert_false(agent_name_is_valid("ag x"));
        assert_false(agent_name_is_valid("ag:x"));
        assert_false(agent_name_is_valid("ag/../x"));
        assert_false(agent_name_is_valid("abcdefghijklmnopqrstuvwxyz0123456")); /* 33 */
        assert_true(agent_name_is_valid("abcdefghijklmnopqrstuvwxyz012345"));   /* 32 */
        assert_true(unix_name_is_valid("machine$"));
}

static void test_text(void **state) {
        (void) state;
        assert_true(text_is_valid("triage ticket 4411", 256));
        assert_true(text_is_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 256));
        assert_false(text_is_valid("", 256));
        assert_false(text_is_valid("line\nbreak", 256));
        assert_false(text_is_valid("esc\x1b[31m", 256));
        assert_false(text_is_valid("del\x7f", 256));
        assert_false(text_is_valid("\xc0\xaf", 256));         /* overlong '/' */
        assert_false(text_is_valid("\xed\xa0\x80", 256));     /* surrogate */
        assert_false(text_is_valid("\xf4\x90\x80\x80", 256)); /* > U+10FFFF */
        assert_false(text_is_valid("\xc2\x85", 256));         /* C1 NEL */
        assert_false(text_is_valid("\xe2\x82", 256));         /* truncated */
        assert_false(text_is_valid("12345", 4));
        assert_true(text_is_valid("1234", 4));
}

/* Text that reads as something it is not is refused (issue 13). */
static void test_text_deceptive(void **state) {
        static const char *const refused[] = {
                "alice\xe2\x80\x8b@example.com", /* U+200B zero-width space */
                "alice\xe2\x80\x8c",             /* U+200C ZWNJ */
                "alice\xe2\x80\x8d",             /* U+200D ZWJ */
                "\xe2\x80\xae" "exe.txt",           /* U+202E right-to-left override */
                "a\xe2\x80\xaa" "b",                /* U+202A */
                "a\xe2\x81\xa6" "b",                /* U+2066 left-to-right isolate */
                "a\xe2\x81\xa9" "b",                /* U+2069 pop directional isolate */
                "a\xe2\x80\x8e" "b",                /* U+200E LRM */
                "a\xe2\x80\x8f" "b",                /* U+200F RLM */
                "a\xd8\x9c" "b",                     /* U+061C arabic letter mark */
                "a\xe2\x81\xa0" "b",                /* U+2060 word joiner */
                "\xef\xbb\xbf" "bom",               /* U+FEFF */
                "soft\xc2\xadhyphen",             /* U+00AD, Cf */
                "tag\xf3\xa0\x80\x81",          /* U+E0001 language tag */
                "line\xe2\x80\xa8sep",           /* U+2028 */
        };
        for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++)
                assert_false(text_is_valid(refused[k], 256));
        /* Neighbours of the refused ranges stay valid. */
        assert_true(text_is_valid("\xe2\x80\x90" "dash", 256)); /* U+2010 hyphen */
        assert_true(text_is_valid("\xe2\x80\xaf", 256));     /* U+202F narrow nbsp (Zs) */
        assert_true(text_is_valid("\xd8\xa7\xd9\x84", 256)); /* arabic letters */
}

static void check_escape(const char *in, const char *want) {
        char *got = text_escape(in);
        assert_non_null(got);
        assert_string_equal(got, want);
        free(got);
}

static void test_escape(void **state) {
        char small[8];
        (void) state;
        check_escape("plain text, caf\xc3\xa9", "plain text, caf\xc3\xa9");
        check_escape("line\nbreak", "line\\x0a" "break");
        check_escape("\x1b]0;owned\x07", "\\x1b]0;owned\\x07");
        check_escape("del\x7f", "del\\x7f");
        check_escape("back\\slash", "back\\slash");
        /* Idempotent: escaping escaped text changes nothing. */
        check_escape("\\x1b[31m \\xe2\\x80\\xae", "\\x1b[31m \\xe2\\x80\\xae");
        check_escape("alice\xe2\x80\x8b@x", "alice\\xe2\\x80\\x8b@x");
        check_escape("\xe2\x80\xae" "abc", "\\xe2\\x80\\xae" "abc");
        check_escape("c1 \xc2\x9b", "c1 \\xc2\\x9b");
        check_escape("bad \xff\xc0\xaf", "bad \\xff\\xc0\\xaf");
        check_escape("cut \xe2\x82", "cut \\xe2\\x82");
        check_escape(NULL, "");
        /* Truncation keeps whole escapes: never half of one. */
        assert_int_equal(text_escape_to("abcd\x1b", small, sizeof(small)), 4);
        assert_string_equal(small, "abcd");
        assert_int_equal(text_escape_to("abc\x1b", small, sizeof(small)), 7);
        assert_string_equal(small, "abc\\x1b");
        /* Whatever goes in, nothing deceptive comes out. */
        for (int c = 0; c < 256; c++) {
                char in[2] = { (char) c, 0 }, out[8];
                text_escape_to(in, out, sizeof(out));
                for (const unsigned char *p = (const unsigned char *) out; *p; p++)
                        assert_true(*p >= 0x20 && *p < 0x7f);
        }
}

static void test_generate(void **state) {
        char a[AGENTID_NAME_MAX + 1], b[AGENTID_NAME_MAX + 1];
        (void) state;

        assert_int_equal(agent_name_generate("ag-", "triage", a, sizeof(a)), 0);
        assert_int_equal(strlen(a), strlen("ag-triage-") + AGENTID_RANDOM_SUFFIX_LEN);
        assert_memory_equal(a, "ag-triage-", 10);
        assert_true(agent_name_is_valid(a));
        assert_int_equal(agent_name_generate("ag-", "triage", b, sizeof(b)), 0);
        assert_string_not_equal(a, b);
        /* The longest prefix and template still fit in 32 bytes. */
        assert_int_equal(agent_name_generate("abcdefgh", "abcdefghijklmnop", a, sizeof(a)), 0);
        assert_true(strlen(a) <= AGENTID_NAME_MAX);
        assert_int_equal(agent_name_generate("AG", "triage", a, sizeof(a)), -EINVAL);
        assert_int_equal(agent_name_generate("ag-", "../x", a, sizeof(a)), -EINVAL);
        assert_int_equal(agent_name_generate("ag-", "triage", a, 8), -ENAMETOOLONG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_template_names),
                cmocka_unit_test(test_agent_names),
                cmocka_unit_test(test_text),
                cmocka_unit_test(test_text_deceptive),
                cmocka_unit_test(test_escape),
                cmocka_unit_test(test_generate),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
