/*
 * treatment.h - which treatment a message gets, recipient by recipient:
 * its direction and, going out, its sending profile.  This is the one
 * place smimegwd asks; the filters and mail policies of the policy
 * issue replace what is behind it, not the pipeline or the worker.
 *
 * Direction.  A listener either fixes it (every message incoming, or
 * every message outgoing) or decides per recipient by internal_domains
 * (addr_rule_in_domains(): "example.com" for that domain,
 * ".example.com" for its subdomains, separated by blanks or commas):
 *
 *   outgoing  when the envelope sender is in an internal domain and
 *             the recipient is not;
 *   incoming  otherwise (the null sender <> is in no domain).
 *
 * Sending profile, for an outgoing recipient: the first entry of the
 * table (route.h) whose pattern matches (a sender entry looks at the
 * envelope sender, a recipient entry at that recipient) gives its
 * profile; when none matches, the listener's default profile; when
 * that is "" too, none (the message goes out unchanged).
 *
 * A message whose recipients get different treatments is split into
 * one copy per treatment (smimegwd(8)).
 */
#ifndef TREATMENT_H
#define TREATMENT_H

#include <stddef.h>

#include "gw_store.h"
#include "route.h"

enum treatment_dir {
	TREATMENT_OUTGOING,
	TREATMENT_INCOMING,
};

struct treatment_conf {
	int decide;			/* 1: by internal_domains */
	enum treatment_dir dir;		/* when decide is 0 */
	const char *internal_domains;	/* "" or the list above */
	const char *default_profile;	/* "" or a profile's name */
};

struct treatment {
	enum treatment_dir dir;
	const char *profile;	/* outgoing: a name (in the table or the
				 * conf), NULL: none; incoming: NULL */
	size_t route;		/* the table's entry (1-based) that gave
				 * the profile, 0: the default or none */
};

/* The direction rule above for one recipient. */
enum treatment_dir treatment_direction(const char *list, const char *from,
				       const char *to);

/*
 * The profile for (from, to): the table's first match, else def ("" or
 * NULL: none).  out->dir is set to TREATMENT_OUTGOING.
 */
void treatment_profile(const struct route_table *t, const char *def,
		       const char *from, const char *to,
		       struct treatment *out);

/*
 * out[i] for every recipient to[i] (n of them).  When some recipient
 * goes out, the table is read in txn into *t (the caller frees it with
 * route_table_free(), after it is done with out: the names point into
 * it); otherwise *t stays empty.
 */
int treatment_decide(struct gw_txn *txn, const struct treatment_conf *c,
		     const char *from, const char *const *to, size_t n,
		     struct route_table *t, struct treatment *out);

/* 1 when a and b are the same treatment (one copy serves both). */
int treatment_same(const struct treatment *a, const struct treatment *b);

#endif
