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
#include "duration.h"
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

static int wait_fd(int fd, short events, int64_t deadline_ms) {
        struct pollfd p = { .fd = fd, .events = events };
        int r;

        for (;;) {
                int64_t left = deadline_ms - (int64_t) monotonic_msec();
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
        int64_t deadline = (int64_t) monotonic_msec() + timeout_ms;
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

int agentid_send(int fd, const char *method, json_t *parameters, const int *fds, size_t n_fds, int timeout_ms) {
        _cleanup_free_ char *req = NULL;
        int64_t deadline = (int64_t) monotonic_msec() + timeout_ms;
        union {
                char buf[CMSG_SPACE(sizeof(int) * 3)];
                struct cmsghdr align;
        } control = {};
        size_t len, off = 0;

        if (n_fds > 3)
                return -EINVAL;
        req = protocol_request_format(method, parameters, &len);
        if (!req)
                return -ENOMEM;
        len++; /* the frame is the JSON text plus its NUL terminator */
        while (off < len) {
                struct iovec iov = { .iov_base = req + off, .iov_len = len - off };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
                ssize_t n;

                /* Descriptors travel with the first byte of the request. */
                if (off == 0 && n_fds > 0) {
                        struct cmsghdr *cm;
                        mh.msg_control = &control;
                        mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                        cm = CMSG_FIRSTHDR(&mh);
                        cm->cmsg_level = SOL_SOCKET;
                        cm->cmsg_type = SCM_RIGHTS;
                        cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                        memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
                }
                n = sendmsg(fd, &mh, MSG_NOSIGNAL);
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
                off += (size_t) n;
        }
        return 0;
}

void agentid_reader_done(struct agentid_reader *r) {
        free(r->buf);
        r->buf = NULL;
        r->len = r->cap = 0;
}

bool agentid_reader_has_reply(const struct agentid_reader *r) {
        return r->len > 0 && memchr(r->buf, '\0', r->len);
}

int agentid_read_reply(struct agentid_reader *rd, int timeout_ms, json_t **ret_parameters, char **ret_error) {
        int64_t deadline = timeout_ms < 0 ? INT64_MAX : (int64_t) monotonic_msec() + timeout_ms;
        size_t scanned = 0;
        int r;

        for (;;) {
                char *nul = rd->len > scanned ? memchr(rd->buf + scanned, '\0', rd->len - scanned) : NULL;
                ssize_t n;

                if (nul) {
                        size_t frame = (size_t) (nul - rd->buf);
                        r = protocol_reply_parse(rd->buf, frame, ret_parameters, ret_error);
                        memmove(rd->buf, nul + 1, rd->len - frame - 1);
                        rd->len -= frame + 1;
                        return r;
                }
                scanned = rd->len;
                if (rd->cap - rd->len < 4096) {
                        size_t ncap = rd->cap ? rd->cap * 2 : 8192;
                        char *nbuf;
                        if (ncap > AGENTID_MESSAGE_MAX + 1)
                                ncap = AGENTID_MESSAGE_MAX + 1;
                        if (ncap <= rd->len)
                                return -EMSGSIZE;
                        nbuf = realloc(rd->buf, ncap);
                        if (!nbuf)
                                return -ENOMEM;
                        rd->buf = nbuf;
                        rd->cap = ncap;
                }
                n = recv(rd->fd, rd->buf + rd->len, rd->cap - rd->len, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                r = wait_fd(rd->fd, POLLIN, deadline);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        return -errno;
                }
                if (n == 0)
                        return -ECONNRESET;
                rd->len += (size_t) n;
        }
}

int agentid_call(int fd, const char *method, json_t *parameters, int timeout_ms, json_t **ret_parameters,
                 char **ret_error) {
        struct agentid_reader rd = { .fd = fd };
        int r = agentid_send(fd, method, parameters, NULL, 0, timeout_ms);

        if (r == 0)
                r = agentid_read_reply(&rd, timeout_ms, ret_parameters, ret_error);
        agentid_reader_done(&rd);
        return r;
}
