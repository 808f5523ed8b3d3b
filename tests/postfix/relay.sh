#!/usr/bin/env bash
# The relay's next-hop connection kept between a session's messages
# (smimegwd(8), "Relay"; no Postfix: Python's smtplib.LMTP is the
# upstream client, smtp-sink -v the next hop, which logs each
# "connect" and "quit"):
#   1. three messages in one upstream session: three copies, one
#      next-hop connection;
#   2. the next hop goes away between two messages (smtp-sink killed and
#      started again on the same port): the next message is relayed on
#      a new connection, 250, no deferral;
#   3. the upstream QUIT ends the next-hop connection with QUIT;
#   4. an upstream session idle for longer than the idle limit (5 s):
#      the next-hop connection is closed with QUIT while the upstream
#      session stays open, and its next message gets a new one.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/pf.sh" # pf_free_port, pf_banner
: "${SMIMEGWD:?}" "${KEYD:?}"
setup_token

D=example.test
gw cert create gw --cn gw.$D --country DE --days 30 --san-dns $D \
	--key rsa:2048 >/dev/null || exit 1
gw profile add p-sign --mode sign --cert gw --sign-mode detached >/dev/null

SINK_PORT=$(pf_free_port) PORT=$(pf_free_port)
# smtp-sink writes as nobody: $T may be traversed (not listed).
chmod 711 "$T" && mkdir -p "$T/sink" && chmod 777 "$T/sink"
SINK_PID=
sink_start() { # LOG
	smtp-sink -v -u nobody -d "$T/sink/%Y%m%d%H%M%S." -h sink.$D \
		"127.0.0.1:$SINK_PORT" 16 >"$1" 2>&1 &
	SINK_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		[ -n "$(pf_banner "$SINK_PORT")" ] && return 0
		sleep 0.1
	done
	return 1
}
sink_stop() {
	kill -TERM "$SINK_PID" 2>/dev/null
	wait "$SINK_PID" 2>/dev/null
	SINK_PID=
}
cat >>"$T/smimegw.conf" <<EOC
authserv_id = gw.$D
listener_outgoing = 127.0.0.1:$PORT
listener_outgoing_proto = lmtp
listener_outgoing_next_hop = 127.0.0.1:$SINK_PORT
listener_outgoing_profile = p-sign
workers = 1
smtp_timeout = 120
EOC
DPID=
trap 'kill -KILL $DPID $(pgrep -P "${DPID:-0}") $SINK_PID 2>/dev/null; rm -rf "$T"' EXIT
ok "smtp-sink starts" sink_start "$T/sink1.log"
"$SMIMEGWD" -d -c "$T/smimegw.conf" -k "$KEYD" >"$T/daemon.log" 2>&1 &
DPID=$!
started() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ -n "$(pf_banner "$PORT")" ] && return 0
		sleep 0.1
	done
	return 1
}
ok "smimegwd (1 worker) starts" started
# pf_banner connected to the sink: the counts below start after it.
sleep 0.5
connects() { grep -ci 'smtp-sink: connect' "$1"; }
quits() { grep -ci 'smtp-sink: quit' "$1"; }
sunk() { find "$T/sink" -type f | wc -l; }
base1=$(connects "$T/sink1.log") q1=$(quits "$T/sink1.log")

# One LMTP session; between steps it waits for a line on its stdin, and
# prints each message's reply.  Steps: "send", "quit".
mkfifo "$T/ctl"
cat >"$T/client.py" <<'EOF'
import smtplib, sys
port, dom = int(sys.argv[1]), sys.argv[2]
c = smtplib.LMTP("127.0.0.1", port, timeout=120)
c.ehlo("client." + dom)
n = 0
for line in sys.stdin:
    step = line.strip()
    if step == "send":
        n += 1
        msg = ("From: <alice@%s>\r\nTo: <bob@%s>\r\nSubject: relay %d\r\n"
               "Message-ID: <relay.%d@%s>\r\n\r\nmessage %d\r\n"
               % (dom, dom, n, n, dom, n))
        try:
            c.sendmail("alice@" + dom, ["bob@" + dom], msg)
            print("msg %d: 250" % n)
        except smtplib.SMTPException as e:
            print("msg %d: refused: %s" % (n, e))
    elif step == "quit":
        c.quit()
        print("quit")
        break
EOF
python3 -u "$T/client.py" "$PORT" "$D" <"$T/ctl" >"$T/client.out" 2>&1 &
CPID=$!
exec 7>"$T/ctl"
step() { # STEP EXPECTED-OUTPUT-LINE
	local i
	echo "$1" >&7
	for ((i = 0; i < 600; i++)); do
		grep -qx -- "$2" "$T/client.out" && return 0
		grep -q "^msg .*refused" "$T/client.out" && break
		sleep 0.1
	done
	cat "$T/client.out" | sed 's/^/     | /'
	return 1
}

# ---- 1. three messages, one next-hop connection ------------------------------
ok "message 1 relayed" step send "msg 1: 250"
ok "message 2 relayed" step send "msg 2: 250"
ok "message 3 relayed" step send "msg 3: 250"
same "three copies at the next hop" "$(sunk)" 3
same "one next-hop connection for the three" \
	"$(($(connects "$T/sink1.log") - base1))" 1
same "no QUIT yet: the connection is kept" "$(quits "$T/sink1.log")" "$q1"

# ---- 2. the next hop went away: a new connection, no deferral ----------------
sink_stop
ok "smtp-sink starts again on the same port" sink_start "$T/sink2.log"
sleep 0.5
base2=$(connects "$T/sink2.log")
ok "message 4 relayed on a new connection (no deferral)" \
	step send "msg 4: 250"
same "four copies at the next hop" "$(sunk)" 4
same "one new next-hop connection" \
	"$(($(connects "$T/sink2.log") - base2))" 1
ok "message 5 relayed" step send "msg 5: 250"
same "still one next-hop connection for messages 4 and 5" \
	"$(($(connects "$T/sink2.log") - base2))" 1
q2=$(quits "$T/sink2.log")

# ---- 4. idle longer than the limit: closed with QUIT -------------------------
sleep 8
same "after 8 s idle the next-hop connection got its QUIT" \
	"$(quits "$T/sink2.log")" $((q2 + 1))
ok "message 6 relayed on a new connection" step send "msg 6: 250"
same "two next-hop connections for messages 4 to 6" \
	"$(($(connects "$T/sink2.log") - base2))" 2
same "six copies at the next hop" "$(sunk)" 6

# ---- 3. the upstream QUIT ends the next-hop connection with QUIT -------------
q2=$(quits "$T/sink2.log")
ok "the upstream session quits" step quit "quit"
quit_seen() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(quits "$T/sink2.log")" -gt "$q2" ] && return 0
		sleep 0.1
	done
	return 1
}
ok "the next hop got QUIT after the upstream QUIT" quit_seen
exec 7>&-
wait "$CPID" 2>/dev/null
# A deferral is a summary with decision=defer and a 4xx status, or a
# 4xx reply quoted in a warning: looked for as such, not as the digits
# 451 anywhere (a pid or a port in the log has them now and then).
ok "no deferral in the daemon's log" \
	bash -c "! grep -q 'deferr\|decision=defer\|/4[0-9][0-9]\b\|\b4[0-9][0-9] 4\.' '$T/daemon.log'"

kill -TERM "$DPID"
wait "$DPID" 2>/dev/null
DPID=
sink_stop
if grep -qE "Sanitizer|runtime error" "$T/daemon.log"; then
	FAILED=$((FAILED + 1))
	echo "FAIL a sanitizer report in smimegwd's log"
	grep -E -A12 "Sanitizer|runtime error" "$T/daemon.log" | head -40
fi
finish
