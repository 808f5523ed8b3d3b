/*
 * fuzz_smtp_server.c - libFuzzer target for the SMTP/LMTP server
 * session (gateway/daemon/smtp_server.c) and the RFC 5321 path parser.
 *
 * The first input byte picks the mode (SMTP or LMTP), which extensions
 * are advertised, small ceilings, whether the owner answers the content
 * inside its callback, and a chunk size; the rest is what a client
 * sends.  The session is run twice, on the whole input and in chunks,
 * and the transcripts, events and content must be identical (a digest
 * of each).  Every reply line must be "ddd" + ' ' or '-' + text + CRLF
 * with a code of 2xx-5xx; a session that stops using input must say
 * why (wait, flush, close); the content never passes the size ceiling.
 * The owner's content reply is drawn from the input too.  Any violation
 * aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "gw_err.h"
#include "smtp_path.h"
#include "smtp_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fowner {
	struct smtp_server *s;
	uint64_t h_out, h_ev, h_content;
	uint64_t content_len;
	uint64_t size_max;
	int sync;
	unsigned char seed;
	/* The reply line being checked across output writes. */
	char line[4096];
	size_t llen;
	int lmtp;
};

static void
mix(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++) {
		*h ^= s[i];
		*h *= 0x100000001b3ULL;
	}
}

static void
ev(struct fowner *o, const char *s)
{
	mix(&o->h_ev, s, strlen(s) + 1);
}

static void
check_line(const char *l, size_t n)
{
	CHECK(n >= 5);
	CHECK(l[n - 2] == '\r' && l[n - 1] == '\n');
	CHECK(l[0] >= '2' && l[0] <= '5');
	CHECK(l[1] >= '0' && l[1] <= '9' && l[2] >= '0' && l[2] <= '9');
	CHECK(l[3] == ' ' || l[3] == '-');
	CHECK(memchr(l, '\r', n - 2) == NULL && memchr(l, '\n', n - 1) == NULL);
	CHECK(memchr(l, '\0', n) == NULL);
}

static void
drain(struct fowner *o)
{
	size_t len, i;
	const unsigned char *p = smtp_server_output(o->s, &len);

	mix(&o->h_out, p, len);
	for (i = 0; i < len; i++) {
		CHECK(o->llen < sizeof(o->line));
		o->line[o->llen++] = (char)p[i];
		if (p[i] == '\n') {
			check_line(o->line, o->llen);
			o->llen = 0;
		}
	}
	smtp_server_output_consume(o->s, len);
}

static void
f_mail(void *arg, struct smtp_server *s, struct smtp_reply *r)
{
	struct fowner *o = arg;
	const char *from = smtp_server_mail_from(s);

	ev(o, "mail");
	ev(o, from);
	CHECK(strlen(from) < SMTP_MAILBOX_SIZE);
	CHECK(from[0] == '\0' || smtp_path_check(from, SMTP_PATH_UTF8) == 0);
	CHECK(smtp_server_mail_size(s) <= o->size_max);
	if (o->seed & 0x10)
		smtp_proto_reply_set(r, 451, "4.3.0", "owner says no");
}

static void
f_rcpt(void *arg, struct smtp_server *s, const char *rcpt,
       struct smtp_reply *r)
{
	struct fowner *o = arg;

	ev(o, "rcpt");
	ev(o, rcpt);
	CHECK(smtp_path_check(rcpt, SMTP_PATH_UTF8 | SMTP_PATH_POSTMASTER) == 0);
	if (rcpt[0] == 'x')
		smtp_proto_reply_set(r, 550, "5.1.1", "no");
}

static int
f_begin(void *arg, struct smtp_server *s)
{
	struct fowner *o = arg;

	ev(o, "begin");
	o->content_len = 0;
	return 0;
}

static int
f_content(void *arg, const unsigned char *p, size_t n)
{
	struct fowner *o = arg;

	CHECK(n > 0);
	o->content_len += n;
	CHECK(o->content_len <= o->size_max);
	mix(&o->h_content, p, n);
	return 0;
}

static void
answer(struct fowner *o)
{
	struct smtp_reply r;
	size_t due;

	while ((due = smtp_server_replies_due(o->s)) > 0) {
		int code = (o->seed + due) % 3 == 0 ? 250 :
			   (o->seed + due) % 3 == 1 ? 451 : 554;

		smtp_proto_reply_set(&r, code, code == 250 ? "2.0.0" :
				     code == 451 ? "4.3.0" : "5.7.1",
				     "reply %zu", due);
		CHECK(smtp_server_content_reply(o->s, &r) == 0);
	}
	CHECK(smtp_server_content_reply(o->s, &r) == GW_ERR_INVALID);
}

static void
f_end(void *arg, struct smtp_server *s)
{
	struct fowner *o = arg;

	ev(o, "end");
	CHECK(smtp_server_replies_due(s) ==
	      (o->lmtp ? smtp_server_rcpt_count(s) : 1));
	CHECK(smtp_server_rcpt_count(s) > 0);
	if (o->sync)
		answer(o);
}

static void
f_reset(void *arg, struct smtp_server *s)
{
	ev(arg, "reset");
}

static const struct smtp_server_ops fops = {
    f_mail, f_rcpt, f_begin, f_content, f_end, f_reset,
};

static void
run(const uint8_t *data, size_t size, unsigned char opt, size_t chunk,
    uint64_t out[3])
{
	struct smtp_server_conf conf = {0};
	struct fowner o;
	size_t pos = 0, used;
	int idle = 0;

	memset(&o, 0, sizeof(o));
	o.lmtp = opt & 1;
	conf.mode = o.lmtp ? SMTP_MODE_LMTP : SMTP_MODE_SMTP;
	conf.hostname = "mx.fuzz";
	conf.ext = (opt & 2) ? SMTP_EXT_ALL :
		   SMTP_EXT_ALL & ~(SMTP_EXT_ENHANCEDSTATUSCODES |
				    SMTP_EXT_XFORWARD);
	if (opt & 4) {
		conf.rcpt_max = 3;
		conf.size_max = 64;
		conf.errors_max = 50;
		conf.line_max = 600;
	}
	o.size_max = conf.size_max ? conf.size_max : SMTP_SERVER_SIZE_MAX;
	o.sync = (opt & 8) != 0;
	o.seed = opt;
	CHECK((o.s = smtp_server_new(&conf, &fops, &o)) != NULL);
	CHECK(smtp_server_start(o.s) == 0);
	drain(&o);
	while (pos < size) {
		size_t k = chunk == 0 || chunk > size - pos ? size - pos : chunk;
		enum smtp_server_state st;

		CHECK(smtp_server_feed(o.s, data + pos, k, &used) == 0);
		CHECK(used <= k);
		pos += used;
		st = smtp_server_state(o.s);
		if (st == SMTP_SERVER_WAIT)
			answer(&o);
		drain(&o);
		if (st == SMTP_SERVER_CLOSE)
			break;
		if (used < k)
			CHECK(st != SMTP_SERVER_INPUT);
		idle = used == 0 ? idle + 1 : 0;
		CHECK(idle < 4);
	}
	if (smtp_server_state(o.s) == SMTP_SERVER_WAIT)
		answer(&o);
	if (opt & 0x20)
		(void)smtp_server_close(o.s, NULL);
	drain(&o);
	CHECK(o.llen == 0);
	smtp_server_free(o.s);
	out[0] = o.h_out;
	out[1] = o.h_ev;
	out[2] = o.h_content;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t a[3], b[3];
	unsigned char opt;
	size_t chunk;

	if (size < 1 || size > 256 * 1024)
		return 0;
	opt = data[0];
	chunk = 1 + (opt >> 6) * 5;
	run(data + 1, size - 1, opt, 0, a);
	run(data + 1, size - 1, opt, chunk, b);
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	return 0;
}
