#!/usr/bin/env bash
# smimegw process: sending profiles applied to messages with mixed
# recipients (bounce, drop, split), each output checked by openssl cms;
# incoming decryption, verification and harvesting (rules, updates, the
# 48-hour alert with an injected clock); result.json; sysexits; two
# processes harvesting at once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki.sh"
setup_token
GOOD="basicConstraints=critical,CA:FALSE;extendedKeyUsage=emailProtection"
ENC_RSA="keyUsage=critical,digitalSignature,keyEncipherment"
ENC_EC="keyUsage=critical,digitalSignature,keyAgreement"
mkca "$T/ca" "Partner CA"
mkca "$T/rogue" "Rogue CA"
mkee "$T/ca" bob rsa:2048 "$GOOD;$ENC_RSA;subjectAltName=email:bob@example1.com"
mkee "$T/ca" carol ec:P-256 "$GOOD;$ENC_EC;subjectAltName=email:carol@example1.com"
for p in erin erin2 gina gina2 hank ivy; do
	mkee "$T/ca" $p ec:P-256 "$GOOD;$ENC_EC;subjectAltName=email:${p%2}@example3.com"
done
mkee "$T/ca" signer rsa:2048 "$GOOD;keyUsage=critical,digitalSignature;subjectAltName=email:signer@example3.com"
mkee "$T/rogue" frank ec:P-256 "$GOOD;$ENC_EC;subjectAltName=email:frank@example4.com"

gw cert create gw --cn gw.corp.example --country DE --days 30 \
	--san-dns corp.example --key rsa:2048 >/dev/null
gw cert create other --cn gw.other.example --country DE --days 30 \
	--san-dns other.example --key rsa:2048 >/dev/null
gw cert export gw >"$T/gw.pem"
gw pubkey add bob "$T/bob.pem" >/dev/null
gw pubkey add carol "$T/carol.pem" >/dev/null
gw ca add "$T/ca/ca.pem" >/dev/null

gw profile add p-sign --mode sign --cert gw --sign-mode detached >/dev/null
gw profile add p-opaque --mode sign --cert gw --sign-mode opaque >/dev/null
gw profile add p-bounce --mode encrypt --action bounce >/dev/null
gw profile add p-drop --mode encrypt --action drop >/dev/null
gw profile add p-split --mode encrypt --action split >/dev/null
gw profile add p-se-split --mode sign-encrypt --cert gw --sign-mode detached \
	--action split >/dev/null
gw profile add p-triple --mode triple --cert gw --sign-mode opaque \
	--action bounce --cipher aes256-gcm >/dev/null
gw profile add p-other --mode sign --cert other --sign-mode detached >/dev/null

M=$T/m.eml
printf '%s\r\n' "From: Alice <alice@corp.example>" \
	"To: bob@example1.com, carol@example1.com, dave@example2.com" \
	"Subject: quarterly figures" "Date: Sat, 28 Nov 2026 10:00:00 +0000" \
	"Message-ID: <out1@corp.example>" "MIME-Version: 1.0" \
	"Content-Type: text/plain; charset=us-ascii" "" \
	"The figures are attached in spirit." >"$M"

# run NAME EXIT DIR ARGS... : smimegw process with --out-dir DIR; the
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
# j DIR FILTER : a value of DIR/result.json (jq -r; also proves it parses).
j() { jq -r "$2" "$1/result.json" 2>&1; }
out() { run "$1" "$2" "$3" --direction outgoing --from alice@corp.example "${@:4}" -i "$M"; }
files() { (cd "$1" && ls | tr '\n' ' '); }
dec() { openssl cms -decrypt -in "$1" -recip "$T/$2.pem" -inkey "$T/$2.key" -out "$3"; }
ver() { openssl cms -verify -in "$1" -CAfile "$T/gw.pem" -purpose smimesign -out "$2"; }
body_of() { sed -n '/^\r\{0,1\}$/,$p' "$1" | tail -n +2; }

# ---- outgoing ----------------------------------------------------------------
D=$T/o-none
out "no profile" 0 "$D" --to bob@example1.com
ok "no profile: delivered unchanged" cmp "$M" "$D/copy-1.eml"
same "no profile: decision" "$(j "$D" .decision)" deliver
same "no profile: outcome" "$(j "$D" '.recipients[0].outcome')" delivered

D=$T/o-sign
out "sign" 0 "$D" --profile p-sign --to bob@example1.com --to dave@example2.com
ok "sign: openssl verifies the copy" ver "$D/copy-1.eml" "$T/c.txt"
has "sign: content intact" "$T/c.txt" "The figures are attached in spirit."
same "sign: one copy for both" "$(j "$D" '.copies[0].recipients | length')" 2
same "sign: applied" "$(j "$D" '.copies[0].applied')" sign
same "sign: mode" "$(j "$D" .mode)" sign

D=$T/o-opaque
out "opaque sign" 0 "$D" --profile p-opaque --to dave@example2.com
matches "opaque: pkcs7-mime signed-data" "$D/copy-1.eml" 'smime-type=signed-data'
ok "opaque: openssl verifies" ver "$D/copy-1.eml" "$T/c.txt"

D=$T/o-enc
out "encrypt, all keys known" 0 "$D" --profile p-bounce --to bob@example1.com --to carol@example1.com
ok "encrypt: bob decrypts" dec "$D/copy-1.eml" bob "$T/d1.txt"
ok "encrypt: carol (ECDH) decrypts" dec "$D/copy-1.eml" carol "$T/d2.txt"
has "encrypt: content intact" "$T/d1.txt" "The figures are attached in spirit."
same "encrypt: two keys" "$(j "$D" '.copies[0].encrypted_to_keys')" 2
same "encrypt: bob by email match" "$(j "$D" '.recipients[0] | "\(.key) \(.key_source) \(.match)"')" \
	"bob pubkey email"

D=$T/o-bounce
out "bounce: a recipient without key" 69 "$D" --profile p-bounce \
	--to bob@example1.com --to dave@example2.com
same "bounce: no copy written" "$(files "$D")" "result.json "
same "bounce: decision" "$(j "$D" .decision)" bounce
matches "bounce: reason names the recipient" "$D/result.json" '"reason": "bounced: no usable public key for dave@example2.com"'
matches "bounce: reason on stderr for the DSN" "$T/err" 'dave@example2.com'
matches "bounce: one summary line" "$T/err" \
	'^smimegw: summary: direction=outgoing decision=bounce profile=p-bounce smime=encrypt rcpts=2 to=bob@example1.com status=bounced to=dave@example2.com status=bounced$'
same "bounce: bob's outcome" "$(j "$D" '.recipients[0].outcome')" bounced
matches "bounce: dave's reason" "$D/result.json" '"address": "dave@example2.com", "outcome": "bounced", "reason": "'

D=$T/o-drop
out "drop: a recipient without key" 0 "$D" --profile p-drop \
	--to bob@example1.com --to dave@example2.com
same "drop: no copy written" "$(files "$D")" "result.json "
same "drop: decision" "$(j "$D" .decision)" drop
same "drop: outcomes" "$(j "$D" '[.recipients[].outcome] | join(",")')" dropped,dropped

D=$T/o-split
out "split (encrypt)" 0 "$D" --profile p-split \
	--to bob@example1.com --to dave@example2.com --to carol@example1.com
same "split: two copies" "$(files "$D")" "copy-1.eml copy-2.eml result.json "
same "split: copy 1 recipients" "$(j "$D" '.copies[0].recipients | join(",")')" \
	bob@example1.com,carol@example1.com
same "split: copy 2 recipients" "$(j "$D" '.copies[1].recipients | join(",")')" dave@example2.com
ok "split: bob decrypts copy 1" dec "$D/copy-1.eml" bob "$T/d1.txt"
ok "split: carol decrypts copy 1" dec "$D/copy-1.eml" carol "$T/d2.txt"
ok "split: copy 2 is the message as it came" cmp "$M" "$D/copy-2.eml"
same "split: outcomes" "$(j "$D" '[.recipients[].outcome] | join(",")')" \
	protected,unencrypted,protected
same "split: decision" "$(j "$D" .decision)" deliver

D=$T/o-sesplit
out "split (sign-encrypt)" 0 "$D" --profile p-se-split \
	--to dave@example2.com --to bob@example1.com
same "sign-encrypt split: copy 1 for bob" "$(j "$D" '.copies[0] | "\(.applied) \(.recipients | join(","))"')" \
	"sign-encrypt bob@example1.com"
ok "sign-encrypt split: bob decrypts" dec "$D/copy-1.eml" bob "$T/inner.eml"
ok "sign-encrypt split: the inner signature verifies" ver "$T/inner.eml" "$T/c.txt"
has "sign-encrypt split: content intact" "$T/c.txt" "The figures are attached in spirit."
same "sign-encrypt split: copy 2 signed, not encrypted" "$(j "$D" '.copies[1].applied')" sign
ok "sign-encrypt split: copy 2 verifies" ver "$D/copy-2.eml" "$T/c2.txt"
refused "sign-encrypt split: copy 2 is not encrypted" "" \
	openssl cms -decrypt -in "$D/copy-2.eml" -recip "$T/bob.pem" -inkey "$T/bob.key"

D=$T/o-split-none
out "split, nobody has a key" 0 "$D" --profile p-se-split --to dave@example2.com
same "split, nobody has a key: one signed copy" "$(j "$D" '[.copies[].applied] | join(",")')" sign
ok "split, nobody has a key: copy verifies" ver "$D/copy-1.eml" "$T/c.txt"

D=$T/o-triple
out "triple" 0 "$D" --profile p-triple --to bob@example1.com
ok "triple: the outer signature verifies" ver "$D/copy-1.eml" "$T/t1.eml"
ok "triple: bob decrypts the middle" dec "$T/t1.eml" bob "$T/t2.eml"
ok "triple: the inner signature verifies" ver "$T/t2.eml" "$T/c.txt"
has "triple: content intact" "$T/c.txt" "The figures are attached in spirit."
openssl cms -cmsout -print -in "$T/t1.eml" >"$T/t1.txt" 2>&1
matches "triple: AES-256-GCM (authEnvelopedData)" "$T/t1.txt" 'id-smime-ct-authEnvelopedData'

D=$T/o-signfail
out "signing failure bounces" 69 "$D" --profile p-other --to bob@example1.com
matches "signing failure: reason" "$D/result.json" \
	'"reason": "signing failed: .*does not cover the From address alice@corp.example'
same "signing failure: nothing written" "$(files "$D")" "result.json "

# Header bytes that are not UTF-8 reach result.json as U+FFFD, and the
# file stays valid JSON.
sed 's/^From: Alice <alice@corp.example>/From: Al\xffce <al\xffce@other.example>/' "$M" >"$T/m8.eml"
D=$T/o-8bit
run "signing failure with an 8-bit From" 69 "$D" --direction outgoing --from alice@corp.example \
	--profile p-sign --to bob@example1.com -i "$T/m8.eml"
same "8-bit From: result.json parses, bytes become U+FFFD" \
	"$(jq -r .reason "$D/result.json" | grep -o 'al[^@ ]*@other.example' | head -1)" \
	"$(printf 'al\xef\xbf\xbdce@other.example')"

D=$T/o-noprofile
out "a profile that does not exist defers" 75 "$D" --profile p-gone --to bob@example1.com
same "missing profile: decision" "$(j "$D" .decision)" defer
matches "missing profile: reason" "$D/result.json" "there is no sending profile 'p-gone'"

# ---- usage and input ---------------------------------------------------------
D=$T/u
run "no --direction" 64 "$D" --from a@corp.example --to b@example1.com -i "$M"
run "bad --direction" 64 "$D" --direction sideways --from a@corp.example --to b@example1.com -i "$M"
matches "bad --direction: says so" "$T/err" "'sideways' is not outgoing or incoming"
run "--profile on incoming" 64 "$D" --direction incoming --from a@x.example --to b@corp.example --profile p-sign -i "$M"
matches "--profile on incoming: says so" "$T/err" "option '--profile' applies to outgoing mail only"
run "--harvest on outgoing" 64 "$D" --direction outgoing --from a@corp.example --to b@example1.com --harvest -i "$M"
run "--harvest-updates without --harvest" 64 "$D" --direction incoming --from a@x.example \
	--to b@corp.example --harvest-updates -i "$M"
run "--to that is not an address" 64 "$D" --direction outgoing --from a@corp.example --to 'bob' -i "$M"
matches "--to: says so" "$T/err" "'bob' is not an address"
run "no --to" 64 "$D" --direction outgoing --from a@corp.example -i "$M"
run "bad --now" 64 "$D" --direction outgoing --from a@corp.example --to b@example1.com --now yesterday -i "$M"
: >"$T/empty.eml"
run "empty message" 65 "$D" --direction outgoing --from a@corp.example --to b@example1.com -i "$T/empty.eml"
same "empty message: decision" "$(j "$D" .decision)" reject
run "null sender accepted" 0 "$D" --direction outgoing --from '' --to b@example1.com -i "$M"

# ---- incoming ----------------------------------------------------------------
# signed_by NAME FROM MID OUT : a message from FROM, signed with NAME's key.
signed_by() {
	printf 'Content-Type: text/plain\r\n\r\nhello from %s\r\n' "$1" >"$T/sc.txt"
	{
		printf 'From: %s\r\nTo: alice@corp.example\r\nSubject: signed\r\nMessage-ID: %s\r\n' "$2" "$3"
		openssl cms -sign -signer "$T/$1.pem" -inkey "$T/$1.key" -in "$T/sc.txt" \
			-crlfeol 2>/dev/null
	} >"$4"
}
inc() { run "$1" "$2" "$3" --direction incoming --from "${FROM:-x@example1.com}" --to alice@corp.example "${@:4}"; }

signed_by bob bob@example1.com '<in1@example1.com>' "$T/in1.eml"
D=$T/i-signed
inc "incoming signed" 0 "$D" -i "$T/in1.eml"
same "incoming signed: flags" "$(j "$D" '.flags | "\(.["smime-gateway-message"]) \(.["smime-gateway-verified"])"')" "true true"
same "incoming signed: pass" "$(j "$D" .smime.result)" pass
matches "incoming signed: Authentication-Results in the copy" "$D/copy-1.eml" '^[[:space:]]+smime=pass'
same "incoming signed: nothing harvested without --harvest" "$(j "$D" '.harvested | length')" 0

printf 'Content-Type: text/plain\r\n\r\nfor the gateway only\r\n' >"$T/in2.txt"
{
	printf '%s\r\n' "From: bob@example1.com" "To: alice@corp.example" \
		"Subject: secret" "Message-ID: <in2@example1.com>"
	openssl cms -encrypt -aes256 -in "$T/in2.txt" -crlfeol "$T/gw.pem" 2>/dev/null
} >"$T/in2.eml"
D=$T/i-enc
inc "incoming encrypted" 0 "$D" -i "$T/in2.eml"
same "incoming encrypted: decrypted once" "$(j "$D" .smime.decrypted)" 1
has "incoming encrypted: plaintext delivered" "$D/copy-1.eml" "for the gateway only"
# AES-CBC content that no signature inside covers is not verified (issue 8, item 5).
same "incoming encrypted: CBC content alone is not verified, and flagged" \
	"$(j "$D" '.flags | "\(.["smime-gateway-verified"]) \(.["unauthenticated-encryption"])"')" "false true"

# The token unavailable: a PIN file that is missing.  Nothing delivered.
sed 's#^pin_file = .*#pin_file = tok/missing.pin#' "$T/smimegw.conf" >"$T/nopin.conf"
rm -rf "$T/i-nopin"
${WRAP:-} "$SMIMEGW" -c "$T/nopin.conf" process --out-dir "$T/i-nopin" --direction incoming \
	--from bob@example1.com --to alice@corp.example -i "$T/in2.eml" >/dev/null 2>"$T/err"
same "token unavailable, incoming: exit 75" "$?" 75
same "token unavailable, incoming: nothing delivered" "$(files "$T/i-nopin")" "result.json "
same "token unavailable, incoming: decision" "$(j "$T/i-nopin" .decision)" defer
rm -rf "$T/o-nopin"
${WRAP:-} "$SMIMEGW" -c "$T/nopin.conf" process --out-dir "$T/o-nopin" --direction outgoing \
	--from alice@corp.example --to bob@example1.com --profile p-sign -i "$M" >/dev/null 2>"$T/err"
same "token unavailable, signing: exit 75 (not a bounce)" "$?" 75

# ---- harvesting --------------------------------------------------------------
NOW=$(date -u +%s)
signed_by erin erin@example3.com '<h1@example3.com>' "$T/h1.eml"
D=$T/h1
inc "harvest: erin's signed message" 0 "$D" --harvest -i "$T/h1.eml" --now "$NOW"
same "harvest: new key" "$(j "$D" '.harvested[0] | "\(.address) \(.outcome)"')" "erin@example3.com new"
ERIN_ID=$(j "$D" '.harvested[0].id')
same "harvest: ID is erin's fingerprint" "$ERIN_ID" \
	"$(openssl x509 -in "$T/erin.pem" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)"
gw harvested list >"$T/hl.txt" 2>&1
matches "harvest: listed" "$T/hl.txt" "erin@example3.com"
inc "harvest: the same message again" 0 "$D" --harvest -i "$T/h1.eml" --now "$((NOW + 60))"
same "harvest: seen again" "$(j "$D" '.harvested[0].outcome')" seen

D=$T/o-harv
out "encrypt to a harvested key" 0 "$D" --profile p-bounce --to erin@example3.com
same "harvested key used" "$(j "$D" '.recipients[0] | "\(.key) \(.key_source)"')" "$ERIN_ID harvested"
ok "erin decrypts with her own key" dec "$D/copy-1.eml" erin "$T/d.txt"
gw harvested show "$ERIN_ID" >"$T/hs.txt" 2>&1
matches "harvested key: last used recorded" "$T/hs.txt" '^Last used: +[0-9]'

signed_by frank frank@example4.com '<h2@example4.com>' "$T/h2.eml"
D=$T/h2
inc "untrusted signer: delivered" 0 "$D" --harvest -i "$T/h2.eml"
same "untrusted signer: not verified" "$(j "$D" '.flags["smime-gateway-verified"]')" false
same "untrusted signer: not harvested by default" \
	"$(j "$D" '[.harvested[] | select(.outcome != "skipped")] | length')" 0
inc "untrusted signer, --harvest-on-failure" 0 "$D" --harvest --harvest-on-failure -i "$T/h2.eml"
same "untrusted signer, on failure: harvested" "$(j "$D" '.harvested[0].outcome')" new

signed_by signer signer@example3.com '<h3@example3.com>' "$T/h3.eml"
D=$T/h3
inc "signing-only certificate" 0 "$D" --harvest -i "$T/h3.eml"
same "signing-only certificate: skipped (cannot encrypt)" "$(j "$D" '.harvested[0].outcome')" skipped

# Updates: erin2 is a new key for erin's address.
signed_by erin2 erin@example3.com '<h4@example3.com>' "$T/h4.eml"
D=$T/h4
inc "updated key, updates off" 0 "$D" --harvest -i "$T/h4.eml" --now "$((NOW + 120))"
same "updated key, updates off: skipped" "$(j "$D" '.harvested[0].outcome')" skipped
inc "updated key, --harvest-updates" 0 "$D" --harvest --harvest-updates -i "$T/h4.eml" --now "$((NOW + 180))"
same "updated key: stored as an update" "$(j "$D" '.harvested[0].outcome')" updated
same "one update: no alert" "$(j "$D" '.alerts | length')" 0
# A second update for the same domain within 48 hours raises the alert.
signed_by gina gina@example3.com '<h5@example3.com>' "$T/h5.eml"
signed_by gina2 gina@example3.com '<h6@example3.com>' "$T/h6.eml"
inc "gina's first key" 0 "$T/h5" --harvest -i "$T/h5.eml" --now "$((NOW + 3600))"
D=$T/h6
inc "gina's update, 1 hour after erin's" 0 "$D" --harvest --harvest-updates -i "$T/h6.eml" \
	--now "$((NOW + 3600 + 60))"
same "second update in 48 h: alert" "$(j "$D" '.alerts | length')" 1
matches "alert names the domain" "$D/result.json" 'example3.com'
gw alerts list >"$T/al.txt" 2>&1
matches "alert listed" "$T/al.txt" 'example3.com'

# Two processes harvesting at once lose nothing.
signed_by hank hank@example3.com '<c1@example3.com>' "$T/c1.eml"
signed_by ivy ivy@example3.com '<c2@example3.com>' "$T/c2.eml"
for i in 1 2 3 4; do
	"$SMIMEGW" -c "$T/smimegw.conf" process --out-dir "$T/c1-$i" --direction incoming \
		--from hank@example3.com --to alice@corp.example --harvest -i "$T/c1.eml" >/dev/null 2>&1 &
	"$SMIMEGW" -c "$T/smimegw.conf" process --out-dir "$T/c2-$i" --direction incoming \
		--from ivy@example3.com --to alice@corp.example --harvest -i "$T/c2.eml" >/dev/null 2>&1 &
done
wait
gw harvested list >"$T/hl.txt" 2>&1
matches "concurrent: hank harvested" "$T/hl.txt" "hank@example3.com"
matches "concurrent: ivy harvested" "$T/hl.txt" "ivy@example3.com"
gw harvested show hank@example3.com >"$T/hh.txt" 2>&1
matches "concurrent: hank seen 4 times" "$T/hh.txt" "^Seen count: +4$"
same "concurrent: every run wrote its result" \
	"$(cat "$T"/c?-?/result.json | jq -r .decision | sort | uniq -c | tr -s ' ')" " 8 deliver"

finish
