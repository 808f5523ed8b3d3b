/* smime_der.h - a walk over DER (and BER) without decoding it: element
 * headers, bounds and counts, for the looks at CMS objects taken
 * before (or instead of) d2i; and the few pieces the DER writers share.
 * Nothing here allocates; every function of the walk fails (-1) on
 * what does not walk and trusts nothing it reads. */
#ifndef SMIME_DER_H
#define SMIME_DER_H

#include <stddef.h>

struct der {
	unsigned char tag;	/* the first identifier octet */
	size_t hlen;		/* identifier and length octets */
	size_t len;		/* content octets (definite length) */
	int indef;		/* indefinite length: ends with 00 00 */
};

#define DER_MAX_NEST 32

int der_hdr(const unsigned char *p, size_t n, struct der *d);
int der_hdr_open(const unsigned char *p, size_t n, struct der *d);
int der_skip(const unsigned char *p, size_t n, int nest, size_t *used);
int der_content(const unsigned char *p, size_t n, size_t *start, size_t *end);
int der_count(const unsigned char *p, size_t n, size_t max, size_t *count);
int der_bounds(const unsigned char *p, size_t n, struct der *d, size_t *start,
	       size_t *end);
int der_content_info(const unsigned char *p, size_t n,
		     const unsigned char **oid, size_t *olen, size_t *c);
/* Whether p[from, n) holds a byte other than zero: what follows a
 * decoded object and is not padding (BER's trailing zeros are). */
int der_trailing(const unsigned char *p, size_t from, size_t n);
int oid_is(const unsigned char *oid, size_t olen, const unsigned char *want,
	   size_t wlen);
size_t der_hdr_len(size_t len);
size_t der_put_hdr(unsigned char *b, unsigned char tag, size_t len);

/* For writing DER (smime_envelope.c, smime_signed.c): n bytes of src
 * at p, and where they end. */
unsigned char *der_put(unsigned char *p, const void *src, size_t n);
size_t der_ci_len(size_t oidlen, size_t len);
unsigned char *der_put_ci(unsigned char *q, const unsigned char *oid,
			  size_t oidlen, size_t len);

/* An element's encoding, to sort with the others of a SET OF. */
struct der_span {
	const unsigned char *p;
	size_t n;
};

/* DER's order of a SET OF, for qsort() of struct der_span. */
int der_span_cmp(const void *a, const void *b);

/* The AlgorithmIdentifier rsaEncryption with NULL parameters. */
extern const unsigned char der_alg_rsa[15];

/* One of the elements around a cut one (ContentInfo, its [0], the
 * SignedData or EnvelopedData, ...): where it starts and its header. */
struct der_wrap {
	size_t off;
	struct der d;
};

#define DER_CUT_WRAPS 4

/*
 * p[0, cs), then after[0, alen): what followed the element [cs, cs + cu)
 * (p + cs + cu for a cut in place), into dst (p itself: every piece
 * moves towards the start); its new size.  The nw (at most
 * DER_CUT_WRAPS) wraps around the element (w[0] at 0, each inside the
 * one before) get their new lengths, innermost first: each outer one
 * loses the cut and whatever the headers inside it shrank by (a length
 * below 256 or 128 takes fewer octets, and one in a longer form than
 * needed is written minimal).
 */
size_t der_cut(const unsigned char *p, const struct der_wrap *w, int nw,
	       size_t cs, size_t cu, const unsigned char *after, size_t alen,
	       unsigned char *dst);

extern const unsigned char oid_data[9];
extern const unsigned char oid_signed[9];
extern const unsigned char oid_enveloped[9];
extern const unsigned char oid_auth_enveloped[11];

#endif
