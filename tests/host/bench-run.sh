#!/bin/bash
# make bench, the systemd task runtime: `agentctl run -- true` end to end
# beside the anchor `systemd-run --wait --pipe -p DynamicUser=yes true`, both
# on the systemd test host (tests/host/host.sh) in this same run, and a
# control: systemd-run with the very properties and agentid-task-exec
# command line of a task's unit (systemd's and agentid-task-exec's share of
# a task, without the broker and agentctl); then the direct runtime
# (task_runtime = direct under agentid.service) beside the anchor again.
# Runs interleaved so that drift hits all alike; prints p50/p99 of each and
# their ratios. Prints one SKIP line
# with the reason (exit 77) when no host can boot here.
#
#   tests/host/bench-run.sh BUILD_DIR [RUNS]
# BUILD_DIR: a build configured as the package is (--prefix=/usr
# --sysconfdir=/etc --localstatedir=/var: the units and paths the host's
# systemd uses) is installed as it is; any other is configured that way
# once more in BUILD_DIR/host-bench and built there (the first time takes a
# minute or two; later runs rebuild only what changed). RUNS: of each
# (default 40, after 3 warm-up runs of each).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export AGENTID_HOST=${AGENTID_HOST:-agentid-bench}
. "$here/host.sh"
(($# >= 1)) || { echo "usage: bench-run.sh BUILD_DIR [RUNS]" >&2; exit 2; }
build=$(cd "$1" && pwd)
runs=${2:-40}

if why=$(host_cannot); then
        echo "SKIP: systemd host: $why"
        exit 77
fi
var() { sed -n "s/^$1 = //p" "$2/Makefile"; }
packaged() { [[ $(var prefix "$1") == /usr && $(var sysconfdir "$1") == /etc && $(var localstatedir "$1") == /var ]]; }
if ! packaged "$build"; then
        src=$(cd "$here/../.." && pwd)
        mkdir -p "$build/host-bench"
        if ! packaged "$build/host-bench" 2>/dev/null; then
                (cd "$build/host-bench" && "$src/configure" --prefix=/usr --sysconfdir=/etc --localstatedir=/var) \
                        >"$build/host-bench/configure.out" 2>&1 ||
                        { echo "FAIL: systemd host: configure (see $build/host-bench/configure.out)"; exit 1; }
        fi
        make -C "$build/host-bench" -j2 >"$build/host-bench/make.out" 2>&1 ||
                { echo "FAIL: systemd host: build (see $build/host-bench/make.out)"; exit 1; }
        build=$build/host-bench
fi
install=("$build")
trap '[[ ${AGENTID_HOST_KEEP:-} == 1 ]] || host_destroy >/dev/null 2>&1' EXIT
host_create >/dev/null && host_boot >/dev/null || { echo "FAIL: systemd host: boot"; exit 1; }
host_install "${install[@]}" >/dev/null 2>&1 || { echo "FAIL: systemd host: install"; exit 1; }
host_run bash -c 'chmod 0755 / && { grep -q "^passwd:.*agentid" /etc/nsswitch.conf || sed -i -E "s/^(passwd|group):.*/& agentid/" /etc/nsswitch.conf; } &&
mkdir -p /etc/agentid/templates.d && printf "[template]\nname = default\nttl = 5m\n" >/etc/agentid/templates.d/default.conf &&
systemctl daemon-reload && systemctl start agentid.socket && systemctl restart agentid.service' >/dev/null 2>&1 ||
        { echo "FAIL: systemd host: start agentid"; exit 1; }

# Inside: one line per run, "agentctl MS", "anchor MS" or "same MS", timed
# with bash's own clock (no fork for the clock itself). "same" is the
# control: systemd-run with the properties and the agentid-task-exec command
# line of a task's own unit (read from its transient unit file while one
# runs; as nobody, in a directory of its own), so that the unit's own share
# of a task (the same unit, set up and torn down) shows apart from the
# broker's and agentctl's.
inner=$(mktemp /tmp/agentid-bench-run.XXXXXX)
cat >"$inner" <<'INNER'
runs=$1
runtime=$(agentctl status | sed -n "s/^ *task runtime: *//p")
echo "runtime $runtime"
ms() { local s=$EPOCHREALTIME; "$@" >/dev/null 2>&1 || echo "failed $*" >&2; local e=$EPOCHREALTIME; echo "$(((${e/./} - ${s/./}) / 10))"; }
agentctl run -- sleep 3 >/dev/null 2>&1 &
unit=
for i in $(seq 100); do unit=$(cat /run/systemd/transient/agentid-task-*.service 2>/dev/null); [ -n "$unit" ] && break; sleep 0.05; done
wait
home=/var/lib/agentid-bench-control
mkdir -p "$home" && chown 65534:65534 "$home"
same=() exec=()
while IFS= read -r line; do
        case $line in
        ""|"#"*|"["*|Description=*|Environment=*|ExecStart=) continue ;;
        ExecStart=@*)
                # agentid-task-exec's command line, as nobody in a home
                # of its own, running true.
                eval "set -- ${line#ExecStart=@}"
                exec=("$1"); shift 2
                for a in "$@"; do
                        case $a in
                        --uid=*) a=--uid=65534 ;;
                        --gid=*) a=--gid=65534 ;;
                        --home=*) a=--home=$home ;;
                        --) break ;;
                        esac
                        exec+=("$a")
                done
                exec+=(-- /usr/bin/true true)
                continue ;;
        esac
        same+=(-p "$line")
done <<<"$unit"
[ ${#same[@]} -gt 10 ] && [ ${#exec[@]} -gt 3 ] || echo "failed: no task unit file to copy" >&2
for k in 1 2 3; do ms agentctl run -- true >/dev/null; ms systemd-run --quiet --wait --pipe -p DynamicUser=yes true >/dev/null; ms systemd-run --quiet --wait --pipe "${same[@]}" "${exec[@]}" >/dev/null; done
for ((k = 0; k < runs; k++)); do
        echo "agentctl $(ms agentctl run -- true)"
        echo "anchor $(ms systemd-run --quiet --wait --pipe -p DynamicUser=yes true)"
        echo "same $(ms systemd-run --quiet --wait --pipe "${same[@]}" "${exec[@]}")"
done
# The direct runtime on the same host, under agentid.service, beside the
# same anchor again.
sed -i "/^\[broker\]/a task_runtime = direct" /etc/agentid/agentid.conf && systemctl restart agentid.service
agentctl status | grep -q "task runtime: *direct" || echo "failed: the broker did not switch to the direct runtime" >&2
for k in 1 2 3; do ms agentctl run -- true >/dev/null; done
for ((k = 0; k < runs; k++)); do
        echo "direct $(ms agentctl run -- true)"
        echo "anchor2 $(ms systemd-run --quiet --wait --pipe -p DynamicUser=yes true)"
done
sed -i "/^task_runtime = direct$/d" /etc/agentid/agentid.conf && systemctl restart agentid.service
INNER
host_copy "$inner" /root/bench-run-inner.sh >/dev/null 2>&1 || { rm -f "$inner"; echo "FAIL: systemd host: copy"; exit 1; }
rm -f "$inner"
out=$(host_run bash /root/bench-run-inner.sh "$runs" 2>&1)
if grep -q '^failed' <<<"$out"; then
        echo "FAIL: systemd host: a run failed: $(grep -m1 '^failed' <<<"$out")"
        exit 1
fi
runtime=$(sed -n 's/^runtime //p' <<<"$out")
[[ $runtime == systemd* ]] || { echo "FAIL: systemd host: the broker's task runtime is '$runtime', not systemd"; exit 1; }
# pct WHO P: the P-th percentile (nearest rank) of WHO's runs, in ms (the
# figures are hundredths of a millisecond).
pct() { awk -v w="$1" '$1 == w { print $2 }' <<<"$out" | sort -n | awk -v p="$2" '{ v[NR] = $1 }
        END { i = int((NR * p + 99) / 100); if (i < 1) i = 1; printf "%.1f", v[i] / 100 }'; }
a50=$(pct agentctl 50) a99=$(pct agentctl 99) s50=$(pct anchor 50) s99=$(pct anchor 99) c50=$(pct same 50) c99=$(pct same 99)
if [[ $a50 == 0.0 || $s50 == 0.0 || $c50 == 0.0 ]]; then
        echo "FAIL: systemd host: no timings from the host: $(head -c 300 <<<"$out")"
        exit 1
fi
printf '%-60s p50= %5s ms  p99= %5s ms  (%d runs)\n' "systemd host: agentctl run -- true (systemd runtime)" "$a50" "$a99" "$runs"
printf '%-60s p50= %5s ms  p99= %5s ms  (%d runs)\n' "systemd host: systemd-run --wait --pipe DynamicUser" "$s50" "$s99" "$runs"
printf '%-60s p50= %5s ms  p99= %5s ms  (%d runs)\n' "systemd host: systemd-run --wait --pipe, a task unit as is" "$c50" "$c99" "$runs"
awk -v a="$a50" -v s="$s50" -v a9="$a99" -v s9="$s99" 'BEGIN { if (s > 0 && s9 > 0)
        printf "ratio: agentctl run -- true (systemd runtime) = %.2fx the anchor systemd-run at p50, %.2fx at p99\n", a / s, a9 / s9 }'
awk -v c="$c50" -v s="$s50" -v a="$a50" 'BEGIN { if (s > 0 && c > 0)
        printf "ratio: systemd-run of a task unit as is = %.2fx the anchor at p50 (the unit alone); agentctl run = %.2fx that\n", c / s, a / c }'
d50=$(pct direct 50) d99=$(pct direct 99) t50=$(pct anchor2 50) t99=$(pct anchor2 99)
printf '%-60s p50= %5s ms  p99= %5s ms  (%d runs)\n' "systemd host: agentctl run -- true (direct runtime)" "$d50" "$d99" "$runs"
printf '%-60s p50= %5s ms  p99= %5s ms  (%d runs)\n' "systemd host: systemd-run --wait --pipe DynamicUser, again" "$t50" "$t99" "$runs"
awk -v a="$d50" -v s="$t50" -v a9="$d99" -v s9="$t99" 'BEGIN { if (s > 0 && s9 > 0 && a > 0)
        printf "ratio: agentctl run -- true (direct runtime, under agentid.service) = %.2fx the anchor at p50, %.2fx at p99\n", a / s, a9 / s9 }'
