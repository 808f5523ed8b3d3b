/*
 * test_smtp_server.c - gateway/daemon/smtp_server.c and smtp_path.c:
 * every command, the envelope and XFORWARD events, DATA unstuffing and
 * BDAT chunks, LMTP's per-recipient replies, pipelining and the owner's
 * wait, the ceilings, and garbage.  Each case is a whole conversation
 * fed whole, one byte at a time and in odd chunks: the transcripts, the
 * events and the content must be the same every time.  The RFC 5321
 * path parser has its own table.
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
#include "smtp_path.h"
#include "smtp_server.h"

/* ---------------------------------------------------------------- */
/* The owner: records events and content, answers by rule. */

struct owner {
	struct smtp_server *s;
	struct gw_buf out;	/* everything the session wrote */
	struct gw_buf ev;	/* "mail:...;rcpt:...;begin;end:N;reset;" */
	struct gw_buf content;
	int fail_begin;		/* content_begin fails with GW_ERR_IO */
	int fail_content;	/* content fails with GW_ERR_IO */
	int sync_reply;		/* reply from within content_end */
	enum smtp_mode mode;
};

static void
on_mail(void *arg, struct smtp_server *s, struct smtp_reply *r)
{
	struct owner *o = arg;
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
	if (strncmp(smtp_server_mail_from(s), "refuse@", 7) == 0)
		smtp_proto_reply_set(r, 550, "5.7.1", "Sender refused");
}

static void
on_rcpt(void *arg, struct smtp_server *s, const char *rcpt,
	struct smtp_reply *r)
{
	struct owner *o = arg;

	gw_buf_addf(&o->ev, "rcpt:%s;", rcpt);
	if (strncmp(rcpt, "unknown@", 8) == 0)
		smtp_proto_reply_set(r, 550, "5.1.1", "No such user");
}

static int
on_begin(void *arg, struct smtp_server *s)
{
	struct owner *o = arg;

	gw_buf_adds(&o->ev, "begin;");
	return o->fail_begin ? GW_ERR_IO : 0;
}

static int
on_content(void *arg, const unsigned char *p, size_t n)
{
	struct owner *o = arg;

	assert_true(n > 0);
	if (o->fail_content)
		return GW_ERR_IO;
	return gw_buf_add(&o->content, p, n);
}

static void answer(struct owner *o);

static void
on_end(void *arg, struct smtp_server *s)
{
	struct owner *o = arg;

	gw_buf_addf(&o->ev, "end:%zu;", smtp_server_replies_due(s));
	if (o->sync_reply)
		answer(o);
}

static void
on_reset(void *arg, struct smtp_server *s)
{
	struct owner *o = arg;

	gw_buf_adds(&o->ev, "reset;");
}

static const struct smtp_server_ops ops = {
    on_mail, on_rcpt, on_begin, on_content, on_end, on_reset,
};

/* The content replies: by recipient in LMTP ("defer" 451, "bounce"
 * 554), one for the message in SMTP (by its first recipient). */
static void
answer(struct owner *o)
{
	size_t n = smtp_server_rcpt_count(o->s), i;
	struct smtp_reply r;

	while (smtp_server_replies_due(o->s) > 0) {
		const char *rc;

		i = o->mode == SMTP_MODE_LMTP ?
			n - smtp_server_replies_due(o->s) : 0;
		rc = smtp_server_rcpt(o->s, i);

		if (strstr(rc, "defer") != NULL)
			smtp_proto_reply_set(&r, 451, "4.2.0", "Try later %s",
					     rc);
		else if (strstr(rc, "bounce") != NULL)
			smtp_proto_reply_set(&r, 554, "5.7.1", "Bounced %s", rc);
		else
			smtp_proto_reply_set(&r, 250, "2.0.0", "Ok %s", rc);
		assert_int_equal(smtp_server_content_reply(o->s, &r), 0);
	}
}

static void
drain(struct owner *o)
{
	size_t len;
	const unsigned char *p = smtp_server_output(o->s, &len);

	assert_int_equal(gw_buf_add(&o->out, p, len), 0);
	smtp_server_output_consume(o->s, len);
}

/* Feeds in[0..n) in pieces of chunk bytes (0: whole), answering and
 * draining as a worker would. */
static void
drive(struct owner *o, const char *in, size_t n, size_t chunk)
{
	size_t pos = 0, used;
	int stuck = 0;

	drain(o);
	while (pos < n) {
		size_t k = chunk == 0 || chunk > n - pos ? n - pos : chunk;
		enum smtp_server_state st;

		assert_int_equal(smtp_server_feed(o->s, in + pos, k, &used), 0);
		pos += used;
		st = smtp_server_state(o->s);
		if (st == SMTP_SERVER_WAIT)
			answer(o);
		drain(o);
		if (st == SMTP_SERVER_CLOSE)
			break;
		if (used == 0 && st == SMTP_SERVER_INPUT)
			assert_true(++stuck < 3);
	}
	if (smtp_server_state(o->s) == SMTP_SERVER_WAIT)
		answer(o);
	drain(o);
}

struct scase {
	const char *name;
	enum smtp_mode mode;
	unsigned ext;		/* 0: SMTP_EXT_ALL */
	size_t line_max;
	size_t rcpt_max;
	uint64_t size_max;
	unsigned errors_max;
	int fail_begin;
	int fail_content;
	const char *in;
	const char *out;	/* the whole transcript after the greeting */
	const char *ev;
	const char *content;
	int closed;
};

#define EHLO_ALL                                                        \
	"250-mx.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"             \
	"250-SMTPUTF8\r\n250-SIZE 52428800\r\n"                         \
	"250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n"                   \
	"250-XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\r\n"        \
	"250 HELP\r\n"
#define EHLO "EHLO client.test\r\n"
#define LHLO "LHLO client.test\r\n"
#define MAILOK "250 2.1.0 Ok\r\n"
#define RCPTOK "250 2.1.5 Ok\r\n"
#define GO "354 End data with <CR><LF>.<CR><LF>\r\n"

static const struct scase cases[] = {
    {"smtp transaction, dot-unstuffing", SMTP_MODE_SMTP, 0, 0, 0, 0, 0, 0, 0,
     EHLO "MAIL FROM:<a@b.test> SIZE=100 BODY=8BITMIME\r\n"
     "RCPT TO:<c@d.test>\r\nDATA\r\n"
     "Subject: x\r\n\r\n..dot\r\n.x\r\n...\r\nlast\r\n.\r\nQUIT\r\n",
     EHLO_ALL MAILOK RCPTOK GO "250 2.0.0 Ok c@d.test\r\n221 2.0.0 Bye\r\n",
     "mail:a@b.test,100,2,0;rcpt:c@d.test;begin;end:1;",
     "Subject: x\r\n\r\n.dot\r\nx\r\n..\r\nlast\r\n", 1},
    {"empty content, bare LF and CR are content", SMTP_MODE_SMTP, 0, 0, 0,
     0, 0, 0, 0,
     EHLO "MAIL FROM:<>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n.\r\n"
     "MAIL FROM:<>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n"
     "a\n.\nb\r.\rc\r\n.\r\n",
     EHLO_ALL MAILOK RCPTOK GO "250 2.0.0 Ok c@d.test\r\n" MAILOK RCPTOK GO
     "250 2.0.0 Ok c@d.test\r\n",
     "mail:,0,0,0;rcpt:c@d.test;begin;end:1;"
     "mail:,0,0,0;rcpt:c@d.test;begin;end:1;",
     "a\n.\nb\r.\rc\r\n", 0},
    {"smtp refusals by the owner", SMTP_MODE_SMTP, 0, 0, 0, 0, 0, 0, 0,
     EHLO "MAIL FROM:<refuse@b.test>\r\nMAIL FROM:<a@b.test>\r\n"
     "RCPT TO:<unknown@d.test>\r\nRCPT TO:<bounce@d.test>\r\n"
     "DATA\r\nhi\r\n.\r\n",
     EHLO_ALL "550 5.7.1 Sender refused\r\n" MAILOK
     "550 5.1.1 No such user\r\n" RCPTOK GO
     "554 5.7.1 Bounced bounce@d.test\r\n",
     "mail:refuse@b.test,0,0,0;mail:a@b.test,0,0,0;rcpt:unknown@d.test;"
     "rcpt:bounce@d.test;begin;end:1;",
     "hi\r\n", 0},
    {"lmtp: one reply per accepted recipient", SMTP_MODE_LMTP, 0, 0, 0, 0,
     0, 0, 0,
     LHLO "MAIL FROM:<a@b.test>\r\nRCPT TO:<lmtp-ok@d.test>\r\n"
     "RCPT TO:<unknown@d.test>\r\nRCPT TO:<lmtp-defer@d.test>\r\n"
     "RCPT TO:<lmtp-bounce@d.test>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n",
     EHLO_ALL MAILOK RCPTOK "550 5.1.1 No such user\r\n" RCPTOK RCPTOK GO
     "250 2.0.0 Ok lmtp-ok@d.test\r\n"
     "451 4.2.0 Try later lmtp-defer@d.test\r\n"
     "554 5.7.1 Bounced lmtp-bounce@d.test\r\n221 2.0.0 Bye\r\n",
     "mail:a@b.test,0,0,0;rcpt:lmtp-ok@d.test;rcpt:unknown@d.test;"
     "rcpt:lmtp-defer@d.test;rcpt:lmtp-bounce@d.test;begin;end:3;",
     "x\r\n", 1},
    {"lmtp refuses HELO and EHLO", SMTP_MODE_LMTP, 0, 0, 0, 0, 0, 0, 0,
     "HELO x\r\nEHLO x\r\nMAIL FROM:<a@b.test>\r\n",
     "500 5.5.1 Error: this is an LMTP server, use LHLO\r\n"
     "500 5.5.1 Error: this is an LMTP server, use LHLO\r\n"
     "503 5.5.1 Error: send LHLO first\r\n",
     "", "", 0},
    {"smtp refuses LHLO", SMTP_MODE_SMTP, 0, 0, 0, 0, 0, 0, 0, LHLO,
     "500 5.5.1 Error: command not recognized\r\n", "", "", 0},
    {"bdat chunks", SMTP_MODE_SMTP, 0, 0, 0, 0, 0, 0, 0,
     EHLO "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
     "BDAT 5\r\nhel.\nBDAT 0\r\nbdat 8 last\r\n\r\n.\r\n.\r\nNOOP\r\n",
     EHLO_ALL MAILOK RCPTOK "250 2.0.0 5 bytes received\r\n"
     "250 2.0.0 0 bytes received\r\n250 2.0.0 Ok c@d.test\r\n"
     "250 2.0.0 Ok\r\n",
     "mail:a@b.test,0,0,0;rcpt:c@d.test;begin;end:1;",
     "hel.\n\r\n.\r\n.\r\n", 0},
    {"bdat 0 last in lmtp; data after bdat", SMTP_MODE_LMTP, 0, 0, 0, 0, 0,
     0, 0,
     LHLO "MAIL FROM:<a@b.test>\r\nRCPT TO:<lmtp1@d.test>\r\n"
     "RCPT TO:<lmtp2-defer@d.test>\r\nBDAT 3\r\nabcDATA\r\n"
     "BDAT 0 LAST\r\n",
     EHLO_ALL MAILOK RCPTOK RCPTOK "250 2.0.0 3 bytes received\r\n"
     "503 5.5.1 Error: DATA after BDAT\r\n250 2.0.0 Ok lmtp1@d.test\r\n"
     "451 4.2.0 Try later lmtp2-defer@d.test\r\n",
     "mail:a@b.test,0,0,0;rcpt:lmtp1@d.test;rcpt:lmtp2-defer@d.test;"
     "begin;end:2;",
     "abc", 0},
    {"bdat without a transaction is read and refused", SMTP_MODE_SMTP, 0,
     0, 0, 0, 0, 0, 0,
     EHLO "BDAT 6\r\nQUIT\r\nBDAT 4 LAST\r\nRSETNOOP\r\n",
     EHLO_ALL "503 5.5.1 Error: need MAIL command\r\n"
     "503 5.5.1 Error: need MAIL command\r\n250 2.0.0 Ok\r\n",
     "", "", 0},
    {"bdat syntax error closes", SMTP_MODE_SMTP, 0, 0, 0, 0, 0, 0, 0,
     EHLO "BDAT x\r\nNOOP\r\n",
     EHLO_ALL "501 5.5.4 Syntax: BDAT count [LAST]\r\n"
     "421 4.5.0 mx.test Error: lost BDAT synchronisation\r\n",
     "", "", 1},
    {"bdat not advertised", SMTP_MODE_SMTP,
     SMTP_EXT_ALL & ~SMTP_EXT_CHUNKING, 0, 0, 0, 0, 0, 0, "BDAT 1\r\n",
     "500 5.5.1 Error: command not recognized\r\n", "", "", 0},
    {"sequence errors", SMTP_MODE_SMTP, 0, 0, 0, 0, 0, 0, 0,
     "MAIL FROM:<a@b.test>\r\n" EHLO "RCPT TO:<c@d.test>\r\nDATA\r\n"
     "MAIL FROM:<a@b.test>\r\nMAIL FROM:<a@b.test>\r\nDATA\r\n"
     "RCPT TO:<unknown@d.test>\r\nDATA\r\nRSET\r\n",
     "503 5.5.1 Error: send EHLO/HELO first\r\n" EHLO_ALL
     "503 5.5.1 Error: need MAIL command\r\n"
     "503 5.5.1 Error: need MAIL command\r\n" MAILOK
     "503 5.5.1 Error: nested MAIL command\r\n"
     "503 5.5.1 Error: need RCPT command\r\n"
     "550 5.1.1 No such user\r\n"
     "554 5.5.1 Error: no valid recipients\r\n250 2.0.0 Ok\r\n",
     "mail:a@b.test,0,0,0;rcpt:unknown@d.test;reset;", "", 0},
    {"helo: no extensions, no parameters", SMTP_MODE_SMTP, 0, 0, 0, 0, 0,
     0, 0,
     "HELO client.test\r\nMAIL FROM:<a@b.test> SIZE=10\r\n"
     "MAIL FROM:<a@b.test>\r\nEHLO\r\nHELO\r\n",
     "250 mx.test\r\n555 5.5.4 Error: parameters need EHLO\r\n" MAILOK
     "501 5.5.4 Syntax: EHLO hostname\r\n"
     "501 5.5.4 Syntax: HELO hostname\r\n",
     "mail:a@b.test,0,0,0;", "", 0},
    {"mail parameters", SMTP_MODE_SMTP, 0, 0, 0, 1000, 0, 0, 0,
     EHLO "MAIL FROM:<a@b.test> SIZE=1001\r\n"
     "MAIL FROM:<a@b.test> SIZE=x\r\n"
     "MAIL FROM:<a@b.test> BODY=BINARYMIME\r\n"
     "MAIL FROM:<a@b.test> FOO=bar\r\n"
     "MAIL FROM:<a@b.test> SIZE=1 SIZE=1\r\n"
     "MAIL FROM:<a@b.test> SMTPUTF8=yes\r\n"
     "MAIL FROM:<a@b.test> =x\r\n"
     "MAIL FROM:a@b.test\r\n"
     "MAIL FROM:<a@b.test>junk\r\n"
     "MAIL FROM: <a@b.test> size=1000 body=7bit smtputf8\r\n",
     "250-mx.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
     "250-SMTPUTF8\r\n250-SIZE 1000\r\n"
     "250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n"
     "250-XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\r\n"
     "250 HELP\r\n"
     "552 5.3.4 Error: message size exceeds fixed limit\r\n"
     "501 5.5.4 Error: bad SIZE parameter\r\n"
     "501 5.5.4 Error: unsupported BODY parameter\r\n"
     "555 5.5.4 Error: unsupported MAIL parameter\r\n"
     "501 5.5.4 Error: bad SIZE parameter\r\n"
     "501 5.5.4 Error: bad SMTPUTF8 parameter\r\n"
     "501 5.5.4 Error: bad MAIL parameter syntax\r\n"
     "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
     "501 5.1.7 Error: bad sender address syntax\r\n" MAILOK,
     "mail:a@b.test,1000,1,1;", "", 0},
    {"addresses", SMTP_MODE_SMTP, 0, 0, 0, 0, 0, 0, 0,
     EHLO "MAIL FROM:<j\xc3\xb6@b.test>\r\n"
     "MAIL FROM:<@r1.test,@r2.test:\"a b\\\"c\"@[192.0.2.1]>\r\n"
     "RCPT TO:<j\xc3\xb6@b.test>\r\nRCPT TO:<Postmaster>\r\n"
     "RCPT TO:<a@[IPv6:2001:db8::1]>\r\nRCPT TO:<a@[300.1.1.1]>\r\n"
     "RCPT TO:<a..b@c.test>\r\nRCPT TO:<a@-c.test>\r\n"
     "RCPT TO:<>\r\nRCPT TO:<a@b.test> NOTIFY=NEVER\r\nRCPT TO:x\r\n",
     EHLO_ALL "553 5.6.7 Error: non-ASCII sender address needs SMTPUTF8\r\n"
     MAILOK "553 5.6.7 Error: non-ASCII recipient address needs SMTPUTF8\r\n"
     RCPTOK RCPTOK "501 5.1.3 Error: bad recipient address syntax\r\n"
     "501 5.1.3 Error: bad recipient address syntax\r\n"
     "501 5.1.3 Error: bad recipient address syntax\r\n"
     "501 5.1.3 Error: bad recipient address syntax\r\n"
     "555 5.5.4 Error: unsupported RCPT parameter\r\n"
     "501 5.5.4 Syntax: RCPT TO:<address>\r\n",
     "mail:\"a b\\\"c\"@[192.0.2.1],0,0,0;rcpt:Postmaster;"
     "rcpt:a@[IPv6:2001:db8::1];",
     "", 0},
    {"smtputf8 transaction", SMTP_MODE_SMTP, 0, 0, 0, 0, 0, 0, 0,
     EHLO "MAIL FROM:<j\xc3\xb6@b.test> SMTPUTF8\r\n"
     "RCPT TO:<\xe2\x82\xac@\xc3\xa9.test>\r\nRCPT TO:<\xc3(@b.test>\r\n",
     EHLO_ALL MAILOK RCPTOK "501 5.1.3 Error: bad recipient address "
     "syntax\r\n",
     "mail:j\xc3\xb6@b.test,0,0,1;rcpt:\xe2\x82\xac@\xc3\xa9.test;", "", 0},
    {"xforward", SMTP_MODE_SMTP, 0, 0, 0, 0, 0, 0, 0,
     EHLO "XFORWARD NAME=spike.porcupine.org ADDR=168.100.189.2 "
     "PROTO=ESMTP\r\nXFORWARD HELO=x+20y IDENT=4Q8Rx SOURCE=REMOTE "
     "NAME=[UNAVAILABLE]\r\nMAIL FROM:<a@b.test>\r\n"
     "XFORWARD NAME=x\r\nRCPT TO:<c@d.test>\r\nDATA\r\n.\r\n"
     "MAIL FROM:<a@b.test>\r\nXFORWARD\r\nXFORWARD FOO=1\r\n"
     "XFORWARD NAME=a+2\r\n",
     EHLO_ALL "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n" MAILOK
     "503 5.5.1 Error: XFORWARD inside a transaction\r\n" RCPTOK GO
     "250 2.0.0 Ok c@d.test\r\n" MAILOK
     "503 5.5.1 Error: XFORWARD inside a transaction\r\n"
     "503 5.5.1 Error: XFORWARD inside a transaction\r\n"
     "503 5.5.1 Error: XFORWARD inside a transaction\r\n",
     "mail:a@b.test,0,0,0,ADDR=168.100.189.2,PROTO=ESMTP,HELO=x y,"
     "IDENT=4Q8Rx,SOURCE=REMOTE;rcpt:c@d.test;begin;end:1;"
     "mail:a@b.test,0,0,0;",
     "", 0},
    {"xforward syntax", SMTP_MODE_SMTP, 0, 0, 0, 0, 0, 0, 0,
     EHLO "XFORWARD\r\nXFORWARD FOO=1\r\nXFORWARD NAME=a+2\r\n"
     "XFORWARD NAME\r\nXFORWARD NAME=a+0D\r\n",
     EHLO_ALL "501 5.5.4 Syntax: XFORWARD attribute=value...\r\n"
     "501 5.5.4 Error: bad XFORWARD attribute\r\n"
     "501 5.5.4 Error: bad XFORWARD attribute value\r\n"
     "501 5.5.4 Error: bad XFORWARD attribute\r\n"
     "501 5.5.4 Error: bad XFORWARD attribute value\r\n",
     "", "", 0},
    {"xforward not advertised", SMTP_MODE_SMTP,
     SMTP_EXT_ALL & ~SMTP_EXT_XFORWARD, 0, 0, 0, 0, 0, 0,
     "XFORWARD NAME=x\r\n",
     "500 5.5.1 Error: command not recognized\r\n", "", "", 0},
    {"small commands", SMTP_MODE_SMTP, 0, 0, 0, 0, 0, 0, 0,
     "NOOP\r\nnoop anything\r\nHELP\r\nVRFY postmaster\r\nVRFY\r\n"
     "EXPN list\r\nRSET\r\nRSET x\r\nSTARTTLS\r\nQUIT x\r\nquit\r\nNOOP\r\n",
     "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
     "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP "
     "VRFY XFORWARD\r\n"
     "252 2.5.2 Cannot VRFY user, but will accept message\r\n"
     "501 5.5.4 Syntax: VRFY address\r\n"
     "500 5.5.1 Error: command not recognized\r\n250 2.0.0 Ok\r\n"
     "501 5.5.4 Syntax: RSET\r\n"
     "500 5.5.1 Error: command not recognized\r\n"
     "501 5.5.4 Syntax: QUIT\r\n221 2.0.0 Bye\r\n",
     "", "", 1},
    {"garbage", SMTP_MODE_SMTP, 0, 0, 0, 0, 20, 0, 0,
     "NO\0OP\r\nNOOP\nNO\rOP\r\n\r\n\xff\xfe\r\n"
     "MAIL\r\nMAILFROM:<a@b>\r\n",
     "500 5.5.2 Error: NUL in command\r\n"
     "500 5.5.2 Error: bare LF received\r\n"
     "500 5.5.2 Error: bare CR received\r\n"
     "500 5.5.2 Error: bad syntax\r\n"
     "500 5.5.1 Error: command not recognized\r\n"
     "503 5.5.1 Error: send EHLO/HELO first\r\n"
     "500 5.5.1 Error: command not recognized\r\n",
     "", "", 0},
    {"too many errors", SMTP_MODE_SMTP, 0, 0, 0, 0, 3, 0, 0,
     "x\r\ny\r\nz\r\nNOOP\r\n",
     "500 5.5.1 Error: command not recognized\r\n"
     "500 5.5.1 Error: command not recognized\r\n"
     "500 5.5.1 Error: command not recognized\r\n"
     "421 4.7.0 mx.test Error: too many errors\r\n",
     "", "", 1},
    {"line ceiling", SMTP_MODE_SMTP, 0, 0, 0, 0, 0, 0, 0,
     "NOOP "
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nNOOP\r\n",
     "500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n", "", "", 0},
    {"a larger line ceiling", SMTP_MODE_SMTP, 0, 1024, 0, 0, 0, 0, 0,
     "NOOP "
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
     "250 2.0.0 Ok\r\n", "", "", 0},
    {"recipient ceiling", SMTP_MODE_SMTP, 0, 0, 2, 0, 0, 0, 0,
     EHLO "MAIL FROM:<a@b.test>\r\nRCPT TO:<r1@d.test>\r\n"
     "RCPT TO:<r2@d.test>\r\nRCPT TO:<r3@d.test>\r\n",
     EHLO_ALL MAILOK RCPTOK RCPTOK "452 4.5.3 Error: too many recipients\r\n",
     "mail:a@b.test,0,0,0;rcpt:r1@d.test;rcpt:r2@d.test;", "", 0},
    {"size ceiling: data read to its end, then 552", SMTP_MODE_LMTP, 0, 0,
     0, 10, 0, 0, 0,
     LHLO "MAIL FROM:<a@b.test>\r\nRCPT TO:<r1@d.test>\r\n"
     "RCPT TO:<r2@d.test>\r\nDATA\r\n0123456789\r\n.\r\nNOOP\r\n",
     "250-mx.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
     "250-SMTPUTF8\r\n250-SIZE 10\r\n"
     "250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n"
     "250-XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\r\n"
     "250 HELP\r\n" MAILOK RCPTOK RCPTOK GO
     "552 5.3.4 Error: message size exceeds fixed limit\r\n"
     "552 5.3.4 Error: message size exceeds fixed limit\r\n250 2.0.0 Ok\r\n",
     "mail:a@b.test,0,0,0;rcpt:r1@d.test;rcpt:r2@d.test;begin;reset;", "", 0},
    {"size ceiling in a bdat chunk", SMTP_MODE_SMTP, 0, 0, 0, 4, 0, 0, 0,
     EHLO "MAIL FROM:<a@b.test>\r\nRCPT TO:<r1@d.test>\r\n"
     "BDAT 3\r\nabcBDAT 3\r\ndefBDAT 1 LAST\r\ng",
     "250-mx.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
     "250-SMTPUTF8\r\n250-SIZE 4\r\n"
     "250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n"
     "250-XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\r\n"
     "250 HELP\r\n" MAILOK RCPTOK "250 2.0.0 3 bytes received\r\n"
     "552 5.3.4 Error: message size exceeds fixed limit\r\n"
     "503 5.5.1 Error: need MAIL command\r\n",
     "mail:a@b.test,0,0,0;rcpt:r1@d.test;begin;reset;", "abc", 0},
    {"the owner cannot open its spool", SMTP_MODE_SMTP, 0, 0, 0, 0, 0, 1, 0,
     EHLO "MAIL FROM:<a@b.test>\r\nRCPT TO:<r1@d.test>\r\nDATA\r\n",
     EHLO_ALL MAILOK RCPTOK "451 4.3.0 Error: local error in processing\r\n",
     "mail:a@b.test,0,0,0;rcpt:r1@d.test;begin;reset;", "", 0},
    {"the owner's spool fails", SMTP_MODE_SMTP, 0, 0, 0, 0, 0, 0, 1,
     EHLO "MAIL FROM:<a@b.test>\r\nRCPT TO:<r1@d.test>\r\nDATA\r\nabc\r\n"
     ".\r\nRSET\r\n",
     EHLO_ALL MAILOK RCPTOK GO "451 4.3.0 Error: local error in "
     "processing\r\n250 2.0.0 Ok\r\n",
     "mail:a@b.test,0,0,0;rcpt:r1@d.test;begin;reset;", "", 0},
    {"no enhanced status codes", SMTP_MODE_SMTP,
     SMTP_EXT_PIPELINING | SMTP_EXT_SIZE, 0, 0, 0, 0, 0, 0,
     EHLO "MAIL FROM:<a@b.test> BODY=8BITMIME\r\nFOO\r\n",
     "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250 HELP\r\n"
     "555 Error: unsupported MAIL parameter\r\n"
     "500 Error: command not recognized\r\n",
     "", "", 0},
};

static struct owner *
owner_new(const struct scase *c, int sync_reply)
{
	struct smtp_server_conf conf = {0};
	struct owner *o = calloc(1, sizeof(*o));

	assert_non_null(o);
	conf.mode = c->mode;
	conf.hostname = "mx.test";
	conf.ext = c->ext != 0 ? c->ext : SMTP_EXT_ALL;
	conf.line_max = c->line_max;
	conf.rcpt_max = c->rcpt_max;
	conf.size_max = c->size_max;
	conf.errors_max = c->errors_max;
	gw_buf_init(&o->out, 1 << 20);
	gw_buf_init(&o->ev, 1 << 20);
	gw_buf_init(&o->content, 1 << 20);
	o->fail_begin = c->fail_begin;
	o->fail_content = c->fail_content;
	o->sync_reply = sync_reply;
	o->mode = c->mode;
	assert_non_null(o->s = smtp_server_new(&conf, &ops, o));
	return o;
}

static void
owner_free(struct owner *o)
{
	smtp_server_free(o->s);
	gw_buf_free(&o->out);
	gw_buf_free(&o->ev);
	gw_buf_free(&o->content);
	free(o);
}

static void
test_conversations(void **state)
{
	static const size_t chunks[] = {0, 1, 2, 3, 7, 64};
	size_t i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct scase *c = &cases[i];
		size_t inlen = strlen(c->in);

		/* Inputs with a NUL: up to the last "\r\n" literal. */
		if (strcmp(c->name, "garbage") == 0)
			inlen = sizeof("NO\0OP\r\nNOOP\nNO\rOP\r\n\r\n\xff\xfe\r\n"
				       "MAIL\r\nMAILFROM:<a@b>\r\n") - 1;
		for (j = 0; j < sizeof(chunks) / sizeof(chunks[0]) * 2; j++) {
			struct owner *o = owner_new(c, j % 2);
			const char *greet = c->mode == SMTP_MODE_LMTP ?
				"220 mx.test LMTP\r\n" : "220 mx.test ESMTP\r\n";
			char want[8192];

			assert_int_equal(smtp_server_start(o->s), 0);
			drive(o, c->in, inlen, chunks[j / 2]);
			snprintf(want, sizeof(want), "%s%s", greet, c->out);
			gw_buf_add(&o->out, "", 1);
			gw_buf_add(&o->ev, "", 1);
			gw_buf_add(&o->content, "", 1);
			if (strcmp((char *)o->out.data, want) != 0)
				fail_msg("%s (chunk %zu): transcript\n%s\nwant\n%s",
					 c->name, chunks[j / 2],
					 (char *)o->out.data, want);
			if (strcmp((char *)o->ev.data, c->ev) != 0)
				fail_msg("%s (chunk %zu): events\n%s\nwant\n%s",
					 c->name, chunks[j / 2],
					 (char *)o->ev.data, c->ev);
			if (strcmp((char *)o->content.data, c->content) != 0)
				fail_msg("%s (chunk %zu): content '%s' want '%s'",
					 c->name, chunks[j / 2],
					 (char *)o->content.data, c->content);
			assert_int_equal(smtp_server_state(o->s) ==
					 SMTP_SERVER_CLOSE, c->closed);
			owner_free(o);
		}
	}
}

/* Pipelined commands after the content wait for the owner's reply. */
static void
test_wait_for_owner(void **state)
{
	static const struct scase c = {.name = "wait", .mode = SMTP_MODE_SMTP};
	static const char in[] = EHLO "MAIL FROM:<a@b.test>\r\n"
				 "RCPT TO:<c@d.test>\r\nDATA\r\nx\r\n.\r\n"
				 "MAIL FROM:<e@b.test>\r\nQUIT\r\n";
	struct owner *o = owner_new(&c, 0);
	struct smtp_reply r;
	size_t used, len;
	const char *tail = strstr(in, "MAIL FROM:<e@");

	assert_int_equal(smtp_server_feed(o->s, in, strlen(in), &used), 0);
	assert_int_equal(smtp_server_state(o->s), SMTP_SERVER_WAIT);
	assert_int_equal(used, (size_t)(tail - in));
	assert_int_equal(smtp_server_replies_due(o->s), 1);
	/* Feeding while waiting uses nothing. */
	assert_int_equal(smtp_server_feed(o->s, tail, strlen(tail), &used), 0);
	assert_int_equal(used, 0);
	/* An invalid reply is refused; a valid one ends the wait. */
	smtp_proto_reply_set(&r, 354, NULL, "no");
	assert_int_equal(smtp_server_content_reply(o->s, &r), GW_ERR_INVALID);
	smtp_proto_reply_set(&r, 250, "2.0.0", "queued as ABC");
	assert_int_equal(smtp_server_content_reply(o->s, &r), 0);
	assert_int_equal(smtp_server_content_reply(o->s, &r), GW_ERR_INVALID);
	assert_int_equal(smtp_server_state(o->s), SMTP_SERVER_INPUT);
	assert_int_equal(smtp_server_feed(o->s, tail, strlen(tail), &used), 0);
	assert_int_equal(used, strlen(tail));
	assert_int_equal(smtp_server_state(o->s), SMTP_SERVER_CLOSE);
	drain(o);
	gw_buf_add(&o->out, "", 1);
	assert_string_equal((char *)o->out.data,
			    EHLO_ALL MAILOK RCPTOK GO
			    "250 2.0.0 queued as ABC\r\n" MAILOK
			    "221 2.0.0 Bye\r\n");
	/* QUIT inside the second transaction reset it. */
	assert_string_equal((char *)o->ev.data + o->ev.len - 6, "reset;");
	(void)len;
	owner_free(o);
}

/* A client that never reads: input stops at the output watermark. */
static void
test_flush_watermark(void **state)
{
	static const struct scase c = {.name = "flush", .mode = SMTP_MODE_SMTP};
	struct owner *o = owner_new(&c, 0);
	char *in = malloc(6 * 10000);
	size_t i, used, total = 0, len;
	int flushes = 0;

	assert_non_null(in);
	for (i = 0; i < 10000; i++)
		memcpy(in + 6 * i, "NOOP\r\n", 6);
	while (total < 6 * 10000) {
		assert_int_equal(smtp_server_feed(o->s, in + total,
						  6 * 10000 - total, &used), 0);
		total += used;
		(void)smtp_server_output(o->s, &len);
		assert_true(len < SMTP_SERVER_OUT_HIGH + 64);
		if (total < 6 * 10000) {
			assert_int_equal(smtp_server_state(o->s),
					 SMTP_SERVER_FLUSH);
			flushes++;
		}
		smtp_server_output_consume(o->s, len);
	}
	assert_true(flushes > 0);
	free(in);
	owner_free(o);
}

/* The owner ends the session: 421, and an open transaction is reset. */
static void
test_close(void **state)
{
	static const struct scase c = {.name = "close", .mode = SMTP_MODE_SMTP};
	struct owner *o = owner_new(&c, 0);
	static const char in[] = EHLO "MAIL FROM:<a@b.test>\r\n";
	size_t used;

	assert_int_equal(smtp_server_feed(o->s, in, strlen(in), &used), 0);
	assert_int_equal(smtp_server_close(o->s, NULL), 0);
	assert_int_equal(smtp_server_state(o->s), SMTP_SERVER_CLOSE);
	drain(o);
	gw_buf_add(&o->out, "", 1);
	assert_substr((char *)o->out.data,
		      "421 4.3.2 mx.test Service shutting down\r\n");
	gw_buf_add(&o->ev, "", 1);
	assert_string_equal((char *)o->ev.data, "mail:a@b.test,0,0,0;reset;");
	/* Nothing more is used. */
	assert_int_equal(smtp_server_feed(o->s, "NOOP\r\n", 6, &used), 0);
	assert_int_equal(used, 0);
	owner_free(o);
}

/* The owner's own close reply; LMTP's HELP; no extensions at all. */
static void
test_close_reply_and_bare_ehlo(void **state)
{
	static const struct scase c = {.name = "lmtp", .mode = SMTP_MODE_LMTP};
	struct smtp_server_conf conf = {0};
	struct owner *o = owner_new(&c, 0);
	static const char in[] = EHLO "MAIL FROM:<a@b> SIZE=1\r\n"
				 "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
				 "DATA\r\n.\r\n";
	struct smtp_server *s;
	struct smtp_reply r;
	size_t used, len;
	const unsigned char *p;

	assert_int_equal(smtp_server_feed(o->s, "HELP\r\n", 6, &used), 0);
	smtp_proto_reply_set(&r, 421, "4.4.2", "idle\r\ntoo long");
	assert_int_equal(smtp_server_close(o->s, &r), 0);
	assert_int_equal(smtp_server_close(o->s, NULL), 0);
	drain(o);
	gw_buf_add(&o->out, "", 1);
	assert_string_equal((char *)o->out.data,
			    "214 2.0.0 Commands: LHLO MAIL RCPT DATA BDAT RSET "
			    "NOOP QUIT HELP VRFY XFORWARD\r\n"
			    "421 4.4.2 idle  too long\r\n");
	owner_free(o);

	conf.hostname = "mx.test";
	assert_non_null(s = smtp_server_new(&conf, NULL, NULL));
	p = smtp_server_output(s, &len);
	assert_non_null(p);
	assert_int_equal(len, 0);
	assert_int_equal(smtp_server_feed(s, in, strlen(in), &used), 0);
	assert_int_equal(used, strlen(in));
	/* No owner: the content reply is still due. */
	assert_int_equal(smtp_server_state(s), SMTP_SERVER_WAIT);
	p = smtp_server_output(s, &len);
	assert_int_equal(len, strlen("250-mx.test\r\n250 HELP\r\n"
				     "555 Error: unsupported MAIL parameter\r\n"
				     "250 Ok\r\n250 Ok\r\n"
				     "354 End data with <CR><LF>.<CR><LF>\r\n"));
	assert_memory_equal(p, "250-mx.test\r\n250 HELP\r\n555 Error", 32);
	smtp_server_free(s);
}

static void
test_bad_conf(void **state)
{
	struct smtp_server_conf conf = {0};

	assert_null(smtp_server_new(&conf, NULL, NULL));
	conf.hostname = "bad host";
	assert_null(smtp_server_new(&conf, NULL, NULL));
	conf.hostname = "mx.test";
	conf.line_max = 100;
	assert_null(smtp_server_new(&conf, NULL, NULL));
	conf.line_max = SMTP_SERVER_LINE_LIMIT + 1;
	assert_null(smtp_server_new(&conf, NULL, NULL));
	conf.line_max = 0;
	smtp_server_free(smtp_server_new(&conf, NULL, NULL));
}

/* ---------------------------------------------------------------- */
/* The RFC 5321 path parser. */

struct pcase {
	const char *in;
	unsigned flags;
	int rc;
	const char *want; /* the mailbox */
};

static const struct pcase pcases[] = {
    {"<a@b.test>", 0, 0, "a@b.test"},
    {"<a.b-c+d@sub.b-c.test>", 0, 0, "a.b-c+d@sub.b-c.test"},
    {"<>", SMTP_PATH_NULL_OK, 0, ""},
    {"<>", 0, GW_ERR_PARSE, ""},
    {"<postmaster>", SMTP_PATH_POSTMASTER, 0, "postmaster"},
    {"<postmaster>", 0, GW_ERR_PARSE, ""},
    {"<@a.test:x@b.test>", 0, 0, "x@b.test"},
    {"<@a.test,@c.test:x@b.test>", 0, 0, "x@b.test"},
    {"<@a.test,c.test:x@b.test>", 0, GW_ERR_PARSE, ""},
    {"<@a.test x@b.test>", 0, GW_ERR_PARSE, ""},
    {"<\"a b\"@b.test>", 0, 0, "\"a b\"@b.test"},
    {"<\"a\\\"b\"@b.test>", 0, 0, "\"a\\\"b\"@b.test"},
    {"<\"a\x01\"@b.test>", 0, GW_ERR_PARSE, ""},
    {"<\"ab@b.test>", 0, GW_ERR_PARSE, ""},
    {"<a@[192.0.2.255]>", 0, 0, "a@[192.0.2.255]"},
    {"<a@[192.0.2.256]>", 0, GW_ERR_PARSE, ""},
    {"<a@[192.0.2]>", 0, GW_ERR_PARSE, ""},
    {"<a@[1922.0.2.1]>", 0, GW_ERR_PARSE, ""},
    {"<a@[IPv6:::1]>", 0, 0, "a@[IPv6:::1]"},
    {"<a@[ipv6:2001:db8::192.0.2.1]>", 0, 0, "a@[ipv6:2001:db8::192.0.2.1]"},
    {"<a@[IPv6:2001:db8:::1]>", 0, GW_ERR_PARSE, ""},
    {"<a@[IPv6:fe80::1%eth0]>", 0, GW_ERR_PARSE, ""},
    {"<a@[x-tag:foo]>", 0, GW_ERR_PARSE, ""},
    {"<a@[192.0.2.1>", 0, GW_ERR_PARSE, ""},
    {"<a@b.test", 0, GW_ERR_PARSE, ""},
    {"a@b.test>", 0, GW_ERR_PARSE, ""},
    {"<a@b.test>>", 0, 0, "a@b.test"},
    {"<a@>", 0, GW_ERR_PARSE, ""},
    {"<@b.test>", 0, GW_ERR_PARSE, ""},
    {"<a>", 0, GW_ERR_PARSE, ""},
    {"<.a@b.test>", 0, GW_ERR_PARSE, ""},
    {"<a.@b.test>", 0, GW_ERR_PARSE, ""},
    {"<a..b@b.test>", 0, GW_ERR_PARSE, ""},
    {"<a@b..test>", 0, GW_ERR_PARSE, ""},
    {"<a@b.test.>", 0, GW_ERR_PARSE, ""},
    {"<a@-b.test>", 0, GW_ERR_PARSE, ""},
    {"<a@b-.test>", 0, GW_ERR_PARSE, ""},
    {"<a@b_c.test>", 0, GW_ERR_PARSE, ""},
    {"<a b@b.test>", 0, GW_ERR_PARSE, ""},
    {"<a@b.test >", 0, GW_ERR_PARSE, ""},
    {"<(c)a@b.test>", 0, GW_ERR_PARSE, ""},
    {"<j\xc3\xb6@b.test>", 0, GW_ERR_UNSUPPORTED, ""},
    {"<j\xc3\xb6@b.test>", SMTP_PATH_UTF8, 0, "j\xc3\xb6@b.test"},
    {"<a@\xc3\xa9x.test>", SMTP_PATH_UTF8, 0, "a@\xc3\xa9x.test"},
    {"<\"\xc3\xa9\"@x.test>", SMTP_PATH_UTF8, 0, "\"\xc3\xa9\"@x.test"},
    {"<\xc0\xaf@x.test>", SMTP_PATH_UTF8, GW_ERR_PARSE, ""},
    {"<\xed\xa0\x80@x.test>", SMTP_PATH_UTF8, GW_ERR_PARSE, ""},
    {"<\xf4\x90\x80\x80@x.test>", SMTP_PATH_UTF8, GW_ERR_PARSE, ""},
    {"<\xe2\x82@x.test>", SMTP_PATH_UTF8, GW_ERR_PARSE, ""},
    {"<\xf0\x9f\x98\x80@x.test>", SMTP_PATH_UTF8, 0,
     "\xf0\x9f\x98\x80@x.test"},
    /* 64 octets of local part pass, 65 do not. */
    {"<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@b>", 0,
     0, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@b"},
    {"<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@b>",
     0, GW_ERR_LIMIT, ""},
    /* A 64-octet label passes no domain. */
    {"<a@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb>",
     0, GW_ERR_LIMIT, ""},
};

static void
test_path(void **state)
{
	char out[SMTP_MAILBOX_SIZE];
	size_t i, end;

	for (i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
		const struct pcase *c = &pcases[i];
		int rc = smtp_path_parse(c->in, strlen(c->in), c->flags, out,
					 sizeof(out), &end);

		if (rc != c->rc || strcmp(out, c->want) != 0)
			fail_msg("%s: rc %d want %d, '%s' want '%s'", c->in, rc,
				 c->rc, out, c->want);
		if (rc == 0 && c->in[end - 1] != '>')
			fail_msg("%s: end %zu", c->in, end);
		if (rc == 0 && c->want[0] != '\0' &&
		    smtp_path_check(c->want, c->flags) != 0)
			fail_msg("%s: check refuses '%s'", c->in, c->want);
	}
}

/* The path ceilings: 256 octets with the brackets. */
static void
test_path_ceiling(void **state)
{
	char in[600], out[SMTP_MAILBOX_SIZE];
	size_t end, n;

	/* "<a@" + labels + ">" of exactly 256 and 257 octets. */
	for (n = 256; n <= 257; n++) {
		size_t i, dom = n - 4;

		memcpy(in, "<a@", 3);
		for (i = 0; i < dom; i++)
			in[3 + i] = (i % 50 == 49) ? '.' : 'd';
		in[3 + dom] = '>';
		if (in[3 + dom - 1] == '.')
			in[3 + dom - 1] = 'd';
		assert_int_equal(smtp_path_parse(in, n, 0, out, sizeof(out), &end),
				 n == 256 ? 0 : GW_ERR_LIMIT);
	}
	assert_int_equal(smtp_path_parse("<a@b>", 5, 0, out, 10, &end),
			 GW_ERR_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_conversations),
	    cmocka_unit_test(test_wait_for_owner),
	    cmocka_unit_test(test_flush_watermark),
	    cmocka_unit_test(test_close),
	    cmocka_unit_test(test_close_reply_and_bare_ehlo),
	    cmocka_unit_test(test_bad_conf),
	    cmocka_unit_test(test_path),
	    cmocka_unit_test(test_path_ceiling),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
