/* SPDX-License-Identifier: MIT */
/* Refusal counting (broker/refusals.c): one count per uid and method per
 * window, flushed when the window ends, bounded memory whatever the flood. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "refusals.h"

#define SEC UINT64_C(1000000)

static struct refusal_count seen[8];
static size_t n_seen;

static void collect(void *userdata, const struct refusal_count *c) {
        (void) userdata;
        assert_true(n_seen < 8);
        seen[n_seen++] = *c;
}

static void test_window(void **state) {
        struct refusals r;
        char detail[512];
        (void) state;

        n_seen = 0;
        refusals_init(&r, 10 * SEC);
        for (int k = 0; k < 15000; k++)
                assert_int_equal(refusals_add(&r, 65534, 100 + k, "io.agentid.VerifyToken",
                                              k == 0 ? "token refused: bad signature" : "token refused: malformed",
                                              1000 * SEC + (uint64_t) k),
                                 0);
        assert_int_equal(refusals_add(&r, 65534, 7, "io.agentid.RedeemGrant", "grant refused", 1000 * SEC), 0);
        assert_int_equal(refusals_add(&r, 1000, 8, "io.agentid.VerifyToken", "x", 1005 * SEC), 0);
        assert_int_equal(r.n, 3);

        /* Nothing before the window ends. */
        refusals_flush(&r, 1009 * SEC, false, collect, NULL);
        assert_int_equal(n_seen, 0);
        /* uid 65534's two windows end at 1010s; uid 1000's at 1015s. */
        refusals_flush(&r, 1010 * SEC, false, collect, NULL);
        assert_int_equal(n_seen, 2);
        assert_int_equal(r.n, 1);
        for (size_t k = 0; k < n_seen; k++)
                if (!strcmp(seen[k].method, "io.agentid.VerifyToken")) {
                        assert_int_equal(seen[k].count, 15000);
                        assert_int_equal(seen[k].uid, 65534);
                        assert_int_equal(seen[k].last_pid, 100 + 14999);
                        refusal_format(&seen[k], r.window_usec, detail, sizeof(detail));
                        assert_string_equal(detail, "15000 refused io.agentid.VerifyToken calls from uid 65534 in "
                                                    "10s; first: token refused: bad signature; last: token refused: "
                                                    "malformed");
                } else
                        assert_int_equal(seen[k].count, 1);
        /* A new refusal after the flush opens a new window. */
        assert_int_equal(refusals_add(&r, 65534, 9, "io.agentid.VerifyToken", "y", 1011 * SEC), 0);
        refusals_flush(&r, 1011 * SEC, true, collect, NULL);
        assert_int_equal(n_seen, 4);
        assert_int_equal(r.n, 0);
        refusals_free(&r);
}

static void test_bounded(void **state) {
        struct refusals r;
        char sample[1000];
        (void) state;

        refusals_init(&r, SEC);
        memset(sample, 'x', sizeof(sample) - 1);
        sample[sizeof(sample) - 1] = '\0';
        for (unsigned u = 0; u < REFUSALS_MAX; u++)
                assert_int_equal(refusals_add(&r, u, 1, "io.agentid.VerifyToken", sample, 0), 0);
        /* Full: the caller records that one on its own. */
        assert_int_equal(refusals_add(&r, REFUSALS_MAX, 1, "io.agentid.VerifyToken", "x", 0), -ENOSPC);
        /* Samples are cut to their bound. */
        assert_int_equal(strlen(r.counts[0].first), REFUSAL_SAMPLE_MAX);
        refusals_free(&r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_window),
                cmocka_unit_test(test_bounded),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
