/* SPDX-License-Identifier: MIT */
/* Bounded audit growth (issue 13): refusals of unprivileged,
 * unauthenticated calls are counted per caller uid and method over a short
 * window and recorded as one ordinary deny event when the window ends
 * ("N refused io.agentid.VerifyToken calls from uid U"), instead of one
 * durable row each. What one uid can add to the database per minute is
 * then bounded by the number of methods, not by its request rate
 * (docs/protocol.md, "Bounded audit growth"). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agentid/protocol.h"

/* Most (uid, method) pairs counted at once; beyond, refusals are recorded
 * one event each (the connection and rate shares still bound them). */
#define REFUSALS_MAX 1024
/* The detail kept from the first and the latest refusal of a window. */
#define REFUSAL_SAMPLE_MAX 200

struct refusal_count {
        uid_t uid;
        char method[64];
        uint64_t count;
        uint64_t window_end_usec; /* CLOCK_MONOTONIC */
        int64_t last_pid;
        char first[REFUSAL_SAMPLE_MAX + 1], last[REFUSAL_SAMPLE_MAX + 1];
};

struct refusals {
        struct refusal_count *counts;
        size_t n;
        uint64_t window_usec;
};

void refusals_init(struct refusals *r, uint64_t window_usec);
void refusals_free(struct refusals *r);

/* Count one refusal. Returns 0, or -ENOSPC when the table is full (record
 * it as an event of its own). */
int refusals_add(struct refusals *r, uid_t uid, pid_t pid, const char *method, const char *detail,
                 uint64_t now_mono_usec);

/* The aggregated deny event's detail for one count. */
void refusal_format(const struct refusal_count *c, uint64_t window_usec, char *buf, size_t size);

/* Take the counts whose window has ended (all of them when all is set):
 * calls emit for each, then forgets it. */
void refusals_flush(struct refusals *r, uint64_t now_mono_usec, bool all,
                    void (*emit)(void *userdata, const struct refusal_count *c), void *userdata);
