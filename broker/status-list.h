/* SPDX-License-Identifier: MIT */
/* The Token Status List (IETF OAuth draft "Token Status List"): every
 * access token carries "status": {"status_list": {"idx": N, "uri": U}};
 * the broker publishes at U (<runtime_dir>/statuslist.jwt) a signed JWT,
 * typ statuslist+jwt, whose bit N is 1 once the token's agent has ended.
 * A verifier that fetched it sees a revocation within its stated ttl. */
#pragma once

#include <stdbool.h>
#include <jansson.h>
#include <stdint.h>

struct broker;

struct status_list {
        uint64_t capacity;        /* indices the published list covers */
        uint64_t published_usec;  /* when it was last signed, 0: never */
        bool due;                 /* agents ended in this turn: publish at its end */
};

/* Sign and write the list now (nothing when discovery is off). Called at
 * start, and whenever an agent ends. */
int status_list_publish(struct broker *b);

/* Agents ended: inside a turn, the list is published once at the end of
 * the turn (status_list_publish_due, in its transaction, before its
 * replies leave); outside one (at start), now. */
void status_list_agents_ended(struct broker *b);
void status_list_publish_due(struct broker *b);

/* The "status" claim for a token at index idx, or NULL when discovery is
 * off (the list has no URL then). */
json_t *status_list_claim(struct broker *b, uint64_t idx);

/* After a token at idx was issued: republish before the list runs out of
 * room for the indices that follow. */
void status_list_note_index(struct broker *b, uint64_t idx);

/* Housekeeping: re-sign the list well before it expires. */
void status_list_housekeeping(struct broker *b);
