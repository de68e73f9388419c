/* SPDX-License-Identifier: MIT */
/* Delegation: agents minting sub-agents, no broader than themselves, and
 * the chain of whom an identity acts for (docs/tokens.md). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentid/identity.h"

struct broker;
struct caller;
struct reply;
struct template;

/* The live agent whose uid the caller runs as: 0, or -ENOENT when the
 * caller is no live agent. */
int broker_caller_agent(struct broker *b, const struct caller *c, struct identity *ret);
/* A live agent minting with template t: refuse (with a deny event) unless
 * the child is no broader than parent and within its depth and count
 * limits. Lowers *ttl to the parent's remaining life when not given. */
int delegation_check_mint(struct broker *b, const struct caller *c, const struct identity *parent,
                          const struct template *t, uint64_t *ttl, bool ttl_given, struct reply *reply);
/* Who i acts for, nearest first: the agent or user that minted it, theirs,
 * ..., and the on_behalf_of of the top one. A JSON array of objects with
 * "sub" (and "uid", "kind"). */
json_t *delegation_chain(struct broker *b, const struct identity *i);
/* i's chain as nested RFC 8693 "act" claims: i itself (the current actor)
 * outermost, then its parent agents, then the user who minted the top one. */
json_t *delegation_act(const struct identity *i, json_t *chain);
/* The on_behalf_of at the top of the chain (whom the agents act for), or
 * NULL. Borrowed from chain. */
const char *delegation_principal(json_t *chain);
/* Append the live children of the identity named parent to *ids (the
 * cascade of broker_end_identities). */
int delegation_add_children(struct broker *b, const char *parent, int64_t **ids, size_t *n, size_t *cap);
