/* SPDX-License-Identifier: MIT */
/*
 * The agentid wire protocol: varlink-style JSON objects, each terminated by
 * one NUL byte, over a Unix stream socket. See docs/protocol.md.
 *
 *   request: {"method":"io.agentid.Mint","parameters":{...}}
 *   reply:   {"parameters":{...}}
 *   error:   {"error":"io.agentid.PermissionDenied","parameters":{"message":"..."}}
 */
#pragma once

#define AGENTID_SOCKET_PATH_DEFAULT "/run/agentid/agentid.sock"
#define AGENTID_SOCKET_ENV "AGENTID_SOCKET"

/* Largest message (request or reply, NUL excluded) either side accepts.
 * Replies that list many agents are the largest; List pages past this. */
#define AGENTID_MESSAGE_MAX (256 * 1024)
#define AGENTID_REQUEST_MAX (16 * 1024)

#define AGENTID_METHOD_MINT "io.agentid.Mint"
#define AGENTID_METHOD_LIST "io.agentid.List"
#define AGENTID_METHOD_SHOW "io.agentid.Show"
#define AGENTID_METHOD_REVOKE "io.agentid.Revoke"
#define AGENTID_METHOD_STATUS "io.agentid.Status"
#define AGENTID_METHOD_RUN "io.agentid.Run"
#define AGENTID_METHOD_SIGNAL "io.agentid.Signal"
#define AGENTID_METHOD_RUN_ATTACH "io.agentid.RunAttach"
/* Credentials (docs/tokens.md) */
#define AGENTID_METHOD_ISSUE_TOKEN "io.agentid.IssueToken"
#define AGENTID_METHOD_VERIFY_TOKEN "io.agentid.VerifyToken"
#define AGENTID_METHOD_JWKS "io.agentid.Jwks"
#define AGENTID_METHOD_ROTATE_KEYS "io.agentid.RotateKeys"
#define AGENTID_METHOD_ISSUE_GRANT "io.agentid.IssueGrant"
#define AGENTID_METHOD_REDEEM_GRANT "io.agentid.RedeemGrant"
/* The audit trail (methods-audit.c) */
#define AGENTID_METHOD_AUDIT "io.agentid.Audit"
#define AGENTID_METHOD_AUDIT_PRUNE "io.agentid.AuditPrune"

#define AGENTID_ERROR_INVALID_REQUEST "io.agentid.InvalidRequest"
#define AGENTID_ERROR_MESSAGE_TOO_LARGE "io.agentid.MessageTooLarge"
#define AGENTID_ERROR_METHOD_NOT_FOUND "io.agentid.MethodNotFound"
#define AGENTID_ERROR_INVALID_PARAMETER "io.agentid.InvalidParameter"
#define AGENTID_ERROR_PERMISSION_DENIED "io.agentid.PermissionDenied"
#define AGENTID_ERROR_NO_SUCH_AGENT "io.agentid.NoSuchAgent"
#define AGENTID_ERROR_NO_SUCH_TEMPLATE "io.agentid.NoSuchTemplate"
#define AGENTID_ERROR_RANGE_EXHAUSTED "io.agentid.RangeExhausted"
#define AGENTID_ERROR_AUDIT_FAILED "io.agentid.AuditFailed"
#define AGENTID_ERROR_INTERNAL "io.agentid.InternalError"
#define AGENTID_ERROR_TOO_MANY_CONNECTIONS "io.agentid.TooManyConnections"
/* The caller's uid is over its request share (request_rate): this request
 * was not handled; the connection stays open. */
#define AGENTID_ERROR_TOO_MANY_REQUESTS "io.agentid.TooManyRequests"
#define AGENTID_ERROR_TASK_FAILED "io.agentid.TaskFailed"
/* Token and grant verification failures. */
#define AGENTID_ERROR_INVALID_TOKEN "io.agentid.InvalidToken"
#define AGENTID_ERROR_TOKEN_EXPIRED "io.agentid.TokenExpired"
#define AGENTID_ERROR_AUDIENCE_MISMATCH "io.agentid.AudienceMismatch"
#define AGENTID_ERROR_TOKEN_REVOKED "io.agentid.TokenRevoked"
#define AGENTID_ERROR_GRANT_USED "io.agentid.GrantUsed"

/* List returns at most this many identities per call; callers page with
 * the "after" parameter (the last uid seen). */
#define AGENTID_LIST_PAGE_MAX 1000

/* io.agentid.Run bounds. */
#define AGENTID_RUN_ARGV_MAX 256
#define AGENTID_RUN_ENV_MAX 64
#define AGENTID_RUN_ENV_NAME_MAX 128
/* The PATH a task gets unless --env sets one. */
#define AGENTID_RUN_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
