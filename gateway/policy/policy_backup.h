/*
 * policy_backup.h - the sections of the configuration export that hold
 * what the gateway made or gathered rather than what it was told: its
 * identities' store records, the harvested keys with their provenance
 * and the operator alerts.  Used by policy_file.c only; the format is in
 * policy_file.h and smimegw(1).
 *
 *   smimegw-identities 1   name (starts an entry), usage, key-type,
 *                          key-uri, source, created, updated; then the
 *                          certificate and its chain as PEM blocks
 *   smimegw-harvested 1    id (starts an entry), address, first-seen,
 *                          last-seen, last-used, seen-count, message-id,
 *                          sender, verification, replaces, updated; then
 *                          the certificate
 *   smimegw-alerts 1       time (starts an entry), severity, kind,
 *                          domain, message-id, text
 *
 * Times are textfmt_time()'s.  Exports are a function of the store
 * content.  Importing, in the caller's write transaction:
 *
 *   identities  a name not stored is added as the record was (the key it
 *               names stays where it is, on the token); the same
 *               certificate and key URI is a duplicate; a different
 *               identity of that name is this gateway's own and is kept
 *               (POLICY_FILE_KEPT), never replaced;
 *   harvested   an ID not stored is added with its provenance, an
 *               identical record is a duplicate, a different one a
 *               conflict (replaced with replace);
 *   alerts      an alert not stored (time, kind, text, domain and
 *               Message-ID) is added, else a duplicate.
 *
 * Every function returns 0 or a negative GW_ERR_* with a latched detail
 * ("SRC:LINE: ..." for the file) and never begins, commits or aborts the
 * caller's transaction.
 */
#ifndef POLICY_BACKUP_H
#define POLICY_BACKUP_H

#include <stddef.h>

#include "gw_buf.h"
#include "gw_store.h"
#include "policy_file.h"

#define POLICY_IDENTITIES_HEADER "smimegw-identities 1"
#define POLICY_HARVESTED_HEADER "smimegw-harvested 1"
#define POLICY_ALERTS_HEADER "smimegw-alerts 1"

enum policy_backup_kind {
	POLICY_BACKUP_IDENTITIES,
	POLICY_BACKUP_HARVESTED,
	POLICY_BACKUP_ALERTS,
	POLICY_BACKUP_KINDS,
};

/* The section header of kind. */
const char *policy_backup_header(enum policy_backup_kind kind);

/* Appends the section of kind (its header, comments, every record). */
int policy_backup_export(struct gw_txn *txn, enum policy_backup_kind kind,
			 struct gw_buf *out);

struct policy_backup;

struct policy_backup *policy_backup_new(void);
void policy_backup_free(struct policy_backup *bk);

/* Parses the section of kind (buf, len bytes, its header on line first
 * of src) into bk: syntax and every value. */
int policy_backup_parse(struct policy_backup *bk,
			enum policy_backup_kind kind, const char *buf,
			size_t len, const char *src, unsigned first);

/* Writes the identities (before the profiles are validated). */
int policy_backup_apply_identities(struct gw_txn *txn,
				   struct policy_backup *bk);
/* Classifies the harvested keys; *conflicts gets how many differ. */
int policy_backup_classify(struct gw_txn *txn, struct policy_backup *bk,
			   size_t *conflicts);
/* Writes the harvested keys (conflicts only with replace) and alerts. */
int policy_backup_apply_rest(struct gw_txn *txn, struct policy_backup *bk,
			     int replace);

/* The entries in file order (sections in the order they came);
 * item as policy_file_import_item() describes it. */
size_t policy_backup_count(const struct policy_backup *bk);
int policy_backup_item(const struct policy_backup *bk, size_t i,
		       struct policy_file_item *item);

#endif
