/* SPDX-License-Identifier: MIT */
#include "confinement.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "names.h"

#define DEFAULT_TASKS_MAX 512

void confinement_default(struct confinement *c) {
        *c = (struct confinement) {
                .protect_system = PROTECT_SYSTEM_STRICT,
                .protect_home = PROTECT_HOME_NO,
                .tasks_max = DEFAULT_TASKS_MAX,
                .memory_max = CONFINEMENT_UNLIMITED,
                .limit_nofile_soft = CONFINEMENT_UNLIMITED,
                .limit_nofile_hard = CONFINEMENT_UNLIMITED,
                .restrict_namespaces = true,
        };
}

static const char *const known_keys[] = {
        "ProtectSystem", "ProtectHome", "ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths",
        "PrivateNetwork", "TasksMax", "MemoryMax", "CPUQuota", "LimitNOFILE", "RestrictNamespaces",
};

bool confinement_key_is_known(const char *key) {
        for (size_t k = 0; k < ELEMENTSOF(known_keys); k++)
                if (streq(key, known_keys[k]))
                        return true;
        return false;
}

const char *protect_system_to_string(enum protect_system p) {
        static const char *const s[] = { "no", "yes", "full", "strict" };
        return s[p];
}

const char *protect_home_to_string(enum protect_home p) {
        static const char *const s[] = { "no", "yes", "read-only", "tmpfs" };
        return s[p];
}

/* systemd's boolean words. */
static int parse_boolean(const char *v) {
        static const char *const yes[] = { "yes", "y", "true", "t", "on", "1" };
        static const char *const no[] = { "no", "n", "false", "f", "off", "0" };
        for (size_t k = 0; k < ELEMENTSOF(yes); k++)
                if (strcasecmp(v, yes[k]) == 0)
                        return 1;
        for (size_t k = 0; k < ELEMENTSOF(no); k++)
                if (strcasecmp(v, no[k]) == 0)
                        return 0;
        return -EINVAL;
}

static int parse_uint(const char *v, uint64_t *ret, char **end) {
        if (!(v[0] >= '0' && v[0] <= '9'))
                return -EINVAL;
        errno = 0;
        *ret = strtoull(v, end, 10);
        return errno ? -ERANGE : 0;
}

/* "1234", "512K", "2G" (base 1024, as systemd), "infinity". */
static int parse_size(const char *v, uint64_t *ret) {
        static const char suffixes[] = "KMGT";
        uint64_t n, mult = 1;
        char *end;

        if (streq(v, "infinity")) {
                *ret = CONFINEMENT_UNLIMITED;
                return 0;
        }
        if (parse_uint(v, &n, &end) < 0)
                return -EINVAL;
        if (*end) {
                const char *s = strchr(suffixes, *end);
                if (!s || end[1])
                        return -EINVAL;
                for (const char *p = suffixes; p <= s; p++)
                        mult *= 1024;
        }
        if (n > UINT64_MAX / mult)
                return -ERANGE;
        *ret = n * mult;
        return 0;
}

static int add_paths(struct confinement_paths *list, const char *key, const char *value, char *why,
                     size_t why_size) {
        char buf[1024], *save = NULL;

        if (!value[0]) { /* systemd: an empty assignment resets the list */
                list->n = 0;
                return 0;
        }
        if (strlen(value) >= sizeof(buf)) {
                snprintf(why, why_size, "%s: value too long", key);
                return -EINVAL;
        }
        strcpy(buf, value);
        for (char *w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
                struct confinement_path *p;
                bool optional = w[0] == '-';
                const char *path = optional ? w + 1 : w;

                if (path[0] == '+') {
                        snprintf(why, why_size, "%s: \"+\" paths (relative to a root directory) are not supported",
                                 key);
                        return -EINVAL;
                }
                if (path[0] != '/' || strlen(path) > AGENTID_PATH_MAX || !text_is_valid(path, AGENTID_PATH_MAX) ||
                    strstr(path, "/../") || strstr(path, "/./") ||
                    (strlen(path) >= 3 && streq(path + strlen(path) - 3, "/..")) ||
                    (strlen(path) >= 2 && streq(path + strlen(path) - 2, "/."))) {
                        snprintf(why, why_size, "%s: \"%.64s\" is not a normalized absolute path", key, w);
                        return -EINVAL;
                }
                if (list->n >= CONFINEMENT_PATHS_MAX) {
                        snprintf(why, why_size, "%s: at most %d paths", key, CONFINEMENT_PATHS_MAX);
                        return -E2BIG;
                }
                p = &list->items[list->n++];
                strcpy(p->path, path);
                p->optional = optional;
        }
        return 0;
}

int confinement_parse(struct confinement *c, const char *key, const char *value, char *why, size_t why_size) {
        uint64_t n;
        char *end;
        int b;

        if (streq(key, "ProtectSystem")) {
                b = parse_boolean(value);
                if (b >= 0)
                        c->protect_system = b ? PROTECT_SYSTEM_YES : PROTECT_SYSTEM_NO;
                else if (streq(value, "full"))
                        c->protect_system = PROTECT_SYSTEM_FULL;
                else if (streq(value, "strict"))
                        c->protect_system = PROTECT_SYSTEM_STRICT;
                else
                        goto invalid;
        } else if (streq(key, "ProtectHome")) {
                b = parse_boolean(value);
                if (b >= 0)
                        c->protect_home = b ? PROTECT_HOME_YES : PROTECT_HOME_NO;
                else if (streq(value, "read-only"))
                        c->protect_home = PROTECT_HOME_READ_ONLY;
                else if (streq(value, "tmpfs"))
                        c->protect_home = PROTECT_HOME_TMPFS;
                else
                        goto invalid;
        } else if (streq(key, "ReadWritePaths"))
                return add_paths(&c->read_write, key, value, why, why_size);
        else if (streq(key, "ReadOnlyPaths"))
                return add_paths(&c->read_only, key, value, why, why_size);
        else if (streq(key, "InaccessiblePaths"))
                return add_paths(&c->inaccessible, key, value, why, why_size);
        else if (streq(key, "PrivateNetwork")) {
                b = parse_boolean(value);
                if (b < 0)
                        goto invalid;
                c->private_network = b;
        } else if (streq(key, "RestrictNamespaces")) {
                /* Only all or nothing: systemd's lists of namespace types
                 * are not taken (yet), and a list read as "yes" or "no"
                 * would be a silent surprise. */
                b = parse_boolean(value);
                if (b < 0)
                        goto invalid;
                c->restrict_namespaces = b;
                c->restrict_namespaces_set = true;
        } else if (streq(key, "TasksMax")) {
                if (streq(value, "infinity"))
                        c->tasks_max = CONFINEMENT_UNLIMITED;
                else if (parse_uint(value, &n, &end) == 0 && !*end && n > 0)
                        c->tasks_max = n;
                else
                        goto invalid;
        } else if (streq(key, "MemoryMax")) {
                if (parse_size(value, &n) < 0 || n < 4096)
                        goto invalid;
                c->memory_max = n;
        } else if (streq(key, "CPUQuota")) {
                if (!value[0])
                        c->cpu_quota_percent = 0;
                else if (parse_uint(value, &n, &end) == 0 && streq(end, "%") && n > 0 && n <= 100000)
                        c->cpu_quota_percent = n;
                else
                        goto invalid;
        } else if (streq(key, "LimitNOFILE")) {
                const char *colon = strchr(value, ':');
                uint64_t soft, hard;
                char first[32];

                if (!colon) {
                        if (streq(value, "infinity"))
                                soft = CONFINEMENT_UNLIMITED;
                        else if (parse_uint(value, &soft, &end) < 0 || *end)
                                goto invalid;
                        hard = soft;
                } else {
                        if ((size_t) (colon - value) >= sizeof(first))
                                goto invalid;
                        memcpy(first, value, (size_t) (colon - value));
                        first[colon - value] = '\0';
                        if (!(streq(first, "infinity") ? (soft = CONFINEMENT_UNLIMITED, true)
                                                       : parse_uint(first, &soft, &end) == 0 && !*end) ||
                            !(streq(colon + 1, "infinity") ? (hard = CONFINEMENT_UNLIMITED, true)
                                                            : parse_uint(colon + 1, &hard, &end) == 0 && !*end) ||
                            soft > hard)
                                goto invalid;
                }
                if (soft == 0)
                        goto invalid;
                c->limit_nofile_soft = soft;
                c->limit_nofile_hard = hard;
        } else {
                snprintf(why, why_size, "unknown key \"%.64s\"", key);
                return -EINVAL;
        }
        return 0;
invalid:
        snprintf(why, why_size, "%s: invalid value \"%.64s\"", key, value);
        return -EINVAL;
}

int confinement_format(const struct confinement *c, char *buf, size_t size) {
        const struct {
                const char *key;
                const struct confinement_paths *list;
        } lists[] = { { "ReadWritePaths", &c->read_write },
                      { "ReadOnlyPaths", &c->read_only },
                      { "InaccessiblePaths", &c->inaccessible } };
        size_t o = 0;

#define PUT(...)                                                                                                   \
        do {                                                                                                       \
                int _w = snprintf(buf + o, o < size ? size - o : 0, __VA_ARGS__);                                  \
                if (_w < 0)                                                                                        \
                        return -EINVAL;                                                                            \
                o += (size_t) _w;                                                                                  \
        } while (0)
        if (size)
                buf[0] = '\0';
        PUT("ProtectSystem=%s\nProtectHome=%s\n", protect_system_to_string(c->protect_system),
            protect_home_to_string(c->protect_home));
        for (size_t l = 0; l < ELEMENTSOF(lists); l++)
                if (lists[l].list->n) {
                        PUT("%s=", lists[l].key);
                        for (size_t k = 0; k < lists[l].list->n; k++)
                                PUT("%s%s%s", k ? " " : "", lists[l].list->items[k].optional ? "-" : "",
                                    lists[l].list->items[k].path);
                        PUT("\n");
                }
        if (c->private_network)
                PUT("PrivateNetwork=yes\n");
        if (!c->restrict_namespaces)
                PUT("RestrictNamespaces=no\n");
        if (c->tasks_max != CONFINEMENT_UNLIMITED)
                PUT("TasksMax=%" PRIu64 "\n", c->tasks_max);
        if (c->memory_max != CONFINEMENT_UNLIMITED)
                PUT("MemoryMax=%" PRIu64 "\n", c->memory_max);
        if (c->cpu_quota_percent)
                PUT("CPUQuota=%" PRIu64 "%%\n", c->cpu_quota_percent);
        if (c->limit_nofile_hard != CONFINEMENT_UNLIMITED)
                PUT("LimitNOFILE=%" PRIu64 ":%" PRIu64 "\n", c->limit_nofile_soft, c->limit_nofile_hard);
#undef PUT
        return o < size ? 0 : -ENOBUFS;
}
