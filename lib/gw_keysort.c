/* gw_keysort.c - many short keys sorted in bounded memory (gw_keysort.h). */
#include "gw_keysort.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_be.h"
#include "gw_buf.h"
#include "gw_err.h"

#define RUN_BUF ((size_t)256 << 10)	/* stdio buffer of a run */
#define RUNS_MAX 16	/* then they are merged into one (descriptors) */

/* A key in the buffer or a run: u16 length (big-endian), the bytes. */
#define HEAD 2

struct run {
	FILE *fp;
	unsigned char *key;	/* its current key (merge) */
	size_t len;
};

struct gw_keysort {
	char *dir;
	unsigned char *buf;	/* keys, HEAD each; cap bytes, made at need */
	size_t cap, used;
	uint32_t *off;		/* where each key of buf starts */
	size_t n, noff;
	struct run *runs;
	size_t nruns;
	size_t count;		/* keys, in buf and the runs */
};

static int
off_cmp(const void *x, const void *y, void *arg)
{
	const unsigned char *buf = arg;
	const unsigned char *a = buf + *(const uint32_t *)x;
	const unsigned char *b = buf + *(const uint32_t *)y;

	return gw_bytes_cmp(a + HEAD, gw_be16_get(a), b + HEAD, gw_be16_get(b));
}

struct gw_keysort *
gw_keysort_new(const char *dir, size_t mem)
{
	struct gw_keysort *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->dir = strdup(dir)) == NULL) {
		free(s);
		return NULL;
	}
	s->cap = mem < GW_KEYSORT_MEM_MIN ? GW_KEYSORT_MEM_MIN : mem;
	/* Offsets are 32 bits. */
	if (s->cap > UINT32_MAX)
		s->cap = UINT32_MAX;
	return s;
}

static void
runs_close(struct gw_keysort *s)
{
	size_t i;

	for (i = 0; i < s->nruns; i++) {
		fclose(s->runs[i].fp);
		free(s->runs[i].key);
	}
	free(s->runs);
	s->runs = NULL;
	s->nruns = 0;
}

static void
empty(struct gw_keysort *s)
{
	runs_close(s);
	s->used = 0;
	s->n = 0;
	s->count = 0;
}

void
gw_keysort_free(struct gw_keysort *s)
{
	if (s == NULL)
		return;
	runs_close(s);
	free(s->buf);
	free(s->off);
	free(s->dir);
	free(s);
}

size_t
gw_keysort_count(const struct gw_keysort *s)
{
	return s->count;
}

/* An unnamed file in s->dir, open for writing and reading back. */
static FILE *
run_file(struct gw_keysort *s)
{
	char path[4096];
	FILE *fp;
	int fd;

	fd = open(s->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && errno != ENOENT && errno != EACCES) {
		/* No O_TMPFILE on this file system: a name, gone at once. */
		if ((size_t)snprintf(path, sizeof(path), "%s/.keysort.XXXXXX",
				     s->dir) >= sizeof(path)) {
			errno = ENAMETOOLONG;
			return NULL;
		}
		if ((fd = mkostemp(path, O_CLOEXEC)) >= 0)
			(void)unlink(path);
	}
	if (fd < 0)
		return NULL;
	if ((fp = fdopen(fd, "w+")) == NULL) {
		close(fd);
		return NULL;
	}
	(void)setvbuf(fp, NULL, _IOFBF, RUN_BUF);
	return fp;
}

static int merge(struct gw_keysort *s,
		 int (*fn)(void *arg, const unsigned char *key, size_t len),
		 void *arg);

static void
sort_buf(struct gw_keysort *s)
{
	if (s->n > 1)
		qsort_r(s->off, s->n, sizeof(*s->off), off_cmp, s->buf);
}

static int
write_key(void *arg, const unsigned char *key, size_t len)
{
	unsigned char head[HEAD];
	FILE *fp = arg;

	gw_be16_put(head, (uint16_t)len);
	if (fwrite(head, HEAD, 1, fp) != 1 || fwrite(key, len, 1, fp) != 1)
		return GW_ERR_IO;
	return 0;
}

/*
 * The buffer's keys, sorted, become a run; when there are RUNS_MAX
 * runs already, the buffer and all of them are merged into one.
 */
static int
spill(struct gw_keysort *s)
{
	struct run *runs;
	FILE *fp;
	size_t i;
	int rc = 0;

	if ((runs = realloc(s->runs, (s->nruns + 1) * sizeof(*runs))) ==
	    NULL)
		return GW_ERR_NOMEM;
	s->runs = runs;
	if ((fp = run_file(s)) == NULL)
		return gw_err_set(GW_ERR_IO, "a temporary file in %s: %s",
				  s->dir, strerror(errno));
	sort_buf(s);
	if (s->nruns >= RUNS_MAX)
		rc = merge(s, write_key, fp);
	else
		for (i = 0; i < s->n && rc == 0; i++)
			rc = write_key(fp, s->buf + s->off[i] + HEAD,
				       gw_be16_get(s->buf + s->off[i]));
	if (rc != 0 || fflush(fp) != 0) {
		int e = errno;

		fclose(fp);
		if (rc != 0 && rc != GW_ERR_IO)
			return rc;
		return gw_err_set(GW_ERR_IO, "a temporary file in %s: %s",
				  s->dir, strerror(e));
	}
	if (s->nruns >= RUNS_MAX) {
		/* What was merged goes; its array keeps room for one. */
		for (i = 0; i < s->nruns; i++) {
			fclose(s->runs[i].fp);
			free(s->runs[i].key);
		}
		s->nruns = 0;
	}
	s->runs[s->nruns].fp = fp;
	s->runs[s->nruns].key = NULL;
	s->runs[s->nruns].len = 0;
	s->nruns++;
	s->used = 0;
	s->n = 0;
	return 0;
}

int
gw_keysort_add(struct gw_keysort *s, const void *key, size_t len)
{
	uint32_t *off;
	size_t want;
	int rc;

	if (len == 0 || len > GW_KEYSORT_KEY_MAX)
		return gw_err_set(GW_ERR_INVALID, "a sort key of %zu bytes",
				  len);
	if (s->buf == NULL && (s->buf = malloc(s->cap)) == NULL)
		return GW_ERR_NOMEM;
	if (HEAD + len > s->cap - s->used) {
		if (s->n == 0)
			return gw_err_set(GW_ERR_INVALID,
					  "a sort key of %zu bytes", len);
		if ((rc = spill(s)) != 0)
			return rc;
	}
	if (s->n == s->noff) {
		want = s->noff == 0 ? 4096 : s->noff * 2;
		if ((off = realloc(s->off, want * sizeof(*off))) == NULL)
			return GW_ERR_NOMEM;
		s->off = off;
		s->noff = want;
	}
	s->off[s->n++] = (uint32_t)s->used;
	gw_be16_put(s->buf + s->used, (uint16_t)len);
	memcpy(s->buf + s->used + HEAD, key, len);
	s->used += HEAD + len;
	s->count++;
	return 0;
}

/* The next key of run r into r->key; 1 at its end. */
static int
run_next(struct gw_keysort *s, struct run *r)
{
	unsigned char head[HEAD];
	size_t got;

	if ((got = fread(head, 1, HEAD, r->fp)) == 0 && feof(r->fp))
		return 1;
	r->len = got == HEAD ? gw_be16_get(head) : 0;
	if (r->len == 0 || fread(r->key, r->len, 1, r->fp) != 1)
		return gw_err_set(GW_ERR_IO, "a temporary file in %s: %s",
				  s->dir,
				  ferror(r->fp) ? strerror(errno)
						: "cut short");
	return 0;
}

/*
 * The merge: source 0 is the sorted buffer (at its next key, k of n),
 * 1.. are the runs.  heap[] holds the sources that have a key left, the
 * smallest first.
 */
struct merge {
	struct gw_keysort *s;
	size_t k;
	size_t *heap, nheap;
};

static const unsigned char *
src_key(const struct merge *m, size_t src, size_t *len)
{
	const unsigned char *p;

	if (src == 0) {
		p = m->s->buf + m->s->off[m->k];
		*len = gw_be16_get(p);
		return p + HEAD;
	}
	*len = m->s->runs[src - 1].len;
	return m->s->runs[src - 1].key;
}

static int
src_less(const struct merge *m, size_t a, size_t b)
{
	const unsigned char *ka, *kb;
	size_t la, lb;

	ka = src_key(m, a, &la);
	kb = src_key(m, b, &lb);
	return gw_bytes_cmp(ka, la, kb, lb) < 0;
}

static void
sift_down(struct merge *m, size_t i)
{
	size_t c, t;

	for (;;) {
		c = 2 * i + 1;
		if (c >= m->nheap)
			return;
		if (c + 1 < m->nheap && src_less(m, m->heap[c + 1], m->heap[c]))
			c++;
		if (!src_less(m, m->heap[c], m->heap[i]))
			return;
		t = m->heap[c];
		m->heap[c] = m->heap[i];
		m->heap[i] = t;
		i = c;
	}
}

/* Source src to its next key: 0, 1 at its end, or an error. */
static int
src_next(struct merge *m, size_t src)
{
	if (src == 0)
		return ++m->k < m->s->n ? 0 : 1;
	return run_next(m->s, &m->s->runs[src - 1]);
}

static int
merge(struct gw_keysort *s,
      int (*fn)(void *arg, const unsigned char *key, size_t len), void *arg)
{
	struct merge m = {.s = s};
	const unsigned char *key;
	size_t i, len, src;
	int rc = 0, r;

	if ((m.heap = calloc(s->nruns + 1, sizeof(*m.heap))) == NULL)
		return GW_ERR_NOMEM;
	if (s->n > 0)
		m.heap[m.nheap++] = 0;
	for (i = 0; i < s->nruns && rc == 0; i++) {
		struct run *run = &s->runs[i];

		if ((run->key = malloc(GW_KEYSORT_KEY_MAX)) == NULL) {
			rc = GW_ERR_NOMEM;
			break;
		}
		if (fseek(run->fp, 0, SEEK_SET) != 0) {
			rc = gw_err_set(GW_ERR_IO, "a temporary file in %s: %s",
					s->dir, strerror(errno));
			break;
		}
		if ((r = run_next(s, run)) < 0)
			rc = r;
		else if (r == 0)
			m.heap[m.nheap++] = i + 1;
	}
	for (i = m.nheap; rc == 0 && i-- > 0;)
		sift_down(&m, i);
	while (rc == 0 && m.nheap > 0) {
		src = m.heap[0];
		key = src_key(&m, src, &len);
		if ((rc = fn(arg, key, len)) != 0)
			break;
		if ((r = src_next(&m, src)) < 0) {
			rc = r;
			break;
		}
		if (r == 1)
			m.heap[0] = m.heap[--m.nheap];
		sift_down(&m, 0);
	}
	free(m.heap);
	return rc;
}

int
gw_keysort_drain(struct gw_keysort *s,
		 int (*fn)(void *arg, const unsigned char *key, size_t len),
		 void *arg)
{
	int rc;

	if (fn == NULL) {
		empty(s);
		return 0;
	}
	sort_buf(s);
	rc = merge(s, fn, arg);
	empty(s);
	return rc;
}
