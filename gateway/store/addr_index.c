/*
 * addr_index.c - the address indexes of the key stores (addr_index.h).
 */
#include "addr_index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "addr_rule.h"
#include "castore.h"
#include "cert_lean.h"
#include "cert_names.h"
#include "gw_err.h"
#include "harvest.h"
#include "identity.h"
#include "keystore.h"

/* An index key: name, NUL, record key. */
#define IX_KEY_MAX (ADDR_INDEX_MAX + 1 + 256)

/* ---- the names of one certificate, without repeats --------------------- */

struct names {
	size_t n, cap;
	char (*v)[ADDR_INDEX_MAX + 1];
};

static int
names_add(void *arg, const char *name, size_t len)
{
	struct names *s = arg;
	void *p;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strlen(s->v[i]) == len && memcmp(s->v[i], name, len) == 0)
			return 0;
	if (s->n == s->cap) {
		if ((p = reallocarray(s->v, s->cap ? 2 * s->cap : 8,
				      sizeof(*s->v))) == NULL)
			return GW_ERR_NOMEM;
		s->v = p;
		s->cap = s->cap ? 2 * s->cap : 8;
	}
	memcpy(s->v[s->n], name, len);
	s->v[s->n++][len] = '\0';
	return 0;
}

/* "s:" and sender folded into buf; 0, or -1 when too long. */
static int
sender_name(const char *sender, char *buf, size_t *len)
{
	size_t i, n = strlen(sender);

	if (n + 2 > ADDR_INDEX_MAX)
		return -1;
	buf[0] = 's';
	buf[1] = ':';
	for (i = 0; i < n; i++)
		buf[2 + i] = sender[i] >= 'A' && sender[i] <= 'Z'
				 ? (char)(sender[i] + ('a' - 'A'))
				 : sender[i];
	buf[2 + n] = '\0';
	*len = n + 2;
	return 0;
}

/* ---- the names a certificate is found by ------------------------------ */

int
addr_index_name_ski(const ASN1_OCTET_STRING *ski, char *buf, size_t size)
{
	return cert_name_ski(ski, buf, size);
}

int
addr_index_name_issuer(const X509_NAME *issuer, const ASN1_INTEGER *serial,
		       char *buf, size_t size)
{
	return cert_name_issuer(issuer, serial, buf, size);
}

int
addr_index_name_subject(const X509_NAME *subject, char *buf, size_t size)
{
	return cert_name_subject(subject, buf, size);
}

static int
cert_names(X509 *cert, struct names *s)
{
	char buf[ADDR_INDEX_MAX + 1];
	unsigned char md[32];
	const ASN1_OCTET_STRING *ski;
	int rc;

	if ((rc = cert_sha256(cert, md)) != 0)
		return rc;
	if ((rc = cert_name_hex('f', md, sizeof(md), buf, sizeof(buf))) != 0 ||
	    (rc = names_add(s, buf, strlen(buf))) != 0 ||
	    (rc = addr_index_name_issuer(X509_get_issuer_name(cert),
					 X509_get0_serialNumber(cert), buf,
					 sizeof(buf))) != 0 ||
	    (rc = names_add(s, buf, strlen(buf))) != 0 ||
	    (rc = addr_index_name_subject(X509_get_subject_name(cert), buf,
					  sizeof(buf))) != 0 ||
	    (rc = names_add(s, buf, strlen(buf))) != 0)
		return rc;
	if ((ski = X509_get0_subject_key_id(cert)) != NULL &&
	    ((rc = addr_index_name_ski(ski, buf, sizeof(buf))) != 0 ||
	     (rc = names_add(s, buf, strlen(buf))) != 0))
		return rc;
	return 0;
}

static void
lru_name(uint64_t when, char *buf, size_t size)
{
	snprintf(buf, size, "u:%016llx", (unsigned long long)when);
}

/* Every name of a record: its addresses, its certificate's, and for a
 * harvested key its sender's and its place in the LRU order (lru).
 * !full: the names of format 2 only (addresses, sender). */
static int
names_of(X509 *cert, const char *sender, const uint64_t *lru, int full,
	 struct names *s)
{
	char buf[ADDR_INDEX_MAX + 1];
	size_t len;
	int rc;

	memset(s, 0, sizeof(*s));
	if ((rc = addr_rule_index_names(cert, names_add, s)) != 0 ||
	    (full && (rc = cert_names(cert, s)) != 0))
		return rc;
	if (sender != NULL && sender_name(sender, buf, &len) == 0 &&
	    (rc = names_add(s, buf, len)) != 0)
		return rc;
	if (full && lru != NULL) {
		lru_name(*lru, buf, sizeof(buf));
		return names_add(s, buf, strlen(buf));
	}
	return 0;
}

static void
names_free(struct names *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int
ix_key(char *buf, const char *name, const void *id, size_t idlen, size_t *len)
{
	size_t n = strlen(name);

	if (idlen == 0 || n + 1 + idlen > IX_KEY_MAX)
		return gw_err_set(GW_ERR_INVALID, "index: record key of %zu "
				  "bytes", idlen);
	memcpy(buf, name, n);
	buf[n] = '\0';
	memcpy(buf + n + 1, id, idlen);
	*len = n + 1 + idlen;
	return 0;
}

/* ---- changes ------------------------------------------------------------ */

static int
change(struct gw_txn *txn, const char *ixdb, X509 *cert, const char *sender,
       const uint64_t *lru, const void *id, size_t idlen, int add)
{
	struct names s;
	char key[IX_KEY_MAX];
	size_t i, len;
	int rc;

	if ((rc = names_of(cert, sender, lru, 1, &s)) != 0)
		goto out;
	for (i = 0; i < s.n && rc == 0; i++) {
		if ((rc = ix_key(key, s.v[i], id, idlen, &len)) != 0)
			break;
		if (add)
			rc = gw_txn_put(txn, ixdb, key, len, "", 0, 0);
		else if ((rc = gw_txn_del(txn, ixdb, key, len)) ==
			 GW_ERR_NOT_FOUND)
			rc = 0;
	}
out:
	names_free(&s);
	return rc;
}

int
addr_index_add(struct gw_txn *txn, const char *ixdb, X509 *cert,
	       const char *sender, const void *id, size_t idlen)
{
	return change(txn, ixdb, cert, sender, NULL, id, idlen, 1);
}

int
addr_index_del(struct gw_txn *txn, const char *ixdb, X509 *cert,
	       const char *sender, const void *id, size_t idlen)
{
	return change(txn, ixdb, cert, sender, NULL, id, idlen, 0);
}

int
addr_index_add_harvested(struct gw_txn *txn, X509 *cert, const char *sender,
			 uint64_t lru, const char *id)
{
	return change(txn, GW_DB_HARVESTED_IX, cert, sender, &lru, id,
		      strlen(id), 1);
}

int
addr_index_del_harvested(struct gw_txn *txn, X509 *cert, const char *sender,
			 uint64_t lru, const char *id)
{
	return change(txn, GW_DB_HARVESTED_IX, cert, sender, &lru, id,
		      strlen(id), 0);
}

int
addr_index_lru_move(struct gw_txn *txn, uint64_t from, uint64_t to,
		    const char *id)
{
	char name[ADDR_INDEX_MAX + 1], key[IX_KEY_MAX];
	size_t len;
	int rc;

	if (from == to)
		return 0;
	lru_name(from, name, sizeof(name));
	if ((rc = ix_key(key, name, id, strlen(id), &len)) != 0)
		return rc;
	if ((rc = gw_txn_del(txn, GW_DB_HARVESTED_IX, key, len)) != 0 &&
	    rc != GW_ERR_NOT_FOUND)
		return rc;
	lru_name(to, name, sizeof(name));
	if ((rc = ix_key(key, name, id, strlen(id), &len)) != 0)
		return rc;
	return gw_txn_put(txn, GW_DB_HARVESTED_IX, key, len, "", 0, 0);
}

/* A record that no longer decodes: every entry ending in its key. */
struct purge_ctx {
	const void *id;
	size_t idlen;
	size_t n, cap;
	char **key;
	size_t *len;
};

static int
purge_one(void *arg, const void *key, size_t klen, const void *val,
	  size_t vlen)
{
	struct purge_ctx *c = arg;
	const char *k = key;
	size_t cap;
	void *p, *q;

	(void)val;
	(void)vlen;
	if (klen < c->idlen + 2 || k[klen - c->idlen - 1] != '\0' ||
	    memcmp(k + klen - c->idlen, c->id, c->idlen) != 0)
		return 0;
	if (c->n == c->cap) {
		cap = c->cap ? 2 * c->cap : 8;
		if ((p = reallocarray(c->key, cap, sizeof(*c->key))) == NULL)
			return GW_ERR_NOMEM;
		c->key = p;
		if ((q = reallocarray(c->len, cap, sizeof(*c->len))) == NULL)
			return GW_ERR_NOMEM;
		c->len = q;
		c->cap = cap;
	}
	if ((c->key[c->n] = malloc(klen)) == NULL)
		return GW_ERR_NOMEM;
	memcpy(c->key[c->n], key, klen);
	c->len[c->n++] = klen;
	return 0;
}

int
addr_index_purge(struct gw_txn *txn, const char *ixdb, const void *id,
		 size_t idlen)
{
	struct purge_ctx c;
	size_t i;
	int rc;

	memset(&c, 0, sizeof(c));
	c.id = id;
	c.idlen = idlen;
	rc = gw_txn_foreach(txn, ixdb, purge_one, &c);
	for (i = 0; i < c.n; i++) {
		if (rc == 0)
			rc = gw_txn_del(txn, ixdb, c.key[i], c.len[i]);
		free(c.key[i]);
	}
	free(c.key);
	free(c.len);
	return rc;
}

/* ---- lookups ------------------------------------------------------------ */

struct find_ctx {
	struct gw_txn *txn;
	const char *ixdb;
	struct addr_index_hits *h;
	size_t plen;
};

static int
hit_one(void *arg, const void *key, size_t klen, const void *val,
	size_t vlen)
{
	struct find_ctx *c = arg;
	struct addr_index_hits *h = c->h;
	size_t n = klen - c->plen, cap;
	void *p, *q;

	(void)val;
	(void)vlen;
	if (klen <= c->plen)
		return 0;
	if (h->n == h->cap) {
		cap = h->cap ? 2 * h->cap : 8;
		if ((p = reallocarray(h->key, cap, sizeof(*h->key))) == NULL)
			return GW_ERR_NOMEM;
		h->key = p;
		if ((q = reallocarray(h->len, cap, sizeof(*h->len))) == NULL)
			return GW_ERR_NOMEM;
		h->len = q;
		h->cap = cap;
	}
	if ((h->key[h->n] = malloc(n + 1)) == NULL)
		return GW_ERR_NOMEM;
	memcpy(h->key[h->n], (const char *)key + c->plen, n);
	h->key[h->n][n] = '\0';
	h->len[h->n++] = n;
	return 0;
}

static int
query_one(void *arg, const char *name, size_t len)
{
	struct find_ctx *c = arg;
	char prefix[ADDR_INDEX_MAX + 1];

	memcpy(prefix, name, len);
	prefix[len] = '\0';
	c->plen = len + 1;
	return gw_txn_foreach_prefix(c->txn, c->ixdb, prefix, len + 1, hit_one,
				     c);
}

/* LMDB's order of keys: bytes, then the shorter first. */
static int
key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static void
hits_sort(struct addr_index_hits *h)
{
	size_t i, j, o;
	char *k;
	size_t l;

	/* Insertion sort: a handful of candidates per address. */
	for (i = 1; i < h->n; i++) {
		k = h->key[i];
		l = h->len[i];
		for (j = i; j > 0 && key_cmp(h->key[j - 1], h->len[j - 1], k,
					     l) > 0; j--) {
			h->key[j] = h->key[j - 1];
			h->len[j] = h->len[j - 1];
		}
		h->key[j] = k;
		h->len[j] = l;
	}
	for (i = 0, o = 0; i < h->n; i++) {
		if (o > 0 && key_cmp(h->key[o - 1], h->len[o - 1], h->key[i],
				     h->len[i]) == 0) {
			free(h->key[i]);
			continue;
		}
		h->key[o] = h->key[i];
		h->len[o++] = h->len[i];
	}
	h->n = o;
}

int
addr_index_find(struct gw_txn *txn, const char *ixdb, const char *addr,
		struct addr_index_hits *out)
{
	struct find_ctx c = {txn, ixdb, out, 0};
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = addr_rule_index_query(addr, query_one, &c)) == -1)
		return gw_err_set(GW_ERR_INVALID, "not an address");
	if (rc != 0) {
		addr_index_hits_free(out);
		return rc;
	}
	hits_sort(out);
	return 0;
}

int
addr_index_find_sender(struct gw_txn *txn, const char *sender,
		       struct addr_index_hits *out)
{
	struct find_ctx c = {txn, GW_DB_HARVESTED_IX, out, 0};
	char buf[ADDR_INDEX_MAX + 1];
	size_t len;
	int rc;

	memset(out, 0, sizeof(*out));
	if (sender_name(sender, buf, &len) != 0)
		return 0;
	if ((rc = query_one(&c, buf, len)) != 0) {
		addr_index_hits_free(out);
		return rc;
	}
	return 0;
}

int
addr_index_find_name(struct gw_txn *txn, const char *ixdb, const char *name,
		     struct addr_index_hits *out)
{
	struct find_ctx c = {txn, ixdb, out, 0};
	int rc;

	memset(out, 0, sizeof(*out));
	if (strlen(name) > ADDR_INDEX_MAX)
		return 0;
	if ((rc = query_one(&c, name, strlen(name))) != 0) {
		addr_index_hits_free(out);
		return rc;
	}
	return 0;
}

/* The first LRU entry whose record is not exclude. */
struct lru_ctx {
	const char *exclude;
	char *id;
	int found;
};

static int
lru_first(void *arg, const void *key, size_t klen, const void *val,
	  size_t vlen)
{
	struct lru_ctx *c = arg;
	const char *k = key;
	size_t plen = 2 + 16 + 1;

	(void)val;
	(void)vlen;
	if (klen != plen + HARVEST_ID_LEN || k[plen - 1] != '\0' ||
	    (c->exclude != NULL &&
	     memcmp(k + plen, c->exclude, HARVEST_ID_LEN) == 0))
		return 0;
	memcpy(c->id, k + plen, HARVEST_ID_LEN);
	c->id[HARVEST_ID_LEN] = '\0';
	c->found = 1;
	return 1;
}

int
addr_index_lru_oldest(struct gw_txn *txn, const char *exclude, char *id)
{
	struct lru_ctx c = {exclude, id, 0};
	int rc;

	rc = gw_txn_foreach_prefix(txn, GW_DB_HARVESTED_IX, "u:", 2, lru_first,
				   &c);
	if (rc < 0)
		return rc;
	return c.found;
}

void
addr_index_hits_free(struct addr_index_hits *h)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		free(h->key[i]);
	free(h->key);
	free(h->len);
	memset(h, 0, sizeof(*h));
}

/* ---- the store format and the upgrade ---------------------------------- */

int
addr_index_format(struct gw_txn *txn, unsigned *format)
{
	const void *val;
	size_t vlen, i;
	unsigned f = 0;
	int rc;

	*format = 1;
	rc = gw_txn_get(txn, GW_DB_META, ADDR_INDEX_META_KEY,
			strlen(ADDR_INDEX_META_KEY), &val, &vlen);
	if (rc == GW_ERR_NOT_FOUND)
		return 0;
	if (rc != 0)
		return rc;
	for (i = 0; i < vlen && i < 6; i++) {
		if (((const char *)val)[i] < '0' || ((const char *)val)[i] > '9')
			break;
		f = f * 10 + (unsigned)(((const char *)val)[i] - '0');
	}
	if (vlen == 0 || i != vlen || f == 0)
		return gw_err_set(GW_ERR_STORE,
				  "store: meta '%s' is not a format number",
				  ADDR_INDEX_META_KEY);
	*format = f;
	return 0;
}

int
addr_index_ready(struct gw_txn *txn)
{
	unsigned f;
	int rc;

	if ((rc = addr_index_format(txn, &f)) != 0)
		return rc;
	return f >= ADDR_INDEX_FORMAT_ADDR;
}

int
addr_index_ready_ids(struct gw_txn *txn)
{
	unsigned f;
	int rc;

	if ((rc = addr_index_format(txn, &f)) != 0)
		return rc;
	return f >= ADDR_INDEX_FORMAT;
}

static int
up_pubkey(void *arg, const struct keystore_key *k)
{
	return addr_index_add(arg, GW_DB_PUBKEYS_IX, k->cert, NULL, k->name,
			      strlen(k->name));
}

static int
up_harvested(void *arg, const struct harvested_key *k)
{
	return addr_index_add_harvested(arg, k->cert, k->address,
					harvested_lru_time(k), k->id);
}

static int
up_identity(void *arg, const struct identity *id)
{
	return identity_index_add(arg, id);
}

static int
up_ca(void *arg, const struct castore_ca *ca)
{
	return castore_index_add(arg, ca);
}

int
addr_index_upgrade(struct gw_txn *txn)
{
	char v[16];
	int rc;

	if ((rc = addr_index_ready_ids(txn)) != 0)
		return rc < 0 ? rc : 0;
	snprintf(v, sizeof(v), "%d", ADDR_INDEX_FORMAT);
	if ((rc = gw_txn_clear(txn, GW_DB_PUBKEYS_IX)) != 0 ||
	    (rc = gw_txn_clear(txn, GW_DB_HARVESTED_IX)) != 0 ||
	    (rc = gw_txn_clear(txn, GW_DB_IDENTITIES_IX)) != 0 ||
	    (rc = gw_txn_clear(txn, GW_DB_CAS_IX)) != 0 ||
	    (rc = identity_foreach(txn, up_identity, txn)) != 0 ||
	    (rc = castore_foreach(txn, up_ca, txn)) != 0 ||
	    (rc = keystore_foreach(txn, up_pubkey, txn)) != 0 ||
	    (rc = harvested_foreach(txn, up_harvested, txn)) != 0)
		return rc;
	return gw_txn_put(txn, GW_DB_META, ADDR_INDEX_META_KEY,
			  strlen(ADDR_INDEX_META_KEY), v, strlen(v), 0);
}

/* ---- store check -------------------------------------------------------- */

struct check_ctx {
	struct gw_txn *txn;
	const char *ixdb;
	int full;	/* format 3: the certificate and LRU names too */
	size_t want;	/* index entries the records call for */
};

/* Every name of s is indexed for record key id (a kind's record:
 * "record", "identity"), and counted. */
static int
check_indexed(struct check_ctx *c, const struct names *s, const char *kind,
	      const void *id, size_t idlen)
{
	const void *val;
	char key[IX_KEY_MAX];
	size_t i, len, vlen;
	int rc = 0;

	for (i = 0; i < s->n; i++) {
		if ((rc = ix_key(key, s->v[i], id, idlen, &len)) != 0)
			break;
		rc = gw_txn_get(c->txn, c->ixdb, key, len, &val, &vlen);
		if (rc == GW_ERR_NOT_FOUND) {
			rc = gw_err_set(GW_ERR_STORE,
					"database '%s': %s '%.*s' is not "
					"indexed under '%s'",
					c->ixdb, kind, (int)idlen,
					(const char *)id, s->v[i]);
			break;
		}
		if (rc != 0)
			break;
		c->want++;
	}
	return rc;
}

static int
check_rec(struct check_ctx *c, X509 *cert, const char *sender,
	  const uint64_t *lru, const char *id, size_t idlen)
{
	struct names s;
	int rc;

	if ((rc = names_of(cert, sender, lru, c->full, &s)) == 0)
		rc = check_indexed(c, &s, "record", id, idlen);
	names_free(&s);
	return rc;
}

static int
check_pubkey(void *arg, const struct keystore_key *k)
{
	return check_rec(arg, k->cert, NULL, NULL, k->name, strlen(k->name));
}

static int
check_harvested(void *arg, const struct harvested_key *k)
{
	uint64_t lru = harvested_lru_time(k);

	return check_rec(arg, k->cert, k->address, &lru, k->id,
			 HARVEST_ID_LEN);
}

/* An entry whose record is gone, or that the record does not name. */
struct dangle_ctx {
	struct gw_txn *txn;
	const char *ixdb, *db;
};

static int
dangle_one(void *arg, const void *key, size_t klen, const void *val,
	   size_t vlen)
{
	struct dangle_ctx *c = arg;
	const char *nul = memchr(key, '\0', klen);
	const void *rv;
	size_t rl, nlen;

	(void)val;
	(void)vlen;
	if (nul == NULL || nul + 1 == (const char *)key + klen)
		return gw_err_set(GW_ERR_STORE,
				  "database '%s': an entry without a record "
				  "key",
				  c->ixdb);
	nlen = (size_t)(nul - (const char *)key);
	if (gw_txn_get(c->txn, c->db, nul + 1, klen - nlen - 1, &rv, &rl) !=
	    0)
		return gw_err_set(GW_ERR_STORE,
				  "database '%s': entry '%.*s' names record "
				  "'%.*s', which '%s' does not hold",
				  c->ixdb, (int)nlen, (const char *)key,
				  (int)(klen - nlen - 1), nul + 1, c->db);
	return 0;
}

/* An identity's names (identity.h), checked as a record's. */
static int
check_identity(void *arg, const struct identity *id)
{
	struct check_ctx *c = arg;
	struct names s;
	int rc;

	memset(&s, 0, sizeof(s));
	if ((rc = identity_index_names(id, names_add, &s)) == 0)
		rc = check_indexed(c, &s, "identity", id->name,
				   strlen(id->name));
	names_free(&s);
	return rc;
}

static int
check_ca(void *arg, const struct castore_ca *ca)
{
	struct check_ctx *c = arg;
	const void *val;
	char name[CERT_NAME_MAX + 1], key[IX_KEY_MAX];
	size_t len, vlen;
	int rc;

	if ((rc = castore_index_name(ca->cert, name, sizeof(name))) != 0 ||
	    (rc = ix_key(key, name, ca->id, CASTORE_ID_LEN, &len)) != 0)
		return rc;
	rc = gw_txn_get(c->txn, c->ixdb, key, len, &val, &vlen);
	if (rc == GW_ERR_NOT_FOUND)
		return gw_err_set(GW_ERR_STORE,
				  "database '%s': CA %.16s is not indexed "
				  "under '%s'",
				  c->ixdb, ca->id, name);
	if (rc == 0)
		c->want++;
	return rc;
}

static int
check_one_ix(struct gw_txn *txn, const char *ixdb, const char *db,
	     int harvested, int full)
{
	struct check_ctx c = {txn, ixdb, full, 0};
	struct dangle_ctx d = {txn, ixdb, db};
	size_t have;
	int rc;

	if ((rc = harvested == 3   ? castore_foreach(txn, check_ca, &c)
		  : harvested == 2 ? identity_foreach(txn, check_identity, &c)
		  : harvested	   ? harvested_foreach(txn, check_harvested, &c)
				   : keystore_foreach(txn, check_pubkey, &c)) != 0 ||
	    (rc = gw_txn_foreach(txn, ixdb, dangle_one, &d)) != 0 ||
	    (rc = gw_txn_count(txn, ixdb, &have)) != 0)
		return rc;
	/* Every entry the records call for is there; more entries than
	 * that are entries no record calls for. */
	if (have != c.want)
		return gw_err_set(GW_ERR_STORE,
				  "database '%s': %zu entries, the records "
				  "of '%s' call for %zu",
				  ixdb, have, db, c.want);
	return 0;
}

int
addr_index_check(struct gw_txn *txn)
{
	size_t a, b;
	int rc, full;

	if ((full = addr_index_ready_ids(txn)) < 0)
		return full;
	if ((rc = addr_index_ready(txn)) < 0)
		return rc;
	if (rc == 0) {
		if ((rc = gw_txn_count(txn, GW_DB_PUBKEYS_IX, &a)) != 0 ||
		    (rc = gw_txn_count(txn, GW_DB_HARVESTED_IX, &b)) != 0)
			return rc;
		if (a + b != 0)
			return gw_err_set(GW_ERR_STORE,
					  "index entries in a store of format "
					  "1 (meta '%s' is missing)",
					  ADDR_INDEX_META_KEY);
		return 0;
	}
	if ((rc = check_one_ix(txn, GW_DB_PUBKEYS_IX, GW_DB_PUBKEYS, 0,
			       full)) != 0 ||
	    (rc = check_one_ix(txn, GW_DB_HARVESTED_IX, GW_DB_HARVESTED, 1,
			       full)) != 0)
		return rc;
	/* Format 3 indexes the identities and the CAs; identity_put() and
	 * castore_add() keep entries in an older store too, which its
	 * upgrade rebuilds. */
	if (!full)
		return 0;
	if ((rc = check_one_ix(txn, GW_DB_IDENTITIES_IX, GW_DB_IDENTITIES, 2,
			       full)) != 0)
		return rc;
	return check_one_ix(txn, GW_DB_CAS_IX, GW_DB_CAS, 3, full);
}
