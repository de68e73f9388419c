/* SPDX-License-Identifier: MIT */
/* Building and recording audit events (audit.c writes them): the bottom
 * every method, task and lifecycle step records through. */
#pragma once

#include <stdbool.h>

#include "audit.h"
#include "agentid/identity.h"

#include <stdint.h>

struct broker;
struct caller;

/* An event about identity i (NULL: none) asked for by c (NULL: the
 * broker itself), stamped now. */
struct event event_for(enum event_type type, const struct identity *i, const struct caller *c, const char *detail);

/* Record one event about the agent named agent (uid, owner_uid, template
 * and reason as given, "" reason as none) inside the caller's transaction:
 * for rows that name an agent without its identity record (step-up
 * requests, PAM sessions). */
int event_record_agent(struct broker *b, const struct caller *c, enum event_type type, const char *agent, int64_t uid,
                       int64_t owner_uid, const char *template_name, const char *reason, const char *detail);

/* Record one event in a transaction of its own (a savepoint inside the
 * turn's). 0, or a negative errno and nothing recorded. */
int broker_record_event(struct broker *b, const struct event *e);

/* Record a denial (its own transaction; a refusal stands even if the
 * record fails). Refusals of callers the broker cannot hold to account are
 * counted instead (refusals.h): those of a caller that is not root, an
 * admin, a live agent or an invoker of some template, and every refused
 * VerifyToken and RedeemGrant (anyone may call them) but root's and
 * admins'. */
void broker_record_denial(struct broker *b, const struct caller *c, const char *agent, const char *template_name,
                          const char *detail);

/* Record the refusal counts whose window has ended (all: every one, at
 * shutdown) as deny events. */
void broker_flush_refusals(struct broker *b, bool all);
