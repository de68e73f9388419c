/* SPDX-License-Identifier: MIT */
/* Benchmark of identity lifecycles: C clients, each on its own connection,
 * mint an identity and revoke it, as fast as the broker answers, for a
 * fixed time. Every mint and revoke is durable (fsync'd) before its reply.
 *
 *   bench-mint SOCKET CLIENTS SECONDS
 * Prints: lifecycles/s, mint latency p50/p99, revoke latency p50/p99. */
#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
        for (unsigned k = 0; k < clients; k++) {
                free(w[k].mint_ns);
                free(w[k].revoke_ns);
        }
        free(w);
        free(all_mint);
        free(all_revoke);
        return 0;
}
