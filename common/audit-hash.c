/* SPDX-License-Identifier: MIT */
#include "audit-hash.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base64url.h"
#include "macro.h"

#define EVENT_DOMAIN "agentid-audit-event-v1"
#define CHECKPOINT_DOMAIN "agentid-audit-checkpoint-v1"

static int hex_decode(const char *hex, uint8_t out[AUDIT_HASH_LEN]) {
        if (!hex || strlen(hex) != AUDIT_HASH_LEN * 2)
                return -EINVAL;
        for (size_t k = 0; k < AUDIT_HASH_LEN; k++) {
                unsigned v = 0;
                for (size_t j = 0; j < 2; j++) {
                        char c = hex[2 * k + j];
                        v <<= 4;
                        if (c >= '0' && c <= '9')
                                v |= (unsigned) (c - '0');
                        else if (c >= 'a' && c <= 'f')
                                v |= (unsigned) (c - 'a' + 10);
                        else
                                return -EINVAL;
                }
                out[k] = (uint8_t) v;
        }
        return 0;
}

static void hex_encode(const uint8_t *in, size_t n, char *out) {
        static const char digits[] = "0123456789abcdef";
        for (size_t k = 0; k < n; k++) {
                out[2 * k] = digits[in[k] >> 4];
                out[2 * k + 1] = digits[in[k] & 0xf];
        }
        out[2 * n] = '\0';
}

static void put_u64(uint8_t out[8], uint64_t v) {
        for (int k = 7; k >= 0; k--, v >>= 8)
                out[k] = (uint8_t) (v & 0xff);
}

/* A tag byte (0: NULL, 1: integer, 2: text) then the value: 8 bytes for
 * an integer, an 8-byte length and the bytes for text. */
static int add_int(EVP_MD_CTX *md, bool present, int64_t v) {
        uint8_t buf[9] = { present ? 1 : 0 };
        if (!present)
                return EVP_DigestUpdate(md, buf, 1) == 1 ? 0 : -EIO;
        put_u64(buf + 1, (uint64_t) v);
        return EVP_DigestUpdate(md, buf, sizeof(buf)) == 1 ? 0 : -EIO;
}

static int add_text(EVP_MD_CTX *md, const char *s) {
        uint8_t buf[9] = { s ? 2 : 0 };
        size_t n = s ? strlen(s) : 0;
        if (!s)
                return EVP_DigestUpdate(md, buf, 1) == 1 ? 0 : -EIO;
        put_u64(buf + 1, n);
        return EVP_DigestUpdate(md, buf, sizeof(buf)) == 1 && EVP_DigestUpdate(md, s, n) == 1 ? 0 : -EIO;
}

int audit_chain_hash(const struct audit_row *row, const char *prev_hex, char ret[AUDIT_HASH_HEX]) {
        uint8_t prev[AUDIT_HASH_LEN], out[EVP_MAX_MD_SIZE];
        unsigned out_len = 0;
        EVP_MD_CTX *md;
        int r;

        if (hex_decode(prev_hex, prev) < 0)
                return -EINVAL;
        md = EVP_MD_CTX_new();
        if (!md)
                return -ENOMEM;
        r = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
                            EVP_DigestUpdate(md, EVENT_DOMAIN, sizeof(EVENT_DOMAIN)) == 1 &&
                            EVP_DigestUpdate(md, prev, sizeof(prev)) == 1
                    ? 0
                    : -EIO;
        if (r == 0)
                r = add_int(md, true, row->seq);
        if (r == 0)
                r = add_int(md, true, row->time_usec);
        if (r == 0)
                r = add_text(md, row->event);
        if (r == 0)
                r = add_text(md, row->agent);
        if (r == 0)
                r = add_int(md, row->has_uid, row->uid);
        if (r == 0)
                r = add_int(md, row->has_owner_uid, row->owner_uid);
        if (r == 0)
                r = add_text(md, row->template_name);
        if (r == 0)
                r = add_text(md, row->reason);
        if (r == 0)
                r = add_int(md, row->has_caller_uid, row->caller_uid);
        if (r == 0)
                r = add_int(md, row->has_caller_pid, row->caller_pid);
        if (r == 0)
                r = add_text(md, row->detail);
        if (r == 0 && (EVP_DigestFinal_ex(md, out, &out_len) != 1 || out_len != AUDIT_HASH_LEN))
                r = -EIO;
        EVP_MD_CTX_free(md);
        if (r == 0)
                hex_encode(out, AUDIT_HASH_LEN, ret);
        return r;
}

int audit_checkpoint_message(int64_t seq, const char *hash_hex, int64_t time_usec, const char *kind, char *buf,
                             size_t size) {
        int n = snprintf(buf, size, CHECKPOINT_DOMAIN "\nseq %" PRId64 "\nhash %s\ntime %" PRId64 "\nkind %s\n", seq,
                         hash_hex, time_usec, kind);
        return n < 0 || (size_t) n >= size ? -ENOBUFS : n;
}

int audit_key_id(EVP_PKEY *key, char ret[17]) {
        uint8_t raw[32], digest[EVP_MAX_MD_SIZE];
        size_t len = sizeof(raw);
        unsigned dlen = 0;

        if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1 || len != sizeof(raw) ||
            EVP_Digest(raw, len, digest, &dlen, EVP_sha256(), NULL) != 1)
                return -EIO;
        hex_encode(digest, 8, ret);
        return 0;
}

int audit_checkpoint_verify(EVP_PKEY *pub, int64_t seq, const char *hash_hex, int64_t time_usec, const char *kind,
                            const char *signature_b64) {
        char msg[256];
        uint8_t sig[72];
        EVP_MD_CTX *md;
        int n, len, r;

        n = audit_checkpoint_message(seq, hash_hex, time_usec, kind, msg, sizeof(msg));
        if (n < 0 || !signature_b64)
                return -EBADMSG;
        len = base64url_decode(signature_b64, strlen(signature_b64), sig, sizeof(sig));
        if (len != 64)
                return -EBADMSG;
        md = EVP_MD_CTX_new();
        if (!md)
                return -ENOMEM;
        r = EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub) == 1 &&
                            EVP_DigestVerify(md, sig, (size_t) len, (const uint8_t *) msg, (size_t) n) == 1
                    ? 0
                    : -EBADMSG;
        EVP_MD_CTX_free(md);
        return r;
}

int audit_read_public_key(const char *path, EVP_PKEY **ret) {
        FILE *f = fopen(path, "re");
        EVP_PKEY *key;

        if (!f)
                return -errno;
        key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
        fclose(f);
        if (!key)
                return -EINVAL;
        if (EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) {
                EVP_PKEY_free(key);
                return -EINVAL;
        }
        *ret = key;
        return 0;
}

int audit_read_published_checkpoint(const char *path, struct audit_published_checkpoint *ret) {
        json_error_t error;
        json_t *o = json_load_file(path, 0, &error);
        const char *hash = NULL, *kind = NULL, *sig = NULL;
        json_int_t seq = 0, time = 0;
        int r = -EINVAL;

        if (!o)
                return -ENOENT;
        if (json_unpack(o, "{s:I, s:s, s:I, s:s, s:s}", "seq", &seq, "hash", &hash, "time_usec", &time, "kind", &kind,
                        "signature", &sig) == 0 &&
            strlen(hash) < sizeof(ret->hash) && strlen(kind) < sizeof(ret->kind) &&
            strlen(sig) < sizeof(ret->signature)) {
                ret->seq = seq;
                ret->time_usec = time;
                snprintf(ret->hash, sizeof(ret->hash), "%s", hash);
                snprintf(ret->kind, sizeof(ret->kind), "%s", kind);
                snprintf(ret->signature, sizeof(ret->signature), "%s", sig);
                r = 0;
        }
        json_decref(o);
        return r;
}

/* ---- the verifier ---- */

struct checkpoint {
        int64_t seq, time_usec;
        char hash[AUDIT_HASH_HEX];
        char kind[16];
        char *signature;
};

static int fail(struct audit_verify_result *v, int64_t seq, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct audit_verify_result *v, int64_t seq, const char *fmt, ...) {
        va_list ap;

        if (!v->ok) /* the first failure is the one that counts */
                return 0;
        v->ok = false;
        v->first_bad_seq = seq;
        va_start(ap, fmt);
        vsnprintf(v->why, sizeof(v->why), fmt, ap);
        va_end(ap);
        return 0;
}

static const char *col_text(sqlite3_stmt *st, int col) {
        return sqlite3_column_type(st, col) == SQLITE_NULL ? NULL : (const char *) sqlite3_column_text(st, col);
}

static bool col_int(sqlite3_stmt *st, int col, int64_t *v) {
        if (sqlite3_column_type(st, col) == SQLITE_NULL)
                return false;
        *v = sqlite3_column_int64(st, col);
        return true;
}

static int load_checkpoints(sqlite3 *db, struct checkpoint **ret, size_t *n_ret) {
        sqlite3_stmt *st = NULL;
        struct checkpoint *list = NULL;
        size_t n = 0;
        int rc, r = 0;

        if (sqlite3_prepare_v2(db,
                               "SELECT seq, hash, time_usec, kind, signature FROM audit_checkpoints ORDER BY seq, id",
                               -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct checkpoint *nl = realloc(list, (n + 1) * sizeof(*nl));
                const char *hash = col_text(st, 1), *kind = col_text(st, 3), *sig = col_text(st, 4);
                if (!nl) {
                        r = -ENOMEM;
                        break;
                }
                list = nl;
                list[n] = (struct checkpoint) { .seq = sqlite3_column_int64(st, 0),
                                                .time_usec = sqlite3_column_int64(st, 2) };
                snprintf(list[n].hash, sizeof(list[n].hash), "%s", hash ? hash : "");
                snprintf(list[n].kind, sizeof(list[n].kind), "%s", kind ? kind : "");
                list[n].signature = strdup(sig ? sig : "");
                if (!list[n].signature) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        if (r == 0 && rc != SQLITE_DONE)
                r = -EIO;
        sqlite3_finalize(st);
        *ret = list;
        *n_ret = n;
        return r;
}

static void free_checkpoints(struct checkpoint *list, size_t n) {
        for (size_t k = 0; k < n; k++)
                free(list[k].signature);
        free(list);
}

/* Check checkpoint cp against the chain's hash at its seq (NULL: the
 * chain has no such row). */
static void check_checkpoint(struct audit_verify_result *v, EVP_PKEY *pub, const struct checkpoint *cp,
                             const char *chain_hash, const char *what) {
        if (audit_checkpoint_verify(pub, cp->seq, cp->hash, cp->time_usec, cp->kind, cp->signature) < 0) {
                fail(v, cp->seq, "%s at seq %" PRId64 " (%s): the signature does not verify with this key", what,
                     cp->seq, cp->kind);
                return;
        }
        if (!chain_hash) {
                fail(v, cp->seq, "%s at seq %" PRId64 " signs an event the table does not hold", what, cp->seq);
                return;
        }
        if (!streq(chain_hash, cp->hash)) {
                fail(v, cp->seq, "%s at seq %" PRId64 " signs hash %.16s..., the chain has %.16s...", what, cp->seq,
                     cp->hash, chain_hash);
                return;
        }
        v->n_checkpoints++;
        if (cp->seq > v->last_signed_seq)
                v->last_signed_seq = cp->seq;
}

/* "file:PATH?query" with PATH's %, ? and # escaped (RFC 3986). */
static int file_uri(const char *path, const char *query, char *buf, size_t size) {
        const char *p = path;
        size_t o = (size_t) snprintf(buf, size, "file:");

        for (; *p && o + 4 < size; p++)
                o += (size_t) (*p == '%' || *p == '?' || *p == '#' ? snprintf(buf + o, size - o, "%%%02X", *p)
                                                                     : snprintf(buf + o, size - o, "%c", *p));
        if (*p || o + strlen(query) + 2 >= size)
                return -ENAMETOOLONG;
        snprintf(buf + o, size - o, "?%s", query);
        return 0;
}

int audit_verify_db(const char *db_path, EVP_PKEY *pub, const struct audit_published_checkpoint *extra,
                    struct audit_verify_result *v) {
        char uri[4200], prev[AUDIT_HASH_HEX] = AUDIT_GENESIS_HEX, hash[AUDIT_HASH_HEX];
        struct checkpoint *cps = NULL, extra_cp = {};
        size_t n_cps = 0, next_cp = 0;
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        int64_t expect;
        bool wal;
        int rc, r;

        *v = (struct audit_verify_result) { .ok = true };
        /* Read-only, and never creating -wal/-shm beside a copy: an
         * evidence file is not to be changed by checking it. A database
         * with a write-ahead log beside it (the live one) is read through
         * the log, which needs its -shm; a lone file is opened immutable. */
        if (snprintf(uri, sizeof(uri), "%s-wal", db_path) >= (int) sizeof(uri))
                return -ENAMETOOLONG;
        wal = access(uri, F_OK) == 0;
        r = file_uri(db_path, wal ? "mode=ro" : "immutable=1", uri, sizeof(uri));
        if (r < 0)
                return r;
        rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
        if (rc != SQLITE_OK) {
                sqlite3_close(db);
                return -EIO;
        }
        r = load_checkpoints(db, &cps, &n_cps);
        if (r < 0) {
                snprintf(v->why, sizeof(v->why), "cannot read the checkpoints: %s", sqlite3_errmsg(db));
                v->ok = false;
                goto out;
        }
        /* The latest cut (retention, agentctl audit prune) is where the
         * chain starts: rows at or before it are gone by design. Its
         * signature is what vouches for its hash. */
        for (size_t k = 0; k < n_cps; k++)
                if (streq(cps[k].kind, "cut") && cps[k].seq > v->start_seq)
                        v->start_seq = cps[k].seq;
        for (size_t k = 0; k < n_cps; k++)
                if (streq(cps[k].kind, "cut") && cps[k].seq == v->start_seq) {
                        if (audit_checkpoint_verify(pub, cps[k].seq, cps[k].hash, cps[k].time_usec, "cut",
                                                    cps[k].signature) < 0) {
                                fail(v, cps[k].seq, "the retention cut at seq %" PRId64 " is not signed by this key",
                                     cps[k].seq);
                                goto out;
                        }
                        snprintf(prev, sizeof(prev), "%s", cps[k].hash);
                        v->n_checkpoints++;
                        v->last_signed_seq = cps[k].seq;
                        break;
                }
        while (next_cp < n_cps && cps[next_cp].seq <= v->start_seq)
                next_cp++;
        if (extra) {
                extra_cp = (struct checkpoint) { .seq = extra->seq, .time_usec = extra->time_usec };
                snprintf(extra_cp.hash, sizeof(extra_cp.hash), "%s", extra->hash);
                snprintf(extra_cp.kind, sizeof(extra_cp.kind), "%s", extra->kind);
                extra_cp.signature = (char *) extra->signature;
        }

        if (sqlite3_prepare_v2(db,
                               "SELECT seq, time_usec, event, agent, uid, owner_uid, template, reason, caller_uid, "
                               "caller_pid, detail, prev_hash, hash FROM events WHERE seq > ?1 ORDER BY seq",
                               -1, &st, NULL) != SQLITE_OK) {
                v->ok = false;
                snprintf(v->why, sizeof(v->why), "not an agentid database with a chained event table: %s",
                         sqlite3_errmsg(db));
                goto out;
        }
        sqlite3_bind_int64(st, 1, v->start_seq);
        expect = v->start_seq + 1;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct audit_row row = {
                        .seq = sqlite3_column_int64(st, 0),
                        .time_usec = sqlite3_column_int64(st, 1),
                        .event = col_text(st, 2),
                        .agent = col_text(st, 3),
                        .template_name = col_text(st, 6),
                        .reason = col_text(st, 7),
                        .detail = col_text(st, 10),
                };
                const char *stored_prev = col_text(st, 11), *stored = col_text(st, 12);

                row.has_uid = col_int(st, 4, &row.uid);
                row.has_owner_uid = col_int(st, 5, &row.owner_uid);
                row.has_caller_uid = col_int(st, 8, &row.caller_uid);
                row.has_caller_pid = col_int(st, 9, &row.caller_pid);
                if (v->n_events == 0)
                        v->first_seq = row.seq;
                if (row.seq != expect) {
                        fail(v, expect, "seq %" PRId64 " is missing (the next row is seq %" PRId64 ")", expect,
                             row.seq);
                        break;
                }
                if (!stored_prev || !streq(stored_prev, prev)) {
                        fail(v, row.seq, "seq %" PRId64 ": its previous hash does not match the hash of seq %" PRId64,
                             row.seq, row.seq - 1);
                        break;
                }
                if (audit_chain_hash(&row, prev, hash) < 0 || !stored || !streq(stored, hash)) {
                        fail(v, row.seq, "seq %" PRId64 ": its content does not match its hash (changed after it was "
                             "recorded)", row.seq);
                        break;
                }
                for (; next_cp < n_cps && cps[next_cp].seq == row.seq; next_cp++) {
                        check_checkpoint(v, pub, &cps[next_cp], hash, "checkpoint");
                        if (!v->ok)
                                break;
                }
                if (!v->ok)
                        break;
                if (extra && extra_cp.seq == row.seq)
                        check_checkpoint(v, pub, &extra_cp, hash, "the published checkpoint");
                if (!v->ok)
                        break;
                snprintf(prev, sizeof(prev), "%s", hash);
                v->last_seq = row.seq;
                v->n_events++;
                expect = row.seq + 1;
        }
        if (v->ok && rc != SQLITE_DONE) {
                fail(v, expect, "reading the event table failed: %s", sqlite3_errmsg(db));
                goto out;
        }
        if (!v->ok)
                goto out;
        /* Signed checkpoints beyond the last row: the tail was cut off. */
        if (next_cp < n_cps) {
                fail(v, expect, "seq %" PRId64 " is missing: checkpoint %s at seq %" PRId64 " was signed after it",
                     expect, cps[next_cp].kind, cps[next_cp].seq);
                goto out;
        }
        if (extra && extra_cp.seq > v->last_seq) {
                fail(v, expect, "seq %" PRId64 " is missing: the published checkpoint at seq %" PRId64
                     " was signed after it", expect, extra_cp.seq);
                goto out;
        }
        if (v->n_events > 0 && v->n_checkpoints == 0)
                fail(v, v->first_seq, "no signed checkpoint covers the chain: it proves nothing on its own");
out:
        sqlite3_finalize(st);
        sqlite3_close(db);
        free_checkpoints(cps, n_cps);
        return 0;
}
