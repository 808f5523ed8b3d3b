/*
 * process.h - one message through the gateway's policy, as the daemon
 * will apply it: "smimegw process" is its command-line front.
 *
 * Outgoing, with a sending profile (profile.h):
 *   - a profile that signs has its identity sign the message once
 *     (engine_sign(): usage, validity, From covered); a refusal bounces
 *     the whole message, as the reference says; a token failure is
 *     temporary;
 *   - a profile that encrypts looks up every recipient's key
 *     (lookup_key_match(): public keys, then harvested keys) and
 *     applies the profile's action to recipients without one:
 *       bounce  nothing is delivered; the reason names them;
 *       drop    nothing is delivered;
 *       split   copy 1, encrypted (and signed as the mode says), goes
 *               to the recipients with keys; copy 2 goes unencrypted to
 *               the others: signed when the mode signs, else as it came;
 *   - without a profile the message is delivered unchanged.
 * Incoming: every layer is opened as "message open" does (identities
 * decrypt; signatures verify against the identities, the trusted CAs
 * and optionally the system store), with the result headers; the
 * signers' certificates are harvested when asked (harvest.h).  A
 * temporary failure of the token (temperror) defers the message rather
 * than deliver it undecrypted.
 *
 * Store access: one read transaction for the decisions, none held while
 * the token works, and one short write transaction at the end for
 * harvesting and the harvested keys' LRU clock.  A failure of that
 * write never loses the message: it is delivered and the failure is
 * reported (harvest_error).
 */
#ifndef PROCESS_H
#define PROCESS_H

#include <stddef.h>
#include <time.h>

#include "engine.h"
#include "gw_buf.h"
#include "harvest.h"
#include "lookup.h"
#include "smime_open.h"

#define PROCESS_MAX_RCPT 1000
#define PROCESS_MAX_COPIES 2

enum process_direction {
	PROCESS_OUTGOING,
	PROCESS_INCOMING,
};

struct process_req {
	enum process_direction direction;
	const char *from;		/* envelope sender ("" for <>) */
	const char *const *to;		/* envelope recipients */
	size_t nto;
	const char *profile;		/* outgoing; NULL: unchanged */
	int harvest;			/* incoming: harvest signers */
	struct harvest_opts harvest_opts;
	int system_trust;		/* incoming: system trust store too */
	int remove_signature;
	const char *authserv_id;
	const char *queue_id;		/* the MTA's queue id, for the log;
					 * NULL when unknown */
	time_t now;			/* 0: time(NULL) */
};

enum process_decision {
	PROCESS_DELIVER,
	PROCESS_DROP,
	PROCESS_BOUNCE,
};

enum process_outcome {
	PROCESS_RCPT_PROTECTED,		/* got the copy the profile asks for */
	PROCESS_RCPT_UNENCRYPTED,	/* split: no key, copy without encryption */
	PROCESS_RCPT_DELIVERED,		/* no profile, or incoming */
	PROCESS_RCPT_BOUNCED,
	PROCESS_RCPT_DROPPED,
};

struct process_rcpt {
	const char *address;		/* req->to[i] */
	enum process_outcome outcome;
	int copy;			/* 1-based copy number, 0: none */
	int has_key;			/* encrypting profiles: a key found */
	struct lookup_match match;	/* how the key was found */
	char reason[512];		/* why there is no key */
};

struct process_copy {
	struct gw_buf msg;
	const char *applied;	/* "sign", "encrypt", "sign-encrypt",
				 * "triple", "none", "open" */
	size_t nkeys;		/* distinct certificates encrypted to */
};

struct process_result {
	enum process_decision decision;
	char reason[1024];
	char profile_mode[16];		/* the profile's mode, or "" */
	size_t ncopies;
	struct process_copy copies[PROCESS_MAX_COPIES];
	struct process_rcpt *rcpts;	/* nto entries */
	size_t nrcpts;
	/* incoming */
	struct smime_open_result open;
	struct harvest_report harvest;
	char harvest_error[512];	/* "" unless the store write failed */
};

void process_result_init(struct process_result *res);
void process_result_free(struct process_result *res);

/* "deliver", "drop", "bounce"; "protected", "unencrypted", ... */
const char *process_decision_name(enum process_decision d);
const char *process_outcome_name(enum process_outcome o);

/*
 * Logs the one summary line of a processed message (log.h, at info):
 * direction, decision, profile, S/MIME result, every recipient with its
 * outcome, and the queue id when req has one.  err is what
 * process_message() returned: a failed run logs "defer" or "reject"
 * (gw_reply.h) as its decision.
 */
void process_log_summary(const struct process_req *req,
			 const struct process_result *res, int err);

/*
 * Applies the policy to msg (len bytes).  0 with a decision in res;
 * otherwise a GW_ERR_* code: temporary ones (gw_err_class()) mean
 * "try again later" (token unavailable, store busy, a profile that
 * does not exist); GW_ERR_PARSE / GW_ERR_LIMIT mean unusable input.
 */
int process_message(const struct engine *e, const struct process_req *req,
		    const unsigned char *msg, size_t len,
		    struct process_result *res);

#endif
