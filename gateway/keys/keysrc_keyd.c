/*
 * keysrc_keyd.c - the workers' key source: private-key operations as
 * requests to smimegw-keyd, and proxy EVP_PKEYs whose ENGINE methods
 * send them (keysrc_keyd.h).  The only file that builds EVP_PKEY
 * methods; it never includes pkcs11/.
 */
#include "keysrc_keyd.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "gw_err.h"
#include "ipc.h"
#include "keyd_proto.h"

/* ---- the connection ---------------------------------------------------- */

/* Shared by the key source and the proxy keys it handed out. */
struct keyd_conn {
	int fd;			/* -1 once closed */
	int refs;
	uint32_t next_id;
	int timeout_ms;
};

static void
conn_unref(struct keyd_conn *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

/* A transport failure: the stream is out of step, so it is closed. */
static int
conn_broken(struct keyd_conn *c, const char *what)
{
	char cause[512];

	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	/* The framing layer's detail, if it set one, becomes the cause. */
	snprintf(cause, sizeof(cause), "%s", gw_err_detail());
	gw_err_clear();
	return gw_err_set(GW_ERR_IO, "smimegw-keyd: %s%s%s%s; the "
			  "connection is closed", what, cause[0] ? " (" : "",
			  cause, cause[0] ? ")" : "");
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is readable or the deadline passes. */
static int
wait_readable(struct keyd_conn *c, long deadline)
{
	struct pollfd pfd;
	long left;
	int n;

	for (;;) {
		if ((left = deadline - now_ms()) <= 0)
			return conn_broken(c, "no reply in time");
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if ((n = poll(&pfd, 1, (int)left)) > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return conn_broken(c, "poll failed");
	}
}

/*
 * Sends the request m (id) and reads its reply into *f.  Returns 0 with
 * *p, *n (borrowed from *f), keyd's error code from an error reply, or
 * GW_ERR_IO for a transport failure.  *f must be freed in every case.
 */
static int
conn_call(struct keyd_conn *c, struct ipc_msg *m, uint32_t id,
	  struct ipc_frame *f, const unsigned char **p, size_t *n)
{
	int rc, code;

	memset(f, 0, sizeof(*f));
	if (c->fd < 0)
		return gw_err_set(GW_ERR_IO,
				  "smimegw-keyd: no connection (closed "
				  "after an earlier failure)");
	if ((rc = m->err) != 0)
		return rc; /* a request over its caps: not sent */
	if (ipc_write(c->fd, m) != 0)
		return conn_broken(c, "the request could not be sent");
	if ((rc = wait_readable(c, now_ms() + c->timeout_ms)) != 0)
		return rc;
	if ((rc = ipc_read(c->fd, f)) != 0)
		return conn_broken(c, rc == GW_ERR_NOT_FOUND
					  ? "the key service closed the "
					    "connection"
					  : "the reply could not be read");
	if (keyd_reply_read(f, id, &code, p, n) != 0)
		return conn_broken(c, "a malformed reply");
	return code;
}

static uint32_t
conn_id(struct keyd_conn *c)
{
	if (++c->next_id == 0)
		c->next_id = 1;
	return c->next_id;
}

/* ---- the requests ------------------------------------------------------ */

/* Copies a result into out (*outlen: its size, then the length).  The
 * buffers fit what the key can produce, so a longer answer is a broken
 * keyd: a transport failure. */
static int
take_result(struct keyd_conn *c, const char *what, const unsigned char *p,
	    size_t n, unsigned char *out, size_t *outlen)
{
	char why[96];

	if (n > *outlen) {
		snprintf(why, sizeof(why), "a %s of %zu bytes, at most %zu "
			 "expected", what, n, *outlen);
		return conn_broken(c, why);
	}
	memcpy(out, p, n);
	*outlen = n;
	return 0;
}

static int
remote_pubkey(struct keyd_conn *c, const char *uri, EVP_PKEY **out)
{
	struct ipc_msg m;
	struct ipc_frame f;
	const unsigned char *p = NULL, *q;
	size_t n = 0;
	uint32_t id = conn_id(c);
	int rc;

	*out = NULL;
	keyd_req_pubkey(&m, id, uri);
	if ((rc = conn_call(c, &m, id, &f, &p, &n)) == 0) {
		q = p;
		if (n > KEYD_PUBKEY_MAX ||
		    (*out = d2i_PUBKEY(NULL, &q, (long)n)) == NULL ||
		    q != p + n) {
			EVP_PKEY_free(*out);
			*out = NULL;
			rc = gw_err_set_ssl(GW_ERR_IO,
					    "smimegw-keyd: the public key "
					    "of %s does not parse", uri);
		}
	}
	ipc_msg_free(&m);
	ipc_frame_free(&f);
	return rc;
}

static int
remote_sign(struct keyd_conn *c, const char *uri,
	    const struct keysrc_sign_params *sp, const unsigned char *dgst,
	    size_t dlen, unsigned char *sig, size_t *siglen)
{
	struct ipc_msg m;
	struct ipc_frame f;
	const unsigned char *p = NULL;
	size_t n = 0;
	uint32_t id = conn_id(c);
	int rc;

	keyd_req_sign(&m, id, uri, sp, dgst, dlen);
	if ((rc = conn_call(c, &m, id, &f, &p, &n)) == 0)
		rc = take_result(c, "signature", p, n, sig, siglen);
	ipc_msg_free(&m);
	ipc_frame_free(&f);
	return rc;
}

static int
remote_decrypt(struct keyd_conn *c, const char *uri,
	       const struct keysrc_decrypt_params *dp, const unsigned char *in,
	       size_t inlen, unsigned char *out, size_t *outlen)
{
	struct ipc_msg m;
	struct ipc_frame f;
	const unsigned char *p = NULL;
	size_t n = 0;
	uint32_t id = conn_id(c);
	int rc;

	keyd_req_decrypt(&m, id, uri, dp, in, inlen);
	if ((rc = conn_call(c, &m, id, &f, &p, &n)) == 0)
		rc = take_result(c, "plaintext", p, n, out, outlen);
	ipc_msg_free(&m);	/* both wipe what they held */
	ipc_frame_free(&f);
	return rc;
}

static int
remote_derive(struct keyd_conn *c, const char *uri, EVP_PKEY *peer,
	      unsigned char *out, size_t *outlen)
{
	struct ipc_msg m;
	struct ipc_frame f;
	const unsigned char *p = NULL;
	unsigned char *der = NULL;
	size_t n = 0;
	uint32_t id = conn_id(c);
	int rc, len;

	memset(&f, 0, sizeof(f));
	if ((len = i2d_PUBKEY(peer, &der)) <= 0)
		return gw_err_set_ssl(GW_ERR_CRYPTO,
				      "the peer's public key cannot be "
				      "encoded");
	keyd_req_derive(&m, id, uri, der, (size_t)len);
	if ((rc = conn_call(c, &m, id, &f, &p, &n)) == 0)
		rc = take_result(c, "shared secret", p, n, out, outlen);
	ipc_msg_free(&m);
	ipc_frame_free(&f);
	OPENSSL_free(der);
	return rc;
}

/* ---- proxy keys: an ENGINE with RSA and EC methods ------------------- */

/* What a proxy key carries (EVP_PKEY ex_data). */
struct keyref {
	struct keyd_conn *conn;
	char *uri;
};

static CRYPTO_ONCE proxy_once = CRYPTO_ONCE_STATIC_INIT;
static int proxy_ready;
static int keyref_index = -1;
static ENGINE *proxy_engine;
static EVP_PKEY_METHOD *rsa_meth, *ec_meth;

static void
keyref_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
	    void *argp)
{
	struct keyref *ref = ptr;

	if (ref == NULL)
		return;
	conn_unref(ref->conn);
	free(ref->uri);
	free(ref);
}

/* The code of the last failed proxy operation of this thread. */
static _Thread_local int last_fault;

int
keysrc_keyd_take_fault(void)
{
	int rc = last_fault;

	last_fault = 0;
	return rc;
}

/* A failed proxy operation: the detail is latched and the code kept
 * for keysrc_keyd_take_fault(); OpenSSL's queue gets it too, for
 * whoever reads that. */
static int
proxy_fail(int rc)
{
	last_fault = rc;
	ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
		       "smimegw-keyd: %s: %s", gw_strerror(rc),
		       gw_err_detail());
	return 0;
}

/*
 * A parameter of the operation, read with the legacy method's own
 * "get" control: our contexts are legacy by construction, and OpenSSL
 * 3.0's EVP_PKEY_CTX_get_*() getters translate through OSSL_PARAMs,
 * which for legacy contexts fails (an absent OAEP label) or crashes
 * (EVP_PKEY_CTX_get_ecdh_kdf_outlen()).  Returns the control's result
 * (> 0 success; for labels and UKMs the length, 0 when none).
 */
static int
ctx_get(EVP_PKEY_CTX *ctx, int cmd, int p1, void *out)
{
	return EVP_PKEY_CTX_ctrl(ctx, -1, -1, cmd, p1, out);
}

static struct keyref *
proxy_ref(EVP_PKEY_CTX *ctx, EVP_PKEY **pk)
{
	struct keyref *ref;

	*pk = EVP_PKEY_CTX_get0_pkey(ctx);
	if (*pk == NULL ||
	    (ref = EVP_PKEY_get_ex_data(*pk, keyref_index)) == NULL) {
		gw_err_set(GW_ERR_INTERNAL,
			   "a keyd proxy method ran on a key that is not a "
			   "keyd proxy key");
		return NULL;
	}
	return ref;
}

/* The PSS salt length in bytes (-1: the digest's) from OpenSSL's
 * special values: -1 digest, -2 and -3 the maximum. */
static int
pss_saltlen(EVP_PKEY *pk, const EVP_MD *md, int salt, int *out)
{
	int embits = EVP_PKEY_get_bits(pk) - 1;
	int max = (embits + 7) / 8 - EVP_MD_get_size(md) - 2;

	if (salt == RSA_PSS_SALTLEN_DIGEST)
		*out = -1;
	else if (salt == RSA_PSS_SALTLEN_MAX_SIGN || salt == RSA_PSS_SALTLEN_MAX)
		*out = max;
	else
		*out = salt;
	if (*out < -1 || *out > max)
		return gw_err_set(GW_ERR_UNSUPPORTED,
				  "a PSS salt of %d bytes does not fit the "
				  "key", *out);
	return 0;
}

static int
rsa_sign(EVP_PKEY_CTX *ctx, unsigned char *sig, size_t *siglen,
	 const unsigned char *tbs, size_t tbslen)
{
	struct keysrc_sign_params sp = {0, KEYSRC_PAD_PKCS1, 0, 0};
	const EVP_MD *md = NULL, *mgf1 = NULL;
	struct keyref *ref;
	EVP_PKEY *pk;
	int pad = 0, salt = 0, rc;

	if ((ref = proxy_ref(ctx, &pk)) == NULL)
		return proxy_fail(GW_ERR_INTERNAL);
	if (sig == NULL) {
		*siglen = (size_t)EVP_PKEY_get_size(pk);
		return 1;
	}
	if (ctx_get(ctx, EVP_PKEY_CTRL_GET_MD, 0, &md) <= 0 || md == NULL)
		return proxy_fail(gw_err_set(GW_ERR_UNSUPPORTED,
					     "RSA signing without a digest "
					     "(raw RSA) is not offered"));
	if (ctx_get(ctx, EVP_PKEY_CTRL_GET_RSA_PADDING, 0, &pad) <= 0)
		return proxy_fail(gw_err_set_ssl(GW_ERR_CRYPTO,
						 "no RSA padding"));
	sp.md_nid = EVP_MD_get_type(md);
	if (pad == RSA_PKCS1_PSS_PADDING) {
		sp.pad = KEYSRC_PAD_PSS;
		if (ctx_get(ctx, EVP_PKEY_CTRL_GET_RSA_PSS_SALTLEN, 0, &salt) <=
			0 ||
		    ctx_get(ctx, EVP_PKEY_CTRL_GET_RSA_MGF1_MD, 0, &mgf1) <= 0)
			return proxy_fail(gw_err_set_ssl(
			    GW_ERR_CRYPTO, "no PSS parameters"));
		if ((rc = pss_saltlen(pk, md, salt, &sp.pss_saltlen)) != 0)
			return proxy_fail(rc);
		sp.mgf1_md_nid = mgf1 != NULL ? EVP_MD_get_type(mgf1) : 0;
	} else if (pad != RSA_PKCS1_PADDING) {
		return proxy_fail(gw_err_set(GW_ERR_UNSUPPORTED,
					     "RSA padding %d is not offered "
					     "for signing", pad));
	}
	if ((rc = remote_sign(ref->conn, ref->uri, &sp, tbs, tbslen, sig,
			      siglen)) != 0)
		return proxy_fail(rc);
	return 1;
}

static int
rsa_decrypt(EVP_PKEY_CTX *ctx, unsigned char *out, size_t *outlen,
	    const unsigned char *in, size_t inlen)
{
	struct keysrc_decrypt_params dp;
	const EVP_MD *md = NULL, *mgf1 = NULL;
	unsigned char *label = NULL;
	struct keyref *ref;
	EVP_PKEY *pk;
	int pad = 0, n, rc;

	memset(&dp, 0, sizeof(dp));
	if ((ref = proxy_ref(ctx, &pk)) == NULL)
		return proxy_fail(GW_ERR_INTERNAL);
	if (out == NULL) {
		*outlen = (size_t)EVP_PKEY_get_size(pk);
		return 1;
	}
	if (ctx_get(ctx, EVP_PKEY_CTRL_GET_RSA_PADDING, 0, &pad) <= 0)
		return proxy_fail(gw_err_set_ssl(GW_ERR_CRYPTO,
						 "no RSA padding"));
	if (pad == RSA_PKCS1_OAEP_PADDING) {
		dp.pad = KEYSRC_PAD_OAEP;
		if (ctx_get(ctx, EVP_PKEY_CTRL_GET_RSA_OAEP_MD, 0, &md) <= 0 ||
		    ctx_get(ctx, EVP_PKEY_CTRL_GET_RSA_MGF1_MD, 0, &mgf1) <= 0 ||
		    (n = ctx_get(ctx, EVP_PKEY_CTRL_GET_RSA_OAEP_LABEL, 0,
				 &label)) < 0)
			return proxy_fail(gw_err_set_ssl(
			    GW_ERR_CRYPTO, "no OAEP parameters"));
		dp.oaep_md_nid = md != NULL ? EVP_MD_get_type(md) : 0;
		dp.mgf1_md_nid = mgf1 != NULL ? EVP_MD_get_type(mgf1) : 0;
		dp.label = label;
		dp.labellen = label != NULL ? (size_t)n : 0;
	} else if (pad == RSA_PKCS1_PADDING) {
		dp.pad = KEYSRC_PAD_PKCS1;
	} else {
		return proxy_fail(gw_err_set(GW_ERR_UNSUPPORTED,
					     "RSA padding %d is not offered "
					     "for decryption", pad));
	}
	if ((rc = remote_decrypt(ref->conn, ref->uri, &dp, in, inlen, out,
				 outlen)) != 0)
		return proxy_fail(rc);
	return 1;
}

/* The digest an ECDSA signature over tbslen bytes was made with, when
 * the context names none. */
static int
ec_md_nid(const EVP_MD *md, size_t tbslen)
{
	if (md != NULL)
		return EVP_MD_get_type(md);
	switch (tbslen) {
	case 20:
		return NID_sha1;
	case 28:
		return NID_sha224;
	case 32:
		return NID_sha256;
	case 48:
		return NID_sha384;
	case 64:
		return NID_sha512;
	default:
		return NID_undef;
	}
}

static int
ec_sign(EVP_PKEY_CTX *ctx, unsigned char *sig, size_t *siglen,
	const unsigned char *tbs, size_t tbslen)
{
	struct keysrc_sign_params sp = {0, KEYSRC_PAD_NONE, 0, 0};
	const EVP_MD *md = NULL;
	struct keyref *ref;
	EVP_PKEY *pk;
	int rc;

	if ((ref = proxy_ref(ctx, &pk)) == NULL)
		return proxy_fail(GW_ERR_INTERNAL);
	if (sig == NULL) {
		*siglen = (size_t)EVP_PKEY_get_size(pk);
		return 1;
	}
	if (ctx_get(ctx, EVP_PKEY_CTRL_GET_MD, 0, &md) <= 0)
		md = NULL;
	if ((sp.md_nid = ec_md_nid(md, tbslen)) == NID_undef)
		return proxy_fail(gw_err_set(GW_ERR_UNSUPPORTED,
					     "ECDSA over %zu bytes that are "
					     "no digest's", tbslen));
	if ((rc = remote_sign(ref->conn, ref->uri, &sp, tbs, tbslen, sig,
			      siglen)) != 0)
		return proxy_fail(rc);
	return 1;
}

/* The X9.63 KDF (ANSI X9.63, SEC 1 3.6.1) of secret z with shared info
 * ukm, in software: keyd derives z on the token. */
static int
x963_kdf(const EVP_MD *md, const unsigned char *z, size_t zlen,
	 const unsigned char *ukm, size_t ukmlen, unsigned char *out,
	 size_t outlen)
{
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[4], *p = params;
	int rc = 0;

	*p++ = OSSL_PARAM_construct_utf8_string(
	    OSSL_KDF_PARAM_DIGEST, (char *)EVP_MD_get0_name(md), 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)z, zlen);
	if (ukm != NULL)
		*p++ = OSSL_PARAM_construct_octet_string(
		    OSSL_KDF_PARAM_INFO, (void *)ukm, ukmlen);
	*p = OSSL_PARAM_construct_end();
	if ((kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_X963KDF, NULL)) == NULL ||
	    (kctx = EVP_KDF_CTX_new(kdf)) == NULL ||
	    EVP_KDF_derive(kctx, out, outlen, params) <= 0)
		rc = gw_err_set_ssl(GW_ERR_CRYPTO, "the X9.63 KDF failed");
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return rc;
}

static int
ec_derive(EVP_PKEY_CTX *ctx, unsigned char *key, size_t *keylen)
{
	unsigned char z[256], *ukm = NULL;
	const EVP_MD *md = NULL;
	struct keyref *ref;
	EVP_PKEY *pk, *peer;
	size_t zlen = sizeof(z), outlen = 0;
	int kdf, olen = 0, ukmlen = 0, rc;

	if ((ref = proxy_ref(ctx, &pk)) == NULL)
		return proxy_fail(GW_ERR_INTERNAL);
	kdf = ctx_get(ctx, EVP_PKEY_CTRL_EC_KDF_TYPE, -2, NULL);
	if (kdf != EVP_PKEY_ECDH_KDF_NONE && kdf != EVP_PKEY_ECDH_KDF_X9_63)
		return proxy_fail(gw_err_set(GW_ERR_UNSUPPORTED,
					     "ECDH KDF type %d is not "
					     "offered", kdf));
	if (kdf == EVP_PKEY_ECDH_KDF_X9_63 &&
	    (ctx_get(ctx, EVP_PKEY_CTRL_GET_EC_KDF_OUTLEN, 0, &olen) <= 0 ||
	     olen <= 0 ||
	     ctx_get(ctx, EVP_PKEY_CTRL_GET_EC_KDF_MD, 0, &md) <= 0 ||
	     md == NULL ||
	     (ukmlen = ctx_get(ctx, EVP_PKEY_CTRL_GET_EC_KDF_UKM, 0, &ukm)) <
		 0))
		return proxy_fail(gw_err_set_ssl(GW_ERR_CRYPTO,
						 "no ECDH KDF parameters"));
	outlen = (size_t)olen;
	if (key == NULL) {
		*keylen = kdf == EVP_PKEY_ECDH_KDF_X9_63
			      ? outlen
			      : (size_t)(EVP_PKEY_get_bits(pk) + 7) / 8;
		return 1;
	}
	if ((peer = EVP_PKEY_CTX_get0_peerkey(ctx)) == NULL)
		return proxy_fail(gw_err_set(GW_ERR_INVALID,
					     "ECDH without a peer key"));
	if (kdf == EVP_PKEY_ECDH_KDF_X9_63 && *keylen != outlen)
		return proxy_fail(gw_err_set(GW_ERR_INVALID,
					     "ECDH KDF output of %zu bytes, "
					     "%zu asked", outlen, *keylen));
	if ((rc = remote_derive(ref->conn, ref->uri, peer, z, &zlen)) != 0)
		return proxy_fail(rc);
	if (kdf == EVP_PKEY_ECDH_KDF_X9_63) {
		rc = x963_kdf(md, z, zlen, ukm, ukm != NULL ? (size_t)ukmlen : 0,
			      key, outlen);
	} else {
		/* As OpenSSL's own: a shorter buffer gets the first bytes. */
		if (*keylen > zlen)
			*keylen = zlen;
		memcpy(key, z, *keylen);
	}
	OPENSSL_cleanse(z, sizeof(z));
	return rc == 0 ? 1 : proxy_fail(rc);
}

static int
proxy_pmeths(ENGINE *e, EVP_PKEY_METHOD **pmeth, const int **nids, int nid)
{
	static const int ours[] = {EVP_PKEY_RSA, EVP_PKEY_EC};

	if (pmeth == NULL) {
		*nids = ours;
		return 2;
	}
	*pmeth = nid == EVP_PKEY_RSA ? rsa_meth
		 : nid == EVP_PKEY_EC ? ec_meth
				      : NULL;
	return *pmeth != NULL;
}

/* OpenSSL's own method for id, with sign, decrypt and derive ours. */
static EVP_PKEY_METHOD *
meth_new(int id, int flags)
{
	const EVP_PKEY_METHOD *def = EVP_PKEY_meth_find(id);
	EVP_PKEY_METHOD *m;
	int (*sinit)(EVP_PKEY_CTX *) = NULL, (*dinit)(EVP_PKEY_CTX *) = NULL,
	    (*xinit)(EVP_PKEY_CTX *) = NULL;
	int (*sfn)(EVP_PKEY_CTX *, unsigned char *, size_t *,
		   const unsigned char *, size_t) = NULL;
	int (*dfn)(EVP_PKEY_CTX *, unsigned char *, size_t *,
		   const unsigned char *, size_t) = NULL;
	int (*xfn)(EVP_PKEY_CTX *, unsigned char *, size_t *) = NULL;

	if (def == NULL || (m = EVP_PKEY_meth_new(id, flags)) == NULL)
		return NULL;
	EVP_PKEY_meth_copy(m, def);
	EVP_PKEY_meth_get_sign(def, &sinit, &sfn);
	EVP_PKEY_meth_get_decrypt(def, &dinit, &dfn);
	EVP_PKEY_meth_get_derive(def, &xinit, &xfn);
	if (id == EVP_PKEY_RSA) {
		EVP_PKEY_meth_set_sign(m, sinit, rsa_sign);
		EVP_PKEY_meth_set_decrypt(m, dinit, rsa_decrypt);
	} else {
		EVP_PKEY_meth_set_sign(m, sinit, ec_sign);
		EVP_PKEY_meth_set_derive(m, xinit, ec_derive);
	}
	return m;
}

static void
proxy_init(void)
{
	ENGINE *e;

	keyref_index = EVP_PKEY_get_ex_new_index(0, NULL, NULL, NULL,
						 keyref_free);
	if (keyref_index < 0 ||
	    (rsa_meth = meth_new(EVP_PKEY_RSA, EVP_PKEY_FLAG_AUTOARGLEN)) ==
		NULL ||
	    (ec_meth = meth_new(EVP_PKEY_EC, 0)) == NULL ||
	    (e = ENGINE_new()) == NULL)
		return;
	if (!ENGINE_set_id(e, "smimegw-keyd-proxy") ||
	    !ENGINE_set_name(e, "smimegw: private keys in smimegw-keyd") ||
	    !ENGINE_set_pkey_meths(e, proxy_pmeths)) {
		ENGINE_free(e);
		return;
	}
	/* Kept for the life of the process; never added to OpenSSL's list
	 * of engines, so no other key ever uses it. */
	proxy_engine = e;
	proxy_ready = 1;
}

/* A legacy key (RSA or EC_KEY) with pub's public half, bound to the
 * proxy engine, carrying ref. */
static int
proxy_key(EVP_PKEY *pub, struct keyd_conn *c, const char *uri,
	  EVP_PKEY **out)
{
	EVP_PKEY *pk = NULL;
	struct keyref *ref = NULL;
	RSA *rsa = NULL;
	EC_KEY *ec = NULL;
	int rc = GW_ERR_NOMEM;

	*out = NULL;
	if (!CRYPTO_THREAD_run_once(&proxy_once, proxy_init) || !proxy_ready)
		return gw_err_set_ssl(GW_ERR_NOMEM,
				      "the keyd proxy engine cannot be set up");
	if ((pk = EVP_PKEY_new()) == NULL)
		goto out;
	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_RSA:
		if ((rsa = EVP_PKEY_get1_RSA(pub)) == NULL ||
		    !EVP_PKEY_assign_RSA(pk, rsa))
			goto ssl;
		rsa = NULL;
		break;
	case EVP_PKEY_EC:
		if ((ec = EVP_PKEY_get1_EC_KEY(pub)) == NULL ||
		    !EVP_PKEY_assign_EC_KEY(pk, ec))
			goto ssl;
		ec = NULL;
		break;
	default:
		rc = gw_err_set(GW_ERR_UNSUPPORTED,
				"the key %s is neither RSA nor EC", uri);
		goto out;
	}
	if ((ref = calloc(1, sizeof(*ref))) == NULL ||
	    (ref->uri = strdup(uri)) == NULL)
		goto out;
	ref->conn = c;
	c->refs++;
	if (!EVP_PKEY_set_ex_data(pk, keyref_index, ref)) {
		keyref_free(NULL, ref, NULL, 0, 0, NULL);
		ref = NULL;
		goto ssl;
	}
	ref = NULL; /* freed with pk */
	if (!EVP_PKEY_set1_engine(pk, proxy_engine))
		goto ssl;
	*out = pk;
	pk = NULL;
	rc = 0;
	goto out;
ssl:
	rc = gw_err_set_ssl(GW_ERR_CRYPTO, "cannot make a proxy key for %s",
			    uri);
out:
	if (ref != NULL) {
		free(ref->uri);
		free(ref);
	}
	RSA_free(rsa);
	EC_KEY_free(ec);
	EVP_PKEY_free(pk);
	return rc;
}

/* ---- the backend ------------------------------------------------------- */

struct keyd_src {
	struct keyd_conn *conn;
	struct {
		char *uri;
		EVP_PKEY *pkey;
	} cache[KEYSRC_KEYD_CACHE];
	size_t ncache;		/* entries in use; the oldest first */
};

static int
keyd_load(void *ctx, const char *key_uri, EVP_PKEY **out)
{
	struct keyd_src *ks = ctx;
	EVP_PKEY *pub = NULL, *pk = NULL;
	char *uri = NULL;
	size_t i;
	int rc;

	/* A new key: an earlier key's fault is not its own
	 * (keysrc_fault()). */
	keysrc_keyd_take_fault();
	*out = NULL;
	for (i = 0; i < ks->ncache; i++)
		if (strcmp(ks->cache[i].uri, key_uri) == 0) {
			if (!EVP_PKEY_up_ref(ks->cache[i].pkey))
				return GW_ERR_NOMEM;
			*out = ks->cache[i].pkey;
			return 0;
		}
	if ((rc = remote_pubkey(ks->conn, key_uri, &pub)) != 0 ||
	    (rc = proxy_key(pub, ks->conn, key_uri, &pk)) != 0)
		goto out;
	if ((uri = strdup(key_uri)) == NULL || !EVP_PKEY_up_ref(pk)) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	if (ks->ncache == KEYSRC_KEYD_CACHE) {
		free(ks->cache[0].uri);
		EVP_PKEY_free(ks->cache[0].pkey);
		memmove(&ks->cache[0], &ks->cache[1],
			(KEYSRC_KEYD_CACHE - 1) * sizeof(ks->cache[0]));
		ks->ncache--;
	}
	ks->cache[ks->ncache].uri = uri;
	ks->cache[ks->ncache].pkey = pk;
	ks->ncache++;
	uri = NULL;
	*out = pk;
	pk = NULL;
out:
	free(uri);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(pk);
	return rc;
}

static int
keyd_sign(void *ctx, const char *key_uri, const struct keysrc_sign_params *p,
	  const unsigned char *dgst, size_t dlen, unsigned char *sig,
	  size_t *siglen)
{
	struct keyd_src *ks = ctx;

	return remote_sign(ks->conn, key_uri, p, dgst, dlen, sig, siglen);
}

static int
keyd_decrypt(void *ctx, const char *key_uri,
	     const struct keysrc_decrypt_params *p, const unsigned char *in,
	     size_t inlen, unsigned char *out, size_t *outlen)
{
	struct keyd_src *ks = ctx;

	return remote_decrypt(ks->conn, key_uri, p, in, inlen, out, outlen);
}

static int
keyd_derive(void *ctx, const char *key_uri, EVP_PKEY *peer,
	    unsigned char *out, size_t *outlen)
{
	struct keyd_src *ks = ctx;

	return remote_derive(ks->conn, key_uri, peer, out, outlen);
}

static void
keyd_free(void *ctx)
{
	struct keyd_src *ks = ctx;
	size_t i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->ncache; i++) {
		free(ks->cache[i].uri);
		EVP_PKEY_free(ks->cache[i].pkey);
	}
	/* Keys still held elsewhere keep the struct, not the stream. */
	if (ks->conn != NULL && ks->conn->fd >= 0) {
		close(ks->conn->fd);
		ks->conn->fd = -1;
	}
	conn_unref(ks->conn);
	free(ks);
}

/* keysrc_fault(): a temporary failure of a proxy key's operation (keyd
 * gone, the token lost behind it); a refusal is the input's fault. */
static int
keyd_fault(void *ctx)
{
	int rc = keysrc_keyd_take_fault();

	(void)ctx;
	return rc != 0 && gw_err_class(rc) == GW_ERRCLASS_TEMPORARY ? rc : 0;
}

static const struct keysrc_ops keyd_ops = {
	.name = "keyd",
	.load = keyd_load,
	.sign = keyd_sign,
	.decrypt = keyd_decrypt,
	.derive = keyd_derive,
	.fault = keyd_fault,
	.free = keyd_free,
};

struct keysrc *
keysrc_keyd_new(int fd, int timeout_ms)
{
	struct keyd_src *ks;
	struct timeval tv;

	if ((ks = calloc(1, sizeof(*ks))) == NULL ||
	    (ks->conn = calloc(1, sizeof(*ks->conn))) == NULL) {
		free(ks);
		close(fd);
		return NULL;
	}
	ks->conn->fd = fd;
	ks->conn->refs = 1;
	ks->conn->timeout_ms = timeout_ms > 0 ? timeout_ms
					      : KEYSRC_KEYD_TIMEOUT_MS;
	/* The rest of a reply that has begun, and a request, get the
	 * same time (poll() covers the wait for a reply's first byte); a
	 * descriptor that is no socket (a test's pipe) goes without. */
	tv.tv_sec = ks->conn->timeout_ms / 1000;
	tv.tv_usec = (ks->conn->timeout_ms % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return keysrc_new(&keyd_ops, ks);
}
