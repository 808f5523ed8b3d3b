/* smime_der.c - a walk over DER (and BER) without decoding it, and the
 * pieces the DER writers share. */
#include "smime_der.h"

#include <string.h>

#include "gw_buf.h"

/* The header of the element at p: its tag (one identifier octet, or a
 * high tag number of at most 4 more), and its definite length, which
 * must fit in n, or an indefinite one (constructed only). */
int
der_hdr(const unsigned char *p, size_t n, struct der *d)
{
	if (der_hdr_open(p, n, d) != 0 ||
	    (!d->indef && d->len > n - d->hlen))
		return -1;
	return 0;
}

/* The same when only the header need be in the n bytes at p. */
int
der_hdr_open(const unsigned char *p, size_t n, struct der *d)
{
	size_t i = 1, k, nb;

	if (n < 2)
		return -1;
	d->tag = p[0];
	if ((p[0] & 0x1f) == 0x1f) /* high tag number */
		for (k = 0; i < n && (p[i] & 0x80); i++)
			if (++k > 4)
				return -1;
	if ((p[0] & 0x1f) == 0x1f && ++i > n)
		return -1;
	if (i >= n)
		return -1;
	d->indef = 0;
	d->len = 0;
	if (p[i] < 0x80) {
		d->len = p[i++];
	} else if (p[i] == 0x80) {
		if (!(p[0] & 0x20))
			return -1;
		d->indef = 1;
		i++;
	} else {
		nb = p[i++] & 0x7f;
		if (nb > 4 || nb > n - i)
			return -1;
		for (k = 0; k < nb; k++)
			d->len = (d->len << 8) | p[i++];
	}
	d->hlen = i;
	return 0;
}

/* The length of the whole element at p (end-of-contents included). */
int
der_skip(const unsigned char *p, size_t n, int nest, size_t *used)
{
	struct der d;
	size_t off, u;

	if (nest > DER_MAX_NEST || der_hdr(p, n, &d) != 0)
		return -1;
	if (!d.indef) {
		*used = d.hlen + d.len;
		return 0;
	}
	for (off = d.hlen; off + 2 <= n; off += u) {
		if (p[off] == 0 && p[off + 1] == 0) {
			*used = off + 2;
			return 0;
		}
		if (der_skip(p + off, n - off, nest + 1, &u) != 0)
			return -1;
	}
	return -1;
}

/* The content of the element at p: [*start, *end), the end-of-contents
 * octets of an indefinite length excluded. */
int
der_content(const unsigned char *p, size_t n, size_t *start, size_t *end)
{
	struct der d;
	size_t used;

	if (der_hdr(p, n, &d) != 0)
		return -1;
	*start = d.hlen;
	if (!d.indef) {
		*end = d.hlen + d.len;
		return 0;
	}
	if (der_skip(p, n, 0, &used) != 0)
		return -1;
	*end = used - 2;
	return 0;
}

/* How many elements the SET or SEQUENCE at p holds, counting no
 * further than max + 1. */
int
der_count(const unsigned char *p, size_t n, size_t max, size_t *count)
{
	size_t s, e, u;

	if (der_content(p, n, &s, &e) != 0)
		return -1;
	for (*count = 0; s < e && *count <= max; s += u, (*count)++)
		if (der_skip(p + s, e - s, 1, &u) != 0)
			return -1;
	return 0;
}

const unsigned char oid_data[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
				 0x0d, 0x01, 0x07, 0x01};
const unsigned char oid_signed[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
					   0x0d, 0x01, 0x07, 0x02};
const unsigned char oid_enveloped[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
					      0x0d, 0x01, 0x07, 0x03};
const unsigned char oid_auth_enveloped[] = {
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x17};

/* The content of the element at p as far as its header says:
 * [*start, *end), *end being n for an indefinite length (its
 * end-of-contents is not looked for: a BER envelope's content is
 * thousands of segments, and only the walk that needs the end makes
 * it). */
int
der_bounds(const unsigned char *p, size_t n, struct der *d, size_t *start,
	   size_t *end)
{
	if (der_hdr(p, n, d) != 0)
		return -1;
	*start = d->hlen;
	*end = d->indef ? n : d->hlen + d->len;
	return 0;
}

/* The content type OID of a ContentInfo (*oid, *olen into p) and where
 * its [0] content begins (*c), or -1.  The ContentInfo is not walked to
 * its end. */
int
der_content_info(const unsigned char *p, size_t n, const unsigned char **oid,
		 size_t *olen, size_t *c)
{
	struct der d;
	size_t s, e;

	if (der_bounds(p, n, &d, &s, &e) != 0 || p[0] != 0x30 ||
	    der_hdr(p + s, e - s, &d) != 0 || d.tag != 0x06 || d.indef)
		return -1;
	*oid = p + s + d.hlen;
	*olen = d.len;
	*c = s + d.hlen + d.len;
	return *c < e ? 0 : -1;
}

int
der_trailing(const unsigned char *p, size_t from, size_t n)
{
	size_t i;

	for (i = from; i < n; i++)
		if (p[i] != 0)
			return 1;
	return 0;
}

int
oid_is(const unsigned char *oid, size_t olen, const unsigned char *want,
       size_t wlen)
{
	return olen == wlen && memcmp(oid, want, wlen) == 0;
}

/* The size of the identifier and length octets of an element with a
 * one-octet tag and the definite length len. */
size_t
der_hdr_len(size_t len)
{
	size_t n = 2;

	if (len < 0x80)
		return n;
	for (; len > 0; len >>= 8)
		n++;
	return n;
}

/* The identifier and length octets of an element of content length len
 * (definite) with the one-octet tag at b; their size (der_hdr_len()). */
size_t
der_put_hdr(unsigned char *b, unsigned char tag, size_t len)
{
	size_t n = 0, k;

	b[0] = tag;
	if (len < 0x80) {
		b[1] = (unsigned char)len;
		return 2;
	}
	for (k = len; k > 0; k >>= 8)
		n++;
	b[1] = (unsigned char)(0x80 | n);
	for (k = 0; k < n; k++)
		b[2 + k] = (unsigned char)(len >> (8 * (n - 1 - k)));
	return 2 + n;
}

/* Writes the header of w with cut content octets less (an indefinite
 * length stays as it is) at b; its size.  Never longer than the old one:
 * the minimal length octets of a smaller length are no more. */
static size_t
wrap_put(unsigned char *b, const struct der_wrap *w, size_t cut)
{
	if (w->d.indef) {
		b[0] = w->d.tag;
		b[1] = 0x80;
		return 2;
	}
	return der_put_hdr(b, w->d.tag, w->d.len - cut);
}

size_t
der_cut(const unsigned char *p, const struct der_wrap *w, int nw, size_t cs,
	size_t cu, const unsigned char *after, size_t alen, unsigned char *dst)
{
	unsigned char hdr[DER_CUT_WRAPS][8];
	size_t hlen[DER_CUT_WRAPS], cut = cu, o = 0, from, to;
	int i;

	for (i = nw - 1; i >= 0; i--) {
		hlen[i] = wrap_put(hdr[i], &w[i], cut);
		cut += w[i].d.hlen - hlen[i];
	}
	for (i = 0; i < nw; i++) {
		memcpy(dst + o, hdr[i], hlen[i]);
		o += hlen[i];
		from = w[i].off + w[i].d.hlen;
		to = i + 1 < nw ? w[i + 1].off : cs;
		memmove(dst + o, p + from, to - from);
		o += to - from;
	}
	memmove(dst + o, after, alen);
	return o + alen;
}

const unsigned char der_alg_rsa[] = {0x30, 0x0d, 0x06, 0x09, 0x2a,
				     0x86, 0x48, 0x86, 0xf7, 0x0d,
				     0x01, 0x01, 0x01, 0x05, 0x00};

unsigned char *
der_put(unsigned char *p, const void *src, size_t n)
{
	memcpy(p, src, n);
	return p + n;
}

int
der_span_cmp(const void *a, const void *b)
{
	const struct der_span *x = a, *y = b;

	return gw_bytes_cmp(x->p, x->n, y->p, y->n);
}

/* The size of a ContentInfo { the OID's TLV (oidlen bytes), [0] {
 * SEQUENCE of content length len } }, all of it. */
size_t
der_ci_len(size_t oidlen, size_t len)
{
	size_t seq = der_hdr_len(len) + len;
	size_t ci = oidlen + der_hdr_len(seq) + seq;

	return der_hdr_len(ci) + ci;
}

/* Its headers at q, up to the SEQUENCE's content: where that goes. */
unsigned char *
der_put_ci(unsigned char *q, const unsigned char *oid, size_t oidlen,
	   size_t len)
{
	size_t seq = der_hdr_len(len) + len;

	q += der_put_hdr(q, 0x30, oidlen + der_hdr_len(seq) + seq);
	q = der_put(q, oid, oidlen);
	q += der_put_hdr(q, 0xa0, seq);
	q += der_put_hdr(q, 0x30, len);
	return q;
}
