/* SPDX-License-Identifier: MIT */
#include "exec-trail.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/cn_proc.h>
#include <arpa/inet.h>
#include <linux/connector.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "duration.h"
#include "events.h"
#include "lifecycle.h"
#include "log.h"
#include "macro.h"

/* Process-to-agent map: tgid -> agent uid, for every process known to
 * descend from an agent (so a process whose /proc entry is already gone is
 * still attributed). Open addressing, power-of-two size, bounded: when
 * full, new processes fall back to their /proc owner. Reader thread only. */
#define PID_MAP_SIZE 65536
#define PID_MAP_MAX (PID_MAP_SIZE / 2)

/* Execs read but not yet recorded by the loop; past it they are counted. */
#define QUEUE_MAX 1024
/* uids whose queue overflows are counted per uid, this many at once. */
#define OVERFLOW_SLOTS 64

/* While an agent stays over its bound, a summary at most this often. */
#define SUMMARY_INTERVAL_USEC (UINT64_C(300) * 1000000)

struct pid_slot {
        int32_t pid; /* 0: empty */
        uint32_t uid;
};

/* One exec as the reader thread saw it, details read at once. */
struct exec_record {
        uint32_t uid;
        int32_t pid, ppid;
        bool gone;
        uint64_t time_usec;
        char argv[EXEC_TRAIL_ARGV_MAX * 4 + 8];
        char cwd[EXEC_TRAIL_PATH_MAX * 4 + 8];
        char exe[EXEC_TRAIL_PATH_MAX * 4 + 8];
};

struct agent_trail {
        uint32_t uid;
        char name[AGENTID_NAME_MAX + 1];
        uint64_t recorded; /* exec events written (details or "gone") */
        uint64_t over;     /* execs past the bound, counted only */
        uint64_t reported; /* of over, already in a summary */
        uint64_t last_summary_usec;
};

struct exec_trail {
        struct watch watch; /* first: epoll's data pointer */
        int fd;             /* the connector socket (reader thread) */
        int wake_fd;        /* eventfd: the thread queued execs (loop, in epoll) */
        int stop_fd;        /* eventfd: the loop asks the thread to end */
        pthread_t thread;
        bool thread_running;
        uint32_t uid_min, uid_max;
        /* The broker's own: its uid killer takes agents' effective uids
         * for a moment (uid-killer.h), which is no agent process. */
        int32_t self_tgid;
        uint64_t ns_per_tick;
        struct pid_slot *map; /* reader thread only */
        size_t map_used;
        struct exec_record scratch; /* reader thread only */

        /* Shared, under lock. */
        pthread_mutex_t lock;
        struct exec_record *queue;
        size_t n_queued;
        struct {
                uint32_t uid;
                uint64_t n, first_usec;
        } overflow[OVERFLOW_SLOTS];
        uint64_t lost; /* kernel overruns (ENOBUFS) and overflow of the table above */
        /* Agents past their bound: their execs are counted, /proc is not
         * read for them (a fork loop costs the broker next to nothing). */
        uint32_t saturated[OVERFLOW_SLOTS];
        size_t n_saturated;

        /* The loop's. */
        struct exec_record *batch;
        struct agent_trail *agents;
        size_t n_agents;
        uint64_t lost_reported;
};

bool exec_trail_active(const struct broker *b) {
        return b->exec_trail && b->exec_trail->fd >= 0;
}

/* ---- pid map ---- */

static size_t slot_of(int32_t pid) {
        return ((uint32_t) pid * 2654435761u) & (PID_MAP_SIZE - 1);
}

static struct pid_slot *map_find(struct exec_trail *t, int32_t pid) {
        for (size_t k = slot_of(pid), n = 0; n < PID_MAP_SIZE; k = (k + 1) & (PID_MAP_SIZE - 1), n++) {
                if (t->map[k].pid == pid)
                        return &t->map[k];
                if (t->map[k].pid == 0)
                        return NULL;
        }
        return NULL;
}

static void map_put(struct exec_trail *t, int32_t pid, uint32_t uid) {
        struct pid_slot *s = map_find(t, pid);
        size_t k;

        if (s) {
                s->uid = uid;
                return;
        }
        if (t->map_used >= PID_MAP_MAX)
                return;
        for (k = slot_of(pid); t->map[k].pid != 0; k = (k + 1) & (PID_MAP_SIZE - 1))
                ;
        t->map[k] = (struct pid_slot) { .pid = pid, .uid = uid };
        t->map_used++;
}

/* Remove with backward shift, so lookups never need tombstones. */
static void map_del(struct exec_trail *t, int32_t pid) {
        struct pid_slot *s = map_find(t, pid);
        size_t hole, k;

        if (!s)
                return;
        hole = (size_t) (s - t->map);
        t->map[hole].pid = 0;
        t->map_used--;
        for (k = (hole + 1) & (PID_MAP_SIZE - 1); t->map[k].pid != 0; k = (k + 1) & (PID_MAP_SIZE - 1)) {
                size_t home = slot_of(t->map[k].pid);
                /* Move it into the hole unless its home lies cyclically in (hole, k]. */
                bool stays = hole <= k ? (home > hole && home <= k) : (home > hole || home <= k);
                if (!stays) {
                        t->map[hole] = t->map[k];
                        t->map[k].pid = 0;
                        hole = k;
                }
        }
}

/* ---- agents (the loop) ---- */

/* Processes of an ended agent are killed within its teardown; what they
 * execute until then is still the agent's. */
#define TEARDOWN_GRACE_USEC (UINT64_C(10) * 1000000)

/* The trail of the agent that had uid at time when (an exec queued just
 * before its agent ended, or during its teardown, still counts), created
 * on first use; NULL if none. */
static struct agent_trail *agent_of(struct broker *b, uint32_t uid, uint64_t when, struct identity *i) {
        struct exec_trail *t = b->exec_trail;
        struct agent_trail *nt;

        if (store_find(b->store, NULL, uid, true, i) < 0 || i->created_usec > when ||
            (i->state != IDENTITY_LIVE && i->ended_usec + TEARDOWN_GRACE_USEC < when))
                return NULL;
        for (size_t k = 0; k < t->n_agents; k++)
                if (t->agents[k].uid == uid && streq(t->agents[k].name, i->name))
                        return &t->agents[k];
        nt = realloc(t->agents, (t->n_agents + 1) * sizeof(*nt));
        if (!nt)
                return NULL;
        t->agents = nt;
        nt = &t->agents[t->n_agents++];
        *nt = (struct agent_trail) { .uid = uid, .last_summary_usec = now_usec() };
        snprintf(nt->name, sizeof(nt->name), "%s", i->name);
        return nt;
}

/* ---- reading /proc ---- */

static ssize_t read_file(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = read(fd, buf, size);
        return n < 0 ? -errno : n;
}

/* Shell-like quoting, so "sh -c 'id; ls /'" reads as it was run; control
 * bytes as \xNN. Returns false when out did not hold it all. */
static bool append_arg(char *out, size_t size, size_t *o, const char *arg, size_t len) {
        bool plain = len > 0;
        char tmp[8];

        for (size_t k = 0; k < len && plain; k++)
                plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./=:,+@%-", arg[k]) &&
                        arg[k];
        if (*o > 0 && *o + 1 < size)
                out[(*o)++] = ' ';
        if (!plain && *o + 1 < size)
                out[(*o)++] = '\'';
        for (size_t k = 0; k < len; k++) {
                unsigned char c = (unsigned char) arg[k];
                const char *piece = tmp;
                if (c == '\'')
                        piece = "'\\''";
                else if (c < 0x20 || c == 0x7f)
                        snprintf(tmp, sizeof(tmp), "\\x%02x", c);
                else
                        tmp[0] = (char) c, tmp[1] = '\0';
                if (*o + strlen(piece) + 4 >= size)
                        return false;
                memcpy(out + *o, piece, strlen(piece));
                *o += strlen(piece);
        }
        if (!plain && *o + 1 < size)
                out[(*o)++] = '\'';
        out[*o] = '\0';
        return true;
}

static void format_argv(const char *raw, size_t n, bool cut, char *out, size_t size) {
        size_t o = 0;

        out[0] = '\0';
        for (size_t start = 0; start < n;) {
                size_t len = strnlen(raw + start, n - start);
                if (!append_arg(out, size - 4, &o, raw + start, len)) {
                        cut = true;
                        break;
                }
                start += len + 1;
        }
        if (cut)
                snprintf(out + o, size - o, "...");
}

/* A path from /proc (cwd, exe), control bytes escaped, cut at size. */
static void read_link(int32_t pid, const char *what, char *out, size_t size) {
        char path[64], raw[EXEC_TRAIL_PATH_MAX + 1];
        ssize_t n;
        size_t o = 0;

        snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
        n = readlink(path, raw, sizeof(raw) - 1);
        if (n < 0) {
                snprintf(out, size, "?");
                return;
        }
        raw[n] = '\0';
        for (ssize_t k = 0; k < n && o + 5 < size; k++) {
                unsigned char c = (unsigned char) raw[k];
                if (c < 0x20 || c == 0x7f)
                        o += (size_t) snprintf(out + o, size - o, "\\x%02x", c);
                else
                        out[o++] = (char) c;
        }
        out[o] = '\0';
        if (n == (ssize_t) sizeof(raw) - 1 && o + 4 < size)
                snprintf(out + o, size - o, "...");
}

/* ppid and start time (clock ticks since boot) from /proc/PID/stat. */
static int read_stat(int32_t pid, int32_t *ppid, uint64_t *start_ticks) {
        char path[64], buf[1024];
        const char *p;
        unsigned long long start = 0;
        int pp = 0;
        ssize_t n;

        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        n = read_file(path, buf, sizeof(buf) - 1);
        if (n <= 0)
                return n < 0 ? (int) n : -ESRCH;
        buf[n] = '\0';
        /* comm may hold anything, ")" included: fields start after the last. */
        p = strrchr(buf, ')');
        if (!p || sscanf(p + 1, " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                         &pp, &start) != 2)
                return -EBADMSG;
        *ppid = pp;
        *start_ticks = start;
        return 0;
}

/* ---- the reader thread: events in, details read at once ---- */

static bool in_range(const struct exec_trail *t, uint32_t uid) {
        return uid >= t->uid_min && uid <= t->uid_max;
}

static void read_details(struct exec_trail *t, struct exec_record *x, uint64_t exec_ns) {
        char path[64], raw[EXEC_TRAIL_ARGV_MAX + 1];
        uint64_t start_ticks = 0;
        ssize_t n;

        snprintf(path, sizeof(path), "/proc/%d/cmdline", x->pid);
        n = read_file(path, raw, sizeof(raw));
        x->gone = n <= 0 || read_stat(x->pid, &x->ppid, &start_ticks) < 0;
        /* Read after the pid went to a newer process: not this exec. */
        if (!x->gone && start_ticks * t->ns_per_tick > exec_ns)
                x->gone = true;
        if (x->gone)
                return;
        format_argv(raw, (size_t) n, n == (ssize_t) sizeof(raw), x->argv, sizeof(x->argv));
        read_link(x->pid, "cwd", x->cwd, sizeof(x->cwd));
        read_link(x->pid, "exe", x->exe, sizeof(x->exe));
}

/* Under lock. */
static bool is_saturated(const struct exec_trail *t, uint32_t uid) {
        for (size_t k = 0; k < t->n_saturated; k++)
                if (t->saturated[k] == uid)
                        return true;
        return false;
}

/* Under lock. */
static void set_saturated(struct exec_trail *t, uint32_t uid, bool on) {
        for (size_t k = 0; k < t->n_saturated; k++)
                if (t->saturated[k] == uid) {
                        if (!on)
                                t->saturated[k] = t->saturated[--t->n_saturated];
                        return;
                }
        if (on && t->n_saturated < OVERFLOW_SLOTS)
                t->saturated[t->n_saturated++] = uid;
}

/* When the exec happened, as wall-clock time: the kernel stamps the event
 * with CLOCK_MONOTONIC; this thread may read it late (a loaded machine),
 * and an exec just before its agent ended is still that agent's. */
static uint64_t exec_time_usec(uint64_t exec_ns) {
        struct timespec ts;
        uint64_t mono_ns, now = now_usec();

        if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
                return now;
        mono_ns = (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
        if (exec_ns > mono_ns || (mono_ns - exec_ns) / 1000 > now)
                return now;
        return now - (mono_ns - exec_ns) / 1000;
}

static void count_overflow(struct exec_trail *t, uint32_t uid, uint64_t when) {
        for (size_t k = 0; k < OVERFLOW_SLOTS; k++)
                if (t->overflow[k].n == 0 || t->overflow[k].uid == uid) {
                        if (t->overflow[k].n == 0)
                                t->overflow[k].first_usec = when;
                        t->overflow[k].uid = uid;
                        t->overflow[k].n++;
                        return;
                }
        t->lost++;
}

static void on_exec(struct exec_trail *t, int32_t tgid, uint64_t exec_ns) {
        struct pid_slot *s = map_find(t, tgid);
        struct exec_record *x;
        uint32_t uid;
        uint64_t one = 1, when = exec_time_usec(exec_ns);
        bool wake;

        if (s)
                uid = s->uid;
        else {
                char path[64];
                struct stat st;
                /* Not seen forking from an agent or becoming one: its owner
                 * now (the owner of /proc/PID is its effective uid). */
                snprintf(path, sizeof(path), "/proc/%d", tgid);
                if (stat(path, &st) < 0 || !in_range(t, st.st_uid))
                        return;
                uid = st.st_uid;
                map_put(t, tgid, uid);
        }
        pthread_mutex_lock(&t->lock);
        if (is_saturated(t, uid)) {
                count_overflow(t, uid, when);
                pthread_mutex_unlock(&t->lock);
                return;
        }
        pthread_mutex_unlock(&t->lock);
        /* Read first, outside the lock: the process may be gone soon. */
        x = &t->scratch;
        *x = (struct exec_record) { .uid = uid, .pid = tgid, .time_usec = when };
        read_details(t, x, exec_ns);
        pthread_mutex_lock(&t->lock);
        if (t->n_queued >= QUEUE_MAX)
                count_overflow(t, uid, when);
        else
                t->queue[t->n_queued++] = *x;
        wake = t->n_queued == 1;
        pthread_mutex_unlock(&t->lock);
        if (wake)
                (void) !write(t->wake_fd, &one, sizeof(one));
}

static void on_proc_event(struct exec_trail *t, const struct proc_event *ev) {
        struct pid_slot *s;

        switch (ev->what) {
        case PROC_EVENT_FORK:
                /* A new process (not a thread): a known agent process's is
                 * that agent's; anyone else's clears whatever a lost exit
                 * event left under its pid. */
                if (ev->event_data.fork.child_pid != ev->event_data.fork.child_tgid)
                        break;
                if ((s = map_find(t, ev->event_data.fork.parent_tgid)))
                        map_put(t, ev->event_data.fork.child_tgid, s->uid);
                else
                        map_del(t, ev->event_data.fork.child_tgid);
                break;
        case PROC_EVENT_UID: {
                /* A process becoming an agent (a task's setresuid, a PAM
                 * session's): from now on it is that agent's. */
                uint32_t r = ev->event_data.id.r.ruid, e = ev->event_data.id.e.euid;
                if (ev->event_data.id.process_tgid == t->self_tgid)
                        break;
                if (in_range(t, r) || in_range(t, e))
                        map_put(t, ev->event_data.id.process_tgid, in_range(t, r) ? r : e);
                break;
        }
        case PROC_EVENT_EXEC:
                on_exec(t, ev->event_data.exec.process_tgid, ev->timestamp_ns);
                break;
        case PROC_EVENT_EXIT:
                if (ev->event_data.exit.process_pid == ev->event_data.exit.process_tgid)
                        map_del(t, ev->event_data.exit.process_tgid);
                break;
        default:
                break;
        }
}

/* The thread blocks in poll, never the loop: /proc reads happen here, at
 * once, while a short-lived process still exists. */
static void *reader(void *userdata) {
        struct exec_trail *t = userdata;
        /* Aligned for nlmsghdr; one datagram holds one event. */
        char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
        struct pollfd fds[2] = { { .fd = t->fd, .events = POLLIN }, { .fd = t->stop_fd, .events = POLLIN } };

        for (;;) {
                ssize_t n;
                if (poll(fds, 2, -1) < 0 && errno != EINTR)
                        break;
                if (fds[1].revents)
                        break;
                while ((n = recv(t->fd, buf, sizeof(buf), MSG_DONTWAIT)) != 0) {
                        if (n < 0) {
                                if (errno == ENOBUFS) { /* the kernel dropped events */
                                        pthread_mutex_lock(&t->lock);
                                        t->lost++;
                                        pthread_mutex_unlock(&t->lock);
                                        continue;
                                }
                                if (errno == EINTR)
                                        continue;
                                break; /* EAGAIN: drained */
                        }
                        for (struct nlmsghdr *nl = (struct nlmsghdr *) buf; NLMSG_OK(nl, (size_t) n);
                             nl = NLMSG_NEXT(nl, n)) {
                                struct cn_msg *cn;
                                struct proc_event ev;
                                if (nl->nlmsg_type == NLMSG_ERROR || nl->nlmsg_type == NLMSG_NOOP)
                                        continue;
                                cn = NLMSG_DATA(nl);
                                if (cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC ||
                                    nl->nlmsg_len < NLMSG_LENGTH(sizeof(*cn) + sizeof(ev)))
                                        continue;
                                /* The event sits 4 bytes past an 8-byte
                                 * boundary (after nlmsghdr and cn_msg):
                                 * copy it out rather than read it in place. */
                                memcpy(&ev, cn->data, sizeof(ev));
                                on_proc_event(t, &ev);
                        }
                }
        }
        return NULL;
}

/* ---- recording (the loop) ---- */

static void record_exec(struct broker *b, const struct exec_record *x) {
        char detail[sizeof(x->argv) + sizeof(x->cwd) + sizeof(x->exe) + 96];
        struct agent_trail *a;
        struct identity i;
        struct event e;

        a = agent_of(b, x->uid, x->time_usec, &i);
        if (!a) /* no live agent has that uid (any more) */
                return;
        if (a->recorded >= b->config.exec_trail_max) {
                a->over++;
                pthread_mutex_lock(&b->exec_trail->lock);
                set_saturated(b->exec_trail, x->uid, true);
                pthread_mutex_unlock(&b->exec_trail->lock);
                return;
        }
        if (!x->gone)
                snprintf(detail, sizeof(detail), "pid %d ppid %d exe %s cwd %s argv: %s", x->pid, x->ppid, x->exe,
                         x->cwd, x->argv);
        else
                snprintf(detail, sizeof(detail), "pid %d: exited before its program and arguments could be read",
                         x->pid);
        e = event_for(EVENT_EXEC, &i, NULL, detail);
        /* Who did it: the process itself, as the kernel reported it. */
        e.caller_uid = x->uid;
        e.caller_pid = x->pid;
        e.time_usec = x->time_usec;
        a->recorded++;
        if (broker_record_event(b, &e) < 0) {
                /* Fail closed: an agent whose actions can no longer be
                 * recorded does not go on acting. */
                int64_t id = i.id;
                log_error("exec trail: cannot record an exec of %s; revoking it", i.name);
                (void) broker_end_identities(b, NULL, &id, 1, IDENTITY_REVOKED, "exec trail could not be recorded");
        }
}

/* Take what the thread queued and counted. */
static void drain(struct broker *b) {
        struct exec_trail *t = b->exec_trail;
        size_t n;

        /* Take the whole queue; the thread refills an empty one. */
        pthread_mutex_lock(&t->lock);
        n = t->n_queued;
        memcpy(t->batch, t->queue, n * sizeof(*t->batch));
        t->n_queued = 0;
        for (size_t k = 0; k < OVERFLOW_SLOTS && t->overflow[k].n; k++) {
                struct identity i;
                struct agent_trail *a = agent_of(b, t->overflow[k].uid, t->overflow[k].first_usec, &i);
                if (a)
                        a->over += t->overflow[k].n;
                t->overflow[k].n = 0;
        }
        pthread_mutex_unlock(&t->lock);
        for (size_t k = 0; k < n; k++)
                record_exec(b, &t->batch[k]);
}

void exec_trail_on_event(struct broker *b) {
        uint64_t v;

        (void) !read(b->exec_trail->wake_fd, &v, sizeof(v));
        drain(b);
}

static void summarize(struct broker *b, struct agent_trail *a, bool ended) {
        char detail[256];
        struct identity i;
        struct event e;
        uint64_t n = a->over - a->reported;

        if (n == 0)
                return;
        snprintf(detail, sizeof(detail),
                 "%" PRIu64 " more programs executed past the trail's bound of %u (counted, not recorded one by "
                 "one); %" PRIu64 " execs in all%s",
                 n, b->config.exec_trail_max, a->recorded + a->over, ended ? "" : " so far");
        if (store_find(b->store, a->name, 0, false, &i) < 0)
                return;
        e = event_for(EVENT_EXEC_BOUND, &i, NULL, detail);
        if (broker_record_event(b, &e) == 0) {
                a->reported = a->over;
                a->last_summary_usec = now_usec();
        }
}

void exec_trail_housekeeping(struct broker *b) {
        struct exec_trail *t = b->exec_trail;
        uint64_t now = now_usec(), lost;

        if (!exec_trail_active(b))
                return;
        /* Execs past a bound are only counted: nothing woke the loop. */
        drain(b);
        for (size_t k = 0; k < t->n_agents;) {
                struct agent_trail *a = &t->agents[k];
                struct identity i;
                bool live = store_find(b->store, a->name, 0, false, &i) == 0 && i.state == IDENTITY_LIVE;

                if (!live || now - a->last_summary_usec >= SUMMARY_INTERVAL_USEC)
                        summarize(b, a, !live);
                if (!live && a->reported == a->over) {
                        pthread_mutex_lock(&t->lock);
                        set_saturated(t, a->uid, false);
                        pthread_mutex_unlock(&t->lock);
                        t->agents[k] = t->agents[--t->n_agents];
                        continue;
                }
                k++;
        }
        pthread_mutex_lock(&t->lock);
        lost = t->lost;
        pthread_mutex_unlock(&t->lock);
        if (lost > t->lost_reported) {
                char detail[256];
                struct event e;
                snprintf(detail, sizeof(detail),
                         "process events lost %" PRIu64 " times (kernel socket overrun, or more agents "
                         "flooding at once than can be counted apart): execs then are missing from agents' trails",
                         lost - t->lost_reported);
                e = event_for(EVENT_EXEC_BOUND, NULL, NULL, detail);
                if (broker_record_event(b, &e) == 0)
                        t->lost_reported = lost;
        }
}

/* In the kernel, before the reader wakes: keep the four kinds of event it
 * reads, and drop the broker's own uid changes (its uid killer makes two
 * per ended agent; uid-killer.h). Classic BPF reads words in network byte
 * order, hence the htonl of the host-order fields' values. */
static int attach_filter(int fd, int32_t self_tgid) {
        enum {
                WHAT = NLMSG_HDRLEN + sizeof(struct cn_msg) + offsetof(struct proc_event, what),
                TGID = NLMSG_HDRLEN + sizeof(struct cn_msg) + offsetof(struct proc_event, event_data.id.process_tgid),
        };
        struct sock_filter code[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, WHAT),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(PROC_EVENT_FORK), 5, 0),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(PROC_EVENT_EXEC), 4, 0),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(PROC_EVENT_EXIT), 3, 0),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl(PROC_EVENT_UID), 0, 3),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, TGID),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, htonl((uint32_t) self_tgid), 1, 0),
                BPF_STMT(BPF_RET | BPF_K, 0xffffffff), /* keep */
                BPF_STMT(BPF_RET | BPF_K, 0),          /* drop */
        };
        struct sock_fprog prog = { .len = ELEMENTSOF(code), .filter = code };

        return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ? -errno : 0;
}

static int subscribe(int fd, bool listen) {
        /* nlmsghdr + cn_msg + the operation, laid out as the kernel reads it. */
        char buf[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof(enum proc_cn_mcast_op))]
                __attribute__((aligned(NLMSG_ALIGNTO))) = {};
        struct nlmsghdr *nl = (struct nlmsghdr *) buf;
        struct cn_msg *cn = NLMSG_DATA(nl);
        enum proc_cn_mcast_op op = listen ? PROC_CN_MCAST_LISTEN : PROC_CN_MCAST_IGNORE;

        nl->nlmsg_len = NLMSG_LENGTH(sizeof(*cn) + sizeof(op));
        nl->nlmsg_type = NLMSG_DONE;
        nl->nlmsg_pid = 0;
        cn->id.idx = CN_IDX_PROC;
        cn->id.val = CN_VAL_PROC;
        cn->len = sizeof(op);
        memcpy(cn->data, &op, sizeof(op));
        return send(fd, buf, nl->nlmsg_len, 0) < 0 ? -errno : 0;
}

/* Everything a trail holds, once its thread is not running. */
static void trail_free(struct exec_trail *t) {
        if (t->fd >= 0)
                close(t->fd);
        if (t->wake_fd >= 0)
                close(t->wake_fd);
        if (t->stop_fd >= 0)
                close(t->stop_fd);
        free(t->agents);
        free(t->map);
        free(t->queue);
        free(t->batch);
        pthread_mutex_destroy(&t->lock);
        free(t);
}

int exec_trail_open(struct broker *b) {
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC };
        struct epoll_event ev = { .events = EPOLLIN };
        struct exec_trail *t;
        int rcvbuf = 8 * 1024 * 1024, r;
        long hz = sysconf(_SC_CLK_TCK);

        if (!b->config.exec_trail)
                return 0;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->watch.kind = WATCH_EXEC;
        t->fd = t->wake_fd = t->stop_fd = -1;
        t->uid_min = b->config.uid_min;
        t->uid_max = b->config.uid_max;
        t->self_tgid = (int32_t) getpid();
        t->ns_per_tick = hz > 0 ? (uint64_t) (1000000000 / hz) : 10000000;
        pthread_mutex_init(&t->lock, NULL);
        t->map = calloc(PID_MAP_SIZE, sizeof(*t->map));
        t->queue = calloc(QUEUE_MAX, sizeof(*t->queue));
        t->batch = calloc(QUEUE_MAX, sizeof(*t->batch));
        if (!t->map || !t->queue || !t->batch) {
                r = -ENOMEM;
                goto fail;
        }
        t->fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR);
        if (t->fd < 0 || bind(t->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || subscribe(t->fd, true) < 0) {
                log_warning("exec trail off: the process-events connector is not available (%s); agents' "
                            "programs are not recorded",
                            strerror(errno));
                if (t->fd >= 0)
                        close(t->fd);
                t->fd = -1;
                b->exec_trail = t;
                return 0;
        }
        /* Without the filter the reader sees more and ignores it. */
        if ((r = attach_filter(t->fd, t->self_tgid)) < 0)
                log_warning("exec trail: no socket filter (%s): every process event wakes its reader", strerror(-r));
        /* A burst of forks must not overrun the socket; what still
         * overruns is counted and reported (housekeeping). */
        if (setsockopt(t->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
                (void) setsockopt(t->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        t->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (t->wake_fd < 0 || t->stop_fd < 0) {
                r = -errno;
                goto fail;
        }
        ev.data.ptr = &t->watch;
        if (epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, t->wake_fd, &ev) < 0) {
                r = -errno;
                goto fail;
        }
        r = -pthread_create(&t->thread, NULL, reader, t);
        if (r == 0) /* top -H, ps -L: which thread is which */
                (void) pthread_setname_np(t->thread, "agentidd-exec");
        if (r < 0)
                goto fail;
        t->thread_running = true;
        b->exec_trail = t;
        return 0;
fail:
        trail_free(t);
        return r;
}

void exec_trail_close(struct broker *b) {
        struct exec_trail *t = b->exec_trail;
        uint64_t one = 1;

        if (!t)
                return;
        if (t->thread_running) {
                (void) !write(t->stop_fd, &one, sizeof(one));
                pthread_join(t->thread, NULL);
                /* What the thread queued before it stopped, then the sums. */
                drain(b);
                for (size_t k = 0; k < t->n_agents; k++)
                        summarize(b, &t->agents[k], false);
                (void) subscribe(t->fd, false);
        }
        trail_free(t);
        b->exec_trail = NULL;
}
