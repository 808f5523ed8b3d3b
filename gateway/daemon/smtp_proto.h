/*
 * smtp_proto.h - what the SMTP/LMTP server and client engines share:
 * the service extensions, replies (code, RFC 3463 enhanced status
 * code, text), the reply-line grammar, XFORWARD attributes and their
 * xtext encoding (RFC 3461 section 4).  One home for each of these
 * facts; no I/O, no allocation.
 */
#ifndef SMTP_PROTO_H
#define SMTP_PROTO_H

#include <stddef.h>

#include "gw_buf.h"

/* RFC 5321 section 4.5.3.1.4/5: command and reply lines, CRLF included. */
#define SMTP_LINE_MIN 512
/* Longest reply text kept (one line; longer text is cut). */
#define SMTP_TEXT_MAX 400
/* "x.yyy.zzz" and its NUL. */
#define SMTP_ENH_SIZE 12

/* Service extensions: what a server advertises, what a client saw. */
enum smtp_ext {
	SMTP_EXT_PIPELINING = 1 << 0,	/* RFC 2920 */
	SMTP_EXT_8BITMIME = 1 << 1,	/* RFC 6152 */
	SMTP_EXT_SMTPUTF8 = 1 << 2,	/* RFC 6531 */
	SMTP_EXT_SIZE = 1 << 3,		/* RFC 1870 */
	SMTP_EXT_ENHANCEDSTATUSCODES = 1 << 4, /* RFC 2034 */
	SMTP_EXT_CHUNKING = 1 << 5,	/* RFC 3030 */
	SMTP_EXT_XFORWARD = 1 << 6,	/* Postfix XFORWARD_README */
	SMTP_EXT_ALL = (1 << 7) - 1,
};

/* The EHLO keyword of one extension bit, or NULL. */
const char *smtp_proto_ext_name(unsigned ext);
/* The extension bit of an EHLO keyword (case-insensitive, n bytes), or
 * 0 when unknown. */
unsigned smtp_proto_ext_lookup(const char *word, size_t n);

/* One reply: code 200..599, enhanced code ("" when none), text. */
struct smtp_reply {
	int code;
	char enhanced[SMTP_ENH_SIZE];
	char text[SMTP_TEXT_MAX];
};

/*
 * Sets r to code, enhanced (NULL or "" for none; an invalid one is
 * dropped) and the printf-formatted text, cut at SMTP_TEXT_MAX - 1
 * bytes; CR, LF and NUL in the text become spaces, so a reply can never
 * be split by its text.
 */
void smtp_proto_reply_set(struct smtp_reply *r, int code,
			  const char *enhanced, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* 1 when s[0..n) is an RFC 3463 status code "c.sss.ddd" (class 2, 4 or
 * 5, subject 0-999, detail 0-999, no leading zeros beyond one digit). */
int smtp_proto_enhanced_valid(const char *s, size_t n);

/*
 * One reply line as received ("250-PIPELINING", "550 5.1.1 No"), CRLF
 * already removed.  On success sets code, whether more lines follow
 * ('-' as the fourth byte), and where the text starts.  GW_ERR_PARSE
 * when the line does not start with three digits whose first is 2-5
 * and the second 0-5, followed by ' ', '-' or the end of the line, or
 * when it holds a NUL, CR or LF.
 */
struct smtp_reply_line {
	int code;
	int more;
	size_t text;	/* offset of the text in the line */
};
int smtp_proto_reply_line(const char *line, size_t len,
			  struct smtp_reply_line *rl);

/* XFORWARD attributes (Postfix XFORWARD_README). */
enum smtp_xf_attr {
	SMTP_XF_NAME,	/* up-stream hostname */
	SMTP_XF_ADDR,	/* up-stream address */
	SMTP_XF_PORT,	/* up-stream port */
	SMTP_XF_PROTO,	/* SMTP or ESMTP (or LMTP...) */
	SMTP_XF_HELO,	/* the up-stream client's HELO */
	SMTP_XF_IDENT,	/* the up-stream queue id, for logs */
	SMTP_XF_SOURCE,	/* LOCAL or REMOTE */
	SMTP_XF_COUNT,
};
/* Longest decoded attribute value kept, NUL excluded. */
#define SMTP_XF_VALUE_MAX 255

struct smtp_xforward {
	unsigned set;	/* bit (1 << SMTP_XF_x) when attr x was given */
	char value[SMTP_XF_COUNT][SMTP_XF_VALUE_MAX + 1];
};

/* "NAME", "ADDR", ... or NULL. */
const char *smtp_proto_xf_name(int attr);
/* The attribute of a name (case-insensitive, n bytes), or -1. */
int smtp_proto_xf_lookup(const char *name, size_t n);

/*
 * Decodes xtext s[0..n) ("+XX" hex escapes, every other byte 33..126
 * but '+' and '=') into out (outsize bytes, NUL-terminated).
 * GW_ERR_PARSE for a bad escape, a byte outside the range or an
 * escape decoding to NUL, CR or LF; GW_ERR_LIMIT when it does not fit.
 */
int smtp_proto_xtext_decode(const char *s, size_t n, char *out,
			    size_t outsize);
/* Appends the xtext encoding of s to b: 0 or gw_buf's errors. */
int smtp_proto_xtext_encode(struct gw_buf *b, const char *s);

#endif
