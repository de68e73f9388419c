/* SPDX-License-Identifier: MIT */
#include "stepup.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentid/protocol.h"
#include "broker.h"
#include "conn.h"
#include "duration.h"
#include "events.h"
#include "log.h"
#include "macro.h"
#include "sql.h"

static const char *const state_names[] = {
        [STEPUP_PENDING] = "pending", [STEPUP_APPROVED] = "approved", [STEPUP_DENIED] = "denied",
        [STEPUP_USED] = "used",       [STEPUP_EXPIRED] = "expired",
};

const char *stepup_state_to_string(enum stepup_state s) {
        return (unsigned) s < ELEMENTSOF(state_names) ? state_names[s] : "unknown";
}

static int state_from_string(const char *s) {
        for (size_t k = 0; s && k < ELEMENTSOF(state_names); k++)
                if (streq(state_names[k], s))
                        return (int) k;
        return -EINVAL;
}

/* These statements run a few times per sudo or login, not per lookup:
 * prepared per call (sql_prepare), which keeps this file free of lifetime
 * bookkeeping. */
#define REQUEST_COLUMNS                                                                                        \
        "id, agent, uid, owner_uid, template, service, command, tty, rhost, reason, caller_pid, state, " \
        "created_usec, expires_usec, decided_by, decision_reason"

static void read_request(sqlite3_stmt *st, struct stepup_request *r) {
        int s;

        *r = (struct stepup_request) {};
        sql_copy_text(st, 0, r->id, sizeof(r->id));
        sql_copy_text(st, 1, r->agent, sizeof(r->agent));
        r->uid = (uint32_t) sqlite3_column_int64(st, 2);
        r->owner_uid = (uint32_t) sqlite3_column_int64(st, 3);
        sql_copy_text(st, 4, r->template_name, sizeof(r->template_name));
        sql_copy_text(st, 5, r->service, sizeof(r->service));
        sql_copy_text(st, 6, r->command, sizeof(r->command));
        sql_copy_text(st, 7, r->tty, sizeof(r->tty));
        sql_copy_text(st, 8, r->rhost, sizeof(r->rhost));
        sql_copy_text(st, 9, r->reason, sizeof(r->reason));
        r->caller_pid = sqlite3_column_int64(st, 10);
        s = state_from_string((const char *) sqlite3_column_text(st, 11));
        r->state = s < 0 ? STEPUP_EXPIRED : (enum stepup_state) s;
        r->created_usec = (uint64_t) sqlite3_column_int64(st, 12);
        r->expires_usec = (uint64_t) sqlite3_column_int64(st, 13);
        r->decided_by = sqlite3_column_type(st, 14) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 14);
        sql_copy_text(st, 15, r->decision_reason, sizeof(r->decision_reason));
}

int stepup_insert(struct broker *b, const struct stepup_request *r) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc, e = sql_prepare(store_sqlite(b->store),
                                "INSERT INTO stepup_requests (" REQUEST_COLUMNS ") VALUES "
                                "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'pending', ?12, ?13, NULL, NULL)",
                                &st);
        if (e < 0)
                return e;
        sqlite3_bind_text(st, 1, r->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, r->agent, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, r->uid);
        sqlite3_bind_int64(st, 4, r->owner_uid);
        sqlite3_bind_text(st, 5, r->template_name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, r->service, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 7, r->command, -1, SQLITE_TRANSIENT);
        sql_bind_text_or_null(st, 8, r->tty);
        sql_bind_text_or_null(st, 9, r->rhost);
        sql_bind_text_or_null(st, 10, r->reason);
        sqlite3_bind_int64(st, 11, r->caller_pid);
        sqlite3_bind_int64(st, 12, (sqlite3_int64) r->created_usec);
        sqlite3_bind_int64(st, 13, (sqlite3_int64) r->expires_usec);
        rc = sqlite3_step(st);
        return sql_errno(rc);
}

int stepup_get(struct broker *b, const char *id, struct stepup_request *ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc, e = sql_prepare(store_sqlite(b->store), "SELECT " REQUEST_COLUMNS " FROM stepup_requests WHERE id = ?1",
                                &st);
        if (e < 0)
                return e;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                read_request(st, ret);
        return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : sql_errno(rc);
}

int stepup_set_state(struct broker *b, const char *id, enum stepup_state state, int64_t decided_by,
                     const char *decision_reason) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        /* Only an open request moves: a decision can never be taken back,
         * and a used approval can never be used again. USED is reached
         * from APPROVED only. */
        int rc, e = sql_prepare(store_sqlite(b->store),
                                "UPDATE stepup_requests SET state = ?2, "
                                "decided_by = coalesce(?3, decided_by), decided_usec = coalesce(?5, decided_usec), "
                                "decision_reason = coalesce(?4, decision_reason) "
                                "WHERE id = ?1 AND "
                                "((state = 'pending' AND ?2 IN ('approved', 'denied', 'expired')) OR "
                                "(state = 'approved' AND ?2 IN ('used', 'expired')))",
                                &st);
        if (e < 0)
                return e;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, stepup_state_to_string(state), -1, SQLITE_STATIC);
        if (decided_by >= 0) {
                sqlite3_bind_int64(st, 3, decided_by);
                sqlite3_bind_int64(st, 5, (sqlite3_int64) now_usec());
        } else {
                sqlite3_bind_null(st, 3);
                sqlite3_bind_null(st, 5);
        }
        sql_bind_text_or_null(st, 4, decision_reason);
        rc = sqlite3_step(st);
        e = sql_errno(rc);
        if (e == 0 && sqlite3_changes(store_sqlite(b->store)) != 1)
                e = -ESTALE;
        return e;
}

int stepup_list_open(struct broker *b, int (*cb)(void *userdata, const struct stepup_request *r), void *userdata) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc, r = 0, e = sql_prepare(store_sqlite(b->store),
                                       "SELECT " REQUEST_COLUMNS " FROM stepup_requests "
                                       "WHERE state IN ('pending', 'approved') ORDER BY created_usec, id",
                                       &st);
        if (e < 0)
                return e;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct stepup_request req;
                read_request(st, &req);
                r = cb(userdata, &req);
                if (r < 0)
                        break;
        }
        if (r < 0)
                return r;
        return rc == SQLITE_DONE ? 0 : sql_errno(rc);
}

/* ---- connections behind requests --------------------------------------- */

struct stepup_waiter {
        char id[AGENTID_REQUEST_ID_LEN + 1];
        struct conn *conn;
        bool waiting;
        uint64_t expires_usec;
        struct stepup_waiter *next;
};

static void stepup_on_conn_closed(struct broker *b, struct conn *conn, void *userdata);

int stepup_track(struct broker *b, const char *id, struct conn *conn, uint64_t expires_usec) {
        struct stepup_waiter *w;
        int r;

        /* Whoever asked stops waiting when its connection goes. */
        r = conn_add_close_hook(conn, stepup_on_conn_closed, NULL);
        if (r < 0)
                return r;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        snprintf(w->id, sizeof(w->id), "%s", id);
        w->conn = conn;
        w->expires_usec = expires_usec;
        w->next = b->stepup_waiters;
        b->stepup_waiters = w;
        return 0;
}

static struct stepup_waiter *find(struct broker *b, const char *id) {
        for (struct stepup_waiter *w = b->stepup_waiters; w; w = w->next)
                if (streq(w->id, id))
                        return w;
        return NULL;
}

struct conn *stepup_waiter(struct broker *b, const char *id, bool *waiting) {
        struct stepup_waiter *w = find(b, id);

        if (waiting)
                *waiting = w && w->waiting;
        return w ? w->conn : NULL;
}

void stepup_set_waiting(struct broker *b, const char *id, bool waiting) {
        struct stepup_waiter *w = find(b, id);
        if (w)
                w->waiting = waiting;
}

void stepup_untrack(struct broker *b, const char *id) {
        for (struct stepup_waiter **p = &b->stepup_waiters; *p; p = &(*p)->next)
                if (streq((*p)->id, id)) {
                        struct stepup_waiter *w = *p;
                        *p = w->next;
                        free(w);
                        return;
                }
}

int stepup_finish(struct broker *b, const struct caller *c, const char *id, enum stepup_state state,
                  const char *why) {
        _cleanup_savepoint_ struct savepoint sp = {};
        struct stepup_request r;
        char detail[1600];
        int e;

        e = savepoint_begin(&sp, b->store);
        if (e == 0)
                e = stepup_get(b, id, &r);
        if (e == 0)
                e = stepup_set_state(b, id, state, -1, NULL);
        if (e == 0) {
                snprintf(detail, sizeof(detail), "request %s (%s: %.900s) %s: %s", id, r.service, r.command,
                         stepup_state_to_string(state), why);
                e = event_record_agent(b, c, EVENT_STEPUP_OUTCOME, r.agent, r.uid, r.owner_uid, r.template_name,
                                       r.reason, detail);
        }
        return savepoint_end(&sp, e);
}

void stepup_notify(struct broker *b, const struct stepup_request *r) {
        bool waiting;
        struct conn *conn = stepup_waiter(b, r->id, &waiting);
        json_t *reply;

        if (!conn || !waiting)
                return;
        reply = json_pack("{s:s, s:s, s:s}", "id", r->id, "decision",
                          r->state == STEPUP_USED       ? "approved"
                          : r->state == STEPUP_DENIED ? "denied"
                                                      : "expired",
                          "reason", r->decision_reason);
        if (reply && r->decided_by >= 0)
                json_object_set_new(reply, "decided_by", json_integer(r->decided_by));
        conn_set_parked(conn, false);
        conn_send_reply(b, conn, reply, reply ? NULL : AGENTID_ERROR_INTERNAL, "out of memory");
        json_decref(reply);
        stepup_untrack(b, r->id);
}

static void stepup_on_conn_closed(struct broker *b, struct conn *conn, void *userdata) {
        (void) userdata;
        for (struct stepup_waiter *w = b->stepup_waiters, *next; w; w = next) {
                next = w->next;
                if (w->conn != conn)
                        continue;
                /* Whoever asked stopped waiting (timeout, ^C, crash): a
                 * later approval must not grant anything to anyone. */
                (void) stepup_finish(b, NULL, w->id, STEPUP_EXPIRED, "the requester stopped waiting");
                stepup_untrack(b, w->id);
        }
}

static int expire_stale(void *userdata, const struct stepup_request *r) {
        struct broker *b = userdata;

        if (!find(b, r->id))
                (void) stepup_finish(b, NULL, r->id, STEPUP_EXPIRED, "its requester is gone (broker restarted)");
        return 0;
}

void stepup_housekeeping(struct broker *b) {
        uint64_t now = now_usec();

        if (!b->stepup_swept) {
                b->stepup_swept = true;
                (void) stepup_list_open(b, expire_stale, b);
        }
        for (struct stepup_waiter *w = b->stepup_waiters, *next; w; w = next) {
                struct stepup_request r;
                next = w->next;
                if (w->expires_usec > now)
                        continue;
                if (stepup_finish(b, NULL, w->id, STEPUP_EXPIRED, "no decision in time") < 0)
                        continue; /* retried next tick */
                if (stepup_get(b, w->id, &r) == 0) {
                        r.state = STEPUP_EXPIRED;
                        snprintf(r.decision_reason, sizeof(r.decision_reason), "no decision in time");
                        stepup_notify(b, &r);
                }
                stepup_untrack(b, w->id);
        }
}
