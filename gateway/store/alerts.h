/*
 * alerts.h - operator alerts kept in the store (GW_DB_ALERTS) and sent
 * to syslog.
 *
 * An alert is a dated line for the administrator: its severity (only
 * "warning" so far), its kind ("harvest-updates", "harvest-evicted"),
 * the text, and optionally the domain and Message-ID it concerns.
 * Records are keyed by 8 bytes of big-endian time then a 4-byte
 * big-endian sequence number, so the database sorts by time and two
 * alerts in the same second keep their order.
 *
 * Strings given to alerts_add() are stored as printable ASCII (other
 * bytes become '?') and cut at ALERTS_TEXT_MAX / ALERTS_FIELD_MAX
 * bytes, so a stored alert is safe to print and to log on one line.
 *
 * Functions taking a transaction never begin, commit or abort it, and
 * return 0 or a negative GW_ERR_* with a latched detail.
 */
#ifndef ALERTS_H
#define ALERTS_H

#include <stddef.h>
#include <stdint.h>

#include "gw_store.h"

#define ALERTS_TEXT_MAX 1024
#define ALERTS_FIELD_MAX 998	/* domain, Message-ID */
#define ALERTS_SAME_SECOND_MAX 65536
/* Alerts kept: adding one beyond this drops the oldest, so that a
 * sender who can raise alerts cannot fill the store. */
#define ALERTS_KEEP_MAX 10000

struct alert {
	uint64_t time;		/* seconds since the epoch */
	const char *severity;	/* "warning"; NULL: "warning" */
	const char *kind;	/* e.g. "harvest-updates" */
	const char *text;
	const char *domain;	/* NULL or "": none */
	const char *message_id; /* NULL or "": none */
};

/* Stores a (strings are copied, cleaned and cut as above), then drops
 * the oldest alerts beyond ALERTS_KEEP_MAX.  GW_ERR_INVALID when kind
 * or text is missing; GW_ERR_LIMIT when more than
 * ALERTS_SAME_SECOND_MAX alerts carry the same second. */
int alerts_add(struct gw_txn *txn, const struct alert *a);

/* Calls fn, oldest first, for each alert with time >= since; fn must
 * not keep a; it returns 0 to go on, > 0 to stop, < 0 to fail. */
typedef int (*alerts_fn)(void *arg, const struct alert *a);
int alerts_foreach(struct gw_txn *txn, uint64_t since, alerts_fn fn,
		   void *arg);

/* Deletes every alert with time < before (0: every alert); *n (may be
 * NULL) gets how many. */
int alerts_clear(struct gw_txn *txn, uint64_t before, size_t *n);

/*
 * Sends one line to syslog: ident "smimegw", facility LOG_MAIL,
 * priority LOG_WARNING, "alert KIND: TEXT".  Tests may redirect the
 * lines with alerts_set_sink() (NULL restores syslog).
 */
void alerts_log(const char *kind, const char *text);
typedef void (*alerts_sink_fn)(int priority, const char *line);
void alerts_set_sink(alerts_sink_fn fn);

#endif
