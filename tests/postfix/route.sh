#!/usr/bin/env bash
# smimegwd's choice of treatment, behind a private Postfix (pf.sh): the
# sending profile table ("smimegw route"), read live by the workers; a
# message whose recipients map to different profiles is split into one
# copy per profile, each recipient getting exactly one copy of the right
# kind (checked with openssl cms); a recipient whose profile bounces gets
# its 5.7.1 while the others are delivered; a listener with direction
# auto decides by internal_domains; the incoming settings (decrypt and
# verify on or off, retain or remove the signature, harvesting) take
# effect.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/pki.sh"
PF_USERS="alice bob carol dave boss sender postmaster"
. "$(dirname "$0")/pf.sh"
: "${SMIMEGWD:?}" "${KEYD:?}"
setup_token

GOOD="basicConstraints=critical,CA:FALSE;extendedKeyUsage=emailProtection"
ENC_RSA="keyUsage=critical,digitalSignature,keyEncipherment"
D=example.test
mkca "$T/ca" "Partner CA"
mkee "$T/ca" bob rsa:2048 "$GOOD;$ENC_RSA;subjectAltName=email:bob@$D"
mkee "$T/ca" carol rsa:2048 "$GOOD;$ENC_RSA;subjectAltName=email:carol@$D"
mkee "$T/ca" partner rsa:2048 "$GOOD;$ENC_RSA;subjectAltName=email:partner@other.test"

gw cert create gw --cn gw.$D --country DE --days 30 --san-dns $D \
	--key rsa:2048 >/dev/null || exit 1
gw cert export gw >"$T/gw.pem"
gw pubkey add bob "$T/bob.pem" >/dev/null
gw pubkey add carol "$T/carol.pem" >/dev/null
gw ca add "$T/ca/ca.pem" >/dev/null
gw profile add p-sign --mode sign --cert gw --sign-mode detached >/dev/null
gw profile add p-opaque --mode sign --cert gw --sign-mode opaque >/dev/null
gw profile add p-se --mode sign-encrypt --cert gw --sign-mode detached \
	--action bounce >/dev/null
gw profile add p-enc --mode encrypt --action bounce >/dev/null
gw profile add p-bounce --mode encrypt --action bounce --cipher aes128-cbc >/dev/null
# The table: bob sign-encrypted, carol encrypted only, dave encrypted
# too but he has no key (action bounce: his copy bounces, and only
# his); everyone else gets the default, p-sign.
ok "route: bob" gw route add --recipient bob@$D --profile p-se
ok "route: carol" gw route add --recipient carol@$D --profile p-enc
ok "route: dave" gw route add --recipient DAVE@Example.Test. --profile p-bounce

pf_init lmtp && pf_start || { echo "FAIL postfix starts"; exit 1; }
pf_sink_start || { echo "FAIL smtp-sink starts"; exit 1; }
cp "$T/smimegw.conf" "$T/base.conf"
# conf LISTENER [MORE-LINES]: the daemon's keys on top of the token's.
conf() {
	cp "$T/base.conf" "$T/smimegw.conf"
	cat >>"$T/smimegw.conf" <<EOC
authserv_id = gw.$D
listener_$1 = 127.0.0.1:$PF_FILTER_PORT
listener_$1_proto = lmtp
listener_$1_next_hop = 127.0.0.1:$PF_REINJECT_PORT
listener_outgoing_profile = p-sign
workers = 2
smtp_timeout = 30
${2:-}
EOC
}
DPID=
start_daemon() {
	local i
	# The listener of the daemon before must be gone: a start must not
	# take it for its own.
	for ((i = 0; i < 100; i++)); do
		[ -z "$(ss -Hltn "sport = :$PF_FILTER_PORT" 2>/dev/null)" ] && break
		sleep 0.1
	done
	"$SMIMEGWD" -d -c "$T/smimegw.conf" -k "$KEYD" >>"$T/daemon.log" 2>&1 &
	DPID=$!
	for ((i = 0; i < 300; i++)); do
		[ -n "$(ss -Hltn "sport = :$PF_FILTER_PORT" 2>/dev/null)" ] &&
			[ "$(pgrep -P "$DPID" | wc -l)" -ge 3 ] && return 0
		sleep 0.1
	done
	echo "smimegwd did not start; its log:" >&2
	tail -20 "$T/daemon.log" >&2
	return 1
}
tree() { echo "$DPID" $(pgrep -P "$DPID"); }
stop_daemon() {
	local pids i
	pids=$(tree)
	kill -TERM "$DPID" 2>/dev/null
	for ((i = 0; i < 150; i++)); do
		kill -0 $pids 2>/dev/null || break
		sleep 0.1
	done
	kill -0 $pids 2>/dev/null || return 0
	# Still there after 15 s: say so, and leave the port free for the
	# next start (else it would find the old listener and every later
	# message would wait for a delivery that cannot come).
	echo "smimegwd did not stop in 15 s; its log:" >&2
	tail -20 "$T/daemon.log" >&2
	kill -KILL $pids 2>/dev/null
	return 1
}
cleanup_daemon() { [ -n "$DPID" ] && kill -KILL $(tree) 2>/dev/null; }
trap 'cleanup_daemon; pf_cleanup; rm -rf "$T"' EXIT
contains() {
	case $2 in
	*"$3"*) PASSED=$((PASSED + 1)); echo "ok   $1" ;;
	*) FAILED=$((FAILED + 1)); echo "FAIL $1: no '$3' in:"
		printf '%s\n' "$2" | head -30 | sed 's/^/     | /' ;;
	esac
}
lacks() {
	case $2 in
	*"$3"*) FAILED=$((FAILED + 1)); echo "FAIL $1: '$3' found" ;;
	*) PASSED=$((PASSED + 1)); echo "ok   $1" ;;
	esac
}
body() { sed '1,/^\r\?$/d' "$1" | tr -d '\r'; }
# subj_count USER SUBJECT: how many of USER's messages have that subject.
subj_count() { pf_mails "$1" | xargs -r grep -l "^Subject: $2\$" | wc -l; }
mail_to() { pf_mails "$1" | xargs -r grep -l "^Subject: $2\$" | tail -1; }
# wait_log N: N summary lines in the daemon's log.
wait_log() {
	local i
	for ((i = 0; i < 300; i++)); do
		[ "$(grep -c 'summary:' "$T/daemon.log")" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
# verify FILE OUT: a signature by the gateway's identity verifies.
verify() {
	openssl cms -verify -in "$1" -CAfile "$T/gw.pem" -purpose smimesign \
		-out "$2" 2>"$T/cms.err"
}

# ---- one message, four recipients, four profiles ----------------------------
conf outgoing
ok "smimegwd starts (outgoing listener, default profile p-sign)" start_daemon
ok "send to alice, bob, carol and dave in one message" pf_send \
	--to "alice@$D,bob@$D,carol@$D,dave@$D" --header "Subject: four" \
	--body "Four recipients."
ok "alice gets one copy" pf_wait_delivered 1 alice
ok "bob gets one copy" pf_wait_delivered 1 bob
ok "carol gets one copy" pf_wait_delivered 1 carol
ok "the sender gets a DSN (dave)" pf_wait_delivered 1 sender
same "dave gets nothing" "$(pf_count dave)" 0
same "exactly one copy each: alice" "$(subj_count alice four)" 1
same "exactly one copy each: bob" "$(subj_count bob four)" 1
same "exactly one copy each: carol" "$(subj_count carol four)" 1
m=$(mail_to alice four)
lacks "alice (default p-sign): not encrypted" "$(cat "$m")" "application/pkcs7-mime"
ok "alice (default p-sign): the signature verifies" verify "$m" "$T/a.txt"
contains "alice: the body" "$(cat "$T/a.txt")" "Four recipients."
m=$(mail_to bob four)
ok "bob (p-se): decrypts with bob's key" openssl cms -decrypt -in "$m" \
	-recip "$T/bob.pem" -inkey "$T/bob.key" -out "$T/b.eml"
ok "bob (p-se): the inner signature verifies" verify "$T/b.eml" "$T/b.txt"
contains "bob: the body" "$(cat "$T/b.txt")" "Four recipients."
m=$(mail_to carol four)
ok "carol (p-enc): decrypts with carol's key" openssl cms -decrypt -in "$m" \
	-recip "$T/carol.pem" -inkey "$T/carol.key" -out "$T/c.eml"
lacks "carol (p-enc): encrypted only, no signature inside" "$(cat "$T/c.eml")" "pkcs7-signature"
contains "carol: the body" "$(cat "$T/c.eml")" "Four recipients."
ok "carol's copy does not decrypt with bob's key (one copy per profile)" \
	sh -c "! openssl cms -decrypt -in '$m' -recip '$T/bob.pem' -inkey '$T/bob.key' -out /dev/null 2>/dev/null"
m=$(pf_mails sender | tail -1)
contains "the DSN names dave" "$(cat "$m")" "dave@$D"
contains "the DSN gives smimegwd's 5.7.1" "$(cat "$m")" "5.7.1"
lacks "the DSN names no one else" "$(grep -iE '^(Final|Original)-Recipient' "$m")" "alice@"
matches "Postfix: alice relayed by her copy (sign)" "$PF_DIR/maillog" \
	"lscan.*to=<alice@$D>.*status=sent \(250 2\.0\.0 relayed \(sign\)"
matches "Postfix: bob relayed by his (sign-encrypt)" "$PF_DIR/maillog" \
	"lscan.*to=<bob@$D>.*status=sent \(250 2\.0\.0 relayed \(sign-encrypt\)"
matches "Postfix: carol relayed by hers (encrypt)" "$PF_DIR/maillog" \
	"lscan.*to=<carol@$D>.*status=sent \(250 2\.0\.0 relayed \(encrypt\)"
matches "Postfix: dave bounced with 5.7.1 by LMTP" "$PF_DIR/maillog" \
	"lscan.*to=<dave@$D>.*dsn=5\.7\.1, status=bounced"
ok "one log line per copy" wait_log 4
grep 'summary:' "$T/daemon.log" >"$T/sum1"
matches "log: alice with p-sign" "$T/sum1" "profile=p-sign smime=sign rcpts=1 to=alice@$D status=protected/250"
matches "log: bob with p-se" "$T/sum1" "profile=p-se smime=sign-encrypt rcpts=1 to=bob@$D status=protected/250"
matches "log: carol with p-enc" "$T/sum1" "profile=p-enc smime=encrypt rcpts=1 to=carol@$D status=protected/250"
matches "log: dave with p-bounce, bounced" "$T/sum1" "decision=bounce profile=p-bounce .*rcpts=1 to=dave@$D status=.*/550"

# ---- the table is read live: no reload ---------------------------------------
ok "route: boss's mail opaque-signed, before the rest" \
	gw route add --sender boss@$D --profile p-opaque --position 1
ok "send from boss to alice and bob" pf_send --from boss@$D \
	--to "alice@$D,bob@$D" --header "Subject: from boss" --body "Boss says."
ok "alice gets boss's message" pf_wait_delivered 2 alice
ok "bob gets boss's message" pf_wait_delivered 2 bob
for u in alice bob; do
	m=$(mail_to $u "from boss")
	contains "$u: one opaque signed copy (the sender entry wins)" "$(cat "$m")" "smime-type=signed-data"
	ok "$u: the opaque signature verifies" verify "$m" "$T/o.txt"
	contains "$u: the body" "$(body "$T/o.txt")" "Boss says."
	same "$u: exactly one copy" "$(subj_count $u "from boss")" 1
done
gw route remove 1 >/dev/null
gw route remove 3 >/dev/null # dave
refused "a profile the table names is not deleted" "named by entry 2 of the sending profile table" \
	gw profile delete p-enc
stop_daemon

# ---- direction auto: internal_domains ---------------------------------------
# sender@ (internal) to alice@ (internal): incoming; to x@sink.test
# (outside): outgoing with the default profile.
conf outgoing "listener_outgoing_direction = auto
internal_domains = $D"
ok "smimegwd starts with direction auto" start_daemon
ok "send to alice and to the sink in one message" pf_send \
	--to "alice@$D,x@$PF_SINK_DOMAIN" --header "Subject: mixed" --body "Mixed."
ok "alice gets one copy" pf_wait_delivered 3 alice
for ((i = 0; i < 300; i++)); do
	grep -qs "^Subject: mixed" "$PF_DIR"/sink/* && break
	sleep 0.1
done
m=$(mail_to alice mixed)
lacks "alice (internal, incoming): not signed" "$(cat "$m")" "pkcs7-signature"
matches "alice (incoming): an Authentication-Results header" "$m" "^Authentication-Results: gw\.$D"
s=$(grep -l "^Subject: mixed" "$PF_DIR"/sink/* | head -1)
same "the sink got one copy" "$(grep -l "^Subject: mixed" "$PF_DIR"/sink/* | wc -l)" 1
ok "the sink's copy (outgoing, p-sign) verifies" verify "$s" "$T/s.txt"
contains "the sink's copy: the body" "$(cat "$T/s.txt")" "Mixed."
grep 'summary:' "$T/daemon.log" | tail -2 >"$T/sum2"
matches "log: alice incoming" "$T/sum2" "direction=incoming .*to=alice@$D"
matches "log: the sink outgoing" "$T/sum2" "direction=outgoing .*profile=p-sign .*to=x@$PF_SINK_DOMAIN"
stop_daemon
conf incoming "listener_incoming_direction = auto"
refused "direction auto without internal_domains: refused at start" \
	"a listener with direction auto needs internal_domains" \
	timeout 20 "$SMIMEGWD" -d -c "$T/smimegw.conf" -k "$KEYD"

# ---- incoming settings --------------------------------------------------------
printf '%s\r\n' "From: Partner <partner@other.test>" "To: alice@$D" \
	"Subject: incoming SUBJ" "Date: Mon, 07 Dec 2026 10:00:00 +0000" \
	"Message-ID: <inSUBJ@other.test>" "MIME-Version: 1.0" \
	"Content-Type: text/plain; charset=us-ascii" "" "Incoming secret." >"$T/in.tpl"
# incoming_msg SUBJ: a message signed by partner and encrypted to the gateway.
incoming_msg() {
	sed "s/SUBJ/$1/g" "$T/in.tpl" >"$T/in-$1.eml"
	openssl cms -sign -in "$T/in-$1.eml" -signer "$T/partner.pem" \
		-inkey "$T/partner.key" -out "$T/in-$1-s.eml" 2>/dev/null
	{
		printf '%s\n' "From: Partner <partner@other.test>" "To: alice@$D" \
			"Subject: incoming $1" "Message-ID: <in$1@other.test>"
		openssl cms -encrypt -in "$T/in-$1-s.eml" -recip "$T/gw.pem" -aes256 2>/dev/null
	} >"$T/in-$1-e.eml"
}
conf incoming "incoming_signature = remove
incoming_harvest = yes
incoming_harvest_options = self-signed"
ok "smimegwd starts: incoming, signature removed, harvesting on" start_daemon
same "nothing harvested yet" "$(gw harvested list 2>/dev/null | grep -c partner@other.test)" 0
incoming_msg one
ok "send an encrypted, signed message to alice" pf_send_file "$T/in-one-e.eml" \
	--to alice@$D --from partner@other.test
ok "alice gets it" pf_wait_delivered 4 alice
m=$(mail_to alice "incoming one")
contains "decrypted" "$(body "$m")" "Incoming secret."
lacks "the signature removed (incoming_signature = remove)" "$(cat "$m")" "pkcs7-signature"
matches "verified: smime=pass" "$m" "smime=pass"
gw harvested list >"$T/hl" 2>&1
matches "harvested (incoming_harvest = yes)" "$T/hl" "partner@other.test"
stop_daemon

conf incoming "incoming_signature = retain"
ok "smimegwd starts: incoming, signature retained" start_daemon
incoming_msg two
ok "send another to alice" pf_send_file "$T/in-two-e.eml" --to alice@$D \
	--from partner@other.test
ok "alice gets it" pf_wait_delivered 5 alice
m=$(mail_to alice "incoming two")
contains "decrypted, the signature retained" "$(cat "$m")" "pkcs7-signature"
matches "verified: smime=pass" "$m" "smime=pass"
stop_daemon

conf incoming "incoming_decrypt = no"
ok "smimegwd starts: incoming, decrypt and verify off" start_daemon
incoming_msg three
ok "send a third to alice" pf_send_file "$T/in-three-e.eml" --to alice@$D \
	--from partner@other.test
ok "alice gets it" pf_wait_delivered 6 alice
m=$(mail_to alice "incoming three")
contains "left encrypted (incoming_decrypt = no)" "$(cat "$m")" "application/pkcs7-mime"
b64() { tr -d '\r' <"$1" | grep -E '^[A-Za-z0-9+/=]{16,}$' | md5sum; }
same "... as it came: the same enveloped data" "$(b64 "$m")" "$(b64 "$T/in-three-e.eml")"
lacks "no Authentication-Results from smimegwd" "$(grep -i '^Authentication-Results' "$m")" "gw.$D"
matches "log: smime=off" "$T/daemon.log" "direction=incoming .*smime=off .*to=alice@$D"
ok "incoming: SIGTERM ends everything" stop_daemon
DPID=

if grep -qE "Sanitizer|runtime error" "$T/daemon.log"; then
	FAILED=$((FAILED + 1))
	echo "FAIL a sanitizer report in smimegwd's log:"
	grep -E -A12 "Sanitizer|runtime error" "$T/daemon.log" | head -40 | sed 's/^/     | /'
else
	PASSED=$((PASSED + 1))
	echo "ok   no sanitizer report from any smimegwd or keyd process"
fi
pf_stop
finish
