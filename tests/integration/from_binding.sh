#!/usr/bin/env bash
# The From binding and our result header fields (issue 8, items 06 and
# 09), end to end: messages signed by openssl cms as a partner, opened
# with `smimegw message open` and `smimegw process`.
#
# Item 06: a signature passes only when the signer's certificate covers
# every mailbox of every From field, parsed as RFC 5322 says (comments,
# quoted display names, groups, several mailboxes, several fields); a
# From field that is no address list does not pass.  Signing and
# harvesting read the From fields the same way.
# Item 09: every X-SMIME-Gateway field that arrives, and every
# Authentication-Results field that arrives bearing our authserv-id in
# any spelling a reader could take for it, is removed; the output has
# exactly our own two fields.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki.sh"
setup_token
echo "authserv_id = gw.test" >>"$T/smimegw.conf"
GOOD="basicConstraints=critical,CA:FALSE;extendedKeyUsage=emailProtection"
mkca "$T/ca" "Partner CA"
mkee "$T/ca" alice rsa:2048 "$GOOD;keyUsage=critical,digitalSignature,keyEncipherment;subjectAltName=email:alice@partner.example"
# A certificate for the whole domain (a dNSName covers every address in it).
mkee "$T/ca" team rsa:2048 "$GOOD;keyUsage=critical,digitalSignature,keyEncipherment;subjectAltName=DNS:partner.example"
gw ca add "$T/ca/ca.pem" >/dev/null
gw cert create gw-rsa --cn gw.example.com --country DE --days 30 \
	--san-dns example.com --key rsa:2048 >/dev/null

printf 'Content-Type: text/plain\r\n\r\nthe body\r\n' >"$T/ent.txt"
# signed OUT SIGNER HEADER-LINE... : a message with these header lines
# (the From fields under test), signed by SIGNER with openssl cms.
signed() {
	local out=$1 who=$2 h
	shift 2
	{
		for h in "$@"; do printf '%s\r\n' "$h"; done
		printf 'To: x@example.com\r\nSubject: binding\r\nMessage-ID: <%s@partner.example>\r\n' "${out##*/}"
		openssl cms -sign -in "$T/ent.txt" -signer "$T/$who.pem" \
			-inkey "$T/$who.key" -md sha256 -crlfeol 2>/dev/null
	} >"$out"
}
# open NAME MESSAGE : smimegw message open into $T/o-NAME.eml
open_msg() { gw message open -i "$2" -o "$T/o-$1.eml"; }
# not_pass NAME REASON HEADER-LINE... : signed by alice, the open fails
# saying REASON, and the output says smime=fail, not verified.
not_pass() {
	local name=$1 why=$2
	shift 2
	signed "$T/$name.eml" alice "$@"
	refused "$name" "$why" open_msg "$name" "$T/$name.eml"
	has "$name: smime=fail" "$T/o-$name.eml" "smime=fail"
	matches "$name: not verified" "$T/o-$name.eml" "smime-gateway-verified=0"
	same "$name: no pass anywhere" "$(grep -c 'smime=pass' "$T/o-$name.eml")" 0
}
# passes NAME SIGNER HEADER-LINE... : the open passes.
passes() {
	local name=$1 who=$2
	shift 2
	signed "$T/$name.eml" "$who" "$@"
	ok "$name" open_msg "$name" "$T/$name.eml"
	has "$name: smime=pass" "$T/o-$name.eml" "smime=pass"
	matches "$name: verified" "$T/o-$name.eml" "smime-gateway-verified=1"
}

# ---- item 06: the From binding ----------------------------------------------
passes "control: alice signs for alice" alice "From: Alice <alice@partner.example>"
not_pass "control: alice signs for the CEO" \
	"does not cover the From address ceo@example.com" "From: ceo@example.com"

# The attack of the issue: the last <...> sat in a comment.
not_pass item06_from_mailbox_in_comment \
	"does not cover the From address ceo@example.com" \
	"From: ceo@example.com (<alice@partner.example>)"
not_pass item06_second_from_field \
	"does not cover the From address ceo@example.com" \
	"From: Alice <alice@partner.example>" "From: ceo@example.com"
not_pass item06_second_from_field_spelt_differently \
	"does not cover the From address ceo@example.com" \
	"From: alice@partner.example" "FROM : ceo@example.com"
not_pass item06_group_with_uncovered_member \
	"does not cover the From address bob@partner.example" \
	"From: Partners: alice@partner.example, bob@partner.example;"
not_pass item06_second_mailbox_uncovered \
	"does not cover the From address ceo@example.com" \
	"From: alice@partner.example, ceo@example.com"
not_pass item06_quoted_name_then_bare_address \
	"the From field cannot be bound to the signer certificate" \
	'From: "<alice@partner.example>" ceo@example.com'
not_pass item06_unclosed_angle \
	"'>' was expected" "From: Alice <alice@partner.example"
not_pass item06_empty_group "From field: no mailbox" \
	"From: undisclosed-recipients:;"
not_pass item06_display_name_without_address \
	"a mailbox has no '@' and no <...>" "From: Alice Example"
# A comment, a quoted name and a group name are no mailboxes.
passes item06_quoted_display_name_with_angle alice \
	'From: "ceo@example.com <ceo@example.com>, x" <alice@partner.example>'
passes item06_comment_after_correct_address alice \
	"From: Alice <alice@partner.example> (not <ceo@example.com>)"
passes item06_folded_from_field alice \
	$'From: "Partner, Alice"\r\n <alice@partner.example>\r\n (work)'
passes item06_encoded_word_display_name alice \
	"From: =?utf-8?q?CEO_=3Cceo=40example=2Ecom=3E?= <alice@partner.example>"
passes item06_group_all_covered team \
	"From: Partners: alice@partner.example, Bob <bob@partner.example>;"
has "item06_group_all_covered: the signer named" "$T/o-item06_group_all_covered.eml" \
	'body.smime-identifier="partner.example"'

# Signing: the identity must cover every From mailbox too.
printf '%s\r\n' "From: postmaster@example.com, mallory@elsewhere.example" \
	"To: x@partner.example" "Subject: out" "" "hello" >"$T/out2.eml"
refused item06_sign_every_from_mailbox \
	"does not cover the From address mallory@elsewhere.example" \
	gw message sign --cert gw-rsa -i "$T/out2.eml"
printf '%s\r\n' "From: postmaster@example.com (<mallory@elsewhere.example>)" \
	"To: x@partner.example" "Subject: out" "" "hello" >"$T/out3.eml"
ok "item06_sign_ignores_comment" gw message sign --cert gw-rsa -i "$T/out3.eml" -o "$T/s3.eml"

# The mail path: a sending profile that signs, and one that triple-wraps
# (the envelope is signed for the message's From fields too).
gw pubkey add alice "$T/alice.pem" >/dev/null
gw profile add p-sign --mode sign --cert gw-rsa >/dev/null
gw profile add p-triple --mode triple --cert gw-rsa --action bounce >/dev/null
for prof in p-sign p-triple; do
	rm -rf "$T/po-$prof"
	${WRAP:-} "$SMIMEGW" -c "$T/smimegw.conf" process --out-dir "$T/po-$prof" \
		--direction outgoing --from postmaster@example.com --to alice@partner.example \
		--profile $prof -i "$T/out2.eml" >"$T/out" 2>"$T/err"
	same "item06_process_${prof#p-}_every_from_mailbox: bounced" "$?" 69
	matches "item06_process_${prof#p-}_every_from_mailbox: reason" "$T/po-$prof/result.json" \
		'"reason": "signing failed: .*does not cover the From address mallory@elsewhere.example'
	rm -rf "$T/po-$prof"
	${WRAP:-} "$SMIMEGW" -c "$T/smimegw.conf" process --out-dir "$T/po-$prof" \
		--direction outgoing --from postmaster@example.com --to alice@partner.example \
		--profile $prof -i "$T/out3.eml" >"$T/out" 2>"$T/err"
	same "item06_process_${prof#p-}_comment_is_no_mailbox: delivered" "$?" 0
done

# Harvesting: with several From mailboxes no single address is the
# key's, so none is harvested (before: the first one).
signed "$T/h.eml" team "From: alice@partner.example, bob@partner.example"
rm -rf "$T/hd"
${WRAP:-} "$SMIMEGW" -c "$T/smimegw.conf" process --out-dir "$T/hd" --direction incoming \
	--from alice@partner.example --to x@example.com --harvest -i "$T/h.eml" >"$T/out" 2>"$T/err"
same "item06_harvest_several_from_mailboxes: delivered" "$?" 0
same "item06_harvest_several_from_mailboxes: verified" \
	"$(jq -r .smime.result "$T/hd/result.json")" pass
same "item06_harvest_several_from_mailboxes: nothing harvested" \
	"$(jq -r '[.harvested[] | select(.outcome != "skipped")] | length' "$T/hd/result.json")" 0
signed "$T/h1.eml" team "From: Bob <bob@partner.example> (<alice@partner.example>)"
rm -rf "$T/hd1"
${WRAP:-} "$SMIMEGW" -c "$T/smimegw.conf" process --out-dir "$T/hd1" --direction incoming \
	--from alice@partner.example --to x@example.com --harvest -i "$T/h1.eml" >"$T/out" 2>"$T/err"
same "item06_harvest_for_the_mailbox_not_the_comment" \
	"$(jq -r '.harvested[0] | "\(.address) \(.outcome)"' "$T/hd1/result.json")" \
	"bob@partner.example new"

# ---- item 09: spoofed result header fields ----------------------------------
signed "$T/base.eml" alice "From: Alice <alice@partner.example>"
# spoofed NAME FIELD... : FIELD lines put before a good signed message;
# the open passes with exactly our two result fields and no trace of
# FIELD's claims (they all say "spoofed").
spoofed() {
	local name=$1
	shift
	{ printf '%s\r\n' "$@"; cat "$T/base.eml"; } >"$T/$name.eml"
	ok "$name: opened" open_msg "$name" "$T/$name.eml"
	same "$name: no spoofed field left" "$(grep -c spoofed "$T/o-$name.eml")" 0
	same "$name: exactly one X-SMIME-Gateway" \
		"$(grep -ci '^x-smime-gateway' "$T/o-$name.eml")" 1
	same "$name: exactly one Authentication-Results" \
		"$(grep -ci '^authentication-results' "$T/o-$name.eml")" 1
	has "$name: ours first" "$T/o-$name.eml" "Authentication-Results: gw.test;"
}
spoofed item09_authserv_trailing_dot \
	"Authentication-Results: gw.test.; smime=pass (spoofed)"
spoofed item09_authserv_nbsp \
	$'Authentication-Results: gw.test\xc2\xa0; smime=pass (spoofed)'
spoofed item09_authserv_nbsp_before \
	$'Authentication-Results: \xc2\xa0gw.test; smime=pass (spoofed)'
spoofed item09_authserv_case_comment_quotes \
	"Authentication-Results: (x) \"GW.Test.\" ; smime=pass (spoofed)" \
	"Authentication-Results: gw(x).test; smime=pass (spoofed)"
spoofed item09_authserv_other_blanks \
	$'Authentication-Results: gw.test\xe2\x80\x8b; smime=pass (spoofed)' \
	$'Authentication-Results: \xef\xbb\xbfgw.test; smime=pass (spoofed)' \
	$'Authentication-Results: gw.test\v; smime=pass (spoofed)'
spoofed item09_foreign_x_smime_gateway \
	"X-SMIME-Gateway: other.example; smime-gateway-verified=1 (spoofed)" \
	"x-smime-gateway: spoofed" "X-SMIME-Gateway:spoofed"
spoofed item09_field_name_variants \
	"authentication-results : gw.test; smime=pass (spoofed)" \
	"X-Smime-Gateway	: gw.test; smime-gateway-verified=1 (spoofed)" \
	$'X-SMIME-Gateway\xc2\xa0: smime-gateway-verified=1 (spoofed)'
spoofed item09_folded_spoof \
	"Authentication-Results:" " gw.test." "	; smime=pass (spoofed)"

# A NUL inside the authserv-id (found by fuzzing): the whole value is
# read, not a C string that ends at the NUL.
name=item09_authserv_nul
{ printf 'Authentication-Results: gw.\000test; smime=pass (spoofed)\r\n'
  printf 'Authentication-Results: gw.test\000; smime=pass (spoofed)\r\n'
  cat "$T/base.eml"; } >"$T/$name.eml"
ok "$name: opened" open_msg "$name" "$T/$name.eml"
same "$name: no spoofed field left" "$(grep -ac spoofed "$T/o-$name.eml")" 0
same "$name: exactly one Authentication-Results" \
	"$(grep -aci '^authentication-results' "$T/o-$name.eml")" 1

# Other authserv-ids are someone else's results: kept, byte for byte.
{ printf '%s\r\n' "Authentication-Results: mx.example.net; spf=pass" \
	"Authentication-Results: gw.test.example.net; dkim=pass"
  cat "$T/base.eml"; } >"$T/item09_others_kept.eml"
ok "item09_others_kept" open_msg item09_others_kept "$T/item09_others_kept.eml"
has "item09_others_kept: mx.example.net" "$T/o-item09_others_kept.eml" \
	"Authentication-Results: mx.example.net; spf=pass"
has "item09_others_kept: a longer id" "$T/o-item09_others_kept.eml" \
	"Authentication-Results: gw.test.example.net; dkim=pass"

# The same through `smimegw process` (the mail path), on a message that
# fails: a forged pass must not survive next to our fail.
{ printf '%s\r\n' "X-SMIME-Gateway: gw.test; smime-gateway-verified=1 (spoofed)" \
	$'Authentication-Results: gw.test.\xc2\xa0; smime=pass (spoofed)'
  sed 's/the body/the bodz/' "$T/base.eml"; } >"$T/p9.eml"
rm -rf "$T/p9"
${WRAP:-} "$SMIMEGW" -c "$T/smimegw.conf" process --out-dir "$T/p9" --direction incoming \
	--from alice@partner.example --to x@example.com -i "$T/p9.eml" >"$T/out" 2>"$T/err"
same "item09_process_strips_spoofed_results: delivered" "$?" 0
same "item09_process_strips_spoofed_results: no spoofed field" \
	"$(grep -c spoofed "$T/p9/copy-1.eml")" 0
same "item09_process_strips_spoofed_results: one X-SMIME-Gateway, unverified" \
	"$(grep -A1 -i '^x-smime-gateway' "$T/p9/copy-1.eml" | grep -c 'smime-gateway-verified=0')" 1
same "item09_process_strips_spoofed_results: one Authentication-Results, fail" \
	"$(grep -ci '^authentication-results' "$T/p9/copy-1.eml") $(grep -c 'smime=fail' "$T/p9/copy-1.eml")" "1 1"

finish
