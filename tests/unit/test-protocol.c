/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agentid/protocol.h"
#include "protocol.h"

static int parse(const char *s, struct protocol_request *req, const char **why) {
        return protocol_request_parse(s, strlen(s), req, why);
}

static void test_request_valid(void **state) {
        struct protocol_request req = {};
        const char *why;
        (void) state;

        assert_int_equal(parse("{\"method\":\"io.agentid.Mint\",\"parameters\":{\"ttl\":\"5m\"}}", &req, &why), 0);
        assert_string_equal(req.method, "io.agentid.Mint");
        assert_string_equal(json_string_value(json_object_get(req.parameters, "ttl")), "5m");
        protocol_request_done(&req);

        /* parameters may be omitted: an empty object is supplied */
        assert_int_equal(parse("  {\"method\":\"io.agentid.Status\"}  ", &req, &why), 0);
        assert_true(json_is_object(req.parameters));
        assert_int_equal(json_object_size(req.parameters), 0);
        protocol_request_done(&req);
}

static void test_request_invalid(void **state) {
        static const char *const bad[] = {
                "",
                "null",
                "[]",
                "\"io.agentid.Mint\"",
                "{",
                "{\"method\":1}",
                "{\"parameters\":{}}",
                "{\"method\":\"io.agentid.Mint\",\"parameters\":[]}",
                "{\"method\":\"io.agentid.Mint\",\"parameters\":\"x\"}",
                "{\"method\":\"io.agentid.Mint\",\"oneway\":true}",
                "{\"method\":\"io.agentid.Mint\",\"method\":\"io.agentid.Revoke\"}",
                "{\"method\":\"org.varlink.service.GetInfo\"}",
                "{\"method\":\"io.agentid.\"}",
                "{\"method\":\"io.agentid.mint\"}",
                "{\"method\":\"io.agentid.Mint; drop\"}",
                "{\"method\":\"io.agentid.Mint\"} trailing",
                "{\"method\":\"io.agentid.Mint\",\"parameters\":{\"a\":\"\\u0000\"}}",
        };
        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct protocol_request req = {};
                const char *why = NULL;
                assert_int_equal(parse(bad[i], &req, &why), -EINVAL);
                assert_non_null(why);
                assert_null(req.method);
                assert_null(req.parameters);
        }
}

static void test_request_embedded_nul_and_size(void **state) {
        struct protocol_request req = {};
        const char *why;
        char msg[] = "{\"method\":\"io.agentid.Mint\"}\0{}";
        char *big;
        (void) state;

        assert_int_equal(protocol_request_parse(msg, sizeof(msg) - 1, &req, &why), -EINVAL);
        big = malloc(AGENTID_REQUEST_MAX + 1);
        assert_non_null(big);
        memset(big, ' ', AGENTID_REQUEST_MAX + 1);
        assert_int_equal(protocol_request_parse(big, AGENTID_REQUEST_MAX + 1, &req, &why), -EMSGSIZE);
        free(big);
}

static void test_deep_nesting(void **state) {
        /* 5000 nested arrays: must be refused, not overflow the stack. */
        size_t depth = 5000, n = 0; /* fits under AGENTID_REQUEST_MAX */
        char *s = malloc(depth * 2 + 64);
        struct protocol_request req = {};
        const char *why;
        (void) state;

        n += (size_t) sprintf(s, "{\"method\":\"io.agentid.Mint\",\"parameters\":{\"x\":");
        for (size_t i = 0; i < depth; i++)
                s[n++] = '[';
        for (size_t i = 0; i < depth; i++)
                s[n++] = ']';
        s[n++] = '}';
        s[n++] = '}';
        assert_int_equal(protocol_request_parse(s, n, &req, &why), -EINVAL);
        free(s);
}

static void test_round_trip(void **state) {
        json_t *params = json_pack("{s:s}", "reason", "caf\xc3\xa9"), *got = NULL;
        struct protocol_request req = {};
        const char *why;
        char *err = NULL, *msg;
        size_t len;
        (void) state;

        msg = protocol_request_format(AGENTID_METHOD_MINT, params, &len);
        assert_non_null(msg);
        assert_int_equal(strlen(msg), len);
        assert_int_equal(protocol_request_parse(msg, len, &req, &why), 0);
        assert_true(json_equal(req.parameters, params));
        protocol_request_done(&req);
        free(msg);

        msg = protocol_reply_format(params, &len);
        assert_int_equal(protocol_reply_parse(msg, len, &got, &err), 0);
        assert_null(err);
        assert_true(json_equal(got, params));
        json_decref(got);
        free(msg);

        msg = protocol_error_format(AGENTID_ERROR_PERMISSION_DENIED, "no", NULL, &len);
        assert_int_equal(protocol_reply_parse(msg, len, &got, &err), 0);
        assert_string_equal(err, AGENTID_ERROR_PERMISSION_DENIED);
        assert_string_equal(json_string_value(json_object_get(got, "message")), "no");
        json_decref(got);
        free(err);
        free(msg);
        json_decref(params);
}

static void test_reply_invalid(void **state) {
        json_t *p = NULL;
        char *err = NULL;
        (void) state;
        assert_int_equal(protocol_reply_parse("[1]", 3, &p, &err), -EBADMSG);
        assert_int_equal(protocol_reply_parse("{\"error\":5}", 11, &p, &err), -EBADMSG);
        assert_int_equal(protocol_reply_parse("{\"parameters\":1}", 16, &p, &err), -EBADMSG);
        assert_int_equal(protocol_reply_parse("nope", 4, &p, &err), -EBADMSG);
        assert_null(p);
        assert_null(err);
}

static void test_typed_getters(void **state) {
        json_t *o = json_pack("{s:s, s:I, s:I, s:b, s:n, s:s#}", "s", "x", "n", (json_int_t) 5, "neg",
                              (json_int_t) -1, "b", 1, "null", "nul", "a\0b", (size_t) 3);
        const char *s;
        uint64_t u;
        int b;
        (void) state;

        assert_int_equal(json_get_string(o, "s", &s), 0);
        assert_int_equal(json_get_string(o, "n", &s), -EINVAL);
        assert_int_equal(json_get_string(o, "missing", &s), -ENOENT);
        assert_int_equal(json_get_string(o, "null", &s), -ENOENT);
        assert_int_equal(json_get_string(o, "nul", &s), -EINVAL);
        assert_int_equal(json_get_uint(o, "n", 10, &u), 0);
        assert_int_equal(u, 5);
        assert_int_equal(json_get_uint(o, "n", 4, &u), -EINVAL);
        assert_int_equal(json_get_uint(o, "neg", 10, &u), -EINVAL);
        assert_int_equal(json_get_bool(o, "b", &b), 0);
        assert_int_equal(json_get_bool(o, "s", &b), -EINVAL);
        json_decref(o);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_request_valid),
                cmocka_unit_test(test_request_invalid),
                cmocka_unit_test(test_request_embedded_nul_and_size),
                cmocka_unit_test(test_deep_nesting),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_reply_invalid),
                cmocka_unit_test(test_typed_getters),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
