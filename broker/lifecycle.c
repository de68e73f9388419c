/* SPDX-License-Identifier: MIT */
/* Ending identities: revocation, TTL expiry, and catching up on both when
 * the broker starts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle.h"

#include "broker.h"
#include "delegation.h"
#include "duration.h"
#include "events.h"
#include "log.h"
#include "macro.h"
#include "uid-cleanup.h"

int broker_end_identities(struct broker *b, const struct caller *c, const int64_t *ids, size_t n,
                          enum identity_state state, const char *reason) {
        _cleanup_savepoint_ struct savepoint sp = {};
        uint64_t now = now_usec();
        size_t ended = 0, n_cascade = 0, cap_cascade = 0;
        _cleanup_free_ int64_t *cascade = NULL; /* children of ended ones, ended with them */
        _cleanup_free_ uint32_t *gone = NULL;   /* uids to drop from the NSS cache after commit */
        _cleanup_free_ struct uid_cleanup *jobs = NULL; /* what their uids left, removed after commit */
        size_t n_jobs = 0;
        int r;

        r = savepoint_begin(&sp, b->store);
        if (r < 0)
                return r;
        for (size_t k = 0; k < n + n_cascade; k++) {
                int64_t id = k < n ? ids[k] : cascade[k - n];
                bool child = k >= n;
                char why[AGENTID_NAME_MAX + 64];
                struct identity i;
                struct event e;

                r = store_get(b->store, id, &i);
                if (r < 0)
                        return r;
                /* A sub-agent never outlives its parent: it is revoked in
                 * the same transaction, whatever ended the parent. */
                if (child)
                        snprintf(why, sizeof(why), "parent %s ended", i.parent);
                r = store_end_identity(b->store, id, child ? IDENTITY_REVOKED : state, now, child ? why : reason);
                if (r == -ESTALE) /* already ended: nothing to do */
                        continue;
                if (r < 0)
                        return r;
                e = event_for(state == IDENTITY_EXPIRED && !child ? EVENT_EXPIRE : EVENT_REVOKE, &i, c,
                              child ? why : reason);
                e.time_usec = now;
                r = audit_record(&b->audit, &e);
                if (r < 0)
                        return r;
                if (b->nss_cache) {
                        uint32_t *ng = realloc(gone, (ended + 1) * sizeof(*gone));
                        if (!ng)
                                return -ENOMEM;
                        gone = ng;
                        gone[ended] = i.uid;
                }
                /* A task's teardown cleans up after its own identity. */
                if (!b->identity_has_task || !b->identity_has_task(b, id)) {
                        struct uid_cleanup *nj = realloc(jobs, (n_jobs + 1) * sizeof(*jobs));
                        if (!nj)
                                return -ENOMEM;
                        jobs = nj;
                        jobs[n_jobs] = (struct uid_cleanup) { .uid = i.uid, .sweep_shared = true };
                        snprintf(jobs[n_jobs].agent, sizeof(jobs[n_jobs].agent), "%s", i.name);
                        snprintf(jobs[n_jobs].home, sizeof(jobs[n_jobs].home), "%s", i.home);
                        n_jobs++;
                }
                ended++;
                r = delegation_add_children(b, i.name, &cascade, &n_cascade, &cap_cascade);
                if (r < 0)
                        return r;
        }
        r = savepoint_end(&sp, 0);
        if (r < 0)
                return r;
        b->live_count -= ended <= b->live_count ? ended : b->live_count;
        /* Gone from getpwnam() & co. now, not when the TTL would have run
         * out (docs/nss-cache.md). Removal in place cannot fail. */
        for (size_t k = 0; gone && k < ended; k++)
                (void) nss_cache_remove_uid(b->nss_cache, gone[k]);
        /* Tasks of identities that just ended are killed now; whatever the
         * others left (processes, files, IPC, home) goes from the root side. */
        if (ended > 0 && b->on_identities_ended)
                b->on_identities_ended(b);
        uid_cleanup_start(b, jobs, n_jobs);
        /* Their tokens show as revoked to offline verifiers too. */
        if (ended > 0)
                status_list_agents_ended(b);
        return (int) (ended > INT32_MAX ? INT32_MAX : ended);
}

/* Expire everything due. Called when the timerfd fires and at start. */
int broker_expire_due(struct broker *b) {
        struct expiry_entry entry;
        uint64_t now = now_usec();
        int64_t *ids = NULL;
        size_t n = 0, cap = 0;
        int r = 0;

        while (expiry_pop_due(&b->expiry, now, &entry)) {
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 64;
                        int64_t *nids = realloc(ids, ncap * sizeof(*ids));
                        if (!nids) {
                                /* Put it back; the next tick retries. */
                                (void) expiry_add(&b->expiry, entry.deadline_usec, entry.id);
                                r = -ENOMEM;
                                break;
                        }
                        ids = nids;
                        cap = ncap;
                }
                ids[n++] = entry.id;
        }
        if (n > 0) {
                int e = broker_end_identities(b, NULL, ids, n, IDENTITY_EXPIRED, "ttl expired");
                if (e < 0) {
                        /* Could not record the expiry (disk full, journald
                         * gone): retry shortly. The identity is already past
                         * its deadline everywhere it is checked. */
                        log_error("could not expire %zu identities: %s; retrying in 1s", n, strerror(-e));
                        for (size_t k = 0; k < n; k++)
                                (void) expiry_add(&b->expiry, now + 1000000, ids[k]);
                        r = e;
                }
        }
        free(ids);
        (void) expiry_arm(&b->expiry);
        return r;
}

static int load_one(void *userdata, const struct identity *i) {
        struct broker *b = userdata;
        int r;

        b->live_count++;
        if (b->nss_cache) {
                /* Not strict: a template group deleted since the mint is
                 * left out (fewer rights), the agent itself stays visible. */
                r = nss_cache_add_identity(b->nss_cache, i, false);
                if (r == -EINVAL) /* name_prefix or uid range changed since its mint */
                        log_warning("%s: outside the configured name prefix or uid range, so not visible "
                                    "through NSS until it ends",
                                    i->name);
                else if (r < 0) {
                        log_error("%s: cannot publish to the NSS cache: %s", i->name, strerror(-r));
                        return r;
                }
        }
        return expiry_add(&b->expiry, i->expires_usec, i->id);
}

int broker_load_live(struct broker *b) {
        struct store_filter f = { .owner_uid = -1 };
        int r;

        b->live_count = 0;
        r = store_list(b->store, &f, load_one, b);
        if (r < 0)
                return r;
        r = broker_expire_due(b);
        if (r < 0)
                return r;
        /* The cache was rebuilt from the store's live set (the file the last
         * broker left may hold agents revoked since or never committed):
         * it replaces that file only now, complete. */
        return b->nss_cache ? nss_cache_publish(b->nss_cache) : 0;
}
