/*
 * harvest.h - harvested public keys ("Harvested Public Keys" in the
 * reference): signer certificates taken from incoming signed mail, so
 * that the gateway can encrypt back to their owners.
 *
 * Records live in GW_DB_HARVESTED keyed by the certificate's SHA-256
 * fingerprint as 64 lower-case hex digits (the key's ID).  Each keeps
 * its provenance: the address it was harvested for (the From address
 * the certificate covered), first and last seen, the Message-ID and
 * sender of the message that last brought it, the verification result
 * of that message ("pass" or "fail"), how often it was seen, when a
 * lookup last chose it (last used), and whether it arrived as an update
 * of a different key for the same address (and which one).
 *
 * Rules of harvest_message(), in order, per signer certificate:
 *   - only when the message's signatures verified, or with on_failure;
 *   - never from an expired / not-yet-valid certificate unless
 *     allow_expired, nor a self-signed one unless allow_self_signed;
 *   - the certificate must pass the partner requirement checks and be
 *     able to encrypt (keystore_caps() has KEYSTORE_CAP_ENCRYPT), and
 *     cover the sender address (addr_rule_covers());
 *   - a certificate already stored is "seen": last seen, count and
 *     provenance are refreshed;
 *   - a new certificate for an address that already has a different
 *     harvested key is an update: stored only with updates, and at most
 *     one signer per message counts as updated (the others are skipped
 *     with that reason);
 *   - an update raises an alert when another update arrived for the
 *     same domain, or from the same Message-ID, within the 48 hours
 *     before now (HARVEST_ALERT_WINDOW).
 * The repository is bounded by max_bytes (the sum of stored record
 * sizes): before a new record would exceed it, the least recently used
 * records (last used, else last seen) are evicted first, and an alert
 * says how many and why.
 *
 * Alerts are stored in GW_DB_ALERTS (see alerts.h) in the caller's
 * transaction and copied into the report; harvest_report_log() sends
 * them to syslog at LOG_WARNING: call it after the commit.
 *
 * Every function returns 0 or a negative GW_ERR_* with a latched
 * detail, and never begins, commits or aborts the caller's transaction.
 * now is always passed in (an injectable clock).
 *
 * Details of the implementation (harvest.c):
 *   - a skipped signer is not an error: its reason is in the outcome,
 *     and a detail the caller had latched before is kept;
 *   - signers past HARVEST_MAX_SIGNERS are not looked at;
 *   - addresses are compared ASCII case-insensitively; the sender and
 *     Message-ID are stored as printable ASCII (other bytes '?'), cut
 *     at 255 and 998 bytes;
 *   - an update keeps the key it updates (replaces names it): the
 *     lookup prefers the newer certificate, and the older one ages out
 *     by LRU or is deleted by the administrator;
 *   - a record that cannot fit max_bytes even in an empty repository
 *     is skipped with that reason;
 *   - the lookup (lookup_harvested()) only reads: the caller
 *     that encrypts with a harvested key calls harvest_touch() in its
 *     write transaction.
 */
#ifndef HARVEST_H
#define HARVEST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "gw_store.h"

#define HARVEST_ID_LEN 64
#define HARVEST_DEFAULT_MAX ((uint64_t)512 << 20) /* 512 MB */
#define HARVEST_ALERT_WINDOW (48 * 3600)
#define HARVEST_MAX_SIGNERS 8	/* outcomes kept in one report */
#define HARVEST_MAX_ALERTS 8

struct harvest_opts {
	int on_failure;		/* also when verification failed */
	int updates;		/* store keys that update a known address */
	int allow_expired;
	int allow_self_signed;
	uint64_t max_bytes;	/* 0: HARVEST_DEFAULT_MAX */
};

struct harvest_msg {
	STACK_OF(X509) *signers; /* get0: the signers' certificates */
	int verified;		 /* 1 when the signatures verified */
	const char *sender;	 /* From address ("" when none) */
	const char *message_id;	 /* "" when none */
};

enum harvest_what {
	HARVEST_NEW,		/* stored, first key for its address */
	HARVEST_SEEN,		/* already stored: provenance refreshed */
	HARVEST_UPDATED,	/* stored, replaces another key's address */
	HARVEST_SKIPPED,	/* not stored: reason says why */
};

struct harvest_outcome {
	char id[HARVEST_ID_LEN + 1];
	char address[256];
	enum harvest_what what;
	char reason[256];
};

struct harvest_report {
	size_t n;		/* outcomes (at most HARVEST_MAX_SIGNERS) */
	struct harvest_outcome o[HARVEST_MAX_SIGNERS];
	size_t nalerts;
	char alerts[HARVEST_MAX_ALERTS][512];
	size_t evicted;		/* records evicted to make room */
};

/* "new", "seen", "updated", "skipped". */
const char *harvest_what_name(enum harvest_what w);

int harvest_message(struct gw_txn *txn, const struct harvest_msg *m,
		    const struct harvest_opts *o, time_t now,
		    struct harvest_report *rep);

/* syslog(LOG_WARNING) of each alert in rep. */
void harvest_report_log(const struct harvest_report *rep);

/* Records that a lookup chose key id at now (the LRU clock). */
int harvest_touch(struct gw_txn *txn, const char *id, time_t now);

struct harvested_key {
	char id[HARVEST_ID_LEN + 1];
	X509 *cert;
	char *address;
	char *message_id;
	char *sender;
	char *verification;	/* "pass" or "fail" */
	char *replaces;		/* ID of the key it updated, or NULL */
	uint64_t first_seen, last_seen, last_used, seen_count;
	int updated;
};

void harvested_key_free(struct harvested_key *k);

/* Writes k as it is, over any record with its ID, keeping the byte
 * total: restoring a backup (config import).  No rule of
 * harvest_message() applies and nothing is evicted.  GW_ERR_INVALID
 * when a field is missing or k->id is not k->cert's ID. */
int harvested_put(struct gw_txn *txn, const struct harvested_key *k);
/* The time eviction orders keys by: last_used, else last_seen. */
uint64_t harvested_lru_time(const struct harvested_key *k);

/* The sum of the stored record sizes (key + value bytes) that
 * max_bytes bounds.  Only reads: a missing counter is recounted. */
int harvested_bytes(struct gw_txn *txn, uint64_t *total);

/* The key whose ID is ref or starts with ref (8-64 hex digits, colons
 * ignored), or whose address is ref when exactly one key has it.
 * GW_ERR_INVALID when ambiguous, GW_ERR_NOT_FOUND when absent. */
int harvested_get(struct gw_txn *txn, const char *ref,
		  struct harvested_key **out);
int harvested_del(struct gw_txn *txn, const char *ref);

/* Calls fn for each key in ID order; fn must not keep k. */
typedef int (*harvested_fn)(void *arg, const struct harvested_key *k);
int harvested_foreach(struct gw_txn *txn, harvested_fn fn, void *arg);

#endif
