#!/bin/bash
# Sub-agents: a live agent mints children no broader than itself, within
# its template's depth and count limits; the chain shows in tokens ("act"),
# in agentctl show and in events; revoking a parent revokes its children.
source "$(dirname "$0")/lib.sh"
# lib.sh's uid slice for this file and checkout: see tokens.sh.
write_config </dev/null
T=$TEST_DIR/etc/templates.d
cat >"$T/parent.conf" <<'E'
[template]
name = parent
ttl = 10m
max_ttl = 1h
groups = daemon
scopes = a b
max_depth = 1
max_children = 2
E
cat >"$T/narrow.conf" <<'E'
[template]
name = narrow
ttl = 30m
max_ttl = 1h
scopes = a
E
cat >"$T/broad.conf" <<'E'
[template]
name = broad
scopes = a b c
E
cat >"$T/groupy.conf" <<'E'
[template]
name = groupy
groups = daemon bin
E
cat >"$T/sudoer.conf" <<'E'
[template]
name = sudoer
sudo = allow
E
cat >"$T/deep.conf" <<'E'
[template]
name = deep
ttl = 10m
max_depth = 2
E
start_broker
DB=$TEST_DIR/state/agentid.db

expect_error() {
        local want=$1 out
        shift
        if out=$("$@" 2>&1); then fail "succeeded, expected $want: $*"; fi
        assert_contains "$out" "$want"
}
field() { "$AGENTCTL" --json show "$1" | jq -r ".$2"; }

P_json=$("$AGENTCTL" --json mint --template parent)
P=$(jq -r .name <<<"$P_json")
P_uid=$(jq -r .uid <<<"$P_json")
P_exp=$(jq -r .expires_usec <<<"$P_json")

# A child, minted by the parent's own process (by peer credentials).
C1_json=$(as_agent "$P_uid" "$AGENTCTL" --json mint --template narrow --ttl 5m --reason "sub-task")
C1=$(jq -r .name <<<"$C1_json")
C1_uid=$(jq -r .uid <<<"$C1_json")
assert_eq "$(jq -r .parent <<<"$C1_json")" "$P" "child's parent"
assert_eq "$(jq -r .owner_uid <<<"$C1_json")" "$P_uid" "child is owned by its parent's uid"
# The parent may see its child; the chain shows.
out=$(as_agent "$P_uid" "$AGENTCTL" show "$C1")
assert_contains "$out" "delegation:    $P (agent) > root (user)"
assert_eq "$("$AGENTCTL" --json show "$C1" | jq -c '[.delegation[].sub]')" "[\"$P\",\"root\"]" "show delegation"
assert_contains "$(sqlite3 "$DB" "SELECT detail FROM events WHERE event = 'mint' AND agent = '$C1'")" \
        "sub-agent of $P"

# Without --ttl the child is cut to the parent's remaining life (narrow's
# default of 30m is longer than the parent's 10m).
C2_json=$(as_agent "$P_uid" "$AGENTCTL" --json mint --template narrow)
C2=$(jq -r .name <<<"$C2_json")
(($(jq -r .expires_usec <<<"$C2_json") <= P_exp)) || fail "child outlives its parent"

# Attenuation: anything broader than the parent is refused and recorded.
deny_before=$(count_events deny)
P2_json=$("$AGENTCTL" --json mint --template parent)
P2_uid=$(jq -r .uid <<<"$P2_json")
expect_error "broader than \"parent\"" as_agent "$P2_uid" "$AGENTCTL" mint --template broad   # more scopes
expect_error "broader than \"parent\"" as_agent "$P2_uid" "$AGENTCTL" mint --template groupy  # more groups
expect_error "broader than \"parent\"" as_agent "$P2_uid" "$AGENTCTL" mint --template sudoer  # sudo allowed
expect_error "broader than \"parent\"" as_agent "$P2_uid" "$AGENTCTL" mint --template deep    # deeper limit
expect_error "exceeds the" as_agent "$P2_uid" "$AGENTCTL" mint --template narrow --ttl 30m  # longer than P2 has left
# Count: P already has 2 live children.
expect_error "already has 2 live sub-agents" as_agent "$P_uid" "$AGENTCTL" mint --template narrow
# Depth: the parent template allows one level, so a child may not mint.
expect_error "depth 2" as_agent "$C1_uid" "$AGENTCTL" mint --template narrow
assert_eq "$(count_events deny)" $((deny_before + 7)) "refusals recorded"
assert_eq "$(count_identities "parent = '$(jq -r .name <<<"$P2_json")'")" 0 "refusals minted nothing"
# A plain user is still held to the template's invokers.
expect_error "PermissionDenied" as_nobody "$AGENTCTL" mint --template narrow

# The chain in the child's token (RFC 8693): the child, the current actor,
# outermost, then its parent, then the user who minted the parent.
tok=$(as_agent "$C1_uid" "$AGENTCTL" token)
assert_eq "$(claims_of "$tok" | jq -c .act.act)" "{\"act\":{\"agentid_uid\":0,\"sub\":\"root\"},\"agentid_uid\":$P_uid,\"sub\":\"$P\"}" "act"
assert_eq "$(claims_of "$tok" | jq -r '.act.sub == .client_id and .act.agentid_uid == '"$C1_uid")" true "child outermost"
assert_eq "$(claims_of "$tok" | jq -r .scope)" a "child's scope"
assert_contains "$("$AGENTCTL" verify "$tok")" "actors:       $C1 > $P > root"

# Cascade: revoking the parent revokes its children, in one step.
assert_contains "$("$AGENTCTL" revoke "$P")" "revoked 3 agents: $P"  # with its 2 children
assert_eq "$(field "$C1" state)" revoked "child after parent revoked"
assert_eq "$(field "$C2" state)" revoked "second child"
assert_eq "$(field "$C1" end_reason)" "parent $P ended" "cascade reason"
assert_eq "$(sqlite3 "$DB" "SELECT count(*) FROM events WHERE event = 'revoke' AND detail = 'parent $P ended'")" 2 \
        "cascade events"
expect_error "TokenRevoked" "$AGENTCTL" verify "$tok"
# The child's processes lost their identity: no more tokens.
as_revoked_agent_asks_token "$C1_uid"

# Deeper chains cascade all the way down.
D_json=$("$AGENTCTL" --json mint --template deep)
D=$(jq -r .name <<<"$D_json")
D1_json=$(as_agent "$(jq -r .uid <<<"$D_json")" "$AGENTCTL" --json mint --template deep --ttl 5m)
D1=$(jq -r .name <<<"$D1_json")
D2_json=$(as_agent "$(jq -r .uid <<<"$D1_json")" "$AGENTCTL" --json mint --template deep --ttl 4m)
D2=$(jq -r .name <<<"$D2_json")
expect_error "depth 3" as_agent "$(jq -r .uid <<<"$D2_json")" "$AGENTCTL" mint --template deep --ttl 1m
assert_eq "$("$AGENTCTL" --json show "$D2" | jq -c '[.delegation[].sub]')" "[\"$D1\",\"$D\",\"root\"]" "grandchild chain"
tok=$(as_agent "$(jq -r .uid <<<"$D2_json")" "$AGENTCTL" token)
assert_eq "$(claims_of "$tok" | jq -r '[.act.sub, .act.act.sub, .act.act.act.sub, .act.act.act.act.sub] | join(" ")')" "$D2 $D1 $D root" "nested act"
"$AGENTCTL" revoke "$D" >/dev/null
assert_eq "$(field "$D1" state) $(field "$D2" state)" "revoked revoked" "recursive cascade"
assert_eq "$(count_identities "state = 'live'")" 1 "only P2 is left"

# Expiry cascades too: the parent's end takes the child with it.
E_json=$("$AGENTCTL" --json mint --template parent --ttl 2s)
E1=$(as_agent "$(jq -r .uid <<<"$E_json")" "$AGENTCTL" --json mint --template narrow | jq -r .name)
parent_expired() { [[ $(field "$(jq -r .name <<<"$E_json")" state) == expired ]]; }
eventually 15 parent_expired || true
assert_eq "$(field "$(jq -r .name <<<"$E_json")" state)" expired "parent expired"
[[ $(field "$E1" state) != live ]] || fail "child outlived its expired parent"
echo "delegation: ok"
