/*
 * fuzz_keys.h - the fixed software identity shared by fuzz_smime_open.c
 * and mkseeds.c, and the layout of the fuzz input's first byte.
 *
 * The key is a throwaway RSA key, public in this file: it protects
 * nothing and exists so that seeds made by mkseeds decrypt and verify
 * inside the fuzzer.  It is 1024 bits only because the fuzzer makes two
 * or three private-key operations per input and 2048 bits cost it four
 * times the executions; the engine does not look at key sizes.  (With
 * 1024 bits, RSASSA-PSS with a salt as long as a SHA-512 digest does not
 * fit: hence SHA-384 below.)
 *
 * The certificate is built from the key deterministically (fixed serial,
 * names, validity and extensions; PKCS#1 v1.5 signatures are
 * deterministic), so both programs build byte-identical copies and a
 * signature made by mkseeds verifies against the fuzzer's trust store.
 *
 * Everything here is static: include it from one .c file per program.
 */
#ifndef FUZZ_KEYS_H
#define FUZZ_KEYS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* authserv-id of the result fields the fuzzer asks for. */
#define FUZZ_AUTHSERV "fuzz.example"
/* The clock of every verification: 2026-06-01T00:00:00Z. */
#define FUZZ_NOW ((time_t)1780272000)
/* The address and domain the certificate covers. */
#define FUZZ_EMAIL "fuzz@fuzz.example"
#define FUZZ_DOMAIN "fuzz.example"

/*
 * The first byte of a fuzz input; the message is the rest.
 *   bit 0      remove_signature
 *   bits 1-2   0: SMIME_OPEN_ALL, 1: SMIME_OPEN_DECRYPT,
 *              2: SMIME_OPEN_VERIFY, 3: SMIME_OPEN_ALL with a find_key
 *              that fails as a token would (GW_ERR_P11_TOKEN_ABSENT)
 *   bit 3      smime_sign() mode opaque (else detached)
 *   bits 4-5   smime_encrypt() cipher: 0 default (AES-256-CBC),
 *              1 aes128-cbc, 2 aes128-gcm, 3 aes256-gcm
 *   bit 6      RSASSA-PSS for signing, RSA-OAEP for encryption
 *   bit 7      SHA-384 for signing (else the default, SHA-256)
 */
#define FUZZ_IN_REMOVE_SIG 0x01u
#define FUZZ_IN_ONLY_SHIFT 1
#define FUZZ_IN_ONLY_MASK 0x06u
#define FUZZ_IN_ONLY_ALL 0u
#define FUZZ_IN_ONLY_DECRYPT 1u
#define FUZZ_IN_ONLY_VERIFY 2u
#define FUZZ_IN_TOKEN_FAIL 3u
#define FUZZ_IN_OPAQUE 0x08u
#define FUZZ_IN_CIPHER_SHIFT 4
#define FUZZ_IN_CIPHER_MASK 0x30u
#define FUZZ_IN_PSS_OAEP 0x40u
#define FUZZ_IN_SHA384 0x80u

static const char fuzz_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIICdwIBADANBgkqhkiG9w0BAQEFAASCAmEwggJdAgEAAoGBANljBENF45RcwOGW\n"
    "fVyP8d3DxxAK/koYJlyHPQC5vo4lWpnCBIHBZv/zPxHoo8NE3goC7NrKbqn91rWQ\n"
    "VbO5RLcFEGw9SfYQsw4coF6IVt4/doCq5nrE5pdpOC7BwicYPZFSxYsQgaKjm3K3\n"
    "1nz3KBmaV7dcQFc3fPnr4UYQCNNnAgMBAAECgYBPtFNSyyQ3OI7r536NWqXGtsqc\n"
    "4jr8NcCS+m7ufiwU+DMw3wdCAARg4fIFAfRRW0XCC/KGAeTzZQO9TG9v1wUPHMSt\n"
    "l5gHeGYwBTi1uSLPF9ucI/4uazSeJL3cLmPjp+N4sMt2IQ1W2qxjP7LBKL5RUQN+\n"
    "3/v62Kp+DjYVR/FTiQJBAO93ejWjbAsxlP1Ml7Fdp0QvkyRrba8bvH1Ka+kXwa44\n"
    "N29JJlcsY1omTJtq0lYLM4nfR9nZ05rJCEZB2L3zp9sCQQDoZUgGP48T1rhmy7e7\n"
    "+1UadsCyyU86/AIPT1nGpjgowSDzsE9pMK80dNc6uwc0nA0TMye4EK2lJdNGsiwm\n"
    "ru5lAkAepxeQqCObZzRgHB7KyGcx1jkqj0nSAWXmT9FyW+Uh7PZDm4R54iexkXd6\n"
    "6XiVJQfq3Rbwbu6kQJl7jNA2uGrDAkEAnB7mSuRJ/z7hdJVo4k1O989NVw5sPqjr\n"
    "zVM2cYBa++36cBtCzdzZ5viTWq4oggxPsFVOWpZBwU9u5vBtPrOIDQJBAMN3Fggi\n"
    "Vrz/gF3YACMCYVvGLCPynAsZeb7x3rR+zE79IYYnAr/X78uXL/7OpgtHXrtlHSOy\n"
    "40x5p5jTWWEIwu8=\n"
    "-----END PRIVATE KEY-----\n";

/* The key, or NULL. */
static EVP_PKEY *
fuzz_key_load(void)
{
	BIO *b;
	EVP_PKEY *k;

	if ((b = BIO_new_mem_buf(fuzz_key_pem, -1)) == NULL)
		return NULL;
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	return k;
}

static int
fuzz_cert_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/*
 * The self-signed certificate of key: serial 1, CN=fuzz.example,
 * O=smimegw fuzz, C=DE, valid 2020-01-01 to 2099-12-31, an end entity
 * for email protection with keyUsage digitalSignature, nonRepudiation
 * and keyEncipherment, SAN email:fuzz@fuzz.example and DNS:fuzz.example.
 * NULL on failure.
 */
static X509 *
fuzz_cert_build(EVP_PKEY *key)
{
	X509 *x = NULL;
	X509_NAME *n = NULL;
	int ok = 0;

	if ((x = X509_new()) == NULL || (n = X509_NAME_new()) == NULL)
		goto out;
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    !X509_NAME_add_entry_by_txt(
	        n, "C", MBSTRING_ASC, (const unsigned char *)"DE", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
	                                (const unsigned char *)"smimegw fuzz",
	                                -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	                                (const unsigned char *)FUZZ_DOMAIN, -1,
	                                -1, 0) ||
	    !X509_set_subject_name(x, n) || !X509_set_issuer_name(x, n) ||
	    !ASN1_TIME_set_string_X509(X509_getm_notBefore(x),
	                               "20200101000000Z") ||
	    !ASN1_TIME_set_string_X509(X509_getm_notAfter(x),
	                               "20991231235959Z") ||
	    !X509_set_pubkey(x, key))
		goto out;
	if (!fuzz_cert_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
	    !fuzz_cert_ext(x, NID_key_usage,
	                   "critical,digitalSignature,nonRepudiation,"
	                   "keyEncipherment") ||
	    !fuzz_cert_ext(x, NID_ext_key_usage, "emailProtection") ||
	    !fuzz_cert_ext(x, NID_subject_alt_name,
	                   "email:" FUZZ_EMAIL ",DNS:" FUZZ_DOMAIN) ||
	    !fuzz_cert_ext(x, NID_subject_key_identifier, "hash"))
		goto out;
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		goto out;
	ok = 1;
out:
	X509_NAME_free(n);
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

/*
 * The identity as a fuzz target keeps it for the life of the process:
 * the key, its certificate, a trust store holding that certificate and
 * a stack of it alone (recipients, or the certificates handed in beside
 * a message).  Aborts, naming who, when any of it cannot be made.
 */
struct fuzz_identity {
	EVP_PKEY *key;
	X509 *cert;
	X509_STORE *trust;
	STACK_OF(X509) *one;
};

static inline void
fuzz_identity_make(struct fuzz_identity *id, const char *who)
{
	if ((id->key = fuzz_key_load()) == NULL ||
	    (id->cert = fuzz_cert_build(id->key)) == NULL ||
	    (id->trust = X509_STORE_new()) == NULL ||
	    (id->one = sk_X509_new_null()) == NULL ||
	    !X509_STORE_add_cert(id->trust, id->cert) ||
	    !sk_X509_push(id->one, id->cert)) {
		fprintf(stderr, "%s: init failed\n", who);
		ERR_print_errors_fp(stderr);
		abort();
	}
}

#endif
