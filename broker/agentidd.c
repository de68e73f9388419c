/* SPDX-License-Identifier: MIT */
/* agentidd: the agentid broker. Sets up state, socket and policy, then
 * hands over to the event loop in server.c. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "agentid/nss-cache.h"
#include "allocator.h"
#include "broker.h"
#include "discovery.h"
#include "events.h"
#include "lifecycle.h"
#include "server.h"
#include "duration.h"
#include "id-directory.h"
#include "log.h"
#include "macro.h"
#include "start-refused.h"
#include "task.h"
#include "uid-killer.h"

/* From configure: $(sysconfdir)/agentid/agentid.conf, $(localstatedir)/lib/agentid */
#define DEFAULT_CONFIG AGENTID_CONFIG_DEFAULT
#define DEFAULT_STATE_DIR AGENTID_STATE_DIR_DEFAULT
#define DEFAULT_RUNTIME_DIR "/run/agentid"

/* <runtime dir>/nss, sized for the identities live in the store now so that
 * a restart with many live agents does not grow the file step by step. */
static int broker_nss_cache_open(struct broker *b, char *dir, size_t size) {
        uint64_t live = 0;
        uint32_t capacity;

        snprintf(dir, size, "%s/" AGENTID_NSS_CACHE_SUBDIR, b->runtime_dir);
        (void) store_count_live(b->store, &live);
        capacity = live > AGENTID_NSS_RECORDS_LIMIT / 2 ? AGENTID_NSS_RECORDS_LIMIT : (uint32_t) (live + live / 2);
        return nss_cache_new(dir, b->config.name_prefix, b->config.uid_min, b->config.uid_max,
                             capacity < 1024 ? 1024 : capacity, &b->nss_cache);
}

static void usage(FILE *f) {
        fprintf(f,
                "Usage: agentidd [OPTIONS]\n"
                "The agentid broker: mints and revokes short-lived agent identities.\n\n"
                "  --config FILE       configuration file (default " DEFAULT_CONFIG ")\n"
                "  --socket PATH       listening socket (default RUNTIME_DIR/agentid.sock;\n"
                "                      ignored under systemd socket activation)\n"
                "  --state-dir DIR     database directory (default " DEFAULT_STATE_DIR ")\n"
                "  --runtime-dir DIR   runtime directory (default " DEFAULT_RUNTIME_DIR ")\n"
                "  --version           print the version and exit\n"
                "  --help              print this help and exit\n\n"
                "See agentidd(8) and agentid.conf(5).\n");
}

static int make_dir(const char *path, mode_t mode) {
        struct stat st;

        if (mkdir(path, mode) == 0)
                return 0;
        if (errno != EEXIST)
                return -errno;
        if (stat(path, &st) < 0)
                return -errno;
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Is a broker already answering on path? */
static bool socket_is_live(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        return fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
}

static int fcntl_nonblock(int fd) {
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

static int setup_socket(struct broker *b) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        int n = sd_listen_fds(1);

        if (n > 1) {
                log_error("systemd passed %d sockets; expected one", n);
                return -EINVAL;
        }
        if (n == 1) {
                if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0) {
                        log_error("the socket systemd passed is not a listening Unix stream socket");
                        return -EINVAL;
                }
                b->listen_fd = SD_LISTEN_FDS_START;
                b->socket_activated = true;
                /* Make it nonblocking: accept must never stall the loop. */
                return fcntl_nonblock(b->listen_fd);
        }

        if (strlen(b->socket_path) >= sizeof(sa.sun_path)) {
                log_error("socket path too long: %s", b->socket_path);
                return -ENAMETOOLONG;
        }
        strcpy(sa.sun_path, b->socket_path);
        if (socket_is_live(b->socket_path)) {
                log_error("%s: another broker is already listening", b->socket_path);
                return -EADDRINUSE;
        }
        (void) unlink(b->socket_path); /* stale, from a broker that died */

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                log_error("bind %s: %s", b->socket_path, strerror(errno));
                return -errno;
        }
        /* Everyone may connect: callers are told apart by SO_PEERCRED and
         * policy, not by who can reach the socket. */
        if (chmod(b->socket_path, 0666) < 0 || listen(fd, SOMAXCONN) < 0) {
                int r = -errno;
                unlink(b->socket_path);
                return r;
        }
        b->listen_fd = TAKE_FD(fd);
        return 0;
}

static int record_lifecycle(struct broker *b, enum event_type type, const char *detail) {
        struct event e = event_for(type, NULL, NULL, detail);

        e.caller_pid = getpid();
        return broker_record_event(b, &e);
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },    { "socket", required_argument, NULL, 's' },
                { "state-dir", required_argument, NULL, 'S' }, { "runtime-dir", required_argument, NULL, 'R' },
                { "version", no_argument, NULL, 'V' },         { "help", no_argument, NULL, 'h' },
                {},
        };
        struct broker b = {
                .listen_fd = -1, .epoll_fd = -1, .signal_fd = -1, .tick_fd = -1, .expiry = { .timer_fd = -1 },
                .runtime = { .broker_pidfd = -1 },
        };
        const char *socket_opt = NULL;
        char error[1024], db_path[AGENTID_PATH_MAX * 2], detail[256], nss_dir[AGENTID_PATH_MAX * 2];
        _cleanup_free_ char *state_dir_abs = NULL;
        int opt, r, ret = EXIT_FAILURE;

        log_setup("agentidd");
        b.config_path = DEFAULT_CONFIG;
        b.state_dir = DEFAULT_STATE_DIR;
        b.runtime_dir = DEFAULT_RUNTIME_DIR;
        while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
                switch (opt) {
                case 'c':
                        b.config_path = optarg;
                        break;
                case 's':
                        socket_opt = optarg;
                        break;
                case 'S':
                        b.state_dir = optarg;
                        break;
                case 'R':
                        b.runtime_dir = optarg;
                        break;
                case 'V':
                        printf("agentidd %s\n", PACKAGE_VERSION);
                        return EXIT_SUCCESS;
                case 'h':
                        usage(stdout);
                        return EXIT_SUCCESS;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "agentidd: unexpected argument \"%s\"\n", argv[optind]);
                usage(stderr);
                return 2;
        }
        if (socket_opt)
                snprintf(b.socket_path, sizeof(b.socket_path), "%s", socket_opt);
        else if (snprintf(b.socket_path, sizeof(b.socket_path), "%s/agentid.sock", b.runtime_dir) >=
                 (int) sizeof(b.socket_path)) {
                log_error("runtime directory path too long");
                return EXIT_FAILURE;
        }
        umask(0022);
        b.started_usec = now_usec();

        config_init(&b.config, b.config_path);
        r = config_load(&b.config, b.config_path, error, sizeof(error));
        if (r < 0)
                return broker_refuse_start(b.config_path, error);
        r = template_set_load(&b.templates, b.config.templates_dir, broker_report_template_problem);
        if (r < 0) {
                log_error("loading templates: %s", strerror(-r));
                return EXIT_FAILURE;
        }

        /* The state dir is traversable (0711) so agents can reach their
         * homes below it; its database files are 0600 (store.c). */
        if ((r = make_dir(b.state_dir, 0711)) < 0 || (r = make_dir(b.runtime_dir, 0755)) < 0) {
                log_error("creating %s or %s: %s", b.state_dir, b.runtime_dir, strerror(-r));
                goto out;
        }
        /* Homes under %S must be absolute whatever --state-dir was. */
        state_dir_abs = realpath(b.state_dir, NULL);
        if (!state_dir_abs) {
                log_error("%s: %s", b.state_dir, strerror(errno));
                goto out;
        }
        b.state_dir = state_dir_abs;
        snprintf(db_path, sizeof(db_path), "%s/agentid.db", b.state_dir);
        r = store_open(db_path, &b.store);
        if (r < 0) {
                log_error("opening the database %s failed: %s", db_path, strerror(-r));
                goto out;
        }
        r = allocator_check_range(b.config.uid_min, b.config.uid_max, b.store, error, sizeof(error));
        if (r < 0) {
                char why[sizeof(error) + 64];
                snprintf(why, sizeof(why), "%s; choose another uid_min/uid_max", error);
                ret = broker_refuse_start(b.config_path, why);
                goto out;
        }
        r = allocator_init(&b.allocator, b.config.uid_min, b.config.uid_max, b.store);
        if (r < 0 || (r = expiry_init(&b.expiry)) < 0) {
                log_error("initialising: %s", strerror(-r));
                goto out;
        }
        audit_init(&b.audit, b.store, b.config.journal);
        refusals_init(&b.refusals, b.config.refusal_window_usec);
        /* Signing keys: created on first start, JWKS published (keys.c);
         * discovery metadata and the token status list beside it. */
        r = creds_store_open(b.store, &b.creds);
        if (r < 0 || (r = keyring_open(&b)) < 0 || (r = discovery_publish(&b)) < 0 ||
            (r = status_list_publish(&b)) < 0) {
                log_error("setting up the token signing keys: %s", strerror(-r));
                goto out;
        }

        /* The audit key signs checkpoints of the event chain. */
        r = audit_signer_open(&b);
        if (r < 0) {
                log_error("setting up the audit key: %s", strerror(-r));
                goto out;
        }

        /* Who is who, for policy and display, from a snapshot the loop
         * reads without calling NSS (id-directory.h). */
        r = id_directory_load();
        if (r < 0) {
                log_error("reading users and groups: %s", strerror(-r));
                goto out;
        }
        r = setup_socket(&b);
        if (r < 0)
                goto out;
        snprintf(detail, sizeof(detail), "version %s, uids %u-%u, %zu templates", PACKAGE_VERSION,
                 (unsigned) b.config.uid_min, (unsigned) b.config.uid_max, b.templates.n);
        r = record_lifecycle(&b, EVENT_START, detail);
        if (r < 0) {
                log_error("cannot record the start event: %s", strerror(-r));
                goto out;
        }
        /* The NSS cache (docs/nss-cache.md) is rebuilt from the store by
         * broker_load_live and replaces the last broker's file when full. */
        r = broker_nss_cache_open(&b, nss_dir, sizeof(nss_dir));
        if (r < 0) {
                log_error("creating the NSS cache in %s: %s", nss_dir, strerror(-r));
                goto out;
        }
        /* How tasks run; their teardown needs it from the first expiry on. */
        {
                enum runtime_kind wanted = RUNTIME_AUTO;
                char why[256];
                (void) runtime_kind_from_string(b.config.task_runtime, &wanted);
                r = runtime_init(&b.runtime, wanted, why, sizeof(why));
                if (r < 0) {
                        log_error("task runtime %s: %s", b.config.task_runtime, why);
                        goto out;
                }
        }
        log_info("task runtime: %s", runtime_name(&b.runtime));
        /* How ended uids' processes are killed (before the catch-up below). */
        uid_killer_start(b.config.uid_min, b.config.uid_max,
                         allocator_id_is_local(&b.allocator, UID_KILLER_REAL_UID), &b.uid_killer);
        /* Catch up: identities that expired while we were down go now. */
        r = broker_load_live(&b);
        if (r < 0) {
                log_error("loading live identities: %s", strerror(-r));
                goto out;
        }

        /* Processes left by a crashed broker's tasks, or of revoked agents,
         * go before the first request is served. */
        task_sweep_orphans(&b, true);

        r = server_run(&b);
        if (r < 0) {
                log_error("event loop: %s", strerror(-r));
                goto out;
        }
        (void) record_lifecycle(&b, EVENT_STOP, "signal");
        /* The tip, stop event included, is signed before the broker goes:
         * a tail cut off later fails verification. */
        (void) audit_signer_shutdown(&b);
        ret = EXIT_SUCCESS;
out:
        if (b.listen_fd >= 0 && !b.socket_activated) {
                close(b.listen_fd);
                unlink(b.socket_path);
        }
        uid_killer_stop(b.uid_killer);
        expiry_done(&b.expiry);
        allocator_done(&b.allocator);
        runtime_done(&b.runtime);
        /* The published file stays: agents keep resolving until their TTL
         * while the broker is down (docs/nss.md). */
        nss_cache_free(b.nss_cache);
        template_set_free(&b.templates);
        keyring_close(&b.keys);
        audit_signer_close(&b.audit_signer);
        creds_store_close(b.creds);
        store_close(b.store);
        refusals_free(&b.refusals);
        id_directory_free();
        return ret;
}
