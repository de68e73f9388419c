/* SPDX-License-Identifier: MIT */
/* Benchmark of task teardown (issue: agentctl run). Drives a running
 * agentidd over its socket with io.agentid.Run, exactly as agentctl does:
 *
 *  1. N times "true": end-to-end latency of a whole task (mint, home,
 *     fork/exec, exit, revoke, kill, home removal, reply), and the broker's
 *     own leader-exit -> everything-gone time (teardown_usec in the reply);
 *  2. M tasks "sleep 100" with a 1s TTL, concurrently: time from each TTL
 *     deadline to the reply saying all processes are gone; then M more,
 *     started 30 ms apart with a TTL long enough for all to have started
 *     before the first deadline, so each expiry is measured on its own;
 *  3. throughput of 8 concurrent loops of 25 tasks;
 *  4. the baselines, measured here the same way (fork, exec, wait): plain
 *     `runuser -u nobody -- true`, and where PID 1 is systemd the anchor
 *     `systemd-run --wait --pipe -p DynamicUser=yes true`.
 *
 *   bench-run SOCKET [N] [M]
 * Prints one line per figure: name, p50, p99, max, target. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "protocol.h"

static uint64_t realtime_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static char runtime_name[32] = "?";

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static void report(const char *name, uint64_t *v, size_t n, const char *target) {
        if (getenv("BENCH_RAW")) { for (size_t k = 0; k < n; k++) fprintf(stderr, "%s[%zu]=%llu\n", name, k, (unsigned long long) v[k]); }
        qsort(v, n, sizeof(*v), cmp_u64);
        printf("%-44s n=%-5zu p50=%8.3f ms  p99=%8.3f ms  max=%8.3f ms  target %s\n", name, n, v[n / 2] / 1000.0,
               v[(n * 99) / 100 >= n ? n - 1 : (n * 99) / 100] / 1000.0, v[n - 1] / 1000.0, target);
}

/* Start one task; returns the connection (reader set up) or -1. */
static int start_task(const char *sock, const char *ttl, const char *const *argv, int devnull,
                      struct agentid_reader *rd, uint64_t *ret_expires) {
        json_t *params = json_pack("{s:s, s:[]}", "ttl", ttl, "argv"), *reply = NULL;
        int fds[3] = { devnull, devnull, devnull };
        char *error = NULL;
        int fd, r;

        for (const char *const *a = argv; *a; a++)
                json_array_append_new(json_object_get(params, "argv"), json_string(*a));
        fd = agentid_connect(sock, 5000);
        if (fd < 0) {
                fprintf(stderr, "connect: %s\n", strerror(-fd));
                exit(1);
        }
        *rd = (struct agentid_reader) { .fd = fd };
        r = agentid_send(fd, "io.agentid.Run", params, fds, 3, 5000);
        if (r == 0)
                r = agentid_read_reply(rd, 5000, &reply, &error);
        json_decref(params);
        if (r < 0 || error) {
                fprintf(stderr, "run: %s\n", r < 0 ? strerror(-r) : error);
                exit(1);
        }
        json_get_uint(json_object_get(reply, "agent"), "expires_usec", UINT64_MAX, ret_expires);
        {
                const char *rt = NULL;
                if (json_get_string(reply, "runtime", &rt) == 0)
                        snprintf(runtime_name, sizeof(runtime_name), "%s", rt);
        }
        json_decref(reply);
        return fd;
}

static uint64_t finish_task(struct agentid_reader *rd, uint64_t *ret_teardown) {
        json_t *reply = NULL;
        char *error = NULL;
        uint64_t t;
        int r = agentid_read_reply(rd, 30000, &reply, &error);

        t = realtime_usec();
        if (r < 0 || error) {
                fprintf(stderr, "task end: %s\n", r < 0 ? strerror(-r) : error);
                exit(1);
        }
        if (ret_teardown)
                json_get_uint(reply, "teardown_usec", UINT64_MAX, ret_teardown);
        json_decref(reply);
        close(rd->fd);
        agentid_reader_done(rd);
        return t;
}

/* Wait for every task's end at once, noting when each reply arrives. */
static void wait_all(struct agentid_reader *rds, size_t m, const uint64_t *expires, uint64_t *latency) {
        struct pollfd *p = calloc(m, sizeof(*p));
        size_t left = m;

        for (size_t k = 0; k < m; k++)
                p[k] = (struct pollfd) { .fd = rds[k].fd, .events = POLLIN };
        while (left > 0) {
                if (poll(p, m, 30000) <= 0) {
                        fprintf(stderr, "tasks did not end\n");
                        exit(1);
                }
                for (size_t k = 0; k < m; k++) {
                        uint64_t done;
                        if (p[k].fd < 0 || !(p[k].revents & (POLLIN | POLLHUP)))
                                continue;
                        done = finish_task(&rds[k], NULL);
                        latency[k] = done > expires[k] ? done - expires[k] : 0;
                        p[k].fd = -1;
                        left--;
                }
        }
        free(p);
}

/* Wall time of one fork+exec+wait of argv, output to /dev/null; 0 if it
 * could not run or failed. */
static uint64_t time_command(const char *const *argv, int devnull) {
        uint64_t t0 = realtime_usec();
        int st;
        pid_t pid = fork();

        if (pid == 0) {
                dup2(devnull, 0);
                dup2(devnull, 1);
                dup2(devnull, 2);
                execvp(argv[0], (char *const *) argv);
                _exit(127);
        }
        if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                return 0;
        return realtime_usec() - t0;
}

static void baseline(const char *name, const char *const *argv, size_t n, int devnull) {
        uint64_t *v = calloc(n, sizeof(uint64_t));

        for (size_t k = 0; k < n; k++)
                if (!(v[k] = time_command(argv, devnull))) {
                        printf("%-44s (not available here)\n", name);
                        free(v);
                        return;
                }
        report(name, v, n, "baseline");
        free(v);
}

/* 8 processes, each running 25 tasks in a row: tasks per second. */
static void concurrent_loops(const char *sock, int devnull) {
        static const char *const true_argv[] = { "true", NULL };
        const int loops = 8, runs = 25;
        uint64_t t0 = realtime_usec();
        int failed = 0, st;

        for (int l = 0; l < loops; l++)
                if (fork() == 0) {
                        for (int k = 0; k < runs; k++) {
                                struct agentid_reader rd;
                                uint64_t exp;
                                start_task(sock, "1m", true_argv, devnull, &rd, &exp);
                                finish_task(&rd, NULL);
                        }
                        _exit(0);
                }
        for (int l = 0; l < loops; l++)
                if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                        failed++;
        printf("%-44s %d tasks in %.3f s: %.0f tasks/s%s\n", "8 concurrent loops of 25 tasks", loops * runs,
               (realtime_usec() - t0) / 1e6, loops * runs / ((realtime_usec() - t0) / 1e6),
               failed ? " (some loops FAILED)" : "");
}

int main(int argc, char **argv) {
        static const char *const true_argv[] = { "true", NULL }, *const sleep_argv[] = { "sleep", "100", NULL };
        size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 200, m = argc > 3 ? strtoul(argv[3], NULL, 10) : 32;
        uint64_t *e2e = calloc(n, sizeof(uint64_t)), *teardown = calloc(n, sizeof(uint64_t)),
                 *expiry = calloc(m, sizeof(uint64_t)), *expiry_staggered = calloc(m, sizeof(uint64_t)),
                 *expires = calloc(m, sizeof(uint64_t));
        struct agentid_reader *rds = calloc(m, sizeof(*rds));
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

        if (argc < 2 || !n || !m) {
                fprintf(stderr, "usage: bench-run SOCKET [N] [M]\n");
                return 2;
        }
        for (size_t k = 0; k < n; k++) {
                struct agentid_reader rd;
                uint64_t exp, t0 = realtime_usec();
                start_task(argv[1], "1m", true_argv, devnull, &rd, &exp);
                e2e[k] = finish_task(&rd, &teardown[k]) - t0;
        }
        /* Herd: m deadlines within a few ms of each other. Staggered: the
         * same, 30 ms apart, so each expiry is measured on its own. The TTL
         * leaves time to start them all before the first deadline: a reply
         * that comes while this loop still starts tasks is read late, and
         * that lateness would be this program's, not the broker's. */
        for (int staggered = 0; staggered < 2; staggered++) {
                char ttl[32];
                snprintf(ttl, sizeof(ttl), "%zus", staggered ? 1 + m * 60 / 1000 : 1);
                for (size_t k = 0; k < m; k++) {
                        start_task(argv[1], ttl, sleep_argv, devnull, &rds[k], &expires[k]);
                        if (staggered)
                                usleep(30000);
                }
                wait_all(rds, m, expires, staggered ? expiry_staggered : expiry);
        }
        printf("task runtime: %s\n", runtime_name);
        report("agentctl-run-style task of `true`, end to end", e2e, n, "-");
        report("leader exit -> processes, identity, home gone", teardown, n, "<= 10 ms p99");
        report("TTL deadline -> processes gone, one at a time", expiry_staggered, m, "<= 10 ms p99");
        report("TTL deadline -> processes gone, all at once", expiry, m, "-");
        concurrent_loops(argv[1], devnull);
        {
                static const char *const runuser_argv[] = { "runuser", "-u", "nobody", "--", "true", NULL };
                static const char *const systemd_run_argv[] = { "systemd-run", "--quiet", "--wait", "--pipe", "-p",
                                                          "DynamicUser=yes", "true", NULL };
                struct stat st;
                baseline("baseline: runuser -u nobody -- true", runuser_argv, n, devnull);
                if (stat("/run/systemd/system", &st) == 0)
                        baseline("anchor: systemd-run --wait --pipe DynamicUser", systemd_run_argv, n, devnull);
                else
                        printf("%-44s (PID 1 is not systemd here)\n", "anchor: systemd-run --wait --pipe DynamicUser");
        }
        return 0;
}
