/* SPDX-License-Identifier: MIT */
/*
 * pam_agentid and the broker's PAM methods: method and error names, bounds.
 * See docs/pam.md and the "PAM" section of docs/protocol.md.
 */
#pragma once

/* Step-up (sudo and friends) and login rules, asked for by the module. */
#define AGENTID_METHOD_STEP_UP "io.agentid.StepUp"
/* Park on the connection that made a pending request until it is decided. */
#define AGENTID_METHOD_STEP_UP_WAIT "io.agentid.StepUpWait"
/* Approvers: list pending requests, approve or deny one. */
#define AGENTID_METHOD_STEP_UP_LIST "io.agentid.StepUpList"
#define AGENTID_METHOD_STEP_UP_DECIDE "io.agentid.StepUpDecide"
/* account and session management groups. */
#define AGENTID_METHOD_PAM_ACCOUNT "io.agentid.PamAccount"
#define AGENTID_METHOD_SESSION_OPEN "io.agentid.SessionOpen"
#define AGENTID_METHOD_SESSION_CLOSE "io.agentid.SessionClose"

#define AGENTID_ERROR_NO_SUCH_REQUEST "io.agentid.NoSuchRequest"

/* Request ids: "r" and 11 characters of [a-z0-9]. */
#define AGENTID_REQUEST_ID_LEN 12
/* The command line recorded with a request (longer ones are cut, marked
 * with "..."), PAM service names, tty and remote host. */
#define AGENTID_COMMAND_MAX 1024
#define AGENTID_SERVICE_MAX 64
#define AGENTID_TTY_MAX 128
#define AGENTID_RHOST_MAX 256
/* How long a pending request may wait for a decision, at most. */
#define AGENTID_APPROVAL_TIMEOUT_MAX_USEC (UINT64_C(3600) * 1000000)
#define AGENTID_APPROVAL_TIMEOUT_DEFAULT_USEC (UINT64_C(60) * 1000000)
