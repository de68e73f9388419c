/* SPDX-License-Identifier: MIT */
/*
 * Signed tokens and one-time grants: the bounds every parser and method
 * holds them to. See docs/tokens.md.
 */
#pragma once

#include <stdint.h>

/* The "alg" we emit. RFC 9864 deprecates "EdDSA" in favour of the fully
 * specified "Ed25519", but most JWT libraries in use today only know
 * "EdDSA"; we emit that for interoperability and accept both. */
#define AGENTID_JWT_ALG "EdDSA"
#define AGENTID_JWT_ALG_FULLY_SPECIFIED "Ed25519"

/* A compact token is at most this long; longer input is refused before
 * any decoding. Our own tokens are well under 2 KiB. */
#define AGENTID_TOKEN_MAX 8192
/* Audiences: an RFC 8707 resource indicator (an absolute URI without a
 * fragment), at most this long. */
#define AGENTID_AUDIENCE_MAX 256
/* Issuer ("iss"), configurable in agentid.conf: an absolute URI without
 * query or fragment; an https URL for discovery (RFC 8414). */
#define AGENTID_ISSUER_MAX 256
/* kid: RFC 7638 JWK thumbprint, base64url of a SHA-256 (43 chars). */
#define AGENTID_KID_MAX 64
/* jti: 16 random bytes, base64url (22 chars). */
#define AGENTID_JTI_BYTES 16
#define AGENTID_JTI_MAX 64

/* Token lifetime: default and ceiling (never past the agent's own end). */
#define AGENTID_TOKEN_TTL_DEFAULT_USEC (UINT64_C(5) * 60 * 1000000)
#define AGENTID_TOKEN_TTL_MAX_USEC (UINT64_C(60) * 60 * 1000000)
/* One-time grants live shorter: they are for one imminent use. */
#define AGENTID_GRANT_TTL_DEFAULT_USEC (UINT64_C(60) * 1000000)
#define AGENTID_GRANT_TTL_MAX_USEC (UINT64_C(10) * 60 * 1000000)

/* Clock skew tolerated on exp/nbf/iat (token_leeway in agentid.conf). */
#define AGENTID_TOKEN_LEEWAY_DEFAULT_USEC (UINT64_C(30) * 1000000)
#define AGENTID_TOKEN_LEEWAY_MAX_USEC (UINT64_C(5) * 60 * 1000000)

/* Key rollover (docs/tokens.md): a next key is published this long before
 * it signs, longer than JWKS caches keep a copy (HTTP caches told max-age
 * 1 h, jose 10 min, PyJWKClient 5 min; a day is the longest common
 * setting); keys are replaced every 30 days by default. */
#define AGENTID_KEY_PUBLISH_AHEAD_DEFAULT_USEC (UINT64_C(48) * 3600 * 1000000)
#define AGENTID_KEY_ROTATION_INTERVAL_DEFAULT_USEC (UINT64_C(30) * 24 * 3600 * 1000000)
#define AGENTID_KEY_DURATION_MAX_USEC (UINT64_C(366) * 24 * 3600 * 1000000)

/* The token status list: how long a verifier may keep a fetched copy
 * ("ttl"), by default, and at most. */
#define AGENTID_STATUS_LIST_TTL_DEFAULT_USEC (UINT64_C(60) * 1000000)
#define AGENTID_STATUS_LIST_TTL_MAX_USEC (UINT64_C(3600) * 1000000)

/* Delegation: the "act" chain of a token nests at most this deep, and no
 * template may allow sub-agents deeper than this. */
#define AGENTID_DELEGATION_DEPTH_MAX 8
/* Live children of one agent, at most (templates may lower it). */
#define AGENTID_CHILDREN_MAX 1024

/* The JWKS document published in the runtime directory. */
#define AGENTID_JWKS_FILE "jwks.json"

/* Header "typ" of tokens (the RFC 9068 access-token profile), of
 * one-time grants and of the token status list: explicit typing (RFC 8725
 * section 3.11) so that none is ever accepted as another. */
#define AGENTID_TOKEN_TYP "at+jwt"
#define AGENTID_GRANT_TYP "agentid-grant+jwt"
#define AGENTID_STATUS_LIST_TYP "statuslist+jwt"

/* Private claims carry this prefix (RFC 7519 section 4.3: names that
 * cannot collide with registered or other parties' claims). */
#define AGENTID_CLAIM_PREFIX "agentid_"
#define AGENTID_CLAIM_UID "agentid_uid"
#define AGENTID_CLAIM_TEMPLATE "agentid_template"
#define AGENTID_CLAIM_OWNER "agentid_owner"
#define AGENTID_CLAIM_OWNER_UID "agentid_owner_uid"
/* Grants name their agent and audience in claims of their own, never in
 * sub/client_id/aud: a token verifier that ignores typ still refuses a
 * grant, for want of the claims every access token has. */
#define AGENTID_CLAIM_GRANT_AGENT "agentid_grant_agent"
#define AGENTID_CLAIM_GRANT_AUDIENCE "agentid_grant_audience"

/* Files the broker publishes in its runtime directory for any web server
 * to serve (docs/tokens.md, "Discovery"). */
#define AGENTID_AS_METADATA_FILE "oauth-authorization-server.json"
#define AGENTID_STATUS_LIST_FILE "statuslist.jwt"
