/*
 * certmgr.h - the gateway's own identities: create, request, install,
 * import, delete.
 *
 * Each operation changes the token and the store together and leaves
 * nothing behind when it fails: token objects made by a failed
 * operation are destroyed, and the store changes in one transaction at
 * the end (a process killed half-way can leave token objects without a
 * record; certmgr_delete() clears them).  The token is opened on first
 * need: list and export never touch it, show does to report the key's
 * protection.
 */
#ifndef CERTMGR_H
#define CERTMGR_H

#include <openssl/x509.h>

#include "cert_build.h"
#include "gw_store.h"
#include "identity.h"
#include "p11_admin.h"
#include "p11_key.h"
#include "p11_token.h"

struct certmgr;

/* Where the store and the token are.  The strings must outlive the
 * certmgr. */
struct certmgr_config {
	const char *data_dir;
	size_t store_map_size;
	int create_store;	/* a missing store is created (else an error) */
	struct p11_token_config token;
};

/* Opens the store under cfg->data_dir (creating it only with
 * cfg->create_store, see gw_store_open_ex()); the token on first need. */
int certmgr_open(const struct certmgr_config *cfg, struct certmgr **out);
void certmgr_free(struct certmgr *cm);

/* The store certmgr opened, for callers that read or write other
 * records in the same environment (LMDB allows one per process). */
struct gw_store *certmgr_store(struct certmgr *cm);

/* Test hook: the clock used for validity checks (0: time(NULL)). */
void certmgr_set_now(struct certmgr *cm, time_t now);

int certmgr_create(struct certmgr *cm, const char *name,
		   const struct cert_spec *spec, enum p11_keytype kt,
		   int fqdn_check);
int certmgr_csr(struct certmgr *cm, const char *name, X509_REQ **out);
/* Binds a CA-issued certificate (file: PEM or DER, with its chain) to
 * the key of identity name; the certificate it replaces is kept as a
 * previous certificate (identity.h). */
int certmgr_install(struct certmgr *cm, const char *name, const char *file,
		    int fqdn_check);
/* Forgets identity name's previous certificates with serial number
 * serial (hex), or all of them when serial is NULL; *n gets how many.
 * Mail encrypted to them is no longer decrypted.  Store only. */
int certmgr_forget_previous(struct certmgr *cm, const char *name,
			    const char *serial, size_t *n);

struct certmgr_p12 {
	const char *file;
	const char *passphrase_file; /* NULL: no passphrase */
	int fqdn_check;
	enum cert_usage usage;	     /* 0: from the certificate's keyUsage */
};
int certmgr_import_p12(struct certmgr *cm, const char *name,
		       const struct certmgr_p12 *opts);

/* Removes the token objects and the record; *objects gets how many
 * token objects went (may be NULL).  With no record of that name, the
 * token objects labelled name (left by a create or import that was
 * killed half-way) are removed instead; GW_ERR_NOT_FOUND when there
 * were none either. */
int certmgr_delete(struct certmgr *cm, const char *name, size_t *objects);

int certmgr_get(struct certmgr *cm, const char *name, struct identity **out);
int certmgr_foreach(struct certmgr *cm, identity_fn fn, void *arg);

/* Runs the requirement checks for an identity's certificate. */
int certmgr_check(struct certmgr *cm, const struct identity *id,
		  struct cert_check_report *report);

/* The identity's private key, usable through the token (get1). */
int certmgr_load_key(struct certmgr *cm, const struct identity *id,
		     EVP_PKEY **key);

/* The key's protection attributes on the token (opens the token). */
int certmgr_key_attrs(struct certmgr *cm, const struct identity *id,
		      struct p11_key_attrs *attrs);

#endif
