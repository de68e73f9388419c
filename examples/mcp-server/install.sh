#!/bin/bash
# Set up the example MCP server in DEST (a build directory, never the
# source tree): copy its files there and install its npm dependencies with
# `npm ci` from package-lock.json. node_modules lives in DEST and is reused
# while package-lock.json is unchanged. Used by tests/integration/mcp.sh.
#
#   examples/mcp-server/install.sh DEST
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
dest=${1:?usage: install.sh DEST}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
[[ $dest != "$src" ]] || { echo "install.sh: DEST must not be the source directory" >&2; exit 2; }
cp "$src/package.json" "$src/package-lock.json" "$src/server.mjs" "$src/client.mjs" "$dest/"
if [[ -f $dest/node_modules/.installed-lock ]] && cmp -s "$src/package-lock.json" "$dest/node_modules/.installed-lock"; then
        exit 0
fi
(cd "$dest" && npm ci --no-audit --no-fund --loglevel=error)
cp "$src/package-lock.json" "$dest/node_modules/.installed-lock"
