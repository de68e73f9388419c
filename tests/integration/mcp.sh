#!/bin/bash
# The example MCP server (examples/mcp-server, official MCP TypeScript SDK)
# against a real broker: an agent task calls its tool with the SDK's
# client and a token from `agentctl token`; the server, knowing only the
# issuer URL (RFC 8414 metadata, JWKS, Token Status List served by a stock
# web server), refuses a token for another audience, an expired one, a
# grant and a revoked agent's token with 401 and WWW-Authenticate, and
# serves its RFC 9728 protected resource metadata.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
command -v node >/dev/null && command -v npm >/dev/null || fail "needs node and npm (scripts/install-deps)"
# npm ci into the build tree (cached there while package-lock.json is the same).
MCP_BUILD="$top_builddir/examples/mcp-server"
"$top_srcdir/examples/mcp-server/install.sh" "$MCP_BUILD" >"$TEST_DIR/npm.log" 2>&1 ||
        fail "could not install the MCP SDK from the npm registry: $(tail -5 "$TEST_DIR/npm.log")"
# A copy agents can read even if the build tree is private.
cp -a "$MCP_BUILD" "$TEST_DIR/mcp"
chmod -R a+rX "$TEST_DIR/mcp"

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
AS_PORT=$(free_port)
MCP_PORT=$(free_port)
ISSUER="http://127.0.0.1:$AS_PORT"
RESOURCE="http://127.0.0.1:$MCP_PORT/mcp"
write_config <<C
issuer = $ISSUER
token_leeway = 0s
status_list_ttl = 1s
C
# Tasks have a private /tmp: the client (and agentctl) in $TEST_DIR are
# granted read-only.
cat >"$TEST_DIR/etc/templates.d/worker.conf" <<T
[template]
name = worker
ttl = 10m
scopes = tickets:read
ReadOnlyPaths = $TEST_DIR
T
start_broker

# The issuer's files, served by a stock web server.
WEB=$TEST_DIR/www
mkdir -p "$WEB/.well-known"
ln -s "$TEST_DIR/run/oauth-authorization-server.json" "$WEB/.well-known/oauth-authorization-server"
ln -s "$TEST_DIR/run/jwks.json" "$WEB/jwks.json"
ln -s "$TEST_DIR/run/statuslist.jwt" "$WEB/statuslist.jwt"
"$PY" -m http.server --bind 127.0.0.1 --directory "$WEB" "$AS_PORT" >"$TEST_DIR/http.log" 2>&1 &
HTTP_PID=$!
for _ in $(seq 1 100); do curl -sf "$ISSUER/jwks.json" >/dev/null && break; sleep 0.05; done
node "$TEST_DIR/mcp/server.mjs" --issuer "$ISSUER" --resource "$RESOURCE" >"$TEST_DIR/mcp.log" 2>&1 &
MCP_PID=$!
test_cleanup() {
        kill "$MCP_PID" "$HTTP_PID" 2>/dev/null || true
        wait "$MCP_PID" "$HTTP_PID" 2>/dev/null || true
}
for _ in $(seq 1 200); do
        grep -q "^listening" "$TEST_DIR/mcp.log" 2>/dev/null && break
        kill -0 "$MCP_PID" 2>/dev/null || fail "the MCP server did not start"
        sleep 0.05
done

# client TOKEN: the SDK client presenting TOKEN, as nobody; output either way.
client() { AGENTID_TOKEN=$1 as_nobody node "$TEST_DIR/mcp/client.mjs" "$RESOURCE" 2>&1 || true; }
# www_authenticate TOKEN: the 401's WWW-Authenticate header for a bare POST.
www_authenticate() {
        curl -s -o /dev/null -D - -X POST -H 'Content-Type: application/json' ${1:+-H "Authorization: Bearer $1"} \
                --data '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' "$RESOURCE" | tr -d '\r' |
                sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: //p'
}

# --- RFC 9728 protected resource metadata, from the SDK
prm=$(curl -sf "http://127.0.0.1:$MCP_PORT/.well-known/oauth-protected-resource/mcp")
assert_eq "$(jq -c '[.resource, .authorization_servers]' <<<"$prm")" "[\"$RESOURCE\",[\"$ISSUER\"]]" "protected resource metadata"

# --- an agent task calls the tool with the SDK client and `agentctl token`
out=$("$AGENTCTL" run --template worker --on-behalf-of alice@example.com --env AGENTCTL="$AGENTCTL" -- \
        node "$TEST_DIR/mcp/client.mjs" "$RESOURCE" 2>&1) || fail "agent task failed: $out"
[[ $out =~ ^hello\ (ag-worker-[a-z0-9]{6}),\ acting\ for\ alice@example.com\;\ actors:\ (ag-worker-[a-z0-9]{6})\ \>\ root\;\ scopes:\ tickets:read$ ]] ||
        fail "tool answer: $out"
assert_eq "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "the agent is the current actor"

# --- refusals: 401 with WWW-Authenticate pointing at the metadata
A_json=$("$AGENTCTL" --json mint --template worker)
A_uid=$(jq -r .uid <<<"$A_json")
good=$(as_agent "$A_uid" "$AGENTCTL" token --audience "$RESOURCE")
assert_contains "$(client "$good")" "hello $(jq -r .name <<<"$A_json"), acting for $(jq -r .name <<<"$A_json")"
hdr=$(www_authenticate "")
assert_contains "$hdr" 'Bearer error="invalid_token"' "no token"
assert_contains "$hdr" "resource_metadata=\"http://127.0.0.1:$MCP_PORT/.well-known/oauth-protected-resource/mcp\""
other=$(as_agent "$A_uid" "$AGENTCTL" token --audience https://other.example.com/mcp)
assert_contains "$(www_authenticate "$other")" 'error="invalid_token", error_description="ERR_JWT_CLAIM_VALIDATION_FAILED: unexpected "aud" claim value"'
assert_contains "$(client "$other")" "refused:"
assert_contains "$(client "$other")" "(HTTP 401)"
short=$(as_agent "$A_uid" "$AGENTCTL" token --ttl 1s --audience "$RESOURCE")
grant=$(as_agent "$A_uid" "$AGENTCTL" grant --audience "$RESOURCE")
assert_contains "$(www_authenticate "$grant")" 'ERR_JWT_CLAIM_VALIDATION_FAILED: unexpected "typ" JWT header value'
assert_contains "$(client "$grant")" "(HTTP 401)"
sleep 2.1
assert_contains "$(www_authenticate "$short")" 'ERR_JWT_EXPIRED'
assert_contains "$(client "$short")" "(HTTP 401)"
# Revoked: the status list says so within its ttl (1s here).
B_json=$("$AGENTCTL" --json mint --template worker)
tb=$(as_agent "$(jq -r .uid <<<"$B_json")" "$AGENTCTL" token --audience "$RESOURCE")
assert_contains "$(client "$tb")" "hello $(jq -r .name <<<"$B_json")"
"$AGENTCTL" revoke "$(jq -r .name <<<"$B_json")" >/dev/null
revoked_seen() { [[ $(www_authenticate "$tb") == *'error_description="token revoked"'* ]]; }
eventually 15 revoked_seen || true
assert_contains "$(www_authenticate "$tb")" 'error_description="token revoked"'
assert_contains "$(client "$tb")" "(HTTP 401)"
# The good token is still good.
assert_contains "$(client "$good")" "hello $(jq -r .name <<<"$A_json")"
echo "mcp: ok"
