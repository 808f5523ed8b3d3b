#!/usr/bin/env bash
# Which keys the gateway uses for incoming mail (issue 8): a pinned
# partner key is trusted for itself only, never as a CA (item 8).
# Peers are openssl cms.
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
