/*
 * mkseeds_der.c - writes the seed corpus of fuzz_smime_der.
 *
 *	mkseeds_der DIR
 *
 * Each seed is one byte (even: a signature, odd: an envelope) and DER
 * made with OpenSSL's CMS API and the fixed identity of fuzz_keys.h:
 * detached signatures of the content fuzz_smime_der.c checks (without
 * their certificates, SHA-256 and SHA-384, by issuer and serial or by
 * key identifier) and envelopes to that identity (AES-128/256-CBC, DER
 * and BER, PKCS#1 v1.5 and OAEP, a short and a long content).  Keys and
 * times are fresh each run.  Exit status 0, or 1 with a message.
 *
 * Build: as mkseeds.c (README.md here).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "fuzz_keys.h"

#define FUZZ_DER_CONTENT "Content-Type: text/plain\r\n\r\nfuzz content\r\n"

static EVP_PKEY *key;
static X509 *cert;
static const char *outdir;

static void
die(const char *what)
{
	fprintf(stderr, "mkseeds_der: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void
write_seed(const char *name, unsigned char kind, CMS_ContentInfo *cms,
	   BIO *in, unsigned flags)
{
	char path[4096];
	BIO *mem = BIO_new(BIO_s_mem());
	FILE *f;
	char *p;
	long n;

	if (mem == NULL)
		die("memory BIO");
	if ((flags & CMS_STREAM) ? !i2d_CMS_bio_stream(mem, cms, in, (int)flags)
				 : !i2d_CMS_bio(mem, cms))
		die(name);
	n = BIO_get_mem_data(mem, &p);
	snprintf(path, sizeof(path), "%s/%s", outdir, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(&kind, 1, 1, f) != 1 ||
	    fwrite(p, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0)
		die(path);
	BIO_free(mem);
}

/* A signature of FUZZ_DER_CONTENT: detached unless extra holds
 * CMS_STREAM or opaque is set (then opaque, BER with CMS_STREAM). */
static void
signature(const char *name, const EVP_MD *md, unsigned extra)
{
	unsigned flags = CMS_BINARY | CMS_NOCERTS | extra;
	BIO *in = BIO_new_mem_buf(FUZZ_DER_CONTENT,
				  (int)strlen(FUZZ_DER_CONTENT));
	CMS_ContentInfo *cms = CMS_sign(NULL, NULL, NULL, NULL,
					flags | CMS_PARTIAL);

	if (in == NULL || cms == NULL ||
	    CMS_add1_signer(cms, cert, key, md, flags) == NULL ||
	    (!(flags & CMS_STREAM) && !CMS_final(cms, in, NULL, flags)))
		die(name);
	write_seed(name, 0, cms, in, flags & CMS_STREAM);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
}

static void
envelope(const char *name, const EVP_CIPHER *cipher, size_t len, int ber,
	 int oaep)
{
	unsigned flags = CMS_BINARY | CMS_PARTIAL | (ber ? CMS_STREAM : 0);
	STACK_OF(X509) *to = sk_X509_new_null();
	char *text = malloc(len + 1);
	CMS_ContentInfo *cms;
	CMS_RecipientInfo *ri;
	EVP_PKEY_CTX *pc;
	BIO *in;
	size_t i;

	if (to == NULL || text == NULL || !sk_X509_push(to, cert))
		die(name);
	for (i = 0; i < len; i++)
		text[i] = i % 64 == 63 ? '\n' : (char)('a' + i % 26);
	if ((in = BIO_new_mem_buf(text, (int)len)) == NULL ||
	    (cms = CMS_encrypt(NULL, NULL, cipher, flags)) == NULL ||
	    (ri = CMS_add1_recipient_cert(cms, cert,
					  oaep ? CMS_KEY_PARAM : 0)) == NULL)
		die(name);
	if (oaep && ((pc = CMS_RecipientInfo_get0_pkey_ctx(ri)) == NULL ||
		     EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING) <=
			 0))
		die(name);
	if (!ber && !CMS_final(cms, in, NULL, flags))
		die(name);
	write_seed(name, 1, cms, in, ber ? flags : 0);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	sk_X509_free(to);
	free(text);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds_der DIR\n");
		return 2;
	}
	outdir = argv[1];
	if ((key = fuzz_key_load()) == NULL ||
	    (cert = fuzz_cert_build(key)) == NULL)
		die("the fixed identity");
	signature("sig_sha256", EVP_sha256(), CMS_DETACHED);
	signature("sig_sha384", EVP_sha384(), CMS_DETACHED);
	signature("sig_keyid", EVP_sha256(), CMS_DETACHED | CMS_USE_KEYID);
	signature("sig_opaque_der", EVP_sha256(), 0);
	signature("sig_opaque_ber", EVP_sha256(), CMS_STREAM);
	envelope("env_der_short", EVP_aes_128_cbc(), 100, 0, 0);
	envelope("env_ber_short", EVP_aes_256_cbc(), 100, 1, 0);
	envelope("env_ber_long", EVP_aes_256_cbc(), 70000, 1, 0);
	envelope("env_der_long", EVP_aes_128_cbc(), 70000, 0, 0);
	envelope("env_oaep", EVP_aes_256_cbc(), 1000, 0, 1);
	envelope("env_gcm", EVP_aes_256_gcm(), 1000, 0, 0);
	return 0;
}
