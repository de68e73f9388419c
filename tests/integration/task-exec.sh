#!/bin/bash
# agentid-task-exec, the systemd runtime's first program in every task unit
# (tests/host/task-runtime.sh runs it under systemd): here it runs as root
# directly, in a private mount namespace. It builds the task's view, walls
# and identity, hands the command exactly the decoded environment, and
# refuses any command line the broker would never write with one line and
# exit 226, before changing anything.
source "$(dirname "$0")/lib.sh"

exe=$top_builddir/agentid-task-exec
home=$TEST_DIR/home
mkdir -p "$home" "$TEST_DIR/granted" && chown 65534:65534 "$home" && chmod 0700 "$home" && chmod 1777 "$TEST_DIR/granted"
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
env_of() { printf '%s\0' "$@" | b64url; }
task() { AGENTID_TASK_ENVIRONMENT=$(env_of "PATH=/usr/bin:/bin" "FOO=bar baz" "HOME=$home") unshare -m "$exe" "$@"; }

# A task: the agent's ids and groups, its home as working directory, a
# private empty /tmp (the home, below /tmp here, kept visible), /etc
# read-only but /proc as it was, a granted path writable, the filter on,
# only the decoded environment.
echo stray >/tmp/agentid-task-exec-probe.$$
out=$(task --uid=65534 --gid=65534 --group=100 --home="$home" ProtectSystem=strict "ReadWritePaths=$TEST_DIR/granted" \
        RestrictNamespaces=yes -- /bin/sh sh -c 'id -u; id -g; id -G; pwd; ls -A /tmp | grep -c agentid-task-exec-probe;
        touch /etc/agentid-probe 2>&1 | grep -c "Read-only"; touch '"$TEST_DIR"'/granted/x && echo granted;
        grep -c "^Seccomp:.2" /proc/self/status; unshare -U true 2>/dev/null && echo userns;
        echo 500 >/proc/self/oom_score_adj && echo proc-writable; env | sort | tr "\n" ";"')
rm -f /tmp/agentid-task-exec-probe.$$
assert_eq "$out" "$(printf '65534\n65534\n65534 100\n%s\n0\n1\ngranted\n1\nproc-writable\nFOO=bar baz;HOME=%s;PATH=/usr/bin:/bin;PWD=%s;' "$home" "$home" "$home")" \
        "the task's identity, view, walls and environment"
[[ ! -e /etc/agentid-probe ]] || fail "the task wrote /etc"

# Only its own processes in /proc (hidepid=invisible: the uid is the task's).
out=$(task --uid=65534 --gid=65534 --home="$home" -- /bin/sh sh -c 'stat -c %u /proc/[0-9]* | sort -u')
assert_eq "$out" 65534 "the owners of the processes a task sees"

# argv0 is the broker's, the path is the one executed; the exit status is the command's.
out=$(task --uid=65534 --gid=65534 --home="$home" -- /bin/sh my-name -c 'echo $0; exit 7') && rc=0 || rc=$?
assert_eq "$out/$rc" "my-name/7" "argv0 and exit status pass through"

# The environment given to agentid-task-exec itself is not the command's.
out=$(FOO=outer task --uid=65534 --gid=65534 --home="$home" -- /usr/bin/env env)
assert_contains "$out" "FOO=bar baz"
[[ $out != *outer* ]] || fail "agentid-task-exec's own environment reached the command: $out"

# Hostile or broken command lines: one line, exit 226, nothing run.
refused() { # WHY EXPECTED-MESSAGE ARGS...
        local why=$1 want=$2 out rc
        shift 2
        out=$(task "$@" -- /bin/sh sh -c 'echo RAN' 2>&1) && rc=0 || rc=$?
        [[ $rc == 226 ]] || fail "$why: exit $rc, not 226 ($out)"
        [[ $out != *RAN* ]] || fail "$why: the command ran"
        assert_contains "$out" "agentid-task-exec: $want"
}
refused "uid 0" "bad --uid: 0" --uid=0 --gid=65534 --home="$home"
refused "a uid that is not a number" "bad --uid: 12x" --uid=12x --gid=65534 --home="$home"
refused "no home" "--uid, --gid and an absolute --home are required" --uid=65534 --gid=65534
refused "a relative home" "--uid, --gid and an absolute --home are required" --uid=65534 --gid=65534 --home=home
refused "an unknown key" "unknown key Privileged" --uid=65534 --gid=65534 --home="$home" Privileged=yes
refused "a bad value" "ProtectSystem" --uid=65534 --gid=65534 --home="$home" ProtectSystem=maybe
refused "an unknown option" "unknown argument --root" --uid=65534 --gid=65534 --home="$home" --root
refused "a missing granted path" "ReadWritePaths=$TEST_DIR/missing: No such file or directory" \
        --uid=65534 --gid=65534 --home="$home" "ReadWritePaths=$TEST_DIR/missing"
refused "a home the keys would hide" "InaccessiblePaths=$TEST_DIR would hide the agent's own home" \
        --uid=65534 --gid=65534 --home="$home" "InaccessiblePaths=$TEST_DIR"
out=$(AGENTID_TASK_ENVIRONMENT='!!' unshare -m "$exe" --uid=65534 --gid=65534 --home="$home" -- /bin/true true 2>&1) && rc=0 || rc=$?
assert_eq "$rc" 226 "a broken environment is refused"
assert_contains "$out" "not valid base64url"
out=$(AGENTID_TASK_ENVIRONMENT=$(env_of "NOEQUALS") unshare -m "$exe" --uid=65534 --gid=65534 --home="$home" -- /bin/true true 2>&1) && rc=0 || rc=$?
assert_eq "$rc" 226 "an environment entry without = is refused"
out=$(unshare -m "$exe" --uid=65534 --gid=65534 --home="$home" -- true true 2>&1) && rc=0 || rc=$?
assert_eq "$rc" 226 "a relative command path is refused"
out=$(task --uid=65534 --gid=65534 --home="$home" -- /nonexistent/cmd cmd 2>&1) && rc=0 || rc=$?
assert_eq "$rc" 127 "a command that cannot be executed: 127"
assert_contains "$out" "cannot execute /nonexistent/cmd"
# Not root: refused before anything.
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$exe" --uid=65534 --gid=65534 --home="$home" -- /bin/true true 2>&1) && rc=0 || rc=$?
assert_eq "$rc" 226 "refused when not root"
assert_contains "$out" "must be started as root"
echo "task-exec: ok"
