/*
 * textfmt.c - strict line-oriented text with PEM certificate blocks,
 * shared by the public key export and the policy files.
 */
#include "textfmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cert_lean.h"
#include "gw_err.h"

void
textfmt_lines_init(struct textfmt_lines *it, const char *buf, size_t len,
		   const char *src, unsigned first, unsigned flags)
{
	it->p = buf;
	it->end = buf + len;
	it->src = src;
	it->no = first ? first - 1 : 0;
	it->flags = flags;
}

int
textfmt_next_line(struct textfmt_lines *it, const char **line, size_t *len)
{
	const char *nl;
	size_t n;

	if (it->p >= it->end)
		return 0;
	it->no++;
	nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
	n = nl ? (size_t)(nl - it->p) : (size_t)(it->end - it->p);
	if (memchr(it->p, '\0', n) != NULL)
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: a NUL byte: not a text file%s",
				  it->src, it->no,
				  (it->flags & TEXTFMT_HINT_DER)
				      ? " (a DER certificate? convert it "
					"with 'openssl x509 -inform DER')"
				      : "");
	if (n > TEXTFMT_LINE_MAX)
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: line longer than %d bytes", it->src,
				  it->no, TEXTFMT_LINE_MAX);
	*line = it->p;
	it->p += n + (nl ? 1 : 0);
	while (n > 0 && ((*line)[n - 1] == '\r' || (*line)[n - 1] == ' ' ||
			 (*line)[n - 1] == '\t'))
		n--;
	*len = n;
	return 1;
}

int
textfmt_line_is(const char *line, size_t len, const char *s)
{
	return len == strlen(s) && memcmp(line, s, len) == 0;
}

int
textfmt_is_comment(const char *line, size_t len)
{
	return len == 0 || line[0] == '#';
}

int
textfmt_b64_line(const char *line, size_t len)
{
	size_t i;
	char c;

	if (len == 0 || len > TEXTFMT_B64_LINE_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		c = line[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/' ||
		      c == '='))
			return 0;
	}
	return 1;
}

void
textfmt_escape(char *dst, size_t size, const void *src, size_t len,
	       unsigned flags)
{
	const unsigned char *s = src;
	size_t i, o = 0, need;
	int keep;

	if (size == 0)
		return;
	for (i = 0; i < len; i++) {
		keep = s[i] >= 0x20 && s[i] != 0x7f && s[i] != '\\' &&
		       (s[i] < 0x80 || (flags & TEXTFMT_UTF8));
		need = keep ? 1 : 4;
		if (o + need + 4 > size) {
			if (o + 4 <= size) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (need == 1)
			dst[o++] = (char)s[i];
		else
			o += (size_t)snprintf(dst + o, size - o, "\\x%02x",
					      s[i]);
	}
	dst[o] = '\0';
}

int
textfmt_check_header(struct textfmt_lines *it, const char *header,
		     const char *what, size_t shown)
{
	const char *line;
	size_t n, stem = strcspn(header, " ") + 1;
	char buf[TEXTFMT_LINE_MAX];
	int r;

	if ((r = textfmt_next_line(it, &line, &n)) < 0)
		return r;
	if (r == 0)
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: empty file; expected the header '%s'",
				  it->src, it->no + 1, header);
	if (textfmt_line_is(line, n, header))
		return 0;
	textfmt_escape(buf, shown < sizeof(buf) ? shown : sizeof(buf), line,
		       n, it->flags);
	if (n > stem && memcmp(line, header, stem) == 0)
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: unsupported format version '%s' "
				  "(this smimegw reads '%s')",
				  it->src, it->no, buf, header);
	return gw_err_set(GW_ERR_PARSE,
			  "%s:%u: not %s (expected the header '%s', found "
			  "'%s')",
			  it->src, it->no, what, header, buf);
}

int
textfmt_attr_split(const char *line, size_t len, char *key, size_t ksize,
		   const char **val, size_t *vlen)
{
	size_t i;

	for (i = 0; i < len && ((line[i] >= 'a' && line[i] <= 'z') ||
				line[i] == '-');
	     i++)
		;
	if (i == 0 || i >= len || line[i] != ':' || i >= ksize)
		return 0;
	memcpy(key, line, i);
	key[i] = '\0';
	for (i++; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	*val = line + i;
	*vlen = len - i;
	return 1;
}

int
textfmt_yesno(const char *src, unsigned no, const char *key, const char *v,
	      size_t n, int *out)
{
	if (textfmt_line_is(v, n, "yes"))
		*out = 1;
	else if (textfmt_line_is(v, n, "no"))
		*out = 0;
	else
		return gw_err_set(GW_ERR_PARSE, "%s:%u: %s: expected yes or no",
				  src, no, key);
	return 0;
}

const char *
textfmt_time(uint64_t secs, char buf[TEXTFMT_TIME_LEN])
{
	struct tm tm;
	time_t t = (time_t)secs;

	if (secs == 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, TEXTFMT_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, TEXTFMT_TIME_LEN, "never");
	return buf;
}

int
textfmt_time_parse(const char *src, unsigned no, const char *key,
		   const char *v, size_t n, uint64_t *out)
{
	char val[TEXTFMT_TIME_LEN];
	const char *end;
	struct tm tm;
	time_t t;

	if (textfmt_line_is(v, n, "never")) {
		*out = 0;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = NULL;
	if (n == 20) {
		memcpy(val, v, n);
		val[n] = '\0';
		end = strptime(val, "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	if (end == NULL || *end != '\0' || (t = timegm(&tm)) <= 0)
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: %s: expected a UTC time "
				  "YYYY-MM-DDTHH:MM:SSZ or never",
				  src, no, key);
	*out = (uint64_t)t;
	return 0;
}

int
textfmt_cert_decode(const char *b64, size_t len, const char *src,
		    unsigned begin, unsigned flags, X509 **out)
{
	EVP_ENCODE_CTX *ctx = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	int n = 0, m = 0, rc;
	X509 *x = NULL;

	if (len == 0)
		return gw_err_set(GW_ERR_PARSE, "%s:%u: empty certificate",
				  src, begin);
	if (len > TEXTFMT_CERT_B64_MAX)
		return gw_err_set(GW_ERR_LIMIT,
				  "%s:%u: certificate larger than %zu bytes "
				  "of base64",
				  src, begin, TEXTFMT_CERT_B64_MAX);
	if ((ctx = EVP_ENCODE_CTX_new()) == NULL ||
	    (der = malloc(len)) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, der, &n, (const unsigned char *)b64,
			     (int)len) < 0 ||
	    EVP_DecodeFinal(ctx, der + n, &m) < 0) {
		rc = gw_err_set(GW_ERR_PARSE, "%s:%u: bad base64", src,
				begin);
		goto out;
	}
	n += m;
	p = der;
	if (flags & TEXTFMT_CERT_LEAN)
		(void)cert_lean_d2i(der, (size_t)n, &p, &x);
	else
		x = d2i_X509(NULL, &p, n);
	if (x != NULL && p == der + n) {
		*out = x;
		x = NULL;
		rc = 0;
		goto out;
	}
	ERR_clear_error();
	if (!(flags & TEXTFMT_CERT_WHY))
		rc = gw_err_set(GW_ERR_PARSE,
				"%s:%u: the block is not exactly one X.509 "
				"certificate",
				src, begin);
	else if (x == NULL)
		rc = gw_err_set(GW_ERR_PARSE,
				"%s:%u: the block does not hold an X.509 "
				"certificate",
				src, begin);
	else
		rc = gw_err_set(GW_ERR_PARSE,
				"%s:%u: %ld bytes of trailing data after the "
				"certificate",
				src, begin, (long)(der + n - p));
out:
	X509_free(x);
	free(der);
	EVP_ENCODE_CTX_free(ctx);
	return rc;
}

int
textfmt_read_cert(struct textfmt_lines *it, const char *who, X509 **out)
{
	struct gw_buf b64;
	unsigned begin;
	int rc;

	*out = NULL;
	gw_buf_init(&b64, TEXTFMT_CERT_B64_MAX);
	if ((rc = textfmt_cert_b64(it, who, &b64, &begin)) == 0)
		rc = textfmt_cert_decode((const char *)b64.data, b64.len,
					 it->src, begin, it->flags, out);
	gw_buf_free(&b64);
	return rc;
}

int
textfmt_cert_b64(struct textfmt_lines *it, const char *who,
		 struct gw_buf *b64, unsigned *beginp)
{
	const char *line;
	size_t n, at = b64->len;
	unsigned begin = it->no;
	int r, rc;

	*beginp = begin;
	for (;;) {
		if ((r = textfmt_next_line(it, &line, &n)) < 0) {
			rc = r;
			goto out;
		}
		if (r == 0) {
			rc = gw_err_set(GW_ERR_PARSE,
					"%s:%u: the certificate%s%s begun "
					"here has no END line",
					it->src, begin, who ? " of " : "",
					who ? who : "");
			goto out;
		}
		if (textfmt_line_is(line, n, "-----END CERTIFICATE-----"))
			break;
		if (!textfmt_b64_line(line, n)) {
			rc = gw_err_set(GW_ERR_PARSE,
					"%s:%u: not a base64 line inside a "
					"certificate",
					it->src, it->no);
			goto out;
		}
		if (b64->len - at + n > TEXTFMT_CERT_B64_MAX ||
		    (rc = gw_buf_add(b64, line, n)) != 0) {
			gw_err_clear();
			rc = gw_err_set(GW_ERR_LIMIT,
					"%s:%u: certificate larger than %zu "
					"bytes of base64",
					it->src, begin, TEXTFMT_CERT_B64_MAX);
			goto out;
		}
	}
	return 0;
out:
	b64->len = at;
	return rc;
}

struct named {
	const char *key;
	unsigned line;
};

static int
named_cmp(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

int
textfmt_repeat(const void *base, size_t n, size_t size, size_t key_off,
	       size_t line_off, const char **name, unsigned *line,
	       unsigned *first)
{
	const unsigned char *e;
	struct named *idx;
	size_t i;
	int found = 0;

	if (n < 2)
		return 0;
	if ((idx = malloc(n * sizeof(*idx))) == NULL)
		return GW_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		e = (const unsigned char *)base + i * size;
		idx[i].key = (const char *)(e + key_off);
		memcpy(&idx[i].line, e + line_off, sizeof(idx[i].line));
	}
	qsort(idx, n, sizeof(*idx), named_cmp);
	for (i = 1; i < n && !found; i++)
		if (strcmp(idx[i - 1].key, idx[i].key) == 0) {
			*name = idx[i].key;
			*line = idx[i].line;
			*first = idx[i - 1].line;
			found = 1;
		}
	free(idx);
	return found;
}

int
textfmt_add_cert_pem(struct gw_buf *out, X509 *cert, const char *fmt, ...)
{
	va_list ap;
	BIO *b;
	char *pem, what[256];
	long plen;
	int rc;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return GW_ERR_NOMEM;
	if (!PEM_write_bio_X509(b, cert)) {
		BIO_free(b);
		va_start(ap, fmt);
		vsnprintf(what, sizeof(what), fmt, ap);
		va_end(ap);
		return gw_err_set_ssl(GW_ERR_CRYPTO, "%s", what);
	}
	plen = BIO_get_mem_data(b, &pem);
	rc = gw_buf_add(out, pem, (size_t)plen);
	BIO_free(b);
	return rc;
}

int
textfmt_ci_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i;
	int ca, cb;

	if (alen != blen)
		return 0;
	for (i = 0; i < alen; i++) {
		ca = (unsigned char)a[i];
		cb = (unsigned char)b[i];
		if (ca >= 'A' && ca <= 'Z')
			ca += 'a' - 'A';
		if (cb >= 'A' && cb <= 'Z')
			cb += 'a' - 'A';
		if (ca != cb)
			return 0;
	}
	return 1;
}
