/* process.c - one message through the gateway's policy (process.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "engine.h"
#include "identity.h"
#include "keysrc.h"
#include "lookup.h"
#include "gw_err.h"
#include "gw_reply.h"
#include "log.h"
#include "mime_addr.h"
#include "mime_header.h"
#include "mime_parser.h"
#include "process.h"
#include "profile.h"
#include "smime.h"

void
process_result_init(struct process_result *res)
{
	size_t i;

	memset(res, 0, sizeof(*res));
	for (i = 0; i < PROCESS_MAX_COPIES; i++)
		gw_buf_init(&res->copies[i].msg, SMIME_OUT_MAX);
}

void
process_result_free(struct process_result *res)
{
	size_t i;

	for (i = 0; i < PROCESS_MAX_COPIES; i++)
		gw_buf_free_secret(&res->copies[i].msg);
	free(res->rcpts);
	res->rcpts = NULL;
	smime_open_result_free(&res->open);
}

const char *
process_decision_name(enum process_decision d)
{
	switch (d) {
	case PROCESS_DELIVER: return "deliver";
	case PROCESS_DROP: return "drop";
	case PROCESS_BOUNCE: return "bounce";
	}
	return "?";
}

const char *
process_outcome_name(enum process_outcome o)
{
	switch (o) {
	case PROCESS_RCPT_PROTECTED: return "protected";
	case PROCESS_RCPT_UNENCRYPTED: return "unencrypted";
	case PROCESS_RCPT_DELIVERED: return "delivered";
	case PROCESS_RCPT_BOUNCED: return "bounced";
	case PROCESS_RCPT_DROPPED: return "dropped";
	}
	return "?";
}

static time_t
req_now(const struct process_req *req)
{
	return req->now ? req->now : time(NULL);
}

/* Sets every recipient's outcome and copy. */
static void
all_rcpts(struct process_result *res, enum process_outcome o, int copy)
{
	size_t i;

	for (i = 0; i < res->nrcpts; i++) {
		res->rcpts[i].outcome = o;
		res->rcpts[i].copy = copy;
	}
}

/* A new copy holding len bytes of msg; its number (1-based). */
static int
add_copy(struct process_result *res, const char *applied,
	 const unsigned char *msg, size_t len, int *num)
{
	struct process_copy *c;
	int rc;

	if (res->ncopies == PROCESS_MAX_COPIES)
		return gw_err_set(GW_ERR_INTERNAL, "too many copies");
	c = &res->copies[res->ncopies];
	if ((rc = gw_buf_add(&c->msg, msg, len)) != 0)
		return rc;
	c->applied = applied;
	*num = (int)++res->ncopies;
	return 0;
}

/* A decision that delivers nothing, for every recipient; why NULL
 * keeps the reason already in res. */
static int
refuse(struct process_result *res, enum process_decision d, const char *why)
{
	res->decision = d;
	if (why != NULL)
		snprintf(res->reason, sizeof(res->reason), "%s", why);
	all_rcpts(res, d == PROCESS_DROP ? PROCESS_RCPT_DROPPED
					 : PROCESS_RCPT_BOUNCED,
		  0);
	return 0;
}

/* ---- outgoing ---------------------------------------------------------- */

/* GW_ERR_CONFIG: profile p signs with an identity that is not there
 * (the latched detail says what is missing). */
static int
profile_signer_missing(const struct profile *p)
{
	char why[512];

	snprintf(why, sizeof(why), "%s", gw_err_detail());
	gw_err_clear();
	return gw_err_set(GW_ERR_CONFIG,
			  "sending profile '%s' signs with identity '%s', "
			  "which cannot be used: %s (smimegw profile edit %s "
			  "--cert IDENTITY)",
			  p->name, p->cert, why[0] ? why : "not found",
			  p->name);
}

/* Reads the profile and every recipient's key in one read transaction.
 * keys gets the distinct certificates; *missing how many lack one. */
static int
resolve(const struct engine *e, const struct process_req *req,
	struct profile *p, STACK_OF(X509) *keys, struct process_result *res,
	size_t *missing)
{
	struct gw_txn *txn = NULL;
	struct identity *id = NULL;
	struct process_rcpt *r;
	X509 *x;
	size_t i;
	int j, rc;

	*missing = 0;
	if ((rc = gw_txn_begin(e->store, GW_TXN_READ, &txn)) != 0)
		return rc;
	if ((rc = profile_get(txn, req->profile, p)) != 0) {
		if (rc == GW_ERR_NOT_FOUND) {
			/* A filter naming a profile that is gone is the
			 * administrator's to fix: defer, do not bounce. */
			gw_err_clear();
			rc = gw_err_set_at(GW_ERR_CONFIG, "profile",
					"there is no sending profile "
					"'%s'",
					req->profile);
		}
		goto out;
	}
	snprintf(res->profile_mode, sizeof(res->profile_mode), "%s",
		 profile_mode_name(p->mode));
	if (profile_mode_signs(p->mode)) {
		/* Before any recipient's fate is decided: a profile whose
		 * identity is gone defers, whatever the recipients. */
		if ((rc = keysrc_find_signer(e->keys, txn, p->cert, &id)) ==
		    GW_ERR_NOT_FOUND)
			rc = profile_signer_missing(p);
		identity_free(id);
		if (rc != 0)
			goto out;
	}
	if (!profile_mode_encrypts(p->mode))
		goto out;
	for (i = 0; i < res->nrcpts; i++) {
		r = &res->rcpts[i];
		x = NULL;
		rc = lookup_key_match(txn, r->address, req_now(req), &x,
					   &r->match);
		if (rc == GW_ERR_NOT_FOUND || rc == GW_ERR_INVALID) {
			snprintf(r->reason, sizeof(r->reason), "%s",
				 *gw_err_detail() ? gw_err_detail()
						  : "no public key");
			gw_err_clear();
			(*missing)++;
			rc = 0;
			continue;
		}
		if (rc != 0)
			goto out;
		r->has_key = 1;
		for (j = 0; j < sk_X509_num(keys); j++)
			if (X509_cmp(sk_X509_value(keys, j), x) == 0)
				break;
		if (j < sk_X509_num(keys)) {
			X509_free(x);
		} else if (!sk_X509_push(keys, x)) {
			X509_free(x);
			rc = GW_ERR_NOMEM;
			goto out;
		}
	}
out:
	gw_txn_abort(txn);
	return rc;
}

/* "no public key for a@b, c@d". */
static void
missing_reason(const struct process_result *res, const char *what, char *buf,
	       size_t len)
{
	size_t i, n;
	const char *sep = "";

	n = (size_t)snprintf(buf, len, "%s: no usable public key for ", what);
	for (i = 0; i < res->nrcpts && n < len; i++) {
		if (res->rcpts[i].has_key)
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s", sep,
				      res->rcpts[i].address);
		sep = ", ";
	}
}

/* A signing refusal bounces (*bounced, the reason in res); a token
 * failure is temporary (returned).  m is signed for every From
 * mailbox of from_hdr (NULL: of m); rc, when not 0, is the failure of
 * the parse that m needed. */
static int
sign_or_bounce(const struct engine *e, const struct profile *p,
	       const struct process_req *req, const struct smime_msg *m,
	       const struct mime_part *from_hdr, int rc, struct gw_buf *out,
	       struct smime_layout *made, struct process_result *res,
	       int *bounced)
{
	struct engine_sign_opts so;

	memset(&so, 0, sizeof(so));
	so.identity = p->cert;
	so.md = p->digest[0] ? cms_alg_digest(p->digest) : NULL;
	so.pss = p->pss;
	so.mode = p->sign_mode;
	so.now = req_now(req);
	so.from_hdr = from_hdr;
	*bounced = 0;
	if ((rc == 0 && (rc = engine_sign(e, &so, m, out, made)) == 0) ||
	    gw_err_class(rc) == GW_ERRCLASS_TEMPORARY)
		return rc;
	if (rc == GW_ERR_NOT_FOUND)
		/* The identity or its key on the token is gone: like a
		 * missing profile, the administrator's to fix (defer). */
		return profile_signer_missing(p);
	snprintf(res->reason, sizeof(res->reason), "signing failed: %s%s%s",
		 gw_strerror(rc), *gw_err_detail() ? ": " : "",
		 gw_err_detail());
	gw_err_clear();
	*bounced = 1;
	return refuse(res, PROCESS_BOUNCE, NULL);
}

/* The harvested keys chosen for recipients are "used" now (LRU). */
static void
touch_harvested(const struct engine *e, const struct process_req *req,
		struct process_result *res)
{
	struct gw_txn *txn = NULL;
	size_t i, n = 0;
	int rc;

	for (i = 0; i < res->nrcpts; i++)
		n += res->rcpts[i].has_key && res->rcpts[i].match.harvested;
	if (n == 0)
		return;
	if ((rc = gw_txn_begin(e->store, GW_TXN_WRITE, &txn)) != 0)
		goto fail;
	for (i = 0; i < res->nrcpts; i++)
		if (res->rcpts[i].has_key && res->rcpts[i].match.harvested &&
		    (rc = harvest_touch(txn, res->rcpts[i].match.name,
					req_now(req))) != 0) {
			gw_txn_abort(txn);
			goto fail;
		}
	if ((rc = gw_txn_commit(txn)) == 0)
		return;
fail:
	/* Only the eviction order suffers: the message goes on. */
	snprintf(res->harvest_error, sizeof(res->harvest_error),
		 "cannot record the use of harvested keys: %s: %s",
		 gw_strerror(rc), gw_err_detail());
	gw_err_clear();
}

/*
 * The message is parsed once: whole when the profile signs, its header
 * block when it only encrypts.  What is signed or encrypted next is our
 * own output, whose layout is known from making it.
 */
static int
outgoing(const struct engine *e, const struct process_req *req,
	 const unsigned char *msg, size_t len, struct process_result *res)
{
	struct profile p;
	struct smime_recipients rc_opts;
	struct smime_msg in = {msg, len, NULL, NULL}, base, signd;
	struct smime_layout sig_lay, enc_lay;
	struct mime_tree *tree = NULL;
	STACK_OF(X509) *keys = NULL;
	struct gw_buf sig, enc, trip;
	size_t missing = 0, i;
	char why[1024];
	int rc, bounced, c1 = 0, c2 = 0;

	gw_buf_init(&sig, SMIME_OUT_MAX);
	gw_buf_init(&enc, SMIME_OUT_MAX);
	gw_buf_init(&trip, SMIME_OUT_MAX);
	base = in;
	if (req->profile == NULL) {
		if ((rc = add_copy(res, "none", msg, len, &c1)) == 0)
			all_rcpts(res, PROCESS_RCPT_DELIVERED, c1);
		goto out;
	}
	if ((keys = sk_X509_new_null()) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	if ((rc = resolve(e, req, &p, keys, res, &missing)) != 0)
		goto out;
	if (missing > 0 && p.action != PROFILE_ACTION_SPLIT) {
		missing_reason(res,
			       p.action == PROFILE_ACTION_DROP ? "dropped"
							       : "bounced",
			       why, sizeof(why));
		rc = refuse(res,
			    p.action == PROFILE_ACTION_DROP ? PROCESS_DROP
							    : PROCESS_BOUNCE,
			    why);
		goto out;
	}
	if (profile_mode_signs(p.mode)) {
		/* A parse that fails is a signing failure, as it was when
		 * the signer parsed.  The signer checks the From fields. */
		rc = smime_parse(msg, len, &tree);
		in.tree = tree;
		if ((rc = sign_or_bounce(e, &p, req, &in,
					 mime_tree_root(tree), rc, &sig,
					 &sig_lay, res, &bounced)) != 0 ||
		    bounced)
			goto out;
		signd = (struct smime_msg){sig.data, sig.len, NULL, &sig_lay};
		base = signd;
	}
	if (!profile_mode_encrypts(p.mode)) {
		if ((rc = add_copy(res, "sign", base.data, base.len, &c1)) ==
		    0)
			all_rcpts(res, PROCESS_RCPT_PROTECTED, c1);
		goto out;
	}
	if (sk_X509_num(keys) > 0) {
		memset(&rc_opts, 0, sizeof(rc_opts));
		rc_opts.certs = keys;
		rc_opts.cipher =
		    p.cipher[0] ? cms_alg_cipher(p.cipher) : NULL;
		rc_opts.oaep = p.oaep;
		if (base.layout == NULL &&
		    (rc = smime_parse_header(msg, len, &tree)) != 0)
			goto out;
		base.tree = tree;
		if ((rc = smime_encrypt_msg(&base, &rc_opts, &enc, &enc_lay)) !=
		    0)
			goto out;
		if (p.mode == PROFILE_MODE_TRIPLE) {
			struct smime_msg em = {enc.data, enc.len, NULL,
					       &enc_lay};

			/* The envelope's From fields are the message's. */
			if ((rc = sign_or_bounce(e, &p, req, &em,
						 mime_tree_root(tree), 0,
						 &trip, NULL, res,
						 &bounced)) != 0 ||
			    bounced)
				goto out;
		}
		if ((rc = add_copy(res, profile_mode_name(p.mode),
				   p.mode == PROFILE_MODE_TRIPLE ? trip.data
								 : enc.data,
				   p.mode == PROFILE_MODE_TRIPLE ? trip.len
								 : enc.len,
				   &c1)) != 0)
			goto out;
		res->copies[c1 - 1].nkeys = (size_t)sk_X509_num(keys);
	}
	if (missing > 0 &&
	    (rc = add_copy(res, profile_mode_signs(p.mode) ? "sign" : "none",
			   base.data, base.len, &c2)) != 0)
		goto out;
	for (i = 0; i < res->nrcpts; i++) {
		res->rcpts[i].outcome = res->rcpts[i].has_key
					    ? PROCESS_RCPT_PROTECTED
					    : PROCESS_RCPT_UNENCRYPTED;
		res->rcpts[i].copy = res->rcpts[i].has_key ? c1 : c2;
	}
	if (missing > 0) {
		missing_reason(res, "split", why, sizeof(why));
		snprintf(res->reason, sizeof(res->reason), "%s", why);
	}
	touch_harvested(e, req, res);
out:
	mime_tree_free(tree);
	sk_X509_pop_free(keys, X509_free);
	gw_buf_free_secret(&sig);
	gw_buf_free(&enc);
	gw_buf_free(&trip);
	return rc;
}

/* ---- incoming ---------------------------------------------------------- */

/* The signers to harvest from: those that verified when the message
 * did, otherwise every signer seen (harvest_message() then applies
 * on_failure).  get0 certificates in a new stack. */
static STACK_OF(X509) *
harvest_signers(const struct smime_open_result *o, int *verified)
{
	STACK_OF(X509) *sk;
	int i;

	*verified = o->status == SMIME_OK && o->signatures > 0;
	if ((sk = sk_X509_new_null()) == NULL)
		return NULL;
	for (i = 0; i < sk_X509_num(o->signer_certs); i++)
		if (!sk_X509_push(sk, sk_X509_value(o->signer_certs, i)))
			goto fail;
	if (*verified)
		return sk;
	for (i = 0; i < sk_X509_num(o->unverified_certs); i++)
		if (!sk_X509_push(sk, sk_X509_value(o->unverified_certs, i)))
			goto fail;
	return sk;
fail:
	sk_X509_free(sk);
	return NULL;
}

/* Harvests in one write transaction; a failure is reported, never
 * fatal: the message is delivered all the same. */
static void
harvest(const struct engine *e, const struct process_req *req,
	const unsigned char *msg, size_t len, struct process_result *res)
{
	struct harvest_msg hm;
	struct mime_tree *tree = NULL;
	struct gw_txn *txn = NULL;
	const char *mid = NULL;
	char from[MIME_ADDR_LEN + 1];
	int rc;

	memset(&hm, 0, sizeof(hm));
	from[0] = '\0';
	/* smime_open() parsed the whole message; From and Message-ID need
	 * only the header block. */
	if ((rc = smime_parse(msg, mime_header_block_len(msg, len), &tree)) !=
	    0)
		goto fail;
	/* The one From mailbox (a verified signature covers it); without
	 * a From field the envelope sender; with several, or a From that
	 * is no address list, none (no key is harvested). */
	if ((rc = mime_addr_from_one(mime_tree_root(tree), from,
				     sizeof(from))) != 0 &&
	    rc != GW_ERR_NOT_FOUND)
		gw_err_clear();
	mid = mime_part_header(mime_tree_root(tree), "Message-ID");
	hm.sender = rc == 0 ? from : rc == GW_ERR_NOT_FOUND ? req->from : "";
	hm.message_id = mid ? mid : "";
	if ((hm.signers = harvest_signers(&res->open, &hm.verified)) == NULL) {
		rc = GW_ERR_NOMEM;
		goto fail;
	}
	if (sk_X509_num(hm.signers) == 0)
		goto out;
	if ((rc = gw_txn_begin(e->store, GW_TXN_WRITE, &txn)) != 0)
		goto fail;
	if ((rc = harvest_message(txn, &hm, &req->harvest_opts, req_now(req),
				  &res->harvest)) != 0) {
		gw_txn_abort(txn);
		memset(&res->harvest, 0, sizeof(res->harvest));
		goto fail;
	}
	if ((rc = gw_txn_commit(txn)) != 0) {
		memset(&res->harvest, 0, sizeof(res->harvest));
		goto fail;
	}
	harvest_report_log(&res->harvest);
	goto out;
fail:
	snprintf(res->harvest_error, sizeof(res->harvest_error),
		 "harvesting failed: %s%s%s", gw_strerror(rc),
		 *gw_err_detail() ? ": " : "", gw_err_detail());
	gw_err_clear();
out:
	sk_X509_free(hm.signers);
	mime_tree_free(tree);
}

static int
incoming(const struct engine *e, const struct process_req *req,
	 const unsigned char *msg, size_t len, struct process_result *res)
{
	struct smime_open_opts o;
	struct engine_open_for of;
	struct gw_txn *txn = NULL;
	X509_STORE *trust = NULL;
	STACK_OF(X509) *extra = NULL;
	int rc;

	if ((rc = gw_txn_begin(e->store, GW_TXN_READ, &txn)) != 0)
		return rc;
	rc = engine_trust(e, txn, NULL, req->system_trust, &trust, &extra);
	gw_txn_abort(txn);
	if (rc != 0)
		return rc;
	memset(&o, 0, sizeof(o));
	o.trust = trust;
	o.extra = extra;
	o.find_signers = engine_find_signers;
	o.find_signers_arg = (void *)e;
	o.remove_signature = req->remove_signature;
	o.authserv_id = req->authserv_id;
	o.now = req->now;
	o.only = SMIME_OPEN_ALL;
	/* Decrypted only for the envelope recipients (or the catch-all). */
	of.e = e;
	of.rcpt = req->to;
	of.nrcpt = req->nto;
	of.any = 0;
	o.find_key = engine_find_key;
	o.find_key_arg = &of;
	o.key_fault = engine_key_fault;
	if ((rc = smime_open(msg, len, &o, &res->copies[0].msg, &res->open)) !=
	    0 ||
	    (rc = engine_trust_fault(trust)) != 0)
		goto out;
	if (res->open.error != 0 &&
	    gw_err_class(res->open.error) == GW_ERRCLASS_TEMPORARY) {
		/* Delivering it undecrypted would be final; the token may be
		 * back in a minute. */
		rc = gw_err_set(res->open.error, "%s", res->open.reason);
		goto out;
	}
	res->copies[0].applied = "open";
	res->ncopies = 1;
	all_rcpts(res, PROCESS_RCPT_DELIVERED, 1);
	if (req->harvest)
		harvest(e, req, msg, len, res);
out:
	X509_STORE_free(trust);
	sk_X509_pop_free(extra, X509_free);
	return rc;
}

/* The S/MIME result of an incoming message for the log: the
 * Authentication-Results word, "none" when nothing was S/MIME. */
static const char *
smime_word(const struct process_req *req, const struct process_result *res)
{
	if (req->direction == PROCESS_OUTGOING)
		return res->profile_mode[0] ? res->profile_mode : "none";
	return res->open.ar != NULL ? res->open.ar : "none";
}

void
process_log_summary(const struct process_req *req,
		    const struct process_result *res, int err)
{
	struct log_rcpt *r = NULL;
	struct log_summary s;
	struct gw_reply reply = gw_reply_for_error(err);
	size_t i, n = req->nto;

	if (!log_enabled(LOG_LEVEL_INFO))
		return;
	memset(&s, 0, sizeof(s));
	s.queue_id = req->queue_id;
	s.direction = req->direction == PROCESS_OUTGOING ? "outgoing"
							 : "incoming";
	s.profile = req->profile;
	if (err != 0) {
		s.decision = gw_reply_is_temporary(&reply) ? "defer" : "reject";
		s.smime = "none";
	} else {
		s.decision = process_decision_name(res->decision);
		s.smime = smime_word(req, res);
	}
	/* Without memory for the list the line still goes out, without
	 * the recipients. */
	if (n > 0 && (r = calloc(n, sizeof(*r))) != NULL) {
		for (i = 0; i < n; i++) {
			r[i].addr = req->to[i];
			r[i].outcome = err != 0 || i >= res->nrcpts
					   ? s.decision
					   : process_outcome_name(
						 res->rcpts[i].outcome);
		}
		s.rcpts = r;
		s.nrcpts = n;
	}
	log_message_summary(&s);
	free(r);
}

int
process_message(const struct engine *e, const struct process_req *req,
		const unsigned char *msg, size_t len,
		struct process_result *res)
{
	size_t i;

	if (req->nto == 0 || req->nto > PROCESS_MAX_RCPT)
		return gw_err_set_at(GW_ERR_INVALID, "recipients",
				  "between 1 and %d recipients",
				  PROCESS_MAX_RCPT);
	if (len == 0)
		return gw_err_set(GW_ERR_PARSE, "the message is empty");
	if ((res->rcpts = calloc(req->nto, sizeof(*res->rcpts))) == NULL)
		return GW_ERR_NOMEM;
	res->nrcpts = req->nto;
	for (i = 0; i < req->nto; i++)
		res->rcpts[i].address = req->to[i];
	res->decision = PROCESS_DELIVER;
	return req->direction == PROCESS_OUTGOING
		   ? outgoing(e, req, msg, len, res)
		   : incoming(e, req, msg, len, res);
}
