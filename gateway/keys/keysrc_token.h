/*
 * keysrc_token.h - the key source backend that uses the token in this
 * process, through pkcs11/: the admin CLI's ("smimegw process",
 * "smimegw message") and, inside smimegw-keyd, the daemon's.
 *
 * The token is opened (module loaded, PIN read, login) on the first
 * operation that needs a key, never before: a command that finds no
 * work for a key never touches it.
 */
#ifndef KEYSRC_TOKEN_H
#define KEYSRC_TOKEN_H

#include "keysrc.h"

struct keysrc_token_config {
	const char *module;	/* path of the PKCS#11 module */
	const char *token_uri;	/* RFC 7512 URI selecting the token */
	const char *pin_file;	/* read at login, then wiped */
};

/* A key source over the token cfg names (the strings are copied);
 * NULL when out of memory. */
struct keysrc *keysrc_token_new(const struct keysrc_token_config *cfg);

/*
 * For smimegw-keyd, which opens the token at start and reopens it after
 * a fault.  ks must come from keysrc_token_new() (else GW_ERR_INVALID).
 *
 * keysrc_token_open(): opens the token now unless it is open; 0 or
 * p11_token_open()'s code.
 * keysrc_token_check(): 0 when the open token's session still works,
 * else the GW_ERR_P11_* code of the fault (GW_ERR_P11_TOKEN_ABSENT when
 * it is not open).
 * keysrc_token_close(): closes the token (the next operation opens it
 * again).  Returns 1 when the closed token had started the libp11
 * engine: libp11 0.4.12 cannot start over in the same process after
 * that (PKCS11-NOTES 8.3), so a fresh process is the way to reopen it;
 * else 0.
 */
int keysrc_token_open(struct keysrc *ks);
int keysrc_token_check(struct keysrc *ks);
int keysrc_token_close(struct keysrc *ks);

#endif
