/*
 * test_store_undo.c - batched transactions (issue 10, import memory):
 * a write in batches of a few KiB with its undo journal.  Puts (new
 * keys, replaced values, index keys already there), deletes and a
 * cleared database across several databases and many batches:
 *   - committed, every change is there and the journal is empty;
 *   - aborted, every database is as it was, byte for byte;
 *   - a process killed after some batches (no commit, no abort): the
 *     next open undoes them and says so (gw_store_undone()), unless
 *     store/import.lock is held (a writer between two batches);
 *   - a second batched transaction waits for the first;
 *   - index keys put in a batched transaction are written in order at
 *     its commit (or when the index is read first): committed, they are
 *     all there, once each and in order; aborted, or the commit failing
 *     while it writes them (a file size limit), nothing is left.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_util.h"

#include "gw_buf.h"
#include "gw_err.h"
#include "gw_store.h"

static char tmpdir[64];
static unsigned case_no;

static void
case_dir(char *dir, size_t len)
{
	snprintf(dir, len, "%s/case%u", tmpdir, ++case_no);
}

static int
dump_one(void *arg, const void *key, size_t klen, const void *val,
	 size_t vlen)
{
	struct gw_buf *b = arg;
	uint32_t n[2] = {(uint32_t)klen, (uint32_t)vlen};

	return gw_buf_add(b, n, sizeof(n)) || gw_buf_add(b, key, klen) ||
			       gw_buf_add(b, val, vlen)
		   ? GW_ERR_NOMEM
		   : 0;
}

/* Every database of the store under dir, in order, into b. */
static void
dump(const char *dir, struct gw_buf *b)
{
	struct gw_store *st;
	struct gw_txn *txn;
	const char *db;
	size_t i;

	gw_buf_reset(b);
	assert_int_equal(gw_store_open(dir, 0, &st), 0);
	assert_int_equal(gw_txn_begin(st, GW_TXN_READ, &txn), 0);
	for (i = 0; (db = gw_store_db_name(i)) != NULL; i++) {
		assert_int_equal(gw_buf_adds(b, db), 0);
		assert_int_equal(gw_txn_foreach(txn, db, dump_one, b), 0);
	}
	gw_txn_abort(txn);
	gw_store_close(st);
}

static size_t
count(const char *dir, const char *db)
{
	struct gw_store *st;
	struct gw_txn *txn;
	size_t n = 0;

	assert_int_equal(gw_store_open(dir, 0, &st), 0);
	assert_int_equal(gw_txn_begin(st, GW_TXN_READ, &txn), 0);
	assert_int_equal(gw_txn_count(txn, db, &n), 0);
	gw_txn_abort(txn);
	gw_store_close(st);
	return n;
}

/* A store to start from: records, index keys, a table to clear. */
static void
seed(const char *dir)
{
	struct gw_store *st;
	struct gw_txn *txn;
	char k[32], v[64];
	int i;

	assert_int_equal(gw_store_open(dir, 0, &st), 0);
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	for (i = 0; i < 300; i++) {
		snprintf(k, sizeof(k), "old%04d", i);
		snprintf(v, sizeof(v), "value of old%04d", i);
		assert_int_equal(gw_txn_put(txn, GW_DB_PUBKEYS, k, strlen(k),
					    v, strlen(v), 0),
				 0);
		snprintf(k, sizeof(k), "e:x%d@a.example", i % 50);
		assert_int_equal(gw_txn_put(txn, GW_DB_PUBKEYS_IX, k,
					    strlen(k) + 1, "", 0, 0),
				 0);
		snprintf(k, sizeof(k), "route%03d", i);
		assert_int_equal(gw_txn_put(txn, GW_DB_ROUTES, k, strlen(k), v,
					    strlen(v), 0),
				 0);
	}
	assert_int_equal(gw_txn_put(txn, GW_DB_META, "count", 5, "300", 3, 0),
			 0);
	assert_int_equal(gw_txn_commit(txn), 0);
	gw_store_close(st);
}

/* The batched changes: new keys (appended), replaced values, index
 * keys old and new, deletes, a cleared table, a meta value put several
 * times; a checkpoint after each step. */
static void
change(struct gw_txn *txn)
{
	char k[32], v[600];
	int i;

	memset(v, 'v', sizeof(v));
	for (i = 0; i < 400; i++) {
		snprintf(k, sizeof(k), "new%04d", i);
		assert_int_equal(gw_txn_put(txn, GW_DB_PUBKEYS, k, strlen(k),
					    v, sizeof(v), GW_PUT_APPEND),
				 0);
		snprintf(k, sizeof(k), "e:x%d@a.example", i % 80);
		assert_int_equal(gw_txn_put(txn, GW_DB_PUBKEYS_IX, k,
					    strlen(k) + 1, "", 0, 0),
				 0);
		if (i < 300 && i % 3 == 0) {
			snprintf(k, sizeof(k), "old%04d", i);
			assert_int_equal(gw_txn_put(txn, GW_DB_PUBKEYS, k,
						    strlen(k), "replaced", 8,
						    0),
					 0);
		}
		if (i < 300 && i % 3 == 1) {
			snprintf(k, sizeof(k), "old%04d", i);
			assert_int_equal(
			    gw_txn_del(txn, GW_DB_PUBKEYS, k, strlen(k)), 0);
		}
		snprintf(v, 16, "%d", i);
		assert_int_equal(gw_txn_put(txn, GW_DB_META, "count", 5, v,
					    strlen(v), 0),
				 0);
		memset(v, 'v', 16);
		if (i == 200)
			assert_int_equal(gw_txn_clear(txn, GW_DB_ROUTES), 0);
		assert_int_equal(gw_txn_checkpoint(txn), 0);
	}
	/* A put that must not overwrite still says so. */
	assert_int_equal(gw_txn_put(txn, GW_DB_PUBKEYS, "new0001", 7, "x", 1,
				    GW_PUT_NOOVERWRITE),
			 GW_ERR_EXISTS);
	assert_int_equal(gw_txn_put(txn, GW_DB_PUBKEYS_IX, "e:x1@a.example",
				    15, "", 0, GW_PUT_NOOVERWRITE),
			 GW_ERR_EXISTS);
}

/* A new case's store, seeded, and its dump in before. */
static void
start(char *dir, size_t len, struct gw_buf *before)
{
	case_dir(dir, len);
	gw_buf_init(before, (size_t)64 << 20);
	seed(dir);
	dump(dir, before);
}

/* The store under dir is what before holds, byte for byte (frees
 * before). */
static void
same_as(const char *dir, struct gw_buf *before)
{
	struct gw_buf after;

	gw_buf_init(&after, (size_t)64 << 20);
	dump(dir, &after);
	assert_int_equal(before->len, after.len);
	assert_memory_equal(before->data, after.data, before->len);
	gw_buf_free(before);
	gw_buf_free(&after);
}

/* The store under dir, in a batched transaction of batches of batch
 * bytes. */
static struct gw_store *
open_batch(const char *dir, size_t batch, struct gw_txn **txn)
{
	struct gw_store *st;

	assert_int_equal(gw_store_open(dir, 0, &st), 0);
	gw_store_set_batch(st, batch);
	assert_int_equal(gw_txn_begin_batched(st, txn), 0);
	return st;
}

/* Batches of 8 KiB: many of them. */
static struct gw_store *
open_batched(const char *dir, struct gw_txn **txn)
{
	return open_batch(dir, 8 << 10, txn);
}

/* Batches of 64 KiB: the deferred keys fill the sorter's memory
 * (128 KiB at least) a few times over. */
static struct gw_store *
open_deferred(const char *dir, struct gw_txn **txn)
{
	return open_batch(dir, 64 << 10, txn);
}

/* fill's changes in batches of batch bytes, aborted: the store is as
 * it was, and its journal empty. */
static void
aborted(size_t batch, void (*fill)(struct gw_txn *))
{
	struct gw_buf before;
	struct gw_store *st;
	struct gw_txn *txn;
	char dir[128];

	start(dir, sizeof(dir), &before);
	st = open_batch(dir, batch, &txn);
	fill(txn);
	gw_txn_abort(txn);
	gw_store_close(st);
	same_as(dir, &before);
	assert_int_equal(count(dir, GW_DB_UNDO), 0);
}

static void
abort_restores(void **state)
{
	(void)state;
	aborted(8 << 10, change);
}

static void
commit_keeps(void **state)
{
	struct gw_store *st;
	struct gw_txn *txn;
	char dir[128];

	(void)state;
	case_dir(dir, sizeof(dir));
	seed(dir);
	st = open_batched(dir, &txn);
	change(txn);
	assert_int_equal(gw_txn_commit(txn), 0);
	gw_store_close(st);
	assert_int_equal(count(dir, GW_DB_UNDO), 0);
	assert_int_equal(count(dir, GW_DB_PUBKEYS), 300 - 100 + 400);
	assert_int_equal(count(dir, GW_DB_PUBKEYS_IX), 80);
	assert_int_equal(count(dir, GW_DB_ROUTES), 0);
}

/* A writer killed (SIGKILL) after some batches, before it commits. */
static void
kill_writer(const char *dir)
{
	struct gw_txn *txn;
	int status;
	pid_t pid;

	if ((pid = fork()) == 0) {
		(void)open_batched(dir, &txn);
		change(txn);
		raise(SIGKILL);
		_exit(4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/* Holds store/import.lock, as a batched writer between two batches
 * does, until killed; returns once it holds it. */
static pid_t
hold_lock(const char *dir)
{
	char path[256], c;
	int p[2], fd;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/store/import.lock", dir);
	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		if ((fd = open(path, O_RDWR | O_CREAT, 0600)) < 0 ||
		    flock(fd, LOCK_EX) != 0 || write(p[1], "x", 1) != 1)
			_exit(3);
		pause();
		_exit(0);
	}
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	close(p[1]);
	return pid;
}

static void
crash_undone_by_next_open(void **state)
{
	struct gw_buf before;
	struct gw_store *st;
	char dir[128];
	int status;
	pid_t pid;

	(void)state;
	start(dir, sizeof(dir), &before);
	kill_writer(dir);
	/* While the lock says it runs, an open leaves its journal. */
	pid = hold_lock(dir);
	assert_int_equal(gw_store_open(dir, 0, &st), 0);
	assert_int_equal(gw_store_undone(st), 0);
	gw_store_close(st);
	assert_true(count(dir, GW_DB_UNDO) > 10);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* Then the next open undoes it. */
	assert_int_equal(gw_store_open(dir, 0, &st), 0);
	assert_true(gw_store_undone(st) > 10);
	gw_store_close(st);
	same_as(dir, &before);
	/* And what the undo left passes the open's file checks. */
	assert_int_equal(gw_store_verify(dir, NULL, NULL), 0);
}

/* A second batched transaction begins after the first ended. */
static void
one_batched_at_a_time(void **state)
{
	struct gw_store *st2;
	struct gw_txn *txn, *txn2;
	char dir[128], c;
	int p[2], status;
	pid_t pid;

	(void)state;
	case_dir(dir, sizeof(dir));
	seed(dir);
	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		(void)open_batched(dir, &txn);
		change(txn);
		if (write(p[1], "x", 1) != 1)
			_exit(3);
		usleep(300 * 1000);
		_exit(gw_txn_commit(txn) == 0 ? 0 : 5);
	}
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(gw_store_open(dir, 0, &st2), 0);
	/* Blocks until the child committed (and released the lock). */
	assert_int_equal(gw_txn_begin_batched(st2, &txn2), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	gw_txn_abort(txn2);
	gw_store_close(st2);
	assert_int_equal(count(dir, GW_DB_PUBKEYS), 600);
	close(p[0]);
	close(p[1]);
}

/* ---- deferred index keys --------------------------------------------- */

/* The i-th index key of the deferred cases: scattered over the key
 * space as fingerprints are. */
static size_t
ix_name(int i, char *k, size_t size)
{
	uint32_t h = (uint32_t)i * 2654435761u;

	return (size_t)snprintf(k, size, "f:%08x%08x", h, h ^ 0x5bd1e995u) +
	       1;
}

/* n index keys, each put twice (deferred, and the second time it is
 * there already), and a record for every tenth; after half of them,
 * reads of the index see what was put (the keys are written first). */
static void
put_indexed(struct gw_txn *txn, int n)
{
	char k[64];
	const void *v;
	size_t len, vlen, cnt;
	int i;

	for (i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "rec%06d", i);
		if (i % 10 == 0)
			assert_int_equal(gw_txn_put(txn, GW_DB_PUBKEYS, k,
						    strlen(k), "r", 1, 0),
					 0);
		len = ix_name(i, k, sizeof(k));
		assert_int_equal(gw_txn_put(txn, GW_DB_PUBKEYS_IX, k, len, "",
					    0, 0),
				 0);
		assert_int_equal(gw_txn_put(txn, GW_DB_PUBKEYS_IX, k, len, "",
					    0, 0),
				 0);
		/* And into an index that is empty: it is filled in order
		 * and undone by emptying it. */
		assert_int_equal(gw_txn_put(txn, GW_DB_HARVESTED_IX, k, len,
					    "", 0, 0),
				 0);
		assert_int_equal(gw_txn_checkpoint(txn), 0);
		if (i == n / 2) {
			assert_int_equal(gw_txn_get(txn, GW_DB_PUBKEYS_IX, k,
						    len, &v, &vlen),
					 0);
			assert_int_equal(vlen, 0);
			assert_int_equal(
			    gw_txn_count(txn, GW_DB_PUBKEYS_IX, &cnt), 0);
			assert_int_equal(cnt, 50 + (size_t)i + 1);
		}
	}
}

/* Keys in LMDB's order, each once. */
static int
in_order(void *arg, const void *key, size_t klen, const void *val,
	 size_t vlen)
{
	struct gw_buf *last = arg;
	int c;

	(void)val;
	assert_int_equal(vlen, 0);
	if (last->len > 0) {
		c = memcmp(last->data, key, last->len < klen ? last->len : klen);
		assert_true(c < 0 || (c == 0 && last->len < klen));
	}
	gw_buf_reset(last);
	assert_int_equal(gw_buf_add(last, key, klen), 0);
	return 0;
}

static void
deferred_keys_committed(void **state)
{
	struct gw_store *st;
	struct gw_txn *txn;
	struct gw_buf last;
	char dir[128];

	(void)state;
	case_dir(dir, sizeof(dir));
	seed(dir);
	st = open_deferred(dir, &txn);
	put_indexed(txn, 20000);
	assert_int_equal(gw_txn_commit(txn), 0);
	gw_store_close(st);
	assert_int_equal(count(dir, GW_DB_UNDO), 0);
	assert_int_equal(count(dir, GW_DB_PUBKEYS), 300 + 2000);
	assert_int_equal(count(dir, GW_DB_PUBKEYS_IX), 50 + 20000);
	assert_int_equal(count(dir, GW_DB_HARVESTED_IX), 20000);
	assert_int_equal(gw_store_open(dir, 0, &st), 0);
	assert_int_equal(gw_txn_begin(st, GW_TXN_READ, &txn), 0);
	gw_buf_init(&last, 1024);
	assert_int_equal(gw_txn_foreach(txn, GW_DB_PUBKEYS_IX, in_order, &last),
			 0);
	gw_buf_reset(&last);
	assert_int_equal(
	    gw_txn_foreach(txn, GW_DB_HARVESTED_IX, in_order, &last), 0);
	gw_buf_free(&last);
	gw_txn_abort(txn);
	gw_store_close(st);
	assert_int_equal(gw_store_verify(dir, NULL, NULL), 0);
}

static void
put_20000(struct gw_txn *txn)
{
	put_indexed(txn, 20000);
}

static void
deferred_keys_aborted(void **state)
{
	(void)state;
	aborted(64 << 10, put_20000);
}

/* A writer whose commit fails while it writes the deferred keys, after
 * some of their batches: data.mdb may not grow past a limit
 * (RLIMIT_FSIZE; LMDB's write comes up short).  Its own undo cannot
 * write either, and it exits: the next open undoes the batches. */
static void
failed_while_writing_deferred_keys(void **state)
{
	struct gw_buf before;
	struct gw_store *st;
	struct gw_txn *txn;
	struct rlimit rl;
	struct stat sb;
	char dir[128], file[160];
	int status;
	pid_t pid;

	(void)state;
	start(dir, sizeof(dir), &before);
	snprintf(file, sizeof(file), "%s/store/data.mdb", dir);
	assert_int_equal(stat(file, &sb), 0);
	if ((pid = fork()) == 0) {
		signal(SIGXFSZ, SIG_IGN);
		st = open_deferred(dir, &txn);
		put_indexed(txn, 20000);
		/* The records' batches are in; the keys wait. */
		assert_int_equal(stat(file, &sb), 0);
		rl.rlim_cur = rl.rlim_max = (rlim_t)sb.st_size + (256 << 10);
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(3);
		_exit(gw_txn_commit(txn) != 0 ? 4 : 5);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 4);
	assert_int_equal(gw_store_open(dir, 0, &st), 0);
	assert_true(gw_store_undone(st) > 0);
	gw_store_close(st);
	same_as(dir, &before);
	assert_int_equal(gw_store_verify(dir, NULL, NULL), 0);
}

/* A walk whose callback reads an index with deferred keys: their
 * flush is more than a batch, but no batch ends under the walk's
 * cursor; the walk sees every record, and the commit all the keys. */
struct walk_reads {
	struct gw_txn *txn;
	size_t seen;
};

static int
walk_read_ix(void *arg, const void *key, size_t klen, const void *val,
	     size_t vlen)
{
	struct walk_reads *w = arg;
	const void *v;
	size_t n;
	char k[64];

	(void)key, (void)klen, (void)val, (void)vlen;
	if (w->seen++ == 0) {
		n = ix_name(7, k, sizeof(k));
		assert_int_equal(gw_txn_get(w->txn, GW_DB_PUBKEYS_IX, k, n, &v,
					    &n),
				 0);
	}
	return 0;
}

static void
flush_under_a_walk(void **state)
{
	struct walk_reads w = {0};
	struct gw_store *st;
	struct gw_txn *txn;
	char dir[128];

	(void)state;
	case_dir(dir, sizeof(dir));
	seed(dir);
	st = open_deferred(dir, &txn);
	put_indexed(txn, 20000);
	/* put_indexed() read the index half way: more keys since. */
	w.txn = txn;
	assert_int_equal(gw_txn_foreach(txn, GW_DB_PUBKEYS, walk_read_ix, &w),
			 0);
	assert_int_equal(w.seen, 300 + 2000);
	assert_int_equal(gw_txn_commit(txn), 0);
	gw_store_close(st);
	assert_int_equal(count(dir, GW_DB_UNDO), 0);
	assert_int_equal(count(dir, GW_DB_PUBKEYS_IX), 50 + 20000);
	assert_int_equal(count(dir, GW_DB_HARVESTED_IX), 20000);
}

static int
setup(void **state)
{
	(void)state;
	return unit_tmpdir(tmpdir, sizeof(tmpdir), "smimegw-undo");
}

static int
teardown(void **state)
{
	(void)state;
	return unit_rmtree(tmpdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(abort_restores),
	    cmocka_unit_test(commit_keeps),
	    cmocka_unit_test(crash_undone_by_next_open),
	    cmocka_unit_test(one_batched_at_a_time),
	    cmocka_unit_test(deferred_keys_committed),
	    cmocka_unit_test(deferred_keys_aborted),
	    cmocka_unit_test(failed_while_writing_deferred_keys),
	    cmocka_unit_test(flush_under_a_walk),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
