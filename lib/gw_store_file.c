/* gw_store_file.c - data.mdb read with pread(): meta pages, page walk. */
#include "gw_store_file.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#include "gw_err.h"

/*
 * LMDB's on-disk layout (lmdb.h and mdb.c of 0.9): pgno_t and the
 * counters are size_t, a page starts with its number, a pad, the flags
 * and the bounds of its free space, then the node offsets.
 */
#define W ((size_t)sizeof(size_t))
#define HDR (W + 8)
#define OFF_FLAGS (W + 2)
#define OFF_LOWER (W + 4)
#define OFF_UPPER (W + 6)
#define OFF_PAGES (W + 4)
#define DB_SZ (8 + 5 * W)
#define META_MAGIC (HDR)
#define META_VERSION (HDR + 4)
#define META_DBS (HDR + 8 + 2 * W)
#define META_LAST (META_DBS + 2 * DB_SZ)
#define META_TXNID (META_LAST + W)
#define META_END (META_TXNID + W)
#define NODESIZE 8

#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define P_META 0x08
#define P_DIRTY 0x10
#define P_LOOSE 0x4000
#define P_KEEP 0x8000
#define F_BIGDATA 0x01
#define F_SUBDATA 0x02
#define F_DUPDATA 0x04
#define MDB_INTEGERKEY 0x08
#define DB_LAYOUT_FLAGS 0x7e /* reverse, dupsort, integer, dupfixed... */
#define LMDB_MAGIC 0xBEEFC0DEu
#define LMDB_VERSION 1
#define P_INVALID UINT64_MAX

#define MAX_DEPTH 32	/* LMDB's cursor stack */
#define MAX_KEY 511	/* LMDB's default maximum key size */
#define MAX_NAMED 64

struct db_rec {
	unsigned flags, depth;
	uint64_t branch, leaf, overflow, entries, root;
};

struct named {
	char name[65];
	struct db_rec d;
};

struct walk {
	int fd;
	const char *path;
	unsigned psize;
	uint64_t last_pg;
	unsigned char *used, *freed; /* bitmaps of last_pg + 1 bits */
	unsigned char *lvl[MAX_DEPTH];
	const char *db;		     /* shown in details */
	int kind;		     /* WALK_FREE, WALK_MAIN, WALK_NAMED */
	unsigned char last[MAX_KEY];
	size_t last_len;
	int have_last;
	struct db_rec seen;
	struct named named[MAX_NAMED];
	size_t nnamed;
};

enum { WALK_FREE, WALK_MAIN, WALK_NAMED };

static unsigned
get16(const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t
get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* A size_t field; (size_t)-1 (P_INVALID) stays the largest value. */
static uint64_t
getsz(const unsigned char *p)
{
	size_t v;

	memcpy(&v, p, sizeof(v));
	return v == (size_t)-1 ? P_INVALID : (uint64_t)v;
}

static void
db_read(const unsigned char *p, struct db_rec *d)
{
	d->flags = get16(p + 4);
	d->depth = get16(p + 6);
	d->branch = getsz(p + 8);
	d->leaf = getsz(p + 8 + W);
	d->overflow = getsz(p + 8 + 2 * W);
	d->entries = getsz(p + 8 + 3 * W);
	d->root = getsz(p + 8 + 4 * W);
}

/* Reads len bytes at off; the count read (short at the end of the file)
 * or -1 with errno. */
static ssize_t
read_at(int fd, void *buf, size_t len, uint64_t off)
{
	size_t n = 0;
	ssize_t r;

	while (n < len) {
		r = pread(fd, (unsigned char *)buf + n, len - n,
			  (off_t)(off + n));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	return (ssize_t)n;
}

static int
read_exact(int fd, const char *path, void *buf, size_t len, uint64_t off)
{
	ssize_t r;

	if ((r = read_at(fd, buf, len, off)) < 0)
		return gw_err_set(GW_ERR_IO, "store %s: %s", path,
				  strerror(errno));
	if ((size_t)r != len)
		return gw_err_set(GW_ERR_STORE,
				  "store %s: damaged: the file ends at byte "
				  "%llu, inside a page it needs (truncated?)",
				  path, (unsigned long long)(off + (size_t)r));
	return 0;
}

/* One meta page (its first META_END bytes) that LMDB would accept. */
static int
meta_check(const unsigned char *b, unsigned n, const char *path)
{
	unsigned ps = get32(b + META_DBS); /* mm_psize is md_pad of FREE */

	if ((get16(b + OFF_FLAGS) & P_META) == 0 ||
	    get32(b + META_MAGIC) != LMDB_MAGIC)
		return gw_err_set(GW_ERR_STORE,
				  "store %s: meta page %u is not an LMDB meta "
				  "page (not a store, or damaged)",
				  path, n);
	if (get32(b + META_VERSION) != LMDB_VERSION)
		return gw_err_set(GW_ERR_STORE,
				  "store %s: meta page %u: LMDB data version "
				  "%u, this build reads version %u",
				  path, n, (unsigned)get32(b + META_VERSION),
				  LMDB_VERSION);
	if (ps < 256 || ps > 65536 || (ps & (ps - 1)) != 0)
		return gw_err_set(GW_ERR_STORE,
				  "store %s: meta page %u: page size %u is "
				  "not one LMDB writes (damaged)",
				  path, n, ps);
	return 0;
}

static int
root_check(const char *path, const char *what, const struct db_rec *d,
	   uint64_t last_pg)
{
	if (d->root == P_INVALID ? d->depth == 0
				 : d->root >= 2 && d->root <= last_pg &&
				       d->depth >= 1 && d->depth <= MAX_DEPTH)
		return 0;
	return gw_err_set(GW_ERR_STORE,
			  "store %s: damaged: the %s database's root (page "
			  "%llu, depth %u) is not inside pages 2..%llu",
			  path, what, (unsigned long long)d->root, d->depth,
			  (unsigned long long)last_pg);
}

int
gw_store_file_meta(int fd, const char *path, struct gw_store_meta *m)
{
	unsigned char b[2][META_END];
	struct db_rec fdb, mdb;
	struct stat sb;
	uint64_t t0, t1;
	unsigned newest;
	int rc;

	memset(m, 0, sizeof(*m));
	if (fstat(fd, &sb) != 0)
		return gw_err_set(GW_ERR_IO, "store %s: %s", path,
				  strerror(errno));
	m->file_size = (uint64_t)sb.st_size;
	if (m->file_size < META_END)
		return gw_err_set(GW_ERR_STORE,
				  "store %s: damaged: %llu bytes, too short "
				  "for an LMDB file (truncated?)",
				  path, (unsigned long long)m->file_size);
	if ((rc = read_exact(fd, path, b[0], META_END, 0)) != 0 ||
	    (rc = meta_check(b[0], 0, path)) != 0)
		return rc;
	m->psize = get32(b[0] + META_DBS);
	if (m->file_size < 2 * (uint64_t)m->psize)
		return gw_err_set(GW_ERR_STORE,
				  "store %s: damaged: %llu bytes, shorter than "
				  "its two meta pages of %u bytes (truncated?)",
				  path, (unsigned long long)m->file_size,
				  m->psize);
	if ((rc = read_exact(fd, path, b[1], META_END, m->psize)) != 0 ||
	    (rc = meta_check(b[1], 1, path)) != 0)
		return rc;
	if (get32(b[1] + META_DBS) != m->psize)
		return gw_err_set(GW_ERR_STORE,
				  "store %s: damaged: the meta pages disagree "
				  "on the page size (%u, %u)",
				  path, m->psize,
				  (unsigned)get32(b[1] + META_DBS));
	t0 = getsz(b[0] + META_TXNID);
	t1 = getsz(b[1] + META_TXNID);
	newest = t1 > t0;
	m->txnid = newest ? t1 : t0;
	m->last_pg = getsz(b[newest] + META_LAST);
	if (m->last_pg < 1 || m->last_pg >= m->file_size / m->psize)
		return gw_err_set(GW_ERR_STORE,
				  "store %s: damaged: %llu bytes, but its meta "
				  "page %u (transaction %llu) claims %llu pages "
				  "of %u bytes (truncated? restore it from a "
				  "backup)",
				  path, (unsigned long long)m->file_size,
				  newest, (unsigned long long)m->txnid,
				  (unsigned long long)(m->last_pg + 1),
				  m->psize);
	db_read(b[newest] + META_DBS, &fdb);
	db_read(b[newest] + META_DBS + DB_SZ, &mdb);
	if ((rc = root_check(path, "free-page", &fdb, m->last_pg)) != 0)
		return rc;
	return root_check(path, "main", &mdb, m->last_pg);
}

/*
 * The walk
 */

/* A key as text for a detail: printable ASCII, other bytes as \xNN,
 * cut at about 48 characters. */
static const char *
key_show(char *buf, size_t size, const unsigned char *k, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 8 < size && o < 48; i++) {
		if (k[i] >= 0x20 && k[i] < 0x7f && k[i] != '\\')
			buf[o++] = (char)k[i];
		else
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x",
					      k[i]);
	}
	if (i < n && o + 4 < size) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

static int bad(struct walk *w, uint64_t pgno, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The first problem of the walk, naming the file, database and page. */
static int
bad(struct walk *w, uint64_t pgno, const char *fmt, ...)
{
	char what[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return gw_err_set(GW_ERR_STORE,
			  "store %s: damaged: database '%s', page %llu: %s",
			  w->path, w->db, (unsigned long long)pgno, what);
}

static int
bit_test_set(unsigned char *map, uint64_t n)
{
	int was = (map[n / 8] >> (n % 8)) & 1;

	map[n / 8] |= (unsigned char)(1u << (n % 8));
	return was;
}

/* A page (or the first of a run) may be taken: inside the file, not a
 * meta page, not taken yet. */
static int
take(struct walk *w, uint64_t from, uint64_t pgno, uint64_t count)
{
	uint64_t i;

	if (pgno < 2 || pgno > w->last_pg || count > w->last_pg - pgno + 1)
		return bad(w, from, "points to page %llu, outside pages 2..%llu",
			   (unsigned long long)pgno,
			   (unsigned long long)w->last_pg);
	for (i = 0; i < count; i++)
		if (bit_test_set(w->used, pgno + i))
			return bad(w, from, "page %llu is used twice",
				   (unsigned long long)(pgno + i));
	return 0;
}

static int
key_cmp(const struct walk *w, const unsigned char *a, size_t alen,
	const unsigned char *b, size_t blen)
{
	size_t va, vb;
	int c;

	if (w->kind == WALK_FREE && alen == W && blen == W) {
		memcpy(&va, a, W);
		memcpy(&vb, b, W);
		return va < vb ? -1 : va > vb;
	}
	if ((c = memcmp(a, b, alen < blen ? alen : blen)) != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* The node at index i of page p: inside the page, with its key. */
static int
node_at(struct walk *w, uint64_t pgno, const unsigned char *p, unsigned i,
	unsigned upper, const unsigned char **node, unsigned *ksize)
{
	unsigned off = get16(p + HDR + 2 * i);

	if (off < upper || off + NODESIZE > w->psize)
		return bad(w, pgno, "node %u lies outside the page (offset %u)",
			   i, off);
	*node = p + off;
	*ksize = get16(*node + 6);
	if (*ksize > MAX_KEY || off + NODESIZE + *ksize > w->psize)
		return bad(w, pgno, "node %u: a key of %u bytes does not fit",
			   i, *ksize);
	return 0;
}

/* The free list's value: a count, then that many page numbers. */
static int
free_ids(struct walk *w, uint64_t pgno, const unsigned char *v, size_t len)
{
	uint64_t n, id, i;

	if (len < W || (n = getsz(v)) != len / W - 1 || len % W != 0)
		return bad(w, pgno, "a free-page list of %zu bytes is malformed",
			   len);
	for (i = 1; i <= n; i++) {
		id = getsz(v + i * W);
		if (id < 2 || id > w->last_pg)
			return bad(w, pgno, "free page %llu outside pages 2..%llu",
				   (unsigned long long)id,
				   (unsigned long long)w->last_pg);
		if (bit_test_set(w->freed, id))
			return bad(w, pgno, "free page %llu listed twice",
				   (unsigned long long)id);
	}
	return 0;
}

/* A value held in overflow pages: the run is inside the file, holds the
 * size, and is read back when it is a free-page list. */
static int
overflow(struct walk *w, uint64_t from, uint64_t ov, uint64_t size)
{
	unsigned char hdr[HDR];
	unsigned char *buf = NULL;
	uint64_t pages;
	int rc;

	if (ov < 2 || ov > w->last_pg)
		return bad(w, from, "overflow page %llu outside pages 2..%llu",
			   (unsigned long long)ov,
			   (unsigned long long)w->last_pg);
	if ((rc = read_exact(w->fd, w->path, hdr, HDR, ov * w->psize)) != 0)
		return rc;
	pages = get32(hdr + OFF_PAGES);
	if ((get16(hdr + OFF_FLAGS) & P_OVERFLOW) == 0 || getsz(hdr) != ov ||
	    pages == 0 || size > pages * w->psize - HDR)
		return bad(w, from,
			   "overflow page %llu is not a run holding %llu bytes",
			   (unsigned long long)ov, (unsigned long long)size);
	if ((rc = take(w, from, ov, pages)) != 0)
		return rc;
	w->seen.overflow += pages;
	if (w->kind != WALK_FREE)
		return 0;
	if ((buf = malloc(size ? size : 1)) == NULL)
		return GW_ERR_NOMEM;
	if ((rc = read_exact(w->fd, w->path, buf, size,
			     ov * w->psize + HDR)) == 0)
		rc = free_ids(w, from, buf, size);
	free(buf);
	return rc;
}

static int
leaf_node(struct walk *w, uint64_t pgno, const unsigned char *node,
	  unsigned ksize, unsigned room)
{
	const unsigned char *key = node + NODESIZE, *data = key + ksize;
	unsigned flags = get16(node + 4);
	uint64_t dsz = get16(node) | (uint64_t)get16(node + 2) << 16;
	char shown[64];
	struct named *nd;

	if (w->have_last && key_cmp(w, w->last, w->last_len, key, ksize) >= 0)
		return bad(w, pgno, "key '%s' is out of order",
			   key_show(shown, sizeof(shown), key, ksize));
	memcpy(w->last, key, ksize);
	w->last_len = ksize;
	w->have_last = 1;
	w->seen.entries++;
	if ((flags & F_DUPDATA) != 0 ||
	    ((flags & F_SUBDATA) != 0 && w->kind != WALK_MAIN))
		return bad(w, pgno,
			   "key '%s': node flags 0x%x that this store never "
			   "uses",
			   key_show(shown, sizeof(shown), key, ksize), flags);
	if ((flags & F_BIGDATA) != 0) {
		if (room < W)
			return bad(w, pgno,
				   "key '%s': the overflow page number does "
				   "not fit",
				   key_show(shown, sizeof(shown), key, ksize));
		return overflow(w, pgno, getsz(data), dsz);
	}
	if (dsz > room)
		return bad(w, pgno,
			   "key '%s': a value of %llu bytes does not fit in "
			   "the page",
			   key_show(shown, sizeof(shown), key, ksize),
			   (unsigned long long)dsz);
	if (w->kind == WALK_FREE)
		return free_ids(w, pgno, data, dsz);
	if ((flags & F_SUBDATA) == 0)
		return 0;
	if (dsz != DB_SZ || ksize == 0 || ksize >= sizeof(nd->name))
		return bad(w, pgno, "key '%s': not a database record",
			   key_show(shown, sizeof(shown), key, ksize));
	if (w->nnamed == MAX_NAMED)
		return bad(w, pgno, "more than %d named databases", MAX_NAMED);
	nd = &w->named[w->nnamed++];
	memcpy(nd->name, key, ksize);
	nd->name[ksize] = '\0';
	db_read(data, &nd->d);
	return 0;
}

static int walk_page(struct walk *w, uint64_t pgno, unsigned depth,
		     const struct db_rec *d);

static int
branch_node(struct walk *w, uint64_t pgno, const unsigned char *p, unsigned i,
	    unsigned upper, unsigned depth, const struct db_rec *d)
{
	const unsigned char *node, *prev;
	unsigned ksize, pksize;
	uint64_t child;
	char shown[64];
	int rc;

	if ((rc = node_at(w, pgno, p, i, upper, &node, &ksize)) != 0)
		return rc;
	if (i >= 2) {
		if ((rc = node_at(w, pgno, p, i - 1, upper, &prev, &pksize)) !=
		    0)
			return rc;
		if (key_cmp(w, prev + NODESIZE, pksize, node + NODESIZE,
			    ksize) >= 0)
			return bad(w, pgno, "branch key '%s' is out of order",
				   key_show(shown, sizeof(shown),
					    node + NODESIZE, ksize));
	}
	child = get16(node) | (uint64_t)get16(node + 2) << 16;
	if (W > 4)
		child |= (uint64_t)get16(node + 4) << 32;
	return walk_page(w, child, depth + 1, d);
}

static int
walk_page(struct walk *w, uint64_t pgno, unsigned depth,
	  const struct db_rec *d)
{
	const unsigned char *node;
	unsigned char *p;
	unsigned flags, lower, upper, n, i, ksize;
	int rc;

	if ((rc = take(w, pgno, pgno, 1)) != 0)
		return rc;
	p = w->lvl[depth - 1];
	if ((rc = read_exact(w->fd, w->path, p, w->psize,
			     pgno * w->psize)) != 0)
		return rc;
	flags = get16(p + OFF_FLAGS) & ~(unsigned)(P_DIRTY | P_LOOSE | P_KEEP);
	lower = get16(p + OFF_LOWER);
	upper = get16(p + OFF_UPPER);
	if (getsz(p) != pgno)
		return bad(w, pgno, "the page says it is page %llu",
			   (unsigned long long)getsz(p));
	if (lower < HDR || (lower - HDR) % 2 != 0 || lower > upper ||
	    upper > w->psize)
		return bad(w, pgno,
			   "the bounds of its free space (%u, %u) are "
			   "impossible",
			   lower, upper);
	n = (lower - HDR) / 2;
	if (flags == P_BRANCH && depth < d->depth) {
		if (n == 0)
			return bad(w, pgno, "a branch page without children");
		w->seen.branch++;
		for (i = 0; i < n; i++)
			if ((rc = branch_node(w, pgno, p, i, upper, depth,
					      d)) != 0)
				return rc;
		return 0;
	}
	if (flags != P_LEAF || depth != d->depth)
		return bad(w, pgno,
			   "a page of type 0x%x at depth %u of %u, where the "
			   "tree needs a %s",
			   flags, depth, d->depth,
			   depth < d->depth ? "branch" : "leaf");
	if (n == 0 && depth > 1)
		return bad(w, pgno, "an empty leaf below the root");
	w->seen.leaf++;
	for (i = 0; i < n; i++) {
		if ((rc = node_at(w, pgno, p, i, upper, &node, &ksize)) != 0 ||
		    (rc = leaf_node(w, pgno, node, ksize,
				    w->psize - (unsigned)(node - p) -
					NODESIZE - ksize)) != 0)
			return rc;
	}
	return 0;
}

/* One tree, and its counts against the database record. */
static int
walk_tree(struct walk *w, const char *name, int kind, const struct db_rec *d)
{
	int rc;

	w->db = name;
	w->kind = kind;
	w->have_last = 0;
	memset(&w->seen, 0, sizeof(w->seen));
	if (kind == WALK_FREE ? (d->flags & MDB_INTEGERKEY) == 0
			      : (d->flags & DB_LAYOUT_FLAGS) != 0)
		return bad(w, d->root,
			   "database flags 0x%x that this store never uses",
			   d->flags);
	if (d->root == P_INVALID) {
		if (d->depth != 0 || d->entries != 0 || d->leaf != 0 ||
		    d->branch != 0 || d->overflow != 0)
			return bad(w, 0,
				   "an empty database that counts %llu records",
				   (unsigned long long)d->entries);
		return 0;
	}
	if (d->depth < 1 || d->depth > MAX_DEPTH)
		return bad(w, d->root, "a tree depth of %u", d->depth);
	if ((rc = walk_page(w, d->root, 1, d)) != 0)
		return rc;
	if (w->seen.entries != d->entries || w->seen.leaf != d->leaf ||
	    w->seen.branch != d->branch || w->seen.overflow != d->overflow)
		return gw_err_set(GW_ERR_STORE,
				  "store %s: damaged: database '%s' counts "
				  "%llu records in %llu+%llu+%llu pages, its "
				  "tree holds %llu in %llu+%llu+%llu",
				  w->path, name,
				  (unsigned long long)d->entries,
				  (unsigned long long)d->branch,
				  (unsigned long long)d->leaf,
				  (unsigned long long)d->overflow,
				  (unsigned long long)w->seen.entries,
				  (unsigned long long)w->seen.branch,
				  (unsigned long long)w->seen.leaf,
				  (unsigned long long)w->seen.overflow);
	return 0;
}

int
gw_store_file_walk(const char *path, gw_store_count_fn fn, void *arg)
{
	unsigned char b[META_END];
	struct gw_store_meta m;
	struct db_rec fdb, mdb;
	struct walk *w = NULL;
	uint64_t i, t0, t1;
	size_t bits, k;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return gw_err_set(errno == EACCES ? GW_ERR_PERM : GW_ERR_IO,
				  "store %s: %s", path, strerror(errno));
	if ((rc = gw_store_file_meta(fd, path, &m)) != 0)
		goto out;
	/* The newest meta again, for its database records. */
	if ((rc = read_exact(fd, path, b, META_END, 0)) != 0)
		goto out;
	t0 = getsz(b + META_TXNID);
	if ((rc = read_exact(fd, path, b, META_END, m.psize)) != 0)
		goto out;
	t1 = getsz(b + META_TXNID);
	if (t1 <= t0 &&
	    (rc = read_exact(fd, path, b, META_END, 0)) != 0)
		goto out;
	db_read(b + META_DBS, &fdb);
	db_read(b + META_DBS + DB_SZ, &mdb);

	rc = GW_ERR_NOMEM;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		goto out;
	w->fd = fd;
	w->path = path;
	w->psize = m.psize;
	w->last_pg = m.last_pg;
	bits = (size_t)(m.last_pg / 8 + 1);
	if ((w->used = calloc(1, bits)) == NULL ||
	    (w->freed = calloc(1, bits)) == NULL)
		goto out;
	for (k = 0; k < MAX_DEPTH; k++)
		if ((w->lvl[k] = malloc(m.psize)) == NULL)
			goto out;
	if ((rc = walk_tree(w, "(free pages)", WALK_FREE, &fdb)) != 0 ||
	    (rc = walk_tree(w, "(main)", WALK_MAIN, &mdb)) != 0)
		goto out;
	for (k = 0; k < w->nnamed; k++) {
		if ((rc = walk_tree(w, w->named[k].name, WALK_NAMED,
				    &w->named[k].d)) != 0)
			goto out;
		if (fn != NULL)
			fn(arg, w->named[k].name, w->named[k].d.entries);
	}
	for (i = 2; i <= m.last_pg; i++)
		if (((w->used[i / 8] & w->freed[i / 8]) >> (i % 8)) & 1) {
			rc = gw_err_set(GW_ERR_STORE,
					"store %s: damaged: page %llu is both "
					"in use and on the free list",
					path, (unsigned long long)i);
			goto out;
		}
	rc = 0;
out:
	if (w != NULL) {
		for (k = 0; k < MAX_DEPTH; k++)
			free(w->lvl[k]);
		free(w->used);
		free(w->freed);
		free(w);
	}
	close(fd);
	return rc;
}
