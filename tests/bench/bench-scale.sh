#!/bin/bash
# Broker with N live agents (default 1,000,000): restart to ready, RSS, and
# a mint's latency on top of them. The agents are written straight into a
# scratch database (one SQL statement) rather than minted one by one; the
# broker then loads them, arms their deadlines and builds the NSS cache
# for them exactly as after any restart.
#   bench-scale.sh BUILDDIR [N]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
n=${2:-1000000}
dir=$(mktemp -d /tmp/agentid-scale.XXXXXX)
chmod 0755 "$dir"
mkdir -p "$dir/etc"
# A uid range of its own, above the test brokers' slices and scripts/bench's
# (a broker kills processes of agent uids it does not know).
base_uid=2101000000
printf '[broker]\njournal = off\nuid_min = %d\nuid_max = %d\n' $base_uid $((base_uid + 1999999)) >"$dir/etc/agentid.conf"
broker=
trap '[[ -n $broker ]] && kill $broker 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
export AGENTID_SOCKET="$dir/run/agentid.sock"

start() {
        "$build/agentidd" --config "$dir/etc/agentid.conf" --state-dir "$dir/state" --runtime-dir "$dir/run" \
                2>>"$dir/broker.log" &
        broker=$!
        until "$build/agentctl" status >/dev/null 2>&1; do
                kill -0 "$broker" 2>/dev/null || { cat "$dir/broker.log"; exit 1; }
                sleep 0.01
        done
}
stop() { kill "$broker"; wait "$broker" 2>/dev/null || true; broker=; }

start # creates the schema
stop
now=$(($(date +%s%N) / 1000))
sqlite3 "$dir/state/agentid.db" "
        WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < $n)
        INSERT INTO identities (name, uid, gid, owner_uid, invoker_pid, template, home, shell, groups, state,
                                created_usec, expires_usec)
        SELECT printf('ag-default-%07d', i), $base_uid + i, $base_uid + i, 0, 1, 'default',
               printf('%s/state/home/ag-default-%07d', '$dir', i), '/bin/sh', '', 'live', $now,
               $now + 3600000000 + i
        FROM k;
        INSERT INTO meta (key, value) VALUES ('next_uid', $base_uid + $n)
                ON CONFLICT (key) DO UPDATE SET value = excluded.value;"

t0=$(date +%s%N)
start
ready_ms=$((($(date +%s%N) - t0) / 1000000))
rss_kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$broker/status")
live=$("$build/agentctl" --json status | jq .live_agents)
t1=$(date +%s%N)
"$build/agentctl" mint >/dev/null
mint_ms=$(awk -v ns=$(($(date +%s%N) - t1)) 'BEGIN { printf "%.2f", ns / 1e6 }')
stop
printf '%d live agents: restart to ready %d ms (target <= 3000), broker RSS %d MiB (target <= 256), one mint (agentctl, end to end) %s ms\n' \
        "$live" "$ready_ms" $((rss_kib / 1024)) "$mint_ms"
