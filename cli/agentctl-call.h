/* SPDX-License-Identifier: MIT */
/* agentctl's round trip to the broker, shared by all its commands. */
#pragma once

#include <jansson.h>

/* Send one request (params is not stolen; NULL for none). Returns 0 with
 * *ret the reply's parameters (new reference), or 1 after printing one line
 * on stderr that names the cause. */
int agentctl_call(const char *socket, const char *method, json_t *params, json_t **ret);

/* Print v as indented JSON with sorted keys (--json). */
void agentctl_print_json(json_t *v);

/* Text received from the broker, fit for a terminal: escaped by the shared
 * rule (text_escape_to, common/names.c), so no control, bidi or zero-width
 * character reaches the screen raw. NULL gives "-". The result lives in
 * one of a few rotating buffers: use it within the next few calls. */
const char *agentctl_text(const char *s);
