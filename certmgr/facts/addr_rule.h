/*
 * addr_rule.h - how a certificate's names cover a mail address.
 *
 * The one home of the address rule: signing (the identity must cover
 * the From address), verification (the signer must cover it),
 * harvesting (the signer must cover the sender) and the recipient
 * lookup all ask here, and get the same answer for the same
 * certificate and address.
 *
 * The names of a certificate that count, best first:
 *
 *   1 ADDR_MATCH_EMAIL     a SAN rfc822Name, or a PKCS #9 emailAddress
 *                          attribute of the subject name (RFC 8550
 *                          section 3), equal to the address;
 *   2 ADDR_MATCH_DOMAIN    a SAN dNSName equal to the address's domain;
 *   3 ADDR_MATCH_WILDCARD  a SAN dNSName "*.rest" where the domain is
 *                          exactly one label more on rest, and rest has
 *                          two labels at least: "*.example.net" covers
 *                          a.example.net, not example.net nor
 *                          b.a.example.net; "*.net" and "*" cover
 *                          nothing.
 *
 * Comparison: an address is split at its last '@'.  Domains compare
 * ignoring ASCII case; one trailing dot (the absolute form of a DNS
 * name) is dropped from addresses and certificate names alike, and a
 * domain with an empty label ("a..b", ".a", "a..") is no domain.  Local
 * parts compare ignoring ASCII case unless the process was told
 * otherwise (addr_rule_set_local_part(), from address_local_part in
 * smimegw.conf); then octet for octet.  Entries holding a NUL byte are
 * ignored.  Nothing else of the certificate (CN, validity, key usage)
 * is looked at.
 *
 * The names of the last NAMES_SLOTS (32) certificates met are kept
 * decoded, each keyed by the bytes they come from (every SAN
 * extension's value and the subject name's DER, 2 KiB at most; at
 * most 64 names and 4 KiB of them): a certificate that differs there
 * by one byte is decoded on its own, and the address is compared with
 * the names every time.  Safe from several threads (one mutex).
 */
#ifndef ADDR_RULE_H
#define ADDR_RULE_H

#include <stddef.h>

#include <openssl/x509.h>

/* Longest address the rule looks at (RFC 5321: 64 + 1 + 255). */
#define ADDR_MAX 320

enum addr_match {
	ADDR_MATCH_NONE = 0,
	ADDR_MATCH_EMAIL = 1,
	ADDR_MATCH_DOMAIN = 2,
	ADDR_MATCH_WILDCARD = 3,
};

/* How local parts compare (address_local_part in smimegw.conf). */
enum addr_local_part {
	ADDR_LOCAL_INSENSITIVE = 0,	/* ignoring ASCII case: the default */
	ADDR_LOCAL_EXACT = 1,		/* octet for octet */
};

/*
 * Sets how local parts compare, for the whole process.  Called once by
 * the program that read smimegw.conf, before any thread starts and
 * before any address is compared; every later comparison in the
 * process uses it.  Never called: ADDR_LOCAL_INSENSITIVE.
 */
void addr_rule_set_local_part(enum addr_local_part mode);
enum addr_local_part addr_rule_local_part(void);

/* "insensitive" or "exact" -> 0 and *out; GW_ERR_INVALID otherwise. */
int addr_rule_local_part_parse(const char *s, enum addr_local_part *out);
/* "insensitive" or "exact". */
const char *addr_rule_local_part_name(enum addr_local_part mode);

/*
 * The local part and the domain of addr, split at the last '@' (the
 * domain without one trailing dot); -1 when addr is not an address (an
 * empty local part or domain, a domain with an empty label, a control
 * character, a space or a '*' in the domain, longer than ADDR_MAX).
 */
int addr_rule_split(const char *addr, const char **local, size_t *llen,
		    const char **dom, size_t *dlen);

/*
 * Address patterns (the sending profile table, internal_domains): which
 * addresses a pattern names, by this rule:
 *
 *   "local@domain"  that address: the local part compared as the mode
 *                   above says, the domain ignoring ASCII case;
 *   "@domain"       every address whose domain is domain (not its
 *                   subdomains);
 *   "@.domain"      every address in a subdomain of domain, at any
 *                   depth ("@.example.com" names a.example.com and
 *                   b.a.example.com, not example.com).
 *
 * One trailing dot of a domain is dropped on both sides; the domain
 * must be one that addr_rule_split() accepts.  addr_rule_pattern_valid()
 * is 0 for a pattern, -1 for anything else (why: the text it wrote to
 * why, at most whylen bytes, may be NULL).  addr_rule_pattern_match()
 * is 1 when the address addr falls under pat, else 0 (also when either
 * is not valid).
 */
int addr_rule_pattern_valid(const char *pat, char *why, size_t whylen);
int addr_rule_pattern_match(const char *pat, const char *addr);
/* The pattern as it is best stored and shown: the domain in ASCII lower
 * case and without its trailing dot, the local part as given.  -1 when
 * pat is not valid or out (len bytes) too small. */
int addr_rule_pattern_norm(const char *pat, char *out, size_t len);

/*
 * A list of domains (internal_domains in smimegw.conf): entries
 * separated by blanks or commas, each "example.com" (that domain) or
 * ".example.com" (its subdomains), i.e. the pattern "@" + the entry.
 * addr_rule_domains_valid() is 0 for such a list ("" included), -1
 * with why naming the first bad entry.  addr_rule_in_domains() is 1
 * when the address addr is in one of the domains ("" and "<>" are in
 * none).
 */
int addr_rule_domains_valid(const char *list, char *why, size_t whylen);
int addr_rule_in_domains(const char *list, const char *addr);

/* "email", "domain", "wildcard" or "none". */
const char *addr_rule_match_name(enum addr_match kind);

/*
 * The best way cert names addr (an address; or a bare domain when addr
 * has no '@', then only dNSName entries count), or ADDR_MATCH_NONE.
 * san (may be NULL) gets the matching entry, escaped and cut to
 * sanlen; an emailAddress of the subject name is followed by
 * " (subject emailAddress)".
 */
enum addr_match addr_rule_match(X509 *cert, const char *addr, char *san,
				size_t sanlen);

/*
 * 1 when cert covers the address addr by the rule above (any match
 * kind), else 0 (also when addr is not an address).  identity gets the
 * entry that matched (its value alone: it names the signer in
 * Authentication-Results), or else the first rfc822Name or dNSName, the
 * subject's emailAddress or its commonName, escaped and cut to idlen;
 * "" when the certificate has none of them.
 */
int addr_rule_covers(X509 *cert, const char *addr, char *identity,
		     size_t idlen);

/* For the tests only: how often the kept names were found, or not. */
void addr_rule_names_stats_for_tests(unsigned long *hits,
				     unsigned long *misses);

/*
 * Index names: what a store index keeps so that a lookup reads only
 * the certificates that may cover an address (gateway/store/addr_index.h).
 * The rule above stays the judge; the names only narrow the search:
 * every certificate that addr_rule_match() finds covering an address
 * (any kind, either local-part mode) has at least one of the names
 * addr_rule_index_query() gives for it among those
 * addr_rule_index_names() gives for the certificate.  Names, in ASCII
 * lower case, domains without their trailing dot:
 *
 *   "e:LOCAL@DOMAIN"  each rfc822Name and subject emailAddress that is
 *                     an address (the local part folded: with
 *                     address_local_part = exact the match compares
 *                     it exactly afterwards, so the switch needs no
 *                     new index);
 *   "d:DOMAIN"        each dNSName;
 *   "w:REST"          each wildcard dNSName "*.REST" (REST: the base
 *                     domain, what the address's domain has after its
 *                     first label).
 *
 * Names longer than ADDR_INDEX_MAX, or holding a NUL byte, are left
 * out: no address is that long.  fn returns 0 to go on, else that code
 * ends the call; GW_ERR_NOMEM when the names could not be read for want
 * of memory.
 */
#define ADDR_INDEX_MAX (ADDR_MAX + 2)
typedef int (*addr_index_fn)(void *arg, const char *name, size_t len);
int addr_rule_index_names(X509 *cert, addr_index_fn fn, void *arg);
/* The names to read for address addr; -1 when addr is not an address. */
int addr_rule_index_query(const char *addr, addr_index_fn fn, void *arg);

#endif
