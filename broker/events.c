/* SPDX-License-Identifier: MIT */
#include "events.h"

#include "broker.h"
#include "duration.h"
#include "log.h"

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

void broker_record_denial(struct broker *b, const struct caller *c, const char *agent, const char *template_name,
                          const char *detail) {
        struct event e = event_for(EVENT_DENY, NULL, c, detail);

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
