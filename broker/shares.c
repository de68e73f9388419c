/* SPDX-License-Identifier: MIT */
#include "shares.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define MICRO UINT64_C(1000000)

void shares_init(struct shares *s, unsigned max_connections, unsigned reserved, unsigned per_uid, unsigned rate,
                 unsigned burst) {
        *s = (struct shares) {
                .max_connections = max_connections,
                .reserved = reserved,
                .per_uid = per_uid,
                .rate = rate,
                .burst = burst,
        };
}

void shares_free(struct shares *s) {
        free(s->v);
        s->v = NULL;
        s->n = s->cap = 0;
}

static void refill(const struct shares *s, struct uid_share *u, uint64_t now) {
        uint64_t full = (uint64_t) s->burst * MICRO, add;

        if (now <= u->refilled_usec)
                return;
        add = (now - u->refilled_usec) * s->rate;
        u->micro_tokens = add >= full - u->micro_tokens ? full : u->micro_tokens + add;
        u->refilled_usec = now;
}

/* The share of uid; created (with a full bucket) when create is set.
 * Shares with no connection and a full bucket are forgotten on the way:
 * they hold nothing a new one would not. */
static struct uid_share *find(struct shares *s, uid_t uid, bool create, uint64_t now) {
        struct uid_share *found = NULL;

        for (size_t k = 0; k < s->n;) {
                struct uid_share *u = &s->v[k];
                if (u->uid == uid) {
                        found = u;
                        k++;
                        continue;
                }
                if (u->conns == 0) {
                        refill(s, u, now);
                        if (u->micro_tokens == (uint64_t) s->burst * MICRO) {
                                *u = s->v[--s->n];
                                if (found == &s->v[s->n]) /* moved into k */
                                        found = u;
                                continue;
                        }
                }
                k++;
        }
        if (found || !create)
                return found;
        if (s->n == s->cap) {
                size_t ncap = s->cap ? s->cap * 2 : 16;
                struct uid_share *nv = realloc(s->v, ncap * sizeof(*nv));
                if (!nv)
                        return NULL;
                s->v = nv;
                s->cap = ncap;
        }
        s->v[s->n] = (struct uid_share) { .uid = uid, .micro_tokens = (uint64_t) s->burst * MICRO,
                                          .refilled_usec = now };
        return &s->v[s->n++];
}

int shares_admit(struct shares *s, uid_t uid, bool privileged, uint64_t now_usec, char *why, size_t why_size) {
        struct uid_share *u;

        if (s->n_total >= s->max_connections) {
                snprintf(why, why_size, "too many connections: all %u are in use (max_connections)",
                         s->max_connections);
                return -EBUSY;
        }
        if (privileged) {
                s->n_total++;
                return 0;
        }
        if (s->n_unprivileged >= s->max_connections - s->reserved) {
                snprintf(why, why_size,
                         "too many connections: the remaining %u are reserved for root and admins "
                         "(reserved_connections)",
                         s->max_connections - s->n_total);
                return -EBUSY;
        }
        u = find(s, uid, true, now_usec);
        if (!u)
                return -ENOMEM;
        if (u->conns >= s->per_uid) {
                snprintf(why, why_size, "too many connections: uid %u already has %u open (max_connections_per_uid)",
                         (unsigned) uid, u->conns);
                return -EBUSY;
        }
        u->conns++;
        s->n_unprivileged++;
        s->n_total++;
        return 0;
}

void shares_release(struct shares *s, uid_t uid, bool privileged) {
        struct uid_share *u;

        if (s->n_total > 0)
                s->n_total--;
        if (privileged)
                return;
        if (s->n_unprivileged > 0)
                s->n_unprivileged--;
        u = find(s, uid, false, 0);
        if (u && u->conns > 0)
                u->conns--;
}

bool shares_take_request(struct shares *s, uid_t uid, bool privileged, uint64_t now_usec, char *why,
                         size_t why_size) {
        struct uid_share *u;

        if (privileged)
                return true;
        u = find(s, uid, true, now_usec);
        if (!u)
                return false;
        refill(s, u, now_usec);
        if (u->micro_tokens < MICRO) {
                snprintf(why, why_size, "uid %u is over its request share (%u a second, bursts of %u; request_rate)",
                         (unsigned) uid, s->rate, s->burst);
                return false;
        }
        u->micro_tokens -= MICRO;
        return true;
}
