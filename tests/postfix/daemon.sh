#!/usr/bin/env bash
# smimegwd between a private Postfix's content filter (LMTP) and its
# reinjection smtpd (tests/postfix/pf.sh), on a fresh SoftHSM token with
# an identity made by "smimegw cert create" and partners' public keys.
# Mail is sent with swaks and what arrives in the Maildirs is checked
# with openssl cms: signed (verifies), sign-encrypted (decrypts with the
# partner's key), a recipient without a key bounced (DSN to the sender),
# incoming mail decrypted and verified with Authentication-Results.
# Also: the workers map no PKCS#11 module, SIGHUP reloads, a killed
# worker is replaced, SIGTERM leaves no process behind.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/pki.sh"
. "$(dirname "$0")/pf.sh"
: "${SMIMEGWD:?}" "${KEYD:?}"
setup_token

GOOD="basicConstraints=critical,CA:FALSE;extendedKeyUsage=emailProtection"
ENC_RSA="keyUsage=critical,digitalSignature,keyEncipherment"
D=example.test
mkca "$T/ca" "Partner CA"
mkee "$T/ca" bob rsa:2048 "$GOOD;$ENC_RSA;subjectAltName=email:bob@$D"
mkee "$T/ca" sender rsa:2048 "$GOOD;$ENC_RSA;subjectAltName=email:sender@$D"
mkee "$T/ca" partner rsa:2048 "$GOOD;$ENC_RSA;subjectAltName=email:partner@other.test"

gw cert create gw --cn gw.$D --country DE --days 30 --san-dns $D \
	--key rsa:2048 >/dev/null || exit 1
gw cert export gw >"$T/gw.pem"
gw pubkey add bob "$T/bob.pem" >/dev/null
gw pubkey add sender "$T/sender.pem" >/dev/null
gw ca add "$T/ca/ca.pem" >/dev/null
gw profile add p-sign --mode sign --cert gw --sign-mode detached >/dev/null
gw profile add p-split --mode sign-encrypt --cert gw --sign-mode detached \
	--action split >/dev/null
gw profile add p-drop --mode encrypt --action drop >/dev/null
gw profile add p-se --mode sign-encrypt --cert gw --sign-mode detached \
	--action bounce >/dev/null

pf_init lmtp && pf_start || { echo "FAIL postfix starts"; exit 1; }
cp "$T/smimegw.conf" "$T/base.conf"
# conf DIRECTION PROFILE: the daemon's keys on top of the token's.
conf() {
	cp "$T/base.conf" "$T/smimegw.conf"
	cat >>"$T/smimegw.conf" <<EOC
authserv_id = gw.$D
listener_$1 = 127.0.0.1:$PF_FILTER_PORT
listener_$1_proto = lmtp
listener_$1_next_hop = 127.0.0.1:${NEXT_HOP:-$PF_REINJECT_PORT}
workers = 2
smtp_timeout = 30
spool_memory_limit = 64K
${EXTRA:-}
EOC
	[ -n "${2:-}" ] && echo "listener_outgoing_profile = $2" >>"$T/smimegw.conf"
}
DPID=
start_daemon() {
	${WRAP:-} "$SMIMEGWD" -d -c "$T/smimegw.conf" -k "$KEYD" \
		>>"$T/daemon.log" 2>&1 &
	DPID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		[ -z "$(ss -Hltn "sport = :$PF_FILTER_PORT" 2>/dev/null)" ] ||
			[ "$(workers | wc -w)" -lt 2 ] || return 0
		sleep 0.1
	done
	return 1
}
# Process ids: the workers (children with --worker), keyd.
workers() {
	local p
	for p in $(pgrep -P "$DPID" 2>/dev/null); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -- --worker >/dev/null &&
			echo "$p"
	done
}
keyd_pid() { pgrep -P "$DPID" -f smimegw-keyd | head -1; }
tree() { echo "$DPID" $(pgrep -P "$DPID"); }
stop_daemon() {
	local pids i
	pids=$(tree)
	kill -TERM "$DPID" 2>/dev/null
	for ((i = 0; i < 150; i++)); do
		kill -0 $pids 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 $pids 2>/dev/null
}
cleanup_daemon() { [ -n "$DPID" ] && kill -KILL $(tree) 2>/dev/null; }
trap 'cleanup_daemon; pf_cleanup; rm -rf "$T"' EXIT
# contains NAME TEXT SUBSTRING
contains() {
	case $2 in
	*"$3"*) PASSED=$((PASSED + 1)); echo "ok   $1" ;;
	*) FAILED=$((FAILED + 1)); echo "FAIL $1: no '$3' in:"
		printf '%s\n' "$2" | head -30 | sed 's/^/     | /' ;;
	esac
}
body() { sed '1,/^\r\?$/d' "$1" | tr -d '\r'; }
# mail_to USER SUBJECT: USER's delivered message with that subject.
mail_to() { pf_mails "$1" | xargs -r grep -l "^Subject: $2" | tail -1; }
daemon_says() { grep -q -- "$1" "$T/daemon.log"; }

# ---- the program: no token code, only the keyd key source ----------------
same "smimegwd holds no token code" \
	"$(nm "$SMIMEGWD" | grep -cE ' [TtDdBb] (p11_token_|p11_key_|p11_admin_|p11_pin_|keysrc_token_|ENGINE_load_private_key)')" 0
same "smimegwd holds the keyd key source" \
	"$(nm "$SMIMEGWD" | grep -cE ' T keysrc_keyd_new$')" 1

# ---- outgoing, signing profile ------------------------------------------
conf outgoing p-sign
ok "smimegwd starts: master, keyd and 2 workers" start_daemon
for p in $(workers); do
	if grep -qiE 'softhsm|libp11|pkcs11' "/proc/$p/maps"; then
		FAILED=$((FAILED + 1))
		echo "FAIL worker $p maps a PKCS#11 module"
		grep -iE 'softhsm|libp11|pkcs11' "/proc/$p/maps" | head -3
	else
		PASSED=$((PASSED + 1))
		echo "ok   worker $p maps no PKCS#11 module and no libp11"
	fi
	contains "worker $p: core dumps off" "$(grep 'Max core file size' "/proc/$p/limits")" " 0 "
done
k=$(keyd_pid)
contains "keyd maps the module" "$(cat "/proc/$k/maps" 2>/dev/null)" softhsm
contains "master maps no module" "$(grep -iE 'softhsm|libp11' "/proc/$DPID/maps" || echo none)" none

ok "send to alice (signing profile)" pf_send --to alice@$D --header "Subject: signed via smimegwd" \
	--body "Signed body line."
ok "alice's copy arrives" pf_wait_delivered 1 alice
m=$(mail_to alice "signed via smimegwd")
ok "alice's copy: the signature verifies (openssl cms)" openssl cms -verify \
	-in "$m" -CAfile "$T/gw.pem" -purpose smimesign -out "$T/a.txt"
contains "alice's copy: body inside the signature" "$(cat "$T/a.txt" 2>/dev/null)" "Signed body line."
qid=$(grep "lscan/lmtp.*to=<alice@$D>" "$PF_DIR/maillog" | tail -1 |
	sed -E 's/.*\]: ([0-9A-F]+): to=.*/\1/')
line=$(grep 'summary:' "$T/daemon.log" | tail -1)
contains "one log line: Postfix's queue id (XFORWARD)" "$line" "queue_id=$qid "
matches "XFORWARD passed on: the reinjection logs the original queue id" \
	"$PF_DIR/maillog" "reinject/smtpd.*: client=.*, orig_queue_id=$qid, orig_client="
contains "one log line: decision and the recipient's outcome" "$line" \
	"decision=deliver profile=p-sign smime=sign rcpts=1 to=alice@$D status=protected/250"

# ---- SIGHUP: a sign-encrypt profile with action bounce ---------------------
# reload NAME: SIGHUP, then a new generation of 2 workers, the old gone.
reload() {
	local old new i
	old=$(workers | sort | tr '\n' ' ')
	kill -HUP "$DPID"
	for ((i = 0; i < 100; i++)); do
		new=$(workers | sort | tr '\n' ' ')
		[ "$(workers | wc -w)" -ge 2 ] && [ "$new" != "$old" ] &&
			! kill -0 $old 2>/dev/null && break
		sleep 0.1
	done
	ok "$1: a new generation of workers" test "$new" != "$old"
	ok "$1: the old workers ended" sh -c "! kill -0 $old 2>/dev/null"
}
conf outgoing p-se
reload "SIGHUP"

ok "send to bob (sign-encrypt, bob has a key)" pf_send --to bob@$D \
	--header "Subject: sealed via smimegwd" --body "Secret body line."
ok "bob's copy arrives" pf_wait_delivered 1 bob
m=$(mail_to bob "sealed via smimegwd")
contains "bob's copy is enveloped" "$(cat "$m")" "application/pkcs7-mime"
ok "bob's copy decrypts with bob's key" openssl cms -decrypt -in "$m" \
	-recip "$T/bob.pem" -inkey "$T/bob.key" -out "$T/b.eml"
ok "bob's copy: the inner signature verifies" openssl cms -verify \
	-in "$T/b.eml" -CAfile "$T/gw.pem" -purpose smimesign -out "$T/b.txt"
contains "bob's copy: the body" "$(cat "$T/b.txt" 2>/dev/null)" "Secret body line."

ok "send to carol (no key, action bounce)" pf_send --to carol@$D \
	--header "Subject: no key for carol" --body "Never delivered."
ok "the sender gets a DSN" pf_wait_delivered 1 sender
same "carol gets nothing" "$(pf_count carol)" 0
m=$(pf_mails sender | tail -1)
# The DSN passes the filter too: for sender@ it is sign-encrypted.
if grep -q "application/pkcs7-mime" "$m"; then
	openssl cms -decrypt -in "$m" -recip "$T/sender.pem" \
		-inkey "$T/sender.key" -out "$T/dsn.eml" 2>/dev/null
	openssl cms -verify -in "$T/dsn.eml" -noverify -out "$T/dsn.txt" 2>/dev/null ||
		cp "$T/dsn.eml" "$T/dsn.txt"
else
	cp "$m" "$T/dsn.txt"
fi
contains "the DSN names carol" "$(cat "$T/dsn.txt")" "carol@$D"
contains "the DSN gives smimegwd's 5.7.1 reason" "$(cat "$T/dsn.txt")" "5.7.1"

# A message past spool_memory_limit goes through the spool file.
head -c 150000 /dev/urandom | base64 -w 76 >"$T/big.txt"
ok "send 200 KB to bob (spooled to a file)" pf_send --to bob@$D \
	--header "Subject: big" --body "$T/big.txt"
ok "the big copy arrives" pf_wait_delivered 2 bob
m=$(mail_to bob "big")
openssl cms -decrypt -in "$m" -recip "$T/bob.pem" -inkey "$T/bob.key" \
	-out "$T/big.eml" 2>/dev/null
openssl cms -verify -in "$T/big.eml" -CAfile "$T/gw.pem" \
	-purpose smimesign -out "$T/big.out" 2>/dev/null
same "the big copy: the body intact after decrypt and verify" \
	"$(body "$T/big.out" | grep -v '^$' | md5sum)" \
	"$(grep -v '^$' "$T/big.txt" | md5sum)"

# ---- a next hop that is down: 4xx, the mail stays queued ----------------
NEXT_HOP=$(pf_free_port) conf outgoing p-se
reload "SIGHUP to a dead next hop"
ok "send to bob while the next hop is down" pf_send --to bob@$D --body "Deferred."
for ((i = 0; i < 100; i++)); do
	grep -q "to=<bob@$D>.*status=deferred" "$PF_DIR/maillog" && break
	sleep 0.1
done
matches "next hop down: Postfix defers with smimegwd's 451 4.4.0" "$PF_DIR/maillog" \
	"to=<bob@$D>.*dsn=4\.4\.0, status=deferred.*451 4\.4\.0 next hop: "
same "next hop down: nothing delivered meanwhile" "$(pf_count bob)" 2
conf outgoing p-se
reload "SIGHUP back to the next hop"
postqueue -c "$PF_CONF" -f
ok "the deferred message is delivered once the next hop is back" pf_wait_delivered 3 bob

# ---- keyd killed: the master starts keyd and the workers again -----------
k=$(keyd_pid)
kill -KILL "$k"
for ((i = 0; i < 100; i++)); do
	[ "$(workers | wc -w)" -ge 2 ] && [ -n "$(keyd_pid)" ] &&
		[ "$(keyd_pid)" != "$k" ] && break
	sleep 0.1
done
ok "a killed keyd: logged" daemon_says "smimegw-keyd (pid $k) of generation [0-9]* ended: signal 9"
ok "a killed keyd: a new keyd runs" test -n "$(keyd_pid)" -a "$(keyd_pid)" != "$k"
ok "after keyd's restart, mail flows" pf_send --to bob@$D --body "After keyd."
ok "after keyd's restart, bob's copy arrives" pf_wait_delivered 4 bob

# ---- a worker killed: the master restarts keyd and the workers ---------
w1=$(workers | head -1)
kill -KILL "$w1"
for ((i = 0; i < 100; i++)); do
	[ "$(workers | wc -w)" -ge 2 ] && ! workers | grep -x "$w1" >/dev/null && break
	sleep 0.1
done
ok "a killed worker: logged" daemon_says "worker [0-9]* (pid $w1) of generation [0-9]* ended: signal 9"
same "a killed worker: a new generation runs" "$(workers | wc -w)" 2
ok "after the restart, mail flows" pf_send --to bob@$D --body "After restart."
ok "after the restart, bob's copy arrives" pf_wait_delivered 5 bob

# ---- the token's files go away: 4xx, the mail waits; back: delivered ----
TOKDIR=$(dirname "$(find "$T/tok/tokens" -name token.object | head -1)")
mv "$TOKDIR" "$T/away"
ok "send to bob while the token is gone" pf_send --to bob@$D --body "Token gone."
for ((i = 0; i < 150; i++)); do
	grep -q "to=<bob@$D>.*dsn=4\.3\.0, status=deferred" "$PF_DIR/maillog" && break
	sleep 0.1
done
matches "token gone: Postfix defers with smimegwd's 451 4.3.0" "$PF_DIR/maillog" \
	"to=<bob@$D>.*dsn=4\.3\.0, status=deferred.*451 4\.3\.0 "
same "token gone: nothing delivered meanwhile" "$(pf_count bob)" 5
mv "$T/away" "$TOKDIR"
sleep 3
postqueue -c "$PF_CONF" -f
PF_TIMEOUT=90 ok "token back: the deferred message is delivered" pf_wait_delivered 6 bob

# ---- split: one message, two copies, one per recipient -------------------
conf outgoing p-split
reload "SIGHUP to a split profile"
ok "send to bob and alice in one message (split)" pf_send \
	--to "bob@$D,alice@$D" --header "Subject: split" --body "Split body."
ok "split: bob gets his copy" pf_wait_delivered 7 bob
ok "split: alice gets hers" pf_wait_delivered 2 alice
m=$(mail_to bob "split")
ok "split: bob's copy decrypts with bob's key" openssl cms -decrypt -in "$m" \
	-recip "$T/bob.pem" -inkey "$T/bob.key" -out "$T/sp.eml"
m=$(mail_to alice "split")
ok "split: alice's copy is signed, not encrypted" openssl cms -verify \
	-in "$m" -CAfile "$T/gw.pem" -purpose smimesign -out "$T/sa.txt"
contains "split: alice's copy: the body" "$(cat "$T/sa.txt")" "Split body."
line=$(grep 'summary:' "$T/daemon.log" | tail -1)
contains "split: the log line, bob's copy protected" "$line" \
	"to=bob@$D status=protected/250"
contains "split: the log line, alice's copy unencrypted" "$line" \
	"to=alice@$D status=unencrypted/250"

# ---- drop: 250 to Postfix, nothing delivered, one log line ---------------
conf outgoing p-drop
reload "SIGHUP to a drop profile"
ok "send to carol (no key, action drop)" pf_send --to carol@$D --body "Dropped."
for ((i = 0; i < 100; i++)); do
	grep -q "decision=drop" "$T/daemon.log" && [ "$(pf_queued)" -eq 0 ] && break
	sleep 0.1
done
matches "drop: Postfix got 250 for carol" "$PF_DIR/maillog" \
	"to=<carol@$D>.*relay=127\.0\.0\.1.*status=sent \(250 2\.0\.0 dropped by policy"
same "drop: carol gets nothing" "$(pf_count carol)" 0
contains "drop: the log line" "$(grep 'decision=drop' "$T/daemon.log" | tail -1)" \
	"to=carol@$D status=dropped/250"

# ---- SIGHUP with a bad file: refused, the running generation stays ------
before=$(workers | sort | tr '\n' ' ')
echo "recipient_limit = 0" >>"$T/smimegw.conf"
kill -HUP "$DPID"
for ((i = 0; i < 50; i++)); do
	daemon_says "reload: .*keeping the running configuration" && break
	sleep 0.1
done
ok "SIGHUP, bad file: refused and logged with the key at fault" \
	daemon_says "reload: .*recipient_limit: '0' is not a number in 1..1000; keeping the running configuration"
same "SIGHUP, bad file: the same workers run" "$(workers | sort | tr '\n' ' ')" "$before"
conf outgoing p-split
reload "SIGHUP back to the split profile"

# ---- SIGTERM: everything ends --------------------------------------------
# A session in the middle of a message when SIGTERM comes: it gets the
# message's reply, then 421; a new connection meanwhile gets 421.
exec 5<>"/dev/tcp/127.0.0.1/$PF_FILTER_PORT"
printf 'LHLO t\r\nMAIL FROM:<sender@%s>\r\nRCPT TO:<alice@%s>\r\nDATA\r\n' $D $D >&5
sleep 0.5
kill -TERM "$DPID"
sleep 0.5
r2=$(timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$PF_FILTER_PORT"'; head -1 <&3' 2>&1)
printf 'From: sender@%s\r\nSubject: drained\r\n\r\nFinished after SIGTERM.\r\n.\r\n' $D >&5
r=$(timeout 30 cat <&5)
exec 5>&-
contains "SIGTERM: a new connection gets 421" "$r2" "421 4.3.2"
contains "SIGTERM: the open transaction is relayed and answered" "$r" \
	"250 2.0.0 relayed ("
contains "SIGTERM: then the session gets 421" "$r" "421 4.3.2"
ok "SIGTERM: master, keyd and workers end" stop_daemon
wait "$DPID"
same "SIGTERM: exit status 0" "$?" 0
ok "SIGTERM: the drained message arrives" pf_wait_delivered 3 alice
ok "SIGTERM: logged" daemon_says "draining and stopping"

# ---- incoming: decrypt and verify ---------------------------------------
EXTRA="message_size_limit = 1M" conf incoming
ok "smimegwd starts with an incoming listener" start_daemon
printf '%s\r\n' "From: Partner <partner@other.test>" "To: alice@$D" \
	"Subject: for the gateway" "Date: Mon, 07 Dec 2026 10:00:00 +0000" \
	"Message-ID: <in1@other.test>" "MIME-Version: 1.0" \
	"Content-Type: text/plain; charset=us-ascii" "" "Incoming secret." >"$T/in.eml"
openssl cms -sign -in "$T/in.eml" -signer "$T/partner.pem" \
	-inkey "$T/partner.key" -out "$T/in-s.eml" 2>/dev/null
{
	printf '%s\n' "From: Partner <partner@other.test>" "To: alice@$D" \
		"Subject: for the gateway" "Message-ID: <in1@other.test>"
	openssl cms -encrypt -in "$T/in-s.eml" -recip "$T/gw.pem" -aes256 2>/dev/null
} >"$T/in-e.eml"
contains "the incoming test message is enveloped" "$(cat "$T/in-e.eml")" "application/pkcs7-mime"
ok "send the encrypted message to alice" pf_send_file "$T/in-e.eml" --to alice@$D \
	--from partner@other.test
ok "alice's incoming copy arrives" pf_wait_delivered 4 alice
m=$(mail_to alice "for the gateway")
contains "incoming: decrypted" "$(body "$m")" "Incoming secret."
matches "incoming: Authentication-Results from smimegwd" "$m" "^Authentication-Results: gw\.$D"
matches "incoming: the signature passed" "$m" "smime=pass"
# Straight to the listener: garbage and a message past the size limit.
lmtp() { # the dialogue on stdin; prints the replies
	timeout 60 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$PF_FILTER_PORT"'
		cat >&3; cat <&3' 2>&1
}
r=$(printf 'LHLO t\r\nGARBAGE\r\nMAIL FROM:<a@b>\r\nQUIT\r\n' | lmtp)
contains "garbage command: a 500 reply" "$r" "500 5.5."
contains "after garbage the session goes on" "$r" "250 2.1.0"
r=$( {
	printf 'LHLO t\r\nMAIL FROM:<a@b>\r\nRCPT TO:<alice@%s>\r\nDATA\r\n' $D
	printf 'Subject: big\r\n\r\n'
	{ head -c 3000000 /dev/zero | tr '\0' 'x' | fold -w 998; echo; } |
		sed 's/$/\r/'
	printf '.\r\nQUIT\r\n'
} | lmtp)
contains "a message past message_size_limit: 552 5.3.4" "$(printf '%s\n' "$r" | tail -4)" "552 5.3.4"
ok "incoming: SIGTERM ends everything" stop_daemon
contains "no stray smimegwd or keyd process" \
	"$(pgrep -f "$T/smimegw.conf" || echo none)" none

if grep -qE "Sanitizer|runtime error" "$T/daemon.log"; then
	FAILED=$((FAILED + 1))
	echo "FAIL a sanitizer report in smimegwd's log:"
	grep -E -A12 "Sanitizer|runtime error" "$T/daemon.log" | head -40 | sed 's/^/     | /'
else
	PASSED=$((PASSED + 1))
	echo "ok   no sanitizer report from any smimegwd or keyd process"
fi
# The master killed outright: its children end too (PR_SET_PDEATHSIG).
ok "smimegwd starts again" start_daemon
kids=$(pgrep -P "$DPID" | tr '\n' ' ')
kill -KILL "$DPID"
for ((i = 0; i < 100; i++)); do
	kill -0 $kids 2>/dev/null || break
	sleep 0.1
done
ok "master killed by SIGKILL: keyd and the workers end too" sh -c "! kill -0 $kids 2>/dev/null"
DPID=

pf_stop
finish
