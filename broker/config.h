/* SPDX-License-Identifier: MIT */
/* agentid.conf: the broker's own settings (see agentid.conf(5)). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "agentid/limits.h"
#include "agentid/token.h"
#include "principals.h"

enum journal_mode {
        JOURNAL_AUTO,     /* required if journald is running at start */
        JOURNAL_REQUIRED, /* an event journald refuses fails the operation */
        JOURNAL_OFF,      /* event table only (tests, hosts without journald) */
};

struct config {
        char name_prefix[AGENTID_PREFIX_MAX + 1];
        uint32_t uid_min, uid_max;
        unsigned max_connections;
        uint64_t idle_timeout_usec;
        char templates_dir[AGENTID_PATH_MAX + 1];
        struct principal_set admins;
        enum journal_mode journal;
        /* Tokens (docs/tokens.md): "iss" of every token (default
         * agentid:<hostname>) and the clock skew tolerated on exp/nbf. */
        char issuer[AGENTID_ISSUER_MAX + 1];
        uint64_t token_leeway_usec;
        /* Audit chain (audit-chain.c): how often the tip is signed. */
        uint64_t audit_checkpoint_interval_usec;
        /* Exec trail (exec-trail.c): on at all, and how many programs one
         * agent's trail records before it only counts them. */
        bool exec_trail;
        unsigned exec_trail_max;
        /* Fair shares and bounded audit growth (issue 13, agentid.conf(5)). */
        unsigned reserved_connections;     /* slots only root and admins may take */
        bool reserved_connections_set;     /* else max_connections / 8 */
        unsigned max_connections_per_uid;  /* for everyone else */
        unsigned request_rate;             /* requests per second per uid (not root/admins) */
        unsigned request_burst;            /* token bucket depth */
        uint64_t refusal_window_usec;      /* unprivileged refusals counted this long */
        /* How tasks run (runtime.h): auto, direct or systemd. */
        char task_runtime[16];
        /* Key rollover: a new signing key is in the JWKS this long before
         * it signs; the current key is replaced every rotation interval (0:
         * only by agentctl rotate-keys). The status list's stated ttl. */
        uint64_t key_publish_ahead_usec, key_rotation_interval_usec;
        uint64_t status_list_ttl_usec;
};

/* Defaults; templates_dir is "templates.d" beside the config file. */
void config_init(struct config *c, const char *config_path);

/* Load path over the defaults. A missing file is not an error (defaults
 * apply); anything invalid is, with "file:line: why" in error. */
int config_load(struct config *c, const char *path, char *error, size_t error_size);
