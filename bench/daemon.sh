#!/usr/bin/env bash
# bench/daemon.sh - the daemon benchmark (method: docs/performance.md,
# "Daemon"): smtp-source -> smimegwd -> smtp-sink against the in-process
# pipeline (smimegw-bench process) on the same operation, in one run.
#
#   1. an isolated SoftHSM token with an RSA-2048 identity made by
#      `smimegw cert create` (alice@example.test, example.test), a
#      software RSA-2048 partner r1@partner.example in the store,
#      profiles p-sign (sign, detached) and p-se (sign-encrypt);
#   2. messages of 4 KiB, 100 KiB and 1 MiB (smimegw-bench gen, as
#      bench/run.sh makes them), and from them the incoming inputs:
#      encrypted to the identity (decrypt) and signed by it (verify);
#   3. per cell (operation, size, workers), first in-process:
#      smimegw-bench process, the same operation through
#      process_message() with the token key in the process, median CPU
#      seconds per message; then
#   4. the daemon, with 1 and then 2 workers: smtp-source (LMTP, one
#      connection per session, 2 sessions per worker) sends N messages
#      to the listener, which relays to smtp-sink; CPU = utime+stime of
#      the workers and smimegw-keyd from /proc/PID/stat before and after
#      (the machine is shared: wall time is reported, never compared);
#      then latency: one client, one message at a time, MAIL FROM to
#      the final LMTP reply, p50/p90/p99;
#   5. peak RSS of a worker (VmHWM, /proc/PID/status) for one message
#      of 1, 10 and 50 MiB, sign and sign-encrypt, a fresh worker each;
#   6. the whole chain through a private Postfix (bench/postfix.sh): a
#      no-op filter against smimegwd as the LMTP content filter;
#   7. a markdown table: msg/s per busy core daemon and in-process, the
#      ratio (target >= 0.80), keyd's share, wall-clock throughput (1
#      and 2 workers), latency percentiles; the RSS table; the chain.
#
# Usage: bench/daemon.sh [--build DIR] [--out DIR] [--quick] [--keep]
#                        [--sizes LIST] [--workers LIST] [--rss-sizes LIST]
#                        [--ops LIST]
#   --build DIR   build tree (default ./build): gateway/smimegw,
#                 gateway/smimegwd, gateway/smimegw-keyd,
#                 bench/smimegw-bench
#   --out DIR     where the results go (default bench/results); the
#                 files are daemon-STAMP.md and daemon-STAMP.tsv
#   --quick       fewer messages (a smoke test, not for publication)
#   --keep        keep the work directory (token, messages, logs)
#   --sizes       byte counts (default 4096,102400,1048576)
#   --workers     worker counts (default 1,2)
#   --rss-sizes   MiB for the peak RSS runs (default 1,10,50; empty: none)
#   --ops         sign,sign-encrypt,decrypt,verify (default all)
#   --instructions  instead of CPU time, instructions (valgrind
#                 --tool=callgrind): per message of the worker and keyd,
#                 counters zeroed after a warm-up, against the difference
#                 of two in-process runs (8 and 3 timed calls, so start-up
#                 cancels out); 1 worker, no latency, RSS or chain; slow
#   --chain N     messages through the whole chain, Postfix with a no-op
#                 filter and with smimegwd (bench/postfix.sh; default
#                 1000, --quick 100; 0: not run)
# Environment: TMPDIR (work directory parent; the spool files go there).
set -euo pipefail
export LC_ALL=C TZ=UTC

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
OUT=$ROOT/bench/results
QUICK=0 KEEP=0 IR=0
SIZES=4096,102400,1048576 WORKERS=1,2 RSS_SIZES=1,10,50 CHAIN=''
OPS=sign,sign-encrypt,decrypt,verify
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$(cd "$2" && pwd); shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--quick) QUICK=1; shift ;;
	--keep) KEEP=1; shift ;;
	--sizes) SIZES=$2; shift 2 ;;
	--workers) WORKERS=$2; shift 2 ;;
	--rss-sizes) RSS_SIZES=$2; shift 2 ;;
	--ops) OPS=$2; shift 2 ;;
	--chain) CHAIN=$2; shift 2 ;;
	--instructions) IR=1; shift ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "daemon.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
[ -n "$CHAIN" ] || CHAIN=$([ $QUICK = 1 ] && echo 100 || echo 1000)

MODULE=/usr/lib/softhsm/libsofthsm2.so
SMIMEGW=$BUILD/gateway/smimegw
SMIMEGWD=$BUILD/gateway/smimegwd
KEYD=$BUILD/gateway/smimegw-keyd
BENCH=$BUILD/bench/smimegw-bench
for f in "$SMIMEGW" "$SMIMEGWD" "$KEYD" "$BENCH"; do
	[ -x "$f" ] || { echo "daemon.sh: $f not found: build first" >&2; exit 1; }
done
for t in openssl softhsm2-util smtp-source smtp-sink python3; do
	command -v $t >/dev/null || { echo "daemon.sh: $t not found" >&2; exit 1; }
done

# shellcheck source=../tests/postfix/pf.sh
. "$ROOT/tests/postfix/pf.sh" # pf_free_port, pf_banner only

W=$(mktemp -d "${TMPDIR:-/tmp}/smimegw-dbench.XXXXXX")
DPID='' SINK_PID=''
stop_all() {
	stop_daemon
	[ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null && { wait "$SINK_PID" 2>/dev/null || true; }
	SINK_PID=''
	if [ $KEEP = 1 ]; then
		echo "daemon.sh: work directory kept: $W" >&2
	else
		rm -rf "$W"
	fi
}
trap stop_all EXIT
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
t_start=$(date +%s)

# ---- token, identity, partner, profiles, messages ---------------------------
log "work directory $W"
cd "$W"
"$ROOT/hsm-setup/softhsm-token.sh" --dir "$W/tok" --label smimegw-dbench \
	>tok.env 2>tok.log || { cat tok.log >&2; exit 1; }
export SOFTHSM2_CONF=$W/tok/softhsm2.conf
cat >base.conf <<EOC
data_dir = data
pkcs11_module = $MODULE
token = pkcs11:token=smimegw-dbench
pin_file = tok/user.pin
authserv_id = bench.example.test
EOC
cp base.conf smimegw.conf
gw() { "$SMIMEGW" -c "$W/smimegw.conf" "$@"; }
log "identity (RSA-2048 on the token), partner r1, profiles p-sign and p-se"
gw cert create bench --cn gw.example.test --country DE --org Example \
	--days 30 --san-email alice@example.test --san-dns example.test \
	--key rsa:2048 >cert.txt
gw cert export bench >id.pem
openssl req -x509 -newkey rsa:2048 -nodes -keyout r1.key -out r1.pem \
	-subj "/CN=Recipient 1/O=Partner" -days 30 \
	-addext "basicConstraints=critical,CA:FALSE" \
	-addext "keyUsage=critical,digitalSignature,keyEncipherment" \
	-addext "extendedKeyUsage=emailProtection" \
	-addext "subjectAltName=email:r1@partner.example" 2>/dev/null
gw pubkey add r1 r1.pem >/dev/null
gw profile add p-sign --mode sign --cert bench --sign-mode detached >/dev/null
gw profile add p-se --mode sign-encrypt --cert bench --sign-mode detached \
	--action bounce >/dev/null

log "messages: plain (outgoing), encrypted to and signed by the identity (incoming)"
for s in ${SIZES//,/ }; do
	"$BENCH" gen "$s" m$s.eml
	gw message encrypt --to bench -i m$s.eml -o e$s.eml
	gw message sign --cert bench -i m$s.eml -o s$s.eml
done

# op -> input file prefix, envelope, listener direction, profile
op_in() { case $1 in sign | sign-encrypt) echo m ;; decrypt) echo e ;; verify) echo s ;; esac; }
op_dir() { case $1 in sign | sign-encrypt) echo outgoing ;; *) echo incoming ;; esac; }
op_prof() { case $1 in sign) echo p-sign ;; sign-encrypt) echo p-se ;; *) echo - ;; esac; }
op_from() { case $(op_dir "$1") in outgoing) echo alice@example.test ;; *) echo bob@partner.example ;; esac; }
op_to() { case $(op_dir "$1") in outgoing) echo r1@partner.example ;; *) echo alice@example.test ;; esac; }
size_label() {
	case $1 in 4096) echo 4k ;; 102400) echo 100k ;; 1048576) echo 1m ;;
	10485760) echo 10m ;; *) echo "$1" ;; esac
}
# messages per daemon cell (throughput), per latency run, in-process samples
count() {
	local s=$1
	if [ $QUICK = 1 ]; then
		case $s in 4096) echo 100 ;; 102400) echo 60 ;; *) echo 20 ;; esac
	else
		case $s in 4096) echo 1500 ;; 102400) echo 800 ;; *) echo 150 ;; esac
	fi
}
lat_count() {
	if [ $QUICK = 1 ]; then echo 20; else
		case $1 in 1048576) echo 60 ;; *) echo 200 ;; esac
	fi
}
samples() { [ $QUICK = 1 ] && echo 11 || echo 31; }

RAW=$W/raw.tsv
: >"$RAW"
load0=$(cut -d' ' -f1-3 /proc/loadavg)

# in-process OP SIZE WORKERS: the same operation through the pipeline
# in one process, measured just before the daemon's cell so that both
# see the same load on the shared machine.
inproc() {
	local op=$1 s=$2 sel
	if [ "$(op_dir "$op")" = outgoing ]; then
		sel=(--profile "$(op_prof "$op")")
	else
		sel=(--incoming)
	fi
	"$BENCH" process -c smimegw.conf "${sel[@]}" --to "$(op_to "$op")" \
		--in "$(op_in "$op")$s.eml" --samples "$(samples)" --warmup 3 \
		--batch-cpu 0.02 |
		awk -F'\t' -v op="$op" -v s="$s" -v nw="$3" '{ printf "inproc\t%s\t%s\t%s\t%s\t%s\t%s\n", op, s, nw, $6, $7, $8 }' >>"$RAW"
}

# ---- the daemon --------------------------------------------------------------------
cat >lmtp-lat.py <<'EOP'
# lmtp-lat.py PORT FILE FROM TO COUNT [any]: COUNT messages, one at a
# time on one LMTP connection; prints the seconds from MAIL FROM to the
# final reply of each, one a line.  Every reply must be 2xx/3xx as
# expected; with "any" the final reply may be anything, and its code
# follows the seconds.
import socket, sys, time

port, path, frm, to, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
anyreply = len(sys.argv) > 6 and sys.argv[6] == "any"
with open(path, "rb") as f:
    raw = f.read().replace(b"\r\n", b"\n").split(b"\n")
if raw and raw[-1] == b"":
    raw.pop()
data = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in raw) + b".\r\n"
s = socket.create_connection(("127.0.0.1", int(port)))
rf = s.makefile("rb")

def reply(want):
    while True:
        line = rf.readline()
        if not line:
            sys.exit("lmtp-lat: connection closed")
        if line[3:4] != b"-":
            break
    if want is not None and line[:1] != want:
        sys.exit("lmtp-lat: unexpected reply: %r" % line)
    return line[:3].decode()

reply(b"2")
s.sendall(b"LHLO bench.client.test\r\n"); reply(b"2")
for i in range(n):
    t0 = time.monotonic()
    s.sendall(b"MAIL FROM:<%s>\r\n" % frm.encode()); reply(b"2")
    s.sendall(b"RCPT TO:<%s>\r\n" % to.encode()); reply(b"2")
    s.sendall(b"DATA\r\n"); reply(b"3")
    s.sendall(data)
    code = reply(None if anyreply else b"2")
    if anyreply:
        print("%.6f\t%s" % (time.monotonic() - t0, code))
    else:
        print("%.6f" % (time.monotonic() - t0))
s.sendall(b"QUIT\r\n")
EOP

SINK_PORT=$(pf_free_port)
smtp-sink -u nobody -h sink.bench.test "127.0.0.1:$SINK_PORT" 256 >sink.log 2>&1 &
SINK_PID=$!
for ((i = 0; i < 50; i++)); do
	case $(pf_banner "$SINK_PORT") in "220 sink.bench.test"*) break ;; esac
	sleep 0.1
done
OUT_PORT=$(pf_free_port)
IN_PORT=$(pf_free_port)

# start_daemon WORKERS PROFILE [EXTRA-CONF-LINES]
start_daemon() {
	cp base.conf smimegw.conf
	cat >>smimegw.conf <<EOC
listener_outgoing = 127.0.0.1:$OUT_PORT
listener_outgoing_proto = lmtp
listener_outgoing_next_hop = 127.0.0.1:$SINK_PORT
listener_outgoing_profile = $2
listener_incoming = 127.0.0.1:$IN_PORT
listener_incoming_proto = lmtp
listener_incoming_next_hop = 127.0.0.1:$SINK_PORT
workers = $1
smtp_timeout = 120
${3:-}
EOC
	${VG:+$VG --callgrind-out-file=$W/cg/cg.%p} \
		"$SMIMEGWD" -d -c "$W/smimegw.conf" -k "$KEYD" >>daemon.log 2>&1 &
	DPID=$!
	for ((i = 0; i < 1200; i++)); do
		if [ "$(workers | wc -w)" -ge "$1" ] && [ -n "$(keyd_pid)" ] &&
			[ -n "$(pf_banner "$OUT_PORT")" ] && [ -n "$(pf_banner "$IN_PORT")" ]; then
			return 0
		fi
		sleep 0.1
	done
	echo "daemon.sh: smimegwd did not start:" >&2
	tail -20 daemon.log >&2
	exit 1
}
workers() {
	local p
	for p in $(pgrep -P "$DPID" 2>/dev/null); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -- --worker >/dev/null && echo "$p"
	done
}
keyd_pid() { pgrep -P "$DPID" -f smimegw-keyd | head -1; }
stop_daemon() {
	[ -n "$DPID" ] || return 0
	local pids
	pids="$DPID $(pgrep -P "$DPID" | tr '\n' ' ')"
	kill -TERM "$DPID" 2>/dev/null
	for ((i = 0; i < 300; i++)); do
		kill -0 $pids 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL $pids 2>/dev/null || true
	wait "$DPID" 2>/dev/null || true
	DPID=''
}
# ticks PID...: utime + stime, summed
ticks() {
	local p sum=0 f
	for p in "$@"; do
		read -r -a f <<<"$(sed 's/^.*) //' "/proc/$p/stat")"
		sum=$((sum + f[11] + f[12]))
	done
	echo $sum
}
TCK=$(getconf CLK_TCK)
summaries() { grep -c 'summary:.*decision=deliver' daemon.log || true; }

# src_eml FILE: what smtp-source sends (-F adds CRLF), without the
# Message-ID: smtp-source sends the same file every time, and with one
# the delivery journal (smimegwd(8)) would take every message after the
# first as "accepted before" and relay nothing.  In-process has no
# journal either.
src_eml() { tr -d '\r' <"$1" | sed '1,/^$/{/^Message-ID:/Id}' >src.eml; }
# cell WORKERS OP SIZE
cell() {
	local nw=$1 op=$2 s=$3 port n wp kp w0 k0 w1 k1 t0 t1 d0 d1 sess
	n=$(count "$s")
	port=$OUT_PORT
	[ "$(op_dir "$op")" = incoming ] && port=$IN_PORT
	src_eml "$(op_in "$op")$s.eml"
	sess=$((2 * nw))
	src() {
		smtp-source -L -d -s "$1" -m "$2" -F src.eml -f "$(op_from "$op")" \
			-t "$(op_to "$op")" -M bench.client.test "127.0.0.1:$port" \
			>>source.log 2>&1 || {
			echo "daemon.sh: smtp-source failed ($op $s, $nw workers):" >&2
			tail -5 source.log >&2
			tail -20 daemon.log >&2
			exit 1
		}
	}
	log "in-process, then the daemon with $nw worker(s): $op $(size_label "$s"), $n messages in $sess sessions"
	inproc "$op" "$s" "$nw"
	src "$sess" "$((sess * 3))" # warm-up: every worker's store and caches
	wp=$(workers | tr '\n' ' ')
	kp=$(keyd_pid)
	d0=$(summaries)
	w0=$(ticks $wp)
	k0=$(ticks "$kp")
	t0=$(date +%s.%N)
	src "$sess" "$n"
	t1=$(date +%s.%N)
	w1=$(ticks $wp)
	k1=$(ticks "$kp")
	d1=$(summaries)
	[ $((d1 - d0)) -eq "$n" ] || {
		echo "daemon.sh: $((d1 - d0)) of $n messages delivered ($op $s)" >&2
		exit 1
	}
	[ "$(workers | tr '\n' ' ')" = "$wp" ] || {
		echo "daemon.sh: a worker was replaced during the run" >&2
		exit 1
	}
	python3 lmtp-lat.py "$port" "$(op_in "$op")$s.eml" "$(op_from "$op")" \
		"$(op_to "$op")" "$(lat_count "$s")" >lat.txt
	lat=$(sort -g lat.txt | awk '{ v[NR] = $1 } END {
		printf "%.6f\t%.6f\t%.6f", v[int(NR * 0.5 + 0.5)], v[int(NR * 0.9 + 0.5)], v[int(NR * 0.99 + 0.5)] }')
	printf 'daemon\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$op" "$s" "$nw" \
		"$n" "$(((w1 - w0)))" "$((k1 - k0))" "$TCK" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" \
		"$lat" "$(wc -l <lat.txt)" >>"$RAW"
}

# ---- instructions (--instructions) ---------------------------------------------------
# ir_total FILE: the Ir total of a callgrind output file
ir_total() { awk '/^(totals|summary):/ { print $2; exit }' "$1"; }
# ir_inproc OP SIZE: in-process Ir per call, from two runs' difference
ir_inproc() {
	local op=$1 s=$2 sel n a b ia ib
	if [ "$(op_dir "$op")" = outgoing ]; then
		sel=(--profile "$(op_prof "$op")")
	else
		sel=(--incoming)
	fi
	for n in 3 8; do
		valgrind --tool=callgrind --callgrind-out-file="$W/cg/inproc.$n" \
			"$BENCH" process -c smimegw.conf "${sel[@]}" --to "$(op_to "$op")" \
			--in "$(op_in "$op")$s.eml" --samples $n --warmup 3 \
			--batch-cpu 0 2>/dev/null | cut -f4 >"$W/cg/iters.$n"
	done
	a=$(ir_total "$W/cg/inproc.3") b=$(ir_total "$W/cg/inproc.8")
	ia=$(cat "$W/cg/iters.3") ib=$(cat "$W/cg/iters.8")
	echo $(((b - a) / (ib - ia)))
}
# ir_cell OP SIZE: the daemon's worker and keyd Ir per message
ir_cell() {
	local op=$1 s=$2 port n wp kp f sum=0 p
	n=$(case $s in 4096) echo 40 ;; 102400) echo 20 ;; *) echo 6 ;; esac)
	port=$OUT_PORT
	[ "$(op_dir "$op")" = incoming ] && port=$IN_PORT
	src_eml "$(op_in "$op")$s.eml"
	smtp-source -L -d -s 1 -m 3 -F src.eml -f "$(op_from "$op")" \
		-t "$(op_to "$op")" -M bench.client.test "127.0.0.1:$port" >>source.log 2>&1
	wp=$(workers) kp=$(keyd_pid)
	callgrind_control -z "$wp" >/dev/null
	callgrind_control -z "$kp" >/dev/null
	smtp-source -L -d -s 1 -m "$n" -F src.eml -f "$(op_from "$op")" \
		-t "$(op_to "$op")" -M bench.client.test "127.0.0.1:$port" >>source.log 2>&1 || {
		echo "daemon.sh: smtp-source failed ($op $s, instructions)" >&2
		exit 1
	}
	for p in $wp $kp; do
		callgrind_control -d "$p" >/dev/null
		sleep 0.5
		f=$(ls -t "$W"/cg/cg."$p".* | head -1)
		sum=$((sum + $(ir_total "$f")))
	done
	echo $((sum / n))
}
if [ "$IR" = 1 ]; then
	command -v valgrind >/dev/null || { echo "daemon.sh: valgrind not found" >&2; exit 1; }
	mkdir -p "$W/cg" && chmod 777 "$W/cg"
	for prof in p-sign p-se; do
		todo=()
		for op in ${OPS//,/ }; do
			case $op:$prof in
			sign:p-sign | sign-encrypt:p-se | decrypt:p-sign | verify:p-sign) todo+=("$op") ;;
			esac
		done
		[ ${#todo[@]} -gt 0 ] || continue
		VG="valgrind --tool=callgrind --trace-children=yes"
		start_daemon 1 "$prof"
		VG=
		for op in "${todo[@]}"; do
			for s in ${SIZES//,/ }; do
				log "instructions: $op $(size_label "$s"), in-process and the daemon"
				printf 'ir\t%s\t%s\t%s\t%s\n' "$op" "$s" \
					"$(ir_inproc "$op" "$s")" "$(ir_cell "$op" "$s")" >>"$RAW"
			done
		done
		stop_daemon
	done
	WORKERS='' RSS_SIZES='' CHAIN=0
fi

for nw in ${WORKERS//,/ }; do
	for prof in p-sign p-se; do
		todo=()
		for op in ${OPS//,/ }; do
			case $op:$prof in
			sign:p-sign | sign-encrypt:p-se | decrypt:p-sign | verify:p-sign) todo+=("$op") ;;
			esac
		done
		[ ${#todo[@]} -gt 0 ] || continue
		start_daemon "$nw" "$prof"
		for op in "${todo[@]}"; do
			for s in ${SIZES//,/ }; do
				cell "$nw" "$op" "$s"
			done
		done
		stop_daemon
	done
done

# ---- peak RSS of a worker ------------------------------------------------------------
# vm PID FIELD: kB
vm() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }
for mb in ${RSS_SIZES//,/ }; do
	s=$((mb * 1048576))
	"$BENCH" gen "$s" big.eml
	for prof in p-sign p-se; do
		log "peak RSS: one $mb MiB message, $prof, a fresh worker"
		start_daemon 1 "$prof" "message_size_limit = $((mb + 8))M"
		wp=$(workers)
		h0=$(vm "$wp" VmHWM)
		python3 lmtp-lat.py "$OUT_PORT" big.eml alice@example.test \
			r1@partner.example 1 any >lat.txt
		h1=$(vm "$wp" VmHWM)
		r1=$(vm "$wp" VmRSS)
		read -r lt code <lat.txt
		printf 'rss\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$prof" "$h0" "$h1" \
			"$r1" "$lt" "$code" >>"$RAW"
		stop_daemon
	done
	rm -f big.eml
done

# ---- the whole chain through Postfix (bench/postfix.sh) -------------------------------
# Postfix with a no-op filter, then with smimegwd (2 workers, p-sign) as
# its LMTP content filter, delivering to smtp-sink; the same messages.
if [ "$CHAIN" -gt 0 ]; then
	cp base.conf chain.tmpl
	cat >>chain.tmpl <<EOC
listener_outgoing = 127.0.0.1:@FILTER@
listener_outgoing_proto = lmtp
listener_outgoing_next_hop = 127.0.0.1:@REINJECT@
listener_outgoing_profile = p-sign
workers = 2
EOC
	fcmd="sed -e s/@FILTER@/\$PF_FILTER_PORT/ -e s/@REINJECT@/\$PF_REINJECT_PORT/ $W/chain.tmpl >$W/chain.conf && exec $SMIMEGWD -d -c $W/chain.conf -k $KEYD"
	for f in noop lmtp; do
		log "whole chain through Postfix, filter $f, $CHAIN messages"
		args=(--count "$CHAIN" --dest sink --size 4096 --sessions 4)
		[ $f = lmtp ] && args+=(--filter lmtp --filter-cmd "$fcmd")
		line=$("$ROOT/bench/postfix.sh" "${args[@]}" 2>chain.err) || {
			echo "daemon.sh: bench/postfix.sh failed:" >&2
			tail -20 chain.err >&2
			exit 1
		}
		printf 'chain\t%s\t%s\n' "$f" "$line" >>"$RAW"
	done
fi
load1=$(cut -d' ' -f1-3 /proc/loadavg)
t_end=$(date +%s)

# ---- the report -------------------------------------------------------------------------
mkdir -p "$OUT"
stamp=$(date -u +%Y%m%d-%H%M%S)
RES=$OUT/daemon-$stamp.md
cp "$RAW" "$OUT/daemon-$stamp.tsv"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
{
	echo "# smimegwd benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Machine: $cpu, $(nproc) cores, Linux $(uname -r); shared with other jobs."
	echo "Load average at start $load0, at end $load1; wall time $((t_end - t_start)) s."
	echo "Commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$([ $QUICK = 1 ] && echo ', --quick')."
	echo
	echo "msg/s per busy core: daemon = messages / CPU seconds of the workers and"
	echo "smimegw-keyd (/proc/PID/stat utime+stime over the run); in-process ="
	echo "1 / median CPU seconds per message of smimegw-bench process (the same"
	echo "pipeline, the token key in the process), measured just before the"
	echo "daemon's cell.  Ratio = daemon / in-process"
	echo "(target >= 0.80).  keyd: its share of the daemon's CPU.  Wall msg/s:"
	echo "smtp-source with 2 sessions per worker (the machine is shared: for"
	echo "scaling only).  Latency: one client, one message at a time, MAIL FROM to"
	echo "the final LMTP reply (the relay to smtp-sink included), ms."
	echo
	if grep -q '^ir' "$RAW"; then
		echo "Instructions per message (valgrind --tool=callgrind): in-process, the"
		echo "difference of two runs of smimegw-bench process (8 and 3 timed calls);"
		echo "the daemon, its worker and keyd with counters zeroed after 3 warm-up"
		echo "messages, 1 worker.  Ratio = in-process / daemon (the daemon's share of"
		echo "in-process speed)."
		echo
		echo "| op | size | in-process Ir/msg | daemon Ir/msg | ratio |"
		echo "|---|---|---:|---:|---:|"
		awk -F'\t' '$1 == "ir" { printf("| %s | %s | %.2f M | %.2f M | %.2f |\n", $2,
			$3 == 4096 ? "4k" : $3 == 102400 ? "100k" : $3 == 1048576 ? "1m" : $3,
			$4 / 1e6, $5 / 1e6, $5 > 0 ? $4 / $5 : 0) }' "$RAW"
		echo
	fi
	if grep -q '^daemon' "$RAW"; then
		echo "| op | size | workers | in-process msg/s/core | daemon msg/s/core | ratio | keyd share | wall msg/s | latency p50 / p90 / p99 ms | messages |"
		echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
		awk -F'\t' '
		function lbl(s) { return s == 4096 ? "4k" : s == 102400 ? "100k" : s == 1048576 ? "1m" : s }
		$1 == "inproc" { I[$2 "@" $3 "@" $4] = $5; next }
		$1 == "daemon" { k = $2 "@" $3 "@" $4; K[++nk] = k; OP[k] = $2; SZ[k] = $3; NW[k] = $4
			N[k] = $5; CW[k] = $6 / $8; CK[k] = $7 / $8; WALL[k] = $9
			P50[k] = $10; P90[k] = $11; P99[k] = $12; next }
		END {
			for (j = 1; j <= nk; j++) {
				k = K[j]; i = I[k]
				cpu = CW[k] + CK[k]
				d = cpu > 0 ? N[k] / cpu : 0
				printf("| %s | %s | %d | %.1f | %.1f | %.2f | %.0f%% | %.1f | %.1f / %.1f / %.1f | %d |\n",
					OP[k], lbl(SZ[k]), NW[k], i > 0 ? 1 / i : 0, d,
					i > 0 && d > 0 ? d * i : 0, cpu > 0 ? 100 * CK[k] / cpu : 0,
					N[k] / WALL[k], 1000 * P50[k], 1000 * P90[k], 1000 * P99[k], N[k])
			}
		}' "$RAW"
	fi
	if grep -q '^rss' "$RAW"; then
		echo
		echo "Peak RSS of a worker (VmHWM) for one message, a fresh worker per"
		echo "size and profile (spool_memory_limit 1 MiB: a larger message is"
		echo "spooled to an unlinked file and mapped); VmRSS after the reply."
		echo
		echo "| message | profile | VmHWM before, MiB | VmHWM after, MiB | growth ÷ message | VmRSS after, MiB | reply | latency s |"
		echo "|---:|---|---:|---:|---:|---:|---:|---:|"
		awk -F'\t' '$1 == "rss" { printf("| %d MiB | %s | %.1f | %.1f | %.2f | %.1f | %s | %.2f |\n",
			$2 / 1048576, $3, $4 / 1024, $5 / 1024, ($5 - $4) * 1024 / $2, $6 / 1024, $8, $7) }' "$RAW"
	fi
	echo
	if grep -q '^chain' "$RAW"; then
		echo
		echo "The whole chain (bench/postfix.sh): smtp-source -> Postfix -> content"
		echo "filter -> reinjection smtpd -> smtp-sink, 4 KiB payloads, 4 sessions;"
		echo "the filter is Postfix itself (no-op) or smimegwd (LMTP, 2 workers, p-sign)."
		echo
		grep '^chain' "$RAW" | cut -f3- | sed 's/^/    /'
	fi
	echo
	echo "Raw data: daemon-$stamp.tsv."
} >"$RES"
cat "$RES"
log "results: $RES"
