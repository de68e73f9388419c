/* SPDX-License-Identifier: MIT */
/* The exec trail: every program an agent's processes execute, observed by
 * the broker through the kernel's process-events connector (netlink,
 * PROC_EVENT_FORK/UID/EXEC/EXIT; needs CAP_NET_ADMIN), never through the
 * agent's cooperation. Each exec becomes an "exec" event (time, pid,
 * parent, executable, cwd, argv cut to EXEC_TRAIL_ARGV_MAX bytes) in the
 * agent's trail and journald; past exec_trail_max per agent they are only
 * counted, and one "exec-bound" event sums them up. Processes gone before
 * their details were read are recorded as such. The socket is nonblocking
 * in the broker's epoll set: the loop never waits on it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct broker;
struct exec_trail;

/* Bytes of argv recorded per exec (joined, quoted); longer is cut and
 * marked "...". */
#define EXEC_TRAIL_ARGV_MAX 1024
/* Bytes of cwd and executable path recorded. */
#define EXEC_TRAIL_PATH_MAX 256

/* Subscribe and add the socket to the epoll set (b->epoll_fd must exist).
 * 0 also when the kernel refuses (no CAP_NET_ADMIN, no connector): the
 * trail is then off, said once in the log and in Status. */
int exec_trail_open(struct broker *b);
/* Drain the socket: called when epoll says it is readable. */
void exec_trail_on_event(struct broker *b);
/* Housekeeping tick: summaries for agents over their bound (when they
 * end, or every few minutes while they run), kernel overruns. */
void exec_trail_housekeeping(struct broker *b);
/* Shutdown: write every pending summary, then close. */
void exec_trail_close(struct broker *b);
bool exec_trail_active(const struct broker *b);
