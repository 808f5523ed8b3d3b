#!/usr/bin/env bash
# Configuration file errors (FILE:LINE) and every token condition an
# operator can meet: PIN file rules, wrong PIN (never retried), absent
# token, bad module.
. "$(dirname "$0")/lib.sh"
setup_token
C=$T/smimegw.conf
SPY=/usr/lib/x86_64-linux-gnu/pkcs11-spy.so

ok "config check" gw config check
has "config check says OK" "$T/out" "$C: OK"
ok "config show" gw config show
has "config show resolves relative paths" "$T/out" "data_dir = \"$T/data\""
ok "SMIMEGW_CONF selects the file" env SMIMEGW_CONF="$C" "$SMIMEGW" config check

bad() { # NAME WANT LINES...
	local name=$1 want=$2
	shift 2
	printf '%s\n' "$@" >"$T/bad.conf"
	refused "$name" "$want" "$SMIMEGW" -c "$T/bad.conf" config check
}
bad "unknown key" "bad.conf:2: unknown key 'pin'" "data_dir = /x" "pin = 1234"
bad "repeated key" "bad.conf:2: data_dir: set more than once" "data_dir = /x" "data_dir = /y"
bad "no equals sign" "bad.conf:1: expected 'key = value'" "data_dir /x"
bad "unterminated quote" "bad.conf:1: data_dir: unterminated quote" 'data_dir = "/x'
bad "bad size" "bad.conf:1: store_map_size: '12Q' is not a size" "store_map_size = 12Q"
bad "size out of range" "bad.conf:1: store_map_size: 1K is out of range" "store_map_size = 1K"
bad "bad log level" "bad.conf:1: log_level: 'loud' is not one of: error warning info debug" "log_level = loud"
bad "a listener without its next hop" \
	"bad.conf: listener_outgoing needs listener_outgoing_next_hop" \
	"listener_outgoing = 127.0.0.1:10025"
bad "direction auto without internal_domains" \
	"bad.conf: a listener with direction auto needs internal_domains" \
	"listener_incoming = 127.0.0.1:10026" \
	"listener_incoming_next_hop = 127.0.0.1:10027" \
	"listener_incoming_direction = auto"
bad "PIN in the token URI" "bad.conf:1: token: PKCS#11 URI: attribute 'pin-value' is not supported" \
	"token = pkcs11:token=x?pin-value=1234"
bad "slot-id in the token URI" "bad.conf:1: token: PKCS#11 URI: attribute 'slot-id' is not supported" \
	"token = pkcs11:slot-id=1"
bad "object in the token URI" "bad.conf:1: token: must select a token, not an object" \
	"token = pkcs11:token=x;object=k"
bad "not a URI" "bad.conf:1: token: PKCS#11 URI must start with 'pkcs11:'" "token = smimegw"
bad "authserv_id with a space" "bad.conf:1: authserv_id: 'a b' must be a non-empty word" 'authserv_id = "a b"'
refused "missing config file" "cannot read $T/none.conf" "$SMIMEGW" -c "$T/none.conf" config check

# PIN file rules
PIN=$(cat "$T/tok/user.pin")
chmod 0644 "$T/tok/user.pin"
refused "PIN file readable by others" "mode 0644, must be 0600 or 0400" \
	gw cert create x --cn a.example.com --country DE --days 1
chmod 0400 "$T/tok/user.pin"
ok "PIN file mode 0400" gw cert create m0400 --cn a.example.com --country DE --days 1 --key ec:p256
chmod 0600 "$T/tok/user.pin"
echo "$PIN" >"$T/tok/user.pin"
ok "PIN file with a trailing newline" gw cert create nl --cn a.example.com --country DE --days 1 --key ec:p256
printf '%s\r\n' "$PIN" >"$T/tok/user.pin"
ok "PIN file with CRLF" gw cert create crlf --cn a.example.com --country DE --days 1 --key ec:p256
ln -s "$T/tok/user.pin" "$T/link.pin"
sed -i "s|^pin_file = .*|pin_file = $T/link.pin|" "$C"
refused "PIN file that is a symlink" "link.pin: is a symbolic link" \
	gw cert create x --cn a.example.com --country DE --days 1
: >"$T/empty.pin"; chmod 600 "$T/empty.pin"
sed -i "s|^pin_file = .*|pin_file = $T/empty.pin|" "$C"
refused "empty PIN file" "empty.pin: empty PIN" \
	gw cert create x --cn a.example.com --country DE --days 1
printf 'wrong-pin' >"$T/wrong.pin"; chmod 600 "$T/wrong.pin"
sed -i "s|^pin_file = .*|pin_file = $T/wrong.pin|" "$C"
refused "wrong PIN" "C_Login: CKR_PIN_INCORRECT: the PIN in pin_file is wrong; not retried" \
	gw cert create x --cn a.example.com --country DE --days 1
# The spy module logs every call: exactly one C_Login per attempt.
sed -i "s|^pkcs11_module = .*|pkcs11_module = $SPY|" "$C"
PKCS11SPY=$MODULE PKCS11SPY_OUTPUT=$T/spy.log gw cert create x --cn a.example.com \
	--country DE --days 1 >/dev/null 2>&1
same "a wrong PIN is tried once, never retried" "$(grep -c 'C_Login' "$T/spy.log")" 1
sed -i "s|^pin_file = .*|pin_file = tok/user.pin|; s|^pkcs11_module = .*|pkcs11_module = $MODULE|" "$C"
printf '%s' "$PIN" >"$T/tok/user.pin"
ok "right PIN again" gw cert create good --cn a.example.com --country DE --days 1 --key ec:p256

sed -i "s|^token = .*|token = pkcs11:token=no-such-token|" "$C"
refused "absent token" "no token matches token=no-such-token" \
	gw cert create x --cn a.example.com --country DE --days 1
sed -i "s|^token = .*|token = pkcs11:token=$LABEL|; s|^pkcs11_module = .*|pkcs11_module = $T/nothere.so|" "$C"
refused "missing module" "pkcs11_module: $T/nothere.so: cannot open shared object file" \
	gw cert create x --cn a.example.com --country DE --days 1
sed -i "s|^pkcs11_module = .*|pkcs11_module = /usr/lib/x86_64-linux-gnu/libc.so.6|" "$C"
refused "not a PKCS#11 module" "no C_GetFunctionList: not a PKCS#11 module" \
	gw cert create x --cn a.example.com --country DE --days 1
sed -i "s|^pkcs11_module = .*|pkcs11_module = $MODULE|" "$C"
ok "list needs no token" env SOFTHSM2_CONF=/nonexistent "$SMIMEGW" -c "$C" cert list
finish
