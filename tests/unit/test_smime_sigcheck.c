/*
 * test_smime_sigcheck.c - gateway/smime/smime_sigcheck.c: the common
 * signature, detached or opaque, passes, everything else is left to CMS_verify()
 * (issue 11), and nothing passes that CMS_verify() refuses: every byte
 * of a signature flipped, each result compared with CMS_verify() on the
 * same bytes.  Signatures are made with CMS_sign() by a software key
 * that a CA made for the run issued; the certificates are handed in
 * beside the DER, as smime_open.c hands them after its cut.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "gw_buf.h"
#include "smime_der.h"
#include "smime_sigcheck.h"
#include "unit_x509.h"

static EVP_PKEY *ca_key, *key, *ec_key;
static X509 *ca, *cert, *ec_cert, *twin;
static X509_STORE *trust;

static const char content[] =
    "Content-Type: text/plain\r\n\r\nThe signed text.\r\n";

/* ---- fixtures ---------------------------------------------------------- */

/* A certificate for k named cn, serial sn, issued by issuer (itself
 * when NULL, then a CA) with issuer_key. */
static X509 *
make_cert(EVP_PKEY *k, const char *cn, long sn, X509 *issuer,
	  EVP_PKEY *issuer_key)
{
	X509 *x = unit_cert_new(k, cn, sn, issuer);
	int ok;

	if (x == NULL)
		return NULL;
	ok = unit_add_ext(x, issuer ? issuer : x, NID_subject_key_identifier,
			  "hash");
	if (ok && issuer == NULL)
		ok = unit_add_ext(x, x, NID_basic_constraints,
				  "critical,CA:TRUE") &&
		     unit_add_ext(x, x, NID_key_usage, "critical,keyCertSign");
	else if (ok)
		ok = unit_add_ext(x, issuer, NID_key_usage,
				  "critical,digitalSignature") &&
		     unit_add_ext(x, issuer, NID_ext_key_usage,
				  "emailProtection") &&
		     unit_add_ext(x, issuer, NID_subject_alt_name,
				  "email:unit@unit.example");
	if (!ok || X509_sign(x, issuer_key, EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int
setup(void **state)
{
	EVP_PKEY *other_key;
	X509 *other_ca;

	(void)state;
	if ((ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)) ==
		NULL ||
	    (key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)) ==
		NULL ||
	    (ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    (ca = make_cert(ca_key, "unit CA", 1, NULL, ca_key)) == NULL ||
	    (cert = make_cert(key, "unit", 7, ca, ca_key)) == NULL ||
	    (ec_cert = make_cert(ec_key, "unit ec", 8, ca, ca_key)) == NULL ||
	    (trust = X509_STORE_new()) == NULL ||
	    !X509_STORE_add_cert(trust, ca))
		return -1;
	/* Serial 7 again, from another CA: not the signer, but only the
	 * issuer's name tells it apart. */
	other_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	other_ca = other_key ? make_cert(other_key, "other CA", 1, NULL,
					 other_key)
			     : NULL;
	twin = other_ca ? make_cert(key, "twin", 7, other_ca, other_key)
			: NULL;
	X509_free(other_ca);
	EVP_PKEY_free(other_key);
	return twin != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ec_key);
	X509_free(ca);
	X509_free(cert);
	X509_free(ec_cert);
	X509_free(twin);
	X509_STORE_free(trust);
	return 0;
}

/* ---- signatures --------------------------------------------------------- */

struct sig {
	unsigned char *der;
	size_t n;
};

/*
 * A detached signature of content by x (key k) with digest md (NULL:
 * the default), flags added to CMS_DETACHED | CMS_BINARY | CMS_NOCERTS
 * (CMS_NOCERTS left out when carry); pss: RSA-PSS; unsigned_attr: a
 * signingTime added unsigned after the signature.
 */
static struct sig
sign_as(X509 *x, EVP_PKEY *k, const EVP_MD *md, unsigned flags, int carry,
	int pss, int unsigned_attr)
{
	unsigned base = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL;
	struct sig s = {NULL, 0};
	CMS_ContentInfo *cms;
	CMS_SignerInfo *si;
	BIO *in;
	int len;

	if (!carry)
		base |= CMS_NOCERTS;
	in = BIO_new_mem_buf(content, (int)strlen(content));
	cms = CMS_sign(NULL, NULL, NULL, NULL, base | flags);
	assert_non_null(in);
	assert_non_null(cms);
	si = CMS_add1_signer(cms, x, k, md,
			     (base | flags | (pss ? CMS_KEY_PARAM : 0)) &
				 ~CMS_PARTIAL);
	assert_non_null(si);
	if (pss)
		assert_true(EVP_PKEY_CTX_set_rsa_padding(
				CMS_SignerInfo_get0_pkey_ctx(si),
				RSA_PKCS1_PSS_PADDING) > 0);
	assert_true(CMS_final(cms, in, NULL, base | flags));
	if (unsigned_attr)
		assert_true(CMS_unsigned_add1_attr_by_NID(
		    si, NID_pkcs9_unstructuredName, V_ASN1_IA5STRING, "x",
		    1));
	len = i2d_CMS_ContentInfo(cms, &s.der);
	assert_true(len > 0);
	s.n = (size_t)len;
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	return s;
}

static struct sig
sign_plain(unsigned flags)
{
	return sign_as(cert, key, NULL, flags, 0, 0, 0);
}

static STACK_OF(X509) *
certs_of(X509 *a, X509 *b)
{
	STACK_OF(X509) *sk = sk_X509_new_null();

	assert_non_null(sk);
	if (a != NULL)
		assert_true(sk_X509_push(sk, a));
	if (b != NULL)
		assert_true(sk_X509_push(sk, b));
	return sk;
}

/* smime_sigcheck() on s over text; 1 also checks the signer found. */
static int
check(const struct sig *s, const char *text, STACK_OF(X509) *certs,
      STACK_OF(X509) *extra, X509 *want)
{
	X509 *signer = NULL;
	int r;

	r = smime_sigcheck(s->der, s->n, certs, (const unsigned char *)text,
			   strlen(text), trust, extra, &signer);
	if (r == 1) {
		assert_ptr_equal(signer, want);
		X509_free(signer);
	} else {
		assert_null(signer);
	}
	assert_int_equal(ERR_peek_error(), 0);
	return r;
}

/* What CMS_verify() says of the same bytes, the certificates put back. */
static int
cms_verify(const unsigned char *der, size_t n, STACK_OF(X509) *certs,
	   const char *text, size_t tlen)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)n);
	BIO *in;
	int i, ok = 0;

	if (cms != NULL) {
		for (i = 0; i < sk_X509_num(certs); i++)
			CMS_add1_cert(cms, sk_X509_value(certs, i));
		in = BIO_new_mem_buf(text, (int)tlen);
		ok = CMS_verify(cms, NULL, trust, in, NULL, CMS_BINARY) == 1;
		BIO_free(in);
	}
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return ok;
}

/* ---- cases --------------------------------------------------------------- */

static void
common_kind_passes(void **state)
{
	STACK_OF(X509) *certs = certs_of(ca, cert), *extra = certs_of(cert, NULL);
	struct sig s = sign_plain(0), kid = sign_plain(CMS_USE_KEYID);
	struct sig s384 = sign_as(cert, key, EVP_sha384(), 0, 0, 0, 0);
	struct sig s512 = sign_as(cert, key, EVP_sha512(), 0, 0, 0, 0);

	(void)state;
	assert_int_equal(check(&s, content, certs, NULL, cert), 1);
	assert_int_equal(check(&kid, content, certs, NULL, cert), 1);
	assert_int_equal(check(&s384, content, certs, NULL, cert), 1);
	assert_int_equal(check(&s512, content, certs, NULL, cert), 1);
	/* The signer's certificate known, not carried. */
	assert_int_equal(check(&s, content, NULL, extra, cert), 1);
	/* Twice the same: the second time from the thread's context. */
	assert_int_equal(check(&s, content, certs, NULL, cert), 1);
	OPENSSL_free(s.der);
	OPENSSL_free(kid.der);
	OPENSSL_free(s384.der);
	OPENSSL_free(s512.der);
	sk_X509_free(certs);
	sk_X509_free(extra);
}

static void
failures_left_to_cms_verify(void **state)
{
	STACK_OF(X509) *certs = certs_of(cert, NULL), *none = certs_of(NULL,
								       NULL);
	X509_STORE *saved = trust;
	struct sig s = sign_plain(0);

	(void)state;
	/* The content altered. */
	assert_int_equal(check(&s, "Content-Type: text/plain\r\n\r\nThe "
				   "signed text!\r\n",
			       certs, NULL, NULL),
			 0);
	/* No certificate for the signer. */
	assert_int_equal(check(&s, content, none, NULL, NULL), 0);
	assert_int_equal(check(&s, content, NULL, NULL, NULL), 0);
	/* A chain to nothing trusted. */
	trust = X509_STORE_new();
	assert_non_null(trust);
	assert_int_equal(check(&s, content, certs, NULL, NULL), 0);
	X509_STORE_free(trust);
	trust = saved;
	/* The signature damaged: its last byte. */
	s.der[s.n - 1] ^= 1;
	assert_int_equal(check(&s, content, certs, NULL, NULL), 0);
	OPENSSL_free(s.der);
	sk_X509_free(certs);
	sk_X509_free(none);
}

static void
other_kinds_left_to_cms_verify(void **state)
{
	STACK_OF(X509) *certs = certs_of(cert, NULL);
	STACK_OF(X509) *ec = certs_of(ec_cert, NULL);
	struct sig k[6];
	size_t i;

	(void)state;
	k[0] = sign_plain(CMS_NOATTR);			/* no signed attrs */
	k[1] = sign_as(cert, key, NULL, 0, 1, 0, 0);	/* certs not cut */
	k[2] = sign_as(cert, key, EVP_sha1(), 0, 0, 0, 0);
	k[3] = sign_as(cert, key, NULL, 0, 0, 1, 0);	/* RSA-PSS */
	k[4] = sign_as(cert, key, NULL, 0, 0, 0, 1);	/* unsigned attrs */
	k[5] = sign_as(ec_cert, ec_key, NULL, 0, 0, 0, 0);
	for (i = 0; i < 6; i++) {
		assert_int_equal(check(&k[i], content, i == 5 ? ec : certs,
				       NULL, NULL),
				 0);
		/* ... which passes each of them. */
		assert_int_equal(cms_verify(k[i].der, k[i].n,
					    i == 5 ? ec : certs, content,
					    strlen(content)),
				 1);
		OPENSSL_free(k[i].der);
	}
	sk_X509_free(certs);
	sk_X509_free(ec);
}

static void
two_signers_left_to_cms_verify(void **state)
{
	STACK_OF(X509) *certs = certs_of(cert, ec_cert);
	unsigned flags = CMS_DETACHED | CMS_BINARY | CMS_NOCERTS;
	CMS_ContentInfo *cms;
	struct sig s = {NULL, 0};
	BIO *in = BIO_new_mem_buf(content, (int)strlen(content));
	int len;

	(void)state;
	cms = CMS_sign(NULL, NULL, NULL, NULL, flags | CMS_PARTIAL);
	assert_non_null(cms);
	assert_non_null(CMS_add1_signer(cms, cert, key, NULL, flags));
	assert_non_null(CMS_add1_signer(cms, ec_cert, ec_key, NULL, flags));
	assert_true(CMS_final(cms, in, NULL, flags));
	len = i2d_CMS_ContentInfo(cms, &s.der);
	assert_true(len > 0);
	s.n = (size_t)len;
	assert_int_equal(check(&s, content, certs, NULL, NULL), 0);
	assert_int_equal(cms_verify(s.der, s.n, certs, content,
				    strlen(content)),
			 1);
	OPENSSL_free(s.der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	sk_X509_free(certs);
}

/* A certificate that shares the signer's serial under another issuer
 * name comes first: X509_NAME_cmp() alone could tell, so no pass. */
static void
same_serial_first_left_to_cms_verify(void **state)
{
	STACK_OF(X509) *certs = certs_of(cert, NULL);
	STACK_OF(X509) *extra = certs_of(twin, NULL);
	STACK_OF(X509) *after = certs_of(cert, twin);
	struct sig s = sign_plain(0);

	(void)state;
	assert_int_equal(check(&s, content, certs, extra, NULL), 0);
	/* After the signer, it is never looked at. */
	assert_int_equal(check(&s, content, after, NULL, cert), 1);
	OPENSSL_free(s.der);
	sk_X509_free(certs);
	sk_X509_free(extra);
	sk_X509_free(after);
}

/* A copy of x valid from now + nb to now + na (seconds), signed again
 * by k. */
static X509 *
retimed(X509 *x, long nb, long na, EVP_PKEY *k)
{
	X509 *y = X509_dup(x);

	assert_non_null(y);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(y), nb));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(y), na));
	assert_true(X509_sign(y, k, EVP_sha256()) > 0);
	return y;
}

/*
 * The validity times are checked here, not by OpenSSL: a signer or a
 * CA out of its time, now or at the time the store is set to, never
 * passes, and CMS_verify() agrees on each case.
 */
static void
times_as_openssl_has_them(void **state)
{
	static const struct {
		long nb, na;	/* the signer's */
		int ca_expired;
		long at;	/* the store's time, from now (0: none) */
		int want;
	} c[] = {
	    {-3600, 86400, 0, 0, 1},
	    {-3600, -1, 0, 0, 0},	/* expired a second ago */
	    {60, 86400, 0, 0, 0},	/* not yet valid */
	    {-3600, 86400, 1, 0, 0},	/* its CA expired */
	    {-3600, 86400, 0, -7200, 0}, /* before it */
	    {-3600, 86400, 0, 3600, 1},
	    {-3600, 86400, 0, 86400 + 10, 0},
	};
	X509_STORE *saved = trust;
	X509 *old_ca = NULL, *x;
	STACK_OF(X509) *certs;
	struct sig s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		x = retimed(cert, c[i].nb, c[i].na, ca_key);
		trust = X509_STORE_new();
		assert_non_null(trust);
		if (c[i].ca_expired) {
			old_ca = retimed(ca, -7200, -60, ca_key);
			assert_true(X509_STORE_add_cert(trust, old_ca));
		} else {
			assert_true(X509_STORE_add_cert(trust, ca));
		}
		if (c[i].at != 0)
			X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(trust),
						   time(NULL) + c[i].at);
		certs = certs_of(x, NULL);
		s = sign_as(x, key, NULL, 0, 0, 0, 0);
		if (check(&s, content, certs, NULL, x) != c[i].want)
			fail_msg("case %zu: sigcheck %d", i, !c[i].want);
		assert_int_equal(cms_verify(s.der, s.n, certs, content,
					    strlen(content)),
				 c[i].want);
		OPENSSL_free(s.der);
		sk_X509_free(certs);
		X509_free(x);
		X509_free(old_ca);
		old_ca = NULL;
		X509_STORE_free(trust);
	}
	trust = saved;
}

/*
 * Every byte of the signature, and of the content, flipped (two ways):
 * whatever passes here CMS_verify() passes on the same bytes.
 */
static void
never_passes_what_cms_verify_refuses(void **state)
{
	STACK_OF(X509) *certs = certs_of(cert, NULL);
	struct sig s = sign_plain(0), m;
	char text[sizeof(content)];
	static const unsigned char flips[] = {0x01, 0x80};
	size_t i, f, passed = 0;
	X509 *signer;
	int r;

	(void)state;
	m.der = OPENSSL_malloc(s.n);
	assert_non_null(m.der);
	m.n = s.n;
	for (i = 0; i < s.n; i++)
		for (f = 0; f < sizeof(flips); f++) {
			memcpy(m.der, s.der, s.n);
			m.der[i] ^= flips[f];
			signer = NULL;
			r = smime_sigcheck(m.der, m.n, certs,
					   (const unsigned char *)content,
					   strlen(content), trust, NULL,
					   &signer);
			X509_free(signer);
			if (r != 1)
				continue;
			passed++;
			if (!cms_verify(m.der, m.n, certs, content,
					strlen(content)))
				print_message("byte %zu (%02x) ^ %02x passed\n",
					      i, s.der[i], flips[f]);
			assert_int_equal(cms_verify(m.der, m.n, certs, content,
						    strlen(content)),
					 1);
		}
	for (i = 0; i < strlen(content); i++) {
		memcpy(text, content, sizeof(content));
		text[i] ^= 0x20;
		assert_int_equal(check(&s, text, certs, NULL, NULL), 0);
	}
	/* A flip of what nothing signs or checks (the SignedData's
	 * version) passes both. */
	print_message("%zu of %zu flips pass both\n", passed, 2 * s.n);
	OPENSSL_free(m.der);
	OPENSSL_free(s.der);
	sk_X509_free(certs);
}

/* ---- opaque signatures ------------------------------------------------- */

/* An opaque signature of content by cert (CMS_NOCERTS): DER, or with
 * streamed, BER as a streaming encoder writes it (indefinite lengths,
 * the content in a constructed OCTET STRING). */
static struct sig
sign_opaque(int streamed)
{
	unsigned flags = CMS_BINARY | CMS_NOCERTS | (streamed ? CMS_STREAM : 0);
	struct sig s = {NULL, 0};
	CMS_ContentInfo *cms;
	BIO *in = BIO_new_mem_buf(content, (int)strlen(content));
	BIO *out = BIO_new(BIO_s_mem());
	char *p;
	long len;

	assert_non_null(in);
	assert_non_null(out);
	cms = CMS_sign(cert, key, NULL, in, flags);
	assert_non_null(cms);
	if (streamed)
		assert_true(i2d_CMS_bio_stream(out, cms, in, flags));
	else
		assert_true(i2d_CMS_bio(out, cms));
	len = BIO_get_mem_data(out, &p);
	assert_true(len > 0);
	s.der = OPENSSL_malloc((size_t)len);
	assert_non_null(s.der);
	memcpy(s.der, p, (size_t)len);
	s.n = (size_t)len;
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	BIO_free(out);
	return s;
}

/* smime_sigcheck_opaque() on a copy of s (which it may change): 1 also
 * checks the signer, that nothing from *used on changed, and gives the
 * content found in c (reset first) and the object's length in *used. */
static int
check_opaque(const struct sig *s, STACK_OF(X509) *certs, X509 *want,
	     struct gw_buf *c, size_t *used)
{
	const unsigned char *p = NULL;
	unsigned char *m = OPENSSL_malloc(s->n);
	X509 *signer = NULL;
	size_t clen = 0;
	int r;

	assert_non_null(m);
	memcpy(m, s->der, s->n);
	gw_buf_reset(c);
	r = smime_sigcheck_opaque(m, s->n, certs, trust, NULL, &signer, &p,
				  &clen, used);
	if (r == 1) {
		assert_ptr_equal(signer, want);
		X509_free(signer);
		assert_true(p >= m && clen <= *used && *used <= s->n);
		assert_memory_equal(m + *used, s->der + *used, s->n - *used);
		assert_int_equal(gw_buf_add(c, p, clen), 0);
	} else {
		assert_null(signer);
	}
	assert_int_equal(ERR_peek_error(), 0);
	OPENSSL_free(m);
	return r;
}

/* CMS_verify() of an opaque signature, the certificates put back: 1
 * and what it writes out in *got (freed by the caller), or 0. */
static int
cms_verify_opaque(const unsigned char *der, size_t n, STACK_OF(X509) *certs,
		  BIO **got)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)n);
	int i, ok = 0;

	*got = BIO_new(BIO_s_mem());
	assert_non_null(*got);
	if (cms != NULL) {
		for (i = 0; i < sk_X509_num(certs); i++)
			CMS_add1_cert(cms, sk_X509_value(certs, i));
		ok = CMS_verify(cms, NULL, trust, NULL, *got, CMS_BINARY) == 1;
	}
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return ok;
}

/* The common kind passes with its content given out, DER and BER
 * (segments); a detached check of it, an opaque check of a detached
 * one, and bytes after the object, each as the text says. */
static void
opaque_common_kind_passes(void **state)
{
	STACK_OF(X509) *certs = certs_of(cert, NULL);
	struct sig s = sign_opaque(0), ber = sign_opaque(1), det = sign_plain(0);
	struct sig tail;
	struct gw_buf c;
	size_t used = 0;

	(void)state;
	gw_buf_init(&c, 1 << 20);
	assert_int_equal(check_opaque(&s, certs, cert, &c, &used), 1);
	assert_int_equal(c.len, strlen(content));
	assert_memory_equal(c.data, content, c.len);
	assert_int_equal(used, s.n);
	assert_int_equal(check_opaque(&ber, certs, cert, &c, &used), 1);
	assert_int_equal(c.len, strlen(content));
	assert_memory_equal(c.data, content, c.len);
	assert_int_equal(used, ber.n);
	/* The same object is not a detached signature, nor the other way. */
	assert_int_equal(check(&s, content, certs, NULL, NULL), 0);
	assert_int_equal(check_opaque(&det, certs, NULL, &c, &used), 0);
	/* Bytes after the object: a pass, and used says where it ends. */
	tail.n = s.n + 3;
	tail.der = OPENSSL_malloc(tail.n);
	assert_non_null(tail.der);
	memcpy(tail.der, s.der, s.n);
	memcpy(tail.der + s.n, "abc", 3);
	assert_int_equal(check_opaque(&tail, certs, cert, &c, &used), 1);
	assert_int_equal(used, s.n);
	OPENSSL_free(tail.der);
	OPENSSL_free(s.der);
	OPENSSL_free(ber.der);
	OPENSSL_free(det.der);
	sk_X509_free(certs);
	gw_buf_free(&c);
}

/* The header of the DER element at p (before end, smime_der.h's
 * walk): its content's length in *len, the header's length returned. */
static size_t
der_head(const unsigned char *p, const unsigned char *end, size_t *len)
{
	struct der d;

	assert_int_equal(der_hdr(p, (size_t)(end - p), &d), 0);
	*len = d.len;
	return d.hlen;
}

/* The whole element at p: its length. */
static size_t
der_el(const unsigned char *p, const unsigned char *end)
{
	size_t len, h = der_head(p, end, &len);

	return h + len;
}

static void
ber_open(struct gw_buf *b, unsigned char tag)
{
	unsigned char h[2] = {tag, 0x80};

	gw_buf_add(b, h, 2);
}

static void
ber_close(struct gw_buf *b)
{
	gw_buf_add(b, "\0\0", 2);
}

/*
 * The opaque DER signature s again, as a streaming encoder would write
 * it: every wrapper indefinite, the content in segments of cut bytes
 * (the last one shorter), inside a second constructed string when
 * nested.
 */
static void
to_ber(const struct sig *s, size_t cut, int nested, struct gw_buf *b)
{
	const unsigned char *p = s->der, *end = s->der + s->n, *sd, *sd_end, *v;
	size_t len, vlen, i, k;
	unsigned char h[6];

	gw_buf_reset(b);
	p += der_head(p, end, &len);			/* ContentInfo */
	ber_open(b, 0x30);
	gw_buf_add(b, p, der_el(p, end));		/* signedData OID */
	p += der_el(p, end);
	p += der_head(p, end, &len);			/* [0] */
	ber_open(b, 0xa0);
	sd = p + der_head(p, end, &len);		/* SignedData */
	sd_end = sd + len;
	ber_open(b, 0x30);
	p = sd;
	for (i = 0; i < 2; i++) {		/* version, digestAlgorithms */
		gw_buf_add(b, p, der_el(p, end));
		p += der_el(p, end);
	}
	p += der_head(p, end, &len);			/* encapContentInfo */
	ber_open(b, 0x30);
	gw_buf_add(b, p, der_el(p, end));		/* id-data */
	p += der_el(p, end);
	p += der_head(p, end, &len);			/* [0] eContent */
	ber_open(b, 0xa0);
	v = p + der_head(p, end, &vlen);		/* OCTET STRING */
	ber_open(b, 0x24);
	if (nested)
		ber_open(b, 0x24);
	for (i = 0; i < vlen; i += k) {
		k = vlen - i < cut ? vlen - i : cut;
		gw_buf_add(b, h, der_put_hdr(h, 0x04, k));
		gw_buf_add(b, v + i, k);
	}
	if (nested)
		ber_close(b);
	ber_close(b);				/* the string */
	ber_close(b);				/* [0] */
	ber_close(b);				/* encapContentInfo */
	p = v + vlen;
	gw_buf_add(b, p, (size_t)(sd_end - p));	/* signerInfos */
	ber_close(b);				/* SignedData */
	ber_close(b);				/* [0] */
	ber_close(b);				/* ContentInfo */
}

/* Segments of 1, 7, 200 and 4096 bytes (one, then): the value is the
 * segments joined, what CMS_verify() writes; a nested constructed
 * string is left to CMS_verify(). */
static void
opaque_segments_joined(void **state)
{
	STACK_OF(X509) *certs = certs_of(cert, NULL);
	struct sig s = sign_opaque(0), m;
	static const size_t cut[] = {1, 7, 200, 4096};
	struct gw_buf ber, c;
	size_t i, used;
	char *out;
	long olen;
	BIO *got;

	(void)state;
	gw_buf_init(&ber, 1 << 20);
	gw_buf_init(&c, 1 << 20);
	for (i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		to_ber(&s, cut[i], 0, &ber);
		m.der = ber.data;
		m.n = ber.len;
		assert_int_equal(check_opaque(&m, certs, cert, &c, &used), 1);
		assert_int_equal(used, m.n);
		assert_int_equal(cms_verify_opaque(m.der, m.n, certs, &got), 1);
		olen = BIO_get_mem_data(got, &out);
		assert_int_equal((size_t)olen, c.len);
		assert_memory_equal(out, c.data, c.len);
		assert_memory_equal(c.data, content, strlen(content));
		BIO_free(got);
	}
	to_ber(&s, 7, 1, &ber);
	m.der = ber.data;
	m.n = ber.len;
	assert_int_equal(check_opaque(&m, certs, NULL, &c, &used), 0);
	gw_buf_free(&ber);
	gw_buf_free(&c);
	OPENSSL_free(s.der);
	sk_X509_free(certs);
}

/*
 * Every byte of an opaque signature flipped (two ways), its content
 * included, DER and BER: whatever passes here CMS_verify() passes on
 * the same bytes, and writes out exactly the content given out here.
 */
static void
opaque_never_passes_what_cms_verify_refuses(void **state)
{
	STACK_OF(X509) *certs = certs_of(cert, NULL);
	struct sig s = sign_opaque(0), b, m;
	static const unsigned char flips[] = {0x01, 0x80};
	struct gw_buf ber, c;
	size_t i, f, used, passed = 0, k;
	char *out;
	long olen;
	BIO *got;
	int ok;

	(void)state;
	gw_buf_init(&ber, 1 << 20);
	gw_buf_init(&c, 1 << 20);
	to_ber(&s, 7, 0, &ber);
	for (k = 0; k < 2; k++) {
		/* DER, then BER in segments of 7 bytes. */
		b.der = k == 0 ? s.der : ber.data;
		b.n = k == 0 ? s.n : ber.len;
		m.der = OPENSSL_malloc(b.n);
		assert_non_null(m.der);
		m.n = b.n;
		for (i = 0; i < b.n; i++)
			for (f = 0; f < sizeof(flips); f++) {
				memcpy(m.der, b.der, b.n);
				m.der[i] ^= flips[f];
				if (check_opaque(&m, certs, cert, &c, &used) !=
				    1)
					continue;
				passed++;
				ok = cms_verify_opaque(m.der, m.n, certs, &got);
				if (!ok)
					print_message("%s byte %zu (%02x) ^ "
						      "%02x passed\n",
						      k ? "BER" : "DER", i,
						      b.der[i], flips[f]);
				assert_int_equal(ok, 1);
				olen = BIO_get_mem_data(got, &out);
				assert_int_equal((size_t)olen, c.len);
				assert_memory_equal(out, c.data, c.len);
				BIO_free(got);
			}
		print_message("%s: %zu of %zu flips pass both\n",
			      k ? "BER" : "DER", passed, 2 * b.n);
		passed = 0;
		OPENSSL_free(m.der);
	}
	gw_buf_free(&ber);
	gw_buf_free(&c);
	OPENSSL_free(s.der);
	sk_X509_free(certs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(common_kind_passes),
	    cmocka_unit_test(failures_left_to_cms_verify),
	    cmocka_unit_test(other_kinds_left_to_cms_verify),
	    cmocka_unit_test(two_signers_left_to_cms_verify),
	    cmocka_unit_test(same_serial_first_left_to_cms_verify),
	    cmocka_unit_test(never_passes_what_cms_verify_refuses),
	    cmocka_unit_test(times_as_openssl_has_them),
	    cmocka_unit_test(opaque_common_kind_passes),
	    cmocka_unit_test(opaque_segments_joined),
	    cmocka_unit_test(opaque_never_passes_what_cms_verify_refuses),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
