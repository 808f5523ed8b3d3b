/*
 * smtp_client.c - the I/O-free SMTP/LMTP relay client (smtp_client.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gw_buf.h"
#include "gw_err.h"
#include "smtp_client.h"
#include "smtp_path.h"

/* What a reply answers. */
enum kind {
	K_GREETING,
	K_EHLO,
	K_HELO,
	K_XFORWARD,
	K_MAIL,
	K_RCPT,
	K_DATA,
	K_FINAL,	/* the content's reply (LMTP: one per accepted rcpt) */
	K_BDAT,		/* a chunk that is not the last */
	K_DOT_EMPTY,	/* "." after a 354 that came with no recipient */
	K_RSET,
	K_QUIT,
};

struct step {
	enum kind kind;
	size_t idx;	/* K_RCPT, K_FINAL: the recipient */
	size_t off;	/* the command in plan text (unsent steps) */
	size_t len;
};

/* A queue of steps: [head, len). */
struct steps {
	struct step *v;
	size_t head;
	size_t len;
	size_t cap;
};

struct smtp_client {
	struct smtp_client_conf conf;
	char helo[256];
	int closed;
	int open;		/* greeting and EHLO/HELO done */
	int quitting;
	struct smtp_reply error;

	/* What the server offers. */
	unsigned ext;
	uint64_t srv_size;
	unsigned xf_attrs;	/* bit per SMTP_XF_* it named */

	/* Reply input. */
	char *line;
	size_t llen;
	int overflow;
	int rcode;		/* code of the reply being read, 0 none */
	size_t rlines;
	struct gw_buf rtext;	/* its lines' texts, '\n'-separated */

	/* Commands. */
	struct steps expect;	/* sent, reply due, in order */
	struct steps plan;	/* not sent yet (no PIPELINING) */
	struct gw_buf ptext;	/* the plan's command text */
	struct gw_buf out;

	/* The transaction. */
	int in_txn;
	int use_bdat;
	char (*rcpt)[SMTP_MAILBOX_SIZE];
	struct smtp_reply *res;
	unsigned char *accepted;
	size_t nrcpt;
	size_t nacc;
	size_t nrcpt_answered;
	int mail_ok;
	int failed;		/* the transaction failed as a whole */
	int done;		/* the server's transaction ended */
	int in_content;
	int at_bol;		/* content: the last byte sent ended a line */
	int cr_pending;		/* content: CRLF sent for a CR; drop an LF */
	struct gw_buf chunk;	/* BDAT: one canonical chunk */
};

/* ---------------------------------------------------------------- */

static int
steps_push(struct steps *q, enum kind k, size_t idx, size_t off, size_t len)
{
	if (q->head > 0 && q->head == q->len)
		q->head = q->len = 0;
	if (q->len == q->cap) {
		size_t cap = q->cap == 0 ? 16 : q->cap * 2;
		struct step *nv;

		if (q->head > 0) {
			memmove(q->v, q->v + q->head,
				(q->len - q->head) * sizeof(*q->v));
			q->len -= q->head;
			q->head = 0;
		}
		if (q->len == q->cap) {
			if ((nv = realloc(q->v, cap * sizeof(*nv))) == NULL)
				return GW_ERR_NOMEM;
			q->v = nv;
			q->cap = cap;
		}
	}
	q->v[q->len].kind = k;
	q->v[q->len].idx = idx;
	q->v[q->len].off = off;
	q->v[q->len].len = len;
	q->len++;
	return 0;
}

static size_t
steps_count(const struct steps *q)
{
	return q->len - q->head;
}

static void
steps_clear(struct steps *q)
{
	q->head = q->len = 0;
}

/* Writes a command now and expects its reply. */
static int
send_cmd(struct smtp_client *c, enum kind k, size_t idx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
send_cmd(struct smtp_client *c, enum kind k, size_t idx, const char *fmt, ...)
{
	char buf[SMTP_LINE_MIN + 64];
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return GW_ERR_INTERNAL;
	if ((r = gw_buf_add(&c->out, buf, (size_t)n)) != 0)
		return r;
	return steps_push(&c->expect, k, idx, 0, 0);
}

/* Adds a command to the plan. */
static int
plan_cmd(struct smtp_client *c, enum kind k, size_t idx, const char *s,
	 size_t n)
{
	size_t off = c->ptext.len;
	int r;

	if ((r = gw_buf_add(&c->ptext, s, n)) != 0)
		return r;
	return steps_push(&c->plan, k, idx, off, n);
}

/* Sends planned commands: all of them with PIPELINING, else the next
 * one once every reply is in. */
static int
pump(struct smtp_client *c)
{
	int r;

	while (steps_count(&c->plan) > 0 && !c->closed) {
		struct step *st = &c->plan.v[c->plan.head];

		if (!(c->ext & SMTP_EXT_PIPELINING) &&
		    steps_count(&c->expect) > 0)
			break;
		if ((r = gw_buf_add(&c->out, c->ptext.data + st->off,
				    st->len)) != 0)
			return r;
		if ((r = steps_push(&c->expect, st->kind, st->idx, 0, 0)) != 0)
			return r;
		c->plan.head++;
	}
	if (steps_count(&c->plan) == 0) {
		steps_clear(&c->plan);
		gw_buf_reset(&c->ptext);
	}
	return 0;
}

/* Every recipient without a result gets r. */
static void
fill_results(struct smtp_client *c, const struct smtp_reply *r, int accepted)
{
	size_t i;

	for (i = 0; i < c->nrcpt; i++)
		if (c->res[i].code == 0 && (!accepted || c->accepted[i]))
			c->res[i] = *r;
}

static void
session_fail(struct smtp_client *c, const struct smtp_reply *r)
{
	if (c->error.code == 0)
		c->error = *r;
	if (c->in_txn)
		fill_results(c, r, 0);
	c->in_txn = 0;
	c->in_content = 0;
	c->closed = 1;
	steps_clear(&c->plan);
	steps_clear(&c->expect);
}

static void
violation(struct smtp_client *c, const char *what)
{
	struct smtp_reply r;

	smtp_proto_reply_set(&r, 451, "4.5.0",
			     "Protocol error from next hop: %s", what);
	session_fail(c, &r);
}

/* The transaction is over on our side: RSET when the server may still
 * hold an open one. */
static int
txn_finish(struct smtp_client *c)
{
	struct smtp_reply r;

	smtp_proto_reply_set(&r, 451, "4.3.0", "Error: no reply for recipient");
	fill_results(c, &r, 0);
	c->in_txn = 0;
	c->in_content = 0;
	steps_clear(&c->plan);
	gw_buf_reset(&c->ptext);
	if (c->mail_ok && !c->done)
		return send_cmd(c, K_RSET, 0, "RSET\r\n");
	return 0;
}

/* ---------------------------------------------------------------- */
/* Replies. */

/* The reply just read as a struct smtp_reply: enhanced code from the
 * first line, the lines' texts joined by spaces. */
static void
reply_from_text(const struct smtp_client *c, struct smtp_reply *r)
{
	const char *t = (const char *)c->rtext.data;
	size_t n = c->rtext.len, i, o = 0, e;
	int first = 1;

	memset(r, 0, sizeof(*r));
	r->code = c->rcode;
	while (n > 0) {
		const char *nl = memchr(t, '\n', n);
		size_t ln = nl != NULL ? (size_t)(nl - t) : n;
		const char *sp = memchr(t, ' ', ln);

		e = sp != NULL ? (size_t)(sp - t) : ln;
		if (smtp_proto_enhanced_valid(t, e) &&
		    t[0] == '0' + c->rcode / 100) {
			if (first)
				memcpy(r->enhanced, t, e), r->enhanced[e] = '\0';
			t += e;
			ln -= e;
			n -= e;
			while (ln > 0 && *t == ' ')
				t++, ln--, n--;
		}
		first = 0;
		if (o > 0 && o + 1 < sizeof(r->text) && ln > 0)
			r->text[o++] = ' ';
		for (i = 0; i < ln && o + 1 < sizeof(r->text); i++)
			r->text[o++] = t[i];
		t += ln;
		n -= ln;
		if (n > 0) {
			t++;
			n--;
		}
	}
	r->text[o] = '\0';
}

/* Reads the EHLO reply's lines after the first into extensions. */
static void
parse_ehlo(struct smtp_client *c)
{
	const char *t = (const char *)c->rtext.data;
	size_t n = c->rtext.len;
	int first = 1;

	c->ext = 0;
	c->srv_size = 0;
	c->xf_attrs = 0;
	while (n > 0) {
		const char *nl = memchr(t, '\n', n);
		size_t ln = nl != NULL ? (size_t)(nl - t) : n;
		size_t k = 0;
		unsigned bit;

		if (!first) {
			while (k < ln && t[k] != ' ')
				k++;
			bit = smtp_proto_ext_lookup(t, k);
			if (bit == SMTP_EXT_SIZE) {
				size_t j = k;
				uint64_t v = 0;

				while (j < ln && t[j] == ' ')
					j++;
				for (; j < ln && t[j] >= '0' && t[j] <= '9';
				     j++)
					v = v > UINT64_MAX / 10 - 10 ? UINT64_MAX :
					    v * 10 + (uint64_t)(t[j] - '0');
				c->srv_size = v;
			} else if (bit == SMTP_EXT_XFORWARD) {
				size_t j = k;

				while (j < ln) {
					size_t w;
					int a;

					while (j < ln && t[j] == ' ')
						j++;
					w = j;
					while (j < ln && t[j] != ' ')
						j++;
					if ((a = smtp_proto_xf_lookup(t + w,
								      j - w)) >= 0)
						c->xf_attrs |= 1u << a;
				}
			}
			c->ext |= bit;
		}
		first = 0;
		t += ln;
		n -= ln;
		if (n > 0) {
			t++;
			n--;
		}
	}
	c->ext &= c->conf.ext_mask;
}

static int
start_content(struct smtp_client *c)
{
	c->in_content = 1;
	c->at_bol = 1;
	c->cr_pending = 0;
	return 0;
}

/* Every RCPT reply is in (BDAT: the content may start). */
static int
rcpts_answered(struct smtp_client *c)
{
	if (!c->use_bdat)
		return pump(c); /* DATA, when it was not pipelined */
	if (!c->failed && c->nacc > 0)
		return start_content(c);
	return txn_finish(c);
}

static int
on_reply(struct smtp_client *c)
{
	struct smtp_reply r;
	struct step st;
	int cls = c->rcode / 100;

	reply_from_text(c, &r);
	if (steps_count(&c->expect) == 0) {
		if (c->rcode == 421) {
			session_fail(c, &r);
			return 0;
		}
		violation(c, "unexpected reply");
		return 0;
	}
	st = c->expect.v[c->expect.head++];
	if (c->rcode == 421 && st.kind != K_QUIT) {
		session_fail(c, &r);
		return 0;
	}
	if (cls == 3 && st.kind != K_DATA) {
		violation(c, "unexpected 3xx reply");
		return 0;
	}
	switch (st.kind) {
	case K_GREETING:
		if (cls != 2) {
			session_fail(c, &r);
			return 0;
		}
		return send_cmd(c, K_EHLO, 0, "%s %s\r\n",
				c->conf.mode == SMTP_MODE_LMTP ? "LHLO" : "EHLO",
				c->helo);
	case K_EHLO:
		if (cls == 2) {
			parse_ehlo(c);
			c->open = 1;
			return 0;
		}
		if (cls == 5 && c->conf.mode == SMTP_MODE_SMTP)
			return send_cmd(c, K_HELO, 0, "HELO %s\r\n", c->helo);
		session_fail(c, &r);
		return 0;
	case K_HELO:
		if (cls != 2) {
			session_fail(c, &r);
			return 0;
		}
		c->ext = 0;
		c->open = 1;
		return 0;
	case K_XFORWARD:
	case K_MAIL:
		if (cls == 2) {
			if (st.kind == K_MAIL)
				c->mail_ok = 1;
			break;
		}
		if (!c->failed) {
			c->failed = 1;
			fill_results(c, &r, 0);
		}
		if (!(c->ext & SMTP_EXT_PIPELINING))
			return txn_finish(c);
		break;
	case K_RCPT:
		if (!c->failed) {
			if (cls == 2) {
				c->accepted[st.idx] = 1;
				c->nacc++;
			} else {
				c->res[st.idx] = r;
			}
		}
		if (++c->nrcpt_answered == c->nrcpt) {
			if (!(c->ext & SMTP_EXT_PIPELINING) && !c->use_bdat &&
			    c->nacc == 0) {
				/* The DATA is still in the plan: drop it. */
				return txn_finish(c);
			}
			return rcpts_answered(c);
		}
		break;
	case K_DATA:
		if (c->rcode == 354) {
			if (!c->failed && c->nacc > 0)
				return start_content(c);
			/* RFC 2920 section 3.1: an empty message closes it. */
			return send_cmd(c, K_DOT_EMPTY, 0, ".\r\n");
		}
		if (cls == 3 || cls == 2) {
			violation(c, "unexpected reply to DATA");
			return 0;
		}
		if (!c->failed)
			fill_results(c, &r, 1);
		return txn_finish(c);
	case K_DOT_EMPTY:
		return txn_finish(c);
	case K_BDAT:
		if (cls != 2 && !c->failed) {
			c->failed = 1;
			fill_results(c, &r, 1);
		}
		break;
	case K_FINAL:
		if (c->failed) {
			/* A chunk was refused, so the server has no
			 * transaction: one reply to BDAT LAST, not one per
			 * recipient. */
			while (steps_count(&c->expect) > 0 &&
			       c->expect.v[c->expect.head].kind == K_FINAL)
				c->expect.head++;
		} else if (c->conf.mode == SMTP_MODE_LMTP) {
			c->res[st.idx] = r;
		} else {
			fill_results(c, &r, 1);
		}
		if (steps_count(&c->expect) == 0) {
			c->done = 1;
			return txn_finish(c);
		}
		break;
	case K_RSET:
		break;
	case K_QUIT:
		c->closed = 1;
		return 0;
	}
	return pump(c);
}

static int
line_done(struct smtp_client *c)
{
	struct smtp_reply_line rl;
	size_t len = c->llen;
	int r;

	c->llen = 0;
	if (c->overflow) {
		violation(c, "reply line too long");
		return 0;
	}
	if (len > 0 && c->line[len - 1] == '\r')
		len--;
	if (smtp_proto_reply_line(c->line, len, &rl) != 0) {
		violation(c, "malformed reply line");
		return 0;
	}
	if (c->rcode == 0) {
		c->rcode = rl.code;
		c->rlines = 0;
		gw_buf_reset(&c->rtext);
	} else if (c->rcode != rl.code) {
		violation(c, "reply code changed inside a multiline reply");
		return 0;
	}
	if (++c->rlines > c->conf.lines_max) {
		violation(c, "too many reply lines");
		return 0;
	}
	if (c->rlines > 1 && (r = gw_buf_add(&c->rtext, "\n", 1)) != 0)
		return r;
	if ((r = gw_buf_add(&c->rtext, c->line + rl.text, len - rl.text)) != 0)
		return r;
	if (rl.more)
		return 0;
	r = on_reply(c);
	c->rcode = 0;
	return r;
}

/* ---------------------------------------------------------------- */
/* The public side. */

static int
valid_name(const char *h)
{
	size_t i, n;

	if (h == NULL || (n = strlen(h)) == 0 || n > 255)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)h[i] < 33 || (unsigned char)h[i] > 126)
			return 0;
	return 1;
}

struct smtp_client *
smtp_client_new(const struct smtp_client_conf *conf)
{
	struct smtp_client *c;

	if (conf == NULL || !valid_name(conf->helo_name) ||
	    (conf->line_max != 0 && conf->line_max < SMTP_LINE_MIN) ||
	    (conf->mode != SMTP_MODE_SMTP && conf->mode != SMTP_MODE_LMTP))
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->conf = *conf;
	snprintf(c->helo, sizeof(c->helo), "%s", conf->helo_name);
	c->conf.helo_name = c->helo;
	if (c->conf.ext_mask == 0)
		c->conf.ext_mask = SMTP_EXT_ALL;
	if (c->conf.line_max == 0)
		c->conf.line_max = SMTP_CLIENT_LINE_MAX;
	if (c->conf.lines_max == 0)
		c->conf.lines_max = SMTP_CLIENT_LINES_MAX;
	if (c->conf.rcpt_max == 0)
		c->conf.rcpt_max = SMTP_CLIENT_RCPT_MAX;
	gw_buf_init(&c->rtext, c->conf.line_max * c->conf.lines_max + 16);
	gw_buf_init(&c->ptext, (SMTP_LINE_MIN + 8) * (c->conf.rcpt_max + 16));
	gw_buf_init(&c->out, SMTP_CLIENT_OUT_HIGH + 2 * SMTP_CLIENT_CHUNK +
		    (SMTP_LINE_MIN + 8) * (c->conf.rcpt_max + 16));
	gw_buf_init(&c->chunk, 2 * SMTP_CLIENT_CHUNK + 8);
	if ((c->line = malloc(c->conf.line_max + 1)) == NULL ||
	    steps_push(&c->expect, K_GREETING, 0, 0, 0) != 0) {
		smtp_client_free(c);
		return NULL;
	}
	return c;
}

static void
txn_free(struct smtp_client *c)
{
	free(c->rcpt);
	free(c->res);
	free(c->accepted);
	c->rcpt = NULL;
	c->res = NULL;
	c->accepted = NULL;
	c->nrcpt = 0;
}

void
smtp_client_free(struct smtp_client *c)
{
	if (c == NULL)
		return;
	txn_free(c);
	free(c->line);
	free(c->expect.v);
	free(c->plan.v);
	gw_buf_free(&c->rtext);
	gw_buf_free(&c->ptext);
	gw_buf_free(&c->out);
	gw_buf_free(&c->chunk);
	free(c);
}

enum smtp_client_state
smtp_client_state(const struct smtp_client *c)
{
	if (c->closed)
		return SMTP_CLIENT_CLOSED;
	if (c->out.len >= SMTP_CLIENT_OUT_HIGH)
		return SMTP_CLIENT_FLUSH;
	if (c->in_content)
		return SMTP_CLIENT_CONTENT;
	if (steps_count(&c->expect) > 0 || steps_count(&c->plan) > 0 ||
	    !c->open || c->in_txn)
		return SMTP_CLIENT_WAIT;
	return SMTP_CLIENT_READY;
}

int
smtp_client_feed(struct smtp_client *c, const void *data, size_t n)
{
	const unsigned char *p = data;
	size_t i = 0;
	int r = 0;

	if (c == NULL || (p == NULL && n > 0))
		return GW_ERR_INVALID;
	while (i < n && !c->closed && r == 0) {
		const unsigned char *lf = memchr(p + i, '\n', n - i);
		size_t k = lf != NULL ? (size_t)(lf - (p + i)) : n - i;

		if (!c->overflow) {
			if (k > c->conf.line_max - 1 - c->llen)
				c->overflow = 1;
			else {
				memcpy(c->line + c->llen, p + i, k);
				c->llen += k;
			}
		}
		i += k;
		if (lf != NULL) {
			i++;
			r = line_done(c);
		}
	}
	return r;
}

const unsigned char *
smtp_client_output(const struct smtp_client *c, size_t *len)
{
	static const unsigned char none[1];

	/* Never NULL, so that memcmp()/write() with 0 bytes is clean. */
	*len = c->out.len;
	return c->out.data != NULL ? c->out.data : none;
}

void
smtp_client_output_consume(struct smtp_client *c, size_t n)
{
	gw_buf_consume(&c->out, n);
}

static int
plan_xforward(struct smtp_client *c, const struct smtp_xforward *xf)
{
	struct gw_buf line;
	int a, r = 0;
	size_t base;

	if (xf == NULL || !(c->ext & SMTP_EXT_XFORWARD))
		return 0;
	gw_buf_init(&line, SMTP_LINE_MIN * 8);
	for (a = 0; a < SMTP_XF_COUNT && r == 0; a++) {
		if (!(xf->set & (1u << a)) || !(c->xf_attrs & (1u << a)))
			continue;
		if (line.len == 0)
			r = gw_buf_adds(&line, "XFORWARD");
		base = line.len;
		if (r == 0)
			r = gw_buf_addf(&line, " %s=", smtp_proto_xf_name(a));
		if (r == 0)
			r = smtp_proto_xtext_encode(&line, xf->value[a]);
		if (r != 0)
			break;
		/* An attribute that fits no line is left out (it is for
		 * logs); 512 bytes with CRLF. */
		if (line.len - base + strlen("XFORWARD") + 2 > SMTP_LINE_MIN) {
			line.len = base;
			if (base == strlen("XFORWARD"))
				line.len = 0;
			continue;
		}
		/* Close the line before this attribute when it does not fit. */
		if (line.len + 2 > SMTP_LINE_MIN && base > strlen("XFORWARD")) {
			char tail[SMTP_LINE_MIN];
			size_t tl = line.len - base;

			memcpy(tail, line.data + base, tl);
			line.len = base;
			if ((r = gw_buf_adds(&line, "\r\n")) != 0 ||
			    (r = plan_cmd(c, K_XFORWARD, 0,
					  (const char *)line.data,
					  line.len)) != 0)
				break;
			gw_buf_reset(&line);
			if ((r = gw_buf_adds(&line, "XFORWARD")) != 0 ||
			    (r = gw_buf_add(&line, tail, tl)) != 0)
				break;
		}
	}
	if (r == 0 && line.len > 0 && (r = gw_buf_adds(&line, "\r\n")) == 0)
		r = plan_cmd(c, K_XFORWARD, 0, (const char *)line.data,
			     line.len);
	gw_buf_free(&line);
	return r;
}

int
smtp_client_begin(struct smtp_client *c, const struct smtp_client_txn *t)
{
	unsigned pflags;
	char buf[SMTP_LINE_MIN + 64];
	struct smtp_reply r;
	size_t i;
	int n, rc;

	if (c == NULL || t == NULL || smtp_client_state(c) != SMTP_CLIENT_READY ||
	    t->mail_from == NULL || t->rcpts == NULL || t->nrcpt == 0 ||
	    t->nrcpt > c->conf.rcpt_max)
		return GW_ERR_INVALID;
	pflags = t->smtputf8 ? SMTP_PATH_UTF8 : 0;
	if (smtp_path_check(t->mail_from, pflags | SMTP_PATH_NULL_OK) != 0)
		return GW_ERR_INVALID;
	for (i = 0; i < t->nrcpt; i++)
		if (t->rcpts[i] == NULL ||
		    smtp_path_check(t->rcpts[i], pflags | SMTP_PATH_POSTMASTER) != 0)
			return GW_ERR_INVALID;
	txn_free(c);
	if ((c->rcpt = calloc(t->nrcpt, sizeof(*c->rcpt))) == NULL ||
	    (c->res = calloc(t->nrcpt, sizeof(*c->res))) == NULL ||
	    (c->accepted = calloc(t->nrcpt, 1)) == NULL) {
		txn_free(c);
		return GW_ERR_NOMEM;
	}
	c->nrcpt = t->nrcpt;
	for (i = 0; i < t->nrcpt; i++)
		snprintf(c->rcpt[i], sizeof(c->rcpt[i]), "%s", t->rcpts[i]);
	c->nacc = 0;
	c->nrcpt_answered = 0;
	c->mail_ok = 0;
	c->failed = 0;
	c->done = 0;
	c->in_content = 0;
	if (t->smtputf8 && !(c->ext & SMTP_EXT_SMTPUTF8)) {
		smtp_proto_reply_set(&r, 550, "5.6.7", "Error: the next hop "
				     "does not support SMTPUTF8");
		fill_results(c, &r, 0);
		return 0;
	}
	if ((c->ext & SMTP_EXT_SIZE) && c->srv_size > 0 &&
	    t->size > c->srv_size) {
		smtp_proto_reply_set(&r, 552, "5.3.4", "Error: message size "
				     "exceeds the next hop's limit");
		fill_results(c, &r, 0);
		return 0;
	}
	c->in_txn = 1;
	c->use_bdat = (c->ext & SMTP_EXT_CHUNKING) &&
		      (c->ext & SMTP_EXT_PIPELINING);
	if ((rc = plan_xforward(c, t->xforward)) != 0)
		goto fail;
	{
		char params[96] = "";
		size_t pl = 0;

		if ((c->ext & SMTP_EXT_SIZE) && t->size > 0)
			pl += (size_t)snprintf(params + pl, sizeof(params) - pl,
				 " SIZE=%llu", (unsigned long long)t->size);
		if ((c->ext & SMTP_EXT_8BITMIME) && t->body == SMTP_BODY_8BITMIME)
			pl += (size_t)snprintf(params + pl, sizeof(params) - pl,
					       " BODY=8BITMIME");
		else if ((c->ext & SMTP_EXT_8BITMIME) &&
			 t->body == SMTP_BODY_7BIT)
			pl += (size_t)snprintf(params + pl, sizeof(params) - pl,
					       " BODY=7BIT");
		if (t->smtputf8)
			pl += (size_t)snprintf(params + pl, sizeof(params) - pl,
					       " SMTPUTF8");
		n = snprintf(buf, sizeof(buf), "MAIL FROM:<%s>%s\r\n",
			     t->mail_from, params);
	}
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		rc = GW_ERR_INVALID;
		goto fail;
	}
	if ((rc = plan_cmd(c, K_MAIL, 0, buf, (size_t)n)) != 0)
		goto fail;
	for (i = 0; i < t->nrcpt; i++) {
		n = snprintf(buf, sizeof(buf), "RCPT TO:<%s>\r\n", c->rcpt[i]);
		if (n < 0 || (size_t)n >= sizeof(buf)) {
			rc = GW_ERR_INVALID;
			goto fail;
		}
		if ((rc = plan_cmd(c, K_RCPT, i, buf, (size_t)n)) != 0)
			goto fail;
	}
	if (!c->use_bdat && (rc = plan_cmd(c, K_DATA, 0, "DATA\r\n", 6)) != 0)
		goto fail;
	return pump(c);
fail:
	c->in_txn = 0;
	steps_clear(&c->plan);
	gw_buf_reset(&c->ptext);
	txn_free(c);
	return rc;
}

/* Canonical line ends (and dot-stuffing for DATA) of p into b. */
static int
canon(struct smtp_client *c, struct gw_buf *b, const unsigned char *p,
      size_t n)
{
	const unsigned char *end = p + n, *q, *cr = NULL, *lf = NULL;
	int r;

	while (p < end) {
		if (c->cr_pending) {
			c->cr_pending = 0;
			if (*p == '\n') {
				p++;
				continue;
			}
		}
		if (*p == '\r' || *p == '\n') {
			if ((r = gw_buf_add(b, "\r\n", 2)) != 0)
				return r;
			c->cr_pending = *p++ == '\r';
			c->at_bol = 1;
			continue;
		}
		if (c->at_bol && *p == '.' && !c->use_bdat &&
		    (r = gw_buf_add(b, ".", 1)) != 0)
			return r;
		c->at_bol = 0;
		/* The rest of the line at once, with its CRLF when it has
		 * one; a bare CR or LF stops it (the cases above).  The next
		 * CR and LF are looked for again only once passed, so that
		 * lines of one kind make no quadratic search for the other. */
		if (cr == NULL || cr < p)
			cr = (q = memchr(p, '\r', (size_t)(end - p))) != NULL ? q
									    : end;
		if (lf == NULL || lf < p)
			lf = (q = memchr(p, '\n', (size_t)(end - p))) != NULL ? q
									    : end;
		if (lf < cr)
			q = lf;
		else if (cr == end)
			q = end;
		else if (cr + 1 == lf && lf < end) {
			q = lf + 1;
			c->at_bol = 1;
		} else
			q = cr;
		if ((r = gw_buf_add(b, p, (size_t)(q - p))) != 0)
			return r;
		p = q;
	}
	return 0;
}

int
smtp_client_content(struct smtp_client *c, const void *p, size_t n,
		    size_t *used)
{
	int r;

	if (used != NULL)
		*used = 0;
	if (c == NULL || used == NULL || (p == NULL && n > 0) ||
	    smtp_client_state(c) != SMTP_CLIENT_CONTENT)
		return GW_ERR_INVALID;
	if (n > SMTP_CLIENT_CHUNK)
		n = SMTP_CLIENT_CHUNK;
	*used = n;
	if (n == 0 || c->failed)
		return 0;
	if (!c->use_bdat)
		return canon(c, &c->out, p, n);
	gw_buf_reset(&c->chunk);
	if ((r = canon(c, &c->chunk, p, n)) != 0)
		return r;
	if (c->chunk.len == 0)
		return 0;
	if ((r = send_cmd(c, K_BDAT, 0, "BDAT %zu\r\n", c->chunk.len)) != 0)
		return r;
	return gw_buf_add(&c->out, c->chunk.data, c->chunk.len);
}

int
smtp_client_content_end(struct smtp_client *c)
{
	size_t i;
	int r = 0;

	if (c == NULL || smtp_client_state(c) != SMTP_CLIENT_CONTENT)
		return GW_ERR_INVALID;
	c->in_content = 0;
	if (c->failed) {
		/* A BDAT chunk was refused: the transaction is over. */
		return txn_finish(c);
	}
	if (!c->at_bol) {
		/* The content ends with a line end, as a message must. */
		if (c->use_bdat)
			r = send_cmd(c, K_BDAT, 0, "BDAT 2\r\n\r\n");
		else
			r = gw_buf_add(&c->out, "\r\n", 2);
		c->at_bol = 1;
		if (r != 0)
			return r;
	}
	if (c->use_bdat)
		r = gw_buf_adds(&c->out, "BDAT 0 LAST\r\n");
	else
		r = gw_buf_adds(&c->out, ".\r\n");
	if (r != 0)
		return r;
	if (c->conf.mode == SMTP_MODE_SMTP)
		return steps_push(&c->expect, K_FINAL, 0, 0, 0);
	for (i = 0; i < c->nrcpt && r == 0; i++)
		if (c->accepted[i])
			r = steps_push(&c->expect, K_FINAL, i, 0, 0);
	return r;
}

int
smtp_client_quit(struct smtp_client *c)
{
	if (c == NULL || smtp_client_state(c) != SMTP_CLIENT_READY)
		return GW_ERR_INVALID;
	c->quitting = 1;
	return send_cmd(c, K_QUIT, 0, "QUIT\r\n");
}

void
smtp_client_abort(struct smtp_client *c, const char *why)
{
	struct smtp_reply r;

	if (c == NULL || c->closed)
		return;
	smtp_proto_reply_set(&r, 451, "4.4.2", "Lost connection to next hop: %s",
			     why != NULL ? why : "aborted");
	session_fail(c, &r);
}

size_t
smtp_client_rcpt_count(const struct smtp_client *c)
{
	return c->nrcpt;
}

const struct smtp_reply *
smtp_client_result(const struct smtp_client *c, size_t i)
{
	return i < c->nrcpt ? &c->res[i] : NULL;
}

const struct smtp_reply *
smtp_client_error(const struct smtp_client *c)
{
	return &c->error;
}

unsigned
smtp_client_server_ext(const struct smtp_client *c)
{
	return c->ext;
}

uint64_t
smtp_client_server_size(const struct smtp_client *c)
{
	return c->srv_size;
}
