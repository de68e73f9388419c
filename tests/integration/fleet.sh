#!/bin/bash
# Fleet collection as docs/audit.md describes it: the broker's events go to
# journald, systemd-journal-upload sends them to systemd-journal-remote, and
# on the collector one agent's story (exec trail included) is found by its
# AGENTID_* fields. Everything runs in a private mount namespace (journald
# of its own), and both ends of the forwarding in a private network
# namespace inside it (the broker stays in the host's: the kernel's
# process-events connector exists only there): the host's journal, network
# and ports are not touched.
REMOTE=/lib/systemd/systemd-journal-remote
UPLOAD=/lib/systemd/systemd-journal-upload
if [[ ! -x $REMOTE || ! -x $UPLOAD ]]; then
        echo "SKIP: systemd-journal-remote is not installed"
        exit 77
fi
if [[ ${AGENTID_IN_NAMESPACE:-} != 1 ]]; then
        if ! unshare --mount --net --propagation private true 2>/dev/null; then
                echo "SKIP: cannot create mount and network namespaces"
                exit 77
        fi
        AGENTID_IN_NAMESPACE=1 exec unshare --mount --propagation private -- bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"

mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/systemd/journal /run/log/journal "$TEST_DIR/collector"
[[ -d /var/log/journal ]] && mount -t tmpfs tmpfs /var/log/journal
/lib/systemd/systemd-journald >"$TEST_DIR/journald.log" 2>&1 &
JOURNALD_PID=$!
test_cleanup() {
        kill "$JOURNALD_PID" 2>/dev/null
        wait "$JOURNALD_PID" 2>/dev/null
}
for _ in $(seq 1 100); do [[ -S /run/systemd/journal/socket ]] && break; sleep 0.05; done
[[ -S /run/systemd/journal/socket ]] || fail "journald did not start"

write_config <<<"journal = required"
sed -i '/^journal = off$/d' "$TEST_DIR/etc/agentid.conf"
start_broker
name=$("$AGENTCTL" run --reason "fleet test" -- sh -c 'echo $AGENTID_NAME; sleep 0.3')
# The teardown is recorded just after the task's exit reaches agentctl.
for _ in $(seq 1 50); do
        journalctl --no-pager AGENTID_AGENT="$name" AGENTID_EVENT=kill 2>/dev/null | grep -q "$name" && break
        sleep 0.1
done

# Upload what this host's journal holds to a collector on loopback, both in
# a network namespace of their own, then look on the collector.
export REMOTE UPLOAD TEST_DIR
unshare --net -- bash -c '
        set -e
        ip link set lo up
        "$REMOTE" --listen-http=127.0.0.1:19532 --output="$TEST_DIR/collector/" >"$TEST_DIR/remote.log" 2>&1 &
        remote=$!
        for _ in $(seq 1 100); do
                (exec 3<>/dev/tcp/127.0.0.1/19532) 2>/dev/null && break
                sleep 0.05
        done
        rc=0
        timeout 30 "$UPLOAD" --url=http://127.0.0.1:19532 --save-state="$TEST_DIR/upload.state" --follow=no \
                >"$TEST_DIR/upload.log" 2>&1 || rc=$?
        kill $remote
        wait $remote || true
        exit $rc' || fail "upload failed: $(cat "$TEST_DIR/upload.log" "$TEST_DIR/remote.log")"
collected() { journalctl --no-pager --directory="$TEST_DIR/collector" -o json "$@" 2>/dev/null; }
story=$(collected SYSLOG_IDENTIFIER=agentidd AGENTID_AGENT="$name")
for event in mint run exec revoke kill; do
        jq -s -e --arg e "$event" 'any(.[]; .AGENTID_EVENT == $e)' <<<"$story" >/dev/null ||
                fail "no $event event of $name on the collector: $(jq -r .MESSAGE <<<"$story")"
done
exec_entry=$(collected AGENTID_AGENT="$name" AGENTID_EVENT=exec | grep "argv: sleep 0.3" | head -n 1)
[[ -n $exec_entry ]] || fail "the exec of sleep is not on the collector"
assert_eq "$(jq -r .MESSAGE_ID <<<"$exec_entry")" 6b1f3b0f2a6d4c3e9d1a52c7e1f0a960 "exec MESSAGE_ID"
assert_eq "$(jq -r .AGENTID_REASON <<<"$exec_entry")" "fleet test" "reason on the collector"
[[ -n $(jq -r ._HOSTNAME <<<"$exec_entry") ]] || fail "no _HOSTNAME on the collector's entry"
echo "fleet: ok ($(jq -s length <<<"$story") events of $name collected)"
