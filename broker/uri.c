/* SPDX-License-Identifier: MIT */
#include "uri.h"

#include <string.h>
#include <strings.h>

static bool is_alpha(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_hex(char c) {
        return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* unreserved, sub-delims and the gen-delims other than '#' and '?'. */
static bool is_uri_char(char c) {
        return is_alpha(c) || is_digit(c) || (c && strchr("-._~!$&'()*+,;=:/@[]", c));
}

bool uri_is_absolute(const char *s, size_t max, bool allow_query) {
        size_t n = s ? strnlen(s, max + 1) : 0, k = 1;

        if (n == 0 || n > max || !is_alpha(s[0]))
                return false;
        while (k < n && (is_alpha(s[k]) || is_digit(s[k]) || s[k] == '+' || s[k] == '-' || s[k] == '.'))
                k++;
        if (k >= n || s[k] != ':' || k + 1 == n)
                return false;
        for (k++; k < n; k++) {
                if (s[k] == '%') {
                        if (k + 2 >= n || !is_hex(s[k + 1]) || !is_hex(s[k + 2]))
                                return false;
                        k += 2;
                } else if (s[k] == '?') {
                        if (!allow_query)
                                return false;
                } else if (!is_uri_char(s[k]))
                        return false;
        }
        return true;
}

bool uri_is_web_origin_url(const char *s, size_t max) {
        static const char *const loopback[] = { "localhost", "127.0.0.1", "[::1]" };
        const char *host, *end;
        size_t len;

        if (!uri_is_absolute(s, max, false))
                return false;
        if (strncasecmp(s, "https://", 8) == 0)
                host = s + 8;
        else if (strncasecmp(s, "http://", 7) == 0)
                host = s + 7;
        else
                return false;
        end = host + strcspn(host, "/");
        if (end == host || memchr(host, '@', (size_t) (end - host)))
                return false; /* no host, or userinfo */
        if (host == s + 8)
                return true;
        /* http: loopback only, with or without a port. */
        for (size_t k = 0; k < sizeof(loopback) / sizeof(loopback[0]); k++) {
                len = strlen(loopback[k]);
                if ((size_t) (end - host) >= len && strncasecmp(host, loopback[k], len) == 0 &&
                    (host + len == end || host[len] == ':'))
                        return true;
        }
        return false;
}
