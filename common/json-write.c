/* SPDX-License-Identifier: MIT */
#include "json-write.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH_MAX 1024
#define SORT_ON_STACK 64

struct out {
        char *buf;
        size_t len, cap;
        bool failed;
};

static bool reserve(struct out *o, size_t n) {
        size_t cap;
        char *nb;

        if (o->failed)
                return false;
        if (o->len + n + 1 <= o->cap)
                return true;
        cap = o->cap ? o->cap : 512;
        while (cap < o->len + n + 1)
                cap *= 2;
        nb = realloc(o->buf, cap);
        if (!nb) {
                o->failed = true;
                return false;
        }
        o->buf = nb;
        o->cap = cap;
        return true;
}

static void put(struct out *o, const char *s, size_t n) {
        if (reserve(o, n)) {
                memcpy(o->buf + o->len, s, n);
                o->len += n;
        }
}

static void put_char(struct out *o, char c) {
        if (reserve(o, 1))
                o->buf[o->len++] = c;
}

/* As jansson escapes (without JSON_ENSURE_ASCII or JSON_ESCAPE_SLASH): the
 * quote, the backslash and control characters; UTF-8 passes through. */
static void put_string(struct out *o, const char *s, size_t n) {
        static const char hex[] = "0123456789ABCDEF";
        size_t run = 0;

        put_char(o, '"');
        for (size_t k = 0; k < n; k++) {
                unsigned char c = (unsigned char) s[k];
                char esc[6];
                size_t elen = 2;

                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                put(o, s + run, k - run);
                run = k + 1;
                esc[0] = '\\';
                switch (c) {
                case '"': esc[1] = '"'; break;
                case '\\': esc[1] = '\\'; break;
                case '\b': esc[1] = 'b'; break;
                case '\f': esc[1] = 'f'; break;
                case '\n': esc[1] = 'n'; break;
                case '\r': esc[1] = 'r'; break;
                case '\t': esc[1] = 't'; break;
                default:
                        memcpy(esc + 1, "u00", 3);
                        esc[4] = hex[c >> 4];
                        esc[5] = hex[c & 15];
                        elen = 6;
                }
                put(o, esc, elen);
        }
        put(o, s + run, n - run);
        put_char(o, '"');
}

static void put_integer(struct out *o, json_int_t v) {
        char tmp[24], *p = tmp + sizeof(tmp);
        /* Unsigned arithmetic: the most negative value negates fine. */
        unsigned long long u = v < 0 ? 0ULL - (unsigned long long) v : (unsigned long long) v;

        do
                *--p = (char) ('0' + u % 10);
        while ((u /= 10) > 0);
        if (v < 0)
                *--p = '-';
        put(o, p, (size_t) (tmp + sizeof(tmp) - p));
}

struct key {
        const char *key;
        size_t len;
        json_t *value;
};

/* jansson's order: bytes, then length. */
static int compare_keys(const void *a, const void *b) {
        const struct key *x = a, *y = b;
        int r = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);

        return r ? r : (x->len > y->len) - (x->len < y->len);
}

static void put_value(struct out *o, const json_t *v, unsigned depth);

static void put_object(struct out *o, const json_t *v, unsigned depth) {
        struct key stack[SORT_ON_STACK], *keys = stack;
        size_t n = json_object_size(v), k = 0;
        const char *key;
        json_t *value;
        void *it;

        if (n > SORT_ON_STACK && !(keys = malloc(n * sizeof(*keys)))) {
                o->failed = true;
                return;
        }
        for (it = json_object_iter((json_t *) v); it && k < n; it = json_object_iter_next((json_t *) v, it)) {
                key = json_object_iter_key(it);
                value = json_object_iter_value(it);
                keys[k++] = (struct key) { key, json_object_iter_key_len(it), value };
        }
        /* Small objects (every reply): insertion sort, no qsort call. */
        if (k > 16)
                qsort(keys, k, sizeof(*keys), compare_keys);
        else
                for (size_t i = 1; i < k; i++)
                        for (size_t j = i; j > 0 && compare_keys(&keys[j - 1], &keys[j]) > 0; j--) {
                                struct key t = keys[j];
                                keys[j] = keys[j - 1];
                                keys[j - 1] = t;
                        }
        put_char(o, '{');
        for (size_t i = 0; i < k && !o->failed; i++) {
                if (i)
                        put_char(o, ',');
                put_string(o, keys[i].key, keys[i].len);
                put_char(o, ':');
                put_value(o, keys[i].value, depth + 1);
        }
        put_char(o, '}');
        if (keys != stack)
                free(keys);
}

static void put_value(struct out *o, const json_t *v, unsigned depth) {
        if (o->failed)
                return;
        if (depth > DEPTH_MAX) {
                o->failed = true;
                return;
        }
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                put_object(o, v, depth);
                break;
        case JSON_ARRAY:
                put_char(o, '[');
                for (size_t k = 0; k < json_array_size(v) && !o->failed; k++) {
                        if (k)
                                put_char(o, ',');
                        put_value(o, json_array_get(v, k), depth + 1);
                }
                put_char(o, ']');
                break;
        case JSON_STRING:
                put_string(o, json_string_value(v), json_string_length(v));
                break;
        case JSON_INTEGER:
                put_integer(o, json_integer_value(v));
                break;
        case JSON_REAL: {
                /* Rare in this protocol: jansson's own formatting, exactly. */
                char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
                if (!s) {
                        o->failed = true;
                        break;
                }
                put(o, s, strlen(s));
                free(s);
                break;
        }
        case JSON_TRUE:
                put(o, "true", 4);
                break;
        case JSON_FALSE:
                put(o, "false", 5);
                break;
        case JSON_NULL:
                put(o, "null", 4);
                break;
        }
}

char *json_write_compact(const json_t *v, size_t *ret_len) {
        struct out o = {};

        if (!v)
                return NULL;
        put_value(&o, v, 0);
        if (!reserve(&o, 0)) {
                free(o.buf);
                return NULL;
        }
        o.buf[o.len] = '\0';
        if (ret_len)
                *ret_len = o.len;
        return o.buf;
}
