/* SPDX-License-Identifier: MIT */
/* WAL checkpoints on a thread of their own, with a database connection of
 * their own, so that copying pages into the database file and its fsync
 * never hold up the event loop (a due TTL deadline, a reply). */
#pragma once

#include <stdint.h>

struct checkpointer;

/* Start the thread for the database at path (which must exist). */
int checkpointer_start(const char *path, struct checkpointer **ret);
/* Ask for a PASSIVE checkpoint; returns at once. Requests made while one
 * runs are folded into one more run. */
void checkpointer_request(struct checkpointer *c);
/* How many checkpoints completed (tests wait on it). */
uint64_t checkpointer_completed(struct checkpointer *c);
/* Stop the thread (after the checkpoint in progress, if any) and free. */
void checkpointer_stop(struct checkpointer *c);
