/* SPDX-License-Identifier: MIT */
/* TTL enforcement: a min-heap of deadlines behind one timerfd armed for the
 * earliest. Revoked identities are not removed from the heap; their entry
 * finds them no longer live when it fires (lazy deletion). */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct expiry_entry {
        uint64_t deadline_usec; /* CLOCK_REALTIME */
        int64_t id;             /* store row id */
};

struct expiry {
        struct expiry_entry *heap;
        size_t n, cap;
        int timer_fd;
        uint64_t armed_usec; /* what timer_fd is set to, 0 when disarmed */
};

int expiry_init(struct expiry *e);
void expiry_done(struct expiry *e);
int expiry_add(struct expiry *e, uint64_t deadline_usec, int64_t id);
/* Pop the earliest entry due at now_usec; returns 0 when none is due. */
int expiry_pop_due(struct expiry *e, uint64_t now_usec, struct expiry_entry *ret);
/* Arm timer_fd for the earliest deadline (absolute, realtime). */
int expiry_arm(struct expiry *e);
/* Consume the timerfd's expiration count after it fired. */
void expiry_ack(struct expiry *e);
