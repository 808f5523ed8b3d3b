#!/usr/bin/env bash
# smimegw harvested and alerts: keys seeded through harvest_message()
# (tests/tools/harvest_seed), then every command end to end with bad
# input (each refusal with its reason), the lookup over harvested keys,
# promote, export, the update alert, and LRU eviction under a small
# bound.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki.sh"
: "${HARVEST_SEED:?}"
setup_token
mkca "$T/ca" "Partner CA"
GOOD="basicConstraints=critical,CA:FALSE;extendedKeyUsage=emailProtection"
ENC_EC="keyUsage=critical,digitalSignature,keyAgreement"
ts() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
ec() { mkee "$T/ca" "$1" ec:P-256 "$GOOD;$ENC_EC;subjectAltName=$2" ${3:+"$3"} ${4:+"$4"}; }
id_of() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f; }
fp_of() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }
seed() { ${WRAP:-} "$HARVEST_SEED" -c "$T/smimegw.conf" "$@"; }

ec alice1 email:alice@partner.example "$(ts '-3 days')" "$(ts '+300 days')"
ec alice2 email:alice@partner.example "$(ts '-2 days')" "$(ts '+300 days')"
ec alice3 email:alice@partner.example "$(ts '-1 day')" "$(ts '+300 days')"
ec bob email:bob@partner.example
ec dora email:dora@other.example
ec old email:old@partner.example 20200101000000Z 20210101000000Z
mkee "$T/ca" signonly ec:P-256 "$GOOD;keyUsage=critical,digitalSignature;subjectAltName=email:s@partner.example"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/self.key" \
	-subj "/CN=self" -days 30 -out "$T/self.pem" \
	-addext "basicConstraints=critical,CA:FALSE" -addext "$ENC_EC" \
	-addext "extendedKeyUsage=emailProtection" \
	-addext "subjectAltName=email:self@partner.example" 2>/dev/null
A1=$(id_of "$T/alice1.pem")
A2=$(id_of "$T/alice2.pem")
A3=$(id_of "$T/alice3.pem")
B=$(id_of "$T/bob.pem")
OLD=$(id_of "$T/old.pem")
# The clock given to harvest_message(): after every notBefore above.
NOW=$(($(date +%s) + 5))

# ---- harvesting through harvest_message() ------------------------------------
ok "a new key" seed --now "$NOW" --sender alice@partner.example --message-id '<m1@partner.example>' "$T/alice1.pem"
has "new: first key for its address" "$T/out" "new ${A1:0:16} alice@partner.example: first key harvested for alice@partner.example"
ok "the same key again" seed --now "$((NOW + 1))" --sender alice@partner.example --message-id '<m2@partner.example>' "$T/alice1.pem"
has "seen: provenance refreshed" "$T/out" "seen ${A1:0:16} alice@partner.example: already harvested: provenance refreshed"
ok "a second address" seed --now "$NOW" --sender bob@partner.example "$T/bob.pem"
matches "bob is new" "$T/out" "^new ${B:0:16} bob@partner.example: "
ok "an expired key is skipped" seed --now "$NOW" --sender old@partner.example "$T/old.pem"
has "expired: reason" "$T/out" "skipped ${OLD:0:16} old@partner.example: expired on 2021-01-01 00:00:00 UTC (expired keys are not harvested)"
ok "a self-signed key is skipped" seed --now "$NOW" --sender self@partner.example "$T/self.pem"
matches "self-signed: reason" "$T/out" "^skipped [0-9a-f]{16} self@partner.example: self-signed certificate"
ok "a key that cannot encrypt is skipped" seed --now "$NOW" --sender s@partner.example "$T/signonly.pem"
matches "sign-only: reason" "$T/out" "^skipped [0-9a-f]{16} s@partner.example: cannot encrypt"
ok "a key that does not cover the sender is skipped" seed --now "$NOW" --sender eve@partner.example "$T/bob.pem"
has "not covering: reason" "$T/out" "skipped ${B:0:16} eve@partner.example: does not cover the sender address eve@partner.example"
ok "a failed verification harvests nothing" seed --now "$NOW" --failed --sender dora@other.example "$T/dora.pem"
matches "failed: reason" "$T/out" "^skipped [0-9a-f]{16} dora@other.example: the message's signature did not verify"
ok "an update is skipped without --updates" seed --now "$((NOW + 10))" --sender alice@partner.example "$T/alice2.pem"
has "update refused: reason" "$T/out" "skipped ${A2:0:16} alice@partner.example: an update of key ${A1:0:16} for alice@partner.example, and harvesting updated keys is off"
ok "an update with --updates" seed --now "$((NOW + 10))" --updates --sender alice@partner.example \
	--message-id '<u1@partner.example>' "$T/alice2.pem"
has "updated" "$T/out" "updated ${A2:0:16} alice@partner.example: updates key ${A1:0:16} for alice@partner.example"
same "one update raises no alert" "$(grep -c '^alert:' "$T/out")" 0
ok "a second update of the domain within 48 hours" seed --now "$((NOW + 20))" --updates \
	--sender alice@partner.example --message-id '<u2@partner.example>' "$T/alice3.pem"
matches "... raises the alert" "$T/out" "^alert: harvest-updates: more than one updated public key for the same domain within 48 hours: key ${A3:0:16} for alice@partner.example \(replaces ${A2:0:16}, "
matches "... and logs it (syslog line)" "$T/err" "^syslog\([0-9]+\): alert harvest-updates: more than one updated public key"
ok "an expired key with --allow-expired" seed --now "$NOW" --allow-expired --sender old@partner.example "$T/old.pem"
matches "expired key stored" "$T/out" "^new ${OLD:0:16} old@partner.example: "

# ---- list and show -----------------------------------------------------------------
ok "list" gw harvested list
matches "list header" "$T/out" "^ID +ADDRESS +LAST SEEN +LAST USED +SEEN +STATE +FLAGS$"
matches "list: alice1 seen twice" "$T/out" "^${A1:0:16} alice@partner.example +[0-9-]{10} - +2 valid +-$"
matches "list: alice3 flagged as an update" "$T/out" "^${A3:0:16} alice@partner.example .* valid +updated$"
matches "list: the expired key" "$T/out" "^${OLD:0:16} old@partner.example .* expired +-$"
matches "list: count and bytes" "$T/out" "^5 harvested keys, [0-9]+ of 536870912 bytes \(harvest_max_size\)$"
ok "show by full ID" gw harvested show "$A3"
matches "show: ID" "$T/out" "^ID: +$A3$"
matches "show: address" "$T/out" "^Address: +alice@partner.example$"
matches "show: Message-ID" "$T/out" "^Message-ID: +<u2@partner.example>$"
matches "show: sender" "$T/out" "^Sender: +alice@partner.example$"
matches "show: verification" "$T/out" "^Verification: +pass$"
matches "show: what it replaces" "$T/out" "^Updated: +yes, replaces $A2$"
matches "show: last used" "$T/out" "^Last used: +never$"
matches "show: certificate facts" "$T/out" "^SAN email: +alice@partner.example$"
ok "show by prefix" gw harvested show "${A1:0:8}"
matches "prefix: seen count" "$T/out" "^Seen count: +2$"
matches "prefix: first seen" "$T/out" "^First seen: +$(date -u -d "@$NOW" '+%Y-%m-%d %H:%M:%S') UTC$"
matches "prefix: last seen" "$T/out" "^Last seen: +$(date -u -d "@$((NOW + 1))" '+%Y-%m-%d %H:%M:%S') UTC$"
ok "show by colon fingerprint" gw harvested show "$(fp_of "$T/bob.pem")"
matches "fingerprint finds bob" "$T/out" "^ID: +$B$"
ok "show by address when one key has it" gw harvested show bob@partner.example
matches "address finds bob" "$T/out" "^ID: +$B$"
refused "an address with several keys is ambiguous" \
	"alice@partner.example has 3 harvested keys; give the ID" gw harvested show alice@partner.example
refused "a malformed ref" "REF: 'not-hex' is neither 8 to 64 hex digits of a SHA-256 fingerprint nor an address" \
	gw harvested show not-hex
refused "a prefix of 7 digits" "REF: '${A1:0:7}' is neither 8 to 64 hex digits" gw harvested show "${A1:0:7}"
U=00000000
for id in "$A1" "$A2" "$A3" "$B" "$OLD"; do [ "${id:0:8}" = 00000000 ] && U=11111111; done
refused "an unknown ID" "no harvested key with ID $U" gw harvested show "$U"
refused "an unknown address" "no harvested key for nobody@partner.example" gw harvested show nobody@partner.example
refused "show needs REF" "missing REF" gw harvested show
same "usage error exits 2" "$(gw harvested show 2>/dev/null; echo $?)" 2
refused "unknown subcommand" "unknown subcommand 'frob'" gw harvested frob
refused "--as does not apply to show" "option '--as' does not apply to 'harvested show'" gw harvested show "$B" --as x

# ---- lookup over harvested keys ------------------------------------------------------
ok "lookup finds the newest harvested key" gw pubkey lookup alice@partner.example
matches "lookup: the key is alice3's ID" "$T/out" "^Key: +$A3$"
matches "lookup: source" "$T/out" "^Source: +harvested keys$"
matches "lookup: match kind" "$T/out" "^Match: +email alice@partner.example$"
refused "an expired harvested key is never used" \
	"no usable public key for old@partner.example: 1 key covers it but cannot encrypt now: 'harvested ${OLD:0:16}' (expired on 2021-01-01 00:00:00 UTC)" \
	gw pubkey lookup old@partner.example

# ---- promote ---------------------------------------------------------------------
ok "promote with the default name" gw harvested promote "${B:0:12}"
has "promote reports the name" "$T/out" "promoted harvested key ${B:0:16} for bob@partner.example to public key 'bob_partner.example' (encrypt,verify)"
ok "the public key exists" gw pubkey show bob_partner.example
ok "public keys win over harvested keys" gw pubkey lookup bob@partner.example
matches "lookup: the public key" "$T/out" "^Key: +bob_partner.example$"
matches "lookup: from public keys" "$T/out" "^Source: +public keys$"
refused "promote to a taken name" \
	"a public key named 'bob_partner.example' already exists; give another name with --as NAME" \
	gw harvested promote "$B"
ok "promote --as" gw harvested promote "$B" --as bob2
has "promote --as reports the name" "$T/out" "promoted harvested key ${B:0:16} for bob@partner.example to public key 'bob2' (encrypt,verify)"
refused "promote --as an invalid name" "--as: 'bad name' must be 1-64 letters" gw harvested promote "$B" --as "bad name"
refused "promote an expired key" "the certificate is expired on 2021-01-01 00:00:00 UTC (--allow-expired stores it anyway" \
	gw harvested promote "$OLD"
refused "... and nothing was added" "no public key named 'old_partner.example'" gw pubkey show old_partner.example
ok "promote an expired key with --allow-expired" gw harvested promote "$OLD" --allow-expired
refused "promote an unknown key" "no harvested key with ID $U" gw harvested promote "$U"

# ---- export ----------------------------------------------------------------------
ok "export" gw harvested export "$T/h.pem"
has "export reports the count" "$T/out" "exported 5 harvested keys to $T/h.pem"
same "export: five certificates" "$(grep -c -- '-----BEGIN CERTIFICATE-----' "$T/h.pem")" 5
has "export: provenance comments" "$T/h.pem" "# id: $A3"
ok "export: the bundle reads back with openssl" openssl crl2pkcs7 -nocrl -certfile "$T/h.pem" -out "$T/h.p7"
ok "export to stdout" gw harvested export -
same "stdout export equals the file" "$(gw harvested export - | cmp - "$T/h.pem" && echo same)" same

# ---- alerts ----------------------------------------------------------------------
ok "alerts list" gw alerts list
matches "alerts: header" "$T/out" "^TIME +SEVERITY +KIND +TEXT$"
matches "alerts: the update alert" "$T/out" "^[0-9-]{10} [0-9:]{8} UTC  warning  harvest-updates  more than one updated public key for the same domain"
has "alerts: count" "$T/out" "1 alert"
ok "alerts list --since a later date" gw alerts list --since "$(date -u -d '+2 days' +%Y-%m-%d)"
has "nothing since then" "$T/out" "0 alerts"
ok "alerts list --since EPOCH" gw alerts list --since "$NOW"
has "the alert is since NOW" "$T/out" "1 alert"
refused "alerts --since malformed" "--since: '2024-13-45' is neither seconds since the epoch nor a date YYYY-MM-DD" \
	gw alerts list --since 2024-13-45
refused "alerts --before does not apply to list" "option '--before' does not apply to 'alerts list'" \
	gw alerts list --before 1
refused "alerts: unknown subcommand" "unknown subcommand 'frob'" gw alerts frob
ok "alerts clear --before an old date keeps it" gw alerts clear --yes --before 2001-01-01
has "cleared none" "$T/out" "cleared 0 alerts"
ok "alerts clear" gw alerts clear --yes
has "cleared one" "$T/out" "cleared 1 alert"
ok "alerts list after clear" gw alerts list
has "no alerts left" "$T/out" "0 alerts"

# ---- delete ----------------------------------------------------------------------
ok "delete by prefix" gw harvested delete "${A1:0:10}"
has "delete confirms" "$T/out" "deleted harvested key ${A1:0:16} for alice@partner.example"
refused "delete it again" "no harvested key with ID ${A1:0:10}" gw harvested delete "${A1:0:10}"
ok "list after delete" gw harvested list
matches "four keys left" "$T/out" "^4 harvested keys, "

# ---- the bound: LRU eviction ---------------------------------------------------------
# A second store: measure one record, then allow about two and a half.
sed 's/^data_dir = data$/data_dir = data2/' "$T/smimegw.conf" >"$T/c2.conf"
seed2() { ${WRAP:-} "$HARVEST_SEED" -c "$T/c2.conf" "$@"; }
ec e1 email:e1@lru.example
ec e2 email:e2@lru.example
ec e3 email:e3@lru.example
ec e4 email:e4@lru.example
ok "lru: first key" seed2 --now "$((NOW + 1000))" --sender e1@lru.example "$T/e1.pem"
matches "lru: e1 is new" "$T/out" "^new [0-9a-f]{16} e1@lru.example: "
gw -c "$T/c2.conf" harvested list >"$T/l2" 2>&1
ONE=$(sed -n 's/^1 harvested key, \([0-9]*\) of .*/\1/p' "$T/l2")
MAX=$((ONE * 5 / 2))
ok "lru: second key" seed2 --now "$((NOW + 2000))" --max-bytes "$MAX" --sender e2@lru.example "$T/e2.pem"
ok "lru: using the first key makes the second the least recently used" \
	seed2 --now "$((NOW + 3000))" --touch e1@lru.example
ok "lru: a third key evicts one" seed2 --now "$((NOW + 4000))" --max-bytes "$MAX" --sender e3@lru.example "$T/e3.pem"
has "lru: one evicted" "$T/out" "evicted 1"
matches "lru: the eviction alert" "$T/out" "^alert: harvest-evicted: evicted 1 least recently used harvested key: the repository reached harvest_max_size \($MAX bytes\)$"
refused "lru: the least recently used (e2) is gone" "no harvested key for e2@lru.example" \
	gw -c "$T/c2.conf" harvested show e2@lru.example
ok "lru: the touched key (e1) stayed" gw -c "$T/c2.conf" harvested show e1@lru.example
matches "lru: its last use is shown" "$T/out" "^Last used: +$(date -u -d "@$((NOW + 3000))" '+%Y-%m-%d %H:%M:%S') UTC$"
ok "lru: a fourth key evicts the next (e1 used at +3000 < e3 seen at +4000)" \
	seed2 --now "$((NOW + 5000))" --max-bytes "$MAX" --sender e4@lru.example "$T/e4.pem"
refused "lru: e1 is gone now" "no harvested key for e1@lru.example" gw -c "$T/c2.conf" harvested show e1@lru.example
gw -c "$T/c2.conf" harvested list >"$T/l2" 2>&1
matches "lru: two keys within the bound" "$T/l2" "^2 harvested keys, "
ok "lru: the alert is stored" gw -c "$T/c2.conf" alerts list
same "lru: two eviction alerts" "$(grep -c 'harvest-evicted' "$T/out")" 2
finish
