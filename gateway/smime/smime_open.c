/* smime_open.c - incoming S/MIME: layers, decryption, verification. */
#include "smime_open.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "gw_err.h"
#include "mime_codec.h"
#include "mime_header.h"
#include "mime_parser.h"
#include "smime.h"
#include "smime_entity.h"
#include "smime_from.h"

#define MAX_LAYERS 8

enum kind {
	K_NONE,
	K_ENVELOPED,	/* enveloped-data or authEnveloped-data */
	K_SIGNED_OPAQUE,
	K_SIGNED_DETACHED,
	K_CERTS_ONLY,
	K_PKCS7,	/* application/pkcs7-mime without a usable smime-type */
	K_UNSUPPORTED,	/* pkcs7-mime holding another CMS content type */
};

void
smime_open_result_free(struct smime_open_result *res)
{
	sk_X509_pop_free(res->signer_certs, X509_free);
	res->signer_certs = NULL;
	sk_X509_pop_free(res->unverified_certs, X509_free);
	res->unverified_certs = NULL;
}

static int
is_pkcs7_mime(const char *ct)
{
	return strcmp(ct, "application/pkcs7-mime") == 0 ||
	       strcmp(ct, "application/x-pkcs7-mime") == 0;
}

static int
is_pkcs7_sig(const char *ct)
{
	return ct != NULL && (strcasecmp(ct, "application/pkcs7-signature") == 0 ||
			      strcasecmp(ct, "application/x-pkcs7-signature") ==
				  0);
}

static enum kind
classify(const struct mime_part *p)
{
	const char *ct = mime_part_content_type(p), *st, *fn;

	if (is_pkcs7_mime(ct) ||
	    (strcmp(ct, "application/octet-stream") == 0 &&
	     (fn = mime_part_filename(p)) != NULL && strlen(fn) > 4 &&
	     strcasecmp(fn + strlen(fn) - 4, ".p7m") == 0)) {
		if ((st = mime_part_param(p, "smime-type")) == NULL)
			return K_PKCS7;
		if (strcasecmp(st, "enveloped-data") == 0 ||
		    strcasecmp(st, "authEnveloped-data") == 0)
			return K_ENVELOPED;
		if (strcasecmp(st, "signed-data") == 0)
			return K_SIGNED_OPAQUE;
		if (strcasecmp(st, "certs-only") == 0)
			return K_CERTS_ONLY;
		return K_PKCS7;
	}
	if (strcmp(ct, "multipart/signed") == 0 &&
	    mime_part_child_count(p) == 2 &&
	    (is_pkcs7_sig(mime_part_param(p, "protocol")) ||
	     is_pkcs7_sig(mime_part_content_type(mime_part_child(p, 1)))))
		return K_SIGNED_DETACHED;
	return K_NONE;
}

/* ---- result bookkeeping --------------------------------------------- */

static void
add_layer(struct smime_open_result *res, const char *name)
{
	size_t n = strlen(res->layers);

	snprintf(res->layers + n, sizeof(res->layers) - n, "%s%s",
		 n ? "," : "", name);
}

/* Latches the first failure: its reason and AR result. */
static void
fail(struct smime_open_result *res, const char *ar, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(struct smime_open_result *res, const char *ar, const char *fmt, ...)
{
	va_list ap;

	if (res->status == SMIME_FAILED)
		return;
	res->status = SMIME_FAILED;
	res->ar = ar;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
}

/* The innermost OpenSSL reason, with its data string when there is one. */
static void
ssl_reason(char *buf, size_t len, int *lib_reason)
{
	unsigned long e, last = 0;
	const char *data = NULL, *d;
	int flags;

	buf[0] = '\0';
	while ((e = ERR_get_error_all(NULL, NULL, NULL, &d, &flags)) != 0) {
		last = e;
		if ((flags & ERR_TXT_STRING) && d != NULL && *d != '\0')
			data = d, snprintf(buf, len, "%s", d);
		if (lib_reason != NULL && ERR_GET_LIB(e) == ERR_LIB_CMS &&
		    *lib_reason == 0)
			*lib_reason = ERR_GET_REASON(e);
	}
	if (data == NULL && last != 0)
		snprintf(buf, len, "%s",
			 ERR_reason_error_string(last)
			     ? ERR_reason_error_string(last)
			     : "unknown error");
}

/* ---- CMS from a MIME part ------------------------------------------- */

static int
part_cms(const unsigned char *msg, const struct mime_part *p,
	 CMS_ContentInfo **out, struct smime_open_result *res)
{
	struct mime_range r = mime_part_body_range(p);
	const char *cte = mime_part_cte(p);
	struct gw_buf der;
	const unsigned char *q;
	unsigned char *dst;
	size_t n = r.end - r.start, dlen = 0;
	int rc;

	*out = NULL;
	gw_buf_init(&der, SMIME_MSG_MAX);
	if (strcmp(cte, "binary") == 0 || strcmp(cte, "8bit") == 0) {
		q = msg + r.start;
		dlen = n;
	} else {
		if ((rc = gw_buf_reserve(&der, mime_base64_decoded_max(n),
					 &dst)) != 0)
			goto out;
		if ((rc = mime_base64_decode(msg + r.start, n, dst,
					     mime_base64_decoded_max(n), &dlen,
					     NULL)) != 0)
			goto out;
		q = dst;
	}
	if ((*out = d2i_CMS_ContentInfo(NULL, &q, (long)dlen)) == NULL) {
		ERR_clear_error();
		fail(res, "permerror",
		     "the S/MIME part is not a valid CMS object");
		rc = GW_ERR_PARSE;
		goto out;
	}
	rc = 0;
out:
	gw_buf_free(&der);
	return rc;
}

/* ---- signer checks -------------------------------------------------- */

/* The certificates of the signers of a SignedData that failed to
 * verify, as far as the message or o->extra holds them. */
static int
keep_unverified(CMS_ContentInfo *cms, const struct smime_open_opts *o,
		struct smime_open_result *res)
{
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	X509 *x;
	int i;

	CMS_set1_signers_certs(cms, o->extra, 0);
	ERR_clear_error(); /* a signer without its certificate is no error */
	for (i = 0; i < sk_CMS_SignerInfo_num(sis); i++) {
		x = NULL;
		CMS_SignerInfo_get0_algs(sk_CMS_SignerInfo_value(sis, i), NULL,
					 &x, NULL, NULL);
		if (x == NULL)
			continue;
		if (res->unverified_certs == NULL &&
		    (res->unverified_certs = sk_X509_new_null()) == NULL)
			return GW_ERR_NOMEM;
		if (!X509_up_ref(x))
			return GW_ERR_NOMEM;
		if (!sk_X509_push(res->unverified_certs, x)) {
			X509_free(x);
			return GW_ERR_NOMEM;
		}
	}
	return 0;
}

/* Verifies a SignedData.  dcont: the detached content, or NULL (then the
 * encapsulated content is written to content).  from: the part whose
 * From fields every signer must cover. */
static int
verify_layer(CMS_ContentInfo *cms, BIO *dcont, const struct mime_part *from,
	     const struct smime_open_opts *o, struct gw_buf *content,
	     struct smime_open_result *res)
{
	STACK_OF(X509) *signers = NULL;
	BIO *out = NULL;
	char why[512], id[256];
	int cms_reason = 0, i, ok, rc = 0;

	ERR_clear_error();
	if (dcont == NULL && (out = gw_buf_bio(content)) == NULL)
		return GW_ERR_NOMEM;
	ok = CMS_verify(cms, o->extra, o->trust, dcont, out, CMS_BINARY);
	if (!ok) {
		ssl_reason(why, sizeof(why), &cms_reason);
		if ((rc = keep_unverified(cms, o, res)) != 0)
			goto out;
		switch (cms_reason) {
		case CMS_R_CERTIFICATE_VERIFY_ERROR:
			fail(res, "fail", "signer certificate not trusted (%s)",
			     why);
			break;
		case CMS_R_VERIFICATION_FAILURE:
			fail(res, "fail",
			     "signature does not match the content (altered "
			     "in transit?)");
			break;
		case CMS_R_CONTENT_VERIFY_ERROR:
			/* Raised first when the check itself could not run
			 * (e.g. an algorithm OpenSSL cannot verify); a real
			 * mismatch raises VERIFICATION_FAILURE first. */
			fail(res, "fail", "the signature could not be checked "
					  "(%s)",
			     why);
			break;
		case CMS_R_SIGNER_CERTIFICATE_NOT_FOUND:
			fail(res, "fail",
			     "the signer's certificate is neither in the "
			     "message nor known");
			break;
		case CMS_R_NO_CONTENT:
			fail(res, "permerror", "signed data without content");
			break;
		default:
			fail(res, "fail", "signature verification failed (%s)",
			     why);
			break;
		}
		goto out;
	}
	signers = CMS_get0_signers(cms);
	for (i = 0; i < sk_X509_num(signers); i++) {
		X509 *x = sk_X509_value(signers, i);

		if (res->signer_certs == NULL &&
		    (res->signer_certs = sk_X509_new_null()) == NULL) {
			rc = GW_ERR_NOMEM;
			goto out;
		}
		if (X509_up_ref(x) && !sk_X509_push(res->signer_certs, x))
			X509_free(x);
		if (!smime_from_covered(x, from, id, sizeof(id), why,
					sizeof(why))) {
			fail(res, "fail", "%s", why);
			goto out;
		}
		snprintf(res->signer, sizeof(res->signer), "%s", id);
	}
	res->signatures++;
out:
	sk_X509_free(signers);
	BIO_free(out);
	return rc;
}

/*
 * A detached signature covers the canonical (CRLF) form of the signed
 * part.  It is checked over exactly the bytes received; only when that
 * fails and the part has bare LF line ends (a store or MTA converted
 * them) is it checked again over the CRLF form the signer signed.
 */
static int
verify_detached(CMS_ContentInfo *cms, const unsigned char *p, size_t n,
		const struct mime_part *from, const struct smime_open_opts *o,
		struct gw_buf *content, struct smime_open_result *res)
{
	struct smime_open_result saved = *res;
	struct gw_buf canon;
	BIO *b;
	int rc;

	if ((b = BIO_new_mem_buf(p, (int)n)) == NULL)
		return GW_ERR_NOMEM;
	rc = verify_layer(cms, b, from, o, content, res);
	BIO_free(b);
	if (rc != 0 || res->status == SMIME_OK ||
	    mime_crlf_canon_len(p, n) == n)
		return rc;
	/* Forget the first attempt, certificates it collected included. */
	if (res->signer_certs != saved.signer_certs)
		sk_X509_pop_free(res->signer_certs, X509_free);
	if (res->unverified_certs != saved.unverified_certs)
		sk_X509_pop_free(res->unverified_certs, X509_free);
	*res = saved;
	gw_buf_init(&canon, SMIME_MSG_MAX);
	if ((rc = mime_header_add_crlf(&canon, p, n)) == 0) {
		if ((b = BIO_new_mem_buf(canon.data, (int)canon.len)) == NULL)
			rc = GW_ERR_NOMEM;
		else
			rc = verify_layer(cms, b, from, o, content, res);
		BIO_free(b);
	}
	gw_buf_free(&canon);
	return rc;
}

/* ---- output ---------------------------------------------------------- */

static void
add_quoted(struct gw_buf *b, const char *s)
{
	gw_buf_adds(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			gw_buf_adds(b, "\\");
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			gw_buf_adds(b, " ");
		else
			gw_buf_add(b, s, 1);
	}
	gw_buf_adds(b, "\"");
}

static int
result_headers(const struct smime_open_opts *o,
	       const struct smime_open_result *res, const char *eol,
	       struct gw_buf *out)
{
	gw_buf_addf(out, "Authentication-Results: %s;%s\tsmime=%s",
		    o->authserv_id, eol, res->ar);
	if (res->signer[0] != '\0' && strcmp(res->ar, "pass") == 0) {
		gw_buf_addf(out, "%s\tbody.smime-identifier=", eol);
		add_quoted(out, res->signer);
	}
	if (res->reason[0] != '\0') {
		gw_buf_addf(out, "%s\treason=", eol);
		add_quoted(out, res->reason);
	}
	return gw_buf_addf(out,
			   "%sX-SMIME-Gateway: %s; smime-gateway-message=%d;%s"
			   "\tsmime-gateway-verified=%d; decrypted=%d; "
			   "signatures=%d;%s\tlayers=%s%s%s",
			   eol, o->authserv_id, res->smime, eol, res->verified,
			   res->decrypted, res->signatures, eol,
			   res->layers[0] ? res->layers : "none",
			   res->efail ? "; efail-nested-encrypted=1" : "", eol);
}

/*
 * The message without our authserv-id's result fields, otherwise byte
 * for byte, into out.  When nothing was removed or changed (*removed
 * stays 0), that is the message itself: out then gets only the header
 * fields, and the caller works on the message in place.
 */
static int
stripped_copy(const unsigned char *msg, size_t len,
	      const struct mime_part *root, const char *authserv,
	      struct gw_buf *out, int *removed)
{
	const struct mime_header *h;
	const char *name;
	struct mime_range hr = mime_part_header_range(root);
	size_t i, before, n;
	int rc;

	for (i = 0; i < mime_part_header_count(root); i++) {
		h = mime_part_header_at(root, i);
		name = mime_header_name(h);
		if (smime_is_our_result(name, mime_header_value(h), authserv)) {
			(*removed)++;
			continue;
		}
		/* Byte for byte, but a lone CR (which some readers take as
		 * a line break, so a field could carry a forged one) becomes
		 * a space. */
		before = out->len;
		n = mime_header_length(h);
		if ((rc = mime_header_add_field(out, msg + mime_header_offset(h),
						n, 0)) != 0)
			return rc;
		if (out->len - before != n ||
		    memcmp(out->data + before, msg + mime_header_offset(h), n) !=
			0)
			(*removed)++; /* the bytes changed: parse again */
	}
	if (*removed == 0)
		return 0;
	return gw_buf_add(out, msg + hr.end, len - hr.end);
}

static int
starts_like_entity(const unsigned char *e, size_t n)
{
	size_t i;

	if (n == 0 || e[0] == '\n' || (n > 1 && e[0] == '\r' && e[1] == '\n'))
		return 1;
	for (i = 0; i < n && i < 998; i++) {
		if (e[i] == ':')
			return i > 0;
		/* field-name: printable US-ASCII except ':' (RFC 5322). */
		if (e[i] < 33 || e[i] > 126)
			return 0;
	}
	return 0;
}

/*
 * Next message: the current one's outer fields, then the entity.  Of the
 * entity's own header fields only the Content-* ones are kept: anything
 * else inside a protected layer (a second From, forged result fields)
 * was put there by the sender and must not reach the top-level header.
 */
static int
rewrap(const unsigned char *cur, const struct mime_part *root,
       const unsigned char *entity, size_t elen, struct gw_buf *next)
{
	struct mime_tree *t = NULL;
	int rc;

	if ((rc = smime_outer_headers(cur, root, NULL, next)) != 0 ||
	    (rc = gw_buf_adds(next, "MIME-Version: 1.0\r\n")) != 0)
		return rc;
	/* Content that does not start with a header field or an empty
	 * line is not a MIME entity: give it an empty header block, so
	 * that it stays body (text/plain) instead of becoming headers. */
	if (!starts_like_entity(entity, elen)) {
		if ((rc = gw_buf_adds(next, "\r\n")) != 0)
			return rc;
		return mime_header_add_crlf(next, entity, elen);
	}
	if ((rc = smime_parse(entity, mime_header_block_len(entity, elen),
			      &t)) != 0)
		return rc;
	rc = smime_entity_plain(entity, elen, mime_tree_root(t), next);
	mime_tree_free(t);
	return rc;
}

/* An encrypted part anywhere below the root (EFAIL direct exfiltration:
 * decrypting it would mix attacker text with the plaintext). */
static int
nested_encrypted(const struct mime_part *root)
{
	const struct mime_part *p;

	for (p = mime_part_next(root); p != NULL; p = mime_part_next(p))
		if (classify(p) == K_ENVELOPED ||
		    (classify(p) == K_PKCS7 &&
		     !is_pkcs7_sig(mime_part_content_type(p))))
			return 1;
	return 0;
}

/* Whether a Content-Type may make a layer (then the body is needed). */
static int
maybe_layer(const struct mime_part *root)
{
	const char *ct = mime_part_content_type(root);

	return is_pkcs7_mime(ct) || strcmp(ct, "multipart/signed") == 0 ||
	       strcmp(ct, "application/octet-stream") == 0;
}

/*
 * Parses the message of a layer.  The outermost one is parsed whole (the
 * EFAIL check looks at every part); below it, the Content-Type decides,
 * so the header block is parsed first and the body only when it may hold
 * another layer: a large decrypted or verified message is not scanned
 * again just to find that it is plain.
 */
static int
parse_layer(const unsigned char *e, size_t n, int depth,
	    struct mime_tree **out)
{
	size_t h;
	int rc;

	*out = NULL;
	if (depth > 0 && (h = mime_header_block_len(e, n)) < n) {
		if ((rc = smime_parse(e, h, out)) != 0)
			return rc;
		/* Only when the parser ends the header block where the
		 * shortcut did is the header-only view the same. */
		if (mime_part_body_range(mime_tree_root(*out)).start == h &&
		    !maybe_layer(mime_tree_root(*out)))
			return 0;
		mime_tree_free(*out);
		*out = NULL;
	}
	return smime_parse(e, n, out);
}

/* Whether an entity is itself an S/MIME layer. */
static int
content_is_smime(const unsigned char *e, size_t n)
{
	struct mime_tree *t = NULL;
	enum kind k = K_NONE;

	if (parse_layer(e, n, 1, &t) == 0)
		k = classify(mime_tree_root(t));
	mime_tree_free(t);
	return k != K_NONE && k != K_CERTS_ONLY;
}

/* What a pkcs7-mime part without smime-type holds. */
static enum kind
kind_of_cms(CMS_ContentInfo *cms)
{
	switch (OBJ_obj2nid(CMS_get0_type(cms))) {
	case NID_pkcs7_enveloped:
	case NID_id_smime_ct_authEnvelopedData:
		return K_ENVELOPED;
	case NID_pkcs7_signed:
		if (CMS_get0_content(cms) == NULL ||
		    *CMS_get0_content(cms) == NULL)
			return sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(
				   cms)) > 0
				   ? K_SIGNED_OPAQUE
				   : K_CERTS_ONLY;
		return K_SIGNED_OPAQUE;
	default:
		return K_UNSUPPORTED;
	}
}

/* ---- the layers ------------------------------------------------------ */

static int
decrypt_layer(CMS_ContentInfo *cms, const struct smime_open_opts *o,
	      struct gw_buf *plain, struct smime_open_result *res)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	BIO *out = NULL;
	int rc;

	gw_err_clear(); /* the detail below is find_key's own */
	if (o->find_key == NULL)
		rc = GW_ERR_NOT_FOUND;
	else
		rc = o->find_key(o->find_key_arg, cms, &cert, &key);
	if (rc == GW_ERR_NOT_FOUND) {
		/* find_key may say why a recipient identity was not used
		 * (engine_find_key(): not for these envelope recipients). */
		fail(res, "permerror", "%s",
		     *gw_err_detail() != '\0'
			 ? gw_err_detail()
			 : "no identity of this gateway is a recipient of the "
			   "message");
		rc = 0;
		goto out;
	}
	if (rc != 0) {
		fail(res, gw_err_class(rc) == GW_ERRCLASS_TEMPORARY
			      ? "temperror"
			      : "permerror",
		     "cannot use the decryption key: %s: %s", gw_strerror(rc),
		     gw_err_detail());
		if (res->error == 0)
			res->error = rc;
		rc = 0;
		goto out;
	}
	if ((out = gw_buf_bio(plain)) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	ERR_clear_error();
	/*
	 * CMS_DEBUG_DECRYPT: a key-transport failure fails here, instead
	 * of OpenSSL's random content key, which lets about one such
	 * message in 150 through AES-CBC padding as garbage marked
	 * decrypted (measured with a token that refuses the mechanism:
	 * that failure is operational and certain, not a rare attack).
	 * What stays of the padding oracle: a key transport that passes
	 * with the wrong key still fails in the content layer, with the
	 * same reason, but for CBC about 1 in 256 decrypts to garbage
	 * that we cannot tell apart (GCM's tag leaves none).
	 */
	if (!CMS_decrypt(cms, key, cert, NULL, out,
			 CMS_BINARY | CMS_DEBUG_DECRYPT)) {
		/*
		 * One reason for every failure: telling a key-transport
		 * failure from a content failure would hand senders a
		 * padding oracle (Bleichenbacher).
		 */
		if (o->key_fault != NULL &&
		    (rc = o->key_fault(o->find_key_arg)) != 0) {
			/* The token failed, not the message: it may be
			 * back in a minute. */
			ERR_clear_error();
			fail(res, "temperror",
			     "decryption failed: the token failed: %s: %s",
			     gw_strerror(rc), gw_err_detail());
			if (res->error == 0)
				res->error = rc;
			rc = 0;
			goto out;
		}
		ERR_clear_error();
		fail(res, "permerror",
		     "decryption failed: wrong key, damaged message, or a "
		     "key-transport mechanism the token refuses");
		goto out;
	}
	res->decrypted++;
out:
	BIO_free(out);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

/* Frees b, wiping it first when it may hold decrypted content. */
static void
buf_free(struct gw_buf *b, int plaintext)
{
	if (plaintext)
		gw_buf_free_secret(b);
	else
		gw_buf_free(b);
}

int
smime_open(const unsigned char *msg, size_t len,
	   const struct smime_open_opts *o, struct gw_buf *out,
	   struct smime_open_result *res)
{
	struct gw_buf cur, next, entity;
	const unsigned char *cd, *ed; /* the current layer, its content */
	size_t cl, el;
	struct mime_tree *tree = NULL;
	const struct mime_part *root;
	CMS_ContentInfo *cms = NULL;
	struct mime_range r;
	enum kind k;
	const char *eol = "\r\n";
	const struct mime_part *from;
	int depth, rc, changed = 0, smime_inside, removed = 0;
	/*
	 * Only decrypted content is secret: the input, and what was
	 * signed in it, came over the wire.  plain: entity and next may
	 * hold decrypted content (from the first decryption on, failed or
	 * not); cur_plain: cur does (from the first rewrap of it on).
	 */
	int plain = 0, cur_plain = 0;

	memset(res, 0, sizeof(*res));
	res->ar = "none";
	gw_buf_init(&cur, SMIME_MSG_MAX);
	gw_buf_init(&next, SMIME_MSG_MAX);
	gw_buf_init(&entity, SMIME_MSG_MAX);
	if (o->now != 0)
		X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(o->trust),
					   o->now);
	if ((rc = smime_parse(msg, len, &tree)) != 0)
		goto out;
	root = mime_tree_root(tree);
	if (mime_part_header_count(root) > 0) {
		const struct mime_header *h = mime_part_header_at(root, 0);
		size_t e = mime_header_offset(h) + mime_header_length(h);
		if (e >= 2 && msg[e - 1] == '\n' && msg[e - 2] != '\r')
			eol = "\n";
	}
	/* cur's ceiling, also when the message is used in place. */
	if (len > SMIME_MSG_MAX) {
		rc = gw_err_set(GW_ERR_LIMIT,
				"more than %zu bytes (a configured ceiling)",
				SMIME_MSG_MAX);
		goto out;
	}
	if ((rc = stripped_copy(msg, len, root, o->authserv_id, &cur,
				&removed)) != 0)
		goto out;
	if (removed > 0) {
		cd = cur.data;
		cl = cur.len;
		mime_tree_free(tree);
		tree = NULL;
	} else {
		/* Nothing stripped: the message itself, and its tree. */
		cd = msg;
		cl = len;
	}

	for (depth = 0; depth < MAX_LAYERS; depth++) {
		CMS_ContentInfo_free(cms);
		cms = NULL;
		gw_buf_reset(&entity);
		gw_buf_reset(&next);
		if (tree == NULL &&
		    (rc = parse_layer(cd, cl, depth, &tree)) != 0)
			goto out;
		root = mime_tree_root(tree);
		from = root;
		k = classify(root);
		if (k == K_PKCS7 || k == K_ENVELOPED || k == K_SIGNED_OPAQUE ||
		    k == K_CERTS_ONLY) {
			if ((rc = part_cms(cd, root, &cms, res)) != 0) {
				res->smime = 1;
				rc = 0;
				break;
			}
			/* The CMS content type decides; the smime-type
			 * label is only a hint. */
			k = kind_of_cms(cms);
		}
		if (depth == 0 && o->only == SMIME_OPEN_DECRYPT &&
		    k != K_ENVELOPED) {
			res->status = SMIME_WRONG_KIND;
			snprintf(res->reason, sizeof(res->reason),
				 "the message is not encrypted");
			break;
		}
		if (depth == 0 && o->only == SMIME_OPEN_VERIFY &&
		    k != K_SIGNED_OPAQUE && k != K_SIGNED_DETACHED) {
			res->status = SMIME_WRONG_KIND;
			snprintf(res->reason, sizeof(res->reason),
				 "the message is not signed");
			break;
		}
		if (k == K_NONE) {
			if (depth == 0 && nested_encrypted(root)) {
				res->smime = 1;
				res->efail = 1;
				fail(res, "permerror",
				     "an encrypted part nested inside another "
				     "multipart was left encrypted (EFAIL "
				     "protection)");
			}
			break;
		}
		res->smime = 1;
		if (k == K_UNSUPPORTED) {
			char oid[80];

			OBJ_obj2txt(oid, sizeof(oid), CMS_get0_type(cms), 0);
			add_layer(res, "unsupported");
			fail(res, "permerror",
			     "unsupported CMS content type %s (smimegw opens "
			     "signed, enveloped and authEnveloped data)",
			     oid);
			break;
		}
		if (k == K_CERTS_ONLY) {
			add_layer(res, "certs-only");
			if (res->signer_certs == NULL)
				res->signer_certs = CMS_get1_certs(cms);
			if (res->status == SMIME_OK && res->signatures == 0 &&
			    res->decrypted == 0)
				res->ar = "neutral";
			break;
		}
		if (k == K_ENVELOPED) {
			add_layer(res, OBJ_obj2nid(CMS_get0_type(cms)) ==
						   NID_id_smime_ct_authEnvelopedData
					   ? "authEnveloped-data"
					   : "enveloped-data");
			plain = 1;
			if ((rc = decrypt_layer(cms, o, &entity, res)) != 0)
				goto out;
			if (res->status != SMIME_OK)
				break;
			if ((rc = rewrap(cd, root, entity.data, entity.len,
					 &next)) != 0)
				goto out;
			buf_free(&cur, cur_plain);
			cur = next;
			cd = cur.data;
			cl = cur.len;
			cur_plain = 1;
			mime_tree_free(tree);
			tree = NULL;
			gw_buf_init(&next, SMIME_MSG_MAX);
			changed = 1;
			if (o->only == SMIME_OPEN_DECRYPT)
				break;
			continue;
		}
		/* Signed, opaque or detached. */
		add_layer(res, "signed-data");
		if (k == K_SIGNED_DETACHED) {
			const struct mime_part *c0 = mime_part_child(root, 0);
			r = mime_part_range(c0);
			if ((rc = part_cms(cd, mime_part_child(root, 1),
					   &cms, res)) != 0) {
				rc = 0;
				break;
			}
			if ((rc = verify_detached(cms, cd + r.start,
						  r.end - r.start, from, o,
						  &entity, res)) != 0)
				goto out;
			if (res->status != SMIME_OK)
				break;
			/* The content is the signed part, in place. */
			ed = cd + r.start;
			el = r.end - r.start;
		} else {
			if ((rc = verify_layer(cms, NULL, from, o, &entity,
					       res)) != 0)
				goto out;
			if (res->status != SMIME_OK)
				break;
			ed = entity.data;
			el = entity.len;
		}
		smime_inside = content_is_smime(ed, el);
		if (smime_inside || o->remove_signature) {
			if ((rc = rewrap(cd, root, ed, el, &next)) != 0)
				goto out;
			buf_free(&cur, cur_plain);
			cur = next;
			cd = cur.data;
			cl = cur.len;
			cur_plain = plain;
			mime_tree_free(tree);
			tree = NULL;
			gw_buf_init(&next, SMIME_MSG_MAX);
			changed = 1;
		}
		if (!smime_inside || o->only == SMIME_OPEN_VERIFY)
			break;
	}
	if (depth == MAX_LAYERS)
		fail(res, "permerror", "more than %d S/MIME layers",
		     MAX_LAYERS);
	if (res->status == SMIME_OK) {
		/* Verified means something was decrypted or verified. */
		res->verified = res->smime &&
				res->signatures + res->decrypted > 0;
		if (res->signatures > 0)
			res->ar = "pass";
		else if (res->decrypted > 0)
			res->ar = "none";
	}
	if ((rc = result_headers(o, res, changed ? "\r\n" : eol, out)) != 0 ||
	    (rc = gw_buf_add(out, cd, cl)) != 0)
		goto out;
out:
	CMS_ContentInfo_free(cms);
	mime_tree_free(tree);
	buf_free(&cur, cur_plain);
	buf_free(&next, plain);
	buf_free(&entity, plain);
	return rc;
}
