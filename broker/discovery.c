/* SPDX-License-Identifier: MIT */
#include "discovery.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentid/token.h"
#include "broker.h"
#include "log.h"
#include "macro.h"
#include "uri.h"

bool discovery_enabled(const struct broker *b) {
        return uri_is_web_origin_url(b->config.issuer, AGENTID_ISSUER_MAX);
}

int discovery_url(const struct broker *b, const char *name, char *buf, size_t size) {
        size_t len = strlen(b->config.issuer);
        int n;

        if (!discovery_enabled(b))
                return -ENOENT;
        /* https://host/ and https://host name the same base. */
        while (len > 0 && b->config.issuer[len - 1] == '/')
                len--;
        n = snprintf(buf, size, "%.*s/%s", (int) len, b->config.issuer, name);
        return n < 0 || (size_t) n >= size ? -ENOBUFS : 0;
}

int public_file_write(const char *path, const char *text) {
        char tmp[AGENTID_PATH_MAX * 2 + 8];
        size_t len = strlen(text);
        ssize_t w;
        int fd, r = 0;

        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        (void) unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, 0644) < 0)
                r = -errno;
        w = r == 0 ? write(fd, text, len) : -1;
        if (r == 0 && (w != (ssize_t) len || write(fd, "\n", 1) != 1))
                r = w < 0 ? -errno : -EIO;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        /* rename: a reader sees the old file or the new one, never half. */
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                log_error("writing %s: %s", path, strerror(-r));
        }
        return r;
}

int runtime_file_publish(const char *runtime_dir, const char *name, const char *text) {
        char path[AGENTID_PATH_MAX * 2];

        snprintf(path, sizeof(path), "%s/%s", runtime_dir, name);
        return public_file_write(path, text);
}

int discovery_publish(struct broker *b) {
        char jwks_uri[AGENTID_ISSUER_MAX + 64], path[AGENTID_PATH_MAX * 2];
        _cleanup_free_ char *text = NULL;
        json_t *meta;

        if (discovery_url(b, AGENTID_JWKS_FILE, jwks_uri, sizeof(jwks_uri)) < 0) {
                /* No URL to publish under: no stale metadata either. */
                snprintf(path, sizeof(path), "%s/%s", b->runtime_dir, AGENTID_AS_METADATA_FILE);
                (void) unlink(path);
                return 0;
        }
        /* RFC 8414: the issuer and where its keys are. Tokens are handed out
         * by the local broker, not over HTTP, so there is no authorization or
         * token endpoint and no response type. */
        meta = json_pack("{s:s, s:s, s:[], s:[]}", "issuer", b->config.issuer, "jwks_uri", jwks_uri,
                         "response_types_supported", "grant_types_supported");
        text = meta ? json_dumps(meta, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        json_decref(meta);
        if (!text)
                return -ENOMEM;
        return runtime_file_publish(b->runtime_dir, AGENTID_AS_METADATA_FILE, text);
}
