/* SPDX-License-Identifier: MIT */
/* The method table, and calling a method the way its flags say. */
#include "methods.h"

#include <stdio.h>
#include <string.h>

#include "agentid/pam.h"
#include "agentid/protocol.h"
#include "broker.h"
#include "conn.h"
#include "events.h"
#include "macro.h"
#include "names.h"
#include "protocol.h"
#include "reply.h"

static const struct method methods[] = {
        { AGENTID_METHOD_MINT, 0, method_mint, NULL },
        { AGENTID_METHOD_LIST, 0, method_list, NULL },
        { AGENTID_METHOD_SHOW, 0, method_show, NULL },
        { AGENTID_METHOD_REVOKE, 0, method_revoke, NULL },
        { AGENTID_METHOD_STATUS, 0, method_status, NULL },
        { AGENTID_METHOD_RUN, METHOD_CONN | METHOD_KEEPS_CONN | METHOD_TAKES_FDS, NULL, method_run },
        { AGENTID_METHOD_SIGNAL, METHOD_CONN | METHOD_TASK_CONTROL, NULL, method_signal },
        /* After a broker restart (systemd runtime): a running task's
         * invoker takes its connection again. */
        { AGENTID_METHOD_RUN_ATTACH, METHOD_CONN | METHOD_KEEPS_CONN, NULL, method_run_attach },
        { AGENTID_METHOD_ISSUE_TOKEN, 0, method_issue_token, NULL },
        { AGENTID_METHOD_VERIFY_TOKEN, 0, method_verify_token, NULL },
        { AGENTID_METHOD_JWKS, 0, method_jwks, NULL },
        { AGENTID_METHOD_ROTATE_KEYS, 0, method_rotate_keys, NULL },
        { AGENTID_METHOD_ISSUE_GRANT, 0, method_issue_grant, NULL },
        { AGENTID_METHOD_REDEEM_GRANT, 0, method_redeem_grant, NULL },
        /* The audit trail (methods-audit.c, docs/audit.md). */
        { AGENTID_METHOD_AUDIT, 0, method_audit, NULL },
        { AGENTID_METHOD_AUDIT_PRUNE, 0, method_audit_prune, NULL },
        /* pam_agentid (root only) and approvers (methods-pam.c). StepUp
         * registers its connection as the requester's; StepUpWait parks
         * it until a decision. */
        { AGENTID_METHOD_STEP_UP, METHOD_ROOT_ONLY | METHOD_CONN, NULL, method_stepup },
        { AGENTID_METHOD_STEP_UP_WAIT, METHOD_ROOT_ONLY | METHOD_CONN | METHOD_KEEPS_CONN, NULL,
          method_stepup_wait },
        { AGENTID_METHOD_STEP_UP_LIST, 0, method_stepup_list, NULL },
        { AGENTID_METHOD_STEP_UP_DECIDE, 0, method_stepup_decide, NULL },
        { AGENTID_METHOD_PAM_ACCOUNT, METHOD_ROOT_ONLY, method_pam_account, NULL },
        { AGENTID_METHOD_SESSION_OPEN, METHOD_ROOT_ONLY, method_session_open, NULL },
        { AGENTID_METHOD_SESSION_CLOSE, METHOD_ROOT_ONLY, method_session_close, NULL },
};

const struct method *method_lookup(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(methods); i++)
                if (streq(methods[i].name, name))
                        return &methods[i];
        return NULL;
}

/* Only root may say anything about an agent through pam_agentid's
 * methods; a refusal names the agent asked about, when it is a name. */
static int refuse_not_root(struct broker *b, const struct method *m, const struct caller *c, json_t *params,
                           struct reply *reply) {
        const char *agent = NULL;
        char detail[256];

        if (json_get_string(params, "agent", &agent) < 0 || !agent_name_is_valid(agent))
                agent = NULL;
        snprintf(detail, sizeof(detail), "uid %u may not call %s (only root: pam_agentid in sudo, sshd, login)",
                 (unsigned) c->uid, m->name);
        broker_record_denial(b, c, agent, NULL, detail);
        return reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED, "%s", detail);
}

int method_call(struct broker *b, const struct method *m, struct conn *conn, json_t *params, struct reply *reply) {
        const struct caller *c = conn_caller(conn);
        int r;

        if (!(m->flags & METHOD_TAKES_FDS))
                conn_drop_fds(conn);
        /* Refusals are counted or recorded by who asked what (events.c). */
        conn_set_method(conn, m->name);
        if ((m->flags & METHOD_ROOT_ONLY) && c->uid != 0)
                r = refuse_not_root(b, m, c, params, reply);
        else if (m->flags & METHOD_CONN)
                r = m->conn_handler(b, conn, params, reply);
        else
                r = m->handler(b, c, params, reply);
        conn_set_method(conn, NULL);
        conn_drop_fds(conn);
        if (r == 0 && !reply->parameters && !reply->error) {
                if (m->flags & (METHOD_KEEPS_CONN | METHOD_TASK_CONTROL))
                        return 1; /* answered later, or never */
                reply_fail(reply, AGENTID_ERROR_INTERNAL, "out of memory");
        }
        return 0;
}
