/* SPDX-License-Identifier: MIT */
#include "base64url.h"

#include <errno.h>
#include <stdlib.h>

static const char alphabet[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int base64url_encode(const void *in, size_t n, char *out, size_t size) {
        const uint8_t *p = in;
        size_t need = BASE64URL_ENCODED_LEN(n), o = 0, k;

        if (n > (size_t) INT32_MAX / 2 || size < need + 1)
                return -ENOBUFS;
        for (k = 0; k + 3 <= n; k += 3) {
                uint32_t v = (uint32_t) p[k] << 16 | (uint32_t) p[k + 1] << 8 | p[k + 2];
                out[o++] = alphabet[v >> 18 & 63];
                out[o++] = alphabet[v >> 12 & 63];
                out[o++] = alphabet[v >> 6 & 63];
                out[o++] = alphabet[v & 63];
        }
        if (n - k == 1) {
                uint32_t v = (uint32_t) p[k] << 16;
                out[o++] = alphabet[v >> 18 & 63];
                out[o++] = alphabet[v >> 12 & 63];
        } else if (n - k == 2) {
                uint32_t v = (uint32_t) p[k] << 16 | (uint32_t) p[k + 1] << 8;
                out[o++] = alphabet[v >> 18 & 63];
                out[o++] = alphabet[v >> 12 & 63];
                out[o++] = alphabet[v >> 6 & 63];
        }
        out[o] = '\0';
        return (int) o;
}

char *base64url_encode_alloc(const void *in, size_t n) {
        size_t size = BASE64URL_ENCODED_LEN(n) + 1;
        char *s = malloc(size);

        if (s && base64url_encode(in, n, s, size) < 0) {
                free(s);
                return NULL;
        }
        return s;
}

static int value_of(char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '-')
                return 62;
        if (c == '_')
                return 63;
        return -1;
}

int base64url_decode(const char *in, size_t len, uint8_t *out, size_t size) {
        size_t o = 0, k, rest = len % 4;
        uint32_t v = 0;

        /* One leftover character carries only 6 bits: no byte fits. */
        if (rest == 1 || len > (size_t) INT32_MAX)
                return -EINVAL;
        if (size < (len / 4) * 3 + (rest ? rest - 1 : 0))
                return -ENOBUFS;
        for (k = 0; k < len; k++) {
                int d = value_of(in[k]);
                if (d < 0)
                        return -EINVAL;
                v = v << 6 | (uint32_t) d;
                if (k % 4 == 3) {
                        out[o++] = (uint8_t) (v >> 16);
                        out[o++] = (uint8_t) (v >> 8);
                        out[o++] = (uint8_t) v;
                        v = 0;
                }
        }
        /* The unused low bits of the last character must be zero, or
         * "AB" and "AC" would both decode to the same byte. */
        if (rest == 2) {
                if (v & 0xf)
                        return -EINVAL;
                out[o++] = (uint8_t) (v >> 4);
        } else if (rest == 3) {
                if (v & 0x3)
                        return -EINVAL;
                out[o++] = (uint8_t) (v >> 10);
                out[o++] = (uint8_t) (v >> 2);
        }
        return (int) o;
}
