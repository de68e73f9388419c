/* SPDX-License-Identifier: MIT */
/* agentctl audit: one agent's story (io.agentid.Audit), the offline
 * verifier of the hash chain (no broker needed), and retention (prune). */
#include "agentctl-audit.h"
#include "agentctl-call.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentid/protocol.h"
#include "audit-hash.h"
#include "client.h"
#include "duration.h"
#include "macro.h"
#include "names.h"
#include "protocol.h"

static int usage_error(const char *what) {
        fprintf(stderr, "agentctl audit: %s (see agentctl --help)\n", what);
        return 2;
}

/* Text from the broker goes to a terminal: control characters (ESC, CR,
 * bidi overrides are not ASCII controls but are escaped by the broker's
 * text rules) print as \xNN, never raw. */
static void put_safe(const char *s) {
        /* The shared rule (common/names.c): C0, DEL, C1, bidi and zero-width
         * characters as \xNN; idempotent on what the broker escaped. */
        char *e = text_escape(s ? s : "-");

        fputs(e ? e : "?", stdout);
        free(e);
}

static const char *jstr(json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

static int64_t jint(json_t *o, const char *key, int64_t dflt) {
        json_t *v = json_object_get(o, key);
        return json_is_integer(v) ? (int64_t) json_integer_value(v) : dflt;
}

static const char *user_name(int64_t uid, char *buf, size_t size) {
        struct passwd *pw = uid >= 0 ? getpwuid((uid_t) uid) : NULL;
        snprintf(buf, size, "%s", pw ? pw->pw_name : "?");
        return buf;
}

/* --since/--until: a duration ago ("1h") or RFC 3339 UTC. */
static int parse_time(const char *s, uint64_t *ret) {
        struct tm tm = {};
        uint64_t usec;
        char *end;

        if (duration_parse(s, &usec) == 0) {
                uint64_t now = now_usec();
                *ret = usec > now ? 0 : now - usec;
                return 0;
        }
        end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!end || (*end != 'Z' && *end != '\0') || (*end == 'Z' && end[1]))
                return -EINVAL;
        *ret = (uint64_t) timegm(&tm) * 1000000;
        return 0;
}

static void print_event_line(json_t *e, int64_t t0) {
        int64_t t = jint(e, "time_usec", 0), cuid = jint(e, "caller_uid", -1), cpid = jint(e, "caller_pid", -1);
        const char *agent = jstr(e, "agent");
        char name[64];

        printf("%+10.3fs  %-13s ", (double) (t - t0) / 1e6, jstr(e, "event") ? jstr(e, "event") : "?");
        if (agent) {
                put_safe(agent);
                putchar(' ');
        }
        if (cuid >= 0 && cuid == jint(e, "uid", -2))
                printf("[pid %" PRId64 "] ", cpid); /* the agent itself */
        else if (cuid >= 0)
                printf("[by uid %" PRId64 " %s pid %" PRId64 "] ", cuid, user_name(cuid, name, sizeof(name)), cpid);
        put_safe(jstr(e, "detail"));
        putchar('\n');
}

static void print_story_header(json_t *a) {
        json_t *d;
        size_t k;
        char name[64];
        int64_t owner = jint(a, "owner_uid", -1);

        printf("agent:         ");
        put_safe(jstr(a, "name"));
        printf(" (uid %" PRId64 "), template ", jint(a, "uid", -1));
        put_safe(jstr(a, "template"));
        printf(", %s\n", jstr(a, "state") ? jstr(a, "state") : "?");
        printf("invoker:       uid %" PRId64 " (%s), pid %" PRId64 "\n", owner, user_name(owner, name, sizeof(name)),
               jint(a, "invoker_pid", -1));
        printf("on behalf of:  ");
        put_safe(jstr(a, "on_behalf_of"));
        printf("\nreason:        ");
        put_safe(jstr(a, "reason"));
        printf("\n");
        if (json_array_size(json_object_get(a, "delegation")) > 0) {
                printf("acts for:     ");
                json_array_foreach(json_object_get(a, "delegation"), k, d) {
                        printf(" %s", k ? "> " : "");
                        put_safe(jstr(d, "sub"));
                        printf(" (%s)", jstr(d, "kind") ? jstr(d, "kind") : "?");
                }
                printf("\n");
        }
        printf("created:       %s, %s: %s\n", jstr(a, "created_at") ? jstr(a, "created_at") : "-",
               json_object_get(a, "ended_at") ? "ended" : "expires",
               jstr(a, json_object_get(a, "ended_at") ? "ended_at" : "expires_at") ?: "-");
}

static int by_time(const void *a, const void *b) {
        json_t *x = *(json_t *const *) a, *y = *(json_t *const *) b;
        int64_t tx = jint(x, "time_usec", 0), ty = jint(y, "time_usec", 0);
        int64_t sx = jint(x, "seq", 0), sy = jint(y, "seq", 0);

        if (tx != ty)
                return tx < ty ? -1 : 1;
        return sx < sy ? -1 : sx > sy;
}

/* Stable by seq for equal times. */
static void sort_by_time(json_t *array) {
        size_t n = json_array_size(array);
        json_t **v = n ? calloc(n, sizeof(*v)) : NULL;

        if (!v)
                return;
        for (size_t k = 0; k < n; k++)
                v[k] = json_incref(json_array_get(array, k));
        qsort(v, n, sizeof(*v), by_time);
        json_array_clear(array);
        for (size_t k = 0; k < n; k++)
                json_array_append_new(array, v[k]);
        free(v);
}

static int cmd_story(int argc, char **argv, const char *socket, bool json) {
        static const struct option options[] = {
                { "owner", required_argument, NULL, 'o' }, { "since", required_argument, NULL, 's' },
                { "until", required_argument, NULL, 'u' }, { "event", required_argument, NULL, 'e' },
                { "after", required_argument, NULL, 'a' }, {},
        };
        json_t *params = json_object(), *reply = NULL, *story = NULL;
        bool header_done = false;
        int64_t t0 = -1, n = 0;
        json_int_t after = 0;
        uint64_t t;
        int opt, r = 0;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
                switch (opt) {
                case 'o': {
                        struct passwd *pw = getpwnam(optarg);
                        char *end;
                        unsigned long uid = strtoul(optarg, &end, 10);
                        if (pw)
                                uid = pw->pw_uid;
                        else if (!*optarg || *end) {
                                json_decref(params);
                                fprintf(stderr, "agentctl audit: no user %s\n", optarg);
                                return 2;
                        }
                        json_object_set_new(params, "owner", json_integer((json_int_t) uid));
                        break;
                }
                case 's':
                case 'u':
                        if (parse_time(optarg, &t) < 0) {
                                json_decref(params);
                                return usage_error("--since/--until take a duration ago (1h) or a UTC time "
                                                   "(2026-11-23T15:00:00Z)");
                        }
                        json_object_set_new(params, opt == 's' ? "since_usec" : "until_usec",
                                            json_integer((json_int_t) t));
                        break;
                case 'e':
                        json_object_set_new(params, "event", json_string(optarg));
                        break;
                case 'a': {
                        /* Resume an export after the last seq seen. */
                        char *end;
                        unsigned long long v = strtoull(optarg, &end, 10);
                        if (!*optarg || *end || optarg[0] == '-' || v > INT64_MAX) {
                                json_decref(params);
                                return usage_error("--after takes a sequence number");
                        }
                        after = (json_int_t) v;
                        break;
                }
                default:
                        json_decref(params);
                        return 2;
                }
        }
        if (optind + 1 < argc) {
                json_decref(params);
                return usage_error("audit takes at most one agent NAME");
        }
        if (optind < argc && json_object_set_new(params, "agent", json_string(argv[optind])) < 0) {
                json_decref(params);
                return usage_error("the agent name is not valid text");
        }
        story = json_array();
        for (;;) {
                json_t *events, *e, *next;
                size_t k;

                json_object_set_new(params, "after", json_integer(after));
                r = agentctl_call(socket, AGENTID_METHOD_AUDIT, params, &reply);
                if (r)
                        break;
                if (!json && !header_done) {
                        if (json_object_get(reply, "identity"))
                                print_story_header(json_object_get(reply, "identity"));
                        printf("%11s  %-13s %s\n", "TIME", "EVENT", "DETAIL");
                        header_done = true;
                }
                events = json_object_get(reply, "events");
                json_array_foreach(events, k, e) {
                        n++;
                        if (json) {
                                /* One object per line in chain order, as a
                                 * SIEM reads it. */
                                char *line = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
                                if (line)
                                        puts(line);
                                free(line);
                        } else if (json_array_append(story, e) < 0) {
                                r = 1;
                                break;
                        }
                }
                next = json_object_get(reply, "next");
                if (!json_is_integer(next)) {
                        json_decref(reply);
                        break;
                }
                after = json_integer_value(next);
                json_decref(reply);
        }
        json_decref(params);
        /* The story in the order things happened: an exec is stamped with
         * the kernel's time, and may be chained a moment after events the
         * broker recorded meanwhile. */
        if (r == 0 && !json) {
                json_t *e;
                size_t k;
                sort_by_time(story);
                json_array_foreach(story, k, e) {
                        if (t0 < 0)
                                t0 = jint(e, "time_usec", 0);
                        print_event_line(e, t0);
                }
        }
        json_decref(story);
        if (r == 0 && !json && n == 0)
                printf("(no events)\n");
        return r;
}

static const char *runtime_dir(const char *socket, char *buf, size_t size) {
        snprintf(buf, size, "%s", agentid_socket_path(socket));
        return dirname(buf);
}

static int cmd_verify(int argc, char **argv, const char *socket, bool json) {
        static const struct option options[] = {
                { "db", required_argument, NULL, 'd' },
                { "key", required_argument, NULL, 'k' },
                { "checkpoint", required_argument, NULL, 'c' },
                {},
        };
        const char *db = AGENTID_STATE_DIR_DEFAULT "/agentid.db", *key_path = NULL, *cp_path = NULL;
        char rundir[4096], key_buf[4200], cp_buf[4200];
        struct audit_published_checkpoint published;
        struct audit_verify_result v;
        bool db_given = false, have_published = false;
        EVP_PKEY *key = NULL;
        int opt, r;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
                switch (opt) {
                case 'd':
                        db = optarg;
                        db_given = true;
                        break;
                case 'k':
                        key_path = optarg;
                        break;
                case 'c':
                        cp_path = optarg;
                        break;
                default:
                        return 2;
                }
        }
        if (optind < argc)
                return usage_error("verify takes no arguments");
        runtime_dir(socket, rundir, sizeof(rundir));
        if (!key_path) {
                snprintf(key_buf, sizeof(key_buf), "%s/audit-key.pub", rundir);
                key_path = key_buf;
        }
        /* The live database is checked against the published checkpoint
         * too (a tail cut together with its checkpoints shows); a copy is
         * older than it, so only when asked. */
        if (!cp_path && !db_given) {
                snprintf(cp_buf, sizeof(cp_buf), "%s/audit-checkpoint.json", rundir);
                cp_path = access(cp_buf, R_OK) == 0 ? cp_buf : NULL;
        }
        r = audit_read_public_key(key_path, &key);
        if (r < 0) {
                fprintf(stderr, "agentctl audit verify: %s: %s\n", key_path,
                        r == -EINVAL ? "not an Ed25519 public key (PEM)" : strerror(-r));
                return 1;
        }
        if (cp_path) {
                r = audit_read_published_checkpoint(cp_path, &published);
                if (r < 0) {
                        fprintf(stderr, "agentctl audit verify: %s: not a published checkpoint\n", cp_path);
                        EVP_PKEY_free(key);
                        return 1;
                }
                have_published = true;
        }
        if (access(db, R_OK) < 0) {
                fprintf(stderr, "agentctl audit verify: %s: %s\n", db, strerror(errno));
                EVP_PKEY_free(key);
                return 1;
        }
        r = audit_verify_db(db, key, have_published ? &published : NULL, &v);
        EVP_PKEY_free(key);
        if (r < 0) {
                fprintf(stderr, "agentctl audit verify: %s: cannot open: %s\n", db, strerror(-r));
                return 1;
        }
        if (json) {
                json_t *o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "ok", v.ok, "events",
                                      (json_int_t) v.n_events, "first_seq", (json_int_t) v.first_seq, "last_seq",
                                      (json_int_t) v.last_seq, "start_seq", (json_int_t) v.start_seq, "checkpoints",
                                      (json_int_t) v.n_checkpoints, "last_signed_seq", (json_int_t) v.last_signed_seq);
                if (o && !v.ok) {
                        json_object_set_new(o, "first_bad_seq", json_integer(v.first_bad_seq));
                        json_object_set_new(o, "error", json_string(v.why));
                }
                agentctl_print_json(o);
                json_decref(o);
        } else if (v.ok) {
                printf("audit chain ok: %" PRId64 " events (seq %" PRId64 "-%" PRId64 ")", v.n_events, v.first_seq,
                       v.last_seq);
                if (v.start_seq)
                        printf(", starting from the signed retention cut at seq %" PRId64, v.start_seq);
                printf(", %" PRId64 " signed checkpoints verified, last at seq %" PRId64 "\n", v.n_checkpoints,
                       v.last_signed_seq);
                if (v.last_seq > v.last_signed_seq)
                        printf("note: seq %" PRId64 "-%" PRId64 " are chained but not yet covered by a signed "
                               "checkpoint\n",
                               v.last_signed_seq + 1, v.last_seq);
        } else
                fprintf(stderr, "audit chain BROKEN at seq %" PRId64 ": %s\n", v.first_bad_seq, v.why);
        return v.ok ? 0 : 1;
}

static int cmd_prune(int argc, char **argv, const char *socket, bool json) {
        static const struct option options[] = {
                { "older-than", required_argument, NULL, 'o' },
                { "archive", required_argument, NULL, 'a' },
                {},
        };
        const char *archive = NULL;
        uint64_t older = 0;
        bool older_given = false;
        json_int_t after = 0, through = 0;
        FILE *f = NULL;
        json_t *reply = NULL, *params;
        int opt, r = 0;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
                switch (opt) {
                case 'o':
                        if (duration_parse(optarg, &older) < 0)
                                return usage_error("--older-than takes a duration (30d)");
                        older_given = true;
                        break;
                case 'a':
                        archive = optarg;
                        break;
                default:
                        return 2;
                }
        }
        if (!older_given || optind < argc)
                return usage_error("prune needs --older-than AGE and takes no arguments");
        if (archive) {
                /* Written by this process, as its caller: the broker never
                 * writes where a client tells it to. Never over a file. */
                int fd = open(archive, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                uint64_t until = now_usec() - older;
                if (fd < 0 || !(f = fdopen(fd, "w"))) {
                        fprintf(stderr, "agentctl audit prune: %s: %s\n", archive, strerror(errno));
                        if (fd >= 0)
                                close(fd);
                        return 1;
                }
                for (;;) {
                        json_t *events, *e, *next;
                        size_t k;
                        params = json_pack("{s:I, s:I}", "until_usec", (json_int_t) until, "after", after);
                        r = agentctl_call(socket, AGENTID_METHOD_AUDIT, params, &reply);
                        json_decref(params);
                        if (r)
                                break;
                        events = json_object_get(reply, "events");
                        json_array_foreach(events, k, e) {
                                char *line = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
                                if (!line || fprintf(f, "%s\n", line) < 0)
                                        r = 1;
                                free(line);
                                through = (json_int_t) jint(e, "seq", through);
                        }
                        next = json_object_get(reply, "next");
                        if (r || !json_is_integer(next)) {
                                json_decref(reply);
                                break;
                        }
                        after = json_integer_value(next);
                        json_decref(reply);
                }
                if (r == 0 && (fflush(f) != 0 || fsync(fileno(f)) < 0))
                        r = 1;
                if (r) {
                        fprintf(stderr, "agentctl audit prune: writing the archive %s failed; nothing pruned\n",
                                archive);
                        fclose(f);
                        return 1;
                }
                if (through == 0) {
                        fclose(f);
                        printf("nothing older than the cutoff: nothing pruned\n");
                        return 0;
                }
        }
        params = json_pack("{s:I}", "older_than_usec", (json_int_t) older);
        if (archive)
                json_object_set_new(params, "through", json_integer(through));
        r = agentctl_call(socket, AGENTID_METHOD_AUDIT_PRUNE, params, &reply);
        json_decref(params);
        if (r) {
                if (f)
                        fclose(f);
                return r;
        }
        if (f) {
                /* The archive ends with the signed cut that vouches for it. */
                json_t *cp = json_object_get(reply, "checkpoint");
                json_t *wrap = cp ? json_pack("{s:O}", "checkpoint", cp) : NULL;
                char *line = wrap ? json_dumps(wrap, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
                if (line)
                        fprintf(f, "%s\n", line);
                free(line);
                json_decref(wrap);
                if (fflush(f) != 0 || fsync(fileno(f)) < 0 || fclose(f) != 0)
                        fprintf(stderr, "agentctl audit prune: finishing the archive %s failed\n", archive);
        }
        if (json)
                agentctl_print_json(reply);
        else if (jint(reply, "cut_seq", 0) == 0)
                printf("nothing older than the cutoff: nothing pruned\n");
        else
                printf("pruned %" PRId64 " events through seq %" PRId64 " (signed cut %.16s...)%s%s\n",
                       jint(reply, "removed", 0), jint(reply, "cut_seq", 0), jstr(reply, "hash") ?: "",
                       archive ? "; archived in " : "", archive ? archive : "");
        json_decref(reply);
        return 0;
}

int agentctl_audit(int argc, char **argv, const char *socket, bool json) {
        if (argc >= 2 && streq(argv[1], "verify"))
                return cmd_verify(argc - 1, argv + 1, socket, json);
        if (argc >= 2 && streq(argv[1], "prune"))
                return cmd_prune(argc - 1, argv + 1, socket, json);
        return cmd_story(argc, argv, socket, json);
}
