/* SPDX-License-Identifier: MIT */
#include "ini-file.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "macro.h"

struct parse_state {
        FILE *f;
        unsigned line; /* line inih is currently looking at */
        ini_key_handler handler;
        void *userdata;
        int error;
        char why[256];
        unsigned error_line;
};

/* inih reads through this, one line per call: counting calls gives us the
 * line number its handler callback does not receive. */
static char *counting_reader(char *str, int num, void *stream) {
        struct parse_state *st = stream;
        char *r = fgets(str, num, st->f);

        if (r)
                st->line++;
        return r;
}

static int on_key(void *user, const char *section, const char *name, const char *value) {
        struct parse_state *st = user;
        int r;

        if (st->error)
                return 0;
        r = st->handler(st->userdata, section, name, value, st->why, sizeof(st->why));
        if (r < 0) {
                st->error = r;
                st->error_line = st->line;
                return 0;
        }
        return 1;
}

int ini_file_parse(const char *path, ini_key_handler handler, void *userdata, char *error, size_t error_size) {
        struct parse_state st = { .handler = handler, .userdata = userdata };
        int r;

        error[0] = '\0';
        st.f = fopen(path, "re");
        if (!st.f)
                return -errno;
        r = ini_parse_stream(counting_reader, &st, on_key, &st);
        fclose(st.f);
        if (st.error) {
                snprintf(error, error_size, "%s:%u: %s", path, st.error_line, st.why);
                return st.error;
        }
        if (r != 0) {
                snprintf(error, error_size, "%s:%d: syntax error (or line too long)", path, r);
                return -EINVAL;
        }
        return 0;
}

int ini_split_list(const char *value, int (*fn)(void *userdata, const char *word), void *userdata) {
        char word[256];

        while (*value) {
                size_t n = strcspn(value, ", \t");
                if (n >= sizeof(word))
                        return -ENAMETOOLONG;
                if (n > 0) {
                        int r;
                        memcpy(word, value, n);
                        word[n] = '\0';
                        r = fn(userdata, word);
                        if (r < 0)
                                return r;
                }
                value += n;
                value += strspn(value, ", \t");
        }
        return 0;
}

int ini_parse_bool(const char *value, int *ret) {
        if (!strcasecmp(value, "yes") || !strcasecmp(value, "true") || streq(value, "1") ||
            !strcasecmp(value, "on"))
                *ret = 1;
        else if (!strcasecmp(value, "no") || !strcasecmp(value, "false") || streq(value, "0") ||
                 !strcasecmp(value, "off"))
                *ret = 0;
        else
                return -EINVAL;
        return 0;
}
