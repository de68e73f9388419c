/* SPDX-License-Identifier: MIT */
/* Small file-system helpers shared by the task paths. */
#pragma once

/* mkdir -p with mode 0755: 0, or a negative errno. Existing directories
 * are fine. Safe in a forked child (no allocation). */
int mkdir_parents(const char *path);
