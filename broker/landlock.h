/* SPDX-License-Identifier: MIT */
/* Landlock for a direct-runtime task, from ABI 6 on: it can neither connect
 * to an abstract Unix socket nor signal a process outside the task. Without
 * PrivateNetwork= the abstract socket namespace is the host's (D-Bus,
 * container runtimes and desktop sessions listen there); the PID namespace
 * already hides other processes, the signal scope is a second wall. The
 * kernel keeps the restriction across exec and setuid (an approved sudo
 * included).
 *
 * No file-system rules: the task's mounts already say what it may write,
 * and they are private to it (nothing the host mounts later reaches it); a
 * second statement of the same in Landlock would add only the chance of the
 * two disagreeing. */
#pragma once

/* The kernel's Landlock ABI version, 0 where it has none (or it is off). */
int landlock_abi(void);

/* Restrict the calling thread (which must be able to: root, or
 * no_new_privs) and its future children. 0 when done or when the kernel
 * has no scopes (ABI < 6); -errno otherwise. */
int landlock_confine(void);
