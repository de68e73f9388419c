/* SPDX-License-Identifier: MIT */
/* UID/GID allocation from the reserved range. A cursor walks the range
 * and wraps, so a released uid comes back only after every other uid of
 * the range has been handed out (no quick reuse: files or IPC objects an
 * old agent left behind never become a new agent's). The cursor is
 * persisted with each mint. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct store;

/* The ids /etc/passwd and /etc/group hold, and the stat(2) of each file
 * they were read from (allocator_id_is_local). */
struct allocator_local_ids {
        struct stat st[2];
        bool read[2];
        /* stat(2)ed since the event loop's turn began: one snapshot per
         * turn, not two stat calls per mint (allocator_new_turn). */
        bool checked;
        uint32_t *ids;
        size_t n;
};

struct allocator {
        uint32_t min, max, next;
        uint32_t stored; /* next as last written to the store (allocator_persist) */
        /* Is this id taken by an account or group outside agentid? NULL:
         * allocator_id_is_local; tests set their own. */
        bool (*id_is_foreign)(uint32_t id);
        struct allocator_local_ids local;
};

#define ALLOCATOR_META_KEY "next_uid"

int allocator_init(struct allocator *a, uint32_t min, uint32_t max, struct store *store);
/* A new turn of the event loop: the next allocator_id_is_local checks
 * whether /etc/passwd or /etc/group changed. */
void allocator_new_turn(struct allocator *a);
/* Write the cursor to the store if it moved: called inside the turn's
 * transaction, just before its commit. The cursor is only where the next
 * search starts (a live uid is never handed out twice: allocator_pick
 * checks the store), so one write per turn is enough. */
int allocator_persist(struct allocator *a, struct store *store);
void allocator_done(struct allocator *a);

/* Find a free uid (== gid). -ENOSPC if none is free within the search
 * bound. Advances the cursor; the caller stores a->next in its mint
 * transaction. */
int allocator_pick(struct allocator *a, struct store *store, uint32_t *ret);

/* Was uid quarantined (its old owner's leftovers could not all be
 * removed)? Such a uid is never picked. */
bool allocator_uid_is_quarantined(struct store *store, uint32_t uid);

/* At start: refuse a range that overlaps an account or group the host
 * already has (other than agentid's own live agents). */
int allocator_check_range(uint32_t min, uint32_t max, struct store *store, char *error, size_t error_size);

/* Every NSS source: getpwuid_r/getgrgid_r. */
bool allocator_id_is_foreign_nss(uint32_t id);

/* /etc/passwd and /etc/group, from a snapshot of the ids they hold that is
 * re-read whenever either file changes: costs two stat(2) per candidate
 * instead of two full NSS lookups. Other NSS sources are checked for the
 * whole range at start (allocator_check_range); they must not hand out ids
 * in the range systemd's UIDS-GIDS.md leaves unassigned. */
bool allocator_id_is_local(struct allocator *a, uint32_t id);
