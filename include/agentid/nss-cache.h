/* SPDX-License-Identifier: MIT */
/*
 * The NSS cache file: the live agents, published by the broker into a
 * memory-mapped file under its runtime directory and read by
 * libnss_agentid.so.2 without any IPC. This header is the one definition of
 * the format; docs/nss-cache.md explains it (layout, the seqlock protocol,
 * replacement detection, permissions, what happens when the broker is down).
 *
 * Everything is in host byte order: the file lives on tmpfs and never
 * leaves the host. Only libc types here: the NSS module includes it.
 */
#pragma once

#include <stdint.h>

#include "agentid/limits.h"

/* Where the broker publishes and the module looks: <runtime dir>/nss/ with
 * the broker's default runtime dir /run/agentid. */
#define AGENTID_NSS_CACHE_SUBDIR "nss"
#define AGENTID_NSS_CACHE_FILE "agents.cache"
#define AGENTID_NSS_CACHE_PATH_DEFAULT "/run/agentid/" AGENTID_NSS_CACHE_SUBDIR "/" AGENTID_NSS_CACHE_FILE
/* Test override, honoured through secure_getenv() only (never in setuid or
 * setgid programs). */
#define AGENTID_NSS_CACHE_ENV "AGENTID_NSS_CACHE"

#define AGENTID_NSS_CACHE_MAGIC "AGIDNSS" /* 8 bytes with its NUL */
#define AGENTID_NSS_CACHE_VERSION 1

/* Index slot values: record index + 1, or one of these. */
#define AGENTID_NSS_SLOT_EMPTY UINT32_C(0)
#define AGENTID_NSS_SLOT_TOMBSTONE UINT32_MAX
/* No key sits further than this from its home slot (the writer rebuilds
 * with more slots rather than exceed it), so a reader never probes more:
 * a hostile file full of tombstones costs at most this many probes. */
#define AGENTID_NSS_PROBE_LIMIT 512
/* A reader retries a record whose sequence counter moves under it at most
 * this often, then gives up (UNAVAIL): a broker killed in the middle of a
 * write leaves an odd counter behind, and that must not hang anyone. */
#define AGENTID_NSS_SEQ_RETRIES 1000
/* Capacity limits a reader accepts; a header beyond them is corrupt. */
#define AGENTID_NSS_RECORDS_LIMIT (UINT32_C(1) << 26)
#define AGENTID_NSS_PROFILES_LIMIT (UINT32_C(1) << 20)

#define AGENTID_NSS_NAME_SIZE 40    /* AGENTID_NAME_MAX + NUL, padded */
#define AGENTID_NSS_TEXT_SIZE 264   /* AGENTID_PATH_MAX + NUL, padded */
#define AGENTID_NSS_GIDS_MAX AGENTID_TEMPLATE_GROUPS_MAX

#define AGENTID_NSS_RECORD_LIVE UINT32_C(1)
#define AGENTID_NSS_PROFILE_USED UINT32_C(1)
#define AGENTID_NSS_PROFILE_HOME_HAS_NAME UINT32_C(2)

/*
 * The header, at offset 0. Fields up to generation are written once, before
 * the file is renamed into place, and never change; readers copy them once
 * when they map the file. The fields after them change while the file is
 * live and are read with atomic loads.
 */
struct agentid_nss_header {
        char magic[8];
        uint32_t version;
        uint32_t header_size;  /* sizeof(struct agentid_nss_header) */
        uint32_t record_size;  /* sizeof(struct agentid_nss_record) */
        uint32_t profile_size; /* sizeof(struct agentid_nss_profile) */
        uint32_t uid_min, uid_max; /* the broker's agent range */
        uint32_t n_records;    /* record slots */
        uint32_t n_profiles;   /* profile slots */
        uint32_t n_slots;      /* slots per index, a power of two > n_records */
        uint32_t reserved0;
        uint64_t records_offset, profiles_offset, name_index_offset, uid_index_offset;
        uint64_t file_size;
        uint64_t generation; /* strictly increases from file to file */
        char name_prefix[16]; /* every agent name starts with it */
        /* --- mutable --- */
        uint32_t retired;      /* 1 once a newer file was renamed over this one */
        uint32_t records_used; /* high-water mark of record slots, for enumeration */
        uint32_t n_live;       /* informational */
        uint32_t reserved1[33];
};

/* One agent: 64 bytes, so one cache line. gid == uid (each agent has its own
 * group); home, shell and supplementary groups are in its profile. */
struct agentid_nss_record {
        uint32_t seq; /* odd while the broker writes the record */
        uint32_t flags;
        uint32_t uid;
        uint32_t profile; /* index into the profile table */
        uint64_t expires_usec; /* CLOCK_REALTIME, epoch usec: absent from then on */
        char name[AGENTID_NSS_NAME_SIZE];
};

/*
 * What agents of one template share: home (around the agent's name), shell
 * and supplementary gids. Storing them once per profile keeps records at 64
 * bytes (a million agents in 64 MiB of records instead of ~700 MiB). The
 * broker writes a profile before any record points at it and reuses a slot
 * only after no live record does.
 */
struct agentid_nss_profile {
        uint32_t seq;
        uint32_t flags;
        uint32_t n_gids;
        uint32_t reserved0;
        uint32_t gids[AGENTID_NSS_GIDS_MAX];
        /* home = home_prefix + name + home_suffix when HOME_HAS_NAME, else
         * home_prefix alone. */
        char home_prefix[AGENTID_NSS_TEXT_SIZE];
        char home_suffix[AGENTID_NSS_TEXT_SIZE];
        char shell[AGENTID_NSS_TEXT_SIZE];
        char reserved1[88];
};

_Static_assert(sizeof(struct agentid_nss_header) == 256, "header layout");
_Static_assert(sizeof(struct agentid_nss_record) == 64, "record layout");
_Static_assert(sizeof(struct agentid_nss_profile) == 1024, "profile layout");
_Static_assert(AGENTID_NSS_NAME_SIZE > AGENTID_NAME_MAX, "name fits");
_Static_assert(AGENTID_NSS_TEXT_SIZE > AGENTID_PATH_MAX, "paths fit");

/* Hashes, shared by writer and reader. FNV-1a over the name; Fibonacci
 * hashing over the uid (consecutive uids spread over the table). */
static inline uint32_t agentid_nss_hash_name(const char *name) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        for (const unsigned char *p = (const unsigned char *) name; *p; p++) {
                h ^= *p;
                h *= UINT64_C(0x100000001b3);
        }
        return (uint32_t) (h ^ (h >> 32));
}

static inline uint32_t agentid_nss_hash_uid(uint32_t uid) {
        return (uint32_t) (((uint64_t) uid * UINT64_C(0x9e3779b97f4a7c15)) >> 32);
}
