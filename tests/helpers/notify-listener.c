/* SPDX-License-Identifier: MIT */
/* Test helper: stand in for systemd's notification socket. Binds a Unix
 * datagram socket at PATH and prints every message it receives (one per
 * line, newlines inside a message shown as ';') until a message contains
 * STOP_WORD or TIMEOUT_MS pass without one.
 *
 *   notify-listener PATH STOP_WORD TIMEOUT_MS */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char buf[4096];
        int fd;

        if (argc != 4 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "usage: notify-listener PATH STOP_WORD TIMEOUT_MS\n");
                return 2;
        }
        strcpy(sa.sun_path, argv[1]);
        fd = socket(AF_UNIX, SOCK_DGRAM, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                perror("bind");
                return 1;
        }
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                if (poll(&p, 1, atoi(argv[3])) <= 0)
                        return 1;
                n = recv(fd, buf, sizeof(buf) - 1, 0);
                if (n < 0)
                        return 1;
                buf[n] = '\0';
                for (ssize_t k = 0; k < n; k++)
                        if (buf[k] == '\n')
                                buf[k] = ';';
                printf("%s\n", buf);
                fflush(stdout);
                if (strstr(buf, argv[2]))
                        return 0;
        }
}
