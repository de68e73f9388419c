#!/bin/bash
# What a transient unit's sandbox options cost systemd itself, on the
# systemd test host: `systemd-run --wait --pipe ... true` with each set of
# properties, interleaved, p50 and p25 of each. This is the measurement
# behind agentid-task-exec(8) (docs/performance.md, "The systemd runtime"):
# with any namespace option systemd 252 builds the namespace in the unit's
# child, and that alone costs about what the anchor
# `systemd-run -p DynamicUser=yes` costs in all. On demand, not in make bench.
# Prints one SKIP line (exit 77) when no host can boot here.
#
#   tests/host/bench-unit-costs.sh [RUNS]   (default 30 of each)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export AGENTID_HOST=${AGENTID_HOST:-agentid-unit-costs}
. "$here/host.sh"
runs=${1:-30}
if why=$(host_cannot); then
        echo "SKIP: systemd host: $why"
        exit 77
fi
trap '[[ ${AGENTID_HOST_KEEP:-} == 1 ]] || host_destroy >/dev/null 2>&1' EXIT
host_create >/dev/null && host_boot >/dev/null || { echo "FAIL: systemd host: boot"; exit 1; }
inner=$(mktemp /tmp/agentid-unit-costs.XXXXXX)
cat >"$inner" <<'INNER'
runs=$1
ms() { local s=$EPOCHREALTIME; "$@" >/dev/null 2>&1 || echo "failed $*" >&2; local e=$EPOCHREALTIME; echo "$(((${e/./} - ${s/./}) / 10))"; }
declare -A set=(
        [1-root]=""
        [2-user]="-p User=nobody"
        [3-user+PrivateMounts]="-p User=nobody -p PrivateMounts=yes"
        [4-user+PrivateTmp]="-p User=nobody -p PrivateTmp=yes"
        [5-user+PrivateIPC]="-p User=nobody -p PrivateIPC=yes"
        [6-user+ProtectSystem=strict]="-p User=nobody -p ProtectSystem=strict"
        [7-user+all-of-the-task-unit-before]="-p User=nobody -p PrivateTmp=yes -p PrivateIPC=yes -p RemoveIPC=yes -p ProtectSystem=strict -p NoNewPrivileges=yes -p RestrictNamespaces=yes -p SystemCallFilter=~@mount"
        [8-anchor:DynamicUser=yes]="-p DynamicUser=yes"
)
for k in 1 2; do for l in "${!set[@]}"; do ms systemd-run --quiet --wait --pipe ${set[$l]} true >/dev/null; done; done
for ((k = 0; k < runs; k++)); do
        for l in "${!set[@]}"; do echo "$l $(ms systemd-run --quiet --wait --pipe ${set[$l]} true)"; done
done
INNER
host_copy "$inner" /root/unit-costs.sh >/dev/null 2>&1 || { rm -f "$inner"; echo "FAIL: copy"; exit 1; }
rm -f "$inner"
out=$(host_run bash /root/unit-costs.sh "$runs" 2>&1)
grep -q '^failed' <<<"$out" && { echo "FAIL: $(grep -m1 '^failed' <<<"$out")"; exit 1; }
echo "systemd-run --wait --pipe [properties] true on the systemd test host, $runs runs each, interleaved:"
for l in $(awk '{ print $1 }' <<<"$out" | sort -u); do
        awk -v w="$l" '$1 == w { print $2 }' <<<"$out" | sort -n |
                awk -v w="${l#*-}" '{ v[NR] = $1 } END { printf "  %-42s p50 %5.1f ms  p25 %5.1f ms\n", w, v[int((NR + 1) / 2)] / 100, v[int((NR + 3) / 4)] / 100 }'
done
