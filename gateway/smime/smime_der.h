/* smime_der.h - a walk over DER (and BER) without decoding it: element
 * headers, bounds and counts, for the looks at CMS objects taken
 * before (or instead of) d2i.  Nothing here allocates; every function
 * fails (-1) on what does not walk and trusts nothing it reads. */
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
int der_skip(const unsigned char *p, size_t n, int nest, size_t *used);
int der_content(const unsigned char *p, size_t n, size_t *start, size_t *end);
int der_count(const unsigned char *p, size_t n, size_t max, size_t *count);
int der_bounds(const unsigned char *p, size_t n, struct der *d, size_t *start,
	       size_t *end);
int der_content_info(const unsigned char *p, size_t n,
		     const unsigned char **oid, size_t *olen, size_t *c);
int oid_is(const unsigned char *oid, size_t olen, const unsigned char *want,
	   size_t wlen);
size_t der_hdr_len(size_t len);
size_t der_put_hdr(unsigned char *b, unsigned char tag, size_t len);

extern const unsigned char oid_data[9];
extern const unsigned char oid_signed[9];
extern const unsigned char oid_enveloped[9];
extern const unsigned char oid_auth_enveloped[11];

#endif
