/* SPDX-License-Identifier: MIT */
#include "broker-fixture.h"

#include <errno.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conn.h"
#include "duration.h"

int fixture_open(struct fixture *f, const struct template *templates, size_t n_templates) {
        char db[160];
        int r;

        memset(f, 0, sizeof(*f));
        snprintf(f->dir, sizeof(f->dir), "/tmp/agentid-unit.XXXXXX");
        if (!mkdtemp(f->dir))
                return -errno;
        snprintf(f->state_dir, sizeof(f->state_dir), "%s/state", f->dir);
        snprintf(f->runtime_dir, sizeof(f->runtime_dir), "%s/run", f->dir);
        if (mkdir(f->state_dir, 0700) < 0 || mkdir(f->runtime_dir, 0755) < 0)
                return -errno;
        snprintf(db, sizeof(db), "%s/agentid.db", f->state_dir);

        config_init(&f->b.config, "/nonexistent/agentid.conf");
        f->b.config.journal = JOURNAL_OFF;
        f->b.state_dir = f->state_dir;
        f->b.runtime_dir = f->runtime_dir;
        f->b.listen_fd = f->b.signal_fd = f->b.tick_fd = -1;
        f->b.expiry.timer_fd = -1;
        f->b.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (f->b.epoll_fd < 0)
                return -errno;
        r = store_open(db, &f->b.store);
        if (r < 0)
                return r;
        r = creds_store_open(f->b.store, &f->b.creds);
        if (r < 0)
                return r;
        audit_init(&f->b.audit, f->b.store, JOURNAL_OFF);
        refusals_init(&f->b.refusals, f->b.config.refusal_window_usec);
        shares_init(&f->b.shares, f->b.config.max_connections, f->b.config.reserved_connections,
                    f->b.config.max_connections_per_uid, f->b.config.request_rate, f->b.config.request_burst);
        if (n_templates > 0) {
                f->b.templates.items = calloc(n_templates, sizeof(struct template));
                if (!f->b.templates.items)
                        return -ENOMEM;
                memcpy(f->b.templates.items, templates, n_templates * sizeof(struct template));
                f->b.templates.n = n_templates;
        }
        return 0;
}

void fixture_close(struct fixture *f) {
        char cmd[128];

        /* Close hooks run now, while the store is still open. */
        while (f->b.conns)
                conn_close(&f->b, f->b.conns);
        conn_bury_closed(&f->b);
        shares_free(&f->b.shares);
        refusals_free(&f->b.refusals);
        if (f->b.epoll_fd >= 0)
                close(f->b.epoll_fd);
        keyring_close(&f->b.keys);
        template_set_free(&f->b.templates);
        creds_store_close(f->b.creds);
        if (f->b.store)
                store_close(f->b.store);
        if (f->dir[0]) {
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
                (void) !system(cmd);
        }
        memset(f, 0, sizeof(*f));
}

struct identity fixture_identity(const char *name, uint32_t uid, const char *template_name, const char *parent,
                                 uint64_t expires_usec) {
        struct identity i = { .uid = uid, .gid = uid, .owner_uid = 0, .invoker_pid = 1,
                              .created_usec = now_usec(), .expires_usec = expires_usec };

        snprintf(i.name, sizeof(i.name), "%s", name);
        snprintf(i.template_name, sizeof(i.template_name), "%s", template_name);
        snprintf(i.parent, sizeof(i.parent), "%s", parent ? parent : "");
        snprintf(i.home, sizeof(i.home), "/nonexistent/%s", name);
        snprintf(i.shell, sizeof(i.shell), "/bin/sh");
        return i;
}

int fixture_insert(struct fixture *f, struct identity *i) {
        int r = store_begin(f->b.store);

        if (r < 0)
                return r;
        r = store_insert_identity(f->b.store, i);
        if (r == 0)
                r = store_commit(f->b.store);
        if (r < 0)
                store_rollback(f->b.store);
        return r;
}

int fixture_count_events(struct fixture *f, const char *event, const char *agent) {
        sqlite3_stmt *st;
        int n = -EIO;

        if (sqlite3_prepare_v2(store_sqlite(f->b.store),
                               "SELECT count(*) FROM events WHERE event = ?1 AND (?2 IS NULL OR agent = ?2)", -1,
                               &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(st, 1, event, -1, SQLITE_STATIC);
        if (agent)
                sqlite3_bind_text(st, 2, agent, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
                n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        return n;
}

void fixture_last_detail(struct fixture *f, const char *event, char *buf, size_t size) {
        sqlite3_stmt *st;

        buf[0] = '\0';
        if (sqlite3_prepare_v2(store_sqlite(f->b.store),
                               "SELECT detail FROM events WHERE event = ?1 ORDER BY seq DESC LIMIT 1", -1, &st,
                               NULL) != SQLITE_OK)
                return;
        sqlite3_bind_text(st, 1, event, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
                snprintf(buf, size, "%s", (const char *) sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
}


struct conn *fixture_conn(struct fixture *f, int *peer) {
        char why[192];
        int fds[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0)
                return NULL;
        if (conn_new(&f->b, fds[0], 0, 0, getpid(), why, sizeof(why)) < 0) {
                close(fds[0]);
                close(fds[1]);
                return NULL;
        }
        *peer = fds[1];
        return f->b.conns; /* conn_new puts the newest first */
}

int fixture_read_frame(int peer, char *buf, size_t size) {
        size_t n = 0;

        while (n < size) {
                struct pollfd p = { .fd = peer, .events = POLLIN };
                ssize_t k;

                if (poll(&p, 1, 1000) != 1)
                        return -ETIME;
                k = read(peer, buf + n, 1); /* one frame, not the next */
                if (k <= 0)
                        return k == 0 ? -EPIPE : -errno;
                if (buf[n] == '\0')
                        return (int) n;
                n++;
        }
        return -ENOBUFS;
}
