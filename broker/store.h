/* SPDX-License-Identifier: MIT */
/* The broker's durable state: identities and the append-only event table
 * in one SQLite database (WAL mode). Every state change is made inside a
 * transaction together with the event that records it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "agentid/events.h"
#include "agentid/identity.h"

struct store;

struct event {
        enum event_type type;
        uint64_t time_usec;
        const char *agent;         /* may be NULL (start, stop, some denials) */
        int64_t uid;               /* -1 when there is none */
        int64_t owner_uid;         /* -1 when there is none */
        const char *template_name; /* may be NULL */
        const char *reason;        /* the task's stated intent, may be NULL */
        int64_t caller_uid;        /* -1 for the broker itself (expiry) */
        int64_t caller_pid;
        const char *detail;        /* human-readable: why denied, revoke reason... */
};

const char *event_type_to_string(enum event_type t);

struct store_filter {
        bool include_ended;  /* revoked and expired ones too */
        int64_t owner_uid;   /* -1 for any owner */
        int64_t after_id;    /* paging: rows with id > after_id */
        unsigned limit;      /* 0 for no limit */
};

int store_open(const char *path, struct store **ret);
void store_close(struct store *s);
/* The connection, for the files with statements of their own
 * (store-creds.c, stepup.c, pam-session.c; helpers in sql.h). */
struct sqlite3;
struct sqlite3 *store_sqlite(struct store *s);
/* The last SQLite error message, for logs. */
const char *store_error(struct store *s);

/* Transactions nest: the outermost store_begin starts a transaction,
 * inner ones a savepoint. The broker wraps each turn of its event loop in
 * one outer transaction (group commit: one fsync for every change the turn
 * made); each operation's own begin/commit is then a savepoint whose
 * rollback undoes that operation alone. */
int store_begin(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);
bool store_in_transaction(struct store *s);

/* One operation's changes, all or nothing: every operation that writes
 * (rows and their audit event together) does
 *
 *         _cleanup_savepoint_ struct savepoint sp = {};
 *         r = savepoint_begin(&sp, store);
 *         if (r == 0) r = ...;          (each step, while r == 0)
 *         r = savepoint_end(&sp, r);
 *
 * savepoint_end commits when r >= 0 (a failed commit rolls back and its
 * error is returned), rolls back when r < 0, and returns r. A savepoint left open
 * (an early return) is rolled back when sp goes out of scope. */
struct savepoint {
        struct store *store;
        bool open;
};
int savepoint_begin(struct savepoint *sp, struct store *s);
int savepoint_end(struct savepoint *sp, int r);
void savepoint_rollback(struct savepoint *sp);
#define _cleanup_savepoint_ __attribute__((cleanup(savepoint_rollback)))

/* Insert a live identity; sets i->id. -EEXIST if the name or a live uid
 * is taken. */
int store_insert_identity(struct store *s, struct identity *i);
/* Move a live identity to revoked/expired. -ESTALE if it is not live. */
int store_end_identity(struct store *s, int64_t id, enum identity_state state, uint64_t when_usec,
                       const char *reason);
/* The identity by name (by_uid false) or uid; the live one first, else
 * the most recent. -ENOENT if none. */
int store_find(struct store *s, const char *name, uint32_t uid, bool by_uid, struct identity *ret);
/* The identity with this row id. -ENOENT if none. */
int store_get(struct store *s, int64_t id, struct identity *ret);
int store_uid_is_live(struct store *s, uint32_t uid);
int store_count_live(struct store *s, uint64_t *ret);
int store_list(struct store *s, const struct store_filter *f, int (*cb)(void *userdata, const struct identity *i),
               void *userdata);

/* Append e to the event table, chained: its seq is the tip's plus one and
 * its hash covers its content and the tip's hash (common/audit-hash.h). */
int store_append_event(struct store *s, const struct event *e);
/* The tip of the chain: the last event's seq and hash; after a retention
 * cut removed every row, the cut's; (0, genesis) for an empty chain. */
int store_last_event(struct store *s, int64_t *seq, char hash[65]);
/* The store remembers the tip between appends (a read per event saved);
 * code that deletes events through store_sqlite() makes it read the tip
 * again. Rollbacks do so by themselves. */
void store_forget_audit_tip(struct store *s);

/* Live identities that ran a task (have a "run" event): after a broker
 * restart their tasks have lost their invoker. */
int store_list_live_tasks(struct store *s, int (*cb)(void *userdata, const struct identity *i), void *userdata);

int store_get_meta_u64(struct store *s, const char *key, uint64_t *ret);
int store_set_meta_u64(struct store *s, const char *key, uint64_t value);

/* Move the WAL's pages into the database: asks the checkpoint thread
 * (checkpointer.c, started by store_open) and returns at once. */
int store_checkpoint(struct store *s);
/* Checkpoints the thread completed so far. */
uint64_t store_checkpoints_completed(struct store *s);

/* Schema version this build writes. */
#define STORE_SCHEMA_VERSION 6
