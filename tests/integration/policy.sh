#!/bin/bash
# Authorization by peer credentials: callers get what policy allows, no more.
source "$(dirname "$0")/lib.sh"

write_config <<<"max_connections = 64"
cat >"$TEST_DIR/etc/templates.d/default.conf" <<'T'
[template]
name = default
description = root only
ttl = 1m
max_ttl = 10m
T
cat >"$TEST_DIR/etc/templates.d/worker.conf" <<'T'
[template]
name = worker
description = for the unprivileged orchestrator
ttl = 1m
max_ttl = 5m
invokers = nobody
groups = daemon
T
cat >"$TEST_DIR/etc/templates.d/broken.conf" <<'T'
[template]
name = broken
ttl = 1m
sudo = sometimes
T
start_broker

# The invalid template is reported with file:line and skipped; the broker runs.
grep -q "broken.conf:4: sudo must be deny, allow or approve; template skipped" "$TEST_DIR/broker.log" ||
        fail "invalid template not reported with file:line"
if "$AGENTCTL" mint --template broken 2>"$TEST_DIR/err"; then fail "skipped template usable"; fi
assert_contains "$(cat "$TEST_DIR/err")" "io.agentid.NoSuchTemplate"

# nobody may not use the root-only template: clear refusal, no identity.
before=$(count_identities)
if as_nobody "$AGENTCTL" mint 2>"$TEST_DIR/err"; then fail "nobody minted with a root-only template"; fi
assert_contains "$(cat "$TEST_DIR/err")" "may not mint with template \"default\""
assert_contains "$(cat "$TEST_DIR/err")" "io.agentid.PermissionDenied"
assert_eq "$(count_identities)" "$before" "identities after denial"
assert_eq "$(count_events deny)" 2 "deny events (template + permission)"
denier=$(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT caller_uid FROM events WHERE event = 'deny' ORDER BY seq DESC LIMIT 1")
assert_eq "$denier" "$(id -u nobody)" "denial records the real caller"

# nobody may use the worker template, and owns what it mints.
out=$(as_nobody "$AGENTCTL" --json mint --template worker --reason "nightly build")
assert_eq "$(jq -r '.owner' <<<"$out")" nobody
assert_eq "$(jq -r '.groups[0]' <<<"$out")" daemon
worker=$(jq -r '.name' <<<"$out")

# Asking for more than the template allows is refused, changing nothing.
before=$(count_identities)
if as_nobody "$AGENTCTL" mint --template worker --ttl 6m 2>"$TEST_DIR/err"; then fail "ttl above max_ttl accepted"; fi
assert_contains "$(cat "$TEST_DIR/err")" "exceeds template \"worker\" max_ttl 5m"
assert_eq "$(count_identities)" "$before"

# Root's agent: invisible to and not revocable by nobody.
rootagent=$("$AGENTCTL" --json mint | jq -r .name)
nobody_list=$(as_nobody "$AGENTCTL" list)
assert_contains "$nobody_list" "$worker"
[[ $nobody_list != *"$rootagent"* ]] || fail "nobody sees root's agent"
if as_nobody "$AGENTCTL" show "$rootagent" 2>/dev/null; then fail "nobody may show root's agent"; fi
if as_nobody "$AGENTCTL" revoke "$rootagent" 2>"$TEST_DIR/err"; then fail "nobody revoked root's agent"; fi
assert_contains "$(cat "$TEST_DIR/err")" "may not revoke $rootagent"
if as_nobody "$AGENTCTL" revoke --all 2>/dev/null; then fail "nobody revoked all"; fi
if as_nobody "$AGENTCTL" revoke --owner root 2>/dev/null; then fail "nobody revoked root's agents"; fi
"$AGENTCTL" show "$rootagent" | grep -q "state:         live" || fail "root's agent changed by denied requests"

# nobody may revoke its own agents; root (admin) sees and revokes everything.
assert_contains "$(as_nobody "$AGENTCTL" revoke --owner nobody)" "revoked 1 agent: $worker"
assert_contains "$("$AGENTCTL" revoke --all)" "revoked 1 agent: $rootagent"

# An admin named in agentid.conf gets admin rights without being root.
stop_broker
write_config <<<"admins = nobody"
cp /dev/null "$TEST_DIR/etc/templates.d/broken.conf"
rm "$TEST_DIR/etc/templates.d/broken.conf"
start_broker
"$AGENTCTL" mint >/dev/null
[[ $(as_nobody "$AGENTCTL" --json list | jq length) == 1 ]] ||
        fail "admin nobody does not see root's agent"
assert_contains "$(as_nobody "$AGENTCTL" revoke --all)" "revoked 1 agent"
echo "policy: ok"
