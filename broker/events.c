/* SPDX-License-Identifier: MIT */
#include "events.h"

#include <inttypes.h>
#include <string.h>

#include "broker.h"
#include "duration.h"
#include "log.h"
#include "macro.h"
#include "agentid/protocol.h"

struct event event_for(enum event_type type, const struct identity *i, const struct caller *c, const char *detail) {
        return (struct event) {
                .type = type,
                .time_usec = now_usec(),
                .agent = i ? i->name : NULL,
                .uid = i ? (int64_t) i->uid : -1,
                .owner_uid = i ? (int64_t) i->owner_uid : -1,
                .template_name = i ? i->template_name : NULL,
                .reason = i ? i->reason : NULL,
                .caller_uid = c ? (int64_t) c->uid : -1,
                .caller_pid = c ? (int64_t) c->pid : -1,
                .detail = detail,
        };
}

int broker_record_event(struct broker *b, const struct event *e) {
        _cleanup_savepoint_ struct savepoint sp = {};
        int r = savepoint_begin(&sp, b->store);

        if (r == 0)
                r = audit_record(&b->audit, e);
        return savepoint_end(&sp, r);
}

/* Whose refusals are one event each: callers the broker can hold to
 * account (root, admins, live agents, the invokers of some template), but
 * for the methods anyone may call. */
static bool denial_is_counted(struct broker *b, const struct caller *c) {
        struct identity i;

        if (!c || !c->method || c->uid == 0 || caller_is_admin(b, c))
                return false;
        if (streq(c->method, AGENTID_METHOD_VERIFY_TOKEN) || streq(c->method, AGENTID_METHOD_REDEEM_GRANT))
                return true;
        for (size_t k = 0; k < b->templates.n; k++)
                if (caller_may_mint(&b->templates.items[k], c))
                        return false;
        /* A live agent is accountable (it has an owner and an end). */
        return !(store_find(b->store, NULL, c->uid, true, &i) == 0 && i.state == IDENTITY_LIVE &&
                 i.expires_usec > now_usec());
}

void broker_record_denial(struct broker *b, const struct caller *c, const char *agent, const char *template_name,
                          const char *detail) {
        struct event e = event_for(EVENT_DENY, NULL, c, detail);

        if (denial_is_counted(b, c) && refusals_add(&b->refusals, c->uid, c->pid, c->method, detail, monotonic_usec()) == 0)
                return;
        e.agent = agent;
        e.template_name = template_name;
        if (broker_record_event(b, &e) < 0)
                log_error("could not record a denial for uid %u: %s", (unsigned) c->uid, detail);
}

int event_record_agent(struct broker *b, const struct caller *c, enum event_type type, const char *agent, int64_t uid,
                       int64_t owner_uid, const char *template_name, const char *reason, const char *detail) {
        struct event e = event_for(type, NULL, c, detail);

        e.agent = agent;
        e.uid = uid;
        e.owner_uid = owner_uid;
        e.template_name = template_name;
        e.reason = reason && *reason ? reason : NULL;
        return audit_record(&b->audit, &e);
}

static void record_refusal_count(void *userdata, const struct refusal_count *rc) {
        struct broker *b = userdata;
        char detail[128 + 2 * REFUSAL_SAMPLE_MAX];
        struct event e;

        refusal_format(rc, b->refusals.window_usec, detail, sizeof(detail));
        e = event_for(EVENT_DENY, NULL, NULL, detail);
        e.caller_uid = rc->uid;
        e.caller_pid = rc->last_pid;
        if (broker_record_event(b, &e) < 0)
                log_error("could not record %" PRIu64 " refusals of uid %u", rc->count, (unsigned) rc->uid);
}

void broker_flush_refusals(struct broker *b, bool all) {
        refusals_flush(&b->refusals, monotonic_usec(), all, record_refusal_count, b);
}
