/*
 * p11_admin.h - managing objects on the token: key-pair generation,
 * import of a software private key, certificate objects, deletion.
 *
 * These are the raw PKCS#11 calls libp11 0.4.12 lacks (templates with
 * the attributes we need); they run on the session of the struct
 * p11_token and follow the rules of p11_token.h.  Management only: the
 * message path never calls them.
 */
#ifndef P11_ADMIN_H
#define P11_ADMIN_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

struct p11_token;

enum p11_keytype {
	P11_KEY_RSA2048,
	P11_KEY_RSA3072,
	P11_KEY_RSA4096,
	P11_KEY_EC_P256,
	P11_KEY_EC_P384,
};

/* What a token key may do; the private key can always sign (it signs
 * its own self-signed certificate and CSRs). */
#define P11_KEY_DECRYPT 0x1 /* RSA: decrypt + unwrap; EC: derive */

/* "rsa:2048" ... "ec:p384" -> 0; GW_ERR_INVALID otherwise. */
int p11_keytype_parse(const char *s, enum p11_keytype *out);
const char *p11_keytype_name(enum p11_keytype kt);

/*
 * Generates a key pair inside the token: the private key is TOKEN,
 * PRIVATE, SENSITIVE, not EXTRACTABLE, labelled label, with a fresh
 * random 16-byte CKA_ID shared by the public key.  Refuses (GW_ERR_EXISTS)
 * when an object labelled label already exists.  On success *key_uri is
 * the private key's URI (malloc'd) and *pub its public key as a plain
 * software key (caller frees).  Nothing is left on the token on failure.
 */
int p11_keygen(struct p11_token *tok, enum p11_keytype kt, const char *label,
	       unsigned flags, char **key_uri, EVP_PKEY **pub);

/*
 * Imports a software private key (RSA or EC P-256/P-384/P-521) into the
 * token as a SENSITIVE, non-EXTRACTABLE private key plus its public key,
 * under a fresh CKA_ID and label.  The caller still owns and frees priv.
 * Same results as p11_keygen().
 */
int p11_key_import(struct p11_token *tok, EVP_PKEY *priv, const char *label,
		   unsigned flags, char **key_uri);

/* Stores cert on the token under the CKA_ID of key_uri, replacing any
 * certificate objects with that id.  */
int p11_cert_store(struct p11_token *tok, const char *key_uri,
		   const char *label, X509 *cert);

/* Destroys every object (private, public key, certificate) sharing the
 * CKA_ID of key_uri.  *count gets the number destroyed (may be NULL). */
int p11_objects_destroy(struct p11_token *tok, const char *key_uri,
			size_t *count);

/* Destroys every object labelled label (objects a killed create or
 * import left behind).  *count gets the number destroyed. */
int p11_objects_destroy_label(struct p11_token *tok, const char *label,
			      size_t *count);

#endif
