/* engine.c - the S/MIME engine bound to the stores and the token. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/err.h>

#include "castore.h"
#include "engine.h"
#include "gw_err.h"
#include "cert_info.h"
#include "identity.h"
#include "keysrc.h"
#include "keystore.h"
#include "mime_addr.h"
#include "mime_parser.h"

/* ---- signing ----------------------------------------------------------- */

/* Whether identity id may sign now: usage, validity. */
static int
signer_check(const struct identity *id, time_t now)
{
	if (!(id->usage & CERT_USAGE_SIGN))
		return gw_err_set_at(GW_ERR_REQUIREMENT, "identity",
				  "identity '%s' is for encryption "
				  "only",
				  id->name);
	if (X509_cmp_time(X509_get0_notAfter(id->cert), &now) < 0 ||
	    X509_cmp_time(X509_get0_notBefore(id->cert), &now) > 0)
		return gw_err_set_at(GW_ERR_EXPIRED, "identity",
				  "the certificate of identity '%s' "
				  "is not valid now",
				  id->name);
	return 0;
}

/* Whether identity id covers the From address addr ("": the message
 * has none). */
static int
signer_check_from(const struct identity *id, const char *addr)
{
	char matched[256];

	if (addr[0] == '\0')
		return gw_err_set(GW_ERR_INVALID,
				  "the message has no From address to sign "
				  "for");
	if (!addr_rule_covers(id->cert, addr, matched, sizeof(matched)))
		return gw_err_set_at(GW_ERR_REQUIREMENT, "identity",
				  "identity '%s' does not cover the "
				  "From address %s (neither its "
				  "subjectAltName nor its subject's "
				  "emailAddress names the address or its "
				  "domain)",
				  id->name, addr);
	return 0;
}

/* mime_addr_fn: signer_check_from() for one From mailbox. */
static int
signer_from_one(void *arg, const char *addr)
{
	return signer_check_from(arg, addr);
}

/* The identity called name, read in a transaction of its own. */
static int
signer_get(const struct engine *e, const char *name, struct identity **out)
{
	struct gw_txn *txn = NULL;
	int rc;

	if ((rc = gw_txn_begin(e->store, GW_TXN_READ, &txn)) != 0)
		return rc;
	rc = keysrc_find_signer(e->keys, txn, name, out);
	gw_txn_abort(txn);
	return rc;
}

int
engine_sign(const struct engine *e, const struct engine_sign_opts *o,
	    const struct smime_msg *m, struct gw_buf *out,
	    struct smime_layout *made)
{
	struct smime_signer s;
	struct smime_msg whole = *m;
	const struct mime_part *hdr;
	struct mime_tree *tree = NULL;
	struct identity *id = NULL;
	EVP_PKEY *key = NULL;
	int rc;

	memset(&s, 0, sizeof(s));
	if ((rc = signer_get(e, o->identity, &id)) != 0 ||
	    (rc = signer_check(id, o->now ? o->now : time(NULL))) != 0)
		goto out;
	hdr = o->from_hdr;
	if (hdr == NULL) {
		/* Parsed here once, for the From field and for signing. */
		if (whole.tree == NULL) {
			rc = whole.layout != NULL
				 ? smime_parse_header(m->data, m->len, &tree)
				 : smime_parse(m->data, m->len, &tree);
			if (rc != 0)
				goto out;
			if (whole.layout == NULL)
				whole.tree = tree;
		}
		hdr = mime_tree_root(whole.tree ? whole.tree : tree);
	}
	/* Every mailbox of every From field: what a reader sees as the
	 * sender must be what the signature vouches for. */
	if ((rc = mime_addr_from_each(hdr, signer_from_one, id)) ==
	    GW_ERR_NOT_FOUND)
		rc = signer_check_from(id, "");
	if (rc != 0)
		goto out;
	if ((rc = keysrc_key(e->keys, id, &key)) != 0)
		goto out;
	s.cert = id->cert;
	s.key = key;
	s.chain = id->chain;
	s.md = o->md;
	s.pss = o->pss;
	s.mode = o->mode;
	rc = smime_sign_msg(&whole, &s, out, made);
out:
	mime_tree_free(tree);
	EVP_PKEY_free(key);
	identity_free(id);
	return rc;
}

/* ---- the decryption key ------------------------------------------------ */

int
engine_find_key(void *arg, CMS_ContentInfo *cms, X509 **cert, EVP_PKEY **key)
{
	const struct engine_open_for *of = arg;
	const struct engine *e = of->e;
	struct keysrc_for f;
	struct identity *id = NULL;
	struct gw_txn *txn = NULL;
	X509 *named = NULL;
	int rc;

	*cert = NULL;
	*key = NULL;
	f.rcpt = of->rcpt;
	f.nrcpt = of->nrcpt;
	f.catch_all = e->decrypt_catch_all;
	f.any = of->any;
	/* No transaction is held while the key source works. */
	if ((rc = gw_txn_begin(e->store, GW_TXN_READ, &txn)) != 0)
		return rc;
	rc = keysrc_find_recipient(e->keys, txn, cms, &f, &id, &named);
	gw_txn_abort(txn);
	if (rc != 0)
		return rc;
	/* The certificate the message names, which may be one the identity
	 * had before its current one: CMS_decrypt() looks for it. */
	if ((rc = keysrc_key(e->keys, id, key)) == 0) {
		*cert = named;
		named = NULL;
	}
	X509_free(named);
	identity_free(id);
	return rc;
}

int
engine_key_fault(void *arg)
{
	const struct engine_open_for *of = arg;

	return keysrc_fault(of->e->keys);
}

/* ---- trust anchors ----------------------------------------------------- */

/*
 * Pinned public keys are trust anchors for themselves only.  The store
 * keeps the pinned certificates that are not also trusted CAs (sorted,
 * in its ex_data); its verify callback refuses a chain that reaches
 * one of them above the signer's own certificate.
 */
static CRYPTO_ONCE pinned_once = CRYPTO_ONCE_STATIC_INIT;
static int pinned_idx = -1;

static void
pinned_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
	    void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	sk_X509_pop_free(ptr, X509_free);
}

static void
pinned_init(void)
{
	pinned_idx = X509_STORE_get_ex_new_index(0, NULL, NULL, NULL,
						 pinned_free);
}

static int
pinned_cmp(const X509 *const *a, const X509 *const *b)
{
	return X509_cmp(*a, *b);
}

static int
pinned_verify_cb(int ok, X509_STORE_CTX *ctx)
{
	STACK_OF(X509) *pinned, *chain;
	X509 *x;
	int i, n;

	if (!ok)
		return ok;
	pinned = X509_STORE_get_ex_data(X509_STORE_CTX_get0_store(ctx),
					pinned_idx);
	chain = X509_STORE_CTX_get0_chain(ctx);
	if (pinned == NULL || chain == NULL)
		return ok;
	n = sk_X509_num(chain);
	/* The trusted part of the chain, the signer's own certificate
	 * excepted: a pinned key there would be an issuer. */
	i = X509_STORE_CTX_get_num_untrusted(ctx);
	for (i = i < 1 ? 1 : i; i < n; i++) {
		x = sk_X509_value(chain, i);
		if (sk_X509_find(pinned, x) < 0)
			continue;
		X509_STORE_CTX_set_current_cert(ctx, x);
		X509_STORE_CTX_set_error_depth(ctx, i);
		X509_STORE_CTX_set_error(ctx, X509_V_ERR_INVALID_CA);
		return 0;
	}
	return ok;
}

/* Whether x is in store already (a trusted CA or an identity). */
static int
in_store(X509_STORE *store, X509 *x)
{
	X509_OBJECT *obj;
	int found;

	if ((obj = X509_OBJECT_new()) == NULL)
		return -1;
	if (!X509_OBJECT_set1_X509(obj, x)) {
		X509_OBJECT_free(obj);
		return -1;
	}
	found = X509_OBJECT_retrieve_match(X509_STORE_get0_objects(store),
					   obj) != NULL;
	X509_OBJECT_free(obj);
	return found;
}

struct trust_fill {
	X509_STORE *store;
	STACK_OF(X509) *extra;
	STACK_OF(X509) *pinned;	/* pinned keys that are no other anchor */
};

static int
trust_identity(void *arg, const struct identity *id)
{
	struct trust_fill *tf = arg;

	X509_STORE_add_cert(tf->store, id->cert);
	ERR_clear_error(); /* a duplicate is not an error */
	return 0;
}

/* A partner's public key that may verify is pinned: trusted as it is,
 * whoever issued it, for itself only, and offered as the signer's
 * certificate to messages that do not carry it. */
static int
trust_pubkey(void *arg, const struct keystore_key *k)
{
	struct trust_fill *tf = arg;
	int r;

	if (!(k->caps & KEYSTORE_CAP_VERIFY))
		return 0;
	if ((r = in_store(tf->store, k->cert)) < 0)
		return GW_ERR_NOMEM;
	if (r == 0) {
		if (!X509_up_ref(k->cert))
			return GW_ERR_NOMEM;
		if (!sk_X509_push(tf->pinned, k->cert)) {
			X509_free(k->cert);
			return GW_ERR_NOMEM;
		}
		X509_STORE_add_cert(tf->store, k->cert);
		ERR_clear_error();
	}
	if (!X509_up_ref(k->cert))
		return GW_ERR_NOMEM;
	if (!sk_X509_push(tf->extra, k->cert)) {
		X509_free(k->cert);
		return GW_ERR_NOMEM;
	}
	return 0;
}

int
engine_trust(struct gw_txn *txn, const char *ca_file, int system,
	     X509_STORE **out, STACK_OF(X509) **extra)
{
	struct trust_fill tf;
	STACK_OF(X509) *sk = NULL;
	int i, rc;

	*out = NULL;
	*extra = NULL;
	if (!CRYPTO_THREAD_run_once(&pinned_once, pinned_init) ||
	    pinned_idx < 0)
		return gw_err_set_ssl(GW_ERR_NOMEM,
				      "cannot set up the pinned keys' index");
	tf.store = X509_STORE_new();
	tf.extra = sk_X509_new_null();
	tf.pinned = sk_X509_new(pinned_cmp);
	if (tf.store == NULL || tf.extra == NULL || tf.pinned == NULL) {
		rc = GW_ERR_NOMEM;
		goto fail;
	}
	X509_STORE_set_flags(tf.store, X509_V_FLAG_PARTIAL_CHAIN);
	if (ca_file != NULL) {
		if ((rc = cert_info_read_certs(ca_file, &sk)) != 0)
			goto fail;
		for (i = 0; i < sk_X509_num(sk); i++)
			X509_STORE_add_cert(tf.store, sk_X509_value(sk, i));
		ERR_clear_error();
		sk_X509_pop_free(sk, X509_free);
	}
	if ((rc = identity_foreach(txn, trust_identity, &tf)) != 0 ||
	    (rc = castore_load(txn, tf.store)) != 0 ||
	    (rc = keystore_foreach(txn, trust_pubkey, &tf)) != 0)
		goto fail;
	if (system && !X509_STORE_set_default_paths(tf.store)) {
		rc = gw_err_set_ssl(GW_ERR_CRYPTO,
				    "cannot load the system trust "
				    "store");
		goto fail;
	}
	/* Sorted once here: the callback's searches change nothing. */
	sk_X509_sort(tf.pinned);
	if (!X509_STORE_set_ex_data(tf.store, pinned_idx, tf.pinned)) {
		rc = GW_ERR_NOMEM;
		goto fail;
	}
	tf.pinned = NULL; /* the store's now */
	X509_STORE_set_verify_cb(tf.store, pinned_verify_cb);
	*out = tf.store;
	*extra = tf.extra;
	return 0;
fail:
	X509_STORE_free(tf.store);
	sk_X509_pop_free(tf.extra, X509_free);
	sk_X509_pop_free(tf.pinned, X509_free);
	return rc;
}
