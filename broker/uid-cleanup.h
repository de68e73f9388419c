/* SPDX-License-Identifier: MIT */
/* What an ended identity leaves behind, removed from the root side.
 *
 * Nothing here ever runs as the agent's uid (an agent could signal, stop
 * or trace such a process) and the broker never waits for it: a *cleaner*
 * child, root, kills what still runs as the uid through pidfds, removes
 * the home, everything the uid owns in /tmp, /var/tmp, /dev/shm and
 * /dev/mqueue, and its SysV IPC objects, and reports per uid what it could
 * not remove. The broker follows the cleaner through its pidfd; a uid with
 * leftovers is quarantined (never issued again) and recorded. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agentid/limits.h"

struct broker;

/* Bits of what remained after a cleaner's work on one uid. */
enum {
        LEFTOVER_PROCESSES = 1 << 0,
        LEFTOVER_HOME = 1 << 1,
        LEFTOVER_FILES = 1 << 2, /* in the shared temporary directories */
        LEFTOVER_IPC = 1 << 3,
        LEFTOVER_UNKNOWN = 1 << 4, /* the cleaner died before reporting */
        LEFTOVER_MASK = 0xff,
        /* Not a leftover (it does not quarantine): processes of the uid ran
         * outside its task (or, for an identity without one, at all) and
         * were killed; the shared directories were walked for its files. */
        RAN_OUTSIDE = 1 << 8,
        /* Not a leftover either: a job with pidns_dying whose namespace
         * outlived the cleaner's deadline (a process stuck in the kernel).
         * Its home was not touched; the task starts an ordinary cleaner once
         * the namespace is dead, as it did before the early one. */
        PIDNS_STILL_ALIVE = 1 << 9,
};

struct uid_cleanup {
        uid_t uid;
        char agent[AGENTID_NAME_MAX + 1];
        char home[AGENTID_PATH_MAX + 1]; /* "" for none */
        /* Also look through /tmp, /var/tmp, /dev/shm, /dev/mqueue: for a uid
         * that ran outside a task's private ones (costs a walk of them). */
        bool sweep_shared;
        /* A direct-runtime task whose PID namespace is being killed as the
         * job is queued: the cleaner starts at once instead of after the
         * namespace's death. Its processes in that namespace (pidns_dev and
         * pidns_ino, of /proc/PID/ns/pid) die with it: not killed or
         * counted by the cleaner, whose walk looks for the uid's processes
         * outside; the home is removed once pidns_init_pidfd (the
         * namespace's init, inherited by the cleaner) says all are gone. */
        bool pidns_dying;
        int pidns_init_pidfd;
        dev_t pidns_dev;
        ino_t pidns_ino;
        /* Told when the cleaner is done (task teardown waits for it). */
        void (*done)(struct broker *b, void *userdata, unsigned leftovers);
        void *userdata;
};

/* Queue these uids for a cleaner (one starts at once unless enough run).
 * Never blocks on it. When none can be started the uids are quarantined
 * and done() is called. */
void uid_cleanup_start(struct broker *b, const struct uid_cleanup *jobs, size_t n);

/* The event loop is up, or its tick: start what was queued (before the
 * loop, or while the last walk of the shared directories was too recent). */
void uid_cleanup_attach(struct broker *b);

/* epoll: a cleaner's pidfd (it exited) or result pipe is readable. */
void uid_cleanup_on_pidfd(struct broker *b, void *watch);

/* Shutdown: wait (bounded) for running cleaners, then forget them. */
void uid_cleanup_stop_all(struct broker *b);

/* Free the cleaners that ended during an epoll batch, once the batch has
 * been dispatched (their watches may be named in it). */
void uid_cleanup_release_ended(struct broker *b);

/* One pass, as root: SIGKILL every process whose real, effective or saved
 * uid is uid, through a pidfd checked to still be that process. Returns how
 * many were found (0: none runs), or a negative errno. */
int uid_kill_pass(uid_t uid);

/* Remove everything owned by uid below the shared temporary directories
 * (tests point them elsewhere). NULL-terminated. */
extern const char *const *uid_cleanup_shared_dirs;
