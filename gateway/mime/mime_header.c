/* mime_header.c - header fields and header blocks, as bytes
 * (mime_header.h). */
#include "mime_header.h"

#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "mime_codec.h"

int
mime_header_is_content(const char *name)
{
	return name != NULL && strncasecmp(name, "Content-", 8) == 0;
}

size_t
mime_header_block_len(const unsigned char *msg, size_t len)
{
	const unsigned char *p = msg, *end = msg + len;

	/* The first empty line: "\n\n" or "\n\r\n" (or one at the start). */
	if (len > 0 && (msg[0] == '\n' || (len > 1 && msg[0] == '\r' &&
					     msg[1] == '\n')))
		return msg[0] == '\n' ? 1 : 2;
	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		p++;
		if (p < end && *p == '\n')
			return (size_t)(p - msg) + 1;
		if (p + 1 < end && p[0] == '\r' && p[1] == '\n')
			return (size_t)(p - msg) + 2;
	}
	return len;
}

/* The first CR, or with canon CR or LF, in p[i..n); n when none. */
static size_t
next_eol_byte(const unsigned char *p, size_t i, size_t n, int canon)
{
	const unsigned char *cr, *lf;

	cr = memchr(p + i, '\r', n - i);
	lf = canon ? memchr(p + i, '\n', cr != NULL ? (size_t)(cr - p) - i
						     : n - i)
		   : NULL;
	if (lf != NULL)
		return (size_t)(lf - p);
	return cr != NULL ? (size_t)(cr - p) : n;
}

/*
 * Appends a header field so that it can never become more than one
 * field, nor part of another: a CR not followed by LF (which some
 * readers take as a line break) becomes a space, or is dropped when it
 * starts the field (a leading space would fold the line into the field
 * before it); a bare LF becomes CRLF, and a field cut off by the end of
 * the input gets its CRLF.
 */
int
mime_header_add_field(struct gw_buf *out, const unsigned char *p, size_t n,
		      int canon)
{
	size_t i, start, lead;
	int rc;

	/*
	 * Lone CRs and blanks before the name go (the parser's name leaves
	 * them out too): a copied line that started with white space would
	 * fold into the field before it.  A field that was nothing else
	 * goes whole: its line end alone would end the header block.
	 */
	for (lead = 0; lead < n && (p[lead] == ' ' || p[lead] == '\t' ||
				    (p[lead] == '\r' &&
				     (lead + 1 == n || p[lead + 1] != '\n')));
	     lead++)
		;
	if (lead > 0 && (lead == n || p[lead] == '\n' || p[lead] == '\r'))
		return 0;
	for (i = start = lead; i < n; i++) {
		/* Only a CR, or with canon an LF, is looked at: go there. */
		if ((i = next_eol_byte(p, i, n, canon)) == n)
			break;
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n')) {
			/* A space inside the field. */
			if ((rc = gw_buf_add(out, p + start, i - start)) != 0 ||
			    (rc = gw_buf_add(out, " ", 1)) != 0)
				return rc;
			start = i + 1;
		} else if (canon && p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) {
			if ((rc = gw_buf_add(out, p + start, i - start)) != 0 ||
			    (rc = gw_buf_add(out, "\r\n", 2)) != 0)
				return rc;
			start = i + 1;
		}
	}
	if ((rc = gw_buf_add(out, p + start, n - start)) != 0)
		return rc;
	if (n == 0 || p[n - 1] != '\n')
		return gw_buf_add(out, canon ? "\r\n" : "\n", canon ? 2 : 1);
	return 0;
}

int
mime_header_field_kept(const unsigned char *p, size_t n, int canon)
{
	size_t i;

	if (n == 0 || p[n - 1] != '\n' || p[0] == ' ' || p[0] == '\t' ||
	    (p[0] == '\r' && (n == 1 || p[1] != '\n')))
		return 0;
	for (i = 0; (i = next_eol_byte(p, i, n, canon)) < n; i++) {
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			return 0;
		if (canon && p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return 0;
	}
	return 1;
}

/*
 * Whether in[0..n) has canonical line ends only (every LF right after a
 * CR, every CR right before an LF: mime_crlf_canon_len(in, n) == n),
 * copying it to dst as it goes when dst is not NULL (dst then holds a
 * prefix of it when the answer is 0).  The line ends of 16 bytes are
 * checked at once where SSE2 is there: the LFs must be where the CRs
 * are, one byte on, the CR before the block counting for its first.
 */
static int
crlf_copy(unsigned char *dst, const unsigned char *in, size_t n)
{
	unsigned carry = 0; /* the byte before was a CR */
	size_t i = 0;
#ifdef __SSE2__
	const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
	__m128i v;
	unsigned mcr, mlf;

	for (; i + 16 <= n; i += 16) {
		v = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
		mcr = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, cr));
		mlf = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf));
		if (dst != NULL)
			_mm_storeu_si128((__m128i *)(void *)(dst + i), v);
		if (mlf != (((mcr << 1) | carry) & 0xffffu))
			return 0;
		carry = mcr >> 15;
	}
#endif
	for (; i < n; i++) {
		if (dst != NULL)
			dst[i] = in[i];
		if ((unsigned)(in[i] == '\n') != carry)
			return 0;
		carry = in[i] == '\r';
	}
	return carry == 0; /* a CR at the end is no line end yet */
}

int
mime_header_crlf_canonical(const unsigned char *in, size_t n)
{
	return crlf_copy(NULL, in, n);
}

int
mime_header_add_crlf(struct gw_buf *out, const unsigned char *in, size_t n)
{
	unsigned char *dst;
	size_t len;
	int rc;

	if (n == 0)
		return 0;
	/* Already canonical (the usual case on the wire): checked as it
	 * is copied, one pass. */
	if ((rc = gw_buf_reserve(out, n, &dst)) != 0)
		return rc;
	if (crlf_copy(dst, in, n)) {
		out->len += n;
		out->data[out->len] = '\0';
		return 0;
	}
	if ((rc = gw_buf_reserve(out, mime_crlf_max(n), &dst)) != 0)
		return rc;
	if ((rc = mime_crlf_canon(in, n, dst, mime_crlf_max(n), &len)) != 0)
		return rc;
	out->len += len;
	out->data[out->len] = '\0';
	return 0;
}

/* ---- names and authserv-ids, as a lenient reader takes them ----------- */

size_t
mime_header_blank_len(const unsigned char *p, size_t n)
{
	if (n == 0)
		return 0;
	if (p[0] <= 0x20 || p[0] == 0x7f)
		return 1;
	if (n >= 2 && p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0))
		return 2;
	if (n < 3)
		return 0;
	if (p[0] == 0xe1 && ((p[1] == 0x9a && p[2] == 0x80) ||
			     (p[1] == 0xa0 && p[2] == 0x8e)))
		return 3; /* U+1680, U+180E */
	if (p[0] == 0xe2 && p[1] == 0x80 &&
	    ((p[2] >= 0x80 && p[2] <= 0x8d) || p[2] == 0xa8 || p[2] == 0xa9 ||
	     p[2] == 0xaf))
		return 3; /* U+2000-U+200D, U+2028, U+2029, U+202F */
	if (p[0] == 0xe2 && p[1] == 0x81 && (p[2] == 0x9f || p[2] == 0xa0))
		return 3; /* U+205F, U+2060 */
	if ((p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80) ||
	    (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf))
		return 3; /* U+3000, U+FEFF */
	return 0;
}

/* Length of a blank that ends at e (blanks are at most 3 bytes). */
static size_t
blank_before(const unsigned char *start, const unsigned char *e)
{
	size_t k;

	for (k = 1; k <= 3 && k <= (size_t)(e - start); k++)
		if (mime_header_blank_len(e - k, k) == k)
			return k;
	return 0;
}

/* Sets aside blanks at both ends and trailing dots (with the blanks
 * around them) of s[0..*n): returns the new start, *n its length. */
static const unsigned char *
trim(const unsigned char *s, size_t *n)
{
	const unsigned char *e = s + *n;
	size_t b;

	while (s < e && (b = mime_header_blank_len(s, (size_t)(e - s))) > 0)
		s += b;
	for (;;) {
		if (e > s && e[-1] == '.')
			e--;
		else if ((b = blank_before(s, e)) > 0)
			e -= b;
		else
			break;
	}
	*n = (size_t)(e - s);
	return s;
}

static unsigned char
ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

int
mime_header_name_is(const char *name, const char *want)
{
	const unsigned char *p = (const unsigned char *)name, *e;
	size_t b, wl;

	if (name == NULL || want == NULL)
		return 0;
	/* Most names differ from want in their first byte, which is then
	 * no blank (a blank never starts want). */
	if (p[0] > 0x20 && p[0] < 0x7f &&
	    ascii_lower(p[0]) != ascii_lower((unsigned char)want[0]))
		return 0;
	e = p + strlen(name);
	while (p < e && (b = mime_header_blank_len(p, (size_t)(e - p))) > 0)
		p += b;
	while ((b = blank_before(p, e)) > 0)
		e -= b;
	wl = strlen(want);
	return (size_t)(e - p) == wl &&
	       strncasecmp((const char *)p, want, wl) == 0;
}

/* An authserv-id as read, with room for any real one (a host name). */
struct ar_id {
	unsigned char b[512];
	size_t n;
	int over;
};

static void
id_add(struct ar_id *id, unsigned char c)
{
	if (id->n < sizeof(id->b))
		id->b[id->n++] = c;
	else
		id->over = 1;
}

/* Past a comment at v[i] == '(' (nested, with quoted pairs). */
static size_t
ar_comment(const unsigned char *v, size_t n, size_t i)
{
	size_t depth = 0;

	for (; i < n; i++) {
		if (v[i] == '\\')
			i++;
		else if (v[i] == '(')
			depth++;
		else if (v[i] == ')' && --depth == 0)
			return i + 1;
	}
	return n;
}

static int
id_equal(const struct ar_id *got, const char *want)
{
	const unsigned char *g, *w = (const unsigned char *)want;
	size_t gn = got->n, wn = strlen(want);

	if (got->over)
		return 0;
	g = trim(got->b, &gn);
	w = trim(w, &wn);
	return wn > 0 && gn == wn &&
	       strncasecmp((const char *)g, (const char *)w, wn) == 0;
}

/* RFC 8601's authserv-id: CFWS (any blank), then a token or a
 * quoted-string. */
static void
ar_strict(const unsigned char *v, size_t n, struct ar_id *id)
{
	size_t i = 0, b;

	while (i < n) {
		if ((b = mime_header_blank_len(v + i, n - i)) > 0)
			i += b;
		else if (v[i] == '(')
			i = ar_comment(v, n, i);
		else
			break;
	}
	if (i < n && v[i] == '"') {
		for (i++; i < n && v[i] != '"'; i++) {
			if (v[i] == '\\' && i + 1 < n)
				i++;
			id_add(id, v[i]);
		}
		return;
	}
	/* token: up to a tspecial (RFC 2045) or a blank. */
	while (i < n && mime_header_blank_len(v + i, n - i) == 0 &&
	       strchr("()<>@,;:\\\"/[]?=", v[i]) == NULL)
		id_add(id, v[i++]);
}

/* Everything before the first ';' outside quotes and comments, without
 * comments, quotes, backslashes and blanks. */
static void
ar_loose(const unsigned char *v, size_t n, struct ar_id *id)
{
	size_t i = 0, b;
	int quoted = 0;

	while (i < n && (quoted || v[i] != ';')) {
		if (v[i] == '\\') {
			if (++i < n)
				id_add(id, v[i++]);
		} else if (v[i] == '"') {
			quoted = !quoted;
			i++;
		} else if (!quoted && v[i] == '(')
			i = ar_comment(v, n, i);
		else if ((b = mime_header_blank_len(v + i, n - i)) > 0)
			i += b;
		else
			id_add(id, v[i++]);
	}
}

int
mime_header_authserv_is(const char *value, size_t len, const char *id)
{
	const unsigned char *v = (const unsigned char *)value;
	struct ar_id got;

	if (value == NULL || id == NULL)
		return 0;
	memset(&got, 0, sizeof(got));
	ar_strict(v, len, &got);
	if (id_equal(&got, id))
		return 1;
	memset(&got, 0, sizeof(got));
	ar_loose(v, len, &got);
	return id_equal(&got, id);
}
