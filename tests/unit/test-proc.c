/* SPDX-License-Identifier: MIT */
/* broker/proc.c: the real uid of a peer, as the PAM checks read it. The
 * peer here is a child whose real uid differs from its effective one (what
 * sudo looks like: euid 0, ruid the user who ran it). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "proc.h"

#define CHILD_RUID 4242

/* A child with real uid CHILD_RUID and effective uid 0, blocked until its
 * pipe closes. */
static pid_t start_child(int *ret_pidfd, int *ret_release) {
        int p[2], ready[2];
        char c;
        pid_t pid;

        assert_int_equal(pipe(p), 0);
        assert_int_equal(pipe(ready), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(p[1]);
                close(ready[0]);
                if (setresuid(CHILD_RUID, 0, 0) < 0)
                        _exit(1);
                (void) !write(ready[1], "x", 1);
                (void) !read(p[0], &c, 1);
                _exit(0);
        }
        close(p[0]);
        close(ready[1]);
        assert_int_equal(read(ready[0], &c, 1), 1);
        close(ready[0]);
        *ret_pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        assert_true(*ret_pidfd >= 0);
        *ret_release = p[1];
        return pid;
}

static void test_real_uid_not_effective(void **state) {
        int pidfd, release;
        pid_t pid;
        int64_t r;

        (void) state;
        if (geteuid() != 0)
                skip();
        pid = start_child(&pidfd, &release);
        /* From the kernel where it can say (6.13 and later)... */
        r = proc_real_uid_pidfd(pidfd);
        assert_true(r == CHILD_RUID || r == -EOPNOTSUPP);
        /* ...and from /proc, with and without a pidfd: the same answer. */
        assert_int_equal(proc_real_uid_pinned(pid, pidfd), CHILD_RUID);
        assert_int_equal(proc_real_uid_pinned(pid, -1), CHILD_RUID);
        assert_int_equal(proc_real_uid(pid), CHILD_RUID);
        close(release);
        assert_int_equal(waitpid(pid, NULL, 0), pid);
        /* Reaped: the pidfd's process is gone, whoever gets its pid next. */
        r = proc_real_uid_pidfd(pidfd);
        assert_true(r == -ESRCH || r == -EOPNOTSUPP);
        assert_int_equal(proc_real_uid_pinned(pid, pidfd), -1);
        close(pidfd);
}

/* All three uids from the kernel (the cleaners' walk): the child's real
 * uid is CHILD_RUID, its effective and saved uid 0; a zombie still has
 * them; a reaped process has none. */
static void test_pidfd_uids(void **state) {
        unsigned long ids[3] = { 1, 1, 1 };
        int pidfd, release, r;
        siginfo_t si;
        pid_t pid;

        (void) state;
        if (geteuid() != 0)
                skip();
        pid = start_child(&pidfd, &release);
        r = proc_pidfd_uids(pidfd, ids);
        if (r == -EOPNOTSUPP) { /* before Linux 6.13: the walk reads /proc */
                close(release);
                assert_int_equal(waitpid(pid, NULL, 0), pid);
                close(pidfd);
                skip();
        }
        assert_int_equal(r, 0);
        assert_int_equal(ids[0], CHILD_RUID);
        assert_int_equal(ids[1], 0);
        assert_int_equal(ids[2], 0);
        close(release);
        assert_int_equal(waitid(P_PID, (id_t) pid, &si, WEXITED | WNOWAIT), 0);
        ids[0] = 0;
        assert_int_equal(proc_pidfd_uids(pidfd, ids), 0);
        assert_int_equal(ids[0], CHILD_RUID);
        assert_int_equal(waitpid(pid, NULL, 0), pid);
        assert_int_equal(proc_pidfd_uids(pidfd, ids), -ESRCH);
        close(pidfd);
}

/* A zombie still has its credentials and its pid: it is still the peer. */
static void test_zombie_still_answers(void **state) {
        int pidfd, release;
        pid_t pid;
        siginfo_t si;

        (void) state;
        if (geteuid() != 0)
                skip();
        pid = start_child(&pidfd, &release);
        close(release);
        assert_int_equal(waitid(P_PID, (id_t) pid, &si, WEXITED | WNOWAIT), 0);
        assert_int_equal(proc_real_uid_pinned(pid, pidfd), CHILD_RUID);
        assert_int_equal(waitpid(pid, NULL, 0), pid);
        close(pidfd);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_real_uid_not_effective),
                cmocka_unit_test(test_zombie_still_answers),
                cmocka_unit_test(test_pidfd_uids),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
