# pki.sh - a throwaway PKI made with the openssl CLI (sourced after lib.sh).
# mkca DIR CN            : self-signed CA with key DIR/ca.key, cert DIR/ca.pem
# mkee CA NAME KEYSPEC EXT [STARTDATE ENDDATE] : end-entity cert $T/NAME.pem
#                          + key $T/NAME.key issued by CA with the given
#                          extension lines (semicolon-separated)
mkca() {
	mkdir -p "$1"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1/ca.key" \
		-subj "/CN=$2" -days 3650 -out "$1/ca.pem" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
	: >"$1/index.txt"
	echo 1000 >"$1/serial"
	cat >"$1/ca.cnf" <<EOC
[ ca ]
default_ca = d
[ d ]
dir = $1
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
certificate = \$dir/ca.pem
private_key = \$dir/ca.key
default_md = sha256
policy = p
unique_subject = no
copy_extensions = none
[ p ]
commonName = supplied
countryName = optional
organizationName = optional
EOC
}

mkee() {
	local ca=$1 name=$2 keyspec=$3 ext=$4 start=${5:-} end=${6:-}
	case "$keyspec" in
	rsa:*) openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${keyspec#rsa:}" \
		-out "$T/$name.key" 2>/dev/null ;;
	ec:*) openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:${keyspec#ec:}" \
		-out "$T/$name.key" 2>/dev/null ;;
	esac
	openssl req -new -key "$T/$name.key" -subj "/CN=$name.example.com/O=Partner/C=FR" \
		-out "$T/$name.csr" 2>/dev/null
	printf '[ x ]\n%s\n' "${ext//;/$'\n'}" >"$T/$name.ext"
	local dates=(-days 365)
	[ -n "$start" ] && dates=(-startdate "$start" -enddate "$end")
	openssl ca -batch -config "$ca/ca.cnf" -in "$T/$name.csr" -out "$T/$name.pem" \
		-extfile "$T/$name.ext" -extensions x -notext "${dates[@]}" 2>"$T/ca.log" ||
		{ cat "$T/ca.log" >&2; return 1; }
}
