/* SPDX-License-Identifier: MIT */
#include "agentctl-token.h"
#include "agentctl-call.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentid/protocol.h"
#include "agentid/token.h"
#include "client.h"
#include "duration.h"
#include "macro.h"
#include "protocol.h"

static const char *arg_socket;
static bool arg_json;

static int usage_error(const char *cmd, const char *msg) {
        fprintf(stderr, "agentctl %s: %s (see agentctl --help)\n", cmd, msg);
        return 2;
}

/* A token on the command line shows in ps(1) to every user: "-" reads it
 * from standard input instead. */
static int token_argument(const char *arg, char *buf, size_t size, const char **ret) {
        size_t n;

        if (!streq(arg, "-")) {
                *ret = arg;
                return 0;
        }
        n = fread(buf, 1, size - 1, stdin);
        if (ferror(stdin))
                return -EIO;
        buf[n] = '\0';
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
                buf[--n] = '\0';
        *ret = buf;
        return 0;
}

/* token / grant [--audience AUD] [--ttl DUR] [--scope S]... */
static int cmd_issue(int argc, char **argv, bool grant) {
        static const struct option options[] = {
                { "audience", required_argument, NULL, 'a' },
                { "ttl", required_argument, NULL, 't' },
                { "scope", required_argument, NULL, 's' },
                {},
        };
        json_t *params = json_object(), *reply = NULL, *scopes = NULL, *v;
        uint64_t usec;
        int opt, r = 2;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
                switch (opt) {
                case 'a':
                        if (!(v = json_string(optarg))) {
                                r = usage_error(argv[0], "--audience must be UTF-8 text");
                                goto out;
                        }
                        json_object_set_new(params, "audience", v);
                        break;
                case 't':
                        if (duration_parse(optarg, &usec) < 0) {
                                r = usage_error(argv[0], "--ttl must be a duration such as 90s or 5m");
                                goto out;
                        }
                        json_object_set_new(params, "ttl", json_string(optarg));
                        break;
                case 's':
                        if (!scopes)
                                json_object_set_new(params, "scopes", scopes = json_array());
                        if (!(v = json_string(optarg))) {
                                r = usage_error(argv[0], "--scope must be UTF-8 text");
                                goto out;
                        }
                        json_array_append_new(scopes, v);
                        break;
                default:
                        goto out;
                }
        }
        if (optind < argc) {
                r = usage_error(argv[0], "takes no arguments");
                goto out;
        }
        r = agentctl_call(arg_socket, grant ? AGENTID_METHOD_ISSUE_GRANT : AGENTID_METHOD_ISSUE_TOKEN, params, &reply);
        if (r)
                goto out;
        if (arg_json)
                agentctl_print_json(reply);
        else
                puts(agentctl_text(json_string_value(json_object_get(reply, grant ? "grant" : "token"))));
        json_decref(reply);
out:
        json_decref(params);
        return r;
}

static void print_act(json_t *act) {
        /* The agent, up to DEPTH_MAX parent agents, the user who minted the top one. */
        for (int k = 0; json_is_object(act) && k < AGENTID_DELEGATION_DEPTH_MAX + 2; k++) {
                printf("%s%s", k ? " > " : "", agentctl_text(json_string_value(json_object_get(act, "sub"))));
                act = json_object_get(act, "act");
        }
}

static void print_verified(json_t *reply, const char *what) {
        json_t *claims = json_object_get(reply, "claims"), *aud = json_object_get(claims, "aud");
        const char *scope = json_string_value(json_object_get(claims, "scope"));
        const char *sub = json_string_value(json_object_get(claims, "sub"));
        const char *agent = json_string_value(json_object_get(reply, "agent"));

        if (!aud) /* a grant */
                aud = json_object_get(claims, AGENTID_CLAIM_GRANT_AUDIENCE);
        printf("%-13s yes\n", what);
        printf("agent:        %s (uid %" JSON_INTEGER_FORMAT ")\n", agentctl_text(agent),
               json_integer_value(json_object_get(reply, "uid")));
        /* sub is the principal the agent acts for, when there is one. */
        printf("acts for:     %s\n", sub && agent && !streq(sub, agent) ? agentctl_text(sub) : "-");
        printf("issuer:       %s\n", agentctl_text(json_string_value(json_object_get(claims, "iss"))));
        printf("audience:     %s\n", json_is_string(aud) ? agentctl_text(json_string_value(aud)) : "(list)");
        printf("expires:      %s\n", agentctl_text(json_string_value(json_object_get(reply, "expires_at"))));
        printf("template:     %s\n", agentctl_text(json_string_value(json_object_get(claims, AGENTID_CLAIM_TEMPLATE))));
        printf("scope:        %s\n", agentctl_text(scope));
        printf("actors:       ");
        print_act(json_object_get(claims, "act"));
        printf("\njti:          %s\n", agentctl_text(json_string_value(json_object_get(claims, "jti"))));
}

/* verify TOKEN|- [--audience AUD]; redeem GRANT|- [--audience AUD] */
static int cmd_check(int argc, char **argv, bool grant) {
        static const struct option options[] = { { "audience", required_argument, NULL, 'a' }, {} };
        static char buf[AGENTID_TOKEN_MAX + 2];
        json_t *params = json_object(), *reply = NULL, *v;
        const char *token;
        int opt, r = 2;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
                if (opt != 'a')
                        goto out;
                if (!(v = json_string(optarg))) {
                        r = usage_error(argv[0], "--audience must be UTF-8 text");
                        goto out;
                }
                json_object_set_new(params, "audience", v);
        }
        if (optind != argc - 1) {
                r = usage_error(argv[0], grant ? "takes exactly one GRANT (or - for stdin)"
                                               : "takes exactly one TOKEN (or - for stdin)");
                goto out;
        }
        if (token_argument(argv[optind], buf, sizeof(buf), &token) < 0 || !(v = json_string(token))) {
                r = usage_error(argv[0], "could not read the token");
                goto out;
        }
        json_object_set_new(params, grant ? "grant" : "token", v);
        r = agentctl_call(arg_socket, grant ? AGENTID_METHOD_REDEEM_GRANT : AGENTID_METHOD_VERIFY_TOKEN, params, &reply);
        if (r)
                goto out;
        if (arg_json)
                agentctl_print_json(reply);
        else
                print_verified(reply, grant ? "redeemed:" : "valid:");
        json_decref(reply);
out:
        json_decref(params);
        return r;
}

static int cmd_jwks(int argc, char **argv) {
        json_t *reply = NULL;
        int r;

        if (argc != 1)
                return usage_error(argv[0], "takes no arguments");
        r = agentctl_call(arg_socket, AGENTID_METHOD_JWKS, NULL, &reply);
        if (r)
                return r;
        /* The document itself, text or --json alike: feed it to a verifier. */
        agentctl_print_json(reply);
        json_decref(reply);
        return 0;
}

/* rotate-keys [--now] */
static int cmd_rotate(int argc, char **argv) {
        static const struct option options[] = { { "now", no_argument, NULL, 'n' }, {} };
        json_t *params = json_object(), *reply = NULL;
        const char *old, *kid, *from;
        int opt, r = 2;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
                if (opt != 'n')
                        goto out;
                json_object_set_new(params, "now", json_true());
        }
        if (optind < argc) {
                r = usage_error(argv[0], "takes no arguments");
                goto out;
        }
        r = agentctl_call(arg_socket, AGENTID_METHOD_ROTATE_KEYS, params, &reply);
        if (r)
                goto out;
        if (arg_json)
                agentctl_print_json(reply);
        else {
                old = json_string_value(json_object_get(reply, "retired"));
                kid = agentctl_text(json_string_value(json_object_get(reply, "kid")));
                from = agentctl_text(json_string_value(json_object_get(reply, "signs_from")));
                if (json_object_get(params, "now")) {
                        printf("new signing key %s signs now", kid);
                        if (old)
                                printf("; %s retired (published until its tokens expire)", agentctl_text(old));
                } else if (json_is_true(json_object_get(reply, "already_scheduled")))
                        printf("next signing key %s is already published; it signs from %s", kid, from);
                else
                        printf("next signing key %s published; it signs from %s%s%s", kid, from,
                               old ? ", when it replaces " : "", old ? agentctl_text(old) : "");
                printf("\n");
        }
        json_decref(reply);
out:
        json_decref(params);
        return r;
}

int agentctl_creds(int argc, char **argv, const char *socket, bool json) {
        arg_socket = socket;
        arg_json = json;
        if (streq(argv[0], "token"))
                return cmd_issue(argc, argv, false);
        if (streq(argv[0], "grant"))
                return cmd_issue(argc, argv, true);
        if (streq(argv[0], "verify"))
                return cmd_check(argc, argv, false);
        if (streq(argv[0], "redeem"))
                return cmd_check(argc, argv, true);
        if (streq(argv[0], "jwks"))
                return cmd_jwks(argc, argv);
        if (streq(argv[0], "rotate-keys"))
                return cmd_rotate(argc, argv);
        return usage_error(argv[0], "unknown command");
}
