/* SPDX-License-Identifier: MIT */
/* pam_agentid through Linux-PAM, at unit level: libpamtest drives every
 * management group of the real module under pam_wrapper (service files
 * from PAM_WRAPPER_SERVICE_DIR), against the real broker that
 * tests/integration/pam.sh started. The agent, its token, the module and
 * the broker's paths come from the environment that script sets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <libpamtest.h>
#include <security/pam_appl.h>

/* pam_wrapper reads its service files when it loads, so pam.sh writes
 * them (see there for each service's arguments). */
static const char *agent, *token, *service_dir;

static int setup(void **state) {
        (void) state;
        agent = getenv("AGENTID_TEST_AGENT");
        token = getenv("AGENTID_TEST_TOKEN");
        service_dir = getenv("AGENTID_TEST_DIR");
        return agent && token && service_dir ? 0 : -1;
}

static void expect(const char *service, const char *user, const char *answer, struct pam_testcase *cases,
                   size_t n) {
        const char *answers[] = { answer, answer, answer, NULL };
        struct pamtest_conv_data conv = { .in_echo_off = answers };
        enum pamtest_err perr = _pamtest(service, user, &conv, cases, n, NULL);

        if (perr != PAMTEST_ERR_OK) {
                const struct pam_testcase *failed = _pamtest_failed_case(cases, n);
                fail_msg("%s as %s: %s; operation %d returned %d, expected %d", service, user,
                         pamtest_strerror(perr), failed ? (int) failed->pam_operation : -1, failed ? failed->op_rv : 0,
                         failed ? failed->expected_rv : 0);
        }
}
#define EXPECT(service, user, answer, ...)                                                               \
        do {                                                                                            \
                struct pam_testcase cases_[] = { __VA_ARGS__ };                                         \
                expect(service, user, answer, cases_, sizeof(cases_) / sizeof(cases_[0]));             \
        } while (0)

static void test_human_is_ignored(void **state) {
        (void) state;
        /* root is no agent: every group answers PAM_IGNORE, pam_permit decides. */
        EXPECT("agentid-test", "root", "not asked", pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
               pam_test(PAMTEST_SETCRED, PAM_SUCCESS), pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS),
               pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS), pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS));
        /* ...even when the broker cannot be reached. */
        EXPECT("agentid-nobroker", "root", "not asked", pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
               pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS));
}

static void test_agent_token_all_groups(void **state) {
        (void) state;
        EXPECT("agentid-test", agent, token, pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
               pam_test(PAMTEST_SETCRED, PAM_SUCCESS), pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS),
               pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS), pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS));
}

static void test_agent_bad_token(void **state) {
        (void) state;
        EXPECT("agentid-test", agent, "not-a-token", pam_test(PAMTEST_AUTHENTICATE, PAM_AUTH_ERR));
        /* A genuine token for another audience does not open this service. */
        EXPECT("agentid-audience", agent, token, pam_test(PAMTEST_AUTHENTICATE, PAM_AUTH_ERR));
}

static void test_agent_fails_closed_without_broker(void **state) {
        (void) state;
        EXPECT("agentid-nobroker", agent, token, pam_test(PAMTEST_AUTHENTICATE, PAM_AUTHINFO_UNAVAIL));
        /* account cannot confirm the agent is live: refused. */
        EXPECT("agentid-nobroker", agent, token, pam_test(PAMTEST_ACCOUNT, PAM_AUTH_ERR));
}

static void test_service_rule_deny(void **state) {
        (void) state;
        /* A final refusal is not PAM_AUTH_ERR/PAM_PERM_DENIED, which sudo
         * retries as a wrong password ("3 incorrect password attempts"). */
        EXPECT("agentid-deny", agent, token, pam_test(PAMTEST_AUTHENTICATE, PAM_CRED_INSUFFICIENT));
}

static void test_debug_and_unknown_arguments(void **state) {
        (void) state;
        /* Unknown and malformed arguments are logged and ignored. */
        EXPECT("agentid-debug", agent, token, pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
               pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS));
}

static void test_timeout_bounds_a_silent_broker(void **state) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct timespec t0, t1;
        double elapsed;
        int fd;
        (void) state;

        /* A "broker" that accepts connections and never answers, where the
         * agentid-silent service's socket= points. */
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/silent.sock", service_dir);
        unlink(sa.sun_path);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 16), 0);

        clock_gettime(CLOCK_MONOTONIC, &t0);
        EXPECT("agentid-silent", agent, token, pam_test(PAMTEST_AUTHENTICATE, PAM_AUTHINFO_UNAVAIL));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        elapsed = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        close(fd);
        unlink(sa.sun_path);
        /* Bounded by timeout=, not by the 3 s default or the socket. */
        if (elapsed > 1.5)
                fail_msg("a silent broker held the login for %.2fs", elapsed);
}

static int answer_token(int n, const struct pam_message **msg, struct pam_response **resp, void *data) {
        struct pam_response *r = calloc((size_t) n, sizeof(*r));
        (void) data;
        if (!r)
                return PAM_BUF_ERR;
        for (int k = 0; k < n; k++)
                if (msg[k]->msg_style == PAM_PROMPT_ECHO_OFF)
                        r[k].resp = strdup(token);
        *resp = r;
        return PAM_SUCCESS;
}

/* The module asks on one connection per PAM handle. When the broker has
 * closed it between two phases (idle_timeout, as here, or a restart), the
 * next phase asks again on a new one rather than failing the agent. */
static void test_connection_closed_between_phases(void **state) {
        struct pam_conv conv = { answer_token, NULL };
        const char *idle = getenv("AGENTID_TEST_IDLE_MS");
        pam_handle_t *h = NULL;
        int rc;

        (void) state;
        if (!idle)
                skip();
        assert_int_equal(pam_start("agentid-test", agent, &conv, &h), PAM_SUCCESS);
        assert_int_equal(pam_authenticate(h, 0), PAM_SUCCESS);
        /* The broker closes idle connections within half their timeout. */
        usleep((useconds_t) (atoi(idle) * 2 * 1000));
        rc = pam_acct_mgmt(h, 0);
        pam_end(h, rc);
        assert_int_equal(rc, PAM_SUCCESS);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_human_is_ignored),
                cmocka_unit_test(test_agent_token_all_groups),
                cmocka_unit_test(test_agent_bad_token),
                cmocka_unit_test(test_agent_fails_closed_without_broker),
                cmocka_unit_test(test_service_rule_deny),
                cmocka_unit_test(test_debug_and_unknown_arguments),
                cmocka_unit_test(test_timeout_bounds_a_silent_broker),
                cmocka_unit_test(test_connection_closed_between_phases),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
