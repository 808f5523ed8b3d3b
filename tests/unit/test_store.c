/*
 * test_store.c - table tests for gateway/gw_store.c and gw_record.c.
 *
 * Store cases are scripts: each opens a fresh store in its own
 * directory under one mkdtemp directory and runs a list of steps (begin,
 * put, get, del, foreach, commit, abort, reopen), each with the code it
 * must return and, for a failure, the exact latched detail ("" when the
 * code is an ordinary outcome such as GW_ERR_NOT_FOUND).  Record cases
 * are golden encodings and raw byte strings to decode.
 */
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
#include "gw_record.h"
#include "gw_store.h"

#define BAD_VALSIZE                                                     \
	"MDB_BAD_VALSIZE: Unsupported size of key/DB name/data, or wrong " \
	"DUPFIXED size"
#define CORRUPT "corrupt record in the store"

static char tmpdir[64];
static unsigned case_no;

/*
 * Store scripts
 */

enum op {
	END,
	BEGIN_R,   /* begin a read transaction in slot */
	BEGIN_W,   /* begin a write transaction in slot */
	COMMIT,
	ABORT,
	PUT,
	GET,	   /* .val: the value expected */
	DEL,
	EACH,	   /* .val: "k=v;..." listing expected */
	EACH_STOP, /* callback stops after the first key */
	EACH_FAIL, /* callback fails on key .key */
	REOPEN,	   /* close and open the store again */
};

/*
 * Keys and values are strings; "#N" stands for N bytes of 'k' (keys)
 * or a pattern (values), klen > 0 for a key with NUL bytes.
 */
struct step {
	enum op op;
	int slot; /* which of two transactions */
	const char *db;
	const char *key;
	size_t klen;
	const char *val;
	unsigned flags;
	int rc;
	const char *detail; /* rc != 0; NULL: nothing latched */
};

struct store_case {
	const char *name;
	struct step steps[24];
};

#define ID GW_DB_IDENTITIES
#define S(o, ...) {.op = (o), __VA_ARGS__}

static const struct store_case store_cases[] = {
	{"put then get in one transaction",
	 {S(BEGIN_W), S(PUT, .key = "a@example.org", .val = "v1"),
	  S(GET, .key = "a@example.org", .val = "v1"), S(COMMIT)}},
	{"put, commit, get in a read transaction",
	 {S(BEGIN_W), S(PUT, .key = "k", .val = "v"), S(COMMIT), S(BEGIN_R),
	  S(GET, .key = "k", .val = "v"), S(COMMIT)}},
	{"every database is separate",
	 {S(BEGIN_W),
	  S(PUT, .db = GW_DB_IDENTITIES, .key = "k", .val = "identities"),
	  S(PUT, .db = GW_DB_PUBKEYS, .key = "k", .val = "pubkeys"),
	  S(PUT, .db = GW_DB_HARVESTED, .key = "k", .val = "harvested"),
	  S(PUT, .db = GW_DB_CAS, .key = "k", .val = "cas"),
	  S(PUT, .db = GW_DB_PROFILES, .key = "k", .val = "profiles"),
	  S(PUT, .db = GW_DB_ALERTS, .key = "k", .val = "alerts"),
	  S(PUT, .db = GW_DB_META, .key = "k", .val = "meta"), S(COMMIT),
	  S(BEGIN_R),
	  S(GET, .db = GW_DB_IDENTITIES, .key = "k", .val = "identities"),
	  S(GET, .db = GW_DB_PUBKEYS, .key = "k", .val = "pubkeys"),
	  S(GET, .db = GW_DB_HARVESTED, .key = "k", .val = "harvested"),
	  S(GET, .db = GW_DB_CAS, .key = "k", .val = "cas"),
	  S(GET, .db = GW_DB_PROFILES, .key = "k", .val = "profiles"),
	  S(GET, .db = GW_DB_ALERTS, .key = "k", .val = "alerts"),
	  S(GET, .db = GW_DB_META, .key = "k", .val = "meta"), S(COMMIT)}},
	{"get of a missing key is GW_ERR_NOT_FOUND with no detail",
	 {S(BEGIN_W), S(PUT, .key = "a", .val = "1"), S(COMMIT), S(BEGIN_R),
	  S(GET, .key = "b", .rc = GW_ERR_NOT_FOUND), S(COMMIT)}},
	{"get from an empty database",
	 {S(BEGIN_R), S(GET, .db = GW_DB_CAS, .key = "x",
			.rc = GW_ERR_NOT_FOUND), S(ABORT)}},
	{"NOOVERWRITE on an existing key is GW_ERR_EXISTS, old value kept",
	 {S(BEGIN_W), S(PUT, .key = "k", .val = "old"), S(COMMIT), S(BEGIN_W),
	  S(PUT, .key = "k", .val = "new", .flags = GW_PUT_NOOVERWRITE,
	    .rc = GW_ERR_EXISTS),
	  S(GET, .key = "k", .val = "old"), S(COMMIT), S(BEGIN_R),
	  S(GET, .key = "k", .val = "old"), S(ABORT)}},
	{"NOOVERWRITE on an existing key in the same transaction",
	 {S(BEGIN_W), S(PUT, .key = "k", .val = "old"),
	  S(PUT, .key = "k", .val = "new", .flags = GW_PUT_NOOVERWRITE,
	    .rc = GW_ERR_EXISTS),
	  S(GET, .key = "k", .val = "old"), S(COMMIT)}},
	{"NOOVERWRITE on a new key",
	 {S(BEGIN_W),
	  S(PUT, .key = "k", .val = "v", .flags = GW_PUT_NOOVERWRITE),
	  S(COMMIT), S(BEGIN_R), S(GET, .key = "k", .val = "v"), S(ABORT)}},
	{"put without NOOVERWRITE replaces",
	 {S(BEGIN_W), S(PUT, .key = "k", .val = "old"), S(COMMIT), S(BEGIN_W),
	  S(PUT, .key = "k", .val = "new"), S(COMMIT), S(BEGIN_R),
	  S(GET, .key = "k", .val = "new"), S(ABORT)}},
	{"delete then get",
	 {S(BEGIN_W), S(PUT, .key = "k", .val = "v"), S(COMMIT), S(BEGIN_W),
	  S(DEL, .key = "k"), S(COMMIT), S(BEGIN_R),
	  S(GET, .key = "k", .rc = GW_ERR_NOT_FOUND), S(ABORT)}},
	{"delete of a missing key is GW_ERR_NOT_FOUND",
	 {S(BEGIN_W), S(DEL, .key = "nobody", .rc = GW_ERR_NOT_FOUND),
	  S(COMMIT)}},
	{"delete leaves other keys and databases alone",
	 {S(BEGIN_W), S(PUT, .key = "a", .val = "1"),
	  S(PUT, .key = "b", .val = "2"),
	  S(PUT, .db = GW_DB_META, .key = "a", .val = "m"), S(DEL, .key = "a"),
	  S(EACH, .val = "b=2;"), S(EACH, .db = GW_DB_META, .val = "a=m;"),
	  S(COMMIT)}},
	{"abort discards writes",
	 {S(BEGIN_W), S(PUT, .key = "k", .val = "v"), S(ABORT), S(BEGIN_R),
	  S(GET, .key = "k", .rc = GW_ERR_NOT_FOUND), S(ABORT)}},
	{"committed data survives a reopen",
	 {S(BEGIN_W), S(PUT, .db = GW_DB_PROFILES, .key = "p", .val = "1"),
	  S(COMMIT), S(REOPEN), S(BEGIN_R),
	  S(GET, .db = GW_DB_PROFILES, .key = "p", .val = "1"), S(ABORT)}},
	{"aborted data does not survive a reopen",
	 {S(BEGIN_W), S(PUT, .key = "p", .val = "1"), S(ABORT), S(REOPEN),
	  S(BEGIN_R), S(GET, .key = "p", .rc = GW_ERR_NOT_FOUND), S(ABORT)}},
	{"a read transaction keeps its snapshot",
	 {S(BEGIN_W), S(PUT, .key = "k", .val = "old"), S(COMMIT),
	  S(BEGIN_R, .slot = 1), S(BEGIN_W), S(PUT, .key = "k", .val = "new"),
	  S(PUT, .key = "k2", .val = "x"), S(COMMIT),
	  S(GET, .slot = 1, .key = "k", .val = "old"),
	  S(GET, .slot = 1, .key = "k2", .rc = GW_ERR_NOT_FOUND),
	  S(BEGIN_R), S(GET, .key = "k", .val = "new"), S(ABORT),
	  S(ABORT, .slot = 1)}},
	{"a reader does not see an uncommitted write",
	 {S(BEGIN_W), S(PUT, .key = "k", .val = "v"), S(BEGIN_R, .slot = 1),
	  S(GET, .slot = 1, .key = "k", .rc = GW_ERR_NOT_FOUND),
	  S(ABORT, .slot = 1), S(COMMIT)}},
	{"foreach visits keys in byte order",
	 {S(BEGIN_W), S(PUT, .key = "b", .val = "2"),
	  S(PUT, .key = "aa", .val = "3"),
	  S(PUT, .key = "a", .val = "1"), S(PUT, .key = "B", .val = "0"),
	  S(PUT, .key = "c", .val = "4"), S(COMMIT), S(BEGIN_R),
	  S(EACH, .val = "B=0;a=1;aa=3;b=2;c=4;"), S(ABORT)}},
	{"foreach on an empty database calls nothing",
	 {S(BEGIN_R), S(EACH, .db = GW_DB_ALERTS, .val = ""), S(ABORT)}},
	{"foreach sees only its database",
	 {S(BEGIN_W), S(PUT, .db = GW_DB_CAS, .key = "ca", .val = "1"),
	  S(PUT, .db = GW_DB_PUBKEYS, .key = "pk", .val = "2"),
	  S(EACH, .db = GW_DB_CAS, .val = "ca=1;"),
	  S(EACH, .db = GW_DB_PUBKEYS, .val = "pk=2;"), S(COMMIT)}},
	{"foreach stops early when the callback returns > 0",
	 {S(BEGIN_W), S(PUT, .key = "a", .val = "1"),
	  S(PUT, .key = "b", .val = "2"),
	  S(EACH_STOP, .val = "a=1;"), S(COMMIT)}},
	{"foreach fails with the callback's code",
	 {S(BEGIN_W), S(PUT, .key = "a", .val = "1"),
	  S(PUT, .key = "b", .val = "2"),
	  S(PUT, .key = "c", .val = "3"),
	  S(EACH_FAIL, .key = "b", .val = "a=1;", .rc = GW_ERR_INVALID,
	    .detail = "callback refused 'b'"),
	  S(COMMIT)}},
	{"foreach sees its own transaction's writes",
	 {S(BEGIN_W), S(PUT, .key = "a", .val = "1"), S(EACH, .val = "a=1;"),
	  S(ABORT)}},
	{"unknown database name",
	 {S(BEGIN_W),
	  S(PUT, .db = "nope", .key = "k", .val = "v", .rc = GW_ERR_INTERNAL,
	    .detail = "unknown store database 'nope'"),
	  S(GET, .db = "nope", .key = "k", .rc = GW_ERR_INTERNAL,
	    .detail = "unknown store database 'nope'"),
	  S(DEL, .db = "Identities", .key = "k", .rc = GW_ERR_INTERNAL,
	    .detail = "unknown store database 'Identities'"),
	  S(EACH, .db = "", .rc = GW_ERR_INTERNAL,
	    .detail = "unknown store database ''"),
	  S(ABORT)}},
	{"put in a read transaction",
	 {S(BEGIN_R),
	  S(PUT, .key = "k", .val = "v", .rc = GW_ERR_STORE,
	    .detail = "identities: Permission denied"),
	  S(ABORT)}},
	{"delete in a read transaction",
	 {S(BEGIN_R),
	  S(DEL, .db = GW_DB_META, .key = "k", .rc = GW_ERR_STORE,
	    .detail = "meta: Permission denied"),
	  S(ABORT)}},
	{"empty key",
	 {S(BEGIN_W),
	  S(PUT, .key = "", .val = "v", .rc = GW_ERR_STORE,
	    .detail = "identities: " BAD_VALSIZE),
	  S(ABORT)}},
	{"key of 511 bytes, the LMDB maximum",
	 {S(BEGIN_W), S(PUT, .key = "#511", .val = "v"), S(COMMIT), S(BEGIN_R),
	  S(GET, .key = "#511", .val = "v"), S(ABORT)}},
	{"key of 512 bytes",
	 {S(BEGIN_W),
	  S(PUT, .db = GW_DB_HARVESTED, .key = "#512", .val = "v",
	    .rc = GW_ERR_STORE, .detail = "harvested: " BAD_VALSIZE),
	  S(ABORT)}},
	{"get with a key of 512 bytes finds nothing",
	 {S(BEGIN_R), S(GET, .key = "#512", .rc = GW_ERR_NOT_FOUND), S(ABORT)}},
	{"get with an empty key",
	 {S(BEGIN_R),
	  S(GET, .key = "", .rc = GW_ERR_STORE,
	    .detail = "identities: " BAD_VALSIZE),
	  S(ABORT)}},
	{"delete with an empty key",
	 {S(BEGIN_W),
	  S(DEL, .key = "", .rc = GW_ERR_STORE,
	    .detail = "identities: " BAD_VALSIZE),
	  S(ABORT)}},
	{"empty value",
	 {S(BEGIN_W), S(PUT, .key = "k", .val = ""), S(COMMIT), S(BEGIN_R),
	  S(GET, .key = "k", .val = ""), S(EACH, .val = "k=;"), S(ABORT)}},
	{"binary keys with NUL bytes are distinct",
	 {S(BEGIN_W), S(PUT, .key = "a\0b", .klen = 3, .val = "1"),
	  S(PUT, .key = "a\0c", .klen = 3, .val = "2"),
	  S(PUT, .key = "a", .val = "3"), S(COMMIT), S(BEGIN_R),
	  S(GET, .key = "a\0b", .klen = 3, .val = "1"),
	  S(GET, .key = "a\0c", .klen = 3, .val = "2"),
	  S(GET, .key = "a", .val = "3"),
	  S(GET, .key = "a\0", .klen = 2, .rc = GW_ERR_NOT_FOUND), S(ABORT)}},
	{"value of 1 MiB",
	 {S(BEGIN_W), S(PUT, .key = "big", .val = "#1048576"), S(COMMIT),
	  S(REOPEN), S(BEGIN_R), S(GET, .key = "big", .val = "#1048576"),
	  S(ABORT)}},
};

#define NSTORE (sizeof(store_cases) / sizeof(store_cases[0]))

/* "#N" -> N bytes; other strings as they are. *buf is malloc'd. */
static const char *
expand_data(const char *s, size_t klen, int is_key, char **buf,
	    size_t *len)
{
	size_t n, i;

	*buf = NULL;
	if (s[0] != '#') {
		*len = klen ? klen : strlen(s);
		return s;
	}
	n = strtoul(s + 1, NULL, 10);
	assert_non_null(*buf = malloc(n + 1));
	for (i = 0; i < n; i++)
		(*buf)[i] = is_key ? 'k' : (char)('a' + (i * 7 + i / 251) % 26);
	(*buf)[n] = '\0';
	*len = n;
	return *buf;
}

struct each_arg {
	char out[512];
	int stop;		/* stop after the first key */
	const char *fail_at;	/* fail on this key */
};

static int
each_cb(void *arg, const void *key, size_t klen, const void *val,
	size_t vlen)
{
	struct each_arg *a = arg;
	size_t n = strlen(a->out);

	if (a->fail_at != NULL && klen == strlen(a->fail_at) &&
	    memcmp(key, a->fail_at, klen) == 0)
		return gw_err_set(GW_ERR_INVALID, "callback refused '%.*s'",
				  (int)klen, (const char *)key);
	snprintf(a->out + n, sizeof(a->out) - n, "%.*s=%.*s;", (int)klen,
		 (const char *)key, (int)vlen, (const char *)val);
	return a->stop;
}

static void
case_dir(char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/case%u", tmpdir, case_no);
}

static void
check_rc(const struct store_case *tc, size_t i, int rc)
{
	const struct step *s = &tc->steps[i];

	if (rc != s->rc)
		fail_msg("step %zu: rc %d (%s), want %d (%s); detail '%s'", i,
			 rc, gw_strerror(rc), s->rc, gw_strerror(s->rc),
			 gw_err_detail());
	assert_string_equal(gw_err_detail(), s->detail ? s->detail : "");
	gw_err_clear();
}

static void
test_store_case(void **state)
{
	const struct store_case *tc = *state;
	struct gw_store *st = NULL;
	struct gw_txn *txn[2] = {NULL, NULL};
	struct each_arg ea;
	const struct step *s;
	const void *v;
	const char *key, *val, *db;
	char dir[128], *kbuf, *vbuf;
	size_t i, klen, vlen, gl;
	int rc;

	case_dir(dir, sizeof(dir));
	assert_int_equal(gw_store_open(dir, 0, &st), 0);
	for (i = 0; tc->steps[i].op != END; i++) {
		s = &tc->steps[i];
		db = s->db ? s->db : ID;
		kbuf = vbuf = NULL;
		klen = vlen = 0;
		key = s->key ? expand_data(s->key, s->klen, 1, &kbuf, &klen)
			     : NULL;
		val = s->val ? expand_data(s->val, 0, 0, &vbuf, &vlen) : NULL;
		switch (s->op) {
		case END:
			break;
		case BEGIN_R:
		case BEGIN_W:
			assert_null(txn[s->slot]);
			rc = gw_txn_begin(st,
					  s->op == BEGIN_W ? GW_TXN_WRITE
							   : GW_TXN_READ,
					  &txn[s->slot]);
			check_rc(tc, i, rc);
			break;
		case COMMIT:
			rc = gw_txn_commit(txn[s->slot]);
			txn[s->slot] = NULL;
			check_rc(tc, i, rc);
			break;
		case ABORT:
			gw_txn_abort(txn[s->slot]);
			txn[s->slot] = NULL;
			break;
		case PUT:
			rc = gw_txn_put(txn[s->slot], db, key, klen, val, vlen,
					s->flags);
			check_rc(tc, i, rc);
			break;
		case GET:
			v = NULL;
			gl = 12345;
			rc = gw_txn_get(txn[s->slot], db, key, klen, &v, &gl);
			check_rc(tc, i, rc);
			if (rc == 0) {
				assert_int_equal(gl, vlen);
				assert_memory_equal(v, val, vlen);
			}
			break;
		case DEL:
			rc = gw_txn_del(txn[s->slot], db, key, klen);
			check_rc(tc, i, rc);
			break;
		case EACH:
		case EACH_STOP:
		case EACH_FAIL:
			memset(&ea, 0, sizeof(ea));
			ea.stop = s->op == EACH_STOP;
			ea.fail_at = s->op == EACH_FAIL ? s->key : NULL;
			rc = gw_txn_foreach(txn[s->slot], db, each_cb, &ea);
			check_rc(tc, i, rc);
			if (val != NULL)
				assert_string_equal(ea.out, val);
			break;
		case REOPEN:
			gw_store_close(st);
			st = NULL;
			assert_int_equal(gw_store_open(dir, 0, &st), 0);
			break;
		}
		free(kbuf);
		free(vbuf);
	}
	assert_null(txn[0]);
	assert_null(txn[1]);
	gw_store_close(st);
}

/*
 * Opening
 */

enum open_setup {
	O_NONE,
	O_PARENT_MISSING, /* dir's parent does not exist */
	O_DIR_IS_FILE,	  /* dir is a regular file */
	O_STORE_IS_FILE,  /* dir/store is a regular file */
	O_GARBAGE,	  /* dir/store/data.mdb is not LMDB */
	O_EXISTS,	  /* dir and dir/store exist, 0755 */
};

struct open_case {
	const char *name;
	enum open_setup setup;
	int rc;
	const char *detail; /* "%D" is the case directory */
};

static const struct open_case open_cases[] = {
	{"fresh directory", O_NONE, 0, NULL},
	{"existing directories are used as they are", O_EXISTS, 0, NULL},
	{"parent directory missing", O_PARENT_MISSING, GW_ERR_IO,
	 "cannot create %D/missing/gw: No such file or directory"},
	{"data_dir is a file", O_DIR_IS_FILE, GW_ERR_IO,
	 "%D is not a directory"},
	{"store is a file", O_STORE_IS_FILE, GW_ERR_IO,
	 "%D/store is not a directory"},
	{"data.mdb is not an LMDB file", O_GARBAGE, GW_ERR_STORE,
	 "store %D/store/data.mdb: meta page 0 is not an LMDB meta page "
	 "(not a store, or damaged)"},
};

#define NOPEN (sizeof(open_cases) / sizeof(open_cases[0]))

static void
write_bytes(const char *path, const char *s, size_t n)
{
	FILE *fp;

	assert_non_null(fp = fopen(path, "w"));
	assert_int_equal(fwrite(s, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

static void
test_open_case(void **state)
{
	const struct open_case *tc = *state;
	struct gw_store *st = (struct gw_store *)&st; /* poison */
	char dir[128], open_dir[192], p[192], want[512];
	const char *d;
	size_t n = 0;
	int rc;

	case_dir(dir, sizeof(dir));
	snprintf(open_dir, sizeof(open_dir), "%s", dir);
	switch (tc->setup) {
	case O_NONE:
		break;
	case O_PARENT_MISSING:
		assert_int_equal(mkdir(dir, 0700), 0);
		snprintf(open_dir, sizeof(open_dir), "%s/missing/gw", dir);
		break;
	case O_DIR_IS_FILE:
		write_bytes(dir, "x", 1);
		break;
	case O_STORE_IS_FILE:
		assert_int_equal(mkdir(dir, 0700), 0);
		snprintf(p, sizeof(p), "%s/store", dir);
		write_bytes(p, "x", 1);
		break;
	case O_GARBAGE: {
		char junk[8192];

		memset(junk, 'J', sizeof(junk));
		assert_int_equal(mkdir(dir, 0700), 0);
		snprintf(p, sizeof(p), "%s/store", dir);
		assert_int_equal(mkdir(p, 0700), 0);
		snprintf(p, sizeof(p), "%s/store/data.mdb", dir);
		write_bytes(p, junk, sizeof(junk));
		break;
	}
	case O_EXISTS:
		assert_int_equal(mkdir(dir, 0755), 0);
		snprintf(p, sizeof(p), "%s/store", dir);
		assert_int_equal(mkdir(p, 0755), 0);
		break;
	}
	rc = gw_store_open(open_dir, 0, &st);
	if (rc != tc->rc)
		fail_msg("rc %d (%s), want %d; detail '%s'", rc,
			 gw_strerror(rc), tc->rc, gw_err_detail());
	if (rc == 0) {
		assert_non_null(st);
		assert_string_equal(gw_err_detail(), "");
		gw_store_close(st);
		return;
	}
	assert_null(st);
	/* Expand %D: the case directory. */
	for (d = tc->detail; *d != '\0'; d++) {
		if (d[0] == '%' && d[1] == 'D') {
			n += (size_t)snprintf(want + n, sizeof(want) - n, "%s",
					      dir);
			d++;
		} else {
			want[n++] = *d;
		}
	}
	want[n] = '\0';
	assert_string_equal(gw_err_detail(), want);
}

/* Directories 0700 and files 0600 even under umask 0. */
static void
test_modes(void **state)
{
	static const struct {
		const char *rel;
		unsigned mode;
	} want[] = {
	    {"", 0700}, {"/store", 0700}, {"/store/data.mdb", 0600},
	    {"/store/lock.mdb", 0600},
	};
	struct gw_store *st = NULL;
	struct stat sb;
	char dir[128], p[192];
	mode_t old;
	size_t i;

	(void)state;
	case_dir(dir, sizeof(dir));
	old = umask(0);
	assert_int_equal(gw_store_open(dir, 0, &st), 0);
	umask(old);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", dir, want[i].rel);
		assert_int_equal(stat(p, &sb), 0);
		if ((sb.st_mode & 07777) != want[i].mode)
			fail_msg("%s: mode %04o, want %04o", p,
				 (unsigned)(sb.st_mode & 07777), want[i].mode);
	}
	gw_store_close(st);
}

/* A tiny map grows (issue 10): a thousand commits of 1000 bytes into a
 * 64 KiB map all succeed and stay readable.  One transaction larger
 * than the map is GW_ERR_STORE_FULL, a temporary error saying the map
 * grows, and leaves nothing behind (test_store_grow.c: grown, it runs). */
static void
test_store_full(void **state)
{
	static char val[1000];
	struct gw_store *st = NULL;
	struct gw_txn *txn = NULL;
	const void *v;
	char dir[128], key[32];
	size_t vlen, map;
	int i, rc = 0;

	(void)state;
	memset(val, 'v', sizeof(val));
	case_dir(dir, sizeof(dir));
	assert_int_equal(gw_store_open(dir, 64 * 1024, &st), 0);
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "key%04d", i);
		assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
		assert_int_equal(gw_txn_put(txn, GW_DB_IDENTITIES, key,
					    strlen(key), val, sizeof(val), 0),
				 0);
		assert_int_equal(gw_txn_commit(txn), 0);
	}
	map = gw_store_map_size(st);
	assert_true(map > 64 * 1024);
	assert_int_equal(gw_txn_begin(st, GW_TXN_READ, &txn), 0);
	assert_int_equal(gw_txn_get(txn, GW_DB_IDENTITIES, "key0999", 7, &v,
				    &vlen),
			 0);
	assert_int_equal(vlen, sizeof(val));
	gw_txn_abort(txn);

	/* More than the map in one transaction. */
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	for (i = 1000; rc == 0 && (size_t)(i - 1000) * 2 * sizeof(val) <
				      2 * map;
	     i++) {
		snprintf(key, sizeof(key), "key%04d", i);
		rc = gw_txn_put(txn, GW_DB_IDENTITIES, key, strlen(key), val,
				sizeof(val), 0);
	}
	if (rc == 0)
		rc = gw_txn_commit(txn);
	else
		gw_txn_abort(txn);
	txn = NULL;
	assert_int_equal(rc, GW_ERR_STORE_FULL);
	assert_int_equal(gw_err_class(rc), GW_ERRCLASS_TEMPORARY);
	assert_substr(gw_err_detail(), "the store's map is full (it grows");
	gw_err_clear();
	assert_int_equal(gw_txn_begin(st, GW_TXN_READ, &txn), 0);
	assert_int_equal(gw_txn_get(txn, GW_DB_IDENTITIES, "key1000", 7, &v,
				    &vlen),
			 GW_ERR_NOT_FOUND);
	gw_txn_abort(txn);
	gw_store_close(st);
	gw_err_clear();
}

/* A record written with gw_record and stored, read back. */
static void
test_record_in_store(void **state)
{
	struct gw_store *st = NULL;
	struct gw_txn *txn = NULL;
	struct gw_rec_writer *w;
	struct gw_rec_field f;
	const unsigned char *data;
	const void *v;
	char dir[128], *s;
	size_t len, vlen, off = 0;

	(void)state;
	case_dir(dir, sizeof(dir));
	assert_non_null(w = gw_rec_writer_new());
	assert_int_equal(gw_rec_put_str(w, 1, "gw@example.org"), 0);
	assert_int_equal(gw_rec_put_u64(w, 2, 1735689600), 0);
	data = gw_rec_data(w, &len);
	assert_int_equal(gw_store_open(dir, 0, &st), 0);
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	assert_int_equal(gw_txn_put(txn, GW_DB_IDENTITIES, "id", 2, data, len,
				    GW_PUT_NOOVERWRITE),
			 0);
	assert_int_equal(gw_txn_commit(txn), 0);
	gw_rec_writer_free(w);
	assert_int_equal(gw_txn_begin(st, GW_TXN_READ, &txn), 0);
	assert_int_equal(gw_txn_get(txn, GW_DB_IDENTITIES, "id", 2, &v, &vlen),
			 0);
	assert_int_equal(gw_rec_next(v, vlen, &off, &f), 1);
	assert_int_equal(f.tag, 1);
	assert_non_null(s = gw_rec_strdup(&f));
	assert_string_equal(s, "gw@example.org");
	free(s);
	assert_int_equal(gw_rec_next(v, vlen, &off, &f), 1);
	assert_int_equal(f.tag, 2);
	assert_int_equal(gw_rec_u64(&f), 1735689600);
	assert_int_equal(gw_rec_next(v, vlen, &off, &f), 0);
	gw_txn_abort(txn);
	gw_store_close(st);
}

/*
 * Records
 */

enum fkind { F_END, F_RAW, F_STR, F_U64 };

struct wfield {
	enum fkind kind;
	unsigned tag;
	const char *p; /* F_RAW: bytes, F_STR: string */
	size_t len;
	uint64_t u;
};

struct enc_case {
	const char *name;
	struct wfield f[6];
	const char *hex; /* golden encoding */
};

#define RAW(t, s) {F_RAW, (t), (s), sizeof(s) - 1, 0}
#define STR(t, s) {F_STR, (t), (s), 0, 0}
#define U64(t, v) {F_U64, (t), NULL, 0, (v)}

static const struct enc_case enc_cases[] = {
	{"empty record", {{F_END, 0, NULL, 0, 0}}, ""},
	{"one string", {STR(1, "ab")}, "0001000000026162"},
	{"string without its NUL", {STR(0x1234, "x")}, "12340000000178"},
	{"empty string", {STR(7, "")}, "0007" "00000000"},
	{"u64 is 8 bytes big-endian",
	 {U64(0x102, 0x0102030405060708ULL)},
	 "0102" "00000008" "0102030405060708"},
	{"u64 zero", {U64(3, 0)}, "0003" "00000008" "0000000000000000"},
	{"u64 max", {U64(0xffff, UINT64_MAX)},
	 "ffff" "00000008" "ffffffffffffffff"},
	{"raw bytes with NUL", {RAW(0, "\x00\xff\x00")},
	 "0000" "00000003" "00ff00"},
	{"fields in write order",
	 {STR(2, "b"), U64(1, 1), RAW(2, "\x01")},
	 "0002" "00000001" "62"
	 "0001" "00000008" "0000000000000001"
	 "0002" "00000001" "01"},
};

#define NENC (sizeof(enc_cases) / sizeof(enc_cases[0]))

static void
to_hex(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static void
test_enc_case(void **state)
{
	const struct enc_case *tc = *state;
	struct gw_rec_writer *w;
	struct gw_rec_field f;
	const unsigned char *data;
	const struct wfield *wf;
	char hex[512];
	size_t len, off = 0, slen;
	char *s;

	assert_non_null(w = gw_rec_writer_new());
	for (wf = tc->f; wf->kind != F_END; wf++) {
		switch (wf->kind) {
		case F_RAW:
			assert_int_equal(gw_rec_put(w, wf->tag, wf->p, wf->len),
					 0);
			break;
		case F_STR:
			assert_int_equal(gw_rec_put_str(w, wf->tag, wf->p), 0);
			break;
		case F_U64:
			assert_int_equal(gw_rec_put_u64(w, wf->tag, wf->u), 0);
			break;
		case F_END:
			break;
		}
	}
	data = gw_rec_data(w, &len);
	assert_true(2 * len < sizeof(hex));
	if (len > 0)
		to_hex(data, len, hex);
	else
		hex[0] = '\0';
	assert_string_equal(hex, tc->hex);

	/* Decodes to the same fields. */
	for (wf = tc->f; wf->kind != F_END; wf++) {
		assert_int_equal(gw_rec_next(data, len, &off, &f), 1);
		assert_int_equal(f.tag, wf->tag);
		switch (wf->kind) {
		case F_RAW:
			assert_int_equal(f.len, wf->len);
			assert_memory_equal(f.p, wf->p, wf->len);
			break;
		case F_STR:
			slen = strlen(wf->p);
			assert_int_equal(f.len, slen);
			assert_non_null(s = gw_rec_strdup(&f));
			assert_string_equal(s, wf->p);
			free(s);
			break;
		case F_U64:
			assert_int_equal(f.len, 8);
			assert_true(gw_rec_u64(&f) == wf->u);
			break;
		case F_END:
			break;
		}
	}
	assert_int_equal(gw_rec_next(data, len, &off, &f), 0);
	assert_int_equal(off, len);
	assert_string_equal(gw_err_detail(), "");
	gw_rec_writer_free(w);
}

/* Raw records to decode: the tags and values seen, then the result. */
struct dec_case {
	const char *name;
	const char *bytes;
	size_t len;
	const char *fields; /* "tag:hex;" per field read */
	int rc;		    /* the final gw_rec_next() result */
};

#define B(s) (s), sizeof(s) - 1

static const struct dec_case dec_cases[] = {
	{"empty record", B(""), "", 0},
	{"one field", B("\x00\x01\x00\x00\x00\x01X"), "1:58;", 0},
	{"zero-length field", B("\x00\x05\x00\x00\x00\x00"), "5:;", 0},
	{"header cut after 1 byte", B("\x00"), "", GW_ERR_STORE},
	{"header cut after 2 bytes", B("\x00\x01"), "", GW_ERR_STORE},
	{"header cut after 5 bytes", B("\x00\x01\x00\x00\x00"), "",
	 GW_ERR_STORE},
	{"value one byte short", B("\x00\x01\x00\x00\x00\x03XY"), "",
	 GW_ERR_STORE},
	{"length claims 4 GiB - 1", B("\x00\x01\xff\xff\xff\xffXY"), "",
	 GW_ERR_STORE},
	{"length claims 2^31", B("\x00\x01\x80\x00\x00\x00XY"), "",
	 GW_ERR_STORE},
	{"good field, then a truncated one",
	 B("\x00\x01\x00\x00\x00\x01X\x00\x02\x00\x00\x00\x02Y"), "1:58;",
	 GW_ERR_STORE},
	{"good field, then one stray byte",
	 B("\x00\x01\x00\x00\x00\x01X\x00"), "1:58;", GW_ERR_STORE},
	{"tags are 16-bit big-endian",
	 B("\xab\xcd\x00\x00\x00\x01Z"), "43981:5a;", 0},
};

#define NDEC (sizeof(dec_cases) / sizeof(dec_cases[0]))

static void
test_dec_case(void **state)
{
	const struct dec_case *tc = *state;
	const unsigned char *buf = (const unsigned char *)tc->bytes;
	struct gw_rec_field f;
	char got[256], hex[128];
	size_t off = 0, n = 0, prev;
	int rc;

	got[0] = '\0';
	for (;;) {
		prev = off;
		rc = gw_rec_next(buf, tc->len, &off, &f);
		if (rc != 1)
			break;
		assert_true(2 * f.len < sizeof(hex));
		to_hex(f.p, f.len, hex);
		n += (size_t)snprintf(got + n, sizeof(got) - n, "%u:%s;", f.tag,
				      hex);
	}
	assert_string_equal(got, tc->fields);
	assert_int_equal(rc, tc->rc);
	if (rc != 0) {
		assert_string_equal(gw_err_detail(), CORRUPT);
		assert_int_equal(off, prev); /* not advanced past the fault */
	} else {
		assert_string_equal(gw_err_detail(), "");
		assert_int_equal(off, tc->len);
	}
}

/* Every cut of a valid record: at a field boundary it reads as a
 * shorter record, anywhere else it is GW_ERR_STORE. */
static void
test_every_truncation(void **state)
{
	struct gw_rec_writer *w;
	struct gw_rec_field f;
	const unsigned char *data;
	size_t len, cut, off, bounds[4], nb = 0, k, fields;
	int rc, at_bound;

	(void)state;
	assert_non_null(w = gw_rec_writer_new());
	bounds[nb++] = 0;
	assert_int_equal(gw_rec_put_str(w, 1, "gw@example.org"), 0);
	gw_rec_data(w, &len);
	bounds[nb++] = len;
	assert_int_equal(gw_rec_put_u64(w, 2, 42), 0);
	gw_rec_data(w, &len);
	bounds[nb++] = len;
	assert_int_equal(gw_rec_put(w, 3, "", 0), 0);
	data = gw_rec_data(w, &len);
	bounds[nb++] = len;
	for (cut = 0; cut <= len; cut++) {
		gw_err_clear();
		at_bound = 0;
		for (k = 0; k < nb; k++)
			at_bound |= bounds[k] == cut;
		off = 0;
		fields = 0;
		while ((rc = gw_rec_next(data, cut, &off, &f)) == 1)
			fields++;
		if (at_bound) {
			if (rc != 0)
				fail_msg("cut at %zu (a boundary): rc %d", cut,
					 rc);
			for (k = 0; bounds[k] != cut; k++)
				;
			assert_int_equal(fields, k);
		} else {
			if (rc != GW_ERR_STORE)
				fail_msg("cut at %zu: rc %d, want GW_ERR_STORE",
					 cut, rc);
			assert_string_equal(gw_err_detail(), CORRUPT);
		}
	}
	gw_rec_writer_free(w);
}

/* A reader that knows tags 1 and 2 skips the fields it does not know:
 * a record can gain fields without a migration. */
static void
test_unknown_tags_skipped(void **state)
{
	struct gw_rec_writer *w;
	struct gw_rec_field f;
	const unsigned char *data;
	char *name = NULL;
	uint64_t when = 0;
	size_t len, off = 0, skipped = 0;
	int rc;

	(void)state;
	assert_non_null(w = gw_rec_writer_new());
	assert_int_equal(gw_rec_put(w, 0x7777, "future", 6), 0);
	assert_int_equal(gw_rec_put_str(w, 1, "gw@example.org"), 0);
	assert_int_equal(gw_rec_put(w, 0xfffe, "", 0), 0);
	assert_int_equal(gw_rec_put_u64(w, 2, 99), 0);
	assert_int_equal(gw_rec_put(w, 9, "\x00\x01", 2), 0);
	data = gw_rec_data(w, &len);
	while ((rc = gw_rec_next(data, len, &off, &f)) == 1) {
		switch (f.tag) {
		case 1:
			assert_non_null(name = gw_rec_strdup(&f));
			break;
		case 2:
			when = gw_rec_u64(&f);
			break;
		default:
			skipped++;
			break;
		}
	}
	assert_int_equal(rc, 0);
	assert_string_equal(name, "gw@example.org");
	assert_int_equal(when, 99);
	assert_int_equal(skipped, 3);
	free(name);
	gw_rec_writer_free(w);
}

/* gw_rec_u64 on fields that are not 8 bytes: the first 8 at most. */
static void
test_u64_odd_lengths(void **state)
{
	struct gw_rec_field f = {1, (const unsigned char *)"\x01\x02\x03", 3};
	const unsigned char nine[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

	(void)state;
	assert_true(gw_rec_u64(&f) == 0x010203);
	f.len = 0;
	assert_true(gw_rec_u64(&f) == 0);
	f.p = nine;
	f.len = sizeof(nine);
	assert_true(gw_rec_u64(&f) == 0x0102030405060708ULL);
}

/* The record ceiling; the writer stays failed once it failed. */
static void
test_record_limit(void **state)
{
	static const char small[1] = {0};
	struct gw_rec_writer *w;
	size_t len;

	(void)state;
	assert_non_null(w = gw_rec_writer_new());
	assert_int_equal(gw_rec_put_str(w, 1, "ok"), 0);
	/* len is checked before anything is read from p. */
	assert_int_equal(gw_rec_put(w, 2, small, ((size_t)64 << 20) + 1),
			 GW_ERR_LIMIT);
	assert_string_equal(gw_err_detail(),
			    "record larger than 67108864 bytes");
	assert_int_equal(gw_rec_put_str(w, 3, "later"), GW_ERR_LIMIT);
	assert_int_equal(gw_rec_put_u64(w, 4, 1), GW_ERR_LIMIT);
	gw_rec_data(w, &len);
	assert_int_equal(len, 8); /* only the first field */
	gw_rec_writer_free(w);

	/* The whole record counts, not only one field. */
	gw_err_clear();
	assert_non_null(w = gw_rec_writer_new());
	assert_int_equal(gw_rec_put_str(w, 1, "abcd"), 0);
	assert_int_equal(gw_rec_put(w, 2, small, ((size_t)64 << 20) - 10),
			 GW_ERR_LIMIT);
	assert_string_equal(gw_err_detail(),
			    "record larger than 67108864 bytes");
	gw_rec_writer_free(w);

	/* A tag must fit in 16 bits. */
	gw_err_clear();
	assert_non_null(w = gw_rec_writer_new());
	assert_int_equal(gw_rec_put(w, 0x10000, "x", 1), GW_ERR_LIMIT);
	assert_string_equal(gw_err_detail(),
			    "record tag 65536 out of range (0..65535)");
	gw_rec_data(w, &len);
	assert_int_equal(len, 0);
	gw_rec_writer_free(w);
	gw_rec_writer_free(NULL);
}

/*
 * Setup
 */

static int
case_setup(void **state)
{
	(void)state;
	case_no++;
	gw_err_clear();
	return 0;
}

int
main(void)
{
	static const struct CMUnitTest misc[] = {
	    cmocka_unit_test_setup(test_modes, case_setup),
	    cmocka_unit_test_setup(test_store_full, case_setup),
	    cmocka_unit_test_setup(test_record_in_store, case_setup),
	    cmocka_unit_test_setup(test_every_truncation, case_setup),
	    cmocka_unit_test_setup(test_unknown_tags_skipped, case_setup),
	    cmocka_unit_test_setup(test_u64_odd_lengths, case_setup),
	    cmocka_unit_test_setup(test_record_limit, case_setup),
	};
	static struct CMUnitTest store[NSTORE], open[NOPEN], enc[NENC],
	    dec[NDEC];
	size_t i;
	int failed = 0;

	if (unit_tmpdir(tmpdir, sizeof(tmpdir), "test_store") != 0) {
		perror("mkdtemp");
		return 1;
	}
	for (i = 0; i < NSTORE; i++) {
		store[i].name = store_cases[i].name;
		store[i].test_func = test_store_case;
		store[i].setup_func = case_setup;
		store[i].initial_state = (void *)&store_cases[i];
	}
	for (i = 0; i < NOPEN; i++) {
		open[i].name = open_cases[i].name;
		open[i].test_func = test_open_case;
		open[i].setup_func = case_setup;
		open[i].initial_state = (void *)&open_cases[i];
	}
	for (i = 0; i < NENC; i++) {
		enc[i].name = enc_cases[i].name;
		enc[i].test_func = test_enc_case;
		enc[i].setup_func = case_setup;
		enc[i].initial_state = (void *)&enc_cases[i];
	}
	for (i = 0; i < NDEC; i++) {
		dec[i].name = dec_cases[i].name;
		dec[i].test_func = test_dec_case;
		dec[i].setup_func = case_setup;
		dec[i].initial_state = (void *)&dec_cases[i];
	}
	failed += _cmocka_run_group_tests("gw_store", store, NSTORE, NULL,
					  NULL);
	failed += _cmocka_run_group_tests("gw_store_open", open, NOPEN, NULL,
					  NULL);
	failed += _cmocka_run_group_tests("gw_store_misc", misc,
					  sizeof(misc) / sizeof(misc[0]), NULL,
					  NULL);
	failed += _cmocka_run_group_tests("gw_record_encode", enc, NENC, NULL,
					  NULL);
	failed += _cmocka_run_group_tests("gw_record_decode", dec, NDEC, NULL,
					  NULL);
	/* Everything under our own mkdtemp directory, depth first. */
	if (unit_rmtree(tmpdir) != 0) {
		perror(tmpdir);
		failed++;
	}
	return failed != 0;
}
