/* SPDX-License-Identifier: MIT */
/* The event loop (server.c): the top of the broker, which wires the parts
 * together; nothing below calls into it. */
#pragma once

struct broker;

int server_run(struct broker *b);

/* Where template load problems go (at start and on SIGHUP): the log, as
 * warnings. */
void broker_report_template_problem(const char *message);
