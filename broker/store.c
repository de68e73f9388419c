/* SPDX-License-Identifier: MIT */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit-hash.h"
#include "checkpointer.h"
#include "log.h"
#include "macro.h"
#include "sql.h"
#include "wal-batch.h"

/* How large a savepoint's journal grows in memory before SQLite spills it
 * to a temporary file (see store_open). */
#define STORE_SAVEPOINT_JOURNAL_MEMORY (16 * 1024 * 1024)

enum {
        STMT_BEGIN,
        STMT_COMMIT,
        STMT_ROLLBACK,
        STMT_SAVEPOINT,
        STMT_RELEASE,
        STMT_ROLLBACK_TO,
        STMT_INSERT_IDENTITY,
        STMT_END_IDENTITY,
        STMT_FIND_BY_ID,
        STMT_FIND_BY_NAME,
        STMT_FIND_BY_UID,
        STMT_UID_IS_LIVE,
        STMT_COUNT_LIVE,
        STMT_LIST_LIVE,
        STMT_LIST_LIVE_OWNER,
        STMT_LIST_ALL,
        STMT_LIST_ALL_OWNER,
        STMT_APPEND_EVENT,
        STMT_LAST_EVENT,
        STMT_LAST_CUT,
        STMT_GET_META,
        STMT_SET_META,
        _STMT_MAX,
};

#define IDENTITY_COLUMNS                                                                             \
        "id, name, uid, gid, owner_uid, invoker_pid, template, reason, on_behalf_of, parent, home, " \
        "shell, groups, state, created_usec, expires_usec, ended_usec, end_reason"

static const char *const statements[_STMT_MAX] = {
        [STMT_BEGIN] = "BEGIN IMMEDIATE",
        [STMT_COMMIT] = "COMMIT",
        [STMT_ROLLBACK] = "ROLLBACK",
        [STMT_SAVEPOINT] = "SAVEPOINT nested",
        [STMT_RELEASE] = "RELEASE nested",
        [STMT_ROLLBACK_TO] = "ROLLBACK TO nested",
        [STMT_INSERT_IDENTITY] =
                "INSERT INTO identities (name, uid, gid, owner_uid, invoker_pid, template, reason, "
                "on_behalf_of, parent, home, shell, groups, state, created_usec, expires_usec) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'live', ?13, ?14)",
        [STMT_END_IDENTITY] = "UPDATE identities SET state = ?2, ended_usec = ?3, end_reason = ?4 "
                              "WHERE id = ?1 AND state = 'live'",
        [STMT_FIND_BY_ID] = "SELECT " IDENTITY_COLUMNS " FROM identities WHERE id = ?1",
        [STMT_FIND_BY_NAME] = "SELECT " IDENTITY_COLUMNS " FROM identities WHERE name = ?1",
        [STMT_FIND_BY_UID] = "SELECT " IDENTITY_COLUMNS " FROM identities WHERE uid = ?1 "
                             "ORDER BY state = 'live' DESC, id DESC LIMIT 1",
        [STMT_UID_IS_LIVE] = "SELECT 1 FROM identities WHERE uid = ?1 AND state = 'live'",
        [STMT_COUNT_LIVE] = "SELECT count(*) FROM identities WHERE state = 'live'",
        [STMT_LIST_LIVE] = "SELECT " IDENTITY_COLUMNS " FROM identities WHERE state = 'live' AND id > ?1 "
                           "ORDER BY id LIMIT ?2",
        [STMT_LIST_LIVE_OWNER] = "SELECT " IDENTITY_COLUMNS " FROM identities WHERE state = 'live' "
                                 "AND owner_uid = ?3 AND id > ?1 ORDER BY id LIMIT ?2",
        [STMT_LIST_ALL] = "SELECT " IDENTITY_COLUMNS " FROM identities WHERE id > ?1 ORDER BY id LIMIT ?2",
        [STMT_LIST_ALL_OWNER] = "SELECT " IDENTITY_COLUMNS " FROM identities WHERE owner_uid = ?3 "
                                "AND id > ?1 ORDER BY id LIMIT ?2",
        [STMT_APPEND_EVENT] = "INSERT INTO events (time_usec, event, agent, uid, owner_uid, template, reason, "
                              "caller_uid, caller_pid, detail, seq, prev_hash, hash) "
                              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        [STMT_LAST_EVENT] = "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
        [STMT_LAST_CUT] = "SELECT seq, hash FROM audit_checkpoints WHERE kind = 'cut' ORDER BY seq DESC LIMIT 1",
        [STMT_GET_META] = "SELECT value FROM meta WHERE key = ?1",
        [STMT_SET_META] = "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                          "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
};

/* Schema migrations, applied in order by user_version. Never edit a
 * released step: add the next one. */
static const char *const migrations[STORE_SCHEMA_VERSION] = {
        /* 0 -> 1 */
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;"
        "CREATE TABLE identities ("
        "  id INTEGER PRIMARY KEY,"
        "  name TEXT NOT NULL UNIQUE,"
        "  uid INTEGER NOT NULL, gid INTEGER NOT NULL,"
        "  owner_uid INTEGER NOT NULL, invoker_pid INTEGER NOT NULL,"
        "  template TEXT NOT NULL, reason TEXT, on_behalf_of TEXT, parent TEXT,"
        "  home TEXT NOT NULL, shell TEXT NOT NULL, groups TEXT NOT NULL,"
        "  state TEXT NOT NULL CHECK (state IN ('live', 'revoked', 'expired')),"
        "  created_usec INTEGER NOT NULL, expires_usec INTEGER NOT NULL,"
        "  ended_usec INTEGER, end_reason TEXT) STRICT;"
        /* A uid belongs to at most one live identity. */
        "CREATE UNIQUE INDEX identities_live_uid ON identities (uid) WHERE state = 'live';"
        "CREATE INDEX identities_uid ON identities (uid);"
        "CREATE INDEX identities_live_owner ON identities (owner_uid) WHERE state = 'live';"
        "CREATE TABLE events ("
        "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  time_usec INTEGER NOT NULL, event TEXT NOT NULL,"
        "  agent TEXT, uid INTEGER, owner_uid INTEGER, template TEXT, reason TEXT,"
        "  caller_uid INTEGER, caller_pid INTEGER, detail TEXT) STRICT;"
        "CREATE INDEX events_agent ON events (agent);"
        /* The audit trail is append-only, even for the broker's own SQL. */
        "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
        "  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;"
        "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
        "  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;",
        /* 1 -> 2: credentials (store-creds.c). Public halves of signing
         * keys (private ones are files under keys/), at most one current;
         * issued tokens and grants by jti with a hash of the token, never
         * the token; delegation looks children up by parent. */
        "CREATE TABLE signing_keys ("
        "  kid TEXT PRIMARY KEY, x TEXT NOT NULL, created_usec INTEGER NOT NULL,"
        "  retired_usec INTEGER, max_exp_usec INTEGER NOT NULL DEFAULT 0) STRICT;"
        "CREATE UNIQUE INDEX signing_keys_current ON signing_keys ((retired_usec IS NULL))"
        "  WHERE retired_usec IS NULL;"
        "CREATE TABLE tokens ("
        "  jti TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('token', 'grant')),"
        "  agent TEXT NOT NULL, kid TEXT NOT NULL, hash TEXT NOT NULL, audience TEXT NOT NULL,"
        "  issued_usec INTEGER NOT NULL, expires_usec INTEGER NOT NULL, redeemed_usec INTEGER) STRICT;"
        "CREATE INDEX tokens_expires ON tokens (expires_usec);"
        "CREATE INDEX identities_live_parent ON identities (parent) WHERE state = 'live';",
        /* 2 -> 3: pam_agentid (stepup.c). Step-up requests held for a
         * human's decision, and agents' PAM sessions. */
        "CREATE TABLE stepup_requests ("
        "  id TEXT PRIMARY KEY, agent TEXT NOT NULL, uid INTEGER NOT NULL, owner_uid INTEGER NOT NULL,"
        "  template TEXT NOT NULL, service TEXT NOT NULL, command TEXT NOT NULL, tty TEXT, rhost TEXT,"
        "  reason TEXT, caller_pid INTEGER NOT NULL,"
        "  state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'used', 'expired')),"
        "  created_usec INTEGER NOT NULL, expires_usec INTEGER NOT NULL,"
        "  decided_by INTEGER, decided_usec INTEGER, decision_reason TEXT) STRICT;"
        "CREATE INDEX stepup_open ON stepup_requests (created_usec) WHERE state IN ('pending', 'approved');"
        "CREATE TABLE pam_sessions ("
        "  id INTEGER PRIMARY KEY, agent TEXT NOT NULL, uid INTEGER NOT NULL, service TEXT NOT NULL,"
        "  pid INTEGER NOT NULL, tty TEXT, rhost TEXT, opened_usec INTEGER NOT NULL, closed_usec INTEGER) STRICT;"
        "CREATE INDEX pam_sessions_open ON pam_sessions (agent) WHERE closed_usec IS NULL;",
        /* 3 -> 4: the audit hash chain (broker/audit-chain.c, common/audit-hash.c).
         * Each event's hash covers its content and the previous hash;
         * signed checkpoints vouch for the chain up to a seq. Rows recorded
         * before this version are chained by migrate_chain_existing, so
         * the chain vouches for them only from the upgrade on. The
         * triggers come back in that hook: deleting is allowed only at or
         * below a signed retention cut (agentctl audit prune). */
        "DROP TRIGGER events_no_update;"
        "DROP TRIGGER events_no_delete;"
        "ALTER TABLE events ADD COLUMN prev_hash TEXT;"
        "ALTER TABLE events ADD COLUMN hash TEXT;"
        "CREATE TABLE audit_checkpoints ("
        "  id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL, time_usec INTEGER NOT NULL,"
        "  kind TEXT NOT NULL CHECK (kind IN ('periodic', 'shutdown', 'cut')),"
        "  key_id TEXT NOT NULL, signature TEXT NOT NULL) STRICT;"
        "CREATE INDEX audit_checkpoints_seq ON audit_checkpoints (seq);"
        /* io.agentid.Audit pages a non-admin's events by owner, and finds
         * an agent's sub-agents, ended ones too. */
        "CREATE INDEX events_owner ON events (owner_uid);"
        "CREATE INDEX identities_parent ON identities (parent) WHERE parent IS NOT NULL;",
        /* 4 -> 5: the same identities table, its state CHECK spelled as
         * comparisons. SQLite evaluates "state IN (three values)" through
         * an ephemeral b-tree built on every INSERT and UPDATE of the
         * column: about a sixth of a mint+revoke's instructions
         * (docs/performance.md). A CHECK cannot be altered in place, so
         * the table is rebuilt (same columns, rows and ids) with its
         * indexes. */
        "CREATE TABLE identities_v5 ("
        "  id INTEGER PRIMARY KEY,"
        "  name TEXT NOT NULL UNIQUE,"
        "  uid INTEGER NOT NULL, gid INTEGER NOT NULL,"
        "  owner_uid INTEGER NOT NULL, invoker_pid INTEGER NOT NULL,"
        "  template TEXT NOT NULL, reason TEXT, on_behalf_of TEXT, parent TEXT,"
        "  home TEXT NOT NULL, shell TEXT NOT NULL, groups TEXT NOT NULL,"
        "  state TEXT NOT NULL CHECK (state = 'live' OR state = 'revoked' OR state = 'expired'),"
        "  created_usec INTEGER NOT NULL, expires_usec INTEGER NOT NULL,"
        "  ended_usec INTEGER, end_reason TEXT) STRICT;"
        "INSERT INTO identities_v5 SELECT id, name, uid, gid, owner_uid, invoker_pid, template, reason,"
        "  on_behalf_of, parent, home, shell, groups, state, created_usec, expires_usec, ended_usec, end_reason"
        "  FROM identities;"
        "DROP TABLE identities;"
        "ALTER TABLE identities_v5 RENAME TO identities;"
        "CREATE UNIQUE INDEX identities_live_uid ON identities (uid) WHERE state = 'live';"
        "CREATE INDEX identities_uid ON identities (uid);"
        "CREATE INDEX identities_live_owner ON identities (owner_uid) WHERE state = 'live';"
        "CREATE INDEX identities_live_parent ON identities (parent) WHERE state = 'live';"
        "CREATE INDEX identities_parent ON identities (parent) WHERE parent IS NOT NULL;",
        /* 5 -> 6: key rollover (keys.c). A next key is published before it
         * signs: at most one current (next 0) and one next (next 1) key. */
        "ALTER TABLE signing_keys ADD COLUMN next INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE signing_keys ADD COLUMN activates_usec INTEGER NOT NULL DEFAULT 0;"
        "DROP INDEX signing_keys_current;"
        "CREATE UNIQUE INDEX signing_keys_unretired ON signing_keys (next) WHERE retired_usec IS NULL;",
};

/* After the 3 -> 4 SQL: chain the rows already there, then make the
 * table append-only again. */
static int migrate_chain_existing(struct store *s);

static int (*const migration_hooks[STORE_SCHEMA_VERSION])(struct store *s) = {
        [3] = migrate_chain_existing,
};

#define AUDIT_TRIGGERS                                                                                              \
        "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "                                                  \
        "  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;"                                               \
        "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "                                                  \
        "  WHEN old.seq > (SELECT coalesce(max(seq), 0) FROM audit_checkpoints WHERE kind = 'cut') "               \
        "  BEGIN SELECT RAISE(ABORT, 'events are append-only (only a signed retention cut removes old ones)'); END;" \
        "CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints "                            \
        "  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;"                                          \
        "CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints "                            \
        "  WHEN old.seq >= (SELECT coalesce(max(seq), 0) FROM audit_checkpoints WHERE kind = 'cut') "              \
        "  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;"

struct store {
        sqlite3 *db;
        sqlite3_stmt *stmt[_STMT_MAX];
        /* Transaction nesting: 0 outside any; the outermost is a real
         * transaction, inner ones are savepoints (see store_begin). */
        unsigned depth;
        char *path;
        /* NULL when it could not start: then checkpoints run inline. */
        struct checkpointer *checkpointer;
        /* The audit chain's tip (seq and hash of the last event) as of the
         * open transaction, so that an append does not read it back: set
         * by each append, forgotten by every rollback (store_rollback, or
         * SQLite's own) and by anything that deletes events. */
        bool tip_known;
        int64_t tip_seq;
        char tip_hash[AUDIT_HASH_HEX];
};

static const char *const event_names[_EVENT_TYPE_MAX] = {
        [EVENT_MINT] = "mint",     [EVENT_DENY] = "deny", [EVENT_REVOKE] = "revoke",
        [EVENT_EXPIRE] = "expire", [EVENT_START] = "start", [EVENT_STOP] = "stop",
        [EVENT_RUN] = "run",       [EVENT_KILL] = "kill",
        [EVENT_TOKEN] = "token",   [EVENT_GRANT] = "grant", [EVENT_REDEEM] = "redeem",
        [EVENT_ROTATE] = "rotate",
        [EVENT_STEPUP_REQUEST] = "stepup", [EVENT_STEPUP_APPROVE] = "approve", [EVENT_STEPUP_DENY] = "reject",
        [EVENT_STEPUP_OUTCOME] = "outcome", [EVENT_SESSION_OPEN] = "session-open",
        [EVENT_SESSION_CLOSE] = "session-close", [EVENT_EXEC] = "exec", [EVENT_EXEC_BOUND] = "exec-bound",
        [EVENT_PRUNE] = "prune", [EVENT_AUDIT_KEY] = "audit-key",
};

const char *event_type_to_string(enum event_type t) {
        return (unsigned) t < _EVENT_TYPE_MAX ? event_names[t] : "unknown";
}

sqlite3 *store_sqlite(struct store *s) {
        return s->db;
}

const char *store_error(struct store *s) {
        return s && s->db ? sqlite3_errmsg(s->db) : "no database";
}

static int exec(struct store *s, const char *sql) {
        char *err = NULL;
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, &err);

        if (rc != SQLITE_OK) {
                log_error("database: %s", err ? err : sqlite3_errstr(rc));
                sqlite3_free(err);
                return sql_errno(rc);
        }
        return 0;
}

static int migrate(struct store *s) {
        sqlite3_stmt *st = NULL;
        int version, r;

        if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW) {
                sqlite3_finalize(st);
                return -EIO;
        }
        version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);

        if (version > STORE_SCHEMA_VERSION) {
                log_error("database schema version %d is newer than this broker understands (%d)", version,
                          STORE_SCHEMA_VERSION);
                return -EPROTO;
        }
        for (; version < STORE_SCHEMA_VERSION; version++) {
                char pragma[64];

                r = exec(s, "BEGIN IMMEDIATE");
                if (r < 0)
                        return r;
                snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version + 1);
                r = exec(s, migrations[version]);
                if (r == 0 && migration_hooks[version])
                        r = migration_hooks[version](s);
                if (r == 0)
                        r = exec(s, pragma);
                if (r == 0)
                        r = exec(s, "COMMIT");
                if (r < 0) {
                        exec(s, "ROLLBACK");
                        return r;
                }
                log_info("database schema migrated to version %d", version + 1);
        }
        return 0;
}

int store_open(const char *path, struct store **ret) {
        const char *vfs = NULL;
        struct store *s;
        mode_t old_umask;
        int r, rc;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        /* SQLite's memory statistics take a global mutex on every malloc
         * and free (a few percent of a lifecycle's instructions); nothing
         * reads them. Only possible before SQLite initialises: later
         * calls fail harmlessly. */
        (void) sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        /* Each request's writes run in a savepoint inside the turn's
         * transaction; SQLite keeps a copy of every page a savepoint
         * changes, to roll it back alone. Past 64 KiB (SQLite's default)
         * that copy moves to a temporary file, created, written page by
         * page and unlinked within the turn: a request that changes more
         * than 16 pages (a mint whose index pages split) paid for that,
         * and so did every request after it in the same turn. It stays in
         * memory up to STORE_SAVEPOINT_JOURNAL_MEMORY. Process-wide, and
         * refused (harmlessly) once SQLite is initialized: the broker's
         * store is opened before anything else uses SQLite. */
        (void) sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, STORE_SAVEPOINT_JOURNAL_MEMORY);
        /* The database (and its -wal and -shm, which SQLite creates with the
         * database's mode) is the broker's alone: 0600. */
        old_umask = umask(0077);
        /* Appends to the WAL gathered into one write per commit
         * (wal-batch.h); it relies on synchronous = FULL, set below. */
        if (wal_batch_vfs(&vfs) < 0) {
                log_warning("WAL writes unbatched: the default SQLite VFS is not usable underneath");
                vfs = NULL;
        }
        rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, vfs);
        umask(old_umask);
        if (rc == SQLITE_OK && !(s->path = strdup(path)))
                rc = SQLITE_NOMEM;
        if (rc == SQLITE_OK && chmod(path, 0600) < 0)
                rc = SQLITE_PERM;
        if (rc != SQLITE_OK) {
                log_error("%s: %s", path, store_error(s));
                r = -EIO;
                goto fail;
        }
        sqlite3_extended_result_codes(s->db, 1);
        /* WAL: readers never block the writer. synchronous=FULL: a reply
         * is only sent for a state change that survives power loss. */
        r = exec(s, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
                    "PRAGMA busy_timeout = 2000; PRAGMA trusted_schema = OFF;"
                    /* Checkpoints run from the broker's housekeeping tick
                     * (store_checkpoint), not inside a mint's commit. */
                    "PRAGMA wal_autocheckpoint = 0;"
                    /* After a checkpoint lets the WAL start over, cut the file
                     * back instead of keeping its high-water mark on disk. */
                    "PRAGMA journal_size_limit = 67108864");
        if (r < 0)
                goto fail;
        r = migrate(s);
        if (r < 0)
                goto fail;
        /* Started now, not on the first checkpoint: the broker's set of
         * descriptors is the same from the start (tests count them). */
        if (checkpointer_start(s->path, &s->checkpointer) < 0)
                log_warning("checkpoints run on the event loop: no checkpoint thread");
        for (int i = 0; i < _STMT_MAX; i++)
                if (sqlite3_prepare_v3(s->db, statements[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i], NULL) !=
                    SQLITE_OK) {
                        log_error("database: preparing statement %d: %s", i, store_error(s));
                        r = -EIO;
                        goto fail;
                }
        *ret = s;
        return 0;
fail:
        store_close(s);
        return r;
}

void store_close(struct store *s) {
        if (!s)
                return;
        /* Before the broker's connection closes: the last connection to
         * close checkpoints and removes the WAL. */
        checkpointer_stop(s->checkpointer);
        free(s->path);
        for (int i = 0; i < _STMT_MAX; i++)
                sqlite3_finalize(s->stmt[i]);
        sqlite3_close(s->db);
        free(s);
}

/* Run a statement that returns no rows, then reset it. */
static int step_done(struct store *s, sqlite3_stmt *st) {
        int rc = sqlite3_step(st);
        int r = rc == SQLITE_DONE ? 0 : sql_errno(rc);

        if (r < 0 && r != -EEXIST)
                log_error("database: %s", store_error(s));
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r;
}

int store_begin(struct store *s) {
        int r = step_done(s, s->stmt[s->depth == 0 ? STMT_BEGIN : STMT_SAVEPOINT]);

        if (r == 0)
                s->depth++;
        return r;
}

int store_commit(struct store *s) {
        int r;

        if (s->depth == 0)
                return -EINVAL;
        /* SQLite rolls the whole transaction back by itself on some errors
         * (disk full, I/O): then nothing inside it may claim success. */
        if (sqlite3_get_autocommit(s->db)) {
                s->depth = 0;
                s->tip_known = false;
                return -EIO;
        }
        /* On failure the transaction or savepoint stays open: the caller
         * rolls it back, as after any other failed step. */
        r = step_done(s, s->stmt[s->depth == 1 ? STMT_COMMIT : STMT_RELEASE]);
        if (r < 0)
                return r;
        s->depth--;
        return 0;
}

void store_rollback(struct store *s) {
        s->tip_known = false;
        if (s->depth == 0)
                return;
        if (sqlite3_get_autocommit(s->db)) {
                s->depth = 0;
                return;
        }
        if (s->depth == 1) {
                (void) step_done(s, s->stmt[STMT_ROLLBACK]);
                s->depth = 0;
                return;
        }
        /* Undo the savepoint's changes, then pop it. */
        (void) step_done(s, s->stmt[STMT_ROLLBACK_TO]);
        (void) step_done(s, s->stmt[STMT_RELEASE]);
        s->depth--;
}

int savepoint_begin(struct savepoint *sp, struct store *s) {
        int r = store_begin(s);

        *sp = (struct savepoint) { .store = s, .open = r == 0 };
        return r;
}

void savepoint_rollback(struct savepoint *sp) {
        if (!sp->open)
                return;
        store_rollback(sp->store);
        sp->open = false;
}

int savepoint_end(struct savepoint *sp, int r) {
        if (!sp->open)
                return r;
        if (r >= 0) {
                int c = store_commit(sp->store);
                if (c == 0) {
                        sp->open = false;
                        return r;
                }
                r = c;
        }
        savepoint_rollback(sp);
        return r;
}

bool store_in_transaction(struct store *s) {
        return s->depth > 0;
}

int store_insert_identity(struct store *s, struct identity *i) {
        sqlite3_stmt *st = s->stmt[STMT_INSERT_IDENTITY];
        int r;

        sqlite3_bind_text(st, 1, i->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, i->uid);
        sqlite3_bind_int64(st, 3, i->gid);
        sqlite3_bind_int64(st, 4, i->owner_uid);
        sqlite3_bind_int64(st, 5, i->invoker_pid);
        sqlite3_bind_text(st, 6, i->template_name, -1, SQLITE_STATIC);
        sql_bind_text_or_null(st, 7, i->reason);
        sql_bind_text_or_null(st, 8, i->on_behalf_of);
        sql_bind_text_or_null(st, 9, i->parent);
        sqlite3_bind_text(st, 10, i->home, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 11, i->shell, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 12, i->groups, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 13, (int64_t) i->created_usec);
        sqlite3_bind_int64(st, 14, (int64_t) i->expires_usec);
        r = step_done(s, st);
        if (r == 0) {
                i->id = sqlite3_last_insert_rowid(s->db);
                i->state = IDENTITY_LIVE;
        }
        return r;
}

int store_end_identity(struct store *s, int64_t id, enum identity_state state, uint64_t when_usec,
                       const char *reason) {
        sqlite3_stmt *st = s->stmt[STMT_END_IDENTITY];
        int r;

        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, identity_state_to_string(state), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (int64_t) when_usec);
        sql_bind_text_or_null(st, 4, reason);
        r = step_done(s, st);
        if (r == 0 && sqlite3_changes(s->db) == 0)
                r = -ESTALE;
        return r;
}

static void row_to_identity(sqlite3_stmt *st, struct identity *i) {
        int state;

        memset(i, 0, sizeof(*i));
        i->id = sqlite3_column_int64(st, 0);
        sql_copy_text(st, 1, i->name, sizeof(i->name));
        i->uid = (uint32_t) sqlite3_column_int64(st, 2);
        i->gid = (uint32_t) sqlite3_column_int64(st, 3);
        i->owner_uid = (uint32_t) sqlite3_column_int64(st, 4);
        i->invoker_pid = (int32_t) sqlite3_column_int64(st, 5);
        sql_copy_text(st, 6, i->template_name, sizeof(i->template_name));
        sql_copy_text(st, 7, i->reason, sizeof(i->reason));
        sql_copy_text(st, 8, i->on_behalf_of, sizeof(i->on_behalf_of));
        sql_copy_text(st, 9, i->parent, sizeof(i->parent));
        sql_copy_text(st, 10, i->home, sizeof(i->home));
        sql_copy_text(st, 11, i->shell, sizeof(i->shell));
        sql_copy_text(st, 12, i->groups, sizeof(i->groups));
        state = identity_state_from_string((const char *) sqlite3_column_text(st, 13));
        i->state = state < 0 ? IDENTITY_REVOKED : (enum identity_state) state;
        i->created_usec = (uint64_t) sqlite3_column_int64(st, 14);
        i->expires_usec = (uint64_t) sqlite3_column_int64(st, 15);
        i->ended_usec = (uint64_t) sqlite3_column_int64(st, 16);
        sql_copy_text(st, 17, i->end_reason, sizeof(i->end_reason));
}

/* Run a statement that yields at most one identity row. */
static int step_identity(sqlite3_stmt *st, struct identity *ret) {
        int rc = sqlite3_step(st), r;

        if (rc == SQLITE_ROW) {
                row_to_identity(st, ret);
                r = 0;
        } else
                r = rc == SQLITE_DONE ? -ENOENT : sql_errno(rc);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r;
}

int store_find(struct store *s, const char *name, uint32_t uid, bool by_uid, struct identity *ret) {
        sqlite3_stmt *st = s->stmt[by_uid ? STMT_FIND_BY_UID : STMT_FIND_BY_NAME];

        if (by_uid)
                sqlite3_bind_int64(st, 1, uid);
        else
                sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        return step_identity(st, ret);
}

int store_get(struct store *s, int64_t id, struct identity *ret) {
        sqlite3_stmt *st = s->stmt[STMT_FIND_BY_ID];

        sqlite3_bind_int64(st, 1, id);
        return step_identity(st, ret);
}

static int query_int(struct store *s, sqlite3_stmt *st, int64_t *ret) {
        int rc = sqlite3_step(st), r;

        if (rc == SQLITE_ROW) {
                *ret = sqlite3_column_int64(st, 0);
                r = 1;
        } else
                r = rc == SQLITE_DONE ? 0 : sql_errno(rc);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (r < 0)
                log_error("database: %s", store_error(s));
        return r;
}

int store_uid_is_live(struct store *s, uint32_t uid) {
        int64_t v;
        sqlite3_bind_int64(s->stmt[STMT_UID_IS_LIVE], 1, uid);
        return query_int(s, s->stmt[STMT_UID_IS_LIVE], &v);
}

int store_count_live(struct store *s, uint64_t *ret) {
        int64_t v = 0;
        int r = query_int(s, s->stmt[STMT_COUNT_LIVE], &v);
        if (r < 0)
                return r;
        *ret = (uint64_t) v;
        return 0;
}

int store_list(struct store *s, const struct store_filter *f, int (*cb)(void *userdata, const struct identity *i),
               void *userdata) {
        sqlite3_stmt *st;
        struct identity i;
        int rc, r = 0;

        if (f->include_ended)
                st = s->stmt[f->owner_uid >= 0 ? STMT_LIST_ALL_OWNER : STMT_LIST_ALL];
        else
                st = s->stmt[f->owner_uid >= 0 ? STMT_LIST_LIVE_OWNER : STMT_LIST_LIVE];
        sqlite3_bind_int64(st, 1, f->after_id);
        sqlite3_bind_int64(st, 2, f->limit ? (int64_t) f->limit : -1);
        if (f->owner_uid >= 0)
                sqlite3_bind_int64(st, 3, f->owner_uid);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                row_to_identity(st, &i);
                r = cb(userdata, &i);
                if (r < 0)
                        break;
        }
        if (r == 0 && rc != SQLITE_DONE) {
                log_error("database: %s", store_error(s));
                r = sql_errno(rc);
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r;
}

/* The chain's tip: the last event, else the latest retention cut (every
 * row pruned), else the beginning. */
int store_last_event(struct store *s, int64_t *seq, char hash[AUDIT_HASH_HEX]) {
        static const int order[] = { STMT_LAST_EVENT, STMT_LAST_CUT };

        for (size_t k = 0; k < ELEMENTSOF(order); k++) {
                sqlite3_stmt *st = s->stmt[order[k]];
                int rc = sqlite3_step(st), r = 0;

                if (rc == SQLITE_ROW) {
                        const unsigned char *h = sqlite3_column_text(st, 1);
                        *seq = sqlite3_column_int64(st, 0);
                        snprintf(hash, AUDIT_HASH_HEX, "%s", h ? (const char *) h : "");
                        r = 1;
                } else if (rc != SQLITE_DONE)
                        r = sql_errno(rc);
                sqlite3_reset(st);
                if (r < 0) {
                        log_error("database: %s", store_error(s));
                        return r;
                }
                if (r == 1)
                        return 0;
        }
        *seq = 0;
        snprintf(hash, AUDIT_HASH_HEX, "%s", AUDIT_GENESIS_HEX);
        return 0;
}

static const char *text_or_null(const char *v) {
        return v && *v ? v : NULL;
}

/* The row as it will read back (empty text and negative ids are NULL). */
static struct audit_row row_of_event(const struct event *e, int64_t seq) {
        return (struct audit_row) {
                .seq = seq,
                .time_usec = (int64_t) e->time_usec,
                .event = event_type_to_string(e->type),
                .agent = text_or_null(e->agent),
                .template_name = text_or_null(e->template_name),
                .reason = text_or_null(e->reason),
                .detail = text_or_null(e->detail),
                .has_uid = e->uid >= 0,
                .uid = e->uid,
                .has_owner_uid = e->owner_uid >= 0,
                .owner_uid = e->owner_uid,
                .has_caller_uid = e->caller_uid >= 0,
                .caller_uid = e->caller_uid,
                .has_caller_pid = e->caller_pid >= 0,
                .caller_pid = e->caller_pid,
        };
}

void store_forget_audit_tip(struct store *s) {
        s->tip_known = false;
}

int store_append_event(struct store *s, const struct event *e) {
        sqlite3_stmt *st = s->stmt[STMT_APPEND_EVENT];
        char hash[AUDIT_HASH_HEX];
        struct audit_row row;
        int64_t seq;
        int r;

        /* Chained inside the caller's transaction: the tip is the one this
         * row commits after, whatever was rolled back before (a rollback
         * forgets the remembered tip, and it is read again here). */
        if (!s->tip_known) {
                r = store_last_event(s, &s->tip_seq, s->tip_hash);
                if (r < 0)
                        return r;
                s->tip_known = true;
        }
        seq = s->tip_seq;
        row = row_of_event(e, seq + 1);
        r = audit_chain_hash(&row, s->tip_hash, hash);
        if (r < 0) {
                log_error("audit: cannot hash event %" PRId64 ": %s", seq + 1, strerror(-r));
                return r;
        }
        sqlite3_bind_int64(st, 1, (int64_t) e->time_usec);
        sqlite3_bind_text(st, 2, event_type_to_string(e->type), -1, SQLITE_STATIC);
        sql_bind_text_or_null(st, 3, e->agent);
        sql_bind_id_or_null(st, 4, e->uid);
        sql_bind_id_or_null(st, 5, e->owner_uid);
        sql_bind_text_or_null(st, 6, e->template_name);
        sql_bind_text_or_null(st, 7, e->reason);
        sql_bind_id_or_null(st, 8, e->caller_uid);
        sql_bind_id_or_null(st, 9, e->caller_pid);
        sql_bind_text_or_null(st, 10, e->detail);
        sqlite3_bind_int64(st, 11, seq + 1);
        sqlite3_bind_text(st, 12, s->tip_hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 13, hash, -1, SQLITE_STATIC);
        r = step_done(s, st);
        if (r < 0) {
                s->tip_known = false;
                return r;
        }
        s->tip_seq = seq + 1;
        memcpy(s->tip_hash, hash, sizeof(hash));
        return 0;
}

static int migrate_chain_existing(struct store *s) {
        static const char sql[] = "SELECT seq, time_usec, event, agent, uid, owner_uid, template, reason, caller_uid, "
                                  "caller_pid, detail FROM events ORDER BY seq";
        sqlite3_stmt *st = NULL, *up = NULL;
        char prev[AUDIT_HASH_HEX] = AUDIT_GENESIS_HEX, hash[AUDIT_HASH_HEX];
        int64_t n = 0;
        int rc, r = 0;

        if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(s->db, "UPDATE events SET prev_hash = ?2, hash = ?3 WHERE seq = ?1", -1, &up, NULL) !=
                    SQLITE_OK) {
                r = -EIO;
                goto out;
        }
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
#define TEXT(k) (sqlite3_column_type(st, k) == SQLITE_NULL ? NULL : (const char *) sqlite3_column_text(st, k))
#define HAS(k) (sqlite3_column_type(st, k) != SQLITE_NULL)
                struct audit_row row = {
                        .seq = sqlite3_column_int64(st, 0), .time_usec = sqlite3_column_int64(st, 1),
                        .event = TEXT(2), .agent = TEXT(3),
                        .has_uid = HAS(4), .uid = sqlite3_column_int64(st, 4),
                        .has_owner_uid = HAS(5), .owner_uid = sqlite3_column_int64(st, 5),
                        .template_name = TEXT(6), .reason = TEXT(7),
                        .has_caller_uid = HAS(8), .caller_uid = sqlite3_column_int64(st, 8),
                        .has_caller_pid = HAS(9), .caller_pid = sqlite3_column_int64(st, 9),
                        .detail = TEXT(10),
                };
#undef TEXT
#undef HAS
                r = audit_chain_hash(&row, prev, hash);
                if (r < 0)
                        break;
                sqlite3_bind_int64(up, 1, row.seq);
                sqlite3_bind_text(up, 2, prev, -1, SQLITE_STATIC);
                sqlite3_bind_text(up, 3, hash, -1, SQLITE_STATIC);
                r = step_done(s, up);
                if (r < 0)
                        break;
                snprintf(prev, sizeof(prev), "%s", hash);
                n++;
        }
        if (r == 0 && rc != SQLITE_DONE)
                r = -EIO;
        if (r == 0)
                r = exec(s, AUDIT_TRIGGERS);
        if (r == 0 && n > 0)
                log_info("audit: chained the %" PRId64 " events recorded before the hash chain existed", n);
out:
        sqlite3_finalize(st);
        sqlite3_finalize(up);
        return r;
}

int store_get_meta_u64(struct store *s, const char *key, uint64_t *ret) {
        int64_t v;
        int r;

        sqlite3_bind_text(s->stmt[STMT_GET_META], 1, key, -1, SQLITE_STATIC);
        r = query_int(s, s->stmt[STMT_GET_META], &v);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        *ret = (uint64_t) v;
        return 0;
}

int store_set_meta_u64(struct store *s, const char *key, uint64_t value) {
        sqlite3_stmt *st = s->stmt[STMT_SET_META];

        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (int64_t) value);
        return step_done(s, st);
}

int store_list_live_tasks(struct store *s, int (*cb)(void *userdata, const struct identity *i), void *userdata) {
        /* Prepared on demand: only used once, at start. */
        static const char sql[] = "SELECT " IDENTITY_COLUMNS " FROM identities i WHERE state = 'live' AND "
                                  "EXISTS (SELECT 1 FROM events e WHERE e.agent = i.name AND e.event = 'run')";
        struct identity *list = NULL, i;
        sqlite3_stmt *st = NULL;
        size_t n = 0, cap = 0;
        int rc, r = 0;

        if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        /* Collect first: the callback changes the rows being read. */
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                row_to_identity(st, &i);
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 8;
                        struct identity *nl = realloc(list, ncap * sizeof(*nl));
                        if (!nl) {
                                r = -ENOMEM;
                                break;
                        }
                        list = nl;
                        cap = ncap;
                }
                list[n++] = i;
        }
        if (r == 0 && rc != SQLITE_DONE)
                r = sql_errno(rc);
        sqlite3_finalize(st);
        for (size_t k = 0; r == 0 && k < n; k++)
                r = cb(userdata, &list[k]);
        free(list);
        return r;
}

int store_checkpoint(struct store *s) {
        int rc;

        if (s->checkpointer) {
                checkpointer_request(s->checkpointer);
                return 0;
        }
        /* PASSIVE: never waits for readers. */
        rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        return rc == SQLITE_OK ? 0 : sql_errno(rc);
}

uint64_t store_checkpoints_completed(struct store *s) {
        return s->checkpointer ? checkpointer_completed(s->checkpointer) : 0;
}
