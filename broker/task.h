/* SPDX-License-Identifier: MIT */
/* Tasks: a command running as a freshly minted agent (io.agentid.Run),
 * started, confined and ended by the broker's runtime (runtime.h). When
 * the leader exits, the TTL passes, the identity is revoked, or the
 * invoker's connection goes, the identity is revoked, every process of the
 * task is killed, a root-side cleaner removes what the uid left
 * (uid-cleanup.h), and the invoker is told how the task ended. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agentid/identity.h"

struct broker;
struct conn;
struct template;

enum task_end {
        TASK_END_NONE,
        TASK_END_EXITED,       /* the leader exited by itself */
        TASK_END_EXPIRED,      /* the identity's TTL passed */
        TASK_END_REVOKED,      /* someone revoked the identity */
        TASK_END_INVOKER_GONE, /* the invoker's connection closed */
        TASK_END_SHUTDOWN,     /* the broker is stopping */
        TASK_END_FAILED,       /* it could not be started (confinement, exec) */
};

struct task_spec {
        char **argv;  /* NULL-terminated */
        char **envp;  /* NULL-terminated, complete environment */
        const char *cwd; /* NULL: the agent's home */
        int fds[3];   /* stdin, stdout, stderr; owned by the task after start */
        bool no_new_privs;
        const char *socket_dir; /* the broker's socket's directory: stays visible */
};

/* Start spec as identity i (live, just minted from template t). On success
 * the task belongs to conn; its first reply (started, or TaskFailed) is sent
 * when the runtime reports. */
int task_start(struct broker *b, struct conn *conn, const struct identity *i, const struct template *t,
               struct task_spec *spec, char *error, size_t error_size);

/* epoll told us a task's leader or cleaner pidfd is readable. */
void task_on_pidfd(struct broker *b, void *watch);

/* Forward a signal from the invoker to the task's process group. */
int task_signal(struct broker *b, struct conn *conn, int signo);

/* Identities ended (revoked or expired): end the tasks they ran. Called
 * through b->on_identities_ended, which task_start sets. */
void task_reconcile(struct broker *b);

/* The invoker's connection is closing (a conn close hook, registered by
 * task_start and task_attach). */
void task_on_conn_closed(struct broker *b, struct conn *conn, void *userdata);

/* The event loop is up: watch the tasks re-attached at start. */
void task_on_loop_start(struct broker *b);

/* io.agentid.RunAttach: an invoker (its owner, or an admin) reconnected
 * after a broker restart takes the task's connection again. 0 with the
 * first reply in *ret, -ESRCH (no such running task), -EPERM, -EBUSY. */
struct caller;
int task_attach(struct broker *b, struct conn *conn, const char *agent, const struct caller *c, json_t **ret);

/* Does a running task own this identity (its teardown cleans up)? */
bool task_owns_identity(const struct broker *b, int64_t identity_id);

/* At start and periodically: kill processes in the agent uid range that
 * have no live identity, and revoke identities of tasks a previous broker
 * ran (their invoker connection died with it). */
void task_sweep_orphans(struct broker *b, bool at_start);

/* Stop every task (broker shutdown): revoke, kill, clean up; waits only
 * for the kernel to end the namespaces and (bounded) for the cleaners. */
void task_stop_all(struct broker *b);

unsigned task_count(const struct broker *b);
