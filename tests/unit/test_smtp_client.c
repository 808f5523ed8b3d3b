/*
 * test_smtp_client.c - gateway/daemon/smtp_client.c: the relay client
 * against scripted servers (every step, the EHLO reply, HELO fallback,
 * pipelining or not, per-recipient results, every kind of protocol
 * violation, 421 and abort), and against the real server engine
 * (smtp_server.c) in memory: dot-stuffing and BDAT round trips of
 * hostile content, LMTP per-recipient results, XFORWARD end to end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unit_util.h"

#include "gw_buf.h"
#include "gw_err.h"
#include "smtp_client.h"
#include "smtp_server.h"

/* ---------------------------------------------------------------- */
/* Scripted servers. */

static struct smtp_client *
client(enum smtp_mode mode)
{
	struct smtp_client_conf conf = {0};
	struct smtp_client *c;

	conf.mode = mode;
	conf.helo_name = "gw.test";
	assert_non_null(c = smtp_client_new(&conf));
	return c;
}

/* The client's output must be exactly want; it is then consumed. */
static void
expect_out(struct smtp_client *c, const char *want)
{
	size_t len;
	const unsigned char *p = smtp_client_output(c, &len);

	if (len != strlen(want) || memcmp(p, want, len) != 0)
		fail_msg("output '%.*s' want '%s'", (int)len, (const char *)p,
			 want);
	smtp_client_output_consume(c, len);
}

static void
feed(struct smtp_client *c, const char *s)
{
	assert_int_equal(smtp_client_feed(c, s, strlen(s)), 0);
}

static void
expect_result(struct smtp_client *c, size_t i, int code, const char *enh,
	      const char *text)
{
	const struct smtp_reply *r = smtp_client_result(c, i);

	assert_non_null(r);
	if (r->code != code || strcmp(r->enhanced, enh) != 0 ||
	    strstr(r->text, text) == NULL)
		fail_msg("rcpt %zu: %d %s %s, want %d %s ...%s...", i, r->code,
			 r->enhanced, r->text, code, enh, text);
}

#define EHLO_PIPE                                                       \
	"250-mx.test hello\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"      \
	"250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n"                   \
	"250-XFORWARD NAME ADDR IDENT\r\n250 SMTPUTF8\r\n"

static const char *const rcpts3[] = {"r1@d.test", "r2@d.test", "r3@d.test"};

/* A session to READY with the extensions of ehlo. */
static struct smtp_client *
open_session(enum smtp_mode mode, const char *ehlo)
{
	struct smtp_client *c = client(mode);

	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_WAIT);
	expect_out(c, "");
	feed(c, "220 mx.test ESMTP\r\n");
	expect_out(c, mode == SMTP_MODE_LMTP ? "LHLO gw.test\r\n" :
					       "EHLO gw.test\r\n");
	feed(c, ehlo);
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_READY);
	return c;
}

static void
test_pipelined_transaction(void **state)
{
	struct smtp_client *c = open_session(SMTP_MODE_SMTP, EHLO_PIPE);
	struct smtp_xforward xf = {0};
	struct smtp_client_txn t = {0};
	size_t used;

	assert_int_equal(smtp_client_server_ext(c),
			 SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_8BITMIME |
			     SMTP_EXT_ENHANCEDSTATUSCODES | SMTP_EXT_XFORWARD |
			     SMTP_EXT_SMTPUTF8);
	assert_int_equal(smtp_client_server_size(c), 1000);
	xf.set = (1u << SMTP_XF_NAME) | (1u << SMTP_XF_ADDR) |
		 (1u << SMTP_XF_HELO) | (1u << SMTP_XF_IDENT);
	snprintf(xf.value[SMTP_XF_NAME], sizeof(xf.value[0]), "up.test");
	snprintf(xf.value[SMTP_XF_ADDR], sizeof(xf.value[0]), "192.0.2.1");
	snprintf(xf.value[SMTP_XF_HELO], sizeof(xf.value[0]), "not offered");
	snprintf(xf.value[SMTP_XF_IDENT], sizeof(xf.value[0]), "Q 1+=");
	t.mail_from = "a@b.test";
	t.size = 500;
	t.body = SMTP_BODY_8BITMIME;
	t.rcpts = rcpts3;
	t.nrcpt = 3;
	t.xforward = &xf;
	assert_int_equal(smtp_client_begin(c, &t), 0);
	expect_out(c, "XFORWARD NAME=up.test ADDR=192.0.2.1 IDENT=Q+201+2B+3D\r\n"
		      "MAIL FROM:<a@b.test> SIZE=500 BODY=8BITMIME\r\n"
		      "RCPT TO:<r1@d.test>\r\nRCPT TO:<r2@d.test>\r\n"
		      "RCPT TO:<r3@d.test>\r\nDATA\r\n");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_WAIT);
	/* Replies in pieces. */
	feed(c, "250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550-5.1.1 No");
	feed(c, " such\r\n550 5.1.1 user here\r\n250 2.1.5 Ok\r\n354 go\r\n");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_CONTENT);
	assert_int_equal(smtp_client_content(c, ".a\nb\r\n..\r", 9, &used), 0);
	assert_int_equal(used, 9);
	assert_int_equal(smtp_client_content(c, "\n.\r\nend", 7, &used), 0);
	assert_int_equal(smtp_client_content_end(c), 0);
	expect_out(c, "..a\r\nb\r\n...\r\n..\r\nend\r\n.\r\n");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_WAIT);
	feed(c, "250 2.0.0 Ok: queued as X\r\n");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_READY);
	expect_result(c, 0, 250, "2.0.0", "queued as X");
	expect_result(c, 1, 550, "5.1.1", "No such user here");
	expect_result(c, 2, 250, "2.0.0", "queued as X");
	assert_int_equal(smtp_client_quit(c), 0);
	expect_out(c, "QUIT\r\n");
	feed(c, "221 2.0.0 Bye\r\n");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_CLOSED);
	assert_int_equal(smtp_client_error(c)->code, 0);
	smtp_client_free(c);
}

/* Without PIPELINING: one command at a time; a refused MAIL ends it. */
static void
test_lockstep(void **state)
{
	struct smtp_client *c = open_session(SMTP_MODE_SMTP,
					     "250-mx\r\n250 8BITMIME\r\n");
	struct smtp_client_txn t = {0};

	t.mail_from = "";
	t.rcpts = rcpts3;
	t.nrcpt = 2;
	t.body = SMTP_BODY_7BIT;
	assert_int_equal(smtp_client_begin(c, &t), 0);
	expect_out(c, "MAIL FROM:<> BODY=7BIT\r\n");
	feed(c, "250 ok\r\n");
	expect_out(c, "RCPT TO:<r1@d.test>\r\n");
	feed(c, "450 busy\r\n");
	expect_out(c, "RCPT TO:<r2@d.test>\r\n");
	feed(c, "550 5.1.1 unknown\r\n");
	/* No valid recipient: no DATA, but RSET. */
	expect_out(c, "RSET\r\n");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_WAIT);
	feed(c, "250 ok\r\n");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_READY);
	expect_result(c, 0, 450, "", "busy");
	expect_result(c, 1, 550, "5.1.1", "unknown");
	/* A refused MAIL is every recipient's result. */
	assert_int_equal(smtp_client_begin(c, &t), 0);
	expect_out(c, "MAIL FROM:<> BODY=7BIT\r\n");
	feed(c, "452 4.3.1 full\r\n");
	expect_out(c, "");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_READY);
	expect_result(c, 0, 452, "4.3.1", "full");
	expect_result(c, 1, 452, "4.3.1", "full");
	smtp_client_free(c);
}

/* Pipelined, every RCPT refused, and the server still says 354. */
static void
test_354_without_recipients(void **state)
{
	struct smtp_client *c = open_session(SMTP_MODE_SMTP,
					     "250-mx\r\n250 PIPELINING\r\n");
	struct smtp_client_txn t = {0};

	t.mail_from = "a@b.test";
	t.rcpts = rcpts3;
	t.nrcpt = 1;
	t.body = SMTP_BODY_8BITMIME; /* not offered: no BODY= */
	assert_int_equal(smtp_client_begin(c, &t), 0);
	expect_out(c, "MAIL FROM:<a@b.test>\r\nRCPT TO:<r1@d.test>\r\nDATA\r\n");
	feed(c, "250 ok\r\n550 no\r\n354 go ahead\r\n");
	expect_out(c, ".\r\n");
	feed(c, "554 no valid recipients\r\n");
	expect_out(c, "RSET\r\n");
	feed(c, "250 ok\r\n");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_READY);
	expect_result(c, 0, 550, "", "no");
	/* DATA refused after a good RCPT: the recipient gets it. */
	assert_int_equal(smtp_client_begin(c, &t), 0);
	expect_out(c, "MAIL FROM:<a@b.test>\r\nRCPT TO:<r1@d.test>\r\nDATA\r\n");
	feed(c, "250 ok\r\n250 ok\r\n451 4.3.0 later\r\n250 ok\r\n");
	expect_out(c, "RSET\r\n");
	expect_result(c, 0, 451, "4.3.0", "later");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_READY);
	smtp_client_free(c);
}

static void
test_helo_fallback_and_bad_greeting(void **state)
{
	struct smtp_client *c = client(SMTP_MODE_SMTP);

	feed(c, "220-mx.test\r\n220 ESMTP\r\n");
	expect_out(c, "EHLO gw.test\r\n");
	feed(c, "502 5.5.1 no EHLO\r\n");
	expect_out(c, "HELO gw.test\r\n");
	feed(c, "250 mx.test\r\n");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_READY);
	assert_int_equal(smtp_client_server_ext(c), 0);
	smtp_client_free(c);

	c = client(SMTP_MODE_SMTP);
	feed(c, "554 5.3.2 go away\r\n");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_CLOSED);
	assert_int_equal(smtp_client_error(c)->code, 554);
	assert_string_equal(smtp_client_error(c)->enhanced, "5.3.2");
	assert_int_equal(smtp_client_quit(c), GW_ERR_INVALID);
	smtp_client_free(c);

	/* LMTP does not fall back. */
	c = client(SMTP_MODE_LMTP);
	feed(c, "220 mx\r\n");
	expect_out(c, "LHLO gw.test\r\n");
	feed(c, "500 5.5.1 what\r\n");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_CLOSED);
	assert_int_equal(smtp_client_error(c)->code, 500);
	smtp_client_free(c);
}

/* Protocol violations: every recipient without a result gets 451 4.5.0. */
static void
test_violations(void **state)
{
	static const struct {
		const char *name;
		const char *replies;
		const char *what;
	} v[] = {
	    {"garbage", "250 ok\r\nhello\r\n", "malformed reply line"},
	    {"code 600", "250 ok\r\n600 x\r\n", "malformed reply line"},
	    {"no separator", "250 ok\r\n250x\r\n", "malformed reply line"},
	    {"code change", "250 ok\r\n250-a\r\n251 b\r\n", "code changed"},
	    {"354 to RCPT", "250 ok\r\n354 x\r\n", "unexpected 3xx"},
	    {"2xx to DATA", "250 ok\r\n250 ok\r\n250 ok\r\n250 DATA?\r\n",
	     "unexpected reply to DATA"},
	    {"NUL", "250 ok\r\n250 o\0k\r\n", "malformed reply line"},
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct smtp_client *c = open_session(SMTP_MODE_SMTP,
			"250-mx\r\n250 PIPELINING\r\n");
		struct smtp_client_txn t = {0};
		size_t n = strlen(v[i].replies);

		if (strcmp(v[i].name, "NUL") == 0)
			n = sizeof("250 ok\r\n250 o\0k\r\n") - 1;
		t.mail_from = "a@b.test";
		t.rcpts = rcpts3;
		t.nrcpt = 2;
		assert_int_equal(smtp_client_begin(c, &t), 0);
		assert_int_equal(smtp_client_feed(c, v[i].replies, n), 0);
		if (smtp_client_state(c) != SMTP_CLIENT_CLOSED)
			fail_msg("%s: not closed", v[i].name);
		expect_result(c, 1, 451, "4.5.0", v[i].what);
		assert_int_equal(smtp_client_error(c)->code, 451);
		smtp_client_free(c);
	}
}

static void
test_reply_ceilings(void **state)
{
	struct smtp_client_conf conf = {0};
	struct smtp_client *c;
	char line[700];
	int i;

	conf.helo_name = "gw.test";
	conf.line_max = 512;
	conf.lines_max = 3;
	assert_non_null(c = smtp_client_new(&conf));
	memset(line, 'x', sizeof(line));
	memcpy(line, "220 ", 4);
	assert_int_equal(smtp_client_feed(c, line, sizeof(line)), 0);
	feed(c, "\r\n");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_CLOSED);
	assert_substr(smtp_client_error(c)->text, "reply line too long");
	smtp_client_free(c);

	assert_non_null(c = smtp_client_new(&conf));
	for (i = 0; i < 4; i++)
		feed(c, "220-x\r\n");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_CLOSED);
	assert_substr(smtp_client_error(c)->text, "too many reply lines");
	smtp_client_free(c);

	/* Unsolicited replies are violations; bytes after close are
	 * ignored. */
	c = open_session(SMTP_MODE_SMTP, "250 mx\r\n");
	feed(c, "250 what\r\n");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_CLOSED);
	assert_substr(smtp_client_error(c)->text, "unexpected reply");
	feed(c, "garbage\r\n");
	smtp_client_free(c);
}

static void
test_421_and_abort(void **state)
{
	struct smtp_client *c = open_session(SMTP_MODE_SMTP,
					     "250-mx\r\n250 PIPELINING\r\n");
	struct smtp_client_txn t = {0};

	t.mail_from = "a@b.test";
	t.rcpts = rcpts3;
	t.nrcpt = 3;
	assert_int_equal(smtp_client_begin(c, &t), 0);
	feed(c, "250 ok\r\n550 no\r\n421 4.4.2 mx.test timeout\r\n");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_CLOSED);
	expect_result(c, 0, 550, "", "no");
	expect_result(c, 1, 421, "4.4.2", "timeout");
	expect_result(c, 2, 421, "4.4.2", "timeout");
	smtp_client_free(c);

	c = open_session(SMTP_MODE_SMTP, "250-mx\r\n250 PIPELINING\r\n");
	assert_int_equal(smtp_client_begin(c, &t), 0);
	feed(c, "250 ok\r\n250 ok\r\n");
	smtp_client_abort(c, "read timeout");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_CLOSED);
	expect_result(c, 0, 451, "4.4.2", "read timeout");
	expect_result(c, 2, 451, "4.4.2", "read timeout");
	smtp_client_free(c);
}

static void
test_refused_before_sending(void **state)
{
	struct smtp_client *c = open_session(SMTP_MODE_SMTP, EHLO_PIPE);
	struct smtp_client_txn t = {0};
	static const char *const bad[] = {"a b@c.test"};
	static const char *const utf[] = {"j\xc3\xb6@b.test"};

	t.mail_from = "a@b.test";
	t.rcpts = rcpts3;
	t.nrcpt = 1;
	t.size = 1001;
	assert_int_equal(smtp_client_begin(c, &t), 0);
	expect_out(c, "");
	expect_result(c, 0, 552, "5.3.4", "size");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_READY);
	t.size = 0;
	t.rcpts = bad;
	assert_int_equal(smtp_client_begin(c, &t), GW_ERR_INVALID);
	t.rcpts = utf;
	assert_int_equal(smtp_client_begin(c, &t), GW_ERR_INVALID);
	t.smtputf8 = 1;
	assert_int_equal(smtp_client_begin(c, &t), 0);
	expect_out(c, "MAIL FROM:<a@b.test> SMTPUTF8\r\n"
		      "RCPT TO:<j\xc3\xb6@b.test>\r\nDATA\r\n");
	smtp_client_free(c);

	/* SMTPUTF8 needed and not offered. */
	c = open_session(SMTP_MODE_SMTP, "250 mx\r\n");
	assert_int_equal(smtp_client_begin(c, &t), 0);
	expect_out(c, "");
	expect_result(c, 0, 550, "5.6.7", "SMTPUTF8");
	t.nrcpt = 0;
	assert_int_equal(smtp_client_begin(c, &t), GW_ERR_INVALID);
	smtp_client_free(c);
}

/* LMTP with BDAT: a refused chunk is every accepted recipient's
 * result, and BDAT LAST gets one reply, not one per recipient. */
static void
test_bdat_refused(void **state)
{
	struct smtp_client *c = open_session(SMTP_MODE_LMTP,
		"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
	struct smtp_client_txn t = {0};
	size_t used;

	t.mail_from = "a@b.test";
	t.rcpts = rcpts3;
	t.nrcpt = 3;
	assert_int_equal(smtp_client_begin(c, &t), 0);
	expect_out(c, "MAIL FROM:<a@b.test>\r\nRCPT TO:<r1@d.test>\r\n"
		      "RCPT TO:<r2@d.test>\r\nRCPT TO:<r3@d.test>\r\n");
	feed(c, "250 ok\r\n250 ok\r\n550 5.1.1 no\r\n250 ok\r\n");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_CONTENT);
	assert_int_equal(smtp_client_content(c, ".a\n", 3, &used), 0);
	expect_out(c, "BDAT 4\r\n.a\r\n");
	assert_int_equal(smtp_client_content(c, "b", 1, &used), 0);
	assert_int_equal(smtp_client_content_end(c), 0);
	expect_out(c, "BDAT 1\r\nbBDAT 2\r\n\r\nBDAT 0 LAST\r\n");
	feed(c, "552 5.3.4 too big\r\n503 5.5.1 no transaction\r\n");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_WAIT);
	feed(c, "503 5.5.1 no transaction\r\n503 5.5.1 no transaction\r\n");
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_READY);
	expect_out(c, "");
	expect_result(c, 0, 552, "5.3.4", "too big");
	expect_result(c, 1, 550, "5.1.1", "no");
	expect_result(c, 2, 552, "5.3.4", "too big");
	smtp_client_free(c);
}

/* XFORWARD lines stay within 512 bytes. */
static void
test_xforward_split(void **state)
{
	struct smtp_client *c = open_session(SMTP_MODE_SMTP,
		"250-mx\r\n250-XFORWARD NAME ADDR PORT PROTO HELO IDENT "
		"SOURCE\r\n250 PIPELINING\r\n");
	struct smtp_xforward xf = {0};
	struct smtp_client_txn t = {0};
	const unsigned char *p;
	size_t len, i, start = 0, lines = 0;
	int a;

	for (a = 0; a < SMTP_XF_COUNT; a++) {
		xf.set |= 1u << a;
		memset(xf.value[a], a == SMTP_XF_HELO || a == SMTP_XF_PROTO ?
		       ' ' : 'v',
		       a == SMTP_XF_PROTO ? 150 : SMTP_XF_VALUE_MAX);
	}
	t.mail_from = "a@b.test";
	t.rcpts = rcpts3;
	t.nrcpt = 1;
	t.xforward = &xf;
	assert_int_equal(smtp_client_begin(c, &t), 0);
	p = smtp_client_output(c, &len);
	for (i = 0; i < len; i++) {
		if (p[i] != '\n')
			continue;
		assert_true(i + 1 - start <= 512);
		lines++;
		start = i + 1;
	}
	/* 7 attributes of about 260 bytes each (PROTO 450 encoded): one
	 * XFORWARD line each, then MAIL, RCPT, DATA; HELO (255 spaces,
	 * 765 bytes encoded) fits no line and is left out. */
	assert_int_equal(lines, 9);
	{
		char *all = strndup((const char *)p, len);

		assert_non_null(all);
		assert_null(strstr(all, "HELO="));
		assert_non_null(strstr(all, "PROTO=+20+20"));
		free(all);
	}
	assert_memory_equal(p, "XFORWARD NAME=", 14);
	smtp_client_free(c);
}

/* ---------------------------------------------------------------- */
/* Against the real server engine. */

struct sowner {
	struct smtp_server *s;
	struct gw_buf content;
	struct gw_buf ev;
	enum smtp_mode mode;
};

static void
so_mail(void *arg, struct smtp_server *s, struct smtp_reply *r)
{
	struct sowner *o = arg;
	const struct smtp_xforward *xf = smtp_server_xforward(s);
	int a;

	gw_buf_addf(&o->ev, "mail:%s,%llu,%d,%d", smtp_server_mail_from(s),
		    (unsigned long long)smtp_server_mail_size(s),
		    (int)smtp_server_mail_body(s), smtp_server_mail_smtputf8(s));
	for (a = 0; a < SMTP_XF_COUNT; a++)
		if (xf->set & (1u << a))
			gw_buf_addf(&o->ev, ",%s=%s", smtp_proto_xf_name(a),
				    xf->value[a]);
	gw_buf_adds(&o->ev, ";");
}

static void
so_rcpt(void *arg, struct smtp_server *s, const char *rcpt,
	struct smtp_reply *r)
{
	if (strncmp(rcpt, "unknown", 7) == 0)
		smtp_proto_reply_set(r, 550, "5.1.1", "No such user");
}

static int
so_content(void *arg, const unsigned char *p, size_t n)
{
	struct sowner *o = arg;

	return gw_buf_add(&o->content, p, n);
}

static void
so_end(void *arg, struct smtp_server *s)
{
	struct sowner *o = arg;
	struct smtp_reply r;
	size_t n = smtp_server_rcpt_count(s), i;

	for (i = 0; i < (o->mode == SMTP_MODE_LMTP ? n : 1); i++) {
		if (strstr(smtp_server_rcpt(s, i), "defer") != NULL)
			smtp_proto_reply_set(&r, 452, "4.2.2", "Mailbox full");
		else
			smtp_proto_reply_set(&r, 250, "2.0.0", "Delivered %s",
					     smtp_server_rcpt(s, i));
		assert_int_equal(smtp_server_content_reply(s, &r), 0);
	}
}

static const struct smtp_server_ops sops = {
    so_mail, so_rcpt, NULL, so_content, so_end, NULL,
};

/* Moves bytes both ways until neither side has anything to say. */
static void
pump(struct smtp_client *c, struct sowner *o, size_t chunk)
{
	int moved;

	do {
		const unsigned char *p;
		size_t len, used, k;

		moved = 0;
		p = smtp_client_output(c, &len);
		if (len > 0 && smtp_server_state(o->s) == SMTP_SERVER_INPUT) {
			k = chunk != 0 && chunk < len ? chunk : len;
			assert_int_equal(smtp_server_feed(o->s, p, k, &used), 0);
			smtp_client_output_consume(c, used);
			moved |= used > 0;
		}
		p = smtp_server_output(o->s, &len);
		if (len > 0) {
			k = chunk != 0 && chunk < len ? chunk : len;
			assert_int_equal(smtp_client_feed(c, p, k), 0);
			smtp_server_output_consume(o->s, k);
			moved = 1;
		}
	} while (moved);
}

/* Canonical form: every CRLF, LF or CR a CRLF, and a final CRLF. */
static size_t
canonical(const char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
			continue;
		if (in[i] == '\r' || in[i] == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
		} else {
			out[o++] = in[i];
		}
	}
	if (o > 0 && out[o - 1] != '\n') {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	return o;
}

static const char *const contents[] = {
    "",
    ".",
    "..",
    ".\r\n",
    "\r\n.\r\n",
    "a\r\n.\r\nb",
    "Subject: t\r\n\r\n.leading\r\n..two\r\n...\r\nx.\r\n.",
    "bare\n.\nlf\n",
    "bare\r.\rcr\r",
    "mixed\r\n\n\r\r\n.\n\r.\r\n",
    "\r",
    "no end",
    "8bit \xc3\xa9t\xc3\xa9\r\n\x00 nul\r\n",
};

static void
roundtrip(enum smtp_mode mode, unsigned ext, size_t chunk, size_t piece)
{
	struct smtp_server_conf sconf = {0};
	struct smtp_client_conf cconf = {0};
	static const char *const rc[] = {"r1@d.test", "unknown@d.test",
					 "r3-defer@d.test"};
	struct smtp_xforward xf = {0};
	struct sowner o = {0};
	struct smtp_client *c;
	size_t i, j;

	sconf.mode = mode;
	sconf.hostname = "mx.test";
	sconf.ext = ext;
	o.mode = mode;
	gw_buf_init(&o.content, 1 << 20);
	gw_buf_init(&o.ev, 1 << 20);
	assert_non_null(o.s = smtp_server_new(&sconf, &sops, &o));
	assert_int_equal(smtp_server_start(o.s), 0);
	cconf.mode = mode;
	cconf.helo_name = "gw.test";
	assert_non_null(c = smtp_client_new(&cconf));
	pump(c, &o, chunk);
	if (smtp_client_state(c) != SMTP_CLIENT_READY)
		fail_msg("not ready: %d %s", smtp_client_state(c),
			 smtp_client_error(c)->text);
	xf.set = (1u << SMTP_XF_NAME) | (1u << SMTP_XF_IDENT);
	snprintf(xf.value[SMTP_XF_NAME], sizeof(xf.value[0]), "up stream");
	snprintf(xf.value[SMTP_XF_IDENT], sizeof(xf.value[0]), "4Q+x=");
	for (i = 0; i < sizeof(contents) / sizeof(contents[0]); i++) {
		struct smtp_client_txn t = {0};
		size_t n = strlen(contents[i]), pos = 0, used, cn;
		char want[256];

		if (i == sizeof(contents) / sizeof(contents[0]) - 1)
			n = sizeof("8bit \xc3\xa9t\xc3\xa9\r\n\x00 nul\r\n") - 1;
		gw_buf_reset(&o.content);
		gw_buf_reset(&o.ev);
		t.mail_from = "a@b.test";
		t.size = n;
		t.body = SMTP_BODY_8BITMIME;
		t.rcpts = rc;
		t.nrcpt = 3;
		t.xforward = &xf;
		assert_int_equal(smtp_client_begin(c, &t), 0);
		pump(c, &o, chunk);
		if (smtp_client_state(c) != SMTP_CLIENT_CONTENT)
			fail_msg("content %zu (mode %d ext %x chunk %zu): state "
				 "%d %s; r0 %d %s", i, mode, ext, chunk,
				 smtp_client_state(c), smtp_client_error(c)->text,
				 smtp_client_result(c, 0)->code,
				 smtp_client_result(c, 0)->text);
		while (pos < n) {
			size_t k = piece < n - pos ? piece : n - pos;

			assert_int_equal(smtp_client_content(c, contents[i] + pos,
							     k, &used), 0);
			pos += used;
			pump(c, &o, chunk);
		}
		assert_int_equal(smtp_client_content_end(c), 0);
		pump(c, &o, chunk);
		assert_int_equal(smtp_client_state(c), SMTP_CLIENT_READY);
		cn = canonical(contents[i], n, want);
		if (o.content.len != cn ||
		    (cn > 0 && memcmp(o.content.data, want, cn) != 0))
			fail_msg("content %zu (mode %d ext %x chunk %zu piece "
				 "%zu): got %zu bytes, want %zu", i, mode, ext,
				 chunk, piece, o.content.len, cn);
		gw_buf_add(&o.ev, "", 1);
		if (ext & SMTP_EXT_XFORWARD)
			assert_substr((char *)o.ev.data,
				      ",NAME=up stream,IDENT=4Q+x=;");
		assert_substr((char *)o.ev.data, "mail:a@b.test,");
		if (ext & SMTP_EXT_SIZE) {
			char sz[32];

			snprintf(sz, sizeof(sz), "a@b.test,%zu,", n);
			assert_substr((char *)o.ev.data, sz);
		}
		expect_result(c, 0, 250, "2.0.0", "Delivered r1@d.test");
		expect_result(c, 1, 550, "5.1.1", "No such user");
		if (mode == SMTP_MODE_LMTP)
			expect_result(c, 2, 452, "4.2.2", "Mailbox full");
		else
			expect_result(c, 2, 250, "2.0.0", "Delivered r1@d.test");
		for (j = 0; j < 3; j++)
			assert_non_null(smtp_client_result(c, j));
	}
	assert_int_equal(smtp_client_quit(c), 0);
	pump(c, &o, chunk);
	assert_int_equal(smtp_client_state(c), SMTP_CLIENT_CLOSED);
	assert_int_equal(smtp_server_state(o.s), SMTP_SERVER_CLOSE);
	smtp_client_free(c);
	smtp_server_free(o.s);
	gw_buf_free(&o.content);
	gw_buf_free(&o.ev);
}

static void
test_roundtrip(void **state)
{
	static const unsigned exts[] = {
	    SMTP_EXT_ALL,
	    SMTP_EXT_ALL & ~SMTP_EXT_CHUNKING,
	    SMTP_EXT_ALL & ~SMTP_EXT_PIPELINING,
	    SMTP_EXT_ENHANCEDSTATUSCODES,
	};
	static const size_t chunks[] = {0, 1, 5};
	static const size_t pieces[] = {1, 3, 1000};
	size_t e, c, p;
	int m;

	for (m = 0; m < 2; m++)
		for (e = 0; e < sizeof(exts) / sizeof(exts[0]); e++)
			for (c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++)
				for (p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++)
					roundtrip(m ? SMTP_MODE_LMTP : SMTP_MODE_SMTP,
						  exts[e], chunks[c], pieces[p]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pipelined_transaction),
	    cmocka_unit_test(test_lockstep),
	    cmocka_unit_test(test_354_without_recipients),
	    cmocka_unit_test(test_helo_fallback_and_bad_greeting),
	    cmocka_unit_test(test_violations),
	    cmocka_unit_test(test_reply_ceilings),
	    cmocka_unit_test(test_421_and_abort),
	    cmocka_unit_test(test_refused_before_sending),
	    cmocka_unit_test(test_xforward_split),
	    cmocka_unit_test(test_bdat_refused),
	    cmocka_unit_test(test_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
