#!/bin/bash
# The broker takes its listening socket from systemd (sd_listen_fds) and
# reports READY, STATUS and STOPPING through NOTIFY_SOCKET. systemd's own
# systemd-socket-activate provides the socket, exactly as a .socket unit
# would; notify-listener stands in for PID 1's notification socket.
source "$(dirname "$0")/lib.sh"
NOTIFY_LISTENER="$top_builddir/tests/helpers/notify-listener"
command -v systemd-socket-activate >/dev/null || { echo "SKIP: no systemd-socket-activate"; exit 77; }

write_config </dev/null
mkdir -p "$TEST_DIR/run"
"$NOTIFY_LISTENER" "$TEST_DIR/notify" STOPPING=1 10000 >"$TEST_DIR/notify.log" &
listener=$!
for _ in $(seq 1 50); do [[ -S $TEST_DIR/notify ]] && break; sleep 0.05; done

# The broker is started by the first connection, not before.
NOTIFY_SOCKET="$TEST_DIR/notify" systemd-socket-activate -l "$AGENTID_SOCKET" \
        -E NOTIFY_SOCKET "$AGENTIDD" --config "$TEST_DIR/etc/agentid.conf" --state-dir "$TEST_DIR/state" \
        --runtime-dir "$TEST_DIR/run" >>"$TEST_DIR/broker.log" 2>&1 &
activator=$!
test_cleanup() { kill "$activator" "$listener" 2>/dev/null; wait 2>/dev/null; }
for _ in $(seq 1 100); do [[ -S $AGENTID_SOCKET ]] && break; sleep 0.05; done
[[ -S $AGENTID_SOCKET ]] || fail "systemd-socket-activate did not listen"
[[ ! -e $TEST_DIR/state/agentid.db ]] || fail "broker started before the first connection"

out=$("$AGENTCTL" mint --reason "socket activated")
assert_contains "$out" "state:         live"
grep -q "READY=1" "$TEST_DIR/notify.log" || fail "no READY=1: $(cat "$TEST_DIR/notify.log")"
grep -q "STATUS=0 live agents" "$TEST_DIR/notify.log" || fail "no STATUS=: $(cat "$TEST_DIR/notify.log")"

# The activated broker does not own the socket file: it must not remove it.
pkill -TERM -f "agentidd --config $TEST_DIR/etc/agentid.conf" || fail "no activated broker running"
wait "$listener" || fail "no STOPPING=1 before the listener timed out: $(cat "$TEST_DIR/notify.log")"
grep -q "STOPPING=1" "$TEST_DIR/notify.log" || fail "no STOPPING=1"
[[ -S $AGENTID_SOCKET ]] || fail "the activated broker removed systemd's socket"
echo "socket-activation: ok"
