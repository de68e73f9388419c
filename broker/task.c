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

#include "agentid/protocol.h"
#include "broker.h"
#include "conn.h"
#include "duration.h"
#include "events.h"
#include "fs-util.h"
#include "lifecycle.h"
#include "log.h"
#include "macro.h"
#include "proc.h"
#include "runtime.h"
#include "uid-cleanup.h"

struct task {
        struct watch leader_watch;
        struct watch start_watch; /* the runtime's word that the command runs */
        bool started;
        char start_error[512];
        int64_t identity_id;
        char name[AGENTID_NAME_MAX + 1];
        uid_t uid;
        gid_t gid;
        char home[AGENTID_PATH_MAX + 1];
        struct runtime_task rt;
        bool leader_reaped;
        int wait_status;
        bool cleaner_started, cleaner_done;
        bool may_leave_namespace; /* its template lets the agent in by ssh */
        /* Its PID namespace (direct runtime; /proc/<init>/ns/pid), read at
         * start while the init surely lives: a cleaner started as it is
         * killed knows its processes from others of the uid. */
        bool pidns_known;
        dev_t pidns_dev;
        ino_t pidns_ino;
        bool unwatched; /* re-attached at start, before the event loop */
        unsigned leftovers; /* uid-cleanup.h LEFTOVER_* */
        unsigned early_leftovers; /* of an early cleaner that gave up (PIDNS_STILL_ALIVE) */
        enum task_end end;
        uint64_t end_started_usec; /* CLOCK_MONOTONIC */
        struct conn *conn;
        struct task *prev, *next;
};

unsigned task_count(const struct broker *b) {
        return b->n_tasks;
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
        case TASK_END_FAILED:
                return "failed";
        default:
                return "running";
        }
}

bool task_owns_identity(const struct broker *b, int64_t identity_id) {
        for (struct task *t = b->tasks; t; t = t->next)
                if (t->identity_id == identity_id)
                        return true;
        return false;
}

/* ---- starting ----------------------------------------------------------- */

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

/* Identities ending (revoked, expired) end the tasks they run, and their
 * teardown, not lifecycle.c's, cleans up after them. */
static void task_set_hooks(struct broker *b) {
        b->on_identities_ended = task_reconcile;
        b->identity_has_task = task_owns_identity;
}

int task_start(struct broker *b, struct conn *conn, const struct identity *i, const struct template *t,
               struct task_spec *spec, char *error, size_t error_size) {
        struct epoll_event ev = { .events = EPOLLIN };
        char command[160];
        size_t o = 0;
        struct task *task;
        int r;

        /* What the runtime cannot enforce is refused before anything runs. */
        r = runtime_check(&b->runtime, &t->confinement, i->home, spec->no_new_privs, error, error_size);
        if (r < 0)
                return r;
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
        task_set_hooks(b);
        task = calloc(1, sizeof(*task));
        if (!task) {
                snprintf(error, error_size, "out of memory");
                return -ENOMEM;
        }
        r = make_home(i);
        if (r < 0) {
                snprintf(error, error_size, "cannot create home %s: %s", i->home, strerror(-r));
                free(task);
                return r;
        }
        *task = (struct task) {
                .leader_watch = { WATCH_TASK },
                .start_watch = { WATCH_TASK },
                .identity_id = i->id,
                .uid = i->uid,
                .gid = i->gid,
                .conn = conn,
                .may_leave_namespace = t->ssh != STEP_DENY,
        };
        /* In place: a runtime may keep pointers to it. */
        r = runtime_start(&b->runtime, i, t, spec, &task->rt, error, error_size);
        if (r < 0) {
                rmdir(i->home);
                free(task);
                return r;
        }
        snprintf(task->name, sizeof(task->name), "%s", i->name);
        snprintf(task->home, sizeof(task->home), "%s", i->home);
        if (b->runtime.kind == RUNTIME_DIRECT && task->rt.pid > 0) {
                /* Our child, not reaped before task_on_pidfd: its pid is its. */
                char path[64];
                struct stat st;
                snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int) task->rt.pid);
                if (stat(path, &st) == 0) {
                        task->pidns_known = true;
                        task->pidns_dev = st.st_dev;
                        task->pidns_ino = st.st_ino;
                }
        }
        ev.data.ptr = &task->leader_watch;
        r = epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, task->rt.pidfd, &ev);
        ev.data.ptr = &task->start_watch;
        if (r == 0 && epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, task->rt.status_fd, &ev) < 0) {
                r = -1;
                epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, task->rt.pidfd, NULL);
        }
        if (r < 0) {
                /* Cannot follow it: it must not run unwatched. */
                r = -errno;
                (void) runtime_kill(&b->runtime, &task->rt);
                while (waitid(P_PIDFD, (id_t) task->rt.pidfd, NULL, WEXITED) < 0 && errno == EINTR)
                        ;
                runtime_release(&b->runtime, &task->rt);
                rmdir(i->home);
                free(task);
                snprintf(error, error_size, "cannot follow the task: %s", strerror(-r));
                return r;
        }
        task->next = b->tasks;
        if (b->tasks)
                b->tasks->prev = task;
        b->tasks = task;
        b->n_tasks++;
        /* The connection is the task's from now on; the first reply goes
         * when the runtime says the command runs (task_on_started). */
        conn_set_task(conn, true);
        return 0;
}

/* ---- ending ------------------------------------------------------------- */

static void task_free(struct broker *b, struct task *t) {
        if (t->rt.pidfd >= 0)
                epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, t->rt.pidfd, NULL);
        runtime_release(&b->runtime, &t->rt);
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

/* Every process is gone and the cleaner is done: report and forget. */
static void task_maybe_finish(struct broker *b, struct task *t) {
        char status[64], detail[256];
        struct identity i = {};
        uint64_t teardown;
        json_t *reply;

        if (!t->leader_reaped || !t->cleaner_done)
                return;
        teardown = monotonic_usec() - t->end_started_usec;
        describe_status(t, status, sizeof(status));
        snprintf(detail, sizeof(detail), "task %s (%s); processes killed%s%s; home %s%s; teardown %" PRIu64 "us",
                 task_end_to_string(t->end), status, t->leftovers & LEFTOVER_PROCESSES ? " (some survived!)" : "",
                 t->leftovers & RAN_OUTSIDE ? ", some outside the task (its files in /tmp & co. removed too)" : "",
                 t->leftovers & LEFTOVER_HOME ? "NOT fully removed" : "removed",
                 t->leftovers & LEFTOVER_MASK & ~(unsigned) (LEFTOVER_PROCESSES | LEFTOVER_HOME)
                         ? "; leftovers: uid quarantined"
                         : "",
                 teardown);
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

static void task_start_cleaner(struct broker *b, struct task *t);

static void task_cleaner_done(struct broker *b, void *userdata, unsigned leftovers) {
        int64_t id = (int64_t) (intptr_t) userdata;

        for (struct task *t = b->tasks; t; t = t->next)
                if (t->identity_id == id && t->cleaner_started && !t->cleaner_done) {
                        if (leftovers & PIDNS_STILL_ALIVE) {
                                /* The early cleaner gave up waiting for the
                                 * namespace: an ordinary one, once it is dead
                                 * (task_on_pidfd), or now if it is by now. */
                                t->early_leftovers = leftovers & ~(unsigned) PIDNS_STILL_ALIVE;
                                t->cleaner_started = false;
                                if (t->leader_reaped)
                                        task_start_cleaner(b, t);
                                return;
                        }
                        t->cleaner_done = true;
                        t->leftovers = leftovers | t->early_leftovers;
                        task_maybe_finish(b, t);
                        return;
                }
}

/* Every process of the task is gone: clean up what it may have left
 * outside its namespaces (its home; files and IPC of processes it had
 * outside them, such as an ssh session of the agent). */
static void task_start_cleaner(struct broker *b, struct task *t) {
        struct uid_cleanup job = {
                .uid = t->uid,
                .done = task_cleaner_done,
                .userdata = (void *) (intptr_t) t->identity_id,
                /* Its private /tmp & co. died with it; the shared ones can
                 * hold only what it did outside (an ssh session). */
                .sweep_shared = t->may_leave_namespace,
        };

        if (t->cleaner_started)
                return;
        t->cleaner_started = true;
        /* Started as its namespace is killed (task_begin_end): it waits
         * for the namespace's init before the home. */
        if (!t->leader_reaped && t->pidns_known && t->rt.pidfd >= 0) {
                job.pidns_dying = true;
                job.pidns_init_pidfd = t->rt.pidfd;
                job.pidns_dev = t->pidns_dev;
                job.pidns_ino = t->pidns_ino;
        }
        snprintf(job.agent, sizeof(job.agent), "%s", t->name);
        snprintf(job.home, sizeof(job.home), "%s", t->home);
        uid_cleanup_start(b, &job, 1);
}

static void task_begin_end(struct broker *b, struct task *t, enum task_end why, bool identity_already_ended) {
        if (t->end != TASK_END_NONE)
                return;
        t->end = why;
        t->end_started_usec = monotonic_usec();

        if (!identity_already_ended) {
                char reason[600], status[64];
                int64_t id = t->identity_id;
                describe_status(t, status, sizeof(status));
                if (why == TASK_END_FAILED)
                        snprintf(reason, sizeof(reason), "task could not start: %s", t->start_error);
                else if (why == TASK_END_EXITED)
                        snprintf(reason, sizeof(reason), "task ended: %s", status);
                else
                        snprintf(reason, sizeof(reason), "task ended: %s", task_end_to_string(why));
                /* Revoked first: the account is gone before anything else. */
                if (broker_end_identities(b, NULL, &id, 1, IDENTITY_REVOKED, reason) < 0)
                        log_error("task %s: could not revoke its identity; it still expires by TTL", t->name);
        }
        if (t->leader_reaped)
                task_start_cleaner(b, t);
        else if (runtime_kill(&b->runtime, &t->rt) < 0)
                log_error("task %s: cannot kill it: %s", t->name, strerror(errno));
        else if (t->pidns_known)
                /* Its walk of /proc runs while the namespace dies, not
                 * after (the cleaner waits for the init before the home). */
                task_start_cleaner(b, t);
        /* Its pidfd tells when everything is gone (task_on_pidfd). */
}

/* The runtime reported on the start: answer the invoker. */
static void task_on_started(struct broker *b, struct task *t) {
        struct identity i;
        json_t *reply;
        int r;

        r = runtime_started(&b->runtime, &t->rt, t->start_error, sizeof(t->start_error));
        if (r == 0)
                return;
        epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, t->rt.status_fd, NULL);
        t->started = true; /* answered, either way */
        if (r > 0) {
                if (t->conn && t->end == TASK_END_NONE && store_get(b->store, t->identity_id, &i) == 0) {
                        reply = json_pack("{s:o, s:i, s:s}", "agent", identity_to_json(&b->owners, &i, now_usec()), "pid",
                                          (int) t->rt.pid, "runtime", runtime_name(&b->runtime));
                        conn_send_reply(b, t->conn, reply, NULL, NULL);
                        json_decref(reply);
                }
                return;
        }
        /* It never ran: the invoker gets the error, not an end. */
        if (t->conn) {
                conn_set_task(t->conn, false);
                conn_send_reply(b, t->conn, NULL, AGENTID_ERROR_TASK_FAILED, t->start_error);
                t->conn = NULL;
        }
        task_begin_end(b, t, TASK_END_FAILED, false);
}

void task_on_pidfd(struct broker *b, void *watch) {
        struct task *t;
        int st;

        for (t = b->tasks; t; t = t->next)
                if (watch == &t->leader_watch || watch == &t->start_watch)
                        break;
        if (!t)
                return;
        if (!t->started)
                task_on_started(b, t);
        if (watch == &t->start_watch || t->leader_reaped || runtime_collect(&b->runtime, &t->rt, &st) <= 0)
                return;
        t->leader_reaped = true;
        t->wait_status = st;
        epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, t->rt.pidfd, NULL);
        if (t->end == TASK_END_NONE)
                task_begin_end(b, t, TASK_END_EXITED, false);
        else
                task_start_cleaner(b, t);
}

int task_signal(struct broker *b, struct conn *conn, int signo) {
        for (struct task *t = b->tasks; t; t = t->next)
                if (t->conn == conn) {
                        if (!t->started || t->end != TASK_END_NONE || t->leader_reaped)
                                return -ESRCH;
                        return runtime_signal(&b->runtime, &t->rt, signo);
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
        if (runtime_tasks_outlive_broker(&b->runtime)) {
                /* They go on (bounded by RuntimeMaxSec=); the next broker
                 * follows them again (task_sweep_orphans). */
                while (b->tasks) {
                        struct task *t = b->tasks;
                        runtime_release(&b->runtime, &t->rt);
                        task_unlink(b, t);
                        free(t);
                }
                uid_cleanup_stop_all(b);
                return;
        }
        /* Kill them all first, then collect: the namespaces die in the
         * kernel meanwhile. Shutdown is the one place we wait, and only for
         * the kernel; cleaners are waited for (bounded) by
         * uid_cleanup_stop_all. */
        for (struct task *t = b->tasks; t; t = t->next)
                task_begin_end(b, t, TASK_END_SHUTDOWN, false);
        for (struct task *t = b->tasks; t; t = t->next) {
                siginfo_t si = {};
                int st;
                if (t->leader_reaped)
                        continue;
                while (waitid(P_PIDFD, (id_t) t->rt.pidfd, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
                        ;
                if (runtime_collect(&b->runtime, &t->rt, &st) > 0) {
                        t->leader_reaped = true;
                        t->wait_status = st;
                        task_start_cleaner(b, t);
                }
        }
        uid_cleanup_stop_all(b);
        /* Whatever did not finish (no cleaner could run) is forgotten. */
        while (b->tasks) {
                struct task *t = b->tasks;
                t->leader_reaped = t->cleaner_done = true;
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

/* A task a previous broker ran: its namespace died with that broker (the
 * init's parent-death signal); revoking it queues the cleanup of what its
 * uid may have left elsewhere (broker_end_identities). */
/* A task a previous broker started that still runs (systemd): follow it
 * again. Its watches are added once the event loop is up. */
static int reattach(struct broker *b, const struct identity *i) {
        struct task *task = calloc(1, sizeof(*task));

        if (!task)
                return -ENOMEM;
        *task = (struct task) {
                .leader_watch = { WATCH_TASK },
                .start_watch = { WATCH_TASK },
                .started = true,
                .identity_id = i->id,
                .uid = i->uid,
                .gid = i->gid,
                .unwatched = true,
        };
        if (runtime_attach(&b->runtime, i, &task->rt) < 0) {
                free(task);
                return -ESRCH;
        }
        task_set_hooks(b);
        snprintf(task->name, sizeof(task->name), "%s", i->name);
        snprintf(task->home, sizeof(task->home), "%s", i->home);
        task->next = b->tasks;
        if (b->tasks)
                b->tasks->prev = task;
        b->tasks = task;
        b->n_tasks++;
        log_info("task %s: still running as %s, followed again", i->name, task->rt.unit);
        return 0;
}

void task_on_loop_start(struct broker *b) {
        struct epoll_event ev = { .events = EPOLLIN };

        /* From the top each time: a task may end (and go) right here. */
        for (;;) {
                struct task *t;
                for (t = b->tasks; t && !t->unwatched; t = t->next)
                        ;
                if (!t)
                        return;
                t->unwatched = false;
                ev.data.ptr = &t->leader_watch;
                if (epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, t->rt.pidfd, &ev) < 0)
                        log_error("task %s: cannot follow it: %s", t->name, strerror(errno));
                /* It may have ended before we looked. */
                task_on_pidfd(b, &t->leader_watch);
        }
}

int task_attach(struct broker *b, struct conn *conn, const char *agent, const struct caller *c, json_t **ret) {
        for (struct task *t = b->tasks; t; t = t->next) {
                struct identity i;
                if (!streq(t->name, agent) || t->end != TASK_END_NONE)
                        continue;
                if (store_get(b->store, t->identity_id, &i) < 0)
                        return -ESRCH;
                if (!caller_is_admin(b, c) && c->uid != i.owner_uid)
                        return -EPERM;
                if (t->conn)
                        return -EBUSY;
                if (conn_add_close_hook(conn, task_on_conn_closed, NULL) < 0)
                        return -ENOMEM;
                t->conn = conn;
                conn_set_task(conn, true);
                *ret = json_pack("{s:o, s:b, s:s}", "agent", identity_to_json(&b->owners, &i, now_usec()), "attached", 1,
                                 "runtime", runtime_name(&b->runtime));
                return 0;
        }
        return -ESRCH;
}

static int revoke_stale_task(void *userdata, const struct identity *i) {
        struct broker *b = userdata;
        int64_t id = i->id;

        if (runtime_tasks_outlive_broker(&b->runtime) && reattach(b, i) == 0)
                return 0;

        (void) broker_end_identities(b, NULL, &id, 1, IDENTITY_REVOKED, "its task's broker stopped");
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
                /* One pass from here, as root, right away; a cleaner
                 * finishes the job (and quarantines the uid if it cannot). */
                int r = uid_kill_pass(uid);
                struct event e = event_for(EVENT_KILL, NULL, NULL, detail);
                struct uid_cleanup job = { .uid = uid, .sweep_shared = true };

                e.uid = uid;
                snprintf(detail, sizeof(detail), "orphan processes (no live identity): %d killed", r < 0 ? 0 : r);
                log_warning("uid %u: %s", (unsigned) uid, detail);
                (void) broker_record_event(b, &e);
                uid_cleanup_start(b, &job, 1);
        }
}
