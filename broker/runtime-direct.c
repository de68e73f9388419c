/* SPDX-License-Identifier: MIT */
/* The direct runtime: a task is a PID namespace of its own.
 *
 * The broker clone3()s an init into new PID, mount and IPC namespaces
 * (and a network namespace for PrivateNetwork=). The init, still root,
 * builds the task's view of the file system (private /tmp, /var/tmp and
 * /dev/shm on tmpfs, a /proc of its own namespace, ProtectSystem= and the
 * path keys as read-only, read-write and inaccessible mounts), joins the
 * task's cgroups, forks the command (which becomes the agent and execs),
 * forwards signals to it, reaps, and reports the command's wait status to
 * the broker through a pipe when it ends.
 *
 * Ending the task is one pidfd_send_signal(SIGKILL) to that init: the
 * kernel then kills every process of the namespace, stopped or traced or
 * not, and none can leave it. The init runs as root, so no agent process
 * can signal, stop or trace it, and the broker never waits for it: its
 * pidfd in the broker's epoll says when everything is gone. The mount and
 * IPC namespaces die with their last process, and with them the task's
 * temporary files and SysV/POSIX IPC objects. */
#include "runtime.h"
#include "runtime-internal.h"
#include "fs-util.h"
#include "landlock.h"
#include "syscall-filter.h"
#include "task-view.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentid/identity.h"
#include "macro.h"
#include "task.h"
#include "template.h"

/* Messages from the init to the broker: (kind, value) pairs of ints. */
enum init_report { REPORT_STARTED, REPORT_SETUP_FAILED, REPORT_EXEC_FAILED, REPORT_EXITED };

const char *const controller_names[_CGROUP_MAX] = { "memory", "cpu", "pids" };

#define TEXT_(x) #x
#define TEXT(x) TEXT_(x)

/* ---- probing ------------------------------------------------------------ */

/* Where the host mounts v1 controller name, and the broker's cgroup in it. */
void direct_find_cgroup_v1(const char *name, char *ret, size_t size) {
        char line[1024], mount_point[512] = "", own[512] = "";
        FILE *f;

        ret[0] = '\0';
        f = fopen("/proc/self/mounts", "re");
        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                char dev[128], dir[512], type[32], opts[512];
                char *save = NULL;
                if (sscanf(line, "%127s %511s %31s %511s", dev, dir, type, opts) != 4 || !streq(type, "cgroup"))
                        continue;
                for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save))
                        if (streq(o, name))
                                snprintf(mount_point, sizeof(mount_point), "%s", dir);
        }
        fclose(f);
        if (!mount_point[0])
                return;
        f = fopen("/proc/self/cgroup", "re");
        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                char *controllers = strchr(line, ':'), *path, *save = NULL;
                if (!controllers || !(path = strchr(controllers + 1, ':')))
                        continue;
                *path++ = '\0';
                path[strcspn(path, "\n")] = '\0';
                for (char *c = strtok_r(controllers + 1, ",", &save); c; c = strtok_r(NULL, ",", &save))
                        if (streq(c, name))
                                snprintf(own, sizeof(own), "%s", path);
        }
        fclose(f);
        if (!own[0])
                return;
        snprintf(ret, size, "%s%s", mount_point, streq(own, "/") ? "" : own);
        /* Usable only if we may create children there. */
        if (access(ret, W_OK) < 0)
                ret[0] = '\0';
}

int direct_check(const struct runtime *rt, const struct confinement *c, const char *home, char *why,
                  size_t why_size) {
        if (c->memory_max != CONFINEMENT_UNLIMITED && !rt->cgroup_parent[CGROUP_MEMORY][0]) {
                snprintf(why, why_size,
                         "MemoryMax= cannot be enforced by the direct runtime here: no writable cgroup v1 memory "
                         "controller");
                return -EOPNOTSUPP;
        }
        if (c->cpu_quota_percent && !rt->cgroup_parent[CGROUP_CPU][0]) {
                snprintf(why, why_size,
                         "CPUQuota= cannot be enforced by the direct runtime here: no writable cgroup v1 cpu "
                         "controller");
                return -EOPNOTSUPP;
        }
        if (c->private_network && !rt->can_bring_up_loopback) {
                snprintf(why, why_size,
                         "PrivateNetwork=yes cannot be enforced by the direct runtime here: the broker lacks "
                         "CAP_NET_ADMIN to bring up lo in the task's network (agentid.service does not grant it; "
                         "the systemd runtime does this itself)");
                return -EOPNOTSUPP;
        }
        if (c->restrict_namespaces && !rt->syscall_filters[1].program) {
                snprintf(why, why_size,
                         "RestrictNamespaces=yes cannot be enforced by the direct runtime here: the kernel has no "
                         "seccomp filtering");
                return -EOPNOTSUPP;
        }
        return task_view_check(c, home, why, why_size);
}

/* ---- cgroups ------------------------------------------------------------ */

static int write_file(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;
        size_t n = strlen(text);

        if (fd < 0)
                return -errno;
        if (write(fd, text, n) != (ssize_t) n)
                r = errno ? -errno : -EIO;
        close(fd);
        return r;
}

static int cgroup_setup(const struct runtime *rt, const char *name, const struct confinement *c,
                        struct runtime_task *task, char *error, size_t error_size) {
        char value[64], file[AGENTID_PATH_MAX + 128];
        int r;

        for (int k = 0; k < _CGROUP_MAX; k++) {
                /* Only what the template asks for: moving a process into a
                 * v1 cgroup costs an RCU grace period (~20 ms). TasksMax=
                 * needs none: RLIMIT_NPROC counts the uid's processes, and
                 * the uid is the task's alone. */
                bool wanted = (k == CGROUP_MEMORY && c->memory_max != CONFINEMENT_UNLIMITED) ||
                              (k == CGROUP_CPU && c->cpu_quota_percent);
                task->cgroups[k][0] = '\0';
                if (!wanted || !rt->cgroup_parent[k][0])
                        continue;
                snprintf(task->cgroups[k], sizeof(task->cgroups[k]), "%s/agentid-%s", rt->cgroup_parent[k], name);
                if (mkdir(task->cgroups[k], 0755) < 0) {
                        r = -errno;
                        snprintf(error, error_size, "cannot create cgroup %s: %s", task->cgroups[k], strerror(errno));
                        task->cgroups[k][0] = '\0';
                        return r;
                }
                switch (k) {
                case CGROUP_MEMORY:
                        snprintf(value, sizeof(value), "%llu", (unsigned long long) c->memory_max);
                        snprintf(file, sizeof(file), "%s/memory.limit_in_bytes", task->cgroups[k]);
                        r = write_file(file, value);
                        /* Swap too, where the kernel accounts it: the limit is on memory, not RAM. */
                        snprintf(file, sizeof(file), "%s/memory.memsw.limit_in_bytes", task->cgroups[k]);
                        if (r == 0 && access(file, F_OK) == 0)
                                r = write_file(file, value);
                        break;
                case CGROUP_CPU:
                        snprintf(file, sizeof(file), "%s/cpu.cfs_period_us", task->cgroups[k]);
                        r = write_file(file, "100000");
                        snprintf(value, sizeof(value), "%llu", (unsigned long long) c->cpu_quota_percent * 1000);
                        snprintf(file, sizeof(file), "%s/cpu.cfs_quota_us", task->cgroups[k]);
                        if (r == 0)
                                r = write_file(file, value);
                        break;
                default:
                        snprintf(value, sizeof(value), "%llu", (unsigned long long) c->tasks_max);
                        snprintf(file, sizeof(file), "%s/pids.max", task->cgroups[k]);
                        r = write_file(file, value);
                        break;
                }
                if (r < 0) {
                        snprintf(error, error_size, "cannot set the %s limit of %s: %s", controller_names[k],
                                 task->cgroups[k], strerror(-r));
                        return r;
                }
        }
        return 0;
}

static void cgroup_remove(struct runtime_task *task) {
        for (int k = 0; k < _CGROUP_MAX; k++)
                if (task->cgroups[k][0]) {
                        /* Empty by now (the namespace is gone); rmdir is all. */
                        (void) rmdir(task->cgroups[k]);
                        task->cgroups[k][0] = '\0';
                }
}

/* ---- the init, in the new namespaces ------------------------------------ */

struct init_args {
        const struct runtime *rt;
        const struct identity *i;
        const struct template *t;
        struct task_spec *spec;
        struct runtime_task *task;
        int report_fd;
};

static void report(int fd, int kind, int value) {
        int msg[2] = { kind, value };
        (void) !write(fd, msg, sizeof(msg));
}

/* Where a failure in the init is described for the broker's error reply. */
#define SETUP_FAIL(e, ...)                                                                                         \
        do {                                                                                                       \
                snprintf((e)->text, sizeof((e)->text), __VA_ARGS__);                                               \
                return -1;                                                                                         \
        } while (0)

static int join_cgroups(const struct runtime_task *task, struct task_view_error *e) {
        char file[AGENTID_PATH_MAX + 128];

        for (int k = 0; k < _CGROUP_MAX; k++) {
                int r;
                if (!task->cgroups[k][0])
                        continue;
                snprintf(file, sizeof(file), "%s/cgroup.procs", task->cgroups[k]);
                r = write_file(file, "0");
                if (r < 0)
                        SETUP_FAIL(e, "cannot join cgroup %s: %s", task->cgroups[k], strerror(-r));
        }
        return 0;
}

/* Landlock's scopes and the seccomp filter, installed while still root
 * (neither needs no_new_privs then, so an approved sudo keeps working) and
 * kept across every exec and setuid after. Allocates nothing: this process
 * is a clone of the threaded broker. */
static int confine_kernel(const struct init_args *a) {
        const struct syscall_filter *filter =
                &a->rt->syscall_filters[a->t->confinement.restrict_namespaces ? 1 : 0];
        int r = landlock_confine();

        if (r < 0)
                return r;
        /* direct_check refused RestrictNamespaces=yes without seccomp. */
        if (filter->program)
                return syscall_filter_install(filter);
        return 0;
}

/* The command: becomes the agent and execs. Failures before exec go to
 * exec_fd (close-on-exec) as an errno. */
static _Noreturn void command_main(const struct init_args *a, int exec_fd) {
        extern char **environ;
        const struct confinement *c = &a->t->confinement;
        struct task_spec *spec = a->spec;
        sigset_t none;
        int fds[3], err;

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (setsid() < 0)
                goto fail;
        /* Move the three fds above 2 first so the dup2s cannot clobber one
         * another, then into place. */
        for (int k = 0; k < 3; k++)
                if ((fds[k] = fcntl(spec->fds[k], F_DUPFD_CLOEXEC, 3)) < 0)
                        goto fail;
        for (int k = 0; k < 3; k++)
                if (dup2(fds[k], k) < 0)
                        goto fail;
        /* Nothing of the broker's (database, sockets, keys) may leak. */
        if (syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */) < 0)
                goto fail;
        if (c->tasks_max != CONFINEMENT_UNLIMITED) {
                /* The uid is this task's alone: its process count is the task's. */
                struct rlimit rl = { c->tasks_max, c->tasks_max };
                if (setrlimit(RLIMIT_NPROC, &rl) < 0)
                        goto fail;
        }
        if (c->limit_nofile_hard != CONFINEMENT_UNLIMITED) {
                struct rlimit rl = { c->limit_nofile_soft, c->limit_nofile_hard };
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                        goto fail;
        }
        /* Below the broker (which ends it, and answers PAM for humans) and
         * below interactive sessions in CPU weight: a busy or hostile task
         * cannot starve them. Its own autogroup (setsid above) gets the same
         * nice; the agent cannot raise either back. */
        if (setpriority(PRIO_PROCESS, 0, TASK_NICE) < 0)
                goto fail;
        (void) write_file("/proc/self/autogroup", TEXT(TASK_NICE));
        err = confine_kernel(a);
        if (err < 0) {
                errno = -err;
                goto fail;
        }
        if (setgroups(a->t->n_groups, a->t->groups) < 0 || setresgid(a->i->gid, a->i->gid, a->i->gid) < 0 ||
            setresuid(a->i->uid, a->i->uid, a->i->uid) < 0)
                goto fail;
        if (spec->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                goto fail;
        if (chdir(spec->cwd ? spec->cwd : a->i->home) < 0)
                goto fail;
        umask(0077);
        environ = spec->envp; /* execvp searches the task's PATH, not ours */
        execvp(spec->argv[0], spec->argv);
fail:
        err = errno;
        (void) !write(exec_fd, &err, sizeof(err));
        _exit(127);
}

/* Signals the init passes on to the command's process group. */
static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };

static _Noreturn void init_main(const struct init_args *a) {
        struct task_view_error e = { "" };
        const struct task_view view = { .confinement = &a->t->confinement, .home = a->i->home,
                                         .socket_dir = a->spec->socket_dir, .own_proc = true };
        sigset_t mask;
        pid_t command;
        int p[2], err, sfd, n;
        struct pollfd broker_gone = { .fd = a->rt->broker_pidfd, .events = POLLIN };

        /* Die with the broker: its successor cannot follow this task. If
         * it died before the death signal was armed, leave now. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || poll(&broker_gone, 1, 0) != 0)
                _exit(127);
        /* Not dumpable: nothing may read this root process's memory. */
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        for (size_t k = 0; k < ELEMENTSOF(forwarded); k++)
                sigaddset(&mask, forwarded[k]);
        sigprocmask(SIG_SETMASK, &mask, NULL);
        for (int s = 1; s < NSIG; s++)
                if (s != SIGKILL && s != SIGSTOP)
                        signal(s, SIG_DFL); /* SIG_IGN would survive exec */
        sfd = signalfd(-1, &mask, SFD_CLOEXEC);

        if (sfd < 0 || join_cgroups(a->task, &e) < 0 || task_view_setup(&view, &e) < 0) {
                /* One write (below PIPE_BUF: atomic), so the broker never
                 * reads the header without the text. */
                char msg[2 * sizeof(int) + sizeof(e.text)];
                int head[2] = { REPORT_SETUP_FAILED, 0 };
                size_t len;
                if (!e.text[0])
                        snprintf(e.text, sizeof(e.text), "signalfd: %s", strerror(errno));
                len = strnlen(e.text, sizeof(e.text) - 1);
                head[1] = (int) len;
                memcpy(msg, head, sizeof(head));
                memcpy(msg + sizeof(head), e.text, len);
                (void) !write(a->report_fd, msg, sizeof(head) + len);
                _exit(127);
        }
        if (pipe2(p, O_CLOEXEC) < 0) {
                report(a->report_fd, REPORT_EXEC_FAILED, errno);
                _exit(127);
        }
        command = fork();
        if (command < 0) {
                report(a->report_fd, REPORT_EXEC_FAILED, errno);
                _exit(127);
        }
        if (command == 0) {
                close(p[0]);
                close(sfd);
                command_main(a, p[1]);
        }
        close(p[1]);
        do
                n = (int) read(p[0], &err, sizeof(err));
        while (n < 0 && errno == EINTR);
        close(p[0]);
        if (n == (int) sizeof(err)) {
                report(a->report_fd, REPORT_EXEC_FAILED, err);
                _exit(127);
        }
        report(a->report_fd, REPORT_STARTED, command);
        /* Nothing of the broker's stays open in the init but the report pipe. */
        for (int k = 0; k < 3; k++)
                close(a->spec->fds[k]);
        (void) syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);

        for (;;) {
                struct signalfd_siginfo si;
                int st;
                pid_t pid;

                if (read(sfd, &si, sizeof(si)) != (ssize_t) sizeof(si)) {
                        if (errno == EINTR)
                                continue;
                        _exit(127);
                }
                if (si.ssi_signo != SIGCHLD) {
                        (void) kill(-command, (int) si.ssi_signo);
                        continue;
                }
                /* Reap every orphan of the namespace; the command's end is
                 * the task's end: leaving takes the rest with us. */
                while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
                        if (pid == command) {
                                report(a->report_fd, REPORT_EXITED, st);
                                _exit(0);
                        }
        }
}

/* ---- the broker's side -------------------------------------------------- */

int direct_start(struct runtime *rt, const struct identity *i, const struct template *t, struct task_spec *spec,
                  struct runtime_task *task, char *error, size_t error_size) {
        struct clone_args ca = { .exit_signal = SIGCHLD };
        int p[2] = { -1, -1 }, pidfd = -1, r;
        struct init_args a;
        pid_t pid;

        *task = (struct runtime_task) { .pid = -1, .pidfd = -1, .status_fd = -1 };
        r = direct_check(rt, &t->confinement, i->home, error, error_size);
        if (r < 0)
                return r;
        r = cgroup_setup(rt, i->name, &t->confinement, task, error, error_size);
        if (r < 0)
                goto fail;
        if (pipe2(p, O_CLOEXEC) < 0) {
                r = -errno;
                snprintf(error, error_size, "pipe: %s", strerror(errno));
                goto fail;
        }
        a = (struct init_args) { .rt = rt, .i = i, .t = t, .spec = spec, .task = task, .report_fd = p[1] };
        ca.flags = CLONE_PIDFD | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC |
                   (t->confinement.private_network ? CLONE_NEWNET : 0);
        ca.pidfd = (uint64_t) (uintptr_t) &pidfd;
        pid = (pid_t) syscall(SYS_clone3, &ca, sizeof(ca));
        if (pid < 0 && errno == ENOSYS)
                /* A seccomp filter that cannot look into clone3's arguments
                 * refuses it so (systemd's RestrictNamespaces=, under which
                 * agentid.service runs): clone(2) says the same. Its pidfd
                 * comes back through the parent_tid argument, the third on
                 * every architecture. */
                pid = (pid_t) syscall(SYS_clone, (unsigned long) ca.flags | SIGCHLD, NULL, &pidfd, NULL, NULL);
        if (pid < 0) {
                r = -errno;
                snprintf(error, error_size, "cannot create the task's namespaces: %s", strerror(errno));
                goto fail;
        }
        if (pid == 0)
                init_main(&a);
        close(p[1]);
        p[1] = -1;
        task->pid = pid;
        task->pidfd = pidfd;

        /* The init reports once the command runs, or why it could not
         * (runtime_started); the broker does not wait for it here. */
        (void) fcntl(p[0], F_SETFL, O_NONBLOCK);
        task->status_fd = p[0];
        snprintf(task->argv0, sizeof(task->argv0), "%s", spec->argv[0]);
        return 0;

fail:
        if (p[0] >= 0)
                close(p[0]);
        if (p[1] >= 0)
                close(p[1]);
        if (pidfd >= 0)
                close(pidfd);
        task->pidfd = -1;
        cgroup_remove(task);
        return r;
}

int direct_started(struct runtime *rt, struct runtime_task *task, char *error, size_t error_size) {
        char text[512];
        int head[2];
        ssize_t n;

        (void) rt;
        /* The header alone: the command's end may follow in the pipe
         * (runtime_collect reads it). */
        n = read(task->status_fd, head, sizeof(head));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n != (ssize_t) sizeof(head)) {
                snprintf(error, error_size, "the task's init died while setting up");
                return -EIO;
        }
        switch (head[0]) {
        case REPORT_STARTED:
                return 1;
        case REPORT_SETUP_FAILED:
                /* Written with the header in one write: already here. */
                n = head[1] > 0 && (size_t) head[1] < sizeof(text) ? read(task->status_fd, text, (size_t) head[1]) : 0;
                snprintf(error, error_size, "cannot confine the task: %.*s", n > 0 ? (int) n : 0, text);
                return -EPERM;
        default:
                snprintf(error, error_size, "cannot execute %s: %s", task->argv0, strerror(head[1]));
                return head[1] > 0 ? -head[1] : -EIO;
        }
}

int direct_signal(struct runtime *rt, struct runtime_task *task, int signo) {
        (void) rt;
        /* To the init, which passes it on to the command's process group. */
        return pidfd_send_signal(task->pidfd, signo, NULL, 0) < 0 ? -errno : 0;
}

int direct_kill(struct runtime *rt, struct runtime_task *task) {
        (void) rt;
        if (task->pidfd < 0)
                return -ESRCH;
        /* The namespace's init: the kernel kills every process in it. */
        return pidfd_send_signal(task->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH ? -errno : 0;
}

int direct_collect(struct runtime *rt, struct runtime_task *task, int *wait_status) {
        siginfo_t si = {};
        int msg[2];

        (void) rt;
        if (waitid(P_PIDFD, (id_t) task->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
                return 0;
        /* The init said how the command ended; if it did not (it was
         * killed: the task was ended), its own end is the task's. */
        while (read(task->status_fd, msg, sizeof(msg)) == (ssize_t) sizeof(msg))
                if (msg[0] == REPORT_EXITED) {
                        task->has_status = true;
                        task->wait_status = msg[1];
                }
        if (!task->has_status)
                task->wait_status = si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0) : si.si_status & 0x7f;
        *wait_status = task->wait_status;
        return 1;
}

void direct_release(struct runtime *rt, struct runtime_task *task) {
        (void) rt;
        if (task->pidfd >= 0)
                close(task->pidfd);
        if (task->status_fd >= 0)
                close(task->status_fd);
        task->pidfd = task->status_fd = -1;
        cgroup_remove(task);
}
