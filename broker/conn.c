/* SPDX-License-Identifier: MIT */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agentid/protocol.h"
#include "broker.h"
#include "duration.h"
#include "macro.h"
#include "protocol.h"

/* Linux 6.5; Debian 12's headers predate it. Where the kernel lacks it,
 * getsockopt fails and the /proc check runs without the pin. */
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

#define CONN_CLOSE_HOOKS_MAX 4

struct conn {
        struct watch watch;
        int fd;
        struct caller caller;
        char *in;
        size_t in_len, in_cap;
        char *out;
        size_t out_len, out_off, out_cap;
        /* The last complete request (or the accept): a client trickling a
         * frame byte by byte is idle all the same. */
        uint64_t last_request_ms;
        bool privileged; /* root or an admin: the reserve, no rate limit (shares.h) */
        /* Over its uid's request share: told so once, then not read until
         * the next housekeeping tick (conn_resume_throttled), so a flood
         * costs the broker one reply per connection per tick. */
        bool throttled;
        uint32_t epoll_events; /* as registered: changed only when they differ */
        bool close_after_flush;
        bool dead;      /* closed; freed once the current epoll batch is done */
        bool runs_task; /* a Run in progress on this connection (task.c) */
        bool parked;    /* waiting for a step-up decision (stepup.c) */
        bool pending;   /* has replies waiting for the turn's commit */
        struct conn *pending_next;
        int fds[3]; /* descriptors received (SCM_RIGHTS) for a Run */
        size_t n_fds;
        struct {
                conn_close_fn *fn;
                void *userdata;
        } close_hooks[CONN_CLOSE_HOOKS_MAX];
        size_t n_close_hooks;
        struct conn *prev, *next;
};

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

static void conn_free(struct conn *c) {
        if (c->caller.has_pidfd)
                close(c->caller.pidfd);
        free(c->caller.groups);
        free(c->in);
        free(c->out);
        free(c);
}

int conn_new(struct broker *b, int fd, uid_t uid, gid_t gid, pid_t pid, char *why, size_t why_size) {
        struct epoll_event ev = { .events = EPOLLIN };
        struct conn *c = calloc(1, sizeof(*c));
        int r;

        if (!c)
                return -ENOMEM;
        r = peer_groups(fd, gid, &c->caller);
        if (r < 0) {
                free(c);
                return r;
        }
        c->watch.kind = WATCH_CONN;
        c->fd = fd;
        c->caller.uid = uid;
        c->caller.gid = gid;
        c->caller.pid = pid;
        /* Root's connections may ask about a process's real uid (PAM
         * methods, proc_real_uid_pinned): pin the process, so that a pid
         * reused after it exits cannot answer for it. */
        if (uid == 0) {
                socklen_t plen = sizeof(c->caller.pidfd);
                c->caller.has_pidfd = getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &c->caller.pidfd, &plen) == 0;
        }
        c->last_request_ms = monotonic_msec();
        c->epoll_events = ev.events;
        /* Fair shares: root and admins (the PAM module runs as root)
         * always find a slot; no other uid can take more than its own. */
        c->privileged = caller_is_admin(b, &c->caller);
        r = shares_admit(&b->shares, uid, c->privileged, monotonic_usec(), why, why_size);
        if (r < 0) {
                conn_free(c);
                return r;
        }
        ev.data.ptr = &c->watch;
        if (epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                r = -errno;
                shares_release(&b->shares, uid, c->privileged);
                conn_free(c);
                return r;
        }
        c->next = b->conns;
        if (b->conns)
                b->conns->prev = c;
        b->conns = c;
        b->n_conns++;
        return 0;
}

void conn_drop_fds(struct conn *c) {
        for (size_t k = 0; k < c->n_fds; k++)
                close(c->fds[k]);
        c->n_fds = 0;
}

int conn_add_close_hook(struct conn *c, conn_close_fn *fn, void *userdata) {
        for (size_t k = 0; k < c->n_close_hooks; k++)
                if (c->close_hooks[k].fn == fn && c->close_hooks[k].userdata == userdata)
                        return 0;
        if (c->n_close_hooks >= ELEMENTSOF(c->close_hooks))
                return -ENOSPC;
        c->close_hooks[c->n_close_hooks].fn = fn;
        c->close_hooks[c->n_close_hooks].userdata = userdata;
        c->n_close_hooks++;
        return 0;
}

void conn_close(struct broker *b, struct conn *c) {
        if (c->dead)
                return;
        conn_drop_fds(c);
        /* Whoever keeps state for this connection lets go of it now (a
         * running task ends, open step-up requests expire). */
        for (size_t k = 0; k < c->n_close_hooks; k++)
                c->close_hooks[k].fn(b, c, c->close_hooks[k].userdata);
        c->n_close_hooks = 0;
        c->runs_task = false;
        epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        shares_release(&b->shares, c->caller.uid, c->privileged);
        if (c->prev)
                c->prev->next = c->next;
        else
                b->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        b->n_conns--;
        c->dead = true;
        c->prev = NULL;
        c->next = b->graveyard;
        b->graveyard = c;
}

void conn_bury_closed(struct broker *b) {
        while (b->graveyard) {
                struct conn *c = b->graveyard;
                b->graveyard = c->next;
                conn_free(c);
        }
}

void conn_mark_pending(struct broker *b, struct conn *c) {
        if (c->pending || c->dead)
                return;
        c->pending = true;
        c->pending_next = b->pending;
        b->pending = c;
}

static int conn_update_events(struct broker *b, struct conn *c) {
        struct epoll_event ev = { .data.ptr = &c->watch };

        /* Stop reading while a reply is pending or the connection is
         * being closed: a client that does not read cannot make us queue. */
        if (c->out_len > c->out_off)
                ev.events |= EPOLLOUT;
        else if (!c->close_after_flush && !c->throttled)
                ev.events |= EPOLLIN;
        /* Usually a reply went out whole and reading goes on: no call (one
         * syscall per reply saved, docs/performance.md). */
        if (ev.events == c->epoll_events)
                return 0;
        if (epoll_ctl(b->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
                return -errno;
        c->epoll_events = ev.events;
        return 0;
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

void conn_queue_error(struct conn *c, const char *error, const char *message) {
        size_t len;
        _cleanup_free_ char *msg = protocol_error_format(error, message, NULL, &len);
        if (msg)
                (void) conn_queue(c, msg, len);
}

void conn_queue_frame(struct conn *c, char *frame, size_t len) {
        if (!frame || conn_queue(c, frame, len) < 0)
                c->close_after_flush = true;
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

void conn_flush_pending(struct broker *b) {
        while (b->pending) {
                struct conn *c = b->pending;
                b->pending = c->pending_next;
                c->pending = false;
                if (!c->dead && (conn_flush(c) < 0 || conn_update_events(b, c) < 0))
                        conn_close(b, c);
        }
}

void conn_close_idle(struct broker *b, uint64_t idle_ms) {
        uint64_t now = monotonic_msec();

        for (struct conn *c = b->conns, *next; c; c = next) {
                next = c->next;
                /* A connection that controls a running task is not idle. */
                if (!c->runs_task && !c->parked && now - c->last_request_ms >= idle_ms)
                        conn_close(b, c);
        }
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

/* Handle every complete frame in the input buffer, keeping the partial
 * tail. <0 when the connection must be dropped. */
static int conn_handle_frames(struct broker *b, struct conn *c,
                              void (*on_message)(struct broker *b, struct conn *c, const char *msg, size_t len)) {
        size_t start = 0;

        for (;;) {
                char *nul = memchr(c->in + start, '\0', c->in_len - start);
                char why[192];
                if (!nul)
                        break;
                c->last_request_ms = monotonic_msec();
                /* The uid's request share (shares.h). A task's control
                 * channel and a parked connection owe their answers in
                 * order: nothing is answered ahead of them (the frame is
                 * dropped unanswered there). */
                if (!c->runs_task && !c->parked &&
                    !shares_take_request(&b->shares, c->caller.uid, c->privileged, monotonic_usec(), why,
                                         sizeof(why))) {
                        /* Not handled: the rest waits for the next tick. */
                        conn_queue_error(c, AGENTID_ERROR_TOO_MANY_REQUESTS, why);
                        c->throttled = true;
                        start = (size_t) (nul - c->in) + 1;
                        break;
                }
                on_message(b, c, c->in + start, (size_t) (nul - (c->in + start)));
                start = (size_t) (nul - c->in) + 1;
                if (c->close_after_flush)
                        return 0;
        }
        if (start > 0) {
                memmove(c->in, c->in + start, c->in_len - start);
                c->in_len -= start;
        }
        if (c->in_len > AGENTID_REQUEST_MAX) {
                /* No terminator within the limit: answer once, then hang
                 * up; the rest of the stream is not trusted. */
                conn_queue_error(c, AGENTID_ERROR_MESSAGE_TOO_LARGE, "request exceeds the maximum message size");
                c->close_after_flush = true;
                c->in_len = 0;
        }
        return 0;
}

int conn_read(struct broker *b, struct conn *c,
              void (*on_message)(struct broker *b, struct conn *c, const char *msg, size_t len)) {
        for (;;) {
                ssize_t n;
                int r;

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
                c->in_len += (size_t) n;
                r = conn_handle_frames(b, c, on_message);
                if (r < 0 || c->close_after_flush || c->throttled)
                        return r;
                if (c->out_len > c->out_off)
                        return 0; /* reply pending: read more after it is sent */
        }
}

void conn_resume_throttled(struct broker *b,
                           void (*on_message)(struct broker *b, struct conn *c, const char *msg, size_t len)) {
        for (struct conn *c = b->conns, *next; c; c = next) {
                next = c->next;
                if (!c->throttled || c->dead)
                        continue;
                c->throttled = false;
                /* Frames already read go first; then reading resumes
                 * (conn_update_events, after the turn's commit). */
                if (conn_handle_frames(b, c, on_message) < 0)
                        conn_close(b, c);
                else
                        conn_mark_pending(b, c);
        }
}

const struct caller *conn_caller(struct conn *c) {
        return &c->caller;
}

void conn_set_method(struct conn *c, const char *method) {
        c->caller.method = method;
}

size_t conn_fds(struct conn *c, const int **ret) {
        *ret = c->fds;
        return c->n_fds;
}

bool conn_is_dead(const struct conn *c) {
        return c->dead;
}

void conn_set_task(struct conn *c, bool runs_task) {
        c->runs_task = runs_task;
}

bool conn_runs_task(const struct conn *c) {
        return c->runs_task;
}

void conn_set_parked(struct conn *c, bool parked) {
        c->parked = parked;
}

bool conn_is_parked(const struct conn *c) {
        return c->parked;
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
        if (b->in_turn)
                conn_mark_pending(b, c);
        else if (conn_flush(c) < 0 || conn_update_events(b, c) < 0)
                conn_close(b, c);
}
