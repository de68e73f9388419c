/* SPDX-License-Identifier: MIT */
/* agentctl run [OPTIONS] -- CMD [ARG...]: mint an agent, run CMD as it with
 * our stdin/stdout/stderr, forward signals, exit with its status. Exit
 * codes besides the task's own: 125 agentctl or the broker failed, 126 the
 * command could not be run, 127 it was not found. */
#include "agentctl-run.h"

#include "agentctl-call.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agentid/limits.h"
#include "agentid/protocol.h"
#include "client.h"
#include "duration.h"
#include "macro.h"
#include "protocol.h"

#define EXIT_AGENTCTL_FAILED 125
#define EXIT_CANNOT_EXECUTE 126
#define EXIT_NOT_FOUND 127
#define START_TIMEOUT_MS 30000
/* How long agentctl waits for a restarting broker (systemd runtime). */
#define RECONNECT_MS 30000

/* Signals agentctl passes on to the task, as a shell's child would get them. */
static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

static int run_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run_usage(const char *fmt, ...) {
        va_list ap;

        fputs("agentctl run: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\nUsage: agentctl run [--template T] [--ttl DUR] [--reason TEXT] [--on-behalf-of USER]\n"
              "                    [--env K=V]... [--cwd DIR] [--verbose] -- CMD [ARG...]\n",
              stderr);
        return 2;
}

static int set_text(json_t *o, const char *key, const char *value) {
        json_t *v = json_string(value);
        if (!v)
                return run_usage("%s is not valid UTF-8 text", key);
        json_object_set_new(o, key, v);
        return 0;
}

static int parse_args(int argc, char **argv, json_t *params, bool *verbose) {
        static const struct option options[] = {
                { "template", required_argument, NULL, 't' }, { "ttl", required_argument, NULL, 'l' },
                { "reason", required_argument, NULL, 'r' },   { "on-behalf-of", required_argument, NULL, 'o' },
                { "env", required_argument, NULL, 'e' },      { "cwd", required_argument, NULL, 'c' },
                { "verbose", no_argument, NULL, 'v' },        {},
        };
        json_t *env = json_object(), *cmd = json_array();
        uint64_t usec;
        int opt, r = 0;

        json_object_set_new(params, "env", env);
        json_object_set_new(params, "argv", cmd);
        /* "+": options end at the command, so its own options stay its own. */
        while (r == 0 && (opt = getopt_long(argc, argv, "+", options, NULL)) != -1) {
                switch (opt) {
                case 't':
                        r = set_text(params, "template", optarg);
                        break;
                case 'l':
                        if (duration_parse(optarg, &usec) < 0)
                                return run_usage("invalid duration \"%s\"", optarg);
                        r = set_text(params, "ttl", optarg);
                        break;
                case 'r':
                        r = set_text(params, "reason", optarg);
                        break;
                case 'o':
                        r = set_text(params, "on_behalf_of", optarg);
                        break;
                case 'c':
                        r = set_text(params, "cwd", optarg);
                        break;
                case 'e': {
                        char *eq = strchr(optarg, '=');
                        json_t *v;
                        if (!eq || eq == optarg)
                                return run_usage("--env wants NAME=VALUE, not \"%s\"", optarg);
                        *eq = '\0';
                        v = json_string(eq + 1);
                        if (!v)
                                return run_usage("--env %s: value is not valid UTF-8", optarg);
                        json_object_set_new(env, optarg, v);
                        break;
                }
                case 'v':
                        *verbose = true;
                        break;
                default:
                        return 2;
                }
        }
        if (r)
                return r;
        if (optind >= argc)
                return run_usage("no command given (put it after --)");
        for (int k = optind; k < argc; k++) {
                json_t *v = json_string(argv[k]);
                if (!v)
                        return run_usage("argument \"%s\" is not valid UTF-8", argv[k]);
                json_array_append_new(cmd, v);
        }
        if (json_object_size(env) == 0)
                json_object_del(params, "env");
        return 0;
}

/* The broker went away while the task runs under systemd (a restart):
 * the task goes on, so connect again and take it back. 0 with *fd and the
 * reader replaced, or -errno when it cannot be had within RECONNECT_MS. */
static int reattach(const char *path, const char *agent, int *fd, struct agentid_reader *rd) {
        int64_t waited = 0;

        for (; waited < RECONNECT_MS; waited += 100) {
                json_t *params = json_pack("{s:s}", "agent", agent), *reply = NULL;
                char *error = NULL;
                int nfd = agentid_connect(path, 1000), r;

                if (nfd < 0) {
                        json_decref(params);
                        usleep(100 * 1000);
                        continue;
                }
                r = agentid_call(nfd, AGENTID_METHOD_RUN_ATTACH, params, 5000, &reply, &error);
                json_decref(params);
                json_decref(reply);
                if (r == 0 && !error) {
                        close(*fd);
                        agentid_reader_done(rd);
                        *fd = nfd;
                        *rd = (struct agentid_reader) { .fd = nfd };
                        return 0;
                }
                close(nfd);
                if (error) {
                        fprintf(stderr, "agentctl: the broker came back but has no task of %s (%s)\n", agent, error);
                        free(error);
                        return -ESRCH;
                }
                usleep(100 * 1000);
        }
        return -ETIMEDOUT;
}

static int exit_code_for(json_t *end) {
        json_t *status = json_object_get(end, "exit_status"), *sig = json_object_get(end, "signal");

        if (json_is_integer(status))
                return (int) json_integer_value(status);
        if (json_is_integer(sig))
                return 128 + (int) json_integer_value(sig);
        return EXIT_AGENTCTL_FAILED;
}

int agentctl_run(int argc, char **argv, const char *socket_path) {
        static const int stdio[3] = { STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO };
        json_t *params = json_object(), *reply = NULL;
        struct agentid_reader rd = { .fd = -1 };
        _cleanup_free_ char *error = NULL;
        _cleanup_close_ int fd = -1, sfd = -1;
        const char *name = NULL, *path = agentid_socket_path(socket_path);
        char agent[4 * AGENTID_NAME_MAX + 1] = "?";
        char agent_name[AGENTID_NAME_MAX + 1] = ""; /* as sent: for RunAttach */
        bool verbose = false, outlives_broker = false;
        sigset_t mask;
        int r, ret = EXIT_AGENTCTL_FAILED;

        r = parse_args(argc, argv, params, &verbose);
        if (r) {
                json_decref(params);
                return r;
        }
        /* Signals from now on are the task's: take them as events. */
        sigemptyset(&mask);
        for (size_t k = 0; k < ELEMENTSOF(forwarded); k++)
                sigaddset(&mask, forwarded[k]);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

        fd = agentid_connect(path, START_TIMEOUT_MS);
        if (fd < 0) {
                fprintf(stderr, "agentctl: cannot reach the broker at %s: %s (is agentidd running?)\n", path,
                        strerror(-fd));
                goto out;
        }
        rd.fd = fd;
        r = agentid_send(fd, AGENTID_METHOD_RUN, params, stdio, 3, START_TIMEOUT_MS);
        if (r == 0)
                r = agentid_read_reply(&rd, START_TIMEOUT_MS, &reply, &error);
        if (r < 0) {
                fprintf(stderr, "agentctl: run: %s\n", strerror(-r));
                goto out;
        }
        if (error) {
                const char *msg = NULL;
                (void) json_get_string(reply, "message", &msg);
                fprintf(stderr, "agentctl: %s (%s)\n", msg ? agentctl_text(msg) : "request failed", agentctl_text(error));
                if (streq(error, AGENTID_ERROR_TASK_FAILED))
                        ret = msg && strstr(msg, "No such file") ? EXIT_NOT_FOUND : EXIT_CANNOT_EXECUTE;
                goto out;
        }
        if (json_get_string(json_object_get(reply, "agent"), "name", &name) == 0) {
                snprintf(agent, sizeof(agent), "%s", agentctl_text(name));
                snprintf(agent_name, sizeof(agent_name), "%s", name);
        }
        {
                const char *rt = NULL;
                /* Under systemd the task survives a broker restart. */
                outlives_broker = json_get_string(reply, "runtime", &rt) == 0 && streq(rt, "systemd");
        }
        if (verbose)
                fprintf(stderr, "agentctl: running as %s (pid %lld)\n", agent,
                        (long long) json_integer_value(json_object_get(reply, "pid")));

        for (;;) {
                struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
                struct signalfd_siginfo si;

                /* The start reply may have come in one read with the end
                 * reply (a short task): take what is buffered before
                 * waiting on the socket, which may stay silent for good. */
                bool buffered = agentid_reader_has_reply(&rd);

                if (poll(p, sfd >= 0 ? 2 : 1, buffered ? 0 : -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                while (sfd >= 0 && read(sfd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
                        json_t *sp = json_pack("{s:i}", "signal", (int) si.ssi_signo);
                        (void) agentid_send(fd, AGENTID_METHOD_SIGNAL, sp, NULL, 0, 1000);
                        json_decref(sp);
                }
                if (!buffered && !(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
                        continue;
                json_decref(reply);
                reply = NULL;
                free(error);
                error = NULL;
                r = agentid_read_reply(&rd, 5000, &reply, &error);
                if (r == -ECONNRESET && outlives_broker) {
                        if (verbose)
                                fprintf(stderr, "agentctl: the broker went away; the task goes on, reconnecting\n");
                        if (reattach(path, agent_name, &fd, &rd) == 0) {
                                rd.fd = fd;
                                continue;
                        }
                }
                if (r < 0 || error) {
                        fprintf(stderr, "agentctl: lost the task's broker connection (%s); the task is ended\n",
                                r < 0 ? strerror(-r) : agentctl_text(error));
                        break;
                }
                {
                        const char *ended = NULL;
                        (void) json_get_string(reply, "ended", &ended);
                        ret = exit_code_for(reply);
                        if (ended && !streq(ended, "exited"))
                                fprintf(stderr, "agentctl: task of %s ended: agent %s; all its processes were killed\n",
                                        agent,
                                        streq(ended, "expired") ? "expired (its TTL passed)"
                                        : streq(ended, "revoked") ? "revoked"
                                                                  : agentctl_text(ended));
                        else if (verbose)
                                fprintf(stderr, "agentctl: task of %s exited; identity revoked, processes and home gone\n",
                                        agent);
                }
                break;
        }
out:
        agentid_reader_done(&rd);
        json_decref(reply);
        json_decref(params);
        return ret;
}
