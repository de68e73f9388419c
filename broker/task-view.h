/* SPDX-License-Identifier: MIT */
/* A task's view of the file system (ProtectSystem=, ProtectHome=, the path
 * keys, private /tmp, /var/tmp and /dev/shm, its own POSIX message queues),
 * built by the process that becomes the task, as root, after it entered
 * new mount and IPC namespaces (and a network namespace for
 * PrivateNetwork=). The direct runtime's init and agentid-task-exec (the
 * systemd runtime) both call it, so a key means the same in both. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "confinement.h"

struct task_view {
        const struct confinement *confinement;
        const char *home;       /* the agent's home: writable whatever the keys say */
        const char *socket_dir; /* kept visible if a private tmp dir would hide it; NULL: none */
        bool own_proc;          /* mount a /proc of the task's own PID namespace */
};

struct task_view_error {
        char text[512];
};

/* Is path dir or below it? */
bool path_is_under(const char *path, const char *dir);

/* What no runtime can do for this home: keys that would hide it. 0, or
 * -EOPNOTSUPP with the reason in why. */
int task_view_check(const struct confinement *c, const char *home, char *why, size_t why_size);

/* Build the view in the current mount namespace (which must be a new one
 * of this process's). Allocates nothing (the direct runtime's init is a
 * clone of the threaded broker). 0, or -1 with the failure in e. */
int task_view_setup(const struct task_view *v, struct task_view_error *e);
