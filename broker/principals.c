/* SPDX-License-Identifier: MIT */
#include "principals.h"

#include "id-directory.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ini-file.h"
#include "macro.h"
#include "names.h"

static int parse_id(const char *s, uint32_t *ret) {
        char *end;
        unsigned long v;

        if (!(*s >= '0' && *s <= '9'))
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        /* (uid_t) -1 is "no id" to the kernel; never accept it. */
        if (errno || *end || v >= UINT32_MAX)
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}

/* A decimal id, or a user (group) name: from the directory snapshot, which
 * costs no NSS lookup on the event loop (id-directory.h). may_block: on a
 * miss, ask NSS itself (a source that cannot enumerate, such as sssd with
 * enumerate = false, knows names the snapshot lacks). Only loading config
 * and templates may (start, or a SIGHUP an operator sends); a request never
 * does, or any caller could stall the loop on a slow directory server. A
 * group found that way is noted in the directory, so that the NSS cache
 * writer finds it at mint time without asking NSS. */
static int resolve(const char *name, bool group, bool may_block, uint32_t *ret) {
        char buf[16384];
        uint32_t id;
        int r;

        if (parse_id(name, &id) == 0) {
                *ret = id;
                return 0;
        }
        if (!unix_name_is_valid(name))
                return -EINVAL;
        if (group) {
                gid_t gid;
                r = id_directory_group_gid(name, &gid);
                if (r < 0 && may_block) {
                        struct group gr, *res = NULL;
                        if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || !res)
                                return -ESRCH;
                        gid = res->gr_gid;
                        id_directory_note_group(name, gid);
                        r = 0;
                }
                if (r == 0)
                        *ret = gid;
                return r;
        } else {
                uid_t uid;
                r = id_directory_user_uid(name, &uid);
                if (r < 0 && may_block) {
                        struct passwd pw, *res = NULL;
                        if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
                                return -ESRCH;
                        uid = res->pw_uid;
                        r = 0;
                }
                if (r == 0)
                        *ret = uid;
                return r;
        }
}

int resolve_user(const char *name, uid_t *ret) {
        uint32_t id;
        int r = resolve(name, false, false, &id);

        if (r == 0)
                *ret = id;
        return r;
}

int resolve_group(const char *name, gid_t *ret) {
        uint32_t id;
        int r = resolve(name, true, true, &id);

        if (r == 0)
                *ret = id;
        return r;
}

struct parse_ctx {
        struct principal_set *set;
        char *why;
        size_t why_size;
};

static int add_word(void *userdata, const char *word) {
        struct parse_ctx *ctx = userdata;
        struct principal_set *set = ctx->set;
        int r;

        if (word[0] == '@') {
                gid_t g;
                if (set->n_gids >= ELEMENTSOF(set->gids)) {
                        snprintf(ctx->why, ctx->why_size, "too many groups (at most %zu)", ELEMENTSOF(set->gids));
                        return -E2BIG;
                }
                r = resolve_group(word + 1, &g);
                if (r < 0) {
                        snprintf(ctx->why, ctx->why_size, "unknown group \"%.64s\"", word + 1);
                        return r;
                }
                set->gids[set->n_gids++] = g;
        } else {
                uid_t u;
                if (set->n_uids >= ELEMENTSOF(set->uids)) {
                        snprintf(ctx->why, ctx->why_size, "too many users (at most %zu)", ELEMENTSOF(set->uids));
                        return -E2BIG;
                }
                uint32_t id;
                r = resolve(word, false, true, &id); /* loading: may ask NSS */
                if (r < 0) {
                        snprintf(ctx->why, ctx->why_size, "unknown user \"%.64s\"", word);
                        return r;
                }
                u = id;
                set->uids[set->n_uids++] = u;
        }
        return 0;
}

int principal_set_parse(struct principal_set *set, const char *value, char *why, size_t why_size) {
        struct parse_ctx ctx = { .set = set, .why = why, .why_size = why_size };
        int r;

        set->n_uids = set->n_gids = 0;
        r = ini_split_list(value, add_word, &ctx);
        if (r == -ENAMETOOLONG)
                snprintf(why, why_size, "name too long");
        return r;
}

bool principal_set_matches(const struct principal_set *set, uid_t uid, const gid_t *gids, size_t n_gids) {
        for (size_t i = 0; i < set->n_uids; i++)
                if (set->uids[i] == uid)
                        return true;
        for (size_t i = 0; i < set->n_gids; i++)
                for (size_t j = 0; j < n_gids; j++)
                        if (set->gids[i] == gids[j])
                                return true;
        return false;
}
