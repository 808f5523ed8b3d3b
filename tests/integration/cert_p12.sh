#!/usr/bin/env bash
# cert import --p12: RSA and EC files made by openssl pkcs12 in the modern
# (PBES2/AES) and legacy (RC2/3DES) forms, and bad input that must fail
# clearly and leave nothing behind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki.sh"
setup_token
mkca "$T/ca" "Test Partner CA"
printf 'p12 secret' >"$T/pw"
printf 'p12 secret\n' >"$T/pw-nl"
printf 'nope' >"$T/badpw"
GOOD="basicConstraints=critical,CA:FALSE;extendedKeyUsage=emailProtection"

while read -r kt ku; do
	n=ee-${kt/:/}
	mkee "$T/ca" "$n" "$kt" "$GOOD;keyUsage=critical,$ku;subjectAltName=email:gw@$n.example.com"
	for form in modern legacy; do
		extra=
		[ $form = legacy ] && extra=-legacy
		openssl pkcs12 -export $extra -in "$T/$n.pem" -inkey "$T/$n.key" \
			-certfile "$T/ca/ca.pem" -passout "file:$T/pw" -out "$T/$n-$form.p12"
		id=$n-$form
		ok "import $kt $form" gw cert import "$id" --p12 "$T/$n-$form.p12" \
			--passphrase-file "$T/pw"
		gw cert show "$id" >"$T/show"
		has "$kt $form: key protection" "$T/show" \
			"Key protection:       sensitive, not extractable, imported into the token"
		has "$kt $form: chain kept" "$T/show" "Chain certificates:   1"
		same "$kt $form: no requirement fails" "$(grep -c '^  fail' "$T/show")" 0
		ok "$kt $form: private key cannot be read or wrapped" \
			"$P11PROBE" "$MODULE" "$LABEL" "$T/tok/user.pin" "$id"
		gw cert export "$id" >"$T/exp"
		same "$kt $form: export has certificate and chain" \
			"$(grep -c 'BEGIN CERTIFICATE' "$T/exp")" 2
		same "$kt $form: exported certificate is the one imported" \
			"$(openssl x509 -in "$T/exp" -noout -fingerprint -sha256)" \
			"$(openssl x509 -in "$T/$n.pem" -noout -fingerprint -sha256)"
		ok "$kt $form: the imported token key signs (CSR)" \
			gw cert csr "$id" -o "$T/$id.csr"
		ok "$kt $form: CSR verifies" openssl req -in "$T/$id.csr" -verify -noout
	done
done <<'LIST'
rsa:2048 digitalSignature,nonRepudiation,keyEncipherment
ec:P-256 digitalSignature,nonRepudiation,keyAgreement
ec:P-384 digitalSignature,nonRepudiation,keyAgreement
LIST

ok "passphrase file with a trailing newline" \
	gw cert import nl --p12 "$T/ee-rsa2048-legacy.p12" --passphrase-file "$T/pw-nl"

# usage follows the certificate's key usage unless --usage is given
mkee "$T/ca" enc rsa:2048 "$GOOD;keyUsage=critical,keyEncipherment;subjectAltName=email:a@enc.example.com"
openssl pkcs12 -export -in "$T/enc.pem" -inkey "$T/enc.key" -passout "file:$T/pw" -out "$T/enc.p12"
ok "encryption-only certificate" gw cert import enc --p12 "$T/enc.p12" --passphrase-file "$T/pw"
gw cert show enc >"$T/show"
has "usage taken from keyUsage" "$T/show" "Usage:                encrypt"

# Bad input: a clear error, and nothing left on the token or in the store.
mkee "$T/ca" cs rsa:2048 "basicConstraints=critical,CA:FALSE;keyUsage=critical,digitalSignature,nonRepudiation;extendedKeyUsage=codeSigning;subjectAltName=email:a@cs.example.com"
mkee "$T/ca" small rsa:1024 "$GOOD;keyUsage=critical,digitalSignature,nonRepudiation;subjectAltName=email:a@small.example.com"
mkee "$T/ca" old rsa:2048 "$GOOD;keyUsage=critical,digitalSignature,nonRepudiation;subjectAltName=email:a@old.example.com" 20200101000000Z 20210101000000Z
mkee "$T/ca" nosan rsa:2048 "$GOOD;keyUsage=critical,digitalSignature,nonRepudiation"
mkee "$T/ca" nonrep rsa:2048 "$GOOD;keyUsage=critical,digitalSignature;subjectAltName=email:a@nonrep.example.com"
for n in cs small old nosan nonrep; do
	openssl pkcs12 -export -in "$T/$n.pem" -inkey "$T/$n.key" -passout "file:$T/pw" \
		-out "$T/$n.p12"
done
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca2.key" -subj "/CN=ca2" -addext "subjectAltName=email:a@ca2.example.com" \
	-days 10 -out "$T/ca2.pem" 2>/dev/null
openssl pkcs12 -export -in "$T/ca2.pem" -inkey "$T/ca2.key" -passout "file:$T/pw" -out "$T/ca2.p12"
head -c 400 "$T/ee-rsa2048-modern.p12" >"$T/trunc.p12"
: >"$T/empty.p12"
openssl pkcs12 -export -nokeys -in "$T/ee-rsa2048.pem" -passout "file:$T/pw" -out "$T/nokey.p12"

objs=$(token_objects)
gw cert list >"$T/list-before"
refused "wrong passphrase" "ee-rsa2048-modern.p12: MAC verification failed" \
	gw cert import x --p12 "$T/ee-rsa2048-modern.p12" --passphrase-file "$T/badpw"
refused "passphrase missing" "is protected by a passphrase and none was given" \
	gw cert import x --p12 "$T/ee-rsa2048-legacy.p12"
refused "truncated file" "trunc.p12: not a PKCS#12 file" \
	gw cert import x --p12 "$T/trunc.p12" --passphrase-file "$T/pw"
refused "PEM instead of PKCS#12" "ee-rsa2048.pem: not a PKCS#12 file" \
	gw cert import x --p12 "$T/ee-rsa2048.pem" --passphrase-file "$T/pw"
refused "empty file" "empty.p12: empty file" \
	gw cert import x --p12 "$T/empty.p12" --passphrase-file "$T/pw"
refused "missing file" "nothere.p12: No such file or directory" \
	gw cert import x --p12 "$T/nothere.p12" --passphrase-file "$T/pw"
refused "no private key" "nokey.p12: contains no private key" \
	gw cert import x --p12 "$T/nokey.p12" --passphrase-file "$T/pw"
refused "code-signing certificate" "extended-key-usage:" \
	gw cert import x --p12 "$T/cs.p12" --passphrase-file "$T/pw"
refused "RSA-1024 key" "key: RSA-1024 is too small (minimum 2048)" \
	gw cert import x --p12 "$T/small.p12" --passphrase-file "$T/pw"
refused "expired certificate" "validity: expired on 2021-01-01 00:00:00 UTC" \
	gw cert import x --p12 "$T/old.p12" --passphrase-file "$T/pw"
refused "no subject alternative name" "subject-alt-name:" \
	gw cert import x --p12 "$T/nosan.p12" --passphrase-file "$T/pw"
refused "a signing-only certificate imported for both uses" "key-usage-encrypt:" \
	gw cert import x --p12 "$T/nonrep.p12" --passphrase-file "$T/pw" --usage both
refused "CA certificate" "basic-constraints:" \
	gw cert import x --p12 "$T/ca2.p12" --passphrase-file "$T/pw" --usage sign
refused "duplicate name" "an identity named 'enc' already exists" \
	gw cert import enc --p12 "$T/enc.p12" --passphrase-file "$T/pw"
refused "fqdn check on import" "fqdn:" \
	gw cert import x --p12 "$T/ca2.p12" --passphrase-file "$T/pw" --usage sign --fqdn-check
same "failed imports leave nothing on the token" "$(token_objects)" "$objs"
gw cert list >"$T/list-after"
same "failed imports leave nothing in the store" \
	"$(cat "$T/list-after")" "$(cat "$T/list-before")"
finish
