/* SPDX-License-Identifier: MIT */
/* Audit event types and their journald MESSAGE_IDs. The catalog in
 * systemd/agentid.catalog explains each id; keep the two in step. */
#pragma once

enum event_type {
        EVENT_MINT,
        EVENT_DENY,
        EVENT_REVOKE,
        EVENT_EXPIRE,
        EVENT_START,
        EVENT_STOP,
        EVENT_RUN,  /* a task started as an agent (agentctl run / io.agentid.Run) */
        EVENT_KILL, /* processes of an agent uid killed (task end, orphan sweep) */
        EVENT_TOKEN,  /* a signed token issued to an agent (io.agentid.IssueToken) */
        EVENT_GRANT,  /* a one-time grant issued (io.agentid.IssueGrant) */
        EVENT_REDEEM, /* a one-time grant used, and so burned (io.agentid.RedeemGrant) */
        EVENT_ROTATE, /* a signing key created or rotated */
        /* pam_agentid (issue 5, docs/pam.md) */
        EVENT_STEPUP_REQUEST, /* a step-up held for approval (request created) */
        EVENT_STEPUP_APPROVE, /* an approver approved it */
        EVENT_STEPUP_DENY,    /* an approver denied it */
        EVENT_STEPUP_OUTCOME, /* allowed by policy, approval used, expired, abandoned */
        EVENT_SESSION_OPEN,   /* a PAM session of an agent opened */
        EVENT_SESSION_CLOSE,  /* ... and closed */
        /* The audit trail itself (issue 14, docs/architecture.md) */
        EVENT_EXEC,       /* a program an agent's process executed (exec-trail.c) */
        EVENT_EXEC_BOUND, /* execs over the agent's bound, counted, or lost, in one summary */
        EVENT_PRUNE,      /* old events archived and cut off at a signed checkpoint */
        EVENT_AUDIT_KEY,  /* the audit key that signs checkpoints was created */
        _EVENT_TYPE_MAX,
};

#define AGENTID_MESSAGE_ID_MINT "6b1f3b0f2a6d4c3e9d1a52c7e1f0a901"
#define AGENTID_MESSAGE_ID_DENY "6b1f3b0f2a6d4c3e9d1a52c7e1f0a902"
#define AGENTID_MESSAGE_ID_REVOKE "6b1f3b0f2a6d4c3e9d1a52c7e1f0a903"
#define AGENTID_MESSAGE_ID_EXPIRE "6b1f3b0f2a6d4c3e9d1a52c7e1f0a904"
#define AGENTID_MESSAGE_ID_START "6b1f3b0f2a6d4c3e9d1a52c7e1f0a905"
#define AGENTID_MESSAGE_ID_STOP "6b1f3b0f2a6d4c3e9d1a52c7e1f0a906"
#define AGENTID_MESSAGE_ID_RUN "6b1f3b0f2a6d4c3e9d1a52c7e1f0a907"
#define AGENTID_MESSAGE_ID_KILL "6b1f3b0f2a6d4c3e9d1a52c7e1f0a908"
#define AGENTID_MESSAGE_ID_TOKEN "6b1f3b0f2a6d4c3e9d1a52c7e1f0a909"
#define AGENTID_MESSAGE_ID_GRANT "6b1f3b0f2a6d4c3e9d1a52c7e1f0a90a"
#define AGENTID_MESSAGE_ID_REDEEM "6b1f3b0f2a6d4c3e9d1a52c7e1f0a90b"
#define AGENTID_MESSAGE_ID_ROTATE "6b1f3b0f2a6d4c3e9d1a52c7e1f0a90c"
#define AGENTID_MESSAGE_ID_STEPUP_REQUEST "6b1f3b0f2a6d4c3e9d1a52c7e1f0a950"
#define AGENTID_MESSAGE_ID_STEPUP_APPROVE "6b1f3b0f2a6d4c3e9d1a52c7e1f0a951"
#define AGENTID_MESSAGE_ID_STEPUP_DENY "6b1f3b0f2a6d4c3e9d1a52c7e1f0a952"
#define AGENTID_MESSAGE_ID_STEPUP_OUTCOME "6b1f3b0f2a6d4c3e9d1a52c7e1f0a953"
#define AGENTID_MESSAGE_ID_SESSION_OPEN "6b1f3b0f2a6d4c3e9d1a52c7e1f0a954"
#define AGENTID_MESSAGE_ID_SESSION_CLOSE "6b1f3b0f2a6d4c3e9d1a52c7e1f0a955"
#define AGENTID_MESSAGE_ID_EXEC "6b1f3b0f2a6d4c3e9d1a52c7e1f0a960"
#define AGENTID_MESSAGE_ID_EXEC_BOUND "6b1f3b0f2a6d4c3e9d1a52c7e1f0a961"
#define AGENTID_MESSAGE_ID_PRUNE "6b1f3b0f2a6d4c3e9d1a52c7e1f0a962"
#define AGENTID_MESSAGE_ID_AUDIT_KEY "6b1f3b0f2a6d4c3e9d1a52c7e1f0a963"
