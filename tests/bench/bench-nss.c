/* SPDX-License-Identifier: MIT */
/*
 * bench-nss: getpwnam_r/getpwuid_r through the real glibc NSS, with
 * libnss_agentid.so.2 serving 1k, 100k and 1M live agents from a cache file
 * built here with the broker's own writer, side by side with nss_files
 * reading a scratch /etc/passwd of as many lines; and the cost the module
 * adds to a lookup of a name that is no agent's, in rounds alternating
 * with "files" alone (measure_added_cost).
 *
 * Each measurement runs in a child in a private mount namespace (needs
 * root): a test nsswitch.conf is bind-mounted over /etc/nsswitch.conf, the
 * module is made visible to glibc by an overlay over its lib dir, and for
 * nss_files the scratch passwd is bind-mounted over /etc/passwd. Nothing of
 * the host changes. Every figure is the time of one libc call, measured with
 * CLOCK_MONOTONIC around it (the clock read, ~20 ns, is included).
 *
 * With PATH/TO/libnss_benchfloor.so.2 (tests/bench/nss-floor.c, a module
 * that answers every lookup from constants), each size is also measured
 * through it just before: glibc's own cost per call, the floor under any
 * module (scripts/bench prints agentid's figure as a ratio to it).
 *
 * Usage: bench-nss PATH/TO/libnss_agentid.so.2 [max agents, default 1000000]
 *                  [PATH/TO/libnss_benchfloor.so.2]
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agentid/nss-cache.h"
#include "nss-cache.h"

#define UID0 UINT32_C(1879048192)
#define FILES_UID0 UINT32_C(200000)

static char dir[64], libdir[256], module_dir[128];

static uint64_t mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static void agent_name(char *buf, size_t size, uint32_t k) {
        snprintf(buf, size, "ag-bench-%07u", k);
}

static int write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        if (!f)
                return -errno;
        fputs(text, f);
        return fclose(f) == 0 ? 0 : -errno;
}

/* In the child: the private view glibc will see. */
static int enter_namespace(const char *nsswitch, const char *passwd) {
        char opts[512], conf[128];

        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return -errno;
        snprintf(opts, sizeof(opts), "lowerdir=%s:%s", module_dir, libdir);
        if (mount("overlay", libdir, "overlay", MS_RDONLY, opts) < 0)
                return -errno;
        snprintf(conf, sizeof(conf), "%s/nsswitch.conf", dir);
        if (write_file(conf, nsswitch) < 0 || mount(conf, "/etc/nsswitch.conf", NULL, MS_BIND, NULL) < 0)
                return -errno;
        if (passwd && mount(passwd, "/etc/passwd", NULL, MS_BIND, NULL) < 0)
                return -errno;
        return 0;
}

enum what { BY_NAME, BY_UID };

/* Time n lookups; keys: agent k (agents) or user k (files) for random k < range. */
static void measure(const char *label, bool agents, enum what w, uint32_t range, unsigned n, unsigned size_col) {
        uint64_t *t = calloc(n, sizeof(uint64_t));
        char buf[4096], name[64];
        struct passwd pw, *res;
        unsigned found = 0;

        srand(42);
        for (unsigned i = 0; i < n; i++) {
                uint32_t k = (uint32_t) ((unsigned) rand() % range);
                uint64_t t0;

                if (agents)
                        agent_name(name, sizeof(name), k);
                else
                        snprintf(name, sizeof(name), "user%07u", k);
                t0 = mono_ns();
                if (w == BY_UID)
                        getpwuid_r(agents ? UID0 + k : FILES_UID0 + k, &pw, buf, sizeof(buf), &res);
                else
                        getpwnam_r(name, &pw, buf, sizeof(buf), &res);
                t[i] = mono_ns() - t0;
                found += res != NULL;
        }
        if (found != n) {
                fprintf(stderr, "%s: only %u of %u lookups found their entry\n", label, found, n);
                exit(EXIT_FAILURE);
        }
        qsort(t, n, sizeof(uint64_t), cmp_u64);
        printf("%-36s %9u %12.3f %12.3f  (%u lookups)\n", label, size_col, t[n / 2] / 1000.0, t[n * 99 / 100] / 1000.0,
               n);
        fflush(stdout);
        free(t);
}

/* Run fn in a child in its own namespace; returns its exit status. */
static int in_child(const char *nsswitch, const char *passwd, void (*fn)(void *), void *arg) {
        pid_t pid;
        int status;

        fflush(stdout); /* or the child repeats what is buffered */
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int r = enter_namespace(nsswitch, passwd);
                if (r < 0) {
                        fprintf(stderr, "bench-nss: setting up the namespace: %s\n", strerror(-r));
                        _exit(2);
                }
                fn(arg);
                _exit(0);
        }
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

struct run {
        uint32_t n;
        unsigned samples;
        const char *config;
};

static void run_agents(void *arg) {
        const struct run *r = arg;
        char label[64];

        snprintf(label, sizeof(label), "getpwnam agent, %s", r->config);
        measure(label, true, BY_NAME, r->n, r->samples, r->n);
        snprintf(label, sizeof(label), "getpwuid agent, %s", r->config);
        measure(label, true, BY_UID, r->n, r->samples, r->n);
}

static void run_files(void *arg) {
        const struct run *r = arg;
        measure("nss_files getpwnam (same #lines)", false, BY_NAME, r->n, r->samples, r->n);
        measure("nss_files getpwuid (same #lines)", false, BY_UID, r->n, r->samples, r->n);
}

/* The cost the module adds to a lookup of a name that is no agent's: two
 * children, "files" and "files agentid", each in its own namespace, measure
 * in alternating rounds, so that the machine's drift (several times the
 * figure sought, over the seconds two separate runs take) falls on both
 * alike. The figure is the median of the rounds' differences of medians. */
#define MISS_ROUNDS 21
#define MISS_PER_ROUND 10000

struct miss_child {
        pid_t pid;
        int cmd, res; /* a byte asks for a round; two uint64 (median, p99 in ns) come back */
};

static void miss_rounds(int cmd, int res) {
        uint64_t *t = calloc(MISS_PER_ROUND, sizeof(uint64_t));
        char buf[4096], name[64], c;
        struct passwd pw, *found;

        while (t && read(cmd, &c, 1) == 1) {
                uint64_t out[2];
                for (unsigned i = 0; i < MISS_PER_ROUND; i++) {
                        uint64_t t0;
                        snprintf(name, sizeof(name), "nosuchuser%u", i % 16);
                        t0 = mono_ns();
                        getpwnam_r(name, &pw, buf, sizeof(buf), &found);
                        t[i] = mono_ns() - t0;
                }
                qsort(t, MISS_PER_ROUND, sizeof(uint64_t), cmp_u64);
                out[0] = t[MISS_PER_ROUND / 2];
                out[1] = t[MISS_PER_ROUND * 99 / 100];
                if (write(res, out, sizeof(out)) != (ssize_t) sizeof(out))
                        break;
        }
        free(t);
}

static int miss_child_start(const char *nsswitch, struct miss_child *m) {
        int cmd[2], res[2];

        if (pipe2(cmd, O_CLOEXEC) < 0 || pipe2(res, O_CLOEXEC) < 0)
                return -errno;
        fflush(stdout);
        m->pid = fork();
        if (m->pid < 0)
                return -errno;
        if (m->pid == 0) {
                int r = enter_namespace(nsswitch, NULL);
                if (r < 0) {
                        fprintf(stderr, "bench-nss: setting up the namespace: %s\n", strerror(-r));
                        _exit(2);
                }
                miss_rounds(cmd[0], res[1]);
                _exit(0);
        }
        close(cmd[0]);
        close(res[1]);
        m->cmd = cmd[1];
        m->res = res[0];
        return 0;
}

static int miss_round(struct miss_child *m, uint64_t out[2]) {
        char c = 'r';
        return write(m->cmd, &c, 1) == 1 && read(m->res, out, 2 * sizeof(uint64_t)) == 2 * sizeof(uint64_t) ? 0 : -EIO;
}

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
        return x < y ? -1 : x > y;
}

static int measure_added_cost(const char *files_only, const char *with_agentid) {
        struct miss_child files, both;
        uint64_t med[2][MISS_ROUNDS], p99[2][MISS_ROUNDS], out[2];
        int64_t diff[MISS_ROUNDS];
        int r = 0, st;

        if (miss_child_start(files_only, &files) < 0 || miss_child_start(with_agentid, &both) < 0)
                return -1;
        /* A first round each to warm up (module loaded, file mapped). */
        if (miss_round(&files, out) < 0 || miss_round(&both, out) < 0)
                r = -1;
        for (unsigned k = 0; k < MISS_ROUNDS && r == 0; k++) {
                /* Alternate who goes first, so neither is always second. */
                struct miss_child *first = k % 2 ? &both : &files, *second = k % 2 ? &files : &both;
                int a = k % 2, b = !a;
                if (miss_round(first, out) < 0) {
                        r = -1;
                        break;
                }
                med[a][k] = out[0];
                p99[a][k] = out[1];
                if (miss_round(second, out) < 0) {
                        r = -1;
                        break;
                }
                med[b][k] = out[0];
                p99[b][k] = out[1];
                diff[k] = (int64_t) med[1][k] - (int64_t) med[0][k];
        }
        /* Each child holds copies of the pipes (no exec): end them here. */
        kill(files.pid, SIGKILL);
        kill(both.pid, SIGKILL);
        waitpid(files.pid, &st, 0);
        waitpid(both.pid, &st, 0);
        if (r < 0)
                return r;
        for (int c = 0; c < 2; c++) {
                qsort(med[c], MISS_ROUNDS, sizeof(uint64_t), cmp_u64);
                qsort(p99[c], MISS_ROUNDS, sizeof(uint64_t), cmp_u64);
                printf("%-36s %9u %12.3f %12.3f  (%u rounds of %u lookups, alternating)\n",
                       c ? "non-agent name, files agentid" : "non-agent name, passwd: files", 0,
                       med[c][MISS_ROUNDS / 2] / 1000.0, p99[c][MISS_ROUNDS / 2] / 1000.0, MISS_ROUNDS, MISS_PER_ROUND);
        }
        qsort(diff, MISS_ROUNDS, sizeof(int64_t), cmp_i64);
        printf("added cost for a non-agent name: %.3f us (median of %u same-round differences of medians; "
               "middle half %.3f .. %.3f us)\n",
               diff[MISS_ROUNDS / 2] / 1000.0, MISS_ROUNDS, diff[MISS_ROUNDS / 4] / 1000.0,
               diff[MISS_ROUNDS * 3 / 4] / 1000.0);
        fflush(stdout);
        return 0;
}

static int build_cache(uint32_t n) {
        char d[128], name[64];
        struct nss_cache *c;
        uint64_t exp = (uint64_t) time(NULL) * 1000000 + UINT64_C(3600) * 1000000;
        int r;

        snprintf(d, sizeof(d), "%s/nss", dir);
        r = nss_cache_new(d, "ag-", UID0, UID0 + 10000000, n + n / 2, &c);
        if (r < 0)
                return r;
        for (uint32_t k = 0; k < n && r == 0; k++) {
                struct nss_cache_item it = {
                        .name = name, .uid = UID0 + k, .expires_usec = exp, .home = NULL, .shell = "/bin/sh",
                };
                char home[96];
                agent_name(name, sizeof(name), k);
                snprintf(home, sizeof(home), "/var/lib/agentid/home/%s", name);
                it.home = home;
                r = nss_cache_add(c, &it, false);
        }
        if (r == 0)
                r = nss_cache_publish(c);
        nss_cache_free(c);
        return r;
}

static int build_passwd(uint32_t n, char *path, size_t size) {
        FILE *in = fopen("/etc/passwd", "re"), *out;
        char line[1024];

        snprintf(path, size, "%s/passwd", dir);
        out = fopen(path, "we");
        if (!in || !out)
                return -errno;
        while (fgets(line, sizeof(line), in))
                fputs(line, out);
        fclose(in);
        for (uint32_t k = 0; k < n; k++)
                fprintf(out, "user%07u:x:%u:%u::/home/user%07u:/bin/sh\n", k, FILES_UID0 + k, FILES_UID0 + k, k);
        return fclose(out) == 0 ? 0 : -errno;
}

/* Into the overlay's upper layer, under the name glibc looks for. */
static int copy_module(const char *from, const char *name) {
        char to[256], b[65536];
        FILE *in, *out;
        size_t k;

        snprintf(to, sizeof(to), "%s/%s", module_dir, name);
        in = fopen(from, "re");
        out = fopen(to, "we");
        if (!in || !out) {
                fprintf(stderr, "bench-nss: %s: %s\n", in ? to : from, strerror(errno));
                if (in)
                        fclose(in);
                if (out)
                        fclose(out);
                return -1;
        }
        while ((k = fread(b, 1, sizeof(b), in)) > 0)
                fwrite(b, 1, k, out);
        fclose(in);
        return fclose(out) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
        static const uint32_t sizes[] = { 1000, 100000, 1000000 };
        uint32_t max = argc > 2 ? (uint32_t) strtoul(argv[2], NULL, 10) : 1000000;
        const char *floor_module = argc > 3 ? argv[3] : NULL;
        const char *floor_only = "passwd: benchfloor\ngroup: files\n";
        char cache[256], passwd[128], cmd[256];
        const char *files_only = "passwd: files\ngroup: files\n";
        const char *with_agentid = "passwd: files agentid\ngroup: files agentid\n";
        const char *agentid_only = "passwd: agentid\ngroup: agentid\n";

        if (argc < 2) {
                fprintf(stderr,
                        "usage: bench-nss PATH/libnss_agentid.so.2 [max agents] [PATH/libnss_benchfloor.so.2]\n");
                return 2;
        }
        if (geteuid() != 0) {
                printf("bench-nss: needs root (private mount namespace); skipped\n");
                return 0;
        }
        snprintf(libdir, sizeof(libdir), "/usr/lib/x86_64-linux-gnu");
        if (access("/usr/lib/x86_64-linux-gnu/libnss_files.so.2", F_OK) < 0) {
                printf("bench-nss: glibc NSS module dir not found; skipped\n");
                return 0;
        }
        strcpy(dir, "/tmp/bench-nss.XXXXXX");
        if (!mkdtemp(dir))
                return 1;
        snprintf(module_dir, sizeof(module_dir), "%s/lib", dir);
        mkdir(module_dir, 0755);
        if (copy_module(argv[1], "libnss_agentid.so.2") < 0 ||
            (floor_module && copy_module(floor_module, "libnss_benchfloor.so.2") < 0))
                return 1;
        snprintf(cache, sizeof(cache), "%s/nss/%s", dir, AGENTID_NSS_CACHE_FILE);
        setenv(AGENTID_NSS_CACHE_ENV, cache, 1);

        printf("bench-nss: glibc getpwnam_r/getpwuid_r, one call per sample, times in microseconds\n");
        printf("%-36s %9s %12s %12s\n", "lookup, nsswitch passwd:", "entries", "median_us", "p99_us");
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]) && sizes[s] <= max; s++) {
                struct run agents = { sizes[s], 200000, "agentid" };
                struct run behind_files = { sizes[s], 200000, "files agentid" };
                struct run floor = { sizes[s], 200000, "glibc floor" };
                struct run files = { sizes[s], sizes[s] <= 1000 ? 20000 : sizes[s] <= 100000 ? 400 : 40, "files" };
                uint64_t t0 = mono_ns();
                int r = build_cache(sizes[s]);

                if (r < 0) {
                        fprintf(stderr, "bench-nss: building the cache: %s\n", strerror(-r));
                        return 1;
                }
                printf("# cache of %u agents built and published in %.0f ms\n", sizes[s], (mono_ns() - t0) / 1e6);
                /* The module alone behind glibc's NSS dispatch, then as
                 * configured on a host, after a miss in nss_files. */
                if ((floor_module && in_child(floor_only, NULL, run_agents, &floor) != 0) ||
                    in_child(agentid_only, NULL, run_agents, &agents) != 0 ||
                    in_child(with_agentid, NULL, run_agents, &behind_files) != 0)
                        return 1;
                if (build_passwd(sizes[s], passwd, sizeof(passwd)) < 0 ||
                    in_child(files_only, passwd, run_files, &files) != 0)
                        return 1;
        }
        /* A name in no database: "files" alone against "files agentid". */
        if (measure_added_cost(files_only, with_agentid) < 0)
                return 1;
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        return system(cmd) == 0 ? 0 : 1;
}
