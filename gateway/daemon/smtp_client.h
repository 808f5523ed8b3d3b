/*
 * smtp_client.h - the I/O-free SMTP/LMTP relay client that a smimegwd
 * worker runs towards the next hop (Postfix's reinjection smtpd).
 *
 * The owner writes out what the client queued, reads the server's
 * replies and pushes them in; the client decides what to send next.
 * Nothing here reads, writes or keeps a clock: connection and timeouts
 * are the owner's (smtp_client_abort() when the peer goes away).
 *
 *	c = smtp_client_new(&conf);
 *	loop on smtp_client_state(c):
 *	  SMTP_CLIENT_WAIT:    write smtp_client_output(), read, feed the
 *	                       bytes with smtp_client_feed();
 *	  SMTP_CLIENT_READY:   the session is open and idle: a finished
 *	                       transaction's results are in
 *	                       (smtp_client_result()); start the next with
 *	                       smtp_client_begin(), or smtp_client_quit();
 *	  SMTP_CLIENT_CONTENT: push the message with smtp_client_content()
 *	                       and end it with smtp_client_content_end();
 *	  SMTP_CLIENT_FLUSH:   write the output first;
 *	  SMTP_CLIENT_CLOSED:  write what is left and close; the results
 *	                       (and smtp_client_error()) say why.
 *
 * The session: the greeting (220), EHLO (LHLO in LMTP; in SMTP a 5xx
 * to EHLO falls back to HELO and no extension is used), the multiline
 * EHLO reply read into the extensions the server offers.  Each
 * transaction: XFORWARD (when offered and the transaction carries
 * attributes; only the attributes the server named; xtext, split so
 * that no line passes 512 bytes), MAIL FROM with SIZE=, BODY= and
 * SMTPUTF8 when offered, one RCPT TO per recipient, then DATA with
 * dot-stuffing, or BDAT chunks when the server offers CHUNKING and
 * PIPELINING.  With PIPELINING the commands up to DATA go in one
 * write; without it one at a time.  The content is sent canonical:
 * every line end (CRLF, bare LF, bare CR) becomes CRLF and the content
 * ends with CRLF, so what the next hop gets cannot end early on a bare
 * "LF . LF" (no SMTP smuggling through us), whatever we were given.
 *
 * Results: one reply per recipient: the RCPT's refusal, or the reply
 * to the content (in LMTP, one per accepted recipient).  A refused
 * MAIL or XFORWARD is every recipient's reply.  Anything the server
 * does against the protocol (a malformed or over-long reply line, too
 * many lines, a code that changes inside a multiline reply, a reply
 * nobody asked for, 354 where it makes no sense) closes the session
 * and gives every recipient without a result 451 4.5.0; a 421 gives
 * them the 421; smtp_client_abort() gives them 451 4.4.2.  A recipient
 * whose result is 2xx was accepted by the next hop.
 */
#ifndef SMTP_CLIENT_H
#define SMTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "smtp_proto.h"
#include "smtp_server.h"

struct smtp_client;

/* Defaults for the zero values of struct smtp_client_conf. */
#define SMTP_CLIENT_LINE_MAX 2048	/* a reply line, CRLF included */
#define SMTP_CLIENT_LINES_MAX 100	/* lines of one reply */
#define SMTP_CLIENT_RCPT_MAX 1000	/* recipients per transaction */
/* Output above which the client waits for the owner to write. */
#define SMTP_CLIENT_OUT_HIGH 65536
/* Largest content push used by one smtp_client_content() call. */
#define SMTP_CLIENT_CHUNK 65536

struct smtp_client_conf {
	enum smtp_mode mode;
	const char *helo_name;	/* our EHLO/LHLO name; copied; 1..255
				 * bytes of 33..126 */
	unsigned ext_mask;	/* extensions we may use: 0 means all */
	size_t line_max;	/* 0: SMTP_CLIENT_LINE_MAX; >= 512 */
	size_t lines_max;	/* 0: SMTP_CLIENT_LINES_MAX */
	size_t rcpt_max;	/* 0: SMTP_CLIENT_RCPT_MAX */
};

/* One transaction, as smtp_client_begin() takes it (copied). */
struct smtp_client_txn {
	const char *mail_from;	/* "" for the null sender */
	uint64_t size;		/* the content's size when known, else 0 */
	enum smtp_body body;
	int smtputf8;
	const char *const *rcpts;
	size_t nrcpt;
	const struct smtp_xforward *xforward; /* NULL: none */
};

enum smtp_client_state {
	SMTP_CLIENT_WAIT,
	SMTP_CLIENT_READY,
	SMTP_CLIENT_CONTENT,
	SMTP_CLIENT_FLUSH,
	SMTP_CLIENT_CLOSED,
};

/* NULL on allocation failure or an invalid conf. */
struct smtp_client *smtp_client_new(const struct smtp_client_conf *conf);
void smtp_client_free(struct smtp_client *c);

enum smtp_client_state smtp_client_state(const struct smtp_client *c);

/*
 * Pushes bytes from the server (any chunking).  Returns 0 (a protocol
 * violation is not an error of the call: the session closes and the
 * results say so), GW_ERR_NOMEM, GW_ERR_INVALID for NULL arguments.
 * Bytes after the session closed are ignored.
 */
int smtp_client_feed(struct smtp_client *c, const void *p, size_t n);

/* The queued output (borrowed, valid until the next call on c; never
 * NULL, len 0 when there is none). */
const unsigned char *smtp_client_output(const struct smtp_client *c,
					size_t *len);
void smtp_client_output_consume(struct smtp_client *c, size_t n);

/*
 * Starts a transaction (state READY only).  GW_ERR_INVALID when not
 * READY, for no recipient, more than rcpt_max, or an address that is
 * not valid path content (smtp_path_check(); UTF-8 only with
 * smtputf8).  When the server cannot take the message at all (SMTPUTF8
 * needed but not offered: 550 5.6.7; size above the server's SIZE:
 * 552 5.3.4) nothing is sent, every recipient gets that result at once
 * and the state stays READY.
 */
int smtp_client_begin(struct smtp_client *c, const struct smtp_client_txn *t);

/*
 * Pushes content (state CONTENT), any chunking, line ends in any form.
 * Uses at most SMTP_CLIENT_CHUNK bytes and sets *used; the owner pushes
 * the rest when the state is CONTENT again.  GW_ERR_INVALID when not in
 * CONTENT.
 */
int smtp_client_content(struct smtp_client *c, const void *p, size_t n,
			size_t *used);
/* Ends the content (CRLF . CRLF, or BDAT 0 LAST). */
int smtp_client_content_end(struct smtp_client *c);

/* Sends QUIT (READY), then CLOSED after the reply. 0 or GW_ERR_INVALID. */
int smtp_client_quit(struct smtp_client *c);
/* The connection is gone or timed out: every recipient without a
 * result gets 451 4.4.2 with why; the state is CLOSED. */
void smtp_client_abort(struct smtp_client *c, const char *why);

/* The transaction's recipients and their results (code 0 while
 * unknown). */
size_t smtp_client_rcpt_count(const struct smtp_client *c);
const struct smtp_reply *smtp_client_result(const struct smtp_client *c,
					    size_t i);
/* Why the session closed or could not start (code 0 when it did not). */
const struct smtp_reply *smtp_client_error(const struct smtp_client *c);
/* The extensions the server offered (SMTP_EXT_*) and its SIZE (0: none
 * or no limit). */
unsigned smtp_client_server_ext(const struct smtp_client *c);
uint64_t smtp_client_server_size(const struct smtp_client *c);

#endif
