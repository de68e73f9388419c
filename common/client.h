/* SPDX-License-Identifier: MIT */
/* A blocking protocol client with a deadline, for agentctl and the PAM
 * module: never waits longer than the timeout it is given. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

/* The socket path: explicit, else $AGENTID_SOCKET, else the default. */
const char *agentid_socket_path(const char *explicit_path);

/* Connect to the broker. Returns an fd or a negative errno
 * (-ENOENT/-ECONNREFUSED when no broker listens). */
int agentid_connect(const char *path, int timeout_ms);

/* Replies are read through a reader: one connection may carry several
 * (io.agentid.Run answers once when the task starts, once when it ends),
 * and bytes of the next may arrive with the previous one. */
struct agentid_reader {
        int fd;
        char *buf;
        size_t len, cap;
};

void agentid_reader_done(struct agentid_reader *r);

/* Does the reader already hold a complete reply? Then the next
 * agentid_read_reply returns it without reading the socket, and a caller
 * that polls the socket first may wait for bytes that never come. */
bool agentid_reader_has_reply(const struct agentid_reader *r);

/* Send one request, with optional descriptors passed by SCM_RIGHTS. */
int agentid_send(int fd, const char *method, json_t *parameters, const int *fds, size_t n_fds, int timeout_ms);

/* Read the next reply; timeout_ms < 0 waits for ever. Same results as
 * agentid_call. */
int agentid_read_reply(struct agentid_reader *r, int timeout_ms, json_t **ret_parameters, char **ret_error);

/* Send one request and wait for its reply. On success returns 0 with
 * *ret_parameters set (new reference) and *ret_error NULL, or the error
 * name (newly allocated) for an error reply. Negative errno on transport
 * failure (-ETIMEDOUT, -ECONNRESET, -EBADMSG, -EMSGSIZE). */
int agentid_call(int fd, const char *method, json_t *parameters, int timeout_ms, json_t **ret_parameters,
                 char **ret_error);
