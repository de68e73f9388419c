/* SPDX-License-Identifier: MIT */
#include "jwt.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agentid/token.h"
#include "base64url.h"
#include "macro.h"

#define ED25519_SIG_LEN 64

static const char *const error_names[_JWT_ERROR_MAX] = {
        [JWT_OK] = "valid",
        [JWT_TOO_LARGE] = "token too large",
        [JWT_MALFORMED] = "malformed token",
        [JWT_BAD_ALG] = "unsupported alg",
        [JWT_BAD_TYPE] = "wrong token type",
        [JWT_UNKNOWN_KID] = "unknown signing key",
        [JWT_BAD_SIGNATURE] = "bad signature",
        [JWT_WRONG_ISSUER] = "wrong issuer",
        [JWT_WRONG_AUDIENCE] = "wrong audience",
        [JWT_EXPIRED] = "expired",
        [JWT_NOT_YET_VALID] = "not yet valid",
};

const char *jwt_error_to_string(enum jwt_error e) {
        return (unsigned) e < _JWT_ERROR_MAX ? error_names[e] : "invalid token";
}

static void freep_evp_md_ctx(EVP_MD_CTX **p) {
        EVP_MD_CTX_free(*p);
}

static int segment_encode(const char *text, char **ret) {
        *ret = base64url_encode_alloc(text, strlen(text));
        return *ret ? 0 : -ENOMEM;
}

int jwt_sign_raw(EVP_PKEY *key, const char *header, const char *payload, char **ret) {
        _cleanup_free_ char *h = NULL, *p = NULL, *input = NULL;
        _cleanup_(freep_evp_md_ctx) EVP_MD_CTX *ctx = NULL;
        uint8_t sig[ED25519_SIG_LEN];
        size_t sig_len = sizeof(sig), in_len, total;
        char *out;
        int r;

        if ((r = segment_encode(header, &h)) < 0 || (r = segment_encode(payload, &p)) < 0)
                return r;
        if (asprintf(&input, "%s.%s", h, p) < 0) {
                input = NULL;
                return -ENOMEM;
        }
        in_len = strlen(input);
        total = in_len + 1 + BASE64URL_ENCODED_LEN(sizeof(sig));
        if (total > AGENTID_TOKEN_MAX)
                return -E2BIG;
        /* Ed25519 is one-shot: no digest, the whole message at once. */
        ctx = EVP_MD_CTX_new();
        if (!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
            EVP_DigestSign(ctx, sig, &sig_len, (const uint8_t *) input, in_len) != 1 || sig_len != sizeof(sig))
                return -EIO;
        out = malloc(total + 1);
        if (!out)
                return -ENOMEM;
        memcpy(out, input, in_len);
        out[in_len] = '.';
        (void) base64url_encode(sig, sizeof(sig), out + in_len + 1, total + 1 - in_len - 1);
        *ret = out;
        return 0;
}

int jwt_sign(EVP_PKEY *key, const char *kid, const char *typ, json_t *claims, char **ret) {
        _cleanup_free_ char *header = NULL, *payload = NULL;
        json_t *h;

        h = json_pack("{s:s, s:s, s:s}", "alg", AGENTID_JWT_ALG, "kid", kid, "typ", typ);
        if (!h)
                return -ENOMEM;
        header = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(h);
        payload = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
        if (!header || !payload)
                return -ENOMEM;
        return jwt_sign_raw(key, header, payload, ret);
}

static enum jwt_error fail(enum jwt_error e, char *why, size_t why_size, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static enum jwt_error fail(enum jwt_error e, char *why, size_t why_size, const char *fmt, ...) {
        va_list ap;
        int n;

        if (why && why_size) {
                n = snprintf(why, why_size, "%s: ", jwt_error_to_string(e));
                if (n > 0 && (size_t) n < why_size) {
                        va_start(ap, fmt);
                        vsnprintf(why + n, why_size - (size_t) n, fmt, ap);
                        va_end(ap);
                }
        }
        return e;
}

/* Decode one segment holding a JSON object. Duplicate keys are refused:
 * two verifiers must never read different claims from one token. */
static json_t *segment_object(const char *seg, size_t len) {
        _cleanup_free_ uint8_t *buf = NULL;
        json_error_t jerr;
        json_t *o;
        int n;

        buf = malloc(BASE64URL_DECODED_MAX(len) + 1);
        if (!buf)
                return NULL;
        n = base64url_decode(seg, len, buf, BASE64URL_DECODED_MAX(len));
        if (n <= 0 || memchr(buf, '\0', (size_t) n))
                return NULL;
        o = json_loadb((const char *) buf, (size_t) n, JSON_REJECT_DUPLICATES, &jerr);
        if (o && !json_is_object(o)) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static bool string_ok(json_t *v) {
        return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) && json_string_length(v) > 0;
}

/* NumericDate: we only issue integers and accept only non-negative ones. */
static int numeric_date(json_t *claims, const char *key, bool required, uint64_t *ret) {
        json_t *v = json_object_get(claims, key);

        if (!v)
                return required ? -EINVAL : -ENOENT;
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return -EINVAL;
        *ret = (uint64_t) json_integer_value(v);
        return 0;
}

static bool audience_matches(json_t *aud, const char *expected) {
        size_t k;
        json_t *v;

        if (string_ok(aud))
                return streq(json_string_value(aud), expected);
        if (!json_is_array(aud) || json_array_size(aud) == 0)
                return false;
        json_array_foreach(aud, k, v) if (string_ok(v) && streq(json_string_value(v), expected)) return true;
        return false;
}

struct seen {
        bool valid; /* digest and key filled in */
        uint8_t digest[32];
        uint8_t key[32];
};

static size_t verified_slot(const uint8_t digest[32]) {
        return ((size_t) digest[0] | (size_t) digest[1] << 8) % JWT_VERIFIED_SLOTS;
}

/* Did this token verify with this key before? Fills *seen for
 * signature_remember either way (when there is a memo at all). */
static bool signature_seen(struct jwt_verified *v, const char *token, size_t len, EVP_PKEY *key, struct seen *seen) {
        unsigned md_len = 0;
        size_t key_len = sizeof(seen->key);
        size_t k;

        seen->valid = false;
        if (!v || EVP_Digest(token, len, seen->digest, &md_len, EVP_sha256(), NULL) != 1 ||
            md_len != sizeof(seen->digest) || EVP_PKEY_get_raw_public_key(key, seen->key, &key_len) != 1 ||
            key_len != sizeof(seen->key))
                return false;
        seen->valid = true;
        k = verified_slot(seen->digest);
        return v->slot[k].used && memcmp(v->slot[k].digest, seen->digest, sizeof(seen->digest)) == 0 &&
               memcmp(v->slot[k].key, seen->key, sizeof(seen->key)) == 0;
}

static void signature_remember(struct jwt_verified *v, const struct seen *seen) {
        size_t k;

        if (!v || !seen->valid)
                return;
        k = verified_slot(seen->digest);
        memcpy(v->slot[k].digest, seen->digest, sizeof(seen->digest));
        memcpy(v->slot[k].key, seen->key, sizeof(seen->key));
        v->slot[k].used = true;
}

enum jwt_error jwt_verify(const char *token, size_t len, jwt_key_lookup_fn lookup, void *userdata,
                          const struct jwt_expect *e, json_t **ret_claims, char *why, size_t why_size) {
        _cleanup_(freep_evp_md_ctx) EVP_MD_CTX *ctx = NULL;
        json_t *header = NULL, *claims = NULL, *v;
        const char *dot1, *dot2, *alg, *kid, *typ;
        const char *subject_claim = e->subject_claim ?: "sub", *audience_claim = e->audience_claim ?: "aud";
        uint8_t sig[ED25519_SIG_LEN + 3];
        struct seen seen;
        uint64_t exp, nbf, iat;
        enum jwt_error r;
        EVP_PKEY *key;
        int n;

        *ret_claims = NULL;
        if (why && why_size)
                why[0] = '\0';
        if (len > AGENTID_TOKEN_MAX)
                return fail(JWT_TOO_LARGE, why, why_size, "%zu bytes, at most %d", len, AGENTID_TOKEN_MAX);
        if (len == 0 || memchr(token, '\0', len))
                return fail(JWT_MALFORMED, why, why_size, "empty or contains NUL");
        dot1 = memchr(token, '.', len);
        dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - token)) : NULL;
        if (!dot2 || memchr(dot2 + 1, '.', len - (size_t) (dot2 + 1 - token)))
                return fail(JWT_MALFORMED, why, why_size, "not three dot-separated segments");
        if (dot1 == token || dot2 == dot1 + 1 || dot2 + 1 == token + len)
                return fail(JWT_MALFORMED, why, why_size, "empty segment");

        header = segment_object(token, (size_t) (dot1 - token));
        if (!header) {
                r = fail(JWT_MALFORMED, why, why_size, "header is not base64url of a JSON object");
                goto out;
        }
        v = json_object_get(header, "alg");
        if (!string_ok(v)) {
                r = fail(JWT_MALFORMED, why, why_size, "header has no alg");
                goto out;
        }
        alg = json_string_value(v);
        /* The algorithm is ours to choose, never the token's: anything but
         * Ed25519 (none, HS256 with the public key as secret, RS256...) is
         * refused before a key is even looked up. */
        if (!streq(alg, AGENTID_JWT_ALG) && !streq(alg, AGENTID_JWT_ALG_FULLY_SPECIFIED)) {
                r = fail(JWT_BAD_ALG, why, why_size, "\"%.32s\" (only %s or %s)", alg, AGENTID_JWT_ALG,
                         AGENTID_JWT_ALG_FULLY_SPECIFIED);
                goto out;
        }
        /* We implement no extensions, so none can be critical. */
        if (json_object_get(header, "crit")) {
                r = fail(JWT_MALFORMED, why, why_size, "unsupported crit header");
                goto out;
        }
        v = json_object_get(header, "typ");
        /* RFC 7515 4.1.9: "application/" may be left out of a media type. */
        typ = string_ok(v) ? json_string_value(v) : NULL;
        if (typ && strncasecmp(typ, "application/", 12) == 0)
                typ += 12;
        if (!typ || strcasecmp(typ, e->typ) != 0) {
                r = fail(JWT_BAD_TYPE, why, why_size, "typ is not %s", e->typ);
                goto out;
        }
        v = json_object_get(header, "kid");
        if (!string_ok(v) || json_string_length(v) > AGENTID_KID_MAX) {
                r = fail(JWT_UNKNOWN_KID, why, why_size, "header has no valid kid");
                goto out;
        }
        kid = json_string_value(v);
        key = lookup(userdata, kid);
        if (!key) {
                r = fail(JWT_UNKNOWN_KID, why, why_size, "kid %.64s is not published", kid);
                goto out;
        }

        n = base64url_decode(dot2 + 1, len - (size_t) (dot2 + 1 - token), sig, sizeof(sig));
        if (n != ED25519_SIG_LEN) {
                r = fail(JWT_BAD_SIGNATURE, why, why_size, "signature is not 64 bytes of base64url");
                goto out;
        }
        if (!signature_seen(e->verified, token, len, key, &seen)) {
                ctx = EVP_MD_CTX_new();
                if (!ctx || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) != 1 ||
                    EVP_DigestVerify(ctx, sig, ED25519_SIG_LEN, (const uint8_t *) token, (size_t) (dot2 - token)) !=
                            1) {
                        r = fail(JWT_BAD_SIGNATURE, why, why_size, "does not verify with key %.64s", kid);
                        goto out;
                }
                signature_remember(e->verified, &seen);
        }

        /* Only now is the payload worth reading. */
        claims = segment_object(dot1 + 1, (size_t) (dot2 - dot1 - 1));
        if (!claims) {
                r = fail(JWT_MALFORMED, why, why_size, "payload is not a JSON object");
                goto out;
        }
        if (!string_ok(json_object_get(claims, subject_claim)) || !string_ok(json_object_get(claims, "jti")) ||
            json_string_length(json_object_get(claims, "jti")) > AGENTID_JTI_MAX) {
                r = fail(JWT_MALFORMED, why, why_size, "%s and jti must be strings", subject_claim);
                goto out;
        }
        v = json_object_get(claims, "iss");
        if (!string_ok(v) || !streq(json_string_value(v), e->issuer)) {
                r = fail(JWT_WRONG_ISSUER, why, why_size, "not issued by %.256s", e->issuer);
                goto out;
        }
        if (!audience_matches(json_object_get(claims, audience_claim), e->audience)) {
                r = fail(JWT_WRONG_AUDIENCE, why, why_size, "not for audience %.256s", e->audience);
                goto out;
        }
        if (numeric_date(claims, "exp", true, &exp) < 0 || numeric_date(claims, "nbf", false, &nbf) == -EINVAL ||
            numeric_date(claims, "iat", false, &iat) == -EINVAL) {
                r = fail(JWT_MALFORMED, why, why_size, "exp, nbf and iat must be non-negative integers");
                goto out;
        }
        /* exp: valid strictly before it (RFC 7519 4.1.4). */
        if (e->now >= exp + e->leeway) {
                r = fail(JWT_EXPIRED, why, why_size, "expired %llus ago", (unsigned long long) (e->now - exp));
                goto out;
        }
        if ((json_object_get(claims, "nbf") && nbf > e->now + e->leeway) ||
            (json_object_get(claims, "iat") && iat > e->now + e->leeway)) {
                r = fail(JWT_NOT_YET_VALID, why, why_size, "valid from a later time");
                goto out;
        }
        *ret_claims = TAKE_PTR(claims);
        r = JWT_OK;
out:
        json_decref(header);
        json_decref(claims);
        return r;
}

int jwt_hash(const char *token, size_t len, char *out, size_t size) {
        uint8_t md[32];
        unsigned md_len = 0;

        if (EVP_Digest(token, len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != sizeof(md))
                return -EIO;
        return base64url_encode(md, sizeof(md), out, size) < 0 ? -ENOBUFS : 0;
}

int jwk_thumbprint(const char *x, char *out, size_t size) {
        _cleanup_free_ char *canonical = NULL;

        /* RFC 7638: the required members only, sorted, no whitespace. */
        if (asprintf(&canonical, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x) < 0) {
                canonical = NULL;
                return -ENOMEM;
        }
        return jwt_hash(canonical, strlen(canonical), out, size);
}
