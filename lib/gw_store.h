/*
 * gw_store.h - the one wrapper around LMDB.
 *
 * One environment per process under data_dir ("store/"), opened after any
 * exec, with a fixed set of named databases created on first open.  All
 * writes happen in one short write transaction per change ("submit and
 * commit"); readers use read transactions and see a consistent snapshot
 * (MVCC), so the daemon-to-be reads what the CLI commits without reload.
 * Directories are created 0700 and files 0600.
 *
 * LMDB return codes are mapped in one place: MDB_MAP_FULL ->
 * GW_ERR_STORE_FULL, MDB_READERS_FULL / EAGAIN / EBUSY ->
 * GW_ERR_STORE_BUSY (temporary), MDB_NOTFOUND -> GW_ERR_NOT_FOUND,
 * MDB_KEYEXIST -> GW_ERR_EXISTS, anything else -> GW_ERR_STORE.
 * Pointers returned by gw_txn_get() are valid until the transaction
 * ends.
 */
#ifndef GW_STORE_H
#define GW_STORE_H

#include <stddef.h>

struct gw_store;
struct gw_txn;

/* Database names.  Adding one is a code change here and in gw_store.c. */
#define GW_DB_IDENTITIES "identities"
#define GW_DB_PUBKEYS "pubkeys"
#define GW_DB_HARVESTED "harvested"
#define GW_DB_CAS "cas"
#define GW_DB_PROFILES "profiles"
#define GW_DB_ALERTS "alerts"
#define GW_DB_META "meta"

/* Opens (creating if needed) the store under dir.  map_size is the
 * LMDB map size in bytes (0: 1 GiB). */
int gw_store_open(const char *dir, size_t map_size, struct gw_store **out);
void gw_store_close(struct gw_store *st);

#define GW_TXN_READ 0
#define GW_TXN_WRITE 1
int gw_txn_begin(struct gw_store *st, int mode, struct gw_txn **out);
/* Commits and frees the transaction, in every case. */
int gw_txn_commit(struct gw_txn *txn);
/* Aborts and frees; NULL is a no-op. */
void gw_txn_abort(struct gw_txn *txn);

int gw_txn_get(struct gw_txn *txn, const char *db, const void *key,
	       size_t klen, const void **val, size_t *vlen);
#define GW_PUT_NOOVERWRITE 0x1
int gw_txn_put(struct gw_txn *txn, const char *db, const void *key,
	       size_t klen, const void *val, size_t vlen, unsigned flags);
int gw_txn_del(struct gw_txn *txn, const char *db, const void *key,
	       size_t klen);

/* How many records db holds, as this transaction sees it. */
int gw_txn_count(struct gw_txn *txn, const char *db, size_t *n);

/* Calls fn for each key in order; fn returns 0 to go on, > 0 to stop
 * early (gw_txn_foreach then returns 0), < 0 to fail with that code. */
typedef int (*gw_foreach_fn)(void *arg, const void *key, size_t klen,
			     const void *val, size_t vlen);
int gw_txn_foreach(struct gw_txn *txn, const char *db, gw_foreach_fn fn,
		   void *arg);

#endif
