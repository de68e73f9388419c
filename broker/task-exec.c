/* SPDX-License-Identifier: MIT */
/* agentid-task-exec: the first program of a systemd-runtime task's unit.
 *
 * systemd starts it as root in the task's own unit (its cgroup, limits,
 * lifetime and kill are systemd's); it enters new mount and IPC namespaces
 * (and a network namespace for PrivateNetwork=yes), builds the task's view
 * of the file system exactly as the direct runtime does (task-view.c),
 * installs Landlock's scopes and the system call filter while still root,
 * becomes the agent and execs the command, which keeps its PID: the unit's
 * main process is the command.
 *
 * Why not systemd's own ProtectSystem=, PrivateTmp= and PrivateIPC=: with
 * any of them systemd 252 builds the namespace in the unit's child by
 * re-reading /proc/self/mountinfo around each of its steps, which costs a
 * task as much as the whole of `systemd-run -p DynamicUser=yes` (the
 * anchor the brief compares against, docs/performance.md); built here it
 * costs a few hundred microseconds.
 *
 * Only the broker writes its command line (runtime-systemd.c), and the
 * invoker's environment reaches it inside one variable, never as its own:
 * this program runs as root, and the loader would honour LD_PRELOAD and
 * its kind. Any failure before exec: one line on the task's standard
 * error and exit status 226 (systemd's own "namespace" failure code);
 * 127 when the command cannot be executed. */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentid/limits.h"
#include "base64url.h"
#include "confinement.h"
#include "landlock.h"
#include "syscall-filter.h"
#include "task-exec.h"
#include "task-view.h"

static _Noreturn void fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static _Noreturn void fail(int status, const char *fmt, ...) {
        va_list ap;

        fputs("agentid-task-exec: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(status);
}

static bool parse_id(const char *s, unsigned long *ret) {
        char *end;

        errno = 0;
        *ret = strtoul(s, &end, 10);
        return errno == 0 && end != s && *end == '\0' && *ret < UINT32_MAX;
}

static const char *option(const char *arg, const char *name) {
        size_t n = strlen(name);
        return strncmp(arg, name, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

/* The command's environment: NUL-separated "NAME=value" strings, base64url
 * encoded in one variable (task-exec.h). */
static char **decode_environment(const char *encoded) {
        size_t len = strlen(encoded), size = BASE64URL_DECODED_MAX(len) + 1, n = 0;
        uint8_t *block = malloc(size);
        char **env;
        int r;

        if (!block)
                fail(TASK_EXEC_EXIT_SETUP, "out of memory");
        r = base64url_decode(encoded, len, block, size - 1);
        if (r < 0)
                fail(TASK_EXEC_EXIT_SETUP, "the environment is not valid base64url");
        block[r] = '\0';
        env = calloc((size_t) r + 2, sizeof(char *));
        if (!env)
                fail(TASK_EXEC_EXIT_SETUP, "out of memory");
        for (size_t k = 0; k < (size_t) r; k += strlen((char *) block + k) + 1) {
                if (!strchr((char *) block + k, '='))
                        fail(TASK_EXEC_EXIT_SETUP, "the environment holds an entry without '='");
                env[n++] = (char *) block + k;
        }
        env[n] = NULL;
        return env;
}

int main(int argc, char **argv) {
        struct confinement c;
        struct task_view_error e = { "" };
        struct syscall_filter filter = {};
        gid_t groups[AGENTID_TEMPLATE_GROUPS_MAX];
        size_t n_groups = 0;
        unsigned long uid = ULONG_MAX, gid = ULONG_MAX, v;
        const char *home = NULL, *cwd = NULL, *socket_dir = NULL, *encoded;
        bool no_new_privs = false;
        char why[512], **env;
        int k, r;

        if (geteuid() != 0)
                fail(TASK_EXEC_EXIT_SETUP, "must be started as root, by agentidd's systemd runtime");
        confinement_default(&c);
        for (k = 1; k < argc && strcmp(argv[k], "--") != 0; k++) {
                const char *a = argv[k], *val;
                char *eq;

                if ((val = option(a, "--uid"))) {
                        if (!parse_id(val, &uid) || uid == 0)
                                fail(TASK_EXEC_EXIT_SETUP, "bad --uid: %s", val);
                } else if ((val = option(a, "--gid"))) {
                        if (!parse_id(val, &gid) || gid == 0)
                                fail(TASK_EXEC_EXIT_SETUP, "bad --gid: %s", val);
                } else if ((val = option(a, "--group"))) {
                        if (!parse_id(val, &v) || n_groups == AGENTID_TEMPLATE_GROUPS_MAX)
                                fail(TASK_EXEC_EXIT_SETUP, "bad --group: %s", val);
                        groups[n_groups++] = (gid_t) v;
                } else if ((val = option(a, "--home")))
                        home = val;
                else if ((val = option(a, "--cwd")))
                        cwd = val;
                else if ((val = option(a, "--socket-dir")))
                        socket_dir = val;
                else if (strcmp(a, "--no-new-privs") == 0)
                        no_new_privs = true;
                else if (a[0] != '-' && (eq = strchr(a, '='))) {
                        /* A confinement key, spelled as in the template. */
                        char key[64];
                        size_t n = (size_t) (eq - a);
                        if (n >= sizeof(key))
                                fail(TASK_EXEC_EXIT_SETUP, "unknown argument %.64s", a);
                        memcpy(key, a, n);
                        key[n] = '\0';
                        if (!confinement_key_is_known(key))
                                fail(TASK_EXEC_EXIT_SETUP, "unknown key %s", key);
                        if (confinement_parse(&c, key, eq + 1, why, sizeof(why)) < 0)
                                fail(TASK_EXEC_EXIT_SETUP, "%s", why);
                } else
                        fail(TASK_EXEC_EXIT_SETUP, "unknown argument %.64s", a);
        }
        /* After "--": the command's absolute path, then its argv from argv[0]. */
        if (k + 2 >= argc || argv[k + 1][0] != '/')
                fail(TASK_EXEC_EXIT_SETUP, "usage: agentid-task-exec --uid=UID --gid=GID --home=DIR [OPTION|Key=value]... -- "
                                 "/PATH ARGV0 [ARG]...");
        if (uid == ULONG_MAX || gid == ULONG_MAX || !home || home[0] != '/')
                fail(TASK_EXEC_EXIT_SETUP, "--uid, --gid and an absolute --home are required");
        encoded = getenv(TASK_EXEC_ENVIRONMENT);
        env = decode_environment(encoded ? encoded : "");
        if (task_view_check(&c, home, why, sizeof(why)) < 0)
                fail(TASK_EXEC_EXIT_SETUP, "%s", why);

        /* Compiled before the namespaces: it reads nothing of the file
         * system, but it is the one step here that allocates much. */
        r = syscall_filter_build(c.restrict_namespaces, &filter);
        if (r < 0 && r != -EOPNOTSUPP)
                fail(TASK_EXEC_EXIT_SETUP, "cannot build the system call filter: %s", strerror(-r));
        if (!filter.program && c.restrict_namespaces)
                fail(TASK_EXEC_EXIT_SETUP, "RestrictNamespaces=yes cannot be enforced: the kernel has no seccomp filtering");

        if (unshare(CLONE_NEWNS | CLONE_NEWIPC | (c.private_network ? CLONE_NEWNET : 0)) < 0)
                fail(TASK_EXEC_EXIT_SETUP, "cannot create the task's namespaces: %s", strerror(errno));
        if (task_view_setup(&(const struct task_view) { .confinement = &c, .home = home, .socket_dir = socket_dir },
                            &e) < 0)
                fail(TASK_EXEC_EXIT_SETUP, "%s", e.text);

        /* Landlock's scopes and the filter while root: neither needs
         * no_new_privs then, so an approved sudo keeps working. */
        r = landlock_confine();
        if (r < 0)
                fail(TASK_EXEC_EXIT_SETUP, "Landlock: %s", strerror(-r));
        if (filter.program && (r = syscall_filter_install(&filter)) < 0)
                fail(TASK_EXEC_EXIT_SETUP, "cannot install the system call filter: %s", strerror(-r));
        if (setgroups(n_groups, groups) < 0 || setresgid((gid_t) gid, (gid_t) gid, (gid_t) gid) < 0 ||
            setresuid((uid_t) uid, (uid_t) uid, (uid_t) uid) < 0)
                fail(TASK_EXEC_EXIT_SETUP, "cannot become uid %lu: %s", uid, strerror(errno));
        if (no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                fail(TASK_EXEC_EXIT_SETUP, "no_new_privs: %s", strerror(errno));
        /* As the agent: its working directory is one it may enter. */
        if (chdir(cwd ? cwd : home) < 0)
                fail(TASK_EXEC_EXIT_SETUP, "cannot enter %s: %s", cwd ? cwd : home, strerror(errno));
        execve(argv[k + 1], argv + k + 2, env);
        fail(TASK_EXEC_EXIT_EXEC, "cannot execute %s: %s", argv[k + 1], strerror(errno));
}
