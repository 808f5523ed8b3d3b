#!/usr/bin/env bash
# "cmake --install" lays out smimegwd's systemd files under DESTDIR:
# the unit (its ExecStart naming the prefix's smimegwd), sysusers.d and
# tmpfiles.d; systemd-analyze verify accepts the unit (with its paths
# moved under DESTDIR, where the programs are), systemd-sysusers makes
# the two users in a scratch root, and systemd-tmpfiles the folders
# there with their owners and modes.  Needs the build tree (BUILD).
set -uo pipefail
: "${BUILD:?}"
T=$(mktemp -d "${TMPDIR:-/tmp}/smimegw-install.XXXXXX")
trap 'rm -rf "$T"' EXIT
PASSED=0
FAILED=0
ok() {
	local name=$1
	shift
	if "$@" >"$T/out" 2>&1; then
		PASSED=$((PASSED + 1)); echo "ok   $name"
	else
		FAILED=$((FAILED + 1)); echo "FAIL $name"
		sed 's/^/     | /' "$T/out" | head -20
	fi
}
same() {
	if [ "$2" = "$3" ]; then
		PASSED=$((PASSED + 1)); echo "ok   $1"
	else
		FAILED=$((FAILED + 1)); echo "FAIL $1: got '$2', wanted '$3'"
	fi
}

D=$T/dest
ok "cmake --install --prefix /usr with DESTDIR" \
	env DESTDIR="$D" cmake --install "$BUILD" --prefix /usr
U=$D/usr/lib/systemd/system/smimegwd.service
for f in "$U" "$D/usr/lib/sysusers.d/smimegw.conf" \
	"$D/usr/lib/tmpfiles.d/smimegw.conf" "$D/usr/bin/smimegwd" \
	"$D/usr/bin/smimegw-keyd" "$D/usr/bin/smimegw"; do
	ok "installed: ${f#$D}" test -f "$f"
done
same "the unit starts the prefix's smimegwd" \
	"$(grep '^ExecStart=' "$U")" "ExecStart=/usr/bin/smimegwd"
same "the unit is Type=notify" "$(grep '^Type=' "$U")" "Type=notify"
for k in "ProtectSystem=strict" "NoNewPrivileges=yes" \
	"ReadWritePaths=/var/lib/smimegw" "KillMode=mixed"; do
	same "the unit sets $k" "$(grep -c "^$k\$" "$U")" 1
done
ok "no @...@ left in the unit" sh -c "! grep -q '@[A-Z_]*@' '$U'"

if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T/v"
	sed "s#=/usr/bin/#=$D/usr/bin/#" "$U" >"$T/v/smimegwd.service"
	ok "systemd-analyze verify accepts the unit" \
		systemd-analyze verify --man=no "$T/v/smimegwd.service"
else
	echo "skip systemd-analyze verify: systemd-analyze is not installed"
fi

R=$T/root
mkdir -p "$R/etc"
if command -v systemd-sysusers >/dev/null &&
	command -v systemd-tmpfiles >/dev/null; then
	ok "systemd-sysusers makes the users (scratch root)" \
		systemd-sysusers --root="$R" "$D/usr/lib/sysusers.d/smimegw.conf"
	ok "the workers' user" grep -q '^smimegw:' "$R/etc/passwd"
	ok "keyd's user" grep -q '^smimegw-keyd:' "$R/etc/passwd"
	ok "systemd-tmpfiles makes the folders (scratch root)" \
		systemd-tmpfiles --root="$R" --create \
		"$D/usr/lib/tmpfiles.d/smimegw.conf"
	wuid=$(awk -F: '$1 == "smimegw" {print $3}' "$R/etc/passwd")
	same "/var/lib/smimegw: 0700, the workers' user's" \
		"$(stat -c '%a %u' "$R/var/lib/smimegw")" "700 $wuid"
	same "/etc/smimegw: 0755, root's" \
		"$(stat -c '%a %u' "$R/etc/smimegw")" "755 0"
	kuid=$(awk -F: '$1 == "smimegw-keyd" {print $3}' "$R/etc/passwd")
	echo 1234 >"$R/etc/smimegw/token.pin"
	ok "systemd-tmpfiles fixes the PIN file" systemd-tmpfiles --root="$R" \
		--create "$D/usr/lib/tmpfiles.d/smimegw.conf"
	same "token.pin: 0400, keyd's" \
		"$(stat -c '%a %u' "$R/etc/smimegw/token.pin")" "400 $kuid"
else
	echo "skip sysusers/tmpfiles: systemd-sysusers or systemd-tmpfiles" \
		"is not installed"
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
