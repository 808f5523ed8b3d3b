/*
 * policy_file.h - the reviewable text files that carry policy objects:
 * the sending profile export and the whole-configuration export, the
 * store's backup (identities' records, public keys, trusted CAs,
 * harvested keys, alerts, sending profiles in one file).
 *
 * Every file is UTF-8 with LF line ends (a CR before the LF and blanks
 * at the end of a line are ignored); lines over 4096 bytes and NUL bytes
 * are refused.  Lines starting with '#' and blank lines are comments
 * wherever an entry may begin.
 *
 * Sending profiles (header POLICY_PROFILES_HEADER):
 *
 *   smimegw-profiles 1
 *   name: NAME                 starts an entry
 *   mode: sign|encrypt|sign-encrypt|triple        required
 *   cert: IDENTITY             modes that sign
 *   sign-mode: detached|opaque modes that sign (default detached)
 *   digest: sha256|sha384|sha512                  modes that sign
 *   pss: yes|no                modes that sign (default no)
 *   action: bounce|drop|split  modes that encrypt
 *   cipher: aes128-cbc|...|aes256-gcm             modes that encrypt
 *   oaep: yes|no               modes that encrypt (default no)
 *   added: TIME, updated: TIME the record's times (textfmt_time());
 *                              absent: the time of the import
 *
 * An attribute the entry's mode does not use is an error at its line,
 * as is an unknown or repeated attribute, a bad value, an invalid name
 * or one used twice, an entry without a mode.  Absent cipher/digest
 * mean the default (aes256-cbc, sha256).
 *
 * The configuration (header POLICY_CONFIG_HEADER) is sections, each
 * introduced by its own header line at the start of a line, each at
 * most once, in any order:
 *
 *   smimegw-config 1
 *   # comments
 *   smimegw-identities 1     identities' store records (policy_backup.h)
 *   smimegw-pubkeys 1        the text of keystore_export_with(), with
 *                            each key's source
 *   smimegw-cas 1            trusted CAs: PEM certificates, each after
 *                            comment lines with its subject and ID and
 *                            an "added: TIME" line
 *   smimegw-harvested 1      harvested keys (policy_backup.h)
 *   smimegw-alerts 1         alerts (policy_backup.h)
 *   smimegw-profiles 1       the sending profile text above
 *   smimegw-routes 1         the sending profile table (policy_route.h)
 *
 * Any other line starting with "smimegw-" where a section could begin
 * is an unknown section or version.  The identities' private keys are
 * not in the file: they live in the token.  Profiles that name an
 * identity are validated against the identities of the importing
 * gateway, after the file's identities are applied; in a configuration
 * a profile whose identity is missing or cannot sign is imported with
 * a warning (policy_file_item.warning), in a profile file it is an
 * error.
 *
 * Exports are a function of the store content only (entries in key
 * order): two exports of the same store are byte-identical, and an
 * import into an empty store exports the same bytes again.
 *
 * Importing is three steps, nothing touching the store before the last:
 * parse (syntax, every entry, with "SRC:LINE: ..." using the lines of
 * the whole file; public keys and CAs are checked here), validate in
 * the write transaction (profiles against the identities), apply in
 * that same transaction: a new object is added, an identical one is a
 * duplicate (skipped), a different one under the same name is a
 * conflict.  Conflicts without replace: GW_ERR_EXISTS and nothing is
 * meant to be written (the caller aborts the transaction, which it
 * must do on every error); the outcomes say which objects conflict.
 * With replace, conflicts are overwritten (REPLACED).  CAs are keyed by
 * their certificate's fingerprint, so they never conflict.
 *
 * Every function returns 0 or a negative GW_ERR_* with a latched
 * detail and never begins, commits or aborts the caller's transaction.
 */
#ifndef POLICY_FILE_H
#define POLICY_FILE_H

#include <stddef.h>
#include <time.h>

#include "gw_buf.h"
#include "gw_store.h"

#define POLICY_CONFIG_HEADER "smimegw-config 1"
#define POLICY_PROFILES_HEADER "smimegw-profiles 1"
#define POLICY_CAS_HEADER "smimegw-cas 1"

/* Ceiling of one import file; entries per section. */
#define POLICY_FILE_MAX ((size_t)64 << 20)
#define POLICY_FILE_MAX_ENTRIES 100000

/* Append the profile export / the configuration export to out. */
int policy_file_export_profiles(struct gw_txn *txn, struct gw_buf *out);
int policy_file_export_config(struct gw_txn *txn, struct gw_buf *out);

enum policy_file_kind {
	POLICY_FILE_PUBKEY,
	POLICY_FILE_CA,
	POLICY_FILE_PROFILE,
	POLICY_FILE_IDENTITY,
	POLICY_FILE_HARVESTED,
	POLICY_FILE_ALERT,
	POLICY_FILE_ROUTES,	/* the sending profile table, one object */
};

enum policy_file_outcome {
	POLICY_FILE_PENDING,   /* not applied (yet) */
	POLICY_FILE_ADDED,
	POLICY_FILE_DUPLICATE, /* identical object stored: skipped */
	POLICY_FILE_CONFLICT,  /* a different object under that name */
	POLICY_FILE_REPLACED,  /* a conflict overwritten with replace */
	POLICY_FILE_KEPT,      /* an identity of this gateway differs: kept */
	POLICY_FILE_OUTCOMES,
};

struct policy_file_import;

/* A sending profile file (POLICY_PROFILES_HEADER on its first line). */
int policy_file_parse_profiles(const char *buf, size_t len, const char *src,
			       struct policy_file_import **out);
/* A configuration file (POLICY_CONFIG_HEADER on its first line); now 0
 * is time(NULL), for the public key checks. */
int policy_file_parse_config(const char *buf, size_t len, const char *src,
			     time_t now, struct policy_file_import **out);
void policy_file_import_free(struct policy_file_import *imp);

/* Every profile through profile_validate() in txn: the first failure is
 * its code with "SRC:LINE: profile 'NAME': field: ...", LINE being the
 * line of the attribute at fault (or of "name:").  In a configuration a
 * failure of profile_check_signer() alone is the entry's warning. */
int policy_file_validate(struct gw_txn *txn, struct policy_file_import *imp,
			 time_t now);
/* Validates, then applies as described above. */
int policy_file_apply(struct gw_txn *txn, struct policy_file_import *imp,
		      int replace, time_t now);

/* The objects of an import: public keys, then CAs, then profiles,
 * identities, harvested keys and alerts, each in file order, then the
 * sending profile table (named "N entries"). */
struct policy_file_item {
	enum policy_file_kind kind;
	const char *name;	/* key, profile or identity name; a CA's or
				 * harvested key's 64-digit ID; an alert's
				 * time */
	const char *subject;	/* a CA's subject, a harvested key's address,
				 * an alert's kind; "" otherwise */
	unsigned line;		/* where its entry begins */
	enum policy_file_outcome outcome;
	const char *warning;	/* "" or why the object is not usable now (a
				 * profile whose identity is missing...) */
};

size_t policy_file_import_count(const struct policy_file_import *imp);
/* 0 and *item for i < count; GW_ERR_INVALID otherwise. */
int policy_file_import_item(const struct policy_file_import *imp, size_t i,
			    struct policy_file_item *item);

/*
 * A configuration file of any size (issue 10), read from ts in bounded
 * pieces and applied in the caller's write transaction as
 * policy_file_parse_config() and policy_file_apply() together do: the
 * public keys and harvested keys in chunks of whole entries, each
 * parsed, checked and written before the next is read (a name or ID
 * given twice in the file is still an error); the other sections,
 * which are small, whole (each at most TEXTSTREAM_CHUNK_MAX bytes) and
 * applied at the end.  fn (may be NULL) gets each object as it is
 * done (a conflict without replace as POLICY_FILE_CONFLICT); counts
 * gets how many had each outcome.  Any error, conflicts without replace
 * included, is returned when the file has been read: the caller aborts
 * the transaction, and nothing of the file is in the store.
 */
struct textstream;
typedef void (*policy_file_outcome_fn)(void *arg,
				       const struct policy_file_item *it);
int policy_file_import_stream(struct gw_txn *txn, struct textstream *ts,
			      const char *src, int replace, time_t now,
			      policy_file_outcome_fn fn, void *arg,
			      size_t counts[POLICY_FILE_OUTCOMES]);

/* "public key", "CA", "profile"; "added", "duplicate", ... */
const char *policy_file_kind_name(enum policy_file_kind kind);
const char *policy_file_outcome_name(enum policy_file_outcome o);

#endif
