/* SPDX-License-Identifier: MIT */
/* Benchmark of identity lifecycles: C clients, each on its own connection,
 * mint an identity and revoke it, as fast as the broker answers, for a
 * fixed time. Every mint and revoke is durable (fsync'd) before its reply.
 *
 *   bench-mint SOCKET CLIENTS SECONDS
 * Prints: lifecycles/s, mint latency p50/p99, revoke latency p50/p99; how
 * evenly the clients were served; and the CPU time one lifecycle costs:
 * the broker's event loop thread, its other threads (the uid killer, the
 * checkpointer), the cleaners it forked, and these clients, with the
 * ceilings they set on this machine (the loop thread alone cannot go
 * faster than one core allows, nor the whole than all cores). The broker
 * is found by the peer credentials of a connection to it; its times come
 * from /proc (clock ticks), the clients' from getrusage. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "protocol.h"

#define MAX_SAMPLES 2000000

struct worker {
        pthread_t thread;
        const char *socket;
        double seconds;
        uint64_t *mint_ns, *revoke_ns;
        size_t n, cap;
        int failed;
};

static uint64_t mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}

static int call(int fd, const char *method, json_t *params, json_t **reply) {
        char *error = NULL;
        int r = agentid_call(fd, method, params, 10000, reply, &error);

        if (r == 0 && error) {
                fprintf(stderr, "%s: %s\n", method, error);
                free(error);
                json_decref(*reply);
                return -EPROTO;
        }
        return r;
}

static void *work(void *userdata) {
        struct worker *w = userdata;
        json_t *mint = json_pack("{s:s}", "ttl", "10m");
        uint64_t end = mono_ns() + (uint64_t) (w->seconds * 1e9);
        int fd = agentid_connect(w->socket, 5000);

        if (fd < 0) {
                w->failed = 1;
                return NULL;
        }
        while (mono_ns() < end && w->n < w->cap) {
                json_t *reply = NULL, *revoke;
                uint64_t t0 = mono_ns(), t1;

                if (call(fd, "io.agentid.Mint", mint, &reply) < 0) {
                        w->failed = 1;
                        break;
                }
                t1 = mono_ns();
                revoke = json_pack("{s:[O]}", "agents", json_object_get(reply, "name"));
                json_decref(reply);
                if (call(fd, "io.agentid.Revoke", revoke, &reply) < 0) {
                        json_decref(revoke);
                        w->failed = 1;
                        break;
                }
                json_decref(revoke);
                json_decref(reply);
                w->mint_ns[w->n] = t1 - t0;
                w->revoke_ns[w->n] = mono_ns() - t1;
                w->n++;
        }
        json_decref(mint);
        close(fd);
        return NULL;
}

/* CPU seconds of the broker: its main (event loop) thread, the whole
 * process, and its reaped children. */
struct broker_cpu {
        double loop, process, children;
        bool ok;
};

static bool read_ticks(const char *path, unsigned long long v[4]) {
        char buf[1024];
        const char *p;
        FILE *f = fopen(path, "re");
        size_t n;

        if (!f)
                return false;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        p = strrchr(buf, ')'); /* the command name may hold anything */
        /* Fields 14-17 (utime, stime, cutime, cstime); p is at field 2's end. */
        return p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu", &v[0], &v[1],
                           &v[2], &v[3]) == 4;
}

static struct broker_cpu broker_cpu(pid_t pid) {
        struct broker_cpu c = {};
        unsigned long long p[4], t[4];
        double hz = (double) sysconf(_SC_CLK_TCK);
        char path[64];

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        if (pid <= 0 || !read_ticks(path, p))
                return c;
        snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int) pid, (int) pid);
        if (!read_ticks(path, t))
                return c;
        c.process = (double) (p[0] + p[1]) / hz;
        c.children = (double) (p[2] + p[3]) / hz;
        c.loop = (double) (t[0] + t[1]) / hz;
        c.ok = true;
        return c;
}

static pid_t broker_pid(const char *socket) {
        struct ucred cred = {};
        socklen_t len = sizeof(cred);
        int fd = agentid_connect(socket, 5000);
        pid_t pid = -1;

        if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
                pid = cred.pid;
        if (fd >= 0)
                close(fd);
        return pid;
}

static double self_cpu(void) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 + (double) ru.ru_stime.tv_sec +
               (double) ru.ru_stime.tv_usec / 1e6;
}

static int cmp(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p) {
        size_t k = (size_t) (p * (double) n);
        return (double) v[k >= n ? n - 1 : k] / 1e6;
}

int main(int argc, char **argv) {
        unsigned clients;
        double seconds;
        struct worker *w;
        uint64_t *all_mint, *all_revoke, t0, elapsed;
        size_t total = 0;
        struct broker_cpu cpu0, cpu1;
        double self0, self1;
        pid_t broker;

        if (argc != 4) {
                fprintf(stderr, "usage: bench-mint SOCKET CLIENTS SECONDS\n");
                return 2;
        }
        clients = (unsigned) atoi(argv[2]);
        seconds = atof(argv[3]);
        w = calloc(clients, sizeof(*w));
        for (unsigned k = 0; k < clients; k++) {
                w[k] = (struct worker) { .socket = argv[1], .seconds = seconds, .cap = MAX_SAMPLES / clients };
                w[k].mint_ns = calloc(w[k].cap, sizeof(uint64_t));
                w[k].revoke_ns = calloc(w[k].cap, sizeof(uint64_t));
        }
        broker = broker_pid(argv[1]);
        cpu0 = broker_cpu(broker);
        self0 = self_cpu();
        t0 = mono_ns();
        for (unsigned k = 0; k < clients; k++)
                pthread_create(&w[k].thread, NULL, work, &w[k]);
        for (unsigned k = 0; k < clients; k++) {
                pthread_join(w[k].thread, NULL);
                if (w[k].failed) {
                        fprintf(stderr, "client %u failed\n", k);
                        return 1;
                }
                total += w[k].n;
        }
        elapsed = mono_ns() - t0;
        self1 = self_cpu();
        cpu1 = broker_cpu(broker);
        all_mint = calloc(total, sizeof(uint64_t));
        all_revoke = calloc(total, sizeof(uint64_t));
        for (unsigned k = 0, o = 0; k < clients; o += (unsigned) w[k].n, k++) {
                memcpy(all_mint + o, w[k].mint_ns, w[k].n * sizeof(uint64_t));
                memcpy(all_revoke + o, w[k].revoke_ns, w[k].n * sizeof(uint64_t));
        }
        qsort(all_mint, total, sizeof(uint64_t), cmp);
        qsort(all_revoke, total, sizeof(uint64_t), cmp);
        printf("mint+revoke, %2u client%s: %9.0f lifecycles/s  mint p50 %.3f ms p99 %.3f ms  revoke p50 %.3f ms "
               "p99 %.3f ms  (%zu lifecycles in %.1fs)\n",
               clients, clients == 1 ? " " : "s", (double) total / ((double) elapsed / 1e9), pct(all_mint, total, 0.5),
               pct(all_mint, total, 0.99), pct(all_revoke, total, 0.5), pct(all_revoke, total, 0.99), total,
               (double) elapsed / 1e9);
        /* Fairness: how evenly the broker served its clients. */
        {
                size_t lo = SIZE_MAX, hi = 0;
                for (unsigned k = 0; k < clients; k++) {
                        lo = w[k].n < lo ? w[k].n : lo;
                        hi = w[k].n > hi ? w[k].n : hi;
                }
                printf("per-client lifecycles: min %zu max %zu\n", lo, hi);
        }
        if (cpu0.ok && cpu1.ok && total > 0) {
                double per = 1e6 / (double) total, loop = (cpu1.loop - cpu0.loop) * per,
                       other = ((cpu1.process - cpu0.process) - (cpu1.loop - cpu0.loop)) * per,
                       children = (cpu1.children - cpu0.children) * per, own = (self1 - self0) * per,
                       all = loop + other + children + own;
                long cores = sysconf(_SC_NPROCESSORS_ONLN);
                printf("cpu per lifecycle: broker loop thread %.0f us, its other threads %.0f us, its cleaners %.0f "
                       "us, the clients %.0f us: %.0f us in all; ceiling on %ld cores %.0f lifecycles/s, the loop "
                       "thread's alone %.0f/s\n",
                       loop, other, children, own, all, cores, all > 0 ? (double) cores * 1e6 / all : 0,
                       loop > 0 ? 1e6 / loop : 0);
        }
        for (unsigned k = 0; k < clients; k++) {
                free(w[k].mint_ns);
                free(w[k].revoke_ns);
        }
        free(w);
        free(all_mint);
        free(all_revoke);
        return 0;
}
