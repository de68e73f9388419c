/* SPDX-License-Identifier: MIT */
#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"

/* Read status (relative to dir_fd) for its three uids and zombie state. */
static int read_status(int dir_fd, const char *path, unsigned long ids[3], bool *zombie) {
        char buf[2048];
        const char *u, *st;
        ssize_t n;
        int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return -EIO;
        buf[n] = '\0';
        u = strstr(buf, "\nUid:");
        if (!u || sscanf(u, "\nUid: %lu %lu %lu", &ids[0], &ids[1], &ids[2]) != 3)
                return -EBADMSG;
        st = strstr(buf, "\nState:");
        *zombie = st && (strncmp(st, "\nState:\tZ", 9) == 0 || strncmp(st, "\nState:\tX", 9) == 0);
        return 0;
}

int64_t proc_real_uid(pid_t pid) {
        char path[64];
        unsigned long ids[3];
        bool zombie;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        return read_status(AT_FDCWD, path, ids, &zombie) < 0 ? -1 : (int64_t) ids[0];
}

int proc_scan(bool (*fn)(void *userdata, const unsigned long ids[3], bool zombie), void *userdata) {
        char self[16];
        DIR *d = opendir("/proc");
        struct dirent *de;
        int stopped = 0;

        if (!d)
                return -errno;
        snprintf(self, sizeof(self), "%d", (int) getpid());
        while (!stopped && (de = readdir(d))) {
                char path[300];
                unsigned long ids[3];
                bool zombie;

                /* Not ourselves: the cleaner runs as the uid it clears. */
                if (de->d_name[0] < '1' || de->d_name[0] > '9' || streq(de->d_name, self))
                        continue;
                snprintf(path, sizeof(path), "%s/status", de->d_name);
                if (read_status(dirfd(d), path, ids, &zombie) < 0)
                        continue;
                stopped = fn(userdata, ids, zombie);
        }
        closedir(d);
        return stopped;
}

/* PIDFD_GET_INFO (Linux 6.13, <linux/pidfd.h>; Debian 12's headers
 * predate it): the first version of the kernel's struct, 64 bytes. */
struct pidfd_info_v0 {
        uint64_t mask;
        uint64_t cgroupid;
        uint32_t pid, tgid, ppid;
        uint32_t ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
        uint32_t spare0[1];
};
#define PIDFD_INFO_CREDS_ (1U << 1)
#define PIDFD_GET_INFO_ _IOWR(0xFF, 11, struct pidfd_info_v0)

int proc_pidfd_uids(int pidfd, unsigned long ids[3]) {
        struct pidfd_info_v0 info = { .mask = PIDFD_INFO_CREDS_ };

        if (ioctl(pidfd, PIDFD_GET_INFO_, &info) < 0)
                return errno == ESRCH ? -ESRCH : -EOPNOTSUPP;
        if (!(info.mask & PIDFD_INFO_CREDS_))
                return -EOPNOTSUPP;
        ids[0] = info.ruid;
        ids[1] = info.euid;
        ids[2] = info.suid;
        return 0;
}

int64_t proc_real_uid_pidfd(int pidfd) {
        struct pidfd_info_v0 info = { .mask = PIDFD_INFO_CREDS_ };

        if (ioctl(pidfd, PIDFD_GET_INFO_, &info) < 0)
                return errno == ESRCH ? -ESRCH : -EOPNOTSUPP;
        if (!(info.mask & PIDFD_INFO_CREDS_))
                return -EOPNOTSUPP;
        return (int64_t) info.ruid;
}

int64_t proc_real_uid_pinned(pid_t pid, int pidfd) {
        int64_t ruid;

        /* One ioctl on the process itself rather than the kernel formatting
         * its whole /proc status (about a third of the StepUp handler's time
         * in a perf profile): no pid that could be reused meanwhile. */
        if (pidfd >= 0) {
                ruid = proc_real_uid_pidfd(pidfd);
                if (ruid >= 0 || ruid == -ESRCH)
                        return ruid >= 0 ? ruid : -1;
        }
        ruid = proc_real_uid(pid);

        if (ruid >= 0 && pidfd >= 0 && syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
                return -1; /* exited: the pid may be someone else's now */
        return ruid;
}
