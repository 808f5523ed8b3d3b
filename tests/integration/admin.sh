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
ok "item20_alerts_clear_needs_yes: with --yes" gw alerts clear --yes
has "item20_alerts_clear_needs_yes: cleared" "$T/out" "cleared 0 alerts"

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
	"smimegw cert delete: refused (in use): identity 'gw-keep' is the signing certificate of 1 sending profile ('p-ok')" \
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
