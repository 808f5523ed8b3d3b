/*
 * test_gw_store.c - the store when it is not what it should be (issue 8):
 * missing or empty (item 12), truncated or damaged (item 13), writable
 * or owned by others (item 17).  Table cases, each in its own directory
 * under one mkdtemp directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_util.h"

#include "gw_err.h"
#include "gw_perm.h"
#include "gw_store.h"

static char tmpdir[64];
static unsigned case_no;

static void
case_dir(char *dir, size_t len)
{
	snprintf(dir, len, "%s/case%u", tmpdir, ++case_no);
}

static void
path_of(char *p, size_t len, const char *dir, const char *rel)
{
	snprintf(p, len, "%s%s", dir, rel);
}

static int
exists(const char *dir, const char *rel)
{
	char p[256];
	struct stat sb;

	path_of(p, sizeof(p), dir, rel);
	return lstat(p, &sb) == 0;
}

static void
write_file(const char *path, const void *b, size_t n)
{
	int fd;

	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

static void
read_file(const char *path, unsigned char **b, size_t *n)
{
	struct stat sb;
	int fd;

	assert_true((fd = open(path, O_RDONLY)) >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	*n = (size_t)sb.st_size;
	assert_non_null(*b = malloc(*n));
	assert_int_equal(read(fd, *b, *n), (ssize_t)*n);
	close(fd);
}

/* A store with records of every size class: small, near a page, and
 * values in overflow pages; some deleted again, so that the free list
 * holds pages. */
static void
populate(const char *dir, unsigned n)
{
	static unsigned char v[9000];
	struct gw_store *st = NULL;
	struct gw_txn *t = NULL;
	char k[32];
	unsigned i;

	for (i = 0; i < sizeof(v); i++)
		v[i] = (unsigned char)(i * 7 + 3);
	assert_int_equal(gw_store_open(dir, 0, &st), 0);
	for (i = 0; i < n; i++) {
		if (i % 50 == 0) {
			if (t != NULL)
				assert_int_equal(gw_txn_commit(t), 0);
			assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &t), 0);
		}
		snprintf(k, sizeof(k), "key-%05u", (i * 7919) % 100000);
		assert_int_equal(gw_txn_put(t, i % 2 ? GW_DB_PUBKEYS : GW_DB_CAS,
					    k, strlen(k), v,
					    (size_t)(i % 3 == 0 ? 8000 :
						     i % 3 == 1 ? 1500 : 40),
					    0),
				 0);
		if (i % 4 == 3) {
			snprintf(k, sizeof(k), "key-%05u",
				 ((i - 2) * 7919) % 100000);
			assert_int_equal(gw_txn_del(t, i % 2 ? GW_DB_PUBKEYS
							     : GW_DB_CAS,
						    k, strlen(k)),
					 0);
		}
	}
	assert_int_equal(gw_txn_commit(t), 0);
	gw_store_close(st);
}

/*
 * Item 12: a missing or empty store is made only when asked for.
 */

enum setup {
	S_NOTHING,	/* data_dir missing */
	S_EMPTY_DIR,	/* data_dir there, empty (an unmounted volume) */
	S_NO_DATA,	/* store/ with lock.mdb only */
	S_ZERO,		/* data.mdb of 0 bytes */
	S_STORE,	/* a store with records */
};

struct open_case {
	const char *name;
	enum setup setup;
	unsigned flags;
	int rc;
	const char *detail; /* a substring; "%D" is not expanded */
	int created;
	const char *absent; /* must not exist afterwards ("" for dir) */
};

static const struct open_case open_cases[] = {
    {"item12_no_data_dir", S_NOTHING, 0, GW_ERR_STORE,
     "does not exist (is its volume mounted?)", 0, ""},
    {"item12_empty_volume", S_EMPTY_DIR, 0, GW_ERR_STORE,
     "/store/data.mdb (is the volume mounted?)", 0, "/store"},
    {"item12_no_data_mdb", S_NO_DATA, 0, GW_ERR_STORE,
     "no store: no ", 0, "/store/data.mdb"},
    {"item12_zero_length", S_ZERO, 0, GW_ERR_STORE,
     "/store/data.mdb has 0 bytes", 0, NULL},
    {"item12_existing_store", S_STORE, 0, 0, NULL, 0, NULL},
    {"item12_create_no_data_dir", S_NOTHING, GW_STORE_CREATE, 0, NULL, 1,
     NULL},
    {"item12_create_empty_volume", S_EMPTY_DIR, GW_STORE_CREATE, 0, NULL, 1,
     NULL},
    {"item12_create_zero_length", S_ZERO, GW_STORE_CREATE, 0, NULL, 1, NULL},
    {"item12_create_existing_is_not_new", S_STORE, GW_STORE_CREATE, 0, NULL,
     0, NULL},
};

static void
setup_case(const char *dir, enum setup s)
{
	char p[256];

	if (s == S_NOTHING)
		return;
	if (s == S_STORE) {
		populate(dir, 20);
		return;
	}
	assert_int_equal(mkdir(dir, 0700), 0);
	if (s == S_EMPTY_DIR)
		return;
	path_of(p, sizeof(p), dir, "/store");
	assert_int_equal(mkdir(p, 0700), 0);
	path_of(p, sizeof(p), dir, "/store/lock.mdb");
	write_file(p, "", 0);
	if (s == S_ZERO) {
		path_of(p, sizeof(p), dir, "/store/data.mdb");
		write_file(p, "", 0);
	}
}

static void
test_open_case(void **state)
{
	const struct open_case *tc = *state;
	struct gw_store *st = NULL;
	struct stat sb;
	char dir[128], p[256];
	int rc;

	case_dir(dir, sizeof(dir));
	setup_case(dir, tc->setup);
	gw_err_clear();
	rc = gw_store_open_ex(dir, 0, tc->flags, &st);
	if (rc != tc->rc)
		fail_msg("rc %d (%s), want %d; detail '%s'", rc,
			 gw_strerror(rc), tc->rc, gw_err_detail());
	if (tc->detail != NULL)
		assert_substr(gw_err_detail(), tc->detail);
	if (rc == 0) {
		assert_int_equal(gw_store_created(st), tc->created);
		gw_store_close(st);
	} else {
		assert_null(st);
	}
	if (tc->absent != NULL && exists(dir, tc->absent))
		fail_msg("%s%s was made", dir, tc->absent);
	if (tc->setup == S_ZERO && tc->flags == 0) {
		path_of(p, sizeof(p), dir, "/store/data.mdb");
		assert_int_equal(stat(p, &sb), 0);
		assert_int_equal(sb.st_size, 0);
	}
}

/*
 * Item 17: who may write the store.
 */

struct perm_case {
	const char *name;
	const char *rel;   /* "" data_dir, "/store", "/store/data.mdb"... */
	unsigned mode;	   /* 0: leave */
	unsigned uid;	   /* 0: leave */
	const char *detail;
};

static const struct perm_case perm_cases[] = {
    {"item17_data_dir_group_writable", "", 0770, 0,
     "mode 0770 lets its group write it (chmod go-w "},
    {"item17_data_dir_world_writable", "", 0703, 0,
     "mode 0703 lets everyone write it"},
    {"item17_store_dir_group_writable", "/store", 0730, 0,
     "/store: mode 0730 lets its group write it"},
    {"item17_data_mdb_group_writable", "/store/data.mdb", 0660, 0,
     "/store/data.mdb: mode 0660 lets its group write it"},
    {"item17_lock_mdb_world_writable", "/store/lock.mdb", 0602, 0,
     "/store/lock.mdb: mode 0602 lets everyone write it"},
    {"item17_data_dir_other_owner", "", 0, 4242,
     ": owned by uid 4242, must be owned by uid "},
    {"item17_data_mdb_other_owner", "/store/data.mdb", 0, 4242,
     "/store/data.mdb: owned by uid 4242"},
};

static void
test_perm_case(void **state)
{
	const struct perm_case *tc = *state;
	struct gw_store *st = NULL;
	char dir[128], p[256];
	unsigned f;

	if (tc->uid != 0 && geteuid() != 0)
		skip(); /* chown needs root */
	case_dir(dir, sizeof(dir));
	populate(dir, 4);
	path_of(p, sizeof(p), dir, tc->rel);
	if (tc->mode != 0)
		assert_int_equal(chmod(p, tc->mode), 0);
	if (tc->uid != 0)
		assert_int_equal(chown(p, tc->uid, (gid_t)-1), 0);
	for (f = 0; f <= GW_STORE_CREATE; f += GW_STORE_CREATE) {
		gw_err_clear();
		assert_int_equal(gw_store_open_ex(dir, 0, f, &st), GW_ERR_PERM);
		assert_null(st);
		assert_substr(gw_err_detail(), tc->detail);
		gw_err_clear();
		assert_int_equal(gw_store_verify(dir, NULL, NULL), GW_ERR_PERM);
		assert_substr(gw_err_detail(), tc->detail);
	}
}

/* Root and the effective user may own; nobody else may write. */
static void
item17_perm_rule(void **state)
{
	struct stat sb;

	(void)state;
	memset(&sb, 0, sizeof(sb));
	sb.st_uid = geteuid();
	sb.st_mode = S_IFREG | 0644;
	assert_int_equal(gw_perm_trusted("x", "/f", &sb), 0);
	sb.st_uid = 0;
	assert_int_equal(gw_perm_owner("x", "/f", &sb), 0);
	sb.st_mode = S_IFDIR | 01777; /* /tmp: sticky is no excuse */
	gw_err_clear();
	assert_int_equal(gw_perm_not_shared("x", "/f", &sb), GW_ERR_PERM);
	assert_string_equal(gw_err_detail(),
			    "x /f: mode 1777 lets everyone write it (chmod go-w "
			    "/f)");
	if (geteuid() != 4243) {
		sb.st_uid = 4243;
		sb.st_mode = S_IFREG | 0600;
		gw_err_clear();
		assert_int_equal(gw_perm_trusted("pin_file", "/p", &sb),
				 GW_ERR_PERM);
		assert_substr(gw_err_detail(),
			      "pin_file /p: owned by uid 4243, must be owned "
			      "by uid ");
	}
}

/* New stores: folders 0700, files 0600, under any umask. */
static void
item17_new_store_modes(void **state)
{
	static const char *const rel[] = {"", "/store", "/store/data.mdb",
					   "/store/lock.mdb"};
	static const unsigned want[] = {0700, 0700, 0600, 0600};
	struct gw_store *st = NULL;
	struct stat sb;
	char dir[128], p[256];
	mode_t old;
	size_t i;

	(void)state;
	case_dir(dir, sizeof(dir));
	old = umask(0);
	assert_int_equal(gw_store_open_ex(dir, 0, GW_STORE_CREATE, &st), 0);
	umask(old);
	gw_store_close(st);
	for (i = 0; i < 4; i++) {
		path_of(p, sizeof(p), dir, rel[i]);
		assert_int_equal(stat(p, &sb), 0);
		assert_int_equal(sb.st_mode & 07777, want[i]);
	}
	/* ... and they pass the rule they were made for. */
	assert_int_equal(gw_store_open_ex(dir, 0, 0, &st), 0);
	gw_store_close(st);
}

/*
 * Item 13: truncated and damaged files.
 */

struct counted {
	unsigned long long pubkeys, cas;
};

static void
count_cb(void *arg, const char *db, unsigned long long n)
{
	struct counted *c = arg;

	if (strcmp(db, GW_DB_PUBKEYS) == 0)
		c->pubkeys = n;
	if (strcmp(db, GW_DB_CAS) == 0)
		c->cas = n;
}

static int
count_raw(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	(*(size_t *)arg)++;
	return 0;
}

/* A store that has seen puts and deletes of every size is sound, and the
 * walk counts what LMDB counts. */
static void
item13_sound_after_churn(void **state)
{
	struct counted c = {0, 0};
	struct gw_store *st = NULL;
	struct gw_txn *t = NULL;
	size_t n1 = 0, n2 = 0;
	char dir[128];

	(void)state;
	case_dir(dir, sizeof(dir));
	populate(dir, 600);
	gw_err_clear();
	if (gw_store_verify(dir, count_cb, &c) != 0)
		fail_msg("%s", gw_err_detail());
	assert_int_equal(gw_store_open_ex(dir, 0, 0, &st), 0);
	assert_int_equal(gw_txn_begin(st, GW_TXN_READ, &t), 0);
	assert_int_equal(gw_txn_count(t, GW_DB_PUBKEYS, &n1), 0);
	assert_int_equal(gw_txn_count(t, GW_DB_CAS, &n2), 0);
	assert_true(n1 > 100 && n2 > 100);
	assert_int_equal(c.pubkeys, n1);
	assert_int_equal(c.cas, n2);
	n1 = 0;
	assert_int_equal(gw_txn_foreach(t, GW_DB_PUBKEYS, count_raw, &n1), 0);
	assert_int_equal(c.pubkeys, n1);
	gw_txn_abort(t);
	gw_store_close(st);
}

/* Cut at every page boundary and at odd sizes: refused on open with a
 * detail naming the file, never a SIGBUS. */
static void
item13_truncated_refused(void **state)
{
	struct gw_store *st = NULL;
	unsigned char *good = NULL;
	char dir[128], db[256];
	size_t n, cut;
	int rc;

	(void)state;
	case_dir(dir, sizeof(dir));
	populate(dir, 120);
	path_of(db, sizeof(db), dir, "/store/data.mdb");
	read_file(db, &good, &n);
	assert_true(n >= 8 * 4096);
	for (cut = 1; cut < n; cut += cut < 8192 ? 509 : 4096) {
		write_file(db, good, cut);
		gw_err_clear();
		rc = gw_store_open_ex(dir, 0, GW_STORE_CREATE, &st);
		if (rc != GW_ERR_STORE)
			fail_msg("cut at %zu of %zu: rc %d '%s'", cut, n, rc,
				 gw_err_detail());
		assert_substr(gw_err_detail(), "/store/data.mdb: damaged");
		gw_err_clear();
		assert_int_equal(gw_store_verify(dir, NULL, NULL),
				 GW_ERR_STORE);
	}
	write_file(db, good, n);
	assert_int_equal(gw_store_verify(dir, NULL, NULL), 0);
	free(good);
}

static int
walk_all(struct gw_store *st)
{
	struct gw_txn *t = NULL;
	const char *db;
	size_t i, n;
	int rc = 0;

	if ((rc = gw_txn_begin(st, GW_TXN_READ, &t)) != 0)
		return rc;
	for (i = 0; (db = gw_store_db_name(i)) != NULL && rc == 0; i++) {
		n = 0;
		rc = gw_txn_foreach(t, db, count_raw, &n);
	}
	gw_txn_abort(t);
	return rc;
}

/* Bytes overwritten in page headers and node areas, a few hundred
 * times: the walk reports damage or calls the file sound, and a file it
 * calls sound opens and reads to the end (a crash ends the test). */
static void
item13_random_damage(void **state)
{
	struct gw_store *st = NULL;
	unsigned char *good = NULL, *bad = NULL;
	char dir[128], db[256];
	size_t n, pages, page, off, i, j, damaged = 0, nbytes;
	int rc;

	(void)state;
	case_dir(dir, sizeof(dir));
	populate(dir, 200);
	path_of(db, sizeof(db), dir, "/store/data.mdb");
	read_file(db, &good, &n);
	assert_non_null(bad = malloc(n));
	pages = n / 4096;
	srand(13);
	for (i = 0; i < 400; i++) {
		memcpy(bad, good, n);
		page = i < 20 ? i % 2 : 2 + (size_t)rand() % (pages - 2);
		nbytes = 1 + (size_t)rand() % 8;
		for (j = 0; j < nbytes; j++) {
			off = rand() % 2 ? (size_t)rand() % 64
					 : 2048 + (size_t)rand() % 2048;
			bad[page * 4096 + off] = (unsigned char)rand();
		}
		write_file(db, bad, n);
		gw_err_clear();
		rc = gw_store_verify(dir, NULL, NULL);
		if (rc != 0 && rc != GW_ERR_STORE)
			fail_msg("damage %zu: rc %d '%s'", i, rc,
				 gw_err_detail());
		if (rc != 0) {
			damaged++;
			assert_substr(gw_err_detail(), "data.mdb");
			assert_int_equal(gw_store_open_ex(dir, 0, 0, &st),
					 GW_ERR_STORE);
			continue;
		}
		if (gw_store_open_ex(dir, 0, 0, &st) == 0) {
			(void)walk_all(st);
			gw_store_close(st);
		}
	}
	print_message("random damage: %zu of 400 found damaged\n", damaged);
	assert_true(damaged > 40);
	free(good);
	free(bad);
}

/* gw_txn_failed_key(): which record a foreach callback refused. */
static int
refuse_second(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	return ++*(int *)arg == 2 ? GW_ERR_STORE : 0;
}

static int
stop_first(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)arg;
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	return 1;
}

static void
item13_failed_key(void **state)
{
	struct gw_store *st = NULL;
	struct gw_txn *t = NULL;
	const char *db = NULL;
	const void *k = NULL;
	size_t kl = 0;
	char dir[128];
	int seen = 0;

	(void)state;
	case_dir(dir, sizeof(dir));
	assert_int_equal(gw_store_open(dir, 0, &st), 0);
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &t), 0);
	assert_int_equal(gw_txn_put(t, GW_DB_PROFILES, "a", 1, "1", 1, 0), 0);
	assert_int_equal(gw_txn_put(t, GW_DB_PROFILES, "b", 1, "2", 1, 0), 0);
	assert_int_equal(gw_txn_put(t, GW_DB_PROFILES, "c", 1, "3", 1, 0), 0);
	assert_int_equal(gw_txn_commit(t), 0);
	assert_int_equal(gw_txn_begin(st, GW_TXN_READ, &t), 0);
	assert_int_equal(gw_txn_failed_key(t, &db, &k, &kl), GW_ERR_NOT_FOUND);
	assert_int_equal(gw_txn_foreach(t, GW_DB_PROFILES, stop_first, NULL), 0);
	assert_int_equal(gw_txn_failed_key(t, &db, &k, &kl), GW_ERR_NOT_FOUND);
	assert_int_equal(gw_txn_foreach(t, GW_DB_PROFILES, refuse_second,
					&seen),
			 GW_ERR_STORE);
	assert_int_equal(gw_txn_failed_key(t, &db, &k, &kl), 0);
	assert_string_equal(db, GW_DB_PROFILES);
	assert_int_equal(kl, 1);
	assert_memory_equal(k, "b", 1);
	gw_txn_abort(t);
	gw_store_close(st);
}

int
main(void)
{
	struct CMUnitTest oc[sizeof(open_cases) / sizeof(open_cases[0])];
	struct CMUnitTest pc[sizeof(perm_cases) / sizeof(perm_cases[0])];
	const struct CMUnitTest misc[] = {
	    cmocka_unit_test(item17_perm_rule),
	    cmocka_unit_test(item17_new_store_modes),
	    cmocka_unit_test(item13_sound_after_churn),
	    cmocka_unit_test(item13_truncated_refused),
	    cmocka_unit_test(item13_random_damage),
	    cmocka_unit_test(item13_failed_key),
	};
	size_t i;
	int failed = 0;

	if (unit_tmpdir(tmpdir, sizeof(tmpdir), "test_gw_store") != 0) {
		perror("mkdtemp");
		return 1;
	}
	for (i = 0; i < sizeof(oc) / sizeof(oc[0]); i++) {
		memset(&oc[i], 0, sizeof(oc[i]));
		oc[i].name = open_cases[i].name;
		oc[i].test_func = test_open_case;
		oc[i].initial_state = (void *)&open_cases[i];
	}
	for (i = 0; i < sizeof(pc) / sizeof(pc[0]); i++) {
		memset(&pc[i], 0, sizeof(pc[i]));
		pc[i].name = perm_cases[i].name;
		pc[i].test_func = test_perm_case;
		pc[i].initial_state = (void *)&perm_cases[i];
	}
	failed += _cmocka_run_group_tests("item12_open", oc,
					  sizeof(oc) / sizeof(oc[0]), NULL,
					  NULL);
	failed += _cmocka_run_group_tests("item17_permissions", pc,
					  sizeof(pc) / sizeof(pc[0]), NULL,
					  NULL);
	failed += _cmocka_run_group_tests("item13_damage", misc,
					  sizeof(misc) / sizeof(misc[0]), NULL,
					  NULL);
	if (unit_rmtree(tmpdir) != 0) {
		perror(tmpdir);
		failed++;
	}
	return failed != 0;
}
