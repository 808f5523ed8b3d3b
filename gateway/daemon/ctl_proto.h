/*
 * ctl_proto.h - what smimegwd's processes tell each other about the
 * running gateway, and what "smimegw daemon" asks the master: one home
 * for the frames (lib/ipc.h) of
 *
 *   - the workers' counters (worker -> master, on the stream given by
 *     --master-fd): sessions open now, and messages by outcome since
 *     the worker started, cumulative, so a frame that is late loses
 *     nothing;
 *   - the control socket (smimegw daemon -> master): STATUS and RELOAD,
 *     one request and one reply per connection.
 *
 * The token's state comes from smimegw-keyd on its status stream, in
 * the frame that keyd_proto.h defines (KEYD_STATUS).
 *
 * Readers are strict (ipc_end()); a frame that does not decode is
 * GW_ERR_PARSE naming the field.  This library uses lib/ only, so that
 * the smimegw command links it without the daemon.
 */
#ifndef CTL_PROTO_H
#define CTL_PROTO_H

#include <stdint.h>
#include <stdio.h>

#include "ipc.h"

/* Frame types: distinct from keyd_proto.h's, so a stream mixed up is
 * refused rather than misread. */
#define CTL_STATS 0x43530001u		/* worker -> master */
#define CTL_REQ_STATUS 0x43530010u	/* smimegw -> master, empty */
#define CTL_REQ_RELOAD 0x43530011u	/* smimegw -> master, empty */
#define CTL_STATUS 0x43530020u		/* master -> smimegw */
#define CTL_RESULT 0x43530021u		/* master -> smimegw: ok, text */

#define CTL_WORKERS_MAX 256
#define CTL_TEXT_MAX 1024
#define CTL_STATE_MAX 32

/* How a message ended, for the counters (ctl_outcome_of()). */
enum ctl_outcome {
	CTL_DELIVERED,	/* every recipient 2xx, relayed */
	CTL_BOUNCED,	/* a 5xx that makes Postfix send a DSN */
	CTL_DROPPED,	/* 250 by policy, nothing relayed */
	CTL_DEFERRED,	/* a 4xx: Postfix tries again */
	CTL_REJECTED,	/* 5xx for bad input (the "reject" decision) */
	CTL_NOUTCOMES,
};

struct ctl_counts {
	uint64_t sessions;	/* open now */
	uint64_t messages;	/* since start: the sum of by[] */
	uint64_t by[CTL_NOUTCOMES];
};

struct ctl_worker {
	uint32_t pid;
	uint32_t gen;
	uint32_t index;
	uint32_t retiring;	/* 1: a newer generation took over */
	struct ctl_counts c;
};

struct ctl_status {
	uint32_t master_pid;
	uint64_t started;	/* epoch seconds */
	uint64_t now;
	uint32_t gen;		/* the current generation */
	uint32_t keyd_pid;	/* 0: not running */
	char token[CTL_STATE_MAX];	/* opening, up, down, reopening ... */
	uint64_t token_since;	/* epoch seconds; 0: unknown */
	char token_detail[CTL_TEXT_MAX];
	char conf[CTL_TEXT_MAX];
	struct ctl_counts total;	/* since the master started */
	uint32_t nworkers;
	struct ctl_worker w[CTL_WORKERS_MAX];
};

/* The outcome of a message given the decision word the worker logs
 * ("deliver", "bounce", "drop", "defer", "reject") and the reply
 * codes given upstream: any 4xx is deferred; "reject" is rejected; any
 * other 5xx bounced; "drop" dropped; the rest delivered. */
enum ctl_outcome ctl_outcome_of(const char *decision, const int *codes,
				size_t n);
const char *ctl_outcome_name(enum ctl_outcome o);

int ctl_counts_put(struct ipc_msg *m, const struct ctl_counts *c);
int ctl_counts_get(struct ipc_frame *f, struct ctl_counts *c);

/* CTL_STATUS frames (id echoes the request's). */
int ctl_status_encode(struct ipc_msg *m, const struct ctl_status *st);
int ctl_status_decode(struct ipc_frame *f, struct ctl_status *st);

/* CTL_RESULT: ok (1) or not, and the text (the error detail). */
int ctl_result_encode(struct ipc_msg *m, int ok, const char *text);
int ctl_result_decode(struct ipc_frame *f, int *ok, char *text, size_t max);

/* The status for people (json 0) or as one JSON object (json 1). */
void ctl_status_print(FILE *fp, const struct ctl_status *st, int json);

#endif
