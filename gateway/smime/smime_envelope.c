/* smime_envelope.c - EnvelopedData for RSA recipients and AES-CBC. */
#include "smime_envelope.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "gw_buf.h"
#include "gw_err.h"
#include "smime_der.h"

/*
 * The fixed parts, as OpenSSL encodes them (the test compares).  The
 * digest AlgorithmIdentifiers in the OAEP parameters have no NULL
 * parameters: OpenSSL 3 leaves them out for SHA-2, as RFC 5754 says.
 */
static const unsigned char tlv_enveloped[] = {
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03};
static const unsigned char tlv_data[] = {
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01};
static const unsigned char version0[] = {0x02, 0x01, 0x00};
/* id-RSAES-OAEP { [0] sha256, [1] mgf1 { sha256 } } (pSource: default) */
static const unsigned char alg_oaep[] = {
	0x30, 0x38, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
	0x01, 0x07, 0x30, 0x2b, 0xa0, 0x0d, 0x30, 0x0b, 0x06, 0x09, 0x60,
	0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0xa1, 0x1a, 0x30,
	0x18, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
	0x08, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
	0x04, 0x02, 0x01};

#define AES_OID_LEN 11
#define AES_IV_LEN 16
#define AES_BLOCK 16

/* The ciphers, fetched once (an EVP_aes_*_cbc() would be fetched
 * again by every EVP_EncryptInit_ex2()). */
static struct aes_cbc {
	int nid;
	const char *name;
	unsigned char oid[AES_OID_LEN];	/* aes-N-cbc, 2.16.840.1.101.3.4.1.x */
	EVP_CIPHER *cipher;
} aes_cbc[] = {
    {NID_aes_128_cbc, "AES-128-CBC",
     {0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02},
     NULL},
    {NID_aes_192_cbc, "AES-192-CBC",
     {0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x16},
     NULL},
    {NID_aes_256_cbc, "AES-256-CBC",
     {0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a},
     NULL},
};
#define NAES (sizeof(aes_cbc) / sizeof(aes_cbc[0]))

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void
fetch_ciphers(void)
{
	size_t i;

	for (i = 0; i < NAES; i++)
		aes_cbc[i].cipher = EVP_CIPHER_fetch(NULL, aes_cbc[i].name,
						     NULL);
}

static struct aes_cbc *
find_aes(const struct smime_recipients *r)
{
	int nid = r->cipher ? EVP_CIPHER_get_nid(r->cipher) : NID_aes_256_cbc;
	size_t i;

	for (i = 0; i < NAES; i++)
		if (aes_cbc[i].nid == nid)
			return &aes_cbc[i];
	return NULL;
}

int
smime_envelope_fits(const struct smime_recipients *r)
{
	EVP_PKEY *pk;
	int i;

	if (find_aes(r) == NULL || r->certs == NULL ||
	    sk_X509_num(r->certs) == 0)
		return 0;
	for (i = 0; i < sk_X509_num(r->certs); i++)
		if ((pk = X509_get0_pubkey(sk_X509_value(r->certs, i))) ==
			NULL ||
		    !EVP_PKEY_is_a(pk, "RSA"))
			return 0;
	return 1;
}

/* ---- the recipients --------------------------------------------------- */

/* A recipient's key, ready to encrypt as smime.c's add_recipient() sets
 * it up for CMS: PKCS#1 v1.5, or OAEP with SHA-256 and MGF1-SHA-256. */
static int
rsa_ctx(X509 *x, int oaep, EVP_PKEY_CTX **out)
{
	OSSL_PARAM params[4], *q = params;
	EVP_PKEY_CTX *ctx;

	*q++ = OSSL_PARAM_construct_utf8_string(
	    OSSL_ASYM_CIPHER_PARAM_PAD_MODE,
	    (char *)(oaep ? OSSL_PKEY_RSA_PAD_MODE_OAEP
			  : OSSL_PKEY_RSA_PAD_MODE_PKCSV15),
	    0);
	if (oaep) {
		*q++ = OSSL_PARAM_construct_utf8_string(
		    OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, (char *)"SHA256", 0);
		*q++ = OSSL_PARAM_construct_utf8_string(
		    OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, (char *)"SHA256", 0);
	}
	*q = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, X509_get0_pubkey(x),
					      NULL)) == NULL ||
	    EVP_PKEY_encrypt_init_ex(ctx, params) <= 0) {
		EVP_PKEY_CTX_free(ctx);
		return gw_err_set_ssl(GW_ERR_CRYPTO,
				      oaep ? "setting up RSA-OAEP"
					   : "setting up RSA encryption");
	}
	*out = ctx;
	return 0;
}

/*
 * Appends to ri one KeyTransRecipientInfo: version 0, the certificate's
 * issuer (its DER as it is in the certificate, which is what OpenSSL's
 * copy encodes to) and serial number, the algorithm, and the content
 * key encrypted, written straight into its place.
 */
static int
add_ktri(struct gw_buf *ri, X509 *x, int oaep, const unsigned char *key,
	 size_t keylen)
{
	const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
	const unsigned char *name, *alg = oaep ? alg_oaep : der_alg_rsa;
	size_t namelen, alglen = oaep ? sizeof(alg_oaep) : sizeof(der_alg_rsa);
	size_t eklen, got, ias, body;
	EVP_PKEY_CTX *ctx = NULL;
	unsigned char *p;
	int sn, rc;

	if (!X509_NAME_get0_der(X509_get_issuer_name(x), &name, &namelen) ||
	    (sn = i2d_ASN1_INTEGER(serial, NULL)) <= 0)
		return gw_err_set_ssl(GW_ERR_CRYPTO,
				      "encoding a recipient's issuer and "
				      "serial number");
	if ((rc = rsa_ctx(x, oaep, &ctx)) != 0)
		return rc;
	if (EVP_PKEY_encrypt(ctx, NULL, &eklen, key, keylen) <= 0) {
		rc = gw_err_set_ssl(GW_ERR_CRYPTO, "encrypting the content key");
		goto out;
	}
	ias = namelen + (size_t)sn;
	body = sizeof(version0) + der_hdr_len(ias) + ias + alglen +
	       der_hdr_len(eklen) + eklen;
	if ((rc = gw_buf_reserve(ri, der_hdr_len(body) + body, &p)) != 0)
		goto out;
	p += der_put_hdr(p, 0x30, body);
	p = der_put(p, version0, sizeof(version0));
	p += der_put_hdr(p, 0x30, ias);
	p = der_put(p, name, namelen);
	if (i2d_ASN1_INTEGER(serial, &p) != sn) {
		rc = gw_err_set_ssl(GW_ERR_CRYPTO,
				    "encoding a recipient's serial number");
		goto out;
	}
	p = der_put(p, alg, alglen);
	p += der_put_hdr(p, 0x04, eklen);
	/* RSA gives the modulus' length, always: the length written. */
	got = eklen;
	if (EVP_PKEY_encrypt(ctx, p, &got, key, keylen) <= 0 || got != eklen) {
		rc = gw_err_set_ssl(GW_ERR_CRYPTO, "encrypting the content key");
		goto out;
	}
	ri->len += der_hdr_len(body) + body;
out:
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/*
 * The RecipientInfos into ri, and in set[] where each one's encoding
 * lies, in DER order.
 */
static int
recipients(const struct smime_recipients *r, const unsigned char *key,
	   size_t keylen, struct gw_buf *ri, struct der_span *set)
{
	size_t *end;
	int i, k = sk_X509_num(r->certs), rc = 0;

	if ((end = calloc((size_t)k, sizeof(*end))) == NULL)
		return GW_ERR_NOMEM;
	for (i = 0; i < k && rc == 0; i++)
		if ((rc = add_ktri(ri, sk_X509_value(r->certs, i), r->oaep,
				   key, keylen)) == 0)
			end[i] = ri->len;
	/* Where they lie, once ri no longer moves. */
	for (i = 0; i < k && rc == 0; i++) {
		set[i].p = ri->data + (i > 0 ? end[i - 1] : 0);
		set[i].n = end[i] - (i > 0 ? end[i - 1] : 0);
	}
	if (rc == 0 && k > 1)
		qsort(set, (size_t)k, sizeof(*set), der_span_cmp);
	free(end);
	return rc;
}

/* ---- the content ------------------------------------------------------ */

/* The pieces through the cipher into out (room for all of it), in
 * order; *len the bytes written, the padding included. */
static int
encrypt_pieces(EVP_CIPHER_CTX *c, const unsigned char *const p[],
	       const size_t n[], int npieces, unsigned char *out, size_t *len)
{
	size_t at = 0, done, k;
	int i, w;

	for (i = 0; i < npieces; i++)
		for (done = 0; done < n[i]; done += k) {
			k = n[i] - done < INT_MAX / 2 ? n[i] - done
						      : INT_MAX / 2;
			if (!EVP_EncryptUpdate(c, out + at, &w, p[i] + done,
					       (int)k))
				return gw_err_set_ssl(GW_ERR_CRYPTO,
						      "encrypting the content");
			at += (size_t)w;
		}
	if (!EVP_EncryptFinal_ex(c, out + at, &w))
		return gw_err_set_ssl(GW_ERR_CRYPTO, "encrypting the content");
	*len = at + (size_t)w;
	return 0;
}

/*
 * The lengths of an envelope of content bytes: every one is known once
 * the RecipientInfos are made (CBC with padding gives the next whole
 * block), so it is written front to back in one pass.
 */
struct env_len {
	size_t ct;	/* the ciphertext */
	size_t setlen;	/* the RecipientInfos */
	size_t alg;	/* the content's AlgorithmIdentifier */
	size_t eci;	/* EncryptedContentInfo */
	size_t env;	/* EnvelopedData */
	size_t total;	/* ContentInfo */
};

static void
env_lengths(const struct der_span *set, int nset, size_t content,
	    struct env_len *L)
{
	int i;

	L->ct = content - content % AES_BLOCK + AES_BLOCK;
	L->setlen = 0;
	for (i = 0; i < nset; i++)
		L->setlen += set[i].n;
	L->alg = AES_OID_LEN + der_hdr_len(AES_IV_LEN) + AES_IV_LEN;
	L->eci = sizeof(tlv_data) + der_hdr_len(L->alg) + L->alg +
		 der_hdr_len(L->ct) + L->ct;
	L->env = sizeof(version0) + der_hdr_len(L->setlen) + L->setlen +
		 der_hdr_len(L->eci) + L->eci;
	L->total = der_ci_len(sizeof(tlv_enveloped), L->env);
}

/* Everything before the ciphertext (L->total - L->ct bytes) at q;
 * returns where the ciphertext goes. */
static unsigned char *
put_head(unsigned char *q, const struct env_len *L, const struct der_span *set,
	 int nset, const struct aes_cbc *aes, const unsigned char *iv)
{
	int i;

	q = der_put_ci(q, tlv_enveloped, sizeof(tlv_enveloped), L->env);
	q = der_put(q, version0, sizeof(version0));
	q += der_put_hdr(q, 0x31, L->setlen);
	for (i = 0; i < nset; i++)
		q = der_put(q, set[i].p, set[i].n);
	q += der_put_hdr(q, 0x30, L->eci);
	q = der_put(q, tlv_data, sizeof(tlv_data));
	q += der_put_hdr(q, 0x30, L->alg);
	q = der_put(q, aes->oid, AES_OID_LEN);
	q += der_put_hdr(q, 0x04, AES_IV_LEN);
	q = der_put(q, iv, AES_IV_LEN);
	q += der_put_hdr(q, 0x80, L->ct);
	return q;
}

/* The whole ContentInfo into der, the ciphertext straight into its
 * place. */
static int
write_envelope(struct gw_buf *der, const struct env_len *L,
	       const struct der_span *set, int nset, const struct aes_cbc *aes,
	       const unsigned char *iv, EVP_CIPHER_CTX *c,
	       const unsigned char *const p[], const size_t n[], int npieces)
{
	size_t got = 0;
	unsigned char *q, *start;
	int rc;

	if ((rc = gw_buf_reserve(der, L->total, &start)) != 0)
		return rc;
	q = put_head(start, L, set, nset, aes, iv);
	if ((rc = encrypt_pieces(c, p, n, npieces, q, &got)) != 0)
		return rc;
	if (got != L->ct || (size_t)(q + L->ct - start) != L->total)
		return gw_err_set(GW_ERR_INTERNAL,
				  "the envelope came to another length");
	der->len += L->total;
	der->data[der->len] = '\0';
	return 0;
}

/*
 * The same bytes given to put in order: the part before the ciphertext
 * at once, then the ciphertext STREAM_STEP bytes at a time, made in one
 * scratch block that stays in the cache until put has taken it.
 */
#define STREAM_STEP ((size_t)64 << 10)

static int
stream_envelope(const struct env_len *L, const struct der_span *set, int nset,
		const struct aes_cbc *aes, const unsigned char *iv,
		EVP_CIPHER_CTX *c, const unsigned char *const p[],
		const size_t n[], int npieces, smime_der_put put, void *arg)
{
	size_t head = L->total - L->ct, done, k, ct = 0;
	unsigned char *buf, *q;
	int i, w, rc = 0;

	if ((buf = malloc(head > STREAM_STEP + AES_BLOCK
			      ? head
			      : STREAM_STEP + AES_BLOCK)) == NULL)
		return GW_ERR_NOMEM;
	q = put_head(buf, L, set, nset, aes, iv);
	if ((size_t)(q - buf) != head) {
		rc = gw_err_set(GW_ERR_INTERNAL,
				"the envelope came to another length");
		goto out;
	}
	if ((rc = put(arg, buf, head)) != 0)
		goto out;
	for (i = 0; i < npieces; i++)
		for (done = 0; done < n[i]; done += k) {
			k = n[i] - done < STREAM_STEP ? n[i] - done
						      : STREAM_STEP;
			if (!EVP_EncryptUpdate(c, buf, &w, p[i] + done,
					       (int)k)) {
				rc = gw_err_set_ssl(GW_ERR_CRYPTO,
						    "encrypting the content");
				goto out;
			}
			ct += (size_t)w;
			if ((rc = put(arg, buf, (size_t)w)) != 0)
				goto out;
		}
	if (!EVP_EncryptFinal_ex(c, buf, &w)) {
		rc = gw_err_set_ssl(GW_ERR_CRYPTO, "encrypting the content");
		goto out;
	}
	ct += (size_t)w;
	if ((rc = put(arg, buf, (size_t)w)) == 0 && ct != L->ct)
		rc = gw_err_set(GW_ERR_INTERNAL,
				"the envelope came to another length");
out:
	free(buf);
	return rc;
}

/*
 * The envelope of the pieces for r: a fresh content key (wiped after
 * use) and IV, the RecipientInfos, then the whole into der, or, with
 * put set, in order to put.
 */
static int
envelope(const struct smime_recipients *r, const unsigned char *const p[],
	 const size_t n[], int npieces, struct gw_buf *der, smime_der_put put,
	 void *arg)
{
	struct aes_cbc *aes;
	struct der_span *set = NULL;
	struct env_len L;
	struct gw_buf ri;
	EVP_CIPHER_CTX *c = NULL;
	unsigned char key[EVP_MAX_KEY_LENGTH], iv[AES_IV_LEN];
	size_t keylen, content = 0;
	int i, rc;

	gw_buf_init(&ri, SMIME_OUT_MAX);
	if (!smime_envelope_fits(r) || (aes = find_aes(r)) == NULL)
		return gw_err_set(GW_ERR_UNSUPPORTED,
				  "the envelope needs OpenSSL's CMS code");
	pthread_once(&fetch_once, fetch_ciphers);
	if (aes->cipher == NULL)
		return gw_err_set_ssl(GW_ERR_CRYPTO, "fetching %s",
				      aes->name);
	keylen = (size_t)EVP_CIPHER_get_key_length(aes->cipher);
	/* What OpenSSL's CMS uses: the key from the private generator. */
	if (RAND_priv_bytes(key, (int)keylen) != 1 ||
	    RAND_bytes(iv, sizeof(iv)) != 1) {
		rc = gw_err_set_ssl(GW_ERR_CRYPTO, "making the content key");
		goto out;
	}
	if ((set = calloc((size_t)sk_X509_num(r->certs), sizeof(*set))) ==
	    NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	if ((rc = recipients(r, key, keylen, &ri, set)) != 0)
		goto out;
	if ((c = EVP_CIPHER_CTX_new()) == NULL ||
	    !EVP_EncryptInit_ex2(c, aes->cipher, key, iv, NULL)) {
		rc = gw_err_set_ssl(GW_ERR_CRYPTO, "setting up %s", aes->name);
		goto out;
	}
	for (i = 0; i < npieces; i++)
		content += n[i];
	env_lengths(set, sk_X509_num(r->certs), content, &L);
	if (put != NULL)
		rc = stream_envelope(&L, set, sk_X509_num(r->certs), aes, iv,
				     c, p, n, npieces, put, arg);
	else
		rc = write_envelope(der, &L, set, sk_X509_num(r->certs), aes,
				    iv, c, p, n, npieces);
out:
	OPENSSL_cleanse(key, sizeof(key));
	EVP_CIPHER_CTX_free(c);
	free(set);
	gw_buf_free(&ri);
	return rc;
}

int
smime_envelope_der(const struct smime_recipients *r,
		   const unsigned char *const p[], const size_t n[],
		   int npieces, struct gw_buf *der)
{
	return envelope(r, p, n, npieces, der, NULL, NULL);
}

int
smime_envelope_stream(const struct smime_recipients *r,
		      const unsigned char *const p[], const size_t n[],
		      int npieces, smime_der_put put, void *arg)
{
	return envelope(r, p, n, npieces, NULL, put, arg);
}
