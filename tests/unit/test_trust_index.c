/*
 * test_trust_index.c - the pinned public keys of an incoming message's
 * verification, read through the indexes (engine_trust(),
 * engine_find_signers(); issue 10).
 *
 *   lazy      in a store of format 3, engine_trust() loads no public
 *             key; engine_find_signers() offers the signer's pinned key
 *             by issuer and serial and by subject key identifier, and
 *             the signature verifies against the returned trust store;
 *   refused   a signer whose key is not stored, or stored without the
 *             verify capability, is offered nothing and does not
 *             verify; a certificate issued by a pinned key fails as
 *             before (X509_V_ERR_INVALID_CA);
 *   CA        a trusted CA is not loaded up front either: the chain
 *             building reads it by subject, and a leaf it issued
 *             verifies; deleted, it is not found;
 *   format 2  a store without the certificate names loads every pinned
 *             key, as before, and verifies the same messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unit_util.h"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "addr_index.h"
#include "castore.h"
#include "engine.h"
#include "gw_err.h"
#include "gw_store.h"
#include "keystore.h"
#include "unit_x509.h"

static char tmpdir[64];
static unsigned case_no;
static EVP_PKEY *pkey;
static unsigned long serial = 100;

/* A certificate for cn with keyUsage ku, signed by issuer (self-signed
 * when NULL; all share one key pair), with a subject key identifier of
 * its own. */
static X509 *
cert(const char *cn, const char *ku, X509 *issuer)
{
	X509_NAME *n;
	X509 *x;
	char san[96], ski[32];

	assert_non_null(x = X509_new());
	assert_true(X509_set_version(x, 2));
	assert_true(ASN1_INTEGER_set_uint64(X509_get_serialNumber(x),
					    serial++));
	n = X509_get_subject_name(x);
	assert_true(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
					       (const unsigned char *)cn, -1,
					       -1, 0));
	assert_true(X509_set_issuer_name(
	    x, issuer ? X509_get_subject_name(issuer) : n));
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 30));
	assert_true(X509_set_pubkey(x, pkey));
	assert_true(unit_add_ext(x, issuer ? issuer : x, NID_basic_constraints,
				 "critical,CA:FALSE"));
	assert_true(unit_add_ext(x, issuer ? issuer : x, NID_key_usage, ku));
	/* Its own identifier: "hash" would be the same for all of them,
	 * which share a key. */
	snprintf(ski, sizeof(ski), "5a5a%08lx", serial);
	assert_true(unit_add_ext(x, issuer ? issuer : x,
				 NID_subject_key_identifier, ski));
	snprintf(san, sizeof(san), "email:%s@partner.example", cn);
	assert_true(unit_add_ext(x, issuer ? issuer : x, NID_subject_alt_name,
				 san));
	assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);
	return x;
}

static struct gw_store *
new_store(void)
{
	struct gw_store *st = NULL;
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/s%u", tmpdir, ++case_no);
	assert_int_equal(gw_store_open(dir, (size_t)64 << 20, &st), 0);
	return st;
}

static void
pin(struct gw_store *st, const char *name, X509 *x)
{
	struct gw_txn *txn = NULL;

	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	gw_err_clear();
	if (keystore_add(txn, name, x, 0, 0) != 0)
		fail_msg("pin %s: %s", name, gw_err_detail());
	assert_int_equal(gw_txn_commit(txn), 0);
}

/* A SignedData by x over a short text, without certificates; keyid:
 * the signer named by its subject key identifier. */
static CMS_ContentInfo *
signed_by(X509 *x, int keyid)
{
	static const char text[] = "signed text\r\n";
	CMS_ContentInfo *cms, *back;
	unsigned char *der = NULL;
	const unsigned char *p;
	BIO *in;
	int n;

	assert_non_null(in = BIO_new_mem_buf(text, sizeof(text) - 1));
	cms = CMS_sign(x, pkey, NULL, in,
		       CMS_BINARY | CMS_NOCERTS |
			   (keyid ? CMS_USE_KEYID : 0));
	assert_non_null(cms);
	BIO_free(in);
	/* As received: the signed object remembers its signer's
	 * certificate, the encoding does not. */
	assert_true((n = i2d_CMS_ContentInfo(cms, &der)) > 0);
	p = der;
	assert_non_null(back = d2i_CMS_ContentInfo(NULL, &p, n));
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	return back;
}

struct trust {
	X509_STORE *store;
	STACK_OF(X509) *extra;
};

static void
trust_get(struct engine *e, struct trust *t)
{
	struct gw_txn *txn = NULL;

	assert_int_equal(gw_txn_begin(e->store, GW_TXN_READ, &txn), 0);
	assert_int_equal(engine_trust(e, txn, NULL, 0, &t->store, &t->extra),
			 0);
	gw_txn_abort(txn);
}

static void
trust_free(struct trust *t)
{
	X509_STORE_free(t->store);
	sk_X509_pop_free(t->extra, X509_free);
}

/* 1 when cms verifies against e's trust anchors, as smime_open asks. */
static int
verifies(struct engine *e, CMS_ContentInfo *cms, int *offered, int *err)
{
	struct trust t;
	unsigned long l;
	BIO *out;
	int ok;

	trust_get(e, &t);
	assert_int_equal(engine_find_signers(e, cms, t.extra), 0);
	*offered = sk_X509_num(t.extra);
	assert_non_null(out = BIO_new(BIO_s_mem()));
	ok = CMS_verify(cms, t.extra, t.store, NULL, out, CMS_BINARY);
	/* The first CMS reason, as smime_open reads it. */
	*err = 0;
	while (!ok && *err == 0 && (l = ERR_get_error()) != 0)
		if (ERR_GET_LIB(l) == ERR_LIB_CMS)
			*err = ERR_GET_REASON(l);
	ERR_clear_error();
	assert_int_equal(engine_trust_fault(t.store), 0);
	BIO_free(out);
	trust_free(&t);
	return ok;
}

static void
others(struct gw_store *st, int n)
{
	char name[32];
	X509 *x;
	int i;

	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "other%d", i);
		x = cert(name, "critical,digitalSignature", NULL);
		pin(st, name, x);
		X509_free(x);
	}
}

static void
test_lazy(void **state)
{
	struct gw_store *st = new_store();
	struct engine e = {st, NULL, NULL};
	struct trust t;
	CMS_ContentInfo *cms;
	X509 *p;
	int offered, err;

	(void)state;
	p = cert("partner", "critical,digitalSignature,keyEncipherment", NULL);
	pin(st, "partner", p);
	others(st, 20);
	/* Nothing loaded up front: no anchor, nothing offered. */
	trust_get(&e, &t);
	assert_int_equal(sk_X509_OBJECT_num(X509_STORE_get0_objects(t.store)),
			 0);
	assert_int_equal(sk_X509_num(t.extra), 0);
	trust_free(&t);
	/* By issuer and serial number, then by subject key identifier. */
	cms = signed_by(p, 0);
	assert_true(verifies(&e, cms, &offered, &err));
	assert_int_equal(offered, 1);
	CMS_ContentInfo_free(cms);
	cms = signed_by(p, 1);
	assert_true(verifies(&e, cms, &offered, &err));
	assert_int_equal(offered, 1);
	CMS_ContentInfo_free(cms);
	gw_store_close(st);
	X509_free(p);
}

static void
test_refused(void **state)
{
	struct gw_store *st = new_store();
	struct engine e = {st, NULL, NULL};
	CMS_ContentInfo *cms;
	X509 *stranger, *enc, *p, *issued;
	int offered, err;

	(void)state;
	stranger = cert("stranger", "critical,digitalSignature", NULL);
	enc = cert("enconly", "critical,keyAgreement", NULL);
	p = cert("partner", "critical,digitalSignature", NULL);
	pin(st, "enconly", enc);
	pin(st, "partner", p);
	others(st, 5);
	cms = signed_by(stranger, 0);
	assert_false(verifies(&e, cms, &offered, &err));
	assert_int_equal(offered, 0);
	assert_int_equal(err, CMS_R_SIGNER_CERTIFICATE_NOT_FOUND);
	CMS_ContentInfo_free(cms);
	/* Stored, but it may not verify: not offered either. */
	cms = signed_by(enc, 1);
	assert_false(verifies(&e, cms, &offered, &err));
	assert_int_equal(offered, 0);
	CMS_ContentInfo_free(cms);
	/* Issued by a pinned key: the chain reaches the pinned key as an
	 * issuer, which it is not trusted as. */
	issued = cert("issued", "critical,digitalSignature", p);
	cms = signed_by(issued, 0);
	assert_true(CMS_add1_cert(cms, issued));
	assert_false(verifies(&e, cms, &offered, &err));
	assert_int_equal(err, CMS_R_CERTIFICATE_VERIFY_ERROR);
	CMS_ContentInfo_free(cms);
	gw_store_close(st);
	X509_free(stranger);
	X509_free(enc);
	X509_free(p);
	X509_free(issued);
}

static void
test_ca(void **state)
{
	struct gw_store *st = new_store();
	struct engine e = {st, NULL, NULL};
	struct gw_txn *txn = NULL;
	struct trust t;
	CMS_ContentInfo *cms;
	X509_NAME *n;
	X509 *ca, *leaf;
	char id[CASTORE_ID_LEN + 1];
	int offered, err;

	(void)state;
	assert_non_null(ca = X509_new());
	assert_true(X509_set_version(ca, 2));
	assert_true(ASN1_INTEGER_set_uint64(X509_get_serialNumber(ca),
					    serial++));
	n = X509_get_subject_name(ca);
	assert_true(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
					       (const unsigned char *)"Lazy CA",
					       -1, -1, 0));
	assert_true(X509_set_issuer_name(ca, n));
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(ca), -7200));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(ca), 86400L * 60));
	assert_true(X509_set_pubkey(ca, pkey));
	assert_true(unit_add_ext(ca, ca, NID_basic_constraints,
				 "critical,CA:TRUE"));
	assert_true(unit_add_ext(ca, ca, NID_key_usage,
				 "critical,keyCertSign,cRLSign"));
	assert_true(unit_add_ext(ca, ca, NID_subject_key_identifier,
				 "5a5a0000ca"));
	assert_true(X509_sign(ca, pkey, EVP_sha256()) > 0);
	leaf = cert("leaf", "critical,digitalSignature", ca);
	others(st, 3);
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	assert_int_equal(castore_add(txn, ca, 0, id), 0);
	assert_int_equal(gw_txn_commit(txn), 0);
	trust_get(&e, &t);
	assert_int_equal(sk_X509_OBJECT_num(X509_STORE_get0_objects(t.store)),
			 0);
	trust_free(&t);
	cms = signed_by(leaf, 0);
	assert_true(CMS_add1_cert(cms, leaf));
	assert_true(verifies(&e, cms, &offered, &err));
	/* No longer trusted: not found. */
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	assert_int_equal(castore_del(txn, id, NULL), 0);
	assert_int_equal(gw_txn_commit(txn), 0);
	assert_false(verifies(&e, cms, &offered, &err));
	assert_int_equal(err, CMS_R_CERTIFICATE_VERIFY_ERROR);
	CMS_ContentInfo_free(cms);
	gw_store_close(st);
	X509_free(ca);
	X509_free(leaf);
}

static void
test_format_2(void **state)
{
	struct gw_store *st = new_store();
	struct engine e = {st, NULL, NULL};
	struct gw_txn *txn = NULL;
	struct trust t;
	CMS_ContentInfo *cms;
	X509 *p;
	int offered, err;

	(void)state;
	p = cert("partner", "critical,digitalSignature", NULL);
	pin(st, "partner", p);
	others(st, 3);
	/* Marked format 2: the certificate names are not trusted to be
	 * there, every pinned key is loaded. */
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	assert_int_equal(gw_txn_put(txn, GW_DB_META, ADDR_INDEX_META_KEY,
				    strlen(ADDR_INDEX_META_KEY), "2", 1, 0),
			 0);
	assert_int_equal(gw_txn_commit(txn), 0);
	trust_get(&e, &t);
	assert_int_equal(sk_X509_num(t.extra), 4);
	trust_free(&t);
	cms = signed_by(p, 1);
	assert_true(verifies(&e, cms, &offered, &err));
	assert_int_equal(offered, 4);
	CMS_ContentInfo_free(cms);
	gw_store_close(st);
	X509_free(p);
}

static int
group_setup(void **state)
{
	(void)state;
	if (unit_tmpdir(tmpdir, sizeof(tmpdir), "test_trust_index") != 0)
		return -1;
	return (pkey = EVP_EC_gen("P-256")) == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(pkey);
	return unit_rmtree(tmpdir) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lazy),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_ca),
	    cmocka_unit_test(test_format_2),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
