/*
 * test_keysrc_keyd.c - the workers' keyd key source
 * (gateway/keys/keysrc_keyd.c) against a stand-in keyd: a child
 * process on a socketpair that holds software keys and answers with
 * the same keysrc_pkey_*() functions smimegw-keyd runs on the token.
 *
 * Each private operation on a proxy key must reach the stand-in with
 * its parameters (a PSS salt, an OAEP digest and label, an ECDH KDF):
 * the results are checked against the software keys, and a wrong
 * parameter would make them differ.  Then the transport faults: keyd
 * gone, too slow, out of step, and keyd's own error replies.
 * (tests/integration/keyd.sh does the same against the real keyd and a
 * SoftHSM token, through CMS.)
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_util.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "gw_err.h"
#include "identity.h"
#include "ipc.h"
#include "keyd_proto.h"
#include "keysrc.h"
#include "keysrc_keyd.h"

static EVP_PKEY *RSAK, *ECK;
static struct keysrc *KS;
static pid_t child = -1;

/* ---- the stand-in keyd ------------------------------------------------- */

static int
serve(int fd, const struct keyd_req *r, struct ipc_msg *m)
{
	EVP_PKEY *k = NULL, *peer = NULL;
	unsigned char out[4096], *der = NULL;
	const unsigned char *q;
	size_t outlen = sizeof(out);
	int rc = 0, n;

	if (strcmp(r->uri, "rsa") == 0)
		k = RSAK;
	else if (strcmp(r->uri, "ec") == 0)
		k = ECK;
	else if (strcmp(r->uri, "die") == 0)
		_exit(0);
	else if (strcmp(r->uri, "slow") == 0)
		sleep(2);
	if (strcmp(r->uri, "badid") == 0)
		return keyd_reply_ok(m, r->id + 1, out, 1);
	if (strcmp(r->uri, "longsig") == 0) {
		if (r->type == KEYD_SIGN) /* more than any RSA-2048 can */
			return keyd_reply_ok(m, r->id, out, 600);
		k = RSAK;
	}
	if (k == NULL)
		return keyd_reply_error(m, r->id, GW_ERR_P11_TOKEN_ABSENT,
					"no token matches token=stand-in");
	gw_err_clear();
	switch (r->type) {
	case KEYD_PUBKEY:
		n = i2d_PUBKEY(k, &der);
		memcpy(out, der, (size_t)n);
		outlen = (size_t)n;
		OPENSSL_free(der);
		break;
	case KEYD_SIGN:
		rc = keysrc_pkey_sign(k, &r->sign, r->data, r->len, out,
				      &outlen);
		break;
	case KEYD_DECRYPT:
		rc = keysrc_pkey_decrypt(k, &r->dec, r->data, r->len, out,
					 &outlen);
		break;
	default:
		q = r->data;
		peer = d2i_PUBKEY(NULL, &q, (long)r->len);
		rc = keysrc_pkey_derive(k, peer, out, &outlen);
		EVP_PKEY_free(peer);
		break;
	}
	if (rc != 0)
		return keyd_reply_error(m, r->id, rc, gw_err_detail());
	return keyd_reply_ok(m, r->id, out, outlen);
}

static void
standin(int fd)
{
	struct ipc_frame f;
	struct ipc_msg m;
	struct keyd_req r;

	while (ipc_read(fd, &f) == 0) {
		if (keyd_req_read(&f, &r) != 0)
			_exit(3);
		serve(fd, &r, &m);
		if (ipc_write(fd, &m) != 0)
			_exit(4);
		ipc_msg_free(&m);
		ipc_frame_free(&f);
	}
	_exit(0);
}

static int
setup(void **state)
{
	int sv[2];

	gw_err_clear();
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 ||
	    (child = fork()) < 0)
		return -1;
	if (child == 0) {
		close(sv[0]);
		standin(sv[1]);
	}
	close(sv[1]);
	return (KS = keysrc_keyd_new(sv[0], 500)) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	keysrc_free(KS);
	KS = NULL;
	waitpid(child, NULL, 0);
	return 0;
}

static EVP_PKEY *
proxy(const char *uri)
{
	struct identity id;
	EVP_PKEY *pk = NULL;
	int rc;

	memset(&id, 0, sizeof(id));
	id.key_uri = (char *)uri;
	if ((rc = keysrc_key(KS, &id, &pk)) != 0)
		fail_msg("keysrc_key(%s): %d %s", uri, rc, gw_err_detail());
	return pk;
}

/* ---- signatures -------------------------------------------------------- */

static void
test_rsa_signatures(void **state)
{
	static const unsigned char msg[] = "the signed content";
	static const struct {
		const char *name;
		int pad, salt;
		const EVP_MD *(*mgf1)(void);
	} cases[] = {
	    {"PKCS#1 v1.5", RSA_PKCS1_PADDING, 0, NULL},
	    {"PSS, salt = digest", RSA_PKCS1_PSS_PADDING,
	     RSA_PSS_SALTLEN_DIGEST, EVP_sha256},
	    {"PSS, salt = max, MGF1-SHA-1", RSA_PKCS1_PSS_PADDING,
	     RSA_PSS_SALTLEN_MAX, EVP_sha1},
	    {"PSS, salt = 20", RSA_PKCS1_PSS_PADDING, 20, EVP_sha256},
	};
	EVP_PKEY *pk = proxy("rsa");
	unsigned char sig[512];
	size_t i, siglen;

	/* The same object again: public keys are cached. */
	EVP_PKEY *again = proxy("rsa");
	assert_ptr_equal(pk, again);
	EVP_PKEY_free(again);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		EVP_PKEY_CTX *pc = NULL;

		siglen = sizeof(sig);
		assert_int_equal(EVP_DigestSignInit(md, &pc, EVP_sha256(),
						    NULL, pk), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc,
							      cases[i].pad),
				 1);
		if (cases[i].pad == RSA_PKCS1_PSS_PADDING) {
			EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, cases[i].salt);
			EVP_PKEY_CTX_set_rsa_mgf1_md(pc, cases[i].mgf1());
		}
		if (EVP_DigestSign(md, sig, &siglen, msg, sizeof(msg)) != 1)
			fail_msg("%s: sign failed: %s", cases[i].name,
				 gw_err_detail());
		EVP_MD_CTX_free(md);

		/* Verified with the software key and the same parameters:
		 * PSS verification checks the salt length and MGF1. */
		md = EVP_MD_CTX_new();
		assert_int_equal(EVP_DigestVerifyInit(md, &pc, EVP_sha256(),
						      NULL, RSAK), 1);
		EVP_PKEY_CTX_set_rsa_padding(pc, cases[i].pad);
		if (cases[i].pad == RSA_PKCS1_PSS_PADDING) {
			EVP_PKEY_CTX_set_rsa_pss_saltlen(
			    pc, cases[i].salt == RSA_PSS_SALTLEN_MAX
				    ? RSA_PSS_SALTLEN_MAX
				    : cases[i].salt);
			EVP_PKEY_CTX_set_rsa_mgf1_md(pc, cases[i].mgf1());
		}
		if (EVP_DigestVerify(md, sig, siglen, msg, sizeof(msg)) != 1)
			fail_msg("%s: the signature does not verify",
				 cases[i].name);
		EVP_MD_CTX_free(md);
	}
	EVP_PKEY_free(pk);
}

static void
test_ecdsa(void **state)
{
	static const unsigned char msg[] = "the signed content";
	EVP_PKEY *pk = proxy("ec");
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char sig[256];
	size_t siglen = sizeof(sig);

	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, pk),
			 1);
	assert_int_equal(EVP_DigestSign(md, sig, &siglen, msg, sizeof(msg)),
			 1);
	EVP_MD_CTX_free(md);
	md = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL,
					      ECK), 1);
	assert_int_equal(EVP_DigestVerify(md, sig, siglen, msg, sizeof(msg)),
			 1);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
}

/* ---- key transport ----------------------------------------------------- */

/* Encrypts key to RSAK with OAEP (md, label) or PKCS#1 v1.5 (md NULL). */
static size_t
wrap(const EVP_MD *md, const char *label, const unsigned char *key,
     size_t keylen, unsigned char *ct)
{
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(RSAK, NULL);
	size_t ctlen = 512;

	assert_int_equal(EVP_PKEY_encrypt_init(pc), 1);
	if (md != NULL) {
		EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING);
		EVP_PKEY_CTX_set_rsa_oaep_md(pc, md);
		EVP_PKEY_CTX_set_rsa_mgf1_md(pc, md);
		if (label != NULL)
			EVP_PKEY_CTX_set0_rsa_oaep_label(
			    pc, OPENSSL_strdup(label), (int)strlen(label));
	}
	assert_int_equal(EVP_PKEY_encrypt(pc, ct, &ctlen, key, keylen), 1);
	EVP_PKEY_CTX_free(pc);
	return ctlen;
}

/* Decrypts through the proxy: 1, or 0 with the detail latched. */
static int
unwrap(EVP_PKEY *pk, const EVP_MD *md, const char *label,
       const unsigned char *ct, size_t ctlen, unsigned char *out,
       size_t *outlen)
{
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(pk, NULL);
	int ok;

	assert_int_equal(EVP_PKEY_decrypt_init(pc), 1);
	if (md != NULL) {
		EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING);
		EVP_PKEY_CTX_set_rsa_oaep_md(pc, md);
		EVP_PKEY_CTX_set_rsa_mgf1_md(pc, md);
		if (label != NULL)
			EVP_PKEY_CTX_set0_rsa_oaep_label(
			    pc, OPENSSL_strdup(label), (int)strlen(label));
	}
	ok = EVP_PKEY_decrypt(pc, out, outlen, ct, ctlen) == 1;
	EVP_PKEY_CTX_free(pc);
	return ok;
}

static void
test_key_transport(void **state)
{
	static const unsigned char key[32] = "0123456789abcdef0123456789abcde";
	static const struct {
		const char *name;
		const EVP_MD *(*md)(void);
		const char *label, *open_label;
		int ok;
	} cases[] = {
	    {"PKCS#1 v1.5", NULL, NULL, NULL, 1},
	    {"OAEP SHA-1", EVP_sha1, NULL, NULL, 1},
	    {"OAEP SHA-256", EVP_sha256, NULL, NULL, 1},
	    {"OAEP SHA-256 with a label", EVP_sha256, "lbl", "lbl", 1},
	    {"OAEP: the label reaches keyd", EVP_sha256, "lbl", "other", 0},
	};
	EVP_PKEY *pk = proxy("rsa");
	unsigned char ct[512], out[512];
	size_t i, ctlen, outlen;
	int ok;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const EVP_MD *md = cases[i].md ? cases[i].md() : NULL;

		ctlen = wrap(md, cases[i].label, key, sizeof(key), ct);
		outlen = sizeof(out);
		gw_err_clear();
		ok = unwrap(pk, md, cases[i].open_label, ct, ctlen, out,
			    &outlen);
		if (ok != cases[i].ok)
			fail_msg("%s: decrypt %s (%s)", cases[i].name,
				 ok ? "worked" : "failed", gw_err_detail());
		if (ok) {
			assert_int_equal(outlen, sizeof(key));
			assert_memory_equal(out, key, sizeof(key));
		} else {
			assert_substr(gw_err_detail(),
				      "smimegw-keyd: the private key could "
				      "not decrypt");
			/* The message's fault, not keyd's: permanent. */
			assert_int_equal(keysrc_keyd_take_fault(),
					 GW_ERR_CRYPTO);
		}
	}
	EVP_PKEY_free(pk);
}

/* ---- ECDH -------------------------------------------------------------- */

/* Derives with the software key or the proxy, peer as the peer, with
 * the X9.63 KDF when kdf_md is not NULL. */
static size_t
derive(EVP_PKEY *k, EVP_PKEY *peer, const EVP_MD *kdf_md, unsigned char *out)
{
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(k, NULL);
	size_t len = 0;

	assert_int_equal(EVP_PKEY_derive_init(pc), 1);
	assert_int_equal(EVP_PKEY_derive_set_peer(pc, peer), 1);
	if (kdf_md != NULL) {
		assert_int_equal(EVP_PKEY_CTX_set_ecdh_kdf_type(
				     pc, EVP_PKEY_ECDH_KDF_X9_63), 1);
		assert_int_equal(EVP_PKEY_CTX_set_ecdh_kdf_md(pc, kdf_md), 1);
		assert_int_equal(EVP_PKEY_CTX_set_ecdh_kdf_outlen(pc, 32), 1);
		assert_int_equal(EVP_PKEY_CTX_set0_ecdh_kdf_ukm(
				     pc, OPENSSL_memdup("ukm!", 4), 4), 1);
	}
	assert_int_equal(EVP_PKEY_derive(pc, NULL, &len), 1);
	if (EVP_PKEY_derive(pc, out, &len) != 1)
		fail_msg("derive: %s", gw_err_detail());
	EVP_PKEY_CTX_free(pc);
	return len;
}

static void
test_ecdh(void **state)
{
	EVP_PKEY *pk = proxy("ec"), *peer = EVP_EC_gen("P-384");
	unsigned char a[128], b[128];
	size_t alen, blen;

	alen = derive(pk, peer, NULL, a);
	blen = derive(ECK, peer, NULL, b);
	assert_int_equal(alen, 48);
	assert_int_equal(blen, alen);
	assert_memory_equal(a, b, alen);

	alen = derive(pk, peer, EVP_sha256(), a);
	blen = derive(ECK, peer, EVP_sha256(), b);
	assert_int_equal(alen, 32);
	assert_memory_equal(a, b, 32);
	EVP_PKEY_free(peer);
	EVP_PKEY_free(pk);
}

/* ---- keyd's errors and transport faults -------------------------------- */

static void
test_keyd_error_reply(void **state)
{
	struct identity id;
	EVP_PKEY *pk = NULL;

	memset(&id, 0, sizeof(id));
	id.key_uri = "absent";
	assert_int_equal(keysrc_key(KS, &id, &pk), GW_ERR_P11_TOKEN_ABSENT);
	assert_null(pk);
	assert_string_equal(gw_err_detail(),
			    "smimegw-keyd: no token matches token=stand-in");
	/* An error reply keeps the stream: the next request works. */
	EVP_PKEY_free(proxy("rsa"));
}

static void
test_transport_faults(void **state)
{
	static const struct {
		const char *uri;
		const char *detail;
	} cases[] = {
	    {"badid", "smimegw-keyd: a malformed reply (smimegw-keyd "
		      "answered request"},
	    {"slow", "smimegw-keyd: no reply in time; the connection is "
		     "closed"},
	    {"die", "smimegw-keyd: the key service closed the connection; "
		    "the connection is closed"},
	};
	struct identity id;
	EVP_PKEY *pk = NULL, *held;
	unsigned char sig[512];
	size_t i, siglen;
	int rc;

	memset(&id, 0, sizeof(id));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* Each fault closes the stream: a fresh stand-in each. */
		if (i > 0) {
			teardown(state);
			assert_int_equal(setup(state), 0);
		}
		held = proxy("rsa");
		id.key_uri = (char *)cases[i].uri;
		gw_err_clear();
		rc = keysrc_key(KS, &id, &pk);
		assert_int_equal(rc, GW_ERR_IO);
		assert_int_equal(gw_err_class(rc), GW_ERRCLASS_TEMPORARY);
		assert_substr(gw_err_detail(), cases[i].detail);

		/* Keys handed out before fail too, as temporary errors. */
		gw_err_clear();
		siglen = sizeof(sig);
		{
			EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(held, NULL);

			assert_int_equal(EVP_PKEY_sign_init(pc), 1);
			EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256());
			assert_int_not_equal(EVP_PKEY_sign(pc, sig, &siglen,
							   sig, 32), 1);
			EVP_PKEY_CTX_free(pc);
		}
		assert_substr(gw_err_detail(),
			      "smimegw-keyd: no connection (closed after an "
			      "earlier failure)");
		/* What OpenSSL cannot carry, the worker can ask for. */
		assert_int_equal(keysrc_keyd_take_fault(), GW_ERR_IO);
		assert_int_equal(keysrc_keyd_take_fault(), 0);
		EVP_PKEY_free(held);
	}
}

/* An answer longer than the key can give is a broken keyd. */
static void
test_answer_too_long(void **state)
{
	EVP_PKEY *pk = proxy("longsig");
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(pk, NULL);
	unsigned char sig[1024], dgst[32] = {0};
	size_t siglen = 256;

	assert_int_equal(EVP_PKEY_sign_init(pc), 1);
	EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256());
	assert_int_not_equal(EVP_PKEY_sign(pc, sig, &siglen, dgst, 32), 1);
	assert_substr(gw_err_detail(),
		      "smimegw-keyd: a signature of 600 bytes, at most 256 "
		      "expected; the connection is closed");
	assert_int_equal(keysrc_keyd_take_fault(), GW_ERR_IO);
	EVP_PKEY_CTX_free(pc);
	EVP_PKEY_free(pk);
}

/* A proxy key outlives its key source: its operations fail, cleanly. */
static void
test_key_outlives_source(void **state)
{
	EVP_PKEY *pk = proxy("rsa");
	EVP_PKEY_CTX *pc;
	unsigned char sig[512];
	size_t siglen = sizeof(sig);

	keysrc_free(KS);
	KS = NULL;
	gw_err_clear();
	pc = EVP_PKEY_CTX_new(pk, NULL);
	assert_int_equal(EVP_PKEY_sign_init(pc), 1);
	EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256());
	assert_int_not_equal(EVP_PKEY_sign(pc, sig, &siglen, sig, 32), 1);
	assert_substr(gw_err_detail(), "no connection");
	EVP_PKEY_CTX_free(pc);
	EVP_PKEY_free(pk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_rsa_signatures, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_ecdsa, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_transport, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_ecdh, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keyd_error_reply, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_transport_faults, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_answer_too_long, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_key_outlives_source, setup,
					    teardown),
	};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	RSAK = EVP_RSA_gen(2048);
	ECK = EVP_EC_gen("P-384");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	EVP_PKEY_free(RSAK);
	EVP_PKEY_free(ECK);
	return rc;
}
