#!/bin/bash
# An ended agent's processes die at once, from the broker (uid-killer.h:
# one kill(-1, SIGKILL) by a thread whose effective uid is the agent's and
# whose real uid is nobody's), and a hostile agent cannot stop that thread
# or the broker: while it is revoked, its processes send SIGSTOP to every
# process they may signal, again and again, and fork without end. Another
# agent's processes and root's are not touched.
source "$(dirname "$0")/lib.sh"
write_config </dev/null
cat >"$TEST_DIR/etc/templates.d/default.conf" <<'T'
[template]
name = default
ttl = 10m
T
start_broker
bystander=
root_sleeper=
test_cleanup() { kill -KILL $bystander $root_sleeper 2>/dev/null || true; }

status_field() { "$AGENTCTL" --json status | jq -r ".$1"; }
assert_eq "$(status_field uid_killer)" true "the broker kills ended uids' processes at once"
! grep -q "walks of /proc only" "$TEST_DIR/broker.log" || fail "the broker fell back to walks of /proc: $(cat "$TEST_DIR/broker.log")"
"$AGENTCTL" status | grep -q "^ended uids: *processes killed at once" || fail "agentctl status does not say how ended uids' processes die"

# Processes whose real, effective or saved uid is uid.
of_uid() { ps -e -o ruid=,euid=,suid=,pid= | awk -v u="$1" '$1 == u || $2 == u || $3 == u { print $4 }'; }
none_of_uid() { [[ -z $(of_uid "$1") ]]; }
# Alive and not a zombie (a killed child of this shell stays one until waited for).
running() { [[ -e /proc/$1 ]] && ! grep -q '^State:.Z' "/proc/$1/status" 2>/dev/null; }
at_least_of_uid() { (($(of_uid "$1" | wc -l) >= $2)); }

# A bystander agent, and a process of root's: neither may die.
other=$("$AGENTCTL" --json mint | jq -r .name)
other_uid=$("$AGENTCTL" --json show "$other" | jq -r .uid)
# setpriv itself, not as_agent's subshell: $! is then the sleeping process.
setpriv --reuid="$other_uid" --regid="$other_uid" --clear-groups -- sleep 600 &
bystander=$!
sleep 600 &
root_sleeper=$!

kills_before=$(status_field uid_killer_kills)
rounds=10
for round in $(seq 1 $rounds); do
        name=$("$AGENTCTL" --json mint | jq -r .name)
        uid=$("$AGENTCTL" --json show "$name" | jq -r .uid)
        # Two processes stopping everything they may signal (each other,
        # and whatever takes their uid), one continuing it all, one forking.
        hostile=()
        for _ in 1 2; do
                as_agent "$uid" bash -c 'while :; do kill -STOP -1; done' >/dev/null 2>&1 &
                hostile+=($!)
        done
        as_agent "$uid" bash -c 'while :; do kill -CONT -1; done' >/dev/null 2>&1 &
        hostile+=($!)
        as_agent "$uid" bash -c 'while :; do /bin/true & done' >/dev/null 2>&1 &
        hostile+=($!)
        eventually 5 at_least_of_uid "$uid" 4 || fail "round $round: the hostile processes did not start"
        sleep 0.2
        "$AGENTCTL" revoke "$name" >/dev/null
        eventually 3 none_of_uid "$uid" || fail "round $round: processes of the revoked uid $uid outlived it by 3 s: $(of_uid "$uid" | tr '\n' ' ')"
        [[ $(sed -n 's/^State:\t\(.\).*/\1/p' "/proc/$BROKER_PID/status") != T ]] || fail "round $round: the broker was stopped"
        timeout 5 "$AGENTCTL" status >/dev/null || fail "round $round: the broker does not answer after the revoke"
        wait "${hostile[@]}" 2>/dev/null || true
done
kills=$(($(status_field uid_killer_kills) - kills_before))
[[ $kills -ge $rounds ]] || fail "the broker's killer ran $kills times for $rounds revocations"
running "$bystander" || fail "another agent's process died with the revoked ones"
running "$root_sleeper" || fail "a process of root's died with the revoked agents'"
kill "$root_sleeper"
assert_eq "$("$AGENTCTL" --json show "$other" | jq -r .state)" live "the other agent"
echo "uid-killer: ok ($rounds hostile agents revoked)"
