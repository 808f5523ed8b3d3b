/*
 * policy_route.h - the sending profile table (route.h) as a section of
 * the configuration export (policy_file.h):
 *
 *   smimegw-routes 1
 *   # comments
 *   sender: PATTERN            starts an entry: a sender pattern
 *   recipient: PATTERN         or a recipient pattern
 *   profile: NAME              required, once per entry
 *
 * Entries in table order (the first that matches wins).  A bad pattern
 * or name, a repeated entry (the same field and pattern), a missing or
 * repeated profile line and an unknown attribute are errors at their
 * line.  The table is one object: a section with entries is added to a
 * store without a table, a duplicate of the same table, else a
 * conflict (replaced with replace); a section without entries (or no
 * section) leaves the stored table alone.  Each entry's profile must
 * exist once the file's profiles are written ("SRC:LINE: profile: ...").
 *
 * Every function returns 0 or a negative GW_ERR_* with a latched detail
 * and never begins, commits or aborts the caller's transaction.
 */
#ifndef POLICY_ROUTE_H
#define POLICY_ROUTE_H

#include <stddef.h>

#include "gw_buf.h"
#include "gw_store.h"
#include "policy_file.h"
#include "route.h"

#define POLICY_ROUTES_HEADER "smimegw-routes 1"

struct policy_route {
	struct route_table t;
	unsigned *line;		/* line of each entry */
	unsigned first;		/* line of the section header */
	enum policy_file_outcome outcome;
};

/* Appends the section: header, comments, every entry; *n gets the
 * entries (n may be NULL). */
int policy_route_export(struct gw_txn *txn, struct gw_buf *out, size_t *n);

/* Parses the section (buf, len bytes; first: its header's line) into
 * *out (free with policy_route_free()). */
int policy_route_parse(const char *buf, size_t len, const char *src,
		       unsigned first, struct policy_route **out);
void policy_route_free(struct policy_route *pr);

/* Every entry's profile is in the import (in_file(arg, name) is 1) or
 * stored in txn; else "SRC:LINE: profile: no sending profile named
 * ...". */
int policy_route_validate(struct gw_txn *txn, const struct policy_route *pr,
			  const char *src,
			  int (*in_file)(void *arg, const char *name),
			  void *arg);
/* The outcome against txn's table; *conflicts += 1 for a conflict. */
int policy_route_classify(struct gw_txn *txn, struct policy_route *pr,
			  size_t *conflicts);
/* Writes the table when added or (replace) a conflict; validate
 * first. */
int policy_route_apply(struct gw_txn *txn, struct policy_route *pr,
		       int replace);

#endif
