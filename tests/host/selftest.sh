#!/bin/bash
# The systemd test host itself: boots with systemd as PID 1 on cgroup v2,
# runs commands and units inside, keeps its disk across a reboot, and
# leaves nothing behind. Prints PASS/FAIL per check; exit 77 (SKIP) when
# this machine cannot boot one.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export AGENTID_HOST=${AGENTID_HOST:-agentid-selftest}
. "$here/host.sh"
host_check || exit 77
failed=0
check() { # NAME COMMAND...
        if "${@:2}" >/dev/null 2>&1; then echo "PASS: $1"; else echo "FAIL: $1"; failed=1; fi
}
trap 'host_destroy >/dev/null 2>&1' EXIT
if ! host_image >/dev/null 2>&1; then
        echo "SKIP: systemd host: cannot make the Debian 12 root: $(tail -n1 "$AGENTID_HOST_CACHE/debootstrap.log" 2>/dev/null)"
        exit 77
fi
if ! { host_create && host_boot; } >/dev/null 2>&1; then
        echo "SKIP: systemd host: systemd-nspawn cannot boot it here: $(tail -n3 "$(_host_log)" | tr '\n' ' ')"
        exit 77
fi
echo "PASS: boot"
check "systemd is PID 1" test "$(host_run cat /proc/1/comm)" = systemd
check "cgroup v2 inside" test "$(host_run stat -fc %T /sys/fs/cgroup)" = cgroup2fs
check "run: exit status passes through" bash -c '! '"$here"'/host.sh run false'
check "unit: a transient service runs" test "$(host_unit id -u)" = 0
check "private network (only lo)" test "$(host_run ls /sys/class/net)" = lo
host_run sh -c 'echo kept >/var/lib/selftest'
check "poweroff" host_poweroff
check "boot again" host_boot
check "disk kept across reboot" test "$(host_run cat /var/lib/selftest)" = kept
check "new boot id" test "$(host_run journalctl --list-boots --no-pager -q | wc -l)" -ge 2
host_destroy
check "destroy leaves no root" test ! -e "$(_host_dir)"
exit $failed
