/* smime_signed.c - SignedData with a detached RSA PKCS#1 v1.5 signature. */
#include "smime_signed.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "gw_buf.h"
#include "gw_err.h"
#include "smime_der.h"

/*
 * The fixed parts, as OpenSSL 3.0 encodes them (the test compares).
 * The digest AlgorithmIdentifiers have no parameters (OpenSSL leaves
 * the NULL out for SHA-2, as RFC 5754 says); the signature's
 * rsaEncryption has its NULL.
 */
static const unsigned char tlv_signed[] = {
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02};
/* encapContentInfo: id-data, the content left out (detached) */
static const unsigned char eci_data[] = {
	0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
	0x07, 0x01};
static const unsigned char version1[] = {0x02, 0x01, 0x01};

/*
 * The signed attributes.  Their encodings all begin 30 and differ in
 * the length octet, which rises in this order (18; 1c or 1e; 2f, 3f or
 * 4f; 79): the order DER gives the SET OF.
 */
/* contentType: id-data */
static const unsigned char attr_content_type[] = {
	0x30, 0x18, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
	0x09, 0x03, 0x31, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
	0x0d, 0x01, 0x07, 0x01};
static const unsigned char oid_signing_time[] = {
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05};
static const unsigned char oid_message_digest[] = {
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04};
static const unsigned char oid_smime_caps[] = {
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0f};
/*
 * The smimeCapabilities we announce (RFC 8551 2.5.2), the value of the
 * attribute: what we decrypt, in the order we prefer it, aes-256-cbc,
 * aes-192-cbc and aes-128-cbc, without parameters as RFC 3565 has it.
 * Not OpenSSL's standard list, which goes on with des-ede3-cbc, RC2
 * and single DES: a sender that takes the list at its word could pick
 * a cipher the default provider cannot decrypt (RC2, DES), or 3DES,
 * which is weak (64-bit blocks).
 */
static const unsigned char smime_caps[] = {
	0x30, 0x27, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	0x65, 0x03, 0x04, 0x01, 0x2a, 0x30, 0x0b, 0x06, 0x09, 0x60,
	0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x16, 0x30, 0x0b,
	0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01,
	0x02};

const unsigned char *
smime_signed_caps(size_t *len)
{
	*len = sizeof(smime_caps);
	return smime_caps;
}

/* Room for the SET of signed attributes: at most 4 + 26 + 32 + 81 + 56
 * octets (GeneralizedTime, SHA-512). */
#define ATTRS_MAX 512
/* The largest RSA signature written here: a 16384-bit key's. */
#define SIG_MAX 2048
#define ALG_LEN 13

/* The digests, fetched once (an EVP_sha256() would be fetched again by
 * every digest it makes). */
static struct sha2 {
	int nid;
	const char *name;
	unsigned char alg[ALG_LEN];	/* 2.16.840.1.101.3.4.2.x, absent
					 * parameters */
	EVP_MD *md;
} sha2[] = {
    {NID_sha256, "SHA256",
     {0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
      0x02, 0x01},
     NULL},
    {NID_sha384, "SHA384",
     {0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
      0x02, 0x02},
     NULL},
    {NID_sha512, "SHA512",
     {0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
      0x02, 0x03},
     NULL},
};
#define NSHA2 (sizeof(sha2) / sizeof(sha2[0]))

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void
fetch_digests(void)
{
	size_t i;

	for (i = 0; i < NSHA2; i++)
		sha2[i].md = EVP_MD_fetch(NULL, sha2[i].name, NULL);
}

static struct sha2 *
find_sha2(const EVP_MD *md)
{
	int nid = md != NULL ? EVP_MD_get_type(md) : NID_undef;
	size_t i;

	for (i = 0; i < NSHA2; i++)
		if (sha2[i].nid == nid)
			return &sha2[i];
	return NULL;
}

int
smime_signed_fits(const struct smime_signer *s, const EVP_MD *md)
{
	return !s->pss && s->key != NULL && s->cert != NULL &&
	       EVP_PKEY_get_base_id(s->key) == EVP_PKEY_RSA &&
	       EVP_PKEY_get_size(s->key) > 0 &&
	       EVP_PKEY_get_size(s->key) <= SIG_MAX && find_sha2(md) != NULL;
}

/* ---- the certificates ----------------------------------------------- */

struct certs {
	unsigned char *der;	/* every certificate's encoding, in turn */
	struct der_span *set;	/* each one's, in DER order, once */
	int n;
	size_t len;		/* the SET's contents */
};

/*
 * The signer's certificate and the chain's, encoded (each an X509's
 * i2d, as OpenSSL's CMS encodes them), sorted and each kept once:
 * OpenSSL 3.0's CMS_add1_cert() refuses a certificate it holds
 * already, later ones skip it.
 */
static int
certs_make(const struct smime_signer *s, struct certs *c)
{
	int k = 1 + (s->chain != NULL ? sk_X509_num(s->chain) : 0);
	size_t total = 0, at = 0;
	unsigned char *p;
	X509 *x;
	int i, len, kept;

	if ((c->set = calloc((size_t)k, sizeof(*c->set))) == NULL)
		return GW_ERR_NOMEM;
	for (i = 0; i < k; i++) {
		x = i == 0 ? s->cert : sk_X509_value(s->chain, i - 1);
		if ((len = i2d_X509(x, NULL)) <= 0)
			return gw_err_set_ssl(GW_ERR_CRYPTO,
					      "encoding a certificate");
		c->set[i].n = (size_t)len;
		total += (size_t)len;
	}
	if ((c->der = malloc(total)) == NULL)
		return GW_ERR_NOMEM;
	for (i = 0; i < k; i++) {
		x = i == 0 ? s->cert : sk_X509_value(s->chain, i - 1);
		p = c->der + at;
		c->set[i].p = p;
		if (i2d_X509(x, &p) != (int)c->set[i].n)
			return gw_err_set_ssl(GW_ERR_CRYPTO,
					      "encoding a certificate");
		at += c->set[i].n;
	}
	if (k > 1)
		qsort(c->set, (size_t)k, sizeof(*c->set), der_span_cmp);
	for (i = 0, kept = 0; i < k; i++) {
		if (kept > 0 &&
		    der_span_cmp(&c->set[kept - 1], &c->set[i]) == 0)
			continue;
		c->set[kept++] = c->set[i];
		c->len += c->set[i].n;
	}
	c->n = kept;
	return 0;
}

/* ---- the signed attributes ------------------------------------------- */

/* Two decimal digits of v (0 to 99) at p. */
static unsigned char *
put2(unsigned char *p, int v)
{
	p[0] = (unsigned char)('0' + v / 10);
	p[1] = (unsigned char)('0' + v % 10);
	return p + 2;
}

/*
 * The signingTime attribute's value at now, as OpenSSL's ASN1_TIME
 * makes it: UTCTime from 1950 through 2049, GeneralizedTime otherwise;
 * its TLV into t (17 octets of room), the length returned, 0 for a
 * time that neither can say.
 */
static size_t
signing_time(time_t now, unsigned char *t)
{
	struct tm tm;
	unsigned char *p = t + 2;
	int year;

	if (gmtime_r(&now, &tm) == NULL)
		return 0;
	year = tm.tm_year + 1900;
	if (year < 0 || year > 9999)
		return 0;
	if (year >= 1950 && year < 2050) {
		t[0] = 0x17;
	} else {
		t[0] = 0x18;
		p = put2(p, year / 100);
	}
	p = put2(p, year % 100);
	p = put2(p, tm.tm_mon + 1);
	p = put2(p, tm.tm_mday);
	p = put2(p, tm.tm_hour);
	p = put2(p, tm.tm_min);
	p = put2(p, tm.tm_sec);
	*p++ = 'Z';
	t[1] = (unsigned char)(p - t - 2);
	return (size_t)(p - t);
}

/* The attribute (a SEQUENCE of the OID and a SET of one value) at p;
 * where it ends. */
static unsigned char *
put_attr(unsigned char *p, const unsigned char *oid, size_t olen,
	 const unsigned char *value, size_t vlen)
{
	p += der_put_hdr(p, 0x30, olen + der_hdr_len(vlen) + vlen);
	p = der_put(p, oid, olen);
	p += der_put_hdr(p, 0x31, vlen);
	return der_put(p, value, vlen);
}

/*
 * The SET of signed attributes, its tag 31 (what the signature covers,
 * RFC 5652 5.4), into a (ATTRS_MAX octets): the content's digest dgst
 * and the time; its length.  DER sorts a SET OF by the encodings: each
 * attribute here is a SEQUENCE with a one-octet length, so the shorter
 * comes first; contentType and signingTime are the shortest, and the
 * messageDigest of SHA-256 is shorter than the capabilities, that of
 * SHA-384 or -512 longer.
 */
static size_t
attrs_make(unsigned char *a, const unsigned char *tm, size_t tmlen,
	   const unsigned char *dgst, size_t dlen)
{
	unsigned char md[2 + EVP_MAX_MD_SIZE], *p;
	size_t body, mlen;
	int md_first;

	md[0] = 0x04;
	md[1] = (unsigned char)dlen;
	memcpy(md + 2, dgst, dlen);
	mlen = 2 + dlen;
	md_first = sizeof(oid_message_digest) + mlen <
		   sizeof(oid_smime_caps) + sizeof(smime_caps);
	body = sizeof(attr_content_type) + 2 + sizeof(oid_signing_time) + 2 +
	       tmlen + 2 + sizeof(oid_message_digest) + 2 + mlen + 2 +
	       sizeof(oid_smime_caps) + 2 + sizeof(smime_caps);
	p = a + der_put_hdr(a, 0x31, body);
	p = der_put(p, attr_content_type, sizeof(attr_content_type));
	p = put_attr(p, oid_signing_time, sizeof(oid_signing_time), tm, tmlen);
	if (md_first)
		p = put_attr(p, oid_message_digest, sizeof(oid_message_digest),
			     md, mlen);
	p = put_attr(p, oid_smime_caps, sizeof(oid_smime_caps), smime_caps,
		     sizeof(smime_caps));
	if (!md_first)
		p = put_attr(p, oid_message_digest, sizeof(oid_message_digest),
			     md, mlen);
	return (size_t)(p - a);
}

/*
 * The signature of the attributes' DER by key: PKCS#1 v1.5 over their
 * digest, which the key's context (a provider's, or the legacy method
 * of a token ENGINE or keyd's proxy, which read the digest and the
 * padding from it) is told.
 */
static int
sign_attrs(EVP_PKEY *key, const struct sha2 *h, const unsigned char *a,
	   size_t alen, unsigned char *sig, size_t *siglen)
{
	unsigned char dgst[EVP_MAX_MD_SIZE];
	unsigned dlen;
	EVP_PKEY_CTX *ctx;
	int rc = 0;

	if (!EVP_Digest(a, alen, dgst, &dlen, h->md, NULL))
		return gw_err_set_ssl(GW_ERR_CRYPTO,
				      "digesting the signed attributes");
	*siglen = SIG_MAX;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL)) == NULL ||
	    EVP_PKEY_sign_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, h->md) <= 0 ||
	    EVP_PKEY_sign(ctx, sig, siglen, dgst, dlen) <= 0)
		rc = gw_err_set_ssl(GW_ERR_P11, "signing the message");
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/* ---- the whole ------------------------------------------------------- */

/*
 * The ContentInfo into der, front to back in one pass: every part is
 * made, so every length is known.
 */
static int
write_signed(struct gw_buf *der, const struct smime_signer *s,
	     const struct sha2 *h, const struct certs *c,
	     const unsigned char *a, size_t alen, const unsigned char *sig,
	     size_t siglen)
{
	const ASN1_INTEGER *serial = X509_get0_serialNumber(s->cert);
	const unsigned char *name;
	size_t namelen, ias, si, sd, total;
	unsigned char *q, *start;
	int i, sn, rc;

	if (!X509_NAME_get0_der(X509_get_issuer_name(s->cert), &name,
				&namelen) ||
	    (sn = i2d_ASN1_INTEGER(serial, NULL)) <= 0)
		return gw_err_set_ssl(GW_ERR_CRYPTO,
				      "encoding the signer's issuer and "
				      "serial number");
	ias = namelen + (size_t)sn;
	si = sizeof(version1) + der_hdr_len(ias) + ias + ALG_LEN + alen +
	     sizeof(der_alg_rsa) + der_hdr_len(siglen) + siglen;
	sd = sizeof(version1) + 2 + ALG_LEN + sizeof(eci_data) +
	     der_hdr_len(c->len) + c->len + der_hdr_len(der_hdr_len(si) + si) +
	     der_hdr_len(si) + si;
	total = der_ci_len(sizeof(tlv_signed), sd);
	if ((rc = gw_buf_reserve(der, total, &start)) != 0)
		return rc;
	q = der_put_ci(start, tlv_signed, sizeof(tlv_signed), sd);
	q = der_put(q, version1, sizeof(version1));
	q += der_put_hdr(q, 0x31, ALG_LEN);
	q = der_put(q, h->alg, ALG_LEN);
	q = der_put(q, eci_data, sizeof(eci_data));
	q += der_put_hdr(q, 0xa0, c->len);
	for (i = 0; i < c->n; i++)
		q = der_put(q, c->set[i].p, c->set[i].n);
	q += der_put_hdr(q, 0x31, der_hdr_len(si) + si);
	q += der_put_hdr(q, 0x30, si);
	q = der_put(q, version1, sizeof(version1));
	q += der_put_hdr(q, 0x30, ias);
	q = der_put(q, name, namelen);
	if (i2d_ASN1_INTEGER(serial, &q) != sn)
		return gw_err_set_ssl(GW_ERR_CRYPTO,
				      "encoding the signer's serial number");
	q = der_put(q, h->alg, ALG_LEN);
	/* The attributes as signed, [0] IMPLICIT for their SET tag. */
	*q = 0xa0;
	q = der_put(q + 1, a + 1, alen - 1);
	q = der_put(q, der_alg_rsa, sizeof(der_alg_rsa));
	q += der_put_hdr(q, 0x04, siglen);
	q = der_put(q, sig, siglen);
	if ((size_t)(q - start) != total)
		return gw_err_set(GW_ERR_INTERNAL,
				  "the signature came to another length");
	der->len += total;
	der->data[der->len] = '\0';
	return 0;
}

int
smime_signed_der(const struct smime_signer *s, const EVP_MD *md,
		 const unsigned char *p, size_t n, time_t now,
		 struct gw_buf *der)
{
	struct certs c = {NULL, NULL, 0, 0};
	struct sha2 *h;
	unsigned char dgst[EVP_MAX_MD_SIZE], tm[17], a[ATTRS_MAX];
	unsigned char sig[SIG_MAX];
	unsigned dlen;
	size_t tmlen, alen, siglen;
	int rc;

	if (!smime_signed_fits(s, md) || (h = find_sha2(md)) == NULL)
		return gw_err_set(GW_ERR_UNSUPPORTED,
				  "the signature needs OpenSSL's CMS code");
	pthread_once(&fetch_once, fetch_digests);
	if (h->md == NULL)
		return gw_err_set_ssl(GW_ERR_CRYPTO, "fetching %s", h->name);
	if ((tmlen = signing_time(now, tm)) == 0)
		return gw_err_set(GW_ERR_INVALID,
				  "the signing time %lld is outside the "
				  "years 0 to 9999",
				  (long long)now);
	/* What CMS_add1_signer() checks first. */
	if (X509_check_private_key(s->cert, s->key) != 1)
		return gw_err_set_ssl(GW_ERR_CRYPTO,
				      "the signing key is not the "
				      "certificate's");
	if (!EVP_Digest(p, n, dgst, &dlen, h->md, NULL))
		return gw_err_set_ssl(GW_ERR_CRYPTO, "digesting the content");
	alen = attrs_make(a, tm, tmlen, dgst, dlen);
	if ((rc = certs_make(s, &c)) == 0 &&
	    (rc = sign_attrs(s->key, h, a, alen, sig, &siglen)) == 0)
		rc = write_signed(der, s, h, &c, a, alen, sig, siglen);
	free(c.set);
	free(c.der);
	return rc;
}
