#!/bin/bash
# A uid whose old owner's leftovers cannot be removed is quarantined: the
# broker records it and never issues the uid again. Here the range holds two
# uids, and the first agent leaves a file the cleaner cannot remove (on a
# read-only bind mount of a directory in /tmp).
source "$(dirname "$0")/lib.sh"
write_config <<C
uid_min = $UID_MIN
uid_max = $((UID_MIN + 1))
C
cat >"$TEST_DIR/etc/templates.d/default.conf" <<'T'
[template]
name = default
ttl = 1m
T
stuck=$TEST_DIR/stuck
test_cleanup() { umount "$stuck" 2>/dev/null || true; }
start_broker
uid_of() { "$AGENTCTL" --json show "$1" | jq -r .uid; }
mint() { "$AGENTCTL" --json mint | jq -r .name; }

first=$(mint)
u1=$(uid_of "$first")
assert_eq "$u1" "$UID_MIN" "first uid"
mkdir -p "$stuck"
echo left >"$stuck/left-by-agent"
chown "$u1" "$stuck/left-by-agent"
mount --bind -o ro "$stuck" "$stuck"
"$AGENTCTL" revoke "$first" >/dev/null
for _ in $(seq 1 60); do
        sqlite3 "$TEST_DIR/state/agentid.db" "SELECT count(*) FROM events WHERE detail LIKE 'uid $u1 quarantined%'" |
                grep -qx 1 && break
        sleep 0.05
done
assert_contains "$(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT detail FROM events WHERE event = 'kill'")" \
        "uid $u1 quarantined: left behind temporary files"
assert_contains "$(cat "$TEST_DIR/broker.log")" "quarantined"

# The cursor moves on to the second uid, then wraps: past the first, which
# stays out, even after its leftovers are gone.
umount "$stuck"
second=$(mint)
u2=$(uid_of "$second")
assert_eq "$u2" $((UID_MIN + 1)) "second uid"
"$AGENTCTL" revoke "$second" >/dev/null
third=$(mint)
assert_eq "$(uid_of "$third")" "$u2" "uid after the cursor wrapped (the quarantined one skipped)"
"$AGENTCTL" revoke "$third" >/dev/null
set +e
"$AGENTCTL" revoke --all >/dev/null 2>&1
set -e
echo "quarantine: ok"
