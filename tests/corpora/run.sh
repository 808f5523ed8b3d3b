#!/usr/bin/env bash
# run.sh - public S/MIME and CMS corpora through smimegw: every file of
# tests/corpora/data/{rfc4134,rfc9216-examples-cms,openssl} gets the
# outcome data/README.md states (or the deliberate refusal README.md in
# this folder documents), checked as exit status, Authentication-Results
# result (and reason) and, where content is recovered, the exact bytes.
#
# Environment as for the integration tests: SMIMEGW, SRCDIR, P11PROBE,
# PROFILE (default|strict). The corpora are part of the source tree: a
# missing corpus folder is a failure, not a skip.
. "$(dirname "$0")/../integration/lib.sh"

CORPORA=$SRCDIR/tests/corpora/data
for d in rfc4134 rfc9216-examples-cms openssl; do
	if [ ! -d "$CORPORA/$d" ]; then
		echo "FAIL corpus folder $CORPORA/$d is missing from the source tree" >&2
		exit 1
	fi
done
K=$CORPORA/rfc4134
R=$CORPORA/rfc9216-examples-cms
RB=$R/binary-files
RK=$R/certs-and-keys
RW=$R/rfc9216-certs-from-wbond-certvalidator
O=$CORPORA/openssl/test
OD=$O/recipes/80-test_cms_data

setup_token
echo "authserv_id = corpora.test" >>"$T/smimegw.conf"
W=$T/w
mkdir -p "$W"
printf 'corpus p12' >"$T/pw"

# ---------------------------------------------------------------- helpers

# Message fixtures. Each wrapper writes NAME.eml and NAME.outer: the
# header fields smimegw keeps when it unwraps a layer (all but Content-*
# and MIME-Version), so that the expected output can be built exactly.
#
# wrap NAME SMIME-TYPE|- DER [FROM] : application/pkcs7-mime, base64 body
# ("-": no smime-type parameter).
wrap() {
	local name=$1 st=$2 der=$3 from=${4:-} param=
	[ "$st" != - ] && param=" smime-type=$st;"
	: >"$W/$name.outer"
	[ -n "$from" ] && printf 'From: %s\r\n' "$from" >>"$W/$name.outer"
	printf 'Subject: corpus %s\r\n' "$name" >>"$W/$name.outer"
	{
		cat "$W/$name.outer"
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: application/pkcs7-mime;%s name=smime.p7m\r\n' "$param"
		printf 'Content-Transfer-Encoding: base64\r\n'
		printf 'Content-Disposition: attachment; filename=smime.p7m\r\n\r\n'
		base64 -w 76 "$der" | sed 's/$/\r/'
	} >"$W/$name.eml"
}

# detached NAME CONTENT SIG-DER MICALG [FROM] : multipart/signed whose
# first part is exactly the bytes of CONTENT (no header block, and the
# CRLF before the delimiter belongs to the delimiter: RFC 2046 5.1.1).
detached() {
	local name=$1 content=$2 sig=$3 micalg=$4 from=${5:-}
	: >"$W/$name.outer"
	[ -n "$from" ] && printf 'From: %s\r\n' "$from" >>"$W/$name.outer"
	printf 'Subject: corpus %s\r\n' "$name" >>"$W/$name.outer"
	{
		cat "$W/$name.outer"
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: multipart/signed; protocol="application/pkcs7-signature";\r\n'
		printf '\tmicalg=%s; boundary="corpus-boundary"\r\n\r\n' "$micalg"
		printf -- '--corpus-boundary\r\n'
		cat "$content"
		printf '\r\n--corpus-boundary\r\n'
		printf 'Content-Type: application/pkcs7-signature; name=smime.p7s\r\n'
		printf 'Content-Transfer-Encoding: base64\r\n'
		printf 'Content-Disposition: attachment; filename=smime.p7s\r\n\r\n'
		base64 -w 76 "$sig" | sed 's/$/\r/'
		printf -- '--corpus-boundary--\r\n'
	} >"$W/$name.eml"
}

# outer_of FILE : the header fields of a message that smimegw keeps when
# it unwraps a layer (not Content-*, not MIME-Version), as they are.
outer_of() {
	sed -n '/^\r\{0,1\}$/q; p' "$1" | grep -viE '^(MIME-Version|Content-|[[:space:]])'
}

# expect NAME CONTENT : what an unwrapped layer must come out as (after
# our result fields): the kept outer fields, our MIME-Version, then the
# recovered content byte for byte.  Content that is not a MIME entity
# (does not start with a header field or an empty line) gets an empty
# header block first, so that it stays body.
expect() {
	{
		cat "$W/$1.outer"
		printf 'MIME-Version: 1.0\r\n'
		head -n 1 "$2" | LC_ALL=C grep -qE $'^([!-9;-~]+:|\r?$)' ||
			printf '\r\n'
		cat "$2"
	} >"$W/$1.want"
}

# Size in bytes of the leading result fields smimegw adds (one
# Authentication-Results and one X-SMIME-Gateway, with their folds).
reslen() {
	awk '/^(Authentication-Results|X-SMIME-Gateway):/ {
		if (++f > 2) exit; n += length($0) + 1; next }
	     /^[ \t]/ && f { n += length($0) + 1; next }
	     { exit }
	     END { print n + 0 }' "$1"
}
resfields() { head -c "$(reslen "$1")" "$1" | tr -d '\r'; }
body() { tail -c +"$(($(reslen "$1") + 1))" "$1"; }
ar_result() { resfields "$1" | grep -o 'smime=[a-z]*' | head -1 | cut -d= -f2; }
ar_reason() { resfields "$1" | sed -n 's/^[[:space:]]*reason="\(.*\)"$/\1/p'; }
ar_msgflag() { resfields "$1" | grep -o 'smime-gateway-message=[01]' | cut -d= -f2; }
ar_signer() { resfields "$1" | sed -n 's/^[[:space:]]*body.smime-identifier="\(.*\)"$/\1/p'; }

# open_case NAME MSG RC AR REASON [open options...]
# Runs "message open" on MSG and checks, as named cases:
#   NAME                     exit status and smime= result
#   NAME: reason             the reason= text (empty: none) and, on
#                            failure, the same reason on stderr
# The output is left in $W/NAME.out for further checks.
open_case() {
	local name=$1 msg=$2 want_rc=$3 want_ar=$4 want_reason=$5 rc
	shift 5
	gw message open "$@" -i "$msg" >"$W/$name.out" 2>"$W/$name.err"
	rc=$?
	same "$name" "exit $rc, smime=$(ar_result "$W/$name.out")" \
		"exit $want_rc, smime=$want_ar"
	same "$name: reason" "$(ar_reason "$W/$name.out")" "$want_reason"
	if [ "$want_rc" -ne 0 ] && [ -n "$want_reason" ]; then
		same "$name: reason on stderr" "$(cat "$W/$name.err")" \
			"smimegw message open: $want_reason"
	fi
}

# outcome NAME MSG RC AR FLAG [open options...] : like open_case without
# the reason, plus the smime-gateway-message flag.
outcome() {
	local name=$1 msg=$2 want="exit $3, smime=$4, smime-gateway-message=$5" rc
	shift 5
	gw message open "$@" -i "$msg" >"$W/$name.out" 2>"$W/$name.err"
	rc=$?
	same "$name" "exit $rc, smime=$(ar_result "$W/$name.out"), smime-gateway-message=$(ar_msgflag "$W/$name.out")" \
		"$want"
}

# unchanged NAME MSG : the message came out byte for byte as it went in,
# apart from our result fields (a failed or retained layer).
unchanged() {
	body "$W/$1.out" >"$W/$1.body"
	ok "$1: message otherwise unchanged" cmp -s "$W/$1.body" "$2"
}

# content NAME : the unwrapped output is exactly $W/NAME.want.
content() {
	body "$W/$1.out" >"$W/$1.body"
	ok "$1: recovered content is exact" cmp -s "$W/$1.body" "$W/$1.want"
}

# signer NAME ID : the verified signer named in the AR field (its SAN
# email, or its CN when it has none).
signer() { same "$1: signer" "$(ar_signer "$W/$1.out")" "$2"; }

# signed_ok NAME MSG SIGNER CONTENT-FILE [open options...] : a signature
# that verifies: retained (message unchanged), then removed (content).
signed_ok() {
	local name=$1 msg=$2 who=$3 cont=$4
	shift 4
	open_case "$name" "$msg" 0 pass "" "$@"
	signer "$name" "$who"
	unchanged "$name" "$msg"
	cp "$W/$name.outer" "$W/$name-unwrapped.outer"
	expect "$name-unwrapped" "$cont"
	open_case "$name-unwrapped" "$msg" 0 pass "" --remove-signature "$@"
	content "$name-unwrapped"
}

# p12 NAME CERT KEY : a PKCS#12 from a corpus certificate and key (any
# form openssl reads: PEM, or DER for the RFC 4134 files).
p12() {
	local cert=$2 key=$3
	case "$cert" in *.cer) openssl x509 -inform DER -in "$cert" -out "$W/$1.crt" ;;
	*) openssl x509 -in "$cert" -out "$W/$1.crt" ;; esac
	case "$key" in *.pri) openssl pkey -inform DER -in "$key" -out "$W/$1.key" ;;
	*) openssl pkey -in "$key" -out "$W/$1.key" ;; esac
	openssl pkcs12 -export -in "$W/$1.crt" -inkey "$W/$1.key" \
		-passout "file:$T/pw" -out "$W/$1.p12"
}

# ------------------------------------------------------------ trust anchors
openssl x509 -inform DER -in "$K/CarlRSASelf.cer" -out "$W/carl-rsa.pem"
openssl x509 -inform DER -in "$K/CarlDSSSelf.cer" -out "$W/carl-dss.pem"
cat "$W/carl-rsa.pem" "$W/carl-dss.pem" >"$W/carl.pem"
cp "$RW/Sample_LAMPS_RSA_Certification_Authority.selfsigned.pem" "$W/lamps-rsa.pem"
cp "$RW/Sample_LAMPS_Ed25519_Certification_Authority.selfsigned.pem" "$W/lamps-ed.pem"
cat "$W/lamps-rsa.pem" "$W/lamps-ed.pem" >"$W/lamps.pem"
cat "$O/certs/root-cert.pem" "$O/certs/ca-cert.pem" >"$W/ossl-certs.pem"
openssl x509 -in "$O/smime-certs/smroot.pem" -out "$W/smroot.pem"
EX=$K/ExContent.bin

# ------------------------------------------------- decryption keys: imports
# The supported way onto the token: PKCS#12 + cert import. Four of the
# corpus' decryption keys fail our requirement checks (deliberate
# refusals, see README.md); only RFC 9216 Bob's key gets on.
p12 bob4134 "$K/BobRSASignByCarl.cer" "$K/BobPrivRSAEncrypt.pri"
refused "import RFC 4134 Bob (RSA-1024): refused" \
	"smimegw cert import: certificate does not meet the requirements: key: RSA-1024 is too small (minimum 2048)" \
	gw cert import bob-rfc4134 --p12 "$W/bob4134.p12" --passphrase-file "$T/pw" --usage encrypt

p12 bob9216 "$RK/lamps-bob.encrypt.crt" "$RK/lamps-bob.decrypt.p8.pem"
ok "import RFC 9216 Bob (RSA-2048, keyEncipherment)" \
	gw cert import bob-rfc9216 --p12 "$W/bob9216.p12" --passphrase-file "$T/pw" --usage encrypt

p12 dana "$RK/lamps-dana.encrypt.crt" "$RK/lamps-dana.decrypt.p8.pem"
refused "import RFC 9216 Dana (X25519): refused" \
	"smimegw cert import: certificate does not meet the requirements: key: X25519 keys are not allowed (RSA >= 2048 bits or EC P-256, P-384, P-521 required)" \
	gw cert import dana-rfc9216 --p12 "$W/dana.p12" --passphrase-file "$T/pw" --usage encrypt

# smec3.pem holds the certificate and the key. Valid until 2027-06-19:
# after that the validity check (which runs first) is the refusal.
p12 smec3 "$O/smime-certs/smec3.pem" "$O/smime-certs/smec3.pem"
if openssl x509 -in "$W/smec3.crt" -noout -checkend 0 >/dev/null; then
	why="key-usage-encrypt: keyUsage lacks keyAgreement, required for EC keys (has: digitalSignature, nonRepudiation, keyEncipherment)"
else
	why="validity: expired on 2027-06-19 15:42:08 UTC"
fi
refused "import OpenSSL smec3 (EC with keyEncipherment): refused" \
	"smimegw cert import: certificate does not meet the requirements: $why" \
	gw cert import smec3 --p12 "$W/smec3.p12" --passphrase-file "$T/pw" --usage encrypt

p12 ee "$O/certs/ee-cert.pem" "$O/certs/ee-key.pem"
refused "import OpenSSL ee-cert (no keyUsage, serverAuth): refused" \
	"smimegw cert import: certificate does not meet the requirements: extended-key-usage: serverAuth only, emailProtection required" \
	gw cert import ee --p12 "$W/ee.p12" --passphrase-file "$T/pw" --usage encrypt

NOKEY="no identity of this gateway is a recipient of the message"

# ================================================================ RFC 4134
# Signed-data (SHA-1; RSA-1024 and DSA-1024 signers): verify against
# CarlRSA + CarlDSS. Opaque ones are wrapped as smime-type=signed-data
# with a From the signer's certificate covers.
for c in 4.1:AliceDSS 4.2:AliceRSA 4.4:AliceDSS 4.5:AliceRSA 4.7:AliceDSS 4.10:AliceDSS; do
	f=${c%%:*} who=${c#*:}@example.com
	wrap "rfc4134-$f" signed-data "$K/$f.bin" "$who"
	signed_ok "rfc4134-$f" "$W/rfc4134-$f.eml" "$who" "$EX" --ca "$W/carl.pem"
done

# 4.3: detached, content = ExContent.bin exactly.
detached rfc4134-4.3 "$EX" "$K/4.3.bin" sha-1 AliceDSS@example.com
signed_ok rfc4134-4.3 "$W/rfc4134-4.3.eml" AliceDSS@example.com "$EX" --ca "$W/carl.pem"
# ... with one byte of the content changed.
sed 's/sample/simple/' "$EX" >"$W/altered.bin"
detached rfc4134-4.3-altered "$W/altered.bin" "$K/4.3.bin" sha-1 AliceDSS@example.com
open_case rfc4134-4.3-altered "$W/rfc4134-4.3-altered.eml" 1 fail \
	"signature does not match the content (altered in transit?)" --ca "$W/carl.pem"
unchanged rfc4134-4.3-altered "$W/rfc4134-4.3-altered.eml"

# Negative controls on 4.2: no trust anchor; the wrong anchor; a From
# the certificate does not cover.
open_case rfc4134-4.2-no-ca "$W/rfc4134-4.2.eml" 1 fail \
	"signer certificate not trusted (Verify error: unable to get local issuer certificate)"
unchanged rfc4134-4.2-no-ca "$W/rfc4134-4.2.eml"
open_case rfc4134-4.2-dss-ca "$W/rfc4134-4.2.eml" 1 fail \
	"signer certificate not trusted (Verify error: unable to get local issuer certificate)" \
	--ca "$W/carl-dss.pem"
wrap rfc4134-4.2-from "signed-data" "$K/4.2.bin" "mallory@example.net"
open_case rfc4134-4.2-from "$W/rfc4134-4.2-from.eml" 1 fail \
	"the signer certificate (AliceRSA@example.com) does not cover the From address mallory@example.net" \
	--ca "$W/carl.pem"
unchanged rfc4134-4.2-from "$W/rfc4134-4.2-from.eml"

# 4.6: two DSS signers, Diane's certificate inherits the DSA parameters
# from CarlDSS; OpenSSL cannot build her key: deliberate refusal.
wrap rfc4134-4.6 signed-data "$K/4.6.bin"
open_case rfc4134-4.6 "$W/rfc4134-4.6.eml" 1 fail \
	"signer certificate not trusted (Verify error: unspecified certificate verification error)" \
	--ca "$W/carl.pem"
unchanged rfc4134-4.6 "$W/rfc4134-4.6.eml"

# 4.8.eml / 4.9.eml as shipped: From aliceDss@examples.com is not the
# certificate's AliceDSS@example.com (examples.com vs example.com), so a
# gateway must fail them. 4.8.eml has LF line ends (extracted from the
# RFC text); its wire form has CRLF.
open_case rfc4134-4.8.eml "$K/4.8.eml" 1 fail \
	"the signer certificate (AliceDSS@example.com) does not cover the From address aliceDss@examples.com" \
	--ca "$W/carl.pem"
unchanged rfc4134-4.8.eml "$K/4.8.eml"
sed 's/$/\r/' "$K/4.8.eml" >"$W/rfc4134-4.8-crlf.eml"
open_case rfc4134-4.8-crlf "$W/rfc4134-4.8-crlf.eml" 1 fail \
	"the signer certificate (AliceDSS@example.com) does not cover the From address aliceDss@examples.com" \
	--ca "$W/carl.pem"
# Without the From field: the signature itself verifies; the first part
# is an entity with an empty header block, "\r\n" + ExContent.
grep -v '^From:' "$W/rfc4134-4.8-crlf.eml" >"$W/rfc4134-4.8-nofrom.eml"
outer_of "$W/rfc4134-4.8-nofrom.eml" >"$W/rfc4134-4.8-nofrom-unwrapped.outer"
{ printf '\r\n'; cat "$EX"; } >"$W/crlf-excontent.bin"
open_case rfc4134-4.8-nofrom "$W/rfc4134-4.8-nofrom.eml" 0 pass "" --ca "$W/carl.pem"
signer rfc4134-4.8-nofrom AliceDSS@example.com
expect rfc4134-4.8-nofrom-unwrapped "$W/crlf-excontent.bin"
open_case rfc4134-4.8-nofrom-unwrapped "$W/rfc4134-4.8-nofrom.eml" 0 pass "" \
	--ca "$W/carl.pem" --remove-signature
content rfc4134-4.8-nofrom-unwrapped

open_case rfc4134-4.9.eml "$K/4.9.eml" 1 fail \
	"the signer certificate (AliceDSS@example.com) does not cover the From address aliceDss@examples.com" \
	--ca "$W/carl.pem"
unchanged rfc4134-4.9.eml "$K/4.9.eml"
grep -v '^From:' "$K/4.9.eml" >"$W/rfc4134-4.9-nofrom.eml"
open_case rfc4134-4.9-nofrom "$W/rfc4134-4.9-nofrom.eml" 0 pass "" --ca "$W/carl.pem"
signer rfc4134-4.9-nofrom AliceDSS@example.com
# Outer fields come out with CRLF; the encapsulated content is "\r\n" + ExContent.
outer_of "$W/rfc4134-4.9-nofrom.eml" | sed 's/$/\r/' >"$W/rfc4134-4.9-nofrom-unwrapped.outer"
expect rfc4134-4.9-nofrom-unwrapped "$W/crlf-excontent.bin"
open_case rfc4134-4.9-nofrom-unwrapped "$W/rfc4134-4.9-nofrom.eml" 0 pass "" \
	--ca "$W/carl.pem" --remove-signature
content rfc4134-4.9-nofrom-unwrapped

# 4.11: certs-only. Nothing to verify: neutral, exit 0, left as it is.
wrap rfc4134-4.11 certs-only "$K/4.11.bin"
open_case rfc4134-4.11 "$W/rfc4134-4.11.eml" 0 neutral "" --ca "$W/carl.pem"
unchanged rfc4134-4.11 "$W/rfc4134-4.11.eml"
same "rfc4134-4.11: an S/MIME message" "$(ar_msgflag "$W/rfc4134-4.11.out")" 1

# 5.x: enveloped to Bob, whose RSA-1024 key cannot be imported (above):
# no identity is a recipient.
for f in 5.1 5.2; do
	wrap "rfc4134-$f" enveloped-data "$K/$f.bin"
	open_case "rfc4134-$f" "$W/rfc4134-$f.eml" 1 permerror "$NOKEY"
	unchanged "rfc4134-$f" "$W/rfc4134-$f.eml"
done
open_case rfc4134-5.3.eml "$K/5.3.eml" 1 permerror "$NOKEY"
unchanged rfc4134-5.3.eml "$K/5.3.eml"

# 7.x EncryptedData (no recipients at all; the RFC does not publish the
# key): must fail cleanly. There is no smime-type for EncryptedData: sent
# as plain application/pkcs7-mime, and mislabelled as enveloped-data.
for f in 7.1 7.2; do
	wrap "rfc4134-$f" - "$K/$f.bin"
	outcome "rfc4134-$f" "$W/rfc4134-$f.eml" 1 permerror 1
	unchanged "rfc4134-$f" "$W/rfc4134-$f.eml"
	wrap "rfc4134-$f-as-enveloped" enveloped-data "$K/$f.bin"
	open_case "rfc4134-$f-as-enveloped" "$W/rfc4134-$f-as-enveloped.eml" 1 permerror \
		"unsupported CMS content type pkcs7-encryptedData (smimegw opens signed, enveloped and authEnveloped data)"
	unchanged "rfc4134-$f-as-enveloped" "$W/rfc4134-$f-as-enveloped.eml"
done

# 3.x (id-data) and 6.0 (DigestedData): CMS content types smimegw does
# not open: an S/MIME message that fails (permerror), left unchanged.
for f in 3.1 3.2 6.0; do
	wrap "rfc4134-$f" - "$K/$f.bin"
	outcome "rfc4134-$f" "$W/rfc4134-$f.eml" 1 permerror 1
	unchanged "rfc4134-$f" "$W/rfc4134-$f.eml"
done

# ================================================================ RFC 9216
wrap rfc9216-signedByAliceRSA signed-data "$RB/signedByAliceRSA.p7m" alice@smime.example
signed_ok rfc9216-signedByAliceRSA "$W/rfc9216-signedByAliceRSA.eml" alice@smime.example \
	"$EX" --ca "$W/lamps-rsa.pem"
wrap rfc9216-signedByAliceRSAPSS signed-data "$RB/signedByAliceRSAPSS.p7m" alice@smime.example
signed_ok rfc9216-signedByAliceRSAPSS "$W/rfc9216-signedByAliceRSAPSS.eml" alice@smime.example \
	"$EX" --ca "$W/lamps-rsa.pem"
# Negative control: Alice's signature under the Ed25519 CA only.
open_case rfc9216-signedByAliceRSA-ed-ca "$W/rfc9216-signedByAliceRSA.eml" 1 fail \
	"signer certificate not trusted (Verify error: unable to get local issuer certificate)" \
	--ca "$W/lamps-ed.pem"

# Ed25519 (OpenSSL 3.0 cannot verify Ed25519 CMS): fail cleanly, with
# the right trust anchor given.
wrap rfc9216-signedByCarlosEd25519 signed-data "$RB/signedByCarlosEd25519.p7m" carlos@smime.example
open_case rfc9216-signedByCarlosEd25519 "$W/rfc9216-signedByCarlosEd25519.eml" 1 fail \
	"signature verification failed (invalid digest)" --ca "$W/lamps-ed.pem"
unchanged rfc9216-signedByCarlosEd25519 "$W/rfc9216-signedByCarlosEd25519.eml"
detached rfc9216-signedByCarlosDetached "$EX" "$RB/signedByCarlosDetached.p7m" sha-512 \
	carlos@smime.example
outcome rfc9216-signedByCarlosDetached "$W/rfc9216-signedByCarlosDetached.eml" 1 fail 1 \
	--ca "$W/lamps-ed.pem"
# The content is intact: the reason must not blame the transport.
same "rfc9216-signedByCarlosDetached: reason does not claim alteration" \
	"$(ar_reason "$W/rfc9216-signedByCarlosDetached.out" | grep -c 'altered')" 0
unchanged rfc9216-signedByCarlosDetached "$W/rfc9216-signedByCarlosDetached.eml"
# Two signers, no certificates in the message: nothing to verify with.
wrap rfc9216-signedByAliceAndCarlosNoCerts signed-data "$RB/signedByAliceAndCarlosNoCerts.p7m"
open_case rfc9216-signedByAliceAndCarlosNoCerts "$W/rfc9216-signedByAliceAndCarlosNoCerts.eml" \
	1 fail "the signer's certificate is neither in the message nor known" --ca "$W/lamps.pem"
unchanged rfc9216-signedByAliceAndCarlosNoCerts "$W/rfc9216-signedByAliceAndCarlosNoCerts.eml"

# Enveloped to Bob: both use RSA-OAEP with SHA-256 (the second also has
# a kari for Dana). SoftHSM 2.6.1 does OAEP with SHA-1 only and libp11
# then falls back to raw RSA, which the strict profile forbids (as
# tests/integration/message.sh documents): there they fail cleanly.
for f in encryptedForBobRSAOaep encryptedForBobAndDana; do
	wrap "rfc9216-$f" enveloped-data "$RB/$f.p7m"
	if [ "$PROFILE" = strict ]; then
		open_case "rfc9216-$f" "$W/rfc9216-$f.eml" 1 permerror \
			"decryption failed: wrong key, damaged message, or a key-transport mechanism the token refuses"
		unchanged "rfc9216-$f" "$W/rfc9216-$f.eml"
		continue
	fi
	expect "rfc9216-$f" "$EX"
	open_case "rfc9216-$f" "$W/rfc9216-$f.eml" 0 none ""
	content "rfc9216-$f"
	same "rfc9216-$f: decrypted" \
		"$(resfields "$W/rfc9216-$f.out" | grep -o 'decrypted=[0-9]*')" decrypted=1
done
# ChaCha20-Poly1305 to Bob: Bob's key is there, the cipher is not.
wrap rfc9216-authEnvelopedForBobChaCha20Poly1305 authEnveloped-data \
	"$RB/authEnvelopedForBobChaCha20Poly1305.p7m"
open_case rfc9216-authEnvelopedForBobChaCha20Poly1305 \
	"$W/rfc9216-authEnvelopedForBobChaCha20Poly1305.eml" 1 permerror \
	"decryption failed: wrong key, damaged message, or a key-transport mechanism the token refuses"
unchanged rfc9216-authEnvelopedForBobChaCha20Poly1305 \
	"$W/rfc9216-authEnvelopedForBobChaCha20Poly1305.eml"
# X25519 to Dana (refused import above); KEK recipient (no KEK support).
wrap rfc9216-authEnvelopedForDanaX25519HKDF authEnveloped-data \
	"$RB/authEnvelopedForDanaX25519HKDF.p7m"
open_case rfc9216-authEnvelopedForDanaX25519HKDF \
	"$W/rfc9216-authEnvelopedForDanaX25519HKDF.eml" 1 permerror "$NOKEY"
unchanged rfc9216-authEnvelopedForDanaX25519HKDF "$W/rfc9216-authEnvelopedForDanaX25519HKDF.eml"
wrap rfc9216-encryptedKekri enveloped-data "$RB/encryptedKekri.p7m"
open_case rfc9216-encryptedKekri "$W/rfc9216-encryptedKekri.eml" 1 permerror "$NOKEY"
unchanged rfc9216-encryptedKekri "$W/rfc9216-encryptedKekri.eml"

# The PEM copies are the same objects as the DER ones.
for f in "$R"/pem-encoded/*.pem; do
	n=$(basename "$f" .pem)
	grep -v -- '-----' "$f" | base64 -d >"$W/$n.pem.der"
	ok "rfc9216 pem-encoded/$n.pem is binary-files/$n.p7m" cmp -s "$W/$n.pem.der" "$RB/$n.p7m"
done

# ================================================================ OpenSSL
# Bad signed attributes, signed 2013 by an older smrsa1 under an older
# root: refused. smimegw has no signature-only mode and verifies the
# chain first, so the reason is the chain (see README).
for f in bad_signtime_attr no_ct_attr no_md_attr ct_multiple_attr; do
	wrap "openssl-$f" signed-data "$OD/$f.cms"
	open_case "openssl-$f" "$W/openssl-$f.eml" 1 fail \
		"signer certificate not trusted (Verify error: unable to get local issuer certificate)" \
		--ca "$W/smroot.pem"
	unchanged "openssl-$f" "$W/openssl-$f.eml"
done
# Trusting the old signer certificate itself: it expired in 2023.
openssl pkcs7 -inform DER -in "$OD/no_ct_attr.cms" -print_certs -out "$W/old-smrsa1.pem"
open_case openssl-no_ct_attr-signer-trusted "$W/openssl-no_ct_attr.eml" 1 fail \
	"signer certificate not trusted (Verify error: certificate has expired)" \
	--ca "$W/old-smrsa1.pem"

# The S/MIME test PKI. smrsa1024 "should be refused by a modern policy":
# as an identity it is. csrsa1 (codeSigning EKU) must be rejected by a
# verifier that requires emailProtection; smrsa1 is the control. Both
# sign a detached message with openssl cms at test time.
p12 smrsa1024 "$O/smime-certs/smrsa1024.pem" "$O/smime-certs/smrsa1024.pem"
refused "import OpenSSL smrsa1024: refused" \
	"smimegw cert import: certificate does not meet the requirements: key: RSA-1024 is too small (minimum 2048)" \
	gw cert import smrsa1024 --p12 "$W/smrsa1024.p12" --passphrase-file "$T/pw"
printf 'Content-Type: text/plain\r\n\r\nsigned by the OpenSSL test PKI' >"$W/entity.txt"
for s in smrsa1 csrsa1; do
	openssl cms -sign -binary -in "$W/entity.txt" -signer "$O/smime-certs/$s.pem" \
		-outform DER -out "$W/$s.sig"
	detached "openssl-signed-by-$s" "$W/entity.txt" "$W/$s.sig" sha-256
done
signed_ok openssl-signed-by-smrsa1 "$W/openssl-signed-by-smrsa1.eml" "Test S/MIME EE RSA #1" \
	"$W/entity.txt" --ca "$W/smroot.pem"
open_case openssl-signed-by-csrsa1 "$W/openssl-signed-by-csrsa1.eml" 1 fail \
	"signer certificate not trusted (Verify error: unsuitable certificate purpose)" \
	--ca "$W/smroot.pem"
unchanged openssl-signed-by-csrsa1 "$W/openssl-signed-by-csrsa1.eml"

# ciphertext_from_1_1_1.cms: an S/MIME message (LF line ends) to smec3,
# whose import is refused above.
open_case openssl-ciphertext_from_1_1_1 "$OD/ciphertext_from_1_1_1.cms" 1 permerror "$NOKEY"
unchanged openssl-ciphertext_from_1_1_1 "$OD/ciphertext_from_1_1_1.cms"

# MD4: the PKCS#7 PEM files as DER in a MIME wrapper.
grep -v -- '-----' "$OD/pkcs7-md4.pem" | base64 -d >"$W/pkcs7-md4.der"
grep -v -- '-----' "$OD/pkcs7-md4-encrypted.pem" | base64 -d >"$W/pkcs7-md4-encrypted.der"
wrap openssl-pkcs7-md4 signed-data "$W/pkcs7-md4.der"
# Signed by "server.example" (serverAuth only) under test/certs' CA.
open_case openssl-pkcs7-md4 "$W/openssl-pkcs7-md4.eml" 1 fail \
	"signer certificate not trusted (Verify error: unsuitable certificate purpose)" \
	--ca "$W/ossl-certs.pem"
unchanged openssl-pkcs7-md4 "$W/openssl-pkcs7-md4.eml"
open_case openssl-pkcs7-md4-no-ca "$W/openssl-pkcs7-md4.eml" 1 fail \
	"signer certificate not trusted (Verify error: unable to get local issuer certificate)"
# signedAndEnveloped (PKCS#7 only, no CMS/S-MIME type): must fail cleanly.
wrap openssl-pkcs7-md4-encrypted - "$W/pkcs7-md4-encrypted.der"
outcome openssl-pkcs7-md4-encrypted "$W/openssl-pkcs7-md4-encrypted.eml" 1 permerror 1
unchanged openssl-pkcs7-md4-encrypted "$W/openssl-pkcs7-md4-encrypted.eml"
wrap openssl-pkcs7-md4-encrypted-as-enveloped enveloped-data "$W/pkcs7-md4-encrypted.der"
open_case openssl-pkcs7-md4-encrypted-as-enveloped \
	"$W/openssl-pkcs7-md4-encrypted-as-enveloped.eml" 1 permerror \
	"unsupported CMS content type pkcs7-signedAndEnvelopedData (smimegw opens signed, enveloped and authEnveloped data)"

finish
