/* SPDX-License-Identifier: MIT */
/* A blocking protocol client with a deadline, for agentctl and the PAM
 * module: never waits longer than the timeout it is given. */
#pragma once

#include <jansson.h>

/* The socket path: explicit, else $AGENTID_SOCKET, else the default. */
const char *agentid_socket_path(const char *explicit_path);

/* Connect to the broker. Returns an fd or a negative errno
 * (-ENOENT/-ECONNREFUSED when no broker listens). */
int agentid_connect(const char *path, int timeout_ms);

/* Send one request and wait for its reply. On success returns 0 with
 * *ret_parameters set (new reference) and *ret_error NULL, or the error
 * name (newly allocated) for an error reply. Negative errno on transport
 * failure (-ETIMEDOUT, -ECONNRESET, -EBADMSG, -EMSGSIZE). */
int agentid_call(int fd, const char *method, json_t *parameters, int timeout_ms, json_t **ret_parameters,
                 char **ret_error);
