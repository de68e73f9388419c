#!/bin/bash
# State survives restarts and crashes; what expired while the broker was
# down is expired when it comes back; the uid range is checked at start.
source "$(dirname "$0")/lib.sh"
start_broker

keeper=$("$AGENTCTL" --json mint --ttl 10m | jq -r .name)
shortlived=$("$AGENTCTL" --json mint --ttl 1s | jq -r .name)

# Crash: SIGKILL leaves the socket file behind; the next broker replaces it.
kill -KILL "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null || true
BROKER_PID=
sleep 1.2 # shortlived's deadline passes while no broker runs
start_broker
assert_contains "$("$AGENTCTL" list)" "$keeper"
[[ $("$AGENTCTL" list) != *"$shortlived"* ]] || fail "agent that expired during downtime is listed"
assert_eq "$(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT state FROM identities WHERE name = '$shortlived'")" expired
assert_contains "$("$AGENTCTL" status)" "live agents:   1"

# The uid cursor survives: no uid is handed out twice.
next_uid=$("$AGENTCTL" --json mint | jq -r .uid)
assert_eq "$next_uid" $((UID_MIN + 2)) "uid after restart"

# A second broker on the same socket refuses to start.
if "$AGENTIDD" --config "$TEST_DIR/etc/agentid.conf" --state-dir "$TEST_DIR/state2" \
        --runtime-dir "$TEST_DIR/run" >"$TEST_DIR/second.log" 2>&1; then
        fail "second broker started on a live socket"
fi
assert_contains "$(cat "$TEST_DIR/second.log")" "another broker is already listening"
"$AGENTCTL" status >/dev/null || fail "first broker disturbed by the second"
stop_broker

# A uid range overlapping existing accounts is refused at start.
write_config <<<"uid_min = 1
uid_max = 100"
if "$AGENTIDD" --config "$TEST_DIR/etc/agentid.conf" --state-dir "$TEST_DIR/state" \
        --runtime-dir "$TEST_DIR/run" >"$TEST_DIR/range.log" 2>&1; then
        fail "broker started with a range overlapping system users"
fi
assert_contains "$(cat "$TEST_DIR/range.log")" "uid range 1-100 overlaps user \"daemon\" (uid 1)"

# A broken config is refused with file:line.
write_config <<<"uid_min = lots"
if "$AGENTIDD" --config "$TEST_DIR/etc/agentid.conf" --state-dir "$TEST_DIR/state" \
        --runtime-dir "$TEST_DIR/run" >"$TEST_DIR/conf.log" 2>&1; then
        fail "broker started with an invalid config"
fi
assert_contains "$(cat "$TEST_DIR/conf.log")" "agentid.conf:5: uid_min must be"

# Back to a good config: the keeper is still there.
write_config </dev/null
start_broker
assert_contains "$("$AGENTCTL" list)" "$keeper"
echo "restart: ok"
