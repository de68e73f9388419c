/* SPDX-License-Identifier: MIT */
/* JSON Web Tokens signed with Ed25519 (RFC 7515 compact serialization,
 * RFC 8037 EdDSA): signing, and verification that trusts nothing in the
 * token before its signature has been checked against a key we chose. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evp_pkey_st; /* OpenSSL's EVP_PKEY */

enum jwt_error {
        JWT_OK = 0,
        JWT_TOO_LARGE,      /* longer than AGENTID_TOKEN_MAX */
        JWT_MALFORMED,      /* not three base64url segments of JSON objects, bad claim types */
        JWT_BAD_ALG,        /* alg other than EdDSA/Ed25519 (none, HS256, RS256...) */
        JWT_BAD_TYPE,       /* typ is not the one expected (a grant used as a token...) */
        JWT_UNKNOWN_KID,    /* no published key by that kid */
        JWT_BAD_SIGNATURE,  /* signature does not verify */
        JWT_WRONG_ISSUER,
        JWT_WRONG_AUDIENCE,
        JWT_EXPIRED,
        JWT_NOT_YET_VALID,  /* nbf or iat in the future (beyond the leeway) */
        _JWT_ERROR_MAX,
};

const char *jwt_error_to_string(enum jwt_error e);

/* The public key for a kid, or NULL. Owned by the lookup's owner. */
typedef struct evp_pkey_st *(*jwt_key_lookup_fn)(void *userdata, const char *kid);

/* Signatures that verified before. An Ed25519 verification is about 80%
 * of a VerifyToken's instructions, and the same token comes back at every
 * login of its agent (sshd, sudo): a token seen again skips it. Keyed by
 * the SHA-256 of the whole token (signed text and signature) and the key's
 * public bytes; only verifications that succeeded enter, so presenting
 * garbage cannot evict much of anything but garbage's neighbours, and a
 * miss only costs the verification it would have cost anyway. Everything
 * else (header, kid lookup, claims, expiry) is checked every time. */
#define JWT_VERIFIED_SLOTS 256
struct jwt_verified {
        struct {
                uint8_t digest[32];
                uint8_t key[32];
                bool used;
        } slot[JWT_VERIFIED_SLOTS];
};

struct jwt_expect {
        const char *typ;      /* required header typ (case-insensitive, "application/" optional) */
        const char *issuer;   /* iss must equal this */
        const char *audience; /* the audience claim must be, or contain, this */
        /* Claim names: the audience ("aud" when NULL) and the claim naming
         * who the credential is for (a non-empty string; "sub" when NULL). */
        const char *audience_claim, *subject_claim;
        uint64_t now;         /* seconds since the epoch */
        uint64_t leeway;      /* seconds of clock skew tolerated */
        struct jwt_verified *verified; /* NULL: verify every signature */
};

/* Sign claims into a compact token with header {alg, kid, typ}. Returns 0
 * with *ret a new string, or -ENOMEM / -E2BIG / -EIO. */
int jwt_sign(struct evp_pkey_st *key, const char *kid, const char *typ, json_t *claims, char **ret);

/* Sign arbitrary header and payload JSON texts (tests build hostile tokens
 * with it; the broker only uses jwt_sign). */
int jwt_sign_raw(struct evp_pkey_st *key, const char *header, const char *payload, char **ret);

/* Verify a compact token: size, shape, strict base64url, header (alg, typ,
 * no crit), kid, signature, then claims (iss, audience, exp, nbf, iat, and
 * that the subject claim and jti are strings). On JWT_OK *ret_claims is a new reference to the
 * payload; otherwise why (if given) says what was wrong. */
enum jwt_error jwt_verify(const char *token, size_t len, jwt_key_lookup_fn lookup, void *userdata,
                          const struct jwt_expect *expect, json_t **ret_claims, char *why, size_t why_size);

/* SHA-256 of the token text, base64url: what the store keeps instead of
 * the token. out must hold 44 bytes. */
int jwt_hash(const char *token, size_t len, char *out, size_t size);

/* The RFC 7638 thumbprint of an Ed25519 public key (base64url x): kid. */
int jwk_thumbprint(const char *x, char *out, size_t size);
