/* SPDX-License-Identifier: MIT */
/* Who may do what. Decisions use only kernel-attested caller credentials.
 * Root is always an admin, an invoker and an approver. */
#include "broker.h"

bool caller_is_admin(const struct broker *b, const struct caller *c) {
        return c->uid == 0 || principal_set_matches(&b->config.admins, c->uid, c->groups, c->n_groups);
}

bool caller_may_mint(const struct template *t, const struct caller *c) {
        return c->uid == 0 || principal_set_matches(&t->invokers, c->uid, c->groups, c->n_groups);
}

bool caller_may_manage(const struct broker *b, const struct caller *c, const struct identity *i) {
        return caller_is_admin(b, c) || i->owner_uid == c->uid;
}
