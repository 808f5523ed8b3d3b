#!/usr/bin/env bash
# bench/scale.sh - per-message cost against the size of the key store
# (issue 10; method and results in docs/performance.md).
#
# Usage: bench/scale.sh [--sizes LIST] [--runs N] [--smimegw BIN]
#                       [--old BIN] [--old-max N] [--work DIR]
#                       [--fill-only] [--ir] BUILD_DIR
#   BUILD_DIR    a build tree (BUILD_DIR/gateway/smimegw and
#                BUILD_DIR/tests/store_fill are used)
#   --sizes      public-key counts, ascending (default 1000,10000,100000);
#                each size has a store of its own, which also holds a
#                tenth as many harvested keys (at most 100000); the first
#                size is the baseline of the ratios
#   --runs N     timed rounds (default 5); a round times every cell of
#                every size once, sizes alternating, so that the load of
#                the machine falls on all sizes alike; the median is kept
#   --smimegw    the smimegw program to time (default BUILD_DIR's)
#   --old BIN    a second smimegw (e.g. the build before the indexes),
#                timed on the same stores in the same rounds
#   --old-max N  time the old program only up to N keys (default 10000)
#   --work DIR   keep the token and the stores in DIR (made if missing)
#                and reuse the stores filled there before: a fill of a
#                million keys takes a while (default: a temporary
#                directory, removed at the end)
#   --fill-only  make and fill the stores, time nothing
#   --ir         also count the instructions of one run per cell and
#                size under valgrind --tool=callgrind (millions; the
#                load of the machine does not change them)
# Prints one tab-separated line per size and program:
#   prog keys harvested store_MB t_1rcpt_ms t_10rcpt_ms t_harvested_ms
#   t_nokey_ms t_verify_ms ratio_1 ratio_10 ratio_verify
# and with --ir one more per size and program, "ir" in the first column
# and the instruction counts in the time columns.
# The stores are filled with tests/store_fill (one RSA-2048 key pair, a
# certificate per key signed by a test CA, through keystore_put() and
# harvested_put()).  The outgoing cells are `smimegw process --direction
# outgoing` of a 2 KB message with an encrypt profile (one recipient
# with a public key, ten, one whose only key is harvested, one without a
# key); the verify cell is `smimegw process --direction incoming` of
# that message signed by a partner whose certificate is pinned (a public
# key of its own, self-signed, not issued by any trusted CA).
set -euo pipefail
export LC_ALL=C TZ=UTC

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZES=1000,10000,100000 RUNS=5 BIN= OLD= OLDMAX=10000 WORK= FILLONLY= IR=
while [ $# -gt 0 ]; do
	case $1 in
	--sizes) SIZES=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--smimegw) BIN=$2; shift 2 ;;
	--old) OLD=$(realpath "$2"); shift 2 ;;
	--old-max) OLDMAX=$2; shift 2 ;;
	--work) WORK=$2; shift 2 ;;
	--fill-only) FILLONLY=1; shift ;;
	--ir) IR=1; shift ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) break ;;
	esac
done
[ $# -eq 1 ] || { echo "scale.sh: BUILD_DIR is required" >&2; exit 2; }
B=$(realpath "$1")
BIN=$(realpath "${BIN:-$B/gateway/smimegw}")
FILL=$B/tests/store_fill
MODULE=/usr/lib/softhsm/libsofthsm2.so

if [ -n "$WORK" ]; then
	mkdir -p "$WORK"
	W=$(realpath "$WORK")
else
	W=$(mktemp -d "${TMPDIR:-/tmp}/smimegw-scale.XXXXXX")
	trap 'rm -rf "$W"' EXIT
fi
cd "$W"
export SOFTHSM2_CONF=$W/tok/softhsm2.conf
# conf SIZE: the configuration of the store of SIZE keys (0: the empty
# store every other one starts from)
conf() {
	[ -s "conf-$1" ] || cat >"conf-$1" <<EOC
data_dir = data-$1
pkcs11_module = $MODULE
token = pkcs11:token=smimegw-scale
pin_file = tok/user.pin
authserv_id = bench.example.test
store_map_size = 8G
EOC
	echo "$W/conf-$1"
}
gw() { local c=$1; shift; "$BIN" -c "$(conf "$c")" "$@"; }
if [ ! -e data-0/made ]; then
	rm -rf tok data-0
	"$ROOT/hsm-setup/softhsm-token.sh" --dir "$W/tok" \
		--label smimegw-scale >tok.env 2>tok.log ||
		{ cat tok.log >&2; exit 1; }
	gw 0 cert create gw --cn gw.example.test --country DE --org Example \
		--days 30 --san-email alice@corp.example --key rsa:2048 >/dev/null
	gw 0 profile add enc --mode encrypt --action bounce >/dev/null
	gw 0 profile add enc-drop --mode encrypt --action drop >/dev/null
	touch data-0/made
fi
{
	printf 'From: alice@corp.example\r\nTo: u1@d1.example\r\n'
	printf 'Subject: scale\r\nMessage-ID: <scale@corp.example>\r\n\r\n'
	for i in $(seq 1 30); do
		printf 'line %02d of a short message body, about seventy bytes.\r\n' "$i"
	done
} >msg.eml

# The stores, each a copy of the one before it filled further; a store
# is marked filled only when its fill ended well.
prev=0 have=0 hhave=0
for n in ${SIZES//,/ }; do
	h=$((n / 10 > 100000 ? 100000 : n / 10))
	if [ ! -e "data-$n/filled" ]; then
		rm -rf "data-$n"
		cp -a "data-$prev" "data-$n"
		rm -f "data-$n/filled"
		"$FILL" -c "$(conf "$n")" -s "$have" -n $((n - have)) >>fill.log
		"$FILL" -c "$(conf "$n")" -s "$hhave" -H $((h - hhave)) >>fill.log
		touch "data-$n/filled"
	fi
	prev=$n have=$n hhave=$h
done
[ -z "$FILLONLY" ] || exit 0

# The partner: a self-signed key pinned as a public key in every store,
# and a message from it, signed.
if [ ! -s partner.pem ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout partner.key \
		-out partner.pem -days 30 -subj '/O=Partner/CN=Partner Signer' \
		-addext 'subjectAltName=email:signer@partner.example' \
		-addext 'basicConstraints=critical,CA:FALSE' \
		-addext 'keyUsage=critical,digitalSignature,keyEncipherment' \
		-addext 'extendedKeyUsage=emailProtection' 2>/dev/null
fi
{
	printf 'From: signer@partner.example\r\nTo: alice@corp.example\r\n'
	printf 'Subject: scale\r\nMessage-ID: <scale@partner.example>\r\n'
	sed '1,/^\r$/d' msg.eml | openssl cms -sign -signer partner.pem \
		-inkey partner.key -nocerts -md sha256 -binary -crlfeol
} >signed.eml
for n in ${SIZES//,/ }; do
	# The first write to a store of an older format upgrades it: timed.
	if ! gw "$n" pubkey show partner >/dev/null 2>&1; then
		t0=$(date +%s%N)
		gw "$n" pubkey add partner partner.pem >/dev/null
		echo "$n: pubkey add partner (the first write) $((($(date +%s%N) - t0) / 1000000)) ms" >>fill.log
	fi
	# The first open after the fill walks the file once (store/walked).
	gw "$n" profile list >/dev/null 2>&1 || true
done

ms() { date +%s%N; }
# once PROG SIZE CELL [ir]: one timed run, its time in microseconds (or
# with ir, its instruction count under callgrind)
once() {
	local prog=$1 n=$2 cell=$3 ir=${4:-} t0 t1 pre=() args=(--direction outgoing
		--from alice@corp.example -i msg.eml)
	case $cell in
	1) args+=(--profile enc --to u1@d1.example) ;;
	10) args+=(--profile enc "${TEN[@]}") ;;
	h) args+=(--profile enc --to h1@hd1.example) ;;
	n) args+=(--profile enc-drop --to nobody@nowhere.example) ;;
	v) args=(--direction incoming --from signer@partner.example
		--to alice@corp.example -i signed.eml) ;;
	esac
	rm -rf out
	[ -z "$ir" ] || pre=(valgrind --tool=callgrind --callgrind-out-file=/dev/null)
	t0=$(ms)
	"${pre[@]}" "$prog" -c "$W/conf-$n" process --out-dir out "${args[@]}" \
		>/dev/null 2>err || { cat err >&2; exit 1; }
	t1=$(ms)
	# Each run must have written its result (and no error), and the
	# signed message must have verified.
	[ -s out/result.json ] || { echo "scale.sh: no result" >&2; exit 1; }
	if [ "$cell" = v ] && [ "$(jq -r .smime.result out/result.json)" != pass ]; then
		echo "scale.sh: the signed message did not verify:" >&2
		cat out/result.json >&2
		exit 1
	fi
	if [ -n "$ir" ]; then
		sed -n 's/.*Collected : \([0-9]*\).*/\1/p' err
	else
		echo $(((t1 - t0) / 1000))
	fi
}

TEN=()
for i in 0 1 2 3 4 5 6 7 8 9; do TEN+=(--to "u$((i * 97))@d$((i * 97 % 1000)).example"); done
CELLS="1 10 h n v"
progs() {
	echo "$BIN"
	[ -z "$OLD" ] || [ "$1" -gt "$OLDMAX" ] || echo "$OLD"
}
rm -rf times && mkdir times
# A warm-up run per cell (not counted), then the rounds.
for r in $(seq 0 "$RUNS"); do
	for n in ${SIZES//,/ }; do
		for p in $(progs "$n"); do
			for c in $CELLS; do
				t=$(once "$p" "$n" "$c")
				[ "$r" = 0 ] || echo "$t" >>"times/$(basename "$p").$n.$c"
			done
			[ "$r" != 0 ] || echo "$n $(basename "$p"): $(jq -r \
				'.smime.result // "-"' out/result.json)" >>fill.log
		done
	done
done
med() { sort -n "$1" | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] / 1000 }'; }
printf 'prog\tkeys\tharvested\tstore_MB\tt_1rcpt_ms\tt_10rcpt_ms\tt_harvested_ms\tt_nokey_ms\tt_verify_ms\tratio_1\tratio_10\tratio_verify\n'
b1= b10= bv=
for n in ${SIZES//,/ }; do
	h=$((n / 10 > 100000 ? 100000 : n / 10))
	mb=$(du -m "data-$n/store/data.mdb" | cut -f1)
	for p in $(progs "$n"); do
		f=times/$(basename "$p").$n
		t1=$(med "$f.1") t10=$(med "$f.10") th=$(med "$f.h")
		tn=$(med "$f.n") tv=$(med "$f.v")
		[ -n "$b1" ] || b1=$t1 b10=$t10 bv=$tv
		name=new
		[ "$p" = "$BIN" ] || name=old
		awk -v p="$name" -v n="$n" -v h="$h" -v mb="$mb" -v a="$t1" \
			-v b="$t10" -v c="$th" -v d="$tn" -v e="$tv" -v a0="$b1" \
			-v b0="$b10" -v e0="$bv" \
			'BEGIN { printf "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%.2f\n", p, n, h, mb, a, b, c, d, e, a / a0, b / b0, e / e0 }'
	done
done
if [ -n "$IR" ]; then
	for n in ${SIZES//,/ }; do
		h=$((n / 10 > 100000 ? 100000 : n / 10))
		mb=$(du -m "data-$n/store/data.mdb" | cut -f1)
		for p in $(progs "$n"); do
			line="ir	$n	$h	$mb"
			for c in $CELLS; do
				line="$line	$(once "$p" "$n" "$c" ir | awk '{ printf "%.1f", $1 / 1e6 }')"
			done
			echo "$line"
		done
	done
fi
sed 's/^/# /' fill.log
