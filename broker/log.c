/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "names.h"

static const char *log_ident = "agentid";
static bool log_prefix_priority;

void log_setup(const char *ident) {
        log_ident = ident;
        /* journald sets JOURNAL_STREAM when stderr is connected to it. */
        log_prefix_priority = getenv("JOURNAL_STREAM") != NULL;
}

void log_msg(int priority, const char *fmt, ...) {
        va_list ap;
        char line[2048], clean[4 * sizeof(line)];

        if (priority == LOG_DEBUG && !getenv("AGENTID_DEBUG"))
                return;
        /* Log lines quote callers (names, methods, reasons): escaped by the
         * shared rule, so a newline cannot forge a second line nor ESC
         * reach a terminal reading the log. */
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        text_escape_to(line, clean, sizeof(clean));
        if (log_prefix_priority)
                fprintf(stderr, "<%d>%s\n", priority, clean);
        else
                fprintf(stderr, "%s: %s\n", log_ident, clean);
}
