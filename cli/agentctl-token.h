/* SPDX-License-Identifier: MIT */
/* agentctl's credential commands: token, verify, jwks, rotate-keys, grant,
 * redeem. argv[0] is the command name. */
#pragma once

#include <stdbool.h>

int agentctl_creds(int argc, char **argv, const char *socket, bool json);
