/* SPDX-License-Identifier: MIT */
/* URIs as tokens use them: audiences are RFC 8707 resource indicators
 * (absolute URIs, RFC 3986 section 4.3, without a fragment); the issuer is
 * an absolute URI without query or fragment (RFC 8414 section 2). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* An absolute URI of at most max bytes: a scheme, ':', and a non-empty rest
 * of URI characters only (percent-escapes well formed), no '#'. A query
 * ('?') only if allow_query. */
bool uri_is_absolute(const char *s, size_t max, bool allow_query);

/* An absolute URI whose scheme is https (or http for a loopback host,
 * 127.0.0.1, [::1] or localhost, for tests and local development), with
 * no query or fragment: what an OAuth issuer or metadata URL must be. */
bool uri_is_web_origin_url(const char *s, size_t max);
