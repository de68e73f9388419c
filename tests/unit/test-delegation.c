/* SPDX-License-Identifier: MIT */
/* Sub-agents (broker/delegation.c): a child no broader than its parent,
 * the depth and children limits of the parent's template, a TTL inside
 * the parent's, the chain of who acts for whom, and who counts as the
 * calling agent. Every refusal is a PermissionDenied with a deny event. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agentid/protocol.h"
#include "broker-fixture.h"
#include "agentid/token.h"
#include "delegation.h"
#include "duration.h"

#define SEC UINT64_C(1000000)
#define HOUR (3600 * SEC)

enum { T_PARENT, T_NARROW, T_MORE_SCOPES, T_MORE_GROUPS, T_SUDO_ALLOW, T_SSH, T_DEEPER, T_MORE_CHILDREN, T_LEAF, T_N };

static void make_template(struct template *t, const char *name) {
        template_default(t);
        snprintf(t->name, sizeof(t->name), "%s", name);
        t->max_ttl_usec = 24 * HOUR;
}

static void add_scope(struct template *t, const char *scope) {
        snprintf(t->scopes[t->n_scopes++], sizeof(t->scopes[0]), "%s", scope);
}

/* "parent" may delegate: scopes read+write, group 5000, sudo on approval,
 * two levels, two children. The others are each broader in one way,
 * except "narrow" and "leaf". */
static void make_templates(struct template t[T_N]) {
        make_template(&t[T_PARENT], "parent");
        add_scope(&t[T_PARENT], "read");
        add_scope(&t[T_PARENT], "write");
        t[T_PARENT].groups[t[T_PARENT].n_groups++] = 5000;
        t[T_PARENT].sudo = STEP_APPROVE;
        t[T_PARENT].max_depth = 2;
        t[T_PARENT].max_children = 2;

        make_template(&t[T_NARROW], "narrow");
        add_scope(&t[T_NARROW], "read");
        t[T_NARROW].groups[t[T_NARROW].n_groups++] = 5000;
        t[T_NARROW].max_depth = 1;
        t[T_NARROW].max_children = 1;

        t[T_MORE_SCOPES] = t[T_NARROW];
        snprintf(t[T_MORE_SCOPES].name, sizeof(t[0].name), "more-scopes");
        add_scope(&t[T_MORE_SCOPES], "admin");

        t[T_MORE_GROUPS] = t[T_NARROW];
        snprintf(t[T_MORE_GROUPS].name, sizeof(t[0].name), "more-groups");
        t[T_MORE_GROUPS].groups[t[T_MORE_GROUPS].n_groups++] = 0;

        t[T_SUDO_ALLOW] = t[T_NARROW];
        snprintf(t[T_SUDO_ALLOW].name, sizeof(t[0].name), "sudo-allow");
        t[T_SUDO_ALLOW].sudo = STEP_ALLOW; /* approve < allow */

        t[T_SSH] = t[T_NARROW];
        snprintf(t[T_SSH].name, sizeof(t[0].name), "ssh");
        t[T_SSH].ssh = STEP_APPROVE; /* the parent's ssh is deny */

        t[T_DEEPER] = t[T_NARROW];
        snprintf(t[T_DEEPER].name, sizeof(t[0].name), "deeper");
        t[T_DEEPER].max_depth = 3;

        t[T_MORE_CHILDREN] = t[T_NARROW];
        snprintf(t[T_MORE_CHILDREN].name, sizeof(t[0].name), "more-children");
        t[T_MORE_CHILDREN].max_children = 3;

        /* Mints no children, so its own (large) count does not matter. */
        t[T_LEAF] = t[T_NARROW];
        snprintf(t[T_LEAF].name, sizeof(t[0].name), "leaf");
        t[T_LEAF].max_depth = 0;
        t[T_LEAF].max_children = 100;
}

struct ctx {
        struct fixture f;
        struct identity parent;
        struct caller caller;
};

static int setup(void **state) {
        struct ctx *c = calloc(1, sizeof(*c));
        struct template t[T_N];

        assert_non_null(c);
        make_templates(t);
        assert_int_equal(fixture_open(&c->f, t, T_N), 0);
        c->parent = fixture_identity("ag-parent", 71000, "parent", NULL, now_usec() + HOUR);
        c->parent.owner_uid = 0;
        snprintf(c->parent.on_behalf_of, sizeof(c->parent.on_behalf_of), "alice@example.org");
        assert_int_equal(fixture_insert(&c->f, &c->parent), 0);
        c->caller = (struct caller) { .uid = c->parent.uid, .gid = c->parent.uid, .pid = 4242 };
        *state = c;
        return 0;
}

static int teardown(void **state) {
        struct ctx *c = *state;

        fixture_close(&c->f);
        free(c);
        return 0;
}

static const struct template *tmpl(struct ctx *c, const char *name) {
        const struct template *t = template_set_find(&c->f.b.templates, name);
        assert_non_null(t);
        return t;
}

static int check(struct ctx *c, const struct identity *parent, const char *template_name, uint64_t *ttl,
                 bool ttl_given, struct reply *reply) {
        *reply = (struct reply) {};
        return delegation_check_mint(&c->f.b, &c->caller, parent, tmpl(c, template_name), ttl, ttl_given, reply);
}

static void expect_denied(struct ctx *c, const struct identity *parent, const char *template_name, uint64_t ttl,
                          bool ttl_given, const char *why) {
        int denials = fixture_count_events(&c->f, "deny", parent->name);
        struct reply reply;

        assert_true(check(c, parent, template_name, &ttl, ttl_given, &reply) < 0);
        assert_non_null(reply.error);
        assert_string_equal(reply.error, AGENTID_ERROR_PERMISSION_DENIED);
        if (!strstr(reply.message, why))
                fail_msg("template %s: \"%s\" does not say \"%s\"", template_name, reply.message, why);
        assert_null(reply.parameters);
        assert_int_equal(fixture_count_events(&c->f, "deny", parent->name), denials + 1);
}

static void test_narrower_child_allowed(void **state) {
        struct ctx *c = *state;
        struct reply reply;
        uint64_t ttl = 10 * 60 * SEC;

        assert_int_equal(check(c, &c->parent, "narrow", &ttl, true, &reply), 0);
        assert_null(reply.error);
        assert_true(ttl == 10 * 60 * SEC);
        /* The parent's own template is never broader than itself. */
        assert_int_equal(check(c, &c->parent, "parent", &ttl, true, &reply), 0);
        assert_int_equal(check(c, &c->parent, "leaf", &ttl, true, &reply), 0);
        assert_int_equal(fixture_count_events(&c->f, "deny", NULL), 0);
}

static void test_broader_child_refused(void **state) {
        struct ctx *c = *state;
        static const char *const broader[] = { "more-scopes", "more-groups", "sudo-allow", "ssh", "deeper",
                                               "more-children" };

        for (size_t k = 0; k < sizeof(broader) / sizeof(broader[0]); k++)
                expect_denied(c, &c->parent, broader[k], 60 * SEC, true, "is broader than \"parent\"");
}

static void test_ttl_inside_the_parents(void **state) {
        struct ctx *c = *state;
        struct reply reply;
        uint64_t ttl = 24 * HOUR;
        struct identity dying;

        /* Asked for more than the parent has left: refused. */
        expect_denied(c, &c->parent, "narrow", 2 * HOUR, true, "exceeds the");
        /* Not asked (the template's default): cut to what is left. */
        assert_int_equal(check(c, &c->parent, "narrow", &ttl, false, &reply), 0);
        assert_true(ttl <= HOUR && ttl > HOUR - 60 * SEC);

        /* A parent about to expire cannot hand out what it does not have. */
        dying = fixture_identity("ag-dying", 71001, "parent", NULL, now_usec() + SEC / 2);
        assert_int_equal(fixture_insert(&c->f, &dying), 0);
        expect_denied(c, &dying, "narrow", 60 * SEC, false, "expires too soon");
}

static void test_children_limit(void **state) {
        struct ctx *c = *state;
        struct identity k1 = fixture_identity("ag-k1", 71011, "narrow", "ag-parent", now_usec() + HOUR),
                        k2 = fixture_identity("ag-k2", 71012, "narrow", "ag-parent", now_usec() + HOUR);
        struct reply reply;
        uint64_t ttl = 60 * SEC;
        int64_t *ids = NULL;
        size_t n = 0, cap = 0;

        assert_int_equal(fixture_insert(&c->f, &k1), 0);
        assert_int_equal(check(c, &c->parent, "narrow", &ttl, true, &reply), 0);
        assert_int_equal(fixture_insert(&c->f, &k2), 0);
        expect_denied(c, &c->parent, "narrow", 60 * SEC, true, "already has 2 live sub-agents");

        assert_int_equal(delegation_add_children(&c->f.b, "ag-parent", &ids, &n, &cap), 0);
        assert_int_equal(n, 2);
        assert_true(ids[0] == k1.id && ids[1] == k2.id);
        free(ids);

        /* An ended child frees its place. */
        assert_int_equal(store_begin(c->f.b.store), 0);
        assert_int_equal(store_end_identity(c->f.b.store, k1.id, IDENTITY_REVOKED, now_usec(), NULL), 0);
        assert_int_equal(store_commit(c->f.b.store), 0);
        assert_int_equal(check(c, &c->parent, "narrow", &ttl, true, &reply), 0);
}

static void test_depth_limit(void **state) {
        struct ctx *c = *state;
        struct identity child = fixture_identity("ag-child", 71021, "parent", "ag-parent", now_usec() + HOUR),
                        grandchild = fixture_identity("ag-grandchild", 71022, "parent", "ag-child",
                                                      now_usec() + HOUR);
        struct reply reply;
        uint64_t ttl = 60 * SEC;

        assert_int_equal(fixture_insert(&c->f, &child), 0);
        assert_int_equal(fixture_insert(&c->f, &grandchild), 0);
        /* "parent" allows two levels: a child of the child is at depth 2. */
        assert_int_equal(check(c, &child, "narrow", &ttl, true, &reply), 0);
        expect_denied(c, &grandchild, "narrow", 60 * SEC, true, "would be at depth 3");
}

static void test_unloaded_template_refused(void **state) {
        struct ctx *c = *state;
        struct identity orphan = fixture_identity("ag-orphan", 71031, "gone", NULL, now_usec() + HOUR);

        assert_int_equal(fixture_insert(&c->f, &orphan), 0);
        expect_denied(c, &orphan, "narrow", 60 * SEC, true, "is no longer loaded");
}

static void test_chain_and_act(void **state) {
        struct ctx *c = *state;
        struct identity child = fixture_identity("ag-child", 71041, "parent", "ag-parent", now_usec() + HOUR),
                        grandchild = fixture_identity("ag-grandchild", 71042, "narrow", "ag-child",
                                                      now_usec() + HOUR);
        json_t *chain, *act, *e;

        assert_int_equal(fixture_insert(&c->f, &child), 0);
        assert_int_equal(fixture_insert(&c->f, &grandchild), 0);

        /* Nearest first: parent, its parent, the user who minted the top
         * agent, and whom that user acted for. */
        chain = delegation_chain(&c->f.b, &grandchild);
        assert_non_null(chain);
        assert_int_equal(json_array_size(chain), 4);
        e = json_array_get(chain, 0);
        assert_string_equal(json_string_value(json_object_get(e, "sub")), "ag-child");
        assert_string_equal(json_string_value(json_object_get(e, "kind")), "agent");
        assert_int_equal(json_integer_value(json_object_get(e, "uid")), 71041);
        e = json_array_get(chain, 1);
        assert_string_equal(json_string_value(json_object_get(e, "sub")), "ag-parent");
        e = json_array_get(chain, 2);
        assert_string_equal(json_string_value(json_object_get(e, "sub")), "root");
        assert_string_equal(json_string_value(json_object_get(e, "kind")), "user");
        assert_int_equal(json_integer_value(json_object_get(e, "uid")), 0);
        e = json_array_get(chain, 3);
        assert_string_equal(json_string_value(json_object_get(e, "sub")), "alice@example.org");
        assert_string_equal(json_string_value(json_object_get(e, "kind")), "on_behalf_of");
        assert_null(json_object_get(e, "uid"));

        /* RFC 8693 "act": the actors nested, the agent itself (the current
         * actor) outermost, then its parents, then the user who minted the
         * top one; whom they act for is the token's sub, not an actor. */
        act = delegation_act(&grandchild, chain);
        assert_non_null(act);
        assert_string_equal(json_string_value(json_object_get(act, "sub")), "ag-grandchild");
        assert_int_equal(json_integer_value(json_object_get(act, AGENTID_CLAIM_UID)), 71042);
        e = json_object_get(act, "act");
        assert_string_equal(json_string_value(json_object_get(e, "sub")), "ag-child");
        assert_int_equal(json_integer_value(json_object_get(e, AGENTID_CLAIM_UID)), 71041);
        e = json_object_get(e, "act");
        assert_string_equal(json_string_value(json_object_get(e, "sub")), "ag-parent");
        e = json_object_get(e, "act");
        assert_string_equal(json_string_value(json_object_get(e, "sub")), "root");
        assert_int_equal(json_integer_value(json_object_get(e, AGENTID_CLAIM_UID)), 0);
        assert_null(json_object_get(e, "act"));
        assert_null(json_object_get(e, "kind")); /* act carries sub and uid only */
        assert_string_equal(delegation_principal(chain), "alice@example.org");
        json_decref(act);
        json_decref(chain);

        /* No chain: the agent alone acts, for nobody else. */
        chain = json_array();
        act = delegation_act(&grandchild, chain);
        assert_string_equal(json_string_value(json_object_get(act, "sub")), "ag-grandchild");
        assert_null(json_object_get(act, "act"));
        assert_null(delegation_principal(chain));
        json_decref(act);
        json_decref(chain);
}

/* A store edited by hand (or a bug) could hold a parent that is missing
 * or a loop of parents: the chain stays bounded and names what it can. */
static void test_chain_hostile_store(void **state) {
        struct ctx *c = *state;
        struct identity lost = fixture_identity("ag-lost", 71051, "parent", "ag-vanished", now_usec() + HOUR),
                        a = fixture_identity("ag-loop-a", 71052, "parent", "ag-loop-b", now_usec() + HOUR),
                        b = fixture_identity("ag-loop-b", 71053, "parent", "ag-loop-a", now_usec() + HOUR);
        json_t *chain;
        struct reply reply;
        uint64_t ttl = 60 * SEC;

        assert_int_equal(fixture_insert(&c->f, &lost), 0);
        chain = delegation_chain(&c->f.b, &lost);
        assert_int_equal(json_array_size(chain), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(chain, 0), "sub")), "ag-vanished");
        assert_null(json_object_get(json_array_get(chain, 0), "uid"));
        json_decref(chain);

        assert_int_equal(fixture_insert(&c->f, &a), 0);
        assert_int_equal(fixture_insert(&c->f, &b), 0);
        chain = delegation_chain(&c->f.b, &a);
        assert_non_null(chain);
        assert_true(json_array_size(chain) <= AGENTID_DELEGATION_DEPTH_MAX + 1);
        json_decref(chain);
        /* And a loop is as deep as the limit allows: no sub-agents. */
        assert_true(check(c, &a, "narrow", &ttl, true, &reply) < 0);
}

static void test_caller_agent(void **state) {
        struct ctx *c = *state;
        struct identity got, expired = fixture_identity("ag-late", 71061, "parent", NULL, now_usec() - SEC),
                             revoked = fixture_identity("ag-revoked", 71062, "parent", NULL, now_usec() + HOUR);
        struct caller root = { .uid = 0, .pid = 1 }, stranger = { .uid = 71999, .pid = 2 },
                      late = { .uid = 71061, .pid = 3 }, gone = { .uid = 71062, .pid = 4 };

        assert_int_equal(broker_caller_agent(&c->f.b, &c->caller, &got), 0);
        assert_string_equal(got.name, "ag-parent");
        /* Root is never an agent, whatever the store says. */
        assert_int_equal(broker_caller_agent(&c->f.b, &root, &got), -ENOENT);
        assert_int_equal(broker_caller_agent(&c->f.b, &stranger, &got), -ENOENT);
        /* A process left over from an agent past its TTL or revoked is
         * nobody. */
        assert_int_equal(fixture_insert(&c->f, &expired), 0);
        assert_int_equal(broker_caller_agent(&c->f.b, &late, &got), -ENOENT);
        assert_int_equal(fixture_insert(&c->f, &revoked), 0);
        assert_int_equal(store_begin(c->f.b.store), 0);
        assert_int_equal(store_end_identity(c->f.b.store, revoked.id, IDENTITY_REVOKED, now_usec(), NULL), 0);
        assert_int_equal(store_commit(c->f.b.store), 0);
        assert_int_equal(broker_caller_agent(&c->f.b, &gone, &got), -ENOENT);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_narrower_child_allowed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_broader_child_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ttl_inside_the_parents, setup, teardown),
                cmocka_unit_test_setup_teardown(test_children_limit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_depth_limit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unloaded_template_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_chain_and_act, setup, teardown),
                cmocka_unit_test_setup_teardown(test_chain_hostile_store, setup, teardown),
                cmocka_unit_test_setup_teardown(test_caller_agent, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
