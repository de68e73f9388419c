/* SPDX-License-Identifier: MIT */
#include "wal-batch.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <string.h>

#define WAL_BATCH_VFS_NAME "agentid-wal-batch"
/* The unix VFS writes at most 128 KiB - 1 per pwrite call (and fails a
 * write of exactly 128 KiB with SQLITE_FULL): stay below. */
#define PENDING_MAX (124 * 1024)

struct batch_file {
        sqlite3_file base;  /* what SQLite sees: its methods are ours */
        sqlite3_file *real; /* the default VFS's file, right after this struct */
        /* WAL files only: bytes not yet written, for [off, off + len). */
        unsigned char *pending;
        sqlite3_int64 off;
        size_t len, cap;
};

static sqlite3_vfs *real_vfs(sqlite3_vfs *vfs) {
        return vfs->pAppData;
}

static sqlite3_file *real_file(sqlite3_file *f) {
        return ((struct batch_file *) f)->real;
}

static int flush(struct batch_file *b) {
        int rc;

        if (b->len == 0)
                return SQLITE_OK;
        rc = b->real->pMethods->xWrite(b->real, b->pending, (int) b->len, b->off);
        b->len = 0;
        return rc;
}

/* Pass-through methods: every file's, and the WAL's after a flush. */
static int x_close(sqlite3_file *f) {
        struct batch_file *b = (struct batch_file *) f;
        int rc = flush(b), rc2 = b->real->pMethods->xClose(b->real);

        sqlite3_free(b->pending);
        b->pending = NULL;
        return rc != SQLITE_OK ? rc : rc2;
}

static int x_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off) {
        int rc = flush((struct batch_file *) f);
        return rc != SQLITE_OK ? rc : real_file(f)->pMethods->xRead(real_file(f), buf, amt, off);
}

static int x_write_through(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off) {
        return real_file(f)->pMethods->xWrite(real_file(f), buf, amt, off);
}

static int x_write_batched(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off) {
        struct batch_file *b = (struct batch_file *) f;
        int rc;

        if (amt <= 0)
                return x_write_through(f, buf, amt, off);
        if (b->len > 0 && (off != b->off + (sqlite3_int64) b->len || b->len + (size_t) amt > PENDING_MAX)) {
                rc = flush(b);
                if (rc != SQLITE_OK)
                        return rc;
        }
        if ((size_t) amt > PENDING_MAX)
                return x_write_through(f, buf, amt, off);
        if (b->len + (size_t) amt > b->cap) {
                size_t cap = b->cap ? b->cap : PENDING_MAX;
                unsigned char *n;
                while (cap < b->len + (size_t) amt)
                        cap *= 2;
                n = sqlite3_realloc64(b->pending, cap);
                if (!n) {
                        /* No buffer: write what is pending and this one directly. */
                        rc = flush(b);
                        return rc != SQLITE_OK ? rc : x_write_through(f, buf, amt, off);
                }
                b->pending = n;
                b->cap = cap;
        }
        if (b->len == 0)
                b->off = off;
        memcpy(b->pending + b->len, buf, (size_t) amt);
        b->len += (size_t) amt;
        return SQLITE_OK;
}

static int x_truncate(sqlite3_file *f, sqlite3_int64 size) {
        int rc = flush((struct batch_file *) f);
        return rc != SQLITE_OK ? rc : real_file(f)->pMethods->xTruncate(real_file(f), size);
}

static int x_sync(sqlite3_file *f, int flags) {
        int rc = flush((struct batch_file *) f);
        return rc != SQLITE_OK ? rc : real_file(f)->pMethods->xSync(real_file(f), flags);
}

static int x_file_size(sqlite3_file *f, sqlite3_int64 *size) {
        int rc = flush((struct batch_file *) f);
        return rc != SQLITE_OK ? rc : real_file(f)->pMethods->xFileSize(real_file(f), size);
}

static int x_lock(sqlite3_file *f, int lock) {
        return real_file(f)->pMethods->xLock(real_file(f), lock);
}

static int x_unlock(sqlite3_file *f, int lock) {
        return real_file(f)->pMethods->xUnlock(real_file(f), lock);
}

static int x_check_reserved_lock(sqlite3_file *f, int *out) {
        return real_file(f)->pMethods->xCheckReservedLock(real_file(f), out);
}

static int x_file_control(sqlite3_file *f, int op, void *arg) {
        int rc = flush((struct batch_file *) f);
        return rc != SQLITE_OK ? rc : real_file(f)->pMethods->xFileControl(real_file(f), op, arg);
}

static int x_sector_size(sqlite3_file *f) {
        return real_file(f)->pMethods->xSectorSize(real_file(f));
}

static int x_device_characteristics(sqlite3_file *f) {
        return real_file(f)->pMethods->xDeviceCharacteristics(real_file(f));
}

static int x_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **out) {
        return real_file(f)->pMethods->xShmMap(real_file(f), page, size, extend, out);
}

static int x_shm_lock(sqlite3_file *f, int offset, int n, int flags) {
        return real_file(f)->pMethods->xShmLock(real_file(f), offset, n, flags);
}

static void x_shm_barrier(sqlite3_file *f) {
        real_file(f)->pMethods->xShmBarrier(real_file(f));
}

static int x_shm_unmap(sqlite3_file *f, int delete_flag) {
        return real_file(f)->pMethods->xShmUnmap(real_file(f), delete_flag);
}

static int x_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **out) {
        int rc = flush((struct batch_file *) f);
        return rc != SQLITE_OK ? rc : real_file(f)->pMethods->xFetch(real_file(f), off, amt, out);
}

static int x_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p) {
        return real_file(f)->pMethods->xUnfetch(real_file(f), off, p);
}

#define METHODS(write_fn)                                                                                          \
        {                                                                                                          \
                .iVersion = 3, .xClose = x_close, .xRead = x_read, .xWrite = write_fn, .xTruncate = x_truncate,    \
                .xSync = x_sync, .xFileSize = x_file_size, .xLock = x_lock, .xUnlock = x_unlock,                   \
                .xCheckReservedLock = x_check_reserved_lock, .xFileControl = x_file_control,                       \
                .xSectorSize = x_sector_size, .xDeviceCharacteristics = x_device_characteristics,                  \
                .xShmMap = x_shm_map, .xShmLock = x_shm_lock, .xShmBarrier = x_shm_barrier,                        \
                .xShmUnmap = x_shm_unmap, .xFetch = x_fetch, .xUnfetch = x_unfetch,                                \
        }

static const sqlite3_io_methods through_methods = METHODS(x_write_through);
static const sqlite3_io_methods batched_methods = METHODS(x_write_batched);

static int x_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags) {
        struct batch_file *b = (struct batch_file *) f;
        int rc;

        memset(b, 0, sizeof(*b));
        b->real = (sqlite3_file *) (b + 1);
        rc = real_vfs(vfs)->xOpen(real_vfs(vfs), name, b->real, flags, out_flags);
        /* The methods of the real file must be at least as capable as ours
         * claim (version 3: shared memory and mmap): the default unix VFS's
         * are. Otherwise, or on failure, SQLite must see no methods. */
        if (rc != SQLITE_OK || !b->real->pMethods || b->real->pMethods->iVersion < 3) {
                if (rc == SQLITE_OK && b->real->pMethods)
                        b->real->pMethods->xClose(b->real);
                b->base.pMethods = NULL;
                return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
        }
        b->base.pMethods = flags & SQLITE_OPEN_WAL ? &batched_methods : &through_methods;
        return SQLITE_OK;
}

/* The rest of the VFS is the default one's. */
static int x_delete(sqlite3_vfs *v, const char *name, int sync_dir) {
        return real_vfs(v)->xDelete(real_vfs(v), name, sync_dir);
}
static int x_access(sqlite3_vfs *v, const char *name, int flags, int *out) {
        return real_vfs(v)->xAccess(real_vfs(v), name, flags, out);
}
static int x_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out) {
        return real_vfs(v)->xFullPathname(real_vfs(v), name, n, out);
}
static void *x_dl_open(sqlite3_vfs *v, const char *name) {
        return real_vfs(v)->xDlOpen(real_vfs(v), name);
}
static void x_dl_error(sqlite3_vfs *v, int n, char *out) {
        real_vfs(v)->xDlError(real_vfs(v), n, out);
}
static void (*x_dl_sym(sqlite3_vfs *v, void *h, const char *sym))(void) {
        return real_vfs(v)->xDlSym(real_vfs(v), h, sym);
}
static void x_dl_close(sqlite3_vfs *v, void *h) {
        real_vfs(v)->xDlClose(real_vfs(v), h);
}
static int x_randomness(sqlite3_vfs *v, int n, char *out) {
        return real_vfs(v)->xRandomness(real_vfs(v), n, out);
}
static int x_sleep(sqlite3_vfs *v, int usec) {
        return real_vfs(v)->xSleep(real_vfs(v), usec);
}
static int x_current_time(sqlite3_vfs *v, double *out) {
        return real_vfs(v)->xCurrentTime(real_vfs(v), out);
}
static int x_get_last_error(sqlite3_vfs *v, int n, char *out) {
        return real_vfs(v)->xGetLastError(real_vfs(v), n, out);
}
static int x_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *out) {
        return real_vfs(v)->xCurrentTimeInt64(real_vfs(v), out);
}

static sqlite3_vfs batch_vfs = {
        .iVersion = 2,
        .zName = WAL_BATCH_VFS_NAME,
        .xOpen = x_open,
        .xDelete = x_delete,
        .xAccess = x_access,
        .xFullPathname = x_full_pathname,
        .xDlOpen = x_dl_open,
        .xDlError = x_dl_error,
        .xDlSym = x_dl_sym,
        .xDlClose = x_dl_close,
        .xRandomness = x_randomness,
        .xSleep = x_sleep,
        .xCurrentTime = x_current_time,
        .xGetLastError = x_get_last_error,
        .xCurrentTimeInt64 = x_current_time_int64,
};

int wal_batch_vfs(const char **ret_name) {
        sqlite3_vfs *def;

        if (!sqlite3_vfs_find(WAL_BATCH_VFS_NAME)) {
                def = sqlite3_vfs_find(NULL);
                if (!def || def->iVersion < 2)
                        return -ENOSYS;
                batch_vfs.szOsFile = (int) sizeof(struct batch_file) + def->szOsFile;
                batch_vfs.mxPathname = def->mxPathname;
                batch_vfs.pAppData = def;
                if (sqlite3_vfs_register(&batch_vfs, 0) != SQLITE_OK)
                        return -EIO;
        }
        *ret_name = WAL_BATCH_VFS_NAME;
        return 0;
}
