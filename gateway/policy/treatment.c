/*
 * treatment.c - direction and sending profile per recipient
 * (treatment.h).  Every address comparison is the address rule's
 * (addr_rule_pattern_match()).
 */
#include "treatment.h"

#include <stdio.h>
#include <string.h>

#include "addr_rule.h"
#include "gw_err.h"

enum treatment_dir
treatment_direction(const char *list, const char *from, const char *to)
{
	if (addr_rule_in_domains(list, from) &&
	    !addr_rule_in_domains(list, to))
		return TREATMENT_OUTGOING;
	return TREATMENT_INCOMING;
}

void
treatment_profile(const struct route_table *t, const char *def,
		  const char *from, const char *to, struct treatment *out)
{
	const struct route *r;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->dir = TREATMENT_OUTGOING;
	for (i = 0; t != NULL && i < t->n; i++) {
		r = &t->r[i];
		if (addr_rule_pattern_match(r->pattern, r->field == ROUTE_SENDER
							    ? from
							    : to)) {
			out->profile = r->profile;
			out->route = i + 1;
			return;
		}
	}
	out->profile = def != NULL && *def != '\0' ? def : NULL;
}

int
treatment_decide(struct gw_txn *txn, const struct treatment_conf *c,
		 const char *from, const char *const *to, size_t n,
		 struct route_table *t, struct treatment *out)
{
	size_t i, nout = 0;
	int rc;

	route_table_init(t);
	for (i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].dir = c->decide ? treatment_direction(
					     c->internal_domains, from, to[i])
				       : c->dir;
		nout += out[i].dir == TREATMENT_OUTGOING;
	}
	if (nout == 0)
		return 0;
	if ((rc = route_table_get(txn, t)) != 0)
		return rc;
	for (i = 0; i < n; i++)
		if (out[i].dir == TREATMENT_OUTGOING)
			treatment_profile(t, c->default_profile, from, to[i],
					  &out[i]);
	return 0;
}

int
treatment_same(const struct treatment *a, const struct treatment *b)
{
	if (a->dir != b->dir)
		return 0;
	if (a->profile == NULL || b->profile == NULL)
		return a->profile == b->profile;
	return strcmp(a->profile, b->profile) == 0;
}
