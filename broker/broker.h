/* SPDX-License-Identifier: MIT */
/* The broker's state, shared by the event loop and the method handlers. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "allocator.h"
#include "audit-chain.h"
#include "audit.h"
#include "config.h"
#include "exec-trail.h"
#include "expiry.h"
#include "identity-json.h"
#include "keys.h"
#include "nss-cache.h"
#include "refusals.h"
#include "shares.h"
#include "reply.h"
#include "runtime.h"
#include "status-list.h"
#include "store-creds.h"
#include "store.h"
#include "template.h"

/* Who is calling, as the kernel says (SO_PEERCRED, SO_PEERGROUPS): never
 * what the caller claims. */
struct caller {
        uid_t uid;
        gid_t gid;
        pid_t pid;
        gid_t *groups; /* primary gid first, then supplementary */
        size_t n_groups;
        /* A pidfd of the peer process (SO_PEERPIDFD, Linux 6.5+), taken for
         * root's connections (the PAM module's) only: it proves the process
         * read from /proc/<pid> is still the one that connected. */
        bool has_pidfd;
        int pidfd;
        /* The method of the request being handled (NULL between requests,
         * set by method_call): a refusal is counted, or recorded on its
         * own, by who asked what (events.c). */
        const char *method;
};

struct conn;
struct task;
struct stepup_waiter;
struct cleaner;
struct uid_killer;
struct uid_cleanup;

/* What an epoll event's data pointer points at: the first member of every
 * watched object. */
enum watch_kind { WATCH_LISTEN, WATCH_SIGNAL, WATCH_EXPIRY, WATCH_TICK, WATCH_CONN, WATCH_TASK, WATCH_EXEC,
                  WATCH_CLEANER, WATCH_RUNTIME };
struct watch {
        enum watch_kind kind;
};

/* Everything the broker holds, in one place (no file keeps state of its
 * own): what each part owns is marked with the file that owns it. */
struct broker {
        struct config config;
        const char *config_path, *state_dir, *runtime_dir;
        char socket_path[108];
        struct store *store;
        struct template_set templates;
        struct allocator allocator;
        struct expiry expiry;
        struct audit audit;
        struct audit_signer audit_signer; /* checkpoints of the event chain (audit-chain.c) */
        struct exec_trail *exec_trail;    /* programs agents run (exec-trail.c); NULL when off */

        int epoll_fd, listen_fd, signal_fd, tick_fd;
        struct watch watch_listen, watch_signal, watch_expiry, watch_tick, watch_runtime; /* their epoll data (server.c) */
        bool socket_activated, quit;
        uint64_t started_usec;
        struct keyring keys;        /* token signing keys (keys.c) */
        struct creds_store *creds;  /* token, grant and key tables (store-creds.c) */
        struct status_list status_list; /* token status list (status-list.c) */
        /* The live set as the NSS module reads it (nss-cache.c); NULL when
         * not set up (unit tests). */
        struct nss_cache *nss_cache;
        uint64_t live_count; /* for Status and sd_notify STATUS= */
        uint64_t watchdog_usec; /* systemd's WatchdogSec, 0 when off */
        bool checkpoint_due;    /* WAL checkpoint wanted after this turn */

        /* Connections (conn.c). Closed ones wait in the graveyard until the
         * end of the epoll batch, since a later event of the same batch may
         * still point at them. Replies queued during a turn wait in pending
         * until the turn's transaction is committed: no client is told of a
         * change that is not yet durable (group commit, see store_begin). */
        struct conn *conns, *graveyard, *pending;
        unsigned n_conns;
        bool in_turn;

        /* Running tasks (task.c). */
        struct task *tasks;
        unsigned n_tasks;

        /* Connections behind open step-up requests (stepup.c), and whether
         * requests a previous broker left open were expired yet. */
        struct stepup_waiter *stepup_waiters;
        bool stepup_swept;

        /* A SIGHUP's template reload, waiting for a directory snapshot
         * begun after it (server.c, id-directory.h); 0: none. */
        uint64_t templates_reload_usec;

        /* Housekeeping tick (server.c): the last STATUS= sent, the last
         * orphan sweep. */
        uint64_t tick_last_status, tick_last_sweep_ms;

        /* Owners' names for identity_to_json (identity-json.c). */
        struct owner_cache owners;

        /* Unprivileged refusals being counted (refusals.h, events.c). */
        struct refusals refusals;
        /* Per-uid connection and request shares (shares.h, conn.c). */
        struct shares shares;

        /* Called after identities ended (lifecycle.c), so that what runs
         * as them ends too (task.c sets it: task_reconcile). */
        void (*on_identities_ended)(struct broker *b);
        /* Does a running task own this identity, so that its teardown
         * cleans up after it (task.c sets it: task_owns_identity)? */
        bool (*identity_has_task)(const struct broker *b, int64_t identity_id);

        struct runtime runtime; /* how tasks run (runtime.h) */
        /* Root-side cleaners of ended uids (uid-cleanup.c). */
        struct cleaner *cleaners;
        unsigned n_cleaners;
        /* Ended cleaners whose watches an epoll batch may still name (each
         * has two): freed after the batch (uid_cleanup_release_ended). */
        struct cleaner *cleaners_ended;
        unsigned n_sweepers; /* of them, those walking the shared directories */
        uint64_t sweep_next_ms; /* no walk of them starts before (CLOCK_MONOTONIC) */
        /* Kills an ended uid's processes at once (uid-killer.h); NULL
         * where it cannot, then the cleaners' walks of /proc do. */
        struct uid_killer *uid_killer;
        /* Queued cleanup jobs: [0] without, [1] with a walk of the shared
         * temporary directories (uid-cleanup.c). */
        struct uid_cleanup *cleanup_pending[2];
        size_t n_cleanup_pending[2], cap_cleanup_pending[2];
        size_t n_cleanup_pending_waited; /* of [1], jobs a task's end waits for */
};

/* Policy (policy.c). */
bool caller_is_admin(const struct broker *b, const struct caller *c);
bool caller_may_mint(const struct template *t, const struct caller *c);
bool caller_may_manage(const struct broker *b, const struct caller *c, const struct identity *i);
