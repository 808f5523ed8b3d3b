/* smime.c - outgoing S/MIME: sign and encrypt whole messages. */
#include "smime.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "cert_check.h"
#include "gw_err.h"
#include "mime_addr.h"
#include "mime_codec.h"
#include "mime_header.h"
#include "mime_parser.h"
#include "smime_entity.h"
#include "smime_envelope.h"
#include "smime_signed.h"


int
smime_parse(const unsigned char *msg, size_t len, struct mime_tree **out)
{
	struct mime_parser *mp;
	int rc;

	*out = NULL;
	if ((mp = mime_parser_new(NULL)) == NULL)
		return GW_ERR_NOMEM;
	if ((rc = mime_parser_feed(mp, msg, len)) == 0)
		rc = mime_parser_finish(mp, out);
	mime_parser_free(mp);
	return rc;
}

/*
 * Content from this size on is streamed into the output: it saves the
 * copies of OpenSSL's memory BIOs (and, for an envelope of our own, a
 * DER copy of the whole).  Below it the streaming machinery costs more
 * than it saves (measured: bench/, encrypt at 4 KiB).
 */
#define SMIME_STREAM_MIN ((size_t)64 << 10)

static const char *
micalg(const EVP_MD *md)
{
	switch (EVP_MD_get_type(md)) {
	case NID_sha384:
		return "sha-384";
	case NID_sha512:
		return "sha-512";
	default:
		return "sha-256";
	}
}

/* Appends DER as base64 in 76-column CRLF lines. */
static int
add_base64(struct gw_buf *out, const unsigned char *der, size_t n)
{
	unsigned char *dst;
	size_t max = mime_base64_encoded_max(n), len;
	int rc;

	if ((rc = gw_buf_reserve(out, max, &dst)) != 0 ||
	    (rc = mime_base64_encode(der, n, dst, max, &len)) != 0)
		return rc;
	out->len += len;
	out->data[out->len] = '\0';
	return 0;
}

/*
 * Finishes cms over the content in and writes its encoding into der.
 * With CMS_STREAM the content is encrypted or copied while it is
 * written (BER, indefinite lengths), straight into der.
 */
static int
cms_output(CMS_ContentInfo *cms, BIO *in, unsigned flags, size_t hint,
	   int err, struct gw_buf *der)
{
	unsigned char *p;
	BIO *sink = NULL;
	int rc = 0, n;

	if ((rc = gw_buf_reserve(der, hint + 16384, &p)) != 0)
		return rc;
	if (flags & CMS_STREAM) {
		if ((sink = gw_buf_bio(der)) == NULL)
			return GW_ERR_NOMEM;
		if (!i2d_CMS_bio_stream(sink, cms, in, (int)flags))
			rc = gw_err_set_ssl(err, "building the CMS structure");
		BIO_free(sink);
		return rc;
	}
	if (!CMS_final(cms, in, NULL, flags))
		return gw_err_set_ssl(err, "building the CMS structure");
	if ((n = i2d_CMS_ContentInfo(cms, NULL)) <= 0 ||
	    (rc = gw_buf_reserve(der, (size_t)n, &p)) != 0)
		return rc ? rc
			  : gw_err_set_ssl(GW_ERR_CRYPTO,
					   "encoding the CMS object");
	if (i2d_CMS_ContentInfo(cms, &p) != n)
		return gw_err_set_ssl(GW_ERR_CRYPTO, "encoding the CMS object");
	der->len += (size_t)n;
	return 0;
}

/* A random boundary (not checked against anything yet). */
static int
new_boundary(char bnd[64])
{
	unsigned char r[12];
	int i;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return gw_err_set_ssl(GW_ERR_CRYPTO, "RAND_bytes");
	memcpy(bnd, "smimegw-", 8);
	for (i = 0; i < 12; i++)
		snprintf(bnd + 8 + 2 * i, 3, "%02x", r[i]);
	return 0;
}

/* A boundary that does not occur in the entity. */
static int
make_boundary(const unsigned char *entity, size_t elen, char bnd[64])
{
	int rc, tries;

	for (tries = 0; tries < 8; tries++) {
		if ((rc = new_boundary(bnd)) != 0)
			return rc;
		if (memmem(entity, elen, bnd, strlen(bnd)) == NULL)
			return 0;
	}
	return gw_err_set(GW_ERR_INTERNAL, "no free MIME boundary");
}

int
smime_parse_header(const unsigned char *msg, size_t len,
		   struct mime_tree **out)
{
	size_t n = mime_header_block_len(msg, len);
	int rc;

	if ((rc = smime_parse(msg, n, out)) != 0)
		return rc;
	/* The parser may end a header block elsewhere than at the first
	 * empty line (a delimiter line, say): then its view of the whole
	 * message decides, not the shortcut. */
	if (n < len && mime_part_body_range(mime_tree_root(*out)).start != n) {
		mime_tree_free(*out);
		*out = NULL;
		return smime_parse(msg, len, out);
	}
	return 0;
}

/*
 * A message's outer header fields and its entity: where a message we
 * made has them, otherwise written into outer and entity from its parse
 * (made here when the caller has none).  Signing needs the whole tree
 * (every part is made 7-bit safe); encryption needs only the header
 * block.
 */
struct split {
	struct gw_buf outer, entity;	/* when written */
	const unsigned char *op, *ep;	/* the outer fields, the entity */
	size_t on, en;
};

static int
split(const struct smime_msg *m, unsigned flags, struct split *sp)
{
	struct mime_tree *tree = NULL;
	const struct mime_tree *t = m->tree;
	unsigned char *room;
	int rc;

	if (m->layout != NULL) {
		/* Ours: nothing to parse, nothing to copy. */
		sp->op = m->data;
		sp->on = m->layout->outer_len;
		sp->ep = m->data + m->layout->entity_start;
		sp->en = m->len - m->layout->entity_start;
		return 0;
	}
	if (t == NULL) {
		rc = (flags & SMIME_ENT_SIGN)
			 ? smime_parse(m->data, m->len, &tree)
			 : smime_parse_header(m->data, m->len, &tree);
		if (rc != 0)
			return rc;
		t = tree;
	}
	if ((rc = gw_buf_reserve(&sp->entity, m->len + 1024, &room)) == 0 &&
	    (rc = smime_outer_headers(m->data, mime_tree_root(t), NULL,
				      &sp->outer)) == 0)
		rc = (flags & SMIME_ENT_SIGN)
			 ? smime_entity(m->data, mime_tree_root(t), flags,
					&sp->entity)
			 : smime_entity_plain(m->data, m->len,
					      mime_tree_root(t), &sp->entity);
	mime_tree_free(tree);
	sp->op = sp->outer.data;
	sp->on = sp->outer.len;
	sp->ep = sp->entity.data;
	sp->en = sp->entity.len;
	return rc;
}

static void
split_init(struct split *sp)
{
	memset(sp, 0, sizeof(*sp));
	gw_buf_init(&sp->outer, SMIME_OUT_MAX);
	gw_buf_init(&sp->entity, SMIME_OUT_MAX);
}

static void
split_free(struct split *sp)
{
	gw_buf_free(&sp->outer);
	gw_buf_free_secret(&sp->entity);
}

/* The outer fields and our MIME-Version, recording where they end. */
static int
add_outer(struct gw_buf *out, const struct split *sp, size_t start,
	  struct smime_layout *made)
{
	static const char mv[] = "MIME-Version: 1.0\r\n";
	int rc;

	if ((rc = gw_buf_add(out, sp->op, sp->on)) != 0 ||
	    (rc = gw_buf_add(out, mv, sizeof(mv) - 1)) != 0)
		return rc;
	made->outer_len = out->len - start - (sizeof(mv) - 1);
	made->entity_start = out->len - start;
	return 0;
}

static int
set_pss(CMS_SignerInfo *si, const EVP_MD *md)
{
	EVP_PKEY_CTX *pctx = CMS_SignerInfo_get0_pkey_ctx(si);

	if (pctx == NULL ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <=
		0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) <= 0)
		return gw_err_set_ssl(GW_ERR_CRYPTO, "setting up RSASSA-PSS");
	return 0;
}

int
smime_sign(const unsigned char *msg, size_t len, const struct smime_signer *s,
	   struct gw_buf *out)
{
	struct smime_msg m = {msg, len, NULL, NULL};

	return smime_sign_msg(&m, s, out, NULL);
}

/* Whether the chain's certificate i is the signer's, or one of the
 * chain's before it: OpenSSL 3.0's CMS_add1_cert() refuses those. */
static int
chain_repeats(const struct smime_signer *s, int i)
{
	X509 *x = sk_X509_value(s->chain, i);
	int j;

	if (X509_cmp(x, s->cert) == 0)
		return 1;
	for (j = 0; j < i; j++)
		if (X509_cmp(x, sk_X509_value(s->chain, j)) == 0)
			return 1;
	return 0;
}

/*
 * The signature of content [ep, ep + en) in der (CMS, DER or BER).  A
 * detached PKCS#1 v1.5 signature kept in memory is written by
 * smime_signed.c (the same DER, without OpenSSL's CMS structures).
 */
static int
sign_der(const struct smime_signer *s, const EVP_MD *md, unsigned flags,
	 const unsigned char *ep, size_t en, struct gw_buf *der)
{
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	BIO *in = NULL;
	const unsigned char *caps;
	size_t ncaps;
	int i, rc = GW_ERR_CRYPTO;

	if ((flags & (CMS_DETACHED | CMS_STREAM)) == CMS_DETACHED &&
	    smime_signed_fits(s, md))
		return smime_signed_der(s, md, ep, en, time(NULL), der);
	if ((in = BIO_new_mem_buf(ep, (int)en)) == NULL ||
	    (cms = CMS_sign(NULL, NULL, NULL, NULL, flags)) == NULL)
		goto ssl;
	if ((si = CMS_add1_signer(cms, s->cert, s->key, md,
				  CMS_BINARY | CMS_NOSMIMECAP |
				      (s->pss ? CMS_KEY_PARAM : 0))) == NULL)
		goto ssl;
	/* Our capabilities, not OpenSSL's standard list (smime_signed.c) */
	caps = smime_signed_caps(&ncaps);
	if (!CMS_signed_add1_attr_by_NID(si, NID_SMIMECapabilities,
					 V_ASN1_SEQUENCE, caps, (int)ncaps))
		goto ssl;
	if (s->pss && (rc = set_pss(si, md)) != 0)
		goto out;
	for (i = 0; s->chain != NULL && i < sk_X509_num(s->chain); i++)
		if (!chain_repeats(s, i) &&
		    !CMS_add1_cert(cms, sk_X509_value(s->chain, i)))
			goto ssl;
	/* Opaque: the content goes into the structure; stream it straight
	 * into our buffer instead of through growing memory BIOs. */
	rc = cms_output(cms, in, flags,
			s->mode == SMIME_SIGN_DETACHED ? 0 : en, GW_ERR_P11,
			der);
	goto out;
ssl:
	rc = gw_err_set_ssl(GW_ERR_CRYPTO, "building the signature");
out:
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	return rc;
}

/* The multipart/signed up to its first part's content. */
static int
signed_head(struct gw_buf *out, const EVP_MD *md, const char *bnd)
{
	return gw_buf_addf(out,
			   "Content-Type: multipart/signed; "
			   "protocol=\"application/"
			   "pkcs7-signature\";\r\n\tmicalg=%s; "
			   "boundary=\"%s\"\r\n\r\n--%s\r\n",
			   micalg(md), bnd, bnd);
}

/* After the first part: the signature part and the close delimiter. */
static int
signed_tail(struct gw_buf *out, const char *bnd, const struct gw_buf *der)
{
	int rc;

	if ((rc = gw_buf_addf(out,
			      "\r\n--%s\r\n"
			      "Content-Type: application/"
			      "pkcs7-signature; name=\"smime.p7s\"\r\n"
			      "Content-Transfer-Encoding: base64\r\n"
			      "Content-Disposition: attachment; "
			      "filename=\"smime.p7s\"\r\n"
			      "Content-Description: S/MIME "
			      "Cryptographic Signature\r\n\r\n",
			      bnd)) != 0 ||
	    (rc = add_base64(out, der->data, der->len)) != 0)
		return rc;
	return gw_buf_addf(out, "\r\n--%s--\r\n", bnd);
}

/*
 * A detached signature on a message that is not ours: its entity is
 * written straight into out, as the first part of the multipart/signed,
 * and signed where it lies, instead of being made in a buffer of its
 * own, copied into out and wiped.  The boundary is drawn first and
 * checked against the entity once it is written; should it occur there,
 * another (of the same length) is written over it in the part's
 * header.  On failure out is wiped back to where it was.
 */
static int
sign_detached_direct(const struct smime_msg *m, const struct smime_signer *s,
		     const EVP_MD *md, struct gw_buf *out,
		     struct smime_layout *made)
{
	struct mime_tree *tree = NULL;
	const struct mime_tree *t = m->tree;
	struct split sp;
	struct gw_buf der, head;
	unsigned char *room;
	size_t start = out->len, hs, es, ee;
	char bnd[64];
	int rc, tries;

	split_init(&sp);
	gw_buf_init(&der, SMIME_OUT_MAX + 65536);
	gw_buf_init(&head, 1024);
	if (t == NULL) {
		if ((rc = smime_parse(m->data, m->len, &tree)) != 0)
			goto out;
		t = tree;
	}
	/* Room for the entity and the signature part: no copies while
	 * out grows. */
	if ((rc = gw_buf_reserve(out, m->len + 32768, &room)) != 0 ||
	    (rc = smime_outer_headers(m->data, mime_tree_root(t), NULL,
				      &sp.outer)) != 0)
		goto out;
	sp.op = sp.outer.data;
	sp.on = sp.outer.len;
	if ((rc = add_outer(out, &sp, start, made)) != 0 ||
	    (rc = new_boundary(bnd)) != 0)
		goto out;
	hs = out->len;
	if ((rc = signed_head(out, md, bnd)) != 0)
		goto out;
	es = out->len;
	if ((rc = smime_entity(m->data, mime_tree_root(t), SMIME_ENT_SIGN,
			       out)) != 0)
		goto out;
	ee = out->len;
	for (tries = 0; memmem(out->data + es, ee - es, bnd, strlen(bnd)) !=
			NULL;
	     tries++) {
		gw_buf_reset(&head);
		if (tries == 7) {
			rc = gw_err_set(GW_ERR_INTERNAL,
					"no free MIME boundary");
			goto out;
		}
		if ((rc = new_boundary(bnd)) != 0 ||
		    (rc = signed_head(&head, md, bnd)) != 0)
			goto out;
		if (head.len != es - hs) {
			rc = gw_err_set(GW_ERR_INTERNAL,
					"boundary of another length");
			goto out;
		}
		memcpy(out->data + hs, head.data, head.len);
	}
	if ((rc = sign_der(s, md, CMS_PARTIAL | CMS_BINARY | CMS_DETACHED,
			   out->data + es, ee - es, &der)) != 0 ||
	    (rc = signed_tail(out, bnd, &der)) != 0)
		goto out;
out:
	if (rc != 0 && out->len > start) {
		OPENSSL_cleanse(out->data + start, out->len - start);
		out->len = start;
		out->data[start] = '\0';
	}
	mime_tree_free(tree);
	gw_buf_free(&head);
	gw_buf_free(&der);
	split_free(&sp);
	return rc;
}

int
smime_sign_msg(const struct smime_msg *m, const struct smime_signer *s,
	       struct gw_buf *out, struct smime_layout *made)
{
	struct smime_layout lay;
	struct split sp;
	const EVP_MD *md = s->md ? s->md : EVP_sha256();
	unsigned flags = CMS_PARTIAL | CMS_BINARY;
	struct gw_buf der;
	size_t start = out->len;
	char bnd[64];
	int rc;

	if (s->pss && !EVP_PKEY_is_a(X509_get0_pubkey(s->cert), "RSA"))
		return gw_err_set_at(GW_ERR_INVALID, "pss",
				     "RSASSA-PSS needs an RSA signing "
				     "certificate");
	if (s->mode == SMIME_SIGN_DETACHED && m->layout == NULL)
		return sign_detached_direct(m, s, md, out, made ? made : &lay);
	split_init(&sp);
	gw_buf_init(&der, SMIME_OUT_MAX + 65536);
	if ((rc = split(m, SMIME_ENT_SIGN, &sp)) != 0)
		goto out;
	/* Opaque content streams into the output, except with PSS: OpenSSL
	 * 3.0's streaming encoder fails on a PSS SignerInfo ("illegal zero
	 * content"), so that combination is finalised in memory. */
	if (s->mode == SMIME_SIGN_DETACHED)
		flags |= CMS_DETACHED;
	else if (!s->pss && sp.en >= SMIME_STREAM_MIN)
		flags |= CMS_STREAM;
	if ((rc = sign_der(s, md, flags, sp.ep, sp.en, &der)) != 0)
		goto out;
	if ((rc = add_outer(out, &sp, start, made ? made : &lay)) != 0)
		goto out;
	if (s->mode == SMIME_SIGN_DETACHED) {
		if ((rc = make_boundary(sp.ep, sp.en, bnd)) != 0 ||
		    (rc = signed_head(out, md, bnd)) != 0 ||
		    (rc = gw_buf_add(out, sp.ep, sp.en)) != 0 ||
		    (rc = signed_tail(out, bnd, &der)) != 0)
			goto out;
	} else {
		if ((rc = gw_buf_adds(out,
				      "Content-Type: application/pkcs7-mime; "
				      "smime-type=signed-data;\r\n"
				      "\tname=\"smime.p7m\"\r\n"
				      "Content-Transfer-Encoding: base64\r\n"
				      "Content-Disposition: attachment; "
				      "filename=\"smime.p7m\"\r\n\r\n")) != 0 ||
		    (rc = add_base64(out, der.data, der.len)) != 0)
			goto out;
	}
	rc = 0;
out:
	gw_buf_free(&der);
	split_free(&sp);
	return rc;
}

int
smime_check_recipient(X509 *cert, time_t now)
{
	EVP_PKEY *pk = X509_get0_pubkey(cert);
	uint32_t ku = X509_get_key_usage(cert);
	char *subj;
	int rc = 0;

	subj = X509_NAME_oneline(X509_get_subject_name(cert), NULL, 0);
	if (pk == NULL || (!EVP_PKEY_is_a(pk, "RSA") && !EVP_PKEY_is_a(pk, "EC")))
		rc = gw_err_set(GW_ERR_REQUIREMENT,
				"recipient %s: only RSA and EC keys can be "
				"encrypted to",
				subj ? subj : "?");
	else if (!cert_key_usage_allows(cert, CERT_USAGE_ENCRYPT,
					cert_rules_others()))
		rc = gw_err_set(GW_ERR_REQUIREMENT,
				"recipient %s: %s %s",
				subj ? subj : "?",
				ku == UINT32_MAX
				    ? "no keyUsage extension, which "
				      "cert_requirements = strict requires for"
				    : "keyUsage lacks",
				EVP_PKEY_is_a(pk, "EC") ? "keyAgreement"
							: "keyEncipherment");
	else if (X509_cmp_time(X509_get0_notAfter(cert), &now) < 0)
		rc = gw_err_set(GW_ERR_EXPIRED,
				"recipient %s: the certificate has expired",
				subj ? subj : "?");
	else if (X509_cmp_time(X509_get0_notBefore(cert), &now) > 0)
		rc = gw_err_set(GW_ERR_EXPIRED,
				"recipient %s: the certificate is not valid "
				"yet",
				subj ? subj : "?");
	OPENSSL_free(subj);
	return rc;
}

static int
add_recipient(CMS_ContentInfo *cms, X509 *x, int oaep)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	int ec = EVP_PKEY_is_a(pk, "EC"), rsa_oaep = oaep && !ec;
	CMS_RecipientInfo *ri;
	EVP_PKEY_CTX *pctx;

	ri = CMS_add1_recipient_cert(cms, x,
				     (ec || rsa_oaep) ? CMS_KEY_PARAM : 0);
	if (ri == NULL)
		return gw_err_set_ssl(GW_ERR_CRYPTO, "adding a recipient");
	if (!ec && !rsa_oaep)
		return 0;
	if ((pctx = CMS_RecipientInfo_get0_pkey_ctx(ri)) == NULL)
		return gw_err_set_ssl(GW_ERR_CRYPTO, "recipient key context");
	if (ec) {
		/* OpenSSL's default KDF is SHA-1; RFC 8418 wants SHA-256+. */
		if (EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, EVP_sha256()) <= 0)
			return gw_err_set_ssl(GW_ERR_CRYPTO, "ECDH KDF");
		return 0;
	}
	if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0)
		return gw_err_set_ssl(GW_ERR_CRYPTO, "setting up RSA-OAEP");
	return 0;
}

int
smime_encrypt(const unsigned char *msg, size_t len,
	      const struct smime_recipients *r, struct gw_buf *out)
{
	struct smime_msg m = {msg, len, NULL, NULL};

	return smime_encrypt_msg(&m, r, out, NULL);
}

/* ---- streaming the envelope ---------------------------------------- */

/*
 * Two BIOs for an envelope written as it is made: a source that reads
 * the entity as its head and its body, each where it lies (so that the
 * entity is never copied), and a sink that writes the CMS encoding as
 * base64 lines into the output as it comes (so that it is never held
 * whole).  The sink encodes whole lines (57 bytes each) and keeps the
 * rest, under 57 bytes, for the next write or the flush; since every
 * line of mime_base64_encode() ends in CRLF, the lines are the same as
 * encoding the whole at once.
 */
struct pieces {
	const unsigned char *p[2];
	size_t n[2];
};

#define B64_LINE_IN 57

struct b64sink {
	struct gw_buf *out;
	unsigned char carry[B64_LINE_IN];
	size_t nc;
	int rc;		/* the first failure */
};

static BIO_METHOD *pieces_method, *b64sink_method;
static pthread_once_t stream_once = PTHREAD_ONCE_INIT;

static int
pieces_read(BIO *bio, char *buf, int size)
{
	struct pieces *pc = BIO_get_data(bio);
	size_t n = 0, k;
	int i;

	for (i = 0; i < 2 && size > 0 && n < (size_t)size; i++) {
		k = pc->n[i] < (size_t)size - n ? pc->n[i] : (size_t)size - n;
		if (k == 0)
			continue;
		memcpy(buf + n, pc->p[i], k);
		pc->p[i] += k;
		pc->n[i] -= k;
		n += k;
	}
	return (int)n;
}

static long
pieces_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	struct pieces *pc = BIO_get_data(bio);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_EOF:
		return pc->n[0] == 0 && pc->n[1] == 0;
	case BIO_CTRL_PENDING:
		return (long)(pc->n[0] + pc->n[1]);
	case BIO_CTRL_FLUSH:
		return 1;
	default:
		return 0;
	}
}

/* Encodes n bytes (a multiple of B64_LINE_IN, or the last ones). */
static int
b64sink_put(struct b64sink *k, const unsigned char *p, size_t n)
{
	unsigned char *dst;
	size_t max = mime_base64_encoded_max(n), len;
	int rc;

	if ((rc = gw_buf_reserve(k->out, max, &dst)) != 0 ||
	    (rc = mime_base64_encode(p, n, dst, max, &len)) != 0)
		return rc;
	k->out->len += len;
	k->out->data[k->out->len] = '\0';
	return 0;
}

/* The next n bytes of the encoding: whole lines now, the rest kept. */
static int
b64sink_add(void *arg, const unsigned char *p, size_t left)
{
	struct b64sink *k = arg;
	size_t take, whole;

	if (k->rc != 0)
		return k->rc;
	if (k->nc > 0) {
		take = B64_LINE_IN - k->nc < left ? B64_LINE_IN - k->nc : left;
		memcpy(k->carry + k->nc, p, take);
		k->nc += take;
		p += take;
		left -= take;
		if (k->nc < B64_LINE_IN)
			return 0;
		if ((k->rc = b64sink_put(k, k->carry, B64_LINE_IN)) != 0)
			return k->rc;
		k->nc = 0;
	}
	whole = left - left % B64_LINE_IN;
	if (whole > 0 && (k->rc = b64sink_put(k, p, whole)) != 0)
		return k->rc;
	memcpy(k->carry, p + whole, left - whole);
	k->nc = left - whole;
	return 0;
}

static int
b64sink_write(BIO *bio, const char *data, int n)
{
	if (n < 0 ||
	    b64sink_add(BIO_get_data(bio), (const unsigned char *)data,
			(size_t)n) != 0)
		return -1;
	return n;
}

/* The last bytes, once the encoding is complete. */
static int
b64sink_end(struct b64sink *k)
{
	if (k->rc == 0 && k->nc > 0 &&
	    (k->rc = b64sink_put(k, k->carry, k->nc)) == 0)
		k->nc = 0;
	return k->rc;
}

static long
b64sink_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	struct b64sink *k = BIO_get_data(bio);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		/* OpenSSL flushes before its last writes (the end-of-
		 * contents octets): the rest waits for b64sink_end(). */
		return k->rc == 0;
	case BIO_CTRL_PENDING:
	case BIO_CTRL_WPENDING:
		return 0;
	default:
		return 0;
	}
}

static void
stream_init_methods(void)
{
	BIO_METHOD *m;

	if ((m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
			      "smimegw pieces")) != NULL) {
		BIO_meth_set_read(m, pieces_read);
		BIO_meth_set_ctrl(m, pieces_ctrl);
		pieces_method = m;
	}
	if ((m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
			      "smimegw base64 sink")) != NULL) {
		BIO_meth_set_write(m, b64sink_write);
		BIO_meth_set_ctrl(m, b64sink_ctrl);
		b64sink_method = m;
	}
}

/* A BIO over data (borrowed: it must outlive the BIO); NULL on OOM. */
static BIO *
stream_bio(BIO_METHOD **method, void *data)
{
	BIO *bio;

	pthread_once(&stream_once, stream_init_methods);
	if (*method == NULL || (bio = BIO_new(*method)) == NULL)
		return NULL;
	BIO_set_data(bio, data);
	BIO_set_init(bio, 1);
	return bio;
}

/*
 * The entity for encryption as two pieces where they lie, when it can
 * be read so: a message of ours (its entity, in place), or one whose
 * body has CRLF line ends already (its head, made in head, then its
 * body in place).  0 with pc->n[] both 0 when it cannot (bare LF: the
 * entity is then made whole, as split() does).
 */
static int
entity_pieces(const struct smime_msg *m, struct gw_buf *outer,
	      struct gw_buf *head, struct pieces *pc, struct split *sp)
{
	struct mime_tree *tree = NULL;
	const struct mime_tree *t = m->tree;
	size_t body;
	int rc;

	memset(pc, 0, sizeof(*pc));
	if (m->layout != NULL) {
		if ((rc = split(m, 0, sp)) != 0)
			return rc;
		pc->p[0] = sp->ep;
		pc->n[0] = sp->en;
		return 0;
	}
	if (t == NULL) {
		if ((rc = smime_parse_header(m->data, m->len, &tree)) != 0)
			return rc;
		t = tree;
	}
	body = mime_part_body_range(mime_tree_root(t)).start;
	if (body > m->len)
		body = m->len;
	if (!mime_header_crlf_canonical(m->data + body, m->len - body)) {
		mime_tree_free(tree);
		return 0;
	}
	if ((rc = smime_outer_headers(m->data, mime_tree_root(t), NULL,
				      outer)) == 0 &&
	    (rc = smime_entity_head(m->data, mime_tree_root(t), head)) == 0) {
		sp->op = outer->data;
		sp->on = outer->len;
		pc->p[0] = head->data;
		pc->n[0] = head->len;
		pc->p[1] = m->data + body;
		pc->n[1] = m->len - body;
	}
	mime_tree_free(tree);
	return rc;
}

int
smime_encrypt_msg(const struct smime_msg *m, const struct smime_recipients *r,
		  struct gw_buf *out, struct smime_layout *made)
{
	struct smime_layout lay;
	struct split sp;
	struct pieces pc;
	struct b64sink sink;
	CMS_ContentInfo *cms = NULL;
	const EVP_CIPHER *cipher = r->cipher ? r->cipher : EVP_aes_256_cbc();
	unsigned flags = CMS_PARTIAL | CMS_BINARY;
	struct gw_buf der, head;
	BIO *in = NULL, *b64 = NULL;
	size_t start = out->len, en;
	unsigned char *room;
	int i, rc, aead, ours;

	split_init(&sp);
	gw_buf_init(&der, SMIME_OUT_MAX + 65536);
	gw_buf_init(&head, SMIME_OUT_MAX);
	if (r->certs == NULL || sk_X509_num(r->certs) == 0) {
		rc = gw_err_set(GW_ERR_INVALID, "no recipient");
		goto out;
	}
	if ((rc = entity_pieces(m, &sp.outer, &head, &pc, &sp)) != 0)
		goto out;
	if (pc.n[0] + pc.n[1] == 0) {
		/* Made whole (or empty): as it was. */
		if ((rc = split(m, 0, &sp)) != 0)
			goto out;
		pc.p[0] = sp.ep;
		pc.n[0] = sp.en;
	}
	en = pc.n[0] + pc.n[1];
	aead = (EVP_CIPHER_get_flags(cipher) & EVP_CIPH_FLAG_AEAD_CIPHER) != 0;
	ours = smime_envelope_fits(r);
	if (en >= SMIME_STREAM_MIN)
		flags |= CMS_STREAM;
	if (ours && !(flags & CMS_STREAM)) {
		/* RSA and AES-CBC: written directly, without OpenSSL's
		 * CMS structure and its two encoding passes. */
		if ((rc = smime_envelope_der(r, pc.p, pc.n, 2, &der)) != 0)
			goto out;
	} else if (!ours) {
		rc = GW_ERR_CRYPTO;
		if ((in = stream_bio(&pieces_method, &pc)) == NULL ||
		    (cms = CMS_encrypt(NULL, NULL, cipher, flags)) == NULL)
			goto ssl;
		for (i = 0; i < sk_X509_num(r->certs); i++)
			if ((rc = add_recipient(cms,
						sk_X509_value(r->certs, i),
						r->oaep)) != 0)
				goto out;
		if (!(flags & CMS_STREAM) &&
		    (rc = cms_output(cms, in, flags, en, GW_ERR_CRYPTO,
				     &der)) != 0)
			goto out;
	}
	/* Streamed, the envelope goes straight into out as base64: room
	 * for all of it first (4/3 and the line ends, and the CMS around). */
	if ((flags & CMS_STREAM) &&
	    (rc = gw_buf_reserve(out, mime_base64_encoded_max(en + 65536) +
					  sp.on + 1024,
				 &room)) != 0)
		goto out;
	if ((rc = add_outer(out, &sp, start, made ? made : &lay)) != 0 ||
	    (rc = gw_buf_adds(out, "Content-Type: application/pkcs7-mime; "
				   "smime-type=")) != 0 ||
	    (rc = gw_buf_adds(out, aead ? "authEnveloped-data"
					: "enveloped-data")) != 0 ||
	    (rc = gw_buf_adds(out, ";\r\n\tname=\"smime.p7m\"\r\n"
				   "Content-Transfer-Encoding: base64\r\n"
				   "Content-Disposition: attachment; "
				   "filename=\"smime.p7m\"\r\n\r\n")) != 0)
		goto out;
	if (!(flags & CMS_STREAM)) {
		rc = add_base64(out, der.data, der.len);
		goto out;
	}
	memset(&sink, 0, sizeof(sink));
	sink.out = out;
	if (ours) {
		/* Definite lengths (DER), encrypted and encoded 64 KiB at
		 * a time. */
		if ((rc = smime_envelope_stream(r, pc.p, pc.n, 2, b64sink_add,
						&sink)) == 0)
			rc = b64sink_end(&sink);
		goto out;
	}
	if ((b64 = stream_bio(&b64sink_method, &sink)) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	if (!i2d_CMS_bio_stream(b64, cms, in, (int)flags) || sink.rc != 0) {
		rc = sink.rc != 0 ? sink.rc
				  : gw_err_set_ssl(GW_ERR_CRYPTO,
						   "building the CMS structure");
		goto out;
	}
	rc = b64sink_end(&sink);
	goto out;
ssl:
	rc = gw_err_set_ssl(GW_ERR_CRYPTO, "building the envelope");
out:
	if (rc != 0 && out->len > start) {
		out->len = start;
		out->data[start] = '\0';
	}
	BIO_free(b64);
	gw_buf_free_secret(&head);
	gw_buf_free(&der);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	split_free(&sp);
	return rc;
}
