/* SPDX-License-Identifier: MIT */
/* The deadline heap (broker/expiry.c): order, growth, what is due, the
 * timerfd it arms; and lazy deletion as the broker uses it
 * (broker_expire_due skips identities that ended since their entry went
 * in). */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <cmocka.h>

#include "broker-fixture.h"
#include "duration.h"
#include "expiry.h"
#include "lifecycle.h"

#define SEC UINT64_C(1000000)

static int setup(void **state) {
        struct expiry *e = calloc(1, sizeof(*e));

        assert_non_null(e);
        assert_int_equal(expiry_init(e), 0);
        assert_true(e->timer_fd >= 0);
        *state = e;
        return 0;
}

static int teardown(void **state) {
        expiry_done(*state);
        free(*state);
        return 0;
}

/* A fixed pseudo-random sequence: a failure reproduces. */
static uint64_t next_random(uint64_t *x) {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        return *x;
}

static void test_pops_in_deadline_order(void **state) {
        struct expiry *e = *state;
        struct expiry_entry got;
        uint64_t x = 0x9e3779b97f4a7c15, last = 0;
        size_t n = 0;

        for (int64_t id = 1; id <= 500; id++) {
                uint64_t d = 1 + next_random(&x) % 1000; /* many equal deadlines */
                assert_int_equal(expiry_add(e, d, id), 0);
        }
        while (expiry_pop_due(e, UINT64_MAX, &got)) {
                assert_true(got.deadline_usec >= last);
                assert_true(got.id >= 1 && got.id <= 500);
                last = got.deadline_usec;
                n++;
        }
        assert_int_equal(n, 500);
        assert_int_equal(e->n, 0);
}

static void test_only_due_entries_pop(void **state) {
        struct expiry *e = *state;
        struct expiry_entry got;

        assert_int_equal(expiry_pop_due(e, UINT64_MAX, &got), 0); /* empty */
        assert_int_equal(expiry_add(e, 300, 3), 0);
        assert_int_equal(expiry_add(e, 100, 1), 0);
        assert_int_equal(expiry_add(e, 200, 2), 0);
        assert_int_equal(expiry_pop_due(e, 99, &got), 0);
        assert_int_equal(e->n, 3);
        /* Due means deadline <= now: the boundary pops. */
        assert_int_equal(expiry_pop_due(e, 100, &got), 1);
        assert_int_equal(got.id, 1);
        assert_int_equal(expiry_pop_due(e, 100, &got), 0);
        assert_int_equal(expiry_pop_due(e, 250, &got), 1);
        assert_int_equal(got.id, 2);
        assert_int_equal(got.deadline_usec, 200);
        assert_int_equal(expiry_pop_due(e, 250, &got), 0);
        assert_int_equal(e->n, 1);
}

/* Far beyond the first allocation (1024): growth keeps every entry. */
static void test_many_entries(void **state) {
        struct expiry *e = *state;
        struct expiry_entry got;
        const int64_t n = 100000;
        uint64_t last = 0, sum = 0, x = 42;
        int64_t popped = 0;

        for (int64_t id = 1; id <= n; id++)
                assert_int_equal(expiry_add(e, 1 + next_random(&x) % (10 * SEC), id), 0);
        assert_int_equal(e->n, n);
        /* Half the range is due: exactly the entries at or before it pop. */
        while (expiry_pop_due(e, 5 * SEC, &got)) {
                assert_true(got.deadline_usec <= 5 * SEC);
                assert_true(got.deadline_usec >= last);
                last = got.deadline_usec;
                sum += (uint64_t) got.id;
                popped++;
        }
        assert_true(popped > n / 3 && popped < 2 * n / 3);
        assert_true(e->n == (size_t) (n - popped));
        assert_true(e->heap[0].deadline_usec > 5 * SEC);
        while (expiry_pop_due(e, UINT64_MAX, &got)) {
                assert_true(got.deadline_usec >= last);
                last = got.deadline_usec;
                sum += (uint64_t) got.id;
        }
        /* Every id came out exactly once. */
        assert_true(sum == (uint64_t) n * (uint64_t) (n + 1) / 2);
}

static uint64_t armed_in_usec(const struct expiry *e) {
        struct itimerspec its;

        assert_int_equal(timerfd_gettime(e->timer_fd, &its), 0);
        return (uint64_t) its.it_value.tv_sec * SEC + (uint64_t) its.it_value.tv_nsec / 1000;
}

static void test_timerfd_follows_the_earliest(void **state) {
        struct expiry *e = *state;
        struct expiry_entry got;
        uint64_t now = now_usec(), left;

        /* Nothing in the heap: disarmed. */
        assert_int_equal(expiry_arm(e), 0);
        assert_int_equal(e->armed_usec, 0);
        assert_int_equal(armed_in_usec(e), 0);

        assert_int_equal(expiry_add(e, now + 3600 * SEC, 1), 0);
        assert_int_equal(expiry_arm(e), 0);
        assert_true(e->armed_usec == now + 3600 * SEC);
        left = armed_in_usec(e);
        assert_true(left > 3590 * SEC && left <= 3600 * SEC);

        /* A later deadline leaves the timer alone; an earlier one re-arms. */
        assert_int_equal(expiry_add(e, now + 7200 * SEC, 2), 0);
        assert_int_equal(expiry_arm(e), 0);
        assert_true(e->armed_usec == now + 3600 * SEC);
        assert_int_equal(expiry_add(e, now + 60 * SEC, 3), 0);
        assert_int_equal(expiry_arm(e), 0);
        assert_true(e->armed_usec == now + 60 * SEC);
        left = armed_in_usec(e);
        assert_true(left > 50 * SEC && left <= 60 * SEC);

        /* Emptied: disarmed again. */
        while (expiry_pop_due(e, UINT64_MAX, &got))
                ;
        assert_int_equal(expiry_arm(e), 0);
        assert_int_equal(e->armed_usec, 0);
        assert_int_equal(armed_in_usec(e), 0);
}

static void test_past_deadline_fires(void **state) {
        struct expiry *e = *state;
        struct pollfd p;

        assert_int_equal(expiry_add(e, now_usec() - SEC, 7), 0);
        assert_int_equal(expiry_arm(e), 0);
        p = (struct pollfd) { .fd = e->timer_fd, .events = POLLIN };
        assert_int_equal(poll(&p, 1, 2000), 1);
        expiry_ack(e);
        assert_int_equal(e->armed_usec, 0);
        /* Acknowledged: no longer readable. A second ack is harmless. */
        assert_int_equal(poll(&p, 1, 0), 0);
        expiry_ack(e);
        /* The entry is still there until popped; re-arming fires again. */
        assert_int_equal(e->n, 1);
        assert_int_equal(expiry_arm(e), 0);
        assert_int_equal(poll(&p, 1, 2000), 1);
}

/* Revocation does not touch the heap: when the entry comes due the
 * identity is no longer live and is skipped (lazy deletion), so it gets no
 * "expire" event and keeps its revoked state. */
static void test_lazy_deletion(void **state) {
        struct fixture f;
        struct identity gone, due, later, got;
        uint64_t now = now_usec();

        (void) state;
        assert_int_equal(fixture_open(&f, NULL, 0), 0);
        assert_int_equal(expiry_init(&f.b.expiry), 0);
        gone = fixture_identity("ag-gone", 70001, "default", NULL, now - 2 * SEC);
        due = fixture_identity("ag-due", 70002, "default", NULL, now - SEC);
        later = fixture_identity("ag-later", 70003, "default", NULL, now + 3600 * SEC);
        assert_int_equal(fixture_insert(&f, &gone), 0);
        assert_int_equal(fixture_insert(&f, &due), 0);
        assert_int_equal(fixture_insert(&f, &later), 0);
        assert_int_equal(expiry_add(&f.b.expiry, gone.expires_usec, gone.id), 0);
        assert_int_equal(expiry_add(&f.b.expiry, due.expires_usec, due.id), 0);
        assert_int_equal(expiry_add(&f.b.expiry, later.expires_usec, later.id), 0);
        f.b.live_count = 3;

        assert_int_equal(broker_end_identities(&f.b, NULL, &gone.id, 1, IDENTITY_REVOKED, "by hand"), 1);
        assert_int_equal(f.b.expiry.n, 3); /* still in the heap */

        assert_int_equal(broker_expire_due(&f.b), 0);
        assert_int_equal(store_get(f.b.store, gone.id, &got), 0);
        assert_int_equal(got.state, IDENTITY_REVOKED);
        assert_string_equal(got.end_reason, "by hand");
        assert_int_equal(fixture_count_events(&f, "expire", "ag-gone"), 0);
        assert_int_equal(fixture_count_events(&f, "revoke", "ag-gone"), 1);
        assert_int_equal(store_get(f.b.store, due.id, &got), 0);
        assert_int_equal(got.state, IDENTITY_EXPIRED);
        assert_int_equal(fixture_count_events(&f, "expire", "ag-due"), 1);
        assert_int_equal(store_get(f.b.store, later.id, &got), 0);
        assert_int_equal(got.state, IDENTITY_LIVE);
        assert_int_equal(f.b.live_count, 1);
        /* The not-yet-due entry is what the timer waits for now. */
        assert_int_equal(f.b.expiry.n, 1);
        assert_true(f.b.expiry.armed_usec == later.expires_usec);

        /* Firing again finds nothing new to do: no second event. */
        assert_int_equal(broker_expire_due(&f.b), 0);
        assert_int_equal(fixture_count_events(&f, "expire", NULL), 1);
        expiry_done(&f.b.expiry);
        fixture_close(&f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_pops_in_deadline_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_only_due_entries_pop, setup, teardown),
                cmocka_unit_test_setup_teardown(test_many_entries, setup, teardown),
                cmocka_unit_test_setup_teardown(test_timerfd_follows_the_earliest, setup, teardown),
                cmocka_unit_test_setup_teardown(test_past_deadline_fires, setup, teardown),
                cmocka_unit_test(test_lazy_deletion),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
