/* SPDX-License-Identifier: MIT */
#include "pam-session.h"

#include <errno.h>
#include <sqlite3.h>

#include "broker.h"
#include "duration.h"
#include "macro.h"
#include "sql.h"

int pam_session_insert(struct broker *b, const struct identity *i, const char *service, int64_t pid, const char *tty,
                       const char *rhost, int64_t *ret_id) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc, e = sql_prepare(store_sqlite(b->store),
                                "INSERT INTO pam_sessions (agent, uid, service, pid, tty, rhost, opened_usec) "
                                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                &st);
        if (e < 0)
                return e;
        sqlite3_bind_text(st, 1, i->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, i->uid);
        sqlite3_bind_text(st, 3, service, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, pid);
        sql_bind_text_or_null(st, 5, tty);
        sql_bind_text_or_null(st, 6, rhost);
        sqlite3_bind_int64(st, 7, (sqlite3_int64) now_usec());
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return sql_errno(rc) ?: -EIO;
        *ret_id = sqlite3_last_insert_rowid(store_sqlite(b->store));
        return 0;
}

int pam_session_close(struct broker *b, int64_t id, const char *agent, char *service, size_t service_size) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc, e = sql_prepare(store_sqlite(b->store),
                                "UPDATE pam_sessions SET closed_usec = ?3 WHERE id = ?1 AND agent = ?2 "
                                "AND closed_usec IS NULL RETURNING service",
                                &st);
        if (e < 0)
                return e;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, agent, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, (sqlite3_int64) now_usec());
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                sql_copy_text(st, 0, service, service_size);
                rc = sqlite3_step(st);
                e = 0;
        } else
                e = rc == SQLITE_DONE ? -ENOENT : sql_errno(rc);
        return e;
}
