/*
 * test_smime_envelope.c - gateway/smime/smime_envelope.c, the
 * EnvelopedData written without OpenSSL's CMS code (issue 11): for one
 * and three recipients, PKCS#1 v1.5 and RSA-OAEP, AES-128/192/256-CBC,
 * the DER is OpenSSL's (CMS_encrypt() set up as smime.c does it) byte
 * for byte once the random parts (encrypted keys, IV, ciphertext) are
 * blanked in both, and OpenSSL reads the same recipients from it; every
 * envelope decrypts with CMS_decrypt() to every recipient, and through
 * smime_encrypt() and smime_open() to the exact entity, up to the
 * largest entity that is not streamed; EC recipients and AES-GCM keep
 * OpenSSL's path.  Keys are software keys generated for the run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "gw_buf.h"
#include "gw_err.h"
#include "mime_codec.h"
#include "smime.h"
#include "smime_envelope.h"
#include "smime_open.h"
#include "unit_util.h"
#include "unit_x509.h"

#define NRSA 3

/* Issuers that DER sorts otherwise than they are given (by length
 * first, then by name), so that the order of the SET OF shows. */
static const char *const issuers[NRSA] = {"zeta recipient", "alpha", "mid"};
static EVP_PKEY *rsa_key[NRSA], *ec_key;
static X509 *rsa_cert[NRSA], *ec_cert;
static X509_STORE *trust;

/* ---- fixtures ---------------------------------------------------------- */

static X509 *
make_cert(EVP_PKEY *k, const char *cn, long serial)
{
	X509 *x;

	if ((x = unit_cert_new(k, cn, serial, NULL)) == NULL)
		return NULL;
	if (X509_sign(x, k, EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int
setup(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < NRSA; i++)
		if ((rsa_key[i] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
						    (size_t)2048)) == NULL ||
		    (rsa_cert[i] = make_cert(rsa_key[i], issuers[i],
					     1000L * (i + 1))) == NULL)
			return -1;
	if ((ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    (ec_cert = make_cert(ec_key, "ec", 5)) == NULL ||
	    (trust = X509_STORE_new()) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < NRSA; i++) {
		EVP_PKEY_free(rsa_key[i]);
		X509_free(rsa_cert[i]);
	}
	EVP_PKEY_free(ec_key);
	X509_free(ec_cert);
	X509_STORE_free(trust);
	return 0;
}

/* The first n RSA certificates, and the EC one when ec. */
static STACK_OF(X509) *
certs(int n, int ec)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	int i;

	assert_non_null(sk);
	for (i = 0; i < n; i++)
		assert_true(sk_X509_push(sk, rsa_cert[i]));
	if (ec)
		assert_true(sk_X509_push(sk, ec_cert));
	return sk;
}

/* ---- OpenSSL's envelope, as smime.c makes it ----------------------------- */

static void
openssl_der(const struct smime_recipients *r, const unsigned char *e,
	    size_t n, struct gw_buf *der)
{
	unsigned flags = CMS_PARTIAL | CMS_BINARY;
	CMS_ContentInfo *cms;
	CMS_RecipientInfo *ri;
	EVP_PKEY_CTX *pctx;
	unsigned char *p;
	BIO *in;
	int i, len;

	assert_non_null(in = BIO_new_mem_buf(e, (int)n));
	assert_non_null(cms = CMS_encrypt(NULL, NULL, r->cipher, flags));
	for (i = 0; i < sk_X509_num(r->certs); i++) {
		ri = CMS_add1_recipient_cert(cms, sk_X509_value(r->certs, i),
					     r->oaep ? CMS_KEY_PARAM : 0);
		assert_non_null(ri);
		if (!r->oaep)
			continue;
		assert_non_null(pctx = CMS_RecipientInfo_get0_pkey_ctx(ri));
		assert_true(EVP_PKEY_CTX_set_rsa_padding(
				pctx, RSA_PKCS1_OAEP_PADDING) > 0);
		assert_true(EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) > 0);
		assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) > 0);
	}
	assert_true(CMS_final(cms, in, NULL, flags));
	assert_true((len = i2d_CMS_ContentInfo(cms, NULL)) > 0);
	assert_int_equal(gw_buf_reserve(der, (size_t)len, &p), 0);
	assert_int_equal(i2d_CMS_ContentInfo(cms, &p), len);
	der->len += (size_t)len;
	CMS_ContentInfo_free(cms);
	BIO_free(in);
}

/* ours, the content in two pieces split at cut */
static void
our_der(const struct smime_recipients *r, const unsigned char *e, size_t n,
	size_t cut, struct gw_buf *der)
{
	const unsigned char *p[2] = {e, e + cut};
	size_t len[2] = {cut, n - cut};

	gw_err_clear();
	assert_int_equal(smime_envelope_der(r, p, len, 2, der), 0);
}

/* ---- a walk through the DER: the random parts blanked ------------------- */

/* The TLV at *p (DER, definite): its tag; *p moves to the contents,
 * *n is their length. */
static unsigned
tlv(unsigned char **p, const unsigned char *end, size_t *n)
{
	unsigned tag, k;

	assert_true(end - *p >= 2);
	tag = *(*p)++;
	*n = *(*p)++;
	if (*n & 0x80) {
		k = *n & 0x7f;
		assert_true(k >= 1 && k <= 3 && end - *p >= (long)k);
		for (*n = 0; k > 0; k--)
			*n = *n << 8 | *(*p)++;
	}
	assert_true((size_t)(end - *p) >= *n);
	return tag;
}

/* Moves past the TLV at *p, which must have tag. */
static void
step(unsigned char **p, const unsigned char *end, unsigned tag)
{
	size_t n;

	assert_int_equal(tlv(p, end, &n), tag);
	*p += n;
}

/* Zeroes the contents of the TLV at *p (tag) and moves past it. */
static void
blank(unsigned char **p, const unsigned char *end, unsigned tag)
{
	size_t n;

	assert_int_equal(tlv(p, end, &n), tag);
	memset(*p, 0, n);
	*p += n;
}

/*
 * Blanks the encrypted keys, the IV and the ciphertext of an envelope
 * of KTRIs (asserting the structure on the way); *nri gets the number
 * of recipients.
 */
static void
blank_random(struct gw_buf *der, int *nri)
{
	unsigned char *p = der->data, *end = der->data + der->len, *set, *ri;
	size_t n;

	assert_int_equal(tlv(&p, end, &n), 0x30);
	assert_true(p + n == end);
	step(&p, end, 0x06);
	assert_int_equal(tlv(&p, end, &n), 0xa0);
	assert_int_equal(tlv(&p, end, &n), 0x30);
	step(&p, end, 0x02);
	assert_int_equal(tlv(&p, end, &n), 0x31);
	for (set = p + n, *nri = 0; p < set; ++*nri) {
		assert_int_equal(tlv(&p, set, &n), 0x30);
		ri = p + n;
		step(&p, ri, 0x02);
		step(&p, ri, 0x30);	/* issuerAndSerialNumber */
		step(&p, ri, 0x30);	/* keyEncryptionAlgorithm */
		blank(&p, ri, 0x04);
		assert_true(p == ri);
	}
	assert_int_equal(tlv(&p, end, &n), 0x30);
	step(&p, end, 0x06);
	assert_int_equal(tlv(&p, end, &n), 0x30);
	step(&p, end, 0x06);
	blank(&p, end, 0x04);
	blank(&p, end, 0x80);
	assert_true(p == end);
}

/* ---- the same as OpenSSL's ------------------------------------------------ */

static const struct same_case {
	const char *name;
	int nrcpt;
	int oaep;
	const EVP_CIPHER *(*cipher)(void);
	size_t len;
} same_cases[] = {
    {"issue11_envelope_one_pkcs1_aes256", 1, 0, EVP_aes_256_cbc, 4000},
    {"issue11_envelope_one_oaep_aes128", 1, 1, EVP_aes_128_cbc, 4000},
    {"issue11_envelope_one_pkcs1_aes192_empty", 1, 0, EVP_aes_192_cbc, 0},
    {"issue11_envelope_three_pkcs1_aes128", 3, 0, EVP_aes_128_cbc, 33},
    {"issue11_envelope_three_oaep_aes256", 3, 1, EVP_aes_256_cbc, 300},
    {"issue11_envelope_three_oaep_aes128_long", 3, 1, EVP_aes_128_cbc,
     65535},
};

/* The recipients as OpenSSL reads them: issuer and serial, algorithm. */
static void
same_recipients(CMS_ContentInfo *a, CMS_ContentInfo *b)
{
	STACK_OF(CMS_RecipientInfo) *ra = CMS_get0_RecipientInfos(a);
	STACK_OF(CMS_RecipientInfo) *rb = CMS_get0_RecipientInfos(b);
	X509_NAME *ia, *ib;
	ASN1_INTEGER *sa, *sb;
	X509_ALGOR *aa, *ab;
	unsigned char *da = NULL, *db = NULL;
	int i, la, lb;

	assert_int_equal(sk_CMS_RecipientInfo_num(ra),
			 sk_CMS_RecipientInfo_num(rb));
	for (i = 0; i < sk_CMS_RecipientInfo_num(ra); i++) {
		CMS_RecipientInfo *x = sk_CMS_RecipientInfo_value(ra, i);
		CMS_RecipientInfo *y = sk_CMS_RecipientInfo_value(rb, i);

		assert_int_equal(CMS_RecipientInfo_type(x),
				 CMS_RECIPINFO_TRANS);
		assert_int_equal(CMS_RecipientInfo_type(y),
				 CMS_RECIPINFO_TRANS);
		assert_true(CMS_RecipientInfo_ktri_get0_signer_id(
		    x, NULL, &ia, &sa));
		assert_true(CMS_RecipientInfo_ktri_get0_signer_id(
		    y, NULL, &ib, &sb));
		assert_int_equal(X509_NAME_cmp(ia, ib), 0);
		assert_int_equal(ASN1_INTEGER_cmp(sa, sb), 0);
		assert_true(CMS_RecipientInfo_ktri_get0_algs(x, NULL, NULL,
							     &aa));
		assert_true(CMS_RecipientInfo_ktri_get0_algs(y, NULL, NULL,
							     &ab));
		assert_true((la = i2d_X509_ALGOR(aa, &da)) > 0);
		assert_true((lb = i2d_X509_ALGOR(ab, &db)) > 0);
		assert_memory_equal(da, db, (size_t)(la < lb ? la : lb));
		assert_int_equal(la, lb);
		OPENSSL_free(da);
		OPENSSL_free(db);
		da = db = NULL;
	}
}

static void
test_same(void **state)
{
	const struct same_case *c = *state;
	struct smime_recipients r;
	struct gw_buf ours, theirs;
	CMS_ContentInfo *a, *b;
	const unsigned char *q;
	unsigned char *e = unit_crlf_text(c->len);
	int na, nb;

	memset(&r, 0, sizeof(r));
	r.certs = certs(c->nrcpt, 0);
	r.cipher = c->cipher();
	r.oaep = c->oaep;
	gw_buf_init(&ours, (size_t)1 << 20);
	gw_buf_init(&theirs, (size_t)1 << 20);
	assert_int_equal(smime_envelope_fits(&r), 1);
	our_der(&r, e, c->len, c->len / 3, &ours);
	openssl_der(&r, e, c->len, &theirs);
	q = ours.data;
	assert_non_null(a = d2i_CMS_ContentInfo(NULL, &q, (long)ours.len));
	assert_true(q == ours.data + ours.len);
	q = theirs.data;
	assert_non_null(b = d2i_CMS_ContentInfo(NULL, &q, (long)theirs.len));
	assert_int_equal(OBJ_obj2nid(CMS_get0_type(a)), NID_pkcs7_enveloped);
	assert_int_equal(OBJ_obj2nid(CMS_get0_eContentType(a)),
			 NID_pkcs7_data);
	assert_int_equal(OBJ_obj2nid(CMS_get0_eContentType(b)),
			 NID_pkcs7_data);
	same_recipients(a, b);
	/* byte for byte, but the random parts */
	assert_int_equal(ours.len, theirs.len);
	blank_random(&ours, &na);
	blank_random(&theirs, &nb);
	assert_int_equal(na, c->nrcpt);
	assert_int_equal(nb, c->nrcpt);
	assert_memory_equal(ours.data, theirs.data, ours.len);
	CMS_ContentInfo_free(a);
	CMS_ContentInfo_free(b);
	gw_buf_free(&ours);
	gw_buf_free(&theirs);
	sk_X509_free(r.certs);
	free(e);
}

/* ---- round trips -------------------------------------------------------- */

/* CMS_decrypt() of der with recipient i's key: exactly e. */
static void
decrypts_to(const struct gw_buf *der, int i, const unsigned char *e,
	    size_t n)
{
	const unsigned char *q = der->data;
	CMS_ContentInfo *cms;
	BIO *out;
	char *p;
	long got;

	assert_non_null(cms = d2i_CMS_ContentInfo(NULL, &q, (long)der->len));
	assert_non_null(out = BIO_new(BIO_s_mem()));
	if (!CMS_decrypt(cms, i < NRSA ? rsa_key[i] : ec_key,
			 i < NRSA ? rsa_cert[i] : ec_cert, NULL, out,
			 CMS_BINARY))
		fail_msg("CMS_decrypt failed for recipient %d", i);
	got = BIO_get_mem_data(out, &p);
	assert_int_equal((size_t)got, n);
	if (n > 0)
		assert_memory_equal(p, e, n);
	BIO_free(out);
	CMS_ContentInfo_free(cms);
}

static const size_t trip_sizes[] = {0, 1, 15, 16, 17, 4096, 65535};

/* Every size, split at every interesting place, to every recipient. */
static void
issue11_envelope_round_trip(void **state)
{
	struct smime_recipients r;
	struct gw_buf der;
	unsigned char *e;
	size_t s, cuts[4], k;
	int i, oaep;

	(void)state;
	for (oaep = 0; oaep < 2; oaep++)
		for (s = 0; s < sizeof(trip_sizes) / sizeof(trip_sizes[0]);
		     s++) {
			memset(&r, 0, sizeof(r));
			r.certs = certs(NRSA, 0);
			r.oaep = oaep;
			e = unit_crlf_text(trip_sizes[s]);
			cuts[0] = 0;
			cuts[1] = trip_sizes[s] / 2;
			cuts[2] = trip_sizes[s] > 0 ? 1 : 0;
			cuts[3] = trip_sizes[s];
			for (k = 0; k < 4; k++) {
				gw_buf_init(&der, (size_t)1 << 20);
				our_der(&r, e, trip_sizes[s], cuts[k], &der);
				for (i = 0; i < NRSA; i++)
					decrypts_to(&der, i, e, trip_sizes[s]);
				gw_buf_free(&der);
			}
			sk_X509_free(r.certs);
			free(e);
		}
}

/* der decodes, and encodes again to exactly der: definite lengths,
 * DER's choices throughout. */
static void
is_der(const struct gw_buf *der)
{
	const unsigned char *q = der->data;
	unsigned char *back = NULL;
	CMS_ContentInfo *cms;
	int len;

	assert_non_null(cms = d2i_CMS_ContentInfo(NULL, &q, (long)der->len));
	assert_ptr_equal(q, der->data + der->len);
	len = i2d_CMS_ContentInfo(cms, &back);
	assert_int_equal(len, (int)der->len);
	assert_memory_equal(back, der->data, der->len);
	OPENSSL_free(back);
	CMS_ContentInfo_free(cms);
}

/* A put for smime_envelope_stream(): appends to the buffer, counts the
 * calls, and fails with GW_ERR_LIMIT at call fail_at (0: never). */
struct collect {
	struct gw_buf *to;
	int calls, fail_at;
	size_t largest;
};

static int
collect(void *arg, const unsigned char *p, size_t n)
{
	struct collect *c = arg;

	if (++c->calls == c->fail_at)
		return GW_ERR_LIMIT;
	if (c->calls > 1 && n > c->largest)
		c->largest = n;
	return gw_buf_add(c->to, p, n);
}

/* Streamed: the size of the DER one, DER itself, decrypted by every
 * recipient, the ciphertext in pieces of at most 64 KiB (and one
 * block) whatever the pieces of the content. */
static const size_t stream_sizes[] = {0,     1,	    16,	    65535, 65536,
				      65537, 65552, 200003, 524288};

static void
issue11_envelope_stream_round_trip(void **state)
{
	struct smime_recipients r;
	struct gw_buf der, streamed;
	struct collect c;
	unsigned char *e;
	size_t s, n, cuts[3], k;
	int i;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.certs = certs(NRSA, 0);
	for (s = 0; s < sizeof(stream_sizes) / sizeof(stream_sizes[0]); s++) {
		n = stream_sizes[s];
		e = unit_crlf_text(n);
		cuts[0] = 0;
		cuts[1] = n / 3;
		cuts[2] = n > 70000 ? 70000 : n;
		for (k = 0; k < 3; k++) {
			const unsigned char *p[2] = {e, e + cuts[k]};
			size_t len[2] = {cuts[k], n - cuts[k]};

			gw_buf_init(&der, (size_t)1 << 21);
			gw_buf_init(&streamed, (size_t)1 << 21);
			our_der(&r, e, n, cuts[k], &der);
			memset(&c, 0, sizeof(c));
			c.to = &streamed;
			gw_err_clear();
			assert_int_equal(smime_envelope_stream(&r, p, len, 2,
							       collect, &c),
					 0);
			assert_int_equal(streamed.len, der.len);
			assert_true(c.largest <= ((size_t)64 << 10) + 16);
			assert_true(c.calls >= 2 + (int)(n >> 16));
			is_der(&streamed);
			for (i = 0; i < NRSA; i++)
				decrypts_to(&streamed, i, e, n);
			gw_buf_free(&der);
			gw_buf_free(&streamed);
		}
		free(e);
	}
	sk_X509_free(r.certs);
}

/* put's failure ends the envelope and is what it returns. */
static void
issue11_envelope_stream_put_fails(void **state)
{
	struct smime_recipients r;
	struct gw_buf streamed;
	struct collect c;
	unsigned char *e = unit_crlf_text(200000);
	const unsigned char *p[1] = {e};
	size_t n[1] = {200000};
	int at;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.certs = certs(1, 0);
	for (at = 1; at <= 5; at++) {
		gw_buf_init(&streamed, (size_t)1 << 20);
		memset(&c, 0, sizeof(c));
		c.to = &streamed;
		c.fail_at = at;
		assert_int_equal(smime_envelope_stream(&r, p, n, 1, collect,
						       &c),
				 GW_ERR_LIMIT);
		assert_int_equal(c.calls, at);
		gw_buf_free(&streamed);
	}
	sk_X509_free(r.certs);
	free(e);
}

static int
find_key(void *arg, CMS_ContentInfo *cms, X509 **c, EVP_PKEY **k)
{
	int i = *(int *)arg;

	(void)cms;
	*c = i < NRSA ? rsa_cert[i] : ec_cert;
	*k = i < NRSA ? rsa_key[i] : ec_key;
	if (!X509_up_ref(*c) || !EVP_PKEY_up_ref(*k))
		return GW_ERR_NOMEM;
	return 0;
}

/* The DER inside a message smime_encrypt() made (base64 after the
 * header block). */
static void
der_of(const struct gw_buf *m, struct gw_buf *der)
{
	const char *body = strstr((const char *)m->data, "\r\n\r\n");
	unsigned char *dst;
	size_t at, n;

	assert_non_null(body);
	at = (size_t)(body - (const char *)m->data) + 4;
	assert_int_equal(gw_buf_reserve(der, m->len, &dst), 0);
	assert_int_equal(mime_base64_decode(m->data + at, m->len - at, dst,
					    m->len, &n, NULL),
			 0);
	der->len = n;
}

/* smime_encrypt() of a message with body b to r: *m the message, *entity
 * what it encrypted (recipient who's key decrypts). */
static void
encrypt_msg(const struct smime_recipients *r, const unsigned char *b,
	    size_t n, int who, struct gw_buf *m, struct gw_buf *entity)
{
	static const char head[] = "From: a@b.example\r\nTo: c@d.example\r\n"
				   "Content-Type: text/plain\r\n\r\n";
	struct gw_buf in, der;
	const unsigned char *q;
	CMS_ContentInfo *cms;
	BIO *out;
	char *p;
	long got;

	gw_buf_init(&in, (size_t)1 << 20);
	gw_buf_init(&der, (size_t)1 << 20);
	assert_int_equal(gw_buf_adds(&in, head), 0);
	assert_int_equal(gw_buf_add(&in, b, n), 0);
	gw_err_clear();
	assert_int_equal(smime_encrypt(in.data, in.len, r, m), 0);
	der_of(m, &der);
	if (smime_envelope_fits(r))
		is_der(&der);
	q = der.data;
	assert_non_null(cms = d2i_CMS_ContentInfo(NULL, &q, (long)der.len));
	assert_non_null(out = BIO_new(BIO_s_mem()));
	assert_true(CMS_decrypt(cms, who < NRSA ? rsa_key[who] : ec_key,
				who < NRSA ? rsa_cert[who] : ec_cert, NULL,
				out, CMS_BINARY));
	got = BIO_get_mem_data(out, &p);
	assert_int_equal(gw_buf_add(entity, p, (size_t)got), 0);
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	gw_buf_free(&der);
	gw_buf_free(&in);
}

/* smime_open() of m with recipient who's key: the message ends in
 * entity. */
static void
opens_to(const struct gw_buf *m, int who, const struct gw_buf *entity)
{
	struct smime_open_opts o;
	struct smime_open_result res;
	struct gw_buf out;

	memset(&o, 0, sizeof(o));
	o.trust = trust;
	o.authserv_id = "unit.example";
	o.find_key = find_key;
	o.find_key_arg = &who;
	gw_buf_init(&out, (size_t)1 << 20);
	gw_err_clear();
	assert_int_equal(smime_open(m->data, m->len, &o, &out, &res), 0);
	assert_int_equal(res.status, SMIME_OK);
	assert_int_equal(res.decrypted, 1);
	assert_true(out.len >= entity->len);
	assert_memory_equal(out.data + out.len - entity->len, entity->data,
			    entity->len);
	smime_open_result_free(&res);
	gw_buf_free_secret(&out);
}

/*
 * Through smime_encrypt(): entities of 15, 16 and 17 bytes of body
 * after the entity's header, of 64 KiB - 1 (the largest that is not
 * streamed), 64 KiB (the smallest that is) and about 200 KiB, each the
 * exact body after that header, each opened again by smime_open().
 */
#define NTRIP 7

static void
issue11_envelope_smime_round_trip(void **state)
{
	struct smime_recipients r;
	struct gw_buf m, entity;
	size_t sizes[NTRIP] = {0, 15, 16, 17, 0, 0, 0}, hl = 0, i;
	unsigned char *b;
	int oaep;

	(void)state;
	for (oaep = 0; oaep < 2; oaep++) {
		memset(&r, 0, sizeof(r));
		r.certs = certs(NRSA, 0);
		r.oaep = oaep;
		for (i = 0; i < NTRIP; i++) {
			gw_buf_init(&m, (size_t)1 << 20);
			gw_buf_init(&entity, (size_t)1 << 20);
			b = unit_crlf_text(sizes[i]);
			encrypt_msg(&r, b, sizes[i], (int)i % NRSA, &m,
				    &entity);
			assert_true(entity.len >= sizes[i]);
			if (i == 0)
				hl = entity.len;
			assert_int_equal(entity.len, hl + sizes[i]);
			if (sizes[i] > 0)
				assert_memory_equal(entity.data + hl, b,
						    sizes[i]);
			opens_to(&m, (int)i % NRSA, &entity);
			if (i == 3) {
				sizes[4] = 65535 - hl;
				sizes[5] = 65536 - hl;
				sizes[6] = 200000;
			}
			free(b);
			gw_buf_free(&m);
			gw_buf_free_secret(&entity);
		}
		assert_int_equal(hl + sizes[4], 65535);
		sk_X509_free(r.certs);
	}
}

/* ---- what keeps OpenSSL's path -------------------------------------------- */

static const struct fit_case {
	const char *name;
	int nrsa, ec;
	const EVP_CIPHER *(*cipher)(void);	/* NULL: the default */
	int oaep;
	int fits;
} fit_cases[] = {
    {"issue11_envelope_fits_default", 1, 0, NULL, 0, 1},
    {"issue11_envelope_fits_aes192_oaep", 2, 0, EVP_aes_192_cbc, 1, 1},
    {"issue11_envelope_ec_keeps_openssl", 0, 1, NULL, 0, 0},
    {"issue11_envelope_rsa_and_ec_keep_openssl", 2, 1, EVP_aes_128_cbc, 0,
     0},
    {"issue11_envelope_gcm_keeps_openssl", 1, 0, EVP_aes_256_gcm, 0, 0},
    {"issue11_envelope_gcm_oaep_keeps_openssl", 1, 0, EVP_aes_128_gcm, 1,
     0},
    {"issue11_envelope_3des_keeps_openssl", 1, 0, EVP_des_ede3_cbc, 0, 0},
};

/* What smime_envelope_fits() says; smime_envelope_der() refuses what
 * does not fit; smime_encrypt() still makes an envelope each recipient
 * decrypts, whichever path it takes. */
static void
test_fits(void **state)
{
	const struct fit_case *c = *state;
	struct smime_recipients r;
	struct gw_buf m, entity, der;
	const unsigned char *p[1];
	size_t n[1] = {5};
	unsigned char *b = unit_crlf_text(100);
	int i;

	memset(&r, 0, sizeof(r));
	r.certs = certs(c->nrsa, c->ec);
	r.cipher = c->cipher ? c->cipher() : NULL;
	r.oaep = c->oaep;
	assert_int_equal(smime_envelope_fits(&r), c->fits);
	if (!c->fits) {
		gw_buf_init(&der, 1 << 16);
		p[0] = b;
		gw_err_clear();
		assert_int_equal(smime_envelope_der(&r, p, n, 1, &der),
				 GW_ERR_UNSUPPORTED);
		assert_substr(gw_err_detail(), "OpenSSL's CMS code");
		assert_int_equal(der.len, 0);
		gw_buf_free(&der);
	}
	for (i = 0; i < c->nrsa + c->ec; i++) {
		gw_buf_init(&m, (size_t)1 << 20);
		gw_buf_init(&entity, (size_t)1 << 20);
		encrypt_msg(&r, b, 100, i < c->nrsa ? i : NRSA, &m, &entity);
		assert_true(entity.len > 100);
		assert_memory_equal(entity.data + entity.len - 100, b, 100);
		if (c->cipher != NULL &&
		    EVP_CIPHER_get_mode(r.cipher) == EVP_CIPH_GCM_MODE)
			assert_substr((const char *)m.data,
				      "smime-type=authEnveloped-data");
		gw_buf_free(&m);
		gw_buf_free_secret(&entity);
	}
	sk_X509_free(r.certs);
	free(b);
}

/* Past der's ceiling: GW_ERR_LIMIT, der as it was. */
static void
issue11_envelope_ceiling(void **state)
{
	struct smime_recipients r;
	struct gw_buf der;
	unsigned char *e = unit_crlf_text(4096);

	(void)state;
	memset(&r, 0, sizeof(r));
	r.certs = certs(1, 0);
	gw_buf_init(&der, 4096);
	assert_int_equal(gw_buf_adds(&der, "before"), 0);
	{
		const unsigned char *p[1] = {e};
		size_t n[1] = {4096};

		gw_err_clear();
		assert_int_equal(smime_envelope_der(&r, p, n, 1, &der),
				 GW_ERR_LIMIT);
	}
	assert_substr(gw_err_detail(), "ceiling");
	assert_int_equal(der.len, 6);
	assert_string_equal((const char *)der.data, "before");
	gw_buf_free(&der);
	sk_X509_free(r.certs);
	free(e);
}

#define NSAME (sizeof(same_cases) / sizeof(same_cases[0]))
#define NFIT (sizeof(fit_cases) / sizeof(fit_cases[0]))

int
main(void)
{
	struct CMUnitTest same[NSAME], fit[NFIT];
	const struct CMUnitTest trips[] = {
	    cmocka_unit_test(issue11_envelope_round_trip),
	    cmocka_unit_test(issue11_envelope_stream_round_trip),
	    cmocka_unit_test(issue11_envelope_stream_put_fails),
	    cmocka_unit_test(issue11_envelope_smime_round_trip),
	    cmocka_unit_test(issue11_envelope_ceiling),
	};
	size_t i;
	int failed = 0;

	for (i = 0; i < NSAME; i++)
		same[i] = (struct CMUnitTest){same_cases[i].name, test_same,
					      NULL, NULL,
					      (void *)&same_cases[i]};
	for (i = 0; i < NFIT; i++)
		fit[i] = (struct CMUnitTest){fit_cases[i].name, test_fits,
					     NULL, NULL, (void *)&fit_cases[i]};
	failed += _cmocka_run_group_tests("issue11 envelope as OpenSSL's",
					  same, NSAME, setup, teardown);
	failed += cmocka_run_group_tests_name("issue11 envelope round trips",
					      trips, setup, teardown);
	failed += _cmocka_run_group_tests("issue11 envelope dispatch", fit,
					  NFIT, setup, teardown);
	return failed != 0;
}
