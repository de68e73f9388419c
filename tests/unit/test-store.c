/* SPDX-License-Identifier: MIT */
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
#include <sqlite3.h>

#include "store.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

static char dir[64], db[96];

static int setup(void **state) {
        strcpy(dir, "/tmp/agentid-store-test.XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(db, sizeof(db), "%s/agentid.db", dir);
        assert_int_equal(store_open(db, (struct store **) state), 0);
        return 0;
}

static int teardown(void **state) {
        char cmd[128];
        store_close(*state);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

static struct identity make(const char *name, uint32_t uid, uint32_t owner) {
        struct identity i = { .uid = uid, .gid = uid, .owner_uid = owner, .invoker_pid = 42,
                              .created_usec = 1000, .expires_usec = 2000 };
        snprintf(i.name, sizeof(i.name), "%s", name);
        strcpy(i.template_name, "default");
        strcpy(i.home, "/home/x");
        strcpy(i.shell, "/bin/sh");
        strcpy(i.reason, "why not");
        return i;
}

static void test_insert_find_end(void **state) {
        struct store *s = *state;
        struct identity a = make("ag-a", 100, 0), got;
        uint64_t n;

        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_insert_identity(s, &a), 0);
        assert_int_equal(store_commit(s), 0);
        assert_true(a.id > 0);

        assert_int_equal(store_find(s, "ag-a", 0, false, &got), 0);
        assert_int_equal(got.uid, 100);
        assert_string_equal(got.reason, "why not");
        assert_int_equal(got.state, IDENTITY_LIVE);
        assert_int_equal(store_find(s, NULL, 100, true, &got), 0);
        assert_string_equal(got.name, "ag-a");
        assert_int_equal(store_find(s, "ag-missing", 0, false, &got), -ENOENT);
        assert_int_equal(store_uid_is_live(s, 100), 1);
        assert_int_equal(store_count_live(s, &n), 0);
        assert_int_equal(n, 1);

        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_end_identity(s, a.id, IDENTITY_REVOKED, 1500, "done"), 0);
        /* Ending twice is refused: it is no longer live. */
        assert_int_equal(store_end_identity(s, a.id, IDENTITY_EXPIRED, 1600, NULL), -ESTALE);
        assert_int_equal(store_commit(s), 0);
        assert_int_equal(store_get(s, a.id, &got), 0);
        assert_int_equal(got.state, IDENTITY_REVOKED);
        assert_int_equal(got.ended_usec, 1500);
        assert_string_equal(got.end_reason, "done");
        assert_int_equal(store_uid_is_live(s, 100), 0);
}

static void test_constraints(void **state) {
        struct store *s = *state;
        struct identity a = make("ag-a", 100, 0), b = make("ag-a", 101, 0), c = make("ag-c", 100, 0);

        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_insert_identity(s, &a), 0);
        assert_int_equal(store_insert_identity(s, &b), -EEXIST); /* name taken */
        assert_int_equal(store_insert_identity(s, &c), -EEXIST); /* live uid taken */
        assert_int_equal(store_commit(s), 0);

        /* Once a is ended its uid may be live again (the allocator decides
         * when; the store only forbids two live owners). */
        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_end_identity(s, a.id, IDENTITY_EXPIRED, 3000, NULL), 0);
        assert_int_equal(store_insert_identity(s, &c), 0);
        assert_int_equal(store_commit(s), 0);
}

static void test_rollback_changes_nothing(void **state) {
        struct store *s = *state;
        struct identity a = make("ag-a", 100, 0), got;
        struct event e = { .type = EVENT_MINT, .time_usec = 1, .agent = "ag-a", .uid = 100, .owner_uid = 0,
                           .caller_uid = 0, .caller_pid = 1 };
        uint64_t n;

        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_insert_identity(s, &a), 0);
        assert_int_equal(store_append_event(s, &e), 0);
        store_rollback(s);
        assert_int_equal(store_find(s, "ag-a", 0, false, &got), -ENOENT);
        assert_int_equal(store_count_live(s, &n), 0);
        assert_int_equal(n, 0);
}

/* Insert a inside a savepoint, then end it with result r. */
static int insert_in_savepoint(struct store *s, struct identity *a, int r) {
        _cleanup_savepoint_ struct savepoint sp = {};

        assert_int_equal(savepoint_begin(&sp, s), 0);
        assert_int_equal(store_insert_identity(s, a), 0);
        return savepoint_end(&sp, r);
}

/* Leave the scope with the savepoint open (an early return). */
static void insert_and_leave(struct store *s, struct identity *a) {
        _cleanup_savepoint_ struct savepoint sp = {};

        assert_int_equal(savepoint_begin(&sp, s), 0);
        assert_int_equal(store_insert_identity(s, a), 0);
}

static void test_savepoint(void **state) {
        struct store *s = *state;
        struct identity a = make("ag-a", 100, 0), b = make("ag-b", 101, 0), c = make("ag-c", 102, 0),
                        d = make("ag-d", 103, 0), got;

        /* Inside an outer transaction (the broker's turn), as the broker
         * uses them: each savepoint undoes only its own changes. */
        assert_int_equal(store_begin(s), 0);
        assert_int_equal(insert_in_savepoint(s, &a, 0), 0);
        assert_int_equal(insert_in_savepoint(s, &b, -EIO), -EIO);
        insert_and_leave(s, &c);
        assert_int_equal(insert_in_savepoint(s, &d, 7), 7); /* a count is success */
        assert_true(store_in_transaction(s));
        assert_int_equal(store_commit(s), 0);
        assert_false(store_in_transaction(s));
        assert_int_equal(store_find(s, "ag-a", 0, false, &got), 0);
        assert_int_equal(store_find(s, "ag-b", 0, false, &got), -ENOENT);
        assert_int_equal(store_find(s, "ag-c", 0, false, &got), -ENOENT);
        assert_int_equal(store_find(s, "ag-d", 0, false, &got), 0);
}

struct collected {
        char names[16][40];
        int n;
};

static int collect(void *userdata, const struct identity *i) {
        struct collected *c = userdata;
        snprintf(c->names[c->n++], 40, "%s", i->name);
        return 0;
}

static void test_list_filters_and_pages(void **state) {
        struct store *s = *state;
        struct collected c = {};
        struct store_filter f = { .owner_uid = -1 };

        assert_int_equal(store_begin(s), 0);
        for (int k = 0; k < 5; k++) {
                char name[16];
                struct identity i;
                snprintf(name, sizeof(name), "ag-%d", k);
                i = make(name, 100 + (uint32_t) k, k % 2 ? 1000 : 0);
                assert_int_equal(store_insert_identity(s, &i), 0);
                if (k == 4)
                        assert_int_equal(store_end_identity(s, i.id, IDENTITY_REVOKED, 5, NULL), 0);
        }
        assert_int_equal(store_commit(s), 0);

        assert_int_equal(store_list(s, &f, collect, &c), 0);
        assert_int_equal(c.n, 4); /* live only */
        c.n = 0;
        f.include_ended = true;
        assert_int_equal(store_list(s, &f, collect, &c), 0);
        assert_int_equal(c.n, 5);
        c.n = 0;
        f.owner_uid = 1000;
        assert_int_equal(store_list(s, &f, collect, &c), 0);
        assert_int_equal(c.n, 2);
        assert_string_equal(c.names[0], "ag-1");
        c.n = 0;
        f = (struct store_filter) { .owner_uid = -1, .limit = 2, .after_id = 2 };
        assert_int_equal(store_list(s, &f, collect, &c), 0);
        assert_int_equal(c.n, 2);
        assert_string_equal(c.names[0], "ag-2");
        assert_string_equal(c.names[1], "ag-3");
}

static void test_events_append_only(void **state) {
        struct store *s = *state;
        struct event e = { .type = EVENT_DENY, .time_usec = 7, .uid = -1, .owner_uid = -1, .caller_uid = 65534,
                           .caller_pid = 9, .detail = "nope" };
        sqlite3 *raw;
        char *err = NULL;

        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_append_event(s, &e), 0);
        assert_int_equal(store_commit(s), 0);

        /* Even direct SQL cannot rewrite the audit trail. */
        assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(raw, "UPDATE events SET detail = 'forged'", NULL, NULL, &err), SQLITE_OK);
        sqlite3_free(err);
        err = NULL;
        assert_int_not_equal(sqlite3_exec(raw, "DELETE FROM events", NULL, NULL, &err), SQLITE_OK);
        sqlite3_free(err);
        sqlite3_close(raw);
}

static void test_meta_and_reopen(void **state) {
        struct store *s = *state;
        uint64_t v;

        assert_int_equal(store_get_meta_u64(s, "next_uid", &v), -ENOENT);
        assert_int_equal(store_set_meta_u64(s, "next_uid", 12345), 0);
        store_close(s);
        /* Reopening an existing database does not migrate it again. */
        assert_int_equal(store_open(db, &s), 0);
        *state = s;
        assert_int_equal(store_get_meta_u64(s, "next_uid", &v), 0);
        assert_int_equal(v, 12345);
}

static void test_refuses_newer_schema(void **state) {
        struct store *s = *state, *again = NULL;
        sqlite3 *raw;

        store_close(s);
        assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
        assert_int_equal(sqlite3_exec(raw, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(raw);
        assert_int_equal(store_open(db, &again), -EPROTO);
        assert_null(again);
        /* leave a valid handle for teardown */
        assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
        assert_int_equal(sqlite3_exec(raw, "PRAGMA user_version = " STRINGIFY(STORE_SCHEMA_VERSION), NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(raw);
        assert_int_equal(store_open(db, &s), 0);
        *state = s;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_insert_find_end, setup, teardown),
                cmocka_unit_test_setup_teardown(test_constraints, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rollback_changes_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_savepoint, setup, teardown),
                cmocka_unit_test_setup_teardown(test_list_filters_and_pages, setup, teardown),
                cmocka_unit_test_setup_teardown(test_events_append_only, setup, teardown),
                cmocka_unit_test_setup_teardown(test_meta_and_reopen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuses_newer_schema, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
