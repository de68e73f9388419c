/* SPDX-License-Identifier: MIT */
/* Sub-agents: a live agent may mint children no broader than itself, within
 * its template's depth and count limits; the chain of who acts for whom
 * shows in tokens ("act"), in Show and in events; children end with their
 * parent (broker_end_identities). */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentid/protocol.h"
#include "agentid/token.h"
#include "broker.h"
#include "delegation.h"
#include "events.h"
#include "id-directory.h"
#include "duration.h"
#include "macro.h"

int broker_caller_agent(struct broker *b, const struct caller *c, struct identity *ret) {
        int r;

        if (c->uid == 0)
                return -ENOENT;
        r = store_find(b->store, NULL, c->uid, true, ret);
        if (r < 0)
                return r;
        /* A process left over from a revoked or expired agent is nobody. */
        if (ret->state != IDENTITY_LIVE || ret->expires_usec <= now_usec())
                return -ENOENT;
        return 0;
}

/* Step-up rules by how much they let an agent do. */
static int step_rank(enum step_rule r) {
        return r == STEP_ALLOW ? 2 : r == STEP_APPROVE ? 1 : 0;
}

static bool groups_subset(const struct template *child, const struct template *parent) {
        for (size_t i = 0; i < child->n_groups; i++) {
                bool found = false;
                for (size_t j = 0; j < parent->n_groups && !found; j++)
                        found = child->groups[i] == parent->groups[j];
                if (!found)
                        return false;
        }
        return true;
}

static bool scopes_subset(const struct template *child, const struct template *parent) {
        for (size_t i = 0; i < child->n_scopes; i++) {
                bool found = false;
                for (size_t j = 0; j < parent->n_scopes && !found; j++)
                        found = streq(child->scopes[i], parent->scopes[j]);
                if (!found)
                        return false;
        }
        return true;
}

/* Ancestors of i: 0 for an agent a user minted. */
static unsigned depth_of(struct broker *b, const struct identity *i) {
        struct identity cur = *i;
        unsigned depth = 0;

        while (cur.parent[0] && depth <= AGENTID_DELEGATION_DEPTH_MAX) {
                depth++;
                if (store_find(b->store, cur.parent, 0, false, &cur) < 0)
                        break;
        }
        return depth;
}

static int deny(struct broker *b, const struct caller *c, const struct identity *parent, const struct template *t,
                struct reply *reply, const char *detail) {
        broker_record_denial(b, c, parent->name, t->name, detail);
        return reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED, "%s", detail);
}

int delegation_check_mint(struct broker *b, const struct caller *c, const struct identity *parent,
                          const struct template *t, uint64_t *ttl, bool ttl_given, struct reply *reply) {
        const struct template *pt = template_set_find(&b->templates, parent->template_name);
        uint64_t now = now_usec(), remaining, children = 0;
        char detail[256], a[32], m[32];
        unsigned depth;

        if (!pt) {
                snprintf(detail, sizeof(detail), "sub-agent of %s: its template \"%s\" is no longer loaded",
                         parent->name, parent->template_name);
                return deny(b, c, parent, t, reply, detail);
        }
        depth = depth_of(b, parent) + 1;
        if (depth > pt->max_depth) {
                snprintf(detail, sizeof(detail), "sub-agent of %s would be at depth %u; template \"%s\" allows %u",
                         parent->name, depth, pt->name, pt->max_depth);
                return deny(b, c, parent, t, reply, detail);
        }
        if (creds_count_live_children(b->creds, parent->name, &children) < 0)
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "reading the store failed");
        if (children >= pt->max_children) {
                snprintf(detail, sizeof(detail), "%s already has %llu live sub-agents; template \"%s\" allows %u",
                         parent->name, (unsigned long long) children, pt->name, pt->max_children);
                return deny(b, c, parent, t, reply, detail);
        }
        /* Attenuation: everything the child's template grants, the parent's
         * grants too. */
        if (t != pt && (!groups_subset(t, pt) || !scopes_subset(t, pt) || step_rank(t->sudo) > step_rank(pt->sudo) ||
                        step_rank(t->ssh) > step_rank(pt->ssh) || t->max_depth > pt->max_depth ||
                        /* a template that mints no children has no use for the count */
                        (t->max_depth > 0 && t->max_children > pt->max_children))) {
                snprintf(detail, sizeof(detail),
                         "template \"%s\" is broader than \"%s\" of parent %s (groups, scopes, sudo, ssh or limits)",
                         t->name, pt->name, parent->name);
                return deny(b, c, parent, t, reply, detail);
        }
        remaining = parent->expires_usec > now ? parent->expires_usec - now : 0;
        if (ttl_given && *ttl > remaining) {
                snprintf(detail, sizeof(detail), "ttl %s exceeds the %s that parent %s has left",
                         duration_format(*ttl, a, sizeof(a)), duration_format(remaining, m, sizeof(m)), parent->name);
                return deny(b, c, parent, t, reply, detail);
        }
        if (*ttl > remaining)
                *ttl = remaining;
        if (*ttl < AGENTID_TTL_MIN_USEC) {
                snprintf(detail, sizeof(detail), "parent %s expires too soon for a sub-agent", parent->name);
                return deny(b, c, parent, t, reply, detail);
        }
        return 0;
}

static int append_entry(json_t *chain, const char *sub, int64_t uid, const char *kind) {
        json_t *o = json_pack("{s:s, s:s}", "sub", sub, "kind", kind);

        if (o && uid >= 0)
                json_object_set_new(o, "uid", json_integer(uid));
        return json_array_append_new(chain, o);
}

json_t *delegation_chain(struct broker *b, const struct identity *i) {
        json_t *chain = json_array();
        struct identity cur = *i, p;

        if (!chain)
                return NULL;
        for (unsigned k = 0; k <= AGENTID_DELEGATION_DEPTH_MAX; k++) {
                if (cur.parent[0]) {
                        if (store_find(b->store, cur.parent, 0, false, &p) < 0) {
                                append_entry(chain, cur.parent, -1, "agent");
                                break;
                        }
                        append_entry(chain, p.name, p.uid, "agent");
                        cur = p;
                        continue;
                }
                {
                        char owner[AGENTID_NAME_MAX + 1];

                        /* The directory snapshot: Show runs on the loop. */
                        if (id_directory_user_name(cur.owner_uid, owner, sizeof(owner)) < 0)
                                snprintf(owner, sizeof(owner), "%u", (unsigned) cur.owner_uid);
                        append_entry(chain, owner, cur.owner_uid, "user");
                }
                if (cur.on_behalf_of[0])
                        append_entry(chain, cur.on_behalf_of, -1, "on_behalf_of");
                break;
        }
        return chain;
}

/* One actor: {"sub": name, "agentid_uid": uid} (uid when known). */
static json_t *actor(json_t *sub, json_t *uid, json_t *inner) {
        json_t *o = json_pack("{s:O}", "sub", sub);

        if (!o) {
                json_decref(inner);
                return NULL;
        }
        if (uid)
                json_object_set(o, AGENTID_CLAIM_UID, uid);
        if (inner)
                json_object_set_new(o, "act", inner);
        return o;
}

json_t *delegation_act(const struct identity *i, json_t *chain) {
        json_t *act = NULL, *self_sub, *self_uid;

        /* Innermost first: the invoker (the user who minted the top agent),
         * then each parent agent; the principal acted for (on_behalf_of) is
         * the token's sub, not an actor. */
        for (size_t k = json_array_size(chain); k > 0; k--) {
                json_t *e = json_array_get(chain, k - 1);

                if (streq(json_string_value(json_object_get(e, "kind")) ?: "", "on_behalf_of"))
                        continue;
                act = actor(json_object_get(e, "sub"), json_object_get(e, "uid"), act);
                if (!act)
                        return NULL;
        }
        /* Outermost: the agent presenting the token, the current actor. */
        self_sub = json_string(i->name);
        self_uid = json_integer(i->uid);
        act = self_sub && self_uid ? actor(self_sub, self_uid, act) : (json_decref(act), NULL);
        json_decref(self_sub);
        json_decref(self_uid);
        return act;
}

const char *delegation_principal(json_t *chain) {
        json_t *last = json_array_get(chain, json_array_size(chain) - 1);

        if (streq(json_string_value(json_object_get(last, "kind")) ?: "", "on_behalf_of"))
                return json_string_value(json_object_get(last, "sub"));
        return NULL;
}

struct ids {
        int64_t **ids;
        size_t *n, *cap;
};

static int add_id(void *userdata, int64_t id) {
        struct ids *l = userdata;

        if (*l->n == *l->cap) {
                size_t ncap = *l->cap ? *l->cap * 2 : 16;
                int64_t *nids = realloc(*l->ids, ncap * sizeof(*nids));
                if (!nids)
                        return -ENOMEM;
                *l->ids = nids;
                *l->cap = ncap;
        }
        (*l->ids)[(*l->n)++] = id;
        return 0;
}

int delegation_add_children(struct broker *b, const char *parent, int64_t **ids, size_t *n, size_t *cap) {
        struct ids l = { ids, n, cap };
        return creds_list_live_children(b->creds, parent, add_id, &l);
}
