/* gw_store.c - LMDB wrapper: environment, named databases, error map. */
#include "gw_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "gw_err.h"

static const char *const db_names[] = {
    GW_DB_IDENTITIES, GW_DB_PUBKEYS, GW_DB_HARVESTED, GW_DB_CAS,
    GW_DB_PROFILES,   GW_DB_ALERTS,  GW_DB_META,
};
#define NDB (sizeof(db_names) / sizeof(db_names[0]))

struct gw_store {
	MDB_env *env;
	MDB_dbi dbi[NDB];
	size_t map_size;
	char *path;
};

struct gw_txn {
	struct gw_store *st;
	MDB_txn *txn;
	int write;
};

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
				  "%s: the store is full (raise store_map_size "
				  "in smimegw.conf)",
				  op);
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
db_index(const char *name, size_t *idx)
{
	size_t i = 0;

	for (i = 0; i < NDB; i++) {
		if (strcmp(db_names[i], name) == 0) {
			*idx = i;
			return 0;
		}
	}
	return gw_err_set(GW_ERR_INTERNAL, "unknown store database '%s'", name);
}

static int
ensure_dir(const char *path)
{
	struct stat sb;

	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return gw_err_set(GW_ERR_IO, "cannot create %s: %s", path,
				  strerror(errno));
	if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return gw_err_set(GW_ERR_IO, "%s is not a directory", path);
	return 0;
}

int
gw_store_open(const char *dir, size_t map_size, struct gw_store **out)
{
	struct gw_store *st = NULL;
	MDB_txn *txn = NULL;
	size_t i, len;
	int rc;

	*out = NULL;
	if ((rc = ensure_dir(dir)) != 0)
		return rc;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return GW_ERR_NOMEM;
	len = strlen(dir) + sizeof("/store");
	if ((st->path = malloc(len)) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	snprintf(st->path, len, "%s/store", dir);
	if ((rc = ensure_dir(st->path)) != 0)
		goto out;
	st->map_size = map_size ? map_size : (size_t)1 << 30;
	if ((rc = store_err(mdb_env_create(&st->env), "mdb_env_create")) != 0)
		goto out;
	mdb_env_set_maxdbs(st->env, NDB + 4);
	mdb_env_set_maxreaders(st->env, 256);
	if ((rc = store_err(mdb_env_set_mapsize(st->env, st->map_size),
			    "mdb_env_set_mapsize")) != 0)
		goto out;
	/* MDB_NOTLS: read transactions are not tied to threads. */
	if ((rc = mdb_env_open(st->env, st->path, MDB_NOTLS, 0600)) != 0) {
		rc = gw_err_set(rc == EACCES ? GW_ERR_PERM : GW_ERR_STORE,
				"store %s: %s", st->path, mdb_strerror(rc));
		goto out;
	}
	if ((rc = store_err(mdb_txn_begin(st->env, NULL, 0, &txn),
			    "opening the store")) != 0)
		goto out;
	for (i = 0; i < NDB; i++) {
		if ((rc = store_err(mdb_dbi_open(txn, db_names[i], MDB_CREATE,
						 &st->dbi[i]),
				    db_names[i])) != 0)
			goto out;
	}
	rc = store_err(mdb_txn_commit(txn), "opening the store");
	txn = NULL;
	if (rc != 0)
		goto out;
	*out = st;
	st = NULL;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	gw_store_close(st);
	return rc;
}

void
gw_store_close(struct gw_store *st)
{
	if (st == NULL)
		return;
	if (st->env != NULL)
		mdb_env_close(st->env);
	free(st->path);
	free(st);
}

int
gw_txn_begin(struct gw_store *st, int mode, struct gw_txn **out)
{
	struct gw_txn *t;
	int rc;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return GW_ERR_NOMEM;
	t->st = st;
	t->write = mode == GW_TXN_WRITE;
	if ((rc = store_err(mdb_txn_begin(st->env, NULL,
					  t->write ? 0 : MDB_RDONLY, &t->txn),
			    "beginning a transaction")) != 0) {
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int
gw_txn_commit(struct gw_txn *t)
{
	int rc;

	rc = store_err(mdb_txn_commit(t->txn), "commit");
	free(t);
	return rc;
}

void
gw_txn_abort(struct gw_txn *t)
{
	if (t == NULL)
		return;
	mdb_txn_abort(t->txn);
	free(t);
}

int
gw_txn_get(struct gw_txn *t, const char *db, const void *key, size_t klen,
	   const void **val, size_t *vlen)
{
	MDB_val k = {klen, (void *)key}, v;
	size_t i = 0;
	int rc;

	if ((rc = db_index(db, &i)) != 0)
		return rc;
	if ((rc = store_err(mdb_get(t->txn, t->st->dbi[i], &k, &v), db)) != 0)
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
	int rc;

	if ((rc = db_index(db, &i)) != 0)
		return rc;
	return store_err(mdb_put(t->txn, t->st->dbi[i], &k, &v,
				 (flags & GW_PUT_NOOVERWRITE) ? MDB_NOOVERWRITE
							      : 0),
			 db);
}

int
gw_txn_del(struct gw_txn *t, const char *db, const void *key, size_t klen)
{
	MDB_val k = {klen, (void *)key};
	size_t i = 0;
	int rc;

	if ((rc = db_index(db, &i)) != 0)
		return rc;
	return store_err(mdb_del(t->txn, t->st->dbi[i], &k, NULL), db);
}

int
gw_txn_count(struct gw_txn *t, const char *db, size_t *n)
{
	MDB_stat ms;
	size_t i = 0;
	int rc;

	*n = 0;
	if ((rc = db_index(db, &i)) != 0)
		return rc;
	if ((rc = store_err(mdb_stat(t->txn, t->st->dbi[i], &ms), db)) != 0)
		return rc;
	*n = ms.ms_entries;
	return 0;
}

int
gw_txn_foreach(struct gw_txn *t, const char *db, gw_foreach_fn fn, void *arg)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	size_t i = 0;
	int rc, mrc;

	if ((rc = db_index(db, &i)) != 0)
		return rc;
	if ((rc = store_err(mdb_cursor_open(t->txn, t->st->dbi[i], &cur),
			    db)) != 0)
		return rc;
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if ((rc = fn(arg, k.mv_data, k.mv_size, v.mv_data,
			     v.mv_size)) != 0)
			break;
	}
	if (rc == 0 && mrc != MDB_NOTFOUND)
		rc = store_err(mrc, db);
	mdb_cursor_close(cur);
	return rc < 0 ? rc : 0;
}
