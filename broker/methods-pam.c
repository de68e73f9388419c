/* SPDX-License-Identifier: MIT */
/* What pam_agentid asks the broker (StepUp, StepUpWait, PamAccount,
 * SessionOpen, SessionClose) and what approvers answer (StepUpList,
 * StepUpDecide). See docs/pam.md and docs/protocol.md, "PAM". */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "agentid/pam.h"
#include "agentid/protocol.h"
#include "broker.h"
#include "conn.h"
#include "duration.h"
#include "events.h"
#include "lifecycle.h"
#include "log.h"
#include "macro.h"
#include "methods.h"
#include "names.h"
#include "pam-session.h"
#include "proc.h"
#include "protocol.h"
#include "stepup-service.h"
#include "stepup.h"

static enum step_rule template_rule(const struct template *t, const char *service) {
        if (!t)
                return STEP_DENY; /* its template is gone: nothing is allowed */
        return service_is_stepup(service) ? t->sudo : t->ssh;
}

static int strictness(enum step_rule r) {
        return r == STEP_DENY ? 2 : r == STEP_APPROVE ? 1 : 0;
}

/* Optional printable text of at most max bytes. */
static int param_text(json_t *params, const char *key, size_t max, const char **ret, struct reply *reply) {
        int r = json_get_string(params, key, ret);

        if (r == -ENOENT) {
                *ret = "";
                return 0;
        }
        if (r < 0 || (**ret && !text_is_valid(*ret, max)))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "%s must be printable text of at most %zu bytes",
                                  key, max);
        return 0;
}

static int param_service(json_t *params, const char **ret, struct reply *reply) {
        if (json_get_string(params, "service", ret) < 0 || !**ret || !text_is_valid(*ret, AGENTID_SERVICE_MAX) ||
            strpbrk(*ret, " /"))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "service must be a PAM service name");
        return 0;
}

/* Only root may say anything about an agent (pam_agentid runs inside sudo,
 * sshd, login, all with euid 0: METHOD_ROOT_ONLY in the method table
 * refuses anyone else before the handler runs), and a process run by an
 * agent may speak only for that agent: its real uid must be the agent's, or root's (sshd,
 * login: a daemon authenticating someone remote). The agent must be live,
 * except to close a session (it may have expired meanwhile). */
static int pam_caller_full(struct broker *b, const struct caller *c, json_t *params, const char *what, bool need_live,
                           struct identity *i, int64_t *ret_ruid, struct reply *reply) {
        const char *agent;
        char detail[256];
        int64_t ruid;

        if (json_get_string(params, "agent", &agent) < 0 || !agent_name_is_valid(agent))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "agent must be an agent name");
        /* SO_PEERCRED's uid is the effective one, 0 in setuid sudo whoever
         * runs it; the real uid is the user who ran it. */
        ruid = proc_real_uid_pinned(c->pid, c->has_pidfd ? c->pidfd : -1);
        if (store_find(b->store, agent, 0, false, i) < 0 ||
            (need_live && (i->state != IDENTITY_LIVE || i->expires_usec <= now_usec())))
                return reply_fail(reply, AGENTID_ERROR_NO_SUCH_AGENT, "%s is not a live agent", agent);
        if (ruid != 0 && ruid != (int64_t) i->uid) {
                snprintf(detail, sizeof(detail), "process %d (real uid %" PRId64 ") may not %s for %s (uid %u)",
                         (int) c->pid, ruid, what, i->name, (unsigned) i->uid);
                broker_record_denial(b, c, i->name, i->template_name, detail);
                return reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED, "%s", detail);
        }
        if (ret_ruid)
                *ret_ruid = ruid;
        return 0;
}

static int pam_caller(struct broker *b, const struct caller *c, json_t *params, const char *what, struct identity *i,
                      int64_t *ret_ruid, struct reply *reply) {
        return pam_caller_full(b, c, params, what, true, i, ret_ruid, reply);
}

static int make_request_id(char *buf, size_t size) {
        static const char alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
        uint8_t rnd[AGENTID_REQUEST_ID_LEN];

        if (size < AGENTID_REQUEST_ID_LEN + 1 || getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
                return -EIO;
        buf[0] = 'r';
        for (size_t k = 1; k < AGENTID_REQUEST_ID_LEN; k++)
                buf[k] = alphabet[rnd[k] % (sizeof(alphabet) - 1)]; /* 32 symbols: no bias */
        buf[AGENTID_REQUEST_ID_LEN] = '\0';
        return 0;
}

static bool request_id_is_valid(const char *s) {
        if (strlen(s) != AGENTID_REQUEST_ID_LEN || s[0] != 'r')
                return false;
        for (const char *p = s + 1; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
                        return false;
        return true;
}

/* One event in its own savepoint; fails closed. */
static int record_one(struct broker *b, const struct caller *c, int type, const struct identity *i, const char *detail) {
        _cleanup_savepoint_ struct savepoint sp = {};
        int r = savepoint_begin(&sp, b->store);

        if (r == 0)
                r = event_record_agent(b, c, type, i->name, i->uid, i->owner_uid, i->template_name, i->reason, detail);
        return savepoint_end(&sp, r);
}

/* io.agentid.StepUp: may this agent use this service now? With a token for
 * login services (checked exactly as VerifyToken does); then the template's
 * rule, tightened by the module's: allow, deny, or a pending request. */
int method_stepup(struct broker *b, struct conn *conn, json_t *params, struct reply *reply) {
        static const char *const known[] = { "agent", "service", "token", "audience", "rule", "command",
                                             "tty",   "rhost",   "timeout", NULL };
        const struct caller *c = conn_caller(conn);
        const char *service, *command, *tty, *rhost, *token = NULL, *rule_s = NULL;
        const struct template *t;
        enum step_rule rule, asked = STEP_ALLOW;
        _cleanup_savepoint_ struct savepoint sp = {};
        struct stepup_request req = {};
        char detail[1600], d[32], expires_at[RFC3339_MAX];
        uint64_t timeout = AGENTID_APPROVAL_TIMEOUT_DEFAULT_USEC / 1000000;
        struct identity i;
        int64_t ruid;
        int r;

        if (params_check_known(params, known, reply) < 0 || param_service(params, &service, reply) < 0 ||
            param_text(params, "command", AGENTID_COMMAND_MAX, &command, reply) < 0 ||
            param_text(params, "tty", AGENTID_TTY_MAX, &tty, reply) < 0 ||
            param_text(params, "rhost", AGENTID_RHOST_MAX, &rhost, reply) < 0)
                return -EPROTO;
        r = json_get_string(params, "rule", &rule_s);
        if (r == 0) {
                if (streq(rule_s, "deny"))
                        asked = STEP_DENY;
                else if (streq(rule_s, "approve"))
                        asked = STEP_APPROVE;
                else if (!streq(rule_s, "allow"))
                        r = -EINVAL;
        }
        if (r == -EINVAL)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "rule must be allow, approve or deny");
        r = json_get_uint(params, "timeout", AGENTID_APPROVAL_TIMEOUT_MAX_USEC / 1000000, &timeout);
        if (r == -EINVAL || r == -ERANGE || timeout == 0)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "timeout must be 1 to %" PRIu64 " seconds",
                                  AGENTID_APPROVAL_TIMEOUT_MAX_USEC / 1000000);
        r = json_get_string(params, "token", &token);
        if (r == -EINVAL)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "token must be a string");
        if (pam_caller(b, c, params, "ask for a step-up", &i, &ruid, reply) < 0)
                return -EPROTO;

        if (token) {
                /* Exactly VerifyToken's checks (and its deny events), without
                 * the reply VerifyToken would build: only whose it is counts. */
                json_t *vp = json_pack("{s:s}", "token", token), *aud = json_object_get(params, "audience");
                struct identity sub;
                if (!vp)
                        return reply_fail(reply, AGENTID_ERROR_INTERNAL, "out of memory");
                if (aud)
                        json_object_set(vp, "audience", aud);
                r = token_verify(b, c, vp, &i, &sub, reply);
                json_decref(vp);
                if (r < 0)
                        return -EPROTO;
                if (!streq(sub.name, i.name)) {
                        snprintf(detail, sizeof(detail), "%s login as %s refused: the token is %s's", service, i.name,
                                 sub.name);
                        broker_record_denial(b, c, i.name, i.template_name, detail);
                        return reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED, "%s", detail);
                }
        }

        t = template_set_find(&b->templates, i.template_name);
        rule = template_rule(t, service);
        if (strictness(asked) > strictness(rule))
                rule = asked;

        if (rule == STEP_DENY) {
                snprintf(detail, sizeof(detail), "%s for %s refused: %s (template %s says %s = deny)%s%.900s", service,
                         i.name, asked == STEP_DENY ? "denied to agents by this host's PAM configuration" : "policy",
                         i.template_name, service_is_stepup(service) ? "sudo" : "ssh", command[0] ? "; command: " : "",
                         command);
                broker_record_denial(b, c, i.name, i.template_name, detail);
                return reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED, "%s", detail);
        }
        /* A login on someone else's behalf needs the agent's proof (a
         * refusal above needs none: nothing is granted). */
        if (!token && !service_is_stepup(service) && ruid != (int64_t) i.uid)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER,
                                  "%s is a login service: the agent's token is required", service);
        if (rule == STEP_ALLOW) {
                /* Step-ups allowed by policy are on record; logins are
                 * recorded when their session opens. */
                if (service_is_stepup(service)) {
                        snprintf(detail, sizeof(detail), "%s allowed by policy (template %s): %.900s", service,
                                 i.template_name, command);
                        r = record_one(b, c, EVENT_STEPUP_OUTCOME, &i, detail);
                        if (r < 0)
                                return reply_fail(reply, AGENTID_ERROR_AUDIT_FAILED,
                                                  "the step-up could not be recorded, so it is refused");
                }
                reply->parameters = json_pack("{s:s, s:s}", "decision", "allow", "agent", i.name);
                return 0;
        }

        /* approve: a pending request that an approver must decide. */
        if (make_request_id(req.id, sizeof(req.id)) < 0)
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "no randomness for a request id");
        snprintf(req.agent, sizeof(req.agent), "%s", i.name);
        req.uid = i.uid;
        req.owner_uid = i.owner_uid;
        snprintf(req.template_name, sizeof(req.template_name), "%s", i.template_name);
        snprintf(req.service, sizeof(req.service), "%s", service);
        snprintf(req.command, sizeof(req.command), "%s", command);
        snprintf(req.tty, sizeof(req.tty), "%s", tty);
        snprintf(req.rhost, sizeof(req.rhost), "%s", rhost);
        snprintf(req.reason, sizeof(req.reason), "%s", i.reason);
        req.caller_pid = c->pid;
        req.created_usec = now_usec();
        req.expires_usec = req.created_usec + timeout * 1000000;
        /* Never past the agent's own end. */
        if (req.expires_usec > i.expires_usec)
                req.expires_usec = i.expires_usec;
        snprintf(detail, sizeof(detail), "request %s: %s by %s, command: %.900s; tty %s, rhost %s; waits %s", req.id,
                 service, i.name, command[0] ? command : "-", tty[0] ? tty : "-", rhost[0] ? rhost : "-",
                 duration_format(req.expires_usec - req.created_usec, d, sizeof(d)));
        r = savepoint_begin(&sp, b->store);
        if (r == 0)
                r = stepup_insert(b, &req);
        if (r == 0)
                r = event_record_agent(b, c, EVENT_STEPUP_REQUEST, i.name, i.uid, i.owner_uid, i.template_name,
                                       i.reason, detail);
        r = savepoint_end(&sp, r);
        if (r < 0)
                return reply_fail(reply, AGENTID_ERROR_AUDIT_FAILED,
                                  "the request could not be recorded, so the step-up is refused: %s", strerror(-r));
        if (stepup_track(b, req.id, conn, req.expires_usec) < 0) {
                (void) stepup_finish(b, c, req.id, STEPUP_EXPIRED, "out of memory");
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "out of memory");
        }
        reply->parameters = json_pack("{s:s, s:s, s:s, s:s, s:I}", "decision", "pending", "id", req.id, "agent", i.name,
                                      "expires_at", rfc3339_format(req.expires_usec, expires_at, sizeof(expires_at)),
                                      "expires_usec", (json_int_t) req.expires_usec);
        return 0;
}

/* Spend an approval: approved -> used, with the outcome event. */
static int use_approval(struct broker *b, const struct caller *c, struct stepup_request *r) {
        _cleanup_savepoint_ struct savepoint sp = {};
        char detail[1600];
        int e = savepoint_begin(&sp, b->store);

        if (e == 0)
                e = stepup_set_state(b, r->id, STEPUP_USED, -1, NULL);
        if (e == 0) {
                snprintf(detail, sizeof(detail), "request %s (%s: %.900s) used: approved by uid %" PRId64, r->id,
                         r->service, r->command, r->decided_by);
                e = event_record_agent(b, c, EVENT_STEPUP_OUTCOME, r->agent, r->uid, r->owner_uid, r->template_name,
                                       r->reason, detail);
        }
        e = savepoint_end(&sp, e);
        if (e == 0)
                r->state = STEPUP_USED;
        return e;
}

/* io.agentid.StepUpWait: only on the connection that made the request. */
int method_stepup_wait(struct broker *b, struct conn *conn, json_t *params, struct reply *reply) {
        static const char *const known[] = { "id", NULL };
        const char *id;
        struct stepup_request r;
        json_t *out;

        if (params_check_known(params, known, reply) < 0)
                return -EPROTO;
        if (json_get_string(params, "id", &id) < 0 || !request_id_is_valid(id))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "id must be a request id");
        if (stepup_waiter(b, id, NULL) != conn || stepup_get(b, id, &r) < 0)
                return reply_fail(reply, AGENTID_ERROR_NO_SUCH_REQUEST,
                                  "no open request %s made on this connection", id);
        if (r.state == STEPUP_PENDING) {
                stepup_set_waiting(b, id, true);
                conn_set_parked(conn, true);
                return 0; /* answered by stepup_notify */
        }
        if (r.state == STEPUP_APPROVED && use_approval(b, conn_caller(conn), &r) < 0)
                return reply_fail(reply, AGENTID_ERROR_AUDIT_FAILED, "the approval could not be recorded as used");
        stepup_untrack(b, id);
        out = json_pack("{s:s, s:s, s:s}", "id", id, "decision",
                        r.state == STEPUP_USED ? "approved" : r.state == STEPUP_DENIED ? "denied" : "expired", "reason",
                        r.decision_reason);
        if (out && r.decided_by >= 0)
                json_object_set_new(out, "decided_by", json_integer(r.decided_by));
        reply->parameters = out;
        return 0;
}

/* ---- approvers ---------------------------------------------------------- */

/* Root, or an approver of the agent's template; never the agent itself nor
 * any live agent: approval is for humans. */
static bool caller_may_decide(struct broker *b, const struct caller *c, const struct stepup_request *r) {
        const struct template *t;

        if (c->uid == 0)
                return true;
        if (c->uid == r->uid || store_uid_is_live(b->store, c->uid) > 0)
                return false;
        t = template_set_find(&b->templates, r->template_name);
        return t && principal_set_matches(&t->approvers, c->uid, c->groups, c->n_groups);
}

static json_t *request_to_json(struct broker *b, const struct stepup_request *r, uint64_t now) {
        char created[RFC3339_MAX], expires[RFC3339_MAX];
        json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}",
                              "id", r->id, "agent", r->agent, "uid", (json_int_t) r->uid, "owner_uid",
                              (json_int_t) r->owner_uid, "template", r->template_name, "service", r->service,
                              "command", r->command, "tty", r->tty, "rhost", r->rhost, "reason", r->reason, "state",
                              stepup_state_to_string(r->state), "created_at",
                              rfc3339_format(r->created_usec, created, sizeof(created)), "expires_at",
                              rfc3339_format(r->expires_usec, expires, sizeof(expires)), "created_usec",
                              (json_int_t) r->created_usec, "expires_usec", (json_int_t) r->expires_usec, "age_usec",
                              (json_int_t) (now > r->created_usec ? now - r->created_usec : 0));
        struct identity i;
        (void) b;
        if (o && store_find(b->store, r->agent, 0, false, &i) == 0) {
                json_t *owner = identity_to_json(&b->owners, &i, now);
                json_object_set(o, "owner", json_object_get(owner, "owner"));
                json_decref(owner);
        }
        return o;
}

struct list_ctx {
        struct broker *b;
        const struct caller *c;
        json_t *out;
        uint64_t now;
};

static int list_one(void *userdata, const struct stepup_request *r) {
        struct list_ctx *ctx = userdata;

        if (r->state != STEPUP_PENDING || r->expires_usec <= ctx->now || !caller_may_decide(ctx->b, ctx->c, r))
                return 0;
        if (json_array_size(ctx->out) >= AGENTID_LIST_PAGE_MAX)
                return 0;
        return json_array_append_new(ctx->out, request_to_json(ctx->b, r, ctx->now)) < 0 ? -ENOMEM : 0;
}

/* io.agentid.StepUpList: the pending requests this caller may decide. */
int method_stepup_list(struct broker *b, const struct caller *c, json_t *params, struct reply *reply) {
        static const char *const known[] = { NULL };
        struct list_ctx ctx = { .b = b, .c = c, .out = json_array(), .now = now_usec() };

        if (params_check_known(params, known, reply) < 0) {
                json_decref(ctx.out);
                return -EPROTO;
        }
        if (!ctx.out || stepup_list_open(b, list_one, &ctx) < 0) {
                json_decref(ctx.out);
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "reading the store failed");
        }
        reply->parameters = json_pack("{s:o}", "requests", ctx.out);
        return 0;
}

/* io.agentid.StepUpDecide {id, decision: approve|deny, reason}. */
int method_stepup_decide(struct broker *b, const struct caller *c, json_t *params, struct reply *reply) {
        static const char *const known[] = { "id", "decision", "reason", NULL };
        _cleanup_savepoint_ struct savepoint sp = {};
        const char *id, *decision, *reason;
        struct stepup_request r;
        char detail[1800], by[64];
        bool approve;
        int e;

        if (params_check_known(params, known, reply) < 0)
                return -EPROTO;
        if (json_get_string(params, "id", &id) < 0 || !request_id_is_valid(id))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "id must be a request id (r...)");
        if (json_get_string(params, "decision", &decision) < 0 || !(streq(decision, "approve") || streq(decision, "deny")))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "decision must be approve or deny");
        if (param_text(params, "reason", AGENTID_REASON_MAX, &reason, reply) < 0)
                return -EPROTO;
        approve = streq(decision, "approve");
        e = stepup_get(b, id, &r);
        if (e == -ENOENT)
                return reply_fail(reply, AGENTID_ERROR_NO_SUCH_REQUEST, "no request %s", id);
        if (e < 0)
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "reading the store failed");
        if (!caller_may_decide(b, c, &r)) {
                snprintf(detail, sizeof(detail), "uid %u may not %s request %s of %s (not an approver of template %s)",
                         (unsigned) c->uid, decision, id, r.agent, r.template_name);
                broker_record_denial(b, c, r.agent, r.template_name, detail);
                return reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED, "%s", detail);
        }
        if (r.state != STEPUP_PENDING || r.expires_usec <= now_usec())
                return reply_fail(reply, AGENTID_ERROR_NO_SUCH_REQUEST, "request %s is %s, not pending", id,
                                  r.expires_usec <= now_usec() && r.state == STEPUP_PENDING
                                          ? "expired"
                                          : stepup_state_to_string(r.state));
        if (!reason[0]) {
                snprintf(by, sizeof(by), "%s by uid %u", approve ? "approved" : "denied", (unsigned) c->uid);
                reason = by;
        }
        snprintf(detail, sizeof(detail), "request %s (%s: %.900s; tty %s, rhost %s) %s by uid %u: %s", id, r.service,
                 r.command, r.tty[0] ? r.tty : "-", r.rhost[0] ? r.rhost : "-", approve ? "approved" : "denied",
                 (unsigned) c->uid, reason);
        e = savepoint_begin(&sp, b->store);
        if (e == 0)
                e = stepup_set_state(b, id, approve ? STEPUP_APPROVED : STEPUP_DENIED, c->uid, reason);
        if (e == 0)
                e = event_record_agent(b, c, approve ? EVENT_STEPUP_APPROVE : EVENT_STEPUP_DENY, r.agent, r.uid,
                                       r.owner_uid, r.template_name, r.reason, detail);
        e = savepoint_end(&sp, e);
        if (e < 0)
                return reply_fail(reply, e == -ESTALE ? AGENTID_ERROR_NO_SUCH_REQUEST : AGENTID_ERROR_AUDIT_FAILED,
                                  "the decision could not be recorded, nothing changed: %s", strerror(-e));
        r.state = approve ? STEPUP_APPROVED : STEPUP_DENIED;
        r.decided_by = c->uid;
        snprintf(r.decision_reason, sizeof(r.decision_reason), "%s", reason);
        /* A waiting sudo gets its answer now; an approval is spent by the
         * one use it answers. */
        {
                bool waiting;
                if (stepup_waiter(b, id, &waiting) && waiting && (!approve || use_approval(b, c, &r) == 0))
                        stepup_notify(b, &r);
        }
        reply->parameters = json_pack("{s:s, s:s, s:s}", "id", id, "decision", approve ? "approved" : "denied",
                                      "agent", r.agent);
        return 0;
}

/* ---- account and sessions ----------------------------------------------- */

/* io.agentid.PamAccount {agent, service}: live, unexpired, and its template
 * lets it use this service at all. */
int method_pam_account(struct broker *b, const struct caller *c, json_t *params, struct reply *reply) {
        static const char *const known[] = { "agent", "service", NULL };
        const struct template *t;
        const char *service;
        char detail[256], expires_at[RFC3339_MAX];
        enum step_rule rule;
        struct identity i;

        if (params_check_known(params, known, reply) < 0 || param_service(params, &service, reply) < 0 ||
            pam_caller(b, c, params, "check an account", &i, NULL, reply) < 0)
                return -EPROTO;
        t = template_set_find(&b->templates, i.template_name);
        rule = template_rule(t, service);
        if (rule == STEP_DENY) {
                snprintf(detail, sizeof(detail), "%s for %s refused: template %s says %s = deny", service, i.name,
                         i.template_name, service_is_stepup(service) ? "sudo" : "ssh");
                broker_record_denial(b, c, i.name, i.template_name, detail);
                return reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED, "%s", detail);
        }
        reply->parameters = json_pack("{s:s, s:I, s:s, s:s, s:I}", "agent", i.name, "uid", (json_int_t) i.uid, "rule",
                                      step_rule_to_string(rule), "expires_at",
                                      rfc3339_format(i.expires_usec, expires_at, sizeof(expires_at)), "expires_usec",
                                      (json_int_t) i.expires_usec);
        return 0;
}

int method_session_open(struct broker *b, const struct caller *c, json_t *params, struct reply *reply) {
        static const char *const known[] = { "agent", "service", "pid", "tty", "rhost", NULL };
        _cleanup_savepoint_ struct savepoint sp = {};
        const struct template *t;
        const char *service, *tty, *rhost;
        char detail[600];
        uint64_t pid = 0;
        struct identity i;
        int64_t id = 0;
        int r;

        if (params_check_known(params, known, reply) < 0 || param_service(params, &service, reply) < 0 ||
            param_text(params, "tty", AGENTID_TTY_MAX, &tty, reply) < 0 ||
            param_text(params, "rhost", AGENTID_RHOST_MAX, &rhost, reply) < 0)
                return -EPROTO;
        r = json_get_uint(params, "pid", INT32_MAX, &pid);
        if (r < 0 && r != -ENOENT)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "pid must be a process id");
        if (r == -ENOENT)
                pid = (uint64_t) c->pid;
        if (pam_caller(b, c, params, "open a session", &i, NULL, reply) < 0)
                return -EPROTO;
        t = template_set_find(&b->templates, i.template_name);
        r = savepoint_begin(&sp, b->store);
        if (r == 0)
                r = pam_session_insert(b, &i, service, (int64_t) pid, tty, rhost, &id);
        if (r == 0) {
                snprintf(detail, sizeof(detail), "session %" PRId64 " opened: %s, pid %" PRIu64 ", tty %s, rhost %s%s",
                         id, service, pid, tty[0] ? tty : "-", rhost[0] ? rhost : "-",
                         t && t->lifetime == LIFETIME_SESSION ? "; the identity ends with it" : "");
                r = event_record_agent(b, c, EVENT_SESSION_OPEN, i.name, i.uid, i.owner_uid, i.template_name, i.reason,
                                       detail);
        }
        r = savepoint_end(&sp, r);
        if (r < 0)
                return reply_fail(reply, AGENTID_ERROR_AUDIT_FAILED, "the session could not be recorded: %s",
                                  strerror(-r));
        reply->parameters = json_pack("{s:I, s:s}", "session", (json_int_t) id, "lifetime",
                                      t && t->lifetime == LIFETIME_SESSION ? "session" : "ttl");
        return 0;
}

int method_session_close(struct broker *b, const struct caller *c, json_t *params, struct reply *reply) {
        static const char *const known[] = { "agent", "session", NULL };
        _cleanup_savepoint_ struct savepoint sp = {};
        const struct template *t;
        char service[AGENTID_SERVICE_MAX + 1], detail[256];
        uint64_t session = 0;
        struct identity i;
        bool revoke;
        int r;

        if (params_check_known(params, known, reply) < 0)
                return -EPROTO;
        if (json_get_uint(params, "session", INT64_MAX, &session) < 0)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "session must be a session id");
        if (pam_caller_full(b, c, params, "close a session", false, &i, NULL, reply) < 0)
                return -EPROTO;
        t = template_set_find(&b->templates, i.template_name);
        revoke = t && t->lifetime == LIFETIME_SESSION && i.state == IDENTITY_LIVE;
        r = savepoint_begin(&sp, b->store);
        if (r == 0)
                r = pam_session_close(b, (int64_t) session, i.name, service, sizeof(service));
        if (r == -ENOENT) {
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "%s has no open session %" PRIu64, i.name,
                                  session);
        }
        if (r == 0) {
                snprintf(detail, sizeof(detail), "session %" PRIu64 " (%s) closed%s", session, service,
                         revoke ? "; the identity lives for one session, so it is revoked" : "");
                r = event_record_agent(b, c, EVENT_SESSION_CLOSE, i.name, i.uid, i.owner_uid, i.template_name, i.reason,
                                       detail);
        }
        /* Close and revoke together: a per-session identity never outlives
         * its session's record. */
        if (r == 0 && revoke) {
                int64_t id = i.id;
                char why[128];
                snprintf(why, sizeof(why), "its %s session ended (lifetime = session)", service);
                r = broker_end_identities(b, c, &id, 1, IDENTITY_REVOKED, why);
                r = r < 0 ? r : 0;
        }
        r = savepoint_end(&sp, r);
        if (r < 0)
                return reply_fail(reply, AGENTID_ERROR_AUDIT_FAILED, "the session end could not be recorded: %s",
                                  strerror(-r));
        reply->parameters = json_pack("{s:b, s:b}", "closed", 1, "revoked", revoke);
        return 0;
}
