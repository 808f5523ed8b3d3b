#!/usr/bin/env bash
# smimegwd in operation, behind a private Postfix (tests/postfix/pf.sh):
#  - started as root with user and keyd_user, the workers run as one
#    user (/proc/PID/status Uid, Gid, Groups), keyd as the other, the
#    master stays root; the workers map no PKCS#11 module, dump no
#    core, and with their ids the PIN file does not open (keyd's ids
#    open it);
#  - "smimegw daemon status" (and --json) through the control socket:
#    uptime, workers, keyd and the token, messages by outcome;
#  - "smimegw daemon reload": a new generation; a bad file or a missing
#    user is refused naming the key and the line, the generation stays;
#  - sd_notify: READY=1, STATUS=, RELOADING=1, STOPPING=1 on a
#    datagram socket given as NOTIFY_SOCKET;
#  - started as an ordinary user, the same keys change nothing.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/pki.sh"
. "$(dirname "$0")/pf.sh"
: "${SMIMEGWD:?}" "${KEYD:?}"
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: ops.sh needs root (it starts smimegwd as root and as" \
		"another user)"
	exit 77
fi
setup_token

GOOD="basicConstraints=critical,CA:FALSE;extendedKeyUsage=emailProtection"
ENC_RSA="keyUsage=critical,digitalSignature,keyEncipherment"
D=example.test
mkca "$T/ca" "Partner CA"
mkee "$T/ca" sender rsa:2048 "$GOOD;$ENC_RSA;subjectAltName=email:sender@$D"
gw cert create gw --cn gw.$D --country DE --days 30 --san-dns $D \
	--key rsa:2048 >/dev/null || exit 1
gw cert export gw >"$T/gw.pem"
gw pubkey add sender "$T/sender.pem" >/dev/null
gw profile add p-sign --mode sign --cert gw --sign-mode detached >/dev/null
gw profile add p-se --mode sign-encrypt --cert gw --sign-mode detached \
	--action bounce >/dev/null

# The users: workers as nobody, keyd as daemon (both in every Debian).
WU=nobody KU=daemon
WUID=$(id -u $WU) KUID=$(id -u $KU)
pf_init lmtp && pf_start || { echo "FAIL postfix starts"; exit 1; }
cp "$T/smimegw.conf" "$T/base.conf"
# conf PROFILE [EXTRA LINES]
conf() {
	cp "$T/base.conf" "$T/smimegw.conf"
	cat >>"$T/smimegw.conf" <<EOC
authserv_id = gw.$D
listener_outgoing = 127.0.0.1:$PF_FILTER_PORT
listener_outgoing_proto = lmtp
listener_outgoing_next_hop = 127.0.0.1:$PF_REINJECT_PORT
listener_outgoing_profile = $1
workers = 2
smtp_timeout = 30
${2:-}
EOC
	chmod 644 "$T/smimegw.conf"
}
USERS="user = $WU
keyd_user = $KU"
# Who may read what (smimegwd(8) FILES): the store is the workers'
# user's, the token and the PIN file keyd's; the configuration is
# readable by both; $T must let them through.
own_files() {
	chmod 755 "$T"
	chown -R "$1" "$T/data"
	chown -R "$2" "$T/tok"
}
own_files $WU $KU

NOTES=$T/notify.log
NSOCK=$T/notify.sock
# A datagram listener as systemd's NOTIFY_SOCKET: one line per state.
python3 - "$NSOCK" "$NOTES" <<'EOP' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        d = s.recv(4096).decode()
        for line in d.split("\n"):
            out.write(line + "\n")
EOP
NPID=$!
for ((i = 0; i < 50; i++)); do [ -S "$NSOCK" ] && break; sleep 0.1; done

DPID=
start_daemon() {
	NOTIFY_SOCKET=$NSOCK ${RUNAS:-} "$SMIMEGWD" -d -c "$T/smimegw.conf" \
		-k "$KEYD" >>"$T/daemon.log" 2>&1 &
	DPID=$!
	local i
	for ((i = 0; i < 150; i++)); do
		[ "$(workers | wc -w)" -ge 2 ] && [ -n "$(keyd_pid)" ] &&
			[ -S "$T/data/smimegwd.sock" ] && return 0
		sleep 0.1
	done
	return 1
}
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
cleanup() {
	[ -n "$DPID" ] && kill -KILL $(tree) 2>/dev/null
	kill "$NPID" 2>/dev/null
	pf_cleanup
	rm -rf "$T"
}
trap cleanup EXIT
contains() {
	case $2 in
	*"$3"*) PASSED=$((PASSED + 1)); echo "ok   $1" ;;
	*) FAILED=$((FAILED + 1)); echo "FAIL $1: no '$3' in:"
		printf '%s\n' "$2" | head -30 | sed 's/^/     | /' ;;
	esac
}
# ids PID: "uid uid uid uid / gid gid gid gid / groups"
ids() {
	awk '/^Uid:/ {u=$2" "$3" "$4" "$5} /^Gid:/ {g=$2" "$3" "$4" "$5}
	     /^Groups:/ {$1=""; gr=$0} END {print u" / "g" /"gr}' \
		"/proc/$1/status"
}
# as_process PID CMD...: CMD with the uid, gid and groups PID has.
as_process() {
	local p=$1 u g gr
	shift
	u=$(awk '/^Uid:/ {print $3}' "/proc/$p/status")
	g=$(awk '/^Gid:/ {print $3}' "/proc/$p/status")
	gr=$(awk '/^Groups:/ {$1=""; gsub(/^ +| +$/, ""); gsub(/ +/, ","); print}' \
		"/proc/$p/status")
	setpriv --reuid "$u" --regid "$g" \
		$([ -n "$gr" ] && echo --groups "$gr" || echo --clear-groups) \
		-- "$@"
}
SOCK=$T/data/smimegwd.sock
# ctl ARGS: "smimegw daemon ARGS" on the socket (no configuration read).
ctl() { "$SMIMEGW" daemon "$@" --socket "$SOCK"; }
status() { ctl status "$@"; }
# jget EXPR: a field of "smimegw daemon status --json".
jget() {
	ctl status --json | python3 -c \
		"import json,sys; d=json.load(sys.stdin); print($1)"
}
# wait_count EXPR WANT: until the JSON status gives WANT (10 s).
wait_count() {
	local i v
	for ((i = 0; i < 100; i++)); do
		v=$(jget "$1" 2>/dev/null)
		[ "$v" = "$2" ] && break
		sleep 0.1
	done
	same "status: $1 = $2" "$v" "$2"
}

# ---- started as root with user and keyd_user -------------------------------
same "status before the start: not running (exit 3)" \
	"$(gw daemon status >/dev/null 2>&1; echo $?)" 3
refused "status before the start: says so" "smimegwd is not running" \
	gw daemon status
conf p-sign "$USERS"
ok "smimegwd starts as root with user=$WU keyd_user=$KU" start_daemon
for p in $(workers); do
	same "worker $p runs as $WU (Uid, Gid, Groups)" "$(ids "$p")" \
		"$WUID $WUID $WUID $WUID / $(id -g $WU) $(id -g $WU) $(id -g $WU) $(id -g $WU) /$(id -G $WU | sed 's/^/ /')"
	if grep -qiE 'softhsm|libp11|pkcs11' "/proc/$p/maps"; then
		FAILED=$((FAILED + 1))
		echo "FAIL worker $p maps a PKCS#11 module"
	else
		PASSED=$((PASSED + 1))
		echo "ok   worker $p maps no PKCS#11 module"
	fi
	contains "worker $p: core dumps off (RLIMIT_CORE 0)" \
		"$(grep 'Max core file size' "/proc/$p/limits")" " 0 "
	# Not dumpable: the kernel gives its /proc files to root, not to
	# the process's user.
	same "worker $p: not dumpable (/proc/PID/status owned by root)" \
		"$(stat -c %u "/proc/$p/status")" 0
	refused "worker $p's ids cannot open the PIN file" "Permission denied" \
		as_process "$p" cat "$T/tok/user.pin"
done
k=$(keyd_pid)
same "keyd runs as $KU" "$(awk '/^Uid:/ {print $2" "$3" "$4" "$5}' /proc/$k/status)" \
	"$KUID $KUID $KUID $KUID"
ok "keyd's ids open the PIN file" as_process "$k" cat "$T/tok/user.pin"
contains "keyd maps the module" "$(cat "/proc/$k/maps")" softhsm
contains "keyd: core dumps off" "$(grep 'Max core file size' "/proc/$k/limits")" " 0 "
same "keyd: not dumpable (/proc/PID/status owned by root)" "$(stat -c %u "/proc/$k/status")" 0
same "the master stays root (it binds and starts the children)" \
	"$(awk '/^Uid:/ {print $3}' /proc/$DPID/status)" 0
same "control socket: mode 0600, owned by root" \
	"$(stat -c '%a %U' "$T/data/smimegwd.sock")" "600 root"
ok "sd_notify: READY=1" grep -qx "READY=1" "$NOTES"
ok "the log warns: the control socket is in the workers' folder" \
	grep -q "control_socket $SOCK: its folder is user $WU's" "$T/daemon.log"
matches "sd_notify: STATUS= names the generation" "$NOTES" \
	"^STATUS=generation 1: keyd and 2 workers"

# ---- status -----------------------------------------------------------------
wait_count "d['keyd']['token']" up
out=$(status)
contains "status: the master's pid" "$out" "smimegwd pid $DPID, up "
contains "status: keyd's pid and the token" "$out" "keyd: pid $k, token up for "
contains "status: messages" "$out" "messages since start: 0 (delivered 0, bounced 0, dropped 0, deferred 0, rejected 0)"
contains "status: the workers" "$out" "workers: 2"
same "status --json: 2 workers of generation 1" \
	"$(jget "[w['generation'] for w in d['workers']]")" "[1, 1]"
same "status --json: the workers' pids" \
	"$(jget "' '.join(sorted(str(w['pid']) for w in d['workers']))")" \
	"$(workers | sort | tr '\n' ' ' | sed 's/ $//')"

ok "send to alice (signing profile)" pf_send --to alice@$D \
	--header "Subject: signed, counted" --body "Counted body."
ok "alice's copy arrives" pf_wait_delivered 1 alice
wait_count "d['messages']['delivered']" 1
same "status --json: messages 1" "$(jget "d['messages']['messages']")" 1
same "status --json: one worker handled it" \
	"$(jget "sorted(w['messages'] for w in d['workers'])")" "[0, 1]"

# ---- the token's files go away: deferred, the token's state in status --------
TOKDIR=$(dirname "$(find "$T/tok/tokens" -name token.object | head -1)")
mv "$TOKDIR" "$T/away"
ok "send to alice while the token is gone" pf_send --to alice@$D \
	--header "Subject: token gone" --body "Waits."
wait_count "d['messages']['deferred']" 1
for ((i = 0; i < 100; i++)); do
	[ "$(jget "d['keyd']['token']")" != up ] && break
	sleep 0.1
done
tok=$(jget "d['keyd']['token']")
ok "token gone: status says the token is not up ($tok)" \
	test "$tok" = down -o "$tok" = reopening -o "$tok" = opening
ok "token gone: status gives the reason" test -n "$(jget "d['keyd']['detail']")"
contains "token gone: the human form too" "$(status)" "keyd: pid"
same "token gone: nothing delivered meanwhile" "$(pf_count alice)" 1
mv "$T/away" "$TOKDIR"
wait_count "d['keyd']['token']" up
postqueue -c "$PF_CONF" -f
PF_TIMEOUT=90 ok "token back: the deferred message is delivered" \
	pf_wait_delivered 2 alice
wait_count "d['messages']['delivered']" 2

# ---- reload ------------------------------------------------------------------
old=$(workers | sort | tr '\n' ' ')
conf p-se "$USERS"
ok "daemon reload (socket from smimegw.conf): accepted" gw daemon reload
contains "daemon reload: says so" "$(cat "$T/out")" "reloaded"
wait_count "d['generation']" 2
for ((i = 0; i < 100; i++)); do
	[ "$(jget "len([w for w in d['workers'] if w['generation'] == 2])")" = 2 ] &&
		! kill -0 $old 2>/dev/null && break
	sleep 0.1
done
ok "reload: the old workers ended" sh -c "! kill -0 $old 2>/dev/null"
ok "sd_notify: RELOADING=1" grep -qx "RELOADING=1" "$NOTES"
for p in $(workers); do
	same "new worker $p runs as $WU" "$(awk '/^Uid:/ {print $3}' /proc/$p/status)" "$WUID"
done
wait_count "d['keyd']['token']" up
same "reload: the counts stay (delivered 2, deferred at least 1)" \
	"$(jget "d['messages']['delivered'], d['messages']['deferred'] >= 1")" "2 True"

ok "send to carol (no key, action bounce)" pf_send --to carol@$D \
	--header "Subject: no key for carol" --body "Never delivered."
ok "the sender gets a DSN" pf_wait_delivered 1 sender
wait_count "d['messages']['bounced']" 1

gen=$(jget "d['generation']")
cur=$(workers | sort | tr '\n' ' ')
conf p-se "$USERS
bogus_key = 1"
line=$(grep -n '^bogus_key' "$T/smimegw.conf" | cut -d: -f1)
refused "reload of a bad file: refused, naming the line and the key" \
	"smimegw.conf:$line: unknown key 'bogus_key'" ctl reload
same "reload of a bad file: exit 1" "$(ctl reload >/dev/null 2>&1; echo $?)" 1
conf p-se "user = no-such-user-$$
keyd_user = $KU"
refused "reload with a missing user: refused, naming the key" \
	"user: no such user 'no-such-user-$$'" ctl reload
conf p-se "user = $WU
keyd_user = $WU"
refused "reload with keyd_user = user: refused, naming keyd_user" \
	"keyd_user: '$WU' has the uid of user '$WU'" ctl reload
same "refused reloads: the generation stays" "$(jget "d['generation']")" "$gen"
same "refused reloads: the same workers run" "$(workers | sort | tr '\n' ' ')" "$cur"
refused "status with a stranger's uid: refused" "Permission denied" \
	setpriv --reuid "$WUID" --regid "$(id -g $WU)" --clear-groups -- \
	"$SMIMEGW" daemon status --socket "$T/data/smimegwd.sock"
ok "--socket works without the configuration" \
	"$SMIMEGW" -c /nonexistent daemon status --socket "$SOCK"

ok "SIGTERM: everything stops" stop_daemon
DPID=
ok "sd_notify: STOPPING=1" grep -qx "STOPPING=1" "$NOTES"
ok "the control socket is removed" test ! -e "$T/data/smimegwd.sock"

# ---- a missing user at start ------------------------------------------------
conf p-sign "user = no-such-user-$$
keyd_user = $KU"
refused "start with a missing user: refused, naming the key" \
	"user: no such user 'no-such-user-$$'" \
	"$SMIMEGWD" -d -c "$T/smimegw.conf" -k "$KEYD"
same "start with a missing user: exit 78" \
	"$("$SMIMEGWD" -d -c "$T/smimegw.conf" -k "$KEYD" >/dev/null 2>&1; echo $?)" 78

# ---- started as an ordinary user: the keys change nothing -------------------
own_files $WU $WU
chown -R $WU "$T/data"
conf p-sign "$USERS"
RUNAS="setpriv --reuid $WUID --regid $(id -g $WU) --clear-groups --" \
	ok "smimegwd starts as $WU" start_daemon
RUNAS=
for p in $(workers) $(keyd_pid); do
	same "not root: child $p runs as the master ($WU)" \
		"$(awk '/^Uid:/ {print $3}' /proc/$p/status)" "$WUID"
done
ok "not root: the log says user and keyd_user are not applied" \
	grep -q "not started as root: user and keyd_user are not applied" "$T/daemon.log"
wait_count "d['keyd']['token']" up
ok "send to alice again" pf_send --to alice@$D \
	--header "Subject: not root" --body "Body."
ok "alice's third copy arrives" pf_wait_delivered 3 alice
ok "SIGTERM: everything stops" stop_daemon
DPID=

ok "no sanitizer report in the daemon's log" \
	sh -c "! grep -E 'Sanitizer|runtime error' '$T/daemon.log'"
ok "no process exited for want of its user" \
	sh -c "! grep -E 'setgroups|setgid|setuid' '$T/daemon.log'"

pf_stop
finish
