#!/bin/bash
# pam_agentid's management groups and arguments through Linux-PAM under
# pam_wrapper (libpamtest, tests/unit/test-pam.c), against a real broker:
# humans ignored with the broker up or down, an agent's token accepted for
# auth/account/session, bad tokens and other audiences refused, fail closed
# without a broker, a silent broker bounded by timeout=, service_rule=deny,
# unknown arguments ignored, a connection the broker closed between two
# phases replaced by a new one.
source "$(dirname "$0")/lib.sh"
TEST_PAM="$top_builddir/tests/unit/test-pam"
MODULE="$top_builddir/.libs/pam_agentid.so"
WRAPPER=$(pkg-config --variable=libdir pam_wrapper 2>/dev/null)/libpam_wrapper.so
[[ -x $TEST_PAM ]] || { echo "SKIP: libpamtest not found at configure time"; exit 77; }
[[ -e $WRAPPER ]] || WRAPPER=/usr/lib/x86_64-linux-gnu/libpam_wrapper.so
[[ -e $WRAPPER ]] || { echo "SKIP: no libpam_wrapper.so"; exit 77; }

# A short idle_timeout: the broker closes the module's connection between
# two phases of one handle (test_connection_closed_between_phases).
echo "idle_timeout = 1s" | write_config
cat >"$TEST_DIR/etc/templates.d/pamtest.conf" <<'T'
[template]
name = pamtest
ttl = 10m
ssh = allow
T
start_broker
agent_json=$("$AGENTCTL" --json mint --template pamtest --reason "pam unit tests")
agent=$(jq -r .name <<<"$agent_json")
uid=$(jq -r .uid <<<"$agent_json")
# The agent asks for its own token: the broker knows it by its uid.
token=$(setpriv --reuid="$uid" --regid="$uid" --clear-groups "$AGENTCTL" token --audience pam:agentid-test)
[[ $token == *.*.* ]] || fail "no token: $token"

# Service files: our module first, pam_permit after it, so a PAM_IGNORE
# (not an agent) ends in success and whatever else the module answers is
# what the stack returns.
mkdir -p "$TEST_DIR/pam.d" "$TEST_DIR/pamtest"
cache="$TEST_DIR/run/nss/agents.cache"
service() { # service NAME ARGS...
        local g
        for g in auth account session; do
                if [[ $g == session ]]; then
                        echo "session [success=ok ignore=ignore default=die] $MODULE $*"
                else
                        echo "$g [success=done ignore=ignore default=die] $MODULE $*"
                fi
                echo "$g required pam_permit.so"
        done >"$TEST_DIR/pam.d/$1"
}
service agentid-test socket="$AGENTID_SOCKET" cache="$cache" timeout=2s
service agentid-debug debug socket="$AGENTID_SOCKET" cache="$cache" timeout=2s no_such_argument=1 timeout=bogus \
        audience=pam:agentid-test
service agentid-nobroker socket=/nonexistent/agentid.sock cache="$cache" timeout=200ms
service agentid-deny socket="$AGENTID_SOCKET" cache="$cache" service_rule=agentid-deny:deny
service agentid-audience socket="$AGENTID_SOCKET" cache="$cache" audience=mcp://elsewhere
service agentid-silent socket="$TEST_DIR/pamtest/silent.sock" cache="$cache" timeout=300ms

before_open=$(count_events session-open)
AGENTID_TEST_AGENT=$agent AGENTID_TEST_TOKEN=$token AGENTID_TEST_DIR="$TEST_DIR/pamtest" AGENTID_TEST_IDLE_MS=1000 \
        PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$TEST_DIR/pam.d" LD_PRELOAD="$WRAPPER" \
        "$TEST_PAM" || fail "libpamtest cases failed"
# Again under valgrind's memcheck: the module in every group, no memory
# error or definite leak (one more session open/close on record).
AGENTID_TEST_AGENT=$agent AGENTID_TEST_TOKEN=$token AGENTID_TEST_DIR="$TEST_DIR/pamtest" \
        PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$TEST_DIR/pam.d" LD_PRELOAD="$WRAPPER" \
        memcheck "$TEST_PAM" >"$TEST_DIR/memcheck.log" 2>&1 || fail "memcheck: $(tail -40 "$TEST_DIR/memcheck.log")"

# The session the agent opened and closed is on record; the human's is not.
(($(count_events session-open) == before_open + 2)) || fail "session-open events: $(count_events session-open)"
(($(count_events session-close) >= 1)) || fail "no session-close event"
assert_eq "$("$AGENTCTL" --json show "$agent" | jq -r .state)" live "agent after a ttl-lifetime session"
echo "pam: ok"
