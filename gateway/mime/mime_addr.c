/* mime_addr.c - an RFC 5322 address-list parser (mime_addr.h). */
#include "mime_addr.h"

#include <string.h>

#include "gw_err.h"
#include "mime_header.h"
#include "mime_parser.h"

/* Where the walk is, and what it has yielded. */
struct walk {
	const unsigned char *v;
	size_t n, i;
	const char *field;
	mime_addr_fn fn;
	void *arg;
	unsigned count; /* mailboxes so far, across calls that share it */
};

/* A local part or a display name as it is read: its words' text
 * joined by the dots between them. */
struct words {
	char text[MIME_ADDR_LEN + 1];
	size_t len;
	int over;	/* text did not fit: too long for a local part */
	unsigned nwords;
	int adjacent;	/* two words without a dot between: a phrase */
	int quote;	/* a byte that is neither atext nor '.' */
	int ctl;	/* a control character inside a quoted word */
	int last_word;	/* the last item was a word, not a dot */
};

static int
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80)
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static int
bad(const struct walk *w, int rc, const char *what)
{
	return gw_err_set(rc, "%s field: %s (byte %zu)", w->field, what,
			  w->i + 1);
}

static int
too_long(const struct walk *w)
{
	return gw_err_set(GW_ERR_LIMIT,
			  "%s field: an address longer than %d bytes (byte "
			  "%zu)",
			  w->field, MIME_ADDR_LEN, w->i + 1);
}

/* What is wrong with the byte at w->i, where it cannot stand. */
static int
unexpected(const struct walk *w, const char *instead)
{
	unsigned char c;

	if (w->i >= w->n)
		return bad(w, GW_ERR_PARSE, instead);
	c = w->v[w->i];
	if (c == '\0')
		return bad(w, GW_ERR_PARSE, "a NUL byte");
	if (c == '\r' || c == '\n')
		return bad(w, GW_ERR_PARSE,
			   "a line break that is not folding white space");
	if (is_ctl(c))
		return bad(w, GW_ERR_PARSE, "a control character");
	return gw_err_set(GW_ERR_PARSE, "%s field: '%c' where %s (byte %zu)",
			  w->field, c, instead, w->i + 1);
}

/* Length of a line fold at i (CRLF or LF before a blank), else 0. */
static size_t
fold_len(const struct walk *w, size_t i)
{
	if (i + 2 < w->n && w->v[i] == '\r' && w->v[i + 1] == '\n' &&
	    (w->v[i + 2] == ' ' || w->v[i + 2] == '\t'))
		return 2;
	if (i + 1 < w->n && w->v[i] == '\n' &&
	    (w->v[i + 1] == ' ' || w->v[i + 1] == '\t'))
		return 1;
	return 0;
}

/* Skips a comment at w->i (nested, with quoted pairs). */
static int
skip_comment(struct walk *w)
{
	size_t depth = 0, f;
	unsigned char c;

	while (w->i < w->n) {
		c = w->v[w->i];
		if ((f = fold_len(w, w->i)) > 0) {
			w->i += f;
			continue;
		}
		if (c == '\0' || c == '\r' || c == '\n')
			return unexpected(w, "");
		if (c == '\\') {
			if (w->i + 1 >= w->n)
				break;
			w->i++;
			if (w->v[w->i] == '\0' || w->v[w->i] == '\r' ||
			    w->v[w->i] == '\n')
				return unexpected(w, "");
		} else if (c == '(')
			depth++;
		else if (c == ')' && --depth == 0) {
			w->i++;
			return 0;
		}
		w->i++;
	}
	return bad(w, GW_ERR_PARSE, "a comment is not closed with ')'");
}

/* Skips comments and folding white space. */
static int
skip_cfws(struct walk *w)
{
	size_t f;
	int rc;

	while (w->i < w->n) {
		if (w->v[w->i] == ' ' || w->v[w->i] == '\t')
			w->i++;
		else if ((f = fold_len(w, w->i)) > 0)
			w->i += f;
		else if (w->v[w->i] == '(') {
			if ((rc = skip_comment(w)) != 0)
				return rc;
		} else
			break;
	}
	return 0;
}

static int
at(const struct walk *w, unsigned char c)
{
	return w->i < w->n && w->v[w->i] == c;
}

static void
words_add(struct words *ws, unsigned char c, int quoted)
{
	if (quoted && !is_atext(c) && c != '.')
		ws->quote = 1;
	if (quoted && is_ctl(c))
		ws->ctl = 1;
	if (ws->len >= sizeof(ws->text) - 1) {
		ws->over = 1;
		return;
	}
	ws->text[ws->len++] = (char)c;
	ws->text[ws->len] = '\0';
}

/* A quoted-string at w->i; its content goes to ws. */
static int
quoted_word(struct walk *w, struct words *ws)
{
	size_t f;
	unsigned char c;

	for (w->i++; w->i < w->n; w->i++) {
		c = w->v[w->i];
		if ((f = fold_len(w, w->i)) > 0) {
			/* FWS inside: the CRLF goes, the blank stays. */
			w->i += f;
			words_add(ws, w->v[w->i], 1);
			continue;
		}
		if (c == '"') {
			w->i++;
			return 0;
		}
		if (c == '\0' || c == '\r' || c == '\n')
			return unexpected(w, "");
		if (c == '\\') {
			if (w->i + 1 >= w->n)
				break;
			w->i++;
			c = w->v[w->i];
			if (c == '\0' || c == '\r' || c == '\n')
				return unexpected(w, "");
		}
		words_add(ws, c, 1);
	}
	return bad(w, GW_ERR_PARSE, "a quoted string is not closed with '\"'");
}

/*
 * Words and dots, with comments and white space between them, up to
 * the first byte that is none of those: a display name or a local
 * part.  w->i is then at that byte (CFWS skipped).
 */
static int
scan_words(struct walk *w, struct words *ws)
{
	int rc;

	memset(ws, 0, sizeof(*ws));
	for (;;) {
		if ((rc = skip_cfws(w)) != 0)
			return rc;
		if (w->i >= w->n)
			return 0;
		if (w->v[w->i] == '.') {
			words_add(ws, '.', 0);
			ws->last_word = 0;
			w->i++;
			continue;
		}
		if (w->v[w->i] != '"' && !is_atext(w->v[w->i]))
			return 0;
		if (ws->last_word)
			ws->adjacent = 1;
		if (w->v[w->i] == '"') {
			if ((rc = quoted_word(w, ws)) != 0)
				return rc;
		} else
			while (w->i < w->n && is_atext(w->v[w->i]))
				words_add(ws, w->v[w->i++], 0);
		ws->nwords++;
		ws->last_word = 1;
	}
}

/* Appends to the address being built; 0, or -1 when it is too long. */
static int
addr_add(char *a, size_t *len, const void *p, size_t n)
{
	if (*len + n > MIME_ADDR_LEN)
		return -1;
	memcpy(a + *len, p, n);
	*len += n;
	a[*len] = '\0';
	return 0;
}

/* The local part, as mime_addr.h says, into a. */
static int
local_part(const struct walk *w, const struct words *ws, char *a,
	   size_t *len)
{
	size_t i;

	if (ws->nwords == 0)
		return bad(w, GW_ERR_PARSE, "an address without a local part");
	if (ws->adjacent)
		return bad(w, GW_ERR_PARSE,
			   "words without a dot or '<' before '@' (a display "
			   "name needs an address in <...>)");
	if (ws->ctl)
		return bad(w, GW_ERR_PARSE,
			   "a control character in the local part");
	if (ws->over)
		goto limit;
	*len = 0;
	a[0] = '\0';
	if (!ws->quote) {
		if (addr_add(a, len, ws->text, ws->len) != 0)
			goto limit;
		return 0;
	}
	if (addr_add(a, len, "\"", 1) != 0)
		goto limit;
	for (i = 0; i < ws->len; i++)
		if (((ws->text[i] == '"' || ws->text[i] == '\\') &&
		     addr_add(a, len, "\\", 1) != 0) ||
		    addr_add(a, len, ws->text + i, 1) != 0)
			goto limit;
	if (addr_add(a, len, "\"", 1) == 0)
		return 0;
limit:
	return too_long(w);
}

/* A domain literal at w->i, "[...]" without its white space. */
static int
domain_literal(struct walk *w, char *a, size_t *len)
{
	unsigned char c;
	size_t f;

	if (addr_add(a, len, "[", 1) != 0)
		goto limit;
	for (w->i++; w->i < w->n; w->i++) {
		c = w->v[w->i];
		if ((f = fold_len(w, w->i)) > 0) {
			w->i += f;
			continue;
		}
		if (c == ' ' || c == '\t')
			continue;
		if (c == ']') {
			w->i++;
			if (addr_add(a, len, "]", 1) != 0)
				goto limit;
			return 0;
		}
		/* dtext: printable US-ASCII but '[', ']' and '\'. */
		if (c < 33 || c > 126 || c == '[' || c == '\\')
			return unexpected(w, "a domain literal has dtext");
		if (addr_add(a, len, &c, 1) != 0)
			goto limit;
	}
	return bad(w, GW_ERR_PARSE, "a domain literal is not closed with ']'");
limit:
	return too_long(w);
}

/*
 * The domain after '@' (w->i just past it), appended to a: a domain
 * literal, or atoms joined by dots with CFWS around them, and at most
 * one dot after the last (not RFC 5322, but what a fully qualified name
 * looks like; the address rule compares without it).  a may be
 * NULL (a route's domain: checked, not kept).
 */
static int
domain(struct walk *w, char *a, size_t *len)
{
	char scratch[MIME_ADDR_LEN + 1];
	size_t slen = 0, start;
	int rc;

	if (a == NULL) {
		a = scratch;
		len = &slen;
	}
	if ((rc = skip_cfws(w)) != 0)
		return rc;
	if (at(w, '['))
		return domain_literal(w, a, len);
	for (;;) {
		if (w->i >= w->n || !is_atext(w->v[w->i]))
			return unexpected(w, "a domain was expected");
		for (start = w->i; w->i < w->n && is_atext(w->v[w->i]); w->i++)
			;
		if (addr_add(a, len, w->v + start, w->i - start) != 0)
			return too_long(w);
		if ((rc = skip_cfws(w)) != 0)
			return rc;
		if (!at(w, '.'))
			return 0;
		w->i++;
		if (addr_add(a, len, ".", 1) != 0)
			return too_long(w);
		if ((rc = skip_cfws(w)) != 0)
			return rc;
		/* One dot after the last label: the root of a fully
		 * qualified name, which the address rule drops. */
		if (w->i >= w->n || (!is_atext(w->v[w->i]) && !at(w, '.')))
			return 0;
	}
}

/* local "@" domain, the local part read as ws, w->i at the '@'. */
static int
addr_spec(struct walk *w, const struct words *ws)
{
	char a[MIME_ADDR_LEN + 1];
	size_t len = 0;
	int rc;

	if ((rc = local_part(w, ws, a, &len)) != 0)
		return rc;
	w->i++;
	if (addr_add(a, &len, "@", 1) != 0)
		return too_long(w);
	if ((rc = domain(w, a, &len)) != 0)
		return rc;
	if (++w->count > MIME_ADDR_MAX)
		return gw_err_set(GW_ERR_LIMIT,
				  "%s field: more than %d mailboxes (byte %zu)",
				  w->field, MIME_ADDR_MAX, w->i);
	return w->fn(w->arg, a);
}

/* An obsolete route in an angle address, w->i at its first '@' or ','
 * ("<@a.example,@b.example:user@c.example>"): checked and dropped. */
static int
route(struct walk *w)
{
	int rc;

	for (;;) {
		if ((rc = skip_cfws(w)) != 0)
			return rc;
		if (at(w, ',')) {
			w->i++;
		} else if (at(w, '@')) {
			w->i++;
			if ((rc = domain(w, NULL, NULL)) != 0)
				return rc;
		} else if (at(w, ':')) {
			w->i++;
			return 0;
		} else
			return unexpected(w, "a route ends with ':'");
	}
}

/* "<" [route] addr-spec ">", w->i at the '<'. */
static int
angle_addr(struct walk *w)
{
	struct words ws;
	int rc;

	w->i++;
	if ((rc = skip_cfws(w)) != 0)
		return rc;
	if (at(w, '>'))
		return bad(w, GW_ERR_PARSE, "an empty address <>");
	if ((at(w, '@') || at(w, ',')) && (rc = route(w)) != 0)
		return rc;
	if ((rc = scan_words(w, &ws)) != 0)
		return rc;
	if (!at(w, '@'))
		return unexpected(w, "'@' was expected in <...>");
	if ((rc = addr_spec(w, &ws)) != 0)
		return rc;
	if ((rc = skip_cfws(w)) != 0)
		return rc;
	if (!at(w, '>'))
		return unexpected(w, "'>' was expected");
	w->i++;
	return 0;
}

static int group(struct walk *w);

/*
 * A mailbox, or (when in_group is 0) a group: display name and angle
 * address, or addr-spec, or display name ':' members ';'.
 */
static int
address(struct walk *w, int in_group)
{
	struct words ws;
	int rc;

	if ((rc = scan_words(w, &ws)) != 0)
		return rc;
	if (at(w, '<'))
		return angle_addr(w);
	if (at(w, '@'))
		return addr_spec(w, &ws);
	if (at(w, ':') && ws.nwords > 0) {
		if (in_group)
			return bad(w, GW_ERR_PARSE, "a group inside a group");
		w->i++;
		return group(w);
	}
	if (ws.nwords > 0)
		return unexpected(w, "a mailbox has no '@' and no <...>");
	return unexpected(w, "a mailbox was expected");
}

/* Mailboxes up to ';', w->i just past the ':'.  Empty elements (", ,")
 * and an empty group are allowed. */
static int
group(struct walk *w)
{
	int rc;

	for (;;) {
		if ((rc = skip_cfws(w)) != 0)
			return rc;
		if (w->i >= w->n)
			return bad(w, GW_ERR_PARSE,
				   "a group is not closed with ';'");
		if (at(w, ';')) {
			w->i++;
			return 0;
		}
		if (at(w, ',')) {
			w->i++;
			continue;
		}
		if ((rc = address(w, 1)) != 0)
			return rc;
		if ((rc = skip_cfws(w)) != 0)
			return rc;
		if (w->i < w->n && !at(w, ',') && !at(w, ';'))
			return unexpected(w, "',' or ';' was expected after a "
					     "group member");
	}
}

static int
walk_list(struct walk *w)
{
	unsigned before = w->count;
	int rc;

	for (;;) {
		if ((rc = skip_cfws(w)) != 0)
			return rc;
		if (w->i >= w->n)
			break;
		if (at(w, ',')) {
			w->i++;
			continue;
		}
		if ((rc = address(w, 0)) != 0)
			return rc;
		if ((rc = skip_cfws(w)) != 0)
			return rc;
		if (w->i < w->n && !at(w, ','))
			return unexpected(w, "',' was expected after an "
					     "address");
	}
	if (w->count == before)
		return gw_err_set(GW_ERR_PARSE, "%s field: no mailbox",
				  w->field);
	return 0;
}

int
mime_addr_list_each(const char *value, size_t len, const char *field,
		    mime_addr_fn fn, void *arg)
{
	struct walk w;

	if (value == NULL || fn == NULL)
		return gw_err_set(GW_ERR_INVALID,
				  "mime_addr_list_each: no value or callback");
	memset(&w, 0, sizeof(w));
	w.v = (const unsigned char *)value;
	w.n = len;
	w.field = field != NULL ? field : "address";
	w.fn = fn;
	w.arg = arg;
	return walk_list(&w);
}

int
mime_addr_from_each(const struct mime_part *part, mime_addr_fn fn, void *arg)
{
	const struct mime_header *h;
	struct walk w;
	size_t i, found = 0;
	int rc;

	if (fn == NULL)
		return gw_err_set(GW_ERR_INVALID,
				  "mime_addr_from_each: no callback");
	memset(&w, 0, sizeof(w));
	w.field = "From";
	w.fn = fn;
	w.arg = arg;
	for (i = 0; i < mime_part_header_count(part); i++) {
		h = mime_part_header_at(part, i);
		if (!mime_header_name_is(mime_header_name(h), "From"))
			continue;
		found++;
		w.v = (const unsigned char *)mime_header_value(h);
		w.n = mime_header_value_len(h);
		w.i = 0;
		if ((rc = walk_list(&w)) != 0)
			return rc;
	}
	return found > 0 ? 0 : GW_ERR_NOT_FOUND;
}

/* Keeps the first mailbox; a second one stops the walk. */
struct one {
	char *buf;
	size_t len;
	unsigned n;
};

static int
keep_one(void *arg, const char *addr)
{
	struct one *o = arg;
	size_t n = strlen(addr);

	if (++o->n > 1)
		return gw_err_set(GW_ERR_PARSE,
				  "From field: more than one mailbox");
	if (n >= o->len)
		return gw_err_set(GW_ERR_LIMIT,
				  "From field: the address is longer than "
				  "%zu bytes",
				  o->len - 1);
	memcpy(o->buf, addr, n + 1);
	return 0;
}

int
mime_addr_from_one(const struct mime_part *part, char *buf, size_t len)
{
	struct one o = {buf, len, 0};
	int rc;

	if (buf == NULL || len == 0)
		return gw_err_set(GW_ERR_INVALID,
				  "mime_addr_from_one: no buffer");
	buf[0] = '\0';
	if ((rc = mime_addr_from_each(part, keep_one, &o)) != 0)
		buf[0] = '\0';
	return rc;
}
