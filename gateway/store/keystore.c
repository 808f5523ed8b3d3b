/*
 * keystore.c - public-key records, their export text and the recipient
 * lookup.
 *
 * Layout: the record codec; capabilities and the requirement gate; PEM
 * text (the line scanner and certificate blocks are textfmt.c's);
 * store access; search; export; import (parse and validate, then
 * apply); lookup.
 */
#include "keystore.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "cert_check.h"
#include "cert_info.h"
#include "gw_err.h"
#include "gw_record.h"
#include "harvest.h"
#include "identity.h"
#include "textfmt.h"

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
#define SEARCH_MAX 256		/* longest search text */

/* Texts read here: quoted input is ASCII, NUL bytes hint at DER, a bad
 * block says why. */
#define TEXT_FLAGS (TEXTFMT_HINT_DER | TEXTFMT_CERT_WHY)

/* ---- small helpers ----------------------------------------------------- */

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* ASCII case-insensitive equality of two counted strings. */
static int
ci_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i;

	if (alen != blen)
		return 0;
	for (i = 0; i < alen; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* ASCII case-insensitive: does hay (hlen bytes) contain needle? */
static int
ci_contains(const char *hay, size_t hlen, const char *needle)
{
	size_t i, nlen = strlen(needle);

	if (nlen == 0)
		return 1;
	for (i = 0; i + nlen <= hlen; i++)
		if (ci_eq(hay + i, nlen, needle, nlen))
			return 1;
	return 0;
}

static int
der_of(X509 *x, unsigned char **der, size_t *len)
{
	int n;

	*der = NULL;
	if ((n = i2d_X509(x, der)) <= 0)
		return gw_err_set_ssl(GW_ERR_CRYPTO,
				      "cannot encode a certificate");
	*len = (size_t)n;
	return 0;
}

static int
same_cert(X509 *a, X509 *b)
{
	unsigned char *da = NULL, *db = NULL;
	size_t la = 0, lb = 0;
	int same = 0;

	if (der_of(a, &da, &la) == 0 && der_of(b, &db, &lb) == 0)
		same = la == lb && memcmp(da, db, la) == 0;
	OPENSSL_free(da);
	OPENSSL_free(db);
	return same;
}

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

static int
decode(const unsigned char *buf, size_t len, struct keystore_key **out)
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
			if ((rc = gw_rec_get_x509(&f, &k->cert,
						  "public key record")) != 0)
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
	EVP_PKEY *pk = X509_get0_pubkey(cert);
	uint32_t ku = X509_get_key_usage(cert);
	unsigned caps = 0;

	if (pk == NULL)
		return 0;
	/* UINT32_MAX: no keyUsage extension. */
	if (ku != UINT32_MAX) {
		if (EVP_PKEY_is_a(pk, "RSA") && (ku & KU_KEY_ENCIPHERMENT))
			caps |= KEYSTORE_CAP_ENCRYPT;
		if (EVP_PKEY_is_a(pk, "EC") && (ku & KU_KEY_AGREEMENT))
			caps |= KEYSTORE_CAP_ENCRYPT;
	}
	if (ku == UINT32_MAX || (ku & KU_DIGITAL_SIGNATURE))
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
	c = keystore_caps(cert);
	if (c == 0) {
		pk = X509_get0_pubkey(cert);
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

/* ---- PEM text ------------------------------------------------------------ */

/* "-----BEGIN LABEL-----": 1 and the label (escaped) in buf. */
static int
pem_begin(const char *line, size_t len, char *label, size_t lsize)
{
	if (len < 16 || memcmp(line, "-----BEGIN ", 11) != 0 ||
	    memcmp(line + len - 5, "-----", 5) != 0)
		return 0;
	textfmt_escape(label, lsize, line + 11, len - 16, 0);
	return 1;
}

static int
block_refused(const char *src, unsigned no, const char *label)
{
	if (strstr(label, "PRIVATE KEY") != NULL)
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: a private key (BEGIN %s): public "
				  "keys take the partner's certificate only, "
				  "and a private key should never leave its "
				  "owner",
				  src, no, label);
	return gw_err_set(GW_ERR_PARSE,
			  "%s:%u: a '%s' block: only CERTIFICATE blocks are "
			  "accepted",
			  src, no, label);
}

int
keystore_read_pem(const char *buf, size_t len, const char *src, X509 **out)
{
	struct textfmt_lines it;
	const char *line;
	size_t n;
	char label[96];
	X509 *x = NULL;
	unsigned first = 0;
	int r, rc = 0;

	*out = NULL;
	if (len > KEYSTORE_PEM_MAX)
		return gw_err_set(GW_ERR_LIMIT, "%s: larger than %zu bytes",
				  src, KEYSTORE_PEM_MAX);
	textfmt_lines_init(&it, buf, len, src, 1, TEXT_FLAGS);
	while ((r = textfmt_next_line(&it, &line, &n)) == 1) {
		if (!pem_begin(line, n, label, sizeof(label)))
			continue; /* explanatory text */
		if (strcmp(label, "CERTIFICATE") != 0) {
			rc = block_refused(src, it.no, label);
			goto out;
		}
		if (x != NULL) {
			rc = gw_err_set(GW_ERR_PARSE,
					"%s:%u: a second certificate (the "
					"first began on line %u): give only "
					"the partner's own certificate",
					src, it.no, first);
			goto out;
		}
		first = it.no;
		if ((rc = textfmt_read_cert(&it, NULL, &x)) != 0)
			goto out;
	}
	if (r < 0) {
		rc = r;
		goto out;
	}
	if (x == NULL) {
		rc = gw_err_set(GW_ERR_PARSE,
				"%s: no PEM certificate found (expected "
				"-----BEGIN CERTIFICATE-----)",
				src);
		goto out;
	}
	*out = x;
	x = NULL;
out:
	X509_free(x);
	return rc;
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
	return decode(val, vlen, out);
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

	rc = gw_txn_del(txn, GW_DB_PUBKEYS, name, strlen(name));
	if (rc == GW_ERR_NOT_FOUND)
		return gw_err_set(rc, "no public key named '%s'", name);
	return rc;
}

struct foreach_ctx {
	keystore_fn fn;
	void *arg;
};

static int
foreach_one(void *arg, const void *key, size_t klen, const void *val,
	    size_t vlen)
{
	struct foreach_ctx *c = arg;
	struct keystore_key *k = NULL;
	int rc;

	if ((rc = decode(val, vlen, &k)) != 0)
		return rc;
	rc = c->fn(c->arg, k);
	keystore_key_free(k);
	return rc;
}

int
keystore_foreach(struct gw_txn *txn, keystore_fn fn, void *arg)
{
	struct foreach_ctx c = {fn, arg};

	return gw_txn_foreach(txn, GW_DB_PUBKEYS, foreach_one, &c);
}

/* ---- matching ------------------------------------------------------------ */

/* ---- search -------------------------------------------------------------- */

struct search_ctx {
	const char *text;
	char hex[SEARCH_MAX + 1]; /* text without ':' when all hex, or "" */
	keystore_fn fn;
	void *arg;
};

static int
search_one(void *arg, const struct keystore_key *k)
{
	struct search_ctx *s = arg;
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	char buf[1024], fp[2 * EVP_MAX_MD_SIZE + 1];
	int j, hit = 0;

	if (ci_contains(k->name, strlen(k->name), s->text))
		hit = 1;
	if (!hit) {
		cert_info_name(X509_get_subject_name(k->cert), buf,
			       sizeof(buf));
		hit = ci_contains(buf, strlen(buf), s->text);
	}
	if (!hit) {
		gens = X509_get_ext_d2i(k->cert, NID_subject_alt_name, NULL,
					NULL);
		for (j = 0; gens != NULL && j < sk_GENERAL_NAME_num(gens) &&
			    !hit;
		     j++) {
			g = sk_GENERAL_NAME_value(gens, j);
			if (g->type == GEN_EMAIL || g->type == GEN_DNS)
				hit = ci_contains(
				    (const char *)ASN1_STRING_get0_data(
					g->d.ia5),
				    (size_t)ASN1_STRING_length(g->d.ia5),
				    s->text);
		}
		GENERAL_NAMES_free(gens);
	}
	if (!hit && s->hex[0] != '\0' &&
	    X509_digest(k->cert, EVP_sha256(), md, &mdlen)) {
		for (i = 0; i < mdlen; i++)
			snprintf(fp + 2 * i, 3, "%02x", md[i]);
		hit = ci_contains(fp, 2 * mdlen, s->hex);
	}
	if (!hit && (strchr(s->text, '.') != NULL))
		hit = addr_rule_match(k->cert, s->text, NULL, 0) !=
		      ADDR_MATCH_NONE;
	ERR_clear_error();
	return hit ? s->fn(s->arg, k) : 0;
}

int
keystore_search(struct gw_txn *txn, const char *text, keystore_fn fn,
		void *arg)
{
	struct search_ctx s;
	size_t i, o = 0, n = strlen(text);
	char c;

	if (n == 0 || n > SEARCH_MAX)
		return gw_err_set(GW_ERR_INVALID,
				  "TEXT: 1 to %d characters", SEARCH_MAX);
	memset(&s, 0, sizeof(s));
	s.text = text;
	s.fn = fn;
	s.arg = arg;
	for (i = 0; i < n; i++) {
		c = text[i];
		if (c == ':')
			continue;
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		      (c >= 'A' && c <= 'F'))) {
			o = 0;
			break;
		}
		s.hex[o++] = c;
	}
	s.hex[o] = '\0';
	return keystore_foreach(txn, search_one, &s);
}

/* ---- export -------------------------------------------------------------- */

static int
export_one(void *arg, const struct keystore_key *k)
{
	struct gw_buf *out = arg;
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	char buf[1024], esc[1024], fp[96];
	int i, rc;

	cert_info_name(X509_get_subject_name(k->cert), buf, sizeof(buf));
	textfmt_escape(esc, sizeof(esc), buf, strlen(buf), 0);
	if ((rc = gw_buf_addf(out, "\nname: %s\n# subject: %s\n", k->name,
			      esc)) != 0)
		return rc;
	gens = X509_get_ext_d2i(k->cert, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_EMAIL && g->type != GEN_DNS)
			continue;
		textfmt_escape(esc, 300, ASN1_STRING_get0_data(g->d.ia5),
		       (size_t)ASN1_STRING_length(g->d.ia5), 0);
		if ((rc = gw_buf_addf(out, "# san: %s:%s\n",
				      g->type == GEN_EMAIL ? "email" : "dns",
				      esc)) != 0)
			break;
	}
	GENERAL_NAMES_free(gens);
	ERR_clear_error();
	if (rc != 0)
		return rc;
	if ((rc = gw_buf_addf(out, "# sha256: %s\n",
			      cert_info_fingerprint(k->cert, fp))) != 0)
		return rc;
	if (k->allow_expired &&
	    (rc = gw_buf_adds(out, "allow-expired: yes\n")) != 0)
		return rc;
	return textfmt_add_cert_pem(out, k->cert,
				    "cannot write the certificate of '%s'",
				    k->name);
}

int
keystore_export(struct gw_txn *txn, struct gw_buf *out)
{
	int rc;

	if ((rc = gw_buf_adds(out, KEYSTORE_EXPORT_HEADER "\n"
				   "# smimegw public keys. Each entry: "
				   "'name: NAME', optional 'allow-expired: "
				   "yes',\n"
				   "# then one PEM certificate. Lines starting "
				   "with '#' are comments.\n")) != 0)
		return rc;
	return keystore_foreach(txn, export_one, out);
}

/* ---- import -------------------------------------------------------------- */

struct import_entry {
	char name[KEYSTORE_NAME_MAX + 1];
	unsigned line;
	int allow_expired; /* -1: not given */
	X509 *cert;
	unsigned caps;
	enum keystore_outcome outcome;
	uint64_t old_added; /* of the record a conflict replaces */
};

struct keystore_import {
	struct import_entry *e;
	size_t n, cap;
};

void
keystore_import_free(struct keystore_import *imp)
{
	size_t i;

	if (imp == NULL)
		return;
	for (i = 0; i < imp->n; i++)
		X509_free(imp->e[i].cert);
	free(imp->e);
	free(imp);
}

size_t
keystore_import_count(const struct keystore_import *imp)
{
	return imp->n;
}

const char *
keystore_import_name(const struct keystore_import *imp, size_t i)
{
	return i < imp->n ? imp->e[i].name : NULL;
}

unsigned
keystore_import_line(const struct keystore_import *imp, size_t i)
{
	return i < imp->n ? imp->e[i].line : 0;
}

enum keystore_outcome
keystore_import_outcome(const struct keystore_import *imp, size_t i)
{
	return i < imp->n ? imp->e[i].outcome : KEYSTORE_PENDING;
}

static int
entry_new(struct keystore_import *imp, const char *src, unsigned line,
	  struct import_entry **out)
{
	struct import_entry *ne;
	size_t ncap;

	if (imp->n == KEYSTORE_IMPORT_MAX_KEYS)
		return gw_err_set(GW_ERR_LIMIT, "%s:%u: more than %d keys",
				  src, line, KEYSTORE_IMPORT_MAX_KEYS);
	if (imp->n == imp->cap) {
		ncap = imp->cap ? imp->cap * 2 : 16;
		if ((ne = realloc(imp->e, ncap * sizeof(*ne))) == NULL)
			return GW_ERR_NOMEM;
		imp->e = ne;
		imp->cap = ncap;
	}
	*out = &imp->e[imp->n++];
	memset(*out, 0, sizeof(**out));
	(*out)->line = line;
	(*out)->allow_expired = -1;
	return 0;
}

enum parse_state {
	ST_TOP,	  /* between entries */
	ST_ATTRS, /* after "name:", before the certificate */
};

static int
parse_entries(const char *buf, size_t len, const char *src, unsigned first,
	      struct keystore_import *imp)
{
	struct textfmt_lines it;
	struct import_entry *cur = NULL;
	enum parse_state st = ST_TOP;
	const char *line, *val;
	size_t n, vlen;
	char key[32], label[96], shown[96];
	char tmp[KEYSTORE_NAME_MAX + 1];
	int r;

	textfmt_lines_init(&it, buf, len, src, first, TEXT_FLAGS);
	if ((r = textfmt_check_header(&it, KEYSTORE_EXPORT_HEADER,
				      "a smimegw public key export", 40)) != 0)
		return r;
	while ((r = textfmt_next_line(&it, &line, &n)) == 1) {
		if (textfmt_is_comment(line, n))
			continue;
		if (n >= 5 && memcmp(line, "name:", 5) == 0) {
			if (st == ST_ATTRS)
				return gw_err_set(GW_ERR_PARSE,
						  "%s:%u: entry '%s' (line %u) "
						  "has no certificate",
						  src, cur->line, cur->name,
						  cur->line);
			textfmt_attr_split(line, n, key, sizeof(key), &val,
					   &vlen);
			textfmt_escape(shown, sizeof(shown), val, vlen, 0);
			if (vlen == 0 || vlen > KEYSTORE_NAME_MAX)
				tmp[0] = '\0';
			else {
				memcpy(tmp, val, vlen);
				tmp[vlen] = '\0';
			}
			if (!identity_name_valid(tmp))
				return gw_err_set(GW_ERR_PARSE,
						  "%s:%u: '%s' is not a valid "
						  "name (1-64 letters, "
						  "digits, '.', '_' or '-', "
						  "starting with a letter or "
						  "digit)",
						  src, it.no, shown);
			if ((r = entry_new(imp, src, it.no, &cur)) != 0)
				return r;
			memcpy(cur->name, tmp, vlen + 1);
			st = ST_ATTRS;
			continue;
		}
		if (pem_begin(line, n, label, sizeof(label))) {
			if (strcmp(label, "CERTIFICATE") != 0)
				return block_refused(src, it.no, label);
			if (st != ST_ATTRS)
				return gw_err_set(
				    GW_ERR_PARSE,
				    "%s:%u: a certificate without a 'name:' "
				    "line before it (each entry is 'name: "
				    "NAME' and exactly one certificate)",
				    src, it.no);
			if ((r = textfmt_read_cert(&it, cur->name,
						   &cur->cert)) != 0)
				return r;
			st = ST_TOP;
			continue;
		}
		textfmt_escape(shown, 60, line, n, 0);
		if (st == ST_ATTRS &&
		    textfmt_attr_split(line, n, key, sizeof(key), &val,
				       &vlen)) {
			if (strcmp(key, "allow-expired") != 0)
				return gw_err_set(GW_ERR_PARSE,
						  "%s:%u: unknown attribute "
						  "'%s'",
						  src, it.no, key);
			if (cur->allow_expired != -1)
				return gw_err_set(GW_ERR_PARSE,
						  "%s:%u: allow-expired given "
						  "twice for '%s'",
						  src, it.no, cur->name);
			if ((r = textfmt_yesno(src, it.no, key, val, vlen,
					       &cur->allow_expired)) != 0)
				return r;
			continue;
		}
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: unexpected line '%s' (expected %s)",
				  src, it.no, shown,
				  st == ST_TOP ? "'name: NAME', a comment or "
						 "a blank line"
					       : "an attribute or the "
						 "certificate");
	}
	if (r < 0)
		return r;
	if (st == ST_ATTRS)
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: entry '%s' (line %u) has no "
				  "certificate",
				  src, it.no, cur->name, cur->line);
	return 0;
}

static int
check_unique(struct keystore_import *imp, const char *src)
{
	const char *name;
	unsigned line, first;
	int r;

	if ((r = textfmt_repeat(imp->e, imp->n, sizeof(*imp->e),
				offsetof(struct import_entry, name),
				offsetof(struct import_entry, line), &name,
				&line, &first)) <= 0)
		return r;
	return gw_err_set(GW_ERR_PARSE, "%s:%u: name '%s' already used at "
			  "line %u",
			  src, line, name, first);
}

int
keystore_import_parse(const char *buf, size_t len, const char *src,
		      int allow_expired, time_t now,
		      struct keystore_import **out)
{
	return keystore_import_parse_at(buf, len, src, 1, allow_expired, now,
					out);
}

int
keystore_import_parse_at(const char *buf, size_t len, const char *src,
			 unsigned first_line, int allow_expired, time_t now,
			 struct keystore_import **out)
{
	struct keystore_import *imp;
	struct import_entry *e;
	char detail[512];
	size_t i;
	int rc;

	*out = NULL;
	if (now == 0)
		now = time(NULL);
	if (len > KEYSTORE_EXPORT_MAX)
		return gw_err_set(GW_ERR_LIMIT, "%s: larger than %zu bytes",
				  src, KEYSTORE_EXPORT_MAX);
	if ((imp = calloc(1, sizeof(*imp))) == NULL)
		return GW_ERR_NOMEM;
	if ((rc = parse_entries(buf, len, src,
				first_line ? first_line : 1, imp)) != 0 ||
	    (rc = check_unique(imp, src)) != 0)
		goto out;
	for (i = 0; i < imp->n; i++) {
		e = &imp->e[i];
		rc = keystore_check(e->cert,
				    allow_expired || e->allow_expired == 1,
				    now, &e->caps);
		if (rc != 0) {
			snprintf(detail, sizeof(detail), "%s",
				 gw_err_detail());
			gw_err_clear();
			rc = gw_err_set(rc, "%s:%u: key '%s': %s", src,
					e->line, e->name, detail);
			goto out;
		}
		/* --allow-expired applies to every entry, and is kept. */
		if (allow_expired)
			e->allow_expired = 1;
	}
	*out = imp;
	imp = NULL;
out:
	keystore_import_free(imp);
	return rc;
}

int
keystore_import_apply(struct gw_txn *txn, struct keystore_import *imp,
		      int replace, time_t now)
{
	struct import_entry *e;
	struct keystore_key *old = NULL, k;
	const void *val;
	size_t vlen, i, conflicts = 0;
	int rc;

	if (now == 0)
		now = time(NULL);
	for (i = 0; i < imp->n; i++) {
		e = &imp->e[i];
		e->outcome = KEYSTORE_PENDING;
		rc = gw_txn_get(txn, GW_DB_PUBKEYS, e->name, strlen(e->name),
				&val, &vlen);
		if (rc == GW_ERR_NOT_FOUND) {
			e->outcome = KEYSTORE_ADDED;
			continue;
		}
		if (rc != 0 || (rc = keystore_get(txn, e->name, &old)) != 0)
			return rc;
		if (same_cert(old->cert, e->cert)) {
			e->outcome = KEYSTORE_DUPLICATE;
		} else {
			e->outcome = KEYSTORE_CONFLICT;
			e->old_added = old->added;
			conflicts++;
		}
		keystore_key_free(old);
		old = NULL;
	}
	if (conflicts > 0 && !replace)
		return gw_err_set(GW_ERR_EXISTS,
				  "%zu name%s already stored with a different "
				  "certificate; nothing was imported "
				  "(--replace overwrites them)",
				  conflicts, conflicts == 1 ? " is" : "s are");
	for (i = 0; i < imp->n; i++) {
		e = &imp->e[i];
		if (e->outcome != KEYSTORE_ADDED &&
		    e->outcome != KEYSTORE_CONFLICT)
			continue;
		memset(&k, 0, sizeof(k));
		k.name = e->name;
		k.cert = e->cert;
		k.caps = e->caps;
		k.allow_expired = e->allow_expired == 1;
		k.source = (char *)"imported";
		k.updated = (uint64_t)now;
		k.added = e->outcome == KEYSTORE_CONFLICT ? e->old_added
							  : (uint64_t)now;
		if ((rc = keystore_put(txn, &k,
				       e->outcome == KEYSTORE_ADDED
					   ? GW_PUT_NOOVERWRITE
					   : 0)) != 0)
			return rc;
		if (e->outcome == KEYSTORE_CONFLICT)
			e->outcome = KEYSTORE_REPLACED;
	}
	return 0;
}
