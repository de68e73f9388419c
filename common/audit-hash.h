/* SPDX-License-Identifier: MIT */
/* The audit hash chain (docs/architecture.md, "Tamper-evident audit"):
 * what an event's hash covers, how a checkpoint is signed, and the
 * offline verifier. Shared by the broker, which chains and signs, and
 * agentctl, which verifies a database file with nothing but the audit
 * public key. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUDIT_HASH_LEN 32
#define AUDIT_HASH_HEX (AUDIT_HASH_LEN * 2 + 1)
/* The hash before the first event. */
#define AUDIT_GENESIS_HEX "0000000000000000000000000000000000000000000000000000000000000000"

/* One event row as the table holds it: text NULL for SQL NULL, has_* false
 * for an SQL NULL integer. The broker stores empty strings and negative
 * ids as NULL, so it normalises before hashing exactly as it stores. */
struct audit_row {
        int64_t seq, time_usec;
        const char *event, *agent, *template_name, *reason, *detail;
        bool has_uid, has_owner_uid, has_caller_uid, has_caller_pid;
        int64_t uid, owner_uid, caller_uid, caller_pid;
};

/* hash = SHA-256("agentid-audit-event-v1" || prev || fields), each field
 * length-prefixed (big-endian) with a null tag, so no two different rows
 * encode the same. prev_hex and ret are lowercase hex. 0 or -EINVAL/-EIO. */
int audit_chain_hash(const struct audit_row *row, const char *prev_hex, char ret[AUDIT_HASH_HEX]);

/* The bytes a checkpoint signature covers. */
int audit_checkpoint_message(int64_t seq, const char *hash_hex, int64_t time_usec, const char *kind, char *buf,
                             size_t size);

/* Key id: the first 16 hex digits of SHA-256 of the raw public key. */
struct evp_pkey_st;
int audit_key_id(struct evp_pkey_st *key, char ret[17]);

/* Check a base64url Ed25519 signature over a checkpoint: 0, or -EBADMSG. */
int audit_checkpoint_verify(struct evp_pkey_st *pub, int64_t seq, const char *hash_hex, int64_t time_usec,
                            const char *kind, const char *signature_b64);

/* Offline verification of the chain and every checkpoint in the database
 * at db_path (opened read-only, never written). extra: a published
 * checkpoint (the runtime dir's audit-checkpoint.json) to check as well,
 * or NULL. */
struct audit_verify_result {
        bool ok;
        int64_t first_bad_seq; /* when !ok: the first sequence number that does not verify (0: none applies) */
        char why[512];         /* when !ok: what is wrong there */
        int64_t first_seq, last_seq, n_events;
        int64_t start_seq;       /* the cut the chain starts from (0: the beginning) */
        int64_t n_checkpoints;   /* checked, signature and hash */
        int64_t last_signed_seq; /* events after it are chained but not yet signed */
};
struct audit_published_checkpoint {
        int64_t seq, time_usec;
        char hash[AUDIT_HASH_HEX];
        char kind[16];
        char signature[128];
};
int audit_verify_db(const char *db_path, struct evp_pkey_st *pub, const struct audit_published_checkpoint *extra,
                    struct audit_verify_result *ret);

/* Read a public key (PEM) from path: 0 or a negative errno. */
int audit_read_public_key(const char *path, struct evp_pkey_st **ret);
/* Parse audit-checkpoint.json: 0 or a negative errno. */
int audit_read_published_checkpoint(const char *path, struct audit_published_checkpoint *ret);
