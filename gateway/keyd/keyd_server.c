/* keyd_server.c - smimegw-keyd's request loop and token state
 * (keyd_server.h). */
#include "keyd_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "gw_err.h"
#include "identity.h"
#include "ipc.h"
#include "keyd_proto.h"
#include "keysrc.h"
#include "keysrc_token.h"
#include "log.h"

enum tok_state {
	TOK_DOWN,	/* not open: try again at retry_at */
	TOK_UP,
	TOK_REFUSED,	/* login or configuration refused: never retried */
};

struct keyd_server {
	struct keysrc *ks;
	void (*on_state)(void *, const char *, const char *);
	void *arg;
	enum tok_state state;
	int err;		/* why the token is not up */
	char detail[KEYD_DETAIL_MAX];
	time_t retry_at;
	int backoff;		/* the last wait, seconds */
	time_t up_since;
	int restart;		/* a fault needs a new process */
	int fds[KEYD_CONN_MAX];
	size_t nfds;
	char *seen[KEYD_SEEN_MAX]; /* keys served, the latest last */
	size_t nseen;
};

static time_t
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static int
next_backoff(int b)
{
	if (b <= 0)
		return 1;
	return b * 2 > KEYD_BACKOFF_MAX ? KEYD_BACKOFF_MAX : b * 2;
}

int
keyd_server_new(const struct keyd_server_config *cfg, struct keyd_server **out)
{
	struct keysrc_token_config tc;
	struct keyd_server *s;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return GW_ERR_NOMEM;
	tc.module = cfg->module;
	tc.token_uri = cfg->token_uri;
	tc.pin_file = cfg->pin_file;
	if ((s->ks = keysrc_token_new(&tc)) == NULL) {
		free(s);
		return GW_ERR_NOMEM;
	}
	s->state = TOK_DOWN;
	s->err = GW_ERR_P11_TOKEN_ABSENT;
	snprintf(s->detail, sizeof(s->detail), "the token is not open yet");
	s->backoff = cfg->backoff > 0 ? cfg->backoff : 0;
	s->on_state = cfg->on_state;
	s->arg = cfg->arg;
	s->retry_at = mono_now() + s->backoff;
	*out = s;
	return 0;
}

void
keyd_server_free(struct keyd_server *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nfds; i++)
		close(s->fds[i]);
	for (i = 0; i < s->nseen; i++)
		free(s->seen[i]);
	keysrc_free(s->ks);
	free(s);
}

int
keyd_server_add(struct keyd_server *s, int fd)
{
	struct timeval tv = {KEYD_READ_TIMEOUT, 0};

	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return gw_err_set(GW_ERR_INVALID,
				  "descriptor %d is not open", fd);
	if (s->nfds == KEYD_CONN_MAX)
		return gw_err_set(GW_ERR_LIMIT, "more than %d streams",
				  KEYD_CONN_MAX);
	/* A peer that stalls inside a frame, or stops reading replies,
	 * loses its stream instead of holding up the others.  A pipe
	 * has no timeouts (ENOTSOCK): those are for tests only. */
	if ((setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	     setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) &&
	    errno != ENOTSOCK)
		return gw_err_set(GW_ERR_IO, "descriptor %d: setsockopt: %s",
				  fd, strerror(errno));
	s->fds[s->nfds++] = fd;
	return 0;
}

/* ---- the token --------------------------------------------------------- */

static int
is_refusal(int rc)
{
	return rc == GW_ERR_P11_PIN_INCORRECT || rc == GW_ERR_P11_PIN_LOCKED ||
	       rc == GW_ERR_CONFIG;
}

static void
tell(const struct keyd_server *s, const char *state)
{
	if (s->on_state != NULL)
		s->on_state(s->arg, state, s->state == TOK_UP ? "" : s->detail);
}

static void
token_open(struct keyd_server *s)
{
	int rc;

	gw_err_clear();
	if ((rc = keysrc_token_open(s->ks)) == 0) {
		s->state = TOK_UP;
		s->up_since = mono_now();
		log_notice("token open");
		tell(s, "up");
		return;
	}
	s->err = rc;
	snprintf(s->detail, sizeof(s->detail), "%s", gw_err_detail());
	if (is_refusal(rc)) {
		s->state = TOK_REFUSED;
		log_err("token: %s: %s; not retried: fix the configuration "
			"or the PIN and restart smimegw-keyd",
			gw_strerror(rc), s->detail);
		tell(s, "refused");
		return;
	}
	s->state = TOK_DOWN;
	s->backoff = next_backoff(s->backoff);
	s->retry_at = mono_now() + s->backoff;
	log_warn("token unavailable: %s: %s; trying again in %d s",
		 gw_strerror(rc), s->detail, s->backoff);
	tell(s, "down");
}

/* The codes that say the token, not the request, is at fault. */
static int
is_fault(int rc)
{
	switch (rc) {
	case GW_ERR_P11_TOKEN_ABSENT:
	case GW_ERR_P11_DEVICE_REMOVED:
	case GW_ERR_P11_SESSION:
	case GW_ERR_P11_DEVICE:
	case GW_ERR_P11_MODULE:
	case GW_ERR_P11_NOT_LOGGED_IN:
		return 1;
	default:
		return 0;
	}
}

/* The codes of a bad request, which say nothing of the token.  (A key
 * not found may be a token that lost its objects: that is checked.) */
static int
is_request_error(int rc)
{
	return rc == GW_ERR_INVALID ||
	       rc == GW_ERR_LIMIT || rc == GW_ERR_UNSUPPORTED ||
	       rc == GW_ERR_P11_MECHANISM || rc == GW_ERR_NOMEM;
}

/* After an operation failed with rc (detail): is the token still
 * there? */
static void
token_after_failure(struct keyd_server *s, int rc, const char *detail)
{
	int check;

	if (is_request_error(rc))
		return;
	gw_err_clear();
	if (!is_fault(rc) && (check = keysrc_token_check(s->ks)) == 0)
		return; /* the operation failed, the token is fine */
	if (!is_fault(rc)) {
		rc = check;
		detail = gw_err_detail();
	}
	s->err = rc;
	snprintf(s->detail, sizeof(s->detail), "%s", detail);
	s->state = TOK_DOWN;
	if (mono_now() - s->up_since > KEYD_BACKOFF_MAX)
		s->backoff = 0; /* it had been up a good while */
	if (keysrc_token_close(s->ks)) {
		s->backoff = next_backoff(s->backoff);
		s->restart = 1;
		log_err("token fault: %s: %s; restarting smimegw-keyd, which "
			"opens the token again in %d s",
			gw_strerror(rc), s->detail, s->backoff);
		tell(s, "reopening");
		return;
	}
	s->backoff = next_backoff(s->backoff);
	s->retry_at = mono_now() + s->backoff;
	log_err("token fault: %s: %s; trying again in %d s", gw_strerror(rc),
		s->detail, s->backoff);
	tell(s, "down");
}

/* ---- keys seen --------------------------------------------------------- */

static int
seen_has(const struct keyd_server *s, const char *uri)
{
	size_t i;

	for (i = 0; i < s->nseen; i++)
		if (strcmp(s->seen[i], uri) == 0)
			return 1;
	return 0;
}

/* Remembers a key that worked (the oldest is forgotten when full). */
static void
seen_add(struct keyd_server *s, const char *uri)
{
	char *copy;

	if (seen_has(s, uri) || (copy = strdup(uri)) == NULL)
		return;
	if (s->nseen == KEYD_SEEN_MAX) {
		free(s->seen[0]);
		memmove(&s->seen[0], &s->seen[1],
			(KEYD_SEEN_MAX - 1) * sizeof(s->seen[0]));
		s->nseen--;
	}
	s->seen[s->nseen++] = copy;
}

/* ---- requests ---------------------------------------------------------- */

/* Runs r; 0 and the result in out (*outlen), or a code with a detail. */
static int
run(struct keyd_server *s, const struct keyd_req *r, unsigned char *out,
    size_t *outlen)
{
	struct identity id;
	EVP_PKEY *pk = NULL, *peer = NULL;
	const unsigned char *q;
	unsigned char *der = NULL;
	int rc, n;

	memset(&id, 0, sizeof(id));
	id.key_uri = (char *)r->uri;
	switch (r->type) {
	case KEYD_PUBKEY:
		if ((rc = keysrc_key(s->ks, &id, &pk)) != 0)
			break;
		if ((n = i2d_PUBKEY(pk, &der)) <= 0 ||
		    (size_t)n > *outlen) {
			rc = gw_err_set_ssl(GW_ERR_UNSUPPORTED,
					    "the public key of %s cannot be "
					    "sent", r->uri);
			break;
		}
		memcpy(out, der, (size_t)n);
		*outlen = (size_t)n;
		break;
	case KEYD_SIGN:
		rc = keysrc_sign(s->ks, &id, &r->sign, r->data, r->len, out,
				 outlen);
		break;
	case KEYD_DECRYPT:
		rc = keysrc_decrypt(s->ks, &id, &r->dec, r->data, r->len, out,
				    outlen);
		break;
	default: /* KEYD_DERIVE */
		q = r->data;
		if ((peer = d2i_PUBKEY(NULL, &q, (long)r->len)) == NULL ||
		    q != r->data + r->len) {
			rc = gw_err_set_ssl(GW_ERR_INVALID,
					    "DERIVE: the peer key does not "
					    "parse");
			break;
		}
		rc = keysrc_derive(s->ks, &id, peer, out, outlen);
		break;
	}
	OPENSSL_free(der);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(peer);
	return rc;
}

/* Writes a reply; 0 or GW_ERR_IO (the stream is then closed). */
static int
reply(int fd, struct ipc_msg *m)
{
	int rc = ipc_write(fd, m);

	ipc_msg_free(m);
	return rc;
}

static int
reply_error(int fd, uint32_t id, int code, const char *detail)
{
	struct ipc_msg m;

	keyd_reply_error(&m, id, code, detail);
	return reply(fd, &m);
}

/* Serves one request on fd: 0 to go on, < 0 to close the stream. */
static int
serve_one(struct keyd_server *s, int fd)
{
	struct ipc_frame f;
	struct ipc_msg m;
	struct keyd_req r;
	unsigned char out[KEYD_PUBKEY_MAX];
	size_t outlen = sizeof(out);
	char detail[KEYD_DETAIL_MAX];
	int rc;

	gw_err_clear();
	if ((rc = ipc_read(fd, &f)) != 0) {
		if (rc == GW_ERR_NOT_FOUND)
			log_info("stream %d closed by its peer", fd);
		else
			log_warn("stream %d: %s: %s; closed", fd,
				 gw_strerror(rc), gw_err_detail());
		ipc_frame_free(&f);
		return -1;
	}
	rc = keyd_req_read(&f, &r);
	if (rc == GW_ERR_PARSE) {
		log_warn("stream %d: malformed %s request (id %u): %s; closed",
			 fd, keyd_type_name(r.type), r.id, gw_err_detail());
		ipc_frame_free(&f);
		return -1;
	}
	if (rc != 0) {
		log_warn("stream %d: refused a request of type %u (%s, id "
			 "%u): %s", fd, r.type, keyd_type_name(r.type), r.id,
			 gw_err_detail());
		rc = reply_error(fd, r.id, rc, gw_err_detail());
		ipc_frame_free(&f);
		return rc;
	}
	if (s->state == TOK_DOWN && mono_now() >= s->retry_at && !s->restart)
		token_open(s);
	if (s->state != TOK_UP) {
		snprintf(detail, sizeof(detail), "%.900s (%s)", s->detail,
			 s->state == TOK_REFUSED
			     ? "not retried: the operator must fix it and "
			       "restart smimegw-keyd"
			     : "the token is unavailable: try again later");
		/* The state change was logged once; not each request. */
		log_debug("stream %d: %s %s: token not available", fd,
			  keyd_type_name(r.type), r.uri);
		rc = reply_error(fd, r.id, s->err, detail);
		ipc_frame_free(&f);
		return rc;
	}
	gw_err_clear();
	if ((rc = run(s, &r, out, &outlen)) == 0) {
		seen_add(s, r.uri);
		log_debug("stream %d: %s %s: ok", fd, keyd_type_name(r.type),
			  r.uri);
		keyd_reply_ok(&m, r.id, out, outlen);
		OPENSSL_cleanse(out, sizeof(out));
		ipc_frame_free(&f);
		return reply(fd, &m);
	}
	OPENSSL_cleanse(out, sizeof(out));
	snprintf(detail, sizeof(detail), "%s", gw_err_detail());
	if (rc == GW_ERR_NOT_FOUND && seen_has(s, r.uri)) {
		/* It was there: the token lost its objects (a token that
		 * was removed and put back, an HSM that restarted), which
		 * only opening it again can tell.  Temporary, unlike a key
		 * that never was. */
		rc = GW_ERR_P11_TOKEN_ABSENT;
		snprintf(detail, sizeof(detail),
			 "the key was on the token before and is not found "
			 "now: the token lost its objects");
	}
	log_warn("stream %d: %s %s: %s: %s", fd, keyd_type_name(r.type),
		 r.uri, gw_strerror(rc), detail);
	ipc_frame_free(&f);
	token_after_failure(s, rc, detail);
	return reply_error(fd, r.id, rc, detail);
}

/* ---- the loop ---------------------------------------------------------- */

int
keyd_server_run(struct keyd_server *s, volatile sig_atomic_t *stop,
		int *backoff)
{
	struct pollfd pfd[KEYD_CONN_MAX];
	struct timespec ts, *tsp;
	sigset_t block, orig;
	size_t i, j;
	time_t now;
	int n, rc;

	/* The stop signals are let in only while ppoll() waits, so one
	 * that comes between the check of *stop and the wait is not lost
	 * until the next request. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);
	*backoff = 0;
	if (s->backoff == 0)
		token_open(s);
	else {
		log_notice("restarted after a token fault: opening the token "
			   "in %d s", s->backoff);
		tell(s, "reopening");
	}
	while (s->nfds > 0 && !*stop) {
		tsp = NULL;
		if (s->state == TOK_DOWN) {
			now = mono_now();
			ts.tv_sec = s->retry_at > now ? s->retry_at - now : 0;
			ts.tv_nsec = 0;
			tsp = &ts;
		}
		for (i = 0; i < s->nfds; i++) {
			pfd[i].fd = s->fds[i];
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		if ((n = ppoll(pfd, s->nfds, tsp, &orig)) < 0) {
			if (errno == EINTR)
				continue;
			rc = gw_err_set(GW_ERR_IO, "ppoll: %s",
					strerror(errno));
			goto out;
		}
		if (s->state == TOK_DOWN && mono_now() >= s->retry_at)
			token_open(s);
		for (i = 0; i < s->nfds && !s->restart; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (serve_one(s, s->fds[i]) < 0) {
				close(s->fds[i]);
				s->fds[i] = -1;
			}
		}
		for (i = j = 0; i < s->nfds; i++)
			if (s->fds[i] >= 0)
				s->fds[j++] = s->fds[i];
		s->nfds = j;
		if (s->restart) {
			*backoff = s->backoff;
			rc = KEYD_END_RESTART;
			goto out;
		}
	}
	rc = *stop ? KEYD_END_STOPPED : KEYD_END_IDLE;
out:
	sigprocmask(SIG_SETMASK, &orig, NULL);
	return rc;
}
