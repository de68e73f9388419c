/* SPDX-License-Identifier: MIT */
/* The contract between the systemd runtime (runtime-systemd.c), which
 * writes a task unit's ExecStart=, and agentid-task-exec (task-exec.c),
 * which it runs (agentid-task-exec(8)). */
#pragma once

/* The command's environment, NUL-separated "NAME=value" strings encoded
 * as base64url: the unit's only Environment= entry, so that nothing the
 * invoker chose (LD_PRELOAD, ...) is ever the environment of a root
 * process. */
#define TASK_EXEC_ENVIRONMENT "AGENTID_TASK_ENVIRONMENT"

/* Exit statuses of agentid-task-exec itself, before the command runs: the
 * task's confinement could not be set up (systemd's EXIT_NAMESPACE), the
 * command could not be executed (as a shell says it). */
#define TASK_EXEC_EXIT_SETUP 226
#define TASK_EXEC_EXIT_EXEC 127
