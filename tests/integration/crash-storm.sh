#!/bin/bash
# kill -9 of the broker in the middle of concurrent mint/revoke/expire/run
# traffic, again and again. After each restart: the database is intact,
# nothing expired is live, no process runs under an agent uid without a live
# identity, no home is left without its task, and the broker is ready fast.
# STORM_ROUNDS sets the number of kills (a few in make check, hundreds in the
# long mode: STORM_ROUNDS=300 make check TESTS=tests/integration/crash-storm.sh).
source "$(dirname "$0")/lib.sh"
ROUNDS=${STORM_ROUNDS:-4}
BENCH_MINT="$top_builddir/tests/bench/bench-mint"
write_config </dev/null
cat >"$TEST_DIR/etc/templates.d/default.conf" <<'T'
[template]
name = default
ttl = 1m
max_ttl = 10m
T

db="$TEST_DIR/state/agentid.db"
nss_enable
traffic=()

start_traffic() {
        traffic=()
        "$BENCH_MINT" "$AGENTID_SOCKET" 4 30 >/dev/null 2>&1 &
        traffic+=($!)
        (while :; do "$AGENTCTL" mint --ttl 1s >/dev/null 2>&1 || sleep 0.05; done) &
        traffic+=($!)
        for _ in 1 2; do
                (while :; do "$AGENTCTL" run --ttl 2s -- sh -c 'sleep 3 & sleep 3' >/dev/null 2>&1 || sleep 0.05; done) &
                traffic+=($!)
        done
}

stop_traffic() {
        local p
        for p in "${traffic[@]}"; do
                pkill -KILL -P "$p" 2>/dev/null || true
                kill -KILL "$p" 2>/dev/null || true
        done
        wait "${traffic[@]}" 2>/dev/null || true
}

test_cleanup() { stop_traffic; }

orphan_processes() { # processes in the agent range whose uid is not live
        local live f uid n=0
        live=" $(sqlite3 "$db" "SELECT uid FROM identities WHERE state = 'live'" | tr '\n' ' ') "
        for f in /proc/[0-9]*/status; do
                uid=$(awk '/^Uid:/ { print $2; exit }' "$f" 2>/dev/null) || continue
                [[ -n $uid ]] || continue
                grep -q '^State:.*Z' "$f" 2>/dev/null && continue
                if ((uid >= UID_MIN && uid <= UID_MAX)) && [[ $live != *" $uid "* ]]; then
                        n=$((n + 1))
                fi
        done
        echo $n
}

start_broker
worst_ms=0
for round in $(seq 1 "$ROUNDS"); do
        start_traffic
        sleep "0.$((RANDOM % 8 + 2))"
        kill -KILL "$BROKER_PID"
        wait "$BROKER_PID" 2>/dev/null || true
        BROKER_PID=
        stop_traffic

        # Whatever moment the kill hit, the database is consistent.
        assert_eq "$(sqlite3 "$db" 'PRAGMA integrity_check')" ok "round $round: integrity"

        t0=$(date +%s%N)
        start_broker
        ms=$((($(date +%s%N) - t0) / 1000000))
        ((ms > worst_ms)) && worst_ms=$ms

        # Expired at start, or by the timer within its turn (200 ms grace for
        # deadlines that fall just as we look).
        now_usec=$(($(date +%s%N) / 1000))
        assert_eq "$(sqlite3 "$db" "SELECT count(*) FROM identities WHERE state = 'live' AND expires_usec <= $now_usec - 200000")" 0 \
                "round $round: expired identities still live"
        # Tasks of the killed broker are ended at restart: none is live.
        assert_eq "$(sqlite3 "$db" "SELECT count(*) FROM identities i WHERE state = 'live' AND EXISTS
                (SELECT 1 FROM events e WHERE e.agent = i.name AND e.event = 'run')")" 0 "round $round: live task identities"
        # The namespaces of the killed broker's tasks die in the kernel, and
        # the new broker kills other orphans without waiting for them: give
        # both a moment (bounded) before counting.
        for _ in $(seq 1 40); do [[ $(orphan_processes) == 0 ]] && break; sleep 0.05; done
        if [[ $(orphan_processes) != 0 ]]; then
                ps -eo pid,ppid,uid,stat,etimes,args | awk -v lo="$UID_MIN" -v hi="$UID_MAX" '$3 >= lo && $3 <= hi'
        fi
        assert_eq "$(orphan_processes)" 0 "round $round: processes without a live identity"
        leftover=$(find "$TEST_DIR/state/home" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
        assert_eq "$leftover" 0 "round $round: homes left behind"
        # What the host sees (glibc through the NSS module) is exactly the
        # live set: every agent getent enumerates has a live record (or one
        # that expired while we looked), and every live record not about to
        # expire resolves.
        t0=$(($(date +%s%N) / 1000))
        seen=$(in_ns getent passwd | awk -F: -v lo="$UID_MIN" -v hi="$UID_MAX" '$3 >= lo && $3 <= hi { print $1 }' | sort)
        ok=$(sqlite3 "$db" "SELECT name FROM identities WHERE state = 'live' OR
                (state = 'expired' AND expires_usec >= $t0 - 200000)" | sort)
        live=$(sqlite3 "$db" "SELECT name FROM identities WHERE state = 'live' AND expires_usec > $t0 + 500000" | sort)
        extra=$(comm -23 <(echo "$seen") <(echo "$ok") | grep -c . || true)
        missing=$(comm -13 <(echo "$seen") <(echo "$live") | grep -c . || true)
        assert_eq "$extra" 0 "round $round: agents the host sees without a live record"
        assert_eq "$missing" 0 "round $round: live agents the host cannot see"
        # Every event refers to a real identity or none.
        assert_eq "$(sqlite3 "$db" "SELECT count(*) FROM events WHERE agent IS NOT NULL AND agent NOT IN (SELECT name FROM identities)")" 0 \
                "round $round: events of unknown agents"
        "$AGENTCTL" status >/dev/null || fail "round $round: not serving after restart"
done
((worst_ms < 3000)) || fail "restart to ready took ${worst_ms}ms"
echo "crash-storm: ok ($ROUNDS kills, $(count_identities) identities, slowest restart ${worst_ms}ms)"
