/* SPDX-License-Identifier: MIT */
/* Read-only methods: io.agentid.List, io.agentid.Show, io.agentid.Status. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentid/protocol.h"
#include "broker.h"
#include "delegation.h"
#include "methods.h"
#include "uid-killer.h"
#include "duration.h"
#include "macro.h"
#include "protocol.h"
#include "names.h"

struct list_ctx {
        struct owner_cache *owners;
        json_t *agents;
        uint64_t now;
        int64_t last_id;
        unsigned examined;
};

static int list_one(void *userdata, const struct identity *i) {
        struct list_ctx *ctx = userdata;
        json_t *o;

        ctx->examined++;
        /* Live in the store but past its deadline: already gone for every
         * caller, whatever the expiry timer has or has not done yet. */
        if (i->state == IDENTITY_LIVE && i->expires_usec <= ctx->now) {
                ctx->last_id = i->id;
                return 0;
        }
        o = identity_to_json(ctx->owners, i, ctx->now);
        if (!o || json_array_append_new(ctx->agents, o) < 0)
                return -ENOMEM;
        ctx->last_id = i->id;
        return 0;
}

int method_list(struct broker *b, const struct caller *c, json_t *params, struct reply *reply) {
        static const char *const known[] = { "all", "owner", "after", "limit", NULL };
        struct list_ctx ctx = { .owners = &b->owners, .now = now_usec() };
        struct store_filter f = { .owner_uid = -1, .limit = AGENTID_LIST_PAGE_MAX };
        uint64_t after = 0, limit = AGENTID_LIST_PAGE_MAX, owner;
        int all = 0, r;

        if (params_check_known(params, known, reply) < 0)
                return -EPROTO;
        if (json_get_bool(params, "all", &all) == -EINVAL)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "all must be true or false");
        if (json_get_uint(params, "after", INT64_MAX, &after) == -EINVAL)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "after must be a cursor from a previous page");
        r = json_get_uint(params, "limit", AGENTID_LIST_PAGE_MAX, &limit);
        if (r == -EINVAL || (r == 0 && limit == 0))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "limit must be 1 to %d",
                                  AGENTID_LIST_PAGE_MAX);
        r = json_get_uint(params, "owner", UINT32_MAX - 1, &owner);
        if (r == -EINVAL)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "owner must be a uid");
        if (r == 0)
                f.owner_uid = (int64_t) owner;

        /* Non-admins see their own agents only. */
        if (!caller_is_admin(b, c)) {
                if (f.owner_uid >= 0 && f.owner_uid != (int64_t) c->uid)
                        return reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED,
                                          "only admins may list other users' agents");
                f.owner_uid = c->uid;
        }
        f.include_ended = all;
        f.after_id = (int64_t) after;
        f.limit = (unsigned) limit;
        ctx.last_id = (int64_t) after;
        ctx.agents = json_array();
        if (!ctx.agents)
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "out of memory");
        r = store_list(b->store, &f, list_one, &ctx);
        if (r < 0) {
                json_decref(ctx.agents);
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "reading the store failed");
        }
        /* A full page may have more behind it: hand back the cursor. */
        reply->parameters = json_pack("{s:o, s:o}", "agents", ctx.agents, "next",
                                      ctx.examined == f.limit ? json_integer(ctx.last_id) : json_null());
        return 0;
}

int method_show(struct broker *b, const struct caller *c, json_t *params, struct reply *reply) {
        static const char *const known[] = { "agent", "uid", NULL };
        struct identity i;
        const char *name = NULL;
        uint64_t uid = 0;
        int rn, ru, r;

        if (params_check_known(params, known, reply) < 0)
                return -EPROTO;
        rn = json_get_string(params, "agent", &name);
        ru = json_get_uint(params, "uid", UINT32_MAX - 1, &uid);
        if (rn == -EINVAL || (rn == 0 && !agent_name_is_valid(name)))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "agent must be an agent name");
        if (ru == -EINVAL)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "uid must be a uid");
        if ((rn == 0) == (ru == 0))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "give exactly one of agent or uid");

        r = store_find(b->store, name, (uint32_t) uid, ru == 0, &i);
        if (r == -ENOENT) {
                if (name)
                        return reply_fail(reply, AGENTID_ERROR_NO_SUCH_AGENT, "no agent %s", name);
                return reply_fail(reply, AGENTID_ERROR_NO_SUCH_AGENT, "no agent with uid %llu",
                                  (unsigned long long) uid);
        }
        if (r < 0)
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "reading the store failed");
        if (!caller_may_manage(b, c, &i))
                return reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED,
                                  "only the owner of %s or an admin may see it", i.name);
        reply->parameters = identity_to_json(&b->owners, &i, now_usec());
        /* Who it acts for: parent agents, then the user, nearest first. */
        if (reply->parameters)
                json_object_set_new(reply->parameters, "delegation", delegation_chain(b, &i));
        return 0;
}

static json_t *template_to_json(const struct template *t) {
        char ttl[32], max_ttl[32], confinement[2048];
        json_t *groups = json_array(), *scopes = json_array(), *o;

        for (size_t k = 0; k < t->n_groups; k++)
                json_array_append_new(groups, json_string(t->group_names[k]));
        for (size_t k = 0; k < t->n_scopes; k++)
                json_array_append_new(scopes, json_string(t->scopes[k]));
        o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:s, s:s}", "name", t->name, "description",
                      t->description, "ttl", duration_format(t->ttl_usec, ttl, sizeof(ttl)), "max_ttl",
                      duration_format(t->max_ttl_usec, max_ttl, sizeof(max_ttl)), "groups", groups, "scopes", scopes,
                      "sudo", step_rule_to_string(t->sudo), "ssh", step_rule_to_string(t->ssh), "home", t->home,
                      "shell", t->shell, "source", t->source);
        /* Its tasks' confinement, as "Key=value" lines (agentid-templates(5)). */
        if (o && confinement_format(&t->confinement, confinement, sizeof(confinement)) == 0)
                json_object_set_new(o, "confinement", json_string(confinement));
        return o;
}

int method_status(struct broker *b, const struct caller *c, json_t *params, struct reply *reply) {
        static const char *const known[] = { NULL };
        char started[RFC3339_MAX];
        json_t *templates;
        uint64_t now = now_usec();

        if (params_check_known(params, known, reply) < 0)
                return -EPROTO;
        templates = json_array();
        for (size_t k = 0; templates && k < b->templates.n; k++)
                json_array_append_new(templates, template_to_json(&b->templates.items[k]));
        reply->parameters = json_pack(
                "{s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:s, s:o, s:I, s:b, s:{s:I, s:b}}", "version", PACKAGE_VERSION,
                "pid", (json_int_t) getpid(), "started_at", rfc3339_format(b->started_usec, started, sizeof(started)),
                "uptime_usec", (json_int_t) (now - b->started_usec), "live_agents", (json_int_t) b->live_count,
                "uid_min", (json_int_t) b->config.uid_min, "uid_max", (json_int_t) b->config.uid_max, "name_prefix",
                b->config.name_prefix, "templates", templates ? templates : json_array(), "connections",
                (json_int_t) b->n_conns, "journal", b->audit.journal, "caller", "uid", (json_int_t) c->uid, "admin",
                caller_is_admin(b, c));
        if (reply->parameters)
                json_object_set_new(reply->parameters, "exec_trail", json_boolean(exec_trail_active(b)));
        if (reply->parameters) {
                /* How tasks run, and which cgroup controllers it can use. */
                static const char *const controllers[_CGROUP_MAX] = { "memory", "cpu", "pids" };
                json_t *cg = json_array();
                for (int k = 0; k < _CGROUP_MAX; k++)
                        if (b->runtime.cgroup_parent[k][0])
                                json_array_append_new(cg, json_string(controllers[k]));
                json_object_set_new(reply->parameters, "runtime", json_string(runtime_name(&b->runtime)));
                json_object_set_new(reply->parameters, "runtime_cgroup_controllers", cg);
                json_object_set_new(reply->parameters, "runtime_landlock_abi", json_integer(b->runtime.landlock_abi));
                json_object_set_new(reply->parameters, "runtime_seccomp",
                                    json_boolean(b->runtime.syscall_filters[0].program != NULL));
                /* How an ended uid's processes die (uid-killer.h): at once
                 * from the broker, or by the cleaners' walks of /proc only. */
                json_object_set_new(reply->parameters, "uid_killer", json_boolean(b->uid_killer != NULL));
                json_object_set_new(reply->parameters, "uid_killer_kills",
                                    json_integer((json_int_t) uid_killer_done(b->uid_killer)));
        }
        return 0;
}
