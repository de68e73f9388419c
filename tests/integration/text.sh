#!/bin/bash
# Clean text (issue 13): caller text that reads as something it is not
# (bidi overrides, zero-width characters) is refused in reason and
# on_behalf_of; caller text that reaches an event (JWT header fields, a
# task's argv), journald, the broker's log or agentctl's output arrives
# escaped (\xNN), never raw. journald runs for real in a private mount
# namespace, as in journal.sh.
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

write_config <<<"journal = required"
sed -i '/^journal = off$/d' "$TEST_DIR/etc/agentid.conf"
start_broker
db="$TEST_DIR/state/agentid.db"

# 1. Refused: bidi controls, zero-width and other format characters,
# controls, in reason and on_behalf_of, through agentctl (real bytes) and
# raw JSON (\u escapes). Nothing is minted, nothing is recorded.
before=$(count_identities)
for ch in $'\u202a' $'\u202b' $'\u202c' $'\u202d' $'\u202e' $'\u2066' $'\u2067' $'\u2068' $'\u2069' \
        $'\u200e' $'\u200f' $'\u061c' $'\u200b' $'\u200c' $'\u200d' $'\u2060' $'\ufeff' $'\u00ad' $'\e' $'\n'; do
        for opt in --reason --on-behalf-of; do
                if "$AGENTCTL" mint $opt "alice${ch}@example.com" >/dev/null 2>"$TEST_DIR/err"; then
                        fail "mint $opt with U+$(printf '%s' "$ch" | iconv -f utf-8 -t utf-32be | xxd -p) accepted"
                fi
                assert_contains "$(cat "$TEST_DIR/err")" io.agentid.InvalidParameter "mint $opt"
        done
done
for u in 202e 200b 2066 feff; do
        out=$(printf '{"method":"io.agentid.Mint","parameters":{"on_behalf_of":"alice\\u%s@example.com"}}\0' $u |
                "$RAW_CLIENT" "$AGENTID_SOCKET" 1500)
        assert_contains "$out" '"error":"io.agentid.InvalidParameter"' "raw on_behalf_of U+$u"
        out=$(printf '{"method":"io.agentid.Revoke","parameters":{"all":true,"reason":"x\\u%s"}}\0' $u |
                "$RAW_CLIENT" "$AGENTID_SOCKET" 1500)
        assert_contains "$out" '"error":"io.agentid.InvalidParameter"' "raw revoke reason U+$u"
done
assert_eq "$(count_identities)" "$before" "identities after refused text"
"$AGENTCTL" mint --reason "caf$(printf '\u00e9') ticket" --on-behalf-of "alice@example.com" >/dev/null ||
        fail "plain UTF-8 text refused"

# 2. A JWT header's alg and kid (any local user) and a task's argv reach
# events escaped: in the event table and in journald.
b64() { basenc --base64url | tr -d '=\n'; }
hdr=$(printf '{"alg":"\\u001b[2J\\nFAKE LINE","typ":"JWT","kid":"k\\u202eevil"}' | b64)
as_nobody "$AGENTCTL" verify "$hdr.$(printf '{}' | b64).c2ln" >/dev/null 2>"$TEST_DIR/err" &&
        fail "hostile token verified"
assert_contains "$(cat "$TEST_DIR/err")" '\x1b[2J\x0aFAKE LINE' "agentctl's error line"
"$AGENTCTL" run -- /bin/true $'\e]0;owned\a' $'one\ntwo' $'\u202etxt.exe' || fail "run failed"

# Aggregated refusals are written when their window ends; stopping the
# broker flushes them.
stop_broker
raw=$(sqlite3 "$db" "SELECT count(*) FROM events WHERE instr(detail, char(27)) OR instr(detail, char(10))
        OR instr(detail, char(7)) OR instr(detail, char(8238)) OR instr(agent, char(27)) OR instr(reason, char(27))")
assert_eq "$raw" 0 "events with raw control or bidi characters"
run=$(sqlite3 "$db" "SELECT detail FROM events WHERE event = 'run' ORDER BY rowid DESC LIMIT 1")
assert_contains "$run" '\x1b]0;owned\x07' "run event argv"
assert_contains "$run" 'one\x0atwo' "run event argv"
assert_contains "$run" '\xe2\x80\xaetxt.exe' "run event argv"
deny=$(sqlite3 "$db" "SELECT group_concat(detail, '|') FROM events WHERE event = 'deny'")
assert_contains "$deny" '\x1b[2J\x0aFAKE LINE' "deny event of the hostile alg"

journal() { journalctl --no-pager -o json "$@" 2>/dev/null; }
for _ in $(seq 1 50); do
        [[ $(journal AGENTID_EVENT=run | wc -l) -ge 1 ]] && break
        sleep 0.1
done
jrun=$(journal AGENTID_EVENT=run | tail -n 1 | jq -r .AGENTID_DETAIL)
assert_contains "$jrun" '\x1b]0;owned\x07' "journald run detail"
jdeny=$(journal AGENTID_EVENT=deny | jq -r '.AGENTID_DETAIL, .MESSAGE')
assert_contains "$jdeny" '\x1b[2J\x0aFAKE LINE' "journald deny detail"
if journal | jq -r '.MESSAGE, .AGENTID_DETAIL // empty' | grep -q $'\e\|\u202e'; then
        fail "raw control or bidi character in the journal"
fi
if grep -q $'\e\|\u202e' "$TEST_DIR/broker.log"; then fail "raw control or bidi character in the broker's log"; fi

# 3. agentctl prints no control character it received: a row written
# before this rule (or by anything else) with ESC, a bidi override and a
# zero-width space shows escaped, in text and in --json.
start_broker
name=$("$AGENTCTL" --json mint --reason ok | jq -r .name)
sqlite3 "$db" "UPDATE identities SET reason = 'a' || char(27) || ']0;pwn' || char(7) || char(8238) || 'b',
        on_behalf_of = 'alice' || char(8203) || '@example.com' WHERE name = '$name'"
for out in "$("$AGENTCTL" show "$name")" "$("$AGENTCTL" --json show "$name")" "$("$AGENTCTL" list)" \
        "$("$AGENTCTL" --json list)"; do
        if grep -q $'[\x01-\x08\x0b-\x1f\x7f]\|\u202e\|\u200b' <<<"$out"; then
                fail "agentctl printed a raw control or bidi character: $(cat -v <<<"$out")"
        fi
done
out=$("$AGENTCTL" show "$name")
assert_contains "$out" 'alice\xe2\x80\x8b@example.com' "show on_behalf_of"
assert_contains "$out" 'a\x1b]0;pwn\x07\xe2\x80\xaeb' "show reason"
assert_contains "$("$AGENTCTL" --json show "$name")" 'alice\u200B@example.com' "show --json"
echo "text: ok"
