/* SPDX-License-Identifier: MIT */
/* The method table (methods.c): every io.agentid.* method the broker
 * answers, with its handler and what the event loop must know about it.
 * server.c looks a method up here and follows its flags; it never names a
 * method. Adding a method: HACKING.md, "A method". */
#pragma once

#include <jansson.h>
#include <stdbool.h>

struct broker;
struct caller;
struct conn;
struct identity;
struct reply;

enum method_flags {
        /* Only root may call it (pam_agentid runs in sudo, sshd, login,
         * all with euid 0); anyone else is refused with a deny event. */
        METHOD_ROOT_ONLY = 1 << 0,
        /* The handler gets the connection (conn_handler): it may register
         * close hooks on it and keep it past this request. */
        METHOD_CONN = 1 << 1,
        /* It may answer later: returning 0 with no reply set means the
         * connection is kept (a started task, a parked step-up wait) and
         * answered with conn_send_reply. */
        METHOD_KEEPS_CONN = 1 << 2,
        /* It receives the descriptors sent with the request (SCM_RIGHTS);
         * for any other method they are closed unread. */
        METHOD_TAKES_FDS = 1 << 3,
        /* One-way control of a running task: accepted only on a connection
         * that runs one, never answered (unknown anywhere else). */
        METHOD_TASK_CONTROL = 1 << 4,
};

/* Return 0 with reply->parameters set, or a negative value with
 * reply->error set (reply_fail). */
typedef int method_fn(struct broker *b, const struct caller *c, json_t *params, struct reply *reply);
typedef int method_conn_fn(struct broker *b, struct conn *conn, json_t *params, struct reply *reply);

struct method {
        const char *name;
        unsigned flags;
        method_fn *handler;           /* without METHOD_CONN */
        method_conn_fn *conn_handler; /* with METHOD_CONN */
};

/* NULL for an unknown method. */
const struct method *method_lookup(const char *name);

/* Call m for the request read on conn. 0: reply is set (parameters or
 * error); 1: the method kept the connection and answers later (or, for
 * METHOD_TASK_CONTROL, never). */
int method_call(struct broker *b, const struct method *m, struct conn *conn, json_t *params, struct reply *reply);

/* The handlers, by file. */
/* methods-mint.c */
method_fn method_mint;
/* methods-query.c */
method_fn method_list, method_show, method_status;
/* methods-revoke.c */
method_fn method_revoke;
/* methods-run.c */
method_conn_fn method_run, method_signal, method_run_attach;
/* methods-token.c (docs/tokens.md) */
method_fn method_issue_token, method_verify_token, method_jwks, method_rotate_keys, method_issue_grant,
        method_redeem_grant;
/* VerifyToken's checks (and deny events) on params {token, audience}, for
 * StepUp: no reply built on success (*ret_i is the token's agent), and
 * known, when the token turns out to be its, is not looked up again. */
int token_verify(struct broker *b, const struct caller *c, json_t *params, const struct identity *known,
                 struct identity *ret_i, struct reply *reply);
/* methods-audit.c (docs/audit.md) */
method_fn method_audit, method_audit_prune;
/* methods-pam.c (docs/pam.md) */
method_conn_fn method_stepup, method_stepup_wait;
method_fn method_stepup_list, method_stepup_decide, method_pam_account, method_session_open, method_session_close;
