/* worker.c - a smimegwd mail worker (worker.h). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "addr_rule.h"
#include "cert_check.h"
#include "engine.h"
#include "gw_buf.h"
#include "gw_err.h"
#include "gw_reply.h"
#include "gw_store.h"
#include "journal.h"
#include "keysrc_keyd.h"
#include "log.h"
#include "process.h"
#include "report.h"
#include "smtp_client.h"
#include "smtp_server.h"
#include "treatment.h"
#include "worker.h"

#define SESS_INBUF 16384
#define SERVER_LINE_MAX 2048
/* A session keeps its spool's memory between messages up to this size
 * (wiped, not freed), so that it does not grow it again every time. */
#define SPOOL_KEEP (256 * 1024)
/*
 * A session keeps its connection to the next hop between messages
 * (smimegwd(8)): closed (QUIT) when the session ends, when it
 * has been idle for RELAY_IDLE_MAX seconds, or after RELAY_REUSE_MAX
 * relays, so that a long session does not hold one next-hop
 * process (smtpd) for ever.
 */
/* Seconds a closing connection waits for the reply to its QUIT. */
#define RELAY_QUIT_WAIT 2
#define RELAY_IDLE_MAX 5
#define RELAY_REUSE_MAX 100

/* A message's content: memory up to limit, then an unlinked file. */
struct spool {
	struct gw_buf mem;
	int fd;
	uint64_t len;
	uint64_t limit;
	void *map;
};

struct worker;

/* A next-hop connection kept between a session's messages. */
struct relay_conn {
	struct smtp_client *c;	/* NULL: none */
	int fd;
	const char *hop;	/* the next hop it goes to (the config's) */
	unsigned uses;		/* messages relayed on it */
	time_t idle_since;	/* when its last message was done */
};

struct sess {
	int fd;
	enum worker_dir dir;
	struct smtp_server *s;
	struct worker *w;
	struct spool sp;
	int in_txn;
	int eof, dead;
	time_t last;
	struct relay_conn nh;	/* to the next hop, between messages */
	unsigned char in[SESS_INBUF];
	size_t inlen;
};

struct worker {
	const struct gw_config *cfg;
	struct engine e;
	char host[256];
	struct sess *sess[WORKER_SESSIONS_MAX];
	int nsess;
	int keyd_fd;		/* the key source's stream, to watch */
	dev_t keyd_dev;
	ino_t keyd_ino;
	int broken;		/* the stream is gone: end, to be restarted */
	struct journal *jn;	/* the delivery journal; NULL: open it */
};

/* ---- spool -------------------------------------------------------- */

static void
spool_init(struct spool *sp, uint64_t limit)
{
	gw_buf_init(&sp->mem, (size_t)limit);
	sp->fd = -1;
	sp->len = 0;
	sp->limit = limit;
	sp->map = NULL;
}

static void
spool_reset(struct spool *sp)
{
	if (sp->map != NULL && sp->map != MAP_FAILED)
		munmap(sp->map, (size_t)sp->len);
	sp->map = NULL;
	if (sp->fd >= 0)
		close(sp->fd);
	sp->fd = -1;
	if (sp->mem.cap > SPOOL_KEEP) {
		gw_buf_free_secret(&sp->mem);
		gw_buf_init(&sp->mem, (size_t)sp->limit);
	} else if (sp->mem.data != NULL) {
		/* Every byte ever held is below some message's len. */
		OPENSSL_cleanse(sp->mem.data, sp->mem.len);
		gw_buf_reset(&sp->mem);
	}
	sp->len = 0;
}

static void
spool_free(struct spool *sp)
{
	spool_reset(sp);
	gw_buf_free_secret(&sp->mem);
}

static int
write_all(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, b, n)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Moves the content to a private file: created 0600, unlinked at once. */
static int
spool_to_file(struct spool *sp)
{
	const char *dir = getenv("TMPDIR");
	char path[512];

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	snprintf(path, sizeof(path), "%s/smimegwd-spool.XXXXXX", dir);
	if ((sp->fd = mkostemp(path, O_CLOEXEC)) < 0)
		return gw_err_set(GW_ERR_IO, "spool file in %s: %s", dir,
				  strerror(errno));
	unlink(path);
	if (write_all(sp->fd, sp->mem.data, sp->mem.len) != 0)
		return gw_err_set(GW_ERR_IO, "spool file: %s",
				  strerror(errno));
	gw_buf_free_secret(&sp->mem);
	return 0;
}

/*
 * A new message whose sender declared its size (SIZE=, 0: not): one
 * that will not fit in memory goes to the file from its first byte, and
 * one that will gets its buffer at once, not by doubling and copying.
 * The declaration is only a hint: spool_add() still follows the bytes.
 */
static int
spool_begin(struct spool *sp, uint64_t declared)
{
	unsigned char *p;

	spool_reset(sp);
	if (declared > sp->limit)
		return spool_to_file(sp);
	if (declared > 0)
		return gw_buf_reserve(&sp->mem, (size_t)declared, &p);
	return 0;
}

static int
spool_add(struct spool *sp, const unsigned char *p, size_t n)
{
	int rc;

	if (sp->fd < 0 && sp->len + n > sp->limit &&
	    (rc = spool_to_file(sp)) != 0)
		return rc;
	if (sp->fd >= 0) {
		if (write_all(sp->fd, p, n) != 0)
			return gw_err_set(GW_ERR_IO, "spool file: %s",
					  strerror(errno));
	} else if ((rc = gw_buf_add(&sp->mem, p, n)) != 0)
		return rc;
	sp->len += n;
	return 0;
}

/* The whole content, in memory or mapped from the file. */
static const unsigned char *
spool_data(struct spool *sp)
{
	if (sp->fd < 0)
		return sp->mem.data;
	sp->map = mmap(NULL, (size_t)sp->len, PROT_READ, MAP_PRIVATE, sp->fd,
		       0);
	if (sp->map == MAP_FAILED) {
		gw_err_set(GW_ERR_IO, "mapping the spool file: %s",
			   strerror(errno));
		return NULL;
	}
	return sp->map;
}

/* The content spool_data() made available. */
static const unsigned char *
spool_view(const struct spool *sp)
{
	return sp->fd < 0 ? sp->mem.data : sp->map;
}

/* ---- session callbacks ---------------------------------------------- */

static void
on_mail(void *arg, struct smtp_server *s, struct smtp_reply *r)
{
	struct sess *ss = arg;

	(void)s;
	(void)r;
	ss->in_txn = 1;
}

static int
on_content_begin(void *arg, struct smtp_server *s)
{
	struct sess *ss = arg;
	int rc;

	if ((rc = spool_begin(&ss->sp, smtp_server_mail_size(s))) != 0)
		log_err("spool: %s: %s", gw_strerror(rc), gw_err_detail());
	return rc;
}

static int
on_content(void *arg, const unsigned char *p, size_t n)
{
	struct sess *ss = arg;
	int rc;

	if ((rc = spool_add(&ss->sp, p, n)) != 0)
		log_err("spool: %s: %s", gw_strerror(rc), gw_err_detail());
	return rc;
}

static void
on_reset(void *arg, struct smtp_server *s)
{
	struct sess *ss = arg;

	(void)s;
	spool_reset(&ss->sp);
	ss->in_txn = 0;
}

static const struct smtp_server_ops sess_ops = {
    on_mail, NULL, on_content_begin, on_content, NULL, on_reset,
};

/* ---- relay ---------------------------------------------------------- */

static int
relay_connect(const char *hostport, int timeout, char *why, size_t whylen)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct timeval tv = {timeout, 0};
	char host[256], port[8];
	unsigned p;
	int fd = -1, rc;

	if (gw_config_hostport(hostport, host, sizeof(host), &p) != 0) {
		snprintf(why, whylen, "next hop '%s' is not host:port",
			 hostport);
		return -1;
	}
	snprintf(port, sizeof(port), "%u", p);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(why, whylen, "next hop %s: %s", hostport,
			 gai_strerror(rc));
		return -1;
	}
	snprintf(why, whylen, "next hop %s: no address", hostport);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
				 ai->ai_protocol)) < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		snprintf(why, whylen, "next hop %s: connect: %s", hostport,
			 strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* Writes the client's output, then (WAIT) reads one reply's worth. */
static void
relay_step(struct smtp_client *c, int fd)
{
	unsigned char buf[4096];
	const unsigned char *out;
	size_t len;
	ssize_t n;

	out = smtp_client_output(c, &len);
	if (len > 0) {
		if (write_all(fd, out, len) != 0) {
			smtp_client_abort(c, strerror(errno));
			return;
		}
		smtp_client_output_consume(c, len);
	}
	if (smtp_client_state(c) != SMTP_CLIENT_WAIT)
		return;
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		smtp_client_abort(c, n == 0 ? "connection closed"
				  : errno == EAGAIN ? "timed out"
						    : strerror(errno));
	else if (smtp_client_feed(c, buf, (size_t)n) != 0)
		smtp_client_abort(c, "out of memory");
}

/* Drives the client until it is READY or CLOSED, pushing msg when it
 * asks for content. */
static void
relay_drive(struct smtp_client *c, int fd, const unsigned char *msg,
	    size_t len)
{
	enum smtp_client_state st;
	size_t off = 0, used;

	while ((st = smtp_client_state(c)) != SMTP_CLIENT_READY &&
	       st != SMTP_CLIENT_CLOSED) {
		if (st == SMTP_CLIENT_CONTENT) {
			if (off < len) {
				if (smtp_client_content(c, msg + off,
							len - off, &used) != 0)
					break;
				off += used;
			} else if (smtp_client_content_end(c) != 0)
				break;
			continue;
		}
		relay_step(c, fd);
	}
}

/*
 * Whether a kept next-hop connection can take the next message: READY,
 * and nothing has come from the next hop since its last reply (an idle
 * next hop that gives up sends a 421 or closes; then a new connection,
 * without a word to upstream).
 */
static int
relay_conn_usable(const struct relay_conn *rc)
{
	struct pollfd p;
	int n;

	if (rc->c == NULL || smtp_client_state(rc->c) != SMTP_CLIENT_READY)
		return 0;
	p.fd = rc->fd;
	p.events = POLLIN;
	p.revents = 0;
	do
		n = poll(&p, 1, 0);
	while (n < 0 && errno == EINTR);
	return n == 0;
}

/* Ends a kept next-hop connection: QUIT when it is still usable (the
 * reply is read, as the next hop expects), then the close. */
static void
relay_conn_close(struct relay_conn *rc)
{
	if (rc->c == NULL)
		return;
	if (relay_conn_usable(rc) && smtp_client_quit(rc->c) == 0) {
		/* The reply to QUIT is waited for, briefly: a next hop that
		 * went silent must not hold the worker's other sessions for
		 * smtp_timeout. */
		struct timeval tv = {RELAY_QUIT_WAIT, 0};

		setsockopt(rc->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(rc->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		relay_drive(rc->c, rc->fd, NULL, 0);
	}
	smtp_client_free(rc->c);
	close(rc->fd);
	rc->c = NULL;
	rc->fd = -1;
	rc->uses = 0;
}

static void
reply_temp(struct smtp_reply *r, const char *why)
{
	smtp_proto_reply_set(r, 451, "4.4.0", "next hop: %s", why);
}

/* ---- the delivery journal (journal.h) ------------------------------ */

static const char *
queue_id_of(const struct sess *ss)
{
	const struct smtp_xforward *xf = smtp_server_xforward(ss->s);

	return xf != NULL && (xf->set & (1u << SMTP_XF_IDENT))
		   ? xf->value[SMTP_XF_IDENT]
		   : "";
}

/* The start of the text of the journal's own replies (not the next
 * hop's: upstream_reply() passes them on as they are). */
static const char journal_text[] = "delivery journal";

/* The recipients that need a copy get 451 4.3.0: nothing was relayed. */
static void
journal_defer(const struct process_result *res, struct smtp_reply *rep,
	      int rc)
{
	size_t i;

	log_err("delivery journal: %s: %s; deferring", gw_strerror(rc),
		gw_err_detail());
	for (i = 0; i < res->nrcpts; i++)
		if (res->rcpts[i].copy > 0)
			smtp_proto_reply_set(&rep[i], 451, "4.3.0",
					     "%s unavailable (see smimegwd's "
					     "log)",
					     journal_text);
}

/*
 * Before the relay: the message's identity in jm and, for each
 * recipient that needs a copy, whether the next hop accepted it before
 * (done[i] = 1 and rep[i] 250: a retry after a crash) or a pending
 * record.  Returns -1 when the journal cannot be written: every
 * recipient that needs a copy then has its 451, and nothing is relayed.
 */
static int
journal_start(struct worker *w, struct sess *ss,
	      const struct process_result *res, struct smtp_reply *rep,
	      struct journal_msg *jm, unsigned char *done)
{
	const char **to;
	unsigned char *seen;
	size_t i, n;
	int rc;

	gw_err_clear();
	if ((rc = journal_msg_init(jm, queue_id_of(ss),
				   smtp_server_mail_from(ss->s),
				   spool_view(&ss->sp),
				   (size_t)ss->sp.len)) != 0) {
		journal_defer(res, rep, rc);
		return -1;
	}
	if (!jm->usable)
		return 0;
	if (w->jn == NULL &&
	    (rc = journal_open(w->cfg->data_dir,
			       (size_t)w->cfg->journal_map_size, &w->jn)) != 0) {
		journal_defer(res, rep, rc);
		return -1;
	}
	to = calloc(res->nrcpts ? res->nrcpts : 1, sizeof(*to));
	seen = calloc(res->nrcpts ? res->nrcpts : 1, 1);
	for (i = n = 0; to != NULL && i < res->nrcpts; i++)
		if (res->rcpts[i].copy > 0)
			to[n++] = res->rcpts[i].address;
	rc = to == NULL || seen == NULL
		 ? GW_ERR_NOMEM
		 : journal_begin(w->jn, jm, to, n, time(NULL), seen);
	for (i = n = 0; rc == 0 && i < res->nrcpts; i++) {
		if (res->rcpts[i].copy <= 0 || !seen[n++])
			continue;
		done[i] = 1;
		smtp_proto_reply_set(&rep[i], 250, "2.0.0",
				     "accepted before (delivery journal)");
		log_info("delivery journal: queue_id=%s to=%s: the next hop "
			 "accepted this message before; not relayed again",
			 *queue_id_of(ss) ? queue_id_of(ss) : "-",
			 res->rcpts[i].address);
	}
	free(to);
	free(seen);
	if (rc != 0) {
		/* Opened again for the next message: the file may be
		 * back by then. */
		journal_close(w->jn);
		w->jn = NULL;
		journal_defer(res, rep, rc);
		return -1;
	}
	return 0;
}

/*
 * After a copy's transaction: the recipients the next hop accepted.  A
 * failure is logged and the replies stay 250: the next hop has the
 * message, and a 4xx would make Postfix deliver it again; only the
 * protection against a crash before the reply is lost for it.
 */
static void
journal_accepted(struct worker *w, const struct sess *ss,
		 const struct journal_msg *jm, const char **rcpts,
		 const struct smtp_reply *const *got, size_t n)
{
	size_t k, m;
	int rc;

	if (!jm->usable || w->jn == NULL)
		return;
	for (k = m = 0; k < n; k++)
		if (got[k] != NULL && got[k]->code / 100 == 2)
			rcpts[m++] = rcpts[k];
	gw_err_clear();
	if ((rc = journal_done(w->jn, jm, rcpts, m, time(NULL))) != 0)
		log_err("delivery journal: queue_id=%s: recording %zu "
			"accepted recipient(s) failed: %s: %s; answering 250 "
			"all the same (a crash before the reply would deliver "
			"again)",
			*queue_id_of(ss) ? queue_id_of(ss) : "-", m,
			gw_strerror(rc), gw_err_detail());
}

/* ---- relay, journaled ------------------------------------------- */

/*
 * Relays every copy of res to the next hop, one transaction each, and
 * sets rep[i] for every recipient that needs a copy: the next hop's
 * reply, or a 451 when it could not be reached; "accepted before" for
 * the recipients the journal knows, and a 451 for all when it cannot be
 * written (then nothing is relayed).
 */
static void
relay(struct worker *w, struct sess *ss, const char *next_hop,
      const struct process_result *res, struct smtp_reply *rep)
{
	struct smtp_client_conf cc;
	struct smtp_client_txn t;
	struct smtp_client *c = NULL;
	struct journal_msg jm;
	const struct smtp_reply *r, **got = NULL;
	const char **rcpts = NULL;
	unsigned char *done = NULL;
	size_t *idx = NULL, nr = res->nrcpts, k, i, n;
	char why[300];
	unsigned uses = 0;
	int fd = -1, copy;

	snprintf(why, sizeof(why), "out of memory");
	if ((done = calloc(nr ? nr : 1, 1)) == NULL)
		goto fail;
	if (journal_start(w, ss, res, rep, &jm, done) != 0) {
		free(done);
		return;
	}
	for (i = n = 0; i < nr; i++)
		if (res->rcpts[i].copy > 0 && !done[i])
			n++;
	if (n == 0) {
		free(done);
		return;	/* every copy was accepted before */
	}
	/* The session's connection when it still works and goes to this
	 * hop; a new one otherwise. */
	if (ss->nh.c != NULL &&
	    (ss->nh.hop != next_hop || !relay_conn_usable(&ss->nh)))
		relay_conn_close(&ss->nh);
	if (ss->nh.c != NULL) {
		c = ss->nh.c;
		fd = ss->nh.fd;
		uses = ss->nh.uses;
		ss->nh.c = NULL;
		ss->nh.fd = -1;
	} else {
		if ((fd = relay_connect(next_hop, (int)w->cfg->smtp_timeout,
					why, sizeof(why))) < 0)
			goto fail;
		memset(&cc, 0, sizeof(cc));
		cc.mode = SMTP_MODE_SMTP;
		cc.helo_name = w->host;
		if ((c = smtp_client_new(&cc)) == NULL) {
			snprintf(why, sizeof(why), "out of memory");
			goto fail;
		}
	}
	snprintf(why, sizeof(why), "out of memory");
	if ((rcpts = calloc(nr, sizeof(*rcpts))) == NULL ||
	    (got = calloc(nr, sizeof(*got))) == NULL ||
	    (idx = calloc(nr, sizeof(*idx))) == NULL)
		goto fail;
	for (copy = 1; copy <= (int)res->ncopies; copy++) {
		const struct gw_buf *m = &res->copies[copy - 1].msg;

		for (i = n = 0; i < nr; i++)
			if (res->rcpts[i].copy == copy && !done[i]) {
				rcpts[n] = res->rcpts[i].address;
				idx[n++] = i;
			}
		if (n == 0)
			continue;
		relay_drive(c, fd, NULL, 0);
		if (smtp_client_state(c) != SMTP_CLIENT_READY) {
			r = smtp_client_error(c);
			for (k = 0; k < n; k++)
				if (r->code != 0)
					rep[idx[k]] = *r;
				else
					reply_temp(&rep[idx[k]],
						   "session closed");
			continue;
		}
		memset(&t, 0, sizeof(t));
		t.mail_from = smtp_server_mail_from(ss->s);
		t.size = m->len;
		t.body = smtp_server_mail_body(ss->s);
		t.smtputf8 = smtp_server_mail_smtputf8(ss->s);
		t.rcpts = rcpts;
		t.nrcpt = n;
		/* The up-stream client, for the next hop's logs and checks. */
		t.xforward = smtp_server_xforward(ss->s);
		if (smtp_client_begin(c, &t) != 0) {
			for (k = 0; k < n; k++)
				reply_temp(&rep[idx[k]],
					   "transaction refused locally");
			continue;
		}
		relay_drive(c, fd, m->data, m->len);
		for (k = 0; k < n; k++) {
			r = got[k] = smtp_client_result(c, k);
			if (r == NULL || r->code == 0)
				reply_temp(&rep[idx[k]], "no reply");
			else
				rep[idx[k]] = *r;
		}
		journal_accepted(w, ss, &jm, rcpts, got, n);
	}
	/* Kept for the session's next message while READY (a connection
	 * that failed in a transaction is CLOSED: never used again). */
	ss->nh.c = c;
	ss->nh.fd = fd;
	ss->nh.hop = next_hop;
	ss->nh.uses = uses + 1;
	ss->nh.idle_since = time(NULL);
	if (smtp_client_state(c) != SMTP_CLIENT_READY ||
	    ss->nh.uses >= RELAY_REUSE_MAX)
		relay_conn_close(&ss->nh);
	free(rcpts);
	free(got);
	free(idx);
	free(done);
	return;
fail:
	for (i = 0; i < nr; i++)
		if (res->rcpts[i].copy > 0 && (done == NULL || !done[i]))
			reply_temp(&rep[i], why);
	log_warn("relay: %s", why);
	smtp_client_free(c);
	free(rcpts);
	free(got);
	free(idx);
	free(done);
	if (fd >= 0)
		close(fd);
}

/* ---- one message ---------------------------------------------------- */

static void
reply_from(struct smtp_reply *r, struct gw_reply g, const char *text)
{
	smtp_proto_reply_set(r, g.smtp_code, g.enhanced, "%s", text);
}

/* The relay's reply as the upstream reply: a 2xx is ours ("relayed"),
 * a refusal keeps the next hop's code and says where it came from. */
static void
upstream_reply(struct smtp_reply *r, const char *applied)
{
	struct smtp_reply in = *r;
	const char *enh = in.enhanced;

	if (in.code / 100 == 2) {
		smtp_proto_reply_set(r, 250, "2.0.0", "relayed (%s): %s",
				     applied, in.text);
		return;
	}
	if (strncmp(in.text, journal_text, sizeof(journal_text) - 1) == 0)
		return;	/* ours: nothing was relayed */
	if (*enh == '\0')
		enh = in.code / 100 == 4 ? "4.0.0" : "5.0.0";
	smtp_proto_reply_set(r, in.code, enh, "next hop: %s", in.text);
}

static void
log_line(const struct process_req *req, enum treatment_dir dir,
	 const struct process_result *res, int err,
	 const struct smtp_reply *rep, size_t nr)
{
	struct log_summary s;
	struct log_rcpt *lr;
	char (*words)[64];
	size_t i;

	memset(&s, 0, sizeof(s));
	s.queue_id = req->queue_id;
	s.direction = dir == TREATMENT_OUTGOING ? "outgoing" : "incoming";
	s.profile = req->profile;
	s.decision = err != 0 ? (gw_reply_is_temporary(&(struct gw_reply){
				     0, rep[0].code, ""})
				     ? "defer"
				     : "reject")
			      : process_decision_name(res->decision);
	s.smime = err != 0 ? "none"
		  : req->direction == PROCESS_INCOMING
		      ? (res->ncopies > 0 ? res->copies[0].applied : "none")
		  : res->profile_mode[0] != '\0' ? res->profile_mode
						 : "none";
	if (err == 0 && dir == TREATMENT_INCOMING &&
	    req->direction == PROCESS_OUTGOING)
		s.smime = "off";	/* incoming_decrypt = no */
	lr = calloc(nr, sizeof(*lr));
	words = calloc(nr, sizeof(*words));
	if (lr != NULL && words != NULL) {
		for (i = 0; i < nr; i++) {
			snprintf(words[i], sizeof(words[i]), "%s/%d",
				 err != 0 || i >= res->nrcpts
				     ? s.decision
				     : process_outcome_name(
					   res->rcpts[i].outcome),
				 rep[i].code);
			lr[i].addr = req->to[i];
			lr[i].outcome = words[i];
		}
		s.rcpts = lr;
		s.nrcpts = nr;
	}
	log_message_summary(&s);
	report_message(s.decision, rep, nr);
	free(lr);
	free(words);
}

/* Whether a word setting of smimegw.conf is "yes". */
static int
yes(const char *v)
{
	return strcmp(v, "yes") == 0;
}

/* The harvesting options of incoming_harvest_options. */
static void
harvest_opts(const struct gw_config *cfg, struct harvest_opts *o)
{
	const char *v = cfg->incoming_harvest_options;

	memset(o, 0, sizeof(*o));
	o->on_failure = strstr(v, "on-failure") != NULL;
	o->updates = strstr(v, "updates") != NULL;
	o->allow_expired = strstr(v, "expired") != NULL;
	o->allow_self_signed = strstr(v, "self-signed") != NULL;
	o->max_bytes = cfg->harvest_max_size;
}

/*
 * The pipeline's request for the recipients to[nto] that share the
 * treatment t: outgoing with t's profile (none: unchanged); incoming
 * with the incoming_* settings, or, with incoming_decrypt = no, as it
 * came (the pipeline's outgoing path without a profile).
 */
static void
request(const struct worker *w, const struct sess *ss,
	const struct treatment *t, const char **to, size_t nto,
	struct process_req *req)
{
	const struct gw_config *cfg = w->cfg;
	const struct smtp_xforward *xf = smtp_server_xforward(ss->s);

	memset(req, 0, sizeof(*req));
	req->direction = t->dir == TREATMENT_INCOMING &&
				 yes(cfg->incoming_decrypt)
			     ? PROCESS_INCOMING
			     : PROCESS_OUTGOING;
	req->from = smtp_server_mail_from(ss->s);
	req->to = to;
	req->nto = nto;
	if (t->dir == TREATMENT_OUTGOING)
		req->profile = t->profile;
	else if (req->direction == PROCESS_INCOMING) {
		req->harvest = yes(cfg->incoming_harvest);
		harvest_opts(cfg, &req->harvest_opts);
		req->system_trust = yes(cfg->incoming_system_trust);
		req->remove_signature =
		    strcmp(cfg->incoming_signature, "remove") == 0;
	}
	req->authserv_id = cfg->authserv_id;
	if (xf != NULL && (xf->set & (1u << SMTP_XF_IDENT)))
		req->queue_id = xf->value[SMTP_XF_IDENT];
}

/* How the session's listener decides the treatment. */
static void
treatment_conf(const struct worker *w, const struct sess *ss,
	       struct treatment_conf *tc)
{
	const struct gw_config *cfg = w->cfg;

	memset(tc, 0, sizeof(*tc));
	tc->dir = ss->dir == WORKER_OUTGOING ? TREATMENT_OUTGOING
					     : TREATMENT_INCOMING;
	tc->decide = strcmp(ss->dir == WORKER_OUTGOING
				? cfg->listener_outgoing_direction
				: cfg->listener_incoming_direction,
			    "auto") == 0;
	tc->internal_domains = cfg->internal_domains;
	tc->default_profile = cfg->listener_outgoing_profile;
}

/* Every recipient's treatment, the table read in one read transaction
 * that is over before the pipeline runs. */
static int
treatments(struct worker *w, struct sess *ss, const char **to, size_t nr,
	   struct route_table *t, struct treatment *out)
{
	struct treatment_conf tc;
	struct gw_txn *txn = NULL;
	int rc;

	treatment_conf(w, ss, &tc);
	route_table_init(t);
	if ((rc = gw_txn_begin(w->e.store, GW_TXN_READ, &txn)) != 0)
		return rc;
	rc = treatment_decide(txn, &tc, smtp_server_mail_from(ss->s), to, nr,
			      t, out);
	gw_txn_abort(txn);
	return rc;
}

/* Every recipient's reply (rep[nr]) for what process_message() gave:
 * the decision, or for a delivery the next hop's answer per copy. */
static void
decide(struct worker *w, struct sess *ss, const char *next_hop, int rc,
       const struct process_result *res, struct smtp_reply *rep, size_t nr)
{
	char text[300];
	size_t i;

	if (rc != 0) {
		snprintf(text, sizeof(text), "%s: %s", gw_strerror(rc),
			 gw_err_detail());
		for (i = 0; i < nr; i++)
			reply_from(&rep[i], gw_reply_for_error(rc), text);
		return;
	}
	if (res->decision != PROCESS_DELIVER) {
		for (i = 0; i < nr; i++)
			if (res->decision == PROCESS_BOUNCE)
				reply_from(&rep[i], gw_reply_bounce(),
					   res->reason);
			else
				reply_from(&rep[i], gw_reply_for_error(0),
					   "dropped by policy");
		return;
	}
	relay(w, ss, next_hop, res, rep);
	for (i = 0; i < nr; i++) {
		const struct process_rcpt *pr = &res->rcpts[i];

		if (pr->copy > 0)
			upstream_reply(&rep[i],
				       res->copies[pr->copy - 1].applied);
		else if (pr->outcome == PROCESS_RCPT_BOUNCED)
			reply_from(&rep[i], gw_reply_bounce(),
				   pr->reason[0] ? pr->reason : res->reason);
		else
			reply_from(&rep[i], gw_reply_for_error(0),
				   "dropped by policy");
	}
}

/*
 * Gives the session its replies: in LMTP rep[i] to recipient i; in SMTP
 * one reply for all, the worst (a temporary one first, so that nothing
 * is lost; smimegwd(8)).
 */
static void
answer(struct sess *ss, const struct smtp_reply *rep, size_t nr)
{
	const struct smtp_reply *one = &rep[0];
	size_t i;
	int worst = 0;

	if (smtp_server_replies_due(ss->s) > 1) {
		for (i = 0; i < nr; i++)
			smtp_server_content_reply(ss->s, &rep[i]);
		return;
	}
	for (i = 0; i < nr; i++) {
		int cls = rep[i].code / 100;

		if (cls == 4 || (cls == 5 && worst != 4)) {
			one = &rep[i];
			worst = cls;
		}
	}
	smtp_server_content_reply(ss->s, one);
}

/* Every recipient's reply for an error before the pipeline ran. */
static void
fail_all(int rc, struct smtp_reply *rep, size_t nr)
{
	char text[300];
	size_t i;

	snprintf(text, sizeof(text), "%s: %s", gw_strerror(rc),
		 gw_err_detail());
	for (i = 0; i < nr; i++)
		reply_from(&rep[i], gw_reply_for_error(rc), text);
}

/*
 * One copy: the recipients idx[n] (of to[]) that share the treatment t
 * through the pipeline, relayed; their replies into rep[] at their
 * places; one log line.
 */
static void
deliver_group(struct worker *w, struct sess *ss, const unsigned char *msg,
	      const struct treatment *t, const char **to, const size_t *idx,
	      size_t n, struct smtp_reply *rep)
{
	struct process_result res;
	struct process_req req;
	struct smtp_reply *grep;
	const char **gto;
	size_t k;
	int rc;

	process_result_init(&res);
	grep = calloc(n, sizeof(*grep));
	gto = calloc(n, sizeof(*gto));
	if (grep == NULL || gto == NULL) {
		for (k = 0; k < n; k++)
			smtp_proto_reply_set(&rep[idx[k]], 451, "4.3.0",
					     "out of memory");
		goto out;
	}
	for (k = 0; k < n; k++)
		gto[k] = to[idx[k]];
	request(w, ss, t, gto, n, &req);
	gw_err_clear();
	rc = process_message(&w->e, &req, msg, (size_t)ss->sp.len, &res);
	decide(w, ss,
	       ss->dir == WORKER_OUTGOING ? w->cfg->listener_outgoing_next_hop
					  : w->cfg->listener_incoming_next_hop,
	       rc, &res, grep, n);
	log_line(&req, t->dir, &res, rc, grep, n);
	for (k = 0; k < n; k++)
		rep[idx[k]] = grep[k];
out:
	process_result_free(&res);
	free(grep);
	free(gto);
}

/*
 * The message is complete: each recipient's treatment; one run of the
 * pipeline and one relay per group of recipients that share one (a
 * split, smimegwd(8)); then the answer, and the reset.
 */
static void
deliver(struct worker *w, struct sess *ss)
{
	struct route_table table;
	struct treatment *tr = NULL;
	struct smtp_reply *rep, oom;
	const unsigned char *msg;
	const char **to;
	size_t *idx = NULL, nr = smtp_server_rcpt_count(ss->s), i, j, n;
	char *done = NULL;
	int rc;

	route_table_init(&table);
	rep = calloc(nr ? nr : 1, sizeof(*rep));
	to = calloc(nr ? nr : 1, sizeof(*to));
	if (rep == NULL || to == NULL || nr == 0 ||
	    (tr = calloc(nr, sizeof(*tr))) == NULL ||
	    (idx = calloc(nr, sizeof(*idx))) == NULL ||
	    (done = calloc(nr, 1)) == NULL) {
		smtp_proto_reply_set(&oom, 451, "4.3.0", "out of memory");
		while (smtp_server_replies_due(ss->s) > 0 &&
		       smtp_server_content_reply(ss->s, &oom) == 0)
			;
		goto out;
	}
	for (i = 0; i < nr; i++)
		to[i] = smtp_server_rcpt(ss->s, i);
	gw_err_clear();
	if ((rc = treatments(w, ss, to, nr, &table, tr)) != 0) {
		log_err("which treatment: %s: %s", gw_strerror(rc),
			gw_err_detail());
		fail_all(rc, rep, nr);
		answer(ss, rep, nr);
		goto out;
	}
	gw_err_clear();
	if ((msg = spool_data(&ss->sp)) == NULL) {
		log_err("spool: %s", gw_err_detail());
		fail_all(GW_ERR_IO, rep, nr);
		answer(ss, rep, nr);
		goto out;
	}
	for (i = 0; i < nr; i++) {
		if (done[i])
			continue;
		for (j = i, n = 0; j < nr; j++)
			if (!done[j] && treatment_same(&tr[i], &tr[j])) {
				done[j] = 1;
				idx[n++] = j;
			}
		deliver_group(w, ss, msg, &tr[i], to, idx, n, rep);
	}
	answer(ss, rep, nr);
out:
	route_table_free(&table);
	spool_reset(&ss->sp);
	ss->in_txn = 0;
	free(rep);
	free(to);
	free(tr);
	free(idx);
	free(done);
}

/* ---- the poll loop -------------------------------------------------- */

/*
 * Whether the key source still has its stream to keyd: keysrc_keyd
 * closes it for good on a transport failure (keyd gone, a reply not in
 * time), after which every message would be deferred.  The descriptor
 * is known by its number and its socket's inode (a later accept() may
 * reuse the number).
 */
static int
keyd_alive(const struct worker *w)
{
	struct stat st;

	return fstat(w->keyd_fd, &st) == 0 && st.st_dev == w->keyd_dev &&
	       st.st_ino == w->keyd_ino;
}

static void
sess_free(struct worker *w, int i)
{
	struct sess *ss = w->sess[i];

	relay_conn_close(&ss->nh);
	smtp_server_free(ss->s);
	spool_free(&ss->sp);
	close(ss->fd);
	free(ss);
	w->sess[i] = w->sess[--w->nsess];
	report_sessions((size_t)w->nsess);
}

static void
sess_new(struct worker *w, int fd, enum worker_dir dir)
{
	struct smtp_server_conf sc;
	struct sess *ss;
	const char *proto = dir == WORKER_OUTGOING
				? w->cfg->listener_outgoing_proto
				: w->cfg->listener_incoming_proto;

	if (w->nsess == WORKER_SESSIONS_MAX ||
	    (ss = calloc(1, sizeof(*ss))) == NULL) {
		static const char busy[] = "421 4.3.2 too busy\r\n";

		(void)!write(fd, busy, sizeof(busy) - 1);
		close(fd);
		return;
	}
	memset(&sc, 0, sizeof(sc));
	sc.mode = strcmp(proto, "smtp") == 0 ? SMTP_MODE_SMTP : SMTP_MODE_LMTP;
	sc.hostname = w->host;
	sc.ext = SMTP_EXT_ALL;
	sc.line_max = SERVER_LINE_MAX;
	sc.rcpt_max = (size_t)w->cfg->recipient_limit;
	sc.size_max = w->cfg->message_size_limit;
	ss->fd = fd;
	ss->dir = dir;
	ss->w = w;
	ss->last = time(NULL);
	ss->nh.fd = -1;
	spool_init(&ss->sp, w->cfg->spool_memory_limit);
	if ((ss->s = smtp_server_new(&sc, &sess_ops, ss)) == NULL ||
	    smtp_server_start(ss->s) != 0) {
		smtp_server_free(ss->s);
		close(fd);
		free(ss);
		return;
	}
	w->sess[w->nsess++] = ss;
	report_sessions((size_t)w->nsess);
}

/* Writes what the session queued, as far as the socket takes it. */
static void
sess_flush(struct sess *ss)
{
	const unsigned char *out;
	size_t len;
	ssize_t n;

	while (!ss->dead) {
		out = smtp_server_output(ss->s, &len);
		if (len == 0)
			return;
		n = write(ss->fd, out, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			ss->dead = 1;
			return;
		}
		smtp_server_output_consume(ss->s, (size_t)n);
	}
}

/* Feeds, answers and writes until the session waits for the network.
 * Returns 1 when the session is over. */
static int
sess_pump(struct worker *w, struct sess *ss)
{
	enum smtp_server_state st;
	size_t used, len;

	for (;;) {
		sess_flush(ss);
		if (ss->dead)
			return 1;
		st = smtp_server_state(ss->s);
		if (st == SMTP_SERVER_WAIT) {
			deliver(w, ss);
			ss->last = time(NULL);
			if (!w->broken && !keyd_alive(w)) {
				log_err("the stream to smimegw-keyd is closed: "
					"ending, so that keyd and the workers "
					"are started again");
				w->broken = 1;
			}
			continue;
		}
		if (st == SMTP_SERVER_INPUT && ss->inlen > 0) {
			if (smtp_server_feed(ss->s, ss->in, ss->inlen,
					     &used) != 0 ||
			    used == 0) {
				if (smtp_server_state(ss->s) == st)
					break;
				continue;
			}
			memmove(ss->in, ss->in + used, ss->inlen - used);
			ss->inlen -= used;
			continue;
		}
		break;
	}
	smtp_server_output(ss->s, &len);
	if (st == SMTP_SERVER_CLOSE && len == 0)
		return 1;
	return ss->eof && st == SMTP_SERVER_INPUT && ss->inlen == 0;
}

static void
sess_read(struct sess *ss)
{
	ssize_t n;

	n = read(ss->fd, ss->in + ss->inlen, sizeof(ss->in) - ss->inlen);
	if (n > 0) {
		ss->inlen += (size_t)n;
		ss->last = time(NULL);
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN))
		ss->eof = 1;
}

/* New connections: sessions, or (draining) a 421 and the close. */
static void
accept_all(struct worker *w, const struct worker_listener *l, int draining)
{
	char bye[300];
	int fd, n;

	n = snprintf(bye, sizeof(bye), "421 4.3.2 %s Service shutting down\r\n",
		     w->host);
	while ((draining || w->nsess < WORKER_SESSIONS_MAX) &&
	       (fd = accept4(l->fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (!draining) {
			sess_new(w, fd, l->dir);
			continue;
		}
		(void)!write(fd, bye, (size_t)n);
		close(fd);
	}
}

static int
engine_open(const struct gw_config *cfg, int keyd_fd, struct engine *e)
{
	enum addr_local_part lp;
	enum cert_rules rules;

	e->store = NULL;
	e->decrypt_catch_all = cfg->decrypt_catch_all;
	if ((e->keys = keysrc_keyd_new(keyd_fd, 0)) == NULL)
		return GW_ERR_NOMEM;
	if (addr_rule_local_part_parse(cfg->address_local_part, &lp) != 0 ||
	    cert_requirements_parse(cfg->cert_requirements, &rules) != 0)
		return GW_ERR_CONFIG;
	addr_rule_set_local_part(lp);
	cert_rules_set_others(rules);
	/* The message path never creates a store: a missing one defers. */
	return gw_store_open_ex(cfg->data_dir, (size_t)cfg->store_map_size, 0,
				&e->store);
}

int
worker_run(const struct gw_config *cfg, const struct worker_listener *l,
	   int nl, int keyd_fd, volatile sig_atomic_t *stop)
{
	struct pollfd pfd[WORKER_SESSIONS_MAX + 4];
	struct stat st;
	struct worker w;
	time_t now, drain_end = 0;
	int i, n, rc, draining = 0, open_l = nl;

	/* As smimegw does: freed message buffers stay in the heap for the
	 * next message instead of going back to the kernel each time. */
	gw_buf_tune_malloc();
	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	if (gethostname(w.host, sizeof(w.host)) != 0 || w.host[0] == '\0')
		snprintf(w.host, sizeof(w.host), "localhost");
	w.host[sizeof(w.host) - 1] = '\0';
	w.keyd_fd = keyd_fd;
	if (fstat(keyd_fd, &st) != 0) {
		rc = gw_err_set(GW_ERR_INVALID, "--keyd-fd %d: %s", keyd_fd,
				strerror(errno));
		log_err("cannot start: %s", gw_err_detail());
		return rc;
	}
	w.keyd_dev = st.st_dev;
	w.keyd_ino = st.st_ino;
	/* Before the store, which is then the environment guarded
	 * (gw_store.h); a journal that does not open now is tried again
	 * for each message, which is deferred meanwhile. */
	if ((rc = journal_open(cfg->data_dir, (size_t)cfg->journal_map_size,
			       &w.jn)) != 0)
		log_err("delivery journal: %s: %s; deferring mail until it "
			"opens", gw_strerror(rc), gw_err_detail());
	gw_err_clear();
	rc = 0;
	if ((rc = engine_open(cfg, keyd_fd, &w.e)) != 0) {
		log_err("cannot start: %s: %s", gw_strerror(rc),
			gw_err_detail());
		goto out;
	}
	for (;;) {
		now = time(NULL);
		if ((*stop || w.broken) && !draining) {
			draining = 1;
			drain_end = now + (time_t)cfg->smtp_timeout;
			for (i = 0; i < w.nsess; i++)
				if (!w.sess[i]->in_txn)
					smtp_server_close(w.sess[i]->s, NULL);
		}
		if (draining && (w.nsess == 0 || now >= drain_end))
			break;
		n = 0;
		for (i = 0; i < open_l; i++) {
			pfd[n].fd = l[i].fd;
			pfd[n++].events = *stop == WORKER_STOP ||
						  (!draining &&
						   w.nsess < WORKER_SESSIONS_MAX)
					      ? POLLIN
					      : 0;
		}
		for (i = 0; i < w.nsess; i++) {
			struct sess *ss = w.sess[i];
			size_t len;

			pfd[n].fd = ss->fd;
			pfd[n].events = 0;
			smtp_server_output(ss->s, &len);
			if (len > 0)
				pfd[n].events |= POLLOUT;
			if (!ss->eof && ss->inlen < sizeof(ss->in))
				pfd[n].events |= POLLIN;
			n++;
		}
		if (poll(pfd, (nfds_t)n, 1000) < 0 && errno != EINTR) {
			rc = gw_err_set(GW_ERR_IO, "poll: %s",
					strerror(errno));
			break;
		}
		now = time(NULL);
		for (i = 0; i < open_l; i++)
			if (pfd[i].revents & POLLIN)
				accept_all(&w, &l[i], *stop == WORKER_STOP);
		/* Sessions: pfd[open_l + i] until the list changes. */
		for (i = w.nsess - 1; i >= 0; i--) {
			struct sess *ss = w.sess[i];
			int over;

			if (open_l + i < n &&
			    pfd[open_l + i].fd == ss->fd &&
			    (pfd[open_l + i].revents & (POLLIN | POLLHUP |
							 POLLERR)))
				sess_read(ss);
			if (draining && !ss->in_txn &&
			    smtp_server_state(ss->s) == SMTP_SERVER_INPUT)
				smtp_server_close(ss->s, NULL);
			if (now - ss->last > (time_t)cfg->smtp_timeout &&
			    smtp_server_state(ss->s) != SMTP_SERVER_CLOSE) {
				struct smtp_reply r;

				smtp_proto_reply_set(&r, 421, "4.4.2",
						     "%s timeout, closing",
						     w.host);
				smtp_server_close(ss->s, &r);
				ss->eof = 1;
			}
			if (ss->nh.c != NULL &&
			    now - ss->nh.idle_since >= RELAY_IDLE_MAX)
				relay_conn_close(&ss->nh);
			over = sess_pump(&w, ss);
			if (over || (ss->eof && now - ss->last >
						    (time_t)cfg->smtp_timeout))
				sess_free(&w, i);
		}
	}
	if (rc == 0 && w.broken)
		rc = gw_err_set(GW_ERR_IO, "the stream to smimegw-keyd is "
				"closed");
out:
	while (w.nsess > 0)
		sess_free(&w, w.nsess - 1);
	keysrc_free(w.e.keys);
	gw_store_close(w.e.store);
	journal_close(w.jn);
	return rc;
}
