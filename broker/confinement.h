/* SPDX-License-Identifier: MIT */
/* What a task may see and use: a template's confinement keys, named and
 * spelled as in systemd.exec(5) and systemd.resource-control(5) so that a
 * sysadmin reads them as in any unit file (agentid-templates(5)). The
 * runtime that starts a task enforces every key or refuses to start it
 * (runtime.h); nothing here is advisory. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentid/limits.h"

#define CONFINEMENT_PATHS_MAX 16
#define CONFINEMENT_UNLIMITED UINT64_MAX

enum protect_system { PROTECT_SYSTEM_NO, PROTECT_SYSTEM_YES, PROTECT_SYSTEM_FULL, PROTECT_SYSTEM_STRICT };
enum protect_home { PROTECT_HOME_NO, PROTECT_HOME_YES, PROTECT_HOME_READ_ONLY, PROTECT_HOME_TMPFS };

struct confinement_path {
        char path[AGENTID_PATH_MAX + 1];
        bool optional; /* "-/path": ignored when it does not exist */
};

struct confinement_paths {
        struct confinement_path items[CONFINEMENT_PATHS_MAX];
        size_t n;
};

struct confinement {
        enum protect_system protect_system;
        enum protect_home protect_home;
        struct confinement_paths read_write, read_only, inaccessible;
        bool private_network;
        /* No new namespaces of any kind. Default yes, sudo templates too:
         * both runtimes install the filter as root, without no_new_privs. */
        bool restrict_namespaces;
        bool restrict_namespaces_set;
        uint64_t tasks_max;        /* processes and threads; CONFINEMENT_UNLIMITED: none */
        uint64_t memory_max;       /* bytes; CONFINEMENT_UNLIMITED: none */
        uint64_t cpu_quota_percent; /* of one CPU; 0: none */
        uint64_t limit_nofile_soft, limit_nofile_hard; /* CONFINEMENT_UNLIMITED: inherit */
};

/* Safe defaults: ProtectSystem=strict, ProtectHome=no (under strict the
 * homes are read-only anyway), TasksMax=512, RestrictNamespaces=yes, no
 * other limits. A task
 * always gets private /tmp, /var/tmp and /dev/shm and its own IPC. */
void confinement_default(struct confinement *c);

/* Is key one of ours? */
bool confinement_key_is_known(const char *key);

/* Apply "key = value" (systemd syntax; for the path lists an empty value
 * resets the list, others add to it). 0, or a negative errno with a
 * description in why. */
int confinement_parse(struct confinement *c, const char *key, const char *value, char *why, size_t why_size);

const char *protect_system_to_string(enum protect_system p);
const char *protect_home_to_string(enum protect_home p);

/* Write the non-default settings as "Key=value" lines (one per line), for
 * agentctl and the logs. */
int confinement_format(const struct confinement *c, char *buf, size_t size);
