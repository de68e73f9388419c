/* SPDX-License-Identifier: MIT */
/* io.agentid.Audit (one agent's story, or every event for admins) and
 * io.agentid.AuditPrune (retention: archive-and-cut, admins only). */
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentid/protocol.h"
#include "audit-hash.h"
#include "broker.h"
#include "delegation.h"
#include "events.h"
#include "methods.h"
#include "duration.h"
#include "macro.h"
#include "sql.h"
#include "names.h"
#include "protocol.h"

#define AUDIT_COLUMNS                                                                                    \
        "seq, time_usec, event, agent, uid, owner_uid, template, reason, caller_uid, caller_pid, detail, " \
        "prev_hash, hash"

/* A page stops before the reply could outgrow the protocol's frame. */
#define AUDIT_PAGE_BYTES (AGENTID_MESSAGE_MAX / 2)

static int event_type_known(const char *name) {
        for (int t = 0; t < _EVENT_TYPE_MAX; t++)
                if (streq(event_type_to_string((enum event_type) t), name))
                        return 1;
        return 0;
}

static json_t *col_json_text(sqlite3_stmt *st, int col) {
        return sqlite3_column_type(st, col) == SQLITE_NULL ? json_null()
                                                           : json_string((const char *) sqlite3_column_text(st, col));
}

static json_t *col_json_int(sqlite3_stmt *st, int col) {
        return sqlite3_column_type(st, col) == SQLITE_NULL ? json_null()
                                                           : json_integer(sqlite3_column_int64(st, col));
}

static json_t *row_to_json(sqlite3_stmt *st, size_t *bytes) {
        char when[RFC3339_MAX];
        int64_t usec = sqlite3_column_int64(st, 1);
        json_t *o;

        for (int k = 0; k < 13; k++)
                if (sqlite3_column_type(st, k) == SQLITE_TEXT)
                        *bytes += (size_t) sqlite3_column_bytes(st, k) * 2 + 16; /* JSON may escape */
        *bytes += 256;
        o = json_pack("{s:I, s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "seq",
                      (json_int_t) sqlite3_column_int64(st, 0), "time_usec", (json_int_t) usec, "time",
                      rfc3339_format((uint64_t) usec, when, sizeof(when)), "event", col_json_text(st, 2), "agent",
                      col_json_text(st, 3), "uid", col_json_int(st, 4), "owner_uid", col_json_int(st, 5), "template",
                      col_json_text(st, 6), "reason", col_json_text(st, 7), "caller_uid", col_json_int(st, 8),
                      "caller_pid", col_json_int(st, 9), "detail", col_json_text(st, 10), "prev_hash",
                      col_json_text(st, 11), "hash", col_json_text(st, 12));
        return o;
}

/* Only the conditions asked for, so that SQLite walks an index (agent,
 * owner, or seq itself) and never scans the table for a caller who may
 * see a handful of rows: the loop answers everyone else meanwhile. */
static void build_query(char *sql, size_t size, bool agent, bool owner, bool since, bool until, bool event) {
        char filters[256];

        snprintf(filters, sizeof(filters), "seq > ?1%s%s%s%s", owner ? " AND owner_uid = ?3" : "",
                 since ? " AND time_usec >= ?4" : "", until ? " AND time_usec <= ?5" : "",
                 event ? " AND event = ?6" : "");
        if (agent)
                /* Sub-agents' mints belong to their parent's story too. */
                snprintf(sql, size,
                         "SELECT * FROM (SELECT " AUDIT_COLUMNS " FROM events WHERE agent = ?2 AND %s UNION ALL "
                         "SELECT " AUDIT_COLUMNS " FROM events WHERE agent IN (SELECT name FROM identities WHERE "
                         "parent = ?2) AND event = 'mint' AND %s) ORDER BY seq LIMIT ?7",
                         filters, filters);
        else
                snprintf(sql, size, "SELECT " AUDIT_COLUMNS " FROM events WHERE %s ORDER BY seq LIMIT ?7", filters);
}

int method_audit(struct broker *b, const struct caller *c, json_t *params, struct reply *reply) {
        static const char *const known[] = { "agent", "owner", "since_usec", "until_usec", "event", "after", "limit",
                                             NULL };
        char sql[1024];
        const char *agent = NULL, *event = NULL;
        uint64_t owner = 0, since = 0, until = 0, after = 0, limit = AGENTID_LIST_PAGE_MAX;
        int r_owner, r_since, r_until, r, rc;
        bool admin = caller_is_admin(b, c);
        json_t *events = NULL, *identity = NULL;
        sqlite3_stmt *st = NULL;
        int64_t last = 0, tip_seq = 0;
        char tip_hash[AUDIT_HASH_HEX];
        size_t n = 0, bytes = 0;
        struct identity i;

        if (params_check_known(params, known, reply) < 0)
                return -1;
        r = json_get_string(params, "agent", &agent);
        if (r == -EINVAL || (r == 0 && !agent_name_is_valid(agent)))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "agent must be an agent name");
        r_owner = json_get_uint(params, "owner", UINT32_MAX - 1, &owner);
        r_since = json_get_uint(params, "since_usec", INT64_MAX, &since);
        r_until = json_get_uint(params, "until_usec", INT64_MAX, &until);
        if (r_owner == -EINVAL || r_since == -EINVAL || r_until == -EINVAL)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER,
                                  "owner must be a uid; since_usec and until_usec microseconds since the epoch");
        r = json_get_string(params, "event", &event);
        if (r == -EINVAL || (r == 0 && !event_type_known(event)))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "event must be an event type (see agentctl(1))");
        if (json_get_uint(params, "after", INT64_MAX, &after) == -EINVAL)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "after must be a cursor from a previous page");
        r = json_get_uint(params, "limit", AGENTID_LIST_PAGE_MAX, &limit);
        if (r == -EINVAL || (r == 0 && limit == 0))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "limit must be 1 to %d",
                                  AGENTID_LIST_PAGE_MAX);

        /* Authorized like Show: an agent's story is for its owner and
         * admins; without an agent, non-admins see their own agents'. */
        if (agent) {
                r = store_find(b->store, agent, 0, false, &i);
                if (r == -ENOENT)
                        return reply_fail(reply, AGENTID_ERROR_NO_SUCH_AGENT, "no agent %s", agent);
                if (r < 0)
                        return reply_fail(reply, AGENTID_ERROR_INTERNAL, "reading the store failed");
                if (!caller_may_manage(b, c, &i))
                        return reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED,
                                          "only the owner of %s or an admin may read its audit trail", i.name);
                identity = identity_to_json(&b->owners, &i, now_usec());
                if (identity)
                        json_object_set_new(identity, "delegation", delegation_chain(b, &i));
        }
        if (!admin) {
                if (r_owner == 0 && owner != c->uid)
                        return reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED,
                                          "only admins may read other users' audit trails");
                if (!agent) {
                        r_owner = 0;
                        owner = c->uid;
                }
        }

        build_query(sql, sizeof(sql), agent != NULL, r_owner == 0, r_since == 0, r_until == 0, event != NULL);
        events = json_array();
        if (!events || sqlite3_prepare_v2(store_sqlite(b->store), sql, -1, &st, NULL) != SQLITE_OK) {
                json_decref(events);
                json_decref(identity);
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "reading the event table failed");
        }
        sqlite3_bind_int64(st, 1, (int64_t) after);
        if (agent)
                sqlite3_bind_text(st, 2, agent, -1, SQLITE_STATIC);
        if (r_owner == 0)
                sqlite3_bind_int64(st, 3, (int64_t) owner);
        if (r_since == 0)
                sqlite3_bind_int64(st, 4, (int64_t) since);
        if (r_until == 0)
                sqlite3_bind_int64(st, 5, (int64_t) until);
        if (event)
                sqlite3_bind_text(st, 6, event, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, (int64_t) limit);
        r = 0;
        while (bytes < AUDIT_PAGE_BYTES && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                json_t *o = row_to_json(st, &bytes);
                if (!o || json_array_append_new(events, o) < 0) {
                        r = -ENOMEM;
                        break;
                }
                last = sqlite3_column_int64(st, 0);
                n++;
        }
        if (r == 0 && bytes < AUDIT_PAGE_BYTES && rc != SQLITE_DONE)
                r = -EIO;
        sqlite3_finalize(st);
        if (r == 0)
                r = store_last_event(b->store, &tip_seq, tip_hash);
        if (r < 0) {
                json_decref(events);
                json_decref(identity);
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "reading the event table failed");
        }
        /* A full page (by count or size) may have more behind it. */
        reply->parameters = json_pack("{s:o, s:o, s:{s:I, s:s}}", "events", events, "next",
                                      n == limit || bytes >= AUDIT_PAGE_BYTES ? json_integer(last) : json_null(),
                                      "tip", "seq", (json_int_t) tip_seq, "hash", tip_hash);
        if (reply->parameters && identity)
                json_object_set_new(reply->parameters, "identity", identity);
        else
                json_decref(identity);
        return 0;
}

/* The seq of the last event older than cutoff with nothing newer before
 * it, no later than through (0: no bound). 0: nothing to cut. */
static int find_cut(struct broker *b, uint64_t cutoff, uint64_t through, int64_t *seq, char hash[AUDIT_HASH_HEX]) {
        static const char sql[] =
                "SELECT seq, hash FROM events WHERE seq < coalesce((SELECT min(seq) FROM events WHERE time_usec >= ?1), "
                "  9223372036854775807) AND (?2 = 0 OR seq <= ?2) ORDER BY seq DESC LIMIT 1";
        sqlite3_stmt *st = NULL;
        int rc, r = 0;

        *seq = 0;
        if (sqlite3_prepare_v2(store_sqlite(b->store), sql, -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_int64(st, 1, (int64_t) cutoff);
        sqlite3_bind_int64(st, 2, (int64_t) through);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                const unsigned char *h = sqlite3_column_text(st, 1);
                *seq = sqlite3_column_int64(st, 0);
                snprintf(hash, AUDIT_HASH_HEX, "%s", h ? (const char *) h : "");
        } else if (rc != SQLITE_DONE)
                r = sql_errno(rc);
        sqlite3_finalize(st);
        return r;
}

static int delete_through(struct broker *b, int64_t seq, int64_t *removed) {
        sqlite3 *db = store_sqlite(b->store);
        sqlite3_stmt *st = NULL;
        int rc;

        if (sqlite3_prepare_v2(db, "DELETE FROM events WHERE seq <= ?1", -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_int64(st, 1, seq);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        store_forget_audit_tip(b->store);
        if (rc != SQLITE_DONE)
                return sql_errno(rc);
        *removed = sqlite3_changes64(db);
        /* Checkpoints before the cut vouch for rows that are gone. */
        if (sqlite3_prepare_v2(db, "DELETE FROM audit_checkpoints WHERE seq < ?1", -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_int64(st, 1, seq);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : sql_errno(rc);
}

int method_audit_prune(struct broker *b, const struct caller *c, json_t *params, struct reply *reply) {
        static const char *const known[] = { "older_than_usec", "through", NULL };
        uint64_t older = 0, through = 0, now = now_usec(), cut_time = 0;
        char hash[AUDIT_HASH_HEX], detail[256], age[32];
        _cleanup_savepoint_ struct savepoint sp = {};
        int64_t cut = 0, removed = 0;
        struct event e;
        int r;

        if (params_check_known(params, known, reply) < 0)
                return -1;
        if (!caller_is_admin(b, c)) {
                snprintf(detail, sizeof(detail), "uid %u may not prune the audit trail", (unsigned) c->uid);
                broker_record_denial(b, c, NULL, NULL, detail);
                return reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED, "%s (admins only)", detail);
        }
        if (json_get_uint(params, "older_than_usec", now, &older) != 0)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER,
                                  "older_than_usec must be given, in microseconds, not beyond the epoch");
        if (json_get_uint(params, "through", INT64_MAX, &through) == -EINVAL)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "through must be a sequence number");

        r = savepoint_begin(&sp, b->store);
        if (r == 0)
                r = find_cut(b, now - older, through, &cut, hash);
        /* Signed first: the trigger lets rows go only at or below a signed
         * cut, and verify starts from it. */
        if (r == 0 && cut > 0)
                r = audit_signer_cut(b, cut, hash, &cut_time);
        if (r >= 0 && cut > 0)
                r = delete_through(b, cut, &removed);
        if (r >= 0) {
                snprintf(detail, sizeof(detail), "events older than %s%s: %" PRId64 " removed through seq %" PRId64,
                         duration_format(older, age, sizeof(age)), through ? " (archived by the caller)" : "",
                         removed, cut);
                e = event_for(EVENT_PRUNE, NULL, c, detail);
                r = audit_record(&b->audit, &e);
        }
        r = savepoint_end(&sp, r);
        if (r < 0) {
                /* Nothing was cut: the signed checkpoint went with the rollback. */
                b->audit_signer.publish_pending = false;
                return reply_fail(reply,
                                  r == -ENOSPC || r == -EIO ? AGENTID_ERROR_AUDIT_FAILED : AGENTID_ERROR_INTERNAL,
                                  "pruning failed: %s", strerror(-r));
        }
        reply->parameters = json_pack("{s:I, s:I, s:s, s:I}", "cut_seq", (json_int_t) cut, "removed",
                                      (json_int_t) removed, "hash", cut > 0 ? hash : "", "cut_time_usec",
                                      (json_int_t) cut_time);
        if (reply->parameters && cut > 0)
                json_object_set_new(reply->parameters, "checkpoint",
                                    json_pack("{s:I, s:s, s:I, s:s, s:s, s:s}", "seq", (json_int_t) cut, "hash", hash,
                                              "time_usec", (json_int_t) cut_time, "kind", "cut", "key_id",
                                              b->audit_signer.key_id, "signature", b->audit_signer.pending_sig));
        return 0;
}
