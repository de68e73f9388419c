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
