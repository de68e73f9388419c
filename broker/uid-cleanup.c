/* SPDX-License-Identifier: MIT */
#include "uid-cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/pidfd.h>
#include <sys/poll.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "duration.h"
#include "events.h"
#include "log.h"
#include "macro.h"
#include "proc.h"
#include "uid-killer.h"

/* How long a cleaner keeps killing a uid's processes (a fork loop outside
 * any task, a process in uninterruptible sleep) before it reports them. */
#define CLEANER_KILL_DEADLINE_MS 2000
/* How deep below a shared temporary directory a cleaner looks. */
#define SWEEP_DEPTH_MAX 16
/* Cleaners running at once; more work waits and goes to the next one. Of
 * them, one at most walks the shared temporary directories: a walk costs
 * the same for one uid as for a thousand (it is the size of /tmp), so
 * revocations that arrive while one runs wait and share the next. */
#define CLEANERS_MAX 4
/* Between two walks of the shared directories, at least this long and four
 * times what the last one took: under a stream of revocations the walks
 * (their cost is the size of /tmp, whatever the number of uids) use at
 * most a fifth of a core instead of every cycle the broker leaves over.
 * The uids' processes do not wait for it (uid-killer.h); their files
 * and homes wait at most this gap, and a task's end never waits (a job
 * with done() goes at once). The tick starts what is left queued. */
#define SWEEP_GAP_MIN_MS 50
#define SWEEP_GAP_FACTOR 4

static const char *const default_shared_dirs[] = { "/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue", NULL };
const char *const *uid_cleanup_shared_dirs = default_shared_dirs;

struct cleaner {
        struct watch watch;        /* its pidfd: it exited */
        struct watch result_watch; /* its pipe: results to read */
        pid_t pid;
        int pidfd, result_fd;
        bool result_watched;
        struct uid_cleanup *jobs;
        bool *finished; /* jobs[k] reported (finish_job called) */
        size_t n, n_read; /* jobs, answers read */
        bool sweeps;
        uint64_t started_ms;
        struct cleaner *next;
};

static uint64_t monotonic_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* ---- processes ---------------------------------------------------------- */

/* The real, effective and saved uid of /proc/<pid>, whether it is a
 * zombie, and how many threads its thread group has. -1 when it is gone. */
static int read_proc_ids(int proc_fd, const char *pid, unsigned long ids[3], bool *zombie, unsigned long *threads) {
        char path[64], buf[2048];
        const char *u, *st, *th;
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "%s/status", pid);
        fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return -1;
        buf[n] = '\0';
        u = strstr(buf, "\nUid:");
        st = strstr(buf, "\nState:");
        th = strstr(buf, "\nThreads:");
        if (!u || sscanf(u, "\nUid: %lu %lu %lu", &ids[0], &ids[1], &ids[2]) != 3)
                return -1;
        *zombie = st && (strncmp(st, "\nState:\tZ", 9) == 0 || strncmp(st, "\nState:\tX", 9) == 0);
        if (!th || sscanf(th, "\nThreads: %lu", threads) != 1)
                *threads = 1;
        return 0;
}

/* Is the thread group leader of /proc/<pid> in exit (PF_EXITING, the 9th
 * field of its stat)? A task in exit never runs user code again, and by
 * the time it leaves its cgroup it has released its memory and files: a
 * unit's cgroup is reported empty while its last processes are still
 * finishing their exit (not yet zombies). */
static bool leader_exiting(int proc_fd, const char *pid) {
        char path[64], buf[1024];
        const char *p;
        unsigned long flags;
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "%s/stat", pid);
        fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        p = strrchr(buf, ')'); /* the command name may hold anything */
        if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
                return false;
        return flags & 0x4; /* PF_EXITING */
}

/* Which of uids[] (its index, or n) is one of ids'? */
static size_t uid_hit(const uid_t *uids, size_t n, const unsigned long ids[3]) {
        for (size_t k = 0; k < n; k++)
                if (ids[0] == uids[k] || ids[1] == uids[k] || ids[2] == uids[k])
                        return k;
        return n;
}

/* One pass over /proc: SIGKILL every process whose real, effective or
 * saved uid is one of uids[] (through a pidfd, checked to still be that
 * process), counting in running[] (may be NULL) those that may still run
 * after it: not those whose every thread is past the point of no return
 * (a zombie, or a single remaining thread in exit). A zombie leader whose
 * other threads live (it called pthread_exit) is killed and counted.
 * seen[] (may be NULL) counts every such process found alive before its
 * SIGKILL, whatever the SIGKILL did by the time it is looked at again (it
 * ran as the uid: its files may be anywhere). Returns the running total.
 *
 * Each process is pinned first (pidfd_open) and its uids asked of the
 * kernel (PIDFD_GET_INFO): a few microseconds, where reading its
 * /proc/PID/status has the kernel format all of it (about 12 us here; a
 * walk costs that times the host's processes, and a task's end waits for
 * one). /proc/PID/status is read only for the processes that match, or
 * for all on kernels before 6.13. */
/* Is /proc/<pid> in the PID namespace dev/ino? (Not when its namespace
 * cannot be read: a zombie's, or one in exit.) */
static bool in_pidns(int proc_fd, const char *pid, dev_t dev, ino_t ino) {
        char path[300];
        struct stat st;

        snprintf(path, sizeof(path), "%s/ns/pid", pid);
        return fstatat(proc_fd, path, &st, 0) == 0 && st.st_dev == dev && st.st_ino == ino;
}

static int kill_pass(const uid_t *uids, size_t n, int *running, int *seen, const struct uid_cleanup *jobs) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        int total = 0;
        bool by_pidfd = true;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                unsigned long ids[3], threads;
                bool zombie;
                size_t hit;
                int pidfd, r;

                if (de->d_name[0] < '1' || de->d_name[0] > '9')
                        continue;
                if (by_pidfd) {
                        pidfd = pidfd_open((pid_t) atoi(de->d_name), 0);
                        if (pidfd < 0)
                                continue;
                        r = proc_pidfd_uids(pidfd, ids);
                        if (r == -EOPNOTSUPP)
                                by_pidfd = false; /* this and every later one through /proc */
                        else if (r < 0 || uid_hit(uids, n, ids) == n) {
                                close(pidfd);
                                continue;
                        }
                        close(pidfd);
                }
                if (read_proc_ids(dirfd(d), de->d_name, ids, &zombie, &threads) < 0 || (zombie && threads <= 1))
                        continue;
                hit = uid_hit(uids, n, ids);
                if (hit == n)
                        continue;
                /* Inside a task's namespace that is being killed: the
                 * kernel ends it with its init, and it is no sign of the
                 * uid having run outside the task. */
                if (jobs && jobs[hit].pidns_dying &&
                    in_pidns(dirfd(d), de->d_name, jobs[hit].pidns_dev, jobs[hit].pidns_ino))
                        continue;
                /* Pin the process, then make sure the pid was not reused
                 * for another between the read and the pin. */
                pidfd = pidfd_open((pid_t) atoi(de->d_name), 0);
                if (pidfd < 0)
                        continue;
                if (read_proc_ids(dirfd(d), de->d_name, ids, &zombie, &threads) == 0 &&
                    (ids[0] == uids[hit] || ids[1] == uids[hit] || ids[2] == uids[hit])) {
                        (void) pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
                        if (seen)
                                seen[hit]++;
                        if (threads > 1 || !(zombie || leader_exiting(dirfd(d), de->d_name))) {
                                total++;
                                if (running)
                                        running[hit]++;
                        }
                }
                close(pidfd);
        }
        closedir(d);
        return total;
}

int uid_kill_pass(uid_t uid) {
        int seen = 0, r = kill_pass(&uid, 1, NULL, &seen, NULL);
        return r < 0 ? r : seen;
}

/* ---- files -------------------------------------------------------------- */

/* Remove everything below dirfd (closed here), never following a symlink
 * and never leaving the file system it is on. */
static int remove_contents(int dirfd, dev_t dev) {
        DIR *d = fdopendir(dirfd);
        struct dirent *de;
        int r = 0;

        if (!d) {
                close(dirfd);
                return -errno;
        }
        while ((de = readdir(d))) {
                struct stat st;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        int sub;
                        if (st.st_dev != dev) {
                                r = -EXDEV; /* a mount below: not ours to empty */
                                continue;
                        }
                        sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub >= 0) {
                                int k = remove_contents(sub, dev);
                                if (k < 0 && r == 0)
                                        r = k;
                        }
                        if (unlinkat(dirfd, de->d_name, AT_REMOVEDIR) < 0 && r == 0)
                                r = -errno;
                } else if (unlinkat(dirfd, de->d_name, 0) < 0 && r == 0)
                        r = -errno;
        }
        closedir(d);
        return r;
}

/* The job whose uid owns st, or NULL. */
static const struct uid_cleanup *owner_of(const struct stat *st, const struct uid_cleanup *jobs, size_t n) {
        for (size_t k = 0; k < n; k++)
                if (jobs[k].sweep_shared && jobs[k].uid == st->st_uid)
                        return &jobs[k];
        return NULL;
}

/* Remove what the jobs' uids own below dirfd (closed here): their files,
 * and their directories with everything in them. What cannot be removed
 * is marked in leftovers[] (indexed like jobs). */
static void sweep_owned(int dirfd, const struct uid_cleanup *jobs, size_t n, unsigned *leftovers, dev_t dev,
                        unsigned depth) {
        DIR *d = fdopendir(dirfd);
        struct dirent *de;

        if (!d) {
                close(dirfd);
                return;
        }
        while ((de = readdir(d))) {
                const struct uid_cleanup *owner;
                struct stat st;
                int sub;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
                        continue;
                owner = owner_of(&st, jobs, n);
                if (!S_ISDIR(st.st_mode)) {
                        if (owner && unlinkat(dirfd, de->d_name, 0) < 0 && errno != ENOENT)
                                leftovers[owner - jobs] |= LEFTOVER_FILES;
                        continue;
                }
                if (depth >= SWEEP_DEPTH_MAX)
                        continue;
                sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0)
                        continue;
                if (owner) {
                        if (remove_contents(sub, dev) < 0 ||
                            (unlinkat(dirfd, de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT))
                                leftovers[owner - jobs] |= LEFTOVER_FILES;
                } else
                        sweep_owned(sub, jobs, n, leftovers, dev, depth + 1);
        }
        closedir(d);
}

static int remove_home(const char *home, uid_t uid) {
        struct stat st;
        int fd, r;

        fd = open(home, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        /* Only a home that is the agent's: never another account's. */
        if (fstat(fd, &st) < 0 || st.st_uid != uid) {
                close(fd);
                return -EPERM;
        }
        r = remove_contents(fd, st.st_dev);
        if (rmdir(home) < 0 && errno != ENOENT && r == 0)
                r = -errno;
        return r;
}

static void sweep_shared_dirs(const struct uid_cleanup *jobs, size_t n, unsigned *leftovers) {
        bool any = false;

        for (size_t k = 0; k < n; k++)
                any |= jobs[k].sweep_shared;
        if (!any)
                return;
        for (const char *const *dir = uid_cleanup_shared_dirs; *dir; dir++) {
                struct stat st;
                int fd = open(*dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        continue;
                if (fstat(fd, &st) < 0) {
                        close(fd);
                        continue;
                }
                sweep_owned(fd, jobs, n, leftovers, st.st_dev, 0);
        }
}

/* ---- SysV IPC (POSIX IPC lives in /dev/shm and /dev/mqueue) --------------- */

/* Remove every object in /proc/sysvipc/<kind> whose owner or creator is
 * uid. Columns: key, id, perms, ..., then uid, gid, cuid, cgid at fixed
 * positions per kind. */
static int ipc_remove_owned(const struct uid_cleanup *jobs, size_t n, unsigned *leftovers) {
        static const struct {
                const char *file;
                int uid_column; /* 0-based; cuid follows gid */
        } kinds[] = { { "/proc/sysvipc/shm", 7 }, { "/proc/sysvipc/msg", 7 }, { "/proc/sysvipc/sem", 4 } };
        int r = 0;

        for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
                char line[512];
                FILE *f = fopen(kinds[k].file, "re");
                if (!f)
                        continue;
                if (!fgets(line, sizeof(line), f)) { /* header */
                        fclose(f);
                        continue;
                }
                while (fgets(line, sizeof(line), f)) {
                        unsigned long col[16];
                        int n_col = 0, id;
                        char *p = line, *end;
                        while (n_col < 16) {
                                col[n_col] = strtoul(p, &end, 10);
                                if (end == p)
                                        break;
                                n_col++;
                                p = end;
                        }
                        if (n_col < kinds[k].uid_column + 3)
                                continue;
                        for (size_t j = 0; j < n; j++) {
                                if (col[kinds[k].uid_column] != jobs[j].uid && col[kinds[k].uid_column + 2] != jobs[j].uid)
                                        continue;
                                id = (int) col[1];
                                if ((k == 0 && shmctl(id, IPC_RMID, NULL) < 0) ||
                                    (k == 1 && msgctl(id, IPC_RMID, NULL) < 0) || (k == 2 && semctl(id, 0, IPC_RMID) < 0))
                                        if (errno != EINVAL && errno != EIDRM)
                                                leftovers[j] |= LEFTOVER_IPC;
                                break;
                        }
                }
                fclose(f);
        }
        return r;
}

/* ---- the cleaner -------------------------------------------------------- */

/* Processes first (so nothing re-creates what is removed next), then the
 * home, the shared directories (one walk for all uids) and IPC. */
static void clean(struct uid_cleanup *jobs, size_t n, unsigned *leftovers) {
        uint64_t deadline = monotonic_ms() + CLEANER_KILL_DEADLINE_MS;
        uid_t *uids = calloc(n, sizeof(uid_t));
        int *found = calloc(n, sizeof(int)), *seen = calloc(n, sizeof(int));
        int total;

        if (!uids || !found || !seen) {
                for (size_t k = 0; k < n; k++)
                        leftovers[k] |= LEFTOVER_UNKNOWN;
                goto out;
        }
        for (size_t k = 0; k < n; k++)
                uids[k] = jobs[k].uid;
        /* Whatever still runs as the uids outside a task (a PAM session, a
         * daemon's child): killed from here, root, so it cannot fight back;
         * one walk of /proc per pass for all of them. */
        for (;;) {
                memset(found, 0, n * sizeof(int));
                total = kill_pass(uids, n, found, seen, jobs);
                if (total == 0 || monotonic_ms() >= deadline)
                        break;
                usleep(1000);
        }
        for (size_t k = 0; k < n; k++) {
                if (seen[k]) {
                        jobs[k].sweep_shared = true; /* it ran outside a task: look everywhere */
                        leftovers[k] |= RAN_OUTSIDE;
                }
                if (total < 0 || found[k])
                        leftovers[k] |= LEFTOVER_PROCESSES;
                /* A task's home only once its namespace is empty (it still
                 * writes there while it dies). */
                if (jobs[k].pidns_dying) {
                        struct pollfd gone = { .fd = jobs[k].pidns_init_pidfd, .events = POLLIN };
                        int64_t left = (int64_t) (deadline - monotonic_ms());
                        if (poll(&gone, 1, left > 0 ? (int) left : 0) != 1) {
                                leftovers[k] |= PIDNS_STILL_ALIVE;
                                continue;
                        }
                }
                if (jobs[k].home[0] && remove_home(jobs[k].home, jobs[k].uid) < 0)
                        leftovers[k] |= LEFTOVER_HOME;
        }
        if (ipc_remove_owned(jobs, n, leftovers) < 0)
                for (size_t k = 0; k < n; k++)
                        leftovers[k] |= LEFTOVER_IPC;
        sweep_shared_dirs(jobs, n, leftovers);
out:
        free(uids);
        free(found);
        free(seen);
}

static _Noreturn void cleaner_main(struct uid_cleanup *jobs, size_t n, int result_fd, int broker_pidfd) {
        struct pollfd gone = { .fd = broker_pidfd, .events = POLLIN };
        unsigned *leftovers = calloc(n, sizeof(unsigned));
        sigset_t none;

        /* Dies with the broker; the next one's sweep does the work. */
        if (!leftovers || prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ||
            (broker_pidfd >= 0 && poll(&gone, 1, 0) != 0))
                _exit(1);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        clean(jobs, n, leftovers);
        for (size_t k = 0; k < n; k++) {
                unsigned result[2] = { (unsigned) jobs[k].uid, leftovers[k] };
                (void) !write(result_fd, result, sizeof(result));
        }
        _exit(0);
}

static void quarantine(struct broker *b, const struct uid_cleanup *job, unsigned leftovers) {
        char key[64], detail[256];
        struct event e;

        snprintf(key, sizeof(key), "quarantine:%u", (unsigned) job->uid);
        snprintf(detail, sizeof(detail), "uid %u quarantined: left behind%s%s%s%s%s; it is never issued again",
                 (unsigned) job->uid, leftovers & LEFTOVER_PROCESSES ? " processes" : "",
                 leftovers & LEFTOVER_HOME ? " home" : "", leftovers & LEFTOVER_FILES ? " temporary files" : "",
                 leftovers & LEFTOVER_IPC ? " IPC objects" : "",
                 leftovers & LEFTOVER_UNKNOWN ? " (cleaner did not finish)" : "");
        log_warning("%s: %s", job->agent, detail);
        e = event_for(EVENT_KILL, NULL, NULL, detail);
        e.agent = job->agent[0] ? job->agent : NULL;
        e.uid = job->uid;
        {
                _cleanup_savepoint_ struct savepoint sp = {};
                if (savepoint_begin(&sp, b->store) == 0 && store_set_meta_u64(b->store, key, now_usec()) == 0 &&
                    audit_record(&b->audit, &e) == 0)
                        (void) savepoint_end(&sp, 0);
        }
}

static void finish_job(struct broker *b, const struct uid_cleanup *job, unsigned leftovers) {
        if (leftovers & LEFTOVER_MASK)
                quarantine(b, job, leftovers);
        if (job->done)
                job->done(b, job->userdata, leftovers);
}

static void cleaner_spawn(struct broker *b, const struct uid_cleanup *jobs, size_t n, bool sweeps) {
        struct epoll_event ev = { .events = EPOLLIN };
        struct cleaner *c = NULL;
        int p[2] = { -1, -1 };

        if (n == 0)
                return;
        c = calloc(1, sizeof(*c));
        if (!c || !(c->jobs = malloc(n * sizeof(*jobs))) || !(c->finished = calloc(n, sizeof(bool))) ||
            pipe2(p, O_CLOEXEC) < 0)
                goto fail;
        memcpy(c->jobs, jobs, n * sizeof(*jobs));
        c->n = n;
        c->sweeps = sweeps;
        c->started_ms = monotonic_ms();
        c->watch.kind = c->result_watch.kind = WATCH_CLEANER;
        c->pid = fork();
        if (c->pid < 0)
                goto fail;
        if (c->pid == 0) {
                close(p[0]);
                cleaner_main(c->jobs, n, p[1], b->runtime.broker_pidfd);
        }
        close(p[1]);
        p[1] = -1;
        c->result_fd = p[0];
        (void) fcntl(c->result_fd, F_SETFL, O_NONBLOCK);
        c->pidfd = pidfd_open(c->pid, 0);
        ev.data.ptr = &c->watch;
        if (c->pidfd < 0 || epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, c->pidfd, &ev) < 0) {
                /* Cannot follow it: stop it, and count its uids as unclean. */
                kill(c->pid, SIGKILL);
                while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                if (c->pidfd >= 0)
                        close(c->pidfd);
                goto fail;
        }
        /* Its results are acted on as soon as they are written, not once
         * the process is gone: the exit of a fork of the broker (its
         * address space torn down) takes another 0.3 to 1 ms. Without
         * this watch they are still read when it exits. */
        ev.data.ptr = &c->result_watch;
        c->result_watched = epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, c->result_fd, &ev) == 0;
        c->next = b->cleaners;
        b->cleaners = c;
        b->n_cleaners++;
        b->n_sweepers += sweeps;
        return;
fail:
        log_error("cannot start a cleaner: %s", strerror(errno));
        if (p[0] >= 0)
                close(p[0]);
        if (p[1] >= 0)
                close(p[1]);
        for (size_t k = 0; k < n; k++)
                finish_job(b, &jobs[k], LEFTOVER_UNKNOWN);
        if (c) {
                free(c->jobs);
                free(c->finished);
        }
        free(c);
}

/* Finish every job whose result is in the pipe. Returns false once the
 * pipe has nothing more to give (end of file or an error), true when it
 * may still (EAGAIN: the cleaner is still at work). */
static bool cleaner_read_results(struct broker *b, struct cleaner *c) {
        for (;;) {
                unsigned result[2];
                ssize_t n = read(c->result_fd, result, sizeof(result));
                size_t k;

                if (n < 0 && errno == EINTR)
                        continue;
                if (n != (ssize_t) sizeof(result))
                        return n < 0 && errno == EAGAIN;
                /* The cleaner answers in the order of its jobs: the k-th
                 * answer is the k-th job's, looked up only if not (a batch
                 * holds thousands after a mass revocation; a search per
                 * answer was quadratic). */
                k = c->n_read < c->n && c->jobs[c->n_read].uid == result[0] ? c->n_read : c->n;
                c->n_read++;
                for (size_t j = 0; k == c->n && j < c->n; j++)
                        if (!c->finished[j] && c->jobs[j].uid == result[0])
                                k = j;
                if (k < c->n && !c->finished[k]) {
                        c->finished[k] = true;
                        finish_job(b, &c->jobs[k], result[1]);
                }
        }
}

static void cleaner_unwatch_results(struct broker *b, struct cleaner *c) {
        if (c->result_watched)
                epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, c->result_fd, NULL);
        c->result_watched = false;
}

/* It exited: what it reported and did not finish yet is finished now; a
 * job it never reported on counts as not cleaned. */
static void cleaner_finish(struct broker *b, struct cleaner *c) {
        (void) cleaner_read_results(b, c);
        cleaner_unwatch_results(b, c);
        epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, c->pidfd, NULL);
        close(c->pidfd);
        close(c->result_fd);
        for (struct cleaner **p = &b->cleaners; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        b->n_cleaners--;
                        b->n_sweepers -= c->sweeps;
                        if (c->sweeps) {
                                uint64_t now = monotonic_ms(), gap = SWEEP_GAP_FACTOR * (now - c->started_ms);
                                b->sweep_next_ms = now + (gap > SWEEP_GAP_MIN_MS ? gap : SWEEP_GAP_MIN_MS);
                        }
                        break;
                }
        for (size_t k = 0; k < c->n; k++)
                if (!c->finished[k])
                        finish_job(b, &c->jobs[k], LEFTOVER_UNKNOWN);
        free(c->finished);
        free(c->jobs);
        c->finished = NULL;
        c->jobs = NULL;
        /* Its other watch may come later in the same epoll batch (its pipe
         * and its pidfd are both ready when it has just exited): the
         * dispatcher reads that watch's kind, so the memory outlives the
         * batch; uid_cleanup_on_pidfd no longer finds it among the
         * cleaners and ignores it. */
        c->next = b->cleaners_ended;
        b->cleaners_ended = c;
}

void uid_cleanup_release_ended(struct broker *b) {
        while (b->cleaners_ended) {
                struct cleaner *c = b->cleaners_ended;
                b->cleaners_ended = c->next;
                free(c);
        }
}

/* Start queued work if a cleaner may run: a few at once, each taking
 * everything queued of its kind, so a mass expiry costs a few forks, not
 * thousands. Jobs that need the shared directories walked go to the one
 * sweeping cleaner; the others (a task's end: its temporary files died with
 * its namespace) never wait behind a walk. */
static bool sweep_may_start(struct broker *b) {
        if (b->n_sweepers > 0)
                return false;
        /* A task's end waits for it: no gap. */
        return b->n_cleanup_pending_waited > 0 || monotonic_ms() >= b->sweep_next_ms;
}

static void maybe_spawn(struct broker *b) {
        for (int sweeps = 0; sweeps <= 1; sweeps++) {
                struct uid_cleanup *jobs = b->cleanup_pending[sweeps];
                size_t n = b->n_cleanup_pending[sweeps];

                if (b->epoll_fd < 0 || n == 0 || b->n_cleaners >= CLEANERS_MAX || (sweeps && !sweep_may_start(b)))
                        continue;
                b->cleanup_pending[sweeps] = NULL;
                b->n_cleanup_pending[sweeps] = b->cap_cleanup_pending[sweeps] = 0;
                if (sweeps)
                        b->n_cleanup_pending_waited = 0;
                cleaner_spawn(b, jobs, n, sweeps);
                free(jobs);
        }
}

/* Only uids of the agent range are ever cleaned: a cleaner kills every
 * process of its uids and removes their files, so a uid outside it (the
 * range changed since the mint, a unit test's identity) is left alone. */
static bool uid_is_ours(const struct broker *b, uid_t uid) {
        return uid != 0 && b->config.uid_min > 0 && uid >= b->config.uid_min && uid <= b->config.uid_max;
}

void uid_cleanup_start(struct broker *b, const struct uid_cleanup *jobs, size_t n) {
        size_t want[2] = { 0, 0 };
        bool room[2];

        for (size_t k = 0; k < n; k++)
                if (uid_is_ours(b, jobs[k].uid))
                        want[jobs[k].sweep_shared ? 1 : 0]++;
        for (int lane = 0; lane < 2; lane++) {
                size_t need = b->n_cleanup_pending[lane] + want[lane], cap = b->cap_cleanup_pending[lane];
                struct uid_cleanup *q = b->cleanup_pending[lane];
                /* Grown by half again, not to the size: while the walks'
                 * gap holds the sweeping lane back, thousands queue up one
                 * revocation at a time. */
                if (need > cap) {
                        cap = need + need / 2 + 16;
                        q = realloc(q, cap * sizeof(*q));
                        if (q) {
                                b->cleanup_pending[lane] = q;
                                b->cap_cleanup_pending[lane] = cap;
                        }
                }
                room[lane] = q != NULL || need == 0;
        }
        for (size_t k = 0; k < n; k++) {
                int lane = jobs[k].sweep_shared ? 1 : 0;

                /* Its processes die now, not when a cleaner gets to it. Not
                 * for a task's end without the walk (lane 0): the cleaner's
                 * /proc walk tells whether it left processes outside its
                 * namespace, and so whether its files need the walk too. */
                if (lane == 1 && uid_is_ours(b, jobs[k].uid))
                        (void) uid_killer_kill(b->uid_killer, jobs[k].uid);
                if (!uid_is_ours(b, jobs[k].uid)) {
                        log_warning("uid %u is outside the agent range: not cleaned up", (unsigned) jobs[k].uid);
                        if (jobs[k].done)
                                jobs[k].done(b, jobs[k].userdata, 0);
                } else if (!room[lane])
                        finish_job(b, &jobs[k], LEFTOVER_UNKNOWN);
                else {
                        b->cleanup_pending[lane][b->n_cleanup_pending[lane]++] = jobs[k];
                        b->n_cleanup_pending_waited += lane == 1 && jobs[k].done;
                }
        }
        /* During a turn, at its end (uid_cleanup_attach): what the turn
         * ends goes to one cleaner, not one each (32 expiries at once). */
        if (!b->in_turn)
                maybe_spawn(b);
}

void uid_cleanup_attach(struct broker *b) {
        maybe_spawn(b);
}

void uid_cleanup_on_pidfd(struct broker *b, void *watch) {
        struct cleaner *c;
        siginfo_t si = {};

        for (c = b->cleaners; c; c = c->next)
                if (watch == &c->watch || watch == &c->result_watch)
                        break;
        if (!c)
                return;
        if (watch == &c->result_watch) {
                /* A finished job may end its task (task_cleaner_done):
                 * the cleaner itself stays listed until it exits. */
                if (!cleaner_read_results(b, c))
                        cleaner_unwatch_results(b, c);
                return;
        }

        if (waitid(P_PIDFD, (id_t) c->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
                return;
        cleaner_finish(b, c);
        maybe_spawn(b);
}

void uid_cleanup_stop_all(struct broker *b) {
        uint64_t deadline = monotonic_ms() + CLEANER_KILL_DEADLINE_MS + 1000;

        /* Queued work stays undone: the next broker's sweep and a uid that
         * comes round only after the whole range make up for it. */
        for (int lane = 0; lane < 2; lane++) {
                free(b->cleanup_pending[lane]);
                b->cleanup_pending[lane] = NULL;
                b->n_cleanup_pending[lane] = b->cap_cleanup_pending[lane] = 0;
        }
        b->n_cleanup_pending_waited = 0;

        while (b->cleaners) {
                struct cleaner *c = b->cleaners;
                struct pollfd p = { .fd = c->pidfd, .events = POLLIN };
                int64_t left = (int64_t) (deadline - monotonic_ms());
                siginfo_t si = {};

                if (left <= 0 || poll(&p, 1, (int) left) <= 0)
                        (void) pidfd_send_signal(c->pidfd, SIGKILL, NULL, 0);
                while (waitid(P_PIDFD, (id_t) c->pidfd, &si, WEXITED) < 0 && errno == EINTR)
                        ;
                cleaner_finish(b, c);
        }
        uid_cleanup_release_ended(b);
}
