/* SPDX-License-Identifier: MIT */
/* agentctl's approver commands: pending, approve, deny. argv[0] is the
 * command name. */
#pragma once

#include <stdbool.h>

int agentctl_pam(int argc, char **argv, const char *socket, bool json);
