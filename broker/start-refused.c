/* SPDX-License-Identifier: MIT */
/*
 * A broker that cannot start because of its configuration says so where
 * the admin and the clients look, and does not wedge socket activation:
 * the reason goes to the journal (stderr) and to systemd (STATUS=, shown
 * by "systemctl status agentid"), and every client already queued on the
 * socket systemd passed gets it as an error reply instead of waiting.
 * Those queued clients are what would otherwise trigger the service again
 * at once, again and again, until systemd's start limit puts the socket in
 * "failed".
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "agentid/protocol.h"
#include "log.h"
#include "macro.h"
#include "protocol.h"
#include "start-refused.h"

/* At most this many queued clients are answered, each waited for at most
 * this long to send its request (an agentctl sends at once). */
#define QUEUED_MAX 64
#define REQUEST_WAIT_MS 200

static void answer(int fd, const char *reply, size_t len) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char buf[4096];

        /* Read what the client sent, so that closing does not reset the
         * connection before it reads the reply. */
        if (poll(&p, 1, REQUEST_WAIT_MS) > 0)
                (void) !read(fd, buf, sizeof(buf));
        (void) !send(fd, reply, len + 1, MSG_NOSIGNAL | MSG_DONTWAIT); /* the NUL ends the frame */
}

int broker_refuse_start(const char *config_path, const char *why) {
        _cleanup_free_ char *reply = NULL;
        char message[1024];
        size_t len = 0;

        log_error("refusing to start: %s (fix %s, then: systemctl restart agentid)", why, config_path);
        (void) sd_notifyf(0, "STATUS=refusing to start: %s", why);
        if (sd_listen_fds(0) != 1)
                return EXIT_CONFIG;
        snprintf(message, sizeof(message),
                 "the agentid broker refuses to start: %s (fix %s, then: systemctl restart agentid)", why, config_path);
        reply = protocol_error_format(AGENTID_ERROR_INTERNAL, message, NULL, &len);
        if (!reply || fcntl(SD_LISTEN_FDS_START, F_SETFL, O_NONBLOCK) < 0)
                return EXIT_CONFIG;
        for (int n = 0; n < QUEUED_MAX; n++) {
                int fd = accept4(SD_LISTEN_FDS_START, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        break; /* EAGAIN: nobody else is waiting */
                answer(fd, reply, len);
                close(fd);
        }
        return EXIT_CONFIG;
}
