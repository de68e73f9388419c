#!/bin/bash
# Audit events reach journald with structured fields, and an event journald
# refuses fails the operation (fail closed). journald runs for real, inside a
# private mount namespace with its own /run and /var/log/journal, so the
# host's journal is neither read nor written.
if [[ ${AGENTID_IN_NAMESPACE:-} != 1 ]]; then
        if ! unshare --mount --propagation private true 2>/dev/null; then
                echo "SKIP: cannot create a mount namespace"
                exit 77
        fi
        AGENTID_IN_NAMESPACE=1 exec unshare --mount --propagation private -- bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"

mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/systemd/journal /run/log/journal
[[ -d /var/log/journal ]] && mount -t tmpfs tmpfs /var/log/journal
/lib/systemd/systemd-journald >"$TEST_DIR/journald.log" 2>&1 &
JOURNALD_PID=$!
test_cleanup() { kill "$JOURNALD_PID" 2>/dev/null; wait "$JOURNALD_PID" 2>/dev/null; }
for _ in $(seq 1 100); do [[ -S /run/systemd/journal/socket ]] && break; sleep 0.05; done
[[ -S /run/systemd/journal/socket ]] || fail "journald did not start"

write_config <<'C'
journal = required
refusal_window = 1s
C
sed -i '/^journal = off$/d' "$TEST_DIR/etc/agentid.conf"
start_broker

name=$("$AGENTCTL" --json mint --ttl 1m --reason "triage ticket 4411" | jq -r .name)
"$AGENTCTL" revoke "$name" --reason "task done" >/dev/null
as_nobody "$AGENTCTL" mint 2>/dev/null && fail "nobody minted"

journal() { journalctl --no-pager -o json "$@" 2>/dev/null; }
for _ in $(seq 1 50); do
        [[ $(journal AGENTID_AGENT="$name" | wc -l) -ge 2 ]] && break
        sleep 0.1
done
entries=$(journal AGENTID_AGENT="$name")
mint=$(jq -c 'select(.AGENTID_EVENT == "mint")' <<<"$entries")
[[ -n $mint ]] || fail "no mint entry in the journal: $entries"
assert_eq "$(jq -r .MESSAGE_ID <<<"$mint")" 6b1f3b0f2a6d4c3e9d1a52c7e1f0a901 "mint MESSAGE_ID"
assert_eq "$(jq -r .AGENTID_REASON <<<"$mint")" "triage ticket 4411"
assert_eq "$(jq -r .AGENTID_TEMPLATE <<<"$mint")" default
assert_eq "$(jq -r .AGENTID_OWNER_UID <<<"$mint")" 0
assert_eq "$(jq -r .AGENTID_UID <<<"$mint")" "$("$AGENTCTL" --json show "$name" | jq -r .uid)"
revoke=$(jq -c 'select(.AGENTID_EVENT == "revoke")' <<<"$entries")
assert_eq "$(jq -r .AGENTID_DETAIL <<<"$revoke")" "task done"
# nobody's refusal is counted per uid and method, recorded when the window
# (1s here) ends.
for _ in $(seq 1 40); do
        [[ -n $(journal AGENTID_EVENT=deny) ]] && break
        sleep 0.1
done
deny=$(journal AGENTID_EVENT=deny | tail -n 1)
assert_contains "$(jq -r .AGENTID_DETAIL <<<"$deny")" "1 refused io.agentid.Mint call from uid $(id -u nobody)"
assert_eq "$(jq -r .AGENTID_CALLER_UID <<<"$deny")" "$(id -u nobody)" "deny caller"
assert_eq "$(jq -r .PRIORITY <<<"$deny")" 4 "deny priority"

# What an agent runs reaches the journal too, under its name (the exec
# trail; sleep lives long enough to be read).
task=$("$AGENTCTL" run -- sh -c 'echo $AGENTID_NAME; sleep 0.3')
for _ in $(seq 1 50); do
        journal AGENTID_AGENT="$task" AGENTID_EVENT=exec | grep -q "argv: sleep 0.3" && break
        sleep 0.1
done
exec_entry=$(journal AGENTID_AGENT="$task" AGENTID_EVENT=exec | grep "argv: sleep 0.3" | head -n 1)
[[ -n $exec_entry ]] || fail "no exec entry for $task: $(journal AGENTID_AGENT="$task")"
assert_eq "$(jq -r .MESSAGE_ID <<<"$exec_entry")" 6b1f3b0f2a6d4c3e9d1a52c7e1f0a960 "exec MESSAGE_ID"
assert_contains "$(jq -r .MESSAGE <<<"$exec_entry")" "agent $task executed: pid "

# journald gone while required: a mint is refused and leaves nothing,
# whether its socket is left behind (dead) or removed.
kill "$JOURNALD_PID"
wait "$JOURNALD_PID" 2>/dev/null || true
before=$(count_identities)
mints=$(count_events mint)
for how in dead-socket no-socket; do
        [[ $how == no-socket ]] && rm -f /run/systemd/journal/socket
        if "$AGENTCTL" mint 2>"$TEST_DIR/err"; then fail "$how: mint succeeded with journald down"; fi
        assert_contains "$(cat "$TEST_DIR/err")" io.agentid.AuditFailed "$how: error"
        assert_eq "$(count_identities)" "$before" "$how: identities after a refused audit"
        assert_eq "$(count_events mint)" "$mints" "$how: mint events after a refused audit"
done
echo "journal: ok"
