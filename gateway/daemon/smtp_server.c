/*
 * smtp_server.c - the I/O-free SMTP/LMTP server session (smtp_server.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gw_buf.h"
#include "gw_err.h"
#include "gw_reply.h"
#include "smtp_server.h"

enum input {
	IN_CMD,	 /* command lines */
	IN_DATA, /* DATA content, up to CRLF . CRLF */
	IN_BDAT, /* a BDAT chunk's bytes */
};

/* Where the DATA byte machine is (see feed_data()). */
enum dstate {
	D_BOL,	 /* at the beginning of a line (after CRLF) */
	D_DOT,	 /* a '.' at the beginning of a line, held back */
	D_DOTCR, /* ".\r" at the beginning of a line, held back */
	D_MID,	 /* inside a line */
	D_CR,	 /* after a CR inside a line (already handed on) */
};

enum content_mode {
	C_NONE,
	C_DATA,
	C_BDAT,
};

struct smtp_server {
	struct smtp_server_conf conf;
	char host[256];
	struct smtp_server_ops ops;
	void *arg;
	int closed;

	/* Input. */
	enum input in;
	char *line;		/* conf.line_max + 1 bytes */
	size_t llen;
	int overflow;		/* the line passed line_max: discard to LF */
	enum dstate ds;
	uint64_t bdat_left;	/* bytes of the current chunk still due */
	uint64_t bdat_size;	/* the current chunk's size */
	int bdat_last;
	int bdat_refused;	/* the chunk is read and answered with bdat_r */
	struct smtp_reply bdat_r;

	/* Session. */
	int helo_done;
	int esmtp;
	char helo[256];
	unsigned errors;

	/* Transaction. */
	int in_txn;		/* MAIL accepted */
	char mail_from[SMTP_MAILBOX_SIZE];
	uint64_t size;
	enum smtp_body body;
	int smtputf8;
	char (*rcpts)[SMTP_MAILBOX_SIZE];
	size_t nrcpt;
	size_t rcpt_cap;
	int rcpt_tried;
	enum content_mode cmode;
	int content_started;	/* content_begin was called */
	uint64_t csize;
	int cerr;		/* latched content failure */
	unsigned char *stage;	/* SMTP_SERVER_STAGE bytes */
	size_t slen;
	size_t due;		/* content replies still due */
	struct smtp_xforward xf;

	struct gw_buf out;
};

/* ---------------------------------------------------------------- */
/* Replies. */

static int
emit(struct smtp_server *s, int code, const char *enh, const char *text,
     int more)
{
	int use_enh = (s->conf.ext & SMTP_EXT_ENHANCEDSTATUSCODES) &&
		      enh != NULL && enh[0] != '\0' && code != 220 &&
		      code != 354;

	if (use_enh)
		return gw_buf_addf(&s->out, "%03d%c%s %s\r\n", code,
				   more ? '-' : ' ', enh, text);
	return gw_buf_addf(&s->out, "%03d%c%s\r\n", code, more ? '-' : ' ',
			   text);
}

static int
reply(struct smtp_server *s, int code, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
reply(struct smtp_server *s, int code, const char *enh, const char *fmt, ...)
{
	struct smtp_reply r;
	va_list ap;

	r.code = code;
	va_start(ap, fmt);
	vsnprintf(r.text, sizeof(r.text), fmt, ap);
	va_end(ap);
	return emit(s, code, enh, r.text, 0);
}

static int
reply_r(struct smtp_server *s, const struct smtp_reply *r)
{
	return emit(s, r->code, r->enhanced, r->text, 0);
}

/* A reply for a GW_ERR_* code, from the one reply policy. */
static void
reply_for_error(struct smtp_reply *r, int err)
{
	struct gw_reply g = gw_reply_for_error(err);

	if (err == GW_ERR_LIMIT)
		smtp_proto_reply_set(r, g.smtp_code, g.enhanced,
				     "Error: message size exceeds fixed limit");
	else if (gw_reply_is_temporary(&g))
		smtp_proto_reply_set(r, g.smtp_code, g.enhanced,
				     "Error: local error in processing");
	else
		smtp_proto_reply_set(r, g.smtp_code, g.enhanced,
				     "Error: message refused");
}

static int
valid_owner_reply(const struct smtp_reply *r)
{
	return r->code >= 200 && r->code <= 599 &&
	       (r->code / 100 == 2 || r->code / 100 == 4 ||
		r->code / 100 == 5);
}

/* ---------------------------------------------------------------- */
/* Transactions. */

static void
txn_clear(struct smtp_server *s)
{
	s->in_txn = 0;
	s->mail_from[0] = '\0';
	s->size = 0;
	s->body = SMTP_BODY_NONE;
	s->smtputf8 = 0;
	s->nrcpt = 0;
	s->rcpt_tried = 0;
	s->cmode = C_NONE;
	s->content_started = 0;
	s->csize = 0;
	s->cerr = 0;
	s->slen = 0;
	s->due = 0;
	memset(&s->xf, 0, sizeof(s->xf));
}

/* Abandons the transaction, telling the owner if it saw the MAIL. */
static void
txn_reset(struct smtp_server *s)
{
	int saw = s->in_txn;

	txn_clear(s);
	if (saw && s->ops.reset != NULL)
		s->ops.reset(s->arg, s);
}

static void
close_session(struct smtp_server *s)
{
	txn_reset(s);
	s->closed = 1;
	s->in = IN_CMD;
}

/* A protocol error: the reply, and 421 once there were too many. */
static int
proto_error(struct smtp_server *s, int code, const char *enh,
	    const char *text)
{
	int r;

	if ((r = emit(s, code, enh, text, 0)) != 0)
		return r;
	if (++s->errors >= s->conf.errors_max) {
		r = reply(s, 421, "4.7.0", "%s Error: too many errors",
			  s->host);
		close_session(s);
	}
	return r;
}

/* Hands the staged content to the owner (latching its failure). */
static void
stage_flush(struct smtp_server *s)
{
	int r;

	if (s->slen == 0)
		return;
	if (s->cerr == 0 && s->ops.content != NULL &&
	    (r = s->ops.content(s->arg, s->stage, s->slen)) != 0)
		s->cerr = r < 0 ? r : GW_ERR_INTERNAL;
	s->slen = 0;
}

static void
content_byte(struct smtp_server *s, unsigned char ch)
{
	if (s->cerr != 0)
		return;
	if (s->csize >= s->conf.size_max) {
		s->cerr = GW_ERR_LIMIT;
		s->slen = 0;
		return;
	}
	s->csize++;
	s->stage[s->slen++] = ch;
	if (s->slen == SMTP_SERVER_STAGE)
		stage_flush(s);
}

static void
content_bytes(struct smtp_server *s, const unsigned char *p, size_t n)
{
	while (n > 0 && s->cerr == 0) {
		size_t k = SMTP_SERVER_STAGE - s->slen;

		if (s->csize >= s->conf.size_max) {
			s->cerr = GW_ERR_LIMIT;
			s->slen = 0;
			return;
		}
		if (k > n)
			k = n;
		if (k > s->conf.size_max - s->csize)
			k = (size_t)(s->conf.size_max - s->csize);
		memcpy(s->stage + s->slen, p, k);
		s->slen += k;
		s->csize += k;
		p += k;
		n -= k;
		if (s->slen == SMTP_SERVER_STAGE)
			stage_flush(s);
	}
}

/*
 * The content is complete: a latched failure gets its reply (to every
 * recipient in LMTP) and resets; otherwise the owner is asked.
 */
static int
content_done(struct smtp_server *s)
{
	struct smtp_reply r;
	size_t i, n;
	int rc = 0;

	stage_flush(s);
	s->in = IN_CMD;
	if (s->cerr != 0) {
		reply_for_error(&r, s->cerr);
		n = s->conf.mode == SMTP_MODE_LMTP ? s->nrcpt : 1;
		for (i = 0; i < n && rc == 0; i++)
			rc = reply_r(s, &r);
		txn_reset(s);
		return rc;
	}
	s->due = s->conf.mode == SMTP_MODE_LMTP ? s->nrcpt : 1;
	if (s->ops.content_end != NULL)
		s->ops.content_end(s->arg, s);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Commands. */

static int
toupper_ascii(int ch)
{
	return ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch;
}

static int
is_space(int ch)
{
	return ch == ' ' || ch == '\t';
}

/* The argument after the verb: *arg, *alen (leading blanks skipped). */
static void
split_arg(const char *line, size_t len, size_t vlen, const char **arg,
	  size_t *alen)
{
	size_t i = vlen;

	while (i < len && is_space((unsigned char)line[i]))
		i++;
	*arg = line + i;
	*alen = len - i;
	while (*alen > 0 && is_space((unsigned char)(*arg)[*alen - 1]))
		(*alen)--;
}

static const char *
hello_verb(const struct smtp_server *s)
{
	return s->conf.mode == SMTP_MODE_LMTP ? "LHLO" : "EHLO/HELO";
}

static int
cmd_hello(struct smtp_server *s, const char *arg, size_t alen, int esmtp)
{
	size_t i;
	unsigned bit;
	int r;

	if (alen == 0)
		return proto_error(s, 501, "5.5.4", esmtp ?
			(s->conf.mode == SMTP_MODE_LMTP ? "Syntax: LHLO hostname"
			 : "Syntax: EHLO hostname") : "Syntax: HELO hostname");
	if (alen >= sizeof(s->helo))
		return proto_error(s, 501, "5.5.4", "Error: hostname too long");
	for (i = 0; i < alen; i++) {
		unsigned char ch = (unsigned char)arg[i];

		if (ch < 33 || ch == 127)
			return proto_error(s, 501, "5.5.4",
					   "Error: invalid hostname");
	}
	txn_reset(s);
	memcpy(s->helo, arg, alen);
	s->helo[alen] = '\0';
	s->helo_done = 1;
	s->esmtp = esmtp;
	if (!esmtp)
		return reply(s, 250, NULL, "%s", s->host);
	if ((r = emit(s, 250, NULL, s->host, 1)) != 0)
		return r;
	for (bit = 1; bit < SMTP_EXT_ALL; bit <<= 1) {
		if ((s->conf.ext & bit) == 0)
			continue;
		if (bit == SMTP_EXT_SIZE)
			r = gw_buf_addf(&s->out, "250-SIZE %llu\r\n",
					(unsigned long long)s->conf.size_max);
		else if (bit == SMTP_EXT_XFORWARD)
			r = gw_buf_addf(&s->out, "250-XFORWARD NAME ADDR PORT "
					"PROTO HELO IDENT SOURCE\r\n");
		else
			r = gw_buf_addf(&s->out, "250-%s\r\n",
					smtp_proto_ext_name(bit));
		if (r != 0)
			return r;
	}
	return gw_buf_adds(&s->out, "250 HELP\r\n");
}

/* "FROM:" or "TO:" (case-insensitive), then optional blanks. */
static int
skip_keyword(const char **arg, size_t *alen, const char *kw)
{
	size_t k = strlen(kw);

	if (*alen < k || strncasecmp(*arg, kw, k) != 0)
		return -1;
	*arg += k;
	*alen -= k;
	while (*alen > 0 && is_space((unsigned char)**arg)) {
		(*arg)++;
		(*alen)--;
	}
	return 0;
}

static int
has_8bit(const char *p)
{
	for (; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			return 1;
	return 0;
}

/* One ESMTP parameter: keyword [= value]. */
struct param {
	const char *kw;
	size_t kwlen;
	const char *val; /* NULL when there is no '=' */
	size_t vlen;
};

/*
 * Splits the next blank-separated parameter off (*p, *n); 1 when one was
 * found, 0 at the end, -1 on bad syntax (an empty keyword, a keyword
 * byte outside ALPHA / DIGIT / '-', an empty value, a control byte).
 */
static int
next_param(const char **p, size_t *n, struct param *pm)
{
	size_t i = 0, start;

	while (i < *n && is_space((unsigned char)(*p)[i]))
		i++;
	if (i == *n) {
		*p += i;
		*n = 0;
		return 0;
	}
	start = i;
	while (i < *n && !is_space((unsigned char)(*p)[i]))
		i++;
	pm->kw = *p + start;
	pm->val = NULL;
	pm->vlen = 0;
	pm->kwlen = i - start;
	{
		const char *eq = memchr(pm->kw, '=', pm->kwlen);
		size_t j;

		if (eq != NULL) {
			pm->val = eq + 1;
			pm->vlen = pm->kwlen - (size_t)(eq + 1 - pm->kw);
			pm->kwlen = (size_t)(eq - pm->kw);
			if (pm->vlen == 0)
				return -1;
			for (j = 0; j < pm->vlen; j++)
				if ((unsigned char)pm->val[j] < 33 ||
				    pm->val[j] == 127 || pm->val[j] == '=')
					return -1;
		}
		if (pm->kwlen == 0)
			return -1;
		for (j = 0; j < pm->kwlen; j++) {
			unsigned char ch = (unsigned char)pm->kw[j];

			if (!((ch >= 'a' && ch <= 'z') ||
			      (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || (ch == '-' && j > 0)))
				return -1;
		}
	}
	*p += i;
	*n -= i;
	return 1;
}

static int
kw_is(const struct param *pm, const char *kw)
{
	return pm->kwlen == strlen(kw) && strncasecmp(pm->kw, kw, pm->kwlen) == 0;
}

static int
val_is(const struct param *pm, const char *v)
{
	return pm->val != NULL && pm->vlen == strlen(v) &&
	       strncasecmp(pm->val, v, pm->vlen) == 0;
}

static int
path_error(struct smtp_server *s, int err, int sender)
{
	if (err == GW_ERR_UNSUPPORTED)
		return proto_error(s, 553, "5.6.7", sender ?
			"Error: non-ASCII sender address needs SMTPUTF8" :
			"Error: non-ASCII recipient address needs SMTPUTF8");
	if (err == GW_ERR_LIMIT)
		return proto_error(s, 501, sender ? "5.1.7" : "5.1.3",
				   sender ? "Error: sender address too long" :
				   "Error: recipient address too long");
	return proto_error(s, 501, sender ? "5.1.7" : "5.1.3", sender ?
		"Error: bad sender address syntax" :
		"Error: bad recipient address syntax");
}

static int
cmd_mail(struct smtp_server *s, const char *arg, size_t alen)
{
	char box[SMTP_MAILBOX_SIZE];
	struct smtp_reply r;
	struct param pm;
	uint64_t size = 0;
	enum smtp_body body = SMTP_BODY_NONE;
	int utf8 = 0, seen_size = 0, seen_body = 0, pr;
	size_t end = 0;
	const char *p;
	size_t n;

	if (!s->helo_done) {
		char t[64];

		snprintf(t, sizeof(t), "Error: send %s first", hello_verb(s));
		return proto_error(s, 503, "5.5.1", t);
	}
	if (s->in_txn)
		return proto_error(s, 503, "5.5.1", "Error: nested MAIL command");
	if (skip_keyword(&arg, &alen, "FROM:") != 0 || alen == 0 ||
	    arg[0] != '<')
		return proto_error(s, 501, "5.5.4",
				   "Syntax: MAIL FROM:<address>");
	if ((pr = smtp_path_parse(arg, alen, SMTP_PATH_NULL_OK | SMTP_PATH_UTF8,
				  box, sizeof(box), &end)) != 0)
		return path_error(s, pr, 1);
	p = arg + end;
	n = alen - end;
	if (n > 0 && !is_space((unsigned char)p[0]))
		return path_error(s, GW_ERR_PARSE, 1);
	while ((pr = next_param(&p, &n, &pm)) == 1) {
		if (!s->esmtp)
			return proto_error(s, 555, "5.5.4",
				"Error: parameters need EHLO");
		if (kw_is(&pm, "SIZE") && (s->conf.ext & SMTP_EXT_SIZE)) {
			size_t j;

			if (seen_size++ || pm.val == NULL || pm.vlen > 20)
				return proto_error(s, 501, "5.5.4",
					"Error: bad SIZE parameter");
			size = 0;
			for (j = 0; j < pm.vlen; j++) {
				if (pm.val[j] < '0' || pm.val[j] > '9')
					return proto_error(s, 501, "5.5.4",
						"Error: bad SIZE parameter");
				if (size > (UINT64_MAX - 9) / 10)
					size = UINT64_MAX;
				else
					size = size * 10 +
					       (uint64_t)(pm.val[j] - '0');
			}
		} else if (kw_is(&pm, "BODY") &&
			   (s->conf.ext & SMTP_EXT_8BITMIME)) {
			if (seen_body++)
				return proto_error(s, 501, "5.5.4",
					"Error: repeated BODY parameter");
			if (val_is(&pm, "7BIT"))
				body = SMTP_BODY_7BIT;
			else if (val_is(&pm, "8BITMIME"))
				body = SMTP_BODY_8BITMIME;
			else
				return proto_error(s, 501, "5.5.4",
					"Error: unsupported BODY parameter");
		} else if (kw_is(&pm, "SMTPUTF8") &&
			   (s->conf.ext & SMTP_EXT_SMTPUTF8)) {
			if (utf8++ || pm.val != NULL)
				return proto_error(s, 501, "5.5.4",
					"Error: bad SMTPUTF8 parameter");
		} else {
			return proto_error(s, 555, "5.5.4",
				"Error: unsupported MAIL parameter");
		}
	}
	if (pr < 0)
		return proto_error(s, 501, "5.5.4",
				   "Error: bad MAIL parameter syntax");
	if (!utf8 && has_8bit(box))
		return path_error(s, GW_ERR_UNSUPPORTED, 1);
	if (size > s->conf.size_max)
		return reply(s, 552, "5.3.4",
			     "Error: message size exceeds fixed limit");
	memcpy(s->mail_from, box, strlen(box) + 1);
	s->size = size;
	s->body = body;
	s->smtputf8 = utf8;
	s->nrcpt = 0;
	s->rcpt_tried = 0;
	memset(&r, 0, sizeof(r));
	if (s->ops.mail != NULL)
		s->ops.mail(s->arg, s, &r);
	if (r.code != 0 && !valid_owner_reply(&r))
		smtp_proto_reply_set(&r, 451, "4.3.0",
				     "Error: local error in processing");
	if (r.code != 0 && r.code / 100 != 2) {
		s->mail_from[0] = '\0';
		return reply_r(s, &r);
	}
	s->in_txn = 1;
	if (r.code == 0)
		return reply(s, 250, "2.1.0", "Ok");
	return reply_r(s, &r);
}

static int
cmd_rcpt(struct smtp_server *s, const char *arg, size_t alen)
{
	char box[SMTP_MAILBOX_SIZE];
	struct smtp_reply r;
	struct param pm;
	size_t end = 0, n;
	const char *p;
	int pr;

	if (!s->in_txn)
		return proto_error(s, 503, "5.5.1", "Error: need MAIL command");
	if (skip_keyword(&arg, &alen, "TO:") != 0 || alen == 0 ||
	    arg[0] != '<')
		return proto_error(s, 501, "5.5.4", "Syntax: RCPT TO:<address>");
	s->rcpt_tried = 1;
	if ((pr = smtp_path_parse(arg, alen,
				  SMTP_PATH_POSTMASTER | SMTP_PATH_UTF8, box,
				  sizeof(box), &end)) != 0)
		return path_error(s, pr, 0);
	p = arg + end;
	n = alen - end;
	if (n > 0 && !is_space((unsigned char)p[0]))
		return path_error(s, GW_ERR_PARSE, 0);
	if ((pr = next_param(&p, &n, &pm)) != 0)
		return pr < 0 ? proto_error(s, 501, "5.5.4",
				"Error: bad RCPT parameter syntax") :
			proto_error(s, 555, "5.5.4",
				"Error: unsupported RCPT parameter");
	if (!s->smtputf8 && has_8bit(box))
		return path_error(s, GW_ERR_UNSUPPORTED, 0);
	if (s->nrcpt >= s->conf.rcpt_max)
		return reply(s, 452, "4.5.3", "Error: too many recipients");
	memset(&r, 0, sizeof(r));
	if (s->ops.rcpt != NULL)
		s->ops.rcpt(s->arg, s, box, &r);
	if (r.code != 0 && !valid_owner_reply(&r))
		smtp_proto_reply_set(&r, 451, "4.3.0",
				     "Error: local error in processing");
	if (r.code != 0 && r.code / 100 != 2)
		return reply_r(s, &r);
	if (s->nrcpt == s->rcpt_cap) {
		size_t cap = s->rcpt_cap == 0 ? 8 : s->rcpt_cap * 2;
		void *nr;

		if (cap > s->conf.rcpt_max)
			cap = s->conf.rcpt_max;
		if ((nr = realloc(s->rcpts, cap * sizeof(*s->rcpts))) == NULL)
			return GW_ERR_NOMEM;
		s->rcpts = nr;
		s->rcpt_cap = cap;
	}
	memcpy(s->rcpts[s->nrcpt++], box, strlen(box) + 1);
	if (r.code == 0)
		return reply(s, 250, "2.1.5", "Ok");
	return reply_r(s, &r);
}

/* The checks DATA and BDAT share: 0 when the content may start. */
static int
content_check(struct smtp_server *s, struct smtp_reply *r)
{
	if (!s->in_txn)
		smtp_proto_reply_set(r, 503, "5.5.1", "Error: need MAIL command");
	else if (s->nrcpt == 0 && !s->rcpt_tried)
		smtp_proto_reply_set(r, 503, "5.5.1", "Error: need RCPT command");
	else if (s->nrcpt == 0)
		smtp_proto_reply_set(r, 554, "5.5.1",
				     "Error: no valid recipients");
	else
		return 0;
	return -1;
}

static int
content_start(struct smtp_server *s, enum content_mode mode)
{
	int r = 0;

	s->cmode = mode;
	s->csize = 0;
	s->cerr = 0;
	s->slen = 0;
	if (!s->content_started) {
		s->content_started = 1;
		if (s->ops.content_begin != NULL &&
		    (r = s->ops.content_begin(s->arg, s)) != 0)
			s->cerr = r < 0 ? r : GW_ERR_INTERNAL;
	}
	return s->cerr;
}

static int
cmd_data(struct smtp_server *s, size_t alen)
{
	struct smtp_reply r;
	int err;

	if (alen != 0)
		return proto_error(s, 501, "5.5.4", "Syntax: DATA");
	if (content_check(s, &r) != 0)
		return proto_error(s, r.code, r.enhanced, r.text);
	if (s->cmode == C_BDAT)
		return proto_error(s, 503, "5.5.1",
				   "Error: DATA after BDAT");
	if ((err = content_start(s, C_DATA)) != 0) {
		reply_for_error(&r, err);
		txn_reset(s);
		return reply_r(s, &r);
	}
	s->in = IN_DATA;
	s->ds = D_BOL;
	return reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

static int bdat_done(struct smtp_server *s);

static int
cmd_bdat(struct smtp_server *s, const char *arg, size_t alen)
{
	uint64_t size = 0;
	size_t i = 0, digits = 0;
	int last = 0, r;

	while (i < alen && arg[i] >= '0' && arg[i] <= '9') {
		if (++digits > 19)
			break;
		size = size * 10 + (uint64_t)(arg[i] - '0');
		i++;
	}
	if (digits > 0 && digits <= 19) {
		size_t j = i;

		while (j < alen && is_space((unsigned char)arg[j]))
			j++;
		if (j == alen)
			goto ok;
		if (j > i && alen - j == 4 && strncasecmp(arg + j, "LAST", 4) == 0) {
			last = 1;
			goto ok;
		}
	}
	/* The chunk's end cannot be known: the session cannot go on. */
	if ((r = reply(s, 501, "5.5.4", "Syntax: BDAT count [LAST]")) != 0)
		return r;
	r = reply(s, 421, "4.5.0", "%s Error: lost BDAT synchronisation",
		  s->host);
	close_session(s);
	return r;
ok:
	s->bdat_size = size;
	s->bdat_left = size;
	s->bdat_last = last;
	s->bdat_refused = 0;
	if (content_check(s, &s->bdat_r) != 0 ||
	    (s->cmode == C_DATA &&
	     (smtp_proto_reply_set(&s->bdat_r, 503, "5.5.1",
				   "Error: BDAT after DATA"), 1))) {
		s->bdat_refused = 1;
	} else if (s->cmode != C_BDAT) {
		(void)content_start(s, C_BDAT);
	}
	if (size == 0)
		return bdat_done(s);
	s->in = IN_BDAT;
	return 0;
}

/* The chunk was read: answer it. */
static int
bdat_done(struct smtp_server *s)
{
	struct smtp_reply r;
	int rc;

	s->in = IN_CMD;
	if (s->bdat_refused) {
		s->bdat_refused = 0;
		return proto_error(s, s->bdat_r.code, s->bdat_r.enhanced,
				   s->bdat_r.text);
	}
	if (s->bdat_last)
		return content_done(s);
	stage_flush(s);
	if (s->cerr != 0) {
		/* RFC 3030 section 4.2: the transaction has failed; later
		 * pipelined chunks are read and refused (no transaction). */
		reply_for_error(&r, s->cerr);
		rc = reply_r(s, &r);
		txn_reset(s);
		return rc;
	}
	return reply(s, 250, "2.0.0", "%llu bytes received",
		     (unsigned long long)s->bdat_size);
}

static int
cmd_xforward(struct smtp_server *s, const char *arg, size_t alen)
{
	struct smtp_xforward xf = s->xf;
	struct param pm;
	int pr, a, any = 0;

	if (s->in_txn)
		return proto_error(s, 503, "5.5.1",
				   "Error: XFORWARD inside a transaction");
	while ((pr = next_param(&arg, &alen, &pm)) == 1) {
		char v[SMTP_XF_VALUE_MAX + 1];

		if (pm.val == NULL ||
		    (a = smtp_proto_xf_lookup(pm.kw, pm.kwlen)) < 0)
			return proto_error(s, 501, "5.5.4",
				"Error: bad XFORWARD attribute");
		if (smtp_proto_xtext_decode(pm.val, pm.vlen, v, sizeof(v)) != 0)
			return proto_error(s, 501, "5.5.4",
				"Error: bad XFORWARD attribute value");
		any = 1;
		if (strcmp(v, "[UNAVAILABLE]") == 0 ||
		    strcmp(v, "[TEMPUNAVAIL]") == 0) {
			xf.set &= ~(1u << a);
			xf.value[a][0] = '\0';
			continue;
		}
		xf.set |= 1u << a;
		memcpy(xf.value[a], v, strlen(v) + 1);
	}
	if (pr < 0 || !any)
		return proto_error(s, 501, "5.5.4",
			"Syntax: XFORWARD attribute=value...");
	s->xf = xf;
	return reply(s, 250, "2.0.0", "Ok");
}

static int
cmd_help(struct smtp_server *s)
{
	const char *hello = s->conf.mode == SMTP_MODE_LMTP ? "LHLO" :
			    "EHLO HELO";

	return reply(s, 214, "2.0.0", "Commands: %s MAIL RCPT DATA%s RSET "
		     "NOOP QUIT HELP VRFY%s", hello,
		     (s->conf.ext & SMTP_EXT_CHUNKING) ? " BDAT" : "",
		     (s->conf.ext & SMTP_EXT_XFORWARD) ? " XFORWARD" : "");
}

static int
verb_is(const char *line, size_t len, const char *verb, size_t *vlen)
{
	size_t k = strlen(verb);

	if (len < k || strncasecmp(line, verb, k) != 0)
		return 0;
	if (len > k && !is_space((unsigned char)line[k]))
		return 0;
	*vlen = k;
	return 1;
}

static int
command(struct smtp_server *s, const char *line, size_t len)
{
	const char *arg;
	size_t alen, vlen = 0;
	int lmtp = s->conf.mode == SMTP_MODE_LMTP;

	if (len == 0)
		return proto_error(s, 500, "5.5.2", "Error: bad syntax");
#define VERB(v) verb_is(line, len, v, &vlen)
	if (VERB("EHLO") || VERB("HELO") || VERB("LHLO")) {
		int is_lhlo = toupper_ascii(line[0]) == 'L';
		int is_ehlo = toupper_ascii(line[0]) == 'E';

		split_arg(line, len, vlen, &arg, &alen);
		if (lmtp != is_lhlo)
			return proto_error(s, 500, "5.5.1",
				lmtp ? "Error: this is an LMTP server, use LHLO"
				     : "Error: command not recognized");
		return cmd_hello(s, arg, alen, is_lhlo || is_ehlo);
	}
	if (VERB("MAIL")) {
		split_arg(line, len, vlen, &arg, &alen);
		return cmd_mail(s, arg, alen);
	}
	if (VERB("RCPT")) {
		split_arg(line, len, vlen, &arg, &alen);
		return cmd_rcpt(s, arg, alen);
	}
	if (VERB("DATA")) {
		split_arg(line, len, vlen, &arg, &alen);
		return cmd_data(s, alen);
	}
	if (VERB("BDAT") && (s->conf.ext & SMTP_EXT_CHUNKING)) {
		split_arg(line, len, vlen, &arg, &alen);
		return cmd_bdat(s, arg, alen);
	}
	if (VERB("XFORWARD") && (s->conf.ext & SMTP_EXT_XFORWARD)) {
		split_arg(line, len, vlen, &arg, &alen);
		return cmd_xforward(s, arg, alen);
	}
	if (VERB("RSET")) {
		split_arg(line, len, vlen, &arg, &alen);
		if (alen != 0)
			return proto_error(s, 501, "5.5.4", "Syntax: RSET");
		txn_reset(s);
		return reply(s, 250, "2.0.0", "Ok");
	}
	if (VERB("NOOP"))
		return reply(s, 250, "2.0.0", "Ok");
	if (VERB("QUIT")) {
		int r;

		split_arg(line, len, vlen, &arg, &alen);
		if (alen != 0)
			return proto_error(s, 501, "5.5.4", "Syntax: QUIT");
		r = reply(s, 221, "2.0.0", "Bye");
		close_session(s);
		return r;
	}
	if (VERB("HELP"))
		return cmd_help(s);
	if (VERB("VRFY")) {
		split_arg(line, len, vlen, &arg, &alen);
		if (alen == 0)
			return proto_error(s, 501, "5.5.4", "Syntax: VRFY address");
		return reply(s, 252, "2.5.2",
			     "Cannot VRFY user, but will accept message");
	}
#undef VERB
	return proto_error(s, 500, "5.5.1", "Error: command not recognized");
}

/* A whole command line (without its LF) was read. */
static int
line_done(struct smtp_server *s)
{
	size_t len = s->llen, i;

	s->llen = 0;
	if (s->overflow) {
		s->overflow = 0;
		return proto_error(s, 500, "5.5.2", "Error: line too long");
	}
	if (len == 0 || s->line[len - 1] != '\r')
		return proto_error(s, 500, "5.5.2", "Error: bare LF received");
	len--;
	for (i = 0; i < len; i++) {
		if (s->line[i] == '\0')
			return proto_error(s, 500, "5.5.2",
					   "Error: NUL in command");
		if (s->line[i] == '\r')
			return proto_error(s, 500, "5.5.2",
					   "Error: bare CR received");
	}
	s->line[len] = '\0';
	return command(s, s->line, len);
}

/* Feeds command bytes up to and including one LF; returns bytes used. */
static size_t
feed_cmd(struct smtp_server *s, const unsigned char *p, size_t n, int *rc)
{
	const unsigned char *lf = memchr(p, '\n', n);
	size_t k = lf != NULL ? (size_t)(lf - p) : n;
	size_t room = s->conf.line_max - 1 - s->llen; /* LF not stored */

	if (!s->overflow) {
		if (k > room) {
			s->overflow = 1;
		} else {
			memcpy(s->line + s->llen, p, k);
			s->llen += k;
		}
	}
	if (lf == NULL)
		return n;
	*rc = line_done(s);
	return k + 1;
}

/* Feeds DATA content until its end or the end of p; returns bytes used. */
static size_t
feed_data(struct smtp_server *s, const unsigned char *p, size_t n, int *rc)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = p[i];

	again:
		switch (s->ds) {
		case D_BOL:
			if (ch == '.') {
				s->ds = D_DOT;
				break;
			}
			s->ds = D_MID;
			goto again;
		case D_DOT:
			/* The leading dot is removed (RFC 5321 4.5.2). */
			if (ch == '\r') {
				s->ds = D_DOTCR;
				break;
			}
			s->ds = D_MID;
			goto again;
		case D_DOTCR:
			if (ch == '\n') {
				*rc = content_done(s);
				return i + 1;
			}
			content_byte(s, '\r');
			s->ds = D_CR;
			goto again;
		case D_MID:
			if (ch != '\r') {
				/* The run up to the next CR at once. */
				const unsigned char *cr;
				size_t k;

				cr = memchr(p + i, '\r', n - i);
				k = cr != NULL ? (size_t)(cr - (p + i)) : n - i;
				if (cr != NULL && k + 1 < n - i && cr[1] == '\n') {
					/* and its CRLF: the next line begins */
					content_bytes(s, p + i, k + 2);
					s->ds = D_BOL;
					i += k + 1;
					break;
				}
				content_bytes(s, p + i, k);
				i += k - 1;
				break;
			}
			content_byte(s, ch);
			s->ds = D_CR;
			break;
		case D_CR:
			if (ch == '\n') {
				content_byte(s, ch);
				s->ds = D_BOL;
				break;
			}
			s->ds = D_MID;
			goto again;
		}
	}
	return n;
}

static size_t
feed_bdat(struct smtp_server *s, const unsigned char *p, size_t n, int *rc)
{
	size_t k = n;

	if (k > s->bdat_left)
		k = (size_t)s->bdat_left;
	if (!s->bdat_refused && s->in_txn)
		content_bytes(s, p, k);
	s->bdat_left -= k;
	if (s->bdat_left == 0)
		*rc = bdat_done(s);
	return k;
}

/* ---------------------------------------------------------------- */
/* The public side. */

static int
valid_host(const char *h)
{
	size_t i, n;

	if (h == NULL || (n = strlen(h)) == 0 || n > 255)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)h[i] < 33 || (unsigned char)h[i] > 126)
			return 0;
	return 1;
}

struct smtp_server *
smtp_server_new(const struct smtp_server_conf *conf,
		const struct smtp_server_ops *ops, void *arg)
{
	struct smtp_server *s = NULL;
	size_t out_max;

	if (conf == NULL || !valid_host(conf->hostname) ||
	    (conf->line_max != 0 && (conf->line_max < SMTP_LINE_MIN ||
				     conf->line_max > SMTP_SERVER_LINE_LIMIT)) ||
	    (conf->mode != SMTP_MODE_SMTP && conf->mode != SMTP_MODE_LMTP))
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->conf = *conf;
	s->conf.ext &= SMTP_EXT_ALL;
	snprintf(s->host, sizeof(s->host), "%s", conf->hostname);
	s->conf.hostname = s->host;
	if (s->conf.line_max == 0)
		s->conf.line_max = SMTP_LINE_MIN;
	if (s->conf.rcpt_max == 0)
		s->conf.rcpt_max = SMTP_SERVER_RCPT_MAX;
	if (s->conf.size_max == 0)
		s->conf.size_max = SMTP_SERVER_SIZE_MAX;
	if (s->conf.errors_max == 0)
		s->conf.errors_max = SMTP_SERVER_ERRORS_MAX;
	if (ops != NULL)
		s->ops = *ops;
	s->arg = arg;
	/* Replies wait only up to OUT_HIGH before input stops, but LMTP's
	 * content replies (one per recipient) come in one go. */
	out_max = SMTP_SERVER_OUT_HIGH + 8192 +
		  (s->conf.mode == SMTP_MODE_LMTP ?
		   s->conf.rcpt_max * (SMTP_TEXT_MAX + 32) : SMTP_TEXT_MAX + 32);
	gw_buf_init(&s->out, out_max);
	if ((s->line = malloc(s->conf.line_max + 1)) == NULL ||
	    (s->stage = malloc(SMTP_SERVER_STAGE)) == NULL) {
		smtp_server_free(s);
		return NULL;
	}
	return s;
}

void
smtp_server_free(struct smtp_server *s)
{
	if (s == NULL)
		return;
	txn_reset(s);
	gw_buf_free(&s->out);
	free(s->line);
	free(s->stage);
	free(s->rcpts);
	free(s);
}

int
smtp_server_start(struct smtp_server *s)
{
	if (s == NULL)
		return GW_ERR_INVALID;
	return reply(s, 220, NULL, "%s %s", s->host,
		     s->conf.mode == SMTP_MODE_LMTP ? "LMTP" : "ESMTP");
}

int
smtp_server_close(struct smtp_server *s, const struct smtp_reply *r)
{
	int rc;

	if (s == NULL)
		return GW_ERR_INVALID;
	if (s->closed)
		return 0;
	if (r != NULL && valid_owner_reply(r))
		rc = reply_r(s, r);
	else
		rc = reply(s, 421, "4.3.2", "%s Service shutting down",
			   s->host);
	close_session(s);
	return rc;
}

enum smtp_server_state
smtp_server_state(const struct smtp_server *s)
{
	if (s->closed)
		return SMTP_SERVER_CLOSE;
	if (s->due > 0)
		return SMTP_SERVER_WAIT;
	if (s->out.len >= SMTP_SERVER_OUT_HIGH)
		return SMTP_SERVER_FLUSH;
	return SMTP_SERVER_INPUT;
}

int
smtp_server_feed(struct smtp_server *s, const void *data, size_t n,
		 size_t *used)
{
	const unsigned char *p = data;
	size_t i = 0;
	int rc = 0;

	if (used != NULL)
		*used = 0;
	if (s == NULL || used == NULL || (p == NULL && n > 0))
		return GW_ERR_INVALID;
	while (i < n && rc == 0 && smtp_server_state(s) == SMTP_SERVER_INPUT) {
		switch (s->in) {
		case IN_CMD:
			i += feed_cmd(s, p + i, n - i, &rc);
			break;
		case IN_DATA:
			i += feed_data(s, p + i, n - i, &rc);
			break;
		case IN_BDAT:
			i += feed_bdat(s, p + i, n - i, &rc);
			break;
		}
	}
	*used = i;
	if (rc != 0) {
		/* Our own trouble (memory): end the session clearly, after
		 * the replies already queued when there is room. */
		if (reply(s, 421, "4.3.0", "%s Error: local resource problem",
			  s->host) != 0) {
			gw_buf_reset(&s->out);
			(void)reply(s, 421, "4.3.0", "%s Error: local resource "
				    "problem", s->host);
		}
		close_session(s);
	}
	return rc;
}

const unsigned char *
smtp_server_output(const struct smtp_server *s, size_t *len)
{
	static const unsigned char none[1];

	/* Never NULL, so that memcmp()/write() with 0 bytes is clean. */
	*len = s->out.len;
	return s->out.data != NULL ? s->out.data : none;
}

void
smtp_server_output_consume(struct smtp_server *s, size_t n)
{
	gw_buf_consume(&s->out, n);
}

int
smtp_server_content_reply(struct smtp_server *s, const struct smtp_reply *r)
{
	int rc;

	if (s == NULL || r == NULL || s->due == 0 || s->closed ||
	    !valid_owner_reply(r))
		return GW_ERR_INVALID;
	rc = reply_r(s, r);
	if (--s->due == 0) {
		/* The transaction is over; XFORWARD applied to it alone. */
		txn_clear(s);
	}
	return rc;
}

size_t
smtp_server_replies_due(const struct smtp_server *s)
{
	return s->due;
}

const char *
smtp_server_mail_from(const struct smtp_server *s)
{
	return s->mail_from;
}

uint64_t
smtp_server_mail_size(const struct smtp_server *s)
{
	return s->size;
}

enum smtp_body
smtp_server_mail_body(const struct smtp_server *s)
{
	return s->body;
}

int
smtp_server_mail_smtputf8(const struct smtp_server *s)
{
	return s->smtputf8;
}

size_t
smtp_server_rcpt_count(const struct smtp_server *s)
{
	return s->nrcpt;
}

const char *
smtp_server_rcpt(const struct smtp_server *s, size_t i)
{
	return i < s->nrcpt ? s->rcpts[i] : NULL;
}

uint64_t
smtp_server_content_size(const struct smtp_server *s)
{
	return s->csize;
}

const char *
smtp_server_helo(const struct smtp_server *s)
{
	return s->helo;
}

int
smtp_server_esmtp(const struct smtp_server *s)
{
	return s->esmtp;
}

const struct smtp_xforward *
smtp_server_xforward(const struct smtp_server *s)
{
	return &s->xf;
}
