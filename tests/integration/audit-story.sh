#!/bin/bash
# agentctl audit NAME: one agent's story in order (mint, run, every program
# it executed with argv, its token, teardown), the JSON export with chain
# hashes, filters, who may read which story; the exec trail's bound under
# an exec flood. Needs root (the process-events connector).
source "$(dirname "$0")/lib.sh"
[[ $(id -u) -eq 0 ]] || { echo "SKIP: the exec trail needs root"; exit 77; }
write_config <<'C'
exec_trail_max = 200
C
# Tasks have a private /tmp: the test's programs (agentctl, exec-loop) in
# $TEST_DIR are granted read-only.
cat >"$TEST_DIR/etc/templates.d/default.conf" <<T
[template]
name = default
ttl = 5m
invokers = nobody
scopes = read
max_depth = 1
ReadOnlyPaths = $TEST_DIR
T
start_broker
"$AGENTCTL" --json status | jq -e '.exec_trail == true' >/dev/null || fail "exec trail is off: $(cat "$TEST_DIR/broker.log")"
install -m 0755 "$top_builddir/tests/helpers/exec-loop" "$TEST_DIR/exec-loop"

# line_of STORY PATTERN: the first line number matching (0: none).
line_of() { grep -n -E -m1 -- "$2" <<<"$1" | cut -d: -f1 || echo 0; }

# A task that runs sh, id and ls, then asks for a token as the agent. The
# broker reads each exec's details from /proc when the kernel reports it; a
# process that already exited is recorded as such. Try a few times for one
# run where all three were read in time (a loaded machine can be slower
# than ls).
for attempt in 1 2 3 4 5; do
        out=$("$AGENTCTL" run --reason "audit story test" -- sh -c \
                "id; ls /; echo \"name=\$AGENTID_NAME\"; touch \$HOME/home-writable && echo home-ok; $AGENTCTL --socket $AGENTID_SOCKET token --audience urn:agentid:audit-test >/dev/null")
        name=$(sed -n 's/^name=//p' <<<"$out")
        [[ -n $name ]] || fail "task output: $out"
        assert_contains "$out" home-ok "home writable below a ReadOnlyPaths= directory"
        # The teardown's summary may land a moment after run returns.
        for _ in $(seq 1 20); do
                story=$("$AGENTCTL" audit "$name")
                [[ $story == *" kill "* ]] && break
                sleep 0.1
        done
        execs=$(grep -c "  exec  " <<<"$story" || true)
        ((execs >= 4)) || fail "attempt $attempt: $execs exec events (sh, id, ls, agentctl expected): $story"
        # Every exec is either read or said to be gone, never dropped.
        assert_eq "$(grep "  exec  " <<<"$story" | grep -c -v -E "argv: |exited before its program")" 0 "undescribed execs"
        grep -q "argv: id$" <<<"$story" && grep -q "argv: ls /$" <<<"$story" && break
        echo "attempt $attempt: a process exited before it was read; again"
done
grep -q "argv: id$" <<<"$story" && grep -q "argv: ls /$" <<<"$story" || fail "id and ls never read in 5 runs: $story"
assert_contains "$story" "argv: sh -c 'id; ls /; echo"
assert_contains "$story" "reason:        audit story test"
assert_contains "$story" "invoker:       uid 0 (root)"
assert_contains "$story" "exe /usr/bin/ls cwd /"
l_mint=$(line_of "$story" "  mint  ")
l_run=$(line_of "$story" "  run  ")
l_sh=$(line_of "$story" "argv: sh -c")
l_id=$(line_of "$story" "argv: id$")
l_ls=$(line_of "$story" "argv: ls /$")
l_token=$(line_of "$story" "  token  .*jti [^ ]+, audience urn:agentid:audit-test, expires in")
l_revoke=$(line_of "$story" "  revoke  ")
l_kill=$(line_of "$story" "  kill  ")
for l in l_mint l_run l_sh l_id l_ls l_token l_revoke l_kill; do
        [[ ${!l} -gt 0 ]] || fail "$l missing from the story: $story"
done
((l_mint < l_run && l_run < l_sh && l_sh < l_id && l_id < l_ls && l_ls < l_token && l_token < l_revoke &&
        l_revoke < l_kill)) || fail "story out of order: $story"
# Never a token, only its jti.
token_line=$(sed -n "${l_token}p" <<<"$story")
[[ $token_line != *eyJ* ]] || fail "a token in the audit trail: $token_line"
# Relative times, from the first event.
assert_contains "$(sed -n "${l_mint}p" <<<"$story")" "+0.000s"

# --json: one object per line with its place in the chain.
"$AGENTCTL" --json audit "$name" >"$TEST_DIR/story.jsonl"
jq -e -s 'length >= 8 and all(.[]; (.hash | test("^[0-9a-f]{64}$")) and (.seq > 0) and .agent != null)' \
        "$TEST_DIR/story.jsonl" >/dev/null || fail "JSON story: $(cat "$TEST_DIR/story.jsonl")"
jq -e -s '[.[].seq] == ([.[].seq] | sort)' "$TEST_DIR/story.jsonl" >/dev/null || fail "JSON story not in chain order"
jq -e -s '[.[] | select(.event == "exec")] | length >= 4' "$TEST_DIR/story.jsonl" >/dev/null || fail "no exec in JSON"
# Hashes are the chain's: each event's prev_hash is its predecessor's hash.
seq1=$(jq -s -r '.[1].seq' "$TEST_DIR/story.jsonl")
prev=$(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT hash FROM events WHERE seq = $((seq1 - 1))")
assert_eq "$(jq -s -r '.[1].prev_hash' "$TEST_DIR/story.jsonl")" "$prev" "prev_hash of seq $seq1"

# Filters.
"$AGENTCTL" --json audit "$name" --event exec | jq -e -s 'length >= 4 and all(.[]; .event == "exec")' >/dev/null ||
        fail "--event exec"
assert_contains "$("$AGENTCTL" audit "$name" --since 2099-01-01T00:00:00Z)" "(no events)"
assert_contains "$("$AGENTCTL" audit "$name" --until 1h)" "(no events)"
assert_eq "$("$AGENTCTL" --json audit "$name" --since 1h --until 2099-01-01T00:00:00Z | jq -s 'length')" \
        "$("$AGENTCTL" --json audit "$name" | jq -s 'length')" "events between 1h ago and 2099"
"$AGENTCTL" audit "$name" --event bogus 2>"$TEST_DIR/err" && fail "unknown event type accepted"
assert_contains "$(cat "$TEST_DIR/err")" InvalidParameter
"$AGENTCTL" audit "$name" --since yesterday 2>/dev/null && fail "bad --since accepted"

# Who may read: the owner and admins. nobody cannot read root's agent,
# nor ask for root's trail; nobody's own agent's story is theirs.
as_nobody "$AGENTCTL" audit "$name" 2>"$TEST_DIR/err" && fail "nobody read root's agent's story"
assert_contains "$(cat "$TEST_DIR/err")" "PermissionDenied"
as_nobody "$AGENTCTL" audit --owner root 2>"$TEST_DIR/err" && fail "nobody read root's trail"
assert_contains "$(cat "$TEST_DIR/err")" "PermissionDenied"
mine=$(as_nobody "$AGENTCTL" --json mint --reason "nobody's own" | jq -r .name)
as_nobody "$AGENTCTL" audit "$mine" | grep -q "  mint  " || fail "nobody cannot read its own agent's story"
as_nobody "$AGENTCTL" --json audit >"$TEST_DIR/nobody.jsonl"
jq -e -s --arg n "$mine" 'length >= 1 and all(.[]; .agent == $n)' "$TEST_DIR/nobody.jsonl" >/dev/null ||
        fail "nobody's trail holds others' events: $(cat "$TEST_DIR/nobody.jsonl")"

# Sub-agents appear in their parent's story.
parent_uid=$("$AGENTCTL" --json show "$mine" | jq -r .uid)
child=$(setpriv --reuid="$parent_uid" --regid="$parent_uid" --clear-groups "$AGENTCTL" --json mint | jq -r .name)
[[ $child == ag-* ]] || fail "sub-agent mint failed: $child"
assert_contains "$("$AGENTCTL" audit "$mine")" "$child"

# Hostile argv: terminal escapes and newlines arrive escaped, a long argv
# is cut at 1024 bytes and says so.
long=$(head -c 3000 /dev/zero | tr '\0' x)
name=$("$AGENTCTL" run -- sh -c 'echo $AGENTID_NAME; sleep 0.3' $'\e[31mred\nline' "$long")
for _ in $(seq 1 20); do
        detail=$(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT detail FROM events WHERE agent = '$name' AND event = 'exec' AND detail LIKE '%argv: sh -c%'")
        [[ -n $detail ]] && break
        sleep 0.1
done
assert_contains "$detail" "'\x1b[31mred\x0aline'"
[[ $detail == *... ]] || fail "a long argv was not marked as cut: ${detail: -40}"
((${#detail} < 1024 + 600)) || fail "argv not cut: ${#detail} bytes"
[[ $detail != *$'\e'* && $detail != *$'\n'* ]] || fail "raw control characters in the event"
story=$("$AGENTCTL" audit "$name")
[[ $story != *$'\e'* ]] || fail "agentctl printed a raw escape"

# An exec flood: many short processes stay within the bound (200 here) and
# leave one summary with the full count. 20000 processes: about 15-30 s on
# a loaded 2-core test host (100k would take minutes there).
N=${AGENTID_EXEC_FLOOD:-20000}
before=$(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT count(*) FROM events")
start=$(date +%s)
out=$("$AGENTCTL" run -- sh -c "echo name=\$AGENTID_NAME; $TEST_DIR/exec-loop $N")
name=$(sed -n 's/^name=//p' <<<"$out")
for _ in $(seq 1 50); do
        [[ $(count_events exec-bound) -ge 1 ]] && break
        sleep 0.1
done
echo "exec flood: $N processes in $(($(date +%s) - start)) s"
story=$("$AGENTCTL" audit "$name")
assert_eq "$(grep -c "  exec  " <<<"$story")" 200 "exec events of the flood"
summary=$(grep "  exec-bound  " <<<"$story") || fail "no summary event: $(tail -5 <<<"$story")"
assert_eq "$(wc -l <<<"$summary")" 1 "summary events"
total=$(sed -n 's/.*; \([0-9]*\) execs in all.*/\1/p' <<<"$summary")
# sh, exec-loop and its N children; the kernel may drop events under such a
# flood, and then says so in an event of its own.
if [[ $total -ne $((N + 2)) ]]; then
        [[ $(count_events exec-bound) -ge 2 ]] || fail "summary counts $total execs of $((N + 2)), no loss reported"
fi
grown=$(($(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT count(*) FROM events") - before))
((grown <= 200 + 10)) || fail "the flood added $grown events"

# The chain still verifies after all this.
"$AGENTCTL" audit verify --db "$TEST_DIR/state/agentid.db" --key "$TEST_DIR/run/audit-key.pub" \
        --checkpoint /dev/null 2>/dev/null && fail "a bogus --checkpoint file accepted"
stop_broker
out=$("$AGENTCTL" audit verify --db "$TEST_DIR/state/agentid.db" --key "$TEST_DIR/run/audit-key.pub")
assert_contains "$out" "audit chain ok"
echo "audit story and exec trail: ok"
