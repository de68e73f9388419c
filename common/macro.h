/* SPDX-License-Identifier: MIT */
/* Cleanup helpers: every function has one exit path, resources are released
 * by __attribute__((cleanup)) when their variable goes out of scope. */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

/* Hand ownership out of a _cleanup_ variable. */
#define TAKE_PTR(p)                                   \
        ({                                            \
                __typeof__(p) _taken_ = (p);          \
                (p) = NULL;                           \
                _taken_;                              \
        })
#define TAKE_FD(fd)                                   \
        ({                                            \
                int _taken_ = (fd);                   \
                (fd) = -1;                            \
                _taken_;                              \
        })

#define streq(a, b) (strcmp((a), (b)) == 0)

/* A cleanup function for a library's pointer type: funcp(&p) calls
 * func(p) unless p is NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)           \
        static inline void func##p(type *p) {            \
                if (*p)                                   \
                        func(*p);                         \
        }
