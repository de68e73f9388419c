#!/bin/bash
# The audit trail's costs, A/B in one invocation (docs/performance.md):
#   bench-audit.sh BEFORE_BUILD AFTER_BUILD   lifecycles/s of bench-mint against
#       the broker of each build dir (e.g. main's and this one's: the cost of
#       chaining every event), 1 and 8 clients, alternating, twice;
#   bench-audit.sh --exec BUILD [N]           a task of N (10000) short processes
#       with exec_trail = no and yes, alternating, twice.
# Root; each broker runs in a temporary directory. Figures on a shared or
# loaded machine are noisy: compare the pairs, not single runs.
set -euo pipefail
seconds=${BENCH_SECONDS:-5}

broker_dir() { # BUILD EXTRA-CONF -> prints dir, starts broker, sets pid
        local d
        d=$(mktemp -d)
        chmod 755 "$d"
        mkdir -p "$d/etc/templates.d"
        printf '[broker]\njournal = off\nuid_min = 2105000000\nuid_max = 2105999999\n%s\n' "$2" >"$d/etc/agentid.conf"
        printf '[template]\nname = default\nttl = 10m\ninvokers = root\n' >"$d/etc/templates.d/default.conf"
        "$1/agentidd" --config "$d/etc/agentid.conf" --state-dir "$d/state" --runtime-dir "$d/run" 2>"$d/log" &
        echo "$! $d"
}
wait_socket() { for _ in $(seq 1 100); do [[ -S $1/run/agentid.sock ]] && return; sleep 0.05; done; }

if [[ ${1:-} == --exec ]]; then
        build=$2 n=${3:-10000}
        for trail in no yes no yes; do
                read -r pid d < <(broker_dir "$build" "exec_trail = $trail")
                wait_socket "$d"
                install -m 0755 "$build/tests/helpers/exec-loop" "$d/exec-loop"
                start=$(date +%s%N)
                AGENTID_SOCKET=$d/run/agentid.sock "$build/agentctl" run -- "$d/exec-loop" "$n"
                printf 'exec_trail = %-3s: a task of %d short processes in %d ms\n' "$trail" "$n" \
                        $((($(date +%s%N) - start) / 1000000))
                kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$d"
        done
        exit 0
fi

before=$1 after=$2
for clients in 1 8; do
        for round in 1 2; do
                for which in before after; do
                        build=${!which}
                        read -r pid d < <(broker_dir "$build" "")
                        wait_socket "$d"
                        printf '%-6s round %d: %s\n' "$which" "$round" \
                                "$("$after/tests/bench/bench-mint" "$d/run/agentid.sock" "$clients" "$seconds" | head -n 1)"
                        kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$d"
                done
        done
done
