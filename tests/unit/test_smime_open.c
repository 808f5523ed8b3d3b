/*
 * test_smime_open.c - table tests for gateway/smime/smime_open.c on
 * hand-made DER and MIME (no token, no openssl command): the ceilings
 * on certificates and signers counted before a SignedData is parsed
 * (definite and indefinite lengths), the layer ceiling, nested
 * envelopes found by their CMS content type whatever the label, MIME
 * nested past the parser's depth, and what "verified" means for CBC
 * and GCM envelopes (issue 8, items 5, 10 and 16); an envelope's content
 * read where it lies and its entity rewrapped in place, DER and BER,
 * CBC and GCM (issue 11); whether a detached signature's entity is a
 * layer, by its kind, and an opaque signature checked off the DER as
 * CMS_verify() checks it (issue 11).  Envelopes are made with smime_encrypt() (or
 * CMS_encrypt(), for an exact entity) to a software key generated for
 * the run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "gw_buf.h"
#include "gw_err.h"
#include "mime_codec.h"
#include "smime.h"
#include "smime_open.h"
#include "smime_sigcheck.h"
#include "smime_stream.h"
#include "unit_util.h"
#include "unit_x509.h"

#define AUTHSERV "unit.example"

static EVP_PKEY *key;
static X509 *cert;
static X509_STORE *trust;

/* ---- fixtures ---------------------------------------------------------- */

static int
setup(void **state)
{
	X509_NAME *n;

	(void)state;
	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)) == NULL ||
	    (cert = X509_new()) == NULL || (trust = X509_STORE_new()) == NULL)
		return -1;
	n = X509_get_subject_name(cert);
	if (!X509_set_version(cert, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(cert), 7) ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
					(const unsigned char *)"unit", -1, -1,
					0) ||
	    !X509_set_issuer_name(cert, n) ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(cert), 86400) ||
	    !X509_set_pubkey(cert, key) ||
	    !unit_add_ext(cert, cert, NID_key_usage,
			  "critical,keyEncipherment") ||
	    !unit_add_ext(cert, cert, NID_subject_alt_name,
			  "email:unit@unit.example") ||
	    X509_sign(cert, key, EVP_sha256()) <= 0 ||
	    !X509_STORE_add_cert(trust, cert))
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(key);
	X509_free(cert);
	X509_STORE_free(trust);
	return 0;
}

static int
find_key(void *arg, CMS_ContentInfo *cms, X509 **c, EVP_PKEY **k)
{
	(void)arg;
	(void)cms;
	if (!X509_up_ref(cert) || !EVP_PKEY_up_ref(key))
		return GW_ERR_NOMEM;
	*c = cert;
	*k = key;
	return 0;
}

/* smime_open() with the software key: its return code. */
static int
open_msg(const unsigned char *m, size_t n, struct gw_buf *out,
	 struct smime_open_result *res)
{
	struct smime_open_opts o;

	memset(&o, 0, sizeof(o));
	o.trust = trust;
	o.authserv_id = AUTHSERV;
	o.find_key = find_key;
	gw_err_clear();
	return smime_open(m, n, &o, out, res);
}

/* ---- DER made by hand -------------------------------------------------- */

static void
der_len(struct gw_buf *b, size_t n)
{
	unsigned char l[5];

	if (n < 0x80) {
		l[0] = (unsigned char)n;
		gw_buf_add(b, l, 1);
		return;
	}
	l[0] = 0x83;
	l[1] = (unsigned char)(n >> 16);
	l[2] = (unsigned char)(n >> 8);
	l[3] = (unsigned char)n;
	gw_buf_add(b, l, 4);
}

/* tag, then content: with a definite length, or indefinite (BER). */
static void
der_wrap(struct gw_buf *b, unsigned char tag, const struct gw_buf *c,
	 int indef)
{
	static const unsigned char eoc[2] = {0, 0};

	gw_buf_add(b, &tag, 1);
	if (indef) {
		gw_buf_adds(b, "\x80");
		gw_buf_add(b, c->data, c->len);
		gw_buf_add(b, eoc, 2);
	} else {
		der_len(b, c->len);
		gw_buf_add(b, c->data, c->len);
	}
}

/*
 * A ContentInfo holding a SignedData with ncerts dummy certificates
 * (empty SEQUENCEs: only counted, never parsed) and nsigners dummy
 * SignerInfos.
 */
static void
signed_data(struct gw_buf *out, int ncerts, int nsigners, int indef)
{
	static const unsigned char oid[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
					    0xf7, 0x0d, 0x01, 0x07, 0x02};
	static const unsigned char head[] = {
	    0x02, 0x01, 0x01,				  /* version */
	    0x31, 0x00,					  /* digestAlgorithms */
	    0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
	    0x07, 0x01};				  /* encapContentInfo */
	struct gw_buf certs, signers, sd, sdseq, ex, ci;
	int i;

	gw_buf_init(&certs, 1 << 20);
	gw_buf_init(&signers, 1 << 20);
	gw_buf_init(&sd, 1 << 20);
	gw_buf_init(&sdseq, 1 << 20);
	gw_buf_init(&ex, 1 << 20);
	gw_buf_init(&ci, 1 << 20);
	for (i = 0; i < ncerts; i++)
		gw_buf_add(&certs, "\x30\x00", 2);
	for (i = 0; i < nsigners; i++)
		gw_buf_add(&signers, "\x30\x00", 2);
	gw_buf_add(&sd, head, sizeof(head));
	der_wrap(&sd, 0xa0, &certs, indef);
	der_wrap(&sd, 0x31, &signers, indef);
	der_wrap(&sdseq, 0x30, &sd, indef);
	der_wrap(&ex, 0xa0, &sdseq, indef);
	gw_buf_add(&ci, oid, sizeof(oid));
	gw_buf_add(&ci, ex.data, ex.len);
	der_wrap(out, 0x30, &ci, indef);
	gw_buf_free(&certs);
	gw_buf_free(&signers);
	gw_buf_free(&sd);
	gw_buf_free(&sdseq);
	gw_buf_free(&ex);
	gw_buf_free(&ci);
}

/* A message From from whose body is the n bytes at der, base64, under
 * the Content-Type ct. */
static void
der_message_from(struct gw_buf *m, const char *from, const char *ct,
		 const unsigned char *der, size_t len)
{
	unsigned char *dst;
	size_t max = mime_base64_encoded_max(len), n;

	gw_buf_addf(m, "From: %s\r\nMIME-Version: 1.0\r\n"
		       "Content-Type: %s\r\n"
		       "Content-Transfer-Encoding: base64\r\n\r\n",
		    from, ct);
	assert_int_equal(gw_buf_reserve(m, max, &dst), 0);
	assert_int_equal(mime_base64_encode(der, len, dst, max, &n), 0);
	m->len += n;
}

/* The same From unit@unit.example, der in a buffer. */
static void
der_message(struct gw_buf *m, const char *ct, const struct gw_buf *der)
{
	der_message_from(m, "unit@unit.example", ct, der->data, der->len);
}

/* ---- item 16: certificates and signers per SignedData ------------------ */

static const struct count_case {
	const char *name;
	int certs, signers, indef;
	int rc;			/* smime_open()'s */
	const char *detail;	/* gw_err_detail() when rc, else the reason */
} count_cases[] = {
    {"item16_64_certificates_parsed", 64, 1, 0, 0,
     "not a valid CMS object"},
    {"item16_65_certificates_refused", 65, 1, 0, GW_ERR_LIMIT,
     "signed data with more than 64 certificates (a ceiling)"},
    {"item16_65_certificates_indefinite_refused", 65, 1, 1, GW_ERR_LIMIT,
     "signed data with more than 64 certificates (a ceiling)"},
    {"item16_52000_certificates_refused", 52000, 1, 0, GW_ERR_LIMIT,
     "more than 64 certificates"},
    {"item16_16_signers_parsed", 1, 16, 1, 0, "not a valid CMS object"},
    {"item16_17_signers_refused", 1, 17, 0, GW_ERR_LIMIT,
     "signed data with more than 16 signers (a ceiling)"},
    {"item16_17_signers_indefinite_refused", 0, 17, 1, GW_ERR_LIMIT,
     "more than 16 signers"},
};

static void
test_counts(void **state)
{
	const struct count_case *c = *state;
	struct smime_open_result res;
	struct gw_buf der, m, out;
	int rc;

	gw_buf_init(&der, (size_t)1 << 20);
	gw_buf_init(&m, (size_t)2 << 20);
	gw_buf_init(&out, (size_t)4 << 20);
	signed_data(&der, c->certs, c->signers, c->indef);
	der_message(&m, "application/pkcs7-mime; smime-type=signed-data", &der);
	rc = open_msg(m.data, m.len, &out, &res);
	assert_int_equal(rc, c->rc);
	if (rc != 0) {
		assert_substr(gw_err_detail(), c->detail);
	} else {
		assert_int_equal(res.status, SMIME_FAILED);
		assert_substr(res.reason, c->detail);
	}
	smime_open_result_free(&res);
	gw_buf_free(&der);
	gw_buf_free(&m);
	gw_buf_free(&out);
}

/* ---- issue 11: the signed entity's kind, read off the message's tree --- */

/*
 * Whether the entity a detached signature covers is itself an S/MIME
 * layer decides whether the signature is taken off to open it.  That
 * entity's header block was parsed with the message: its kind is read
 * there (a multipart/signed one, whose kind depends on its children,
 * is parsed on its own as before).  Each case signs its entity (with a
 * certificate not allowed to sign: the signature fails, which still
 * opens what is inside) and says whether a layer is inside; the test
 * sees it in the output: the outer multipart/signed (boundary OUTERB)
 * is gone exactly when the entity was opened as a layer.
 */
static const struct kind_case {
	const char *name;
	const char *entity;
	int inside;
} kind_cases[] = {
    {"issue11_kind_text", "Content-Type: text/plain\r\n\r\nhello\r\n", 0},
    {"issue11_kind_no_header", "\r\nhello\r\n", 0},
    {"issue11_kind_mixed",
     "Content-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\n"
     "Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n"
     "\r\nMIAG\r\n--in--\r\n",
     0},
    {"issue11_kind_enveloped",
     "Content-Type: application/pkcs7-mime; smime-type=enveloped-data;\r\n"
     "\tname=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAG\r\n",
     1},
    {"issue11_kind_quoted_upper",
     "CONTENT-TYPE: Application/X-PKCS7-MIME; SMIME-TYPE=\"Signed-Data\"\r\n"
     "\r\nMIAG\r\n",
     1},
    {"issue11_kind_certs_only",
     "Content-Type: application/pkcs7-mime; smime-type=certs-only\r\n\r\n"
     "MIAG\r\n",
     0},
    {"issue11_kind_pkcs7_unlabelled",
     "Content-Type: application/pkcs7-mime\r\n\r\nMIAG\r\n", 1},
    {"issue11_kind_p7m_name",
     "Content-Type: application/octet-stream; name=\"a.p7m\"\r\n\r\nMIAG\r\n",
     1},
    {"issue11_kind_p7m_filename",
     "Content-Type: application/octet-stream\r\nContent-Disposition: "
     "attachment; filename=\"b.P7M\"\r\n\r\nMIAG\r\n",
     1},
    {"issue11_kind_p7m_rfc2231",
     "Content-Type: application/octet-stream; name*=utf-8''a%2Ep7m\r\n\r\n"
     "MIAG\r\n",
     1},
    {"issue11_kind_pdf",
     "Content-Type: application/octet-stream; name=\"a.pdf\"\r\n\r\nMIAG\r\n",
     0},
    {"issue11_kind_first_type_wins",
     "Content-Type: text/plain\r\nContent-Type: application/pkcs7-mime\r\n"
     "\r\nMIAG\r\n",
     0},
    {"issue11_kind_bare_lf",
     "Content-Type: application/pkcs7-mime\n\nMIAG\n", 1},
    {"issue11_kind_signed_protocol",
     "Content-Type: multipart/signed; protocol=\"application/pkcs7-"
     "signature\"; boundary=in\r\n\r\n--in\r\nContent-Type: text/plain\r\n"
     "\r\nx\r\n--in\r\nContent-Type: text/plain\r\n\r\ny\r\n--in--\r\n",
     1},
    {"issue11_kind_signed_second_part",
     "Content-Type: multipart/signed; boundary=in\r\n\r\n--in\r\n"
     "Content-Type: text/plain\r\n\r\nx\r\n--in\r\nContent-Type: "
     "application/pkcs7-signature\r\n\r\nMIAG\r\n--in--\r\n",
     1},
    {"issue11_kind_signed_three_parts",
     "Content-Type: multipart/signed; protocol=\"application/pkcs7-"
     "signature\"; boundary=in\r\n\r\n--in\r\n\r\nx\r\n--in\r\n\r\ny\r\n"
     "--in\r\n\r\nz\r\n--in--\r\n",
     0},
};

#define NKIND (sizeof(kind_cases) / sizeof(kind_cases[0]))

static void
test_entity_kind(void **state)
{
	const struct kind_case *c = *state;
	struct smime_open_result res;
	struct gw_buf m, out;
	CMS_ContentInfo *cms;
	unsigned char *der = NULL, *dst;
	size_t max, n;
	BIO *in;
	int dl;

	assert_non_null(in = BIO_new_mem_buf(c->entity, -1));
	assert_non_null(cms = CMS_sign(cert, key, NULL, in,
				       CMS_DETACHED | CMS_BINARY));
	assert_true((dl = i2d_CMS_ContentInfo(cms, &der)) > 0);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	gw_buf_init(&m, (size_t)1 << 20);
	gw_buf_init(&out, (size_t)1 << 20);
	gw_buf_addf(&m, "From: unit@unit.example\r\nMIME-Version: 1.0\r\n"
			"Content-Type: multipart/signed; protocol=\"application/"
			"pkcs7-signature\"; micalg=sha-256; boundary=OUTERB\r\n"
			"\r\n--OUTERB\r\n%s\r\n--OUTERB\r\n"
			"Content-Type: application/pkcs7-signature\r\n"
			"Content-Transfer-Encoding: base64\r\n\r\n",
		    c->entity);
	max = mime_base64_encoded_max((size_t)dl);
	assert_int_equal(gw_buf_reserve(&m, max, &dst), 0);
	assert_int_equal(mime_base64_encode(der, (size_t)dl, dst, max, &n), 0);
	m.len += n;
	gw_buf_adds(&m, "\r\n--OUTERB--\r\n");
	OPENSSL_free(der);
	assert_int_equal(open_msg(m.data, m.len, &out, &res), 0);
	assert_int_equal(strstr((const char *)out.data, "OUTERB") == NULL,
			 c->inside);
	assert_true(res.failed_signatures >= 1);
	smime_open_result_free(&res);
	gw_buf_free(&m);
	gw_buf_free(&out);
}

/* ---- item 10: nested envelopes by CMS type ----------------------------- */

/* The first bytes of an EnvelopedData ContentInfo (BER, indefinite),
 * of an AuthEnvelopedData one (definite), and of a PDF. */
static const unsigned char env_head[] = {
    0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
    0x01, 0x07, 0x03, 0xa0, 0x80, 0x30, 0x80, 0x02, 0x01, 0x00};
static const unsigned char auth_head[] = {
    0x30, 0x82, 0x04, 0x00, 0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7,
    0x0d, 0x01, 0x09, 0x10, 0x01, 0x17, 0xa0, 0x82, 0x03, 0xef};
static const unsigned char pdf_head[] = "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";

static const struct nest_case {
	const char *name;
	const char *ct;		/* the nested part's Content-Type */
	const unsigned char *body;
	size_t len;
	int binary;		/* Content-Transfer-Encoding: binary */
	int efail;
} nest_cases[] = {
    {"item10_signed_data_label",
     "application/pkcs7-mime; smime-type=signed-data", env_head,
     sizeof(env_head), 0, 1},
    {"item10_pkcs7_signature_label_binary", "application/pkcs7-signature",
     env_head, sizeof(env_head), 1, 1},
    {"item10_octet_stream_p7s_auth_enveloped",
     "application/octet-stream; name=x.p7s", auth_head, sizeof(auth_head),
     0, 1},
    {"item10_x_pkcs7_signature_label", "application/x-pkcs7-signature", auth_head,
     sizeof(auth_head), 0, 1},
    {"item10_certs_only_label",
     "application/pkcs7-mime; smime-type=certs-only", env_head,
     sizeof(env_head), 0, 1},
    {"item10_text_plain_not_a_carrier", "text/plain", env_head,
     sizeof(env_head), 0, 0},
    {"item10_octet_stream_pdf_not_flagged", "application/octet-stream; name=a.pdf", pdf_head,
     sizeof(pdf_head) - 1, 0, 0},
    {"item10_truncated_header_not_flagged", "application/pkcs7-signature",
     env_head, 3, 0, 0},
};

static void
test_nested(void **state)
{
	const struct nest_case *c = *state;
	struct smime_open_result res;
	struct gw_buf m, out;
	unsigned char *dst;
	size_t max = mime_base64_encoded_max(c->len), n;

	gw_buf_init(&m, 1 << 20);
	gw_buf_init(&out, 1 << 20);
	gw_buf_addf(&m, "MIME-Version: 1.0\r\n"
			"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
			"--b\r\nContent-Type: text/html\r\n\r\n<img src='\r\n"
			"--b\r\nContent-Type: %s\r\n"
			"Content-Transfer-Encoding: %s\r\n\r\n",
		    c->ct, c->binary ? "binary" : "base64");
	if (c->binary) {
		gw_buf_add(&m, c->body, c->len);
	} else {
		assert_int_equal(gw_buf_reserve(&m, max, &dst), 0);
		assert_int_equal(
		    mime_base64_encode(c->body, c->len, dst, max, &n), 0);
		m.len += n;
	}
	gw_buf_adds(&m, "\r\n--b--\r\n");
	assert_int_equal(open_msg(m.data, m.len, &out, &res), 0);
	assert_int_equal(res.efail, c->efail);
	assert_int_equal(res.decrypted, 0);
	assert_int_equal(res.status, c->efail ? SMIME_FAILED : SMIME_OK);
	smime_open_result_free(&res);
	gw_buf_free(&m);
	gw_buf_free(&out);
}

/* ---- item 16: MIME past the parser's depth ----------------------------- */

static void
deep_message(struct gw_buf *m, const char *top, int depth)
{
	int i;

	gw_buf_addf(m, "From: a@b.example\r\nMIME-Version: 1.0\r\n%s", top);
	for (i = 0; i < depth; i++)
		gw_buf_addf(m,
			    "Content-Type: multipart/mixed; boundary=d%d\r\n"
			    "\r\n--d%d\r\n",
			    i, i);
	gw_buf_adds(m, "\r\ndeep\r\n");
}

static void
item16_deep_plain_delivered(void **state)
{
	struct smime_open_result res;
	struct gw_buf m, out;

	(void)state;
	gw_buf_init(&m, 1 << 20);
	gw_buf_init(&out, 1 << 20);
	deep_message(&m, "", 40);
	assert_int_equal(open_msg(m.data, m.len, &out, &res), 0);
	assert_int_equal(res.status, SMIME_OK);
	assert_int_equal(res.mime_too_deep, 1);
	assert_int_equal(res.smime, 0);
	assert_string_equal(res.ar, "none");
	assert_substr((const char *)out.data, "; mime-too-deep=1\r\n");
	/* The message itself follows the result fields. */
	assert_true(out.len > m.len);
	assert_memory_equal(out.data + out.len - m.len, m.data, m.len);
	smime_open_result_free(&res);
	gw_buf_free(&m);
	gw_buf_free(&out);
}

static void
item16_deep_smime_refused(void **state)
{
	struct smime_open_result res;
	struct gw_buf m, out;

	(void)state;
	gw_buf_init(&m, 1 << 20);
	gw_buf_init(&out, 1 << 20);
	deep_message(&m,
		     "Content-Type: multipart/signed; boundary=s; "
		     "protocol=\"application/pkcs7-signature\"\r\n\r\n--s\r\n",
		     40);
	gw_buf_adds(&m, "\r\n--s\r\nContent-Type: application/pkcs7-signature"
			"\r\n\r\nMAA=\r\n--s--\r\n");
	assert_int_equal(open_msg(m.data, m.len, &out, &res), GW_ERR_LIMIT);
	assert_substr(gw_err_detail(), "MIME nesting deeper than 32");
	smime_open_result_free(&res);
	gw_buf_free(&m);
	gw_buf_free(&out);
}

/* ---- items 5 and 16: envelopes, verified, the layer ceiling ------------ */

/* n envelopes to the software key around a text message. */
static void
envelopes(struct gw_buf *m, const EVP_CIPHER *cipher, int n)
{
	struct smime_recipients r;
	STACK_OF(X509) *sk = sk_X509_new_null();
	struct gw_buf next;
	int i;

	assert_non_null(sk);
	assert_true(sk_X509_push(sk, cert));
	memset(&r, 0, sizeof(r));
	r.certs = sk;
	r.cipher = cipher;
	gw_buf_adds(m, "From: a@b.example\r\nContent-Type: text/plain\r\n\r\n"
		       "the secret\r\n");
	for (i = 0; i < n; i++) {
		gw_buf_init(&next, (size_t)8 << 20);
		assert_int_equal(smime_encrypt(m->data, m->len, &r, &next), 0);
		gw_buf_free(m);
		*m = next;
	}
	sk_X509_free(sk);
}

static const struct env_case {
	const char *name;
	int gcm;
	int layers;
	enum smime_status status;
	int decrypted, verified, unauthenticated;
	const char *reason;
} env_cases[] = {
    {"item05_cbc_not_verified_flagged", 0, 1, SMIME_OK, 1, 0, 1, ""},
    {"item05_gcm_verified", 1, 1, SMIME_OK, 1, 1, 0, ""},
    {"item16_eight_layers_opened", 1, 8, SMIME_OK, 8, 1, 0, ""},
    {"item16_ninth_layer_permerror", 1, 9, SMIME_FAILED, 8, 0, 0,
     "more than 8 S/MIME layers"},
};

static void
test_envelopes(void **state)
{
	const struct env_case *c = *state;
	struct smime_open_result res;
	struct gw_buf m, out;

	gw_buf_init(&m, (size_t)8 << 20);
	gw_buf_init(&out, (size_t)8 << 20);
	envelopes(&m, c->gcm ? EVP_aes_256_gcm() : EVP_aes_256_cbc(),
		  c->layers);
	assert_int_equal(open_msg(m.data, m.len, &out, &res), 0);
	assert_int_equal(res.status, c->status);
	assert_int_equal(res.decrypted, c->decrypted);
	assert_int_equal(res.verified, c->verified);
	assert_int_equal(res.unauthenticated, c->unauthenticated);
	assert_string_equal(res.reason, c->reason);
	assert_int_equal(res.nlayers, c->decrypted);
	assert_string_equal(res.layer[0].kind, c->gcm ? "authEnveloped-data"
						      : "enveloped-data");
	assert_string_equal(res.layer[0].result, "decrypted");
	if (c->unauthenticated)
		assert_substr((const char *)out.data,
			      "; unauthenticated-encryption=1\r\n");
	if (c->status == SMIME_OK)
		assert_substr((const char *)out.data, "the secret");
	smime_open_result_free(&res);
	gw_buf_free_secret(&m);
	gw_buf_free_secret(&out);
}

/* ---- issue 11: the envelope's content read where it lies ---------------- */

/*
 * The entity inside an envelope (made with OpenSSL's CMS_encrypt(), so
 * that it is exactly these bytes), what smime_open() must deliver after
 * the outer fields and MIME-Version, for DER (one primitive OCTET
 * STRING) and streamed BER (segments, indefinite lengths), CBC and GCM.
 * The entity is decrypted into the next message and rewrapped in place;
 * bare LF line ends take the copy.
 */
static const struct place_case {
	const char *name;
	const char *entity;
	const char *want;	/* after "MIME-Version: 1.0\r\n" */
} place_cases[] = {
    {"issue11_in_place_crlf",
     "Content-Type: text/plain\r\nSubject: inner\r\n\r\nline 1\r\nline 2\r\n",
     "Content-Type: text/plain\r\n\r\nline 1\r\nline 2\r\n"},
    {"issue11_in_place_lf_copied",
     "Content-Type: text/plain\nX-Inner: b\n\nline 1\nline 2\n",
     "Content-Type: text/plain\r\n\r\nline 1\r\nline 2\r\n"},
    {"issue11_in_place_not_an_entity",
     "just text\r\nmore",
     "\r\njust text\r\nmore"},
    {"issue11_in_place_header_longer",
     "Content-Type: text/plain;\r\n charset=us-ascii\r\n\r\nx\r\n",
     "Content-Type: text/plain;\r\n charset=us-ascii\r\n\r\nx\r\n"},
};

/* A message around an envelope of entity: DER or streamed BER, in
 * base64 or as binary. */
static void
envelope_as(const char *entity, const EVP_CIPHER *cipher, int ber, int bin,
	    struct gw_buf *m)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	CMS_ContentInfo *cms;
	struct gw_buf der;
	BIO *in, *out;
	unsigned flags = CMS_BINARY | (ber ? CMS_STREAM : 0);
	char *p;
	long n;

	assert_non_null(sk);
	assert_true(sk_X509_push(sk, cert));
	assert_non_null(in = BIO_new_mem_buf(entity, (int)strlen(entity)));
	assert_non_null(out = BIO_new(BIO_s_mem()));
	assert_non_null(cms = CMS_encrypt(sk, in, cipher, flags));
	if (ber)
		assert_int_equal(i2d_CMS_bio_stream(out, cms, in, flags), 1);
	else
		assert_int_equal(i2d_CMS_bio(out, cms), 1);
	n = BIO_get_mem_data(out, &p);
	gw_buf_init(&der, 16 << 20);
	assert_int_equal(gw_buf_add(&der, p, (size_t)n), 0);
	if (bin) {
		gw_buf_adds(m, "From: unit@unit.example\r\nMIME-Version: 1.0\r\n"
			       "Content-Type: application/pkcs7-mime; "
			       "smime-type=enveloped-data\r\n"
			       "Content-Transfer-Encoding: binary\r\n\r\n");
		gw_buf_add(m, der.data, der.len);
	} else {
		der_message(m,
			    "application/pkcs7-mime; smime-type=enveloped-data",
			    &der);
	}
	gw_buf_free(&der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	BIO_free(out);
	sk_X509_free(sk);
}

static void
envelope_of(const char *entity, const EVP_CIPHER *cipher, int ber,
	    struct gw_buf *m)
{
	envelope_as(entity, cipher, ber, 0, m);
}

static void
test_in_place(void **state)
{
	const struct place_case *c = *state;
	struct smime_open_result res;
	struct gw_buf m, out, want;
	int ber, gcm, bin, k;

	/* base64: decrypted over the decoded DER; binary: read from the
	 * message itself, into the next message */
	for (k = 0; k < 8; k++) {
		bin = k >> 2;
		ber = (k >> 1) & 1;
		gcm = k & 1;
		gw_buf_init(&m, 1 << 20);
		gw_buf_init(&out, 1 << 20);
		gw_buf_init(&want, 1 << 20);
		envelope_as(c->entity,
			    gcm ? EVP_aes_256_gcm() : EVP_aes_256_cbc(),
			    ber, bin, &m);
		assert_int_equal(open_msg(m.data, m.len, &out, &res),
				 0);
		assert_int_equal(res.status, SMIME_OK);
		assert_int_equal(res.decrypted, 1);
		gw_buf_addf(&want, "MIME-Version: 1.0\r\n%s", c->want);
		if (out.len < want.len ||
		    memcmp(out.data + out.len - want.len, want.data,
			   want.len) != 0)
			fail_msg("%s%s%s: got\n%s", ber ? "BER" : "DER",
				 gcm ? ", GCM" : "",
				 bin ? ", binary" : "", out.data);
		/* nothing of the entity's other fields */
		assert_null(strstr((const char *)out.data, "inner"));
		assert_null(strstr((const char *)out.data, "X-Inner"));
		smime_open_result_free(&res);
		gw_buf_free(&m);
		gw_buf_free_secret(&out);
		gw_buf_free(&want);
	}
}

/* A changed ciphertext byte in a GCM envelope read in place: refused,
 * nothing marked decrypted, the message delivered as it came. */
static void
issue11_in_place_gcm_tag_checked(void **state)
{
	struct smime_open_result res;
	struct gw_buf m, out, der;
	unsigned char *dst;
	size_t body, n;
	int ber;

	(void)state;
	for (ber = 0; ber < 2; ber++) {
		gw_buf_init(&m, 1 << 20);
		gw_buf_init(&out, 1 << 20);
		gw_buf_init(&der, 1 << 20);
		envelope_of("Content-Type: text/plain\r\n\r\nthe secret "
			    "text, long enough to span blocks\r\n",
			    EVP_aes_256_gcm(), ber, &m);
		/* back to DER, one byte of the ciphertext (right before
		 * the MAC, at the end) changed, into a message again */
		body = (size_t)(strstr((const char *)m.data, "\r\n\r\n") -
				(const char *)m.data) + 4;
		assert_int_equal(gw_buf_reserve(&der, m.len, &dst), 0);
		assert_int_equal(mime_base64_decode(m.data + body, m.len - body,
						    dst, m.len, &n, NULL),
				 0);
		der.len = n;
		/* the MAC is the last 16 bytes before the end-of-contents
		 * (BER) or the end (DER); its OCTET STRING header is 2
		 * more: 64 bytes from the end is in the ciphertext */
		der.data[der.len - 64] ^= 0x01;
		gw_buf_free(&m);
		gw_buf_init(&m, 1 << 20);
		der_message(&m,
			    "application/pkcs7-mime; smime-type=enveloped-data",
			    &der);
		assert_int_equal(open_msg(m.data, m.len, &out, &res), 0);
		assert_int_equal(res.status, SMIME_FAILED);
		assert_int_equal(res.decrypted, 0);
		assert_substr(res.reason, "decryption failed");
		assert_null(strstr((const char *)out.data, "the secret"));
		smime_open_result_free(&res);
		gw_buf_free(&m);
		gw_buf_free_secret(&out);
		gw_buf_free(&der);
	}
}

/*
 * smime_encrypt() streams from 64 KiB on: the entity read as head and
 * body where they lie, the envelope written as base64 as it comes.  For
 * sizes around the streaming threshold and odd lengths (so that the
 * writes never fall on whole base64 lines), CRLF and bare LF bodies:
 * the base64 decodes cleanly (no '=' before the end, every line 76
 * columns but the last) and smime_open() gives the body back.
 */
static void
issue11_encrypt_streamed_base64(void **state)
{
	static const size_t sizes[] = {1000, 65535, 65536, 65537, 100003,
				       300007};
	struct smime_recipients r;
	struct smime_open_result res;
	STACK_OF(X509) *sk = sk_X509_new_null();
	struct gw_buf m, enc, out, der, want;
	unsigned char *dst;
	const char *b, *line;
	size_t i, k, n, len;
	unsigned flags;
	int lf;

	(void)state;
	assert_non_null(sk);
	assert_true(sk_X509_push(sk, cert));
	memset(&r, 0, sizeof(r));
	r.certs = sk;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (lf = 0; lf < 2; lf++) {
			gw_buf_init(&m, (size_t)8 << 20);
			gw_buf_init(&enc, (size_t)8 << 20);
			gw_buf_init(&out, (size_t)8 << 20);
			gw_buf_init(&der, (size_t)8 << 20);
			gw_buf_init(&want, (size_t)8 << 20);
			gw_buf_adds(&m, "From: a@b.example\r\nContent-Type: "
					"text/plain\r\n\r\n");
			/* lines of 59 bytes, the last one cut anywhere */
			for (k = 0; k < sizes[i]; k++)
				if (k % 60 != 59) {
					gw_buf_add(&m, "a", 1);
					gw_buf_add(&want, "a", 1);
				} else {
					gw_buf_adds(&m, lf ? "\n" : "\r\n");
					gw_buf_adds(&want, "\r\n");
				}
			assert_int_equal(smime_encrypt(m.data, m.len, &r, &enc),
					 0);
			b = strstr((const char *)enc.data, "\r\n\r\n") + 4;
			for (line = b; *line != '\0';
			     line = strstr(line, "\r\n") + 2) {
				len = (size_t)(strstr(line, "\r\n") - line);
				if (line[len + 2] != '\0')
					assert_int_equal(len, 76);
				assert_true(len <= 76);
			}
			n = enc.len - (size_t)(b - (const char *)enc.data);
			assert_int_equal(gw_buf_reserve(&der, n, &dst), 0);
			flags = 0;
			assert_int_equal(mime_base64_decode((const unsigned char *)b,
							    n, dst, n, &len,
							    &flags),
					 0);
			if (flags != 0)
				fail_msg("size %zu%s: decode flags %#x", sizes[i],
					 lf ? " LF" : "", flags);
			assert_int_equal(open_msg(enc.data, enc.len, &out, &res),
					 0);
			assert_int_equal(res.status, SMIME_OK);
			assert_int_equal(res.decrypted, 1);
			/* the body, with CRLF line ends either way */
			assert_true(out.len >= want.len);
			assert_memory_equal(out.data + out.len - want.len,
					    want.data, want.len);
			gw_buf_free(&want);
			smime_open_result_free(&res);
			gw_buf_free(&m);
			gw_buf_free(&enc);
			gw_buf_free_secret(&out);
			gw_buf_free(&der);
		}
	sk_X509_free(sk);
}

#define NCOUNT (sizeof(count_cases) / sizeof(count_cases[0]))
#define NNEST (sizeof(nest_cases) / sizeof(nest_cases[0]))
/* ---- issue 11: decrypt with no move of the body ------------------------- */

/*
 * The decrypted body stays where it was written: the outer fields, the
 * entity's head and the result fields go into the room in front of it
 * (base64: over the decoded DER; binary: into the next message, where
 * only the entity's header block is room), and the line ends are looked
 * at as the plaintext is written.  Each entity, as DER and BER, CBC and
 * GCM, base64 and binary, gives exactly the result fields, the outer
 * fields and the rewrapped entity (want), and base64 and binary give
 * the same bytes.  The cases take each way: a head shorter than the
 * entity's header block (skipped in front), longer (into the room, or
 * the body moves), bare LF in the header only (the whole entity is not
 * CRLF, the body is: still in place), in the body (copied), a lone CR,
 * a large body of CRLF lines, and outer fields larger than the room
 * they leave for the result fields.
 */
static const struct nomove_case {
	const char *name;
	const char *outer;	/* outer fields before MIME-Version */
	size_t pad;		/* and an X-Pad field this long */
	const char *entity;	/* NULL: a large body of CRLF lines */
	const char *want;	/* after "MIME-Version: 1.0\r\n" */
} nomove_cases[] = {
    {"issue11_nomove_head_shorter", "", 0,
     "Content-Type: text/plain\r\nX-Inner: one\r\nX-Inner: two\r\n\r\n"
     "body\r\n",
     "Content-Type: text/plain\r\n\r\nbody\r\n"},
    {"issue11_nomove_head_longer", "", 0,
     "Content-Type: text/plain;\n charset=us-ascii\nContent-Disposition: "
     "inline\n\nbody\r\nmore\r\n",
     "Content-Type: text/plain;\r\n charset=us-ascii\r\n"
     "Content-Disposition: inline\r\n\r\nbody\r\nmore\r\n"},
    {"issue11_nomove_lf_body_copied", "", 0,
     "Content-Type: text/plain\r\n\r\nline 1\nline 2\r\n",
     "Content-Type: text/plain\r\n\r\nline 1\r\nline 2\r\n"},
    {"issue11_nomove_lone_cr", "", 0,
     "Content-Type: text/plain\r\n\r\nline\r1\r\n",
     "Content-Type: text/plain\r\n\r\nline\r\n1\r\n"},
    {"issue11_nomove_large", "Subject: large\r\n", 0, NULL, NULL},
    {"issue11_nomove_big_outer", "", 60 * 1024,
     "Content-Type: text/plain\r\n\r\nbody\r\n",
     "Content-Type: text/plain\r\n\r\nbody\r\n"},
};

/* A message around an envelope of entity, with extra outer fields. */
static void
nomove_message(const char *outer, const char *entity,
	       const EVP_CIPHER *cipher, int ber, int bin, struct gw_buf *m)
{
	struct gw_buf inner;
	const char *eoh;

	gw_buf_init(&inner, 1 << 22);
	envelope_as(entity, cipher, ber, bin, &inner);
	/* outer fields after From: */
	eoh = strstr((const char *)inner.data, "\r\n") + 2;
	gw_buf_add(m, inner.data, (size_t)(eoh - (const char *)inner.data));
	gw_buf_adds(m, outer);
	gw_buf_add(m, eoh, inner.len - (size_t)(eoh - (const char *)inner.data));
	gw_buf_free(&inner);
}

static void
test_nomove(void **state)
{
	const struct nomove_case *c = *state;
	struct smime_open_result res;
	struct gw_buf m, out, want, first, big, outer;
	const char *entity = c->entity, *w = c->want, *from;
	int ber, gcm, bin, k;
	size_t i;

	gw_buf_init(&big, 1 << 22);
	gw_buf_init(&outer, 1 << 20);
	if (entity == NULL) {
		/* about 300 KiB: more than any room, and past the
		 * scan's 64-byte blocks many times */
		gw_buf_adds(&big, "Content-Type: application/octet-stream\r\n"
				  "Content-Transfer-Encoding: base64\r\n\r\n");
		for (i = 0; i < 4000; i++)
			gw_buf_addf(&big, "%074zuAB\r\n", i);
		entity = (const char *)big.data;
		w = entity;
	}
	gw_buf_adds(&outer, c->outer);
	if (c->pad > 0) {
		/* outer fields of 60 KiB: the room in front of the DER
		 * grows with them */
		gw_buf_adds(&outer, "X-Pad: ");
		for (i = 0; i < c->pad; i++)
			gw_buf_adds(&outer, "p");
		gw_buf_adds(&outer, "\r\n");
	}
	for (k = 0; k < 8; k++) {
		bin = k & 1;
		ber = (k >> 1) & 1;
		gcm = k >> 2;
		gw_buf_init(&m, 1 << 22);
		gw_buf_init(&out, 1 << 22);
		gw_buf_init(&want, 1 << 22);
		nomove_message((const char *)outer.data, entity,
			       gcm ? EVP_aes_256_gcm() : EVP_aes_256_cbc(),
			       ber, bin, &m);
		assert_int_equal(open_msg(m.data, m.len, &out, &res), 0);
		assert_int_equal(res.status, SMIME_OK);
		assert_int_equal(res.decrypted, 1);
		/* result fields, then exactly the outer fields and the
		 * entity */
		assert_true(out.len > 0);
		assert_memory_equal(out.data, "Authentication-Results: ", 24);
		from = strstr((const char *)out.data, "\r\nFrom: ");
		assert_non_null(from);
		gw_buf_addf(&want, "From: unit@unit.example\r\n%s"
				   "MIME-Version: 1.0\r\n",
			    (const char *)outer.data);
		gw_buf_adds(&want, w);
		from += 2;
		if (out.len - (size_t)(from - (const char *)out.data) !=
			want.len ||
		    memcmp(from, want.data, want.len) != 0)
			fail_msg("%s%s%s: got\n%.2000s", ber ? "BER" : "DER",
				 gcm ? ", GCM" : "",
				 bin ? ", binary" : "", from);
		assert_int_equal(out.data[out.len], 0);
		if (bin) { /* the same bytes as from base64 */
			assert_int_equal(out.len, first.len);
			assert_memory_equal(out.data, first.data, out.len);
			gw_buf_free_secret(&first);
			gw_buf_free_secret(&out);
		} else {
			first = out;
		}
		smime_open_result_free(&res);
		gw_buf_free(&m);
		gw_buf_free(&want);
	}
	gw_buf_free(&big);
	gw_buf_free(&outer);
}

#define NENV (sizeof(env_cases) / sizeof(env_cases[0]))
#define NPLACE (sizeof(place_cases) / sizeof(place_cases[0]))
#define NNOMOVE (sizeof(nomove_cases) / sizeof(nomove_cases[0]))

/* ---- issue 11: a large envelope decrypted as it is decoded ------------- */

/* An entity of about n bytes: a header, then lines of varied length,
 * CRLF or (lf) bare LF. */
static char *
big_entity(size_t n, int lf, uint32_t seed)
{
	char *e = malloc(n + 200);
	size_t o, k;

	assert_non_null(e);
	o = (size_t)snprintf(e, n + 200, "Content-Type: text/plain\r\n\r\n");
	while (o < n) {
		seed = seed * 1103515245u + 12345u;
		for (k = (seed >> 16) % 90; k > 0 && o < n; k--)
			e[o++] = (char)('!' + (seed >> (k % 16)) % 90);
		if (!lf)
			e[o++] = '\r';
		e[o++] = '\n';
	}
	e[o] = '\0';
	return e;
}

/* The base64 body of m (der_message()). */
static const unsigned char *
body_of(const struct gw_buf *m, size_t *n)
{
	const char *b = strstr((const char *)m->data, "\r\n\r\n");

	assert_non_null(b);
	b += 4;
	*n = m->len - (size_t)(b - (const char *)m->data);
	return (const unsigned char *)b;
}

/* The DER of m's base64 body (malloc'd, 2 bytes to spare), *dl long. */
static unsigned char *
der_of(const struct gw_buf *m, size_t *dl)
{
	const unsigned char *b;
	unsigned char *der;
	size_t n;

	b = body_of(m, &n);
	der = malloc(mime_base64_decoded_max(n) + 2);
	assert_non_null(der);
	assert_int_equal(mime_base64_decode(b, n, der,
					    mime_base64_decoded_max(n), dl,
					    NULL),
			 0);
	return der;
}

/* An enveloped-data message of the DER der (dl bytes) into m. */
static void
envelope_message(struct gw_buf *m, unsigned char *der, size_t dl)
{
	struct gw_buf d = {der, dl, dl + 1, 0, dl, NULL, NULL, 0};

	der_message(m, "application/pkcs7-mime; smime-type=enveloped-data",
		    &d);
}

/* smime_stream_decrypt() on the body of m: its result; plain gets the
 * plaintext. */
static int
stream_of(const struct gw_buf *m, struct gw_buf *plain, int *extra,
	  int *crlf)
{
	struct smime_open_opts o;
	struct mime_crlf_scan sc;
	CMS_ContentInfo *cms = NULL;
	const unsigned char *b;
	size_t n;
	int r;

	memset(&o, 0, sizeof(o));
	o.trust = trust;
	o.find_key = find_key;
	b = body_of(m, &n);
	mime_crlf_scan_init(&sc);
	r = smime_stream_decrypt(b, n, 100, &o, plain, &sc, &cms, extra);
	if (r == 1) {
		assert_non_null(cms);
		assert_int_equal(OBJ_obj2nid(CMS_get0_type(cms)),
				 NID_pkcs7_enveloped);
		*crlf = mime_crlf_scan_done(&sc);
	} else {
		assert_null(cms);
		assert_int_equal(plain->len, 0);
	}
	CMS_ContentInfo_free(cms);
	return r;
}

/*
 * DER (one primitive content) and BER (segments), sizes around the
 * pieces the text is decoded in, CRLF and bare LF: the plaintext is the
 * entity, byte for byte, and smime_open() gives it as the whole way does.
 */
static void
issue11_stream_decrypts(void **state)
{
	static const size_t sizes[] = {140000, 400001, 1200007};
	struct smime_open_result res;
	struct gw_buf m, plain, out;
	const char *ent;
	char *e;
	size_t i, el;
	int ber, lf, extra, crlf;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (ber = 0; ber < 2; ber++)
			for (lf = 0; lf < 2; lf++) {
				e = big_entity(sizes[i], lf, (uint32_t)i);
				gw_buf_init(&m, 8 << 20);
				gw_buf_init(&plain, 8 << 20);
				gw_buf_init(&out, 8 << 20);
				envelope_of(e, EVP_aes_128_cbc(), ber, &m);
				assert_int_equal(stream_of(&m, &plain, &extra,
							   &crlf),
						 1);
				assert_int_equal(plain.len, strlen(e));
				assert_memory_equal(plain.data, e, plain.len);
				assert_int_equal(extra, 0);
				assert_int_equal(crlf, !lf);
				assert_int_equal(open_msg(m.data, m.len, &out,
							  &res),
						 0);
				assert_int_equal(res.status, SMIME_OK);
				assert_int_equal(res.decrypted, 1);
				/* The entity's body, after its head, its
				 * bare LFs made CRLF as the whole way does. */
				ent = strstr(e, "\r\n\r\n") + 4;
				gw_buf_reset(&plain);
				for (; *ent != '\0'; ent++)
					assert_int_equal(
					    gw_buf_add(&plain,
						       *ent == '\n' && lf
							   ? "\r\n"
							   : ent,
						       *ent == '\n' && lf ? 2
									: 1),
					    0);
				el = plain.len;
				assert_true(out.len > el);
				assert_memory_equal(out.data + out.len - el,
						    plain.data, el);
				smime_open_result_free(&res);
				gw_buf_free_secret(&plain);
				gw_buf_free_secret(&out);
				gw_buf_free(&m);
				free(e);
			}
}

/*
 * What the stream does not take, or cannot finish, goes the whole way,
 * with nothing left of the attempt: GCM, a changed last byte (the
 * padding), the text cut inside the content, no key.  Bytes after the
 * object are taken and flagged.
 */
static void
issue11_stream_falls_back(void **state)
{
	struct smime_open_result res, whole;
	struct gw_buf m, plain, out, cut;
	struct smime_open_opts o;
	char *e = big_entity(300000, 0, 7);
	const unsigned char *b;
	unsigned char *der;
	size_t n, dl;
	int extra, crlf;

	(void)state;
	gw_buf_init(&plain, 8 << 20);
	gw_buf_init(&out, 8 << 20);
	/* GCM: authEnveloped-data, not taken; opened the whole way. */
	gw_buf_init(&m, 8 << 20);
	envelope_of(e, EVP_aes_256_gcm(), 1, &m);
	assert_int_equal(stream_of(&m, &plain, &extra, &crlf), 0);
	assert_int_equal(open_msg(m.data, m.len, &out, &res), 0);
	assert_int_equal(res.decrypted, 1);
	smime_open_result_free(&res);
	gw_buf_reset(&out);
	gw_buf_free(&m);

	/* The DER's last byte changed (the padding block): refused here,
	 * and the whole way says what it says of it. */
	gw_buf_init(&m, 8 << 20);
	envelope_of(e, EVP_aes_256_cbc(), 0, &m);
	der = der_of(&m, &dl);
	der[dl - 1] ^= 0x5a;
	gw_buf_init(&cut, 8 << 20);
	envelope_message(&cut, der, dl);
	if (stream_of(&cut, &plain, &extra, &crlf) == 1) {
		/* 1 in 256 or so: the padding came out right. */
		gw_buf_free_secret(&plain);
	} else {
		assert_int_equal(open_msg(cut.data, cut.len, &out, &whole),
				 0);
		assert_int_equal(whole.status, SMIME_FAILED);
		assert_substr(whole.reason, "decryption failed");
		smime_open_result_free(&whole);
		gw_buf_reset(&out);
	}
	gw_buf_free(&cut);

	/* Bytes after the object: taken, and said. */
	gw_buf_init(&cut, 8 << 20);
	der[dl - 1] ^= 0x5a;
	memcpy(der + dl, "\x01\x02", 2);
	envelope_message(&cut, der, dl + 2);
	assert_int_equal(stream_of(&cut, &plain, &extra, &crlf), 1);
	assert_int_equal(extra, 1);
	gw_buf_free_secret(&plain);
	gw_buf_free(&cut);

	/* The text cut inside the content. */
	gw_buf_init(&cut, 8 << 20);
	assert_int_equal(gw_buf_add(&cut, m.data, m.len / 2), 0);
	assert_int_equal(stream_of(&cut, &plain, &extra, &crlf), 0);
	gw_buf_free(&cut);

	/* No key for it. */
	memset(&o, 0, sizeof(o));
	o.trust = trust;
	{
		struct mime_crlf_scan sc;
		CMS_ContentInfo *cms = NULL;

		b = body_of(&m, &n);
		mime_crlf_scan_init(&sc);
		assert_int_equal(smime_stream_decrypt(b, n, 0, &o, &plain, &sc,
						      &cms, &extra),
				 0);
		assert_null(cms);
		assert_int_equal(plain.len, 0);
	}
	free(der);
	gw_buf_free(&m);
	gw_buf_free_secret(&out);
	gw_buf_free(&plain);
	free(e);
}

/* What CMS_decrypt() (the whole DER, CMS_DEBUG_DECRYPT) makes of der:
 * 1 and the plaintext in plain, or 0. */
static int
cms_decrypt_der(const unsigned char *der, size_t n, struct gw_buf *plain)
{
	const unsigned char *q = der;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &q, (long)n);
	BIO *out = BIO_new(BIO_s_mem());
	char *p;
	long len;
	int ok = 0;

	assert_non_null(out);
	if (cms != NULL &&
	    CMS_decrypt(cms, key, cert, NULL, out,
			CMS_BINARY | CMS_DEBUG_DECRYPT) == 1) {
		len = BIO_get_mem_data(out, &p);
		gw_buf_reset(plain);
		assert_int_equal(gw_buf_add(plain, p, (size_t)len), 0);
		ok = 1;
	}
	ERR_clear_error();
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	return ok;
}

/*
 * Bytes of a BER envelope changed one at a time (its start, the
 * segment headers, its end): whatever the stream decrypts, CMS_decrypt()
 * decrypts to the same plaintext.
 */
static void
issue11_stream_never_differs(void **state)
{
	static const unsigned char flips[] = {0x01, 0x80};
	struct gw_buf m, plain, want, mm;
	char *e = big_entity(150000, 0, 3);
	unsigned char *der;
	size_t dl, i, f, taken = 0;
	int extra, crlf;

	(void)state;
	gw_buf_init(&m, 8 << 20);
	gw_buf_init(&plain, 8 << 20);
	gw_buf_init(&want, 8 << 20);
	envelope_of(e, EVP_aes_256_cbc(), 1, &m);
	der = der_of(&m, &dl);
	for (i = 0; i < dl; i += i < 700 || i > dl - 64 ? 1 : 997)
		for (f = 0; f < sizeof(flips); f++) {
			der[i] ^= flips[f];
			gw_buf_init(&mm, 8 << 20);
			envelope_message(&mm, der, dl);
			if (stream_of(&mm, &plain, &extra, &crlf) == 1) {
				taken++;
				if (!cms_decrypt_der(der, dl, &want))
					fail_msg("byte %zu ^ %02x: streamed, "
						 "CMS_decrypt() refuses",
						 i, flips[f]);
				assert_int_equal(plain.len, want.len);
				assert_memory_equal(plain.data, want.data,
						    want.len);
			}
			gw_buf_free_secret(&plain);
			gw_buf_free(&mm);
			der[i] ^= flips[f];
		}
	print_message("%zu changed envelopes decrypted both ways\n", taken);
	free(der);
	gw_buf_free(&m);
	gw_buf_free_secret(&want);
	free(e);
}

/* ---- issue 11: a second content after the cut one ------------------------ */

/*
 * An envelope (BER, indefinite lengths) with an empty [0] primitive
 * after its encryptedContent, inside EncryptedContentInfo: OpenSSL
 * refuses the object, and so must the content read where it lies
 * (small: cut out in memory; large: decrypted as it is decoded), where
 * the cut would leave that [0] in the content's place.
 */
static void
issue11_second_content_refused(void **state)
{
	static const size_t sizes[] = {2000, 300000};
	struct smime_open_result res;
	struct gw_buf m, cut, out, plain;
	const unsigned char *q;
	unsigned char *der, *two;
	size_t i, dl;
	char *e;
	int extra, crlf;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		e = big_entity(sizes[i], 0, 11);
		gw_buf_init(&m, 8 << 20);
		gw_buf_init(&cut, 8 << 20);
		gw_buf_init(&out, 8 << 20);
		gw_buf_init(&plain, 8 << 20);
		envelope_of(e, EVP_aes_256_cbc(), 1, &m);
		der = der_of(&m, &dl);
		/* Five end-of-contents close it: [0], EncryptedContentInfo,
		 * EnvelopedData, [0], ContentInfo. */
		assert_memory_equal(der + dl - 10, "\0\0\0\0\0\0\0\0\0\0", 10);
		assert_non_null(two = malloc(dl + 2));
		memcpy(two, der, dl - 8);
		memcpy(two + dl - 8, "\x80\x00", 2);
		memcpy(two + dl - 6, der + dl - 8, 8);
		q = two;
		assert_null(d2i_CMS_ContentInfo(NULL, &q, (long)(dl + 2)));
		ERR_clear_error();
		envelope_message(&cut, two, dl + 2);
		if (sizes[i] >= 200000)
			assert_int_equal(
			    stream_of(&cut, &plain, &extra, &crlf), 0);
		assert_int_equal(open_msg(cut.data, cut.len, &out, &res), 0);
		assert_int_equal(res.decrypted, 0);
		assert_int_equal(res.status, SMIME_FAILED);
		smime_open_result_free(&res);
		free(two);
		free(der);
		free(e);
		gw_buf_free(&m);
		gw_buf_free(&cut);
		gw_buf_free(&out);
		gw_buf_free_secret(&plain);
	}
}

/* ---- issue 11: opaque signatures off the DER ----------------------------- */

static const char opaque_entity[] =
    "Content-Type: text/plain; charset=us-ascii\r\n\r\nOpaque text.\r\n";

/* A self-signed signing certificate for key, trusted in *store. */
static X509 *
signing_cert(X509_STORE **store)
{
	X509 *x = unit_cert_new(key, "unit signer", 9, NULL);

	assert_non_null(x);
	assert_true(unit_add_ext(x, x, NID_key_usage,
				 "critical,digitalSignature"));
	assert_true(unit_add_ext(x, x, NID_subject_alt_name,
				 "email:unit@unit.example"));
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	assert_non_null(*store = X509_STORE_new());
	assert_true(X509_STORE_add_cert(*store, x));
	return x;
}

/*
 * A message From from, opaque-signed by x over opaque_entity: DER, or
 * BER as a streaming encoder writes it; tail: bytes after the object;
 * flip: a byte of the entity inside the DER changed.
 */
static void
opaque_msg(struct gw_buf *m, X509 *x, const char *from, int ber,
	   const char *tail, int flip)
{
	unsigned flags = CMS_BINARY | (ber ? CMS_STREAM : 0);
	CMS_ContentInfo *cms;
	BIO *in = BIO_new_mem_buf(opaque_entity, -1), *b = BIO_new(BIO_s_mem());
	unsigned char *der, *at;
	size_t dl;
	char *p;

	assert_non_null(in);
	assert_non_null(b);
	assert_non_null(cms = CMS_sign(x, key, NULL, in, flags));
	assert_true(ber ? i2d_CMS_bio_stream(b, cms, in, flags)
			: i2d_CMS_bio(b, cms));
	dl = (size_t)BIO_get_mem_data(b, &p);
	assert_non_null(der = malloc(dl + strlen(tail)));
	memcpy(der, p, dl);
	memcpy(der + dl, tail, strlen(tail));
	dl += strlen(tail);
	if (flip) {
		at = memmem(der, dl, "Opaque", 6);
		assert_non_null(at);
		at[0] ^= 0x20;
	}
	der_message_from(m, from,
			 "application/pkcs7-mime; smime-type=signed-data; "
			 "name=smime.p7m",
			 der, dl);
	free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	BIO_free(b);
}

/* smime_open() of an opaque message against store, the signature
 * removed when it verified if remove: the result and out. */
static void
open_opaque(const struct gw_buf *m, X509_STORE *store, int remove,
	    struct gw_buf *out, struct smime_open_result *res)
{
	struct smime_open_opts o;

	memset(&o, 0, sizeof(o));
	o.trust = store;
	o.authserv_id = AUTHSERV;
	o.remove_signature = remove;
	gw_buf_reset(out);
	gw_err_clear();
	assert_int_equal(smime_open(m->data, m->len, &o, out, res), 0);
}

/*
 * An opaque signature is checked off the DER (smime_sigcheck_passed()
 * counts it), DER and BER (streamed, the content in segments) alike: the same result both ways and, the
 * signature removed, the same entity byte for byte; a changed content
 * byte fails, a From the signer does not cover fails, bytes after the
 * object leave it unverified.
 */
static void
issue11_opaque_off_the_der(void **state)
{
	static const struct {
		const char *from, *tail;
		int flip, status, sigs, verified;
		unsigned long fast;	/* passed off the DER, each way */
	} c[] = {
	    {"unit@unit.example", "", 0, SMIME_OK, 1, 1, 1},
	    {"unit@unit.example", "", 1, SMIME_FAILED, 0, 0, 0},
	    {"other@unit.example", "", 0, SMIME_FAILED, 0, 0, 1},
	    {"unit@unit.example", "junk", 0, SMIME_OK, 1, 0, 1},
	};
	unsigned long before;
	struct smime_open_result res, bres;
	struct gw_buf m, bm, out, bout;
	X509_STORE *store;
	X509 *x = signing_cert(&store);
	size_t i;

	(void)state;
	gw_buf_init(&m, (size_t)1 << 20);
	gw_buf_init(&bm, (size_t)1 << 20);
	gw_buf_init(&out, (size_t)1 << 20);
	gw_buf_init(&bout, (size_t)1 << 20);
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		gw_buf_reset(&m);
		gw_buf_reset(&bm);
		opaque_msg(&m, x, c[i].from, 0, c[i].tail, c[i].flip);
		opaque_msg(&bm, x, c[i].from, 1, c[i].tail, c[i].flip);
		before = smime_sigcheck_passed();
		open_opaque(&m, store, 0, &out, &res);
		assert_int_equal(smime_sigcheck_passed() - before, c[i].fast);
		before = smime_sigcheck_passed();
		open_opaque(&bm, store, 0, &bout, &bres);
		assert_int_equal(smime_sigcheck_passed() - before, c[i].fast);
		if ((int)res.status != c[i].status || res.signatures != c[i].sigs ||
		    res.verified != c[i].verified)
			fail_msg("case %zu: status %d signatures %d verified "
				 "%d (%s)",
				 i, (int)res.status, res.signatures,
				 res.verified, res.reason);
		assert_int_equal(bres.status, res.status);
		assert_int_equal(bres.signatures, res.signatures);
		assert_int_equal(bres.verified, res.verified);
		smime_open_result_free(&res);
		smime_open_result_free(&bres);
		if (c[i].status != SMIME_OK)
			continue;
		/* The signature removed: the same entity both ways. */
		open_opaque(&m, store, 1, &out, &res);
		open_opaque(&bm, store, 1, &bout, &bres);
		assert_int_equal(out.len, bout.len);
		assert_memory_equal(out.data, bout.data, out.len);
		assert_non_null(memmem(out.data, out.len,
				       "\r\n\r\nOpaque text.\r\n", 18));
		smime_open_result_free(&res);
		smime_open_result_free(&bres);
	}
	X509_free(x);
	X509_STORE_free(store);
	gw_buf_free(&m);
	gw_buf_free(&bm);
	gw_buf_free(&out);
	gw_buf_free(&bout);
}

int
main(void)
{
	struct CMUnitTest counts[NCOUNT], nested[NNEST], env[NENV];
	struct CMUnitTest kinds[NKIND];
	struct CMUnitTest place[NPLACE + 2], nomove[NNOMOVE];
	const struct CMUnitTest stream[] = {
	    cmocka_unit_test(issue11_stream_decrypts),
	    cmocka_unit_test(issue11_stream_falls_back),
	    cmocka_unit_test(issue11_stream_never_differs),
	};
	const struct CMUnitTest opaque[] = {
	    cmocka_unit_test(issue11_opaque_off_the_der),
	    cmocka_unit_test(issue11_second_content_refused),
	};
	const struct CMUnitTest deep[] = {
	    cmocka_unit_test(item16_deep_plain_delivered),
	    cmocka_unit_test(item16_deep_smime_refused),
	};
	size_t i;
	int failed = 0;

	for (i = 0; i < NCOUNT; i++)
		counts[i] = (struct CMUnitTest){count_cases[i].name,
						test_counts, NULL, NULL,
						(void *)&count_cases[i]};
	for (i = 0; i < NNEST; i++)
		nested[i] = (struct CMUnitTest){nest_cases[i].name,
						test_nested, NULL, NULL,
						(void *)&nest_cases[i]};
	for (i = 0; i < NENV; i++)
		env[i] = (struct CMUnitTest){env_cases[i].name, test_envelopes,
					     NULL, NULL, (void *)&env_cases[i]};
	failed += _cmocka_run_group_tests("item16 certificates and signers",
					  counts, NCOUNT, setup, teardown);
	for (i = 0; i < NKIND; i++)
		kinds[i] = (struct CMUnitTest){kind_cases[i].name,
					       test_entity_kind, NULL, NULL,
					       (void *)&kind_cases[i]};
	failed += _cmocka_run_group_tests("issue11 signed entity kinds", kinds,
					  NKIND, setup, teardown);
	failed += _cmocka_run_group_tests("item10 nested envelopes", nested,
					  NNEST, setup, teardown);
	failed += cmocka_run_group_tests_name("item16 MIME depth", deep,
					      setup, teardown);
	failed += _cmocka_run_group_tests("item05 item16 envelopes", env, NENV,
					  setup, teardown);
	for (i = 0; i < NPLACE; i++)
		place[i] = (struct CMUnitTest){place_cases[i].name,
					       test_in_place, NULL, NULL,
					       (void *)&place_cases[i]};
	place[NPLACE] = (struct CMUnitTest)cmocka_unit_test(
	    issue11_in_place_gcm_tag_checked);
	place[NPLACE + 1] = (struct CMUnitTest)cmocka_unit_test(
	    issue11_encrypt_streamed_base64);
	failed += _cmocka_run_group_tests("issue11 envelope content in place",
					  place, NPLACE + 2, setup, teardown);
	for (i = 0; i < NNOMOVE; i++)
		nomove[i] = (struct CMUnitTest){nomove_cases[i].name,
						test_nomove, NULL, NULL,
						(void *)&nomove_cases[i]};
	failed += _cmocka_run_group_tests("issue11 decrypt with no move",
					  nomove, NNOMOVE, setup, teardown);
	failed += cmocka_run_group_tests_name("issue11 envelope streamed",
					      stream, setup, teardown);
	failed += cmocka_run_group_tests_name("issue11 opaque signatures",
					      opaque, setup, teardown);
	return failed != 0;
}
