/*
 * lookup.h - which certificate encrypts to a recipient.
 *
 * Which certificate encrypts to addr ("local@domain", split at the last
 * '@').  Sources in order: public keys, then harvested keys
 * (lookup_harvested()); the first source with a usable
 * candidate wins.  Within a source, by how the certificate names the
 * address, the address rule (addr_rule.h):
 *
 *   1 ADDR_MATCH_EMAIL     a SAN rfc822Name or a subject emailAddress
 *                          equal to addr
 *   2 ADDR_MATCH_DOMAIN    a SAN dNSName equal to addr's domain
 *   3 ADDR_MATCH_WILDCARD  a SAN dNSName "*.rest" where the domain
 *                              is one more label on rest
 *                              ("*.domain.net" covers a.domain.net, not
 *                              domain.net nor b.a.domain.net; "*.net"
 *                              covers nothing)
 *
 * Local parts compare as address_local_part says (ignoring ASCII case
 * by default); domains ignore ASCII case and one trailing dot.  A
 * candidate is usable when it has
 * KEYSTORE_CAP_ENCRYPT and now lies within its validity (allow_expired
 * never changes that).  The best match kind with a usable candidate
 * wins; among its candidates the newest (latest notBefore, then latest
 * notAfter, then the first name) wins.

 *
 * Functions read in the caller's transaction and return 0 or a
 * negative GW_ERR_* with a latched detail.
 */
#ifndef LOOKUP_H
#define LOOKUP_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "addr_rule.h"
#include "gw_store.h"
#include "keystore.h"

struct lookup_match {
	enum addr_match kind;
	int harvested;		/* 1: from the harvested keys */
	char name[KEYSTORE_NAME_MAX + 1];
	char san[256];		/* the SAN that matched, escaped */
};

/*
 * The lookup described above.  0 with *out (get1: the caller frees)
 * and the chosen key's name in name (cut to namelen); GW_ERR_INVALID
 * when addr is not an address; GW_ERR_NOT_FOUND when no usable key
 * exists, with a detail naming the keys that cover addr and why each
 * is unusable.
 */
int lookup_key(struct gw_txn *txn, const char *addr, time_t now,
		    X509 **out, char *name, size_t namelen);
/* The same, with how the chosen key matched. */
int lookup_key_match(struct gw_txn *txn, const char *addr, time_t now,
			  X509 **out, struct lookup_match *m);

/*
 * The same lookup over the harvested keys (GW_DB_HARVESTED, see
 * harvest.h) alone, with the same precedence rules
 * (addr_rule_match()); lookup_key_match() consults it when no
 * public key is usable.  m->harvested = 1 and m->name is the key's ID
 * (64 hex digits).  GW_ERR_NOT_FOUND names the harvested keys that
 * cover addr and why each is unusable.  It only reads: a caller that
 * encrypts with the key records the use with harvest_touch().
 */
int lookup_harvested(struct gw_txn *txn, const char *addr,
			      time_t now, X509 **out,
			      struct lookup_match *m);

#endif
