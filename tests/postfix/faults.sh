#!/usr/bin/env bash
# The fault run (issue 9, "nothing lost, nothing duplicated"): messages
# with random recipients through the private Postfix (pf.sh) and
# smimegwd while workers, smimegw-keyd and the next hop (Postfix's
# reinjection smtpd) are killed with SIGKILL at random moments, the
# sending profile changes at random (SIGHUP to p-sign, p-split, p-se),
# and the token's files go away once and come back.  At the end every
# recipient of every message got it exactly once, or it bounced with a
# DSN that names the message; none is lost.  The counts are printed.
# Two windows that no relay closes are counted apart, not as
# duplicates: a next-hop smtpd killed between queueing a copy and its
# reply, and a worker killed between the next hop's 250 and the
# delivery journal's record of it (Postfix then logs "lost connection
# ... while sending end of data" and offers the message again).
# Before that: a silent client gets 421 after smtp_timeout while a slow
# one (a byte at a time) is served and mail flows meanwhile; garbage
# (long lines, NULs, 8-bit junk, random bytes, commands out of order)
# gets 5xx replies and kills no worker.
#
# FAULTS_MESSAGES (default 2000) messages paced over FAULTS_SECONDS
# (default: MESSAGES / 8), FAULTS_SEED (default: random; printed),
# FAULTS_KILLS "WORKER KEYD NEXTHOP RELOAD" (default "4 3 4 4").
# ctest: daemon.faults (label faults, the long form) and
# daemon.faults.short (label daemon, 300 messages).
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/pki.sh"
. "$(dirname "$0")/pf.sh"
. "$(dirname "$0")/gwd.sh"
: "${SMIMEGWD:?}" "${KEYD:?}"
N=${FAULTS_MESSAGES:-2000}
SECS=${FAULTS_SECONDS:-$((N / 8))}
SEED=${FAULTS_SEED:-$RANDOM$RANDOM}
read -r K_WORKER K_KEYD K_HOP K_RELOAD <<<"${FAULTS_KILLS:-4 3 4 4}"
USERS="alice bob carol dave"
RANDOM=$SEED
echo "fault run: $N messages over ${SECS}s, seed $SEED"

setup_token
gwd_setup || { echo "FAIL setup"; exit 1; }
PF_USERS="$USERS sender postmaster"
# A killed idle smtpd makes Postfix's master wait service_throttle_time
# before it starts another: short, or the next hop is down for 60 s.
PF_MAIN_EXTRA="service_throttle_time = 2s"
pf_init lmtp && pf_start || { echo "FAIL postfix starts"; exit 1; }
FAULT_PID=
trap 'gwd_cleanup; [ -n "$FAULT_PID" ] && kill $FAULT_PID 2>/dev/null; pf_cleanup; rm -rf "$T"' EXIT
GWD_TIMEOUT=10 GWD_EXTRA="message_size_limit = 1M" gwd_conf outgoing p-split
cp "$T/smimegw.conf" "$T/run.conf"
ok "smimegwd starts" gwd_start

# ---- slow clients --------------------------------------------------------
lmtp_raw() { # stdin: the dialogue; prints the replies
	timeout 60 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$PF_FILTER_PORT"'
		cat >&3; cat <&3' 2>&1
}
# Silent after LHLO: 421 4.4.2 after smtp_timeout (10 s).
( { printf 'LHLO slow.test\r\n'; sleep 20; } | lmtp_raw >"$T/silent.out" ) &
silent=$!
# A byte every 0.2 s (about 12 s for the message): never silent for
# smtp_timeout, so it is served.
(
	{
		printf 'LHLO slow.test\r\nMAIL FROM:<sender@%s>\r\nRCPT TO:<alice@%s>\r\nDATA\r\n' $D $D
		sleep 0.5
		printf 'From: sender@%s\r\nSubject: dribbled\r\nMessage-ID: <dribble@%s>\r\n\r\nslow body\r\n.\r\n' $D $D |
			while IFS= read -r -d '' -n 1 c; do printf '%s' "$c"; sleep 0.2; done
		sleep 2
		printf 'QUIT\r\n'
	} | lmtp_raw >"$T/dribble.out"
) &
dribble=$!
# Meanwhile mail flows: the workers are not blocked by either.
for i in 1 2 3; do
	pf_send --to bob@$D --header "Subject: beside the slow ones $i" \
		--body "Beside the slow clients." >/dev/null || true
done
ok "mail flows while two slow clients are connected" pf_wait_delivered 3 bob
wait $silent $dribble
contains "a silent client gets 421 4.4.2 after smtp_timeout" \
	"$(cat "$T/silent.out")" "421 4.4.2"
contains "a slow client (a byte every 0.2 s) is served: 250 after DATA" \
	"$(cat "$T/dribble.out")" "250 2.0.0 relayed"
ok "the slow client's message arrives" pf_wait_delivered 1 alice

# ---- garbage commands ----------------------------------------------------
before=$(gwd_workers | sort | tr '\n' ' ')
r=$( { printf 'LHLO t\r\n'; head -c 5000 /dev/zero | tr '\0' 'A'; printf '\r\nNOOP\r\nQUIT\r\n'; } | lmtp_raw)
contains "a 5000-byte command line: 500 5.5." "$r" "500 5.5."
contains "after the long line the session goes on" "$r" "250 2.0.0"
r=$( { printf 'LHLO t\r\nMA\0IL FROM:<a@b>\r\n\377\376\375junk\r\nNOOP\r\nQUIT\r\n'; } | lmtp_raw)
contains "a NUL inside a command: 500 5.5." "$r" "500 5.5."
contains "8-bit junk: the session goes on (NOOP 250)" "$(printf '%s\n' "$r" | tail -3)" "250"
r=$(printf 'RCPT TO:<a@b>\r\nDATA\r\nMAIL FROM:<a@b>\r\nLHLO t\r\nDATA\r\nQUIT\r\n' | lmtp_raw)
contains "commands out of order: 503 5.5.1" "$r" "503 5.5.1"
for i in 1 2 3 4 5; do
	{ printf 'LHLO t\r\n'; head -c 20000 /dev/urandom; printf '\r\nQUIT\r\n'; } |
		lmtp_raw >/dev/null
done
same "random bytes (5 x 20 KB): no worker died" \
	"$(gwd_workers | sort | tr '\n' ' ')" "$before"
ok "after the garbage, mail flows" pf_send --to bob@$D --body "After garbage."
ok "after the garbage, it arrives" pf_wait_delivered 4 bob

# ---- the fault run -------------------------------------------------------
base_bob=$(pf_count bob) base_alice=$(pf_count alice)
TOKDIR=$(dirname "$(find "$T/tok/tokens" -name token.object | head -1)")
nexthop_pids() { pgrep -f -- "-n 127.0.0.1:$PF_REINJECT_PORT" 2>/dev/null; }
# wait_up: keyd and two workers (the restart after a kill is backed off).
wait_up() {
	local i
	for ((i = 0; i < 1300; i++)); do
		[ "$(gwd_workers | wc -w)" -ge 2 ] && [ -n "$(gwd_keyd)" ] &&
			return 0
		sleep 0.1
	done
	return 1
}
faults() {
	local plan=() k i p victim profs=(p-sign p-split p-se) gap
	for ((i = 0; i < K_WORKER; i++)); do plan+=(worker); done
	for ((i = 0; i < K_KEYD; i++)); do plan+=(keyd); done
	for ((i = 0; i < K_HOP; i++)); do plan+=(nexthop); done
	for ((i = 0; i < K_RELOAD; i++)); do plan+=(reload); done
	plan+=(token)
	# Shuffle, then spread over the run.
	for ((i = ${#plan[@]} - 1; i > 0; i--)); do
		k=$((RANDOM % (i + 1)))
		p=${plan[i]} plan[i]=${plan[k]} plan[k]=$p
	done
	gap=$((SECS * 10 / (${#plan[@]} + 1)))
	for k in "${plan[@]}"; do
		sleep "$(((RANDOM % (2 * gap + 1)) / 10)).$((RANDOM % 10))"
		wait_up
		case $k in
		worker)
			victim=$(gwd_workers | shuf -n 1 --random-source=<(yes $RANDOM))
			kill -KILL $victim && echo worker >>"$T/faults.done" ;;
		keyd)
			victim=$(gwd_keyd)
			kill -KILL $victim && echo keyd >>"$T/faults.done" ;;
		nexthop)
			# Postfix starts an smtpd for the next hop on demand:
			# wait a little for one, when none runs.
			for ((i = 0; i < 40; i++)); do
				victim=$(nexthop_pids | tr "\n" " ")
				[ -n "$victim" ] && break
				sleep 0.25
			done
			if [ -n "$victim" ]; then
				kill -KILL $victim && echo nexthop >>"$T/faults.done"
			else
				echo "nexthop-idle" >>"$T/faults.done"
			fi ;;
		reload)
			p=${profs[RANDOM % 3]}
			cp "$T/run.conf" "$T/smimegw.conf"
			sed -i "s/^listener_outgoing_profile = .*/listener_outgoing_profile = $p/" "$T/smimegw.conf"
			kill -HUP "$DPID" && echo "reload" >>"$T/faults.done" ;;
		token)
			mv "$TOKDIR" "$T/token.away" && sleep 3 &&
				mv "$T/token.away" "$TOKDIR" &&
				echo token >>"$T/faults.done" ;;
		esac
		echo "$(date +%T) $k ${victim:-}" >>"$T/faults.log"
		victim=
	done
}
: >"$T/faults.done"
faults &
FAULT_PID=$!
start=$(date +%s)
python3 "$SRCDIR/tests/tools/faults_send.py" "$PF_PORT" "$N" "$SECS" \
	"$SEED" "$T/expect" "$D" $USERS 2>"$T/send.log"
sent=$?
ok "all $N messages were accepted by Postfix" test "$sent" -eq 0
wait $FAULT_PID
FAULT_PID=
ok "the faults are done; smimegwd is up" wait_up
# Drain: Postfix retries deferred mail every few seconds.
for ((i = 0; i < 600; i++)); do
	[ "$(pf_queued)" -eq 0 ] && break
	[ $((i % 10)) -eq 0 ] && postqueue -c "$PF_CONF" -f
	sleep 1
done
same "Postfix's queues are empty" "$(pf_queued)" 0
[ "$(pf_queued)" -eq 0 ] || pf_show_queue
echo "fault run: $(($(date +%s) - start)) s from the first message to an empty queue"

# ---- counting ---------------------------------------------------------------
# DSNs that passed the filter are encrypted for sender@ or signed.
mkdir -p "$T/dsn"
for f in $(pf_mails sender); do
	out="$T/dsn/$(basename "$f")"
	if grep -q "application/pkcs7-mime" "$f"; then
		openssl cms -decrypt -in "$f" -recip "$T/sender.pem" \
			-inkey "$T/sender.key" -out "$out" 2>/dev/null || cp "$f" "$out"
	else
		cp "$f" "$out"
	fi
done
for u in $USERS; do
	for f in $(pf_mails "$u"); do
		id=$(sed -n '/^\r\?$/q; s/^[Mm]essage-[Ii][Dd]: *\(<[^>]*>\).*/\1/p' "$f" | head -1)
		echo "${id:-none} $u@$D"
	done
done >"$T/delivered"
python3 - "$T/expect" "$T/delivered" "$PF_DIR/maillog" "$T/dsn" \
	"$T/counts" "$T/faults.log" <<'PY'
import collections, os, re, sys
expect_f, deliv_f, log_f, dsn_d, out_f, faults_f = sys.argv[1:7]
# The reinjection smtpd processes killed (their pids).
killed = set()
for line in open(faults_f):
    w = line.split()
    if len(w) > 2 and w[1] == "nexthop":
        killed.update(w[2:])
expect = {}
for line in open(expect_f):
    mid, rc, kind = line.split()
    expect[(mid, rc)] = kind
deliv = collections.Counter(tuple(l.split()) for l in open(deliv_f))
qid_mid, bounced = {}, set()
copy_by = {}               # reinjected copy -> the smtpd pid that took it
copies = {}                # (reinjected copy, rcpt) delivered
hop_deferred = set()       # (queue id, rcpt): 451 "next hop: ..."
gw_lost = collections.Counter()  # (queue id, rcpt): smimegwd died at "."
for line in open(log_f, errors="replace"):
    m = re.search(r"reinject/smtpd\[(\d+)\]: ([0-9A-F]+): client=", line)
    if m:
        copy_by[m.group(2)] = m.group(1)
    m = re.search(r"\]: ([0-9A-F]+): to=<([^>]*)>, relay=virtual.*"
                  r"status=sent", line)
    if m:
        copies[(m.group(1), m.group(2))] = True
    m = re.search(r"\]: ([0-9A-F]+): to=<([^>]*)>.*status=deferred.*"
                  r"next hop: ", line)
    if m:
        hop_deferred.add((m.group(1), m.group(2)))
    m = re.search(r"\]: ([0-9A-F]+): to=<([^>]*)>, relay=127\.0\.0\.1\[.*"
                  r"status=deferred \(lost connection with .* while "
                  r"sending end of data", line)
    if m:
        gw_lost[(m.group(1), m.group(2))] += 1
    m = re.search(r"\]: ([0-9A-F]+): message-id=(<[^>]*>)", line)
    if m:
        qid_mid[m.group(1)] = m.group(2)
        continue
    m = re.search(r"\]: ([0-9A-F]+): to=<([^>]*)>.*status=bounced", line)
    if m:
        bounced.add((m.group(1), m.group(2)))
bounced = {(qid_mid.get(q, "?"), r) for q, r in bounced}
# A copy queued by a next-hop smtpd that was killed before its reply
# (the commit-to-reply window of any SMTP server, RFC 1047): the
# relay's 451 then makes Postfix send it again.  Counted apart.
hop_window = collections.Counter()
hop_deferred = {(qid_mid.get(q, "?"), r) for q, r in hop_deferred}
for (q, r) in copies:
    key = (qid_mid.get(q, "?"), r)
    if copy_by.get(q) in killed and key in hop_deferred:
        hop_window[key] += 1
# A worker killed after the next hop took the copy and before the
# delivery journal holds it (the same commit-to-reply window, on our
# side): Postfix lost the connection at the end of data and offers the
# message again, and the journal has nothing to answer it with.  At
# most one copy per such attempt is counted apart.
gw_window = collections.Counter()
for (q, r), n in gw_lost.items():
    gw_window[(qid_mid.get(q, "?"), r)] += n
dsn_text = "".join(open(os.path.join(dsn_d, f), errors="replace").read()
                   for f in os.listdir(dsn_d))
c = collections.Counter()
bad, hop, win = [], [], []
for key, kind in expect.items():
    d, b = deliv.get(key, 0), key in bounced
    if b and key[0] not in dsn_text:
        c["bounced without a DSN"] += 1
        bad.append(("no DSN", key))
    if d == 1 and not b:
        c["delivered"] += 1
    elif d == 0 and b:
        c["bounced"] += 1
        c["bounced " + kind] += 1
    elif d == 0:
        c["lost"] += 1
        bad.append(("lost", key))
    elif d > 1 and d - hop_window[key] <= 1:
        c["duplicated by the next hop"] += 1
        hop.append(key)
    elif d > 1 and d - hop_window[key] - gw_window[key] <= 1:
        c["duplicated in the journal window"] += 1
        win.append(key)
    elif d > 1:
        c["duplicated"] += 1
        bad.append(("duplicated x%d" % d, key))
    else:
        c["delivered and bounced"] += 1
        bad.append(("delivered and bounced", key))
extra = [k for k in deliv if k not in expect and k[0].startswith("<fault-")]
c["unexpected"] = len(extra)
msgs = len({k[0] for k in expect})
with open(out_f, "w") as f:
    f.write("messages=%d recipients=%d delivered=%d bounced=%d "
            "(oversized %d) lost=%d duplicated=%d unexpected=%d "
            "delivered+bounced=%d bounced-without-DSN=%d "
            "duplicated-by-the-next-hop=%d "
            "duplicated-in-the-journal-window=%d\n"
            % (msgs, len(expect), c["delivered"], c["bounced"],
               c["bounced huge"], c["lost"], c["duplicated"],
               c["unexpected"], c["delivered and bounced"],
               c["bounced without a DSN"],
               c["duplicated by the next hop"],
               c["duplicated in the journal window"]))
    for why, key in bad[:30]:
        f.write("  %s: %s %s\n" % (why, key[0], key[1]))
with open(out_f + ".bad", "w") as f:
    for why, key in bad[:10]:
        f.write("%s\n" % key[0])
    for key in hop[:3] + win[:3]:
        f.write("%s\n" % key[0])
PY
# What Postfix and smimegwd logged about the messages at fault.
for mid in $(sort -u "$T/counts.bad"); do
	echo "fault run: the log of $mid:"
	for q in $(grep -F "message-id=$mid" "$PF_DIR/maillog" |
		sed -E 's/.*\]: ([0-9A-F]+): message-id=.*/\1/'); do
		grep -E "(: $q: |orig_queue_id=$q|queue_id=$q )" "$PF_DIR/maillog" "$T/daemon.log"
	done | sed 's/^/     | /'
done
echo "fault run: $(head -1 "$T/counts")"
echo "fault run: kills: worker $(grep -cx worker "$T/faults.done")," \
	"keyd $(grep -cx keyd "$T/faults.done")," \
	"next hop $(grep -cx nexthop "$T/faults.done") (idle: $(grep -cx nexthop-idle "$T/faults.done"))," \
	"reloads $(grep -cx reload "$T/faults.done"), token away and back $(grep -cx token "$T/faults.done")"
echo "fault run: Postfix deferrals $(grep -c 'postfix/lscan.*status=deferred' "$PF_DIR/maillog")," \
	"retries answered from the journal $(grep -c 'not relayed again' "$T/daemon.log")"
sed 's/^/fault run: /' "$T/faults.log"
tail -n +2 "$T/counts" | sed 's/^/     | /'
[ -n "${FAULTS_REPORT:-}" ] && { cat "$T/counts"; cat "$T/faults.done"; } >"$FAULTS_REPORT"
counts=$(head -1 "$T/counts")
contains "every message was sent" "$counts" "messages=$N "
contains "none lost" "$counts" " lost=0 "
contains "none duplicated" "$counts" " duplicated=0 "
contains "nothing unexpected delivered" "$counts" " unexpected=0 "
contains "no recipient both delivered and bounced" "$counts" "delivered+bounced=0 "
contains "every bounce has its DSN" "$counts" "bounced-without-DSN=0"
same "every kind of fault happened: workers killed" "$(grep -cx worker "$T/faults.done")" "$K_WORKER"
same "keyd killed" "$(grep -cx keyd "$T/faults.done")" "$K_KEYD"
same "the token went away and came back" "$(grep -cx token "$T/faults.done")" 1
ok "the next hop was killed at least once" grep -qx nexthop "$T/faults.done"

ok "smimegwd stops" gwd_stop
DPID=
if grep -qE "Sanitizer|runtime error" "$T/daemon.log"; then
	FAILED=$((FAILED + 1))
	echo "FAIL a sanitizer report in smimegwd's log"
	grep -E -A12 "Sanitizer|runtime error" "$T/daemon.log" | head -40
fi
pf_stop
finish
