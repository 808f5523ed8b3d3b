#!/usr/bin/env bash
# cert create / csr / show / export / delete against a fresh SoftHSM token,
# checked with openssl x509 -text and openssl req -verify.
. "$(dirname "$0")/lib.sh"
setup_token

SUBJ="C = DE, ST = Bavaria, L = Munich, O = Example AG, OU = Mail Security, CN = gw.example.com"
SAN="DNS:example.com, DNS:*.example.net, email:alice@example.com, email:bob@example.com"

# key type, openssl key line, curve line (or -), signature algorithm,
# key usage for --usage both
while read -r kt keyline curve sigalg ku; do
	name=id-${kt/:/-}
	ok "create $kt" gw cert create "$name" --cn gw.example.com --country de \
		--days 730 --org "Example AG" --ou "Mail Security" \
		--locality Munich --state Bavaria \
		--san-dns "example.com, *.example.net" \
		--san-email alice@example.com,bob@example.com --key "$kt" --fqdn-check
	gw cert export "$name" >"$T/$name.pem"
	openssl x509 -in "$T/$name.pem" -noout -text >"$T/$name.txt"
	has "$kt version 3" "$T/$name.txt" "Version: 3 (0x2)"
	has "$kt subject" "$T/$name.txt" "Subject: $SUBJ"
	has "$kt issuer (self-signed)" "$T/$name.txt" "Issuer: $SUBJ"
	has "$kt key size" "$T/$name.txt" "${keyline//_/ }"
	[ "$curve" = - ] || has "$kt curve" "$T/$name.txt" "ASN1 OID: $curve"
	has "$kt signature algorithm" "$T/$name.txt" "Signature Algorithm: $sigalg"
	has "$kt basic constraints critical" "$T/$name.txt" "X509v3 Basic Constraints: critical"
	has "$kt not a CA" "$T/$name.txt" "CA:FALSE"
	has "$kt key usage critical" "$T/$name.txt" "X509v3 Key Usage: critical"
	has "$kt key usage bits" "$T/$name.txt" "${ku//_/ }"
	has "$kt EKU emailProtection" "$T/$name.txt" "E-mail Protection"
	has "$kt SAN" "$T/$name.txt" "$SAN"
	has "$kt subject key identifier" "$T/$name.txt" "X509v3 Subject Key Identifier:"
	nb=$(openssl x509 -in "$T/$name.pem" -noout -startdate | cut -d= -f2)
	na=$(openssl x509 -in "$T/$name.pem" -noout -enddate | cut -d= -f2)
	same "$kt validity is 730 days" \
		$((($(date -d "$na" +%s) - $(date -d "$nb" +%s)) / 86400)) 730
	ok "$kt certificate verifies against itself for S/MIME signing" \
		openssl verify -CAfile "$T/$name.pem" -purpose smimesign \
		-partial_chain "$T/$name.pem"
	ok "$kt csr" gw cert csr "$name" -o "$T/$name.csr"
	ok "$kt csr self-signature verifies" \
		openssl req -in "$T/$name.csr" -verify -noout
	openssl req -in "$T/$name.csr" -noout -text >"$T/$name.csr.txt"
	has "$kt csr subject" "$T/$name.csr.txt" "Subject: $SUBJ"
	has "$kt csr SAN" "$T/$name.csr.txt" "$SAN"
	has "$kt csr key usage" "$T/$name.csr.txt" "${ku//_/ }"
	has "$kt csr EKU" "$T/$name.csr.txt" "E-mail Protection"
	same "$kt csr key equals certificate key" \
		"$(openssl req -in "$T/$name.csr" -noout -pubkey)" \
		"$(openssl x509 -in "$T/$name.pem" -noout -pubkey)"
	ok "$kt private key cannot be read or wrapped off the token" \
		"$P11PROBE" "$MODULE" "$LABEL" "$T/tok/user.pin" "$name"
	gw cert show "$name" >"$T/$name.show"
	has "$kt show: key protection" "$T/$name.show" \
		"Key protection:       sensitive, not extractable, never extractable, generated on the token"
	matches "$kt show: signing requirement passes" "$T/$name.show" \
		"^  pass  key-usage-sign +digitalSignature, nonRepudiation, key"
	matches "$kt show: encryption requirement passes" "$T/$name.show" \
		"^  pass  key-usage-encrypt +.*key(Encipherment|Agreement)"
	same "$kt show: no requirement fails" \
		"$(grep -c '^  fail' "$T/$name.show")" 0
done <<'LIST'
rsa:2048 Public-Key:_(2048_bit) - sha256WithRSAEncryption Digital_Signature,_Non_Repudiation,_Key_Encipherment
rsa:3072 Public-Key:_(3072_bit) - sha256WithRSAEncryption Digital_Signature,_Non_Repudiation,_Key_Encipherment
rsa:4096 Public-Key:_(4096_bit) - sha256WithRSAEncryption Digital_Signature,_Non_Repudiation,_Key_Encipherment
ec:p256 Public-Key:_(256_bit) prime256v1 ecdsa-with-SHA256 Digital_Signature,_Non_Repudiation,_Key_Agreement
ec:p384 Public-Key:_(384_bit) secp384r1 ecdsa-with-SHA384 Digital_Signature,_Non_Repudiation,_Key_Agreement
LIST

# --usage picks the key usage bits.
while read -r kt usage ku; do
	name=u-${kt/:/-}-$usage
	ok "usage $usage $kt" gw cert create "$name" --cn u.example.com \
		--country FR --days 10 --key "$kt" --usage "$usage"
	gw cert export "$name" | openssl x509 -noout -text >"$T/$name.txt"
	has "usage $usage $kt bits" "$T/$name.txt" "${ku//_/ }"
	has "usage $usage $kt SAN defaults to CN" "$T/$name.txt" "DNS:u.example.com"
done <<'LIST'
rsa:2048 sign Digital_Signature,_Non_Repudiation
rsa:2048 encrypt Key_Encipherment
ec:p256 sign Digital_Signature,_Non_Repudiation
ec:p256 encrypt Key_Agreement
LIST

# Bad input: each refused with a message naming the field.
before=$(token_objects)
refused "missing --cn" "--cn, --country and --days are required" \
	gw cert create x --country DE --days 1
refused "three-letter country" "--country: 'DEU' is not a two-letter ISO 3166 code" \
	gw cert create x --cn a.example.com --country DEU --days 1
refused "zero days" "--days: 0 is out of range (1..36500)" \
	gw cert create x --cn a.example.com --country DE --days 0
refused "days not a number" "--days: 'ten' is not a number" \
	gw cert create x --cn a.example.com --country DE --days ten
refused "unknown key type" "--key: 'dsa:2048' is not one of" \
	gw cert create x --cn a.example.com --country DE --days 1 --key dsa:2048
refused "unknown usage" "--usage: 'sometimes' is not one of sign, encrypt, both" \
	gw cert create x --cn a.example.com --country DE --days 1 --usage sometimes
refused "bad SAN email" "--san-email: 'alice.example.com' is not an email address" \
	gw cert create x --cn a.example.com --country DE --days 1 --san-email alice.example.com
refused "bad SAN DNS" "--san-dns: 'a_b.example.com' is not a domain name" \
	gw cert create x --cn a.example.com --country DE --days 1 --san-dns a_b.example.com
refused "empty SAN list entry" "--san-dns: empty entry in the list" \
	gw cert create x --cn a.example.com --country DE --days 1 --san-dns "a.example.com,,b.example.com"
refused "fqdn check: CN" "--cn: 'gateway' is not a fully qualified domain name" \
	gw cert create x --cn gateway --country DE --days 1 --fqdn-check
refused "fqdn check: SAN DNS" "--san-dns: 'intranet' is not a fully qualified domain name" \
	gw cert create x --cn a.example.com --country DE --days 1 --san-dns intranet --fqdn-check
refused "fqdn check: wildcard on a TLD" "--san-dns: '*.net' is not a fully qualified domain name" \
	gw cert create x --cn a.example.com --country DE --days 1 --san-dns '*.net' --fqdn-check
refused "CN too long" "--cn: longer than 64 characters" \
	gw cert create x --cn "$(printf 'a%.0s' {1..65}).example.com" --country DE --days 1
refused "invalid identity name" "NAME: 'bad name' must be 1-64 letters" \
	gw cert create "bad name" --cn a.example.com --country DE --days 1
refused "duplicate identity name" "an identity named 'id-rsa-2048' already exists" \
	gw cert create id-rsa-2048 --cn a.example.com --country DE --days 1
refused "unknown option" "unknown option '--bogus'" \
	gw cert create x --cn a.example.com --country DE --days 1 --bogus
refused "option of another subcommand" "option '--p12' does not apply to 'cert create'" \
	gw cert create x --cn a.example.com --country DE --days 1 --p12 f
same "failed creates leave nothing on the token" "$(token_objects)" "$before"
ok "without --fqdn-check a host name is accepted" \
	gw cert create host --cn gateway --country DE --days 1

# show, list, export and delete.
refused "show unknown" "no identity named 'nope'" gw cert show nope
gw cert list >"$T/list"
same "list shows every identity" "$(tail -n +2 "$T/list" | wc -l)" 10
gw cert export id-ec-p256 >"$T/exp.pem"
same "export is one PEM certificate" "$(grep -c 'BEGIN CERTIFICATE' "$T/exp.pem")" 1
refused "delete needs --yes" "refusing to delete 'host' without --yes" \
	gw cert delete host
before=$(token_objects)
ok "delete" gw cert delete host --yes
has "delete reports the token objects" "$T/out" \
	"deleted identity 'host' (3 token objects destroyed)"
same "delete removes key pair and certificate from the token" \
	"$(token_objects)" $((before - 3))
refused "deleted identity is gone from the store" "no identity named 'host'" \
	gw cert show host
refused "delete unknown" "no identity named 'host'" gw cert delete host --yes
# A create killed half-way leaves a key pair without a record: it blocks
# the name until delete clears it.
pkcs11-tool --module "$MODULE" --token-label "$LABEL" --login \
	--pin "$(cat "$T/tok/user.pin")" --keypairgen --key-type EC:prime256v1 \
	--label orphan --id 0badc0de >/dev/null 2>&1
refused "orphaned token objects block the name" \
	"token '$LABEL' already holds an object labelled 'orphan'" \
	gw cert create orphan --cn a.example.com --country DE --days 1
ok "delete clears orphaned token objects" gw cert delete orphan --yes
has "delete reports the orphans" "$T/out" \
	"deleted identity 'orphan' (2 token objects destroyed)"
ok "the name is free again" gw cert create orphan --cn a.example.com \
	--country DE --days 1 --key ec:p256
finish
