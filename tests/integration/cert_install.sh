#!/usr/bin/env bash
# cert install: a CA-issued certificate for an existing token key, from a
# CSR smimegw made; PEM with chain and DER; refusals.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki.sh"
setup_token
mkca "$T/ca" "Issuing CA"
mkca "$T/evil" "Issuing CA"   # same name, different key

sign_csr() { # CA CSR OUT EXT
	printf '[ x ]\n%s\n' "${4//;/$'\n'}" >"$T/x.ext"
	openssl ca -batch -config "$1/ca.cnf" -in "$2" -out "$3" -extfile "$T/x.ext" \
		-extensions x -notext -days 200 2>"$T/ca.log" || cat "$T/ca.log" >&2
}
EXT="basicConstraints=critical,CA:FALSE;keyUsage=critical,digitalSignature,nonRepudiation,keyEncipherment;extendedKeyUsage=emailProtection;subjectAltName=DNS:example.org"
EXT_EC="basicConstraints=critical,CA:FALSE;keyUsage=critical,digitalSignature,nonRepudiation,keyAgreement;extendedKeyUsage=emailProtection;subjectAltName=DNS:example.org"

for kt in rsa:2048 ec:p256; do
	id=gw-${kt/:/}
	ext=$EXT
	[ "$kt" = ec:p256 ] && ext=$EXT_EC
	ok "$kt create" gw cert create "$id" --cn example.org --country DE --days 30 --key "$kt"
	ok "$kt csr" gw cert csr "$id" -o "$T/$id.csr"
	sign_csr "$T/ca" "$T/$id.csr" "$T/$id.crt" "$ext"
	cat "$T/$id.crt" "$T/ca/ca.pem" >"$T/$id.bundle"
	objs=$(token_objects)
	ok "$kt install PEM with chain" gw cert install "$id" "$T/$id.bundle"
	gw cert show "$id" >"$T/show"
	has "$kt issuer is the CA" "$T/show" "Issuer:               CN=Issuing CA"
	has "$kt chain kept" "$T/show" "Chain certificates:   1"
	same "$kt certificate replaced on the token, not added" "$(token_objects)" "$objs"
	gw cert export "$id" >"$T/exp"
	same "$kt export: certificate and chain" "$(grep -c 'BEGIN CERTIFICATE' "$T/exp")" 2
	ok "$kt installed certificate chains to the CA for S/MIME signing" \
		openssl verify -CAfile "$T/ca/ca.pem" -purpose smimesign "$T/exp"
	ok "$kt still signs with the same token key" gw cert csr "$id" -o "$T/again.csr"
	same "$kt key unchanged" "$(openssl req -in "$T/again.csr" -noout -pubkey)" \
		"$(openssl x509 -in "$T/$id.crt" -noout -pubkey)"
done

# DER, leaf only
openssl x509 -in "$T/gw-rsa2048.crt" -outform DER -out "$T/leaf.der"
ok "install DER" gw cert install gw-rsa2048 "$T/leaf.der"
gw cert show gw-rsa2048 >"$T/show"
has "DER install has no chain" "$T/show" "Chain certificates:   0"

# Refusals: the identity keeps its certificate.
fp=$(gw cert export gw-rsa2048 | openssl x509 -noout -fingerprint -sha256)
refused "certificate for another key" "no certificate in the file has the public key of identity 'gw-rsa2048'" \
	gw cert install gw-rsa2048 "$T/gw-ecp256.crt"
sign_csr "$T/ca" "$T/gw-rsa2048.csr" "$T/weak.crt" \
	"basicConstraints=critical,CA:FALSE;keyUsage=critical,digitalSignature;subjectAltName=DNS:example.org"
refused "certificate lacking keyEncipherment for a sign-and-encrypt identity" "key-usage-encrypt:" \
	gw cert install gw-rsa2048 "$T/weak.crt"
sign_csr "$T/ca" "$T/gw-rsa2048.csr" "$T/cs.crt" \
	"basicConstraints=critical,CA:FALSE;keyUsage=critical,digitalSignature,nonRepudiation,keyEncipherment;extendedKeyUsage=codeSigning;subjectAltName=DNS:example.org"
refused "code-signing certificate" "extended-key-usage:" \
	gw cert install gw-rsa2048 "$T/cs.crt"
cat "$T/gw-rsa2048.crt" "$T/evil/ca.pem" >"$T/badchain.pem"
refused "chain without the issuer" "no chain certificate issued the certificate (its issuer is /CN=Issuing CA)" \
	gw cert install gw-rsa2048 "$T/badchain.pem"
printf 'hello, not a certificate\n' >"$T/garbage"
refused "garbage file" "neither a PEM nor a DER certificate" \
	gw cert install gw-rsa2048 "$T/garbage"
sed '3s/./#/' "$T/gw-rsa2048.crt" >"$T/broken.pem"
refused "broken PEM" "malformed PEM certificate" \
	gw cert install gw-rsa2048 "$T/broken.pem"
refused "unknown identity" "no identity named 'nope'" \
	gw cert install nope "$T/gw-rsa2048.crt"
refused "missing file" "missing FILE" gw cert install gw-rsa2048
same "refusals keep the installed certificate" \
	"$(gw cert export gw-rsa2048 | openssl x509 -noout -fingerprint -sha256)" "$fp"
finish
