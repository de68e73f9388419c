#!/bin/bash
# Users and groups come from a snapshot the event loop reads without
# calling NSS (broker/id-directory.h, issue 13); a change of /etc/passwd or
# /etc/group is picked up within a couple of housekeeping ticks, by a
# worker thread. Runs in a private mount namespace with a private copy of
# both files: the host's are never touched.
if [[ ${AGENTID_IN_NAMESPACE:-} != 1 ]]; then
        if ! unshare --mount --propagation private true 2>/dev/null; then
                echo "SKIP: cannot create a mount namespace"
                exit 77
        fi
        AGENTID_IN_NAMESPACE=1 exec unshare --mount --propagation private -- bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"
cp /etc/passwd "$TEST_DIR/passwd"
cp /etc/group "$TEST_DIR/group"
mount --bind "$TEST_DIR/passwd" /etc/passwd
mount --bind "$TEST_DIR/group" /etc/group
start_broker

"$AGENTCTL" revoke --owner agentid-zz-late >/dev/null 2>"$TEST_DIR/err" && fail "an unknown owner was accepted"
assert_contains "$(cat "$TEST_DIR/err")" InvalidParameter "unknown owner"
name=$("$AGENTCTL" --json mint --ttl 5m | jq -r .name)
assert_eq "$("$AGENTCTL" --json show "$name" | jq -r .owner)" root "owner name from the snapshot"

# A user and a group appear (written in place; useradd's rename to a new
# inode counts as a change too).
echo "agentid-zz-late:x:4242:4242::/nonexistent:/usr/sbin/nologin" >>/etc/passwd
echo "agentid-zz-late:x:4242:" >>/etc/group
ok=
for _ in $(seq 1 40); do
        if "$AGENTCTL" revoke --owner agentid-zz-late >/dev/null 2>&1; then ok=1; break; fi
        sleep 0.1
done
[[ -n $ok ]] || fail "a user added to /etc/passwd was not picked up within 4 s"
assert_contains "$("$AGENTCTL" revoke --owner agentid-zz-late)" "revoked 0 agents"

# root renamed in the copy: List shows the new name once the snapshot is in.
sed 's/^root:/toor-zz:/' /etc/passwd >"$TEST_DIR/renamed"
cat "$TEST_DIR/renamed" >/etc/passwd
for _ in $(seq 1 40); do
        [[ $("$AGENTCTL" --json show "$name" | jq -r .owner) == toor-zz ]] && break
        sleep 0.1
done
assert_eq "$("$AGENTCTL" --json show "$name" | jq -r .owner)" toor-zz "owner after a rename"
# A group added and a template naming it, then SIGHUP at once: the reload
# waits for a snapshot begun after the signal, so the new group resolves.
echo "agentid-zz-grp:x:4343:" >>/etc/group
cat >"$TEST_DIR/etc/templates.d/late.conf" <<'T'
[template]
name = late
groups = agentid-zz-grp
T
kill -HUP "$BROKER_PID"
ok=
for _ in $(seq 1 40); do
        if out=$("$AGENTCTL" --json mint --template late 2>/dev/null); then ok=1; break; fi
        sleep 0.1
done
[[ -n $ok ]] || fail "template naming a just-added group not usable after SIGHUP: $(cat "$TEST_DIR/broker.log")"
assert_eq "$(jq -r '.groups | join(",")' <<<"$out")" agentid-zz-grp "the late template's group"
grep -q "late.conf.*skipped" "$TEST_DIR/broker.log" && fail "the template was skipped: $(cat "$TEST_DIR/broker.log")"
# Users and groups unchanged: SIGHUP reloads at once (no wait for a tick).
cat >"$TEST_DIR/etc/templates.d/plain.conf" <<'T'
[template]
name = plain
T
kill -HUP "$BROKER_PID"
sleep 0.2
"$AGENTCTL" mint --template plain >/dev/null || fail "a new template not usable 0.2 s after SIGHUP"
echo "directory: ok"
