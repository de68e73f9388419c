/* SPDX-License-Identifier: MIT */
#include "agentctl-pam.h"
#include "agentctl-call.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentid/pam.h"
#include "agentid/protocol.h"
#include "client.h"
#include "duration.h"
#include "macro.h"
#include "protocol.h"

static const char *str(json_t *o, const char *key) {
        const char *s = NULL;
        (void) json_get_string(o, key, &s);
        return agentctl_text(s && *s ? s : NULL);
}

static int cmd_pending(int argc, char **argv, const char *socket, bool json) {
        json_t *reply = NULL, *requests, *r;
        size_t k;

        if (argc != 1) {
                fprintf(stderr, "agentctl pending: takes no arguments (see agentctl --help)\n");
                return 2;
        }
        if (agentctl_call(socket, AGENTID_METHOD_STEP_UP_LIST, NULL, &reply))
                return 1;
        requests = json_object_get(reply, "requests");
        if (json)
                agentctl_print_json(requests);
        else {
                printf("%-12s %-32s %-10s %-8s %-6s %-30s %s\n", "ID", "AGENT", "OWNER", "SERVICE", "AGE", "COMMAND",
                       "REASON");
                json_array_foreach(requests, k, r) {
                        char age[32];
                        uint64_t usec = 0;
                        (void) json_get_uint(r, "age_usec", UINT64_MAX, &usec);
                        printf("%-12s %-32s %-10s %-8s %-6s %-30s %s\n", str(r, "id"), str(r, "agent"), str(r, "owner"),
                               str(r, "service"), duration_format(usec / 1000000 * 1000000, age, sizeof(age)),
                               str(r, "command"), str(r, "reason"));
                }
        }
        json_decref(reply);
        return 0;
}

static int cmd_decide(int argc, char **argv, const char *socket, bool json, bool approve) {
        static const struct option options[] = { { "reason", required_argument, NULL, 'r' }, {} };
        const char *reason = NULL;
        _cleanup_json_ json_t *params = NULL;
        _cleanup_json_ json_t *reply = NULL;
        json_t *v;
        int opt;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
                if (opt != 'r')
                        return 2;
                reason = optarg;
        }
        if (optind != argc - 1) {
                fprintf(stderr, "agentctl %s: give exactly one request id (see agentctl pending)\n", argv[0]);
                return 2;
        }
        /* json_pack refuses invalid UTF-8 (NULL): a usage error. */
        params = json_pack("{s:s, s:s}", "id", argv[optind], "decision", approve ? "approve" : "deny");
        if (!params) {
                fprintf(stderr, "agentctl %s: the id is not valid text\n", argv[0]);
                return 2;
        }
        if (reason) {
                v = json_string(reason);
                if (!v) {
                        fprintf(stderr, "agentctl %s: --reason is not valid UTF-8 text\n", argv[0]);
                        return 2;
                }
                json_object_set_new(params, "reason", v);
        }
        if (agentctl_call(socket, AGENTID_METHOD_STEP_UP_DECIDE, params, &reply))
                return 1;
        if (json)
                agentctl_print_json(reply);
        else
                printf("request %s of %s %s\n", str(reply, "id"), str(reply, "agent"), str(reply, "decision"));
        return 0;
}

int agentctl_pam(int argc, char **argv, const char *socket, bool json) {
        if (streq(argv[0], "pending"))
                return cmd_pending(argc, argv, socket, json);
        return cmd_decide(argc, argv, socket, json, streq(argv[0], "approve"));
}
