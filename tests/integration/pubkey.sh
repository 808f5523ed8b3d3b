#!/usr/bin/env bash
# smimegw pubkey: every command, bad input (each refusal with its reason),
# the recipient lookup precedence, encrypt --to ADDRESS checked by openssl
# cms, export/import (all or nothing), and two writers at once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki.sh"
setup_token
mkca "$T/ca" "Partner CA"
GOOD="basicConstraints=critical,CA:FALSE;extendedKeyUsage=emailProtection"
ENC_RSA="keyUsage=critical,digitalSignature,keyEncipherment"
ENC_EC="keyUsage=critical,digitalSignature,keyAgreement"
ts() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
ec() { mkee "$T/ca" "$1" ec:P-256 "$GOOD;$ENC_EC;subjectAltName=$2" ${3:+"$3"} ${4:+"$4"}; }

mkee "$T/ca" bob rsa:2048 "$GOOD;$ENC_RSA;subjectAltName=email:bob@partner.example"
ec carol email:carol@partner.example
mkee "$T/ca" signonly ec:P-256 "$GOOD;keyUsage=critical,digitalSignature;subjectAltName=email:s@partner.example"
mkee "$T/ca" kawrong rsa:2048 "$GOOD;keyUsage=critical,keyAgreement;subjectAltName=email:k@partner.example"
mkee "$T/ca" ekuserver ec:P-256 "basicConstraints=critical,CA:FALSE;extendedKeyUsage=serverAuth;$ENC_EC;subjectAltName=email:e@partner.example"
ec old email:o@partner.example 20200101000000Z 20210101000000Z
ec future email:f@partner.example "$(ts '+10 days')" "$(ts '+40 days')"
# Precedence: one domain with every kind of match.
ec p-email email:alice@prec.example
ec p-dom DNS:prec.example
ec p-wild DNS:*.prec.example
ec p-sub DNS:sub.prec.example
ec w-wild DNS:*.w.example
ec mixed email:Dora@Mixed.Example
ec n-old email:n@n.example "$(ts '-30 days')" "$(ts '+300 days')"
ec n-new email:n@n.example "$(ts '-1 day')" "$(ts '+200 days')"
ec n-expired email:n@n.example "$(ts '-1 hour')" "$(ts '-1 minute')"
ec n-future email:n@n.example "$(ts '+1 day')" "$(ts '+400 days')"
mkee "$T/ca" n-sign ec:P-256 "$GOOD;keyUsage=critical,digitalSignature;subjectAltName=email:n@n.example" \
	"$(ts '-2 hours')" "$(ts '+100 days')"

gw_stdin() { local f=$1; shift; gw "$@" <"$f"; }
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }
export_store() { gw pubkey export "$1" >/dev/null; }

# unchanged NAME : the store's export equals $T/before.txt byte for byte.
unchanged() {
	export_store "$T/after.txt"
	ok "$1" cmp "$T/before.txt" "$T/after.txt"
}

# picks NAME ADDRESS KEY KIND : the lookup of ADDRESS chooses KEY by KIND.
picks() {
	if gw pubkey lookup "$2" >"$T/out" 2>"$T/err" &&
		grep -Eq "^Key: +$3\$" "$T/out" &&
		grep -Eq "^Match: +$4 " "$T/out"; then
		PASSED=$((PASSED + 1))
		echo "ok   $1"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL $1 (wanted key $3 by $4)"
		sed 's/^/     | /' "$T/out" "$T/err" | head -20
	fi
}

# ---- add --------------------------------------------------------------------
ok "add from a file" gw pubkey add bob "$T/bob.pem"
has "add reports the capabilities" "$T/out" "added public key 'bob' (encrypt,verify)"
matches "add prints the requirement checks" "$T/out" "^  pass  key-usage-encrypt "
ok "add from standard input" gw_stdin "$T/carol.pem" pubkey add carol
ok "add from '-'" gw_stdin "$T/p-email.pem" pubkey add p-email -
ok "add a verify-only certificate" gw pubkey add signonly "$T/signonly.pem"
has "verify-only capabilities" "$T/out" "added public key 'signonly' (verify)"
refused "wrong key usage (RSA with keyAgreement only)" \
	"key usage: the certificate can neither encrypt (keyUsage needs keyEncipherment for an RSA key) nor verify (digitalSignature); it has: keyAgreement" \
	gw pubkey add kawrong "$T/kawrong.pem"
refused "extended key usage without emailProtection" \
	"extended-key-usage: serverAuth only, emailProtection required" \
	gw pubkey add ekuserver "$T/ekuserver.pem"
refused "expired certificate" "the certificate is expired on 2021-01-01 00:00:00 UTC (--allow-expired stores it anyway" \
	gw pubkey add old "$T/old.pem"
refused "not yet valid certificate" "the certificate is not yet valid until" \
	gw pubkey add future "$T/future.pem"
ok "expired certificate with --allow-expired" gw pubkey add old "$T/old.pem" --allow-expired
matches "expired key is shown as never used" "$T/out" "^Status: +EXPIRED on 2021-01-01 00:00:00 UTC: never used to encrypt$"
ok "not yet valid certificate with --allow-expired" gw pubkey add --allow-expired future "$T/future.pem"

sed '5s/^..../!!!!/' "$T/bob.pem" >"$T/bad-b64.pem"
refused "malformed PEM: not base64" "bad-b64.pem:5: not a base64 line inside a certificate" \
	gw pubkey add x "$T/bad-b64.pem"
sed '4,8d' "$T/bob.pem" >"$T/short.pem"
refused "malformed PEM: truncated DER" "short.pem:1: the block does not hold an X.509 certificate" \
	gw pubkey add x "$T/short.pem"
grep -v -- '-----END' "$T/bob.pem" >"$T/noend.pem"
refused "malformed PEM: no END line" "noend.pem:1: the certificate begun here has no END line" \
	gw pubkey add x "$T/noend.pem"
refused "a private key instead of a certificate" \
	"bob.key:1: a private key (BEGIN PRIVATE KEY): public keys take the partner's certificate only" \
	gw pubkey add x "$T/bob.key"
cat "$T/bob.pem" "$T/bob.key" >"$T/bob-with-key.pem"
refused "a certificate bundled with its private key" "a private key (BEGIN PRIVATE KEY)" \
	gw pubkey add x "$T/bob-with-key.pem"
openssl pkey -in "$T/bob.key" -pubout -out "$T/bob.pub"
refused "a bare public key" "a 'PUBLIC KEY' block: only CERTIFICATE blocks are accepted" \
	gw pubkey add x "$T/bob.pub"
openssl x509 -in "$T/bob.pem" -outform DER -out "$T/bob.der"
refused "DER instead of PEM" "a NUL byte: not a text file (a DER certificate?" \
	gw pubkey add x "$T/bob.der"
cat "$T/bob.pem" "$T/carol.pem" >"$T/two.pem"
refused "two certificates in one file" "a second certificate (the first began on line 1)" \
	gw pubkey add x "$T/two.pem"
echo "just some text" >"$T/text.pem"
refused "no certificate at all" "text.pem: no PEM certificate found" gw pubkey add x "$T/text.pem"
: >"$T/empty.pem"
refused "empty file" "empty.pem: empty input" gw pubkey add x "$T/empty.pem"
refused "missing file" "nothere.pem: No such file or directory" gw pubkey add x "$T/nothere.pem"
refused "duplicate name" "a public key named 'bob' already exists" gw pubkey add bob "$T/carol.pem"
refused "invalid name" "NAME: 'bad name' must be 1-64 letters" gw pubkey add "bad name" "$T/carol.pem"
refused "name starting with a dot" "NAME: '.x' must be" gw pubkey add .x "$T/carol.pem"
refused "add without NAME is a usage error" "missing NAME [FILE]" gw pubkey add
same "usage errors exit 2" "$(gw pubkey add 2>/dev/null; echo $?)" 2
refused "an option of another subcommand" "option '--replace' does not apply to 'pubkey add'" \
	gw pubkey add x "$T/carol.pem" --replace
refused "unknown subcommand" "unknown subcommand 'frobnicate'" gw pubkey frobnicate
same "refusals exit 1" "$(gw pubkey add bob "$T/carol.pem" 2>/dev/null; echo $?)" 1

for k in p-dom p-wild p-sub w-wild mixed n-old n-new n-sign; do
	gw pubkey add "$k" "$T/$k.pem" >/dev/null || echo "setup: adding $k failed" >&2
done
for k in n-expired n-future; do
	gw pubkey add --allow-expired "$k" "$T/$k.pem" >/dev/null || echo "setup: adding $k failed" >&2
done

# ---- list, show, search, delete ------------------------------------------------
ok "list" gw pubkey list
matches "list header" "$T/out" "^NAME +USE +NOT AFTER +STATE +SOURCE +ADDRESSES$"
matches "list: bob" "$T/out" "^bob +encrypt,verify +[0-9-]{10} +valid +added +bob@partner.example$"
matches "list: verify-only key" "$T/out" "^signonly +verify +"
matches "list: expired key" "$T/out" "^old +encrypt,verify +2021-01-01 +expired +added +o@partner.example$"
matches "list: not yet valid key" "$T/out" "^future +encrypt,verify +[0-9-]{10} +not-yet-valid "
same "list: one line per key, in name order" "$(sed 1d "$T/out" | awk '{print $1}' | tr '\n' ' ')" \
	"bob carol future mixed n-expired n-future n-new n-old n-sign old p-dom p-email p-sub p-wild signonly w-wild "
ok "show" gw pubkey show bob
matches "show: name" "$T/out" "^Name: +bob$"
matches "show: capabilities" "$T/out" "^Capabilities: +encrypt,verify$"
matches "show: validity" "$T/out" "^Status: +valid until "
matches "show: allow-expired flag" "$T/out" "^Allow expired: +no$"
matches "show: source" "$T/out" "^Source: +added$"
matches "show: certificate facts" "$T/out" "^SAN email: +bob@partner.example$"
matches "show: requirement checks as a partner" "$T/out" "^Requirements \(partner, both\):$"
matches "show: requirement result" "$T/out" "^  pass  extended-key-usage +emailProtection$"
gw pubkey show old >"$T/old.show"
matches "show: expired key keeps its flag" "$T/old.show" "^Allow expired: +yes$"
matches "show: expired key fails validity" "$T/old.show" "^  fail  validity +expired on 2021-01-01"
refused "show an unknown key" "no public key named 'nobody'" gw pubkey show nobody

ok "search by name" gw pubkey search CAR
same "search by name finds carol" "$(sed 1d "$T/out" | awk '{print $1}')" carol
ok "search by subject" gw pubkey search "CN=bob.example.com"
same "search by subject finds bob" "$(sed 1d "$T/out" | awk '{print $1}')" bob
ok "search by SAN email" gw pubkey search s@partner.example
same "search by SAN email finds signonly" "$(sed 1d "$T/out" | awk '{print $1}')" signonly
ok "search by SAN domain" gw pubkey search sub.prec.example
same "search by domain: the exact and the wildcard SAN" "$(sed 1d "$T/out" | awk '{print $1}' | tr '\n' ' ')" "p-sub p-wild "
BOBFP=$(fp "$T/bob.pem")
ok "search by fingerprint with colons" gw pubkey search "${BOBFP:0:23}"
same "fingerprint finds bob" "$(sed 1d "$T/out" | awk '{print $1}')" bob
ok "search by fingerprint, lower-case hex" gw pubkey search "$(echo "${BOBFP:0:23}" | tr -d : | tr A-F a-f)"
same "hex fingerprint finds bob" "$(sed 1d "$T/out" | awk '{print $1}')" bob
ok "search an address covered by a wildcard" gw pubkey search x.w.example
same "wildcard coverage finds w-wild" "$(sed 1d "$T/out" | awk '{print $1}')" w-wild
refused "search without a match" "no public key matches 'zzz'" gw pubkey search zzz

ok "delete" gw pubkey delete carol
has "delete confirms" "$T/out" "deleted public key 'carol'"
gw pubkey list >"$T/list2"
same "deleted key is gone" "$(grep -c '^carol ' "$T/list2")" 0
refused "delete an unknown key" "no public key named 'carol'" gw pubkey delete carol
ok "add again after delete" gw pubkey add carol "$T/carol.pem"

# ---- lookup precedence ---------------------------------------------------------------
picks "exact email beats domain and wildcard" alice@prec.example p-email email
picks "domain when no email matches" other@prec.example p-dom domain
picks "domain beats wildcard" x@sub.prec.example p-sub domain
picks "wildcard covers one more label" x@other.prec.example p-wild wildcard
refused "wildcard covers only one label" "no public key for x@a.b.w.example" \
	gw pubkey lookup x@a.b.w.example
refused "wildcard does not match the bare domain" \
	"no public key for x@w.example: no key names the address, its domain or a wildcard over it" \
	gw pubkey lookup x@w.example
picks "wildcard, domain in another case" x@A.W.EXAMPLE w-wild wildcard
picks "domain is case-insensitive" alice@PREC.Example p-email email
picks "domain with a trailing dot" alice@prec.example. p-email email
picks "local part ignores case (address_local_part = insensitive)" ALICE@prec.example p-email email
picks "SAN with mixed case matches its exact local part" Dora@mixed.example mixed email
picks "SAN with mixed case matches the local part in another case" dora@mixed.example mixed email
picks "newest valid key wins" n@n.example n-new email
matches "lookup names the matched SAN" "$T/out" "^Match: +email n@n.example$"
refused "verify-only key is never used to encrypt" \
	"no usable public key for s@partner.example: 1 key covers it but cannot encrypt now: 'signonly' (verify: no encryption key usage)" \
	gw pubkey lookup s@partner.example
refused "expired key is never used, even stored with --allow-expired" \
	"no usable public key for o@partner.example: 1 key covers it but cannot encrypt now: 'old' (expired on 2021-01-01 00:00:00 UTC)" \
	gw pubkey lookup o@partner.example
refused "not yet valid key is never used" "'future' (not valid before" \
	gw pubkey lookup f@partner.example
refused "not an address" "'nobody' is not an email address" gw pubkey lookup nobody
gw pubkey delete n-new >/dev/null
picks "without the newest, the older valid key" n@n.example n-old email
gw pubkey add n-new "$T/n-new.pem" >/dev/null

# ---- encrypt --to ADDRESS ------------------------------------------------------------
M=$T/m.eml
printf '%s\r\n' "From: alice@example.com" "To: bob@partner.example" "Subject: lookup" \
	"Date: Sat, 28 Nov 2026 10:00:00 +0000" "Message-ID: <k1@example.com>" \
	"Content-Type: text/plain" "" "encrypted to a stored public key" >"$M"
ok "encrypt --to an address with a public key" gw message encrypt --to bob@partner.example -i "$M" -o "$T/e1.eml"
ok "openssl decrypts with the partner's key" openssl cms -decrypt -in "$T/e1.eml" \
	-recip "$T/bob.pem" -inkey "$T/bob.key" -out "$T/e1.dec"
has "decrypted text" "$T/e1.dec" "encrypted to a stored public key"
ok "encrypt --to an address covered by the newest key" gw message encrypt --to n@n.example -i "$M" -o "$T/e2.eml"
ok "the newest key decrypts" openssl cms -decrypt -in "$T/e2.eml" -recip "$T/n-new.pem" \
	-inkey "$T/n-new.key" -out /dev/null
refused "an older key does not" "" openssl cms -decrypt -in "$T/e2.eml" -recip "$T/n-old.pem" \
	-inkey "$T/n-old.key" -out /dev/null
ok "encrypt --to a wildcard-covered address (EC)" gw message encrypt --to someone@x.prec.example -i "$M" -o "$T/e3.eml"
ok "the wildcard key decrypts" openssl cms -decrypt -in "$T/e3.eml" -recip "$T/p-wild.pem" \
	-inkey "$T/p-wild.key" -out /dev/null
ok "encrypt to a file and an address together" gw message encrypt --to "$T/bob.pem" \
	--to carol@partner.example -i "$M" -o "$T/e4.eml"
ok "the address recipient decrypts" openssl cms -decrypt -in "$T/e4.eml" -recip "$T/carol.pem" \
	-inkey "$T/carol.key" -out /dev/null
cp "$T/bob.pem" "$T/carol@partner.example"
ok "a file named like the address wins over the lookup" \
	bash -c 'cd "$1" && shift && "$@"' _ "$T" "$SMIMEGW" -c "$T/smimegw.conf" \
	message encrypt --to carol@partner.example -i "$M" -o "$T/e5.eml"
ok "... so bob's key decrypts it" openssl cms -decrypt -in "$T/e5.eml" -recip "$T/bob.pem" \
	-inkey "$T/bob.key" -out /dev/null
rm -f "$T/carol@partner.example"
refused "encrypt --to an address without a key" "--to: no public key for nobody@nowhere.example" \
	gw message encrypt --to nobody@nowhere.example -i "$M"
refused "encrypt --to an address with only an expired key" \
	"--to: no usable public key for o@partner.example" \
	gw message encrypt --to o@partner.example -i "$M"
refused "a name that is neither file, identity nor address" "--to: 'nobody' is neither a file nor an identity" \
	gw message encrypt --to nobody -i "$M"

# ---- export -----------------------------------------------------------------------------
ok "export to a file" gw pubkey export "$T/exp1.txt"
has "export reports the count" "$T/out" "exported 16 public keys to $T/exp1.txt"
same "export header" "$(head -1 "$T/exp1.txt")" "smimegw-pubkeys 1"
same "one entry per key" "$(grep -c '^name: ' "$T/exp1.txt")" 16
same "one certificate per key" "$(grep -c -- '-----BEGIN CERTIFICATE-----' "$T/exp1.txt")" 16
same "allow-expired kept for the keys stored with it" "$(grep -c '^allow-expired: yes$' "$T/exp1.txt")" 4
gw pubkey export - >"$T/exp-stdout.txt"
ok "export to stdout equals the file" cmp "$T/exp1.txt" "$T/exp-stdout.txt"
export_store "$T/exp1b.txt"
ok "two exports are byte-identical" cmp "$T/exp1.txt" "$T/exp1b.txt"
refused "export into a missing directory" "No such file or directory" gw pubkey export "$T/no/dir/x.txt"

# ---- import ---------------------------------------------------------------------------------
sed 's#^data_dir = data$#data_dir = data2#' "$T/smimegw.conf" >"$T/other.conf"
gw2() { ${WRAP:-} "$SMIMEGW" -c "$T/other.conf" "$@"; }
ok "import into an empty store" gw2 pubkey import "$T/exp1.txt"
has "import summary" "$T/out" "imported 16 keys: 16 added, 0 replaced, 0 duplicates skipped"
matches "import reports each key with its line" "$T/out" "^added +bob \(line [0-9]+\)$"
gw2 pubkey export "$T/exp2.txt" >/dev/null
ok "round trip: the imported store exports the same text" cmp "$T/exp1.txt" "$T/exp2.txt"
gw2 pubkey show bob >"$T/imp.show"
matches "imported keys say so" "$T/imp.show" "^Source: +imported$"

cp "$T/exp1.txt" "$T/before.txt"
ok "re-import: every key a duplicate" gw pubkey import "$T/exp1.txt"
matches "duplicates reported by name" "$T/out" "^duplicate +bob \(line [0-9]+\): same certificate already stored, skipped$"
has "duplicate summary" "$T/out" "imported 16 keys: 0 added, 0 replaced, 16 duplicates skipped"
unchanged "duplicates change nothing"

entry() { printf 'name: %s\n' "$1"; cat "$2"; }
{ echo "smimegw-pubkeys 1"; entry zz-new "$T/carol.pem"; entry bob "$T/carol.pem"
  entry p-dom "$T/p-sub.pem"; } >"$T/conflict.txt"
# lineof FILE ERE : the number of the last line of FILE matching ERE.
lineof() { grep -nE -- "$2" "$1" | tail -1 | cut -d: -f1; }
L=$(lineof "$T/conflict.txt" '^name: bob$')
refused "conflicts refuse the whole import" \
	"2 names are already stored with a different certificate; nothing was imported (--replace overwrites them)" \
	gw pubkey import "$T/conflict.txt"
matches "conflict reported by name and line" "$T/err" "conflict: 'bob' \(line $L\): a different certificate is stored under this name"
matches "every conflict is reported" "$T/err" "conflict: 'p-dom' \(line "
unchanged "a refused import changes nothing (not even its new key)"
ok "import --replace" gw pubkey import --replace "$T/conflict.txt"
matches "replaced reported" "$T/out" "^replaced +bob \(line $L\)$"
has "replace summary" "$T/out" "imported 3 keys: 1 added, 2 replaced, 0 duplicates skipped"
gw pubkey show bob >"$T/bob.show"
matches "bob now holds the imported certificate" "$T/bob.show" "^SHA-256 fingerprint: +$(fp "$T/carol.pem")$"
gw pubkey import --replace "$T/before.txt" >/dev/null
gw pubkey delete zz-new >/dev/null
unchanged "restored from the export"

# broken FILE MESSAGE : importing FILE is refused saying MESSAGE and changes nothing.
broken() {
	refused "broken import: $1" "$3" gw pubkey import "$2"
	unchanged "broken import changes nothing: $1"
}
{ echo "smimegw-pubkeys 1"; entry fresh1 "$T/future.pem"; echo; entry fresh2 "$T/bad-b64.pem"; } >"$T/b1.txt"
broken "malformed PEM after a good entry" "$T/b1.txt" "b1.txt:$(lineof "$T/b1.txt" '^!!!!'): not a base64 line inside a certificate"
L=$(grep -n -- '-----BEGIN' "$T/exp1.txt" | head -1 | cut -d: -f1)
head -$((L + 3)) "$T/exp1.txt" >"$T/b2.txt"
broken "file cut inside a certificate" "$T/b2.txt" "b2.txt:$L: the certificate of bob begun here has no END line"
echo "smimegw public keys" >"$T/b3.txt"; cat "$T/exp1.txt" >>"$T/b3.txt"
broken "wrong header" "$T/b3.txt" "b3.txt:1: not a smimegw public key export (expected the header 'smimegw-pubkeys 1'"
sed '1s/1$/2/' "$T/exp1.txt" >"$T/b4.txt"
broken "unsupported version" "$T/b4.txt" "b4.txt:1: unsupported format version 'smimegw-pubkeys 2'"
{ echo "smimegw-pubkeys 1"; echo "name: fresh1"; echo "colour: red"; cat "$T/future.pem"; } >"$T/b5.txt"
broken "unknown attribute" "$T/b5.txt" "b5.txt:3: unknown attribute 'colour'"
{ echo "smimegw-pubkeys 1"; entry fresh1 "$T/future.pem"; entry fresh1 "$T/carol.pem"; } >"$T/b6.txt"
broken "a name used twice in the file" "$T/b6.txt" "b6.txt:$(lineof "$T/b6.txt" '^name: fresh1$'): name 'fresh1' already used at line 2"
{ echo "smimegw-pubkeys 1"; echo "name: fresh1"; entry fresh2 "$T/carol.pem"; } >"$T/b7.txt"
broken "an entry without a certificate" "$T/b7.txt" "b7.txt:2: entry 'fresh1' (line 2) has no certificate"
{ echo "smimegw-pubkeys 1"; entry fresh1 "$T/carol.pem"; cat "$T/future.pem"; } >"$T/b8.txt"
broken "a second certificate without a name" "$T/b8.txt" "a certificate without a 'name:' line before it"
{ echo "smimegw-pubkeys 1"; entry fresh1 "$T/bob.key"; } >"$T/b9.txt"
broken "a private key" "$T/b9.txt" "b9.txt:3: a private key (BEGIN PRIVATE KEY)"
{ echo "smimegw-pubkeys 1"; entry fresh1 "$T/carol.pem"; entry kw "$T/kawrong.pem"; } >"$T/b10.txt"
broken "a key with the wrong key usage" "$T/b10.txt" "b10.txt:$(lineof "$T/b10.txt" '^name: kw$'): key 'kw': key usage: the certificate can neither encrypt"
{ echo "smimegw-pubkeys 1"; entry o2 "$T/old.pem"; } >"$T/b11.txt"
broken "an expired key without allow-expired" "$T/b11.txt" "b11.txt:2: key 'o2': the certificate is expired on 2021-01-01"
{ echo "smimegw-pubkeys 1"; entry -bad "$T/carol.pem"; } >"$T/b12.txt"
broken "an invalid name" "$T/b12.txt" "b12.txt:2: '-bad' is not a valid name"
: >"$T/b13.txt"
broken "an empty file" "$T/b13.txt" "b13.txt: empty input"
printf 'smimegw-pubkeys 1\nname: x\0y\n' >"$T/b14.txt"
broken "a NUL byte" "$T/b14.txt" "b14.txt:2: a NUL byte"
{ echo "smimegw-pubkeys 1"; entry fresh1 "$T/carol.pem" | sed 's/CERTIFICATE/PKCS7/'; } >"$T/b15.txt"
broken "another kind of PEM block" "$T/b15.txt" "b15.txt:3: a 'PKCS7' block: only CERTIFICATE blocks are accepted"
refused "import a missing file" "nothere.txt: No such file or directory" gw pubkey import "$T/nothere.txt"
ok "an expired key imports with --allow-expired" gw2 pubkey import --allow-expired "$T/b11.txt"
gw2 pubkey show o2 >"$T/o2.show"
matches "... and is stored flagged" "$T/o2.show" "^Allow expired: +yes$"
refused "import takes one FILE" "unexpected argument" gw pubkey import a b
refused "--allow-expired does not apply to list" "option '--allow-expired' does not apply to 'pubkey list'" \
	gw pubkey list --allow-expired

# ---- pinned public keys verify signatures -------------------------------------------------
# A partner's public key that may verify is trusted as it is (its CA is
# not trusted here), and stands in for a certificate the message lacks.
mkee "$T/ca" zed rsa:2048 "$GOOD;$ENC_RSA;subjectAltName=email:zed@partner.example"
pin_signed() { # KEY FROM OUT [openssl options]
	local key=$1 from=$2 out=$3
	shift 3
	printf 'Content-Type: text/plain\r\n\r\nsigned by %s\r\n' "$key" >"$T/pin.txt"
	{
		printf 'From: %s\r\nSubject: pinned\r\n' "$from"
		openssl cms -sign -signer "$T/$key.pem" -inkey "$T/$key.key" -in "$T/pin.txt" \
			-crlfeol "$@" 2>/dev/null
	} >"$out"
}
gw pubkey show bob >/dev/null 2>&1 || gw pubkey add bob "$T/bob.pem" >/dev/null
pin_signed bob bob@partner.example "$T/pin1.eml"
ok "a signature by a stored public key verifies (its CA untrusted)" \
	gw message open -i "$T/pin1.eml" -o "$T/pin1.out"
matches "... smime=pass" "$T/pin1.out" "smime=pass"
pin_signed bob bob@partner.example "$T/pin2.eml" -nocerts
ok "... also when the message does not carry the certificate" \
	gw message open -i "$T/pin2.eml" -o "$T/pin2.out"
pin_signed zed zed@partner.example "$T/pin3.eml"
refused "a key of the same CA that is not stored is not trusted" "signer certificate not trusted" \
	gw message open -i "$T/pin3.eml" -o "$T/pin3.out"

# ---- two writers at once ------------------------------------------------------------------
mkdir -p "$T/conc"
printf 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=emailProtection\nkeyUsage=critical,digitalSignature,keyAgreement\nsubjectAltName=email:c@conc.example\n' >"$T/conc/ext"
for w in a b; do
	for i in $(seq 1 50); do
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$T/conc/$w$i.key" -subj "/CN=c-$w-$i.conc.example" 2>/dev/null |
			openssl x509 -req -CA "$T/ca/ca.pem" -CAkey "$T/ca/ca.key" \
				-set_serial "$((RANDOM * 32768 + RANDOM))$i" -days 30 \
				-extfile "$T/conc/ext" -out "$T/conc/$w$i.pem" 2>/dev/null
	done
done
writer() {
	local i
	for i in $(seq 1 50); do
		gw pubkey add "c-$1-$i" "$T/conc/$1$i.pem" >/dev/null 2>>"$T/conc/$1.err" ||
			echo "c-$1-$i" >>"$T/conc/$1.failed"
	done
}
writer a &
writer b &
wait
same "concurrent writers: no add failed" "$(cat "$T"/conc/*.failed 2>/dev/null)" ""
gw pubkey list >"$T/conc/list"
same "concurrent writers: all 100 keys are listed" "$(grep -c '^c-[ab]-' "$T/conc/list")" 100
same "concurrent writers: 50 from each" \
	"$(grep -c '^c-a-' "$T/conc/list") $(grep -c '^c-b-' "$T/conc/list")" "50 50"
finish
