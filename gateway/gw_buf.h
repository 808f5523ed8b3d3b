/*
 * gw_buf.h - a growable byte buffer with a ceiling set at creation.
 *
 * Appending past the ceiling fails with GW_ERR_LIMIT (a detail names the
 * ceiling) instead of growing: every buffer filled from untrusted input
 * has a bound.  The contents stay NUL-terminated for convenience (the
 * NUL is not counted in len).  gw_buf_free() wipes nothing; use
 * gw_buf_free_secret() for plaintext scratch.
 */
#ifndef GW_BUF_H
#define GW_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct gw_buf {
	unsigned char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void gw_buf_init(struct gw_buf *b, size_t max);
void gw_buf_free(struct gw_buf *b);
void gw_buf_free_secret(struct gw_buf *b);
void gw_buf_reset(struct gw_buf *b);
/* Makes room for n more bytes; returns a pointer to them. */
int gw_buf_reserve(struct gw_buf *b, size_t n, unsigned char **p);
int gw_buf_add(struct gw_buf *b, const void *p, size_t n);
int gw_buf_adds(struct gw_buf *b, const char *s);
int gw_buf_addf(struct gw_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Moves the data out (caller frees with free()); b is left empty. */
unsigned char *gw_buf_steal(struct gw_buf *b, size_t *len);

#endif
