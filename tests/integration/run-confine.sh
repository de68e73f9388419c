#!/bin/bash
# The direct runtime, as a hostile agent would try it: a task lives in its
# own PID, mount and IPC namespaces with the template's view and limits;
# nothing it leaves survives its end; what cannot be enforced is refused.
source "$(dirname "$0")/lib.sh"
ABUSE_CLIENT="$top_builddir/tests/helpers/abuse-client"
write_config </dev/null
mkdir -p "$TEST_DIR/rw" "$TEST_DIR/ro"
chmod 1777 "$TEST_DIR/rw" "$TEST_DIR/ro"
tpl() { cat >"$TEST_DIR/etc/templates.d/$1.conf"; }
tpl default <<'T'
[template]
name = default
ttl = 1m
max_ttl = 10m
T
tpl limited <<T
[template]
name = limited
ttl = 1m
ReadWritePaths = $TEST_DIR/rw
ReadOnlyPaths = $TEST_DIR/ro
InaccessiblePaths = -/nonexistent $TEST_DIR/etc
TasksMax = 20
LimitNOFILE = 64
PrivateNetwork = yes
T
tpl memory <<'T'
[template]
name = memory
ttl = 1m
MemoryMax = 32M
T
tpl cpu <<'T'
[template]
name = cpu
ttl = 1m
CPUQuota = 10%
T
tpl hidehome <<'T'
[template]
name = hidehome
ttl = 1m
home = /home/agentid-test-%n
ProtectHome = yes
T
# The probe below runs from $TEST_DIR/bin, which a task sees only where its
# template shows it.
mkdir -p "$TEST_DIR/bin"
install -m 0755 "$top_builddir/tests/helpers/syscall-probe" "$TEST_DIR/bin/probe"
tpl probe <<T
[template]
name = probe
ttl = 1m
ReadOnlyPaths = $TEST_DIR/bin
T
tpl userns <<T
[template]
name = userns
ttl = 1m
ReadOnlyPaths = $TEST_DIR/bin
RestrictNamespaces = no
T
tpl typo <<'T'
[template]
name = typo
ttl = 1m
MemoryLimit = 1G
T
start_broker
uid_of() { "$AGENTCTL" --json show "$1" | jq -r .uid; }
owned_files() { find /tmp /var/tmp /dev/shm -xdev -uid "$1" 2>/dev/null | wc -l; }
owned_ipc() { ipcs -a 2>/dev/null | awk -v u="$1" '$3 == u || $4 == u' | wc -l; }
procs_of() { ps -e -o uid= | awk -v u="$1" '$1 == u' | wc -l; }

assert_contains "$("$AGENTCTL" status)" "task runtime:  direct"
assert_contains "$("$AGENTCTL" --json status | jq -r '.templates[] | select(.name == "limited") | .confinement')" \
        "TasksMax=20"

# An invalid key is refused at load with file:line, and the template is not there.
assert_contains "$(cat "$TEST_DIR/broker.log")" "typo.conf:4: unknown key \"MemoryLimit\""
set +e
"$AGENTCTL" run --template typo -- true 2>"$TEST_DIR/err"; rc=$?
set -e
assert_eq "$rc" 125 "run with a template refused at load"

# Its own PID namespace and /proc; private, empty temporary directories.
out=$("$AGENTCTL" run -- bash -c 'echo "$$ $(ls /proc | grep -c "^[0-9]")"; ls -A /tmp /var/tmp /dev/shm | tr "\n" " "')
read -r pid nprocs <<<"$(head -n 1 <<<"$out")"
assert_eq "$pid" 2 "the task's pid in its namespace (1 is its init)"
((nprocs <= 6)) || fail "the task sees $nprocs processes"
assert_eq "$(tail -n 1 <<<"$out")" "/dev/shm:  /tmp: $(basename "$TEST_DIR")  /var/tmp: " \
        "temporary directories (only the test's own path kept visible)"

# Leftovers: files in every temporary directory, a setuid copy of a shell,
# SysV shared memory, a message queue and a semaphore. All gone after the
# task, from the host's view too, and the next agent sees none of it.
out=$("$AGENTCTL" run -- bash -c '
        echo "$AGENTID_NAME"
        echo x >/tmp/tool.lock; echo x >/var/tmp/left; echo x >/dev/shm/left
        cp /bin/bash /tmp/sh-as-agent && chmod 4755 /tmp/sh-as-agent
        ipcmk -M 4096 >/dev/null && ipcmk -Q >/dev/null && ipcmk -S 1 >/dev/null
        ipcs -a | grep -c "$(id -un 2>/dev/null || id -u)" || true
        sleep 1000 >/dev/null 2>&1 &')
name=$(head -n 1 <<<"$out")
uid=$(uid_of "$name")
assert_eq "$(procs_of "$uid")" 0 "processes of the task after it ended"
assert_eq "$(owned_files "$uid")" 0 "files of the task in the host's temporary directories"
assert_eq "$(owned_ipc "$uid")" 0 "IPC objects of the task on the host"
out=$("$AGENTCTL" run -- bash -c 'ls -A /tmp /var/tmp /dev/shm | tr "\n" " "; ipcs -a | grep -c "^0x" || true')
assert_eq "$out" "/dev/shm:  /tmp: $(basename "$TEST_DIR")  /var/tmp: 0" "what the next agent finds"
out=$("$AGENTCTL" run -- sh -c 'echo x >/tmp/tool.lock && echo created')
assert_eq "$out" created "the next agent creates /tmp/tool.lock"

# ProtectSystem=strict (the default): /etc and /usr are read-only; the home
# and ReadWritePaths are writable; ReadOnlyPaths are not; InaccessiblePaths
# are empty and closed.
out=$("$AGENTCTL" run --template limited -- bash -c "
        touch /etc/agentid-probe 2>/dev/null && echo etc-writable
        touch /usr/agentid-probe 2>/dev/null && echo usr-writable
        touch \$HOME/x && echo home-ok
        touch $TEST_DIR/rw/x && echo rw-ok
        touch $TEST_DIR/ro/x 2>/dev/null && echo ro-writable
        ls $TEST_DIR/etc 2>/dev/null && echo etc-visible
        ulimit -n
        grep -c : /proc/net/dev")
assert_eq "$out" "$(printf 'home-ok\nrw-ok\n64\n1')" "the limited template's view (PrivateNetwork: lo only)"
[[ ! -e /etc/agentid-probe ]] || { rm -f /etc/agentid-probe; fail "a task wrote /etc"; }
[[ -e $TEST_DIR/rw/x ]] || fail "ReadWritePaths write did not land"

# The kernel's walls: a seccomp filter refuses the system calls an agent has
# no use for and that are the kernel's largest attack surface, and (the
# default RestrictNamespaces=yes) every new namespace; the same uid outside
# a task gets other answers, so the filter is what refused them. Tasks run
# at nice 5, below the broker.
status=$("$AGENTCTL" --json status)
outside=$(setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups "$TEST_DIR/bin/probe" calls)
inside=$("$AGENTCTL" run --template probe -- sh -c "\"$TEST_DIR/bin/probe\" calls; grep -c '^Seccomp:.2' /proc/self/status; nice")
assert_eq "$inside" "$(printf '%s\n' keyctl=EPERM bpf=EPERM perf_event_open=EPERM io_uring_setup=EPERM setns=EPERM \
        clone3=ENOSYS unshare_user=EPERM 1 5)" "system calls in a task"
for call in keyctl io_uring_setup setns clone3; do
        [[ $outside != *"$call=EPERM"* && $outside != *"$call=ENOSYS"* ]] ||
                fail "$call is refused outside a task too, the test shows nothing: $outside"
done
# RestrictNamespaces=no: namespaces as the host allows them, the rest refused.
inside=$("$AGENTCTL" run --template userns -- "$TEST_DIR/bin/probe" calls)
assert_eq "$(grep -E '^(setns|clone3|unshare_user)=' <<<"$inside")" \
        "$(grep -E '^(setns|clone3|unshare_user)=' <<<"$outside")" "namespaces under RestrictNamespaces=no"
assert_contains "$inside" "keyctl=EPERM"
assert_contains "$("$AGENTCTL" --json status | jq -r '.templates[] | select(.name == "userns") | .confinement')" \
        "RestrictNamespaces=no"
# Landlock from ABI 6: no abstract Unix socket outside the task (where
# PrivateNetwork= is not set, they are the host's: a D-Bus or container
# runtime socket among them). Older kernels: the documented degradation.
"$TEST_DIR/bin/probe" listen "agentid-test-$$" >"$TEST_DIR/listen.out" &
listener=$!
for _ in $(seq 1 50); do [[ -s $TEST_DIR/listen.out ]] && break; sleep 0.05; done
assert_eq "$("$TEST_DIR/bin/probe" connect "agentid-test-$$")" "connect=ok" "the host's own connect"
inside=$("$AGENTCTL" run --template probe -- "$TEST_DIR/bin/probe" connect "agentid-test-$$")
kill "$listener"
abi=$(jq -r .runtime_landlock_abi <<<"$status")
if ((abi >= 6)); then
        assert_eq "$inside" "connect=EPERM" "a task's connect to a host abstract socket (Landlock ABI $abi)"
else
        echo "run-confine: Landlock ABI $abi here: abstract sockets are not scoped"
fi
assert_contains "$("$AGENTCTL" status)" "task walls:    namespaces, rlimits, seccomp yes, landlock"

# TasksMax stops a fork bomb (the uid is the task's alone: RLIMIT_NPROC, and
# the pids controller where the host has it).
out=$("$AGENTCTL" run --template limited -- perl -e '
        my $n = 0;
        for (1 .. 100) { my $p = fork; last unless defined $p; if (!$p) { sleep 30; exit } $n++ }
        print "forks=$n\n"' 2>&1 || true)
forks=$(sed -n 's/^forks=//p' <<<"$out")
[[ -n $forks ]] && ((forks < 20)) || fail "fork bomb under TasksMax=20 got $forks processes: $out"

# MemoryMax: an allocation over it is killed, where the host has a
# writable memory controller; otherwise the task is refused with the reason.
set +e
"$AGENTCTL" run --template memory -- dd if=/dev/zero of=/dev/null bs=100M count=1 2>"$TEST_DIR/err"; rc=$?
set -e
if grep -q "MemoryMax= cannot be enforced" "$TEST_DIR/err"; then
        assert_eq "$rc" 126 "refused MemoryMax"
        echo "run-confine: MemoryMax refused here: $(cat "$TEST_DIR/err")"
else
        assert_eq "$rc" 137 "a 100M allocation under MemoryMax=32M (OOM-killed)"
        out=$("$AGENTCTL" run --template memory -- dd if=/dev/zero of=/dev/null bs=8M count=1 2>&1)
        assert_contains "$out" "copied" "an 8M allocation under MemoryMax=32M"
fi

# CPUQuota: a busy loop gets about its share of one CPU (or the refusal).
set +e
out=$("$AGENTCTL" run --template cpu -- perl -MTime::HiRes=time -e '
        my $t0 = time; 1 while time - $t0 < 1; my @t = times;
        printf "%d\n", 100 * ($t[0] + $t[1]) / (time - $t0)' 2>"$TEST_DIR/err"); rc=$?
set -e
if grep -q "CPUQuota= cannot be enforced" "$TEST_DIR/err"; then
        assert_eq "$rc" 126 "refused CPUQuota"
        echo "run-confine: CPUQuota refused here: $(cat "$TEST_DIR/err")"
else
        assert_eq "$rc" 0 "busy loop under CPUQuota ($(cat "$TEST_DIR/err"))"
        ((out <= 25)) || fail "a busy loop under CPUQuota=10% used ${out}% of a CPU"
fi

# A template asking for what the runtime cannot give is refused, with the key.
set +e
"$AGENTCTL" run --template hidehome -- true 2>"$TEST_DIR/err"; rc=$?
set -e
assert_eq "$rc" 126 "exit for an unenforceable template"
assert_contains "$(cat "$TEST_DIR/err")" "ProtectHome=yes would hide the agent's own home"

# A hostile agent: signals, stops and traces every PID it can reach and the
# next ones it guesses, all the time. Revoking it ends it, and the broker
# answers a root list within 100 ms throughout. This part times the broker:
# no other test's broker may compete with it for the two cores (run_alone).
run_alone
"$AGENTCTL" run -- bash -c '
        echo "$AGENTID_NAME"
        exec >/dev/null 2>&1
        attack() { while :; do
                for ((p = 1; p < 400; p++)); do
                        [[ $p == $BASHPID || $p == $$ ]] && continue
                        kill -STOP $p; kill -TERM $p; kill -KILL $p
                done
                timeout 0.2 strace -p 1 -p 2 -p 3 -p 4 -p 5 -p 6; done; }
        # Attackers hit each other too: keep three going.
        while :; do attack & attack & attack & wait; done' >"$TEST_DIR/h.out" &
runner=$!
for _ in $(seq 1 100); do [[ -s $TEST_DIR/h.out ]] && break; sleep 0.05; done
name=$(head -n 1 "$TEST_DIR/h.out")
uid=$(uid_of "$name")
# The broker's answer is timed at the socket (connect to whole reply, a List
# every 100 ms): within 100 ms every time. agentctl's own time also counts
# process start, which the attacking loops compete for on a small machine:
# it must succeed within 300 ms (600 under ASan/UBSan).
"$ABUSE_CLIENT" probe "$AGENTID_SOCKET" 2 >"$TEST_DIR/probe.out" &
probe_pid=$!
worst=0
for _ in $(seq 1 20); do
        t0=$(date +%s%N)
        "$AGENTCTL" list >/dev/null
        ms=$((($(date +%s%N) - t0) / 1000000))
        ((ms > worst)) && worst=$ms
        sleep 0.05
done
wait "$probe_pid"
probe=$(cat "$TEST_DIR/probe.out")
# Every answer within 100 ms: the attack runs at the tasks' nice 5, below
# the broker. The attack goes on all the time, so a broker it can block is
# slow again in a second window; one answer late in one window (seen, about
# one run in four on this shared 2-core machine, with the probe itself
# falling behind its 100 ms schedule) gets that second window, and fails
# only if it is late there too.
[[ $probe == *" failed 0 "* ]] || fail "root's calls failed while an agent attacked: $probe"
if [[ $probe != *" over_100ms 0 "* ]]; then
        echo "run-confine: an answer over 100 ms in the first window ($probe); probing again"
        first=$probe
        probe=$("$ABUSE_CLIENT" probe "$AGENTID_SOCKET" 2)
        [[ $probe == *" failed 0 "* ]] || fail "root's calls failed while an agent attacked: $probe"
        [[ $probe == *" over_100ms 0 "* ]] ||
                fail "the broker's answer to root took over 100 ms while an agent attacked, twice: $first; $probe"
fi
"$AGENTCTL" revoke "$name" >/dev/null
for _ in $(seq 1 10); do
        t0=$(date +%s%N)
        "$AGENTCTL" list >/dev/null
        ms=$((($(date +%s%N) - t0) / 1000000))
        ((ms > worst)) && worst=$ms
done
set +e; wait "$runner"; rc=$?; set -e
assert_eq "$rc" 137 "exit of the revoked hostile task"
assert_eq "$(procs_of "$uid")" 0 "processes of the hostile agent after its revoke"
bound_ms=300
[[ -n $SANITIZED ]] && bound_ms=600
((worst <= bound_ms)) || fail "root agentctl list took ${worst}ms while an agent attacked"

# The same agent outside any task (a minted identity, as a PAM session would
# run it): the broker's root-side cleaner kills it at its revoke.
name=$("$AGENTCTL" --json mint --ttl 1m | jq -r .name)
uid=$(uid_of "$name")
setpriv --reuid="$uid" --regid="$uid" --clear-groups bash -c '
        cd /; exec >/dev/null 2>&1
        echo x >/tmp/minted-left.$$; ipcmk -M 4096
        last=$(cat /proc/sys/kernel/ns_last_pid)
        while :; do for ((p = last; p < last + 200; p++)); do
                [[ $p == $BASHPID ]] || { kill -STOP $p; kill -KILL $p; }; done
                last=$(cat /proc/sys/kernel/ns_last_pid); done' &
attacker=$!
sleep 0.5
(($(procs_of "$uid") >= 1)) || fail "the minted attacker is not running"
"$AGENTCTL" revoke "$name" >/dev/null
for _ in $(seq 1 60); do [[ $(procs_of "$uid") == 0 && $(owned_files "$uid") == 0 ]] && break; sleep 0.05; done
wait "$attacker" 2>/dev/null || true
assert_eq "$(procs_of "$uid")" 0 "processes of a revoked minted agent"
assert_eq "$(owned_files "$uid")" 0 "temporary files of a revoked minted agent"
assert_eq "$(owned_ipc "$uid")" 0 "IPC objects of a revoked minted agent"

# Under a seccomp filter that refuses clone3 with ENOSYS, as systemd's
# RestrictNamespaces= in agentid.service does, the direct runtime still
# starts tasks in their namespaces (through clone).
stop_broker
BROKER_WRAPPER="$top_builddir/tests/helpers/without-clone3" start_broker
out=$("$AGENTCTL" run --template probe -- sh -c 'echo $$; grep -c "^Seccomp:.2" /proc/self/status')
assert_eq "$out" "$(printf '2\n1')" "a task of a broker without clone3"
echo "run-confine: ok (during the attack: $probe; worst agentctl list ${worst}ms)"
