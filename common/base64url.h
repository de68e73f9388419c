/* SPDX-License-Identifier: MIT */
/* base64url without padding (RFC 4648 section 5, as JWS uses it, RFC 7515
 * section 2). Decoding is strict: one encoding per byte string. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Characters needed to encode n bytes, without the NUL. */
#define BASE64URL_ENCODED_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))
/* Bytes that decoding len characters can produce, at most. */
#define BASE64URL_DECODED_MAX(len) (((len) / 4) * 3 + 2)

/* Encode into out (size >= BASE64URL_ENCODED_LEN(n) + 1), NUL-terminated.
 * Returns the length, or -ENOBUFS. */
int base64url_encode(const void *in, size_t n, char *out, size_t size);

/* Encode into a new string (NULL on allocation failure). */
char *base64url_encode_alloc(const void *in, size_t n);

/* Decode exactly len characters into out. Refuses ('-EINVAL') padding,
 * characters outside the URL-safe alphabet, impossible lengths (len % 4
 * == 1) and non-zero trailing bits, so that no two inputs decode to the
 * same bytes. Returns the number of bytes, or -EINVAL / -ENOBUFS. */
int base64url_decode(const char *in, size_t len, uint8_t *out, size_t size);
