/* SPDX-License-Identifier: MIT */
/* The task's view of the file system, built in its own mount namespace by
 * the process that becomes the task: the direct runtime's init (a clone of
 * the broker) and agentid-task-exec (the systemd runtime's unit). One
 * implementation, so that a template's keys mean the same in both. */
#include "task-view.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs-util.h"
#include "macro.h"

#define SETUP_FAIL(e, ...)                                                                                         \
        do {                                                                                                       \
                snprintf((e)->text, sizeof((e)->text), __VA_ARGS__);                                               \
                return -1;                                                                                         \
        } while (0)

bool path_is_under(const char *path, const char *dir) {
        size_t n = strlen(dir);
        return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

int task_view_check(const struct confinement *c, const char *home, char *why, size_t why_size) {
        static const char *const home_dirs[] = { "/home", "/root", "/run/user" };

        if (c->protect_home != PROTECT_HOME_NO)
                for (size_t k = 0; k < ELEMENTSOF(home_dirs); k++)
                        if (path_is_under(home, home_dirs[k])) {
                                snprintf(why, why_size,
                                         "ProtectHome=%s would hide the agent's own home %s (under %s): use "
                                         "ProtectHome=no or a home elsewhere",
                                         protect_home_to_string(c->protect_home), home, home_dirs[k]);
                                return -EOPNOTSUPP;
                        }
        for (size_t k = 0; k < c->inaccessible.n; k++)
                if (path_is_under(home, c->inaccessible.items[k].path)) {
                        snprintf(why, why_size, "InaccessiblePaths=%s would hide the agent's own home %s",
                                 c->inaccessible.items[k].path, home);
                        return -EOPNOTSUPP;
                }
        return 0;
}

static int set_mount_attr(const char *path, uint64_t set, uint64_t clear) {
        struct mount_attr a = { .attr_set = set, .attr_clr = clear };
        return mount_setattr(AT_FDCWD, path, AT_RECURSIVE, &a, sizeof(a)) < 0 ? -errno : 0;
}

static int bind_self(const char *path) {
        return mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0 ? -errno : 0;
}

static int stand_ins_fd = -1;

static int make_stand_ins(struct task_view_error *e) {
        int fs, fd;

        fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
        if (fs < 0 || fsconfig(fs, FSCONFIG_SET_STRING, "size", "4k", 0) < 0 ||
            fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 ||
            (stand_ins_fd = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)) < 0)
                SETUP_FAIL(e, "cannot create a tmpfs for inaccessible paths: %s", strerror(errno));
        close(fs);
        if (mkdirat(stand_ins_fd, "dir", 0) < 0 ||
            (fd = openat(stand_ins_fd, "file", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0)) < 0)
                SETUP_FAIL(e, "cannot create inaccessible stand-ins: %s", strerror(errno));
        close(fd);
        return 0;
}

/* Put the empty, mode 0, read-only stand-in over path. */
static int hide(const char *path, bool dir) {
        struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                            MOUNT_ATTR_NOEXEC };
        int tree = open_tree(stand_ins_fd, dir ? "dir" : "file", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC), r = 0;

        if (tree < 0)
                return -errno;
        if (mount_setattr(tree, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0 ||
            move_mount(tree, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                r = -errno;
        close(tree);
        return r;
}

static int apply_paths(const struct confinement_paths *list, const char *key, int kind, struct task_view_error *e) {
        for (size_t k = 0; k < list->n; k++) {
                const struct confinement_path *p = &list->items[k];
                struct stat st;
                int r;

                if (lstat(p->path, &st) < 0) {
                        if (p->optional && errno == ENOENT)
                                continue;
                        SETUP_FAIL(e, "%s=%s: %s", key, p->path, strerror(errno));
                }
                if (kind == 2) { /* inaccessible: an empty, mode 0 stand-in over it */
                        r = hide(p->path, S_ISDIR(st.st_mode));
                } else {
                        r = bind_self(p->path);
                        if (r == 0)
                                r = set_mount_attr(p->path, kind == 1 ? MOUNT_ATTR_RDONLY : 0,
                                                   kind == 1 ? 0 : MOUNT_ATTR_RDONLY);
                }
                if (r < 0)
                        SETUP_FAIL(e, "%s=%s: %s", key, p->path, strerror(-r));
        }
        return 0;
}

static int mount_tmpfs(const char *path, const char *options) {
        return mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, options) < 0 ? -errno : 0;
}

/* Bring up lo in a new network namespace, as systemd's PrivateNetwork=. */
static int loopback_up(void) {
        struct ifreq ifr = { .ifr_name = "lo" };
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

        if (fd < 0)
                return -errno;
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                r = -errno;
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (r == 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                r = -errno;
        close(fd);
        return r;
}

struct kept {
        const char *path;
        int tree;
};

static bool is_under_tmp(const char *path) {
        return path_is_under(path, "/tmp") || path_is_under(path, "/var/tmp") || path_is_under(path, "/dev/shm");
}

/* A detached copy of the mounts at path, if the private temporary
 * directories would hide it. */
static int keep(const char *path, struct kept *kept, size_t *n, struct task_view_error *e) {
        int tree;

        if (!is_under_tmp(path) || access(path, F_OK) < 0)
                return 0;
        /* A bind mount of its own first, so the copy carries just it. */
        if (bind_self(path) < 0)
                SETUP_FAIL(e, "cannot keep %s visible: %s", path, strerror(errno));
        tree = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        if (tree < 0)
                SETUP_FAIL(e, "cannot keep %s visible: %s", path, strerror(errno));
        kept[*n] = (struct kept) { path, tree };
        (*n)++;
        return 0;
}

int task_view_setup(const struct task_view *v, struct task_view_error *e) {
        static const char *const system_dirs[] = { "/usr", "/boot", "/efi" };
        static const char *const home_dirs[] = { "/home", "/root", "/run/user" };
        const struct confinement *c = v->confinement;
        struct kept kept[2 + 2 * CONFINEMENT_PATHS_MAX];
        size_t n_kept = 0;
        struct stat st;
        int r;

        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                SETUP_FAIL(e, "cannot make the mounts private: %s", strerror(errno));
        /* The stand-ins for hidden paths: an empty directory and file,
         * mode 0, on a tmpfs that is mounted nowhere (so it hides nothing). */
        if (make_stand_ins(e) < 0)
                return -1;

        if (c->protect_system == PROTECT_SYSTEM_STRICT) {
                r = set_mount_attr("/", MOUNT_ATTR_RDONLY, 0);
                if (r == 0)
                        r = set_mount_attr("/dev", 0, MOUNT_ATTR_RDONLY); /* API file systems stay as they are */
                if (r == 0 && !v->own_proc) {
                        /* The host's /proc as it was (a task's own /proc is
                         * mounted afresh below): its mount alone, so that
                         * what is read-only below it (a container's
                         * /proc/sys) stays so. */
                        struct mount_attr rw = { .attr_clr = MOUNT_ATTR_RDONLY };
                        if (mount_setattr(AT_FDCWD, "/proc", 0, &rw, sizeof(rw)) < 0)
                                r = -errno;
                }
                if (r < 0)
                        SETUP_FAIL(e, "ProtectSystem=strict: %s", strerror(-r));
        } else if (c->protect_system != PROTECT_SYSTEM_NO) {
                for (size_t k = 0; k <= ELEMENTSOF(system_dirs); k++) {
                        const char *d = k < ELEMENTSOF(system_dirs) ? system_dirs[k] : "/etc";
                        if (k == ELEMENTSOF(system_dirs) && c->protect_system != PROTECT_SYSTEM_FULL)
                                break;
                        if (stat(d, &st) < 0 || !S_ISDIR(st.st_mode))
                                continue;
                        r = bind_self(d);
                        if (r == 0)
                                r = set_mount_attr(d, MOUNT_ATTR_RDONLY, 0);
                        if (r < 0)
                                SETUP_FAIL(e, "ProtectSystem=%s: %s: %s", protect_system_to_string(c->protect_system),
                                           d, strerror(-r));
                }
        }
        if (c->protect_home != PROTECT_HOME_NO)
                for (size_t k = 0; k < ELEMENTSOF(home_dirs); k++) {
                        const char *d = home_dirs[k];
                        if (stat(d, &st) < 0 || !S_ISDIR(st.st_mode))
                                continue;
                        if (c->protect_home == PROTECT_HOME_READ_ONLY) {
                                r = bind_self(d);
                                if (r == 0)
                                        r = set_mount_attr(d, MOUNT_ATTR_RDONLY, 0);
                        } else if (c->protect_home == PROTECT_HOME_TMPFS)
                                r = mount_tmpfs(d, "mode=0755");
                        else
                                r = hide(d, true);
                        if (r < 0)
                                SETUP_FAIL(e, "ProtectHome=%s: %s: %s", protect_home_to_string(c->protect_home), d,
                                           strerror(-r));
                }
        if (apply_paths(&c->read_write, "ReadWritePaths", 0, e) < 0 ||
            apply_paths(&c->read_only, "ReadOnlyPaths", 1, e) < 0 ||
            apply_paths(&c->inaccessible, "InaccessiblePaths", 2, e) < 0)
                return -1;
        /* The agent's home is its own, whatever the system view and the
         * path keys say about what lies around it: last. */
        r = bind_self(v->home);
        if (r == 0)
                r = set_mount_attr(v->home, 0, MOUNT_ATTR_RDONLY);
        if (r < 0)
                SETUP_FAIL(e, "cannot make the home %s writable: %s", v->home, strerror(-r));

        /* What lies below a temporary directory and must stay visible (the
         * home, the broker's socket, granted paths; tests keep all of it in
         * /tmp) is taken along and put back on the private tmpfs. */
        if (keep(v->home, kept, &n_kept, e) < 0 || (v->socket_dir && keep(v->socket_dir, kept, &n_kept, e) < 0))
                return -1;
        for (size_t k = 0; k < c->read_write.n; k++)
                if (keep(c->read_write.items[k].path, kept, &n_kept, e) < 0)
                        return -1;
        for (size_t k = 0; k < c->read_only.n; k++)
                if (keep(c->read_only.items[k].path, kept, &n_kept, e) < 0)
                        return -1;

        /* Temporary directories of its own, gone with the namespace. */
        close(stand_ins_fd);
        if (mount_tmpfs("/tmp", "mode=1777") < 0)
                SETUP_FAIL(e, "cannot mount a private /tmp: %s", strerror(errno));
        if (stat("/var/tmp", &st) == 0 && S_ISDIR(st.st_mode) && mount_tmpfs("/var/tmp", "mode=1777") < 0)
                SETUP_FAIL(e, "cannot mount a private /var/tmp: %s", strerror(errno));
        if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && mount_tmpfs("/dev/shm", "mode=1777") < 0)
                SETUP_FAIL(e, "cannot mount a private /dev/shm: %s", strerror(errno));
        for (size_t k = 0; k < n_kept; k++) {
                r = mkdir_parents(kept[k].path);
                if (r == 0 && move_mount(kept[k].tree, "", AT_FDCWD, kept[k].path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                        r = -errno;
                close(kept[k].tree);
                if (r < 0)
                        SETUP_FAIL(e, "cannot keep %s visible: %s", kept[k].path, strerror(-r));
        }
        /* POSIX message queues of its own IPC namespace. */
        if (stat("/dev/mqueue", &st) == 0 && S_ISDIR(st.st_mode))
                (void) mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        /* Only its own processes in /proc: those of its PID namespace, or
         * without one (agentid-task-exec) those of its uid, which is the
         * task's alone (systemd's ProtectProc=invisible). Where the kernel
         * refuses a new /proc there (a container whose /proc has locked
         * mounts over it), the host's stays: the uid alone still keeps
         * other processes' memory, environment and signals out of reach. */
        if (v->own_proc && mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                SETUP_FAIL(e, "cannot mount /proc: %s", strerror(errno));
        if (!v->own_proc)
                (void) mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible");
        if (c->private_network && loopback_up() < 0)
                SETUP_FAIL(e, "PrivateNetwork=yes: cannot bring up lo: %s", strerror(errno));
        return 0;
}
