/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Parse "90", "90s", "5m", "1h30m", "2d", "250ms" into microseconds.
 * A bare number means seconds. Returns 0 or -EINVAL / -ERANGE. */
int duration_parse(const char *s, uint64_t *ret_usec);

/* Format a duration compactly ("4m12s", "1h", "0s"), rounded down to the
 * second (to the millisecond below one second). */
char *duration_format(uint64_t usec, char *buf, size_t size);

/* Current CLOCK_REALTIME in microseconds: for timestamps and deadlines
 * that must survive a restart. */
uint64_t now_usec(void);
/* Current CLOCK_MONOTONIC in microseconds and milliseconds: for timeouts
 * and durations measured inside one process. */
uint64_t monotonic_usec(void);
#define monotonic_msec() (monotonic_usec() / 1000)

/* Format epoch microseconds as RFC 3339 UTC ("2026-11-23T07:30:00Z"). */
char *rfc3339_format(uint64_t usec, char *buf, size_t size);
#define RFC3339_MAX sizeof("2026-11-23T07:30:00.000000Z")
