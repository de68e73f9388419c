/* SPDX-License-Identifier: MIT */
#include "syscall-filter.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

const char *const syscall_filter_denied[] = {
        /* attack surface */
        "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl",
        "add_key", "request_key", "open_by_handle_at", "lookup_dcookie",
        /* @mount */
        "mount", "umount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
        "fsmount", "fspick", "mount_setattr",
        /* @module, @reboot, @swap */
        "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon",
        "swapoff",
        /* @clock, @raw-io */
        "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "ioperm", "iopl", "pciconfig_iobase",
        "pciconfig_read", "pciconfig_write",
        /* @obsolete, @cpu-emulation */
        "uselib", "ustat", "sysfs", "_sysctl", "create_module", "get_kernel_syms", "query_module", "nfsservctl",
        "modify_ldt", "vm86", "vm86old", NULL
};

/* The namespace flags RestrictNamespaces= refuses. CLONE_NEWTIME shares
 * its bit with clone()'s exit signal, so it is checked for unshare only. */
static const uint64_t namespace_flags[] = { CLONE_NEWNS,  CLONE_NEWUTS,    CLONE_NEWIPC, CLONE_NEWUSER,
                                            CLONE_NEWPID, CLONE_NEWCGROUP, CLONE_NEWNET };

static void release_ctx(scmp_filter_ctx *ctx) {
        if (*ctx)
                seccomp_release(*ctx);
}

static int deny_namespaces(scmp_filter_ctx ctx) {
        /* clone(2)'s flags are its first argument everywhere but s390. */
#if defined(__s390__) || defined(__s390x__)
        const unsigned clone_flags_arg = 1;
#else
        const unsigned clone_flags_arg = 0;
#endif
        int r;

        for (size_t k = 0; k < ELEMENTSOF(namespace_flags); k++) {
                uint64_t f = namespace_flags[k];
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
                                     SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
                if (r == 0)
                        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                             SCMP_CMP(clone_flags_arg, SCMP_CMP_MASKED_EQ, f, f));
                if (r < 0)
                        return r;
        }
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWTIME, CLONE_NEWTIME));
        if (r == 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(setns), 0);
        if (r == 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
        return r;
}

int syscall_filter_build(bool restrict_namespaces, struct syscall_filter *ret) {
        _cleanup_(release_ctx) scmp_filter_ctx ctx = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        *ret = (struct syscall_filter) { 0 };
        if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0 && errno == EINVAL)
                return -EOPNOTSUPP;
        ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return -ENOMEM;
        /* The task's process is root when it installs the filter: no
         * no_new_privs from here (a template may allow sudo). */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
        for (size_t k = 0; r == 0 && syscall_filter_denied[k]; k++) {
                int nr = seccomp_syscall_resolve_name(syscall_filter_denied[k]);
                if (nr == __NR_SCMP_ERROR)
                        continue; /* not a system call on this architecture */
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
        }
        if (r == 0 && restrict_namespaces)
                r = deny_namespaces(ctx);
        if (r < 0)
                return r;
        /* libseccomp 2.5 exports to a descriptor only. */
        fd = memfd_create("agentid-seccomp", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return r;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0)
                return -EIO;
        ret->program = malloc((size_t) st.st_size);
        if (!ret->program)
                return -ENOMEM;
        if (pread(fd, ret->program, (size_t) st.st_size, 0) != st.st_size) {
                r = errno ? -errno : -EIO;
                syscall_filter_free(ret);
                return r;
        }
        ret->length = (size_t) st.st_size / sizeof(struct sock_filter);
        return 0;
}

void syscall_filter_free(struct syscall_filter *f) {
        free(f->program);
        *f = (struct syscall_filter) { 0 };
}

int syscall_filter_install(const struct syscall_filter *f) {
        struct sock_fprog prog = { .len = (unsigned short) f->length, .filter = f->program };

        if (!f->program)
                return -EINVAL;
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
                return -errno;
        return 0;
}
