/*
 * smtp_path.c - RFC 5321 / RFC 6531 path syntax (smtp_path.h).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gw_err.h"
#include "smtp_path.h"

/* A cursor over the input. */
struct cur {
	const unsigned char *s;
	size_t len;
	size_t pos;
	unsigned flags;
	int err; /* first failure, 0 if none */
};

static int
fail(struct cur *c, int err)
{
	if (c->err == 0)
		c->err = err;
	return c->err;
}

static int
peek(const struct cur *c)
{
	return c->pos < c->len ? c->s[c->pos] : -1;
}

static int
is_alpha(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int
is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* RFC 5322 atext. */
static int
is_atext(int ch)
{
	if (is_alpha(ch) || is_digit(ch))
		return 1;
	return ch > 0 && ch < 0x80 &&
	       strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL;
}

/*
 * Length of the well-formed UTF-8 sequence of 2-4 bytes at the cursor,
 * or 0 when there is none.  Sets the cursor's error for a byte >= 0x80
 * without the UTF-8 flag.
 */
static size_t
utf8_seq(struct cur *c)
{
	const unsigned char *p = c->s + c->pos;
	size_t left = c->len - c->pos, n, i;
	unsigned cp;

	if (left == 0 || p[0] < 0x80)
		return 0;
	if ((c->flags & SMTP_PATH_UTF8) == 0) {
		fail(c, GW_ERR_UNSUPPORTED);
		return 0;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (left < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Dot-string: 1*atext *("." 1*atext). */
static int
dot_string(struct cur *c)
{
	size_t n;

	for (;;) {
		size_t start = c->pos;

		for (;;) {
			if (c->pos < c->len && is_atext(c->s[c->pos]))
				c->pos++;
			else if ((n = utf8_seq(c)) > 0)
				c->pos += n;
			else
				break;
		}
		if (c->err != 0)
			return c->err;
		if (c->pos == start)
			return fail(c, GW_ERR_PARSE);
		if (peek(c) != '.')
			return 0;
		c->pos++;
	}
}

static int
quoted_string(struct cur *c)
{
	size_t n;
	int ch;

	c->pos++; /* DQUOTE */
	for (;;) {
		ch = peek(c);
		if (ch == '"') {
			c->pos++;
			return 0;
		}
		if (ch == '\\') {
			c->pos++;
			ch = peek(c);
			if (ch < 32 || ch > 126)
				return fail(c, ch >= 0x80 && (c->flags &
					SMTP_PATH_UTF8) == 0 ?
					GW_ERR_UNSUPPORTED : GW_ERR_PARSE);
			c->pos++;
		} else if (ch >= 32 && ch <= 126) {
			c->pos++;
		} else if ((n = utf8_seq(c)) > 0) {
			c->pos += n;
		} else {
			return fail(c, GW_ERR_PARSE);
		}
	}
}

/* sub-domain *("." sub-domain); letters, digits, '-' (not at either
 * end), and U-labels under UTF-8. */
static int
domain(struct cur *c)
{
	size_t start = c->pos, n;

	for (;;) {
		size_t lab = c->pos;
		int last = -1;

		for (;;) {
			int ch = peek(c);

			if (ch >= 0 && (is_alpha(ch) || is_digit(ch) ||
					ch == '-')) {
				if (ch == '-' && c->pos == lab)
					return fail(c, GW_ERR_PARSE);
				last = ch;
				c->pos++;
			} else if ((n = utf8_seq(c)) > 0) {
				last = 0x80;
				c->pos += n;
			} else {
				break;
			}
		}
		if (c->err != 0)
			return c->err;
		if (c->pos == lab || last == '-')
			return fail(c, GW_ERR_PARSE);
		if (c->pos - lab > 63)
			return fail(c, GW_ERR_LIMIT);
		if (peek(c) != '.')
			break;
		c->pos++;
	}
	if (c->pos - start > SMTP_DOMAIN_MAX)
		return fail(c, GW_ERR_LIMIT);
	return 0;
}

static int
ipv4(const unsigned char *p, size_t n)
{
	size_t i = 0;
	int part;

	for (part = 0; part < 4; part++) {
		unsigned v = 0;
		size_t d = 0;

		if (part > 0) {
			if (i >= n || p[i] != '.')
				return -1;
			i++;
		}
		while (i < n && is_digit(p[i]) && d < 3) {
			v = v * 10 + (unsigned)(p[i] - '0');
			i++;
			d++;
		}
		if (d == 0 || v > 255)
			return -1;
	}
	return i == n ? 0 : -1;
}

static int
address_literal(struct cur *c)
{
	const unsigned char *p;
	size_t start, n;
	char tmp[64];
	unsigned char bin[16];

	c->pos++; /* '[' */
	start = c->pos;
	while (c->pos < c->len && c->s[c->pos] != ']') {
		int ch = c->s[c->pos];

		if (ch < 33 || ch > 126 || ch == '[' || ch == '\\')
			return fail(c, GW_ERR_PARSE);
		c->pos++;
	}
	if (c->pos >= c->len)
		return fail(c, GW_ERR_PARSE);
	p = c->s + start;
	n = c->pos - start;
	c->pos++; /* ']' */
	if (n > 5 && strncasecmp((const char *)p, "IPv6:", 5) == 0) {
		if (n - 5 >= sizeof(tmp))
			return fail(c, GW_ERR_PARSE);
		memcpy(tmp, p + 5, n - 5);
		tmp[n - 5] = '\0';
		if (strchr(tmp, '%') != NULL ||
		    inet_pton(AF_INET6, tmp, bin) != 1)
			return fail(c, GW_ERR_PARSE);
		return 0;
	}
	if (ipv4(p, n) != 0)
		return fail(c, GW_ERR_PARSE);
	return 0;
}

static int
mailbox(struct cur *c, size_t *at)
{
	size_t start = c->pos;

	if (peek(c) == '"') {
		if (quoted_string(c) != 0)
			return c->err;
	} else if (dot_string(c) != 0) {
		return c->err;
	}
	if (c->pos - start > SMTP_LOCAL_MAX)
		return fail(c, GW_ERR_LIMIT);
	if (peek(c) != '@')
		return fail(c, GW_ERR_PARSE);
	*at = c->pos;
	c->pos++;
	if (peek(c) == '[')
		return address_literal(c);
	return domain(c);
}

/* A-d-l ":" — "@dom,@dom:"; parsed and dropped. */
static int
source_route(struct cur *c)
{
	for (;;) {
		c->pos++; /* '@' */
		if (domain(c) != 0)
			return c->err;
		if (peek(c) == ':') {
			c->pos++;
			return 0;
		}
		if (peek(c) != ',')
			return fail(c, GW_ERR_PARSE);
		c->pos++;
		if (peek(c) != '@')
			return fail(c, GW_ERR_PARSE);
	}
}

int
smtp_path_parse(const char *s, size_t len, unsigned flags, char *out,
		size_t outsize, size_t *end)
{
	struct cur c = {(const unsigned char *)s, len, 0, flags, 0};
	size_t mb, at = 0;

	if (out == NULL || outsize < SMTP_MAILBOX_SIZE || end == NULL ||
	    (s == NULL && len > 0))
		return GW_ERR_INVALID;
	out[0] = '\0';
	if (peek(&c) != '<')
		return GW_ERR_PARSE;
	c.pos++;
	if (peek(&c) == '>') {
		if ((flags & SMTP_PATH_NULL_OK) == 0)
			return GW_ERR_PARSE;
		*end = c.pos + 1;
		return 0;
	}
	if ((flags & SMTP_PATH_POSTMASTER) && c.len - c.pos >= 11 &&
	    strncasecmp(s + c.pos, "postmaster>", 11) == 0) {
		memcpy(out, s + c.pos, 10);
		out[10] = '\0';
		*end = c.pos + 11;
		return 0;
	}
	if (peek(&c) == '@' && source_route(&c) != 0)
		return c.err;
	mb = c.pos;
	if (mailbox(&c, &at) != 0)
		return c.err;
	if (peek(&c) != '>')
		return GW_ERR_PARSE;
	c.pos++;
	if (c.pos > SMTP_PATH_MAX)
		return GW_ERR_LIMIT;
	/* The mailbox fits: local <= 64, '@', domain <= 255. */
	if (c.pos - 1 - mb >= outsize)
		return GW_ERR_LIMIT;
	memcpy(out, s + mb, c.pos - 1 - mb);
	out[c.pos - 1 - mb] = '\0';
	*end = c.pos;
	return 0;
}

int
smtp_path_check(const char *mailbox_s, unsigned flags)
{
	char buf[SMTP_PATH_MAX + 3];
	char out[SMTP_MAILBOX_SIZE];
	size_t n, end = 0;
	int r;

	if (mailbox_s == NULL)
		return GW_ERR_INVALID;
	n = strlen(mailbox_s);
	if (n + 2 >= sizeof(buf))
		return GW_ERR_LIMIT;
	buf[0] = '<';
	memcpy(buf + 1, mailbox_s, n);
	buf[n + 1] = '>';
	buf[n + 2] = '\0';
	if ((r = smtp_path_parse(buf, n + 2, flags, out, sizeof(out), &end)) !=
	    0)
		return r;
	return end == n + 2 ? 0 : GW_ERR_PARSE;
}
