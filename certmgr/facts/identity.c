/* identity.c - identity records: encoding and store access. */
#include "identity.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/x509v3.h>

#include "cert_names.h"
#include "gw_err.h"
#include "gw_record.h"

enum {
	TAG_VERSION = 1,
	TAG_NAME = 2,
	TAG_USAGE = 3,
	TAG_KEY_URI = 4,
	TAG_KEY_TYPE = 5,
	TAG_SOURCE = 6,
	TAG_CERT = 7,
	TAG_CHAIN = 8, /* repeated, one certificate each */
	TAG_CREATED = 9,
	TAG_UPDATED = 10,
	TAG_PREVIOUS = 11, /* repeated, one certificate each, oldest first */
};

#define IDENTITY_VERSION 1
#define IDENTITY_NAME_MAX 64 /* identity_name_valid() */

int
identity_name_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > 64 || !isalnum((unsigned char)name[0]))
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '.' &&
		    name[i] != '_' && name[i] != '-')
			return 0;
	return 1;
}

void
identity_free(struct identity *id)
{
	if (id == NULL)
		return;
	free(id->name);
	free(id->key_uri);
	free(id->key_type);
	free(id->source);
	X509_free(id->cert);
	sk_X509_pop_free(id->chain, X509_free);
	sk_X509_pop_free(id->previous, X509_free);
	free(id);
}

static int
encode(const struct identity *id, struct gw_rec_writer *w)
{
	int i, rc = 0;

	rc |= gw_rec_put_u64(w, TAG_VERSION, IDENTITY_VERSION);
	rc |= gw_rec_put_str(w, TAG_NAME, id->name);
	rc |= gw_rec_put_u64(w, TAG_USAGE, (uint64_t)id->usage);
	rc |= gw_rec_put_str(w, TAG_KEY_URI, id->key_uri);
	rc |= gw_rec_put_str(w, TAG_KEY_TYPE, id->key_type ? id->key_type : "");
	rc |= gw_rec_put_str(w, TAG_SOURCE, id->source ? id->source : "");
	rc |= gw_rec_put_u64(w, TAG_CREATED, id->created);
	rc |= gw_rec_put_u64(w, TAG_UPDATED, id->updated);
	if (rc != 0)
		return gw_err_set(GW_ERR_NOMEM, "encoding identity");
	if ((rc = gw_rec_put_x509(w, TAG_CERT, id->cert)) != 0)
		return rc;
	for (i = 0; id->chain != NULL && i < sk_X509_num(id->chain); i++)
		if ((rc = gw_rec_put_x509(w, TAG_CHAIN,
					   sk_X509_value(id->chain, i))) !=
		    0)
			return rc;
	for (i = 0; id->previous != NULL && i < sk_X509_num(id->previous);
	     i++)
		if ((rc = gw_rec_put_x509(w, TAG_PREVIOUS,
					   sk_X509_value(id->previous, i))) !=
		    0)
			return rc;
	return 0;
}

/* Appends x (taken) to *sk, made on first use; x is freed on failure. */
static int
push_cert(STACK_OF(X509) **sk, X509 *x)
{
	if ((*sk == NULL && (*sk = sk_X509_new_null()) == NULL) ||
	    !sk_X509_push(*sk, x)) {
		X509_free(x);
		return GW_ERR_NOMEM;
	}
	return 0;
}

static int
decode(const unsigned char *buf, size_t len, struct identity **out)
{
	struct identity *id;
	struct gw_rec_field f;
	size_t off = 0;
	X509 *x;
	int r, rc = GW_ERR_NOMEM;

	if ((id = calloc(1, sizeof(*id))) == NULL)
		return GW_ERR_NOMEM;
	while ((r = gw_rec_next(buf, len, &off, &f)) == 1) {
		switch (f.tag) {
		case TAG_NAME:
			if ((id->name = gw_rec_strdup(&f)) == NULL)
				goto out;
			break;
		case TAG_USAGE:
			id->usage = (enum cert_usage)gw_rec_u64(&f);
			break;
		case TAG_KEY_URI:
			if ((id->key_uri = gw_rec_strdup(&f)) == NULL)
				goto out;
			break;
		case TAG_KEY_TYPE:
			if ((id->key_type = gw_rec_strdup(&f)) == NULL)
				goto out;
			break;
		case TAG_SOURCE:
			if ((id->source = gw_rec_strdup(&f)) == NULL)
				goto out;
			break;
		case TAG_CREATED:
			id->created = gw_rec_u64(&f);
			break;
		case TAG_UPDATED:
			id->updated = gw_rec_u64(&f);
			break;
		case TAG_CERT:
			if ((rc = gw_rec_get_x509(&f, &id->cert,
						  "identity record")) != 0)
				goto out;
			break;
		case TAG_CHAIN:
			x = NULL;
			if ((rc = gw_rec_get_x509(&f, &x, "identity record")) !=
				0 ||
			    (rc = push_cert(&id->chain, x)) != 0)
				goto out;
			break;
		case TAG_PREVIOUS:
			x = NULL;
			if ((rc = gw_rec_get_x509(&f, &x, "identity record")) !=
				0 ||
			    (rc = push_cert(&id->previous, x)) != 0)
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
	if (id->name == NULL || id->key_uri == NULL || id->cert == NULL) {
		rc = gw_err_set(GW_ERR_STORE, "incomplete identity record");
		goto out;
	}
	*out = id;
	id = NULL;
	rc = 0;
out:
	identity_free(id);
	return rc;
}

/* The index of a certificate in sk DER-equal to x, or -1. */
static int
find_cert(STACK_OF(X509) *sk, X509 *x)
{
	int i;

	for (i = 0; sk != NULL && i < sk_X509_num(sk); i++)
		if (X509_cmp(sk_X509_value(sk, i), x) == 0)
			return i;
	return -1;
}

int
identity_set_cert(struct identity *id, X509 *cert)
{
	int i, keep;

	keep = id->cert != NULL && X509_cmp(id->cert, cert) != 0 &&
	       find_cert(id->previous, id->cert) < 0;
	i = find_cert(id->previous, cert);
	if (keep && i < 0 && id->previous != NULL &&
	    sk_X509_num(id->previous) >= IDENTITY_PREVIOUS_MAX) {
		X509_free(cert);
		return gw_err_set(GW_ERR_LIMIT,
				  "identity '%s' keeps %d previous "
				  "certificates already (the most it keeps): "
				  "forget some first",
				  id->name, IDENTITY_PREVIOUS_MAX);
	}
	if (keep) {
		if (!X509_up_ref(id->cert)) {
			X509_free(cert);
			return GW_ERR_NOMEM;
		}
		if (push_cert(&id->previous, id->cert) != 0) {
			X509_free(cert);
			return GW_ERR_NOMEM;
		}
	}
	if (i >= 0)
		X509_free(sk_X509_delete(id->previous, i));
	X509_free(id->cert);
	id->cert = cert;
	return 0;
}

/* serial as a BIGNUM: hex digits, colons, an optional "0x". */
static int
parse_serial(const char *serial, BIGNUM **out)
{
	char hex[256];
	size_t o = 0;
	const char *p = serial;

	*out = NULL;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	for (; *p != '\0'; p++) {
		if (*p == ':')
			continue;
		if (!isxdigit((unsigned char)*p) || o + 1 >= sizeof(hex))
			return gw_err_set_at(GW_ERR_INVALID, "serial",
					     "'%.80s' is not a serial number "
					     "in hex (at most %zu digits)",
					     serial, sizeof(hex) - 1);
		hex[o++] = *p;
	}
	hex[o] = '\0';
	if (o == 0)
		return gw_err_set_at(GW_ERR_INVALID, "serial",
				     "'%.80s' is not a serial number in hex",
				     serial);
	if (BN_hex2bn(out, hex) == 0)
		return GW_ERR_NOMEM;
	return 0;
}

int
identity_forget_previous(struct identity *id, const char *serial, size_t *n)
{
	BIGNUM *want = NULL, *have;
	X509 *x;
	int i, rc = 0, match;

	*n = 0;
	if (serial != NULL && (rc = parse_serial(serial, &want)) != 0)
		return rc;
	for (i = id->previous ? sk_X509_num(id->previous) - 1 : -1; i >= 0;
	     i--) {
		x = sk_X509_value(id->previous, i);
		match = 1;
		if (want != NULL) {
			if ((have = ASN1_INTEGER_to_BN(
				 X509_get0_serialNumber(x), NULL)) == NULL) {
				rc = GW_ERR_NOMEM;
				goto out;
			}
			match = BN_cmp(have, want) == 0;
			BN_free(have);
		}
		if (match) {
			X509_free(sk_X509_delete(id->previous, i));
			(*n)++;
		}
	}
	if (*n == 0 && serial != NULL)
		rc = gw_err_set_at(GW_ERR_NOT_FOUND, "serial",
				   "identity '%s' keeps no previous "
				   "certificate with serial number %.80s",
				   id->name, serial);
	else if (*n == 0)
		rc = gw_err_set(GW_ERR_NOT_FOUND,
				"identity '%s' keeps no previous certificate",
				id->name);
out:
	BN_free(want);
	return rc;
}

int
identity_get(struct gw_txn *txn, const char *name, struct identity **out)
{
	const void *val;
	size_t vlen;
	int rc;

	*out = NULL;
	rc = gw_txn_get(txn, GW_DB_IDENTITIES, name, strlen(name), &val, &vlen);
	if (rc == GW_ERR_NOT_FOUND)
		return gw_err_set(rc, "no identity named '%s'", name);
	if (rc != 0)
		return rc;
	return decode(val, vlen, out);
}

/* ---- the index ---------------------------------------------------------- */

static int
cert_index_names(X509 *x, identity_name_fn fn, void *arg)
{
	char buf[CERT_NAME_MAX + 1];
	const ASN1_OCTET_STRING *ski;
	int rc;

	if ((rc = cert_name_issuer(X509_get_issuer_name(x),
				   X509_get0_serialNumber(x), buf,
				   sizeof(buf))) != 0 ||
	    (rc = fn(arg, buf, strlen(buf))) != 0)
		return rc;
	if ((ski = X509_get0_subject_key_id(x)) == NULL)
		return 0;
	if ((rc = cert_name_ski(ski, buf, sizeof(buf))) != 0)
		return rc;
	return fn(arg, buf, strlen(buf));
}

int
identity_index_names(const struct identity *id, identity_name_fn fn,
		     void *arg)
{
	char buf[CERT_NAME_MAX + 1];
	int i, rc;

	/* The current certificate's subject: a trust anchor's name. */
	if ((rc = cert_name_subject(X509_get_subject_name(id->cert), buf,
				    sizeof(buf))) != 0 ||
	    (rc = fn(arg, buf, strlen(buf))) != 0 ||
	    (rc = cert_index_names(id->cert, fn, arg)) != 0)
		return rc;
	for (i = 0; id->previous != NULL && i < sk_X509_num(id->previous);
	     i++)
		if ((rc = cert_index_names(sk_X509_value(id->previous, i), fn,
					   arg)) != 0)
			return rc;
	return 0;
}

struct ix_change {
	struct gw_txn *txn;
	const char *name;
	int add;
};

static int
ix_one(void *arg, const char *name, size_t len)
{
	struct ix_change *c = arg;
	char key[CERT_NAME_MAX + 1 + IDENTITY_NAME_MAX + 1];
	size_t n = strlen(c->name);
	int rc;

	if (len > CERT_NAME_MAX || n > IDENTITY_NAME_MAX)
		return gw_err_set(GW_ERR_INVALID, "identity index: name of "
						  "%zu bytes",
				  len);
	memcpy(key, name, len);
	key[len] = '\0';
	memcpy(key + len + 1, c->name, n);
	if (c->add)
		return gw_txn_put(c->txn, GW_DB_IDENTITIES_IX, key,
				  len + 1 + n, "", 0, 0);
	rc = gw_txn_del(c->txn, GW_DB_IDENTITIES_IX, key, len + 1 + n);
	return rc == GW_ERR_NOT_FOUND ? 0 : rc;
}

int
identity_index_add(struct gw_txn *txn, const struct identity *id)
{
	struct ix_change c = {txn, id->name, 1};

	return identity_index_names(id, ix_one, &c);
}

/* Every entry of identity name, whatever its record says (a record that
 * no longer decodes): the index holds a few per identity. */
struct ix_purge {
	const char *name;
	size_t n;
	char (*key)[CERT_NAME_MAX + 1 + IDENTITY_NAME_MAX + 1];
	size_t *len;
	size_t cap;
};

static int
purge_one(void *arg, const void *key, size_t klen, const void *val,
	  size_t vlen)
{
	struct ix_purge *c = arg;
	size_t n = strlen(c->name);
	const char *k = key;
	void *p;

	(void)val;
	(void)vlen;
	if (klen < n + 2 || klen > sizeof(c->key[0]) ||
	    k[klen - n - 1] != '\0' || memcmp(k + klen - n, c->name, n) != 0)
		return 0;
	if (c->n == c->cap) {
		if ((p = reallocarray(c->key, c->cap + 16, sizeof(*c->key))) ==
		    NULL)
			return GW_ERR_NOMEM;
		c->key = p;
		if ((p = reallocarray(c->len, c->cap + 16, sizeof(*c->len))) ==
		    NULL)
			return GW_ERR_NOMEM;
		c->len = p;
		c->cap += 16;
	}
	memcpy(c->key[c->n], key, klen);
	c->len[c->n++] = klen;
	return 0;
}

/* The entries of the record stored under name go (the caller replaces
 * or deletes the record in the same transaction). */
static int
unindex(struct gw_txn *txn, const char *name)
{
	struct ix_change c = {txn, name, 0};
	struct ix_purge pc;
	struct identity *old = NULL;
	const void *val;
	size_t vlen, i;
	int rc;

	rc = gw_txn_get(txn, GW_DB_IDENTITIES, name, strlen(name), &val, &vlen);
	if (rc == GW_ERR_NOT_FOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (decode(val, vlen, &old) == 0) {
		rc = identity_index_names(old, ix_one, &c);
		identity_free(old);
		return rc;
	}
	gw_err_clear();
	memset(&pc, 0, sizeof(pc));
	pc.name = name;
	rc = gw_txn_foreach(txn, GW_DB_IDENTITIES_IX, purge_one, &pc);
	for (i = 0; i < pc.n && rc == 0; i++)
		rc = gw_txn_del(txn, GW_DB_IDENTITIES_IX, pc.key[i], pc.len[i]);
	free(pc.key);
	free(pc.len);
	return rc;
}

/* ---- store access -------------------------------------------------------- */

int
identity_put(struct gw_txn *txn, const struct identity *id, unsigned flags)
{
	struct gw_rec_writer *w;
	const unsigned char *buf;
	size_t len;
	int rc;

	if (!(flags & GW_PUT_NOOVERWRITE) &&
	    (rc = unindex(txn, id->name)) != 0)
		return rc;
	if ((w = gw_rec_writer_new()) == NULL)
		return GW_ERR_NOMEM;
	if ((rc = encode(id, w)) == 0) {
		buf = gw_rec_data(w, &len);
		rc = gw_txn_put(txn, GW_DB_IDENTITIES, id->name,
				strlen(id->name), buf, len, flags);
		if (rc == GW_ERR_EXISTS)
			rc = gw_err_set(rc, "an identity named '%s' already "
					    "exists",
					id->name);
		if (rc == 0)
			rc = identity_index_add(txn, id);
	}
	gw_rec_writer_free(w);
	return rc;
}

int
identity_del(struct gw_txn *txn, const char *name)
{
	int rc;

	if ((rc = unindex(txn, name)) != 0)
		return rc;
	rc = gw_txn_del(txn, GW_DB_IDENTITIES, name, strlen(name));
	if (rc == GW_ERR_NOT_FOUND)
		return gw_err_set(rc, "no identity named '%s'", name);
	return rc;
}

struct foreach_ctx {
	identity_fn fn;
	void *arg;
};

static int
foreach_one(void *arg, const void *key, size_t klen, const void *val,
	    size_t vlen)
{
	struct foreach_ctx *c = arg;
	struct identity *id = NULL;
	int rc;

	if ((rc = decode(val, vlen, &id)) != 0)
		return rc;
	rc = c->fn(c->arg, id);
	identity_free(id);
	return rc;
}

int
identity_foreach(struct gw_txn *txn, identity_fn fn, void *arg)
{
	struct foreach_ctx c = {fn, arg};

	return gw_txn_foreach(txn, GW_DB_IDENTITIES, foreach_one, &c);
}
