/* gw_store.c - LMDB wrapper: environment, named databases, error map,
 * the checks on open (presence, permissions, size). */
#include "gw_store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <lmdb.h>

#include "gw_be.h"
#include "gw_buf.h"
#include "gw_err.h"
#include "gw_keysort.h"
#include "gw_perm.h"
#include "gw_reply.h"
#include "gw_store_file.h"
#include "log.h"

static const char *const db_names[] = {
    GW_DB_IDENTITIES, GW_DB_PUBKEYS, GW_DB_HARVESTED, GW_DB_CAS,
    GW_DB_PROFILES,   GW_DB_ALERTS,  GW_DB_META,
    GW_DB_PUBKEYS_IX, GW_DB_HARVESTED_IX, GW_DB_ROUTES, GW_DB_IDENTITIES_IX,
    GW_DB_CAS_IX, GW_DB_UNDO,
    /* The delivery journal's environment (GW_STORE_JOURNAL) only. */
    GW_DB_JOURNAL,
};
#define NDB (sizeof(db_names) / sizeof(db_names[0]))
#define NDB_STORE (NDB - 1)	/* the store's: db_names[0 .. NDB_STORE) */

/* 1 for the index databases, whose values are always empty: an undo
 * journal needs only their keys (see "batched writes" below). */
static int
db_is_index(size_t i)
{
	return strcmp(db_names[i], GW_DB_PUBKEYS_IX) == 0 ||
	       strcmp(db_names[i], GW_DB_HARVESTED_IX) == 0 ||
	       strcmp(db_names[i], GW_DB_IDENTITIES_IX) == 0 ||
	       strcmp(db_names[i], GW_DB_CAS_IX) == 0;
}

struct gw_store {
	MDB_env *env;
	MDB_dbi dbi[NDB];
	size_t map_size;
	unsigned ntxn;	      /* transactions of this process open */
	char *path;	      /* dir/store */
	char *file;	      /* dir/store/data.mdb */
	const char *map;      /* LMDB's map: [map, map + map_len) */
	size_t map_len;
	int created;
	int sound;	      /* walked, or known as walked: commits say so */
	size_t db_lo, db_hi;  /* its databases: db_names[db_lo .. db_hi) */
	unsigned char ix[NDB]; /* db_is_index() */
	size_t batch;	      /* of a batched transaction (0: default) */
	size_t undone;	      /* batches undone by the open */
};

struct undo;
static int undo_recover(struct gw_store *st, int locked);

struct gw_txn {
	struct gw_store *st;
	MDB_txn *txn;
	int write;
	int nosync;	      /* GW_TXN_WRITE_NOSYNC */
	uint64_t file_size;   /* data.mdb at the start */
	int chain;	      /* a write on the file last found sound */
	const char *fail_db;  /* the record a foreach callback refused */
	const void *fail_key;
	size_t fail_klen;
	struct undo *undo;    /* batched (gw_txn_begin_batched()) */
	unsigned walking;     /* walk()s under way: no batch may end */
};

struct gw_txn;
static int undo_put(struct gw_txn *t, size_t i, const MDB_val *k,
		    const MDB_val *v, unsigned flags);
static int undo_del(struct gw_txn *t, size_t i, const MDB_val *k);
static int undo_clear(struct gw_txn *t, size_t i);
static int undo_finish(struct gw_txn *t);
static void undo_end(struct gw_txn *t, int failed);
static int defer_add(struct gw_txn *t, size_t i, const MDB_val *k);
static int defer_flush(struct gw_txn *t);
static int deferred(struct gw_txn *t, size_t i);

/* The single place where LMDB results become GW_ERR_* codes. */
static int
store_err(int rc, const char *op)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return GW_ERR_NOT_FOUND;
	case MDB_KEYEXIST:
		return GW_ERR_EXISTS;
	case MDB_MAP_FULL:
		return gw_err_set(GW_ERR_STORE_FULL,
				  "%s: the store's map is full (it grows "
				  "before the next change, up to %llu bytes)",
				  op, (unsigned long long)GW_STORE_MAP_MAX);
	case MDB_READERS_FULL:
	case EAGAIN:
	case EBUSY:
		return gw_err_set(GW_ERR_STORE_BUSY, "%s: %s", op,
				  mdb_strerror(rc));
	case ENOMEM:
		return GW_ERR_NOMEM;
	default:
		return gw_err_set(GW_ERR_STORE, "%s: %s", op, mdb_strerror(rc));
	}
}

static int
db_index(const struct gw_store *st, const char *name, size_t *idx)
{
	size_t i = 0;

	for (i = st->db_lo; i < st->db_hi; i++) {
		if (strcmp(db_names[i], name) == 0) {
			*idx = i;
			return 0;
		}
	}
	return gw_err_set(GW_ERR_INTERNAL, "unknown store database '%s'", name);
}

const char *
gw_store_db_name(size_t i)
{
	return i < NDB_STORE ? db_names[i] : NULL;
}

/*
 * The last line of defence.  The open checks refuse a truncated file,
 * and records handed out are checked against the file's end (in_file()),
 * but LMDB follows the page numbers and offsets of a damaged page
 * without checking them, and a file cut short while in use faults on
 * the next read.  A SIGBUS or SIGSEGV inside an LMDB call, or at an
 * address in the store's map, ends the process with the status of a
 * temporary failure (gw_reply.c) and one line naming the file, so that
 * mail is deferred, not lost, and the operator reads why.  Any other
 * fault goes to the handler that was there before.  One store is
 * guarded: the one opened last.
 */
static struct {
	const char *lo, *hi;	  /* the map of the guarded store */
	volatile sig_atomic_t inside; /* > 0: in an LMDB call */
	int armed;
	char msg[512];
	size_t len;
	int status;
	int installed;
	struct sigaction old_bus, old_segv;
} guard;

static void
guard_fault(int sig, siginfo_t *si, void *uc)
{
	const char *a = si->si_addr;

	(void)uc;
	if (guard.armed && si->si_code > 0 &&
	    (guard.inside > 0 || (a >= guard.lo && a < guard.hi))) {
		if (write(STDERR_FILENO, guard.msg, guard.len) < 0)
			_exit(guard.status);
		_exit(guard.status);
	}
	/* Not ours: the old disposition takes the repeated fault. */
	sigaction(sig, sig == SIGBUS ? &guard.old_bus : &guard.old_segv,
		  NULL);
	if (si->si_code <= 0)
		raise(sig);
}

static void
guard_enter(void)
{
	guard.inside++;
}

static int
guard_leave(int rc)
{
	guard.inside--;
	return rc;
}

/* An LMDB call that may read pages: a fault inside is the store's. */
#define LMDB(call) (guard_enter(), guard_leave(call))

/* LMDB's assertions fail on inconsistent pages; say so and defer. */
static void
guard_assert(MDB_env *env, const char *what)
{
	struct gw_store *st = mdb_env_get_userctx(env);

	fprintf(stderr,
		"%s: store %s: damaged: LMDB: %s (run '%s store check')\n",
		program_invocation_short_name, st != NULL ? st->file : "?",
		what, program_invocation_short_name);
	_exit(gw_reply_for_error(GW_ERR_STORE).exit_status);
}

static void
guard_set(struct gw_store *st)
{
	struct sigaction sa;
	int n;

	guard.armed = 0;
	guard.status = gw_reply_for_error(GW_ERR_STORE).exit_status;
	n = snprintf(guard.msg, sizeof(guard.msg),
		     "%s: store %s: damaged: a read outside the file or its "
		     "pages (signal); it is corrupt or was cut short while in "
		     "use (run '%s store check')\n",
		     program_invocation_short_name, st->file,
		     program_invocation_short_name);
	guard.len = n < 0 ? 0 : (size_t)n >= sizeof(guard.msg)
				    ? sizeof(guard.msg) - 1
				    : (size_t)n;
	if (!guard.installed) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = guard_fault;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGBUS, &sa, &guard.old_bus) != 0 ||
		    sigaction(SIGSEGV, &sa, &guard.old_segv) != 0)
			return;
		guard.installed = 1;
	}
	guard.lo = st->map;
	guard.hi = st->map + st->map_len;
	guard.armed = 1;
}

static void
guard_clear(const struct gw_store *st)
{
	if (guard.armed && guard.lo == st->map)
		guard.armed = 0;
}

/*
 * Where LMDB mapped data.mdb: LMDB does not say (mdb_env_info() gives
 * the address only for MDB_FIXEDMAP), so it is read from
 * /proc/self/maps by the file's device and inode.  Not found: no range,
 * and in_file() checks nothing.
 */
static void
map_find(struct gw_store *st)
{
	unsigned long lo, hi, off, ino;
	unsigned maj, min;
	struct stat sb;
	char line[512], perms[8];
	FILE *fp;
	int fd = -1;

	st->map = NULL;
	st->map_len = 0;
	if (mdb_env_get_fd(st->env, &fd) != 0 || fstat(fd, &sb) != 0 ||
	    (fp = fopen("/proc/self/maps", "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &lo, &hi, perms,
			   &off, &maj, &min, &ino) != 7)
			continue;
		if (off == 0 && ino == (unsigned long)sb.st_ino &&
		    makedev(maj, min) == sb.st_dev) {
			st->map = (const char *)lo;
			st->map_len = hi - lo;
			break;
		}
	}
	fclose(fp);
}

/*
 * What is on disk before LMDB sees it
 */

/* The part of a missing-store error that says what to do. */
#define NO_STORE_HINT                                                   \
	"; the commands that add identities, keys, CAs or profiles create " \
	"one"

/* A folder of the store: there (or made, with create), a folder, ours. */
static int
survey_dir(const char *what, const char *path, int create)
{
	struct stat sb;

	if (stat(path, &sb) != 0) {
		if (errno != ENOENT)
			return gw_err_set(errno == EACCES ? GW_ERR_PERM
							  : GW_ERR_IO,
					  "%s %s: %s", what, path,
					  strerror(errno));
		if (!create)
			return 1;
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return gw_err_set(GW_ERR_IO, "cannot create %s: %s",
					  path, strerror(errno));
		if (stat(path, &sb) != 0)
			return gw_err_set(GW_ERR_IO, "%s %s: %s", what, path,
					  strerror(errno));
	}
	if (!S_ISDIR(sb.st_mode))
		return gw_err_set(GW_ERR_IO, "%s is not a directory", path);
	return gw_perm_trusted(what, path, &sb);
}

/* A file of the store: absent (1), or a regular file that is ours; its
 * size in *size. */
static int
survey_file(const char *path, off_t *size)
{
	struct stat sb;

	*size = 0;
	if (stat(path, &sb) != 0) {
		if (errno == ENOENT)
			return 1;
		return gw_err_set(errno == EACCES ? GW_ERR_PERM : GW_ERR_IO,
				  "store %s: %s", path, strerror(errno));
	}
	if (!S_ISREG(sb.st_mode))
		return gw_err_set(GW_ERR_STORE, "store %s: not a regular file",
				  path);
	*size = sb.st_size;
	return gw_perm_trusted("store", path, &sb);
}

/* Paths, presence and permissions; *fresh when LMDB will start a new
 * store (only with create). */
static int
survey(struct gw_store *st, const char *dir, int create, int *fresh)
{
	const char *sub = st->db_lo == NDB_STORE ? "journal" : "store";
	char lock[PATH_MAX];
	off_t size = 0;
	size_t len;
	int rc;

	*fresh = 0;
	len = strlen(dir) + sizeof("/journal/data.mdb");
	if ((st->path = malloc(len)) == NULL ||
	    (st->file = malloc(len)) == NULL)
		return GW_ERR_NOMEM;
	snprintf(st->path, len, "%s/%s", dir, sub);
	snprintf(st->file, len, "%s/%s/data.mdb", dir, sub);
	if ((size_t)snprintf(lock, sizeof(lock), "%s/lock.mdb", st->path) >=
	    sizeof(lock))
		return gw_err_set(GW_ERR_INVALID, "data_dir %s: too long", dir);
	if ((rc = survey_dir("data_dir", dir, create)) == 1)
		return gw_err_set(GW_ERR_STORE,
				  "no store: data_dir %s does not exist (is "
				  "its volume mounted?)" NO_STORE_HINT,
				  dir);
	if (rc != 0)
		return rc;
	if ((rc = survey_dir("store", st->path, create)) == 1 ||
	    (rc == 0 && (rc = survey_file(st->file, &size)) == 1)) {
		if (!create)
			return gw_err_set(GW_ERR_STORE,
					  "no store: no %s (is the volume "
					  "mounted?)" NO_STORE_HINT,
					  st->file);
		*fresh = 1;
	} else if (rc != 0) {
		return rc;
	} else if (size == 0) {
		if (!create)
			return gw_err_set(GW_ERR_STORE,
					  "empty store: %s has 0 bytes (restore "
					  "it from a backup, or remove it to "
					  "start a new store)",
					  st->file);
		*fresh = 1;
	}
	if ((rc = survey_file(lock, &size)) == 1)
		return 0;
	return rc;
}

/*
 * The identity of data.mdb when it was last found sound, in
 * store/walked: "dev ino size mtime.ns ctime.ns txnid".  An open whose
 * file has that identity skips the walk of every page; anything that
 * changes the file without smimegw (a copy, a cut, a byte overwritten)
 * changes its mtime and ctime, or its size, and the next open walks it.
 * The fault handler (guard) stays the defence for what changes under a
 * running process.
 */
struct file_id {
	unsigned long long dev, ino, size, mtime, mtime_ns, ctime, ctime_ns,
	    txnid;
};

#define WALKED_NAME "walked"

static int meta_check_quiet(const char *file, struct file_id *id);

static void
id_of(struct file_id *id, const struct stat *sb, uint64_t txnid)
{
	memset(id, 0, sizeof(*id));
	id->dev = (unsigned long long)sb->st_dev;
	id->ino = (unsigned long long)sb->st_ino;
	id->size = (unsigned long long)sb->st_size;
	id->mtime = (unsigned long long)sb->st_mtim.tv_sec;
	id->mtime_ns = (unsigned long long)sb->st_mtim.tv_nsec;
	id->ctime = (unsigned long long)sb->st_ctim.tv_sec;
	id->ctime_ns = (unsigned long long)sb->st_ctim.tv_nsec;
	id->txnid = (unsigned long long)txnid;
}

static void
walked_path(const struct gw_store *st, char *buf, size_t size)
{
	snprintf(buf, size, "%s/" WALKED_NAME, st->path);
}

/* 1 when store/walked names id, else 0 (absent, not ours, other). */
static int
walked_is(const struct gw_store *st, const struct file_id *id)
{
	struct file_id w;
	struct stat sb;
	char path[PATH_MAX], line[256];
	FILE *fp;
	int n, same = 0;

	walked_path(st, path, sizeof(path));
	if ((fp = fopen(path, "re")) == NULL)
		return 0;
	if (fstat(fileno(fp), &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (sb.st_uid == geteuid() || sb.st_uid == 0) &&
	    (sb.st_mode & 022) == 0 && fgets(line, sizeof(line), fp) != NULL) {
		n = sscanf(line, "%llu %llu %llu %llu.%llu %llu.%llu %llu",
			   &w.dev, &w.ino, &w.size, &w.mtime, &w.mtime_ns,
			   &w.ctime, &w.ctime_ns, &w.txnid);
		same = n == 8 && memcmp(&w, id, sizeof(w)) == 0;
	}
	fclose(fp);
	return same;
}

/* Records id in store/walked (a new file renamed over the old); a
 * failure only costs the next open a walk. */
static void
walked_set(const struct gw_store *st, const struct file_id *id)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	FILE *fp;
	int fd, ok;

	walked_path(st, path, sizeof(path));
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld", path,
			     (long)getpid()) >= sizeof(tmp))
		return;
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) <
	    0)
		return;
	if ((fp = fdopen(fd, "w")) == NULL) {
		close(fd);
		(void)unlink(tmp);
		return;
	}
	ok = fprintf(fp, "%llu %llu %llu %llu.%09llu %llu.%09llu %llu\n",
		     id->dev, id->ino, id->size, id->mtime, id->mtime_ns,
		     id->ctime, id->ctime_ns, id->txnid) > 0;
	if (fclose(fp) != 0 || !ok || rename(tmp, path) != 0)
		(void)unlink(tmp);
}

static int map_used(struct gw_store *st, size_t *used);

/*
 * After a commit: data.mdb as long as its meta page says.  A page that
 * a transaction took from the end of the file and then freed again is
 * never written, so LMDB may leave the file shorter than the pages the
 * meta page counts (a transaction that deletes much of what it put,
 * such as undoing an import, does).  The open's check would take such
 * a file for a truncated one: the missing pages, all free, are added
 * as zeros.
 */
static void
cover(struct gw_store *st)
{
	struct stat sb;
	size_t used;
	off_t want;
	int fd;

	if (map_used(st, &used) != 0 || stat(st->file, &sb) != 0)
		return;
	want = (off_t)used;
	if (sb.st_size >= want ||
	    (fd = open(st->file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return;
	/* Runs after the commit, outside LMDB's writer lock: another
	 * process may have written past want since the stat.  fallocate()
	 * only ever extends (ftruncate() could cut its pages off).  LMDB's
	 * own descriptor keeps its locks: data.mdb holds none (lock.mdb
	 * does). */
	if (fallocate(fd, 0, sb.st_size, want - sb.st_size) != 0 &&
	    errno != EOPNOTSUPP)
		log_warn("store %s: cannot extend it to %lld bytes: %s",
			 st->file, (long long)want, strerror(errno));
	close(fd);
}

/* After a commit of this process on a file known sound: the file as
 * LMDB left it is sound too. */
static void
walked_update(const struct gw_store *st)
{
	struct file_id id;

	if (st->sound && meta_check_quiet(st->file, &id) == 0)
		walked_set(st, &id);
}

/* At the start of a write transaction (the writer's lock held): 1 when
 * the file is the one store/walked names, so that this commit may name
 * its successor.  A file changed by anything else since (a writer that
 * did not record it, damage) is not chained: the next open walks it. */
static int
walked_chain(const struct gw_store *st)
{
	struct file_id id;

	return st->sound && meta_check_quiet(st->file, &id) == 0 &&
	       walked_is(st, &id);
}

/* Before LMDB maps the file: both meta pages sound, and the file holds
 * every page the newest claims (else LMDB reads past its end). */
static int
meta_check(const char *file, struct file_id *id)
{
	struct gw_store_meta meta;
	struct stat sb;
	int fd, rc;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
		return gw_err_set(errno == EACCES ? GW_ERR_PERM : GW_ERR_IO,
				  "store %s: %s", file, strerror(errno));
	if ((rc = gw_store_file_meta(fd, file, &meta)) == 0 &&
	    fstat(fd, &sb) != 0)
		rc = gw_err_set(GW_ERR_IO, "store %s: %s", file,
				strerror(errno));
	close(fd);
	if (rc == 0)
		id_of(id, &sb, meta.txnid);
	return rc;
}

/* meta_check() that leaves the latched detail as it was. */
static int
meta_check_quiet(const char *file, struct file_id *id)
{
	int had = gw_err_detail()[0] != '\0', rc;

	if ((rc = meta_check(file, id)) != 0 && !had)
		gw_err_clear();
	return rc;
}

/* The environment, its map found and guarded; only meta pages read. */
static int
env_open(struct gw_store *st)
{
	int rc;

	if ((rc = store_err(mdb_env_create(&st->env), "mdb_env_create")) != 0)
		return rc;
	mdb_env_set_maxdbs(st->env, NDB + 4);
	mdb_env_set_maxreaders(st->env, 256);
	mdb_env_set_userctx(st->env, st);
	(void)mdb_env_set_assert(st->env, guard_assert);
	if ((rc = store_err(mdb_env_set_mapsize(st->env, st->map_size),
			    "mdb_env_set_mapsize")) != 0)
		return rc;
	/* MDB_NOTLS: read transactions are not tied to threads. */
	if ((rc = mdb_env_open(st->env, st->path, MDB_NOTLS, 0600)) != 0)
		return gw_err_set(rc == EACCES ? GW_ERR_PERM : GW_ERR_STORE,
				  "store %s: %s", st->path, mdb_strerror(rc));
	/* Free the reader slots of processes that died in a read
	 * transaction (a worker killed): LMDB frees them only here, and
	 * the table (256) would fill up while others keep the file open. */
	(void)mdb_reader_check(st->env, NULL);
	map_find(st);
	guard_set(st);
	return 0;
}

/*
 * Every page, read with pread() under a read transaction: the reader
 * keeps a writer in another process from reusing the pages of the
 * snapshot being walked.
 */
static int
walk_held(struct gw_store *st, gw_store_count_fn fn, void *arg)
{
	MDB_txn *txn = NULL;
	int rc;

	if ((rc = store_err(LMDB(mdb_txn_begin(st->env, NULL, MDB_RDONLY,
					       &txn)),
			    "opening the store")) != 0)
		return rc;
	rc = gw_store_file_walk(st->file, fn, arg);
	guard_enter();
	mdb_txn_abort(txn);
	guard_leave(0);
	return rc;
}

/* Survey, then (for a store that exists) its meta pages, the
 * environment and the walk of every page: always when fn is given
 * (store check), else when the file is not the one last found sound. */
static int
store_start(struct gw_store *st, const char *dir, size_t map_size,
	    int create, int always, gw_store_count_fn fn, void *arg)
{
	struct file_id id;
	int rc;

	st->map_size = map_size ? map_size : (size_t)1 << 30;
	if ((rc = survey(st, dir, create, &st->created)) != 0 ||
	    (!st->created && (rc = meta_check(st->file, &id)) != 0) ||
	    (rc = env_open(st)) != 0)
		return rc;
	if (st->created) {
		st->sound = 1;
		return 0;
	}
	if (!always && walked_is(st, &id)) {
		st->sound = 1;
		return 0;
	}
	if ((rc = walk_held(st, fn, arg)) != 0)
		return rc;
	st->sound = 1;
	walked_set(st, &id);
	return 0;
}

int
gw_store_open(const char *dir, size_t map_size, struct gw_store **out)
{
	return gw_store_open_ex(dir, map_size, GW_STORE_CREATE, out);
}

int
gw_store_open_ex(const char *dir, size_t map_size, unsigned flags,
		 struct gw_store **out)
{
	struct gw_store *st = NULL;
	MDB_txn *txn = NULL;
	size_t i;
	int rc;

	*out = NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return GW_ERR_NOMEM;
	st->db_lo = (flags & GW_STORE_JOURNAL) ? NDB_STORE : 0;
	st->db_hi = (flags & GW_STORE_JOURNAL) ? NDB : NDB_STORE;
	if ((rc = store_start(st, dir, map_size,
			      (flags & GW_STORE_CREATE) != 0, 0, NULL,
			      NULL)) != 0)
		goto out;
	if ((rc = store_err(LMDB(mdb_txn_begin(st->env, NULL, 0, &txn)),
			    "opening the store")) != 0)
		goto out;
	for (i = st->db_lo; i < st->db_hi; i++) {
		if ((rc = store_err(LMDB(mdb_dbi_open(txn, db_names[i],
						      MDB_CREATE, &st->dbi[i])),
				    db_names[i])) != 0)
			goto out;
		st->ix[i] = (unsigned char)db_is_index(i);
	}
	rc = store_err(LMDB(mdb_txn_commit(txn)), "opening the store");
	txn = NULL;
	if (rc != 0)
		goto out;
	walked_update(st);
	/* A batched write that died half way is undone by the next open
	 * (unless it is still running). */
	if (!(flags & GW_STORE_JOURNAL) && (rc = undo_recover(st, 0)) != 0)
		goto out;
	*out = st;
	st = NULL;
out:
	if (txn != NULL) {
		guard_enter();
		mdb_txn_abort(txn);
		guard_leave(0);
	}
	gw_store_close(st);
	return rc;
}

void
gw_store_close(struct gw_store *st)
{
	if (st == NULL)
		return;
	guard_clear(st);
	if (st->env != NULL)
		mdb_env_close(st->env);
	free(st->path);
	free(st->file);
	free(st);
}

int
gw_store_created(const struct gw_store *st)
{
	return st->created;
}

const char *
gw_store_path(const struct gw_store *st)
{
	return st->path;
}

/* The bytes of the map in use (the highest page written, plus one). */
static int
map_used(struct gw_store *st, size_t *used)
{
	MDB_envinfo info;
	MDB_stat ms;
	int rc;

	if ((rc = store_err(mdb_env_info(st->env, &info), "the store")) != 0 ||
	    (rc = store_err(mdb_env_stat(st->env, &ms), "the store")) != 0)
		return rc;
	*used = ((size_t)info.me_last_pgno + 1) * ms.ms_psize;
	return 0;
}

/* Sets the map size (0: adopt the size another process set).  LMDB's
 * rule: no transaction of this process may be open; the map moves, so
 * the fault guard follows it. */
static int
map_resize(struct gw_store *st, size_t size)
{
	MDB_envinfo info;
	int rc;

	if (st->ntxn > 0)
		return gw_err_set(GW_ERR_INTERNAL,
				  "store %s: the map cannot grow while a "
				  "transaction is open",
				  st->file);
	guard_clear(st);
	rc = store_err(LMDB(mdb_env_set_mapsize(st->env, size)),
		       "growing the store's map");
	if (rc == 0 && mdb_env_info(st->env, &info) == 0)
		st->map_size = info.me_mapsize;
	map_find(st);
	guard_set(st);
	return rc;
}

int
gw_store_reserve(struct gw_store *st, size_t extra)
{
	size_t used = 0, want, size;
	int rc;

	if ((rc = map_used(st, &used)) != 0)
		return rc;
	if (extra > GW_STORE_MAP_MAX - used)
		return gw_err_set(GW_ERR_STORE_FULL,
				  "store %s: %zu more bytes would pass the "
				  "largest map (%zu bytes)",
				  st->file, extra, (size_t)GW_STORE_MAP_MAX);
	want = used + extra;
	if (want <= st->map_size)
		return 0;
	for (size = st->map_size; size < want; size *= 2)
		if (size >= GW_STORE_MAP_MAX / 2) {
			size = GW_STORE_MAP_MAX;
			break;
		}
	return map_resize(st, size);
}

int
gw_store_grow(struct gw_store *st)
{
	if (st->map_size >= GW_STORE_MAP_MAX)
		return gw_err_set(GW_ERR_STORE_FULL,
				  "store %s: the map is at its largest (%zu "
				  "bytes)",
				  st->file, (size_t)GW_STORE_MAP_MAX);
	return map_resize(st, st->map_size >= GW_STORE_MAP_MAX / 2
				  ? GW_STORE_MAP_MAX
				  : st->map_size * 2);
}

void
gw_store_trim(struct gw_store *st)
{
	if (st->map != NULL && st->map_len > 0)
		(void)madvise((void *)st->map, st->map_len, MADV_DONTNEED);
}

size_t
gw_store_map_size(const struct gw_store *st)
{
	return st->map_size;
}

/* Before a write transaction: room for what one change may write
 * (GW_STORE_HEADROOM, or an eighth of the map), else the map grows. */
static int
headroom(struct gw_store *st)
{
	size_t used = 0, room;
	int rc;

	if (st->ntxn > 0 || (rc = map_used(st, &used)) != 0)
		return 0;
	room = st->map_size / 8 > GW_STORE_HEADROOM ? st->map_size / 8
						     : GW_STORE_HEADROOM;
	if (used + room <= st->map_size || st->map_size >= GW_STORE_MAP_MAX)
		return 0;
	return gw_store_reserve(st, room);
}

int
gw_store_verify(const char *dir, gw_store_count_fn fn, void *arg)
{
	struct gw_store *st;
	int rc;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return GW_ERR_NOMEM;
	st->db_hi = NDB_STORE;
	rc = store_start(st, dir, 0, 0, 1, fn, arg);
	gw_store_close(st);
	return rc;
}

/* A record handed out must lie inside the file: LMDB follows page
 * numbers without comparing them with the file's end.  Records of
 * pages that a write transaction changed are in memory, not the map. */
static int
in_file_at(const struct gw_store *st, uint64_t fsize, const char *db,
	   const MDB_val *v)
{
	const char *p = v->mv_data;

	if (p < st->map || p >= st->map + st->map_len ||
	    ((uint64_t)(p - st->map) <= fsize &&
	     v->mv_size <= fsize - (uint64_t)(p - st->map)))
		return 0;
	return gw_err_set(GW_ERR_STORE,
			  "store %s: damaged: a record of database '%s' "
			  "reaches past the end of the file (run 'smimegw "
			  "store check')",
			  st->file, db);
}

static int
in_file(const struct gw_txn *t, const char *db, const MDB_val *v)
{
	return in_file_at(t->st, t->file_size, db, v);
}

static int
file_size(const struct gw_store *st, uint64_t *size)
{
	struct stat sb;
	int fd = -1;

	if (mdb_env_get_fd(st->env, &fd) != 0 || fstat(fd, &sb) != 0)
		return gw_err_set(GW_ERR_STORE, "store %s: %s", st->file,
				  strerror(errno));
	*size = (uint64_t)sb.st_size;
	return 0;
}

int
gw_txn_begin(struct gw_store *st, int mode, struct gw_txn **out)
{
	struct gw_txn *t;
	int rc;

	*out = NULL;
	/* The store's map grows; the journal's keeps journal_map_size (a
	 * full journal defers mail: smimegwd(8)). */
	if (mode == GW_TXN_WRITE && st->db_lo != NDB_STORE &&
	    (rc = headroom(st)) != 0)
		return rc;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return GW_ERR_NOMEM;
	t->st = st;
	t->write = mode == GW_TXN_WRITE || mode == GW_TXN_WRITE_NOSYNC;
	t->nosync = mode == GW_TXN_WRITE_NOSYNC;
	rc = LMDB(mdb_txn_begin(st->env, NULL, t->write ? 0 : MDB_RDONLY,
				&t->txn));
	/* Another process grew the map past ours: adopt its size. */
	if (rc == MDB_MAP_RESIZED && st->ntxn == 0 &&
	    (rc = map_resize(st, 0)) == 0)
		rc = LMDB(mdb_txn_begin(st->env, NULL,
					t->write ? 0 : MDB_RDONLY, &t->txn));
	if ((rc = store_err(rc, "beginning a transaction")) != 0) {
		free(t);
		return rc;
	}
	st->ntxn++;
	/* After the snapshot is taken: every page it uses is written. */
	if ((rc = file_size(st, &t->file_size)) != 0) {
		gw_txn_abort(t);
		return rc;
	}
	/* The journal's commits (one or two per message) do not keep
	 * journal/walked up to date: an open walks its pages instead. */
	if (t->write && st->db_lo != NDB_STORE)
		t->chain = walked_chain(st);
	*out = t;
	return 0;
}

int
gw_txn_commit(struct gw_txn *t)
{
	int rc;

	rc = t->txn == NULL ? gw_err_set(GW_ERR_INTERNAL, "commit of a "
							  "failed batch")
	     : t->undo != NULL ? defer_flush(t)
			       : 0;
	if (rc == 0 && t->undo != NULL)
		rc = undo_finish(t);
	if (rc != 0) {
		gw_txn_abort(t);
		return rc;
	}
	/* The flag is the environment's, in this process only. */
	if (t->nosync)
		(void)mdb_env_set_flags(t->st->env, MDB_NOSYNC, 1);
	rc = store_err(LMDB(mdb_txn_commit(t->txn)), "commit");
	if (t->nosync)
		(void)mdb_env_set_flags(t->st->env, MDB_NOSYNC, 0);
	t->st->ntxn--;
	if (rc == 0 && t->write)
		cover(t->st);
	if (rc == 0 && t->chain)
		walked_update(t->st);
	if (t->undo != NULL)
		undo_end(t, rc != 0);
	free(t);
	return rc;
}

void
gw_txn_abort(struct gw_txn *t)
{
	if (t == NULL)
		return;
	/* None after a batch whose commit or next begin failed. */
	if (t->txn != NULL) {
		guard_enter();
		mdb_txn_abort(t->txn);
		guard_leave(0);
		t->st->ntxn--;
	}
	if (t->undo != NULL)
		undo_end(t, 1);
	free(t);
}

int
gw_txn_get(struct gw_txn *t, const char *db, const void *key, size_t klen,
	   const void **val, size_t *vlen)
{
	MDB_val k = {klen, (void *)key}, v;
	size_t i = 0;
	int rc;

	if ((rc = db_index(t->st, db, &i)) != 0 || (rc = deferred(t, i)) != 0)
		return rc;
	if ((rc = store_err(LMDB(mdb_get(t->txn, t->st->dbi[i], &k, &v)), db)) != 0 ||
	    (rc = in_file(t, db, &v)) != 0)
		return rc;
	*val = v.mv_data;
	*vlen = v.mv_size;
	return 0;
}

int
gw_txn_put(struct gw_txn *t, const char *db, const void *key, size_t klen,
	   const void *val, size_t vlen, unsigned flags)
{
	MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
	size_t i = 0;
	unsigned mflags;
	int rc;

	if ((rc = db_index(t->st, db, &i)) != 0)
		return rc;
	if (t->undo != NULL && t->st->ix[i] && vlen == 0 && flags == 0)
		return defer_add(t, i, &k);
	if ((rc = deferred(t, i)) != 0)
		return rc;
	if (t->undo != NULL)
		return undo_put(t, i, &k, &v, flags);
	mflags = (flags & GW_PUT_NOOVERWRITE) ? MDB_NOOVERWRITE : 0;
	if (flags & GW_PUT_APPEND) {
		rc = LMDB(mdb_put(t->txn, t->st->dbi[i], &k, &v,
				  mflags | MDB_APPEND));
		/* MDB_KEYEXIST: not after the last key; put it as usual. */
		if (rc != MDB_KEYEXIST)
			return store_err(rc, db);
	}
	return store_err(LMDB(mdb_put(t->txn, t->st->dbi[i], &k, &v, mflags)),
			 db);
}

int
gw_txn_del(struct gw_txn *t, const char *db, const void *key, size_t klen)
{
	MDB_val k = {klen, (void *)key};
	size_t i = 0;
	int rc;

	if ((rc = db_index(t->st, db, &i)) != 0 || (rc = deferred(t, i)) != 0)
		return rc;
	if (t->undo != NULL)
		return undo_del(t, i, &k);
	return store_err(LMDB(mdb_del(t->txn, t->st->dbi[i], &k, NULL)), db);
}

int
gw_txn_count(struct gw_txn *t, const char *db, size_t *n)
{
	MDB_stat ms;
	size_t i = 0;
	int rc;

	*n = 0;
	if ((rc = db_index(t->st, db, &i)) != 0 || (rc = deferred(t, i)) != 0)
		return rc;
	if ((rc = store_err(LMDB(mdb_stat(t->txn, t->st->dbi[i], &ms)), db)) != 0)
		return rc;
	*n = ms.ms_entries;
	return 0;
}

/*
 * Calls fn for each record of db in key order; with plen > 0, for those
 * whose key starts with prefix only.  A negative result of fn stops the
 * walk and is returned; with note_fail, the record it came from is kept
 * for the error's detail (t->fail_*).
 */
static int
walk(struct gw_txn *t, const char *db, const void *prefix, size_t plen,
     int note_fail, gw_foreach_fn fn, void *arg)
{
	MDB_cursor *cur = NULL;
	MDB_val k = {plen, (void *)prefix}, v;
	size_t i = 0;
	int rc, mrc;

	if ((rc = db_index(t->st, db, &i)) != 0 || (rc = deferred(t, i)) != 0)
		return rc;
	if ((rc = store_err(LMDB(mdb_cursor_open(t->txn, t->st->dbi[i], &cur)),
			    db)) != 0)
		return rc;
	/* fn may touch an index with deferred keys: their flush must not
	 * end the batch (a commit) under this cursor. */
	t->walking++;
	for (mrc = LMDB(mdb_cursor_get(cur, &k, &v,
				       plen > 0 ? MDB_SET_RANGE : MDB_FIRST));
	     mrc == 0; mrc = LMDB(mdb_cursor_get(cur, &k, &v, MDB_NEXT))) {
		if ((rc = in_file(t, db, &k)) != 0 ||
		    (rc = in_file(t, db, &v)) != 0)
			break;
		if (plen > 0 && (k.mv_size < plen ||
				  memcmp(k.mv_data, prefix, plen) != 0)) {
			mrc = MDB_NOTFOUND;
			break;
		}
		if ((rc = fn(arg, k.mv_data, k.mv_size, v.mv_data,
			     v.mv_size)) != 0) {
			if (rc < 0 && note_fail) {
				t->fail_db = db_names[i];
				t->fail_key = k.mv_data;
				t->fail_klen = k.mv_size;
			}
			break;
		}
	}
	t->walking--;
	if (rc == 0 && mrc != MDB_NOTFOUND)
		rc = store_err(mrc, db);
	guard_enter();
	mdb_cursor_close(cur);
	guard_leave(0);
	return rc < 0 ? rc : 0;
}

int
gw_txn_foreach(struct gw_txn *t, const char *db, gw_foreach_fn fn, void *arg)
{
	return walk(t, db, NULL, 0, 1, fn, arg);
}

int
gw_txn_foreach_prefix(struct gw_txn *t, const char *db, const void *prefix,
		      size_t plen, gw_foreach_fn fn, void *arg)
{
	return walk(t, db, prefix, plen, 0, fn, arg);
}

int
gw_txn_clear(struct gw_txn *t, const char *db)
{
	size_t i = 0;
	int rc;

	if ((rc = db_index(t->st, db, &i)) != 0 || (rc = deferred(t, i)) != 0 ||
	    (t->undo != NULL && (rc = undo_clear(t, i)) != 0))
		return rc;
	return store_err(LMDB(mdb_drop(t->txn, t->st->dbi[i], 0)), db);
}

int
gw_txn_failed_key(const struct gw_txn *t, const char **db, const void **key,
		  size_t *klen)
{
	if (t->fail_db == NULL)
		return GW_ERR_NOT_FOUND;
	*db = t->fail_db;
	*key = t->fail_key;
	*klen = t->fail_klen;
	return 0;
}

/* ---- batched writes with an undo journal ----------------------------------- */

/*
 * A batched transaction commits every batch bytes written, so that LMDB
 * holds at most a batch of changed pages in memory, and keeps an undo
 * journal so that it still ends all or nothing.  Each batch's undo
 * entries go into GW_DB_UNDO as one record (key: the batch number, 8
 * bytes big-endian) in the batch's own commit; the last commit drops
 * them all with its changes.  An entry says what one put or delete
 * changed, so that undoing it puts that back:
 *
 *   u8 database | u8 what | u32 key length | u32 value length |
 *   key | the value it had
 *
 * what: UNDO_NONE, the key had no value (undo deletes it); UNDO_OLD, it
 * had the value that follows (undo puts it back); UNDO_EMPTY, the
 * database was empty (no key nor value: undo empties it), which the
 * deferred index keys write once per batch for a database they filled
 * from empty, instead of an entry per key.
 *
 * Undo applies the entries last first, each batch in a transaction of
 * its own that also removes the batch's record, so a crash while
 * undoing leaves the rest to undo.  The index databases' values are
 * always empty: a put there that finds the key changes nothing and
 * needs no entry, so their entries are keys only, and only for keys
 * that were not there.  store/import.lock is held (flock) while a
 * batched transaction runs: an open that finds entries it can lock
 * undoes them (the writer died), one that cannot leaves them (it runs).
 */
#define UNDO_HEAD 10
#define UNDO_NONE 0
#define UNDO_OLD 1
#define UNDO_EMPTY 2
#define UNDO_KEY 12	/* batch number (8 bytes), part (4), big-endian */
#define UNDO_PART 1536	/* bytes of entries a record: one page holds it */
/*
 * What a batch counts for each put or delete beside its bytes: the page
 * it changes.  LMDB's memory is the pages a transaction changed, and
 * in a large store each index key goes to a page of its own (names are
 * hashes and fingerprints), so a batch is bounded by its changes more
 * than by its bytes.
 */
#define PAGE_CHARGE 4096
/*
 * A batched transaction lets go of the map pages it has read every so
 * many changes: in a large store each change reads pages of its own,
 * and the kernel maps a whole folio of the page cache (up to 64 KiB and
 * more) for each, so even a batch's reads would hold hundreds of MiB.
 */
#define TRIM_EVERY 256

struct undo {
	size_t batch;		/* bytes written per batch */
	size_t written;		/* by this batch: bytes, and a page a
				 * change (PAGE_CHARGE) */
	size_t changes;		/* since the last trim */
	struct gw_buf log;	/* this batch's entries */
	uint64_t seq;		/* batches committed */
	int lock;		/* store/import.lock, flock()ed */
	struct gw_keysort *defer; /* index keys put, not yet written */
	size_t pend[NDB];	/* of them, each database's */
};

/* store/import.lock, locked: how (LOCK_EX, with LOCK_NB or not).  The
 * descriptor, -1 when another holds it (LOCK_NB), or a GW_ERR_*
 * below -1. */
static int
undo_lock(const struct gw_store *st, int how)
{
	char path[PATH_MAX];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/import.lock",
			     st->path) >= sizeof(path))
		return gw_err_set(GW_ERR_STORE, "%s: path too long", st->path);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		       0600)) < 0)
		return gw_err_set(GW_ERR_STORE, "%s: %s", path,
				  strerror(errno));
	while (flock(fd, how) != 0) {
		if (errno == EINTR)
			continue;
		close(fd);
		if (errno == EWOULDBLOCK)
			return -1;
		return gw_err_set(GW_ERR_STORE, "%s: lock: %s", path,
				  strerror(errno));
	}
	return fd;
}

/* One entry: key k of database i had value old (NULL: it had none). */
static int
undo_note(struct gw_txn *t, size_t i, const MDB_val *k, const MDB_val *old)
{
	unsigned char head[UNDO_HEAD];
	size_t vlen = old ? old->mv_size : 0;
	int rc;

	if (k->mv_size > UINT32_MAX || vlen > UINT32_MAX)
		return gw_err_set(GW_ERR_LIMIT, "undo journal: a record of "
						"%zu bytes",
				  vlen);
	head[0] = (unsigned char)i;
	head[1] = old != NULL ? UNDO_OLD : UNDO_NONE;
	gw_be32_put(head + 2, (uint32_t)k->mv_size);
	gw_be32_put(head + 6, (uint32_t)vlen);
	if ((rc = gw_buf_add(&t->undo->log, head, sizeof(head))) != 0 ||
	    (rc = gw_buf_add(&t->undo->log, k->mv_data, k->mv_size)) != 0 ||
	    (vlen > 0 &&
	     (rc = gw_buf_add(&t->undo->log, old->mv_data, vlen)) != 0))
		return rc;
	t->undo->written += UNDO_HEAD + k->mv_size + vlen;
	return 0;
}

/* Database i was empty when this batch began to fill it. */
static int
undo_empty(struct gw_txn *t, size_t i)
{
	unsigned char head[UNDO_HEAD] = {0};
	int rc;

	head[0] = (unsigned char)i;
	head[1] = UNDO_EMPTY;
	if ((rc = gw_buf_add(&t->undo->log, head, sizeof(head))) != 0)
		return rc;
	t->undo->written += UNDO_HEAD;
	return 0;
}

/* One change of n bytes, counted toward the batch and the next trim. */
static void
undo_count(struct gw_txn *t, size_t n)
{
	t->undo->written += PAGE_CHARGE + n;
	if (++t->undo->changes >= TRIM_EVERY) {
		t->undo->changes = 0;
		gw_store_trim(t->st);
	}
}

static int
undo_put(struct gw_txn *t, size_t i, const MDB_val *k, const MDB_val *v,
	 unsigned flags)
{
	MDB_val key = *k, val = *v, old;
	const char *db = db_names[i];
	MDB_dbi dbi = t->st->dbi[i];
	int rc;

	undo_count(t, k->mv_size + v->mv_size);
	if (t->st->ix[i] && v->mv_size == 0) {
		/* A key there already has the same, empty, value. */
		rc = LMDB(mdb_put(t->txn, dbi, &key, &val, MDB_NOOVERWRITE));
		if (rc == MDB_KEYEXIST)
			return (flags & GW_PUT_NOOVERWRITE) ? GW_ERR_EXISTS : 0;
		if (rc != 0)
			return store_err(rc, db);
		return undo_note(t, i, k, NULL);
	}
	rc = LMDB(mdb_get(t->txn, dbi, &key, &old));
	if (rc == 0 && (flags & GW_PUT_NOOVERWRITE))
		return GW_ERR_EXISTS;
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(rc, db);
	if (rc == 0 && (rc = in_file(t, db, &old)) != 0)
		return rc;
	if ((rc = undo_note(t, i, k, rc == MDB_NOTFOUND ? NULL : &old)) != 0)
		return rc;
	if (flags & GW_PUT_APPEND) {
		rc = LMDB(mdb_put(t->txn, dbi, &key, &val, MDB_APPEND));
		if (rc != MDB_KEYEXIST)
			return store_err(rc, db);
	}
	return store_err(LMDB(mdb_put(t->txn, dbi, &key, &val, 0)), db);
}

static int
undo_del(struct gw_txn *t, size_t i, const MDB_val *k)
{
	MDB_val key = *k, old;
	const char *db = db_names[i];
	int rc;

	undo_count(t, k->mv_size);
	if ((rc = store_err(LMDB(mdb_get(t->txn, t->st->dbi[i], &key, &old)),
			    db)) != 0 ||
	    (rc = in_file(t, db, &old)) != 0 ||
	    (rc = undo_note(t, i, k, &old)) != 0)
		return rc;
	return store_err(LMDB(mdb_del(t->txn, t->st->dbi[i], &key, NULL)), db);
}

/* Every record of database i, noted before it is dropped. */
static int
undo_clear(struct gw_txn *t, size_t i)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc = 0, mrc;

	if ((rc = store_err(LMDB(mdb_cursor_open(t->txn, t->st->dbi[i], &cur)),
			    db_names[i])) != 0)
		return rc;
	for (mrc = LMDB(mdb_cursor_get(cur, &k, &v, MDB_FIRST)); mrc == 0;
	     mrc = LMDB(mdb_cursor_get(cur, &k, &v, MDB_NEXT)))
		if ((rc = in_file(t, db_names[i], &v)) != 0 ||
		    (rc = undo_note(t, i, &k, &v)) != 0)
			break;
	if (rc == 0 && mrc != MDB_NOTFOUND)
		rc = store_err(mrc, db_names[i]);
	guard_enter();
	mdb_cursor_close(cur);
	guard_leave(0);
	return rc;
}

/*
 * The index keys of a batched transaction wait in a sorter (struct
 * undo's defer) and are written in key order when it commits, or when
 * anything else touches their database first (a read, a delete, a put
 * of another kind), so that the transaction reads what it wrote.  In a
 * large store the index names (fingerprints, hashes, addresses) fall
 * each on a page of its own: written as they came, every batch rewrote
 * a page per key; in order, the pages a batch rewrites hold the keys
 * it adds, and a page is rewritten about once per flush.
 *
 * A put into an index database with an empty value and no flags only
 * ever adds its key (undo_put()), so deferring it changes nothing but
 * when the key is written.  The sorter's key is the database's number
 * (one byte) and the key.
 */
static int
defer_add(struct gw_txn *t, size_t i, const MDB_val *k)
{
	unsigned char buf[GW_KEYSORT_KEY_MAX];	/* database, key */
	int rc;

	if (k->mv_size == 0 || k->mv_size > sizeof(buf) - 1)
		return undo_put(t, i, k, &(MDB_val){0, ""}, 0);
	buf[0] = (unsigned char)i;
	memcpy(buf + 1, k->mv_data, k->mv_size);
	if ((rc = gw_keysort_add(t->undo->defer, buf, 1 + k->mv_size)) != 0)
		return rc;
	t->undo->pend[i]++;
	return 0;
}

/* Before database i is read or changed otherwise: its keys written. */
static int
deferred(struct gw_txn *t, size_t i)
{
	if (t->undo == NULL || t->undo->pend[i] == 0)
		return 0;
	return defer_flush(t);
}

struct flush {
	struct gw_txn *t;
	MDB_cursor *cur[NDB];
	size_t charge[NDB];	/* what a key counts toward the batch */
	int append[NDB];	/* 1: the database was empty */
	int emptied[NDB];	/* its UNDO_EMPTY is in this batch */
	size_t since_trim;
};

static void
flush_close(struct flush *f)
{
	size_t i;

	guard_enter();
	for (i = 0; i < NDB; i++)
		if (f->cur[i] != NULL) {
			mdb_cursor_close(f->cur[i]);
			f->cur[i] = NULL;
		}
	guard_leave(0);
}

static int
flush_one(void *arg, const unsigned char *key, size_t len)
{
	struct flush *f = arg;
	struct gw_txn *t = f->t;
	size_t i = key[0];
	MDB_val k = {len - 1, (void *)(key + 1)}, v = {0, ""};
	int rc, mrc = MDB_KEYEXIST;

	if (f->cur[i] == NULL &&
	    (rc = store_err(LMDB(mdb_cursor_open(t->txn, t->st->dbi[i],
						 &f->cur[i])),
			    db_names[i])) != 0)
		return rc;
	/* Past the last key (an index that was empty): filled pages. */
	if (f->append[i])
		mrc = LMDB(mdb_cursor_put(f->cur[i], &k, &v, MDB_APPEND));
	if (mrc == MDB_KEYEXIST)
		mrc = LMDB(mdb_cursor_put(f->cur[i], &k, &v, MDB_NOOVERWRITE));
	if (mrc == MDB_KEYEXIST)
		return 0;	/* there already, or twice in the sorter */
	if ((rc = store_err(mrc, db_names[i])) != 0)
		return rc;
	/* A database filled from empty is undone by emptying it. */
	if (!f->append[i])
		rc = undo_note(t, i, &k, NULL);
	else if (!f->emptied[i] && (rc = undo_empty(t, i)) == 0)
		f->emptied[i] = 1;
	if (rc != 0)
		return rc;
	t->undo->written += f->charge[i] + 2 * (k.mv_size + 8);
	if (++f->since_trim >= TRIM_EVERY * 16) {
		f->since_trim = 0;
		gw_store_trim(t->st);
	}
	if (t->undo->written < t->undo->batch || t->walking > 0)
		return 0;
	flush_close(f);
	memset(f->emptied, 0, sizeof(f->emptied));
	return gw_txn_checkpoint(t);
}

/*
 * Every deferred key, in order.  What a key counts toward the batch:
 * its journal entry, its bytes and node twice (a split leaves pages
 * half full), and its share of the pages it lands on: keys in order
 * over a database of L leaf pages, n of them, rewrite about L / n
 * pages each (at most one: fewer keys than pages).
 */
static int
defer_flush(struct gw_txn *t)
{
	struct undo *u = t->undo;
	struct flush f;
	MDB_stat ms;
	size_t i, pages;
	int rc = 0;

	if (u == NULL || gw_keysort_count(u->defer) == 0)
		return 0;
	memset(&f, 0, sizeof(f));
	f.t = t;
	for (i = 0; i < NDB && rc == 0; i++) {
		if (u->pend[i] == 0)
			continue;
		if ((rc = store_err(LMDB(mdb_stat(t->txn, t->st->dbi[i], &ms)),
				    db_names[i])) != 0)
			break;
		pages = ms.ms_leaf_pages * (size_t)ms.ms_psize / u->pend[i];
		f.charge[i] = pages < PAGE_CHARGE ? pages : PAGE_CHARGE;
		f.append[i] = ms.ms_entries == 0;
	}
	if (rc == 0)
		rc = gw_keysort_drain(u->defer, flush_one, &f);
	else
		rc = gw_keysort_drain(u->defer, NULL, NULL);
	flush_close(&f);
	memset(u->pend, 0, sizeof(u->pend));
	return rc;
}

/* Undoes the entries of one batch (n bytes at p), last first. */
static int
undo_apply(struct gw_store *st, MDB_txn *txn, const unsigned char *p,
	   size_t n)
{
	size_t *at = NULL, cnt = 0, cap = 0, o, j;
	unsigned char i;
	MDB_val k, v;
	int rc = 0, mrc;

	for (o = 0; o < n;) {
		if (n - o < UNDO_HEAD || p[o] >= st->db_hi ||
		    p[o] < st->db_lo || p[o + 1] > UNDO_EMPTY ||
		    (p[o + 1] == UNDO_EMPTY &&
		     (gw_be32_get(p + o + 2) != 0 ||
		      gw_be32_get(p + o + 6) != 0)) ||
		    gw_be32_get(p + o + 2) > n - o - UNDO_HEAD ||
		    gw_be32_get(p + o + 6) > n - o - UNDO_HEAD - gw_be32_get(p + o + 2)) {
			rc = gw_err_set(GW_ERR_STORE,
					"store %s: the undo journal is "
					"damaged (an entry at byte %zu)",
					st->file, o);
			goto out;
		}
		if (cnt == cap) {
			size_t *na;

			cap = cap ? cap * 2 : 1024;
			if ((na = reallocarray(at, cap, sizeof(*at))) == NULL) {
				rc = GW_ERR_NOMEM;
				goto out;
			}
			at = na;
		}
		at[cnt++] = o;
		o += UNDO_HEAD + gw_be32_get(p + o + 2) + gw_be32_get(p + o + 6);
	}
	for (j = cnt; j-- > 0;) {
		o = at[j];
		i = p[o];
		k.mv_size = gw_be32_get(p + o + 2);
		k.mv_data = (void *)(p + o + UNDO_HEAD);
		v.mv_size = gw_be32_get(p + o + 6);
		v.mv_data = (void *)(p + o + UNDO_HEAD + k.mv_size);
		if (p[o + 1] == UNDO_EMPTY)
			mrc = LMDB(mdb_drop(txn, st->dbi[i], 0));
		else if (p[o + 1] == UNDO_OLD)
			mrc = LMDB(mdb_put(txn, st->dbi[i], &k, &v, 0));
		else if ((mrc = LMDB(mdb_del(txn, st->dbi[i], &k, NULL))) ==
			 MDB_NOTFOUND)
			mrc = 0;
		if ((rc = store_err(mrc, db_names[i])) != 0)
			break;
	}
out:
	free(at);
	return rc;
}

/*
 * Undoes every batch in the journal, the last first, each in a
 * transaction of its own.  The caller holds store/import.lock.  *n gets
 * how many were undone.
 */
static int
undo_all(struct gw_store *st, size_t *n)
{
	size_t u = 0;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	struct gw_buf batch;
	unsigned char seq[8];
	uint64_t fsize = 0;
	int rc = 0, mrc;

	*n = 0;
	if ((rc = db_index(st, GW_DB_UNDO, &u)) != 0)
		return rc;
	gw_buf_init(&batch, SIZE_MAX / 2);
	for (;;) {
		if ((rc = headroom(st)) != 0 ||
		    (rc = store_err(LMDB(mdb_txn_begin(st->env, NULL, 0, &txn)),
				    "undoing an import")) != 0)
			break;
		st->ntxn++;
		if ((rc = file_size(st, &fsize)) != 0 ||
		    (rc = store_err(LMDB(mdb_cursor_open(txn, st->dbi[u],
							 &cur)),
				    GW_DB_UNDO)) != 0)
			break;
		/* The last batch: its parts, in order, copied (the changes
		 * may move pages of the map), then deleted. */
		gw_buf_reset(&batch);
		mrc = LMDB(mdb_cursor_get(cur, &k, &v, MDB_LAST));
		if (mrc == 0 && k.mv_size != UNDO_KEY) {
			rc = gw_err_set(GW_ERR_STORE,
					"store %s: the undo journal is "
					"damaged (a key of %zu bytes)",
					st->file, k.mv_size);
			break;
		}
		if (mrc == 0) {
			memcpy(seq, k.mv_data, sizeof(seq));
			k.mv_size = sizeof(seq);
			k.mv_data = seq;
			mrc = LMDB(mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE));
		}
		while (mrc == 0 && k.mv_size == UNDO_KEY &&
		       memcmp(k.mv_data, seq, sizeof(seq)) == 0) {
			if ((rc = in_file_at(st, fsize, GW_DB_UNDO, &v)) != 0 ||
			    (rc = gw_buf_add(&batch, v.mv_data, v.mv_size)) !=
				0 ||
			    (rc = store_err(LMDB(mdb_cursor_del(cur, 0)),
					    GW_DB_UNDO)) != 0)
				break;
			/* After a delete, MDB_NEXT gives the record that
			 * followed it. */
			mrc = LMDB(mdb_cursor_get(cur, &k, &v, MDB_NEXT));
		}
		guard_enter();
		mdb_cursor_close(cur);
		guard_leave(0);
		cur = NULL;
		if (rc != 0)
			break;
		if (batch.len == 0 && (mrc == 0 || mrc == MDB_NOTFOUND))
			break;	/* none left */
		if (mrc != 0 && mrc != MDB_NOTFOUND) {
			rc = store_err(mrc, GW_DB_UNDO);
			break;
		}
		if ((rc = undo_apply(st, txn, batch.data, batch.len)) != 0)
			break;
		rc = store_err(LMDB(mdb_txn_commit(txn)), "undoing an import");
		txn = NULL;
		st->ntxn--;
		if (rc != 0)
			break;
		cover(st);
		walked_update(st);
		gw_store_trim(st);
		(*n)++;
	}
	if (cur != NULL) {
		guard_enter();
		mdb_cursor_close(cur);
		guard_leave(0);
	}
	gw_buf_free(&batch);
	if (txn != NULL) {
		guard_enter();
		mdb_txn_abort(txn);
		guard_leave(0);
		st->ntxn--;
	}
	return rc;
}

/* At open (locked 0) and before a batched transaction (locked 1): an
 * undo journal left by a writer that died is undone. */
static int
undo_recover(struct gw_store *st, int locked)
{
	MDB_txn *txn = NULL;
	MDB_stat ms;
	size_t u = 0, n = 0;
	int rc, fd = -1;

	if (db_index(st, GW_DB_UNDO, &u) != 0) {
		gw_err_clear();
		return 0;
	}
	if ((rc = store_err(LMDB(mdb_txn_begin(st->env, NULL, MDB_RDONLY,
					       &txn)),
			    "opening the store")) != 0)
		return rc;
	rc = store_err(LMDB(mdb_stat(txn, st->dbi[u], &ms)), GW_DB_UNDO);
	guard_enter();
	mdb_txn_abort(txn);
	guard_leave(0);
	if (rc != 0 || ms.ms_entries == 0)
		return rc;
	if (!locked && (fd = undo_lock(st, LOCK_EX | LOCK_NB)) < 0)
		return fd == -1 ? 0 : fd;	/* -1: it runs */
	rc = undo_all(st, &n);
	st->undone += n;
	if (fd >= 0)
		close(fd);
	if (rc == 0)
		log_warn("store %s: undid %zu batch%s of an import that did "
			 "not finish",
			 st->file, n, n == 1 ? "" : "es");
	return rc;
}

size_t
gw_store_undone(const struct gw_store *st)
{
	return st->undone;
}

void
gw_store_set_batch(struct gw_store *st, size_t batch)
{
	st->batch = batch;
}

int
gw_txn_begin_batched(struct gw_store *st, struct gw_txn **out)
{
	struct undo *u;
	int rc, fd;

	*out = NULL;
	if (st->db_lo == NDB_STORE)
		return gw_err_set(GW_ERR_INTERNAL, "batched writes are the "
						   "store's");
	if ((fd = undo_lock(st, LOCK_EX)) < 0)
		return fd == -1 ? GW_ERR_STORE_BUSY : fd;
	if ((rc = undo_recover(st, 1)) != 0 ||
	    (rc = gw_txn_begin(st, GW_TXN_WRITE, out)) != 0) {
		close(fd);
		return rc;
	}
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		gw_txn_abort(*out);
		*out = NULL;
		close(fd);
		return GW_ERR_NOMEM;
	}
	u->batch = st->batch > 0 ? st->batch : GW_STORE_BATCH;
	u->lock = fd;
	if ((u->defer = gw_keysort_new(st->path, u->batch / 2)) == NULL) {
		free(u);
		gw_txn_abort(*out);
		*out = NULL;
		close(fd);
		return GW_ERR_NOMEM;
	}
	gw_buf_init(&u->log, SIZE_MAX / 2);
	(*out)->undo = u;
	return 0;
}

int
gw_txn_checkpoint(struct gw_txn *t)
{
	struct undo *u = t->undo;
	unsigned char key[UNDO_KEY];
	size_t i = 0, at;
	uint32_t part;
	MDB_val k = {sizeof(key), key}, v;
	int rc;

	/* Not under a walk's cursor: a commit would end it. */
	if (u == NULL || u->written < u->batch || t->walking > 0)
		return 0;
	if ((rc = db_index(t->st, GW_DB_UNDO, &i)) != 0)
		return rc;
	/* In parts that fit in a page: no run of free pages to find. */
	gw_be64_put(key, u->seq + 1);
	for (at = 0, part = 0; at < u->log.len; at += v.mv_size, part++) {
		gw_be32_put(key + 8, part);
		v.mv_size = u->log.len - at < UNDO_PART ? u->log.len - at
							: UNDO_PART;
		v.mv_data = u->log.data + at;
		if ((rc = store_err(LMDB(mdb_put(t->txn, t->st->dbi[i], &k,
						 &v, MDB_APPEND)),
				    GW_DB_UNDO)) != 0)
			return rc;
	}
	rc = store_err(LMDB(mdb_txn_commit(t->txn)), "commit");
	t->txn = NULL;
	t->st->ntxn--;
	if (rc != 0)
		return rc;
	cover(t->st);
	if (t->chain)
		walked_update(t->st);
	/* What the batch read of the map need not stay resident. */
	gw_store_trim(t->st);
	u->seq++;
	u->written = 0;
	gw_buf_reset(&u->log);
	/* The next batch, with room in the map for it. */
	if ((rc = headroom(t->st)) != 0 ||
	    (rc = store_err(LMDB(mdb_txn_begin(t->st->env, NULL, 0, &t->txn)),
			    "beginning a transaction")) != 0)
		return rc;
	t->st->ntxn++;
	if ((rc = file_size(t->st, &t->file_size)) != 0)
		return rc;
	t->chain = walked_chain(t->st);
	return 0;
}

/* Before the last commit: the journal goes with it. */
static int
undo_finish(struct gw_txn *t)
{
	size_t i = 0;
	int rc;

	if (t->undo->seq == 0)
		return 0;
	if ((rc = db_index(t->st, GW_DB_UNDO, &i)) != 0)
		return rc;
	return store_err(LMDB(mdb_drop(t->txn, t->st->dbi[i], 0)),
			 GW_DB_UNDO);
}

/* After the last commit or an abort (failed): the batches committed
 * before are undone; then the lock goes. */
static void
undo_end(struct gw_txn *t, int failed)
{
	struct undo *u = t->undo;
	size_t n = 0;
	int rc;

	t->undo = NULL;
	if (failed && u->seq > 0 && (rc = undo_all(t->st, &n)) != 0)
		log_err("store %s: undoing the import's %llu committed "
			"batch%s failed (%s: %s); the next open undoes them",
			t->st->file, (unsigned long long)u->seq,
			u->seq == 1 ? "" : "es", gw_strerror(rc),
			gw_err_detail());
	gw_buf_free(&u->log);
	gw_keysort_free(u->defer);
	close(u->lock);
	free(u);
}
