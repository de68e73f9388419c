/* SPDX-License-Identifier: MIT */
#include "key-file.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"

int ed25519_private_key_load(const char *path, EVP_PKEY **ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        EVP_PKEY *key;
        FILE *f;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 0077)) {
                log_error("%s: must be a regular file owned by uid %u with mode 0600", path, (unsigned) geteuid());
                return -EPERM;
        }
        f = fdopen(fd, "r");
        if (!f)
                return -errno;
        fd = -1; /* the FILE owns it now */
        key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        if (!key || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
                EVP_PKEY_free(key);
                return -EBADMSG;
        }
        *ret = key;
        return 0;
}
