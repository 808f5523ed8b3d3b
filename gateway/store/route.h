/*
 * route.h - the sending profile table: an ordered list of sender and
 * recipient patterns, each naming the sending profile that outgoing
 * mail matching it gets (smimegw(1) "route", smimegwd(8)).
 *
 * An entry is
 *
 *   field    sender | recipient: which envelope address it looks at
 *   pattern  an address, @domain or @.domain (addr_rule_pattern_valid())
 *   profile  a sending profile's name (profile.h)
 *
 * The whole table is one record in GW_DB_ROUTES (key "table"), so that
 * an insertion at a position, a removal and an import each change it
 * in one write and a reader (smimegwd's workers, live) always sees a
 * whole table.  No record is an empty table.  Positions are 1-based.
 *
 * Every function returns 0 or a negative GW_ERR_* with a latched
 * detail, and never begins, commits or aborts the caller's transaction.
 */
#ifndef ROUTE_H
#define ROUTE_H

#include <stddef.h>

#include "addr_rule.h"
#include "gw_store.h"
#include "profile.h"

#define ROUTE_MAX 1000		/* entries in the table */

enum route_field {
	ROUTE_SENDER = 1,
	ROUTE_RECIPIENT = 2,
};

struct route {
	enum route_field field;
	char pattern[ADDR_MAX + 1];
	char profile[PROFILE_NAME_MAX + 1];
};

struct route_table {
	struct route *r;
	size_t n, cap;
};

/* "sender", "recipient"; and back (0 and *out, or GW_ERR_INVALID). */
const char *route_field_name(enum route_field f);
int route_field_parse(const char *s, enum route_field *out);

/*
 * The checks that need no store, naming the field at fault: "sender: "
 * or "recipient: " (the pattern), "profile: " (not a profile name).
 * GW_ERR_INVALID.
 */
int route_validate(const struct route *r);
/* route_validate(), then the pattern in its stored form
 * (addr_rule_pattern_norm(): the domain in lower case, no trailing
 * dot), so that one address is one entry. */
int route_normalize(struct route *r);
/* route_validate(), then the profile is stored in txn ("profile: no
 * sending profile named ..."). */
int route_check(struct gw_txn *txn, const struct route *r);

/* The stored table (empty when none); free with route_table_free(). */
int route_table_get(struct gw_txn *txn, struct route_table *t);
/* Stores t as it is (route_validate() each entry first); an empty
 * table removes the record. */
int route_table_put(struct gw_txn *txn, const struct route_table *t);
void route_table_init(struct route_table *t);
void route_table_free(struct route_table *t);

/*
 * Inserts r before position pos (1..n+1; 0: at the end).  GW_ERR_INVALID
 * for a position out of range ("position: ..."), or when an entry with
 * the same field and pattern is already in the table (it would never be
 * reached, or hide this one); GW_ERR_LIMIT beyond ROUTE_MAX.
 */
int route_table_insert(struct route_table *t, size_t pos,
		       const struct route *r);
/* Removes the entry at pos (1..n); GW_ERR_NOT_FOUND otherwise. */
int route_table_remove(struct route_table *t, size_t pos);
/* 1 when a and b hold the same entries in the same order. */
int route_table_same(const struct route_table *a,
		     const struct route_table *b);
/* The position (1-based) of the first entry naming profile, 0: none. */
size_t route_table_uses(const struct route_table *t, const char *profile);

#endif
