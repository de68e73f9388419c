/* SPDX-License-Identifier: MIT */
/* Fair shares (issue 13): no local user can lock the others out. Of
 * max_connections, reserved_connections only root and admins may take (the
 * PAM module's connections are root's); every other uid holds at most
 * max_connections_per_uid and sends request_rate requests a second, in
 * bursts of up to request_burst (a token bucket per uid that outlives its
 * connections, so reconnecting does not refill it). Root and admins are
 * never rate-limited. See docs/protocol.md, "Fair shares". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct uid_share {
        uid_t uid;
        unsigned conns;
        uint64_t micro_tokens; /* requests available, times 1e6 */
        uint64_t refilled_usec;
};

struct shares {
        unsigned max_connections, reserved, per_uid, rate, burst;
        unsigned n_total, n_unprivileged;
        struct uid_share *v;
        size_t n, cap;
};

void shares_init(struct shares *s, unsigned max_connections, unsigned reserved, unsigned per_uid, unsigned rate,
                 unsigned burst);
void shares_free(struct shares *s);

/* Admit a connection of uid (privileged: root or an admin). 0, or -EBUSY
 * with the reason in why (one line), or -ENOMEM. */
int shares_admit(struct shares *s, uid_t uid, bool privileged, uint64_t now_usec, char *why, size_t why_size);
/* The connection admitted with the same uid and privilege closed. */
void shares_release(struct shares *s, uid_t uid, bool privileged);

/* One complete request of uid: true when within its share (a token taken),
 * false with the reason in why. Privileged callers always get true. */
bool shares_take_request(struct shares *s, uid_t uid, bool privileged, uint64_t now_usec, char *why,
                         size_t why_size);
