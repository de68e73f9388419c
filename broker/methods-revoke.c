/* SPDX-License-Identifier: MIT */
/* io.agentid.Revoke: end identities now, by name/uid, by owner, or all. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentid/protocol.h"
#include "broker.h"
#include "events.h"
#include "lifecycle.h"
#include "methods.h"
#include "macro.h"
#include "protocol.h"
#include "names.h"

/* Revoke replies name at most this many agents, and always the count. */
#define REVOKE_REPLY_NAMES_MAX 1000

struct targets {
        int64_t *ids;
        size_t n, cap;
        json_t *names; /* the reply's: the first REVOKE_REPLY_NAMES_MAX, as read before the change */
};

static int targets_add(struct targets *t, int64_t id, const char *name) {
        for (size_t k = 0; k < t->n && t->n < 4096; k++) /* dedupe short explicit lists */
                if (t->ids[k] == id)
                        return 0;
        if (t->n == t->cap) {
                size_t ncap = t->cap ? t->cap * 2 : 16;
                int64_t *n = realloc(t->ids, ncap * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                t->ids = n;
                t->cap = ncap;
        }
        t->ids[t->n++] = id;
        /* Kept from the row already read: no second read per target. */
        if (t->n <= REVOKE_REPLY_NAMES_MAX &&
            ((!t->names && !(t->names = json_array())) || json_array_append_new(t->names, json_string(name)) < 0))
                return -ENOMEM;
        return 0;
}

static int collect_one(void *userdata, const struct identity *i) {
        return targets_add(userdata, i->id, i->name);
}

/* Resolve one "agents" element: a name, or a uid (number or digits). */
static int find_agent(struct broker *b, json_t *v, struct identity *ret, char *label, size_t label_size) {
        if (json_is_integer(v)) {
                json_int_t n = json_integer_value(v);
                if (n < 0 || n > UINT32_MAX)
                        return -EINVAL;
                snprintf(label, label_size, "%lld", (long long) n);
                return store_find(b->store, NULL, (uint32_t) n, true, ret);
        }
        if (json_is_string(v)) {
                const char *s = json_string_value(v);
                char *end;
                unsigned long n;

                if (strlen(s) != json_string_length(v))
                        return -EINVAL;
                if (*s >= '0' && *s <= '9') {
                        errno = 0;
                        n = strtoul(s, &end, 10);
                        if (errno || *end || n > UINT32_MAX)
                                return -EINVAL;
                        snprintf(label, label_size, "%s", s);
                        return store_find(b->store, NULL, (uint32_t) n, true, ret);
                }
                if (!agent_name_is_valid(s))
                        return -EINVAL;
                snprintf(label, label_size, "%s", s);
                return store_find(b->store, s, 0, false, ret);
        }
        return -EINVAL;
}

static int owner_param(json_t *params, int64_t *ret) {
        json_t *v = json_object_get(params, "owner");
        uid_t uid;

        if (!v)
                return -ENOENT;
        if (json_is_integer(v)) {
                if (json_integer_value(v) < 0 || json_integer_value(v) >= UINT32_MAX)
                        return -EINVAL;
                *ret = json_integer_value(v);
                return 0;
        }
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
            resolve_user(json_string_value(v), &uid) < 0)
                return -EINVAL;
        *ret = uid;
        return 0;
}

int method_revoke(struct broker *b, const struct caller *c, json_t *params, struct reply *reply) {
        static const char *const known[] = { "agents", "owner", "all", "reason", NULL };
        struct targets t = {};
        json_t *agents = json_object_get(params, "agents");
        const char *reason = NULL;
        int all = 0, selectors, r = -1;
        char by[64];
        int64_t owner = -1;

        if (params_check_known(params, known, reply) < 0)
                return -EPROTO;
        r = json_get_bool(params, "all", &all);
        if (r == -EINVAL)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "all must be true or false");
        r = owner_param(params, &owner);
        if (r == -EINVAL)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "owner must be a known user name or uid");
        selectors = !!agents + (owner >= 0) + !!all;
        if (selectors != 1)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER,
                                  "give exactly one of agents, owner or all");
        r = json_get_string(params, "reason", &reason);
        if (r == -EINVAL || (r == 0 && !text_is_valid(reason, AGENTID_REASON_MAX)))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER,
                                  "reason must be printable UTF-8 text of 1 to %d bytes, without control, bidi or "
                                  "zero-width characters",
                                  AGENTID_REASON_MAX);
        if (!reason) {
                snprintf(by, sizeof(by), "revoked by uid %u", (unsigned) c->uid);
                reason = by;
        }

        if (agents) {
                size_t k;
                json_t *v;

                if (!json_is_array(agents) || json_array_size(agents) == 0 || json_array_size(agents) > 1024) {
                        r = reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER,
                                       "agents must be a list of 1 to 1024 names or uids");
                        goto out;
                }
                json_array_foreach(agents, k, v) {
                        struct identity i;
                        char label[AGENTID_NAME_MAX + 16];
                        r = find_agent(b, v, &i, label, sizeof(label));
                        if (r == -EINVAL) {
                                r = reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER,
                                               "agents[%zu] is not an agent name or uid", k);
                                goto out;
                        }
                        if (r < 0 || i.state != IDENTITY_LIVE) {
                                r = reply_fail(reply, AGENTID_ERROR_NO_SUCH_AGENT, "no live agent %s", label);
                                goto out;
                        }
                        if (!caller_may_manage(b, c, &i)) {
                                char detail[128];
                                snprintf(detail, sizeof(detail), "uid %u may not revoke %s", (unsigned) c->uid,
                                         i.name);
                                broker_record_denial(b, c, i.name, i.template_name, detail);
                                r = reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED,
                                               "%s (only its owner or an admin may)", detail);
                                goto out;
                        }
                        if (targets_add(&t, i.id, i.name) < 0) {
                                r = reply_fail(reply, AGENTID_ERROR_INTERNAL, "out of memory");
                                goto out;
                        }
                }
        } else {
                struct store_filter f = { .owner_uid = all ? -1 : owner };
                if (!caller_is_admin(b, c) && (all || owner != (int64_t) c->uid)) {
                        char detail[128];
                        snprintf(detail, sizeof(detail), "uid %u may not revoke %s", (unsigned) c->uid,
                                 all ? "all agents" : "another user's agents");
                        broker_record_denial(b, c, NULL, NULL, detail);
                        r = reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED, "%s (admins only)", detail);
                        goto out;
                }
                r = store_list(b->store, &f, collect_one, &t);
                if (r < 0) {
                        r = reply_fail(reply, AGENTID_ERROR_INTERNAL, "reading the store failed");
                        goto out;
                }
        }

        r = broker_end_identities(b, c, t.ids, t.n, IDENTITY_REVOKED, reason);
        if (r < 0) {
                r = reply_fail(reply, r == -EIO || r == -ENOSPC || r == -EROFS ? AGENTID_ERROR_AUDIT_FAILED
                                                                               : AGENTID_ERROR_INTERNAL,
                               "the revocation could not be recorded, nothing was revoked: %s", strerror(-r));
                goto out;
        }
        reply->parameters = json_pack("{s:o, s:i}", "revoked", t.names ? json_incref(t.names) : json_array(), "count",
                                      r);
        r = 0;
out:
        json_decref(t.names);
        free(t.ids);
        return r;
}
