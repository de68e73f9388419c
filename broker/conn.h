/* SPDX-License-Identifier: MIT */
/* Client connections: nonblocking, bounded buffers, the caller's kernel
 * credentials, descriptors passed with a request, and close hooks. The
 * bottom of the broker: it calls nothing above it; whoever keeps state per
 * connection (a task, a step-up waiter) registers a close hook. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct broker;
struct caller;
struct conn;

/* Called once when the connection closes, before it is freed. */
typedef void conn_close_fn(struct broker *b, struct conn *c, void *userdata);

/* Accept fd (a connected client, credentials cred_*) into b's set, if
 * its uid's share allows (shares.h): -EBUSY with the reason (one line)
 * in why otherwise. */
int conn_new(struct broker *b, int fd, uid_t uid, gid_t gid, pid_t pid, char *why, size_t why_size);
void conn_close(struct broker *b, struct conn *c);
/* Free connections closed during this epoll batch (a later event of the
 * batch may still have pointed at them). */
void conn_bury_closed(struct broker *b);

/* Read what is there; each complete frame goes to on_message. <0 when the
 * connection must be dropped. */
int conn_read(struct broker *b, struct conn *c,
              void (*on_message)(struct broker *b, struct conn *c, const char *msg, size_t len));
/* On the housekeeping tick: connections held back for being over their
 * uid's request share handle what they have read and read again. */
void conn_resume_throttled(struct broker *b,
                           void (*on_message)(struct broker *b, struct conn *c, const char *msg, size_t len));
/* Queue an error frame, if it fits. */
void conn_queue_error(struct conn *c, const char *error, const char *message);
/* Queue a formatted frame (a reply to the current request). */
void conn_queue_frame(struct conn *c, char *frame, size_t len);
/* Replies and EPOLLOUT progress go out after the turn's commit. */
void conn_mark_pending(struct broker *b, struct conn *c);
void conn_flush_pending(struct broker *b);
/* Close connections without a complete request for idle_ms that neither
 * run a task nor wait. */
void conn_close_idle(struct broker *b, uint64_t idle_ms);

const struct caller *conn_caller(struct conn *c);
/* The method of the request being handled (method_call), NULL after. */
void conn_set_method(struct conn *c, const char *method);
/* Descriptors received with the current request (SCM_RIGHTS, at most 3). */
size_t conn_fds(struct conn *c, const int **ret);
void conn_drop_fds(struct conn *c);
bool conn_is_dead(const struct conn *c);

/* The connection is the control channel of a running task (task.c): only
 * METHOD_TASK_CONTROL requests, never closed for idleness. */
void conn_set_task(struct conn *c, bool runs_task);
bool conn_runs_task(const struct conn *c);
/* A connection parked until a step-up is decided (stepup.c): not closed
 * for idleness, reads nothing more meanwhile. */
void conn_set_parked(struct conn *c, bool parked);
bool conn_is_parked(const struct conn *c);

/* Call fn(b, c, userdata) when c closes. Registering the same pair twice
 * registers it once. 0, or -ENOSPC. */
int conn_add_close_hook(struct conn *c, conn_close_fn *fn, void *userdata);

/* Queue a reply (parameters, or error + message) and try to send it:
 * during a turn, after its commit. */
void conn_send_reply(struct broker *b, struct conn *c, json_t *parameters, const char *error, const char *message);
