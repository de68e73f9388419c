/* SPDX-License-Identifier: MIT */
/* PAM session rows (broker/pam-session.c): a session closes once, and only
 * by the agent that opened it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agentid/pam.h"
#include "broker-fixture.h"
#include "duration.h"
#include "pam-session.h"

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

static void test_sessions(void **state) {
        struct fixture *f = *state;
        struct identity i = fixture_identity("ag-login", 72100, "ops", NULL, now_usec() + 3600 * SEC);
        char service[AGENTID_SERVICE_MAX + 1] = "";
        int64_t id = 0;

        assert_int_equal(pam_session_insert(&f->b, &i, "sshd", 4242, "pts/1", "10.0.0.1", &id), 0);
        assert_true(id > 0);
        /* Another agent cannot close it. */
        assert_int_equal(pam_session_close(&f->b, id, "ag-other", service, sizeof(service)), -ENOENT);
        assert_int_equal(pam_session_close(&f->b, id, "ag-login", service, sizeof(service)), 0);
        assert_string_equal(service, "sshd");
        /* Closed once. */
        assert_int_equal(pam_session_close(&f->b, id, "ag-login", service, sizeof(service)), -ENOENT);
        assert_int_equal(pam_session_close(&f->b, id + 1000, "ag-login", service, sizeof(service)), -ENOENT);
        assert_int_equal(pam_session_close(&f->b, -1, "ag-login", service, sizeof(service)), -ENOENT);
}

/* Hostile text is data: an agent name that looks like SQL or a pattern
 * closes nothing. */
static void test_hostile_agent_names(void **state) {
        struct fixture *f = *state;
        struct identity i = fixture_identity("ag-login", 72101, "ops", NULL, now_usec() + 3600 * SEC);
        char service[AGENTID_SERVICE_MAX + 1] = "";
        int64_t id = 0;

        assert_int_equal(pam_session_insert(&f->b, &i, "sudo", 4243, NULL, NULL, &id), 0);
        assert_int_equal(pam_session_close(&f->b, id, "%", service, sizeof(service)), -ENOENT);
        assert_int_equal(pam_session_close(&f->b, id, "x' OR '1'='1", service, sizeof(service)), -ENOENT);
        assert_int_equal(pam_session_close(&f->b, id, "", service, sizeof(service)), -ENOENT);
        /* Still open for its own agent. */
        assert_int_equal(pam_session_close(&f->b, id, "ag-login", service, sizeof(service)), 0);
        assert_string_equal(service, "sudo");
}


int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hostile_agent_names, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
