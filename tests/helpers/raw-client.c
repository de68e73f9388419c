/* SPDX-License-Identifier: MIT */
/* Test helper: send stdin's bytes, exactly as given, to a Unix socket and
 * print whatever comes back (NULs as newlines) until the peer closes or
 * nothing arrives for TIMEOUT_MS. For hostile-input tests: no framing, no
 * validation, no JSON library.
 *
 *   raw-client SOCKET [TIMEOUT_MS]
 * Exit: 0 if the peer answered or closed, 3 if it could not be reached. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        static char buf[1 << 20];
        size_t len = 0;
        ssize_t n;
        int fd, timeout = argc > 2 ? atoi(argv[2]) : 2000;

        if (argc < 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "usage: raw-client SOCKET [TIMEOUT_MS]\n");
                return 2;
        }
        strcpy(sa.sun_path, argv[1]);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                perror("connect");
                return 3;
        }
        /* Connect first, then read stdin: "sleep 3 | raw-client" holds a
         * connection open for three seconds. */
        while (len < sizeof(buf) && (n = read(STDIN_FILENO, buf + len, sizeof(buf) - len)) > 0)
                len += (size_t) n;
        for (size_t off = 0; off < len;) {
                n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
                if (n < 0)
                        break; /* the broker may hang up mid-way: fine */
                off += (size_t) n;
        }
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, timeout) <= 0)
                        break;
                n = recv(fd, buf, sizeof(buf), 0);
                if (n <= 0)
                        break;
                for (ssize_t k = 0; k < n; k++)
                        if (buf[k] == '\0')
                                buf[k] = '\n';
                fwrite(buf, 1, (size_t) n, stdout);
        }
        close(fd);
        return 0;
}
