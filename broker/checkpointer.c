/* SPDX-License-Identifier: MIT */
#include "checkpointer.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct checkpointer {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool requested, stop; /* under lock */
        uint64_t completed;   /* atomic */
        sqlite3 *db;          /* the thread's own connection */
};

static void *run(void *userdata) {
        struct checkpointer *c = userdata;

        for (;;) {
                int rc, frames = 0, copied = 0;

                pthread_mutex_lock(&c->lock);
                while (!c->requested && !c->stop)
                        pthread_cond_wait(&c->wake, &c->lock);
                if (c->stop) {
                        pthread_mutex_unlock(&c->lock);
                        break;
                }
                c->requested = false;
                pthread_mutex_unlock(&c->lock);

                /* PASSIVE: copies what no reader still needs, never waits
                 * for the writer; the writer goes on appending meanwhile
                 * and starts the WAL over once all of it is copied. */
                rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied);
                if (rc != SQLITE_OK && rc != SQLITE_BUSY)
                        log_warning("WAL checkpoint: %s", sqlite3_errstr(rc));
                __atomic_add_fetch(&c->completed, 1, __ATOMIC_RELEASE);
        }
        return NULL;
}

int checkpointer_start(const char *path, struct checkpointer **ret) {
        struct checkpointer *c = calloc(1, sizeof(*c));
        sigset_t all, old;
        int rc, r;

        if (!c)
                return -ENOMEM;
        /* No SQLITE_OPEN_CREATE: the broker's connection made the file. */
        rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc == SQLITE_OK)
                /* FULL: the database file is fsync'd before the WAL may be
                 * started over. */
                rc = sqlite3_exec(c->db, "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0", NULL, NULL,
                                  NULL);
        if (rc != SQLITE_OK) {
                log_error("%s: checkpoint connection: %s", path, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
                sqlite3_close(c->db);
                free(c);
                return -EIO;
        }
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->wake, NULL);
        /* Signals stay with the event loop's signalfd: the thread blocks
         * them all (a SIGTERM delivered to it would kill the broker
         * without its orderly stop). */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        r = -pthread_create(&c->thread, NULL, run, c);
        if (r == 0) /* top -H, ps -L: which thread is which */
                (void) pthread_setname_np(c->thread, "agentidd-wal");
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0) {
                pthread_cond_destroy(&c->wake);
                pthread_mutex_destroy(&c->lock);
                sqlite3_close(c->db);
                free(c);
                return r;
        }
        *ret = c;
        return 0;
}

void checkpointer_request(struct checkpointer *c) {
        pthread_mutex_lock(&c->lock);
        c->requested = true;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
}

uint64_t checkpointer_completed(struct checkpointer *c) {
        return __atomic_load_n(&c->completed, __ATOMIC_ACQUIRE);
}

void checkpointer_stop(struct checkpointer *c) {
        if (!c)
                return;
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->thread, NULL);
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
        sqlite3_close(c->db);
        free(c);
}
