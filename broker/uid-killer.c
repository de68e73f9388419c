/* SPDX-License-Identifier: MIT */
#include "uid-killer.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"

#define SIGNAL_REAL_UID UID_KILLER_REAL_UID

struct uid_killer {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        uid_t *queue; /* under lock */
        size_t n, cap;
        bool stop, broken;
        /* The thread's first act: whether kill_as works here (under lock). */
        bool probed;
        int probe;
        unsigned long done; /* atomic */
};

/* This thread, as (SIGNAL_REAL_UID, uid, 0): kill(-1), then effective
 * root again. The thread keeps real uid SIGNAL_REAL_UID between kills
 * (taken once, in run()): changing only the effective uid costs the kernel
 * half as much as changing the real one too (no per-user accounting). */
static int kill_as(uid_t uid) {
        int r = 0;

        if (syscall(SYS_setresuid, (uid_t) -1, uid, (uid_t) -1) < 0)
                return -errno;
        if (kill(-1, SIGKILL) < 0)
                r = -errno;
        /* Cannot fail (0 is the saved uid); if it did, nothing the broker
         * did afterwards could be trusted. */
        if (syscall(SYS_setresuid, (uid_t) -1, (uid_t) 0, (uid_t) -1) < 0)
                abort();
        return r;
}

static void *run(void *userdata) {
        struct uid_killer *k = userdata;
        uid_t *batch = NULL;
        size_t n = 0;
        /* Real uid SIGNAL_REAL_UID for the thread's life; then does it work
         * here (CAP_SETUID, no filter in the way)? Nothing has the uid, so
         * the first kill kills nothing. On this thread, never on the
         * main one: the kernel's kill(-1) checks each process's main
         * thread, so a main thread holding real uid 65535 even for a moment
         * could be killed by another broker's killer (two brokers started
         * at once killed each other so). */
        int probe;

        (void) pthread_setname_np(pthread_self(), "agentidd-kill"); /* top -H, ps -L */
        probe = syscall(SYS_setresuid, (uid_t) SIGNAL_REAL_UID, (uid_t) 0, (uid_t) 0) < 0 ? -errno : 0;

        if (probe == 0)
                probe = kill_as(SIGNAL_REAL_UID);

        pthread_mutex_lock(&k->lock);
        k->probed = true;
        k->probe = probe;
        pthread_cond_broadcast(&k->wake);
        pthread_mutex_unlock(&k->lock);
        if (probe < 0)
                return NULL;

        for (;;) {
                pthread_mutex_lock(&k->lock);
                while (k->n == 0 && !k->stop)
                        pthread_cond_wait(&k->wake, &k->lock);
                if (k->n == 0) { /* stop, and nothing left */
                        pthread_mutex_unlock(&k->lock);
                        break;
                }
                /* Take the whole queue; the loop refills a fresh one. */
                batch = k->queue, n = k->n;
                k->queue = NULL, k->n = k->cap = 0;
                pthread_mutex_unlock(&k->lock);

                for (size_t i = 0; i < n; i++) {
                        int r = kill_as(batch[i]);
                        if (r < 0 && r != -ESRCH) {
                                log_warning("cannot kill uid %u's processes from the broker: %s; the cleaner's walk "
                                            "of /proc does",
                                            (unsigned) batch[i], strerror(-r));
                                __atomic_store_n(&k->broken, true, __ATOMIC_RELAXED);
                        }
                }
                __atomic_add_fetch(&k->done, n, __ATOMIC_RELEASE);
                free(batch);
        }
        return NULL;
}

static bool signal_uid_in_use(void *userdata, const unsigned long ids[3], bool zombie) {
        (void) userdata;
        (void) zombie;
        return ids[0] == SIGNAL_REAL_UID || ids[1] == SIGNAL_REAL_UID || ids[2] == SIGNAL_REAL_UID;
}

void uid_killer_start(uid_t uid_min, uid_t uid_max, bool uid_is_an_account, struct uid_killer **ret) {
        struct uid_killer *k = NULL;
        const char *why = NULL;
        sigset_t all, old;
        int r;

        *ret = NULL;
        if (getuid() != 0 || geteuid() != 0)
                why = "the broker does not run as root";
        else if (uid_min <= SIGNAL_REAL_UID && SIGNAL_REAL_UID <= uid_max)
                why = "the agent uid range holds uid 65535";
        else if (uid_is_an_account)
                why = "/etc/passwd or /etc/group gives id 65535 to an account or group";
        else if (proc_scan(signal_uid_in_use, NULL) != 0)
                why = "a process runs as uid 65535, or /proc cannot be read";
        else if (!(k = calloc(1, sizeof(*k))))
                why = "out of memory";
        if (why) {
                log_warning("ended agents' processes are killed by walks of /proc only: %s", why);
                return;
        }
        pthread_mutex_init(&k->lock, NULL);
        pthread_cond_init(&k->wake, NULL);
        /* Signals stay with the event loop's signalfd. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        r = pthread_create(&k->thread, NULL, run, k);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r == 0) {
                pthread_mutex_lock(&k->lock);
                while (!k->probed)
                        pthread_cond_wait(&k->wake, &k->lock);
                pthread_mutex_unlock(&k->lock);
                if (k->probe < 0) {
                        pthread_join(k->thread, NULL);
                        log_warning("ended agents' processes are killed by walks of /proc only: the broker may not "
                                    "change a thread's uid (%s: no CAP_SETUID, or a system call filter)",
                                    strerror(-k->probe));
                }
        } else
                log_warning("ended agents' processes are killed by walks of /proc only: no thread: %s", strerror(r));
        if (r != 0 || k->probe < 0) {
                pthread_cond_destroy(&k->wake);
                pthread_mutex_destroy(&k->lock);
                free(k);
                return;
        }
        *ret = k;
}

bool uid_killer_kill(struct uid_killer *k, uid_t uid) {
        bool queued = false;

        if (!k || __atomic_load_n(&k->broken, __ATOMIC_RELAXED))
                return false;
        pthread_mutex_lock(&k->lock);
        if (k->n == k->cap) {
                size_t cap = k->cap ? k->cap * 2 : 64;
                uid_t *q = realloc(k->queue, cap * sizeof(*q));
                if (q)
                        k->queue = q, k->cap = cap;
        }
        if (k->n < k->cap) {
                k->queue[k->n++] = uid;
                queued = true;
                if (k->n == 1)
                        pthread_cond_signal(&k->wake);
        }
        pthread_mutex_unlock(&k->lock);
        return queued;
}

unsigned long uid_killer_done(struct uid_killer *k) {
        return k ? __atomic_load_n(&k->done, __ATOMIC_ACQUIRE) : 0;
}

void uid_killer_stop(struct uid_killer *k) {
        if (!k)
                return;
        pthread_mutex_lock(&k->lock);
        k->stop = true;
        pthread_cond_signal(&k->wake);
        pthread_mutex_unlock(&k->lock);
        pthread_join(k->thread, NULL);
        pthread_cond_destroy(&k->wake);
        pthread_mutex_destroy(&k->lock);
        free(k->queue);
        free(k);
}
