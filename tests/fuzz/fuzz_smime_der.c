/*
 * fuzz_smime_der.c - libFuzzer target for the CMS read off the DER by
 * our own code: smime_sigcheck() and smime_sigcheck_opaque() (a
 * detached or an opaque signature checked without CMS_verify()) and
 * smime_stream_decrypt() (an envelope decrypted as its base64 is
 * decoded).  Both may only ever decide a success that
 * OpenSSL's CMS code decides too; the target checks exactly that.
 *
 * The first input byte picks the path (even: signature, odd: envelope);
 * the rest is DER.
 *
 *  - signature: the DER is a SignedData over the fixed content below,
 *    its certificates cut out (as smime_open.c hands them); the fixed
 *    certificate of fuzz_keys.h is handed in beside it and trusted, the
 *    clock at FUZZ_NOW.  When smime_sigcheck() passes, CMS_verify() on
 *    the same DER and certificate must pass, and the signer must be
 *    that certificate.  The same DER is also checked as an opaque
 *    signature (smime_sigcheck_opaque()): when that passes, d2i must
 *    end where it says the object ends, and CMS_verify() without
 *    detached content must pass and write exactly its content.
 *  - envelope: the DER is base64-encoded (76-column lines) and given to
 *    smime_stream_decrypt() with the fixed key.  When it decrypts,
 *    CMS_decrypt() (CMS_DEBUG_DECRYPT) of the same DER must decrypt to
 *    the same bytes, and bytes other than zeros after the object must
 *    be reported.
 *
 * mkseeds_der.c writes the seeds (a signature and envelopes, DER and
 * BER, made with the same identity).  Built with clang -fsanitize=
 * fuzzer, or with replay.c under any compiler (fuzz.replay.smime_der).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>

#include "fuzz_keys.h"
#include "gw_buf.h"
#include "gw_err.h"
#include "mime_codec.h"
#include "mime_parser.h"
#include "smime_open.h"
#include "smime_sigcheck.h"
#include "smime_stream.h"

/* What the signature seeds sign (mkseeds_der.c signs the same). */
#define FUZZ_DER_CONTENT "Content-Type: text/plain\r\n\r\nfuzz content\r\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fuzz_identity fz;

static void
fuzz_init(void)
{
	if (fz.key != NULL)
		return;
	fuzz_identity_make(&fz, "fuzz_smime_der");
	X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(fz.trust), FUZZ_NOW);
}

static int
find_key(void *arg, CMS_ContentInfo *cms, X509 **cert, EVP_PKEY **key)
{
	(void)arg;
	(void)cms;
	if (!X509_up_ref(fz.cert) || !EVP_PKEY_up_ref(fz.key))
		abort();
	*cert = fz.cert;
	*key = fz.key;
	return 0;
}

static void
signature(const unsigned char *der, size_t n)
{
	const unsigned char *q = der;
	CMS_ContentInfo *cms;
	X509 *signer = NULL;
	BIO *in;
	int ok;

	if (!smime_sigcheck(der, n, fz.one,
			    (const unsigned char *)FUZZ_DER_CONTENT,
			    strlen(FUZZ_DER_CONTENT), fz.trust, NULL, &signer)) {
		if (signer != NULL)
			abort();
		return;
	}
	if (signer != fz.cert || ERR_peek_error() != 0)
		abort();
	X509_free(signer);
	if ((cms = d2i_CMS_ContentInfo(NULL, &q, (long)n)) == NULL)
		abort(); /* passed what d2i refuses */
	if (!CMS_add1_cert(cms, fz.cert) ||
	    (in = BIO_new_mem_buf(FUZZ_DER_CONTENT,
				  (int)strlen(FUZZ_DER_CONTENT))) == NULL)
		abort();
	ok = CMS_verify(cms, NULL, fz.trust, in, NULL, CMS_BINARY);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	if (ok != 1)
		abort(); /* passed what CMS_verify() refuses */
	ERR_clear_error();
}

/* The same DER as an opaque signature, on a copy (the check may join
 * BER segments in it): when it passes, CMS_verify() without detached
 * content passes and writes exactly the content given out. */
static void
opaque(const unsigned char *der, size_t n)
{
	const unsigned char *q = der, *c;
	unsigned char *m = malloc(n ? n : 1);
	CMS_ContentInfo *cms;
	X509 *signer = NULL;
	size_t clen, used;
	BIO *out;
	char *p;
	long len;
	int ok;

	if (m == NULL)
		abort();
	memcpy(m, der, n);
	if (!smime_sigcheck_opaque(m, n, fz.one, fz.trust, NULL, &signer, &c,
				   &clen, &used)) {
		if (signer != NULL)
			abort();
		free(m);
		return;
	}
	if (signer != fz.cert || ERR_peek_error() != 0 || used > n ||
	    c < m || c + clen > m + used ||
	    memcmp(m + used, der + used, n - used) != 0)
		abort();
	X509_free(signer);
	if ((cms = d2i_CMS_ContentInfo(NULL, &q, (long)n)) == NULL ||
	    (size_t)(q - der) != used)
		abort(); /* passed what d2i refuses, or ends elsewhere */
	if (!CMS_add1_cert(cms, fz.cert) || (out = BIO_new(BIO_s_mem())) == NULL)
		abort();
	ok = CMS_verify(cms, NULL, fz.trust, NULL, out, CMS_BINARY);
	len = BIO_get_mem_data(out, &p);
	if (ok != 1 || (size_t)len != clen || memcmp(p, c, clen) != 0)
		abort(); /* passed what CMS_verify() refuses, or other bytes */
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	free(m);
	ERR_clear_error();
}

static void
envelope(const unsigned char *der, size_t n)
{
	struct smime_open_opts o;
	struct mime_crlf_scan sc;
	struct gw_buf text, plain;
	CMS_ContentInfo *cms = NULL, *whole;
	const unsigned char *q = der;
	unsigned char *dst;
	BIO *out;
	char *p;
	long len;
	size_t tl, i;
	int extra = 0, r, trailing = 0;

	gw_buf_init(&text, (size_t)64 << 20);
	gw_buf_init(&plain, (size_t)64 << 20);
	if (gw_buf_reserve(&text, mime_base64_encoded_max(n), &dst) != 0 ||
	    mime_base64_encode(der, n, dst, mime_base64_encoded_max(n), &tl) !=
		0)
		abort();
	text.len = tl;
	memset(&o, 0, sizeof(o));
	o.trust = fz.trust;
	o.find_key = find_key;
	mime_crlf_scan_init(&sc);
	r = smime_stream_decrypt(text.data, text.len, 64, &o, &plain, &sc,
				 &cms, &extra);
	if (r < 0 && r != GW_ERR_NOMEM)
		abort();
	if (r != 1) {
		if (cms != NULL || plain.len != 0)
			abort();
		goto out;
	}
	if (cms == NULL)
		abort();
	/* The whole way: the same DER, the same key. */
	if ((whole = d2i_CMS_ContentInfo(NULL, &q, (long)n)) == NULL)
		abort();
	for (i = (size_t)(q - der); i < n; i++)
		if (der[i] != 0)
			trailing = 1;
	if (trailing != extra)
		abort();
	if ((out = BIO_new(BIO_s_mem())) == NULL)
		abort();
	if (CMS_decrypt(whole, fz.key, fz.cert, NULL, out,
			CMS_BINARY | CMS_DEBUG_DECRYPT) != 1)
		abort(); /* decrypted what CMS_decrypt() refuses */
	len = BIO_get_mem_data(out, &p);
	if ((size_t)len != plain.len || memcmp(p, plain.data, plain.len) != 0)
		abort();
	BIO_free(out);
	CMS_ContentInfo_free(whole);
out:
	ERR_clear_error();
	gw_err_clear();
	CMS_ContentInfo_free(cms);
	gw_buf_free(&text);
	gw_buf_free_secret(&plain);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_init();
	if (size < 1 || size > ((size_t)4 << 20))
		return 0;
	if (data[0] & 1)
		envelope(data + 1, size - 1);
	else {
		signature(data + 1, size - 1);
		opaque(data + 1, size - 1);
	}
	return 0;
}
