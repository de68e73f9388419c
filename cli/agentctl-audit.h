/* SPDX-License-Identifier: MIT */
/* agentctl audit [NAME] | audit verify | audit prune. argv[0] is "audit". */
#pragma once

#include <stdbool.h>

int agentctl_audit(int argc, char **argv, const char *socket, bool json);
