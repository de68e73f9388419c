/* SPDX-License-Identifier: MIT */
#include "keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64url.h"
#include "broker.h"
#include "discovery.h"
#include "events.h"
#include "duration.h"
#include "jwt.h"
#include "key-file.h"
#include "log.h"
#include "macro.h"
#include "store-creds.h"

#define ED25519_KEY_LEN 32

static void free_keys(struct keyring *k) {
        for (size_t i = 0; i < k->n; i++)
                EVP_PKEY_free(k->keys[i].pub);
        free(k->keys);
        k->keys = NULL;
        k->n = 0;
}

void keyring_close(struct keyring *k) {
        free_keys(k);
        EVP_PKEY_free(k->signer);
        k->signer = NULL;
}

const struct signing_key *keyring_current(const struct keyring *k) {
        for (size_t i = 0; i < k->n; i++)
                if (k->keys[i].retired_usec == 0 && !k->keys[i].next)
                        return &k->keys[i];
        return NULL;
}

const struct signing_key *keyring_next(const struct keyring *k) {
        for (size_t i = 0; i < k->n; i++)
                if (k->keys[i].retired_usec == 0 && k->keys[i].next)
                        return &k->keys[i];
        return NULL;
}

/* Current and next keys; retired ones while a token they signed may still
 * be presented. */
static bool is_published(const struct keyring *k, const struct signing_key *key, uint64_t now) {
        return key->retired_usec == 0 || key->max_exp_usec + k->leeway_usec >= now;
}

EVP_PKEY *keyring_lookup(void *userdata, const char *kid) {
        struct keyring *k = userdata;
        uint64_t now = now_usec();

        /* The next key has signed nothing yet: a token under it is forged. */
        for (size_t i = 0; i < k->n; i++)
                if (streq(k->keys[i].kid, kid))
                        return !k->keys[i].next && is_published(k, &k->keys[i], now) ? k->keys[i].pub : NULL;
        return NULL;
}

json_t *keyring_jwks(const struct keyring *k, uint64_t now) {
        json_t *keys = json_array();

        for (size_t i = 0; keys && i < k->n; i++) {
                if (!is_published(k, &k->keys[i], now))
                        continue;
                if (json_array_append_new(keys, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv",
                                                          "Ed25519", "x", k->keys[i].x, "kid", k->keys[i].kid, "use",
                                                          "sig", "alg", AGENTID_JWT_ALG)) < 0) {
                        json_decref(keys);
                        return NULL;
                }
        }
        return keys ? json_pack("{s:o}", "keys", keys) : NULL;
}

void keyring_note_exp(struct keyring *k, const char *kid, uint64_t exp_usec) {
        for (size_t i = 0; i < k->n; i++)
                if (streq(k->keys[i].kid, kid) && k->keys[i].max_exp_usec < exp_usec)
                        k->keys[i].max_exp_usec = exp_usec;
}

static int public_x(EVP_PKEY *key, char *x, size_t size) {
        uint8_t raw[ED25519_KEY_LEN];
        size_t len = sizeof(raw);

        if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1 || len != sizeof(raw))
                return -EIO;
        return base64url_encode(raw, len, x, size) < 0 ? -ENOBUFS : 0;
}

static int add_row(void *userdata, const struct signing_key_row *row) {
        struct keyring *k = userdata;
        uint8_t raw[ED25519_KEY_LEN + 2];
        struct signing_key *nk, *key;

        nk = realloc(k->keys, (k->n + 1) * sizeof(*nk));
        if (!nk)
                return -ENOMEM;
        k->keys = nk;
        key = &k->keys[k->n];
        *key = (struct signing_key) {
                .created_usec = row->created_usec,
                .retired_usec = row->retired_usec,
                .max_exp_usec = row->max_exp_usec,
                .next = row->next,
                .activates_usec = row->activates_usec,
        };
        snprintf(key->kid, sizeof(key->kid), "%s", row->kid);
        snprintf(key->x, sizeof(key->x), "%s", row->x);
        if (base64url_decode(row->x, strlen(row->x), raw, sizeof(raw)) != ED25519_KEY_LEN ||
            !(key->pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, ED25519_KEY_LEN))) {
                log_error("signing key %s in the store has an invalid public key", row->kid);
                return -EINVAL;
        }
        k->n++;
        return 0;
}

static int reload(struct broker *b) {
        free_keys(&b->keys);
        return creds_keys_list(b->creds, add_row, &b->keys);
}

static void key_path(const struct keyring *k, const char *kid, const char *suffix, char *buf, size_t size) {
        snprintf(buf, size, "%s/%s.pem%s", k->dir, kid, suffix);
}

static int fsync_dir(const char *dir) {
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 || fsync(fd) < 0 ? -errno : 0;
}

/* Write the private key durably, readable by the broker's user alone. */
static int write_private(const struct keyring *k, EVP_PKEY *key, const char *kid) {
        char tmp[AGENTID_PATH_MAX * 2], path[AGENTID_PATH_MAX * 2];
        FILE *f;
        int fd, r = 0;

        key_path(k, kid, ".tmp", tmp, sizeof(tmp));
        key_path(k, kid, "", path, sizeof(path));
        (void) unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        f = fdopen(fd, "w");
        if (!f) {
                r = -errno;
                close(fd);
                goto out;
        }
        if (PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1)
                r = -EIO;
        if (fflush(f) != 0 || fsync(fileno(f)) < 0)
                r = r ?: -errno;
        if (fclose(f) != 0)
                r = r ?: -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r == 0)
                r = fsync_dir(k->dir);
out:
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

/* Load a key's private half and check it is the key the store publishes,
 * and that nobody else can read it. */
static int load_private(const struct keyring *k, const struct signing_key *cur, EVP_PKEY **ret) {
        char path[AGENTID_PATH_MAX * 2], x[64];
        EVP_PKEY *key = NULL;
        int r;

        key_path(k, cur->kid, "", path, sizeof(path));
        r = ed25519_private_key_load(path, &key);
        if (r == -EBADMSG || (r == 0 && (public_x(key, x, sizeof(x)) < 0 || !streq(x, cur->x)))) {
                EVP_PKEY_free(key);
                log_error("%s: not the Ed25519 key %s the store publishes", path, cur->kid);
                return -EBADMSG;
        }
        if (r < 0)
                return r;
        *ret = key;
        return 0;
}

/* Private keys other than the current and next one never sign again:
 * remove any left by a rotation that crashed before removing them. */
static void remove_stale_private(const struct keyring *k) {
        const struct signing_key *cur = keyring_current(k), *next = keyring_next(k);
        char keep[AGENTID_KID_MAX + 8], keep_next[AGENTID_KID_MAX + 8];
        DIR *d = opendir(k->dir);
        struct dirent *de;

        if (!d)
                return;
        snprintf(keep, sizeof(keep), "%s.pem", cur ? cur->kid : "");
        snprintf(keep_next, sizeof(keep_next), "%s.pem", next ? next->kid : "");
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && !streq(de->d_name, keep) && !streq(de->d_name, keep_next) &&
                    unlinkat(dirfd(d), de->d_name, 0) == 0)
                        log_info("removed stale private key file %s/%s", k->dir, de->d_name);
        closedir(d);
}

static int publish(struct keyring *k, uint64_t now) {
        _cleanup_free_ char *text = NULL;
        json_t *jwks = keyring_jwks(k, now);
        size_t n = json_array_size(json_object_get(jwks, "keys"));
        int r;

        text = jwks ? json_dumps(jwks, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        json_decref(jwks);
        if (!text)
                return -ENOMEM;
        /* World-readable: anyone on the host may verify tokens offline. */
        r = public_file_write(k->jwks_path, text);
        if (r == 0)
                k->n_published = n;
        return r;
}

static int generate(EVP_PKEY **ret, char *x, size_t x_size, char *kid, size_t kid_size) {
        EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        int r;

        if (!key)
                return -EIO;
        r = public_x(key, x, x_size);
        if (r == 0)
                r = jwk_thumbprint(x, kid, kid_size);
        if (r < 0) {
                EVP_PKEY_free(key);
                return r;
        }
        *ret = key;
        return 0;
}

/* A "rotate" event by c (NULL: the broker itself), stamped now. */
static struct event rotate_event(const struct caller *c, uint64_t now, const char *detail) {
        struct event e = event_for(EVENT_ROTATE, NULL, c, detail);

        e.time_usec = now;
        return e;
}

/* A new key: its private file first, so that a crash after it leaves an
 * unused file (removed at start), never a key without its private half. */
static int new_key(struct keyring *k, uint64_t now, struct signing_key_row *row, EVP_PKEY **ret) {
        int r = generate(ret, row->x, sizeof(row->x), row->kid, sizeof(row->kid));

        if (r < 0)
                return r;
        row->created_usec = now;
        r = write_private(k, *ret, row->kid);
        if (r < 0) {
                log_error("writing a new signing key to %s: %s", k->dir, strerror(-r));
                EVP_PKEY_free(*ret);
                *ret = NULL;
        }
        return r;
}

static void remove_private(const struct keyring *k, const char *kid) {
        char path[AGENTID_PATH_MAX * 2];

        key_path(k, kid, "", path, sizeof(path));
        if (unlink(path) < 0 && errno != ENOENT)
                log_warning("could not remove the private key %s: %m", path);
}

/* After a committed change: the keyring as the store has it, and the JWKS
 * file to match. */
static int reload_and_publish(struct broker *b, uint64_t now) {
        int r = reload(b);

        if (r < 0)
                return r;
        (void) publish(&b->keys, now);
        return 0;
}

/* Publish a next key that signs from activates on. */
static int prepare_next(struct broker *b, const struct caller *c, uint64_t activates, char *new_kid) {
        struct keyring *k = &b->keys;
        struct signing_key_row row = { .next = true, .activates_usec = activates };
        char detail[256], at[RFC3339_MAX];
        uint64_t now = now_usec();
        EVP_PKEY *key = NULL;
        _cleanup_savepoint_ struct savepoint sp = {};
        struct event e;
        int r;

        r = new_key(k, now, &row, &key);
        if (r < 0)
                return r;
        EVP_PKEY_free(key); /* read back from its file when it is due */
        snprintf(detail, sizeof(detail), "next signing key %s published; it signs from %s", row.kid,
                 rfc3339_format(activates, at, sizeof(at)));
        e = rotate_event(c, now, detail);
        r = savepoint_begin(&sp, b->store);
        if (r == 0 && (r = creds_key_insert(b->creds, &row)) == 0)
                r = audit_record(&b->audit, &e);
        r = savepoint_end(&sp, r);
        if (r < 0) {
                remove_private(k, row.kid);
                return r;
        }
        snprintf(new_kid, AGENTID_KID_MAX + 1, "%s", row.kid);
        log_info("%s", detail);
        return reload_and_publish(b, now);
}

/* The next key's private file is gone (a restore without it, say): it
 * never signs. The schedule (or rotate-keys) publishes another. */
static int discard_next(struct broker *b, const char *kid) {
        char detail[256];
        uint64_t now = now_usec();
        _cleanup_savepoint_ struct savepoint sp = {};
        struct event e;
        int r;

        snprintf(detail, sizeof(detail), "next signing key %s discarded: its private half is missing", kid);
        log_warning("%s", detail);
        e = rotate_event(NULL, now, detail);
        r = savepoint_begin(&sp, b->store);
        if (r == 0 && (r = creds_key_discard_next(b->creds, now)) == 0)
                r = audit_record(&b->audit, &e);
        r = savepoint_end(&sp, r);
        if (r < 0)
                return r;
        return reload_and_publish(b, now);
}

/* The next key's time has come: it signs from now on, the current key is
 * retired (its public half stays published while its tokens are valid). */
static int activate_next(struct broker *b) {
        struct keyring *k = &b->keys;
        const struct signing_key *cur = keyring_current(k), *next = keyring_next(k);
        char detail[256], old_kid[AGENTID_KID_MAX + 1] = "", kid[AGENTID_KID_MAX + 1];
        uint64_t now = now_usec();
        EVP_PKEY *key = NULL;
        _cleanup_savepoint_ struct savepoint sp = {};
        struct event e;
        int r;

        if (!next)
                return -ENOENT;
        snprintf(kid, sizeof(kid), "%s", next->kid);
        if (cur)
                snprintf(old_kid, sizeof(old_kid), "%s", cur->kid);
        r = load_private(k, next, &key);
        if (r == -ENOENT)
                return discard_next(b, kid);
        if (r < 0) {
                log_error("next signing key %s: its private half cannot be used: %s", kid, strerror(-r));
                return r;
        }
        if (old_kid[0])
                snprintf(detail, sizeof(detail), "signing key %s signs from now on; %s retired", kid, old_kid);
        else
                snprintf(detail, sizeof(detail), "signing key %s signs from now on", kid);
        e = rotate_event(NULL, now, detail);
        r = savepoint_begin(&sp, b->store);
        if (r == 0 && (r = creds_key_retire_current(b->creds, now)) == 0 &&
            (r = creds_key_activate_next(b->creds, now)) == 0)
                r = audit_record(&b->audit, &e);
        r = savepoint_end(&sp, r);
        if (r < 0) {
                EVP_PKEY_free(key);
                return r;
        }
        EVP_PKEY_free(k->signer);
        k->signer = key;
        /* The retired private key never signs again. */
        if (old_kid[0])
                remove_private(k, old_kid);
        log_info("%s", detail);
        return reload_and_publish(b, now);
}

/* Replace the current key at once (first start, lost key, compromise). */
static int rotate_now(struct broker *b, const struct caller *c, char *old_kid, char *new_kid) {
        struct keyring *k = &b->keys;
        const struct signing_key *cur = keyring_current(k);
        struct signing_key_row row = {};
        char detail[256];
        EVP_PKEY *key = NULL;
        uint64_t now = now_usec();
        _cleanup_savepoint_ struct savepoint sp = {};
        struct event e;
        int r;

        if (cur)
                snprintf(old_kid, AGENTID_KID_MAX + 1, "%s", cur->kid);
        row.activates_usec = now;
        r = new_key(k, now, &row, &key);
        if (r < 0)
                return r;
        if (old_kid[0])
                snprintf(detail, sizeof(detail), "new signing key %s signs at once; %s retired", row.kid, old_kid);
        else
                snprintf(detail, sizeof(detail), "new signing key %s", row.kid);
        e = rotate_event(c, now, detail);
        r = savepoint_begin(&sp, b->store);
        if (r == 0 && (r = creds_key_retire_current(b->creds, now)) == 0 &&
            (r = creds_key_insert(b->creds, &row)) == 0)
                r = audit_record(&b->audit, &e);
        r = savepoint_end(&sp, r);
        if (r < 0) {
                remove_private(k, row.kid);
                EVP_PKEY_free(key);
                return r;
        }
        EVP_PKEY_free(k->signer);
        k->signer = key;
        snprintf(new_kid, AGENTID_KID_MAX + 1, "%s", row.kid);
        /* The retired private key never signs again. */
        if (old_kid[0])
                remove_private(k, old_kid);
        return reload_and_publish(b, now);
}

int keyring_rotate(struct broker *b, const struct caller *c, bool now, char *old_kid, char *new_kid,
                   uint64_t *ret_activates_usec) {
        const struct signing_key *cur = keyring_current(&b->keys), *next = keyring_next(&b->keys);
        uint64_t activates = now_usec() + b->keys.publish_ahead_usec;
        int r;

        old_kid[0] = new_kid[0] = '\0';
        *ret_activates_usec = 0;
        if (now) {
                r = rotate_now(b, c, old_kid, new_kid);
                if (r == 0)
                        *ret_activates_usec = now_usec();
                return r;
        }
        if (cur)
                snprintf(old_kid, AGENTID_KID_MAX + 1, "%s", cur->kid);
        if (next) {
                snprintf(new_kid, AGENTID_KID_MAX + 1, "%s", next->kid);
                *ret_activates_usec = next->activates_usec;
                return -EEXIST;
        }
        r = prepare_next(b, c, activates, new_kid);
        if (r == 0)
                *ret_activates_usec = activates;
        return r;
}

static int make_private_dir(const char *path) {
        struct stat st;

        if (mkdir(path, 0700) < 0 && errno != EEXIST)
                return -errno;
        if (lstat(path, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
                return -EPERM;
        return chmod(path, 0700) < 0 ? -errno : 0;
}

int keyring_open(struct broker *b) {
        struct keyring *k = &b->keys;
        char old_kid[AGENTID_KID_MAX + 1] = "", new_kid[AGENTID_KID_MAX + 1];
        const struct signing_key *cur;
        EVP_PKEY *key = NULL;
        int r;

        k->leeway_usec = b->config.token_leeway_usec;
        k->publish_ahead_usec = b->config.key_publish_ahead_usec;
        k->rotation_interval_usec = b->config.key_rotation_interval_usec;
        snprintf(k->dir, sizeof(k->dir), "%s/keys", b->state_dir);
        snprintf(k->jwks_path, sizeof(k->jwks_path), "%s/" AGENTID_JWKS_FILE, b->runtime_dir);
        r = make_private_dir(k->dir);
        if (r < 0) {
                log_error("%s: %s (must be a directory owned by the broker's user)", k->dir, strerror(-r));
                return r;
        }
        r = reload(b);
        if (r < 0)
                return r;
        cur = keyring_current(k);
        if (cur) {
                r = load_private(k, cur, &key);
                if (r == 0) {
                        EVP_PKEY_free(k->signer);
                        k->signer = key;
                } else if (r == -ENOENT) {
                        /* Lost (restored from a backup without it, say): its
                         * tokens still verify by the public half; sign with a
                         * new key from now on. */
                        log_warning("the private half of signing key %s is missing; rotating", cur->kid);
                        cur = NULL;
                } else if (r < 0) {
                        log_error("signing key %s: %s", cur->kid, strerror(-r));
                        return r;
                }
        }
        if (!cur) {
                r = rotate_now(b, NULL, old_kid, new_kid);
                if (r < 0) {
                        log_error("creating a signing key: %s", strerror(-r));
                        return r;
                }
                log_info("new signing key %s", new_kid);
        }
        remove_stale_private(k);
        return publish(k, now_usec());
}

/* The rollover timeline: the next key starts signing when due; a next key
 * is published key_publish_ahead before the current one has served its
 * rotation interval. A failure is retried a minute later, not every tick. */
static void rollover(struct broker *b, uint64_t now) {
        struct keyring *k = &b->keys;
        const struct signing_key *cur = keyring_current(k), *next = keyring_next(k);
        char kid[AGENTID_KID_MAX + 1];
        uint64_t due;
        int r = 0;

        if (now < k->retry_usec)
                return;
        if (next && next->activates_usec <= now)
                r = activate_next(b);
        else if (!next && cur && k->rotation_interval_usec) {
                due = (cur->activates_usec ?: cur->created_usec) + k->rotation_interval_usec;
                if (now + k->publish_ahead_usec >= due)
                        r = prepare_next(b, NULL, due > now + k->publish_ahead_usec ? due : now + k->publish_ahead_usec,
                                         kid);
        }
        if (r < 0) {
                log_error("key rollover failed, retrying in a minute: %s", strerror(-r));
                k->retry_usec = now + UINT64_C(60) * 1000000;
        }
}

void keyring_housekeeping(struct broker *b) {
        struct keyring *k = &b->keys;
        uint64_t now = now_usec(), before = now > k->leeway_usec ? now - k->leeway_usec : 0;
        size_t n = 0;

        /* A row is useless once its token could not pass the exp check.
         * Twice a minute is plenty: rows are small. */
        if (now - k->last_prune_usec >= UINT64_C(30) * 1000000) {
                k->last_prune_usec = now;
                (void) creds_tokens_prune(b->creds, before);
        }
        rollover(b, now);
        for (size_t i = 0; i < k->n; i++)
                n += is_published(k, &k->keys[i], now);
        if (n != k->n_published)
                (void) publish(k, now);
}
