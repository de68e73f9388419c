/* SPDX-License-Identifier: MIT */
#include "allocator.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "macro.h"
#include "store.h"

/* How many candidates one mint may examine before giving up. A full range
 * scan would stall the broker; a range this congested needs an operator. */
#define ALLOCATOR_MAX_PROBES 65536u

bool allocator_id_is_foreign_nss(uint32_t id) {
        struct passwd pw, *pres = NULL;
        struct group gr, *gres = NULL;
        char buf[16384];

        if (getpwuid_r(id, &pw, buf, sizeof(buf), &pres) == 0 && pres)
                return true;
        if (getgrgid_r(id, &gr, buf, sizeof(buf), &gres) == 0 && gres)
                return true;
        return false;
}

static const char *const local_paths[] = { "/etc/passwd", "/etc/group" };

static int compare_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
        return x < y ? -1 : x > y;
}

/* Read every uid/gid of both files (third field) into a sorted array. */
static void local_ids_reload(struct allocator_local_ids *l) {
        uint32_t *ids = NULL;
        size_t n = 0, cap = 0;

        for (size_t f = 0; f < ELEMENTSOF(local_paths); f++) {
                FILE *fp = fopen(local_paths[f], "re");
                char line[4096];

                l->read[f] = fp && fstat(fileno(fp), &l->st[f]) == 0;
                if (!fp)
                        continue;
                while (fgets(line, sizeof(line), fp)) {
                        char *p = strchr(line, ':'), *end;
                        unsigned long id;
                        if (!p || !(p = strchr(p + 1, ':')))
                                continue;
                        id = strtoul(p + 1, &end, 10);
                        if (end == p + 1 || *end != ':' || id > UINT32_MAX)
                                continue;
                        if (n == cap) {
                                size_t ncap = cap ? cap * 2 : 256;
                                uint32_t *nids = realloc(ids, ncap * sizeof(*nids));
                                if (!nids)
                                        break;
                                ids = nids;
                                cap = ncap;
                        }
                        ids[n++] = (uint32_t) id;
                }
                fclose(fp);
        }
        if (ids)
                qsort(ids, n, sizeof(*ids), compare_u32);
        free(l->ids);
        l->ids = ids;
        l->n = n;
}

bool allocator_id_is_local(struct allocator *a, uint32_t id) {
        struct allocator_local_ids *l = &a->local;
        bool stale = false;

        for (size_t f = 0; !l->checked && f < ELEMENTSOF(local_paths); f++) {
                struct stat st;
                bool exists = stat(local_paths[f], &st) == 0;
                if (exists != l->read[f] ||
                    (exists && (st.st_ino != l->st[f].st_ino || st.st_dev != l->st[f].st_dev ||
                                st.st_size != l->st[f].st_size || st.st_mtim.tv_sec != l->st[f].st_mtim.tv_sec ||
                                st.st_mtim.tv_nsec != l->st[f].st_mtim.tv_nsec)))
                        stale = true;
        }
        if (stale || (!l->read[0] && !l->read[1] && !l->ids))
                local_ids_reload(l);
        l->checked = true;
        return l->ids && bsearch(&id, l->ids, l->n, sizeof(*l->ids), compare_u32);
}

void allocator_new_turn(struct allocator *a) {
        a->local.checked = false;
}

void allocator_done(struct allocator *a) {
        free(a->local.ids);
        a->local = (struct allocator_local_ids) {};
}

int allocator_init(struct allocator *a, uint32_t min, uint32_t max, struct store *store) {
        uint64_t next;
        int r;

        *a = (struct allocator) { .min = min, .max = max, .next = min };
        r = store_get_meta_u64(store, ALLOCATOR_META_KEY, &next);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r == 0 && next >= min && next <= max)
                a->next = (uint32_t) next;
        a->stored = a->next;
        return 0;
}

int allocator_persist(struct allocator *a, struct store *store) {
        int r;

        if (a->next == a->stored)
                return 0;
        r = store_set_meta_u64(store, ALLOCATOR_META_KEY, a->next);
        if (r == 0)
                a->stored = a->next;
        return r;
}

bool allocator_uid_is_quarantined(struct store *store, uint32_t uid) {
        char key[32];
        uint64_t since;

        snprintf(key, sizeof(key), "quarantine:%u", (unsigned) uid);
        return store_get_meta_u64(store, key, &since) == 0;
}

int allocator_pick(struct allocator *a, struct store *store, uint32_t *ret) {
        uint64_t size = (uint64_t) a->max - a->min + 1;
        uint64_t probes = size < ALLOCATOR_MAX_PROBES ? size : ALLOCATOR_MAX_PROBES;

        for (uint64_t i = 0; i < probes; i++) {
                uint32_t candidate = a->next;
                int live;

                a->next = candidate >= a->max ? a->min : candidate + 1;
                live = store_uid_is_live(store, candidate);
                if (live < 0)
                        return live;
                if (live)
                        continue;
                if (a->id_is_foreign ? a->id_is_foreign(candidate) : allocator_id_is_local(a, candidate))
                        continue;
                /* Something of an old owner remained (uid-cleanup.c). */
                if (allocator_uid_is_quarantined(store, candidate))
                        continue;
                *ret = candidate;
                return 0;
        }
        return -ENOSPC;
}

/* The first entry of the user (group) database in [min, max] that is no
 * live agent's: its name and id. Our own agents show up here once
 * nss_agentid is enabled; only ids with no live identity behind them are
 * foreign. */
static bool first_foreign(bool group, uint32_t min, uint32_t max, struct store *store, char *name, size_t size,
                          uint32_t *ret_id) {
        bool found = false;

        if (group)
                setgrent();
        else
                setpwent();
        for (;;) {
                const char *n;
                uint32_t id;
                if (group) {
                        struct group *gr = getgrent();
                        if (!gr)
                                break;
                        n = gr->gr_name;
                        id = gr->gr_gid;
                } else {
                        struct passwd *pw = getpwent();
                        if (!pw)
                                break;
                        n = pw->pw_name;
                        id = pw->pw_uid;
                }
                if (id < min || id > max || store_uid_is_live(store, id) > 0)
                        continue;
                snprintf(name, size, "%s", n);
                *ret_id = id;
                found = true;
                break;
        }
        if (group)
                endgrent();
        else
                endpwent();
        return found;
}

int allocator_check_range(uint32_t min, uint32_t max, struct store *store, char *error, size_t error_size) {
        char name[256];
        uint32_t id;

        if (first_foreign(false, min, max, store, name, sizeof(name), &id)) {
                snprintf(error, error_size, "uid range %u-%u overlaps user \"%s\" (uid %u)", min, max, name,
                         (unsigned) id);
                return -EEXIST;
        }
        if (first_foreign(true, min, max, store, name, sizeof(name), &id)) {
                snprintf(error, error_size, "uid range %u-%u overlaps group \"%s\" (gid %u)", min, max, name,
                         (unsigned) id);
                return -EEXIST;
        }
        return 0;
}
