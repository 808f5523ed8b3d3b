/*
 * fuzz_smtp_client.c - libFuzzer target for the SMTP/LMTP relay client
 * (gateway/daemon/smtp_client.c).
 *
 * The first input byte picks the mode, the chunk size and one of two
 * games:
 *
 *  - a hostile server (bit 7 clear): the rest of the input is what the
 *    server says.  The client opens the session, runs one transaction
 *    of three recipients with XFORWARD and a fixed content, then QUIT.
 *    Checks: the client never writes a line longer than 512 bytes
 *    before the content or one that is not CRLF-terminated; once the
 *    transaction is over (READY or CLOSED) every recipient has a result
 *    of 2xx, 4xx or 5xx with a valid enhanced code or none; fed a line
 *    at a time or in smaller chunks, the outcome is the same.
 *
 *  - a round trip (bit 7 set): the rest is a message's content, pushed
 *    in pieces through the client into the real server engine (DATA or
 *    BDAT by bit 1); the server must receive exactly the canonical
 *    form (every CR, LF, CRLF a CRLF; a final CRLF), and the results
 *    must be the server owner's.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "gw_buf.h"
#include "gw_err.h"
#include "smtp_client.h"
#include "smtp_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const rcpts[] = {"r1@d.fuzz", "r2@d.fuzz",
				    "Postmaster"};
static const char content[] = "Subject: x\r\n\r\n.dot\nbare\rcr\r\n.\r\nend";

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
check_results(struct smtp_client *c, uint64_t *h)
{
	size_t i;

	for (i = 0; i < smtp_client_rcpt_count(c); i++) {
		const struct smtp_reply *r = smtp_client_result(c, i);

		CHECK(r->code >= 200 && r->code <= 599);
		CHECK(r->code / 100 != 3);
		CHECK(r->enhanced[0] == '\0' ||
		      (smtp_proto_enhanced_valid(r->enhanced,
						 strlen(r->enhanced)) &&
		       r->enhanced[0] == '0' + r->code / 100));
		CHECK(strlen(r->text) < SMTP_TEXT_MAX);
		CHECK(strpbrk(r->text, "\r\n") == NULL);
		mix(h, r, sizeof(r->code));
		mix(h, r->enhanced, strlen(r->enhanced));
		mix(h, r->text, strlen(r->text));
	}
}

/* Takes the client's output, checking its command lines. */
static void
take_output(struct smtp_client *c, int in_content, uint64_t *h)
{
	size_t len, i, start = 0;
	const unsigned char *p = smtp_client_output(c, &len);

	mix(h, p, len);
	if (!in_content) {
		for (i = 0; i < len; i++) {
			if (p[i] != '\n')
				continue;
			CHECK(i > start && p[i - 1] == '\r');
			CHECK(i + 1 - start <= SMTP_LINE_MIN);
			start = i + 1;
		}
	}
	smtp_client_output_consume(c, len);
}

static uint64_t
hostile(const uint8_t *data, size_t size, int lmtp, size_t chunk)
{
	struct smtp_client_conf conf = {0};
	struct smtp_client_txn t = {0};
	struct smtp_xforward xf = {0};
	struct smtp_client *c;
	uint64_t h = 1469598103934665603ULL;
	size_t pos = 0, used;
	int began = 0, quit = 0, sent = 0, guard = 0;

	conf.mode = lmtp ? SMTP_MODE_LMTP : SMTP_MODE_SMTP;
	conf.helo_name = "gw.fuzz";
	conf.line_max = 600;
	conf.lines_max = 20;
	CHECK((c = smtp_client_new(&conf)) != NULL);
	xf.set = (1u << SMTP_XF_NAME) | (1u << SMTP_XF_ADDR);
	snprintf(xf.value[SMTP_XF_NAME], sizeof(xf.value[0]), "up.fuzz");
	snprintf(xf.value[SMTP_XF_ADDR], sizeof(xf.value[0]), "192.0.2.9");
	t.mail_from = "s@b.fuzz";
	t.size = sizeof(content) - 1;
	t.body = SMTP_BODY_8BITMIME;
	t.rcpts = rcpts;
	t.nrcpt = 3;
	t.xforward = &xf;
	while (guard++ < 100000) {
		enum smtp_client_state st = smtp_client_state(c);

		take_output(c, st == SMTP_CLIENT_CONTENT, &h);
		st = smtp_client_state(c);
		if (st == SMTP_CLIENT_CLOSED)
			break;
		if (st == SMTP_CLIENT_READY && !began) {
			CHECK(smtp_client_begin(c, &t) == 0);
			began = 1;
			continue;
		}
		if (st == SMTP_CLIENT_READY && !quit) {
			check_results(c, &h);
			CHECK(smtp_client_quit(c) == 0);
			quit = 1;
			continue;
		}
		if (st == SMTP_CLIENT_CONTENT) {
			if (!sent) {
				CHECK(smtp_client_content(c, content,
					sizeof(content) - 1, &used) == 0);
				CHECK(used == sizeof(content) - 1);
				sent = 1;
			} else {
				CHECK(smtp_client_content_end(c) == 0);
			}
			continue;
		}
		if (pos >= size)
			break;
		{
			/* Never past a line end, so that the owner acts
			 * after the same replies whatever the chunking. */
			const uint8_t *lf = memchr(data + pos, '\n', size - pos);
			size_t k = lf != NULL ? (size_t)(lf - (data + pos)) + 1 :
				   size - pos;

			if (chunk != 0 && chunk < k)
				k = chunk;
			CHECK(smtp_client_feed(c, data + pos, k) == 0);
			pos += k;
		}
	}
	CHECK(guard < 100000);
	smtp_client_abort(c, "end of input");
	CHECK(smtp_client_state(c) == SMTP_CLIENT_CLOSED);
	if (began)
		check_results(c, &h);
	smtp_client_free(c);
	return h;
}

/* ---------------------------------------------------------------- */

struct sink {
	struct gw_buf content;
};

static int
sink_content(void *arg, const unsigned char *p, size_t n)
{
	struct sink *k = arg;

	return gw_buf_add(&k->content, p, n);
}

static void
sink_end(void *arg, struct smtp_server *s)
{
	struct smtp_reply r;
	size_t i, n = smtp_server_replies_due(s);

	for (i = 0; i < n; i++) {
		smtp_proto_reply_set(&r, 250, "2.0.0", "ok %zu", i);
		CHECK(smtp_server_content_reply(s, &r) == 0);
	}
}

static const struct smtp_server_ops sink_ops = {
    NULL, NULL, NULL, sink_content, sink_end, NULL,
};

static void
pump(struct smtp_client *c, struct smtp_server *s)
{
	int moved, guard = 0;

	do {
		const unsigned char *p;
		size_t len, used;

		moved = 0;
		p = smtp_client_output(c, &len);
		if (len > 0 && smtp_server_state(s) == SMTP_SERVER_INPUT) {
			CHECK(smtp_server_feed(s, p, len, &used) == 0);
			smtp_client_output_consume(c, used);
			moved |= used > 0;
		}
		p = smtp_server_output(s, &len);
		if (len > 0) {
			CHECK(smtp_client_feed(c, p, len) == 0);
			smtp_server_output_consume(s, len);
			moved = 1;
		}
		CHECK(++guard < 1000000);
	} while (moved);
}

static void
roundtrip(const uint8_t *data, size_t size, int lmtp, int bdat,
	  size_t piece)
{
	struct smtp_server_conf sconf = {0};
	struct smtp_client_conf cconf = {0};
	struct smtp_client_txn t = {0};
	struct sink k;
	struct smtp_server *s;
	struct smtp_client *c;
	unsigned char *want = NULL;
	size_t pos = 0, used, i, w = 0;

	gw_buf_init(&k.content, 4 * size + 16);
	sconf.mode = cconf.mode = lmtp ? SMTP_MODE_LMTP : SMTP_MODE_SMTP;
	sconf.hostname = "mx.fuzz";
	sconf.ext = bdat ? SMTP_EXT_ALL : SMTP_EXT_ALL & ~SMTP_EXT_CHUNKING;
	sconf.size_max = 4 * size + 16;
	cconf.helo_name = "gw.fuzz";
	CHECK((s = smtp_server_new(&sconf, &sink_ops, &k)) != NULL);
	CHECK((c = smtp_client_new(&cconf)) != NULL);
	CHECK(smtp_server_start(s) == 0);
	pump(c, s);
	CHECK(smtp_client_state(c) == SMTP_CLIENT_READY);
	t.mail_from = "";
	t.rcpts = rcpts;
	t.nrcpt = 2;
	CHECK(smtp_client_begin(c, &t) == 0);
	pump(c, s);
	CHECK(smtp_client_state(c) == SMTP_CLIENT_CONTENT);
	while (pos < size) {
		size_t n = piece < size - pos ? piece : size - pos;

		CHECK(smtp_client_content(c, data + pos, n, &used) == 0);
		pos += used;
		pump(c, s);
	}
	CHECK(smtp_client_content_end(c) == 0);
	pump(c, s);
	CHECK(smtp_client_state(c) == SMTP_CLIENT_READY);
	for (i = 0; i < 2; i++)
		CHECK(smtp_client_result(c, i)->code == 250);
	/* The canonical form of the input. */
	CHECK((want = malloc(2 * size + 2)) != NULL);
	for (i = 0; i < size; i++) {
		if (data[i] == '\r' && i + 1 < size && data[i + 1] == '\n')
			continue;
		if (data[i] == '\r' || data[i] == '\n') {
			want[w++] = '\r';
			want[w++] = '\n';
		} else {
			want[w++] = data[i];
		}
	}
	if (w > 0 && want[w - 1] != '\n') {
		want[w++] = '\r';
		want[w++] = '\n';
	}
	CHECK(k.content.len == w);
	CHECK(w == 0 || memcmp(k.content.data, want, w) == 0);
	free(want);
	smtp_client_free(c);
	smtp_server_free(s);
	gw_buf_free(&k.content);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char opt;

	if (size < 1 || size > 64 * 1024)
		return 0;
	opt = data[0];
	if (opt & 0x80) {
		roundtrip(data + 1, size - 1, opt & 1, (opt & 2) != 0,
			  1 + (size_t)((opt >> 2) & 0x1f) * 37);
		return 0;
	}
	CHECK(hostile(data + 1, size - 1, opt & 1, 0) ==
	      hostile(data + 1, size - 1, opt & 1, 1 + ((opt >> 1) & 7)));
	return 0;
}
