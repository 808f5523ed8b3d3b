/* mime_header.c - header fields and header blocks, as bytes
 * (mime_header.h). */
#include "mime_header.h"

#include <string.h>
#include <strings.h>

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
mime_header_add_crlf(struct gw_buf *out, const unsigned char *in, size_t n)
{
	unsigned char *dst;
	size_t len;
	int rc;

	if (n == 0)
		return 0;
	/* Fast path: already canonical (the usual case on the wire). */
	if (mime_crlf_canon_len(in, n) == n)
		return gw_buf_add(out, in, n);
	if ((rc = gw_buf_reserve(out, mime_crlf_max(n), &dst)) != 0)
		return rc;
	if ((rc = mime_crlf_canon(in, n, dst, mime_crlf_max(n), &len)) != 0)
		return rc;
	out->len += len;
	out->data[out->len] = '\0';
	return 0;
}
