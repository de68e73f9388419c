# Shared by sudo.sh and sshd.sh (sourced after lib.sh): a private mount
# namespace per command in which the built pam_agentid.so and
# libnss_agentid.so.2 sit in the multiarch lib dir (read-only overlay),
# test copies of /etc files are bind-mounted over the real ones, and /run is
# a private tmpfs whose /run/agentid is this test's broker runtime dir. So
# setuid sudo and sshd load our modules with their default paths, exactly
# as on a host where agentid is installed; the host's /etc, /lib and /run
# are never touched.
PAM_MODULE="$top_builddir/.libs/pam_agentid.so"
NSS_MODULE="$top_builddir/.libs/libnss_agentid.so.2"
[[ -e $PAM_MODULE && -e $NSS_MODULE ]] || fail "modules not built"
if [[ $(id -u) -ne 0 ]] || ! unshare -m true 2>/dev/null; then
        echo "SKIP: needs root and mount namespaces"
        exit 77
fi
LIBDIR=$(dirname "$(readlink -f /lib64/ld-linux-x86-64.so.2 2>/dev/null || echo /usr/lib/x86_64-linux-gnu/x)")
[[ -e $LIBDIR/libnss_files.so.2 && -d $LIBDIR/security ]] || { echo "SKIP: no multiarch lib dir with security/"; exit 77; }

mkdir -p "$TEST_DIR/lib/security" "$TEST_DIR/etcfiles"
cp -L "$NSS_MODULE" "$TEST_DIR/lib/libnss_agentid.so.2"
cp -L "$PAM_MODULE" "$TEST_DIR/lib/security/pam_agentid.so"
chmod 0755 "$TEST_DIR/lib" "$TEST_DIR/lib/security"
printf 'passwd: files agentid\ngroup: files agentid\nshadow: files agentid\nhosts: files\n' \
        >"$TEST_DIR/etcfiles/nsswitch.conf"
# A human with a password, in copies of passwd/group/shadow.
HUMAN=agidhuman
HUMAN_UID=4242
HUMAN_PASSWORD=correct-horse
mkdir -p "$TEST_DIR/human"
chown "$HUMAN_UID:$HUMAN_UID" "$TEST_DIR/human"
cp /etc/passwd /etc/group /etc/shadow "$TEST_DIR/etcfiles/"
echo "$HUMAN:x:$HUMAN_UID:$HUMAN_UID::$TEST_DIR/human:/bin/sh" >>"$TEST_DIR/etcfiles/passwd"
echo "$HUMAN:x:$HUMAN_UID:" >>"$TEST_DIR/etcfiles/group"
echo "$HUMAN:$(openssl passwd -6 "$HUMAN_PASSWORD"):19000:0:99999:7:::" >>"$TEST_DIR/etcfiles/shadow"
chmod 0640 "$TEST_DIR/etcfiles/shadow"
mkdir -p "$TEST_DIR/pam.d"

# in_ns "SRC:DST ..." CMD...: run CMD in a fresh namespace with the extra
# bind mounts (files under $TEST_DIR over /etc files).
in_ns() {
        local binds=$1
        shift
        unshare -m --propagation private -- bash -c '
                set -e
                mount -t overlay overlay -o "lowerdir=$1/lib:$2" "$2"
                mount --bind "$1/etcfiles/nsswitch.conf" /etc/nsswitch.conf
                for f in passwd group shadow; do mount --bind "$1/etcfiles/$f" /etc/$f; done
                mount -t tmpfs -o mode=0755 tmpfs /run
                mkdir -p /run/agentid /run/sshd /run/sudo
                mount --bind "$1/run" /run/agentid
                for b in $3; do mount --bind "${b%%:*}" "${b#*:}"; done
                shift 3
                exec "$@"' ns "$TEST_DIR" "$LIBDIR" "$binds" "$@"
}
