/* SPDX-License-Identifier: MIT */
/* A method's answer, and the one way to fail a request with a protocol
 * error. Handlers return 0 with reply->parameters set, or the negative
 * value of reply_fail() with reply->error set; everything below the
 * handlers returns 0 or a negative errno. */
#pragma once

#include <jansson.h>

struct reply {
        json_t *parameters;
        const char *error;
        char message[512];
};

/* Set the error name and message (dropping any parameters): -EPROTO. */
int reply_fail(struct reply *r, const char *error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Refuse parameters a method does not know (a typo must not pass as a
 * default). known ends with NULL. */
int params_check_known(json_t *params, const char *const *known, struct reply *reply);
