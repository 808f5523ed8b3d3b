#!/usr/bin/env bash
# bench/run.sh - the smimegw benchmark (method: docs/performance.md).
#
# In one run, on one machine:
#   1. an isolated SoftHSM token (hsm-setup/softhsm-token.sh) holding an
#      RSA-2048 identity made by `smimegw cert create` (SAN
#      alice@example.test + example.test, covering the From of the test
#      messages); ten software RSA-2048 recipients made with openssl;
#   2. test messages of 4 KiB, 100 KiB, 1 MiB and 10 MiB (headers, then
#      multipart/mixed: quoted-printable text + base64 attachment);
#   3. the primitives (smimegw-bench prims, EVP API, CPU time): RSA-2048
#      with a software key and with the token key, SHA-256 and
#      AES-256-CBC at each size; `openssl speed` as a cross-check; the
#      base64 codec alone (smimegw-bench b64: 10 MiB encoded in 76-column
#      lines and decoded, per instruction-set path, and OpenSSL's
#      EVP_EncodeBlock/EVP_DecodeBlock line by line);
#   4. smimegw in-process (smimegw-bench op, token key loaded once):
#      sign (detached), encrypt to 1 and 10 recipients, decrypt (token
#      key), verify (detached, and opaque: signed by smimegw with
#      --sign-mode opaque, DER at 4 KiB and streamed BER in 4 KiB
#      segments from 100 KiB on); in the same rounds, the primitives of
#      the operation's limit and the baseline: OpenSSL's CMS API
#      (CMS_sign/CMS_encrypt + SMIME_write_CMS, SMIME_read_CMS +
#      CMS_decrypt/CMS_verify) on the same input with the same token key,
#      and for sign and decrypt with a software key; then the API path's
#      peak RSS on its own (op --api-only);
#   5. the peer: `openssl cms`, one process per message, with the same
#      token key through the pkcs11 engine, and with a software key;
#   6. a markdown table (limit per operation as in PERF-ANCHORS.md, every
#      result as a percentage of it, smimegw against the API path) and
#      the cells below the 50 % target and below the API path, on stdout
#      and in the results file.
#
# Usage: bench/run.sh [--build DIR] [--out DIR] [--quick] [--keep]
#   --build DIR  build tree holding gateway/smimegw and, once bench/ is
#                added to the top-level CMakeLists.txt, bench/smimegw-bench
#                (default: ./build); without the latter, smimegw-bench is
#                compiled into the work directory against
#                DIR/libsmimegw_core.a
#   --out DIR    where the results go (default: bench/results)
#   --quick      fewer samples (a smoke test, not for publication)
#   --keep       keep the work directory (token, keys, messages) for
#                profiling: see bench/profile.sh
# Environment: TMPDIR (work directory parent).
set -euo pipefail
export LC_ALL=C TZ=UTC

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
OUT=$ROOT/bench/results
QUICK=0
KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$(cd "$2" && pwd); shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--quick) QUICK=1; shift ;;
	--keep) KEEP=1; shift ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done

MODULE=/usr/lib/softhsm/libsofthsm2.so
SIZES="4096 102400 1048576 10485760"
SMIMEGW=$BUILD/gateway/smimegw
BENCH=$BUILD/bench/smimegw-bench
[ -x "$SMIMEGW" ] || { echo "run.sh: $SMIMEGW not found: build first" >&2; exit 1; }
for t in openssl softhsm2-util; do
	command -v $t >/dev/null || { echo "run.sh: $t not found" >&2; exit 1; }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/smimegw-bench.XXXXXX")
if [ $KEEP = 1 ]; then
	trap 'echo "run.sh: work directory kept: $W" >&2' EXIT
else
	trap 'rm -rf "$W"' EXIT
fi
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
t_start=$(date +%s)

# ---- the bench binary ------------------------------------------------------
if [ ! -x "$BENCH" ]; then
	[ -f "$BUILD/libsmimegw_core.a" ] ||
		{ echo "run.sh: $BUILD/libsmimegw_core.a not found" >&2; exit 1; }
	log "bench/ is not part of the build yet: compiling smimegw-bench into $W"
	BENCH=$W/smimegw-bench
	cc -std=c11 -O2 -g -DNDEBUG -D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 \
		-DOPENSSL_SUPPRESS_DEPRECATED -Wall -Wextra -Wno-unused-parameter \
		-I"$ROOT/gateway" -I"$ROOT/pkcs11" -I"$ROOT/certmgr" \
		-o "$BENCH" "$ROOT/bench/smimegw-bench.c" "$BUILD/libsmimegw_core.a" \
		$(pkg-config --cflags --libs libcrypto lmdb libcurl) -ldl
fi

# ---- token, identity, recipients, messages -----------------------------------
log "work directory $W"
cd "$W"
"$ROOT/hsm-setup/softhsm-token.sh" --dir "$W/tok" --label smimegw-bench \
	>tok.env 2>tok.log || { cat tok.log >&2; exit 1; }
export SOFTHSM2_CONF=$W/tok/softhsm2.conf
# The openssl pkcs11 engine (libp11) loads this module instead of its
# default, the p11-kit proxy.
export PKCS11_MODULE_PATH=$MODULE
PIN=$W/tok/user.pin
cat >smimegw.conf <<EOC
data_dir = data
pkcs11_module = $MODULE
token = pkcs11:token=smimegw-bench
pin_file = tok/user.pin
authserv_id = bench.example.test
EOC
gw() { "$SMIMEGW" -c "$W/smimegw.conf" "$@"; }
log "identity: smimegw cert create (RSA-2048 on the token)"
gw cert create bench --cn gw.example.test --country DE --org "Example" \
	--days 30 --san-email alice@example.test --san-dns example.test \
	--key rsa:2048 >cert.txt
gw cert export bench >id.pem
KEYURI=$("$BENCH" keyuri -c smimegw.conf --identity bench)
TOKKEY="$KEYURI?pin-source=file:$PIN"

log "recipients: 10 software RSA-2048 keys and certificates"
RCPT10=()
for i in 1 2 3 4 5 6 7 8 9 10; do
	openssl req -x509 -newkey rsa:2048 -nodes -keyout r$i.key -out r$i.pem \
		-subj "/CN=Recipient $i/O=Partner" -days 30 \
		-addext "basicConstraints=critical,CA:FALSE" \
		-addext "keyUsage=critical,digitalSignature,keyEncipherment" \
		-addext "extendedKeyUsage=emailProtection" \
		-addext "subjectAltName=email:r$i@partner.example" 2>/dev/null
	RCPT10+=(r$i.pem)
done

log "messages and inputs (signed by and encrypted to the identity)"
for s in $SIZES; do
	"$BENCH" gen $s m$s.eml
	gw message sign --cert bench -i m$s.eml -o s$s.eml
	gw message sign --cert bench --sign-mode opaque -i m$s.eml -o so$s.eml
	gw message encrypt --to bench -i m$s.eml -o e$s.eml
	gw message encrypt --to r1.pem -i m$s.eml -o er1_$s.eml
done
for s in $SIZES; do
	for f in s$s.eml so$s.eml; do
		openssl cms -verify -in $f -CAfile id.pem -purpose smimesign \
			-out /dev/null 2>/dev/null ||
			{ echo "run.sh: openssl does not verify $f" >&2; exit 1; }
	done
done

# ---- sample counts -------------------------------------------------------------
# in-process samples, peer processes, per size
declare -A OPS PEERS
if [ $QUICK = 1 ]; then
	OPS=([4096]=21 [102400]=11 [1048576]=5 [10485760]=3)
	PEERS=([4096]=5 [102400]=5 [1048576]=3 [10485760]=3)
	PRIMS=11
	B64S=11
else
	OPS=([4096]=201 [102400]=101 [1048576]=41 [10485760]=15)
	PEERS=([4096]=51 [102400]=51 [1048576]=25 [10485760]=11)
	PRIMS=31
	B64S=31
fi
size_label() {
	case $1 in 4096) echo 4k ;; 102400) echo 100k ;; 1048576) echo 1m ;;
	10485760) echo 10m ;; *) echo $1 ;; esac
}

RAW=$W/raw.tsv
: >"$RAW"
load0=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- primitives -------------------------------------------------------------------
log "primitives (EVP, CPU time)"
"$BENCH" prims -c smimegw.conf --identity bench --swkey r1.key --swcert r1.pem \
	--sizes "$(echo $SIZES | tr ' ' ,)" --samples $PRIMS --warmup 3 \
	--batch-cpu 0.005 >>"$RAW"

log "base64 codec alone (smimegw-bench b64, 10 MiB, each ISA path and OpenSSL)"
"$BENCH" b64 --size 10485760 --samples $B64S --warmup 2 >>"$RAW"

log "openssl speed -seconds 1 (cross-check)"
SPEED=$W/speed.txt
: >"$SPEED"
openssl speed -mr -seconds 1 rsa2048 2>/dev/null | awk -F: '/^\+F2:/ {
	printf "rsa2048 sign\t-\t%.1f\nrsa2048 verify\t-\t%.1f\n", $4, $5 }' >>"$SPEED"
for s in $SIZES; do
	for a in "sha256" "aes-256-cbc" "aes-256-cbc -decrypt"; do
		openssl speed -mr -seconds 1 -evp $a -bytes $s 2>/dev/null |
			awk -F: -v n="$a" -v s=$s '/^\+F:/ {
			printf "%s\t%s\t%.1f\n", n, s, $4 / s }' >>"$SPEED"
	done
done

# ---- smimegw in-process, then openssl cms, size by size ----------------------
# In-process: the token key loaded once; the primitives of each
# operation's limit are timed in the same process, in the same rounds.
# Peers: one process per message, CPU time of each child from wait4().
ENG=(-engine pkcs11 -keyform engine -inkey "$TOKKEY")
for s in $SIZES; do
	l=$(size_label $s)
	common=(-c smimegw.conf --identity bench --swkey r1.key --swcert r1.pem
		--size $s --samples ${OPS[$s]} --warmup 2 --batch-cpu 0.005)
	log "smimegw and the CMS API in-process, $l (${OPS[$s]} samples per operation)"
	run_op() {
		local name=$1
		shift
		"$BENCH" op "${common[@]}" "$@" | sed "s/^/smimegw\t$name\t$l\t/" >>"$RAW"
		# the API path's peak RSS, on its own (2 warm-up calls, 1 timed)
		"$BENCH" op "${common[@]}" "$@" --api-only --samples 1 --batch-cpu 0 |
			sed "s/^/apirss\t$name\t$l\t/" >>"$RAW"
	}
	run_op sign --op sign --in m$s.eml
	run_op encrypt1 --op encrypt --in m$s.eml --rcpt r1.pem
	run_op encrypt10 --op encrypt --in m$s.eml $(printf -- '--rcpt %s ' "${RCPT10[@]}")
	run_op decrypt --op decrypt --in e$s.eml --in-sw er1_$s.eml
	run_op verify --op verify --in s$s.eml
	run_op verify-opaque --op verify --in so$s.eml

	log "openssl cms, one process per message, $l (${PEERS[$s]} processes per operation)"
	peer() {
		local name=$1
		shift
		"$BENCH" spawn --samples ${PEERS[$s]} --warmup 1 --log "$W/peer.log" \
			-- "$@" | sed "s/^/peer\t$name\t$l\t/" >>"$RAW"
	}
	peer sign-token openssl cms -sign "${ENG[@]}" -signer id.pem -in m$s.eml -out o.eml
	peer sign-sw openssl cms -sign -inkey r1.key -signer r1.pem -in m$s.eml -out o.eml
	peer encrypt1 openssl cms -encrypt -aes256 -in m$s.eml -out o.eml r1.pem
	peer encrypt10 openssl cms -encrypt -aes256 -in m$s.eml -out o.eml "${RCPT10[@]}"
	peer decrypt-token openssl cms -decrypt "${ENG[@]}" -recip id.pem -in e$s.eml -out o.eml
	peer decrypt-sw openssl cms -decrypt -inkey r1.key -recip r1.pem -in er1_$s.eml -out o.eml
	peer verify openssl cms -verify -in s$s.eml -CAfile id.pem -purpose smimesign -out o.eml
	peer verify-opaque openssl cms -verify -in so$s.eml -CAfile id.pem -purpose smimesign -out o.eml
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
t_end=$(date +%s)

# ---- the report ----------------------------------------------------------------------------
mkdir -p "$OUT"
stamp=$(date -u +%Y%m%d-%H%M%S)
RES=$OUT/$stamp.md
cp "$RAW" "$OUT/$stamp.tsv"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }
{
	echo "# smimegw benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Machine: $cpu, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r);"
	echo "OpenSSL $(openssl version | cut -d' ' -f2), libp11 $(ver libengine-pkcs11-openssl), SoftHSM $(ver softhsm2)."
	echo "Load average at start $load0, at end $load1; wall time $((t_end - t_start)) s."
	echo
	echo "Messages/s per busy core = 1 / median CPU-s per message; limit = primitives"
	echo "alone (PERF-ANCHORS.md) with the token key at the token's own cost; in"
	echo "parentheses the share of the limit. The CMS API path is OpenSSL's own S/MIME"
	echo "API (CMS_sign/CMS_encrypt + SMIME_write_CMS, SMIME_read_CMS + CMS_decrypt/"
	echo "CMS_verify) on the same input with the same key, timed in the same rounds as"
	echo "smimegw; it treats its input as the entity (no header handling). Its"
	echo "software-key column is measured against the software-key limit, which it names."
	echo "Peak RSS: ru_maxrss of the bench process after the warm-up calls of smimegw"
	echo "alone and of the API path alone (each also holds the input), and of the"
	echo "largest openssl child."
	echo
} >"$RES"
awk -F'\t' -v sizes="$SIZES" '
function lbl(s) { return s == 4096 ? "4k" : s == 102400 ? "100k" : s == 1048576 ? "1m" : s == 10485760 ? "10m" : s }
function rate(t) { return t > 0 ? 1 / t : 0 }
function fmt(r) { return r >= 100 ? sprintf("%.0f", r) : r >= 10 ? sprintf("%.1f", r) : sprintf("%.2f", r) }
function pct(p) { return p >= 10 ? sprintf("%.0f%%", p) : p >= 1 ? sprintf("%.1f%%", p) : sprintf("%.2f%%", p) }
$1 == "prim" { P[$2 "@" $3] = $6; next }
$1 == "b64" && $2 == "auto" { B64AUTO = $3; next }
$1 == "b64" { B64[$2 "@" $3] = $4 / $7 / 1e9; B64N[$2] = $4; next }
$1 == "smimegw" && $4 == "op" { k = $2 "@" $3; S[k] = $9; SI[k] = $7; RSS[k] = $12; LIM[k] = $14; LIMSW[k] = $15; next }
$1 == "smimegw" && $4 == "part" { PART[$2 "/" $5 "@" $3] = $8; next }
$1 == "smimegw" && $4 == "api" { k = $2 "/" $5 "@" $3; A[k] = $9; AI[k] = $7; AR[k] = sprintf("%.2f–%.2fx", $15, $16); AR10[k] = $15; next }
$1 == "apirss" && $4 == "api" { ARSS[$2 "@" $3] = $12; next }
$1 == "peer" { Q[$2 "@" $3] = $6; QI[$2 "@" $3] = $5; QRSS[$2 "@" $3] = $9; next }
END {
	n = split(sizes, sz, " ")
	tsign = P["rsa2048-sign-token@0"]; ssign = P["rsa2048-sign-sw@0"]
	tdec = P["rsa2048-decrypt-token@0"]; sdec = P["rsa2048-decrypt-sw@0"]
	print "| op | size | limit msg/s | smimegw in-process (% of limit) | OpenSSL CMS API in-process, token key (% of limit) | smimegw ÷ API | CMS API, software key (% of its limit) | `openssl cms`, 1 process/msg, token key (% of limit) | smimegw ÷ openssl cms | `openssl cms`, software key (% of its limit) | peak RSS MiB smimegw / API / openssl | iterations smimegw / API / openssl |"
	print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	nops = split("sign encrypt1 encrypt10 decrypt verify verify-opaque", ops, " ")
	nbt = 0; nba = 0; nbn = 0
	for (o = 1; o <= nops; o++) for (i = 1; i <= n; i++) {
		op = ops[o]; s = sz[i]; L = lbl(s)
		pe = op; pw = ""
		if (op == "sign") { pe = "sign-token"; pw = "sign-sw" }
		if (op == "decrypt") { pe = "decrypt-token"; pw = "decrypt-sw" }
		k = op "@" L
		lim = LIM[k]; swl = LIMSW[k]
		g = S[k]; q = Q[pe "@" L]; a = A[op "/api@" L]; asw = A[op "/api-sw@" L]
		name = op == "sign" ? "sign-detached" : op
		cell = sprintf("%s (%s)", fmt(rate(g)), pct(100 * lim / g))
		if (100 * lim / g < 50) { cell = "**" cell "**"; BT[++nbt] = sprintf("%s %s (%s)", name, L, pct(100 * lim / g)) }
		ra = a > 0 ? sprintf("%.2fx", a / g) : "–"
		if (a > 0 && a / g < 1) { ra = "**" ra "**"; BA[++nba] = sprintf("%s %s (%.2fx; per round %s)", name, L, a / g, AR[op "/api@" L]) }
		else if (a > 0 && AR10[op "/api@" L] < 1) BN[++nbn] = sprintf("%s %s (%.2fx; per round %s)", name, L, a / g, AR[op "/api@" L])
		sw = pw != "" ? sprintf("%s (%s of %s)", fmt(rate(Q[pw "@" L])), pct(100 * swl / Q[pw "@" L]), fmt(rate(swl))) : "–"
		asws = asw > 0 ? sprintf("%s (%s of %s)", fmt(rate(asw)), pct(100 * swl / asw), fmt(rate(swl))) : "–"
		printf "| %s | %s | %s | %s | %s (%s) | %s | %s | %s (%s) | %.1fx | %s | %.0f / %.0f / %.0f | %d / %d / %d |\n", \
			name, L, fmt(rate(lim)), cell, fmt(rate(a)), pct(100 * lim / a), ra, asws, \
			fmt(rate(q)), pct(100 * lim / q), q / g, sw, \
			RSS[k] / 1024, ARSS[k] / 1024, QRSS[pe "@" L] / 1024, SI[k], AI[op "/api@" L], QI[pe "@" L]
	}
	print ""
	printf "Below the 50 %% target (smimegw, **bold** above): "
	if (nbt == 0) print "none."
	for (j = 1; j <= nbt; j++) printf "%s%s", BT[j], j < nbt ? ", " : ".\n"
	print ""
	printf "Below the OpenSSL CMS API path (smimegw ÷ API < 1, **bold** above): "
	if (nba == 0) print "none."
	for (j = 1; j <= nba; j++) printf "%s%s", BA[j], j < nba ? ", " : ".\n"
	print ""
	printf "At or above the API path, but not in every round (the 10th percentile of the per-round ratio is below 1): "
	if (nbn == 0) print "none."
	for (j = 1; j <= nbn; j++) printf "%s%s", BN[j], j < nbn ? ", " : ".\n"
	print ""
	print "Peak RSS against the bound of issue 11 (twice the message size + 16 MiB;"
	print "the process also holds its input and about 6 MiB of libraries and token):"
	print ""
	print "| op | " (n >= 1 ? lbl(sz[1]) : "") (n >= 2 ? " | " lbl(sz[2]) : "") (n >= 3 ? " | " lbl(sz[3]) : "") (n >= 4 ? " | " lbl(sz[4]) : "") " |"
	printf "|---|"; for (i = 1; i <= n; i++) printf "---:|"; print ""
	nrb = 0
	for (o = 1; o <= nops; o++) {
		op = ops[o]; printf "| %s |", op == "sign" ? "sign-detached" : op
		for (i = 1; i <= n; i++) {
			k = op "@" lbl(sz[i]); bound = 2 * sz[i] / 1048576 + 16
			c = sprintf("%.0f / %.0f", RSS[k] / 1024, bound)
			if (RSS[k] / 1024 > bound) { c = "**" c "**"; RB[++nrb] = op " " lbl(sz[i]) }
			printf " %s |", c
		}
		print ""
	}
	print ""
	printf "Over the bound (MiB peak / bound, **bold** above): "
	if (nrb == 0) print "none."
	for (j = 1; j <= nrb; j++) printf "%s%s", RB[j], j < nrb ? ", " : ".\n"
	print ""
	print "Per round: the API path and smimegw run their calls in every round, side by"
	print "side in each of its slices (forward, then backward); the ratio of their"
	print "per-call times in the same round, 10th to 90th percentile."
	print ""
	print "Primitives, timed on their own (CPU time per operation, EVP API, median; RSA"
	print "PKCS#1 v1.5 with SHA-256). The limits above come from the same primitives"
	print "timed in the process of each operation, in the same rounds as its samples."
	print ""
	print "| primitive | µs | per second |"
	print "|---|---:|---:|"
	split("rsa2048-sign-token rsa2048-sign-sw rsa2048-decrypt-token rsa2048-decrypt-sw rsa2048-encrypt rsa2048-verify", rs, " ")
	for (j = 1; j <= 6; j++) printf "| %s | %.1f | %.0f |\n", rs[j], 1e6 * P[rs[j] "@0"], rate(P[rs[j] "@0"])
	for (i = 1; i <= n; i++) {
		s = sz[i]
		printf "| sha256, %s | %.1f | %.2f GB/s |\n", lbl(s), 1e6 * P["sha256@" s], s / P["sha256@" s] / 1e9
		printf "| aes-256-cbc encrypt, %s | %.1f | %.2f GB/s |\n", lbl(s), 1e6 * P["aes-256-cbc-enc@" s], s / P["aes-256-cbc-enc@" s] / 1e9
		printf "| aes-256-cbc decrypt, %s | %.1f | %.2f GB/s |\n", lbl(s), 1e6 * P["aes-256-cbc-dec@" s], s / P["aes-256-cbc-dec@" s] / 1e9
	}
	printf "\nToken RSA-2048 cost on its own: sign %.2fx, decrypt %.2fx the software key.\n", tsign / ssign, tdec / sdec
	print ""
	print "RSA-2048 private-key operation, µs, timed alongside the operation (token / software):"
	print ""
	print "| size | sign: token / software | ratio | decrypt: token / software | ratio |"
	print "|---|---:|---:|---:|---:|"
	for (i = 1; i <= n; i++) {
		L = lbl(sz[i])
		a = PART["sign/rsa-sign-token@" L]; b = PART["sign/rsa-sign-sw@" L]
		c = PART["decrypt/rsa-decrypt-token@" L]; d = PART["decrypt/rsa-decrypt-sw@" L]
		printf "| %s | %.0f / %.0f | %.2fx | %.0f / %.0f | %.2fx |\n", L, 1e6 * a, 1e6 * b, a / b, 1e6 * c, 1e6 * d, c / d
	}
	print ""
	printf "Base64 codec alone (smimegw-bench b64): %d random bytes encoded in 76-column\n", B64N["enc"]
	printf "CRLF lines, and that text (%d bytes) decoded; input bytes per CPU-second,\n", B64N["dec"]
	print "median, every path in the same rounds and checked against the scalar one."
	print "OpenSSL: EVP_EncodeBlock / EVP_DecodeBlock line by line. The gateway takes"
	printf "the %s path on this CPU; – : not on this CPU.\n", B64AUTO
	print ""
	print "| path | encode GB/s | decode GB/s |"
	print "|---|---:|---:|"
	split("scalar ssse3 avx2 openssl", bp, " ")
	for (j = 1; j <= 4; j++) {
		e = "–"; d = "–"; pn = bp[j]
		if (B64["enc@" pn] > 0) e = sprintf("%.2f", B64["enc@" pn])
		if (B64["dec@" pn] > 0) d = sprintf("%.2f", B64["dec@" pn])
		if (pn == "openssl") pn = "OpenSSL"
		printf "| %s | %s | %s |\n", pn, e, d
	}
}' "$RAW" >>"$RES"
{
	echo
	echo "Cross-check, \`openssl speed -seconds 1\` (ops per CPU-second; for digests and ciphers, buffers of that size):"
	echo
	echo "| primitive | size | ops/s |"
	echo "|---|---:|---:|"
	awk -F'\t' '{ printf "| %s | %s | %.0f |\n", $1, $2, $3 }' "$SPEED"
	echo
	echo "Iterations: smimegw and the API path count calls (samples x batch); every"
	echo "openssl count is processes, after one warm-up process. Raw data: $stamp.tsv."
} >>"$RES"
cat "$RES"
log "results: $RES"
