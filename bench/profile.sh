#!/usr/bin/env bash
# bench/profile.sh - where the time of one benchmarked operation goes.
#
# Usage: bench/profile.sh WORKDIR OP SIZE [perf|callgrind] [--build DIR]
#   WORKDIR  a work directory left by `bench/run.sh --keep`
#   OP       sign | encrypt1 | encrypt10 | decrypt | verify, or the same
#            with an api- prefix (api-sign ...): the OpenSSL CMS API
#            baseline with the token key instead of smimegw
#   SIZE     4096 | 102400 | 1048576 | 10485760
# perf (default): `perf record --call-graph dwarf` of the operation alone
# (smimegw-bench op --op-only, or --api-only), then the flat profile
# (self time) and the inclusive time of every function above 1.5 %.  callgrind: one
# warm-up and a few calls under valgrind; prints the inclusive tree.
# Output goes to stdout and WORKDIR/profile-OP-SIZE.*.
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 3 ] || { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
W=$(cd "$1" && pwd)
OP=$2
S=$3
TOOL=${4:-perf}
BUILD=$ROOT/build
[ "${5:-}" = --build ] && BUILD=$(cd "$6" && pwd)
BENCH=$BUILD/bench/smimegw-bench
[ -x "$BENCH" ] || BENCH=$W/smimegw-bench
[ -x "$BENCH" ] || { echo "profile.sh: no smimegw-bench in $BUILD/bench or $W" >&2; exit 1; }
export SOFTHSM2_CONF=$W/tok/softhsm2.conf
cd "$W"

ONLY=--op-only
case $OP in api-*) ONLY=--api-only ;; esac
case ${OP#api-} in
sign) args=(--op sign --in m$S.eml) ;;
encrypt1) args=(--op encrypt --in m$S.eml --rcpt r1.pem) ;;
encrypt10) args=(--op encrypt --in m$S.eml)
	for i in 1 2 3 4 5 6 7 8 9 10; do args+=(--rcpt r$i.pem); done ;;
decrypt) args=(--op decrypt --in e$S.eml) ;;
verify) args=(--op verify --in s$S.eml) ;;
*) echo "profile.sh: unknown OP '$OP'" >&2; exit 2 ;;
esac
# about 2-3 CPU-seconds of the operation
case $S in
4096) n=3000 ;; 102400) n=600 ;; 1048576) n=100 ;; *) n=20 ;;
esac
common=(-c smimegw.conf --identity bench --swkey r1.key --swcert r1.pem
	--size "$S" $ONLY --warmup 1 --batch-cpu 0)
out=$W/profile-$OP-$S

if [ "$TOOL" = callgrind ]; then
	[ "$n" -gt 20 ] && n=20
	valgrind --tool=callgrind --callgrind-out-file="$out.callgrind" \
		"$BENCH" op "${common[@]}" --samples "$n" "${args[@]}" >/dev/null 2>"$out.vg.log"
	callgrind_annotate --inclusive=yes "$out.callgrind" 2>/dev/null |
		grep -v "'[0-9]" | sed -n '/file:function/,$p' | head -50
	exit 0
fi

perf record -q -F 1999 --call-graph dwarf,32768 -o "$out.perf" -- \
	"$BENCH" op "${common[@]}" --samples "$n" "${args[@]}" >/dev/null
echo "== $OP $S: self time (flat) =="
perf report -i "$out.perf" --no-children --sort dso,symbol --percent-limit 1 \
	--stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40
echo "== $OP $S: self time per library =="
perf report -i "$out.perf" --no-children --sort dso --stdio -g none 2>/dev/null |
	grep -v '^#' | grep -v '^$' | head -8
echo "== $OP $S: inclusive time (children) =="
perf report -i "$out.perf" --children --sort symbol --percent-limit 1.5 \
	--stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -70
