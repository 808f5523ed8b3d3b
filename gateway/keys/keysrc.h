/*
 * keysrc.h - the key source: the only way the pipeline and the S/MIME
 * engine reach a private key.
 *
 * The gateway's identities (certificate, chain, usage, key URI) are
 * public facts read from the store; their private keys are somewhere
 * else.  A key source answers the private-key side, through a backend:
 *
 *   keysrc_token  the CLI: the token in this process (keysrc_token.h);
 *   keyd          the daemon's workers: requests to smimegw-keyd over a
 *                 socket (the worker never maps the PKCS#11 module).
 *
 * Every backend offers the same closed set of operations, each with its
 * mechanism parameters, which is also what keyd serves:
 *
 *   load     an EVP_PKEY for a key URI whose private operations run in
 *            the backend, so that OpenSSL's CMS code is the same
 *            whatever the backend;
 *   sign     a signature over a digest (RSA PKCS#1 v1.5 or PSS, ECDSA);
 *   decrypt  a key transport (RSA PKCS#1 v1.5 or OAEP);
 *   derive   an ECDH shared secret with a peer's public key.
 *
 * The find functions pick the identity (read in the caller's store
 * transaction) that signs under a name, or that a CMS message is
 * encrypted to (by issuer and serial number or subject key identifier);
 * they never touch the private key.
 *
 * Errors: 0 or a negative GW_ERR_* with a latched detail.
 * gw_err_class() tells a temporary failure (the token is unavailable,
 * a session was lost, keyd is restarting: try the message again later)
 * from a permanent one (no such identity, an unsupported mechanism).
 */
#ifndef KEYSRC_H
#define KEYSRC_H

#include <stddef.h>

#include <openssl/cms.h>
#include <openssl/evp.h>

#include "gw_store.h"
#include "identity.h"

struct keysrc;

/* Ceilings of the operations' inputs and outputs (RSA-16384). */
#define KEYSRC_DIGEST_MAX 64
#define KEYSRC_BLOB_MAX 2048

enum keysrc_pad {
	KEYSRC_PAD_PKCS1,	/* RSA PKCS#1 v1.5 */
	KEYSRC_PAD_PSS,		/* RSASSA-PSS */
	KEYSRC_PAD_OAEP,	/* RSAES-OAEP */
	KEYSRC_PAD_NONE,	/* ECDSA: the key type decides */
};

struct keysrc_sign_params {
	int md_nid;		/* the digest tbs is (NID_sha256 ...) */
	enum keysrc_pad pad;	/* PKCS1 or PSS for RSA; NONE for EC */
	int pss_saltlen;	/* PSS: bytes; -1: the digest's length */
	int mgf1_md_nid;	/* PSS: 0: md_nid */
};

struct keysrc_decrypt_params {
	enum keysrc_pad pad;	/* PKCS1 or OAEP */
	int oaep_md_nid;	/* OAEP: 0: SHA-1 */
	int mgf1_md_nid;	/* OAEP: 0: oaep_md_nid */
	const unsigned char *label; /* OAEP label, may be NULL */
	size_t labellen;
};

/* A backend.  ctx is the backend's own; free may be NULL. */
struct keysrc_ops {
	const char *name;
	int (*load)(void *ctx, const char *key_uri, EVP_PKEY **out);
	int (*sign)(void *ctx, const char *key_uri,
		    const struct keysrc_sign_params *p,
		    const unsigned char *dgst, size_t dlen,
		    unsigned char *sig, size_t *siglen);
	int (*decrypt)(void *ctx, const char *key_uri,
		       const struct keysrc_decrypt_params *p,
		       const unsigned char *in, size_t inlen,
		       unsigned char *out, size_t *outlen);
	int (*derive)(void *ctx, const char *key_uri, EVP_PKEY *peer,
		      unsigned char *out, size_t *outlen);
	/* May be NULL: the backend fault behind the failure of an
	 * operation OpenSSL ran on a key from load (keysrc_fault()). */
	int (*fault)(void *ctx);
	void (*free)(void *ctx);
};

/* A key source over a backend; NULL when out of memory (ctx is then
 * freed with ops->free). */
struct keysrc *keysrc_new(const struct keysrc_ops *ops, void *ctx);
void keysrc_free(struct keysrc *ks);
const char *keysrc_name(const struct keysrc *ks);
/* The backend's ctx when ks runs on ops, else NULL: for a backend's
 * own functions (keysrc_token_open()). */
void *keysrc_backend(const struct keysrc *ks, const struct keysrc_ops *ops);

/* The identity called name (get1: identity_free()); GW_ERR_NOT_FOUND. */
int keysrc_find_signer(struct keysrc *ks, struct gw_txn *txn,
		       const char *name, struct identity **out);

/*
 * For whom a message is decrypted: an identity may decrypt it only when
 * one of its certificates (the current one, or the one the message
 * names) covers one of the envelope recipients rcpt by the address rule
 * (addr_rule_covers(): the address, its domain or a wildcard), or when
 * it is the identity named catch_all.  With any set, every identity may
 * (an administrator's tool; never the mail path).
 */
struct keysrc_for {
	const char *const *rcpt;	/* envelope recipients */
	size_t nrcpt;
	const char *catch_all;		/* an identity's name; NULL or "": none */
	int any;
};

/*
 * The first identity for encryption that one of cms's recipient infos
 * names (by issuer and serial number or subject key identifier, through
 * its current certificate or one of its previous ones) and that f lets
 * decrypt: *out (get1) and *cert (get1), the certificate the message
 * names, which CMS_decrypt() needs.  GW_ERR_NOT_FOUND when none does:
 * with no detail when no identity is a recipient; with a detail naming
 * the identity and the envelope recipients when some identity is a
 * recipient that f refuses.
 */
int keysrc_find_recipient(struct keysrc *ks, struct gw_txn *txn,
			  CMS_ContentInfo *cms, const struct keysrc_for *f,
			  struct identity **out, X509 **cert);

/* An EVP_PKEY for id's private key (get1), its operations run by the
 * backend. */
int keysrc_key(struct keysrc *ks, const struct identity *id,
	       EVP_PKEY **out);

/*
 * The private-key operations.  *siglen and *outlen hold the size of the
 * output buffer on entry and the length written on return; inputs over
 * KEYSRC_DIGEST_MAX or KEYSRC_BLOB_MAX are GW_ERR_LIMIT.
 */
int keysrc_sign(struct keysrc *ks, const struct identity *id,
		const struct keysrc_sign_params *p, const unsigned char *dgst,
		size_t dlen, unsigned char *sig, size_t *siglen);
int keysrc_decrypt(struct keysrc *ks, const struct identity *id,
		   const struct keysrc_decrypt_params *p,
		   const unsigned char *in, size_t inlen, unsigned char *out,
		   size_t *outlen);
int keysrc_derive(struct keysrc *ks, const struct identity *id,
		  EVP_PKEY *peer, unsigned char *out, size_t *outlen);

/*
 * After an operation with a key from keysrc_key() failed inside OpenSSL
 * (CMS_decrypt() says no more than "decrypt error"): the GW_ERR_* of a
 * fault of the backend that made it fail (the token lost, a device or
 * session error, keyd gone: gw_err_class() calls it temporary), with a
 * latched detail; 0 when the backend saw none, and the input is to
 * blame.  Also reports, once, a temporary failure of keysrc_sign(),
 * keysrc_decrypt() or keysrc_derive() since the last call of it or of
 * keysrc_key().  Call it
 * right after the failed operation, before the OpenSSL error queue is
 * cleared (the token backend reads the CK_RV there).
 */
int keysrc_fault(struct keysrc *ks);

/*
 * What a backend that holds an EVP_PKEY does for sign, decrypt and
 * derive: the operation on pkey with the parameters set.  The token
 * backend uses these in the CLI, and keyd with the same backend serves
 * the workers' requests with them.
 */
int keysrc_pkey_sign(EVP_PKEY *pkey, const struct keysrc_sign_params *p,
		     const unsigned char *dgst, size_t dlen,
		     unsigned char *sig, size_t *siglen);
int keysrc_pkey_decrypt(EVP_PKEY *pkey, const struct keysrc_decrypt_params *p,
			const unsigned char *in, size_t inlen,
			unsigned char *out, size_t *outlen);
int keysrc_pkey_derive(EVP_PKEY *pkey, EVP_PKEY *peer, unsigned char *out,
		       size_t *outlen);

#endif
