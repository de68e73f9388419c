/* SPDX-License-Identifier: MIT */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agentid/protocol.h"
#include "macro.h"
#include "protocol.h"

const char *agentid_socket_path(const char *explicit_path) {
        const char *e;

        if (explicit_path && *explicit_path)
                return explicit_path;
        /* secure_getenv: the PAM module runs inside setuid programs. */
        e = secure_getenv(AGENTID_SOCKET_ENV);
        if (e && *e)
                return e;
        return AGENTID_SOCKET_PATH_DEFAULT;
}

static int64_t monotonic_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, int64_t deadline_ms) {
        struct pollfd p = { .fd = fd, .events = events };
        int r;

        for (;;) {
                int64_t left = deadline_ms - monotonic_ms();
                if (left <= 0)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) (left > INT32_MAX ? INT32_MAX : left));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                return 0;
        }
}

int agentid_connect(const char *path, int timeout_ms) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        int64_t deadline = monotonic_ms() + timeout_ms;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                /* A full backlog answers EAGAIN on Unix sockets: wait for
                 * room rather than fail, but only until the deadline. */
                if (errno != EAGAIN && errno != EINPROGRESS)
                        return -errno;
                r = wait_fd(fd, POLLOUT, deadline);
                if (r < 0)
                        return r;
                if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno != EISCONN)
                        return -errno;
        }
        return TAKE_FD(fd);
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline) {
        while (len > 0) {
                ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                int r = wait_fd(fd, POLLOUT, deadline);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        return -errno;
                }
                buf += n;
                len -= (size_t) n;
        }
        return 0;
}

int agentid_call(int fd, const char *method, json_t *parameters, int timeout_ms, json_t **ret_parameters,
                 char **ret_error) {
        _cleanup_free_ char *req = NULL, *buf = NULL;
        int64_t deadline = monotonic_ms() + timeout_ms;
        size_t len, have = 0, cap = 0;
        int r;

        req = protocol_request_format(method, parameters, &len);
        if (!req)
                return -ENOMEM;
        /* The frame is the JSON text plus its NUL terminator. */
        r = send_all(fd, req, len + 1, deadline);
        if (r < 0)
                return r;

        for (;;) {
                ssize_t n;
                char *nul;

                if (cap - have < 4096) {
                        size_t ncap = cap ? cap * 2 : 8192;
                        char *nbuf;
                        if (ncap > AGENTID_MESSAGE_MAX + 1)
                                ncap = AGENTID_MESSAGE_MAX + 1;
                        if (ncap <= have)
                                return -EMSGSIZE;
                        nbuf = realloc(buf, ncap);
                        if (!nbuf)
                                return -ENOMEM;
                        buf = nbuf;
                        cap = ncap;
                }
                n = recv(fd, buf + have, cap - have, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                r = wait_fd(fd, POLLIN, deadline);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        return -errno;
                }
                if (n == 0)
                        return -ECONNRESET;
                nul = memchr(buf + have, '\0', (size_t) n);
                have += (size_t) n;
                if (nul)
                        return protocol_reply_parse(buf, (size_t) (nul - buf), ret_parameters, ret_error);
        }
}
