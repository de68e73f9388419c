#!/bin/bash
# Fair shares (issue 13), limit by limit: a uid's own connection limit, the
# reserve only root and admins may take, the request rate, each refusal
# one line naming its limit (docs/protocol.md, "Fair shares").
source "$(dirname "$0")/lib.sh"
ABUSE_CLIENT="$TEST_DIR/abuse-client"
install -m 0755 "$top_builddir/tests/helpers/abuse-client" "$ABUSE_CLIENT"
write_config <<'C'
max_connections = 16
reserved_connections = 4
max_connections_per_uid = 8
request_rate = 20
request_burst = 20
admins = daemon
C
start_broker
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups -- "$@"; }
status='{"method":"io.agentid.Status"}\0'
pids=()
test_cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; }

# nobody holds its 8; a 9th is refused, saying which limit.
# (setpriv itself in the background, not a function: $! is then the client.)
setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups -- "$ABUSE_CLIENT" hold "$AGENTID_SOCKET" 8 6 >/dev/null &
pids+=($!)
sleep 0.5
out=$(printf "$status" | as nobody "$RAW_CLIENT" "$AGENTID_SOCKET" 1000)
assert_contains "$out" '"error":"io.agentid.TooManyConnections"' "nobody's 9th connection"
assert_contains "$out" "uid $(id -u nobody) already has 8 open (max_connections_per_uid)"
# Another user gets the rest of the unreserved slots (12 - 8 = 4), no more.
setpriv --reuid=bin --regid="$(id -g bin)" --clear-groups -- "$ABUSE_CLIENT" hold "$AGENTID_SOCKET" 4 6 >/dev/null &
pids+=($!)
sleep 0.5
out=$(printf "$status" | as sys "$RAW_CLIENT" "$AGENTID_SOCKET" 1000)
assert_contains "$out" "reserved for root and admins (reserved_connections)" "a third user, slots reserved"
[[ $(wc -l <<<"$out") -eq 1 ]] || fail "more than one line: $out"
# Root and admins still get in.
"$AGENTCTL" status >/dev/null || fail "root locked out"
as daemon "$AGENTCTL" status >/dev/null || fail "an admin locked out"
test_cleanup
pids=()

# The request share: a burst of 20, then 20 a second; over it, one line.
sleep 1.2 # the held connections idle out or close; buckets refill
out=$(as nobody "$ABUSE_CLIENT" flood "$AGENTID_SOCKET" 2 "${status%\\0}")
sent=$(awk '{print $2}' <<<"$out") throttled=$(awk '{print $8}' <<<"$out")
((throttled >= 1)) || fail "no request was over the share: $out"
((sent - throttled <= 20 + 2 * 20 + 20)) || fail "more requests handled than the share: $out"
# More than a burst at once: the bucket holds at most 20.
reply=$(for _ in $(seq 1 25); do printf "$status"; done | as nobody "$RAW_CLIENT" "$AGENTID_SOCKET" 500)
assert_contains "$reply" "is over its request share (20 a second, bursts of 20; request_rate)" "the refusal"
assert_contains "$reply" '"error":"io.agentid.TooManyRequests"'
# Root is never throttled.
for _ in $(seq 1 60); do printf "$status"; done | "$RAW_CLIENT" "$AGENTID_SOCKET" 1000 >"$TEST_DIR/root.out"
! grep -q TooManyRequests "$TEST_DIR/root.out" || fail "root was throttled"
echo "shares: ok"
