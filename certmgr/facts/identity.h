/*
 * identity.h - the gateway's own S/MIME identities in the store.
 *
 * An identity is a name bound to a certificate (plus chain) and the
 * PKCS#11 URI of its private key on the token, with the usage it was
 * created for.  Records live in GW_DB_IDENTITIES keyed by name.
 * struct identity is a plain record; identity_free() frees everything
 * it points to.
 *
 * Previous certificates: when a certificate replaces another for the
 * same key (cert install), the replaced one is kept in previous, so
 * that mail encrypted to it (named by its issuer and serial number or
 * its subject key identifier) is still found and decrypted.  They stay
 * until the administrator forgets them (identity_forget_previous());
 * they never sign and are never handed out to encrypt.
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
	STACK_OF(X509) *previous; /* certificates bound to the key before
				   * cert, oldest first; may be NULL */
	uint64_t created;	/* seconds since the epoch */
	uint64_t updated;
};

/* At most this many previous certificates are kept per identity. */
#define IDENTITY_PREVIOUS_MAX 64

/* 1 when name is 1-64 of [A-Za-z0-9._-] starting with a letter or digit. */
int identity_name_valid(const char *name);

void identity_free(struct identity *id);

/*
 * Makes cert (set0: taken, also on failure) the certificate of id.  The
 * one it replaces goes to the end of id->previous unless it is the same
 * certificate (DER-equal) or already there; cert itself leaves
 * id->previous if it was there (a certificate installed again).
 * GW_ERR_LIMIT (detail naming the identity) when IDENTITY_PREVIOUS_MAX
 * are kept already; GW_ERR_NOMEM.  id is unchanged on failure.
 */
int identity_set_cert(struct identity *id, X509 *cert);

/*
 * Removes from id->previous the certificates whose serial number is
 * serial (hex digits, colons and a "0x" prefix allowed, any case), or
 * every one when serial is NULL; *n gets how many went.
 * GW_ERR_INVALID when serial is not hex; GW_ERR_NOT_FOUND (detail
 * naming the identity) when none matches.
 */
int identity_forget_previous(struct identity *id, const char *serial,
			     size_t *n);

/* GW_ERR_NOT_FOUND (with a detail naming it) when absent. */
int identity_get(struct gw_txn *txn, const char *name, struct identity **out);
/* flags: GW_PUT_NOOVERWRITE refuses an existing name (GW_ERR_EXISTS). */
int identity_put(struct gw_txn *txn, const struct identity *id,
		 unsigned flags);
int identity_del(struct gw_txn *txn, const char *name);

/* Calls fn for each identity in name order; it must not keep id. */
typedef int (*identity_fn)(void *arg, const struct identity *id);
int identity_foreach(struct gw_txn *txn, identity_fn fn, void *arg);

/*
 * The identities' index, GW_DB_IDENTITIES_IX: the names (cert_names.h)
 * a message's RecipientInfos can give for the identity, "i:" issuer and
 * serial and "k:" subject key identifier of its current and previous
 * certificates, and "n:" the subject of its current certificate (a
 * trust anchor, looked up by name), each a key "NAME\0IDENTITY" with an
 * empty value.
 * identity_put() and identity_del() keep it in their transaction;
 * gateway/store/addr_index.c builds it with the key indexes (store
 * format 3), checks it and decides when lookups may read it.
 * identity_index_names() calls fn with each name of id (repeats
 * possible); identity_index_add() writes id's entries.
 */
typedef int (*identity_name_fn)(void *arg, const char *name, size_t len);
int identity_index_names(const struct identity *id, identity_name_fn fn,
			 void *arg);
int identity_index_add(struct gw_txn *txn, const struct identity *id);

#endif
