/* SPDX-License-Identifier: MIT */
/* Runtimes: how a task's processes are started, confined, followed and
 * ended. Chosen once at start (agentctl status shows which):
 *
 *   direct   the broker starts the task itself in new PID, mount and IPC
 *            namespaces (and a network namespace for PrivateNetwork=),
 *            with the template's view of the file system, rlimits and,
 *            where the host mounts them, cgroup v1 controllers. Ending the
 *            task kills its PID namespace's init, which takes every
 *            process of the task with it (runtime-direct.c).
 *   systemd  each task is a transient service unit (PID 1 is systemd):
 *            started, followed through its signals and ended over D-Bus,
 *            never waiting for systemd's answers (runtime-systemd.c).
 *
 * A runtime enforces every confinement key of the template or refuses to
 * start the task with one line naming the key and why. */
#pragma once

#include "syscall-filter.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sd_bus;
struct sd_bus_slot;

#include "agentid/limits.h"
#include "confinement.h"

struct identity;
struct template;
struct task_spec;

enum runtime_kind { RUNTIME_AUTO, RUNTIME_DIRECT, RUNTIME_SYSTEMD };

enum cgroup_controller { CGROUP_MEMORY, CGROUP_CPU, CGROUP_PIDS, _CGROUP_MAX };

struct runtime {
        enum runtime_kind kind;
        struct sd_bus *bus; /* systemd: the system bus */
        /* systemd: which cgroup v2 controllers the host's systemd can use
         * for tasks (a limit without its controller is refused). */
        bool systemd_memory, systemd_cpu, systemd_pids;
        /* The broker's own cgroup of each v1 controller the host mounts
         * ("" where none): tasks get a child of it. */
        char cgroup_parent[_CGROUP_MAX][AGENTID_PATH_MAX + 1];
        int broker_pidfd; /* a task's init leaves when the broker is gone */
        /* direct: the kernel's Landlock ABI (0: none), and the seccomp
         * filter without and with RestrictNamespaces= (no program: the
         * kernel has no seccomp filtering). */
        int landlock_abi;
        struct syscall_filter syscall_filters[2];
        /* direct: CAP_NET_ADMIN, to bring up lo in a PrivateNetwork= task's
         * network namespace (agentid.service does not grant it). */
        bool can_bring_up_loopback;
};

/* A task's nice value in either runtime: the broker, which ends tasks and
 * answers PAM for humans, and interactive sessions run at 0. */
#define TASK_NICE 5

/* One running task as its runtime knows it. */
struct runtime_task {
        pid_t pid;       /* direct: the PID namespace's init */
        int pidfd;       /* readable once it has exited */
        int status_fd;   /* direct: what the init reports (the leader's wait status) */
        bool has_status;
        int wait_status; /* the task leader's, as waitpid(2) gives it */
        char cgroups[_CGROUP_MAX][AGENTID_PATH_MAX + 64];
        char argv0[128]; /* for the error message */
        /* systemd: the unit, its object path, our match on its signals,
         * the calls in flight (their replies are dropped when the task is
         * released), the StartTransientUnit that waits for the match, what
         * the signals said, and how its start went (0: no answer yet, 1:
         * queued, or a negative errno with the reason in error). */
        struct runtime *rt;
        char unit[AGENTID_NAME_MAX + 32];
        char *unit_path;
        struct sd_bus_slot *slot, *start_slot, *kill_slot;
        struct sd_bus_message *start_message;
        int32_t main_code, main_status; /* ExecMainCode/ExecMainStatus */
        bool seen_running; /* a signal said activating, active, deactivating or reloading */
        bool gone;
        int start_result;
        char error[256];
};

/* wanted: RUNTIME_AUTO picks systemd when PID 1 is systemd and its bus
 * answers, else direct. -errno with a reason in why if wanted cannot be had. */
int runtime_init(struct runtime *rt, enum runtime_kind wanted, char *why, size_t why_size);
int runtime_kind_from_string(const char *s, enum runtime_kind *ret);
/* systemd: the bus descriptor to watch (-1: none), and what to do when it
 * is readable. */
int runtime_fd(const struct runtime *rt);
void runtime_process(struct runtime *rt);
void runtime_done(struct runtime *rt);
const char *runtime_name(const struct runtime *rt);

/* Can rt enforce c for this task? 0, or -EOPNOTSUPP with one line in why
 * naming the key and the reason. */
int runtime_check(const struct runtime *rt, const struct confinement *c, const char *home, bool no_new_privs,
                  char *why, size_t why_size);

/* Start the task; on success rt_task holds what follows it. Does not wait
 * for the command to be executed: status_fd becomes readable when the
 * runtime knows (runtime_started). */
int runtime_start(struct runtime *rt, const struct identity *i, const struct template *t, struct task_spec *spec,
                  struct runtime_task *task, char *error, size_t error_size);

/* status_fd was readable: 1 the command runs, 0 nothing yet, or a
 * negative errno with the reason in error (setup or exec failed; the task
 * then ends by itself and its pidfd says when). */
int runtime_started(struct runtime *rt, struct runtime_task *task, char *error, size_t error_size);

/* Forward a signal to the task's process group. */
int runtime_signal(struct runtime *rt, struct runtime_task *task, int signo);

/* End every process of the task now; asynchronous (its pidfd tells when). */
int runtime_kill(struct runtime *rt, struct runtime_task *task);

/* The pidfd was readable: collect the exit. 1 when the task is gone (and
 * *wait_status set), 0 when not yet. Never blocks. */
int runtime_collect(struct runtime *rt, struct runtime_task *task, int *wait_status);

/* Do tasks go on while the broker restarts (systemd), or end with it? */
bool runtime_tasks_outlive_broker(const struct runtime *rt);

/* At start: follow identity i's task again if it still runs. 0, or
 * -ESRCH when it is over (or the runtime cannot do this). */
int runtime_attach(struct runtime *rt, const struct identity *i, struct runtime_task *task);

/* Forget a collected task (cgroups removed, descriptors closed). */
void runtime_release(struct runtime *rt, struct runtime_task *task);
