#!/usr/bin/env bash
# bench/process.sh - one outgoing message through process_message(), per
# sending profile mode and size, for two builds alternately in one run
# (the "parse once" measurement in docs/performance.md).
#
# Usage: bench/process.sh [--rounds N] [--samples N] [--sizes LIST]
#                         [--modes LIST] BENCH_NEW [BENCH_OLD]
#   BENCH_NEW, BENCH_OLD  smimegw-bench binaries (BENCH_OLD: the
#                         baseline, e.g. built from the commit before)
#   --rounds N   old and new alternate N times per cell (default 3);
#                the best median per binary is used
#   --samples N  timed batches per call (default 21)
#   --sizes      byte counts (default 4096,102400,1048576)
#   --modes      profile modes (default sign-encrypt,triple)
# Prints "mode size old_s new_s old/new" lines (old/new > 1: faster).
# The token, identity and recipient are made as in bench/run.sh; the
# smimegw program is taken from beside BENCH_NEW (../gateway/cli/smimegw).
set -euo pipefail
export LC_ALL=C TZ=UTC

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=3 SAMPLES=21 SIZES=4096,102400,1048576 MODES=sign-encrypt,triple
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--samples) SAMPLES=$2; shift 2 ;;
	--sizes) SIZES=$2; shift 2 ;;
	--modes) MODES=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || { echo "process.sh: BENCH_NEW is required" >&2; exit 2; }
NEW=$(realpath "$1") OLD=${2:+$(realpath "$2")}
SMIMEGW=$(dirname "$NEW")/../gateway/cli/smimegw
MODULE=/usr/lib/softhsm/libsofthsm2.so

W=$(mktemp -d "${TMPDIR:-/tmp}/smimegw-process.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"
"$ROOT/hsm-setup/softhsm-token.sh" --dir "$W/tok" --label smimegw-bench \
	>tok.env 2>tok.log || { cat tok.log >&2; exit 1; }
export SOFTHSM2_CONF=$W/tok/softhsm2.conf
cat >smimegw.conf <<EOC
data_dir = data
pkcs11_module = $MODULE
token = pkcs11:token=smimegw-bench
pin_file = tok/user.pin
authserv_id = bench.example.test
EOC
gw() { "$SMIMEGW" -c "$W/smimegw.conf" "$@"; }
gw cert create bench --cn gw.example.test --country DE --org Example \
	--days 30 --san-email alice@example.test --san-dns example.test \
	--key rsa:2048 >/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout r1.key -out r1.pem \
	-subj "/CN=Recipient 1/O=Partner" -days 30 \
	-addext "basicConstraints=critical,CA:FALSE" \
	-addext "keyUsage=critical,digitalSignature,keyEncipherment" \
	-addext "extendedKeyUsage=emailProtection" \
	-addext "subjectAltName=email:r1@partner.example" 2>/dev/null
gw pubkey add r1 r1.pem >/dev/null
for m in ${MODES//,/ }; do
	gw profile add "$m" --mode "$m" --cert bench --action bounce >/dev/null
done
for s in ${SIZES//,/ }; do
	"$NEW" gen "$s" "m$s.eml"
done

run() { # BENCH MODE SIZE -> median seconds
	"$1" process -c smimegw.conf --profile "$2" --to r1@partner.example \
		--in "m$3.eml" --samples "$SAMPLES" --warmup 3 \
		--batch-cpu 0.02 | cut -f6
}
best() { sort -g | head -1; }
for m in ${MODES//,/ }; do
	for s in ${SIZES//,/ }; do
		o=() n=()
		for r in $(seq "$ROUNDS"); do
			[ -z "$OLD" ] || o+=("$(run "$OLD" "$m" "$s")")
			n+=("$(run "$NEW" "$m" "$s")")
		done
		bn=$(printf '%s\n' "${n[@]}" | best)
		if [ -n "$OLD" ]; then
			bo=$(printf '%s\n' "${o[@]}" | best)
			awk -v m="$m" -v s="$s" -v o="$bo" -v n="$bn" \
				'BEGIN { printf "%s\t%s\t%.6f\t%.6f\t%.3f\n", m, s, o, n, o / n }'
		else
			printf '%s\t%s\t-\t%s\t-\n' "$m" "$s" "$bn"
		fi
	done
done
