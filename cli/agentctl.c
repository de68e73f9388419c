/* SPDX-License-Identifier: MIT */
/* agentctl: the command line for operators and orchestrators. A thin
 * client: every decision is the broker's. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentctl-audit.h"
#include "agentctl-pam.h"
#include "agentctl-call.h"
#include "agentctl-run.h"
#include "agentctl-token.h"
#include "agentid/protocol.h"
#include "client.h"
#include "duration.h"
#include "macro.h"
#include "protocol.h"

static const char *arg_socket;
static bool arg_json;

static void usage(FILE *f) {
        fprintf(f,
                "Usage: agentctl [--socket PATH] [--json] COMMAND [ARGS]\n\n"
                "Commands:\n"
                "  mint [--template NAME] [--ttl DUR] [--reason TEXT] [--on-behalf-of USER]\n"
                "                          mint a new agent identity\n"
                "  list [--all]            list live agents (--all: ended ones too)\n"
                "  show NAME|UID           show one agent\n"
                "  revoke NAME|UID... | --owner USER | --all  [--reason TEXT]\n"
                "                          revoke agents now\n"
                "  status                  show the broker's status and templates\n"
                "  run [--template T] [--ttl DUR] [--reason TEXT] [--on-behalf-of USER]\n"
                "      [--env K=V]... [--cwd DIR] [--verbose] -- CMD [ARG...]\n"
                "                          run CMD as a fresh agent; exit with its status\n"
                "  token [--audience AUD] [--ttl DUR] [--scope S]...\n"
                "                          (as an agent) print a signed token for AUD\n"
                "  verify TOKEN|- [--audience AUD]\n"
                "                          check a token: signature, claims, agent still live\n"
                "  grant [--audience AUD] [--ttl DUR]\n"
                "                          (as an agent) print a one-time grant\n"
                "  redeem GRANT|- [--audience AUD]\n"
                "                          use a one-time grant; a second use is refused\n"
                "  jwks                    print the public signing keys (JWKS)\n"
                "  rotate-keys [--now]     publish the next signing key, signing after\n"
                "                          key_publish_ahead (--now: at once) (admins)\n"
                "  pending                 step-up requests waiting for you to decide\n"
                "  approve ID [--reason TEXT]  allow one use of a held step-up (approvers)\n"
                "  deny ID [--reason TEXT]     refuse a held step-up (approvers)\n"
                "  audit [NAME] [--owner USER] [--since T] [--until T] [--event TYPE] [--after SEQ]\n"
                "                          one agent's story (or all you may see), in order\n"
                "  audit verify [--db FILE] [--key FILE] [--checkpoint FILE]\n"
                "                          check the event hash chain and its signed checkpoints\n"
                "  audit prune --older-than AGE [--archive FILE]\n"
                "                          archive and remove old events at a signed cut (admins)\n\n"
                "Options:\n"
                "  --socket PATH           broker socket (default $" AGENTID_SOCKET_ENV " or " AGENTID_SOCKET_PATH_DEFAULT ")\n"
                "  --json                  print JSON instead of text\n"
                "  --help, --version\n\n"
                "Durations: 90, 90s, 5m, 1h30m. See agentctl(1).\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
        va_list ap;
        fputs("agentctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs(" (see agentctl --help)\n", stderr);
        return 2;
}

/* json_string() refuses invalid UTF-8; say so instead of silently
 * dropping the parameter. */
static int set_string(json_t *o, const char *key, const char *value) {
        json_t *v = json_string(value);

        if (!v) {
                fprintf(stderr, "agentctl: %s is not valid UTF-8 text\n", key);
                return -EINVAL;
        }
        return json_object_set_new(o, key, v) < 0 ? -ENOMEM : 0;
}

static const char *str(json_t *o, const char *key) {
        const char *s = NULL;
        (void) json_get_string(o, key, &s);
        return agentctl_text(s);
}

static uint64_t num(json_t *o, const char *key) {
        uint64_t v = 0;
        (void) json_get_uint(o, key, UINT64_MAX, &v);
        return v;
}

/* "in 4m12s" or "4m12s ago" */
static const char *relative(uint64_t usec, char *buf, size_t size) {
        uint64_t now = now_usec();
        char d[32];

        if (usec >= now)
                snprintf(buf, size, "in %s", duration_format(usec - now, d, sizeof(d)));
        else
                snprintf(buf, size, "%s ago", duration_format(now - usec, d, sizeof(d)));
        return buf;
}

static void print_identity(json_t *a) {
        char rel[64];
        json_t *groups = json_object_get(a, "groups"), *g;
        size_t k;

        printf("name:          %s\n", str(a, "name"));
        printf("uid:           %" PRIu64 "\n", num(a, "uid"));
        printf("gid:           %" PRIu64 "\n", num(a, "gid"));
        printf("state:         %s\n", str(a, "state"));
        printf("template:      %s\n", str(a, "template"));
        printf("owner:         %s (uid %" PRIu64 ")\n", str(a, "owner"), num(a, "owner_uid"));
        printf("invoker pid:   %" PRIu64 "\n", num(a, "invoker_pid"));
        printf("on behalf of:  %s\n", str(a, "on_behalf_of"));
        printf("reason:        %s\n", str(a, "reason"));
        if (json_object_get(a, "delegation")) {
                json_t *d;
                printf("delegation:   ");
                json_array_foreach(json_object_get(a, "delegation"), k, d) printf(" %s%s (%s)", k ? "> " : "",
                                                                                str(d, "sub"), str(d, "kind"));
                printf("\n");
        }
        printf("groups:       ");
        if (json_array_size(groups) == 0)
                printf(" -");
        json_array_foreach(groups, k, g) printf(" %s", agentctl_text(json_string_value(g)));
        printf("\nhome:          %s\n", str(a, "home"));
        printf("shell:         %s\n", str(a, "shell"));
        printf("created:       %s (%s)\n", str(a, "created_at"), relative(num(a, "created_usec"), rel, sizeof(rel)));
        printf("expires:       %s (%s)\n", str(a, "expires_at"), relative(num(a, "expires_usec"), rel, sizeof(rel)));
        if (json_object_get(a, "ended_at")) {
                printf("ended:         %s\n", str(a, "ended_at"));
                printf("end reason:    %s\n", str(a, "end_reason"));
        }
}

/* Call method with params and print the identity it answers with. */
static int call_print_identity(const char *method, json_t *params) {
        _cleanup_json_ json_t *reply = NULL;
        int r = agentctl_call(arg_socket, method, params, &reply);

        if (r)
                return r;
        if (arg_json)
                agentctl_print_json(reply);
        else
                print_identity(reply);
        return 0;
}

static int cmd_mint(int argc, char **argv) {
        static const struct option options[] = {
                { "template", required_argument, NULL, 't' }, { "ttl", required_argument, NULL, 'l' },
                { "reason", required_argument, NULL, 'r' },   { "on-behalf-of", required_argument, NULL, 'o' },
                {},
        };
        _cleanup_json_ json_t *params = json_object();
        const char *key;
        uint64_t usec;
        int opt;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
                switch (opt) {
                case 't':
                        key = "template";
                        break;
                case 'l':
                        if (duration_parse(optarg, &usec) < 0)
                                return usage_error("invalid duration \"%s\"", optarg);
                        key = "ttl";
                        break;
                case 'r':
                        key = "reason";
                        break;
                case 'o':
                        key = "on_behalf_of";
                        break;
                default:
                        return 2;
                }
                if (set_string(params, key, optarg) < 0)
                        return 2;
        }
        if (optind < argc)
                return usage_error("mint takes no arguments");
        return call_print_identity(AGENTID_METHOD_MINT, params);
}

static int cmd_list(int argc, char **argv) {
        static const struct option options[] = { { "all", no_argument, NULL, 'a' }, {} };
        _cleanup_json_ json_t *all_agents = json_array();
        bool all = false;
        json_int_t after = 0;
        int opt, r = 0;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
                if (opt != 'a')
                        return 2;
                all = true;
        }
        if (optind < argc)
                return usage_error("list takes no arguments");
        for (;;) {
                _cleanup_json_ json_t *params = json_pack("{s:b, s:I}", "all", all, "after", after);
                _cleanup_json_ json_t *reply = NULL;
                json_t *next;

                r = agentctl_call(arg_socket, AGENTID_METHOD_LIST, params, &reply);
                if (r)
                        return r;
                json_array_extend(all_agents, json_object_get(reply, "agents"));
                next = json_object_get(reply, "next");
                if (!json_is_integer(next))
                        break;
                after = json_integer_value(next);
        }
        if (arg_json)
                agentctl_print_json(all_agents);
        else {
                json_t *a;
                size_t k;
                char rel[64];
                printf("%-32s %-10s %-12s %-16s %-8s %s\n", "NAME", "UID", "OWNER", "TEMPLATE", "STATE",
                       all ? "EXPIRES/ENDED" : "EXPIRES");
                json_array_foreach(all_agents, k, a) {
                        /* Ended agents: when they ended, not when they would have. */
                        const char *ended = json_string_value(json_object_get(a, "ended_at"));
                        printf("%-32s %-10" PRIu64 " %-12s %-16s %-8s %s\n", str(a, "name"), num(a, "uid"),
                               str(a, "owner"), str(a, "template"), str(a, "state"),
                               ended ? agentctl_text(ended) : relative(num(a, "expires_usec"), rel, sizeof(rel)));
                }
                if (json_array_size(all_agents) == 0)
                        printf("(no %sagents)\n", all ? "" : "live ");
        }
        return 0;
}

static bool is_number(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

static int cmd_show(int argc, char **argv) {
        _cleanup_json_ json_t *params = NULL;

        if (argc != 2)
                return usage_error("show takes exactly one NAME or UID");
        if (is_number(argv[1]))
                params = json_pack("{s:I}", "uid", (json_int_t) strtoull(argv[1], NULL, 10));
        else
                params = json_pack("{s:s}", "agent", argv[1]);
        if (!params)
                return usage_error("invalid agent \"%s\"", argv[1]);
        return call_print_identity(AGENTID_METHOD_SHOW, params);
}

static int cmd_revoke(int argc, char **argv) {
        static const struct option options[] = {
                { "owner", required_argument, NULL, 'o' },
                { "all", no_argument, NULL, 'a' },
                { "reason", required_argument, NULL, 'r' },
                {},
        };
        _cleanup_json_ json_t *params = json_object();
        _cleanup_json_ json_t *reply = NULL;
        json_t *agents, *names, *n;
        size_t k;
        int opt, r;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
                if (opt == 'a')
                        r = json_object_set_new(params, "all", json_true());
                else if (opt == 'o' || opt == 'r')
                        r = set_string(params, opt == 'o' ? "owner" : "reason", optarg);
                else
                        r = -EINVAL;
                if (r < 0)
                        return 2;
        }
        if (optind < argc) {
                agents = json_array();
                if (json_object_set_new(params, "agents", agents) < 0)
                        return 2;
                for (int i = optind; i < argc; i++)
                        if (json_array_append_new(agents, json_string(argv[i])) < 0)
                                return usage_error("\"%s\" is not an agent name or uid", argv[i]);
        }
        if (json_object_size(params) - !!json_object_get(params, "reason") != 1)
                return usage_error("revoke needs exactly one of: NAME|UID..., --owner USER, --all");
        r = agentctl_call(arg_socket, AGENTID_METHOD_REVOKE, params, &reply);
        if (r)
                return r;
        if (arg_json) {
                agentctl_print_json(reply);
                return 0;
        }
        names = json_object_get(reply, "revoked");
        printf("revoked %" PRIu64 " agent%s", num(reply, "count"), num(reply, "count") == 1 ? "" : "s");
        json_array_foreach(names, k, n) printf("%s%s", k ? ", " : ": ", agentctl_text(json_string_value(n)));
        if (num(reply, "count") > json_array_size(names))
                printf(", ...");
        printf("\n");
        return 0;
}

static int cmd_pam(int argc, char **argv) {
        return agentctl_pam(argc, argv, arg_socket, arg_json);
}

static int cmd_creds(int argc, char **argv) {
        return agentctl_creds(argc, argv, arg_socket, arg_json);
}

static int cmd_audit(int argc, char **argv) {
        return agentctl_audit(argc, argv, arg_socket, arg_json);
}

static int cmd_run(int argc, char **argv) {
        return agentctl_run(argc, argv, arg_socket);
}

static int cmd_status(int argc, char **argv) {
        _cleanup_json_ json_t *reply = NULL;
        json_t *templates, *t;
        size_t k;
        char d[32];
        int r;

        if (argc != 1)
                return usage_error("status takes no arguments");
        r = agentctl_call(arg_socket, AGENTID_METHOD_STATUS, NULL, &reply);
        if (r)
                return r;
        if (arg_json)
                agentctl_print_json(reply);
        else {
                printf("broker:        agentidd %s, pid %" PRIu64 "\n", str(reply, "version"), num(reply, "pid"));
                printf("socket:        %s\n", agentid_socket_path(arg_socket));
                printf("started:       %s (up %s)\n", str(reply, "started_at"),
                       duration_format(num(reply, "uptime_usec"), d, sizeof(d)));
                printf("live agents:   %" PRIu64 "\n", num(reply, "live_agents"));
                printf("uid range:     %" PRIu64 "-%" PRIu64 "\n", num(reply, "uid_min"), num(reply, "uid_max"));
                printf("journald:      %s\n", json_is_true(json_object_get(reply, "journal")) ? "yes" : "no");
                if (json_object_get(reply, "runtime")) {
                        json_t *cg = json_object_get(reply, "runtime_cgroup_controllers"), *v;
                        size_t j;
                        printf("task runtime:  %s (cgroup v1 controllers:", str(reply, "runtime"));
                        json_array_foreach(cg, j, v) printf(" %s", json_string_value(v));
                        printf("%s)\n", json_array_size(cg) ? "" : " none");
                        if (json_object_get(reply, "runtime_seccomp")) {
                                uint64_t abi = num(reply, "runtime_landlock_abi");
                                printf("task walls:    namespaces, rlimits, seccomp %s, landlock ",
                                       json_is_true(json_object_get(reply, "runtime_seccomp")) ? "yes" : "no");
                                /* Tasks get its scopes, which came with ABI 6. */
                                if (abi >= 6)
                                        printf("ABI %" PRIu64 "\n", abi);
                                else if (abi)
                                        printf("no (ABI %" PRIu64 ", scopes need 6)\n", abi);
                                else
                                        printf("no\n");
                        }
                }
                if (json_object_get(reply, "uid_killer"))
                        printf("ended uids:    %s\n", json_is_true(json_object_get(reply, "uid_killer"))
                                                              ? "processes killed at once (one kill(-1) as the uid)"
                                                              : "processes killed by walks of /proc (the log says why)");
                printf("templates:\n");
                templates = json_object_get(reply, "templates");
                json_array_foreach(templates, k, t)
                        printf("  %-16s ttl %-6s max %-6s sudo %-7s ssh %-7s %s\n", str(t, "name"), str(t, "ttl"),
                               str(t, "max_ttl"), str(t, "sudo"), str(t, "ssh"), str(t, "description"));
        }
        return 0;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        static const struct {
                const char *name;
                int (*fn)(int argc, char **argv);
        } commands[] = {
                { "mint", cmd_mint },     { "list", cmd_list },     { "show", cmd_show },
                { "revoke", cmd_revoke }, { "status", cmd_status }, { "run", cmd_run },
                { "token", cmd_creds },   { "verify", cmd_creds },  { "grant", cmd_creds },
                { "redeem", cmd_creds },  { "jwks", cmd_creds },    { "rotate-keys", cmd_creds },
                { "pending", cmd_pam },   { "approve", cmd_pam },   { "deny", cmd_pam },
                { "audit", cmd_audit },
        };
        int opt;

        /* "+": stop at the command; its options are its own. */
        while ((opt = getopt_long(argc, argv, "+", options, NULL)) != -1) {
                switch (opt) {
                case 's':
                        arg_socket = optarg;
                        break;
                case 'j':
                        arg_json = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        printf("agentctl %s\n", PACKAGE_VERSION);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind >= argc)
                return usage_error("no command given");
        for (size_t k = 0; k < ELEMENTSOF(commands); k++)
                if (streq(commands[k].name, argv[optind])) {
                        char **sub = argv + optind;
                        int subc = argc - optind;
                        optind = 0; /* reset getopt for the command's options */
                        return commands[k].fn(subc, sub);
                }
        return usage_error("unknown command \"%s\"", argv[optind]);
}
