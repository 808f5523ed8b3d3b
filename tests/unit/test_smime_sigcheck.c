/*
 * test_smime_sigcheck.c - gateway/smime/smime_sigcheck.c: the common
 * detached signature passes, everything else is left to CMS_verify()
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
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
