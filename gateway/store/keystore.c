/*
 * keystore.c - public-key records: the record codec, capabilities and
 * the requirement gate, store access (keystore.h).  The text forms
 * (PEM, search, export, import) are keystore_text.c's.
 */
#include "keystore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "addr_index.h"
#include "cert_check.h"
#include "cert_lean.h"
#include "gw_err.h"
#include "gw_record.h"
#include "identity.h"

enum {
	TAG_VERSION = 1,
	TAG_NAME = 2,
	TAG_CERT = 3,
	TAG_CAPS = 4,
	TAG_ALLOW_EXPIRED = 5,
	TAG_SOURCE = 6,
	TAG_ADDED = 7,
	TAG_UPDATED = 8,
};

#define KEYSTORE_VERSION 1

/* ---- record codec ------------------------------------------------------ */

void
keystore_key_free(struct keystore_key *k)
{
	if (k == NULL)
		return;
	free(k->name);
	free(k->source);
	X509_free(k->cert);
	free(k);
}

static int
encode(const struct keystore_key *k, struct gw_rec_writer *w)
{
	int rc = 0;

	rc |= gw_rec_put_u64(w, TAG_VERSION, KEYSTORE_VERSION);
	rc |= gw_rec_put_str(w, TAG_NAME, k->name);
	rc |= gw_rec_put_u64(w, TAG_CAPS, k->caps);
	rc |= gw_rec_put_u64(w, TAG_ALLOW_EXPIRED, k->allow_expired ? 1 : 0);
	rc |= gw_rec_put_str(w, TAG_SOURCE, k->source ? k->source : "");
	rc |= gw_rec_put_u64(w, TAG_ADDED, k->added);
	rc |= gw_rec_put_u64(w, TAG_UPDATED, k->updated);
	if (rc != 0)
		return gw_err_set(GW_ERR_NOMEM, "encoding public key record");
	return gw_rec_put_x509(w, TAG_CERT, k->cert);
}

/* A record; lean: its certificate read lean (gw_rec_get_x509_lean()). */
static int
decode(const unsigned char *buf, size_t len, int lean,
       struct keystore_key **out)
{
	struct keystore_key *k;
	struct gw_rec_field f;
	size_t off = 0;
	int r, rc = GW_ERR_NOMEM;

	*out = NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return GW_ERR_NOMEM;
	while ((r = gw_rec_next(buf, len, &off, &f)) == 1) {
		switch (f.tag) {
		case TAG_NAME:
			free(k->name);
			if ((k->name = gw_rec_strdup(&f)) == NULL)
				goto out;
			break;
		case TAG_CAPS:
			k->caps = (unsigned)gw_rec_u64(&f);
			break;
		case TAG_ALLOW_EXPIRED:
			k->allow_expired = gw_rec_u64(&f) != 0;
			break;
		case TAG_SOURCE:
			free(k->source);
			if ((k->source = gw_rec_strdup(&f)) == NULL)
				goto out;
			break;
		case TAG_ADDED:
			k->added = gw_rec_u64(&f);
			break;
		case TAG_UPDATED:
			k->updated = gw_rec_u64(&f);
			break;
		case TAG_CERT:
			if ((rc = (lean ? gw_rec_get_x509_lean
					: gw_rec_get_x509)(&f, &k->cert,
							   "public key "
							   "record")) != 0)
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
	if (k->name == NULL || k->cert == NULL) {
		rc = gw_err_set(GW_ERR_STORE, "incomplete public key record");
		goto out;
	}
	/* What the key may do follows the rules in force now
	 * (cert_requirements), not those of the day it was stored. */
	k->caps = keystore_caps(k->cert);
	*out = k;
	k = NULL;
	rc = 0;
out:
	keystore_key_free(k);
	return rc;
}

/* ---- capabilities and the requirement gate ----------------------------- */

unsigned
keystore_caps(X509 *cert)
{
	enum cert_rules rules = cert_rules_others();
	unsigned caps = 0;

	if (cert_key_usage_allows(cert, CERT_USAGE_ENCRYPT, rules))
		caps |= KEYSTORE_CAP_ENCRYPT;
	if (cert_key_usage_allows(cert, CERT_USAGE_SIGN, rules))
		caps |= KEYSTORE_CAP_VERIFY;
	return caps;
}

const char *
keystore_caps_name(unsigned caps)
{
	switch (caps & (KEYSTORE_CAP_ENCRYPT | KEYSTORE_CAP_VERIFY)) {
	case KEYSTORE_CAP_ENCRYPT | KEYSTORE_CAP_VERIFY:
		return "encrypt,verify";
	case KEYSTORE_CAP_ENCRYPT:
		return "encrypt";
	case KEYSTORE_CAP_VERIFY:
		return "verify";
	default:
		return "none";
	}
}

static const char *
ku_text(X509 *cert, char *buf, size_t size)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} bits[] = {
		{KU_DIGITAL_SIGNATURE, "digitalSignature"},
		{KU_NON_REPUDIATION, "nonRepudiation"},
		{KU_KEY_ENCIPHERMENT, "keyEncipherment"},
		{KU_DATA_ENCIPHERMENT, "dataEncipherment"},
		{KU_KEY_AGREEMENT, "keyAgreement"},
		{KU_KEY_CERT_SIGN, "keyCertSign"},
		{KU_CRL_SIGN, "cRLSign"},
	};
	uint32_t ku = X509_get_key_usage(cert);
	size_t i, o = 0;

	buf[0] = '\0';
	if (ku == UINT32_MAX) {
		snprintf(buf, size, "no keyUsage extension");
		return buf;
	}
	for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (ku & bits[i].bit && o < size)
			o += (size_t)snprintf(buf + o, size - o, "%s%s",
					      o ? ", " : "", bits[i].name);
	if (buf[0] == '\0')
		snprintf(buf, size, "none");
	return buf;
}

int
keystore_check(X509 *cert, int allow_expired, time_t now, unsigned *caps)
{
	struct cert_check_opts o;
	struct cert_check_report rep;
	const struct cert_check_result *validity = NULL, *fail = NULL;
	char kus[160];
	unsigned c;
	size_t i;
	EVP_PKEY *pk;

	*caps = 0;
	if (cert == NULL)
		return gw_err_set(GW_ERR_INVALID, "no certificate");
	if (now == 0)
		now = time(NULL);
	/* A pinned key is trusted as it is (engine_trust()): a CA among
	 * them would vouch for whatever it signs. */
	if (X509_get_extension_flags(cert) & EXFLAG_CA)
		return gw_err_set(GW_ERR_REQUIREMENT,
				  "basic-constraints: the certificate is a CA "
				  "(basicConstraints CA:TRUE); a public key "
				  "pins one partner's own certificate, and "
				  "CAs are trusted only through 'smimegw ca "
				  "add'");
	c = keystore_caps(cert);
	if (c == 0) {
		pk = cert_pubkey(cert);
		return gw_err_set(GW_ERR_REQUIREMENT,
				  "key usage: the certificate can neither "
				  "encrypt (keyUsage needs %s for an %s key) "
				  "nor verify (digitalSignature); it has: %s",
				  pk && EVP_PKEY_is_a(pk, "EC")
				      ? "keyAgreement"
				      : "keyEncipherment",
				  pk && EVP_PKEY_is_a(pk, "EC") ? "EC" : "RSA",
				  ku_text(cert, kus, sizeof(kus)));
	}
	memset(&o, 0, sizeof(o));
	o.usage = (c & KEYSTORE_CAP_ENCRYPT) && (c & KEYSTORE_CAP_VERIFY)
		      ? CERT_USAGE_BOTH
		  : (c & KEYSTORE_CAP_ENCRYPT) ? CERT_USAGE_ENCRYPT
					       : CERT_USAGE_SIGN;
	o.role = CERT_ROLE_PARTNER;
	o.rules = cert_rules_others();
	o.now = now;
	if (cert_check(cert, &o, &rep) == 0) {
		*caps = c;
		return 0;
	}
	/* cert_check latched its first FAIL; we choose what to say. */
	for (i = 0; i < rep.n; i++) {
		if (rep.r[i].status != CERT_CHECK_FAIL)
			continue;
		if (strcmp(rep.r[i].name, "validity") == 0)
			validity = &rep.r[i];
		else if (fail == NULL)
			fail = &rep.r[i];
	}
	if (fail == NULL && validity == NULL) /* GW_ERR_INVALID */
		return GW_ERR_INVALID;
	gw_err_clear();
	if (fail != NULL)
		return gw_err_set(GW_ERR_REQUIREMENT, "%s: %s", fail->name,
				  fail->detail);
	if (!allow_expired)
		return gw_err_set(GW_ERR_EXPIRED,
				  "the certificate is %s (--allow-expired "
				  "stores it anyway; it is then never used to "
				  "encrypt)",
				  validity->detail);
	*caps = c;
	return 0;
}

/* ---- store access -------------------------------------------------------- */

int
keystore_get(struct gw_txn *txn, const char *name, struct keystore_key **out)
{
	const void *val;
	size_t vlen;
	int rc;

	*out = NULL;
	rc = gw_txn_get(txn, GW_DB_PUBKEYS, name, strlen(name), &val, &vlen);
	if (rc == GW_ERR_NOT_FOUND)
		return gw_err_set(rc, "no public key named '%s'", name);
	if (rc != 0)
		return rc;
	return decode(val, vlen, 0, out);
}

/* The index entries of the record stored under name, if any, go (the
 * caller replaces or deletes the record in the same transaction). */
static int
unindex(struct gw_txn *txn, const char *name)
{
	struct keystore_key *old = NULL;
	const void *val;
	size_t vlen;
	int rc;

	rc = gw_txn_get(txn, GW_DB_PUBKEYS, name, strlen(name), &val, &vlen);
	if (rc == GW_ERR_NOT_FOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (decode(val, vlen, 0, &old) != 0) {
		gw_err_clear();
		return addr_index_purge(txn, GW_DB_PUBKEYS_IX, name,
					strlen(name));
	}
	rc = addr_index_del(txn, GW_DB_PUBKEYS_IX, old->cert, NULL, name,
			    strlen(name));
	keystore_key_free(old);
	return rc;
}

int
keystore_put(struct gw_txn *txn, const struct keystore_key *k, unsigned flags)
{
	struct gw_rec_writer *w;
	const unsigned char *buf;
	size_t len;
	int rc;

	if (!identity_name_valid(k->name))
		return gw_err_set(GW_ERR_INVALID,
				  "NAME: '%s' must be 1-64 letters, digits, "
				  "'.', '_' or '-', starting with a letter or "
				  "digit",
				  k->name);
	if ((rc = addr_index_upgrade(txn)) != 0 ||
	    (!(flags & GW_PUT_NOOVERWRITE) &&
	     (rc = unindex(txn, k->name)) != 0))
		return rc;
	if ((w = gw_rec_writer_new()) == NULL)
		return GW_ERR_NOMEM;
	if ((rc = encode(k, w)) == 0) {
		buf = gw_rec_data(w, &len);
		rc = gw_txn_put(txn, GW_DB_PUBKEYS, k->name, strlen(k->name),
				buf, len, flags);
		if (rc == GW_ERR_EXISTS)
			rc = gw_err_set(rc,
					"a public key named '%s' already "
					"exists",
					k->name);
		if (rc == 0)
			rc = addr_index_add(txn, GW_DB_PUBKEYS_IX, k->cert,
					    NULL, k->name, strlen(k->name));
	}
	gw_rec_writer_free(w);
	return rc;
}

int
keystore_add(struct gw_txn *txn, const char *name, X509 *cert,
	     int allow_expired, time_t now)
{
	struct keystore_key k;
	unsigned caps;
	int rc;

	if (now == 0)
		now = time(NULL);
	if (!identity_name_valid(name))
		return gw_err_set(GW_ERR_INVALID,
				  "NAME: '%s' must be 1-64 letters, digits, "
				  "'.', '_' or '-', starting with a letter or "
				  "digit",
				  name);
	if ((rc = keystore_check(cert, allow_expired, now, &caps)) != 0)
		return rc;
	memset(&k, 0, sizeof(k));
	k.name = (char *)name;
	k.cert = cert;
	k.caps = caps;
	k.allow_expired = allow_expired;
	k.source = (char *)"added";
	k.added = k.updated = (uint64_t)now;
	return keystore_put(txn, &k, GW_PUT_NOOVERWRITE);
}

int
keystore_del(struct gw_txn *txn, const char *name)
{
	int rc;

	if ((rc = addr_index_upgrade(txn)) != 0 ||
	    (rc = unindex(txn, name)) != 0)
		return rc;
	rc = gw_txn_del(txn, GW_DB_PUBKEYS, name, strlen(name));
	if (rc == GW_ERR_NOT_FOUND)
		return gw_err_set(rc, "no public key named '%s'", name);
	return rc;
}

struct foreach_ctx {
	keystore_fn fn;
	void *arg;
	int lean;
};

static int
foreach_one(void *arg, const void *key, size_t klen, const void *val,
	    size_t vlen)
{
	struct foreach_ctx *c = arg;
	struct keystore_key *k = NULL;
	int rc;

	if ((rc = decode(val, vlen, c->lean, &k)) != 0)
		return rc;
	rc = c->fn(c->arg, k);
	keystore_key_free(k);
	return rc;
}

int
keystore_foreach(struct gw_txn *txn, keystore_fn fn, void *arg)
{
	struct foreach_ctx c = {fn, arg, 0};

	return gw_txn_foreach(txn, GW_DB_PUBKEYS, foreach_one, &c);
}

int
keystore_foreach_lean(struct gw_txn *txn, keystore_fn fn, void *arg)
{
	struct foreach_ctx c = {fn, arg, 1};

	return gw_txn_foreach(txn, GW_DB_PUBKEYS, foreach_one, &c);
}
