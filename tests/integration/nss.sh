#!/bin/bash
# libnss_agentid.so.2 through the real glibc: in a private mount namespace
# per command, a test nsswitch.conf is bind-mounted over /etc/nsswitch.conf
# and the built module is made visible in the multiarch lib dir by a
# read-only overlay, so getent(1) and id(1) load it exactly as on a host
# where it is installed. The host's /etc and /lib are never touched. A
# second pass goes through nss_wrapper's module loading.
source "$(dirname "$0")/lib.sh"

nss_enable

# libc only: nothing of SQLite, OpenSSL, jansson or systemd may be pulled in.
deps=$(ldd "$NSS_MODULE")
for bad in sqlite ssl crypto jansson systemd; do
        [[ $deps != *"$bad"* ]] || fail "module links $bad: $deps"
done
MODULE=$NSS_MODULE
mkdir -p "$TEST_DIR/etc/templates.d"
CACHE="$TEST_DIR/run/nss/agents.cache"

cat >"$TEST_DIR/etc/templates.d/worker.conf" <<EOF
[template]
name = worker
ttl = 10m
max_ttl = 1h
groups = users
invokers = root
shell = /bin/sh
EOF
start_broker

# The cache file: where documented, readable by all, writable by the broker only.
[[ -f $CACHE ]] || fail "no cache file at $CACHE"
assert_eq "$(stat -c %a "$TEST_DIR/run/nss")" 755 "cache dir mode"
assert_eq "$(stat -c %a "$CACHE")" 644 "cache file mode"

out=$("$AGENTCTL" mint --template worker --ttl 10m)
name=$(awk '/^name:/ {print $2}' <<<"$out")
uid=$(awk '/^uid:/ {print $2}' <<<"$out")
[[ -n $name && -n $uid ]] || fail "mint: $out"

# By name and by uid, passwd and group.
pw=$(in_ns getent passwd "$name") || fail "getent passwd $name failed"
assert_eq "$pw" "$name:x:$uid:$uid:agentid agent:$TEST_DIR/state/home/$name:/bin/sh" "passwd entry"
assert_eq "$(in_ns getent passwd "$uid")" "$pw" "getent passwd UID"
assert_eq "$(in_ns getent group "$name")" "$name:!:$uid:" "group entry"
assert_eq "$(in_ns getent group "$uid")" "$name:!:$uid:" "getent group GID"
# Shadow: locked password, no aging, an account expiry.
sp=$(in_ns getent shadow "$name") || fail "getent shadow $name failed"
re="^$name:!\\*::::::[0-9]+:\$"
[[ $sp =~ $re ]] || fail "shadow entry: $sp"
# id(1): primary group and the template's supplementary group (initgroups_dyn).
idout=$(in_ns id "$name") || fail "id $name failed"
assert_contains "$idout" "uid=$uid($name) gid=$uid($name)"
assert_contains "$idout" "100(users)"
# The module under valgrind's memcheck: lookups by name and uid, a miss,
# enumeration and initgroups, with no memory error or leak.
for args in "getent passwd $name" "getent passwd $uid" "getent group" "id $name" "getent passwd no-such-agent-zz"; do
        rc=0
        in_ns bash -c "$(declare -f memcheck); SANITIZED=$SANITIZED memcheck $args" >/dev/null 2>"$TEST_DIR/vg.log" || rc=$?
        # 0 for the hits, 2 (not found) for the miss; 99 is valgrind's.
        [[ $rc == 0 || ($rc == 2 && $args == *no-such-agent*) ]] || fail "memcheck $args ($rc): $(cat "$TEST_DIR/vg.log")"
done
# Enumeration lists agents after the files.
assert_contains "$(in_ns getent passwd)" "$name:x:$uid:"
assert_contains "$(in_ns getent group)" "$name:!:$uid:"
# Humans and unknown names are unaffected.
assert_eq "$(in_ns getent passwd root)" "$(getent passwd root)" "root"
if in_ns getent passwd ag-nosuch-agent >/dev/null; then fail "unknown agent resolved"; fi
# ls -l and stat name the owner of an agent's file.
touch "$TEST_DIR/owned" && chown "$uid:$uid" "$TEST_DIR/owned"
assert_eq "$(in_ns stat -c %U:%G "$TEST_DIR/owned")" "$name:$name" "stat owner"

# Through nss_wrapper's module loading as well (no namespace).
if [[ -e /usr/lib/x86_64-linux-gnu/libnss_wrapper.so ]]; then
        w=$(LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD=/etc/passwd NSS_WRAPPER_GROUP=/etc/group \
                NSS_WRAPPER_MODULE_SO_PATH="$MODULE" NSS_WRAPPER_MODULE_FN_PREFIX=agentid getent passwd "$uid") ||
                fail "nss_wrapper: getent passwd $uid failed"
        assert_eq "$w" "$pw" "nss_wrapper passwd entry"
fi

# Revoke: gone at once, by name and by uid.
"$AGENTCTL" revoke "$name" >/dev/null
if in_ns getent passwd "$name" >/dev/null; then fail "revoked agent still resolves by name"; fi
if in_ns getent passwd "$uid" >/dev/null; then fail "revoked agent still resolves by uid"; fi
if in_ns id "$name" >/dev/null 2>&1; then fail "id still knows the revoked agent"; fi
[[ $(in_ns getent passwd) != *"$name:"* ]] || fail "revoked agent still enumerated"

# Broker killed: live agents stay (their TTL holds), an expired one goes
# by itself with nobody to remove it.
long=$("$AGENTCTL" --json mint --template worker --ttl 10m | jq -r .name)
short=$("$AGENTCTL" --json mint --template worker --ttl 2s | jq -r .name)
in_ns getent passwd "$short" >/dev/null || fail "short-lived agent does not resolve"
kill -KILL "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null || true
BROKER_PID=
in_ns getent passwd "$long" >/dev/null || fail "live agent vanished when the broker died"
for _ in $(seq 1 60); do
        in_ns getent passwd "$short" >/dev/null || break
        sleep 0.1
done
if in_ns getent passwd "$short" >/dev/null; then fail "expired agent resolves with the broker dead"; fi
in_ns getent passwd "$long" >/dev/null || fail "live agent lost"

# A restarted broker rebuilds the file from the store and replaces it.
ino=$(stat -c %i "$CACHE")
start_broker
[[ $(stat -c %i "$CACHE") != "$ino" ]] || fail "cache file not replaced at start"
in_ns getent passwd "$long" >/dev/null || fail "live agent lost over a restart"
"$AGENTCTL" revoke --all >/dev/null
if in_ns getent passwd "$long" >/dev/null; then fail "revoke --all left an agent"; fi

# No cache file at all: agents are unknown, humans unaffected, nothing hangs.
stop_broker
rm -f "$CACHE"
if timeout 5 bash -c "$(declare -f in_ns); TEST_DIR=$TEST_DIR LIBDIR=$LIBDIR in_ns getent passwd $long" >/dev/null; then
        fail "agent resolved without a cache file"
fi
assert_eq "$(timeout 5 bash -c "$(declare -f in_ns); TEST_DIR=$TEST_DIR LIBDIR=$LIBDIR in_ns getent passwd root")" \
        "$(getent passwd root)" "root without a cache"

# A corrupt file is refused, not believed.
head -c 4096 /dev/urandom >"$CACHE"
if in_ns getent passwd "$long" >/dev/null; then fail "agent resolved from a garbage file"; fi
echo "nss: ok"
