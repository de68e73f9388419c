#!/bin/bash
# Hostile input, table by table: garbage on the socket, hostile command
# lines and hostile template files each get a clear error (or a hang-up),
# change nothing, and leave the broker serving.
source "$(dirname "$0")/lib.sh"
write_config <<'C'
max_connections = 8
idle_timeout = 1s
refusal_window = 1s
C
# Hostile templates: each is reported with file:line and skipped; the broker
# still starts, and none of them can be used.
tdir="$TEST_DIR/etc/templates.d"
printf '[template]\nname = default\n' >"$tdir/00-default.conf"
printf '[template]\nname = rootgroup\ngroups = root\n' >"$tdir/h1.conf"
printf '[template]\nname = ghost\ninvokers = no-such-user-zz\n' >"$tdir/h2.conf"
printf '[template]\nname = forever\nttl = 99999999999999999999d\n' >"$tdir/h3.conf"
head -c 4096 /dev/urandom >"$tdir/h4.conf"
{ printf '[template]\nname = longline\ndescription = '; head -c 100000 /dev/zero | tr '\0' x; echo; } >"$tdir/h5.conf"
printf '[template]\nname = ../../etc\n' >"$tdir/h6.conf"
printf '[template]\nname = homeless\nhome = /tmp/../etc/%%n\n' >"$tdir/h7.conf"
start_broker
for t in h1:rootgroup h2:ghost h3:forever h5:longline h7:homeless; do
        grep -q "${t%%:*}.conf:[0-9]*: .*template skipped" "$TEST_DIR/broker.log" || fail "template ${t%%:*} not reported"
        "$AGENTCTL" mint --template "${t##*:}" >/dev/null 2>&1 && fail "hostile template ${t##*:} usable"
done
grep -q "h4.conf:[0-9]*: .*template skipped" "$TEST_DIR/broker.log" || fail "binary template not reported"
grep -q "h6.conf:[0-9]*: .*template skipped" "$TEST_DIR/broker.log" || fail "path-like template name not reported"
"$AGENTCTL" mint >/dev/null
before_ids=$(count_identities)
before_events=$(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT count(*) FROM events WHERE event != 'deny'")

send() { printf "$1" | "$RAW_CLIENT" "$AGENTID_SOCKET" 1500; }

expect_error() { # expect_error WHAT ERROR BYTES
        local out
        out=$(send "$3")
        [[ $out == *"\"error\":\"$2\""* ]] || fail "$1: expected $2, got: $out"
        broker_alive || fail "$1: broker died"
}

expect_error "not JSON" io.agentid.InvalidRequest 'hello\0'
expect_error "JSON array" io.agentid.InvalidRequest '[1,2,3]\0'
expect_error "truncated JSON" io.agentid.InvalidRequest '{"method":"io.agentid.Mint"\0'
expect_error "no method" io.agentid.InvalidRequest '{"parameters":{}}\0'
expect_error "duplicate keys" io.agentid.InvalidRequest '{"method":"io.agentid.List","method":"io.agentid.Mint"}\0'
expect_error "unknown top-level key" io.agentid.InvalidRequest '{"method":"io.agentid.Mint","upgrade":true}\0'
expect_error "unknown method" io.agentid.MethodNotFound '{"method":"io.agentid.BecomeRoot"}\0'
expect_error "foreign interface" io.agentid.InvalidRequest '{"method":"org.varlink.service.GetInfo"}\0'
expect_error "unknown parameter" io.agentid.InvalidParameter '{"method":"io.agentid.Mint","parameters":{"uid":0}}\0'
expect_error "owner claimed by caller" io.agentid.InvalidParameter '{"method":"io.agentid.Mint","parameters":{"owner_uid":1000}}\0'
expect_error "ttl wrong type" io.agentid.InvalidParameter '{"method":"io.agentid.Mint","parameters":{"ttl":[1]}}\0'
expect_error "ttl negative" io.agentid.InvalidParameter '{"method":"io.agentid.Mint","parameters":{"ttl":-5}}\0'
expect_error "ttl huge" io.agentid.InvalidParameter '{"method":"io.agentid.Mint","parameters":{"ttl":"99999999999999999999d"}}\0'
expect_error "template path" io.agentid.InvalidParameter '{"method":"io.agentid.Mint","parameters":{"template":"../../etc/passwd"}}\0'
expect_error "reason with newline" io.agentid.InvalidParameter '{"method":"io.agentid.Mint","parameters":{"reason":"a\\nFAKE LOG LINE"}}\0'
expect_error "reason with escape" io.agentid.InvalidParameter '{"method":"io.agentid.Mint","parameters":{"reason":"\\u001b[31m"}}\0'
expect_error "reason too long" io.agentid.InvalidParameter "{\"method\":\"io.agentid.Mint\",\"parameters\":{\"reason\":\"$(head -c 300 /dev/zero | tr '\0' x)\"}}\\0"
expect_error "revoke with two selectors" io.agentid.InvalidParameter '{"method":"io.agentid.Revoke","parameters":{"all":true,"owner":0}}\0'
expect_error "revoke bad name" io.agentid.InvalidParameter '{"method":"io.agentid.Revoke","parameters":{"agents":["root; rm -rf /"]}}\0'
expect_error "revoke empty list" io.agentid.InvalidParameter '{"method":"io.agentid.Revoke","parameters":{"agents":[]}}\0'
expect_error "show both selectors" io.agentid.InvalidParameter '{"method":"io.agentid.Show","parameters":{"agent":"ag-x","uid":1}}\0'
expect_error "list limit zero" io.agentid.InvalidParameter '{"method":"io.agentid.List","parameters":{"limit":0}}\0'

# Invalid UTF-8 inside a string.
expect_error "invalid UTF-8" io.agentid.InvalidRequest '{"method":"io.agentid.Mint","parameters":{"reason":"\xff\xfe"}}\0'

# Oversized: a request with no terminator beyond the limit is answered, then
# the connection is closed.
out=$(head -c 100000 /dev/zero | tr '\0' 'a' | "$RAW_CLIENT" "$AGENTID_SOCKET" 1500)
assert_contains "$out" io.agentid.MessageTooLarge
broker_alive || fail "oversized message killed the broker"

# Deeply nested JSON is refused without harm.
nested="{\"method\":\"io.agentid.Mint\",\"parameters\":{\"x\":$(printf '[%.0s' $(seq 3000))$(printf ']%.0s' $(seq 3000))}}"
out=$(printf '%s\0' "$nested" | "$RAW_CLIENT" "$AGENTID_SOCKET" 1500)
assert_contains "$out" '"error"'

# Several requests in one write are all answered, in order.
out=$(printf '{"method":"io.agentid.Status"}\0junk\0{"method":"io.agentid.Status"}\0' | "$RAW_CLIENT" "$AGENTID_SOCKET" 1500)
assert_eq "$(grep -c '"live_agents"' <<<"$out")" 2 "pipelined replies"
assert_eq "$(grep -c InvalidRequest <<<"$out")" 1 "pipelined error"

# Half a message, then silence: the idle timeout closes the connection.
start=$(date +%s%N)
printf '{"method":' | "$RAW_CLIENT" "$AGENTID_SOCKET" 5000 >/dev/null
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
((elapsed_ms < 4000)) || fail "idle connection not closed (${elapsed_ms}ms)"

# Connection flood beyond max_connections: extra ones are refused, and the
# broker serves again once they go.
pids=()
for i in $(seq 1 12); do
        (sleep 3 | "$RAW_CLIENT" "$AGENTID_SOCKET" 100 >/dev/null) &
        pids+=($!)
done
sleep 0.3
out=$(printf '{"method":"io.agentid.Status"}\0' | "$RAW_CLIENT" "$AGENTID_SOCKET" 1000)
assert_contains "$out" io.agentid.TooManyConnections
kill "${pids[@]}" 2>/dev/null || true
wait "${pids[@]}" 2>/dev/null || true
sleep 1.6 # idle timeout reaps the rest

# A client that sends many requests and never reads is cut off, not queued
# for forever; the broker stays responsive.
(yes '{"method":"io.agentid.Status"}' | tr '\n' '\0' | head -c 20000000 | timeout 5 "$RAW_CLIENT" "$AGENTID_SOCKET" 100 >/dev/null) || true
broker_alive || fail "non-reading client killed the broker"

# Hostile command lines: a clear one-line error and the documented exit
# status (2 usage, 1 refused, 125 run refused), and no identity made.
expect_cli() { # expect_cli STATUS MESSAGE ARGS...
        local want=$1 msg=$2 rc=0
        shift 2
        "$AGENTCTL" "$@" >/dev/null 2>"$TEST_DIR/cli.err" || rc=$?
        [[ $rc == "$want" ]] || fail "agentctl $*: exit $rc, expected $want ($(cat "$TEST_DIR/cli.err"))"
        grep -q -- "$msg" "$TEST_DIR/cli.err" || fail "agentctl $*: \"$msg\" not in: $(cat "$TEST_DIR/cli.err")"
        [[ $(wc -l <"$TEST_DIR/cli.err") -le 5 ]] || fail "agentctl $*: error is not short"
}
expect_cli 2 "invalid duration" mint --ttl 1h30
expect_cli 2 "invalid duration" mint --ttl -5s
expect_cli 1 InvalidParameter mint --template ../x
expect_cli 1 InvalidParameter mint --reason $'\e[31mred'
expect_cli 1 InvalidParameter mint --on-behalf-of "$(head -c 200 /dev/zero | tr '\0' a)"
expect_cli 2 "not valid UTF-8" mint --reason $'\xff\xfe'
expect_cli 1 "exceeds template" mint --ttl 2h
expect_cli 2 "exactly one of" revoke
expect_cli 2 "exactly one of" revoke --all --owner root
# pam_agentid's methods are root's (METHOD_ROOT_ONLY in broker/methods.c):
# anyone else is refused before the handler runs, with a deny event, even
# for a live agent, and a Signal outside a running task is no method.
nobody_send() { printf "$1" | setpriv --reuid=65534 --regid=65534 --clear-groups "$RAW_CLIENT" "$AGENTID_SOCKET" 1500; }
live_agent=$("$AGENTCTL" --json mint | jq -r .name)
for m in StepUp StepUpWait PamAccount SessionOpen SessionClose; do
        out=$(nobody_send "{\"method\":\"io.agentid.$m\",\"parameters\":{\"agent\":\"$live_agent\",\"service\":\"sudo\"}}\\0")
        [[ $out == *'"error":"io.agentid.PermissionDenied"'*"only root"* ]] || fail "$m by uid 65534: $out"
done
# uid 65534 is no invoker, admin or agent: its refusals are counted per
# method and recorded when the window (1s here) ends, one event each.
pam_denies() {
        sqlite3 "$TEST_DIR/state/agentid.db" "SELECT count(*) FROM events WHERE event = 'deny' AND caller_uid = 65534
                AND detail GLOB '1 refused io.agentid.[SP]*call from uid 65534*only root*'"
}
for _ in $(seq 1 40); do [[ $(pam_denies) == 5 ]] && break; sleep 0.1; done
assert_eq "$(pam_denies)" 5 "deny events for non-root PAM calls"
expect_error "signal without a task" io.agentid.MethodNotFound '{"method":"io.agentid.Signal","parameters":{"signal":15}}\0'
before_ids=$(count_identities)
before_events=$(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT count(*) FROM events WHERE event != 'deny'")
expect_cli 1 InvalidParameter show 'ag-x;rm -rf /'
expect_cli 1 NoSuchAgent show ag-nope-bcdfgh
expect_cli 1 "owner must be" revoke --owner no-such-user-zz
expect_cli 2 "no command" run
expect_cli 125 "set by the broker" run --env HOME=/root -- true
expect_cli 125 "set by the broker" run --env AGENTID_NAME=root -- true
expect_cli 2 "unknown command" frobnicate
expect_cli 1 "cannot reach the broker" --socket /nonexistent/agentid.sock status

# Through all of it, nothing changed and the broker still works.
assert_eq "$(count_identities)" "$before_ids" "identities after hostile input"
assert_eq "$(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT count(*) FROM events WHERE event != 'deny'")" "$before_events" "events after hostile input"
"$AGENTCTL" status >/dev/null || fail "broker not serving after hostile input"
"$AGENTCTL" mint >/dev/null || fail "broker cannot mint after hostile input"
echo "hostile: ok"
