/*
 * test_store_grow.c - the store's map grows as needed (issue 10): a
 * write transaction that runs out of map fails with GW_ERR_STORE_FULL,
 * never a crash, and runs again after gw_store_grow(); write
 * transactions make room for themselves; gw_store_reserve() makes room
 * for a large change and refuses while a transaction is open; a process
 * whose map another process grew adopts the new size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_util.h"

#include "gw_err.h"
#include "gw_store.h"

#define MIB ((size_t)1 << 20)
#define VAL (64u << 10) /* one record: overflow pages */

static char tmpdir[64];
static unsigned case_no;
static unsigned char val[VAL];

static void
case_dir(char *dir, size_t len)
{
	snprintf(dir, len, "%s/case%u", tmpdir, ++case_no);
}

/* bytes worth of records from number first, in one transaction. */
static int
write_records(struct gw_store *st, unsigned first, size_t bytes)
{
	struct gw_txn *t = NULL;
	char key[32];
	unsigned i;
	int rc;

	if ((rc = gw_txn_begin(st, GW_TXN_WRITE, &t)) != 0)
		return rc;
	for (i = 0; (size_t)i * VAL < bytes; i++) {
		snprintf(key, sizeof(key), "k%06u", first + i);
		memset(val, (int)(first + i), sizeof(val));
		if ((rc = gw_txn_put(t, GW_DB_META, key, strlen(key), val,
				     sizeof(val), 0)) != 0) {
			gw_txn_abort(t);
			return rc;
		}
	}
	return gw_txn_commit(t);
}

static size_t
count(struct gw_store *st)
{
	struct gw_txn *t = NULL;
	size_t n = 0;

	assert_int_equal(gw_txn_begin(st, GW_TXN_READ, &t), 0);
	assert_int_equal(gw_txn_count(t, GW_DB_META, &n), 0);
	gw_txn_abort(t);
	return n;
}

/* A change larger than the map: GW_ERR_STORE_FULL and nothing written;
 * the same change after gw_store_grow() commits. */
static void
full_then_grow(void **state)
{
	struct gw_store *st = NULL;
	char dir[128];
	size_t map;

	(void)state;
	case_dir(dir, sizeof(dir));
	assert_int_equal(gw_store_open(dir, MIB, &st), 0);
	/* The first write made room for an ordinary change. */
	assert_int_equal(write_records(st, 0, VAL), 0);
	map = gw_store_map_size(st);
	assert_true(map >= 4 * MIB);
	assert_int_equal(write_records(st, 100, map + MIB), GW_ERR_STORE_FULL);
	gw_err_clear();
	assert_int_equal(count(st), 1);
	while (write_records(st, 100, map + MIB) == GW_ERR_STORE_FULL) {
		gw_err_clear();
		assert_int_equal(gw_store_grow(st), 0);
	}
	assert_true(gw_store_map_size(st) > map);
	assert_int_equal(count(st), 1 + (map + MIB + VAL - 1) / VAL);
	gw_store_close(st);
	/* What was written is there after a new open, with a map of the
	 * old size asked for. */
	assert_int_equal(gw_store_open(dir, MIB, &st), 0);
	assert_int_equal(count(st), 1 + (map + MIB + VAL - 1) / VAL);
	gw_store_close(st);
}

/* Room made before a large change; refused while a transaction is
 * open (LMDB's rule); the ceiling. */
static void
reserve(void **state)
{
	struct gw_store *st = NULL;
	struct gw_txn *t = NULL;
	char dir[128];

	(void)state;
	case_dir(dir, sizeof(dir));
	assert_int_equal(gw_store_open(dir, MIB, &st), 0);
	assert_int_equal(gw_store_reserve(st, 20 * MIB), 0);
	assert_true(gw_store_map_size(st) >= 20 * MIB);
	assert_int_equal(write_records(st, 0, 18 * MIB), 0);
	assert_int_equal(gw_txn_begin(st, GW_TXN_READ, &t), 0);
	assert_int_equal(gw_store_reserve(st, 100 * MIB), GW_ERR_INTERNAL);
	assert_int_equal(gw_store_grow(st), GW_ERR_INTERNAL);
	gw_err_clear();
	gw_txn_abort(t);
	assert_int_equal(gw_store_reserve(st, GW_STORE_MAP_MAX),
			 GW_ERR_STORE_FULL);
	gw_err_clear();
	gw_store_close(st);
}

/* Another process grows the map and fills it past this one's: the next
 * transaction here adopts the new size and reads everything. */
static void
grown_elsewhere(void **state)
{
	struct gw_store *st = NULL, *other = NULL;
	char dir[128];
	size_t map;
	pid_t pid;
	int status = -1;

	(void)state;
	case_dir(dir, sizeof(dir));
	assert_int_equal(gw_store_open(dir, MIB, &st), 0);
	assert_int_equal(write_records(st, 0, VAL), 0);
	map = gw_store_map_size(st);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		if (gw_store_open(dir, MIB, &other) != 0 ||
		    gw_store_reserve(other, 4 * map) != 0 ||
		    write_records(other, 1000, 2 * map) != 0)
			_exit(1);
		gw_store_close(other);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(count(st), 1 + (2 * map + VAL - 1) / VAL);
	assert_true(gw_store_map_size(st) > 2 * map);
	/* And it writes after them. */
	assert_int_equal(write_records(st, 5000, VAL), 0);
	gw_store_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(full_then_grow),
	    cmocka_unit_test(reserve),
	    cmocka_unit_test(grown_elsewhere),
	};
	int failed;

	if (unit_tmpdir(tmpdir, sizeof(tmpdir), "test_store_grow") != 0) {
		perror("mkdtemp");
		return 1;
	}
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	if (unit_rmtree(tmpdir) != 0) {
		perror(tmpdir);
		failed++;
	}
	return failed != 0;
}
