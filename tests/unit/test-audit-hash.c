/* SPDX-License-Identifier: MIT */
/* The audit hash chain's encoding (common/audit-hash.c) against values
 * computed independently from docs/audit.md's description, and the
 * checkpoint signature. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "audit-hash.h"
#include "base64url.h"

static const struct audit_row row1 = {
        .seq = 1, .time_usec = 1000, .event = "mint", .agent = "ag-x", .has_uid = true, .uid = 5,
        .template_name = "default", .has_caller_uid = true, .caller_uid = 0, .has_caller_pid = true,
        .caller_pid = 42, .detail = "1m",
};

/* Computed with Python's hashlib from the documented encoding. */
static void test_known_values(void **state) {
        struct audit_row row2 = {
                .seq = 2, .time_usec = 2000, .event = "revoke", .agent = "ag-x", .has_uid = true, .uid = 5,
                .template_name = "default", .reason = "", .has_caller_uid = true, .caller_uid = -1,
                .detail = "done",
        };
        char h1[AUDIT_HASH_HEX], h2[AUDIT_HASH_HEX];

        assert_int_equal(audit_chain_hash(&row1, AUDIT_GENESIS_HEX, h1), 0);
        assert_string_equal(h1, "66d6b032c1c96d8fe7ac95ad01cfc8deda68972310880aed3561df6b36dd1717");
        assert_int_equal(audit_chain_hash(&row2, h1, h2), 0);
        assert_string_equal(h2, "8eefdc738c0c611a2e67e518d77e2722e1f94a8352576d8599587a4c06e9ef15");
}

/* No two different rows encode the same: NULL is not "", NULL is not 0,
 * a byte moved across a field boundary changes the hash, and so does the
 * previous hash. */
static void test_unambiguous(void **state) {
        char base[AUDIT_HASH_HEX], h[AUDIT_HASH_HEX];
        struct audit_row r;

        assert_int_equal(audit_chain_hash(&row1, AUDIT_GENESIS_HEX, base), 0);
        r = row1;
        r.reason = "";
        assert_int_equal(audit_chain_hash(&r, AUDIT_GENESIS_HEX, h), 0);
        assert_string_not_equal(h, base);
        r = row1;
        r.has_owner_uid = true;
        r.owner_uid = 0;
        assert_int_equal(audit_chain_hash(&r, AUDIT_GENESIS_HEX, h), 0);
        assert_string_not_equal(h, base);
        r = row1;
        r.agent = "ag-xd";
        r.template_name = "efault";
        assert_int_equal(audit_chain_hash(&r, AUDIT_GENESIS_HEX, h), 0);
        assert_string_not_equal(h, base);
        assert_int_equal(audit_chain_hash(&row1, "0000000000000000000000000000000000000000000000000000000000000001", h), 0);
        assert_string_not_equal(h, base);
        /* A previous hash that is not 64 lowercase hex digits is refused. */
        assert_int_equal(audit_chain_hash(&row1, "00", h), -EINVAL);
        assert_int_equal(audit_chain_hash(&row1, "000000000000000000000000000000000000000000000000000000000000000G", h),
                         -EINVAL);
}

static void sign(EVP_PKEY *key, int64_t seq, const char *hash, int64_t time, const char *kind, char *out, size_t size) {
        char msg[256];
        uint8_t sig[64];
        size_t sig_len = sizeof(sig);
        int n = audit_checkpoint_message(seq, hash, time, kind, msg, sizeof(msg));
        EVP_MD_CTX *md = EVP_MD_CTX_new();

        assert_true(n > 0);
        assert_int_equal(EVP_DigestSignInit(md, NULL, NULL, NULL, key), 1);
        assert_int_equal(EVP_DigestSign(md, sig, &sig_len, (const uint8_t *) msg, (size_t) n), 1);
        EVP_MD_CTX_free(md);
        assert_true(base64url_encode(sig, sig_len, out, size) > 0);
}

static void test_checkpoint_signature(void **state) {
        EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        char sig[96], id[17];
        const char *h = "66d6b032c1c96d8fe7ac95ad01cfc8deda68972310880aed3561df6b36dd1717";

        assert_non_null(key);
        sign(key, 7, h, 123, "periodic", sig, sizeof(sig));
        assert_int_equal(audit_checkpoint_verify(key, 7, h, 123, "periodic", sig), 0);
        /* Every signed field counts. */
        assert_int_equal(audit_checkpoint_verify(key, 8, h, 123, "periodic", sig), -EBADMSG);
        assert_int_equal(audit_checkpoint_verify(key, 7, AUDIT_GENESIS_HEX, 123, "periodic", sig), -EBADMSG);
        assert_int_equal(audit_checkpoint_verify(key, 7, h, 124, "periodic", sig), -EBADMSG);
        assert_int_equal(audit_checkpoint_verify(key, 7, h, 123, "cut", sig), -EBADMSG);
        assert_int_equal(audit_checkpoint_verify(other, 7, h, 123, "periodic", sig), -EBADMSG);
        assert_int_equal(audit_checkpoint_verify(key, 7, h, 123, "periodic", "not-a-signature"), -EBADMSG);
        assert_int_equal(audit_checkpoint_verify(key, 7, h, 123, "periodic", NULL), -EBADMSG);
        assert_int_equal(audit_key_id(key, id), 0);
        assert_int_equal(strlen(id), 16);
        EVP_PKEY_free(key);
        EVP_PKEY_free(other);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_known_values),
                cmocka_unit_test(test_unambiguous),
                cmocka_unit_test(test_checkpoint_signature),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
