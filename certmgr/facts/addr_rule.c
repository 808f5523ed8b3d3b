/*
 * addr_rule.c - how a certificate's names cover a mail address: the one
 * home of the address rule (addr_rule.h).
 */
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "addr_rule.h"
#include "gw_err.h"
#include "textfmt.h"

const char *
addr_rule_match_name(enum addr_match kind)
{
	switch (kind) {
	case ADDR_MATCH_EMAIL:
		return "email";
	case ADDR_MATCH_DOMAIN:
		return "domain";
	case ADDR_MATCH_WILDCARD:
		return "wildcard";
	case ADDR_MATCH_NONE:
		break;
	}
	return "none";
}

/* Drops one trailing dot of a domain. */
static size_t
undot(const char *d, size_t n)
{
	return n > 1 && d[n - 1] == '.' ? n - 1 : n;
}

int
addr_rule_split(const char *addr, const char **local, size_t *llen,
	   const char **dom, size_t *dlen)
{
	const char *at = strrchr(addr, '@');
	size_t i, n = strlen(addr);

	if (at == NULL || at == addr || at[1] == '\0' || n > ADDR_MAX)
		return -1;
	for (i = 0; i < n; i++)
		if ((unsigned char)addr[i] < 0x20 ||
		    (unsigned char)addr[i] == 0x7f)
			return -1;
	for (i = (size_t)(at - addr) + 1; i < n; i++)
		if (addr[i] == ' ')
			return -1;
	*local = addr;
	*llen = (size_t)(at - addr);
	*dom = at + 1;
	*dlen = undot(at + 1, strlen(at + 1));
	return 0;
}

/* How one dNSName value names the domain (DOMAIN, WILDCARD or NONE). */
static enum addr_match
dns_match(const char *v, size_t n, const char *dom, size_t dlen)
{
	const char *dot;

	n = undot(v, n);
	if (textfmt_ci_eq(v, n, dom, dlen))
		return ADDR_MATCH_DOMAIN;
	/* "*.rest": rest has two labels at least; dom = label.rest */
	if (n < 4 || v[0] != '*' || v[1] != '.' ||
	    memchr(v + 2, '.', n - 2) == NULL)
		return ADDR_MATCH_NONE;
	if ((dot = memchr(dom, '.', dlen)) == NULL || dot == dom)
		return ADDR_MATCH_NONE;
	if (textfmt_ci_eq(v + 2, n - 2, dot + 1, dlen - (size_t)(dot + 1 - dom)))
		return ADDR_MATCH_WILDCARD;
	return ADDR_MATCH_NONE;
}

enum addr_match
addr_rule_match(X509 *cert, const char *addr, char *san, size_t sanlen)
{
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	const char *local = NULL, *dom, *v, *at;
	size_t llen = 0, dlen, n;
	enum addr_match best = ADDR_MATCH_NONE, k;
	int i;

	if (san != NULL && sanlen > 0)
		san[0] = '\0';
	if (strchr(addr, '@') != NULL) {
		if (addr_rule_split(addr, &local, &llen, &dom, &dlen) != 0)
			return ADDR_MATCH_NONE;
	} else {
		dom = addr;
		dlen = undot(addr, strlen(addr));
	}
	if (dlen == 0)
		return ADDR_MATCH_NONE;
	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_EMAIL && g->type != GEN_DNS)
			continue;
		v = (const char *)ASN1_STRING_get0_data(g->d.ia5);
		n = (size_t)ASN1_STRING_length(g->d.ia5);
		if (n == 0 || memchr(v, '\0', n) != NULL)
			continue;
		k = ADDR_MATCH_NONE;
		if (g->type == GEN_EMAIL && local != NULL) {
			/* The last '@' splits it, as it does addr. */
			for (at = v + n - 1; at > v && *at != '@'; at--)
				;
			if (*at == '@' && (size_t)(at - v) == llen &&
			    memcmp(v, local, llen) == 0 &&
			    textfmt_ci_eq(at + 1, undot(at + 1, n - llen - 1), dom,
				  dlen))
				k = ADDR_MATCH_EMAIL;
		} else if (g->type == GEN_DNS) {
			k = dns_match(v, n, dom, dlen);
		}
		if (k != ADDR_MATCH_NONE &&
		    (best == ADDR_MATCH_NONE || k < best)) {
			best = k;
			if (san != NULL && sanlen > 0)
				textfmt_escape(san, sanlen, v,
				       n, 0);
		}
	}
	GENERAL_NAMES_free(gens);
	ERR_clear_error();
	return best;
}

static int
dns_matches(const char *pattern, size_t plen, const char *domain)
{
	const char *dot;

	if (plen == strlen(domain) && strncasecmp(pattern, domain, plen) == 0)
		return 1;
	/* "*.example.net" covers "a.example.net", not "example.net". */
	if (plen > 2 && pattern[0] == '*' && pattern[1] == '.' &&
	    (dot = strchr(domain, '.')) != NULL && dot != domain &&
	    strlen(dot) == plen - 1 && strncasecmp(dot, pattern + 1, plen - 1) == 0)
		return 1;
	return 0;
}

/* Whether cert covers addr; identity gets the name that matched (or the
 * certificate's first name when none does). */
int
addr_rule_covers(X509 *cert, const char *addr, char *identity, size_t idlen)
{
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	const char *at = strrchr(addr, '@');
	const char *v;
	int i, n, ok = 0;

	identity[0] = '\0';
	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_EMAIL && g->type != GEN_DNS)
			continue;
		v = (const char *)ASN1_STRING_get0_data(g->d.ia5);
		n = ASN1_STRING_length(g->d.ia5);
		if (identity[0] == '\0' || !ok)
			snprintf(identity, idlen, "%.*s", n, v);
		if (at == NULL)
			continue;
		if (g->type == GEN_EMAIL && (size_t)n == strlen(addr) &&
		    strncasecmp(v, addr, (size_t)n) == 0)
			ok = 1;
		if (g->type == GEN_DNS && dns_matches(v, (size_t)n, at + 1))
			ok = 1;
		if (ok) {
			snprintf(identity, idlen, "%.*s", n, v);
			break;
		}
	}
	GENERAL_NAMES_free(gens);
	if (identity[0] == '\0')
		X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
					  NID_commonName, identity, (int)idlen);
	return ok;
}
