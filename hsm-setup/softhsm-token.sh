#!/usr/bin/env bash
# softhsm-token.sh - create an isolated SoftHSM2 token for smimegw development
# and tests. Never touches /etc/softhsm: everything lives below --dir.
#
# On success prints exactly two lines to stdout (safe to eval):
#   SOFTHSM2_CONF=/abs/path/softhsm2.conf
#   SMIMEGW_TOKEN_URI=pkcs11:token=<percent-encoded label>
# All diagnostics go to stderr. PINs are never printed.
set -euo pipefail
umask 077

prog=${0##*/}

usage() {
    cat <<EOF
Usage: $prog [--dir DIR] [--label LABEL] [--pin-file FILE] [--so-pin-file FILE]
       ${prog//?/ } [--strict] [--force]

Create an isolated SoftHSM2 token (never touches /etc/softhsm).

  --dir DIR           token directory (default: ./dev/token); receives
                      softhsm2.conf and tokens/ (mode 0700)
  --label LABEL       token label, at most 32 bytes (default: smimegw-dev)
  --pin-file FILE     user PIN file (default: DIR/user.pin); if missing, a
                      random 8-digit PIN is written there (mode 0600, no newline)
  --so-pin-file FILE  SO PIN file (default: DIR/so.pin); if missing, a random
                      16-digit PIN is written there (mode 0600, no newline)
  --strict            disable raw RSA (CKM_RSA_X_509), emulating HSM policies
                      that forbid it
  --force             wipe DIR/tokens (all tokens in DIR) and re-create
  -h, --help          show this help

Existing PIN files are reused (one trailing newline is stripped). If a token
with LABEL already exists in DIR, nothing is changed unless --force is given.

On success two lines are printed to stdout, e.g. for use with eval:
  SOFTHSM2_CONF=/abs/DIR/softhsm2.conf
  SMIMEGW_TOKEN_URI=pkcs11:token=LABEL
Export SOFTHSM2_CONF so that smimegw (and pkcs11-tool) see the token.
EOF
}

die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }
warn() { printf '%s: warning: %s\n' "$prog" "$*" >&2; }
info() { printf '%s: %s\n' "$prog" "$*" >&2; }

# --- arguments --------------------------------------------------------------
dir=./dev/token
label=smimegw-dev
pin_file=
so_pin_file=
strict=0
force=0

need_arg() { [[ $# -ge 2 ]] || die "option $1 needs an argument (see --help)"; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --dir)          need_arg "$@"; dir=$2; shift 2 ;;
        --dir=*)        dir=${1#*=}; shift ;;
        --label)        need_arg "$@"; label=$2; shift 2 ;;
        --label=*)      label=${1#*=}; shift ;;
        --pin-file)     need_arg "$@"; pin_file=$2; shift 2 ;;
        --pin-file=*)   pin_file=${1#*=}; shift ;;
        --so-pin-file)  need_arg "$@"; so_pin_file=$2; shift 2 ;;
        --so-pin-file=*) so_pin_file=${1#*=}; shift ;;
        --strict)       strict=1; shift ;;
        --force)        force=1; shift ;;
        -h|--help)      usage; exit 0 ;;
        --)             shift; break ;;
        *)              die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ $# -eq 0 ]] || die "unexpected argument '$1' (see --help)"

# --- label checks -------------------------------------------------------------
[[ -n $label ]] || die "the token label must not be empty"
label_bytes=$(printf '%s' "$label" | wc -c)
if (( label_bytes > 32 )); then
    die "token label '$label' is $label_bytes bytes long; PKCS#11 token labels hold at most 32 bytes"
fi
if [[ $label == *[[:cntrl:]]* ]]; then
    die "the token label must not contain control characters"
fi
# PKCS#11 pads labels with blanks, so leading/trailing blanks cannot round-trip.
[[ $label != ' '* && $label != *' ' ]] \
    || die "the token label must not start or end with a space"

command -v softhsm2-util >/dev/null 2>&1 \
    || die "softhsm2-util not found (apt-get install softhsm2)"

# --- paths ----------------------------------------------------------------------
[[ -n $dir ]] || die "--dir must not be empty"
# The directory is written unquoted into softhsm2.conf and into the eval-able
# output, so keep it to characters that need no quoting.
check_dir_chars() {
    [[ $1 =~ ^[A-Za-z0-9._/+,:@~-]+$ ]] \
        || die "directory path '$1' contains characters that need quoting; use a path made of [A-Za-z0-9._/+,:@~-]"
}
if [[ $dir == /* ]]; then check_dir_chars "$dir"; else check_dir_chars "$PWD/$dir"; fi
mkdir -p -- "$dir" || die "cannot create directory '$dir'"
dir=$(cd -- "$dir" && pwd -P) || die "cannot resolve directory '$dir'"
check_dir_chars "$dir"

conf=$dir/softhsm2.conf
tokendir=$dir/tokens

abspath() {   # absolute path of a (possibly not yet existing) file
    local f=$1 d b
    d=$(dirname -- "$f"); b=$(basename -- "$f")
    mkdir -p -- "$d" || die "cannot create directory '$d'"
    d=$(cd -- "$d" && pwd -P) || die "cannot resolve directory '$d'"
    printf '%s/%s' "${d%/}" "$b"
}
pin_file=$(abspath "${pin_file:-$dir/user.pin}")
so_pin_file=$(abspath "${so_pin_file:-$dir/so.pin}")

# --- serialise concurrent runs on the same DIR ----------------------------------
if command -v flock >/dev/null 2>&1; then
    exec 9>"$dir/.lock"
    flock -w 60 9 || die "timed out waiting for the lock on $dir/.lock"
fi

# --- helpers --------------------------------------------------------------------
softhsm() { SOFTHSM2_CONF=$conf softhsm2-util "$@"; }

# Labels of initialised tokens visible through $conf, one per line (trimmed).
token_labels() {
    softhsm --show-slots 2>/dev/null \
        | sed -n 's/^[[:space:]]*Label:[[:space:]]*//p' \
        | sed 's/[[:space:]]*$//' || true
}

token_exists() {
    local l
    while IFS= read -r l; do
        [[ -n $l && $l == "$label" ]] && return 0
    done < <(token_labels)
    return 1
}

# RFC 7512 percent-encoding: keep [A-Za-z0-9._~-], encode every other byte.
pct_encode() {
    local LC_ALL=C s=$1 out='' c i
    for (( i = 0; i < ${#s}; i++ )); do
        c=${s:i:1}
        case $c in
            [A-Za-z0-9._~-]) out+=$c ;;
            *) out+=$(printf '%%%02X' "'$c") ;;
        esac
    done
    printf '%s' "$out"
}

random_digits() {   # $1 = number of digits; unbiased (bytes >= 250 rejected)
    local n=$1 out='' b
    while (( ${#out} < n )); do
        for b in $(od -An -v -N64 -tu1 /dev/urandom); do
            (( b < 250 )) || continue
            out+=$(( b % 10 ))
            (( ${#out} < n )) || break
        done
    done
    printf '%s' "$out"
}

# read_pin VAR FILE WHAT: read a PIN file, strip exactly one trailing newline.
read_pin() {
    local __var=$1 f=$2 what=$3 p='' mode
    [[ -f $f && -r $f ]] || die "$what file '$f' is not a readable regular file"
    IFS= read -r -d '' p <"$f" || true
    p=${p%$'\n'}
    [[ $p != *$'\n'* && $p != *$'\r'* ]] \
        || die "$what file '$f' must hold the PIN on a single line"
    (( ${#p} >= 4 && ${#p} <= 255 )) \
        || die "$what in '$f' must be 4-255 characters long (SoftHSM limit)"
    mode=$(stat -c %a -- "$f" 2>/dev/null || echo '?')
    [[ $mode == 600 || $mode == 400 ]] \
        || warn "$what file '$f' has mode $mode; 0600 or 0400 is recommended"
    printf -v "$__var" '%s' "$p"
}

# write_pin FILE DIGITS WHAT: create a new PIN file (no trailing newline).
write_pin() {
    local f=$1 n=$2 what=$3 p
    p=$(random_digits "$n")
    ( set -C; printf '%s' "$p" >"$f" ) 2>/dev/null \
        || die "cannot create $what file '$f'"
    chmod 0600 -- "$f"
    info "generated a random $n-digit $what in $f"
}

emit() {
    printf 'SOFTHSM2_CONF=%s\n' "$conf"
    printf 'SMIMEGW_TOKEN_URI=pkcs11:token=%s\n' "$(pct_encode "$label")"
}

# --- softhsm2.conf content -----------------------------------------------------
if (( strict )); then
    # SoftHSM 2.6.1 swallows the first list element, hence the leading "-,".
    mechanisms='-,CKM_RSA_X_509'
    profile=strict
else
    mechanisms=ALL
    profile=default
fi
conf_text="# generated by softhsm-token.sh (profile: $profile); isolated smimegw token
directories.tokendir = $tokendir
objectstore.backend = file
log.level = ERROR
slots.removable = false
slots.mechanisms = $mechanisms
library.reset_on_fork = false
"

write_conf() {
    local tmp
    tmp=$(mktemp "$dir/.softhsm2.conf.XXXXXX")
    printf '%s' "$conf_text" >"$tmp"
    chmod 0600 -- "$tmp"
    mv -f -- "$tmp" "$conf"
}

conf_matches() { [[ -f $conf && "$(cat -- "$conf"; printf x)" == "${conf_text}x" ]]; }

# --- main -----------------------------------------------------------------------
# Validate existing PIN files before changing anything.
user_pin='' so_pin=''
[[ ! -e $pin_file ]] || read_pin user_pin "$pin_file" "user PIN"
[[ ! -e $so_pin_file ]] || read_pin so_pin "$so_pin_file" "SO PIN"

if (( force )); then
    if [[ -d $tokendir ]]; then
        info "--force: wiping $tokendir"
        rm -rf -- "$tokendir"
    fi
fi

mkdir -p -- "$tokendir"
chmod 0700 -- "$tokendir"
[[ -f $conf ]] || write_conf

if (( ! force )) && token_exists; then
    if ! conf_matches; then
        warn "token '$label' exists but $conf differs from the requested ($profile) profile; left unchanged (use --force to rebuild)"
    fi
    [[ -e $pin_file ]] \
        || warn "user PIN file '$pin_file' does not exist; the token cannot be used without its PIN (use --force to rebuild)"
    info "token '$label' already exists in $tokendir; nothing changed"
    emit
    exit 0
fi

conf_matches || write_conf

# PINs: generate the missing ones.
if [[ -z $user_pin ]]; then
    write_pin "$pin_file" 8 "user PIN"
    read_pin user_pin "$pin_file" "user PIN"
fi
if [[ -z $so_pin ]]; then
    write_pin "$so_pin_file" 16 "SO PIN"
    read_pin so_pin "$so_pin_file" "SO PIN"
fi

# softhsm2-util only takes PINs as arguments (it reads prompts from the tty),
# so they are briefly visible in the process list: dev/test tokens only.
# Its stdout is a diagnostic; keep our stdout to the two result lines.
if ! softhsm --init-token --free --label "$label" \
        --so-pin "$so_pin" --pin "$user_pin" >&2; then
    die "softhsm2-util --init-token failed for label '$label' (conf: $conf)"
fi
unset user_pin so_pin

token_exists || die "token '$label' was initialised but is not visible through $conf"
info "initialised token '$label' ($profile profile) in $tokendir"
emit
