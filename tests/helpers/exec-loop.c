/* SPDX-License-Identifier: MIT */
/* exec-loop N: run N short-lived processes one after another (each a
 * fresh exec of this program that exits at once), as fast as the kernel
 * allows: the exec trail's flood test (tests/integration/audit-story.sh). */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv) {
        long n = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
        char zero[] = "0";
        char *child[] = { argv[0], zero, NULL };

        for (long k = 0; k < n; k++) {
                pid_t pid;
                int status;
                if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, child, environ) != 0 ||
                    waitpid(pid, &status, 0) < 0 || status != 0) {
                        fprintf(stderr, "exec-loop: process %ld failed\n", k);
                        return 1;
                }
        }
        return 0;
}
