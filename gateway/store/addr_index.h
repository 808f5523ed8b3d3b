/*
 * addr_index.h - the address indexes of the key stores: which records
 * may cover an address, without reading every record (issue 10).
 *
 * Two indexes, each a database of its own: GW_DB_PUBKEYS_IX for the
 * public keys (record key: the name) and GW_DB_HARVESTED_IX for the
 * harvested keys (record key: the 64-digit ID).  An index key is an
 * index name of the certificate (addr_rule_index_names(): "e:" address,
 * "d:" domain, "w:" wildcard base domain), a NUL byte, and the record
 * key; the value is empty.  keystore.c and harvest.c change an index in
 * the same write transaction as its record, so both commit or neither.
 *
 * The lookup (gateway/keys/lookup.c) reads the record keys under the
 * names of addr_rule_index_query(), sorted and without repeats (the
 * order of the records themselves), and judges each record with the
 * unchanged address rule: the index narrows what is read, never what
 * matches.
 *
 * Store format.  GW_DB_META key "store-format" holds the format as
 * decimal text; a store without it is format 1 (no indexes).  Every
 * write of a key record first calls addr_index_upgrade(), which builds
 * both indexes from the records of a format-1 store and sets
 * ADDR_INDEX_FORMAT, in the caller's transaction.  Until then a lookup
 * reads every record, as format 1 did (addr_index_ready()).
 * addr_index_check() is `smimegw store check`'s: every name of every
 * record is indexed, and every index entry is the name of a record.
 */
#ifndef ADDR_INDEX_H
#define ADDR_INDEX_H

#include <stddef.h>

#include <openssl/x509.h>

#include "gw_store.h"

#define ADDR_INDEX_FORMAT 2
#define ADDR_INDEX_META_KEY "store-format"

/*
 * Adds (or removes) the entries of cert for record key id in ixdb, and
 * for a harvested key also the one of the address it was harvested
 * from, sender (NULL for public keys): "s:ADDRESS", ASCII lower case,
 * which the harvesting bookkeeping reads (is there a key for this
 * sender already?) instead of every record.
 */
int addr_index_add(struct gw_txn *txn, const char *ixdb, X509 *cert,
		   const char *sender, const void *id, size_t idlen);
int addr_index_del(struct gw_txn *txn, const char *ixdb, X509 *cert,
		   const char *sender, const void *id, size_t idlen);

/* Removes every entry of record key id, whatever names it has: for a
 * record that no longer decodes (reads the whole index). */
int addr_index_purge(struct gw_txn *txn, const char *ixdb, const void *id,
		     size_t idlen);

/* The record keys of ixdb that may cover addr, sorted as the records
 * are, no repeats.  addr_index_hits_free() frees them. */
struct addr_index_hits {
	size_t n, cap;
	char **key;   /* NUL-terminated copies */
	size_t *len;
};
int addr_index_find(struct gw_txn *txn, const char *ixdb, const char *addr,
		    struct addr_index_hits *out);
void addr_index_hits_free(struct addr_index_hits *h);
/* The same for the harvested keys harvested from address sender. */
int addr_index_find_sender(struct gw_txn *txn, const char *sender,
			   struct addr_index_hits *out);

/* The format of the store as txn sees it (1 when unset). */
int addr_index_format(struct gw_txn *txn, unsigned *format);
/* 1 when the indexes are there to read, 0 when not (yet), < 0 error. */
int addr_index_ready(struct gw_txn *txn);
/* Builds both indexes of a format-1 store in write transaction txn. */
int addr_index_upgrade(struct gw_txn *txn);

/*
 * Checks that records and indexes agree: 0 when they do (or the store
 * is format 1 and has no index entries), GW_ERR_STORE with a detail
 * naming the database and the first record or entry at fault.
 */
int addr_index_check(struct gw_txn *txn);

#endif
