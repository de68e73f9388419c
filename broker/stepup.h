/* SPDX-License-Identifier: MIT */
/* Step-up requests (sudo held for a human's approval): their rows (schema
 * step 3 in store.c), the connections waiting for a decision, and the
 * expiry of requests nobody decided. See docs/pam.md. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "agentid/identity.h"
#include "agentid/pam.h"

struct broker;
struct caller;
struct conn;
struct reply;

enum stepup_state {
        STEPUP_PENDING,  /* waiting for an approver */
        STEPUP_APPROVED, /* approved, not yet used by its sudo */
        STEPUP_DENIED,   /* an approver said no */
        STEPUP_USED,     /* approved and used: one approval, one use */
        STEPUP_EXPIRED,  /* nobody decided in time, or the requester gave up */
};

struct stepup_request {
        char id[AGENTID_REQUEST_ID_LEN + 1];
        char agent[AGENTID_NAME_MAX + 1];
        uint32_t uid, owner_uid;
        char template_name[AGENTID_TEMPLATE_NAME_MAX + 1];
        char service[AGENTID_SERVICE_MAX + 1];
        char command[AGENTID_COMMAND_MAX + 1];
        char tty[AGENTID_TTY_MAX + 1];
        char rhost[AGENTID_RHOST_MAX + 1];
        char reason[AGENTID_REASON_MAX + 1];
        int64_t caller_pid;
        enum stepup_state state;
        uint64_t created_usec, expires_usec;
        int64_t decided_by; /* uid, -1 while undecided */
        char decision_reason[AGENTID_REASON_MAX + 1];
};

const char *stepup_state_to_string(enum stepup_state s);

/* Rows. All inside the caller's transaction. */
int stepup_insert(struct broker *b, const struct stepup_request *r);
int stepup_get(struct broker *b, const char *id, struct stepup_request *ret);
/* Move from one of the open states to a new state. -ESTALE if it was not
 * open any more. */
int stepup_set_state(struct broker *b, const char *id, enum stepup_state state, int64_t decided_by,
                     const char *decision_reason);
/* Open (pending or approved) requests, oldest first. */
int stepup_list_open(struct broker *b, int (*cb)(void *userdata, const struct stepup_request *r), void *userdata);

/* The connection that made a request, and whether it waits now. Tracking
 * registers a close hook on conn: when it closes, its requests are
 * abandoned (expired). */
int stepup_track(struct broker *b, const char *id, struct conn *conn, uint64_t expires_usec);
struct conn *stepup_waiter(struct broker *b, const char *id, bool *waiting);
void stepup_set_waiting(struct broker *b, const char *id, bool waiting);
void stepup_untrack(struct broker *b, const char *id);

/* A decision reached the request id: answer its waiter, if one waits. */
void stepup_notify(struct broker *b, const struct stepup_request *r);

/* Every tick: expire requests past their deadline; on the first call,
 * those a previous broker left open. */
void stepup_housekeeping(struct broker *b);

/* End a request (expired, abandoned) with its outcome event, in its own
 * savepoint. */
int stepup_finish(struct broker *b, const struct caller *c, const char *id, enum stepup_state state,
                  const char *why);
