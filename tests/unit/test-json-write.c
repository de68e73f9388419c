/* SPDX-License-Identifier: MIT */
/* json_write_compact writes what json_dumps(JSON_COMPACT | JSON_SORT_KEYS)
 * writes: checked on the awkward cases by hand and on random values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "json-write.h"

static void same_as_jansson(json_t *v) {
        char *want = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        size_t len = 0;
        char *got = json_write_compact(v, &len);

        assert_non_null(want);
        assert_non_null(got);
        assert_string_equal(got, want);
        assert_int_equal(len, strlen(want));
        free(want);
        free(got);
}

static void test_by_hand(void **state) {
        json_t *o = json_object(), *a = json_array(), *big = json_object();
        char all_controls[64];

        (void) state;
        for (int c = 1; c < 32; c++)
                all_controls[c - 1] = (char) c;
        all_controls[31] = '\0';
        json_object_set_new(o, "zeta", json_integer(INT64_MIN));
        json_object_set_new(o, "alpha", json_integer(INT64_MAX));
        json_object_set_new(o, "controls", json_string(all_controls));
        /* NUL inside a string: the frame delimiter must never leak out. */
        json_object_set_new(o, "nul", json_stringn("a\0b", 3));
        json_object_set_new(o, "quote\"back\\slash/", json_string("\"\\/\x7f"));
        json_object_set_new(o, "utf8", json_string("\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80"));
        json_object_set_new(o, "real", json_real(0.1));
        json_object_set_new(o, "whole real", json_real(3.0));
        json_object_set_new(o, "t", json_true());
        json_object_set_new(o, "f", json_false());
        json_object_set_new(o, "n", json_null());
        json_object_set_new(o, "empty object", json_object());
        json_object_set_new(o, "empty array", json_array());
        json_object_set_new(o, "", json_string(""));
        json_object_set_new(o, "ab", json_integer(-1));
        json_object_set_new(o, "a", json_integer(0));
        json_array_append_new(a, json_integer(7));
        json_array_append_new(a, json_string("x"));
        json_array_append_new(a, json_array());
        json_object_set_new(o, "array", a);
        /* More keys than the on-stack sort holds. */
        for (int k = 0; k < 100; k++) {
                char key[16];
                snprintf(key, sizeof(key), "k%d", (k * 37) % 100);
                json_object_set_new(big, key, json_integer(k));
        }
        json_object_set_new(o, "big", big);
        same_as_jansson(o);
        same_as_jansson(json_object_get(o, "array"));
        json_decref(o);
}

static json_t *random_value(unsigned *seed, int depth) {
        int kind = rand_r(seed) % (depth > 3 ? 6 : 8);
        char s[24];
        size_t n;

        switch (kind) {
        case 0:
                return json_integer((json_int_t) rand_r(seed) * (rand_r(seed) % 2 ? -1 : 1));
        case 1:
                n = (size_t) rand_r(seed) % sizeof(s);
                for (size_t k = 0; k < n; k++)
                        s[k] = (char) (rand_r(seed) % 128); /* ASCII, controls and NUL included */
                return json_stringn(s, n);
        case 2:
                return json_true();
        case 3:
                return json_null();
        case 4:
                return json_real((double) rand_r(seed) / 7.0);
        case 5:
                return json_false();
        case 6: {
                json_t *a = json_array();
                for (int k = rand_r(seed) % 5; k > 0; k--)
                        json_array_append_new(a, random_value(seed, depth + 1));
                return a;
        }
        default: {
                json_t *o = json_object();
                for (int k = rand_r(seed) % 30; k > 0; k--) {
                        snprintf(s, sizeof(s), "%c%x", 'a' + rand_r(seed) % 26, (unsigned) rand_r(seed) % 4096);
                        json_object_set_new(o, s, random_value(seed, depth + 1));
                }
                return o;
        }
        }
}

static void test_random_values(void **state) {
        unsigned seed = 20261123;

        (void) state;
        for (int k = 0; k < 2000; k++) {
                json_t *v = random_value(&seed, 0);
                same_as_jansson(v);
                json_decref(v);
        }
}

static void test_too_deep(void **state) {
        json_t *v = json_array();

        (void) state;
        for (int k = 0; k < 2000; k++) {
                json_t *outer = json_array();
                json_array_append_new(outer, v);
                v = outer;
        }
        assert_null(json_write_compact(v, NULL));
        json_decref(v);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_by_hand),
                cmocka_unit_test(test_random_values),
                cmocka_unit_test(test_too_deep),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
