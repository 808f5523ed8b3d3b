/*
 * p11_token.h - the only door to the PKCS#11 token: module, session,
 * login.  Keys are in p11_key.h, key generation, import, certificate
 * objects and deletion in p11_admin.h.
 *
 * One struct p11_token per process owns all PKCS#11 state: the module
 * loaded once, one read-write session of our own that carries the login,
 * and (lazily) the libp11 "pkcs11" ENGINE through which every private-key
 * operation runs, so that PSS and OAEP stay on the token's own
 * mechanisms.  Raw PKCS#11 calls are used only where libp11 0.4.12 has
 * no call that sets the attributes we need: key-pair generation with an
 * explicit non-extractable template (RSA and EC), import of a PKCS#12
 * private key as a sensitive object, certificate objects, and object
 * deletion.  Raw code opens and closes only its own session; it never
 * calls C_Logout, C_CloseAllSessions or C_Finalize while the engine is
 * live.
 *
 * Login happens once, on our session, when the token is opened: the PIN
 * is read from pin_file, used, and wiped.  libp11 then finds the token
 * already logged in and never holds the PIN.  A failed login is never
 * retried (each failure counts against the token's retry counter).
 *
 * Do not fork after p11_token_open(): the module's state is not
 * fork-safe.  Private-key operations on loaded EVP_PKEYs are thread-safe.
 *
 * Errors: every CK_RV an operator can meet maps to its own GW_ERR_P11_*
 * code with a detail naming the PKCS#11 function and return value.
 */
#ifndef P11_TOKEN_H
#define P11_TOKEN_H

struct p11_token;

struct p11_token_config {
	const char *module;	/* path of the PKCS#11 module */
	const char *token_uri;	/* RFC 7512 URI selecting the token */
	const char *pin_file;	/* see p11_pin.h */
};

/* Loads the module, finds the token, opens our session and logs in.
 * Returns 0 and *out, or a GW_ERR_P11_* / GW_ERR_PERM / GW_ERR_IO code. */
int p11_token_open(const struct p11_token_config *cfg, struct p11_token **out);
void p11_token_close(struct p11_token *tok);

/*
 * Whether our session still works (C_GetSessionInfo, and the token
 * still present and logged in): 0, or the mapped GW_ERR_P11_* code.
 * For smimegw-keyd, which tells a lost token from a bad request.
 */
int p11_token_check(struct p11_token *tok);
/* 1 when the libp11 engine was started on this token, else 0. */
int p11_token_engine_started(const struct p11_token *tok);

/* The token's label as the token reports it (trailing blanks removed). */
const char *p11_token_label(const struct p11_token *tok);

#endif
