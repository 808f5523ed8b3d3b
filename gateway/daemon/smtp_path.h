/*
 * smtp_path.h - the one home of RFC 5321 path syntax (with RFC 6531's
 * UTF-8 extension): the <...> of MAIL FROM and RCPT TO.  I/O-free,
 * allocation-free, no state between calls.
 *
 * Grammar (RFC 5321 section 4.1.2):
 *
 *   Path         = "<" [ A-d-l ":" ] Mailbox ">"
 *   A-d-l        = At-domain *( "," At-domain )      ; source route,
 *                                                     ; parsed, dropped
 *   Mailbox      = Local-part "@" ( Domain / address-literal )
 *   Local-part   = Dot-string / Quoted-string
 *   Dot-string   = Atom *( "." Atom )                 ; no empty atoms
 *   Quoted-string= DQUOTE *( %d32-33 / %d35-91 / %d93-126
 *                            / "\" %d32-126 ) DQUOTE
 *   Domain       = sub-domain *( "." sub-domain )
 *   sub-domain   = Let-dig [ Ldh-str ]                ; no '-' at the end
 *   address-literal = "[" ( IPv4 / "IPv6:" IPv6 ) "]" ; general literals
 *                                                     ; are refused (no
 *                                                     ; tag but IPv6 is
 *                                                     ; registered)
 *
 * With SMTP_PATH_UTF8 (RFC 6531), atext, qtext and sub-domains may also
 * hold well-formed UTF-8 sequences of two to four bytes (no overlongs,
 * no surrogates); without it any byte >= 0x80 is GW_ERR_UNSUPPORTED so
 * that the caller can answer 553 5.6.7 instead of a syntax error.
 *
 * Ceilings (RFC 5321 section 4.5.3.1): local part 64 octets, domain 255
 * octets, the whole path 256 octets including the angle brackets.
 */
#ifndef SMTP_PATH_H
#define SMTP_PATH_H

#include <stddef.h>

#define SMTP_LOCAL_MAX 64
#define SMTP_DOMAIN_MAX 255
#define SMTP_PATH_MAX 256
/* A mailbox as yielded ("local@domain"), NUL included. */
#define SMTP_MAILBOX_SIZE (SMTP_LOCAL_MAX + 1 + SMTP_DOMAIN_MAX + 1)

enum smtp_path_flag {
	SMTP_PATH_NULL_OK = 1 << 0,    /* "<>" is allowed (reverse-path) */
	SMTP_PATH_UTF8 = 1 << 1,       /* RFC 6531 UTF-8 in the mailbox */
	SMTP_PATH_POSTMASTER = 1 << 2, /* "<Postmaster>" is allowed */
};

/*
 * Parses the path that starts at s[0] (which must be '<') within
 * s[0..len).  On success returns 0, copies the mailbox ("local@domain",
 * the local part as written, quotes included; "" for "<>"; "Postmaster"
 * as written) NUL-terminated into out (at least SMTP_MAILBOX_SIZE
 * bytes), and sets *end to the offset just past the '>'.  Fails with
 * GW_ERR_PARSE (syntax), GW_ERR_LIMIT (a ceiling above),
 * GW_ERR_UNSUPPORTED (a byte >= 0x80 without SMTP_PATH_UTF8), or
 * GW_ERR_INVALID (NULL arguments, outsize too small); out is then "".
 * No gw_err detail is latched: remote input is answered, not logged as
 * our error.
 */
int smtp_path_parse(const char *s, size_t len, unsigned flags, char *out,
		    size_t outsize, size_t *end);

/*
 * Checks that mailbox (as smtp_path_parse() yields it, "" allowed only
 * with SMTP_PATH_NULL_OK) is valid path content, so that a client can
 * send "<mailbox>" without building a line a server would refuse.
 * Returns 0 or the codes of smtp_path_parse().
 */
int smtp_path_check(const char *mailbox, unsigned flags);

#endif
