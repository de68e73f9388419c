/* SPDX-License-Identifier: MIT */
/* What /proc says about processes: their real, effective and saved uids
 * (the Uid: line of /proc/PID/status) and whether they are zombies. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The real uid of process pid, or -1 when it is gone. SO_PEERCRED reports
 * the effective uid; this is who ran it. */
int64_t proc_real_uid(pid_t pid);

/* The same, pinned to the process pidfd refers to (-1: no pidfd, as
 * above). PID reuse: pid is the one the process had when it connected;
 * the answer counts only if that process is still alive after the read (a
 * live process keeps its pid, so what was read was its own), else -1.
 * Without a pidfd (SO_PEERPIDFD needs Linux 6.5) there is a window: if the
 * process exits and its pid is reused by a process of another uid before
 * the read, the read answers for the newcomer (docs/pam.md). On Linux
 * 6.13 and later the kernel answers for the pidfd's own process directly
 * (proc_real_uid_pidfd), and /proc is not read. */
int64_t proc_real_uid_pinned(pid_t pid, int pidfd);

/* The real uid of the process pidfd refers to, from the kernel
 * (PIDFD_GET_INFO, Linux 6.13): -ESRCH once it is reaped, -EOPNOTSUPP on
 * older kernels (proc_real_uid_pinned then reads /proc). */
int64_t proc_real_uid_pidfd(int pidfd);

/* The real, effective and saved uid of the process pidfd refers to, from
 * the kernel (PIDFD_GET_INFO, Linux 6.13): -ESRCH once it is reaped,
 * -EOPNOTSUPP on older kernels. Three cheap system calls per process with
 * pidfd_open and close, where /proc/PID/status has the kernel format some
 * fifty lines (cleaners' walks, uid-cleanup.c). */
int proc_pidfd_uids(int pidfd, unsigned long ids[3]);

/* Call fn for every process but this one with its real, effective and saved
 * uid and whether it is a zombie, until fn returns true. A process that
 * vanishes meanwhile is skipped. Returns whether fn stopped the scan, or a
 * negative errno when /proc cannot be read. */
int proc_scan(bool (*fn)(void *userdata, const unsigned long ids[3], bool zombie), void *userdata);
