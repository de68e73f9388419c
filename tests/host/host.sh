#!/bin/bash
# A Debian 12 host with systemd as PID 1, for tests that need a real init:
# a root made once with debootstrap from this machine's own apt sources
# (cached), copied per machine, booted with systemd-nspawn, driven through
# nsenter. It never touches this machine's /etc or /run: the machine's root
# is a directory under $AGENTID_HOST_STATE, its network is private (only
# lo), its uids are its own (a user namespace), and it is not registered
# with machined.
#
#   host.sh check              exit 0 if this machine can boot one, else print why (exit 77)
#   host.sh image              make (or reuse) the cached base root
#   host.sh create             fresh machine root from the base (drops the old one)
#   host.sh boot               boot it; returns when systemd is up
#   host.sh run CMD...         run CMD inside (nsenter, as root, clean env); exit status is CMD's
#   host.sh unit CMD...        run CMD inside as a transient unit (systemd-run --wait --pipe)
#   host.sh install PATH...    *.deb files: dpkg -i them; a build dir: make install into it;
#                              any other dir: copy its tree onto the machine's /
#   host.sh copy SRC DEST      copy a host file or dir to DEST inside (through tar)
#   host.sh poweroff           clean shutdown (systemctl poweroff), waits for it
#   host.sh kill               stop it now (SIGKILL), for cleanup paths
#   host.sh destroy            poweroff/kill and delete the machine's root
#   host.sh status             running or not, with the PID of its PID 1
#   host.sh journal [ARGS]     journalctl inside, e.g. journal -u agentid -b
#
# Several machines may exist at once: AGENTID_HOST names one (default
# "agentid-test"); each engineer or test uses its own name. Sourcing this
# file (". tests/host/host.sh") defines the same verbs as host_<verb>
# functions without running anything.
set -uo pipefail

AGENTID_HOST=${AGENTID_HOST:-agentid-test}
AGENTID_HOST_CACHE=${AGENTID_HOST_CACHE:-/var/cache/agentid-test-host}
AGENTID_HOST_STATE=${AGENTID_HOST_STATE:-/var/tmp/agentid-test-host}
# Boot timeout (s) for systemd to report running/degraded.
AGENTID_HOST_BOOT_TIMEOUT=${AGENTID_HOST_BOOT_TIMEOUT:-60}

# What the base root holds: systemd, and every runtime dependency of the
# agentid packages plus the programs the checks drive, so that nothing in
# the machine needs the network. Changing the list rebuilds the base.
HOST_SUITE=bookworm
HOST_PACKAGES=systemd,systemd-sysv,libnss-systemd,dbus,libpam-runtime,libpam-modules,sudo,openssh-server,openssh-client,sshpass,libjansson4,libinih1,libsqlite3-0,libssl3,libsystemd0,sqlite3,jq,procps,less,passwd,login

_host_dir() { echo "$AGENTID_HOST_STATE/$AGENTID_HOST"; }
_host_root() { echo "$AGENTID_HOST_STATE/$AGENTID_HOST/root"; }
_host_log() { echo "$AGENTID_HOST_STATE/$AGENTID_HOST/console.log"; }
_host_err() { echo "host.sh: $*" >&2; }

# The apt mirror this machine itself uses for Debian (deb822 or one-line).
_host_mirror() {
        local uri
        uri=$(grep -hs -A3 '^Types: *deb' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
                sed -n 's/^URIs: *//p' | grep -v security | grep -i debian | head -n1)
        [[ -z $uri ]] && uri=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
                awk '$2 ~ /debian/ && $2 !~ /security/ {print $2; exit}')
        echo "${uri:-http://deb.debian.org/debian}"
}

# Why this machine cannot boot a systemd host, or nothing.
host_cannot() {
        [[ $(id -u) -eq 0 ]] || { echo "needs root"; return 0; }
        command -v systemd-nspawn >/dev/null || { echo "systemd-nspawn missing (apt-get install systemd-container)"; return 0; }
        command -v debootstrap >/dev/null || { echo "debootstrap missing (apt-get install debootstrap)"; return 0; }
        command -v nsenter >/dev/null || { echo "nsenter missing (util-linux)"; return 0; }
        [[ -d /sys/fs/cgroup ]] || { echo "no /sys/fs/cgroup"; return 0; }
        if [[ ! -f $AGENTID_HOST_CACHE/base/.stamp ]] && [[ ${AGENTID_HOST_OFFLINE:-} == 1 ]]; then
                echo "no cached base root and AGENTID_HOST_OFFLINE=1"
                return 0
        fi
        return 1
}

host_check() {
        local why
        if why=$(host_cannot); then
                echo "SKIP: $why"
                return 77
        fi
        return 0
}

# The base root, made once and reused while HOST_PACKAGES is unchanged.
host_image() {
        local base=$AGENTID_HOST_CACHE/base stamp="$HOST_SUITE $HOST_PACKAGES"
        if [[ -f $base/.stamp && $(cat "$base/.stamp") == "$stamp" ]]; then
                return 0
        fi
        mkdir -p "$AGENTID_HOST_CACHE"
        (
                # One builder at a time; others wait and then reuse it.
                flock 9
                [[ -f $base/.stamp && $(cat "$base/.stamp") == "$stamp" ]] && exit 0
                local tmp=$AGENTID_HOST_CACHE/base.tmp mirror
                mirror=$(_host_mirror)
                rm -rf "$tmp"
                echo "host.sh: debootstrap $HOST_SUITE from $mirror (once; cached in $base)" >&2
                if ! debootstrap --variant=minbase --include="$HOST_PACKAGES" \
                        --cache-dir="$AGENTID_HOST_CACHE/debs" \
                        "$HOST_SUITE" "$tmp" "$mirror" >"$AGENTID_HOST_CACHE/debootstrap.log" 2>&1; then
                        _host_err "debootstrap failed (see $AGENTID_HOST_CACHE/debootstrap.log):"
                        tail -5 "$AGENTID_HOST_CACHE/debootstrap.log" >&2
                        exit 1
                fi
                _host_prepare_base "$tmp"
                rm -rf "$base"
                echo "$stamp" >"$tmp/.stamp"
                mv "$tmp" "$base"
        ) 9>"$AGENTID_HOST_CACHE/.lock"
}

# One-time settings of the base root: a hostname, a root password for
# console logins, no getty on a console nobody reads, apt without network,
# and a human user ("alice", password "alice") for the checks.
_host_prepare_base() {
        local r=$1
        echo agentid-host >"$r/etc/hostname"
        printf '127.0.0.1 localhost\n127.0.1.1 agentid-host\n::1 localhost\n' >"$r/etc/hosts"
        : >"$r/etc/machine-id"
        rm -f "$r/var/lib/dbus/machine-id"
        chroot "$r" /bin/sh -c 'echo root:root | chpasswd' || return 1
        chroot "$r" /bin/sh -c 'useradd -m -s /bin/bash -G sudo alice && echo alice:alice | chpasswd' || return 1
        chroot "$r" systemctl mask getty@tty1.service console-getty.service \
                systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer \
                e2scrub_reap.service >/dev/null 2>&1 || true
        # No network inside: apt must never try.
        rm -f "$r"/etc/apt/sources.list "$r"/etc/apt/sources.list.d/*
        rm -f "$r"/var/cache/apt/archives/*.deb
        return 0
}

host_create() {
        local base=$AGENTID_HOST_CACHE/base
        host_image || return 1
        if [[ ${AGENTID_HOST_PRIVATE_USERS:-1} != 0 ]]; then
                _host_image_shifted || return 1
                base=$AGENTID_HOST_CACHE/base-userns
        fi
        host_destroy >/dev/null 2>&1
        mkdir -p "$(_host_dir)"
        cp -a "$base" "$(_host_root)" || return 1
        # The machine's / must be world-searchable whatever made the cached
        # root (a 0700 root breaks every unit that runs as a non-root user).
        chmod 0755 "$(_host_root)"
        rm -f "$(_host_root)/.stamp"
}

# The base root with every file's owner and group moved up by
# HOST_USERNS_BASE, made once from the base (modes kept: chown clears
# set-user-ID bits, which sudo needs).
_host_image_shifted() {
        local shifted=$AGENTID_HOST_CACHE/base-userns stamp
        stamp="$(cat "$AGENTID_HOST_CACHE/base/.stamp") userns $HOST_USERNS_BASE"
        [[ -f $shifted/.stamp && $(cat "$shifted/.stamp") == "$stamp" ]] && return 0
        (
                flock 9
                [[ -f $shifted/.stamp && $(cat "$shifted/.stamp") == "$stamp" ]] && exit 0
                rm -rf "$shifted.tmp"
                cp -a "$AGENTID_HOST_CACHE/base" "$shifted.tmp" || exit 1
                find "$shifted.tmp" -xdev -print0 | perl -MPOSIX -0 -ne '
                        chomp; my @st = lstat($_) or next;
                        POSIX::lchown($st[4] + '"$HOST_USERNS_BASE"', $st[5] + '"$HOST_USERNS_BASE"', $_) or die "$_: $!\n";
                        chmod($st[2] & 07777, $_) or die "$_: $!\n" unless -l $_;' || exit 1
                echo "$stamp" >"$shifted.tmp/.stamp"
                rm -rf "$shifted"
                mv "$shifted.tmp" "$shifted"
        ) 9>"$AGENTID_HOST_CACHE/.lock-userns"
}

# PID of the nspawn process (in this machine's namespaces) and of the
# machine's PID 1 (systemd), or nothing.
_host_nspawn_pid() {
        local f pid
        f=$(_host_dir)/nspawn.pid
        [[ -f $f ]] || return 1
        pid=$(cat "$f")
        [[ -n $pid && -d /proc/$pid ]] || return 1
        [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *"systemd-nspawn"*"$(_host_root)"* ]] || return 1
        echo "$pid"
}
_host_leader() {
        local np child
        np=$(_host_nspawn_pid) || return 1
        for child in $(ps -o pid= --ppid "$np" 2>/dev/null); do
                # PID 1 of the machine lives in a PID namespace of its own.
                if [[ $(readlink "/proc/$child/ns/pid") != "$(readlink /proc/self/ns/pid)" ]]; then
                        echo "$child"
                        return 0
                fi
        done
        return 1
}

# The cgroup layout nspawn gives the machine: unified (v2, as on a stock
# Debian 12) when this machine's kernel has cgroup2, else what nspawn picks.
_host_cgroup_env() {
        if [[ -n ${AGENTID_HOST_UNIFIED:-} ]]; then
                echo "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=$AGENTID_HOST_UNIFIED"
        elif grep -qw cgroup2 /proc/filesystems; then
                echo SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
        fi
}

# Each machine gets a cgroup of its own in this machine's unified and
# name=systemd hierarchies (nspawn puts the container in "payload" below
# the cgroup it runs in, so two machines in one cgroup would share it).
_host_cgroups() {
        local h
        for h in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd /sys/fs/cgroup; do
                [[ -f $h/cgroup.procs ]] || continue
                [[ $h == /sys/fs/cgroup && -d /sys/fs/cgroup/systemd ]] && continue
                echo "$h/agentid-test-host/$AGENTID_HOST"
        done
}
_host_cgroups_make() {
        local c
        for c in $(_host_cgroups); do
                mkdir -p "$c" || return 1
        done
}
_host_cgroups_remove() {
        local c
        for c in $(_host_cgroups); do
                [[ -d $c ]] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
                rmdir "$(dirname "$c")" 2>/dev/null
        done
        return 0
}

# The machine's uids, agents' included, are this machine's uids from 2^31
# up (a user namespace): a broker on this machine that owns the default
# agent range, and sweeps it for processes without a live identity, never
# sees the machine's agents as its own (it would kill their tasks), and the
# machine's root is not this machine's root. The cached base root is kept
# twice: as debootstrap made it, and shifted by 2^31 (nspawn shifts only
# 2^16-uid ranges itself). AGENTID_HOST_PRIVATE_USERS=0 turns it off (then
# both share uids).
HOST_USERNS_BASE=2147483648
HOST_USERNS_SIZE=2147483647
# Whether a machine has its own uids is decided when it is created (which
# base it copies); booting and entering follow what its root is.
_host_userns_args() {
        [[ $(stat -c %u "$(_host_root)") == "$HOST_USERNS_BASE" ]] || return 0
        echo "--private-users=$HOST_USERNS_BASE:$HOST_USERNS_SIZE --private-users-ownership=off"
}
_host_userns_enter() { # LEADER
        [[ $(readlink "/proc/$1/ns/user") == "$(readlink /proc/self/ns/user)" ]] || echo "-U"
}

host_boot() {
        local root log np leader i state env
        root=$(_host_root)
        log=$(_host_log)
        [[ -d $root ]] || { host_create || return 1; }
        if _host_leader >/dev/null; then
                return 0
        fi
        env=$(_host_cgroup_env)
        : >"$log"
        # --register=no --keep-unit: no machined or bus needed (this
        # machine's PID 1 need not be systemd). nspawn runs in a mount
        # namespace of its own with a fresh /run, so its runtime files
        # (/run/systemd/nspawn) never land in this machine's /run.
        # --private-network: only lo inside, so sshd and the broker's
        # socket never meet this machine's.
        _host_cgroups_make || return 1
        env $env AGENTID_HOST_CGROUPS="$(_host_cgroups)" setsid unshare -m --propagation private sh -c \
                'for c in $AGENTID_HOST_CGROUPS; do echo $$ >"$c/cgroup.procs" || exit 1; done
                 mount -t tmpfs -o mode=0755 tmpfs /run && exec "$@"' sh \
                systemd-nspawn --quiet --boot --directory="$root" \
                --machine="$AGENTID_HOST" --register=no --keep-unit --private-network $(_host_userns_args) \
                --resolv-conf=off --timezone=off --link-journal=no \
                --console=passive --kill-signal=SIGRTMIN+3 \
                >>"$log" 2>&1 </dev/null &
        np=$!
        echo "$np" >"$(_host_dir)/nspawn.pid"
        for ((i = 0; i < AGENTID_HOST_BOOT_TIMEOUT * 5; i++)); do
                if ! kill -0 "$np" 2>/dev/null; then
                        _host_err "systemd-nspawn exited during boot:"
                        tail -20 "$log" >&2
                        return 1
                fi
                if leader=$(_host_leader); then
                        state=$(nsenter -t "$leader" $(_host_userns_enter "$leader") -m -u -i -n -p -C -- \
                                /bin/systemctl is-system-running 2>/dev/null)
                        case $state in
                        running | degraded) return 0 ;;
                        esac
                fi
                sleep 0.2
        done
        _host_err "the machine did not finish booting in ${AGENTID_HOST_BOOT_TIMEOUT}s (state: ${state:-none}); log: $log"
        tail -20 "$log" >&2
        return 1
}

# Run a command inside: root, in every namespace of the machine, with a
# clean environment (as a root shell on that host would have).
host_run() {
        local leader
        leader=$(_host_leader) || { _host_err "$AGENTID_HOST is not running"; return 125; }
        nsenter -t "$leader" $(_host_userns_enter "$leader") -m -u -i -n -p -C -r -w -- \
                /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}

# Run a command inside as a transient service of the machine's systemd, so
# it gets a unit, a cgroup and the machine's own environment.
host_unit() {
        host_run systemd-run --quiet --wait --pipe --collect --service-type=exec -- "$@"
}

host_copy() { # SRC DEST
        local src=$1 dest=$2
        if [[ -d $src ]]; then
                host_run mkdir -p "$dest" &&
                        tar -C "$src" -cf - . | host_run tar -C "$dest" --no-same-owner -xf -
        else
                host_run mkdir -p "$(dirname "$dest")" &&
                        host_run sh -c 'cat >"$1"' sh "$dest" <"$src"
        fi
}

host_install() {
        local p debs=() tmp
        for p in "$@"; do
                if [[ -f $p && $p == *.deb ]]; then
                        debs+=("$p")
                elif [[ -d $p && -f $p/Makefile ]]; then
                        tmp=$(mktemp -d)
                        make -C "$p" install DESTDIR="$tmp" >/dev/null || { rm -rf "$tmp"; return 1; }
                        tar -C "$tmp" -cf - . | host_run tar -C / --no-same-owner --keep-directory-symlink -xf -
                        rm -rf "$tmp"
                elif [[ -d $p ]]; then
                        tar -C "$p" -cf - . | host_run tar -C / --no-same-owner --keep-directory-symlink -xf -
                else
                        _host_err "install: $p is neither a .deb nor a directory"
                        return 2
                fi
        done
        if ((${#debs[@]})); then
                host_run rm -rf /var/tmp/agentid-debs && host_run mkdir -p /var/tmp/agentid-debs || return 1
                for p in "${debs[@]}"; do
                        host_copy "$p" "/var/tmp/agentid-debs/$(basename "$p")" || return 1
                done
                host_run sh -c 'DEBIAN_FRONTEND=noninteractive dpkg -i /var/tmp/agentid-debs/*.deb' || return 1
        fi
}

_host_wait_gone() {
        local np=$1 i
        for ((i = 0; i < ${2:-150}; i++)); do
                kill -0 "$np" 2>/dev/null || return 0
                sleep 0.2
        done
        return 1
}

host_poweroff() {
        local np
        np=$(_host_nspawn_pid) || return 0
        host_run systemctl poweroff >/dev/null 2>&1 || kill -RTMIN+4 "$(_host_leader)" 2>/dev/null
        if ! _host_wait_gone "$np" 300; then
                _host_err "no clean poweroff in 60s; killing"
                host_kill
                return 1
        fi
        rm -f "$(_host_dir)/nspawn.pid"
        _host_cgroups_remove
}

host_kill() {
        local np
        np=$(_host_nspawn_pid) || return 0
        kill -KILL "$np" 2>/dev/null
        local leader
        leader=$(_host_leader) && kill -KILL "$leader" 2>/dev/null
        _host_wait_gone "$np" 50
        rm -f "$(_host_dir)/nspawn.pid"
        _host_cgroups_remove
}

host_destroy() {
        host_poweroff >/dev/null 2>&1 || host_kill
        local d
        d=$(_host_dir)
        # Only ever inside the state directory.
        [[ $d == "$AGENTID_HOST_STATE"/?* ]] && rm -rf --one-file-system "$d"
}

host_status() {
        local leader
        if leader=$(_host_leader); then
                echo "$AGENTID_HOST: running (PID 1 is $leader on this machine); root $(_host_root)"
        else
                echo "$AGENTID_HOST: not running; root $(_host_root)"
                return 3
        fi
}

host_journal() { host_run journalctl --no-pager "$@"; }

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
        verb=${1:-}
        shift || true
        case $verb in
        check | image | create | boot | run | unit | install | copy | poweroff | kill | destroy | status | journal)
                "host_$verb" "$@"
                exit $?
                ;;
        *)
                sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
                exit 2
                ;;
        esac
fi
