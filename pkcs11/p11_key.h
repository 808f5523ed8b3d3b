/*
 * p11_key.h - private keys on the token, as EVP_PKEYs and as PKCS#11
 * attributes.
 *
 * p11_key_load() hands out keys whose private operations run on the
 * token through the libp11 "pkcs11" ENGINE, started on first use with
 * the module of the struct p11_token and a UI method that refuses to
 * prompt (our session already carries the login).  The rules of
 * p11_token.h apply; p11_key.c is the only file that uses the
 * deprecated ENGINE API.
 */
#ifndef P11_KEY_H
#define P11_KEY_H

#include <openssl/evp.h>

struct p11_token;

/* An EVP_PKEY whose private operations run on the token, through the
 * engine.  GW_ERR_NOT_FOUND when no private key matches key_uri. */
int p11_key_load(struct p11_token *tok, const char *key_uri, EVP_PKEY **out);

/*
 * After a private-key operation with a key from p11_key_load() failed
 * (CMS_decrypt(), CMS_sign(), EVP_PKEY_decrypt() ...): the GW_ERR_* of
 * the token fault that made it fail, with a latched detail naming the
 * CK_RV, or 0 when the failure was none of the token's faults.  A fault
 * is a device, token, session, login or module failure (CKR_DEVICE_*,
 * CKR_TOKEN_*, CKR_SESSION_*, CKR_USER_NOT_LOGGED_IN,
 * CKR_CRYPTOKI_NOT_INITIALIZED, ...): gw_err_class() calls it temporary.
 * What bad input can cause (CKR_GENERAL_ERROR, CKR_FUNCTION_FAILED,
 * CKR_ENCRYPTED_DATA_*, a refused mechanism) is no fault: 0.
 *
 * The CK_RV is read from this thread's OpenSSL error queue, where
 * libp11 leaves it; the queue is drained.  Call it right after the
 * failed operation, before anything clears the queue.
 */
int p11_key_fault(void);

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
