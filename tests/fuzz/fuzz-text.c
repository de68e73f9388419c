/* SPDX-License-Identifier: MIT */
/* libFuzzer target: durations, names and free-text validation, the
 * parsers every parameter passes through. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentid/limits.h"
#include "duration.h"
#include "names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1), buf[64];
        uint64_t usec;

        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        if (duration_parse(s, &usec) == 0)
                (void) duration_format(usec, buf, sizeof(buf));
        /* A valid agent name is always a valid user name, and short. */
        if (agent_name_is_valid(s) && (!unix_name_is_valid(s) || strlen(s) > AGENTID_NAME_MAX))
                abort();
        if (template_name_is_valid(s) && strlen(s) > AGENTID_TEMPLATE_NAME_MAX)
                abort();
        /* Accepted text never carries control characters. */
        if (text_is_valid(s, AGENTID_REASON_MAX))
                for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                        if (*p < 0x20 || *p == 0x7f)
                                abort();
        /* Escaped text is printable ASCII plus valid, non-deceptive UTF-8;
         * accepted text escapes to itself, and escaping is idempotent. */
        {
                char *e = text_escape(s), *ee = e ? text_escape(e) : NULL;
                if (e && ee) {
                        if (strchr(e, '\x1b') || strchr(e, '\n') || (strlen(s) && text_is_valid(s, size) && strcmp(e, s)) ||
                            strcmp(e, ee))
                                abort();
                        if (*e && !text_is_valid(e, 4 * size + 1))
                                abort();
                }
                free(e);
                free(ee);
        }
        free(s);
        return 0;
}
