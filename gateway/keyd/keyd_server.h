/*
 * keyd_server.h - the request loop of smimegw-keyd: the only process of
 * the running gateway that loads the PKCS#11 module, reads the PIN and
 * holds token sessions.  It serves the closed set of keyd_proto.h on
 * the streams it is given (one socketpair end per worker), one request
 * at a time per stream, with the token key source (keysrc_token.h).
 * It parses no mail: this library links no MIME or CMS code
 * (tests/layers proves it cannot include it).
 *
 * Requests outside the closed set get an error reply and a log line and
 * are never acted on; a field over its cap or a parameter keyd does not
 * offer gets an error reply; a malformed frame (wrong fields, a length
 * over IPC_MAX_PAYLOAD, a frame cut short or stalled for
 * KEYD_READ_TIMEOUT seconds) closes that stream, and only that one.
 *
 * The token:
 *   - opened at start (after cfg->backoff seconds, when a restart asks
 *     for it); until it is open every request gets the open failure as
 *     a temporary error, and the open is tried again with back-off
 *     (1, 2, 4 ... KEYD_BACKOFF_MAX seconds);
 *   - a failed login (wrong or locked PIN) and a bad token URI are never
 *     retried: every request gets that error until an operator restarts
 *     keyd (each failed login counts against the token's retry limit);
 *   - a fault during an operation (CKR_DEVICE_*, a lost session, the
 *     token or module gone: an operation fails and the session check
 *     fails too, or a key this process used before is not found any
 *     more: the token lost its objects, as SoftHSM does when its files
 *     go away and come back) is answered as a temporary error; the
 *     token is closed,
 *     and since libp11 0.4.12 cannot start over in one process once its
 *     engine ran, keyd_server_run() returns KEYD_RESTART so that the
 *     program executes itself again with the same streams, waiting
 *     *backoff seconds before it opens the token.
 */
#ifndef KEYD_SERVER_H
#define KEYD_SERVER_H

#include <signal.h>

#define KEYD_CONN_MAX 256
#define KEYD_READ_TIMEOUT 5
#define KEYD_BACKOFF_MAX 60
#define KEYD_SEEN_MAX 64

struct keyd_server;

struct keyd_server_config {
	const char *module;	/* pkcs11_module */
	const char *token_uri;	/* token */
	const char *pin_file;	/* pin_file */
	int backoff;		/* seconds to wait before the first open */
	/* Told each change of the token's state ("up", "down",
	 * "refused", "reopening") with the reason; may be NULL. */
	void (*on_state)(void *arg, const char *state, const char *detail);
	void *arg;
};

enum keyd_end {
	KEYD_END_IDLE,		/* every stream was closed by its peer */
	KEYD_END_STOPPED,	/* *stop was set (a signal) */
	KEYD_END_RESTART,	/* a token fault: execute keyd again */
};

/* A server (strings copied); GW_ERR_NOMEM. */
int keyd_server_new(const struct keyd_server_config *cfg,
		    struct keyd_server **out);
/* Closes the token and the streams. */
void keyd_server_free(struct keyd_server *s);

/* Serves fd from now on (the server closes it); GW_ERR_LIMIT past
 * KEYD_CONN_MAX, GW_ERR_INVALID for a descriptor that is not open. */
int keyd_server_add(struct keyd_server *s, int fd);

/*
 * Opens the token (unless cfg->backoff asks to wait) and serves until
 * every stream is closed, *stop is set, or a token fault asks for a
 * restart: returns the enum keyd_end, and *backoff gets the seconds a
 * restarted keyd should wait before it opens the token.  A negative
 * GW_ERR_* when ppoll() fails.
 */
int keyd_server_run(struct keyd_server *s, volatile sig_atomic_t *stop,
		    int *backoff);

#endif
