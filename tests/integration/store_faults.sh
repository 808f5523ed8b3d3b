#!/usr/bin/env bash
# The store when it is not what it should be (issue 8): missing or empty
# (item 12: the message path never makes a new one, admin commands that
# add objects do and say so), truncated or damaged (item 13: a clear
# error, never a signal; `smimegw store check`), writable or owned by
# others (item 17: refused).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki.sh"
setup_token
DATA=$T/data
DB=$DATA/store/data.mdb
GOOD="basicConstraints=critical,CA:FALSE;extendedKeyUsage=emailProtection"
mkca "$T/ca" "Partner CA"
mkee "$T/ca" bob rsa:2048 \
	"$GOOD;keyUsage=critical,digitalSignature,keyEncipherment;subjectAltName=email:bob@example1.com"

# sig NAME CMD... : whatever the command decides, it ends by itself with
# a message (a failure says why on stderr), never by a signal.
sig() {
	local name=$1 rc
	shift
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ $rc -ge 128 ]; then
		FAILED=$((FAILED + 1))
		echo "FAIL $name (killed by signal $((rc - 128)))"
		sed 's/^/     | /' "$T/err" | head -5
	elif [ $rc -ne 0 ] && ! [ -s "$T/err" ]; then
		FAILED=$((FAILED + 1))
		echo "FAIL $name (exit $rc without a message)"
	else
		PASSED=$((PASSED + 1))
	fi
	return $rc
}

# proc DIR MSG : smimegw process, incoming, into DIR; sets RC.
proc() {
	rm -rf "$1"
	${WRAP:-} "$SMIMEGW" -c "$T/smimegw.conf" process --out-dir "$1" \
		--direction incoming --from bob@example1.com \
		--to alice@corp.example -i "$2" >"$T/out" 2>"$T/err"
	RC=$?
	return $RC
}
files() { (cd "$1" 2>/dev/null && ls | tr '\n' ' '); }
modes() { stat -c '%a' "$@" | tr '\n' ' '; }

# ---- item 12: a missing or empty store ---------------------------------------
ok "item12_message_path_no_store: config check needs no store" gw config check
printf 'Content-Type: text/plain\r\n\r\nplain\r\n' >"$T/plain.eml"
proc "$T/p0" "$T/plain.eml"
same "item12_process_missing_store: exit 75" "$RC" 75
matches "item12_process_missing_store: says why" "$T/err" "no store: data_dir .*/data"
same "item12_process_missing_store: no data_dir made" "$(ls -d "$DATA" 2>/dev/null)" ""
same "item12_process_missing_store: nothing delivered" "$(files "$T/p0")" "result.json "
refused "item12_list_missing_store" "no store: data_dir" gw pubkey list
same "item12_list_missing_store: no data_dir made" "$(ls -d "$DATA" 2>/dev/null)" ""
refused "item12_export_missing_store" "no store" gw config export "$T/x.txt"
refused "item12_store_check_missing" "no store" gw store check
same "item12_store_check_missing: no data_dir made" "$(ls -d "$DATA" 2>/dev/null)" ""

# An admin command that adds an object makes the store, and says so.
ok "item12_cert_create_makes_store" gw cert create gw --cn gw.corp.example \
	--country DE --days 30 --san-dns corp.example --key rsa:2048
has "item12_cert_create_makes_store: says so" "$T/err" \
	"smimegw: created a new store in $DATA/store"
ok "item12_second_add_quiet" gw pubkey add bob "$T/bob.pem"
same "item12_second_add_quiet: nothing on stderr" "$(cat "$T/err")" ""
gw cert export gw >"$T/gw.pem"

printf 'Content-Type: text/plain\r\n\r\nfor the gateway only\r\n' >"$T/in.txt"
{
	printf '%s\r\n' "From: bob@example1.com" "To: alice@corp.example" \
		"Subject: secret" "Message-ID: <in@example1.com>"
	openssl cms -encrypt -aes256 -in "$T/in.txt" -crlfeol "$T/gw.pem" 2>/dev/null
} >"$T/in.eml"
proc "$T/p1" "$T/in.eml"
same "item12_baseline: decrypted with the store in place" "$RC" 0
has "item12_baseline: plaintext" "$T/p1/copy-1.eml" "for the gateway only"
cp "$DB" "$T/good.mdb"

# The volume not mounted: data_dir gone.  Encrypted mail is deferred,
# not delivered undecrypted, and no empty store takes the old one's place.
mv "$DATA" "$T/data.away"
proc "$T/p2" "$T/in.eml"
same "item12_unmounted_defers: exit 75" "$RC" 75
same "item12_unmounted_defers: nothing delivered" "$(files "$T/p2")" "result.json "
same "item12_unmounted_defers: decision" "$(jq -r .decision "$T/p2/result.json")" defer
same "item12_unmounted_defers: no new data_dir" "$(ls -d "$DATA" 2>/dev/null)" ""
${WRAP:-} "$SMIMEGW" -c "$T/smimegw.conf" message open -i "$T/in.eml" \
	-o "$T/open.eml" >/dev/null 2>"$T/err"
same "item12_message_open_no_store: exit 75" "$?" 75
matches "item12_message_open_no_store: says why" "$T/err" "no store"
rm -rf "$DATA"
mkdir "$DATA"
proc "$T/p3" "$T/in.eml"
same "item12_empty_mountpoint_defers: exit 75" "$RC" 75
matches "item12_empty_mountpoint_defers: says why" "$T/err" "no store: no .*/data/store/data.mdb \(is the volume mounted\?\)"
same "item12_empty_mountpoint_defers: nothing made" "$(files "$DATA")" ""
rm -rf "$DATA"
mv "$T/data.away" "$DATA"

# A data.mdb of 0 bytes.
: >"$DB"
proc "$T/p4" "$T/in.eml"
same "item12_empty_data_mdb_defers: exit 75" "$RC" 75
matches "item12_empty_data_mdb_defers: says why" "$T/err" "empty store: .*data.mdb has 0 bytes"
same "item12_empty_data_mdb_defers: nothing delivered" "$(files "$T/p4")" "result.json "
same "item12_empty_data_mdb_defers: left as it was" "$(stat -c %s "$DB")" 0
refused "item12_empty_data_mdb_list" "empty store" gw cert list
refused "item12_empty_data_mdb_check" "empty store" gw store check
gw store check >/dev/null 2>&1
same "item12_empty_data_mdb_check: exit status 65" "$?" 65
cp "$T/good.mdb" "$DB"

# ---- item 13: a truncated or damaged store -----------------------------------
ok "item13_store_check_sound" gw store check
has "item13_store_check_sound: says so" "$T/out" "store $DATA/store: sound"
has "item13_store_check_sound: counts" "$T/out" "pubkeys      1 record"
PAGES=$(($(stat -c %s "$DB") / 4096))
truncate -s $(((PAGES / 2) * 4096)) "$DB"
for c in "pubkey list" "cert list" "profile list" "store check" \
	"config export $T/x.txt" "pubkey add bob2 $T/bob.pem"; do
	# shellcheck disable=SC2086
	sig "item13_truncated_no_signal: $c" gw $c
	matches "item13_truncated_says_so: $c" "$T/err" "data.mdb: damaged: .*(truncated|cut short)"
done
proc "$T/p5" "$T/in.eml"
same "item13_truncated_process_defers: exit 75" "$RC" 75
same "item13_truncated_process_defers: nothing delivered" "$(files "$T/p5")" "result.json "
gw store check >/dev/null 2>&1
same "item13_truncated_store_check: exit 65" "$?" 65
for n in 4097 100; do
	cp "$T/good.mdb" "$DB"
	truncate -s $n "$DB"
	sig "item13_truncated_to_${n}_bytes: pubkey list" gw pubkey list
	matches "item13_truncated_to_${n}_bytes: says so" "$T/err" "data.mdb: damaged"
done

# A record that LMDB reads but its decoder refuses: bob's certificate
# with its outer DER tag changed.  store check names database and key.
cp "$T/good.mdb" "$DB"
openssl x509 -in "$T/bob.pem" -outform DER -out "$T/bob.der"
HEAD=$(head -c 24 "$T/bob.der" | od -An -tx1 | tr -d ' \n')
OFF=$(od -An -v -tx1 -w1 "$DB" | tr -d ' \n' | grep -ob "$HEAD" | head -1 | cut -d: -f1)
if [ -n "$OFF" ] && [ $((OFF % 2)) -eq 0 ]; then
	printf '\x31' | dd of="$DB" bs=1 seek=$((OFF / 2)) conv=notrunc 2>/dev/null
fi
refused "item13_store_check_bad_record" "database 'pubkeys', key 'bob'" gw store check
gw store check >/dev/null 2>&1
same "item13_store_check_bad_record: exit 65" "$?" 65
cp "$T/good.mdb" "$DB"

# Random damage: bytes overwritten in used pages (and the meta pages).
# Whatever each command makes of it, it ends with a status and a
# message, never a signal; store check says sound (0) or damaged (65).
RANDOM=8
sound=0
damaged=0
for i in $(seq 1 40); do
	cp "$T/good.mdb" "$DB"
	if [ $i -le 4 ]; then
		page=$((i % 2))
	else
		page=$((2 + RANDOM % (PAGES - 2)))
	fi
	# Page headers and the node area at the end of a page hold what
	# LMDB follows; 1 to 8 bytes of either.
	for j in $(seq 1 $((1 + RANDOM % 8))); do
		if [ $((RANDOM % 2)) = 0 ]; then
			off=$((RANDOM % 64))
		else
			off=$((2048 + RANDOM % 2048))
		fi
		printf "\\x$(printf %02x $((RANDOM % 256)))" |
			dd of="$DB" bs=1 seek=$((page * 4096 + off)) \
				conv=notrunc 2>/dev/null
	done
	sig "item13_random_damage_$i: store check" gw store check
	rc=$?
	case $rc in
	0) sound=$((sound + 1)) ;;
	65) damaged=$((damaged + 1)) ;;
	*) same "item13_random_damage_$i: store check exit 0 or 65" "$rc" "0|65" ;;
	esac
	sig "item13_random_damage_$i: pubkey list" gw pubkey list
	sig "item13_random_damage_$i: cert list" gw cert list
	sig "item13_random_damage_$i: process" proc "$T/p6" "$T/in.eml"
	[ $RC -ge 128 ] && same "item13_random_damage_$i: process exit" "$RC" "<128"
done
echo "     (random damage: store check found $damaged damaged, $sound sound)"
[ $damaged -gt 0 ]
same "item13_random_damage: some damage found" "$?" 0
cp "$T/good.mdb" "$DB"

# ---- item 17: who may write the store ----------------------------------------
same "item17_new_store_modes" "$(modes "$DATA" "$DATA/store" "$DB" "$DATA/store/lock.mdb")" \
	"700 700 600 600 "
chmod 0770 "$DATA"
refused "item17_group_writable_data_dir" \
	"data_dir $DATA: mode 0770 lets its group write it" gw pubkey list
proc "$T/p7" "$T/in.eml"
same "item17_group_writable_data_dir: process defers" "$RC" 75
chmod 0700 "$DATA"
chmod 0707 "$DATA/store"
refused "item17_world_writable_store_dir" \
	"store $DATA/store: mode 0707 lets everyone write it" gw ca list
chmod 0700 "$DATA/store"
chmod 0620 "$DB"
refused "item17_group_writable_data_mdb" \
	"store $DB: mode 0620 lets its group write it" gw pubkey list
chmod 0600 "$DB"
chmod 0606 "$DATA/store/lock.mdb"
refused "item17_world_writable_lock_mdb" \
	"store $DATA/store/lock.mdb: mode 0606 lets everyone write it" gw cert list
chmod 0600 "$DATA/store/lock.mdb"
if [ "$(id -u)" = 0 ]; then
	chown 4242 "$DB"
	refused "item17_data_mdb_owned_by_other" \
		"store $DB: owned by uid 4242, must be owned by uid 0 or root" \
		gw pubkey list
	proc "$T/p8" "$T/in.eml"
	same "item17_data_mdb_owned_by_other: process defers" "$RC" 75
	chown 0 "$DB"
	chown 4242 "$DATA"
	refused "item17_data_dir_owned_by_other" "data_dir $DATA: owned by uid 4242" \
		gw pubkey add bob3 "$T/bob.pem"
	chown 0 "$DATA"
else
	echo "     (not root: the ownership cases need chown)"
fi
ok "item17_restored_modes_work" gw pubkey list
ok "item17_restored_store_sound" gw store check

finish
