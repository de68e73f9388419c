/* SPDX-License-Identifier: MIT */
#include "reply.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "agentid/protocol.h"
#include "macro.h"

int reply_fail(struct reply *r, const char *error, const char *fmt, ...) {
        va_list ap;

        json_decref(r->parameters);
        r->parameters = NULL;
        r->error = error;
        va_start(ap, fmt);
        vsnprintf(r->message, sizeof(r->message), fmt, ap);
        va_end(ap);
        return -EPROTO;
}

int params_check_known(json_t *params, const char *const *known, struct reply *reply) {
        const char *key;
        json_t *value;

        json_object_foreach(params, key, value) {
                bool ok = false;
                for (const char *const *k = known; *k; k++)
                        if (streq(*k, key)) {
                                ok = true;
                                break;
                        }
                if (!ok)
                        return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "unknown parameter \"%.64s\"",
                                          key);
        }
        return 0;
}
