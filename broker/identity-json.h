/* SPDX-License-Identifier: MIT */
/* The JSON form of an identity (docs/protocol.md, "Identity object"), as
 * Mint, Show, List, Run and StepUpList answer it. */
#pragma once

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "agentid/identity.h"
#include "agentid/limits.h"

/* Owners' names, cached for a few seconds: a List of a thousand agents of
 * one owner must not mean a thousand passwd lookups. In struct broker. */
struct owner_cache {
        struct {
                uid_t uid;
                uint64_t at;
                char name[AGENTID_NAME_MAX + 1];
        } entries[8];
        unsigned next;
};

json_t *identity_to_json(struct owner_cache *owners, const struct identity *i, uint64_t now_usec);
