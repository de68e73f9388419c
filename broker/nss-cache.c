/* SPDX-License-Identifier: MIT */
/*
 * Writing the NSS cache file. The broker is the only writer, from its
 * single-threaded event loop; readers are any process on the host, at any
 * moment. Every change to a record or profile goes through seq_write (the
 * writer half of the seqlock, docs/nss-cache.md), and index slots are
 * published with release stores after the record they point at.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agentid/identity.h"
#include "agentid/nss-cache.h"
#include "id-directory.h"
#include "macro.h"
#include "nss-cache.h"

#define DEFAULT_CAPACITY 1024
#define DEFAULT_PROFILES 64
#define PAGE 4096

struct wprofile {
        uint32_t refs;  /* live records pointing here; 0: slot free */
        char *groups;   /* the group names it was resolved from */
};

struct nss_cache {
        char *dir, *path, *tmp_path; /* tmp_path: until published */
        uint8_t *base;
        size_t size;
        struct agentid_nss_header *hdr;
        struct agentid_nss_record *records;
        struct agentid_nss_profile *profiles;
        uint32_t *name_index, *uid_index;
        uint32_t n_records, n_profiles, n_slots;
        uint32_t records_used, n_live, name_fill, uid_fill;
        uint32_t *free_records;
        uint32_t n_free;
        struct wprofile *wprofiles;
        char prefix[16];
        uint32_t uid_min, uid_max;
        uint64_t generation;
};

static uint64_t align_up(uint64_t v, uint64_t a) {
        return (v + a - 1) / a * a;
}

static uint64_t realtime_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* The writer half of the seqlock: odd counter, fence, the object's words,
 * even counter (release). Word 0 holds the counter and the flags. */
static void seq_write(void *obj, const void *src, size_t n) {
        uint32_t *seqp = obj;
        uint32_t s = __atomic_load_n(seqp, __ATOMIC_RELAXED);

        __atomic_store_n(seqp, s + 1, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        __atomic_store_n(seqp + 1, ((const uint32_t *) src)[1], __ATOMIC_RELAXED);
        for (size_t k = 1; k < n / 8; k++)
                __atomic_store_n((uint64_t *) obj + k, ((const uint64_t *) src)[k], __ATOMIC_RELAXED);
        __atomic_store_n(seqp, s + 2, __ATOMIC_RELEASE);
}

static void cache_unmap(struct nss_cache *c) {
        if (c->base)
                munmap(c->base, c->size);
        c->base = NULL;
        if (c->wprofiles)
                for (uint32_t k = 0; k < c->n_profiles; k++)
                        free(c->wprofiles[k].groups);
        free(c->wprofiles);
        free(c->free_records);
        c->wprofiles = NULL;
        c->free_records = NULL;
}

void nss_cache_free(struct nss_cache *c) {
        if (!c)
                return;
        if (c->tmp_path)
                (void) unlink(c->tmp_path);
        cache_unmap(c);
        free(c->tmp_path);
        free(c->path);
        free(c->dir);
        free(c);
}

static int make_dir(const char *path) {
        struct stat st;

        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                return -errno;
        if (lstat(path, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        /* Readers trust what is in here: nobody else may add or rename. */
        if ((st.st_mode & 07777) != 0755 && chmod(path, 0755) < 0)
                return -errno;
        return 0;
}

/* Create and map an empty, unpublished file of this capacity into c (whose
 * dir, prefix, range and generation are set). */
static int cache_create_file(struct nss_cache *c, uint32_t n_records, uint32_t n_profiles) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        struct agentid_nss_header *h;
        uint64_t off_records, off_profiles, off_name, off_uid, size;
        uint32_t n_slots = 1;
        void *p;

        if (n_records == 0 || n_records > AGENTID_NSS_RECORDS_LIMIT || n_profiles == 0 ||
            n_profiles > AGENTID_NSS_PROFILES_LIMIT)
                return -E2BIG;
        /* Load factor <= 1/2 when full, so probe sequences stay short. */
        while (n_slots < 2 * n_records)
                n_slots <<= 1;

        off_records = PAGE;
        off_profiles = align_up(off_records + (uint64_t) n_records * sizeof(struct agentid_nss_record), PAGE);
        off_name = align_up(off_profiles + (uint64_t) n_profiles * sizeof(struct agentid_nss_profile), PAGE);
        off_uid = align_up(off_name + (uint64_t) n_slots * sizeof(uint32_t), PAGE);
        size = align_up(off_uid + (uint64_t) n_slots * sizeof(uint32_t), PAGE);

        if (asprintf(&tmp, "%s/." AGENTID_NSS_CACHE_FILE ".XXXXXX", c->dir) < 0) {
                tmp = NULL;
                return -ENOMEM;
        }
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* ftruncate leaves the file sparse: tmpfs spends memory only on the
         * pages we touch. */
        if (fchmod(fd, 0644) < 0 || ftruncate(fd, (off_t) size) < 0) {
                int r = -errno;
                unlink(tmp);
                return r;
        }
        p = mmap(NULL, (size_t) size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
                int r = -errno;
                unlink(tmp);
                return r;
        }
        c->free_records = malloc((size_t) n_records * sizeof(uint32_t));
        c->wprofiles = calloc(n_profiles, sizeof(struct wprofile));
        if (!c->free_records || !c->wprofiles) {
                free(c->free_records);
                free(c->wprofiles);
                c->free_records = NULL;
                c->wprofiles = NULL;
                munmap(p, (size_t) size);
                unlink(tmp);
                return -ENOMEM;
        }

        c->base = p;
        c->size = (size_t) size;
        c->tmp_path = TAKE_PTR(tmp);
        c->hdr = h = p;
        c->records = (struct agentid_nss_record *) (c->base + off_records);
        c->profiles = (struct agentid_nss_profile *) (c->base + off_profiles);
        c->name_index = (uint32_t *) (c->base + off_name);
        c->uid_index = (uint32_t *) (c->base + off_uid);
        c->n_records = n_records;
        c->n_profiles = n_profiles;
        c->n_slots = n_slots;
        c->records_used = c->n_live = c->name_fill = c->uid_fill = c->n_free = 0;

        memcpy(h->magic, AGENTID_NSS_CACHE_MAGIC, sizeof(h->magic));
        h->version = AGENTID_NSS_CACHE_VERSION;
        h->header_size = sizeof(struct agentid_nss_header);
        h->record_size = sizeof(struct agentid_nss_record);
        h->profile_size = sizeof(struct agentid_nss_profile);
        h->uid_min = c->uid_min;
        h->uid_max = c->uid_max;
        h->n_records = n_records;
        h->n_profiles = n_profiles;
        h->n_slots = n_slots;
        h->records_offset = off_records;
        h->profiles_offset = off_profiles;
        h->name_index_offset = off_name;
        h->uid_index_offset = off_uid;
        h->file_size = size;
        h->generation = c->generation;
        memcpy(h->name_prefix, c->prefix, sizeof(h->name_prefix));
        return 0;
}

int nss_cache_new(const char *dir, const char *name_prefix, uint32_t uid_min, uint32_t uid_max, uint32_t capacity,
                  struct nss_cache **ret) {
        struct nss_cache *c;
        int r;

        if (strlen(name_prefix) >= sizeof(c->prefix) || uid_min > uid_max)
                return -EINVAL;
        r = make_dir(dir);
        if (r < 0)
                return r;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->dir = strdup(dir);
        if (!c->dir || asprintf(&c->path, "%s/%s", dir, AGENTID_NSS_CACHE_FILE) < 0) {
                c->path = NULL;
                nss_cache_free(c);
                return -ENOMEM;
        }
        snprintf(c->prefix, sizeof(c->prefix), "%s", name_prefix);
        c->uid_min = uid_min;
        c->uid_max = uid_max;
        /* Generations grow across broker restarts too: start at the clock. */
        c->generation = realtime_usec();
        r = cache_create_file(c, capacity ? capacity : DEFAULT_CAPACITY, DEFAULT_PROFILES);
        if (r < 0) {
                nss_cache_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

/* Mark the file now at c->path (another broker's, or ours) retired. Readers
 * look only for a nonzero value, so a plain pwrite will do. */
static void retire_fd(int fd) {
        struct agentid_nss_header h;
        uint32_t one = 1;

        if (pread(fd, &h, sizeof(h), 0) == (ssize_t) sizeof(h) &&
            memcmp(h.magic, AGENTID_NSS_CACHE_MAGIC, sizeof(h.magic)) == 0)
                (void) !pwrite(fd, &one, sizeof(one), offsetof(struct agentid_nss_header, retired));
}

/* Rename the unpublished file into place; retire what was there. */
static int cache_rename_into_place(struct nss_cache *c, struct agentid_nss_header *old_mapped) {
        _cleanup_close_ int old_fd = -1;

        if (!old_mapped)
                old_fd = open(c->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (rename(c->tmp_path, c->path) < 0)
                return -errno;
        free(c->tmp_path);
        c->tmp_path = NULL;
        /* After the rename, so that a reader who sees the flag finds the new
         * file at the path. */
        if (old_mapped)
                __atomic_store_n(&old_mapped->retired, 1, __ATOMIC_RELEASE);
        else if (old_fd >= 0)
                retire_fd(old_fd);
        return 0;
}

int nss_cache_publish(struct nss_cache *c) {
        if (!c->tmp_path)
                return 0; /* already */
        return cache_rename_into_place(c, NULL);
}

const char *nss_cache_path(const struct nss_cache *c) {
        return c->path;
}

uint32_t nss_cache_count(const struct nss_cache *c) {
        return c->n_live;
}

uint32_t nss_cache_capacity(const struct nss_cache *c) {
        return c->n_records;
}

/* Insert value at the first reusable slot of hash's probe sequence. */
static int index_insert(uint32_t *slots, uint32_t n_slots, uint32_t hash, uint32_t value, uint32_t *fill) {
        uint32_t mask = n_slots - 1;
        unsigned limit = n_slots < AGENTID_NSS_PROBE_LIMIT ? n_slots : AGENTID_NSS_PROBE_LIMIT;

        for (unsigned k = 0; k < limit; k++) {
                uint32_t *s = &slots[(hash + k) & mask];
                uint32_t v = __atomic_load_n(s, __ATOMIC_RELAXED);

                if (v == AGENTID_NSS_SLOT_EMPTY || v == AGENTID_NSS_SLOT_TOMBSTONE) {
                        if (v == AGENTID_NSS_SLOT_EMPTY)
                                (*fill)++;
                        /* Release: the record it points at is complete first. */
                        __atomic_store_n(s, value, __ATOMIC_RELEASE);
                        return 0;
                }
        }
        return -ENOSPC; /* beyond the probe limit: rebuild with more slots */
}

static void index_remove(uint32_t *slots, uint32_t n_slots, uint32_t hash, uint32_t value) {
        uint32_t mask = n_slots - 1;
        unsigned limit = n_slots < AGENTID_NSS_PROBE_LIMIT ? n_slots : AGENTID_NSS_PROBE_LIMIT;

        for (unsigned k = 0; k < limit; k++) {
                uint32_t *s = &slots[(hash + k) & mask];
                uint32_t v = __atomic_load_n(s, __ATOMIC_RELAXED);

                if (v == AGENTID_NSS_SLOT_EMPTY)
                        return;
                if (v == value) {
                        /* A tombstone, not empty: keys further on stay reachable. */
                        __atomic_store_n(s, AGENTID_NSS_SLOT_TOMBSTONE, __ATOMIC_RELEASE);
                        return;
                }
        }
}

/* The live record with this uid or name (name NULL: by uid). */
static int find_record(const struct nss_cache *c, const char *name, uint32_t uid, uint32_t *ret) {
        const uint32_t *slots = name ? c->name_index : c->uid_index;
        uint32_t hash = name ? agentid_nss_hash_name(name) : agentid_nss_hash_uid(uid);
        uint32_t mask = c->n_slots - 1;
        unsigned limit = c->n_slots < AGENTID_NSS_PROBE_LIMIT ? c->n_slots : AGENTID_NSS_PROBE_LIMIT;

        for (unsigned k = 0; k < limit; k++) {
                uint32_t v = slots[(hash + k) & mask];
                const struct agentid_nss_record *rec;

                if (v == AGENTID_NSS_SLOT_EMPTY)
                        break;
                if (v == AGENTID_NSS_SLOT_TOMBSTONE || v - 1 >= c->n_records)
                        continue;
                rec = &c->records[v - 1];
                if (!(rec->flags & AGENTID_NSS_RECORD_LIVE))
                        continue;
                if (name ? strcmp(rec->name, name) == 0 : rec->uid == uid) {
                        *ret = v - 1;
                        return 0;
                }
        }
        return -ENOENT;
}

static void profile_unref(struct nss_cache *c, uint32_t p) {
        struct agentid_nss_profile empty = {};

        if (p >= c->n_profiles || c->wprofiles[p].refs == 0)
                return;
        if (--c->wprofiles[p].refs > 0)
                return;
        free(c->wprofiles[p].groups);
        c->wprofiles[p].groups = NULL;
        seq_write(&c->profiles[p], &empty, sizeof(empty));
}

/* Put a fully formed record in place: a record slot, then both indexes. */
static int insert_record(struct nss_cache *c, const struct agentid_nss_record *rec) {
        uint32_t idx;
        int r;

        if (c->n_free > 0)
                idx = c->free_records[--c->n_free];
        else if (c->records_used < c->n_records)
                idx = c->records_used;
        else
                return -ENOSPC;
        seq_write(&c->records[idx], rec, sizeof(*rec));
        if (idx == c->records_used) {
                c->records_used++;
                __atomic_store_n(&c->hdr->records_used, c->records_used, __ATOMIC_RELEASE);
        }
        r = index_insert(c->name_index, c->n_slots, agentid_nss_hash_name(rec->name), idx + 1, &c->name_fill);
        if (r == 0) {
                r = index_insert(c->uid_index, c->n_slots, agentid_nss_hash_uid(rec->uid), idx + 1, &c->uid_fill);
                if (r < 0)
                        index_remove(c->name_index, c->n_slots, agentid_nss_hash_name(rec->name), idx + 1);
        }
        if (r < 0) {
                struct agentid_nss_record empty = {};
                seq_write(&c->records[idx], &empty, sizeof(empty));
                c->free_records[c->n_free++] = idx;
                return r;
        }
        c->n_live++;
        __atomic_store_n(&c->hdr->n_live, c->n_live, __ATOMIC_RELAXED);
        return 0;
}

static void remove_record(struct nss_cache *c, uint32_t idx) {
        struct agentid_nss_record rec = c->records[idx], empty = {};

        /* The record first: from this store on no reader takes it for live,
         * whatever index slot led it there. */
        seq_write(&c->records[idx], &empty, sizeof(empty));
        index_remove(c->name_index, c->n_slots, agentid_nss_hash_name(rec.name), idx + 1);
        index_remove(c->uid_index, c->n_slots, agentid_nss_hash_uid(rec.uid), idx + 1);
        c->free_records[c->n_free++] = idx;
        c->n_live--;
        __atomic_store_n(&c->hdr->n_live, c->n_live, __ATOMIC_RELAXED);
        profile_unref(c, rec.profile);
}

int nss_cache_remove_uid(struct nss_cache *c, uint32_t uid) {
        uint32_t idx;
        int r = find_record(c, NULL, uid, &idx);

        if (r < 0)
                return r;
        remove_record(c, idx);
        return 0;
}

/*
 * Build a new file of the given capacity holding everything live in c, and
 * swap it in: renamed over the published one (which is marked retired), or
 * replacing the unpublished one. Profiles keep their indexes.
 */
static int cache_rebuild(struct nss_cache *c, uint32_t n_records, uint32_t n_profiles) {
        struct nss_cache n = {
                .dir = c->dir,
                .path = c->path,
                .uid_min = c->uid_min,
                .uid_max = c->uid_max,
                .generation = c->generation + 1,
        };
        bool published = !c->tmp_path;
        int r;

        memcpy(n.prefix, c->prefix, sizeof(n.prefix));
        if (n_profiles < c->n_profiles)
                n_profiles = c->n_profiles;
        r = cache_create_file(&n, n_records, n_profiles);
        if (r < 0)
                return r;
        for (uint32_t p = 0; p < c->n_profiles; p++)
                if (c->wprofiles[p].refs > 0) {
                        n.profiles[p] = c->profiles[p];
                        n.profiles[p].seq = 0;
                        n.wprofiles[p] = c->wprofiles[p];
                }
        for (uint32_t i = 0; i < c->records_used && r == 0; i++)
                if (c->records[i].flags & AGENTID_NSS_RECORD_LIVE) {
                        struct agentid_nss_record rec = c->records[i];
                        rec.seq = 0;
                        r = insert_record(&n, &rec);
                }
        if (r == 0 && published)
                r = cache_rename_into_place(&n, c->hdr);
        if (r < 0) {
                /* Leave c as it was; the profile strings still belong to c. */
                for (uint32_t p = 0; p < n.n_profiles; p++)
                        n.wprofiles[p].groups = NULL;
                (void) unlink(n.tmp_path);
                free(n.tmp_path);
                cache_unmap(&n);
                return r;
        }
        if (!published)
                (void) unlink(c->tmp_path);
        free(c->tmp_path);
        /* The strings moved to n: c's array must not free them. */
        for (uint32_t p = 0; p < c->n_profiles; p++)
                c->wprofiles[p].groups = NULL;
        cache_unmap(c);
        *c = n;
        return 0;
}

/* Resolve "a,b,c" into gids. */
static int resolve_groups(const char *groups, bool strict, uint32_t *gids, uint32_t *n_gids) {
        char name[AGENTID_NAME_MAX + 1];
        uint32_t n = 0;

        for (const char *p = groups; p && *p;) {
                size_t len = strcspn(p, ",");
                gid_t gid;
                int r;

                if (len == 0 || len > AGENTID_NAME_MAX) {
                        if (strict)
                                return -EINVAL;
                } else {
                        memcpy(name, p, len);
                        name[len] = '\0';
                        /* The snapshot, not NSS: this runs in a mint, on
                         * the event loop (id-directory.h). */
                        r = id_directory_group_gid(name, &gid);
                        if (r < 0) {
                                if (strict)
                                        return -ENOENT;
                        } else if (n < AGENTID_NSS_GIDS_MAX) {
                                bool dup = false;
                                for (uint32_t k = 0; k < n; k++)
                                        dup = dup || gids[k] == (uint32_t) gid;
                                if (!dup)
                                        gids[n++] = (uint32_t) gid;
                        } else if (strict)
                                return -E2BIG;
                }
                p += len;
                if (*p == ',')
                        p++;
        }
        *n_gids = n;
        return 0;
}

/* Fill prof's home and shell for this agent; NUL-padded so that equal
 * profiles compare equal with memcmp. */
static int profile_text(const struct nss_cache_item *it, struct agentid_nss_profile *prof) {
        const char *home = it->home ? it->home : "/", *shell = it->shell ? it->shell : "/usr/sbin/nologin";
        const char *at = strstr(home, it->name);

        if (strlen(home) > AGENTID_PATH_MAX || strlen(shell) > AGENTID_PATH_MAX)
                return -ENAMETOOLONG;
        if (at) {
                prof->flags |= AGENTID_NSS_PROFILE_HOME_HAS_NAME;
                memcpy(prof->home_prefix, home, (size_t) (at - home));
                strcpy(prof->home_suffix, at + strlen(it->name));
        } else
                strcpy(prof->home_prefix, home);
        strcpy(prof->shell, shell);
        return 0;
}

/* A profile for this agent: an existing equal one, or a new one. */
static int profile_get(struct nss_cache *c, const struct nss_cache_item *it, bool strict, uint32_t *ret) {
        struct agentid_nss_profile prof = { .flags = AGENTID_NSS_PROFILE_USED };
        const char *groups = it->groups ? it->groups : "";
        uint32_t free_slot = UINT32_MAX;
        int r;

        r = profile_text(it, &prof);
        if (r < 0)
                return r;
        /* Linear in the number of distinct profiles, which is about the
         * number of templates. */
        for (uint32_t p = 0; p < c->n_profiles; p++) {
                const struct agentid_nss_profile *q = &c->profiles[p];
                if (c->wprofiles[p].refs == 0) {
                        if (free_slot == UINT32_MAX)
                                free_slot = p;
                        continue;
                }
                if (q->flags == prof.flags && streq(c->wprofiles[p].groups, groups) &&
                    memcmp(q->home_prefix, prof.home_prefix, sizeof(prof.home_prefix)) == 0 &&
                    memcmp(q->home_suffix, prof.home_suffix, sizeof(prof.home_suffix)) == 0 &&
                    memcmp(q->shell, prof.shell, sizeof(prof.shell)) == 0) {
                        *ret = p;
                        return 0;
                }
        }
        if (free_slot == UINT32_MAX) {
                r = cache_rebuild(c, c->n_records, c->n_profiles * 2);
                if (r < 0)
                        return r;
                return profile_get(c, it, strict, ret);
        }
        r = resolve_groups(groups, strict, prof.gids, &prof.n_gids);
        if (r < 0)
                return r;
        c->wprofiles[free_slot].groups = strdup(groups);
        if (!c->wprofiles[free_slot].groups)
                return -ENOMEM;
        seq_write(&c->profiles[free_slot], &prof, sizeof(prof));
        *ret = free_slot;
        return 0;
}

int nss_cache_add(struct nss_cache *c, const struct nss_cache_item *it, bool strict_groups) {
        struct agentid_nss_record rec = { .flags = AGENTID_NSS_RECORD_LIVE };
        uint32_t idx, p;
        int r;

        if (!it->name || strlen(it->name) == 0 || strlen(it->name) > AGENTID_NAME_MAX ||
            strncmp(it->name, c->prefix, strlen(c->prefix)) != 0 || it->uid < c->uid_min || it->uid > c->uid_max)
                return -EINVAL;
        /* Replacing: out with the old record first. */
        if (find_record(c, it->name, 0, &idx) == 0)
                remove_record(c, idx);
        if (find_record(c, NULL, it->uid, &idx) == 0)
                return -EEXIST; /* another live agent has this uid */

        /* Room: a free record slot, and index load <= 3/4 counting
         * tombstones (a rebuild drops them). */
        if ((c->n_free == 0 && c->records_used >= c->n_records) || c->name_fill + 1 > c->n_slots / 4 * 3 ||
            c->uid_fill + 1 > c->n_slots / 4 * 3) {
                uint32_t want = c->n_live + 1 > c->n_records / 2 ? c->n_records * 2 : c->n_records;
                r = cache_rebuild(c, want, c->n_profiles);
                if (r < 0)
                        return r;
        }

        r = profile_get(c, it, strict_groups, &p);
        if (r < 0)
                return r;
        rec.uid = it->uid;
        rec.profile = p;
        rec.expires_usec = it->expires_usec;
        strcpy(rec.name, it->name);
        /* Written before the record that points at it is visible. */
        c->wprofiles[p].refs++;
        r = insert_record(c, &rec);
        if (r == -ENOSPC) {
                /* A probe sequence hit the limit: more slots. */
                r = cache_rebuild(c, c->n_records * 2, c->n_profiles);
                if (r == 0)
                        r = insert_record(c, &rec);
        }
        if (r < 0)
                profile_unref(c, p);
        return r;
}

int nss_cache_add_identity(struct nss_cache *c, const struct identity *i, bool strict_groups) {
        struct nss_cache_item it = {
                .name = i->name,
                .uid = i->uid,
                .expires_usec = i->expires_usec,
                .home = i->home,
                .shell = i->shell,
                .groups = i->groups,
        };
        return nss_cache_add(c, &it, strict_groups);
}
