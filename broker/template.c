/* SPDX-License-Identifier: MIT */
#include "template.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "ini-file.h"
#include "macro.h"
#include "names.h"
#include "agentid/token.h"

#define DEFAULT_TTL_USEC (UINT64_C(5) * 60 * 1000000)
#define DEFAULT_MAX_TTL_USEC (UINT64_C(60) * 60 * 1000000)
/* %S: the broker's state directory, so a test broker keeps homes in its own. */
#define DEFAULT_HOME "%S/home/%n"
#define DEFAULT_SHELL "/bin/sh"
#define DEFAULT_MAX_CHILDREN 16

void template_default(struct template *t) {
        *t = (struct template) {
                .ttl_usec = DEFAULT_TTL_USEC,
                .max_ttl_usec = DEFAULT_MAX_TTL_USEC,
                .sudo = STEP_DENY,
                .ssh = STEP_DENY,
                .invokers = { .uids = { 0 }, .n_uids = 1 },
                .approvers = { .uids = { 0 }, .n_uids = 1 },
                .max_depth = 0,
                .max_children = DEFAULT_MAX_CHILDREN,
        };
        strcpy(t->name, "default");
        strcpy(t->description, "built-in: short-lived, no extra groups, no sudo or ssh, root only");
        strcpy(t->home, DEFAULT_HOME);
        strcpy(t->shell, DEFAULT_SHELL);
        strcpy(t->source, "built-in");
        confinement_default(&t->confinement);
}

const char *step_rule_to_string(enum step_rule r) {
        switch (r) {
        case STEP_ALLOW:
                return "allow";
        case STEP_APPROVE:
                return "approve";
        default:
                return "deny";
        }
}

static int parse_step_rule(const char *v, enum step_rule *ret) {
        if (streq(v, "deny"))
                *ret = STEP_DENY;
        else if (streq(v, "allow"))
                *ret = STEP_ALLOW;
        else if (streq(v, "approve"))
                *ret = STEP_APPROVE;
        else
                return -EINVAL;
        return 0;
}

struct parse_ctx {
        struct template *t;
        char *why;
        size_t why_size;
        bool seen_name, seen_ttl, seen_max_ttl;
};

static int add_group(void *userdata, const char *word) {
        struct parse_ctx *ctx = userdata;
        struct template *t = ctx->t;
        gid_t g;

        if (t->n_groups >= AGENTID_TEMPLATE_GROUPS_MAX) {
                snprintf(ctx->why, ctx->why_size, "too many groups (at most %d)", AGENTID_TEMPLATE_GROUPS_MAX);
                return -E2BIG;
        }
        if (!unix_name_is_valid(word) || resolve_group(word, &g) < 0) {
                snprintf(ctx->why, ctx->why_size, "unknown group \"%.64s\"", word);
                return -ESRCH;
        }
        /* gid 0 would make every agent a member of root's group. */
        if (g == 0) {
                snprintf(ctx->why, ctx->why_size, "group \"%.64s\" is gid 0, which agents may not join", word);
                return -EPERM;
        }
        t->groups[t->n_groups] = g;
        strcpy(t->group_names[t->n_groups], word);
        t->n_groups++;
        return 0;
}

static int add_scope(void *userdata, const char *word) {
        struct parse_ctx *ctx = userdata;
        struct template *t = ctx->t;

        if (t->n_scopes >= AGENTID_SCOPES_MAX) {
                snprintf(ctx->why, ctx->why_size, "too many scopes (at most %d)", AGENTID_SCOPES_MAX);
                return -E2BIG;
        }
        if (strlen(word) > AGENTID_SCOPE_LEN_MAX || !text_is_valid(word, AGENTID_SCOPE_LEN_MAX) ||
            strpbrk(word, "\"\\")) {
                snprintf(ctx->why, ctx->why_size, "invalid scope \"%.64s\"", word);
                return -EINVAL;
        }
        strcpy(t->scopes[t->n_scopes++], word);
        return 0;
}

static int parse_path(const char *v, char *dst, size_t size) {
        if (v[0] != '/' || strlen(v) >= size || !text_is_valid(v, size - 1) || strstr(v, "/../") ||
            strchr(v, ':'))
                return -EINVAL;
        strcpy(dst, v);
        return 0;
}

static int on_key(void *userdata, const char *section, const char *key, const char *value, char *why,
                  size_t why_size) {
        struct parse_ctx *ctx = userdata;
        struct template *t = ctx->t;
        char inner[192];
        int r;

        /* List helpers report through ctx: point it at this key's buffer. */
        ctx->why = why;
        ctx->why_size = why_size;
        if (!streq(section, "template")) {
                snprintf(why, why_size, "unknown section [%.32s] (expected [template])", section);
                return -EINVAL;
        }
        if (streq(key, "name")) {
                if (!template_name_is_valid(value)) {
                        snprintf(why, why_size, "name must be [a-z][a-z0-9-]*, at most %d characters",
                                 AGENTID_TEMPLATE_NAME_MAX);
                        return -EINVAL;
                }
                strcpy(t->name, value);
                ctx->seen_name = true;
        } else if (streq(key, "description")) {
                if (!text_is_valid(value, AGENTID_DESCRIPTION_MAX)) {
                        snprintf(why, why_size, "description must be printable text, at most %d bytes",
                                 AGENTID_DESCRIPTION_MAX);
                        return -EINVAL;
                }
                strcpy(t->description, value);
        } else if (streq(key, "ttl") || streq(key, "max_ttl")) {
                uint64_t usec;
                r = duration_parse(value, &usec);
                if (r < 0 || usec < AGENTID_TTL_MIN_USEC || usec > AGENTID_TTL_MAX_USEC) {
                        snprintf(why, why_size, "%s must be a duration between 1s and 7d", key);
                        return -EINVAL;
                }
                if (streq(key, "ttl")) {
                        t->ttl_usec = usec;
                        ctx->seen_ttl = true;
                } else {
                        t->max_ttl_usec = usec;
                        ctx->seen_max_ttl = true;
                }
        } else if (streq(key, "groups")) {
                t->n_groups = 0;
                r = ini_split_list(value, add_group, ctx);
                if (r < 0)
                        return r;
        } else if (streq(key, "invokers") || streq(key, "approvers")) {
                r = principal_set_parse(streq(key, "invokers") ? &t->invokers : &t->approvers, value, inner,
                                        sizeof(inner));
                if (r < 0) {
                        snprintf(why, why_size, "%s: %s", key, inner);
                        return r;
                }
        } else if (streq(key, "sudo") || streq(key, "ssh")) {
                if (parse_step_rule(value, streq(key, "sudo") ? &t->sudo : &t->ssh) < 0) {
                        snprintf(why, why_size, "%s must be deny, allow or approve", key);
                        return -EINVAL;
                }
        } else if (streq(key, "scopes")) {
                t->n_scopes = 0;
                r = ini_split_list(value, add_scope, ctx);
                if (r < 0)
                        return r;
        } else if (streq(key, "home")) {
                /* Absolute, or under the broker's state directory ("%S/..."). */
                const char *rest = strncmp(value, "%S/", 3) == 0 ? value + 2 : value;
                char checked[AGENTID_PATH_MAX + 1];
                if (parse_path(rest, checked, sizeof(checked)) < 0 || !strstr(value, "%n") ||
                    strlen(value) >= sizeof(t->home)) {
                        snprintf(why, why_size, "home must be an absolute path (or start with %%S/) containing %%n");
                        return -EINVAL;
                }
                strcpy(t->home, value);
        } else if (streq(key, "max_depth") || streq(key, "max_children")) {
                bool depth = streq(key, "max_depth");
                unsigned max = depth ? AGENTID_DELEGATION_DEPTH_MAX : AGENTID_CHILDREN_MAX;
                char *end;
                unsigned long n;
                errno = 0;
                n = strtoul(value, &end, 10);
                if (!(value[0] >= '0' && value[0] <= '9') || errno || *end || n > max) {
                        snprintf(why, why_size, "%s must be a number from 0 to %u", key, max);
                        return -EINVAL;
                }
                *(depth ? &t->max_depth : &t->max_children) = (unsigned) n;
        } else if (streq(key, "lifetime")) {
                if (streq(value, "ttl"))
                        t->lifetime = LIFETIME_TTL;
                else if (streq(value, "session"))
                        t->lifetime = LIFETIME_SESSION;
                else {
                        snprintf(why, why_size, "lifetime must be ttl or session");
                        return -EINVAL;
                }
        } else if (streq(key, "shell")) {
                if (parse_path(value, t->shell, sizeof(t->shell)) < 0) {
                        snprintf(why, why_size, "shell must be an absolute path");
                        return -EINVAL;
                }
        } else if (confinement_key_is_known(key)) {
                return confinement_parse(&t->confinement, key, value, why, why_size);
        } else {
                snprintf(why, why_size, "unknown key \"%.64s\"", key);
                return -EINVAL;
        }
        return 0;
}

int template_parse_file(const char *path, struct template *t, char *error, size_t error_size) {
        struct parse_ctx ctx = { .t = t };
        int r;

        /* Start from the default but with nobody listed: a template names
         * its invokers and approvers (root is always both, see policy.c). */
        template_default(t);
        t->invokers = (struct principal_set) {};
        t->approvers = (struct principal_set) {};
        t->name[0] = '\0';
        t->description[0] = '\0';
        snprintf(t->source, sizeof(t->source), "%s", path);

        r = ini_file_parse(path, on_key, &ctx, error, error_size);
        if (r < 0) {
                if (!error[0])
                        snprintf(error, error_size, "%s: %s", path, strerror(-r));
                return r;
        }
        if (!ctx.seen_name) {
                snprintf(error, error_size, "%s: no name = in [template]", path);
                return -EINVAL;
        }
        /* A max_ttl alone lowers the default ttl to fit under it. */
        if (ctx.seen_max_ttl && !ctx.seen_ttl && t->ttl_usec > t->max_ttl_usec)
                t->ttl_usec = t->max_ttl_usec;
        if (ctx.seen_ttl && !ctx.seen_max_ttl && t->max_ttl_usec < t->ttl_usec)
                t->max_ttl_usec = t->ttl_usec;
        if (t->ttl_usec > t->max_ttl_usec) {
                snprintf(error, error_size, "%s: ttl is longer than max_ttl", path);
                return -EINVAL;
        }
        return 0;
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int template_set_load(struct template_set *set, const char *dir, void (*report)(const char *message)) {
        _cleanup_free_ char **names = NULL;
        size_t n_names = 0, cap = 0;
        struct template *items = NULL;
        size_t n = 0;
        DIR *d;
        struct dirent *de;
        int r = 0;

        set->items = NULL;
        set->n = 0;
        d = opendir(dir);
        if (d) {
                while ((de = readdir(d))) {
                        size_t l = strlen(de->d_name);
                        if (de->d_name[0] == '.' || l < 6 || !streq(de->d_name + l - 5, ".conf"))
                                continue;
                        if (n_names == cap) {
                                size_t ncap = cap ? cap * 2 : 16;
                                char **nn = realloc(names, ncap * sizeof(char *));
                                if (!nn) {
                                        r = -ENOMEM;
                                        break;
                                }
                                names = nn;
                                cap = ncap;
                        }
                        names[n_names] = strdup(de->d_name);
                        if (!names[n_names]) {
                                r = -ENOMEM;
                                break;
                        }
                        n_names++;
                }
                closedir(d);
        } else if (errno != ENOENT) {
                char msg[512];
                snprintf(msg, sizeof(msg), "%s: %s", dir, strerror(errno));
                report(msg);
        }

        if (r == 0 && n_names > 0) {
                qsort(names, n_names, sizeof(char *), compare_names);
                items = calloc(n_names, sizeof(struct template));
                if (!items)
                        r = -ENOMEM;
        }
        for (size_t i = 0; r == 0 && i < n_names; i++) {
                char path[AGENTID_PATH_MAX * 2], error[512];
                struct template *t = &items[n];

                snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                if (template_parse_file(path, t, error, sizeof(error)) < 0) {
                        char msg[600];
                        snprintf(msg, sizeof(msg), "%s; template skipped", error);
                        report(msg);
                        continue;
                }
                if (template_set_find(&(struct template_set) { items, n }, t->name)) {
                        char msg[600];
                        snprintf(msg, sizeof(msg), "%s: template \"%s\" is already defined; skipped", path, t->name);
                        report(msg);
                        continue;
                }
                n++;
        }
        for (size_t i = 0; i < n_names; i++)
                free(names[i]);

        if (r < 0) {
                free(items);
                return r;
        }
        if (n == 0) {
                free(items);
                items = calloc(1, sizeof(struct template));
                if (!items)
                        return -ENOMEM;
                template_default(&items[0]);
                n = 1;
        }
        set->items = items;
        set->n = n;
        return 0;
}

void template_set_free(struct template_set *set) {
        free(set->items);
        set->items = NULL;
        set->n = 0;
}

const struct template *template_set_find(const struct template_set *set, const char *name) {
        for (size_t i = 0; i < set->n; i++)
                if (streq(set->items[i].name, name))
                        return &set->items[i];
        return NULL;
}

int template_home_for(const struct template *t, const char *agent_name, const char *state_dir, char *buf,
                      size_t size) {
        size_t o = 0;

        for (const char *p = t->home; *p; p++) {
                const char *piece;
                char one[2] = { *p, 0 };
                if (p[0] == '%' && p[1] == 'n') {
                        piece = agent_name;
                        p++;
                } else if (p[0] == '%' && p[1] == 'S') {
                        piece = state_dir;
                        p++;
                } else if (p[0] == '%' && p[1] == '%') {
                        piece = "%";
                        p++;
                } else
                        piece = one;
                size_t l = strlen(piece);
                if (o + l >= size)
                        return -ENAMETOOLONG;
                memcpy(buf + o, piece, l);
                o += l;
        }
        buf[o] = '\0';
        return 0;
}
