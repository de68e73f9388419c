/* SPDX-License-Identifier: MIT */
/* Templates (blueprints): what an agent minted with them may be and do.
 * Loaded from <templates_dir>/ *.conf; see agentid-templates(5). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agentid/limits.h"
#include "confinement.h"
#include "principals.h"

enum step_rule {
        STEP_DENY,
        STEP_ALLOW,
        STEP_APPROVE,
};

/* How long an identity lives: its TTL, or (also) only until the first PAM
 * session it opens closes (pam_agentid, "lifetime = session"). */
enum lifetime {
        LIFETIME_TTL,
        LIFETIME_SESSION,
};

struct template {
        char name[AGENTID_TEMPLATE_NAME_MAX + 1];
        char description[AGENTID_DESCRIPTION_MAX + 1];
        uint64_t ttl_usec, max_ttl_usec;
        gid_t groups[AGENTID_TEMPLATE_GROUPS_MAX];
        char group_names[AGENTID_TEMPLATE_GROUPS_MAX][AGENTID_NAME_MAX + 1];
        size_t n_groups;
        struct principal_set invokers, approvers;
        enum step_rule sudo, ssh;
        char scopes[AGENTID_SCOPES_MAX][AGENTID_SCOPE_LEN_MAX + 1];
        size_t n_scopes;
        char home[AGENTID_PATH_MAX + 1];  /* "%n": agent name, "%S": state directory */
        char shell[AGENTID_PATH_MAX + 1];
        char source[AGENTID_PATH_MAX + 1]; /* file it came from, or "built-in" */
        /* Sub-agents (docs/tokens.md): how deep below a top-level agent a
         * chain of sub-agents may go (0: agents of this template mint none)
         * and how many live children one agent may have. */
        unsigned max_depth, max_children;
        enum lifetime lifetime;
        /* What its tasks may see and use (ProtectSystem= & co.). */
        struct confinement confinement;
};

struct template_set {
        struct template *items;
        size_t n;
};

/* The built-in "default": short TTL, sudo/ssh denied, root only. */
void template_default(struct template *t);

/* Parse one file. On failure returns a negative errno and writes
 * "file:line: why" into error. */
int template_parse_file(const char *path, struct template *t, char *error, size_t error_size);

/* Load every *.conf in dir (sorted by name). Invalid files are reported
 * through report() and skipped; duplicate names keep the first. When no
 * valid template exists the built-in default is the only one. */
int template_set_load(struct template_set *set, const char *dir, void (*report)(const char *message));

void template_set_free(struct template_set *set);
const struct template *template_set_find(const struct template_set *set, const char *name);

const char *step_rule_to_string(enum step_rule r);

/* Expand the template's home for one agent ("%n" -> agent name, "%S" ->
 * the broker's state directory, "%%" -> "%"). */
int template_home_for(const struct template *t, const char *agent_name, const char *state_dir, char *buf,
                      size_t size);
