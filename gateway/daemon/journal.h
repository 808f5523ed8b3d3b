/*
 * journal.h - smimegwd's delivery journal: which recipients of which
 * message the next hop has accepted, so that Postfix's retry of a
 * message after a crash between the next hop's 250 and smimegwd's reply
 * is answered 250 without a second delivery (smimegwd(8), JOURNAL).
 *
 * The journal is its own LMDB environment, DATA_DIR/journal/data.mdb
 * (gw_store.h, GW_STORE_JOURNAL), created by the first worker that
 * needs it and shared by all workers.  One record per recipient of a
 * message:
 *
 *   key   the UTC day it was written (4 bytes, big-endian days since
 *         1970) and SHA-256 of the message's identity and the
 *         recipient address (32 bytes)
 *   value 'P' (pending: about to be relayed) or 'D' (the next hop
 *         accepted it), and the time written (8 bytes, big-endian)
 *
 * The message's identity is SHA-256 over the kind of identifier, the
 * identifier, the envelope sender and SHA-256 of the content as it came
 * from Postfix: Postfix's queue id when it sent XFORWARD IDENT, else
 * the Message-ID header field.  A message with neither is not
 * journaled: nothing could tell its retry from a new message.  A
 * different queue id, Message-ID, sender or content is another
 * message, so a new message is never taken for a retry.
 *
 * Records live JOURNAL_RETENTION_DAYS to one day more (longer than
 * Postfix's default maximal_queue_lifetime of 5 days): lookups read
 * the buckets of the last JOURNAL_RETENTION_DAYS days and today, and
 * each journal_begin() deletes at most JOURNAL_PURGE_MAX records of
 * older days, from the start of the key order (the oldest day first),
 * so that no message pays for a scan of the journal.
 *
 * Every function returns 0 or a GW_ERR_* code with its detail.
 */
#ifndef JOURNAL_H
#define JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define JOURNAL_RETENTION_DAYS 6
#define JOURNAL_PURGE_MAX 64
#define JOURNAL_ID_MAX 998	/* longest queue id or Message-ID used */

struct journal;

/* One message: journal_msg_init() fills it in. */
struct journal_msg {
	int usable;		/* 0: no identifier, not journaled */
	unsigned char id[32];	/* SHA-256 of its identity */
	uint32_t day;		/* the bucket journal_begin() wrote */
};

/* Opens (creating when missing) DATA_DIR/journal; map_size as for
 * gw_store_open_ex() (journal_map_size). */
int journal_open(const char *data_dir, size_t map_size, struct journal **out);
void journal_close(struct journal *j);

/*
 * The identity of the message msg[0..len) from sender (may be NULL:
 * the null sender) with queue_id (NULL or "" when Postfix sent none).
 * m->usable is 0 when there is neither a queue id nor a Message-ID.
 */
int journal_msg_init(struct journal_msg *m, const char *queue_id,
		     const char *sender, const unsigned char *msg,
		     size_t len);

/*
 * Before relaying: for each of the n recipients, seen[i] = 1 when the
 * next hop accepted m for it within the retention (a 'D' record), else
 * 0 and a 'P' record is written in today's bucket (m->day).  Expired
 * records are purged first (at most JOURNAL_PURGE_MAX).  One write
 * transaction: an error means nothing was written and nothing may be
 * relayed (the caller defers).  The commit does not wait for the disk
 * (a pending record lost with the machine means nothing); the one of
 * journal_done() does.
 */
int journal_begin(struct journal *j, struct journal_msg *m,
		  const char *const *rcpts, size_t n, time_t now,
		  unsigned char *seen);

/* After the next hop's 2xx for these n recipients of m: their 'D'
 * records, in the bucket journal_begin() used, in one transaction. */
int journal_done(struct journal *j, const struct journal_msg *m,
		 const char *const *rcpts, size_t n, time_t now);

/* Records in the journal (for tests and the operator's count). */
int journal_count(struct journal *j, size_t *n);

#endif
