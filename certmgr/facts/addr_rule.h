/*
 * addr_rule.h - how a certificate's names cover a mail address.
 *
 * The one home of the address rule: signing (the identity must cover
 * the From address), verification, harvesting and the recipient lookup
 * all ask here.  Two entry points exist today with the behaviour each
 * caller has always had:
 *
 *   addr_rule_match()   the recipient lookup's precedence: a SAN
 *                       rfc822Name equal to the address, then a SAN
 *                       dNSName equal to its domain, then a wildcard
 *                       dNSName one label up; local parts compared
 *                       exactly, domains ignoring ASCII case and one
 *                       trailing dot;
 *   addr_rule_covers()  whether a certificate covers an address for
 *                       signing, verification and harvesting.
 */
#ifndef ADDR_RULE_H
#define ADDR_RULE_H

#include <stddef.h>

#include <openssl/x509.h>

/* Longest address the rule looks at (RFC 5321: 64 + 1 + 255). */
#define ADDR_MAX 320

/*
 * How a certificate's SAN names an address, best first:
 *   1 ADDR_MATCH_EMAIL     a SAN rfc822Name equal to addr
 *   2 ADDR_MATCH_DOMAIN    a SAN dNSName equal to addr's domain
 *   3 ADDR_MATCH_WILDCARD  a SAN dNSName "*.rest" where the domain
 *                          is one more label on rest
 */
enum addr_match {
	ADDR_MATCH_NONE = 0,
	ADDR_MATCH_EMAIL = 1,
	ADDR_MATCH_DOMAIN = 2,
	ADDR_MATCH_WILDCARD = 3,
};

/*
 * The local part and the domain of addr, split at the last '@' (the
 * domain without one trailing dot); -1 when addr is not an address
 * (no local part or domain, control characters, a space in the domain,
 * longer than ADDR_MAX).
 */
int addr_rule_split(const char *addr, const char **local, size_t *llen,
		    const char **dom, size_t *dlen);

/* "email", "domain", "wildcard" or "none". */
const char *addr_rule_match_name(enum addr_match kind);

/*
 * The best way cert's SANs name addr (an address, or a bare domain
 * when addr has no '@': then only dNSName entries count), or
 * ADDR_MATCH_NONE.  san (may be NULL) gets the matching entry,
 * escaped.  Validity and key usage are not looked at.
 */
enum addr_match addr_rule_match(X509 *cert, const char *addr, char *san,
				size_t sanlen);

/*
 * 1 when cert covers the address: a SAN rfc822Name equal to it, or a
 * SAN dNSName equal to its domain or a wildcard ("*.example.net" covers
 * a.example.net, not example.net); case-insensitive.  identity gets the
 * name that matched, or the certificate's first SAN (or CN).
 */
int addr_rule_covers(X509 *cert, const char *addr, char *identity,
		     size_t idlen);

#endif
