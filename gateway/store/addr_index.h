/*
 * addr_index.h - the address indexes of the key stores: which records
 * may cover an address, without reading every record (issue 10).
 *
 * Two indexes, each a database of its own: GW_DB_PUBKEYS_IX for the
 * public keys (record key: the name) and GW_DB_HARVESTED_IX for the
 * harvested keys (record key: the 64-digit ID).  An index key is an
 * index name, a NUL byte, and the record key; the value is empty.  The
 * names of a record:
 *
 *   "e:" address, "d:" domain, "w:" wildcard base domain
 *        (addr_rule_index_names()), for the recipient lookup;
 *   "f:" the certificate's SHA-256 fingerprint, 64 hex digits;
 *   "i:HHHHHHHH:SERIAL" issuer and serial number: the hash of the
 *        issuer name's canonical form (X509_NAME_hash_ex(), as
 *        OpenSSL's lookups by name) and the hex of the serial's DER;
 *   "k:" the subject key identifier in hex (when the certificate has
 *        one);
 *   "n:HHHHHHHH" the hash of the subject name, for a trust store's
 *        lookup of an issuer by name;
 *   harvested keys only: "s:" the address it was harvested from, and
 *        "u:" 16 hex digits of its LRU time (harvested_lru_time()), so
 *        that the first "u:" entry is the least recently used key.
 *
 * Identifiers longer than 32 bytes are indexed by the hex of their
 * SHA-256.  A hash names candidates only: the reader compares each
 * record's certificate (X509_NAME_cmp(), the serial, the identifier)
 * as OpenSSL would.  keystore.c and harvest.c change an index in the
 * same write transaction as its record, so both commit or neither.
 *
 * The lookup (gateway/keys/lookup.c) reads the record keys under the
 * names of addr_rule_index_query(), sorted and without repeats (the
 * order of the records themselves), and judges each record with the
 * unchanged address rule: the index narrows what is read, never what
 * matches.
 *
 * Store format.  GW_DB_META key "store-format" holds the format as
 * decimal text; a store without it is format 1 (no indexes).  Format 2
 * has the address and sender names only; format 3 (ADDR_INDEX_FORMAT)
 * all of them.  Every write of a key record first calls
 * addr_index_upgrade(), which rebuilds both indexes from the records of
 * an older store and sets ADDR_INDEX_FORMAT, in the caller's
 * transaction.  Until then an address lookup of a format-1 store reads
 * every record (addr_index_ready()), and so does a lookup by
 * certificate or LRU order in a store older than format 3
 * (addr_index_ready_ids()).
 * addr_index_check() is `smimegw store check`'s: every name of every
 * record is indexed, and every index entry is the name of a record.
 */
#ifndef ADDR_INDEX_H
#define ADDR_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "gw_store.h"

#define ADDR_INDEX_FORMAT 3
#define ADDR_INDEX_FORMAT_ADDR 2 /* the first with address names */
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

/* The same for a harvested key, with its LRU entry (lru: its
 * harvested_lru_time()). */
int addr_index_add_harvested(struct gw_txn *txn, X509 *cert,
			     const char *sender, uint64_t lru, const char *id);
int addr_index_del_harvested(struct gw_txn *txn, X509 *cert,
			     const char *sender, uint64_t lru, const char *id);
/* Moves harvested key id's LRU entry from time from to time to. */
int addr_index_lru_move(struct gw_txn *txn, uint64_t from, uint64_t to,
			const char *id);
/* 1 and the ID (HARVEST_ID_LEN + 1 bytes) of the least recently used
 * harvested key other than exclude (may be NULL), 0 when there is none,
 * < 0 on error.  Needs addr_index_ready_ids(). */
int addr_index_lru_oldest(struct gw_txn *txn, const char *exclude, char *id);

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

/* The names of a certificate's identifiers (see above), into buf of
 * size bytes (ADDR_INDEX_MAX + 1 is enough). */
int addr_index_name_ski(const ASN1_OCTET_STRING *ski, char *buf,
			size_t size);
int addr_index_name_issuer(const X509_NAME *issuer,
			   const ASN1_INTEGER *serial, char *buf, size_t size);
int addr_index_name_subject(const X509_NAME *subject, char *buf,
			    size_t size);
/* The record keys of ixdb indexed under name, sorted, no repeats. */
int addr_index_find_name(struct gw_txn *txn, const char *ixdb,
			 const char *name, struct addr_index_hits *out);

/* The format of the store as txn sees it (1 when unset). */
int addr_index_format(struct gw_txn *txn, unsigned *format);
/* 1 when the address indexes are there to read (format 2 or later),
 * 0 when not (yet), < 0 error. */
int addr_index_ready(struct gw_txn *txn);
/* The same for the certificate and LRU names (format 3 or later). */
int addr_index_ready_ids(struct gw_txn *txn);
/* Builds both indexes of an older store in write transaction txn. */
int addr_index_upgrade(struct gw_txn *txn);

/*
 * Checks that records and indexes agree: 0 when they do (or the store
 * is format 1 and has no index entries), GW_ERR_STORE with a detail
 * naming the database and the first record or entry at fault.
 */
int addr_index_check(struct gw_txn *txn);

#endif
