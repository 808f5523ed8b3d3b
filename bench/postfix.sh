#!/usr/bin/env bash
# bench/postfix.sh - messages per second through a private Postfix
# (tests/postfix/pf.sh) with a content filter in the path: by default
# Postfix itself as a no-op filter (the lscan transport speaks SMTP
# straight into the reinjection smtpd), the baseline that smimegwd in
# the same place is compared with.
#
# Usage: bench/postfix.sh [--count N] [--size BYTES] [--sessions N]
#                         [--dest maildir|sink]
#                         [--filter lmtp|smtp --filter-cmd 'CMD']
#   --count     messages (default 300)
#   --size      payload bytes per message, smtp-source -l (default 4096)
#   --sessions  parallel SMTP sessions of smtp-source (default 4)
#   --dest      delivery: virtual(8) into one Maildir (default), or
#               smtp-sink (no disk writes at the end of the chain)
#   --filter    a real filter instead of the no-op: lscan speaks lmtp or
#               smtp to 127.0.0.1:$PF_FILTER_PORT; --filter-cmd is run
#               (sh -c, its own process group, stopped at the end) with
#               PF_FILTER_PORT and PF_REINJECT_PORT in its environment
#               and must listen there and relay to the reinjection port.
#               The filter must answer on its port within 30 s.
# Prints one line: count, seconds from the first connection until the
# last message was delivered and the queue empty, msg/s, and CPU seconds
# of the Postfix processes (master and all its children, reaped or not),
# of the filter (its process and its children, e.g. smimegwd's workers
# and keyd) and of smtp-source.
set -euo pipefail
export LC_ALL=C TZ=UTC
ROOT=$(cd "$(dirname "$0")/.." && pwd)
COUNT=300 SIZE=4096 SESSIONS=4 DEST=maildir FILTER=noop FILTER_CMD=
while [ $# -gt 0 ]; do
	case $1 in
	--count) COUNT=$2; shift 2 ;;
	--size) SIZE=$2; shift 2 ;;
	--sessions) SESSIONS=$2; shift 2 ;;
	--dest) DEST=$2; shift 2 ;;
	--filter) FILTER=$2; shift 2 ;;
	--filter-cmd) FILTER_CMD=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "postfix.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
case $DEST in maildir | sink) ;; *) echo "postfix.sh: --dest maildir|sink" >&2; exit 2 ;; esac
if [ "$FILTER" != noop ] && [ -z "$FILTER_CMD" ]; then
	echo "postfix.sh: --filter $FILTER needs --filter-cmd" >&2
	exit 2
fi

# shellcheck source=../tests/postfix/pf.sh
. "$ROOT/tests/postfix/pf.sh"
set +e # pf.sh's helpers report failures themselves
# shellcheck disable=SC2034 # read by pf_wait_delivered
PF_TIMEOUT=$((60 + COUNT / 5))
FILTER_PID=
stop_filter() {
	[ -n "$FILTER_PID" ] && kill -- -"$FILTER_PID" 2>/dev/null
	FILTER_PID=
}
trap stop_filter EXIT

pf_init "$FILTER" || exit 1
if [ -n "$FILTER_CMD" ]; then
	PF_FILTER_PORT=$PF_FILTER_PORT PF_REINJECT_PORT=$PF_REINJECT_PORT \
		setsid sh -c "$FILTER_CMD" >"$PF_DIR/filter.log" 2>&1 &
	FILTER_PID=$!
fi
pf_start || exit 1 # its EXIT trap runs pf_cleanup, then stop_filter
if [ -n "$FILTER_PID" ]; then
	for ((i = 0; i < 300; i++)); do
		[ -n "$(pf_banner "$PF_FILTER_PORT")" ] && break
		sleep 0.1
	done
	[ -n "$(pf_banner "$PF_FILTER_PORT")" ] || {
		echo "postfix.sh: the filter does not answer on $PF_FILTER_PORT:" >&2
		tail -20 "$PF_DIR/filter.log" >&2
		exit 1
	}
fi
rcpt=alice@$PF_DOMAIN
if [ "$DEST" = sink ]; then
	pf_sink_start || exit 1
	rcpt=bench@$PF_SINK_DOMAIN
fi

tck=$(getconf CLK_TCK)
# CPU ticks of the instance: the master's own and its reaped children's,
# plus every live process of the instance except the master.
pf_cpu_ticks() {
	local m p sum=0 f
	m=$(pf_master_pid) || return 1
	read -r -a f <<<"$(sed 's/^.*) //' "/proc/$m/stat")"
	# after "(comm) ": state is f[0]; utime f[11] stime f[12] cutime
	# f[13] cstime f[14]
	sum=$((f[11] + f[12] + f[13] + f[14]))
	for p in $(pf_pids); do
		[ "$p" = "$m" ] && continue
		read -r -a f <<<"$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null)" ||
			continue
		[ ${#f[@]} -gt 12 ] && sum=$((sum + f[11] + f[12]))
	done
	echo $sum
}

# CPU ticks of the filter: its process tree (live processes, and what
# the live ones reaped); 0 without one.
filter_cpu_ticks() {
	local sum=0 f p todo=$FILTER_PID
	[ -n "$FILTER_PID" ] || { echo 0; return; }
	while [ -n "$todo" ]; do
		set -- $todo
		p=$1
		shift
		todo="$* $(pgrep -P "$p" | tr '\n' ' ')"
		todo=${todo# }
		read -r -a f <<<"$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null)" ||
			continue
		[ ${#f[@]} -gt 14 ] && sum=$((sum + f[11] + f[12] + f[13] + f[14]))
	done
	echo $sum
}

c0=$(pf_cpu_ticks)
f0=$(filter_cpu_ticks)
t0=$(date +%s.%N)
TIMEFORMAT='%U %S'
{ time smtp-source -s "$SESSIONS" -m "$COUNT" -l "$SIZE" \
	-f "sender@$PF_DOMAIN" -t "$rcpt" -M bench.client.test \
	"127.0.0.1:$PF_PORT" >"$PF_DIR/source.log" 2>&1; } 2>"$PF_DIR/source.time" ||
	{ echo "smtp-source failed:" >&2; cat "$PF_DIR/source.log" >&2; exit 1; }
pf_wait_delivered "$COUNT" || exit 1
t1=$(date +%s.%N)
c1=$(pf_cpu_ticks)
f1=$(filter_cpu_ticks)
read -r cu cs <"$PF_DIR/source.time"
awk -v n="$COUNT" -v size="$SIZE" -v t0="$t0" -v t1="$t1" -v c0="$c0" \
	-v c1="$c1" -v tck="$tck" -v cu="$cu" -v cs="$cs" -v dest="$DEST" \
	-v filter="$FILTER" -v s="$SESSIONS" -v f0="$f0" -v f1="$f1" 'BEGIN {
	el = t1 - t0; cpu = (c1 - c0) / tck; fc = (f1 - f0) / tck
	printf "postfix filter=%s dest=%s size=%d sessions=%d: %d msgs in %.2f s = %.1f msg/s; postfix CPU %.2f s (%.2f ms/msg), filter CPU %.2f s (%.2f ms/msg), smtp-source CPU %.2f s\n",
		filter, dest, size, s, n, el, n / el, cpu, 1000 * cpu / n, fc, 1000 * fc / n, cu + cs
}'
