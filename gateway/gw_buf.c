/* gw_buf.c - bounded growable buffers. */
#include "gw_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "gw_err.h"

void
gw_buf_init(struct gw_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
gw_buf_free(struct gw_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
gw_buf_free_secret(struct gw_buf *b)
{
	if (b->data != NULL)
		OPENSSL_cleanse(b->data, b->cap);
	gw_buf_free(b);
}

void
gw_buf_reset(struct gw_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

int
gw_buf_reserve(struct gw_buf *b, size_t n, unsigned char **p)
{
	size_t need, ncap;
	unsigned char *nd;

	if (n > b->max || b->len > b->max - n)
		return gw_err_set(GW_ERR_LIMIT,
				  "more than %zu bytes (a configured ceiling)",
				  b->max);
	need = b->len + n + 1;
	if (need > b->cap) {
		ncap = b->cap ? b->cap : 256;
		while (ncap < need)
			ncap = ncap > (size_t)-1 / 2 ? need : ncap * 2;
		if ((nd = realloc(b->data, ncap)) == NULL)
			return GW_ERR_NOMEM;
		b->data = nd;
		b->cap = ncap;
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

	*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}
