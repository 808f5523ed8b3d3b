/*
 * mime_parser.h - streaming, I/O-free MIME structure parser.
 *
 * The caller pushes the message bytes in chunks of any size (a split may
 * fall anywhere, even inside a CRLF); the parser builds a tree of parts
 * that records exact byte offsets into the stream, plus the parsed
 * header fields.  It never holds the message: only the header block
 * being parsed (at most max_header_bytes) and a prefix of one body line
 * (at most 2 + 256 + 2 bytes, enough to recognise a boundary).  The
 * caller keeps the bytes if it needs them and slices them by offset;
 * detached signatures are verified over exactly the bytes received.
 *
 *	struct mime_parser *mp = mime_parser_new(NULL);
 *	while (more input)
 *		if ((r = mime_parser_feed(mp, buf, n)) != 0) goto out;
 *	if ((r = mime_parser_finish(mp, &tree)) != 0) goto out;
 *	... mime_tree_root(tree) ...
 *	mime_tree_free(tree); mime_parser_free(mp);
 *
 * Offsets (all absolute, from the first byte fed, half-open [start, end)):
 *   header range  [header_start, header_end): the header fields, each
 *                 with its line end; excludes the empty line.
 *   body range    [body_start, body_end): body_start is just past the
 *                 empty line.  A part inside a multipart ends where the
 *                 line end (CRLF or LF) before the next delimiter line
 *                 begins, since that line end belongs to the delimiter
 *                 (RFC 2046 5.1.1).  When that line end is the empty line
 *                 after the headers (an empty body) or the end of the
 *                 last header field (no empty line), header_end and
 *                 body_start are pulled back to it: a part is exactly
 *                 the octets between its delimiter lines.  All parts
 *                 closed by one delimiter end at the same offset; a part
 *                 that got no octet before it is empty at that offset.
 *   part range    [header_start, body_end): the whole entity; for the
 *                 first child of a multipart/signed these are the bytes
 *                 the signature covers.
 *   preamble      [body_start, x): up to (excluding) the line end before
 *                 the first delimiter line, or all of the body when no
 *                 delimiter came.  Multiparts only; empty otherwise.
 *   epilogue      just past the close-delimiter line (and its line end)
 *                 to body_end; empty (at body_end) when no close
 *                 delimiter came or nothing follows it.
 * Without an empty line (header block ended by end of input or by a
 * delimiter) header_end == body_start == where the header block stopped,
 * and MIME_DEFECT_NO_BLANK_LINE is set.  The root's body_end is the
 * number of bytes fed.
 *
 * Structure: a Content-Type multipart/x with a usable boundary is a
 * MIME_KIND_MULTIPART whose children are the body parts between its
 * delimiter lines; message/rfc822 and message/global are
 * MIME_KIND_MESSAGE with one child, the inner message (header block
 * starting at the outer body_start).  Everything else, and a composite
 * type whose Content-Transfer-Encoding is base64 or quoted-printable, is
 * a MIME_KIND_LEAF.  A delimiter line is "--" boundary at the start of a
 * line (prefix match, RFC 2046 5.1.1), optionally "--" (close), then
 * anything up to the line end; anything but SP/HT there is
 * MIME_DEFECT_BOUNDARY_GARBAGE.  The innermost open multipart's boundary
 * is tried first; a delimiter of an outer multipart closes every part
 * inside it (the inner multiparts get MIME_DEFECT_UNTERMINATED).
 * Boundaries are recognised in header blocks too.  Only LF ends a line;
 * a lone CR is data (MIME_DEFECT_BARE_CR).
 *
 * Malformed input never fails: it is recorded as MIME_DEFECT_* bits on
 * the part where it was seen.  Only a ceiling (struct mime_limits) or
 * memory fails the parse; the error is latched and returned again by
 * every later feed/finish.
 *
 * Ownership: the tree returned by mime_parser_finish() belongs to the
 * caller (mime_tree_free()); parts, headers and strings obtained from it
 * are borrowed (get0) and live as long as the tree.  Accessors accept
 * NULL and then return NULL / 0.
 */
#ifndef MIME_PARSER_H
#define MIME_PARSER_H

#include <stddef.h>

/*
 * Ceilings.  A zero field selects its default.  Exceeding one makes
 * feed/finish return GW_ERR_LIMIT with a gw_err detail naming it.
 */
struct mime_limits {
	size_t max_header_bytes; /* one header block incl. its empty line;
				    default 256 KiB */
	size_t max_line;	 /* one line, line end excluded, header or
				    body (body lines are not buffered);
				    default 1 MiB */
	unsigned max_depth;	 /* deepest part (the root is depth 0);
				    default 32 */
	unsigned max_parts;	 /* parts in the tree, root included;
				    default 10000 */
	size_t max_total;	 /* bytes in the message; default 64 MiB */
	unsigned max_fields;	 /* header fields in the whole message;
				    default 100000 */
	unsigned max_params;	 /* parameters in one Content-Type or
				    Content-Disposition field; default 100 */
	int depth_as_leaf;	 /* not a ceiling: when set, a multipart or
				    message at max_depth is parsed as a leaf
				    (MIME_DEFECT_TOO_DEEP) instead of failing
				    the parse; default 0 (fail) */
	int root_body_unread;	 /* not a ceiling: when set, the body of a
				    root that is a leaf is taken as it is,
				    to the end, unread: it has no defects
				    and no line limit (for a caller whose
				    decoder checks what it reads); default
				    0 (read like any other) */
};

#define MIME_LIMIT_HEADER_BYTES (256u * 1024u)
#define MIME_LIMIT_LINE (1024u * 1024u)
#define MIME_LIMIT_DEPTH 32u
#define MIME_LIMIT_PARTS 10000u
#define MIME_LIMIT_TOTAL (64u * 1024u * 1024u)
#define MIME_LIMIT_FIELDS 100000u
#define MIME_LIMIT_PARAMS 100u

/* Longest boundary recognised; a longer one is MIME_DEFECT_NO_BOUNDARY. */
#define MIME_BOUNDARY_MAX 256u

enum mime_kind {
	MIME_KIND_LEAF,
	MIME_KIND_MULTIPART,
	MIME_KIND_MESSAGE,
};

/* Defects (bit flags).  Informational: none of them fails the parse. */
#define MIME_DEFECT_NO_MIME_VERSION (1u << 0)	 /* message header lacks it */
#define MIME_DEFECT_NO_BOUNDARY (1u << 1)	 /* multipart, no usable
						    boundary: parsed as leaf */
#define MIME_DEFECT_BAD_BOUNDARY (1u << 2)	 /* boundary breaks RFC 2046
						    (length, chars), used */
#define MIME_DEFECT_UNTERMINATED (1u << 3)	 /* no close delimiter */
#define MIME_DEFECT_BOUNDARY_GARBAGE (1u << 4) /* text after a delimiter */
#define MIME_DEFECT_BARE_LF (1u << 5)		 /* line ended by LF only */
#define MIME_DEFECT_MIXED_EOL (1u << 6)	 /* both CRLF and LF lines */
#define MIME_DEFECT_BARE_CR (1u << 7)		 /* CR not followed by LF */
#define MIME_DEFECT_NUL (1u << 8)		 /* NUL byte */
#define MIME_DEFECT_8BIT_HEADER (1u << 9)	 /* byte >= 0x80 in a header */
#define MIME_DEFECT_8BIT_BODY (1u << 10)	 /* byte >= 0x80 in a body
						    not declared 8bit/binary */
#define MIME_DEFECT_LONG_LINE (1u << 11)	 /* > 998 bytes, not binary */
#define MIME_DEFECT_HEADER_NO_COLON (1u << 12) /* field without ':' */
#define MIME_DEFECT_HEADER_BAD_NAME (1u << 13) /* empty name, bad chars,
						    or space before ':' */
#define MIME_DEFECT_HEADER_CONT_FIRST (1u << 14) /* block starts with a
						      folded line */
#define MIME_DEFECT_NO_BLANK_LINE (1u << 15)	   /* no empty line after
						      the header block */
#define MIME_DEFECT_DUP_CONTENT_HEADER (1u << 16) /* Content-Type, -Transfer-
						      Encoding, -Disposition
						      or MIME-Version twice;
						      the first one is used */
#define MIME_DEFECT_BAD_CONTENT_TYPE (1u << 17) /* unparsable: default used */
#define MIME_DEFECT_BAD_PARAMS (1u << 18)	  /* parameter syntax or RFC
						     2231 errors, duplicates */
#define MIME_DEFECT_BAD_CTE (1u << 19)	  /* unknown or empty encoding */
#define MIME_DEFECT_ENCODED_COMPOSITE (1u << 20) /* multipart or message in
						     base64/QP: parsed as leaf */
#define MIME_DEFECT_TOO_DEEP (1u << 21)	 /* multipart or message at
						    max_depth, depth_as_leaf
						    set: parsed as leaf */
#define MIME_DEFECT_LAST MIME_DEFECT_TOO_DEEP

/* Line-end styles seen (mime_part_eol). */
#define MIME_EOL_CRLF 0x1u
#define MIME_EOL_LF 0x2u

struct mime_parser;
struct mime_tree;
struct mime_part;
struct mime_header;

struct mime_range {
	size_t start;
	size_t end; /* exclusive; end >= start */
};

/* Fill in the defaults listed above. */
void mime_limits_default(struct mime_limits *lim);

/* A new parser; lim may be NULL for the defaults.  NULL on OOM. */
struct mime_parser *mime_parser_new(const struct mime_limits *lim);

/*
 * Push the next len bytes (buf may be NULL when len is 0).  0 on
 * success; GW_ERR_LIMIT when a ceiling is exceeded, GW_ERR_NOMEM; the
 * first error is latched and returned by every later call.
 * GW_ERR_INVALID for a NULL parser or after mime_parser_finish().
 */
int mime_parser_feed(struct mime_parser *mp, const unsigned char *buf,
		     size_t len);

/*
 * End of input: close every open part and hand the tree to the caller
 * in *out (set to NULL on failure).  Same errors as feed.  Afterwards
 * the parser only accepts mime_parser_free().
 */
int mime_parser_finish(struct mime_parser *mp, struct mime_tree **out);

/* Free the parser (and a tree it still owns).  NULL is a no-op. */
void mime_parser_free(struct mime_parser *mp);

/* Free a tree and every part, header and string in it.  NULL: no-op. */
void mime_tree_free(struct mime_tree *tree);
const struct mime_part *mime_tree_root(const struct mime_tree *tree);
/* Bytes fed, i.e. the root's body_end. */
size_t mime_tree_size(const struct mime_tree *tree);
size_t mime_tree_part_count(const struct mime_tree *tree);

/* Navigation.  mime_part_next() walks all parts in document order. */
const struct mime_part *mime_part_parent(const struct mime_part *part);
size_t mime_part_child_count(const struct mime_part *part);
const struct mime_part *mime_part_child(const struct mime_part *part,
					size_t i);
const struct mime_part *mime_part_next(const struct mime_part *part);
unsigned mime_part_depth(const struct mime_part *part);
/* Position among its parent's children (0 for the root). */
size_t mime_part_index(const struct mime_part *part);
enum mime_kind mime_part_kind(const struct mime_part *part);

/* Offsets, as defined at the top of this file. */
struct mime_range mime_part_header_range(const struct mime_part *part);
struct mime_range mime_part_body_range(const struct mime_part *part);
struct mime_range mime_part_range(const struct mime_part *part);
struct mime_range mime_part_preamble(const struct mime_part *part);
struct mime_range mime_part_epilogue(const struct mime_part *part);

/*
 * "type/subtype", lowercased; "text/plain" when absent or unparsable
 * ("message/rfc822" for a child of multipart/digest).
 */
const char *mime_part_content_type(const struct mime_part *part);
/*
 * Content-Type parameter by name (case-insensitive), decoded for
 * display: RFC 2231 continuations joined and charset'lang'%XX decoded to
 * UTF-8 (utf-8, us-ascii, iso-8859-1, windows-1252; other charsets and
 * plain values are taken as UTF-8), sanitised as in mime_codec.h.  A
 * 2231 form wins over a plain one; otherwise the first occurrence.
 * NULL when absent.
 */
const char *mime_part_param(const struct mime_part *part, const char *name);
size_t mime_part_param_count(const struct mime_part *part);
const char *mime_part_param_name(const struct mime_part *part, size_t i);
const char *mime_part_param_value(const struct mime_part *part, size_t i);
/* The boundary in use, raw bytes; NULL unless MIME_KIND_MULTIPART. */
const char *mime_part_boundary(const struct mime_part *part);
/* Content-Transfer-Encoding, lowercased; "7bit" when absent. */
const char *mime_part_cte(const struct mime_part *part);
/* Content-Disposition type, lowercased, and its parameters; NULL when
 * absent. */
const char *mime_part_disposition(const struct mime_part *part);
const char *mime_part_disposition_param(const struct mime_part *part,
					const char *name);
/* Disposition filename, else Content-Type name, with RFC 2047 words
 * decoded too (what clients show); NULL when neither exists. */
const char *mime_part_filename(const struct mime_part *part);

/*
 * Header fields of this part's own header block, in order.
 * mime_part_header() is the unfolded value of the first field with that
 * name (case-insensitive), NULL when none.
 */
const char *mime_part_header(const struct mime_part *part, const char *name);
size_t mime_part_header_count(const struct mime_part *part);
const struct mime_header *mime_part_header_at(const struct mime_part *part,
					      size_t i);
/* Field name as written, without trailing whitespace ("" possible). */
const char *mime_header_name(const struct mime_header *h);
/*
 * Value after the colon, unfolded (line ends removed, RFC 5322 2.2.3)
 * and trimmed of leading/trailing whitespace; raw bytes otherwise (no
 * RFC 2047 decoding).  NUL-terminated, but an embedded NUL is possible
 * (MIME_DEFECT_NUL): mime_header_value_len() is the true length.
 */
const char *mime_header_value(const struct mime_header *h);
size_t mime_header_value_len(const struct mime_header *h);
/* The raw field: first byte of the name through its last line end,
 * continuation lines included. */
size_t mime_header_offset(const struct mime_header *h);
size_t mime_header_length(const struct mime_header *h);

/*
 * Defects seen in this part's own lines and headers (delimiter lines
 * count for the multipart), and the same ORed over the part and all of
 * its descendants.
 */
unsigned mime_part_defects(const struct mime_part *part);
unsigned mime_part_defects_all(const struct mime_part *part);
/* MIME_EOL_* styles of the lines of this part and its descendants. */
unsigned mime_part_eol(const struct mime_part *part);

/*
 * Whether bytes fed in pieces (split anywhere) have CRLF line ends
 * only: no LF without a CR right before it and no CR without an LF
 * right after it, a CR at the very end included; in the parser's terms
 * no MIME_EOL_LF line and no MIME_DEFECT_BARE_CR, and the bytes that
 * mime_crlf_canon() leaves as they are.  For a look at bytes while they
 * are still in the cache (a decrypted entity as it is written), not in
 * a pass of its own.  On x86 a piece of more than 64 bytes is tested in
 * SSE2 or AVX2 blocks, as mime_isa() (mime_codec.h) allows; every path
 * gives the same answer.  Once bad is set, cr means nothing.
 */
struct mime_crlf_scan {
	int cr;	 /* the last byte fed was a CR */
	int bad; /* a line end other than CRLF was seen */
};

void mime_crlf_scan_init(struct mime_crlf_scan *sc);
void mime_crlf_scan_feed(struct mime_crlf_scan *sc, const unsigned char *p,
			 size_t n);
/* 1: every line end fed was CRLF (and nothing ends in a CR); else 0. */
int mime_crlf_scan_done(const struct mime_crlf_scan *sc);

/* Static names for logs: "no-mime-version", ...; "leaf", ... */
const char *mime_defect_name(unsigned defect_bit);
const char *mime_kind_name(enum mime_kind kind);

#endif
