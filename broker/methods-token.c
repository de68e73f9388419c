/* SPDX-License-Identifier: MIT */
/* Credentials: io.agentid.IssueToken, VerifyToken, Jwks, RotateKeys,
 * IssueGrant, RedeemGrant. See docs/tokens.md. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "agentid/protocol.h"
#include "agentid/token.h"
#include "base64url.h"
#include "broker.h"
#include "delegation.h"
#include "events.h"
#include "methods.h"
#include "duration.h"
#include "jwt.h"
#include "log.h"
#include "macro.h"
#include "names.h"
#include "protocol.h"
#include "uri.h"

#define USEC_PER_SEC UINT64_C(1000000)

static int param_audience(struct broker *b, json_t *params, const char **ret, struct reply *reply) {
        int r = json_get_string(params, "audience", ret);

        if (r == -ENOENT) {
                /* Unnamed audience: this host's broker itself (pam_agentid). */
                *ret = b->config.issuer;
                return 0;
        }
        /* RFC 8707 section 2: a resource indicator is an absolute URI
         * without a fragment. */
        if (r < 0 || !uri_is_absolute(*ret, AGENTID_AUDIENCE_MAX, true))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER,
                                  "audience must be an absolute URI without a fragment (RFC 8707), at most %d bytes, "
                                  "such as https://mcp.example.com/mcp or mcp://tickets",
                                  AGENTID_AUDIENCE_MAX);
        return 0;
}

static bool template_has_scope(const struct template *t, const char *scope) {
        for (size_t k = 0; t && k < t->n_scopes; k++)
                if (streq(t->scopes[k], scope))
                        return true;
        return false;
}

/* The scope claim: the requested subset of the template's scopes, or all
 * of them. Space-separated (RFC 8693 section 4.2). */
static int scope_claim(struct broker *b, const struct caller *c, const struct identity *i, json_t *params,
                       char *buf, size_t size, struct reply *reply) {
        const struct template *t = template_set_find(&b->templates, i->template_name);
        json_t *req = json_object_get(params, "scopes"), *v;
        size_t k, o = 0;

        buf[0] = '\0';
        if (req && (!json_is_array(req) || json_array_size(req) > AGENTID_SCOPES_MAX))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "scopes must be a list of at most %d scopes",
                                  AGENTID_SCOPES_MAX);
        if (!req) {
                for (k = 0; t && k < t->n_scopes; k++)
                        o += (size_t) snprintf(buf + o, size - o, "%s%s", o ? " " : "", t->scopes[k]);
                return 0;
        }
        json_array_foreach(req, k, v) {
                const char *s = json_string_value(v);
                if (!s || strlen(s) != json_string_length(v) || !text_is_valid(s, AGENTID_SCOPE_LEN_MAX))
                        return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "scopes[%zu] is not a scope", k);
                if (!template_has_scope(t, s)) {
                        char detail[192];
                        snprintf(detail, sizeof(detail), "scope \"%s\" is not granted to %s (template %s)", s, i->name,
                                 i->template_name);
                        broker_record_denial(b, c, i->name, i->template_name, detail);
                        return reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED, "%s", detail);
                }
                o += (size_t) snprintf(buf + o, size - o, "%s%s", o ? " " : "", s);
        }
        return 0;
}

static int make_jti(char *buf, size_t size) {
        uint8_t rnd[AGENTID_JTI_BYTES];

        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
                return -EIO;
        return base64url_encode(rnd, sizeof(rnd), buf, size) < 0 ? -ENOBUFS : 0;
}

/* Claims every credential carries about its agent, under private names. */
static int agent_claims(json_t *claims, const struct identity *i, const char *scope) {
        if (json_object_set_new(claims, AGENTID_CLAIM_UID, json_integer(i->uid)) < 0 ||
            json_object_set_new(claims, AGENTID_CLAIM_TEMPLATE, json_string(i->template_name)) < 0 ||
            (scope[0] && json_object_set_new(claims, "scope", json_string(scope)) < 0))
                return -ENOMEM;
        return 0;
}

/* An access token in the RFC 9068 profile: client_id is the agent, sub the
 * principal it acts for (else the agent itself), act the RFC 8693 chain of
 * actors with the agent outermost. */
static json_t *token_claims(struct broker *b, const struct identity *i, json_t *chain, const char *audience,
                            uint64_t iat, uint64_t exp, const char *jti, const char *scope) {
        const char *principal = delegation_principal(chain), *owner;
        json_t *claims, *act = delegation_act(i, chain), *first;

        /* The owner: whoever minted the agent (the nearest chain entry). */
        first = json_array_get(chain, 0);
        owner = json_string_value(json_object_get(first, "sub"));
        claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:I}", "iss", b->config.issuer, "sub",
                           principal ?: i->name, "client_id", i->name, "aud", audience, "iat", (json_int_t) iat, "nbf",
                           (json_int_t) iat, "exp", (json_int_t) exp, "jti", jti, AGENTID_CLAIM_OWNER, owner ?: "",
                           AGENTID_CLAIM_OWNER_UID, (json_int_t) i->owner_uid);
        if (!claims || !act) {
                json_decref(act);
                json_decref(claims);
                return NULL;
        }
        /* set_new takes act even when it fails. */
        if (json_object_set_new(claims, "act", act) < 0 || agent_claims(claims, i, scope) < 0) {
                json_decref(claims);
                return NULL;
        }
        return claims;
}

/* A one-time grant: no sub, client_id or aud at all, so that no access
 * token verifier takes it for a token even if it ignores typ. */
static json_t *grant_claims(struct broker *b, const struct identity *i, const char *audience, uint64_t iat,
                            uint64_t exp, const char *jti, const char *scope) {
        json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "iss", b->config.issuer,
                                   AGENTID_CLAIM_GRANT_AGENT, i->name, AGENTID_CLAIM_GRANT_AUDIENCE, audience, "iat",
                                   (json_int_t) iat, "nbf", (json_int_t) iat, "exp", (json_int_t) exp, "jti", jti);

        if (!claims || agent_claims(claims, i, scope) < 0) {
                json_decref(claims);
                return NULL;
        }
        return claims;
}

/* IssueToken and IssueGrant: for the live agent the caller runs as, and
 * for nobody else. */
static int issue(struct broker *b, const struct caller *c, json_t *params, bool grant, struct reply *reply) {
        static const char *const known[] = { "audience", "ttl", "scopes", NULL };
        const struct signing_key *key = keyring_current(&b->keys);
        char scope[AGENTID_SCOPES_MAX * (AGENTID_SCOPE_LEN_MAX + 1) + 1], jti[AGENTID_JTI_MAX], hash[64];
        char detail[512], d[32], expires_at[RFC3339_MAX];
        uint64_t ttl, now, iat, exp, max_ttl = grant ? AGENTID_GRANT_TTL_MAX_USEC : AGENTID_TOKEN_TTL_MAX_USEC;
        _cleanup_free_ char *token = NULL;
        _cleanup_savepoint_ struct savepoint sp = {};
        json_t *claims = NULL, *chain = NULL, *status;
        const char *audience;
        uint64_t idx = 0;
        struct identity i;
        struct event e;
        int r;

        if (params_check_known(params, known, reply) < 0)
                return -EPROTO;
        if (broker_caller_agent(b, c, &i) < 0) {
                snprintf(detail, sizeof(detail),
                         "uid %u asked for a %s but is no live agent; only an agent's own processes get its credentials",
                         (unsigned) c->uid, grant ? "grant" : "token");
                broker_record_denial(b, c, NULL, NULL, detail);
                return reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED, "%s", detail);
        }
        if (param_audience(b, params, &audience, reply) < 0)
                return -EPROTO;
        r = json_get_duration(params, "ttl", &ttl);
        if (r == -ENOENT)
                ttl = grant ? AGENTID_GRANT_TTL_DEFAULT_USEC : AGENTID_TOKEN_TTL_DEFAULT_USEC;
        else if (r < 0 || ttl < USEC_PER_SEC || ttl > max_ttl)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "ttl must be a duration from 1s to %s",
                                  duration_format(max_ttl, d, sizeof(d)));
        if (scope_claim(b, c, &i, params, scope, sizeof(scope), reply) < 0)
                return -EPROTO;
        if (!key || !b->keys.signer)
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "no signing key");

        now = now_usec();
        iat = now / USEC_PER_SEC;
        /* Never outlive the agent: round its end down to whole seconds. */
        exp = (now + ttl < i.expires_usec ? now + ttl : i.expires_usec) / USEC_PER_SEC;
        if (exp <= iat)
                return reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED, "%s expires within a second", i.name);
        if (make_jti(jti, sizeof(jti)) < 0)
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "no randomness for a jti");

        /* A token's place in the status list is the rowid its row will get
         * (the broker is the single writer: nothing comes in between). */
        if (!grant && creds_token_next_index(b->creds, &idx) < 0)
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "reading the store failed");
        chain = delegation_chain(b, &i);
        claims = grant ? grant_claims(b, &i, audience, iat, exp, jti, scope)
                       : token_claims(b, &i, chain, audience, iat, exp, jti, scope);
        json_decref(chain);
        if (claims && !grant && (status = status_list_claim(b, idx)) &&
            json_object_set_new(claims, "status", status) < 0) {
                json_decref(claims);
                claims = NULL;
        }
        if (!claims)
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "out of memory");
        r = jwt_sign(b->keys.signer, key->kid, grant ? AGENTID_GRANT_TYP : AGENTID_TOKEN_TYP, claims, &token);
        json_decref(claims);
        if (r < 0 || jwt_hash(token, strlen(token), hash, sizeof(hash)) < 0)
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "signing failed: %s", strerror(r < 0 ? -r : EIO));

        /* The row (never the token) and the event, together or not at all. */
        snprintf(detail, sizeof(detail), "jti %s, audience %s, expires in %s, key %s", jti, audience,
                 duration_format(exp * USEC_PER_SEC - iat * USEC_PER_SEC, d, sizeof(d)), key->kid);
        e = event_for(grant ? EVENT_GRANT : EVENT_TOKEN, &i, c, detail);
        e.time_usec = now;
        r = savepoint_begin(&sp, b->store);
        if (r == 0)
                r = creds_token_insert(b->creds, &(struct token_row) {
                                                         .jti = jti,
                                                         .agent = i.name,
                                                         .kid = key->kid,
                                                         .hash = hash,
                                                         .audience = audience,
                                                         .kind = grant ? TOKEN_KIND_GRANT : TOKEN_KIND_TOKEN,
                                                         .issued_usec = now,
                                                         .expires_usec = exp * USEC_PER_SEC,
                                                         .index = idx,
                                                 });
        if (r == 0)
                r = creds_key_extend(b->creds, key->kid, exp * USEC_PER_SEC);
        if (r == 0) {
                r = audit_record(&b->audit, &e);
                if (r < 0)
                        return reply_fail(reply, AGENTID_ERROR_AUDIT_FAILED,
                                          "the %s could not be recorded, so it was not issued: %s",
                                          grant ? "grant" : "token", strerror(-r));
        }
        r = savepoint_end(&sp, r);
        if (r < 0) {
                log_error("issuing a %s to %s failed: %s", grant ? "grant" : "token", i.name, strerror(-r));
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "the %s could not be recorded: %s",
                                  grant ? "grant" : "token", strerror(-r));
        }
        keyring_note_exp(&b->keys, key->kid, exp * USEC_PER_SEC);
        if (!grant)
                status_list_note_index(b, idx);

        reply->parameters = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", grant ? "grant" : "token", token, "jti", jti,
                                      "kid", key->kid, "audience", audience, "expires_at",
                                      rfc3339_format(exp * USEC_PER_SEC, expires_at, sizeof(expires_at)), "exp",
                                      (json_int_t) exp);
        return 0;
}

int method_issue_token(struct broker *b, const struct caller *c, json_t *params, struct reply *reply) {
        return issue(b, c, params, false, reply);
}

int method_issue_grant(struct broker *b, const struct caller *c, json_t *params, struct reply *reply) {
        return issue(b, c, params, true, reply);
}

static const char *error_for(enum jwt_error e) {
        switch (e) {
        case JWT_EXPIRED:
        case JWT_NOT_YET_VALID:
                return AGENTID_ERROR_TOKEN_EXPIRED;
        case JWT_WRONG_AUDIENCE:
                return AGENTID_ERROR_AUDIENCE_MISMATCH;
        default:
                return AGENTID_ERROR_INVALID_TOKEN;
        }
}

/* Refuse with a deny event: every failed check is on record. */
static int refuse(struct broker *b, const struct caller *c, const char *agent, const char *error, struct reply *reply,
                  const char *what, const char *why) {
        char detail[512];

        snprintf(detail, sizeof(detail), "%s refused: %.400s", what, why);
        broker_record_denial(b, c, agent, NULL, detail);
        return reply_fail(reply, error, "%s", detail);
}

/* The token's agent: known (read by the caller in this same turn) when it
 * is that one, saving a second lookup. */
static int find_subject(struct broker *b, const char *sub, const struct identity *known, struct identity *ret) {
        if (known && streq(known->name, sub)) {
                *ret = *known;
                return 0;
        }
        return store_find(b->store, sub, 0, false, ret);
}

/* VerifyToken and RedeemGrant: everything short of burning the grant. */
static int check(struct broker *b, const struct caller *c, json_t *params, bool grant, const struct identity *known,
                 struct reply *reply, json_t **ret_claims, struct identity *ret_i) {
        static const char *const known_token[] = { "token", "audience", NULL };
        static const char *const known_grant[] = { "grant", "audience", NULL };
        const char *what = grant ? "grant" : "token", *token, *audience, *jti, *sub;
        const char *subject_claim = grant ? AGENTID_CLAIM_GRANT_AGENT : "client_id";
        char why[512], hash[64], stored_hash[64];
        json_t *claims = NULL;
        enum token_kind kind;
        uint64_t redeemed, uid = 0, now = now_usec();
        enum jwt_error je;
        int r;

        *ret_claims = NULL;
        if (params_check_known(params, grant ? known_grant : known_token, reply) < 0)
                return -EPROTO;
        r = json_get_string(params, what, &token);
        if (r < 0)
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "%s must be a compact JWT string", what);
        if (param_audience(b, params, &audience, reply) < 0)
                return -EPROTO;
        je = jwt_verify(token, strlen(token), keyring_lookup, &b->keys,
                        &(struct jwt_expect) {
                                .typ = grant ? AGENTID_GRANT_TYP : AGENTID_TOKEN_TYP,
                                .issuer = b->config.issuer,
                                .audience = audience,
                                .audience_claim = grant ? AGENTID_CLAIM_GRANT_AUDIENCE : "aud",
                                .subject_claim = subject_claim,
                                .now = now / USEC_PER_SEC,
                                .leeway = b->keys.leeway_usec / USEC_PER_SEC,
                                .verified = &b->keys.verified,
                        },
                        &claims, why, sizeof(why));
        if (je != JWT_OK)
                return refuse(b, c, NULL, error_for(je), reply, what, why);

        /* Signed by us: the claims can be trusted from here on. */
        jti = json_string_value(json_object_get(claims, "jti"));
        sub = json_string_value(json_object_get(claims, subject_claim));
        r = creds_token_get(b->creds, jti, &kind, stored_hash, sizeof(stored_hash), &redeemed);
        if (r < 0 && r != -ENOENT) {
                json_decref(claims);
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "reading the store failed");
        }
        if (jwt_hash(token, strlen(token), hash, sizeof(hash)) < 0 || r == -ENOENT ||
            kind != (grant ? TOKEN_KIND_GRANT : TOKEN_KIND_TOKEN) || !streq(hash, stored_hash)) {
                snprintf(why, sizeof(why), "jti %.64s was not issued as this %s by this broker", jti, what);
                json_decref(claims);
                return refuse(b, c, NULL, AGENTID_ERROR_INVALID_TOKEN, reply, what, why);
        }
        /* A token dies with its agent, whatever its exp says. */
        (void) json_get_uint(claims, AGENTID_CLAIM_UID, UINT32_MAX, &uid);
        if (!agent_name_is_valid(sub) || find_subject(b, sub, known, ret_i) < 0 || ret_i->state != IDENTITY_LIVE ||
            ret_i->expires_usec <= now || ret_i->uid != uid) {
                snprintf(why, sizeof(why), "agent %.64s is no longer live", sub);
                r = refuse(b, c, agent_name_is_valid(sub) ? sub : NULL, AGENTID_ERROR_TOKEN_REVOKED, reply, what, why);
                json_decref(claims);
                return r;
        }
        *ret_claims = claims;
        return 0;
}

static json_t *verified_reply(json_t *claims, const struct identity *i) {
        char expires_at[RFC3339_MAX];
        json_int_t exp = json_integer_value(json_object_get(claims, "exp"));

        return json_pack("{s:b, s:s, s:I, s:s, s:o}", "valid", 1, "agent", i->name, "uid", (json_int_t) i->uid,
                         "expires_at", rfc3339_format((uint64_t) exp * USEC_PER_SEC, expires_at, sizeof(expires_at)),
                         "claims", claims);
}

int method_verify_token(struct broker *b, const struct caller *c, json_t *params, struct reply *reply) {
        struct identity i;
        json_t *claims;

        if (check(b, c, params, false, NULL, reply, &claims, &i) < 0)
                return -EPROTO;
        reply->parameters = verified_reply(claims, &i);
        return 0;
}

int token_verify(struct broker *b, const struct caller *c, json_t *params, const struct identity *known,
                 struct identity *ret_i, struct reply *reply) {
        json_t *claims;

        if (check(b, c, params, false, known, reply, &claims, ret_i) < 0)
                return -EPROTO;
        json_decref(claims);
        return 0;
}

int method_redeem_grant(struct broker *b, const struct caller *c, json_t *params, struct reply *reply) {
        _cleanup_savepoint_ struct savepoint sp = {};
        char detail[256], why[256];
        struct identity i;
        _cleanup_json_ json_t *claims = NULL;
        const char *jti;
        struct event e;
        int r;

        if (check(b, c, params, true, NULL, reply, &claims, &i) < 0)
                return -EPROTO;
        jti = json_string_value(json_object_get(claims, "jti"));
        snprintf(detail, sizeof(detail), "jti %s, audience %s", jti,
                 json_string_value(json_object_get(claims, AGENTID_CLAIM_GRANT_AUDIENCE)) ?: "(list)");
        e = event_for(EVENT_REDEEM, &i, c, detail);
        /* Burn and record in one transaction: a grant is either unused, or
         * used exactly once with the event that says by whom. */
        r = savepoint_begin(&sp, b->store);
        if (r == 0)
                r = creds_grant_burn(b->creds, jti, e.time_usec);
        if (r == -ESTALE) {
                savepoint_rollback(&sp);
                snprintf(why, sizeof(why), "replay of one-time grant jti %s of %s", jti, i.name);
                return refuse(b, c, i.name, AGENTID_ERROR_GRANT_USED, reply, "grant", why);
        }
        if (r == 0)
                r = audit_record(&b->audit, &e);
        r = savepoint_end(&sp, r);
        if (r < 0)
                return reply_fail(reply, AGENTID_ERROR_AUDIT_FAILED,
                                  "the redemption could not be recorded, so the grant was not used: %s", strerror(-r));
        reply->parameters = verified_reply(TAKE_PTR(claims), &i);
        return 0;
}

int method_jwks(struct broker *b, const struct caller *c, json_t *params, struct reply *reply) {
        static const char *const known[] = { NULL };

        if (params_check_known(params, known, reply) < 0)
                return -EPROTO;
        reply->parameters = keyring_jwks(&b->keys, now_usec());
        return 0;
}

int method_rotate_keys(struct broker *b, const struct caller *c, json_t *params, struct reply *reply) {
        static const char *const known[] = { "now", NULL };
        char old_kid[AGENTID_KID_MAX + 1], new_kid[AGENTID_KID_MAX + 1], detail[128], at[RFC3339_MAX];
        json_t *now = json_object_get(params, "now");
        uint64_t activates;
        int r;

        if (params_check_known(params, known, reply) < 0)
                return -EPROTO;
        if (now && !json_is_boolean(now))
                return reply_fail(reply, AGENTID_ERROR_INVALID_PARAMETER, "now must be true or false");
        if (!caller_is_admin(b, c)) {
                snprintf(detail, sizeof(detail), "uid %u may not rotate the signing keys", (unsigned) c->uid);
                broker_record_denial(b, c, NULL, NULL, detail);
                return reply_fail(reply, AGENTID_ERROR_PERMISSION_DENIED, "%s (admins only)", detail);
        }
        r = keyring_rotate(b, c, json_is_true(now), old_kid, new_kid, &activates);
        if (r < 0 && r != -EEXIST)
                return reply_fail(reply, AGENTID_ERROR_INTERNAL, "rotating the signing key failed, nothing changed: %s",
                                  strerror(-r));
        /* A next key already published: say which, and when it signs. */
        reply->parameters = json_pack("{s:s, s:o, s:s, s:I, s:b}", "kid", new_kid, "retired",
                                      old_kid[0] ? json_string(old_kid) : json_null(), "signs_from",
                                      rfc3339_format(activates, at, sizeof(at)), "signs_from_usec",
                                      (json_int_t) activates, "already_scheduled", r == -EEXIST);
        return 0;
}
