#!/usr/bin/env bash
# smimegwd's delivery journal (smimegwd(8), JOURNAL) against the crash
# it is for: every worker killed (SIGKILL) after the next hop accepted
# a copy (250 to DATA, so the reinjection queued it) and before Postfix
# got smimegwd's answer.  Postfix then offers the message again; the
# retry must be answered 250 "accepted before" without a second copy.
# The next hop is the reinjection smtpd behind tests/tools/hold_quit.py,
# which holds the worker's next command: a split message's second MAIL
# (the worker keeps its next-hop connection, smimegwd(8), so there is no
# QUIT after a copy): the worker sits in exactly that window.
# Also: a split message whose second copy fails after the first was
# accepted (the next hop cuts the session at the second MAIL): over
# SMTP Postfix retries every recipient, and the journal answers for the
# one already served; the same content queued again (a new queue id)
# is delivered again; and a journal that cannot be opened defers
# (451 4.3.0) with nothing relayed, then delivers once it can.
# PROTO (lmtp, the default, or smtp): how Postfix talks to smimegwd.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/pki.sh"
. "$(dirname "$0")/pf.sh"
. "$(dirname "$0")/gwd.sh"
: "${SMIMEGWD:?}" "${KEYD:?}"
setup_token
gwd_setup || { echo "FAIL setup"; exit 1; }
PROTO=${PROTO:-lmtp}
export GWD_PROTO=$PROTO
pf_init "$PROTO" && pf_start || { echo "FAIL postfix starts"; exit 1; }
PROXY_PID=
trap 'gwd_cleanup; [ -n "$PROXY_PID" ] && kill $PROXY_PID; pf_cleanup; rm -rf "$T"' EXIT

python3 "$SRCDIR/tests/tools/hold_quit.py" "$T/proxy.port" \
	"$PF_REINJECT_PORT" "$T/hold" "$T/cut" &
PROXY_PID=$!
for ((i = 0; i < 100; i++)); do [ -s "$T/proxy.port" ] && break; sleep 0.1; done
NEXT_HOP=$(cat "$T/proxy.port") gwd_conf outgoing p-split
ok "smimegwd starts behind the holding next hop" gwd_start

# ---- the crash window ----------------------------------------------------
# Split (bob has a key, carol none): two copies, two transactions on one
# connection; the second MAIL is held after the first copy's 250.
touch "$T/hold"
printf '%s\r\n' "From: sender@$D" "To: bob@$D, carol@$D" "Subject: crash window" \
	"Message-ID: <crash-window@$D>" "" "Delivered once." >"$T/m1.eml"
ok "send to bob and carol (split: two copies)" pf_send_file "$T/m1.eml" \
	--to "bob@$D,carol@$D"
for ((i = 0; i < 300; i++)); do [ -e "$T/hold.held" ] && break; sleep 0.1; done
ok "the worker waits for the reply to its second MAIL (the first copy was accepted)" \
	test -e "$T/hold.held"
qid=$(grep "front/smtpd.*client=" "$PF_DIR/maillog" | tail -1 |
	sed -E 's/.*\]: ([0-9A-F]+): client=.*/\1/')
matches_quiet() { grep -qE -- "$1" "$PF_DIR/maillog"; }
ok "the next hop has the copy" matches_quiet "reinject/smtpd.*orig_queue_id=$qid"
ok "the journal has it" test -s "$T/data/journal/data.mdb"
kill -KILL $(gwd_workers)
rm -f "$T/hold"
for ((i = 0; i < 300; i++)); do
	grep -q "$qid: to=<[a-z]*@$D>.*status=deferred" "$PF_DIR/maillog" && break
	sleep 0.1
done
matches "Postfix saw the connection lost and deferred" "$PF_DIR/maillog" \
	"$qid: to=<[a-z]*@$D>.*status=deferred"
for ((i = 0; i < 300; i++)); do
	[ "$(gwd_workers | wc -w)" -ge 2 ] && break
	sleep 0.1
done
postqueue -c "$PF_CONF" -f
PF_TIMEOUT=90 ok "the retry is done, the queue is empty" pf_wait_delivered 1 bob
PF_TIMEOUT=90 ok "carol has hers" pf_wait_delivered 1 carol
matches "Postfix: the retry answered 250 by the journal" "$PF_DIR/maillog" \
	"$qid: to=<[a-z]*@$D>.*status=sent \(250 2\.0\.0 relayed \([a-z-]*\): accepted before \(delivery journal\)"
ok "smimegwd logs it" daemon_says "delivery journal: queue_id=$qid to=[a-z]*@$D: the next hop accepted this message before; not relayed again"
same "bob has exactly one copy" "$(pf_mails bob | xargs grep -l '^Message-ID: <crash-window@' | wc -l)" 1
same "carol has exactly one copy" "$(pf_mails carol | xargs grep -l '^Message-ID: <crash-window@' | wc -l)" 1

# ---- split: the second copy fails after the first was accepted ------------
NEXT_HOP=$(cat "$T/proxy.port") gwd_conf outgoing p-split
ok "SIGHUP to the split profile" gwd_reload
touch "$T/cut"
printf '%s\r\n' "From: sender@$D" "To: bob@$D, carol@$D" "Subject: split cut" \
	"Message-ID: <split-cut@$D>" "" "One copy each." >"$T/m3.eml"
ok "send to bob and carol (split: two copies)" pf_send_file "$T/m3.eml" \
	--to "bob@$D,carol@$D"
for ((i = 0; i < 300; i++)); do
	grep -q "to=<.*status=deferred.*next hop: " "$PF_DIR/maillog" &&
		[ ! -e "$T/cut" ] && break
	sleep 0.1
done
ok "the next hop cut the second copy's session" test ! -e "$T/cut"
postqueue -c "$PF_CONF" -f
PF_TIMEOUT=90 ok "the retry is done" pf_wait_delivered 2 carol
same "bob has exactly one copy" "$(pf_mails bob | xargs -r grep -l '^Message-ID: <split-cut@' | wc -l)" 1
same "carol has exactly one copy" "$(pf_mails carol | xargs -r grep -l '^Message-ID: <split-cut@' | wc -l)" 1
if [ "$PROTO" = smtp ]; then
	ok "SMTP: the retry of the served recipient was answered from the journal" \
		daemon_says "delivery journal: queue_id=[0-9A-F]* to=[a-z]*@$D: the next hop accepted this message before"
fi

# ---- the same message queued again is a new message ----------------------
ok "the same file sent again (a new queue id)" pf_send_file "$T/m1.eml" --to bob@$D
ok "it is delivered: a second copy" pf_wait_delivered 3 bob
same "bob has two copies of it" "$(pf_mails bob | xargs grep -l '^Message-ID: <crash-window@' | wc -l)" 2

# ---- a journal that cannot be opened: 451 4.3.0, nothing relayed --------
ok "smimegwd stops" gwd_stop
mv "$T/data/journal" "$T/journal.away"
touch "$T/data/journal"
NEXT_HOP= gwd_conf outgoing p-sign
ok "smimegwd starts without its journal" gwd_start
printf '%s\r\n' "From: sender@$D" "To: bob@$D" "Subject: no journal" \
	"Message-ID: <no-journal@$D>" "" "Waits for the journal." >"$T/m2.eml"
base=$(pf_count bob)
ok "send to bob" pf_send_file "$T/m2.eml" --to bob@$D
for ((i = 0; i < 300; i++)); do
	grep -q "to=<bob@$D>.*status=deferred.*delivery journal" "$PF_DIR/maillog" &&
		break
	sleep 0.1
done
matches "no journal: Postfix defers with 451 4.3.0 delivery journal" \
	"$PF_DIR/maillog" "to=<bob@$D>.*dsn=4\.3\.0, status=deferred.*451 4\.3\.0 delivery journal unavailable"
same "no journal: nothing relayed" "$(pf_count bob)" "$base"
ok "no journal: logged with the path" daemon_says "delivery journal: .*$T/data/journal"
rm -f "$T/data/journal"
mv "$T/journal.away" "$T/data/journal"
postqueue -c "$PF_CONF" -f
PF_TIMEOUT=90 ok "the journal back: bob's copy is delivered, once" \
	pf_wait_delivered $((base + 1)) bob

ok "smimegwd stops" gwd_stop
DPID=
if grep -qE "Sanitizer|runtime error" "$T/daemon.log"; then
	FAILED=$((FAILED + 1))
	echo "FAIL a sanitizer report in smimegwd's log"
	grep -E -A12 "Sanitizer|runtime error" "$T/daemon.log" | head -40
fi
pf_stop
finish
