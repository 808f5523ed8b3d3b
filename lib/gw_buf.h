/*
 * gw_buf.h - a growable byte buffer with a ceiling set at creation.
 *
 * Appending past the ceiling fails with GW_ERR_LIMIT (a detail names the
 * ceiling) instead of growing: every buffer filled from untrusted input
 * has a bound.  The contents stay NUL-terminated for convenience (the
 * NUL is not counted in len).  gw_buf_free() wipes nothing; use
 * gw_buf_free_secret() for plaintext scratch: it wipes the whole block
 * (cap), so also what a gw_buf_reset() left behind len.  Growing a
 * buffer wipes and frees the old block (never realloc()), so no copy of
 * the contents stays behind in freed memory.  gw_buf_steal() hands the
 * block out as it is: the caller wipes it.
 */
#ifndef GW_BUF_H
#define GW_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct gw_buf {
	unsigned char *data;
	size_t len;
	size_t cap;
	size_t front;	/* bytes of the block before data */
	size_t max;
	/* gw_buf_set_sink(): where full buffers go (NULL: nowhere). */
	int (*sink)(void *arg, const unsigned char *p, size_t n);
	void *sink_arg;
	size_t sink_at;
};

void gw_buf_init(struct gw_buf *b, size_t max);
void gw_buf_free(struct gw_buf *b);
void gw_buf_free_secret(struct gw_buf *b);
void gw_buf_reset(struct gw_buf *b);
/* Drops the first n bytes (all of them when n >= len): what an output
 * buffer does once they are written. */
void gw_buf_consume(struct gw_buf *b, size_t n);
/* Drops the first n bytes (n <= len) without moving the rest: the
 * block keeps them in front of data (a room for gw_buf_prepend()). */
void gw_buf_skip(struct gw_buf *b, size_t n);
/* Puts n bytes in front of the contents: into the room in front when
 * there is as much, else the contents move. */
int gw_buf_prepend(struct gw_buf *b, const void *p, size_t n);
/* Makes room for n more bytes; returns a pointer to them. */
int gw_buf_reserve(struct gw_buf *b, size_t n, unsigned char **p);
int gw_buf_add(struct gw_buf *b, const void *p, size_t n);

/* Byte strings in lexicographic order: as memcmp() over the shorter,
 * then the shorter first (LMDB's key order, DER's SET OF order). */
int gw_bytes_cmp(const void *a, size_t an, const void *b, size_t bn);
/* s into dst (size bytes, size > 0), cut to fit: what snprintf(dst,
 * size, "%s", s) writes, without printf's machinery. */
void gw_str_copy(char *dst, size_t size, const char *s);
int gw_buf_adds(struct gw_buf *b, const char *s);
int gw_buf_addf(struct gw_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * An output buffer that never holds a whole output (exports of large
 * stores): once an append would take it past at bytes, what it holds
 * goes to fn first (which returns 0 or a GW_ERR_*) and it starts
 * empty again; max still bounds one append.  gw_buf_flush() hands fn
 * the rest.  For buffers that are only appended to.
 */
void gw_buf_set_sink(struct gw_buf *b, size_t at,
		     int (*fn)(void *arg, const unsigned char *p, size_t n),
		     void *arg);
int gw_buf_flush(struct gw_buf *b);

/* Moves the data out (caller frees with free()); b is left empty. */
unsigned char *gw_buf_steal(struct gw_buf *b, size_t *len);

/*
 * An OpenSSL BIO whose writes append to b (borrowed: b must outlive the
 * BIO), so that CMS output lands in our buffer without a memory BIO's
 * copy-and-wipe growth.  A write past b's ceiling fails.  NULL on OOM.
 */
struct bio_st;
struct bio_st *gw_buf_bio(struct gw_buf *b);
/* The same, and each write, once appended, is also shown to tap (a look
 * at the bytes while they are in the cache). */
struct bio_st *gw_buf_bio_tap(struct gw_buf *b,
			      void (*tap)(void *arg, const unsigned char *p,
					  size_t n),
			      void *arg);

/*
 * Process-wide malloc settings for a process that handles one message
 * after another: large buffers stay mapped and are reused instead of
 * being returned to the kernel after every message (which costs a page
 * fault per page on the next one).  Call once at start.
 */
void gw_buf_tune_malloc(void);

/*
 * For every program that holds plaintext, keys or the PIN in memory
 * (smimegw; later smimegwd and smimegw-keyd): no core dump (RLIMIT_CORE
 * 0) and not dumpable (PR_SET_DUMPABLE 0: no core even if the limit is
 * raised again, and /proc/PID/mem and ptrace only for root).  Call
 * first thing in main().  0, or GW_ERR_INTERNAL with a latched detail.
 */
int gw_buf_no_dumps(void);

#endif
