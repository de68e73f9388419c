/* SPDX-License-Identifier: MIT */
/* Naming rules for agents, templates and free text fields. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* Characters that make text read as something it is not: controls (C0,
 * DEL, C1), Unicode format characters (category Cf: bidi overrides,
 * embeddings and isolates, zero-width spaces and joiners, the BOM, tags)
 * and the line/paragraph separators. */
bool codepoint_is_deceptive(uint32_t cp);

/* Free text (reasons, on-behalf-of, audiences, paths, ...): valid UTF-8,
 * none of the deceptive characters above, 1..max bytes. */
bool text_is_valid(const char *s, size_t max);

/* The one escaping rule for caller-controlled text on its way to an
 * event, journald, a log line or a terminal: every byte of a deceptive
 * character or of invalid UTF-8 becomes \xNN, the rest is copied. Never
 * more than 4x as long, and idempotent: text already escaped (by this rule
 * or the exec trail's quoting) passes unchanged, so escaping again at every
 * exit (audit_record, log_msg, agentctl) never doubles anything.
 * text_escape_to() writes into buf (truncating at a whole character) and
 * returns the length; text_escape() returns a malloc'd copy (NULL: out of
 * memory); NULL input is "". */
size_t text_escape_to(const char *s, char *buf, size_t size);
char *text_escape(const char *s);

/* Build "<prefix><template>-<random>" into buf (AGENTID_NAME_MAX + 1 bytes).
 * Returns 0 or a negative errno. */
int agent_name_generate(const char *prefix, const char *template_name, char *buf, size_t size);
