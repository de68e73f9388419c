/* SPDX-License-Identifier: MIT */
#include "identity-json.h"

#include <pwd.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"
#include "id-directory.h"
#include "macro.h"

static json_t *string_or_null(const char *s) {
        return s && *s ? json_string(s) : json_null();
}

static const char *owner_name(struct owner_cache *cache, uid_t uid, char *buf, size_t size) {
        uint64_t now = now_usec();

        for (size_t k = 0; k < ELEMENTSOF(cache->entries); k++)
                if (cache->entries[k].at && cache->entries[k].uid == uid && now - cache->entries[k].at < 5000000) {
                        snprintf(buf, size, "%s", cache->entries[k].name);
                        return buf;
                }
        /* The directory snapshot, not NSS: this runs on the event loop
         * (id-directory.h). */
        if (id_directory_user_name(uid, buf, size) < 0)
                snprintf(buf, size, "%u", (unsigned) uid);
        cache->entries[cache->next].uid = uid;
        cache->entries[cache->next].at = now;
        snprintf(cache->entries[cache->next].name, sizeof(cache->entries[cache->next].name), "%s", buf);
        cache->next = (cache->next + 1) % ELEMENTSOF(cache->entries);
        return buf;
}

json_t *identity_to_json(struct owner_cache *owners, const struct identity *i, uint64_t now_usec) {
        char created[RFC3339_MAX], expires[RFC3339_MAX], ended[RFC3339_MAX];
        char uidbuf[AGENTID_NAME_MAX + 1];
        const char *owner;
        json_t *groups = json_array(), *o;
        enum identity_state state = i->state;

        /* A live record past its deadline is reported as what it is: the
         * expiry timer will catch up with the store within a tick. */
        if (state == IDENTITY_LIVE && i->expires_usec <= now_usec)
                state = IDENTITY_EXPIRED;

        owner = owner_name(owners, i->owner_uid, uidbuf, sizeof(uidbuf));
        for (const char *p = i->groups; *p;) {
                size_t n = strcspn(p, ",");
                json_array_append_new(groups, json_stringn(p, n));
                p += n;
                p += *p == ',';
        }
        o = json_pack("{s:s, s:I, s:I, s:s, s:I, s:I, s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:o, s:s, s:s, s:I, s:I}",
                      "name", i->name, "uid", (json_int_t) i->uid, "gid", (json_int_t) i->gid, "owner", owner,
                      "owner_uid", (json_int_t) i->owner_uid, "invoker_pid", (json_int_t) i->invoker_pid,
                      "template", i->template_name, "state", identity_state_to_string(state), "reason",
                      string_or_null(i->reason), "on_behalf_of", string_or_null(i->on_behalf_of), "parent",
                      string_or_null(i->parent), "home", i->home, "shell", i->shell, "groups", groups,
                      "created_at", rfc3339_format(i->created_usec, created, sizeof(created)), "expires_at",
                      rfc3339_format(i->expires_usec, expires, sizeof(expires)), "created_usec",
                      (json_int_t) i->created_usec, "expires_usec", (json_int_t) i->expires_usec);
        if (o && i->state != IDENTITY_LIVE) {
                json_object_set_new(o, "ended_at", json_string(rfc3339_format(i->ended_usec, ended, sizeof(ended))));
                json_object_set_new(o, "end_reason", string_or_null(i->end_reason));
        }
        return o;
}
