#!/bin/bash
# agentid as a Debian 12 admin gets it: the packages built from this tree
# (scripts/build-debs, lintian clean), installed, used, reconfigured,
# rebooted, upgraded, removed and purged on a host booted with systemd as
# PID 1 (tests/host/host.sh). The install and removal commands are the
# README's, word for word. Prints PASS/FAIL per check and a summary line;
# exit 77 (SKIP) with the reason when this machine cannot boot the host.
#
#   tests/host/agentid.sh [BUILD_OUT]   (default ./build/host-test)
#
# AGENTID_HOST_KEEP=1 leaves the machine running afterwards (debugging:
# tests/host/host.sh run ... with AGENTID_HOST=agentid-pkg-test).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
export AGENTID_HOST=${AGENTID_HOST:-agentid-pkg-test}
. "$here/host.sh"

if why=$(host_cannot); then
        echo "SKIP: systemd host: $why"
        exit 77
fi
out=${1:-$top/build/host-test}
mkdir -p "$out"
out=$(cd "$out" && pwd)
log=$out/agentid.log
: >"$log"
passed=0 failed=0
started=$(date +%s)

pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() {
        echo "FAIL: $1${2:+ ($2)}"
        failed=$((failed + 1))
}
# inside SCRIPT: a bash snippet run inside the machine as root; its output goes
# to stdout (callers capture it) and, with the snippet, to the log.
inside() {
        local o rc
        o=$(host_run bash -c "$1" 2>&1)
        rc=$?
        printf '\n$ %s\n%s\n[rc=%d]\n' "$1" "$o" "$rc" >>"$log"
        printf '%s' "$o"
        return $rc
}
# check NAME SCRIPT: PASS when the snippet exits 0.
check() {
        if inside "$2" >/dev/null; then pass "$1"; else fail "$1" "see $log"; fi
}
cleanup() {
        [[ -n ${bg_build:-} ]] && kill "$bg_build" 2>/dev/null
        if [[ ${AGENTID_HOST_KEEP:-} == 1 ]]; then
                echo "kept: AGENTID_HOST=$AGENTID_HOST $here/host.sh run ..."
        else
                host_destroy >/dev/null 2>&1
        fi
}
trap cleanup EXIT

# The Debian 12 root (cached after the first run); without it, or when
# nspawn cannot boot on this machine, the test is skipped, saying why.
if ! host_image >>"$log" 2>&1; then
        echo "SKIP: systemd host: cannot make the Debian 12 root: $(tail -n1 "$AGENTID_HOST_CACHE/debootstrap.log" 2>/dev/null)"
        exit 77
fi

# --- packages -----------------------------------------------------------------
# The release under test, and a rebuilt one (a newer version) to upgrade to;
# the second builds while the first is being tested.
if "$top/scripts/build-debs" "$out/debs" >>"$log" 2>&1; then
        pass "packages build (dpkg-buildpackage -b), lintian clean"
else
        fail "packages build (dpkg-buildpackage -b), lintian clean" "see $out/debs/dpkg-buildpackage.log, $out/debs/lintian.txt"
        exit 1
fi
AGENTID_DEB_VERSION="0.1.0+rebuild$(date +%s)" "$top/scripts/build-debs" "$out/debs-upgrade" >"$out/build-upgrade.log" 2>&1 &
bg_build=$!

if ! { host_create && host_boot; } >>"$log" 2>&1; then
        echo "SKIP: systemd host: systemd-nspawn cannot boot it here: $(tail -n3 "$(_host_log)" | tr '\n' ' ')"
        exit 77
fi
pass "systemd host boots (systemd $(inside 'systemctl --version | sed -n "1s/systemd \([0-9]*\).*/\1/p"'), cgroup $(inside 'stat -fc %T /sys/fs/cgroup'))"
host_copy "$out/debs" /root/agentid/build-debs

# Humans before anything: alice logs in by password and by key, and sudoes.
inside 'su alice -c "mkdir -p ~/.ssh && ssh-keygen -q -t ed25519 -N \"\" -f ~/.ssh/id_ed25519 && cp ~/.ssh/id_ed25519.pub ~/.ssh/authorized_keys"' >/dev/null
human_checks() { # WHEN
        check "$1: a human's sudo (password) works" \
                'out=$(su alice -c "echo alice | sudo -S -k -p \"\" id -u" 2>&1); echo "$out"; [[ $(tail -n1 <<<"$out") == 0 ]]'
        check "$1: a human's ssh login (password) works" \
                '[[ $(sshpass -p alice ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o PubkeyAuthentication=no alice@localhost id -un 2>&1 | tail -n1) == alice ]]'
        check "$1: a human's ssh login (key) works" \
                '[[ $(su alice -c "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null alice@localhost id -un" 2>&1 | tail -n1) == alice ]]'
}

# --- install, exactly the README's command ------------------------------------
check "package install (README: apt install ./build-debs/...)" \
        'cd /root/agentid && DEBIAN_FRONTEND=noninteractive apt install -y ./build-debs/agentid_*.deb ./build-debs/libnss-agentid_*.deb ./build-debs/libpam-agentid_*.deb'
check "install: agentid.socket and agentid.service enabled and running" \
        'systemctl is-enabled agentid.socket agentid.service && systemctl is-active agentid.socket agentid.service'
check "install: nsswitch.conf has agentid after files, systemd kept (passwd, group, shadow)" \
        'grep -Eq "^passwd:\s+files agentid systemd$" /etc/nsswitch.conf &&
         grep -Eq "^group:\s+files agentid systemd$" /etc/nsswitch.conf &&
         grep -Eq "^shadow:\s+files agentid systemd$" /etc/nsswitch.conf'
check "install: pam-auth-update put pam_agentid in common-auth/account/session" \
        'grep -q pam_agentid /etc/pam.d/common-auth && grep -q pam_agentid /etc/pam.d/common-account && grep -q pam_agentid /etc/pam.d/common-session'
check "install: admins group, runtime and state directories, catalog" \
        'getent group agentid-admins && test -d /run/agentid -a -d /var/lib/agentid &&
         journalctl --list-catalog | grep -q 6b1f3b0f2a6d4c3e9d1a52c7e1f0a901'
human_checks "installed"

# --- the README's checks ------------------------------------------------------
check "README: agentctl status" 'agentctl status'
check "README: agentctl run -- id (a fresh agent, then gone)" \
        'out=$(agentctl run -- id); echo "$out"; name=$(sed -n "s/^uid=[0-9]*(\([^)]*\)).*/\1/p" <<<"$out");
         [[ $name == ag-default-* ]] && ! getent passwd "$name"'
check "README: getent passwd of a live agent" \
        'name=$(agentctl --json mint --ttl 5m --reason readme | jq -r .name); getent passwd "$name" && agentctl revoke "$name"'
check "README: journalctl -u agentid -o verbose AGENTID_EVENT=run" \
        'journalctl -u agentid -o verbose AGENTID_EVENT=run | grep -q "AGENTID_EVENT=run"'
check "README: the example template, then agentctl run --template triage -- id" \
        'cp /usr/share/doc/agentid/examples/templates.d/triage.conf /etc/agentid/templates.d/ &&
         systemctl reload-or-restart agentid &&
         agentctl run --template triage -- id | grep -q "(ag-triage-"'

# --- an agent that ran outside a task: revoked, nothing of it left --------------
check "revoke: agentctl status says ended uids' processes are killed at once (under the unit)" \
        'agentctl status | grep -q "^ended uids: *processes killed at once"'
check "revoke: the agent's processes, its files in the host's /tmp, /var/tmp, /dev/shm and its SysV IPC go" \
        'name=$(agentctl --json mint --ttl 5m | jq -r .name); uid=$(id -u "$name")
         setpriv --reuid=$uid --regid=$uid --clear-groups -- sh -c "echo x >/tmp/left.$uid; echo x >/var/tmp/left.$uid; echo x >/dev/shm/left.$uid; ipcmk -M 4096 >/dev/null; exec sleep 300" &
         for i in $(seq 50); do [ -e /dev/shm/left.$uid ] && [ -n "$(awk -v u=$uid "\$8 == u" /proc/sysvipc/shm)" ] && break; sleep 0.1; done
         agentctl revoke "$name" >/dev/null
         for i in $(seq 50); do
                 [ -z "$(ps -e -o ruid= | awk -v u=$uid "\$1 == u")" ] && [ ! -e /tmp/left.$uid ] && [ ! -e /var/tmp/left.$uid ] &&
                         [ ! -e /dev/shm/left.$uid ] && [ -z "$(awk -v u=$uid "\$8 == u" /proc/sysvipc/shm)" ] && exit 0
                 sleep 0.1
         done
         ls -la /tmp/left.$uid /var/tmp/left.$uid /dev/shm/left.$uid; cat /proc/sysvipc/shm; exit 1'

# --- re-reading templates: running and idle ----------------------------------
template() { # NAME [KEY=VALUE...]: a template file inside
        local t="[template]\nname = $1\ninvokers = root\napprovers = root\n" kv
        for kv in "${@:2}"; do t+="${kv}\n"; done
        inside "printf '$t' >/etc/agentid/templates.d/$1.conf"
}
template reload-running
inside 'agentctl run --template triage --ttl 2m -- sh -c "sleep 6; echo task-survived" >/root/reload-task.out 2>&1; echo $? >/root/reload-task.rc' >/dev/null &
task=$!
sleep 1.5
check "reload while running: systemctl reload-or-restart agentid re-reads templates, same broker, task survives" \
        'pid=$(systemctl show -P MainPID agentid); systemctl reload-or-restart agentid && sleep 0.5 &&
         agentctl status | grep -q reload-running && [[ $(systemctl show -P MainPID agentid) == "$pid" ]]'
wait $task
check "reload while running: the task finished" 'grep -q task-survived /root/reload-task.out && [[ $(cat /root/reload-task.rc) == 0 ]]'
inside 'systemctl stop agentid.service' >/dev/null
template reload-idle
check "reload while idle: systemctl reload-or-restart agentid re-reads templates" \
        'systemctl is-active agentid.socket && ! systemctl is-active agentid.service &&
         systemctl reload-or-restart agentid && agentctl status | grep -q reload-idle'

# --- a bad config: reported, not wedged, one command brings it back ------------
inside 'cp /etc/agentid/agentid.conf /root/conf.good && sed -i "s/^uid_min = .*/uid_min = banana/" /etc/agentid/agentid.conf' >/dev/null
inside 'systemctl restart agentid' >/dev/null
check "bad config: systemctl status names the file and the problem" \
        'systemctl status agentid --no-pager -l 2>&1 | grep -q "agentid.conf.*uid_min"'
check "bad config: the journal names it" 'journalctl -u agentid -b --no-pager | grep -q "agentid.conf.*uid_min"'
check "bad config: agentctl status says what is wrong (not just connection refused)" \
        'out=$(agentctl status 2>&1); echo "$out"; grep -q "uid_min" <<<"$out"'
check "bad config: 10 clients later the socket still listens (no start-limit wedge)" \
        'for i in $(seq 10); do agentctl status >/dev/null 2>&1; done; sleep 1; systemctl is-active agentid.socket'
inside 'cp /root/conf.good /etc/agentid/agentid.conf' >/dev/null
check "bad config fixed: systemctl restart agentid brings the service back" \
        'systemctl restart agentid && agentctl status >/dev/null'
check "six quick stop/starts: still serving" \
        'for i in $(seq 6); do systemctl stop agentid; systemctl start agentid; done; agentctl status >/dev/null && systemctl is-active agentid.socket'

# --- step-up: NOPASSWD sudo and sudo = approve ---------------------------------
template stepper "sudo = approve"
inside 'printf "ALL ALL=(root) NOPASSWD: /usr/bin/true\nALL ALL=(root) /usr/bin/id\n" >/etc/sudoers.d/agents-test && chmod 0440 /etc/sudoers.d/agents-test &&
    systemctl reload-or-restart agentid' >/dev/null
stepper=$(inside 'agentctl --json mint --template stepper --ttl 5m --reason step-up | jq -r ".name + \" \" + (.uid|tostring)"')
read -r sname suid <<<"$stepper"
inside "setpriv --reuid=$suid --regid=$suid --clear-groups sudo /usr/bin/true >/root/stepup.out 2>&1; echo \$? >/root/stepup.rc" >/dev/null &
sudo_bg=$!
check "NOPASSWD + sudo = approve: sudo still files a request" \
        "for i in \$(seq 50); do id=\$(agentctl --json pending | jq -r '.[] | select(.agent == \"$sname\") | .id'); [[ -n \$id ]] && break; sleep 0.2; done;
         [[ -n \$id ]] && agentctl deny \"\$id\" --reason 'not now'"
wait $sudo_bg
check "NOPASSWD + sudo = approve: denied, sudo refused and says why" \
        '[[ $(cat /root/stepup.rc) != 0 ]] && grep -q "was denied" /root/stepup.out'
for cmd in /usr/bin/true /usr/bin/id; do
        rule=$([[ $cmd == /usr/bin/true ]] && echo NOPASSWD || echo password)
        check "refused step-up (sudo = deny, $rule rule) says why, not \"incorrect password attempts\"" \
                'uid=$(agentctl --json mint --template triage --ttl 5m --reason deny | jq -r .uid);
                 out=$(setpriv --reuid=$uid --regid=$uid --clear-groups sudo '"$cmd"' </dev/null 2>&1); rc=$?; echo "$out";
                 ((rc != 0)) && grep -q "sudo = deny" <<<"$out" && ! grep -q "incorrect password" <<<"$out"'
done

# --- reboot: agents resolve from boot, expired ones never ----------------------
live=$(inside 'agentctl --json mint --template triage --ttl 30m --reason "survives reboot" | jq -r .name')
short=$(inside 'agentctl --json mint --template triage --ttl 3s --reason "expires while down" | jq -r .name')
if host_poweroff >>"$log" 2>&1; then pass "reboot: clean poweroff"; else fail "reboot: clean poweroff" "see $log"; fi
sleep 3
if host_boot >>"$log" 2>&1; then pass "reboot: boots again"; else fail "reboot: boots again" "see $log"; fi
# The first commands after boot: no client has connected to the broker.
check "reboot: a live agent resolves right after boot, before any client" "getent passwd $live"
check "reboot: an agent that expired while down does not" "! getent passwd $short"
check "reboot: ... and the broker expired it at start" \
        "journalctl -b -u agentid -o verbose AGENTID_EVENT=expire AGENTID_AGENT=$short | grep -q AGENTID_EVENT=expire"
check "reboot: the broker was started by boot" \
        'systemctl is-active agentid.service && journalctl -b -u agentid -o verbose AGENTID_EVENT=start | grep -q AGENTID_EVENT=start'

# --- upgrade with a task running ----------------------------------------------
inside 'sed -i "s/^#admins = .*/admins = @agentid-admins/" /etc/agentid/agentid.conf' >/dev/null
if wait $bg_build; then
        pass "rebuilt packages (newer version) build"
        host_copy "$out/debs-upgrade" /root/agentid/build-debs-upgrade
else
        fail "rebuilt packages (newer version) build" "see $out/build-upgrade.log"
fi
bg_build=
inside 'agentctl run --template triage --ttl 5m -- sh -c "sleep 8; echo task-finished" >/root/upgrade-task.out 2>&1; echo $? >/root/upgrade-task.rc' >/dev/null &
task=$!
sleep 1.5
check "upgrade: apt install of the newer packages with a task running" \
        'pid=$(systemctl show -P MainPID agentid); echo $pid >/root/broker.pid;
         cd /root/agentid && DEBIAN_FRONTEND=noninteractive apt install -y ./build-debs-upgrade/agentid_*.deb ./build-debs-upgrade/libnss-agentid_*.deb ./build-debs-upgrade/libpam-agentid_*.deb &&
         dpkg-query -W -f="\${Version}" agentid | grep -q rebuild'
wait $task
check "upgrade: the running task finished (exit 0, its output)" \
        'grep -q task-finished /root/upgrade-task.out && [[ $(cat /root/upgrade-task.rc) == 0 ]]'
check "upgrade: the broker was not restarted" '[[ $(systemctl show -P MainPID agentid) == $(cat /root/broker.pid) ]]'
check "upgrade: the edited /etc/agentid/agentid.conf kept (conffile)" \
        'grep -q "^admins = @agentid-admins" /etc/agentid/agentid.conf && test -f /etc/agentid/templates.d/triage.conf'
check "upgrade: nsswitch.conf and the PAM stack unchanged" \
        '[[ $(grep -c agentid /etc/nsswitch.conf) == 3 ]] && [[ $(grep -c pam_agentid /etc/pam.d/common-auth) == 1 ]]'

# --- removal, exactly the README's commands -----------------------------------
check "removal (README: agentctl revoke --all; apt remove ...)" \
        'agentctl revoke --all --reason "uninstalling" &&
         DEBIAN_FRONTEND=noninteractive apt remove -y agentid libnss-agentid libpam-agentid'
check "removal: no PAM file names pam_agentid" '! grep -rl pam_agentid /etc/pam.d'
check "removal: nsswitch.conf without agentid, with systemd" \
        '! grep -q agentid /etc/nsswitch.conf && grep -Eq "^passwd:\s+files systemd$" /etc/nsswitch.conf && grep -Eq "^shadow:\s+files systemd$" /etc/nsswitch.conf'
check "removal: no /run/agentid, no catalog entries" \
        'test ! -e /run/agentid && ! journalctl --list-catalog | grep -q 6b1f3b0f2a6d4c3e9d1a52c7e1f0a9'
human_checks "removed"

# --- purge ----------------------------------------------------------------------
check "purge (apt purge agentid libnss-agentid libpam-agentid)" \
        'DEBIAN_FRONTEND=noninteractive apt purge -y agentid libnss-agentid libpam-agentid'
check "purge: nothing of agentid left (files, group, dpkg records)" \
        'left=$(find / -xdev \( -path /proc -o -path /var/log/journal -o -path /root/agentid \) -prune -o -iname "*agentid*" -print);
         echo "$left"; [[ -z $left ]] && ! getent group agentid-admins && ! dpkg -l "*agentid*" 2>/dev/null | grep -q "^[a-z][a-z]"'
human_checks "purged"

echo "host test: $passed passed, $failed failed ($(($(date +%s) - started))s; log $log)"
((failed == 0))
