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
 * Prints one line of counts: "sent N replies N errors N refused N closed N".
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
        char buf[65536];
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

        if (fd < 0)
                return;
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
                        break;
                }
                sent++;
                {
                        struct pollfd p = { .fd = fd, .events = POLLIN };
                        if (poll(&p, 1, 100) > 0 && (p.revents & (POLLIN | POLLHUP))) {
                                char buf[256];
                                if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0) {
                                        closed++;
                                        break;
                                }
                        }
                }
        }
        close(fd);
}

int main(int argc, char **argv) {
        if (argc == 5 && !strcmp(argv[1], "flood"))
                flood(argv[2], atof(argv[3]), argv[4]);
        else if (argc == 5 && !strcmp(argv[1], "hold"))
                hold(argv[2], atoi(argv[3]), atof(argv[4]));
        else if (argc == 4 && !strcmp(argv[1], "trickle"))
                trickle(argv[2], atof(argv[3]));
        else {
                fprintf(stderr, "usage: abuse-client flood SOCKET SECONDS REQUEST | hold SOCKET N SECONDS | "
                                "trickle SOCKET SECONDS\n");
                return 2;
        }
        printf("sent %lu replies %lu errors %lu refused %lu closed %lu\n", sent, replies, errors, refused, closed);
        return 0;
}
