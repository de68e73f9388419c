/* SPDX-License-Identifier: MIT */
/* Ending identities: revocation, TTL expiry, and catching up on both when
 * the broker starts. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "agentid/identity.h"

struct broker;
struct caller;

/* End identities (revoke or expire) in one transaction with their events,
 * their live sub-agents with them. All or nothing. The number ended, or a
 * negative errno. Then b->on_identities_ended. */
int broker_end_identities(struct broker *b, const struct caller *c, const int64_t *ids, size_t n,
                          enum identity_state state, const char *reason);
/* Expire everything due (the expiry timer fired, or at start). */
int broker_expire_due(struct broker *b);
/* At start: the live set into the expiry heap and the NSS cache. */
int broker_load_live(struct broker *b);
