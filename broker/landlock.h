/* SPDX-License-Identifier: MIT */
/* Landlock for a direct-runtime task: a second wall behind its mount
 * namespace. Where the template asks for ProtectSystem=strict, the task may
 * write only beneath the paths its mounts leave writable (so a file system
 * that appears later, or a mount the init missed, is read-only to it all
 * the same), and from ABI 6 on it can neither connect to abstract Unix
 * sockets nor signal processes outside the task. The kernel keeps the
 * restriction across exec and setuid (an approved sudo included). */
#pragma once

#include <stddef.h>

/* The kernel's Landlock ABI version, 0 where it has none (or it is off). */
int landlock_abi(void);

/* Restrict the calling thread (which must be able to: root, or
 * no_new_privs) and its future children. writable: the paths beneath which
 * writes stay allowed, or NULL for no file-system rule at all (only the
 * scopes). Paths that do not exist are skipped. 0 when done or when the
 * kernel has nothing to enforce; -errno otherwise. */
int landlock_confine(const char *const *writable, size_t n_writable);
