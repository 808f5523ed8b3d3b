/*
 * smtp_proto.c - shared SMTP facts (smtp_proto.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gw_err.h"
#include "smtp_proto.h"

static const struct {
	unsigned bit;
	const char *name;
} exts[] = {
    {SMTP_EXT_PIPELINING, "PIPELINING"},
    {SMTP_EXT_8BITMIME, "8BITMIME"},
    {SMTP_EXT_SMTPUTF8, "SMTPUTF8"},
    {SMTP_EXT_SIZE, "SIZE"},
    {SMTP_EXT_ENHANCEDSTATUSCODES, "ENHANCEDSTATUSCODES"},
    {SMTP_EXT_CHUNKING, "CHUNKING"},
    {SMTP_EXT_XFORWARD, "XFORWARD"},
};

static const char *const xf_names[SMTP_XF_COUNT] = {
    "NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE",
};

const char *
smtp_proto_ext_name(unsigned ext)
{
	size_t i;

	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		if (exts[i].bit == ext)
			return exts[i].name;
	return NULL;
}

unsigned
smtp_proto_ext_lookup(const char *word, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		if (strlen(exts[i].name) == n &&
		    strncasecmp(exts[i].name, word, n) == 0)
			return exts[i].bit;
	return 0;
}

static int
num_part(const char *s, size_t n, size_t maxdigits)
{
	size_t i;

	if (n == 0 || n > maxdigits || (n > 1 && s[0] == '0'))
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

int
smtp_proto_enhanced_valid(const char *s, size_t n)
{
	const char *d1, *d2;

	if (s == NULL || n < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return 0;
	if ((d1 = memchr(s + 2, '.', n - 2)) == NULL)
		return 0;
	d2 = d1 + 1;
	return num_part(s + 2, (size_t)(d1 - (s + 2)), 3) &&
	       num_part(d2, n - (size_t)(d2 - s), 3);
}

void
smtp_proto_reply_set(struct smtp_reply *r, int code, const char *enhanced,
		     const char *fmt, ...)
{
	va_list ap;
	size_t i;

	r->code = code;
	r->enhanced[0] = '\0';
	if (enhanced != NULL && strlen(enhanced) < sizeof(r->enhanced) &&
	    smtp_proto_enhanced_valid(enhanced, strlen(enhanced)))
		memcpy(r->enhanced, enhanced, strlen(enhanced) + 1);
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	for (i = 0; r->text[i] != '\0'; i++)
		if (r->text[i] == '\r' || r->text[i] == '\n')
			r->text[i] = ' ';
}

int
smtp_proto_reply_line(const char *line, size_t len, struct smtp_reply_line *rl)
{
	size_t i;

	if (line == NULL || rl == NULL || len < 3)
		return GW_ERR_PARSE;
	if (line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' ||
	    line[2] < '0' || line[2] > '9')
		return GW_ERR_PARSE;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return GW_ERR_PARSE;
	for (i = 0; i < len; i++)
		if (line[i] == '\0' || line[i] == '\r' || line[i] == '\n')
			return GW_ERR_PARSE;
	rl->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		   (line[2] - '0');
	rl->more = len > 3 && line[3] == '-';
	rl->text = len > 3 ? 4 : 3;
	return 0;
}

const char *
smtp_proto_xf_name(int attr)
{
	return attr >= 0 && attr < SMTP_XF_COUNT ? xf_names[attr] : NULL;
}

int
smtp_proto_xf_lookup(const char *name, size_t n)
{
	int i;

	for (i = 0; i < SMTP_XF_COUNT; i++)
		if (strlen(xf_names[i]) == n &&
		    strncasecmp(xf_names[i], name, n) == 0)
			return i;
	return -1;
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1; /* xtext hex is upper case (RFC 3461) */
}

int
smtp_proto_xtext_decode(const char *s, size_t n, char *out, size_t outsize)
{
	size_t i, o = 0;

	if (outsize == 0)
		return GW_ERR_LIMIT;
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		int hi, lo;

		if (ch == '+') {
			if (i + 2 >= n)
				return GW_ERR_PARSE;
			if ((hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0)
				return GW_ERR_PARSE;
			ch = (unsigned char)(hi * 16 + lo);
			if (ch == '\0' || ch == '\r' || ch == '\n')
				return GW_ERR_PARSE;
			i += 2;
		} else if (ch < 33 || ch > 126 || ch == '=') {
			return GW_ERR_PARSE;
		}
		if (o + 1 >= outsize)
			return GW_ERR_LIMIT;
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	return 0;
}

int
smtp_proto_xtext_encode(struct gw_buf *b, const char *s)
{
	int r;

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 33 || ch > 126 || ch == '+' || ch == '=')
			r = gw_buf_addf(b, "+%02X", ch);
		else
			r = gw_buf_add(b, &ch, 1);
		if (r != 0)
			return r;
	}
	return 0;
}
