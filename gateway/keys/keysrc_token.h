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

#endif
