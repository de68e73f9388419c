/* SPDX-License-Identifier: MIT */
#include "names.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
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

/* Returns the length of the UTF-8 sequence at s, or 0 if it is invalid
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static size_t utf8_sequence_length(const unsigned char *s) {
        uint32_t cp;
        size_t len;

        if (s[0] < 0x80)
                return 1;
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
        /* C1 control characters are as unwelcome in logs as C0 ones. */
        if (cp >= 0x80 && cp <= 0x9f)
                return 0;
        return len;
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
                size_t l;
                if (*p < 0x20 || *p == 0x7f)
                        return false;
                l = utf8_sequence_length(p);
                if (l == 0)
                        return false;
                p += l;
        }
        return true;
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
