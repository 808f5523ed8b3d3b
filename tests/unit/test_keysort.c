/*
 * test_keysort.c - gw_keysort: keys come back in LMDB's order (bytes
 * unsigned, a prefix first), duplicates kept, whether they stayed in
 * memory, went to runs, or to so many runs that they were merged into
 * one; a stopped drain empties the sorter; bad lengths and a directory
 * that cannot hold a run are errors with a detail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unit_util.h"

#include "gw_err.h"
#include "gw_keysort.h"

static char tmpdir[64];

struct key {
	unsigned char b[300];
	size_t len;
};

static int
key_cmp(const void *x, const void *y)
{
	const struct key *a = x, *b = y;
	int c = memcmp(a->b, b->b, a->len < b->len ? a->len : b->len);

	if (c != 0)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

/* n keys from a fixed seed: lengths 1 to 300, bytes from the whole
 * range (NUL and 0xff too), every fifth a copy of an earlier one and
 * every seventh a prefix of one. */
static struct key *
make_keys(size_t n)
{
	struct key *k = calloc(n, sizeof(*k));
	uint32_t x = 12345;
	size_t i, j;

	assert_non_null(k);
	for (i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		if (i > 0 && i % 5 == 0) {
			k[i] = k[(x >> 8) % i];
			continue;
		}
		if (i > 0 && i % 7 == 0) {
			k[i] = k[(x >> 8) % i];
			if (k[i].len > 1)
				k[i].len--;
			continue;
		}
		k[i].len = 1 + (x >> 16) % (i % 11 == 0 ? 300 : 40);
		for (j = 0; j < k[i].len; j++) {
			x = x * 1103515245 + 12345;
			/* Few distinct first bytes: long shared prefixes. */
			k[i].b[j] = j < 2 ? (unsigned char)((x >> 16) % 3 * 0x7f)
					  : (unsigned char)(x >> 16);
		}
	}
	return k;
}

struct walk {
	const struct key *want;
	size_t n, at, stop_at;
};

static int
check_one(void *arg, const unsigned char *key, size_t len)
{
	struct walk *w = arg;

	if (w->at == w->stop_at)
		return GW_ERR_LIMIT;
	assert_true(w->at < w->n);
	assert_int_equal(len, w->want[w->at].len);
	assert_memory_equal(key, w->want[w->at].b, len);
	w->at++;
	return 0;
}

/* n keys through a sorter of mem bytes, twice (it is reusable). */
static void
sorts(size_t n, size_t mem)
{
	struct key *k = make_keys(n), *want;
	struct gw_keysort *s;
	struct walk w;
	int round;
	size_t i;

	want = malloc(n * sizeof(*want));
	assert_non_null(want);
	memcpy(want, k, n * sizeof(*k));
	qsort(want, n, sizeof(*want), key_cmp);
	assert_non_null(s = gw_keysort_new(tmpdir, mem));
	for (round = 0; round < 2; round++) {
		for (i = 0; i < n; i++)
			assert_int_equal(gw_keysort_add(s, k[i].b, k[i].len), 0);
		assert_int_equal(gw_keysort_count(s), n);
		memset(&w, 0, sizeof(w));
		w.want = want;
		w.n = n;
		w.stop_at = SIZE_MAX;
		assert_int_equal(gw_keysort_drain(s, check_one, &w), 0);
		assert_int_equal(w.at, n);
		assert_int_equal(gw_keysort_count(s), 0);
	}
	gw_keysort_free(s);
	free(k);
	free(want);
}

static void
in_memory(void **state)
{
	(void)state;
	sorts(5000, (size_t)16 << 20);
}

/* 128 KiB hold about 3,500 of these keys: six runs. */
static void
in_runs(void **state)
{
	(void)state;
	sorts(20000, GW_KEYSORT_MEM_MIN);
}

/* More than 16 runs: they are merged into one, then more follow. */
static void
runs_merged(void **state)
{
	(void)state;
	sorts(100000, GW_KEYSORT_MEM_MIN);
}

static void
empty_drain(void **state)
{
	struct gw_keysort *s;
	struct walk w = {.stop_at = SIZE_MAX};

	(void)state;
	assert_non_null(s = gw_keysort_new(tmpdir, 0));
	assert_int_equal(gw_keysort_drain(s, check_one, &w), 0);
	assert_int_equal(w.at, 0);
	gw_keysort_free(s);
}

/* fn's result stops the walk and is returned; the rest is dropped. */
static void
stopped_drain_empties(void **state)
{
	struct key *k = make_keys(8000), *want;
	struct gw_keysort *s;
	struct walk w = {0};
	size_t i;

	(void)state;
	want = malloc(8000 * sizeof(*want));
	assert_non_null(want);
	memcpy(want, k, 8000 * sizeof(*k));
	qsort(want, 8000, sizeof(*want), key_cmp);
	assert_non_null(s = gw_keysort_new(tmpdir, GW_KEYSORT_MEM_MIN));
	for (i = 0; i < 8000; i++)
		assert_int_equal(gw_keysort_add(s, k[i].b, k[i].len), 0);
	w.want = want;
	w.n = 8000;
	w.stop_at = 100;
	assert_int_equal(gw_keysort_drain(s, check_one, &w), GW_ERR_LIMIT);
	assert_int_equal(w.at, 100);
	assert_int_equal(gw_keysort_count(s), 0);
	/* Dropped without a walk. */
	assert_int_equal(gw_keysort_add(s, "x", 1), 0);
	assert_int_equal(gw_keysort_drain(s, NULL, NULL), 0);
	assert_int_equal(gw_keysort_count(s), 0);
	gw_keysort_free(s);
	free(k);
	free(want);
}

static void
bad_lengths(void **state)
{
	static unsigned char big[GW_KEYSORT_KEY_MAX + 1];
	struct gw_keysort *s;

	(void)state;
	assert_non_null(s = gw_keysort_new(tmpdir, 0));
	gw_err_clear();
	assert_int_equal(gw_keysort_add(s, "", 0), GW_ERR_INVALID);
	assert_string_equal(gw_err_detail(), "a sort key of 0 bytes");
	gw_err_clear();
	assert_int_equal(gw_keysort_add(s, big, sizeof(big)), GW_ERR_INVALID);
	assert_string_equal(gw_err_detail(), "a sort key of 65536 bytes");
	assert_int_equal(gw_keysort_add(s, big, GW_KEYSORT_KEY_MAX), 0);
	assert_int_equal(gw_keysort_count(s), 1);
	gw_keysort_free(s);
}

/* A run that cannot be written: the add that needed it fails, naming
 * the directory. */
static void
no_room_for_runs(void **state)
{
	char dir[128], want[256];
	struct gw_keysort *s;
	unsigned char key[100];
	size_t i;
	int rc = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/missing", tmpdir);
	assert_non_null(s = gw_keysort_new(dir, GW_KEYSORT_MEM_MIN));
	memset(key, 'k', sizeof(key));
	gw_err_clear();
	for (i = 0; i < 2000 && rc == 0; i++)
		rc = gw_keysort_add(s, key, sizeof(key));
	assert_int_equal(rc, GW_ERR_IO);
	snprintf(want, sizeof(want),
		 "a temporary file in %s: No such file or directory", dir);
	assert_string_equal(gw_err_detail(), want);
	gw_keysort_free(s);
}

static int
setup(void **state)
{
	(void)state;
	return unit_tmpdir(tmpdir, sizeof(tmpdir), "smimegw-keysort");
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
	    cmocka_unit_test(in_memory),
	    cmocka_unit_test(in_runs),
	    cmocka_unit_test(runs_merged),
	    cmocka_unit_test(empty_drain),
	    cmocka_unit_test(stopped_drain_empties),
	    cmocka_unit_test(bad_lengths),
	    cmocka_unit_test(no_room_for_runs),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
