/* SPDX-License-Identifier: MIT */
#include "store-creds.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "sql.h"

enum {
        CS_KEYS_LIST,
        CS_KEY_INSERT,
        CS_KEY_RETIRE,
        CS_KEY_EXTEND,
        CS_KEY_ACTIVATE,
        CS_KEY_DISCARD_NEXT,
        CS_TOKEN_NEXT_INDEX,
        CS_TOKENS_STATUS,
        CS_TOKEN_INSERT,
        CS_TOKEN_GET,
        CS_GRANT_BURN,
        CS_TOKENS_PRUNE,
        CS_CHILDREN_COUNT,
        CS_CHILDREN_LIST,
        _CS_MAX,
};

static const char *const statements[_CS_MAX] = {
        [CS_KEYS_LIST] = "SELECT kid, x, created_usec, retired_usec, max_exp_usec, next, activates_usec "
                         "FROM signing_keys ORDER BY created_usec DESC, rowid DESC",
        [CS_KEY_INSERT] = "INSERT INTO signing_keys (kid, x, created_usec, next, activates_usec) "
                          "VALUES (?1, ?2, ?3, ?4, ?5)",
        [CS_KEY_RETIRE] = "UPDATE signing_keys SET retired_usec = ?1 WHERE retired_usec IS NULL AND next = 0",
        [CS_KEY_ACTIVATE] = "UPDATE signing_keys SET next = 0, activates_usec = ?1 "
                            "WHERE retired_usec IS NULL AND next = 1",
        [CS_KEY_DISCARD_NEXT] = "UPDATE signing_keys SET retired_usec = ?1 WHERE retired_usec IS NULL AND next = 1",
        [CS_TOKEN_NEXT_INDEX] = "SELECT coalesce(max(rowid), 0) + 1 FROM tokens",
        [CS_TOKENS_STATUS] = "SELECT t.rowid, EXISTS (SELECT 1 FROM identities i WHERE i.name = t.agent "
                             "AND i.state = 'live' AND i.expires_usec > ?1) FROM tokens t "
                             "WHERE t.kind = 'token' AND t.expires_usec > ?1 ORDER BY t.rowid DESC",
        [CS_KEY_EXTEND] = "UPDATE signing_keys SET max_exp_usec = max(max_exp_usec, ?2) WHERE kid = ?1",
        [CS_TOKEN_INSERT] = "INSERT INTO tokens (jti, kind, agent, kid, hash, audience, issued_usec, expires_usec, "
                            "rowid) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, nullif(?9, 0))",
        [CS_TOKEN_GET] = "SELECT kind, hash, redeemed_usec FROM tokens WHERE jti = ?1",
        [CS_GRANT_BURN] = "UPDATE tokens SET redeemed_usec = ?2 WHERE jti = ?1 AND kind = 'grant' "
                          "AND redeemed_usec IS NULL",
        [CS_TOKENS_PRUNE] = "DELETE FROM tokens WHERE expires_usec < ?1",
        [CS_CHILDREN_COUNT] = "SELECT count(*) FROM identities WHERE parent = ?1 AND state = 'live'",
        [CS_CHILDREN_LIST] = "SELECT id FROM identities WHERE parent = ?1 AND state = 'live' ORDER BY id",
};

struct creds_store {
        sqlite3 *db;
        sqlite3_stmt *stmt[_CS_MAX];
};

int creds_store_open(struct store *s, struct creds_store **ret) {
        struct creds_store *cs = calloc(1, sizeof(*cs));

        if (!cs)
                return -ENOMEM;
        cs->db = store_sqlite(s);
        for (int i = 0; i < _CS_MAX; i++)
                if (sqlite3_prepare_v3(cs->db, statements[i], -1, SQLITE_PREPARE_PERSISTENT, &cs->stmt[i], NULL) !=
                    SQLITE_OK) {
                        log_error("database: preparing credential statement %d: %s", i, sqlite3_errmsg(cs->db));
                        creds_store_close(cs);
                        return -EIO;
                }
        *ret = cs;
        return 0;
}

void creds_store_close(struct creds_store *cs) {
        if (!cs)
                return;
        for (int i = 0; i < _CS_MAX; i++)
                sqlite3_finalize(cs->stmt[i]);
        free(cs);
}

static void done(sqlite3_stmt *st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
}

static int step_done(struct creds_store *cs, sqlite3_stmt *st) {
        int rc = sqlite3_step(st), r = rc == SQLITE_DONE ? 0 : sql_errno(rc);

        if (r < 0 && r != -EEXIST)
                log_error("database: %s", sqlite3_errmsg(cs->db));
        done(st);
        return r;
}

int creds_keys_list(struct creds_store *cs, int (*cb)(void *userdata, const struct signing_key_row *k),
                    void *userdata) {
        sqlite3_stmt *st = cs->stmt[CS_KEYS_LIST];
        struct signing_key_row k;
        int rc, r = 0;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                memset(&k, 0, sizeof(k));
                sql_copy_text(st, 0, k.kid, sizeof(k.kid));
                sql_copy_text(st, 1, k.x, sizeof(k.x));
                k.created_usec = (uint64_t) sqlite3_column_int64(st, 2);
                k.retired_usec = (uint64_t) sqlite3_column_int64(st, 3);
                k.max_exp_usec = (uint64_t) sqlite3_column_int64(st, 4);
                k.next = sqlite3_column_int64(st, 5) != 0;
                k.activates_usec = (uint64_t) sqlite3_column_int64(st, 6);
                r = cb(userdata, &k);
                if (r < 0)
                        break;
        }
        if (r == 0 && rc != SQLITE_DONE)
                r = sql_errno(rc);
        done(st);
        return r;
}

int creds_key_insert(struct creds_store *cs, const struct signing_key_row *k) {
        sqlite3_stmt *st = cs->stmt[CS_KEY_INSERT];

        sqlite3_bind_text(st, 1, k->kid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, k->x, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (int64_t) k->created_usec);
        sqlite3_bind_int64(st, 4, k->next ? 1 : 0);
        sqlite3_bind_int64(st, 5, (int64_t) k->activates_usec);
        return step_done(cs, st);
}

int creds_key_discard_next(struct creds_store *cs, uint64_t when_usec) {
        sqlite3_bind_int64(cs->stmt[CS_KEY_DISCARD_NEXT], 1, (int64_t) when_usec);
        return step_done(cs, cs->stmt[CS_KEY_DISCARD_NEXT]);
}

int creds_key_activate_next(struct creds_store *cs, uint64_t when_usec) {
        int r;

        sqlite3_bind_int64(cs->stmt[CS_KEY_ACTIVATE], 1, (int64_t) when_usec);
        r = step_done(cs, cs->stmt[CS_KEY_ACTIVATE]);
        if (r == 0 && sqlite3_changes(cs->db) != 1)
                r = -ENOENT;
        return r;
}

int creds_key_retire_current(struct creds_store *cs, uint64_t when_usec) {
        sqlite3_bind_int64(cs->stmt[CS_KEY_RETIRE], 1, (int64_t) when_usec);
        return step_done(cs, cs->stmt[CS_KEY_RETIRE]);
}

int creds_key_extend(struct creds_store *cs, const char *kid, uint64_t exp_usec) {
        sqlite3_stmt *st = cs->stmt[CS_KEY_EXTEND];

        sqlite3_bind_text(st, 1, kid, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (int64_t) exp_usec);
        return step_done(cs, st);
}

int creds_token_insert(struct creds_store *cs, const struct token_row *t) {
        sqlite3_stmt *st = cs->stmt[CS_TOKEN_INSERT];

        sqlite3_bind_text(st, 1, t->jti, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, t->kind == TOKEN_KIND_GRANT ? "grant" : "token", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, t->agent, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, t->kid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, t->hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, t->audience, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, (int64_t) t->issued_usec);
        sqlite3_bind_int64(st, 8, (int64_t) t->expires_usec);
        sqlite3_bind_int64(st, 9, (int64_t) t->index);
        return step_done(cs, st);
}

int creds_token_next_index(struct creds_store *cs, uint64_t *ret) {
        sqlite3_stmt *st = cs->stmt[CS_TOKEN_NEXT_INDEX];
        int rc = sqlite3_step(st), r = 0;

        if (rc == SQLITE_ROW)
                *ret = (uint64_t) sqlite3_column_int64(st, 0);
        else
                r = sql_errno(rc == SQLITE_DONE ? SQLITE_ERROR : rc);
        done(st);
        return r;
}

int creds_tokens_status(struct creds_store *cs, uint64_t now_usec,
                        int (*cb)(void *userdata, uint64_t index, bool live), void *userdata) {
        sqlite3_stmt *st = cs->stmt[CS_TOKENS_STATUS];
        int rc, r = 0;

        sqlite3_bind_int64(st, 1, (int64_t) now_usec);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = cb(userdata, (uint64_t) sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1) != 0);
                if (r < 0)
                        break;
        }
        if (r == 0 && rc != SQLITE_DONE)
                r = sql_errno(rc);
        done(st);
        return r;
}

int creds_token_get(struct creds_store *cs, const char *jti, enum token_kind *ret_kind, char *hash, size_t hash_size,
                    uint64_t *ret_redeemed_usec) {
        sqlite3_stmt *st = cs->stmt[CS_TOKEN_GET];
        int rc, r;

        sqlite3_bind_text(st, 1, jti, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                const unsigned char *kind = sqlite3_column_text(st, 0);
                *ret_kind = kind && streq((const char *) kind, "grant") ? TOKEN_KIND_GRANT : TOKEN_KIND_TOKEN;
                sql_copy_text(st, 1, hash, hash_size);
                *ret_redeemed_usec = (uint64_t) sqlite3_column_int64(st, 2);
                r = 0;
        } else
                r = rc == SQLITE_DONE ? -ENOENT : sql_errno(rc);
        done(st);
        return r;
}

int creds_grant_burn(struct creds_store *cs, const char *jti, uint64_t now_usec) {
        sqlite3_stmt *st = cs->stmt[CS_GRANT_BURN];
        int r;

        sqlite3_bind_text(st, 1, jti, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (int64_t) now_usec);
        r = step_done(cs, st);
        if (r == 0 && sqlite3_changes(cs->db) != 1)
                r = -ESTALE;
        return r;
}

int creds_tokens_prune(struct creds_store *cs, uint64_t before_usec) {
        sqlite3_bind_int64(cs->stmt[CS_TOKENS_PRUNE], 1, (int64_t) before_usec);
        return step_done(cs, cs->stmt[CS_TOKENS_PRUNE]);
}

int creds_count_live_children(struct creds_store *cs, const char *parent, uint64_t *ret) {
        sqlite3_stmt *st = cs->stmt[CS_CHILDREN_COUNT];
        int rc, r;

        sqlite3_bind_text(st, 1, parent, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                *ret = (uint64_t) sqlite3_column_int64(st, 0);
                r = 0;
        } else
                r = sql_errno(rc == SQLITE_DONE ? SQLITE_ERROR : rc);
        done(st);
        return r;
}

int creds_list_live_children(struct creds_store *cs, const char *parent,
                             int (*cb)(void *userdata, int64_t id), void *userdata) {
        sqlite3_stmt *st = cs->stmt[CS_CHILDREN_LIST];
        int64_t *ids = NULL;
        size_t n = 0, cap = 0;
        int rc, r = 0;

        sqlite3_bind_text(st, 1, parent, -1, SQLITE_STATIC);
        /* Collect first: the callback ends the rows being read. */
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 8;
                        int64_t *nids = realloc(ids, ncap * sizeof(*nids));
                        if (!nids) {
                                r = -ENOMEM;
                                break;
                        }
                        ids = nids;
                        cap = ncap;
                }
                ids[n++] = sqlite3_column_int64(st, 0);
        }
        if (r == 0 && rc != SQLITE_DONE)
                r = sql_errno(rc);
        done(st);
        for (size_t k = 0; r == 0 && k < n; k++)
                r = cb(userdata, ids[k]);
        free(ids);
        return r;
}
