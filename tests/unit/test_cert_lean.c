/*
 * test_cert_lean.c - certificates read lean (issue 10, import rate):
 * for every key type OpenSSL decodes (RSA, RSA-PSS, EC, Ed25519, DSA),
 * mixed in one process, cert_lean_d2i() gives the certificate that
 * d2i_X509() gives: the same encoding, fingerprint, extension flags
 * (but OpenSSL's self-signed flag: ours agrees) and key (EVP_PKEY_eq),
 * where it ended; X509_get0_pubkey() of a lean one
 * is NULL (the documented difference) and its X509_dup() is ordinary;
 * a key no decoder takes is left out as d2i_X509() leaves it; bytes
 * that are not a certificate are GW_ERR_PARSE with nothing left on
 * OpenSSL's error queue; and the checks (cert_check, keystore_check)
 * say the same of a lean certificate as of an ordinary one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "cert_check.h"
#include "cert_info.h"
#include "cert_lean.h"
#include "gw_err.h"
#include "keystore.h"
#include "unit_x509.h"

/* ---- fixtures ---------------------------------------------------------- */

static EVP_PKEY *
keygen(const char *alg, const char *param, int bits)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
	EVP_PKEY *k = NULL, *params = NULL;

	assert_non_null(ctx);
	if (strcmp(alg, "DSA") == 0) {
		/* DSA keys come from parameters. */
		assert_int_equal(EVP_PKEY_paramgen_init(ctx), 1);
		assert_true(EVP_PKEY_CTX_set_dsa_paramgen_bits(ctx, bits) > 0);
		assert_int_equal(EVP_PKEY_paramgen(ctx, &params), 1);
		EVP_PKEY_CTX_free(ctx);
		assert_non_null(ctx = EVP_PKEY_CTX_new(params, NULL));
		EVP_PKEY_free(params);
	}
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	if (param != NULL)
		assert_true(EVP_PKEY_CTX_set_group_name(ctx, param) > 0);
	else if (bits > 0 && strcmp(alg, "DSA") != 0)
		assert_true(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) > 0);
	assert_int_equal(EVP_PKEY_keygen(ctx, &k), 1);
	EVP_PKEY_CTX_free(ctx);
	return k;
}

/* A self-signed partner certificate with key k, as DER in *der. */
static int
make_der(EVP_PKEY *k, const char *ku, long serial, unsigned char **der)
{
	X509 *x;
	X509_NAME *n;
	const EVP_MD *md = EVP_PKEY_is_a(k, "ED25519") ? NULL : EVP_sha256();
	int len;

	assert_non_null(x = X509_new());
	n = X509_get_subject_name(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial),
			 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(
			     n, "CN", MBSTRING_ASC,
			     (const unsigned char *)"lean", -1, -1, 0),
			 1);
	assert_int_equal(X509_set_issuer_name(x, n), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400 * 30));
	assert_int_equal(X509_set_pubkey(x, k), 1);
	assert_true(unit_add_ext(x, x, NID_basic_constraints,
				 "critical,CA:FALSE"));
	assert_true(unit_add_ext(x, x, NID_key_usage, ku));
	assert_true(unit_add_ext(x, x, NID_ext_key_usage, "emailProtection"));
	assert_true(unit_add_ext(x, x, NID_subject_alt_name,
				 "email:lean@partner.example"));
	assert_true(unit_add_ext(x, x, NID_subject_key_identifier, "hash"));
	assert_true(X509_sign(x, k, md) > 0);
	*der = NULL;
	len = i2d_X509(x, der);
	X509_free(x);
	assert_true(len > 0);
	return len;
}

/* Lean and ordinary decodes of der agree in every way the callers see. */
static void
same_as_d2i(const unsigned char *der, int len)
{
	const unsigned char *p = der, *end = NULL;
	unsigned char *enc = NULL, md1[32], md2[32];
	unsigned int n = 0;
	X509 *lean = NULL, *plain, *dup;
	int elen;

	assert_non_null(plain = d2i_X509(NULL, &p, len));
	assert_int_equal(cert_lean_d2i(der, (size_t)len, &end, &lean), 0);
	assert_ptr_equal(end, der + len);
	/* The same certificate: encoding, fingerprint, flags. */
	elen = i2d_X509(lean, &enc);
	assert_int_equal(elen, len);
	assert_memory_equal(enc, der, (size_t)len);
	OPENSSL_free(enc);
	assert_int_equal(X509_cmp(lean, plain), 0);
	assert_int_equal(cert_sha256(lean, md1), 0);
	assert_int_equal(X509_digest(plain, EVP_sha256(), md2, &n), 1);
	assert_memory_equal(md1, md2, 32);
	assert_int_equal(cert_sha256(plain, md1), 0);
	assert_memory_equal(md1, md2, 32);
	/* But for "self-signed", which OpenSSL decides with a key it
	 * does not have (cert_info_self_signed() decides for us). */
	assert_int_equal(X509_get_extension_flags(lean) & ~EXFLAG_SS,
			 X509_get_extension_flags(plain) & ~EXFLAG_SS);
	assert_int_equal(cert_info_self_signed(lean),
			 cert_info_self_signed(plain));
	assert_int_equal(cert_info_self_signed(lean), 1);
	assert_int_equal(X509_get_key_usage(lean), X509_get_key_usage(plain));
	/* The same key, through cert_pubkey() only. */
	assert_non_null(cert_pubkey(plain));
	assert_non_null(cert_pubkey(lean));
	assert_int_equal(EVP_PKEY_eq(cert_pubkey(lean), cert_pubkey(plain)),
			 1);
	assert_int_equal(EVP_PKEY_get_bits(cert_pubkey(lean)),
			 EVP_PKEY_get_bits(cert_pubkey(plain)));
	assert_null(X509_get0_pubkey(lean));
	ERR_clear_error();
	/* A copy is an ordinary certificate. */
	assert_non_null(dup = X509_dup(lean));
	assert_non_null(X509_get0_pubkey(dup));
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(dup),
				     cert_pubkey(plain)),
			 1);
	X509_free(dup);
	X509_free(lean);
	X509_free(plain);
	assert_int_equal(ERR_peek_error(), 0);
}

/* ---- cases --------------------------------------------------------------- */

static void
every_key_type_mixed(void **state)
{
	static const struct {
		const char *alg, *param;
		int bits;
		const char *ku;
	} k[] = {
	    {"RSA", NULL, 2048, "critical,digitalSignature,keyEncipherment"},
	    {"EC", "P-256", 0, "critical,digitalSignature,keyAgreement"},
	    {"RSA-PSS", NULL, 2048, "critical,digitalSignature"},
	    {"EC", "P-384", 0, "critical,digitalSignature"},
	    {"ED25519", NULL, 0, "critical,digitalSignature"},
	    {"DSA", NULL, 2048, "critical,digitalSignature"},
	};
	unsigned char *der[6];
	int len[6], round;
	size_t i;

	(void)state;
	for (i = 0; i < 6; i++) {
		EVP_PKEY *key = keygen(k[i].alg, k[i].param, k[i].bits);

		len[i] = make_der(key, k[i].ku, (long)i + 1, &der[i]);
		EVP_PKEY_free(key);
	}
	/* Twice over, interleaved: each type's decoder is reused. */
	for (round = 0; round < 2; round++)
		for (i = 0; i < 6; i++)
			same_as_d2i(der[i], len[i]);
	for (i = 0; i < 6; i++)
		OPENSSL_free(der[i]);
}

static void
trailing_bytes_and_garbage(void **state)
{
	EVP_PKEY *key = keygen("EC", "P-256", 0);
	unsigned char *der, buf[4096];
	const unsigned char *end = NULL;
	X509 *x = (X509 *)1;
	int len = make_der(key, "critical,digitalSignature", 7, &der);
	size_t i;

	(void)state;
	EVP_PKEY_free(key);
	assert_true((size_t)len + 3 < sizeof(buf));
	/* Trailing bytes: decoded, and *end says where it stopped. */
	memcpy(buf, der, (size_t)len);
	memcpy(buf + len, "abc", 3);
	assert_int_equal(cert_lean_d2i(buf, (size_t)len + 3, &end, &x), 0);
	assert_ptr_equal(end, buf + len);
	X509_free(x);
	/* Cut short anywhere, or not a certificate: refused, quietly. */
	for (i = 0; i < (size_t)len; i += 37) {
		x = (X509 *)1;
		assert_int_equal(cert_lean_d2i(der, i, NULL, &x),
				 GW_ERR_PARSE);
		assert_null(x);
		assert_int_equal(ERR_peek_error(), 0);
	}
	memset(buf, 0x30, 64);
	assert_int_equal(cert_lean_d2i(buf, 64, NULL, &x), GW_ERR_PARSE);
	assert_int_equal(ERR_peek_error(), 0);
	assert_string_equal(gw_err_detail(), "");
	OPENSSL_free(der);
}

/* A key of an algorithm no decoder knows: the certificate is read, its
 * key is left out, as d2i_X509() leaves it. */
static void
unknown_key_algorithm(void **state)
{
	EVP_PKEY *key = keygen("EC", "P-256", 0);
	unsigned char *der, *p;
	const unsigned char *q;
	/* id-ecPublicKey, 1.2.840.10045.2.1, becomes 1.2.840.10045.2.9 */
	static const unsigned char oid[] = {0x06, 0x07, 0x2a, 0x86, 0x48,
					    0xce, 0x3d, 0x02, 0x01};
	X509 *lean = NULL, *plain;
	int len = make_der(key, "critical,digitalSignature", 9, &der);

	(void)state;
	EVP_PKEY_free(key);
	for (p = der; p + sizeof(oid) <= der + len; p++)
		if (memcmp(p, oid, sizeof(oid)) == 0)
			break;
	assert_true(p + sizeof(oid) <= der + len);
	p[sizeof(oid) - 1] = 0x09;
	q = der;
	assert_non_null(plain = d2i_X509(NULL, &q, len));
	assert_int_equal(cert_lean_d2i(der, (size_t)len, NULL, &lean), 0);
	assert_null(cert_pubkey(plain));
	assert_null(cert_pubkey(lean));
	assert_int_equal(X509_cmp(lean, plain), 0);
	ERR_clear_error();
	X509_free(lean);
	X509_free(plain);
	OPENSSL_free(der);
}

/* A certificate whose SubjectPublicKeyInfo is rsaEncryption with
 * parameters of type ptype (V_ASN1_UNDEF: none) and the n bytes at pk
 * in its BIT STRING (signed with another key: not read here). */
static int
make_rsa_spki_der(const unsigned char *pk, size_t n, int ptype,
		  unsigned char **der)
{
	EVP_PKEY *signer = keygen("EC", "P-256", 0);
	ASN1_OCTET_STRING *param = NULL;
	unsigned char *penc;
	X509 *x;
	X509_NAME *name;
	int len;

	assert_non_null(x = X509_new());
	name = X509_get_subject_name(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(
			     name, "CN", MBSTRING_ASC,
			     (const unsigned char *)"rsa", -1, -1, 0),
			 1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_pubkey(x, signer), 1);
	assert_non_null(penc = OPENSSL_malloc(n > 0 ? n : 1));
	memcpy(penc, pk, n);
	if (ptype == V_ASN1_OCTET_STRING) {
		assert_non_null(param = ASN1_OCTET_STRING_new());
		assert_int_equal(ASN1_OCTET_STRING_set(param,
						       (const unsigned char *)"p",
						       1),
				 1);
	}
	assert_int_equal(X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x),
						OBJ_nid2obj(NID_rsaEncryption),
						ptype, param, penc, (int)n),
			 1);
	assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
	*der = NULL;
	len = i2d_X509(x, der);
	assert_true(len > 0);
	X509_free(x);
	EVP_PKEY_free(signer);
	return len;
}

/* rsaEncryption keys are read without OpenSSL's decoder chain: for
 * odd encodings too, the key is what the decoder makes of it (or none
 * where it makes none). */
static void
rsa_keys_as_the_decoder_reads_them(void **state)
{
	EVP_PKEY *rsa = keygen("RSA", NULL, 1024);
	unsigned char *good = NULL, buf[1024], *der;
	const unsigned char *p;
	X509 *lean, *plain;
	EVP_PKEY *k1, *k2;
	int glen, len;
	size_t i;
	static const unsigned char negative[] = {0x30, 0x07, 0x02, 0x02, 0x80,
						 0x01, 0x02, 0x01, 0x03};
	static const unsigned char padded[] = {0x30, 0x08, 0x02, 0x03, 0x00,
					       0x00, 0x01, 0x02, 0x01, 0x03};
	static const unsigned char one_int[] = {0x30, 0x03, 0x02, 0x01, 0x05};
	static const unsigned char zero[] = {0x30, 0x06, 0x02, 0x01, 0x00,
					     0x02, 0x01, 0x03};
	struct {
		const unsigned char *pk;
		size_t n;
		int ptype;
	} v[10];
	size_t nv = 0;

	(void)state;
	glen = i2d_PublicKey(rsa, &good);
	assert_true(glen > 0 && (size_t)glen + 3 <= sizeof(buf));
	memcpy(buf, good, (size_t)glen);
	memcpy(buf + glen, "xyz", 3);
	v[nv].pk = good, v[nv].n = (size_t)glen, v[nv++].ptype = V_ASN1_NULL;
	v[nv].pk = good, v[nv].n = (size_t)glen, v[nv++].ptype = V_ASN1_UNDEF;
	v[nv].pk = good, v[nv].n = (size_t)glen,
	v[nv++].ptype = V_ASN1_OCTET_STRING;
	v[nv].pk = buf, v[nv].n = (size_t)glen + 3, v[nv++].ptype = V_ASN1_NULL;
	v[nv].pk = good, v[nv].n = (size_t)glen - 1,
	v[nv++].ptype = V_ASN1_NULL;
	v[nv].pk = negative, v[nv].n = sizeof(negative),
	v[nv++].ptype = V_ASN1_NULL;
	v[nv].pk = padded, v[nv].n = sizeof(padded), v[nv++].ptype = V_ASN1_NULL;
	v[nv].pk = one_int, v[nv].n = sizeof(one_int),
	v[nv++].ptype = V_ASN1_NULL;
	v[nv].pk = zero, v[nv].n = sizeof(zero), v[nv++].ptype = V_ASN1_NULL;
	v[nv].pk = good, v[nv].n = 0, v[nv++].ptype = V_ASN1_NULL;
	for (i = 0; i < nv; i++) {
		len = make_rsa_spki_der(v[i].pk, v[i].n, v[i].ptype, &der);
		p = der;
		assert_non_null(plain = d2i_X509(NULL, &p, len));
		assert_int_equal(cert_lean_d2i(der, (size_t)len, NULL, &lean),
				 0);
		assert_int_equal(ERR_peek_error(), 0);
		k1 = cert_pubkey(plain);
		k2 = cert_pubkey(lean);
		ERR_clear_error();
		/* Cut short, one INTEGER, empty: no key from either. */
		assert_int_equal(k1 == NULL, i == 4 || i == 7 || i == 9);
		if (k1 == NULL) {
			assert_null(k2);
		} else {
			assert_non_null(k2);
			assert_int_equal(EVP_PKEY_eq(k1, k2), 1);
			assert_int_equal(EVP_PKEY_get_bits(k1),
					 EVP_PKEY_get_bits(k2));
			assert_int_equal(EVP_PKEY_is_a(k2, "RSA"), 1);
		}
		ERR_clear_error();
		X509_free(lean);
		X509_free(plain);
		OPENSSL_free(der);
	}
	/* The well-formed one is the key it was made from. */
	len = make_rsa_spki_der(good, (size_t)glen, V_ASN1_NULL, &der);
	assert_int_equal(cert_lean_d2i(der, (size_t)len, NULL, &lean), 0);
	assert_int_equal(EVP_PKEY_eq(cert_pubkey(lean), rsa), 1);
	X509_free(lean);
	OPENSSL_free(der);
	OPENSSL_free(good);
	EVP_PKEY_free(rsa);
}

/* The checks say the same of both: a good key passes, an RSA key too
 * small for the rules fails, with the same words. */
static void
checks_agree(void **state)
{
	static const int bits[] = {2048, 1024};
	char w1[512], w2[512];
	unsigned char *der;
	const unsigned char *p;
	unsigned c1, c2;
	X509 *lean, *plain;
	int len, r1, r2;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		EVP_PKEY *key = keygen("RSA", NULL, bits[i]);

		len = make_der(key,
			       "critical,digitalSignature,keyEncipherment",
			       11, &der);
		EVP_PKEY_free(key);
		p = der;
		assert_non_null(plain = d2i_X509(NULL, &p, len));
		assert_int_equal(cert_lean_d2i(der, (size_t)len, NULL, &lean),
				 0);
		gw_err_clear();
		r1 = keystore_check(plain, 0, 0, &c1);
		snprintf(w1, sizeof(w1), "%s", gw_err_detail());
		gw_err_clear();
		r2 = keystore_check(lean, 0, 0, &c2);
		snprintf(w2, sizeof(w2), "%s", gw_err_detail());
		gw_err_clear();
		assert_int_equal(r1, r2);
		assert_string_equal(w1, w2);
		if (i == 0) {
			assert_int_equal(r1, 0);
			assert_int_equal(c1, c2);
		} else
			assert_int_not_equal(r1, 0);
		X509_free(lean);
		X509_free(plain);
		OPENSSL_free(der);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_key_type_mixed),
	    cmocka_unit_test(trailing_bytes_and_garbage),
	    cmocka_unit_test(unknown_key_algorithm),
	    cmocka_unit_test(rsa_keys_as_the_decoder_reads_them),
	    cmocka_unit_test(checks_agree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
