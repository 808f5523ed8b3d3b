#!/usr/bin/env bash
# Which keys the gateway uses for incoming mail (issue 8): a replaced
# certificate still decrypts until forgotten (item 4); an identity
# decrypts only for the envelope recipients it covers, or as the
# configured catch-all (item 7); a pinned partner key is trusted for
# itself only, never as a CA (item 8).  Peers are openssl cms.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki.sh"
: "${PUBKEY_SEED:?}"
setup_token
echo "authserv_id = gw.test" >>"$T/smimegw.conf"
mkca "$T/ca" "Issuing CA"

# run NAME EXIT DIR ARGS... : smimegw process --out-dir DIR, exit EXIT.
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
# j DIR FILTER : a value of DIR/result.json.
j() { jq -r "$2" "$1/result.json" 2>&1; }
# inc NAME DIR RCPT FILE : incoming, envelope recipient RCPT.
inc() { run "$1" 0 "$2" --direction incoming --from x@partner.example --to "$3" -i "$4"; }
# enc OUT TEXT CERT... : a message with body TEXT encrypted by openssl to CERTs.
enc() {
	local out=$1 text=$2
	shift 2
	printf 'Content-Type: text/plain\r\n\r\n%s\r\n' "$text" >"$T/plain.txt"
	{
		printf '%s\r\n' "From: x@partner.example" "To: someone" \
			"Subject: secret" "Message-ID: <$RANDOM@partner.example>"
		openssl cms -encrypt -aes256 -in "$T/plain.txt" -crlfeol "$@" 2>/dev/null
	} >"$out"
}

# ---- item 4: a replaced certificate still decrypts -------------------------
sign_csr() { # CSR OUT EXT
	printf '[ x ]\n%s\n' "${3//;/$'\n'}" >"$T/x.ext"
	openssl ca -batch -config "$T/ca/ca.cnf" -in "$1" -out "$2" -extfile "$T/x.ext" \
		-extensions x -notext -days 200 2>"$T/ca.log" || cat "$T/ca.log" >&2
}
for kt in rsa:2048 ec:p256; do
	id=shop-${kt/:/}
	ku=keyEncipherment
	[ "$kt" = ec:p256 ] && ku=keyAgreement
	gw cert create "$id" --cn shop.example --country DE --days 30 \
		--san-dns shop.example --key "$kt" >/dev/null
	gw cert export "$id" >"$T/$id-old.pem"
	enc "$T/$id-old.eml" "sent to the self-signed certificate" "$T/$id-old.pem"
	enc "$T/$id-oldski.eml" "sent to its key identifier" -keyid "$T/$id-old.pem"
	gw cert csr "$id" -o "$T/$id.csr"
	sign_csr "$T/$id.csr" "$T/$id-new.pem" \
		"basicConstraints=critical,CA:FALSE;keyUsage=critical,digitalSignature,nonRepudiation,$ku;extendedKeyUsage=emailProtection;subjectAltName=DNS:shop.example"
	ok "$kt: install the CA-issued certificate" gw cert install "$id" "$T/$id-new.pem"
	ok "item04_old_certificate_still_decrypts ($kt, message open)" \
		gw message open -i "$T/$id-old.eml" -o "$T/$id-o1.eml"
	has "$kt: old message's plaintext" "$T/$id-o1.eml" "sent to the self-signed certificate"
	D=$T/$id-p1
	inc "item04_old_certificate_still_decrypts ($kt, process)" "$D" a@shop.example "$T/$id-old.eml"
	same "item04_old_certificate_still_decrypts ($kt, process: decrypted)" \
		"$(j "$D" .smime.decrypted)" 1
	ok "$kt: by subject key identifier too" gw message open -i "$T/$id-oldski.eml" -o "$T/$id-o2.eml"
	enc "$T/$id-new.eml" "sent to the CA-issued certificate" "$T/$id-new.pem"
	ok "$kt: the new certificate decrypts" gw message open -i "$T/$id-new.eml" -o "$T/$id-o3.eml"
	has "$kt: new message's plaintext" "$T/$id-o3.eml" "sent to the CA-issued certificate"
	gw cert show "$id" >"$T/show"
	old_serial=$(openssl x509 -in "$T/$id-old.pem" -noout -serial | cut -d= -f2)
	has "$kt: show counts the previous certificate" "$T/show" \
		"Previous certificates: 1 (still decrypt mail sent to them)"
	matches "$kt: show names its serial" "$T/show" "^  serial $old_serial, not after "
	# Installing the same certificate again keeps one previous certificate.
	ok "$kt: install again" gw cert install "$id" "$T/$id-new.pem"
	gw cert show "$id" >"$T/show"
	has "$kt: reinstall adds no previous certificate" "$T/show" \
		"Previous certificates: 1 (still decrypt mail sent to them)"
done

# A backup (config export) keeps the previous certificates: the restored
# store still decrypts the old mail.
id=shop-rsa2048
ok "item04_previous_certificates_backed_up: export" gw config export "$T/backup.txt"
sed 's#^data_dir = data$#data_dir = restored#' "$T/smimegw.conf" >"$T/restored.conf"
ok "item04_previous_certificates_backed_up: import into a fresh store" \
	${WRAP:-} "$SMIMEGW" -c "$T/restored.conf" config import "$T/backup.txt"
ok "item04_previous_certificates_backed_up: the restored store decrypts old mail" \
	${WRAP:-} "$SMIMEGW" -c "$T/restored.conf" message open -i "$T/$id-old.eml" -o "$T/$id-o4.eml"
has "item04_previous_certificates_backed_up: plaintext" "$T/$id-o4.eml" \
	"sent to the self-signed certificate"
${WRAP:-} "$SMIMEGW" -c "$T/restored.conf" config export "$T/backup2.txt" 2>/dev/null
ok "item04_previous_certificates_backed_up: export again is identical" \
	cmp "$T/backup.txt" "$T/backup2.txt"

old_serial=$(openssl x509 -in "$T/$id-old.pem" -noout -serial | cut -d= -f2)
refused "forget-previous needs --serial or --all" "give either --serial HEX or --all" \
	gw cert forget-previous "$id"
refused "forget-previous: not hex" "--serial: 'xyz' is not a serial number in hex" \
	gw cert forget-previous "$id" --serial xyz
refused "forget-previous: no such serial" "keeps no previous certificate with serial number 0BAD" \
	gw cert forget-previous "$id" --serial 0BAD
refused "forget-previous: unknown identity" "no identity named 'nope'" \
	gw cert forget-previous nope --all
ok "forget-previous --serial (lower case, colons)" gw cert forget-previous "$id" \
	--serial "$(echo "$old_serial" | tr 'A-F' 'a-f' | sed 's/../&:/g; s/:$//')"
has "forget-previous says what went" "$T/out" \
	"identity '$id': forgot 1 previous certificate; mail encrypted to it is no longer decrypted"
refused "item04_old_certificate_still_decrypts: not after it is forgotten" \
	"no identity of this gateway is a recipient of the message" \
	gw message open -i "$T/$id-old.eml" -o /dev/null
ok "the current certificate still decrypts after forgetting" \
	gw message open -i "$T/$id-new.eml" -o /dev/null
gw cert show "$id" >"$T/show"
has "show: no previous certificate left" "$T/show" "Previous certificates: 0"
ok "forget-previous --all" gw cert forget-previous shop-ecp256 --all
refused "forget-previous --all: nothing left" "identity 'shop-ecp256' keeps no previous certificate" \
	gw cert forget-previous shop-ecp256 --all
refused "EC: old message no longer decrypts" "no identity of this gateway is a recipient" \
	gw message open -i "$T/shop-ecp256-old.eml" -o /dev/null

# ---- item 7: decrypted only for the envelope recipients ---------------------
gw cert create alice --cn "Alice" --country DE --days 30 \
	--san-email alice@corp.example >/dev/null
gw cert create bob --cn "Bob" --country DE --days 30 \
	--san-email bob@corp.example >/dev/null
gw cert create team --cn team.example --country DE --days 30 \
	--san-dns team.example >/dev/null
for n in alice bob team; do gw cert export $n >"$T/$n.pem"; done
enc "$T/to-alice.eml" "for alice only" "$T/alice.pem"
enc "$T/to-both.eml" "for alice and bob" "$T/alice.pem" "$T/bob.pem"
enc "$T/to-team.eml" "for the team domain" "$T/team.pem"

D=$T/w1
inc "item07_wrong_recipient_not_decrypted (process)" "$D" bob@corp.example "$T/to-alice.eml"
same "item07_wrong_recipient_not_decrypted: nothing decrypted" "$(j "$D" .smime.decrypted)" 0
same "item07_wrong_recipient_not_decrypted: the reason says why" "$(j "$D" .smime.reason)" \
	"the message is encrypted to identity 'alice', which covers none of its envelope recipients"
same "item07_wrong_recipient_not_decrypted: ciphertext delivered" \
	"$(grep -c 'for alice only' "$D/copy-1.eml")" 0
matches "item07_wrong_recipient_not_decrypted: result header" "$D/copy-1.eml" \
	"reason=\"the message is encrypted to identity 'alice', which covers none"
refused "item07_wrong_recipient_not_decrypted (message open --to)" \
	"the message is encrypted to identity 'alice', which covers none of its envelope recipients" \
	gw message open --to bob@corp.example -i "$T/to-alice.eml" -o /dev/null
refused "item07_wrong_recipient_not_decrypted (message decrypt --to)" \
	"covers none of its envelope recipients" \
	gw message decrypt --to bob@corp.example -i "$T/to-alice.eml" -o /dev/null

D=$T/w2
inc "item07_right_recipient_decrypted (process)" "$D" alice@corp.example "$T/to-alice.eml"
same "item07_right_recipient_decrypted: decrypted" "$(j "$D" .smime.decrypted)" 1
has "item07_right_recipient_decrypted: plaintext" "$D/copy-1.eml" "for alice only"
ok "item07_right_recipient_decrypted (message open --to)" \
	gw message open --to alice@corp.example -i "$T/to-alice.eml" -o "$T/w2.eml"
has "message open --to alice: plaintext" "$T/w2.eml" "for alice only"
D=$T/w3
run "item07_one_of_several_recipients (process)" 0 "$D" --direction incoming \
	--from x@partner.example --to carol@corp.example --to alice@corp.example \
	-i "$T/to-alice.eml"
same "item07_one_of_several_recipients: decrypted" "$(j "$D" .smime.decrypted)" 1
D=$T/w4
inc "item07_the_covering_identity_is_chosen (process)" "$D" bob@corp.example "$T/to-both.eml"
same "item07_the_covering_identity_is_chosen: decrypted with bob's" \
	"$(j "$D" .smime.decrypted)" 1
D=$T/w5
inc "item07_domain_identity (process)" "$D" anyone@team.example "$T/to-team.eml"
same "item07_domain_identity: decrypted" "$(j "$D" .smime.decrypted)" 1
D=$T/w6
inc "item07_domain_identity: not for another domain" "$D" anyone@corp.example "$T/to-team.eml"
same "item07_domain_identity: another domain: not decrypted" "$(j "$D" .smime.decrypted)" 0
ok "message open without --to: any identity (an administrator's tool)" \
	gw message open -i "$T/to-alice.eml" -o "$T/w7.eml"
has "message open without --to: plaintext" "$T/w7.eml" "for alice only"
refused "message open --to: not an address" "--to: 'alice' is not an envelope recipient address" \
	gw message open --to alice -i "$T/to-alice.eml" -o /dev/null

cp "$T/smimegw.conf" "$T/plain.conf"
echo "decrypt_catch_all = alice" >>"$T/smimegw.conf"
D=$T/w8
inc "item07_catch_all_decrypts (process)" "$D" bob@corp.example "$T/to-alice.eml"
same "item07_catch_all_decrypts: decrypted" "$(j "$D" .smime.decrypted)" 1
has "item07_catch_all_decrypts: plaintext" "$D/copy-1.eml" "for alice only"
D=$T/w9
inc "catch-all: another identity still only for its own" "$D" alice@corp.example "$T/to-team.eml"
same "catch-all: team's message not for alice" "$(j "$D" .smime.decrypted)" 0
ok "config show: decrypt_catch_all" gw config show
has "config show prints decrypt_catch_all" "$T/out" 'decrypt_catch_all = "alice"'
cp "$T/plain.conf" "$T/smimegw.conf"
echo "decrypt_catch_all = -bad" >>"$T/smimegw.conf"
refused "decrypt_catch_all: not an identity name" \
	"smimegw.conf:6: decrypt_catch_all: '-bad' is not an identity name" \
	gw cert list
cp "$T/plain.conf" "$T/smimegw.conf"

# ---- item 8: a pinned partner key is no CA ----------------------------------
GOOD="extendedKeyUsage=emailProtection"
# A partner "certificate" that is a CA able to sign mail too.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/pca.key" -out "$T/pca.pem" \
	-subj "/CN=Partner Root/O=Partner" -days 365 \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,digitalSignature,keyCertSign" \
	-addext "$GOOD" -addext "subjectAltName=email:boss@partner.example" 2>/dev/null
# A leaf it issues for an address that is not the partner's.
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/mallory.key" \
	-subj "/CN=CEO" -out "$T/mallory.csr" 2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:FALSE" \
	"keyUsage=critical,digitalSignature" "$GOOD" \
	"subjectAltName=email:ceo@victim.example" >"$T/mallory.ext"
openssl x509 -req -in "$T/mallory.csr" -CA "$T/pca.pem" -CAkey "$T/pca.key" \
	-CAcreateserial -days 30 -extfile "$T/mallory.ext" -out "$T/mallory.pem" 2>/dev/null
# A partner's own self-signed end-entity certificate, pinned: still fine.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/pin.key" -out "$T/pin.pem" \
	-subj "/CN=Pinned Partner" -days 365 \
	-addext "basicConstraints=critical,CA:FALSE" \
	-addext "keyUsage=critical,digitalSignature" \
	-addext "$GOOD" -addext "subjectAltName=email:pin@partner.example" 2>/dev/null

# signed_by NAME FROM OUT : a message from FROM signed with NAME's key.
signed_by() {
	printf 'Content-Type: text/plain\r\n\r\nsigned by %s\r\n' "$1" >"$T/sc.txt"
	{
		printf '%s\r\n' "From: $2" "To: alice@corp.example" "Subject: signed" \
			"Message-ID: <$RANDOM@partner.example>"
		openssl cms -sign -signer "$T/$1.pem" -inkey "$T/$1.key" -in "$T/sc.txt" \
			-crlfeol 2>/dev/null
	} >"$3"
}
signed_by mallory ceo@victim.example "$T/forged.eml"
signed_by pin pin@partner.example "$T/pinned.eml"

refused "item08_pubkey_add_refuses_ca" \
	"basic-constraints: the certificate is a CA (basicConstraints CA:TRUE)" \
	gw pubkey add pca "$T/pca.pem"
matches "item08_pubkey_add_refuses_ca: points to ca add" "$T/err" "smimegw ca add"
refused "item08_pubkey_add_refuses_ca: nothing stored" "no public key named 'pca'" \
	gw pubkey show pca
{
	echo "smimegw-pubkeys 1"
	echo "name: pin"
	cat "$T/pin.pem"
	echo "name: pca"
	cat "$T/pca.pem"
} >"$T/pk.txt"
refused "item08_pubkey_import_refuses_ca (FILE:LINE)" \
	"pk.txt:$(grep -n 'name: pca' "$T/pk.txt" | cut -d: -f1): key 'pca': basic-constraints: the certificate is a CA" \
	gw pubkey import "$T/pk.txt"
refused "pubkey import of a CA: nothing imported" "no public key named 'pin'" gw pubkey show pin

ok "a CA:FALSE partner certificate is pinned" gw pubkey add pin "$T/pin.pem"
D=$T/k1
inc "pinned end-entity key verifies its own signature" "$D" alice@corp.example "$T/pinned.eml"
same "pinned end-entity key: pass" "$(j "$D" .smime.result)" pass

# A store that an older smimegw filled: the CA went in as a pinned key.
ok "an older store holds a CA as a pinned key" \
	"$PUBKEY_SEED" -c "$T/smimegw.conf" pca "$T/pca.pem"
D=$T/k2
inc "item08_pinned_ca_is_no_anchor (process)" "$D" alice@corp.example "$T/forged.eml"
same "item08_pinned_ca_is_no_anchor: not pass" "$(j "$D" .smime.result)" fail
same "item08_pinned_ca_is_no_anchor: not verified" \
	"$(j "$D" '.flags["smime-gateway-verified"]')" false
matches "item08_pinned_ca_is_no_anchor: why" "$D/copy-1.eml" \
	"reason=\"signer certificate not trusted .*invalid CA certificate"
refused "item08_pinned_ca_is_no_anchor (message open)" "signer certificate not trusted" \
	gw message open -i "$T/forged.eml" -o /dev/null
D=$T/k3
inc "pinned end-entity key still verifies beside it" "$D" alice@corp.example "$T/pinned.eml"
same "pinned end-entity key beside the CA: pass" "$(j "$D" .smime.result)" pass

# The same certificate trusted as a CA on purpose: then it anchors.
ok "ca add makes it a CA" gw ca add "$T/pca.pem"
D=$T/k4
inc "a CA from ca add anchors its leaf" "$D" alice@corp.example "$T/forged.eml"
same "a CA from ca add anchors its leaf: pass" "$(j "$D" .smime.result)" pass
finish
