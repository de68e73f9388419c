/* SPDX-License-Identifier: MIT */
/* Landlock through its system calls (glibc has no wrappers). The structure
 * and flags are spelled out here because Debian 12's kernel headers stop at
 * ABI 2 while the kernels it runs on go further; each is the kernel's stable
 * ABI (Documentation/userspace-api/landlock.rst). */
#include "landlock.h"

#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_restrict_self 446
#endif

#define LL_CREATE_RULESET_VERSION (1U << 0)

/* ABI 6: what a task may reach outside its own domain. */
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LL_SCOPE_SIGNAL (1ULL << 1)

struct ll_ruleset_attr {
        uint64_t handled_access_fs;
        uint64_t handled_access_net; /* ABI 4 */
        uint64_t scoped;             /* ABI 6 */
};

int landlock_abi(void) {
        long v = syscall(__NR_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
        return v > 0 ? (int) v : 0;
}

int landlock_confine(void) {
        struct ll_ruleset_attr attr = { .scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL };
        _cleanup_close_ int ruleset = -1;

        if (landlock_abi() < 6)
                return 0;
        ruleset = (int) syscall(__NR_landlock_create_ruleset, &attr, sizeof(attr), 0);
        if (ruleset < 0)
                return -errno;
        if (syscall(__NR_landlock_restrict_self, ruleset, 0) < 0)
                return -errno;
        return 0;
}
