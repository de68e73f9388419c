/* SPDX-License-Identifier: MIT */
#include "task.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "conn.h"
#include "duration.h"
#include "events.h"
#include "lifecycle.h"
#include "log.h"
#include "macro.h"
#include "proc.h"

/* How long a cleaner keeps killing before it reports processes it could
 * not get rid of (a process stuck in uninterruptible sleep, say). */
#define CLEANER_DEADLINE_MS 5000

struct task {
        struct watch leader_watch;
        struct watch cleaner_watch;
        int64_t identity_id;
        char name[AGENTID_NAME_MAX + 1];
        uid_t uid;
        gid_t gid;
        char home[AGENTID_PATH_MAX + 1];
        pid_t leader;
        int leader_pidfd;
        bool leader_reaped;
        int wait_status;
        pid_t cleaner;
        int cleaner_pidfd;
        bool cleaner_done;
        int cleaner_status;
        enum task_end end;
        uint64_t end_started_usec; /* CLOCK_MONOTONIC */
        struct conn *conn;
        struct task *prev, *next;
};

unsigned task_count(const struct broker *b) {
        return b->n_tasks;
}

static int pidfd_open_compat(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

static const char *task_end_to_string(enum task_end e) {
        switch (e) {
        case TASK_END_EXITED:
                return "exited";
        case TASK_END_EXPIRED:
                return "expired";
        case TASK_END_REVOKED:
                return "revoked";
        case TASK_END_INVOKER_GONE:
                return "invoker-gone";
        case TASK_END_SHUTDOWN:
                return "shutdown";
        default:
                return "running";
        }
}

/* ---- processes of one uid ------------------------------------------- */

static bool is_live_process_of(void *userdata, const unsigned long ids[3], bool zombie) {
        unsigned long uid = *(const uid_t *) userdata;
        return !zombie && (ids[0] == uid || ids[1] == uid || ids[2] == uid);
}

/* Does any process that is not a zombie run with this uid? */
static bool uid_has_live_processes(uid_t uid) {
        return proc_scan(is_live_process_of, &uid) != 0; /* unreadable /proc: assume the worst */
}

/* Runs in a child that has become uid: kill(-1) reaches exactly the
 * processes this uid may signal, i.e. every process whose real or saved
 * uid is the agent's (the agent uid is unique to one identity). */
static int kill_all_as_uid(uid_t uid) {
        uint64_t deadline = monotonic_usec() + (uint64_t) CLEANER_DEADLINE_MS * 1000;
        int rounds = 0;

        for (;;) {
                if (kill(-1, SIGKILL) < 0 && errno == ESRCH)
                        return rounds;
                rounds++;
                /* kill(-1) also "reaches" zombies (e.g. the task leader the
                 * broker has not reaped yet): stop when only those remain. */
                if (!uid_has_live_processes(uid))
                        return rounds;
                if (monotonic_usec() > deadline)
                        return -EBUSY;
                usleep(200);
        }
}

static int become(uid_t uid, gid_t gid) {
        if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                return -errno;
        return 0;
}

/* Remove everything below dirfd, as the agent (so a symlink planted by the
 * agent can never make us delete anything the agent could not). */
static int remove_contents(int dirfd) {
        DIR *d = fdopendir(dirfd);
        struct dirent *de;
        int r = 0;

        if (!d) {
                close(dirfd);
                return -errno;
        }
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (unlinkat(dirfd, de->d_name, 0) == 0)
                        continue;
                if (errno == EISDIR || errno == EPERM) {
                        int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub >= 0) {
                                int k = remove_contents(sub);
                                if (k < 0 && r == 0)
                                        r = k;
                        }
                        if (unlinkat(dirfd, de->d_name, AT_REMOVEDIR) < 0 && r == 0)
                                r = -errno;
                } else if (r == 0)
                        r = -errno;
        }
        closedir(d);
        return r;
}

/* The cleaner: a child that becomes the agent, kills all its processes,
 * empties its home. Exit status: bit 0 processes survived, bit 1 home not
 * emptied, bit 2 could not switch uid. */
static _Noreturn void cleaner_main(uid_t uid, gid_t gid, const char *home, pid_t broker_pid) {
        int status = 0, dfd;

        /* Like a task, a cleaner dies with the broker (re-armed after the
         * uid change, which clears it): the next broker's sweep does the
         * work, and no process of the old one runs as an agent after it. */
        if (become(uid, gid) < 0)
                _exit(4);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != broker_pid)
                _exit(4);
        if (kill_all_as_uid(uid) < 0)
                status |= 1;
        if (home[0]) {
                dfd = open(home, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (dfd >= 0 && remove_contents(dfd) < 0)
                        status |= 2;
        }
        _exit(status);
}

static pid_t spawn_cleaner(uid_t uid, gid_t gid, const char *home) {
        pid_t broker_pid = getpid(), pid = fork();

        if (pid == 0) {
                sigset_t all;
                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                cleaner_main(uid, gid, home, broker_pid);
        }
        return pid;
}

int kill_uid_processes(uid_t uid, gid_t gid) {
        int status;
        pid_t pid = spawn_cleaner(uid, gid, "");

        if (pid < 0)
                return -errno;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EBUSY;
}

/* ---- starting ----------------------------------------------------------- */

static int mkdir_parents(const char *path) {
        char buf[AGENTID_PATH_MAX + 1];

        snprintf(buf, sizeof(buf), "%s", path);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int make_home(const struct identity *i) {
        char parent[AGENTID_PATH_MAX + 1];
        int r;

        snprintf(parent, sizeof(parent), "%s", i->home);
        r = mkdir_parents(dirname(parent));
        if (r < 0)
                return r;
        /* A home that already exists is not ours to hand out. */
        if (mkdir(i->home, 0700) < 0)
                return -errno;
        if (chown(i->home, i->uid, i->gid) < 0) {
                r = -errno;
                rmdir(i->home);
                return r;
        }
        return 0;
}

/* In the child, between fork and exec: failures are reported to the parent
 * through the close-on-exec pipe as an errno. */
static _Noreturn void child_main(const struct identity *i, const struct template *t, struct task_spec *spec,
                                 int report_fd, pid_t broker_pid) {
        extern char **environ;
        sigset_t none;
        int fds[3], err;

        /* If the broker dies before we exec, we must not go on to become
         * the agent after its successor's orphan sweep has run. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != broker_pid)
                _exit(127);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int s = 1; s < NSIG; s++)
                signal(s, SIG_DFL); /* SIG_IGN would survive exec */
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
        if (syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */) < 0) {
                for (int fd = 3; fd < 65536; fd++)
                        if (fd != report_fd)
                                close(fd);
        }
        if (setgroups(t->n_groups, t->groups) < 0 || setresgid(i->gid, i->gid, i->gid) < 0 ||
            setresuid(i->uid, i->uid, i->uid) < 0)
                goto fail;
        /* Changing uid cleared the parent-death signal: set it again, so the
         * task dies with the broker (whose successor ends such tasks anyway)
         * and never outlives its sweep. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != broker_pid)
                _exit(127);
        if (spec->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                goto fail;
        if (chdir(spec->cwd ? spec->cwd : i->home) < 0)
                goto fail;
        umask(0077);
        environ = spec->envp; /* execvp searches the task's PATH, not ours */
        execvp(spec->argv[0], spec->argv);
fail:
        err = errno;
        (void) !write(report_fd, &err, sizeof(err));
        _exit(127);
}

static void task_unlink(struct broker *b, struct task *t) {
        if (t->prev)
                t->prev->next = t->next;
        else
                b->tasks = t->next;
        if (t->next)
                t->next->prev = t->prev;
        b->n_tasks--;
}

static int record(struct broker *b, const struct caller *c, enum event_type type, const struct identity *i,
                  const char *detail) {
        struct event e = event_for(type, i, c, detail);
        return broker_record_event(b, &e);
}

int task_start(struct broker *b, struct conn *conn, const struct identity *i, const struct template *t,
               struct task_spec *spec, char *error, size_t error_size) {
        _cleanup_close_ int report_r = -1, report_w = -1;
        struct epoll_event ev = { .events = EPOLLIN };
        char command[160];
        size_t o = 0;
        struct task *task;
        json_t *reply;
        pid_t pid, broker_pid;
        int p[2], err = 0, pidfd, r;
        ssize_t n;

        for (char **a = spec->argv; *a && o < sizeof(command) - 1; a++)
                o += (size_t) snprintf(command + o, sizeof(command) - o, "%s%s", a == spec->argv ? "" : " ", *a);
        /* Recorded before it starts: no task runs unrecorded. */
        r = record(b, conn_caller(conn), EVENT_RUN, i, command);
        if (r < 0) {
                snprintf(error, error_size, "the task could not be recorded, so it was not started");
                return -EIO;
        }
        /* The invoker's connection going ends the task (task_begin_end). */
        r = conn_add_close_hook(conn, task_on_conn_closed, NULL);
        if (r < 0) {
                snprintf(error, error_size, "cannot watch the invoker's connection: %s", strerror(-r));
                return r;
        }
        /* Identities ending (revoked, expired) end the tasks they run. */
        b->on_identities_ended = task_reconcile;
        r = make_home(i);
        if (r < 0) {
                snprintf(error, error_size, "cannot create home %s: %s", i->home, strerror(-r));
                return r;
        }
        if (pipe2(p, O_CLOEXEC) < 0) {
                r = -errno;
                snprintf(error, error_size, "pipe: %s", strerror(errno));
                goto fail_home;
        }
        report_r = p[0];
        report_w = p[1];

        broker_pid = getpid();
        pid = fork();
        if (pid < 0) {
                r = -errno;
                snprintf(error, error_size, "fork: %s", strerror(errno));
                goto fail_home;
        }
        if (pid == 0)
                child_main(i, t, spec, report_w, broker_pid);
        close(report_w);
        report_w = -1;
        /* Returns 0 bytes once exec closed the pipe: the child is the task. */
        do
                n = read(report_r, &err, sizeof(err));
        while (n < 0 && errno == EINTR);
        if (n == (ssize_t) sizeof(err)) {
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                snprintf(error, error_size, "cannot execute %s: %s", spec->argv[0], strerror(err));
                r = -err;
                goto fail_home;
        }

        pidfd = pidfd_open_compat(pid);
        task = calloc(1, sizeof(*task));
        if (pidfd < 0 || !task) {
                /* Cannot watch it: it must not run unwatched. */
                kill(pid, SIGKILL);
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                if (pidfd >= 0)
                        close(pidfd);
                free(task);
                snprintf(error, error_size, "cannot track the task");
                r = -ENOMEM;
                goto fail_home;
        }
        *task = (struct task) {
                .leader_watch = { WATCH_TASK },
                .cleaner_watch = { WATCH_TASK },
                .identity_id = i->id,
                .uid = i->uid,
                .gid = i->gid,
                .leader = pid,
                .leader_pidfd = pidfd,
                .cleaner_pidfd = -1,
                .conn = conn,
        };
        snprintf(task->name, sizeof(task->name), "%s", i->name);
        snprintf(task->home, sizeof(task->home), "%s", i->home);
        ev.data.ptr = &task->leader_watch;
        if (epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, pidfd, &ev) < 0)
                log_error("watching task %s: %s", i->name, strerror(errno));
        task->next = b->tasks;
        if (b->tasks)
                b->tasks->prev = task;
        b->tasks = task;
        b->n_tasks++;
        conn_set_task(conn, true);

        reply = json_pack("{s:o, s:i}", "agent", identity_to_json(&b->owners, i, now_usec()), "pid", (int) pid);
        conn_send_reply(b, conn, reply, NULL, NULL);
        json_decref(reply);
        return 0;

fail_home:
        rmdir(i->home);
        return r;
}

/* ---- ending ------------------------------------------------------------- */

static void task_free(struct broker *b, struct task *t) {
        if (t->leader_pidfd >= 0) {
                epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, t->leader_pidfd, NULL);
                close(t->leader_pidfd);
        }
        if (t->cleaner_pidfd >= 0) {
                epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, t->cleaner_pidfd, NULL);
                close(t->cleaner_pidfd);
        }
        task_unlink(b, t);
        free(t);
}

static void describe_status(const struct task *t, char *buf, size_t size) {
        if (!t->leader_reaped)
                snprintf(buf, size, "leader not reaped");
        else if (WIFEXITED(t->wait_status))
                snprintf(buf, size, "exit status %d", WEXITSTATUS(t->wait_status));
        else if (WIFSIGNALED(t->wait_status))
                snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(t->wait_status),
                         sigabbrev_np(WTERMSIG(t->wait_status)) ?: "?");
        else
                snprintf(buf, size, "status 0x%x", (unsigned) t->wait_status);
}

/* Both the leader is reaped and the cleaner is done: report and forget. */
static void task_maybe_finish(struct broker *b, struct task *t) {
        char status[64], detail[256];
        struct identity i = {};
        uint64_t teardown;
        json_t *reply;

        if (!t->leader_reaped || !t->cleaner_done)
                return;
        if (t->home[0] && rmdir(t->home) < 0 && errno != ENOENT)
                log_error("task %s: home %s not removed: %s", t->name, t->home, strerror(errno));
        teardown = monotonic_usec() - t->end_started_usec;
        describe_status(t, status, sizeof(status));
        snprintf(detail, sizeof(detail), "task %s (%s); processes killed%s; home %s; teardown %" PRIu64 "us",
                 task_end_to_string(t->end), status, t->cleaner_status & 1 ? " (some survived!)" : "",
                 t->cleaner_status & 2 ? "NOT fully removed" : "removed", teardown);
        if (store_get(b->store, t->identity_id, &i) == 0 && record(b, NULL, EVENT_KILL, &i, detail) < 0)
                log_error("task %s: could not record its end: %s", t->name, detail);

        if (t->conn) {
                reply = json_pack("{s:s, s:o, s:o, s:s, s:I}", "ended", task_end_to_string(t->end), "exit_status",
                                  WIFEXITED(t->wait_status) ? json_integer(WEXITSTATUS(t->wait_status)) : json_null(),
                                  "signal",
                                  WIFSIGNALED(t->wait_status) ? json_integer(WTERMSIG(t->wait_status)) : json_null(),
                                  "agent", t->name, "teardown_usec", (json_int_t) teardown);
                conn_set_task(t->conn, false);
                conn_send_reply(b, t->conn, reply, NULL, NULL);
                json_decref(reply);
        }
        task_free(b, t);
}

static void task_begin_end(struct broker *b, struct task *t, enum task_end why, bool identity_already_ended) {
        struct epoll_event ev = { .events = EPOLLIN };

        if (t->end != TASK_END_NONE)
                return;
        t->end = why;
        t->end_started_usec = monotonic_usec();

        if (!identity_already_ended) {
                char reason[128], status[64];
                int64_t id = t->identity_id;
                describe_status(t, status, sizeof(status));
                if (why == TASK_END_EXITED)
                        snprintf(reason, sizeof(reason), "task ended: %s", status);
                else
                        snprintf(reason, sizeof(reason), "task ended: %s", task_end_to_string(why));
                /* Revoked first: the account is gone before anything else. */
                if (broker_end_identities(b, NULL, &id, 1, IDENTITY_REVOKED, reason) < 0)
                        log_error("task %s: could not revoke its identity; it still expires by TTL", t->name);
        }

        t->cleaner = spawn_cleaner(t->uid, t->gid, t->home);
        if (t->cleaner < 0) {
                log_error("task %s: cannot fork a cleaner: %s; the orphan sweep will kill its processes", t->name,
                          strerror(errno));
                t->cleaner_done = true;
                t->cleaner_status = 3;
                task_maybe_finish(b, t);
                return;
        }
        t->cleaner_pidfd = pidfd_open_compat(t->cleaner);
        ev.data.ptr = &t->cleaner_watch;
        if (t->cleaner_pidfd < 0 || epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, t->cleaner_pidfd, &ev) < 0) {
                /* Cannot wait asynchronously: wait now (it is quick). */
                int st;
                while (waitpid(t->cleaner, &st, 0) < 0 && errno == EINTR)
                        ;
                t->cleaner_done = true;
                t->cleaner_status = WIFEXITED(st) ? WEXITSTATUS(st) : 3;
                task_maybe_finish(b, t);
        }
}

void task_on_pidfd(struct broker *b, void *watch) {
        struct task *t;
        int st;

        for (t = b->tasks; t; t = t->next)
                if (watch == &t->leader_watch || watch == &t->cleaner_watch)
                        break;
        if (!t)
                return;
        if (watch == &t->leader_watch) {
                if (t->leader_reaped || waitpid(t->leader, &st, WNOHANG) <= 0)
                        return;
                t->leader_reaped = true;
                t->wait_status = st;
                epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, t->leader_pidfd, NULL);
                close(t->leader_pidfd);
                t->leader_pidfd = -1;
                if (t->end == TASK_END_NONE)
                        task_begin_end(b, t, TASK_END_EXITED, false);
                task_maybe_finish(b, t);
        } else {
                if (t->cleaner_done || waitpid(t->cleaner, &st, WNOHANG) <= 0)
                        return;
                t->cleaner_done = true;
                t->cleaner_status = WIFEXITED(st) ? WEXITSTATUS(st) : 3;
                if (t->cleaner_status)
                        log_error("task %s: cleaner status %d", t->name, t->cleaner_status);
                task_maybe_finish(b, t);
        }
}

int task_signal(struct broker *b, struct conn *conn, int signo) {
        for (struct task *t = b->tasks; t; t = t->next)
                if (t->conn == conn) {
                        if (t->end != TASK_END_NONE || t->leader_reaped)
                                return -ESRCH;
                        /* The leader leads its own session and process group
                         * (setsid); the group is what a terminal signals. */
                        return kill(-t->leader, signo) < 0 ? -errno : 0;
                }
        return -ESRCH;
}

void task_reconcile(struct broker *b) {
        struct task *t = b->tasks, *next;

        for (; t; t = next) {
                struct identity i;
                next = t->next; /* t may finish and be freed below */
                if (t->end != TASK_END_NONE || store_get(b->store, t->identity_id, &i) < 0 ||
                    i.state == IDENTITY_LIVE)
                        continue;
                task_begin_end(b, t, i.state == IDENTITY_EXPIRED ? TASK_END_EXPIRED : TASK_END_REVOKED, true);
        }
}

void task_on_conn_closed(struct broker *b, struct conn *conn, void *userdata) {
        (void) userdata;
        for (struct task *t = b->tasks; t; t = t->next)
                if (t->conn == conn) {
                        t->conn = NULL;
                        task_begin_end(b, t, TASK_END_INVOKER_GONE, false);
                        return;
                }
}

void task_stop_all(struct broker *b) {
        while (b->tasks) {
                struct task *t = b->tasks;
                int st;

                task_begin_end(b, t, TASK_END_SHUTDOWN, false);
                if (!t->cleaner_done && t->cleaner > 0) {
                        while (waitpid(t->cleaner, &st, 0) < 0 && errno == EINTR)
                                ;
                        t->cleaner_done = true;
                        t->cleaner_status = WIFEXITED(st) ? WEXITSTATUS(st) : 3;
                }
                if (!t->leader_reaped) {
                        while (waitpid(t->leader, &st, 0) < 0 && errno == EINTR)
                                ;
                        t->leader_reaped = true;
                        t->wait_status = st;
                }
                task_maybe_finish(b, t);
        }
}

/* ---- orphans ------------------------------------------------------------ */

static bool uid_has_task(const struct broker *b, uid_t uid) {
        for (struct task *t = b->tasks; t; t = t->next)
                if (t->uid == uid)
                        return true;
        return false;
}

static int revoke_stale_task(void *userdata, const struct identity *i) {
        struct broker *b = userdata;
        int64_t id = i->id;
        int dfd;

        if (broker_end_identities(b, NULL, &id, 1, IDENTITY_REVOKED, "its task's broker stopped") < 0)
                return 0;
        (void) kill_uid_processes(i->uid, i->gid);
        /* Empty the home as the agent, then remove it. */
        dfd = open(i->home, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd >= 0) {
                pid_t pid = fork();
                if (pid == 0)
                        _exit(become(i->uid, i->gid) == 0 && remove_contents(dfd) == 0 ? 0 : 1);
                close(dfd);
                if (pid > 0)
                        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                                ;
                rmdir(i->home);
        }
        return 0;
}

struct orphan_scan {
        struct broker *b;
        uid_t found[256];
        size_t n;
};

static bool note_orphan_uid(void *userdata, const unsigned long ids[3], bool zombie) {
        struct orphan_scan *ctx = userdata;
        struct broker *b = ctx->b;

        if (zombie)
                return false;
        for (int k = 0; k < 3; k++) {
                uid_t uid = (uid_t) ids[k];
                bool dup = false;
                if (uid < b->config.uid_min || uid > b->config.uid_max || uid_has_task(b, uid))
                        continue;
                for (size_t j = 0; j < ctx->n; j++)
                        dup |= ctx->found[j] == uid;
                if (!dup && store_uid_is_live(b->store, uid) == 0)
                        ctx->found[ctx->n++] = uid;
        }
        return ctx->n >= ELEMENTSOF(ctx->found) - 3; /* the rest: next sweep */
}

void task_sweep_orphans(struct broker *b, bool at_start) {
        struct orphan_scan ctx = {};

        /* Tasks a previous broker ran lost their invoker with it: end them. */
        if (at_start)
                (void) store_list_live_tasks(b->store, revoke_stale_task, b);

        ctx.b = b;
        (void) proc_scan(note_orphan_uid, &ctx);

        for (size_t k = 0; k < ctx.n; k++) {
                uid_t uid = ctx.found[k];
                char detail[96];
                int r = kill_uid_processes(uid, uid);
                struct event e = event_for(EVENT_KILL, NULL, NULL, detail);

                e.uid = uid;
                snprintf(detail, sizeof(detail), "orphan processes (no live identity) %s",
                         r == 0 ? "killed" : "could not all be killed");
                log_warning("uid %u: %s", (unsigned) uid, detail);
                (void) broker_record_event(b, &e);
        }
}
