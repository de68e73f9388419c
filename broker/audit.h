/* SPDX-License-Identifier: MIT */
/* Audit events: one row in the event table (inside the caller's
 * transaction) and one structured journald entry. An event that cannot be
 * recorded fails the operation that caused it. */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "store.h"

struct audit {
        struct store *store;
        bool journal;          /* send to journald at all */
        bool journal_required; /* a journald failure fails the operation */
};

/* Resolve the configured mode against this host (auto: required when
 * journald's socket exists). */
void audit_init(struct audit *a, struct store *store, enum journal_mode mode);

/* Record e. Call inside the transaction that makes the change; a negative
 * return means: roll back and refuse. */
int audit_record(struct audit *a, const struct event *e);
