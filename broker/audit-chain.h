/* SPDX-License-Identifier: MIT */
/* The broker's half of the audit hash chain: the Ed25519 audit key (its
 * own, never a token key: <state>/audit-key.pem, 0600, created on first
 * start), signed checkpoints of the chain's tip at an interval and on
 * shutdown, and what is published for verifiers in the runtime dir:
 * audit-key.pub (PEM) and audit-checkpoint.json (the latest checkpoint).
 * Events are chained as they are stored (store_append_event). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "agentid/limits.h"

struct evp_pkey_st;
struct broker;

struct audit_signer {
        struct evp_pkey_st *key;
        char key_id[17];
        char checkpoint_path[AGENTID_PATH_MAX + 32];
        int64_t last_signed_seq; /* tip of the latest checkpoint (0: none yet) */
        uint64_t last_signed_usec;
        bool publish_pending; /* a checkpoint committed since the file was written */
        /* The checkpoint to publish, kept until its transaction commits. */
        int64_t pending_seq, pending_time;
        char pending_hash[65], pending_kind[16], pending_sig[96];
};

/* Load or create the audit key and publish its public half. */
int audit_signer_open(struct broker *b);
void audit_signer_close(struct audit_signer *s);

/* Sign the chain's tip now as a checkpoint of kind ("periodic",
 * "shutdown", "cut" at seq: see audit_signer_cut). Inside the caller's
 * transaction; the file is published by audit_signer_publish after the
 * commit. 0 when there was nothing new to sign (periodic, shutdown). */
int audit_signer_checkpoint(struct broker *b, const char *kind);
/* A retention cut at seq (with its hash from the chain). */
int audit_signer_cut(struct broker *b, int64_t seq, const char *hash, uint64_t *time_usec);
/* Write audit-checkpoint.json for the last committed checkpoint. */
void audit_signer_publish(struct broker *b);
/* Housekeeping tick: sign a periodic checkpoint when the interval has
 * passed and events are new (published after the turn commits). */
void audit_signer_housekeeping(struct broker *b);
/* Shutdown: sign the tip in a transaction of its own and publish it. */
int audit_signer_shutdown(struct broker *b);
