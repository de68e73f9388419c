#!/bin/bash
# agentctl run: a task runs as a fresh agent, and everything it had dies
# with it (identity, processes, home), whichever way it ends.
source "$(dirname "$0")/lib.sh"
write_config </dev/null
cat >"$TEST_DIR/etc/templates.d/default.conf" <<'T'
[template]
name = default
ttl = 1m
max_ttl = 10m
groups = daemon
T
start_broker

# Processes of a uid that are not zombies.
live_procs_of() {
        local uid=$1 n=0 f
        for f in /proc/[0-9]*/status; do
                awk -v u="$uid" '/^Uid:/ { if ($2 == u || $3 == u || $4 == u) found = 1 }
                        /^State:/ { if ($2 == "Z" || $2 == "X") zombie = 1 }
                        END { exit !(found && !zombie) }' "$f" 2>/dev/null && n=$((n + 1))
        done
        echo $n
}
uid_of() { "$AGENTCTL" --json show "$1" | jq -r .uid; }

# Identity, groups, environment, home, no_new_privs.
out=$("$AGENTCTL" run --env GREETING=hello -- sh -c \
        'echo "$AGENTID_NAME $(id -u) $(id -g) $(id -G) $GREETING"; echo "home=$HOME"; test -d "$HOME" -a -w "$HOME" && echo home-ok; pwd; grep NoNewPrivs /proc/self/status')
set -- $(head -n 1 <<<"$out")
name=$1 uid=$2 gid=$3
[[ $name =~ ^ag-default-[a-z0-9]{6}$ ]] || fail "AGENTID_NAME: $out"
assert_eq "$uid" "$(uid_of "$name")" "task uid"
assert_eq "$gid" "$uid" "task gid"
assert_eq "$(head -n 1 <<<"$out" | cut -d' ' -f4-)" "$uid $(getent group daemon | cut -d: -f3) hello" "groups + env"
assert_contains "$out" "home-ok"
home=$(sed -n 's/^home=//p' <<<"$out")
assert_contains "$out" "$home" "cwd"
assert_contains "$out" $'NoNewPrivs:\t1'
[[ ! -e $home ]] || fail "home $home left behind"
assert_eq "$("$AGENTCTL" --json show "$name" | jq -r .state)" revoked "identity after the task"
assert_contains "$("$AGENTCTL" show "$name")" "task ended: exit status 0"

# Environment is clean: nothing of ours leaks in; reserved names refused.
out=$(SECRET_TOKEN=leak "$AGENTCTL" run -- env)
[[ $out != *SECRET_TOKEN* ]] || fail "invoker environment leaked into the task"
set +e
"$AGENTCTL" run --env HOME=/root -- true 2>"$TEST_DIR/err"; rc=$?
set -e
assert_eq "$rc" 125 "exit for a reserved env name"
assert_contains "$(cat "$TEST_DIR/err")" "HOME is set by the broker"

# stdin/stdout pass through like a normal child in a pipeline.
assert_eq "$(printf 'one\ntwo\n' | "$AGENTCTL" run -- sort -r | tr '\n' ' ')" "two one " "pipeline"

# Exit status and signals propagate.
set +e
"$AGENTCTL" run -- sh -c 'exit 7'; assert_eq $? 7 "exit status"
"$AGENTCTL" run -- sh -c 'kill -TERM $$'; assert_eq $? 143 "killed by SIGTERM"
"$AGENTCTL" run -- /nonexistent/cmd 2>/dev/null; assert_eq $? 127 "command not found"
"$AGENTCTL" run -- "$TEST_DIR" 2>/dev/null; assert_eq $? 126 "not executable"
"$AGENTCTL" run 2>/dev/null; assert_eq $? 2 "no command"
set -e

# A signal to agentctl reaches the task.
"$AGENTCTL" run -- sh -c 'trap "echo got TERM; exit 3" TERM; echo ready; while :; do sleep 0.05; done' \
        >"$TEST_DIR/sig.out" &
runner=$!
for _ in $(seq 1 100); do grep -q ready "$TEST_DIR/sig.out" && break; sleep 0.05; done
kill -TERM "$runner"
set +e; wait "$runner"; rc=$?; set -e
assert_eq "$rc" 3 "exit after a forwarded SIGTERM"
assert_contains "$(cat "$TEST_DIR/sig.out")" "got TERM"

# A task that leaves a background process behind: nothing survives.
out=$("$AGENTCTL" run -- sh -c 'sleep 1000 >/dev/null 2>&1 & echo "$AGENTID_NAME"')
assert_eq "$(live_procs_of "$(uid_of "$out")")" 0 "processes left by a task that forked sleep"

# TTL: the task is killed, agentctl returns within about a second of expiry.
start=$(date +%s%N)
set +e
"$AGENTCTL" run --ttl 1s -- sleep 100 2>"$TEST_DIR/err"; rc=$?
set -e
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
assert_eq "$rc" 137 "exit of a task killed at its TTL"
((elapsed_ms >= 1000 && elapsed_ms < 2000)) || fail "ttl 1s task returned after ${elapsed_ms}ms"
assert_contains "$(cat "$TEST_DIR/err")" "expired (its TTL passed)"

# Revoking a running task kills it.
"$AGENTCTL" run -- sh -c 'echo "$AGENTID_NAME"; exec sleep 100' >"$TEST_DIR/rev.out" 2>"$TEST_DIR/rev.err" &
runner=$!
for _ in $(seq 1 100); do [[ -s $TEST_DIR/rev.out ]] && break; sleep 0.05; done
name=$(cat "$TEST_DIR/rev.out")
"$AGENTCTL" revoke "$name" --reason "operator says stop" >/dev/null
set +e; wait "$runner"; rc=$?; set -e
assert_eq "$rc" 137 "exit of a revoked task"
assert_contains "$(cat "$TEST_DIR/rev.err")" "revoked"
assert_eq "$(live_procs_of "$(uid_of "$name")")" 0 "processes of a revoked task"

# SIGKILL to agentctl ends the task too.
"$AGENTCTL" run -- sh -c 'echo "$AGENTID_NAME"; sleep 100 & exec sleep 100' >"$TEST_DIR/k.out" &
runner=$!
for _ in $(seq 1 100); do [[ -s $TEST_DIR/k.out ]] && break; sleep 0.05; done
name=$(cat "$TEST_DIR/k.out")
uid=$(uid_of "$name")
assert_eq "$(live_procs_of "$uid")" 2 "task processes while running"
kill -KILL "$runner"
wait "$runner" 2>/dev/null || true
for _ in $(seq 1 40); do [[ $(live_procs_of "$uid") == 0 ]] && break; sleep 0.05; done
assert_eq "$(live_procs_of "$uid")" 0 "processes after agentctl was killed"
assert_eq "$("$AGENTCTL" --json show "$name" | jq -r .state)" revoked
assert_contains "$("$AGENTCTL" show "$name")" "invoker-gone"

# The invoker cannot pick a template it is not allowed.
before=$(count_identities)
set +e
as_nobody "$AGENTCTL" run -- true 2>"$TEST_DIR/err"; rc=$?
set -e
assert_eq "$rc" 125 "exit for a denied run"
assert_contains "$(cat "$TEST_DIR/err")" "io.agentid.PermissionDenied"
assert_eq "$(count_identities)" "$before" "identities after a denied run"

# Broker crash mid-task: the task's PID namespace dies with the broker (its
# init's parent-death signal), every process of it at once; the next broker
# revokes the identity and removes the home.
"$AGENTCTL" run -- sh -c 'echo "$AGENTID_NAME $HOME"; sleep 100 & exec sleep 100' >"$TEST_DIR/c.out" 2>/dev/null &
runner=$!
for _ in $(seq 1 100); do [[ -s $TEST_DIR/c.out ]] && break; sleep 0.05; done
read -r name home <"$TEST_DIR/c.out"
uid=$(uid_of "$name")
kill -KILL "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null || true
BROKER_PID=
wait "$runner" 2>/dev/null || true
for _ in $(seq 1 40); do [[ $(live_procs_of "$uid") == 0 ]] && break; sleep 0.05; done
assert_eq "$(live_procs_of "$uid")" 0 "task processes while the broker is down (the namespace died with it)"
start_broker
assert_eq "$("$AGENTCTL" --json show "$name" | jq -r .state)" revoked
for _ in $(seq 1 40); do [[ ! -e $home ]] && break; sleep 0.05; done
[[ ! -e $home ]] || fail "home of a crashed broker's task left behind"

# Every task's start and end are in the event table.
(($(count_events run) >= 10)) || fail "run events missing"
(($(count_events kill) >= 8)) || fail "kill events missing"
echo "run: ok"
