/*
 * smtp_server.h - the I/O-free SMTP/LMTP server session that a
 * smimegwd worker runs for each connection from Postfix.
 *
 * The owner pushes the bytes it read (any chunking: one byte at a time
 * gives the same replies and the same content as the whole buffer) and
 * writes out what the session queued; the session calls the owner back
 * for the envelope and the content.  Nothing here reads, writes,
 * sleeps or keeps a clock: timeouts are the owner's (it ends a session
 * with smtp_server_close()).
 *
 * The owner's loop:
 *
 *	s = smtp_server_new(&conf, &ops, arg);
 *	smtp_server_start(s);                  queues the 220 greeting
 *	for (;;) {
 *		write smtp_server_output() out, then
 *		smtp_server_output_consume() what was written;
 *		switch (smtp_server_state(s)) {
 *		case SMTP_SERVER_INPUT: read; smtp_server_feed() the bytes,
 *			keep what it did not use for the next feed;
 *		case SMTP_SERVER_FLUSH: write the output, then feed again;
 *		case SMTP_SERVER_WAIT: finish the message, then give the
 *			reply (replies, in LMTP) with
 *			smtp_server_content_reply(), then feed again;
 *		case SMTP_SERVER_CLOSE: write the output, close.
 *		}
 *	}
 *
 * Pipelining (RFC 2920) falls out of this: a feed processes every whole
 * command it was given and queues their replies, so a group of
 * pipelined commands gets its replies in one write once the input is
 * drained.  The session stops using input (SMTP_SERVER_FLUSH) while
 * more than SMTP_SERVER_OUT_HIGH bytes of replies wait, so a client
 * that never reads cannot make the output grow, and (SMTP_SERVER_WAIT)
 * between the end of a message's content and the owner's reply, so
 * commands pipelined after the content wait for it.
 *
 * Content: after DATA, lines are unstuffed (a leading '.' is removed)
 * and handed to ops->content with their line ends as received, up to
 * the "CRLF . CRLF" that ends the data, which is the only end (a bare
 * LF is content, never a line end, so "LF . LF" cannot end a message:
 * no SMTP smuggling through us).  The final CRLF before the dot belongs
 * to the content.  BDAT chunks (RFC 3030) are handed on as they are.
 * Content bytes past size_max are not handed on; the rest of the data
 * is read and discarded, and the message gets 552 5.3.4.  A failing
 * ops->content (the owner's spool) is latched the same way and answered
 * with gw_reply_for_error()'s reply for its code.  The owner stores the
 * content where it likes (memory, a spool file): the session itself
 * holds at most one command line and SMTP_SERVER_STAGE bytes of
 * content.
 *
 * Ceilings: command lines of conf.line_max bytes (CRLF included),
 * conf.rcpt_max recipients, conf.size_max content bytes, and
 * conf.errors_max protocol errors per session (a bad command, bad
 * syntax, a command out of sequence; the owner's own refusals do not
 * count), after which the session answers 421 4.7.0 and closes.
 *
 * Replies carry RFC 3463 enhanced status codes when
 * SMTP_EXT_ENHANCEDSTATUSCODES is advertised.  docs/smtp.md lists every
 * reply.
 */
#ifndef SMTP_SERVER_H
#define SMTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "smtp_path.h"
#include "smtp_proto.h"

struct smtp_server;

enum smtp_mode {
	SMTP_MODE_SMTP,	/* HELO / EHLO; one reply after the content */
	SMTP_MODE_LMTP,	/* LHLO; one reply per accepted recipient */
};

enum smtp_body {
	SMTP_BODY_NONE,	/* no BODY= parameter */
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
};

/* Defaults for the zero values of struct smtp_server_conf. */
#define SMTP_SERVER_RCPT_MAX 1000
#define SMTP_SERVER_SIZE_MAX ((uint64_t)50 * 1024 * 1024)
#define SMTP_SERVER_ERRORS_MAX 10
/* Largest conf.line_max accepted. */
#define SMTP_SERVER_LINE_LIMIT 65536
/* Output above which input waits (see above). */
#define SMTP_SERVER_OUT_HIGH 16384
/* Content staged before a call of ops->content. */
#define SMTP_SERVER_STAGE 16384

struct smtp_server_conf {
	enum smtp_mode mode;
	const char *hostname;	/* in the greeting and EHLO; copied; at
				 * most 255 bytes of 33..126 */
	unsigned ext;		/* SMTP_EXT_* to advertise */
	size_t line_max;	/* 0: SMTP_LINE_MIN; else
				 * SMTP_LINE_MIN..SMTP_SERVER_LINE_LIMIT */
	size_t rcpt_max;	/* 0: SMTP_SERVER_RCPT_MAX */
	uint64_t size_max;	/* 0: SMTP_SERVER_SIZE_MAX */
	unsigned errors_max;	/* 0: SMTP_SERVER_ERRORS_MAX */
};

/*
 * The owner's callbacks; arg is the owner's.  Every one may be NULL.
 * A callback must not call smtp_server_feed() or smtp_server_free();
 * content_end may call smtp_server_content_reply().
 *
 * mail:  MAIL FROM passed every check; the smtp_server_mail_*()
 *	accessors, the HELO name and the XFORWARD attributes describe
 *	it.  Leave r->code 0 to accept (250 2.1.0), or set a 4xx/5xx
 *	reply (smtp_proto_reply_set()) to refuse it.
 * rcpt:  RCPT TO passed every check; the same, 250 2.1.5 by default.
 *	An accepted recipient is then smtp_server_rcpt(s, i).
 * content_begin: the content starts (354 for DATA, the first BDAT
 *	chunk): open the spool.  A negative GW_ERR_* refuses the content
 *	with gw_reply_for_error()'s reply (DATA), or fails the chunk.
 * content: content bytes (n > 0); 0, or a negative GW_ERR_* (latched:
 *	later bytes are discarded and the message gets its reply).
 * content_end: the whole content was handed over: the session waits
 *	(SMTP_SERVER_WAIT) until the owner gives the message's reply, or
 *	in LMTP one reply per accepted recipient in RCPT order.
 * reset: a transaction whose MAIL the owner saw ends without
 *	content_end (RSET, HELO/EHLO, QUIT, a failed or oversized
 *	content, close, free): drop what it collected.
 */
struct smtp_server_ops {
	void (*mail)(void *arg, struct smtp_server *s, struct smtp_reply *r);
	void (*rcpt)(void *arg, struct smtp_server *s, const char *rcpt,
		     struct smtp_reply *r);
	int (*content_begin)(void *arg, struct smtp_server *s);
	int (*content)(void *arg, const unsigned char *p, size_t n);
	void (*content_end)(void *arg, struct smtp_server *s);
	void (*reset)(void *arg, struct smtp_server *s);
};

enum smtp_server_state {
	SMTP_SERVER_INPUT,	/* feed it bytes */
	SMTP_SERVER_FLUSH,	/* write the output first */
	SMTP_SERVER_WAIT,	/* give the content reply(ies) first */
	SMTP_SERVER_CLOSE,	/* write the output, then close */
};

/*
 * A new session (NULL on allocation failure or an invalid conf: a
 * line_max out of range, a NULL or bad hostname).  conf and ops are
 * copied; arg is borrowed.  Nothing is queued until smtp_server_start().
 */
struct smtp_server *smtp_server_new(const struct smtp_server_conf *conf,
				    const struct smtp_server_ops *ops,
				    void *arg);
/* Frees the session (calling reset for an open transaction). NULL ok. */
void smtp_server_free(struct smtp_server *s);

/* Queues the greeting "220 hostname ESMTP" (LMTP: "LMTP"). */
int smtp_server_start(struct smtp_server *s);
/*
 * Queues r (a 421 reply when r is NULL: "421 4.3.2 hostname Service
 * shutting down") and ends the session (SMTP_SERVER_CLOSE): draining,
 * timeouts, the owner's own trouble.  An open transaction is reset.
 */
int smtp_server_close(struct smtp_server *s, const struct smtp_reply *r);

/*
 * Pushes n bytes.  Sets *used to how many were used (fewer than n when
 * the state leaves SMTP_SERVER_INPUT; the owner pushes the rest again
 * later).  Returns 0, or GW_ERR_NOMEM (the session then queues a 421
 * and closes), or GW_ERR_INVALID for NULL arguments.  Remote input
 * never makes it fail: bad input gets a reply.
 */
int smtp_server_feed(struct smtp_server *s, const void *p, size_t n,
		     size_t *used);
enum smtp_server_state smtp_server_state(const struct smtp_server *s);

/* The queued output (borrowed, valid until the next call on s; never
 * NULL, len 0 when there is none). */
const unsigned char *smtp_server_output(const struct smtp_server *s,
					size_t *len);
/* Drops the first n bytes of the output (those written). */
void smtp_server_output_consume(struct smtp_server *s, size_t n);

/*
 * The owner's reply to the content (r->code 2xx, 4xx or 5xx; its
 * enhanced code is used when the session advertises them, else
 * dropped).  In SMTP one call ends the transaction; in LMTP one call
 * per accepted recipient, in RCPT order, and the last ends it.
 * GW_ERR_INVALID when no reply is due or r is not a valid reply.
 */
int smtp_server_content_reply(struct smtp_server *s,
			      const struct smtp_reply *r);
/* How many content replies are still due (0 unless SMTP_SERVER_WAIT). */
size_t smtp_server_replies_due(const struct smtp_server *s);

/* The session's envelope, valid from the mail callback until the
 * transaction ends. */
const char *smtp_server_mail_from(const struct smtp_server *s); /* "" <> */
uint64_t smtp_server_mail_size(const struct smtp_server *s); /* 0: none */
enum smtp_body smtp_server_mail_body(const struct smtp_server *s);
int smtp_server_mail_smtputf8(const struct smtp_server *s);
size_t smtp_server_rcpt_count(const struct smtp_server *s);
const char *smtp_server_rcpt(const struct smtp_server *s, size_t i);
/* Content bytes handed over so far in this transaction. */
uint64_t smtp_server_content_size(const struct smtp_server *s);
/* The client's HELO/EHLO/LHLO name ("" before it) and whether it used
 * EHLO or LHLO. */
const char *smtp_server_helo(const struct smtp_server *s);
int smtp_server_esmtp(const struct smtp_server *s);
/* The XFORWARD attributes in force for this transaction (none set
 * unless XFORWARD is advertised and the client sent them). */
const struct smtp_xforward *smtp_server_xforward(const struct smtp_server *s);

#endif
