#!/bin/bash
# Tokens as a third party sees them: a stock web server (python3 -m
# http.server) serves the broker's runtime files under the issuer URL, and
# two independent JOSE libraries from Debian (PyJWT, jwcrypto) verify
# tokens using only the published RFC 8414 metadata, the JWKS and the Token
# Status List: valid tokens pass, across a key rollover too; another
# audience, an expired token, a grant and a revoked agent's token fail.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3 # Debian's, with python3-jwt and python3-jwcrypto
"$PY" -c 'import jwt, jwcrypto' 2>/dev/null ||
        fail "needs python3-jwt and python3-jwcrypto (scripts/install-deps)"
VERIFY="$top_srcdir/tests/integration/verify-offline.py"
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ISSUER="http://127.0.0.1:$PORT"
AUD=https://mcp.example.com/mcp
write_config <<C
issuer = $ISSUER
token_leeway = 0s
key_publish_ahead = 3s
key_rotation_interval = 0s
C
cat >"$TEST_DIR/etc/templates.d/worker.conf" <<'T'
[template]
name = worker
ttl = 10m
scopes = tickets:read
T
start_broker
RUN=$TEST_DIR/run

# The web root: the runtime directory's files at the URLs discovery names.
WEB=$TEST_DIR/www
mkdir -p "$WEB/.well-known"
ln -s "$RUN/oauth-authorization-server.json" "$WEB/.well-known/oauth-authorization-server"
ln -s "$RUN/jwks.json" "$WEB/jwks.json"
ln -s "$RUN/statuslist.jwt" "$WEB/statuslist.jwt"
"$PY" -m http.server --bind 127.0.0.1 --directory "$WEB" "$PORT" >"$TEST_DIR/http.log" 2>&1 &
HTTP_PID=$!
test_cleanup() { kill "$HTTP_PID" 2>/dev/null || true; wait "$HTTP_PID" 2>/dev/null || true; }
for _ in $(seq 1 100); do curl -sf "$ISSUER/jwks.json" >/dev/null && break; sleep 0.05; done

# verify LIB AUDIENCE [options] <<<TOKEN: both outcomes are output.
verify() {
        local lib=$1 aud=$2
        shift 2
        "$PY" "$VERIFY" --lib "$lib" --issuer "$ISSUER" --audience "$aud" "$@" || true
}
both_say() { # both_say WANT TOKEN AUDIENCE [options]: both libraries agree
        local want=$1 token=$2 aud=$3 lib
        shift 3
        for lib in pyjwt jwcrypto; do
                assert_contains "$(verify "$lib" "$aud" "$@" <<<"$token")" "$want" "$lib"
        done
}

# --- discovery: RFC 8414 metadata next to jwks.json, world-readable
meta=$(curl -sf "$ISSUER/.well-known/oauth-authorization-server")
assert_eq "$(jq -r .issuer <<<"$meta")" "$ISSUER" "metadata issuer"
assert_eq "$(jq -r .jwks_uri <<<"$meta")" "$ISSUER/jwks.json" "jwks_uri"
assert_eq "$(stat -c %a "$RUN/oauth-authorization-server.json")" 644 "metadata mode"
assert_eq "$(stat -c %a "$RUN/statuslist.jwt")" 644 "status list mode"
lst=$(curl -sf "$ISSUER/statuslist.jwt")
assert_eq "$(b64url_decode "$(cut -d. -f1 <<<"$lst")" | jq -r .typ)" statuslist+jwt "status list typ"
assert_eq "$(claims_of "$lst" | jq -c '[.sub, .status_list.bits, (.ttl > 0), (.exp > .iat)]')" \
        "[\"$ISSUER/statuslist.jwt\",1,true,true]" "status list claims"

# --- a valid token verifies with both libraries, metadata and JWKS alone
A_json=$("$AGENTCTL" --json mint --template worker --on-behalf-of alice@example.com)
A=$(jq -r .name <<<"$A_json")
A_uid=$(jq -r .uid <<<"$A_json")
token=$(as_agent "$A_uid" "$AGENTCTL" token --audience "$AUD")
assert_eq "$(claims_of "$token" | jq -r .status.status_list.uri)" "$ISSUER/statuslist.jwt" "status uri"
[[ $(claims_of "$token" | jq .status.status_list.idx) =~ ^[0-9]+$ ]] || fail "status idx"
both_say "valid $A alice@example.com" "$token" "$AUD"

# --- refusals
assert_contains "$(verify pyjwt https://other.example.com/mcp <<<"$token")" "refused: InvalidAudienceError"
assert_contains "$(verify jwcrypto https://other.example.com/mcp <<<"$token")" "refused: JWTInvalidClaimValue: Invalid 'aud'"
short=$(as_agent "$A_uid" "$AGENTCTL" token --ttl 1s --audience "$AUD")
grant=$(as_agent "$A_uid" "$AGENTCTL" grant --audience "$AUD")
both_say "refused: typ agentid-grant+jwt is not at+jwt" "$grant" "$AUD"
# A verifier that skips the typ check still refuses a grant: it has no aud.
assert_contains "$(verify pyjwt "$AUD" --no-typ-check <<<"$grant")" "refused: MissingRequiredClaimError"
assert_contains "$(verify jwcrypto "$AUD" --no-typ-check <<<"$grant")" "refused: JWTMissingClaim"
sleep 2.1
assert_contains "$(verify pyjwt "$AUD" <<<"$short")" "refused: ExpiredSignatureError"
assert_contains "$(verify jwcrypto "$AUD" <<<"$short")" "refused: JWTExpired"

# --- revocation, offline: the status list says so once the agent has ended
B_json=$("$AGENTCTL" --json mint --template worker)
B=$(jq -r .name <<<"$B_json")
tb=$(as_agent "$(jq -r .uid <<<"$B_json")" "$AGENTCTL" token --audience "$AUD")
idx_b=$(claims_of "$tb" | jq .status.status_list.idx)
both_say "valid $B $B" "$tb" "$AUD"
"$AGENTCTL" revoke "$B" >/dev/null
both_say "refused: revoked (status list index $idx_b)" "$tb" "$AUD"
# A's token is untouched by B's revocation.
both_say "valid $A alice@example.com" "$token" "$AUD"

# --- rollover: a verifier that cached the JWKS after the next key was
# published verifies tokens the next key signs, without fetching again.
before=$TEST_DIR/jwks-before-rotation.json
after=$TEST_DIR/jwks-after-publication.json
verify pyjwt "$AUD" --jwks-cache "$before" <<<"$token" >/dev/null
kid1=$(jq -r '.keys[0].kid' "$before")
"$AGENTCTL" rotate-keys >/dev/null
verify pyjwt "$AUD" --jwks-cache "$after" <<<"$token" >/dev/null
kid2=$(jq -r '.keys[0].kid' "$after")
[[ $kid2 != "$kid1" ]] || fail "no next key published"
# key_publish_ahead and a tick: the next key signs (its predecessor's
# private half is gone from the key directory then).
only_key() { [[ $(ls "$TEST_DIR/state/keys") == "$1.pem" ]]; }
eventually 15 only_key "$kid2" || fail "the next key $kid2 did not take over"
t2=$(as_agent "$A_uid" "$AGENTCTL" token --audience "$AUD")
assert_eq "$(b64url_decode "$(cut -d. -f1 <<<"$t2")" | jq -r .kid)" "$kid2" "new key signs"
both_say "valid $A alice@example.com" "$t2" "$AUD" --jwks-cache "$after"
# The old key's token still verifies (the retired key stays published).
both_say "valid $A alice@example.com" "$token" "$AUD"
# A JWKS cached before the rotation does not know the new key: the test can
# tell a verifier that was given time from one that was not.
assert_contains "$(verify pyjwt "$AUD" --jwks-cache "$before" <<<"$t2")" "refused: unknown kid $kid2"

# --- scheduled rotation: with key_rotation_interval set, the broker
# publishes the next key by itself, and it signs key_publish_ahead later.
stop_broker
sed -i 's/^key_rotation_interval = 0s$/key_rotation_interval = 5s/' "$TEST_DIR/etc/agentid.conf"
start_broker
for _ in $(seq 1 100); do
        [[ $(jq '.keys | length' "$RUN/jwks.json") -ge 3 ]] && break
        sleep 0.1
done
kid3=$(jq -r '.keys[0].kid' "$RUN/jwks.json")
[[ $kid3 != "$kid2" ]] || fail "the broker did not publish a next key on schedule"
# The JWKS file is rewritten in the same housekeeping turn as the event's
# commit: either may be seen first.
scheduled() { sqlite3 "$TEST_DIR/state/agentid.db" "SELECT count(*) FROM events WHERE event = 'rotate' AND caller_uid IS NULL AND detail LIKE 'next signing key $kid3 published%'"; }
scheduled_once() { [[ $(scheduled) == 1 ]]; }
eventually 15 scheduled_once || true
assert_eq "$(scheduled)" 1 "scheduled by the broker itself"
eventually 15 only_key "$kid3" || fail "the scheduled key $kid3 did not take over"
t3=$(as_agent "$A_uid" "$AGENTCTL" token --audience "$AUD")
assert_eq "$(b64url_decode "$(cut -d. -f1 <<<"$t3")" | jq -r .kid)" "$kid3" "scheduled key signs"
both_say "valid $A alice@example.com" "$t3" "$AUD"
echo "tokens-interop: ok"
