/* SPDX-License-Identifier: MIT */
/* PAM sessions of agents (SessionOpen, SessionClose): their rows, in
 * pam_sessions (schema step 3 in store.c). See docs/pam.md. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "agentid/identity.h"

struct broker;

/* Inside the caller's transaction. */
int pam_session_insert(struct broker *b, const struct identity *i, const char *service, int64_t pid, const char *tty,
                       const char *rhost, int64_t *ret_id);
/* Close an open session of agent; -ENOENT if there is none by that id. */
int pam_session_close(struct broker *b, int64_t id, const char *agent, char *service, size_t service_size);
