/* SPDX-License-Identifier: MIT */
/* Between runtime.c and the runtimes it dispatches to. */
#pragma once

#include "runtime.h"

extern const char *const controller_names[_CGROUP_MAX];
void direct_find_cgroup_v1(const char *name, char *ret, size_t size);

int direct_check(const struct runtime *rt, const struct confinement *c, const char *home, char *why, size_t why_size);
int direct_start(struct runtime *rt, const struct identity *i, const struct template *t, struct task_spec *spec,
                 struct runtime_task *task, char *error, size_t error_size);
int direct_started(struct runtime *rt, struct runtime_task *task, char *error, size_t error_size);
int direct_signal(struct runtime *rt, struct runtime_task *task, int signo);
int direct_kill(struct runtime *rt, struct runtime_task *task);
int direct_collect(struct runtime *rt, struct runtime_task *task, int *wait_status);
void direct_release(struct runtime *rt, struct runtime_task *task);

int systemd_init(struct runtime *rt, char *why, size_t why_size);
void systemd_done(struct runtime *rt);
int systemd_check(const struct runtime *rt, const struct confinement *c, const char *home, bool no_new_privs,
                  char *why, size_t why_size);
int systemd_start(struct runtime *rt, const struct identity *i, const struct template *t, struct task_spec *spec,
                  struct runtime_task *task, char *error, size_t error_size);
int systemd_started(struct runtime *rt, struct runtime_task *task, char *error, size_t error_size);
int systemd_signal(struct runtime *rt, struct runtime_task *task, int signo);
int systemd_kill(struct runtime *rt, struct runtime_task *task);
int systemd_collect(struct runtime *rt, struct runtime_task *task, int *wait_status);
void systemd_release(struct runtime *rt, struct runtime_task *task);
void systemd_process(struct runtime *rt);
int systemd_attach(struct runtime *rt, const struct identity *i, struct runtime_task *task);
