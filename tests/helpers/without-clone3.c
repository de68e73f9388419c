/* SPDX-License-Identifier: MIT */
/* Run a command as systemd runs a unit with RestrictNamespaces=: clone3(2)
 * fails with ENOSYS (a seccomp filter cannot look into its arguments), so
 * the command must fall back to clone(2). For run-confine.sh: the broker's
 * direct runtime under agentid.service.
 *
 *   without-clone3 COMMAND [ARG...] */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
        scmp_filter_ctx ctx;
        int r;

        if (argc < 2) {
                fprintf(stderr, "usage: without-clone3 COMMAND [ARG...]\n");
                return 2;
        }
        ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return 1;
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
        if (r == 0)
                r = seccomp_load(ctx);
        seccomp_release(ctx);
        if (r < 0) {
                fprintf(stderr, "without-clone3: %s\n", strerror(-r));
                return 1;
        }
        execvp(argv[1], argv + 1);
        fprintf(stderr, "without-clone3: %s: %s\n", argv[1], strerror(errno));
        return 127;
}
