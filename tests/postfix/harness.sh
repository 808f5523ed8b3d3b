#!/usr/bin/env bash
# harness.sh - proves tests/postfix/pf.sh without smimegwd: a private
# Postfix whose content filter is Postfix itself (the lscan transport
# speaks SMTP straight into the reinjection smtpd), so every message takes
# the path it will take through smimegwd: front smtpd, queue, lscan,
# reinjection smtpd, queue, delivery.  Prints "N passed, N failed".
set -uo pipefail
export LC_ALL=C TZ=UTC
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=pf.sh
. "$HERE/pf.sh"

PASSED=0 FAILED=0
W=$(mktemp -d "${TMPDIR:-/tmp}/smimegw-pfh.XXXXXX")
trap 'rm -rf "$W"' EXIT

pass() { PASSED=$((PASSED + 1)); echo "ok   $1"; }
fail() {
	FAILED=$((FAILED + 1))
	echo "FAIL $1"
	shift
	[ $# -gt 0 ] && printf '     | %s\n' "$@"
	return 0
}
# check NAME CMD...: the command succeeds; its stderr is shown otherwise.
check() {
	local name=$1
	shift
	if "$@" >"$W/out" 2>"$W/err"; then
		pass "$name"
	else
		fail "$name (exit $?)"
		sed 's/^/     | /' "$W/err" "$W/out" | head -80
	fi
}
# The files (one a line on stdin) that contain the fixed string $1.
files_with() { xargs -r grep -lF -- "$1" 2>/dev/null; }
body_of() { sed '1,/^$/d' "$1"; }

systemq_before=$(ls -A /var/spool/postfix/pid 2>/dev/null)
etc_before=$(ls -A /etc/postfix 2>/dev/null | sort | tr '\n' ' ')

# --- start ------------------------------------------------------------
t0=$(date +%s.%N)
if ! pf_init noop || ! pf_start; then
	fail "instance starts"
	echo "$PASSED passed, $FAILED failed"
	exit 1
fi
t1=$(date +%s.%N)
pass "instance starts ($(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")s; front $PF_PORT, reinjection $PF_REINJECT_PORT)"
master=$(pf_master_pid)
if [ -n "$master" ] &&
	[ "$(readlink "/proc/$master/cwd")" = "$(cd "$PF_DIR/queue" && pwd -P)" ]; then
	pass "master $master runs in the private queue"
else
	fail "master runs in the private queue" "pid '$master'"
fi

# --- one message, body intact, exactly once ---------------------------
mid="harness-$$-$RANDOM@example.test"
{
	printf 'From: Sender <sender@%s>\n' "$PF_DOMAIN"
	printf 'To: Alice <alice@%s>\n' "$PF_DOMAIN"
	printf 'Subject: harness %s\n' "$mid"
	printf 'Message-ID: <%s>\n' "$mid"
	printf 'Date: Mon, 07 Dec 2026 10:00:00 +0000\n'
	printf 'MIME-Version: 1.0\n'
	printf 'Content-Type: text/plain; charset=utf-8\n'
	printf 'Content-Transfer-Encoding: 8bit\n\n'
	printf 'First line of %s\n' "$mid"
	printf '.a line that starts with a dot\n'
	printf '..two dots\n'
	printf 'trailing blanks   \n'
	printf '\n'
	printf '8bit: Gr\303\274\303\237e aus K\303\266ln\n'
	printf 'tab\there\n'
	head -c 998 /dev/zero | tr '\0' 'x'
	printf '\nlast line\n'
} >"$W/msg.eml"
body_of "$W/msg.eml" >"$W/body.want"

check "swaks sends one message" pf_send_file "$W/msg.eml"
check "one message delivered, queue empty" pf_wait_delivered 1 alice
pf_mails alice | files_with "Message-ID: <$mid>" >"$W/hits"
if [ "$(wc -l <"$W/hits")" -eq 1 ]; then
	pass "alice has the message once"
	got=$(head -1 "$W/hits")
	body_of "$got" >"$W/body.got"
	if cmp -s "$W/body.want" "$W/body.got"; then
		pass "body intact (dots, 8bit, blanks, a 998-octet line)"
	else
		fail "body intact" "$(diff "$W/body.want" "$W/body.got" | cut -c1-100 | head -20)"
	fi
	# Through the filter: received by the front, then by the reinjection
	# smtpd, and nowhere else.
	n=$(grep -c "^Received: from " "$got")
	[ "$n" -eq 2 ] && pass "two Received headers (front, reinjection)" ||
		fail "two Received headers" "found $n" "$(grep -A2 '^Received:' "$got")"
else
	fail "alice has the message once" "$(cat "$W/hits")"
fi
front_qid=$(grep -F "postfix/front/smtpd" "$PF_DIR/maillog" |
	sed -n 's/.*smtpd\[[0-9]*\]: \([0-9A-F]*\): client=.*/\1/p' | tail -1)
if [ -n "$front_qid" ] &&
	grep -E "postfix/lscan/smtp\[[0-9]+\]: $front_qid: to=<alice@$PF_DOMAIN>, relay=127.0.0.1\[127.0.0.1\]:$PF_REINJECT_PORT, .*status=sent" \
		"$PF_DIR/maillog" >/dev/null &&
	grep -E "postfix/reinject/smtpd\[[0-9]+\]: [0-9A-F]+: client=.*orig_queue_id=$front_qid" \
		"$PF_DIR/maillog" >/dev/null; then
	pass "the lscan transport relayed $front_qid to the reinjection smtpd, with XFORWARD"
else
	fail "lscan relayed to the reinjection smtpd with XFORWARD" \
		"$(grep -E 'lscan|reinject' "$PF_DIR/maillog" | tail -10)"
fi

# --- unknown recipient: a DSN to the sender ---------------------------
mid2="unknown-$$-$RANDOM@example.test"
check "swaks sends to bob and an unknown recipient" \
	pf_send --to "bob@$PF_DOMAIN,nosuchuser@$PF_DOMAIN" \
	--header "Message-ID: <$mid2>" --body "for bob and nosuchuser"
check "bob's copy and the DSN delivered, queue empty" pf_wait_delivered 3
check "bob has exactly one message" pf_wait_delivered 1 bob
check "alice still has exactly one" pf_wait_delivered 1 alice
pf_mails sender | files_with "$mid2" >"$W/dsn"
if [ "$(wc -l <"$W/dsn")" -eq 1 ]; then
	pass "the sender got one DSN"
	dsn=$(head -1 "$W/dsn")
	if grep -q '^Content-Type: multipart/report; report-type=delivery-status' "$dsn" &&
		grep -qx 'Final-Recipient: rfc822; nosuchuser@example.test' "$dsn" &&
		grep -qx 'Action: failed' "$dsn" &&
		grep -qx 'Status: 5.1.1' "$dsn" &&
		! grep -q 'Final-Recipient: rfc822; bob@' "$dsn"; then
		pass "the DSN names nosuchuser (5.1.1, failed) and not bob"
	else
		fail "the DSN names nosuchuser and not bob" "$(grep -E '^(Content-Type|Final-Recipient|Action|Status):' "$dsn")"
	fi
else
	fail "the sender got one DSN" "$(pf_mails sender)"
fi

# --- smtp-sink as the final destination -------------------------------
check "smtp-sink starts" pf_sink_start
mid3="sink-$$-$RANDOM@example.test"
check "swaks sends to the sink domain" pf_send --to "x@$PF_SINK_DOMAIN" \
	--header "Message-ID: <$mid3>" --body "to the sink"
check "four messages delivered in all" pf_wait_delivered 4
if [ "$(find "$PF_DIR/sink" -type f | files_with "$mid3" | wc -l)" -eq 1 ]; then
	pass "smtp-sink has the message once"
else
	fail "smtp-sink has the message once" "$(ls -lR "$PF_DIR/sink")"
fi

# --- the system Postfix was never touched -----------------------------
[ "$(ls -A /var/spool/postfix/pid 2>/dev/null)" = "$systemq_before" ] &&
	[ "$(ls -A /etc/postfix 2>/dev/null | sort | tr '\n' ' ')" = "$etc_before" ] &&
	pass "/etc/postfix and the system queue untouched" ||
	fail "/etc/postfix and the system queue untouched"

# --- stop: nothing left -----------------------------------------------
pf_stop
left=$(pf_pids)
[ -z "$left" ] && ! pf_alive "$master" &&
	pass "pf_stop leaves no process" ||
	fail "pf_stop leaves no process" "$(ps -o pid,args -p "${left:-$master}" 2>&1)"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
