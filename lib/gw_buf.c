/* gw_buf.c - bounded growable buffers. */
#include "gw_buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <malloc.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>

#include "gw_err.h"

void
gw_buf_init(struct gw_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->front = 0;
	b->max = max;
	b->sink = NULL;
	b->sink_arg = NULL;
	b->sink_at = 0;
}

void
gw_buf_set_sink(struct gw_buf *b, size_t at,
		int (*fn)(void *arg, const unsigned char *p, size_t n),
		void *arg)
{
	b->sink = fn;
	b->sink_arg = arg;
	b->sink_at = at;
}

int
gw_buf_flush(struct gw_buf *b)
{
	int rc;

	if (b->sink == NULL || b->len == 0)
		return 0;
	if ((rc = b->sink(b->sink_arg, b->data, b->len)) != 0)
		return rc;
	gw_buf_reset(b);
	return 0;
}

void
gw_buf_free(struct gw_buf *b)
{
	if (b->data != NULL)
		free(b->data - b->front);
	b->data = NULL;
	b->len = b->cap = b->front = 0;
}

void
gw_buf_free_secret(struct gw_buf *b)
{
	/* The whole block: gw_buf_reset() leaves its bytes behind len,
	 * gw_buf_skip() in front of data. */
	if (b->data != NULL)
		OPENSSL_cleanse(b->data - b->front, b->front + b->cap);
	gw_buf_free(b);
}

void
gw_buf_reset(struct gw_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
gw_buf_consume(struct gw_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void
gw_buf_skip(struct gw_buf *b, size_t n)
{
	if (n > b->len)
		n = b->len;
	if (n == 0)
		return;
	b->data += n;
	b->len -= n;
	b->cap -= n;
	b->front += n;
}

int
gw_buf_prepend(struct gw_buf *b, const void *p, size_t n)
{
	unsigned char *dst;
	int rc;

	if (n == 0)
		return 0;
	if (n > b->max || b->len > b->max - n)
		return gw_err_set(GW_ERR_LIMIT,
				  "more than %zu bytes (a configured ceiling)",
				  b->max);
	if (n <= b->front) {
		b->data -= n;
		b->cap += n;
		b->front -= n;
	} else {
		if ((rc = gw_buf_reserve(b, n, &dst)) != 0)
			return rc;
		memmove(b->data + n, b->data, b->len);
	}
	memcpy(b->data, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
gw_buf_reserve(struct gw_buf *b, size_t n, unsigned char **p)
{
	size_t need, ncap;
	unsigned char *nd;
	int rc;

	if (b->sink != NULL && b->len > 0 && b->len + n > b->sink_at &&
	    (rc = gw_buf_flush(b)) != 0)
		return rc;
	if (n > b->max || b->len > b->max - n)
		return gw_err_set(GW_ERR_LIMIT,
				  "more than %zu bytes (a configured ceiling)",
				  b->max);
	need = b->len + n + 1;
	if (need > b->cap) {
		/* Twice the block, or what is asked for when that is more
		 * (a reservation of the whole size in one step gets no
		 * power-of-two slack, which gw_buf_free_secret() would fault
		 * in to wipe). */
		ncap = b->cap == 0 ? 256
		       : b->cap > (size_t)-1 / 2 ? need : b->cap * 2;
		if (ncap < need)
			ncap = need > (size_t)-1 - 4095 ? need
							: (need + 4095) & ~(size_t)4095;
		/* Not realloc(): the block it leaves behind would keep its
		 * bytes (plaintext, for some buffers) until reused. */
		if ((nd = malloc(ncap)) == NULL)
			return GW_ERR_NOMEM;
		if (b->data != NULL) {
			memcpy(nd, b->data, b->len);
			nd[b->len] = '\0';
			OPENSSL_cleanse(b->data - b->front, b->front + b->cap);
			free(b->data - b->front);
		}
		b->data = nd;
		b->cap = ncap;
		b->front = 0;
	}
	*p = b->data + b->len;
	return 0;
}

int
gw_buf_add(struct gw_buf *b, const void *p, size_t n)
{
	unsigned char *dst;
	int rc;

	if ((rc = gw_buf_reserve(b, n, &dst)) != 0)
		return rc;
	if (n > 0)
		memcpy(dst, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
gw_buf_adds(struct gw_buf *b, const char *s)
{
	return gw_buf_add(b, s, strlen(s));
}

int
gw_buf_addf(struct gw_buf *b, const char *fmt, ...)
{
	va_list ap;
	unsigned char *dst;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return GW_ERR_INVALID;
	if ((rc = gw_buf_reserve(b, (size_t)n, &dst)) != 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf((char *)dst, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

unsigned char *
gw_buf_steal(struct gw_buf *b, size_t *len)
{
	unsigned char *d = b->data;

	if (d != NULL && b->front > 0) { /* the caller frees the pointer */
		d -= b->front;
		memmove(d, b->data, b->len + 1);
	}
	*len = b->len;
	b->data = NULL;
	b->len = b->cap = b->front = 0;
	return d;
}

/* ---- BIO ------------------------------------------------------------- */

static BIO_METHOD *buf_bio_method;
static pthread_once_t buf_bio_once = PTHREAD_ONCE_INIT;

struct buf_bio {
	struct gw_buf *b;
	void (*tap)(void *arg, const unsigned char *p, size_t n);
	void *arg;
};

static int
buf_bio_write(BIO *bio, const char *data, int n)
{
	struct buf_bio *bb = BIO_get_data(bio);
	struct gw_buf *b = bb->b;

	if (n < 0 || gw_buf_add(b, data, (size_t)n) != 0)
		return -1;
	if (bb->tap != NULL)
		bb->tap(bb->arg, b->data + b->len - (size_t)n, (size_t)n);
	return n;
}

static int
buf_bio_puts(BIO *bio, const char *s)
{
	return buf_bio_write(bio, s, (int)strlen(s));
}

static long
buf_bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING:
	case BIO_CTRL_WPENDING:
		return 0;
	default:
		return 0;
	}
}

static int
buf_bio_create(BIO *bio)
{
	BIO_set_init(bio, 1);
	return 1;
}

static int
buf_bio_destroy(BIO *bio)
{
	free(BIO_get_data(bio));
	BIO_set_data(bio, NULL);
	return 1;
}

static void
buf_bio_init_method(void)
{
	BIO_METHOD *m;

	if ((m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
			      "smimegw buffer")) == NULL)
		return;
	BIO_meth_set_write(m, buf_bio_write);
	BIO_meth_set_puts(m, buf_bio_puts);
	BIO_meth_set_ctrl(m, buf_bio_ctrl);
	BIO_meth_set_create(m, buf_bio_create);
	BIO_meth_set_destroy(m, buf_bio_destroy);
	buf_bio_method = m;
}

BIO *
gw_buf_bio_tap(struct gw_buf *b,
	       void (*tap)(void *arg, const unsigned char *p, size_t n),
	       void *arg)
{
	struct buf_bio *bb;
	BIO *bio;

	pthread_once(&buf_bio_once, buf_bio_init_method);
	if (buf_bio_method == NULL || (bb = malloc(sizeof(*bb))) == NULL)
		return NULL;
	if ((bio = BIO_new(buf_bio_method)) == NULL) {
		free(bb);
		return NULL;
	}
	bb->b = b;
	bb->tap = tap;
	bb->arg = arg;
	BIO_set_data(bio, bb);
	return bio;
}

BIO *
gw_buf_bio(struct gw_buf *b)
{
	return gw_buf_bio_tap(b, NULL, NULL);
}

void
gw_buf_tune_malloc(void)
{
	/* Keep up to 256 MiB of freed memory and serve big buffers from
	 * the heap, not from mmap: messages up to the 64 MiB ceiling. */
	mallopt(M_MMAP_THRESHOLD, 128 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

int
gw_buf_no_dumps(void)
{
	struct rlimit rl = {0, 0};

	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		return gw_err_set(GW_ERR_INTERNAL,
				  "cannot disable core dumps (RLIMIT_CORE): %s",
				  strerror(errno));
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return gw_err_set(GW_ERR_INTERNAL,
				  "cannot make the process undumpable "
				  "(PR_SET_DUMPABLE): %s",
				  strerror(errno));
	return 0;
}

int
gw_bytes_cmp(const void *a, size_t an, const void *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn;
}

void
gw_str_copy(char *dst, size_t size, const char *s)
{
	size_t n = strnlen(s, size - 1);

	memmove(dst, s, n);
	dst[n] = '\0';
}
