/* SPDX-License-Identifier: MIT */
/* The token codec against good tokens, the RFC 8037 known answers, and
 * every kind of bad token the broker must refuse. Hostile tokens are
 * signed with the real key where possible, so that each refusal is proven
 * to come from the check under test and not from the signature. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "agentid/token.h"
#include "base64url.h"
#include "jwt.h"

#define NOW 1900000000ULL
#define ISS "agentid:test"
#define AUD "mcp://tickets"

static EVP_PKEY *key, *other;

static EVP_PKEY *lookup(void *userdata, const char *kid) {
        return strcmp(kid, "k1") == 0 ? key : NULL;
}

static const struct jwt_expect expect = {
        .typ = "JWT", .issuer = ISS, .audience = AUD, .now = NOW, .leeway = 30,
};

static int setup(void **state) {
        key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        return key && other ? 0 : -1;
}

static int teardown(void **state) {
        EVP_PKEY_free(key);
        EVP_PKEY_free(other);
        return 0;
}

static enum jwt_error verify_e(const char *token, const struct jwt_expect *e) {
        json_t *claims = NULL;
        char why[256];
        enum jwt_error r = jwt_verify(token, strlen(token), lookup, NULL, e, &claims, why, sizeof(why));

        if (r == JWT_OK)
                assert_non_null(claims);
        else {
                assert_null(claims);
                assert_true(strlen(why) > 0);
        }
        json_decref(claims);
        return r;
}

static enum jwt_error verify(const char *token) {
        return verify_e(token, &expect);
}

/* A token with this header and payload text, validly signed by key. */
static __attribute__((noinline)) char *make_with(EVP_PKEY *k, const char *header, const char *payload) {
        char *t = NULL;
        assert_int_equal(jwt_sign_raw(k, header, payload, &t), 0);
        return t;
}

static char *make(const char *header, const char *payload) {
        return make_with(key, header, payload);
}

#define HDR "{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"typ\":\"JWT\"}"
#define CLAIMS(extra)                                                                                         \
        "{\"iss\":\"" ISS "\",\"sub\":\"ag-default-abc123\",\"aud\":\"" AUD "\",\"iat\":1899999990,"          \
        "\"nbf\":1899999990,\"exp\":1900000300,\"jti\":\"j1\"" extra "}"

static void test_sign_verify(void **state) {
        json_t *c = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:{s:s}}", "iss", ISS, "sub", "ag-x", "aud", AUD,
                              "iat", (json_int_t) NOW, "nbf", (json_int_t) NOW, "exp", (json_int_t) NOW + 300, "jti",
                              "abc", "act", "sub", "root");
        json_t *got = NULL;
        char *t = NULL, why[128];

        assert_int_equal(jwt_sign(key, "k1", "JWT", c, &t), 0);
        assert_int_equal(jwt_verify(t, strlen(t), lookup, NULL, &expect, &got, why, sizeof(why)), JWT_OK);
        assert_string_equal(json_string_value(json_object_get(got, "sub")), "ag-x");
        assert_string_equal(json_string_value(json_object_get(json_object_get(got, "act"), "sub")), "root");
        /* Compact serialization: three base64url segments, no padding. */
        assert_null(strchr(t, '='));
        assert_null(strchr(t, '+'));
        json_decref(got);
        json_decref(c);
        free(t);
}

/* RFC 8037 appendix A.4: Ed25519 is deterministic, so signing the RFC's
 * input with the RFC's key must give the RFC's token, byte for byte. */
static void test_rfc8037_known_answer(void **state) {
        static const char d[] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
        static const char expected[] =
                "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
                "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
        uint8_t raw[34];
        EVP_PKEY *k;
        char *t = NULL;

        assert_int_equal(base64url_decode(d, strlen(d), raw, sizeof(raw)), 32);
        k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, 32);
        assert_non_null(k);
        assert_int_equal(jwt_sign_raw(k, "{\"alg\":\"EdDSA\"}", "Example of Ed25519 signing", &t), 0);
        assert_string_equal(t, expected);
        free(t);
        EVP_PKEY_free(k);
}

/* RFC 8037 appendix A.3: the JWK thumbprint (our kid). */
static void test_thumbprint(void **state) {
        char kid[64];

        assert_int_equal(jwk_thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", kid, sizeof(kid)), 0);
        assert_string_equal(kid, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
}

static void test_fully_specified_alg(void **state) {
        char *t = make("{\"alg\":\"Ed25519\",\"kid\":\"k1\",\"typ\":\"JWT\"}", CLAIMS(""));
        assert_int_equal(verify(t), JWT_OK);
        free(t);
}

static void test_forged_signature(void **state) {
        char *t = make(HDR, CLAIMS("")), *dot = strrchr(t, '.');
        char *forged;

        /* One bit of the signature. */
        dot[5] = dot[5] == 'A' ? 'B' : 'A';
        assert_int_equal(verify(t), JWT_BAD_SIGNATURE);
        free(t);
        /* Another key claiming our kid. */
        forged = make_with(other, HDR, CLAIMS(""));
        assert_int_equal(verify(forged), JWT_BAD_SIGNATURE);
        free(forged);
        /* Our signature over other claims: swap the payload. */
        t = make(HDR, CLAIMS(""));
        forged = make(HDR, CLAIMS(",\"uid\":0"));
        {
                char *p1 = strchr(t, '.'), *p2 = strchr(forged, '.');
                char buf[4096];
                snprintf(buf, sizeof(buf), "%.*s%.*s%s", (int) (p1 - t), t, (int) (strrchr(forged, '.') - p2), p2,
                         strrchr(t, '.'));
                assert_int_equal(verify(buf), JWT_BAD_SIGNATURE);
        }
        free(t);
        free(forged);
        /* A truncated signature. */
        t = make(HDR, CLAIMS(""));
        t[strlen(t) - 4] = '\0';
        assert_int_equal(verify(t), JWT_BAD_SIGNATURE);
        free(t);
}

static void test_unknown_kid(void **state) {
        char *t = make("{\"alg\":\"EdDSA\",\"kid\":\"k2\",\"typ\":\"JWT\"}", CLAIMS(""));
        assert_int_equal(verify(t), JWT_UNKNOWN_KID);
        free(t);
        t = make("{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}", CLAIMS(""));
        assert_int_equal(verify(t), JWT_UNKNOWN_KID);
        free(t);
        t = make("{\"alg\":\"EdDSA\",\"kid\":7,\"typ\":\"JWT\"}", CLAIMS(""));
        assert_int_equal(verify(t), JWT_UNKNOWN_KID);
        free(t);
}

static void test_bad_alg(void **state) {
        static const char *const algs[] = { "none", "None", "HS256", "RS256", "ES256", "PS256", "eddsa", "" };
        char hdr[128], *t, *h, *p, buf[4096];
        uint8_t raw[32], mac[32];
        size_t raw_len = sizeof(raw);
        unsigned mac_len = 0;

        for (size_t k = 0; k < sizeof(algs) / sizeof(algs[0]); k++) {
                snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"k1\",\"typ\":\"JWT\"}", algs[k]);
                t = make(hdr, CLAIMS(""));
                assert_int_equal(verify(t), algs[k][0] ? JWT_BAD_ALG : JWT_MALFORMED);
                free(t);
        }
        /* alg none the classic way: no signature at all. */
        h = base64url_encode_alloc("{\"alg\":\"none\",\"kid\":\"k1\",\"typ\":\"JWT\"}", 37);
        p = base64url_encode_alloc(CLAIMS(""), strlen(CLAIMS("")));
        snprintf(buf, sizeof(buf), "%s.%s.", h, p);
        assert_int_not_equal(verify(buf), JWT_OK);
        /* HS256 keyed with our public key (the confused-verifier attack). */
        free(h);
        h = base64url_encode_alloc("{\"alg\":\"HS256\",\"kid\":\"k1\",\"typ\":\"JWT\"}", 38);
        assert_int_equal(EVP_PKEY_get_raw_public_key(key, raw, &raw_len), 1);
        snprintf(buf, sizeof(buf), "%s.%s", h, p);
        assert_non_null(HMAC(EVP_sha256(), raw, (int) raw_len, (const uint8_t *) buf, strlen(buf), mac, &mac_len));
        {
                char sig[64];
                base64url_encode(mac, mac_len, sig, sizeof(sig));
                strcat(buf, ".");
                strcat(buf, sig);
        }
        assert_int_equal(verify(buf), JWT_BAD_ALG);
        free(h);
        free(p);
        /* No alg at all. */
        t = make("{\"kid\":\"k1\",\"typ\":\"JWT\"}", CLAIMS(""));
        assert_int_equal(verify(t), JWT_MALFORMED);
        free(t);
}

static void test_type(void **state) {
        struct jwt_expect grant = expect;
        char *t = make(HDR, CLAIMS("")), *g;

        grant.typ = AGENTID_GRANT_TYP;
        /* A token is not a grant, a grant not a token. */
        assert_int_equal(verify_e(t, &grant), JWT_BAD_TYPE);
        g = make("{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"typ\":\"" AGENTID_GRANT_TYP "\"}", CLAIMS(""));
        assert_int_equal(verify(g), JWT_BAD_TYPE);
        assert_int_equal(verify_e(g, &grant), JWT_OK);
        free(t);
        free(g);
        t = make("{\"alg\":\"EdDSA\",\"kid\":\"k1\"}", CLAIMS(""));
        assert_int_equal(verify(t), JWT_BAD_TYPE);
        free(t);
}

/* RFC 9068 at+jwt: "application/" may be spelled out (RFC 7515 4.1.9), in
 * any case; nothing else passes. */
static void test_access_token_type(void **state) {
        struct jwt_expect at = expect;
        static const char *const ok[] = { "at+jwt", "AT+JWT", "application/at+jwt", "Application/At+Jwt" };
        static const char *const bad[] = { "JWT", "at+jwtx", "application/", "application/application/at+jwt",
                                           "xat+jwt", "statuslist+jwt", "" };
        char h[128], *t;

        at.typ = AGENTID_TOKEN_TYP;
        for (size_t k = 0; k < sizeof(ok) / sizeof(ok[0]); k++) {
                snprintf(h, sizeof(h), "{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"typ\":\"%s\"}", ok[k]);
                t = make(h, CLAIMS(""));
                assert_int_equal(verify_e(t, &at), JWT_OK);
                free(t);
        }
        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
                snprintf(h, sizeof(h), "{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"typ\":\"%s\"}", bad[k]);
                t = make(h, CLAIMS(""));
                assert_int_equal(verify_e(t, &at), JWT_BAD_TYPE);
                free(t);
        }
}

/* The subject and audience claims the caller names: a grant's claims do
 * not pass for a token's and vice versa. */
static void test_claim_names(void **state) {
        struct jwt_expect token = expect, grant = expect;
        char *t = make(HDR, CLAIMS("")), *g;

        token.subject_claim = "client_id";
        grant.subject_claim = AGENTID_CLAIM_GRANT_AGENT;
        grant.audience_claim = AGENTID_CLAIM_GRANT_AUDIENCE;
        /* CLAIMS has sub and aud only. */
        assert_int_equal(verify_e(t, &token), JWT_MALFORMED);
        assert_int_equal(verify_e(t, &grant), JWT_MALFORMED);
        free(t);
        t = make(HDR, CLAIMS(",\"client_id\":\"ag-default-abc123\""));
        assert_int_equal(verify_e(t, &token), JWT_OK);
        free(t);
        g = make(HDR, "{\"iss\":\"" ISS "\",\"" AGENTID_CLAIM_GRANT_AGENT "\":\"ag-default-abc123\",\""
                      AGENTID_CLAIM_GRANT_AUDIENCE "\":\"" AUD "\",\"iat\":1899999990,\"exp\":1900000100,"
                      "\"jti\":\"j1\"}");
        assert_int_equal(verify_e(g, &grant), JWT_OK);
        /* No aud, no sub: whatever else it is, it is no token. */
        assert_int_equal(verify_e(g, &token), JWT_MALFORMED);
        token.subject_claim = AGENTID_CLAIM_GRANT_AGENT;
        assert_int_equal(verify_e(g, &token), JWT_WRONG_AUDIENCE);
        free(g);
}

static void test_crit(void **state) {
        char *t = make("{\"alg\":\"EdDSA\",\"crit\":[\"exp\"],\"kid\":\"k1\",\"typ\":\"JWT\"}", CLAIMS(""));
        assert_int_equal(verify(t), JWT_MALFORMED);
        free(t);
}

static void test_time(void **state) {
        struct jwt_expect e = expect;
        char *t = make(HDR, CLAIMS(""));

        assert_int_equal(verify(t), JWT_OK);
        e.now = 1900000300 + 29; /* past exp, inside the leeway */
        assert_int_equal(verify_e(t, &e), JWT_OK);
        e.now = 1900000300 + 30;
        assert_int_equal(verify_e(t, &e), JWT_EXPIRED);
        e.leeway = 0;
        e.now = 1900000300;
        assert_int_equal(verify_e(t, &e), JWT_EXPIRED);
        e.now = 1899999990 - 1; /* before nbf and iat */
        assert_int_equal(verify_e(t, &e), JWT_NOT_YET_VALID);
        free(t);

        t = make(HDR, "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"nbf\":1900000100,"
                      "\"exp\":1900000300,\"jti\":\"j\"}");
        assert_int_equal(verify(t), JWT_NOT_YET_VALID);
        free(t);
        t = make(HDR, "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"iat\":1900000100,"
                      "\"exp\":1900000300,\"jti\":\"j\"}");
        assert_int_equal(verify(t), JWT_NOT_YET_VALID);
        free(t);
        /* exp missing, a string, a fraction, negative */
        t = make(HDR, "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"jti\":\"j\"}");
        assert_int_equal(verify(t), JWT_MALFORMED);
        free(t);
        t = make(HDR, "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":\"1900000300\",\"jti\":\"j\"}");
        assert_int_equal(verify(t), JWT_MALFORMED);
        free(t);
        t = make(HDR, "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":1900000300.5,\"jti\":\"j\"}");
        assert_int_equal(verify(t), JWT_MALFORMED);
        free(t);
        t = make(HDR, "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":1900000300,\"nbf\":-1,\"jti\":\"j\"}");
        assert_int_equal(verify(t), JWT_MALFORMED);
        free(t);
}

static void test_audience_issuer(void **state) {
        char *t = make(HDR, "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"mcp://other\",\"exp\":1900000300,\"jti\":\"j\"}");
        assert_int_equal(verify(t), JWT_WRONG_AUDIENCE);
        free(t);
        t = make(HDR, "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":[\"x\",\"" AUD "\"],\"exp\":1900000300,\"jti\":\"j\"}");
        assert_int_equal(verify(t), JWT_OK);
        free(t);
        t = make(HDR, "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":[\"x\",\"y\"],\"exp\":1900000300,\"jti\":\"j\"}");
        assert_int_equal(verify(t), JWT_WRONG_AUDIENCE);
        free(t);
        t = make(HDR, "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"exp\":1900000300,\"jti\":\"j\"}");
        assert_int_equal(verify(t), JWT_WRONG_AUDIENCE);
        free(t);
        t = make(HDR, "{\"iss\":\"agentid:elsewhere\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":1900000300,\"jti\":\"j\"}");
        assert_int_equal(verify(t), JWT_WRONG_ISSUER);
        free(t);
        t = make(HDR, "{\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":1900000300,\"jti\":\"j\"}");
        assert_int_equal(verify(t), JWT_WRONG_ISSUER);
        free(t);
        /* sub and jti are required strings */
        t = make(HDR, "{\"iss\":\"" ISS "\",\"sub\":1,\"aud\":\"" AUD "\",\"exp\":1900000300,\"jti\":\"j\"}");
        assert_int_equal(verify(t), JWT_MALFORMED);
        free(t);
        t = make(HDR, "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":1900000300}");
        assert_int_equal(verify(t), JWT_MALFORMED);
        free(t);
}

static void test_malformed(void **state) {
        static const char *const bad[] = {
                "", ".", "..", "...", "abc", "abc.def", "a.b.c.d", "a.b.c.d.e", ".b.c", "a..c", "a.b.",
        };
        char *t, buf[4096];

        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
                assert_int_equal(verify(bad[k]), JWT_MALFORMED);
        /* header not JSON, not an object; payload not an object */
        t = make("not json", CLAIMS(""));
        assert_int_equal(verify(t), JWT_MALFORMED);
        free(t);
        t = make("[\"alg\",\"EdDSA\"]", CLAIMS(""));
        assert_int_equal(verify(t), JWT_MALFORMED);
        free(t);
        t = make(HDR, "[1,2,3]");
        assert_int_equal(verify(t), JWT_MALFORMED);
        free(t);
        t = make(HDR, "\"a string\"");
        assert_int_equal(verify(t), JWT_MALFORMED);
        free(t);
        /* trailing garbage: after the JSON, after the token, a 4th dot */
        t = make(HDR, CLAIMS("") " x");
        assert_int_equal(verify(t), JWT_MALFORMED);
        free(t);
        t = make(HDR, CLAIMS("") "{}");
        assert_int_equal(verify(t), JWT_MALFORMED);
        free(t);
        t = make(HDR, CLAIMS(""));
        snprintf(buf, sizeof(buf), "%s.", t);
        assert_int_equal(verify(buf), JWT_MALFORMED);
        snprintf(buf, sizeof(buf), "%sAAAA", t);
        assert_int_equal(verify(buf), JWT_BAD_SIGNATURE);
        snprintf(buf, sizeof(buf), "%s\n", t);
        assert_int_equal(verify(buf), JWT_BAD_SIGNATURE);
        free(t);
        /* NUL inside the claims */
        t = make(HDR, "{\"iss\":\"" ISS "\\u0000\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":1900000300,\"jti\":\"j\"}");
        assert_int_not_equal(verify(t), JWT_OK);
        free(t);
}

static void test_duplicate_keys(void **state) {
        char *t = make(HDR, CLAIMS(",\"sub\":\"ag-admin\""));
        assert_int_equal(verify(t), JWT_MALFORMED);
        free(t);
        t = make("{\"alg\":\"EdDSA\",\"alg\":\"none\",\"kid\":\"k1\",\"typ\":\"JWT\"}", CLAIMS(""));
        assert_int_equal(verify(t), JWT_MALFORMED);
        free(t);
}

static void test_bad_base64(void **state) {
        char *t = make(HDR, CLAIMS("")), buf[4096], *dot;

        /* padding on a segment */
        dot = strchr(t, '.');
        snprintf(buf, sizeof(buf), "%.*s=%s", (int) (dot - t), t, dot);
        assert_int_equal(verify(buf), JWT_MALFORMED);
        /* standard-alphabet characters */
        snprintf(buf, sizeof(buf), "%s", t);
        buf[3] = '+';
        assert_int_equal(verify(buf), JWT_MALFORMED);
        snprintf(buf, sizeof(buf), "%s", t);
        buf[strlen(buf) - 2] = '/';
        assert_int_equal(verify(buf), JWT_BAD_SIGNATURE);
        /* a space */
        snprintf(buf, sizeof(buf), "%s", t);
        buf[2] = ' ';
        assert_int_equal(verify(buf), JWT_MALFORMED);
        free(t);
}

static void test_oversized(void **state) {
        size_t n = AGENTID_TOKEN_MAX + 1;
        char *big = malloc(n + 1), *payload;
        json_t *claims = NULL;
        char why[128];

        memset(big, 'A', n);
        big[n] = '\0';
        big[10] = big[20] = '.';
        assert_int_equal(jwt_verify(big, n, lookup, NULL, &expect, &claims, why, sizeof(why)), JWT_TOO_LARGE);
        free(big);
        /* and the signer refuses to make one */
        payload = malloc(AGENTID_TOKEN_MAX);
        memset(payload, 'x', AGENTID_TOKEN_MAX - 1);
        payload[AGENTID_TOKEN_MAX - 1] = '\0';
        {
                char *t = NULL;
                assert_int_equal(jwt_sign_raw(key, HDR, payload, &t), -E2BIG);
                assert_null(t);
        }
        free(payload);
}

static void test_hash(void **state) {
        char a[64], b[64];

        assert_int_equal(jwt_hash("abc", 3, a, sizeof(a)), 0);
        /* SHA-256("abc"), base64url */
        assert_string_equal(a, "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
        assert_int_equal(jwt_hash("abd", 3, b, sizeof(b)), 0);
        assert_string_not_equal(a, b);
}

static EVP_PKEY *swapped_key;

static EVP_PKEY *lookup_swapped(void *userdata, const char *kid) {
        return strcmp(kid, "k1") == 0 ? swapped_key : NULL;
}

static int memo_slots_used(const struct jwt_verified *v) {
        int n = 0;
        for (size_t k = 0; k < JWT_VERIFIED_SLOTS; k++)
                n += v->slot[k].used;
        return n;
}

/* The memo of verified signatures: a token seen again still has its
 * header, key and claims checked; a forged signature or another key never
 * rides on an earlier success; failures never enter. */
static void test_verified_memo(void **state) {
        static struct jwt_verified memo;
        struct jwt_expect e = expect;
        char *good = make(HDR, CLAIMS("")), *forged = strdup(good);
        size_t len = strlen(forged);
        json_t *claims = NULL;
        char why[256];

        e.verified = &memo;
        assert_int_equal(verify_e(good, &e), JWT_OK);
        assert_int_equal(memo_slots_used(&memo), 1);
        assert_int_equal(verify_e(good, &e), JWT_OK); /* from the memo */
        assert_int_equal(memo_slots_used(&memo), 1);

        /* Same signed text, another signature: verified, and refused. */
        forged[len - 2] = forged[len - 2] == 'A' ? 'B' : 'A';
        assert_int_equal(verify_e(forged, &e), JWT_BAD_SIGNATURE);
        assert_int_equal(memo_slots_used(&memo), 1);

        /* Claims are checked on every call, memo or not. */
        e.now = 1900000300 + 31;
        assert_int_equal(verify_e(good, &e), JWT_EXPIRED);
        e.now = expect.now;
        e.audience = "mcp://other";
        assert_int_equal(verify_e(good, &e), JWT_WRONG_AUDIENCE);
        e.audience = expect.audience;

        /* The kid now names another key: the earlier success does not count. */
        swapped_key = other;
        assert_int_equal(jwt_verify(good, strlen(good), lookup_swapped, NULL, &e, &claims, why, sizeof(why)),
                         JWT_BAD_SIGNATURE);
        assert_null(claims);
        free(forged);
        free(good);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sign_verify),     cmocka_unit_test(test_rfc8037_known_answer),
                cmocka_unit_test(test_verified_memo),
                cmocka_unit_test(test_thumbprint),      cmocka_unit_test(test_fully_specified_alg),
                cmocka_unit_test(test_forged_signature), cmocka_unit_test(test_unknown_kid),
                cmocka_unit_test(test_bad_alg),         cmocka_unit_test(test_type),
                cmocka_unit_test(test_crit),            cmocka_unit_test(test_time),
                cmocka_unit_test(test_audience_issuer), cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_duplicate_keys),  cmocka_unit_test(test_bad_base64),
                cmocka_unit_test(test_oversized),       cmocka_unit_test(test_hash),
                cmocka_unit_test(test_access_token_type), cmocka_unit_test(test_claim_names),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
