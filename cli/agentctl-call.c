/* SPDX-License-Identifier: MIT */
#include "agentctl-call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "macro.h"
#include "names.h"
#include "protocol.h"

/* Generous: a revoke of every agent on a busy host takes a while. */
#define CALL_TIMEOUT_MS 30000

int agentctl_call(const char *socket, const char *method, json_t *params, json_t **ret) {
        const char *path = agentid_socket_path(socket), *msg = NULL;
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *error = NULL;
        json_t *reply = NULL;
        int r;

        fd = agentid_connect(path, CALL_TIMEOUT_MS);
        if (fd < 0) {
                fprintf(stderr, "agentctl: cannot reach the broker at %s: %s (is agentidd running?)\n", path,
                        strerror(-fd));
                return 1;
        }
        r = agentid_call(fd, method, params, CALL_TIMEOUT_MS, &reply, &error);
        if (r < 0) {
                fprintf(stderr, "agentctl: %s: %s\n", method, strerror(-r));
                return 1;
        }
        if (error) {
                (void) json_get_string(reply, "message", &msg);
                fprintf(stderr, "agentctl: %s (%s)\n", msg ? agentctl_text(msg) : "request failed",
                        agentctl_text(error));
                json_decref(reply);
                return 1;
        }
        *ret = reply;
        return 0;
}

const char *agentctl_text(const char *s) {
        static char bufs[16][4 * 1024 + 1];
        static unsigned next;
        char *buf = bufs[next++ % ELEMENTSOF(bufs)];

        if (!s)
                return "-";
        text_escape_to(s, buf, sizeof(bufs[0]));
        return buf;
}

void agentctl_print_json(json_t *v) {
        /* JSON_ENSURE_ASCII: every non-ASCII character as \uXXXX (jansson
         * already escapes C0 controls), so no bidi or zero-width character
         * reaches the terminal raw. */
        char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        if (s)
                puts(s);
        free(s);
}
