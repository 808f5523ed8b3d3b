#!/usr/bin/env bash
# The certificate rules of issue 8: the address rule (item 1: the
# subject's emailAddress is an address, one rule for signing,
# verification, harvesting and the lookup, address_local_part) and key
# usage for certificates smimegw did not make (item 2: RFC 8550 4.4.2
# and the CA/B Forum S/MIME Baseline Requirements; cert_requirements =
# strict keeps the reference's rules).  Partners are played by openssl.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki.sh"
setup_token
echo "authserv_id = gw.test" >>"$T/smimegw.conf"
mkca "$T/ca" "Partner CA"
printf 'p12 secret' >"$T/pw"
GOOD="basicConstraints=critical,CA:FALSE;extendedKeyUsage=emailProtection"
ENC_RSA="keyUsage=critical,digitalSignature,keyEncipherment"

# The message commands never create a store (item 12): make it with an
# identity of a domain that no case here uses.
gw cert create gw-init --cn init.example --country DE --days 30 \
	--san-dns init.example >/dev/null 2>&1

# The same store and token under other rules.
cp "$T/smimegw.conf" "$T/strict.conf"
echo "cert_requirements = strict" >>"$T/strict.conf"
cp "$T/smimegw.conf" "$T/exact.conf"
echo "address_local_part = exact" >>"$T/exact.conf"
gw_strict() { ${WRAP:-} "$SMIMEGW" -c "$T/strict.conf" "$@"; }
gw_exact() { ${WRAP:-} "$SMIMEGW" -c "$T/exact.conf" "$@"; }

# mksubj NAME SUBJECT EXT : like mkee, RSA-2048, but the subject name is
# kept exactly as given (openssl ca would apply its policy to it).
mksubj() {
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
		-out "$T/$1.key" 2>/dev/null
	openssl req -new -key "$T/$1.key" -subj "$2" -out "$T/$1.csr" 2>/dev/null
	printf '[ x ]\n%s\n' "${3//;/$'\n'}" >"$T/$1.ext"
	openssl x509 -req -in "$T/$1.csr" -CA "$T/ca/ca.pem" -CAkey "$T/ca/ca.key" \
		-set_serial "0x$(openssl rand -hex 8)" -days 365 -sha256 \
		-extfile "$T/$1.ext" -extensions x -out "$T/$1.pem" 2>"$T/ca.log" ||
		{ cat "$T/ca.log" >&2; return 1; }
}
# p12 NAME : NAME's certificate and key as a PKCS#12 file
p12() {
	openssl pkcs12 -export -in "$T/$1.pem" -inkey "$T/$1.key" \
		-passout "file:$T/pw" -out "$T/$1.p12"
}
# signed NAME FROM OUT : a message From FROM (outside the signature, as
# a mail client sends it), signed by NAME with openssl
signed() {
	printf 'Content-Type: text/plain\r\n\r\nhello from %s\r\n' "$1" >"$T/$1.txt"
	{
		printf 'From: %s\r\nTo: gw@example.org\r\nSubject: signed\r\nMessage-ID: <%s@partner.example>\r\n' \
			"$2" "$1"
		openssl cms -sign -in "$T/$1.txt" -signer "$T/$1.pem" -inkey "$T/$1.key" \
			-md sha256 -crlfeol 2>/dev/null
	} >"$3"
}
plain() { # FROM OUT
	printf 'From: %s\r\nTo: bob@partner.example\r\nSubject: hi\r\nContent-Type: text/plain\r\n\r\nhello\r\n' \
		"$1" >"$2"
}

# ---- item 1: the address rule -------------------------------------------------
# A partner whose only address is the subject's emailAddress (no SAN).
mksubj alice "/CN=Alice Partner/O=Partner/C=FR/emailAddress=alice@partner.example" \
	"$GOOD;$ENC_RSA"
signed alice "Alice <alice@partner.example>" "$T/a.eml"
ok "item01_subject_email_signer_verifies" \
	gw message open --ca "$T/ca/ca.pem" -i "$T/a.eml" -o "$T/a.out"
has "item01_subject_email_signer_verifies: smime=pass" "$T/a.out" "smime=pass"
has "item01_subject_email_signer_verifies: identifier" "$T/a.out" \
	'body.smime-identifier="alice@partner.example"'
signed alice "ALICE@Partner.EXAMPLE" "$T/a-upper.eml"
ok "item01_subject_email_upper_case_from_verifies" \
	gw message open --ca "$T/ca/ca.pem" -i "$T/a-upper.eml" -o /dev/null
refused "item01_local_part_exact_refuses_other_case" \
	"does not cover the From address ALICE@Partner.EXAMPLE" \
	gw_exact message open --ca "$T/ca/ca.pem" -i "$T/a-upper.eml" -o /dev/null
signed alice "mallory@partner.example" "$T/a-other.eml"
refused "subject email does not cover another address" \
	"does not cover the From address mallory@partner.example" \
	gw message open --ca "$T/ca/ca.pem" -i "$T/a-other.eml" -o /dev/null

ok "pin the subject-email partner" gw pubkey add alice "$T/alice.pem"
ok "item01_subject_email_pinned_signer_verifies" \
	gw message open -i "$T/a.eml" -o /dev/null
ok "item01_subject_email_lookup" gw pubkey lookup alice@partner.example
has "item01_subject_email_lookup: match" "$T/out" \
	"Match:                email alice@partner.example (subject emailAddress)"
plain alice@example.org "$T/p.eml"
ok "item01_subject_email_encrypt_to" \
	gw message encrypt --to Alice@Partner.Example -i "$T/p.eml" -o "$T/p.enc"
ok "item01_subject_email_encrypt_to: openssl decrypts" \
	openssl cms -decrypt -in "$T/p.enc" -recip "$T/alice.pem" -inkey "$T/alice.key" -out /dev/null

rm -rf "$T/h"
${WRAP:-} "$SMIMEGW" -c "$T/smimegw.conf" process --out-dir "$T/h" --direction incoming \
	--from alice@partner.example --to gw@example.org --harvest -i "$T/a.eml" \
	>"$T/out" 2>"$T/err"
same "item01_subject_email_signer_harvested" \
	"$(jq -r '.harvested[0] | "\(.address) \(.outcome)"' "$T/h/result.json" 2>&1)" \
	"alice@partner.example new"

# Our own identity, imported, named only by its subject's emailAddress.
mksubj gwsubj "/CN=Gateway/O=Example/C=DE/emailAddress=gw@example.org" \
	"$GOOD;keyUsage=critical,digitalSignature,nonRepudiation"
p12 gwsubj
ok "import an identity named by its subject email" gw cert import gwsubj --p12 "$T/gwsubj.p12" \
	--passphrase-file "$T/pw"
plain "Gateway <GW@example.org>" "$T/g.eml"
ok "item01_subject_email_identity_signs" \
	gw message sign --cert gwsubj -i "$T/g.eml" -o "$T/g.sig"
ok "item01_subject_email_identity_signs: openssl verifies" \
	openssl cms -verify -in "$T/g.sig" -CAfile "$T/ca/ca.pem" -purpose smimesign -out /dev/null
refused "item01_subject_email_identity_exact_case" \
	"does not cover the From address GW@example.org" \
	gw_exact message sign --cert gwsubj -i "$T/g.eml" -o /dev/null

# Upper case in a partner's SAN: the lookup and the signature agree.
mkee "$T/ca" bob rsa:2048 "$GOOD;$ENC_RSA;subjectAltName=email:Bob@Partner.Example"
ok "add a partner with an upper-case SAN" gw pubkey add bob "$T/bob.pem"
ok "item01_lookup_upper_case_san: found" gw pubkey lookup bob@partner.example
has "item01_lookup_upper_case_san: key" "$T/out" "Key:                  bob"
refused "item01_lookup_upper_case_san_exact" "no public key for bob@partner.example" \
	gw_exact pubkey lookup bob@partner.example

# A single-label wildcard covers nothing.
mkee "$T/ca" wild rsa:2048 "$GOOD;$ENC_RSA;subjectAltName=DNS:*.com"
signed wild "ceo@example.com" "$T/w.eml"
refused "item01_wildcard_single_label_signer_refused" \
	"does not cover the From address ceo@example.com" \
	gw message open --ca "$T/ca/ca.pem" -i "$T/w.eml" -o /dev/null
ok "add a partner with a single-label wildcard" gw pubkey add wild "$T/wild.pem"
refused "single-label wildcard: the lookup agrees" "no public key for ceo@example.com" \
	gw pubkey lookup ceo@example.com

# One trailing dot on the From domain is the same domain.
gw cert create gw-rsa --cn gw.example.com --country DE --days 30 \
	--san-email alice@example.com --key rsa:2048 >/dev/null
plain "alice@example.com." "$T/dot.eml"
ok "item01_trailing_dot_from_signs" gw message sign --cert gw-rsa -i "$T/dot.eml" -o /dev/null
plain "alice@example.com.." "$T/dots.eml"
refused "two trailing dots are no address" "From field: '.' where a domain was expected" \
	gw message sign --cert gw-rsa -i "$T/dots.eml" -o /dev/null

# ---- item 2: key usage for certificates others made -----------------------------
# A CA issues digitalSignature only (no nonRepudiation) for our CSR.
gw cert create gw-sign --cn example.org --country DE --days 30 --usage sign \
	--san-email signer@example.org >/dev/null
gw cert csr gw-sign -o "$T/gw-sign.csr"
printf '[ x ]\n%s\n' "${GOOD//;/$'\n'}
keyUsage=critical,digitalSignature
subjectAltName=email:signer@example.org" >"$T/ds.ext"
openssl x509 -req -in "$T/gw-sign.csr" -CA "$T/ca/ca.pem" -CAkey "$T/ca/ca.key" \
	-set_serial 0x1234 -days 100 -sha256 -extfile "$T/ds.ext" -extensions x \
	-out "$T/gw-sign.crt" 2>/dev/null
refused "item02_strict_refuses_ds_only_install" \
	"key-usage-sign: keyUsage lacks nonRepudiation (has: digitalSignature)" \
	gw_strict cert install gw-sign "$T/gw-sign.crt"
ok "item02_ds_only_ca_cert_installs" gw cert install gw-sign "$T/gw-sign.crt"
plain "signer@example.org" "$T/s.eml"
ok "sign with the installed digitalSignature-only certificate" gw message sign --cert gw-sign -i "$T/s.eml" -o "$T/s.sig"
ok "item02_ds_only_ca_cert_signs: openssl verifies" \
	openssl cms -verify -in "$T/s.sig" -CAfile "$T/ca/ca.pem" -purpose smimesign -out /dev/null
rm -rf "$T/ps"
gw profile add p-sign --mode sign --cert gw-sign --sign-mode detached >/dev/null
${WRAP:-} "$SMIMEGW" -c "$T/smimegw.conf" process --out-dir "$T/ps" --direction outgoing \
	--from signer@example.org --to bob@partner.example --profile p-sign -i "$T/s.eml" \
	>"$T/out" 2>"$T/err"
same "process signs with it: exit 0" "$?" 0
ok "item02_ds_only_ca_cert_signs_in_process: openssl verifies" \
	openssl cms -verify -in "$T/ps/copy-1.eml" -CAfile "$T/ca/ca.pem" -purpose smimesign -out /dev/null
gw cert show gw-sign >"$T/show"
matches "item02_cert_show_advice_nonrepudiation" "$T/show" \
	"^  warn  key-usage-sign +digitalSignature \(advice: the reference's requirements also want nonRepudiation\)$"
same "cert show: no requirement fails" "$(grep -c '^  fail' "$T/show")" 0
gw_strict cert show gw-sign >"$T/show-strict"
matches "item02_cert_show_strict_fails" "$T/show-strict" \
	"^  fail  key-usage-sign +keyUsage lacks nonRepudiation"

# The same from a PKCS#12 file: usage sign, no nonRepudiation.
mkee "$T/ca" dsonly rsa:2048 "$GOOD;keyUsage=critical,digitalSignature;subjectAltName=email:ds@example.org"
p12 dsonly
refused "item02_strict_refuses_ds_only_import" "key-usage-sign: keyUsage lacks nonRepudiation" \
	gw_strict cert import dsonly --p12 "$T/dsonly.p12" --passphrase-file "$T/pw"
ok "item02_ds_only_p12_imports" gw cert import dsonly --p12 "$T/dsonly.p12" --passphrase-file "$T/pw"
gw cert show dsonly >"$T/show"
has "item02_ds_only_p12_imports: usage sign" "$T/show" "Usage:                sign"
plain "ds@example.org" "$T/ds.eml"
ok "item02_ds_only_p12_signs" gw message sign --cert dsonly -i "$T/ds.eml" -o /dev/null

# A decryption certificate without keyUsage, from a PKCS#12 file.
mkee "$T/ca" noku rsa:2048 "$GOOD;subjectAltName=email:dec@example.org"
p12 noku
refused "item02_strict_refuses_no_keyusage_import" \
	"key-usage-encrypt: keyUsage extension absent; keyEncipherment required" \
	gw_strict cert import noku --p12 "$T/noku.p12" --passphrase-file "$T/pw"
ok "item02_no_keyusage_p12_imports" gw cert import noku --p12 "$T/noku.p12" --passphrase-file "$T/pw"
gw cert show noku >"$T/show"
has "item02_no_keyusage_p12_imports: usage both" "$T/show" "Usage:                both"
matches "item02_cert_show_advice_keyusage_absent" "$T/show" \
	"^  warn  key-usage-encrypt +absent: every use allowed \(advice: the reference's requirements want keyUsage with keyEncipherment\)$"
printf 'Content-Type: text/plain\r\n\r\nfor the imported key\r\n' >"$T/dec.txt"
{
	printf 'From: bob@partner.example\r\nTo: dec@example.org\r\nSubject: secret\r\n'
	openssl cms -encrypt -aes256 -in "$T/dec.txt" -crlfeol "$T/noku.pem" 2>/dev/null
} >"$T/dec.eml"
ok "item02_no_keyusage_identity_decrypts" gw message open -i "$T/dec.eml" -o "$T/dec.out"
matches "item02_no_keyusage_identity_decrypts: content" "$T/dec.out" "^for the imported key"

# A partner's certificate without keyUsage encrypts and verifies.
mkee "$T/ca" carol rsa:2048 "$GOOD;subjectAltName=email:carol@partner.example"
ok "add a partner without keyUsage" gw pubkey add carol "$T/carol.pem"
gw pubkey show carol >"$T/show"
has "item02_partner_no_keyusage_capabilities" "$T/show" "Capabilities:         encrypt,verify"
plain alice@example.org "$T/c.eml"
ok "item02_partner_no_keyusage_encrypts" \
	gw message encrypt --to carol@partner.example -i "$T/c.eml" -o "$T/c.enc"
ok "item02_partner_no_keyusage_encrypts: openssl decrypts" \
	openssl cms -decrypt -in "$T/c.enc" -recip "$T/carol.pem" -inkey "$T/carol.key" -out /dev/null
ok "a certificate file without keyUsage is a recipient" \
	gw message encrypt --to "$T/carol.pem" -i "$T/c.eml" -o /dev/null
refused "item02_strict_recipient_file_without_keyusage" \
	"no keyUsage extension, which cert_requirements = strict requires for keyEncipherment" \
	gw_strict message encrypt --to "$T/carol.pem" -i "$T/c.eml" -o /dev/null
refused "item02_strict_partner_no_keyusage_cannot_encrypt" \
	"'carol' (verify: no encryption key usage)" \
	gw_strict pubkey lookup carol@partner.example

# cert create keeps the reference's rules.
gw cert create gw-made --cn example.org --country DE --days 30 --usage sign \
	--san-email made@example.org >/dev/null
gw cert show gw-made >"$T/show"
matches "created identity: the reference's key usage" "$T/show" \
	"^  pass  key-usage-sign +digitalSignature, nonRepudiation$"

finish
