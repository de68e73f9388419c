/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the agentid.conf and template parsers, fed arbitrary
 * file contents. Parsing must succeed or fail with a file:line message,
 * never crash, and a template it accepts must be self-consistent. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static int fd = -1;
        char path[64], error[1024];
        struct template t;
        struct config c;

        if (fd < 0)
                fd = memfd_create("fuzz-config", MFD_CLOEXEC);
        if (fd < 0 || ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t) size)
                abort();
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

        config_init(&c, path);
        if (config_load(&c, path, error, sizeof(error)) == 0) {
                if (c.uid_min > c.uid_max || c.name_prefix[0] == '\0')
                        abort();
        } else if (error[0] == '\0')
                abort(); /* a refusal always says why */

        if (template_parse_file(path, &t, error, sizeof(error)) == 0) {
                if (t.ttl_usec > t.max_ttl_usec || t.name[0] == '\0' || t.n_groups > AGENTID_TEMPLATE_GROUPS_MAX)
                        abort();
        } else if (error[0] == '\0')
                abort();
        return 0;
}
