/* SPDX-License-Identifier: MIT */
#include "expiry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

int expiry_init(struct expiry *e) {
        memset(e, 0, sizeof(*e));
        e->timer_fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
        return e->timer_fd < 0 ? -errno : 0;
}

void expiry_done(struct expiry *e) {
        free(e->heap);
        if (e->timer_fd >= 0)
                close(e->timer_fd);
        memset(e, 0, sizeof(*e));
        e->timer_fd = -1;
}

static void swap(struct expiry_entry *a, struct expiry_entry *b) {
        struct expiry_entry t = *a;
        *a = *b;
        *b = t;
}

int expiry_add(struct expiry *e, uint64_t deadline_usec, int64_t id) {
        size_t i;

        if (e->n == e->cap) {
                size_t ncap = e->cap ? e->cap * 2 : 1024;
                struct expiry_entry *h = realloc(e->heap, ncap * sizeof(*h));
                if (!h)
                        return -ENOMEM;
                e->heap = h;
                e->cap = ncap;
        }
        i = e->n++;
        e->heap[i] = (struct expiry_entry) { deadline_usec, id };
        while (i > 0 && e->heap[(i - 1) / 2].deadline_usec > e->heap[i].deadline_usec) {
                swap(&e->heap[(i - 1) / 2], &e->heap[i]);
                i = (i - 1) / 2;
        }
        return 0;
}

int expiry_pop_due(struct expiry *e, uint64_t now_usec, struct expiry_entry *ret) {
        size_t i = 0;

        if (e->n == 0 || e->heap[0].deadline_usec > now_usec)
                return 0;
        *ret = e->heap[0];
        e->heap[0] = e->heap[--e->n];
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;
                if (l < e->n && e->heap[l].deadline_usec < e->heap[m].deadline_usec)
                        m = l;
                if (r < e->n && e->heap[r].deadline_usec < e->heap[m].deadline_usec)
                        m = r;
                if (m == i)
                        break;
                swap(&e->heap[i], &e->heap[m]);
                i = m;
        }
        return 1;
}

int expiry_arm(struct expiry *e) {
        struct itimerspec its = {};
        uint64_t when = e->n ? e->heap[0].deadline_usec : 0;

        if (when == e->armed_usec)
                return 0;
        if (when) {
                its.it_value.tv_sec = (time_t) (when / 1000000);
                its.it_value.tv_nsec = (long) (when % 1000000) * 1000;
        }
        if (timerfd_settime(e->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
                return -errno;
        e->armed_usec = when;
        return 0;
}

void expiry_ack(struct expiry *e) {
        uint64_t count;
        /* Nonblocking: EAGAIN just means nothing was pending. */
        (void) !read(e->timer_fd, &count, sizeof(count));
        e->armed_usec = 0;
}
