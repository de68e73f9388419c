/* SPDX-License-Identifier: MIT */
/* Killing every process of an ended uid at once, off the event loop.
 *
 * The kernel's kill(-1, sig) reaches every process its caller may signal:
 * those whose real or saved uid is the caller's real or effective uid. A
 * thread of the broker that holds real uid 65535 (nobody's: the 16-bit
 * (uid_t) -1, which neither systemd nor Debian's adduser ever assigns),
 * takes effective uid U, and keeps saved uid 0, kills every process of U with
 * one kill(-1, SIGKILL), and no fork slips past it (the kernel refuses to
 * finish a fork whose parent has a fatal signal pending). Meanwhile no
 * capability of it is effective (CAP_KILL would reach every process), and
 * an agent cannot signal it: U is neither its real nor its saved uid.
 * The credentials are that thread's alone (the raw system call: glibc's
 * setresuid changes every thread's), and it goes back to root at once.
 * Only that thread ever holds them, never the main one: kill(-1) checks
 * each process by its main thread's credentials, so a main thread with
 * real uid 65535, even for a moment, could be killed by another broker's
 * killer on the same host.
 *
 * It costs tens of microseconds of CPU per uid (two credential changes
 * and a pass over the process list), so it runs on a thread of its own,
 * not on the loop. The cleaner's walk of /proc still follows (uid-cleanup.h): for
 * processes that only act as the uid (effective uid alone) and to report
 * those that do not die. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct broker;
struct uid_killer;

/* The real uid the killing thread holds: the 16-bit (uid_t) -1. */
#define UID_KILLER_REAL_UID 65535

/* At start: can this broker kill this way (root, uid 65535 nobody's
 * account, uid_is_an_account false: the caller looked in /etc/passwd and
 * /etc/group; outside the agent range, no process running as it)? Starts
 * the thread if so; says in the log why not otherwise (then *ret is NULL
 * and the cleaners' walks of /proc are the only kill). */
void uid_killer_start(uid_t uid_min, uid_t uid_max, bool uid_is_an_account, struct uid_killer **ret);

/* SIGKILL every process whose real or saved uid is uid, as soon as the
 * thread gets to it (microseconds); never blocks on it. false when it
 * cannot (no thread, no memory): the cleaner's walk still kills them. */
bool uid_killer_kill(struct uid_killer *k, uid_t uid);

/* How many uids it has killed so far (tests, profile). */
unsigned long uid_killer_done(struct uid_killer *k);

/* Shutdown: what is queued is done, then the thread ends. */
void uid_killer_stop(struct uid_killer *k);
