/* SPDX-License-Identifier: MIT */
/* INI files through inih, with the line number of each key handed to the
 * handler so errors can say file:line. */
#pragma once

#include <stddef.h>

/* Return 0 to go on, or a negative errno after writing a description of
 * the problem into why (why_size bytes). */
typedef int (*ini_key_handler)(void *userdata, const char *section, const char *key, const char *value,
                               char *why, size_t why_size);

/* Parse path. On failure returns a negative errno and writes
 * "path:line: description" into error (error_size bytes). -ENOENT if the
 * file does not exist (error left empty). */
int ini_file_parse(const char *path, ini_key_handler handler, void *userdata, char *error, size_t error_size);

/* Split a list value ("a, b  c") into words; calls fn for each word.
 * Stops at the first negative return and returns it. */
int ini_split_list(const char *value, int (*fn)(void *userdata, const char *word), void *userdata);

/* Parse yes/no/true/false/1/0. */
int ini_parse_bool(const char *value, int *ret);
