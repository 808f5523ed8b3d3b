/*
 * mime_header.h - header fields and header blocks, as bytes: which
 * fields are content fields, where a header block ends, and appending
 * fields and entity bytes to a buffer with canonical line ends.  Not
 * S/MIME specific; used where a message is rebuilt from its parse
 * (mime_parser.h).
 *
 * Appending functions return 0 or a GW_ERR_* code (GW_ERR_LIMIT when
 * out's ceiling is reached; out is then partly written).
 */
#ifndef MIME_HEADER_H
#define MIME_HEADER_H

#include <stddef.h>

#include "gw_buf.h"

/* 1 when the field name starts with "Content-" (case-insensitive);
 * 0 for NULL. */
int mime_header_is_content(const char *name);

/*
 * Length of the blank at p[0..n): ASCII white space and control
 * characters (NUL too), or a UTF-8 encoded Unicode space, zero-width
 * character or byte-order mark (U+0085, U+00A0, U+1680, U+180E,
 * U+2000-U+200D, U+2028, U+2029, U+202F, U+205F, U+2060, U+3000,
 * U+FEFF): what a lenient reader may skip around a name.  0 when p
 * starts with none.
 */
size_t mime_header_blank_len(const unsigned char *p, size_t n);

/*
 * 1 when the field name (as the parser gives it: mime_header_name())
 * is want, ASCII case-insensitively, once blanks
 * (mime_header_blank_len()) before and after it are set aside: the
 * spellings RFC 5322's obsolete syntax allows ("From :") and those a
 * lenient reader takes for want ("FROM" and a no-break space).  0 for
 * NULL.
 */
int mime_header_name_is(const char *name, const char *want);

/*
 * 1 when the authserv-id of the Authentication-Results value
 * value[0..len) (RFC 8601 2.2: after CFWS, a token or a
 * quoted-string, before CFWS, a version or ';') is id, as a lenient
 * reader could take it: ASCII case-insensitively, with the blanks of
 * mime_header_blank_len() around it and its trailing dots set aside.
 * It is also id when the text before the first ';' outside quoted
 * strings and comments is id once comments, quotes, backslashes and
 * blanks are removed ("gw(x).example").  0 when id is NULL or empty.
 */
int mime_header_authserv_is(const char *value, size_t len, const char *id);

/*
 * Length of the header block of msg with its empty line: through the
 * first "\n\n" or "\n\r\n", or 1 or 2 when msg starts with an empty
 * line; all of msg when it has none.  A cheap shortcut: the parser may
 * end a block elsewhere (a delimiter line), so compare with its
 * body_start before trusting it.
 */
size_t mime_header_block_len(const unsigned char *msg, size_t len);

/*
 * Appends the raw bytes p[0..n) of one header field so that it can never
 * become more than one field, nor part of another: blanks and lone CRs
 * before the name go (a field that was nothing else goes whole), a lone
 * CR inside becomes a space, a field without a line end gets one; with
 * canon, bare LFs become CRLF and the added line end is CRLF (otherwise
 * line ends are kept as they are, and LF is added).
 */
int mime_header_add_field(struct gw_buf *out, const unsigned char *p,
			  size_t n, int canon);

/*
 * 1 when mime_header_add_field(out, p, n, canon) would append exactly
 * p[0..n): no blank or lone CR before the name, no lone CR (with canon,
 * no bare LF) inside, and a line end at the end.  Reads p once, writes
 * nothing: whether a copy of a header block is needed at all.
 */
int mime_header_field_kept(const unsigned char *p, size_t n, int canon);

/*
 * 1 when in[0..n) has canonical line ends only (every LF right after a
 * CR, every CR right before an LF): mime_crlf_canon_len(in, n) == n,
 * found 16 bytes at a time where the CPU can.
 */
int mime_header_crlf_canonical(const unsigned char *in, size_t n);

/* Appends in[0..n) with canonical CRLF line ends (mime_crlf_canon()):
 * a header block or a body copied after one. */
int mime_header_add_crlf(struct gw_buf *out, const unsigned char *in,
			 size_t n);

#endif
