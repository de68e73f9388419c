/* SPDX-License-Identifier: MIT */
/* Test helper: a hostile local user's load on the broker (issue 13), for
 * tests/integration/abuse.sh and refusals.sh. Plain sockets, no library.
 *
 *   abuse-client flood SOCKET SECONDS REQUEST   one connection sending REQUEST
 *                                               (a JSON frame) and reading each
 *                                               reply, as fast as it can
 *   abuse-client hold SOCKET N SECONDS          N connections, each sending a
 *                                               Status request every second
 *   abuse-client trickle SOCKET SECONDS         one connection sending a frame
 *                                               one byte every 100ms
 *   abuse-client probe SOCKET SECONDS NAME...   (root) every 100 ms a List, then
 *                                               a Revoke of the next NAME, each
 *                                               on a new connection, timed from
 *                                               connect() to the whole reply
 * Prints one line of counts: "sent N replies N errors N refused N closed N
 * after_ms N" (after_ms: when trickle's connection was closed, else 0).
 * flood stops early on a hang-up; hold reopens nothing. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static unsigned long sent, replies, errors, refused, closed;
static double started, closed_after; /* trickle: seconds until the broker hung up */

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int connect_to(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        return fd;
}

/* Read one NUL-terminated reply (or what arrives within timeout_ms).
 * Returns 1 for a reply, 0 on hang-up, -1 on timeout. */
static int read_reply(int fd, int timeout_ms) {
        static char buf[1 << 20];
        size_t len = 0;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;
                if (poll(&p, 1, timeout_ms) <= 0)
                        return -1;
                n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
                if (n <= 0)
                        return 0;
                len += (size_t) n;
                if (memchr(buf, '\0', len) || len >= sizeof(buf) - 1)
                        break;
        }
        buf[len] = '\0';
        replies++;
        if (strstr(buf, "\"error\""))
                errors++;
        if (strstr(buf, "TooManyConnections") || strstr(buf, "TooManyRequests"))
                refused++;
        return 1;
}

static int send_frame(int fd, const char *frame) {
        size_t len = strlen(frame) + 1;
        return send(fd, frame, len, MSG_NOSIGNAL) == (ssize_t) len ? 0 : -1;
}

static void flood(const char *path, double seconds, const char *frame) {
        double end = now_s() + seconds;
        int fd = connect_to(path);

        if (fd < 0) {
                perror("abuse-client: connect");
                return;
        }
        while (now_s() < end) {
                if (send_frame(fd, frame) < 0)
                        break;
                sent++;
                if (read_reply(fd, 2000) <= 0) {
                        closed++;
                        break;
                }
        }
        close(fd);
}

static void hold(const char *path, int n, double seconds) {
        static const char status[] = "{\"method\":\"io.agentid.Status\"}";
        int *fds = calloc((size_t) n, sizeof(int));
        double end = now_s() + seconds;

        if (!fds)
                return;
        for (int k = 0; k < n; k++)
                fds[k] = connect_to(path);
        while (now_s() < end) {
                double tick = now_s();
                for (int k = 0; k < n; k++) {
                        if (fds[k] < 0)
                                continue;
                        if (send_frame(fds[k], status) < 0 || (sent++, read_reply(fds[k], 1000) <= 0)) {
                                closed++;
                                close(fds[k]);
                                fds[k] = -1;
                        }
                }
                while (now_s() - tick < 1.0 && now_s() < end)
                        usleep(20000);
        }
        for (int k = 0; k < n; k++)
                if (fds[k] >= 0)
                        close(fds[k]);
        free(fds);
}

static void trickle(const char *path, double seconds) {
        static const char status[] = "{\"method\":\"io.agentid.Status\",\"parameters\":{}}";
        double end = now_s() + seconds;
        int fd = connect_to(path);
        size_t k = 0;

        if (fd < 0)
                return;
        while (now_s() < end) {
                char c = status[k++ % (sizeof(status) - 1)]; /* never the NUL */
                if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) {
                        closed++;
                        closed_after = now_s() - started;
                        break;
                }
                sent++;
                {
                        struct pollfd p = { .fd = fd, .events = POLLIN };
                        if (poll(&p, 1, 100) > 0 && (p.revents & (POLLIN | POLLHUP))) {
                                char buf[256];
                                ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
                                if (n > 0) { /* a refusal: counted, then the hang-up */
                                        buf[n] = '\0';
                                        replies++;
                                        if (strstr(buf, "TooManyConnections"))
                                                refused++;
                                        continue;
                                }
                                closed++;
                                closed_after = now_s() - started;
                                break;
                        }
                }
        }
        close(fd);
}

/* One timed call on a new connection: milliseconds, or -1 on failure. */
static double timed_call(const char *path, const char *frame) {
        double t0 = now_s();
        unsigned long errors_before = errors;
        int fd = connect_to(path);

        if (fd < 0)
                return -1;
        if (send_frame(fd, frame) < 0 || read_reply(fd, 5000) <= 0 || errors > errors_before) {
                close(fd);
                return -1;
        }
        close(fd);
        return (now_s() - t0) * 1000;
}

static void probe(const char *path, double seconds, char **names, int n_names) {
        double end = now_s() + seconds, max_ms = 0, max_kind[2] = { 0, 0 };
        unsigned long calls = 0, over = 0, failed = 0;
        int next = 0;

        while (now_s() < end) {
                double tick = now_s();
                char revoke[256];
                double ms[2];

                ms[0] = timed_call(path, "{\"method\":\"io.agentid.List\"}");
                ms[1] = -2;
                if (next < n_names) {
                        snprintf(revoke, sizeof(revoke), "{\"method\":\"io.agentid.Revoke\",\"parameters\":{\"agents\":[\"%s\"]}}",
                                 names[next++]);
                        ms[1] = timed_call(path, revoke);
                }
                for (int k = 0; k < 2; k++) {
                        if (ms[k] == -2)
                                continue;
                        calls++;
                        if (ms[k] < 0) {
                                failed++;
                                continue;
                        }
                        if (ms[k] > max_ms)
                                max_ms = ms[k];
                        if (ms[k] > max_kind[k])
                                max_kind[k] = ms[k];
                        if (ms[k] > 100)
                                over++;
                }
                while (now_s() - tick < 0.1)
                        usleep(2000);
        }
        printf("probe calls %lu failed %lu over_100ms %lu max_ms %.1f list_max_ms %.1f revoke_max_ms %.1f\n", calls,
               failed, over, max_ms, max_kind[0], max_kind[1]);
}

int main(int argc, char **argv) {
        started = now_s();
        if (argc == 5 && !strcmp(argv[1], "flood"))
                flood(argv[2], atof(argv[3]), argv[4]);
        else if (argc == 5 && !strcmp(argv[1], "hold"))
                hold(argv[2], atoi(argv[3]), atof(argv[4]));
        else if (argc == 4 && !strcmp(argv[1], "trickle"))
                trickle(argv[2], atof(argv[3]));
        else if (argc >= 4 && !strcmp(argv[1], "probe")) {
                probe(argv[2], atof(argv[3]), argv + 4, argc - 4);
                return 0;
        }
        else {
                fprintf(stderr, "usage: abuse-client flood SOCKET SECONDS REQUEST | hold SOCKET N SECONDS | "
                                "trickle SOCKET SECONDS | probe SOCKET SECONDS NAME...\n");
                return 2;
        }
        printf("sent %lu replies %lu errors %lu refused %lu closed %lu after_ms %.0f\n", sent, replies, errors, refused,
               closed, closed_after * 1000);
        return 0;
}
