/* castore.c - trusted CA records: the CA rule, IDs and store access. */
#include "castore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "cert_info.h"
#include "cert_names.h"
#include "fpid.h"
#include "gw_err.h"
#include "gw_record.h"

enum {
	TAG_VERSION = 1,
	TAG_CERT = 2,
	TAG_SOURCE = 3,
	TAG_ADDED = 4,
};

#define CASTORE_VERSION 1

_Static_assert(CASTORE_ID_LEN == FPID_LEN &&
		   CASTORE_PREFIX_MIN == FPID_PREFIX_MIN,
	       "a CA's ID is its fingerprint ID");

void
castore_ca_free(struct castore_ca *ca)
{
	if (ca == NULL)
		return;
	X509_free(ca->cert);
	free(ca->source);
	free(ca);
}

int
castore_id(X509 *cert, char id[CASTORE_ID_LEN + 1])
{
	return fpid_of(cert, id);
}

int
castore_ca_check(X509 *cert)
{
	BASIC_CONSTRAINTS *bc;
	uint32_t ku;
	int crit = -1, ca;

	bc = X509_get_ext_d2i(cert, NID_basic_constraints, &crit, NULL);
	ERR_clear_error();
	if (bc == NULL && crit != -1)
		return gw_err_set(GW_ERR_REQUIREMENT,
				  "basicConstraints is duplicated or cannot "
				  "be decoded");
	if (bc == NULL) {
		if (X509_get_version(cert) == X509_VERSION_1 &&
		    cert_info_self_signed(cert))
			return 0;
		return gw_err_set(GW_ERR_REQUIREMENT,
				  "not a CA certificate: no basicConstraints "
				  "and not a self-signed v1 root (an "
				  "end-entity certificate belongs in 'pubkey "
				  "add')");
	}
	ca = bc->ca != 0;
	BASIC_CONSTRAINTS_free(bc);
	if (!ca)
		return gw_err_set(GW_ERR_REQUIREMENT,
				  "not a CA certificate: basicConstraints "
				  "CA:FALSE (an end-entity certificate belongs "
				  "in 'pubkey add')");
	ku = X509_get_key_usage(cert);
	if (ku != UINT32_MAX && !(ku & KU_KEY_CERT_SIGN))
		return gw_err_set(GW_ERR_REQUIREMENT,
				  "CA:TRUE but keyUsage lacks keyCertSign: "
				  "this key may not sign certificates");
	return 0;
}

static int
encode(const struct castore_ca *ca, struct gw_rec_writer *w)
{
	int rc = 0;

	rc |= gw_rec_put_u64(w, TAG_VERSION, CASTORE_VERSION);
	rc |= gw_rec_put_str(w, TAG_SOURCE, ca->source ? ca->source : "");
	rc |= gw_rec_put_u64(w, TAG_ADDED, ca->added);
	if (rc != 0)
		return gw_err_set(GW_ERR_NOMEM, "encoding CA record");
	return gw_rec_put_x509(w, TAG_CERT, ca->cert);
}

static int
decode(const void *key, size_t klen, const unsigned char *buf, size_t len,
       struct castore_ca **out)
{
	struct castore_ca *ca;
	struct gw_rec_field f;
	size_t off = 0;
	int r, rc = GW_ERR_NOMEM;

	*out = NULL;
	if (klen != CASTORE_ID_LEN)
		return gw_err_set(GW_ERR_STORE, "corrupt CA key");
	if ((ca = calloc(1, sizeof(*ca))) == NULL)
		return GW_ERR_NOMEM;
	memcpy(ca->id, key, klen);
	ca->id[klen] = '\0';
	while ((r = gw_rec_next(buf, len, &off, &f)) == 1) {
		switch (f.tag) {
		case TAG_SOURCE:
			free(ca->source);
			if ((ca->source = gw_rec_strdup(&f)) == NULL)
				goto out;
			break;
		case TAG_ADDED:
			ca->added = gw_rec_u64(&f);
			break;
		case TAG_CERT:
			if ((rc = gw_rec_get_x509(&f, &ca->cert, "CA record")) !=
			    0)
				goto out;
			break;
		default:
			break;
		}
	}
	if (r < 0) {
		rc = r;
		goto out;
	}
	if (ca->cert == NULL) {
		rc = gw_err_set(GW_ERR_STORE, "incomplete CA record");
		goto out;
	}
	*out = ca;
	ca = NULL;
	rc = 0;
out:
	castore_ca_free(ca);
	return rc;
}

/* ---- the index ---------------------------------------------------------- */

int
castore_index_name(X509 *cert, char *buf, size_t size)
{
	return cert_name_subject(X509_get_subject_name(cert), buf, size);
}

/* name, NUL, id into key; its length. */
static int
ix_key(X509 *cert, const char *id, char *key, size_t size, size_t *len)
{
	size_t n;
	int rc;

	if ((rc = castore_index_name(cert, key, size - CASTORE_ID_LEN - 1)) !=
	    0)
		return rc;
	n = strlen(key) + 1;
	memcpy(key + n, id, CASTORE_ID_LEN);
	*len = n + CASTORE_ID_LEN;
	return 0;
}

int
castore_index_add(struct gw_txn *txn, const struct castore_ca *ca)
{
	char key[CERT_NAME_MAX + 1 + CASTORE_ID_LEN + 1];
	size_t len;
	int rc;

	if ((rc = ix_key(ca->cert, ca->id, key, sizeof(key), &len)) != 0)
		return rc;
	return gw_txn_put(txn, GW_DB_CAS_IX, key, len, "", 0, 0);
}

static int
index_del(struct gw_txn *txn, const struct castore_ca *ca)
{
	char key[CERT_NAME_MAX + 1 + CASTORE_ID_LEN + 1];
	size_t len;
	int rc;

	if ((rc = ix_key(ca->cert, ca->id, key, sizeof(key), &len)) != 0)
		return rc;
	rc = gw_txn_del(txn, GW_DB_CAS_IX, key, len);
	return rc == GW_ERR_NOT_FOUND ? 0 : rc;
}

struct by_subject {
	struct gw_txn *txn;
	const X509_NAME *name;
	size_t plen;
	castore_fn fn;
	void *arg;
};

static int
subject_one(void *arg, const void *key, size_t klen, const void *val,
	    size_t vlen)
{
	struct by_subject *c = arg;
	struct castore_ca *ca = NULL;
	const void *rv;
	size_t rl;
	int rc;

	(void)val;
	(void)vlen;
	if (klen != c->plen + CASTORE_ID_LEN)
		return 0;
	rc = gw_txn_get(c->txn, GW_DB_CAS, (const char *)key + c->plen,
			CASTORE_ID_LEN, &rv, &rl);
	if (rc == GW_ERR_NOT_FOUND)
		return 0; /* an entry without its record: store check says so */
	if (rc != 0 || (rc = decode((const char *)key + c->plen,
				    CASTORE_ID_LEN, rv, rl, &ca)) != 0)
		return rc;
	if (X509_NAME_cmp(X509_get_subject_name(ca->cert), c->name) == 0)
		rc = c->fn(c->arg, ca);
	castore_ca_free(ca);
	return rc < 0 ? rc : 0;
}

int
castore_by_subject(struct gw_txn *txn, const X509_NAME *name, castore_fn fn,
		   void *arg)
{
	struct by_subject c = {txn, name, 0, fn, arg};
	char prefix[CERT_NAME_MAX + 1];
	int rc;

	if ((rc = cert_name_subject(name, prefix, sizeof(prefix))) != 0)
		return rc;
	c.plen = strlen(prefix) + 1;
	return gw_txn_foreach_prefix(txn, GW_DB_CAS_IX, prefix, c.plen,
				     subject_one, &c);
}

/* ---- records ------------------------------------------------------------- */

int
castore_add(struct gw_txn *txn, X509 *cert, time_t now,
	    char id[CASTORE_ID_LEN + 1])
{
	struct castore_ca ca;
	struct gw_rec_writer *w;
	const unsigned char *buf;
	size_t len;
	int rc;

	memset(&ca, 0, sizeof(ca));
	if ((rc = castore_ca_check(cert)) != 0 ||
	    (rc = castore_id(cert, ca.id)) != 0)
		return rc;
	if (id != NULL)
		memcpy(id, ca.id, sizeof(ca.id));
	ca.cert = cert;
	ca.source = (char *)"added";
	ca.added = (uint64_t)(now ? now : time(NULL));
	if ((w = gw_rec_writer_new()) == NULL)
		return GW_ERR_NOMEM;
	if ((rc = encode(&ca, w)) == 0) {
		buf = gw_rec_data(w, &len);
		rc = gw_txn_put(txn, GW_DB_CAS, ca.id, CASTORE_ID_LEN, buf,
				len, GW_PUT_NOOVERWRITE);
		if (rc == 0)
			rc = castore_index_add(txn, &ca);
	}
	gw_rec_writer_free(w);
	return rc;
}

/* The full ID that ref names. */
static int
resolve(struct gw_txn *txn, const char *ref, char id[CASTORE_ID_LEN + 1])
{
	char norm[CASTORE_ID_LEN + 1];
	size_t hits;
	int rc;

	if (fpid_norm(ref, norm) != 0)
		return gw_err_set(GW_ERR_INVALID,
				  "ID: '%.80s' is not %d to %d hex digits of "
				  "a SHA-256 fingerprint",
				  ref, CASTORE_PREFIX_MIN, CASTORE_ID_LEN);
	if ((rc = fpid_find(txn, GW_DB_CAS, norm, &hits, id)) != 0)
		return rc;
	if (hits == 0)
		return gw_err_set(GW_ERR_NOT_FOUND, "no trusted CA with ID %s",
				  norm);
	if (hits > 1)
		return gw_err_set(GW_ERR_INVALID,
				  "ID %s is ambiguous: %zu CAs start with it; "
				  "give more digits",
				  norm, hits);
	return 0;
}

int
castore_get(struct gw_txn *txn, const char *ref, struct castore_ca **out)
{
	char id[CASTORE_ID_LEN + 1];
	const void *val;
	size_t vlen;
	int rc;

	*out = NULL;
	if ((rc = resolve(txn, ref, id)) != 0 ||
	    (rc = gw_txn_get(txn, GW_DB_CAS, id, CASTORE_ID_LEN, &val,
			     &vlen)) != 0)
		return rc;
	return decode(id, CASTORE_ID_LEN, val, vlen, out);
}

int
castore_del(struct gw_txn *txn, const char *ref, struct castore_ca **out)
{
	struct castore_ca *ca = NULL;
	int rc;

	if (out != NULL)
		*out = NULL;
	if ((rc = castore_get(txn, ref, &ca)) != 0)
		return rc;
	if ((rc = index_del(txn, ca)) == 0 &&
	    (rc = gw_txn_del(txn, GW_DB_CAS, ca->id, CASTORE_ID_LEN)) == 0 &&
	    out != NULL) {
		*out = ca;
		ca = NULL;
	}
	castore_ca_free(ca);
	return rc;
}

struct foreach_ctx {
	castore_fn fn;
	void *arg;
};

static int
foreach_one(void *arg, const void *key, size_t klen, const void *val,
	    size_t vlen)
{
	struct foreach_ctx *c = arg;
	struct castore_ca *ca = NULL;
	int rc;

	if ((rc = decode(key, klen, val, vlen, &ca)) != 0)
		return rc;
	rc = c->fn(c->arg, ca);
	castore_ca_free(ca);
	return rc;
}

int
castore_foreach(struct gw_txn *txn, castore_fn fn, void *arg)
{
	struct foreach_ctx c = {fn, arg};

	return gw_txn_foreach(txn, GW_DB_CAS, foreach_one, &c);
}

static int
load_one(void *arg, const struct castore_ca *ca)
{
	X509_STORE *store = arg;

	if (!X509_STORE_add_cert(store, ca->cert) &&
	    ERR_GET_REASON(ERR_peek_last_error()) !=
		X509_R_CERT_ALREADY_IN_HASH_TABLE)
		return gw_err_set_ssl(GW_ERR_CRYPTO,
				      "cannot load trusted CA %.16s", ca->id);
	ERR_clear_error();
	return 0;
}

int
castore_load(struct gw_txn *txn, X509_STORE *store)
{
	return castore_foreach(txn, load_one, store);
}
