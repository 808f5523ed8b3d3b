#!/usr/bin/env bash
# smimegw ca: every command, the CA rule (each refusal with its reason),
# IDs and prefixes, signatures from a partner CA verified through the
# store, --system, and two writers at once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki.sh"
setup_token
echo "authserv_id = gw.test" >>"$T/smimegw.conf"
GOOD="basicConstraints=critical,CA:FALSE;extendedKeyUsage=emailProtection"
id_of() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f; }
fp_of() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }
ca_count() { gw ca list | sed 1d | wc -l; }

mkca "$T/root" "Root CA"
# An intermediate CA under the root, and a partner signer under it.
mkee "$T/root" inter rsa:2048 "basicConstraints=critical,CA:TRUE;keyUsage=critical,keyCertSign,cRLSign"
mkca "$T/inter" "unused"
cp "$T/inter.pem" "$T/inter/ca.pem"
cp "$T/inter.key" "$T/inter/ca.key"
mkee "$T/inter" alice rsa:2048 "$GOOD;keyUsage=critical,digitalSignature,nonRepudiation;subjectAltName=email:alice@partner.example"
mkee "$T/root" leaf rsa:2048 "$GOOD;keyUsage=critical,digitalSignature;subjectAltName=email:leaf@partner.example"
mkca "$T/other" "Other CA"
openssl x509 -in "$T/other/ca.pem" -outform DER -out "$T/other.der"
mkca "$T/third" "Third CA"
# A legacy v1 root (no extensions at all), and a v3 self-signed
# certificate without basicConstraints.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/v1.key" \
	-subj "/CN=V1 Root" -out "$T/v1.csr" 2>/dev/null
openssl x509 -req -in "$T/v1.csr" -signkey "$T/v1.key" -days 30 -out "$T/v1.pem" 2>/dev/null
printf 'subjectKeyIdentifier=hash\n' >"$T/v3.ext"
openssl x509 -req -in "$T/v1.csr" -signkey "$T/v1.key" -days 30 -extfile "$T/v3.ext" \
	-out "$T/v3nobc.pem" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/nocs.key" \
	-subj "/CN=No CertSign CA" -days 30 -out "$T/nocs.pem" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,digitalSignature" 2>/dev/null
mkee "$T/root" expca ec:P-256 "basicConstraints=critical,CA:TRUE;keyUsage=critical,keyCertSign" \
	20200101000000Z 20210101000000Z
ROOT=$(id_of "$T/root/ca.pem")
INTER=$(id_of "$T/inter.pem")

# ---- add ------------------------------------------------------------------------
ok "add a root CA (PEM)" gw ca add "$T/root/ca.pem"
has "add reports the CA with its short ID" "$T/out" "added      ${ROOT:0:16} CN=Root CA"
has "add summary" "$T/out" "1 CA added, 0 duplicates"
ok "add the same CA again" gw ca add "$T/root/ca.pem"
has "duplicate reported" "$T/out" "duplicate  ${ROOT:0:16} CN=Root CA (already trusted)"
has "duplicate summary" "$T/out" "0 CAs added, 1 duplicate"
cat "$T/inter.pem" "$T/root/ca.pem" >"$T/bundle.pem"
ok "add a PEM bundle" gw ca add "$T/bundle.pem"
has "bundle: the new CA is added" "$T/out" "added      ${INTER:0:16} O=Partner,C=FR,CN=inter.example.com"
has "bundle: the known one is a duplicate" "$T/out" "duplicate  ${ROOT:0:16} CN=Root CA (already trusted)"
ok "add a DER CA" gw ca add "$T/other.der"
has "DER CA added" "$T/out" "1 CA added, 0 duplicates"
ok "add a v1 self-signed root without basicConstraints" gw ca add "$T/v1.pem"
same "four CAs stored" "$(ca_count)" 4

N=$(ca_count)
refused "an end-entity certificate is refused" \
	"leaf.pem: certificate 1 of 1 (O=Partner,C=FR,CN=leaf.example.com): not a CA certificate: basicConstraints CA:FALSE (an end-entity certificate belongs in 'pubkey add'); nothing was added" \
	gw ca add "$T/leaf.pem"
cat "$T/third/ca.pem" "$T/leaf.pem" >"$T/mixed.pem"
refused "a bundle with an end-entity certificate is refused whole" \
	"mixed.pem: certificate 2 of 2 (O=Partner,C=FR,CN=leaf.example.com): not a CA certificate" \
	gw ca add "$T/mixed.pem"
same "... and adds nothing, not even its CA" "$(ca_count)" "$N"
refused "v3 self-signed without basicConstraints" \
	"not a CA certificate: no basicConstraints and not a self-signed v1 root" \
	gw ca add "$T/v3nobc.pem"
refused "CA:TRUE without keyCertSign" "CA:TRUE but keyUsage lacks keyCertSign" gw ca add "$T/nocs.pem"
sed '5s/^..../!!!!/' "$T/third/ca.pem" >"$T/bad.pem"
refused "malformed PEM" "bad.pem: malformed PEM certificate" gw ca add "$T/bad.pem"
refused "a private key instead of a certificate" "no certificate found" gw ca add "$T/v1.key"
printf 'garbage' >"$T/garbage.bin"
refused "neither PEM nor DER" "garbage.bin: neither a PEM nor a DER certificate" gw ca add "$T/garbage.bin"
refused "missing file" "nothere.pem: No such file or directory" gw ca add "$T/nothere.pem"
same "refusals add nothing" "$(ca_count)" "$N"
ok "an expired CA is stored, with a warning" gw ca add "$T/expca.pem"
matches "expired warning" "$T/out" "^ +warning: expired on 2021-01-01 00:00:00 UTC$"
gw ca list >"$T/list.exp"
matches "list: the expired CA" "$T/list.exp" "^[0-9a-f]{16} 2021-01-01 expired +O=Partner,C=FR,CN=expca.example.com$"
ok "delete the expired CA" gw ca delete "$(id_of "$T/expca.pem")"
refused "add needs FILE" "missing FILE" gw ca add
same "usage error exits 2" "$(gw ca add 2>/dev/null; echo $?)" 2
refused "unknown option" "unknown option '--bogus'" gw ca list --bogus
refused "unexpected argument" "unexpected argument 'x'" gw ca list x
refused "unknown subcommand" "unknown subcommand 'frob'" gw ca frob

# ---- list, show, delete -------------------------------------------------------------
ok "list" gw ca list
matches "list header" "$T/out" "^ID +NOT AFTER +STATE +SUBJECT$"
matches "list: root with its short ID" "$T/out" "^${ROOT:0:16} [0-9-]{10} valid +CN=Root CA$"
matches "list: v1 root" "$T/out" " valid +CN=V1 Root$"
ok "show by full ID" gw ca show "$ROOT"
matches "show: full ID" "$T/out" "^ID: +$ROOT$"
matches "show: status" "$T/out" "^Status: +valid until "
matches "show: basic constraints" "$T/out" "^Basic constraints: +CA:TRUE$"
matches "show: self-signed" "$T/out" "^Self-signed: +yes$"
matches "show: certificate facts" "$T/out" "^Subject: +CN=Root CA$"
ok "show by an 8-digit prefix" gw ca show "${ROOT:0:8}"
matches "prefix finds the CA" "$T/out" "^ID: +$ROOT$"
ok "show by the colon-separated fingerprint" gw ca show "$(fp_of "$T/root/ca.pem")"
matches "fingerprint finds the CA" "$T/out" "^ID: +$ROOT$"
ok "show an intermediate" gw ca show "${INTER:0:12}"
matches "intermediate is not self-signed" "$T/out" "^Self-signed: +no$"
ok "show the v1 root" gw ca show "$(id_of "$T/v1.pem")"
matches "v1 root: no basic constraints" "$T/out" "^Basic constraints: +absent \(X.509 v1 self-signed root\)$"
refused "a prefix of 7 digits is too short" "ID: '${ROOT:0:7}' is not 8 to 64 hex digits" \
	gw ca show "${ROOT:0:7}"
refused "a non-hex ID" "ID: 'Root CA' is not 8 to 64 hex digits" gw ca show "Root CA"
if [ "${ROOT:0:8}" = 00000000 ]; then U=11111111; else U=00000000; fi
refused "an unknown ID" "no trusted CA with ID $U" gw ca show "$U"
refused "show needs ID" "missing ID" gw ca show

# ---- verification through the store -------------------------------------------------------
printf 'From: alice@partner.example\r\nTo: x@example.com\r\nSubject: partner\r\nContent-Type: text/plain\r\n\r\nfrom a partner\r\n' >"$T/pm.eml"
openssl cms -sign -in "$T/pm.eml" -signer "$T/alice.pem" -inkey "$T/alice.key" \
	-certfile "$T/inter.pem" -md sha256 -out "$T/ps.eml"
ok "a partner signature verifies through the stored CAs, without --ca" \
	gw message open -i "$T/ps.eml" -o "$T/o1.eml"
has "smime=pass" "$T/o1.eml" "smime=pass"
ok "verify: the same through the stored CAs" gw message verify -i "$T/ps.eml" -o /dev/null
ok "delete the intermediate by prefix" gw ca delete "${INTER:0:10}"
has "delete confirms" "$T/out" "deleted trusted CA ${INTER:0:16} O=Partner,C=FR,CN=inter.example.com"
ok "the chain still reaches the stored root" gw message verify -i "$T/ps.eml" -o /dev/null
ok "delete the root" gw ca delete "$ROOT"
refused "without the CA the signature is not trusted" "signer certificate not trusted" \
	gw message open -i "$T/ps.eml" -o "$T/o2.eml"
has "untrusted gives smime=fail" "$T/o2.eml" "smime=fail"
refused "delete an unknown CA" "no trusted CA with ID $ROOT" gw ca delete "$ROOT"
ok "--ca still works alongside the store" gw message verify --ca "$T/root/ca.pem" -i "$T/ps.eml" -o /dev/null
gw_sys() { (export SSL_CERT_FILE="$T/root/ca.pem" SSL_CERT_DIR="$T/nodir"; gw "$@"); }
ok "--system uses the system trust store" gw_sys message verify --system -i "$T/ps.eml" -o /dev/null
refused "... and without --system it is not used" "signer certificate not trusted" \
	gw_sys message verify -i "$T/ps.eml" -o /dev/null
ok "open --system" gw_sys message open --system -i "$T/ps.eml" -o /dev/null
refused "--system does not apply to decrypt" "option '--system' does not apply to 'message decrypt'" \
	gw message decrypt --system -i "$T/ps.eml"

# ---- two writers at once -----------------------------------------------------------------
mkdir -p "$T/conc"
for w in a b; do
	for i in $(seq 1 10); do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$T/conc/$w$i.key" -subj "/CN=Conc CA $w$i" -days 30 \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign" -out "$T/conc/$w$i.pem" 2>/dev/null
	done
done
N=$(ca_count)
writer() {
	local i
	for i in $(seq 1 10); do
		gw ca add "$T/conc/$1$i.pem" >/dev/null 2>>"$T/conc/$1.err" || echo "$1$i" >>"$T/conc/$1.failed"
	done
}
writer a &
writer b &
wait
same "concurrent writers: no add failed" "$(cat "$T"/conc/*.failed 2>/dev/null)" ""
same "concurrent writers: all 20 CAs are listed" "$(gw ca list | grep -c 'CN=Conc CA ')" 20
same "concurrent writers: nothing else changed" "$(ca_count)" "$((N + 20))"
finish
