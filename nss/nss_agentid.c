/* SPDX-License-Identifier: MIT */
/*
 * libnss_agentid.so.2: live agents in passwd, group and shadow, read from
 * the broker's memory-mapped cache file (docs/nss-cache.md). No IPC, no
 * allocation on the lookup path, libc only. Never blocks: a missing or
 * broken file is UNAVAIL at once, whatever state the broker is in.
 *
 * One mapping per process, behind a read-write lock: lookups hold it for
 * reading while they copy a record out; it is taken for writing only to
 * (re)map, when the broker marked the mapped file retired, when it is time
 * to check that the path still names the mapped file (once a second), or
 * while nothing is mapped.
 */
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <shadow.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "nss-cache-read.h"

#define EXPORT __attribute__((visibility("default")))
#define RECHECK_USEC (UINT64_C(1000000))

static pthread_rwlock_t map_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct nss_cache_map map;
static uint64_t next_check_usec; /* CLOCK_MONOTONIC_COARSE; atomic */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* Enumeration state (glibc serializes set/get/end*ent per database, the
 * lock keeps two databases' threads apart). */
static pthread_mutex_t ent_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t pw_next, gr_next;
static uint64_t pw_generation, gr_generation;

/* A child forked while another thread held a lock must not inherit it
 * held: it would deadlock in its first lookup. */
static void atfork_child(void) {
        pthread_rwlock_init(&map_lock, NULL);
        pthread_mutex_init(&ent_lock, NULL);
}

static void atfork_register(void) {
        (void) pthread_atfork(NULL, NULL, atfork_child);
}

static uint64_t monotonic_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static const char *cache_path(void) {
        /* secure_getenv: nothing in a setuid/setgid program (AT_SECURE), so a
         * caller cannot point sudo at a cache file of its own making. */
        const char *p = secure_getenv(AGENTID_NSS_CACHE_ENV);
        return p && *p == '/' ? p : AGENTID_NSS_CACHE_PATH_DEFAULT;
}

/* Under the write lock: make map reflect what the path names now. */
static void refresh_locked(void) {
        const char *path = cache_path();
        struct nss_cache_map fresh;
        struct stat st;

        __atomic_store_n(&next_check_usec, monotonic_usec() + RECHECK_USEC, __ATOMIC_RELAXED);
        if (map.base && !nss_cache_map_retired(&map) && stat(path, &st) == 0 && st.st_dev == map.dev &&
            st.st_ino == map.ino && (uint64_t) st.st_size >= map.size)
                return; /* still the current file */
        nss_cache_map_close(&map);
        if (nss_cache_map_open(path, &fresh) == 0)
                map = fresh;
}

/* Take the read lock on a usable mapping: 0, or -errno with no lock held. */
static int map_acquire(void) {
        (void) pthread_once(&atfork_once, atfork_register);
        for (int round = 0; round < 2; round++) {
                pthread_rwlock_rdlock(&map_lock);
                if (map.base && !nss_cache_map_retired(&map) &&
                    monotonic_usec() < __atomic_load_n(&next_check_usec, __ATOMIC_RELAXED))
                        return 0;
                if (round == 1) {
                        if (map.base)
                                return 0; /* just refreshed; good enough */
                        break;
                }
                pthread_rwlock_unlock(&map_lock);
                pthread_rwlock_wrlock(&map_lock);
                refresh_locked();
                pthread_rwlock_unlock(&map_lock);
        }
        pthread_rwlock_unlock(&map_lock);
        return -ENOENT;
}

static void map_release(void) {
        pthread_rwlock_unlock(&map_lock);
}

/* errno-style result to an NSS status. */
static enum nss_status status_from(int r, int *errnop) {
        switch (r) {
        case 0:
                return NSS_STATUS_SUCCESS;
        case -ENOENT:
                *errnop = ENOENT;
                return NSS_STATUS_NOTFOUND;
        case -ERANGE:
                *errnop = ERANGE;
                return NSS_STATUS_TRYAGAIN;
        case -ENODEV:
                /* No cache file (broker never started here, or its runtime
                 * dir is gone): unavailable, at once. */
                *errnop = ENOENT;
                return NSS_STATUS_UNAVAIL;
        default:
                /* Corrupt file, a record that kept changing: say "not
                 * available" and let the next source answer. */
                *errnop = -r;
                return NSS_STATUS_UNAVAIL;
        }
}

/* Carve strings and pointer arrays out of the caller's buffer. */
struct carve {
        char *p;
        size_t left;
};

static char *carve_str(struct carve *c, const char *s) {
        size_t n = strlen(s) + 1;
        char *d;

        if (n > c->left)
                return NULL;
        d = memcpy(c->p, s, n);
        c->p += n;
        c->left -= n;
        return d;
}

static void *carve_aligned(struct carve *c, size_t n, size_t align) {
        size_t pad = (align - (uintptr_t) c->p % align) % align;
        void *d;

        if (pad > c->left || n > c->left - pad)
                return NULL;
        d = c->p + pad;
        c->p += pad + n;
        c->left -= pad + n;
        return d;
}

static int fill_passwd(const struct nss_cache_entry *e, struct passwd *pw, char *buf, size_t buflen) {
        struct carve c = { buf, buflen };

        pw->pw_name = carve_str(&c, e->name);
        pw->pw_passwd = carve_str(&c, "x"); /* see shadow: locked */
        pw->pw_gecos = carve_str(&c, "agentid agent");
        pw->pw_dir = carve_str(&c, e->home);
        pw->pw_shell = carve_str(&c, e->shell);
        if (!pw->pw_name || !pw->pw_passwd || !pw->pw_gecos || !pw->pw_dir || !pw->pw_shell)
                return -ERANGE;
        pw->pw_uid = (uid_t) e->uid;
        pw->pw_gid = (gid_t) e->uid;
        return 0;
}

static int fill_group(const struct nss_cache_entry *e, struct group *gr, char *buf, size_t buflen) {
        struct carve c = { buf, buflen };
        char **mem = carve_aligned(&c, sizeof(char *), alignof(char *));

        if (!mem)
                return -ERANGE;
        /* The agent's own group has no listed members: the agent is in it
         * as its primary group. */
        mem[0] = NULL;
        gr->gr_mem = mem;
        gr->gr_name = carve_str(&c, e->name);
        gr->gr_passwd = carve_str(&c, "!");
        if (!gr->gr_name || !gr->gr_passwd)
                return -ERANGE;
        gr->gr_gid = (gid_t) e->uid;
        return 0;
}

static int fill_shadow(const struct nss_cache_entry *e, struct spwd *sp, char *buf, size_t buflen) {
        struct carve c = { buf, buflen };

        sp->sp_namp = carve_str(&c, e->name);
        /* Locked: no password ever authenticates an agent (pam_agentid
         * does, with tokens); "!" also tells passwd -S it is locked. */
        sp->sp_pwdp = carve_str(&c, "!*");
        if (!sp->sp_namp || !sp->sp_pwdp)
                return -ERANGE;
        sp->sp_lstchg = -1; /* no password aging: never "change required" */
        sp->sp_min = sp->sp_max = sp->sp_warn = sp->sp_inact = -1;
        /* Account expiry in days since the epoch; pam_unix refuses from that
         * day on. The day after the TTL's: before that the record itself
         * vanishes at the exact microsecond. */
        sp->sp_expire = (long) (e->expires_usec / (UINT64_C(86400) * 1000000) + 1);
        sp->sp_flag = ~0UL;
        return 0;
}

/* Cheap refusals that need no mapping: ids outside every possible agent
 * range; names that no agent can have. */
static bool name_possible(const char *name) {
        size_t n = name ? strnlen(name, AGENTID_NAME_MAX + 1) : 0;
        return n > 0 && n <= AGENTID_NAME_MAX;
}

static bool id_possible(uint32_t id) {
        /* root and (uid_t) -1 are never agents (allocator_check_range keeps
         * the range off every existing account). Other ids are compared
         * with the range in the private copy of the file's header, under
         * the read lock but without touching the shared file. */
        return id != 0 && id != UINT32_MAX;
}

static int lookup_name(const char *name, struct nss_cache_entry *e) {
        int r;

        if (!name_possible(name))
                return -ENOENT;
        r = map_acquire();
        if (r < 0)
                return -ENODEV;
        /* Most names asked for are no agent's: refused on the file's name
         * prefix before the clock is read (a third of the module's time
         * for such a name; docs/performance.md). */
        r = nss_cache_name_plausible(&map, name) ? nss_cache_lookup_name(&map, name, nss_cache_now_usec(), e)
                                                 : -ENOENT;
        map_release();
        return r;
}

static int lookup_id(uint32_t id, struct nss_cache_entry *e) {
        int r;

        if (!id_possible(id))
                return -ENOENT;
        r = map_acquire();
        if (r < 0)
                return -ENODEV;
        /* The file's own range, before the clock is read. */
        r = id >= map.hdr.uid_min && id <= map.hdr.uid_max ? nss_cache_lookup_uid(&map, id, nss_cache_now_usec(), e)
                                                           : -ENOENT;
        map_release();
        return r;
}

EXPORT enum nss_status _nss_agentid_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t buflen,
                                               int *errnop);
enum nss_status _nss_agentid_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t buflen,
                                        int *errnop) {
        struct nss_cache_entry e;
        int r = lookup_name(name, &e);

        if (r == 0)
                r = fill_passwd(&e, pw, buf, buflen);
        return status_from(r, errnop);
}

EXPORT enum nss_status _nss_agentid_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen,
                                               int *errnop);
enum nss_status _nss_agentid_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen, int *errnop) {
        struct nss_cache_entry e;
        int r = lookup_id((uint32_t) uid, &e);

        if (r == 0)
                r = fill_passwd(&e, pw, buf, buflen);
        return status_from(r, errnop);
}

EXPORT enum nss_status _nss_agentid_getgrnam_r(const char *name, struct group *gr, char *buf, size_t buflen,
                                               int *errnop);
enum nss_status _nss_agentid_getgrnam_r(const char *name, struct group *gr, char *buf, size_t buflen,
                                        int *errnop) {
        struct nss_cache_entry e;
        int r = lookup_name(name, &e);

        if (r == 0)
                r = fill_group(&e, gr, buf, buflen);
        return status_from(r, errnop);
}

EXPORT enum nss_status _nss_agentid_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t buflen,
                                               int *errnop);
enum nss_status _nss_agentid_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t buflen, int *errnop) {
        struct nss_cache_entry e;
        int r = lookup_id((uint32_t) gid, &e);

        if (r == 0)
                r = fill_group(&e, gr, buf, buflen);
        return status_from(r, errnop);
}

EXPORT enum nss_status _nss_agentid_getspnam_r(const char *name, struct spwd *sp, char *buf, size_t buflen,
                                               int *errnop);
enum nss_status _nss_agentid_getspnam_r(const char *name, struct spwd *sp, char *buf, size_t buflen,
                                        int *errnop) {
        struct nss_cache_entry e;
        int r = lookup_name(name, &e);

        if (r == 0)
                r = fill_shadow(&e, sp, buf, buflen);
        return status_from(r, errnop);
}

/* The template's supplementary groups, for initgroups(3)/getgrouplist(3):
 * append to *groupsp (growing it up to limit, as glibc expects). */
EXPORT enum nss_status _nss_agentid_initgroups_dyn(const char *user, gid_t skip, long int *start, long int *size,
                                                   gid_t **groupsp, long int limit, int *errnop);
enum nss_status _nss_agentid_initgroups_dyn(const char *user, gid_t skip, long int *start, long int *size,
                                            gid_t **groupsp, long int limit, int *errnop) {
        struct nss_cache_entry e;
        int r = lookup_name(user, &e);

        if (r < 0)
                return status_from(r, errnop);
        for (uint32_t k = 0; k < e.n_gids; k++) {
                gid_t g = (gid_t) e.gids[k];
                bool have = g == skip;

                for (long i = 0; i < *start && !have; i++)
                        have = (*groupsp)[i] == g;
                if (have)
                        continue;
                if (*start == *size) {
                        long n = *size * 2 > 0 ? *size * 2 : 8;
                        gid_t *ng;

                        if (limit > 0 && n > limit)
                                n = limit;
                        if (n <= *size)
                                break; /* at the caller's limit */
                        ng = realloc(*groupsp, (size_t) n * sizeof(gid_t));
                        if (!ng) {
                                *errnop = ENOMEM;
                                return NSS_STATUS_TRYAGAIN;
                        }
                        *groupsp = ng;
                        *size = n;
                }
                (*groupsp)[(*start)++] = g;
        }
        return NSS_STATUS_SUCCESS;
}

/* Enumeration: walk the record slots of the current file. If the file is
 * replaced mid-walk, the walk ends there (slots of two files do not line
 * up); the next setpwent starts over. */
static enum nss_status enum_next(uint32_t *next, uint64_t *generation, struct nss_cache_entry *e, int *errnop) {
        uint64_t now = nss_cache_now_usec();
        int r = map_acquire();

        if (r < 0) {
                *errnop = ENOENT;
                return NSS_STATUS_NOTFOUND;
        }
        if (*next == 0)
                *generation = nss_cache_map_generation(&map);
        else if (*generation != nss_cache_map_generation(&map)) {
                map_release();
                *errnop = ENOENT;
                return NSS_STATUS_NOTFOUND;
        }
        for (;;) {
                r = nss_cache_get_slot(&map, *next, now, e);
                if (r == -ERANGE)
                        break;
                (*next)++;
                if (r == 0) {
                        map_release();
                        return NSS_STATUS_SUCCESS;
                }
        }
        map_release();
        *errnop = ENOENT;
        return NSS_STATUS_NOTFOUND;
}

EXPORT enum nss_status _nss_agentid_setpwent(int stayopen);
enum nss_status _nss_agentid_setpwent(int stayopen) {
        pthread_mutex_lock(&ent_lock);
        pw_next = 0;
        pthread_mutex_unlock(&ent_lock);
        return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_agentid_endpwent(void);
enum nss_status _nss_agentid_endpwent(void) {
        return _nss_agentid_setpwent(0);
}

EXPORT enum nss_status _nss_agentid_getpwent_r(struct passwd *pw, char *buf, size_t buflen, int *errnop);
enum nss_status _nss_agentid_getpwent_r(struct passwd *pw, char *buf, size_t buflen, int *errnop) {
        struct nss_cache_entry e;
        enum nss_status s;
        uint32_t at;

        pthread_mutex_lock(&ent_lock);
        at = pw_next;
        s = enum_next(&pw_next, &pw_generation, &e, errnop);
        if (s == NSS_STATUS_SUCCESS && fill_passwd(&e, pw, buf, buflen) < 0) {
                pw_next = at; /* the caller retries this entry with a larger buffer */
                *errnop = ERANGE;
                s = NSS_STATUS_TRYAGAIN;
        }
        pthread_mutex_unlock(&ent_lock);
        return s;
}

EXPORT enum nss_status _nss_agentid_setgrent(int stayopen);
enum nss_status _nss_agentid_setgrent(int stayopen) {
        pthread_mutex_lock(&ent_lock);
        gr_next = 0;
        pthread_mutex_unlock(&ent_lock);
        return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_agentid_endgrent(void);
enum nss_status _nss_agentid_endgrent(void) {
        return _nss_agentid_setgrent(0);
}

EXPORT enum nss_status _nss_agentid_getgrent_r(struct group *gr, char *buf, size_t buflen, int *errnop);
enum nss_status _nss_agentid_getgrent_r(struct group *gr, char *buf, size_t buflen, int *errnop) {
        struct nss_cache_entry e;
        enum nss_status s;
        uint32_t at;

        pthread_mutex_lock(&ent_lock);
        at = gr_next;
        s = enum_next(&gr_next, &gr_generation, &e, errnop);
        if (s == NSS_STATUS_SUCCESS && fill_group(&e, gr, buf, buflen) < 0) {
                gr_next = at;
                *errnop = ERANGE;
                s = NSS_STATUS_TRYAGAIN;
        }
        pthread_mutex_unlock(&ent_lock);
        return s;
}
