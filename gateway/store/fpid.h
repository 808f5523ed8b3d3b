/*
 * fpid.h - IDs of certificates stored by fingerprint (trusted CAs in
 * castore.c, harvested keys in harvest.c): the certificate's SHA-256
 * fingerprint as FPID_LEN lower-case hex digits, used as the record
 * key, and the prefix an operator types to name one.
 *
 * A reference is FPID_PREFIX_MIN to FPID_LEN hex digits, any case,
 * colons ignored ("AB:CD:..." as openssl prints it).  What a prefix
 * that matches no record, or several, means is the caller's to say:
 * fpid_find() only counts.
 */
#ifndef FPID_H
#define FPID_H

#include <stddef.h>

#include <openssl/x509.h>

#include "gw_store.h"

#define FPID_LEN 64		/* hex digits of a full ID */
#define FPID_PREFIX_MIN 8	/* shortest prefix accepted */

/* The ID of cert into id; GW_ERR_CRYPTO when it cannot be computed
 * (id is then ""). */
int fpid_of(X509 *cert, char id[FPID_LEN + 1]);

/* ref without colons, lower-case, into out: 0 when it is a reference as
 * above, -1 when malformed (out is then undefined). */
int fpid_norm(const char *ref, char out[FPID_LEN + 1]);

/*
 * Counts the records of db whose FPID_LEN-byte key starts with prefix
 * (as fpid_norm() left it) into *hits; id gets the first of them in
 * key order.  Keys of another length are passed over.  0, or the
 * store's error.
 */
int fpid_find(struct gw_txn *txn, const char *db, const char *prefix,
	      size_t *hits, char id[FPID_LEN + 1]);

#endif
