/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the NSS cache reader, fed arbitrary file bytes, as a
 * hostile or corrupt /run/agentid/nss/agents.cache would be. Mapping and
 * every lookup must refuse or answer within bounds, never crash or loop. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nss-cache-read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static char path[64];
        struct nss_cache_map m = {};
        struct nss_cache_entry e;
        int fd;

        if (!path[0])
                snprintf(path, sizeof(path), "/tmp/agentid-fuzz-nss.%d", (int) getpid());
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, data, size) != (ssize_t) size || fchmod(fd, 0644) < 0)
                abort();
        close(fd);
        if (nss_cache_map_open(path, &m) == 0) {
                (void) nss_cache_map_retired(&m);
                (void) nss_cache_lookup_name(&m, "ag-default-bcdfgh", 1, &e);
                (void) nss_cache_lookup_name(&m, "root", 1, &e);
                for (uint32_t uid = 1879048192; uid < 1879048192 + 4; uid++)
                        (void) nss_cache_lookup_uid(&m, uid, 1, &e);
                for (uint32_t idx = 0; idx < 64; idx++)
                        if (nss_cache_get_slot(&m, idx, 1, &e) == -ERANGE)
                                break;
                nss_cache_map_close(&m);
        }
        return 0;
}
