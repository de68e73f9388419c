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

#include "allocator.h"
#include "store.h"

static char dir[64];
static uint32_t foreign_id = UINT32_MAX;

static bool fake_foreign(uint32_t id) {
        return id == foreign_id;
}

static int setup(void **state) {
        char db[96];
        strcpy(dir, "/tmp/agentid-alloc-test.XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(db, sizeof(db), "%s/agentid.db", dir);
        assert_int_equal(store_open(db, (struct store **) state), 0);
        foreign_id = UINT32_MAX;
        return 0;
}

static int teardown(void **state) {
        char cmd[128];
        store_close(*state);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

static int64_t mint_uid(struct store *s, uint32_t uid) {
        static unsigned serial;
        struct identity i = { .uid = uid, .gid = uid, .expires_usec = 1 };
        snprintf(i.name, sizeof(i.name), "ag-%u-%u", (unsigned) uid, serial++);
        strcpy(i.template_name, "default");
        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_insert_identity(s, &i), 0);
        assert_int_equal(store_commit(s), 0);
        return i.id;
}

static void test_cycles_without_reuse(void **state) {
        struct store *s = *state;
        struct allocator a;
        uint32_t uid;
        int64_t first;

        assert_int_equal(allocator_init(&a, 1000, 1003, s), 0);
        a.id_is_foreign = fake_foreign;
        assert_int_equal(allocator_pick(&a, s, &uid), 0);
        assert_int_equal(uid, 1000);
        first = mint_uid(s, uid);
        /* Release 1000 at once: the cursor still moves on, no quick reuse. */
        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_end_identity(s, first, IDENTITY_REVOKED, 2, NULL), 0);
        assert_int_equal(store_commit(s), 0);
        assert_int_equal(allocator_pick(&a, s, &uid), 0);
        assert_int_equal(uid, 1001);
        mint_uid(s, uid);
        assert_int_equal(allocator_pick(&a, s, &uid), 0);
        assert_int_equal(uid, 1002);
        mint_uid(s, uid);
        assert_int_equal(allocator_pick(&a, s, &uid), 0);
        assert_int_equal(uid, 1003);
        mint_uid(s, uid);
        /* Wraps to the start of the range: 1000 was released long ago. */
        assert_int_equal(allocator_pick(&a, s, &uid), 0);
        assert_int_equal(uid, 1000);
        mint_uid(s, uid);
        /* All four live: exhausted. */
        assert_int_equal(allocator_pick(&a, s, &uid), -ENOSPC);
}

static void test_skips_foreign_ids(void **state) {
        struct store *s = *state;
        struct allocator a;
        uint32_t uid;

        assert_int_equal(allocator_init(&a, 2000, 2002, s), 0);
        a.id_is_foreign = fake_foreign;
        foreign_id = 2000;
        assert_int_equal(allocator_pick(&a, s, &uid), 0);
        assert_int_equal(uid, 2001);
}

static void test_cursor_persists(void **state) {
        struct store *s = *state;
        struct allocator a, b;
        uint32_t uid;

        assert_int_equal(allocator_init(&a, 3000, 3999, s), 0);
        a.id_is_foreign = fake_foreign;
        assert_int_equal(allocator_pick(&a, s, &uid), 0);
        assert_int_equal(allocator_pick(&a, s, &uid), 0);
        assert_int_equal(uid, 3001);
        /* Written with the turn's commit, once. */
        assert_int_equal(allocator_persist(&a, s), 0);
        assert_int_equal(a.stored, 3002);
        assert_int_equal(allocator_persist(&a, s), 0);
        /* A restarted broker continues where the last one stopped. */
        assert_int_equal(allocator_init(&b, 3000, 3999, s), 0);
        assert_int_equal(b.next, 3002);
        /* A cursor outside a narrowed range restarts at its minimum. */
        assert_int_equal(allocator_init(&b, 5000, 5009, s), 0);
        assert_int_equal(b.next, 5000);
}

static void test_range_check_against_nss(void **state) {
        struct store *s = *state;
        char error[256] = "";

        /* root (uid 0) and nobody (65534) exist on every Debian host */
        assert_int_equal(allocator_check_range(0, 10, s, error, sizeof(error)), -EEXIST);
        assert_non_null(strstr(error, "overlaps user \"root\""));
        assert_int_equal(allocator_check_range(65534, 65534, s, error, sizeof(error)), -EEXIST);
        assert_int_equal(allocator_check_range(1879048192, 2147352575, s, error, sizeof(error)), 0);
        assert_true(allocator_id_is_foreign_nss(0));
        assert_false(allocator_id_is_foreign_nss(1879048192));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_cycles_without_reuse, setup, teardown),
                cmocka_unit_test_setup_teardown(test_skips_foreign_ids, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cursor_persists, setup, teardown),
                cmocka_unit_test_setup_teardown(test_range_check_against_nss, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
