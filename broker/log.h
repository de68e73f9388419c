/* SPDX-License-Identifier: MIT */
/* Diagnostics to stderr; under systemd each line carries a syslog priority
 * prefix so journald files it at the right level. Audit events do not go
 * through here: see audit.c. */
#pragma once

#include <syslog.h>

void log_setup(const char *ident);
void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
