/* SPDX-License-Identifier: MIT */
/* io.agentid.Mint: a new identity from a template, for the calling user. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agentid/protocol.h"
#include "broker.h"
#include "delegation.h"
#include "events.h"
#include "lifecycle.h"
#include "methods.h"
#include "duration.h"
#include "log.h"
#include "macro.h"
#include "protocol.h"
#include "names.h"

static int optional_text(json_t *params, const char *key, size_t max, char *dst, size_t size,
                         struct reply *reply) {
        const char *s;
        int r = json_get_string(params, key, &s);

        if (r == -ENOENT)
                return 0;
        if (r < 0 || !text_is_valid(s, max))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER,
                                  "%s must be printable UTF-8 text of 1 to %zu bytes, without control, bidi or "
                                  "zero-width characters",
                                  key, max);
        snprintf(dst, size, "%s", s);
        return 0;
}

static void join_groups(const struct template *t, char *buf, size_t size) {
        size_t o = 0;

        buf[0] = '\0';
        for (size_t k = 0; k < t->n_groups && o < size; k++)
                o += (size_t) snprintf(buf + o, size - o, "%s%s", k ? "," : "", t->group_names[k]);
}

int method_mint(struct broker *b, const struct caller *c, json_t *params, struct reply *reply) {
        static const char *const known[] = { "template", "ttl", "reason", "on_behalf_of", NULL };
        const struct template *t;
        const char *template_name = "default";
        struct identity i = {}, parent;
        char child_detail[AGENTID_NAME_MAX + 64];
        bool child, ttl_given;
        struct event e;
        char detail[256], a[32], m[32];
        uint64_t ttl;
        int r;

        if (params_check_known(params, known, reply) < 0)
                return -EPROTO;
        r = json_get_string(params, "template", &template_name);
        if (r == -EINVAL || (r == 0 && !template_name_is_valid(template_name)))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "template must be a template name");
        if (r == -ENOENT)
                template_name = "default";
        t = template_set_find(&b->templates, template_name);
        if (!t) {
                snprintf(detail, sizeof(detail), "no template \"%s\"", template_name);
                broker_record_denial(b, c, NULL, template_name, detail);
                return reply_fail(reply, AGENTID_ERROR_NO_SUCH_TEMPLATE, "%s", detail);
        }
        /* A live agent minting makes a sub-agent: attenuation decides
         * (delegation.c), not the template's invokers. */
        child = broker_caller_agent(b, c, &parent) == 0;
        if (!child && !caller_may_mint(t, c)) {
                snprintf(detail, sizeof(detail), "uid %u may not mint with template \"%s\"", (unsigned) c->uid,
                         t->name);
                broker_record_denial(b, c, NULL, t->name, detail);
                return reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED, "%s (not among its invokers)", detail);
        }

        r = json_get_duration(params, "ttl", &ttl);
        ttl_given = r != -ENOENT;
        if (r == -ENOENT)
                ttl = t->ttl_usec;
        else if (r < 0 || ttl < AGENTID_TTL_MIN_USEC)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER,
                                  "ttl must be a duration such as 90s, 5m or 1h30m, at least 1s");
        if (ttl > t->max_ttl_usec) {
                snprintf(detail, sizeof(detail), "ttl %s exceeds template \"%s\" max_ttl %s",
                         duration_format(ttl, a, sizeof(a)), t->name, duration_format(t->max_ttl_usec, m, sizeof(m)));
                broker_record_denial(b, c, NULL, t->name, detail);
                return reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED, "%s", detail);
        }
        if (child && delegation_check_mint(b, c, &parent, t, &ttl, ttl_given, reply) < 0)
                return -EPROTO;
        if (optional_text(params, "reason", AGENTID_REASON_MAX, i.reason, sizeof(i.reason), reply) < 0 ||
            optional_text(params, "on_behalf_of", AGENTID_ON_BEHALF_OF_MAX, i.on_behalf_of,
                          sizeof(i.on_behalf_of), reply) < 0)
                return -EPROTO;

        r = allocator_pick(&b->allocator, b->store, &i.uid);
        if (r == -ENOSPC) {
                broker_record_denial(b, c, NULL, t->name, "uid range exhausted");
                return reply_fail(reply, AGENTID_ERROR_RANGE_EXHAUSTED, "no free uid in %u-%u",
                                  (unsigned) b->allocator.min, (unsigned) b->allocator.max);
        }
        if (r < 0)
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "allocating a uid failed: %s", strerror(-r));
        i.gid = i.uid;
        i.owner_uid = c->uid;
        i.invoker_pid = c->pid;
        snprintf(i.template_name, sizeof(i.template_name), "%s", t->name);
        snprintf(i.shell, sizeof(i.shell), "%s", t->shell);
        join_groups(t, i.groups, sizeof(i.groups));
        i.created_usec = now_usec();
        i.expires_usec = i.created_usec + ttl;
        if (child) {
                /* Never outlive the parent, not even by the microseconds
                 * since the check. */
                if (i.expires_usec > parent.expires_usec)
                        i.expires_usec = parent.expires_usec;
                snprintf(i.parent, sizeof(i.parent), "%s", parent.name);
                snprintf(child_detail, sizeof(child_detail), "%s, sub-agent of %s", duration_format(ttl, a, sizeof(a)),
                         parent.name);
        }

        /* A random suffix collides about once in 387M; retry a few times. */
        for (int attempt = 0; attempt < 8; attempt++) {
                _cleanup_savepoint_ struct savepoint sp = {};

                r = agent_name_generate(b->config.name_prefix, t->name, i.name, sizeof(i.name));
                if (r < 0)
                        return reply_fail(reply, AGENTID_ERROR_INTERNAL, "generating a name failed: %s",
                                          strerror(-r));
                r = template_home_for(t, i.name, b->state_dir, i.home, sizeof(i.home));
                if (r < 0)
                        return reply_fail(reply, AGENTID_ERROR_INTERNAL, "home path too long");

                r = savepoint_begin(&sp, b->store);
                if (r < 0)
                        return reply_fail(reply, AGENTID_ERROR_INTERNAL, "the store is unavailable: %s",
                                          strerror(-r));
                r = store_insert_identity(b->store, &i);
                if (r == -EEXIST) {
                        savepoint_rollback(&sp);
                        if (attempt == 7)
                                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "no unused agent name found");
                        continue;
                }
                /* The allocator's cursor is stored once per turn, with the
                 * turn's commit (allocator_persist), not once per mint. */
                if (r == 0) {
                        e = event_for(EVENT_MINT, &i, c, child ? child_detail : duration_format(ttl, a, sizeof(a)));
                        e.time_usec = i.created_usec;
                        r = audit_record(&b->audit, &e);
                        if (r < 0)
                                return reply_fail(reply, AGENTID_ERROR_AUDIT_FAILED,
                                                  "the mint could not be recorded, so it was refused: %s",
                                                  strerror(-r));
                }
                r = savepoint_end(&sp, r);
                break;
        }
        if (r < 0) {
                log_error("mint for uid %u failed: %s (%s)", (unsigned) c->uid, strerror(-r), store_error(b->store));
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "the identity could not be stored: %s", strerror(-r));
        }

        b->live_count++;
        /* Visible to getpwnam() and friends from here on. If it cannot be
         * published the agent would exist without an account: fail closed,
         * revoke it in this same turn (docs/nss-cache.md). */
        if (b->nss_cache) {
                r = nss_cache_add_identity(b->nss_cache, &i, true);
                if (r < 0) {
                        int64_t id = i.id;
                        log_error("%s: cannot publish to the NSS cache: %s", i.name, strerror(-r));
                        (void) broker_end_identities(b, NULL, &id, 1, IDENTITY_REVOKED,
                                                     "could not publish to the NSS cache");
                        return reply_fail(reply, AGENTID_ERROR_INTERNAL,
                                          "the account could not be published, so the mint was undone: %s",
                                          strerror(-r));
                }
        }
        if (expiry_add(&b->expiry, i.expires_usec, i.id) < 0 || expiry_arm(&b->expiry) < 0) {
                /* Without a timer the TTL would not hold: undo. */
                int64_t id = i.id;
                (void) broker_end_identities(b, NULL, &id, 1, IDENTITY_REVOKED, "could not arm expiry");
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "could not arm the expiry timer");
        }
        reply->parameters = identity_to_json(&b->owners, &i, i.created_usec);
        return 0;
}
