#!/usr/bin/env bash
# smimegw config export/import: the whole store (identities' records,
# public keys, trusted CAs, harvested keys, alerts, sending profiles) in
# one file (and the sending profile table).  A round trip into a second gateway (its own store and token,
# identities of the same names, which it keeps) exports the same bytes
# but for its own identities; every refusal (a broken section anywhere,
# the last one included, a conflict) imports nothing; --replace replaces.
# (admin.sh proves the restore of every kind into a fresh store.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki.sh"
setup_token
strict=
[ "$PROFILE" = strict ] && strict=--strict
# A second gateway: its own store and its own token in the same SoftHSM.
"$SRCDIR/hsm-setup/softhsm-token.sh" --dir "$T/tok" --label "${LABEL}b" $strict \
	>/dev/null 2>"$T/tok2.log" || { cat "$T/tok2.log" >&2; exit 1; }
sed "s#^data_dir = data\$#data_dir = data2#; s#^token = .*#token = pkcs11:token=${LABEL}b#" \
	"$T/smimegw.conf" >"$T/other.conf"
gw2() { ${WRAP:-} "$SMIMEGW" -c "$T/other.conf" "$@"; }

GOOD="basicConstraints=critical,CA:FALSE;extendedKeyUsage=emailProtection"
mkca "$T/root" "Root CA"
mkca "$T/other" "Other CA"
mkee "$T/root" bob rsa:2048 "$GOOD;keyUsage=critical,digitalSignature,keyEncipherment;subjectAltName=email:bob@example1.com"
mkee "$T/root" carol ec:P-256 "$GOOD;keyUsage=critical,digitalSignature,keyAgreement;subjectAltName=email:carol@example1.com"
mkee "$T/root" dora ec:P-256 "$GOOD;keyUsage=critical,digitalSignature,keyAgreement;subjectAltName=email:dora@example1.com"
mkee "$T/root" old ec:P-256 "$GOOD;keyUsage=critical,digitalSignature,keyAgreement;subjectAltName=email:old@example1.com" \
	20200101000000Z 20210101000000Z
ROOT=$(openssl x509 -in "$T/root/ca.pem" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)

mkids() { # GW-FUNCTION
	"$1" cert create gw-sign --cn gw.example.com --country DE --days 30 \
		--san-email out@example.com --usage sign >/dev/null &&
		"$1" cert create gw-both --cn gw.example.com --country DE --days 30 \
			--san-email out@example.com --usage both --key ec:p256 >/dev/null ||
		echo "setup: identities for $1 failed" >&2
}
mkids gw
for k in bob carol; do gw pubkey add "$k" "$T/$k.pem" >/dev/null || echo "setup: $k" >&2; done
gw pubkey add --allow-expired old "$T/old.pem" >/dev/null || echo "setup: old" >&2
gw ca add "$T/root/ca.pem" >/dev/null || echo "setup: root CA" >&2
gw ca add "$T/other/ca.pem" >/dev/null || echo "setup: other CA" >&2
gw profile add partners --mode sign-encrypt --cert gw-both --action split >/dev/null &&
	gw profile add signed --mode sign --cert gw-sign --pss --digest sha512 --sign-mode opaque >/dev/null &&
	gw profile add sealed --mode encrypt --action bounce --cipher aes128-gcm --oaep >/dev/null ||
	echo "setup: profiles" >&2
# The sending profile table: two entries, the second inserted first.
gw route add --recipient @Example1.COM. --profile sealed >/dev/null &&
	gw route add --sender boss@example.com --profile signed --position 1 >/dev/null ||
	echo "setup: routes" >&2

# lineof FILE ERE : the number of the last line of FILE matching ERE.
lineof() { grep -nE -- "$2" "$1" | tail -1 | cut -d: -f1; }
# unchanged NAME GW BEFORE : the export of gateway GW equals file BEFORE.
unchanged() {
	"$2" config export "$T/after.txt" >/dev/null
	ok "$1" cmp "$3" "$T/after.txt"
}

# ---- export -----------------------------------------------------------------------
ok "export" gw config export "$T/c1.txt"
has "export reports the counts" "$T/out" \
	"exported 2 identities, 3 public keys, 2 CAs, 0 harvested keys, 0 alerts, 3 sending profiles and 2 table entries to $T/c1.txt"
same "header" "$(head -1 "$T/c1.txt")" "smimegw-config 1"
matches "says that the identities' private keys are not in it" "$T/c1.txt" \
	"^# are not included: they live in the token and never leave it.$"
same "the sections, in order" "$(grep -E '^smimegw-' "$T/c1.txt" | tr '\n' ' ')" \
	"smimegw-config 1 smimegw-identities 1 smimegw-pubkeys 1 smimegw-cas 1 smimegw-harvested 1 smimegw-alerts 1 smimegw-profiles 1 smimegw-routes 1 "
same "one entry per identity, public key and profile" "$(grep -c '^name: ' "$T/c1.txt")" 8
same "a certificate per identity, public key and CA" "$(grep -c -- '-----BEGIN CERTIFICATE-----' "$T/c1.txt")" 7
has "a CA entry says its ID" "$T/c1.txt" "# id: $ROOT"
has "a CA entry says its subject" "$T/c1.txt" "# subject: CN=Root CA"
gw config export - >"$T/c1-stdout.txt"
ok "export to stdout equals the file" cmp "$T/c1.txt" "$T/c1-stdout.txt"
gw config export "$T/c1b.txt" >/dev/null
ok "two exports are byte-identical" cmp "$T/c1.txt" "$T/c1b.txt"
gw pubkey export "$T/pk.txt" >/dev/null
sed -n '/^smimegw-pubkeys 1$/,/^smimegw-cas 1$/p' "$T/c1.txt" | sed '$d' | sed '$d' |
	grep -v '^source: ' >"$T/pk-section.txt"
ok "the public key section is the pubkey export, with each key's source" cmp "$T/pk.txt" "$T/pk-section.txt"
gw profile export "$T/pr.txt" >/dev/null
sed -n '/^smimegw-profiles 1$/,/^smimegw-routes 1$/p' "$T/c1.txt" | sed '$d' | sed '$d' >"$T/pr-section.txt"
ok "the profile section is the profile export" cmp "$T/pr.txt" "$T/pr-section.txt"
sed -n '/^smimegw-routes 1$/,$p' "$T/c1.txt" | grep -v '^#' >"$T/rt-section.txt"
printf 'smimegw-routes 1\n\nsender: boss@example.com\nprofile: signed\n\nrecipient: @example1.com\nprofile: sealed\n' >"$T/rt-want.txt"
ok "the table section: the entries in order, the domain as stored" cmp "$T/rt-want.txt" "$T/rt-section.txt"
refused "--replace does not apply to export" "option '--replace' does not apply to 'config export'" \
	gw config export "$T/x.txt" --replace
refused "export needs FILE" "missing FILE" gw config export
ok "config check still works" gw config check
has "config check says OK" "$T/out" "$T/smimegw.conf: OK"
ok "config show still works" gw config show
refused "unknown config subcommand" "unknown subcommand 'frob'" gw config frob

# ---- import into a second gateway ---------------------------------------------------------
# noids FILE : the export without its identity section.
noids() { sed '/^smimegw-identities 1$/,/^smimegw-pubkeys 1$/{/^smimegw-pubkeys 1$/!d}' "$1"; }
mkids gw2
ok "import into the second gateway" gw2 config import "$T/c1.txt"
matches "its own identities are kept" "$T/out" "^kept +identity +gw-both \(line $(lineof "$T/c1.txt" '^name: gw-both$')\)$"
matches "... and it says so" "$T/err" "warning: identity 'gw-sign': this gateway has a different identity of that name: kept, not replaced"
matches "a public key added, with its line" "$T/out" "^added +pubkey +bob \(line $(lineof "$T/c1.txt" '^name: bob$')\)$"
matches "a CA added, with its ID and subject" "$T/out" "^added +ca +${ROOT:0:16} CN=Root CA \(line [0-9]+\)$"
matches "a profile added" "$T/out" "^added +profile +signed \(line $(lineof "$T/c1.txt" '^name: signed$')\)$"
matches "the table added, as one object" "$T/out" "^added +routes +2 entries \(line $(lineof "$T/c1.txt" '^smimegw-routes 1$')\)$"
has "summary" "$T/out" "imported 11 objects: 9 added, 0 replaced, 0 duplicates skipped, 2 identities of this gateway kept"
gw2 route list >"$T/rl2"
matches "the table travels in order: 1" "$T/rl2" "^1 +sender +boss@example.com +signed +ok$"
matches "the table travels in order: 2" "$T/rl2" "^2 +recipient +@example1.com +sealed +ok$"
gw2 config export "$T/c2.txt" >/dev/null
ok "round trip: the second gateway exports the same bytes but for its identities" \
	cmp <(noids "$T/c1.txt") <(noids "$T/c2.txt")
gw2 pubkey show old >"$T/old.show"
matches "allow-expired travels with the key" "$T/old.show" "^Allow expired: +yes$"
gw2 profile show signed >"$T/signed.show"
matches "a profile's settings travel" "$T/signed.show" "^Digest: +sha512$"
ok "re-import: every object a duplicate" gw2 config import "$T/c1.txt"
has "duplicate summary" "$T/out" "imported 11 objects: 0 added, 0 replaced, 9 duplicates skipped, 2 identities of this gateway kept"
matches "the same table is a duplicate" "$T/out" "^duplicate +routes +2 entries \(line [0-9]+\): identical, skipped$"
matches "a duplicate CA" "$T/out" "^duplicate +ca +${ROOT:0:16} CN=Root CA \(line [0-9]+\): already trusted, skipped$"
unchanged "duplicates change nothing" gw2 "$T/c2.txt"

# ---- broken files import nothing ---------------------------------------------------------
cp "$T/c1.txt" "$T/before.txt"
# new.txt: a new key, a new CA and a new profile, each valid.
mkca "$T/third" "Third CA"
{ echo "smimegw-config 1"; echo; echo "smimegw-pubkeys 1"; echo "name: dora"; cat "$T/dora.pem"
  echo; echo "smimegw-cas 1"; cat "$T/third/ca.pem"
  echo; echo "smimegw-profiles 1"; printf 'name: fresh\nmode: encrypt\naction: drop\n'; } >"$T/new.txt"
# broken NAME FILE MESSAGE : importing FILE into the first gateway is
# refused saying MESSAGE and changes nothing.
broken() {
	refused "broken import: $1" "$3" gw config import "$2"
	unchanged "broken import changes nothing: $1" gw "$T/before.txt"
}
{ cat "$T/new.txt"; printf '\nname: worse\nmode: sign\ncert: gw-sign\ncolour: red\n'; } >"$T/b1.txt"
broken "the last section broken at its end" "$T/b1.txt" "b1.txt:$(lineof "$T/b1.txt" '^colour:'): unknown attribute 'colour'"
{ cat "$T/new.txt"; printf '\nname: worse\nmode: sign\n'; } >"$T/b2.txt"
broken "the last profile has no signing identity" "$T/b2.txt" \
	"b2.txt:$(lineof "$T/b2.txt" '^name: worse$'): profile 'worse': cert: mode 'sign' signs and needs a signing certificate"
sed '/^name: dora$/,/END CERT/{/^M/s/^M/!/}' "$T/new.txt" >"$T/b3.txt"
broken "a bad certificate in the key section, at the line of the whole file" "$T/b3.txt" \
	"b3.txt:$(grep -n '^!' "$T/b3.txt" | head -1 | cut -d: -f1): not a base64 line inside a certificate"
{ cat "$T/new.txt"; echo; echo "smimegw-cas 1"; } >"$T/b4.txt"
broken "a section given twice" "$T/b4.txt" "b4.txt:$(lineof "$T/b4.txt" '^smimegw-cas 1$'): section 'smimegw-cas 1' given twice (first at line"
{ cat "$T/new.txt"; echo "smimegw-frobs 1"; } >"$T/b5.txt"
broken "an unknown section" "$T/b5.txt" "b5.txt:$(lineof "$T/b5.txt" '^smimegw-frobs'): unknown section 'smimegw-frobs 1'"
{ cat "$T/new.txt"; echo "smimegw-profiles 2"; } >"$T/b6.txt"
broken "an unsupported section version" "$T/b6.txt" "unsupported section version 'smimegw-profiles 2'"
{ echo "smimegw-config 1"; echo "name: dora"; } >"$T/b7.txt"
broken "a line before any section" "$T/b7.txt" "b7.txt:2: unexpected line 'name: dora' (expected a section header"
{ echo "smimegw-config 2"; } >"$T/b8.txt"
broken "an unsupported file version" "$T/b8.txt" "b8.txt:1: unsupported format version 'smimegw-config 2'"
broken "a profile file is not a configuration" "$T/pr.txt" "pr.txt:1: not a smimegw configuration export (expected the header 'smimegw-config 1'"
{ sed '/^smimegw-profiles 1$/,$d' "$T/new.txt"; cat "$T/bob.pem"; } >"$T/b9.txt"
broken "an end-entity certificate in the CA section" "$T/b9.txt" \
	"b9.txt:$(lineof "$T/b9.txt" 'BEGIN CERTIFICATE'): CA 'O=Partner,C=FR,CN=bob.example.com': not a CA certificate: basicConstraints CA:FALSE"
{ sed '/^smimegw-profiles 1$/,$d' "$T/new.txt"; cat "$T/third/ca.pem"; } >"$T/b10.txt"
broken "the same CA twice in the section" "$T/b10.txt" "the same CA as at line $(grep -n 'BEGIN CERT' "$T/b10.txt" | sed -n 2p | cut -d: -f1)"
{ sed '/^smimegw-profiles 1$/,$d' "$T/new.txt"; echo "junk"; } >"$T/b11.txt"
broken "a stray line in the CA section" "$T/b11.txt" "b11.txt:$(lineof "$T/b11.txt" '^junk$'): unexpected line 'junk' (expected a PEM certificate"
{ sed '/^smimegw-cas 1$/,$d' "$T/new.txt"; echo "name: old2"; cat "$T/old.pem"; } >"$T/b12.txt"
broken "an expired key without allow-expired" "$T/b12.txt" \
	"b12.txt:$(lineof "$T/b12.txt" '^name: old2$'): key 'old2': the certificate is expired"
{ cat "$T/new.txt"; printf '\nsmimegw-routes 1\nrecipient: @x.example\nprofile: nowhere\n'; } >"$T/b13.txt"
broken "a table entry naming a profile that is nowhere" "$T/b13.txt" \
	"b13.txt:$(lineof "$T/b13.txt" '^recipient: @x.example$'): profile: no sending profile named 'nowhere'"
{ cat "$T/new.txt"; printf '\nsmimegw-routes 1\nrecipient: @x..example\nprofile: fresh\n'; } >"$T/b14.txt"
broken "a table entry with a bad pattern" "$T/b14.txt" \
	"b14.txt:$(lineof "$T/b14.txt" '^recipient: @x'): recipient: '@x..example': 'x..example' is not a domain"
{ cat "$T/new.txt"; printf '\nsmimegw-routes 1\nsender: @x.example\n'; } >"$T/b15.txt"
broken "a table entry without its profile" "$T/b15.txt" \
	"b15.txt:$(lineof "$T/b15.txt" '^sender: @x.example$'): the entry has no 'profile:' line"
{ cat "$T/new.txt"; printf '\nsmimegw-routes 1\nsender: @x.example\nprofile: fresh\n'; } >"$T/b16.txt"
refused "a different table is a conflict" \
	"1 sending profile table is already stored with different content; nothing was imported" \
	gw config import "$T/b16.txt"
matches "the table conflict is named" "$T/err" "conflict: routes \(1 entry, line $(lineof "$T/b16.txt" '^smimegw-routes 1$')\): a different sending profile table is stored"
unchanged "a table conflict changes nothing (not even its new profile)" gw "$T/before.txt"
ok "the valid file imports" gw config import "$T/new.txt"
has "new objects added" "$T/out" "imported 3 objects: 3 added, 0 replaced, 0 duplicates skipped"
gw config export "$T/before.txt" >/dev/null

# ---- conflicts ---------------------------------------------------------------------
{ echo "smimegw-config 1"; echo "smimegw-pubkeys 1"; echo "name: bob"; cat "$T/carol.pem"
  echo "name: eve"; cat "$T/dora.pem"
  echo "smimegw-profiles 1"; printf 'name: sealed\nmode: encrypt\naction: split\n'; } >"$T/conflict.txt"
refused "conflicts refuse the whole import" \
	"1 public key and 1 profile are already stored with different content; nothing was imported (--replace overwrites them)" \
	gw config import "$T/conflict.txt"
matches "the key conflict is named" "$T/err" "conflict: pubkey 'bob' \(line 3\): a different certificate is stored under this name"
matches "the profile conflict is named" "$T/err" "conflict: profile 'sealed' \(line $(lineof "$T/conflict.txt" '^name: sealed$')\): a different profile is stored under this name"
unchanged "a refused import changes nothing (not even its new key)" gw "$T/before.txt"
ok "import --replace" gw config import --replace "$T/conflict.txt"
gw route list >"$T/rl1"
matches "a table not in the file stays as it is" "$T/rl1" "^2 +recipient +@example1.com +sealed +ok$"
matches "key replaced" "$T/out" "^replaced +pubkey +bob \(line 3\)$"
matches "profile replaced" "$T/out" "^replaced +profile +sealed \(line [0-9]+\)$"
has "replace summary" "$T/out" "imported 3 objects: 1 added, 2 replaced, 0 duplicates skipped"
gw profile show sealed >"$T/sealed.show"
matches "the profile holds the imported settings" "$T/sealed.show" "^Action: +split "
ok "a table file with another table replaces with --replace" \
	gw config import --replace <(printf 'smimegw-config 1\nsmimegw-routes 1\nrecipient: @y.example\nprofile: fresh\n')
matches "the table replaced" "$T/out" "^replaced +routes +1 entry \(line 2\)$"
gw route list >"$T/rl1"
matches "the new table is stored" "$T/rl1" "^1 +recipient +@y.example +fresh +ok$"
ok "restore from the export with --replace" gw config import --replace "$T/before.txt"
gw pubkey delete eve >/dev/null
unchanged "restored" gw "$T/before.txt"
refused "import a missing file" "nothere.txt: No such file or directory" gw config import "$T/nothere.txt"

# ---- smimegw route: errors name the field ---------------------------------------------
refused "route add: a bad pattern names its field" "sender: '@a..b': 'a..b' is not a domain" \
	gw route add --sender @a..b --profile sealed
refused "route add: not an address or domain" "recipient: 'sealed' is not an address, @domain or @.domain" \
	gw route add --recipient sealed --profile sealed
refused "route add: a missing profile" "profile: no sending profile named 'nope'" \
	gw route add --recipient @z.example --profile nope
refused "route add: a position out of range" "position: '9' is not a position in 1..3" \
	gw route add --recipient @z.example --profile sealed --position 9
refused "route add: an entry already there (domain case, trailing dot)" \
	"recipient: '@example1.com' is already at position 2 (profile 'sealed')" \
	gw route add --recipient @EXAMPLE1.com. --profile signed
refused "route add: both fields" "give one of --sender and --recipient" \
	gw route add --sender @a.example --recipient @b.example --profile sealed
refused "route add: no profile" "--profile is required" gw route add --sender @a.example
refused "route remove: no such entry" "N: '7' is not a position in 1..2" gw route remove 7
refused "route show: not a number" "N: 'x' is not a position in 1..2" gw route show x
refused "profile delete: a profile the table names is kept" \
	"sending profile 'signed' is named by entry 1 of the sending profile table" gw profile delete signed
ok "route test: a sender entry" gw route test --from BOSS@example.com --to x@example1.com
has "route test: the first entry wins" "$T/out" "profile: signed (entry 1: sender boss@example.com)"
ok "route test: a recipient entry" gw route test --from a@example.com --to x@Example1.com.
has "route test: entry 2" "$T/out" "profile: sealed (entry 2: recipient @example1.com)"
ok "route test: no match" gw route test --from a@example.com --to x@sub.example1.com
has "route test: no default" "$T/out" "profile: none, delivered unchanged (no entry matches and listener_outgoing_profile is empty)"
ok "route show" gw route show 2
matches "route show: the pattern" "$T/out" "^Pattern: +@example1.com$"
ok "route remove" gw route remove 1
has "route remove says what" "$T/out" "removed entry 1: sender boss@example.com -> profile 'signed'"
ok "route clear" gw route clear
has "route clear says how many" "$T/out" "removed 1 entry"
gw config export "$T/empty-rt.txt" >/dev/null
same "an empty table: the header alone" "$(sed -n '/^smimegw-routes 1$/,$p' "$T/empty-rt.txt" | grep -vc '^#')" 1
finish
