/* SPDX-License-Identifier: MIT */
/* The credential tables (broker/store-creds.c) on a real SQLite file:
 * signing keys (one current at most), issued tokens and grants by jti, a
 * grant that burns exactly once, pruning, and the delegation queries. */
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

#include "store-creds.h"

struct ctx {
        char dir[64];
        struct store *store;
        struct creds_store *cs;
};

static int setup(void **state) {
        struct ctx *c = calloc(1, sizeof(*c));
        char db[96];

        assert_non_null(c);
        strcpy(c->dir, "/tmp/agentid-creds-test.XXXXXX");
        assert_non_null(mkdtemp(c->dir));
        snprintf(db, sizeof(db), "%s/agentid.db", c->dir);
        assert_int_equal(store_open(db, &c->store), 0);
        assert_int_equal(creds_store_open(c->store, &c->cs), 0);
        *state = c;
        return 0;
}

static int teardown(void **state) {
        struct ctx *c = *state;
        char cmd[128];

        creds_store_close(c->cs);
        store_close(c->store);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
        free(c);
        return system(cmd) == 0 ? 0 : -1;
}

struct key_list {
        struct signing_key_row rows[8];
        int n, stop_after;
};

static int collect_key(void *userdata, const struct signing_key_row *k) {
        struct key_list *l = userdata;

        if (l->stop_after && l->n == l->stop_after)
                return -EINTR;
        assert_true(l->n < 8);
        l->rows[l->n++] = *k;
        return 0;
}

static struct signing_key_row key(const char *kid, uint64_t created) {
        struct signing_key_row k = { .created_usec = created };

        snprintf(k.kid, sizeof(k.kid), "%s", kid);
        snprintf(k.x, sizeof(k.x), "x-of-%s", kid);
        return k;
}

static void test_keys(void **state) {
        struct ctx *c = *state;
        struct signing_key_row k1 = key("kid-1", 100), k2 = key("kid-2", 300), again = key("kid-1", 400);
        struct key_list l = {};

        assert_int_equal(creds_keys_list(c->cs, collect_key, &l), 0);
        assert_int_equal(l.n, 0);
        /* Retiring with no current key is a no-op. */
        assert_int_equal(creds_key_retire_current(c->cs, 50), 0);

        assert_int_equal(creds_key_insert(c->cs, &k1), 0);
        /* Never two current keys: a second needs the first retired. */
        assert_int_equal(creds_key_insert(c->cs, &k2), -EEXIST);
        assert_int_equal(creds_key_retire_current(c->cs, 200), 0);
        assert_int_equal(creds_key_insert(c->cs, &k2), 0);
        /* A kid names one key forever. */
        assert_int_equal(creds_key_retire_current(c->cs, 350), 0);
        assert_int_equal(creds_key_insert(c->cs, &again), -EEXIST);

        /* max_exp only grows; an unknown kid changes nothing. */
        assert_int_equal(creds_key_extend(c->cs, "kid-1", 500), 0);
        assert_int_equal(creds_key_extend(c->cs, "kid-1", 400), 0);
        assert_int_equal(creds_key_extend(c->cs, "kid-unknown", 900), 0);

        assert_int_equal(creds_keys_list(c->cs, collect_key, &l), 0);
        assert_int_equal(l.n, 2);
        assert_string_equal(l.rows[0].kid, "kid-2"); /* newest first */
        assert_int_equal(l.rows[0].retired_usec, 350);
        assert_string_equal(l.rows[1].kid, "kid-1");
        assert_string_equal(l.rows[1].x, "x-of-kid-1");
        assert_int_equal(l.rows[1].created_usec, 100);
        assert_int_equal(l.rows[1].retired_usec, 200);
        assert_int_equal(l.rows[1].max_exp_usec, 500);

        /* A callback's error stops the walk and comes back; the statement
         * is reusable afterwards. */
        l = (struct key_list) { .stop_after = 1 };
        assert_int_equal(creds_keys_list(c->cs, collect_key, &l), -EINTR);
        l = (struct key_list) {};
        assert_int_equal(creds_keys_list(c->cs, collect_key, &l), 0);
        assert_int_equal(l.n, 2);
}

static struct token_row token(const char *jti, enum token_kind kind, uint64_t expires) {
        return (struct token_row) { .jti = jti, .agent = "ag-a", .kid = "kid-1",
                                    .hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                                    .audience = "svc", .kind = kind, .issued_usec = 10, .expires_usec = expires };
}

static void test_tokens(void **state) {
        struct ctx *c = *state;
        struct token_row t = token("jti-t", TOKEN_KIND_TOKEN, 1000), clash = token("jti-t", TOKEN_KIND_GRANT, 9);
        enum token_kind kind = TOKEN_KIND_GRANT;
        char hash[65];
        uint64_t redeemed = 1;

        assert_int_equal(creds_token_insert(c->cs, &t), 0);
        assert_int_equal(creds_token_get(c->cs, "jti-t", &kind, hash, sizeof(hash), &redeemed), 0);
        assert_int_equal(kind, TOKEN_KIND_TOKEN);
        assert_string_equal(hash, t.hash);
        assert_int_equal(redeemed, 0);
        /* A jti is issued once: a replayed or forged duplicate is refused
         * and leaves the first as it was. */
        assert_int_equal(creds_token_insert(c->cs, &clash), -EEXIST);
        assert_int_equal(creds_token_get(c->cs, "jti-t", &kind, hash, sizeof(hash), &redeemed), 0);
        assert_int_equal(kind, TOKEN_KIND_TOKEN);

        assert_int_equal(creds_token_get(c->cs, "jti-unknown", &kind, hash, sizeof(hash), &redeemed), -ENOENT);
        /* Hostile jtis are data, not SQL or patterns. */
        assert_int_equal(creds_token_get(c->cs, "x' OR '1'='1", &kind, hash, sizeof(hash), &redeemed), -ENOENT);
        assert_int_equal(creds_token_get(c->cs, "%", &kind, hash, sizeof(hash), &redeemed), -ENOENT);
        assert_int_equal(creds_token_get(c->cs, "", &kind, hash, sizeof(hash), &redeemed), -ENOENT);
}

static void test_grant_burns_once(void **state) {
        struct ctx *c = *state;
        struct token_row g = token("jti-g", TOKEN_KIND_GRANT, 1000), t = token("jti-t", TOKEN_KIND_TOKEN, 1000);
        enum token_kind kind;
        char hash[65];
        uint64_t redeemed;

        assert_int_equal(creds_token_insert(c->cs, &g), 0);
        assert_int_equal(creds_token_insert(c->cs, &t), 0);

        /* A burn whose transaction rolls back (the redeem failed later)
         * leaves the grant usable. */
        assert_int_equal(store_begin(c->store), 0);
        assert_int_equal(creds_grant_burn(c->cs, "jti-g", 111), 0);
        store_rollback(c->store);
        assert_int_equal(creds_token_get(c->cs, "jti-g", &kind, hash, sizeof(hash), &redeemed), 0);
        assert_int_equal(kind, TOKEN_KIND_GRANT);
        assert_int_equal(redeemed, 0);

        assert_int_equal(creds_grant_burn(c->cs, "jti-g", 222), 0);
        /* Replays: the second and every later use fail, and the first
         * use's time stays. */
        assert_int_equal(creds_grant_burn(c->cs, "jti-g", 333), -ESTALE);
        assert_int_equal(creds_grant_burn(c->cs, "jti-g", 444), -ESTALE);
        assert_int_equal(creds_token_get(c->cs, "jti-g", &kind, hash, sizeof(hash), &redeemed), 0);
        assert_int_equal(redeemed, 222);

        /* A token is not a grant, and unknown or pattern jtis burn nothing. */
        assert_int_equal(creds_grant_burn(c->cs, "jti-t", 555), -ESTALE);
        assert_int_equal(creds_grant_burn(c->cs, "jti-unknown", 555), -ESTALE);
        assert_int_equal(creds_grant_burn(c->cs, "%", 555), -ESTALE);
        assert_int_equal(creds_token_get(c->cs, "jti-t", &kind, hash, sizeof(hash), &redeemed), 0);
        assert_int_equal(redeemed, 0);
}

static void test_prune(void **state) {
        struct ctx *c = *state;
        struct token_row old = token("jti-old", TOKEN_KIND_TOKEN, 100),
                         edge = token("jti-edge", TOKEN_KIND_GRANT, 200),
                         young = token("jti-young", TOKEN_KIND_TOKEN, 300);
        enum token_kind kind;
        char hash[65];
        uint64_t redeemed;

        assert_int_equal(creds_token_insert(c->cs, &old), 0);
        assert_int_equal(creds_token_insert(c->cs, &edge), 0);
        assert_int_equal(creds_token_insert(c->cs, &young), 0);
        assert_int_equal(creds_tokens_prune(c->cs, 200), 0);
        assert_int_equal(creds_token_get(c->cs, "jti-old", &kind, hash, sizeof(hash), &redeemed), -ENOENT);
        assert_int_equal(creds_token_get(c->cs, "jti-edge", &kind, hash, sizeof(hash), &redeemed), 0);
        assert_int_equal(creds_token_get(c->cs, "jti-young", &kind, hash, sizeof(hash), &redeemed), 0);
}

struct id_list {
        int64_t ids[8];
        int n;
};

static int collect_id(void *userdata, int64_t id) {
        struct id_list *l = userdata;

        assert_true(l->n < 8);
        l->ids[l->n++] = id;
        return 0;
}

static struct identity child(const char *name, uint32_t uid, const char *parent) {
        struct identity i = { .uid = uid, .gid = uid, .created_usec = 1, .expires_usec = 2 };

        snprintf(i.name, sizeof(i.name), "%s", name);
        snprintf(i.parent, sizeof(i.parent), "%s", parent);
        strcpy(i.template_name, "default");
        strcpy(i.home, "/nonexistent");
        strcpy(i.shell, "/bin/sh");
        return i;
}

static void test_children(void **state) {
        struct ctx *c = *state;
        struct identity p = child("ag-p", 100, ""), c1 = child("ag-c1", 101, "ag-p"), c2 = child("ag-c2", 102, "ag-p"),
                        other = child("ag-o", 103, "ag-q");
        struct id_list l = {};
        uint64_t n = 99;

        assert_int_equal(store_begin(c->store), 0);
        assert_int_equal(store_insert_identity(c->store, &p), 0);
        assert_int_equal(store_insert_identity(c->store, &c1), 0);
        assert_int_equal(store_insert_identity(c->store, &c2), 0);
        assert_int_equal(store_insert_identity(c->store, &other), 0);
        assert_int_equal(store_commit(c->store), 0);

        assert_int_equal(creds_count_live_children(c->cs, "ag-p", &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(store_begin(c->store), 0);
        assert_int_equal(store_end_identity(c->store, c1.id, IDENTITY_REVOKED, 5, NULL), 0);
        assert_int_equal(store_commit(c->store), 0);
        /* Ended children no longer count. */
        assert_int_equal(creds_count_live_children(c->cs, "ag-p", &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(creds_list_live_children(c->cs, "ag-p", collect_id, &l), 0);
        assert_int_equal(l.n, 1);
        assert_int_equal(l.ids[0], c2.id);
        assert_int_equal(creds_count_live_children(c->cs, "ag-nobody", &n), 0);
        assert_int_equal(n, 0);
        /* The empty parent is "no parent", not every top-level agent. */
        assert_int_equal(creds_count_live_children(c->cs, "", &n), 0);
        assert_int_equal(n, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
                cmocka_unit_test_setup_teardown(test_grant_burns_once, setup, teardown),
                cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
                cmocka_unit_test_setup_teardown(test_children, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
