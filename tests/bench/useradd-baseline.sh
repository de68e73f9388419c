#!/bin/bash
# Baseline for bench-mint: what creating and deleting an account with its own
# group costs with Debian's own tools. Runs useradd + userdel N times on a
# scratch copy of /etc, bind-mounted over /etc inside a private mount
# namespace: the host's accounts are never touched.
#   useradd-baseline.sh N
set -euo pipefail
n=${1:-100}
if [[ ${AGENTID_BASELINE_INSIDE:-} != 1 ]]; then
        AGENTID_BASELINE_INSIDE=1 exec unshare --mount --propagation private -- bash "$0" "$@"
fi
scratch=$(mktemp -d /tmp/agentid-useradd.XXXXXX)
trap 'umount /etc 2>/dev/null; rm -rf "$scratch"' EXIT
cp -a /etc "$scratch/etc"
mount --bind "$scratch/etc" /etc
start=$(date +%s%N)
for i in $(seq 1 "$n"); do
        useradd --no-create-home --user-group --shell /usr/sbin/nologin "agbase$i"
        userdel "agbase$i"
done
elapsed_ns=$(($(date +%s%N) - start))
awk -v n="$n" -v ns="$elapsed_ns" 'BEGIN { printf "useradd+userdel (baseline), 1 client: %9.0f lifecycles/s  (%d lifecycles in %.1fs)\n", n / (ns / 1e9), n, ns / 1e9 }'
