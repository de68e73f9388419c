/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "uri.h"

/* Audiences: RFC 8707 resource indicators. */
static void test_absolute(void **state) {
        static const char *const good[] = {
                "mcp://tickets", "pam:sudo", "agentid:host-1", "https://mcp.example.com/mcp",
                "https://mcp.example.com/api?tenant=1", "urn:example:resource", "http://[::1]:8080/x",
                "https://h/%20path", "a+b-c.d:x",
        };
        static const char *const bad[] = {
                "", "tickets", "/relative/path", "not a uri at all", "https://mcp.example.com/#frag",
                "https://h/x#", "1http://x", "-x:y", "https:", ":nothing", "mcp://t%zz", "mcp://t%2",
                "mcp://tickets\n", "mcp://tick ets", "mcp://t\"x", "mcp://t<x>", "mcp://t\\x", "mcp://t{x}",
                "mcp://t\x7f", "mcp://t\xc3\xa9",
        };

        for (size_t k = 0; k < sizeof(good) / sizeof(good[0]); k++)
                assert_true(uri_is_absolute(good[k], 256, true));
        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
                assert_false(uri_is_absolute(bad[k], 256, true));
        /* A query only where allowed (issuers have none); length bound. */
        assert_false(uri_is_absolute("https://h/x?q", 256, false));
        assert_true(uri_is_absolute("mcp://tickets", 13, true));
        assert_false(uri_is_absolute("mcp://tickets", 12, true));
        assert_false(uri_is_absolute(NULL, 256, true));
}

/* Issuers that discovery can publish under. */
static void test_web_origin(void **state) {
        static const char *const good[] = {
                "https://agents.example.com", "https://agents.example.com/", "https://h:8443/agentid",
                "http://127.0.0.1:8080", "http://localhost", "http://[::1]:9/x", "HTTPS://H",
        };
        static const char *const bad[] = {
                "agentid:host", "http://agents.example.com", "http://127.0.0.1.evil.com", "http://localhostx",
                "https://", "https:///path", "https://user@h", "https://h?x", "https://h#x", "ftp://h",
                "http://127.0.0.2",
        };

        for (size_t k = 0; k < sizeof(good) / sizeof(good[0]); k++)
                assert_true(uri_is_web_origin_url(good[k], 256));
        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
                assert_false(uri_is_web_origin_url(bad[k], 256));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_absolute),
                cmocka_unit_test(test_web_origin),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
