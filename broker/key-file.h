/* SPDX-License-Identifier: MIT */
/* Reading an Ed25519 private key file that only the broker may read. */
#pragma once

#include <openssl/evp.h>

/* Load the PEM Ed25519 private key at path. The file must be a regular
 * file (no symlink), owned by the broker's euid, mode 0600 or stricter:
 * anything else is refused with -EPERM before a byte is read, so a key
 * someone else could have read or planted never signs. -EBADMSG when it is
 * no Ed25519 private key; other negative errnos from open/fstat. */
int ed25519_private_key_load(const char *path, EVP_PKEY **ret);
