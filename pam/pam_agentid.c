/* SPDX-License-Identifier: MIT */
/*
 * pam_agentid: agents authenticate with their token, step up (sudo) by
 * their template's rule and, where it says "approve", a human's decision;
 * their sessions are registered with the broker. See pam_agentid(8) and
 * docs/pam.md.
 *
 * Humans are never slowed down or put at risk: whether the PAM user is an
 * agent is decided by one lookup in the broker's memory-mapped NSS cache
 * file, without any IPC. Only for agents is the broker asked, always with
 * a deadline; when it cannot answer, agents fail closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#define PAM_SM_SESSION
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "agentid/nss-cache.h"
#include "agentid/pam.h"
#include "agentid/protocol.h"
#include "client.h"
#include "duration.h"
#include "macro.h"
#include "names.h"
#include "nss-cache-read.h"
#include "protocol.h"
#include "stepup-service.h"

#define EXPORT __attribute__((visibility("default")))

#define CALL_TIMEOUT_MS_DEFAULT 3000
#define RULES_MAX 16
/* pam_set_data keys */
#define DATA_SESSION "agentid-session"
#define DATA_FINAL "agentid-final"
/* Set when this handle's agent stepped up (auth phase, or account phase
 * when auth was skipped), so that it is asked once. */
#define DATA_STEPPED "agentid-stepped"
/* The connection to the broker this handle asks on (struct conn_data). */
#define DATA_CONN "agentid-conn"

enum mode {
        MODE_DEFAULT, /* step-up services: the template's rule; others: token */
        MODE_TOKEN,
        MODE_ALLOW,   /* the template's rule as it is */
        MODE_APPROVE, /* at least approve */
        MODE_DENY,
};

struct args {
        bool debug;
        const char *socket, *cache, *audience;
        int timeout_ms;
        uint64_t approval_timeout_s;
        struct {
                char service[AGENTID_SERVICE_MAX + 1];
                enum mode mode;
        } rules[RULES_MAX];
        size_t n_rules;
};

static int parse_mode(const char *s, enum mode *ret) {
        if (streq(s, "token"))
                *ret = MODE_TOKEN;
        else if (streq(s, "allow"))
                *ret = MODE_ALLOW;
        else if (streq(s, "approve"))
                *ret = MODE_APPROVE;
        else if (streq(s, "deny"))
                *ret = MODE_DENY;
        else
                return -EINVAL;
        return 0;
}

/* Unknown or malformed arguments are logged and ignored: a typo in a PAM
 * file must not lock everyone out (the defaults are the safe ones). */
static void parse_args(pam_handle_t *pamh, int argc, const char **argv, struct args *a) {
        *a = (struct args) {
                .timeout_ms = CALL_TIMEOUT_MS_DEFAULT,
                .approval_timeout_s = AGENTID_APPROVAL_TIMEOUT_DEFAULT_USEC / 1000000,
        };
        for (int k = 0; k < argc; k++) {
                const char *v = argv[k];
                uint64_t usec;

                if (streq(v, "debug"))
                        a->debug = true;
                else if (strncmp(v, "socket=", 7) == 0 && v[7] == '/')
                        a->socket = v + 7;
                else if (strncmp(v, "cache=", 6) == 0 && v[6] == '/')
                        a->cache = v + 6;
                else if (strncmp(v, "audience=", 9) == 0 && v[9])
                        a->audience = v + 9;
                else if (strncmp(v, "timeout=", 8) == 0 && duration_parse(v + 8, &usec) == 0 && usec >= 1000 &&
                         usec <= UINT64_C(60) * 1000000)
                        a->timeout_ms = (int) (usec / 1000);
                else if (strncmp(v, "approval_timeout=", 17) == 0 && duration_parse(v + 17, &usec) == 0 &&
                         usec >= 1000000 && usec <= AGENTID_APPROVAL_TIMEOUT_MAX_USEC)
                        a->approval_timeout_s = usec / 1000000;
                else if (strncmp(v, "service_rule=", 13) == 0 && strchr(v + 13, ':') && a->n_rules < RULES_MAX) {
                        const char *colon = strrchr(v + 13, ':');
                        size_t n = (size_t) (colon - (v + 13));
                        enum mode m;
                        if (n == 0 || n > AGENTID_SERVICE_MAX || parse_mode(colon + 1, &m) < 0) {
                                pam_syslog(pamh, LOG_WARNING, "ignoring malformed argument \"%s\"", v);
                                continue;
                        }
                        memcpy(a->rules[a->n_rules].service, v + 13, n);
                        a->rules[a->n_rules].service[n] = '\0';
                        a->rules[a->n_rules++].mode = m;
                } else
                        pam_syslog(pamh, LOG_WARNING, "ignoring unknown or malformed argument \"%s\"", v);
        }
}

static enum mode mode_for(const struct args *a, const char *service) {
        for (size_t k = 0; k < a->n_rules; k++)
                if (streq(a->rules[k].service, service) || streq(a->rules[k].service, "*"))
                        return a->rules[k].mode;
        return service_is_stepup(service) ? MODE_ALLOW : MODE_TOKEN;
}

/* ---- is this user an agent? (no IPC) ------------------------------------ */

/* The mapping is kept between calls: a human's check is then one hash
 * probe, and a file the broker replaced is noticed by its retired flag. */
static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nss_cache_map map;
static char map_path[256];

/* libpam unloads the module at pam_end (dlclose): the mapping goes with
 * it, or a process that runs many PAM handles (a display manager, a
 * test's loop) would keep one stale mapping of the cache per handle. */
__attribute__((destructor)) static void unmap_cache(void) {
        if (map.base)
                nss_cache_map_close(&map);
}

/* 1 and *e filled for a live agent, 0 for anyone else (also when there is
 * no readable cache: then no agent can be resolved by NSS either, so none
 * can log in or run sudo, and humans must pass untouched). */
static int lookup_agent(const struct args *a, const char *user, struct nss_cache_entry *e) {
        const char *path = a->cache ? a->cache : AGENTID_NSS_CACHE_PATH_DEFAULT;
        int r = 0;

        if (!user || !*user || strlen(user) > AGENTID_NAME_MAX)
                return 0;
        pthread_mutex_lock(&map_lock);
        if (map.base && (!streq(map_path, path) || nss_cache_map_retired(&map)))
                nss_cache_map_close(&map);
        if (!map.base && nss_cache_map_open(path, &map) == 0)
                snprintf(map_path, sizeof(map_path), "%s", path);
        if (map.base && nss_cache_name_plausible(&map, user))
                r = nss_cache_lookup_name(&map, user, nss_cache_now_usec(), e) == 0;
        pthread_mutex_unlock(&map_lock);
        return r;
}

/* ---- the broker ---------------------------------------------------------- */

struct call_result {
        json_t *params;
        char *error; /* error name, or NULL */
        const char *message;
        /* The broker's message as shown on the user's terminal: escaped by
         * the shared rule (text_escape_to), never raw. */
        char message_buf[2048];
};

static void call_result_done(struct call_result *r) {
        json_decref(r->params);
        free(r->error);
        *r = (struct call_result) {};
}

/* One request on fd (connected first when *fd < 0). Transport failures
 * return a negative errno; error replies return 0 with r->error set. */
static int call(const struct args *a, int *fd, const char *method, json_t *params, int timeout_ms,
                struct call_result *r) {
        int e;

        *r = (struct call_result) {};
        if (*fd < 0) {
                *fd = agentid_connect(agentid_socket_path(a->socket), a->timeout_ms);
                if (*fd < 0)
                        return *fd;
        }
        e = agentid_call(*fd, method, params, timeout_ms, &r->params, &r->error);
        if (e < 0)
                return e;
        if (r->error && json_get_string(r->params, "message", &r->message) < 0)
                r->message = r->error;
        if (r->message) {
                text_escape_to(r->message, r->message_buf, sizeof(r->message_buf));
                r->message = r->message_buf;
        }
        return 0;
}

/* ---- one connection per PAM handle ---------------------------------------
 * sshd and sudo run auth, account and session open on one handle moments
 * apart. A new connection for each costs a socket and its connect (after
 * the round trip itself, the largest part of the module's own time) and, at
 * its close, a wake-up of the broker. So the connection made first is kept in the
 * handle's data and used by the next phases; pam_end closes it, and so does
 * a session's open (no connection is held while a session lasts). The
 * broker knows the caller as the process that connected (SO_PEERCRED,
 * pidfd): the same process that runs the later phases. */

struct conn_data {
        int fd;
        char path[108]; /* the socket it is connected to (sun_path's size) */
};

static void conn_data_free(pam_handle_t *pamh, void *data, int status) {
        struct conn_data *d = data;
        (void) pamh;
        (void) status;
        if (d->fd >= 0)
                close(d->fd); /* also in a forked child ending its copy of the handle: only its copy */
        free(d);
}

/* The handle's connection to path, or -1. One to another socket (a stack
 * whose lines name different ones) is closed: each phase asks the broker
 * its own line names. */
static int conn_get(pam_handle_t *pamh, const char *path) {
        const void *d = NULL;
        if (pam_get_data(pamh, DATA_CONN, &d) != PAM_SUCCESS || !d)
                return -1;
        if (!streq(((const struct conn_data *) d)->path, path)) {
                (void) pam_set_data(pamh, DATA_CONN, NULL, NULL);
                return -1;
        }
        return ((const struct conn_data *) d)->fd;
}

/* Forget (and close) the handle's connection. */
static void conn_drop(pam_handle_t *pamh) {
        (void) pam_set_data(pamh, DATA_CONN, NULL, NULL);
}

static void conn_keep(pam_handle_t *pamh, int fd, const char *path) {
        struct conn_data *d = malloc(sizeof(*d));
        if (!d) {
                close(fd);
                return;
        }
        d->fd = fd;
        snprintf(d->path, sizeof(d->path), "%s", path);
        if (pam_set_data(pamh, DATA_CONN, d, conn_data_free) != PAM_SUCCESS) {
                close(fd);
                free(d);
        }
}

/* call() on the handle's connection, made when there is none. A transport
 * failure drops the connection (it may be mid-frame); when it was an old
 * one that the broker closed meanwhile (a restart between two phases), the
 * request is made once more on a new one. */
static int ask(pam_handle_t *pamh, const struct args *a, const char *method, json_t *params, int timeout_ms,
               struct call_result *r) {
        const char *path = agentid_socket_path(a->socket);
        int fd = conn_get(pamh, path), e;
        bool reused = fd >= 0;

        e = call(a, &fd, method, params, timeout_ms, r);
        if (e < 0 && reused && (e == -EPIPE || e == -ECONNRESET)) {
                conn_drop(pamh);
                fd = -1;
                reused = false;
                e = call(a, &fd, method, params, timeout_ms, r);
        }
        if (e < 0) {
                if (reused)
                        conn_drop(pamh);
                else if (fd >= 0)
                        close(fd);
                return e;
        }
        if (!reused)
                conn_keep(pamh, fd, path);
        return 0;
}

static void say_unreachable(pam_handle_t *pamh, const struct args *a, int e) {
        pam_syslog(pamh, LOG_ERR, "agentid broker at %s unreachable: %s; agents fail closed",
                   agentid_socket_path(a->socket), strerror(-e));
        pam_error(pamh, "agentid: the agentid broker cannot be reached (%s); agents cannot be authorized now",
                  strerror(-e));
}

static const char *item(pam_handle_t *pamh, int type) {
        const void *v = NULL;
        if (pam_get_item(pamh, type, &v) != PAM_SUCCESS || !v)
                return "";
        return v;
}

/* Printable text only, at most max bytes: what we forward must pass the
 * broker's checks, whatever a caller put in argv or PAM items. */
static json_t *text(const char *s, size_t max) {
        char buf[AGENTID_RHOST_MAX + 1];
        size_t n = 0;

        max = max < sizeof(buf) - 1 ? max : sizeof(buf) - 1;
        for (; *s && n < max; s++)
                buf[n++] = (unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f ? '?' : *s;
        buf[n] = '\0';
        return json_string(buf);
}

/* The command being authorized: the command line of the process running
 * the module (inside sudo: "sudo systemctl restart nginx"). */
static json_t *command_line(void) {
        char raw[AGENTID_COMMAND_MAX + 1], out[AGENTID_COMMAND_MAX + 1];
        ssize_t n = 0;
        size_t o = 0;
        int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);

        if (fd >= 0) {
                n = read(fd, raw, sizeof(raw) - 1);
                close(fd);
        }
        if (n < 0)
                n = 0;
        while (n > 0 && raw[n - 1] == '\0')
                n--;
        for (ssize_t k = 0; k < n && o < sizeof(out) - 1; k++) {
                unsigned char ch = (unsigned char) raw[k];
                out[o++] = ch == 0 ? ' ' : ch < 0x20 || ch >= 0x7f ? '?' : (char) ch;
        }
        if (n == (ssize_t) sizeof(raw) - 1 && o >= 3)
                memcpy(out + o - 3, "...", 3); /* cut: say so */
        out[o] = '\0';
        return json_string(o ? out : "?");
}

static void free_string(pam_handle_t *pamh, void *data, int status) {
        (void) pamh;
        (void) status;
        free(data);
}

/* A final refusal stays final for this handle: sudo calls
 * pam_authenticate again after a failure (passwd_tries), and a denied
 * step-up must not turn into three requests or three messages. */
static int remember_final(pam_handle_t *pamh, int rc) {
        char *v = NULL;
        if (asprintf(&v, "%d", rc) >= 0 && pam_set_data(pamh, DATA_FINAL, v, free_string) != PAM_SUCCESS)
                free(v);
        return rc;
}

static int map_error(const char *error, int fallback) {
        if (streq(error, AGENTID_ERROR_NO_SUCH_AGENT))
                return PAM_USER_UNKNOWN;
        if (streq(error, AGENTID_ERROR_PERMISSION_DENIED))
                return PAM_PERM_DENIED;
        return fallback;
}

/* ---- auth ------------------------------------------------------------------ */

static int ask_token(pam_handle_t *pamh, const char *user, char **ret) {
        char *resp = NULL;
        int rc = pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &resp, "agentid token for %s: ", user);

        if (rc != PAM_SUCCESS || !resp)
                return rc == PAM_SUCCESS ? PAM_CONV_ERR : rc;
        /* Surrounding white space from a paste is not part of a JWT. */
        for (size_t n = strlen(resp); n > 0 && (resp[n - 1] == '\n' || resp[n - 1] == ' '); n--)
                resp[n - 1] = '\0';
        *ret = resp;
        return PAM_SUCCESS;
}

static int wait_for_decision(pam_handle_t *pamh, const struct args *a, const char *id, uint64_t expires_usec) {
        struct call_result res;
        json_t *p = json_pack("{s:s}", "id", id);
        const char *decision = NULL, *reason = NULL;
        uint64_t now = now_usec();
        int64_t wait_ms = expires_usec > now ? (int64_t) ((expires_usec - now) / 1000) + 1000 : 1000;
        int e;

        if (!p)
                return PAM_BUF_ERR;
        if (wait_ms > (int64_t) a->approval_timeout_s * 1000 + 1000)
                wait_ms = (int64_t) a->approval_timeout_s * 1000 + 1000;
        e = ask(pamh, a, AGENTID_METHOD_STEP_UP_WAIT, p, (int) wait_ms, &res);
        json_decref(p);
        if (e == -ETIMEDOUT) {
                pam_error(pamh, "agentid: request %s expired without a decision (waited %" PRIu64 "s); refused", id,
                          a->approval_timeout_s);
                return remember_final(pamh, PAM_AUTH_ERR);
        }
        if (e < 0) {
                say_unreachable(pamh, a, e);
                return PAM_AUTHINFO_UNAVAIL;
        }
        if (res.error) {
                pam_error(pamh, "agentid: %s", res.message);
                call_result_done(&res);
                return remember_final(pamh, PAM_AUTH_ERR);
        }
        (void) json_get_string(res.params, "decision", &decision);
        (void) json_get_string(res.params, "reason", &reason);
        if (decision && streq(decision, "approved")) {
                char clean[1024];
                text_escape_to(reason, clean, sizeof(clean));
                pam_info(pamh, "agentid: request %s approved%s%s", id, reason && *reason ? ": " : "", clean);
                call_result_done(&res);
                return PAM_SUCCESS;
        }
        {
                char clean[1024];
                text_escape_to(reason, clean, sizeof(clean));
                pam_error(pamh, "agentid: request %s %s%s%s", id,
                          decision && streq(decision, "denied") ? "was denied" : "expired without a decision",
                          reason && *reason ? ": " : "", clean);
        }
        call_result_done(&res);
        return remember_final(pamh, decision && streq(decision, "denied") ? PAM_PERM_DENIED : PAM_AUTH_ERR);
}

/* The step-up itself (io.agentid.StepUp, and the wait for an approver when
 * the rule says approve): with the agent's token for login services, by
 * the template's rule (tightened by this module's) for sudo and the like. */
static int step_up(pam_handle_t *pamh, const struct args *a, const char *user, const char *service,
                   enum mode mode) {
        const char *decision = NULL, *id = NULL;
        _cleanup_free_ char *token = NULL;
        struct call_result res = {};
        char audience[AGENTID_SERVICE_MAX + 8];
        json_t *p;
        int rc, r;

        p = json_pack("{s:s, s:o, s:o, s:o, s:o, s:I}", "agent", user, "service", text(service, AGENTID_SERVICE_MAX),
                      "command", command_line(), "tty", text(item(pamh, PAM_TTY), AGENTID_TTY_MAX), "rhost",
                      text(item(pamh, PAM_RHOST), AGENTID_RHOST_MAX), "timeout", (json_int_t) a->approval_timeout_s);
        if (!p)
                return PAM_BUF_ERR;
        if (mode == MODE_TOKEN) {
                rc = ask_token(pamh, user, &token);
                if (rc != PAM_SUCCESS) {
                        json_decref(p);
                        return rc;
                }
                snprintf(audience, sizeof(audience), "pam:%s", service);
                json_object_set_new(p, "token", json_string(token));
                json_object_set_new(p, "audience", json_string(a->audience ? a->audience : audience));
        } else
                json_object_set_new(p, "rule", json_string(mode == MODE_DENY      ? "deny"
                                                           : mode == MODE_APPROVE ? "approve"
                                                                                  : "allow"));
        r = ask(pamh, a, AGENTID_METHOD_STEP_UP, p, a->timeout_ms, &res);
        json_decref(p);
        if (token)
                explicit_bzero(token, strlen(token));
        if (r < 0) {
                say_unreachable(pamh, a, r);
                return PAM_AUTHINFO_UNAVAIL;
        }
        if (res.error) {
                pam_error(pamh, "agentid: %s", res.message);
                pam_syslog(pamh, LOG_NOTICE, "%s refused for %s: %s", service, user, res.message);
                rc = map_error(res.error, PAM_AUTH_ERR);
                call_result_done(&res);
                /* A wrong token may be retyped; a policy refusal is final. */
                return mode == MODE_TOKEN ? rc : remember_final(pamh, rc);
        }
        (void) json_get_string(res.params, "decision", &decision);
        if (decision && streq(decision, "allow")) {
                call_result_done(&res);
                return PAM_SUCCESS;
        }
        if (!decision || !streq(decision, "pending") || json_get_string(res.params, "id", &id) < 0) {
                call_result_done(&res);
                return PAM_AUTH_ERR;
        }
        {
                uint64_t expires = 0;
                char idbuf[AGENTID_REQUEST_ID_LEN + 1];
                (void) json_get_uint(res.params, "expires_usec", UINT64_MAX, &expires);
                snprintf(idbuf, sizeof(idbuf), "%s", id);
                call_result_done(&res);
                pam_info(pamh, "agentid: %s needs approval: request %s is waiting (an approver runs "
                               "\"agentctl approve %s\"); waiting up to %" PRIu64 "s",
                         service, idbuf, idbuf, a->approval_timeout_s);
                pam_syslog(pamh, LOG_NOTICE, "%s for %s held for approval: request %s", service, user, idbuf);
                rc = wait_for_decision(pamh, a, idbuf, expires);
        }
        return rc;
}

EXPORT int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        struct nss_cache_entry e;
        struct args a;
        const char *user = NULL, *service;
        const void *final = NULL;
        enum mode mode;
        int rc;

        (void) flags;
        parse_args(pamh, argc, argv, &a);
        if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || !lookup_agent(&a, user, &e))
                return PAM_IGNORE; /* not an agent: not our business */
        service = item(pamh, PAM_SERVICE);
        mode = mode_for(&a, service);
        if (pam_get_data(pamh, DATA_FINAL, &final) == PAM_SUCCESS && final)
                rc = atoi(final);
        else {
                if (a.debug)
                        pam_syslog(pamh, LOG_DEBUG, "auth: agent %s (uid %u), service %s", user, e.uid, service);
                rc = step_up(pamh, &a, user, service, mode);
                if (rc == PAM_SUCCESS)
                        (void) pam_set_data(pamh, DATA_STEPPED, (void *) "1", NULL);
        }
        /* A step-up refused by policy or by an approver is final, and the
         * reason is already on the conversation. sudo takes PAM_AUTH_ERR and
         * PAM_PERM_DENIED for a wrong password: it asks again and ends with
         * "3 incorrect password attempts" though no password was involved.
         * Any other failure ends sudo at once. */
        if (mode != MODE_TOKEN && (rc == PAM_PERM_DENIED || rc == PAM_AUTH_ERR))
                rc = PAM_CRED_INSUFFICIENT;
        return rc;
}

EXPORT int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        struct nss_cache_entry e;
        struct args a;
        const char *user = NULL;

        (void) flags;
        /* Nothing to set: agents have no credentials beyond their uid.
         * Humans: ignore, so their own modules' setcred still runs. */
        parse_args(pamh, argc, argv, &a);
        if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || !lookup_agent(&a, user, &e))
                return PAM_IGNORE;
        return PAM_SUCCESS;
}

/* ---- account --------------------------------------------------------------- */

EXPORT int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        struct nss_cache_entry e;
        struct args a;
        const char *user = NULL, *service;
        const void *stepped = NULL, *final = NULL;
        enum mode mode;
        struct call_result res;
        json_t *p;
        int r, rc;

        (void) flags;
        parse_args(pamh, argc, argv, &a);
        if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || !lookup_agent(&a, user, &e))
                return PAM_IGNORE;
        service = item(pamh, PAM_SERVICE);
        p = json_pack("{s:s, s:o}", "agent", user, "service", text(service, AGENTID_SERVICE_MAX));
        if (!p)
                return PAM_BUF_ERR;
        r = ask(pamh, &a, AGENTID_METHOD_PAM_ACCOUNT, p, a.timeout_ms, &res);
        json_decref(p);
        if (r < 0) {
                say_unreachable(pamh, &a, r);
                return PAM_AUTH_ERR;
        }
        if (res.error) {
                pam_error(pamh, "agentid: %s", res.message);
                rc = streq(res.error, AGENTID_ERROR_NO_SUCH_AGENT) ? PAM_ACCT_EXPIRED : map_error(res.error, PAM_AUTH_ERR);
                call_result_done(&res);
                return rc;
        }
        call_result_done(&res);
        /* sudo with a NOPASSWD rule (and su from root, runuser) skips the
         * auth phase; the step-up policy must hold all the same: when auth
         * did not already step this agent up, do it here. */
        mode = mode_for(&a, service);
        if (mode != MODE_TOKEN &&
            !(pam_get_data(pamh, DATA_STEPPED, &stepped) == PAM_SUCCESS && stepped)) {
                if (pam_get_data(pamh, DATA_FINAL, &final) == PAM_SUCCESS && final)
                        return atoi(final);
                if (a.debug)
                        pam_syslog(pamh, LOG_DEBUG, "account: %s for agent %s without auth: step-up now", service,
                                   user);
                rc = step_up(pamh, &a, user, service, mode);
                if (rc == PAM_SUCCESS)
                        (void) pam_set_data(pamh, DATA_STEPPED, (void *) "1", NULL);
                /* sudo reads PAM_AUTH_ERR here as "is your account
                 * locked?"; the refusal's reason is on the conversation. */
                return rc == PAM_AUTH_ERR ? PAM_PERM_DENIED : rc;
        }
        return PAM_SUCCESS;
}

/* ---- session ----------------------------------------------------------------- */

EXPORT int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        struct nss_cache_entry e;
        struct args a;
        const char *user = NULL;
        struct call_result res;
        uint64_t session = 0;
        char *v = NULL;
        json_t *p;
        int r;

        (void) flags;
        parse_args(pamh, argc, argv, &a);
        if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || !lookup_agent(&a, user, &e))
                return PAM_IGNORE;
        p = json_pack("{s:s, s:o, s:I, s:o, s:o}", "agent", user, "service",
                      text(item(pamh, PAM_SERVICE), AGENTID_SERVICE_MAX), "pid", (json_int_t) getpid(), "tty",
                      text(item(pamh, PAM_TTY), AGENTID_TTY_MAX), "rhost",
                      text(item(pamh, PAM_RHOST), AGENTID_RHOST_MAX));
        if (!p)
                return PAM_BUF_ERR;
        r = ask(pamh, &a, AGENTID_METHOD_SESSION_OPEN, p, a.timeout_ms, &res);
        json_decref(p);
        conn_drop(pamh); /* not held while the session lasts */
        if (r < 0) {
                say_unreachable(pamh, &a, r);
                return PAM_SESSION_ERR;
        }
        if (res.error) {
                pam_error(pamh, "agentid: %s", res.message);
                call_result_done(&res);
                return PAM_SESSION_ERR;
        }
        (void) json_get_uint(res.params, "session", INT64_MAX, &session);
        call_result_done(&res);
        if (asprintf(&v, "%" PRIu64, session) < 0)
                return PAM_BUF_ERR;
        if (pam_set_data(pamh, DATA_SESSION, v, free_string) != PAM_SUCCESS) {
                free(v);
                return PAM_SESSION_ERR;
        }
        if (a.debug)
                pam_syslog(pamh, LOG_DEBUG, "session %" PRIu64 " of %s opened", session, user);
        return PAM_SUCCESS;
}

EXPORT int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        struct args a;
        const char *user = NULL;
        const void *session = NULL;
        struct call_result res;
        json_t *p;
        int r;

        (void) flags;
        parse_args(pamh, argc, argv, &a);
        /* Only sessions we opened: the handle remembers them, so this
         * needs no lookup at all for humans. The agent may have expired
         * meanwhile; the broker still closes the record. */
        if (pam_get_data(pamh, DATA_SESSION, &session) != PAM_SUCCESS || !session ||
            pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || !user)
                return PAM_IGNORE;
        p = json_pack("{s:s, s:I}", "agent", user, "session", (json_int_t) strtoll(session, NULL, 10));
        if (!p)
                return PAM_BUF_ERR;
        r = ask(pamh, &a, AGENTID_METHOD_SESSION_CLOSE, p, a.timeout_ms, &res);
        json_decref(p);
        if (r < 0) {
                say_unreachable(pamh, &a, r);
                return PAM_SESSION_ERR;
        }
        if (res.error) {
                pam_syslog(pamh, LOG_ERR, "closing session of %s: %s", user, res.message);
                call_result_done(&res);
                return PAM_SESSION_ERR;
        }
        if (json_is_true(json_object_get(res.params, "revoked")))
                pam_syslog(pamh, LOG_INFO, "%s lived for this session and is now revoked", user);
        call_result_done(&res);
        (void) pam_set_data(pamh, DATA_SESSION, NULL, NULL);
        return PAM_SUCCESS;
}
