/* SPDX-License-Identifier: MIT */
/* An SQLite VFS over the default one that gathers the appends to a WAL
 * file into one write(2) per commit. SQLite writes every WAL frame as two
 * pwrite calls (a 24-byte header, then the page): with a dozen
 * lifecycles per commit, those calls were a fifth of the broker's CPU
 * time (docs/performance.md). Contiguous appends are kept in memory and
 * written at the latest when SQLite syncs, reads, sizes, truncates or
 * closes the file, or when 124 KiB are pending; files other than WALs pass
 * straight through.
 *
 * Only for connections with synchronous = FULL (store_open): SQLite then
 * syncs the WAL at every commit before publishing it to other connections,
 * so nothing another connection may read is ever still in the buffer. */
#pragma once

/* Register the VFS (once; later calls return the same name). Returns 0 and
 * its name for sqlite3_open_v2, or a negative errno. */
int wal_batch_vfs(const char **ret_name);
