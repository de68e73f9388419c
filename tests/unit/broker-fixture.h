/* SPDX-License-Identifier: MIT */
/* A broker for unit tests of the modules that take one (delegation, keys,
 * step-up, expiry): a real SQLite file with the credential tables in a
 * fresh temporary directory, events to the event table only (no journald),
 * an epoll set for connections made with fixture_conn, no listening
 * socket, no event loop, no NSS cache. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "broker.h"

struct fixture {
        char dir[64];
        char state_dir[96], runtime_dir[96];
        struct broker b;
};

/* Set up f->b; templates, if n_templates > 0, are copied into it. */
int fixture_open(struct fixture *f, const struct template *templates, size_t n_templates);
void fixture_close(struct fixture *f);

/* A live identity ready for fixture_insert (id set by the insert). */
struct identity fixture_identity(const char *name, uint32_t uid, const char *template_name, const char *parent,
                                 uint64_t expires_usec);
/* Insert in its own transaction; 0 or a negative errno. */
int fixture_insert(struct fixture *f, struct identity *i);

/* A client connection (a socketpair: the broker's end is the returned
 * conn, the client's end *peer, which the caller closes). NULL on error. */
struct conn *fixture_conn(struct fixture *f, int *peer);
/* Read one NUL-terminated frame the broker sent to peer (waiting up to a
 * second): its length, or a negative errno (-ETIME: nothing came). */
int fixture_read_frame(int peer, char *buf, size_t size);

/* Events of this type ("mint", "deny", ...) in the event table, for agent
 * (NULL: any). Negative on a database error. */
int fixture_count_events(struct fixture *f, const char *event, const char *agent);
/* The detail of the newest such event, or "" if none. */
void fixture_last_detail(struct fixture *f, const char *event, char *buf, size_t size);
