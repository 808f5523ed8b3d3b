/*
 * gw_keysort.h - many short keys sorted in bounded memory.
 *
 * Keys are kept in a buffer of a size set at creation; when it is full
 * its keys are sorted and written as a run to an unnamed temporary
 * file (the directory given, O_TMPFILE, else a name unlinked at once),
 * and gw_keysort_drain() merges the runs and what the buffer holds.
 * The order is LMDB's default one: bytes compared as unsigned, a key
 * before every longer key it is a prefix of.  Duplicates are kept.
 *
 * A batched import defers its index entries here and writes them in
 * key order when it ends (gw_store.c): in a large store each index key
 * lands on a page of its own, so written as they come they rewrite a
 * page per key and batch, and written in order each page about once.
 */
#ifndef GW_KEYSORT_H
#define GW_KEYSORT_H

#include <stddef.h>

#define GW_KEYSORT_KEY_MAX 65535	/* bytes of one key at most */
#define GW_KEYSORT_MEM_MIN ((size_t)128 << 10) /* the longest key fits */

struct gw_keysort;

/* A sorter holding up to mem bytes (at least GW_KEYSORT_MEM_MIN) of
 * keys in memory, its runs in dir.  NULL when memory is short. */
struct gw_keysort *gw_keysort_new(const char *dir, size_t mem);
void gw_keysort_free(struct gw_keysort *s);

/* Adds a key of len bytes (1 to GW_KEYSORT_KEY_MAX).  0, or
 * GW_ERR_INVALID (its length), GW_ERR_NOMEM, GW_ERR_IO (the run could
 * not be written; the detail names the directory). */
int gw_keysort_add(struct gw_keysort *s, const void *key, size_t len);

/* Keys added since the sorter was created or last drained. */
size_t gw_keysort_count(const struct gw_keysort *s);

/* Calls fn(arg, key, len) for every key added, in order, then empties
 * the sorter, which takes keys again.  fn's nonzero result stops the
 * walk and is returned; the sorter is emptied in every case.  0, fn's
 * result, GW_ERR_NOMEM or GW_ERR_IO (a run could not be read back).
 * fn NULL: the keys are dropped. */
int gw_keysort_drain(struct gw_keysort *s,
		     int (*fn)(void *arg, const unsigned char *key,
			       size_t len),
		     void *arg);

#endif
