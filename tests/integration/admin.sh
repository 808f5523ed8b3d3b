#!/usr/bin/env bash
# What a mail administrator trips over (issue 8, items 18-20): a profile
# whose identity is gone defers mail like a missing profile; a backup
# (config export) restores every object the CLI makes into a fresh store
# on the same token; profile list says which profiles are usable; alerts
# clear asks for --yes; error prefixes say what happened; --mode means
# one thing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki.sh"
setup_token
GOOD="basicConstraints=critical,CA:FALSE;extendedKeyUsage=emailProtection"
ENC_RSA="keyUsage=critical,digitalSignature,keyEncipherment"
ENC_EC="keyUsage=critical,digitalSignature,keyAgreement"
mkca "$T/ca" "Partner CA"
mkee "$T/ca" bob rsa:2048 "$GOOD;$ENC_RSA;subjectAltName=email:bob@example1.com"

M=$T/m.eml
printf '%s\r\n' "From: Alice <alice@corp.example>" "To: bob@example1.com" \
	"Subject: figures" "Message-ID: <a1@corp.example>" "MIME-Version: 1.0" \
	"Content-Type: text/plain; charset=us-ascii" "" "The figures." >"$M"

# run NAME EXIT DIR ARGS... : smimegw process --out-dir DIR ARGS; the
# exit status must be EXIT.
run() {
	local name=$1 want=$2 dir=$3 rc
	shift 3
	rm -rf "$dir"
	${WRAP:-} "$SMIMEGW" -c "$T/smimegw.conf" process --out-dir "$dir" "$@" \
		>"$T/out" 2>"$T/err"
	rc=$?
	same "$name: exit status $want" "$rc" "$want"
	[ "$rc" = "$want" ] || sed 's/^/     | /' "$T/err" | head -10
}
out() { run "$1" "$2" "$3" --direction outgoing --from alice@corp.example "${@:4}" -i "$M"; }
j() { jq -r "$2" "$1/result.json" 2>&1; }
files() { (cd "$1" && ls | tr '\n' ' '); }

# ---- item 18: a profile whose identity is missing defers ---------------------
gw cert create gw-sign --cn gw.corp.example --country DE --days 30 \
	--san-dns corp.example --usage sign >/dev/null || echo "setup: gw-sign" >&2
gw cert create gw-keep --cn gw.corp.example --country DE --days 30 \
	--san-dns corp.example >/dev/null || echo "setup: gw-keep" >&2
gw pubkey add bob "$T/bob.pem" >/dev/null || echo "setup: bob" >&2
gw profile add p-sign --mode sign --cert gw-sign >/dev/null &&
	gw profile add p-se --mode sign-encrypt --cert gw-sign --action bounce >/dev/null &&
	gw profile add p-ok --mode sign --cert gw-keep >/dev/null &&
	gw profile add p-enc --mode encrypt --action split >/dev/null ||
	echo "setup: profiles" >&2
D=$T/o18
out "item18 before: the profile signs" 0 "$D" --profile p-sign --to bob@example1.com
ok "item18 setup: delete the identity with --force" gw cert delete gw-sign --yes --force

out "item18_profile_identity_missing_defers" 75 "$D" --profile p-sign --to bob@example1.com
same "item18_profile_identity_missing_defers: nothing delivered" "$(files "$D")" "result.json "
same "item18_profile_identity_missing_defers: decision" "$(j "$D" .decision)" defer
same "item18_profile_identity_missing_defers: result.json says why" "$(j "$D" .reason)" \
	"configuration error: sending profile 'p-sign' signs with identity 'gw-sign', which cannot be used: no identity named 'gw-sign' (smimegw profile edit p-sign --cert IDENTITY)"
matches "item18_profile_identity_missing_defers: stderr says why" "$T/err" \
	"^smimegw process: configuration error: sending profile 'p-sign' signs with identity 'gw-sign'"
# A recipient without a key under a bouncing profile would bounce; the
# missing identity is found first and defers the message.
out "item18_profile_identity_missing_defers_before_recipients" 75 "$D" --profile p-se \
	--to nokey@example9.com
same "item18_profile_identity_missing_defers_before_recipients: decision" "$(j "$D" .decision)" defer
out "item18 a missing profile defers the same way" 75 "$D" --profile nothere --to bob@example1.com
same "item18 a missing profile: decision" "$(j "$D" .decision)" defer
out "item18 other profiles still work" 0 "$D" --profile p-ok --to bob@example1.com

# ---- item 19: backups restore ------------------------------------------------------
# One of everything the CLI makes, on top of the objects above (a profile
# whose identity is gone among them).
mkee "$T/ca" carol ec:P-256 "$GOOD;$ENC_EC;subjectAltName=email:carol@example1.com"
mkee "$T/ca" old ec:P-256 "$GOOD;$ENC_EC;subjectAltName=email:old@example1.com" \
	20200101000000Z 20210101000000Z
for p in erin erin2 gina gina2; do
	mkee "$T/ca" $p ec:P-256 "$GOOD;$ENC_EC;subjectAltName=email:${p%2}@example3.com"
done
printf 'secret' >"$T/pw"
mkee "$T/ca" gwp12 rsa:2048 "$GOOD;keyUsage=critical,digitalSignature,nonRepudiation,keyEncipherment;subjectAltName=email:p12@corp.example"
openssl pkcs12 -export -in "$T/gwp12.pem" -inkey "$T/gwp12.key" -certfile "$T/ca/ca.pem" \
	-passout "file:$T/pw" -out "$T/chain.p12" 2>/dev/null
{ gw cert import gw-p12 --p12 "$T/chain.p12" --passphrase-file "$T/pw" &&
	gw cert create gw-enc --cn gw.corp.example --country DE --days 30 \
		--san-dns corp.example --usage encrypt --key ec:p256 &&
	gw pubkey add carol "$T/carol.pem" &&
	gw pubkey add --allow-expired old "$T/old.pem" &&
	gw ca add "$T/ca/ca.pem" &&
	gw profile add p-triple --mode triple --cert gw-keep --sign-mode opaque \
		--action drop --cipher aes256-gcm --digest sha384 &&
	gw profile add p-pss --mode sign --cert gw-p12 --pss; } >"$T/setup.log" 2>&1 || { cat "$T/setup.log" >&2;
	echo "setup: item 19 objects" >&2; }
# Harvested keys with provenance, an update that raises an alert, a use.
signed_by() { # NAME FROM MID OUT
	printf 'Content-Type: text/plain\r\n\r\nhello from %s\r\n' "$1" >"$T/sc.txt"
	{
		printf 'From: %s\r\nTo: alice@corp.example\r\nSubject: signed\r\nMessage-ID: %s\r\n' "$2" "$3"
		openssl cms -sign -signer "$T/$1.pem" -inkey "$T/$1.key" -in "$T/sc.txt" \
			-crlfeol 2>/dev/null
	} >"$4"
}
inc() { run "$1" 0 "$T/in" --direction incoming --from "$2" --to alice@corp.example --harvest "${@:3}"; }
NOW=$(date -u +%s)
signed_by erin erin@example3.com '<h1@example3.com>' "$T/h1.eml"
signed_by erin2 erin@example3.com '<h2@example3.com>' "$T/h2.eml"
signed_by gina gina@example3.com '<h3@example3.com>' "$T/h3.eml"
signed_by gina2 gina@example3.com '<h4@example3.com>' "$T/h4.eml"
inc "item19 setup: harvest erin" erin@example3.com -i "$T/h1.eml" --now "$((NOW + 100))"
inc "item19 setup: erin seen again" erin@example3.com -i "$T/h1.eml" --now "$((NOW + 200))"
inc "item19 setup: gina" gina@example3.com -i "$T/h3.eml" --now "$((NOW + 300))"
inc "item19 setup: erin's update" erin@example3.com --harvest-updates -i "$T/h2.eml" --now "$((NOW + 400))"
inc "item19 setup: gina's update" gina@example3.com --harvest-updates -i "$T/h4.eml" --now "$((NOW + 500))"
same "item19 setup: the second update raised an alert" "$(j "$T/in" '.alerts | length')" 1
out "item19 setup: a harvested key used" 0 "$T/o19" --profile p-enc --to gina@example3.com
same "item19 setup: by its harvested key" "$(j "$T/o19" '.recipients[0].key_source')" harvested
USED=$(j "$T/o19" '.recipients[0].key')

# A fresh data_dir on the same token.
sed 's#^data_dir = data$#data_dir = restored#' "$T/smimegw.conf" >"$T/restored.conf"
gr() { ${WRAP:-} "$SMIMEGW" -c "$T/restored.conf" "$@"; }
ok "item19_export_import_roundtrip: export" gw config export "$T/backup.txt"
has "item19_export_import_roundtrip: every kind counted" "$T/out" \
	"exported 3 identities, 3 public keys, 1 CA, 4 harvested keys, 1 alert, 6 sending profiles and 0 table entries to $T/backup.txt"
same "item19_export_import_roundtrip: the sections" "$(grep -E '^smimegw-' "$T/backup.txt" | tr '\n' ' ')" \
	"smimegw-config 1 smimegw-identities 1 smimegw-pubkeys 1 smimegw-cas 1 smimegw-harvested 1 smimegw-alerts 1 smimegw-profiles 1 smimegw-routes 1 "
ok "item19_export_import_roundtrip: import into a fresh store" gr config import "$T/backup.txt"
same "item19_export_import_roundtrip: the same token has every identity's key" \
	"$(grep -c 'is not on token' "$T/err")" 0
matches "item19_profile_without_identity_imports: the restore warns" "$T/err" \
	"^smimegw config import: warning: profile 'p-sign': .*backup.txt:[0-9]+: cert: no identity named 'gw-sign' on this gateway .*: imported, but unusable until the identity is there$"
has "item19_export_import_roundtrip: all added" "$T/out" \
	"imported 18 objects: 18 added, 0 replaced, 0 duplicates skipped"
ok "item19_export_import_roundtrip: export again" gr config export "$T/backup2.txt"
ok "item19_export_import_roundtrip: byte-identical" cmp "$T/backup.txt" "$T/backup2.txt"
for l in "cert list" "pubkey list" "ca list" "harvested list" "alerts list" "profile list"; do
	gw $l >"$T/l1" 2>&1
	gr $l >"$T/l2" 2>&1
	ok "item19_export_import_roundtrip: $l equal" diff_err "$T/l1" "$T/l2"
done
E2=$(openssl x509 -in "$T/erin2.pem" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)
for s in "harvested show $E2" "harvested show $USED" "pubkey show old" "ca show $(gw ca list | awk 'NR==2{print $1}')" \
	"profile show p-triple" "cert show gw-p12"; do
	# "N days left" counts from the second each show runs in: the two
	# may straddle the certificate's own second of issue.
	gw $s 2>&1 | sed -E 's/\([0-9]+ days left\)/(days left)/' >"$T/s1"
	gr $s 2>&1 | sed -E 's/\([0-9]+ days left\)/(days left)/' >"$T/s2"
	ok "item19_export_import_roundtrip: $s equal" diff_err "$T/s1" "$T/s2"
done
gr harvested show "$E2" >"$T/hs"
matches "item19_export_import_roundtrip: provenance kept: Message-ID" "$T/hs" "^Message-ID: +<h2@example3.com>$"
matches "item19_export_import_roundtrip: provenance kept: an update" "$T/hs" "^Updated: +yes, replaces [0-9a-f]{16}"
gr harvested show "$USED" >"$T/hs"
matches "item19_export_import_roundtrip: LRU data kept" "$T/hs" "^Last used: +[0-9]{4}-"
gr cert show gw-p12 >"$T/cs"
has "item19_export_import_roundtrip: the chain is restored" "$T/cs" "Chain certificates:   1"
ok "item19_export_import_roundtrip: re-import: duplicates" gr config import "$T/backup.txt"
has "item19_export_import_roundtrip: re-import changes nothing" "$T/out" \
	"imported 18 objects: 0 added, 0 replaced, 18 duplicates skipped"
# The restored gateway works with the keys on the token.
rm -rf "$T/o19r"
${WRAP:-} "$SMIMEGW" -c "$T/restored.conf" process --out-dir "$T/o19r" --direction outgoing \
	--from alice@corp.example --to gina@example3.com --profile p-triple -i "$M" >/dev/null 2>"$T/err"
same "item19_export_import_roundtrip: the restored gateway signs and encrypts" "$?" 0

# On another token the identity records are restored, and the missing
# keys are named.
strict=
[ "$PROFILE" = strict ] && strict=--strict
"$SRCDIR/hsm-setup/softhsm-token.sh" --dir "$T/tok" --label "${LABEL}b" $strict \
	>/dev/null 2>"$T/tok2.log" || { cat "$T/tok2.log" >&2; exit 1; }
sed "s#^data_dir = data\$#data_dir = data3#; s#^token = .*#token = pkcs11:token=${LABEL}b#" \
	"$T/smimegw.conf" >"$T/other.conf"
ok "item19_export_import_roundtrip: restore on another token" \
	"$SMIMEGW" -c "$T/other.conf" config import "$T/backup.txt"
matches "item19_export_import_roundtrip: another token: the missing key is named" "$T/err" \
	"^smimegw config import: warning: identity 'gw-keep': its private key \(pkcs11:.*\) is not on token pkcs11:token=${LABEL}b: it cannot sign or decrypt until it is$"

# A profile whose identity is gone is imported, unusable, with a warning.
sed 's#^data_dir = data$#data_dir = fresh2#' "$T/smimegw.conf" >"$T/fresh2.conf"
{ echo "smimegw-config 1"; echo "smimegw-profiles 1"; printf 'name: orphan\nmode: sign\ncert: nobody\n'; } >"$T/orphan.txt"
ok "item19_profile_without_identity_imports" "$SMIMEGW" -c "$T/fresh2.conf" config import "$T/orphan.txt"
has "item19_profile_without_identity_imports: added" "$T/out" "imported 1 object: 1 added, 0 replaced, 0 duplicates skipped"
matches "item19_profile_without_identity_imports: a warning names it" "$T/err" \
	"^smimegw config import: warning: profile 'orphan': .*orphan.txt:5: cert: no identity named 'nobody' on this gateway .*: imported, but unusable until the identity is there$"
"$SMIMEGW" -c "$T/fresh2.conf" profile list >"$T/pl"
matches "item19_profile_without_identity_imports: listed as unusable" "$T/pl" \
	"^orphan +sign +nobody +detached +- +UNUSABLE: cert: no identity named 'nobody'"

# ---- item 20: what trips an administrator up -------------------------------------
ok "item20_profile_list_shows_unusable" gw profile list
matches "item20_profile_list_shows_unusable: header" "$T/out" "^NAME +MODE +CERT +SIGN MODE +ACTION +STATUS$"
matches "item20_profile_list_shows_unusable: missing identity" "$T/out" \
	"^p-sign +sign +gw-sign +detached +- +UNUSABLE: cert: no identity named 'gw-sign' on this gateway"
matches "item20_profile_list_shows_unusable: usable profile" "$T/out" "^p-ok +sign +gw-keep +detached +- +ok$"
matches "item20_profile_list_shows_unusable: encrypt-only profile" "$T/out" "^p-enc +encrypt +- +- +split +ok$"
gw profile search p- >"$T/search"
matches "item20_profile_list_shows_unusable: search too" "$T/search" "^p-se +sign-encrypt +gw-sign +detached +bounce +UNUSABLE: "

# alerts clear deletes the only record of suspicious key updates.
refused "item20_alerts_clear_needs_yes" "refusing to delete alerts without --yes" gw alerts clear
same "item20_alerts_clear_needs_yes: usage error" "$(gw alerts clear --before 2001-01-01 2>/dev/null; echo $?)" 2
gw alerts list >"$T/al"
has "item20_alerts_clear_needs_yes: the alert is still there" "$T/al" "1 alert"
ok "item20_alerts_clear_needs_yes: with --yes" gw alerts clear --yes
has "item20_alerts_clear_needs_yes: cleared" "$T/out" "cleared 1 alert"

# PKCS#12 without the passphrase it needs: not "wrong passphrase".
mkee "$T/ca" p12ee rsa:2048 "$GOOD;$ENC_RSA;subjectAltName=email:gw@corp.example"
printf 'secret' >"$T/pw"
openssl pkcs12 -export -in "$T/p12ee.pem" -inkey "$T/p12ee.key" -passout "file:$T/pw" \
	-out "$T/p.p12" 2>/dev/null
refused "item20_p12_without_passphrase_says_needed" \
	"smimegw cert import: passphrase needed: --passphrase-file: $T/p.p12 is protected by a passphrase and none was given" \
	gw cert import x --p12 "$T/p.p12"
same "item20_p12_without_passphrase_says_needed: no 'wrong' in it" "$(grep -c 'wrong' "$T/err")" 0
printf 'nope' >"$T/badpw"
refused "item20 a wrong passphrase is still called wrong" "wrong passphrase: $T/p.p12: MAC verification failed" \
	gw cert import x --p12 "$T/p.p12" --passphrase-file "$T/badpw"

# A refused delete says it was refused, not "invalid value".
refused "item20_delete_refusal_message" \
	"smimegw cert delete: refused (in use): identity 'gw-keep' is the signing certificate of 2 sending profiles ('p-ok', 'p-triple')" \
	gw cert delete gw-keep --yes
same "item20_delete_refusal_message: no 'invalid value'" "$(grep -c 'invalid value' "$T/err")" 0
ok "item20_delete_refusal_message: the identity is still there" gw cert show gw-keep

# --mode is a profile's sending mode; message sign's was the signature
# form, now --sign-mode as in profile add (the old name still works,
# with a warning).
printf '%s\r\n' "From: gw@corp.example" "To: bob@example1.com" "Subject: s" "" "x" >"$T/s.eml"
ok "item20_mode_consistency: message sign --sign-mode" \
	gw message sign --cert gw-keep --sign-mode opaque -i "$T/s.eml" -o "$T/so.eml"
matches "item20_mode_consistency: --sign-mode opaque makes signed-data" "$T/so.eml" "smime-type=signed-data"
refused "item20_mode_consistency: --sign-mode values checked" "--sign-mode: 'clear' is not detached or opaque" \
	gw message sign --cert gw-keep --sign-mode clear -i "$T/s.eml"
ok "item20_mode_consistency: old --mode still works" \
	gw message sign --cert gw-keep --mode opaque -i "$T/s.eml" -o "$T/so2.eml"
matches "item20_mode_consistency: old --mode warns" "$T/err" \
	"^smimegw message sign: warning: --mode is deprecated here; use --sign-mode"
refused "item20_mode_consistency: not both" "give --sign-mode once" \
	gw message sign --cert gw-keep --mode opaque --sign-mode detached -i "$T/s.eml"
gw message --help >"$T/help" 2>&1
matches "item20_mode_consistency: help names --sign-mode" "$T/help" "sign --cert NAME \[--sign-mode detached\|opaque\]"
same "item20_mode_consistency: every --mode in help texts is the sending mode" \
	"$(for c in cert message pubkey ca profile harvested alerts config; do gw $c --help 2>&1; done |
		grep -o -- '--mode [a-z|-]*' | sort -u | tr '\n' ' ')" \
	"--mode sign|encrypt|sign-encrypt|triple "

finish
