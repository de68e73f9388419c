/* SPDX-License-Identifier: MIT */
/* JSON text of a jansson value, byte for byte what
 * json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) writes, at a fraction of its
 * cost: jansson formats through a callback per token and snprintf per
 * number, about 40,000 instructions for one identity reply, which made
 * formatting replies a fifth of the broker's work (docs/performance.md). */
#pragma once

#include <jansson.h>
#include <stddef.h>

/* A newly allocated, NUL-terminated string, its length in *ret_len (when
 * not NULL); NULL on allocation failure or nesting deeper than 1024. */
char *json_write_compact(const json_t *v, size_t *ret_len);
