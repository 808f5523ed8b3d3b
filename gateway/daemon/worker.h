/*
 * worker.h - a smimegwd mail worker: the SMTP/LMTP sessions on the
 * listening sockets it inherits, the pipeline ("smimegw process") on
 * each message, and the relay of every copy to the listener's next hop.
 *
 * A worker maps no PKCS#11 module: its key source is smimegw-keyd over
 * the stream it inherits (keysrc_keyd.h).  It polls the listeners and
 * its sessions; a message is spooled in memory up to
 * spool_memory_limit, then in an unlinked private file (mapped for the
 * pipeline), so a session's memory stays bounded.  When the content
 * ends the worker runs process_message(), relays each copy in its own
 * transaction to the next hop (a blocking SMTP client with
 * smtp_timeout; the session's XFORWARD attributes passed on), and only
 * then answers: in LMTP one reply per
 * recipient, 250 only when the next hop accepted the copy that
 * recipient needs.  Bounce is 550 5.7.1 with the reason, drop 250 and a
 * log line, a temporary fault 4.x.x (gw_reply.h).  One log line per
 * message, with the queue id that XFORWARD gave.  The delivery journal
 * (journal.h) records each recipient the next hop accepted before the
 * answer, so that Postfix's retry after a crash in between is answered
 * 250 without relaying again.
 *
 * *stop: WORKER_RETIRE (SIGUSR1: a new generation takes over) stops
 * accepting; WORKER_STOP (SIGTERM: the gateway stops) also answers new
 * connections 421.  Either way idle sessions get 421, sessions in a
 * transaction finish it first, and the worker returns when no session
 * is left (or smtp_timeout later).
 */
#ifndef WORKER_H
#define WORKER_H

#include <signal.h>

#include "gw_config.h"

#define WORKER_SESSIONS_MAX 64

/* Values of *stop. */
#define WORKER_RUN 0
#define WORKER_RETIRE 1
#define WORKER_STOP 2

enum worker_dir {
	WORKER_OUTGOING,
	WORKER_INCOMING,
};

struct worker_listener {
	int fd;			/* listening socket (non-blocking) */
	enum worker_dir dir;
};

/*
 * Runs the worker until *stop and the drain.  keyd_fd is the stream to
 * smimegw-keyd (taken).  Returns 0, or a GW_ERR_* when the engine cannot
 * be built, or (GW_ERR_IO, after draining like *stop) when the key
 * source lost its stream to keyd: every message would be deferred, so
 * the worker ends and the master starts keyd and the workers again.
 */
int worker_run(const struct gw_config *cfg, const struct worker_listener *l,
	       int nl, int keyd_fd, volatile sig_atomic_t *stop);

#endif
