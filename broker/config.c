/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "duration.h"
#include "ini-file.h"
#include "macro.h"
#include "names.h"
#include "uri.h"

void config_init(struct config *c, const char *config_path) {
        char dir[AGENTID_PATH_MAX + 1], host[256] = "";

        *c = (struct config) {
                .uid_min = AGENTID_UID_MIN_DEFAULT,
                .uid_max = AGENTID_UID_MAX_DEFAULT,
                .max_connections = AGENTID_MAX_CONNECTIONS_DEFAULT,
                .idle_timeout_usec = AGENTID_IDLE_TIMEOUT_USEC_DEFAULT,
                .journal = JOURNAL_AUTO,
                .token_leeway_usec = AGENTID_TOKEN_LEEWAY_DEFAULT_USEC,
                .audit_checkpoint_interval_usec = UINT64_C(60) * 1000000,
                .exec_trail = true,
                .exec_trail_max = 1000,
                /* max_connections / 8 until set (config_load follows
                 * max_connections unless reserved_connections is given) */
                .reserved_connections = AGENTID_MAX_CONNECTIONS_DEFAULT / AGENTID_RESERVED_CONNECTIONS_DIVISOR,
                .max_connections_per_uid = AGENTID_MAX_CONNECTIONS_PER_UID_DEFAULT,
                .request_rate = AGENTID_REQUEST_RATE_DEFAULT,
                .request_burst = AGENTID_REQUEST_BURST_DEFAULT,
                .refusal_window_usec = AGENTID_REFUSAL_WINDOW_USEC_DEFAULT,
                .key_publish_ahead_usec = AGENTID_KEY_PUBLISH_AHEAD_DEFAULT_USEC,
                .key_rotation_interval_usec = AGENTID_KEY_ROTATION_INTERVAL_DEFAULT_USEC,
                .status_list_ttl_usec = AGENTID_STATUS_LIST_TTL_DEFAULT_USEC,
        };
        strcpy(c->name_prefix, "ag-");
        strcpy(c->task_runtime, "auto");
        /* A verifier elsewhere must be able to tell hosts' tokens apart. */
        if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
                strcpy(host, "localhost");
        host[sizeof(host) - 1] = '\0';
        snprintf(c->issuer, sizeof(c->issuer), "agentid:%s", host);
        snprintf(dir, sizeof(dir), "%s", config_path);
        snprintf(c->templates_dir, sizeof(c->templates_dir), "%s/templates.d", dirname(dir));
}

static int parse_u32(const char *v, uint32_t *ret) {
        char *end;
        unsigned long long n;

        if (!(*v >= '0' && *v <= '9'))
                return -EINVAL;
        errno = 0;
        n = strtoull(v, &end, 10);
        if (errno || *end || n >= UINT32_MAX)
                return -EINVAL;
        *ret = (uint32_t) n;
        return 0;
}

/* A duration key within [min, max]: 0, or -EINVAL with why saying the range. */
static int parse_duration_in(const char *key, const char *value, uint64_t min, uint64_t max, uint64_t *ret,
                             char *why, size_t why_size) {
        char lo[32], hi[32];
        uint64_t usec;

        if (duration_parse(value, &usec) < 0 || usec < min || usec > max) {
                snprintf(why, why_size, "%s must be a duration between %s and %s", key,
                         min == 0 ? "0s" : duration_format(min, lo, sizeof(lo)), duration_format(max, hi, sizeof(hi)));
                return -EINVAL;
        }
        *ret = usec;
        return 0;
}

static int on_key(void *userdata, const char *section, const char *key, const char *value, char *why,
                  size_t why_size) {
        struct config *c = userdata;
        uint32_t n;

        if (!streq(section, "broker")) {
                snprintf(why, why_size, "unknown section [%.32s] (expected [broker])", section);
                return -EINVAL;
        }
        if (streq(key, "name_prefix")) {
                if (!name_prefix_is_valid(value)) {
                        snprintf(why, why_size, "name_prefix must be [a-z][a-z0-9-]*, at most %d characters",
                                 AGENTID_PREFIX_MAX);
                        return -EINVAL;
                }
                strcpy(c->name_prefix, value);
        } else if (streq(key, "uid_min") || streq(key, "uid_max")) {
                if (parse_u32(value, &n) < 0 || n == 0) {
                        snprintf(why, why_size, "%s must be a uid between 1 and 4294967294", key);
                        return -EINVAL;
                }
                *(streq(key, "uid_min") ? &c->uid_min : &c->uid_max) = n;
        } else if (streq(key, "max_connections")) {
                if (parse_u32(value, &n) < 0 || n < 1 || n > 65536) {
                        snprintf(why, why_size, "max_connections must be between 1 and 65536");
                        return -EINVAL;
                }
                c->max_connections = n;
        } else if (streq(key, "reserved_connections") || streq(key, "max_connections_per_uid") ||
                   streq(key, "request_rate") || streq(key, "request_burst")) {
                bool zero_ok = streq(key, "reserved_connections");
                if (parse_u32(value, &n) < 0 || (n == 0 && !zero_ok) || n > 65536) {
                        snprintf(why, why_size, "%s must be between %d and 65536", key, zero_ok ? 0 : 1);
                        return -EINVAL;
                }
                if (streq(key, "reserved_connections")) {
                        c->reserved_connections = n;
                        c->reserved_connections_set = true;
                } else if (streq(key, "max_connections_per_uid"))
                        c->max_connections_per_uid = n;
                else if (streq(key, "request_rate"))
                        c->request_rate = n;
                else
                        c->request_burst = n;
        } else if (streq(key, "refusal_window")) {
                return parse_duration_in(key, value, 1000000, UINT64_C(300) * 1000000, &c->refusal_window_usec, why,
                                         why_size);
        } else if (streq(key, "idle_timeout")) {
                return parse_duration_in(key, value, 100000, UINT64_C(3600) * 1000000, &c->idle_timeout_usec, why,
                                         why_size);
        } else if (streq(key, "task_runtime")) {
                if (!streq(value, "auto") && !streq(value, "direct") && !streq(value, "systemd")) {
                        snprintf(why, why_size, "task_runtime must be auto, direct or systemd");
                        return -EINVAL;
                }
                strcpy(c->task_runtime, value);
        } else if (streq(key, "templates_dir")) {
                if (value[0] != '/' || strlen(value) > AGENTID_PATH_MAX) {
                        snprintf(why, why_size, "templates_dir must be an absolute path");
                        return -EINVAL;
                }
                strcpy(c->templates_dir, value);
        } else if (streq(key, "admins")) {
                char inner[192];
                int r = principal_set_parse(&c->admins, value, inner, sizeof(inner));
                if (r < 0) {
                        snprintf(why, why_size, "admins: %s", inner);
                        return r;
                }
        } else if (streq(key, "journal")) {
                if (!strcasecmp(value, "auto"))
                        c->journal = JOURNAL_AUTO;
                else if (!strcasecmp(value, "required"))
                        c->journal = JOURNAL_REQUIRED;
                else if (!strcasecmp(value, "off"))
                        c->journal = JOURNAL_OFF;
                else {
                        snprintf(why, why_size, "journal must be auto, required or off");
                        return -EINVAL;
                }
        } else if (streq(key, "issuer")) {
                /* RFC 8414 section 2: no query, no fragment. */
                if (!uri_is_absolute(value, AGENTID_ISSUER_MAX, false)) {
                        snprintf(why, why_size,
                                 "issuer must be an absolute URI without query or fragment, at most %d bytes "
                                 "(an https URL for discovery)",
                                 AGENTID_ISSUER_MAX);
                        return -EINVAL;
                }
                strcpy(c->issuer, value);
        } else if (streq(key, "key_publish_ahead") || streq(key, "key_rotation_interval") ||
                   streq(key, "status_list_ttl")) {
                bool ttl = streq(key, "status_list_ttl");
                return parse_duration_in(key, value, ttl ? 1000000 : 0,
                                         ttl ? AGENTID_STATUS_LIST_TTL_MAX_USEC : AGENTID_KEY_DURATION_MAX_USEC,
                                         ttl ? &c->status_list_ttl_usec
                                         : streq(key, "key_publish_ahead") ? &c->key_publish_ahead_usec
                                                                           : &c->key_rotation_interval_usec,
                                         why, why_size);
        } else if (streq(key, "token_leeway")) {
                return parse_duration_in(key, value, 0, AGENTID_TOKEN_LEEWAY_MAX_USEC, &c->token_leeway_usec, why,
                                         why_size);
        } else if (streq(key, "audit_checkpoint_interval")) {
                return parse_duration_in(key, value, 1000000, UINT64_C(86400) * 1000000,
                                         &c->audit_checkpoint_interval_usec, why, why_size);
        } else if (streq(key, "exec_trail")) {
                if (streq(value, "yes") || streq(value, "true"))
                        c->exec_trail = true;
                else if (streq(value, "no") || streq(value, "false"))
                        c->exec_trail = false;
                else {
                        snprintf(why, why_size, "exec_trail must be yes or no");
                        return -EINVAL;
                }
        } else if (streq(key, "exec_trail_max")) {
                char *end;
                unsigned long v;
                errno = 0;
                v = strtoul(value, &end, 10);
                if (errno || end == value || *end || value[0] == '-' || v > 1000000) {
                        snprintf(why, why_size, "exec_trail_max must be a number from 0 to 1000000");
                        return -EINVAL;
                }
                c->exec_trail_max = (unsigned) v;
        } else {
                snprintf(why, why_size, "unknown key \"%.64s\"", key);
                return -EINVAL;
        }
        return 0;
}

int config_load(struct config *c, const char *path, char *error, size_t error_size) {
        int r = ini_file_parse(path, on_key, c, error, error_size);

        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                if (!error[0])
                        snprintf(error, error_size, "%s: %s", path, strerror(-r));
                return r;
        }
        if (c->uid_min > c->uid_max) {
                snprintf(error, error_size, "%s: uid_min is above uid_max", path);
                return -EINVAL;
        }
        if (!c->reserved_connections_set)
                c->reserved_connections = c->max_connections / AGENTID_RESERVED_CONNECTIONS_DIVISOR;
        else if (c->reserved_connections >= c->max_connections) {
                snprintf(error, error_size,
                         "%s: reserved_connections must be below max_connections (others need a slot too)", path);
                return -EINVAL;
        }
        /* A key must be published ahead before it is due to sign. */
        if (c->key_rotation_interval_usec && c->key_rotation_interval_usec <= c->key_publish_ahead_usec) {
                snprintf(error, error_size, "%s: key_rotation_interval must be longer than key_publish_ahead (or 0s)",
                         path);
                return -EINVAL;
        }
        return 0;
}
