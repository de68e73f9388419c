/* SPDX-License-Identifier: MIT */
/* Discovery: the files the broker publishes in its runtime directory for
 * any web server to serve under the issuer URL (docs/tokens.md,
 * "Discovery"): jwks.json (keys.c), oauth-authorization-server.json (RFC
 * 8414 authorization server metadata) and statuslist.jwt (status-list.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct broker;

/* Whether the issuer is a web URL (https, or http on loopback), so that
 * the published files have URLs at all. */
bool discovery_enabled(const struct broker *b);

/* The URL of a published file: the issuer URL, '/', name. -ENOBUFS if it
 * does not fit, -ENOENT when discovery is off. */
int discovery_url(const struct broker *b, const char *name, char *buf, size_t size);

/* Write text (and a newline) to path atomically (a temporary file renamed
 * over it), mode 0644: world-readable, anyone may verify offline. */
int public_file_write(const char *path, const char *text);
/* The same for <runtime_dir>/name. */
int runtime_file_publish(const char *runtime_dir, const char *name, const char *text);

/* Write (or, with discovery off, remove) the authorization server
 * metadata. */
int discovery_publish(struct broker *b);
