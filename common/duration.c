/* SPDX-License-Identifier: MIT */
#include "duration.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const struct {
        const char *suffix;
        uint64_t usec;
} units[] = {
        /* longest suffix first so "ms" is not read as "m" + garbage */
        { "ms", UINT64_C(1000) },
        { "s", UINT64_C(1000000) },
        { "m", UINT64_C(60000000) },
        { "h", UINT64_C(3600000000) },
        { "d", UINT64_C(86400000000) },
};

int duration_parse(const char *s, uint64_t *ret_usec) {
        uint64_t total = 0;
        const char *p = s;

        if (!s || !*s)
                return -EINVAL;

        while (*p) {
                uint64_t n = 0, unit = 0;
                size_t digits = 0;

                while (isdigit((unsigned char) *p)) {
                        if (n > (UINT64_MAX - 9) / 10)
                                return -ERANGE;
                        n = n * 10 + (uint64_t) (*p - '0');
                        p++;
                        digits++;
                }
                if (digits == 0)
                        return -EINVAL;

                if (*p == '\0') {
                        /* A bare number is seconds, but only on its own:
                         * "1h30" is ambiguous and refused. */
                        if (p - digits != s)
                                return -EINVAL;
                        unit = UINT64_C(1000000);
                } else {
                        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                                size_t l = strlen(units[i].suffix);
                                if (strncmp(p, units[i].suffix, l) == 0 &&
                                    !isalpha((unsigned char) p[l])) {
                                        unit = units[i].usec;
                                        p += l;
                                        break;
                                }
                        }
                        if (unit == 0)
                                return -EINVAL;
                }

                if (n > UINT64_MAX / unit || total > UINT64_MAX - n * unit)
                        return -ERANGE;
                total += n * unit;
        }

        *ret_usec = total;
        return 0;
}

char *duration_format(uint64_t usec, char *buf, size_t size) {
        uint64_t s = usec / 1000000;
        uint64_t d = s / 86400, h = (s / 3600) % 24, m = (s / 60) % 60, sec = s % 60;
        size_t off = 0;

        if (size == 0)
                return buf;
        buf[0] = '\0';
        if (s == 0) {
                snprintf(buf, size, "%" PRIu64 "ms", usec / 1000);
                return buf;
        }
#define PART(v, unit)                                                                   \
        if ((v) && off < size)                                                          \
                off += (size_t) snprintf(buf + off, size - off, "%" PRIu64 unit, (v));
        PART(d, "d");
        PART(h, "h");
        PART(m, "m");
        PART(sec, "s");
#undef PART
        return buf;
}

static uint64_t clock_usec(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

uint64_t now_usec(void) {
        return clock_usec(CLOCK_REALTIME);
}

uint64_t monotonic_usec(void) {
        return clock_usec(CLOCK_MONOTONIC);
}

char *rfc3339_format(uint64_t usec, char *buf, size_t size) {
        time_t t = (time_t) (usec / 1000000);
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
                if (size > 0)
                        buf[0] = '\0';
        }
        return buf;
}
