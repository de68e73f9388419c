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
        printf("tokens verified: %8.0f/s per core (signature and claims, no store lookup)\n",
               (double) n_verify * 1e6 / (double) (now_usec() - start));
        free(token);
        json_decref(claims);
        EVP_PKEY_free(key);
        return 0;
}
