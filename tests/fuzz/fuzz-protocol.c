/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the wire protocol decoder, both directions. Any input
 * must be refused or accepted cleanly, and an accepted request must
 * re-encode to something that decodes to the same request. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct protocol_request req = {}, again = {};
        json_t *params = NULL;
        char *error = NULL, *s;
        const char *why;
        size_t len;

        if (protocol_request_parse((const char *) data, size, &req, &why) == 0) {
                s = protocol_request_format(req.method, req.parameters, &len);
                if (!s || protocol_request_parse(s, len, &again, &why) != 0 || strcmp(again.method, req.method) != 0 ||
                    !json_equal(again.parameters, req.parameters))
                        abort();
                free(s);
                protocol_request_done(&again);
                protocol_request_done(&req);
        }
        if (protocol_reply_parse((const char *) data, size, &params, &error) == 0) {
                json_decref(params);
                free(error);
        }
        return 0;
}
