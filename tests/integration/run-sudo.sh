#!/bin/bash
# An approved sudo inside an `agentctl run` task (the direct runtime): a
# template with sudo = approve and ReadWritePaths=/etc/nginx-test lets the
# approved step-up write there, while ProtectSystem=strict still keeps every
# other system path read-only, even for root; without the grant the same
# approved write fails. The real setuid sudo loads the built pam_agentid
# (tests/integration/pam-ns.sh says how), so the broker runs in that
# namespace and its tasks inherit it. /etc there is an overlay whose writes
# land in $TEST_DIR: the host's /etc is never touched, whatever happens.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pam-ns.sh"

cat >"$TEST_DIR/pam.d/sudo" <<'PAM'
auth     [success=done ignore=ignore default=die] pam_agentid.so approval_timeout=20s
auth     required pam_unix.so
account  [success=done ignore=ignore default=die] pam_agentid.so
account  required pam_unix.so
session  required pam_agentid.so
session  required pam_unix.so
PAM
cat >"$TEST_DIR/sudoers" <<'SUDOERS'
Defaults !lecture, !syslog, timestamp_timeout=0, passwd_tries=1, env_reset
root ALL=(ALL) ALL
ALL ALL=(root) /usr/bin/tee
SUDOERS
chmod 0440 "$TEST_DIR/sudoers"
BINDS="$TEST_DIR/pam.d/sudo:/etc/pam.d/sudo $TEST_DIR/sudoers:/etc/sudoers"

write_config </dev/null
# tpl NAME [LINE]: a template allowing sudo after an approval by root.
tpl() {
        printf '[template]\nname = %s\nttl = 10m\ninvokers = root\napprovers = root\nsudo = approve\n%s\n' \
                "$1" "${2:-}" >"$TEST_DIR/etc/templates.d/$1.conf"
}
tpl websudo "ReadWritePaths = /etc/nginx-test"
tpl nogrant

# The broker in pam-ns.sh's namespace, with /etc an overlay (upper layer in
# $TEST_DIR/etc-up) holding the granted directory /etc/nginx-test.
mkdir -p "$TEST_DIR/etc-up" "$TEST_DIR/etc-work" "$TEST_DIR/run"
unshare -m --propagation private -- bash -c '
        set -e
        mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/etc-up,workdir=$1/etc-work" /etc
        mkdir /etc/nginx-test
        mount -t overlay overlay -o "lowerdir=$1/lib:$2" "$2"
        mount --bind "$1/etcfiles/nsswitch.conf" /etc/nsswitch.conf
        for f in passwd group shadow; do mount --bind "$1/etcfiles/$f" /etc/$f; done
        mount -t tmpfs -o mode=0755 tmpfs /run
        mkdir -p /run/agentid /run/sudo
        mount --bind "$1/run" /run/agentid
        for b in $3; do mount --bind "${b%%:*}" "${b#*:}"; done
        shift 3
        exec "$@"' ns "$TEST_DIR" "$LIBDIR" "$BINDS" \
        "$AGENTIDD" --config "$TEST_DIR/etc/agentid.conf" --state-dir "$TEST_DIR/state" \
        --runtime-dir "$TEST_DIR/run" >>"$TEST_DIR/broker.log" 2>&1 &
BROKER_PID=$!
wait_for_socket
assert_contains "$("$AGENTCTL" status)" "task runtime:  direct"

# approved_sudo TEMPLATE PATH: in a task of TEMPLATE, `sudo tee PATH`; the
# step-up is held until root approves it. Prints the task's stdout and
# stderr, then rc=EXIT.
approved_sudo() {
        local id i rc
        "$AGENTCTL" run --template "$1" -- bash -c '
                echo "nginx conf from $AGENTID_NAME" | sudo /usr/bin/tee "$1" && echo "wrote $1"' x "$2" \
                >"$TEST_DIR/out" 2>&1 &
        local runner=$!
        for i in $(seq 1 100); do
                id=$("$AGENTCTL" --json pending | jq -r '.[0].id // empty')
                [[ -n $id ]] && break
                kill -0 $runner 2>/dev/null || break
                sleep 0.1
        done
        [[ -n $id ]] || fail "no pending step-up for sudo in a $1 task: $(cat "$TEST_DIR/out")"
        kill -0 $runner 2>/dev/null || fail "sudo did not wait for the approval: $(cat "$TEST_DIR/out")"
        [[ ! -e $TEST_DIR/etc-up/${2#/etc/} ]] || fail "$2 written before the approval"
        "$AGENTCTL" approve "$id" --reason "nginx reload" >/dev/null || fail "approve $id failed"
        set +e; wait $runner; rc=$?; set -e
        cat "$TEST_DIR/out"
        echo "rc=$rc"
}

# The grant: the approved write lands in the granted path, in the real
# (here: the namespace's) /etc, not in a copy private to the task.
out=$(approved_sudo websudo /etc/nginx-test/site.conf)
assert_contains "$out" "is waiting"
assert_contains "$out" "wrote /etc/nginx-test/site.conf"
assert_contains "$out" "rc=0"
[[ $(cat "$TEST_DIR/etc-up/nginx-test/site.conf" 2>/dev/null) == "nginx conf from "* ]] ||
        fail "the approved write did not land in /etc/nginx-test: $out"
assert_eq "$(stat -c %u "$TEST_DIR/etc-up/nginx-test/site.conf")" 0 "owner of the file sudo wrote"

# Not granted: the same approved root write to another /etc path fails
# (ProtectSystem=strict: read-only file system).
out=$(approved_sudo websudo /etc/other)
assert_contains "$out" "tee: /etc/other: Read-only file system"
[[ $out != *"wrote /etc/other"* && $out != *"rc=0"* ]] || fail "an approved sudo wrote /etc/other: $out"
[[ ! -e $TEST_DIR/etc-up/other && ! -e /etc/other ]] || fail "/etc/other exists after the task"

# Without the grant, the approved write to /etc/nginx-test fails too.
out=$(approved_sudo nogrant /etc/nginx-test/other.conf)
assert_contains "$out" "tee: /etc/nginx-test/other.conf: Read-only file system"
[[ ! -e $TEST_DIR/etc-up/nginx-test/other.conf ]] || fail "a template without the grant wrote /etc/nginx-test"
assert_eq "$(count_events approve)" 3 "approve events"
echo "run-sudo: ok"
