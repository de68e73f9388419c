#!/bin/bash
# TTL expiry is enforced by the broker's timer, not by polling callers.
source "$(dirname "$0")/lib.sh"
start_broker

json=$("$AGENTCTL" --json mint --ttl 2s)
name=$(jq -r '.name' <<<"$json")
expires_usec=$(jq -r '.expires_usec' <<<"$json")
"$AGENTCTL" list | grep -q "$name" || fail "fresh agent not listed"

# Poll until it leaves the list; it must do so within 1s of its expiry.
while "$AGENTCTL" list | grep -q "$name"; do
        now=$(($(date +%s%N) / 1000))
        ((now < expires_usec + 1000000)) || fail "agent still listed 1s after expiry"
        sleep 0.05
done
# And the store agrees, with an expire event, without any further call.
sleep 0.2
state=$(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT state FROM identities WHERE name = '$name'")
assert_eq "$state" expired "stored state"
assert_eq "$(count_events expire)" 1
ended=$(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT ended_usec - expires_usec FROM identities WHERE name = '$name'")
((ended >= 0 && ended < 1000000)) || fail "expired ${ended}us after its deadline"

# Many deadlines fire in order; a revoked one is not expired later.
for ttl in 3s 1s 2s; do "$AGENTCTL" mint --ttl $ttl >/dev/null; done
victim=$("$AGENTCTL" --json mint --ttl 2s | jq -r .name)
"$AGENTCTL" revoke "$victim" >/dev/null
none_live() { [[ $("$AGENTCTL" list) == *"(no live agents)"* ]]; }
eventually 15 none_live || true
assert_contains "$("$AGENTCTL" list)" "(no live agents)"
assert_eq "$(count_events expire)" 4
assert_eq "$(sqlite3 "$TEST_DIR/state/agentid.db" "SELECT state FROM identities WHERE name = '$victim'")" revoked
echo "expiry: ok"
