/*
 * test_keysrc.c - the key source seam (gateway/keys/keysrc.c) over a
 * backend that holds software keys: every operation with its mechanism
 * parameters, checked against the public key; the ceilings; a backend
 * error kept as it is (temporary stays temporary).  The token backend
 * runs the same keysrc_pkey_*() functions; integration tests drive it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "gw_err.h"
#include "keysrc.h"

struct soft {
	EVP_PKEY *rsa;
	EVP_PKEY *ec;
	int fail;	/* return this from load when nonzero */
	int loads;
};

static EVP_PKEY *
soft_key(struct soft *s, const char *uri)
{
	return strcmp(uri, "soft:ec") == 0 ? s->ec : s->rsa;
}

static int
soft_load(void *ctx, const char *uri, EVP_PKEY **out)
{
	struct soft *s = ctx;

	s->loads++;
	if (s->fail)
		return gw_err_set(s->fail, "the soft token is away");
	if (!EVP_PKEY_up_ref(soft_key(s, uri)))
		return GW_ERR_NOMEM;
	*out = soft_key(s, uri);
	return 0;
}

static int
soft_sign(void *ctx, const char *uri, const struct keysrc_sign_params *p,
	  const unsigned char *d, size_t dl, unsigned char *sig, size_t *sl)
{
	return keysrc_pkey_sign(soft_key(ctx, uri), p, d, dl, sig, sl);
}

static int
soft_decrypt(void *ctx, const char *uri, const struct keysrc_decrypt_params *p,
	     const unsigned char *in, size_t il, unsigned char *out, size_t *ol)
{
	return keysrc_pkey_decrypt(soft_key(ctx, uri), p, in, il, out, ol);
}

static int
soft_derive(void *ctx, const char *uri, EVP_PKEY *peer, unsigned char *out,
	    size_t *ol)
{
	return keysrc_pkey_derive(soft_key(ctx, uri), peer, out, ol);
}

static const struct keysrc_ops soft_ops = {
    .name = "soft",
    .load = soft_load,
    .sign = soft_sign,
    .decrypt = soft_decrypt,
    .derive = soft_derive,
    .free = NULL,
};

static struct soft S;
static struct keysrc *KS;

static int
setup(void **state)
{
	(void)state;
	S.rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	S.ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (S.rsa == NULL || S.ec == NULL)
		return -1;
	KS = keysrc_new(&soft_ops, &S);
	return KS == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	keysrc_free(KS);
	EVP_PKEY_free(S.rsa);
	EVP_PKEY_free(S.ec);
	return 0;
}

static struct identity
ident(const char *uri)
{
	struct identity id;

	memset(&id, 0, sizeof(id));
	id.name = (char *)"t";
	id.key_uri = (char *)uri;
	return id;
}

/* Verifies sig over dgst with pub and the same parameters. */
static int
verify(EVP_PKEY *pub, const struct keysrc_sign_params *p,
       const unsigned char *dgst, size_t dlen, const unsigned char *sig,
       size_t slen)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pub, NULL);
	int ok;

	ok = c != NULL && EVP_PKEY_verify_init(c) > 0 &&
	     EVP_PKEY_CTX_set_signature_md(c, EVP_get_digestbynid(p->md_nid)) >
		 0;
	if (ok && p->pad == KEYSRC_PAD_PSS)
		ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) > 0 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(c, p->pss_saltlen) > 0;
	ok = ok && EVP_PKEY_verify(c, sig, slen, dgst, dlen) == 1;
	EVP_PKEY_CTX_free(c);
	return ok;
}

static void
test_sign(void **state)
{
	static const struct {
		const char *name;
		const char *uri;
		struct keysrc_sign_params p;
		size_t dlen;
	} cases[] = {
	    {"RSA PKCS#1 v1.5 SHA-256", "soft:rsa",
	     {NID_sha256, KEYSRC_PAD_PKCS1, 0, 0}, 32},
	    {"RSA PKCS#1 v1.5 SHA-512", "soft:rsa",
	     {NID_sha512, KEYSRC_PAD_PKCS1, 0, 0}, 64},
	    {"RSASSA-PSS SHA-256 salt 32", "soft:rsa",
	     {NID_sha256, KEYSRC_PAD_PSS, 32, 0}, 32},
	    {"RSASSA-PSS SHA-384 salt = digest", "soft:rsa",
	     {NID_sha384, KEYSRC_PAD_PSS, -1, 0}, 48},
	    {"ECDSA SHA-256", "soft:ec", {NID_sha256, KEYSRC_PAD_NONE, 0, 0},
	     32},
	};
	unsigned char dgst[64], sig[512];
	struct identity id;
	size_t i, slen;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("%s\n", cases[i].name);
		RAND_bytes(dgst, sizeof(dgst));
		id = ident(cases[i].uri);
		slen = sizeof(sig);
		assert_int_equal(keysrc_sign(KS, &id, &cases[i].p, dgst,
					     cases[i].dlen, sig, &slen),
				 0);
		assert_true(verify(soft_key(&S, cases[i].uri), &cases[i].p,
				   dgst, cases[i].dlen, sig, slen));
		/* One changed byte of the digest: the signature is not its. */
		dgst[0] ^= 1;
		assert_false(verify(soft_key(&S, cases[i].uri), &cases[i].p,
				    dgst, cases[i].dlen, sig, slen));
	}
}

static void
test_sign_refusals(void **state)
{
	struct keysrc_sign_params p = {NID_sha256, KEYSRC_PAD_PKCS1, 0, 0};
	unsigned char dgst[KEYSRC_DIGEST_MAX + 1], sig[512];
	struct identity id = ident("soft:rsa");
	size_t slen = sizeof(sig);

	(void)state;
	memset(dgst, 1, sizeof(dgst));
	gw_err_clear();
	assert_int_equal(keysrc_sign(KS, &id, &p, dgst, sizeof(dgst), sig,
				     &slen),
			 GW_ERR_LIMIT);
	gw_err_clear();
	assert_int_equal(keysrc_sign(KS, &id, &p, dgst, 0, sig, &slen),
			 GW_ERR_LIMIT);
	/* A digest that is not its algorithm's length. */
	gw_err_clear();
	assert_int_equal(keysrc_sign(KS, &id, &p, dgst, 20, sig, &slen),
			 GW_ERR_UNSUPPORTED);
	gw_err_clear();
}

/* Encrypts key to pub with the padding of p. */
static size_t
wrap(EVP_PKEY *pub, const struct keysrc_decrypt_params *p,
     const unsigned char *key, size_t klen, unsigned char *out, size_t osz)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pub, NULL);
	size_t n = osz;

	assert_non_null(c);
	assert_true(EVP_PKEY_encrypt_init(c) > 0);
	if (p->pad == KEYSRC_PAD_OAEP) {
		assert_true(EVP_PKEY_CTX_set_rsa_padding(
				c, RSA_PKCS1_OAEP_PADDING) > 0);
		assert_true(EVP_PKEY_CTX_set_rsa_oaep_md(
				c, EVP_get_digestbynid(p->oaep_md_nid)) > 0);
		assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md(
				c, EVP_get_digestbynid(p->oaep_md_nid)) > 0);
	} else {
		assert_true(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) >
			    0);
	}
	assert_true(EVP_PKEY_encrypt(c, out, &n, key, klen) > 0);
	EVP_PKEY_CTX_free(c);
	return n;
}

static void
test_decrypt(void **state)
{
	static const struct {
		const char *name;
		struct keysrc_decrypt_params p;
	} cases[] = {
	    {"PKCS#1 v1.5", {KEYSRC_PAD_PKCS1, 0, 0, NULL, 0}},
	    {"OAEP SHA-256", {KEYSRC_PAD_OAEP, NID_sha256, 0, NULL, 0}},
	    {"OAEP SHA-1", {KEYSRC_PAD_OAEP, NID_sha1, 0, NULL, 0}},
	};
	unsigned char key[32], ct[256], pt[256];
	struct identity id = ident("soft:rsa");
	size_t i, clen, plen;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("%s\n", cases[i].name);
		RAND_bytes(key, sizeof(key));
		clen = wrap(S.rsa, &cases[i].p, key, sizeof(key), ct,
			    sizeof(ct));
		plen = sizeof(pt);
		assert_int_equal(keysrc_decrypt(KS, &id, &cases[i].p, ct, clen,
						pt, &plen),
				 0);
		assert_int_equal(plen, sizeof(key));
		assert_memory_equal(pt, key, sizeof(key));
	}
	/* OAEP wrapped, PKCS#1 v1.5 asked: refused, nothing returned as a
	 * key (a permanent failure: the input is not for this padding). */
	clen = wrap(S.rsa, &cases[1].p, key, sizeof(key), ct, sizeof(ct));
	plen = sizeof(pt);
	gw_err_clear();
	assert_int_equal(keysrc_decrypt(KS, &id, &cases[0].p, ct, clen, pt,
					&plen),
			 GW_ERR_CRYPTO);
	assert_int_equal(gw_err_class(GW_ERR_CRYPTO), GW_ERRCLASS_PERMANENT);
	gw_err_clear();
	assert_int_equal(keysrc_decrypt(KS, &id, &cases[0].p, ct,
					KEYSRC_BLOB_MAX + 1, pt, &plen),
			 GW_ERR_LIMIT);
	gw_err_clear();
}

static void
test_derive(void **state)
{
	EVP_PKEY *peer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY_CTX *c;
	unsigned char a[66], b[66];
	size_t alen = sizeof(a), blen = sizeof(b);
	struct identity id = ident("soft:ec");

	(void)state;
	assert_non_null(peer);
	assert_int_equal(keysrc_derive(KS, &id, peer, a, &alen), 0);
	/* The peer derives the same secret from our public half. */
	c = EVP_PKEY_CTX_new(peer, NULL);
	assert_true(EVP_PKEY_derive_init(c) > 0);
	assert_true(EVP_PKEY_derive_set_peer(c, S.ec) > 0);
	assert_true(EVP_PKEY_derive(c, b, &blen) > 0);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(peer);
}

static void
test_load_error_kept(void **state)
{
	struct identity id = ident("soft:rsa");
	EVP_PKEY *k = NULL;

	(void)state;
	assert_string_equal(keysrc_name(KS), "soft");
	assert_int_equal(keysrc_key(KS, &id, &k), 0);
	assert_ptr_equal(k, S.rsa);
	EVP_PKEY_free(k);
	/* A token that went away is temporary, and stays so through the
	 * seam: the message is deferred, not delivered undecrypted. */
	S.fail = GW_ERR_P11_DEVICE_REMOVED;
	gw_err_clear();
	k = NULL;
	assert_int_equal(keysrc_key(KS, &id, &k), GW_ERR_P11_DEVICE_REMOVED);
	assert_null(k);
	assert_int_equal(gw_err_class(GW_ERR_P11_DEVICE_REMOVED),
			 GW_ERRCLASS_TEMPORARY);
	assert_string_equal(gw_err_detail(), "the soft token is away");
	S.fail = 0;
	gw_err_clear();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sign),
	    cmocka_unit_test(test_sign_refusals),
	    cmocka_unit_test(test_decrypt),
	    cmocka_unit_test(test_derive),
	    cmocka_unit_test(test_load_error_kept),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
