/* SPDX-License-Identifier: MIT */
/* The systemd runtime: a task is a transient service unit.
 *
 * StartTransientUnit("agentid-task-<agent>.service"), as systemd-run --pipe
 * does: the invoker's stdin, stdout and stderr passed as descriptors, the
 * command with its path resolved in the task's PATH, numeric User=/Group=
 * and SupplementaryGroups=, WorkingDirectory=, Environment=, PrivateTmp=,
 * PrivateIPC=, RemoveIPC=, KillMode=control-group with SIGKILL (what is left
 * when the command exits dies with it), RuntimeMaxSec= from the TTL (systemd
 * ends the task even with the broker down), NoNewPrivileges= unless the
 * template allows sudo, and the template's confinement keys as the unit
 * properties of the same name. AddRef= keeps the unit loaded until the
 * broker has read how it ended.
 *
 * The broker never waits for systemd: StartTransientUnit, KillUnit and
 * StopUnit are sent and their answers handled when they come. It follows
 * the unit through the PropertiesChanged signals systemd sends for it (one
 * match for all task units, made at start), reading the values from the
 * signals themselves: when the unit is inactive or failed every process of
 * its cgroup is gone, and ExecMainCode/ExecMainStatus (sent just before)
 * say how the command ended. To task.c a unit looks like a direct task:
 * two eventfds stand in for the init's pidfd and report pipe. */
#include "runtime.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "agentid/identity.h"
#include "duration.h"
#include "log.h"
#include "macro.h"
#include "runtime-internal.h"
#include "base64url.h"
#include "task-exec.h"
#include "task-view.h"
#include "task.h"
#include "template.h"

#define SYSTEMD_DEST "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"
#define BUS_TIMEOUT_USEC (5 * 1000000ULL)

static bool controller_listed(const char *list, const char *name) {
        char buf[512], *save = NULL;

        snprintf(buf, sizeof(buf), "%s", list);
        for (char *w = strtok_r(buf, " \n", &save); w; w = strtok_r(NULL, " \n", &save))
                if (streq(w, name))
                        return true;
        return false;
}

int systemd_init(struct runtime *rt, char *why, size_t why_size) {
        sd_bus_error err = SD_BUS_ERROR_NULL;
        char controllers[512] = "";
        FILE *f;
        int r;

        r = sd_bus_open_system(&rt->bus);
        if (r < 0) {
                snprintf(why, why_size, "cannot connect to the system bus: %s", strerror(-r));
                return r;
        }
        /* Unit signals go only to subscribed clients. */
        r = sd_bus_call_method(rt->bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "Subscribe", &err, NULL, NULL);
        if (r < 0) {
                snprintf(why, why_size, "systemd does not answer on the system bus: %s",
                         err.message ? err.message : strerror(-r));
                sd_bus_error_free(&err);
                sd_bus_flush_close_unref(rt->bus);
                rt->bus = NULL;
                return r;
        }
        /* Which limits systemd can really enforce: a unified hierarchy's
         * root lists the controllers it has. */
        f = fopen("/sys/fs/cgroup/cgroup.controllers", "re");
        if (f) {
                if (!fgets(controllers, sizeof(controllers), f))
                        controllers[0] = '\0';
                fclose(f);
        }
        rt->systemd_memory = controller_listed(controllers, "memory");
        rt->systemd_cpu = controller_listed(controllers, "cpu");
        rt->systemd_pids = controller_listed(controllers, "pids");
        return 0;
}

void systemd_done(struct runtime *rt) {
        if (rt->bus)
                sd_bus_flush_close_unref(rt->bus);
        rt->bus = NULL;
}

void systemd_process(struct runtime *rt) {
        if (!rt->bus)
                return;
        while (sd_bus_process(rt->bus, NULL) > 0)
                ;
        /* The broker watches the bus for reading only: calls it made that
         * the socket did not take at once (a full buffer: rare, the bus
         * reads its clients quickly) are written now. */
        if (sd_bus_get_events(rt->bus) & POLLOUT)
                (void) sd_bus_flush(rt->bus);
}

int systemd_check(const struct runtime *rt, const struct confinement *c, const char *home, bool no_new_privs,
                  char *why, size_t why_size) {
        (void) no_new_privs; /* agentid-task-exec installs the walls as root: sudo keeps working */
        if (c->memory_max != CONFINEMENT_UNLIMITED && !rt->systemd_memory) {
                snprintf(why, why_size,
                         "MemoryMax= cannot be enforced by the systemd runtime here: systemd has no memory controller "
                         "(cgroup v2 root lists none)");
                return -EOPNOTSUPP;
        }
        if (c->cpu_quota_percent && !rt->systemd_cpu) {
                snprintf(why, why_size,
                         "CPUQuota= cannot be enforced by the systemd runtime here: systemd has no cpu controller");
                return -EOPNOTSUPP;
        }
        if (c->restrict_namespaces && !rt->syscall_filters[1].program) {
                snprintf(why, why_size,
                         "RestrictNamespaces=yes cannot be enforced by the systemd runtime here: the kernel has no "
                         "seccomp filtering");
                return -EOPNOTSUPP;
        }
        /* TasksMax=: LimitNPROC= as well, which needs no controller. */
        return task_view_check(c, home, why, why_size);
}

/* The command as execvp would find it in the task's PATH. */
static int resolve_command(const char *cmd, char **envp, char *ret, size_t size) {
        const char *path = NULL;
        char buf[4096], *save = NULL;

        if (strchr(cmd, '/')) {
                snprintf(ret, size, "%s", cmd);
                return access(ret, X_OK) < 0 ? -errno : 0;
        }
        for (char **e = envp; e && *e; e++)
                if (strncmp(*e, "PATH=", 5) == 0)
                        path = *e + 5;
        snprintf(buf, sizeof(buf), "%s", path ? path : "/usr/bin:/bin");
        for (char *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                struct stat st;
                snprintf(ret, size, "%s/%s", d, cmd);
                if (stat(ret, &st) == 0 && S_ISREG(st.st_mode) && access(ret, X_OK) == 0)
                        return 0;
        }
        return -ENOENT;
}

/* A property's (sv) pair, open for its value of D-Bus type vtype; the
 * builders below fill it and close_property ends it. */
static int open_property(sd_bus_message *m, const char *name, const char *vtype) {
        int r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", name);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', vtype);
        return r;
}

static int close_property(sd_bus_message *m) {
        int r = sd_bus_message_close_container(m); /* the value */
        if (r >= 0)
                r = sd_bus_message_close_container(m); /* the pair */
        return r;
}

static int append_strv_property(sd_bus_message *m, const char *name, char **v) {
        int r = open_property(m, name, "as");
        if (r >= 0)
                r = sd_bus_message_append_strv(m, v);
        if (r >= 0)
                r = close_property(m);
        return r;
}

static int append_exec(sd_bus_message *m, const char *path, char **argv) {
        int r = open_property(m, "ExecStart", "a(sasb)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sasb)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', "sasb");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", path);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, argv);
        if (r >= 0)
                r = sd_bus_message_append(m, "b", 0);
        for (int k = 0; r >= 0 && k < 2; k++)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = close_property(m);
        return r;
}

/* ---- following a unit ---------------------------------------------------- */

/* How the unit's main process ended, from a Get where its signals did not
 * say (a signal that could not be read, a unit re-attached after a broker
 * restart). */
static void read_main_status(struct runtime_task *task) {
        sd_bus_error err = SD_BUS_ERROR_NULL;
        int32_t code = 0, status = 0;

        if (sd_bus_get_property_trivial(task->rt->bus, SYSTEMD_DEST, task->unit_path,
                                        "org.freedesktop.systemd1.Service", "ExecMainCode", &err, 'i', &code) >= 0)
                task->main_code = code;
        sd_bus_error_free(&err);
        if (sd_bus_get_property_trivial(task->rt->bus, SYSTEMD_DEST, task->unit_path,
                                        "org.freedesktop.systemd1.Service", "ExecMainStatus", &err, 'i', &status) >= 0)
                task->main_status = status;
        sd_bus_error_free(&err);
}

/* Send a method call whose answer nobody waits for. */
static void call_no_reply(struct runtime *rt, const char *path, const char *iface, const char *method) {
        sd_bus_message *m = NULL;

        if (sd_bus_message_new_method_call(rt->bus, &m, SYSTEMD_DEST, path, iface, method) >= 0 &&
            sd_bus_message_set_expect_reply(m, 0) >= 0)
                (void) sd_bus_send(rt->bus, m, NULL);
        sd_bus_message_unref(m);
}

/* The unit is inactive or failed, so every process of its cgroup is gone:
 * note how its command ended, wake task.c, and let systemd unload the
 * unit. */
static void unit_gone(struct runtime_task *task, bool ask) {
        uint64_t one = 1;

        if (task->gone)
                return;
        /* systemd sends a unit's Service PropertiesChanged (with
         * ExecMainCode/ExecMainStatus) before its Unit one (ActiveState),
         * so an end seen in a signal comes with its status. */
        if (ask && task->main_code == 0)
                read_main_status(task);
        task->gone = true;
        task->has_status = true;
        if (task->main_code == CLD_EXITED)
                task->wait_status = W_EXITCODE(task->main_status & 0xff, 0);
        else if (task->main_code == CLD_KILLED || task->main_code == CLD_DUMPED)
                task->wait_status = task->main_status & 0x7f;
        else {
                /* Its command never ran (its start job was cancelled, or
                 * failed before the fork): not a success. */
                log_info("task unit %s ended without running its command", task->unit);
                task->wait_status = W_EXITCODE(1, 0);
        }
        /* Nothing to wait for: the unit's processes are gone already. A
         * lost Unref only leaves an inactive unit loaded until the broker's
         * bus connection closes (AddRef= is per client). */
        call_no_reply(task->rt, task->unit_path, "org.freedesktop.systemd1.Unit", "Unref");
        (void) !write(task->pidfd, &one, sizeof(one));
}

/* Ask systemd how the unit is (a round trip: only where no signal said,
 * or a signal could not be read). A unit systemd no longer knows has no
 * process left either. */
static void check_unit(struct runtime_task *task) {
        sd_bus_error err = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *state = NULL;
        int r;

        if (task->gone)
                return;
        r = sd_bus_get_property_string(task->rt->bus, SYSTEMD_DEST, task->unit_path, "org.freedesktop.systemd1.Unit",
                                       "ActiveState", &err, &state);
        if (r < 0) {
                if (sd_bus_error_has_names(&err, "org.freedesktop.systemd1.NoSuchUnit",
                                           "org.freedesktop.DBus.Error.UnknownObject"))
                        unit_gone(task, false);
                sd_bus_error_free(&err);
                return;
        }
        if (streq(state, "inactive") || streq(state, "failed"))
                unit_gone(task, true);
}

/* A task unit's PropertiesChanged: the signal carries the new values, so
 * nothing is asked back (a Get per signal cost a round trip through the
 * bus each, served by systemd between its own steps of starting and
 * stopping the unit, about ten per task). systemd sends every property of
 * the interface that emits changes, Service's before Unit's. */
static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct runtime_task *task = userdata;
        const char *iface, *name, *state = NULL, *job_path;
        uint32_t job = UINT32_MAX; /* not in the signal */
        bool unit, service;
        int r;

        (void) ret_error;
        if (task->gone)
                return 0;
        r = sd_bus_message_read(m, "s", &iface);
        if (r < 0)
                goto fallback;
        unit = streq(iface, "org.freedesktop.systemd1.Unit");
        service = streq(iface, "org.freedesktop.systemd1.Service");
        if (!unit && !service)
                return 0;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                goto fallback;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        goto fallback;
                if (unit && streq(name, "ActiveState"))
                        r = sd_bus_message_read(m, "v", "s", &state);
                else if (unit && streq(name, "Job"))
                        r = sd_bus_message_read(m, "v", "(uo)", &job, &job_path);
                else if (service && streq(name, "ExecMainCode"))
                        r = sd_bus_message_read(m, "v", "i", &task->main_code);
                else if (service && streq(name, "ExecMainStatus"))
                        r = sd_bus_message_read(m, "v", "i", &task->main_status);
                else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        goto fallback;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        goto fallback;
        }
        if (r < 0)
                goto fallback;
        if (!state)
                return 0;
        /* Until its start job has run, a new unit is "inactive" with that
         * job pending: an end is "failed", or "inactive" with no job left
         * (a start job that ran, or was cancelled) or after it was seen
         * running. */
        if (streq(state, "failed") ||
            (streq(state, "inactive") && (job == 0 || task->seen_running || task->main_code != 0)))
                unit_gone(task, false);
        else if (!streq(state, "inactive"))
                task->seen_running = true;
        return 0;
fallback:
        log_debug("unreadable PropertiesChanged of %s: %s", task->unit, strerror(-r));
        check_unit(task);
        return 0;
}

/* The task never started: say why to the invoker (runtime_started) and
 * let task.c collect it at once. */
static void start_failed(struct runtime_task *task, int r, const char *why) {
        uint64_t one = 1;

        snprintf(task->error, sizeof(task->error), "%s", why);
        task->start_result = r < 0 ? r : -EIO;
        task->gone = task->has_status = true;
        task->wait_status = W_EXITCODE(1, 0);
        (void) !write(task->pidfd, &one, sizeof(one));
        (void) !write(task->status_fd, &one, sizeof(one));
}

/* systemd's answer to StartTransientUnit: the job is queued (the invoker
 * hears "started"; an exec failure ends the unit with ExecMainStatus 203
 * like any other end), or the unit was refused and never existed. */
static int on_start_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct runtime_task *task = userdata;
        uint64_t one = 1;

        (void) ret_error;
        if (sd_bus_message_is_method_error(m, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(m);
                int r = sd_bus_message_get_errno(m);
                char why[sizeof(task->error)];
                snprintf(why, sizeof(why), "systemd refused the task's unit %s: %s", task->unit,
                         e && e->message ? e->message : strerror(r > 0 ? r : EIO));
                start_failed(task, -(r > 0 ? r : EIO), why);
                return 0;
        }
        task->start_result = 1;
        (void) !write(task->status_fd, &one, sizeof(one));
        return 0;
}

/* The bus's answer to our match on the unit's signals: only now is the
 * unit asked for, so that no signal of it can come unseen (the bus handles
 * a client's messages in order, so this costs one round trip to the bus,
 * not to systemd). */
static int on_match_installed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct runtime_task *task = userdata;
        sd_bus_message *start = task->start_message;
        char why[sizeof(task->error)];
        int r;

        (void) ret_error;
        if (!start)
                return 0; /* ended before it was asked for (systemd_kill) */
        task->start_message = NULL;
        if (sd_bus_message_is_method_error(m, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(m);
                r = sd_bus_message_get_errno(m);
                snprintf(why, sizeof(why), "cannot follow the task's unit %s: %s", task->unit,
                         e && e->message ? e->message : strerror(r > 0 ? r : EIO));
                start_failed(task, -(r > 0 ? r : EIO), why);
                goto out;
        }
        r = sd_bus_call_async(task->rt->bus, &task->start_slot, start, on_start_reply, task, BUS_TIMEOUT_USEC);
        if (r < 0) {
                snprintf(why, sizeof(why), "cannot ask systemd for the task's unit %s: %s", task->unit, strerror(-r));
                start_failed(task, r, why);
        }
out:
        sd_bus_message_unref(start);
        return 0;
}

static int on_kill_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct runtime_task *task = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        (void) ret_error;
        if (!e)
                return 0;
        log_debug("ending or signalling %s: %s", task->unit, e->message ?: e->name);
        /* Nothing to kill or stop: it may have ended, or never existed. */
        check_unit(task);
        return 0;
}

/* The command line of agentid-task-exec: who the task is, its view of
 * the file system and kernel walls in the template's own words (so that
 * `systemctl status` shows them), then the command. */
struct exec_args {
        char *v[64 + 4 * CONFINEMENT_PATHS_MAX + AGENTID_TEMPLATE_GROUPS_MAX];
        size_t n;
        bool overflow;
};

static void exec_arg(struct exec_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void exec_arg(struct exec_args *a, const char *fmt, ...) {
        va_list ap;
        char *s = NULL;

        if (a->n >= ELEMENTSOF(a->v) - 1) {
                a->overflow = true;
                return;
        }
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                a->overflow = true;
        else
                a->v[a->n++] = s;
        va_end(ap);
}

static void exec_paths(struct exec_args *a, const char *key, const struct confinement_paths *list) {
        exec_arg(a, "%s=", key); /* from an empty list */
        for (size_t k = 0; k < list->n; k++)
                exec_arg(a, "%s=%s%s", key, list->items[k].optional ? "-" : "", list->items[k].path);
}

static void exec_args_free(struct exec_args *a) {
        for (size_t k = 0; k < a->n; k++)
                free(a->v[k]);
        a->n = 0;
}

/* The command's environment as one variable (task-exec.h): NUL-separated,
 * base64url. */
static char *encode_environment(char **envp) {
        _cleanup_free_ char *block = NULL;
        size_t len = 0, at = 0;
        char *value;

        for (char **e = envp; e && *e; e++)
                len += strlen(*e) + 1;
        block = malloc(len + 1);
        if (!block)
                return NULL;
        for (char **e = envp; e && *e; e++) {
                size_t n = strlen(*e) + 1;
                memcpy(block + at, *e, n);
                at += n;
        }
        value = malloc(strlen(TASK_EXEC_ENVIRONMENT) + 1 + BASE64URL_ENCODED_LEN(len) + 1);
        if (!value)
                return NULL;
        sprintf(value, "%s=", TASK_EXEC_ENVIRONMENT);
        if (base64url_encode(block, len, value + strlen(value), BASE64URL_ENCODED_LEN(len) + 1) < 0) {
                free(value);
                return NULL;
        }
        return value;
}

int systemd_start(struct runtime *rt, const struct identity *i, const struct template *t, struct task_spec *spec,
                  struct runtime_task *task, char *error, size_t error_size) {
        const struct confinement *c = &t->confinement;
        sd_bus_message *m = NULL;
        struct exec_args args = {};
        _cleanup_free_ char *environment = NULL;
        char exe[4096], desc[256];
        char *env[2] = {};
        uint64_t now = now_usec(), runtime_max;
        int r;

        *task = (struct runtime_task) { .pid = 0, .pidfd = -1, .status_fd = -1, .rt = rt };
        r = systemd_check(rt, c, i->home, spec->no_new_privs, error, error_size);
        if (r < 0)
                return r;
        snprintf(task->argv0, sizeof(task->argv0), "%s", spec->argv[0]);
        r = resolve_command(spec->argv[0], spec->envp, exe, sizeof(exe));
        if (r < 0) {
                snprintf(error, error_size, "cannot execute %s: %s", spec->argv[0], strerror(-r));
                return r;
        }
        snprintf(task->unit, sizeof(task->unit), "agentid-task-%s.service", i->name);
        snprintf(desc, sizeof(desc), "agentid task of %s", i->name);
        runtime_max = i->expires_usec > now ? i->expires_usec - now : 1;

        /* Who the task is and what it sees: agentid-task-exec's to set up
         * (task-exec.c says why not systemd's), in the template's words. */
        exec_arg(&args, "agentid-task-exec");
        exec_arg(&args, "--uid=%u", (unsigned) i->uid);
        exec_arg(&args, "--gid=%u", (unsigned) i->gid);
        for (size_t k = 0; k < t->n_groups; k++)
                exec_arg(&args, "--group=%u", (unsigned) t->groups[k]);
        exec_arg(&args, "--home=%s", i->home);
        if (spec->cwd)
                exec_arg(&args, "--cwd=%s", spec->cwd);
        if (spec->socket_dir)
                exec_arg(&args, "--socket-dir=%s", spec->socket_dir);
        if (spec->no_new_privs)
                exec_arg(&args, "--no-new-privs");
        exec_arg(&args, "ProtectSystem=%s", protect_system_to_string(c->protect_system));
        exec_arg(&args, "ProtectHome=%s", protect_home_to_string(c->protect_home));
        exec_paths(&args, "ReadWritePaths", &c->read_write);
        exec_paths(&args, "ReadOnlyPaths", &c->read_only);
        exec_paths(&args, "InaccessiblePaths", &c->inaccessible);
        exec_arg(&args, "PrivateNetwork=%s", c->private_network ? "yes" : "no");
        exec_arg(&args, "RestrictNamespaces=%s", c->restrict_namespaces ? "yes" : "no");
        exec_arg(&args, "--");
        exec_arg(&args, "%s", exe);
        for (char **a = spec->argv; *a; a++)
                exec_arg(&args, "%s", *a);
        environment = encode_environment(spec->envp);
        if (args.overflow || !environment) {
                r = -ENOMEM;
                snprintf(error, error_size, "cannot build the task's command line: %s",
                         args.overflow ? "too many arguments" : strerror(ENOMEM));
                goto out;
        }
        env[0] = environment;

        task->pidfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        task->status_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (task->pidfd < 0 || task->status_fd < 0) {
                r = -errno;
                snprintf(error, error_size, "eventfd: %s", strerror(errno));
                goto out;
        }
        r = sd_bus_path_encode(SYSTEMD_PATH "/unit", task->unit, &task->unit_path);
        if (r < 0) {
                snprintf(error, error_size, "cannot follow unit %s: %s", task->unit, strerror(-r));
                goto out;
        }

        /* What systemd does: the cgroup and its limits, the lifetime, the
         * cgroup-wide kill, the invoker's descriptors. */
        r = sd_bus_message_new_method_call(rt->bus, &m, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                           "StartTransientUnit");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", task->unit, "fail");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r >= 0)
                r = sd_bus_message_append(
                        m, "(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)", "Description", "s", desc, "Type",
                        "s", "exec", "AddRef", "b", 1, "CollectMode", "s", "inactive-or-failed", "WorkingDirectory",
                        "s", "/", "StandardInputFileDescriptor", "h", spec->fds[0], "StandardOutputFileDescriptor", "h",
                        spec->fds[1], "StandardErrorFileDescriptor", "h", spec->fds[2], "KillMode", "s",
                        "control-group", "KillSignal", "i", SIGKILL, "RuntimeMaxUSec", "t", runtime_max,
                        "NoNewPrivileges", "b", spec->no_new_privs, "UMask", "u", 0077);
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)", "Nice", "i", TASK_NICE);
        if (r >= 0 && c->tasks_max != CONFINEMENT_UNLIMITED)
                /* The uid is the task's alone: NPROC counts the task even
                 * where systemd has no pids controller. */
                r = sd_bus_message_append(m, "(sv)(sv)(sv)", "TasksMax", "t", c->tasks_max, "LimitNPROC", "t",
                                          c->tasks_max, "LimitNPROCSoft", "t", c->tasks_max);
        if (r >= 0 && c->memory_max != CONFINEMENT_UNLIMITED)
                r = sd_bus_message_append(m, "(sv)", "MemoryMax", "t", c->memory_max);
        if (r >= 0 && c->cpu_quota_percent)
                r = sd_bus_message_append(m, "(sv)", "CPUQuotaPerSecUSec", "t", c->cpu_quota_percent * 10000);
        if (r >= 0 && c->limit_nofile_hard != CONFINEMENT_UNLIMITED)
                r = sd_bus_message_append(m, "(sv)(sv)", "LimitNOFILE", "t", c->limit_nofile_hard, "LimitNOFILESoft",
                                          "t", c->limit_nofile_soft);
        if (r >= 0)
                r = append_strv_property(m, "Environment", env);
        if (r >= 0)
                r = append_exec(m, AGENTID_TASK_EXEC_PATH, args.v);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (r < 0) {
                snprintf(error, error_size, "cannot build the unit's properties: %s", strerror(-r));
                goto out;
        }
        /* Nothing here waits for the bus or systemd: the match on the
         * unit's signals goes first, the StartTransientUnit once the bus
         * has it (on_match_installed), systemd's answer when it has set the
         * unit up (on_start_reply); the broker has other work meanwhile. */
        r = sd_bus_match_signal_async(rt->bus, &task->slot, SYSTEMD_DEST, task->unit_path,
                                      "org.freedesktop.DBus.Properties", "PropertiesChanged", on_properties_changed,
                                      on_match_installed, task);
        if (r < 0) {
                snprintf(error, error_size, "cannot follow unit %s: %s", task->unit, strerror(-r));
                goto out;
        }
        task->start_message = m;
        m = NULL;
        r = 0;
out:
        sd_bus_message_unref(m);
        exec_args_free(&args);
        if (r < 0) {
                task->slot = sd_bus_slot_unref(task->slot);
                task->unit_path = (free(task->unit_path), NULL);
                if (task->pidfd >= 0)
                        close(task->pidfd);
                if (task->status_fd >= 0)
                        close(task->status_fd);
                task->pidfd = task->status_fd = -1;
        }
        return r;
}

int systemd_started(struct runtime *rt, struct runtime_task *task, char *error, size_t error_size) {
        uint64_t v;

        (void) rt;
        (void) !read(task->status_fd, &v, sizeof(v));
        if (task->start_result < 0)
                snprintf(error, error_size, "%s", task->error);
        return task->start_result;
}

/* KillUnit or StopUnit; the answer matters only when it is an error. */
static int unit_call(struct runtime *rt, struct runtime_task *task, const char *method, const char *types, ...) {
        sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(rt->bus, &m, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, method);
        if (r >= 0) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
        }
        if (r >= 0) {
                task->kill_slot = sd_bus_slot_unref(task->kill_slot);
                r = sd_bus_call_async(rt->bus, &task->kill_slot, m, on_kill_reply, task, BUS_TIMEOUT_USEC);
        }
        if (r < 0)
                log_debug("%s %s: %s", method, task->unit, strerror(-r));
        sd_bus_message_unref(m);
        return r;
}

int systemd_signal(struct runtime *rt, struct runtime_task *task, int signo) {
        if (task->gone)
                return -ESRCH;
        return unit_call(rt, task, "KillUnit", "ssi", task->unit, "main", signo);
}

int systemd_kill(struct runtime *rt, struct runtime_task *task) {
        int r;

        if (task->gone)
                return 0;
        if (task->start_message) {
                /* Not asked for yet: it never will be. */
                task->start_message = sd_bus_message_unref(task->start_message);
                start_failed(task, -ECANCELED, "the task ended before it started");
                return 0;
        }
        /* Every process of the unit's cgroup, now; then stop it, which
         * also cancels a start job that has not run yet (a KillUnit alone
         * would find nothing to kill and the job would start the command
         * afterwards). Its signals say when it is inactive. */
        r = unit_call(rt, task, "KillUnit", "ssi", task->unit, "all", SIGKILL);
        if (r >= 0)
                r = unit_call(rt, task, "StopUnit", "ss", task->unit, "replace");
        return r;
}

int systemd_collect(struct runtime *rt, struct runtime_task *task, int *wait_status) {
        uint64_t v;

        (void) rt;
        (void) !read(task->pidfd, &v, sizeof(v));
        if (!task->gone)
                return 0;
        *wait_status = task->wait_status;
        return 1;
}

void systemd_release(struct runtime *rt, struct runtime_task *task) {
        (void) rt;
        task->slot = sd_bus_slot_unref(task->slot);
        task->start_message = sd_bus_message_unref(task->start_message);
        task->start_slot = sd_bus_slot_unref(task->start_slot);
        task->kill_slot = sd_bus_slot_unref(task->kill_slot);
        task->unit_path = (free(task->unit_path), NULL);
        if (task->pidfd >= 0)
                close(task->pidfd);
        if (task->status_fd >= 0)
                close(task->status_fd);
        task->pidfd = task->status_fd = -1;
}

int systemd_attach(struct runtime *rt, const struct identity *i, struct runtime_task *task) {
        sd_bus_error err = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *state = NULL;
        int r;

        *task = (struct runtime_task) { .pidfd = -1, .status_fd = -1, .rt = rt, .start_result = 1 };
        snprintf(task->unit, sizeof(task->unit), "agentid-task-%s.service", i->name);
        r = sd_bus_path_encode(SYSTEMD_PATH "/unit", task->unit, &task->unit_path);
        if (r < 0)
                return r;
        /* Loaded (a unit that ended unreferenced is gone) and not over? */
        r = sd_bus_get_property_string(rt->bus, SYSTEMD_DEST, task->unit_path, "org.freedesktop.systemd1.Unit",
                                       "ActiveState", &err, &state);
        sd_bus_error_free(&err);
        if (r < 0 || !(streq(state, "active") || streq(state, "activating") || streq(state, "reloading") ||
                       streq(state, "deactivating"))) {
                task->unit_path = (free(task->unit_path), NULL);
                return -ESRCH;
        }
        task->seen_running = true;
        task->pidfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        task->status_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (task->pidfd < 0 || task->status_fd < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_bus_match_signal(rt->bus, &task->slot, SYSTEMD_DEST, task->unit_path, "org.freedesktop.DBus.Properties",
                                "PropertiesChanged", on_properties_changed, task);
        if (r < 0)
                goto fail;
        /* Keep it loaded for us again, as AddRef= did for the last broker. */
        (void) sd_bus_call_method(rt->bus, SYSTEMD_DEST, task->unit_path, "org.freedesktop.systemd1.Unit", "Ref", &err,
                                  NULL, NULL);
        sd_bus_error_free(&err);
        check_unit(task); /* it may have ended meanwhile */
        return 0;
fail:
        systemd_release(rt, task);
        return r;
}
