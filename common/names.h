/* SPDX-License-Identifier: MIT */
/* Naming rules for agents, templates and free text fields. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Template names: [a-z][a-z0-9-]*, at most AGENTID_TEMPLATE_NAME_MAX. */
bool template_name_is_valid(const char *s);

/* Name prefixes: [a-z][a-z0-9-]*, at most AGENTID_PREFIX_MAX. */
bool name_prefix_is_valid(const char *s);

/* Agent names: a portable POSIX user name ([a-z_][a-z0-9_-]*), at most
 * AGENTID_NAME_MAX, and never all digits (would read as a uid). */
bool agent_name_is_valid(const char *s);

/* Unix user/group names as useradd(8) accepts them by default on Debian:
 * [a-z_][a-z0-9_-]*[$]?, at most 32 bytes. */
bool unix_name_is_valid(const char *s);

/* Free text (reasons, on-behalf-of): valid UTF-8, no control characters,
 * 1..max bytes. */
bool text_is_valid(const char *s, size_t max);

/* Build "<prefix><template>-<random>" into buf (AGENTID_NAME_MAX + 1 bytes).
 * Returns 0 or a negative errno. */
int agent_name_generate(const char *prefix, const char *template_name, char *buf, size_t size);
