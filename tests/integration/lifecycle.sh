#!/bin/bash
# Mint, list, show, revoke through agentctl against the real broker.
source "$(dirname "$0")/lib.sh"
start_broker

out=$("$AGENTCTL" mint --ttl 5m --reason "triage ticket 4411" --on-behalf-of alice@example.com)
assert_contains "$out" "state:         live"
assert_contains "$out" "reason:        triage ticket 4411"
name=$(awk '/^name:/ {print $2}' <<<"$out")
uid=$(awk '/^uid:/ {print $2}' <<<"$out")
[[ $name =~ ^ag-default-[a-z0-9]{6}$ ]] || fail "unexpected agent name $name"
assert_eq "$uid" "$UID_MIN" "first uid"

# JSON output has the documented fields.
json=$("$AGENTCTL" --json show "$name")
for f in name uid gid owner template state created_at expires_at; do
        jq -e --arg f "$f" '.[$f] != null' <<<"$json" >/dev/null || fail "show --json lacks $f"
done
assert_eq "$(jq -r '.owner' <<<"$json")" root
assert_eq "$(jq -r '.on_behalf_of' <<<"$json")" alice@example.com
[[ $(jq -r '.expires_at' <<<"$json") =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] ||
        fail "expires_at is not RFC 3339 UTC"

# show by uid finds the same agent
assert_contains "$("$AGENTCTL" show "$uid")" "name:          $name"

# A second agent gets the next uid (no reuse), list shows both.
name2=$("$AGENTCTL" --json mint | jq -r .name)
[[ -n $name2 && $name2 != "$name" ]] || fail "second mint"
list=$("$AGENTCTL" list)
assert_contains "$list" "$name"
assert_contains "$list" "$name2"
assert_contains "$list" "in 4m5"
assert_eq "$("$AGENTCTL" --json list | jq length)" 2

# Revoke one by name: gone from list, still in list --all as revoked.
assert_contains "$("$AGENTCTL" revoke "$name" --reason "task done")" "revoked 1 agent: $name"
list=$("$AGENTCTL" list)
[[ $list != *"$name "* ]] || fail "revoked agent still listed"
assert_contains "$("$AGENTCTL" list --all)" "revoked"
assert_contains "$("$AGENTCTL" show "$name")" "end reason:    task done"

# Revoking it again is a clear error.
if out=$("$AGENTCTL" revoke "$name" 2>&1); then fail "double revoke succeeded"; fi
assert_contains "$out" "no live agent $name (io.agentid.NoSuchAgent)"

# Revoke by owner and --all.
"$AGENTCTL" mint >/dev/null
assert_contains "$("$AGENTCTL" revoke --owner root)" "revoked 2 agents"
"$AGENTCTL" mint >/dev/null
"$AGENTCTL" mint >/dev/null
assert_contains "$("$AGENTCTL" revoke --all)" "revoked 2 agents"
assert_contains "$("$AGENTCTL" list)" "(no live agents)"

# Every change is in the event table.
assert_eq "$(count_events mint)" 5
assert_eq "$(count_events revoke)" 5
assert_eq "$(count_events start)" 1

# Status reports the broker and its templates.
status=$("$AGENTCTL" status)
assert_contains "$status" "live agents:   0"
assert_contains "$status" "default"

# Usage errors exit 2, broker errors 1.
set +e
"$AGENTCTL" mint --ttl soon 2>/dev/null; assert_eq $? 2 "exit for bad duration"
"$AGENTCTL" frobnicate 2>/dev/null; assert_eq $? 2 "exit for unknown command"
"$AGENTCTL" show ag-nope-xxxxxx 2>/dev/null; assert_eq $? 1 "exit for unknown agent"
AGENTID_SOCKET=$TEST_DIR/nope.sock "$AGENTCTL" status 2>"$TEST_DIR/err"; assert_eq $? 1 "exit when no broker"
set -e
assert_contains "$(cat "$TEST_DIR/err")" "cannot reach the broker"

# SIGTERM: clean stop, socket removed, stop event recorded.
stop_broker
[[ ! -e $AGENTID_SOCKET ]] || fail "socket left behind after SIGTERM"
assert_eq "$(count_events stop)" 1
echo "lifecycle: ok"
