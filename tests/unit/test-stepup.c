/* SPDX-License-Identifier: MIT */
/* Held step-up requests (broker/stepup.c): a sudo waiting for a human.
 * One approval, one use: a decision is never taken back, a used or denied
 * request never comes back, an abandoned or late one expires with its
 * outcome event; the connection waiting for a decision hears it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "broker-fixture.h"
#include "conn.h"
#include "duration.h"
#include "stepup.h"

#define SEC UINT64_C(1000000)

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        assert_int_equal(fixture_open(f, NULL, 0), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_close(*state);
        free(*state);
        return 0;
}

static struct stepup_request request(const char *id, uint64_t expires_usec) {
        struct stepup_request r = { .uid = 72000, .owner_uid = 1000, .caller_pid = 4242,
                                    .created_usec = now_usec(), .expires_usec = expires_usec, .decided_by = -1 };

        snprintf(r.id, sizeof(r.id), "%s", id);
        snprintf(r.agent, sizeof(r.agent), "ag-sudoer");
        snprintf(r.template_name, sizeof(r.template_name), "ops");
        snprintf(r.service, sizeof(r.service), "sudo");
        snprintf(r.command, sizeof(r.command), "/usr/bin/systemctl restart nginx");
        snprintf(r.tty, sizeof(r.tty), "pts/3");
        return r;
}

static int insert(struct fixture *f, const struct stepup_request *r) {
        int e = store_begin(f->b.store);

        if (e == 0)
                e = stepup_insert(&f->b, r);
        if (e == 0)
                e = store_commit(f->b.store);
        else
                store_rollback(f->b.store);
        return e;
}

struct open_list {
        char ids[8][AGENTID_REQUEST_ID_LEN + 1];
        int n;
};

static int collect(void *userdata, const struct stepup_request *r) {
        struct open_list *l = userdata;

        assert_true(l->n < 8);
        snprintf(l->ids[l->n++], sizeof(l->ids[0]), "%s", r->id);
        return 0;
}

static int count_open(struct fixture *f) {
        struct open_list l = {};

        assert_int_equal(stepup_list_open(&f->b, collect, &l), 0);
        return l.n;
}

static void test_approve_then_use_once(void **state) {
        struct fixture *f = *state;
        struct stepup_request r = request("aaaaaaaaaaaa", now_usec() + 60 * SEC), got;
        struct open_list l = {};

        assert_int_equal(insert(f, &r), 0);
        assert_int_equal(stepup_get(&f->b, r.id, &got), 0);
        assert_int_equal(got.state, STEPUP_PENDING);
        assert_string_equal(got.command, r.command);
        assert_string_equal(got.tty, "pts/3");
        assert_string_equal(got.rhost, "");
        assert_int_equal(got.decided_by, -1);
        assert_int_equal(stepup_list_open(&f->b, collect, &l), 0);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.ids[0], r.id);

        assert_int_equal(stepup_set_state(&f->b, r.id, STEPUP_APPROVED, 1000, "looks fine"), 0);
        assert_int_equal(stepup_get(&f->b, r.id, &got), 0);
        assert_int_equal(got.state, STEPUP_APPROVED);
        assert_int_equal(got.decided_by, 1000);
        assert_string_equal(got.decision_reason, "looks fine");
        assert_int_equal(count_open(f), 1); /* approved, not yet used */

        /* A decision is never taken back, by the same or another approver. */
        assert_int_equal(stepup_set_state(&f->b, r.id, STEPUP_DENIED, 1001, "changed my mind"), -ESTALE);
        assert_int_equal(stepup_set_state(&f->b, r.id, STEPUP_APPROVED, 1001, "me too"), -ESTALE);

        assert_int_equal(stepup_set_state(&f->b, r.id, STEPUP_USED, -1, NULL), 0);
        /* One approval, one use: replays find nothing open. */
        assert_int_equal(stepup_set_state(&f->b, r.id, STEPUP_USED, -1, NULL), -ESTALE);
        assert_int_equal(stepup_set_state(&f->b, r.id, STEPUP_APPROVED, 1000, NULL), -ESTALE);
        assert_int_equal(stepup_set_state(&f->b, r.id, STEPUP_EXPIRED, -1, NULL), -ESTALE);
        assert_int_equal(stepup_get(&f->b, r.id, &got), 0);
        assert_int_equal(got.state, STEPUP_USED);
        assert_int_equal(got.decided_by, 1000); /* the use keeps who approved */
        assert_string_equal(got.decision_reason, "looks fine");
        assert_int_equal(count_open(f), 0);
}

static void test_denied_stays_denied(void **state) {
        struct fixture *f = *state;
        struct stepup_request r = request("bbbbbbbbbbbb", now_usec() + 60 * SEC), got;

        assert_int_equal(insert(f, &r), 0);
        assert_int_equal(stepup_set_state(&f->b, r.id, STEPUP_DENIED, 1000, "no"), 0);
        assert_int_equal(stepup_set_state(&f->b, r.id, STEPUP_APPROVED, 1000, "yes after all"), -ESTALE);
        assert_int_equal(stepup_set_state(&f->b, r.id, STEPUP_USED, -1, NULL), -ESTALE);
        assert_int_equal(stepup_get(&f->b, r.id, &got), 0);
        assert_int_equal(got.state, STEPUP_DENIED);
        assert_string_equal(got.decision_reason, "no");
        assert_int_equal(count_open(f), 0);
}

/* Only an approval can be used: a pending request is not. */
static void test_pending_cannot_be_used(void **state) {
        struct fixture *f = *state;
        struct stepup_request r = request("cccccccccccc", now_usec() + 60 * SEC), got;

        assert_int_equal(insert(f, &r), 0);
        assert_int_equal(stepup_set_state(&f->b, r.id, STEPUP_USED, -1, NULL), -ESTALE);
        assert_int_equal(stepup_get(&f->b, r.id, &got), 0);
        assert_int_equal(got.state, STEPUP_PENDING);
}

static void test_unknown_and_duplicate_ids(void **state) {
        struct fixture *f = *state;
        struct stepup_request r = request("dddddddddddd", now_usec() + 60 * SEC), got;

        assert_int_equal(insert(f, &r), 0);
        /* An id names one request: a second insert is refused. */
        r.uid = 1;
        assert_int_equal(insert(f, &r), -EEXIST);
        assert_int_equal(stepup_get(&f->b, r.id, &got), 0);
        assert_int_equal(got.uid, 72000);
        assert_int_equal(stepup_get(&f->b, "nosuchreqst0", &got), -ENOENT);
        assert_int_equal(stepup_get(&f->b, "' OR 1=1 --", &got), -ENOENT);
        assert_int_equal(stepup_set_state(&f->b, "nosuchreqst0", STEPUP_APPROVED, 0, NULL), -ESTALE);
        assert_int_equal(stepup_set_state(&f->b, "%", STEPUP_APPROVED, 0, NULL), -ESTALE);
        assert_int_equal(count_open(f), 1);
}

static void test_finish_records_the_outcome(void **state) {
        struct fixture *f = *state;
        struct stepup_request r = request("eeeeeeeeeeee", now_usec() + 60 * SEC), got;
        char detail[256];

        assert_int_equal(insert(f, &r), 0);
        assert_int_equal(stepup_finish(&f->b, NULL, r.id, STEPUP_EXPIRED, "no decision in time"), 0);
        assert_int_equal(stepup_get(&f->b, r.id, &got), 0);
        assert_int_equal(got.state, STEPUP_EXPIRED);
        assert_int_equal(fixture_count_events(f, "outcome", "ag-sudoer"), 1);
        fixture_last_detail(f, "outcome", detail, sizeof(detail));
        assert_non_null(strstr(detail, "eeeeeeeeeeee"));
        assert_non_null(strstr(detail, "expired: no decision in time"));
        /* Finishing twice changes nothing and records nothing. */
        assert_int_equal(stepup_finish(&f->b, NULL, r.id, STEPUP_EXPIRED, "again"), -ESTALE);
        assert_int_equal(stepup_finish(&f->b, NULL, "nosuchreqst0", STEPUP_EXPIRED, "none"), -ENOENT);
        assert_int_equal(fixture_count_events(f, "outcome", NULL), 1);
        assert_false(store_in_transaction(f->b.store));
}

static void test_waiters(void **state) {
        struct fixture *f = *state;
        int peer_a, peer_b;
        struct conn *conn_a = fixture_conn(f, &peer_a), *conn_b = fixture_conn(f, &peer_b);
        struct stepup_request a1 = request("a1a1a1a1a1a1", now_usec() + 60 * SEC),
                              a2 = request("a2a2a2a2a2a2", now_usec() + 60 * SEC),
                              b1 = request("b1b1b1b1b1b1", now_usec() + 60 * SEC), got;
        bool waiting = true;

        assert_non_null(conn_a);
        assert_non_null(conn_b);
        assert_int_equal(insert(f, &a1), 0);
        assert_int_equal(insert(f, &a2), 0);
        assert_int_equal(insert(f, &b1), 0);
        assert_int_equal(stepup_track(&f->b, a1.id, conn_a, a1.expires_usec), 0);
        assert_int_equal(stepup_track(&f->b, a2.id, conn_a, a2.expires_usec), 0);
        assert_int_equal(stepup_track(&f->b, b1.id, conn_b, b1.expires_usec), 0);

        assert_ptr_equal(stepup_waiter(&f->b, a1.id, &waiting), conn_a);
        assert_false(waiting);
        stepup_set_waiting(&f->b, a1.id, true);
        assert_ptr_equal(stepup_waiter(&f->b, a1.id, &waiting), conn_a);
        assert_true(waiting);
        stepup_set_waiting(&f->b, a1.id, false);
        assert_null(stepup_waiter(&f->b, "nosuchreqst0", &waiting));
        assert_false(waiting);
        stepup_set_waiting(&f->b, "nosuchreqst0", true); /* harmless */

        /* Connection a hangs up (timeout, ^C): its close hook expires both
         * its requests, so that a later approval grants nothing to anybody;
         * b's stays. */
        conn_close(&f->b, conn_a);
        close(peer_a);
        assert_null(stepup_waiter(&f->b, a1.id, NULL));
        assert_null(stepup_waiter(&f->b, a2.id, NULL));
        assert_int_equal(stepup_get(&f->b, a1.id, &got), 0);
        assert_int_equal(got.state, STEPUP_EXPIRED);
        assert_int_equal(stepup_get(&f->b, a2.id, &got), 0);
        assert_int_equal(got.state, STEPUP_EXPIRED);
        assert_int_equal(stepup_set_state(&f->b, a1.id, STEPUP_APPROVED, 1000, NULL), -ESTALE);
        assert_int_equal(fixture_count_events(f, "outcome", NULL), 2);
        assert_ptr_equal(stepup_waiter(&f->b, b1.id, NULL), conn_b);
        assert_int_equal(count_open(f), 1);

        stepup_untrack(&f->b, b1.id);
        assert_null(stepup_waiter(&f->b, b1.id, NULL));
        stepup_untrack(&f->b, b1.id); /* twice is harmless */
        close(peer_b);
}

/* A decision reaches the connection that waits for it, once; one that
 * does not wait hears nothing. */
static void test_notify(void **state) {
        struct fixture *f = *state;
        int peer;
        struct conn *conn = fixture_conn(f, &peer);
        struct stepup_request r = request("n1n1n1n1n1n1", now_usec() + 60 * SEC);
        char frame[1024];
        json_t *j, *params;

        assert_non_null(conn);
        assert_int_equal(insert(f, &r), 0);
        assert_int_equal(stepup_track(&f->b, r.id, conn, r.expires_usec), 0);
        r.state = STEPUP_USED;
        r.decided_by = 1000;
        snprintf(r.decision_reason, sizeof(r.decision_reason), "go ahead");

        stepup_notify(&f->b, &r); /* not waiting yet: nothing sent */
        assert_int_equal(fixture_read_frame(peer, frame, sizeof(frame)), -ETIME);
        assert_ptr_equal(stepup_waiter(&f->b, r.id, NULL), conn);

        stepup_set_waiting(&f->b, r.id, true);
        stepup_notify(&f->b, &r);
        assert_true(fixture_read_frame(peer, frame, sizeof(frame)) > 0);
        j = json_loads(frame, 0, NULL);
        assert_non_null(j);
        params = json_object_get(j, "parameters");
        assert_string_equal(json_string_value(json_object_get(params, "id")), r.id);
        assert_string_equal(json_string_value(json_object_get(params, "decision")), "approved");
        assert_string_equal(json_string_value(json_object_get(params, "reason")), "go ahead");
        assert_int_equal(json_integer_value(json_object_get(params, "decided_by")), 1000);
        json_decref(j);
        /* Answered: no longer tracked, a second notify sends nothing. */
        assert_null(stepup_waiter(&f->b, r.id, NULL));
        stepup_notify(&f->b, &r);
        assert_int_equal(fixture_read_frame(peer, frame, sizeof(frame)), -ETIME);
        close(peer);
}

/* Housekeeping: the first pass expires requests a previous broker left
 * open (nobody waits for them any more); every pass expires tracked
 * requests past their deadline. */
static void test_housekeeping(void **state) {
        struct fixture *f = *state;
        int peer;
        struct conn *conn = fixture_conn(f, &peer);
        struct stepup_request stale = request("s1s1s1s1s1s1", now_usec() + 60 * SEC),
                              late = request("l1l1l1l1l1l1", now_usec() - SEC),
                              fresh = request("f1f1f1f1f1f1", now_usec() + 60 * SEC), got;
        char detail[256];

        assert_non_null(conn);
        assert_int_equal(insert(f, &stale), 0);
        assert_int_equal(insert(f, &late), 0);
        assert_int_equal(insert(f, &fresh), 0);
        assert_int_equal(stepup_track(&f->b, late.id, conn, late.expires_usec), 0);
        assert_int_equal(stepup_track(&f->b, fresh.id, conn, fresh.expires_usec), 0);

        stepup_housekeeping(&f->b);
        assert_int_equal(stepup_get(&f->b, stale.id, &got), 0);
        assert_int_equal(got.state, STEPUP_EXPIRED);
        assert_int_equal(stepup_get(&f->b, late.id, &got), 0);
        assert_int_equal(got.state, STEPUP_EXPIRED);
        assert_null(stepup_waiter(&f->b, late.id, NULL));
        fixture_last_detail(f, "outcome", detail, sizeof(detail));
        assert_non_null(strstr(detail, "no decision in time"));
        assert_int_equal(stepup_get(&f->b, fresh.id, &got), 0);
        assert_int_equal(got.state, STEPUP_PENDING);
        assert_ptr_equal(stepup_waiter(&f->b, fresh.id, NULL), conn);
        assert_int_equal(fixture_count_events(f, "outcome", NULL), 2);

        /* A second pass has nothing to do. */
        stepup_housekeeping(&f->b);
        assert_int_equal(fixture_count_events(f, "outcome", NULL), 2);
        stepup_untrack(&f->b, fresh.id);
        close(peer);
}

static void test_state_names(void **state) {
        (void) state;
        assert_string_equal(stepup_state_to_string(STEPUP_PENDING), "pending");
        assert_string_equal(stepup_state_to_string(STEPUP_USED), "used");
        assert_string_equal(stepup_state_to_string((enum stepup_state) 99), "unknown");
        assert_string_equal(stepup_state_to_string((enum stepup_state) -1), "unknown");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_approve_then_use_once, setup, teardown),
                cmocka_unit_test_setup_teardown(test_denied_stays_denied, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pending_cannot_be_used, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unknown_and_duplicate_ids, setup, teardown),
                cmocka_unit_test_setup_teardown(test_finish_records_the_outcome, setup, teardown),
                cmocka_unit_test_setup_teardown(test_waiters, setup, teardown),
                cmocka_unit_test_setup_teardown(test_notify, setup, teardown),
                cmocka_unit_test_setup_teardown(test_housekeeping, setup, teardown),
                cmocka_unit_test(test_state_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
