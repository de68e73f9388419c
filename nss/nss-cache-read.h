/* SPDX-License-Identifier: MIT */
/*
 * Reading the NSS cache file (include/agentid/nss-cache.h): map it, check
 * it, and look agents up with every offset, index and string
 * bounds-checked. libc only: it is linked into libnss_agentid.so.2, and
 * into the unit tests.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agentid/nss-cache.h"

struct nss_cache_map {
        const uint8_t *base; /* NULL when nothing is mapped */
        size_t size;
        dev_t dev;
        ino_t ino;
        /* Private copy of the header's immutable part, checked once: the
         * lookups use only these, never the shared header's. */
        struct agentid_nss_header hdr;
};

/* One agent as found, copied out of the shared mapping. */
struct nss_cache_entry {
        uint32_t uid; /* also the gid */
        uint64_t expires_usec;
        char name[AGENTID_NSS_NAME_SIZE];
        char home[2 * AGENTID_NSS_TEXT_SIZE + AGENTID_NSS_NAME_SIZE];
        char shell[AGENTID_NSS_TEXT_SIZE];
        uint32_t n_gids;
        uint32_t gids[AGENTID_NSS_GIDS_MAX];
};

/* Open and map path. 0; -ENOENT if it does not exist; -EPERM if it is not a
 * regular file or is writable by anyone but its owner; -EBADMSG if the
 * header does not describe a well-formed file of this size. */
int nss_cache_map_open(const char *path, struct nss_cache_map *m);
void nss_cache_map_close(struct nss_cache_map *m);
/* Has the broker renamed a newer file over this one? */
bool nss_cache_map_retired(const struct nss_cache_map *m);
uint64_t nss_cache_map_generation(const struct nss_cache_map *m);

/* Is name something the broker could have minted (charset, length, the
 * file's prefix)? A cheap test that needs no index probe. */
bool nss_cache_name_plausible(const struct nss_cache_map *m, const char *name);

/* Look up a live, unexpired agent (now_usec: CLOCK_REALTIME). 0 and *e
 * filled; -ENOENT if there is none (or it expired); -EBADMSG if the file is
 * corrupt on the way; -EAGAIN if a record kept changing under us. */
int nss_cache_lookup_name(const struct nss_cache_map *m, const char *name, uint64_t now_usec,
                          struct nss_cache_entry *e);
int nss_cache_lookup_uid(const struct nss_cache_map *m, uint32_t uid, uint64_t now_usec, struct nss_cache_entry *e);

/* Record slot idx, for enumeration: 0 if it holds a live agent; -ENOENT
 * if not (free, expired, changing); -ERANGE past the last used slot. */
int nss_cache_get_slot(const struct nss_cache_map *m, uint32_t idx, uint64_t now_usec, struct nss_cache_entry *e);

/* CLOCK_REALTIME in usec (a vDSO call, no syscall). */
uint64_t nss_cache_now_usec(void);
