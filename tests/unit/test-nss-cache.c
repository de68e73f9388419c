/* SPDX-License-Identifier: MIT */
/* The NSS cache file: the broker's writer, the module's reader, and the
 * module's NSS entry points, on real files in a temporary directory,
 * including files broken on purpose. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <setjmp.h>
#include <shadow.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agentid/nss-cache.h"
#include "nss-cache-read.h"
#include "nss-cache.h"

#define UID0 UINT32_C(1879048192)
#define HOUR (UINT64_C(3600) * 1000000)

enum nss_status _nss_agentid_getpwnam_r(const char *, struct passwd *, char *, size_t, int *);
enum nss_status _nss_agentid_getpwuid_r(uid_t, struct passwd *, char *, size_t, int *);
enum nss_status _nss_agentid_getgrgid_r(gid_t, struct group *, char *, size_t, int *);
enum nss_status _nss_agentid_getspnam_r(const char *, struct spwd *, char *, size_t, int *);
enum nss_status _nss_agentid_initgroups_dyn(const char *, gid_t, long int *, long int *, gid_t **, long int, int *);
enum nss_status _nss_agentid_setpwent(int);
enum nss_status _nss_agentid_getpwent_r(struct passwd *, char *, size_t, int *);

static char dir[64];
static char path[128];

static int setup(void **state) {
        strcpy(dir, "/tmp/test-nss-cache.XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/nss/%s", dir, AGENTID_NSS_CACHE_FILE);
        setenv(AGENTID_NSS_CACHE_ENV, path, 1);
        return 0;
}

static int teardown(void **state) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
        return 0;
}

static void subdir(char *buf, size_t size) {
        snprintf(buf, size, "%s/nss", dir);
}

static struct nss_cache *new_cache(uint32_t capacity) {
        struct nss_cache *c = NULL;
        char d[128];

        subdir(d, sizeof(d));
        assert_int_equal(nss_cache_new(d, "ag-", UID0, UID0 + 10000000, capacity, &c), 0);
        return c;
}

static void add(struct nss_cache *c, const char *name, uint32_t uid, uint64_t expires, const char *groups) {
        char home[128];
        struct nss_cache_item it = {
                .name = name, .uid = uid, .expires_usec = expires, .home = home, .shell = "/bin/sh",
                .groups = groups,
        };
        snprintf(home, sizeof(home), "/var/lib/agentid/home/%s", name);
        assert_int_equal(nss_cache_add(c, &it, true), 0);
}

static void test_write_read(void **state) {
        struct nss_cache *c = new_cache(0);
        struct nss_cache_map m;
        struct nss_cache_entry e;
        uint64_t now = nss_cache_now_usec();
        struct stat st;

        add(c, "ag-t-aaaaaa", UID0 + 1, now + HOUR, "root");
        add(c, "ag-t-bbbbbb", UID0 + 2, now + HOUR, NULL);
        /* Not visible before publish. */
        assert_int_equal(nss_cache_map_open(path, &m), -ENOENT);
        assert_int_equal(nss_cache_publish(c), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);

        assert_int_equal(nss_cache_map_open(path, &m), 0);
        assert_int_equal(nss_cache_lookup_name(&m, "ag-t-aaaaaa", now, &e), 0);
        assert_int_equal(e.uid, UID0 + 1);
        assert_string_equal(e.home, "/var/lib/agentid/home/ag-t-aaaaaa");
        assert_string_equal(e.shell, "/bin/sh");
        assert_int_equal(e.n_gids, 1);
        assert_int_equal(e.gids[0], 0);
        assert_int_equal(nss_cache_lookup_uid(&m, UID0 + 2, now, &e), 0);
        assert_string_equal(e.name, "ag-t-bbbbbb");
        assert_string_equal(e.home, "/var/lib/agentid/home/ag-t-bbbbbb");
        assert_int_equal(e.n_gids, 0);
        /* Absent ones, out of range, wrong prefix. */
        assert_int_equal(nss_cache_lookup_name(&m, "ag-t-cccccc", now, &e), -ENOENT);
        assert_int_equal(nss_cache_lookup_uid(&m, UID0 + 3, now, &e), -ENOENT);
        assert_int_equal(nss_cache_lookup_uid(&m, 1000, now, &e), -ENOENT);
        assert_int_equal(nss_cache_lookup_name(&m, "root", now, &e), -ENOENT);

        /* Remove: gone at once for a reader that keeps its mapping. */
        assert_int_equal(nss_cache_remove_uid(c, UID0 + 1), 0);
        assert_int_equal(nss_cache_lookup_name(&m, "ag-t-aaaaaa", now, &e), -ENOENT);
        assert_int_equal(nss_cache_lookup_uid(&m, UID0 + 1, now, &e), -ENOENT);
        assert_int_equal(nss_cache_remove_uid(c, UID0 + 1), -ENOENT);
        assert_int_equal(nss_cache_lookup_uid(&m, UID0 + 2, now, &e), 0);

        /* Update: re-adding a name replaces its record. */
        add(c, "ag-t-bbbbbb", UID0 + 2, now + 2 * HOUR, "root");
        assert_int_equal(nss_cache_lookup_name(&m, "ag-t-bbbbbb", now, &e), 0);
        assert_true(e.expires_usec == now + 2 * HOUR);
        assert_int_equal(e.n_gids, 1);
        assert_int_equal(nss_cache_count(c), 1);
        assert_false(nss_cache_map_retired(&m));

        nss_cache_map_close(&m);
        nss_cache_free(c);
        /* The published file outlives the writer (broker down). */
        assert_int_equal(access(path, R_OK), 0);
}

static void test_expire(void **state) {
        struct nss_cache *c = new_cache(0);
        struct nss_cache_map m;
        struct nss_cache_entry e;
        uint64_t now = nss_cache_now_usec();
        uint32_t idx, seen = 0;

        add(c, "ag-t-expire", UID0 + 5, now + 1000, NULL);
        add(c, "ag-t-stays1", UID0 + 6, now + HOUR, NULL);
        assert_int_equal(nss_cache_publish(c), 0);
        assert_int_equal(nss_cache_map_open(path, &m), 0);
        assert_int_equal(nss_cache_lookup_name(&m, "ag-t-expire", now, &e), 0);
        /* Nobody removed it, and yet past its expiry it is absent. */
        assert_int_equal(nss_cache_lookup_name(&m, "ag-t-expire", now + 1000, &e), -ENOENT);
        assert_int_equal(nss_cache_lookup_uid(&m, UID0 + 5, now + 2000, &e), -ENOENT);
        for (idx = 0; nss_cache_get_slot(&m, idx, now + 2000, &e) != -ERANGE; idx++)
                if (nss_cache_get_slot(&m, idx, now + 2000, &e) == 0) {
                        assert_string_equal(e.name, "ag-t-stays1");
                        seen++;
                }
        assert_int_equal(seen, 1);
        nss_cache_map_close(&m);
        nss_cache_free(c);
}

static void test_grow_replace(void **state) {
        struct nss_cache *c = new_cache(4);
        struct nss_cache_map old, m;
        struct nss_cache_entry e;
        uint64_t now = nss_cache_now_usec();
        char name[33];
        struct stat st1, st2;

        add(c, "ag-t-first0", UID0, now + HOUR, NULL);
        assert_int_equal(nss_cache_publish(c), 0);
        assert_int_equal(nss_cache_map_open(path, &old), 0);
        assert_int_equal(stat(path, &st1), 0);
        for (uint32_t k = 1; k < 3000; k++) {
                snprintf(name, sizeof(name), "ag-t-%06u", k);
                add(c, name, UID0 + k, now + HOUR, k % 2 ? "root" : NULL);
                if (k % 3 == 0)
                        assert_int_equal(nss_cache_remove_uid(c, UID0 + k - 1), 0);
        }
        assert_true(nss_cache_capacity(c) >= 2000);
        /* The old mapping was told, and a fresh one sees everything. */
        assert_true(nss_cache_map_retired(&old));
        assert_int_equal(stat(path, &st2), 0);
        assert_true(st1.st_ino != st2.st_ino);
        assert_int_equal(nss_cache_map_open(path, &m), 0);
        assert_true(nss_cache_map_generation(&m) > nss_cache_map_generation(&old));
        assert_false(nss_cache_map_retired(&m));
        for (uint32_t k = 1; k < 3000; k++) {
                bool removed = (k + 1) % 3 == 0 && k + 1 < 3000; /* removed when k + 1 was added */
                snprintf(name, sizeof(name), "ag-t-%06u", k);
                assert_int_equal(nss_cache_lookup_name(&m, name, now, &e), removed ? -ENOENT : 0);
                assert_int_equal(nss_cache_lookup_uid(&m, UID0 + k, now, &e), removed ? -ENOENT : 0);
                if (!removed)
                        assert_string_equal(e.name, name);
        }
        assert_int_equal(nss_cache_lookup_name(&m, "ag-t-first0", now, &e), 0);
        /* No stray temporary files left in the directory. */
        assert_int_equal(system("test $(ls -A $(dirname \"$AGENTID_NSS_CACHE\") | wc -l) = 1"), 0);
        nss_cache_map_close(&old);
        nss_cache_map_close(&m);
        nss_cache_free(c);
}

/* Publish a cache with one agent, return the header. */
static struct agentid_nss_header make_file(void) {
        struct nss_cache *c = new_cache(16);
        struct agentid_nss_header h;
        int fd;

        add(c, "ag-t-victim", UID0 + 7, nss_cache_now_usec() + HOUR, NULL);
        assert_int_equal(nss_cache_publish(c), 0);
        nss_cache_free(c);
        fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, &h, sizeof(h), 0), sizeof(h));
        close(fd);
        return h;
}

static void poke(uint64_t off, const void *data, size_t n) {
        int fd = open(path, O_WRONLY);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, data, n, (off_t) off), (ssize_t) n);
        close(fd);
}

static int open_and_lookup(void) {
        struct nss_cache_map m;
        struct nss_cache_entry e;
        int r = nss_cache_map_open(path, &m);

        if (r < 0)
                return r;
        r = nss_cache_lookup_name(&m, "ag-t-victim", nss_cache_now_usec(), &e);
        if (r == 0)
                r = nss_cache_lookup_uid(&m, UID0 + 7, nss_cache_now_usec(), &e);
        nss_cache_map_close(&m);
        return r;
}

static void test_corrupt_header(void **state) {
        struct agentid_nss_header h = make_file();
        uint32_t v;
        uint64_t off;

        assert_int_equal(open_and_lookup(), 0);

        /* Truncated: shorter than the header says. */
        assert_int_equal(truncate(path, (off_t) (h.file_size / 2)), 0);
        assert_int_equal(open_and_lookup(), -EBADMSG);
        assert_int_equal(truncate(path, 10), 0);
        assert_int_equal(open_and_lookup(), -EBADMSG);
        assert_int_equal(truncate(path, 0), 0);
        assert_int_equal(open_and_lookup(), -EBADMSG);

        h = make_file();
        poke(0, "BADMAGIC", 8);
        assert_int_equal(open_and_lookup(), -EBADMSG);

        h = make_file();
        v = AGENTID_NSS_CACHE_VERSION + 1;
        poke(offsetof(struct agentid_nss_header, version), &v, sizeof(v));
        assert_int_equal(open_and_lookup(), -EBADMSG);

        /* Sections out of bounds, misaligned, or overflowing. */
        h = make_file();
        off = h.file_size - 8;
        poke(offsetof(struct agentid_nss_header, uid_index_offset), &off, sizeof(off));
        assert_int_equal(open_and_lookup(), -EBADMSG);
        h = make_file();
        off = h.records_offset + 1;
        poke(offsetof(struct agentid_nss_header, records_offset), &off, sizeof(off));
        assert_int_equal(open_and_lookup(), -EBADMSG);
        h = make_file();
        off = UINT64_MAX - 7;
        poke(offsetof(struct agentid_nss_header, profiles_offset), &off, sizeof(off));
        assert_int_equal(open_and_lookup(), -EBADMSG);
        h = make_file();
        v = AGENTID_NSS_RECORDS_LIMIT + 1;
        poke(offsetof(struct agentid_nss_header, n_records), &v, sizeof(v));
        assert_int_equal(open_and_lookup(), -EBADMSG);
        /* n_slots not a power of two, or no bigger than n_records. */
        h = make_file();
        v = h.n_slots - 1;
        poke(offsetof(struct agentid_nss_header, n_slots), &v, sizeof(v));
        assert_int_equal(open_and_lookup(), -EBADMSG);
        h = make_file();
        v = h.n_records;
        poke(offsetof(struct agentid_nss_header, n_slots), &v, sizeof(v));
        assert_int_equal(open_and_lookup(), -EBADMSG);
        /* An unterminated prefix. */
        h = make_file();
        poke(offsetof(struct agentid_nss_header, name_prefix), "xxxxxxxxxxxxxxxx", 16);
        assert_int_equal(open_and_lookup(), -EBADMSG);
        /* Writable by others: refused whatever it holds. */
        h = make_file();
        assert_int_equal(chmod(path, 0666), 0);
        assert_int_equal(open_and_lookup(), -EPERM);
        assert_int_equal(chmod(path, 0644), 0);
        assert_int_equal(open_and_lookup(), 0);
}

static void fill_slots(uint64_t index_offset, uint32_t n_slots, uint32_t value) {
        uint32_t *all = malloc(n_slots * sizeof(uint32_t));
        assert_non_null(all);
        for (uint32_t k = 0; k < n_slots; k++)
                all[k] = value;
        poke(index_offset, all, n_slots * sizeof(uint32_t));
        free(all);
}

static void test_corrupt_records(void **state) {
        struct agentid_nss_header h = make_file();
        struct agentid_nss_record rec;
        struct agentid_nss_profile prof;
        uint32_t v;
        int fd;

        /* Index slots pointing past the record table. */
        fill_slots(h.name_index_offset, h.n_slots, h.n_records + 5);
        assert_int_equal(open_and_lookup(), -EBADMSG);

        /* "Loops": a table without an empty slot, all tombstones or all
         * pointing at a record of another name. Probing stops. */
        h = make_file();
        fill_slots(h.name_index_offset, h.n_slots, AGENTID_NSS_SLOT_TOMBSTONE);
        assert_int_equal(open_and_lookup(), -ENOENT);
        h = make_file();
        fill_slots(h.uid_index_offset, h.n_slots, 1);
        fd = open(path, O_RDWR);
        assert_int_equal(pread(fd, &rec, sizeof(rec), (off_t) h.records_offset), sizeof(rec));
        rec.uid = UID0 + 99; /* record 0 now answers for another uid */
        assert_int_equal(pwrite(fd, &rec, sizeof(rec), (off_t) h.records_offset), sizeof(rec));
        close(fd);
        assert_int_equal(open_and_lookup(), -ENOENT);

        /* Oversize fields: a name without its NUL, a uid outside the file's
         * range, a profile index out of bounds, too many gids, an
         * unterminated shell. */
        h = make_file();
        fd = open(path, O_RDWR);
        assert_int_equal(pread(fd, &rec, sizeof(rec), (off_t) h.records_offset), sizeof(rec));
        memset(rec.name, 'a', sizeof(rec.name));
        assert_int_equal(pwrite(fd, &rec, sizeof(rec), (off_t) h.records_offset), sizeof(rec));
        close(fd);
        assert_int_equal(open_and_lookup(), -EBADMSG);

        h = make_file();
        fd = open(path, O_RDWR);
        assert_int_equal(pread(fd, &rec, sizeof(rec), (off_t) h.records_offset), sizeof(rec));
        rec.profile = h.n_profiles;
        assert_int_equal(pwrite(fd, &rec, sizeof(rec), (off_t) h.records_offset), sizeof(rec));
        close(fd);
        assert_int_equal(open_and_lookup(), -EBADMSG);

        h = make_file();
        fd = open(path, O_RDWR);
        assert_int_equal(pread(fd, &rec, sizeof(rec), (off_t) h.records_offset), sizeof(rec));
        assert_int_equal(pread(fd, &prof, sizeof(prof), (off_t) (h.profiles_offset + rec.profile * sizeof(prof))),
                         sizeof(prof));
        prof.n_gids = AGENTID_NSS_GIDS_MAX + 1;
        assert_int_equal(pwrite(fd, &prof, sizeof(prof), (off_t) (h.profiles_offset + rec.profile * sizeof(prof))),
                         sizeof(prof));
        close(fd);
        assert_int_equal(open_and_lookup(), -EBADMSG);

        h = make_file();
        fd = open(path, O_RDWR);
        assert_int_equal(pread(fd, &rec, sizeof(rec), (off_t) h.records_offset), sizeof(rec));
        assert_int_equal(pread(fd, &prof, sizeof(prof), (off_t) (h.profiles_offset + rec.profile * sizeof(prof))),
                         sizeof(prof));
        memset(prof.shell, '/', sizeof(prof.shell));
        assert_int_equal(pwrite(fd, &prof, sizeof(prof), (off_t) (h.profiles_offset + rec.profile * sizeof(prof))),
                         sizeof(prof));
        close(fd);
        assert_int_equal(open_and_lookup(), -EBADMSG);

        /* A writer killed mid-write leaves an odd sequence: the reader gives
         * up after bounded retries instead of spinning forever. */
        h = make_file();
        v = 1;
        poke(h.records_offset + offsetof(struct agentid_nss_record, seq), &v, sizeof(v));
        assert_int_equal(open_and_lookup(), -EAGAIN);
}

/* The module's entry points: ERANGE, errnop, shadow, groups, enumeration,
 * noticing a replaced file, a missing file. */
static void test_module(void **state) {
        struct nss_cache *c = new_cache(0);
        uint64_t now = nss_cache_now_usec();
        struct passwd pw;
        struct group gr;
        struct spwd sp;
        char buf[1024];
        int err = 0;
        long start = 1, size = 1;
        gid_t *groups = malloc(sizeof(gid_t));
        unsigned n = 0;

        add(c, "ag-t-module", UID0 + 42, now + HOUR, "root");
        assert_int_equal(nss_cache_publish(c), 0);

        assert_int_equal(_nss_agentid_getpwnam_r("ag-t-module", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
        assert_string_equal(pw.pw_name, "ag-t-module");
        assert_int_equal(pw.pw_uid, UID0 + 42);
        assert_int_equal(pw.pw_gid, UID0 + 42);
        assert_string_equal(pw.pw_dir, "/var/lib/agentid/home/ag-t-module");
        assert_string_equal(pw.pw_shell, "/bin/sh");
        for (size_t small = 0; small < 40; small++) {
                err = 0;
                assert_int_equal(_nss_agentid_getpwnam_r("ag-t-module", &pw, buf, small, &err), NSS_STATUS_TRYAGAIN);
                assert_int_equal(err, ERANGE);
        }
        assert_int_equal(_nss_agentid_getpwuid_r(UID0 + 42, &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
        assert_int_equal(_nss_agentid_getpwuid_r(UID0 + 43, &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
        assert_int_equal(err, ENOENT);
        assert_int_equal(_nss_agentid_getpwuid_r(0, &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
        assert_int_equal(_nss_agentid_getpwnam_r("root", &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
        assert_int_equal(_nss_agentid_getpwnam_r("ag-waytoolongnamewaytoolongname-xx", &pw, buf, sizeof(buf), &err),
                         NSS_STATUS_NOTFOUND);

        assert_int_equal(_nss_agentid_getgrgid_r(UID0 + 42, &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
        assert_string_equal(gr.gr_name, "ag-t-module");
        assert_null(gr.gr_mem[0]);
        assert_int_equal(_nss_agentid_getgrgid_r(UID0 + 42, &gr, buf, 8, &err), NSS_STATUS_TRYAGAIN);
        assert_int_equal(err, ERANGE);

        assert_int_equal(_nss_agentid_getspnam_r("ag-t-module", &sp, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
        assert_string_equal(sp.sp_pwdp, "!*");
        assert_true(sp.sp_expire >= (long) (now / 86400000000) + 1);
        assert_int_equal(sp.sp_lstchg, -1);

        groups[0] = UID0 + 42;
        assert_int_equal(_nss_agentid_initgroups_dyn("ag-t-module", UID0 + 42, &start, &size, &groups, 0, &err),
                         NSS_STATUS_SUCCESS);
        assert_int_equal(start, 2);
        assert_int_equal(groups[1], 0);
        free(groups);

        _nss_agentid_setpwent(0);
        while (_nss_agentid_getpwent_r(&pw, buf, sizeof(buf), &err) == NSS_STATUS_SUCCESS)
                n++;
        assert_int_equal(n, 1);

        /* Replaced file (a new broker): the retired flag makes the module
         * remap at once; the old agent is gone, the new one visible. */
        c = (nss_cache_free(c), new_cache(0));
        add(c, "ag-t-second", UID0 + 43, now + HOUR, NULL);
        assert_int_equal(nss_cache_publish(c), 0);
        assert_int_equal(_nss_agentid_getpwnam_r("ag-t-second", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
        assert_int_equal(_nss_agentid_getpwnam_r("ag-t-module", &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
        nss_cache_free(c);

        /* No file at all: UNAVAIL, at once. */
        setenv(AGENTID_NSS_CACHE_ENV, "/nonexistent/agents.cache", 1);
        sleep(1);
        assert_int_equal(_nss_agentid_getpwnam_r("ag-t-second", &pw, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
        setenv(AGENTID_NSS_CACHE_ENV, path, 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_write_read, setup, teardown),
                cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
                cmocka_unit_test_setup_teardown(test_grow_replace, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_header, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_records, setup, teardown),
                cmocka_unit_test_setup_teardown(test_module, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
