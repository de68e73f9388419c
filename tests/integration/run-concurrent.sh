#!/bin/bash
# Concurrent agentctl run: 8 loops of 25 short tasks at once. Every run
# ends as soon as its task does: none waits for the broker's idle timeout
# (the end reply used to sit unread in agentctl's buffer when it came in
# the same read as the start reply).
source "$(dirname "$0")/lib.sh"
write_config <<'C'
idle_timeout = 30s
C
cat >"$TEST_DIR/etc/templates.d/default.conf" <<'T'
[template]
name = default
ttl = 1m
max_ttl = 10m
T
start_broker

LOOPS=8 RUNS=25
loop() {
        local k t0 t1
        for k in $(seq 1 "$RUNS"); do
                t0=$(date +%s%N)
                "$AGENTCTL" run -- true || echo "rc=$? run $k" >>"$TEST_DIR/errors"
                t1=$(date +%s%N)
                echo $(((t1 - t0) / 1000000))
        done >"$TEST_DIR/times.$1"
}
pids=()
for l in $(seq 1 $LOOPS); do
        loop "$l" &
        pids+=($!)
done
wait "${pids[@]}"
[[ ! -s $TEST_DIR/errors ]] || fail "failed runs: $(cat "$TEST_DIR/errors")"
n=$(cat "$TEST_DIR"/times.* | wc -l)
assert_eq "$n" $((LOOPS * RUNS)) "runs timed"
worst=$(sort -n "$TEST_DIR"/times.* | tail -n 1)
p50=$(sort -n "$TEST_DIR"/times.* | awk '{ a[NR] = $1 } END { print a[int(NR / 2)] }')
((worst <= 1000)) || fail "slowest of $n concurrent runs took ${worst}ms (over 1 s)"
echo "run-concurrent: ok ($n runs in $LOOPS loops, p50 ${p50}ms, slowest ${worst}ms)"
