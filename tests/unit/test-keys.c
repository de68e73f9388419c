/* SPDX-License-Identifier: MIT */
/* The signing keys (broker/keys.c): the first key at first start, its
 * files and modes, the JWKS document, rotation, retired keys published
 * while tokens they signed may still be presented, and refusal to start
 * on private keys anybody could have read or swapped. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "broker-fixture.h"
#include "duration.h"
#include "jwt.h"
#include "keys.h"

#define SEC UINT64_C(1000000)

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        assert_int_equal(fixture_open(f, NULL, 0), 0);
        assert_int_equal(keyring_open(&f->b), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_close(*state);
        free(*state);
        return 0;
}

static void reopen_keyring(struct fixture *f) {
        keyring_close(&f->b.keys);
        memset(&f->b.keys, 0, sizeof(f->b.keys));
}

static void private_path(const struct fixture *f, const char *kid, char *buf, size_t size) {
        snprintf(buf, size, "%s/keys/%s.pem", f->state_dir, kid);
}

static json_t *read_jwks_file(const struct fixture *f) {
        char path[160];
        struct stat st;
        json_t *j;

        snprintf(path, sizeof(path), "%s/jwks.json", f->runtime_dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644); /* anyone may verify offline */
        j = json_load_file(path, 0, NULL);
        assert_non_null(j);
        return j;
}

static const char *jwks_kid(json_t *jwks, size_t k) {
        return json_string_value(json_object_get(json_array_get(json_object_get(jwks, "keys"), k), "kid"));
}

static void test_first_start(void **state) {
        struct fixture *f = *state;
        const struct signing_key *cur = keyring_current(&f->b.keys);
        char path[256], thumb[AGENTID_KID_MAX + 1], detail[256];
        json_t *jwks, *key;
        struct stat st;

        assert_non_null(cur);
        assert_int_equal(f->b.keys.n, 1);
        assert_int_equal(cur->retired_usec, 0);
        /* The kid is the RFC 7638 thumbprint of the public key. */
        assert_int_equal(jwk_thumbprint(cur->x, thumb, sizeof(thumb)), 0);
        assert_string_equal(cur->kid, thumb);

        snprintf(path, sizeof(path), "%s/keys", f->state_dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        private_path(f, cur->kid, path, sizeof(path));
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);

        jwks = read_jwks_file(f);
        assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 1);
        key = json_array_get(json_object_get(jwks, "keys"), 0);
        assert_string_equal(json_string_value(json_object_get(key, "kty")), "OKP");
        assert_string_equal(json_string_value(json_object_get(key, "crv")), "Ed25519");
        assert_string_equal(json_string_value(json_object_get(key, "alg")), "EdDSA");
        assert_string_equal(json_string_value(json_object_get(key, "x")), cur->x);
        assert_string_equal(jwks_kid(jwks, 0), cur->kid);
        /* Only public material is published. */
        assert_null(json_object_get(key, "d"));
        json_decref(jwks);

        assert_non_null(keyring_lookup(&f->b.keys, cur->kid));
        assert_null(keyring_lookup(&f->b.keys, "no-such-kid"));
        assert_null(keyring_lookup(&f->b.keys, ""));
        assert_int_equal(fixture_count_events(f, "rotate", NULL), 1);
        fixture_last_detail(f, "rotate", detail, sizeof(detail));
        assert_non_null(strstr(detail, cur->kid));
}

static void test_restart_keeps_the_key(void **state) {
        struct fixture *f = *state;
        char kid[AGENTID_KID_MAX + 1], junk[256], tmp[256];
        int fd;

        snprintf(kid, sizeof(kid), "%s", keyring_current(&f->b.keys)->kid);
        /* Leftovers of a rotation that crashed half way never sign. */
        private_path(f, "junk", junk, sizeof(junk));
        snprintf(tmp, sizeof(tmp), "%s/keys/%s.pem.tmp", f->state_dir, kid);
        assert_true((fd = open(junk, O_CREAT | O_WRONLY, 0600)) >= 0);
        close(fd);
        assert_true((fd = open(tmp, O_CREAT | O_WRONLY, 0600)) >= 0);
        close(fd);

        reopen_keyring(f);
        assert_int_equal(keyring_open(&f->b), 0);
        assert_string_equal(keyring_current(&f->b.keys)->kid, kid);
        assert_int_equal(fixture_count_events(f, "rotate", NULL), 1); /* no new key */
        assert_int_equal(access(junk, F_OK), -1);
        assert_int_equal(access(tmp, F_OK), -1);
}

static void test_rotation(void **state) {
        struct fixture *f = *state;
        struct caller c = { .uid = 0, .pid = 4242 };
        uint64_t signs_from;
        char old_kid[AGENTID_KID_MAX + 1], new_kid[AGENTID_KID_MAX + 1], first[AGENTID_KID_MAX + 1];
        char path[256], detail[256];
        uint64_t now = now_usec();
        json_t *jwks;

        snprintf(first, sizeof(first), "%s", keyring_current(&f->b.keys)->kid);
        /* The first key signed a token valid for an hour. */
        assert_int_equal(creds_key_extend(f->b.creds, first, now + 3600 * SEC), 0);
        keyring_note_exp(&f->b.keys, first, now + 3600 * SEC);

        assert_int_equal(keyring_rotate(&f->b, &c, true, old_kid, new_kid, &signs_from), 0);
        assert_string_equal(old_kid, first);
        assert_string_not_equal(new_kid, first);
        assert_string_equal(keyring_current(&f->b.keys)->kid, new_kid);
        /* The retired private half is gone at once; its public half stays
         * published while its token may still be presented. */
        private_path(f, first, path, sizeof(path));
        assert_int_equal(access(path, F_OK), -1);
        private_path(f, new_kid, path, sizeof(path));
        assert_int_equal(access(path, F_OK), 0);
        assert_non_null(keyring_lookup(&f->b.keys, first));
        jwks = read_jwks_file(f);
        assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 2);
        assert_string_equal(jwks_kid(jwks, 0), new_kid); /* current first */
        assert_string_equal(jwks_kid(jwks, 1), first);
        json_decref(jwks);
        fixture_last_detail(f, "rotate", detail, sizeof(detail));
        assert_non_null(strstr(detail, new_kid));
        assert_non_null(strstr(detail, first));
        assert_int_equal(fixture_count_events(f, "rotate", NULL), 2);

        /* The second key signed nothing: once retired it is not published. */
        snprintf(first, sizeof(first), "%s", new_kid);
        assert_int_equal(keyring_rotate(&f->b, NULL, true, old_kid, new_kid, &signs_from), 0);
        assert_string_equal(old_kid, first);
        assert_null(keyring_lookup(&f->b.keys, first));
        jwks = keyring_jwks(&f->b.keys, now_usec());
        assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 2);
        json_decref(jwks);
        assert_int_equal(f->b.keys.n, 3); /* but remembered in the store */
}

/* Rollover: the next key is published ahead and signs only when due; a
 * second request changes nothing; the schedule publishes one by itself; a
 * next key whose private half is lost is discarded, never activated. */
static void test_rollover(void **state) {
        struct fixture *f = *state;
        struct caller c = { .uid = 0, .pid = 4242 };
        char old_kid[AGENTID_KID_MAX + 1], next_kid[AGENTID_KID_MAX + 1], again[AGENTID_KID_MAX + 1];
        char first[AGENTID_KID_MAX + 1], path[256], detail[256];
        uint64_t signs_from, now = now_usec();
        struct signing_key *next;
        json_t *jwks;

        snprintf(first, sizeof(first), "%s", keyring_current(&f->b.keys)->kid);
        f->b.keys.publish_ahead_usec = 3600 * SEC;
        assert_int_equal(keyring_rotate(&f->b, &c, false, old_kid, next_kid, &signs_from), 0);
        assert_string_equal(old_kid, first);
        assert_true(signs_from >= now + 3600 * SEC);
        /* Published (newest first), not signing, not accepted yet. */
        assert_string_equal(keyring_current(&f->b.keys)->kid, first);
        assert_string_equal(keyring_next(&f->b.keys)->kid, next_kid);
        assert_null(keyring_lookup(&f->b.keys, next_kid));
        jwks = read_jwks_file(f);
        assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 2);
        assert_string_equal(jwks_kid(jwks, 0), next_kid);
        json_decref(jwks);
        private_path(f, next_kid, path, sizeof(path));
        assert_int_equal(access(path, F_OK), 0);
        fixture_last_detail(f, "rotate", detail, sizeof(detail));
        assert_non_null(strstr(detail, "published"));
        /* Asked again: the same next key, nothing new. */
        assert_int_equal(keyring_rotate(&f->b, &c, false, old_kid, again, &signs_from), -EEXIST);
        assert_string_equal(again, next_kid);
        assert_int_equal(fixture_count_events(f, "rotate", NULL), 2);
        /* Not due: housekeeping leaves it. Due: it signs, the first key is
         * retired and its private half removed. */
        keyring_housekeeping(&f->b);
        assert_string_equal(keyring_current(&f->b.keys)->kid, first);
        next = (struct signing_key *) keyring_next(&f->b.keys);
        next->activates_usec = now_usec() - SEC;
        keyring_housekeeping(&f->b);
        assert_string_equal(keyring_current(&f->b.keys)->kid, next_kid);
        assert_null(keyring_next(&f->b.keys));
        assert_non_null(keyring_lookup(&f->b.keys, next_kid));
        private_path(f, first, path, sizeof(path));
        assert_int_equal(access(path, F_OK), -1);
        assert_int_equal(fixture_count_events(f, "rotate", NULL), 3);

        /* The schedule: the current key has served its interval. */
        f->b.keys.rotation_interval_usec = 7200 * SEC;
        ((struct signing_key *) keyring_current(&f->b.keys))->activates_usec = now_usec() - 7000 * SEC;
        keyring_housekeeping(&f->b);
        assert_non_null(keyring_next(&f->b.keys));
        snprintf(again, sizeof(again), "%s", keyring_next(&f->b.keys)->kid);
        assert_int_equal(fixture_count_events(f, "rotate", NULL), 4);
        /* Its private half lost before it is due: discarded, never signs. */
        private_path(f, again, path, sizeof(path));
        assert_int_equal(unlink(path), 0);
        ((struct signing_key *) keyring_next(&f->b.keys))->activates_usec = now_usec() - SEC;
        f->b.keys.rotation_interval_usec = 0;
        keyring_housekeeping(&f->b);
        assert_string_equal(keyring_current(&f->b.keys)->kid, next_kid);
        assert_null(keyring_next(&f->b.keys));
        assert_null(keyring_lookup(&f->b.keys, again));
        fixture_last_detail(f, "rotate", detail, sizeof(detail));
        assert_non_null(strstr(detail, "discarded"));
}

/* A retired key leaves the JWKS when the last token it signed is past its
 * exp plus the leeway; housekeeping rewrites the file. */
static void test_retired_key_unpublished(void **state) {
        struct fixture *f = *state;
        uint64_t signs_from;
        char old_kid[AGENTID_KID_MAX + 1], new_kid[AGENTID_KID_MAX + 1];
        struct signing_key *retired;
        uint64_t now = now_usec();
        json_t *jwks;

        assert_int_equal(creds_key_extend(f->b.creds, keyring_current(&f->b.keys)->kid, now + 3600 * SEC), 0);
        assert_int_equal(keyring_rotate(&f->b, NULL, true, old_kid, new_kid, &signs_from), 0);
        assert_int_equal(f->b.keys.n_published, 2);
        retired = &f->b.keys.keys[1];
        assert_string_equal(retired->kid, old_kid);

        /* Still inside the leeway: published. */
        retired->max_exp_usec = now - f->b.keys.leeway_usec + 60 * SEC;
        assert_non_null(keyring_lookup(&f->b.keys, old_kid));
        /* Past it: gone from lookups, the document and, after
         * housekeeping, the file. */
        retired->max_exp_usec = now - f->b.keys.leeway_usec - SEC;
        assert_null(keyring_lookup(&f->b.keys, old_kid));
        jwks = keyring_jwks(&f->b.keys, now_usec());
        assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 1);
        json_decref(jwks);
        keyring_housekeeping(&f->b);
        assert_int_equal(f->b.keys.n_published, 1);
        jwks = read_jwks_file(f);
        assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 1);
        assert_string_equal(jwks_kid(jwks, 0), new_kid);
        json_decref(jwks);
}

/* The private half went missing (restored from a backup without it): the
 * broker starts with a new key and the old public half keeps verifying. */
static void test_lost_private_key_rotates(void **state) {
        struct fixture *f = *state;
        char kid[AGENTID_KID_MAX + 1], path[256];

        snprintf(kid, sizeof(kid), "%s", keyring_current(&f->b.keys)->kid);
        assert_int_equal(creds_key_extend(f->b.creds, kid, now_usec() + 3600 * SEC), 0);
        private_path(f, kid, path, sizeof(path));
        assert_int_equal(unlink(path), 0);
        reopen_keyring(f);
        assert_int_equal(keyring_open(&f->b), 0);
        assert_string_not_equal(keyring_current(&f->b.keys)->kid, kid);
        assert_non_null(keyring_lookup(&f->b.keys, kid));
        assert_int_equal(fixture_count_events(f, "rotate", NULL), 2);
}

static void expect_open_refused(struct fixture *f, int error) {
        int events = fixture_count_events(f, "rotate", NULL);

        reopen_keyring(f);
        assert_int_equal(keyring_open(&f->b), error);
        /* Refused, not papered over with a new key. */
        assert_int_equal(fixture_count_events(f, "rotate", NULL), events);
}

static void test_readable_private_key_refused(void **state) {
        struct fixture *f = *state;
        char path[256];

        private_path(f, keyring_current(&f->b.keys)->kid, path, sizeof(path));
        assert_int_equal(chmod(path, 0644), 0);
        expect_open_refused(f, -EPERM);
}

static void test_swapped_private_key_refused(void **state) {
        struct fixture *f = *state;
        char path[256];
        EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        FILE *out;

        /* A valid Ed25519 key, just not the one the store publishes. */
        assert_non_null(other);
        private_path(f, keyring_current(&f->b.keys)->kid, path, sizeof(path));
        assert_non_null(out = fopen(path, "w"));
        assert_int_equal(PEM_write_PrivateKey(out, other, NULL, NULL, 0, NULL, NULL), 1);
        fclose(out);
        EVP_PKEY_free(other);
        expect_open_refused(f, -EBADMSG);

        /* Garbage is no better. */
        assert_non_null(out = fopen(path, "w"));
        fputs("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n", out);
        fclose(out);
        expect_open_refused(f, -EBADMSG);
}

static void test_symlinked_private_key_refused(void **state) {
        struct fixture *f = *state;
        char path[256], elsewhere[256];

        private_path(f, keyring_current(&f->b.keys)->kid, path, sizeof(path));
        snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere.pem", f->dir);
        assert_int_equal(rename(path, elsewhere), 0);
        assert_int_equal(symlink(elsewhere, path), 0);
        expect_open_refused(f, -ELOOP);
}

static void test_symlinked_keys_dir_refused(void **state) {
        struct fixture *f = *state;
        char dir[160], elsewhere[160];

        snprintf(dir, sizeof(dir), "%s/keys", f->state_dir);
        snprintf(elsewhere, sizeof(elsewhere), "%s/keys-elsewhere", f->dir);
        assert_int_equal(rename(dir, elsewhere), 0);
        assert_int_equal(symlink(elsewhere, dir), 0);
        expect_open_refused(f, -EPERM);
}

static void test_bad_public_key_in_store_refused(void **state) {
        struct fixture *f = *state;

        assert_int_equal(sqlite3_exec(store_sqlite(f->b.store), "UPDATE signing_keys SET x = 'AAAA'", NULL, NULL, NULL),
                         SQLITE_OK);
        expect_open_refused(f, -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_first_start, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restart_keeps_the_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rollover, setup, teardown),
                cmocka_unit_test_setup_teardown(test_retired_key_unpublished, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lost_private_key_rotates, setup, teardown),
                cmocka_unit_test_setup_teardown(test_readable_private_key_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_swapped_private_key_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_symlinked_private_key_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_symlinked_keys_dir_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_public_key_in_store_refused, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
