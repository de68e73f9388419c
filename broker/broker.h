/* SPDX-License-Identifier: MIT */
/* The broker's state, shared by the event loop and the method handlers. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "allocator.h"
#include "audit.h"
#include "config.h"
#include "expiry.h"
#include "keys.h"
#include "nss-cache.h"
#include "store-creds.h"
#include "store.h"
#include "template.h"

/* Who is calling, as the kernel says (SO_PEERCRED, SO_PEERGROUPS): never
 * what the caller claims. */
struct caller {
        uid_t uid;
        gid_t gid;
        pid_t pid;
        gid_t *groups; /* primary gid first, then supplementary */
        size_t n_groups;
};

struct conn;

/* What an epoll event's data pointer points at: the first member of every
 * watched object. */
enum watch_kind { WATCH_LISTEN, WATCH_SIGNAL, WATCH_EXPIRY, WATCH_TICK, WATCH_CONN, WATCH_TASK };
struct watch {
        enum watch_kind kind;
};

struct broker {
        struct config config;
        const char *config_path, *state_dir, *runtime_dir;
        char socket_path[108];
        struct store *store;
        struct template_set templates;
        struct allocator allocator;
        struct expiry expiry;
        struct audit audit;

        int epoll_fd, listen_fd, signal_fd, tick_fd;
        bool socket_activated, quit;
        struct conn *conns;
        unsigned n_conns;
        uint64_t started_usec;
        struct keyring keys;        /* token signing keys (keys.c) */
        struct creds_store *creds;  /* token, grant and key tables (store-creds.c) */
        /* The live set as the NSS module reads it (nss-cache.c); NULL when
         * not set up (unit tests). */
        struct nss_cache *nss_cache;
        uint64_t live_count; /* for Status and sd_notify STATUS= */
        uint64_t watchdog_usec; /* systemd's WatchdogSec, 0 when off */
        bool checkpoint_due;    /* WAL checkpoint wanted after this turn */
};

/* A method's answer: parameters on success, or an error name and message. */
struct reply {
        json_t *parameters;
        const char *error;
        char message[512];
};

int reply_fail(struct reply *r, const char *error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Dispatch one decoded request. */
void broker_dispatch(struct broker *b, const struct caller *c, const char *method, json_t *parameters,
                     struct reply *reply);

/* Method handlers (methods-*.c). Return 0 with reply->parameters set, or
 * a negative value with reply->error set. */
int method_mint(struct broker *b, const struct caller *c, json_t *params, struct reply *reply);
int method_list(struct broker *b, const struct caller *c, json_t *params, struct reply *reply);
int method_show(struct broker *b, const struct caller *c, json_t *params, struct reply *reply);
int method_revoke(struct broker *b, const struct caller *c, json_t *params, struct reply *reply);
int method_status(struct broker *b, const struct caller *c, json_t *params, struct reply *reply);
/* Credentials (methods-token.c, docs/tokens.md). */
int method_issue_token(struct broker *b, const struct caller *c, json_t *params, struct reply *reply);
int method_verify_token(struct broker *b, const struct caller *c, json_t *params, struct reply *reply);
int method_jwks(struct broker *b, const struct caller *c, json_t *params, struct reply *reply);
int method_rotate_keys(struct broker *b, const struct caller *c, json_t *params, struct reply *reply);
int method_issue_grant(struct broker *b, const struct caller *c, json_t *params, struct reply *reply);
int method_redeem_grant(struct broker *b, const struct caller *c, json_t *params, struct reply *reply);

/* Delegation (delegation.c). The live agent whose uid the caller runs
 * as: 0, or -ENOENT when the caller is no live agent. */
int broker_caller_agent(struct broker *b, const struct caller *c, struct identity *ret);
/* A live agent minting with template t: refuse (with a deny event) unless
 * the child is no broader than parent and within its depth and count
 * limits. Lowers *ttl to the parent's remaining life when not given. */
int delegation_check_mint(struct broker *b, const struct caller *c, const struct identity *parent,
                          const struct template *t, uint64_t *ttl, bool ttl_given, struct reply *reply);
/* Who i acts for, nearest first: the agent or user that minted it, theirs,
 * ..., and the on_behalf_of of the top one. A JSON array of objects with
 * "sub" (and "uid", "kind"). */
json_t *delegation_chain(struct broker *b, const struct identity *i);
/* The chain as nested RFC 8693 "act" claims, current actor outermost. */
json_t *delegation_act(json_t *chain);
/* Append the live children of the identity named parent to *ids (the
 * cascade of broker_end_identities). */
int delegation_add_children(struct broker *b, const char *parent, int64_t **ids, size_t *n, size_t *cap);

/* Run and Signal own their connection (methods-run.c). Run takes the
 * received descriptors (fds, *n_fds) and returns 0 once the task started
 * and its first reply is queued. */
int method_run(struct broker *b, struct conn *conn, json_t *params, int *fds, size_t *n_fds, struct reply *reply);
void method_signal(struct broker *b, struct conn *conn, json_t *params);

/* Refuse parameters a method does not know (a typo must not pass as a
 * default). */
int params_check_known(json_t *params, const char *const *known, struct reply *reply);

/* The JSON form of an identity (docs/protocol.md, "Identity object"). */
json_t *identity_to_json(const struct identity *i, uint64_t now_usec);

/* Policy (policy.c). */
bool caller_is_admin(const struct broker *b, const struct caller *c);
bool caller_may_mint(const struct template *t, const struct caller *c);
bool caller_may_manage(const struct broker *b, const struct caller *c, const struct identity *i);

/* An event about identity i (NULL: none) asked for by c (NULL: the
 * broker itself), stamped now. */
struct event event_for(enum event_type type, const struct identity *i, const struct caller *c, const char *detail);

/* Record one event in a transaction of its own (a savepoint inside the
 * turn's). 0, or a negative errno and nothing recorded. */
int broker_record_event(struct broker *b, const struct event *e);

/* Record a denial (its own transaction; a refusal stands even if the
 * record fails). */
void broker_record_denial(struct broker *b, const struct caller *c, const char *agent, const char *template_name,
                          const char *detail);

/* End identities (revoke or expire) in one transaction with their events.
 * All or nothing. */
int broker_end_identities(struct broker *b, const struct caller *c, const int64_t *ids, size_t n,
                          enum identity_state state, const char *reason);

/* Event loop (server.c). */
int server_run(struct broker *b);

/* Connections (server.c), for methods that outlive one reply (Run). */
const struct caller *conn_caller(struct conn *c);
struct task;
void conn_set_task(struct conn *c, struct task *t);
/* A connection parked until a step-up is decided (stepup.c): not closed
 * for idleness, reads nothing more meanwhile. */
void conn_set_parked(struct conn *c, bool parked);
/* Queue a reply (parameters, or error + message) and try to send it. */
void conn_send_reply(struct broker *b, struct conn *c, json_t *parameters, const char *error, const char *message);

/* Lifecycle (lifecycle.c). */
int broker_expire_due(struct broker *b);
int broker_load_live(struct broker *b);

/* Where template load problems go (agentidd.c): the log, as warnings. */
void broker_report_template_problem(const char *message);
