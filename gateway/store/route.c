/*
 * route.c - the sending profile table (route.h): entry checks, the
 * table in memory, its one record.
 */
#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_err.h"
#include "gw_record.h"
#include "identity.h"

enum {
	TAG_VERSION = 1,
	TAG_FIELD = 2,		/* starts an entry */
	TAG_PATTERN = 3,
	TAG_PROFILE = 4,
};

#define ROUTE_VERSION 1
#define ROUTE_KEY "table"

const char *
route_field_name(enum route_field f)
{
	switch (f) {
	case ROUTE_SENDER:
		return "sender";
	case ROUTE_RECIPIENT:
		return "recipient";
	}
	return "?";
}

int
route_field_parse(const char *s, enum route_field *out)
{
	if (strcmp(s, "sender") == 0)
		*out = ROUTE_SENDER;
	else if (strcmp(s, "recipient") == 0)
		*out = ROUTE_RECIPIENT;
	else
		return GW_ERR_INVALID;
	return 0;
}

int
route_validate(const struct route *r)
{
	char why[256];

	if (r->field != ROUTE_SENDER && r->field != ROUTE_RECIPIENT)
		return gw_err_set(GW_ERR_INVALID,
				  "field: %d is not sender or recipient",
				  (int)r->field);
	if (memchr(r->pattern, '\0', sizeof(r->pattern)) == NULL ||
	    addr_rule_pattern_valid(r->pattern, why, sizeof(why)) != 0)
		return gw_err_set(GW_ERR_INVALID, "%s: %s",
				  route_field_name(r->field),
				  memchr(r->pattern, '\0', sizeof(r->pattern))
				      ? why
				      : "longer than an address");
	if (memchr(r->profile, '\0', sizeof(r->profile)) == NULL ||
	    !identity_name_valid(r->profile))
		return gw_err_set(GW_ERR_INVALID,
				  "profile: '%.64s' is not a sending profile "
				  "name",
				  memchr(r->profile, '\0', sizeof(r->profile))
				      ? r->profile
				      : "");
	return 0;
}

int
route_normalize(struct route *r)
{
	char norm[sizeof(r->pattern)];
	int rc;

	if ((rc = route_validate(r)) != 0)
		return rc;
	if (addr_rule_pattern_norm(r->pattern, norm, sizeof(norm)) != 0)
		return gw_err_set(GW_ERR_INTERNAL, "%s: cannot normalise "
				  "'%s'", route_field_name(r->field),
				  r->pattern);
	memcpy(r->pattern, norm, sizeof(norm));
	return 0;
}

int
route_check(struct gw_txn *txn, const struct route *r)
{
	struct profile p;
	int rc;

	if ((rc = route_validate(r)) != 0)
		return rc;
	rc = profile_get(txn, r->profile, &p);
	if (rc == GW_ERR_NOT_FOUND) {
		gw_err_clear();
		return gw_err_set(GW_ERR_INVALID,
				  "profile: no sending profile named '%s' "
				  "(see 'smimegw profile list')",
				  r->profile);
	}
	return rc;
}

/* ---- the table in memory ------------------------------------------------ */

void
route_table_init(struct route_table *t)
{
	memset(t, 0, sizeof(*t));
}

void
route_table_free(struct route_table *t)
{
	free(t->r);
	route_table_init(t);
}

static int
grow(struct route_table *t)
{
	struct route *nr;
	size_t ncap;

	if (t->n >= ROUTE_MAX)
		return gw_err_set(GW_ERR_LIMIT,
				  "the table holds %d entries, its most",
				  ROUTE_MAX);
	if (t->n < t->cap)
		return 0;
	ncap = t->cap ? t->cap * 2 : 16;
	if ((nr = realloc(t->r, ncap * sizeof(*nr))) == NULL)
		return GW_ERR_NOMEM;
	t->r = nr;
	t->cap = ncap;
	return 0;
}

int
route_table_insert(struct route_table *t, size_t pos, const struct route *r)
{
	size_t i;
	int rc;

	if (pos == 0)
		pos = t->n + 1;
	if (pos > t->n + 1)
		return gw_err_set(GW_ERR_INVALID,
				  "position: %zu is not in 1..%zu", pos,
				  t->n + 1);
	for (i = 0; i < t->n; i++)
		if (t->r[i].field == r->field &&
		    strcmp(t->r[i].pattern, r->pattern) == 0)
			return gw_err_set(GW_ERR_INVALID,
					  "%s: '%s' is already at position "
					  "%zu (profile '%s')",
					  route_field_name(r->field),
					  r->pattern, i + 1, t->r[i].profile);
	if ((rc = grow(t)) != 0)
		return rc;
	memmove(&t->r[pos], &t->r[pos - 1], (t->n - (pos - 1)) * sizeof(*t->r));
	t->r[pos - 1] = *r;
	t->n++;
	return 0;
}

int
route_table_remove(struct route_table *t, size_t pos)
{
	if (pos == 0 || pos > t->n)
		return gw_err_set(GW_ERR_NOT_FOUND,
				  "position: no entry %zu (the table has %zu)",
				  pos, t->n);
	memmove(&t->r[pos - 1], &t->r[pos], (t->n - pos) * sizeof(*t->r));
	t->n--;
	return 0;
}

int
route_table_same(const struct route_table *a, const struct route_table *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (a->r[i].field != b->r[i].field ||
		    strcmp(a->r[i].pattern, b->r[i].pattern) != 0 ||
		    strcmp(a->r[i].profile, b->r[i].profile) != 0)
			return 0;
	return 1;
}

size_t
route_table_uses(const struct route_table *t, const char *profile)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->r[i].profile, profile) == 0)
			return i + 1;
	return 0;
}

/* ---- the record ----------------------------------------------------------- */

static int
corrupt(const char *what)
{
	return gw_err_set(GW_ERR_STORE, "corrupt sending profile table "
			  "record (%s)", what);
}

static int
field_str(const struct gw_rec_field *f, char *dst, size_t size)
{
	if (f->len >= size || memchr(f->p, '\0', f->len) != NULL)
		return corrupt("a field too long");
	memcpy(dst, f->p, f->len);
	dst[f->len] = '\0';
	return 0;
}

static int
decode(const unsigned char *buf, size_t len, struct route_table *t)
{
	struct gw_rec_field f;
	struct route *cur = NULL;
	size_t off = 0, i;
	int r, rc = 0;

	while (rc == 0 && (r = gw_rec_next(buf, len, &off, &f)) == 1) {
		if (f.tag == TAG_FIELD) {
			if ((rc = grow(t)) != 0)
				break;
			cur = &t->r[t->n++];
			memset(cur, 0, sizeof(*cur));
			cur->field = (enum route_field)gw_rec_u64(&f);
		} else if (f.tag == TAG_PATTERN && cur != NULL)
			rc = field_str(&f, cur->pattern, sizeof(cur->pattern));
		else if (f.tag == TAG_PROFILE && cur != NULL)
			rc = field_str(&f, cur->profile, sizeof(cur->profile));
	}
	if (rc != 0)
		return rc;
	if (r < 0)
		return r;
	for (i = 0; i < t->n; i++)
		if (t->r[i].pattern[0] == '\0' || t->r[i].profile[0] == '\0' ||
		    strcmp(route_field_name(t->r[i].field), "?") == 0)
			return corrupt("an incomplete entry");
	return 0;
}

int
route_table_get(struct gw_txn *txn, struct route_table *t)
{
	const void *val;
	size_t vlen;
	int rc;

	route_table_init(t);
	rc = gw_txn_get(txn, GW_DB_ROUTES, ROUTE_KEY, strlen(ROUTE_KEY), &val,
			&vlen);
	if (rc == GW_ERR_NOT_FOUND) {
		gw_err_clear();
		return 0;
	}
	if (rc == 0 && (rc = decode(val, vlen, t)) != 0)
		route_table_free(t);
	return rc;
}

int
route_table_put(struct gw_txn *txn, const struct route_table *t)
{
	struct gw_rec_writer *w;
	const unsigned char *buf;
	size_t i, len;
	int rc = 0;

	if (t->n == 0) {
		rc = gw_txn_del(txn, GW_DB_ROUTES, ROUTE_KEY,
				strlen(ROUTE_KEY));
		if (rc == GW_ERR_NOT_FOUND) {
			gw_err_clear();
			rc = 0;
		}
		return rc;
	}
	if ((w = gw_rec_writer_new()) == NULL)
		return GW_ERR_NOMEM;
	rc |= gw_rec_put_u64(w, TAG_VERSION, ROUTE_VERSION);
	for (i = 0; i < t->n; i++) {
		rc |= gw_rec_put_u64(w, TAG_FIELD, (uint64_t)t->r[i].field);
		rc |= gw_rec_put_str(w, TAG_PATTERN, t->r[i].pattern);
		rc |= gw_rec_put_str(w, TAG_PROFILE, t->r[i].profile);
	}
	if (rc != 0)
		rc = gw_err_set(GW_ERR_NOMEM,
				"encoding the sending profile table");
	else {
		buf = gw_rec_data(w, &len);
		rc = gw_txn_put(txn, GW_DB_ROUTES, ROUTE_KEY,
				strlen(ROUTE_KEY), buf, len, 0);
	}
	gw_rec_writer_free(w);
	return rc;
}
