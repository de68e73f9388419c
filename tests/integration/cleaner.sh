#!/bin/bash
# The cleaner of an ended identity kills every process of its uid, even one
# that looks dead: a process whose main thread left (pthread_exit) while
# another runs on is a zombie in /proc with a live thread. The cleaner used
# to skip zombies, so such a process outlived its identity's revoke and
# would have run on as the uid's next owner.
source "$(dirname "$0")/lib.sh"
write_config </dev/null
cat >"$TEST_DIR/etc/templates.d/default.conf" <<'T'
[template]
name = default
ttl = 1m
T
start_broker
pid=
test_cleanup() { [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null || true; }
threads() { sed -n 's/^Threads:\t//p' "/proc/$1/status" 2>/dev/null; }

name=$("$AGENTCTL" --json mint | jq -r .name)
uid=$("$AGENTCTL" --json show "$name" | jq -r .uid)
beat=$TEST_DIR/beat # root's: what the cleaner removes of the uid's files is not the point here
as_agent "$uid" "$top_builddir/tests/helpers/zombie-leader" >"$beat" &
job=$!
for _ in $(seq 1 100); do
        pid=$(head -n1 "$beat")
        [[ $pid =~ ^[0-9]+$ ]] && grep -q '^State:.Z' "/proc/$pid/status" 2>/dev/null && [[ $(threads "$pid") == 2 ]] && break
        pid=
        sleep 0.02
done
[[ -n $pid ]] || fail "the helper is not a zombie leader with a live thread"

"$AGENTCTL" revoke "$name" >/dev/null
for _ in $(seq 1 150); do
        [[ $(threads "$pid") == 2 ]] || break
        sleep 0.02
done
[[ $(threads "$pid") != 2 ]] || fail "the zombie leader's live thread outlived the revoke by 3 s"
size=$(stat -c %s "$beat")
sleep 0.1
assert_eq "$(stat -c %s "$beat")" "$size" "bytes written after the revoke"
pid=
wait "$job" || true
echo "cleaner: ok"
