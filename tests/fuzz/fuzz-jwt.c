/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the token codec. Input starting with 0x01 is taken as
 * a payload (the rest) that is signed with a valid header first, so claim
 * parsing behind the signature check is fuzzed too; any other input is a
 * token as an attacker would send it. Nothing may crash, and a token that
 * verifies must carry the claims it was checked for. */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

static EVP_PKEY *key;

static EVP_PKEY *lookup(void *userdata, const char *kid) {
        (void) userdata;
        return kid && strcmp(kid, "k1") == 0 ? key : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const struct jwt_expect expect = {
                .typ = "JWT", .issuer = "agentid:fuzz", .audience = "aud", .now = 1800000000, .leeway = 30,
        };
        char *token = NULL, *payload, why[256];
        json_t *claims = NULL;

        if (!key && !(key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")))
                abort();
        if (size > 0 && data[0] == 0x01) {
                payload = strndup((const char *) data + 1, size - 1);
                if (payload && jwt_sign_raw(key, "{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"typ\":\"JWT\"}", payload, &token) == 0) {
                        if (jwt_verify(token, strlen(token), lookup, NULL, &expect, &claims, why, sizeof(why)) == JWT_OK) {
                                if (!json_is_string(json_object_get(claims, "sub")) ||
                                    strcmp(json_string_value(json_object_get(claims, "iss")), "agentid:fuzz") != 0)
                                        abort();
                                json_decref(claims);
                        }
                        free(token);
                }
                free(payload);
                return 0;
        }
        if (jwt_verify((const char *) data, size, lookup, NULL, &expect, &claims, why, sizeof(why)) == JWT_OK)
                abort(); /* no key signed it: it cannot verify */
        return 0;
}
