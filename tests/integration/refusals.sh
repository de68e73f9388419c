#!/bin/bash
# Bounded audit growth (issue 13): refusals of unprivileged callers are
# counted per uid and method and recorded as one deny event per window,
# whatever their rate; refusals of real invokers stay one event each.
source "$(dirname "$0")/lib.sh"
ABUSE_CLIENT="$top_builddir/tests/helpers/abuse-client"
write_config <<'C'
refusal_window = 1s
C
cat >"$TEST_DIR/etc/templates.d/open.conf" <<'T'
[template]
name = open
invokers = nobody
ttl = 1m
max_ttl = 1m
T
start_broker
db="$TEST_DIR/state/agentid.db"
denies() { sqlite3 "$db" "SELECT count(*) FROM events WHERE event = 'deny'${1:-}"; }
before=$(denies)

# A flood of refused VerifyToken calls from nobody, 2 seconds.
verify='{"method":"io.agentid.VerifyToken","parameters":{"token":"a.b.c"}}'
out=$(as_nobody "$ABUSE_CLIENT" flood "$AGENTID_SOCKET" 2 "$verify")
sent=$(awk '{print $2}' <<<"$out")
# Requests over nobody's request share are answered TooManyRequests and not
# handled at all (shares.h); the others are refused VerifyToken calls.
throttled=$(awk '{print $8}' <<<"$out")
[[ $sent -ge 200 ]] || fail "flood sent only $sent requests: $out"
# daemon is an invoker of nothing: its refused Mints are counted too.
for _ in $(seq 1 20); do
        setpriv --reuid=daemon --regid=daemon --clear-groups -- "$AGENTCTL" mint >/dev/null 2>&1 &&
                fail "daemon minted"
done
# nobody is a real invoker (of "open"): each refusal is an event.
for _ in 1 2 3; do
        as_nobody "$AGENTCTL" mint --template open --ttl 1h >/dev/null 2>&1 && fail "ttl above max_ttl allowed"
done
assert_eq "$(denies " AND detail LIKE '%exceeds%'")" 3 "invoker's refusals recorded one by one"
# The windows (nobody's flood, then daemon's Mints) end; the next tick
# records them.
refused_total() {
        sqlite3 "$db" "SELECT detail FROM events WHERE event = 'deny' AND detail LIKE '%refused io.agentid.VerifyToken%'" |
                awk '{ s += $1 } END { print s + 0 }'
}
all_recorded() { (($(refused_total) >= sent - throttled && $(denies " AND caller_uid = $(id -u daemon)") >= 1)); }
eventually 15 all_recorded || true
n=$(denies " AND caller_uid = $(id -u nobody) AND detail LIKE '%refused io.agentid.VerifyToken calls from uid%'")
[[ $n -ge 1 && $n -le 3 ]] || fail "$sent refusals made $n aggregated events (want 1 to 3)"
total=$(refused_total)
assert_eq "$total" "$((sent - throttled))" "refusals counted in the aggregated events ($out)"
assert_contains "$(sqlite3 "$db" "SELECT detail FROM events WHERE detail LIKE '%refused io.agentid.VerifyToken%' LIMIT 1")" \
        "first: token refused:" "aggregated detail"
m=$(denies " AND caller_uid = $(id -u daemon)")
assert_eq "$m" 1 "daemon's 20 refused Mints"
assert_contains "$(sqlite3 "$db" "SELECT detail FROM events WHERE event = 'deny' AND caller_uid = $(id -u daemon)")" \
        "20 refused io.agentid.Mint calls from uid $(id -u daemon)"
all=$(denies)
[[ $((all - before)) -le 7 ]] || fail "$((all - before)) deny rows for $sent + 23 refusals"
# What is still counting at shutdown is recorded, not lost.
as_nobody "$ABUSE_CLIENT" flood "$AGENTID_SOCKET" 0.2 "$verify" >/dev/null
stop_broker
[[ $(denies) -gt $all ]] || fail "refusals counted at shutdown were lost"
echo "refusals: ok"
