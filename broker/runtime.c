/* SPDX-License-Identifier: MIT */
/* Choosing a task runtime, and passing each call to the chosen one. */
#include "runtime.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "macro.h"
#include "runtime-internal.h"
#include "landlock.h"

int runtime_kind_from_string(const char *s, enum runtime_kind *ret) {
        if (streq(s, "auto"))
                *ret = RUNTIME_AUTO;
        else if (streq(s, "direct"))
                *ret = RUNTIME_DIRECT;
        else if (streq(s, "systemd"))
                *ret = RUNTIME_SYSTEMD;
        else
                return -EINVAL;
        return 0;
}

/* Is cap in this process's effective set? (/proc/self/status, CapEff.) */
static bool has_effective_capability(int cap) {
        char line[256];
        bool has = false;
        FILE *f = fopen("/proc/self/status", "re");

        if (!f)
                return false;
        while (fgets(line, sizeof(line), f)) {
                unsigned long long mask;
                if (sscanf(line, "CapEff: %llx", &mask) == 1) {
                        has = (mask >> cap) & 1;
                        break;
                }
        }
        fclose(f);
        return has;
}

int runtime_init(struct runtime *rt, enum runtime_kind wanted, char *why, size_t why_size) {
        char ignored[256];

        *rt = (struct runtime) { .kind = RUNTIME_DIRECT, .broker_pidfd = -1 };
        rt->broker_pidfd = pidfd_open(getpid(), 0);
        if (rt->broker_pidfd < 0) {
                snprintf(why, why_size, "pidfds are not available: %s", strerror(errno));
                return -errno; /* no way to follow a task without waiting */
        }
        if (wanted == RUNTIME_SYSTEMD || (wanted == RUNTIME_AUTO && sd_booted() > 0)) {
                int r = systemd_init(rt, wanted == RUNTIME_AUTO ? ignored : why,
                                     wanted == RUNTIME_AUTO ? sizeof(ignored) : why_size);
                if (r == 0)
                        rt->kind = RUNTIME_SYSTEMD;
                else if (wanted == RUNTIME_SYSTEMD)
                        return r;
        }
        if (rt->kind == RUNTIME_DIRECT)
                for (int k = 0; k < _CGROUP_MAX; k++)
                        direct_find_cgroup_v1(controller_names[k], rt->cgroup_parent[k],
                                              sizeof(rt->cgroup_parent[k]));
        /* Landlock and seccomp are extra walls where the kernel has them
         * (the namespaces and mounts enforce the template either way);
         * status says which a task gets. A filter that cannot be built
         * where seccomp exists is an error, never a silent gap. In the
         * systemd runtime agentid-task-exec builds its own, the same, in
         * the task's unit; the broker's say that it can. */
        rt->landlock_abi = landlock_abi();
        rt->can_bring_up_loopback = has_effective_capability(CAP_NET_ADMIN);
        for (int k = 0; k < 2; k++) {
                int r = syscall_filter_build(k == 1, &rt->syscall_filters[k]);
                if (r == -EOPNOTSUPP)
                        break;
                if (r < 0) {
                        snprintf(why, why_size, "cannot build the tasks' seccomp filter: %s", strerror(-r));
                        runtime_done(rt);
                        return r;
                }
        }
        return 0;
}

void runtime_done(struct runtime *rt) {
        if (rt->kind == RUNTIME_SYSTEMD)
                systemd_done(rt);
        if (rt->broker_pidfd >= 0)
                close(rt->broker_pidfd);
        rt->broker_pidfd = -1;
        for (int k = 0; k < 2; k++)
                syscall_filter_free(&rt->syscall_filters[k]);
}

const char *runtime_name(const struct runtime *rt) {
        return rt->kind == RUNTIME_SYSTEMD ? "systemd" : "direct";
}

int runtime_fd(const struct runtime *rt) {
        return rt->kind == RUNTIME_SYSTEMD && rt->bus ? sd_bus_get_fd(rt->bus) : -1;
}

void runtime_process(struct runtime *rt) {
        if (rt->kind == RUNTIME_SYSTEMD)
                systemd_process(rt);
}

int runtime_check(const struct runtime *rt, const struct confinement *c, const char *home, bool no_new_privs,
                  char *why, size_t why_size) {
        return rt->kind == RUNTIME_SYSTEMD ? systemd_check(rt, c, home, no_new_privs, why, why_size)
                                           : direct_check(rt, c, home, why, why_size);
}

int runtime_start(struct runtime *rt, const struct identity *i, const struct template *t, struct task_spec *spec,
                  struct runtime_task *task, char *error, size_t error_size) {
        return rt->kind == RUNTIME_SYSTEMD ? systemd_start(rt, i, t, spec, task, error, error_size)
                                           : direct_start(rt, i, t, spec, task, error, error_size);
}

int runtime_started(struct runtime *rt, struct runtime_task *task, char *error, size_t error_size) {
        return rt->kind == RUNTIME_SYSTEMD ? systemd_started(rt, task, error, error_size)
                                           : direct_started(rt, task, error, error_size);
}

int runtime_signal(struct runtime *rt, struct runtime_task *task, int signo) {
        return rt->kind == RUNTIME_SYSTEMD ? systemd_signal(rt, task, signo) : direct_signal(rt, task, signo);
}

int runtime_kill(struct runtime *rt, struct runtime_task *task) {
        return rt->kind == RUNTIME_SYSTEMD ? systemd_kill(rt, task) : direct_kill(rt, task);
}

int runtime_collect(struct runtime *rt, struct runtime_task *task, int *wait_status) {
        return rt->kind == RUNTIME_SYSTEMD ? systemd_collect(rt, task, wait_status)
                                           : direct_collect(rt, task, wait_status);
}

void runtime_release(struct runtime *rt, struct runtime_task *task) {
        if (rt->kind == RUNTIME_SYSTEMD)
                systemd_release(rt, task);
        else
                direct_release(rt, task);
}

bool runtime_tasks_outlive_broker(const struct runtime *rt) {
        return rt->kind == RUNTIME_SYSTEMD;
}

int runtime_attach(struct runtime *rt, const struct identity *i, struct runtime_task *task) {
        return rt->kind == RUNTIME_SYSTEMD ? systemd_attach(rt, i, task) : -ESRCH;
}
