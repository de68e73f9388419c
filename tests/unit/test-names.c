/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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
                cmocka_unit_test(test_generate),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
