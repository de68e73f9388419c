/* SPDX-License-Identifier: MIT */
#include "stepup-service.h"

#include <string.h>

bool service_is_stepup(const char *service) {
        static const char *const names[] = { "sudo", "sudo-i", "su", "su-l", "runuser", "runuser-l", "doas", NULL };

        for (const char *const *n = names; service && *n; n++)
                if (strcmp(*n, service) == 0)
                        return true;
        return false;
}
