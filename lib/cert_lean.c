/*
 * cert_lean.c - certificates decoded with reused key decoders (see
 * cert_lean.h).
 */
#include "cert_lean.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/provider.h>

#include "gw_err.h"

#define KEY_TYPES 8	/* decoders kept, one per key algorithm */

/* What a lean certificate carries beside itself (ex_data). */
struct lean {
	EVP_PKEY *key;			/* NULL: no decoder took it */
	unsigned char sha256[32];	/* of its DER */
};

/* Each thread's decoders (a pthread key: freed when it ends). */
struct lean_thread {
	struct {
		int nid;		/* the SPKI's algorithm */
		OSSL_DECODER_CTX *dec;	/* NULL: no decoder for it */
	} types[KEY_TYPES];
	size_t ntypes;
	EVP_PKEY *out;			/* where every decoder puts its key */
	EVP_MD_CTX *md;			/* SHA-256 */
};

static CRYPTO_ONCE lean_once = CRYPTO_ONCE_STATIC_INIT;
static int lean_ready;
static int lean_idx = -1;		/* the ex_data slot */
static OSSL_LIB_CTX *no_keys;		/* only the null provider */
static EVP_MD *sha256;
static pthread_key_t thread_key;

static void
lean_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
	  void *argp)
{
	struct lean *l = ptr;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (l != NULL) {
		EVP_PKEY_free(l->key);
		OPENSSL_free(l);
	}
}

static void
thread_free(void *p)
{
	struct lean_thread *lt = p;
	size_t i;

	for (i = 0; i < lt->ntypes; i++)
		OSSL_DECODER_CTX_free(lt->types[i].dec);
	EVP_MD_CTX_free(lt->md);
	free(lt);
}

static void
lean_init(void)
{
	lean_idx = X509_get_ex_new_index(0, NULL, NULL, NULL, lean_free);
	lean_ready = lean_idx >= 0 &&
		     pthread_key_create(&thread_key, thread_free) == 0 &&
		     (sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) != NULL &&
		     (no_keys = OSSL_LIB_CTX_new()) != NULL &&
		     OSSL_PROVIDER_load(no_keys, "null") != NULL;
}

/* The calling thread's decoders, made on its first call; NULL when
 * out of memory. */
static struct lean_thread *
thread_state(void)
{
	struct lean_thread *lt = pthread_getspecific(thread_key);

	if (lt != NULL)
		return lt;
	if ((lt = calloc(1, sizeof(*lt))) == NULL)
		return NULL;
	if ((lt->md = EVP_MD_CTX_new()) == NULL ||
	    pthread_setspecific(thread_key, lt) != 0) {
		thread_free(lt);
		return NULL;
	}
	return lt;
}

/*
 * The decoder for keys of algorithm alg, made on first use with the
 * key type named as d2i_X509() names it; NULL when none decodes it (or
 * the table is full: such keys stay undecoded, as unknown ones do).
 */
static OSSL_DECODER_CTX *
decoder_for(struct lean_thread *lt, const ASN1_OBJECT *alg)
{
	char name[80];
	int nid = OBJ_obj2nid(alg);
	size_t i;

	if (nid == NID_undef)
		return NULL;
	for (i = 0; i < lt->ntypes; i++)
		if (lt->types[i].nid == nid)
			return lt->types[i].dec;
	if (lt->ntypes == KEY_TYPES ||
	    OBJ_obj2txt(name, sizeof(name), alg, 0) <= 0)
		return NULL;
	lt->types[lt->ntypes].nid = nid;
	lt->types[lt->ntypes].dec = OSSL_DECODER_CTX_new_for_pkey(
	    &lt->out, "DER", "SubjectPublicKeyInfo", name,
	    EVP_PKEY_PUBLIC_KEY, NULL, NULL);
	return lt->types[lt->ntypes++].dec;
}

/* The SHA-256 of len bytes at p into md: 1, or 0. */
static int
digest(struct lean_thread *lt, const unsigned char *p, size_t len,
       unsigned char md[32])
{
	return EVP_DigestInit_ex(lt->md, sha256, NULL) &&
	       EVP_DigestUpdate(lt->md, p, len) &&
	       EVP_DigestFinal_ex(lt->md, md, NULL);
}

/*
 * An rsaEncryption key as OpenSSL's own decoder reads it: its
 * SubjectPublicKeyInfo decoder for RSA hands the BIT STRING to
 * d2i_RSAPublicKey() (rsa_pub_decode(); the algorithm's parameters are
 * not read for this algorithm), and so does d2i_PublicKey(), without
 * the decoder chain and its fetches (most of the cost of a key).  The
 * key is a legacy one, which OpenSSL hands to the provider at its first
 * use.
 */
static EVP_PKEY *
decode_rsa(X509_PUBKEY *spki)
{
	const unsigned char *p = NULL;
	int len = 0;

	if (!X509_PUBKEY_get0_param(NULL, &p, &len, NULL, spki) || p == NULL)
		return NULL;
	return d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, len);
}

/* The key of x's SubjectPublicKeyInfo, or NULL (errors dropped, as
 * d2i_X509() drops them). */
static EVP_PKEY *
decode_key(struct lean_thread *lt, X509 *x)
{
	X509_PUBKEY *spki = X509_get_X509_PUBKEY(x);
	const ASN1_OBJECT *alg = NULL;
	OSSL_DECODER_CTX *dec;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t left;
	EVP_PKEY *k = NULL;
	int n;

	ERR_set_mark();
	if (X509_PUBKEY_get0_param((ASN1_OBJECT **)&alg, NULL, NULL, NULL,
				   spki) &&
	    OBJ_obj2nid(alg) == NID_rsaEncryption) {
		k = decode_rsa(spki);
	} else if (alg != NULL &&
	    (n = i2d_X509_PUBKEY(spki, &der)) > 0 &&
	    (dec = decoder_for(lt, alg)) != NULL) {
		p = der;
		left = (size_t)n;
		lt->out = NULL;
		if (OSSL_DECODER_from_data(dec, &p, &left) && left == 0)
			k = lt->out;
		else
			EVP_PKEY_free(lt->out);
		lt->out = NULL;
	}
	OPENSSL_free(der);
	ERR_pop_to_mark();
	return k;
}

int
cert_lean_d2i(const unsigned char *der, size_t len,
	      const unsigned char **end, X509 **out)
{
	const unsigned char *p = der;
	struct lean_thread *lt = NULL;
	struct lean *l = NULL;
	X509 *x;

	*out = NULL;
	if (len > LONG_MAX)
		return GW_ERR_PARSE;
	if (!CRYPTO_THREAD_run_once(&lean_once, lean_init) || !lean_ready ||
	    (lt = thread_state()) == NULL) {
		/* No lean decoding here: the ordinary decode does it. */
		ERR_clear_error();
		x = d2i_X509(NULL, &p, (long)len);
	} else if ((x = (X509 *)ASN1_item_d2i_ex(NULL, &p, (long)len,
						 ASN1_ITEM_rptr(X509),
						 no_keys, NULL)) != NULL) {
		if ((l = OPENSSL_zalloc(sizeof(*l))) == NULL ||
		    !digest(lt, der, (size_t)(p - der), l->sha256) ||
		    !X509_set_ex_data(x, lean_idx, l)) {
			OPENSSL_free(l);
			X509_free(x);
			ERR_clear_error();
			return GW_ERR_NOMEM;
		}
		l->key = decode_key(lt, x);
	}
	if (x == NULL) {
		ERR_clear_error();
		return GW_ERR_PARSE;
	}
	if (end != NULL)
		*end = p;
	*out = x;
	return 0;
}

/* x's lean part, or NULL for an ordinary certificate. */
static const struct lean *
lean_of(const X509 *x)
{
	return lean_idx >= 0 ? X509_get_ex_data(x, lean_idx) : NULL;
}

EVP_PKEY *
cert_pubkey(const X509 *x)
{
	const struct lean *l;

	if (x == NULL)
		return NULL;
	if ((l = lean_of(x)) != NULL)
		return l->key;
	return X509_get0_pubkey(x);
}

int
cert_sha256(const X509 *x, unsigned char md[32])
{
	const struct lean *l;
	unsigned int n = 0;

	if ((l = lean_of(x)) != NULL) {
		memcpy(md, l->sha256, sizeof(l->sha256));
		return 0;
	}
	if (!X509_digest(x, EVP_sha256(), md, &n) || n != 32)
		return gw_err_set_ssl(GW_ERR_CRYPTO,
				      "cannot fingerprint a certificate");
	return 0;
}
