#!/bin/bash
# pam_agentid in a real sshd (UsePAM yes) on 127.0.0.1, in a private mount
# namespace (pam-ns.sh): a live agent logs in with its token through
# keyboard-interactive; the token fails after revoke; a wrong token fails;
# a human's key login is unaffected; a "lifetime = session" agent is
# revoked when its session closes.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pam-ns.sh"
command -v sshpass >/dev/null || { echo "SKIP: sshpass not installed (scripts/install-deps)"; exit 77; }
SSHD=$(command -v sshd || echo /usr/sbin/sshd)
[[ -x $SSHD ]] || { echo "SKIP: no sshd"; exit 77; }

cat >"$TEST_DIR/pam.d/sshd" <<'PAM'
auth     [success=done ignore=ignore default=die] pam_agentid.so
auth     required pam_unix.so
account  [success=done ignore=ignore default=die] pam_agentid.so
account  required pam_unix.so
session  required pam_agentid.so
session  required pam_unix.so
PAM
mkdir -p "$TEST_DIR/etc/templates.d" "$TEST_DIR/ssh/keys"
for t in "sshok ttl" "sshonce session"; do
        read -r tname lifetime <<<"$t"
        printf '[template]\nname = %s\nttl = 10m\ninvokers = root\nssh = allow\nlifetime = %s\n' "$tname" "$lifetime" \
                >"$TEST_DIR/etc/templates.d/$tname.conf"
done
printf '[template]\nname = sshno\nttl = 10m\ninvokers = root\nssh = deny\n' >"$TEST_DIR/etc/templates.d/sshno.conf"
start_broker

ssh-keygen -q -t ed25519 -N '' -f "$TEST_DIR/ssh/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$TEST_DIR/ssh/human_key"
cp "$TEST_DIR/ssh/human_key.pub" "$TEST_DIR/ssh/keys/$HUMAN"
chmod -R go-w "$TEST_DIR/ssh"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$TEST_DIR/ssh/sshd_config" <<CFG
Port $PORT
ListenAddress 127.0.0.1
HostKey $TEST_DIR/ssh/host_key
PidFile $TEST_DIR/ssh/sshd.pid
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile $TEST_DIR/ssh/keys/%u
StrictModes no
PermitRootLogin no
PrintMotd no
CFG
in_ns "$TEST_DIR/pam.d/sshd:/etc/pam.d/sshd" "$SSHD" -D -e -f "$TEST_DIR/ssh/sshd_config" \
        >>"$TEST_DIR/sshd.log" 2>&1 &
SSHD_PID=$!
# $! is the subshell running in_ns, not sshd itself: stop sshd by its
# config path (only this test's sshd uses it), then the subshell.
test_cleanup() {
        pkill -TERM -f "sshd -D -e -f $TEST_DIR/ssh/sshd_config" 2>/dev/null
        kill "$SSHD_PID" 2>/dev/null
        wait "$SSHD_PID" 2>/dev/null
        [[ -f $TEST_DIR/sshd.log ]] && tail -n 30 "$TEST_DIR/sshd.log"
}
for _ in $(seq 1 100); do (echo >/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.05; done

SSH_OPTS=(-p "$PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
        -o ConnectTimeout=10 -o BatchMode=no)
agent_ssh() { # TOKEN USER CMD...
        local token=$1 user=$2
        shift 2
        timeout 30 sshpass -P "agentid token" -p "$token" ssh "${SSH_OPTS[@]}" -o PubkeyAuthentication=no \
                -o PreferredAuthentications=keyboard-interactive -o NumberOfPasswordPrompts=1 "$user@127.0.0.1" "$@"
}
mint() { "$AGENTCTL" --json mint --template "$1" --ttl 10m --reason "ssh test" | jq -r '.name + " " + (.uid|tostring)'; }
token_of() { setpriv --reuid="$1" --regid="$1" --clear-groups "$AGENTCTL" token --audience pam:sshd; }

read -r name uid <<<"$(mint sshok)"
token=$(token_of "$uid") || fail "no token for $name"
out=$(agent_ssh "$token" "$name" id -un 2>&1) || fail "agent login with its token failed: $out"
# sshd's own warnings (e.g. no home to chdir to) come on stderr, in any
# order against the command's output: look for the name's own line.
grep -qx "$name" <<<"$out" || fail "remote id -un did not print $name: $out"
# The session was registered and closed (sshd closes it after the command).
for _ in $(seq 1 50); do [[ $(count_events session-close) -ge 1 ]] && break; sleep 0.1; done
assert_eq "$(count_events session-open)" 1 "session-open events"
assert_eq "$(count_events session-close)" 1 "session-close events"
assert_eq "$("$AGENTCTL" --json show "$name" | jq -r .state)" live "a lifetime = ttl agent after its session"

# A wrong token, and a token of another agent, fail.
agent_ssh "not.a.token" "$name" true >/dev/null 2>&1 && fail "a wrong token logged in"
read -r other ouid <<<"$(mint sshok)"
agent_ssh "$(token_of "$ouid")" "$name" true >/dev/null 2>&1 && fail "another agent's token logged in"
# A token for another audience fails.
agent_ssh "$(setpriv --reuid="$uid" --regid="$uid" --clear-groups "$AGENTCTL" token)" "$name" true >/dev/null 2>&1 &&
        fail "a token for the issuer audience logged in to sshd"
# ssh = deny: refused even with a valid token.
read -r dname duid <<<"$(mint sshno)"
agent_ssh "$(token_of "$duid")" "$dname" true >/dev/null 2>&1 && fail "ssh = deny agent logged in"

# Revoked: the same token fails.
"$AGENTCTL" revoke "$name" >/dev/null
agent_ssh "$token" "$name" true >/dev/null 2>&1 && fail "a revoked agent's token logged in"

# lifetime = session: the identity ends with its first session.
read -r sname suid <<<"$(mint sshonce)"
agent_ssh "$(token_of "$suid")" "$sname" true >/dev/null 2>&1 || fail "lifetime = session agent could not log in"
for _ in $(seq 1 50); do
        [[ $("$AGENTCTL" --json show "$sname" | jq -r .state) == revoked ]] && break
        sleep 0.1
done
assert_eq "$("$AGENTCTL" --json show "$sname" | jq -r .state)" revoked "per-session identity after its session"
assert_contains "$("$AGENTCTL" --json show "$sname" | jq -r .end_reason)" "session ended"

# A human's key login: unaffected, with the broker up and with it stopped.
human_ssh() { timeout 30 ssh "${SSH_OPTS[@]}" -o BatchMode=yes -i "$TEST_DIR/ssh/human_key" "$HUMAN@127.0.0.1" id -un; }
assert_eq "$(human_ssh 2>&1)" "$HUMAN" "human key login"
stop_broker
assert_eq "$(human_ssh 2>&1)" "$HUMAN" "human key login with the broker stopped"
echo "sshd: ok"
