/*
 * keystore.h - partners' public keys ("Public Keys" in the reference):
 * records (keystore.c) and their text form (keystore_text.c).  The
 * recipient lookup that reads them is gateway/keys/lookup.h.
 *
 * A public key is a name bound to one partner certificate.  Records
 * live in GW_DB_PUBKEYS keyed by name (the rules of
 * identity_name_valid()).  What a key may do is derived from its
 * certificate by the key usage rules in force (keystore_caps(),
 * cert_key_usage_allows() under cert_rules_others()), when it is
 * stored and again whenever it is read:
 *
 *   KEYSTORE_CAP_ENCRYPT  keyUsage with keyEncipherment (RSA key) or
 *                         keyAgreement (EC key), or no keyUsage at all
 *                         (RFC 8550 4.4.2; not under cert_requirements
 *                         = strict, where the extension is required).
 *   KEYSTORE_CAP_VERIFY   keyUsage absent or with digitalSignature.
 *
 * keystore_check() is the gate for add and import: the certificate
 * must not be a CA (basicConstraints CA:TRUE: a pinned key is trusted
 * for itself only, never as an issuer; CAs are castore.h's), it
 * needs at least one capability and must pass cert_check() in the
 * CERT_ROLE_PARTNER role for the usages it has; a certificate outside
 * its validity is refused (GW_ERR_EXPIRED) unless allow_expired is set.
 * A key stored that way is kept, listed and exported, but never
 * returned by a lookup while it is outside its validity.
 *
 * struct keystore_key is a plain record; keystore_key_free() frees
 * everything it points to.  Every function returns 0 or a negative
 * GW_ERR_* with a latched detail (gw_err_detail()).  Functions taking a
 * transaction never begin, commit or abort it: one CLI change is one
 * transaction, owned by the caller.
 */
#ifndef KEYSTORE_H
#define KEYSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "gw_buf.h"
#include "addr_rule.h"
#include "gw_store.h"

#define KEYSTORE_NAME_MAX 64

#define KEYSTORE_CAP_ENCRYPT 0x1u
#define KEYSTORE_CAP_VERIFY 0x2u

/* Ceilings: one PEM certificate given to add; a text given whole to
 * keystore_import_parse() (a streamed import, keystore_pipe_new(),
 * has none: each of its chunks is one such text); one record written
 * by the export. */
#define KEYSTORE_PEM_MAX ((size_t)1 << 20)
#define KEYSTORE_EXPORT_MAX ((size_t)64 << 20)
/* Entries in one text given whole. */
#define KEYSTORE_IMPORT_MAX_KEYS 100000

struct keystore_key {
	char *name;
	X509 *cert;
	unsigned caps;		/* KEYSTORE_CAP_* */
	int allow_expired;	/* stored with --allow-expired */
	char *source;		/* "added" or "imported" */
	uint64_t added;		/* seconds since the epoch */
	uint64_t updated;
};

void keystore_key_free(struct keystore_key *k);

/* KEYSTORE_CAP_* derived from cert's key type and keyUsage. */
unsigned keystore_caps(X509 *cert);
/* "encrypt,verify", "encrypt", "verify" or "none". */
const char *keystore_caps_name(unsigned caps);

/*
 * The requirement checks for add and import (see above).  0 and *caps
 * on success; GW_ERR_REQUIREMENT naming the failing check
 * ("basic-constraints: ..." for a CA, "key usage: ..." when the
 * certificate can neither encrypt nor verify);
 * GW_ERR_EXPIRED when outside its validity at now and !allow_expired.
 * now 0 means time(NULL).
 */
int keystore_check(X509 *cert, int allow_expired, time_t now,
		   unsigned *caps);

/*
 * The one certificate in PEM text buf (len bytes, at most
 * KEYSTORE_PEM_MAX).  Text outside PEM blocks is ignored (RFC 7468).
 * GW_ERR_PARSE, detail prefixed by src, when there is no CERTIFICATE
 * block, more than one, a block that does not decode to exactly one
 * DER certificate, a PRIVATE KEY block (refused outright), or any other
 * kind of block.  *out is the caller's.
 */
int keystore_read_pem(const char *buf, size_t len, const char *src,
		      X509 **out);

/* GW_ERR_NOT_FOUND (detail names it) when absent. */
int keystore_get(struct gw_txn *txn, const char *name,
		 struct keystore_key **out);
/* Writes k as is.  flags: GW_PUT_NOOVERWRITE refuses an existing name
 * with GW_ERR_EXISTS. */
int keystore_put(struct gw_txn *txn, const struct keystore_key *k,
		 unsigned flags);
/*
 * keystore_check() then a new record (source "added", added = updated
 * = now); GW_ERR_INVALID for a bad name, GW_ERR_EXISTS when the name is
 * taken.  cert is borrowed.
 */
int keystore_add(struct gw_txn *txn, const char *name, X509 *cert,
		 int allow_expired, time_t now);
int keystore_del(struct gw_txn *txn, const char *name);

/* Calls fn for each key in name order; fn must not keep k; it returns
 * 0 to go on, > 0 to stop, < 0 to fail with that code. */
typedef int (*keystore_fn)(void *arg, const struct keystore_key *k);
int keystore_foreach(struct gw_txn *txn, keystore_fn fn, void *arg);
/* As keystore_foreach(), the certificates read lean (cert_lean.h: the
 * key through cert_pubkey() only, never handed to OpenSSL as a signer,
 * issuer or recipient) and not through the process's cache: the walks
 * that print every key (export, search, list). */
int keystore_foreach_lean(struct gw_txn *txn, keystore_fn fn, void *arg);

/*
 * Calls fn for each key that text (1-256 bytes) matches: a substring,
 * ASCII case-insensitive, of the name, the one-line subject, a SAN
 * rfc822Name or dNSName, or the SHA-256 fingerprint (hex, with or
 * without colons); or, when text is an address or a domain, a key
 * whose SANs cover it by the lookup rules (a wildcard included),
 * whatever its validity and capabilities.
 */
int keystore_search(struct gw_txn *txn, const char *text, keystore_fn fn,
		    void *arg);

/* ---- export and import ------------------------------------------------
 *
 * The export text (UTF-8, LF line ends):
 *
 *   smimegw-pubkeys 1                      header: format and version
 *   # comment lines and blank lines are ignored between entries
 *   name: NAME                             starts an entry
 *   allow-expired: yes                     optional attribute (yes|no)
 *   source: added|imported                 optional (config export only)
 *   added: YYYY-MM-DDTHH:MM:SSZ            optional: the record's times
 *   updated: YYYY-MM-DDTHH:MM:SSZ          (textfmt_time())
 *   -----BEGIN CERTIFICATE-----            exactly one certificate
 *   ...base64, at most 76 characters a line...
 *   -----END CERTIFICATE-----
 *
 * keystore_export() writes every key in name order, each preceded by
 * comment lines with its subject, SANs and fingerprint, with its added
 * and updated times; the output is a function of the store content
 * only, so two exports of the same store are byte-identical.
 *
 * keystore_import_parse() reads such a text strictly: a wrong header or
 * version, an unknown or repeated attribute, a name that is invalid or
 * used twice, an entry without a certificate or with two, a block that
 * is not a clean CERTIFICATE, a NUL byte, a line over 4096 bytes: each
 * is GW_ERR_PARSE with "SRC:LINE: ...".  Then every entry is validated
 * with keystore_check() (allow_expired from the entry or the argument):
 * a failure is its code with "SRC:LINE: key 'NAME': ...".  An entry
 * with "added:" is a stored key being restored: its validity is not
 * checked again (a key that expired since is kept, as the store kept
 * it; lookups pass over it).  Nothing touches the store.
 *
 * keystore_import_apply() then works in the caller's write transaction:
 * a name not in the store is added (source "imported" unless the entry
 * gives one; its times when given, else now); a name stored
 * with the same certificate (DER-equal) is a duplicate and skipped; a
 * name stored with a different certificate is a conflict.  Conflicts
 * without replace: nothing is written, GW_ERR_EXISTS (the caller aborts
 * the transaction) and the outcomes say which names.  With replace a
 * conflict's record is overwritten (its first "added" time is kept).
 * The outcome of each entry can be read back in either case.
 */
#define KEYSTORE_EXPORT_HEADER "smimegw-pubkeys 1"

/* Appends the export text of every key to out (its ceiling applies). */
int keystore_export(struct gw_txn *txn, struct gw_buf *out);
/* The same; flags KEYSTORE_EXPORT_SOURCE adds each key's "source:"
 * (the configuration export, a backup, restores it; a key moved to
 * another gateway with "pubkey export" is "imported" there). */
#define KEYSTORE_EXPORT_SOURCE 0x1u
int keystore_export_with(struct gw_txn *txn, struct gw_buf *out,
			 unsigned flags);

enum keystore_outcome {
	KEYSTORE_PENDING,   /* not applied (yet) */
	KEYSTORE_ADDED,
	KEYSTORE_DUPLICATE, /* same name, same certificate: skipped */
	KEYSTORE_CONFLICT,  /* same name, different certificate: refused */
	KEYSTORE_REPLACED,  /* a conflict overwritten with replace */
};

struct keystore_import;

int keystore_import_parse(const char *buf, size_t len, const char *src,
			  int allow_expired, time_t now,
			  struct keystore_import **out);
/* The same for text that is part of a larger file and begins on its
 * line first_line: the lines in messages and keystore_import_line()
 * are those of the whole file. */
int keystore_import_parse_at(const char *buf, size_t len, const char *src,
			     unsigned first_line, int allow_expired,
			     time_t now, struct keystore_import **out);
void keystore_import_free(struct keystore_import *imp);
size_t keystore_import_count(const struct keystore_import *imp);
/* The i-th entry in file order: its name and the line of "name:". */
const char *keystore_import_name(const struct keystore_import *imp, size_t i);
unsigned keystore_import_line(const struct keystore_import *imp, size_t i);
enum keystore_outcome keystore_import_outcome(const struct keystore_import *imp,
					      size_t i);
int keystore_import_apply(struct gw_txn *txn, struct keystore_import *imp,
			  int replace, time_t now);

/*
 * A streamed import: a file of any size read in chunks of whole entries
 * (textstream.h), each parsed, checked and applied as above in the
 * caller's one write transaction, so that memory stays bounded and the
 * import is still all or nothing.  The first chunk begins with the
 * header; first is the line of the chunk's first line in the file.  A
 * name used in an earlier chunk is GW_ERR_PARSE as within one.
 * Conflicts without replace are not an error here: the chunk writes
 * nothing, fn sees them (KEYSTORE_CONFLICT) and keystore_stream_total()
 * counts them; the caller then refuses the import and aborts.  fn (may
 * be NULL) gets each entry's outcome in file order.
 */
struct keystore_stream;
typedef void (*keystore_outcome_fn)(void *arg, const char *name,
				    unsigned line, enum keystore_outcome o);
int keystore_stream_new(int allow_expired, int replace, time_t now,
			struct keystore_stream **out);
void keystore_stream_free(struct keystore_stream *ks);
/*
 * A chunk in two steps, so that the next chunk can be parsed while
 * this one is written (keystore_pipe_new()): keystore_stream_parse() parses,
 * decodes and checks a chunk into *imp (the caller frees it) and reads
 * nothing of the store; keystore_stream_apply() checks its names
 * against the earlier chunks' and writes it.  Each step's calls come in
 * the file's order; one parse may run in another thread while an apply
 * runs (they share no state).
 */
int keystore_stream_parse(struct keystore_stream *ks, const char *buf,
			  size_t len, const char *src, unsigned first,
			  struct keystore_import **imp);
int keystore_stream_apply(struct keystore_stream *ks, struct gw_txn *txn,
			  struct keystore_import *imp, const char *src,
			  keystore_outcome_fn fn, void *arg);
/* How many entries so far had outcome o. */
size_t keystore_stream_total(const struct keystore_stream *ks,
			     enum keystore_outcome o);
/* A line that begins an entry ("name:"), for textstream_chunk(). */
int keystore_entry_starts(const char *line, size_t len);

/*
 * The chunks of a streamed import, each read from ts and parsed by
 * keystore_stream_parse() in a thread of its own while the caller writes
 * the chunk before (keystore_stream_apply()): most of an import's time
 * is the parse, and it needs nothing of the store.  The text ends at the
 * end of ts or before a line stop accepts (NULL: none; a configuration
 * export's next section); with take_first, the line next in ts is the
 * first chunk's first line whatever stop says (a section's header).
 * The caller does not touch ts until keystore_pipe_next() gave NULL or
 * an error.
 *
 * keystore_pipe_next(): 0 and the next chunk in *imp (NULL at the
 * end), or the parse's error (latched).  The chunk stays the pipe's:
 * the caller is done with it when it asks for the next one, and the
 * thread that parses the chunk after frees it first (freed by the
 * writer, the certificates the parse threads allocated kept it waiting
 * on the allocator's locks while those threads allocated the next).
 * keystore_pipe_free() waits for the thread and frees every chunk.
 */
struct keystore_pipe;
struct textstream;
int keystore_pipe_new(struct keystore_stream *ks, struct textstream *ts,
		      const char *src, int (*stop)(const char *, size_t),
		      int take_first, struct keystore_pipe **out);
int keystore_pipe_next(struct keystore_pipe *p, struct keystore_import **imp);
void keystore_pipe_free(struct keystore_pipe *p);

#endif
