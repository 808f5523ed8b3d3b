/*
 * gw_store_file.h - LMDB's data file (data.mdb) read without LMDB.
 *
 * LMDB trusts its file: a page number past the end of a truncated file
 * is a SIGBUS in whatever process maps it, and a damaged page can send
 * it anywhere.  These functions read the file with pread() into bounded
 * buffers, so that a damaged store is an error with a detail, never a
 * signal.  gw_store.c reads the meta pages on every open and walks every
 * page, before LMDB maps the file, when it is not the one last found
 * sound (store/walked); `smimegw store check` always walks (gw_store_verify()), then
 * decodes every record.
 *
 * The layout read is LMDB 0.9's (data version 1, native byte order and
 * word size, as liblmdb writes it on this machine).  Details name the
 * file, the database and the page or key at fault.
 */
#ifndef GW_STORE_FILE_H
#define GW_STORE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "gw_store.h"

/* What the newest meta page says. */
struct gw_store_meta {
	unsigned psize;	   /* page size */
	uint64_t last_pg;  /* last page in use */
	uint64_t txnid;	   /* the transaction that wrote it */
	uint64_t file_size;
};

/*
 * Reads both meta pages of the data file open on fd (path names it in
 * details), picks the newest as LMDB does, and checks that the file
 * holds every page it claims and that the roots it names are inside.
 * Returns 0, GW_ERR_IO when unreadable, GW_ERR_STORE when damaged or
 * truncated.
 */
int gw_store_file_meta(int fd, const char *path, struct gw_store_meta *m);


/*
 * Walks every tree of the newest meta page: the free list, the main
 * database and each named database.  Checks each page (number, type,
 * bounds, nodes inside the page, keys in order, children at one depth,
 * overflow pages inside the file, no page used twice or both used and
 * free) and the counts the database records hold.  fn (may be NULL) is
 * called for each named database.  Returns 0 when sound, GW_ERR_STORE
 * with the first problem found, GW_ERR_IO, GW_ERR_NOMEM.
 */
int gw_store_file_walk(const char *path, gw_store_count_fn fn, void *arg);

#endif
