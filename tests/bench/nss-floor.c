/* SPDX-License-Identifier: MIT */
/* The least an NSS passwd module can do: answer every getpwnam_r and
 * getpwuid_r at once with one entry, its name copied into the caller's
 * buffer and the rest constants (no file, no lock, no check). bench-nss
 * times glibc through it beside libnss_agentid: what is left is glibc's own
 * cost per call (its lock, nsswitch dispatch, the call through a pointer),
 * the floor under any module's lookup on the machine. Built only for
 * "make bench"; never installed. */
#include <errno.h>
#include <nss.h>
#include <pwd.h>
#include <string.h>

static enum nss_status answer(const char *name, uid_t uid, struct passwd *pw, char *buf, size_t len,
                              int *errnop) {
        size_t n = strlen(name) + 1;

        if (n > len) {
                *errnop = ERANGE;
                return NSS_STATUS_TRYAGAIN;
        }
        memcpy(buf, name, n);
        pw->pw_name = buf;
        pw->pw_passwd = (char *) "x";
        pw->pw_uid = uid;
        pw->pw_gid = uid;
        pw->pw_gecos = (char *) "";
        pw->pw_dir = (char *) "/";
        pw->pw_shell = (char *) "/bin/sh";
        return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_benchfloor_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len, int *errnop);
enum nss_status _nss_benchfloor_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len, int *errnop);

enum nss_status _nss_benchfloor_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len, int *errnop) {
        return answer(name, 1879048192, pw, buf, len, errnop);
}

enum nss_status _nss_benchfloor_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len, int *errnop) {
        return answer("floor", uid, pw, buf, len, errnop);
}
