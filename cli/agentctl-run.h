/* SPDX-License-Identifier: MIT */
#pragma once

/* agentctl run: the everyday way to start an agent task. Returns the exit
 * status agentctl should exit with. */
int agentctl_run(int argc, char **argv, const char *socket_path);
