/* SPDX-License-Identifier: MIT */
/* Token codec throughput on one core: tokens signed/s and verified/s, with
 * claims shaped like the broker's. The broker adds a durable commit (the
 * jti row and the event) to each issue; see bench-mint for that cost.
 *
 *   bench-token [SECONDS]   (default 2) */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64url.h"
#include "duration.h"
#include "jwt.h"

static EVP_PKEY *key;

static EVP_PKEY *lookup(void *userdata, const char *kid) {
        return strcmp(kid, "bench") == 0 ? key : NULL;
}

int main(int argc, char **argv) {
        double seconds = argc > 1 ? atof(argv[1]) : 2.0;
        uint64_t now = now_usec() / 1000000, start, n_sign = 0, n_verify = 0;
        struct jwt_expect e = { .typ = "JWT", .issuer = "agentid:bench", .audience = "mcp://tickets", .now = now };
        char *token = NULL;
        double verify_rate;
        json_t *claims;

        key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:I, s:s, s:s, s:s, s:{s:s, s:I, s:{s:s}}}", "iss",
                           "agentid:bench", "sub", "ag-triage-k3x9p2", "aud", "mcp://tickets", "iat", (json_int_t) now,
                           "nbf", (json_int_t) now, "exp", (json_int_t) now + 300, "jti", "0123456789abcdefghijkl",
                           "uid", (json_int_t) 1879048192, "template", "triage", "scope", "tickets:read tickets:write",
                           "owner", "root", "act", "sub", "root", "uid", (json_int_t) 0, "act", "sub",
                           "alice@example.com");
        if (!key || !claims)
                return 1;

        start = now_usec();
        while (now_usec() - start < (uint64_t) (seconds * 1e6)) {
                free(token);
                token = NULL;
                if (jwt_sign(key, "bench", "JWT", claims, &token) < 0)
                        return 1;
                n_sign++;
        }
        printf("tokens signed:   %8.0f/s per core (%zu bytes each)\n",
               (double) n_sign * 1e6 / (double) (now_usec() - start), strlen(token));

        start = now_usec();
        while (now_usec() - start < (uint64_t) (seconds * 1e6)) {
                json_t *got = NULL;
                if (jwt_verify(token, strlen(token), lookup, NULL, &e, &got, NULL, 0) != JWT_OK)
                        return 1;
                json_decref(got);
                n_verify++;
        }
        verify_rate = (double) n_verify * 1e6 / (double) (now_usec() - start);
        printf("tokens verified: %8.0f/s per core (signature and claims, no store lookup)\n", verify_rate);
        {
                /* Baseline: the bare Ed25519 verification of the same signed
                 * text, which sets the floor of a first verification. */
                const char *dot2 = strrchr(token, '.');
                uint8_t sig[64];
                uint64_t n_raw = 0, n_memo = 0;
                double raw_rate;
                static struct jwt_verified memo;

                if (!dot2 || base64url_decode(dot2 + 1, strlen(dot2 + 1), sig, sizeof(sig)) != (int) sizeof(sig))
                        return 1;
                start = now_usec();
                while (now_usec() - start < (uint64_t) (seconds * 1e6)) {
                        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
                        if (!ctx || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) != 1 ||
                            EVP_DigestVerify(ctx, sig, sizeof(sig), (const uint8_t *) token, (size_t) (dot2 - token)) !=
                                    1)
                                return 1;
                        EVP_MD_CTX_free(ctx);
                        n_raw++;
                }
                raw_rate = (double) n_raw * 1e6 / (double) (now_usec() - start);
                printf("baseline: bare Ed25519 verifications %8.0f/s per core; token verification = %.2fx of it\n",
                       raw_rate, verify_rate / raw_rate);
                /* The broker's VerifyToken keeps a memo of signatures that
                 * verified: a token presented again skips the Ed25519 step. */
                e.verified = &memo;
                start = now_usec();
                while (now_usec() - start < (uint64_t) (seconds * 1e6)) {
                        json_t *got = NULL;
                        if (jwt_verify(token, strlen(token), lookup, NULL, &e, &got, NULL, 0) != JWT_OK)
                                return 1;
                        json_decref(got);
                        n_memo++;
                }
                printf("tokens verified again (memo of verified signatures): %8.0f/s per core = %.1fx a first "
                       "verification\n",
                       (double) n_memo * 1e6 / (double) (now_usec() - start),
                       (double) n_memo * 1e6 / (double) (now_usec() - start) / verify_rate);
        }
        free(token);
        json_decref(claims);
        EVP_PKEY_free(key);
        return 0;
}
