#!/usr/bin/env bash
# smimegw profile: every command, bad input (each refusal with its
# reason, naming the option or field), edit across modes, export/import
# (all or nothing: every kind of broken file changes nothing), and
# "cert delete" of an identity a profile signs with.
. "$(dirname "$0")/lib.sh"
setup_token

mkid() { # NAME USAGE [KEY]
	gw cert create "$1" --cn gw.example.com --country DE --days 30 \
		--san-email "$1@example.com" --usage "$2" ${3:+--key "$3"} >/dev/null ||
		echo "setup: creating identity $1 failed" >&2
}
mkid gw-rsa sign
mkid gw-ec both ec:p256
mkid gw-enc encrypt ec:p256
mkid gw-spare sign ec:p256

export_store() { gw profile export "$1" >/dev/null; }
# unchanged NAME : the store's export equals $T/before.txt byte for byte.
unchanged() {
	export_store "$T/after.txt"
	ok "$1" cmp "$T/before.txt" "$T/after.txt"
}
# field NAME PROFILE LABEL VALUE : "profile show" has "LABEL: VALUE".
field() {
	gw profile show "$2" >"$T/show" 2>&1
	matches "$1" "$T/show" "^$3: +$4\$"
}

# ---- add ------------------------------------------------------------------------
ok "add a sign profile" gw profile add s1 --mode sign --cert gw-rsa --digest sha384 --pss
has "add confirms" "$T/out" "added sending profile 's1'"
matches "add shows the profile" "$T/out" "^Signing certificate: +gw-rsa$"
matches "add: a valid profile" "$T/out" "^Status: +ok$"
field "default sign mode is detached" s1 "Sign mode" detached
field "digest stored" s1 Digest sha384
field "pss stored" s1 RSASSA-PSS yes
field "a sign profile has no action" s1 Action -
ok "add an encrypt profile" gw profile add e1 --mode encrypt --action split --cipher aes256-gcm --oaep
field "action split" e1 Action "split \(recipients without a usable public key get the message unencrypted\)"
field "cipher stored" e1 Cipher aes256-gcm
field "oaep stored" e1 RSA-OAEP yes
field "an encrypt profile has no signing certificate" e1 "Signing certificate" -
ok "add a sign-encrypt profile (EC identity, opaque)" \
	gw profile add se1 --mode sign-encrypt --cert gw-ec --sign-mode opaque --action bounce
field "sign mode opaque" se1 "Sign mode" opaque
field "default cipher" se1 Cipher "aes256-cbc \(default\)"
field "default digest" se1 Digest "sha256 \(default\)"
ok "add a triple profile" gw profile add t1 --mode triple --cert gw-rsa --action drop --sign-mode=detached
ok "add with --cipher default" gw profile add e2 --mode encrypt --action bounce --cipher default
field "--cipher default is the default" e2 Cipher "aes256-cbc \(default\)"

export_store "$T/before.txt"
refused "unknown mode" "--mode: 'bogus' is not one of sign, encrypt, sign-encrypt, triple" \
	gw profile add x --mode bogus
refused "unknown action" "--action: 'reject' is not one of bounce, drop, split" \
	gw profile add x --mode encrypt --action reject
refused "unknown sign mode" "--sign-mode: 'inline' is not one of detached, opaque" \
	gw profile add x --mode sign --cert gw-rsa --sign-mode inline
refused "unknown cipher" "--cipher: 'des3' is not one of aes128-cbc, aes192-cbc, aes256-cbc, aes128-gcm, aes256-gcm" \
	gw profile add x --mode encrypt --action drop --cipher des3
refused "unknown digest" "--digest: 'md5' is not one of sha256, sha384, sha512" \
	gw profile add x --mode sign --cert gw-rsa --digest md5
refused "sign mode without --cert" "cert: mode 'sign' signs and needs a signing certificate" \
	gw profile add x --mode sign
refused "triple without --cert" "cert: mode 'triple' signs and needs a signing certificate" \
	gw profile add x --mode triple --action drop
refused "a certificate that cannot sign" \
	"cert: identity 'gw-enc' is for encryption only (usage encrypt) and cannot sign" \
	gw profile add x --mode sign --cert gw-enc
refused "a missing identity" "cert: no identity named 'nobody' on this gateway" \
	gw profile add x --mode sign --cert nobody
refused "an invalid identity name" "--cert: 'no body' is not a valid identity name" \
	gw profile add x --mode sign --cert "no body"
refused "--pss with an EC identity" "pss: RSASSA-PSS needs an RSA signing key; identity 'gw-ec' has an EC key" \
	gw profile add x --mode sign --cert gw-ec --pss
refused "encrypt mode without --action" \
	"action: mode 'encrypt' encrypts and needs an action for recipients without a usable public key" \
	gw profile add x --mode encrypt
refused "sign-encrypt without --action" "action: mode 'sign-encrypt' encrypts and needs an action" \
	gw profile add x --mode sign-encrypt --cert gw-rsa
refused "--action with sign mode" "--action: mode 'sign' does not encrypt" \
	gw profile add x --mode sign --cert gw-rsa --action bounce
refused "--cipher with sign mode" "--cipher: mode 'sign' does not encrypt" \
	gw profile add x --mode sign --cert gw-rsa --cipher aes128-gcm
refused "--oaep with sign mode" "--oaep: mode 'sign' does not encrypt" \
	gw profile add x --mode sign --cert gw-rsa --oaep
refused "--cert with encrypt mode" "--cert: mode 'encrypt' does not sign" \
	gw profile add x --mode encrypt --action drop --cert gw-rsa
refused "--sign-mode with encrypt mode" "--sign-mode: mode 'encrypt' does not sign" \
	gw profile add x --mode encrypt --action drop --sign-mode detached
refused "--digest with encrypt mode" "--digest: mode 'encrypt' does not sign" \
	gw profile add x --mode encrypt --action drop --digest sha512
refused "--pss with encrypt mode" "--pss: mode 'encrypt' does not sign" \
	gw profile add x --mode encrypt --action drop --pss
refused "duplicate name" "a sending profile named 's1' already exists" \
	gw profile add s1 --mode encrypt --action drop
refused "invalid name" "NAME: 'bad name' must be 1-64 letters" gw profile add "bad name" --mode encrypt --action drop
refused "name starting with a dot" "NAME: '.x' must be" gw profile add .x --mode encrypt --action drop
refused "add without --mode" "--mode is required" gw profile add x
same "usage errors exit 2" "$(gw profile add x 2>/dev/null; echo $?)" 2
same "invalid values exit 1" "$(gw profile add x --mode bogus 2>/dev/null; echo $?)" 1
refused "an option given twice" "option '--mode' given twice" gw profile add x --mode sign --mode encrypt
refused "--no-pss does not apply to add" "option '--no-pss' does not apply to 'profile add'" \
	gw profile add x --mode sign --cert gw-rsa --no-pss
refused "--replace does not apply to add" "option '--replace' does not apply to 'profile add'" \
	gw profile add x --mode encrypt --action drop --replace
refused "unknown option" "unknown option '--colour'" gw profile add x --colour red
refused "an option without its value" "option '--mode' needs a value" gw profile add x --mode
refused "unknown subcommand" "unknown subcommand 'frob'" gw profile frob
refused "add needs NAME" "missing NAME" gw profile add --mode sign
unchanged "refusals add nothing"

# ---- list, show, search ------------------------------------------------------------
ok "list" gw profile list
matches "list header" "$T/out" "^NAME +MODE +CERT +SIGN MODE +ACTION +STATUS$"
matches "list: sign profile" "$T/out" "^s1 +sign +gw-rsa +detached +- +ok$"
matches "list: encrypt profile" "$T/out" "^e1 +encrypt +- +- +split +ok$"
matches "list: sign-encrypt profile" "$T/out" "^se1 +sign-encrypt +gw-ec +opaque +bounce +ok$"
matches "list: triple profile" "$T/out" "^t1 +triple +gw-rsa +detached +drop +ok$"
same "list: one line per profile, in name order" "$(sed 1d "$T/out" | awk '{print $1}' | tr '\n' ' ')" "e1 e2 s1 se1 t1 "
ok "show" gw profile show t1
matches "show: name" "$T/out" "^Name: +t1$"
matches "show: mode" "$T/out" "^Mode: +triple$"
matches "show: added time" "$T/out" "^Added: +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} UTC$"
refused "show an unknown profile" "no sending profile named 'nobody'" gw profile show nobody
refused "show needs NAME" "missing NAME" gw profile show

ok "search by action" gw profile search SPLIT
same "search by action finds e1" "$(sed 1d "$T/out" | awk '{print $1}')" e1
ok "search by certificate, any case" gw profile search GW-RSA
same "search by certificate finds s1 and t1" "$(sed 1d "$T/out" | awk '{print $1}' | tr '\n' ' ')" "s1 t1 "
ok "search by mode" gw profile search sign-enc
same "search by mode finds se1" "$(sed 1d "$T/out" | awk '{print $1}')" se1
ok "search by name" gw profile search E
same "search 'E' finds names, modes and certificates" \
	"$(sed 1d "$T/out" | awk '{print $1}' | tr '\n' ' ')" "e1 e2 se1 t1 "
refused "search without a match" "no sending profile matches 'zzz'" gw profile search zzz
refused "search does not look at the cipher" "no sending profile matches 'gcm'" gw profile search gcm

# ---- edit ---------------------------------------------------------------------------
ok "edit: reset digest, drop pss" gw profile edit s1 --digest default --no-pss
has "edit confirms" "$T/out" "updated sending profile 's1'"
field "digest back to the default" s1 Digest "sha256 \(default\)"
field "pss off" s1 RSASSA-PSS no
ok "edit: change the signing certificate" gw profile edit s1 --cert gw-spare --sign-mode opaque
field "new certificate" s1 "Signing certificate" gw-spare
ok "edit: sign-encrypt to encrypt clears the signing fields" gw profile edit se1 --mode encrypt
has "edit says what it cleared" "$T/out" "mode 'encrypt' does not use them: cleared cert 'gw-ec', sign-mode opaque"
field "cleared certificate" se1 "Signing certificate" -
field "action kept" se1 Action "bounce \(a recipient without a usable public key bounces the message to the sender\)"
export_store "$T/before.txt"
refused "edit: a signing mode needs a certificate" "cert: mode 'sign-encrypt' signs and needs a signing certificate" \
	gw profile edit se1 --mode sign-encrypt
refused "edit: --action on a sign profile" "--action: mode 'sign' does not encrypt" gw profile edit s1 --action drop
refused "edit: to sign mode with an option it does not use" "--action: mode 'sign' does not encrypt" \
	gw profile edit e1 --mode sign --cert gw-rsa --action drop
refused "edit: --pss with an EC identity" "pss: RSASSA-PSS needs an RSA signing key; identity 'gw-spare' has an EC key" \
	gw profile edit s1 --pss
refused "edit: a certificate that cannot sign" "cert: identity 'gw-enc' is for encryption only" \
	gw profile edit t1 --cert gw-enc
refused "edit: unknown cipher" "--cipher: 'rc4' is not one of" gw profile edit e1 --cipher rc4
refused "edit: --pss and --no-pss" "--pss and --no-pss contradict each other" gw profile edit t1 --pss --no-pss
refused "edit of a missing profile" "no sending profile named 'nobody'" gw profile edit nobody --action drop
refused "edit with nothing to change" "nothing to change" gw profile edit s1
unchanged "refused edits change nothing"
ok "edit: back to sign-encrypt with a certificate" gw profile edit se1 --mode sign-encrypt --cert gw-ec
field "sign-encrypt again" se1 Mode sign-encrypt
field "... with the action it kept" se1 Action "bounce .*"
ok "edit: encrypt to sign clears the encryption fields" gw profile edit e1 --mode sign --cert gw-rsa
has "edit says what it cleared" "$T/out" "mode 'sign' does not use them: cleared action split, cipher aes256-gcm, oaep"
field "no action any more" e1 Action -
ok "edit: set a cipher" gw profile edit t1 --cipher aes128-cbc --oaep
field "cipher set" t1 Cipher aes128-cbc
ok "edit: --cipher default" gw profile edit t1 --cipher default --no-oaep
field "cipher back to the default" t1 Cipher "aes256-cbc \(default\)"
field "oaep off" t1 RSA-OAEP no

# ---- delete -------------------------------------------------------------------------
ok "delete" gw profile delete e2
has "delete confirms" "$T/out" "deleted sending profile 'e2'"
same "deleted profile is gone" "$(gw profile list | grep -c '^e2 ')" 0
refused "delete of a missing profile" "no sending profile named 'e2'" gw profile delete e2
refused "delete needs NAME" "missing NAME" gw profile delete

# ---- export -------------------------------------------------------------------------
gw profile add e2 --mode encrypt --action split --cipher aes192-cbc >/dev/null
ok "export to a file" gw profile export "$T/exp1.txt"
has "export reports the count" "$T/out" "exported 5 sending profiles to $T/exp1.txt"
same "export header" "$(head -1 "$T/exp1.txt")" "smimegw-profiles 1"
same "one entry per profile" "$(grep -c '^name: ' "$T/exp1.txt")" 5
gw profile export - >"$T/exp-stdout.txt"
ok "export to stdout equals the file" cmp "$T/exp1.txt" "$T/exp-stdout.txt"
export_store "$T/exp1b.txt"
ok "two exports are byte-identical" cmp "$T/exp1.txt" "$T/exp1b.txt"
sed -n '/^name: e2$/,/^$/p' "$T/exp1.txt" >"$T/e2.entry"
has "an encrypt entry: action" "$T/e2.entry" "action: split"
has "an encrypt entry: cipher" "$T/e2.entry" "cipher: aes192-cbc"
same "an encrypt entry has no signing lines" "$(grep -cE '^(cert|sign-mode|digest|pss):' "$T/e2.entry")" 0
refused "export into a missing directory" "No such file or directory" gw profile export "$T/no/dir/x.txt"

# ---- import -------------------------------------------------------------------------
cp "$T/exp1.txt" "$T/before.txt"
ok "re-import: every profile a duplicate" gw profile import "$T/exp1.txt"
matches "duplicates reported by name and line" "$T/out" "^duplicate +profile +s1 \(line [0-9]+\): identical, skipped$"
has "duplicate summary" "$T/out" "imported 5 objects: 0 added, 0 replaced, 5 duplicates skipped"
unchanged "duplicates change nothing"
for p in e1 e2 s1 se1 t1; do gw profile delete "$p" >/dev/null; done
ok "import into an empty profile list" gw profile import "$T/exp1.txt"
has "import summary" "$T/out" "imported 5 objects: 5 added, 0 replaced, 0 duplicates skipped"
matches "import reports each profile" "$T/out" "^added +profile +t1 \(line [0-9]+\)$"
unchanged "round trip: the import exports the same text"
gw profile import - <"$T/exp1.txt" >"$T/out" 2>&1
has "import from stdin" "$T/out" "imported 5 objects: 0 added, 0 replaced, 5 duplicates skipped"

# lineof FILE ERE : the number of the last line of FILE matching ERE.
lineof() { grep -nE -- "$2" "$1" | tail -1 | cut -d: -f1; }
{ echo "smimegw-profiles 1"; printf 'name: n1\nmode: encrypt\naction: drop\n\n'
  printf 'name: s1\nmode: sign\ncert: gw-rsa\n\n'
  printf 'name: e2\nmode: encrypt\naction: split\ncipher: aes192-cbc\noaep: no\n'; } >"$T/conflict.txt"
L=$(lineof "$T/conflict.txt" '^name: s1$')
refused "a conflict refuses the whole import" \
	"1 profile is already stored with different content; nothing was imported (--replace overwrites it)" \
	gw profile import "$T/conflict.txt"
matches "conflict reported by name and line" "$T/err" "conflict: profile 's1' \(line $L\): a different profile is stored under this name"
unchanged "a refused import changes nothing (not even its new profile)"
ok "import --replace" gw profile import --replace "$T/conflict.txt"
matches "replaced reported" "$T/out" "^replaced +profile +s1 \(line $L\)$"
matches "added reported" "$T/out" "^added +profile +n1 \(line 2\)$"
has "replace summary" "$T/out" "imported 3 objects: 1 added, 1 replaced, 1 duplicate skipped"
field "s1 now holds the imported settings" s1 "Signing certificate" gw-rsa
gw profile import --replace "$T/before.txt" >/dev/null
gw profile delete n1 >/dev/null
unchanged "restored from the export"

# broken NAME FILE MESSAGE : importing FILE is refused saying MESSAGE and
# changes nothing.
broken() {
	refused "broken import: $1" "$3" gw profile import "$2"
	unchanged "broken import changes nothing: $1"
}
good() { printf 'name: fresh1\nmode: encrypt\naction: drop\n\n'; }
{ echo "smimegw profiles"; good; } >"$T/b1.txt"
broken "bad header" "$T/b1.txt" "b1.txt:1: not a smimegw sending profile export (expected the header 'smimegw-profiles 1', found 'smimegw profiles')"
{ echo "smimegw-profiles 2"; good; } >"$T/b2.txt"
broken "unsupported version" "$T/b2.txt" "b2.txt:1: unsupported format version 'smimegw-profiles 2'"
{ echo "smimegw-profiles 1"; good; printf 'name: fresh2\nmode: sign\ncolour: red\n'; } >"$T/b3.txt"
broken "unknown attribute" "$T/b3.txt" "b3.txt:8: unknown attribute 'colour'"
{ echo "smimegw-profiles 1"; good; printf 'name: fresh2\nmode: encrypt\naction: drop\naction: split\n'; } >"$T/b4.txt"
broken "repeated attribute" "$T/b4.txt" "b4.txt:9: action given twice for profile 'fresh2' (first at line 8)"
{ echo "smimegw-profiles 1"; good; printf 'name: fresh2\naction: drop\n'; } >"$T/b5.txt"
broken "missing mode" "$T/b5.txt" "b5.txt:6: profile 'fresh2' has no 'mode:' line"
{ echo "smimegw-profiles 1"; good; printf 'name: -bad\nmode: encrypt\naction: drop\n'; } >"$T/b6.txt"
broken "invalid name" "$T/b6.txt" "b6.txt:6: '-bad' is not a valid name"
{ echo "smimegw-profiles 1"; good; good; } >"$T/b7.txt"
broken "duplicate name in the file" "$T/b7.txt" "b7.txt:6: profile name 'fresh1' already used at line 2"
{ echo "smimegw-profiles 1"; good; printf 'name: fresh2\nmode: sign\ncert: nobody\n'; } >"$T/b8.txt"
broken "a profile naming a missing identity" "$T/b8.txt" \
	"b8.txt:8: profile 'fresh2': cert: no identity named 'nobody' on this gateway"
{ echo "smimegw-profiles 1"; good; printf 'name: fresh2\nmode: sign\ncert: gw-enc\n'; } >"$T/b9.txt"
broken "a profile whose identity cannot sign" "$T/b9.txt" \
	"b9.txt:8: profile 'fresh2': cert: identity 'gw-enc' is for encryption only"
{ echo "smimegw-profiles 1"; good; printf 'name: fresh2\nmode: encrypt\n'; } >"$T/b10.txt"
broken "an encrypting profile without an action" "$T/b10.txt" \
	"b10.txt:6: profile 'fresh2': action: mode 'encrypt' encrypts and needs an action"
{ echo "smimegw-profiles 1"; good; printf 'name: fresh2\nmode: encrypt\naction: drop\nsign-mode: opaque\n'; } >"$T/b11.txt"
broken "an attribute the mode does not use" "$T/b11.txt" \
	"b11.txt:9: profile 'fresh2': sign-mode: mode 'encrypt' does not sign; remove the line"
{ echo "smimegw-profiles 1"; good; printf 'name: fresh2\nmode: encrypt\naction: reject\n'; } >"$T/b12.txt"
broken "a bad value" "$T/b12.txt" "b12.txt:8: action: 'reject' is not one of bounce, drop, split"
{ echo "smimegw-profiles 1"; printf 'mode: encrypt\n'; good; } >"$T/b13.txt"
broken "an attribute before the first name" "$T/b13.txt" "b13.txt:2: 'mode:' before the first 'name:' line"
{ echo "smimegw-profiles 1"; good; echo "just words"; } >"$T/b14.txt"
broken "a line that is no attribute" "$T/b14.txt" "b14.txt:6: unexpected line 'just words'"
{ echo "smimegw-profiles 1"; good; printf 'name: fresh2\nmode: sign\ncert: gw-ec\npss: yes\n'; } >"$T/b15.txt"
broken "pss with an EC identity" "$T/b15.txt" "b15.txt:9: profile 'fresh2': pss: RSASSA-PSS needs an RSA signing key"
printf 'smimegw-profiles 1\nname: x\0y\n' >"$T/b16.txt"
broken "a NUL byte" "$T/b16.txt" "b16.txt:2: a NUL byte"
: >"$T/b17.txt"
broken "an empty file" "$T/b17.txt" "b17.txt: empty input"
{ echo "smimegw-profiles 1"; good; printf 'name: fresh2\nmode: encrypt\naction: drop\noaep: maybe\n'; } >"$T/b18.txt"
broken "a yes/no attribute with another value" "$T/b18.txt" "b18.txt:9: oaep: expected yes or no"
refused "import a missing file" "nothere.txt: No such file or directory" gw profile import "$T/nothere.txt"
refused "import takes one FILE" "unexpected argument 'b'" gw profile import a b

# ---- cert delete of an identity in use ------------------------------------------------
refused "cert delete of an identity a profile signs with" \
	"identity 'gw-rsa' is the signing certificate of 2 sending profiles ('e1', 't1'): edit or delete them first, or give --force" \
	gw cert delete gw-rsa --yes
ok "... and the identity is still there" gw cert show gw-rsa
unchanged "... and the profiles too"
ok "cert delete of an identity no profile uses" gw cert delete gw-enc --yes
ok "cert delete --force" gw cert delete gw-rsa --yes --force
matches "--force warns about the profiles" "$T/err" "warning: sending profiles 'e1', 't1' sign with the deleted identity 'gw-rsa'"
field "the profile shows it cannot be used" t1 Status "UNUSABLE: cert: no identity named 'gw-rsa' on this gateway.*"
refused "--force without --yes is still refused" "refusing to delete 'gw-ec' without --yes" \
	gw cert delete gw-ec --force
refused "--force does not apply to cert show" "option '--force' does not apply to 'cert show'" \
	gw cert show gw-ec --force
finish
