/* SPDX-License-Identifier: MIT */
/* Encoding and decoding of agentid protocol messages (see
 * include/agentid/protocol.h for the wire format and limits). */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* A json_t reference dropped when its variable goes out of scope
 * (json_decrefp comes with jansson). */
#define _cleanup_json_ _cleanup_(json_decrefp)

struct protocol_request {
        char *method;       /* "io.agentid.X" */
        json_t *parameters; /* always an object, possibly empty */
};

void protocol_request_done(struct protocol_request *r);

/* Decode one request (without its terminating NUL). On failure returns
 * -EINVAL/-EMSGSIZE and sets *ret_why to a static description. */
int protocol_request_parse(const char *buf, size_t len, struct protocol_request *ret, const char **ret_why);

/* Encode a request or reply into a newly allocated, NUL-terminated string;
 * *ret_len excludes the NUL (which is part of the frame). Steals nothing. */
char *protocol_request_format(const char *method, json_t *parameters, size_t *ret_len);
char *protocol_reply_format(json_t *parameters, size_t *ret_len);
char *protocol_error_format(const char *error, const char *message, json_t *extra, size_t *ret_len);

/* Decode a reply. On success *ret_parameters is set (new reference) and
 * *ret_error is NULL or the error name (newly allocated). */
int protocol_reply_parse(const char *buf, size_t len, json_t **ret_parameters, char **ret_error);

/* Typed parameter access; -ENOENT if absent, -EINVAL if of the wrong type. */
int json_get_string(json_t *obj, const char *key, const char **ret);
int json_get_uint(json_t *obj, const char *key, uint64_t max, uint64_t *ret);
int json_get_bool(json_t *obj, const char *key, int *ret);
/* A duration given as a string ("90s", "5m", "1h30m") or whole seconds. */
int json_get_duration(json_t *obj, const char *key, uint64_t *ret);
