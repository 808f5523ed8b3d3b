/*
 * test_smime_signed.c - gateway/smime/smime_signed.c, the detached
 * SignedData written without OpenSSL's CMS code (issue 11): for
 * SHA-256, -384 and -512, no chain, a chain of two and chains that
 * repeat a certificate, UTCTime and GeneralizedTime, the DER is
 * OpenSSL's (CMS_sign() and CMS_add1_signer() set up as smime.c's
 * sign_der() does, the same signingTime given to it) byte for byte,
 * the signature included: PKCS#1 v1.5 is deterministic.  Every
 * signature verifies with CMS_verify(), and through smime_sign() with
 * smime_open(); a key that signs through a legacy RSA method (as the
 * token's does through libp11's ENGINE) signs the same, and its
 * failure is a token fault (GW_ERR_P11), on both paths.  PSS, EC keys,
 * other digests and opaque signatures keep OpenSSL's path and still
 * verify.  Keys are software keys generated for the run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "gw_buf.h"
#include "gw_err.h"
#include "mime_codec.h"
#include "smime.h"
#include "smime_open.h"
#include "smime_signed.h"
#include "unit_util.h"
#include "unit_x509.h"

#define AUTHSERV "unit.example"
#define FROM "signer@unit.example"

/* 2026-12-07 12:34:56, 2049-12-31 23:59:59 (the last UTCTime),
 * 2050-01-01 00:00:00 (the first GeneralizedTime), 2061-03-07 05:06:07 */
#define T_NOW ((time_t)1796646896)
#define T_UTC_LAST ((time_t)2524607999)
#define T_GEN_FIRST ((time_t)2524608000)
#define T_GEN ((time_t)2877397567)

/* The certificates: a root, an intermediate it issued, the signer the
 * intermediate issued, an unrelated short one (so that DER order is not
 * the order given), an EC signer, and the signer's certificate on the
 * intermediate's key (a key that is not the certificate's). */
enum { ROOT, INTER, SIGNER, OTHER, EC, NCERT };
static EVP_PKEY *root_key, *inter_key, *signer_key, *ec_key, *legacy_key,
    *failing_key;
static X509 *cert[NCERT], *wrong_cert;
/* trust: the root; both: the root and the intermediate, for CMS_verify()
 * of a SignedData without the chain */
static X509_STORE *trust, *both;
static RSA_METHOD *legacy_meth, *failing_meth;
static int legacy_calls;

/* ---- fixtures ---------------------------------------------------------- */

/* A certificate for k named cn, issued by issuer with ikey (NULL:
 * itself): a CA, or an S/MIME signer for FROM. */
static X509 *
make_cert(EVP_PKEY *k, const char *cn, long serial, X509 *issuer,
	  EVP_PKEY *ikey, int ca)
{
	X509 *x, *by;

	if ((x = unit_cert_new(k, cn, serial, issuer)) == NULL)
		return NULL;
	by = issuer ? issuer : x;
	if (ca ? !unit_add_ext(x, by, NID_basic_constraints,
			       "critical,CA:TRUE") ||
		     !unit_add_ext(x, by, NID_key_usage, "critical,keyCertSign")
	       : !unit_add_ext(x, by, NID_key_usage,
			       "critical,digitalSignature") ||
		     !unit_add_ext(x, by, NID_ext_key_usage,
				   "emailProtection") ||
		     !unit_add_ext(x, by, NID_subject_alt_name,
				   "email:" FROM))
		goto fail;
	if (X509_sign(x, ikey ? ikey : k, EVP_sha256()) > 0)
		return x;
fail:
	X509_free(x);
	return NULL;
}

/* The legacy RSA method's private operation, as libp11's ENGINE
 * replaces it: counted, then OpenSSL's own. */
static int
legacy_priv_enc(int flen, const unsigned char *from, unsigned char *to,
		RSA *rsa, int padding)
{
	legacy_calls++;
	return RSA_meth_get_priv_enc(RSA_PKCS1_OpenSSL())(flen, from, to, rsa,
							  padding);
}

/* A token that has gone away. */
static int
failing_priv_enc(int flen, const unsigned char *from, unsigned char *to,
		 RSA *rsa, int padding)
{
	(void)flen;
	(void)from;
	(void)to;
	(void)rsa;
	(void)padding;
	ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL, "token removed");
	return -1;
}

/* The signer's key as a legacy RSA key with method m (a "foreign" key:
 * OpenSSL's legacy RSA method signs with it, not a provider). */
static EVP_PKEY *
foreign_key(RSA_METHOD **m, int (*priv_enc)(int, const unsigned char *,
					    unsigned char *, RSA *, int))
{
	EVP_PKEY *pk;
	const RSA *shared;
	RSA *rsa;

	/* A copy of its own: the key's legacy RSA is shared. */
	if ((*m = RSA_meth_dup(RSA_PKCS1_OpenSSL())) == NULL ||
	    !RSA_meth_set_priv_enc(*m, priv_enc) ||
	    (shared = EVP_PKEY_get0_RSA(signer_key)) == NULL ||
	    (rsa = RSAPrivateKey_dup(shared)) == NULL)
		return NULL;
	if (!RSA_set_method(rsa, *m) || (pk = EVP_PKEY_new()) == NULL ||
	    !EVP_PKEY_assign_RSA(pk, rsa)) {
		RSA_free(rsa);
		return NULL;
	}
	return pk;
}

static int
setup(void **state)
{
	(void)state;
	if ((root_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)) ==
		NULL ||
	    (inter_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)) ==
		NULL ||
	    (signer_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
					    (size_t)2048)) == NULL ||
	    (ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		return -1;
	if ((cert[ROOT] = make_cert(root_key, "unit root certification "
					      "authority",
				    1, NULL, NULL, 1)) == NULL ||
	    (cert[INTER] = make_cert(inter_key, "unit intermediate", 2,
				     cert[ROOT], root_key, 1)) == NULL ||
	    (cert[SIGNER] = make_cert(signer_key, "zeta signer", 3,
				      cert[INTER], inter_key, 0)) == NULL ||
	    (cert[OTHER] = make_cert(root_key, "o", 4, NULL, NULL, 1)) ==
		NULL ||
	    (cert[EC] = make_cert(ec_key, "ec signer", 5, cert[INTER],
				  inter_key, 0)) == NULL ||
	    (wrong_cert = make_cert(inter_key, "zeta signer", 6, cert[INTER],
				    inter_key, 0)) == NULL)
		return -1;
	if ((legacy_key = foreign_key(&legacy_meth, legacy_priv_enc)) ==
		NULL ||
	    (failing_key = foreign_key(&failing_meth, failing_priv_enc)) ==
		NULL)
		return -1;
	if ((trust = X509_STORE_new()) == NULL ||
	    !X509_STORE_add_cert(trust, cert[ROOT]) ||
	    (both = X509_STORE_new()) == NULL ||
	    !X509_STORE_add_cert(both, cert[ROOT]) ||
	    !X509_STORE_add_cert(both, cert[INTER]))
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < NCERT; i++)
		X509_free(cert[i]);
	X509_free(wrong_cert);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(inter_key);
	EVP_PKEY_free(signer_key);
	EVP_PKEY_free(ec_key);
	EVP_PKEY_free(legacy_key);
	EVP_PKEY_free(failing_key);
	RSA_meth_free(legacy_meth);
	RSA_meth_free(failing_meth);
	X509_STORE_free(trust);
	X509_STORE_free(both);
	return 0;
}

/* The chain named by the letters of s (i intermediate, s signer, o
 * other), in order; NULL for "". */
static STACK_OF(X509) *
chain(const char *s)
{
	STACK_OF(X509) *sk;

	if (*s == '\0')
		return NULL;
	assert_non_null(sk = sk_X509_new_null());
	for (; *s != '\0'; s++)
		assert_true(sk_X509_push(sk, cert[*s == 'i'   ? INTER
						  : *s == 's' ? SIGNER
							      : OTHER]));
	return sk;
}

/* ---- OpenSSL's signature, as smime.c's sign_der() makes it -------------- */

/*
 * CMS_sign() and the rest as sign_der() calls them, with the signing
 * time at now (OpenSSL adds its own only when there is none).  A chain
 * certificate OpenSSL 3.0 refuses as present already is left out.
 */
static void
openssl_der(const struct smime_signer *s, const EVP_MD *md,
	    const unsigned char *e, size_t n, time_t now, struct gw_buf *der)
{
	unsigned flags = CMS_PARTIAL | CMS_BINARY | CMS_DETACHED;
	CMS_ContentInfo *cms;
	CMS_SignerInfo *si;
	ASN1_TIME *t;
	const unsigned char *caps;
	unsigned char *p;
	size_t ncaps;
	BIO *in;
	int i, len;

	assert_non_null(in = BIO_new_mem_buf(e, (int)n));
	assert_non_null(cms = CMS_sign(NULL, NULL, NULL, NULL, flags));
	assert_non_null(si = CMS_add1_signer(cms, s->cert, s->key, md,
					     CMS_BINARY | CMS_NOSMIMECAP));
	caps = smime_signed_caps(&ncaps);
	assert_true(CMS_signed_add1_attr_by_NID(si, NID_SMIMECapabilities,
						V_ASN1_SEQUENCE, caps,
						(int)ncaps));
	assert_non_null(t = ASN1_TIME_set(NULL, now));
	assert_true(CMS_signed_add1_attr_by_NID(si, NID_pkcs9_signingTime,
						t->type, t, -1));
	for (i = 0; s->chain != NULL && i < sk_X509_num(s->chain); i++)
		if (!CMS_add1_cert(cms, sk_X509_value(s->chain, i))) {
			assert_int_equal(ERR_GET_REASON(ERR_peek_last_error()),
					 CMS_R_CERTIFICATE_ALREADY_PRESENT);
			ERR_clear_error();
		}
	assert_true(CMS_final(cms, in, NULL, flags));
	assert_true((len = i2d_CMS_ContentInfo(cms, NULL)) > 0);
	assert_int_equal(gw_buf_reserve(der, (size_t)len, &p), 0);
	assert_int_equal(i2d_CMS_ContentInfo(cms, &p), len);
	der->len += (size_t)len;
	ASN1_TIME_free(t);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
}

/* CMS_verify() of the detached signature der over e: 1 or 0, and the
 * certificates it carries in *ncerts. */
static int
verifies(const struct gw_buf *der, const unsigned char *e, size_t n,
	 int *ncerts)
{
	const unsigned char *q = der->data;
	STACK_OF(X509) *in;
	CMS_ContentInfo *cms;
	BIO *content;
	int ok;

	assert_non_null(cms = d2i_CMS_ContentInfo(NULL, &q, (long)der->len));
	assert_true(q == der->data + der->len);
	assert_non_null(content = BIO_new_mem_buf(e, (int)n));
	ok = CMS_verify(cms, NULL, both, content, NULL, CMS_BINARY);
	ERR_clear_error();
	in = CMS_get1_certs(cms);
	*ncerts = in != NULL ? sk_X509_num(in) : 0;
	sk_X509_pop_free(in, X509_free);
	BIO_free(content);
	CMS_ContentInfo_free(cms);
	return ok == 1;
}

/* ---- the same as OpenSSL's ----------------------------------------------- */

static const struct same_case {
	const char *name;
	const EVP_MD *(*md)(void);
	const char *chain;	/* chain() */
	int ncerts;		/* in the SignedData */
	size_t len;
	time_t now;
	int legacy;		/* the key through a legacy RSA method */
} same_cases[] = {
    {"issue11_signed_sha256_no_chain", EVP_sha256, "", 1, 4096, T_NOW, 0},
    {"issue11_signed_sha384_chain_of_two", EVP_sha384, "io", 3, 4000,
     T_NOW, 0},
    {"issue11_signed_sha512_chain_of_two", EVP_sha512, "oi", 3, 33, T_NOW,
     0},
    {"issue11_signed_sha256_chain_with_the_signer_again", EVP_sha256,
     "isi", 2, 4096, T_NOW, 0},
    {"issue11_signed_sha512_chain_repeats", EVP_sha512, "oios", 3, 1000,
     T_NOW, 0},
    {"issue11_signed_sha256_empty", EVP_sha256, "i", 2, 0, T_NOW, 0},
    {"issue11_signed_sha384_100k", EVP_sha384, "i", 2, 102400, T_NOW, 0},
    {"issue11_signed_sha256_last_utctime", EVP_sha256, "i", 2, 500,
     T_UTC_LAST, 0},
    {"issue11_signed_sha256_first_generalizedtime", EVP_sha256, "i", 2,
     500, T_GEN_FIRST, 0},
    {"issue11_signed_sha512_generalizedtime", EVP_sha512, "io", 3, 500,
     T_GEN, 0},
    {"issue11_signed_sha256_legacy_rsa_method", EVP_sha256, "io", 3, 4096,
     T_NOW, 1},
    {"issue11_signed_sha512_legacy_rsa_method", EVP_sha512, "", 1, 100,
     T_NOW, 1},
};

static void
test_same(void **state)
{
	const struct same_case *c = *state;
	struct smime_signer s;
	struct gw_buf ours, theirs;
	unsigned char *e = unit_crlf_text(c->len);
	int calls, n;

	memset(&s, 0, sizeof(s));
	s.cert = cert[SIGNER];
	s.key = c->legacy ? legacy_key : signer_key;
	s.chain = chain(c->chain);
	s.mode = SMIME_SIGN_DETACHED;
	gw_buf_init(&ours, (size_t)1 << 20);
	gw_buf_init(&theirs, (size_t)1 << 20);
	assert_int_equal(smime_signed_fits(&s, c->md()), 1);
	calls = legacy_calls;
	gw_err_clear();
	if (smime_signed_der(&s, c->md(), e, c->len, c->now, &ours) != 0)
		fail_msg("smime_signed_der: %s", gw_err_detail());
	/* The legacy method signed, once. */
	assert_int_equal(legacy_calls - calls, c->legacy ? 1 : 0);
	openssl_der(&s, c->md(), e, c->len, c->now, &theirs);
	assert_int_equal(ours.len, theirs.len);
	assert_memory_equal(ours.data, theirs.data, ours.len);
	assert_true(verifies(&ours, e, c->len, &n));
	assert_int_equal(n, c->ncerts);
	/* A changed byte of the content fails. */
	if (c->len > 0) {
		e[c->len / 2] ^= 1;
		assert_false(verifies(&ours, e, c->len, &n));
	}
	gw_buf_free(&ours);
	gw_buf_free(&theirs);
	sk_X509_free(s.chain);
	free(e);
}

/* ---- through smime_sign() and smime_open() ------------------------------ */

/* smime_open() of m: verified, by the signer, the signature removed. */
static void
opens(const struct gw_buf *m)
{
	struct smime_open_opts o;
	struct smime_open_result res;
	struct gw_buf out;

	memset(&o, 0, sizeof(o));
	o.trust = trust;
	o.authserv_id = AUTHSERV;
	o.remove_signature = 1;
	gw_buf_init(&out, (size_t)1 << 22);
	gw_err_clear();
	assert_int_equal(smime_open(m->data, m->len, &o, &out, &res), 0);
	if (res.status != SMIME_OK)
		fail_msg("smime_open: %s", res.reason);
	assert_int_equal(res.signatures, 1);
	assert_int_equal(res.verified, 1);
	assert_string_equal(res.ar, "pass");
	assert_substr((const char *)out.data, "body line");
	smime_open_result_free(&res);
	gw_buf_free(&out);
}

static const struct trip_case {
	const char *name;
	const EVP_MD *(*md)(void);	/* NULL: the default */
	const char *chain;
	int ec;
	int pss;
	int legacy;
	enum smime_sign_mode mode;
	int fits;	/* smime_signed_fits() */
} trip_cases[] = {
    {"issue11_signed_smime_default", NULL, "i", 0, 0, 0,
     SMIME_SIGN_DETACHED, 1},
    {"issue11_signed_smime_sha384", EVP_sha384, "oi", 0, 0, 0,
     SMIME_SIGN_DETACHED, 1},
    {"issue11_signed_smime_sha512_signer_again", EVP_sha512, "is", 0, 0, 0,
     SMIME_SIGN_DETACHED, 1},
    {"issue11_signed_smime_legacy_rsa_method", EVP_sha256, "i", 0, 0, 1,
     SMIME_SIGN_DETACHED, 1},
    {"issue11_signed_pss_keeps_openssl", EVP_sha256, "i", 0, 1, 0,
     SMIME_SIGN_DETACHED, 0},
    {"issue11_signed_pss_signer_again_keeps_openssl", EVP_sha256, "si", 0,
     1, 0, SMIME_SIGN_DETACHED, 0},
    {"issue11_signed_ec_keeps_openssl", EVP_sha256, "i", 1, 0, 0,
     SMIME_SIGN_DETACHED, 0},
    {"issue11_signed_sha1_keeps_openssl", EVP_sha1, "i", 0, 0, 0,
     SMIME_SIGN_DETACHED, 0},
    {"issue11_signed_opaque_keeps_openssl", EVP_sha256, "i", 0, 0, 0,
     SMIME_SIGN_OPAQUE, 1},
    {"issue11_signed_opaque_signer_again_keeps_openssl", EVP_sha384, "ii",
     0, 0, 0, SMIME_SIGN_OPAQUE, 1},
};

/*
 * The smimeCapabilities of the one signer of the signed message m:
 * exactly ours, AES-CBC only (no 3DES, RC2 or DES), once.
 */
static void
announces_aes_only(const struct gw_buf *m)
{
	static const int weak[] = {NID_des_ede3_cbc, NID_rc2_cbc, NID_des_cbc};
	const unsigned char *caps, *q;
	const ASN1_STRING *v;
	STACK_OF(X509_ALGOR) *algs;
	CMS_SignerInfo *si;
	CMS_ContentInfo *cms;
	BIO *in, *dcont = NULL;
	size_t ncaps;
	int i, j;

	assert_non_null(in = BIO_new_mem_buf(m->data, (int)m->len));
	assert_non_null(cms = SMIME_read_CMS(in, &dcont));
	assert_non_null(si = sk_CMS_SignerInfo_value(
			    CMS_get0_SignerInfos(cms), 0));
	assert_int_not_equal(
	    CMS_signed_get_attr_by_NID(si, NID_SMIMECapabilities, -1), -1);
	assert_int_equal(CMS_signed_get_attr_by_NID(
			     si, NID_SMIMECapabilities,
			     CMS_signed_get_attr_by_NID(
				 si, NID_SMIMECapabilities, -1)),
			 -1);
	assert_non_null(v = CMS_signed_get0_data_by_OBJ(
			    si, OBJ_nid2obj(NID_SMIMECapabilities), -3,
			    V_ASN1_SEQUENCE));
	caps = smime_signed_caps(&ncaps);
	assert_int_equal((size_t)ASN1_STRING_length(v), ncaps);
	assert_memory_equal(ASN1_STRING_get0_data(v), caps, ncaps);
	q = caps;
	assert_non_null(algs = d2i_X509_ALGORS(NULL, &q, (long)ncaps));
	assert_int_equal(sk_X509_ALGOR_num(algs), 3);
	for (i = 0; i < sk_X509_ALGOR_num(algs); i++) {
		const ASN1_OBJECT *o;

		X509_ALGOR_get0(&o, NULL, NULL, sk_X509_ALGOR_value(algs, i));
		for (j = 0; j < 3; j++)
			assert_int_not_equal(OBJ_obj2nid(o), weak[j]);
	}
	assert_int_equal(OBJ_obj2nid(sk_X509_ALGOR_value(algs, 0)->algorithm),
			 NID_aes_256_cbc);
	sk_X509_ALGOR_pop_free(algs, X509_ALGOR_free);
	CMS_ContentInfo_free(cms);
	BIO_free(dcont);
	BIO_free(in);
}

/*
 * smime_signed_fits() as the case says (smime_signed_der() refuses what
 * does not fit); smime_sign() makes a message smime_open() verifies,
 * whichever path it takes, for a short body and one of 100 KiB.
 */
static void
test_trip(void **state)
{
	static const char head[] = "From: " FROM "\r\nTo: c@d.example\r\n"
				   "Subject: s\r\n"
				   "Content-Type: text/plain\r\n\r\n";
	const struct trip_case *c = *state;
	const EVP_MD *md = c->md ? c->md() : EVP_sha256();
	struct smime_signer s;
	struct gw_buf in, m, der;
	size_t sizes[2] = {1, 1600}, i, k;
	int calls;

	memset(&s, 0, sizeof(s));
	s.cert = cert[c->ec ? EC : SIGNER];
	s.key = c->ec ? ec_key : c->legacy ? legacy_key : signer_key;
	s.chain = chain(c->chain);
	s.md = c->md ? c->md() : NULL;
	s.pss = c->pss;
	s.mode = c->mode;
	assert_int_equal(smime_signed_fits(&s, md), c->fits);
	if (!c->fits) {
		gw_buf_init(&der, 1 << 16);
		gw_err_clear();
		assert_int_equal(smime_signed_der(&s, md, (const unsigned char *)
						  "x", 1, T_NOW, &der),
				 GW_ERR_UNSUPPORTED);
		assert_substr(gw_err_detail(), "OpenSSL's CMS code");
		assert_int_equal(der.len, 0);
		gw_buf_free(&der);
	}
	for (i = 0; i < 2; i++) {
		gw_buf_init(&in, (size_t)1 << 20);
		gw_buf_init(&m, (size_t)1 << 22);
		assert_int_equal(gw_buf_adds(&in, head), 0);
		for (k = 0; k < sizes[i]; k++)
			assert_int_equal(gw_buf_adds(&in, "body line of 64 "
							  "octets, CRLF ended,"
							  " in plain ASCII."
							  "..\r\n"),
					 0);
		calls = legacy_calls;
		gw_err_clear();
		assert_int_equal(smime_sign(in.data, in.len, &s, &m), 0);
		assert_int_equal(legacy_calls - calls, c->legacy ? 1 : 0);
		assert_substr((const char *)m.data,
			      c->mode == SMIME_SIGN_DETACHED
				  ? "multipart/signed"
				  : "smime-type=signed-data");
		announces_aes_only(&m);
		opens(&m);
		gw_buf_free(&in);
		gw_buf_free(&m);
	}
	sk_X509_free(s.chain);
}

/* ---- failures --------------------------------------------------------- */

/* A key that fails to sign is a token fault, GW_ERR_P11, here and on
 * OpenSSL's path (PSS, opaque); out is as it was. */
static void
issue11_signed_token_fault(void **state)
{
	static const char msg[] = "From: " FROM "\r\nTo: c@d.example\r\n"
				  "Content-Type: text/plain\r\n\r\nbody\r\n";
	struct smime_signer s;
	struct gw_buf der, out;
	int pss, mode;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.cert = cert[SIGNER];
	s.key = failing_key;
	gw_buf_init(&der, 1 << 16);
	gw_err_clear();
	assert_int_equal(smime_signed_der(&s, EVP_sha256(),
					  (const unsigned char *)"x", 1, T_NOW,
					  &der),
			 GW_ERR_P11);
	assert_substr(gw_err_detail(), "signing the message");
	assert_int_equal(der.len, 0);
	gw_buf_free(&der);
	for (pss = 0; pss < 2; pss++)
		for (mode = 0; mode < 2; mode++) {
			s.pss = pss;
			s.mode = mode ? SMIME_SIGN_OPAQUE : SMIME_SIGN_DETACHED;
			gw_buf_init(&out, 1 << 20);
			assert_int_equal(gw_buf_adds(&out, "before"), 0);
			gw_err_clear();
			assert_int_equal(smime_sign((const unsigned char *)msg,
						    sizeof(msg) - 1, &s, &out),
					 GW_ERR_P11);
			assert_int_equal(out.len, 6);
			assert_string_equal((const char *)out.data, "before");
			gw_buf_free(&out);
		}
}

/* A key that is not the certificate's: refused before it signs, as
 * CMS_add1_signer() refuses it (GW_ERR_CRYPTO), on both paths. */
static void
issue11_signed_wrong_key(void **state)
{
	static const char msg[] = "From: " FROM "\r\nTo: c@d.example\r\n"
				  "Content-Type: text/plain\r\n\r\nbody\r\n";
	struct smime_signer s;
	struct gw_buf der, out;
	int pss;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.cert = wrong_cert;
	s.key = signer_key;
	gw_buf_init(&der, 1 << 16);
	gw_err_clear();
	assert_int_equal(smime_signed_der(&s, EVP_sha256(),
					  (const unsigned char *)"x", 1, T_NOW,
					  &der),
			 GW_ERR_CRYPTO);
	assert_substr(gw_err_detail(), "not the certificate's");
	assert_int_equal(der.len, 0);
	gw_buf_free(&der);
	for (pss = 0; pss < 2; pss++) {
		s.pss = pss;
		gw_buf_init(&out, 1 << 20);
		gw_err_clear();
		assert_int_equal(smime_sign((const unsigned char *)msg,
					    sizeof(msg) - 1, &s, &out),
				 GW_ERR_CRYPTO);
		assert_int_equal(out.len, 0);
		gw_buf_free(&out);
	}
}

/* Past der's ceiling: GW_ERR_LIMIT, der as it was; a time no ASN.1
 * time says: GW_ERR_INVALID. */
static void
issue11_signed_ceiling_and_time(void **state)
{
	struct smime_signer s;
	struct gw_buf der;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.cert = cert[SIGNER];
	s.key = signer_key;
	s.chain = chain("io");
	gw_buf_init(&der, 2048);
	assert_int_equal(gw_buf_adds(&der, "before"), 0);
	gw_err_clear();
	assert_int_equal(smime_signed_der(&s, EVP_sha256(),
					  (const unsigned char *)"x", 1, T_NOW,
					  &der),
			 GW_ERR_LIMIT);
	assert_substr(gw_err_detail(), "ceiling");
	assert_int_equal(der.len, 6);
	assert_string_equal((const char *)der.data, "before");
	gw_buf_free(&der);
	gw_buf_init(&der, 1 << 16);
	gw_err_clear();
	/* 10000-01-01 */
	assert_int_equal(smime_signed_der(&s, EVP_sha256(),
					  (const unsigned char *)"x", 1,
					  (time_t)253402300800LL, &der),
			 GW_ERR_INVALID);
	assert_substr(gw_err_detail(), "signing time");
	assert_int_equal(der.len, 0);
	gw_buf_free(&der);
	sk_X509_free(s.chain);
}

#define NSAME (sizeof(same_cases) / sizeof(same_cases[0]))
#define NTRIP (sizeof(trip_cases) / sizeof(trip_cases[0]))

int
main(void)
{
	struct CMUnitTest same[NSAME], trip[NTRIP];
	const struct CMUnitTest faults[] = {
	    cmocka_unit_test(issue11_signed_token_fault),
	    cmocka_unit_test(issue11_signed_wrong_key),
	    cmocka_unit_test(issue11_signed_ceiling_and_time),
	};
	size_t i;
	int failed = 0;

	for (i = 0; i < NSAME; i++)
		same[i] = (struct CMUnitTest){same_cases[i].name, test_same,
					      NULL, NULL,
					      (void *)&same_cases[i]};
	for (i = 0; i < NTRIP; i++)
		trip[i] = (struct CMUnitTest){trip_cases[i].name, test_trip,
					      NULL, NULL,
					      (void *)&trip_cases[i]};
	failed += _cmocka_run_group_tests("issue11 signature as OpenSSL's",
					  same, NSAME, setup, teardown);
	failed += _cmocka_run_group_tests("issue11 signature round trips",
					  trip, NTRIP, setup, teardown);
	failed += cmocka_run_group_tests_name("issue11 signature failures",
					      faults, setup, teardown);
	return failed != 0;
}
