/*
 * identity.h - the gateway's own S/MIME identities in the store.
 *
 * An identity is a name bound to a certificate (plus chain) and the
 * PKCS#11 URI of its private key on the token, with the usage it was
 * created for.  Records live in GW_DB_IDENTITIES keyed by name.
 * struct identity is a plain record; identity_free() frees everything
 * it points to.
 */
#ifndef IDENTITY_H
#define IDENTITY_H

#include <stdint.h>

#include <openssl/x509.h>

#include "cert_check.h"
#include "gw_store.h"

struct identity {
	char *name;
	enum cert_usage usage;
	char *key_uri;
	char *key_type;		/* "rsa:2048", "ec:p256", ... */
	char *source;		/* "generated", "pkcs12" */
	X509 *cert;
	STACK_OF(X509) *chain;	/* may be NULL or empty */
	uint64_t created;	/* seconds since the epoch */
	uint64_t updated;
};

/* 1 when name is 1-64 of [A-Za-z0-9._-] starting with a letter or digit. */
int identity_name_valid(const char *name);

void identity_free(struct identity *id);

/* GW_ERR_NOT_FOUND (with a detail naming it) when absent. */
int identity_get(struct gw_txn *txn, const char *name, struct identity **out);
/* flags: GW_PUT_NOOVERWRITE refuses an existing name (GW_ERR_EXISTS). */
int identity_put(struct gw_txn *txn, const struct identity *id,
		 unsigned flags);
int identity_del(struct gw_txn *txn, const char *name);

/* Calls fn for each identity in name order; it must not keep id. */
typedef int (*identity_fn)(void *arg, const struct identity *id);
int identity_foreach(struct gw_txn *txn, identity_fn fn, void *arg);

#endif
