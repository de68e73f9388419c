/* SPDX-License-Identifier: MIT */
/* Sets of users and @groups named in config and templates ("alice @ops
 * 1001"), resolved to ids once at load so that checks cost no lookups. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "agentid/limits.h"

struct principal_set {
        uid_t uids[AGENTID_TEMPLATE_PRINCIPALS_MAX];
        size_t n_uids;
        gid_t gids[AGENTID_TEMPLATE_PRINCIPALS_MAX];
        size_t n_gids;
};

/* Parse and resolve a list. Unknown names are errors (a typo must not
 * silently grant or withhold rights); why gets a description. */
int principal_set_parse(struct principal_set *set, const char *value, char *why, size_t why_size);

/* Does a caller with this uid and these groups (primary included) match? */
bool principal_set_matches(const struct principal_set *set, uid_t uid, const gid_t *gids, size_t n_gids);

/* Resolve a user name or decimal uid from the directory snapshot only
 * (requests: never an NSS lookup on the event loop). */
int resolve_user(const char *name, uid_t *ret);
/* Resolve a group name or decimal gid for loading templates: the snapshot,
 * then NSS on a miss (id-directory.h). */
int resolve_group(const char *name, gid_t *ret);
