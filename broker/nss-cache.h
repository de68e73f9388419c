/* SPDX-License-Identifier: MIT */
/*
 * The writer of the NSS cache file (include/agentid/nss-cache.h,
 * docs/nss-cache.md): the broker publishes every live agent there so that
 * libnss_agentid.so.2 resolves it without IPC. Single writer: the broker's
 * event loop. Inserts and removals are O(1) in place; when the file fills up
 * (records, index load, profiles) a larger one is built and renamed over it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct nss_cache;

struct nss_cache_item {
        const char *name;
        uint32_t uid; /* also the gid */
        uint64_t expires_usec;
        const char *home, *shell;
        const char *groups; /* supplementary group names, comma separated; may be NULL */
};

/* Start a new cache file in dir (created 0755 if missing), not yet visible
 * to readers: fill it with nss_cache_add, then nss_cache_publish. capacity
 * is the initial number of record slots (0 for a default). */
int nss_cache_new(const char *dir, const char *name_prefix, uint32_t uid_min, uint32_t uid_max, uint32_t capacity,
                  struct nss_cache **ret);
/* Rename the file into place as <dir>/agents.cache (0644) and mark the file
 * it replaces as retired, so readers move over. */
int nss_cache_publish(struct nss_cache *c);
/* Unmap; the published file stays (readers keep resolving live agents while
 * the broker is down; expired ones disappear by themselves). An unpublished
 * file is removed. */
void nss_cache_free(struct nss_cache *c);

/* Add (or, for an agent already there, replace) one agent. Its groups are
 * resolved with getgrnam_r when a new profile is made: a group that does not
 * resolve is an error (-ENOENT) when strict_groups, else skipped. */
int nss_cache_add(struct nss_cache *c, const struct nss_cache_item *it, bool strict_groups);
/* Remove the agent with this uid; 0, or -ENOENT if it is not there. */
int nss_cache_remove_uid(struct nss_cache *c, uint32_t uid);

const char *nss_cache_path(const struct nss_cache *c);
uint32_t nss_cache_count(const struct nss_cache *c);
uint32_t nss_cache_capacity(const struct nss_cache *c);

/* An identity as the broker stores it (groups resolved by name). */
struct identity;
int nss_cache_add_identity(struct nss_cache *c, const struct identity *i, bool strict_groups);
