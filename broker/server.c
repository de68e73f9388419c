/* SPDX-License-Identifier: MIT */
/* The event loop: one thread, epoll over the listening socket, client
 * connections, the expiry timer, a housekeeping tick and signals. No
 * client can block it: all client I/O is nonblocking and bounded. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "agentid/protocol.h"
#include "broker.h"
#include "conn.h"
#include "duration.h"
#include "events.h"
#include "lifecycle.h"
#include "id-directory.h"
#include "log.h"
#include "macro.h"
#include "methods.h"
#include "protocol.h"
#include "server.h"
#include "status-list.h"
#include "stepup.h"
#include "task.h"
#include "uid-cleanup.h"

void broker_report_template_problem(const char *message) {
        log_warning("%s", message);
}

static void handle_message(struct broker *b, struct conn *c, const char *msg, size_t len) {
        struct protocol_request req = {};
        struct reply reply = {};
        const struct caller *caller = conn_caller(c);
        const struct method *m;
        const char *why;
        char *out = NULL;
        size_t out_len = 0;
        int r;

        r = protocol_request_parse(msg, len, &req, &why);
        if (r < 0) {
                log_debug("uid %u pid %d: bad request: %s", (unsigned) caller->uid, (int) caller->pid, why);
                conn_queue_error(c, r == -EMSGSIZE ? AGENTID_ERROR_MESSAGE_TOO_LARGE : AGENTID_ERROR_INVALID_REQUEST,
                                 why ? why : "out of memory");
                return;
        }
        m = method_lookup(req.method);
        if (conn_runs_task(c)) {
                /* While a task runs the connection is its control channel:
                 * only one-way task control requests, which get no reply
                 * (the next message the client reads is the task's end). */
                if (m && (m->flags & METHOD_TASK_CONTROL)) {
                        (void) method_call(b, m, c, req.parameters, &reply);
                        json_decref(reply.parameters);
                } else
                        log_debug("uid %u: %s ignored while a task runs", (unsigned) caller->uid, req.method);
                protocol_request_done(&req);
                conn_drop_fds(c);
                return;
        }
        if (conn_is_parked(c)) {
                /* One answer is owed on this connection; nothing may jump
                 * ahead of it. */
                protocol_request_done(&req);
                conn_drop_fds(c);
                return;
        }
        if (!m || (m->flags & METHOD_TASK_CONTROL)) {
                conn_drop_fds(c);
                reply_fail(&reply, AGENTID_ERROR_METHOD_NOT_FOUND, "unknown method %.64s", req.method);
        } else if (method_call(b, m, c, req.parameters, &reply) > 0) {
                /* The method kept the connection: answered later. */
                protocol_request_done(&req);
                return;
        }
        if (reply.error)
                out = protocol_error_format(reply.error, reply.message, NULL, &out_len);
        else
                out = protocol_reply_format(reply.parameters, &out_len);
        json_decref(reply.parameters);
        protocol_request_done(&req);

        if (out && out_len > AGENTID_MESSAGE_MAX) {
                free(out);
                out = protocol_error_format(AGENTID_ERROR_INTERNAL, "reply too large; use a smaller limit", NULL,
                                            &out_len);
        }
        conn_queue_frame(c, out, out_len);
        free(out);
}

static void on_conn(struct broker *b, struct conn *c, uint32_t events) {
        int r = 0;

        if (conn_is_dead(c))
                return;
        if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) {
                conn_close(b, c);
                return;
        }
        if (events & EPOLLIN)
                r = conn_read(b, c, handle_message);
        if (r < 0) {
                conn_close(b, c);
                return;
        }
        /* Replies (and EPOLLOUT progress) go out after the turn's commit. */
        conn_mark_pending(b, c);
}

static void on_listen(struct broker *b) {
        for (int k = 0; k < 64; k++) {
                struct ucred cred;
                socklen_t len = sizeof(cred);
                char why[192] = "";
                int r;
                int fd = accept4(b->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (fd < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                log_warning("accept: %s", strerror(errno));
                        return;
                }
                if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.pid <= 0) {
                        close(fd);
                        continue;
                }
                r = conn_new(b, fd, cred.uid, cred.gid, cred.pid, why, sizeof(why));
                if (r == -EBUSY) {
                        /* Over a share (max_connections, the reserve, the
                         * uid's own): say which, in one line, and hang up. */
                        size_t blen = 0;
                        _cleanup_free_ char *busy =
                                protocol_error_format(AGENTID_ERROR_TOO_MANY_CONNECTIONS, why, NULL, &blen);
                        if (busy)
                                (void) !send(fd, busy, blen + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                        log_debug("uid %u: connection refused: %s", (unsigned) cred.uid, why);
                }
                if (r < 0)
                        close(fd);
        }
}

/* SIGHUP's reload (on_signal, or on_tick once users and groups are read). */
static void reload_templates(struct broker *b) {
        struct template_set fresh;

        b->templates_reload_usec = 0;
        if (template_set_load(&fresh, b->config.templates_dir, broker_report_template_problem) == 0) {
                template_set_free(&b->templates);
                b->templates = fresh;
                log_info("reloaded %zu templates", b->templates.n);
        }
}

static void on_tick(struct broker *b) {
        uint64_t count, now = monotonic_msec();

        (void) !read(b->tick_fd, &count, sizeof(count));
        conn_close_idle(b, b->config.idle_timeout_usec / 1000);
        conn_resume_throttled(b, handle_message);
        /* The tick runs on the event loop, so a WATCHDOG=1 proves the loop
         * turns; systemd restarts a broker that stops sending it. */
        if (b->watchdog_usec)
                sd_notify(0, "WATCHDOG=1");
        b->checkpoint_due = true; /* after this turn's commit */
        /* Expired token rows go; retired keys leave the JWKS file once
         * every token they signed has expired. */
        keyring_housekeeping(b);
        /* The token status list is re-signed before it expires. */
        status_list_housekeeping(b);
        /* Step-up requests nobody decided in time expire. */
        stepup_housekeeping(b);
        /* Refusal counts whose window ended become events. */
        broker_flush_refusals(b, false);
        /* Users and groups: a new snapshot when /etc/passwd or /etc/group
         * changed, built off the loop (id-directory.h). */
        id_directory_refresh(monotonic_usec());
        if (b->templates_reload_usec && id_directory_fresh_since(b->templates_reload_usec))
                reload_templates(b);
        /* Exec-trail summaries, then the chain's tip signed at its interval. */
        exec_trail_housekeeping(b);
        audit_signer_housekeeping(b);
        /* Cleanups held back while a walk of the shared directories was
         * too recent, once no more revocations come to start them. */
        uid_cleanup_attach(b);
        /* The orphan sweep reads /proc: twice a minute is plenty, tasks'
         * own teardown does not wait for it. */
        if (now - b->tick_last_sweep_ms >= 30000) {
                b->tick_last_sweep_ms = now;
                task_sweep_orphans(b, false);
        }
        if (b->tick_last_status != b->live_count) {
                b->tick_last_status = b->live_count;
                sd_notifyf(0, "STATUS=%llu live agents", (unsigned long long) b->live_count);
        }
}

static void on_signal(struct broker *b) {
        struct signalfd_siginfo si;

        while (read(b->signal_fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
                if (si.ssi_signo == SIGHUP) {
                        /* Templates name users and groups. If /etc/passwd
                         * or /etc/group changed since the directory snapshot
                         * (a user or group just added), they are reloaded
                         * once a snapshot begun after this signal is in (a
                         * tick or two), never by asking NSS on the loop;
                         * else now. */
                        b->templates_reload_usec = monotonic_usec();
                        if (id_directory_files_unchanged())
                                reload_templates(b);
                        else
                                id_directory_request(b->templates_reload_usec);
                } else {
                        log_info("received %s, stopping", strsignal((int) si.ssi_signo));
                        b->quit = true;
                }
        }
}

static void dispatch(struct broker *b, const struct epoll_event *events, int n) {
        for (int k = 0; k < n; k++) {
                struct watch *w = events[k].data.ptr;
                switch (w->kind) {
                case WATCH_LISTEN:
                        on_listen(b);
                        break;
                case WATCH_SIGNAL:
                        on_signal(b);
                        break;
                case WATCH_EXPIRY:
                        expiry_ack(&b->expiry);
                        (void) broker_expire_due(b);
                        break;
                case WATCH_TICK:
                        on_tick(b);
                        break;
                case WATCH_CONN:
                        on_conn(b, (struct conn *) w, events[k].events);
                        break;
                case WATCH_TASK:
                        task_on_pidfd(b, w);
                        break;
                case WATCH_EXEC:
                        exec_trail_on_event(b);
                        break;
                case WATCH_CLEANER:
                        uid_cleanup_on_pidfd(b, w);
                        break;
                case WATCH_RUNTIME:
                        runtime_process(&b->runtime);
                        break;
                }
        }
        /* D-Bus messages read during the batch's calls (systemd runtime). */
        runtime_process(&b->runtime);
}

/* A turn looks for more ready sockets this many times before it commits:
 * clients answered by the last commit have usually sent their next
 * request by the time this turn's first batch is handled, and one more
 * batch in the same commit costs no fsync (docs/performance.md). Bounded,
 * so the first replies of a turn wait for at most this many batches. */
#define TURN_BATCHES_MAX 3

static int add_watch(struct broker *b, int fd, struct watch *w) {
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };
        return epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int server_run(struct broker *b) {
        struct itimerspec tick = {};
        uint64_t period_ms;
        sigset_t mask;
        int r;

        b->tick_last_status = UINT64_MAX;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        b->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        b->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        b->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (b->epoll_fd < 0 || b->signal_fd < 0 || b->tick_fd < 0)
                return -errno;
        shares_init(&b->shares, b->config.max_connections, b->config.reserved_connections,
                    b->config.max_connections_per_uid, b->config.request_rate, b->config.request_burst);
        /* Idle connections are closed within half their timeout. */
        period_ms = b->config.idle_timeout_usec / 2000;
        if (period_ms > 1000)
                period_ms = 1000;
        tick.it_value.tv_sec = tick.it_interval.tv_sec = (time_t) (period_ms / 1000);
        tick.it_value.tv_nsec = tick.it_interval.tv_nsec = (long) (period_ms % 1000) * 1000000;
        if (timerfd_settime(b->tick_fd, 0, &tick, NULL) < 0)
                return -errno;

        b->watch_listen.kind = WATCH_LISTEN;
        b->watch_signal.kind = WATCH_SIGNAL;
        b->watch_expiry.kind = WATCH_EXPIRY;
        b->watch_tick.kind = WATCH_TICK;
        if ((r = add_watch(b, b->listen_fd, &b->watch_listen)) < 0 ||
            (r = add_watch(b, b->signal_fd, &b->watch_signal)) < 0 ||
            (r = add_watch(b, b->expiry.timer_fd, &b->watch_expiry)) < 0 ||
            (r = add_watch(b, b->tick_fd, &b->watch_tick)) < 0)
                return r;
        /* The systemd runtime's bus: unit signals. */
        b->watch_runtime.kind = WATCH_RUNTIME;
        if (runtime_fd(&b->runtime) >= 0 && (r = add_watch(b, runtime_fd(&b->runtime), &b->watch_runtime)) < 0)
                return r;
        /* Tasks re-attached and cleanups queued while starting. */
        task_on_loop_start(b);
        uid_cleanup_attach(b);

        /* Programs agents execute, from the kernel (exec-trail.c). */
        r = exec_trail_open(b);
        if (r < 0)
                return r;

        if (sd_watchdog_enabled(0, &b->watchdog_usec) <= 0)
                b->watchdog_usec = 0;
        else if (period_ms * 1000 > b->watchdog_usec / 2)
                log_warning("WatchdogSec= is shorter than twice the housekeeping tick (%llums)",
                            (unsigned long long) period_ms);
        sd_notifyf(0, "READY=1\nSTATUS=%llu live agents", (unsigned long long) b->live_count);
        log_info("ready on %s (%llu live agents)", b->socket_path, (unsigned long long) b->live_count);

        while (!b->quit) {
                struct epoll_event events[64];
                int n = epoll_wait(b->epoll_fd, events, (int) ELEMENTSOF(events), -1);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                /* One transaction per turn: every change the turn makes is
                 * committed with one fsync before any reply leaves. */
                r = store_begin(b->store);
                if (r < 0)
                        return r;
                b->in_turn = true;
                allocator_new_turn(&b->allocator);
                for (int batch = 1;; batch++) {
                        dispatch(b, events, n);
                        uid_cleanup_release_ended(b);
                        if (batch >= TURN_BATCHES_MAX || b->quit)
                                break;
                        n = epoll_wait(b->epoll_fd, events, (int) ELEMENTSOF(events), 0);
                        if (n <= 0)
                                break;
                }
                b->in_turn = false;
                /* Cleaners for what the turn ended, one per kind for all. */
                uid_cleanup_attach(b);
                /* One signature for the turn's revocations, not one per
                 * revocation; in the turn's transaction (it extends the
                 * signing key's lifetime), before any reply leaves. */
                status_list_publish_due(b);
                if (allocator_persist(&b->allocator, b->store) < 0)
                        log_warning("could not store the uid allocator's cursor: %s", store_error(b->store));
                r = store_commit(b->store);
                if (r < 0) {
                        /* Memory (heap, tasks, cursor) now runs ahead of the
                         * database: stop, and let the restart reload it. No
                         * reply of this turn is sent. */
                        store_rollback(b->store);
                        log_error("committing failed (%s): stopping so that state is reloaded from the database",
                                  store_error(b->store));
                        return r;
                }
                /* A checkpoint signed in this turn is committed now. */
                audit_signer_publish(b);
                conn_flush_pending(b);
                if (b->checkpoint_due) {
                        b->checkpoint_due = false;
                        (void) store_checkpoint(b->store);
                }
                conn_bury_closed(b);
        }

        sd_notify(0, "STOPPING=1");
        task_stop_all(b);
        uid_cleanup_stop_all(b);
        broker_flush_refusals(b, true);
        exec_trail_close(b);
        while (b->conns)
                conn_close(b, b->conns);
        conn_bury_closed(b);
        shares_free(&b->shares);
        return 0;
}
