/* SPDX-License-Identifier: MIT */
/* io.agentid.Run: mint an identity and run a command as it, with the
 * invoker's stdin/stdout/stderr; io.agentid.Signal: forward a signal. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentid/protocol.h"
#include "broker.h"
#include "conn.h"
#include "lifecycle.h"
#include "methods.h"
#include "log.h"
#include "macro.h"
#include "names.h"
#include "protocol.h"
#include "task.h"

/* Environment names a caller may not set: the broker sets them. */
static bool env_name_is_reserved(const char *k) {
        return streq(k, "HOME") || streq(k, "USER") || streq(k, "LOGNAME") || streq(k, "SHELL") ||
               strncmp(k, "AGENTID_", 8) == 0;
}

static bool env_name_is_valid(const char *k) {
        size_t n = strlen(k);

        if (n == 0 || n > AGENTID_RUN_ENV_NAME_MAX || (k[0] >= '0' && k[0] <= '9'))
                return false;
        for (; *k; k++)
                if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_'))
                        return false;
        return true;
}

static void strv_free(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

static int env_add(char **env, size_t *n, const char *k, const char *v) {
        if (asprintf(&env[*n], "%s=%s", k, v) < 0)
                return -ENOMEM;
        (*n)++;
        return 0;
}

static bool string_ok(json_t *v) {
        return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

int method_run(struct broker *b, struct conn *conn, json_t *params, struct reply *reply) {
        static const char *const known[] = { "template", "ttl", "reason", "on_behalf_of", "argv", "env", "cwd", NULL };
        static const char *const mint_keys[] = { "template", "ttl", "reason", "on_behalf_of" };
        const struct caller *c = conn_caller(conn);
        json_t *argv = json_object_get(params, "argv"), *env = json_object_get(params, "env"), *mint_params = NULL, *v;
        struct task_spec spec = {};
        const struct template *t;
        const char *cwd = NULL, *key, *name;
        struct identity i;
        char error[512], path_env[1024], socket_dir[sizeof(b->socket_path)];
        size_t k, n_env = 0;
        const int *fds;
        size_t n_fds = conn_fds(conn, &fds);
        int r = -1;

        if (params_check_known(params, known, reply) < 0)
                return -EPROTO;
        if (n_fds != 3)
                return reply_fail(reply, AGENTID_ERROR_INVALID_REQUEST,
                                  "Run needs exactly 3 file descriptors (stdin, stdout, stderr) sent with the request");
        if (!json_is_array(argv) || json_array_size(argv) == 0 || json_array_size(argv) > AGENTID_RUN_ARGV_MAX)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "argv must be a list of 1 to %d strings",
                                  AGENTID_RUN_ARGV_MAX);
        json_array_foreach(argv, k, v) if (!string_ok(v) || (k == 0 && json_string_length(v) == 0)) return reply_fail(
                reply, AGENTID_ERROR_INVALID_PARAMETER, "argv[%zu] must be a string without NUL", k);
        if (env && (!json_is_object(env) || json_object_size(env) > AGENTID_RUN_ENV_MAX))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "env must be an object of at most %d strings",
                                  AGENTID_RUN_ENV_MAX);
        json_object_foreach(env, key, v) {
                if (!env_name_is_valid(key) || !string_ok(v))
                        return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER,
                                          "env: \"%.64s\" is not NAME=string", key);
                if (env_name_is_reserved(key))
                        return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER,
                                          "env: %.64s is set by the broker and may not be given", key);
        }
        r = json_get_string(params, "cwd", &cwd);
        if (r == -EINVAL || (r == 0 && (cwd[0] != '/' || !text_is_valid(cwd, AGENTID_PATH_MAX))))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "cwd must be an absolute path");

        /* Mint exactly as io.agentid.Mint would, with the same policy. */
        mint_params = json_object();
        for (k = 0; k < ELEMENTSOF(mint_keys); k++)
                if ((v = json_object_get(params, mint_keys[k])))
                        json_object_set(mint_params, mint_keys[k], v);
        r = method_mint(b, c, mint_params, reply);
        json_decref(mint_params);
        if (r < 0)
                return r;
        r = json_get_string(reply->parameters, "name", &name);
        if (r < 0 || store_find(b->store, name, 0, false, &i) < 0 ||
            !(t = template_set_find(&b->templates, i.template_name)))
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "the new identity vanished");
        json_decref(reply->parameters);
        reply->parameters = NULL;

        /* A clean environment: only what the task needs and what it asked. */
        spec.argv = calloc(json_array_size(argv) + 1, sizeof(char *));
        spec.envp = calloc(json_object_size(env) + 8, sizeof(char *));
        if (!spec.argv || !spec.envp)
                goto oom;
        json_array_foreach(argv, k, v) if (!(spec.argv[k] = strdup(json_string_value(v)))) goto oom;
        if (env_add(spec.envp, &n_env, "HOME", i.home) < 0 || env_add(spec.envp, &n_env, "USER", i.name) < 0 ||
            env_add(spec.envp, &n_env, "LOGNAME", i.name) < 0 || env_add(spec.envp, &n_env, "SHELL", i.shell) < 0 ||
            env_add(spec.envp, &n_env, "AGENTID_NAME", i.name) < 0 ||
            env_add(spec.envp, &n_env, "AGENTID_SOCKET", b->socket_path) < 0)
                goto oom;
        if (!json_object_get(env, "PATH")) {
                snprintf(path_env, sizeof(path_env), "%s", AGENTID_RUN_DEFAULT_PATH);
                if (env_add(spec.envp, &n_env, "PATH", path_env) < 0)
                        goto oom;
        }
        json_object_foreach(env, key, v) if (env_add(spec.envp, &n_env, key, json_string_value(v)) < 0) goto oom;
        spec.cwd = cwd;
        snprintf(socket_dir, sizeof(socket_dir), "%s", b->socket_path);
        if (strrchr(socket_dir, '/') && strrchr(socket_dir, '/') != socket_dir) {
                *strrchr(socket_dir, '/') = '\0';
                spec.socket_dir = socket_dir;
        }
        memcpy(spec.fds, fds, sizeof(spec.fds));
        /* sudo needs its setuid bit to work; otherwise no privilege may ever
         * be gained by the task (no setuid, no file capabilities). */
        spec.no_new_privs = t->sudo == STEP_DENY;

        r = task_start(b, conn, &i, t, &spec, error, sizeof(error));
        if (r < 0) {
                int64_t id = i.id;
                char why[600];
                snprintf(why, sizeof(why), "task could not start: %s", error);
                (void) broker_end_identities(b, NULL, &id, 1, IDENTITY_REVOKED, why);
                reply_fail(reply, AGENTID_ERROR_TASK_FAILED, "%s", error);
        }
        strv_free(spec.argv);
        strv_free(spec.envp);
        return r < 0 ? -EPROTO : 0;
oom:
        strv_free(spec.argv);
        strv_free(spec.envp);
        {
                int64_t id = i.id;
                (void) broker_end_identities(b, NULL, &id, 1, IDENTITY_REVOKED, "task could not start: out of memory");
        }
        return reply_fail(reply, AGENTID_ERROR_INTERNAL, "out of memory");
}

int method_signal(struct broker *b, struct conn *conn, json_t *params, struct reply *reply) {
        /* What a terminal or a supervisor would send; nothing that would
         * stop the broker from tearing the task down (SIGKILL is ours). */
        static const int allowed[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };
        uint64_t signo = 0;
        int r;

        (void) reply; /* one-way: never answered */
        if (json_get_uint(params, "signal", 64, &signo) < 0)
                return 0;
        for (size_t k = 0; k < ELEMENTSOF(allowed); k++)
                if ((int) signo == allowed[k]) {
                        r = task_signal(b, conn, (int) signo);
                        if (r < 0)
                                log_debug("signal %d not delivered: %s", (int) signo, strerror(-r));
                        return 0;
                }
        return 0;
}

int method_run_attach(struct broker *b, struct conn *conn, json_t *params, struct reply *reply) {
        static const char *const known[] = { "agent", NULL };
        const char *agent = NULL;
        json_t *first = NULL;
        int r;

        if (params_check_known(params, known, reply) < 0)
                return -EPROTO;
        if (json_get_string(params, "agent", &agent) < 0 || !agent_name_is_valid(agent))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "agent must be an agent name");
        r = task_attach(b, conn, agent, conn_caller(conn), &first);
        if (r == -EPERM)
                return reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED, "not your task");
        if (r == -EBUSY)
                return reply_fail(reply, AGENTID_ERROR_INVALID_REQUEST, "the task already has an invoker");
        if (r < 0)
                return reply_fail(reply, AGENTID_ERROR_NO_SUCH_AGENT, "no running task of %s", agent);
        conn_send_reply(b, conn, first, NULL, NULL);
        json_decref(first);
        return 0;
}
