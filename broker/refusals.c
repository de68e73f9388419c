/* SPDX-License-Identifier: MIT */
#include "refusals.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "macro.h"

void refusals_init(struct refusals *r, uint64_t window_usec) {
        *r = (struct refusals) { .window_usec = window_usec };
}

void refusals_free(struct refusals *r) {
        free(r->counts);
        r->counts = NULL;
        r->n = 0;
}

int refusals_add(struct refusals *r, uid_t uid, pid_t pid, const char *method, const char *detail,
                 uint64_t now_mono_usec) {
        struct refusal_count *c = NULL;

        for (size_t k = 0; k < r->n; k++)
                if (r->counts[k].uid == uid && streq(r->counts[k].method, method)) {
                        c = &r->counts[k];
                        break;
                }
        if (!c) {
                if (!r->counts) {
                        /* Allocated once, at the first refusal: the table's
                         * memory is fixed whatever the flood. */
                        r->counts = calloc(REFUSALS_MAX, sizeof(*r->counts));
                        if (!r->counts)
                                return -ENOMEM;
                }
                if (r->n >= REFUSALS_MAX)
                        return -ENOSPC;
                c = &r->counts[r->n++];
                *c = (struct refusal_count) { .uid = uid, .window_end_usec = now_mono_usec + r->window_usec };
                snprintf(c->method, sizeof(c->method), "%s", method);
                snprintf(c->first, sizeof(c->first), "%s", detail ? detail : "");
        }
        c->count++;
        c->last_pid = pid;
        snprintf(c->last, sizeof(c->last), "%s", detail ? detail : "");
        return 0;
}

void refusal_format(const struct refusal_count *c, uint64_t window_usec, char *buf, size_t size) {
        char d[32];

        if (c->count == 1)
                snprintf(buf, size, "1 refused %s call from uid %u in %s: %s", c->method, (unsigned) c->uid,
                         duration_format(window_usec, d, sizeof(d)), c->first);
        else
                snprintf(buf, size, "%" PRIu64 " refused %s calls from uid %u in %s; first: %s; last: %s", c->count,
                         c->method, (unsigned) c->uid, duration_format(window_usec, d, sizeof(d)), c->first,
                         c->last);
}

void refusals_flush(struct refusals *r, uint64_t now_mono_usec, bool all,
                    void (*emit)(void *userdata, const struct refusal_count *c), void *userdata) {
        for (size_t k = 0; k < r->n;) {
                if (!all && r->counts[k].window_end_usec > now_mono_usec) {
                        k++;
                        continue;
                }
                emit(userdata, &r->counts[k]);
                r->counts[k] = r->counts[--r->n];
        }
}
