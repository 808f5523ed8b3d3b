/*
 * keystore_text.c - public keys as text (keystore.h): reading a PEM
 * certificate, search, the export file and its import (parse and
 * validate, then apply; or streamed, chunk by chunk, for a file of any
 * size).  The line scanner and certificate blocks are textfmt.c's;
 * records go through keystore.c.
 */
#include "keystore.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "cert_info.h"
#include "cert_lean.h"
#include "gw_err.h"
#include "gw_parallel.h"
#include "identity.h"
#include "strset.h"
#include "textfmt.h"
#include "textstream.h"

#define SEARCH_MAX 256		/* longest search text */

/* Texts read here: quoted input is ASCII, NUL bytes hint at DER, a bad
 * block says why. */
#define TEXT_FLAGS (TEXTFMT_HINT_DER | TEXTFMT_CERT_WHY)

/* ---- small helpers ----------------------------------------------------- */

/* ASCII case-insensitive: does hay (hlen bytes) contain needle? */
static int
ci_contains(const char *hay, size_t hlen, const char *needle)
{
	size_t i, nlen = strlen(needle);

	if (nlen == 0)
		return 1;
	for (i = 0; i + nlen <= hlen; i++)
		if (textfmt_ci_eq(hay + i, nlen, needle, nlen))
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
	    cert_sha256(k->cert, md) == 0) {
		mdlen = 32;
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
	return keystore_foreach_lean(txn, search_one, &s);
}

/* ---- export -------------------------------------------------------------- */

struct export_ctx {
	struct gw_buf *out;
	unsigned flags;
};

static int
export_one(void *arg, const struct keystore_key *k)
{
	const struct export_ctx *c = arg;
	struct gw_buf *out = c->out;
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	char buf[1024], esc[1024], fp[96];
	char t1[TEXTFMT_TIME_LEN], t2[TEXTFMT_TIME_LEN];
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
	/* The record's times (and for a backup its source), so that an
	 * import restores them. */
	if (((c->flags & KEYSTORE_EXPORT_SOURCE) &&
	     (rc = gw_buf_addf(out, "source: %s\n",
			       k->source && *k->source ? k->source
						       : "added")) != 0) ||
	    (rc = gw_buf_addf(out, "added: %s\nupdated: %s\n",
			      textfmt_time(k->added, t1),
			      textfmt_time(k->updated, t2))) != 0)
		return rc;
	return textfmt_add_cert_pem(out, k->cert,
				    "cannot write the certificate of '%s'",
				    k->name);
}

int
keystore_export(struct gw_txn *txn, struct gw_buf *out)
{
	return keystore_export_with(txn, out, 0);
}

int
keystore_export_with(struct gw_txn *txn, struct gw_buf *out, unsigned flags)
{
	struct export_ctx c = {out, flags};
	int rc;

	if ((rc = gw_buf_adds(out, KEYSTORE_EXPORT_HEADER "\n"
				   "# smimegw public keys. Each entry: "
				   "'name: NAME', optional 'allow-expired: "
				   "yes',\n"
				   "# 'added:' and 'updated:' "
				   "(YYYY-MM-DDTHH:MM:SSZ), then one PEM\n"
				   "# certificate. Lines starting "
				   "with '#' are comments.\n")) != 0)
		return rc;
	return keystore_foreach_lean(txn, export_one, &c);
}

/* ---- import -------------------------------------------------------------- */

struct import_entry {
	char name[KEYSTORE_NAME_MAX + 1];
	unsigned line;
	int allow_expired; /* -1: not given */
	char source[16];   /* "" when not given */
	uint64_t added, updated;
	unsigned added_line, updated_line; /* 0: not given */
	X509 *cert;
	unsigned caps;
	enum keystore_outcome outcome;
	uint64_t old_added; /* of the record a conflict replaces */
	/* The certificate until decoded (decode_one()): its base64 in
	 * the import's b64, and its BEGIN line; then what decoding and
	 * the checks said (rc, and why: the message they latched). */
	size_t b64_at, b64_len;
	unsigned cert_line;	/* 0: none read (the parse stopped first) */
	int dec_rc, chk_rc;
	char *why;
};

struct keystore_import {
	struct import_entry *e;
	size_t n, cap;
	struct gw_buf b64;	/* every entry's certificate, base64 */
	/* For decode_one(): */
	const char *src;
	int allow_expired;
	time_t now;
};

void
keystore_import_free(struct keystore_import *imp)
{
	size_t i;

	if (imp == NULL)
		return;
	for (i = 0; i < imp->n; i++) {
		X509_free(imp->e[i].cert);
		free(imp->e[i].why);
	}
	free(imp->e);
	gw_buf_free(&imp->b64);
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

/* "source:", "added:" or "updated:" of an entry: the provenance of a
 * stored key, written by keystore_export(). */
static int
provenance_attr(struct import_entry *e, const char *src, unsigned no,
		const char *key, const char *v, size_t n)
{
	unsigned *seen;

	if (strcmp(key, "source") == 0) {
		if (e->source[0] != '\0')
			return gw_err_set(GW_ERR_PARSE,
					  "%s:%u: source given twice for '%s'",
					  src, no, e->name);
		if (!textfmt_line_is(v, n, "added") &&
		    !textfmt_line_is(v, n, "imported"))
			return gw_err_set(GW_ERR_PARSE,
					  "%s:%u: source: expected added or "
					  "imported",
					  src, no);
		memcpy(e->source, v, n);
		e->source[n] = '\0';
		return 0;
	}
	if (strcmp(key, "added") == 0)
		seen = &e->added_line;
	else if (strcmp(key, "updated") == 0)
		seen = &e->updated_line;
	else
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: unknown attribute '%s' (known: "
				  "allow-expired, source, added, updated)",
				  src, no, key);
	if (*seen != 0)
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: %s given twice for '%s'", src, no,
				  key, e->name);
	*seen = no;
	return textfmt_time_parse(src, no, key, v, n,
				  seen == &e->added_line ? &e->added
							 : &e->updated);
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
	unsigned begin;
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
			/* Decoded later, all at once (decode_all()). */
			cur->b64_at = imp->b64.len;
			if ((r = textfmt_cert_b64(&it, cur->name, &imp->b64,
						  &begin)) != 0)
				return r;
			cur->b64_len = imp->b64.len - cur->b64_at;
			cur->cert_line = begin;
			st = ST_TOP;
			continue;
		}
		textfmt_escape(shown, 60, line, n, 0);
		if (st == ST_ATTRS &&
		    textfmt_attr_split(line, n, key, sizeof(key), &val,
				       &vlen)) {
			if (strcmp(key, "allow-expired") != 0) {
				if ((r = provenance_attr(cur, src, it.no, key,
							 val, vlen)) != 0)
					return r;
				continue;
			}
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

/* The message gw_err latched, kept with entry e (NULL when out of
 * memory: the class alone is reported). */
static void
keep_why(struct import_entry *e)
{
	free(e->why);
	e->why = strdup(gw_err_detail());
	gw_err_clear();
}

/* Entry i's certificate decoded and checked (gw_parallel(): touches
 * entry i only).  An import may hold a million keys: they are read
 * lean (the checks take the key from cert_pubkey()). */
static void
decode_one(void *arg, size_t i)
{
	struct keystore_import *imp = arg;
	struct import_entry *e = &imp->e[i];

	if (e->cert_line == 0)
		return;
	gw_err_clear();
	e->dec_rc = textfmt_cert_decode(
	    (const char *)imp->b64.data + e->b64_at, e->b64_len, imp->src,
	    e->cert_line, TEXT_FLAGS | TEXTFMT_CERT_LEAN, &e->cert);
	if (e->dec_rc != 0) {
		keep_why(e);
		return;
	}
	/* A key exported with the date it was stored is restored as the
	 * store held it: a key that has expired since is kept (lookups
	 * pass over it), as it was in the store. */
	e->chk_rc = keystore_check(e->cert,
				   imp->allow_expired || e->allow_expired == 1 ||
				       e->added_line != 0,
				   imp->now, &e->caps);
	if (e->chk_rc != 0)
		keep_why(e);
}

/* The first entry (in file order) whose certificate did not decode,
 * its error latched again; 0 when none. */
static int
first_decode_error(const struct keystore_import *imp)
{
	const struct import_entry *e;
	size_t i;

	for (i = 0; i < imp->n; i++) {
		e = &imp->e[i];
		if (e->dec_rc != 0)
			return e->why ? gw_err_set(e->dec_rc, "%s", e->why)
				      : e->dec_rc;
	}
	return 0;
}

int
keystore_import_parse_at(const char *buf, size_t len, const char *src,
			 unsigned first_line, int allow_expired, time_t now,
			 struct keystore_import **out)
{
	struct keystore_import *imp;
	struct import_entry *e;
	char why[1024];
	size_t i;
	int rc, prc;

	*out = NULL;
	if (now == 0)
		now = time(NULL);
	if (len > KEYSTORE_EXPORT_MAX)
		return gw_err_set(GW_ERR_LIMIT, "%s: larger than %zu bytes",
				  src, KEYSTORE_EXPORT_MAX);
	if ((imp = calloc(1, sizeof(*imp))) == NULL)
		return GW_ERR_NOMEM;
	gw_buf_init(&imp->b64, KEYSTORE_EXPORT_MAX);
	imp->src = src;
	imp->allow_expired = allow_expired;
	imp->now = now;
	/* The text first; then every certificate, decoded and checked on
	 * every CPU (most of an import's time); errors are reported as
	 * one pass in file order would: a certificate that does not
	 * decode before any later syntax error, names used twice, then
	 * the checks. */
	prc = parse_entries(buf, len, src, first_line ? first_line : 1, imp);
	snprintf(why, sizeof(why), "%s", gw_err_detail());
	gw_err_clear();
	gw_parallel(imp->n, decode_one, imp);
	if ((rc = first_decode_error(imp)) != 0)
		goto out;
	if (prc != 0) {
		rc = why[0] ? gw_err_set(prc, "%s", why) : prc;
		goto out;
	}
	if ((rc = check_unique(imp, src)) != 0)
		goto out;
	for (i = 0; i < imp->n; i++) {
		e = &imp->e[i];
		if (e->chk_rc != 0) {
			rc = gw_err_set(e->chk_rc, "%s:%u: key '%s': %s", src,
					e->line, e->name,
					e->why ? e->why : "");
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
		k.source = e->source[0] ? e->source : (char *)"imported";
		k.updated = e->updated_line ? e->updated : (uint64_t)now;
		k.added = e->added_line		      ? e->added
			  : e->outcome == KEYSTORE_CONFLICT ? e->old_added
							    : (uint64_t)now;
		/* Exports are in name order: new names mostly go last. */
		if ((rc = keystore_put(txn, &k,
				       e->outcome == KEYSTORE_ADDED
					   ? GW_PUT_NOOVERWRITE | GW_PUT_APPEND
					   : 0)) != 0)
			return rc;
		if (e->outcome == KEYSTORE_CONFLICT)
			e->outcome = KEYSTORE_REPLACED;
	}
	return 0;
}

/* ---- streamed import ----------------------------------------------------- */

struct keystore_stream {
	int allow_expired, replace;
	time_t now;
	int started;		/* the first chunk (with the header) seen */
	struct strset names;	/* every name so far, with its line */
	size_t count[KEYSTORE_REPLACED + 1];
};

int
keystore_stream_new(int allow_expired, int replace, time_t now,
		    struct keystore_stream **out)
{
	struct keystore_stream *ks;

	if ((*out = ks = calloc(1, sizeof(*ks))) == NULL)
		return GW_ERR_NOMEM;
	ks->allow_expired = allow_expired;
	ks->replace = replace;
	ks->now = now ? now : time(NULL);
	strset_init(&ks->names);
	return 0;
}

void
keystore_stream_free(struct keystore_stream *ks)
{
	if (ks == NULL)
		return;
	strset_free(&ks->names);
	free(ks);
}

size_t
keystore_stream_total(const struct keystore_stream *ks,
		      enum keystore_outcome o)
{
	return (unsigned)o <= KEYSTORE_REPLACED ? ks->count[o] : 0;
}

/* Each name of the chunk against those of the chunks before it. */
static int
stream_unique(struct keystore_stream *ks, const struct keystore_import *imp,
	      const char *src)
{
	const struct import_entry *e;
	unsigned first;
	size_t i;
	int r;

	for (i = 0; i < imp->n; i++) {
		e = &imp->e[i];
		if ((r = strset_add(&ks->names, e->name, strlen(e->name),
				    e->line, &first)) < 0)
			return r;
		if (r == 1)
			return gw_err_set(GW_ERR_PARSE,
					  "%s:%u: name '%s' already used at "
					  "line %u",
					  src, e->line, e->name, first);
	}
	return 0;
}

int
keystore_stream_parse(struct keystore_stream *ks, const char *buf,
		      size_t len, const char *src, unsigned first,
		      struct keystore_import **out)
{
	struct gw_buf text;
	int rc;

	*out = NULL;
	if (!ks->started) {
		ks->started = 1;
		return keystore_import_parse_at(buf, len, src, first,
						ks->allow_expired, ks->now,
						out);
	}
	/* A later chunk is parsed as a text of its own: the header line,
	 * numbered as the line before it. */
	gw_buf_init(&text, TEXTSTREAM_CHUNK_MAX + 64);
	if ((rc = gw_buf_adds(&text, KEYSTORE_EXPORT_HEADER "\n")) == 0 &&
	    (rc = gw_buf_add(&text, buf, len)) == 0)
		rc = keystore_import_parse_at((const char *)text.data,
					      text.len, src, first - 1,
					      ks->allow_expired, ks->now, out);
	gw_buf_free(&text);
	return rc;
}

int
keystore_stream_apply(struct keystore_stream *ks, struct gw_txn *txn,
		      struct keystore_import *imp, const char *src,
		      keystore_outcome_fn fn, void *arg)
{
	enum keystore_outcome o;
	size_t i;
	int rc;

	if ((rc = stream_unique(ks, imp, src)) != 0)
		return rc;
	rc = keystore_import_apply(txn, imp, ks->replace, ks->now);
	if (rc == GW_ERR_EXISTS) {
		/* Counted and said; the caller refuses the import. */
		gw_err_clear();
		rc = 0;
	}
	if (rc != 0)
		return rc;
	for (i = 0; i < imp->n; i++) {
		o = imp->e[i].outcome;
		ks->count[o]++;
		if (fn != NULL)
			fn(arg, imp->e[i].name, imp->e[i].line, o);
	}
	return 0;
}

int
keystore_entry_starts(const char *line, size_t len)
{
	return len >= 5 && memcmp(line, "name:", 5) == 0;
}

/* ---- the pipe: the next chunk parsed while one is written ------------- */

struct keystore_pipe {
	struct keystore_stream *ks;
	struct textstream *ts;
	const char *src;
	int (*stop)(const char *, size_t);
	int take_first;
	struct gw_buf chunk;
	struct keystore_import *imp;	/* the chunk parsed; NULL: the end */
	struct keystore_import *last;	/* the one given to the caller */
	struct keystore_import *spent;	/* the one before: freed first */
	int rc;
	char why[1024];			/* its error's detail (per thread) */
	pthread_t tid;
	int running, done;
};

static void *
pipe_read(void *arg)
{
	struct keystore_pipe *p = arg;
	unsigned first = 0;
	int r = 1;

	gw_err_clear();
	keystore_import_free(p->spent);
	p->spent = NULL;
	p->imp = NULL;
	gw_buf_reset(&p->chunk);
	if (p->take_first) {
		p->take_first = 0;
		r = textstream_take_into(p->ts, &p->chunk, &first);
	}
	if (r == 1) {
		unsigned f = 0;

		r = textstream_chunk(p->ts, &p->chunk, TEXTSTREAM_CHUNK,
				     keystore_entry_starts, p->stop, &f);
		if (first == 0)
			first = f;
		/* The header alone is a chunk too (an empty section). */
		if (r == 0 && p->chunk.len > 0)
			r = 1;
	}
	if (r > 0)
		r = keystore_stream_parse(p->ks, (const char *)p->chunk.data,
					  p->chunk.len, p->src, first, &p->imp);
	p->rc = r < 0 ? r : 0;
	snprintf(p->why, sizeof(p->why), "%s", gw_err_detail());
	gw_err_clear();
	return NULL;
}

static void
pipe_start(struct keystore_pipe *p)
{
	p->running = pthread_create(&p->tid, NULL, pipe_read, p) == 0;
	if (!p->running)
		(void)pipe_read(p);
}

static void
pipe_join(struct keystore_pipe *p)
{
	if (p->running)
		pthread_join(p->tid, NULL);
	p->running = 0;
}

int
keystore_pipe_new(struct keystore_stream *ks, struct textstream *ts,
		  const char *src, int (*stop)(const char *, size_t),
		  int take_first, struct keystore_pipe **out)
{
	struct keystore_pipe *p;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return GW_ERR_NOMEM;
	p->ks = ks;
	p->ts = ts;
	p->src = src;
	p->stop = stop;
	p->take_first = take_first;
	gw_buf_init(&p->chunk, TEXTSTREAM_CHUNK_MAX);
	pipe_start(p);
	*out = p;
	return 0;
}

int
keystore_pipe_next(struct keystore_pipe *p, struct keystore_import **imp)
{
	*imp = NULL;
	if (p->done)
		return 0;
	pipe_join(p);
	/* The caller is done with the chunk it had. */
	p->spent = p->last;
	p->last = NULL;
	if (p->rc != 0 || p->imp == NULL) {
		p->done = 1;
		if (p->rc != 0 && p->why[0] != '\0')
			return gw_err_set(p->rc, "%s", p->why);
		return p->rc;
	}
	p->last = p->imp;
	p->imp = NULL;
	pipe_start(p);
	*imp = p->last;
	return 0;
}

void
keystore_pipe_free(struct keystore_pipe *p)
{
	if (p == NULL)
		return;
	pipe_join(p);
	keystore_import_free(p->imp);
	keystore_import_free(p->last);
	keystore_import_free(p->spent);
	gw_buf_free(&p->chunk);
	free(p);
}
