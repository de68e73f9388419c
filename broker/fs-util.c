/* SPDX-License-Identifier: MIT */
#include "fs-util.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "agentid/limits.h"

int mkdir_parents(const char *path) {
        char buf[AGENTID_PATH_MAX + 1];

        if (snprintf(buf, sizeof(buf), "%s", path) >= (int) sizeof(buf))
                return -ENAMETOOLONG;
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}
