/* SPDX-License-Identifier: MIT */
/* Lists of users and @groups (broker/principals.c), as agentid.conf's
 * admins and a template's invokers and approvers give them. A typo must
 * never grant or withhold rights silently: unknown or malformed names are
 * errors with a reason. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "principals.h"

static void test_users_groups_and_ids(void **state) {
        struct principal_set set;
        char why[128] = "";

        (void) state;
        /* Commas, spaces and tabs all separate; names and numbers mix. */
        assert_int_equal(principal_set_parse(&set, "root, @root 1001\t@nogroup,,daemon  @4242", why, sizeof(why)),
                         0);
        assert_int_equal(set.n_uids, 3);
        assert_int_equal(set.uids[0], 0);
        assert_int_equal(set.uids[1], 1001);
        assert_int_equal(set.uids[2], 1); /* daemon */
        assert_int_equal(set.n_gids, 3);
        assert_int_equal(set.gids[0], 0);
        assert_int_equal(set.gids[1], 65534); /* nogroup */
        assert_int_equal(set.gids[2], 4242);

        /* An empty list is an empty set, not an error. */
        assert_int_equal(principal_set_parse(&set, "", why, sizeof(why)), 0);
        assert_int_equal(set.n_uids + set.n_gids, 0);
        assert_int_equal(principal_set_parse(&set, " ,\t", why, sizeof(why)), 0);
        assert_int_equal(set.n_uids + set.n_gids, 0);
}

static void test_matches(void **state) {
        struct principal_set set;
        char why[128];
        gid_t ops[] = { 5000, 4242 }, other[] = { 5000, 5001 };

        (void) state;
        assert_int_equal(principal_set_parse(&set, "1001 @4242", why, sizeof(why)), 0);
        assert_true(principal_set_matches(&set, 1001, NULL, 0));
        assert_true(principal_set_matches(&set, 2000, ops, 2)); /* by a supplementary group */
        assert_false(principal_set_matches(&set, 2000, other, 2));
        assert_false(principal_set_matches(&set, 4242, NULL, 0)); /* a gid is not a uid */
        /* Nobody matches the empty set, not even root. */
        assert_int_equal(principal_set_parse(&set, "", why, sizeof(why)), 0);
        assert_false(principal_set_matches(&set, 0, (gid_t[]) { 0 }, 1));
}

static void expect_refused(const char *value, int error, const char *why_has) {
        struct principal_set set;
        char why[128] = "";
        int r = principal_set_parse(&set, value, why, sizeof(why));

        if (r != error || !strstr(why, why_has))
                fail_msg("\"%.60s\": got %d \"%s\", wanted %d with \"%s\"", value, r, why, error, why_has);
}

static void test_bad_input(void **state) {
        char long_word[300];

        (void) state;
        expect_refused("root nosuchuser-agentid", -ESRCH, "unknown user \"nosuchuser-agentid\"");
        expect_refused("@nosuchgroup-agentid", -ESRCH, "unknown group \"nosuchgroup-agentid\"");
        /* Not names at all: shell and path characters, upper case, a
         * leading digit that is no number, a bare @, an @@. */
        expect_refused("alice;rm", -EINVAL, "unknown user");
        expect_refused("../etc/passwd", -EINVAL, "unknown user");
        expect_refused("Root", -EINVAL, "unknown user");
        expect_refused("0x10", -EINVAL, "unknown user");
        expect_refused("@", -EINVAL, "unknown group");
        expect_refused("@@root", -EINVAL, "unknown group");
        /* (uid_t) -1 means "no id" to the kernel; negative and too big. */
        expect_refused("4294967295", -EINVAL, "unknown user");
        expect_refused("@4294967295", -EINVAL, "unknown group");
        expect_refused("-1", -EINVAL, "unknown user");
        expect_refused("99999999999999999999", -EINVAL, "unknown user");
        expect_refused("+5", -EINVAL, "unknown user");
        memset(long_word, 'a', sizeof(long_word) - 1);
        long_word[sizeof(long_word) - 1] = '\0';
        expect_refused(long_word, -ENAMETOOLONG, "name too long");
}

static void test_limits(void **state) {
        char value[AGENTID_TEMPLATE_PRINCIPALS_MAX * 8 + 16] = "";
        struct principal_set set;
        char why[128];

        (void) state;
        for (int i = 0; i < AGENTID_TEMPLATE_PRINCIPALS_MAX; i++)
                snprintf(value + strlen(value), sizeof(value) - strlen(value), "%d ", 1000 + i);
        assert_int_equal(principal_set_parse(&set, value, why, sizeof(why)), 0);
        assert_int_equal(set.n_uids, AGENTID_TEMPLATE_PRINCIPALS_MAX);
        strcat(value, "1");
        expect_refused(value, -E2BIG, "too many users");

        value[0] = '\0';
        for (int i = 0; i <= AGENTID_TEMPLATE_PRINCIPALS_MAX; i++)
                snprintf(value + strlen(value), sizeof(value) - strlen(value), "@%d ", i);
        expect_refused(value, -E2BIG, "too many groups");
}

static void test_resolve(void **state) {
        uid_t u;
        gid_t g;

        (void) state;
        assert_int_equal(resolve_user("root", &u), 0);
        assert_int_equal(u, 0);
        assert_int_equal(resolve_user("4294967294", &u), 0);
        assert_true(u == 4294967294u);
        assert_int_equal(resolve_group("nogroup", &g), 0);
        assert_int_equal(g, 65534);
        assert_int_equal(resolve_user("", &u), -EINVAL);
        assert_int_equal(resolve_group("", &g), -EINVAL);
        assert_int_equal(resolve_user("nosuchuser-agentid", &u), -ESRCH);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_users_groups_and_ids),
                cmocka_unit_test(test_matches),
                cmocka_unit_test(test_bad_input),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_resolve),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
