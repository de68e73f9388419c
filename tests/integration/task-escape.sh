#!/bin/bash
# A task's uid running outside the task: a process root started as the
# agent's uid while the task ran (as an ssh session or a setuid program of
# the agent's would be), writing to the host's /tmp. When the task is
# ended (revoked; its TTL is the same path), the cleaner starts as the
# namespace is killed and walks /proc meanwhile: the task's own processes,
# dying with their namespace, are no sign of anything; the one outside is
# killed, and because it ran outside, the uid's files in /tmp are removed
# too. Then the same with the TTL, and nothing outside: nothing left.
source "$(dirname "$0")/lib.sh"
write_config </dev/null
cat >"$TEST_DIR/etc/templates.d/default.conf" <<'T'
[template]
name = default
ttl = 1m
T
start_broker
escapee=
test_cleanup() { [[ -n $escapee ]] && kill -KILL "$escapee" 2>/dev/null || true; rm -f /tmp/agentid-escape.*; }

running() { [[ -e /proc/$1 ]] && ! grep -q '^State:.Z' "/proc/$1/status" 2>/dev/null; }
task_agent() { "$AGENTCTL" --json list | jq -r '.[0].name // empty'; }

# 1. Revoked, with a process outside.
"$AGENTCTL" run -- sh -c 'sleep 60 & sleep 60' >"$TEST_DIR/run1.out" 2>&1 &
run1=$!
has_task() { [[ -n $(task_agent) ]]; }
eventually 10 has_task || fail "the task did not start"
name=$(task_agent)
uid=$("$AGENTCTL" --json show "$name" | jq -r .uid)
setpriv --reuid="$uid" --regid="$uid" --clear-groups -- sh -c "echo x >/tmp/agentid-escape.$uid; exec sleep 60" &
escapee=$!
eventually 5 test -e "/tmp/agentid-escape.$uid" || fail "the process outside did not write its file"
"$AGENTCTL" revoke "$name" >/dev/null
wait "$run1" || true
detail=$(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT detail FROM events WHERE event = 'kill' AND agent = '$name' ORDER BY seq DESC LIMIT 1")
running "$escapee" && fail "the process outside the task outlived its end ($detail)"
[[ ! -e /tmp/agentid-escape.$uid ]] || fail "the file of the process outside the task was left in /tmp ($detail)"
wait "$escapee" 2>/dev/null || true
escapee=
assert_contains "$detail" "home removed"
assert_contains "$detail" "some outside the task"
[[ $detail != *"some survived"* && $detail != *quarantined* ]] || fail "teardown: $detail"

# 2. TTL, nothing outside, and a child that outlives its shell: its end says
# all was removed, nothing survived or ran outside, no uid is quarantined.
"$AGENTCTL" run --ttl 2s -- sh -c 'sleep 60 & sleep 60' >"$TEST_DIR/run2.out" 2>&1 || true
grep -q "agent expired" "$TEST_DIR/run2.out" || fail "the TTL did not end the task: $(cat "$TEST_DIR/run2.out")"
detail=$(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT detail FROM events WHERE event = 'kill' ORDER BY seq DESC LIMIT 1")
assert_contains "$detail" "home removed"
# Its own processes died with its namespace while the cleaner walked /proc:
# none of them counts as one outside.
[[ $detail != *"some survived"* && $detail != *quarantined* && $detail != *outside* ]] ||
        fail "teardown after the TTL: $detail"
assert_eq "$(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT count(*) FROM meta WHERE key LIKE 'quarantine:%'")" 0 "quarantined uids"
echo "task-escape: ok"
