/* SPDX-License-Identifier: MIT */
/* What the files holding SQL statements (store.c, store-creds.c, stepup.c)
 * share: binding optional values, copying text out, finalizing. */
#pragma once

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* An SQLite result code as a negative errno (0 for OK, DONE, ROW):
 * -EEXIST for a constraint, -ENOMEM, -EBUSY, -ENOSPC, -EROFS, else -EIO. */
int sql_errno(int rc);
/* Prepare a statement for one call (finalize it: _cleanup_stmt_); errors
 * are logged. 0 or a negative errno. */
int sql_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret);

/* NULL or "" binds SQL NULL. The text must stay valid until the statement
 * is reset or finalized. */
void sql_bind_text_or_null(sqlite3_stmt *st, int idx, const char *v);
/* A negative id binds SQL NULL. */
void sql_bind_id_or_null(sqlite3_stmt *st, int idx, int64_t v);
/* Column col as text into dst (NULL as ""), truncated to size. */
void sql_copy_text(sqlite3_stmt *st, int col, char *dst, size_t size);

/* A statement prepared for one call, finalized when its variable goes out
 * of scope. */
DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3_stmt *, sqlite3_finalize)
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)
