/* SPDX-License-Identifier: MIT */
#include "protocol.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "agentid/protocol.h"
#include "duration.h"
#include "json-write.h"
#include "macro.h"

void protocol_request_done(struct protocol_request *r) {
        free(r->method);
        r->method = NULL;
        json_decref(r->parameters);
        r->parameters = NULL;
}

static bool method_name_is_valid(const char *m) {
        static const char prefix[] = "io.agentid.";
        size_t n = strlen(m);

        if (n <= sizeof(prefix) - 1 || n > 64 || strncmp(m, prefix, sizeof(prefix) - 1) != 0)
                return false;
        m += sizeof(prefix) - 1;
        if (!(*m >= 'A' && *m <= 'Z'))
                return false;
        for (; *m; m++)
                if (!((*m >= 'A' && *m <= 'Z') || (*m >= 'a' && *m <= 'z') || (*m >= '0' && *m <= '9')))
                        return false;
        return true;
}

int protocol_request_parse(const char *buf, size_t len, struct protocol_request *ret, const char **ret_why) {
        json_t *root = NULL, *method, *params;
        const char *key;
        json_t *value;
        json_error_t jerr;
        int r = -EINVAL;

        *ret_why = NULL;
        if (len > AGENTID_REQUEST_MAX) {
                *ret_why = "request exceeds the maximum message size";
                return -EMSGSIZE;
        }
        if (memchr(buf, '\0', len)) {
                *ret_why = "request contains a NUL byte";
                return -EINVAL;
        }
        /* Duplicate keys would let two readers of one message disagree. */
        root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                *ret_why = "request is not valid JSON";
                goto out;
        }
        if (!json_is_object(root)) {
                *ret_why = "request is not a JSON object";
                goto out;
        }
        json_object_foreach(root, key, value) {
                if (!streq(key, "method") && !streq(key, "parameters")) {
                        *ret_why = "request has an unknown top-level key";
                        goto out;
                }
        }
        method = json_object_get(root, "method");
        if (!json_is_string(method) || !method_name_is_valid(json_string_value(method))) {
                *ret_why = "request has no valid \"method\"";
                goto out;
        }
        params = json_object_get(root, "parameters");
        if (params && !json_is_object(params)) {
                *ret_why = "\"parameters\" is not an object";
                goto out;
        }
        ret->method = strdup(json_string_value(method));
        if (!ret->method) {
                r = -ENOMEM;
                goto out;
        }
        ret->parameters = params ? json_incref(params) : json_object();
        r = 0;
out:
        json_decref(root);
        return r;
}

static char *dump_frame(json_t *root, size_t *ret_len) {
        char *s;

        if (!root)
                return NULL;
        /* Compact, keys sorted, UTF-8 passed through; NUL can never appear
         * in the output because it is escaped as \u0000. What jansson's
         * json_dumps(JSON_COMPACT | JSON_SORT_KEYS) writes, at a tenth of
         * the instructions (common/json-write.h). */
        s = json_write_compact(root, ret_len);
        json_decref(root);
        return s;
}

char *protocol_request_format(const char *method, json_t *parameters, size_t *ret_len) {
        /* "o" steals: hand it a reference of its own either way. */
        return dump_frame(json_pack("{s:s, s:o}", "method", method, "parameters",
                                    parameters ? json_incref(parameters) : json_object()),
                          ret_len);
}

char *protocol_reply_format(json_t *parameters, size_t *ret_len) {
        return dump_frame(json_pack("{s:o}", "parameters", parameters ? json_incref(parameters) : json_object()),
                          ret_len);
}

char *protocol_error_format(const char *error, const char *message, json_t *extra, size_t *ret_len) {
        json_t *params = extra ? json_deep_copy(extra) : json_object();

        if (!params)
                return NULL;
        if (message)
                json_object_set_new(params, "message", json_string(message));
        return dump_frame(json_pack("{s:s, s:o}", "error", error, "parameters", params), ret_len);
}

int protocol_reply_parse(const char *buf, size_t len, json_t **ret_parameters, char **ret_error) {
        json_t *root, *params, *error;
        json_error_t jerr;
        int r = -EBADMSG;

        *ret_parameters = NULL;
        *ret_error = NULL;
        if (len > AGENTID_MESSAGE_MAX)
                return -EMSGSIZE;
        root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return -EBADMSG;
        if (!json_is_object(root))
                goto out;
        params = json_object_get(root, "parameters");
        error = json_object_get(root, "error");
        if (params && !json_is_object(params))
                goto out;
        if (error && !json_is_string(error))
                goto out;
        if (error) {
                *ret_error = strdup(json_string_value(error));
                if (!*ret_error) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        *ret_parameters = params ? json_incref(params) : json_object();
        r = 0;
out:
        json_decref(root);
        return r;
}

int json_get_string(json_t *obj, const char *key, const char **ret) {
        json_t *v = json_object_get(obj, key);

        if (!v || json_is_null(v))
                return -ENOENT;
        if (!json_is_string(v))
                return -EINVAL;
        /* jansson allows embedded NULs in strings; we never do. */
        if (strlen(json_string_value(v)) != json_string_length(v))
                return -EINVAL;
        *ret = json_string_value(v);
        return 0;
}

int json_get_uint(json_t *obj, const char *key, uint64_t max, uint64_t *ret) {
        json_t *v = json_object_get(obj, key);

        if (!v || json_is_null(v))
                return -ENOENT;
        if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t) json_integer_value(v) > max)
                return -EINVAL;
        *ret = (uint64_t) json_integer_value(v);
        return 0;
}

int json_get_bool(json_t *obj, const char *key, int *ret) {
        json_t *v = json_object_get(obj, key);

        if (!v || json_is_null(v))
                return -ENOENT;
        if (!json_is_boolean(v))
                return -EINVAL;
        *ret = json_is_true(v);
        return 0;
}

int json_get_duration(json_t *obj, const char *key, uint64_t *ret) {
        json_t *v = json_object_get(obj, key);
        const char *str;

        if (!v || json_is_null(v))
                return -ENOENT;
        if (json_is_integer(v)) {
                /* Whole seconds; a week of them is the most anything takes. */
                if (json_integer_value(v) <= 0 || json_integer_value(v) > UINT32_MAX)
                        return -ERANGE;
                *ret = (uint64_t) json_integer_value(v) * 1000000;
                return 0;
        }
        if (json_get_string(obj, key, &str) < 0)
                return -EINVAL;
        return duration_parse(str, ret);
}
