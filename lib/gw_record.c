/* gw_record.c - tag/length/value records for the store. */
#include "gw_record.h"

#include <stdlib.h>
#include <string.h>

#include "cert_cache.h"
#include "cert_lean.h"
#include "gw_err.h"

#include <openssl/x509.h>

#define REC_MAX ((size_t)64 << 20)

struct gw_rec_writer {
	unsigned char *buf;
	size_t len, cap;
	int failed;
};

struct gw_rec_writer *
gw_rec_writer_new(void)
{
	return calloc(1, sizeof(struct gw_rec_writer));
}

void
gw_rec_writer_free(struct gw_rec_writer *w)
{
	if (w == NULL)
		return;
	free(w->buf);
	free(w);
}

int
gw_rec_put(struct gw_rec_writer *w, unsigned tag, const void *p, size_t len)
{
	size_t need = w->len + 6 + len, ncap;
	unsigned char *nb, *o;

	if (w->failed)
		return w->failed;
	if (tag > 0xffff)
		return w->failed = gw_err_set(GW_ERR_LIMIT,
					      "record tag %u out of range "
					      "(0..65535)",
					      tag);
	if (len > REC_MAX || need > REC_MAX)
		return w->failed = gw_err_set(GW_ERR_LIMIT,
					      "record larger than %zu bytes",
					      REC_MAX);
	if (need > w->cap) {
		ncap = w->cap ? w->cap : 256;
		while (ncap < need)
			ncap *= 2;
		if ((nb = realloc(w->buf, ncap)) == NULL)
			return w->failed = GW_ERR_NOMEM;
		w->buf = nb;
		w->cap = ncap;
	}
	o = w->buf + w->len;
	o[0] = (unsigned char)(tag >> 8);
	o[1] = (unsigned char)tag;
	o[2] = (unsigned char)(len >> 24);
	o[3] = (unsigned char)(len >> 16);
	o[4] = (unsigned char)(len >> 8);
	o[5] = (unsigned char)len;
	if (len > 0)
		memcpy(o + 6, p, len);
	w->len = need;
	return 0;
}

int
gw_rec_put_str(struct gw_rec_writer *w, unsigned tag, const char *s)
{
	return gw_rec_put(w, tag, s, strlen(s));
}

void
gw_rec_be64_put(unsigned char b[8], uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)v;
}

uint64_t
gw_rec_be64(const unsigned char b[8])
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

int
gw_rec_put_u64(struct gw_rec_writer *w, unsigned tag, uint64_t v)
{
	unsigned char b[8];

	gw_rec_be64_put(b, v);
	return gw_rec_put(w, tag, b, sizeof(b));
}

const unsigned char *
gw_rec_data(const struct gw_rec_writer *w, size_t *len)
{
	*len = w->len;
	return w->buf;
}

int
gw_rec_next(const unsigned char *buf, size_t len, size_t *off,
	    struct gw_rec_field *f)
{
	size_t o = *off, flen;

	if (o == len)
		return 0;
	if (len - o < 6)
		goto bad;
	f->tag = (unsigned)buf[o] << 8 | buf[o + 1];
	flen = (size_t)buf[o + 2] << 24 | (size_t)buf[o + 3] << 16 |
	       (size_t)buf[o + 4] << 8 | buf[o + 5];
	if (flen > len - o - 6)
		goto bad;
	f->p = buf + o + 6;
	f->len = flen;
	*off = o + 6 + flen;
	return 1;
bad:
	return gw_err_set(GW_ERR_STORE, "corrupt record in the store");
}

char *
gw_rec_strdup(const struct gw_rec_field *f)
{
	char *s;

	if ((s = malloc(f->len + 1)) == NULL)
		return NULL;
	memcpy(s, f->p, f->len);
	s[f->len] = '\0';
	return s;
}

uint64_t
gw_rec_u64(const struct gw_rec_field *f)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < f->len && i < 8; i++)
		v = v << 8 | f->p[i];
	return v;
}

int
gw_rec_put_x509(struct gw_rec_writer *w, unsigned tag, X509 *x)
{
	unsigned char *der = NULL;
	int len, rc;

	if ((len = i2d_X509(x, &der)) <= 0)
		return gw_err_set_ssl(GW_ERR_CRYPTO,
				      "cannot encode a certificate");
	rc = gw_rec_put(w, tag, der, (size_t)len);
	OPENSSL_free(der);
	return rc;
}

int
gw_rec_get_x509(const struct gw_rec_field *f, X509 **x, const char *what)
{
	struct cert_cache *cache = cert_cache_shared();
	const unsigned char *p = f->p;
	X509 *n = NULL;
	int rc;

	/* Through the process's cache: the store is read for every
	 * message, and decoding costs more than the rest of the read. */
	if (cache != NULL) {
		rc = cert_cache_get(cache, f->p, f->len, &n);
		if (rc != 0 && rc != GW_ERR_PARSE)
			return gw_err_set(rc, "cannot decode the certificate "
					      "in %s",
					  what);
	} else if ((n = d2i_X509(NULL, &p, (long)f->len)) != NULL &&
		   p != f->p + f->len) {
		X509_free(n);
		n = NULL;
	}
	if (n == NULL)
		return gw_err_set_ssl(GW_ERR_STORE, "corrupt certificate in %s",
				      what);
	X509_free(*x);
	*x = n;
	return 0;
}

int
gw_rec_get_x509_lean(const struct gw_rec_field *f, X509 **x,
		     const char *what)
{
	const unsigned char *end = NULL;
	X509 *n = NULL;

	if (cert_lean_d2i(f->p, f->len, &end, &n) != 0 ||
	    end != f->p + f->len) {
		X509_free(n);
		return gw_err_set(GW_ERR_STORE, "corrupt certificate in %s",
				  what);
	}
	X509_free(*x);
	*x = n;
	return 0;
}
