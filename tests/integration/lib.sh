# Shared setup for integration tests: a real agentidd on a real Unix socket
# with a real SQLite file, all under a private temporary directory. Source
# it, then call start_broker. Nothing outside $TEST_DIR is touched.
set -euo pipefail

: "${top_builddir:?run through make check (top_builddir unset)}"
: "${top_srcdir:=$top_builddir}"
AGENTIDD="$top_builddir/agentidd"
AGENTCTL="$top_builddir/agentctl"
RAW_CLIENT="$top_builddir/tests/helpers/raw-client"
# Built with --enable-sanitizers? (ASan's shadow memory inflates RSS.)
SANITIZED=
ldd "$AGENTIDD" 2>/dev/null | grep -q libasan && SANITIZED=1

# memcheck CMD...: run CMD under valgrind's memcheck, failing the test on
# any memory error or definite leak. Runs CMD plainly when valgrind is
# missing or the build is sanitized (the two do not mix).
memcheck() {
        if [[ -n $SANITIZED ]] || ! command -v valgrind >/dev/null; then
                "$@"
                return
        fi
        valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
                --show-leak-kinds=definite --track-fds=no "$@"
}

# Every test holds a shared lock on the build tree for its life; a test
# that times the broker (abuse.sh) takes it exclusively (run_alone), so that
# under make -j no other test's broker competes with it for CPU and disk.
exec {TEST_LOCK_FD}>>"$top_builddir/.integration-tests.lock"
flock -s "$TEST_LOCK_FD"
run_alone() {
        flock -u "$TEST_LOCK_FD"
        flock -x -w 900 "$TEST_LOCK_FD" || fail "other tests did not finish within 15 minutes"
}

TEST_DIR=$(mktemp -d /tmp/agentid-test.XXXXXX)
# World-traversable so tests can run agentctl as an unprivileged user.
chmod 0755 "$TEST_DIR"
export AGENTID_SOCKET="$TEST_DIR/run/agentid.sock"
# A copy of agentctl that an unprivileged user can execute even when the
# build tree sits under a private home (as a CI clone may).
install -m 0755 "$AGENTCTL" "$TEST_DIR/agentctl"
AGENTCTL="$TEST_DIR/agentctl"
BROKER_PID=

cleanup() {
        local rc=$?
        stop_broker || true
        # A test may define test_cleanup for what it started itself.
        if declare -F test_cleanup >/dev/null; then test_cleanup || true; fi
        if [[ $rc -ne 0 && -f $TEST_DIR/broker.log ]]; then
                echo "--- broker log ---"
                cat "$TEST_DIR/broker.log"
        fi
        rm -rf "$TEST_DIR"
        exit $rc
}
trap cleanup EXIT

fail() {
        echo "FAIL: $*" >&2
        exit 1
}

# Each test file (by its full path, so two checkouts differ too) gets its own
# slice of the agent uid range: brokers of tests
# running in parallel must not see each other's agents as orphans (their
# sweeps would kill them).
UID_SLOT=$(($(realpath "$0" | cksum | cut -d' ' -f1) % 2000 + 1))
UID_MIN=$((1879048192 + UID_SLOT * 100000))
UID_MAX=$((UID_MIN + 99999))

# Write the broker config; extra lines from stdin go into [broker] (after
# the defaults, so they override them).
write_config() {
        mkdir -p "$TEST_DIR/etc/templates.d"
        {
                echo "[broker]"
                echo "journal = off"
                echo "uid_min = $UID_MIN"
                echo "uid_max = $UID_MAX"
                cat
        } >"$TEST_DIR/etc/agentid.conf"
}

# BROKER_WRAPPER: a command the broker runs under (words), if any.
start_broker() {
        [[ -f $TEST_DIR/etc/agentid.conf ]] || write_config </dev/null
        ${BROKER_WRAPPER:-} "$AGENTIDD" --config "$TEST_DIR/etc/agentid.conf" --state-dir "$TEST_DIR/state" \
                --runtime-dir "$TEST_DIR/run" "$@" >>"$TEST_DIR/broker.log" 2>&1 &
        BROKER_PID=$!
        wait_for_socket
}

wait_for_socket() {
        local i
        for i in $(seq 1 100); do
                if [[ -S $AGENTID_SOCKET ]] && "$AGENTCTL" status >/dev/null 2>&1; then
                        return 0
                fi
                kill -0 "$BROKER_PID" 2>/dev/null || fail "broker exited during start: $(cat "$TEST_DIR/broker.log")"
                sleep 0.05
        done
        fail "broker did not become ready"
}

stop_broker() {
        [[ -n $BROKER_PID ]] || return 0
        kill -TERM "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
        BROKER_PID=
}

# eventually SECONDS CMD...: retry CMD every 0.1 s until it succeeds, for
# at most SECONDS. For what the broker does on its own clock (housekeeping
# ticks, expiry): a fixed sleep fails on a slow or loaded machine, while
# the deadline here is generous and a passing test does not wait it out.
eventually() {
        local deadline=$((SECONDS + $1))
        shift
        until "$@" >/dev/null 2>&1; do
                ((SECONDS < deadline)) || return 1
                sleep 0.1
        done
}

broker_alive() {
        kill -0 "$BROKER_PID" 2>/dev/null
}

# Run agentctl as an unprivileged user (nobody) with no supplementary groups.
as_nobody() {
        setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
}

# as_agent UID CMD...: run CMD as an agent would run: its uid and gid, no
# supplementary groups, nothing else.
as_agent() {
        local uid=$1
        shift
        setpriv --reuid="$uid" --regid="$uid" --clear-groups -- "$@"
}

# as_revoked_agent_asks_token UID: a process of a revoked agent's uid asks
# for a token and must be refused ("no live agent", in $REVOKED_ANSWER).
# The revoke's cleaner may kill such a process while it asks (that is its
# job): it then got nothing either, and it asks again once the cleaner is
# done. A token printed at any try fails the test.
as_revoked_agent_asks_token() {
        local try
        REVOKED_ANSWER=
        for try in $(seq 1 25); do
                if REVOKED_ANSWER=$(as_agent "$1" "$AGENTCTL" token 2>&1); then
                        fail "a revoked agent's process got a token: $REVOKED_ANSWER"
                fi
                [[ -n $REVOKED_ANSWER ]] && break
                sleep 0.2
        done
        assert_contains "$REVOKED_ANSWER" "no live agent"
}

# The parts of a compact JWS: base64url (no padding) to bytes, a segment
# (1 header, 2 claims, 3 signature), and the decoded header and claims.
b64url_decode() {
        local s=$1
        while (($(( ${#s} % 4 )))); do s+="="; done
        basenc --base64url -d <<<"$s"
}
segment() { cut -d. -f"$2" <<<"$1"; }
claims_of() { b64url_decode "$(segment "$1" 2)"; }
header_of() { b64url_decode "$(segment "$1" 1)"; }

# Count rows in the event table of a given type.
count_events() {
        sqlite3 "$TEST_DIR/state/agentid.db" "SELECT count(*) FROM events WHERE event = '$1'"
}

count_identities() {
        sqlite3 "$TEST_DIR/state/agentid.db" "SELECT count(*) FROM identities${1:+ WHERE $1}"
}

# assert_contains HAYSTACK NEEDLE [what]
assert_contains() {
        [[ $1 == *"$2"* ]] || fail "${3:-output} does not contain \"$2\": $1"
}

assert_eq() {
        [[ $1 == "$2" ]] || fail "${3:-value} is \"$1\", expected \"$2\""
}

# nss_enable: make the built NSS module answer for this test's broker, in
# the namespaces in_ns creates (never on the host). Skips the test (77)
# without root, mount namespaces or glibc's module directory.
nss_enable() {
        NSS_MODULE="$top_builddir/.libs/libnss_agentid.so.2"
        [[ -e $NSS_MODULE ]] || fail "module not built: $NSS_MODULE"
        if [[ $(id -u) -ne 0 ]] || ! unshare -m true 2>/dev/null; then
                echo "SKIP: needs root and mount namespaces"
                exit 77
        fi
        LIBDIR=$(dirname "$(readlink -f /lib64/ld-linux-x86-64.so.2 2>/dev/null || echo /usr/lib/x86_64-linux-gnu/x)")
        [[ -e $LIBDIR/libnss_files.so.2 ]] || LIBDIR=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
        [[ -e $LIBDIR/libnss_files.so.2 ]] || { echo "SKIP: cannot find glibc's NSS module directory"; exit 77; }
        mkdir -p "$TEST_DIR/nsslib"
        cp -L "$NSS_MODULE" "$TEST_DIR/nsslib/libnss_agentid.so.2"
        printf 'passwd: files agentid\ngroup: files agentid\nshadow: files agentid\n' >"$TEST_DIR/nsswitch.conf"
        export AGENTID_NSS_CACHE="$TEST_DIR/run/nss/agents.cache"
}

# in_ns CMD...: run CMD with the module enabled (see nss_enable), in a
# private mount namespace of its own: a read-only overlay puts the module in
# glibc's directory, a test nsswitch.conf is bind-mounted over the real one.
in_ns() {
        unshare -m --propagation private -- bash -c '
                mount -t overlay overlay -o "lowerdir=$1:$2" "$2" &&
                mount --bind "$3" /etc/nsswitch.conf || exit 99
                shift 3
                exec "$@"' ns "$TEST_DIR/nsslib" "$LIBDIR" "$TEST_DIR/nsswitch.conf" "$@"
}
