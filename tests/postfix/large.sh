#!/usr/bin/env bash
# Large messages through smimegwd (no Postfix: swaks speaks LMTP to the
# outgoing listener, smtp-sink is the next hop): a 50 MiB message within
# message_size_limit is signed and arrives whole (openssl cms verifies
# it, the body intact), the same message sign-encrypted for a partner
# (the sending profile table) decrypts and verifies whole, and a
# message above
# message_size_limit gets 552 5.3.4 with the worker neither replaced nor
# grown (VmHWM, /proc/PID/status) and nothing relayed.  The worker's
# peak RSS for the 50 MiB message is printed for the record.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/pki.sh"
. "$(dirname "$0")/pf.sh" # pf_free_port, pf_banner
: "${SMIMEGWD:?}" "${KEYD:?}"
setup_token

D=example.test
gw cert create gw --cn gw.$D --country DE --days 30 --san-dns $D \
	--key rsa:2048 >/dev/null || exit 1
gw cert export gw >"$T/gw.pem"
gw profile add p-sign --mode sign --cert gw --sign-mode detached >/dev/null
# Sign-encrypt makes a 50 MiB message about 70 MiB: above the 64 MiB
# ceiling for what the pipeline takes in, within the one for what it
# makes (SMIME_OUT_MAX).
mkca "$T/ca" "Partner CA"
mkee "$T/ca" carol rsa:2048 "basicConstraints=critical,CA:FALSE;extendedKeyUsage=emailProtection;keyUsage=critical,digitalSignature,keyEncipherment;subjectAltName=email:carol@partner.test"
gw pubkey add carol "$T/carol.pem" >/dev/null
gw profile add p-se --mode sign-encrypt --cert gw --sign-mode detached \
	--action bounce >/dev/null
gw route add --recipient carol@partner.test --profile p-se >/dev/null

SINK_PORT=$(pf_free_port) PORT=$(pf_free_port)
# smtp-sink writes as nobody: $T may be traversed (not listed).
chmod 711 "$T" && mkdir -p "$T/sink" && chmod 777 "$T/sink"
smtp-sink -u nobody -d "$T/sink/%Y%m%d%H%M%S." -h sink.$D \
	"127.0.0.1:$SINK_PORT" 16 >"$T/sink.log" 2>&1 &
SINK_PID=$!
cat >>"$T/smimegw.conf" <<EOC
authserv_id = gw.$D
listener_outgoing = 127.0.0.1:$PORT
listener_outgoing_proto = lmtp
listener_outgoing_next_hop = 127.0.0.1:$SINK_PORT
listener_outgoing_profile = p-sign
workers = 1
smtp_timeout = 300
message_size_limit = 64M
spool_memory_limit = 1M
EOC
DPID=
trap 'kill -KILL $DPID $(pgrep -P "${DPID:-0}") $SINK_PID 2>/dev/null; rm -rf "$T"' EXIT
"$SMIMEGWD" -d -c "$T/smimegw.conf" -k "$KEYD" >"$T/daemon.log" 2>&1 &
DPID=$!
worker() {
	local p
	for p in $(pgrep -P "$DPID" 2>/dev/null); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -- --worker >/dev/null &&
			echo "$p"
	done
}
started() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ -n "$(worker)" ] && [ -n "$(pf_banner "$PORT")" ] &&
			[ -n "$(pf_banner "$SINK_PORT")" ] && return 0
		sleep 0.1
	done
	return 1
}
ok "smimegwd (1 worker) and smtp-sink start" started
hwm() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }
# message FILE BASE64-BYTES-OF-RANDOM: headers, then random base64 lines
message() {
	{
		printf 'From: Alice <alice@%s>\r\nTo: Bob <bob@partner.test>\r\n' $D
		printf 'Subject: large\r\nMessage-ID: <large.%s@%s>\r\n' "$2" $D
		printf 'MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n'
		head -c "$2" /dev/urandom | base64 -w 76 | sed 's/$/\r/'
	} >"$1"
}
send() { # FILE [RECIPIENT]
	swaks --server "127.0.0.1:$PORT" --protocol LMTP --helo client.$D \
		--from alice@$D --to "${2:-bob@partner.test}" --data "$1" \
		--timeout 300 --suppress-data 2>&1
}
sunk() { find "$T/sink" -type f | wc -l; }

# ---- above message_size_limit: 552 5.3.4, the worker does not grow --------
message "$T/over.eml" 52000000 # about 68 MiB
w=$(worker)
h0=$(hwm "$w")
out=$(send "$T/over.eml")
case $out in
*"<~* 552 5.3.4"* | *"<** 552 5.3.4"* | *"552 5.3.4"*)
	PASSED=$((PASSED + 1)); echo "ok   68 MiB over message_size_limit 64M: 552 5.3.4" ;;
*)
	FAILED=$((FAILED + 1)); echo "FAIL 68 MiB over the limit: no 552 5.3.4 in:"
	printf '%s\n' "$out" | tail -8 | sed 's/^/     | /' ;;
esac
same "the same worker after the refusal" "$(worker)" "$w"
h1=$(hwm "$w")
echo "     worker VmHWM before $h0 kB, after the 68 MiB refusal $h1 kB"
ok "the worker's peak RSS grew by less than 8 MiB for the 68 MiB message" \
	test $((h1 - h0)) -lt 8192
same "nothing relayed" "$(sunk)" 0
rm -f "$T/over.eml"

# ---- 50 MiB within the limit: through, whole --------------------------------
message "$T/big.eml" 38800000 # about 50 MiB
sz=$(stat -c %s "$T/big.eml")
ok "the message is at least 50 MiB and within 64M" \
	test "$sz" -ge $((50 * 1048576 - 65536)) -a "$sz" -lt $((64 * 1048576))
out=$(send "$T/big.eml")
case $out in
*"<~  250 "* | *"<~ 250 "* | *"250 2.0.0 relayed"*)
	PASSED=$((PASSED + 1)); echo "ok   50 MiB: 250 relayed" ;;
*)
	FAILED=$((FAILED + 1)); echo "FAIL 50 MiB: no 250 in:"
	printf '%s\n' "$out" | tail -8 | sed 's/^/     | /' ;;
esac
same "the same worker after the 50 MiB message" "$(worker)" "$w"
h2=$(hwm "$w")
echo "     worker VmHWM after the $((sz / 1048576)) MiB message: $h2 kB"
same "one copy relayed" "$(sunk)" 1
m=$(find "$T/sink" -type f | head -1)
ok "the copy's signature verifies (openssl cms)" openssl cms -verify \
	-in "$m" -CAfile "$T/gw.pem" -purpose smimesign -out "$T/body.eml"
# The body without its headers; blank lines aside (a multipart/signed
# entity's content may end with one more line end, as in daemon.sh).
body() { sed '1,/^\r\?$/d' "$1" | tr -d '\r' | grep -v '^$' | md5sum; }
same "the body is intact" "$(body "$T/body.eml")" "$(body "$T/big.eml")"

# ---- the same 50 MiB sign-encrypted: about 70 MiB out, whole --------------
rm -f "$T/sink"/* "$T/body.eml"
out=$(send "$T/big.eml" carol@partner.test)
case $out in
*"250 2.0.0 relayed"*)
	PASSED=$((PASSED + 1)); echo "ok   50 MiB sign-encrypted: 250 relayed" ;;
*)
	FAILED=$((FAILED + 1)); echo "FAIL 50 MiB sign-encrypted: no 250 in:"
	printf '%s\n' "$out" | tail -8 | sed 's/^/     | /' ;;
esac
same "one sign-encrypted copy relayed" "$(sunk)" 1
m=$(find "$T/sink" -type f | head -1)
ok "the copy is larger than 64 MiB" test "$(stat -c %s "$m")" -gt $((64 * 1048576))
ok "the copy decrypts with carol's key (openssl cms)" openssl cms -decrypt \
	-in "$m" -inkey "$T/carol.key" -recip "$T/carol.pem" -out "$T/signed.eml"
ok "what it holds verifies (openssl cms)" openssl cms -verify \
	-in "$T/signed.eml" -CAfile "$T/gw.pem" -purpose smimesign \
	-out "$T/body.eml"
same "the body is intact" "$(body "$T/body.eml")" "$(body "$T/big.eml")"
rm -f "$T/signed.eml" "$T/body.eml"

kill -TERM "$DPID" "$SINK_PID"
wait "$DPID" "$SINK_PID" 2>/dev/null
DPID= SINK_PID=
finish
