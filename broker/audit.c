/* SPDX-License-Identifier: MIT */
#include "audit.h"

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "agentid/events.h"
#include "log.h"
#include "names.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static const char *const message_ids[_EVENT_TYPE_MAX] = {
        [EVENT_MINT] = AGENTID_MESSAGE_ID_MINT,     [EVENT_DENY] = AGENTID_MESSAGE_ID_DENY,
        [EVENT_REVOKE] = AGENTID_MESSAGE_ID_REVOKE, [EVENT_EXPIRE] = AGENTID_MESSAGE_ID_EXPIRE,
        [EVENT_START] = AGENTID_MESSAGE_ID_START,   [EVENT_STOP] = AGENTID_MESSAGE_ID_STOP,
        [EVENT_RUN] = AGENTID_MESSAGE_ID_RUN,       [EVENT_KILL] = AGENTID_MESSAGE_ID_KILL,
        [EVENT_TOKEN] = AGENTID_MESSAGE_ID_TOKEN,   [EVENT_GRANT] = AGENTID_MESSAGE_ID_GRANT,
        [EVENT_REDEEM] = AGENTID_MESSAGE_ID_REDEEM, [EVENT_ROTATE] = AGENTID_MESSAGE_ID_ROTATE,
        [EVENT_STEPUP_REQUEST] = AGENTID_MESSAGE_ID_STEPUP_REQUEST,
        [EVENT_STEPUP_APPROVE] = AGENTID_MESSAGE_ID_STEPUP_APPROVE,
        [EVENT_STEPUP_DENY] = AGENTID_MESSAGE_ID_STEPUP_DENY,
        [EVENT_STEPUP_OUTCOME] = AGENTID_MESSAGE_ID_STEPUP_OUTCOME,
        [EVENT_SESSION_OPEN] = AGENTID_MESSAGE_ID_SESSION_OPEN,
        [EVENT_SESSION_CLOSE] = AGENTID_MESSAGE_ID_SESSION_CLOSE,
        [EVENT_EXEC] = AGENTID_MESSAGE_ID_EXEC,
        [EVENT_EXEC_BOUND] = AGENTID_MESSAGE_ID_EXEC_BOUND,
        [EVENT_PRUNE] = AGENTID_MESSAGE_ID_PRUNE,
        [EVENT_AUDIT_KEY] = AGENTID_MESSAGE_ID_AUDIT_KEY,
};

void audit_init(struct audit *a, struct store *store, enum journal_mode mode) {
        a->store = store;
        switch (mode) {
        case JOURNAL_OFF:
                a->journal = a->journal_required = false;
                break;
        case JOURNAL_REQUIRED:
                a->journal = a->journal_required = true;
                break;
        default:
                a->journal = a->journal_required = access(JOURNAL_SOCKET, F_OK) == 0;
                if (!a->journal)
                        log_warning("journald is not running: audit events go to the event table only");
                break;
        }
}

static int audit_record_clean(struct audit *a, const struct event *e);

static int priority_of(enum event_type t) {
        return t == EVENT_DENY ? LOG_WARNING : LOG_INFO;
}

static void format_message(const struct event *e, char *buf, size_t size) {
        const char *agent = e->agent ? e->agent : "-";

        switch (e->type) {
        case EVENT_MINT:
                snprintf(buf, size, "agent %s minted (uid %" PRId64 ", template %s, owner uid %" PRId64 ")", agent,
                         e->uid, e->template_name ? e->template_name : "-", e->owner_uid);
                break;
        case EVENT_DENY:
                snprintf(buf, size, "request from uid %" PRId64 " denied: %s", e->caller_uid,
                         e->detail ? e->detail : "-");
                break;
        case EVENT_REVOKE:
                snprintf(buf, size, "agent %s revoked: %s", agent, e->detail ? e->detail : "-");
                break;
        case EVENT_EXPIRE:
                snprintf(buf, size, "agent %s expired", agent);
                break;
        case EVENT_START:
                snprintf(buf, size, "agentid broker started: %s", e->detail ? e->detail : "");
                break;
        case EVENT_RUN:
                snprintf(buf, size, "agent %s runs a task: %s", agent, e->detail ? e->detail : "");
                break;
        case EVENT_KILL:
                snprintf(buf, size, "processes of uid %" PRId64 " killed: %s", e->uid, e->detail ? e->detail : "");
                break;
        case EVENT_TOKEN:
                snprintf(buf, size, "token issued to agent %s: %s", agent, e->detail ? e->detail : "");
                break;
        case EVENT_GRANT:
                snprintf(buf, size, "one-time grant issued to agent %s: %s", agent, e->detail ? e->detail : "");
                break;
        case EVENT_REDEEM:
                snprintf(buf, size, "one-time grant of agent %s redeemed: %s", agent, e->detail ? e->detail : "");
                break;
        case EVENT_ROTATE:
                snprintf(buf, size, "signing key rotated: %s", e->detail ? e->detail : "");
                break;
        case EVENT_STEPUP_REQUEST:
                snprintf(buf, size, "agent %s asks for a step-up: %s", agent, e->detail ? e->detail : "");
                break;
        case EVENT_STEPUP_APPROVE:
        case EVENT_STEPUP_DENY:
        case EVENT_STEPUP_OUTCOME:
                snprintf(buf, size, "step-up of agent %s: %s", agent, e->detail ? e->detail : "");
                break;
        case EVENT_SESSION_OPEN:
        case EVENT_SESSION_CLOSE:
                snprintf(buf, size, "agent %s: %s", agent, e->detail ? e->detail : "");
                break;
        case EVENT_EXEC:
                snprintf(buf, size, "agent %s executed: %s", agent, e->detail ? e->detail : "");
                break;
        case EVENT_EXEC_BOUND:
                snprintf(buf, size, "exec trail of agent %s: %s", agent, e->detail ? e->detail : "");
                break;
        case EVENT_PRUNE:
                snprintf(buf, size, "audit trail pruned by uid %" PRId64 ": %s", e->caller_uid,
                         e->detail ? e->detail : "");
                break;
        case EVENT_AUDIT_KEY:
                snprintf(buf, size, "agentid audit key: %s", e->detail ? e->detail : "");
                break;
        case EVENT_STOP:
                snprintf(buf, size, "agentid broker stopping: %s", e->detail ? e->detail : "");
                break;
        default:
                snprintf(buf, size, "agentid event");
                break;
        }
}

/* Every text field of an event may carry caller-controlled text (argv,
 * env names, JWT header fields, names, paths): it is stored and sent to
 * journald escaped by the one shared rule (text_escape, common/names.c),
 * so no row or journal entry holds a control or bidi character. */
struct clean_event {
        struct event event;
        char *agent, *template_name, *reason, *detail;
};

static void clean_event_done(struct clean_event *c) {
        free(c->agent);
        free(c->template_name);
        free(c->reason);
        free(c->detail);
}

static int clean_event(const struct event *e, struct clean_event *c) {
        *c = (struct clean_event) { .event = *e };
        if ((e->agent && !(c->event.agent = c->agent = text_escape(e->agent))) ||
            (e->template_name && !(c->event.template_name = c->template_name = text_escape(e->template_name))) ||
            (e->reason && !(c->event.reason = c->reason = text_escape(e->reason))) ||
            (e->detail && !(c->event.detail = c->detail = text_escape(e->detail)))) {
                clean_event_done(c);
                return -ENOMEM;
        }
        return 0;
}

int audit_record(struct audit *a, const struct event *raw) {
        struct clean_event clean;
        const struct event *e = &clean.event;
        int r;

        r = clean_event(raw, &clean);
        if (r < 0)
                return r;
        r = audit_record_clean(a, e);
        clean_event_done(&clean);
        return r;
}

static int audit_record_clean(struct audit *a, const struct event *e) {
        char message[768];
        int r;

        r = store_append_event(a->store, e);
        if (r < 0) {
                log_error("audit: cannot record %s event in the event table: %s", event_type_to_string(e->type),
                          store_error(a->store));
                return r;
        }
        if (!a->journal)
                return 0;

        /* sd_journal_send() succeeds silently when journald's socket is
         * missing; when the journal is required that must be a failure. */
        if (a->journal_required && access(JOURNAL_SOCKET, F_OK) < 0) {
                log_error("audit: journald's socket %s is gone; refusing the %s", JOURNAL_SOCKET,
                          event_type_to_string(e->type));
                return -ENOENT;
        }
        format_message(e, message, sizeof(message));
        r = sd_journal_send("MESSAGE=%s", message, "MESSAGE_ID=%s", message_ids[e->type], "PRIORITY=%d",
                            priority_of(e->type), "SYSLOG_IDENTIFIER=agentidd", "AGENTID_EVENT=%s",
                            event_type_to_string(e->type), "AGENTID_AGENT=%s", e->agent ? e->agent : "",
                            "AGENTID_UID=%" PRId64, e->uid, "AGENTID_OWNER_UID=%" PRId64, e->owner_uid,
                            "AGENTID_TEMPLATE=%s", e->template_name ? e->template_name : "", "AGENTID_REASON=%s",
                            e->reason ? e->reason : "", "AGENTID_CALLER_UID=%" PRId64, e->caller_uid,
                            "AGENTID_CALLER_PID=%" PRId64, e->caller_pid, "AGENTID_DETAIL=%s",
                            e->detail ? e->detail : "", NULL);
        if (r < 0) {
                log_error("audit: journald refused the %s event: %s", event_type_to_string(e->type), strerror(-r));
                if (a->journal_required)
                        return r;
        }
        return 0;
}
