/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static const char *log_ident = "agentid";
static bool log_prefix_priority;

void log_setup(const char *ident) {
        log_ident = ident;
        /* journald sets JOURNAL_STREAM when stderr is connected to it. */
        log_prefix_priority = getenv("JOURNAL_STREAM") != NULL;
}

void log_msg(int priority, const char *fmt, ...) {
        va_list ap;

        if (priority == LOG_DEBUG && !getenv("AGENTID_DEBUG"))
                return;
        va_start(ap, fmt);
        if (log_prefix_priority)
                fprintf(stderr, "<%d>", priority);
        else
                fprintf(stderr, "%s: ", log_ident);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}
