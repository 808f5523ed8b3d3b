# lib.sh - shared helpers for smimegw integration tests (sourced, bash).
#
# Each test script runs named cases against a fresh, isolated SoftHSM
# token (default or strict profile) and prints "N passed, N failed".
# Environment (set by ctest): SMIMEGW (binary), SRCDIR, P11PROBE,
# PROFILE (default|strict); optional WRAP (e.g. a valgrind command line).
set -uo pipefail
: "${SMIMEGW:?}" "${SRCDIR:?}" "${P11PROBE:?}"
PROFILE=${PROFILE:-default}
MODULE=/usr/lib/softhsm/libsofthsm2.so
T=$(mktemp -d "${TMPDIR:-/tmp}/smimegw-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
export LC_ALL=C TZ=UTC
PASSED=0
FAILED=0
LABEL="t$$"

# A fresh token and a config pointing at it.
setup_token() {
	local strict=
	[ "$PROFILE" = strict ] && strict=--strict
	"$SRCDIR/hsm-setup/softhsm-token.sh" --dir "$T/tok" --label "$LABEL" \
		$strict >"$T/tok.env" 2>"$T/tok.log" || {
		cat "$T/tok.log" >&2
		exit 1
	}
	export SOFTHSM2_CONF="$T/tok/softhsm2.conf"
	cat >"$T/smimegw.conf" <<EOC
data_dir = data
pkcs11_module = $MODULE
token = pkcs11:token=$LABEL
pin_file = tok/user.pin
EOC
}

gw() {
	${WRAP:-} "$SMIMEGW" -c "$T/smimegw.conf" "$@"
}

# ok NAME CMD... : the command must succeed.
ok() {
	local name=$1
	shift
	if "$@" >"$T/out" 2>"$T/err"; then
		PASSED=$((PASSED + 1))
		echo "ok   $name"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL $name (exit $?)"
		sed 's/^/     | /' "$T/err" | head -20
	fi
}

# refused NAME EXPECTED-SUBSTRING CMD... : the command must fail and say
# why (stderr contains the substring).
refused() {
	local name=$1 want=$2 rc
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	# 99 is valgrind's error exit (WRAP): never an expected refusal.
	if [ $rc -ne 0 ] && [ $rc -ne 99 ] &&
		grep -F -- "$want" "$T/err" >/dev/null; then
		PASSED=$((PASSED + 1))
		echo "ok   $name"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL $name (exit $rc, wanted a failure saying: $want)"
		sed 's/^/     | /' "$T/err" | head -20
	fi
}

# has NAME FILE EXPECTED-LINE : FILE has a line equal to EXPECTED-LINE
# after trimming leading and trailing blanks.
has() {
	if sed 's/^[[:space:]]*//; s/[[:space:]]*$//' "$2" |
		grep -xF -- "$3" >/dev/null; then
		PASSED=$((PASSED + 1))
		echo "ok   $1"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL $1: no line '$3' in:"
		sed 's/^/     | /' "$2" | head -60
	fi
}

# matches NAME FILE ERE : some line of FILE matches the extended regex.
matches() {
	if grep -E -- "$3" "$2" >/dev/null; then
		PASSED=$((PASSED + 1))
		echo "ok   $1"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL $1: no line matching /$3/ in:"
		sed 's/^/     | /' "$2" | head -60
	fi
}

# diff_err A B : the files are equal; their differences go to stderr,
# which ok shows.
diff_err() { diff -- "$1" "$2" >&2; }

# same NAME GOT WANT
same() {
	if [ "$2" = "$3" ]; then
		PASSED=$((PASSED + 1))
		echo "ok   $1"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL $1: got '$2', wanted '$3'"
	fi
}

# Number of objects on the token (any class), via our probe-free route:
# pkcs11-tool lists them.
token_objects() {
	pkcs11-tool --module "$MODULE" --token-label "$LABEL" --login \
		--pin "$(cat "$T/tok/user.pin")" --list-objects 2>/dev/null |
		grep -cE '^(Private Key|Public Key|Certificate) Object'
}

finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}
