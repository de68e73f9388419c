/* SPDX-License-Identifier: MIT */
#include "sql.h"

#include <stdio.h>

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
        snprintf(dst, size, "%s", v ? (const char *) v : "");
}
