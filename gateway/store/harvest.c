/*
 * harvest.c - harvested public keys: the record codec, the byte bound
 * with LRU eviction, the update log behind the 48-hour alert, and
 * harvest_message().
 *
 * Costs.  A certificate already stored ("seen") and harvest_touch() are
 * direct gets by ID.  A new certificate reads the other keys harvested
 * from its address through the sender entries of the address index
 * (addr_index.h, kept by rec_write_buf() and rec_delete() in the same
 * transaction); a store without indexes is indexed by its first write.
 * The byte total is a counter in GW_DB_META (META_BYTES), kept by the
 * only two functions that write or delete records here (rec_write(),
 * rec_delete()); when the counter is absent (a store written before it
 * existed) it is recomputed by one scan.  Eviction runs only when a
 * write would pass max_bytes: each pass reads the least recently used
 * record from the "u:" entries of the index (ordered by LRU time, then
 * ID; rec_write_buf() moves a record's entry when its time changes)
 * and deletes it; a new record needs one or two evictions at most in a
 * full store.
 * Update events live in GW_DB_META under META_UPDATE for 48 hours, so
 * the alert survives eviction and deletion of the keys themselves; they
 * are read by their key prefix.
 */
#include "harvest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "addr_index.h"
#include "alerts.h"
#include "cert_info.h"
#include "fpid.h"
#include "gw_err.h"
#include "gw_record.h"
#include "keystore.h"
#include "addr_rule.h"

enum {
	TAG_VERSION = 1,
	TAG_CERT = 2,
	TAG_ADDRESS = 3,
	TAG_MESSAGE_ID = 4,
	TAG_SENDER = 5,
	TAG_VERIFICATION = 6,
	TAG_REPLACES = 7,
	TAG_FIRST_SEEN = 8,
	TAG_LAST_SEEN = 9,
	TAG_LAST_USED = 10,
	TAG_SEEN_COUNT = 11,
	TAG_UPDATED = 12,
};

/* Update events: TAG_U_* in a META_UPDATE record. */
enum {
	TAG_U_TIME = 1,
	TAG_U_ID = 2,
	TAG_U_ADDRESS = 3,
	TAG_U_DOMAIN = 4,
	TAG_U_MESSAGE_ID = 5,
};

#define HARVEST_VERSION 1
#define META_BYTES "harvest.bytes"
#define META_UPDATE "harvest.update." /* + 16 hex time + "." + ID */
#define MSGID_MAX 998		      /* a header line's length */
#define HARVEST_ADDR_MAX 255
#define EVICT_MAX 100000	      /* evictions in one write */

_Static_assert(HARVEST_ID_LEN == FPID_LEN, "a key's ID is its fingerprint ID");

const char *
harvest_what_name(enum harvest_what w)
{
	switch (w) {
	case HARVEST_NEW:
		return "new";
	case HARVEST_SEEN:
		return "seen";
	case HARVEST_UPDATED:
		return "updated";
	case HARVEST_SKIPPED:
		break;
	}
	return "skipped";
}

/* ---- small helpers ----------------------------------------------------- */

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int
ci_equal(const char *a, const char *b)
{
	for (; *a != '\0' && lower((unsigned char)*a) ==
				 lower((unsigned char)*b);
	     a++, b++)
		;
	return *a == '\0' && *b == '\0';
}

/* Printable ASCII of s kept, any other byte '?', cut to size - 1. */
static void
clean(char *dst, size_t size, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		dst[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	dst[i] = '\0';
}

/* The lower-cased domain of addr (after its last '@'). */
static void
domain_of(const char *addr, char *dst, size_t size)
{
	const char *at = strrchr(addr, '@');
	size_t i;

	clean(dst, size, at ? at + 1 : addr);
	for (i = 0; dst[i] != '\0'; i++)
		dst[i] = (char)lower((unsigned char)dst[i]);
}

static void
fmt_time(uint64_t secs, char buf[32])
{
	time_t t = (time_t)secs;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/*
 * Details latched while a signer is judged are reasons, not failures:
 * they are copied into the outcome and dropped, and whatever the
 * caller had latched before harvest_message() is latched again.
 */
struct saved_detail {
	int had;
	char text[1024];
};

static void
detail_save(struct saved_detail *s)
{
	const char *d = gw_err_detail();

	s->had = d[0] != '\0';
	snprintf(s->text, sizeof(s->text), "%s", d);
}

static void
detail_take(const struct saved_detail *s, char *dst, size_t size)
{
	snprintf(dst, size, "%s", gw_err_detail());
	gw_err_clear();
	if (s->had)
		gw_err_set(GW_ERR_INTERNAL, "%s", s->text);
}

/* ---- record codec ------------------------------------------------------ */

void
harvested_key_free(struct harvested_key *k)
{
	if (k == NULL)
		return;
	X509_free(k->cert);
	free(k->address);
	free(k->message_id);
	free(k->sender);
	free(k->verification);
	free(k->replaces);
	free(k);
}

static int
encode(const struct harvested_key *k, struct gw_rec_writer *w)
{
	int rc = 0;

	/* Fixed-size integers always written: harvest_touch() and a
	 * refresh never change a record's size but for its strings. */
	rc |= gw_rec_put_u64(w, TAG_VERSION, HARVEST_VERSION);
	rc |= gw_rec_put_str(w, TAG_ADDRESS, k->address);
	rc |= gw_rec_put_str(w, TAG_MESSAGE_ID, k->message_id);
	rc |= gw_rec_put_str(w, TAG_SENDER, k->sender);
	rc |= gw_rec_put_str(w, TAG_VERIFICATION, k->verification);
	if (k->replaces != NULL)
		rc |= gw_rec_put_str(w, TAG_REPLACES, k->replaces);
	rc |= gw_rec_put_u64(w, TAG_FIRST_SEEN, k->first_seen);
	rc |= gw_rec_put_u64(w, TAG_LAST_SEEN, k->last_seen);
	rc |= gw_rec_put_u64(w, TAG_LAST_USED, k->last_used);
	rc |= gw_rec_put_u64(w, TAG_SEEN_COUNT, k->seen_count);
	rc |= gw_rec_put_u64(w, TAG_UPDATED, k->updated ? 1 : 0);
	if (rc != 0)
		return gw_err_set(GW_ERR_NOMEM, "encoding harvested key record");
	return gw_rec_put_x509(w, TAG_CERT, k->cert);
}

static int
str_field(const struct gw_rec_field *f, char **dst)
{
	free(*dst);
	return (*dst = gw_rec_strdup(f)) == NULL ? GW_ERR_NOMEM : 0;
}

/* Decodes a record; with !want_cert the certificate is left NULL (for
 * scans that need the provenance only). */
static int
decode(const void *key, size_t klen, const unsigned char *buf, size_t len,
       int want_cert, struct harvested_key **out)
{
	struct harvested_key *k;
	struct gw_rec_field f;
	size_t off = 0;
	int r, rc = 0, have_cert = 0;

	*out = NULL;
	if (klen != HARVEST_ID_LEN)
		return gw_err_set(GW_ERR_STORE, "corrupt harvested key ID");
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return GW_ERR_NOMEM;
	memcpy(k->id, key, klen);
	k->id[klen] = '\0';
	while (rc == 0 && (r = gw_rec_next(buf, len, &off, &f)) == 1) {
		switch (f.tag) {
		case TAG_CERT:
			have_cert = 1;
			if (want_cert)
				rc = gw_rec_get_x509(&f, &k->cert,
						     "harvested key record");
			break;
		case TAG_ADDRESS: rc = str_field(&f, &k->address); break;
		case TAG_MESSAGE_ID: rc = str_field(&f, &k->message_id); break;
		case TAG_SENDER: rc = str_field(&f, &k->sender); break;
		case TAG_VERIFICATION:
			rc = str_field(&f, &k->verification);
			break;
		case TAG_REPLACES: rc = str_field(&f, &k->replaces); break;
		case TAG_FIRST_SEEN: k->first_seen = gw_rec_u64(&f); break;
		case TAG_LAST_SEEN: k->last_seen = gw_rec_u64(&f); break;
		case TAG_LAST_USED: k->last_used = gw_rec_u64(&f); break;
		case TAG_SEEN_COUNT: k->seen_count = gw_rec_u64(&f); break;
		case TAG_UPDATED: k->updated = gw_rec_u64(&f) != 0; break;
		default:
			break;
		}
	}
	if (rc == 0 && r < 0)
		rc = r;
	if (rc == 0 && (!have_cert || k->address == NULL))
		rc = gw_err_set(GW_ERR_STORE,
				"incomplete harvested key record %.16s", k->id);
	if (rc == 0 && (k->message_id == NULL || k->sender == NULL ||
			k->verification == NULL)) {
		if ((k->message_id == NULL &&
		     (k->message_id = strdup("")) == NULL) ||
		    (k->sender == NULL && (k->sender = strdup("")) == NULL) ||
		    (k->verification == NULL &&
		     (k->verification = strdup("?")) == NULL))
			rc = GW_ERR_NOMEM;
	}
	if (rc != 0) {
		harvested_key_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

/* ---- the byte total ---------------------------------------------------- */

static int
sum_one(void *arg, const void *key, size_t klen, const void *val,
	size_t vlen)
{
	*(uint64_t *)arg += klen + vlen;
	return 0;
}

static int
bytes_set(struct gw_txn *txn, uint64_t total)
{
	unsigned char b[8];

	gw_rec_be64_put(b, total);
	return gw_txn_put(txn, GW_DB_META, META_BYTES, strlen(META_BYTES), b,
			  sizeof(b), 0);
}

/* The counter, or a recount when it is absent (*recounted then 1). */
static int
bytes_read(struct gw_txn *txn, uint64_t *total, int *recounted)
{
	const void *val;
	size_t vlen;
	int rc;

	*total = 0;
	*recounted = 0;
	rc = gw_txn_get(txn, GW_DB_META, META_BYTES, strlen(META_BYTES), &val,
			&vlen);
	if (rc == 0 && vlen == 8) {
		*total = gw_rec_be64(val);
		return 0;
	}
	if (rc != 0 && rc != GW_ERR_NOT_FOUND)
		return rc;
	*recounted = 1;
	return gw_txn_foreach(txn, GW_DB_HARVESTED, sum_one, total);
}

/* The counter, or a recount (stored back) when it is absent. */
static int
bytes_get(struct gw_txn *txn, uint64_t *total)
{
	int rc, recounted;

	if ((rc = bytes_read(txn, total, &recounted)) != 0 || !recounted)
		return rc;
	return bytes_set(txn, *total);
}

/* Size of the stored record id (key + value), 0 when absent. */
static int
rec_size(struct gw_txn *txn, const char *id, uint64_t *size)
{
	const void *val;
	size_t vlen;
	int rc;

	*size = 0;
	rc = gw_txn_get(txn, GW_DB_HARVESTED, id, HARVEST_ID_LEN, &val, &vlen);
	if (rc == GW_ERR_NOT_FOUND)
		return 0;
	if (rc == 0)
		*size = HARVEST_ID_LEN + vlen;
	return rc;
}

/* The index entries of record id (addr_index.h), added or removed;
 * the certificate is read from the record value buf. */
static int
rec_index(struct gw_txn *txn, const char *id, const unsigned char *buf,
	  size_t len, int add)
{
	struct harvested_key *k = NULL;
	int rc;

	if (decode(id, HARVEST_ID_LEN, buf, len, 1, &k) != 0) {
		if (add)
			return GW_ERR_STORE;
		gw_err_clear();
		return addr_index_purge(txn, GW_DB_HARVESTED_IX, id,
					HARVEST_ID_LEN);
	}
	rc = add ? addr_index_add_harvested(txn, k->cert, k->address,
					    harvested_lru_time(k), id)
		 : addr_index_del_harvested(txn, k->cert, k->address,
					    harvested_lru_time(k), id);
	harvested_key_free(k);
	return rc;
}

uint64_t
harvested_lru_time(const struct harvested_key *k)
{
	return k->last_used ? k->last_used : k->last_seen;
}

/* The LRU time of the record value buf (its certificate not decoded). */
static int
rec_lru(const char *id, const unsigned char *buf, size_t len, uint64_t *when)
{
	struct harvested_key *k = NULL;
	int rc;

	if ((rc = decode(id, HARVEST_ID_LEN, buf, len, 0, &k)) != 0)
		return rc;
	*when = harvested_lru_time(k);
	harvested_key_free(k);
	return 0;
}

static int
rec_delete(struct gw_txn *txn, const char *id)
{
	const void *val;
	uint64_t total, size;
	size_t vlen;
	int rc;

	if ((rc = addr_index_upgrade(txn)) != 0 ||
	    (rc = bytes_get(txn, &total)) != 0 ||
	    (rc = rec_size(txn, id, &size)) != 0)
		return rc;
	if (size != 0 &&
	    ((rc = gw_txn_get(txn, GW_DB_HARVESTED, id, HARVEST_ID_LEN, &val,
			      &vlen)) != 0 ||
	     (rc = rec_index(txn, id, val, vlen, 0)) != 0))
		return rc;
	if ((rc = gw_txn_del(txn, GW_DB_HARVESTED, id, HARVEST_ID_LEN)) != 0)
		return rc;
	return bytes_set(txn, total > size ? total - size : 0);
}

/* Writes k over any record with its ID and keeps the counter. */
static int
rec_write_buf(struct gw_txn *txn, const char *id, const unsigned char *buf,
	      size_t len)
{
	uint64_t total, old, was = 0, now;
	const void *val;
	size_t vlen;
	int rc;

	if ((rc = addr_index_upgrade(txn)) != 0 ||
	    (rc = bytes_get(txn, &total)) != 0 ||
	    (rc = rec_size(txn, id, &old)) != 0)
		return rc;
	/* The LRU time the old record is indexed under. */
	if (old != 0 &&
	    ((rc = gw_txn_get(txn, GW_DB_HARVESTED, id, HARVEST_ID_LEN, &val,
			      &vlen)) != 0 ||
	     (rc = rec_lru(id, val, vlen, &was)) != 0))
		return rc;
	if ((rc = gw_txn_put(txn, GW_DB_HARVESTED, id, HARVEST_ID_LEN, buf,
			     len, 0)) != 0)
		return rc;
	/* The ID is the certificate's fingerprint: a record rewritten
	 * under its ID keeps its certificate and its index entries, but
	 * for its place in the LRU order. */
	if (old == 0 && (rc = rec_index(txn, id, buf, len, 1)) != 0)
		return rc;
	if (old != 0 && ((rc = rec_lru(id, buf, len, &now)) != 0 ||
			 (rc = addr_index_lru_move(txn, was, now, id)) != 0))
		return rc;
	total = total > old ? total - old : 0;
	return bytes_set(txn, total + HARVEST_ID_LEN + len);
}

/* ---- provenance scans ------------------------------------------------- */

/* Called with each record of a scan, decoded without its certificate;
 * returns 0 to go on, < 0 to fail. */
typedef int (*scan_fn)(void *arg, const struct harvested_key *k);

struct scan_ctx {
	const char *exclude; /* an ID to pass over, or NULL */
	scan_fn fn;
	void *arg;
};

static int
scan_one(void *arg, const void *key, size_t klen, const void *val,
	 size_t vlen)
{
	struct scan_ctx *c = arg;
	struct harvested_key *k = NULL;
	int rc;

	if (klen != HARVEST_ID_LEN ||
	    (c->exclude != NULL &&
	     memcmp(key, c->exclude, HARVEST_ID_LEN) == 0))
		return 0;
	if ((rc = decode(key, klen, val, vlen, 0, &k)) != 0)
		return rc;
	rc = c->fn(c->arg, k);
	harvested_key_free(k);
	return rc;
}

/* Calls fn for each record but exclude, in ID order. */
static int
scan(struct gw_txn *txn, const char *exclude, scan_fn fn, void *arg)
{
	struct scan_ctx c = {exclude, fn, arg};

	return gw_txn_foreach(txn, GW_DB_HARVESTED, scan_one, &c);
}

static int get_by_id(struct gw_txn *txn, const char *id, int want_cert,
		     struct harvested_key **out);

/*
 * Calls fn for each record harvested from address (ASCII case ignored)
 * but exclude, in ID order: through the index (addr_index.h) when the
 * store has one, else by a scan.  fn sees only records whose address
 * it must still compare (the index folds case as ci_equal() does).
 */
static int
by_sender(struct gw_txn *txn, const char *address, const char *exclude,
	  scan_fn fn, void *arg)
{
	struct addr_index_hits h;
	struct harvested_key *k = NULL;
	size_t i;
	int rc;

	if ((rc = addr_index_ready(txn)) < 0)
		return rc;
	if (rc == 0)
		return scan(txn, exclude, fn, arg);
	if ((rc = addr_index_find_sender(txn, address, &h)) != 0)
		return rc;
	for (i = 0; i < h.n && rc == 0; i++) {
		if (h.len[i] != HARVEST_ID_LEN ||
		    (exclude != NULL &&
		     memcmp(h.key[i], exclude, HARVEST_ID_LEN) == 0))
			continue;
		if ((rc = get_by_id(txn, h.key[i], 0, &k)) == 0)
			rc = fn(arg, k);
		else if (rc == GW_ERR_NOT_FOUND)
			rc = 0; /* an entry without its record */
		harvested_key_free(k);
		k = NULL;
	}
	addr_index_hits_free(&h);
	return rc;
}

/* ---- eviction ----------------------------------------------------------- */

struct lru_ctx {
	int found;
	uint64_t when;
	char id[HARVEST_ID_LEN + 1];
};

static int
lru_one(void *arg, const struct harvested_key *k)
{
	struct lru_ctx *c = arg;
	uint64_t when;

	when = harvested_lru_time(k);
	/* Oldest first; among equals the lowest ID (keys come sorted). */
	if (!c->found || when < c->when) {
		c->found = 1;
		c->when = when;
		memcpy(c->id, k->id, sizeof(c->id));
	}
	return 0;
}

/* The least recently used record but exclude: the first LRU entry of
 * the index (addr_index.h), or a scan in a store older than that. */
static int
lru_find(struct gw_txn *txn, const char *exclude, struct lru_ctx *c)
{
	int rc;

	if ((rc = addr_index_ready_ids(txn)) < 0)
		return rc;
	if (rc == 0)
		return scan(txn, exclude, lru_one, c);
	if ((rc = addr_index_lru_oldest(txn, exclude, c->id)) < 0)
		return rc;
	c->found = rc;
	return 0;
}

/*
 * Evicts least recently used records (never exclude) until the total
 * plus grow bytes fits max.  GW_ERR_LIMIT when it cannot fit.
 */
static int
make_room(struct gw_txn *txn, const char *exclude, uint64_t grow,
	  uint64_t max, size_t *evicted, char *why, size_t whylen)
{
	struct lru_ctx c;
	uint64_t total;
	int rc;

	for (;;) {
		if ((rc = bytes_get(txn, &total)) != 0)
			return rc;
		if (total + grow <= max)
			return 0;
		memset(&c, 0, sizeof(c));
		if (*evicted >= EVICT_MAX)
			return gw_err_set(GW_ERR_LIMIT,
					  "harvest: more than %d evictions "
					  "for one write",
					  EVICT_MAX);
		if ((rc = lru_find(txn, exclude, &c)) != 0)
			return rc;
		if (!c.found) {
			snprintf(why, whylen,
				 "the record (%llu bytes) does not fit "
				 "harvest_max_size (%llu bytes)",
				 (unsigned long long)grow,
				 (unsigned long long)max);
			return GW_ERR_LIMIT;
		}
		if ((rc = rec_delete(txn, c.id)) != 0)
			return rc;
		(*evicted)++;
	}
}

/*
 * Writes k, first evicting others as needed.  1 with why set when the
 * record cannot fit (nothing written), 0 when written, < 0 on error.
 */
static int
store_key(struct gw_txn *txn, const struct harvested_key *k, uint64_t max,
	  size_t *evicted, char *why, size_t whylen)
{
	struct gw_rec_writer *w;
	const unsigned char *buf;
	uint64_t old, need;
	size_t len;
	int rc;

	if ((w = gw_rec_writer_new()) == NULL)
		return GW_ERR_NOMEM;
	if ((rc = encode(k, w)) != 0 || (rc = rec_size(txn, k->id, &old)) != 0)
		goto out;
	buf = gw_rec_data(w, &len);
	need = HARVEST_ID_LEN + len;
	if (need > old) {
		rc = make_room(txn, k->id, need - old, max, evicted, why,
			       whylen);
		if (rc == GW_ERR_LIMIT && why[0] != '\0') {
			rc = 1;
			goto out;
		}
		if (rc != 0)
			goto out;
	}
	rc = rec_write_buf(txn, k->id, buf, len);
out:
	gw_rec_writer_free(w);
	return rc;
}

/* ---- store access ------------------------------------------------------- */

int
harvested_put(struct gw_txn *txn, const struct harvested_key *k)
{
	struct gw_rec_writer *w;
	const unsigned char *buf;
	char id[HARVEST_ID_LEN + 1];
	size_t len;
	int rc;

	if (k->cert == NULL || k->address == NULL || k->message_id == NULL ||
	    k->sender == NULL || k->verification == NULL)
		return gw_err_set(GW_ERR_INVALID,
				  "incomplete harvested key %.16s", k->id);
	if ((rc = fpid_of(k->cert, id)) != 0)
		return rc;
	if (strcmp(id, k->id) != 0)
		return gw_err_set(GW_ERR_INVALID,
				  "harvested key %.16s: the ID is not the "
				  "certificate's fingerprint (%.16s)",
				  k->id, id);
	if ((w = gw_rec_writer_new()) == NULL)
		return GW_ERR_NOMEM;
	if ((rc = encode(k, w)) == 0) {
		buf = gw_rec_data(w, &len);
		rc = rec_write_buf(txn, k->id, buf, len);
	}
	gw_rec_writer_free(w);
	return rc;
}

static int
get_by_id(struct gw_txn *txn, const char *id, int want_cert,
	  struct harvested_key **out)
{
	const void *val;
	size_t vlen;
	int rc;

	*out = NULL;
	if ((rc = gw_txn_get(txn, GW_DB_HARVESTED, id, HARVEST_ID_LEN, &val,
			     &vlen)) != 0)
		return rc;
	return decode(id, HARVEST_ID_LEN, val, vlen, want_cert, out);
}

int
harvest_touch(struct gw_txn *txn, const char *id, time_t now)
{
	struct harvested_key *k = NULL;
	size_t evicted = 0;
	char why[160] = "";
	int rc;

	if (id == NULL || strlen(id) != HARVEST_ID_LEN)
		return gw_err_set(GW_ERR_INVALID,
				  "harvested key ID: not %d hex digits",
				  HARVEST_ID_LEN);
	rc = get_by_id(txn, id, 1, &k);
	if (rc == GW_ERR_NOT_FOUND)
		return gw_err_set(rc, "no harvested key with ID %s", id);
	if (rc != 0)
		return rc;
	k->last_used = (uint64_t)now;
	/* Same size as before: no eviction can happen. */
	rc = store_key(txn, k, UINT64_MAX, &evicted, why, sizeof(why));
	harvested_key_free(k);
	return rc;
}

/* Finds the keys harvested for an address. */
struct find_ctx {
	const char *address;
	size_t hits;
	char id[HARVEST_ID_LEN + 1];
};

static int
find_one(void *arg, const struct harvested_key *k)
{
	struct find_ctx *c = arg;

	if (ci_equal(k->address, c->address) && c->hits++ == 0)
		memcpy(c->id, k->id, sizeof(c->id));
	return 0;
}

/* The full ID that ref names. */
static int
resolve(struct gw_txn *txn, const char *ref, char id[HARVEST_ID_LEN + 1])
{
	struct find_ctx c;
	char norm[HARVEST_ID_LEN + 1], shown[100];
	int rc, by_id;

	memset(&c, 0, sizeof(c));
	clean(shown, 81, ref);
	if ((by_id = strchr(ref, '@') == NULL)) {
		if (fpid_norm(ref, norm) != 0)
			return gw_err_set(GW_ERR_INVALID,
					  "REF: '%s' is neither %d to %d hex "
					  "digits of a SHA-256 fingerprint nor "
					  "an address",
					  shown, FPID_PREFIX_MIN,
					  HARVEST_ID_LEN);
		rc = fpid_find(txn, GW_DB_HARVESTED, norm, &c.hits, c.id);
	} else {
		if (strlen(ref) > HARVEST_ADDR_MAX)
			return gw_err_set(GW_ERR_INVALID,
					  "REF: address longer than %d bytes",
					  HARVEST_ADDR_MAX);
		/* An administrator's command: every record, so that
		 * records written without their index entries are
		 * found too. */
		c.address = ref;
		rc = scan(txn, NULL, find_one, &c);
	}
	if (rc != 0)
		return rc;
	if (c.hits == 0)
		return gw_err_set(GW_ERR_NOT_FOUND,
				  by_id ? "no harvested key with ID %s"
					: "no harvested key for %s",
				  by_id ? norm : shown);
	if (c.hits > 1)
		return gw_err_set(GW_ERR_INVALID,
				  by_id ? "ID %s is ambiguous: %zu harvested "
					  "keys start with it; give more "
					  "digits"
					: "%s has %zu harvested keys; give "
					  "the ID",
				  by_id ? norm : shown, c.hits);
	memcpy(id, c.id, sizeof(c.id));
	return 0;
}

int
harvested_get(struct gw_txn *txn, const char *ref, struct harvested_key **out)
{
	char id[HARVEST_ID_LEN + 1];
	int rc;

	*out = NULL;
	if ((rc = resolve(txn, ref, id)) != 0)
		return rc;
	return get_by_id(txn, id, 1, out);
}

int
harvested_del(struct gw_txn *txn, const char *ref)
{
	char id[HARVEST_ID_LEN + 1];
	int rc;

	if ((rc = resolve(txn, ref, id)) != 0)
		return rc;
	return rec_delete(txn, id);
}

struct foreach_ctx {
	harvested_fn fn;
	void *arg;
};

static int
foreach_one(void *arg, const void *key, size_t klen, const void *val,
	    size_t vlen)
{
	struct foreach_ctx *c = arg;
	struct harvested_key *k = NULL;
	int rc;

	if ((rc = decode(key, klen, val, vlen, 1, &k)) != 0)
		return rc;
	rc = c->fn(c->arg, k);
	harvested_key_free(k);
	return rc;
}

int
harvested_foreach(struct gw_txn *txn, harvested_fn fn, void *arg)
{
	struct foreach_ctx c = {fn, arg};

	return gw_txn_foreach(txn, GW_DB_HARVESTED, foreach_one, &c);
}

int
harvested_bytes(struct gw_txn *txn, uint64_t *total)
{
	int recounted;

	/* Read-only: never store a recount from here. */
	return bytes_read(txn, total, &recounted);
}

/* ---- the update log and its alert ----------------------------------- */

struct update_ev {
	uint64_t time;
	char id[HARVEST_ID_LEN + 1];
	char address[HARVEST_ADDR_MAX + 1];
	char domain[HARVEST_ADDR_MAX + 1];
	char message_id[MSGID_MAX + 1];
};

struct recent_ctx {
	time_t now;
	const struct update_ev *cur;
	size_t same_domain, same_msgid;
	struct update_ev last;	/* the latest matching event */
	int have_last;
	char (*stale)[sizeof(META_UPDATE) + 16 + 1 + HARVEST_ID_LEN];
	size_t nstale, capstale;
};

static int
ev_decode(const unsigned char *buf, size_t len, struct update_ev *ev)
{
	struct gw_rec_field f;
	size_t off = 0;
	char *s;
	int r;

	memset(ev, 0, sizeof(*ev));
	while ((r = gw_rec_next(buf, len, &off, &f)) == 1) {
		if (f.tag == TAG_U_TIME) {
			ev->time = gw_rec_u64(&f);
			continue;
		}
		if (f.tag < TAG_U_ID || f.tag > TAG_U_MESSAGE_ID)
			continue;
		if ((s = gw_rec_strdup(&f)) == NULL)
			return GW_ERR_NOMEM;
		if (f.tag == TAG_U_ID)
			clean(ev->id, sizeof(ev->id), s);
		else if (f.tag == TAG_U_ADDRESS)
			clean(ev->address, sizeof(ev->address), s);
		else if (f.tag == TAG_U_DOMAIN)
			clean(ev->domain, sizeof(ev->domain), s);
		else
			clean(ev->message_id, sizeof(ev->message_id), s);
		free(s);
	}
	return r < 0 ? r : 0;
}

static int
stale_add(struct recent_ctx *c, const void *key, size_t klen)
{
	void *n;
	size_t ncap;

	if (klen >= sizeof(c->stale[0]))
		return 0; /* not one of ours */
	if (c->nstale == c->capstale) {
		ncap = c->capstale ? c->capstale * 2 : 16;
		if ((n = realloc(c->stale, ncap * sizeof(c->stale[0]))) ==
		    NULL)
			return GW_ERR_NOMEM;
		c->stale = n;
		c->capstale = ncap;
	}
	memcpy(c->stale[c->nstale], key, klen);
	c->stale[c->nstale++][klen] = '\0';
	return 0;
}

static int
recent_one(void *arg, const void *key, size_t klen, const void *val,
	   size_t vlen)
{
	struct recent_ctx *c = arg;
	struct update_ev ev;
	int rc, dom, mid;

	if (klen < sizeof(META_UPDATE) - 1 ||
	    memcmp(key, META_UPDATE, sizeof(META_UPDATE) - 1) != 0)
		return 0;
	if ((rc = ev_decode(val, vlen, &ev)) != 0)
		return rc;
	if (ev.time + HARVEST_ALERT_WINDOW < (uint64_t)c->now)
		return stale_add(c, key, klen);
	if (ev.time > (uint64_t)c->now)
		return 0; /* from a later clock: not "before now" */
	dom = ev.domain[0] != '\0' && strcmp(ev.domain, c->cur->domain) == 0;
	mid = ev.message_id[0] != '\0' &&
	      strcmp(ev.message_id, c->cur->message_id) == 0;
	c->same_domain += dom;
	c->same_msgid += mid;
	if ((dom || mid) && (!c->have_last || ev.time >= c->last.time)) {
		c->last = ev;
		c->have_last = 1;
	}
	return 0;
}

static int
ev_store(struct gw_txn *txn, const struct update_ev *ev)
{
	struct gw_rec_writer *w;
	const unsigned char *buf;
	char key[sizeof(META_UPDATE) + 16 + 1 + HARVEST_ID_LEN];
	size_t len;
	int rc = 0;

	snprintf(key, sizeof(key), "%s%016llx.%s", META_UPDATE,
		 (unsigned long long)ev->time, ev->id);
	if ((w = gw_rec_writer_new()) == NULL)
		return GW_ERR_NOMEM;
	rc |= gw_rec_put_u64(w, TAG_U_TIME, ev->time);
	rc |= gw_rec_put_str(w, TAG_U_ID, ev->id);
	rc |= gw_rec_put_str(w, TAG_U_ADDRESS, ev->address);
	rc |= gw_rec_put_str(w, TAG_U_DOMAIN, ev->domain);
	rc |= gw_rec_put_str(w, TAG_U_MESSAGE_ID, ev->message_id);
	if (rc != 0)
		rc = gw_err_set(GW_ERR_NOMEM, "encoding an update event");
	else {
		buf = gw_rec_data(w, &len);
		rc = gw_txn_put(txn, GW_DB_META, key, strlen(key), buf, len,
				0);
	}
	gw_rec_writer_free(w);
	return rc;
}

static int
report_alert(struct harvest_report *rep, struct gw_txn *txn,
	     const struct alert *a)
{
	int rc;

	if ((rc = alerts_add(txn, a)) != 0)
		return rc;
	if (rep->nalerts < HARVEST_MAX_ALERTS)
		snprintf(rep->alerts[rep->nalerts++], sizeof(rep->alerts[0]),
			 "%s: %s", a->kind, a->text);
	return 0;
}

/*
 * Logs the update ev (after pruning events older than the window) and
 * raises the alert when another one within the window shares its
 * domain or Message-ID.
 */
static int
note_update(struct gw_txn *txn, const struct update_ev *ev,
	    const char *replaces, time_t now, struct harvest_report *rep)
{
	struct recent_ctx c;
	struct alert a;
	char text[ALERTS_TEXT_MAX], t[32], what[64];
	size_t i;
	int rc;

	memset(&c, 0, sizeof(c));
	c.now = now;
	c.cur = ev;
	if ((rc = gw_txn_foreach_prefix(txn, GW_DB_META, META_UPDATE,
					sizeof(META_UPDATE) - 1, recent_one,
					&c)) != 0)
		goto out;
	for (i = 0; i < c.nstale; i++)
		if ((rc = gw_txn_del(txn, GW_DB_META, c.stale[i],
				     strlen(c.stale[i]))) != 0)
			goto out;
	if ((rc = ev_store(txn, ev)) != 0 || !c.have_last)
		goto out;
	snprintf(what, sizeof(what), "%s%s%s",
		 c.same_domain ? "domain" : "",
		 c.same_domain && c.same_msgid ? " and " : "",
		 c.same_msgid ? "Message-ID" : "");
	fmt_time(c.last.time, t);
	snprintf(text, sizeof(text),
		 "more than one updated public key for the same %s within "
		 "48 hours: key %.16s for %.120s (replaces %.16s, Message-ID "
		 "%.200s); previous update: key %.16s for %.120s at %s "
		 "(Message-ID %.200s)",
		 what, ev->id, ev->address, replaces,
		 ev->message_id[0] ? ev->message_id : "none", c.last.id,
		 c.last.address, t,
		 c.last.message_id[0] ? c.last.message_id : "none");
	memset(&a, 0, sizeof(a));
	a.time = (uint64_t)now;
	a.severity = "warning";
	a.kind = "harvest-updates";
	a.text = text;
	a.domain = ev->domain;
	a.message_id = ev->message_id;
	rc = report_alert(rep, txn, &a);
out:
	free(c.stale);
	return rc;
}

/* ---- harvest_message() ------------------------------------------------- */

struct addr_ctx {
	const char *address;
	size_t n;
	uint64_t latest;
	char id[HARVEST_ID_LEN + 1]; /* the most recently seen of them */
};

static int
addr_one(void *arg, const struct harvested_key *k)
{
	struct addr_ctx *c = arg;

	if (ci_equal(k->address, c->address) &&
	    (c->n++ == 0 || k->last_seen > c->latest)) {
		c->latest = k->last_seen;
		memcpy(c->id, k->id, sizeof(c->id));
	}
	return 0;
}

/* Per message: what the signers so far have done. */
struct msg_state {
	const struct harvest_msg *m;
	const struct harvest_opts *o;
	time_t now;
	uint64_t max;
	int updated;		/* one signer counted as updated */
	size_t evicted;
	const char *raw_sender;	/* m->sender or "" */
	char sender[HARVEST_ADDR_MAX + 1];
	char message_id[MSGID_MAX + 1];
	struct saved_detail saved;
};

static void
skip(struct harvest_outcome *oc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
skip(struct harvest_outcome *oc, const char *fmt, ...)
{
	va_list ap;

	oc->what = HARVEST_SKIPPED;
	va_start(ap, fmt);
	vsnprintf(oc->reason, sizeof(oc->reason), fmt, ap);
	va_end(ap);
}

/* 0 when the sender is a usable address. */
static int
sender_ok(const char *s)
{
	const char *at = strrchr(s, '@');
	size_t i, n = strlen(s);

	if (n == 0 || n > HARVEST_ADDR_MAX || at == NULL || at == s || at[1] == '\0')
		return -1;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return -1;
	return 0;
}

/*
 * The certificate rules: 1 with the outcome skipped and its reason when
 * a rule refuses it, 0 when it may be harvested.
 */
static int
judge(struct msg_state *s, X509 *x, struct harvest_outcome *oc)
{
	const struct harvest_opts *o = s->o;
	char t[32], detail[512], ident[256];
	unsigned caps = 0;

	if (!s->m->verified && !o->on_failure) {
		skip(oc, "the message's signature did not verify (harvesting "
			 "on verification failure is off)");
		return 1;
	}
	if (!o->allow_expired &&
	    X509_cmp_time(X509_get0_notAfter(x), &s->now) < 0) {
		skip(oc, "expired on %s (expired keys are not harvested)",
		     cert_info_time(X509_get0_notAfter(x), t));
		return 1;
	}
	if (!o->allow_expired &&
	    X509_cmp_time(X509_get0_notBefore(x), &s->now) > 0) {
		skip(oc, "not valid before %s (such keys are not harvested)",
		     cert_info_time(X509_get0_notBefore(x), t));
		return 1;
	}
	if (!o->allow_self_signed && cert_info_self_signed(x)) {
		skip(oc, "self-signed certificate (self-signed keys are not "
			 "harvested)");
		return 1;
	}
	/* Validity was judged above, with its own option. */
	if (keystore_check(x, 1, s->now, &caps) != 0) {
		detail_take(&s->saved, detail, sizeof(detail));
		skip(oc, "partner requirements: %s", detail);
		return 1;
	}
	if (!(caps & KEYSTORE_CAP_ENCRYPT)) {
		skip(oc, "cannot encrypt (keyUsage lacks keyEncipherment for "
			 "RSA or keyAgreement for EC): %s",
		     keystore_caps_name(caps));
		return 1;
	}
	if (sender_ok(s->raw_sender) != 0) {
		skip(oc, "no usable sender address");
		return 1;
	}
	if (!addr_rule_covers(x, s->raw_sender, ident, sizeof(ident))) {
		ERR_clear_error();
		skip(oc, "does not cover the sender address %.200s", s->sender);
		return 1;
	}
	return 0;
}

static void
set_provenance(struct harvested_key *k, struct msg_state *s)
{
	k->message_id = s->message_id;
	k->sender = s->sender;
	k->verification = (char *)(s->m->verified ? "pass" : "fail");
	k->last_seen = (uint64_t)s->now;
}

/* Refreshes the stored key id: "seen". */
static int
refresh(struct gw_txn *txn, struct msg_state *s, const char *id,
	struct harvest_outcome *oc)
{
	struct harvested_key *k = NULL;
	char *keep[3];
	char why[160] = "";
	int rc;

	if ((rc = get_by_id(txn, id, 1, &k)) != 0)
		return rc;
	snprintf(oc->address, sizeof(oc->address), "%s", k->address);
	keep[0] = k->message_id;
	keep[1] = k->sender;
	keep[2] = k->verification;
	set_provenance(k, s);
	k->seen_count++;
	rc = store_key(txn, k, s->max, &s->evicted, why, sizeof(why));
	k->message_id = keep[0];
	k->sender = keep[1];
	k->verification = keep[2];
	harvested_key_free(k);
	if (rc == 1)
		skip(oc, "%s", why);
	else if (rc == 0) {
		oc->what = HARVEST_SEEN;
		snprintf(oc->reason, sizeof(oc->reason),
			 "already harvested: provenance refreshed");
	}
	return rc < 0 ? rc : 0;
}

/* Stores x as a new key, an update when its address has another. */
static int
add_new(struct gw_txn *txn, struct msg_state *s, X509 *x, const char *id,
	struct harvest_outcome *oc, struct harvest_report *rep)
{
	struct harvested_key k;
	struct addr_ctx ac;
	struct update_ev ev;
	char why[160] = "";
	int rc;

	memset(&ac, 0, sizeof(ac));
	ac.address = s->sender;
	if ((rc = by_sender(txn, s->sender, id, addr_one, &ac)) != 0)
		return rc;
	if (ac.n > 0 && !s->o->updates) {
		skip(oc, "an update of key %.16s for %.160s, and harvesting "
			 "updated keys is off",
		     ac.id, s->sender);
		return 0;
	}
	if (ac.n > 0 && s->updated) {
		skip(oc, "another signer of this message already updated a "
			 "key (at most one per message)");
		return 0;
	}
	memset(&k, 0, sizeof(k));
	memcpy(k.id, id, sizeof(k.id));
	k.cert = x;
	k.address = s->sender;
	set_provenance(&k, s);
	k.first_seen = (uint64_t)s->now;
	k.seen_count = 1;
	k.updated = ac.n > 0;
	k.replaces = ac.n > 0 ? ac.id : NULL;
	if ((rc = store_key(txn, &k, s->max, &s->evicted, why, sizeof(why))) !=
	    0) {
		if (rc == 1)
			skip(oc, "%s", why);
		return rc < 0 ? rc : 0;
	}
	if (ac.n == 0) {
		oc->what = HARVEST_NEW;
		snprintf(oc->reason, sizeof(oc->reason),
			 "first key harvested for %.200s", s->sender);
		return 0;
	}
	s->updated = 1;
	oc->what = HARVEST_UPDATED;
	snprintf(oc->reason, sizeof(oc->reason),
		 "updates key %.16s for %.200s", ac.id, s->sender);
	memset(&ev, 0, sizeof(ev));
	ev.time = (uint64_t)s->now;
	memcpy(ev.id, id, sizeof(ev.id));
	snprintf(ev.address, sizeof(ev.address), "%s", s->sender);
	domain_of(s->sender, ev.domain, sizeof(ev.domain));
	snprintf(ev.message_id, sizeof(ev.message_id), "%s", s->message_id);
	return note_update(txn, &ev, ac.id, s->now, rep);
}

static int
one_signer(struct gw_txn *txn, struct msg_state *s, X509 *x,
	   struct harvest_outcome *oc, struct harvest_report *rep)
{
	char id[HARVEST_ID_LEN + 1], detail[256];
	uint64_t size;
	int rc;

	memset(oc, 0, sizeof(*oc));
	clean(oc->address, sizeof(oc->address), s->sender);
	if (fpid_of(x, id) != 0) {
		detail_take(&s->saved, detail, sizeof(detail));
		skip(oc, "%s", detail);
		return 0;
	}
	memcpy(oc->id, id, sizeof(oc->id));
	if (judge(s, x, oc))
		return 0;
	if ((rc = rec_size(txn, id, &size)) != 0)
		return rc;
	if (size > 0)
		return refresh(txn, s, id, oc);
	return add_new(txn, s, x, id, oc, rep);
}

static int
evicted_alert(struct gw_txn *txn, const struct msg_state *s,
	      struct harvest_report *rep)
{
	struct alert a;
	char text[ALERTS_TEXT_MAX];

	snprintf(text, sizeof(text),
		 "evicted %zu least recently used harvested key%s: the "
		 "repository reached harvest_max_size (%llu bytes)",
		 s->evicted, s->evicted == 1 ? "" : "s",
		 (unsigned long long)s->max);
	memset(&a, 0, sizeof(a));
	a.time = (uint64_t)s->now;
	a.severity = "warning";
	a.kind = "harvest-evicted";
	a.text = text;
	a.message_id = s->message_id;
	return report_alert(rep, txn, &a);
}

int
harvest_message(struct gw_txn *txn, const struct harvest_msg *m,
		const struct harvest_opts *o, time_t now,
		struct harvest_report *rep)
{
	struct msg_state s;
	int i, n, rc = 0;

	memset(rep, 0, sizeof(*rep));
	if (m == NULL || o == NULL)
		return gw_err_set(GW_ERR_INVALID, "harvest: no message");
	memset(&s, 0, sizeof(s));
	s.m = m;
	s.o = o;
	s.now = now;
	s.max = o->max_bytes ? o->max_bytes : HARVEST_DEFAULT_MAX;
	s.raw_sender = m->sender ? m->sender : "";
	clean(s.sender, sizeof(s.sender), s.raw_sender);
	clean(s.message_id, sizeof(s.message_id),
	      m->message_id ? m->message_id : "");
	detail_save(&s.saved);
	n = m->signers ? sk_X509_num(m->signers) : 0;
	/* Signers past HARVEST_MAX_SIGNERS are not looked at. */
	for (i = 0; i < n && rep->n < HARVEST_MAX_SIGNERS; i++) {
		if ((rc = one_signer(txn, &s, sk_X509_value(m->signers, i),
				     &rep->o[rep->n], rep)) != 0)
			return rc;
		rep->n++;
	}
	rep->evicted = s.evicted;
	if (s.evicted > 0)
		rc = evicted_alert(txn, &s, rep);
	return rc;
}

void
harvest_report_log(const struct harvest_report *rep)
{
	const char *sep;
	char kind[64];
	size_t i;

	for (i = 0; i < rep->nalerts && i < HARVEST_MAX_ALERTS; i++) {
		/* "KIND: TEXT", as report_alert() wrote it. */
		if ((sep = strstr(rep->alerts[i], ": ")) == NULL ||
		    (size_t)(sep - rep->alerts[i]) >= sizeof(kind)) {
			alerts_log("harvest", rep->alerts[i]);
			continue;
		}
		snprintf(kind, sizeof(kind), "%.*s",
			 (int)(sep - rep->alerts[i]), rep->alerts[i]);
		alerts_log(kind, sep + 2);
	}
}
