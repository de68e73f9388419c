/* SPDX-License-Identifier: MIT */
/* What a process may do that a task's walls should stop, for run-confine.sh.
 *
 *   syscall-probe calls          try each system call the seccomp filter
 *                                refuses (with arguments the kernel would
 *                                reject for other reasons), print
 *                                "name=ok|ERRNO" for each
 *   syscall-probe listen NAME    listen on the abstract Unix socket NAME,
 *                                print "listening", wait to be killed
 *   syscall-probe connect NAME   connect to it; print "connect=ok|ERRNO"
 *
 * Comparing the output inside a task with the same uid's outside shows what
 * the task's filter (not the host's own policy) refused. */
#include <errno.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *name, long r) {
        printf("%s=%s\n", name, r >= 0 ? "ok" : strerrorname_np(errno));
}

/* unshare(CLONE_NEWUSER) in a child, so this process keeps its namespaces. */
static void try_unshare_user(void) {
        int st;
        pid_t p = fork();
        if (p == 0)
                _exit(unshare(CLONE_NEWUSER) < 0 ? errno : 0);
        if (p < 0 || waitpid(p, &st, 0) < 0 || !WIFEXITED(st)) {
                printf("unshare_user=?\n");
                return;
        }
        errno = WEXITSTATUS(st);
        show("unshare_user", errno ? -1 : 0);
}

static int abstract_address(const char *name, struct sockaddr_un *sa, socklen_t *len) {
        size_t n = strlen(name);
        if (n + 1 > sizeof(sa->sun_path))
                return -1;
        memset(sa, 0, sizeof(*sa));
        sa->sun_family = AF_UNIX;
        memcpy(sa->sun_path + 1, name, n); /* leading NUL: the abstract namespace */
        *len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1 + n);
        return 0;
}

int main(int argc, char **argv) {
        struct sockaddr_un sa;
        socklen_t len;
        int fd;

        if (argc == 2 && strcmp(argv[1], "calls") == 0) {
                show("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0));
                show("bpf", syscall(SYS_bpf, 0, NULL, 0));
                show("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
                show("io_uring_setup", syscall(SYS_io_uring_setup, 1, NULL));
                show("setns", syscall(SYS_setns, -1, 0));
                show("clone3", syscall(SYS_clone3, NULL, 0));
                try_unshare_user();
                return 0;
        }
        if (argc == 3 && (strcmp(argv[1], "listen") == 0 || strcmp(argv[1], "connect") == 0)) {
                if (abstract_address(argv[2], &sa, &len) < 0 || (fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
                        return 1;
                if (argv[1][0] == 'c') {
                        show("connect", connect(fd, (struct sockaddr *) &sa, len));
                        return 0;
                }
                if (bind(fd, (struct sockaddr *) &sa, len) < 0 || listen(fd, 8) < 0)
                        return 1;
                printf("listening\n");
                fflush(stdout);
                for (;;)
                        pause();
        }
        fprintf(stderr, "usage: syscall-probe calls | listen NAME | connect NAME\n");
        return 2;
}
