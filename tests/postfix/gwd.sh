# gwd.sh - smimegwd behind the private Postfix (pf.sh), for the journal
# and fault runs (sourced, bash, after integration/lib.sh, pki.sh and
# pf.sh).  gwd_setup makes the token's identity "gw", partners' keys
# (bob, sender) and the profiles p-sign (sign), p-split (sign-encrypt,
# split), p-se (sign-encrypt, bounce when a recipient has no key).
#   gwd_conf DIRECTION PROFILE   smimegw.conf: a listener on
#                                $PF_FILTER_PORT to ${NEXT_HOP:-reinject}
#                                ($GWD_PROTO: lmtp or smtp; $GWD_EXTRA:
#                                more lines)
#   gwd_start / gwd_stop         the daemon ($DPID); gwd_cleanup kills
#   gwd_workers, gwd_keyd        process ids
#   gwd_reload                   SIGHUP, then waits for the new workers
GOOD="basicConstraints=critical,CA:FALSE;extendedKeyUsage=emailProtection"
ENC_RSA="keyUsage=critical,digitalSignature,keyEncipherment"
D=example.test
DPID=

gwd_setup() {
	mkca "$T/ca" "Partner CA"
	mkee "$T/ca" bob rsa:2048 "$GOOD;$ENC_RSA;subjectAltName=email:bob@$D"
	mkee "$T/ca" sender rsa:2048 "$GOOD;$ENC_RSA;subjectAltName=email:sender@$D"
	gw cert create gw --cn gw.$D --country DE --days 30 --san-dns $D \
		--key rsa:2048 >/dev/null || return 1
	gw cert export gw >"$T/gw.pem"
	gw pubkey add bob "$T/bob.pem" >/dev/null &&
		gw pubkey add sender "$T/sender.pem" >/dev/null &&
		gw ca add "$T/ca/ca.pem" >/dev/null &&
		gw profile add p-sign --mode sign --cert gw --sign-mode detached \
			>/dev/null &&
		gw profile add p-split --mode sign-encrypt --cert gw \
			--sign-mode detached --action split >/dev/null &&
		gw profile add p-se --mode sign-encrypt --cert gw \
			--sign-mode detached --action bounce >/dev/null || return 1
	cp "$T/smimegw.conf" "$T/base.conf"
}

gwd_conf() {
	cp "$T/base.conf" "$T/smimegw.conf"
	cat >>"$T/smimegw.conf" <<EOC
authserv_id = gw.$D
listener_$1 = 127.0.0.1:$PF_FILTER_PORT
listener_$1_proto = ${GWD_PROTO:-lmtp}
listener_$1_next_hop = 127.0.0.1:${NEXT_HOP:-$PF_REINJECT_PORT}
workers = 2
smtp_timeout = ${GWD_TIMEOUT:-30}
spool_memory_limit = 64K
${GWD_EXTRA:-}
EOC
	[ -n "${2:-}" ] && echo "listener_outgoing_profile = $2" >>"$T/smimegw.conf"
}

gwd_workers() {
	local p
	for p in $(pgrep -P "$DPID" 2>/dev/null); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -- --worker >/dev/null &&
			echo "$p"
	done
}
gwd_keyd() { pgrep -P "$DPID" -f smimegw-keyd | head -1; }
gwd_tree() { echo "$DPID" $(pgrep -P "$DPID"); }

gwd_start() {
	${WRAP:-} "$SMIMEGWD" -d -c "$T/smimegw.conf" -k "$KEYD" \
		>>"$T/daemon.log" 2>&1 &
	DPID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		[ -z "$(ss -Hltn "sport = :$PF_FILTER_PORT" 2>/dev/null)" ] ||
			[ "$(gwd_workers | wc -w)" -lt 2 ] || return 0
		sleep 0.1
	done
	return 1
}

gwd_stop() {
	local pids i
	pids=$(gwd_tree)
	kill -TERM "$DPID" 2>/dev/null
	for ((i = 0; i < 300; i++)); do
		kill -0 $pids 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 $pids 2>/dev/null
}

gwd_cleanup() { [ -n "$DPID" ] && kill -KILL $(gwd_tree) 2>/dev/null; }

gwd_reload() {
	local old new i
	old=$(gwd_workers | sort | tr '\n' ' ')
	kill -HUP "$DPID"
	for ((i = 0; i < 100; i++)); do
		new=$(gwd_workers | sort | tr '\n' ' ')
		[ "$(gwd_workers | wc -w)" -ge 2 ] && [ "$new" != "$old" ] && return 0
		sleep 0.1
	done
	return 1
}

# contains NAME TEXT SUBSTRING
contains() {
	case $2 in
	*"$3"*) PASSED=$((PASSED + 1)); echo "ok   $1" ;;
	*) FAILED=$((FAILED + 1)); echo "FAIL $1: no '$3' in:"
		printf '%s\n' "$2" | head -30 | sed 's/^/     | /' ;;
	esac
}
daemon_says() { grep -q -- "$1" "$T/daemon.log"; }
