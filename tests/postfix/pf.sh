# pf.sh - a private Postfix instance for tests (sourced, bash).
#
# Never touches /etc/postfix, the system queue or syslog: everything lives
# under one temporary folder and is run with "postfix -c DIR".  The shape
# is the one docs/postfix.md recommends for smimegwd:
#
#   swaks/smtp-source --> front smtpd 127.0.0.1:$PF_PORT
#        content_filter = lscan:[127.0.0.1]:$PF_FILTER_PORT
#   lscan (lmtp, or smtp) --> the filter (smimegwd) on $PF_FILTER_PORT
#   the filter --> reinjection smtpd 127.0.0.1:$PF_REINJECT_PORT
#        content_filter= and receive_override_options (no second pass)
#   delivery: @$PF_DOMAIN to Maildirs by virtual(8) under $PF_DIR/mail,
#             @$PF_SINK_DOMAIN to smtp-sink on $PF_SINK_PORT (pf_sink_start)
#
# Use:
#   . tests/postfix/pf.sh
#   pf_init [noop|lmtp|smtp]   folder, free ports, main.cf/master.cf;
#                              noop: no filter program, lscan is an smtp
#                              transport straight into the reinjection
#                              smtpd (Postfix with a no-op filter).
#                              lmtp|smtp: the filter listens on
#                              $PF_FILTER_PORT and relays to
#                              $PF_REINJECT_PORT.
#   pf_start                   starts it; returns once both smtpd answer
#   pf_send ARGS...            swaks to the front port (swaks options)
#   pf_send_file FILE [ARGS]   FILE as the message, byte for byte
#   pf_wait_delivered N [USER] N messages delivered (to USER, or in all,
#                              sink included) and the queue empty; then
#                              exactly N, or it fails showing the queue
#                              (postqueue -p) and the maillog
#   pf_mails [USER]            delivered files, one a line
#   pf_sink_start              smtp-sink for @$PF_SINK_DOMAIN (optional)
#   pf_show_queue, pf_show_log for a test's own failure messages
#   pf_stop                    stops it and kills leftovers (pf_cleanup,
#                              run by the EXIT trap, also removes the
#                              folder; a watchdog does both if the test
#                              shell is killed outright)
# One instance per shell.  Variables to set before pf_init (optional):
# PF_USERS (mailboxes at $PF_DOMAIN, default "alice bob carol sender
# postmaster"), PF_MAIN_EXTRA (more main.cf lines), PF_TIMEOUT (seconds
# pf_wait_delivered waits, default 60), PF_KEEP=1 (keep the folder).
# The front accepts unlisted recipients, so an unknown one bounces after
# the queue and the sender's DSN lands in its Maildir like any mail.
# Needs root (master starts as root), postfix and swaks.

PF_DOMAIN=example.test
PF_SINK_DOMAIN=sink.test
PF_USERS=${PF_USERS:-alice bob carol sender postmaster}
PF_TIMEOUT=${PF_TIMEOUT:-60}
PF_VUID=$(id -u nobody)
PF_VGID=$(id -g nobody)
PF_DIR='' PF_CONF='' PF_PORT='' PF_REINJECT_PORT='' PF_FILTER_PORT=''
PF_SINK_PORT='' PF_SINK_PID='' PF_WATCHDOG='' PF_SENT=0
PF_HOST='' PF_MODE=''

pf_log() { echo "pf: $*" >&2; }

# A free loopback port: a pseudo-random start derived from our pid, then
# the first port nobody listens on and that we did not hand out already.
PF_TAKEN=" "
pf_free_port() {
	local p=$((20000 + ($$ * 37 + RANDOM) % 30000)) i
	for ((i = 0; i < 500; i++, p++)); do
		[ $p -ge 60000 ] && p=20000
		case $PF_TAKEN in *" $p "*) continue ;; esac
		if pf_port_free $p; then
			PF_TAKEN="$PF_TAKEN$p "
			echo $p
			return 0
		fi
	done
	pf_log "no free port"
	return 1
}

# pf_port_free PORT: nothing listens on 127.0.0.1:PORT (ss when there,
# else a connection attempt that must be refused).
pf_port_free() {
	if command -v ss >/dev/null; then
		[ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
	else
		if { exec 9<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null; then
			exec 9>&-
			return 1
		fi
	fi
}

pf_init() {
	local mode=${1:-noop} u proto
	case $mode in
	noop) proto=smtp ;;
	lmtp | smtp) proto=$mode ;;
	*) pf_log "pf_init: mode noop, lmtp or smtp, not '$mode'"; return 2 ;;
	esac
	[ "$(id -u)" -eq 0 ] || {
		pf_log "needs root: master runs as root and drops to mail_owner"
		return 1
	}
	command -v postfix >/dev/null || {
		pf_log "postfix is not installed (scripts/install-deps)"
		return 1
	}
	PF_DIR=$(mktemp -d "${TMPDIR:-/tmp}/smimegw-pf.XXXXXX") || return 1
	# shellcheck disable=SC2119
	pf_arm_cleanup
	# virtual(8) delivers as nobody: the path must be traversable.
	chmod 755 "$PF_DIR"
	PF_CONF=$PF_DIR/etc
	mkdir -p "$PF_CONF" "$PF_DIR/queue" "$PF_DIR/data" "$PF_DIR/mail" \
		"$PF_DIR/sink"
	chown postfix:postfix "$PF_DIR/data"
	chmod 700 "$PF_DIR/data"
	chown "$PF_VUID:$PF_VGID" "$PF_DIR/mail" "$PF_DIR/sink"
	if ! runuser -u nobody -- test -w "$PF_DIR/mail"; then
		pf_log "nobody cannot reach $PF_DIR/mail: is a folder above it" \
			"(TMPDIR=${TMPDIR:-/tmp}) closed to others?"
		return 1
	fi
	PF_PORT=$(pf_free_port) && PF_REINJECT_PORT=$(pf_free_port) &&
		PF_SINK_PORT=$(pf_free_port) || return 1
	# pf_free_port runs in a subshell: record what it handed out.
	PF_TAKEN=" $PF_PORT $PF_REINJECT_PORT $PF_SINK_PORT "
	if [ "$mode" = noop ]; then
		PF_FILTER_PORT=$PF_REINJECT_PORT
	else
		PF_FILTER_PORT=$(pf_free_port) || return 1
		PF_TAKEN="$PF_TAKEN$PF_FILTER_PORT "
	fi
	PF_HOST=pf$$-$RANDOM.$PF_DOMAIN
	# shellcheck disable=SC2034 # for the caller
	PF_MODE=$mode
	: >"$PF_CONF/vmailbox"
	for u in $PF_USERS; do
		echo "$u@$PF_DOMAIN $PF_DOMAIN/$u/" >>"$PF_CONF/vmailbox"
	done
	echo "$PF_SINK_DOMAIN smtp:[127.0.0.1]:$PF_SINK_PORT" \
		>"$PF_CONF/transport"

	cat >"$PF_CONF/main.cf" <<EOF
# Private test instance (tests/postfix/pf.sh); started with postfix -c.
compatibility_level = 3.6
config_directory = $PF_CONF
queue_directory = $PF_DIR/queue
data_directory = $PF_DIR/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $PF_DIR/maillog
maillog_file_prefixes = $PF_DIR
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = $PF_HOST
mydomain = $PF_DOMAIN
myorigin = $PF_DOMAIN
mydestination =
mynetworks = 127.0.0.0/8
relayhost =
local_transport = error:5.1.1 local delivery is off in this instance
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
smtputf8_enable = yes

# No DNS at all: next hops are [127.0.0.1], names come from getaddrinfo.
smtp_dns_support_level = disabled
disable_dns_lookups = yes
smtp_host_lookup = native
lmtp_host_lookup = native
smtpd_peername_lookup = no

# Delivery: Maildirs for @$PF_DOMAIN, smtp-sink for @$PF_SINK_DOMAIN.
virtual_mailbox_domains = $PF_DOMAIN
virtual_mailbox_base = $PF_DIR/mail
virtual_mailbox_maps = texthash:$PF_CONF/vmailbox
virtual_uid_maps = static:$PF_VUID
virtual_gid_maps = static:$PF_VGID
relay_domains = $PF_SINK_DOMAIN
transport_maps = texthash:$PF_CONF/transport

smtpd_client_restrictions =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination

# The filter transport (master.cf "lscan"): per-destination limits live
# here because qmgr reads them.
lscan_destination_concurrency_limit = 2
lscan_destination_recipient_limit = 50
lscan_initial_destination_concurrency = 2

# Tests want quick retries and no artificial slowing.
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
in_flow_delay = 0
smtpd_error_sleep_time = 0
${PF_MAIN_EXTRA:-}
EOF

	cat >"$PF_CONF/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command + args
# Front door: everything received here goes to the filter.  Unlisted
# recipients are accepted so that a bounce happens after the queue (a
# DSN to the sender), as a filter's 5xx would.
127.0.0.1:$PF_PORT inet n - n - - smtpd
  -o syslog_name=postfix/front
  -o content_filter=lscan:[127.0.0.1]:$PF_FILTER_PORT
  -o receive_override_options=no_address_mappings
  -o smtpd_reject_unlisted_recipient=no
# Reinjection: what the filter hands back.  No filter again (the loop
# stopper), no second round of checks.
127.0.0.1:$PF_REINJECT_PORT inet n - n - - smtpd
  -o syslog_name=postfix/reinject
  -o content_filter=
  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
  -o smtpd_helo_restrictions=
  -o smtpd_client_restrictions=
  -o smtpd_sender_restrictions=
  -o smtpd_recipient_restrictions=permit_mynetworks,reject
  -o smtpd_relay_restrictions=permit_mynetworks,reject
  -o mynetworks=127.0.0.0/8
  -o smtpd_authorized_xforward_hosts=127.0.0.0/8
  -o smtpd_soft_error_limit=1001
  -o smtpd_hard_error_limit=1000
  -o smtpd_client_connection_count_limit=0
  -o smtpd_client_connection_rate_limit=0
  -o local_header_rewrite_clients=
# The filter transport (towards smimegwd, or the no-op loop).
lscan     unix  -       -       n       -       -       $proto
  -o syslog_name=postfix/lscan
  -o ${proto}_send_xforward_command=yes
  -o ${proto}_data_done_timeout=1200
  -o disable_mime_output_conversion=yes
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
lmtp      unix  -       -       n       -       -       lmtp
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
	# The files the daemons read must not be writable by others.
	chmod 644 "$PF_CONF"/*
}

# pf_banner PORT: the first line the server at PORT says, or nothing.
pf_banner() {
	local fd line=
	{ exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
	IFS= read -r -t 3 line <&"$fd"
	{ printf 'QUIT\r\n' >&"$fd"; } 2>/dev/null
	exec {fd}>&-
	printf '%s\n' "${line%$'\r'}"
}

# pf_alive PID: the process exists and is not a zombie (a detached master
# may wait a moment for its reaper).
pf_alive() {
	local st
	st=$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) &&
		[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

pf_master_pid() {
	local pid
	pid=$(tr -d ' \n' <"$PF_DIR/queue/pid/master.pid" 2>/dev/null) &&
		[ -n "$pid" ] && pf_alive "$pid" && echo "$pid"
}

pf_start() {
	local i p ok
	[ -n "$PF_DIR" ] || pf_init noop || return 1
	if ! postfix -c "$PF_CONF" start >"$PF_DIR/start.log" 2>&1; then
		pf_log "postfix -c $PF_CONF start failed:"
		sed 's/^/     | /' "$PF_DIR/start.log" >&2
		pf_show_log
		return 1
	fi
	for ((i = 0; i < 150; i++)); do
		ok=1
		for p in "$PF_PORT" "$PF_REINJECT_PORT"; do
			# Our own banner, not some other instance's on the port.
			case $(pf_banner "$p") in
			"220 $PF_HOST "*) ;;
			*) ok= ;;
			esac
		done
		[ -n "$ok" ] && return 0
		sleep 0.2
	done
	pf_log "smtpd on $PF_PORT/$PF_REINJECT_PORT never answered as $PF_HOST"
	pf_show_log
	return 1
}

# The instance's processes: they all run with the queue folder as their
# working directory, which no other instance shares.
pf_pids() {
	local d q
	q=$(cd "$PF_DIR/queue" 2>/dev/null && pwd -P) || return 0
	for d in /proc/[0-9]*; do
		[ "$(readlink "$d/cwd" 2>/dev/null)" = "$q" ] && echo "${d#/proc/}"
	done
}

pf_stop() {
	local i pids
	[ -n "$PF_DIR" ] && [ -d "$PF_DIR" ] || return 0
	if [ -n "$(pf_master_pid)" ]; then
		postfix -c "$PF_CONF" stop >>"$PF_DIR/start.log" 2>&1
	fi
	pf_sink_stop
	for ((i = 0; i < 50; i++)); do
		pids=$(pf_pids)
		[ -z "$pids" ] && break
		[ $i -eq 25 ] && kill -9 $pids 2>/dev/null
		sleep 0.1
	done
	pids=$(pf_pids)
	if [ -n "$pids" ]; then
		pf_log "leftover processes: $pids"
		kill -9 $pids 2>/dev/null
	fi
	return 0
}

# pf_cleanup: stop and remove the folder (keep it with PF_KEEP=1).
pf_cleanup() {
	[ -n "$PF_DIR" ] || return 0
	pf_stop
	[ -n "$PF_WATCHDOG" ] && kill "$PF_WATCHDOG" 2>/dev/null
	PF_WATCHDOG=
	if [ -n "${PF_KEEP:-}" ]; then
		pf_log "kept $PF_DIR"
	else
		rm -rf "$PF_DIR"
	fi
	PF_DIR=
}

# The EXIT trap stops the instance (keeping whatever trap the test had),
# INT and TERM exit through it, and a watchdog stops it if this shell is
# killed outright (ctest's timeout): master detaches from us.
# shellcheck disable=SC2120 # $1.. are the parsed trap, not arguments
pf_arm_cleanup() {
	local prev=
	[ -n "$PF_WATCHDOG" ] && return 0
	eval "set -- $(trap -p EXIT)"
	[ $# -ge 3 ] && prev=$3
	case $prev in *pf_cleanup*) ;; *)
		# shellcheck disable=SC2064
		trap "pf_cleanup; $prev" EXIT ;;
	esac
	trap 'exit 130' INT TERM
	(
		trap '' INT TERM HUP
		while kill -0 $$ 2>/dev/null; do sleep 1; done
		pf_stop
		[ -n "${PF_KEEP:-}" ] || rm -rf "$PF_DIR"
	) </dev/null >/dev/null 2>&1 &
	PF_WATCHDOG=$!
}

# pf_send ARGS...: one message with swaks to the front smtpd.  Defaults:
# from sender@, to alice@; ARGS are more swaks options (--to, --body,
# --data, --header...).  The transcript is in $PF_DIR/swaks.N.
pf_send() {
	local log
	PF_SENT=$((PF_SENT + 1))
	log=$PF_DIR/swaks.$PF_SENT
	if ! swaks --server 127.0.0.1 --port "$PF_PORT" \
		--helo client.test --from "sender@$PF_DOMAIN" \
		--to "alice@$PF_DOMAIN" "$@" >"$log" 2>&1; then
		pf_log "swaks failed ($log):"
		sed 's/^/     | /' "$log" | tail -30 >&2
		return 1
	fi
}

# pf_send_file FILE [ARGS...]: FILE (a whole message with LF lines)
# as the DATA, byte for byte.  swaks always adds CRLF before the final
# dot, so the file's own last line end is taken off first.
pf_send_file() {
	local f=$1 tmp
	shift
	tmp=$PF_DIR/data.$((PF_SENT + 1))
	head -c -1 "$f" >"$tmp"
	case $(tail -c 1 "$f" | od -An -c | tr -d ' ') in
	'\n') ;;
	*) cp "$f" "$tmp" ;;
	esac
	pf_send --data "$tmp" "$@"
}

# Delivered files: Maildir messages (new/ and cur/) of USER, or of all,
# and smtp-sink's dumps.
pf_mails() {
	local u=${1:-}
	if [ -n "$u" ]; then
		# The Maildir appears with the first delivery: none yet is no
		# mail, not a failure (callers run under set -e -o pipefail).
		{ find "$PF_DIR/mail/$PF_DOMAIN/$u" -path '*/new/*' -type f \
			-o -path '*/cur/*' -type f 2>/dev/null || true; } | sort
	else
		find "$PF_DIR/mail" "$PF_DIR/sink" \( -path '*/new/*' -o \
			-path '*/cur/*' -o -path "$PF_DIR/sink/*" \) -type f \
			2>/dev/null | sort
	fi
}

pf_count() { pf_mails "$@" | wc -l; }

# Messages Postfix still holds (any queue).
pf_queued() {
	find "$PF_DIR/queue/maildrop" "$PF_DIR/queue/incoming" \
		"$PF_DIR/queue/active" "$PF_DIR/queue/deferred" \
		"$PF_DIR/queue/hold" -type f 2>/dev/null | wc -l
}

pf_show_queue() {
	echo "---- postqueue -c $PF_CONF -p" >&2
	postqueue -c "$PF_CONF" -p 2>&1 | sed 's/^/     | /' | head -60 >&2
}

pf_show_log() {
	echo "---- $PF_DIR/maillog (last 60 lines)" >&2
	tail -60 "$PF_DIR/maillog" 2>/dev/null | sed 's/^/     | /' >&2
}

# pf_wait_delivered N [USER]: waits (PF_TIMEOUT seconds) until N messages
# were delivered (to USER, or in all) and the queue is empty, then checks
# that there are exactly N.  On failure it shows the queue and the log.
pf_wait_delivered() {
	local want=$1 u=${2:-} n q i
	for ((i = 0; i < PF_TIMEOUT * 5; i++)); do
		n=$(pf_count "$u")
		q=$(pf_queued)
		[ "$n" -ge "$want" ] && [ "$q" -eq 0 ] && break
		sleep 0.2
	done
	if [ "$n" -ne "$want" ] || [ "$q" -ne 0 ]; then
		pf_log "wanted $want delivered${u:+ to $u}, found $n, $q still queued after ${PF_TIMEOUT}s"
		pf_mails | sed 's/^/     | /' | head -20 >&2
		pf_show_queue
		pf_show_log
		return 1
	fi
}

# pf_sink_start: smtp-sink on $PF_SINK_PORT, one file per message under
# $PF_DIR/sink (mail to @$PF_SINK_DOMAIN goes there).
pf_sink_start() {
	local i
	smtp-sink -u nobody -d "$PF_DIR/sink/%Y%m%d%H%M%S." \
		-h "sink.$PF_HOST" "127.0.0.1:$PF_SINK_PORT" 64 \
		>"$PF_DIR/sink.log" 2>&1 &
	PF_SINK_PID=$!
	for ((i = 0; i < 50; i++)); do
		case $(pf_banner "$PF_SINK_PORT") in
		"220 sink.$PF_HOST"*) return 0 ;;
		esac
		sleep 0.1
	done
	pf_log "smtp-sink did not start:"
	sed 's/^/     | /' "$PF_DIR/sink.log" >&2
	return 1
}

pf_sink_stop() {
	[ -n "$PF_SINK_PID" ] || return 0
	kill "$PF_SINK_PID" 2>/dev/null
	wait "$PF_SINK_PID" 2>/dev/null
	PF_SINK_PID=
}
