#!/usr/bin/env bash
# import_crash.sh - imports and exports at scale (issue 10): a file read
# in many chunks commits in batches (store_import_batch, 64K here: tens
# of batches) and is still all or nothing: `smimegw pubkey import` and
# `config import` killed with SIGKILL in the middle leave an undo
# journal that the next open undoes, so the store is as it was, and
# `store check` (records and indexes agree) passes; an import refused
# at its end (a conflict in the last entry) undoes the batches it
# committed; run to the end they import everything, and `config export`
# then `config import` into a fresh store reproduces it byte for byte.
# Also: a map far too small for the import grows; standard input works
# as a file.
. "$(dirname "$0")/lib.sh"
: "${STORE_FILL:?}"
setup_token
N=${IMPORT_CRASH_KEYS:-6000}
echo "store_import_batch = 64K" >>"$T/smimegw.conf"
conf2() { sed "s#^data_dir = .*#data_dir = $1#" "$T/smimegw.conf" >"$T/$1.conf"; }
gw2() { ${WRAP:-} "$SMIMEGW" -c "$T/$G2.conf" "$@"; }

# The import files: a few keys to start from, and N more (about 900
# bytes each: several chunks of TEXTSTREAM_CHUNK).
"$STORE_FILL" -x "$T/small.txt" -n 50 >/dev/null
"$STORE_FILL" -x "$T/big.txt" -n "$N" -s 100000 >/dev/null
ok "a store to start from" gw pubkey import "$T/small.txt"
"$STORE_FILL" -c "$T/smimegw.conf" -H 300 -s 500 >/dev/null
gw config export "$T/before.txt" >/dev/null

# pos PID FILE : how far PID has read FILE (its descriptor's offset).
pos() {
	local fd
	for fd in /proc/"$1"/fd/*; do
		if [ "$(readlink "$fd" 2>/dev/null)" = "$2" ]; then
			awk '/^pos:/ { print $2 }' /proc/"$1"/fdinfo/"${fd##*/}"
			return
		fi
	done
	echo 0
}

# kill_mid FILE CMD... : runs CMD (which reads FILE) in the background
# and kills it with SIGKILL once it has read two thirds of FILE (pubkey
# import reads a chunk ahead of what it writes: by then batches are
# committed).  RC is its
# status (137 when the kill found it running).
kill_mid() {
	local file=$1 size pid p i
	shift
	size=$(stat -c %s "$file")
	"$@" >"$T/out" 2>"$T/err" &
	pid=$!
	for i in $(seq 1 30000); do
		p=$(pos "$pid" "$file")
		[ "${p:-0}" -gt $((size * 2 / 3)) ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid"
	RC=$?
}

# ---- pubkey import, killed ---------------------------------------------------
kill_mid "$T/big.txt" "$SMIMEGW" -c "$T/smimegw.conf" pubkey import "$T/big.txt"
same "pubkey import killed in the middle" "$RC" 137
ok "store check after the kill" gw store check
matches "... which undid the batches committed" "$T/err" \
	"warning: store $T/data/store/data.mdb: undid [0-9]+ batch(es)? of an import that did not finish"
has "... every database is sound" "$T/out" "store $T/data/store: sound"
has "... the undo journal is empty" "$T/out" "undo         0 records"
gw config export "$T/after.txt" >/dev/null
same "the store is as it was before the import" \
	"$(cmp -s "$T/before.txt" "$T/after.txt" && echo same)" same

# ---- pubkey import, to the end --------------------------------------------------
ok "pubkey import of $N keys" gw pubkey import "$T/big.txt"
has "... every key added" "$T/out" "imported $N keys: $N added, 0 replaced, 0 duplicates skipped"
ok "store check after the import" gw store check
matches "... records and the index agree" "$T/out" "^pubkeys +$((N + 50)) records"
ok "again: every key a duplicate" gw pubkey import "$T/big.txt"
has "... duplicates" "$T/out" "imported $N keys: 0 added, 0 replaced, $N duplicates skipped"
# A name given twice, in different chunks, is refused as within one.
{ cat "$T/big.txt"; sed -n '2,/^-----END/p' "$T/big.txt"; } >"$T/twice.txt"
refused "a name used twice, far apart" "name 'k0000100000' already used at line 3" \
	gw pubkey import "$T/twice.txt"
# A conflict at the end of the file refuses the whole import.
"$STORE_FILL" -x "$T/other.txt" -n 1 -s 100000 >/dev/null
{ sed -n '1p' "$T/big.txt"; tail -n +2 "$T/other.txt"; } >"$T/conflict.txt"
refused "a conflict refuses the import" "1 name is already stored with a different certificate" \
	gw pubkey import "$T/conflict.txt"
matches "... and names it" "$T/err" "conflict: 'k0000100000' \(line 3\)"
# ... also after many batches were committed: they are undone.
gw config export "$T/before-late.txt" >/dev/null
"$STORE_FILL" -x "$T/late.txt" -n "$N" -s 300000 >/dev/null
{ cat "$T/late.txt"; tail -n +2 "$T/other.txt"; } >"$T/late-conflict.txt"
refused "a conflict in the last entry refuses the import" \
	"1 name is already stored with a different certificate" \
	gw pubkey import "$T/late-conflict.txt"
gw config export "$T/after-late.txt" >/dev/null
same "... and the batches before it are undone" \
	"$(cmp -s "$T/before-late.txt" "$T/after-late.txt" && echo same)" same
ok "... store check" gw store check
has "... the undo journal is empty" "$T/out" "undo         0 records"
ok "--replace replaces it" gw pubkey import --replace "$T/conflict.txt"
has "... replaced" "$T/out" "imported 1 key: 0 added, 1 replaced, 0 duplicates skipped"
ok "store check after the replace" gw store check
ok "pubkey delete" gw pubkey delete k0000100001
ok "store check after a delete" gw store check
matches "... one key fewer" "$T/out" "^pubkeys +$((N + 49)) records"

# ---- export, then config import into a fresh store ------------------------------
ok "config export" gw config export "$T/full.txt"
matches "... counts" "$T/out" "$((N + 49)) public keys, 0 CAs, 300 harvested keys"
ok "pubkey export to stdout" gw pubkey export -
same "... the same keys as the config export" \
	"$(grep -c '^name: ' "$T/out")" "$((N + 49))"
G2=data2
conf2 data2
ok "a second store, from the first export" gw2 config import "$T/before.txt"
gw2 config export "$T/before2.txt" >/dev/null
kill_mid "$T/full.txt" "$SMIMEGW" -c "$T/data2.conf" config import "$T/full.txt"
same "config import killed in the middle" "$RC" 137
ok "store check after the kill" gw2 store check
matches "... which undid the batches committed" "$T/err" "undid [0-9]+ batch(es)? of an import"
gw2 config export "$T/after2.txt" >/dev/null
same "the second store is as it was" \
	"$(cmp -s "$T/before2.txt" "$T/after2.txt" && echo same)" same
ok "config import, to the end" gw2 config import "$T/full.txt"
matches "... summary" "$T/out" "^imported $((N + 49 + 300)) objects: $((N - 1)) added"
ok "store check after the config import" gw2 store check
gw2 config export "$T/full2.txt" >/dev/null
same "config export then config import reproduces the store byte for byte" \
	"$(cmp "$T/full.txt" "$T/full2.txt" 2>&1 && echo same)" same

# ---- a map far too small; standard input ----------------------------------------
G2=data3
conf2 data3
echo "store_map_size = 16M" >>"$T/data3.conf"
ok "config import from stdin into a 16M map" \
	sh -c "${WRAP:-} '$SMIMEGW' -c '$T/data3.conf' config import - <'$T/full.txt'"
gw2 config export "$T/full3.txt" >/dev/null
same "... the store reproduced" "$(cmp -s "$T/full.txt" "$T/full3.txt" && echo same)" same
ok "store check of the grown store" gw2 store check
finish
