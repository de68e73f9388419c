/* SPDX-License-Identifier: MIT */
#include "status-list.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "agentid/token.h"
#include "base64url.h"
#include "broker.h"
#include "discovery.h"
#include "duration.h"
#include "jwt.h"
#include "log.h"
#include "macro.h"

#define USEC_PER_SEC UINT64_C(1000000)
/* The list grows in steps of this many indices, and is republished before
 * new tokens get within half a step of its end: a verifier's cached copy
 * then always covers tokens issued after it was fetched. */
#define STATUS_LIST_STEP UINT64_C(65536)
/* A signed list is valid for an hour and re-signed every half hour (and
 * whenever an agent ends): a broker that stopped leaves no list that
 * vouches for tokens long after. */
#define STATUS_LIST_LIFETIME_USEC (UINT64_C(3600) * USEC_PER_SEC)
#define STATUS_LIST_REFRESH_USEC (STATUS_LIST_LIFETIME_USEC / 2)

struct bits {
        uint8_t *bytes;
        uint64_t capacity;
};

/* Rows arrive largest index first: the first one sizes the list. */
static int set_bit(void *userdata, uint64_t idx, bool live) {
        struct bits *l = userdata;

        if (!l->bytes) {
                l->capacity = (idx / STATUS_LIST_STEP + 2) * STATUS_LIST_STEP;
                l->bytes = calloc(l->capacity / 8, 1);
                if (!l->bytes)
                        return -ENOMEM;
        }
        /* 1 bit per token, 1 = INVALID; least significant bit first. */
        if (!live && idx < l->capacity)
                l->bytes[idx / 8] |= (uint8_t) (1u << (idx % 8));
        return 0;
}

/* zlib (RFC 1950) of the bytes, base64url: the list's "lst". */
static char *compress_list(const uint8_t *bytes, size_t len) {
        uLongf clen = compressBound((uLong) len);
        _cleanup_free_ uint8_t *buf = malloc(clen);

        if (!buf || compress2(buf, &clen, bytes, (uLong) len, Z_BEST_COMPRESSION) != Z_OK)
                return NULL;
        return base64url_encode_alloc(buf, clen);
}

int status_list_publish(struct broker *b) {
        const struct signing_key *key = keyring_current(&b->keys);
        char uri[AGENTID_ISSUER_MAX + 64];
        _cleanup_free_ char *lst = NULL, *token = NULL;
        struct bits l = {};
        uint64_t now = now_usec(), iat = now / USEC_PER_SEC, exp_usec;
        json_t *claims;
        int r;

        if (discovery_url(b, AGENTID_STATUS_LIST_FILE, uri, sizeof(uri)) < 0)
                return 0;
        if (!key || !b->keys.signer)
                return -ENOKEY;
        r = creds_tokens_status(b->creds, now, set_bit, &l);
        if (r == 0 && !l.bytes) /* no unexpired token at all */
                r = set_bit(&l, 0, true);
        if (r == 0 && !(lst = compress_list(l.bytes, l.capacity / 8)))
                r = -ENOMEM;
        free(l.bytes);
        if (r < 0)
                goto fail;
        exp_usec = (iat * USEC_PER_SEC) + STATUS_LIST_LIFETIME_USEC;
        claims = json_pack("{s:s, s:s, s:I, s:I, s:I, s:{s:i, s:s}}", "iss", b->config.issuer, "sub", uri, "iat",
                           (json_int_t) iat, "exp", (json_int_t) (exp_usec / USEC_PER_SEC), "ttl",
                           (json_int_t) (b->config.status_list_ttl_usec / USEC_PER_SEC), "status_list", "bits", 1,
                           "lst", lst);
        if (!claims) {
                r = -ENOMEM;
                goto fail;
        }
        r = jwt_sign(b->keys.signer, key->kid, AGENTID_STATUS_LIST_TYP, claims, &token);
        json_decref(claims);
        /* The key stays published while the list it signed is valid. */
        if (r == 0)
                r = creds_key_extend(b->creds, key->kid, exp_usec);
        if (r == 0) {
                keyring_note_exp(&b->keys, key->kid, exp_usec);
                r = runtime_file_publish(b->runtime_dir, AGENTID_STATUS_LIST_FILE, token);
        }
        if (r < 0)
                goto fail;
        b->status_list.capacity = l.capacity;
        b->status_list.published_usec = now;
        return 0;
fail:
        log_error("publishing the token status list failed: %s", strerror(-r));
        return r;
}

json_t *status_list_claim(struct broker *b, uint64_t idx) {
        char uri[AGENTID_ISSUER_MAX + 64];

        if (discovery_url(b, AGENTID_STATUS_LIST_FILE, uri, sizeof(uri)) < 0)
                return NULL;
        return json_pack("{s:{s:I, s:s}}", "status_list", "idx", (json_int_t) idx, "uri", uri);
}

void status_list_agents_ended(struct broker *b) {
        if (b->in_turn)
                b->status_list.due = true;
        else
                (void) status_list_publish(b);
}

void status_list_publish_due(struct broker *b) {
        if (!b->status_list.due)
                return;
        b->status_list.due = false;
        (void) status_list_publish(b);
}

void status_list_note_index(struct broker *b, uint64_t idx) {
        if (discovery_enabled(b) && idx + STATUS_LIST_STEP / 2 >= b->status_list.capacity)
                (void) status_list_publish(b);
}

void status_list_housekeeping(struct broker *b) {
        uint64_t now = now_usec();

        /* After a failure, try again in a minute, not every tick. */
        if (discovery_enabled(b) && now - b->status_list.published_usec >= STATUS_LIST_REFRESH_USEC &&
            status_list_publish(b) < 0)
                b->status_list.published_usec = now - STATUS_LIST_REFRESH_USEC + 60 * USEC_PER_SEC;
}
