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
