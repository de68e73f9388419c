#!/bin/bash
# pam_agentid in the real, setuid sudo (tests/integration/pam-ns.sh says
# how): deny refuses with the reason, allow runs, approve waits for
# "agentctl approve/deny" or times out, one approval is one use; a human's
# sudo with the broker stopped behaves exactly as without the module.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pam-ns.sh"

# Exactly the lines of examples/pam.d/sudo, with pam_unix in place of
# Debian's @include files (the host's own config is never read).
cat >"$TEST_DIR/pam.d/sudo" <<'PAM'
auth     [success=done ignore=ignore default=die] pam_agentid.so approval_timeout=6s
auth     required pam_unix.so
account  [success=done ignore=ignore default=die] pam_agentid.so
account  required pam_unix.so
session  required pam_agentid.so
session  required pam_unix.so
PAM
grep -v pam_agentid "$TEST_DIR/pam.d/sudo" >"$TEST_DIR/pam.d/sudo.plain"
cat >"$TEST_DIR/sudoers" <<'SUDOERS'
Defaults !lecture, !syslog, timestamp_timeout=0, passwd_tries=1, env_reset
root ALL=(ALL) ALL
ALL ALL=(root) /usr/bin/id
ALL ALL=(root) NOPASSWD: /usr/bin/true
SUDOERS
chmod 0440 "$TEST_DIR/sudoers"
WITH="$TEST_DIR/pam.d/sudo:/etc/pam.d/sudo $TEST_DIR/sudoers:/etc/sudoers"
PLAIN="$TEST_DIR/pam.d/sudo.plain:/etc/pam.d/sudo $TEST_DIR/sudoers:/etc/sudoers"

mkdir -p "$TEST_DIR/etc/templates.d"
for rule in deny allow approve; do
        cat >"$TEST_DIR/etc/templates.d/s$rule.conf" <<T
[template]
name = s$rule
ttl = 10m
invokers = root
approvers = root
sudo = $rule
T
done
start_broker

mint() { "$AGENTCTL" --json mint --template "$1" --ttl 10m --reason "${2:-test step-up}" | jq -r '.name + " " + (.uid|tostring)'; }
# as_agent UID CMD...: CMD run by the agent's uid (real and effective).
as_agent() {
        local uid=$1
        shift
        in_ns "$WITH" setpriv --reuid="$uid" --regid="$uid" --clear-groups -- "$@"
}
pending_id() { # wait for the pending request of agent $1
        local i id
        for i in $(seq 1 100); do
                id=$("$AGENTCTL" --json pending | jq -r --arg a "$1" '.[] | select(.agent == $a) | .id' | head -n1)
                [[ -n $id ]] && { echo "$id"; return 0; }
                sleep 0.1
        done
        return 1
}

# deny: refused, with the reason, and no command ran.
read -r name uid <<<"$(mint sdeny)"
out=$(as_agent "$uid" sudo /usr/bin/id -u 2>&1) && fail "sudo allowed under sudo = deny: $out"
assert_contains "$out" "template sdeny says sudo = deny"
# No password was involved: sudo must not count a wrong one.
[[ $out != *"incorrect password"* ]] || fail "a policy refusal reads as a wrong password: $out"
[[ $out != *$'\n0'* && $out != 0 ]] || fail "the command ran: $out"

# allow: runs as root.
read -r name uid <<<"$(mint sallow)"
out=$(as_agent "$uid" sudo /usr/bin/id -u 2>&1) || fail "sudo refused under sudo = allow: $out"
assert_eq "$(tail -n1 <<<"$out")" 0 "id -u under sudo"
assert_contains "$(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT detail FROM events WHERE event='outcome' AND agent='$name'")" \
        "sudo allowed by policy"
# sudo sets PAM_USER to the target user (root) before it opens the
# session: that session is root's, not the agent's, and none is registered.
assert_eq "$(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT count(*) FROM events WHERE event LIKE 'session-%' AND agent='$name'")" 0 "session events"

# approve: blocks until approved, then runs; the request says what and why.
read -r name uid <<<"$(mint sapprove "restart the web server")"
as_agent "$uid" sudo /usr/bin/id -u >"$TEST_DIR/out1" 2>&1 &
sudo_pid=$!
id=$(pending_id "$name") || fail "no pending request for $name: $(cat "$TEST_DIR/out1")"
req=$("$AGENTCTL" --json pending | jq -c --arg i "$id" '.[] | select(.id == $i)')
assert_eq "$(jq -r .service <<<"$req")" sudo "service"
assert_eq "$(jq -r .command <<<"$req")" "sudo /usr/bin/id -u" "command"
assert_eq "$(jq -r .reason <<<"$req")" "restart the web server" "reason"
assert_eq "$(jq -r .owner <<<"$req")" root "owner"
assert_contains "$("$AGENTCTL" pending)" "$id"
kill -0 $sudo_pid 2>/dev/null || fail "sudo did not wait: $(cat "$TEST_DIR/out1")"
# Neither a stranger nor the agent itself may decide.
as_nobody "$AGENTCTL" approve "$id" 2>/dev/null && fail "nobody approved a request"
setpriv --reuid="$uid" --regid="$uid" --clear-groups "$AGENTCTL" approve "$id" 2>/dev/null && fail "the agent approved its own request"
"$AGENTCTL" approve "$id" --reason "ok for ticket 4411" >/dev/null || fail "approve failed"
wait $sudo_pid || fail "approved sudo failed: $(cat "$TEST_DIR/out1")"
grep -qx 0 "$TEST_DIR/out1" || fail "approved command did not run as root: $(cat "$TEST_DIR/out1")"
# The agent was told its request id through the PAM conversation.
assert_contains "$(cat "$TEST_DIR/out1")" "request $id is waiting"
"$AGENTCTL" approve "$id" 2>/dev/null && fail "a used request was approved again"
# The agent's story (agentctl audit) holds the step-up: the exact command,
# the approver and the reason, in order with what it ran.
story=$("$AGENTCTL" audit "$name")
assert_contains "$story" "request $id (sudo: sudo /usr/bin/id -u; tty"
assert_contains "$story" "approved by uid 0: ok for ticket 4411"
grep -n -E "  (stepup|approve|outcome) " <<<"$story" | cut -d: -f1 | tr '\n' ' ' | grep -qE '^[0-9]+ [0-9]+ [0-9]+ $' ||
        fail "step-up request, approval, outcome not in the story: $story"

# One approval, one use: the next sudo asks again; deny it.
as_agent "$uid" sudo /usr/bin/id -u >"$TEST_DIR/out2" 2>&1 &
sudo_pid=$!
id2=$(pending_id "$name") || fail "second sudo did not ask again: $(cat "$TEST_DIR/out2")"
[[ $id2 != "$id" ]] || fail "the same request twice"
"$AGENTCTL" deny "$id2" --reason "not now" >/dev/null || fail "deny failed"
wait $sudo_pid && fail "denied sudo ran: $(cat "$TEST_DIR/out2")"
assert_contains "$(cat "$TEST_DIR/out2")" "was denied"
! grep -qx 0 "$TEST_DIR/out2" || fail "denied command ran"

# Nobody decides: refused after approval_timeout, and the request expired.
start=$(date +%s)
out=$(as_agent "$uid" sudo /usr/bin/id -u 2>&1) && fail "undecided sudo ran: $out"
(($(date +%s) - start <= 15)) || fail "sudo waited far beyond approval_timeout"
assert_contains "$out" "expired without a decision"
none_pending() { [[ -z $("$AGENTCTL" --json pending | jq -r '.[].id') ]]; }
eventually 15 none_pending || fail "an expired request is still pending"
assert_eq "$(count_events stepup)" 3 "stepup events"
assert_eq "$(count_events approve)" 1 "approve events"
assert_eq "$(count_events reject)" 1 "reject events"
[[ $(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT state FROM stepup_requests WHERE id='$id'") == used ]] || fail "approval not marked used"

# NOPASSWD: sudo skips the auth phase, the account phase steps up all the
# same. deny refuses with the reason; approve files a request and waits.
read -r dname duid <<<"$(mint sdeny)"
out=$(as_agent "$duid" sudo /usr/bin/true 2>&1) && fail "NOPASSWD sudo ran under sudo = deny: $out"
assert_contains "$out" "template sdeny says sudo = deny"
as_agent "$uid" sudo /usr/bin/true >"$TEST_DIR/out3" 2>&1 &
sudo_pid=$!
id3=$(pending_id "$name") || fail "NOPASSWD sudo under sudo = approve did not ask: $(cat "$TEST_DIR/out3")"
"$AGENTCTL" deny "$id3" --reason "no" >/dev/null || fail "deny failed"
wait $sudo_pid && fail "denied NOPASSWD sudo ran: $(cat "$TEST_DIR/out3")"
assert_contains "$(cat "$TEST_DIR/out3")" "was denied"
as_agent "$uid" sudo /usr/bin/true >"$TEST_DIR/out4" 2>&1 &
sudo_pid=$!
id4=$(pending_id "$name") || fail "second NOPASSWD sudo did not ask: $(cat "$TEST_DIR/out4")"
"$AGENTCTL" approve "$id4" >/dev/null || fail "approve failed"
wait $sudo_pid || fail "approved NOPASSWD sudo failed: $(cat "$TEST_DIR/out4")"

# Broker down: agents fail closed, with a message.
stop_broker
out=$(as_agent "$uid" sudo /usr/bin/id -u 2>&1) && fail "agent's sudo passed with the broker down: $out"
assert_contains "$out" "cannot be reached"

# A human, broker down: the same as without the module, right and wrong password.
human_sudo() { # CONFIG PASSWORD
        in_ns "$1" setpriv --reuid=$HUMAN_UID --regid=$HUMAN_UID --clear-groups -- \
                bash -c 'echo "$1" | sudo -S -p "" /usr/bin/id -u 2>&1; echo "rc=$?"' x "$2"
}
with=$(human_sudo "$WITH" "$HUMAN_PASSWORD")
plain=$(human_sudo "$PLAIN" "$HUMAN_PASSWORD")
assert_eq "$with" "$plain" "human sudo with and without pam_agentid"
assert_contains "$with" "rc=0"
with=$(human_sudo "$WITH" wrong)
plain=$(human_sudo "$PLAIN" wrong)
assert_eq "$with" "$plain" "human sudo, wrong password, with and without pam_agentid"
assert_contains "$with" "rc=1"
echo "sudo: ok"
