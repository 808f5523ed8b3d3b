#!/usr/bin/env bash
# smime-mime.sh - the small S/MIME MIME layer for the CMS-only peers
# (gpgsm, NSS cmsutil) and the checks of the interop matrix. Shell, awk,
# coreutils base64 and openssl only.
#
#   smime-mime.sh kind FILE
#       signed-detached | signed-opaque | enveloped | authenveloped |
#       plain:TYPE (anything else). pkcs7-mime without smime-type is
#       classified by the CMS content type.
#   smime-mime.sh split FILE DIR
#       DIR/cms.der, and for multipart/signed DIR/content: the exact
#       signed bytes (canonical CRLF, without the CRLF that belongs to
#       the next delimiter).
#   smime-mime.sh wrap-detached CONTENT SIG.der OUT [MICALG]
#   smime-mime.sh wrap-opaque | wrap-enveloped | wrap-authenveloped DER OUT
#   smime-mime.sh mail IN OUT FROM TO SUBJECT
#       IN as the body part of a message (RFC 5322 headers in front).
#   smime-mime.sh header FILE NAME        unfolded value of the first NAME
#   smime-mime.sh param VALUE NAME        a parameter of a header value
#   smime-mime.sh body FILE               body, LF line ends, no trailing
#                                         empty lines
#   smime-mime.sh same FILE1 FILE2        exit 0 when the bodies and the
#                                         media types are equal
#   smime-mime.sh tamper FILE OUT TEXT    change one byte of TEXT (must
#                                         occur in the signed content; in
#                                         clear or inside a signed-data)
#   smime-mime.sh cms FILE OUT.der        the CMS of a pkcs7-mime part or
#                                         the signature of multipart/signed
set -uo pipefail
export LC_ALL=C

die() { printf 'smime-mime: %s\n' "$*" >&2; exit 1; }

# Lines of FILE with LF endings.
lf() { tr -d '\r' <"$1"; }

header() {
	lf "$1" | awk -v want="$(printf '%s' "$2" | tr 'A-Z' 'a-z')" '
		function flush(   i, n, v) {
			if (cur != "" && !done) {
				i = index(cur, ":")
				n = tolower(substr(cur, 1, i - 1))
				if (i > 0 && n == want) {
					v = substr(cur, i + 1)
					sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v)
					print v; done = 1
				}
			}
			cur = ""
		}
		body { next }
		/^$/ { flush(); done = 1; body = 1; next }
		/^[ \t]/ { t = $0; sub(/^[ \t]+/, " ", t); cur = cur t; next }
		{ flush(); cur = $0 }
		END { flush() }'
}

param() {
	local v
	v=$(printf '%s\n' "$1" |
		sed -nE "s/.*;[[:space:]]*$2[[:space:]]*=[[:space:]]*\"([^\"]*)\".*/\1/Ip")
	[ -n "$v" ] || v=$(printf '%s\n' "$1" |
		sed -nE "s/.*;[[:space:]]*$2[[:space:]]*=[[:space:]]*([^;[:space:]]+).*/\1/Ip")
	printf '%s\n' "$v"
}

media_type() {
	header "$1" content-type | sed 's/;.*//; s/[[:space:]]//g' | tr 'A-Z' 'a-z'
}

# Body lines (LF) of FILE, everything after the first empty line.
raw_body() { lf "$1" | awk 'b { print; next } /^$/ { b = 1 }'; }

body() {
	raw_body "$1" | awk '
		/^$/ { blank++; next }
		{ while (blank > 0) { print ""; blank-- } print }'
}

# The CMS (DER) of a pkcs7-mime part: base64 body.
p7_der() { raw_body "$1" | base64 -d -i 2>/dev/null; }

cms_kind() { # DER file -> signed-opaque | enveloped | authenveloped | ?
	local oid
	oid=$(openssl asn1parse -inform DER -in "$1" 2>/dev/null |
		awk '!done && /OBJECT/ { sub(/.*:/, ""); print; done = 1 }')
	case $oid in
	pkcs7-signedData) echo signed-opaque ;;
	pkcs7-envelopedData) echo enveloped ;;
	id-smime-ct-authEnvelopedData | 1.2.840.113549.1.9.16.1.23) echo authenveloped ;;
	*) echo "cms:${oid:-unparsable}" ;;
	esac
}

kind() {
	local mt st tmp
	mt=$(media_type "$1")
	case $mt in
	multipart/signed) echo signed-detached ;;
	application/pkcs7-mime | application/x-pkcs7-mime)
		st=$(param "$(header "$1" content-type)" smime-type | tr 'A-Z' 'a-z')
		case $st in
		signed-data) echo signed-opaque ;;
		enveloped-data) echo enveloped ;;
		authenveloped-data) echo authenveloped ;;
		*)
			tmp=$(mktemp)
			p7_der "$1" >"$tmp"
			cms_kind "$tmp"
			rm -f "$tmp"
			;;
		esac
		;;
	*) echo "plain:${mt:-text/plain}" ;;
	esac
}

split() {
	local f=$1 d=$2 b
	mkdir -p "$d" || die "cannot create $d"
	case $(kind "$f") in
	signed-detached)
		b=$(param "$(header "$f" content-type)" boundary)
		[ -n "$b" ] || die "$f: multipart/signed without a boundary"
		lf "$f" | awk -v b="--$b" -v content="$d/content" -v sig="$d/sig.b64" '
			function delim(l) {
				sub(/[ \t]+$/, "", l)
				if (l == b) return 1
				if (l == b "--") return 2
				return 0
			}
			st == 0 { if ($0 == "") st = 1; next }
			st == 1 { if (delim($0) == 1) st = 2; next }
			st == 2 {
				if (delim($0)) { st = 3; next }
				if (n++) printf "\r\n" >content
				printf "%s", $0 >content
				next
			}
			st == 3 { if ($0 == "") st = 4; next }
			st == 4 { if (delim($0)) { st = 5; next } print >sig }
			END {
				if (n == 0) printf "" >content
				if (st < 5) exit 1
			}' || die "$f: malformed multipart/signed"
		base64 -d -i <"$d/sig.b64" >"$d/cms.der" 2>/dev/null ||
			die "$f: signature part is not base64"
		rm -f "$d/sig.b64"
		;;
	signed-opaque | enveloped | authenveloped)
		p7_der "$f" >"$d/cms.der" || die "$f: body is not base64"
		;;
	*) die "$f: not an S/MIME entity" ;;
	esac
	[ -s "$d/cms.der" ] || die "$f: empty CMS"
}

b64() { base64 -w 76 <"$1" | sed 's/$/\r/'; }

pkcs7_mime() { # DER OUT SMIME-TYPE
	{
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: application/pkcs7-mime; smime-type=%s; name=smime.p7m\r\n' "$3"
		printf 'Content-Transfer-Encoding: base64\r\n'
		printf 'Content-Disposition: attachment; filename=smime.p7m\r\n\r\n'
		b64 "$1"
	} >"$2"
}

wrap_detached() { # CONTENT SIG OUT [MICALG]
	local bnd="=_interop_$RANDOM$RANDOM"
	{
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: multipart/signed; protocol="application/pkcs7-signature";\r\n'
		printf '\tmicalg=%s; boundary="%s"\r\n\r\n' "${4:-sha-256}" "$bnd"
		printf 'This is an S/MIME signed message.\r\n\r\n--%s\r\n' "$bnd"
		cat "$1"
		printf '\r\n--%s\r\n' "$bnd"
		printf 'Content-Type: application/pkcs7-signature; name=smime.p7s\r\n'
		printf 'Content-Transfer-Encoding: base64\r\n'
		printf 'Content-Disposition: attachment; filename=smime.p7s\r\n\r\n'
		b64 "$2"
		printf '\r\n--%s--\r\n' "$bnd"
	} >"$3"
}

mail() { # IN OUT FROM TO SUBJECT
	{
		printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\n' "$3" "$4" "$5"
		printf 'Date: %s\r\n' "$(date -R)"
		printf 'Message-ID: <%s.%s@interop.example>\r\n' "$(date +%s)" "$RANDOM$RANDOM"
		[ -n "$(header "$1" mime-version)" ] || printf 'MIME-Version: 1.0\r\n'
		sed 's/\r*$/\r/' "$1"
	} >"$2"
}

same() {
	local a b
	a=$(media_type "$1")
	b=$(media_type "$2")
	[ "${a:-text/plain}" = "${b:-text/plain}" ] || {
		echo "media type $a, wanted $b" >&2
		return 1
	}
	cmp -s <(body "$1") <(body "$2") || {
		echo "body differs:" >&2
		diff <(body "$2") <(body "$1") | head -8 >&2
		return 1
	}
}

# Overwrite the byte at OFFSET of FILE with CHAR.
poke() { printf '%s' "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

# Offset of the first occurrence of TEXT in FILE (bytes), or nothing.
offset_of() { grep -obUaF -- "$2" "$1" | head -1 | cut -d: -f1; }

tamper() { # FILE OUT TEXT: the first byte of TEXT becomes its successor
	local f=$1 out=$2 text=$3 k off c t
	c=$(printf '%s' "${text:0:1}" | tr 'A-Ya-y' 'B-Zb-z')
	k=$(kind "$f")
	case $k in
	signed-detached)
		cp "$f" "$out"
		off=$(offset_of "$out" "$text")
		[ -n "$off" ] || die "$f: '$text' not found"
		poke "$out" "$off" "$c"
		;;
	signed-opaque)
		t=$(mktemp -d)
		p7_der "$f" >"$t/der"
		off=$(offset_of "$t/der" "$text")
		[ -n "$off" ] || { rm -rf "$t"; die "$f: '$text' not found in the signed-data"; }
		poke "$t/der" "$off" "$c"
		lf "$f" | awk 'body { next } /^$/ { body = 1; next } { print }' |
			sed 's/$/\r/' >"$out"
		printf '\r\n' >>"$out"
		b64 "$t/der" >>"$out"
		rm -rf "$t"
		;;
	*) die "$f: not a signed message ($k)" ;;
	esac
}

cms() { # FILE OUT.der
	local t
	t=$(mktemp -d)
	split "$1" "$t" && cp "$t/cms.der" "$2"
	local rc=$?
	rm -rf "$t"
	return $rc
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
kind) kind "$1" ;;
split) split "$1" "$2" ;;
wrap-detached) wrap_detached "$@" ;;
wrap-opaque) pkcs7_mime "$1" "$2" signed-data ;;
wrap-enveloped) pkcs7_mime "$1" "$2" enveloped-data ;;
wrap-authenveloped) pkcs7_mime "$1" "$2" authEnveloped-data ;;
mail) mail "$@" ;;
header) header "$1" "$2" ;;
param) param "$1" "$2" ;;
body) body "$1" ;;
same) same "$1" "$2" ;;
tamper) tamper "$@" ;;
cms) cms "$1" "$2" ;;
*) die "usage: smime-mime.sh kind|split|wrap-*|mail|header|param|body|same|tamper|cms ..." ;;
esac
