/* SPDX-License-Identifier: MIT */
/* The system calls a direct-runtime task never gets (seccomp, through
 * libseccomp). Each is refused with EPERM, as systemd's SystemCallFilter=
 * with SystemCallErrorNumber=EPERM does, so a program sees an ordinary
 * error rather than dying:
 *
 *   - the kernel's largest attack surfaces an agent has no use for: bpf,
 *     perf_event_open, userfaultfd, io_uring, the key ring (keyctl,
 *     add_key, request_key), open_by_handle_at;
 *   - what changes the machine: (u)mount and the new mount API, pivot_root,
 *     kernel modules, kexec, reboot, swapon/swapoff, setting the clock,
 *     raw port I/O, the obsolete calls systemd's @obsolete names;
 *   - with RestrictNamespaces=yes (the default), new namespaces of any
 *     kind: unshare and clone with a CLONE_NEW* flag, setns, and clone3
 *     (ENOSYS: its flags cannot be inspected, and libc then falls back to
 *     clone), as systemd's RestrictNamespaces= does.
 *
 * The filter is kept across exec and setuid, so an approved sudo inside
 * the task is held to it too. */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>

/* A compiled filter: classic BPF, ready for the kernel. Built once in the
 * broker (libseccomp allocates), installed in a task's process without a
 * single allocation (that process is a clone of a threaded broker). */
struct syscall_filter {
        struct sock_filter *program;
        size_t length; /* instructions */
};

/* Compile the filter. 0, or -errno (-EOPNOTSUPP: the kernel has no
 * seccomp filtering). */
int syscall_filter_build(bool restrict_namespaces, struct syscall_filter *ret);
void syscall_filter_free(struct syscall_filter *f);

/* Install it on the calling thread, which must be root (CAP_SYS_ADMIN) or
 * have no_new_privs set. 0, or -errno. */
int syscall_filter_install(const struct syscall_filter *f);

/* The system calls refused to every task, NULL-terminated (docs, tests). */
extern const char *const syscall_filter_denied[];
