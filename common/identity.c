/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "agentid/identity.h"

static const char *const state_names[_IDENTITY_STATE_MAX] = {
        [IDENTITY_LIVE] = "live",
        [IDENTITY_REVOKED] = "revoked",
        [IDENTITY_EXPIRED] = "expired",
};

const char *identity_state_to_string(enum identity_state s) {
        return (unsigned) s < _IDENTITY_STATE_MAX ? state_names[s] : "unknown";
}

int identity_state_from_string(const char *s) {
        for (int i = 0; i < _IDENTITY_STATE_MAX; i++)
                if (strcmp(s, state_names[i]) == 0)
                        return i;
        return -1;
}
