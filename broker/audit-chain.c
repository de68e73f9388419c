/* SPDX-License-Identifier: MIT */
#include "audit-chain.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit-hash.h"
#include "base64url.h"
#include "broker.h"
#include "duration.h"
#include "events.h"
#include "key-file.h"
#include "log.h"
#include "macro.h"
#include "sql.h"

/* Write text to path atomically (tmp + rename) with mode. */
static int write_file_atomic(const char *path, const char *text, mode_t mode, bool durable) {
        char tmp[AGENTID_PATH_MAX * 2 + 8];
        size_t len = strlen(text);
        ssize_t w;
        int fd, r = 0;

        if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int) sizeof(tmp))
                return -ENAMETOOLONG;
        (void) unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, mode) < 0)
                r = -errno;
        w = r == 0 ? write(fd, text, len) : -1;
        if (r == 0 && w != (ssize_t) len)
                r = w < 0 ? -errno : -EIO;
        if (r == 0 && durable && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

static int load_key(const char *path, EVP_PKEY **ret) {
        int r = ed25519_private_key_load(path, ret);

        if (r == -EBADMSG)
                log_error("%s: not an Ed25519 private key", path);
        return r;
}

static int create_key(const char *path, EVP_PKEY **ret) {
        EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        BIO *bio = BIO_new(BIO_s_mem());
        char *pem = NULL;
        long len;
        int r = 0;

        if (!key || !bio || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
                r = -EIO;
        if (r == 0) {
                char *data;
                len = BIO_get_mem_data(bio, &data);
                pem = len > 0 ? strndup(data, (size_t) len) : NULL;
                if (!pem)
                        r = -ENOMEM;
        }
        if (r == 0)
                r = write_file_atomic(path, pem, 0600, true);
        if (pem) {
                OPENSSL_cleanse(pem, strlen(pem));
                free(pem);
        }
        BIO_free(bio);
        if (r < 0) {
                EVP_PKEY_free(key);
                return r;
        }
        *ret = key;
        return 0;
}

static int publish_public(EVP_PKEY *key, const char *path) {
        BIO *bio = BIO_new(BIO_s_mem());
        _cleanup_free_ char *pem = NULL;
        char *data;
        long len;

        if (!bio || PEM_write_bio_PUBKEY(bio, key) != 1) {
                BIO_free(bio);
                return -EIO;
        }
        len = BIO_get_mem_data(bio, &data);
        pem = len > 0 ? strndup(data, (size_t) len) : NULL;
        BIO_free(bio);
        if (!pem)
                return -ENOMEM;
        /* World-readable: anyone may verify the audit trail with it. */
        return write_file_atomic(path, pem, 0644, false);
}

static int last_checkpoint_seq(struct broker *b, int64_t *ret) {
        sqlite3_stmt *st = NULL;
        int r = -EIO;

        if (sqlite3_prepare_v2(store_sqlite(b->store), "SELECT coalesce(max(seq), 0) FROM audit_checkpoints", -1, &st,
                               NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
                *ret = sqlite3_column_int64(st, 0);
                r = 0;
        }
        sqlite3_finalize(st);
        return r;
}

int audit_signer_open(struct broker *b) {
        struct audit_signer *s = &b->audit_signer;
        char path[AGENTID_PATH_MAX * 2];
        bool created = false;
        int r;

        snprintf(path, sizeof(path), "%s/audit-key.pem", b->state_dir);
        r = load_key(path, &s->key);
        if (r == -ENOENT) {
                r = create_key(path, &s->key);
                created = r == 0;
        }
        if (r < 0) {
                log_error("audit key %s: %s", path, strerror(-r));
                return r;
        }
        r = audit_key_id(s->key, s->key_id);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "%s/audit-key.pub", b->runtime_dir);
        r = publish_public(s->key, path);
        if (r < 0) {
                log_error("publishing %s: %s", path, strerror(-r));
                return r;
        }
        snprintf(s->checkpoint_path, sizeof(s->checkpoint_path), "%s/audit-checkpoint.json", b->runtime_dir);
        if (created) {
                char detail[AGENTID_PATH_MAX + 96];
                struct event e = event_for(EVENT_AUDIT_KEY, NULL, NULL, detail);
                snprintf(detail, sizeof(detail), "key %s created; its public half is %s/audit-key.pub", s->key_id,
                         b->runtime_dir);
                e.caller_pid = getpid();
                r = broker_record_event(b, &e);
                if (r < 0)
                        return r;
        }
        s->last_signed_usec = now_usec();
        return last_checkpoint_seq(b, &s->last_signed_seq);
}

void audit_signer_close(struct audit_signer *s) {
        EVP_PKEY_free(s->key);
        s->key = NULL;
}

static int sign(EVP_PKEY *key, const char *msg, size_t len, char *out, size_t size) {
        uint8_t sig[64];
        size_t sig_len = sizeof(sig);
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        int r;

        if (!md)
                return -ENOMEM;
        r = EVP_DigestSignInit(md, NULL, NULL, NULL, key) == 1 &&
                            EVP_DigestSign(md, sig, &sig_len, (const uint8_t *) msg, len) == 1 && sig_len == 64
                    ? 0
                    : -EIO;
        EVP_MD_CTX_free(md);
        if (r == 0 && base64url_encode(sig, sig_len, out, size) < 0)
                r = -ENOBUFS;
        return r;
}

static int insert_checkpoint(struct broker *b, int64_t seq, const char *hash, uint64_t time_usec, const char *kind) {
        struct audit_signer *s = &b->audit_signer;
        sqlite3 *db = store_sqlite(b->store);
        sqlite3_stmt *st = NULL;
        char msg[256], sig[96];
        int n, rc, r;

        n = audit_checkpoint_message(seq, hash, (int64_t) time_usec, kind, msg, sizeof(msg));
        if (n < 0)
                return n;
        r = sign(s->key, msg, (size_t) n, sig, sizeof(sig));
        if (r < 0)
                return r;
        if (sqlite3_prepare_v2(db,
                               "INSERT INTO audit_checkpoints (seq, hash, time_usec, kind, key_id, signature) "
                               "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                               -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (int64_t) time_usec);
        sqlite3_bind_text(st, 4, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, s->key_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, sig, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
                log_error("audit: recording the %s checkpoint at seq %" PRId64 ": %s", kind, seq, store_error(b->store));
                return sql_errno(rc);
        }
        s->last_signed_seq = seq;
        s->last_signed_usec = now_usec();
        s->pending_seq = seq;
        s->pending_time = (int64_t) time_usec;
        snprintf(s->pending_hash, sizeof(s->pending_hash), "%s", hash);
        snprintf(s->pending_kind, sizeof(s->pending_kind), "%s", kind);
        snprintf(s->pending_sig, sizeof(s->pending_sig), "%s", sig);
        s->publish_pending = true;
        return 1;
}

int audit_signer_checkpoint(struct broker *b, const char *kind) {
        char hash[AUDIT_HASH_HEX];
        int64_t seq;
        int r;

        if (!b->audit_signer.key)
                return 0;
        r = store_last_event(b->store, &seq, hash);
        if (r < 0)
                return r;
        if (seq == 0 || seq == b->audit_signer.last_signed_seq)
                return 0;
        return insert_checkpoint(b, seq, hash, now_usec(), kind);
}

int audit_signer_cut(struct broker *b, int64_t seq, const char *hash, uint64_t *time_usec) {
        *time_usec = now_usec();
        return insert_checkpoint(b, seq, hash, *time_usec, "cut");
}

void audit_signer_publish(struct broker *b) {
        struct audit_signer *s = &b->audit_signer;
        _cleanup_free_ char *text = NULL;
        json_t *o;
        int r;

        if (!s->publish_pending)
                return;
        o = json_pack("{s:I, s:s, s:I, s:s, s:s, s:s}", "seq", (json_int_t) s->pending_seq, "hash", s->pending_hash,
                      "time_usec", (json_int_t) s->pending_time, "kind", s->pending_kind, "key_id", s->key_id,
                      "signature", s->pending_sig);
        text = o ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        json_decref(o);
        if (!text)
                return;
        r = write_file_atomic(s->checkpoint_path, text, 0644, false);
        if (r < 0)
                log_warning("publishing %s: %s", s->checkpoint_path, strerror(-r));
        else
                s->publish_pending = false;
}

void audit_signer_housekeeping(struct broker *b) {
        struct audit_signer *s = &b->audit_signer;
        _cleanup_savepoint_ struct savepoint sp = {};
        int r;

        if (now_usec() - s->last_signed_usec < b->config.audit_checkpoint_interval_usec)
                return;
        r = savepoint_begin(&sp, b->store);
        if (r == 0)
                r = audit_signer_checkpoint(b, "periodic");
        r = savepoint_end(&sp, r);
        if (r < 0) {
                log_error("audit: signing a checkpoint failed: %s; retrying at the next tick", strerror(-r));
                s->publish_pending = false;
                return;
        }
        s->last_signed_usec = now_usec();
}

int audit_signer_shutdown(struct broker *b) {
        _cleanup_savepoint_ struct savepoint sp = {};
        int r;

        if (!b->audit_signer.key)
                return 0;
        r = savepoint_begin(&sp, b->store);
        if (r == 0)
                r = audit_signer_checkpoint(b, "shutdown");
        r = savepoint_end(&sp, r);
        if (r < 0) {
                log_error("audit: signing the shutdown checkpoint failed: %s", strerror(-r));
                return r;
        }
        audit_signer_publish(b);
        return 0;
}
