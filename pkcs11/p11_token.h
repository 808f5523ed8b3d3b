/*
 * p11_token.h - the only door to the PKCS#11 token.
 *
 * One struct p11_token per process owns all PKCS#11 state: the module
 * loaded once, one read-write session of our own that carries the login,
 * and (lazily) the libp11 "pkcs11" ENGINE through which every private-key
 * operation runs, so that PSS and OAEP stay on the token's own
 * mechanisms.  Raw PKCS#11 calls are used only where libp11 0.4.12 has
 * no call that sets the attributes we need: key-pair generation with an
 * explicit non-extractable template (RSA and EC), import of a PKCS#12
 * private key as a sensitive object, certificate objects, and object
 * deletion.  Raw code opens and closes only its own session; it never
 * calls C_Logout, C_CloseAllSessions or C_Finalize while the engine is
 * live.
 *
 * Login happens once, on our session, when the token is opened: the PIN
 * is read from pin_file, used, and wiped.  libp11 then finds the token
 * already logged in and never holds the PIN.  A failed login is never
 * retried (each failure counts against the token's retry counter).
 *
 * Do not fork after p11_token_open(): the module's state is not
 * fork-safe.  Private-key operations on loaded EVP_PKEYs are thread-safe.
 *
 * Errors: every CK_RV an operator can meet maps to its own GW_ERR_P11_*
 * code with a detail naming the PKCS#11 function and return value.
 */
#ifndef P11_TOKEN_H
#define P11_TOKEN_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

struct p11_token;

struct p11_token_config {
	const char *module;	/* path of the PKCS#11 module */
	const char *token_uri;	/* RFC 7512 URI selecting the token */
	const char *pin_file;	/* see p11_pin.h */
};

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

/* Loads the module, finds the token, opens our session and logs in.
 * Returns 0 and *out, or a GW_ERR_P11_* / GW_ERR_PERM / GW_ERR_IO code. */
int p11_token_open(const struct p11_token_config *cfg, struct p11_token **out);
void p11_token_close(struct p11_token *tok);

/* The token's label as the token reports it (trailing blanks removed). */
const char *p11_token_label(const struct p11_token *tok);

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

/* An EVP_PKEY whose private operations run on the token, through the
 * engine.  GW_ERR_NOT_FOUND when no private key matches key_uri. */
int p11_key_load(struct p11_token *tok, const char *key_uri, EVP_PKEY **out);

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

struct p11_key_attrs {
	int present;		/* a private key with this id exists */
	int sensitive;
	int extractable;
	int always_sensitive;
	int never_extractable;
	int local;		/* generated on the token */
	int can_sign;
	int can_decrypt;	/* decrypt (RSA) or derive (EC) */
};

/* The private key's protection attributes, for display and tests. */
int p11_key_attrs(struct p11_token *tok, const char *key_uri,
		  struct p11_key_attrs *attrs);

#endif
