/* smime.c - outgoing S/MIME: sign and encrypt whole messages. */
#include "smime.h"

#include <string.h>
#include <strings.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "gw_err.h"
#include "mime_codec.h"
#include "mime_parser.h"
#include "smime_entity.h"

#include <ctype.h>

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
 * Content from this size on is streamed into the output (BER): it saves
 * the copies of OpenSSL's memory BIOs.  Below it the streaming machinery
 * costs more than it saves (measured: bench/, encrypt at 4 KiB).
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

/* A boundary that does not occur in the entity. */
static int
make_boundary(const struct gw_buf *entity, char bnd[64])
{
	unsigned char r[12];
	int i, tries;

	for (tries = 0; tries < 8; tries++) {
		if (RAND_bytes(r, sizeof(r)) != 1)
			return gw_err_set_ssl(GW_ERR_CRYPTO, "RAND_bytes");
		memcpy(bnd, "smimegw-", 8);
		for (i = 0; i < 12; i++)
			snprintf(bnd + 8 + 2 * i, 3, "%02x", r[i]);
		if (memmem(entity->data, entity->len, bnd, strlen(bnd)) == NULL)
			return 0;
	}
	return gw_err_set(GW_ERR_INTERNAL, "no free MIME boundary");
}

/*
 * Parses msg and writes its outer headers and its entity.  Signing needs
 * the whole tree (every part is made 7-bit safe); encryption needs only
 * the header block.
 */
static int
split(const unsigned char *msg, size_t len, unsigned flags,
      struct gw_buf *outer, struct gw_buf *entity)
{
	struct mime_tree *tree = NULL;
	unsigned char *room;
	size_t n = len;
	int rc;

	if (!(flags & SMIME_ENT_SIGN))
		n = smime_header_block_len(msg, len);
	if ((rc = smime_parse(msg, n, &tree)) != 0)
		return rc;
	/* The parser may end a header block elsewhere than at the first
	 * empty line (a delimiter line, say): then its view of the whole
	 * message decides, not the shortcut. */
	if (n < len && mime_part_body_range(mime_tree_root(tree)).start != n) {
		mime_tree_free(tree);
		tree = NULL;
		if ((rc = smime_parse(msg, len, &tree)) != 0)
			return rc;
	}
	if ((rc = gw_buf_reserve(entity, len + 1024, &room)) == 0 &&
	    (rc = smime_outer_headers(msg, mime_tree_root(tree), NULL,
				      outer)) == 0)
		rc = (flags & SMIME_ENT_SIGN)
			 ? smime_entity(msg, mime_tree_root(tree), flags,
					entity)
			 : smime_entity_plain(msg, len, mime_tree_root(tree),
					      entity);
	mime_tree_free(tree);
	return rc;
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
	struct gw_buf outer, entity;
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	BIO *in = NULL;
	const EVP_MD *md = s->md ? s->md : EVP_sha256();
	unsigned flags = CMS_PARTIAL | CMS_BINARY;
	struct gw_buf der;
	char bnd[64];
	int i, rc;

	gw_buf_init(&outer, SMIME_MSG_MAX);
	gw_buf_init(&entity, SMIME_MSG_MAX);
	gw_buf_init(&der, SMIME_MSG_MAX + 65536);
	if (s->pss && !EVP_PKEY_is_a(X509_get0_pubkey(s->cert), "RSA")) {
		rc = gw_err_set_at(GW_ERR_INVALID, "pss",
				   "RSASSA-PSS needs an RSA signing "
				   "certificate");
		goto out;
	}
	if ((rc = split(msg, len, SMIME_ENT_SIGN, &outer, &entity)) != 0)
		goto out;
	/* Opaque content streams into the output, except with PSS: OpenSSL
	 * 3.0's streaming encoder fails on a PSS SignerInfo ("illegal zero
	 * content"), so that combination is finalised in memory. */
	if (s->mode == SMIME_SIGN_DETACHED)
		flags |= CMS_DETACHED;
	else if (!s->pss && entity.len >= SMIME_STREAM_MIN)
		flags |= CMS_STREAM;
	rc = GW_ERR_CRYPTO;
	if ((in = BIO_new_mem_buf(entity.data, (int)entity.len)) == NULL ||
	    (cms = CMS_sign(NULL, NULL, NULL, NULL, flags)) == NULL)
		goto ssl;
	if ((si = CMS_add1_signer(cms, s->cert, s->key, md,
				  CMS_BINARY | (s->pss ? CMS_KEY_PARAM : 0))) ==
	    NULL)
		goto ssl;
	if (s->pss && (rc = set_pss(si, md)) != 0)
		goto out;
	for (i = 0; s->chain != NULL && i < sk_X509_num(s->chain); i++)
		if (!CMS_add1_cert(cms, sk_X509_value(s->chain, i)))
			goto ssl;
	/* Opaque: the content goes into the structure; stream it straight
	 * into our buffer instead of through growing memory BIOs. */
	if ((rc = cms_output(cms, in, flags,
			      s->mode == SMIME_SIGN_DETACHED ? 0 : entity.len,
			      GW_ERR_P11, &der)) != 0)
		goto out;
	if ((rc = gw_buf_add(out, outer.data, outer.len)) != 0)
		goto out;
	if (s->mode == SMIME_SIGN_DETACHED) {
		if ((rc = make_boundary(&entity, bnd)) != 0 ||
		    (rc = gw_buf_addf(out,
				      "MIME-Version: 1.0\r\n"
				      "Content-Type: multipart/signed; "
				      "protocol=\"application/"
				      "pkcs7-signature\";\r\n\tmicalg=%s; "
				      "boundary=\"%s\"\r\n\r\n--%s\r\n",
				      micalg(md), bnd, bnd)) != 0 ||
		    (rc = gw_buf_add(out, entity.data, entity.len)) != 0 ||
		    (rc = gw_buf_addf(out,
				      "\r\n--%s\r\n"
				      "Content-Type: application/"
				      "pkcs7-signature; name=\"smime.p7s\"\r\n"
				      "Content-Transfer-Encoding: base64\r\n"
				      "Content-Disposition: attachment; "
				      "filename=\"smime.p7s\"\r\n"
				      "Content-Description: S/MIME "
				      "Cryptographic Signature\r\n\r\n",
				      bnd)) != 0 ||
		    (rc = add_base64(out, der.data, der.len)) != 0 ||
		    (rc = gw_buf_addf(out, "\r\n--%s--\r\n", bnd)) != 0)
			goto out;
	} else {
		if ((rc = gw_buf_adds(out,
				      "MIME-Version: 1.0\r\n"
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
	goto out;
ssl:
	rc = gw_err_set_ssl(GW_ERR_CRYPTO, "building the signature");
out:
	gw_buf_free(&der);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	gw_buf_free(&outer);
	gw_buf_free_secret(&entity);
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
	else if (EVP_PKEY_is_a(pk, "RSA") && ku != UINT32_MAX &&
		 !(ku & KU_KEY_ENCIPHERMENT))
		rc = gw_err_set(GW_ERR_REQUIREMENT,
				"recipient %s: keyUsage lacks keyEncipherment",
				subj ? subj : "?");
	else if (EVP_PKEY_is_a(pk, "EC") && ku != UINT32_MAX &&
		 !(ku & KU_KEY_AGREEMENT))
		rc = gw_err_set(GW_ERR_REQUIREMENT,
				"recipient %s: keyUsage lacks keyAgreement",
				subj ? subj : "?");
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
	struct gw_buf outer, entity;
	CMS_ContentInfo *cms = NULL;
	const EVP_CIPHER *cipher = r->cipher ? r->cipher : EVP_aes_256_cbc();
	unsigned flags = CMS_PARTIAL | CMS_BINARY;
	struct gw_buf der;
	BIO *in = NULL;
	int i, rc, aead;

	gw_buf_init(&outer, SMIME_MSG_MAX);
	gw_buf_init(&entity, SMIME_MSG_MAX);
	gw_buf_init(&der, SMIME_MSG_MAX + 65536);
	if (r->certs == NULL || sk_X509_num(r->certs) == 0) {
		rc = gw_err_set(GW_ERR_INVALID, "no recipient");
		goto out;
	}
	if ((rc = split(msg, len, 0, &outer, &entity)) != 0)
		goto out;
	aead = (EVP_CIPHER_get_flags(cipher) & EVP_CIPH_FLAG_AEAD_CIPHER) != 0;
	if (entity.len >= SMIME_STREAM_MIN)
		flags |= CMS_STREAM;
	rc = GW_ERR_CRYPTO;
	if ((in = BIO_new_mem_buf(entity.data, (int)entity.len)) == NULL ||
	    (cms = CMS_encrypt(NULL, NULL, cipher, flags)) == NULL)
		goto ssl;
	for (i = 0; i < sk_X509_num(r->certs); i++)
		if ((rc = add_recipient(cms, sk_X509_value(r->certs, i),
					r->oaep)) != 0)
			goto out;
	if ((rc = cms_output(cms, in, flags, entity.len, GW_ERR_CRYPTO,
			      &der)) != 0 ||
	    (rc = gw_buf_add(out, outer.data, outer.len)) != 0 ||
	    (rc = gw_buf_addf(out,
			      "MIME-Version: 1.0\r\n"
			      "Content-Type: application/pkcs7-mime; "
			      "smime-type=%s;\r\n\tname=\"smime.p7m\"\r\n"
			      "Content-Transfer-Encoding: base64\r\n"
			      "Content-Disposition: attachment; "
			      "filename=\"smime.p7m\"\r\n\r\n",
			      aead ? "authEnveloped-data" : "enveloped-data")) !=
		0 ||
	    (rc = add_base64(out, der.data, der.len)) != 0)
		goto out;
	rc = 0;
	goto out;
ssl:
	rc = gw_err_set_ssl(GW_ERR_CRYPTO, "building the envelope");
out:
	gw_buf_free(&der);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	gw_buf_free(&outer);
	gw_buf_free_secret(&entity);
	return rc;
}

/* ---- addresses ---------------------------------------------------- */

/* The addr-spec of a From value, lowercased domain; "" when none. */
void
smime_from_address(const char *v, char *buf, size_t len)
{
	const char *s = v, *e, *lt;
	size_t n;

	buf[0] = '\0';
	if (v == NULL)
		return;
	if ((lt = strrchr(v, '<')) != NULL && (e = strchr(lt, '>')) != NULL)
		s = lt + 1;
	else {
		while (isspace((unsigned char)*s))
			s++;
		e = s + strcspn(s, " \t\r\n,;");
	}
	n = (size_t)(e - s);
	if (n == 0 || n >= len || memchr(s, '@', n) == NULL)
		return;
	memcpy(buf, s, n);
	buf[n] = '\0';
}

