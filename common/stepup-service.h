/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

/* Services that raise privileges on this host (sudo, su, runuser, doas):
 * their template rule is "sudo". Every other PAM service is a login and
 * follows the "ssh" rule. Shared by pam_agentid and the broker so that both
 * classify a service the same way. */
bool service_is_stepup(const char *service);
