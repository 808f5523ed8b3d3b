#!/usr/bin/env bash
# bench/scale-io.sh - import and export at scale, with the per-message
# cost of the fill's first design (issue 10; method and results in
# docs/performance.md).  bench/scale.sh is the per-message benchmark
# (stores kept per size, sizes alternating, instruction counts); this
# script keeps the import/export part (--io, --io-only).
#
# Usage: bench/scale-io.sh [--sizes LIST] [--runs N] [--smimegw BIN]
#                       [--old BIN] BUILD_DIR
#   BUILD_DIR    a build tree (BUILD_DIR/gateway/smimegw and
#                BUILD_DIR/tests/store_fill are used)
#   --sizes      public-key counts, ascending (default 1000,10000,100000);
#                each step also holds a tenth as many harvested keys
#                (at most 100000); the first size is the baseline of the
#                ratios
#   --runs N     timed runs per cell, the median is kept (default 5)
#   --smimegw    the smimegw program to time (default BUILD_DIR's)
#   --old BIN    a second smimegw (e.g. the build before the indexes),
#                timed on the same store in the same run
#   --old-max N  time the old program only up to N keys (default 10000)
#   --io         also, at each size: `config export` of the store,
#                `config import` of that file into a fresh store (then
#                the two exports compared byte for byte and `store
#                check` run on the copy), and `pubkey import` of a file
#                of as many new keys (made by store_fill -x) into a
#                fresh store; wall and CPU time, rates, peak RSS
#                (/usr/bin/time), file and store sizes, printed after
#                the table above as lines starting "io"
#   --io-only    the --io part alone: no per-message timing
# Prints one tab-separated line per size and program:
#   prog keys harvested store_MB t_1rcpt_ms t_10rcpt_ms t_harvested_ms
#   t_nokey_ms ratio_1rcpt ratio_10rcpt
# The store is filled with tests/store_fill (one RSA-2048 key pair, a
# certificate per key signed by a test CA, through keystore_put() and
# harvested_put()); each message is `smimegw process --direction
# outgoing` of a 2 KB message with an encrypt profile.
set -euo pipefail
export LC_ALL=C TZ=UTC

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZES=1000,10000,100000 RUNS=5 BIN= OLD= OLDMAX=10000 IO=0 MSG=1
while [ $# -gt 0 ]; do
	case $1 in
	--io) IO=1; shift ;;
	--io-only) IO=1 MSG=0; shift ;;
	--sizes) SIZES=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--smimegw) BIN=$2; shift 2 ;;
	--old) OLD=$(realpath "$2"); shift 2 ;;
	--old-max) OLDMAX=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) break ;;
	esac
done
[ $# -eq 1 ] || { echo "scale.sh: BUILD_DIR is required" >&2; exit 2; }
B=$(realpath "$1")
BIN=$(realpath "${BIN:-$B/gateway/smimegw}")
FILL=$B/tests/store_fill
MODULE=/usr/lib/softhsm/libsofthsm2.so

W=$(mktemp -d "${TMPDIR:-/tmp}/smimegw-scale.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"
"$ROOT/hsm-setup/softhsm-token.sh" --dir "$W/tok" --label smimegw-scale \
	>tok.env 2>tok.log || { cat tok.log >&2; exit 1; }
export SOFTHSM2_CONF=$W/tok/softhsm2.conf
cat >smimegw.conf <<EOC
data_dir = data
pkcs11_module = $MODULE
token = pkcs11:token=smimegw-scale
pin_file = tok/user.pin
authserv_id = bench.example.test
store_map_size = 8G
EOC
gw() { "$BIN" -c "$W/smimegw.conf" "$@"; }
gw cert create gw --cn gw.example.test --country DE --org Example \
	--days 30 --san-email alice@corp.example --key rsa:2048 >/dev/null
gw profile add enc --mode encrypt --action bounce >/dev/null
gw profile add enc-drop --mode encrypt --action drop >/dev/null
{
	printf 'From: alice@corp.example\r\nTo: u1@d1.example\r\n'
	printf 'Subject: scale\r\nMessage-ID: <scale@corp.example>\r\n\r\n'
	for i in $(seq 1 30); do
		printf 'line %02d of a short message body, about seventy bytes.\r\n' "$i"
	done
} >msg.eml

ms() { date +%s%N; }
# cell PROG ARGS... : median wall time of RUNS runs in ms
cell() {
	local prog=$1 t0 t1 i
	shift
	# One more run than counted: the first warms the caches.
	for i in $(seq 0 "$RUNS"); do
		rm -rf out
		t0=$(ms)
		"$prog" -c "$W/smimegw.conf" process --direction outgoing \
			--from alice@corp.example --out-dir out -i msg.eml "$@" \
			>/dev/null 2>err || { cat err >&2; exit 1; }
		t1=$(ms)
		# Each run must have written its result (and no error).
		[ -s out/result.json ] || { echo "scale.sh: no result" >&2; exit 1; }
		[ "$i" = 0 ] || echo $(((t1 - t0) / 1000))
	done | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] / 1000 }'
}

# tm OUT CMD... : runs CMD with /usr/bin/time; OUT gets "wall user sys
# maxrss_kb"; stdout to /dev/null, stderr kept in err.
tm() {
	local out=$1
	shift
	/usr/bin/time -o "$out" -f '%e %U %S %M' "$@" >/dev/null 2>err ||
		{ cat err >&2; exit 1; }
}
# io_line OP KEYS HARVESTED TIMEFILE FILE_MB STORE_MB
io_line() {
	read -r wall user sys rss <"$4"
	awk -v op="$1" -v n="$2" -v h="$3" -v w="$wall" -v u="$user" -v s="$sys" \
		-v r="$rss" -v f="$5" -v m="$6" 'BEGIN {
		k = n + h; c = u + s
		printf "io\t%s\t%d\t%d\t%.1f\t%.1f\t%.0f\t%.0f\t%.0f\t%d\t%d\n",
			op, n, h, w, c, (w > 0 ? k / w : 0), (c > 0 ? k / c : 0),
			r / 1024, f, m }'
}
# io N H : the export and import rates of the store as filled.
io() {
	local n=$1 h=$2 fmb smb
	rm -rf io data-io data-pk
	mkdir io
	sed 's#^data_dir = .*#data_dir = data-io#' smimegw.conf >io.conf
	sed 's#^data_dir = .*#data_dir = data-pk#' smimegw.conf >pk.conf
	tm io/t.export "$BIN" -c "$W/smimegw.conf" config export io/c1.txt
	fmb=$(du -m io/c1.txt | cut -f1)
	smb=$(du -m data/store/data.mdb | cut -f1)
	io_line config-export "$n" "$h" io/t.export "$fmb" "$smb"
	tm io/t.import "$BIN" -c "$W/io.conf" config import io/c1.txt
	"$BIN" -c "$W/io.conf" config export io/c2.txt >/dev/null
	cmp -s io/c1.txt io/c2.txt ||
		{ echo "scale.sh: config export after import differs" >&2; exit 1; }
	"$BIN" -c "$W/io.conf" store check >io/check.txt ||
		{ cat io/check.txt >&2; exit 1; }
	io_line config-import "$n" "$h" io/t.import "$fmb" \
		"$(du -m data-io/store/data.mdb | cut -f1)"
	rm -rf data-io io/c2.txt
	"$FILL" -x io/pk.txt -n "$n" >/dev/null
	tm io/t.pk "$BIN" -c "$W/pk.conf" pubkey import io/pk.txt
	io_line pubkey-import "$n" 0 io/t.pk "$(du -m io/pk.txt | cut -f1)" \
		"$(du -m data-pk/store/data.mdb | cut -f1)"
	rm -rf data-pk io
}
IOLINES=$W/io.lines

TEN=()
for i in 0 1 2 3 4 5 6 7 8 9; do TEN+=(--to "u$((i * 97))@d$((i * 97 % 1000)).example"); done
have=0 hhave=0 base1= base10=
printf 'prog\tkeys\tharvested\tstore_MB\tt_1rcpt_ms\tt_10rcpt_ms\tt_harvested_ms\tt_nokey_ms\tratio_1\tratio_10\n'
for n in ${SIZES//,/ }; do
	h=$((n / 10 > 100000 ? 100000 : n / 10))
	"$FILL" -c smimegw.conf -s "$have" -n $((n - have)) >>fill.log
	"$FILL" -c smimegw.conf -s "$hhave" -H $((h - hhave)) >>fill.log
	have=$n hhave=$h
	# The first open after the fill walks the file once (store/walked).
	gw profile list >/dev/null 2>&1 || true
	mb=$(du -m data/store/data.mdb | cut -f1)
	[ "$IO" = 0 ] || io "$n" "$h" >>"$IOLINES"
	[ "$MSG" = 1 ] || continue
	olds=()
	[ -z "$OLD" ] || [ "$n" -gt "$OLDMAX" ] || olds=("$OLD")
	for p in "$BIN" "${olds[@]}"; do
		t1=$(cell "$p" --profile enc --to u1@d1.example)
		# What the runs did: the outcome per recipient, once a size.
		echo "$n $(basename "$p"): $(jq -r '[.recipients[].outcome] | join(",")' out/result.json 2>&1)" >>fill.log
		t10=$(cell "$p" --profile enc "${TEN[@]}")
		th=$(cell "$p" --profile enc --to h1@hd1.example)
		tn=$(cell "$p" --profile enc-drop --to nobody@nowhere.example)
		if [ "$p" = "$BIN" ] && [ -z "$base1" ]; then
			base1=$t1 base10=$t10
		fi
		name=new
		[ "$p" = "$BIN" ] || name=old
		awk -v p="$name" -v n="$n" -v h="$h" -v mb="$mb" -v a="$t1" \
			-v b="$t10" -v c="$th" -v d="$tn" -v a0="$base1" -v b0="$base10" \
			'BEGIN { printf "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%.2f\t%.2f\n", p, n, h, mb, a, b, c, d, a / a0, b / b0 }'
	done
done
if [ "$IO" = 1 ]; then
	printf 'io\top\tkeys\tharvested\twall_s\tcpu_s\tobjects_per_s\tobjects_per_cpu_s\tpeak_rss_MB\tfile_MB\tstore_MB\n'
	cat "$IOLINES"
fi
sed 's/^/# /' fill.log
