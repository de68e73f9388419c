/* SPDX-License-Identifier: MIT */
/*
 * The reader half of the NSS cache. The file is shared memory that another
 * process writes while we read, and might be hostile: every value taken
 * from it is loaded once, into a local, and checked there before use.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nss-cache-read.h"

uint64_t nss_cache_now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* [off, off + len) lies inside size, 8-byte aligned, without overflow. */
static bool range_ok(uint64_t off, uint64_t count, uint64_t elem, uint64_t size) {
        uint64_t len;

        if (off % 8 != 0 || off > size || off < sizeof(struct agentid_nss_header))
                return false;
        if (count != 0 && elem > UINT64_MAX / count)
                return false;
        len = count * elem;
        return len <= size - off;
}

static bool header_ok(const struct agentid_nss_header *h, uint64_t st_size) {
        if (memcmp(h->magic, AGENTID_NSS_CACHE_MAGIC, sizeof(h->magic)) != 0 ||
            h->version != AGENTID_NSS_CACHE_VERSION || h->header_size != sizeof(struct agentid_nss_header) ||
            h->record_size != sizeof(struct agentid_nss_record) ||
            h->profile_size != sizeof(struct agentid_nss_profile))
                return false;
        if (h->file_size > st_size || h->file_size < sizeof(*h) || h->file_size > (uint64_t) SIZE_MAX)
                return false;
        if (h->uid_min > h->uid_max || h->n_records == 0 || h->n_records > AGENTID_NSS_RECORDS_LIMIT ||
            h->n_profiles == 0 || h->n_profiles > AGENTID_NSS_PROFILES_LIMIT)
                return false;
        /* A power of two with room for an empty slot, so probing ends. */
        if (h->n_slots <= h->n_records || (h->n_slots & (h->n_slots - 1)) != 0)
                return false;
        if (memchr(h->name_prefix, '\0', sizeof(h->name_prefix)) == NULL)
                return false;
        return range_ok(h->records_offset, h->n_records, sizeof(struct agentid_nss_record), h->file_size) &&
               range_ok(h->profiles_offset, h->n_profiles, sizeof(struct agentid_nss_profile), h->file_size) &&
               range_ok(h->name_index_offset, h->n_slots, sizeof(uint32_t), h->file_size) &&
               range_ok(h->uid_index_offset, h->n_slots, sizeof(uint32_t), h->file_size);
}

int nss_cache_map_open(const char *path, struct nss_cache_map *m) {
        struct agentid_nss_header h;
        struct stat st;
        void *p;
        int fd, r = 0;

        *m = (struct nss_cache_map) {};
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto out;
        }
        /* Only its owner (the broker) may be able to write it: a file that
         * others could change could make anyone appear as anyone. */
        if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
                r = -EPERM;
                goto out;
        }
        if ((uint64_t) st.st_size < sizeof(h) || pread(fd, &h, sizeof(h), 0) != (ssize_t) sizeof(h) ||
            !header_ok(&h, (uint64_t) st.st_size)) {
                r = -EBADMSG;
                goto out;
        }
        /* Map what the header describes, no more: past st_size a mapping
         * would fault (checked just above). */
        p = mmap(NULL, (size_t) h.file_size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
                r = -errno;
                goto out;
        }
        m->base = p;
        m->size = (size_t) h.file_size;
        m->dev = st.st_dev;
        m->ino = st.st_ino;
        m->hdr = h;
out:
        close(fd);
        return r;
}

void nss_cache_map_close(struct nss_cache_map *m) {
        if (m->base)
                munmap((void *) m->base, m->size);
        *m = (struct nss_cache_map) {};
}

static const struct agentid_nss_header *shared_header(const struct nss_cache_map *m) {
        return (const struct agentid_nss_header *) m->base;
}

bool nss_cache_map_retired(const struct nss_cache_map *m) {
        return __atomic_load_n(&shared_header(m)->retired, __ATOMIC_ACQUIRE) != 0;
}

uint64_t nss_cache_map_generation(const struct nss_cache_map *m) {
        return m->hdr.generation;
}

static bool name_char_ok(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '_' || c == '.';
}

bool nss_cache_name_plausible(const struct nss_cache_map *m, const char *name) {
        size_t n = 0, plen = strlen(m->hdr.name_prefix);

        if (strncmp(name, m->hdr.name_prefix, plen) != 0)
                return false;
        for (; name[n]; n++)
                if (n >= AGENTID_NAME_MAX || !name_char_ok(name[n]))
                        return false;
        return n > 0;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#else
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

/*
 * Copy n bytes out of a seqlock-protected object. The copy uses relaxed
 * 8-byte atomic loads (plain moves on x86-64, but no data race in the C11
 * sense and never a torn word), ordered before the second sequence load by
 * an acquire fence: the reader half of the protocol in docs/nss-cache.md.
 */
static int seq_copy(const void *src, void *dst, size_t n) {
        const uint32_t *seqp = src;
        const uint64_t *s = src;
        uint64_t *d = dst;

        for (unsigned tries = 0; tries < AGENTID_NSS_SEQ_RETRIES; tries++) {
                uint32_t s1 = __atomic_load_n(seqp, __ATOMIC_ACQUIRE), s2;

                if (s1 & 1) {
                        cpu_relax();
                        continue;
                }
                for (size_t k = 0; k < n / 8; k++)
                        d[k] = __atomic_load_n(&s[k], __ATOMIC_RELAXED);
                __atomic_thread_fence(__ATOMIC_ACQUIRE);
                s2 = __atomic_load_n(seqp, __ATOMIC_RELAXED);
                if (s1 == s2)
                        return 0;
        }
        return -EAGAIN;
}

static const struct agentid_nss_record *record_at(const struct nss_cache_map *m, uint32_t idx) {
        return (const struct agentid_nss_record *) (m->base + m->hdr.records_offset) + idx;
}

static const struct agentid_nss_profile *profile_at(const struct nss_cache_map *m, uint32_t idx) {
        return (const struct agentid_nss_profile *) (m->base + m->hdr.profiles_offset) + idx;
}

static bool text_ok(const char *s, size_t size) {
        return memchr(s, '\0', size) != NULL;
}

/* Fill e from the record at idx. 0, -ENOENT (not live, expired, not
 * consistent with itself), -EAGAIN (kept changing). */
static int read_entry(const struct nss_cache_map *m, uint32_t idx, uint64_t now_usec, struct nss_cache_entry *e) {
        const struct agentid_nss_record *shared = record_at(m, idx);
        struct agentid_nss_record rec;
        struct agentid_nss_profile prof;
        size_t nlen;
        int r;

        r = seq_copy(shared, &rec, sizeof(rec));
        if (r < 0)
                return r;
        if (!(rec.flags & AGENTID_NSS_RECORD_LIVE))
                return -ENOENT;
        /* Expired is absent: TTLs hold even when nobody removes the record. */
        if (rec.expires_usec <= now_usec)
                return -ENOENT;
        if (rec.uid < m->hdr.uid_min || rec.uid > m->hdr.uid_max || rec.profile >= m->hdr.n_profiles)
                return -EBADMSG;
        nlen = strnlen(rec.name, sizeof(rec.name));
        if (nlen == 0 || nlen > AGENTID_NAME_MAX)
                return -EBADMSG;

        r = seq_copy(profile_at(m, rec.profile), &prof, sizeof(prof));
        if (r < 0)
                return r;
        /* The record unchanged since we read it means it kept pointing at
         * this profile all along, so the profile was not recycled. */
        if (__atomic_load_n(&shared->seq, __ATOMIC_ACQUIRE) != rec.seq)
                return -EAGAIN;
        if (!(prof.flags & AGENTID_NSS_PROFILE_USED) || prof.n_gids > AGENTID_NSS_GIDS_MAX ||
            !text_ok(prof.home_prefix, sizeof(prof.home_prefix)) ||
            !text_ok(prof.home_suffix, sizeof(prof.home_suffix)) || !text_ok(prof.shell, sizeof(prof.shell)))
                return -EBADMSG;

        e->uid = rec.uid;
        e->expires_usec = rec.expires_usec;
        memcpy(e->name, rec.name, nlen + 1);
        if (prof.flags & AGENTID_NSS_PROFILE_HOME_HAS_NAME) {
                size_t a = strlen(prof.home_prefix), c = strlen(prof.home_suffix);
                /* Sizes: a, c < TEXT_SIZE, nlen < NAME_SIZE: fits e->home. */
                memcpy(e->home, prof.home_prefix, a);
                memcpy(e->home + a, rec.name, nlen);
                memcpy(e->home + a + nlen, prof.home_suffix, c + 1);
        } else
                memcpy(e->home, prof.home_prefix, strlen(prof.home_prefix) + 1);
        memcpy(e->shell, prof.shell, strlen(prof.shell) + 1);
        e->n_gids = prof.n_gids;
        memcpy(e->gids, prof.gids, prof.n_gids * sizeof(uint32_t));
        return 0;
}

/* Probe one index. match() says whether a read entry is the one sought. */
static int probe(const struct nss_cache_map *m, uint64_t index_offset, uint32_t hash,
                 bool (*match)(const struct nss_cache_entry *e, const void *key), const void *key,
                 uint64_t now_usec, struct nss_cache_entry *e) {
        const uint32_t *slots = (const uint32_t *) (m->base + index_offset);
        uint32_t mask = m->hdr.n_slots - 1;
        unsigned limit = m->hdr.n_slots < AGENTID_NSS_PROBE_LIMIT ? m->hdr.n_slots : AGENTID_NSS_PROBE_LIMIT;

        for (unsigned k = 0; k < limit; k++) {
                uint32_t v = __atomic_load_n(&slots[(hash + k) & mask], __ATOMIC_ACQUIRE);
                int r;

                if (v == AGENTID_NSS_SLOT_EMPTY)
                        return -ENOENT;
                if (v == AGENTID_NSS_SLOT_TOMBSTONE)
                        continue;
                if (v - 1 >= m->hdr.n_records)
                        return -EBADMSG;
                r = read_entry(m, v - 1, now_usec, e);
                if (r == -ENOENT)
                        continue; /* removed or expired: whoever we seek may be further on */
                if (r < 0)
                        return r;
                if (match(e, key))
                        return 0;
        }
        return -ENOENT;
}

static bool match_name(const struct nss_cache_entry *e, const void *key) {
        return strcmp(e->name, key) == 0;
}

static bool match_uid(const struct nss_cache_entry *e, const void *key) {
        return e->uid == *(const uint32_t *) key;
}

int nss_cache_lookup_name(const struct nss_cache_map *m, const char *name, uint64_t now_usec,
                          struct nss_cache_entry *e) {
        if (!nss_cache_name_plausible(m, name))
                return -ENOENT;
        return probe(m, m->hdr.name_index_offset, agentid_nss_hash_name(name), match_name, name, now_usec, e);
}

int nss_cache_lookup_uid(const struct nss_cache_map *m, uint32_t uid, uint64_t now_usec, struct nss_cache_entry *e) {
        if (uid < m->hdr.uid_min || uid > m->hdr.uid_max)
                return -ENOENT;
        return probe(m, m->hdr.uid_index_offset, agentid_nss_hash_uid(uid), match_uid, &uid, now_usec, e);
}

int nss_cache_get_slot(const struct nss_cache_map *m, uint32_t idx, uint64_t now_usec, struct nss_cache_entry *e) {
        uint32_t used = __atomic_load_n(&shared_header(m)->records_used, __ATOMIC_ACQUIRE);

        if (used > m->hdr.n_records)
                used = m->hdr.n_records;
        if (idx >= used)
                return -ERANGE;
        return read_entry(m, idx, now_usec, e) == 0 ? 0 : -ENOENT;
}
