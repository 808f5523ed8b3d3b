/*
 * smime_entity.h - a message as S/MIME sees it: the outer header block
 * and the MIME entity that gets protected.
 *
 * The outer header block is every header field of the message except
 * Content-* and MIME-Version, in its original order, byte for byte
 * apart from line ends (CRLF).  The entity is the Content-* fields and
 * the body.  smime_entity() writes the entity in canonical form: CRLF
 * line ends everywhere, and with SMIME_ENT_SIGN also 7-bit safe (parts
 * sent as 8bit or binary, or with 8-bit bytes, NULs, bare CRs or lines
 * over 998 bytes under a 7bit label, are re-encoded: quoted-printable
 * for text, base64 otherwise, and their Content-Transfer-Encoding
 * replaced) and without multipart preambles or epilogues, so that MIME
 * downgrades and whitespace changes on the path cannot break a
 * signature.  Parts that need nothing are copied byte for byte.
 *
 * Both functions append to out and return 0 or a GW_ERR_* code (LIMIT
 * when out's ceiling is reached).  msg is the buffer the tree was
 * parsed from.
 */
#ifndef SMIME_ENTITY_H
#define SMIME_ENTITY_H

#include <stddef.h>

#include "gw_buf.h"
#include "mime_parser.h"

#define SMIME_ENT_SIGN 0x1u

/* Appends the outer header fields.  With authserv_id set, the fields
 * smime_is_our_result() calls ours are left out: a copy that arrived
 * from outside must not pass for ours. */
int smime_outer_headers(const unsigned char *msg, const struct mime_part *root,
			const char *authserv_id, struct gw_buf *out);

int smime_entity(const unsigned char *msg, const struct mime_part *root,
		 unsigned flags, struct gw_buf *out);

/*
 * The entity for encryption, from a tree of the header block alone:
 * the root's Content-* fields (none added: no Content-Type means
 * text/plain), the empty line, then msg[body..len) with CRLF line
 * ends, byte for byte otherwise.  An envelope needs no 7-bit
 * form, so the body is never parsed.
 */
/* The same without the body: the Content-* fields and the empty line. */
int smime_entity_head(const unsigned char *msg, const struct mime_part *root,
		      struct gw_buf *out);

int smime_entity_plain(const unsigned char *msg, size_t len,
		       const struct mime_part *root, struct gw_buf *out);

/*
 * 1 when the field is ours to write, so that a copy that arrived must
 * go: every X-SMIME-Gateway field, and an Authentication-Results field
 * whose authserv-id is id as mime_header_authserv_is() reads it (CFWS,
 * case, trailing dots, no-break and other odd spaces, NUL bytes: the
 * whole value is read, not a C string).  Field names compare as
 * mime_header_name_is() does.  0 when id is NULL.
 */
int smime_is_our_result(const struct mime_header *h, const char *id);

#endif
