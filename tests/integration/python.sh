#!/bin/bash
# The Python client (python/agentid) against the real broker on a real
# socket: tests/python/ by unittest (every method, every error class, run
# with pipes, signals and the invoker's death, 50 concurrent runs through
# asyncio, a caller without rights, the drift test against the C headers),
# the example agent loop of examples/python/, and `pip install ./python`
# into a venv.
source "$(dirname "$0")/lib.sh"
PYTHON=${PYTHON:-python3}
if [[ $(id -u) -ne 0 ]]; then
        echo "SKIP: needs root (tasks run as agents; setpriv to nobody)"
        exit 77
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "SKIP: needs python3 (3.11 or later)"
        exit 77
fi

# This test's slice, moved below the default agent range: a broker left
# running on the host with the default range (quickstart, a profiling run)
# sweeps that whole range every 30 s and kills any process there that is not
# its own agent's, tasks of this test included. 1000000000 + slot * 100000
# stays clear of it (and of the fixed ranges of other tests).
UID_MIN=$((1000000000 + UID_SLOT * 100000))
UID_MAX=$((UID_MIN + 99999))
# The last uids of the slice belong to two more brokers.
TINY_UID=$UID_MAX
AUDIT_UID=$((UID_MAX - 1))
UID_MAX=$((UID_MAX - 2))
write_config <<'C'
issuer = agentid:python-test
token_leeway = 0s
refusal_window = 1s
C
# Tasks have a private /tmp: the package copy and agentctl in $TEST_DIR are
# granted to them read-only.
cat >"$TEST_DIR/etc/templates.d/default.conf" <<T
[template]
name = default
ReadOnlyPaths = $TEST_DIR
ttl = 1m
max_ttl = 10m
T
cat >"$TEST_DIR/etc/templates.d/tools.conf" <<T
[template]
name = tools
ReadOnlyPaths = $TEST_DIR
description = One tool call of an agent loop
ttl = 2m
max_ttl = 10m
invokers = root
scopes = mcp:call mcp:read
T
cat >"$TEST_DIR/etc/templates.d/stepup.conf" <<T
[template]
name = stepup
ReadOnlyPaths = $TEST_DIR
ttl = 10m
invokers = root
approvers = root
sudo = approve
T
start_broker

# The tiny broker: one uid (RangeExhausted), two connections
# (TooManyConnections), and a request share of 1 a second for users other
# than root (TooManyRequests).
TINY=$TEST_DIR/tiny
mkdir -p "$TINY/etc/templates.d"
printf '[broker]\njournal = off\nuid_min = %s\nuid_max = %s\nmax_connections = 2\nreserved_connections = 0\nrequest_rate = 1\nrequest_burst = 2\n' \
        "$TINY_UID" "$TINY_UID" >"$TINY/etc/agentid.conf"
cp "$TEST_DIR/etc/templates.d/default.conf" "$TINY/etc/templates.d/"
"$AGENTIDD" --config "$TINY/etc/agentid.conf" --state-dir "$TINY/state" --runtime-dir "$TINY/run" \
        >>"$TEST_DIR/tiny.log" 2>&1 &
TINY_PID=$!
AUDIT_PID=
test_cleanup() {
        kill $TINY_PID $AUDIT_PID 2>/dev/null
        [[ -f $TEST_DIR/journald.pid ]] && kill "$(cat "$TEST_DIR/journald.pid")" 2>/dev/null
        wait 2>/dev/null
        if [[ ${rc:-0} -ne 0 ]]; then
                for log in tiny audit; do
                        [[ -f $TEST_DIR/$log.log ]] && { echo "--- $log broker log ---"; cat "$TEST_DIR/$log.log"; }
                done
        fi
}
for _ in $(seq 1 100); do
        AGENTID_SOCKET=$TINY/run/agentid.sock "$AGENTCTL" status >/dev/null 2>&1 && break
        sleep 0.05
done
AGENTID_SOCKET=$TINY/run/agentid.sock "$AGENTCTL" status >/dev/null || fail "tiny broker did not start"

# The audit broker: journal = required, in a mount namespace of its own
# whose journald is a stand-in the test stops (AuditFailed). Nothing of the
# host's /run is touched.
if unshare -m --propagation private true 2>/dev/null; then
        AUD=$TEST_DIR/audit
        mkdir -p "$AUD/etc/templates.d"
        printf '[broker]\njournal = required\nuid_min = %s\nuid_max = %s\n' "$AUDIT_UID" "$AUDIT_UID" \
                >"$AUD/etc/agentid.conf"
        cp "$TEST_DIR/etc/templates.d/default.conf" "$AUD/etc/templates.d/"
        unshare -m --propagation private -- bash -c '
                mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -p /run/systemd/journal || exit 99
                "$1" -c "
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(\"/run/systemd/journal/socket\")
open(sys.argv[1], \"w\").write(str(os.getpid()))
while True:
    s.recv(1 << 20)
" "$2/journald.pid" &
                for _ in $(seq 1 100); do [[ -S /run/systemd/journal/socket ]] && break; sleep 0.05; done
                exec "$3" --config "$4/etc/agentid.conf" --state-dir "$4/state" --runtime-dir "$4/run"
        ' ns "$PYTHON" "$TEST_DIR" "$AGENTIDD" "$AUD" >>"$TEST_DIR/audit.log" 2>&1 &
        AUDIT_PID=$!
        for _ in $(seq 1 100); do
                AGENTID_SOCKET=$AUD/run/agentid.sock "$AGENTCTL" status >/dev/null 2>&1 && break
                sleep 0.05
        done
        AGENTID_SOCKET=$AUD/run/agentid.sock "$AGENTCTL" status >/dev/null || fail "audit broker did not start"
        export AGENTID_TEST_AUDIT_SOCKET=$AUD/run/agentid.sock AGENTID_TEST_JOURNALD_PID=$(cat "$TEST_DIR/journald.pid")
fi

# A copy of the package that nobody and the agents can read (the checkout
# may sit under a private home), without bytecode written anywhere.
mkdir -p "$TEST_DIR/py"
cp -r "$top_srcdir/python/agentid" "$TEST_DIR/py/"
chmod -R a+rX "$TEST_DIR/py"
export PYTHONPATH=$TEST_DIR/py PYTHONDONTWRITEBYTECODE=1
export AGENTID_TEST_DIR=$TEST_DIR AGENTID_TEST_TINY_SOCKET=$TINY/run/agentid.sock AGENTID_TEST_AGENTCTL=$AGENTCTL

# --- the unit and integration tests of the client
"$PYTHON" -m unittest discover -s "$top_srcdir/tests/python" -t "$top_srcdir/tests/python" -v \
        >"$TEST_DIR/unittest.log" 2>&1 || { cat "$TEST_DIR/unittest.log"; fail "python tests failed"; }
grep -E "skipped|concurrent runs|^Ran|^OK" "$TEST_DIR/unittest.log" || true
# None may be skipped here: the broker they need is running (AuditFailed
# needs a mount namespace for its journald).
if grep "skipped" "$TEST_DIR/unittest.log" | grep -qv "needs a mount namespace"; then
        grep "skipped" "$TEST_DIR/unittest.log"
        fail "python tests were skipped"
fi
ran=$(sed -n 's/^Ran \([0-9]*\) test.*/\1/p' "$TEST_DIR/unittest.log")
((ran >= 60)) || fail "only $ran python tests ran"

# --- the example agent loop: each tool call a fresh agent, with a token
out=$("$PYTHON" "$top_srcdir/examples/python/agent_loop.py" --template tools --audience mcp://tools \
        --agentctl "$AGENTCTL" 2>&1) || fail "example failed: $out"
echo "$out" | head -n 30
assert_contains "$out" "=== 4 tool calls"
names=$(grep -o 'agent:  ag-tools-[a-z0-9]*' <<<"$out" | cut -c9- | sort -u)
assert_eq "$(wc -l <<<"$names")" 4 "a fresh agent per tool call"
assert_contains "$out" "token for mcp://tools"
assert_contains "$out" "mcp server: "
assert_contains "$out" "Permission denied" "the shadow file read"
# The audit story (agentctl audit, where this agentctl has it) shows the
# token event, and no token itself (it went to verify on stdin).
story=show
"$AGENTCTL" --help | grep -q '^  audit ' && story=audit
[[ $out != *eyJ* ]] || fail "a token is in the example's output or audit story"
for n in $names; do
        assert_eq "$("$AGENTCTL" --json show "$n" | jq -r .state)" revoked "$n after its call"
        assert_contains "$out" "--- agentctl $story $n" "audit story of $n"
        [[ $(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT count(*) FROM events WHERE agent = '$n' AND event = 'token'") == 1 ]] ||
                fail "no token event for $n"
done

# --- pip install ./python into a venv (offline: the in-tree backend needs nothing)
if "$PYTHON" -m venv "$TEST_DIR/venv" >/dev/null 2>&1; then
        cp -r "$top_srcdir/python" "$TEST_DIR/python-src"  # the checkout may be read-only (distcheck)
        chmod -R u+w "$TEST_DIR/python-src"
        (cd "$TEST_DIR" && PIP_NO_INDEX=1 "$TEST_DIR/venv/bin/pip" install --quiet ./python-src) ||
                fail "pip install ./python failed"
        got=$(cd / && env -u PYTHONPATH "$TEST_DIR/venv/bin/python" -c \
                'import agentid; print(agentid.__file__); print(agentid.Client().status().caller.admin)')
        assert_contains "$got" "$TEST_DIR/venv/lib/" "installed package location"
        assert_contains "$got" "True" "status through the installed package"
else
        fail "python3 -m venv does not work: install python3-venv (scripts/install-deps)"
fi

echo "python: ok"
