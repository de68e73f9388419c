/* SPDX-License-Identifier: MIT */
/* Landlock through its three system calls (glibc has no wrappers). The
 * structures and flags are spelled out here because Debian 12's kernel
 * headers stop at ABI 2 while the kernels it runs on go further; each is
 * the kernel's stable ABI (Documentation/userspace-api/landlock.rst). */
#include "landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1

/* File-system rights that change something (ABI 1, then REFER in 2 and
 * TRUNCATE in 3). Reading and executing stay as the mounts say. */
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_REMOVE_DIR (1ULL << 4)
#define LL_FS_REMOVE_FILE (1ULL << 5)
#define LL_FS_MAKE_CHAR (1ULL << 6)
#define LL_FS_MAKE_DIR (1ULL << 7)
#define LL_FS_MAKE_REG (1ULL << 8)
#define LL_FS_MAKE_SOCK (1ULL << 9)
#define LL_FS_MAKE_FIFO (1ULL << 10)
#define LL_FS_MAKE_BLOCK (1ULL << 11)
#define LL_FS_MAKE_SYM (1ULL << 12)
#define LL_FS_REFER (1ULL << 13)
#define LL_FS_TRUNCATE (1ULL << 14)
#define LL_FS_WRITES_V1                                                                                             \
        (LL_FS_WRITE_FILE | LL_FS_REMOVE_DIR | LL_FS_REMOVE_FILE | LL_FS_MAKE_CHAR | LL_FS_MAKE_DIR |                \
         LL_FS_MAKE_REG | LL_FS_MAKE_SOCK | LL_FS_MAKE_FIFO | LL_FS_MAKE_BLOCK | LL_FS_MAKE_SYM)

/* ABI 6: what a task may reach outside its own domain. */
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LL_SCOPE_SIGNAL (1ULL << 1)

struct ll_ruleset_attr {
        uint64_t handled_access_fs;
        uint64_t handled_access_net; /* ABI 4 */
        uint64_t scoped;             /* ABI 6 */
};

struct ll_path_beneath_attr {
        uint64_t allowed_access;
        int32_t parent_fd;
} __attribute__((packed));

int landlock_abi(void) {
        long v = syscall(__NR_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
        return v > 0 ? (int) v : 0;
}

int landlock_confine(const char *const *writable, size_t n_writable) {
        struct ll_ruleset_attr attr = { 0 };
        size_t attr_size;
        _cleanup_close_ int ruleset = -1;
        int abi = landlock_abi();

        if (abi <= 0)
                return 0;
        if (writable) {
                attr.handled_access_fs = LL_FS_WRITES_V1;
                if (abi >= 2)
                        attr.handled_access_fs |= LL_FS_REFER;
                if (abi >= 3)
                        attr.handled_access_fs |= LL_FS_TRUNCATE;
        }
        if (abi >= 6)
                attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
        if (!attr.handled_access_fs && !attr.scoped)
                return 0;
        /* The kernel takes the prefix of the structure it knows. */
        attr_size = abi >= 6 ? sizeof(attr) : abi >= 4 ? 2 * sizeof(uint64_t) : sizeof(uint64_t);
        ruleset = (int) syscall(__NR_landlock_create_ruleset, &attr, attr_size, 0);
        if (ruleset < 0)
                return -errno;
        for (size_t k = 0; writable && k < n_writable; k++) {
                struct ll_path_beneath_attr rule = { .allowed_access = attr.handled_access_fs };
                struct stat st;
                _cleanup_close_ int fd = open(writable[k], O_PATH | O_CLOEXEC);
                if (fd < 0) {
                        if (errno == ENOENT)
                                continue;
                        return -errno;
                }
                /* A file (ReadWritePaths= may name one) takes only the
                 * rights a file has; the kernel refuses the others. */
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (!S_ISDIR(st.st_mode))
                        rule.allowed_access &= LL_FS_WRITE_FILE | LL_FS_TRUNCATE;
                rule.parent_fd = fd;
                if (syscall(__NR_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &rule, 0) < 0)
                        return -errno;
        }
        if (syscall(__NR_landlock_restrict_self, ruleset, 0) < 0)
                return -errno;
        return 0;
}
