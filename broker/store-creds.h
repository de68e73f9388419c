/* SPDX-License-Identifier: MIT */
/* The store's credential tables (schema step 2, store.c): signing keys'
 * public halves, issued tokens and grants (jti, hash, audience, expiry,
 * never the token itself), and the delegation queries on identities. Runs
 * on the same connection and inside the same transactions as store.c. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "agentid/token.h"
#include "store.h"

struct creds_store;

struct signing_key_row {
        char kid[AGENTID_KID_MAX + 1];
        char x[64]; /* base64url of the 32-byte public key */
        uint64_t created_usec, retired_usec, max_exp_usec; /* retired 0: current or next */
        /* next: published, signs from activates_usec on. For the others,
         * when they started signing (0: at created_usec). */
        bool next;
        uint64_t activates_usec;
};

enum token_kind { TOKEN_KIND_TOKEN, TOKEN_KIND_GRANT };

struct token_row {
        const char *jti, *agent, *kid, *hash, *audience;
        enum token_kind kind;
        uint64_t issued_usec, expires_usec;
        uint64_t index; /* rowid: the status list index (0: any) */
};

int creds_store_open(struct store *s, struct creds_store **ret);
void creds_store_close(struct creds_store *cs);

/* Newest first. */
int creds_keys_list(struct creds_store *cs, int (*cb)(void *userdata, const struct signing_key_row *k),
                    void *userdata);
int creds_key_insert(struct creds_store *cs, const struct signing_key_row *k);
/* Mark the current key retired (no-op when there is none). */
int creds_key_retire_current(struct creds_store *cs, uint64_t when_usec);
/* Retire the next key unused (its private half is lost). */
int creds_key_discard_next(struct creds_store *cs, uint64_t when_usec);
/* Make the next key the current one, signing from when_usec. */
int creds_key_activate_next(struct creds_store *cs, uint64_t when_usec);
/* Remember that kid signed something valid until exp_usec. */
int creds_key_extend(struct creds_store *cs, const char *kid, uint64_t exp_usec);

/* -EEXIST if the jti is taken. */
int creds_token_insert(struct creds_store *cs, const struct token_row *t);
/* What the store knows of a jti: -ENOENT if nothing. hash must hold 64
 * bytes; *ret_redeemed_usec is 0 for an unused grant (and any token). */
int creds_token_get(struct creds_store *cs, const char *jti, enum token_kind *ret_kind, char *hash, size_t hash_size,
                    uint64_t *ret_redeemed_usec);
/* Burn a grant: 0 on its first use, -ESTALE if it was used already (or is
 * not a grant). One UPDATE: the single writer makes it atomic. */
int creds_grant_burn(struct creds_store *cs, const char *jti, uint64_t now_usec);
/* The status list index the next token gets: its rowid (RFC 9068 tokens
 * never share a rowid while both are unexpired: rows are pruned only
 * after they expire, and SQLite reuses only the largest ones). */
int creds_token_next_index(struct creds_store *cs, uint64_t *ret);
/* Unexpired tokens (not grants) at now_usec: cb(index, live) with live
 * false when the token's agent has ended. Largest index first. */
int creds_tokens_status(struct creds_store *cs, uint64_t now_usec,
                        int (*cb)(void *userdata, uint64_t index, bool live), void *userdata);
/* Forget tokens and grants that expired before the given time. */
int creds_tokens_prune(struct creds_store *cs, uint64_t before_usec);

int creds_count_live_children(struct creds_store *cs, const char *parent, uint64_t *ret);
/* Row ids of the live children of parent. */
int creds_list_live_children(struct creds_store *cs, const char *parent,
                             int (*cb)(void *userdata, int64_t id), void *userdata);
