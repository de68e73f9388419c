#!/bin/bash
# Hundreds of concurrent clients against one broker, with slow and idle ones
# holding connections: well-behaved clients see no error, every client is
# served, and memory and descriptors come back down afterwards.
source "$(dirname "$0")/lib.sh"
BENCH_MINT="$top_builddir/tests/bench/bench-mint"
write_config <<'C'
max_connections = 400
idle_timeout = 20s
C
# The idle timeout is long here: under a sanitizer on a slow machine one
# round of 200 busy clients can take seconds, and a busy client must never
# be taken for an idle one. The holders below leave by themselves
# (hostile.sh tests the idle timeout).
start_broker

fds() { ls "/proc/$BROKER_PID/fd" | wc -l; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$BROKER_PID/status"; }
fds_before=$(fds)

# 100 idle connections and 20 that dribble half a request, then go quiet.
holders=()
for _ in $(seq 1 100); do (sleep 4 | "$RAW_CLIENT" "$AGENTID_SOCKET" 100 >/dev/null) & holders+=($!); done
for _ in $(seq 1 20); do ( (printf '{"method":'; sleep 4) | "$RAW_CLIENT" "$AGENTID_SOCKET" 100 >/dev/null) & holders+=($!); done
sleep 0.3

# 200 busy clients: any error reply or dropped connection fails bench-mint.
out=$("$BENCH_MINT" "$AGENTID_SOCKET" 200 3) || fail "busy clients saw errors: $out"
echo "$out"
read -r lo hi < <(sed -n 's/^per-client lifecycles: min \([0-9]*\) max \([0-9]*\)$/\1 \2/p' <<<"$out")
((lo > 0)) || fail "a client was starved: $out"
((hi <= lo * 10)) || fail "unfair service (min $lo, max $hi)"
rss_busy=$(rss_kib)

wait "${holders[@]}" 2>/dev/null || true
# Cleaners of the revoked uids (uid-cleanup.c) hold a pidfd and a pipe each
# until they are done: give them a moment (longer on a loaded machine).
fds_back() { [[ $(fds) == "$fds_before" ]]; }
eventually 30 fds_back || fail "broker descriptors after the load: $(fds), $fds_before before: $(ls -l "/proc/$BROKER_PID/fd")"
# Memory stays bounded (ASan's shadow and quarantine make RSS meaningless).
[[ -n $SANITIZED ]] || ((rss_busy < 200 * 1024)) || fail "broker RSS ${rss_busy} KiB under load"
assert_eq "$("$AGENTCTL" --json list | jq length)" 0 "identities left live"
"$AGENTCTL" status >/dev/null || fail "broker not serving after the load"
echo "load: ok (rss under load ${rss_busy} KiB)"
