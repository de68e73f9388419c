/* SPDX-License-Identifier: MIT */
/* The identity record: one agent, as the broker stores and reports it. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "agentid/limits.h"

enum identity_state {
        IDENTITY_LIVE,
        IDENTITY_REVOKED,
        IDENTITY_EXPIRED,
        _IDENTITY_STATE_MAX,
};

struct identity {
        int64_t id; /* store row id; also the List paging cursor */
        char name[AGENTID_NAME_MAX + 1];
        uint32_t uid, gid; /* uid == gid: each agent has its own group */
        uint32_t owner_uid;  /* peer uid of the caller that minted it */
        int32_t invoker_pid; /* peer pid of that caller */
        char template_name[AGENTID_TEMPLATE_NAME_MAX + 1];
        char reason[AGENTID_REASON_MAX + 1];
        char on_behalf_of[AGENTID_ON_BEHALF_OF_MAX + 1];
        char parent[AGENTID_NAME_MAX + 1];
        char home[AGENTID_PATH_MAX + 1];
        char shell[AGENTID_PATH_MAX + 1];
        /* supplementary group names, comma separated, from the template */
        char groups[AGENTID_TEMPLATE_GROUPS_MAX * (AGENTID_NAME_MAX + 1) + 1];
        enum identity_state state;
        uint64_t created_usec, expires_usec, ended_usec; /* epoch usec */
        char end_reason[AGENTID_REASON_MAX + 1];
};

const char *identity_state_to_string(enum identity_state s);
int identity_state_from_string(const char *s);
