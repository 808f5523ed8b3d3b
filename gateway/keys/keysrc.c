/* keysrc.c - the key source seam (keysrc.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rsa.h>

#include "addr_index.h"
#include "addr_rule.h"
#include "cert_names.h"
#include "gw_err.h"
#include "keysrc.h"

struct keysrc {
	const struct keysrc_ops *ops;
	void *ctx;
	int fault;	/* the last temporary failure of an operation */
};

struct keysrc *
keysrc_new(const struct keysrc_ops *ops, void *ctx)
{
	struct keysrc *ks;

	if ((ks = calloc(1, sizeof(*ks))) == NULL) {
		if (ops->free != NULL)
			ops->free(ctx);
		return NULL;
	}
	ks->ops = ops;
	ks->ctx = ctx;
	return ks;
}

void
keysrc_free(struct keysrc *ks)
{
	if (ks == NULL)
		return;
	if (ks->ops->free != NULL)
		ks->ops->free(ks->ctx);
	free(ks);
}

const char *
keysrc_name(const struct keysrc *ks)
{
	return ks->ops->name;
}

void *
keysrc_backend(const struct keysrc *ks, const struct keysrc_ops *ops)
{
	return ks != NULL && ks->ops == ops ? ks->ctx : NULL;
}

/* ---- finding the identity ---------------------------------------------- */

int
keysrc_find_signer(struct keysrc *ks, struct gw_txn *txn, const char *name,
		   struct identity **out)
{
	(void)ks;
	return identity_get(txn, name, out);
}

/* Whether one of cms's recipient infos names cert. */
static int
is_recipient(CMS_ContentInfo *cms, X509 *cert)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
	STACK_OF(CMS_RecipientEncryptedKey) *reks;
	CMS_RecipientInfo *ri;
	int i, j;

	for (i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
		ri = sk_CMS_RecipientInfo_value(ris, i);
		switch (CMS_RecipientInfo_type(ri)) {
		case CMS_RECIPINFO_TRANS:
			if (CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0)
				return 1;
			break;
		case CMS_RECIPINFO_AGREE:
			reks = CMS_RecipientInfo_kari_get0_reks(ri);
			for (j = 0; j < sk_CMS_RecipientEncryptedKey_num(reks);
			     j++)
				if (CMS_RecipientEncryptedKey_cert_cmp(
					sk_CMS_RecipientEncryptedKey_value(reks,
									   j),
					cert) == 0)
					return 1;
			break;
		default:
			break;
		}
	}
	return 0;
}

/* The certificate of id that cms's recipient infos name: the current
 * one first, then the previous ones (newest first); NULL. */
static X509 *
named_cert(CMS_ContentInfo *cms, const struct identity *id)
{
	int i;

	if (is_recipient(cms, id->cert))
		return id->cert;
	for (i = id->previous ? sk_X509_num(id->previous) - 1 : -1; i >= 0;
	     i--)
		if (is_recipient(cms, sk_X509_value(id->previous, i)))
			return sk_X509_value(id->previous, i);
	return NULL;
}

/* Whether f lets id, named by the message through named, decrypt. */
static int
allowed(const struct keysrc_for *f, const struct identity *id, X509 *named)
{
	char matched[256];
	size_t i;

	if (f->any)
		return 1;
	if (f->catch_all != NULL && strcmp(f->catch_all, id->name) == 0)
		return 1;
	for (i = 0; i < f->nrcpt; i++)
		if (addr_rule_covers(id->cert, f->rcpt[i], matched,
				     sizeof(matched)) ||
		    (named != id->cert &&
		     addr_rule_covers(named, f->rcpt[i], matched,
				      sizeof(matched))))
			return 1;
	return 0;
}

struct recipient_search {
	struct gw_txn *txn;
	CMS_ContentInfo *cms;
	const struct keysrc_for *f;
	struct identity *found;
	X509 *cert;
	char refused[65];	/* the first recipient identity refused */
};

static int
search_one(void *arg, const struct identity *id)
{
	struct recipient_search *rs = arg;
	struct identity *copy;
	X509 *named;

	if (!(id->usage & CERT_USAGE_ENCRYPT) ||
	    (named = named_cert(rs->cms, id)) == NULL)
		return 0;
	if (!allowed(rs->f, id, named)) {
		if (rs->refused[0] == '\0')
			snprintf(rs->refused, sizeof(rs->refused), "%s",
				 id->name);
		return 0;
	}
	/* The record passed in is borrowed: fetch our own. */
	if (identity_get(rs->txn, id->name, &copy) != 0)
		return 0;
	if (!X509_up_ref(named)) {
		identity_free(copy);
		return GW_ERR_NOMEM;
	}
	rs->found = copy;
	rs->cert = named;
	return 1;
}

/*
 * The detail of a recipient identity that f refuses.  It ends up in the
 * message's result headers, which every recipient sees: it names no
 * envelope recipient (a Bcc recipient would be disclosed).
 */
static int
refused(const struct recipient_search *rs)
{
	if (rs->f->nrcpt == 0)
		return gw_err_set(GW_ERR_NOT_FOUND,
				  "the message is encrypted to identity '%s', "
				  "but no envelope recipient was given to "
				  "decrypt it for",
				  rs->refused);
	return gw_err_set(GW_ERR_NOT_FOUND,
			  "the message is encrypted to identity '%s', which "
			  "covers none of its envelope recipients",
			  rs->refused);
}

/* ---- the identities a message names, through the index -------------- */

struct cands {
	size_t n, cap;
	char (*name)[65];
};

static int
cand_add(struct cands *c, const char *key, size_t klen, size_t plen)
{
	size_t n = klen - plen, i;
	void *p;

	if (klen <= plen || n > 64)
		return 0;
	for (i = 0; i < c->n; i++)
		if (strlen(c->name[i]) == n &&
		    memcmp(c->name[i], key + plen, n) == 0)
			return 0;
	if (c->n == c->cap) {
		if ((p = reallocarray(c->name, c->cap + 8, sizeof(*c->name))) ==
		    NULL)
			return GW_ERR_NOMEM;
		c->name = p;
		c->cap += 8;
	}
	memcpy(c->name[c->n], key + plen, n);
	c->name[c->n++][n] = '\0';
	return 0;
}

/* The identities indexed under one identifier of a RecipientInfo. */
static int
cands_of(struct gw_txn *txn, ASN1_OCTET_STRING *keyid, X509_NAME *issuer,
	 ASN1_INTEGER *sno, struct cands *c)
{
	struct addr_index_hits h;
	char ix[CERT_NAME_MAX + 1];
	size_t i;
	int rc;

	if (keyid != NULL)
		rc = cert_name_ski(keyid, ix, sizeof(ix));
	else if (issuer != NULL && sno != NULL)
		rc = cert_name_issuer(issuer, sno, ix, sizeof(ix));
	else
		return 0;
	if (rc != 0 ||
	    (rc = addr_index_find_name(txn, GW_DB_IDENTITIES_IX, ix, &h)) != 0)
		return rc;
	for (i = 0; i < h.n && rc == 0; i++)
		rc = cand_add(c, h.key[i], h.len[i], 0);
	addr_index_hits_free(&h);
	return rc;
}

/* The same for each recipient of a key agreement RecipientInfo. */
static int
kari_cands(struct gw_txn *txn, STACK_OF(CMS_RecipientEncryptedKey) *reks,
	   struct cands *c)
{
	CMS_RecipientEncryptedKey *rek;
	ASN1_OCTET_STRING *keyid;
	X509_NAME *issuer;
	ASN1_INTEGER *sno;
	int j, rc = 0;

	for (j = 0; j < sk_CMS_RecipientEncryptedKey_num(reks) && rc == 0;
	     j++) {
		rek = sk_CMS_RecipientEncryptedKey_value(reks, j);
		keyid = NULL;
		issuer = NULL;
		sno = NULL;
		if (CMS_RecipientEncryptedKey_get0_id(rek, &keyid, NULL, NULL,
						      &issuer, &sno) == 1)
			rc = cands_of(txn, keyid, issuer, sno, c);
	}
	return rc;
}

static int
cand_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * search_one() over the identities that cms's RecipientInfos name, in
 * name order, as the walk over every identity would meet them: an
 * identity the message does not name is passed over by search_one()
 * anyway.  A store older than format 3 (addr_index.h) is walked.
 */
static int
recipients_search(struct gw_txn *txn, CMS_ContentInfo *cms,
		  struct recipient_search *rs)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
	STACK_OF(CMS_RecipientEncryptedKey) *reks;
	CMS_RecipientInfo *ri;
	ASN1_OCTET_STRING *keyid;
	X509_NAME *issuer;
	ASN1_INTEGER *sno;
	struct identity *id = NULL;
	struct cands c;
	int i, rc;

	if ((rc = addr_index_ready_ids(txn)) <= 0)
		return rc < 0 ? rc : identity_foreach(txn, search_one, rs);
	rc = 0;
	memset(&c, 0, sizeof(c));
	for (i = 0; i < sk_CMS_RecipientInfo_num(ris) && rc == 0; i++) {
		ri = sk_CMS_RecipientInfo_value(ris, i);
		keyid = NULL;
		issuer = NULL;
		sno = NULL;
		switch (CMS_RecipientInfo_type(ri)) {
		case CMS_RECIPINFO_TRANS:
			if (CMS_RecipientInfo_ktri_get0_signer_id(
				ri, &keyid, &issuer, &sno) == 1)
				rc = cands_of(txn, keyid, issuer, sno, &c);
			break;
		case CMS_RECIPINFO_AGREE:
			reks = CMS_RecipientInfo_kari_get0_reks(ri);
			rc = kari_cands(txn, reks, &c);
			break;
		default:
			break;
		}
	}
	ERR_clear_error();
	if (c.n > 1)
		qsort(c.name, c.n, sizeof(*c.name), cand_cmp);
	for (i = 0; rc == 0 && (size_t)i < c.n; i++) {
		rc = identity_get(txn, c.name[i], &id);
		if (rc == GW_ERR_NOT_FOUND) {
			gw_err_clear(); /* an entry without its record */
			rc = 0;
			continue;
		}
		if (rc == 0)
			rc = search_one(rs, id);
		identity_free(id);
		id = NULL;
	}
	free(c.name);
	return rc < 0 ? rc : 0;
}

int
keysrc_find_recipient(struct keysrc *ks, struct gw_txn *txn,
		      CMS_ContentInfo *cms, const struct keysrc_for *f,
		      struct identity **out, X509 **cert)
{
	struct recipient_search rs;
	int rc;

	(void)ks;
	*out = NULL;
	*cert = NULL;
	memset(&rs, 0, sizeof(rs));
	rs.txn = txn;
	rs.cms = cms;
	rs.f = f;
	rc = recipients_search(txn, cms, &rs);
	if (rc == 0 && rs.found == NULL)
		rc = rs.refused[0] != '\0' ? refused(&rs) : GW_ERR_NOT_FOUND;
	if (rc != 0) {
		identity_free(rs.found);
		X509_free(rs.cert);
		return rc;
	}
	*out = rs.found;
	*cert = rs.cert;
	return 0;
}

/* ---- the operations ---------------------------------------------------- */

int
keysrc_key(struct keysrc *ks, const struct identity *id, EVP_PKEY **out)
{
	*out = NULL;
	ks->fault = 0; /* keysrc_fault() speaks of this key's operations */
	return ks->ops->load(ks->ctx, id->key_uri, out);
}

/* rc, remembered for keysrc_fault() when it is the backend's trouble. */
static int
record(struct keysrc *ks, int rc)
{
	if (rc != 0 && gw_err_class(rc) == GW_ERRCLASS_TEMPORARY)
		ks->fault = rc;
	return rc;
}

int
keysrc_fault(struct keysrc *ks)
{
	int rc = ks->fault;

	ks->fault = 0;
	if (rc != 0)
		return rc;
	return ks->ops->fault != NULL ? ks->ops->fault(ks->ctx) : 0;
}

int
keysrc_sign(struct keysrc *ks, const struct identity *id,
	    const struct keysrc_sign_params *p, const unsigned char *dgst,
	    size_t dlen, unsigned char *sig, size_t *siglen)
{
	if (dlen == 0 || dlen > KEYSRC_DIGEST_MAX)
		return gw_err_set(GW_ERR_LIMIT,
				  "a digest to sign is %zu bytes (1-%d)", dlen,
				  KEYSRC_DIGEST_MAX);
	return record(ks, ks->ops->sign(ks->ctx, id->key_uri, p, dgst, dlen,
					sig, siglen));
}

int
keysrc_decrypt(struct keysrc *ks, const struct identity *id,
	       const struct keysrc_decrypt_params *p, const unsigned char *in,
	       size_t inlen, unsigned char *out, size_t *outlen)
{
	if (inlen == 0 || inlen > KEYSRC_BLOB_MAX)
		return gw_err_set(GW_ERR_LIMIT,
				  "a key transport is %zu bytes (1-%d)", inlen,
				  KEYSRC_BLOB_MAX);
	return record(ks, ks->ops->decrypt(ks->ctx, id->key_uri, p, in, inlen,
					   out, outlen));
}

int
keysrc_derive(struct keysrc *ks, const struct identity *id, EVP_PKEY *peer,
	      unsigned char *out, size_t *outlen)
{
	return record(ks,
		      ks->ops->derive(ks->ctx, id->key_uri, peer, out, outlen));
}

/* ---- the operations on an EVP_PKEY ------------------------------------- */

static const EVP_MD *
md_of(int nid)
{
	return EVP_get_digestbynid(nid);
}

/* A failed step of a private-key operation.  Setting parameters fails
 * only for what the key cannot do (permanent); a signature that fails
 * once its parameters are accepted is the token's fault (temporary, as
 * smime_sign() has it); a key transport that does not decrypt is bad
 * input as far as anyone can tell (permanent). */
static int
op_failed(EVP_PKEY_CTX *pctx, int code, const char *what)
{
	EVP_PKEY_CTX_free(pctx);
	return gw_err_set_ssl(code, "the private key could not %s", what);
}

int
keysrc_pkey_sign(EVP_PKEY *pkey, const struct keysrc_sign_params *p,
		 const unsigned char *dgst, size_t dlen, unsigned char *sig,
		 size_t *siglen)
{
	EVP_PKEY_CTX *pctx;
	const EVP_MD *md = md_of(p->md_nid);

	if (md == NULL || (size_t)EVP_MD_get_size(md) != dlen)
		return gw_err_set(GW_ERR_UNSUPPORTED,
				  "the digest to sign is not one of its "
				  "algorithm's length");
	if ((pctx = EVP_PKEY_CTX_new(pkey, NULL)) == NULL)
		return GW_ERR_NOMEM;
	if (EVP_PKEY_sign_init(pctx) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(pctx, md) <= 0)
		return op_failed(pctx, GW_ERR_UNSUPPORTED, "start signing");
	if (p->pad == KEYSRC_PAD_PSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, p->pss_saltlen) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(
		 pctx, md_of(p->mgf1_md_nid ? p->mgf1_md_nid : p->md_nid)) <=
		 0))
		return op_failed(pctx, GW_ERR_UNSUPPORTED, "use RSASSA-PSS");
	if (p->pad == KEYSRC_PAD_PKCS1 &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)
		return op_failed(pctx, GW_ERR_UNSUPPORTED, "use PKCS#1 v1.5");
	if (EVP_PKEY_sign(pctx, sig, siglen, dgst, dlen) <= 0)
		return op_failed(pctx, GW_ERR_P11, "sign");
	EVP_PKEY_CTX_free(pctx);
	return 0;
}

int
keysrc_pkey_decrypt(EVP_PKEY *pkey, const struct keysrc_decrypt_params *p,
		    const unsigned char *in, size_t inlen, unsigned char *out,
		    size_t *outlen)
{
	EVP_PKEY_CTX *pctx;
	const EVP_MD *md;
	unsigned char *label = NULL;

	if ((pctx = EVP_PKEY_CTX_new(pkey, NULL)) == NULL)
		return GW_ERR_NOMEM;
	if (EVP_PKEY_decrypt_init(pctx) <= 0)
		return op_failed(pctx, GW_ERR_UNSUPPORTED, "start decrypting");
	if (p->pad == KEYSRC_PAD_OAEP) {
		md = md_of(p->oaep_md_nid ? p->oaep_md_nid : NID_sha1);
		if (md == NULL ||
		    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <=
			0 ||
		    EVP_PKEY_CTX_set_rsa_oaep_md(pctx, md) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(
			pctx, p->mgf1_md_nid ? md_of(p->mgf1_md_nid) : md) <= 0)
			return op_failed(pctx, GW_ERR_UNSUPPORTED, "use RSA-OAEP");
		if (p->labellen > 0) {
			/* set0: the context takes the copy. */
			if ((label = OPENSSL_memdup(p->label, p->labellen)) ==
				NULL ||
			    EVP_PKEY_CTX_set0_rsa_oaep_label(
				pctx, label, (int)p->labellen) <= 0) {
				OPENSSL_free(label);
				return op_failed(pctx, GW_ERR_NOMEM, "use the OAEP label");
			}
		}
	} else if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)
		return op_failed(pctx, GW_ERR_UNSUPPORTED, "use PKCS#1 v1.5");
	if (EVP_PKEY_decrypt(pctx, out, outlen, in, inlen) <= 0)
		return op_failed(pctx, GW_ERR_CRYPTO, "decrypt the key transport");
	EVP_PKEY_CTX_free(pctx);
	return 0;
}

int
keysrc_pkey_derive(EVP_PKEY *pkey, EVP_PKEY *peer, unsigned char *out,
		   size_t *outlen)
{
	EVP_PKEY_CTX *pctx;

	if ((pctx = EVP_PKEY_CTX_new(pkey, NULL)) == NULL)
		return GW_ERR_NOMEM;
	if (EVP_PKEY_derive_init(pctx) <= 0 ||
	    EVP_PKEY_derive_set_peer(pctx, peer) <= 0 ||
	    EVP_PKEY_derive(pctx, out, outlen) <= 0)
		return op_failed(pctx, GW_ERR_CRYPTO, "derive the ECDH secret");
	EVP_PKEY_CTX_free(pctx);
	return 0;
}
