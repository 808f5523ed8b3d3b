/*
 * gw_store.h - the one wrapper around LMDB.
 *
 * One environment per process under data_dir ("store/"), opened after any
 * exec, with a fixed set of named databases created on first open.  All
 * writes happen in one short write transaction per change ("submit and
 * commit"); readers use read transactions and see a consistent snapshot
 * (MVCC), so the daemon-to-be reads what the CLI commits without reload.
 * Directories are created 0700 and files 0600, and only by an open
 * that asks for it (GW_STORE_CREATE).
 *
 * LMDB return codes are mapped in one place: MDB_MAP_FULL ->
 * GW_ERR_STORE_FULL (see gw_store_grow()), MDB_READERS_FULL / EAGAIN / EBUSY ->
 * GW_ERR_STORE_BUSY (temporary), MDB_NOTFOUND -> GW_ERR_NOT_FOUND,
 * MDB_KEYEXIST -> GW_ERR_EXISTS, anything else -> GW_ERR_STORE.
 * Pointers returned by gw_txn_get() are valid until the transaction
 * ends; a record that would reach past the end of data.mdb is
 * GW_ERR_STORE, not a pointer.
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
#define GW_DB_ROUTES "routes"
/* Indexes (gw_index.h): "NAME\0RECORD-KEY" keys with empty values. */
#define GW_DB_PUBKEYS_IX "pubkeys-ix"
#define GW_DB_HARVESTED_IX "harvested-ix"
#define GW_DB_IDENTITIES_IX "identities-ix"
#define GW_DB_CAS_IX "cas-ix"
/* The undo journal of a batched write (gw_txn_begin_batched()). */
#define GW_DB_UNDO "undo"
/* The delivery journal (GW_STORE_JOURNAL; gateway/daemon/journal.h). */
#define GW_DB_JOURNAL "journal"

/*
 * Opens the store under dir ("dir/store/data.mdb").  map_size is the
 * LMDB map size in bytes (0: 1 GiB).
 *
 * Without GW_STORE_CREATE a missing data_dir, store folder or data.mdb,
 * and a data.mdb of 0 bytes, are GW_ERR_STORE: the message path never
 * starts a new, empty store in place of a lost one (an unmounted volume
 * would otherwise let encrypted mail out undecrypted).  With it, they
 * become a new store (folders 0700, files 0600) and gw_store_created()
 * says so; admin commands that add objects use it and tell the operator.
 *
 * Every open checks that data_dir, the store folder, data.mdb and
 * lock.mdb are owned by the effective user or root and writable by
 * nobody else (GW_ERR_PERM, gw_perm.h), and reads both meta pages of
 * data.mdb before LMDB maps it: a file shorter than the pages they
 * claim (truncated) is GW_ERR_STORE naming the file.  Every page is
 * read (gw_store_file_walk(), about 1 ms per MB in use) only when the
 * file is not the one last found sound: its identity (device, inode,
 * size, mtime, ctime, the newest meta page's transaction) is kept in
 * store/walked after a walk that found it sound and after each commit
 * of this process on a file so found, so a store changed only by
 * smimegw is walked once, not on every open, and the cost of an open
 * does not grow with the store.  A damaged file is GW_ERR_STORE naming
 * the file, database and page, never a SIGBUS or a wild read inside
 * LMDB.  A fault
 * inside LMDB later (the file cut short or overwritten while in use)
 * ends the process with the exit status of a temporary failure and a
 * line on stderr instead of a signal; LMDB's assertion failures
 * likewise.  Every open frees the reader slots that processes which
 * died in a read transaction left behind (a killed worker's), which
 * LMDB would otherwise keep until its table is full.
 */
#define GW_STORE_CREATE 0x1
/*
 * With GW_STORE_JOURNAL the open is of smimegwd's delivery journal
 * instead, a separate environment "dir/journal/data.mdb" with the one
 * database GW_DB_JOURNAL (and none of the store's), checked on open
 * like the store, except that its commits do not record the file as
 * walked (journal/walked), so that each open walks its pages.  Only one
 * environment is guarded against faults in its map (the one opened
 * last): open the journal before the store.
 */
#define GW_STORE_JOURNAL 0x2
int gw_store_open_ex(const char *dir, size_t map_size, unsigned flags,
		     struct gw_store **out);
/* gw_store_open_ex() with GW_STORE_CREATE: for admin tools and tests. */
int gw_store_open(const char *dir, size_t map_size, struct gw_store **out);
void gw_store_close(struct gw_store *st);
/*
 * The map.  map_size (store_map_size) is the size the map starts with;
 * it grows as needed, never past GW_STORE_MAP_MAX: a write transaction
 * begins only with GW_STORE_HEADROOM bytes (or an eighth of the map)
 * free, else the map doubles first; a process whose map another grew
 * adopts the new size at its next transaction.  LMDB allows the map to
 * change only while no transaction of the process is open: these
 * functions refuse (GW_ERR_INTERNAL) otherwise.  The map is address
 * space: data.mdb grows only with what is written.
 *
 * gw_store_reserve() makes room for extra more bytes before a large
 * change (an import); gw_store_grow() doubles the map after a change
 * failed with GW_ERR_STORE_FULL (MDB_MAP_FULL ends LMDB's transaction:
 * the caller aborts it, grows and runs the change again).  Both are
 * GW_ERR_STORE_FULL at the ceiling.
 */
#define GW_STORE_MAP_MAX ((size_t)1 << 40)	  /* 1 TiB */
#define GW_STORE_HEADROOM ((size_t)4 << 20)
int gw_store_reserve(struct gw_store *st, size_t extra);
int gw_store_grow(struct gw_store *st);
size_t gw_store_map_size(const struct gw_store *st);

/*
 * Lets go of the pages of data.mdb this process has read (they stay in
 * the page cache; the next read maps them again): a long export or
 * import, which reads each page once, does not keep the whole file in
 * its resident set.  Safe while transactions are open (the map is
 * read-only and shared).
 */
void gw_store_trim(struct gw_store *st);

/* 1 when this open made a new store (see GW_STORE_CREATE), else 0. */
int gw_store_created(const struct gw_store *st);
/* The store folder, "dir/store". */
const char *gw_store_path(const struct gw_store *st);

/*
 * Checks the store under dir without opening it with LMDB, as an open
 * does: the presence, ownership and modes above, then every page of
 * data.mdb (gw_store_file_walk()).  fn (may be NULL) gets the record count of
 * each database.  Returns 0 when sound, GW_ERR_STORE for a missing,
 * empty or damaged store (the detail names the database and page or
 * key), GW_ERR_PERM, GW_ERR_IO.
 */
typedef void (*gw_store_count_fn)(void *arg, const char *db,
				  unsigned long long records);
int gw_store_verify(const char *dir, gw_store_count_fn fn, void *arg);

/* The names of the databases of the store this build uses: GW_DB_* in
 * order (not the journal's), then NULL. */
const char *gw_store_db_name(size_t i);

#define GW_TXN_READ 0
#define GW_TXN_WRITE 1
/* A write whose commit does not wait for the disk (no fsync): it
 * survives the process, not the machine, until the next synced commit
 * writes it out too.  For records whose loss is harmless (the journal's
 * pending records). */
#define GW_TXN_WRITE_NOSYNC 2
int gw_txn_begin(struct gw_store *st, int mode, struct gw_txn **out);
/* Commits and frees the transaction, in every case. */
int gw_txn_commit(struct gw_txn *txn);
/* Aborts and frees; NULL is a no-op. */
void gw_txn_abort(struct gw_txn *txn);

int gw_txn_get(struct gw_txn *txn, const char *db, const void *key,
	       size_t klen, const void **val, size_t *vlen);
#define GW_PUT_NOOVERWRITE 0x1
/* A hint that the key likely sorts after every key of db (a sorted
 * import): then it goes in with MDB_APPEND, which fills pages instead
 * of splitting them in half; any other key is put as usual. */
#define GW_PUT_APPEND 0x2
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

/* The same over the keys that start with prefix (plen bytes), in
 * order: the index reads (gw_index.h). */
int gw_txn_foreach_prefix(struct gw_txn *txn, const char *db,
			  const void *prefix, size_t plen, gw_foreach_fn fn,
			  void *arg);

/* Removes every record of db. */
int gw_txn_clear(struct gw_txn *txn, const char *db);

/*
 * A long write (an import) in batches.  LMDB keeps every page a write
 * transaction changed in memory until it commits (up to 512 MiB, then
 * it spills some), so a million keys in one transaction hold half a
 * gigabyte.  A batched transaction commits each time it has changed
 * about a batch of bytes (gw_store_set_batch(), else GW_STORE_BATCH:
 * what it wrote, and a page for each put or delete, the page it
 * dirties), at gw_txn_checkpoint(), and keeps
 * an undo journal (GW_DB_UNDO) of what each batch changed, in the
 * batch's own commit.  gw_txn_commit() commits the last batch and drops
 * the journal with it; gw_txn_abort() undoes the batches committed
 * before, so the write still ends all or nothing.  A process that dies
 * half way leaves the journal: the next gw_store_open_ex() (or batched
 * begin) undoes it.  Meanwhile readers see the batches committed so
 * far; a transaction of less than a batch is one commit, as before.
 * Two batched transactions run one after the other (store/import.lock);
 * other writers are not held up, and what they change in between is
 * not undone (unless it is a record the batched transaction changed
 * too: its value from before is put back).
 *
 * gw_txn_checkpoint() is a no-op until a batch is full, and then ends
 * the batch: pointers from gw_txn_get() and running walks end with it.
 * An error leaves the transaction to gw_txn_abort().
 */
#define GW_STORE_BATCH ((size_t)64 << 20)
int gw_txn_begin_batched(struct gw_store *st, struct gw_txn **out);
/* The batch of st's batched transactions (store_import_batch). */
void gw_store_set_batch(struct gw_store *st, size_t batch);
/* How many batches of an unfinished batched transaction the open of st
 * undid (0: none were left). */
size_t gw_store_undone(const struct gw_store *st);
int gw_txn_checkpoint(struct gw_txn *txn);

/* The key of the last record whose gw_txn_foreach() callback failed in
 * this transaction (valid until it ends): 0 and *db, *key, *klen set,
 * or GW_ERR_NOT_FOUND when none failed.  `smimegw store check` names
 * the record that a decoder refused with it. */
int gw_txn_failed_key(const struct gw_txn *txn, const char **db,
		      const void **key, size_t *klen);

#endif
