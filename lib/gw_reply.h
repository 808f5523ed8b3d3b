/*
 * gw_reply.h - what a mail path answers when a message's processing
 * ends: the one home of the exit-status and SMTP-reply policy.
 *
 * "smimegw process" (a pipe(8) or content-filter command) exits with
 * the status; the daemon answers the SMTP reply.  Both come from here,
 * so that a message deferred by one is deferred by the other.
 *
 *   delivered or dropped       EX_OK (0)          250 2.0.0
 *   bounced by policy          EX_UNAVAILABLE (69) 550 5.7.1
 *   unusable input (malformed
 *     or past a ceiling)       EX_DATAERR (65)    554 5.6.0 / 552 5.3.4
 *   anything else              EX_TEMPFAIL (75)   451 4.3.0
 *
 * "Anything else" is ours to fix (the store, the token, the
 * configuration, memory): the message stays queued and is tried again,
 * never bounced.  A policy refusal is not an error code but a decision
 * (gw_reply_bounce()).
 */
#ifndef GW_REPLY_H
#define GW_REPLY_H

struct gw_reply {
	int exit_status;	/* sysexits.h */
	int smtp_code;		/* 250, 451, 550, 552, 554 */
	const char *enhanced;	/* RFC 3463 status code, e.g. "4.3.0" */
};

/* The answer for a message whose processing ended with err (a GW_ERR_*
 * code; 0 for success). */
struct gw_reply gw_reply_for_error(int err);

/* The answer for a message refused by policy (a bounce). */
struct gw_reply gw_reply_bounce(void);

/* 1 when the reply asks the sender's MTA to try again later. */
int gw_reply_is_temporary(const struct gw_reply *r);

#endif
