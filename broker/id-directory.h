/* SPDX-License-Identifier: MIT */
/* Who is who, without blocking the event loop (issue 13): a snapshot of
 * the users and groups NSS enumerates (getpwent/getgrent: /etc/passwd,
 * /etc/group, and any enumerable remote source), built by a worker thread
 * and swapped in by the event loop. A lookup on the loop never calls NSS:
 * it searches the snapshot.
 *
 * Refresh: when /etc/passwd or /etc/group changes (mtime, size or inode,
 * checked on every housekeeping tick: a stat of a local file), and every
 * ID_DIRECTORY_MAX_AGE_USEC for sources that have no file. Until the new
 * snapshot is in, lookups answer from the old one; a user that only a
 * non-enumerable source knows (sssd with enumerate = false) is not found
 * by a request and shows as a number. Loading agentid.conf and templates
 * (at start, on SIGHUP: an operator's act) still asks NSS on a miss
 * (principals.c), and a group found so is noted here for the NSS cache
 * writer, which resolves template groups at each mint.
 *
 * One directory per process (the broker's), so that leaf functions
 * (principal resolution, the NSS cache writer) need no broker pointer.
 * Before id_directory_load() (unit tests, fuzzers, the broker's own start)
 * lookups fall back to NSS directly: blocking is fine there. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define ID_DIRECTORY_MAX_AGE_USEC (UINT64_C(60) * 1000000)

/* Build the first snapshot, synchronously (at start, before the loop).
 * 0 or a negative errno. */
int id_directory_load(void);

/* On the loop's tick: swap in a finished snapshot; start a worker if the
 * files changed or the snapshot is old and none runs. Never blocks. */
void id_directory_refresh(uint64_t now_mono_usec);

/* Ask for a snapshot begun now or later (SIGHUP: templates name users and
 * groups an operator may just have added), and start it if no worker
 * runs; id_directory_fresh_since(now) says when it is in. */
void id_directory_request(uint64_t now_mono_usec);
/* /etc/passwd and /etc/group are as the current snapshot read them (a
 * stat each): nothing to wait for. */
bool id_directory_files_unchanged(void);
bool id_directory_fresh_since(uint64_t mono_usec);

/* Wait for a running worker and free everything (at exit). */
void id_directory_free(void);

/* Lookups. 0 with the answer, or -ESRCH when unknown. The name is copied
 * into buf (size bytes). */
int id_directory_user_name(uid_t uid, char *buf, size_t size);
int id_directory_user_uid(const char *name, uid_t *ret);
int id_directory_group_gid(const char *name, gid_t *ret);

/* A group name found by asking NSS directly (principals.c, loading
 * templates): answered by id_directory_group_gid when the snapshot lacks
 * it, until the process ends. */
void id_directory_note_group(const char *name, gid_t gid);

/* Snapshots built so far (tests: a refresh happened). */
uint64_t id_directory_generation(void);
