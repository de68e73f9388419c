/* SPDX-License-Identifier: MIT */
#include "id-directory.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "duration.h"
#include "macro.h"

struct id_entry {
        uint32_t id;
        char *name;
};

struct snapshot {
        struct id_entry *users, *groups; /* sorted by id */
        size_t n_users, n_groups;
        struct stat files[2];            /* /etc/passwd, /etc/group as read */
        bool have_file[2];
        uint64_t built_usec;             /* CLOCK_MONOTONIC, when the build began */
};

static const char *const watched[2] = { "/etc/passwd", "/etc/group" };

static struct snapshot *current;     /* the loop's; only the loop swaps it */
static struct snapshot *finished;    /* a worker's result, under lock */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t worker;
static bool worker_running;
static atomic_bool worker_done;
static uint64_t generation;
static uint64_t wanted_since; /* a snapshot begun at or after this is asked for */
static struct id_entry *noted_groups; /* id_directory_note_group; the loop's */
static size_t n_noted_groups;

void id_directory_note_group(const char *name, gid_t gid);

static void snapshot_free(struct snapshot *s) {
        if (!s)
                return;
        for (size_t k = 0; k < s->n_users; k++)
                free(s->users[k].name);
        for (size_t k = 0; k < s->n_groups; k++)
                free(s->groups[k].name);
        free(s->users);
        free(s->groups);
        free(s);
}

static int compare_entry(const void *a, const void *b) {
        uint32_t x = ((const struct id_entry *) a)->id, y = ((const struct id_entry *) b)->id;
        return x < y ? -1 : x > y;
}

static int append(struct id_entry **v, size_t *n, size_t *cap, uint32_t id, const char *name) {
        if (*n == *cap) {
                size_t ncap = *cap ? *cap * 2 : 64;
                struct id_entry *nv = realloc(*v, ncap * sizeof(*nv));
                if (!nv)
                        return -ENOMEM;
                *v = nv;
                *cap = ncap;
        }
        (*v)[*n].id = id;
        (*v)[*n].name = strdup(name);
        if (!(*v)[*n].name)
                return -ENOMEM;
        (*n)++;
        return 0;
}

static void stat_files(struct snapshot *s) {
        for (size_t f = 0; f < ELEMENTSOF(watched); f++)
                s->have_file[f] = stat(watched[f], &s->files[f]) == 0;
}

/* Enumerate NSS. Runs in the worker (or at start): may block. The files
 * are stat'ed first, so a change during the read makes the next tick read
 * again rather than miss it. */
static struct snapshot *snapshot_build(void) {
        struct snapshot *s = calloc(1, sizeof(*s));
        size_t cap_users = 0, cap_groups = 0;
        struct passwd *pw;
        struct group *gr;
        int r = 0;

        if (!s)
                return NULL;
        s->built_usec = monotonic_usec();
        stat_files(s);
        setpwent();
        while (r == 0 && (pw = getpwent()))
                r = append(&s->users, &s->n_users, &cap_users, pw->pw_uid, pw->pw_name);
        endpwent();
        setgrent();
        while (r == 0 && (gr = getgrent()))
                r = append(&s->groups, &s->n_groups, &cap_groups, gr->gr_gid, gr->gr_name);
        endgrent();
        if (r < 0) {
                snapshot_free(s);
                return NULL;
        }
        /* An id listed twice answers with either name. */
        if (s->users)
                qsort(s->users, s->n_users, sizeof(*s->users), compare_entry);
        if (s->groups)
                qsort(s->groups, s->n_groups, sizeof(*s->groups), compare_entry);
        return s;
}

static void *worker_main(void *arg) {
        struct snapshot *s = snapshot_build();

        (void) arg;
        pthread_mutex_lock(&lock);
        snapshot_free(finished);
        finished = s;
        pthread_mutex_unlock(&lock);
        atomic_store(&worker_done, true);
        return NULL;
}

int id_directory_load(void) {
        struct snapshot *s = snapshot_build();

        if (!s)
                return -ENOMEM;
        snapshot_free(current);
        current = s;
        generation++;
        return 0;
}

static bool files_changed(const struct snapshot *s) {
        for (size_t f = 0; f < ELEMENTSOF(watched); f++) {
                struct stat st;
                bool exists = stat(watched[f], &st) == 0;
                if (exists != s->have_file[f])
                        return true;
                if (exists && (st.st_ino != s->files[f].st_ino || st.st_dev != s->files[f].st_dev ||
                               st.st_size != s->files[f].st_size ||
                               st.st_mtim.tv_sec != s->files[f].st_mtim.tv_sec ||
                               st.st_mtim.tv_nsec != s->files[f].st_mtim.tv_nsec))
                        return true;
        }
        return false;
}

void id_directory_refresh(uint64_t now_mono_usec) {
        if (!current)
                return;
        if (worker_running && atomic_load(&worker_done)) {
                struct snapshot *s;
                pthread_join(worker, NULL); /* it has returned: no wait */
                worker_running = false;
                pthread_mutex_lock(&lock);
                s = finished;
                finished = NULL;
                pthread_mutex_unlock(&lock);
                if (s) {
                        snapshot_free(current);
                        current = s;
                        generation++;
                }
        }
        if (worker_running)
                return;
        if (!files_changed(current) && now_mono_usec - current->built_usec < ID_DIRECTORY_MAX_AGE_USEC &&
            wanted_since <= current->built_usec)
                return;
        atomic_store(&worker_done, false);
        if (pthread_create(&worker, NULL, worker_main, NULL) == 0)
                worker_running = true;
        else /* retry at the next tick; keep answering from the old one */
                current->built_usec = now_mono_usec;
}

void id_directory_note_group(const char *name, gid_t gid) {
        struct id_entry *nv;

        for (size_t k = 0; k < n_noted_groups; k++)
                if (streq(noted_groups[k].name, name)) {
                        noted_groups[k].id = gid;
                        return;
                }
        nv = realloc(noted_groups, (n_noted_groups + 1) * sizeof(*nv));
        if (!nv)
                return; /* only a lookup the snapshot may not answer */
        noted_groups = nv;
        noted_groups[n_noted_groups].id = gid;
        noted_groups[n_noted_groups].name = strdup(name);
        if (noted_groups[n_noted_groups].name)
                n_noted_groups++;
}

void id_directory_free(void) {
        if (worker_running) {
                pthread_join(worker, NULL);
                worker_running = false;
        }
        snapshot_free(finished);
        finished = NULL;
        snapshot_free(current);
        current = NULL;
        for (size_t k = 0; k < n_noted_groups; k++)
                free(noted_groups[k].name);
        free(noted_groups);
        noted_groups = NULL;
        n_noted_groups = 0;
}

void id_directory_request(uint64_t now_mono_usec) {
        wanted_since = now_mono_usec;
        id_directory_refresh(now_mono_usec);
}

bool id_directory_files_unchanged(void) {
        return !current || !files_changed(current);
}

bool id_directory_fresh_since(uint64_t mono_usec) {
        return !current || current->built_usec >= mono_usec;
}

uint64_t id_directory_generation(void) {
        return generation;
}

static const struct id_entry *by_id(const struct id_entry *v, size_t n, uint32_t id) {
        struct id_entry key = { .id = id };
        return v ? bsearch(&key, v, n, sizeof(*v), compare_entry) : NULL;
}

static const struct id_entry *by_name(const struct id_entry *v, size_t n, const char *name) {
        for (size_t k = 0; k < n; k++)
                if (streq(v[k].name, name))
                        return &v[k];
        return NULL;
}

int id_directory_user_name(uid_t uid, char *buf, size_t size) {
        const struct id_entry *e;

        if (!current) {
                struct passwd pw, *res = NULL;
                char pwbuf[4096];
                if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &res) != 0 || !res || strlen(res->pw_name) >= size)
                        return -ESRCH;
                strcpy(buf, res->pw_name);
                return 0;
        }
        e = by_id(current->users, current->n_users, uid);
        if (!e || strlen(e->name) >= size)
                return -ESRCH;
        strcpy(buf, e->name);
        return 0;
}

int id_directory_user_uid(const char *name, uid_t *ret) {
        const struct id_entry *e;

        if (!current) {
                struct passwd pw, *res = NULL;
                char pwbuf[4096];
                if (getpwnam_r(name, &pw, pwbuf, sizeof(pwbuf), &res) != 0 || !res)
                        return -ESRCH;
                *ret = res->pw_uid;
                return 0;
        }
        e = by_name(current->users, current->n_users, name);
        if (!e)
                return -ESRCH;
        *ret = e->id;
        return 0;
}

int id_directory_group_gid(const char *name, gid_t *ret) {
        const struct id_entry *e;

        if (!current) {
                struct group gr, *res = NULL;
                char grbuf[16384];
                if (getgrnam_r(name, &gr, grbuf, sizeof(grbuf), &res) != 0 || !res)
                        return -ESRCH;
                *ret = res->gr_gid;
                /* Found before the first snapshot (templates at start):
                 * kept, in case the snapshot cannot enumerate it. */
                id_directory_note_group(name, res->gr_gid);
                return 0;
        }
        e = by_name(current->groups, current->n_groups, name);
        if (!e)
                e = by_name(noted_groups, n_noted_groups, name);
        if (!e)
                return -ESRCH;
        *ret = e->id;
        return 0;
}
