/*
 * test_cert_cache.c - the cache of decoded certificates (issue 11,
 * verify): the same DER gives the same object; DER with any one byte
 * changed never hits; bytes that are not exactly one certificate are
 * not kept; the bounds on entries and bytes hold, oldest out first; and
 * through smime_open(), a message whose certificate differs from a
 * cached one by one byte fails, before and after the good one verified,
 * with its SignedData in DER and in indefinite-length BER; with every
 * hash the same, the bytes alone tell certificates apart, and the hash
 * is SipHash-2-4 (its known answers); the recent entries, compared
 * before the hash, hit only on the same bytes; the cut
 * when the lengths around the certificates get shorter octets; store
 * records decode through the same shared cache.
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

#include "cert_cache.h"
#include "gw_buf.h"
#include "gw_err.h"
#include "gw_record.h"
#include "mime_codec.h"
#include "smime_open.h"
#include "unit_util.h"
#include "unit_x509.h"

#define FROM "unit@unit.example"

static EVP_PKEY *key;
static X509 *cert;	/* self-signed, the trust anchor */
static X509_STORE *trust;

/* ---- fixtures ---------------------------------------------------------- */

/* A self-signed S/MIME signing certificate for FROM with this serial
 * and key k. */
static X509 *
make_cert_key(long serial, EVP_PKEY *k)
{
	X509 *x;

	if ((x = unit_cert_new(k, "unit", serial, NULL)) == NULL)
		return NULL;
	if (!unit_add_ext(x, x, NID_basic_constraints, "critical,CA:FALSE") ||
	    !unit_add_ext(x, x, NID_key_usage, "critical,digitalSignature") ||
	    !unit_add_ext(x, x, NID_ext_key_usage, "emailProtection") ||
	    !unit_add_ext(x, x, NID_subject_alt_name, "email:" FROM) ||
	    X509_sign(x, k, EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static X509 *
make_cert(long serial)
{
	return make_cert_key(serial, key);
}

static int
setup(void **state)
{
	(void)state;
	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)) == NULL ||
	    (cert = make_cert(7)) == NULL ||
	    (trust = X509_STORE_new()) == NULL ||
	    !X509_STORE_add_cert(trust, cert))
		return -1;
	X509_STORE_set_flags(trust, X509_V_FLAG_PARTIAL_CHAIN);
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

/* The DER of x, in b. */
static void
der_of(X509 *x, struct gw_buf *b)
{
	unsigned char *d = NULL;
	int n = i2d_X509(x, &d);

	assert_true(n > 0);
	gw_buf_init(b, 1 << 20);
	assert_int_equal(gw_buf_add(b, d, (size_t)n), 0);
	OPENSSL_free(d);
}

static struct cert_cache_stats
stats(struct cert_cache *c)
{
	struct cert_cache_stats st;

	cert_cache_stats(c, &st);
	return st;
}

/* ---- the cache alone ----------------------------------------------------- */

/* The same bytes twice: one decode, then the same object. */
static void
same_der_same_object(void **state)
{
	struct cert_cache *c = cert_cache_new(16, 1 << 20);
	struct gw_buf d;
	X509 *a, *b;

	(void)state;
	assert_non_null(c);
	der_of(cert, &d);
	assert_int_equal(cert_cache_get(c, d.data, d.len, &a), 0);
	assert_int_equal(cert_cache_get(c, d.data, d.len, &b), 0);
	assert_ptr_equal(a, b);
	assert_int_equal(X509_cmp(a, cert), 0);
	assert_int_equal(stats(c).hits, 1);
	assert_int_equal(stats(c).misses, 1);
	assert_int_equal(stats(c).entries, 1);
	assert_int_equal(stats(c).bytes, d.len);
	X509_free(a);
	X509_free(b);
	gw_buf_free(&d);
	cert_cache_free(c);
}

/*
 * Every byte of the certificate changed in turn (header, names, key,
 * extensions, signature): never the cached object.  What decodes is
 * another object, which X509_cmp() tells from the good one; the rest is
 * refused.  The good one still hits afterwards.  (Not compared: the
 * DER OpenSSL writes back, which for a BIT STRING whose unused-bits
 * octet was changed differs from what it read.)
 */
static void
one_changed_byte_never_hits(void **state)
{
	struct cert_cache *c = cert_cache_new(4096, 64 << 20);
	struct gw_buf d;
	X509 *good, *x, *again;
	unsigned long hits;
	size_t i, decoded = 0;
	int rc;

	(void)state;
	assert_non_null(c);
	der_of(cert, &d);
	assert_int_equal(cert_cache_get(c, d.data, d.len, &good), 0);
	hits = stats(c).hits;
	for (i = 0; i < d.len; i++) {
		d.data[i] ^= 0x01;
		rc = cert_cache_get(c, d.data, d.len, &x);
		if (rc == 0) {
			decoded++;
			/* another object, and not an equal one (X509_cmp
			 * compares the encodings) */
			assert_ptr_not_equal(x, good);
			assert_int_not_equal(X509_cmp(x, good), 0);
			X509_free(x);
		} else {
			assert_int_equal(rc, GW_ERR_PARSE);
			assert_null(x);
		}
		assert_int_equal(stats(c).hits, hits);
		d.data[i] ^= 0x01;
	}
	/* most single-bit changes still decode: the test saw them */
	assert_true(decoded > d.len / 2);
	assert_int_equal(cert_cache_get(c, d.data, d.len, &again), 0);
	assert_ptr_equal(again, good);
	assert_int_equal(stats(c).hits, hits + 1);
	X509_free(good);
	X509_free(again);
	gw_buf_free(&d);
	cert_cache_free(c);
	ERR_clear_error();
}

/*
 * Every certificate with the same hash (the test hook): only the
 * compare of the bytes tells entries apart.  Ten certificates, each of
 * them and each with one byte changed (that still decodes), all in one
 * bucket: each hit gives its own object, never another's.
 */
static void
same_hash_bytes_decide(void **state)
{
	struct cert_cache *c = cert_cache_new(64, 1 << 20);
	struct gw_buf d[10];
	X509 *first[10], *x, *y;
	size_t j;
	int i, k;

	(void)state;
	assert_non_null(c);
	cert_cache_collide_for_tests(c);
	for (i = 0; i < 10; i++) {
		assert_non_null(x = make_cert(200 + i));
		der_of(x, &d[i]);
		X509_free(x);
		assert_int_equal(cert_cache_get(c, d[i].data, d[i].len,
						&first[i]),
				 0);
	}
	assert_int_equal(stats(c).misses, 10);
	for (i = 0; i < 10; i++) {
		assert_int_equal(cert_cache_get(c, d[i].data, d[i].len, &x),
				 0);
		assert_ptr_equal(x, first[i]);
		X509_free(x);
		/* a changed byte near the end (the signature): decodes,
		 * and is no other certificate's object */
		j = d[i].len - 3;
		d[i].data[j] ^= 0x20;
		assert_int_equal(cert_cache_get(c, d[i].data, d[i].len, &y),
				 0);
		assert_int_not_equal(X509_cmp(y, first[i]), 0);
		for (k = 0; k < 10; k++)
			assert_ptr_not_equal(y, first[k]);
		X509_free(y);
		d[i].data[j] ^= 0x20;
	}
	assert_int_equal(stats(c).hits, 10);
	assert_int_equal(stats(c).misses, 20);
	for (i = 0; i < 10; i++) {
		X509_free(first[i]);
		gw_buf_free(&d[i]);
	}
	cert_cache_free(c);
}

/*
 * The most recently used entries are compared before any hash: five
 * certificates in, then for each, itself (a hit: it is the newest now)
 * and right after it a copy with its last byte changed (equal but for
 * that byte) or its first byte after the header changed: the copy is
 * never a kept object (it decodes as another, or not at all).
 */
static void
recent_bytes_decide(void **state)
{
	struct cert_cache *c = cert_cache_new(64, 1 << 20);
	struct gw_buf d[5];
	X509 *first[5], *x;
	size_t at[2], j;
	unsigned long hits;
	int i, k, rc;

	(void)state;
	assert_non_null(c);
	for (i = 0; i < 5; i++) {
		assert_non_null(x = make_cert(300 + i));
		der_of(x, &d[i]);
		X509_free(x);
		assert_int_equal(cert_cache_get(c, d[i].data, d[i].len,
						&first[i]),
				 0);
	}
	for (i = 4; i >= 0; i--) {
		at[0] = d[i].len - 1;
		at[1] = 4;
		for (j = 0; j < 2; j++) {
			hits = stats(c).hits;
			assert_int_equal(cert_cache_get(c, d[i].data,
							d[i].len, &x),
					 0);
			assert_ptr_equal(x, first[i]);
			X509_free(x);
			d[i].data[at[j]] ^= 0x01;
			rc = cert_cache_get(c, d[i].data, d[i].len, &x);
			d[i].data[at[j]] ^= 0x01;
			assert_int_equal(stats(c).hits, hits + 1);
			if (rc != 0) {
				assert_int_equal(rc, GW_ERR_PARSE);
				continue;
			}
			for (k = 0; k < 5; k++)
				assert_ptr_not_equal(x, first[k]);
			X509_free(x);
		}
	}
	assert_int_equal(stats(c).hits, 10);
	for (i = 0; i < 5; i++) {
		X509_free(first[i]);
		gw_buf_free(&d[i]);
	}
	cert_cache_free(c);
	ERR_clear_error();
}

/* The hash is SipHash-2-4: the known answers of its paper (key 00..0f,
 * message 00..n-1), computed independently. */
static void
siphash_known_answers(void **state)
{
	static const struct {
		size_t n;
		uint64_t h;
	} kat[] = {
	    {0, 0x726fdb47dd0e0e31ULL},	 {1, 0x74f839c593dc67fdULL},
	    {7, 0xab0200f58b01d137ULL},	 {8, 0x93f5f5799a932462ULL},
	    {15, 0xa129ca6149be45e5ULL}, {63, 0x958a324ceb064572ULL},
	    {64, 0xacd2c40b8502cad8ULL},
	};
	unsigned char k[16], msg[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(k); i++)
		k[i] = (unsigned char)i;
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)i;
	for (i = 0; i < sizeof(kat) / sizeof(kat[0]); i++)
		assert_true(cert_cache_hash_for_tests(k, msg, kat[i].n) ==
			    kat[i].h);
}

/* A certificate with a byte after it, cut short, or nothing: refused
 * and never kept. */
static void
not_one_certificate_not_kept(void **state)
{
	struct cert_cache *c = cert_cache_new(16, 1 << 20);
	struct gw_buf d;
	X509 *x;

	(void)state;
	assert_non_null(c);
	der_of(cert, &d);
	assert_int_equal(gw_buf_add(&d, "", 1), 0); /* a trailing 00 */
	assert_int_equal(cert_cache_get(c, d.data, d.len, &x), GW_ERR_PARSE);
	assert_null(x);
	assert_int_equal(cert_cache_get(c, d.data, d.len - 2, &x),
			 GW_ERR_PARSE);
	assert_int_equal(cert_cache_get(c, d.data, 0, &x), GW_ERR_PARSE);
	assert_int_equal(stats(c).entries, 0);
	assert_int_equal(stats(c).bytes, 0);
	gw_buf_free(&d);
	cert_cache_free(c);
	ERR_clear_error();
}

/*
 * Ten certificates into room for four: never more than four held, the
 * least recently used go first, an evicted one is decoded again.  A
 * byte bound below four certificates' DER holds too.
 */
static void
eviction_bounds_memory(void **state)
{
	struct cert_cache *c = cert_cache_new(4, 1 << 20), *cb;
	struct gw_buf d[10];
	X509 *x, *first, *y;
	size_t max_bytes;
	int i;

	(void)state;
	assert_non_null(c);
	for (i = 0; i < 10; i++) {
		assert_non_null(x = make_cert(100 + i));
		der_of(x, &d[i]);
		X509_free(x);
	}
	assert_int_equal(cert_cache_get(c, d[0].data, d[0].len, &first), 0);
	for (i = 1; i < 10; i++) {
		/* d[0] used before each insertion: it stays */
		assert_int_equal(cert_cache_get(c, d[0].data, d[0].len, &x),
				 0);
		assert_ptr_equal(x, first);
		X509_free(x);
		assert_int_equal(cert_cache_get(c, d[i].data, d[i].len, &x),
				 0);
		X509_free(x);
		assert_true(stats(c).entries <= 4);
	}
	assert_int_equal(stats(c).entries, 4);
	assert_int_equal(stats(c).evictions, 6);
	assert_int_equal(stats(c).bytes,
			 d[0].len + d[7].len + d[8].len + d[9].len);
	/* d[1] went out: decoded again, a miss */
	assert_int_equal(cert_cache_get(c, d[1].data, d[1].len, &x), 0);
	assert_int_equal(stats(c).misses, 11);
	X509_free(x);
	X509_free(first);
	cert_cache_free(c);

	/* the byte bound: room for two and a half certificates */
	max_bytes = d[0].len * 5 / 2;
	assert_non_null(cb = cert_cache_new(1000, max_bytes));
	for (i = 0; i < 10; i++) {
		assert_int_equal(cert_cache_get(cb, d[i].data, d[i].len, &y),
				 0);
		X509_free(y);
		assert_true(stats(cb).bytes <= max_bytes);
	}
	/* a certificate over a quarter of the bytes is decoded, not kept */
	assert_int_equal(stats(cb).entries, 0);
	cert_cache_free(cb);
	assert_non_null(cb = cert_cache_new(1000, d[0].len * 4 + 10));
	for (i = 0; i < 10; i++) {
		assert_int_equal(cert_cache_get(cb, d[i].data, d[i].len, &y),
				 0);
		X509_free(y);
		assert_true(stats(cb).bytes <= d[0].len * 4 + 10);
	}
	assert_int_equal(stats(cb).entries, 4);
	cert_cache_free(cb);
	for (i = 0; i < 10; i++)
		gw_buf_free(&d[i]);
}

/* ---- through smime_open() ------------------------------------------------ */

/* An opaque signed message by signer (key) as CMS DER, or BER with
 * indefinite lengths (streamed). */
static void
signed_der(X509 *signer, int indef, struct gw_buf *der)
{
	static const char body[] = "Content-Type: text/plain\r\n\r\nhello\r\n";
	CMS_ContentInfo *cms;
	BIO *in, *out;
	unsigned flags = CMS_BINARY | (indef ? CMS_STREAM : 0);
	char *p;
	long n;

	assert_non_null(in = BIO_new_mem_buf(body, sizeof(body) - 1));
	assert_non_null(out = BIO_new(BIO_s_mem()));
	assert_non_null(cms = CMS_sign(signer, key, NULL, in, flags));
	if (indef)
		assert_int_equal(i2d_CMS_bio_stream(out, cms, in, flags), 1);
	else
		assert_int_equal(i2d_CMS_bio(out, cms), 1);
	n = BIO_get_mem_data(out, &p);
	gw_buf_init(der, 1 << 20);
	assert_int_equal(gw_buf_add(der, p, (size_t)n), 0);
	if (indef)
		assert_int_equal(der->data[1], 0x80);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	BIO_free(out);
}

/* The message around a signed-data DER. */
static void
message_of(const struct gw_buf *der, struct gw_buf *m)
{
	unsigned char *dst;
	size_t n;

	gw_buf_init(m, 1 << 20);
	gw_buf_adds(m, "From: " FROM "\r\nTo: bob@unit.example\r\n"
		       "Subject: cache\r\nMIME-Version: 1.0\r\n"
		       "Content-Type: application/pkcs7-mime; "
		       "smime-type=signed-data; name=smime.p7m\r\n"
		       "Content-Transfer-Encoding: base64\r\n\r\n");
	n = mime_base64_encoded_max(der->len);
	assert_int_equal(gw_buf_reserve(m, n, &dst), 0);
	assert_int_equal(mime_base64_encode(der->data, der->len, dst, n, &n),
			 0);
	m->len += n;
}

static int
open_msg(const struct gw_buf *m, struct smime_open_result *res)
{
	struct smime_open_opts o;
	struct gw_buf out;
	int rc;

	memset(&o, 0, sizeof(o));
	memset(res, 0, sizeof(*res));
	o.trust = trust;
	o.authserv_id = "unit.example";
	gw_buf_init(&out, 1 << 20);
	gw_err_clear();
	rc = smime_open(m->data, m->len, &o, &out, res);
	gw_buf_free(&out);
	return rc;
}

/* Where the n bytes s first occur in b. */
static size_t
find(const struct gw_buf *b, const void *s, size_t n)
{
	size_t i;

	for (i = 0; i + n <= b->len; i++)
		if (memcmp(b->data + i, s, n) == 0)
			return i;
	fail_msg("bytes not found");
	return 0;
}

static void
verifies(const struct gw_buf *m)
{
	struct smime_open_result res;

	assert_int_equal(open_msg(m, &res), 0);
	if (res.status != SMIME_OK)
		fail_msg("not verified: %s", res.reason);
	assert_int_equal(res.signatures, 1);
	assert_int_equal(sk_X509_num(res.signer_certs), 1);
	assert_int_equal(X509_cmp(sk_X509_value(res.signer_certs, 0), cert),
			 0);
	smime_open_result_free(&res);
}

/*
 * The good message verifies (its certificate is then cached); the same
 * message with one byte of that certificate changed (serial, a key
 * byte, a name byte, the certificate's signature) fails, is a cache
 * miss, and does not disturb the good one, which verifies again from
 * the cache.
 */
static void
changed_cert_byte_fails_after_cached(int indef)
{
	struct cert_cache *c = smime_open_cert_cache();
	struct smime_open_result res;
	struct gw_buf der, bad, cd, m;
	size_t at, pos[5], i;
	unsigned long hits, misses;

	assert_non_null(c);
	der_of(cert, &cd);
	signed_der(cert, indef, &der);
	at = find(&der, cd.data, cd.len);
	message_of(&der, &m);
	verifies(&m);
	hits = stats(c).hits;
	verifies(&m);
	assert_int_equal(stats(c).hits, hits + 1); /* from the cache */

	/* offsets in the certificate: the serial (7), a byte of the RSA
	 * modulus, the CN, two bytes of the certificate's signature */
	pos[0] = find(&cd, "\x02\x01\x07", 3) + 2;
	pos[1] = cd.len / 2;
	pos[2] = find(&cd, "unit", 4);
	pos[3] = cd.len - 1;
	pos[4] = cd.len - 200;
	for (i = 0; i < 5; i++) {
		gw_buf_init(&bad, 1 << 20);
		assert_int_equal(gw_buf_add(&bad, der.data, der.len), 0);
		/* another bit than the DER case: the cache is shared */
		bad.data[at + pos[i]] ^= indef ? 0x02 : 0x01;
		gw_buf_free(&m);
		message_of(&bad, &m);
		hits = stats(c).hits;
		misses = stats(c).misses;
		assert_int_equal(open_msg(&m, &res), 0);
		if (res.status == SMIME_OK)
			fail_msg("certificate byte %zu changed: verified",
				 pos[i]);
		assert_int_equal(res.signatures, 0);
		assert_int_equal(stats(c).hits, hits);
		assert_int_equal(stats(c).misses, misses + 1); /* decoded */
		smime_open_result_free(&res);
		gw_buf_free(&bad);
		/* the good one again, from the cache */
		gw_buf_free(&m);
		message_of(&der, &m);
		hits = stats(c).hits;
		verifies(&m);
		assert_int_equal(stats(c).hits, hits + 1);
	}
	gw_buf_free(&m);
	gw_buf_free(&der);
	gw_buf_free(&cd);
	ERR_clear_error();
}

static void
changed_cert_byte_fails_der(void **state)
{
	(void)state;
	changed_cert_byte_fails_after_cached(0);
}

static void
changed_cert_byte_fails_ber_indefinite(void **state)
{
	(void)state;
	changed_cert_byte_fails_after_cached(1);
}

/* A SignedData whose certificates were cut out and put back verifies
 * the same when its outer lengths need the long form and when it holds
 * two certificates (the signer second). */
static void
two_certs_signer_second(void **state)
{
	static const char body[] = "Content-Type: text/plain\r\n\r\nhi\r\n";
	struct smime_open_result res;
	struct gw_buf der, m;
	CMS_ContentInfo *cms;
	X509 *other;
	BIO *in, *out;
	char *p;
	long n;

	(void)state;
	assert_non_null(other = make_cert(99));
	assert_non_null(in = BIO_new_mem_buf(body, sizeof(body) - 1));
	assert_non_null(out = BIO_new(BIO_s_mem()));
	assert_non_null(cms = CMS_sign(NULL, NULL, NULL, NULL,
				       CMS_BINARY | CMS_PARTIAL));
	assert_int_equal(CMS_add1_cert(cms, other), 1);
	assert_non_null(CMS_add1_signer(cms, cert, key, EVP_sha256(), 0));
	assert_int_equal(CMS_final(cms, in, NULL, CMS_BINARY), 1);
	assert_int_equal(i2d_CMS_bio(out, cms), 1);
	n = BIO_get_mem_data(out, &p);
	gw_buf_init(&der, 1 << 20);
	assert_int_equal(gw_buf_add(&der, p, (size_t)n), 0);
	message_of(&der, &m);
	assert_int_equal(open_msg(&m, &res), 0);
	if (res.status != SMIME_OK)
		fail_msg("not verified: %s", res.reason);
	assert_int_equal(X509_cmp(sk_X509_value(res.signer_certs, 0), cert),
			 0);
	smime_open_result_free(&res);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	BIO_free(out);
	X509_free(other);
	gw_buf_free(&der);
	gw_buf_free(&m);
}

/*
 * The cut when the lengths around the certificates shrink to fewer
 * octets (the RFC 4134 DSA examples: 919 content octets, 179 without
 * the certificate).  Each outer length must lose the cut and what the
 * headers inside it lost; with only the cut taken off, what was left
 * did not decode, and the object was decoded whole.  A P-256 signer
 * without signed attributes, its content from 0 to 159 bytes, puts the
 * three lengths on both sides of 256 (0x82 to 0x81 octets) in every
 * combination.  Each verifies, and its signer is the cache's object:
 * the cut was used, not the whole decode.
 */
static void
cut_when_lengths_shrink(void **state)
{
	struct cert_cache *c = smime_open_cert_cache();
	struct smime_open_result res;
	struct gw_buf der, m, cd;
	CMS_ContentInfo *cms;
	EVP_PKEY *ec;
	X509 *x, *cached;
	BIO *in, *out;
	char body[256];
	char *p;
	size_t len;
	long n;
	int indef, shrunk = 0;

	(void)state;
	assert_non_null(c);
	assert_non_null(ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
	assert_non_null(x = make_cert_key(11, ec));
	assert_int_equal(X509_STORE_add_cert(trust, x), 1);
	der_of(x, &cd);
	assert_int_equal(cert_cache_get(c, cd.data, cd.len, &cached), 0);
	for (len = 0; len < 160; len++)
		for (indef = 0; indef < 2; indef++) {
			memset(body, 'a', sizeof(body));
			memcpy(body, "Content-Type: text/plain\r\n\r\n", 28);
			assert_non_null(in = BIO_new_mem_buf(body,
							     (int)(28 + len)));
			assert_non_null(out = BIO_new(BIO_s_mem()));
			assert_non_null(cms = CMS_sign(x, ec, NULL, in,
						       CMS_BINARY | CMS_NOATTR |
							   (indef ? CMS_STREAM
								  : 0)));
			if (indef)
				assert_int_equal(i2d_CMS_bio_stream(out, cms,
								    in,
								    CMS_STREAM),
						 1);
			else
				assert_int_equal(i2d_CMS_bio(out, cms), 1);
			n = BIO_get_mem_data(out, &p);
			gw_buf_init(&der, 1 << 20);
			assert_int_equal(gw_buf_add(&der, p, (size_t)n), 0);
			if (!indef && n - (long)cd.len < 256 + 4)
				shrunk++;
			message_of(&der, &m);
			assert_int_equal(open_msg(&m, &res), 0);
			if (res.status != SMIME_OK)
				fail_msg("content %zu%s: not verified: %s",
					 len, indef ? " (BER)" : "",
					 res.reason);
			assert_ptr_equal(sk_X509_value(res.signer_certs, 0),
					 cached);
			smime_open_result_free(&res);
			CMS_ContentInfo_free(cms);
			BIO_free(in);
			BIO_free(out);
			gw_buf_free(&der);
			gw_buf_free(&m);
		}
	assert_true(shrunk > 0 && shrunk < 160); /* both sides of 256 */
	X509_free(cached);
	X509_free(x);
	EVP_PKEY_free(ec);
	gw_buf_free(&cd);
	ERR_clear_error();
}

/*
 * Store records (gw_rec_get_x509) go through the same shared cache: the
 * same certificate twice is one object; one changed byte is another;
 * a trailing byte is a corrupt record, as before the cache.
 */
static void
store_record_through_shared_cache(void **state)
{
	struct cert_cache *c = cert_cache_shared();
	struct gw_rec_field f;
	struct gw_buf d;
	X509 *a = NULL, *b = NULL, *bad = NULL;
	unsigned long hits;

	(void)state;
	assert_non_null(c);
	assert_ptr_equal(c, smime_open_cert_cache());
	der_of(cert, &d);
	f.tag = 1;
	f.p = d.data;
	f.len = d.len;
	assert_int_equal(gw_rec_get_x509(&f, &a, "test record"), 0);
	hits = stats(c).hits;
	assert_int_equal(gw_rec_get_x509(&f, &b, "test record"), 0);
	assert_ptr_equal(a, b);
	assert_int_equal(stats(c).hits, hits + 1);
	d.data[d.len - 1] ^= 0x04; /* the certificate's signature */
	assert_int_equal(gw_rec_get_x509(&f, &bad, "test record"), 0);
	assert_ptr_not_equal(bad, a);
	assert_int_not_equal(X509_cmp(bad, a), 0);
	assert_int_equal(stats(c).hits, hits + 1);
	d.data[d.len - 1] ^= 0x04;
	assert_int_equal(gw_buf_add(&d, "", 1), 0);
	f.p = d.data;
	f.len = d.len;
	gw_err_clear();
	assert_int_equal(gw_rec_get_x509(&f, &bad, "test record"),
			 GW_ERR_STORE);
	assert_substr(gw_err_detail(), "corrupt certificate in test record");
	X509_free(a);
	X509_free(b);
	X509_free(bad);
	gw_buf_free(&d);
	ERR_clear_error();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(same_der_same_object),
	    cmocka_unit_test(one_changed_byte_never_hits),
	    cmocka_unit_test(same_hash_bytes_decide),
	    cmocka_unit_test(recent_bytes_decide),
	    cmocka_unit_test(siphash_known_answers),
	    cmocka_unit_test(not_one_certificate_not_kept),
	    cmocka_unit_test(eviction_bounds_memory),
	    cmocka_unit_test(changed_cert_byte_fails_der),
	    cmocka_unit_test(changed_cert_byte_fails_ber_indefinite),
	    cmocka_unit_test(two_certs_signer_second),
	    cmocka_unit_test(cut_when_lengths_shrink),
	    cmocka_unit_test(store_record_through_shared_cache),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
