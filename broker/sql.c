/* SPDX-License-Identifier: MIT */
#include "sql.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

void sql_bind_text_or_null(sqlite3_stmt *st, int idx, const char *v) {
        if (v && *v)
                sqlite3_bind_text(st, idx, v, -1, SQLITE_STATIC);
        else
                sqlite3_bind_null(st, idx);
}

void sql_bind_id_or_null(sqlite3_stmt *st, int idx, int64_t v) {
        if (v >= 0)
                sqlite3_bind_int64(st, idx, v);
        else
                sqlite3_bind_null(st, idx);
}

void sql_copy_text(sqlite3_stmt *st, int col, char *dst, size_t size) {
        const unsigned char *v = sqlite3_column_text(st, col);
        size_t n = v ? (size_t) sqlite3_column_bytes(st, col) : 0;

        /* Truncated like snprintf, without its format machinery: identity
         * rows copy a dozen columns per read (docs/performance.md). */
        if (size == 0)
                return;
        if (n >= size)
                n = size - 1;
        n = v ? strnlen((const char *) v, n) : 0; /* stop at a NUL, as "%s" did */
        if (n)
                memcpy(dst, v, n);
        dst[n] = '\0';
}

int sql_errno(int rc) {
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_DONE:
        case SQLITE_ROW:
                return 0;
        case SQLITE_CONSTRAINT:
                return -EEXIST;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_READONLY:
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EROFS;
        default:
                return -EIO;
        }
}

int sql_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret) {
        int rc = sqlite3_prepare_v2(db, sql, -1, ret, NULL);

        if (rc != SQLITE_OK) {
                log_error("database: %s", sqlite3_errmsg(db));
                return sql_errno(rc);
        }
        return 0;
}
