/* SPDX-License-Identifier: MIT */
#include "names.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "agentid/limits.h"

static bool is_lower_alnum_dash(const char *s, size_t max) {
        size_t n = 0;

        if (!s || !(*s >= 'a' && *s <= 'z'))
                return false;
        for (; *s; s++, n++) {
                if (n >= max)
                        return false;
                if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
                        return false;
        }
        return true;
}

bool template_name_is_valid(const char *s) {
        return is_lower_alnum_dash(s, AGENTID_TEMPLATE_NAME_MAX);
}

bool name_prefix_is_valid(const char *s) {
        return is_lower_alnum_dash(s, AGENTID_PREFIX_MAX);
}

bool unix_name_is_valid(const char *s) {
        size_t n;

        if (!s || !*s)
                return false;
        n = strlen(s);
        if (n > AGENTID_NAME_MAX)
                return false;
        if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++) {
                char c = s[i];
                if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')
                        continue;
                if (c == '$' && i == n - 1)
                        continue;
                return false;
        }
        return true;
}

bool agent_name_is_valid(const char *s) {
        /* Agents never end in '$' (Samba machine accounts do). */
        return unix_name_is_valid(s) && s[strlen(s) - 1] != '$';
}

/* Decode the UTF-8 sequence at s: its length and code point, or 0 if it
 * is invalid (overlong forms, surrogates and code points above U+10FFFF
 * included). */
static size_t utf8_decode(const unsigned char *s, uint32_t *ret_cp) {
        uint32_t cp;
        size_t len;

        if (s[0] < 0x80) {
                *ret_cp = s[0];
                return 1;
        }
        if ((s[0] & 0xe0) == 0xc0) {
                len = 2;
                cp = s[0] & 0x1f;
        } else if ((s[0] & 0xf0) == 0xe0) {
                len = 3;
                cp = s[0] & 0x0f;
        } else if ((s[0] & 0xf8) == 0xf0) {
                len = 4;
                cp = s[0] & 0x07;
        } else
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        *ret_cp = cp;
        return len;
}

bool codepoint_is_deceptive(uint32_t cp) {
        /* Controls: C0, DEL, C1. Below the first range (U+00AD) nothing
         * else is: the common case, ASCII, answered without the table. */
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
                return true;
        if (cp < 0xad)
                return false;
        /* Unicode general category Cf (format: bidi embeddings, overrides
         * and isolates, zero-width characters, joiners, BOM, invisible
         * operators, tags) and the line and paragraph separators: text
         * that reads as something other than what it is, or reorders what
         * follows it on screen. */
        static const struct {
                uint32_t first, last;
        } ranges[] = {
                { 0x00ad, 0x00ad },   { 0x0600, 0x0605 },   { 0x061c, 0x061c },   { 0x06dd, 0x06dd },
                { 0x070f, 0x070f },   { 0x0890, 0x0891 },   { 0x08e2, 0x08e2 },   { 0x180e, 0x180e },
                { 0x200b, 0x200f },   { 0x2028, 0x202e },   { 0x2060, 0x2064 },   { 0x2066, 0x206f },
                { 0xfeff, 0xfeff },   { 0xfff9, 0xfffb },   { 0x110bd, 0x110bd }, { 0x110cd, 0x110cd },
                { 0x13430, 0x1343f }, { 0x1bca0, 0x1bca3 }, { 0x1d173, 0x1d17a }, { 0xe0001, 0xe0001 },
                { 0xe0020, 0xe007f },
        };
        for (size_t k = 0; k < sizeof(ranges) / sizeof(ranges[0]); k++)
                if (cp >= ranges[k].first && cp <= ranges[k].last)
                        return true;
        return false;
}

bool text_is_valid(const char *s, size_t max) {
        const unsigned char *p = (const unsigned char *) s;
        size_t n;

        if (!s || !*s)
                return false;
        n = strnlen(s, max + 1);
        if (n > max)
                return false;
        while (*p) {
                uint32_t cp;
                size_t l = utf8_decode(p, &cp);
                if (l == 0 || codepoint_is_deceptive(cp))
                        return false;
                p += l;
        }
        return true;
}

size_t text_escape_to(const char *s, char *buf, size_t size) {
        static const char hex[] = "0123456789abcdef";
        const unsigned char *p = (const unsigned char *) (s ? s : "");
        size_t o = 0;

        if (size == 0)
                return 0;
        while (*p) {
                uint32_t cp;
                size_t l = utf8_decode(p, &cp);
                bool escape = l == 0 || codepoint_is_deceptive(cp);

                if (l == 0)
                        l = 1; /* an invalid byte is escaped alone */
                if (escape) {
                        if (o + 4 * l >= size)
                                break;
                        for (size_t k = 0; k < l; k++) {
                                buf[o++] = '\\';
                                buf[o++] = 'x';
                                buf[o++] = hex[p[k] >> 4];
                                buf[o++] = hex[p[k] & 0xf];
                        }
                } else {
                        if (o + l >= size)
                                break;
                        memcpy(buf + o, p, l);
                        o += l;
                }
                p += l;
        }
        buf[o] = '\0';
        return o;
}

char *text_escape(const char *s) {
        size_t size = 4 * strlen(s ? s : "") + 1;
        char *buf = malloc(size);

        if (buf)
                text_escape_to(s, buf, size);
        return buf;
}

int agent_name_generate(const char *prefix, const char *template_name, char *buf, size_t size) {
        /* No vowels (no words), no look-alikes (0/o, 1/l). */
        static const char alphabet[] = "bcdfghjkmnpqrstvwxz23456789";
        const unsigned limit = 256 - 256 % (sizeof(alphabet) - 1);
        char suffix[AGENTID_RANDOM_SUFFIX_LEN + 1];
        size_t have = 0;
        int n;

        if (!name_prefix_is_valid(prefix) || !template_name_is_valid(template_name))
                return -EINVAL;
        while (have < AGENTID_RANDOM_SUFFIX_LEN) {
                uint8_t rnd[16];
                if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
                        return -EIO;
                /* Rejection sampling keeps every symbol equally likely. */
                for (size_t i = 0; i < sizeof(rnd) && have < AGENTID_RANDOM_SUFFIX_LEN; i++)
                        if (rnd[i] < limit)
                                suffix[have++] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
        }
        suffix[have] = '\0';

        n = snprintf(buf, size, "%s%s-%s", prefix, template_name, suffix);
        if (n < 0 || (size_t) n >= size || (size_t) n > AGENTID_NAME_MAX)
                return -ENAMETOOLONG;
        return agent_name_is_valid(buf) ? 0 : -EINVAL;
}
