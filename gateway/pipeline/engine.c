/* engine.c - the S/MIME engine bound to the stores and the token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/err.h>

#include "addr_index.h"
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

/* The trust store's ex_data: the pinned keys that are no other anchor
 * (sorted by X509_cmp()), and where the lookup reads more of them. */
struct trust_ex {
	STACK_OF(X509) *pinned;
	struct gw_store *st;	/* NULL: every pinned key is loaded */
	int fault;		/* the first store error a lookup met */
};

static void
pinned_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
	    void *argp)
{
	struct trust_ex *t = ptr;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (t == NULL)
		return;
	sk_X509_pop_free(t->pinned, X509_free);
	free(t);
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
	struct trust_ex *t;
	STACK_OF(X509) *chain;
	X509 *x;
	int i, n;

	if (!ok)
		return ok;
	t = X509_STORE_get_ex_data(X509_STORE_CTX_get0_store(ctx), pinned_idx);
	chain = X509_STORE_CTX_get0_chain(ctx);
	if (t == NULL || chain == NULL)
		return ok;
	n = sk_X509_num(chain);
	/* The trusted part of the chain, the signer's own certificate
	 * excepted: a pinned key there would be an issuer. */
	i = X509_STORE_CTX_get_num_untrusted(ctx);
	for (i = i < 1 ? 1 : i; i < n; i++) {
		x = sk_X509_value(chain, i);
		if (sk_X509_find(t->pinned, x) < 0)
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
 * certificate to messages that do not carry it.  add_extra: offer it
 * (a store of format 3 offers only what engine_find_signers() finds). */
static int
trust_pinned(struct trust_fill *tf, X509 *cert, int add_extra)
{
	int r;

	if ((r = in_store(tf->store, cert)) < 0)
		return GW_ERR_NOMEM;
	/* Read on demand, a key may come twice (two names asked for); the
	 * load of every key (add_extra) meets each once. */
	if (r == 0 && (add_extra || sk_X509_find(tf->pinned, cert) < 0)) {
		if (!X509_up_ref(cert))
			return GW_ERR_NOMEM;
		if (!sk_X509_push(tf->pinned, cert)) {
			X509_free(cert);
			return GW_ERR_NOMEM;
		}
		X509_STORE_add_cert(tf->store, cert);
		ERR_clear_error();
	}
	if (!add_extra)
		return 0;
	if (!X509_up_ref(cert))
		return GW_ERR_NOMEM;
	if (!sk_X509_push(tf->extra, cert)) {
		X509_free(cert);
		return GW_ERR_NOMEM;
	}
	return 0;
}

static int
trust_pubkey(void *arg, const struct keystore_key *k)
{
	if (!(k->caps & KEYSTORE_CAP_VERIFY))
		return 0;
	return trust_pinned(arg, k->cert, 1);
}

/* ---- pinned keys read when the verification asks --------------------- */

/*
 * In a store of format 3 no anchor from the store is loaded up front:
 * the trust store has a lookup method (pinned_meth) that the chain
 * building asks for the certificates of a subject name, and that reads
 * the trusted CAs, the identities and the verify-capable public keys
 * under that name from their indexes ("n:", addr_index.h);
 * engine_find_signers() reads the signers' pinned keys by issuer and
 * serial or subject key identifier.  Both cost index reads, whatever
 * the number of stored keys.
 */
static X509_LOOKUP_METHOD *pinned_meth;
static CRYPTO_ONCE pinned_meth_once = CRYPTO_ONCE_STATIC_INIT;

/* Each verify-capable public key indexed under name for which match()
 * says yes, passed to fn. */
typedef int (*pinned_match_fn)(const void *want, X509 *cert);
typedef int (*pinned_fn)(void *arg, X509 *cert);

static int
pinned_by_name(struct gw_txn *txn, const char *name, pinned_match_fn match,
	       const void *want, pinned_fn fn, void *arg)
{
	struct addr_index_hits h;
	struct keystore_key *k = NULL;
	size_t i;
	int rc;

	if ((rc = addr_index_find_name(txn, GW_DB_PUBKEYS_IX, name, &h)) != 0)
		return rc;
	for (i = 0; i < h.n && rc == 0; i++) {
		rc = keystore_get(txn, h.key[i], &k);
		if (rc == GW_ERR_NOT_FOUND) {
			gw_err_clear(); /* an entry without its record */
			rc = 0;
			continue;
		}
		if (rc == 0 && (k->caps & KEYSTORE_CAP_VERIFY) &&
		    match(want, k->cert))
			rc = fn(arg, k->cert);
		keystore_key_free(k);
		k = NULL;
	}
	addr_index_hits_free(&h);
	return rc;
}

static int
subject_is(const void *want, X509 *cert)
{
	return X509_NAME_cmp(X509_get_subject_name(cert), want) == 0;
}

static int
add_pinned(void *arg, X509 *cert)
{
	return trust_pinned(arg, cert, 0);
}

/* The pinned keys whose subject is name, into tf's store. */
static int
pinned_subject(struct gw_txn *txn, struct trust_fill *tf,
	       const X509_NAME *name)
{
	char ix[ADDR_INDEX_MAX + 1];
	int rc;

	if ((rc = addr_index_name_subject(name, ix, sizeof(ix))) != 0)
		return rc;
	return pinned_by_name(txn, ix, subject_is, name, add_pinned, tf);
}

static int
add_ca(void *arg, const struct castore_ca *ca)
{
	X509_STORE_add_cert(arg, ca->cert);
	ERR_clear_error(); /* a duplicate is not an error */
	return 0;
}

/* Every trust anchor whose subject is name, into tf's store: the trusted
 * CAs and the identities first (a pinned key that is one of them is no
 * pinned-only key), then the pinned keys. */
static int
anchors_subject(struct gw_txn *txn, struct trust_fill *tf,
		const X509_NAME *name)
{
	struct addr_index_hits h;
	struct identity *id = NULL;
	char ix[ADDR_INDEX_MAX + 1];
	size_t i;
	int rc;

	if ((rc = castore_by_subject(txn, name, add_ca, tf->store)) != 0 ||
	    (rc = addr_index_name_subject(name, ix, sizeof(ix))) != 0 ||
	    (rc = addr_index_find_name(txn, GW_DB_IDENTITIES_IX, ix, &h)) != 0)
		return rc;
	for (i = 0; i < h.n && rc == 0; i++) {
		if ((rc = identity_get(txn, h.key[i], &id)) ==
		    GW_ERR_NOT_FOUND) {
			gw_err_clear(); /* an entry without its record */
			rc = 0;
			continue;
		}
		if (rc == 0 && X509_NAME_cmp(X509_get_subject_name(id->cert),
					     name) == 0)
			trust_identity(tf, id);
		identity_free(id);
		id = NULL;
	}
	addr_index_hits_free(&h);
	if (rc != 0)
		return rc;
	return pinned_subject(txn, tf, name);
}

static int
pinned_get_by_subject(X509_LOOKUP *lu, X509_LOOKUP_TYPE type,
		      const X509_NAME *name, X509_OBJECT *ret)
{
	struct trust_ex *t;
	struct trust_fill tf;
	struct gw_txn *txn = NULL;
	X509_OBJECT *obj;
	X509 *x;
	int rc;

	memset(&tf, 0, sizeof(tf));
	tf.store = X509_LOOKUP_get_store(lu);
	t = X509_STORE_get_ex_data(tf.store, pinned_idx);
	if (type != X509_LU_X509 || t == NULL || t->st == NULL ||
	    t->fault != 0)
		return 0;
	tf.pinned = t->pinned;
	if ((rc = gw_txn_begin(t->st, GW_TXN_READ, &txn)) == 0)
		rc = anchors_subject(txn, &tf, name);
	gw_txn_abort(txn);
	if (rc != 0) {
		t->fault = rc;
		return 0;
	}
	/* What the store holds under that name now, borrowed: the caller
	 * takes a reference of its own and never frees ret's. */
	obj = X509_OBJECT_retrieve_by_subject(X509_STORE_get0_objects(tf.store),
					      X509_LU_X509, name);
	if (obj == NULL || (x = X509_OBJECT_get0_X509(obj)) == NULL ||
	    !X509_OBJECT_set1_X509(ret, x))
		return 0;
	X509_free(x);
	return 1;
}

static void
pinned_meth_init(void)
{
	X509_LOOKUP_METHOD *m;

	if ((m = X509_LOOKUP_meth_new("smimegw pinned public keys")) == NULL)
		return;
	if (!X509_LOOKUP_meth_set_get_by_subject(m, pinned_get_by_subject)) {
		X509_LOOKUP_meth_free(m);
		return;
	}
	pinned_meth = m;
}

/* Adds the lookup of the pinned keys (trust_ex.st) to store. */
static int
pinned_lookup_add(X509_STORE *store)
{
	if (!CRYPTO_THREAD_run_once(&pinned_meth_once, pinned_meth_init) ||
	    pinned_meth == NULL)
		return gw_err_set_ssl(GW_ERR_NOMEM, "cannot set up the pinned "
						    "keys' lookup");
	if (X509_STORE_add_lookup(store, pinned_meth) == NULL)
		return gw_err_set_ssl(GW_ERR_NOMEM, "cannot add the pinned "
						    "keys' lookup");
	return 0;
}

static int
signer_is(const void *want, X509 *cert)
{
	return CMS_SignerInfo_cert_cmp((CMS_SignerInfo *)want, cert) == 0;
}

struct signer_fill {
	STACK_OF(X509) *extra;
	int found;
};

static int
add_signer(void *arg, X509 *cert)
{
	struct signer_fill *sf = arg;

	if (!X509_up_ref(cert))
		return GW_ERR_NOMEM;
	if (!sk_X509_push(sf->extra, cert)) {
		X509_free(cert);
		return GW_ERR_NOMEM;
	}
	sf->found = 1;
	return 0;
}

/* 1 when sk holds a certificate of signer si. */
static int
has_signer(STACK_OF(X509) *sk, CMS_SignerInfo *si)
{
	int i;

	for (i = 0; i < sk_X509_num(sk); i++)
		if (CMS_SignerInfo_cert_cmp(si, sk_X509_value(sk, i)) == 0)
			return 1;
	return 0;
}

/* The pinned keys of signer si, by its identifier, into extra. */
static int
signer_keys(struct gw_txn *txn, CMS_SignerInfo *si, STACK_OF(X509) *extra)
{
	struct signer_fill sf = {extra, 0};
	ASN1_OCTET_STRING *keyid = NULL;
	X509_NAME *issuer = NULL;
	ASN1_INTEGER *sno = NULL;
	char ix[ADDR_INDEX_MAX + 1];
	int rc;

	if (CMS_SignerInfo_get0_signer_id(si, &keyid, &issuer, &sno) != 1) {
		ERR_clear_error();
		return 0; /* CMS_verify() says what is wrong with it */
	}
	rc = keyid != NULL ? addr_index_name_ski(keyid, ix, sizeof(ix))
	     : issuer != NULL && sno != NULL
		 ? addr_index_name_issuer(issuer, sno, ix, sizeof(ix))
		 : 1;
	if (rc != 0)
		return rc < 0 ? rc : 0;
	return pinned_by_name(txn, ix, signer_is, si, add_signer, &sf);
}

int
engine_find_signers(void *arg, CMS_ContentInfo *cms, STACK_OF(X509) *extra)
{
	const struct engine *e = arg;
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	STACK_OF(X509) *carried = CMS_get1_certs(cms);
	struct gw_txn *txn = NULL;
	CMS_SignerInfo *si;
	int i, rc = 0;

	for (i = 0; i < sk_CMS_SignerInfo_num(sis) && rc == 0; i++) {
		si = sk_CMS_SignerInfo_value(sis, i);
		if (has_signer(carried, si) || has_signer(extra, si))
			continue;
		if (txn == NULL &&
		    (rc = gw_txn_begin(e->store, GW_TXN_READ, &txn)) != 0)
			break;
		/* A store older than format 3 loaded every pinned key. */
		if ((rc = addr_index_ready_ids(txn)) <= 0)
			break;
		rc = signer_keys(txn, si, extra);
	}
	gw_txn_abort(txn);
	sk_X509_pop_free(carried, X509_free);
	ERR_clear_error();
	return rc < 0 ? rc : 0;
}

int
engine_trust_fault(X509_STORE *store)
{
	struct trust_ex *t;

	if (store == NULL || pinned_idx < 0 ||
	    (t = X509_STORE_get_ex_data(store, pinned_idx)) == NULL)
		return 0;
	if (t->fault != 0)
		return gw_err_set(t->fault, "reading the pinned public keys "
					    "failed");
	return 0;
}

/* The anchors that share a subject with a certificate the store holds
 * already (the ca_file's): the chain building asks the lookup only for
 * names it has nothing under. */
static int
anchors_beside(struct gw_txn *txn, struct trust_fill *tf)
{
	STACK_OF(X509) *held;
	X509 *x;
	int i, rc = 0;

	if ((held = X509_STORE_get1_all_certs(tf->store)) == NULL)
		return gw_err_set_ssl(GW_ERR_NOMEM, "trust store");
	for (i = 0; i < sk_X509_num(held) && rc == 0; i++) {
		x = sk_X509_value(held, i);
		rc = anchors_subject(txn, tf, X509_get_subject_name(x));
	}
	sk_X509_pop_free(held, X509_free);
	return rc;
}

int
engine_trust(const struct engine *e, struct gw_txn *txn, const char *ca_file,
	     int system, X509_STORE **out, STACK_OF(X509) **extra)
{
	struct trust_fill tf;
	struct trust_ex *t = NULL;
	STACK_OF(X509) *sk = NULL;
	int i, rc, lazy;

	*out = NULL;
	*extra = NULL;
	if (!CRYPTO_THREAD_run_once(&pinned_once, pinned_init) ||
	    pinned_idx < 0)
		return gw_err_set_ssl(GW_ERR_NOMEM,
				      "cannot set up the pinned keys' index");
	if ((lazy = addr_index_ready_ids(txn)) < 0)
		return lazy;
	tf.store = X509_STORE_new();
	tf.extra = sk_X509_new_null();
	tf.pinned = sk_X509_new(pinned_cmp);
	t = calloc(1, sizeof(*t));
	if (tf.store == NULL || tf.extra == NULL || tf.pinned == NULL ||
	    t == NULL) {
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
	/* Format 3: the identities, the CAs and the pinned keys are read
	 * as the verification asks for them (above); older stores: all of
	 * them, now. */
	if (lazy)
		rc = anchors_beside(txn, &tf);
	else if ((rc = identity_foreach(txn, trust_identity, &tf)) == 0 &&
		 (rc = castore_load(txn, tf.store)) == 0)
		rc = keystore_foreach(txn, trust_pubkey, &tf);
	if (rc != 0 || (lazy && (rc = pinned_lookup_add(tf.store)) != 0))
		goto fail;
	if (system && !X509_STORE_set_default_paths(tf.store)) {
		rc = gw_err_set_ssl(GW_ERR_CRYPTO,
				    "cannot load the system trust "
				    "store");
		goto fail;
	}
	/* Sorted once here; the lookup's additions sort it again when the
	 * callback searches it. */
	sk_X509_sort(tf.pinned);
	t->pinned = tf.pinned;
	t->st = lazy ? e->store : NULL;
	if (!X509_STORE_set_ex_data(tf.store, pinned_idx, t)) {
		t->pinned = NULL;
		rc = GW_ERR_NOMEM;
		goto fail;
	}
	tf.pinned = NULL; /* the store's now */
	X509_STORE_set_verify_cb(tf.store, pinned_verify_cb);
	*out = tf.store;
	*extra = tf.extra;
	return 0;
fail:
	free(t);
	X509_STORE_free(tf.store);
	sk_X509_pop_free(tf.extra, X509_free);
	sk_X509_pop_free(tf.pinned, X509_free);
	return rc;
}
