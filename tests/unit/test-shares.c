/* SPDX-License-Identifier: MIT */
/* Fair shares (broker/shares.c): per-uid connection limits, a reserve only
 * root and admins may take, and a per-uid token bucket for requests. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "shares.h"

#define SEC UINT64_C(1000000)

static void test_connections(void **state) {
        struct shares s;
        char why[256];
        int k;
        (void) state;

        /* 16 slots, 4 reserved, 5 per uid. */
        shares_init(&s, 16, 4, 5, 10, 20);
        for (k = 0; k < 5; k++)
                assert_int_equal(shares_admit(&s, 65534, false, 0, why, sizeof(why)), 0);
        assert_int_equal(shares_admit(&s, 65534, false, 0, why, sizeof(why)), -EBUSY);
        assert_non_null(strstr(why, "uid 65534 already has 5 open (max_connections_per_uid)"));
        /* Other users fill the unreserved slots: 12 in all. */
        for (k = 0; k < 5; k++)
                assert_int_equal(shares_admit(&s, 1000, false, 0, why, sizeof(why)), 0);
        assert_int_equal(shares_admit(&s, 1001, false, 0, why, sizeof(why)), 0);
        assert_int_equal(shares_admit(&s, 1001, false, 0, why, sizeof(why)), 0);
        assert_int_equal(shares_admit(&s, 1002, false, 0, why, sizeof(why)), -EBUSY);
        assert_non_null(strstr(why, "reserved for root and admins"));
        /* Root (and admins) still get in, up to the total. */
        for (k = 0; k < 4; k++)
                assert_int_equal(shares_admit(&s, 0, true, 0, why, sizeof(why)), 0);
        assert_int_equal(shares_admit(&s, 0, true, 0, why, sizeof(why)), -EBUSY);
        assert_non_null(strstr(why, "all 16 are in use"));
        /* A closed connection frees its uid's slot. */
        shares_release(&s, 65534, false);
        shares_release(&s, 0, true);
        assert_int_equal(shares_admit(&s, 65534, false, 0, why, sizeof(why)), 0);
        assert_int_equal(s.n_total, 15);
        shares_free(&s);
}

static void test_rate(void **state) {
        struct shares s;
        char why[256];
        int ok = 0;
        (void) state;

        shares_init(&s, 16, 4, 5, 10, 20);
        assert_int_equal(shares_admit(&s, 65534, false, 100 * SEC, why, sizeof(why)), 0);
        /* A burst of 20, then nothing until the bucket refills. */
        for (int k = 0; k < 100; k++)
                ok += shares_take_request(&s, 65534, false, 100 * SEC, why, sizeof(why));
        assert_int_equal(ok, 20);
        assert_non_null(strstr(why, "uid 65534 is over its request share (10 a second, bursts of 20"));
        /* 10 a second after that. */
        ok = 0;
        for (int k = 0; k < 100; k++)
                ok += shares_take_request(&s, 65534, false, 101 * SEC, why, sizeof(why));
        assert_int_equal(ok, 10);
        /* Reconnecting does not refill the bucket. */
        shares_release(&s, 65534, false);
        assert_int_equal(shares_admit(&s, 65534, false, 101 * SEC, why, sizeof(why)), 0);
        assert_false(shares_take_request(&s, 65534, false, 101 * SEC, why, sizeof(why)));
        /* Other uids and root are not affected. */
        assert_true(shares_take_request(&s, 1000, false, 101 * SEC, why, sizeof(why)));
        for (int k = 0; k < 10000; k++)
                assert_true(shares_take_request(&s, 0, true, 101 * SEC, why, sizeof(why)));
        /* Idle, refilled shares are forgotten: memory follows active uids. */
        shares_release(&s, 65534, false);
        for (unsigned u = 2000; u < 2100; u++)
                assert_true(shares_take_request(&s, u, false, 200 * SEC + u * 10 * SEC, why, sizeof(why)));
        assert_true(s.n <= 2);
        shares_free(&s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_connections),
                cmocka_unit_test(test_rate),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
