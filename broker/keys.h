/* SPDX-License-Identifier: MIT */
/* The broker's Ed25519 signing keys. The private half of the current key
 * is a 0600 PEM file under <state>/keys (0700), created on first start;
 * public halves live in the store (signing_keys) and are published as a
 * JWKS document (RFC 7517, RFC 8037) in the runtime directory. Rollover:
 * a next key is published key_publish_ahead before it signs (verifiers'
 * cached JWKS already hold it then); when it starts signing the current
 * key is retired and its private file deleted; a retired key's public half
 * stays published until every token it signed has expired. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentid/limits.h"
#include "agentid/token.h"
#include "jwt.h"

struct evp_pkey_st;
struct broker;
struct caller;

struct signing_key {
        char kid[AGENTID_KID_MAX + 1];
        char x[64];
        struct evp_pkey_st *pub;
        uint64_t created_usec, retired_usec, max_exp_usec; /* retired 0: current or next */
        bool next;               /* published, not signing yet */
        uint64_t activates_usec; /* next: signs from then; others: signed from then (0: created) */
};

struct keyring {
        char dir[AGENTID_PATH_MAX + 16];
        char jwks_path[AGENTID_PATH_MAX + 16];
        struct evp_pkey_st *signer; /* private half of keys[0] */
        struct signing_key *keys;   /* newest (current) first */
        size_t n;
        uint64_t leeway_usec;
        uint64_t publish_ahead_usec, rotation_interval_usec; /* agentid.conf */
        size_t n_published;       /* keys in the JWKS file as last written */
        uint64_t last_prune_usec; /* housekeeping: token rows last pruned */
        struct jwt_verified verified; /* signatures that verified (jwt.h) */
        uint64_t retry_usec;      /* housekeeping: no rollover attempt before then */
};

/* Load the keys, creating the first one (with its "rotate" event) if there
 * is none, and publish the JWKS file. */
int keyring_open(struct broker *b);
void keyring_close(struct keyring *k);

/* The current key (the one new tokens are signed with), and the next one
 * (published, signing from its activates_usec), or NULL. */
const struct signing_key *keyring_current(const struct keyring *k);
const struct signing_key *keyring_next(const struct keyring *k);

/* A published key by kid, as a jwt_key_lookup_fn (userdata: the keyring). */
struct evp_pkey_st *keyring_lookup(void *userdata, const char *kid);

/* The JWKS document: every published key, current first. */
json_t *keyring_jwks(const struct keyring *k, uint64_t now_usec);

/* Record (in memory: the store row is updated by the caller's
 * transaction) that kid signed something valid until exp_usec. */
void keyring_note_exp(struct keyring *k, const char *kid, uint64_t exp_usec);

/* Rotation, with a "rotate" event for caller c (NULL: the broker itself).
 * Scheduled (now false): publish a new next key that signs from
 * key_publish_ahead on; -EEXIST if a next key is already published (new_kid
 * and *ret_activates_usec then name it). Immediate (now true, for a
 * compromised key): retire the current key and make a new one current at
 * once. On success old_kid (may be empty: the key it will replace) and
 * new_kid name the keys. */
int keyring_rotate(struct broker *b, const struct caller *c, bool now, char *old_kid, char *new_kid,
                   uint64_t *ret_activates_usec);

/* Housekeeping tick: forget expired token rows; make the next key current
 * when it is due, publish a next key when the rotation interval says so;
 * rewrite the JWKS file when a retired key stopped being needed. */
void keyring_housekeeping(struct broker *b);
