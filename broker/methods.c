/* SPDX-License-Identifier: MIT */
/* Method dispatch and what the handlers share. */
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agentid/protocol.h"
#include "broker.h"
#include "duration.h"
#include "macro.h"
#include "stepup.h"

int reply_fail(struct reply *r, const char *error, const char *fmt, ...) {
        va_list ap;

        json_decref(r->parameters);
        r->parameters = NULL;
        r->error = error;
        va_start(ap, fmt);
        vsnprintf(r->message, sizeof(r->message), fmt, ap);
        va_end(ap);
        return -1;
}

int params_check_known(json_t *params, const char *const *known, struct reply *reply) {
        const char *key;
        json_t *value;

        json_object_foreach(params, key, value) {
                bool ok = false;
                for (const char *const *k = known; *k; k++)
                        if (streq(*k, key)) {
                                ok = true;
                                break;
                        }
                if (!ok)
                        return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "unknown parameter \"%.64s\"",
                                          key);
        }
        return 0;
}

static json_t *string_or_null(const char *s) {
        return s && *s ? json_string(s) : json_null();
}

/* Owners' names, cached for a few seconds: a List of a thousand agents of
 * one owner must not mean a thousand passwd lookups. */
static const char *owner_name(uid_t uid, char *buf, size_t size) {
        static struct {
                uid_t uid;
                uint64_t at;
                char name[AGENTID_NAME_MAX + 1];
        } cache[8];
        static unsigned next;
        uint64_t now = now_usec();
        struct passwd pw, *res = NULL;
        char pwbuf[1024];

        for (size_t k = 0; k < ELEMENTSOF(cache); k++)
                if (cache[k].at && cache[k].uid == uid && now - cache[k].at < 5000000) {
                        snprintf(buf, size, "%s", cache[k].name);
                        return buf;
                }
        if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res && strlen(res->pw_name) < size)
                snprintf(buf, size, "%s", res->pw_name);
        else
                snprintf(buf, size, "%u", (unsigned) uid);
        cache[next].uid = uid;
        cache[next].at = now;
        snprintf(cache[next].name, sizeof(cache[next].name), "%s", buf);
        next = (next + 1) % ELEMENTSOF(cache);
        return buf;
}

json_t *identity_to_json(const struct identity *i, uint64_t now_usec) {
        char created[RFC3339_MAX], expires[RFC3339_MAX], ended[RFC3339_MAX];
        char uidbuf[AGENTID_NAME_MAX + 1];
        const char *owner;
        json_t *groups = json_array(), *o;
        enum identity_state state = i->state;

        /* A live record past its deadline is reported as what it is: the
         * expiry timer will catch up with the store within a tick. */
        if (state == IDENTITY_LIVE && i->expires_usec <= now_usec)
                state = IDENTITY_EXPIRED;

        owner = owner_name(i->owner_uid, uidbuf, sizeof(uidbuf));
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

static const struct {
        const char *name;
        int (*handler)(struct broker *b, const struct caller *c, json_t *params, struct reply *reply);
} methods[] = {
        { AGENTID_METHOD_MINT, method_mint },     { AGENTID_METHOD_LIST, method_list },
        { AGENTID_METHOD_SHOW, method_show },     { AGENTID_METHOD_REVOKE, method_revoke },
        { AGENTID_METHOD_STATUS, method_status },
        { AGENTID_METHOD_ISSUE_TOKEN, method_issue_token },
        { AGENTID_METHOD_VERIFY_TOKEN, method_verify_token },
        { AGENTID_METHOD_JWKS, method_jwks },
        { AGENTID_METHOD_ROTATE_KEYS, method_rotate_keys },
        { AGENTID_METHOD_ISSUE_GRANT, method_issue_grant },
        { AGENTID_METHOD_REDEEM_GRANT, method_redeem_grant },
        /* pam_agentid and approvers (methods-pam.c) */
        { AGENTID_METHOD_STEP_UP_LIST, method_step_up_list },
        { AGENTID_METHOD_STEP_UP_DECIDE, method_step_up_decide },
        { AGENTID_METHOD_PAM_ACCOUNT, method_pam_account },
        { AGENTID_METHOD_SESSION_OPEN, method_session_open },
        { AGENTID_METHOD_SESSION_CLOSE, method_session_close },
};

void broker_dispatch(struct broker *b, const struct caller *c, const char *method, json_t *parameters,
                     struct reply *reply) {
        for (size_t i = 0; i < ELEMENTSOF(methods); i++)
                if (streq(methods[i].name, method)) {
                        if (methods[i].handler(b, c, parameters, reply) == 0 && !reply->parameters)
                                reply_fail(reply, AGENTID_ERROR_INTERNAL, "out of memory");
                        return;
                }
        reply_fail(reply, AGENTID_ERROR_METHOD_NOT_FOUND, "unknown method %.64s", method);
}
