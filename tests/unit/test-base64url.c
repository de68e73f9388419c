/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base64url.h"

/* RFC 4648 section 10 vectors, URL alphabet, padding stripped. */
static void test_vectors(void **state) {
        static const struct {
                const char *in, *out;
        } v[] = {
                { "", "" },         { "f", "Zg" },          { "fo", "Zm8" },          { "foo", "Zm9v" },
                { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
        };
        char out[32];
        uint8_t back[32];

        for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
                assert_int_equal(base64url_encode(v[k].in, strlen(v[k].in), out, sizeof(out)), strlen(v[k].out));
                assert_string_equal(out, v[k].out);
                assert_int_equal(base64url_decode(out, strlen(out), back, sizeof(back)), strlen(v[k].in));
                assert_memory_equal(back, v[k].in, strlen(v[k].in));
        }
}

/* The two characters that differ from standard base64. */
static void test_url_alphabet(void **state) {
        const uint8_t in[] = { 0xfb, 0xff, 0xbf };
        char out[8];
        uint8_t back[8];

        assert_int_equal(base64url_encode(in, sizeof(in), out, sizeof(out)), 4);
        assert_string_equal(out, "-_-_");
        assert_int_equal(base64url_decode("-_-_", 4, back, sizeof(back)), 3);
        assert_memory_equal(back, in, 3);
}

static void test_roundtrip_all_lengths(void **state) {
        uint8_t in[300], back[300];
        char out[512];

        for (size_t k = 0; k < sizeof(in); k++)
                in[k] = (uint8_t) (k * 37 + 11);
        for (size_t n = 0; n <= sizeof(in); n++) {
                int len = base64url_encode(in, n, out, sizeof(out));
                assert_int_equal(len, BASE64URL_ENCODED_LEN(n));
                assert_int_equal(base64url_decode(out, (size_t) len, back, sizeof(back)), (int) n);
                assert_memory_equal(back, in, n);
        }
}

static void test_rejects(void **state) {
        uint8_t b[64];

        /* padding, standard alphabet, whitespace, NUL, non-ASCII */
        assert_int_equal(base64url_decode("Zg==", 4, b, sizeof(b)), -EINVAL);
        assert_int_equal(base64url_decode("Zm8=", 4, b, sizeof(b)), -EINVAL);
        assert_int_equal(base64url_decode("+/+/", 4, b, sizeof(b)), -EINVAL);
        assert_int_equal(base64url_decode("Zm9 v", 5, b, sizeof(b)), -EINVAL);
        assert_int_equal(base64url_decode("Zm\0v", 4, b, sizeof(b)), -EINVAL);
        assert_int_equal(base64url_decode("Zm9\xc3\xa9", 5, b, sizeof(b)), -EINVAL);
        /* a length no encoder produces */
        assert_int_equal(base64url_decode("Z", 1, b, sizeof(b)), -EINVAL);
        assert_int_equal(base64url_decode("Zm9vY", 5, b, sizeof(b)), -EINVAL);
        /* non-zero unused bits: "Zh" would also mean "f" */
        assert_int_equal(base64url_decode("Zh", 2, b, sizeof(b)), -EINVAL);
        assert_int_equal(base64url_decode("Zm9", 3, b, sizeof(b)), -EINVAL);
        assert_int_equal(base64url_decode("Zm8", 3, b, sizeof(b)), 2);
}

static void test_buffers(void **state) {
        char out[4];
        uint8_t b[2];

        assert_int_equal(base64url_encode("foo", 3, out, sizeof(out)), -ENOBUFS); /* no room for NUL */
        assert_int_equal(base64url_decode("Zm9v", 4, b, sizeof(b)), -ENOBUFS);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_vectors),     cmocka_unit_test(test_url_alphabet),
                cmocka_unit_test(test_roundtrip_all_lengths), cmocka_unit_test(test_rejects),
                cmocka_unit_test(test_buffers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
