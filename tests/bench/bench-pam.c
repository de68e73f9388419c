/* SPDX-License-Identifier: MIT */
/*
 * bench-pam BUILDDIR SOCKET CACHE [N]: time pam_authenticate through the
 * real libpam (pam_start_confdir, a service file in a scratch directory)
 * with the built pam_agentid.so:
 *   - an agent's token auth: stack "auth required pam_agentid.so"; the
 *     module's time is the whole call (libpam's own share is the human
 *     baseline below, well under a microsecond);
 *   - an agent's login as sshd runs it before the session: authenticate,
 *     acct_mgmt and pam_end, timed together (the module keeps one
 *     connection per handle: pam_end closes it);
 *   - a human (root, no agent): "pam_agentid.so + pam_permit.so" against
 *     "pam_permit.so" alone; the difference is what the module adds.
 * Run as root against a broker (scripts/bench starts one). With a fifth
 * argument "auth", only the agent's token auths run (N of them, nothing
 * else: tests/bench/profile.sh counts the broker's work per auth).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agentid/protocol.h"
#include "client.h"
#include "macro.h"
#include "protocol.h"

static const char *token;

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data) {
        struct pam_response *r = calloc((size_t) n, sizeof(*r));
        (void) data;
        if (!r)
                return PAM_BUF_ERR;
        for (int k = 0; k < n; k++)
                if (msg[k]->msg_style == PAM_PROMPT_ECHO_OFF)
                        r[k].resp = strdup(token ? token : "");
        *resp = r;
        return PAM_SUCCESS;
}

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

/* Times of n pam_authenticate calls (one handle each, as sudo and sshd
 * do); with login, of n logins as sshd runs them before the session:
 * pam_authenticate, pam_acct_mgmt and pam_end (which closes what the handle
 * still holds), all timed. */
static int run(const char *confdir, const char *service, const char *user, int expect, bool login, uint64_t *t,
               int n) {
        struct pam_conv c = { conv, NULL };
        for (int k = 0; k < n; k++) {
                pam_handle_t *h = NULL;
                uint64_t t0;
                int rc;
                if (pam_start_confdir(service, user, &c, confdir, &h) != PAM_SUCCESS)
                        return -1;
                t0 = now_ns();
                rc = pam_authenticate(h, 0);
                if (login && rc == PAM_SUCCESS)
                        rc = pam_acct_mgmt(h, 0);
                if (!login)
                        t[k] = now_ns() - t0;
                pam_end(h, rc);
                if (login)
                        t[k] = now_ns() - t0;
                if (rc != expect) {
                        fprintf(stderr, "%s: %s of %s: %s\n", service, login ? "login" : "pam_authenticate", user,
                                pam_strerror(NULL, rc));
                        return -1;
                }
        }
        qsort(t, (size_t) n, sizeof(*t), cmp);
        return 0;
}

static int broker_call(const char *sock, const char *method, json_t *p, json_t **ret) {
        _cleanup_close_ int fd = agentid_connect(sock, 5000);
        _cleanup_free_ char *err = NULL;
        if (fd < 0 || agentid_call(fd, method, p, 5000, ret, &err) < 0 || err)
                return -1;
        return 0;
}

int main(int argc, char **argv) {
        char confdir[] = "/tmp/bench-pam.XXXXXX", path[512], tok[8192] = "";
        const char *sock, *cache, *name;
        json_t *agent = NULL;
        uint64_t *t, *base;
        int n, p[2];
        FILE *f;

        if (argc < 4) {
                fprintf(stderr, "usage: %s BUILDDIR SOCKET CACHE [N [auth]]\n", argv[0]);
                return 2;
        }
        sock = argv[2];
        cache = argv[3];
        n = argc > 4 ? atoi(argv[4]) : 2000;
        if (n < 10 || !mkdtemp(confdir))
                return 2;
        t = calloc((size_t) n, sizeof(*t));
        base = calloc((size_t) n, sizeof(*base));
        if (!t || !base)
                return 1;

        if (broker_call(sock, AGENTID_METHOD_MINT, json_pack("{s:s, s:s}", "template", "bench", "ttl", "10m"), &agent) < 0 ||
            json_get_string(agent, "name", &name) < 0) {
                fprintf(stderr, "bench-pam: cannot mint an agent\n");
                return 1;
        }
        /* The token is issued to the agent's own uid only: a child asks. */
        if (pipe(p) < 0)
                return 1;
        if (fork() == 0) {
                json_t *r = NULL;
                const char *s = NULL;
                uid_t uid = (uid_t) json_integer_value(json_object_get(agent, "uid"));
                close(p[0]);
                if (setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0 ||
                    broker_call(sock, AGENTID_METHOD_ISSUE_TOKEN, json_pack("{s:s}", "audience", "pam:bench-pam"), &r) <
                            0 ||
                    json_get_string(r, "token", &s) < 0)
                        _exit(1);
                (void) !write(p[1], s, strlen(s));
                _exit(0);
        }
        close(p[1]);
        for (ssize_t got, o = 0; (got = read(p[0], tok + o, sizeof(tok) - 1 - (size_t) o)) > 0; o += got)
                ;
        wait(NULL);
        token = tok;
        if (!tok[0]) {
                fprintf(stderr, "bench-pam: no token\n");
                return 1;
        }

        snprintf(path, sizeof(path), "%s/bench-pam", confdir);
        f = fopen(path, "w");
        fprintf(f, "auth required %s/.libs/pam_agentid.so socket=%s cache=%s\n", argv[1], sock, cache);
        fprintf(f, "account required %s/.libs/pam_agentid.so socket=%s cache=%s\n", argv[1], sock, cache);
        fclose(f);
        snprintf(path, sizeof(path), "%s/bench-with", confdir);
        f = fopen(path, "w");
        fprintf(f, "auth [success=done ignore=ignore default=die] %s/.libs/pam_agentid.so socket=%s cache=%s\n"
                   "auth required pam_permit.so\n",
                argv[1], sock, cache);
        fclose(f);
        snprintf(path, sizeof(path), "%s/bench-without", confdir);
        f = fopen(path, "w");
        fprintf(f, "auth required pam_permit.so\n");
        fclose(f);

        if (argc > 5 && streq(argv[5], "auth")) {
                if (run(confdir, "bench-pam", name, PAM_SUCCESS, false, t, n) < 0)
                        return 1;
                printf("agent token auth (connect + verify + rule), module time: p50 %.1f us, p99 %.1f us (%d auths, "
                       "nothing else)\n",
                       t[n / 2] / 1000.0, t[n * 99 / 100] / 1000.0, n);
                goto out;
        }

        /* The floor of any design that asks the broker: a new connection
         * and one small request (Status), measured the same way. */
        for (int k = 0; k < n; k++) {
                json_t *r = NULL;
                uint64_t t0 = now_ns();
                if (broker_call(sock, AGENTID_METHOD_STATUS, json_object(), &r) < 0) {
                        fprintf(stderr, "bench-pam: Status failed\n");
                        return 1;
                }
                base[k] = now_ns() - t0;
                json_decref(r);
        }
        qsort(base, (size_t) n, sizeof(*base), cmp);

        /* Exactly what sshd's auth does for an agent whose template allows
         * ssh (scripts/bench provides the "bench" template). */
        if (run(confdir, "bench-pam", name, PAM_SUCCESS, false, t, n) < 0)
                return 1;
        printf("agent token auth (connect + verify + rule), module time: p50 %.1f us, p99 %.1f us (target p99 <= 200 us)\n",
               t[n / 2] / 1000.0, t[n * 99 / 100] / 1000.0);
        printf("baseline: connect + one Status request p50 %.1f us, p99 %.1f us; token auth = %.2fx of it at p50, "
               "%.2fx at p99\n",
               base[n / 2] / 1000.0, base[n * 99 / 100] / 1000.0, (double) t[n / 2] / (double) base[n / 2],
               (double) t[n * 99 / 100] / (double) base[n * 99 / 100]);
        if (run(confdir, "bench-pam", name, PAM_SUCCESS, true, t, n) < 0)
                return 1;
        printf("agent login, authenticate + acct_mgmt + pam_end (sshd's calls before the session): p50 %.1f us, "
               "p99 %.1f us\n",
               t[n / 2] / 1000.0, t[n * 99 / 100] / 1000.0);
        if (run(confdir, "bench-without", "root", PAM_SUCCESS, false, base, n) < 0 ||
            run(confdir, "bench-with", "root", PAM_SUCCESS, false, t, n) < 0)
                return 1;
        printf("human auth: pam_permit alone p50 %.2f us; with pam_agentid p50 %.2f us, p99 %.2f us: added p50 %.2f us, "
               "p99 %.2f us (target <= 20 us, no IPC)\n",
               base[n / 2] / 1000.0, t[n / 2] / 1000.0, t[n * 99 / 100] / 1000.0,
               ((double) t[n / 2] - (double) base[n / 2]) / 1000.0,
               ((double) t[n * 99 / 100] - (double) base[n * 99 / 100]) / 1000.0);
        printf("ratio: human auth with pam_agentid = %.2fx pam_permit alone at p50\n",
               (double) t[n / 2] / (double) base[n / 2]);
out:
        for (const char *const *s = (const char *const[]) { "bench-pam", "bench-with", "bench-without", NULL }; *s;
             s++) {
                snprintf(path, sizeof(path), "%s/%s", confdir, *s);
                unlink(path);
        }
        rmdir(confdir);
        return 0;
}
