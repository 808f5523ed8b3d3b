/*
 * master.h - the smimegwd master: it binds the listeners, starts
 * smimegw-keyd and the workers by fork+exec and keeps them running.
 *
 * A "generation" is one smimegw-keyd and cfg->workers workers, each
 * worker with its own socketpair to that keyd (keyd takes its streams
 * at start, so a worker that dies cannot be replaced on its own).
 * When a child of the current generation dies, the master logs it,
 * asks the rest of that generation to finish (SIGUSR1: the workers stop
 * accepting and drain their sessions; keyd ends when its last stream
 * closes) and
 * starts a new generation after a back-off of 1, 2, 4 ... 60 seconds
 * (back to 1 once a generation ran for a minute).  SIGHUP re-reads the
 * configuration and starts a new generation the same way (a file
 * with other listener addresses, or that does not load, is refused and
 * the running configuration stays: new addresses need a restart).  SIGTERM or
 * SIGINT: the workers get SIGTERM (new connections get 421, sessions
 * drain), and the master
 * returns once every child has ended (SIGKILL for any left after
 * smtp_timeout + 10 seconds).
 *
 * The master never loads the PKCS#11 module, never reads the PIN and
 * never parses mail.
 */
#ifndef MASTER_H
#define MASTER_H

#include "gw_config.h"

struct master_opts {
	const char *conf;	/* the configuration file, as given */
	const char *self;	/* this program, executed in worker mode */
	const char *keyd;	/* smimegw-keyd */
	int debug;		/* children log to stderr too */
};

/* Runs until SIGTERM/SIGINT; takes cfg (freed before it returns).  0,
 * or a GW_ERR_* when a listener cannot be bound or the configuration
 * names none or lacks a next hop (GW_ERR_CONFIG). */
int master_run(const struct master_opts *o, struct gw_config *cfg);

#endif
