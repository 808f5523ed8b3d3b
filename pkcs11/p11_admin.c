/*
 * p11_admin.c - objects on the token: key types, key-pair generation,
 * import of a software private key, certificate objects and deletion,
 * with raw PKCS#11 calls on the session of the struct p11_token
 * (p11_admin.h).
 */
#include "p11_admin.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include "gw_err.h"
#include "p11_internal.h"
#include "p11_uri.h"

/* ---- key types ------------------------------------------------------ */

static const struct {
	enum p11_keytype kt;
	const char *name;
	int bits;		   /* RSA modulus bits, 0 for EC */
	const char *group;	   /* OpenSSL group name for EC */
	const unsigned char *oid;  /* DER OID for CKA_EC_PARAMS */
	size_t oid_len;
} keytypes[] = {
    {P11_KEY_RSA2048, "rsa:2048", 2048, NULL, NULL, 0},
    {P11_KEY_RSA3072, "rsa:3072", 3072, NULL, NULL, 0},
    {P11_KEY_RSA4096, "rsa:4096", 4096, NULL, NULL, 0},
    {P11_KEY_EC_P256, "ec:p256", 0, "prime256v1",
     (const unsigned char *)"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10},
    {P11_KEY_EC_P384, "ec:p384", 0, "secp384r1",
     (const unsigned char *)"\x06\x05\x2b\x81\x04\x00\x22", 7},
};

/* EC curves accepted on import (P-521 too, though we do not generate
 * it: some CAs issue it). */
static const struct {
	const char *group;
	const unsigned char *oid;
	size_t oid_len;
	size_t field_len;
} ec_curves[] = {
    {"prime256v1",
     (const unsigned char *)"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10,
     32},
    {"secp384r1", (const unsigned char *)"\x06\x05\x2b\x81\x04\x00\x22", 7,
     48},
    {"secp521r1", (const unsigned char *)"\x06\x05\x2b\x81\x04\x00\x23", 7,
     66},
};

int
p11_keytype_parse(const char *s, enum p11_keytype *out)
{
	size_t i;

	for (i = 0; i < sizeof(keytypes) / sizeof(keytypes[0]); i++) {
		if (strcmp(s, keytypes[i].name) == 0) {
			*out = keytypes[i].kt;
			return 0;
		}
	}
	return gw_err_set_at(GW_ERR_INVALID, "key",
			  "'%s' is not one of rsa:2048, rsa:3072, "
			  "rsa:4096, ec:p256, ec:p384",
			  s);
}

const char *
p11_keytype_name(enum p11_keytype kt)
{
	size_t i;

	for (i = 0; i < sizeof(keytypes) / sizeof(keytypes[0]); i++)
		if (keytypes[i].kt == kt)
			return keytypes[i].name;
	return "unknown";
}

/* ---- objects -------------------------------------------------------- */

static int
id_in_use(struct p11_token *tok, const unsigned char *id, size_t len,
	  int *used)
{
	CK_ATTRIBUTE t[] = {{CKA_ID, (void *)id, len}};
	CK_OBJECT_HANDLE h;
	CK_ULONG n;
	int rc;

	if ((rc = p11_token_find(tok, t, 1, &h, 1, &n)) != 0)
		return rc;
	*used = n > 0;
	return 0;
}

static int
label_in_use(struct p11_token *tok, const char *label)
{
	CK_ATTRIBUTE t[] = {{CKA_LABEL, (void *)label, strlen(label)}};
	CK_OBJECT_HANDLE h;
	CK_ULONG n;
	int rc;

	if ((rc = p11_token_find(tok, t, 1, &h, 1, &n)) != 0)
		return rc;
	if (n > 0)
		return gw_err_set(GW_ERR_EXISTS,
				  "token '%s' already holds an object labelled "
				  "'%s'",
				  tok->label, label);
	return 0;
}

/* A fresh random CKA_ID no object on the token uses. */
static int
new_id(struct p11_token *tok, unsigned char id[P11_ID_LEN])
{
	int used = 1, tries, rc;

	for (tries = 0; tries < 8 && used; tries++) {
		if (RAND_bytes(id, P11_ID_LEN) != 1)
			return gw_err_set_ssl(GW_ERR_CRYPTO, "RAND_bytes");
		if ((rc = id_in_use(tok, id, P11_ID_LEN, &used)) != 0)
			return rc;
	}
	if (used)
		return gw_err_set(GW_ERR_INTERNAL, "no free CKA_ID");
	return 0;
}

static void
destroy_quietly(struct p11_token *tok, CK_OBJECT_HANDLE h)
{
	if (h != CK_INVALID_HANDLE)
		tok->f->C_DestroyObject(tok->session, h);
}

/* Builds a plain software public key from the token's public key object. */
static int
read_public(struct p11_token *tok, CK_OBJECT_HANDLE pubh, CK_KEY_TYPE ktype,
	    const char *group, EVP_PKEY **out)
{
	unsigned char mod[1024], exp[16], pt[256];
	CK_ATTRIBUTE rsa[] = {
	    {CKA_MODULUS, mod, sizeof(mod)},
	    {CKA_PUBLIC_EXPONENT, exp, sizeof(exp)},
	};
	CK_ATTRIBUTE ec[] = {{CKA_EC_POINT, pt, sizeof(pt)}};
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *n = NULL, *e = NULL;
	const unsigned char *point = pt;
	size_t plen;
	CK_RV rv;
	int rc = GW_ERR_CRYPTO;

	*out = NULL;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL)
		return GW_ERR_NOMEM;
	if (ktype == CKK_RSA) {
		if ((rv = tok->f->C_GetAttributeValue(tok->session, pubh, rsa,
						      2)) != CKR_OK) {
			rc = p11_token_rv_err(rv,
					      "C_GetAttributeValue(RSA public)");
			goto out;
		}
		if ((n = BN_bin2bn(mod, (int)rsa[0].ulValueLen, NULL)) == NULL ||
		    (e = BN_bin2bn(exp, (int)rsa[1].ulValueLen, NULL)) == NULL ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			goto out;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	} else {
		if ((rv = tok->f->C_GetAttributeValue(tok->session, pubh, ec,
						      1)) != CKR_OK) {
			rc = p11_token_rv_err(
			    rv, "C_GetAttributeValue(CKA_EC_POINT)");
			goto out;
		}
		plen = ec[0].ulValueLen;
		/* PKCS#11 says DER OCTET STRING; some modules give it raw. */
		if (plen > 2 && pt[0] == 0x04 && pt[1] == plen - 2) {
			point = pt + 2;
			plen -= 2;
		} else if (plen > 3 && pt[0] == 0x04 && pt[1] == 0x81 &&
			   pt[2] == plen - 3) {
			point = pt + 3;
			plen -= 3;
		}
		if (!OSSL_PARAM_BLD_push_utf8_string(
			bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(
			bld, OSSL_PKEY_PARAM_PUB_KEY, point, plen))
			goto out;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	}
	if (ctx == NULL || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		rc = gw_err_set_ssl(GW_ERR_CRYPTO,
				    "cannot build the public key read from "
				    "the token");
		goto out;
	}
	rc = 0;
out:
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int
p11_keygen(struct p11_token *tok, enum p11_keytype kt, const char *label,
	   unsigned flags, char **key_uri, EVP_PKEY **pub)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_BBOOL dec = (flags & P11_KEY_DECRYPT) ? CK_TRUE : CK_FALSE;
	CK_OBJECT_CLASS pubcls = CKO_PUBLIC_KEY, privcls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE ktype;
	CK_ULONG bits;
	CK_BYTE e65537[] = {0x01, 0x00, 0x01};
	CK_MECHANISM mech = {0, NULL, 0};
	CK_OBJECT_HANDLE pubh = CK_INVALID_HANDLE, privh = CK_INVALID_HANDLE;
	unsigned char id[P11_ID_LEN];
	CK_ATTRIBUTE pubt[10], privt[14];
	CK_ULONG np = 0, nq = 0;
	size_t i;
	CK_RV rv;
	int rc;

	*key_uri = NULL;
	*pub = NULL;
	for (i = 0; i < sizeof(keytypes) / sizeof(keytypes[0]); i++)
		if (keytypes[i].kt == kt)
			break;
	if (i == sizeof(keytypes) / sizeof(keytypes[0]))
		return gw_err_set(GW_ERR_INVALID, "unknown key type");
	if ((rc = label_in_use(tok, label)) != 0)
		return rc;
	if ((rc = new_id(tok, id)) != 0)
		return rc;

#define ATTR(arr, n, t, v, l)                                                  \
	do {                                                                   \
		(arr)[(n)].type = (t);                                         \
		(arr)[(n)].pValue = (void *)(v);                               \
		(arr)[(n)].ulValueLen = (l);                                   \
		(n)++;                                                         \
	} while (0)

	ktype = keytypes[i].bits ? CKK_RSA : CKK_EC;
	bits = (CK_ULONG)keytypes[i].bits;
	ATTR(pubt, np, CKA_CLASS, &pubcls, sizeof(pubcls));
	ATTR(pubt, np, CKA_KEY_TYPE, &ktype, sizeof(ktype));
	ATTR(pubt, np, CKA_TOKEN, &yes, sizeof(yes));
	ATTR(pubt, np, CKA_PRIVATE, &no, sizeof(no));
	ATTR(pubt, np, CKA_VERIFY, &yes, sizeof(yes));
	ATTR(pubt, np, CKA_ID, id, sizeof(id));
	ATTR(pubt, np, CKA_LABEL, label, strlen(label));
	ATTR(privt, nq, CKA_CLASS, &privcls, sizeof(privcls));
	ATTR(privt, nq, CKA_KEY_TYPE, &ktype, sizeof(ktype));
	ATTR(privt, nq, CKA_TOKEN, &yes, sizeof(yes));
	ATTR(privt, nq, CKA_PRIVATE, &yes, sizeof(yes));
	ATTR(privt, nq, CKA_SENSITIVE, &yes, sizeof(yes));
	ATTR(privt, nq, CKA_EXTRACTABLE, &no, sizeof(no));
	ATTR(privt, nq, CKA_SIGN, &yes, sizeof(yes));
	ATTR(privt, nq, CKA_ID, id, sizeof(id));
	ATTR(privt, nq, CKA_LABEL, label, strlen(label));
	if (ktype == CKK_RSA) {
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		ATTR(pubt, np, CKA_MODULUS_BITS, &bits, sizeof(bits));
		ATTR(pubt, np, CKA_PUBLIC_EXPONENT, e65537, sizeof(e65537));
		ATTR(pubt, np, CKA_ENCRYPT, &dec, sizeof(dec));
		ATTR(privt, nq, CKA_DECRYPT, &dec, sizeof(dec));
		ATTR(privt, nq, CKA_UNWRAP, &dec, sizeof(dec));
	} else {
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;
		ATTR(pubt, np, CKA_EC_PARAMS, keytypes[i].oid,
		     keytypes[i].oid_len);
		ATTR(privt, nq, CKA_DERIVE, &dec, sizeof(dec));
	}
#undef ATTR
	rv = tok->f->C_GenerateKeyPair(tok->session, &mech, pubt, np, privt,
				       nq, &pubh, &privh);
	if (rv != CKR_OK) {
		rc = p11_token_rv_err(rv, "C_GenerateKeyPair");
		goto out;
	}
	if ((rc = read_public(tok, pubh, ktype, keytypes[i].group, pub)) != 0)
		goto out;
	if ((*key_uri = p11_uri_format(tok->label, label, id, sizeof(id),
				       "private")) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		destroy_quietly(tok, privh);
		destroy_quietly(tok, pubh);
		EVP_PKEY_free(*pub);
		*pub = NULL;
	}
	return rc;
}

/* ---- PKCS#12 key import --------------------------------------------- */

struct secret {
	unsigned char *p;
	size_t len;
};

static void
secret_free(struct secret *s)
{
	if (s->p != NULL)
		OPENSSL_clear_free(s->p, s->len);
	s->p = NULL;
	s->len = 0;
}

/* Big-endian bytes of a BN parameter, left-padded to pad bytes if pad. */
static int
bn_param(EVP_PKEY *pk, const char *name, size_t pad, struct secret *out)
{
	BIGNUM *bn = NULL;
	size_t len;
	int rc = 0;

	if (!EVP_PKEY_get_bn_param(pk, name, &bn))
		return gw_err_set_ssl(GW_ERR_CRYPTO, "key has no %s", name);
	len = (size_t)BN_num_bytes(bn);
	if (pad > len)
		len = pad;
	if (len == 0)
		len = 1;
	if ((out->p = OPENSSL_zalloc(len)) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	out->len = len;
	if (BN_bn2binpad(bn, out->p, (int)len) < 0)
		rc = gw_err_set_ssl(GW_ERR_CRYPTO, "%s too large", name);
out:
	BN_clear_free(bn);
	return rc;
}

int
p11_key_import(struct p11_token *tok, EVP_PKEY *priv, const char *label,
	       unsigned flags, char **key_uri)
{
	static const char *const rsa_names[] = {
	    OSSL_PKEY_PARAM_RSA_N,	    OSSL_PKEY_PARAM_RSA_E,
	    OSSL_PKEY_PARAM_RSA_D,	    OSSL_PKEY_PARAM_RSA_FACTOR1,
	    OSSL_PKEY_PARAM_RSA_FACTOR2,    OSSL_PKEY_PARAM_RSA_EXPONENT1,
	    OSSL_PKEY_PARAM_RSA_EXPONENT2,  OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	};
	static const CK_ATTRIBUTE_TYPE rsa_attrs[] = {
	    CKA_MODULUS,   CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT,
	    CKA_PRIME_1,   CKA_PRIME_2,		CKA_EXPONENT_1,
	    CKA_EXPONENT_2, CKA_COEFFICIENT,
	};
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_BBOOL dec = (flags & P11_KEY_DECRYPT) ? CK_TRUE : CK_FALSE;
	CK_OBJECT_CLASS pubcls = CKO_PUBLIC_KEY, privcls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE ktype;
	CK_OBJECT_HANDLE pubh = CK_INVALID_HANDLE, privh = CK_INVALID_HANDLE;
	CK_ATTRIBUTE pubt[12], privt[24];
	CK_ULONG np = 0, nq = 0;
	struct secret sec[8] = {{NULL, 0}};
	unsigned char id[P11_ID_LEN], point[160], ptder[164];
	char group[64];
	size_t i, c = 0, plen = 0;
	CK_RV rv;
	int rc;

	*key_uri = NULL;
	if ((rc = label_in_use(tok, label)) != 0)
		return rc;
	if ((rc = new_id(tok, id)) != 0)
		return rc;

#define ATTR(arr, n, t, v, l)                                                  \
	do {                                                                   \
		(arr)[(n)].type = (t);                                         \
		(arr)[(n)].pValue = (void *)(v);                               \
		(arr)[(n)].ulValueLen = (l);                                   \
		(n)++;                                                         \
	} while (0)

	if (EVP_PKEY_is_a(priv, "RSA")) {
		ktype = CKK_RSA;
		for (i = 0; i < 8; i++) {
			if ((rc = bn_param(priv, rsa_names[i], 0, &sec[i])) !=
			    0)
				goto out;
			ATTR(privt, nq, rsa_attrs[i], sec[i].p, sec[i].len);
		}
		ATTR(pubt, np, CKA_MODULUS, sec[0].p, sec[0].len);
		ATTR(pubt, np, CKA_PUBLIC_EXPONENT, sec[1].p, sec[1].len);
		ATTR(pubt, np, CKA_ENCRYPT, &dec, sizeof(dec));
		ATTR(privt, nq, CKA_DECRYPT, &dec, sizeof(dec));
		ATTR(privt, nq, CKA_UNWRAP, &dec, sizeof(dec));
	} else if (EVP_PKEY_is_a(priv, "EC")) {
		ktype = CKK_EC;
		if (!EVP_PKEY_get_utf8_string_param(priv,
						    OSSL_PKEY_PARAM_GROUP_NAME,
						    group, sizeof(group), NULL)) {
			rc = gw_err_set(GW_ERR_UNSUPPORTED,
					"EC key with explicit or unnamed "
					"curve parameters");
			goto out;
		}
		for (c = 0; c < sizeof(ec_curves) / sizeof(ec_curves[0]); c++)
			if (strcmp(group, ec_curves[c].group) == 0)
				break;
		if (c == sizeof(ec_curves) / sizeof(ec_curves[0])) {
			rc = gw_err_set(GW_ERR_UNSUPPORTED,
					"EC curve %s (supported: P-256, P-384, "
					"P-521)",
					group);
			goto out;
		}
		if ((rc = bn_param(priv, OSSL_PKEY_PARAM_PRIV_KEY,
				   ec_curves[c].field_len, &sec[0])) != 0)
			goto out;
		EVP_PKEY_set_utf8_string_param(
		    priv, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
		    "uncompressed");
		if (!EVP_PKEY_get_octet_string_param(priv,
						     OSSL_PKEY_PARAM_PUB_KEY,
						     point, sizeof(point),
						     &plen) ||
		    plen > 133) {
			rc = gw_err_set_ssl(GW_ERR_CRYPTO,
					    "cannot read the EC public point");
			goto out;
		}
		/* DER OCTET STRING around the point, as PKCS#11 wants. */
		ptder[0] = 0x04;
		if (plen < 128) {
			ptder[1] = (unsigned char)plen;
			memcpy(ptder + 2, point, plen);
			plen += 2;
		} else {
			ptder[1] = 0x81;
			ptder[2] = (unsigned char)plen;
			memcpy(ptder + 3, point, plen);
			plen += 3;
		}
		ATTR(privt, nq, CKA_EC_PARAMS, ec_curves[c].oid,
		     ec_curves[c].oid_len);
		ATTR(privt, nq, CKA_VALUE, sec[0].p, sec[0].len);
		ATTR(privt, nq, CKA_DERIVE, &dec, sizeof(dec));
		ATTR(pubt, np, CKA_EC_PARAMS, ec_curves[c].oid,
		     ec_curves[c].oid_len);
		ATTR(pubt, np, CKA_EC_POINT, ptder, plen);
	} else {
		rc = gw_err_set(GW_ERR_UNSUPPORTED,
				"%s private keys cannot be used on the token "
				"(RSA and EC only)",
				EVP_PKEY_get0_type_name(priv));
		goto out;
	}
	ATTR(privt, nq, CKA_CLASS, &privcls, sizeof(privcls));
	ATTR(privt, nq, CKA_KEY_TYPE, &ktype, sizeof(ktype));
	ATTR(privt, nq, CKA_TOKEN, &yes, sizeof(yes));
	ATTR(privt, nq, CKA_PRIVATE, &yes, sizeof(yes));
	ATTR(privt, nq, CKA_SENSITIVE, &yes, sizeof(yes));
	ATTR(privt, nq, CKA_EXTRACTABLE, &no, sizeof(no));
	ATTR(privt, nq, CKA_SIGN, &yes, sizeof(yes));
	ATTR(privt, nq, CKA_ID, id, sizeof(id));
	ATTR(privt, nq, CKA_LABEL, label, strlen(label));
	ATTR(pubt, np, CKA_CLASS, &pubcls, sizeof(pubcls));
	ATTR(pubt, np, CKA_KEY_TYPE, &ktype, sizeof(ktype));
	ATTR(pubt, np, CKA_TOKEN, &yes, sizeof(yes));
	ATTR(pubt, np, CKA_PRIVATE, &no, sizeof(no));
	ATTR(pubt, np, CKA_VERIFY, &yes, sizeof(yes));
	ATTR(pubt, np, CKA_ID, id, sizeof(id));
	ATTR(pubt, np, CKA_LABEL, label, strlen(label));
#undef ATTR
	if ((rv = tok->f->C_CreateObject(tok->session, privt, nq, &privh)) !=
	    CKR_OK) {
		rc = p11_token_rv_err(rv, "C_CreateObject(private key)");
		goto out;
	}
	if ((rv = tok->f->C_CreateObject(tok->session, pubt, np, &pubh)) !=
	    CKR_OK) {
		rc = p11_token_rv_err(rv, "C_CreateObject(public key)");
		goto out;
	}
	if ((*key_uri = p11_uri_format(tok->label, label, id, sizeof(id),
				       "private")) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	rc = 0;
out:
	for (i = 0; i < 8; i++)
		secret_free(&sec[i]);
	OPENSSL_cleanse(privt, sizeof(privt));
	if (rc != 0) {
		destroy_quietly(tok, privh);
		destroy_quietly(tok, pubh);
	}
	return rc;
}

/* ---- engine --------------------------------------------------------- */
/* ---- certificates and destruction ---------------------------------- */

int
p11_cert_store(struct p11_token *tok, const char *key_uri, const char *label,
	       X509 *cert)
{
	struct p11_uri *uri = NULL;
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ctype = CKC_X_509;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_HANDLE old[P11_MAX_OBJECTS], newh = CK_INVALID_HANDLE;
	CK_ULONG nold = 0, i;
	unsigned char *der = NULL, *subj = NULL, *iss = NULL, *ser = NULL;
	int dlen, slen, ilen, serlen, rc;
	CK_RV rv;

	if ((rc = p11_token_uri_id(key_uri, &uri)) != 0)
		return rc;
	if ((dlen = i2d_X509(cert, &der)) <= 0 ||
	    (slen = i2d_X509_NAME(X509_get_subject_name(cert), &subj)) <= 0 ||
	    (ilen = i2d_X509_NAME(X509_get_issuer_name(cert), &iss)) <= 0 ||
	    (serlen = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &ser)) <=
		0) {
		rc = gw_err_set_ssl(GW_ERR_CRYPTO, "cannot encode certificate");
		goto out;
	}
	if ((rc = p11_token_find_by_id(tok, CKO_CERTIFICATE, uri->id,
				       uri->id_len, old, P11_MAX_OBJECTS,
				       &nold)) != 0)
		goto out;
	{
		CK_ATTRIBUTE t[] = {
		    {CKA_CLASS, &cls, sizeof(cls)},
		    {CKA_CERTIFICATE_TYPE, &ctype, sizeof(ctype)},
		    {CKA_TOKEN, &yes, sizeof(yes)},
		    {CKA_PRIVATE, &no, sizeof(no)},
		    {CKA_ID, uri->id, uri->id_len},
		    {CKA_LABEL, (void *)label, strlen(label)},
		    {CKA_SUBJECT, subj, (CK_ULONG)slen},
		    {CKA_ISSUER, iss, (CK_ULONG)ilen},
		    {CKA_SERIAL_NUMBER, ser, (CK_ULONG)serlen},
		    {CKA_VALUE, der, (CK_ULONG)dlen},
		};
		if ((rv = tok->f->C_CreateObject(tok->session, t,
						 sizeof(t) / sizeof(t[0]),
						 &newh)) != CKR_OK) {
			rc = p11_token_rv_err(rv,
					      "C_CreateObject(certificate)");
			goto out;
		}
	}
	/* The new certificate is in place; only now drop the old ones. */
	for (i = 0; i < nold; i++)
		if ((rv = tok->f->C_DestroyObject(tok->session, old[i])) !=
		    CKR_OK) {
			rc = p11_token_rv_err(
			    rv, "C_DestroyObject(old certificate)");
			goto out;
		}
	rc = 0;
out:
	OPENSSL_free(der);
	OPENSSL_free(subj);
	OPENSSL_free(iss);
	OPENSSL_free(ser);
	p11_uri_free(uri);
	return rc;
}

/* Destroys the objects matching tmpl, counting them. */
static int
destroy_matching(struct p11_token *tok, CK_ATTRIBUTE *tmpl, CK_ULONG ntmpl,
		 size_t *count)
{
	CK_OBJECT_HANDLE objs[P11_MAX_OBJECTS];
	CK_ULONG n = 0, i;
	CK_RV rv;
	int rc;

	if (count != NULL)
		*count = 0;
	if ((rc = p11_token_find(tok, tmpl, ntmpl, objs, P11_MAX_OBJECTS,
				 &n)) != 0)
		return rc;
	for (i = 0; i < n; i++) {
		if ((rv = tok->f->C_DestroyObject(tok->session, objs[i])) !=
		    CKR_OK)
			return p11_token_rv_err(rv, "C_DestroyObject");
		if (count != NULL)
			(*count)++;
	}
	return 0;
}

int
p11_objects_destroy(struct p11_token *tok, const char *key_uri, size_t *count)
{
	struct p11_uri *uri = NULL;
	int rc;

	if (count != NULL)
		*count = 0;
	if ((rc = p11_token_uri_id(key_uri, &uri)) != 0)
		return rc;
	{
		CK_ATTRIBUTE t[] = {{CKA_ID, uri->id, uri->id_len}};
		rc = destroy_matching(tok, t, 1, count);
	}
	p11_uri_free(uri);
	return rc;
}

int
p11_objects_destroy_label(struct p11_token *tok, const char *label,
			  size_t *count)
{
	CK_ATTRIBUTE t[] = {{CKA_LABEL, (void *)label, strlen(label)}};

	return destroy_matching(tok, t, 1, count);
}
