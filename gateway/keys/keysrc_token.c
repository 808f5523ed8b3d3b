/*
 * keysrc_token.c - the key source over the token in this process
 * (keysrc_token.h).  The only file of gateway/ that uses pkcs11/.
 */
#include <stdlib.h>
#include <string.h>

#include "gw_err.h"
#include "keysrc_token.h"
#include "p11_key.h"
#include "p11_token.h"

struct token_src {
	char *module;
	char *token_uri;
	char *pin_file;
	struct p11_token *tok;	/* opened on first need */
};

static int
token(struct token_src *ts, struct p11_token **out)
{
	struct p11_token_config tc;
	int rc;

	if (ts->tok == NULL) {
		tc.module = ts->module;
		tc.token_uri = ts->token_uri;
		tc.pin_file = ts->pin_file;
		if ((rc = p11_token_open(&tc, &ts->tok)) != 0)
			return rc;
	}
	*out = ts->tok;
	return 0;
}

static int
token_load(void *ctx, const char *key_uri, EVP_PKEY **out)
{
	struct p11_token *tok;
	int rc;

	if ((rc = token(ctx, &tok)) != 0)
		return rc;
	return p11_key_load(tok, key_uri, out);
}

static int
token_sign(void *ctx, const char *key_uri, const struct keysrc_sign_params *p,
	   const unsigned char *dgst, size_t dlen, unsigned char *sig,
	   size_t *siglen)
{
	EVP_PKEY *key = NULL;
	int rc;

	if ((rc = token_load(ctx, key_uri, &key)) == 0)
		rc = keysrc_pkey_sign(key, p, dgst, dlen, sig, siglen);
	EVP_PKEY_free(key);
	return rc;
}

static int
token_decrypt(void *ctx, const char *key_uri,
	      const struct keysrc_decrypt_params *p, const unsigned char *in,
	      size_t inlen, unsigned char *out, size_t *outlen)
{
	EVP_PKEY *key = NULL;
	int rc;

	if ((rc = token_load(ctx, key_uri, &key)) == 0)
		rc = keysrc_pkey_decrypt(key, p, in, inlen, out, outlen);
	EVP_PKEY_free(key);
	return rc;
}

static int
token_derive(void *ctx, const char *key_uri, EVP_PKEY *peer,
	     unsigned char *out, size_t *outlen)
{
	EVP_PKEY *key = NULL;
	int rc;

	if ((rc = token_load(ctx, key_uri, &key)) == 0)
		rc = keysrc_pkey_derive(key, peer, out, outlen);
	EVP_PKEY_free(key);
	return rc;
}

/* The token fault behind an operation that failed in OpenSSL on a key
 * from token_load(): libp11 left its CK_RV on the error queue.  No
 * token open: no key was handed out, so no fault of ours. */
static int
token_fault(void *ctx)
{
	struct token_src *ts = ctx;

	if (ts->tok == NULL)
		return 0;
	return p11_key_fault();
}

static void
token_free(void *ctx)
{
	struct token_src *ts = ctx;

	if (ts == NULL)
		return;
	p11_token_close(ts->tok);
	free(ts->module);
	free(ts->token_uri);
	free(ts->pin_file);
	free(ts);
}

static const struct keysrc_ops token_ops = {
	.name = "token",
	.load = token_load,
	.sign = token_sign,
	.decrypt = token_decrypt,
	.derive = token_derive,
	.fault = token_fault,
	.free = token_free,
};

int
keysrc_token_open(struct keysrc *ks)
{
	struct token_src *ts = keysrc_backend(ks, &token_ops);
	struct p11_token *tok;

	if (ts == NULL)
		return gw_err_set(GW_ERR_INVALID, "not a token key source");
	return token(ts, &tok);
}

int
keysrc_token_check(struct keysrc *ks)
{
	struct token_src *ts = keysrc_backend(ks, &token_ops);

	if (ts == NULL)
		return gw_err_set(GW_ERR_INVALID, "not a token key source");
	if (ts->tok == NULL)
		return gw_err_set(GW_ERR_P11_TOKEN_ABSENT,
				  "the token is not open");
	return p11_token_check(ts->tok);
}

int
keysrc_token_close(struct keysrc *ks)
{
	struct token_src *ts = keysrc_backend(ks, &token_ops);
	int used;

	if (ts == NULL || ts->tok == NULL)
		return 0;
	used = p11_token_engine_started(ts->tok);
	p11_token_close(ts->tok);
	ts->tok = NULL;
	return used;
}

static char *
dup_or_null(const char *s)
{
	return s == NULL ? NULL : strdup(s);
}

struct keysrc *
keysrc_token_new(const struct keysrc_token_config *cfg)
{
	struct token_src *ts;

	if ((ts = calloc(1, sizeof(*ts))) == NULL)
		return NULL;
	ts->module = dup_or_null(cfg->module);
	ts->token_uri = dup_or_null(cfg->token_uri);
	ts->pin_file = dup_or_null(cfg->pin_file);
	if ((cfg->module != NULL && ts->module == NULL) ||
	    (cfg->token_uri != NULL && ts->token_uri == NULL) ||
	    (cfg->pin_file != NULL && ts->pin_file == NULL)) {
		token_free(ts);
		return NULL;
	}
	return keysrc_new(&token_ops, ts);
}
