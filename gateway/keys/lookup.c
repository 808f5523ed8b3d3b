/*
 * lookup.c - a recipient's encryption key: partners' public keys first,
 * then harvested keys (lookup.h).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/x509.h>

#include "addr_index.h"
#include "cert_info.h"

#include "gw_err.h"
#include "harvest.h"
#include "keystore.h"
#include "lookup.h"
#include "textfmt.h"

#define WHY_MAX 1024 /* "why unusable" detail of a lookup */

/* 0 within its validity at now, 1 expired, -1 not yet valid, -2 bad. */
static int
validity_at(X509 *x, time_t now)
{
	int r;

	if ((r = X509_cmp_time(X509_get0_notAfter(x), &now)) == 0)
		return -2;
	if (r < 0)
		return 1;
	if ((r = X509_cmp_time(X509_get0_notBefore(x), &now)) == 0)
		return -2;
	return r > 0 ? -1 : 0;
}

/* ---- lookup -------------------------------------------------------------- */

/*
 * One lookup runs over one source at a time (public keys, then the
 * harvested keys) with the same rules: lookup_consider() sees each
 * stored certificate, lookup_pick() takes the best usable candidate.
 * The unusable keys of both sources are collected for the detail.
 */
struct cand {
	X509 *cert; /* up-ref'd */
	char name[KEYSTORE_NAME_MAX + 1];
	char san[256];
};

struct lookup_ctx {
	const char *addr;
	time_t now;
	struct cand best[4]; /* by enum addr_match */
	struct gw_buf why;   /* unusable keys that cover addr */
	size_t unusable;
};

/* 1 when a is newer than b: later notBefore, then later notAfter. */
static int
newer(X509 *a, X509 *b)
{
	int c;

	c = ASN1_TIME_compare(X509_get0_notBefore(a), X509_get0_notBefore(b));
	if (c == 0)
		c = ASN1_TIME_compare(X509_get0_notAfter(a),
				      X509_get0_notAfter(b));
	return c == 1;
}

static void
why_add(struct lookup_ctx *c, const char *name, const char *reason)
{
	c->unusable++;
	if (c->why.len > WHY_MAX)
		return;
	if (gw_buf_addf(&c->why, "%s'%s' (%s)", c->why.len ? ", " : "",
			name, reason) != 0)
		gw_err_clear();
}

/* name is what the match reports; shown what the detail calls it. */
static void
lookup_consider(struct lookup_ctx *c, const char *name, const char *shown,
		X509 *cert, unsigned caps)
{
	enum addr_match kind;
	struct cand *b;
	char san[256], t[32], why[96];
	int v;

	if ((kind = addr_rule_match(cert, c->addr, san, sizeof(san))) ==
	    ADDR_MATCH_NONE)
		return;
	if (!(caps & KEYSTORE_CAP_ENCRYPT)) {
		snprintf(why, sizeof(why), "%s: no encryption key usage",
			 keystore_caps_name(caps));
		why_add(c, shown, why);
		return;
	}
	if ((v = validity_at(cert, c->now)) != 0) {
		if (v == 1)
			snprintf(why, sizeof(why), "expired on %s",
				 cert_info_time(X509_get0_notAfter(cert), t));
		else if (v == -1)
			snprintf(why, sizeof(why), "not valid before %s",
				 cert_info_time(X509_get0_notBefore(cert), t));
		else
			snprintf(why, sizeof(why), "unreadable validity");
		why_add(c, shown, why);
		return;
	}
	b = &c->best[kind];
	if (b->cert != NULL && !newer(cert, b->cert))
		return;
	X509_free(b->cert);
	X509_up_ref(cert);
	b->cert = cert;
	snprintf(b->name, sizeof(b->name), "%s", name);
	snprintf(b->san, sizeof(b->san), "%s", san);
}

static int
lookup_one(void *arg, const struct keystore_key *k)
{
	lookup_consider(arg, k->name, k->name, k->cert, k->caps);
	return 0;
}

static int
lookup_harvested_one(void *arg, const struct harvested_key *k)
{
	char shown[40];

	snprintf(shown, sizeof(shown), "harvested %.16s", k->id);
	lookup_consider(arg, k->id, shown, k->cert, keystore_caps(k->cert));
	return 0;
}

/* GW_ERR_INVALID (with its detail) when addr is not an address. */
static int
lookup_init(struct lookup_ctx *c, const char *addr, time_t now)
{
	const char *local, *dom;
	size_t llen, dlen;
	char shown[96];

	memset(c, 0, sizeof(*c));
	gw_buf_init(&c->why, WHY_MAX + 512);
	if (addr == NULL || addr_rule_split(addr, &local, &llen, &dom, &dlen) != 0) {
		textfmt_escape(shown, sizeof(shown), addr,
		       addr ? strlen(addr) : 0, 0);
		return gw_err_set(GW_ERR_INVALID,
				  "'%s' is not an email address "
				  "(local@domain)",
				  shown);
	}
	c->addr = addr;
	c->now = now ? now : time(NULL);
	return 0;
}

static void
lookup_drop(struct lookup_ctx *c)
{
	size_t i;

	for (i = 0; i < 4; i++) {
		X509_free(c->best[i].cert);
		c->best[i].cert = NULL;
	}
}

static void
lookup_free(struct lookup_ctx *c)
{
	lookup_drop(c);
	gw_buf_free(&c->why);
}

/* 1 and the best usable candidate of the source just run, else 0. */
static int
lookup_pick(struct lookup_ctx *c, int harvested, X509 **out,
	    struct lookup_match *m)
{
	size_t i;

	for (i = ADDR_MATCH_EMAIL; i <= ADDR_MATCH_WILDCARD; i++) {
		if (c->best[i].cert == NULL)
			continue;
		*out = c->best[i].cert;
		c->best[i].cert = NULL;
		m->kind = (enum addr_match)i;
		m->harvested = harvested;
		memcpy(m->name, c->best[i].name, sizeof(m->name));
		memcpy(m->san, c->best[i].san, sizeof(m->san));
		return 1;
	}
	return 0;
}

/* GW_ERR_NOT_FOUND naming why nothing was usable; noun: "public key". */
static int
lookup_none(struct lookup_ctx *c, const char *noun)
{
	char shown[96];

	textfmt_escape(shown, sizeof(shown), c->addr,
	       strlen(c->addr), 0);
	if (c->unusable == 0)
		return gw_err_set(GW_ERR_NOT_FOUND,
				  "no %s for %s: no key names the address, "
				  "its domain or a wildcard over it",
				  noun, shown);
	return gw_err_set(GW_ERR_NOT_FOUND,
			  "no usable %s for %s: %zu key%s cover%s it but "
			  "cannot encrypt now: %s%s",
			  noun, shown, c->unusable, c->unusable == 1 ? "" : "s",
			  c->unusable == 1 ? "s" : "",
			  c->why.len ? (const char *)c->why.data : "",
			  c->why.len > WHY_MAX ? ", ..." : "");
}

/*
 * The records of one source that may cover the address, in record
 * order: through the address index when the store has one
 * (addr_index.h), else all of them.  Either way lookup_consider()
 * judges each by the address rule.
 */
static int
source_run(struct gw_txn *txn, struct lookup_ctx *c, int harvested)
{
	struct addr_index_hits h;
	struct keystore_key *k = NULL;
	struct harvested_key *hk = NULL;
	size_t i;
	int rc;

	if ((rc = addr_index_ready(txn)) < 0)
		return rc;
	if (rc == 0)
		return harvested ? harvested_foreach(txn, lookup_harvested_one, c)
				 : keystore_foreach(txn, lookup_one, c);
	if ((rc = addr_index_find(txn, harvested ? GW_DB_HARVESTED_IX
						 : GW_DB_PUBKEYS_IX,
				  c->addr, &h)) != 0)
		return rc;
	for (i = 0; i < h.n && rc == 0; i++) {
		if (harvested) {
			if (h.len[i] != HARVEST_ID_LEN)
				continue;
			if ((rc = harvested_get(txn, h.key[i], &hk)) == 0)
				rc = lookup_harvested_one(c, hk);
			harvested_key_free(hk);
			hk = NULL;
		} else {
			if ((rc = keystore_get(txn, h.key[i], &k)) == 0)
				rc = lookup_one(c, k);
			keystore_key_free(k);
			k = NULL;
		}
		/* An entry without its record (store check reports it):
		 * the walk would not find that key either. */
		if (rc == GW_ERR_NOT_FOUND) {
			gw_err_clear();
			rc = 0;
		}
	}
	addr_index_hits_free(&h);
	return rc;
}

int
lookup_harvested(struct gw_txn *txn, const char *addr, time_t now,
			  X509 **out, struct lookup_match *m)
{
	struct lookup_ctx c;
	int rc;

	*out = NULL;
	memset(m, 0, sizeof(*m));
	if ((rc = lookup_init(&c, addr, now)) != 0 ||
	    (rc = source_run(txn, &c, 1)) != 0)
		goto out;
	rc = lookup_pick(&c, 1, out, m) ? 0 : lookup_none(&c, "harvested key");
out:
	lookup_free(&c);
	return rc;
}

int
lookup_key_match(struct gw_txn *txn, const char *addr, time_t now,
		      X509 **out, struct lookup_match *m)
{
	struct lookup_ctx c;
	int rc;

	*out = NULL;
	memset(m, 0, sizeof(*m));
	if ((rc = lookup_init(&c, addr, now)) != 0 ||
	    (rc = source_run(txn, &c, 0)) != 0)
		goto out;
	if (lookup_pick(&c, 0, out, m))
		goto out;
	/* No usable public key: the harvested keys, same rules. */
	lookup_drop(&c);
	if ((rc = source_run(txn, &c, 1)) != 0)
		goto out;
	if (!lookup_pick(&c, 1, out, m))
		rc = lookup_none(&c, "public key");
out:
	lookup_free(&c);
	return rc;
}

int
lookup_key(struct gw_txn *txn, const char *addr, time_t now, X509 **out,
		char *name, size_t namelen)
{
	struct lookup_match m;
	int rc;

	if ((rc = lookup_key_match(txn, addr, now, out, &m)) == 0 &&
	    name != NULL && namelen > 0)
		snprintf(name, namelen, "%s", m.name);
	return rc;
}
