#!/usr/bin/env bash
# run.sh - the S/MIME interoperability matrix: smimegw against four
# independent implementations (openssl cms, GnuPG gpgsm, NSS cmsutil,
# BouncyCastle), in both directions, plus peer-to-peer controls and
# negative controls. See README.md in this folder.
#
# Environment: SMIMEGW (binary), SRCDIR (source tree), PROFILE
# (default|strict: the SoftHSM profile), optional PEERS (subset of
# "openssl gpgsm nss bc"), CONTROLS (full: every peer to every peer,
# the default; star: openssl to every peer and every peer to openssl;
# none), PEERS_ONLY=1 (no smimegw message cases: proves the peer side
# alone), KEEP=1 (keep the work directory and print where it is).
# Prints "ok NAME", "FAIL NAME: reason" or "skip NAME: reason" per case;
# the last line is "N passed, N failed"; exit 1 when anything failed.
set -uo pipefail
: "${SMIMEGW:?set SMIMEGW to the smimegw binary}" "${SRCDIR:?set SRCDIR to the source tree}"
PROFILE=${PROFILE:-default}
PEERS=${PEERS:-openssl gpgsm nss bc}
CONTROLS=${CONTROLS:-full}
PEERS_ONLY=${PEERS_ONLY:-0}
HERE=$(cd "$(dirname "$0")" && pwd)
MIME=$HERE/smime-mime.sh
MODULE=/usr/lib/softhsm/libsofthsm2.so
JARS="bcprov bcpkix bcutil bcmail javax.mail javax.activation"
export LC_ALL=C TZ=UTC

T=$(mktemp -d "${TMPDIR:-/tmp}/smimegw-interop.XXXXXX")
export GNUPGHOME=$T/gnupg
cleanup() {
	[ -d "$GNUPGHOME" ] && gpgconf --kill gpg-agent >/dev/null 2>&1
	[ "${KEEP:-0}" = 1 ] || rm -rf "$T"
}
trap cleanup EXIT
SECONDS=0
# progress on stderr, so that stdout stays the case list
phase() { echo "# ${SECONDS}s: $*" >&2; }
[ "${KEEP:-0}" = 1 ] && phase "work directory (kept): $T"

# Peers whose tools are missing are left out (one skip line each).
have() { command -v "$1" >/dev/null 2>&1; }
missing_tool() { # PEER -> what is missing
	local j
	case $1 in
	openssl) have openssl || echo openssl ;;
	gpgsm) have gpgsm && have gpgconf && have gpg-agent || echo "gpgsm, gpgconf or gpg-agent" ;;
	nss) have cmsutil && have certutil && have pk12util || echo "cmsutil, certutil or pk12util (libnss3-tools)" ;;
	bc)
		have java && have javac || { echo "java or javac"; return; }
		for j in $JARS; do
			[ -f "/usr/share/java/$j.jar" ] || { echo "/usr/share/java/$j.jar"; return; }
		done
		;;
	esac
}
case $CONTROLS in full | star | none) ;; *)
	echo "run.sh: CONTROLS must be full, star or none" >&2; exit 2 ;;
esac
case $PROFILE in default | strict) ;; *)
	echo "run.sh: PROFILE must be default or strict" >&2; exit 2 ;;
esac
want_peers=$PEERS
PEERS=
for p in $want_peers; do
	case $p in openssl | gpgsm | nss | bc) ;; *)
		echo "run.sh: unknown peer '$p' in PEERS (openssl gpgsm nss bc)" >&2
		exit 2 ;;
	esac
	m=$(missing_tool "$p")
	if [ -n "$m" ]; then
		echo "skip peer $p: missing $m"
	else
		PEERS="$PEERS $p"
	fi
done
PEERS=${PEERS# }
have openssl || { echo "run.sh: openssl is needed for the test PKI" >&2; exit 2; }

PASSED=0
FAILED=0
SKIPPED=0
pass() { PASSED=$((PASSED + 1)); echo "ok $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $1: $2"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "skip $1: $2"; }

# The gist of a tool's stderr on one line.
gist() {
	grep -v -E '^[[:space:]]*$|^CMS Verification successful|^Verification successful|gpgsm: (Signature made|Good signature|                aka|secmem usage|DBG:)|CRLs not checked|policies not checked|certificate should not have been used' "$1" 2>/dev/null |
		head -4 | tr '\n\t' '  ' | sed 's/  */ /g; s/ $//' | cut -c1-400
}

in_peers() { case " $PEERS " in *" $1 "*) return 0 ;; esac; return 1; }

# ------------------------------------------------------------------ PKI
# CA (RSA-2048); partner users alice (RSA-2048) and carol (P-256) whose
# software keys the peers hold; bob and dave: someone else (negative
# control); mallory-*: self-signed impostors using alice's and carol's
# addresses.
. "$SRCDIR/tests/integration/pki.sh"
mkdir -p "$T/art" "$T/w"
CA=$T/ca/ca.pem
EXT_RSA="basicConstraints=critical,CA:FALSE;keyUsage=critical,digitalSignature,nonRepudiation,keyEncipherment;extendedKeyUsage=emailProtection;subjectKeyIdentifier=hash;authorityKeyIdentifier=keyid"
EXT_EC="basicConstraints=critical,CA:FALSE;keyUsage=critical,digitalSignature,nonRepudiation,keyAgreement;extendedKeyUsage=emailProtection;subjectKeyIdentifier=hash;authorityKeyIdentifier=keyid"
email_of() { echo "$1@partner.example"; }
setup_pki() {
	mkca "$T/ca" "Interop Test CA" || return 1
	local who ks ext
	for who in alice:rsa:2048 carol:ec:P-256 bob:rsa:2048 dave:ec:P-256; do
		ks=${who#*:}
		who=${who%%:*}
		ext=$EXT_RSA
		[ "${ks%%:*}" = ec ] && ext=$EXT_EC
		mkee "$T/ca" "$who" "$ks" "$ext;subjectAltName=email:$(email_of "$who")" ||
			return 1
	done
	# legacy 3DES/SHA-1 PKCS#12: the only form gpgsm 2.2.40 can read
	printf 'interop-p12' >"$T/p12pass"
	for who in alice carol; do
		openssl pkcs12 -export -in "$T/$who.pem" -inkey "$T/$who.key" \
			-certfile "$CA" -name "$who" -certpbe PBE-SHA1-3DES \
			-keypbe PBE-SHA1-3DES -macalg sha1 \
			-passout "file:$T/p12pass" -out "$T/$who.p12" || return 1
	done
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/mallory-rsa.key" \
		-subj "/CN=alice.example.com/O=Partner/C=FR" -days 30 \
		-addext "subjectAltName=email:$(email_of alice)" \
		-addext "keyUsage=critical,digitalSignature,nonRepudiation,keyEncipherment" \
		-addext "extendedKeyUsage=emailProtection" \
		-out "$T/mallory-rsa.pem" 2>/dev/null || return 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/mallory-ec.key" -subj "/CN=carol.example.com/O=Partner/C=FR" \
		-days 30 -addext "subjectAltName=email:$(email_of carol)" \
		-addext "keyUsage=critical,digitalSignature,nonRepudiation,keyAgreement" \
		-addext "extendedKeyUsage=emailProtection" \
		-out "$T/mallory-ec.pem" 2>/dev/null || return 1
}

# ---------------------------------------------------------- peer state
NSSDB=sql:$T/nssdb
setup_nss() {
	mkdir -p "$T/nssdb"
	certutil -N -d "$NSSDB" --empty-password || return 1
	certutil -A -d "$NSSDB" -n interop-ca -t C,C,C -i "$CA" || return 1
	local who
	for who in alice carol; do
		pk12util -d "$NSSDB" -i "$T/$who.p12" -w "$T/p12pass" -K "" \
			>/dev/null || return 1
	done
}

# gpgsm: the p12 password protects the imported keys too; it is fed on
# fd 5 with loopback pinentry (--passphrase is silently ignored).
g() {
	timeout 60 gpgsm --batch --no-tty --pinentry-mode loopback \
		--passphrase-fd 5 --disable-crl-checks --disable-policy-checks \
		"$@" 5<"$T/p12pass"
}
setup_gpgsm() {
	mkdir -m 700 "$GNUPGHOME" || return 1
	printf 'disable-crl-checks\ndisable-policy-checks\ninclude-certs -1\n' \
		>"$GNUPGHOME/gpgsm.conf"
	printf 'allow-loopback-pinentry\n' >"$GNUPGHOME/gpg-agent.conf"
	printf '%s S relax\n' "$(openssl x509 -in "$CA" -noout -fingerprint -sha1 |
		sed 's/.*=//; s/://g')" >"$GNUPGHOME/trustlist.txt"
	g --import "$CA" || return 1
	# RSA only: importing an EC PKCS#12 crashes gpgsm 2.2.40.  Under
	# heavy load gpgsm 2.2.40 has been seen to fail this import now and
	# then ("possibly bad passphrase", with the right one): peer setup,
	# not a smimegw result, so it is retried, and each retry is logged.
	local try
	for try in 1 2 3; do
		g --import "$T/alice.p12" && break
		echo "# gpgsm PKCS#12 import failed (attempt $try), retrying" >&2
		gpgconf --kill gpg-agent 2>/dev/null
		sleep 2
	done
	g --list-secret-keys --with-colons | grep '^crs' >/dev/null || {
		echo "gpgsm: alice's key was not imported" >&2
		return 1
	}
}

CLASSES=$T/classes
CP=$CLASSES
for j in $JARS; do CP=$CP:/usr/share/java/$j.jar; done
setup_bc() {
	mkdir -p "$CLASSES"
	javac -nowarn -Xlint:none -d "$CLASSES" -cp "$CP" "$HERE/BcPeer.java"
}

# ------------------------------------------------------------- smimegw
# A private copy of the binary: a rebuild during the run cannot change it.
GWBIN=$T/smimegw
gw() { timeout 120 "$GWBIN" -c "$T/smimegw.conf" "$@"; }
setup_gw() {
	local strict= kt id ext
	[ "$PROFILE" = strict ] && strict=--strict
	cp "$SMIMEGW" "$GWBIN" || return 1
	"$SRCDIR/hsm-setup/softhsm-token.sh" --dir "$T/tok" --label "interop$$" \
		$strict >"$T/tok.env" || return 1
	export SOFTHSM2_CONF=$T/tok/softhsm2.conf
	cat >"$T/smimegw.conf" <<EOC
data_dir = $T/data
pkcs11_module = $MODULE
token = pkcs11:token=interop$$
pin_file = $T/tok/user.pin
EOC
	for kt in rsa:2048 ec:p256; do
		id=gw-${kt%%:*}
		ext=$EXT_RSA
		[ "$id" = gw-ec ] && ext=$EXT_EC
		gw cert create "$id" --cn gw.example.org --country DE --days 30 \
			--san-email "$id@gw.example.org" --key "$kt" --usage both ||
			return 1
		gw cert csr "$id" -o "$T/$id.csr" || return 1
		printf '[ x ]\n%s\n' "${ext//;/$'\n'}" >"$T/$id.ext"
		printf 'subjectAltName=email:%s@gw.example.org\n' "$id" >>"$T/$id.ext"
		openssl ca -batch -config "$T/ca/ca.cnf" -in "$T/$id.csr" \
			-out "$T/$id.crt" -extfile "$T/$id.ext" -extensions x -notext \
			-days 30 2>"$T/ca.log" || { cat "$T/ca.log" >&2; return 1; }
		cat "$T/$id.crt" "$CA" >"$T/$id.bundle"
		gw cert install "$id" "$T/$id.bundle" || return 1
		gw cert export "$id" >"$T/$id.export" || return 1
		openssl x509 -in "$T/$id.export" -out "$T/$id.pem" || return 1
	done
	# the CMS-only peers look the gateway's certificate up when they
	# encrypt to it (RSA only: neither can encrypt to an EC key)
	if in_peers nss; then
		certutil -A -d "$NSSDB" -n gw-rsa -t ,, -i "$T/gw-rsa.pem" || return 1
	fi
	if in_peers gpgsm; then
		g --import "$T/gw-rsa.pem" || return 1
	fi
}

setup_step() { # NAME FUNCTION
	if ! "$2" >"$T/setup.log" 2>&1; then
		echo "FAIL setup $1: $(tail -3 "$T/setup.log" | tr '\n\t' '  ' | cut -c1-300)"
		sed 's/^/     | /' "$T/setup.log" | tail -30
		echo "0 passed, 1 failed"
		exit 1
	fi
}

phase setup
setup_step "test PKI (openssl)" setup_pki
in_peers nss && setup_step "NSS database" setup_nss
in_peers gpgsm && setup_step "GNUPGHOME" setup_gpgsm
in_peers bc && setup_step "BouncyCastle helper" setup_bc
GW=0
if [ "$PEERS_ONLY" != 1 ]; then
	setup_step "smimegw token and identities" setup_gw
	GW=1
fi

phase "setup done"

# ------------------------------------------------------------ payloads
MARKER=MARKER-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
BODY="Hello from the smimegw interop matrix.
$MARKER
Punctuation survives: <>&;\"'=?-_.
    An indented line, and a blank line below.

Last line."
# the MIME entity the peers sign or encrypt (canonical CRLF)
{
	printf 'Content-Type: text/plain; charset=us-ascii\n'
	printf 'Content-Transfer-Encoding: 7bit\n\n%s\n' "$BODY"
} | sed 's/$/\r/' >"$T/entity.eml"
# the message smimegw processes (LF line ends, as in a Unix file)
gw_payload() { # KT -> file
	local f=$T/payload-$1.eml to=alice
	[ "$1" = ec ] && to=carol
	{
		printf 'From: Gateway <gw-%s@gw.example.org>\n' "$1"
		printf 'To: <%s>\nSubject: smimegw interop %s\n' "$(email_of $to)" "$1"
		printf 'Date: %s\nMessage-ID: <%s.%s@gw.example.org>\n' "$(date -R)" "$1" "$MARKER"
		printf 'MIME-Version: 1.0\n'
		printf 'Content-Type: text/plain; charset=us-ascii\n'
		printf 'Content-Transfer-Encoding: 7bit\n\n%s\n' "$BODY"
	} >"$f"
	echo "$f"
}

# --------------------------------------------------------- the matrix
KTS="rsa ec"
# The core operations, then smimegw's options (RSA-only ones last).
OPS="sign-detached sign-opaque enc-aes128-cbc enc-aes256-cbc enc-aes256-gcm sign-encrypt triple
 sign-sha384 sign-sha512 enc-aes192-cbc enc-aes128-gcm sign-pss enc-oaep"
ops_for() { # KT -> the operations that apply to the key type
	local op
	for op in $OPS; do
		case $1:$op in ec:sign-pss | ec:enc-oaep) continue ;; esac
		echo "$op"
	done
}
user_of() { [ "$1" = rsa ] && echo alice || echo carol; }

encrypts() { case $1 in enc-* | sign-encrypt | triple) return 0 ;; esac; return 1; }
layers_of() { # OP -> the layers a consumer must peel, outermost first
	case $1 in
	sign-encrypt) echo ES ;;
	triple) echo SES ;;
	sign-*) echo S ;;
	enc-*-gcm) echo A ;;
	enc-*) echo E ;;
	esac
}

# Why PRODUCER cannot make OP with key type KT (nothing: it can).
cannot_produce() { # P KT OP
	case $1:$2:$3 in
	gpgsm:ec:*) echo "gpgsm 2.2.40 crashes importing EC PKCS#12 keys and refuses keyAgreement recipients" ;;
	gpgsm:*:*-gcm) echo "gpgsm 2.2 cannot create AuthEnvelopedData" ;;
	gpgsm:*:sign-pss) echo "gpgsm 2.2.40 cannot make RSASSA-PSS signatures" ;;
	gpgsm:*:enc-oaep) echo "gpgsm 2.2.40 cannot encrypt with RSAES-OAEP" ;;
	nss:*:sign-pss) echo "cmsutil has no RSASSA-PSS option" ;;
	nss:ec:sign-encrypt) echo "NSS 3.87 cannot create ECDH (kari) envelopes" ;;
	nss:ec:sign-*) ;;
	nss:ec:*) echo "NSS 3.87 cannot create ECDH (kari) envelopes" ;;
	nss:*:enc-aes128-cbc) ;;
	nss:*:enc-*) echo "cmsutil cannot choose the cipher or padding (always AES-128-CBC, PKCS#1 v1.5)" ;;
	esac
}
# Why smimegw cannot open what P made for it (token limits, by profile).
gw_cannot_open() { # P OP
	case $PROFILE:$1:$2 in
	strict:bc:enc-oaep) echo "the strict SoftHSM 2.6.1 token implements CKM_RSA_PKCS_OAEP with SHA-1 only and forbids raw RSA; BouncyCastle uses OAEP-SHA256 (openssl's OAEP-SHA1 is tested)" ;;
	esac
}
# Why CONSUMER cannot read OP with key type KT.
cannot_consume() { # C KT OP
	case $1:$3 in
	gpgsm:*-gcm) echo "gpgsm 2.2.40 cannot read AuthEnvelopedData" ;;
	gpgsm:sign-pss) echo "gpgsm 2.2.40 cannot verify RSASSA-PSS (reports BADSIG)" ;;
	gpgsm:enc-oaep) echo "gpgsm 2.2.40 cannot decrypt RSAES-OAEP" ;;
	nss:*-gcm) echo "NSS 3.87 cannot read AuthEnvelopedData" ;;
	nss:enc-oaep) echo "NSS 3.87 cannot decrypt RSAES-OAEP (SEC_ERROR_UNSUPPORTED_KEYALG)" ;;
	gpgsm:* | nss:*)
		if [ "$2" = ec ] && encrypts "$3"; then
			[ "$1" = nss ] && echo "NSS 3.87 cannot open ECDH (kari) envelopes" ||
				echo "gpgsm 2.2.40 cannot open ECDH (kari) envelopes"
		fi
		;;
	esac
}
# Producer steps, applied left to right: sd|so[:DIGEST[:pss]] (detached or
# opaque signature), e:CIPHER[:oaep] (envelope).
steps_of() { # P OP
	local c=aes256-cbc
	[ "$1" = nss ] && c=aes128-cbc
	case $2 in
	sign-detached) echo sd ;;
	sign-opaque) echo so ;;
	sign-sha384 | sign-sha512) echo "sd:${2#sign-}" ;;
	sign-pss) echo sd:sha256:pss ;;
	enc-oaep) echo e:aes256-cbc:oaep ;;
	enc-*) echo "e:${2#enc-}" ;;
	sign-encrypt) echo "sd,e:$c" ;;
	triple) echo "sd,e:$c,sd" ;;
	esac
}

# ----------------------------------------------------------- producers
# p_TOOL STEPS SIGNKEY SIGNCERT RECIPCERT IN OUT (stderr: the reason)
p_openssl() {
	local key=$2 crt=$3 to=$4 cur=$5 out=$6 i=0 s next kind a b opt
	for s in ${1//,/ }; do
		i=$((i + 1))
		next=$out.$i
		IFS=: read -r kind a b <<<"$s"
		opt=()
		case $kind in
		sd | so)
			[ "$kind" = so ] && opt+=(-nodetach)
			[ "$b" = pss ] && opt+=(-keyopt rsa_padding_mode:pss)
			openssl cms -sign -md "${a:-sha256}" -signer "$crt" -inkey "$key" \
				-certfile "$CA" "${opt[@]}" -in "$cur" -out "$next" ;;
		e)
			[ "$b" = oaep ] && opt+=(-keyopt rsa_padding_mode:oaep)
			openssl cms -encrypt "-$(echo "$a" | sed 's/^aes/aes-/')" \
				-recip "$to" "${opt[@]}" -in "$cur" -out "$next" ;;
		esac || return 1
		cur=$next
	done
	cp "$cur" "$out"
}

p_gpgsm() {
	local crt=$3 to=$4 cur=$5 out=$6 i=0 s next kind a b me
	me=$(openssl x509 -in "$crt" -noout -email | head -1)
	for s in ${1//,/ }; do
		i=$((i + 1))
		next=$out.$i
		IFS=: read -r kind a b <<<"$s"
		a=${a:-sha256}
		case $kind in
		sd)
			g -u "$me" --include-certs -1 --digest-algo "$a" \
				-o "$next.der" --detach-sign "$cur" &&
				"$MIME" wrap-detached "$cur" "$next.der" "$next" "${a/sha/sha-}" ;;
		so)
			g -u "$me" --include-certs -1 --digest-algo "$a" \
				-o "$next.der" --sign "$cur" &&
				"$MIME" wrap-opaque "$next.der" "$next" ;;
		e)
			a=${a#aes}
			g -r "$(openssl x509 -in "$to" -noout -email | head -1)" \
				--cipher-algo "AES${a%-cbc}" -o "$next.der" --encrypt "$cur" &&
				"$MIME" wrap-enveloped "$next.der" "$next" ;;
		esac || return 1
		cur=$next
	done
	cp "$cur" "$out"
}

p_nss() {
	local crt=$3 to=$4 cur=$5 out=$6 i=0 s next nick kind a b
	nick=$(basename "$crt" .pem)
	for s in ${1//,/ }; do
		i=$((i + 1))
		next=$out.$i
		IFS=: read -r kind a b <<<"$s"
		a=${a:-sha256}
		case $kind in
		sd)
			cmsutil -S -d "$NSSDB" -p "" -N "$nick" -H "${a^^}" -G -P -T \
				-i "$cur" -o "$next.der" &&
				"$MIME" wrap-detached "$cur" "$next.der" "$next" "${a/sha/sha-}" ;;
		so)
			cmsutil -S -d "$NSSDB" -p "" -N "$nick" -H "${a^^}" -G -P \
				-i "$cur" -o "$next.der" &&
				"$MIME" wrap-opaque "$next.der" "$next" ;;
		e)
			cmsutil -E -d "$NSSDB" -p "" \
				-r "$(openssl x509 -in "$to" -noout -email | head -1)" \
				-i "$cur" -o "$next.der" &&
				"$MIME" wrap-enveloped "$next.der" "$next" ;;
		esac || return 1
		cur=$next
	done
	cp "$cur" "$out"
}

# smimegw, the producer under test: KT OP RECIPCERT IN OUT
p_smimegw() {
	local kt=$1 op=$2 to=$3 in=$4 out=$5 id=gw-$1
	case $op in
	sign-detached | sign-opaque)
		gw message sign --cert "$id" --sign-mode "${op#sign-}" -i "$in" -o "$out" ;;
	sign-sha384 | sign-sha512)
		gw message sign --cert "$id" --digest "${op#sign-}" -i "$in" -o "$out" ;;
	sign-pss) gw message sign --cert "$id" --pss -i "$in" -o "$out" ;;
	enc-oaep) gw message encrypt --to "$to" --cipher aes256-cbc --oaep -i "$in" -o "$out" ;;
	enc-*) gw message encrypt --to "$to" --cipher "${op#enc-}" -i "$in" -o "$out" ;;
	sign-encrypt) gw message sign-encrypt --cert "$id" --to "$to" -i "$in" -o "$out" ;;
	triple) gw message triple --cert "$id" --to "$to" -i "$in" -o "$out" ;;
	esac
}

# ----------------------------------------------------------- consumers
# c_TOOL_verify IN OUT / c_TOOL_decrypt IN OUT, with ME_KEY/ME_CRT set.
c_openssl_verify() {
	openssl cms -verify -CAfile "$CA" -purpose smimesign -in "$1" -out "$2"
}
c_openssl_decrypt() {
	openssl cms -decrypt -recip "$ME_CRT" -inkey "$ME_KEY" -in "$1" -out "$2"
}

c_gpgsm_verify() {
	local d=$2.parts st=$2.status
	"$MIME" split "$1" "$d" || return 1
	if [ -f "$d/content" ]; then
		g --status-fd 3 --verify "$d/cms.der" "$d/content" 3>"$st" &&
			cp "$d/content" "$2"
	else
		g --status-fd 3 -o "$2" --verify "$d/cms.der" 3>"$st"
	fi || { grep -h '^\[GNUPG:\]' "$st" >&2; return 1; }
	# exit 0 alone proves nothing: a good signature AND a valid chain
	grep -q '^\[GNUPG:\] GOODSIG' "$st" &&
		grep -q '^\[GNUPG:\] VALIDSIG' "$st" &&
		grep -q '^\[GNUPG:\] TRUST_FULLY' "$st" &&
		! grep -q -E '^\[GNUPG:\] (BADSIG|ERRSIG|TRUST_NEVER|TRUST_UNDEFINED)' "$st" || {
		grep -h '^\[GNUPG:\]' "$st" >&2
		return 1
	}
}
c_gpgsm_decrypt() {
	local d=$2.parts
	"$MIME" split "$1" "$d" && g -o "$2" --decrypt "$d/cms.der"
}

c_nss_verify() {
	local d=$2.parts st=$2.status s
	"$MIME" split "$1" "$d" || return 1
	# cmsutil -D exits 0 even for a bad signature: read the signer status
	if [ -f "$d/content" ]; then
		cmsutil -D -d "$NSSDB" -p "" -h 1 -n -c "$d/content" -i "$d/cms.der" \
			-o "$st" && cp "$d/content" "$2"
	else
		cmsutil -D -d "$NSSDB" -p "" -h 1 -n -i "$d/cms.der" -o "$st" &&
			cmsutil -D -d "$NSSDB" -p "" -i "$d/cms.der" -o "$2"
	fi || return 1
	s=$(grep -o 'signer[0-9]*\.status=[A-Za-z]*' "$st")
	[ -n "$s" ] && ! grep -v -q 'status=GoodSignature$' <<<"$s" || {
		echo "cmsutil: ${s:-no signer status}" | tr '\n' ' ' >&2
		return 1
	}
}
c_nss_decrypt() {
	local d=$2.parts
	"$MIME" split "$1" "$d" && cmsutil -D -d "$NSSDB" -p "" -i "$d/cms.der" -o "$2"
}

# peel TOOL IN OUT: remove every S/MIME layer; OUT.layers gets S/E/A.
peel() {
	local tool=$1 cur=$2 out=$3 i k layers= next
	for i in 1 2 3 4 5 6; do
		k=$("$MIME" kind "$cur") || return 1
		next=$out.l$i
		case $k in
		signed-*) "c_${tool}_verify" "$cur" "$next" || return 1; layers+=S ;;
		enveloped) "c_${tool}_decrypt" "$cur" "$next" || return 1; layers+=E ;;
		authenveloped) "c_${tool}_decrypt" "$cur" "$next" || return 1; layers+=A ;;
		plain:*) break ;;
		*) echo "unexpected entity: $k" >&2; return 1 ;;
		esac
		cur=$next
	done
	cp "$cur" "$out"
	echo "${layers:--}" >"$out.layers"
}

# newwd: a fresh case directory in $D (not in a subshell: W counts)
W=0
newwd() { W=$((W + 1)); D=$T/w/$W; mkdir -p "$D"; }

# consume_peer NAME C KT OP FILE: a shell peer must peel the expected
# layers and recover the payload entity.
consume_peer() {
	local name=$1 c=$2 kt=$3 op=$4 f=$5 d why want
	why=$(cannot_consume "$c" "$kt" "$op")
	[ -n "$why" ] && { skip "$name" "$why"; return; }
	newwd
	d=$D
	ME_CRT=$T/$(user_of "$kt").pem ME_KEY=$T/$(user_of "$kt").key
	if ! peel "$c" "$f" "$d/out" 2>"$d/err"; then
		fail "$name" "$(gist "$d/err")"
		return
	fi
	want=$(layers_of "$op")
	if [ "$(cat "$d/out.layers")" != "$want" ]; then
		fail "$name" "layers $(cat "$d/out.layers"), wanted $want"
	elif ! "$MIME" same "$d/out" "$T/entity.eml" 2>"$d/err"; then
		fail "$name" "recovered content differs: $(gist "$d/err")"
	else
		pass "$name"
	fi
}

# ar FILE: the unfolded Authentication-Results header of a smimegw output
ar() { "$MIME" header "$1" authentication-results; }
xsg() { "$MIME" header "$1" x-smime-gateway; }

# consume_gw NAME OP FILE: smimegw message open must verify and decrypt.
# Signed: smime=pass. Encrypted: decrypted=1 in X-SMIME-Gateway, and
# smime=none when nothing was signed (RFC 7281: "none" = not signed).
consume_gw() {
	local name=$1 op=$2 f=$3 d rc want=pass
	newwd
	d=$D
	case $op in enc-*) want=none ;; esac
	gw message open --ca "$CA" --remove-signature -i "$f" -o "$d/out" \
		2>"$d/err"
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "$name" "exit $rc: $(gist "$d/err") [$(ar "$d/out" 2>/dev/null)]"
	elif ! ar "$d/out" | grep -E "(^|[; ])smime=$want( |;|\$)" >/dev/null; then
		fail "$name" "wanted smime=$want: Authentication-Results: $(ar "$d/out")"
	elif encrypts "$op" && ! xsg "$d/out" | grep -E '(^|[; ])decrypted=1( |;|$)' >/dev/null; then
		fail "$name" "no decrypted=1: X-SMIME-Gateway: $(xsg "$d/out")"
	elif ! "$MIME" same "$d/out" "$T/entity.eml" 2>"$d/err"; then
		fail "$name" "output differs from the payload: $(gist "$d/err")"
	else
		pass "$name"
	fi
	# without --remove-signature the signature is kept, and must still
	# verify (openssl as the judge); for sign-encrypt: after decryption
	case $op in sign-*)
		gw message open --ca "$CA" -i "$f" -o "$d/kept" 2>"$d/err2"
		rc=$?
		if [ $rc -ne 0 ]; then
			fail "$name, signature kept" "exit $rc: $(gist "$d/err2")"
		elif ! openssl cms -verify -CAfile "$CA" -purpose smimesign \
			-in "$d/kept" -out "$d/kept.out" 2>"$d/err2"; then
			fail "$name, signature kept" "openssl cannot verify the kept signature: $(gist "$d/err2")"
		elif ! "$MIME" same "$d/kept.out" "$T/entity.eml" 2>"$d/err2"; then
			fail "$name, signature kept" "signed content differs: $(gist "$d/err2")"
		else
			pass "$name, signature kept"
		fi
		;;
	esac
}

# refuse_gw NAME KIND FILE: smimegw must exit 1; KIND sig: smime=fail;
# KIND enc: no plaintext and no smime=pass.
refuse_gw() {
	local name=$1 kind=$2 f=$3 d rc
	newwd
	d=$D
	gw message open --ca "$CA" --remove-signature -i "$f" -o "$d/out" \
		2>"$d/err"
	rc=$?
	touch "$d/out"
	if [ $rc -ne 1 ]; then
		fail "$name" "exit $rc (wanted 1): $(gist "$d/err")"
	elif [ "$kind" = sig ] && ! ar "$d/out" | grep -E '(^|[; ])smime=fail' >/dev/null; then
		fail "$name" "exit 1 but no smime=fail in the output headers (Authentication-Results: $(ar "$d/out"))"
	elif [ "$kind" = enc ] && grep -q -F "$MARKER" "$d/out"; then
		fail "$name" "the output holds the plaintext"
	elif [ "$kind" = enc ] && ar "$d/out" | grep 'smime=pass' >/dev/null; then
		fail "$name" "smime=pass for a message it could not decrypt"
	else
		pass "$name"
	fi
}

# refuse_peer NAME C FILE: a shell peer must reject.
refuse_peer() {
	local name=$1 c=$2 f=$3 d
	newwd
	d=$D
	if peel "$c" "$f" "$d/out" 2>"$d/err"; then
		fail "$name" "ACCEPTED (layers $(cat "$d/out.layers"))"
	else
		pass "$name"
	fi
}

# --------------------------------------------------------------- phase 1
# Produce every message. Artifacts: $T/art/P.KT.OP.TARGET.eml; TARGET is
# "peer" (encrypted to alice/carol) or "gw" (to smimegw's certificate).
# BouncyCastle jobs are batched into one JVM, running in the background.
: >"$T/bc-produce.jobs"
: >"$T/bc-open.jobs"
declare -A BCCASE=()     # job id -> case name (open jobs)
declare -A BCOP=()       # job id -> OP
declare -A ART=()        # P.KT.OP.TARGET -> artifact (when produced)
declare -A PRODFAIL=()   # same key -> reason
BCN=0                    # open jobs queued

targets_of() { # P -> targets
	if [ "$1" = smimegw ]; then echo peer; return; fi
	local t=
	[ "$CONTROLS" != none ] && t=peer
	[ $GW = 1 ] && t="$t gw"
	echo "$t"
}
recip_of() { # TARGET KT
	if [ "$1" = gw ]; then echo "$T/gw-$2.pem"; else echo "$T/$(user_of "$2").pem"; fi
}
mail_wrap() { # IN OUT KT TARGET P
	local from to u
	u=$(user_of "$3")
	if [ "$5" = smimegw ]; then cp "$1" "$2"; return; fi
	from=$(email_of "$u")
	to=$(email_of "$u")
	[ "$4" = gw ] && to=gw-$3@gw.example.org
	"$MIME" mail "$1" "$2" "<$from>" "<$to>" "interop $5 $3"
}

PRODUCERS="$PEERS"
[ $GW = 1 ] && PRODUCERS="smimegw $PRODUCERS"
# each_production FUNCTION: FUNCTION P KT OP TARGET KEY RECIPCERT USER
each_production() {
	local p kt op tg
	for p in $PRODUCERS; do
		for kt in $KTS; do
			for op in $(ops_for "$kt"); do
				[ "$p" != smimegw ] && [ -n "$(cannot_produce "$p" "$kt" "$op")" ] &&
					continue
				for tg in $(targets_of "$p"); do
					# signatures do not depend on the recipient: make them once
					[ "$tg" = gw ] && ! encrypts "$op" && [ "$CONTROLS" != none ] &&
						continue
					"$1" "$p" "$kt" "$op" "$tg" "$p.$kt.$op.$tg" \
						"$(recip_of "$tg" "$kt")" "$(user_of "$kt")"
				done
			done
		done
	done
}
queue_bc_production() { # P KT OP TARGET KEY RECIPCERT USER
	[ "$1" = bc ] || return 0
	echo "$5 produce $(steps_of bc "$3") $T/$7.key $T/$7.pem $CA $6 $T/entity.eml $T/art/$5.raw" \
		>>"$T/bc-produce.jobs"
}
produce() { # P KT OP TARGET KEY RECIPCERT USER
	local p=$1 kt=$2 op=$3 tg=$4 key=$5 to=$6 u=$7 raw=$T/art/$5.raw
	case $p in
	bc) ;;
	smimegw)
		if p_smimegw "$kt" "$op" "$to" "$(gw_payload "$kt")" \
			"$T/art/$key.eml" 2>"$raw.err"; then
			ART[$key]=$T/art/$key.eml
		else
			PRODFAIL[$key]="smimegw message: $(gist "$raw.err")"
		fi
		;;
	*)
		if "p_$p" "$(steps_of "$p" "$op")" "$T/$u.key" "$T/$u.pem" \
			"$to" "$T/entity.eml" "$raw" 2>"$raw.err" &&
			mail_wrap "$raw" "$T/art/$key.eml" "$kt" "$tg" "$p"; then
			ART[$key]=$T/art/$key.eml
		else
			PRODFAIL[$key]="$p: $(gist "$raw.err")"
		fi
		;;
	esac
}
phase produce
each_production queue_bc_production
BCPID=
if [ -s "$T/bc-produce.jobs" ]; then
	timeout 300 java -cp "$CP" BcPeer "$T/bc-produce.jobs" \
		>"$T/bc-produce.out" 2>"$T/bc-produce.err" &
	BCPID=$!
fi
each_production produce
if [ -n "$BCPID" ]; then
	phase "waiting for the BouncyCastle producer"
	wait "$BCPID"
	while read -r key res rest; do
		if [ "$res" = ok ]; then
			IFS=. read -r p kt op tg <<<"$key"
			mail_wrap "$T/art/$key.raw" "$T/art/$key.eml" "$kt" "$tg" bc
			ART[$key]=$T/art/$key.eml
		else
			PRODFAIL[$key]="bc: $rest"
		fi
	done <"$T/bc-produce.out"
	while read -r key _; do
		[ -n "${ART[$key]:-}" ] || [ -n "${PRODFAIL[$key]:-}" ] ||
			PRODFAIL[$key]="bc: no result ($(gist "$T/bc-produce.err"))"
	done <"$T/bc-produce.jobs"
fi

# The artifact for producer P, key type KT, OP, consumed on side TARGET.
art_for() { # P KT OP TARGET
	local key=$1.$2.$3.$4
	if [ "$4" = gw ] && ! encrypts "$3" && [ "$CONTROLS" != none ]; then
		key=$1.$2.$3.peer
	fi
	echo "$key"
}

# ------------------------------------------------------- negative controls
# Built with openssl from alice's/carol's material, plus smimegw's own
# signed messages tampered with. Every consumer must refuse them.
NEGS=
neg_add() { # WHAT:KT:KIND:FILE; FILE gets a mail header if it has none
	local f=${1##*:} kt
	kt=${1#*:}
	kt=${kt%%:*}
	if [ -z "$("$MIME" header "$f" from)" ]; then
		"$MIME" mail "$f" "$f.eml" "<$(email_of "$(user_of "$kt")")>" \
			"<gw-$kt@gw.example.org>" "interop negative control" || return 1
		f=$f.eml
	fi
	NEGS="$NEGS ${1%:*}:$f"
}
for kt in $KTS; do
	u=$(user_of "$kt")
	n=$T/art/neg
	openssl cms -sign -md sha256 -signer "$T/$u.pem" -inkey "$T/$u.key" \
		-certfile "$CA" -in "$T/entity.eml" -out "$n.sd.$kt" &&
		"$MIME" tamper "$n.sd.$kt" "$n.tampered-detached.$kt" "Hello from" &&
		neg_add "tampered-detached:$kt:sig:$n.tampered-detached.$kt" ||
		fail "neg tampered-detached $kt" "cannot build the message"
	openssl cms -sign -md sha256 -signer "$T/$u.pem" -inkey "$T/$u.key" \
		-certfile "$CA" -nodetach -in "$T/entity.eml" -out "$n.so.$kt" &&
		"$MIME" tamper "$n.so.$kt" "$n.tampered-opaque.$kt" "Hello from" &&
		neg_add "tampered-opaque:$kt:sig:$n.tampered-opaque.$kt" ||
		fail "neg tampered-opaque $kt" "cannot build the message"
	openssl cms -sign -md sha256 -signer "$T/mallory-$kt.pem" \
		-inkey "$T/mallory-$kt.key" -in "$T/entity.eml" \
		-out "$n.untrusted-signer.$kt" &&
		neg_add "untrusted-signer:$kt:sig:$n.untrusted-signer.$kt" ||
		fail "neg untrusted-signer $kt" "cannot build the message"
	other=bob
	[ "$kt" = ec ] && other=dave
	openssl cms -encrypt -aes-256-cbc -in "$T/entity.eml" \
		-out "$n.wrong-recipient.$kt" "$T/$other.pem" &&
		neg_add "wrong-recipient:$kt:enc:$n.wrong-recipient.$kt" ||
		fail "neg wrong-recipient $kt" "cannot build the message"
	for m in detached opaque; do
		f=${ART[smimegw.$kt.sign-$m.peer]:-}
		[ -n "$f" ] || continue
		if "$MIME" tamper "$f" "$n.gw-tampered-$m.$kt" "Hello from" 2>"$n.err"; then
			neg_add "smimegw-tampered-$m:$kt:sig:$n.gw-tampered-$m.$kt"
		else
			fail "neg smimegw-tampered-$m $kt" "cannot tamper: $(gist "$n.err")"
		fi
	done
done

# --------------------------------------------------------------- phase 2
# Consume. consume_all bc queues the BouncyCastle jobs (one JVM, in the
# background); consume_all shell runs everything else. A production
# failure is one FAIL; its consumers do not run.
bc_open() { # NAME FILE KT OP|reject
	local id u
	BCN=$((BCN + 1))
	id=j$BCN
	u=$(user_of "$3")
	BCCASE[$id]=$1
	BCOP[$id]=$4
	echo "$id open $CA $T/$u.key $T/$u.pem $2 $T/art/$id.bc-out" >>"$T/bc-open.jobs"
}

consumers_of() { # P TARGET -> consumers
	if [ "$2" = gw ]; then echo smimegw; return; fi
	if [ "$1" = smimegw ]; then echo "$PEERS"; return; fi
	local c out=
	for c in $PEERS; do
		case $CONTROLS:$1 in
		full:* | star:openssl) out="$out $c" ;;
		star:*) [ "$c" = openssl ] && out="$out $c" ;;
		esac
	done
	echo "$out"
}

reported=" "
consume_all() { # bc|shell
	local p kt op tg c name why key
	for p in $PRODUCERS; do
		for kt in $KTS; do
			for op in $(ops_for "$kt"); do
				for tg in peer gw; do
					[ "$p" = smimegw ] && [ "$tg" = gw ] && continue
					[ "$tg" = gw ] && [ $GW = 0 ] && continue
					[ "$tg" = peer ] && [ "$p" != smimegw ] &&
						[ "$CONTROLS" = none ] && continue
					for c in $(consumers_of "$p" "$tg"); do
						if [ "$1" = bc ]; then
							[ "$c" = bc ] || continue
						else
							[ "$c" != bc ] || continue
						fi
						name="$p>$c $kt $op"
						why=$(cannot_produce "$p" "$kt" "$op")
						if [ "$p" != smimegw ] && [ -n "$why" ]; then
							skip "$name" "$why"
							continue
						fi
						key=$(art_for "$p" "$kt" "$op" "$tg")
						if [ -z "${ART[$key]:-}" ]; then
							case $reported in *" $key "*) ;; *)
								reported="$reported$key "
								fail "$p produces $kt $op for $tg" "${PRODFAIL[$key]:-not produced}" ;;
							esac
							continue
						fi
						why=$(gw_cannot_open "$p" "$op")
						if [ "$c" = smimegw ] && [ -n "$why" ]; then
							skip "$name" "$why"
							continue
						fi
						case $c in
						smimegw) consume_gw "$name" "$op" "${ART[$key]}" ;;
						bc) bc_open "$name" "${ART[$key]}" "$kt" "$op" ;;
						*) consume_peer "$name" "$c" "$kt" "$op" "${ART[$key]}" ;;
						esac
					done
				done
			done
		done
	done
	local neg what kind f
	for neg in $NEGS; do
		IFS=: read -r what kt kind f <<<"$neg"
		for c in $PEERS smimegw; do
			[ "$c" = smimegw ] && [ $GW = 0 ] && continue
			if [ "$1" = bc ]; then
				[ "$c" = bc ] || continue
			else
				[ "$c" != bc ] || continue
			fi
			name="neg $what $kt >$c"
			if [ "$kind" = enc ] && [ "$kt" = ec ] &&
				{ [ "$c" = gpgsm ] || [ "$c" = nss ]; }; then
				skip "$name" "$(cannot_consume "$c" ec enc-aes256-cbc); a refusal would prove nothing"
				continue
			fi
			case $c in
			smimegw) refuse_gw "$name" "$kind" "$f" ;;
			bc) bc_open "$name" "$f" "$kt" reject ;;
			*)
				ME_CRT=$T/$(user_of "$kt").pem ME_KEY=$T/$(user_of "$kt").key
				refuse_peer "$name" "$c" "$f"
				;;
			esac
		done
	done
}

phase consume
consume_all bc
BCPID=
if [ $BCN -gt 0 ]; then
	timeout 300 java -cp "$CP" BcPeer "$T/bc-open.jobs" \
		>"$T/bc-open.out" 2>"$T/bc-open.err" &
	BCPID=$!
fi
consume_all shell

# --------------------------------------------------- format of smimegw output
# Cheap structural checks of what smimegw wrote, judged by openssl: the
# RFC 5322 header kept outside, the algorithms asked for, micalg.
cms_print() { "$MIME" cms "$1" "$1.der" && openssl cms -cmsout -print -inform DER -in "$1.der"; }
# has_alg NAME PRINTFILE FIELD WANT: the line after FIELD names WANT
has_alg() {
	local got
	got=$(grep -A1 "$3" "$2" | sed -n 's/.*algorithm: //p' | head -1)
	if [ "${got%% *}" = "$4" ]; then
		pass "$1"
	else
		fail "$1" "$3 is ${got:-missing}"
	fi
}
if [ $GW = 1 ]; then
	for kt in $KTS; do
		for op in $(ops_for "$kt"); do
			f=${ART[smimegw.$kt.$op.peer]:-}
			[ -n "$f" ] || continue
			name="smimegw format $kt $op"
			miss=
			for h in from to subject date message-id; do
				[ -n "$("$MIME" header "$f" "$h")" ] || miss="$miss $h:"
			done
			if [ -z "$miss" ]; then
				pass "$name: RFC 5322 header kept"
			else
				fail "$name: RFC 5322 header kept" "missing$miss"
			fi
			cms_print "$f" >"$f.print" 2>&1
			case $op in
			enc-oaep)
				has_alg "$name: RSAES-OAEP" "$f.print" keyEncryptionAlgorithm rsaesOaep ;;
			enc-*)
				c=${op#enc-}
				c=${c/aes/aes-}
				has_alg "$name: content cipher $c" "$f.print" contentEncryptionAlgorithm "$c" ;;
			sign-pss)
				has_alg "$name: RSASSA-PSS" "$f.print" signatureAlgorithm rsassaPss ;;
			esac
			case $op in
			sign-detached | sign-sha* | sign-pss)
				mic=$("$MIME" param "$("$MIME" header "$f" content-type)" micalg)
				dig=$(awk '/signerInfos:/ { s = 1 }
					s && /digestAlgorithm:/ { getline; sub(/.*algorithm: /, ""); sub(/ .*/, ""); print; exit }' "$f.print")
				want=sha256
				case $op in sign-sha*) want=${op#sign-} ;; esac
				if [ "$dig" = "$want" ] && [ "$mic" = "${dig/sha/sha-}" ]; then
					pass "$name: digest $want, micalg=$mic"
				else
					fail "$name: digest $want, micalg=${want/sha/sha-}" "micalg=$mic, SignerInfo digest ${dig:-?}"
				fi
				;;
			esac
		done
	done
fi

# ------------------------------------------------- BouncyCastle consumer
if [ -n "$BCPID" ]; then
	phase "waiting for the BouncyCastle consumer"
	wait "$BCPID"
	declare -A BCRES=()
	while read -r id res rest; do BCRES[$id]="$res $rest"; done <"$T/bc-open.out"
	for i in $(seq 1 $BCN); do
		id=j$i
		name=${BCCASE[$id]}
		op=${BCOP[$id]}
		r=${BCRES[$id]:-}
		if [ -z "$r" ]; then
			fail "$name" "BcPeer gave no result: $(gist "$T/bc-open.err")"
		elif [ "$op" = reject ]; then
			case $r in
			ok*) fail "$name" "ACCEPTED (layers ${r#ok })" ;;
			*) pass "$name" ;;
			esac
		elif [ "${r%% *}" != ok ]; then
			fail "$name" "${r#fail }"
		elif [ "${r#ok }" != "$(layers_of "$op")" ]; then
			fail "$name" "layers ${r#ok }, wanted $(layers_of "$op")"
		elif ! "$MIME" same "$T/art/$id.bc-out" "$T/entity.eml" 2>"$T/same.err"; then
			fail "$name" "recovered content differs: $(gist "$T/same.err")"
		else
			pass "$name"
		fi
	done
fi

phase "done: $SKIPPED skipped, profile $PROFILE"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
