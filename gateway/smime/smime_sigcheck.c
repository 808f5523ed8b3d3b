/*
 * smime_sigcheck.c - the common signature, detached or opaque, checked
 * without CMS_verify().
 *
 * For a small message CMS_verify() costs three times the RSA check it
 * makes: d2i of the SignerInfo, the re-encoding of its attributes, a
 * digest BIO chain over the content, and fetches and frees around each
 * step.  Nearly every signed message is of one kind, though: one
 * signer, an RSA key, SHA-256 (or -384, -512), signed attributes with
 * the content type and the message digest, the signer's certificate in
 * the message.  That kind is read here straight off the DER and
 * checked with the same primitives: the content's digest against the
 * messageDigest attribute, the signature over the attributes (their
 * DER, with the SET tag), the certificate chain with the same
 * X509_verify_cert() call on the same arguments.
 *
 * Only a pass is decided here.  Anything else, a failure of any check
 * included, returns 0 and the caller goes to CMS_verify(), which then
 * says what is wrong in its words.  So this file must never pass what
 * CMS_verify() refuses, and where it cannot tell cheaply it does not
 * pass:
 *  - every header it walks is definite and minimal, the attributes are
 *    in DER order and each has one value, none comes twice; so the
 *    bytes signed are the bytes OpenSSL re-encodes the attributes to;
 *  - no unsigned attributes, no CRLs, no certificate left in the DER
 *    (what the cut refused), eContentType and the contentType
 *    attribute both id-data; an opaque signature's content one
 *    primitive OCTET STRING, or a constructed one of primitive
 *    segments (BER), digested where it lies and given out joined;
 *  - the signer is looked for as CMS_set1_signers_certs() looks: extra
 *    first, then the message's certificates, in order; a certificate
 *    with the same serial but an issuer name encoded otherwise (which
 *    X509_NAME_cmp() might still find equal) ends the attempt;
 *  - the signature algorithm is rsaEncryption or the shaNWithRSA of the
 *    same digest, the key plain RSA (not PSS), PKCS#1 v1.5.
 */
#include "smime_sigcheck.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "gw_buf.h"
#include "smime_der.h"

/* 1.2.840.113549.1.N.M: the PKCS arcs the attributes and RSA live in. */
static const unsigned char pkcs_arc[] = {0x2a, 0x86, 0x48, 0x86,
					 0xf7, 0x0d, 0x01};
/* 2.16.840.1.101.3.4.2.M: the SHA-2 digests. */
static const unsigned char sha2_arc[] = {0x60, 0x86, 0x48, 0x01,
					 0x65, 0x03, 0x04, 0x02};

static const struct digest {
	unsigned char arc;	/* M under sha2_arc */
	unsigned char rsa;	/* its shaNWithRSAEncryption: 1.M */
	const char *name;
} digests[] = {
	{1, 11, "SHA256"},
	{2, 12, "SHA384"},
	{3, 13, "SHA512"},
};

#define NDIGESTS (sizeof(digests) / sizeof(digests[0]))

static EVP_MD *md_fetched[NDIGESTS];
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

/*
 * Each thread keeps the verify contexts of the last few signer keys, set
 * up (RSA PKCS#1 v1.5 and the digest): making one costs a tenth of a
 * small message's check, and senders repeat.  A context holds a
 * reference to its key, so a key's address is not reused while it is
 * here.  OpenSSL lets a context verify again with the same parameters.
 */
#define PCTX_SLOTS 8

struct pctx_slot {
	EVP_PKEY *pk;
	size_t md;
	EVP_PKEY_CTX *ctx;
};

struct pctx_cache {
	struct pctx_slot slot[PCTX_SLOTS];
	unsigned next;		/* the slot to take next */
};

static pthread_key_t pctx_key;
static int pctx_key_ok;

static void
pctx_cache_free(void *arg)
{
	struct pctx_cache *c = arg;
	size_t i;

	for (i = 0; i < PCTX_SLOTS; i++)
		EVP_PKEY_CTX_free(c->slot[i].ctx);
	free(c);
}

/* The thread's verify context for pk and digests[md], or NULL; *kept
 * says whether the thread keeps it (else the caller frees it). */
static EVP_PKEY_CTX *
pctx_get(EVP_PKEY *pk, size_t md, int *kept)
{
	struct pctx_cache *c;
	struct pctx_slot *s;
	EVP_PKEY_CTX *ctx;
	size_t i;

	*kept = 0;
	c = pctx_key_ok ? pthread_getspecific(pctx_key) : NULL;
	if (c == NULL && pctx_key_ok &&
	    (c = calloc(1, sizeof(*c))) != NULL &&
	    pthread_setspecific(pctx_key, c) != 0) {
		free(c);
		c = NULL;
	}
	for (i = 0; c != NULL && i < PCTX_SLOTS; i++)
		if (c->slot[i].ctx != NULL && c->slot[i].pk == pk &&
		    c->slot[i].md == md) {
			*kept = 1;
			return c->slot[i].ctx;
		}
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL)) == NULL ||
	    EVP_PKEY_verify_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, md_fetched[md]) <= 0) {
		EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	if (c == NULL)
		return ctx;
	s = &c->slot[c->next];
	c->next = (c->next + 1) % PCTX_SLOTS;
	EVP_PKEY_CTX_free(s->ctx);
	s->pk = pk;
	s->md = md;
	s->ctx = ctx;
	*kept = 1;
	return ctx;
}

static void
md_init(void)
{
	size_t i;

	for (i = 0; i < NDIGESTS; i++)
		md_fetched[i] = EVP_MD_fetch(NULL, digests[i].name, NULL);
	ERR_clear_error();
	pctx_key_ok = pthread_key_create(&pctx_key, pctx_cache_free) == 0;
}

/* Whether oid is 1.2.840.113549.1.a.b. */
static int
pkcs_oid(const unsigned char *oid, size_t olen, unsigned char a,
	 unsigned char b)
{
	return olen == sizeof(pkcs_arc) + 2 &&
	       memcmp(oid, pkcs_arc, sizeof(pkcs_arc)) == 0 &&
	       oid[sizeof(pkcs_arc)] == a && oid[sizeof(pkcs_arc) + 1] == b;
}

/* ---- a walk over definite, minimal DER --------------------------------- */

/* The elements of [at, end) in p, one after the other. */
struct walk {
	const unsigned char *p;
	size_t at, end;
};

/*
 * The header at p (n bytes on) when it is what a walk here takes: a low
 * tag number, a definite length in the fewest octets (no leading zero
 * octet, the long form only from 128 on, at most four octets), its
 * content inside the n bytes.  -1 for anything else.
 */
static int
hdr_min(const unsigned char *p, size_t n, struct der *d)
{
	size_t nb, k, len;

	if (n < 2 || (p[0] & 0x1f) == 0x1f || p[1] == 0x80)
		return -1;
	if (p[1] < 0x80) {
		len = p[1];
		d->hlen = 2;
	} else {
		nb = p[1] & 0x7f;
		if (nb > 4 || nb > n - 2 || p[2] == 0)
			return -1;
		for (len = 0, k = 0; k < nb; k++)
			len = len << 8 | p[2 + k];
		if (len < 0x80)
			return -1;
		d->hlen = 2 + nb;
	}
	if (len > n - d->hlen)
		return -1;
	d->tag = p[0];
	d->len = len;
	d->indef = 0;
	return 0;
}

/*
 * The next element, which must have tag (or any tag: 0): its content
 * [*s, *s + *len) and, when el is not NULL, the whole element in el.
 * Definite and minimal lengths only.
 */
static int
take(struct walk *w, unsigned char tag, const unsigned char **s, size_t *len,
     struct walk *el)
{
	struct der d;
	const unsigned char *at = w->p + w->at;

	if (w->at >= w->end || hdr_min(at, w->end - w->at, &d) != 0 ||
	    (tag != 0 && d.tag != tag))
		return -1;
	*s = at + d.hlen;
	*len = d.len;
	if (el != NULL) {
		el->p = at;
		el->at = 0;
		el->end = d.hlen + d.len;
	}
	w->at += d.hlen + d.len;
	return 0;
}

/* Into the next element, of tag: w then walks what follows it, in its
 * content.  BER's indefinite lengths are taken (the wrappers of a
 * streamed signature have them); nothing inside is trusted more. */
static int
enter(struct walk *w, unsigned char tag, struct walk *in)
{
	size_t s, e, used;

	if (w->at >= w->end || w->p[w->at] != tag ||
	    der_content(w->p + w->at, w->end - w->at, &s, &e) != 0 ||
	    der_skip(w->p + w->at, w->end - w->at, 0, &used) != 0)
		return -1;
	in->p = w->p + w->at;
	in->at = s;
	in->end = e;
	w->at += used;
	return 0;
}

/* An AlgorithmIdentifier whose parameters are absent or NULL: its OID. */
static int
alg_id(struct walk *w, const unsigned char **oid, size_t *olen)
{
	struct walk a;
	const unsigned char *s, *v;
	size_t len, vl;

	if (take(w, 0x30, &s, &len, &a) != 0)
		return -1;
	a.at = (size_t)(s - a.p);
	if (take(&a, 0x06, oid, olen, NULL) != 0)
		return -1;
	if (a.at < a.end && (take(&a, 0x05, &v, &vl, NULL) != 0 || vl != 0))
		return -1;
	return a.at == a.end ? 0 : -1;
}

/* Whether DER's SET OF order puts the element a before or at b. */
static int
set_order(const struct walk *a, const struct walk *b)
{
	return gw_bytes_cmp(a->p, a->end, b->p, b->end) <= 0;
}

/* Whether an OID's content is one d2i takes: sub-identifiers in the
 * fewest octets, the last one ended. */
static int
oid_ok(const unsigned char *oid, size_t olen)
{
	size_t i;

	if (olen == 0 || (oid[olen - 1] & 0x80))
		return 0;
	for (i = 0; i < olen; i++)
		if (oid[i] == 0x80 && (i == 0 || !(oid[i - 1] & 0x80)))
			return 0;
	return 1;
}

/*
 * Whether an attribute value or an algorithm's parameters (ASN.1 ANY,
 * the element el) is one d2i takes as it is: a SEQUENCE, a SET or a
 * tag of another class (kept whole, unread), an OCTET STRING or a time
 * (kept as bytes), NULL, or an OID it can read.  Other universal types
 * are checked by d2i in ways not repeated here: no pass.
 */
static int
any_ok(const struct walk *el, const unsigned char *s, size_t len)
{
	unsigned char tag = el->p[0];

	if ((tag & 0xc0) != 0 || tag == 0x30 || tag == 0x31)
		return 1;
	switch (tag) {
	case 0x04: /* OCTET STRING */
	case 0x17: /* UTCTime */
	case 0x18: /* GeneralizedTime */
		return 1;
	case 0x05:
		return len == 0;
	case 0x06:
		return oid_ok(s, len);
	default:
		return 0;
	}
}

/* A digest's AlgorithmIdentifier (parameters absent or NULL): its index
 * in digests. */
static int
digest_alg(struct walk *w, size_t *md)
{
	const unsigned char *oid;
	size_t olen, i;

	if (alg_id(w, &oid, &olen) != 0 || olen != sizeof(sha2_arc) + 1 ||
	    memcmp(oid, sha2_arc, sizeof(sha2_arc)) != 0)
		return -1;
	for (i = 0; i < NDIGESTS; i++)
		if (oid[sizeof(sha2_arc)] == digests[i].arc) {
			*md = i;
			return 0;
		}
	return -1;
}

/* digestAlgorithms, a SET OF AlgorithmIdentifier: CMS_verify() digests
 * the content with each and fails on one it does not know; its set
 * (*mds, a bit per digest) must hold the signer's. */
static int
digest_algs(struct walk *sd, unsigned *mds)
{
	struct walk set;
	const unsigned char *s;
	size_t len, md;

	*mds = 0;
	if (take(sd, 0x31, &s, &len, &set) != 0)
		return -1;
	for (set.at = (size_t)(s - set.p); set.at < set.end; *mds |= 1u << md)
		if (digest_alg(&set, &md) != 0)
			return -1;
	return 0;
}

/* ---- the SignerInfo ---------------------------------------------------- */

struct signer_info {
	int keyid;			/* sid: [0] SubjectKeyIdentifier */
	const unsigned char *issuer;	/* the issuer Name's DER */
	size_t ilen;
	const unsigned char *serial;	/* the serial INTEGER's DER */
	size_t slen;
	const unsigned char *ski;	/* or the key identifier */
	size_t skilen;
	size_t md;			/* index in digests */
	const unsigned char *attrs;	/* the [0] signedAttrs element */
	size_t alen;
	const unsigned char *digest;	/* the messageDigest value */
	size_t dlen;
	const unsigned char *sig;
	size_t siglen;
};

static int
read_sid(struct walk *w, struct signer_info *si)
{
	struct walk ias, el;
	const unsigned char *s;
	size_t len;

	if (w->at < w->end && w->p[w->at] == 0x80) {
		si->keyid = 1;
		return take(w, 0x80, &si->ski, &si->skilen, NULL);
	}
	if (take(w, 0x30, &s, &len, &ias) != 0)
		return -1;
	ias.at = (size_t)(s - ias.p);
	if (take(&ias, 0x30, &s, &len, &el) != 0)
		return -1;
	si->issuer = el.p;
	si->ilen = el.end;
	if (take(&ias, 0x02, &s, &len, &el) != 0 || ias.at != ias.end)
		return -1;
	si->serial = el.p;
	si->slen = el.end;
	return 0;
}

static int
read_sig_alg(struct walk *w, const struct signer_info *si)
{
	const unsigned char *oid;
	size_t olen;

	if (alg_id(w, &oid, &olen) != 0)
		return -1;
	return pkcs_oid(oid, olen, 1, 1) ||
		       pkcs_oid(oid, olen, 1, digests[si->md].rsa)
		   ? 0
		   : -1;
}

/*
 * The signed attributes: each an Attribute { type, SET OF value } with
 * one value, in DER order, no type twice; contentType id-data and a
 * messageDigest of the digest's size required; no countersignature
 * (an unsigned attribute only).
 */
#define MAX_ATTRS 32

static int
read_attrs(const struct walk *el, struct signer_info *si, size_t mdlen)
{
	struct walk w = *el, a, vals, v, prev, seen[MAX_ATTRS];
	const unsigned char *s, *oid;
	size_t len, olen, n = 0, i;
	int ctype = 0;

	if (take(&w, 0xa0, &s, &len, NULL) != 0)
		return -1;
	w.at = (size_t)(s - w.p);
	si->digest = NULL;
	for (; w.at < w.end; n++) {
		if (n == MAX_ATTRS || take(&w, 0x30, &s, &len, &a) != 0 ||
		    (n > 0 && !set_order(&prev, &a)))
			return -1;
		prev = a;
		a.at = (size_t)(s - a.p);
		if (take(&a, 0x06, &oid, &olen, &seen[n]) != 0 ||
		    !oid_ok(oid, olen) ||
		    take(&a, 0x31, &s, &len, &vals) != 0 || a.at != a.end)
			return -1;
		for (i = 0; i < n; i++)
			if (seen[i].end == seen[n].end &&
			    memcmp(seen[i].p, seen[n].p, seen[n].end) == 0)
				return -1;
		vals.at = (size_t)(s - vals.p);
		if (take(&vals, 0, &s, &len, &v) != 0 || vals.at != vals.end ||
		    !any_ok(&v, s, len))
			return -1;
		if (pkcs_oid(oid, olen, 9, 3)) {
			if (v.p[0] != 0x06 ||
			    !oid_is(s, len, oid_data, sizeof(oid_data)))
				return -1;
			ctype = 1;
		} else if (pkcs_oid(oid, olen, 9, 4)) {
			if (v.p[0] != 0x04 || len != mdlen)
				return -1;
			si->digest = s;
			si->dlen = len;
		} else if (pkcs_oid(oid, olen, 9, 6)) {
			return -1;
		}
	}
	return ctype && si->digest != NULL ? 0 : -1;
}

/*
 * SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm,
 * signedAttrs [0], signatureAlgorithm, signature, unsignedAttrs [1] }
 */
static int
read_signer_info(struct walk *w, struct signer_info *si)
{
	struct walk in, attrs;
	const unsigned char *s, *version;
	size_t len;

	memset(si, 0, sizeof(*si));
	if (take(w, 0x30, &s, &len, &in) != 0)
		return -1;
	in.at = (size_t)(s - in.p);
	/* version 1 with an issuer and serial, 3 with a key identifier */
	if (take(&in, 0x02, &version, &len, NULL) != 0 || len != 1 ||
	    read_sid(&in, si) != 0 || version[0] != (si->keyid ? 3 : 1) ||
	    digest_alg(&in, &si->md) != 0 ||
	    in.at >= in.end || in.p[in.at] != 0xa0 ||
	    take(&in, 0xa0, &s, &len, &attrs) != 0)
		return -1;
	si->attrs = attrs.p;
	si->alen = attrs.end;
	if (md_fetched[si->md] == NULL ||
	    read_attrs(&attrs, si,
		       (size_t)EVP_MD_get_size(md_fetched[si->md])) != 0 ||
	    read_sig_alg(&in, si) != 0 ||
	    take(&in, 0x04, &si->sig, &si->siglen, NULL) != 0)
		return -1;
	return in.at == in.end ? 0 : -1; /* no unsignedAttrs */
}

/*
 * The content a signature covers: a detached one's bytes, or an opaque
 * one's OCTET STRING inside the DER, primitive or constructed (BER's
 * segments, as streaming encoders write them: then p, len hold the
 * segments, each a primitive OCTET STRING, and the value is theirs
 * joined); used: how far the ContentInfo reaches.
 */
struct econtent {
	const unsigned char *p;
	size_t len;
	int segs;
	size_t vlen;	/* the value's length (len unless segs) */
	size_t used;
};

/* Calls fn on each piece of ec's value, in order, while it returns 1:
 * 1 when every piece was taken. */
static int
econtent_each(const struct econtent *ec,
	      int (*fn)(void *arg, const unsigned char *p, size_t n),
	      void *arg)
{
	struct walk w = {ec->p, 0, ec->len};
	const unsigned char *s;
	size_t len;

	if (!ec->segs)
		return fn(arg, ec->p, ec->len);
	while (w.at < w.end)
		if (take(&w, 0x04, &s, &len, NULL) != 0 || !fn(arg, s, len))
			return 0;
	return 1;
}

/* Counts the value's bytes in *arg. */
static int
seg_count(void *arg, const unsigned char *p, size_t n)
{
	(void)p;
	*(size_t *)arg += n;
	return 1;
}

/* eContent [0] { OCTET STRING }: one primitive, definite string, or a
 * constructed one of primitive, definite segments (none nested). */
static int
read_econtent(struct walk *encap, struct econtent *ec)
{
	struct walk x, segs;

	if (enter(encap, 0xa0, &x) != 0)
		return -1;
	ec->segs = x.at < x.end && x.p[x.at] == 0x24;
	if (ec->segs) {
		if (enter(&x, 0x24, &segs) != 0)
			return -1;
		ec->p = segs.p + segs.at;
		ec->len = segs.end - segs.at;
		ec->vlen = 0;
		if (!econtent_each(ec, seg_count, &ec->vlen))
			return -1;
	} else if (take(&x, 0x04, &ec->p, &ec->len, NULL) != 0) {
		return -1;
	} else {
		ec->vlen = ec->len;
	}
	return x.at == x.end ? 0 : -1;
}

/*
 * ContentInfo { signedData, [0] SignedData { version, digestAlgorithms,
 * encapContentInfo { id-data, eContent }, signerInfos SET { one } } },
 * with neither certificates (cut out) nor CRLs left; eContent absent
 * (detached) when ec is NULL, else present and read into ec.
 */
static int
read_signed_data(const unsigned char *der, size_t n, struct signer_info *si,
		 struct econtent *ec)
{
	struct walk top = {der, 0, n}, ci, x, sd, encap, set;
	const unsigned char *s;
	size_t len;
	unsigned mds;

	if (enter(&top, 0x30, &ci) != 0 ||
	    take(&ci, 0x06, &s, &len, NULL) != 0 ||
	    !oid_is(s, len, oid_signed, sizeof(oid_signed)) ||
	    enter(&ci, 0xa0, &x) != 0 || ci.at != ci.end ||
	    enter(&x, 0x30, &sd) != 0 || x.at != x.end)
		return -1;
	if (take(&sd, 0x02, &s, &len, NULL) != 0 || len != 1 ||
	    digest_algs(&sd, &mds) != 0 ||
	    enter(&sd, 0x30, &encap) != 0 ||
	    take(&encap, 0x06, &s, &len, NULL) != 0 ||
	    !oid_is(s, len, oid_data, sizeof(oid_data)) ||
	    (ec != NULL && read_econtent(&encap, ec) != 0) ||
	    encap.at != encap.end || enter(&sd, 0x31, &set) != 0 ||
	    sd.at != sd.end)
		return -1;
	if (ec != NULL)
		ec->used = top.at;
	return read_signer_info(&set, si) == 0 && set.at == set.end &&
		       (mds & (1u << si->md))
		   ? 0
		   : -1;
}

/* ---- the signer -------------------------------------------------------- */

/* 1: x is the signer, 0: it is not, -1: it may be (a serial that
 * matches under an issuer encoded otherwise) and only X509_NAME_cmp()
 * could tell. */
static int
is_signer(X509 *x, const struct signer_info *si)
{
	const ASN1_OCTET_STRING *ski;
	const unsigned char *name;
	unsigned char sn[64], *p = sn;
	size_t nlen;
	int len;

	if (si->keyid) {
		ski = X509_get0_subject_key_id(x);
		return ski != NULL &&
		       (size_t)ASN1_STRING_length(ski) == si->skilen &&
		       memcmp(ASN1_STRING_get0_data(ski), si->ski,
			      si->skilen) == 0;
	}
	len = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), NULL);
	if (len <= 0 || (size_t)len > sizeof(sn))
		return si->slen > sizeof(sn) ? -1 : 0;
	if (i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &p) != len ||
	    (size_t)len != si->slen || memcmp(sn, si->serial, si->slen) != 0)
		return 0;
	if (!X509_NAME_get0_der(X509_get_issuer_name(x), &name, &nlen))
		return -1;
	return nlen == si->ilen && memcmp(name, si->issuer, nlen) == 0 ? 1
								       : -1;
}

/* The signer's certificate, as CMS_set1_signers_certs() finds it. */
static X509 *
find_signer(STACK_OF(X509) *extra, STACK_OF(X509) *certs,
	    const struct signer_info *si)
{
	STACK_OF(X509) *in[2] = {extra, certs};
	int i, j, r;

	for (i = 0; i < 2; i++)
		for (j = 0; j < sk_X509_num(in[i]); j++) {
			r = is_signer(sk_X509_value(in[i], j), si);
			if (r != 0)
				return r > 0 ? sk_X509_value(in[i], j) : NULL;
		}
	return NULL;
}

/*
 * Seconds since 1970 of a certificate time in the one form each type
 * has in X509_cmp_time() (YYMMDDHHMMSSZ, YYYYMMDDHHMMSSZ), in *secs; 0
 * for anything else.  The days from the civil date, as in Howard
 * Hinnant's days_from_civil (public domain arithmetic).
 */
static int
cert_time(const ASN1_TIME *t, long long *secs)
{
	int len = ASN1_STRING_length(t), type = ASN1_STRING_type(t), i;
	const unsigned char *d = ASN1_STRING_get0_data(t);
	long long y, m, era, yoe, doy, doe;
	struct tm tm;

	if (!((type == V_ASN1_UTCTIME && len == 13) ||
	      (type == V_ASN1_GENERALIZEDTIME && len == 15)) ||
	    d[len - 1] != 'Z')
		return 0;
	for (i = 0; i < len - 1; i++)
		if (d[i] < '0' || d[i] > '9')
			return 0;
	if (!ASN1_TIME_to_tm(t, &tm))
		return 0;
	y = (long long)tm.tm_year + 1900;
	m = tm.tm_mon + 1;
	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + tm.tm_mday - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	*secs = ((era * 146097 + doe - 719468) * 86400) + tm.tm_hour * 3600 +
		tm.tm_min * 60 + tm.tm_sec;
	return 1;
}

/* Whether every certificate of the chain is valid at now: notBefore <=
 * now < notAfter, as check_cert_time() in OpenSSL has it. */
static int
chain_times_ok(STACK_OF(X509) *chain, time_t now)
{
	long long nb, na;
	X509 *x;
	int i;

	for (i = 0; i < sk_X509_num(chain); i++) {
		x = sk_X509_value(chain, i);
		if (!cert_time(X509_get0_notBefore(x), &nb) ||
		    !cert_time(X509_get0_notAfter(x), &na) ||
		    nb > (long long)now || na <= (long long)now)
			return 0;
	}
	return sk_X509_num(chain) > 0;
}

/*
 * What cms_signerinfo_verify_cert() does for CMS_verify(), but for the
 * validity times: OpenSSL turns the time into an ASN1_TIME and back, a
 * lock in gmtime_r() and all, twice per certificate (a tenth of a small
 * message's check).  The chain is built without them and every
 * certificate of it checked here, to the second, against the same time.
 * Without the times OpenSSL takes the first issuer that fits where it
 * would skip one out of its time for another: that chain then fails
 * here and goes to CMS_verify(), which finds the other.
 */
static int
chain_ok(X509_STORE *trust, X509 *signer, STACK_OF(X509) *certs)
{
	X509_STORE_CTX *ctx;
	X509_VERIFY_PARAM *vp;
	unsigned long fl;
	time_t now;
	int ok = 0;

	if ((ctx = X509_STORE_CTX_new()) == NULL)
		return 0;
	if (X509_STORE_CTX_init(ctx, trust, signer, certs) &&
	    X509_STORE_CTX_set_default(ctx, "smime_sign")) {
		vp = X509_STORE_CTX_get0_param(ctx);
		fl = X509_VERIFY_PARAM_get_flags(vp);
		now = fl & X509_V_FLAG_USE_CHECK_TIME
			  ? X509_VERIFY_PARAM_get_time(vp)
			  : time(NULL);
		if (X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_NO_CHECK_TIME))
			ok = X509_verify_cert(ctx) > 0 &&
			     ((fl & X509_V_FLAG_NO_CHECK_TIME) ||
			      chain_times_ok(X509_STORE_CTX_get0_chain(ctx),
					     now));
	}
	X509_STORE_CTX_free(ctx);
	return ok;
}

static int
digest_piece(void *arg, const unsigned char *p, size_t n)
{
	return EVP_DigestUpdate(arg, p, n);
}

/* The content's digest against messageDigest, then the signature over
 * the attributes' DER as a SET (RFC 5652, 5.4). */
static int
signature_ok(const struct signer_info *si, EVP_PKEY *pk,
	     const struct econtent *ec)
{
	const EVP_MD *md = md_fetched[si->md];
	unsigned char h[EVP_MAX_MD_SIZE];
	static const unsigned char set_tag = 0x31;
	unsigned int hlen;
	EVP_MD_CTX *mc = NULL;
	EVP_PKEY_CTX *pc = NULL;
	int ok = 0, kept;

	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA)
		return 0;
	/* One context for both digests: the content's, piece by piece
	 * (one piece unless BER's segments), then the attributes'. */
	if ((mc = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestInit_ex(mc, md, NULL) ||
	    !econtent_each(ec, digest_piece, mc) ||
	    !EVP_DigestFinal_ex(mc, h, &hlen) || hlen != si->dlen ||
	    memcmp(h, si->digest, hlen) != 0)
		goto out;
	if (!EVP_DigestInit_ex(mc, md, NULL) ||
	    !EVP_DigestUpdate(mc, &set_tag, 1) ||
	    !EVP_DigestUpdate(mc, si->attrs + 1, si->alen - 1) ||
	    !EVP_DigestFinal_ex(mc, h, &hlen))
		goto out;
	if ((pc = pctx_get(pk, si->md, &kept)) == NULL)
		goto out;
	ok = EVP_PKEY_verify(pc, si->sig, si->siglen, h, hlen) == 1;
	if (!kept)
		EVP_PKEY_CTX_free(pc);
out:
	EVP_MD_CTX_free(mc);
	return ok;
}

/* Signatures passed here, process-wide (smime_sigcheck_passed()). */
static _Atomic unsigned long passed;

/* smime_sigcheck() and smime_sigcheck_opaque(): the content given in
 * ec (detached, opaque 0) or read from the DER into it (opaque 1). */
static int
sigcheck(const unsigned char *der, size_t n, STACK_OF(X509) *certs,
	 struct econtent *ec, int opaque, X509_STORE *trust,
	 STACK_OF(X509) *extra, X509 **signer)
{
	struct signer_info si;
	EVP_PKEY *pk;
	X509 *x;
	int ok;

	*signer = NULL;
	pthread_once(&md_once, md_init);
	if (trust == NULL ||
	    read_signed_data(der, n, &si, opaque ? ec : NULL) != 0 ||
	    (x = find_signer(extra, certs, &si)) == NULL ||
	    (pk = X509_get0_pubkey(x)) == NULL)
		ok = 0;
	else
		ok = signature_ok(&si, pk, ec) && chain_ok(trust, x, certs) &&
		     X509_up_ref(x);
	/* What failed is CMS_verify()'s to say (looking is cheaper than
	 * clearing an empty queue). */
	if (ERR_peek_error() != 0)
		ERR_clear_error();
	if (ok) {
		*signer = x;
		passed++;
	}
	return ok;
}

unsigned long
smime_sigcheck_passed(void)
{
	return passed;
}

int
smime_sigcheck(const unsigned char *der, size_t n, STACK_OF(X509) *certs,
	       const unsigned char *content, size_t clen, X509_STORE *trust,
	       STACK_OF(X509) *extra, X509 **signer)
{
	struct econtent ec = {content, clen, 0, clen, 0};

	return sigcheck(der, n, certs, &ec, 0, trust, extra, signer);
}

/* Moves a segment's value to *arg, the end of those moved before. */
static int
seg_join(void *arg, const unsigned char *p, size_t n)
{
	unsigned char **to = arg;

	memmove(*to, p, n);
	*to += n;
	return 1;
}

int
smime_sigcheck_opaque(unsigned char *der, size_t n, STACK_OF(X509) *certs,
		      X509_STORE *trust, STACK_OF(X509) *extra,
		      X509 **signer, const unsigned char **content,
		      size_t *clen, size_t *used)
{
	struct econtent ec;
	unsigned char *to;

	if (!sigcheck(der, n, certs, &ec, 1, trust, extra, signer))
		return 0;
	if (ec.segs) {
		/* The values move down over the headers before them,
		 * from the first segment's header on: what is written
		 * never reaches the next header still to be read. */
		to = der + (ec.p - der);
		*content = to;
		econtent_each(&ec, seg_join, &to);
	} else {
		*content = ec.p;
	}
	*clen = ec.vlen;
	*used = ec.used;
	return 1;
}
