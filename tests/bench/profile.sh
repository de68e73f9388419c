#!/bin/bash
# Where the broker's time goes, in figures that hold on a loaded machine
# (docs/performance.md, "Profile"): counts, not wall-clock times.
#   profile.sh BUILDDIR syscalls [CLIENTS] [SECONDS]
#       bench-mint against a broker for SECONDS (3) with CLIENTS (32); per
#       lifecycle: the broker's syscalls (perf's syscall tracepoints),
#       fsyncs, and CPU time (user/system, from /proc) of broker and clients.
#   profile.sh BUILDDIR instructions [CLIENTS] [SECONDS]
#       the same under callgrind: the broker's instructions per lifecycle,
#       in total and in the functions that matter (slow: ~50x).
#   profile.sh BUILDDIR samples [CLIENTS] [SECONDS]
#       bench-mint under perf record -g (cpu-clock samples, kernel stacks;
#       the callgrind mode above needs a valgrind that knows pidfd_open):
#       where the CPU goes, by process (the broker's loop thread, its other
#       threads, the cleaners it forks); for the loop thread by library
#       and by the system call or fault that the kernel's share ran under,
#       for the cleaners by system call.
#   profile.sh BUILDDIR pam [N]
#       N (default 3000) agent token auths through bench-pam and nothing
#       else; per auth: the CPU time, context switches and syscalls of the
#       broker's main thread (which answers; perf's counters), the CPU time of
#       bench-pam (pam_start and pam_end included, which load and unload
#       the module for each handle). Not under callgrind: valgrind does not
#       know pidfd_open, which the broker needs.
# Root; each broker runs in a temporary directory.
set -euo pipefail
build=$(cd "$1" && pwd)
what=$2
dir=$(mktemp -d /tmp/agentid-profile.XXXXXX)
chmod 0755 "$dir"
mkdir -p "$dir/etc/templates.d"
# Its own uid range (a broker kills processes of agent uids it does not
# know): above the test brokers' slices, scripts/bench's and bench-scale's.
printf '[broker]\njournal = off\nuid_min = 2103000000\nuid_max = 2103999999\n' >"$dir/etc/agentid.conf"
printf '[template]\nname = default\nttl = 10m\ninvokers = root\n' >"$dir/etc/templates.d/default.conf"
printf '[template]\nname = bench\nttl = 10m\ninvokers = root\nssh = allow\n' >"$dir/etc/templates.d/bench.conf"
broker=
trap '[[ -n $broker ]] && kill $broker 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
wrap=()
[[ $what == instructions ]] &&
        wrap=(valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out")
"${wrap[@]}" "$build/agentidd" --config "$dir/etc/agentid.conf" --state-dir "$dir/state" \
        --runtime-dir "$dir/run" 2>"$dir/broker.log" &
broker=$!
for _ in $(seq 1 600); do [[ -S $dir/run/agentid.sock ]] && break; sleep 0.05; done
sleep 0.5
cpu() { awk '{ print $14, $15 }' "/proc/$broker/stat"; }

# Instructions per unit in the functions that explain the figures.
instructions() { # UNITS LABEL
        kill "$broker"
        wait "$broker" 2>/dev/null || true
        broker=
        callgrind_annotate --inclusive=yes "$dir/callgrind.out" 2>/dev/null |
                awk -v n="$1" -v label="$2" '
                /server\.c:server_run |methods-mint\.c:method_mint |methods-revoke\.c:method_revoke |lifecycle\.c:broker_end_identities |store\.c:store_insert_identity |store\.c:store_end_identity |store\.c:store_append_event |store\.c:store_commit |protocol\.c:protocol_request_parse |protocol\.c:protocol_reply_format |identity-json\.c:identity_to_json |methods-pam\.c:method_stepup |methods-token\.c:method_verify_token |jwt\.c:jwt_verify |EVP_DigestVerify |json_loadb / {
                        if (!match($0, /%\)  [^ ]+ \[/))
                                next
                        v = $1; gsub(",", "", v)
                        f = substr($0, RSTART + 4, RLENGTH - 6); sub(/.*\//, "", f)
                        if (!(f in seen)) { seen[f] = 1; printf "%10.0f instructions per %s  %s\n", v / n, label, f }
                }'
}

case $what in
syscalls)
        events=task-clock,context-switches
        for s in fdatasync fsync pwrite64 write sendto recvmsg epoll_wait epoll_ctl pread64 read newfstatat fcntl; do
                events+=,syscalls:sys_enter_$s
        done
        perf stat -x, -p "$broker" -e "$events" -o "$dir/perf.txt" &
        perf=$!
        sleep 0.2
        read -r u0 s0 < <(cpu)
        out=$( { /usr/bin/time -f "clients: user %U s, system %S s" "$build/tests/bench/bench-mint" \
                "$dir/run/agentid.sock" "${3:-32}" "${4:-3}"; } 2>&1)
        read -r u1 s1 < <(cpu)
        kill -INT "$perf"
        wait "$perf" || true
        echo "$out"
        n=$(sed -n 's/.*(\([0-9]*\) lifecycles in.*/\1/p' <<<"$out")
        clients=$(sed -n 's/^clients: user \([0-9.]*\) s, system \([0-9.]*\) s/\1 \2/p' <<<"$out")
        tick=$(getconf CLK_TCK)
        awk -v n="$n" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v t="$tick" -v c="$clients" 'BEGIN {
                split(c, cc, " ")
                printf "CPU per lifecycle: broker user %.0f us, system %.0f us; clients user %.0f us, system %.0f us\n",
                        u / t / n * 1e6, s / t / n * 1e6, cc[1] / n * 1e6, cc[2] / n * 1e6 }'
        awk -F, -v n="$n" '$1 !~ /^#/ && NF > 2 && $1 ~ /^[0-9.]+$/ {
                name = $3; sub("syscalls:sys_enter_", "", name)
                printf "%-18s %10s  %8.3f per lifecycle\n", name, $1, $1 / n }' "$dir/perf.txt"
        ;;
instructions)
        out=$("$build/tests/bench/bench-mint" "$dir/run/agentid.sock" "${3:-32}" "${4:-8}")
        echo "$out"
        instructions "$(sed -n 's/.*(\([0-9]*\) lifecycles in.*/\1/p' <<<"$out")" lifecycle
        ;;
samples)
        perf record -q -g -F 2000 -p "$broker" -o "$dir/perf.data" 2>/dev/null &
        perf=$!
        sleep 0.2
        "$build/tests/bench/bench-mint" "$dir/run/agentid.sock" "${3:-32}" "${4:-3}" | head -n 1
        kill -INT "$perf"
        wait "$perf" || true
        perf script -i "$dir/perf.data" -F pid,tid,ip,sym,dso 2>/dev/null | awk -v main="$broker" '
        BEGIN { RS = "" }
        {
                nl = split($0, l, "\n")
                split(l[1], h, "/"); pid = h[1] + 0; tid = h[2] + 0
                n++
                who = pid != main ? "cleaners (forked children)" : tid == main ? "loop thread" : "other broker threads"
                by[who]++
                if (who == "other broker threads")
                        next
                dso = l[2]; sub(/.*\(/, "", dso); sub(/\).*/, "", dso); sub(/.*\//, "", dso)
                if (who == "cleaners (forked children)") {
                        c = "user space"
                        for (i = 2; i <= nl && dso ~ /kernel.kallsyms/; i++)
                                if (match(l[i], /(__x64_sys_|__do_sys_|__sys_)[a-z0-9_]+/)) {
                                        c = substr(l[i], RSTART, RLENGTH); sub(/^__(x64_|do_)?sys_/, "", c); break
                                }
                        if (c == "user space" && dso ~ /kernel.kallsyms/)
                                c = "other kernel"
                        cl[c]++
                        cn++
                        next
                }
                m++
                lib[dso]++
                if (dso !~ /kernel.kallsyms/)
                        next
                k = "other kernel"
                if (l[2] ~ / (finish_task_switch|__schedule)/)
                        k = "a context switch (preempted, often by a client it woke)"
                for (i = 2; i <= nl && k == "other kernel"; i++)
                        if (match(l[i], /(__x64_sys_|__do_sys_|__sys_)[a-z0-9_]+|asm_exc_page_fault|asm_common_interrupt|asm_sysvec_[a-z_]+/)) {
                                k = substr(l[i], RSTART, RLENGTH); sub(/^__(x64_|do_)?sys_/, "", k); sub(/^asm_(common_interrupt|sysvec_).*/, "interrupts", k); break
                        }
                if (k == "asm_exc_page_fault") {
                        k = "page fault"
                        for (i = 2; i <= nl; i++)
                                if (l[i] ~ /do_wp_page|wp_page_copy/) {
                                        k = "page fault (copy-on-write)"; break
                                }
                }
                sys[k]++
        }
        END {
                for (w in by) printf "%5.1f%% of the samples: %s\n", 100 * by[w] / n, w
                for (d in lib) if (d != "" && 100 * lib[d] / m >= 0.1) printf "loop thread: %5.1f%% in %s\n", 100 * lib[d] / m, d
                for (k in sys) if (100 * sys[k] / m >= 0.5) printf "loop thread: %5.1f%% in the kernel under %s\n", 100 * sys[k] / m, k
                for (c in cl) if (100 * cl[c] / cn >= 0.5) printf "cleaners: %5.1f%% in %s\n", 100 * cl[c] / cn, c
        }' | sort -t: -k1,1 -k2,2rn
        ;;
pam)
        n=${3:-3000}
        events=task-clock,context-switches
        for s in accept4 getsockopt epoll_wait epoll_ctl recvmsg sendto openat read ioctl close fcntl pwrite64 fdatasync; do
                events+=,syscalls:sys_enter_$s
        done
        perf stat -x, -t "$broker" -e "$events" -o "$dir/perf.txt" &
        perf=$!
        sleep 0.2
        out=$( { /usr/bin/time -f "client: user %U s, system %S s" "$build/tests/bench/bench-pam" "$build" \
                "$dir/run/agentid.sock" "$dir/run/nss/agents.cache" "$n" auth; } 2>&1)
        kill -INT "$perf"
        wait "$perf" || true
        echo "$out"
        # The mint and the token's issue before the auths are in the counts: 2 of N + 2 requests.
        awk -F, -v n="$n" '$1 !~ /^#/ && NF > 2 && $1 ~ /^[0-9.]+$/ {
                name = $3; sub("syscalls:sys_enter_", "", name)
                if (name == "task-clock") printf "%-18s %8.1f us per auth\n", "broker main thread CPU", $1 * 1000 / n
                else printf "%-18s %8.2f per auth\n", name, $1 / n }' "$dir/perf.txt"
        sed -n 's/^client: user \([0-9.]*\) s, system \([0-9.]*\) s/\1 \2/p' <<<"$out" |
                awk -v n="$n" '{ printf "bench-pam CPU      %8.1f us user + %.1f us system per auth (pam_start and pam_end included)\n", $1 / n * 1e6, $2 / n * 1e6 }'
        ;;
*)
        echo "usage: profile.sh BUILDDIR syscalls|instructions|samples|pam [...]" >&2
        exit 2
        ;;
esac
