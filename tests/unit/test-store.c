/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* The chain's tip is remembered between appends (store.c); a rollback,
 * of a savepoint or of the whole transaction, must make the next append
 * chain after what is really there, never after a row that was undone. */
static void test_chain_tip_survives_rollbacks(void **state) {
        struct store *s = *state;
        struct event e = { .type = EVENT_MINT, .time_usec = 1, .agent = "ag-a", .uid = 100, .owner_uid = 0,
                           .caller_uid = 0, .caller_pid = 1 };
        sqlite3_stmt *st;

        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_append_event(s, &e), 0); /* seq 1 */
        {
                _cleanup_savepoint_ struct savepoint sp = {};
                assert_int_equal(savepoint_begin(&sp, s), 0);
                assert_int_equal(store_append_event(s, &e), 0); /* undone */
                assert_int_equal(savepoint_end(&sp, -EIO), -EIO);
        }
        assert_int_equal(store_append_event(s, &e), 0); /* seq 2, after 1 */
        assert_int_equal(store_commit(s), 0);
        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_append_event(s, &e), 0); /* undone with its transaction */
        store_rollback(s);
        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_append_event(s, &e), 0); /* seq 3, after 2 */
        assert_int_equal(store_commit(s), 0);

        /* Three rows, each one's prev_hash the hash of the row before. */
        assert_int_equal(sqlite3_prepare_v2(store_sqlite(s),
                                            "SELECT count(*), max(seq), (SELECT count(*) FROM events e JOIN events p "
                                            "ON p.seq = e.seq - 1 WHERE e.prev_hash = p.hash) FROM events",
                                            -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), 3);
        assert_int_equal(sqlite3_column_int(st, 1), 3);
        assert_int_equal(sqlite3_column_int(st, 2), 2);
        sqlite3_finalize(st);
}

/* SQLite's temporary files (etilqs_*) open in this process. */
static int count_temp_files(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int n = 0;

        assert_non_null(d);
        while ((de = readdir(d))) {
                char path[300], target[PATH_MAX];
                ssize_t l;
                snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
                l = readlink(path, target, sizeof(target) - 1);
                if (l <= 0)
                        continue;
                target[l] = '\0';
                n += strstr(target, "etilqs_") != NULL;
        }
        closedir(d);
        return n;
}

/* A savepoint that changes many existing pages (a mint whose index pages
 * split, a revocation of many agents) keeps its undo copy in memory: no
 * temporary file created, written page by page and removed in the turn. */
static void test_savepoint_journal_in_memory(void **state) {
        struct store *s = *state;
        struct identity a;
        char name[32];

        assert_int_equal(store_begin(s), 0);
        for (int k = 0; k < 3000; k++) {
                snprintf(name, sizeof(name), "ag-%05d", k);
                a = make(name, 1000 + (uint32_t) k, (uint32_t) k % 7);
                assert_int_equal(store_insert_identity(s, &a), 0);
        }
        assert_int_equal(store_commit(s), 0);

        assert_int_equal(store_begin(s), 0);
        {
                _cleanup_savepoint_ struct savepoint sp = {};
                assert_int_equal(savepoint_begin(&sp, s), 0);
                /* Every 10th row: most pages of the table and its indexes. */
                for (int64_t id = 1; id <= 3000; id += 10)
                        assert_int_equal(store_end_identity(s, id, IDENTITY_REVOKED, 5000, "gone"), 0);
                assert_int_equal(count_temp_files(), 0);
                assert_int_equal(savepoint_end(&sp, 0), 0);
        }
        assert_int_equal(store_commit(s), 0);
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

static int count_ephemeral(sqlite3 *raw, const char *sql) {
        char explain[512];
        sqlite3_stmt *st;
        int n = 0;

        snprintf(explain, sizeof(explain), "EXPLAIN %s", sql);
        assert_int_equal(sqlite3_prepare_v2(raw, explain, -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW)
                n += strcmp((const char *) sqlite3_column_text(st, 1), "OpenEphemeral") == 0;
        sqlite3_finalize(st);
        return n;
}

/* A schema 4 database (state CHECK as an IN list) is rebuilt by the 4 -> 5
 * step: same rows and ids, the CHECK still holds, and writing the state
 * no longer builds an ephemeral table per statement. */
static void test_migrates_state_check(void **state) {
        struct store *s = *state;
        struct identity a = make("ag-a", 100, 0), b = make("ag-b", 101, 0), got;
        sqlite3 *raw;
        char *err = NULL;

        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_insert_identity(s, &a), 0);
        assert_int_equal(store_insert_identity(s, &b), 0);
        assert_int_equal(store_end_identity(s, a.id, IDENTITY_REVOKED, 1500, "done"), 0);
        assert_int_equal(store_commit(s), 0);
        store_close(s);
        *state = NULL;

        assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
        assert_int_equal(sqlite3_exec(raw,
                                      "BEGIN;"
                                      "CREATE TABLE old (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
                                      "  uid INTEGER NOT NULL, gid INTEGER NOT NULL, owner_uid INTEGER NOT NULL,"
                                      "  invoker_pid INTEGER NOT NULL, template TEXT NOT NULL, reason TEXT,"
                                      "  on_behalf_of TEXT, parent TEXT, home TEXT NOT NULL, shell TEXT NOT NULL,"
                                      "  groups TEXT NOT NULL,"
                                      "  state TEXT NOT NULL CHECK (state IN ('live', 'revoked', 'expired')),"
                                      "  created_usec INTEGER NOT NULL, expires_usec INTEGER NOT NULL,"
                                      "  ended_usec INTEGER, end_reason TEXT) STRICT;"
                                      "INSERT INTO old SELECT * FROM identities;"
                                      "DROP TABLE identities;"
                                      "ALTER TABLE old RENAME TO identities;"
                                      "CREATE UNIQUE INDEX identities_live_uid ON identities (uid) WHERE state = 'live';"
                                      "CREATE INDEX identities_uid ON identities (uid);"
                                      "CREATE INDEX identities_live_owner ON identities (owner_uid) WHERE state = 'live';"
                                      "CREATE INDEX identities_live_parent ON identities (parent) WHERE state = 'live';"
                                      "CREATE INDEX identities_parent ON identities (parent) WHERE parent IS NOT NULL;"
                                      /* and signing_keys as before 5 -> 6 (key rollover) */
                                      "DROP INDEX signing_keys_unretired;"
                                      "ALTER TABLE signing_keys DROP COLUMN next;"
                                      "ALTER TABLE signing_keys DROP COLUMN activates_usec;"
                                      "CREATE UNIQUE INDEX signing_keys_current ON signing_keys ((retired_usec IS NULL))"
                                      "  WHERE retired_usec IS NULL;"
                                      "PRAGMA user_version = 4;"
                                      "COMMIT",
                                      NULL, NULL, &err),
                         SQLITE_OK);
        /* The fixture is what the old schema did: one ephemeral table. */
        assert_int_equal(count_ephemeral(raw, "UPDATE identities SET state = 'expired' WHERE id = 2"), 1);
        sqlite3_close(raw);

        assert_int_equal(store_open(db, &s), 0);
        *state = s;
        assert_int_equal(store_get(s, a.id, &got), 0);
        assert_string_equal(got.name, "ag-a");
        assert_int_equal(got.state, IDENTITY_REVOKED);
        assert_string_equal(got.end_reason, "done");
        assert_int_equal(store_get(s, b.id, &got), 0);
        assert_int_equal(got.state, IDENTITY_LIVE);
        assert_int_equal(store_uid_is_live(s, 101), 1);

        assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
        assert_int_equal(count_ephemeral(raw, "UPDATE identities SET state = 'expired' WHERE id = 2"), 0);
        assert_int_equal(count_ephemeral(raw, "INSERT INTO identities (name, uid, gid, owner_uid, invoker_pid, "
                                              "template, home, shell, groups, state, created_usec, expires_usec) "
                                              "VALUES ('x', 1, 1, 0, 1, 'd', '/', '/', '', 'live', 1, 2)"),
                         0);
        assert_int_not_equal(sqlite3_exec(raw, "UPDATE identities SET state = 'zombie' WHERE id = 2", NULL, NULL,
                                          &err),
                             SQLITE_OK);
        sqlite3_free(err);
        sqlite3_close(raw);
}

/* Checkpoints run on their own thread and connection: requested, they
 * complete without the caller waiting, and leave nothing in the WAL. */
static void test_checkpoint_thread(void **state) {
        struct store *s = *state;
        uint64_t before = store_checkpoints_completed(s);
        struct stat st;
        off_t size_before;

        assert_int_equal(store_begin(s), 0);
        for (uint32_t k = 0; k < 200; k++) {
                char name[32];
                struct identity i;
                snprintf(name, sizeof(name), "ag-%u", k);
                i = make(name, 1000 + k, 0);
                assert_int_equal(store_insert_identity(s, &i), 0);
        }
        assert_int_equal(store_commit(s), 0);
        /* Committed to the WAL only (wal_autocheckpoint is off). */
        assert_int_equal(stat(db, &st), 0);
        size_before = st.st_size;
        assert_int_equal(store_checkpoint(s), 0);
        for (int k = 0; k < 500 && store_checkpoints_completed(s) == before; k++)
                usleep(10000);
        assert_true(store_checkpoints_completed(s) > before);
        /* The pages reached the database file itself. */
        assert_int_equal(stat(db, &st), 0);
        assert_true(st.st_size > size_before);
}

/* The WAL batching VFS (wal-batch.c): a commit far larger than its buffer,
 * with a page cache so small that pages spill to the WAL mid-transaction
 * and are read back from it, reaches another connection (the default VFS,
 * as the checkpoint thread's) whole; a rolled-back one not at all. */
static void test_wal_batch(void **state) {
        struct store *s = *state;
        sqlite3 *raw;
        sqlite3_stmt *st;
        uint32_t k;

        assert_int_equal(sqlite3_exec(store_sqlite(s), "PRAGMA cache_size = 8", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(store_begin(s), 0);
        for (k = 0; k < 3000; k++) {
                char name[32];
                struct identity i;
                snprintf(name, sizeof(name), "ag-batch-%u", k);
                i = make(name, 5000 + k, k % 7);
                assert_int_equal(store_insert_identity(s, &i), 0);
        }
        assert_int_equal(store_commit(s), 0);
        assert_int_equal(store_begin(s), 0);
        for (; k < 4000; k++) {
                char name[32];
                struct identity i;
                snprintf(name, sizeof(name), "ag-batch-%u", k);
                i = make(name, 5000 + k, 0);
                assert_int_equal(store_insert_identity(s, &i), 0);
        }
        store_rollback(s);

        assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(raw, "SELECT count(*), sum(uid) FROM identities", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int64(st, 0), 3000);
        assert_int_equal(sqlite3_column_int64(st, 1), 3000 * 5000 + 2999 * 3000 / 2);
        sqlite3_finalize(st);
        assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *) sqlite3_column_text(st, 0), "ok");
        sqlite3_finalize(st);
        sqlite3_close(raw);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_insert_find_end, setup, teardown),
                cmocka_unit_test_setup_teardown(test_constraints, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rollback_changes_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_savepoint, setup, teardown),
                cmocka_unit_test_setup_teardown(test_list_filters_and_pages, setup, teardown),
                cmocka_unit_test_setup_teardown(test_chain_tip_survives_rollbacks, setup, teardown),
                cmocka_unit_test_setup_teardown(test_savepoint_journal_in_memory, setup, teardown),
                cmocka_unit_test_setup_teardown(test_events_append_only, setup, teardown),
                cmocka_unit_test_setup_teardown(test_meta_and_reopen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuses_newer_schema, setup, teardown),
                cmocka_unit_test_setup_teardown(test_migrates_state_check, setup, teardown),
                cmocka_unit_test_setup_teardown(test_checkpoint_thread, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wal_batch, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
