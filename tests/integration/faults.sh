#!/usr/bin/env bash
# Faults that lose mail or hide it (issue 8, items 11, 14 and 15): a
# token that fails in the middle of a decryption or a signature (through
# the p11fault module, which forwards to SoftHSM and fails the calls we
# name), output left by earlier or killed runs, plaintext in memory and
# core dumps.
. "$(dirname "$0")/lib.sh"
: "${P11FAULT_SO:?}"
setup_token
# Every command goes through the fault module; without P11FAULT rules it
# is SoftHSM.
sed -i "s#^pkcs11_module = .*#pkcs11_module = $P11FAULT_SO#" "$T/smimegw.conf"
export P11FAULT_LOG="$T/p11fault.log"
unset P11FAULT P11FAULT_FILE

gw cert create gw --cn gw.corp.example --country DE --days 30 \
	--san-dns corp.example --key rsa:2048 >/dev/null
gw cert create gw-ec --cn gw.corp.example --country DE --days 30 \
	--san-dns corp.example --key ec:p256 >/dev/null
gw cert export gw >"$T/gw.pem"
gw cert export gw-ec >"$T/gw-ec.pem"
gw profile add p-sign --mode sign --cert gw --sign-mode detached >/dev/null

# enc CERT FILE : a message encrypted to CERT by openssl cms.
printf 'Content-Type: text/plain\r\n\r\nthe secret plan\r\n' >"$T/plain.txt"
enc() {
	{
		printf '%s\r\n' "From: bob@example1.com" "To: alice@corp.example" \
			"Subject: secret" "Message-ID: <f1@example1.com>"
		openssl cms -encrypt -aes256 -in "$T/plain.txt" -crlfeol "$1" 2>/dev/null
	} >"$2"
}
enc "$T/gw.pem" "$T/rsa.eml"
enc "$T/gw-ec.pem" "$T/ec.eml"
M=$T/m.eml
printf '%s\r\n' "From: Alice <alice@corp.example>" "To: bob@example1.com" \
	"Subject: figures" "Message-ID: <o1@corp.example>" "MIME-Version: 1.0" \
	"Content-Type: text/plain; charset=us-ascii" "" "The figures." >"$M"

# run EXIT DIR ARGS... : smimegw process --out-dir DIR; sets RC.
run() {
	local dir=$2
	shift 2
	${WRAP:-} "$SMIMEGW" -c "$T/smimegw.conf" process --out-dir "$dir" "$@" \
		>"$T/out" 2>"$T/err"
	RC=$?
}
inc() { run - "$1" --direction incoming --from bob@example1.com \
	--to alice@corp.example -i "$2" "${@:3}"; }
outg() { run - "$1" --direction outgoing --from alice@corp.example \
	--to bob@example1.com -i "$M" "${@:2}"; }
j() { jq -r "$2" "$1/result.json" 2>&1; }
files() { (cd "$1" && ls -A | tr '\n' ' '); }
# injected FUNCTION : the fault module says it failed FUNCTION since the
# log was last cleared (the fault really happened).
injected() { grep -c " $1 " "$P11FAULT_LOG" 2>/dev/null || true; }

# ---- item 11: the token fails during decryption -----------------------------
# Without a fault the module is SoftHSM: the message decrypts.
D=$T/i-ok
inc "$D" "$T/rsa.eml"
same "fault module without rules: exit 0" "$RC" 0
has "fault module without rules: decrypted" "$D/copy-1.eml" "the secret plan"

# fault_case NAME FUNCTION CKR MESSAGE : the token fails FUNCTION with
# CKR during "process" of an incoming MESSAGE: deferred, nothing
# delivered, and the reason names the CK_RV.
fault_case() {
	local name=$1 fn=$2 ckr=$3 msg=$4 D=$T/i-$1
	rm -rf "$D" "$P11FAULT_LOG"
	P11FAULT="$fn $ckr" inc "$D" "$msg"
	same "$name: $fn failed (fault injected)" "$([ "$(injected "$fn")" -gt 0 ] && echo yes)" yes
	same "$name: exit 75" "$RC" 75
	same "$name: no copy delivered" "$(files "$D")" "result.json "
	same "$name: decision defer" "$(j "$D" .decision)" defer
	matches "$name: the reason names the token fault" "$D/result.json" \
		"\"reason\": \".*$ckr"
	matches "$name: stderr names the token fault" "$T/err" "$ckr"
}
fault_case item11_token_fault_during_decrypt_defers C_Decrypt \
	CKR_DEVICE_ERROR "$T/rsa.eml"
fault_case item11_session_lost_at_decrypt_init_defers C_DecryptInit \
	CKR_SESSION_HANDLE_INVALID "$T/rsa.eml"
fault_case item11_token_removed_during_ecdh_defers C_DeriveKey \
	CKR_DEVICE_REMOVED "$T/ec.eml"
fault_case item11_module_lost_during_decrypt_defers C_Decrypt \
	CKR_CRYPTOKI_NOT_INITIALIZED "$T/rsa.eml"
fault_case item11_token_absent_during_decrypt_defers C_DecryptInit \
	CKR_TOKEN_NOT_PRESENT "$T/rsa.eml"

# A fault that passes (libp11 tries the key transport a second time on
# the token, and the second try works): decrypted as usual.
D=$T/i-once
rm -f "$P11FAULT_LOG"
P11FAULT="C_Decrypt CKR_DEVICE_ERROR 0 1" inc "$D" "$T/rsa.eml"
same "item11_fault_that_passes: injected once" "$(injected C_Decrypt)" 1
same "item11_fault_that_passes: exit 0" "$RC" 0
has "item11_fault_that_passes: decrypted" "$D/copy-1.eml" "the secret plan"

# "message open": the same fault gives the temporary status and no output.
rm -f "$P11FAULT_LOG" "$T/open.eml"
P11FAULT="C_Decrypt CKR_DEVICE_ERROR" ${WRAP:-} "$SMIMEGW" -c "$T/smimegw.conf" \
	message open -i "$T/rsa.eml" -o "$T/open.eml" >"$T/out" 2>"$T/err"
RC=$?
same "item11_message_open_token_fault: fault injected" "$([ "$(injected C_Decrypt)" -gt 0 ] && echo yes)" yes
same "item11_message_open_token_fault: exit 75" "$RC" 75
same "item11_message_open_token_fault: no output written" "$([ -e "$T/open.eml" ] && echo written)" ""
matches "item11_message_open_token_fault: says the token failed" "$T/err" \
	"the token failed: .*CKR_DEVICE_ERROR"
for s in decrypt; do
	rm -f "$T/open.eml"
	P11FAULT="C_DeriveKey CKR_DEVICE_ERROR" ${WRAP:-} "$SMIMEGW" -c "$T/smimegw.conf" \
		message $s -i "$T/ec.eml" -o "$T/open.eml" >"$T/out" 2>"$T/err"
	same "item11_message_${s}_token_fault (ECDH): exit 75" "$?" 75
	same "item11_message_${s}_token_fault (ECDH): no output" "$([ -e "$T/open.eml" ] && echo written)" ""
done

# Not a token fault: a damaged key transport (one byte of the encrypted
# content key changed).  SoftHSM answers CKR_GENERAL_ERROR, which bad
# input causes, so it stays permanent: delivered as it came, flagged.
openssl cms -encrypt -aes256 -in "$T/plain.txt" -outform DER -out "$T/c.der" "$T/gw.pem"
python3 - "$T/c.der" <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
i = d.find(b'\x04\x82\x01\x00')   # the 256-byte encryptedKey
d[i + 14] ^= 0x55
open(sys.argv[1], 'wb').write(d)
PY
{
	printf '%s\r\n' "From: bob@example1.com" "To: alice@corp.example" \
		"Subject: damaged" "MIME-Version: 1.0" \
		"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m" \
		"Content-Transfer-Encoding: base64" ""
	base64 -w 64 "$T/c.der" | sed 's/$/\r/'
} >"$T/damaged.eml"
D=$T/i-damaged
inc "$D" "$T/damaged.eml"
same "item11_damaged_key_transport_stays_permanent: exit 0" "$RC" 0
same "item11_damaged_key_transport_stays_permanent: delivered as it came" \
	"$(j "$D" .smime.result)" permerror
same "item11_damaged_key_transport_stays_permanent: not decrypted" \
	"$(grep -c 'the secret plan' "$D/copy-1.eml")" 0

# The fault module's other controls, for the daemon's tests to come: a
# rule file read again when it changes, and a rule that does not parse
# failing everything instead of passing for a fault.
D=$T/i-file
export P11FAULT_FILE="$T/rules"
printf '# a fault for every decryption\nC_Decrypt CKR_DEVICE_ERROR\n' >"$P11FAULT_FILE"
inc "$D" "$T/rsa.eml"
same "p11fault: rules from P11FAULT_FILE: exit 75" "$RC" 75
rm -f "$P11FAULT_FILE"
inc "$D" "$T/rsa.eml"
same "p11fault: P11FAULT_FILE removed: exit 0" "$RC" 0
unset P11FAULT_FILE
P11FAULT="C_Decrypt CKR_NO_SUCH_THING" inc "$D" "$T/rsa.eml"
same "p11fault: a bad rule fails every call: exit 75" "$RC" 75
matches "p11fault: a bad rule says so" "$T/err" "p11fault: bad rule 'C_Decrypt CKR_NO_SUCH_THING'"

# Signing, as before: a token fault during the signature defers.
D=$T/o-sign-fault
rm -f "$P11FAULT_LOG"
P11FAULT="C_Sign CKR_DEVICE_ERROR" outg "$D" --profile p-sign
same "item11_token_fault_during_signing_defers: fault injected" "$([ "$(injected C_Sign)" -gt 0 ] && echo yes)" yes
same "item11_token_fault_during_signing_defers: exit 75" "$RC" 75
same "item11_token_fault_during_signing_defers: no copy" "$(files "$D")" "result.json "
same "item11_token_fault_during_signing_defers: defer" "$(j "$D" .decision)" defer
D=$T/o-sign-ok
outg "$D" --profile p-sign
same "signing without a fault: exit 0" "$RC" 0

# ---- item 14: stale and partial output ---------------------------------------
# An earlier run delivered into D; each case then runs again into D.
deliver_into() {
	rm -rf "$1"
	inc "$1" "$T/rsa.eml"
	[ "$RC" = 0 ] && [ -f "$1/copy-1.eml" ] || echo "     | setup: the first run did not deliver"
}
# A run that fails (the token fails during decryption): only its own
# result.json, saying defer.
D=$T/o14-fail
deliver_into "$D"
P11FAULT="C_Decrypt CKR_DEVICE_ERROR" inc "$D" "$T/rsa.eml"
same "item14_failed_run_after_delivery: exit 75" "$RC" 75
same "item14_failed_run_after_delivery: no copy from before" "$(files "$D")" "result.json "
same "item14_failed_run_after_delivery: result.json is this run's" "$(j "$D" .decision)" defer

# A run that is stopped before it could write anything (its input never
# comes; SIGTERM, as pipe(8)'s time limit sends): nothing from before.
# kill_run D SIGNAL : starts a run into D that blocks reading a FIFO,
# sends SIGNAL once it waits there.
kill_run() {
	local pid i
	rm -f "$T/never"
	mkfifo "$T/never"
	${WRAP:-} "$SMIMEGW" -c "$T/smimegw.conf" process --out-dir "$1" \
		--direction incoming --from bob@example1.com --to alice@corp.example \
		-i "$T/never" >/dev/null 2>&1 &
	pid=$!
	for i in $(seq 1 50); do
		grep -q fifo_open "/proc/$pid/wchan" 2>/dev/null && break
		[ "$(readlink "/proc/$pid/fd/3" 2>/dev/null)" = "$T/never" ] && break
		sleep 0.1
	done
	sleep 0.2
	kill -"$2" "$pid"
	wait "$pid" 2>/dev/null
}
for sig in TERM KILL; do
	D=$T/o14-$sig
	deliver_into "$D"
	kill_run "$D" $sig
	same "item14_stopped_run_leaves_nothing_from_before (SIG$sig)" "$(files "$D")" ""
done

# What a killed run left while writing (cli_file_write()'s temporary
# names) goes; files that are not smimegw's stay.
D=$T/o14-tmp
deliver_into "$D"
for f in result.json.Ab3xYz copy-1.eml.Q9w8E7 copy-2.eml.zzzzzz notes.txt \
	result.json.bak copy-1.eml.orig result.json.ABCDEFG copy-7.eml.Ab3xYz; do
	echo "$f" >"$D/$f"
done
inc "$D" "$T/ec.eml"
same "item14_leftover_temp_files_removed: exit 0" "$RC" 0
same "item14_leftover_temp_files_removed: only this run's and others' files" \
	"$(files "$D")" "copy-1.eml copy-1.eml.orig copy-7.eml.Ab3xYz notes.txt result.json result.json.ABCDEFG result.json.bak "
has "item14_leftover_temp_files_removed: the copy is this run's" "$D/copy-1.eml" "the secret plan"

# result.json cannot be written (a directory of that name): the run
# fails and leaves no copy without its result.json.
D=$T/o14-nores
rm -rf "$D"
mkdir -p "$D/result.json"
inc "$D" "$T/rsa.eml"
same "item14_unwritable_result_leaves_no_copy: exit 75" "$RC" 75
same "item14_unwritable_result_leaves_no_copy: no copy, no temporary file" \
	"$(files "$D")" "result.json "

# ---- item 15: plaintext in memory, core dumps -------------------------------
# A message of 300 KB plaintext, opened with its output going to a pipe
# that nobody reads: smimegw blocks writing it, the plaintext in memory.
# Then SIGABRT, which dumps core where core dumps are allowed.
SECRET="TOPSECRET-$$-$RANDOM"
{
	printf 'Content-Type: text/plain\r\n\r\n'
	for i in $(seq 1 6000); do printf '%s line %05d of the plan\r\n' "$SECRET" "$i"; done
} >"$T/big.txt"
{
	printf '%s\r\n' "From: bob@example1.com" "To: alice@corp.example" "Subject: big"
	openssl cms -encrypt -aes256 -in "$T/big.txt" -binary "$T/gw.pem" 2>/dev/null
} >"$T/big.eml"
# abort_holding NAME : runs "message open" on big.eml until it holds the
# plaintext, kills it with SIGABRT; sets LIMIT (its core limit, soft and
# hard, while it ran) and CORES (the core files it left).
abort_holding() {
	local dir=$T/cores-$1 fifo=$T/fifo-$1 pid i wchar
	mkdir -p "$dir"
	mkfifo "$fifo"
	exec 7<>"$fifo"
	(
		cd "$dir" && ulimit -c unlimited 2>/dev/null
		exec "$SMIMEGW" -c "$T/smimegw.conf" message open -i "$T/big.eml" >"$fifo" 2>/dev/null
	) &
	pid=$!
	# Blocked in write(2) once it wrote more than the pipe holds.
	for i in $(seq 1 100); do
		wchar=$(awk '/^wchar:/ {print $2}' /proc/$pid/io 2>/dev/null)
		[ "${wchar:-0}" -gt 65536 ] && break
		[ -z "$wchar" ] && [ "$i" -gt 20 ] && break # io unreadable: undumpable, not root
		sleep 0.1
	done
	LIMIT=$(awk '/^Max core file size/ {print $5, $6}' /proc/$pid/limits)
	kill -ABRT "$pid"
	wait "$pid" 2>/dev/null
	exec 7>&-
	CORES=$(cd "$dir" && ls -A | tr '\n' ' ')
}
abort_holding limit
same "item15_core_limit_zero: RLIMIT_CORE of a running smimegw" "$LIMIT" "0 0"
same "item15_no_core_with_plaintext: no core file after SIGABRT" "$CORES" ""
[ -n "$CORES" ] && for c in $CORES; do
	echo "     | $c holds the plaintext $(grep -ac "$SECRET" "$T/cores-limit/$c") times"
done
# Undumpable (PR_SET_DUMPABLE 0): no core even if the limit is raised
# again, and the kernel gives its /proc files to root, so that another
# process of the same user cannot read its memory.  Seen from outside as
# the owner of /proc/PID/status, with smimegw run as an unprivileged user
# (nobody, when the tests run as root) and blocked reading its input.
U=$(id -u)
RUNAS=()
if [ "$U" = 0 ]; then
	U=65534
	RUNAS=(setpriv --reuid=$U --regid=$U --clear-groups)
fi
mkfifo "$T/in-fifo"
chmod 755 "$T"
chmod 666 "$T/in-fifo"
"${RUNAS[@]}" "$SMIMEGW" -c "$T/smimegw.conf" message open -i "$T/in-fifo" \
	>/dev/null 2>&1 &
PID=$!
for i in $(seq 1 50); do
	[ "$(readlink /proc/$PID/exe 2>/dev/null)" = "$(readlink -f "$SMIMEGW")" ] && break
	sleep 0.1
done
sleep 0.3
OWNER=$(stat -c %u /proc/$PID/status 2>/dev/null)
kill "$PID" 2>/dev/null
wait "$PID" 2>/dev/null
chmod 700 "$T"
same "item15_undumpable: /proc/PID/status of smimegw run as uid $U belongs to root" "$OWNER" 0

finish
