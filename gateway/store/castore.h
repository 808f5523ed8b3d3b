/*
 * castore.h - trusted certificate authorities ("Custom Certificate
 * Authority list" in the reference) for verifying incoming signatures.
 *
 * Records live in GW_DB_CAS keyed by the certificate's SHA-256
 * fingerprint as 64 lower-case hex digits (the CA's ID).  A certificate
 * is accepted as a CA (castore_ca_check()) when
 *
 *   - it has basicConstraints with CA:TRUE, and keyUsage, if present,
 *     includes keyCertSign; or
 *   - it has no basicConstraints, is an X.509 v1 certificate and is
 *     self-signed (issuer = subject and its own key verifies its
 *     signature): a legacy v1 root, which OpenSSL also accepts.
 *
 * Everything else is an end-entity certificate and refused: CA:FALSE,
 * a v3 certificate without basicConstraints (RFC 5280 4.2.1.9 requires
 * it in CA certificates), CA:TRUE with a keyUsage lacking keyCertSign.
 * Validity is not a condition: an expired CA is stored (and reported),
 * since chain validation rejects it on its own.
 *
 * struct castore_ca is a plain record; castore_ca_free() frees it.
 * Functions return 0 or a negative GW_ERR_* with a latched detail, and
 * never begin, commit or abort the caller's transaction.
 */
#ifndef CASTORE_H
#define CASTORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "gw_store.h"

#define CASTORE_ID_LEN 64	/* hex digits of a full ID */
#define CASTORE_PREFIX_MIN 8	/* shortest ID prefix accepted */

struct castore_ca {
	char id[CASTORE_ID_LEN + 1];
	X509 *cert;
	char *source;		/* "added" */
	uint64_t added;		/* seconds since the epoch */
};

void castore_ca_free(struct castore_ca *ca);

/* The ID of cert into id (CASTORE_ID_LEN + 1 bytes). */
int castore_id(X509 *cert, char id[CASTORE_ID_LEN + 1]);

/* 0 when cert may be a trust anchor by the rule above;
 * GW_ERR_REQUIREMENT naming the reason otherwise. */
int castore_ca_check(X509 *cert);

/*
 * Stores cert (borrowed) after castore_ca_check().  0 when added,
 * GW_ERR_EXISTS (no detail latched) when that certificate is already
 * stored.  *id (may be NULL) gets its ID in either case.
 */
int castore_add(struct gw_txn *txn, X509 *cert, time_t now,
		char id[CASTORE_ID_LEN + 1]);

/*
 * The CA whose ID is ref or starts with ref: 8-64 hex digits, any case,
 * colons ignored.  GW_ERR_INVALID for a malformed ref or one that
 * matches several CAs (the detail says how many); GW_ERR_NOT_FOUND.
 */
int castore_get(struct gw_txn *txn, const char *ref, struct castore_ca **out);
/* Resolves ref as castore_get() and deletes that CA; *out (may be NULL)
 * gets the deleted record. */
int castore_del(struct gw_txn *txn, const char *ref, struct castore_ca **out);

/* Calls fn for each CA in ID order; fn must not keep ca. */
typedef int (*castore_fn)(void *arg, const struct castore_ca *ca);
int castore_foreach(struct gw_txn *txn, castore_fn fn, void *arg);

/* Adds every stored CA to store as a trust anchor (a certificate the
 * store already holds is not an error). */
int castore_load(struct gw_txn *txn, X509_STORE *store);

/*
 * The CAs' index, GW_DB_CAS_IX: "n:" and the hash of each CA's subject
 * (cert_names.h), NUL, its ID; kept by castore_add() and castore_del(),
 * built by the store format upgrade (addr_index.h) with
 * castore_index_add(), checked by store check (castore_index_name()
 * gives a CA's one name).  castore_by_subject() calls fn with each CA
 * whose subject is name (X509_NAME_cmp()), reading the index.
 */
int castore_index_name(X509 *cert, char *buf, size_t size);
int castore_index_add(struct gw_txn *txn, const struct castore_ca *ca);
int castore_by_subject(struct gw_txn *txn, const X509_NAME *name,
		       castore_fn fn, void *arg);

#endif
