/* SPDX-License-Identifier: MIT */
/*
 * Limits shared by the broker, the modules and agentctl. Every bound that a
 * hostile caller could try to push against is defined here, once.
 */
#pragma once

#include <stdint.h>

/* Agent account names: valid POSIX user names, at most 32 bytes like
 * useradd(8) on Debian, so that utmp/wtmp and ps(1) keep them whole. */
#define AGENTID_NAME_MAX 32
/* ag-<template>-<random>: prefix + template + '-' + random must fit. */
#define AGENTID_PREFIX_MAX 8
#define AGENTID_TEMPLATE_NAME_MAX 16
#define AGENTID_RANDOM_SUFFIX_LEN 6

#define AGENTID_REASON_MAX 256
#define AGENTID_ON_BEHALF_OF_MAX 64
#define AGENTID_DESCRIPTION_MAX 256
#define AGENTID_PATH_MAX 256
#define AGENTID_TEMPLATE_GROUPS_MAX 32
#define AGENTID_TEMPLATE_PRINCIPALS_MAX 64
#define AGENTID_SCOPES_MAX 32
#define AGENTID_SCOPE_LEN_MAX 64

/* Default agent UID/GID range: the start of the block systemd's UIDS-GIDS.md
 * leaves unassigned above the container range (1879048192..2147352575), the
 * only unassigned area with room for millions of live agents. We take the
 * whole block by default; operators may narrow it in agentid.conf. */
#define AGENTID_UID_MIN_DEFAULT UINT32_C(1879048192)
#define AGENTID_UID_MAX_DEFAULT UINT32_C(2147352575)

/* TTL bounds accepted anywhere (templates may narrow them). */
#define AGENTID_TTL_MIN_USEC (UINT64_C(1) * 1000000)
#define AGENTID_TTL_MAX_USEC (UINT64_C(7) * 24 * 3600 * 1000000)

/* Broker connection limits (defaults; agentid.conf may lower them). */
#define AGENTID_MAX_CONNECTIONS_DEFAULT 256
#define AGENTID_IDLE_TIMEOUT_USEC_DEFAULT (UINT64_C(30) * 1000000)
/* Fair shares (issue 13, agentid.conf(5)): of max_connections, one in
 * RESERVED_CONNECTIONS_DIVISOR (by default) only root and admins may take;
 * any other uid holds at most MAX_CONNECTIONS_PER_UID and sends
 * REQUEST_RATE requests a second (bursts of REQUEST_BURST). */
#define AGENTID_RESERVED_CONNECTIONS_DIVISOR 8
#define AGENTID_MAX_CONNECTIONS_PER_UID_DEFAULT 32
#define AGENTID_REQUEST_RATE_DEFAULT 200
#define AGENTID_REQUEST_BURST_DEFAULT 400
/* Unprivileged refusals are counted this long, then recorded as one event
 * per uid and method (broker/refusals.h). */
#define AGENTID_REFUSAL_WINDOW_USEC_DEFAULT (UINT64_C(10) * 1000000)
/* A client that does not read its replies is dropped past this. */
#define AGENTID_OUTPUT_BUFFER_MAX (UINT32_C(16) * 1024 * 1024)
