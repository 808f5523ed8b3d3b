/*
 * textfmt.h - strict line-oriented text with PEM certificate blocks: the
 * machinery under the public key export (keystore.c) and the policy
 * files (policy_file.c).
 *
 * A text is read line by line with struct textfmt_lines: a line ends
 * at LF; a CR before it and blanks at its end are dropped; a NUL byte
 * or a line over TEXTFMT_LINE_MAX bytes is GW_ERR_PARSE.  Every error
 * detail begins "SRC:LINE: " with the caller's src and the number of
 * the line at fault, counted from the first line given at init (so a
 * section of a larger file reports the lines of the whole file).
 *
 * A certificate block is "-----BEGIN CERTIFICATE-----", base64 lines
 * of at most TEXTFMT_B64_LINE_MAX characters (TEXTFMT_CERT_B64_MAX in
 * all), "-----END CERTIFICATE-----", and must decode to exactly one
 * DER certificate.
 *
 * Functions that can fail return 0 (or 1 where said) or a negative
 * GW_ERR_* with a latched detail.  Nothing here does I/O.
 */
#ifndef TEXTFMT_H
#define TEXTFMT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "gw_buf.h"

#define TEXTFMT_LINE_MAX 4096			/* longest line */
#define TEXTFMT_B64_LINE_MAX 76			/* longest base64 line */
#define TEXTFMT_CERT_B64_MAX ((size_t)128 << 10) /* base64 of one cert */

/* Flags of a text (textfmt_lines_init()). */
#define TEXTFMT_UTF8 0x1u	/* input quoted in messages keeps UTF-8
				 * (else printable ASCII only) */
#define TEXTFMT_HINT_DER 0x2u	/* the NUL byte message suggests
				 * converting a DER certificate */
#define TEXTFMT_CERT_WHY 0x4u	/* a block that is not exactly one
				 * certificate says which way (no X.509,
				 * trailing bytes); else one message */
#define TEXTFMT_CERT_LEAN 0x8u	/* certificates are read with
				 * cert_lean_d2i(): their key is only in
				 * cert_pubkey() (bulk imports) */

/* The line iterator.  The fields may be read: p is where the next line
 * begins, no the number of the line last returned. */
struct textfmt_lines {
	const char *p, *end;
	const char *src;
	unsigned no;
	unsigned flags;
};

/* Iterates over buf (len bytes) whose first line is number first (0 is
 * taken as 1); src (borrowed) names it in messages. */
void textfmt_lines_init(struct textfmt_lines *it, const char *buf,
			size_t len, const char *src, unsigned first,
			unsigned flags);

/*
 * The next line (not NUL-terminated) in *line and *len, without its
 * LF, a CR before it and trailing blanks.  1 for a line, 0 at the end,
 * GW_ERR_PARSE for a NUL byte or a line over TEXTFMT_LINE_MAX.
 */
int textfmt_next_line(struct textfmt_lines *it, const char **line,
		      size_t *len);

/* 1 when the counted line equals s. */
int textfmt_line_is(const char *line, size_t len, const char *s);
/* 1 for a blank line or one starting with '#'. */
int textfmt_is_comment(const char *line, size_t len);
/* 1 for a line of 1 to TEXTFMT_B64_LINE_MAX base64 characters. */
int textfmt_b64_line(const char *line, size_t len);

/*
 * Input quoted in a message: printable ASCII kept (and bytes >= 0x80
 * with TEXTFMT_UTF8 in flags), other bytes and '\' as \xNN, cut with
 * "..." to fit size (NUL included).
 */
void textfmt_escape(char *dst, size_t size, const void *src, size_t len,
		    unsigned flags);

/*
 * The first line must be header ("NAME VERSION"); what names the
 * format in the message ("a smimegw CA section").  GW_ERR_PARSE for an
 * empty text, another version of the format (a line starting with
 * "NAME ") or any other line, which is quoted escaped to shown bytes.
 */
int textfmt_check_header(struct textfmt_lines *it, const char *header,
			 const char *what, size_t shown);

/*
 * "key: value" with key of [a-z-] (shorter than ksize): 1 with the key
 * copied into key and *val, *vlen the value after blanks; 0 otherwise.
 */
int textfmt_attr_split(const char *line, size_t len, char *key,
		       size_t ksize, const char **val, size_t *vlen);

/* The value "yes" (1) or "no" (0) of attribute key at line no of src
 * into *out; GW_ERR_PARSE "SRC:NO: KEY: expected yes or no" else. */
int textfmt_yesno(const char *src, unsigned no, const char *key,
		  const char *v, size_t n, int *out);

/*
 * Times in the files: "YYYY-MM-DDTHH:MM:SSZ" (UTC), or "never" for 0.
 * textfmt_time() writes secs into buf (returns buf); textfmt_time_parse()
 * reads the value of attribute key at line no of src into *out, and is
 * GW_ERR_PARSE "SRC:NO: KEY: ..." for anything else.
 */
#define TEXTFMT_TIME_LEN 32
const char *textfmt_time(uint64_t secs, char buf[TEXTFMT_TIME_LEN]);
int textfmt_time_parse(const char *src, unsigned no, const char *key,
		       const char *v, size_t n, uint64_t *out);

/*
 * Reads the base64 lines of a CERTIFICATE block up to its END line and
 * decodes them into *out (the caller's); it is just after the BEGIN
 * line.  who (may be NULL) names the entry in the "no END line"
 * message.  Errors name the BEGIN line, or the bad base64 line.
 */
int textfmt_read_cert(struct textfmt_lines *it, const char *who, X509 **out);

/*
 * The same in two steps, for bulk imports that decode many
 * certificates at once (gw_parallel.h).  textfmt_cert_b64() appends
 * the block's base64, without line breaks, to b64 and gives the BEGIN
 * line's number in *begin (its errors are textfmt_read_cert()'s; b64
 * is left as it was).  textfmt_cert_decode() decodes len bytes of such
 * base64 from the block begun at line begin of src into exactly one
 * certificate, as an iterator with these flags would; it touches no
 * iterator, so several threads may run it at once.
 */
struct gw_buf;
int textfmt_cert_b64(struct textfmt_lines *it, const char *who,
		     struct gw_buf *b64, unsigned *begin);
int textfmt_cert_decode(const char *b64, size_t len, const char *src,
			unsigned begin, unsigned flags, X509 **out);

/*
 * The entries of a file, n of size bytes from base, each named by the
 * NUL-terminated string at key_off and begun on the unsigned line at
 * line_off: 0 when no name is used twice; 1 when one is, with *name,
 * *line and *first for the first repeat in name order (its second
 * entry's line and the first's); GW_ERR_NOMEM.
 */
int textfmt_repeat(const void *base, size_t n, size_t size, size_t key_off,
		   size_t line_off, const char **name, unsigned *line,
		   unsigned *first);

/*
 * Appends cert as PEM to out (its ceiling applies).  On an OpenSSL
 * failure, GW_ERR_CRYPTO with the detail fmt; GW_ERR_NOMEM.
 */
int textfmt_add_cert_pem(struct gw_buf *out, X509 *cert, const char *fmt,
			 ...) __attribute__((format(printf, 3, 4)));

/* 1 when the counted strings are equal ignoring ASCII case (never the
 * locale's), else 0. */
int textfmt_ci_eq(const char *a, size_t alen, const char *b, size_t blen);

#endif
