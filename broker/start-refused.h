/* SPDX-License-Identifier: MIT */
/* The broker's answer to a configuration it cannot start with (see
 * start-refused.c). */
#pragma once

/* The exit status for a configuration error (sysexits' EX_CONFIG): the
 * unit does not restart on it (RestartPreventExitStatus=). */
#define EXIT_CONFIG 78

/* Log why, tell systemd (STATUS=), answer every client queued on a socket
 * systemd passed with that reason; returns EXIT_CONFIG for main(). */
int broker_refuse_start(const char *config_path, const char *why);
