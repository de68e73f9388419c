#!/bin/bash
# The broker holds under a hostile local user (issue 13): for 20 seconds
# nobody holds 300 connections sending Status every second, trickles a
# frame byte by byte, and floods refused VerifyToken calls, while root runs
# agentctl list and revoke every 100 ms. Every root call answers within
# 100 ms at the socket, the trickler is closed, the database grows less than the
# documented bound (docs/protocol.md, "Bounded audit growth") and the
# broker's RSS stays flat.
# The broker's state lives on a tmpfs in a private mount namespace: what
# is timed is the broker under attack, not the fsync latency of a disk
# shared with whatever else the machine runs.
if [[ ${AGENTID_IN_NAMESPACE:-} != 1 ]]; then
        if ! unshare --mount --propagation private true 2>/dev/null; then
                echo "SKIP: cannot create a mount namespace"
                exit 77
        fi
        AGENTID_IN_NAMESPACE=1 exec unshare --mount --propagation private -- bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"
run_alone # root's calls are timed: no other test's broker runs meanwhile
mkdir -p "$TEST_DIR/state"
mount -t tmpfs -o mode=0711 tmpfs "$TEST_DIR/state"
ABUSE_CLIENT="$top_builddir/tests/helpers/abuse-client"
install -m 0755 "$ABUSE_CLIENT" "$TEST_DIR/abuse-client"
ABUSE_CLIENT="$TEST_DIR/abuse-client"
SECONDS_OF_LOAD=${AGENTID_ABUSE_SECONDS:-20}
write_config <<'C'
idle_timeout = 2s
refusal_window = 5s
C
start_broker
db="$TEST_DIR/state/agentid.db"
nobody=$(id -u nobody)
db_bytes() { sqlite3 "$db" "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$BROKER_PID/status"; }

# Agents for root to revoke: one per agentctl round, one per probe round.
rounds=$((SECONDS_OF_LOAD * 10 / 2 - 10))
names=() probe_names=()
for _ in $(seq 1 $((rounds + 5))); do names+=("$("$AGENTCTL" --json mint --ttl 10m | jq -r .name)"); done
for _ in $(seq 1 $((SECONDS_OF_LOAD * 10))); do probe_names+=("$("$AGENTCTL" --json mint --ttl 10m | jq -r .name)"); done
db_before=$(db_bytes)

verify='{"method":"io.agentid.VerifyToken","parameters":{"token":"eyJhbGciOiJub25lIn0.e30.c2ln"}}'
# AGENTID_ABUSE_BASELINE=1: no attacker, for comparison (root's calls on
# this machine as it is).
if [[ ${AGENTID_ABUSE_BASELINE:-} == 1 ]]; then ABUSE_CLIENT=true; fi
# The trickler and the flooders connect first (they must be admitted to
# be tested); then the 300, of which only nobody's remaining share gets in.
as_nobody "$ABUSE_CLIENT" trickle "$AGENTID_SOCKET" "$SECONDS_OF_LOAD" >"$TEST_DIR/trickle.out" &
load=($!)
for k in 1 2; do
        as_nobody "$ABUSE_CLIENT" flood "$AGENTID_SOCKET" "$SECONDS_OF_LOAD" "$verify" >"$TEST_DIR/flood$k.out" &
        load+=($!)
done
sleep 0.3
as_nobody "$ABUSE_CLIENT" hold "$AGENTID_SOCKET" 300 "$SECONDS_OF_LOAD" >"$TEST_DIR/hold.out" &
load+=($!)
test_cleanup() {
        kill "${load[@]}" 2>/dev/null || true
        wait "${load[@]}" 2>/dev/null || true
        umount "$TEST_DIR/state" 2>/dev/null || true
}
sleep 2
rss_start=$(rss_kb)

# Root, meanwhile: (1) a probe that every 100 ms lists and revokes on new
# connections, timed at the socket from connect() to the whole reply: the
# broker's answer, which must come within 100 ms, every time; (2) agentctl
# list and revoke every 100 ms, which must succeed, timed from exec to exit
# (process start and scheduling on a shared machine included: 300 ms, 600
# under ASan/UBSan).
"$ABUSE_CLIENT" probe "$AGENTID_SOCKET" $((SECONDS_OF_LOAD - 3)) "${probe_names[@]}" >"$TEST_DIR/probe.out" &
probe_pid=$!
bound_ms=300
[[ -n $SANITIZED ]] && bound_ms=600
max_ms=0 slow=0 calls=0
for ((k = 0; k < rounds * 2; k++)); do
        t0=$(date +%s%N)
        if ((k % 2 == 0)); then
                what=list
                "$AGENTCTL" list >/dev/null || fail "root's list failed under load"
        else
                what=revoke
                "$AGENTCTL" revoke "${names[k / 2]}" >/dev/null || fail "root's revoke failed under load"
        fi
        ms=$((($(date +%s%N) - t0) / 1000000))
        calls=$((calls + 1))
        ((ms > max_ms)) && max_ms=$ms
        if ((ms > bound_ms)); then
                slow=$((slow + 1))
                echo "slow: root's agentctl $what took ${ms} ms" >&2
        fi
        ((ms < 100)) && sleep "0.$(printf '%03d' $((100 - ms)))"
done
wait "$probe_pid"
rss_end=$(rss_kb)
wait "${load[@]}"
load=()

hold=$(cat "$TEST_DIR/hold.out") trickle=$(cat "$TEST_DIR/trickle.out")
probe=$(cat "$TEST_DIR/probe.out")
echo "root's probe: $probe"
echo "root's agentctl: $calls calls, slowest ${max_ms} ms, $slow over $bound_ms ms"
echo "hold: $hold"
echo "trickle: $trickle"
echo "flood: $(cat "$TEST_DIR/flood1.out") / $(cat "$TEST_DIR/flood2.out")"
# Under ASan/UBSan (scripts/test's second run) every process is several
# times slower, the broker included: 300 ms there.
probe_bound=100
[[ -n $SANITIZED ]] && probe_bound=300
[[ $probe == *" failed 0 "* ]] || fail "some of root's calls failed: $probe"
awk -v b=$probe_bound '{ exit !($9 <= b) }' <<<"$probe" || fail "root's calls were not all answered within $probe_bound ms: $probe"
(($(awk '{print $3}' <<<"$probe") >= 100)) || fail "the probe made too few calls: $probe"
((slow == 0)) || fail "$slow of root's $calls agentctl calls took over $bound_ms ms (slowest ${max_ms} ms)"
# At most max_connections_per_uid (32) of nobody's 300 got in: the others
# were told TooManyConnections and hung up on.
refused=$(awk '{print $10}' <<<"$hold")
((refused >= 268)) || fail "nobody got more than its share of connections: $hold"
# The trickler was admitted (no refusal), kept sending, and was closed
# for idleness: idle_timeout (2 s) plus at most a tick (1 s) after it
# connected, though a byte arrived every 100 ms.
assert_contains "$trickle" "refused 0 closed 1" "the trickling client"
trickle_ms=$(awk '{print $12}' <<<"$trickle")
((trickle_ms >= 1900 && trickle_ms <= 3500)) || fail "the trickler was closed after ${trickle_ms} ms (want 2-3 s)"
flood_sent=$(($(awk '{print $2}' "$TEST_DIR/flood1.out") + $(awk '{print $2}' "$TEST_DIR/flood2.out")))
((flood_sent > 500)) || fail "the deny flood sent only $flood_sent requests"

# Database: nobody's refusals are a few rows per window, and the whole run
# (root's mints and revokes included) stays under the documented per-uid
# per-minute bound.
stop_broker # records the counts still open
rows=$(sqlite3 "$db" "SELECT count(*) FROM events WHERE event = 'deny' AND caller_uid = $nobody")
bound_rows=$((20 * (SECONDS_OF_LOAD / 5 + 2)))
echo "database: +$(($(db_bytes) - db_before)) bytes; nobody's deny rows: $rows for $flood_sent refused calls"
((rows <= bound_rows)) || fail "nobody added $rows deny rows (bound $bound_rows)"
(($(db_bytes) - db_before < 240 * 1024)) || fail "the database grew by $(($(db_bytes) - db_before)) bytes"
total=$(sqlite3 "$db" "SELECT detail FROM events WHERE event = 'deny' AND caller_uid = $nobody AND detail LIKE '%VerifyToken%'" |
        awk '{ s += $1 } END { print s + 0 }')
echo "refused VerifyToken calls on record: $total"
((total > 0)) || fail "nobody's refusals were not recorded at all"

# RSS: flat under load (not checked under ASan, whose shadow memory grows).
echo "broker RSS: ${rss_start} kB after 2 s, ${rss_end} kB at the end"
if [[ -z $SANITIZED ]]; then
        ((rss_end - rss_start < 2048)) || fail "broker RSS grew from ${rss_start} kB to ${rss_end} kB"
fi
echo "abuse: ok"
