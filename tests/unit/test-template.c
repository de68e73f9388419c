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

#include "template.h"

static char dir[64];
static int reports;
static char last_report[1024];

static void report(const char *m) {
        reports++;
        snprintf(last_report, sizeof(last_report), "%s", m);
}

static void write_file(const char *name, const char *text) {
        char path[128];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static int setup(void **state) {
        (void) state;
        strcpy(dir, "/tmp/agentid-template-test.XXXXXX");
        assert_non_null(mkdtemp(dir));
        reports = 0;
        last_report[0] = '\0';
        return 0;
}

static int teardown(void **state) {
        char cmd[128];
        (void) state;
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

static int parse(const char *text, struct template *t, char *error, size_t size) {
        char path[128];
        write_file("t.conf", text);
        snprintf(path, sizeof(path), "%s/t.conf", dir);
        return template_parse_file(path, t, error, size);
}

static void test_full_template(void **state) {
        struct template t;
        char error[512];
        (void) state;

        assert_int_equal(parse("[template]\n"
                               "name = triage\n"
                               "description = Ticket triage bots\n"
                               "ttl = 5m\n"
                               "max_ttl = 1h\n"
                               "groups = daemon, adm\n"
                               "invokers = root @adm 4242\n"
                               "approvers = @daemon\n"
                               "sudo = approve\n"
                               "ssh = allow\n"
                               "scopes = tickets:read tickets:write\n"
                               "home = /var/lib/agentid/home/%n\n"
                               "shell = /bin/bash\n",
                               &t, error, sizeof(error)),
                         0);
        assert_string_equal(t.name, "triage");
        assert_int_equal(t.ttl_usec, UINT64_C(300000000));
        assert_int_equal(t.max_ttl_usec, UINT64_C(3600000000));
        assert_int_equal(t.n_groups, 2);
        assert_string_equal(t.group_names[1], "adm");
        assert_int_equal(t.invokers.n_uids, 2);
        assert_int_equal(t.invokers.uids[1], 4242);
        assert_int_equal(t.invokers.n_gids, 1);
        assert_int_equal(t.sudo, STEP_APPROVE);
        assert_int_equal(t.ssh, STEP_ALLOW);
        assert_int_equal(t.n_scopes, 2);
        assert_string_equal(t.shell, "/bin/bash");

        char home[128];
        assert_int_equal(template_home_for(&t, "ag-triage-bcdfgh", "/st", home, sizeof(home)), 0);
        assert_string_equal(home, "/var/lib/agentid/home/ag-triage-bcdfgh");
        assert_int_equal(template_home_for(&t, "ag-triage-bcdfgh", "/st", home, 10), -ENAMETOOLONG);
        /* The default keeps homes under the broker's state directory. */
        template_default(&t);
        assert_int_equal(template_home_for(&t, "ag-x", "/tmp/state", home, sizeof(home)), 0);
        assert_string_equal(home, "/tmp/state/home/ag-x");
        assert_int_equal(parse("[template]\nname = x\nhome = %S/agents/%n\n", &t, error, sizeof(error)), 0);
        assert_string_equal(t.home, "%S/agents/%n");
}

static void test_invokers_default_to_nobody(void **state) {
        struct template t;
        char error[512];
        (void) state;
        assert_int_equal(parse("[template]\nname = x\n", &t, error, sizeof(error)), 0);
        assert_int_equal(t.invokers.n_uids + t.invokers.n_gids, 0);
        assert_int_equal(t.sudo, STEP_DENY);
        assert_int_equal(t.ssh, STEP_DENY);
        /* ttl alone raises max_ttl to fit it; max_ttl alone lowers ttl */
        assert_int_equal(parse("[template]\nname = x\nttl = 2h\n", &t, error, sizeof(error)), 0);
        assert_true(t.max_ttl_usec >= t.ttl_usec);
        assert_int_equal(parse("[template]\nname = x\nmax_ttl = 30s\n", &t, error, sizeof(error)), 0);
        assert_int_equal(t.ttl_usec, UINT64_C(30000000));
}

static void test_errors_have_file_and_line(void **state) {
        static const struct {
                const char *text;
                const char *expect; /* substring of the error, after file: */
        } cases[] = {
                { "[template]\nname = x\nbogus = 1\n", "t.conf:3: unknown key \"bogus\"" },
                { "[template]\nname = x\nttl = forever\n", "t.conf:3: ttl must be" },
                { "[template]\nname = x\nttl = 8d\n", "t.conf:3: ttl must be" },
                { "[template]\nname = x\nttl = 1h\nmax_ttl = 5m\n", "ttl is longer than max_ttl" },
                { "[template]\nname = x\ngroups = no-such-group-zz\n", "t.conf:3: unknown group" },
                { "[template]\nname = x\ngroups = root\n", "t.conf:3: group \"root\" is gid 0" },
                { "[template]\nname = x\ninvokers = no-such-user-zz\n", "t.conf:3: invokers: unknown user" },
                { "[template]\nname = x\nsudo = maybe\n", "t.conf:3: sudo must be" },
                { "[template]\nname = x\nhome = relative/%n\n", "t.conf:3: home must be" },
                { "[template]\nname = x\nhome = /var/lib/shared\n", "t.conf:3: home must be" },
                { "[template]\nname = Bad Name\n", "t.conf:2: name must be" },
                { "[template]\ndescription = nameless\n", "no name = in [template]" },
                { "[other]\nname = x\n", "t.conf:2: unknown section [other]" },
                { "[template]\nname = x\nthis line has no equals sign\n", "t.conf:3: syntax error" },
        };
        (void) state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct template t;
                char error[512] = "";
                assert_int_not_equal(parse(cases[i].text, &t, error, sizeof(error)), 0);
                if (!strstr(error, cases[i].expect))
                        fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, error, cases[i].expect);
        }
}

static void test_set_skips_invalid_and_duplicates(void **state) {
        struct template_set set;
        (void) state;

        write_file("10-good.conf", "[template]\nname = good\ninvokers = root\n");
        write_file("20-bad.conf", "[template]\nname = bad\nttl = nope\n");
        write_file("30-dup.conf", "[template]\nname = good\n");
        write_file("40-other.conf", "[template]\nname = other\n");
        write_file("README", "not a template");
        assert_int_equal(template_set_load(&set, dir, report), 0);
        assert_int_equal(set.n, 2);
        assert_non_null(template_set_find(&set, "good"));
        assert_non_null(template_set_find(&set, "other"));
        assert_null(template_set_find(&set, "bad"));
        assert_null(template_set_find(&set, "default")); /* not built in once any exist */
        assert_int_equal(reports, 2);
        assert_non_null(strstr(last_report, "30-dup.conf"));
        template_set_free(&set);
}

static void test_set_default_when_empty(void **state) {
        struct template_set set;
        const struct template *t;
        (void) state;

        write_file("broken.conf", "[template]\nname = broken\nsudo = yes\n");
        assert_int_equal(template_set_load(&set, dir, report), 0);
        assert_int_equal(set.n, 1);
        t = template_set_find(&set, "default");
        assert_non_null(t);
        assert_int_equal(t->sudo, STEP_DENY);
        assert_int_equal(t->ssh, STEP_DENY);
        assert_int_equal(t->n_groups, 0);
        assert_true(t->ttl_usec <= UINT64_C(300000000));
        template_set_free(&set);

        assert_int_equal(template_set_load(&set, "/nonexistent/agentid", report), 0);
        assert_non_null(template_set_find(&set, "default"));
        template_set_free(&set);
}

static void test_confinement_defaults_and_keys(void **state) {
        struct template t;
        char error[512];
        (void) state;

        assert_int_equal(parse("[template]\nname = plain\n", &t, error, sizeof(error)), 0);
        assert_int_equal(t.confinement.protect_system, PROTECT_SYSTEM_STRICT);
        assert_int_equal(t.confinement.tasks_max, 512);
        assert_true(t.confinement.memory_max == CONFINEMENT_UNLIMITED);
        assert_true(t.confinement.restrict_namespaces);

        assert_int_equal(parse("[template]\n"
                               "name = web\n"
                               "ProtectSystem = full\n"
                               "ProtectHome = read-only\n"
                               "ReadWritePaths = /etc/nginx -/srv/maybe\n"
                               "ReadWritePaths = /var/www\n"
                               "ReadOnlyPaths = /opt\n"
                               "InaccessiblePaths = /root\n"
                               "PrivateNetwork = yes\n"
                               "TasksMax = infinity\n"
                               "MemoryMax = 512M\n"
                               "CPUQuota = 150%\n"
                               "LimitNOFILE = 1024:4096\n"
                               "RestrictNamespaces = no\n",
                               &t, error, sizeof(error)),
                         0);
        assert_int_equal(t.confinement.protect_system, PROTECT_SYSTEM_FULL);
        assert_int_equal(t.confinement.protect_home, PROTECT_HOME_READ_ONLY);
        assert_int_equal(t.confinement.read_write.n, 3);
        assert_string_equal(t.confinement.read_write.items[1].path, "/srv/maybe");
        assert_true(t.confinement.read_write.items[1].optional);
        assert_true(t.confinement.private_network);
        assert_true(t.confinement.tasks_max == CONFINEMENT_UNLIMITED);
        assert_int_equal(t.confinement.memory_max, UINT64_C(512) << 20);
        assert_int_equal(t.confinement.cpu_quota_percent, 150);
        assert_int_equal(t.confinement.limit_nofile_soft, 1024);
        assert_int_equal(t.confinement.limit_nofile_hard, 4096);
        assert_false(t.confinement.restrict_namespaces);

        /* A template that allows sudo gets no namespaces either, unless it
         * says so: both runtimes install the filter without no_new_privs. */
        assert_int_equal(parse("[template]\nname = s\nsudo = approve\n", &t, error, sizeof(error)), 0);
        assert_true(t.confinement.restrict_namespaces);
        assert_int_equal(parse("[template]\nname = s\nRestrictNamespaces = no\nsudo = allow\n", &t, error,
                               sizeof(error)),
                         0);
        assert_false(t.confinement.restrict_namespaces);
        assert_int_equal(parse("[template]\nname = s\nRestrictNamespaces = yes\nsudo = allow\n", &t, error,
                               sizeof(error)),
                         0);
        assert_true(t.confinement.restrict_namespaces);

        /* An empty assignment resets a path list, as in systemd. */
        assert_int_equal(parse("[template]\nname = r\nReadOnlyPaths = /a /b\nReadOnlyPaths =\n", &t, error,
                               sizeof(error)),
                         0);
        assert_int_equal(t.confinement.read_only.n, 0);
}

static void test_confinement_invalid_is_refused_with_line(void **state) {
        static const char *const bad[] = {
                "ProtectSystem = sometimes", "ProtectHome = maybe", "ReadWritePaths = relative/path",
                "ReadWritePaths = /a/../etc", "InaccessiblePaths = +/x", "PrivateNetwork = perhaps",
                "TasksMax = 0", "TasksMax = 10%", "MemoryMax = lots", "MemoryMax = 1X", "CPUQuota = 50",
                "CPUQuota = 0%", "LimitNOFILE = 10:5", "LimitNOFILE = -1", "MemoryLimit = 1G", "protectsystem = yes",
                "RestrictNamespaces = user net", "RestrictNamespaces = ~cgroup",
        };
        struct template t;
        char text[256], error[512];
        (void) state;

        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
                snprintf(text, sizeof(text), "[template]\nname = bad\n%s\n", bad[k]);
                assert_int_not_equal(parse(text, &t, error, sizeof(error)), 0);
                assert_non_null(strstr(error, "t.conf:3:"));
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_full_template, setup, teardown),
                cmocka_unit_test_setup_teardown(test_invokers_default_to_nobody, setup, teardown),
                cmocka_unit_test_setup_teardown(test_errors_have_file_and_line, setup, teardown),
                cmocka_unit_test_setup_teardown(test_set_skips_invalid_and_duplicates, setup, teardown),
                cmocka_unit_test_setup_teardown(test_set_default_when_empty, setup, teardown),
                cmocka_unit_test_setup_teardown(test_confinement_defaults_and_keys, setup, teardown),
                cmocka_unit_test_setup_teardown(test_confinement_invalid_is_refused_with_line, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
