/*
 * policy_route.c - the sending profile table's section of the
 * configuration export (policy_route.h).
 */
#include "policy_route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_err.h"
#include "textfmt.h"

#define SHOWN 64

static void
escape(char *dst, size_t size, const char *src, size_t len)
{
	textfmt_escape(dst, size, src, len, TEXTFMT_UTF8);
}

int
policy_route_export(struct gw_txn *txn, struct gw_buf *out, size_t *n)
{
	struct route_table t;
	size_t i;
	int rc;

	if ((rc = route_table_get(txn, &t)) != 0)
		return rc;
	rc = gw_buf_adds(out,
			 POLICY_ROUTES_HEADER "\n"
			 "# smimegw sending profile table, in order: the first "
			 "entry whose pattern\n"
			 "# matches an outgoing recipient ('recipient:') or "
			 "its envelope sender\n"
			 "# ('sender:') gives the recipient its profile.\n");
	for (i = 0; rc == 0 && i < t.n; i++)
		rc = gw_buf_addf(out, "\n%s: %s\nprofile: %s\n",
				 route_field_name(t.r[i].field),
				 t.r[i].pattern, t.r[i].profile);
	if (rc == 0 && n != NULL)
		*n = t.n;
	route_table_free(&t);
	return rc;
}

void
policy_route_free(struct policy_route *pr)
{
	if (pr == NULL)
		return;
	route_table_free(&pr->t);
	free(pr->line);
	free(pr);
}

/* A new entry "FIELD: PATTERN" at line no. */
static int
new_entry(struct policy_route *pr, enum route_field f, const char *src,
	  unsigned no, const char *v, size_t n)
{
	struct route r;
	unsigned *nl;
	char shown[SHOWN];
	size_t i;
	int rc;

	memset(&r, 0, sizeof(r));
	r.field = f;
	escape(shown, sizeof(shown), v, n);
	if (n >= sizeof(r.pattern))
		return gw_err_set(GW_ERR_PARSE, "%s:%u: %s: '%s' is longer "
				  "than an address", src, no,
				  route_field_name(f), shown);
	memcpy(r.pattern, v, n);
	r.pattern[n] = '\0';
	/* The profile comes on a later line; a placeholder name passes. */
	snprintf(r.profile, sizeof(r.profile), "x");
	if ((rc = route_normalize(&r)) != 0) {
		char d[300];

		snprintf(d, sizeof(d), "%s", gw_err_detail());
		gw_err_clear();
		return gw_err_set(GW_ERR_PARSE, "%s:%u: %s", src, no, d);
	}
	r.profile[0] = '\0';
	for (i = 0; i < pr->t.n; i++)
		if (pr->t.r[i].field == f &&
		    strcmp(pr->t.r[i].pattern, r.pattern) == 0)
			return gw_err_set(GW_ERR_PARSE,
					  "%s:%u: %s '%s' already given at "
					  "line %u",
					  src, no, route_field_name(f), shown,
					  pr->line[i]);
	if ((nl = realloc(pr->line, (pr->t.n + 1) * sizeof(*nl))) == NULL)
		return GW_ERR_NOMEM;
	pr->line = nl;
	if ((rc = route_table_insert(&pr->t, 0, &r)) != 0) {
		char d[300];

		snprintf(d, sizeof(d), "%s", gw_err_detail());
		gw_err_clear();
		return gw_err_set(rc, "%s:%u: %s", src, no, d);
	}
	pr->line[pr->t.n - 1] = no;
	return 0;
}

static int
set_profile(struct policy_route *pr, const char *src, unsigned no,
	    const char *v, size_t n)
{
	struct route *r;
	char shown[SHOWN];

	if (pr->t.n == 0)
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: 'profile:' before the first entry "
				  "(each entry begins with 'sender: PATTERN' "
				  "or 'recipient: PATTERN')",
				  src, no);
	r = &pr->t.r[pr->t.n - 1];
	if (r->profile[0] != '\0')
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: profile given twice for the entry "
				  "at line %u",
				  src, no, pr->line[pr->t.n - 1]);
	escape(shown, sizeof(shown), v, n);
	if (n == 0 || n >= sizeof(r->profile))
		goto bad;
	memcpy(r->profile, v, n);
	r->profile[n] = '\0';
	if (route_validate(r) == 0)
		return 0;
	gw_err_clear();
	r->profile[0] = '\0';
bad:
	return gw_err_set(GW_ERR_PARSE,
			  "%s:%u: profile: '%s' is not a sending profile name",
			  src, no, shown);
}

/* The last entry has its profile. */
static int
entry_done(const struct policy_route *pr, const char *src)
{
	if (pr->t.n > 0 && pr->t.r[pr->t.n - 1].profile[0] == '\0')
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: the entry has no 'profile:' line",
				  src, pr->line[pr->t.n - 1]);
	return 0;
}

int
policy_route_parse(const char *buf, size_t len, const char *src,
		   unsigned first, struct policy_route **out)
{
	struct policy_route *pr;
	struct textfmt_lines it;
	enum route_field f;
	const char *line, *v;
	char key[32], shown[SHOWN];
	size_t n, vn;
	int r;

	*out = NULL;
	if ((pr = calloc(1, sizeof(*pr))) == NULL)
		return GW_ERR_NOMEM;
	pr->first = first;
	textfmt_lines_init(&it, buf, len, src, first, TEXTFMT_UTF8);
	if ((r = textfmt_check_header(&it, POLICY_ROUTES_HEADER,
				      "a smimegw sending profile table",
				      SHOWN)) != 0)
		goto fail;
	while ((r = textfmt_next_line(&it, &line, &n)) == 1) {
		if (textfmt_is_comment(line, n))
			continue;
		if (!textfmt_attr_split(line, n, key, sizeof(key), &v, &vn)) {
			escape(shown, sizeof(shown), line, n);
			r = gw_err_set(GW_ERR_PARSE,
				       "%s:%u: unexpected line '%s' (expected "
				       "'sender: PATTERN', 'recipient: "
				       "PATTERN', 'profile: NAME', a comment "
				       "or a blank line)",
				       src, it.no, shown);
			goto fail;
		}
		if (route_field_parse(key, &f) == 0) {
			if ((r = entry_done(pr, src)) != 0 ||
			    (r = new_entry(pr, f, src, it.no, v, vn)) != 0)
				goto fail;
		} else if (strcmp(key, "profile") == 0) {
			if ((r = set_profile(pr, src, it.no, v, vn)) != 0)
				goto fail;
		} else {
			r = gw_err_set(GW_ERR_PARSE,
				       "%s:%u: unknown attribute '%s' (known: "
				       "sender, recipient, profile)",
				       src, it.no, key);
			goto fail;
		}
	}
	if (r < 0 || (r = entry_done(pr, src)) != 0)
		goto fail;
	*out = pr;
	return 0;
fail:
	policy_route_free(pr);
	return r;
}

int
policy_route_classify(struct gw_txn *txn, struct policy_route *pr,
		      size_t *conflicts)
{
	struct route_table old;
	int rc;

	if (pr->t.n == 0) {
		pr->outcome = POLICY_FILE_DUPLICATE;
		return 0;
	}
	if ((rc = route_table_get(txn, &old)) != 0)
		return rc;
	if (old.n == 0)
		pr->outcome = POLICY_FILE_ADDED;
	else if (route_table_same(&old, &pr->t))
		pr->outcome = POLICY_FILE_DUPLICATE;
	else {
		pr->outcome = POLICY_FILE_CONFLICT;
		(*conflicts)++;
	}
	route_table_free(&old);
	return 0;
}

int
policy_route_validate(struct gw_txn *txn, const struct policy_route *pr,
		      const char *src,
		      int (*in_file)(void *arg, const char *name), void *arg)
{
	size_t i;
	int rc;

	for (i = 0; i < pr->t.n; i++) {
		if (in_file != NULL && in_file(arg, pr->t.r[i].profile))
			continue;
		if ((rc = route_check(txn, &pr->t.r[i])) != 0) {
			char d[300];

			snprintf(d, sizeof(d), "%s", gw_err_detail());
			gw_err_clear();
			return gw_err_set(rc, "%s:%u: %s", src, pr->line[i],
					  d);
		}
	}
	return 0;
}

int
policy_route_apply(struct gw_txn *txn, struct policy_route *pr, int replace)
{
	int rc;

	if (pr->outcome == POLICY_FILE_ADDED ||
	    (replace && pr->outcome == POLICY_FILE_CONFLICT)) {
		if ((rc = route_table_put(txn, &pr->t)) != 0)
			return rc;
		if (pr->outcome == POLICY_FILE_CONFLICT)
			pr->outcome = POLICY_FILE_REPLACED;
	}
	return 0;
}
