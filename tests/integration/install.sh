#!/bin/bash
# make install / make uninstall are safe on a live host (into a DESTDIR
# here): install never overwrites an edited agentid.conf and creates
# templates.d; libtool's .la files are not installed; uninstall keeps an
# edited agentid.conf, refuses to remove pam_agentid.so while a pam.d file
# still names it (a PAM stack naming a missing module refuses everyone),
# and otherwise leaves nothing behind.
source "$(dirname "$0")/lib.sh"

dest=$TEST_DIR/dest
sysconfdir=$(sed -n 's/^sysconfdir = //p' "$top_builddir/Makefile")
prefix=$(sed -n 's/^prefix = //p' "$top_builddir/Makefile")
sysconfdir=${sysconfdir//\$\{prefix\}/$prefix}
conf=$dest$sysconfdir/agentid/agentid.conf
mk() { make -s -C "$top_builddir" "$@" DESTDIR="$dest" >"$TEST_DIR/make.log" 2>&1; }

mk install || fail "make install: $(tail -5 "$TEST_DIR/make.log")"
[[ -f $conf ]] || fail "agentid.conf not installed"
[[ -d $dest$sysconfdir/agentid/templates.d ]] || fail "templates.d not created"
[[ -z $(find "$dest" -name '*.la') ]] || fail "libtool .la files installed: $(find "$dest" -name '*.la')"
pam_so=$(find "$dest" -name pam_agentid.so)
[[ -n $pam_so ]] || fail "pam_agentid.so not installed"
[[ -n $(find "$dest" -name libnss_agentid.so.2) ]] || fail "libnss_agentid.so.2 not installed"

# An admin's edit survives a reinstall (an upgrade by make install).
echo "admins = @agentid-admins" >>"$conf"
mk install || fail "second make install: $(tail -5 "$TEST_DIR/make.log")"
grep -q '^admins = @agentid-admins' "$conf" || fail "make install overwrote the edited agentid.conf"
assert_contains "$(cat "$TEST_DIR/make.log")" "kept $sysconfdir/agentid/agentid.conf"

# A PAM stack still naming the module: uninstall keeps the module and fails.
mkdir -p "$dest$sysconfdir/pam.d"
printf 'auth [success=done ignore=ignore default=die] pam_agentid.so\n@include common-auth\n' >"$dest$sysconfdir/pam.d/sudo"
mk uninstall && fail "make uninstall succeeded while pam.d/sudo names pam_agentid"
[[ -f $pam_so ]] || fail "make uninstall removed pam_agentid.so while pam.d/sudo names it"
assert_contains "$(cat "$TEST_DIR/make.log")" "pam.d/sudo"

# The lines taken out: uninstall completes, and keeps only the edited config.
sed -i '/pam_agentid/d' "$dest$sysconfdir/pam.d/sudo"
mk uninstall || fail "make uninstall: $(tail -5 "$TEST_DIR/make.log")"
rm -rf "$dest$sysconfdir/pam.d"
assert_eq "$(find "$dest" -type f)" "$conf" "files left after make uninstall"
[[ -d $dest$sysconfdir/agentid/templates.d ]] && fail "empty templates.d left"

# Unedited: nothing at all is left, no empty doc or config directories.
rm -rf "$dest"
mk install && mk uninstall || fail "install+uninstall: $(tail -5 "$TEST_DIR/make.log")"
assert_eq "$(find "$dest" -type f)" "" "files left after install+uninstall"
assert_eq "$(cd "$dest" && find . -type d -name agentid)" "" "agentid directories (doc, config) left"
echo "install: ok"
