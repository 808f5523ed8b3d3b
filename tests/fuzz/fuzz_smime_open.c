/*
 * fuzz_smime_open.c - libFuzzer target for the S/MIME engine.
 *
 * The first input byte picks options (layout in fuzz_keys.h); the rest
 * is a message.  It goes through
 *
 *  1. smime_open() without a find_key callback: decryption must fail
 *     cleanly (permerror), signatures are checked against a trust store
 *     holding only the fixed test certificate of fuzz_keys.h;
 *  2. smime_open() with a find_key callback that hands out the fixed
 *     software key when the test certificate is a recipient (or, for
 *     one option value, fails as a token would), so that envelopes made
 *     by mkseeds for that key are decrypted and their insides reached;
 *  3. smime_sign() with the software key (detached or opaque, SHA-256
 *     or SHA-384, PKCS#1 v1.5 or PSS): entity canonicalisation over the
 *     input; the result is opened again and its signature must verify;
 *  4. smime_encrypt() to the test certificate (CBC or GCM, v1.5 or
 *     OAEP); the result is opened with the key and must decrypt.
 *
 * Every call is checked against the contracts in smime.h and
 * smime_open.h (return codes, result fields, the first result field,
 * exactly one result field of each kind for our authserv-id, a message
 * that fails at its outer layer coming out unchanged, the header fields
 * of a signed or encrypted message); a violation aborts, which libFuzzer
 * reports as a crash.  Everything allocated per input is freed (the
 * fuzzer runs with leak detection); the key, certificate and store are
 * made once and kept.
 *
 * The regress_known_* seeds reproduce four engine bugs this target found
 * (inner header fields hoisted to the top after decryption, a lone CR in
 * a header turned into a line break, a header field cut off by the end
 * of input, a field losing its line end); all are fixed and every check
 * applies to them.
 *
 * Built with clang -fsanitize=fuzzer, or with replay.c under any
 * compiler to run a corpus as a plain test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/cms.h>
#include <openssl/err.h>

#include "fuzz_check.h"
#include "fuzz_keys.h"
#include "gw_buf.h"
#include "gw_err.h"
#include "mime_header.h"
#include "mime_parser.h"
#include "smime.h"
#include "smime_open.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Made once, kept for the life of the process (still reachable). */
static struct fuzz_identity fz;

static void
fuzz_init(void)
{
	if (fz.key != NULL)
		return;
	fuzz_identity_make(&fz, "fuzz_smime_open");
	/* As smimegw message open builds its store. */
	X509_STORE_set_flags(fz.trust, X509_V_FLAG_PARTIAL_CHAIN);
}

/* ---- find_key callbacks ---------------------------------------------- */

/* Whether the test certificate is named by a key-transport recipient. */
static int
fuzz_is_recipient(CMS_ContentInfo *cms)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
	CMS_RecipientInfo *ri;
	int i;

	for (i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
		ri = sk_CMS_RecipientInfo_value(ris, i);
		if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS &&
		    CMS_RecipientInfo_ktri_cert_cmp(ri, fz.cert) == 0)
			return 1;
	}
	return 0;
}

static int
find_key_soft(void *arg, CMS_ContentInfo *cms, X509 **cert, EVP_PKEY **key)
{
	(void)arg;
	*cert = NULL;
	*key = NULL;
	if (!fuzz_is_recipient(cms))
		return GW_ERR_NOT_FOUND;
	if (!X509_up_ref(fz.cert))
		return GW_ERR_NOMEM;
	if (!EVP_PKEY_up_ref(fz.key)) {
		X509_free(fz.cert);
		return GW_ERR_NOMEM;
	}
	*cert = fz.cert;
	*key = fz.key;
	return 0;
}

static int
find_key_token_gone(void *arg, CMS_ContentInfo *cms, X509 **cert,
                    EVP_PKEY **key)
{
	(void)arg;
	(void)cms;
	*cert = NULL;
	*key = NULL;
	return gw_err_set(GW_ERR_P11_TOKEN_ABSENT, "fuzz: the token is gone");
}





/* ---- checks ----------------------------------------------------------- */

static int
is_ar_result(const char *ar)
{
	static const char *const ok[] = {"none",    "pass",      "fail",
	                                 "neutral", "permerror", "temperror"};
	size_t i;

	for (i = 0; ar != NULL && i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(ar, ok[i]) == 0)
			return 1;
	return 0;
}

/*
 * The output's top header block holds exactly one Authentication-Results
 * field with our authserv-id (in any spelling a reader could take for
 * it) and one X-SMIME-Gateway field: ours.  A second one came from the
 * sender and was not dropped.
 */
static void
check_result_fields(const struct gw_buf *out,
                    const struct smime_open_result *res)
{
	struct mime_tree *t = NULL;
	const struct mime_part *root;
	const struct mime_header *h;
	const char *name;
	size_t i, ar = 0, gw = 0;

	if (smime_parse(out->data, out->len, &t) != 0) {
		gw_err_clear();
		return; /* a ceiling: nothing to look at */
	}
	root = mime_tree_root(t);
	for (i = 0; i < mime_part_header_count(root); i++) {
		h = mime_part_header_at(root, i);
		name = mime_header_name(h);
		if (mime_header_name_is(name, "Authentication-Results") &&
		    mime_header_authserv_is(mime_header_value(h),
					    mime_header_value_len(h),
					    FUZZ_AUTHSERV))
			ar++;
		if (mime_header_name_is(name, "X-SMIME-Gateway"))
			gw++;
	}
	mime_tree_free(t);
	CHECK(ar == 1);
	CHECK(gw == 1);
}

/* Byte offset where the root's header block ends, or (size_t)-1. */
static size_t
header_end(const uint8_t *msg, size_t len)
{
	struct mime_tree *t = NULL;
	size_t e = (size_t)-1;

	if (smime_parse(msg, len, &t) == 0)
		e = mime_part_header_range(mime_tree_root(t)).end;
	gw_err_clear();
	mime_tree_free(t);
	return e;
}

/* Number of header fields in the root that stay outside (neither
 * Content-* nor MIME-Version), or (size_t)-1. */
static size_t
outer_count(const uint8_t *msg, size_t len)
{
	struct mime_tree *t = NULL;
	const struct mime_part *root;
	const char *name;
	size_t i, n = (size_t)-1;

	if (smime_parse(msg, len, &t) == 0) {
		root = mime_tree_root(t);
		for (n = 0, i = 0; i < mime_part_header_count(root); i++) {
			name = mime_header_name(mime_part_header_at(root, i));
			if (strncasecmp(name, "Content-", 8) != 0 &&
			    strcasecmp(name, "MIME-Version") != 0)
				n++;
		}
	}
	gw_err_clear();
	mime_tree_free(t);
	return n;
}

/* Runs smime_open() and checks everything its contract promises. */
static int
open_checked(const uint8_t *msg, size_t len, const struct smime_open_opts *o,
             struct smime_open_result *res)
{
	static const char prefix[] =
	    "Authentication-Results: " FUZZ_AUTHSERV ";";
	struct gw_buf out;
	size_t he;
	int rc;

	gw_buf_init(&out, SMIME_MSG_MAX);
	gw_err_clear();
	ERR_clear_error();
	rc = smime_open(msg, len, o, &out, res);
	CHECK(rc == 0 || rc == GW_ERR_LIMIT || rc == GW_ERR_NOMEM);
	if (rc != 0)
		goto out;
	CHECK(is_ar_result(res->ar));
	CHECK(res->status == SMIME_OK || res->status == SMIME_FAILED ||
	      (res->status == SMIME_WRONG_KIND && o->only != SMIME_OPEN_ALL));
	CHECK(memchr(res->layers, '\0', sizeof(res->layers)) != NULL);
	CHECK(memchr(res->reason, '\0', sizeof(res->reason)) != NULL);
	CHECK(memchr(res->signer, '\0', sizeof(res->signer)) != NULL);
	CHECK(res->decrypted >= 0 && res->signatures >= 0);
	/* smime-gateway-verified: something was decrypted or verified and
	 * nothing failed. */
	if (res->verified)
		CHECK(res->status == SMIME_OK && res->smime &&
		      res->signatures + res->decrypted > 0);
	if (res->status == SMIME_OK) {
		CHECK(res->reason[0] == '\0');
		if (res->signatures > 0)
			CHECK(strcmp(res->ar, "pass") == 0);
	} else {
		CHECK(!res->verified);
		CHECK(res->reason[0] != '\0');
	}
	if (res->status == SMIME_FAILED)
		CHECK(strcmp(res->ar, "fail") == 0 ||
		      strcmp(res->ar, "permerror") == 0 ||
		      strcmp(res->ar, "temperror") == 0);
	if (res->efail)
		CHECK(res->status == SMIME_FAILED && res->smime);
	/* Verified needs a covering signature or an authenticated
	 * envelope: never with unauthenticated content. */
	if (res->unauthenticated)
		CHECK(!res->verified && res->decrypted > 0);
	CHECK(res->nlayers >= 0 && res->nlayers <= SMIME_OPEN_MAX_LAYERS + 1);
	CHECK(res->failed_signatures <= res->nlayers);
	CHECK(out.len >= sizeof(prefix) - 1 &&
	      memcmp(out.data, prefix, sizeof(prefix) - 1) == 0);
	/* Nothing peeled (a failed signature is peeled when another
	 * layer is inside it): the message itself follows the result
	 * fields, byte for byte apart from our own result fields. */
	if (res->decrypted == 0 && res->signatures == 0 &&
	    res->failed_signatures == 0 &&
	    (he = header_end(msg, len)) != (size_t)-1) {
		CHECK(out.len >= len - he);
		CHECK(memcmp(out.data + out.len - (len - he), msg + he,
		             len - he) == 0);
	}
	check_result_fields(&out, res);
out:
	gw_buf_free_secret(&out);
	return rc;
}

/* Whether the header block (up to the first empty line, or the whole
 * input without one) holds a CR that no LF follows. */
static int
lone_cr_in_header(const uint8_t *msg, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (msg[i] == '\n' && i + 2 < len && msg[i + 1] == '\r' &&
		    msg[i + 2] == '\n')
			return 0;
		if (msg[i] == '\n' && i + 1 < len && msg[i + 1] == '\n')
			return 0;
		if (msg[i] == '\r' && (i + 1 == len || msg[i + 1] != '\n'))
			return 1;
	}
	return 0;
}

/* The fields a signed or encrypted message has: the input's outer
 * fields, MIME-Version, then extra Content-* fields. */
static void
check_wrapped(const uint8_t *msg, size_t len, const struct gw_buf *w,
              size_t extra)
{
	struct mime_tree *t = NULL;
	size_t n_in;

	/* A CR not followed by LF in the header becomes a space where a
	 * field is copied (one field never turns into two downstream), so
	 * the copy may have fewer fields than the parse of the input. */
	n_in = lone_cr_in_header(msg, len) ? (size_t)-1 : outer_count(msg, len);
	if (n_in == (size_t)-1 || smime_parse(w->data, w->len, &t) != 0) {
		gw_err_clear();
		return;
	}
	CHECK(mime_part_header(mime_tree_root(t), "MIME-Version") != NULL);
	CHECK(mime_part_header_count(mime_tree_root(t)) == n_in + 1 + extra);
	mime_tree_free(t);
}

/* ---- the target -------------------------------------------------------- */

static void
sign_round_trip(const uint8_t *msg, size_t len, unsigned flags,
                struct smime_open_opts *o)
{
	struct smime_signer s;
	struct smime_open_result res;
	struct gw_buf sig;
	int rc;

	memset(&s, 0, sizeof(s));
	memset(&res, 0, sizeof(res));
	s.cert = fz.cert;
	s.key = fz.key;
	s.md = (flags & FUZZ_IN_SHA384) ? EVP_sha384() : NULL;
	s.pss = (flags & FUZZ_IN_PSS_OAEP) != 0;
	s.mode =
	    (flags & FUZZ_IN_OPAQUE) ? SMIME_SIGN_OPAQUE : SMIME_SIGN_DETACHED;
	gw_buf_init(&sig, SMIME_MSG_MAX);
	gw_err_clear();
	ERR_clear_error();
	rc = smime_sign(msg, len, &s, &sig);
	CHECK(rc == 0 || rc == GW_ERR_LIMIT);
	if (rc != 0)
		goto out;
	/* multipart/signed: Content-Type; pkcs7-mime: Content-Type,
	 * -Transfer-Encoding and -Disposition. */
	check_wrapped(msg, len, &sig, s.mode == SMIME_SIGN_DETACHED ? 1 : 3);
	o->only = SMIME_OPEN_ALL;
	o->find_key = find_key_soft;
	rc = open_checked(sig.data, sig.len, o, &res);
	/* Our own signature over our own canonical entity verifies; only
	 * a From field the test certificate does not cover, or that is no
	 * address list, may fail it. */
	if (rc == 0)
		CHECK(res.signatures >= 1 ||
		      strstr(res.reason, "does not cover the From") != NULL ||
		      strstr(res.reason, "From field cannot be bound") !=
			  NULL);
out:
	smime_open_result_free(&res);
	gw_buf_free(&sig);
}

static void
encrypt_round_trip(const uint8_t *msg, size_t len, unsigned flags,
                   struct smime_open_opts *o)
{
	static const char *const ciphers[4] = {NULL, "aes128-cbc", "aes128-gcm",
	                                       "aes256-gcm"};
	struct smime_recipients r;
	struct smime_open_result res;
	struct gw_buf env;
	const char *cn;
	int rc;

	memset(&r, 0, sizeof(r));
	memset(&res, 0, sizeof(res));
	cn = ciphers[(flags & FUZZ_IN_CIPHER_MASK) >> FUZZ_IN_CIPHER_SHIFT];
	r.certs = fz.one;
	r.cipher = cn != NULL ? cms_alg_cipher(cn) : NULL;
	r.oaep = (flags & FUZZ_IN_PSS_OAEP) != 0;
	gw_buf_init(&env, SMIME_MSG_MAX);
	gw_err_clear();
	ERR_clear_error();
	rc = smime_encrypt(msg, len, &r, &env);
	CHECK(rc == 0 || rc == GW_ERR_LIMIT);
	if (rc != 0)
		goto out;
	check_wrapped(msg, len, &env, 3);
	o->only = SMIME_OPEN_ALL;
	o->find_key = find_key_soft;
	rc = open_checked(env.data, env.len, o, &res);
	if (rc == 0)
		CHECK(res.decrypted >= 1);
out:
	smime_open_result_free(&res);
	gw_buf_free_secret(&env);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum smime_open_only only[4] = {
	    SMIME_OPEN_ALL, SMIME_OPEN_DECRYPT, SMIME_OPEN_VERIFY,
	    SMIME_OPEN_ALL};
	struct smime_open_opts o;
	struct smime_open_result res;
	const uint8_t *msg;
	unsigned flags, sel;
	size_t len;

	if (size < 1)
		return 0;
	fuzz_init();
	flags = data[0];
	msg = data + 1;
	len = size - 1;
	sel = (flags & FUZZ_IN_ONLY_MASK) >> FUZZ_IN_ONLY_SHIFT;

	memset(&o, 0, sizeof(o));
	o.trust = fz.trust;
	o.remove_signature = (flags & FUZZ_IN_REMOVE_SIG) != 0;
	o.authserv_id = FUZZ_AUTHSERV;
	o.now = FUZZ_NOW;
	o.only = only[sel];

	/* 1: no key at all. */
	memset(&res, 0, sizeof(res));
	o.find_key = NULL;
	if (open_checked(msg, len, &o, &res) == 0 &&
	    res.decrypted == 0 && strstr(res.layers, "nveloped-data") != NULL) {
		/* The envelope is a permerror; a failed signature around
		 * it may have set the message's result first. */
		CHECK(res.status == SMIME_FAILED && res.nlayers > 0);
		CHECK(strstr(res.layer[res.nlayers - 1].kind,
		             "nveloped-data") != NULL &&
		      res.layer[res.nlayers - 1].result != NULL &&
		      strcmp(res.layer[res.nlayers - 1].result, "permerror") ==
		          0);
	}
	CHECK(res.decrypted == 0);
	smime_open_result_free(&res);

	/* 2: the software key, or a token that went away. */
	memset(&res, 0, sizeof(res));
	o.find_key =
	    sel == FUZZ_IN_TOKEN_FAIL ? find_key_token_gone : find_key_soft;
	if (open_checked(msg, len, &o, &res) == 0 &&
	    sel == FUZZ_IN_TOKEN_FAIL)
		CHECK(res.decrypted == 0);
	smime_open_result_free(&res);

	/* 3 and 4: the input as an outgoing message. */
	sign_round_trip(msg, len, flags, &o);
	encrypt_round_trip(msg, len, flags, &o);

	gw_err_clear();
	ERR_clear_error();
	return 0;
}
