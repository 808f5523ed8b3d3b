/*
 * fuzz_process.c - libFuzzer target for process_message(), the policy
 * path of "smimegw process" and the daemon-to-be.
 *
 * The engine is real apart from the token: a scratch LMDB store (made
 * once in a temporary folder, removed at exit) holds the identity "fz"
 * (the fixed software identity of fuzz_keys.h, usage both), the same
 * certificate as the public key of fuzz@fuzz.example (written as it is:
 * "pubkey add" refuses a 1024-bit key), and one sending
 * profile per mode; the key source is a software backend over that
 * key (no PKCS#11 in the fuzzer).
 *
 * The first input byte picks the request; the rest is the message:
 *   bit 0      0: incoming, 1: outgoing
 *   bits 1-3   outgoing profile: 0 none, 1 p-sign (detached), 2 p-opaque,
 *              3 p-split (encrypt, split), 4 p-bounce (encrypt), 5 p-se
 *              (sign-encrypt, AES-GCM, OAEP, drop), 6 p-triple, 7 a
 *              profile that does not exist
 *   bit 4      incoming: harvest the signers (small store ceiling)
 *   bit 5      remove_signature
 *   bit 6      a second recipient, without a key
 *   bit 7      the null sender
 *
 * Checked against process.h: the return codes (only unusable input,
 * a ceiling, memory, or the missing profile's configuration error),
 * the decision and every recipient's outcome and copy, the result
 * fields of an incoming copy and the flags' contract (verified never
 * with unauthenticated content), an outgoing message without a profile
 * delivered byte for byte, result.json rendered.  A protected copy
 * goes round again as incoming mail: it must decrypt and, when signed,
 * verify.  A violation aborts, which libFuzzer reports as a crash.
 *
 * Built with clang -fsanitize=fuzzer, or with replay.c under any
 * compiler to run a corpus as a plain test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "engine.h"
#include "fuzz_check.h"
#include "fuzz_keys.h"
#include "gw_buf.h"
#include "gw_err.h"
#include "gw_store.h"
#include "identity.h"
#include "keystore.h"
#include "keysrc.h"
#include "process.h"
#include "process_json.h"
#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_OUTGOING 0x01u
#define FZ_PROFILE_SHIFT 1
#define FZ_PROFILE_MASK 0x0eu
#define FZ_HARVEST 0x10u
#define FZ_REMOVE_SIG 0x20u
#define FZ_TWO_RCPTS 0x40u
#define FZ_NULL_SENDER 0x80u

static const char *const profiles[8] = {
    NULL, "p-sign", "p-opaque", "p-split", "p-bounce", "p-se", "p-triple",
    "p-missing"};

/* Made once, kept for the life of the process. */
static struct {
	EVP_PKEY *key;
	X509 *cert;
	struct gw_store *store;
	struct keysrc *ks;
	struct engine e;
	char dir[64];
} fz;

/* ---- the software key source ------------------------------------------ */

static int
soft_load(void *ctx, const char *uri, EVP_PKEY **out)
{
	(void)ctx;
	(void)uri;
	if (!EVP_PKEY_up_ref(fz.key))
		return GW_ERR_NOMEM;
	*out = fz.key;
	return 0;
}

static int
soft_sign(void *ctx, const char *uri, const struct keysrc_sign_params *p,
	  const unsigned char *d, size_t dl, unsigned char *sig, size_t *sl)
{
	(void)ctx;
	(void)uri;
	return keysrc_pkey_sign(fz.key, p, d, dl, sig, sl);
}

static int
soft_decrypt(void *ctx, const char *uri, const struct keysrc_decrypt_params *p,
	     const unsigned char *in, size_t il, unsigned char *out, size_t *ol)
{
	(void)ctx;
	(void)uri;
	return keysrc_pkey_decrypt(fz.key, p, in, il, out, ol);
}

static int
soft_derive(void *ctx, const char *uri, EVP_PKEY *peer, unsigned char *out,
	    size_t *ol)
{
	(void)ctx;
	(void)uri;
	return keysrc_pkey_derive(fz.key, peer, out, ol);
}

static const struct keysrc_ops soft_ops = {
    .name = "fuzz-soft",
    .load = soft_load,
    .sign = soft_sign,
    .decrypt = soft_decrypt,
    .derive = soft_derive,
    .free = NULL,
};

/* ---- the scratch store ------------------------------------------------- */

static void
remove_store(void)
{
	static const char *const files[] = {"store/data.mdb", "store/lock.mdb"};
	char path[128];
	size_t i;

	keysrc_free(fz.ks);
	gw_store_close(fz.store);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", fz.dir, files[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/store", fz.dir);
	rmdir(path);
	rmdir(fz.dir);
}

static void
add_profile(struct gw_txn *txn, const char *name, enum profile_mode mode,
	    enum smime_sign_mode sm, enum profile_action action,
	    const char *cipher, int oaep)
{
	struct profile p;

	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "%s", name);
	p.mode = mode;
	if (profile_mode_signs(mode))
		snprintf(p.cert, sizeof(p.cert), "fz");
	p.sign_mode = sm;
	p.action = action;
	snprintf(p.cipher, sizeof(p.cipher), "%s", cipher);
	p.oaep = oaep;
	p.added = p.updated = (uint64_t)FUZZ_NOW;
	CHECK(profile_validate(txn, &p, FUZZ_NOW) == 0);
	CHECK(profile_put(txn, &p, 0) == 0);
}

static void
fuzz_init(void)
{
	struct identity id;
	struct keystore_key pk;
	struct gw_txn *txn = NULL;

	if (fz.key != NULL)
		return;
	CHECK((fz.key = fuzz_key_load()) != NULL);
	CHECK((fz.cert = fuzz_cert_build(fz.key)) != NULL);
	snprintf(fz.dir, sizeof(fz.dir), "%s", "/tmp/smimegw-fuzz-process.XXXXXX");
	CHECK(mkdtemp(fz.dir) != NULL);
	CHECK(gw_store_open(fz.dir, (size_t)256 << 20, &fz.store) == 0);
	atexit(remove_store);
	CHECK((fz.ks = keysrc_new(&soft_ops, NULL)) != NULL);
	fz.e.store = fz.store;
	fz.e.keys = fz.ks;

	memset(&id, 0, sizeof(id));
	id.name = (char *)"fz";
	id.usage = CERT_USAGE_BOTH;
	id.key_uri = (char *)"fuzz:soft";
	id.key_type = (char *)"rsa:1024";
	id.source = (char *)"generated";
	id.cert = fz.cert;
	id.created = id.updated = (uint64_t)FUZZ_NOW;
	CHECK(gw_txn_begin(fz.store, GW_TXN_WRITE, &txn) == 0);
	CHECK(identity_put(txn, &id, 0) == 0);
	/* As it is: keystore_add() refuses the 1024-bit fuzz key. */
	memset(&pk, 0, sizeof(pk));
	pk.name = (char *)"fz-partner";
	pk.cert = fz.cert;
	pk.caps = KEYSTORE_CAP_ENCRYPT | KEYSTORE_CAP_VERIFY;
	pk.source = (char *)"added";
	pk.added = pk.updated = (uint64_t)FUZZ_NOW;
	CHECK(keystore_put(txn, &pk, 0) == 0);
	add_profile(txn, "p-sign", PROFILE_MODE_SIGN, SMIME_SIGN_DETACHED,
		    PROFILE_ACTION_NONE, "", 0);
	add_profile(txn, "p-opaque", PROFILE_MODE_SIGN, SMIME_SIGN_OPAQUE,
		    PROFILE_ACTION_NONE, "", 0);
	add_profile(txn, "p-split", PROFILE_MODE_ENCRYPT, SMIME_SIGN_DETACHED,
		    PROFILE_ACTION_SPLIT, "", 0);
	add_profile(txn, "p-bounce", PROFILE_MODE_ENCRYPT, SMIME_SIGN_DETACHED,
		    PROFILE_ACTION_BOUNCE, "aes128-cbc", 0);
	add_profile(txn, "p-se", PROFILE_MODE_SIGN_ENCRYPT, SMIME_SIGN_DETACHED,
		    PROFILE_ACTION_DROP, "aes256-gcm", 1);
	add_profile(txn, "p-triple", PROFILE_MODE_TRIPLE, SMIME_SIGN_OPAQUE,
		    PROFILE_ACTION_SPLIT, "aes128-gcm", 0);
	CHECK(gw_txn_commit(txn) == 0);
}

/* ---- checks ------------------------------------------------------------- */

static void
init_req(struct process_req *req, unsigned flags, const char *const *to,
	 size_t nto)
{
	memset(req, 0, sizeof(*req));
	req->from = (flags & FZ_NULL_SENDER) ? "" : FUZZ_EMAIL;
	req->to = to;
	req->nto = nto;
	req->authserv_id = FUZZ_AUTHSERV;
	req->remove_signature = (flags & FZ_REMOVE_SIG) != 0;
	req->now = FUZZ_NOW;
	req->harvest_opts.max_bytes = (uint64_t)64 << 10;
}

/* What process.h promises of every decision. */
static void
check_result(const struct process_req *req, const struct process_result *res)
{
	static const char prefix[] =
	    "Authentication-Results: " FUZZ_AUTHSERV ";";
	const struct smime_open_result *o = &res->open;
	const struct process_rcpt *r;
	struct gw_buf json;
	size_t i;

	CHECK(res->ncopies <= PROCESS_MAX_COPIES);
	CHECK(res->nrcpts == req->nto);
	for (i = 0; i < res->nrcpts; i++) {
		r = &res->rcpts[i];
		CHECK(r->address == req->to[i]);
		switch (res->decision) {
		case PROCESS_DELIVER:
			CHECK(r->copy >= 1 && (size_t)r->copy <= res->ncopies);
			CHECK(r->outcome == PROCESS_RCPT_PROTECTED ||
			      r->outcome == PROCESS_RCPT_UNENCRYPTED ||
			      r->outcome == PROCESS_RCPT_DELIVERED);
			break;
		case PROCESS_DROP:
		case PROCESS_BOUNCE:
			CHECK(r->copy == 0);
			CHECK(r->outcome == (res->decision == PROCESS_DROP
						 ? PROCESS_RCPT_DROPPED
						 : PROCESS_RCPT_BOUNCED));
			break;
		default:
			CHECK(!"unknown decision");
		}
	}
	if (res->decision != PROCESS_DELIVER)
		CHECK(res->ncopies == 0 && res->reason[0] != '\0');
	for (i = 0; i < res->ncopies; i++)
		CHECK(res->copies[i].applied != NULL);
	if (req->direction == PROCESS_INCOMING) {
		CHECK(res->decision == PROCESS_DELIVER && res->ncopies == 1);
		CHECK(strcmp(res->copies[0].applied, "open") == 0);
		CHECK(res->copies[0].msg.len >= sizeof(prefix) - 1 &&
		      memcmp(res->copies[0].msg.data, prefix,
			     sizeof(prefix) - 1) == 0);
		CHECK(o->ar != NULL);
		if (o->verified)
			CHECK(o->status == SMIME_OK && !o->unauthenticated &&
			      o->signatures + o->decrypted > 0);
		if (o->unauthenticated)
			CHECK(o->decrypted > 0);
		if (o->status != SMIME_OK)
			CHECK(o->reason[0] != '\0');
	}
	gw_buf_init(&json, (size_t)1 << 20);
	CHECK(process_json(req, res, process_decision_name(res->decision),
			   res->reason, &json) == 0);
	CHECK(json.len >= 3 && memcmp(json.data + json.len - 2, "}\n", 2) == 0);
	gw_buf_free(&json);
}

/* Our layers of each kind of copy, outermost first, and what opening
 * each must give. */
static const struct {
	const char *applied;
	const char *layers[3];
} ours[] = {
    {"sign", {"signed-data"}},
    {"encrypt", {"enveloped-data"}},
    {"sign-encrypt", {"authEnveloped-data", "signed-data"}},
    {"triple", {"signed-data", "authEnveloped-data", "signed-data"}},
};

/*
 * A protected copy of ours, opened as incoming mail: each of our layers
 * decrypts or verifies (what we sign with fz, fz covers).  What was
 * inside the message we were given (S/MIME too, perhaps) is its own
 * business, so only our layers are judged.
 */
static void
round_trip(const struct process_copy *c)
{
	static const char *const to[] = {FUZZ_EMAIL};
	const struct smime_layer *l;
	struct process_req req;
	struct process_result res;
	size_t i, k;
	int rc;

	for (i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
		if (strcmp(c->applied, ours[i].applied) == 0)
			break;
	if (i == sizeof(ours) / sizeof(ours[0]))
		return;
	init_req(&req, 0, to, 1);
	req.direction = PROCESS_INCOMING;
	process_result_init(&res);
	gw_err_clear();
	rc = process_message(&fz.e, &req, c->msg.data, c->msg.len, &res);
	/* Our output may be over a ceiling that the input was not. */
	CHECK(rc == 0 || rc == GW_ERR_LIMIT);
	if (rc == 0)
		check_result(&req, &res);
	for (k = 0; rc == 0 && k < 3 && ours[i].layers[k] != NULL; k++) {
		CHECK((int)k < res.open.nlayers);
		l = &res.open.layer[k];
		CHECK(strcmp(l->kind, ours[i].layers[k]) == 0);
		/* p-bounce encrypts with AES-128-CBC, p-split with the
		 * default AES-256-CBC: both enveloped-data. */
		CHECK(l->result != NULL &&
		      strcmp(l->result, strcmp(l->kind, "signed-data") == 0
					    ? "pass"
					    : "decrypted") == 0);
	}
	process_result_free(&res);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const to[] = {FUZZ_EMAIL, "nobody@elsewhere.example"};
	struct process_req req;
	struct process_result res;
	unsigned flags, prof;
	size_t i;
	int rc;

	if (size < 1)
		return 0;
	fuzz_init();
	flags = data[0];
	prof = (flags & FZ_PROFILE_MASK) >> FZ_PROFILE_SHIFT;
	init_req(&req, flags, to, (flags & FZ_TWO_RCPTS) ? 2 : 1);
	req.direction =
	    (flags & FZ_OUTGOING) ? PROCESS_OUTGOING : PROCESS_INCOMING;
	if (req.direction == PROCESS_OUTGOING)
		req.profile = profiles[prof];
	else
		req.harvest = (flags & FZ_HARVEST) != 0;

	process_result_init(&res);
	gw_err_clear();
	ERR_clear_error();
	rc = process_message(&fz.e, &req, data + 1, size - 1, &res);
	if (size == 1)
		CHECK(rc == GW_ERR_PARSE);
	else if (req.profile != NULL && prof == 7)
		CHECK(rc == GW_ERR_CONFIG);
	else
		CHECK(rc == 0 || rc == GW_ERR_LIMIT || rc == GW_ERR_NOMEM);
	if (rc == 0) {
		check_result(&req, &res);
		if (req.direction == PROCESS_OUTGOING && req.profile == NULL)
			CHECK(res.ncopies == 1 &&
			      res.copies[0].msg.len == size - 1 &&
			      memcmp(res.copies[0].msg.data, data + 1,
				     size - 1) == 0);
		if (req.direction == PROCESS_OUTGOING)
			for (i = 0; i < res.ncopies; i++)
				round_trip(&res.copies[i]);
	}
	process_result_free(&res);
	gw_err_clear();
	ERR_clear_error();
	return 0;
}
