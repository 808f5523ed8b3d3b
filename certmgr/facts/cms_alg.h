/*
 * cms_alg.h - the names the configuration and the command line use for
 * CMS digests and content-encryption algorithms, and the two ways of
 * signing.  Shared by the S/MIME engine (which uses them) and the store
 * (whose sending profiles name them), so that both agree on one list.
 */
#ifndef CMS_ALG_H
#define CMS_ALG_H

#include <openssl/evp.h>

enum smime_sign_mode {
	SMIME_SIGN_DETACHED, /* multipart/signed + application/pkcs7-signature */
	SMIME_SIGN_OPAQUE,   /* application/pkcs7-mime; smime-type=signed-data */
};

/* "sha256", "sha384", "sha512" -> the digest; NULL otherwise. */
const EVP_MD *cms_alg_digest(const char *name);
/* "aes128-cbc" ... "aes256-gcm" -> the cipher; NULL otherwise. */
const EVP_CIPHER *cms_alg_cipher(const char *name);

#endif
