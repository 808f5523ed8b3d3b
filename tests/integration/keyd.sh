#!/usr/bin/env bash
# smimegw-keyd and the workers' keyd key source: a worker-like process
# (keyd_client, which links no token code) signs and decrypts through
# keyd over a socketpair; openssl cms is the peer every time.  Also the
# closed request set, the caps, a killed keyd, a token that is missing
# and comes back, and what the worker maps.
. "$(dirname "$0")/lib.sh"
: "${KEYD:?}" "${KEYD_CLIENT:?}"
setup_token

gw cert create gw-rsa --cn gw.example.com --country DE --days 30 \
	--san-dns example.com --san-email postmaster@example.com --key rsa:2048 >/dev/null
gw cert create gw-ec --cn gw.example.com --country DE --days 30 \
	--san-dns example.com --san-email postmaster@example.com --key ec:p256 >/dev/null
gw cert export gw-rsa >"$T/gw-rsa.pem"
gw cert export gw-ec >"$T/gw-ec.pem"
URI=$(gw cert show gw-rsa | sed -n 's/^Token key: *//p')

kc() {
	${WRAP:-} "$KEYD_CLIENT" -c "$T/smimegw.conf" --keyd "$KEYD" "$@"
}

M=$T/m.eml
printf '%s\r\n' "From: Postmaster <postmaster@example.com>" "To: bob@partner.example" \
	"Subject: through keyd" "Date: Sat, 28 Nov 2026 10:00:00 +0000" \
	"Message-ID: <k1@example.com>" "MIME-Version: 1.0" \
	"Content-Type: text/plain; charset=us-ascii" "" "The body, signed and sealed." >"$M"
body() { sed '1,/^\r\?$/d' "$1" | tr -d '\r'; }

# ---- signing: the signature verifies in openssl ---------------------------
ok "sign RSA PKCS#1 v1.5 through keyd" kc sign gw-rsa "$M" "$T/s1.eml"
ok "PKCS#1 v1.5 signature verifies" openssl cms -verify -in "$T/s1.eml" \
	-CAfile "$T/gw-rsa.pem" -purpose smimesign -out /dev/null
openssl cms -cmsout -print -in "$T/s1.eml" >"$T/s1.txt" 2>&1
matches "PKCS#1 v1.5: rsaEncryption signature" "$T/s1.txt" "algorithm: rsaEncryption"

ok "sign RSASSA-PSS through keyd" kc sign gw-rsa "$M" "$T/s2.eml" pss
ok "PSS signature verifies" openssl cms -verify -in "$T/s2.eml" \
	-CAfile "$T/gw-rsa.pem" -purpose smimesign -out /dev/null
openssl cms -cmsout -print -in "$T/s2.eml" >"$T/s2.txt" 2>&1
matches "PSS: rsassaPss with MGF1-SHA256" "$T/s2.txt" "algorithm: rsassaPss"
matches "PSS: salt length 32 (the digest's)" "$T/s2.txt" "INTEGER *:20"

ok "sign ECDSA P-256 through keyd" kc sign gw-ec "$M" "$T/s3.eml"
ok "ECDSA signature verifies" openssl cms -verify -in "$T/s3.eml" \
	-CAfile "$T/gw-ec.pem" -purpose smimesign -out /dev/null

ok "several messages on one stream, one cached proxy key" kc repeat gw-ec "$M" 5
matches "several messages: all signed" "$T/out" "^5 signatures, [0-9.]+ ms each$"

# ---- decryption: openssl encrypts, keyd's key opens ----------------------
enc() { # NAME CERT OPTS...
	local name=$1 cert=$2
	shift 2
	openssl cms -encrypt -in "$M" -out "$T/$name.eml" "$@" -recip "$cert" \
		${KEYOPTS:-}
}
dec_ok() { # CASE NAME
	ok "$1" kc decrypt "$T/$2.eml" "$T/$2.out"
	same "$1: body restored" "$(body "$T/$2.out")" "$(body "$M")"
}
enc v15 "$T/gw-rsa.pem" -aes256
dec_ok "decrypt ktri RSA PKCS#1 v1.5, AES-256-CBC" v15
KEYOPTS="-keyopt rsa_padding_mode:oaep" enc oaep1 "$T/gw-rsa.pem" -aes256
dec_ok "decrypt ktri RSA-OAEP SHA-1" oaep1
KEYOPTS="-keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256 -keyopt rsa_mgf1_md:sha256" \
	enc oaep256 "$T/gw-rsa.pem" -aes256
if [ "$PROFILE" = strict ]; then
	# SoftHSM 2.6.1 has OAEP with SHA-1 only; libp11 would fall back
	# to raw RSA, which the strict profile forbids: the parameters did
	# reach the token, which refused them.
	refused "decrypt RSA-OAEP SHA-256 on a token without it fails" \
		"decryption failed" kc decrypt "$T/oaep256.eml" "$T/oaep256.out"
else
	dec_ok "decrypt ktri RSA-OAEP SHA-256" oaep256
fi
enc gcm "$T/gw-rsa.pem" -aes-256-gcm
dec_ok "decrypt AuthEnvelopedData AES-256-GCM (RSA v1.5)" gcm
enc ecdh1 "$T/gw-ec.pem" -aes256
dec_ok "decrypt kari ECDH, X9.63 KDF SHA-1" ecdh1
KEYOPTS="-keyopt ecdh_kdf_md:sha256" enc ecdh256 "$T/gw-ec.pem" -aes-256-gcm
dec_ok "decrypt kari ECDH, X9.63 KDF SHA-256, AES-256-GCM" ecdh256

# ---- the worker maps no token code; keyd does, without core dumps --------
ok "worker signs with no PKCS#11 module, libp11 or engine mapped" \
	kc --check-maps sign gw-rsa "$M" "$T/s4.eml"
matches "maps: the worker is clean, the module is in keyd" "$T/out" \
	"^maps: worker clean \([0-9]+ mappings\), module in keyd$"
has "keyd: core dumps off" "$T/out" "keyd: core dumps off"
# (The configuration reader's URI syntax check, p11_uri_*, is the one
# part of pkcs11/ it has: text parsing, no module.)
same "worker program links no token code" \
	"$(nm "$KEYD_CLIENT" | grep -cE ' [TtDdBb] (p11_token_|p11_key_|p11_admin_|p11_pin_|keysrc_token_|ENGINE_load_private_key)')" 0
same "worker program: the token code's symbols are what the check looks for" \
	"$(nm "$KEYD" | grep -cE ' T (p11_token_open|p11_key_load|keysrc_token_new)$')" 3
same "keyd program links no MIME or CMS code of ours" \
	"$(nm "$KEYD" | grep -cE ' [TtDdBb] (mime_|smime_|engine_sign|cms_alg_)')" 0

# ---- the closed set and the caps -----------------------------------------
ok "unknown request type: refused, stream kept" kc unknown "$URI"
has "unknown request type: error reply" "$T/out" \
	"reply ERROR not supported smimegw-keyd: request type 99 is not one keyd serves"
has "unknown request type: the stream still serves" "$T/out" "reply OK ok"
matches "unknown request type: logged" "$T/err" \
	"smimegw-keyd: warning: stream 3: refused a request of type 99"
ok "URI over its cap: refused" kc biguri "$URI"
has "URI over its cap: limit reply" "$T/out" \
	"reply ERROR limit exceeded smimegw-keyd: PUBKEY: a key URI of 1025 bytes (1-1024, no NUL)"
has "URI over its cap: the stream still serves" "$T/out" "reply OK ok"
ok "digest keyd does not offer (MD5): refused" kc params "$URI"
has "MD5: refused by keyd" "$T/out" \
	"reply ERROR invalid value smimegw-keyd: SIGN: digest NID 4 is not offered"
ok "oversized frame: the stream is closed" kc oversize
has "oversized frame: closed" "$T/out" "closed"
matches "oversized frame: logged" "$T/err" \
	"stream 3: limit exceeded: ipc: frame of 262145 bytes refused"

# ---- faults ---------------------------------------------------------------
refused "keyd killed: a temporary failure" \
	"kill: temporary: I/O error: smimegw-keyd: the request could not be sent" \
	kc kill gw-rsa "$M"
same "keyd killed: exit status 75 (try again later)" "$(kc kill gw-rsa "$M" 2>/dev/null; echo $?)" 75
ok "SIGTERM stops keyd" kc term gw-rsa "$M"
has "SIGTERM: keyd exits 0" "$T/out" "keyd stopped: exit 0"
matches "SIGTERM: logged" "$T/err" "smimegw-keyd: stopped by a signal"
# Killed between two decryptions: the second fails inside CMS_decrypt(),
# which only says "failed"; the key source tells the worker it was keyd.
refused "keyd killed: a decryption fails as temporary, not as the message's fault" \
	"decrypt: temporary: I/O error: smimegw-keyd: the request could not be sent" \
	kc kill-decrypt "$T/v15.eml" "$T/kd.out"
has "keyd killed: the first decryption went through" "$T/out" "first decryption made"

# The token is missing when keyd starts (its files moved away): requests
# get temporary errors while keyd tries again with back-off; once the
# files are back, the same worker connection signs.
TOKDIR=$(dirname "$(find "$T/tok/tokens" -name token.object | head -1)")
mv "$TOKDIR" "$T/away"
kc retry-sign gw-rsa "$M" "$T/s5.eml" 20 >"$T/late.out" 2>"$T/late.err" &
late=$!
sleep 2
mv "$T/away" "$TOKDIR"
wait $late
same "token back: the sign went through" "$?" 0
matches "token back: temporary failures came first" "$T/late.out" \
	"signed after [1-9][0-9]* temporary failures"
matches "token missing: the worker saw a temporary token error" "$T/late.err" \
	"first failure: token not present: smimegw-keyd: no token matches"
matches "token missing: keyd logged its back-off" "$T/late.err" \
	"token unavailable: .*trying again in 1 s"
ok "token back: the signature verifies" openssl cms -verify -in "$T/s5.eml" \
	-CAfile "$T/gw-rsa.pem" -purpose smimesign -out /dev/null

# A wrong PIN: one login, never another (each failure counts against
# the token's retry limit); every request gets the refusal, temporary
# for the mail (the operator must act).
printf %s 99999999 >"$T/bad.pin"
chmod 600 "$T/bad.pin"
sed 's|^pin_file = .*|pin_file = bad.pin|' "$T/smimegw.conf" >"$T/badpin.conf"
"$KEYD_CLIENT" -c "$T/badpin.conf" --keyd "$KEYD" retry-sign gw-rsa "$M" "$T/s7.eml" 2 \
	>"$T/pin.out" 2>"$T/pin.err"
same "wrong PIN: the sign fails as temporary (75)" "$?" 75
matches "wrong PIN: the worker is told it is not retried" "$T/pin.err" \
	"temporary: .*CKR_PIN_INCORRECT.*not retried: the operator must fix it and restart smimegw-keyd"
same "wrong PIN: keyd tried to log in once" \
	"$(grep -c 'smimegw-keyd: token: .*CKR_PIN_INCORRECT' "$T/pin.err")" 1
same "wrong PIN: the token never opened" \
	"$(grep -c 'token open' "$T/pin.err")" 0

# The token loses its objects while keyd uses it (its files go away and
# come back, as a removed token or a restarted HSM): the key that worked
# is "not found", which keyd answers as a temporary error; it closes the
# token and runs itself again (libp11 cannot start over in-process),
# keeping the worker's stream, and opens the token with back-off.
rm -f "$T/go"
kc sign-pause-retry gw-rsa "$M" "$T/s6.eml" "$T/go" 30 >"$T/lost.out" 2>"$T/lost.err" &
lost=$!
for _ in $(seq 100); do grep -q first "$T/lost.out" 2>/dev/null && break; sleep 0.1; done
mv "$TOKDIR" "$T/away"
touch "$T/go"
sleep 3
mv "$T/away" "$TOKDIR"
wait $lost
same "token lost and back: the same stream signs again" "$?" 0
matches "token lost: the worker saw a temporary error" "$T/lost.err" \
	"first failure: .*the key was on the token before and is not found now"
matches "token lost: keyd restarted itself" "$T/lost.err" \
	"token fault: .*restarting smimegw-keyd, which opens the token again in 1 s"
matches "token lost: the new keyd waited, then backed off" "$T/lost.err" \
	"restarted after a token fault: opening the token in 1 s"
same "token lost and back: keyd opened it twice" "$(grep -c 'smimegw-keyd: token open' "$T/lost.err")" 2
ok "token lost and back: the signature verifies" openssl cms -verify -in "$T/s6.eml" \
	-CAfile "$T/gw-rsa.pem" -purpose smimesign -out /dev/null

finish
