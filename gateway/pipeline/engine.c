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
				  "From address %s (its SANs name neither the "
				  "address nor its domain)",
				  id->name, addr);
	return 0;
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
	struct mime_tree *tree = NULL;
	struct identity *id = NULL;
	EVP_PKEY *key = NULL;
	char addr[256];
	int rc;

	memset(&s, 0, sizeof(s));
	if ((rc = signer_get(e, o->identity, &id)) != 0 ||
	    (rc = signer_check(id, o->now ? o->now : time(NULL))) != 0)
		goto out;
	if (o->from != NULL) {
		snprintf(addr, sizeof(addr), "%s", o->from);
	} else {
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
		mime_addr_from(
		    mime_part_header(mime_tree_root(whole.tree ? whole.tree
							       : tree),
				     "From"),
		    addr, sizeof(addr));
	}
	if ((rc = signer_check_from(id, addr)) != 0 ||
	    (rc = keysrc_key(e->keys, id, &key)) != 0)
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
	struct engine *e = arg;
	struct identity *id = NULL;
	struct gw_txn *txn = NULL;
	int rc;

	*cert = NULL;
	*key = NULL;
	/* No transaction is held while the key source works. */
	if ((rc = gw_txn_begin(e->store, GW_TXN_READ, &txn)) != 0)
		return rc;
	rc = keysrc_find_recipient(e->keys, txn, cms, &id);
	gw_txn_abort(txn);
	if (rc != 0)
		return rc;
	if ((rc = keysrc_key(e->keys, id, key)) == 0) {
		*cert = id->cert;
		id->cert = NULL;
	}
	identity_free(id);
	return rc;
}

int
engine_key_fault(void *arg)
{
	const struct engine *e = arg;

	return keysrc_fault(e->keys);
}

/* ---- trust anchors ----------------------------------------------------- */

struct trust_fill {
	X509_STORE *store;
	STACK_OF(X509) *extra;
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
 * whoever issued it, and offered as the signer's certificate to
 * messages that do not carry it. */
static int
trust_pubkey(void *arg, const struct keystore_key *k)
{
	struct trust_fill *tf = arg;

	if (!(k->caps & KEYSTORE_CAP_VERIFY))
		return 0;
	X509_STORE_add_cert(tf->store, k->cert);
	ERR_clear_error();
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
	tf.store = X509_STORE_new();
	tf.extra = sk_X509_new_null();
	if (tf.store == NULL || tf.extra == NULL) {
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
	*out = tf.store;
	*extra = tf.extra;
	return 0;
fail:
	X509_STORE_free(tf.store);
	sk_X509_pop_free(tf.extra, X509_free);
	return rc;
}
