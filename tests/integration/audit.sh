#!/bin/bash
# The audit trail: the hash chain and its signed checkpoints verified
# offline (and every way of tampering with a copy caught at the right
# sequence number), agentctl audit NAME, who may read which story, and
# retention at a signed cut.
source "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 missing"; exit 77; }
write_config <<'C'
audit_checkpoint_interval = 1s
C
cat >"$TEST_DIR/etc/templates.d/default.conf" <<'T'
[template]
name = default
ttl = 5m
T
start_broker
DB=$TEST_DIR/state/agentid.db
KEY=$TEST_DIR/run/audit-key.pub

# The audit key: private 0600 in the state dir, public published.
assert_eq "$(stat -c %a "$TEST_DIR/state/audit-key.pem")" 600 "audit key mode"
grep -q "BEGIN PUBLIC KEY" "$KEY" || fail "no published audit public key"
[[ $(stat -c %a "$KEY") == 644 ]] || fail "audit public key not world-readable"

# Some history: mints, a task, a revoke, a denial.
"$AGENTCTL" --json mint --reason "triage ticket 42" --on-behalf-of alice@example.com >"$TEST_DIR/m1"
a1=$(jq -r .name "$TEST_DIR/m1")
"$AGENTCTL" mint >/dev/null
"$AGENTCTL" run -- true
as_nobody "$AGENTCTL" revoke "$a1" 2>/dev/null && fail "nobody revoked root's agent"
"$AGENTCTL" revoke "$a1" >/dev/null

# Each event carries its chain hash; the live database verifies with the
# published key and the published checkpoint.
for _ in $(seq 1 40); do [[ -f $TEST_DIR/run/audit-checkpoint.json ]] && break; sleep 0.1; done
[[ -f $TEST_DIR/run/audit-checkpoint.json ]] || fail "no published checkpoint after the interval"
jq -e '.seq > 0 and (.signature | length) == 86' "$TEST_DIR/run/audit-checkpoint.json" >/dev/null ||
        fail "published checkpoint: $(cat "$TEST_DIR/run/audit-checkpoint.json")"
out=$("$AGENTCTL" audit verify --db "$DB" --key "$KEY" --checkpoint "$TEST_DIR/run/audit-checkpoint.json")
assert_contains "$out" "audit chain ok"
sqlite3 "$DB" "SELECT count(*) FROM events WHERE hash IS NULL OR length(hash) != 64" | grep -qx 0 ||
        fail "events without a hash"

# The broker refuses to let even its own SQL rewrite history.
sqlite3 "$DB" "UPDATE events SET detail = 'x' WHERE seq = 2" 2>/dev/null && fail "UPDATE of an event allowed"
sqlite3 "$DB" "DELETE FROM events WHERE seq = 2" 2>/dev/null && fail "DELETE of an event allowed"

# Stop: the shutdown checkpoint signs the tip, stop event included.
stop_broker
last=$(sqlite3 "$DB" "SELECT max(seq) FROM events")
assert_eq "$(sqlite3 "$DB" "SELECT kind FROM audit_checkpoints ORDER BY id DESC LIMIT 1")" shutdown "last checkpoint"
assert_eq "$(sqlite3 "$DB" "SELECT seq FROM audit_checkpoints ORDER BY id DESC LIMIT 1")" "$last" "shutdown checkpoint seq"
[[ $last -ge 10 ]] || fail "too little history ($last events) for the tamper tests"

# verify_copy NAME SQL: tamper with a fresh copy as an attacker with the
# file would (dropping the append-only triggers first); prints the result.
verify_copy() {
        local copy=$TEST_DIR/copy-$1.db
        cp "$DB" "$copy"
        sqlite3 "$copy" "DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete; $2"
        set +e
        "$AGENTCTL" audit verify --db "$copy" --key "$KEY" 2>&1
        echo "rc=$?"
        set -e
}
cols="time_usec, event, agent, uid, owner_uid, template, reason, caller_uid, caller_pid, detail, prev_hash, hash"

out=$(verify_copy untouched "SELECT 1;")
assert_contains "$out" "audit chain ok: $last events"
assert_contains "$out" "rc=0"
# The copy is read, never written: no -wal or -shm beside it.
[[ ! -e $TEST_DIR/copy-untouched.db-wal && ! -e $TEST_DIR/copy-untouched.db-shm ]] || fail "verify wrote beside the copy"

out=$(verify_copy edit "UPDATE events SET detail = 'nothing happened' WHERE seq = 5")
assert_contains "$out" "BROKEN at seq 5:"
assert_contains "$out" "rc=1"

out=$(verify_copy delete "DELETE FROM events WHERE seq = 6")
assert_contains "$out" "BROKEN at seq 6: seq 6 is missing"

out=$(verify_copy swap "CREATE TEMP TABLE t AS SELECT * FROM events WHERE seq IN (4, 7);
        UPDATE events SET ($cols) = (SELECT $cols FROM t WHERE t.seq = 7) WHERE seq = 4;
        UPDATE events SET ($cols) = (SELECT $cols FROM t WHERE t.seq = 4) WHERE seq = 7;")
assert_contains "$out" "BROKEN at seq 4:"

cut=$((last - 2))
out=$(verify_copy truncate "DELETE FROM events WHERE seq > $cut")
assert_contains "$out" "BROKEN at seq $((cut + 1)): seq $((cut + 1)) is missing"

# Rehashing a forged row cannot help without the audit key: the stored
# hash is made to match, the signed checkpoint does not.
out=$(verify_copy rehash "UPDATE events SET detail = 'forged', hash = (SELECT hash FROM events WHERE seq = $last)
        WHERE seq = $last")
assert_contains "$out" "BROKEN at seq $last:"

# Checkpoints removed altogether: the chain alone proves nothing.
cp "$DB" "$TEST_DIR/copy-nocp.db"
sqlite3 "$TEST_DIR/copy-nocp.db" "DROP TRIGGER audit_checkpoints_no_delete; DELETE FROM audit_checkpoints"
set +e; out=$("$AGENTCTL" audit verify --db "$TEST_DIR/copy-nocp.db" --key "$KEY" 2>&1); set -e
assert_contains "$out" "no signed checkpoint covers the chain"

# Another key does not verify these checkpoints.
openssl genpkey -algorithm ed25519 2>/dev/null | openssl pkey -pubout >"$TEST_DIR/other.pub"
set +e; out=$("$AGENTCTL" audit verify --db "$DB" --key "$TEST_DIR/other.pub" 2>&1); rc=$?; set -e
assert_eq "$rc" 1 "verify with another key"
assert_contains "$out" "does not verify with this key"

# Retention: archive and prune at a signed cut; the chain still verifies,
# starting from the cut. Admins only.
start_broker
"$AGENTCTL" mint >/dev/null
sleep 1.2
"$AGENTCTL" mint --reason "after the cutoff" >/dev/null
as_nobody "$AGENTCTL" audit prune --older-than 1s 2>"$TEST_DIR/err" && fail "nobody pruned the audit trail"
assert_contains "$(cat "$TEST_DIR/err")" PermissionDenied
total=$(sqlite3 "$DB" "SELECT count(*) FROM events")
out=$("$AGENTCTL" audit prune --older-than 1s --archive "$TEST_DIR/archive.jsonl")
assert_contains "$out" "pruned "
cut=$(sqlite3 "$DB" "SELECT seq FROM audit_checkpoints WHERE kind = 'cut'")
[[ -n $cut ]] || fail "no cut checkpoint"
assert_eq "$(sqlite3 "$DB" "SELECT min(seq) FROM events")" $((cut + 1)) "first event after the cut"
# Nothing younger than the cutoff went.
sqlite3 "$DB" "SELECT count(*) FROM events WHERE reason = 'after the cutoff'" | grep -qx 1 || fail "a recent event was pruned"
# The archive holds every pruned event with its hash, then the signed cut.
assert_eq "$(grep -c '"hash"' "$TEST_DIR/archive.jsonl")" "$((cut + 1))" "archive lines (events + checkpoint)"
assert_eq "$(tail -n 1 "$TEST_DIR/archive.jsonl" | jq -r .checkpoint.seq)" "$cut" "checkpoint in the archive"
assert_eq "$(tail -n 1 "$TEST_DIR/archive.jsonl" | jq -r .checkpoint.hash)" \
        "$(jq -r 'select(.seq == '"$cut"') | .hash' "$TEST_DIR/archive.jsonl")" "the cut signs the last archived hash"
assert_eq "$(stat -c %a "$TEST_DIR/archive.jsonl")" 600 "archive mode"
"$AGENTCTL" audit prune --older-than 1s --archive "$TEST_DIR/archive.jsonl" 2>/dev/null &&
        fail "prune overwrote an existing archive"
# A prune event records who did it.
sqlite3 "$DB" "SELECT detail FROM events WHERE event = 'prune'" | grep -q "removed through seq $cut" || fail "no prune event"
# The broker still refuses to delete above the cut.
sqlite3 "$DB" "DELETE FROM events WHERE seq = $((cut + 1))" 2>/dev/null && fail "DELETE above the cut allowed"
stop_broker
out=$("$AGENTCTL" audit verify --db "$DB" --key "$KEY")
assert_contains "$out" "starting from the signed retention cut at seq $cut"
# Tampering after the cut is still caught at the right place.
out=$(verify_copy after-cut "DELETE FROM events WHERE seq = $((cut + 1))")
assert_contains "$out" "BROKEN at seq $((cut + 1)): seq $((cut + 1)) is missing"
# And a broker restarted on the pruned database chains on.
start_broker
"$AGENTCTL" mint >/dev/null
stop_broker
assert_contains "$("$AGENTCTL" audit verify --db "$DB" --key "$KEY")" "audit chain ok"

# A database from before the chain (schema 3) is chained at the upgrade,
# its old events first.
mv "$TEST_DIR/state" "$TEST_DIR/state.new"
mkdir -m 0711 "$TEST_DIR/state"
cp "$TEST_DIR/state.new/audit-key.pem" "$TEST_DIR/state/"
sqlite3 "$DB" <"$top_srcdir/tests/integration/data/schema3.sql"
old=$(sqlite3 "$DB" "SELECT count(*) FROM events")
start_broker
stop_broker
grep -q "chained the $old events recorded before the hash chain existed" "$TEST_DIR/broker.log" ||
        fail "no upgrade of the old events: $(cat "$TEST_DIR/broker.log")"
# Upgraded all the way: to the version this build's store.c ends at.
assert_eq "$(sqlite3 "$DB" "PRAGMA user_version")" \
        "$(sed -n 's/^#define STORE_SCHEMA_VERSION //p' "$top_srcdir/broker/store.h")" "schema after the upgrade"
out=$("$AGENTCTL" audit verify --db "$DB" --key "$KEY")
assert_contains "$out" "audit chain ok: $(sqlite3 "$DB" "SELECT count(*) FROM events") events (seq 1-"
assert_eq "$(sqlite3 "$DB" "SELECT count(*) FROM events WHERE event = 'mint' AND reason = 'before the chain' AND seq <= $old")" 2 "old mints"

echo "audit chain: ok"
