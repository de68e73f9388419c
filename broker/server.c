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
#include "log.h"
#include "macro.h"
#include "protocol.h"
#include "stepup.h"
#include "task.h"

struct conn {
        struct watch watch;
        int fd;
        struct caller caller;
        char *in;
        size_t in_len, in_cap;
        char *out;
        size_t out_len, out_off, out_cap;
        uint64_t last_active_ms;
        bool close_after_flush;
        bool dead; /* closed; freed once the current epoll batch is done */
        struct task *task; /* a Run in progress on this connection */
        bool parked;       /* waiting for a step-up decision (stepup.c) */
        bool pending;      /* has replies waiting for the turn's commit */
        struct conn *pending_next;
        int fds[3];        /* descriptors received (SCM_RIGHTS) for a Run */
        size_t n_fds;
        struct conn *prev, *next;
};

/* Closed connections wait here until the end of the epoll batch, since a
 * later event of the same batch may still point at them. */
static struct conn *graveyard;

/* Connections with replies queued during this turn of the loop. Replies are
 * sent only after the turn's transaction is committed: no client is told of
 * a change that is not yet durable (group commit, see store_begin). */
static struct conn *pending;
static bool in_turn;

static void conn_mark_pending(struct conn *c) {
        if (c->pending || c->dead)
                return;
        c->pending = true;
        c->pending_next = pending;
        pending = c;
}

static struct watch watch_listen = { WATCH_LISTEN }, watch_signal = { WATCH_SIGNAL },
                    watch_expiry = { WATCH_EXPIRY }, watch_tick = { WATCH_TICK };

static uint64_t monotonic_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void conn_drop_fds(struct conn *c) {
        for (size_t k = 0; k < c->n_fds; k++)
                close(c->fds[k]);
        c->n_fds = 0;
}

static void conn_close(struct broker *b, struct conn *c) {
        if (c->dead)
                return;
        conn_drop_fds(c);
        if (c->task)
                task_on_conn_closed(b, c);
        c->task = NULL;
        stepup_on_conn_closed(b, c);
        epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        if (c->prev)
                c->prev->next = c->next;
        else
                b->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        b->n_conns--;
        c->dead = true;
        c->prev = NULL;
        c->next = graveyard;
        graveyard = c;
}

static void bury_closed(void) {
        while (graveyard) {
                struct conn *c = graveyard;
                graveyard = c->next;
                free(c->caller.groups);
                free(c->in);
                free(c->out);
                free(c);
        }
}

static int conn_update_events(struct broker *b, struct conn *c) {
        struct epoll_event ev = { .data.ptr = &c->watch };

        /* Stop reading while a reply is pending or the connection is
         * being closed: a client that does not read cannot make us queue. */
        if (c->out_len > c->out_off)
                ev.events |= EPOLLOUT;
        else if (!c->close_after_flush)
                ev.events |= EPOLLIN;
        return epoll_ctl(b->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0 ? -errno : 0;
}

/* Queue a frame (msg plus its NUL). */
static int conn_queue(struct conn *c, const char *msg, size_t len) {
        size_t need = c->out_len + len + 1;

        if (need > AGENTID_OUTPUT_BUFFER_MAX)
                return -ENOBUFS;
        if (need > c->out_cap) {
                size_t ncap = c->out_cap ? c->out_cap : 4096;
                char *n;
                while (ncap < need)
                        ncap *= 2;
                n = realloc(c->out, ncap);
                if (!n)
                        return -ENOMEM;
                c->out = n;
                c->out_cap = ncap;
        }
        memcpy(c->out + c->out_len, msg, len);
        c->out[c->out_len + len] = '\0';
        c->out_len += len + 1;
        return 0;
}

static int conn_queue_error(struct conn *c, const char *error, const char *message) {
        size_t len;
        _cleanup_free_ char *msg = protocol_error_format(error, message, NULL, &len);
        return msg ? conn_queue(c, msg, len) : -ENOMEM;
}

/* Returns <0 when the connection must be dropped. */
static int conn_flush(struct conn *c) {
        while (c->out_off < c->out_len) {
                ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        return -errno;
                }
                c->out_off += (size_t) n;
        }
        c->out_off = c->out_len = 0;
        return c->close_after_flush ? -ECONNRESET : 0;
}

/* recv, keeping up to three descriptors passed with SCM_RIGHTS (for Run);
 * any others are closed at once. */
static ssize_t conn_recv(struct conn *c, char *buf, size_t size) {
        union {
                char buf[CMSG_SPACE(sizeof(int) * 8)];
                struct cmsghdr align;
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control) };
        ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

        if (n < 0)
                return n;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                int *fds = (int *) CMSG_DATA(cm);
                for (size_t k = 0; k < count; k++) {
                        if (c->n_fds < ELEMENTSOF(c->fds))
                                c->fds[c->n_fds++] = fds[k];
                        else
                                close(fds[k]);
                }
        }
        if (mh.msg_flags & MSG_CTRUNC) /* some were dropped: none can be trusted */
                conn_drop_fds(c);
        return n;
}

const struct caller *conn_caller(struct conn *c) {
        return &c->caller;
}

void conn_set_task(struct conn *c, struct task *t) {
        c->task = t;
}

void conn_set_parked(struct conn *c, bool parked) {
        c->parked = parked;
}

void conn_send_reply(struct broker *b, struct conn *c, json_t *parameters, const char *error, const char *message) {
        _cleanup_free_ char *out = NULL;
        size_t len = 0;

        if (c->dead)
                return;
        out = error ? protocol_error_format(error, message, NULL, &len) : protocol_reply_format(parameters, &len);
        if (!out || conn_queue(c, out, len) < 0) {
                conn_close(b, c);
                return;
        }
        if (in_turn)
                conn_mark_pending(c);
        else if (conn_flush(c) < 0 || conn_update_events(b, c) < 0)
                conn_close(b, c);
}

static void handle_message(struct broker *b, struct conn *c, const char *msg, size_t len) {
        struct protocol_request req = {};
        struct reply reply = {};
        const char *why;
        _cleanup_free_ char *out = NULL;
        size_t out_len = 0;
        int r;

        r = protocol_request_parse(msg, len, &req, &why);
        if (r < 0) {
                log_debug("uid %u pid %d: bad request: %s", (unsigned) c->caller.uid, (int) c->caller.pid, why);
                (void) conn_queue_error(c, r == -EMSGSIZE ? AGENTID_ERROR_MESSAGE_TOO_LARGE
                                                          : AGENTID_ERROR_INVALID_REQUEST,
                                        why ? why : "out of memory");
                return;
        }
        if (c->task) {
                /* While a task runs the connection is its control channel:
                 * only one-way Signal requests, which get no reply (the next
                 * message the client reads is the task's end). */
                if (streq(req.method, AGENTID_METHOD_SIGNAL))
                        method_signal(b, c, req.parameters);
                else
                        log_debug("uid %u: %s ignored while a task runs", (unsigned) c->caller.uid, req.method);
                protocol_request_done(&req);
                conn_drop_fds(c);
                return;
        }
        if (c->parked) {
                /* One answer is owed on this connection; nothing may jump
                 * ahead of it. */
                protocol_request_done(&req);
                conn_drop_fds(c);
                return;
        }
        if (pam_method_on_conn(req.method)) {
                conn_drop_fds(c);
                r = method_pam_conn(b, c, req.method, req.parameters, &reply);
                if (r == 0 && !reply.parameters && !reply.error) { /* parked: answered later */
                        protocol_request_done(&req);
                        return;
                }
        } else if (streq(req.method, AGENTID_METHOD_RUN)) {
                r = method_run(b, c, req.parameters, c->fds, &c->n_fds, &reply);
                conn_drop_fds(c);
                if (r == 0) { /* started: the first reply is already queued */
                        protocol_request_done(&req);
                        return;
                }
        } else {
                conn_drop_fds(c);
                broker_dispatch(b, &c->caller, req.method, req.parameters, &reply);
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
        if (!out || conn_queue(c, out, out_len) < 0)
                c->close_after_flush = true;
}

/* Returns <0 when the connection must be dropped. */
static int conn_read(struct broker *b, struct conn *c) {
        for (;;) {
                ssize_t n;
                size_t start = 0;

                if (c->in_cap - c->in_len < 4096) {
                        size_t ncap = c->in_cap ? c->in_cap * 2 : 8192;
                        char *nb;
                        if (ncap > AGENTID_REQUEST_MAX + 4096)
                                ncap = AGENTID_REQUEST_MAX + 4096;
                        if (ncap > c->in_cap) {
                                nb = realloc(c->in, ncap);
                                if (!nb)
                                        return -ENOMEM;
                                c->in = nb;
                                c->in_cap = ncap;
                        }
                }
                n = conn_recv(c, c->in + c->in_len, c->in_cap - c->in_len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        return -errno;
                }
                if (n == 0)
                        return -ECONNRESET;
                c->last_active_ms = monotonic_ms();
                c->in_len += (size_t) n;

                /* Handle every complete frame; keep the partial tail. */
                for (;;) {
                        char *nul = memchr(c->in + start, '\0', c->in_len - start);
                        if (!nul)
                                break;
                        handle_message(b, c, c->in + start, (size_t) (nul - (c->in + start)));
                        start = (size_t) (nul - c->in) + 1;
                        if (c->close_after_flush)
                                return 0;
                }
                if (start > 0) {
                        memmove(c->in, c->in + start, c->in_len - start);
                        c->in_len -= start;
                }
                if (c->in_len > AGENTID_REQUEST_MAX) {
                        /* No terminator within the limit: answer once, then
                         * hang up; the rest of the stream is not trusted. */
                        (void) conn_queue_error(c, AGENTID_ERROR_MESSAGE_TOO_LARGE,
                                                "request exceeds the maximum message size");
                        c->close_after_flush = true;
                        c->in_len = 0;
                        return 0;
                }
                if (c->out_len > c->out_off)
                        return 0; /* reply pending: read more after it is sent */
        }
}

static void on_conn(struct broker *b, struct conn *c, uint32_t events) {
        int r = 0;

        if (c->dead)
                return;
        if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) {
                conn_close(b, c);
                return;
        }
        if (events & EPOLLIN)
                r = conn_read(b, c);
        if (r < 0) {
                conn_close(b, c);
                return;
        }
        /* Replies (and EPOLLOUT progress) go out after the turn's commit. */
        conn_mark_pending(c);
}

static int peer_groups(int fd, gid_t primary, struct caller *caller) {
        socklen_t len = 64 * sizeof(gid_t);
        gid_t *g = NULL;

        for (;;) {
                gid_t *ng = realloc(g, len + sizeof(gid_t));
                if (!ng) {
                        free(g);
                        return -ENOMEM;
                }
                g = ng;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g + 1, &len) == 0)
                        break;
                if (errno != ERANGE || len > 65536 * sizeof(gid_t)) {
                        /* Without the group list, callers match by uid only:
                         * less access, never more. */
                        len = 0;
                        break;
                }
        }
        g[0] = primary;
        caller->groups = g;
        caller->n_groups = 1 + len / sizeof(gid_t);
        return 0;
}

static void on_listen(struct broker *b) {
        for (int k = 0; k < 64; k++) {
                struct ucred cred;
                socklen_t len = sizeof(cred);
                struct epoll_event ev = { .events = EPOLLIN };
                struct conn *c;
                int fd = accept4(b->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (fd < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                log_warning("accept: %s", strerror(errno));
                        return;
                }
                if (b->n_conns >= b->config.max_connections) {
                        static const char busy[] = "{\"error\":\"" AGENTID_ERROR_TOO_MANY_CONNECTIONS
                                                   "\",\"parameters\":{\"message\":\"too many connections\"}}";
                        (void) !send(fd, busy, sizeof(busy), MSG_NOSIGNAL | MSG_DONTWAIT);
                        close(fd);
                        continue;
                }
                if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.pid <= 0) {
                        close(fd);
                        continue;
                }
                c = calloc(1, sizeof(*c));
                if (!c || peer_groups(fd, cred.gid, &c->caller) < 0) {
                        free(c);
                        close(fd);
                        continue;
                }
                c->watch.kind = WATCH_CONN;
                c->fd = fd;
                c->caller.uid = cred.uid;
                c->caller.gid = cred.gid;
                c->caller.pid = cred.pid;
                c->last_active_ms = monotonic_ms();
                ev.data.ptr = &c->watch;
                if (epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                        free(c->caller.groups);
                        free(c);
                        close(fd);
                        continue;
                }
                c->next = b->conns;
                if (b->conns)
                        b->conns->prev = c;
                b->conns = c;
                b->n_conns++;
        }
}

static void on_tick(struct broker *b) {
        uint64_t count, now = monotonic_ms(), idle_ms = b->config.idle_timeout_usec / 1000;
        static uint64_t last_status = UINT64_MAX, last_sweep_ms;

        (void) !read(b->tick_fd, &count, sizeof(count));
        for (struct conn *c = b->conns, *next; c; c = next) {
                next = c->next;
                /* A connection that controls a running task is not idle. */
                if (!c->task && !c->parked && now - c->last_active_ms >= idle_ms)
                        conn_close(b, c);
        }
        /* The tick runs on the event loop, so a WATCHDOG=1 proves the loop
         * turns; systemd restarts a broker that stops sending it. */
        if (b->watchdog_usec)
                sd_notify(0, "WATCHDOG=1");
        b->checkpoint_due = true; /* after this turn's commit */
        /* Expired token rows go; retired keys leave the JWKS file once
         * every token they signed has expired. */
        keyring_housekeeping(b);
        /* Step-up requests nobody decided in time expire. */
        stepup_housekeeping(b);
        /* The orphan sweep reads /proc: twice a minute is plenty, tasks'
         * own teardown does not wait for it. */
        if (now - last_sweep_ms >= 30000) {
                last_sweep_ms = now;
                task_sweep_orphans(b, false);
        }
        if (last_status != b->live_count) {
                last_status = b->live_count;
                sd_notifyf(0, "STATUS=%llu live agents", (unsigned long long) b->live_count);
        }
}

static void on_signal(struct broker *b) {
        struct signalfd_siginfo si;

        while (read(b->signal_fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
                if (si.ssi_signo == SIGHUP) {
                        struct template_set fresh;
                        if (template_set_load(&fresh, b->config.templates_dir, broker_report_template_problem) == 0) {
                                template_set_free(&b->templates);
                                b->templates = fresh;
                                log_info("reloaded %zu templates", b->templates.n);
                        }
                } else {
                        log_info("received %s, stopping", strsignal((int) si.ssi_signo));
                        b->quit = true;
                }
        }
}

static int add_watch(struct broker *b, int fd, struct watch *w) {
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };
        return epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int server_run(struct broker *b) {
        struct itimerspec tick = {};
        uint64_t period_ms;
        sigset_t mask;
        int r;

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
        /* Idle connections are closed within half their timeout. */
        period_ms = b->config.idle_timeout_usec / 2000;
        if (period_ms > 1000)
                period_ms = 1000;
        tick.it_value.tv_sec = tick.it_interval.tv_sec = (time_t) (period_ms / 1000);
        tick.it_value.tv_nsec = tick.it_interval.tv_nsec = (long) (period_ms % 1000) * 1000000;
        if (timerfd_settime(b->tick_fd, 0, &tick, NULL) < 0)
                return -errno;

        if ((r = add_watch(b, b->listen_fd, &watch_listen)) < 0 || (r = add_watch(b, b->signal_fd, &watch_signal)) < 0 ||
            (r = add_watch(b, b->expiry.timer_fd, &watch_expiry)) < 0 || (r = add_watch(b, b->tick_fd, &watch_tick)) < 0)
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
                in_turn = true;
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
                        }
                }
                in_turn = false;
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
                while (pending) {
                        struct conn *c = pending;
                        pending = c->pending_next;
                        c->pending = false;
                        if (!c->dead && (conn_flush(c) < 0 || conn_update_events(b, c) < 0))
                                conn_close(b, c);
                }
                if (b->checkpoint_due) {
                        b->checkpoint_due = false;
                        (void) store_checkpoint(b->store);
                }
                bury_closed();
        }

        sd_notify(0, "STOPPING=1");
        task_stop_all(b);
        while (b->conns)
                conn_close(b, b->conns);
        bury_closed();
        return 0;
}
