/*
 * process_json.h - the result of one process_message() run as JSON
 * (the result.json of "smimegw process", and what the daemon will log
 * or hand on).
 *
 * The document is an object with, in this order: direction, decision,
 * reason, from; outgoing: profile (null without one) and mode (when the
 * profile has one); copies; recipients; incoming with an S/MIME result:
 * flags, smime, harvested and harvest_evicted (when some were); then
 * harvest_error (when the store write failed) and alerts.  Every string
 * is escaped as RFC 8259 asks; control characters and DEL as \u00XX,
 * and bytes that are not UTF-8 (header text can be anything) as
 * \ufffd, so the document is always valid JSON.
 */
#ifndef PROCESS_JSON_H
#define PROCESS_JSON_H

#include <stddef.h>

#include "gw_buf.h"
#include "process.h"

/*
 * Appends the document for req and res to out.  decision is
 * process_decision_name(res->decision) and why res->reason when
 * process_message() succeeded; when it failed, decision is "defer" or
 * "reject", why says why and res is an empty result
 * (process_result_init()).  Returns what the last append to out
 * returned: 0, or GW_ERR_LIMIT / GW_ERR_NOMEM.  An earlier append that
 * failed is not reported, so give out a ceiling with room for the
 * largest document (16 MiB is ample for PROCESS_MAX_RCPT recipients).
 */
int process_json(const struct process_req *req,
		 const struct process_result *res, const char *decision,
		 const char *why, struct gw_buf *out);

/* The file name result.json gives copy i (0-based): "copy-1.eml" ... */
void process_json_copy_name(char *buf, size_t len, size_t i);

#endif
