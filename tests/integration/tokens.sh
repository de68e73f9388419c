#!/bin/bash
# Signed tokens, one-time grants and signing keys against the real broker:
# self-service by peer credentials (run as the agent's uid), verification
# and every refusal, an independent verifier (the openssl command line),
# revocation, key rotation and restart.
source "$(dirname "$0")/lib.sh"
# The uid range is lib.sh's slice for this file in this checkout: brokers
# of tests running at the same time (other checkouts too) sweep processes
# in their range that are not their agents.
write_config <<'C'
issuer = agentid:test-host
token_leeway = 0s
refusal_window = 1s
key_publish_ahead = 3s
C
cat >"$TEST_DIR/etc/templates.d/worker.conf" <<'T'
[template]
name = worker
ttl = 10m
max_ttl = 1h
scopes = tickets:read tickets:write
T
start_broker
DB=$TEST_DIR/state/agentid.db
JWKS=$TEST_DIR/run/jwks.json

# expect_error WANTED_ERROR CMD...: the command fails and says why.
expect_error() {
        local want=$1 out
        shift
        if out=$("$@" 2>&1); then fail "succeeded, expected $want: $*"; fi
        assert_contains "$out" "$want"
        LAST_ERROR=$out
}
deny_count() { sqlite3 "$DB" "SELECT count(*) FROM events WHERE event = 'deny' AND detail LIKE '%$1%'"; }

# --- signing key: created on first start, private 0600 root-only, JWKS world-readable
keys=("$TEST_DIR"/state/keys/*.pem)
assert_eq "${#keys[@]}" 1 "private key files"
assert_eq "$(stat -c '%a %U' "${keys[0]}")" "600 root" "private key mode"
assert_eq "$(stat -c '%a %U' "$TEST_DIR/state/keys")" "700 root" "keys directory mode"
assert_eq "$(stat -c '%a' "$JWKS")" 644 "JWKS file mode"
kid1=$(jq -r '.keys[0].kid' "$JWKS")
assert_eq "$(basename "${keys[0]}" .pem)" "$kid1" "kid names the key file"
assert_eq "$(jq -c '.keys[0] | [.kty, .crv, .use, .alg]' "$JWKS")" '["OKP","Ed25519","sig","EdDSA"]' "JWK members"
assert_eq "$(jq '.keys | length' "$JWKS")" 1 "published keys"
# The method gives the same document, to anyone.
assert_eq "$(as_nobody "$AGENTCTL" jwks | jq -S -c .)" "$(jq -S -c . "$JWKS")" "agentctl jwks vs file"
assert_eq "$(count_events rotate)" 1 "key creation event"
# No private key material in the database.
[[ -z $(sqlite3 "$DB" "SELECT 1 FROM signing_keys WHERE x LIKE '%PRIVATE%'") ]] || fail "private key in the store"

# --- self-service: the agent's own process gets a token, by peer credentials alone
out=$("$AGENTCTL" --json mint --template worker --reason "triage ticket 4411" --on-behalf-of alice@example.com)
A=$(jq -r .name <<<"$out")
A_uid=$(jq -r .uid <<<"$out")
A_exp=$(($(jq -r .expires_usec <<<"$out") / 1000000))
token=$(as_agent "$A_uid" env -i AGENTID_SOCKET="$AGENTID_SOCKET" "$AGENTCTL" token --audience mcp://tickets)
[[ $token =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] || fail "not a compact JWS: $token"
h=$(header_of "$token")
c=$(claims_of "$token")
# RFC 9068: typ at+jwt; client_id the agent; sub the principal it acts
# for; act the actors (RFC 8693), the presenting agent outermost.
assert_eq "$(jq -c '[.alg, .typ, .kid]' <<<"$h")" "[\"EdDSA\",\"at+jwt\",\"$kid1\"]" "header"
assert_eq "$(jq -r .iss <<<"$c")" agentid:test-host "iss"
assert_eq "$(jq -r .sub <<<"$c")" alice@example.com "sub: the principal acted for"
assert_eq "$(jq -r .client_id <<<"$c")" "$A" "client_id: the agent"
assert_eq "$(jq -r .aud <<<"$c")" mcp://tickets "aud"
assert_eq "$(jq -r .agentid_uid <<<"$c")" "$A_uid" "uid claim"
assert_eq "$(jq -r .agentid_template <<<"$c")" worker "template claim"
assert_eq "$(jq -r .scope <<<"$c")" "tickets:read tickets:write" "scope claim"
assert_eq "$(jq -r .agentid_owner <<<"$c")" root "owner claim"
# Only registered names and agentid_* ones.
assert_eq "$(jq -c '[keys[] | select(startswith("agentid_") | not)]' <<<"$c")" \
        '["act","aud","client_id","exp","iat","iss","jti","nbf","scope","sub"]' "claim names"
assert_eq "$(jq -c .act <<<"$c")" "{\"act\":{\"agentid_uid\":0,\"sub\":\"root\"},\"agentid_uid\":$A_uid,\"sub\":\"$A\"}" "act chain"
assert_eq "$(jq '.exp - .iat' <<<"$c")" 300 "default lifetime"
assert_eq "$(jq '.nbf == .iat' <<<"$c")" true "nbf"
[[ $(jq -r .jti <<<"$c") =~ ^[A-Za-z0-9_-]{22}$ ]] || fail "jti"
assert_eq "$(count_events token)" 1 "token event"

# A narrower scope on request; a scope the template lacks is refused.
t2=$(as_agent "$A_uid" "$AGENTCTL" token --audience mcp://tickets --scope tickets:read)
assert_eq "$(claims_of "$t2" | jq -r .scope)" tickets:read "requested scope"
expect_error "PermissionDenied" as_agent "$A_uid" "$AGENTCTL" token --scope tickets:delete
# Never past the agent's own end, and never longer than the maximum.
t3=$(as_agent "$A_uid" "$AGENTCTL" token --ttl 1h)
(($(claims_of "$t3" | jq .exp) <= A_exp)) || fail "token outlives its agent"
expect_error "InvalidParameter" as_agent "$A_uid" "$AGENTCTL" token --ttl 2h
# Audience: an RFC 8707 resource indicator, an absolute URI without fragment.
for bad in "not a uri at all" "tickets" "/relative/path" "https://mcp.example.com/#frag" "1http://x" \
        "https:" "mcp://t%zz" $'mcp://tickets\n'; do
        expect_error "audience must be an absolute URI without a fragment (RFC 8707)" \
                as_agent "$A_uid" "$AGENTCTL" token --audience "$bad"
        assert_contains "$LAST_ERROR" "io.agentid.InvalidParameter"
done
t4=$(as_agent "$A_uid" "$AGENTCTL" token --audience "https://mcp.example.com/api?tenant=1")
assert_eq "$(claims_of "$t4" | jq -r .aud)" "https://mcp.example.com/api?tenant=1" "URI audience with query"
expect_error "InvalidParameter" "$AGENTCTL" verify "$t4" --audience "not a uri"

# Nobody else gets a token for the agent: not root, not another user, not
# another agent, and there is no parameter to name one.
expect_error "is no live agent; only an agent's own processes get its credentials (io.agentid.PermissionDenied)" "$AGENTCTL" token
expect_error "is no live agent; only an agent's own processes get its credentials (io.agentid.PermissionDenied)" as_nobody "$AGENTCTL" token
B=$("$AGENTCTL" --json mint --template worker)
B_uid=$(jq -r .uid <<<"$B")
# Without on_behalf_of, sub is the agent itself.
assert_eq "$(claims_of "$(as_agent "$B_uid" "$AGENTCTL" token)" | jq -r '.sub + " " + .client_id')" \
        "$(jq -r '.name + " " + .name' <<<"$B")" "B's token is B's"
out=$(printf '{"method":"io.agentid.IssueToken","parameters":{"agent":"%s"}}\0' "$A" |
        as_agent "$B_uid" "$RAW_CLIENT" "$AGENTID_SOCKET")
assert_contains "$out" "io.agentid.InvalidParameter"
# nobody's refusal is counted with its uid's others and recorded when its
# window (1s here) ends (docs/protocol.md, "Bounded audit growth").
for _ in $(seq 1 40); do (($(deny_count "no live agent") >= 2)) && break; sleep 0.1; done
(($(deny_count "no live agent") >= 2)) || fail "refused token requests not recorded"

# --- verification
out=$(as_nobody "$AGENTCTL" verify "$token" --audience mcp://tickets)
assert_contains "$out" "valid:        yes"
assert_contains "$out" "agent:        $A (uid $A_uid)"
assert_contains "$out" "acts for:     alice@example.com"
assert_contains "$out" "actors:       $A > root"
# From stdin, so the token never shows in ps.
assert_contains "$(printf '%s\n' "$token" | "$AGENTCTL" verify - --audience mcp://tickets)" "valid:        yes"
assert_eq "$("$AGENTCTL" --json verify "$token" --audience mcp://tickets | jq -r .claims.client_id)" "$A" "verify --json"
# The default audience is the broker itself (issuer).
tl=$(as_agent "$A_uid" "$AGENTCTL" token)
assert_eq "$(claims_of "$tl" | jq -r .aud)" agentid:test-host "default audience"
assert_contains "$("$AGENTCTL" verify "$tl")" "valid:        yes"

# Bad input: each refused with a clear error, recorded, nothing changed.
before=$(count_events deny)
tokens_before=$(sqlite3 "$DB" "SELECT count(*) FROM tokens")
expect_error "wrong audience" "$AGENTCTL" verify "$token"
assert_contains "$LAST_ERROR" "io.agentid.AudienceMismatch"
expect_error "AudienceMismatch" "$AGENTCTL" verify "$token" --audience mcp://other
# Forged: our signature over other claims (uid 0).
forged_claims=$(claims_of "$token" | jq -c '.agentid_uid = 0' | basenc --base64url -w0 | tr -d =)
expect_error "bad signature" "$AGENTCTL" verify "$(segment "$token" 1).$forged_claims.$(segment "$token" 3)" --audience mcp://tickets
# alg none, unsigned; alg HS256.
none_h=$(printf '{"alg":"none","kid":"%s","typ":"at+jwt"}' "$kid1" | basenc --base64url -w0 | tr -d =)
expect_error "unsupported alg" "$AGENTCTL" verify "$none_h.$(segment "$token" 2).$(segment "$token" 3)" --audience mcp://tickets
hs_h=$(printf '{"alg":"HS256","kid":"%s","typ":"at+jwt"}' "$kid1" | basenc --base64url -w0 | tr -d =)
expect_error "unsupported alg" "$AGENTCTL" verify "$hs_h.$(segment "$token" 2).$(segment "$token" 3)" --audience mcp://tickets
# Unknown kid.
kid_h=$(printf '{"alg":"EdDSA","kid":"nope","typ":"at+jwt"}' | basenc --base64url -w0 | tr -d =)
expect_error "unknown signing key" "$AGENTCTL" verify "$kid_h.$(segment "$token" 2).$(segment "$token" 3)" --audience mcp://tickets
# Truncated, bad base64url, oversized, trailing garbage.
expect_error "InvalidToken" "$AGENTCTL" verify "${token:0:${#token}-10}" --audience mcp://tickets
expect_error "malformed" "$AGENTCTL" verify "$(segment "$token" 1)=.$(segment "$token" 2).$(segment "$token" 3)" --audience mcp://tickets
expect_error "too large" "$AGENTCTL" verify "$(head -c 9000 /dev/zero | tr '\0' A)" --audience mcp://tickets
expect_error "malformed" "$AGENTCTL" verify "$token.x" --audience mcp://tickets
assert_eq "$(count_events deny)" $((before + 10)) "every refused verification is recorded"
assert_eq "$(sqlite3 "$DB" "SELECT count(*) FROM tokens")" "$tokens_before" "refusals change nothing"
# Tokens are never stored: only jti, hash, audience, expiry.
[[ -z $(sqlite3 "$DB" "SELECT 1 FROM tokens WHERE hash = '$(segment "$token" 3)' OR audience LIKE 'eyJ%'") ]] ||
        fail "token text in the store"
assert_eq "$(sqlite3 "$DB" "SELECT count(*) FROM tokens WHERE jti = '$(claims_of "$token" | jq -r .jti)' AND audience = 'mcp://tickets'")" 1 "token row"
if grep -a -q "$(segment "$token" 3)" "$DB" "$DB-wal" 2>/dev/null; then fail "token signature found in the database files"; fi

# --- interoperability: the openssl command line verifies with the JWKS alone
x=$(jq -r --arg kid "$(header_of "$token" | jq -r .kid)" '.keys[] | select(.kid == $kid) | .x' "$JWKS")
# SubjectPublicKeyInfo for Ed25519 (RFC 8410): fixed 12-byte prefix + the 32-byte key.
{ printf '302a300506032b6570032100' | xxd -r -p; b64url_decode "$x"; } >"$TEST_DIR/pub.der"
openssl pkey -pubin -inform DER -in "$TEST_DIR/pub.der" -out "$TEST_DIR/pub.pem"
printf '%s' "$(segment "$token" 1).$(segment "$token" 2)" >"$TEST_DIR/signing_input"
b64url_decode "$(segment "$token" 3)" >"$TEST_DIR/sig"
assert_eq "$(stat -c %s "$TEST_DIR/sig")" 64 "signature length"
out=$(openssl pkeyutl -verify -pubin -inkey "$TEST_DIR/pub.pem" -rawin -in "$TEST_DIR/signing_input" \
        -sigfile "$TEST_DIR/sig")
assert_contains "$out" "Signature Verified Successfully"
# ... and that same verifier rejects a changed payload.
printf '%s' "$(segment "$token" 1).$forged_claims" >"$TEST_DIR/forged_input"
if openssl pkeyutl -verify -pubin -inkey "$TEST_DIR/pub.pem" -rawin -in "$TEST_DIR/forged_input" \
        -sigfile "$TEST_DIR/sig" >/dev/null 2>&1; then
        fail "openssl accepted a forged payload"
fi

# --- expiry (leeway 0 in this config)
short=$(as_agent "$A_uid" "$AGENTCTL" token --ttl 1s --audience mcp://tickets)
sleep 2.1
expect_error "io.agentid.TokenExpired" "$AGENTCTL" verify "$short" --audience mcp://tickets

# --- one-time grants: die on first use; a replay is refused and recorded
grant=$(as_agent "$A_uid" "$AGENTCTL" grant --audience pam:sudo)
assert_eq "$(header_of "$grant" | jq -r .typ)" agentid-grant+jwt "grant typ"
# No claim a token verifier needs: a grant is no access token even to one
# that ignores typ.
assert_eq "$(claims_of "$grant" | jq -c '[has("sub"), has("client_id"), has("aud"), .agentid_grant_audience, .agentid_grant_agent]')" \
        "[false,false,false,\"pam:sudo\",\"$A\"]" "grant claims"
expect_error "wrong token type" "$AGENTCTL" verify "$grant" --audience pam:sudo
expect_error "wrong token type" "$AGENTCTL" redeem "$token" --audience mcp://tickets
expect_error "AudienceMismatch" "$AGENTCTL" redeem "$grant" --audience pam:sshd
assert_contains "$(as_nobody "$AGENTCTL" redeem "$grant" --audience pam:sudo)" "redeemed:     yes"
expect_error "io.agentid.GrantUsed" "$AGENTCTL" redeem "$grant" --audience pam:sudo
assert_contains "$LAST_ERROR" "replay"
expect_error "io.agentid.GrantUsed" as_nobody "$AGENTCTL" redeem "$grant" --audience pam:sudo
assert_eq "$(count_events redeem)" 1 "exactly one redemption"
# root's replay is one event; nobody's is counted and recorded as its
# window ends.
for _ in $(seq 1 40); do (($(deny_count replay) >= 2)) && break; sleep 0.1; done
assert_eq "$(deny_count replay)" 2 "replays recorded"
expect_error "PermissionDenied" "$AGENTCTL" grant

# --- revocation: the agent's tokens fail at once, and its uid gets no more
"$AGENTCTL" revoke "$A" >/dev/null
expect_error "io.agentid.TokenRevoked" "$AGENTCTL" verify "$token" --audience mcp://tickets
assert_contains "$LAST_ERROR" "$A is no longer live"
as_revoked_agent_asks_token "$A_uid"
grant2=$(as_agent "$B_uid" "$AGENTCTL" grant)
"$AGENTCTL" revoke "$(jq -r .name <<<"$B")" >/dev/null
expect_error "TokenRevoked" "$AGENTCTL" redeem "$grant2"

# --- key rollover: admins only. rotate-keys publishes the next key ahead
# (key_publish_ahead, 3s here) while the current one keeps signing; then
# the next key signs, and old tokens keep verifying while the old public
# key stays published.
C=$("$AGENTCTL" --json mint --template worker)
C_name=$(jq -r .name <<<"$C")
C_uid=$(jq -r .uid <<<"$C")
old_token=$(as_agent "$C_uid" "$AGENTCTL" token --ttl 10m --audience mcp://tickets)
expect_error "PermissionDenied" as_nobody "$AGENTCTL" rotate-keys
expect_error "PermissionDenied" as_agent "$C_uid" "$AGENTCTL" rotate-keys
assert_contains "$(printf '{"method":"io.agentid.RotateKeys","parameters":{"now":"yes"}}\0' |
        "$RAW_CLIENT" "$AGENTID_SOCKET")" "io.agentid.InvalidParameter"
out=$("$AGENTCTL" rotate-keys)
assert_contains "$out" "published; it signs from"
assert_contains "$out" "when it replaces $kid1"
kid2=$(jq -r '.keys[0].kid' "$JWKS")
[[ $kid2 != "$kid1" ]] || fail "rotation kept the kid"
assert_contains "$out" "next signing key $kid2"
assert_eq "$(jq -c '[.keys[].kid]' "$JWKS")" "[\"$kid2\",\"$kid1\"]" "next key published ahead"
assert_eq "$(ls "$TEST_DIR/state/keys" | sort | tr '\n' ' ')" "$(printf '%s\n' "$kid1.pem" "$kid2.pem" | sort | tr '\n' ' ')" "current and next private keys"
assert_eq "$(stat -c '%a' "$TEST_DIR/state/keys/$kid2.pem")" 600 "next private key mode"
# The current key still signs; asking again changes nothing.
assert_eq "$(header_of "$(as_agent "$C_uid" "$AGENTCTL" token)" | jq -r .kid)" "$kid1" "current key signs until the next is due"
assert_contains "$("$AGENTCTL" rotate-keys)" "next signing key $kid2 is already published"
assert_eq "$(jq '.keys | length' "$JWKS")" 2 "no third key"
# key_publish_ahead, then the housekeeping tick: the next key takes over.
only_key() { [[ $(ls "$TEST_DIR/state/keys") == "$1.pem" ]]; }
eventually 15 only_key "$kid2" || true
assert_eq "$(ls "$TEST_DIR/state/keys")" "$kid2.pem" "only the current private key is kept"
new_token=$(as_agent "$C_uid" "$AGENTCTL" token --audience mcp://tickets)
assert_eq "$(header_of "$new_token" | jq -r .kid)" "$kid2" "the next key signs once due"
assert_eq "$(jq -c '[.keys[].kid]' "$JWKS")" "[\"$kid2\",\"$kid1\"]" "retired key still published"
assert_contains "$("$AGENTCTL" verify "$old_token" --audience mcp://tickets)" "valid:        yes"
assert_contains "$("$AGENTCTL" verify "$new_token" --audience mcp://tickets)" "valid:        yes"
assert_eq "$(count_events rotate)" 3 "creation, publication, activation recorded"
assert_contains "$(sqlite3 "$DB" "SELECT detail FROM events WHERE event = 'rotate' ORDER BY seq DESC LIMIT 1")" \
        "signing key $kid2 signs from now on; $kid1 retired"

# Restart: same keys, same JWKS, old and new tokens still verify.
stop_broker
start_broker
assert_eq "$(jq -c '[.keys[].kid]' "$JWKS")" "[\"$kid2\",\"$kid1\"]" "keys after restart"
assert_contains "$("$AGENTCTL" verify "$old_token" --audience mcp://tickets)" "valid:        yes"
assert_eq "$(header_of "$(as_agent "$C_uid" "$AGENTCTL" token)" | jq -r .kid)" "$kid2" "current key after restart"

# A retired key leaves the JWKS once every token it signed has expired:
# kid3 signs only a 4s token (long enough to see it published on a loaded
# machine); kid1's token lasts 10 minutes. --now replaces the current key at
# once (a compromised key).
"$AGENTCTL" rotate-keys --now >/dev/null
kid3=$(jq -r '.keys[0].kid' "$JWKS")
assert_eq "$(header_of "$(as_agent "$C_uid" "$AGENTCTL" token --ttl 4s)" | jq -r .kid)" "$kid3" "--now signs at once"
assert_contains "$("$AGENTCTL" rotate-keys --now)" "retired (published until its tokens expire)"
kid4=$(jq -r '.keys[0].kid' "$JWKS")
assert_contains "$(jq -c '[.keys[].kid]' "$JWKS")" "$kid3"
# The 4s token expires; the housekeeping tick rewrites the file.
published_is() { [[ $(jq -c '[.keys[].kid]' "$JWKS") == "$1" ]]; }
eventually 15 published_is "[\"$kid4\",\"$kid2\",\"$kid1\"]" || true
published=$(jq -c '[.keys[].kid]' "$JWKS")
assert_eq "$published" "[\"$kid4\",\"$kid2\",\"$kid1\"]" "JWKS after kid3's only token expired"
assert_eq "$("$AGENTCTL" jwks | jq -c '[.keys[].kid]')" "$published" "Jwks method agrees"
assert_eq "$(count_events rotate)" 5 "rotation events"

# A next key whose private half is lost never signs: it is discarded (and
# leaves the JWKS); the current key keeps signing.
"$AGENTCTL" rotate-keys >/dev/null
kid5=$(jq -r '.keys[0].kid' "$JWKS")
rm "$TEST_DIR/state/keys/$kid5.pem"
last_rotation() { sqlite3 "$DB" "SELECT detail FROM events WHERE event = 'rotate' ORDER BY seq DESC LIMIT 1"; }
discarded() { [[ $(last_rotation) == *"$kid5 discarded"* ]]; }
eventually 15 discarded || true
assert_contains "$(sqlite3 "$DB" "SELECT detail FROM events WHERE event = 'rotate' ORDER BY seq DESC LIMIT 1")" \
        "next signing key $kid5 discarded: its private half is missing"
[[ $(jq -c '[.keys[].kid]' "$JWKS") != *"$kid5"* ]] || fail "discarded key still published"
assert_eq "$(header_of "$(as_agent "$C_uid" "$AGENTCTL" token)" | jq -r .kid)" "$kid4" "current key still signs"

# Someone loosening the private key's mode stops the broker from using it.
stop_broker
chmod 0644 "$TEST_DIR/state/keys/$kid4.pem"
if "$AGENTIDD" --config "$TEST_DIR/etc/agentid.conf" --state-dir "$TEST_DIR/state" \
        --runtime-dir "$TEST_DIR/run" >"$TEST_DIR/bad-start.log" 2>&1; then
        fail "broker started with a world-readable private key"
fi
assert_contains "$(cat "$TEST_DIR/bad-start.log")" "mode 0600"
chmod 0600 "$TEST_DIR/state/keys/$kid4.pem"

# Token settings that cannot work are refused at start, with the reason.
bad_config() { # bad_config LINE EXPECTED
        write_config <<<"$1"
        if "$AGENTIDD" --config "$TEST_DIR/etc/agentid.conf" --state-dir "$TEST_DIR/state" \
                --runtime-dir "$TEST_DIR/run" >"$TEST_DIR/bad-start.log" 2>&1; then
                fail "broker started with: $1"
        fi
        assert_contains "$(cat "$TEST_DIR/bad-start.log")" "$2"
}
bad_config "issuer = https://agents.example.com/#x" "issuer must be an absolute URI without query or fragment"
bad_config "issuer = not a uri" "issuer must be an absolute URI"
bad_config $'key_publish_ahead = 2d\nkey_rotation_interval = 1d' "key_rotation_interval must be longer than key_publish_ahead"
bad_config "key_publish_ahead = 400d" "key_publish_ahead must be a duration between 0s and"
bad_config "status_list_ttl = 0s" "status_list_ttl must be a duration between 1s and"
echo "tokens: ok"
