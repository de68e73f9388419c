/* SPDX-License-Identifier: MIT */
#include "allocator.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>

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

int allocator_init(struct allocator *a, uint32_t min, uint32_t max, struct store *store) {
        uint64_t next;
        int r;

        *a = (struct allocator) { .min = min, .max = max, .next = min, .id_is_foreign = allocator_id_is_foreign_nss };
        r = store_get_meta_u64(store, ALLOCATOR_META_KEY, &next);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r == 0 && next >= min && next <= max)
                a->next = (uint32_t) next;
        return 0;
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
                if (a->id_is_foreign && a->id_is_foreign(candidate))
                        continue;
                *ret = candidate;
                return 0;
        }
        return -ENOSPC;
}

int allocator_check_range(uint32_t min, uint32_t max, struct store *store, char *error, size_t error_size) {
        struct passwd *pw;
        struct group *gr;
        int r = 0;

        /* Our own agents show up here once nss_agentid is enabled; only
         * ids with no live identity behind them are foreign. */
        setpwent();
        while ((pw = getpwent())) {
                if (pw->pw_uid < min || pw->pw_uid > max)
                        continue;
                if (store_uid_is_live(store, pw->pw_uid) > 0)
                        continue;
                snprintf(error, error_size, "uid range %u-%u overlaps user \"%s\" (uid %u)", min, max, pw->pw_name,
                         (unsigned) pw->pw_uid);
                r = -EEXIST;
                break;
        }
        endpwent();
        if (r < 0)
                return r;

        setgrent();
        while ((gr = getgrent())) {
                if (gr->gr_gid < min || gr->gr_gid > max)
                        continue;
                if (store_uid_is_live(store, gr->gr_gid) > 0)
                        continue;
                snprintf(error, error_size, "uid range %u-%u overlaps group \"%s\" (gid %u)", min, max, gr->gr_name,
                         (unsigned) gr->gr_gid);
                r = -EEXIST;
                break;
        }
        endgrent();
        return r;
}
