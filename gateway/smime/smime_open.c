/* smime_open.c - incoming S/MIME: layers, decryption, verification. */
#include "smime_open.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "cert_cache.h"
#include "gw_err.h"
#include "mime_codec.h"
#include "mime_header.h"
#include "mime_parser.h"
#include "smime.h"
#include "smime_der.h"
#include "smime_entity.h"
#include "smime_from.h"
#include "smime_sigcheck.h"
#include "smime_stream.h"

#define MAX_LAYERS SMIME_OPEN_MAX_LAYERS

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

/* A layer met: named in res->layers, and open (no result yet) until
 * layer_close() or fail() gives it one. */
static void
add_layer(struct smime_open_result *res, const char *name)
{
	size_t n = strlen(res->layers);
	struct smime_layer *l;

	if (n > 0 && n + 1 < sizeof(res->layers))
		res->layers[n++] = ',';
	gw_str_copy(res->layers + n, sizeof(res->layers) - n, name);
	if (res->nlayers == (int)(sizeof(res->layer) / sizeof(res->layer[0])))
		return; /* cannot happen: MAX_LAYERS are added at most */
	l = &res->layer[res->nlayers++];
	memset(l, 0, sizeof(*l));
	gw_str_copy(l->kind, sizeof(l->kind), name);
}

/* The layer being opened, or NULL when there is none. */
static struct smime_layer *
open_layer(struct smime_open_result *res)
{
	struct smime_layer *l;

	if (res->nlayers == 0)
		return NULL;
	l = &res->layer[res->nlayers - 1];
	return l->result == NULL ? l : NULL;
}

static void
layer_close(struct smime_open_result *res, const char *result)
{
	struct smime_layer *l;

	if ((l = open_layer(res)) != NULL)
		l->result = result;
}

/* Gives the open layer its failure, and latches the message's first
 * one: its reason and AR result. */
static void
fail(struct smime_open_result *res, const char *ar, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(struct smime_open_result *res, const char *ar, const char *fmt, ...)
{
	struct smime_layer *l;
	char why[sizeof(res->reason)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if ((l = open_layer(res)) != NULL) {
		l->result = ar;
		snprintf(l->reason, sizeof(l->reason), "%s", why);
	}
	if (res->status == SMIME_FAILED)
		return;
	if (l != NULL)
		res->failed_layer = (int)(l - res->layer) + 1;
	res->status = SMIME_FAILED;
	res->ar = ar;
	snprintf(res->reason, sizeof(res->reason), "%s", why);
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

/* ---- a look at DER before it is parsed -------------------------------- */

/*
 * d2i_CMS_ContentInfo() builds every certificate of a SignedData, and
 * CMS_verify() then works through all of them: 52,000 certificates cost
 * 21 s of CPU and 411 MB.  The counts are read off the DER first, with
 * nothing allocated, so that such an object is refused before it costs
 * anything.  The walk only counts: malformed DER is left to d2i.
 */

/*
 * Refuses a SignedData with more certificates or signers than the
 * ceilings (GW_ERR_LIMIT); anything else, DER that does not walk
 * included, is 0.  SignedData ::= SEQUENCE { version, digestAlgorithms,
 * encapContentInfo, certificates [0] OPTIONAL, crls [1] OPTIONAL,
 * signerInfos SET }.
 */
static int
cms_check_counts(const unsigned char *p, size_t n)
{
	const unsigned char *oid;
	size_t olen, c, s, e, sd, u, count;
	int i;

	if (der_content_info(p, n, &oid, &olen, &c) != 0 ||
	    !oid_is(oid, olen, oid_signed, sizeof(oid_signed)) ||
	    p[c] != 0xa0 || der_content(p + c, n - c, &s, &e) != 0)
		return 0;
	sd = c + s; /* the SignedData SEQUENCE */
	if (sd >= c + e || p[sd] != 0x30 ||
	    der_content(p + sd, c + e - sd, &s, &e) != 0)
		return 0;
	e += sd;
	s += sd;
	for (i = 0; i < 3 && s < e; i++, s += u) /* version to encap */
		if (der_skip(p + s, e - s, 0, &u) != 0)
			return 0;
	for (; s < e; s += u) {
		if (der_skip(p + s, e - s, 0, &u) != 0)
			return 0;
		if (p[s] == 0xa0 &&
		    der_count(p + s, e - s, SMIME_OPEN_MAX_CERTS, &count) == 0 &&
		    count > SMIME_OPEN_MAX_CERTS)
			return gw_err_set(GW_ERR_LIMIT,
					  "signed data with more than %d "
					  "certificates (a ceiling)",
					  SMIME_OPEN_MAX_CERTS);
		if (p[s] == 0x31 &&
		    der_count(p + s, e - s, SMIME_OPEN_MAX_SIGNERS, &count) ==
			0 &&
		    count > SMIME_OPEN_MAX_SIGNERS)
			return gw_err_set(GW_ERR_LIMIT,
					  "signed data with more than %d "
					  "signers (a ceiling)",
					  SMIME_OPEN_MAX_SIGNERS);
	}
	return 0;
}


/* ---- certificates through the cache ----------------------------------- */

struct cert_cache *
smime_open_cert_cache(void)
{
	return cert_cache_shared();
}


/* Whether [s, s + len) lies inside the content of w. */
static int
wrap_holds(const unsigned char *p, size_t n, const struct der_wrap *w, size_t s,
	   size_t len)
{
	size_t used;

	if (w->d.indef)
		return der_skip(p + w->off, n - w->off, 0, &used) == 0 &&
		       s + len + 2 <= w->off + used;
	return s >= w->off + w->d.hlen && s + len <= w->off + w->d.hlen +
							 w->d.len;
}

/*
 * d2i_CMS_ContentInfo() decodes every certificate of a SignedData, its
 * public key included, which costs several times the signature check
 * (OpenSSL 3.0's provider decoders).  Instead the certificates field is
 * cut out of the DER (p, n): in place when p is buf's data, else into
 * buf (*out, *nout: what is left), and each
 * certificate's exact DER is taken through the cache into *certs, in
 * order.  Lengths of the elements around it are rewritten (minimal, for
 * a definite length); nothing signed is touched.
 *
 * 1: done; 0: left as it is, to be decoded whole (not a SignedData, no
 * certificates, a choice other than a plain Certificate, an element
 * that does not walk or a certificate that does not decode on its own:
 * d2i then says what is wrong with it); GW_ERR_NOMEM.
 */
static int
cms_cut_certs(const unsigned char *p, size_t n, struct gw_buf *buf,
	      const unsigned char **out, size_t *nout, STACK_OF(X509) **certs)
{
	struct cert_cache *cache = smime_open_cert_cache();
	struct der_wrap w[3];
	const unsigned char *oid;
	size_t olen, c, s, e, cs, cu, u;
	unsigned char *dst;
	X509 *x;
	int i, rc;

	*certs = NULL;
	if (cache == NULL ||
	    der_content_info(p, n, &oid, &olen, &c) != 0 ||
	    !oid_is(oid, olen, oid_signed, sizeof(oid_signed)) ||
	    p[0] != 0x30 || p[c] != 0xa0)
		return 0;
	w[0].off = 0;
	w[1].off = c;
	if (der_hdr(p, n, &w[0].d) != 0 || der_hdr(p + c, n - c, &w[1].d) != 0)
		return 0;
	w[2].off = c + w[1].d.hlen;
	if (w[2].off >= n || p[w[2].off] != 0x30 ||
	    der_hdr(p + w[2].off, n - w[2].off, &w[2].d) != 0 ||
	    der_content(p + w[2].off, n - w[2].off, &s, &e) != 0)
		return 0;
	s += w[2].off;
	e += w[2].off;
	for (i = 0; i < 3 && s < e; i++, s += u) /* version to encap */
		if (der_skip(p + s, e - s, 0, &u) != 0)
			return 0;
	if (i < 3 || s >= e || p[s] != 0xa0 || der_skip(p + s, e - s, 0, &cu) != 0)
		return 0;
	cs = s;
	for (i = 0; i < 3; i++)
		if (!wrap_holds(p, n, &w[i], cs, cu))
			return 0;
	if (der_content(p + cs, cu, &s, &e) != 0 || s == e)
		return 0;
	if ((*certs = sk_X509_new_null()) == NULL)
		return GW_ERR_NOMEM;
	for (s += cs, e += cs; s < e; s += u) {
		struct der d;

		if (der_hdr(p + s, e - s, &d) != 0 || d.tag != 0x30 || d.indef)
			goto whole;
		u = d.hlen + d.len;
		if ((rc = cert_cache_get(cache, p + s, u, &x)) == GW_ERR_PARSE)
			goto whole;
		if (rc != 0)
			goto nomem;
		if (!sk_X509_push(*certs, x)) {
			X509_free(x);
			goto nomem;
		}
	}
	if (p == buf->data)
		dst = buf->data;
	else if (gw_buf_reserve(buf, n, &dst) != 0)
		goto nomem;
	*nout = der_cut(p, w, 3, cs, cu, p + cs + cu, n - cs - cu, dst);
	*out = dst;
	return 1;
whole:
	ERR_clear_error();
	sk_X509_pop_free(*certs, X509_free);
	*certs = NULL;
	return 0;
nomem:
	sk_X509_pop_free(*certs, X509_free);
	*certs = NULL;
	return GW_ERR_NOMEM;
}

/* ---- the ciphertext of an envelope, where it lies -------------------- */

/*
 * A source BIO over an encryptedContent element in place: a primitive
 * OCTET STRING's content, or the primitive segments of a constructed one
 * (BER, as streaming encoders write it), one after the other.  The
 * segments were walked before (seg_walk()), so reading cannot fail.
 */
struct segs {
	const unsigned char *at;	/* the current segment's next byte */
	size_t left;			/* bytes left in it */
	const unsigned char *next;	/* the next segment's header */
	const unsigned char *end;	/* the end of the segments */
};

static BIO_METHOD *segs_method;
static pthread_once_t segs_once = PTHREAD_ONCE_INIT;

static int
segs_read(BIO *bio, char *buf, int size)
{
	struct segs *g = BIO_get_data(bio);
	struct der d;
	size_t n = 0, k;

	while (size > 0 && n < (size_t)size) {
		if (g->left == 0) {
			if (g->next >= g->end ||
			    der_hdr(g->next, (size_t)(g->end - g->next), &d) !=
				0)
				break;
			g->at = g->next + d.hlen;
			g->left = d.len;
			g->next = g->at + d.len;
			continue;
		}
		k = g->left < (size_t)size - n ? g->left : (size_t)size - n;
		memcpy(buf + n, g->at, k);
		g->at += k;
		g->left -= k;
		n += k;
	}
	return (int)n;
}

static long
segs_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	struct segs *g = BIO_get_data(bio);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_EOF:
		return g->left == 0 && g->next >= g->end;
	case BIO_CTRL_FLUSH:
		return 1;
	default:
		return 0;
	}
}

static int
segs_destroy(BIO *bio)
{
	free(BIO_get_data(bio));
	BIO_set_data(bio, NULL);
	return 1;
}

static void
segs_init_method(void)
{
	BIO_METHOD *m;

	if ((m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
			      "smimegw segments")) == NULL)
		return;
	BIO_meth_set_read(m, segs_read);
	BIO_meth_set_ctrl(m, segs_ctrl);
	BIO_meth_set_destroy(m, segs_destroy);
	segs_method = m;
}

/* Whether the element at p (n bytes on) is an encryptedContent that
 * reads as segments: [0] primitive, or [0] constructed of primitive
 * OCTET STRINGs only.  Its segments' bounds in *g, their length in
 * *total, the element's in *used (end-of-contents included): one walk
 * over the segments. */
static int
seg_walk(const unsigned char *p, size_t n, struct segs *g, size_t *total,
	 size_t *used)
{
	struct der d, sd;
	size_t s, e, u;

	if (der_bounds(p, n, &d, &s, &e) != 0)
		return 0;
	if (p[0] == 0x80) {
		g->at = p + d.hlen;
		g->left = d.len;
		g->next = g->end = g->at + d.len;
		*total = d.len;
		*used = d.hlen + d.len;
		return 1;
	}
	if (p[0] != 0xa0)
		return 0;
	for (*total = 0, u = s;; u += sd.hlen + sd.len) {
		if (d.indef && u + 2 <= e && p[u] == 0 && p[u + 1] == 0) {
			*used = u + 2;
			break;
		}
		if (!d.indef && u == e) {
			*used = e;
			break;
		}
		if (u >= e || der_hdr(p + u, e - u, &sd) != 0 || p[u] != 0x04)
			return 0;
		*total += sd.len;
	}
	g->at = NULL;
	g->left = 0;
	g->next = p + s;
	g->end = p + (d.indef ? *used - 2 : e);
	return 1;
}

/*
 * Whether the element cut out, ending at end, lies inside each of the
 * nw wraps around it (w[0] outermost), and each inside the one around
 * it: walked from the inside out, each wrap from where the one inside
 * it ends to its own end, so that a BER content's segments are walked
 * once (seg_walk()), not once per wrap.  What comes before the cut in
 * each wrap was walked to find it.
 */
static int
wraps_hold(const unsigned char *p, size_t n, const struct der_wrap *w, int nw,
	   size_t end)
{
	size_t u, wend;
	int i;

	for (i = nw - 1; i >= 0; i--) {
		if (!w[i].d.indef) {
			wend = w[i].off + w[i].d.hlen + w[i].d.len;
			if (end > wend)
				return 0;
			end = wend;
			continue;
		}
		for (;;) {
			if (end + 2 <= n && p[end] == 0 && p[end + 1] == 0) {
				end += 2;
				break;
			}
			if (end >= n || der_skip(p + end, n - end, 1, &u) != 0)
				return 0;
			end += u;
		}
	}
	return 1;
}

static BIO *
segs_bio(const struct segs *g)
{
	struct segs *c;
	BIO *bio;

	pthread_once(&segs_once, segs_init_method);
	if (segs_method == NULL || (c = malloc(sizeof(*c))) == NULL)
		return NULL;
	if ((bio = BIO_new(segs_method)) == NULL) {
		free(c);
		return NULL;
	}
	*c = *g;
	BIO_set_data(bio, c);
	BIO_set_init(bio, 1);
	return bio;
}

/*
 * d2i_CMS_ContentInfo() copies the content of an envelope out of the
 * DER, and a segmented (BER) one piece by piece into a buffer it grows
 * and wipes as it goes: 15 % of a 10 MiB decrypt, and one more copy of
 * the message in memory.  Instead the encryptedContent is cut out of
 * the EnvelopedData or AuthEnvelopedData (p, n): the rest (recipients,
 * algorithm, MAC) goes into buf (*out, *nout), where the content then
 * counts as detached, and *econt reads the ciphertext (*clen bytes)
 * where it lies in p, which must stay until *econt is freed.  Lengths around it are
 * rewritten as for the certificates (der_cut()).
 *
 * EnvelopedData ::= SEQUENCE { version, originatorInfo [0] OPTIONAL,
 * recipientInfos SET, encryptedContentInfo SEQUENCE { contentType,
 * contentEncryptionAlgorithm, encryptedContent [0] OPTIONAL }, ... }
 * (AuthEnvelopedData: the same up to there).
 *
 * 1: done; 0: left as it is, to be decoded whole (not an envelope, no
 * content, segments nested deeper, DER that does not walk); NOMEM.
 */
static int
cms_cut_content(const unsigned char *p, size_t n, struct gw_buf *buf,
		const unsigned char **out, size_t *nout, BIO **econt,
		size_t *clen)
{
	struct der_wrap w[4];
	struct segs g;
	const unsigned char *oid;
	unsigned char *dst;
	size_t olen, c, s, e, cs, cu, u;
	int i;

	*econt = NULL;
	if (der_content_info(p, n, &oid, &olen, &c) != 0 ||
	    !(oid_is(oid, olen, oid_enveloped, sizeof(oid_enveloped)) ||
	      oid_is(oid, olen, oid_auth_enveloped,
		     sizeof(oid_auth_enveloped))) ||
	    p[0] != 0x30 || p[c] != 0xa0)
		return 0;
	w[0].off = 0;
	w[1].off = c;
	if (der_hdr(p, n, &w[0].d) != 0 || der_hdr(p + c, n - c, &w[1].d) != 0)
		return 0;
	w[2].off = c + w[1].d.hlen;
	if (w[2].off >= n || p[w[2].off] != 0x30 ||
	    der_bounds(p + w[2].off, n - w[2].off, &w[2].d, &s, &e) != 0)
		return 0;
	s += w[2].off;
	e += w[2].off;
	/* version, originatorInfo, recipientInfos: up to the first
	 * SEQUENCE, the encryptedContentInfo (an end-of-contents before
	 * it: there is none) */
	for (i = 0; s < e && p[s] != 0x30; i++, s += u)
		if (i == 3 || p[s] == 0 ||
		    der_skip(p + s, e - s, 0, &u) != 0)
			return 0;
	w[3].off = s;
	if (s >= e || der_bounds(p + s, e - s, &w[3].d, &cs, &e) != 0)
		return 0;
	cs += w[3].off;
	e += w[3].off;
	for (i = 0; i < 2 && cs < e; i++, cs += u) /* type, algorithm */
		if (p[cs] == 0 || der_skip(p + cs, e - cs, 0, &u) != 0)
			return 0;
	if (i < 2 || cs >= e || !seg_walk(p + cs, e - cs, &g, clen, &cu) ||
	    !wraps_hold(p, n, w, 4, cs + cu))
		return 0;
	gw_buf_reset(buf);
	if (gw_buf_reserve(buf, n - cu, &dst) != 0 ||
	    (*econt = segs_bio(&g)) == NULL)
		return GW_ERR_NOMEM;
	*nout = der_cut(p, w, 4, cs, cu, p + cs + cu, n - cs - cu, dst);
	*out = dst;
	return 1;
}

/* Puts the certificates cut out by cms_cut_certs() back into cms, in
 * their order; the same object twice (the same DER) once.  Frees certs. */
static int
cms_put_certs(CMS_ContentInfo *cms, STACK_OF(X509) *certs)
{
	X509 *x;
	int i, j, rc = 0;

	for (i = 0; i < sk_X509_num(certs) && rc == 0; i++) {
		x = sk_X509_value(certs, i);
		for (j = 0; j < i && X509_cmp(sk_X509_value(certs, j), x); j++)
			;
		if (j == i && !CMS_add1_cert(cms, x))
			rc = GW_ERR_NOMEM;
	}
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

/* ---- CMS from a MIME part ------------------------------------------- */

/*
 * The CMS object in a part's body.  *extra (may be NULL) is set when
 * bytes other than zeros follow the object: they are covered by nothing.
 * GW_ERR_PARSE (a permerror in res) when it is not CMS, GW_ERR_LIMIT
 * over a ceiling, GW_ERR_NOMEM.
 */
/* The DER of a part's body: in place (binary, 8bit) or decoded from
 * base64 into der, with room bytes in front of it (gw_buf_skip()). */
static int
part_der(const unsigned char *msg, const struct mime_part *p, size_t room,
	 struct gw_buf *der, const unsigned char **q, size_t *dlen)
{
	struct mime_range r = mime_part_body_range(p);
	const char *cte = mime_part_cte(p);
	size_t n = r.end - r.start;
	unsigned char *dst;
	int rc;

	gw_buf_reset(der);
	if (strcmp(cte, "binary") == 0 || strcmp(cte, "8bit") == 0) {
		*q = msg + r.start;
		*dlen = n;
		return 0;
	}
	if (room > 0) {
		if ((rc = gw_buf_reserve(der, room + mime_base64_decoded_max(n),
					 &dst)) != 0)
			return rc;
		der->len = room;
		gw_buf_skip(der, room);
	}
	if ((rc = gw_buf_reserve(der, mime_base64_decoded_max(n),
				 &dst)) != 0 ||
	    (rc = mime_base64_decode(msg + r.start, n, dst,
				     mime_base64_decoded_max(n), dlen,
				     NULL)) != 0)
		return rc;
	*q = dst;
	return 0;
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

/* An envelope's ciphertext, read where it lies (cms_cut_content()):
 * the decoded DER it lies in (or nothing: the message's own bytes). */
struct econt {
	struct gw_buf der;
	BIO *bio;		/* NULL: the content is in the CMS object */
	size_t len;		/* the ciphertext's length */
	size_t room;		/* to leave in front of the decoded DER */
	int plain;		/* der holds decrypted content */
	int streamed;		/* der holds it all: smime_stream_decrypt() */
	struct mime_crlf_scan sc; /* its line ends, when streamed */
};

static void
econt_init(struct econt *ec)
{
	gw_buf_init(&ec->der, SMIME_MSG_MAX);
	ec->bio = NULL;
	ec->len = 0;
	ec->room = 0;
	ec->plain = 0;
	ec->streamed = 0;
}

static void
econt_free(struct econt *ec)
{
	BIO_free(ec->bio);
	ec->bio = NULL;
	ec->len = 0;
	buf_free(&ec->der, ec->plain); /* the ciphertext is not secret */
	ec->plain = 0;
	ec->streamed = 0;
}

/*
 * A large base64 envelope decrypted as it is decoded, when it is of
 * the kind smime_stream.c takes (cd, root: the layer, k its kind by
 * label): 1 (ec holds the plaintext, *cms the envelope without its
 * content, *extra as part_cms() sets it), 0 to open it the whole way,
 * GW_ERR_NOMEM.  Not for a verify-only open, which refuses envelopes
 * before it decrypts.
 */
static int
part_stream(const unsigned char *cd, const struct mime_part *root,
	    enum kind k, int depth, const struct smime_open_opts *o,
	    struct econt *ec, CMS_ContentInfo **cms, int *extra)
{
	struct mime_range r = mime_part_body_range(root);
	int rc;

	if ((k != K_ENVELOPED && k != K_PKCS7) ||
	    (depth == 0 && o->only == SMIME_OPEN_VERIFY) ||
	    strcmp(mime_part_cte(root), "base64") != 0 ||
	    r.end - r.start < SMIME_STREAM_OPEN_MIN)
		return 0;
	mime_crlf_scan_init(&ec->sc);
	rc = smime_stream_decrypt(cd + r.start, r.end - r.start, ec->room, o,
				  &ec->der, &ec->sc, cms, extra);
	if (rc == 1) {
		ec->streamed = 1;
		ec->plain = 1;
	}
	return rc;
}

/*
 * ec: NULL, or where an envelope's content goes when it is cut out
 * (freed by the caller after decrypting, econt_free()); the content is
 * then not in *out.  peek: NULL, or asked before d2i (*out stays NULL
 * when it deals with the object).  secret: the part was decrypted (an
 * opaque signature's content in it): what is decoded is wiped.
 */
/* Asked by part_cms() between the certificate cut and d2i: 1 when it
 * dealt with the object (it is not decoded then), 0 to go on, or a
 * GW_ERR_*.  der, n: what the cut left; certs: what it cut, or NULL;
 * owned: the buffer der lies in when it is part_cms()'s own (decoded
 * or cut, not the message's bytes), which fn may take, else NULL. */
struct cms_peek {
	int (*fn)(const struct cms_peek *pk, const unsigned char *der,
		  size_t n, STACK_OF(X509) *certs, struct gw_buf *owned);
	const unsigned char *content;	/* a detached signature's content */
	size_t clen;
	const struct mime_part *from;
	const struct smime_open_opts *o;
	struct smime_open_result *res;
	/* An opaque signature that passed: its content, its signer, and
	 * whether anything follows the object (as part_cms() says). */
	struct gw_buf *entity;
	X509 **signer;
	int *extra;
};

static int
part_cms(const unsigned char *msg, const struct mime_part *p,
	 CMS_ContentInfo **out, int *extra, struct smime_open_result *res,
	 struct econt *ec, const struct cms_peek *peek, int secret)
{
	struct gw_buf der, rest;
	const unsigned char *q, *q0, *qc;
	STACK_OF(X509) *certs = NULL;
	BIO *bio = NULL;
	size_t dlen = 0, clen = 0, ctlen = 0;
	int rc;

	*out = NULL;
	if (extra != NULL)
		*extra = 0;
	gw_buf_init(&der, SMIME_MSG_MAX);
	gw_buf_init(&rest, SMIME_MSG_MAX);
	if ((rc = part_der(msg, p, ec != NULL ? ec->room : 0, &der, &q,
			   &dlen)) != 0)
		goto out;
	if ((rc = cms_check_counts(q, dlen)) != 0)
		goto out;
	if (ec != NULL &&
	    (rc = cms_cut_content(q, dlen, &rest, &qc, &clen, &bio,
				  &ctlen)) < 0)
		goto out;
	if (bio != NULL) {
		q0 = qc;
		if ((*out = smime_d2i_cut_envelope(&qc, clen)) != NULL) {
			if (extra != NULL)
				*extra = der_trailing(q0, (size_t)(qc - q0),
						      clen);
			BIO_free(ec->bio);
			gw_buf_free(&ec->der);
			ec->der = der; /* where the BIO reads */
			gw_buf_init(&der, SMIME_MSG_MAX);
			ec->bio = bio;
			ec->len = ctlen;
			bio = NULL;
			rc = 0;
			goto out;
		}
		/* As for the certificates: the whole object, as it came. */
		ERR_clear_error();
	}
	if ((rc = cms_cut_certs(q, dlen, &der, &q, &dlen, &certs)) < 0)
		goto out;
	if (peek != NULL &&
	    (rc = peek->fn(peek, q, dlen, certs,
			   der.data != NULL && q >= der.data &&
				   q + dlen <= der.data + der.cap
			       ? &der
			       : NULL)) != 0) {
		if (rc == 1)
			rc = 0;
		goto out;
	}
	q0 = q;
	*out = d2i_CMS_ContentInfo(NULL, &q, (long)dlen);
	if (*out == NULL && certs != NULL) {
		/* The cut is only a shortcut: should what it left not
		 * decode (no known input does since the lengths around
		 * it shrink right), decode the object whole, as it
		 * came, so that d2i says what is wrong with it. */
		ERR_clear_error();
		sk_X509_pop_free(certs, X509_free);
		certs = NULL;
		if ((rc = part_der(msg, p, 0, &der, &q, &dlen)) != 0)
			goto out;
		q0 = q;
		*out = d2i_CMS_ContentInfo(NULL, &q, (long)dlen);
	}
	if (*out == NULL) {
		ERR_clear_error();
		fail(res, "permerror",
		     "the S/MIME part is not a valid CMS object");
		rc = GW_ERR_PARSE;
		goto out;
	}
	rc = cms_put_certs(*out, certs);
	certs = NULL;
	if (rc != 0) {
		CMS_ContentInfo_free(*out);
		*out = NULL;
		goto out;
	}
	if (extra != NULL)
		*extra = der_trailing(q0, (size_t)(q - q0), dlen);
	rc = 0;
out:
	BIO_free(bio);
	sk_X509_pop_free(certs, X509_free);
	buf_free(&rest, secret);
	buf_free(&der, secret);
	return rc;
}

/*
 * Whether a part holds an enveloped-data or authEnveloped-data CMS
 * object, whatever its label: the content type OID at the start of its
 * body decides.  Only the first bytes are decoded.
 */
static int
part_is_enveloped(const unsigned char *msg, const struct mime_part *p)
{
	struct mime_range r = mime_part_body_range(p);
	const char *cte = mime_part_cte(p);
	unsigned char head[384];
	const unsigned char *q, *oid;
	size_t n = r.end - r.start, hlen, olen, c;
	struct der d;

	if (strcmp(cte, "binary") == 0 || strcmp(cte, "8bit") == 0) {
		q = msg + r.start;
		hlen = n;
	} else {
		if (n > 512)
			n = 512;
		if (mime_base64_decode(msg + r.start, n, head, sizeof(head),
				       &hlen, NULL) != 0)
			return 0;
		q = head;
	}
	/* The ContentInfo's length may reach past the prefix (or be
	 * indefinite): only the OID right after its header matters. */
	if (hlen < 2 || q[0] != 0x30)
		return 0;
	c = 2 + (q[1] & 0x80 ? (size_t)(q[1] & 0x7f) : 0);
	if (c >= hlen || der_hdr(q + c, hlen - c, &d) != 0 || d.tag != 0x06)
		return 0;
	oid = q + c + d.hlen;
	olen = d.len;
	return oid_is(oid, olen, oid_enveloped, sizeof(oid_enveloped)) ||
	       oid_is(oid, olen, oid_auth_enveloped,
		      sizeof(oid_auth_enveloped));
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

/* A signer whose signature passed: kept in res, and its certificate
 * must cover the From fields of from (else the layer fails).  0, or
 * GW_ERR_NOMEM. */
static int
signer_passed(X509 *x, const struct mime_part *from,
	      struct smime_open_result *res)
{
	char why[512], id[256];

	if (open_layer(res) == NULL)
		return 0; /* a signer before failed the From check */
	if (res->signer_certs == NULL &&
	    (res->signer_certs = sk_X509_new_null()) == NULL)
		return GW_ERR_NOMEM;
	if (X509_up_ref(x) && !sk_X509_push(res->signer_certs, x))
		X509_free(x);
	if (!smime_from_covered(x, from, id, sizeof(id), why, sizeof(why)))
		fail(res, "fail", "%s", why);
	else
		gw_str_copy(res->signer, sizeof(res->signer), id);
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
	char why[512];
	int cms_reason = 0, i, ok, rc = 0;

	ERR_clear_error();
	if (o->find_signers != NULL && o->extra != NULL &&
	    (rc = o->find_signers(o->find_signers_arg, cms, o->extra)) != 0)
		return rc;
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
	for (i = 0; i < sk_X509_num(signers); i++)
		if ((rc = signer_passed(sk_X509_value(signers, i), from,
					res)) != 0)
			goto out;
	if (open_layer(res) != NULL)
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
	    mime_header_crlf_canonical(p, n))
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

/* One resinfo of the smime method; the first follows the authserv-id. */
static void
add_resinfo(struct gw_buf *out, const char *eol, int *n, const char *result,
	    const char *signer, const char *reason)
{
	if (*n > 0)
		gw_buf_adds(out, ";");
	gw_buf_adds(out, eol);
	gw_buf_adds(out, "\tsmime=");
	gw_buf_adds(out, result);
	if (signer != NULL && signer[0] != '\0') {
		gw_buf_adds(out, eol);
		gw_buf_adds(out, "\tbody.smime-identifier=");
		add_quoted(out, signer);
	}
	if (reason != NULL && reason[0] != '\0') {
		gw_buf_adds(out, eol);
		gw_buf_adds(out, "\treason=");
		add_quoted(out, reason);
	}
	(*n)++;
}

/* sep, name, then v in decimal as "%d" writes it (no printf: this is
 * on every message's path). */
static void
add_count(struct gw_buf *out, const char *sep, const char *name, int v)
{
	char d[24];
	size_t i = sizeof(d);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v
				     : (unsigned long long)v;

	do {
		d[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u > 0);
	if (v < 0)
		d[--i] = '-';
	gw_buf_adds(out, sep);
	gw_buf_adds(out, name);
	gw_buf_add(out, d + i, sizeof(d) - i);
}

/*
 * Authentication-Results: one smime result per signature, outermost
 * first, and one for a failure that is not a signature's (a layer that
 * could not be decrypted or read, EFAIL, too many layers); without
 * either, the message's one result.  Then X-SMIME-Gateway.
 */
static int
result_headers(const struct smime_open_opts *o,
	       const struct smime_open_result *res, const char *eol,
	       struct gw_buf *out)
{
	const struct smime_layer *l;
	int i, n = 0, failure_shown = 0;

	gw_buf_adds(out, "Authentication-Results: ");
	gw_buf_adds(out, o->authserv_id);
	gw_buf_adds(out, ";");
	for (i = 0; i < res->nlayers; i++) {
		l = &res->layer[i];
		if (l->result == NULL)
			continue;
		if (strcmp(l->kind, "signed-data") == 0 ||
		    strcmp(l->result, "permerror") == 0 ||
		    strcmp(l->result, "temperror") == 0) {
			add_resinfo(out, eol, &n, l->result,
				    strcmp(l->result, "pass") == 0 ? l->signer
								   : NULL,
				    l->reason);
			if (res->failed_layer == i + 1)
				failure_shown = 1;
		}
	}
	if (n == 0 || (res->reason[0] != '\0' && !failure_shown))
		add_resinfo(out, eol, &n, res->ar,
			    strcmp(res->ar, "pass") == 0 ? res->signer : NULL,
			    res->reason);
	gw_buf_adds(out, eol);
	gw_buf_adds(out, "X-SMIME-Gateway: ");
	gw_buf_adds(out, o->authserv_id);
	add_count(out, "; ", "smime-gateway-message=", res->smime);
	gw_buf_adds(out, ";");
	gw_buf_adds(out, eol);
	add_count(out, "\t", "smime-gateway-verified=", res->verified);
	add_count(out, "; ", "decrypted=", res->decrypted);
	add_count(out, "; ", "signatures=", res->signatures);
	gw_buf_adds(out, ";");
	gw_buf_adds(out, eol);
	gw_buf_adds(out, "\tlayers=");
	gw_buf_adds(out, res->layers[0] ? res->layers : "none");
	if (res->efail)
		gw_buf_adds(out, "; efail-nested-encrypted=1");
	if (res->failed_signatures > 0)
		add_count(out, "; ", "signatures-failed=",
			  res->failed_signatures);
	if (res->unauthenticated)
		gw_buf_adds(out, "; unauthenticated-encryption=1");
	if (res->mime_too_deep)
		gw_buf_adds(out, "; mime-too-deep=1");
	return gw_buf_adds(out, eol);
}

/* Room in out for the result fields and n bytes after them at once
 * (when it fits its ceiling), not a block for the fields and another
 * when the message comes. */
#define RESULT_ROOM 1024

static int
out_room(struct gw_buf *out, size_t n)
{
	unsigned char *dst;

	if (n > out->max || RESULT_ROOM > out->max - n ||
	    out->len > out->max - n - RESULT_ROOM)
		return 0;
	return gw_buf_reserve(out, n + RESULT_ROOM, &dst);
}

/* The result fields, then cur, as out (empty; its block is wiped and
 * freed, its ceiling kept); cur is left empty. */
static int
result_in_place(const struct smime_open_opts *o,
		const struct smime_open_result *res, const char *eol,
		struct gw_buf *cur, struct gw_buf *out)
{
	struct gw_buf h;
	size_t max = out->max;
	int rc;

	gw_buf_init(&h, SMIME_MSG_MAX);
	if ((rc = result_headers(o, res, eol, &h)) != 0)
		goto done;
	if (h.len > max || cur->len > max - h.len) {
		rc = gw_err_set(GW_ERR_LIMIT,
				"more than %zu bytes (a configured ceiling)",
				max);
		goto done;
	}
	/* Into the room in front of cur when the rewrap left one. */
	if ((rc = gw_buf_prepend(cur, h.data, h.len)) != 0)
		goto done;
	gw_buf_free_secret(out);
	*out = *cur;
	out->max = max;
	gw_buf_init(cur, SMIME_MSG_MAX);
done:
	gw_buf_free(&h);
	return rc;
}

/*
 * The message without our authserv-id's result fields, otherwise byte
 * for byte, into out.  When nothing would be removed or changed
 * (*removed stays 0), that is the message itself: out gets nothing, and
 * the caller works on the message in place.
 */
static int
stripped_copy(const unsigned char *msg, size_t len,
	      const struct mime_part *root, const char *authserv,
	      struct gw_buf *out, int *removed)
{
	const struct mime_header *h;
	struct mime_range hr = mime_part_header_range(root);
	size_t i, before, n;
	int rc;

	/* The usual case, nothing to take out or change: no copy. */
	for (i = 0; i < mime_part_header_count(root); i++) {
		h = mime_part_header_at(root, i);
		if (smime_is_our_result(h, authserv) ||
		    !mime_header_field_kept(msg + mime_header_offset(h),
					    mime_header_length(h), 0))
			break;
	}
	if (i == mime_part_header_count(root))
		return 0;
	for (i = 0; i < mime_part_header_count(root); i++) {
		h = mime_part_header_at(root, i);
		if (smime_is_our_result(h, authserv)) {
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
#define REWRAP_SLACK 4096

/* The start of a rewrap: room for all of it (and for the result fields
 * that smime_open() puts in front at the end), so that it is not copied
 * as it grows, then the outer fields. */
static int
rewrap_start(const unsigned char *cur, const struct mime_part *root,
	     size_t elen, struct gw_buf *next)
{
	unsigned char *dst;
	int rc;

	if ((rc = gw_buf_reserve(next, mime_part_header_range(root).end +
					   elen + REWRAP_SLACK,
				 &dst)) != 0 ||
	    (rc = smime_outer_headers(cur, root, NULL, next)) != 0)
		return rc;
	return gw_buf_adds(next, "MIME-Version: 1.0\r\n");
}

/* The entity's own part of a rewrap: its Content-* fields and the empty
 * line into head, and where its body starts (*body). */
static int
rewrap_head(const unsigned char *entity, size_t elen, struct gw_buf *head,
	    size_t *body)
{
	struct mime_tree *t = NULL;
	int rc;

	/* Content that does not start with a header field or an empty
	 * line is not a MIME entity: give it an empty header block, so
	 * that it stays body (text/plain) instead of becoming headers. */
	if (!starts_like_entity(entity, elen)) {
		*body = 0;
		return gw_buf_adds(head, "\r\n");
	}
	if ((rc = smime_parse(entity, mime_header_block_len(entity, elen),
			      &t)) != 0)
		return rc;
	*body = mime_part_body_range(mime_tree_root(t)).start;
	if (*body > elen)
		*body = elen;
	rc = smime_entity_head(entity, mime_tree_root(t), head);
	mime_tree_free(t);
	return rc;
}

/* The entity after rewrap_start(): its head, then its body with CRLF
 * line ends. */
static int
rewrap_entity(const unsigned char *entity, size_t elen, struct gw_buf *next)
{
	size_t body;
	int rc;

	if ((rc = rewrap_head(entity, elen, next, &body)) != 0)
		return rc;
	return mime_header_add_crlf(next, entity + body, elen - body);
}

static int
rewrap(const unsigned char *cur, const struct mime_part *root,
       const unsigned char *entity, size_t elen, struct gw_buf *next)
{
	int rc;

	if ((rc = rewrap_start(cur, root, elen, next)) != 0)
		return rc;
	return rewrap_entity(entity, elen, next);
}

/*
 * The same when the entity was decrypted into b, from h on (after the
 * outer fields, or at 0 with the outer fields in pre): pre and the
 * entity's head replace its header block next to the body, in place,
 * when the body's line ends are CRLF already (as on the wire; crlf: the
 * whole entity's are, mime_crlf_scan), else the entity is copied out
 * and rewrapped as above.  The body stays where it is when the outer
 * fields and the head fit in front of it (in its header block and the
 * room in front of b, gw_buf_skip()); else it moves.
 */
static int
rewrap_in_place(struct gw_buf *b, size_t h, const struct gw_buf *pre,
		int crlf)
{
	struct gw_buf head, copy;
	unsigned char *dst;
	size_t elen = b->len - h, body, blen, at, need;
	int rc;

	gw_buf_init(&head, SMIME_MSG_MAX);
	if (pre != NULL && (rc = gw_buf_add(&head, pre->data, pre->len)) != 0)
		goto out;
	if ((rc = rewrap_head(b->data + h, elen, &head, &body)) != 0)
		goto out;
	blen = elen - body;
	if (!crlf && mime_crlf_canon_len(b->data + h + body, blen) != blen) {
		gw_buf_init(&copy, SMIME_MSG_MAX);
		if ((rc = gw_buf_add(&copy, b->data + h, elen)) == 0) {
			b->len = h;
			if (pre == NULL ||
			    (rc = gw_buf_add(b, pre->data, pre->len)) == 0)
				rc = rewrap_entity(copy.data, copy.len, b);
		}
		gw_buf_free_secret(&copy);
		goto out;
	}
	at = h + body; /* where the body starts */
	need = h + head.len;
	if (need <= at) {
		/* The outer fields and the head go right before the body;
		 * what is in front of them is skipped. */
		memmove(b->data + at - need, b->data, h);
		memcpy(b->data + at - need + h, head.data, head.len);
		gw_buf_skip(b, at - need);
		goto out;
	}
	if (h == 0 && need - at <= b->front) {
		/* The head's end over the entity's header block, its start
		 * into the room in front. */
		memcpy(b->data, head.data + need - at, at);
		rc = gw_buf_prepend(b, head.data, need - at);
		goto out;
	}
	if ((rc = gw_buf_reserve(b, need - at, &dst)) != 0)
		goto out;
	memmove(b->data + h + head.len, b->data + h + body, blen);
	memcpy(b->data + h, head.data, head.len);
	b->len = h + head.len + blen;
	b->data[b->len] = '\0';
out:
	gw_buf_free_secret(&head);
	return rc;
}

/* Whether a part's label says it may hold CMS: an S/MIME content type,
 * application/octet-stream, or a .p7m, .p7s, .p7c or .p7z file name. */
static int
may_hold_cms(const struct mime_part *p)
{
	const char *ct = mime_part_content_type(p), *fn, *ext;
	size_t n;

	if (mime_part_kind(p) != MIME_KIND_LEAF)
		return 0;
	if (is_pkcs7_mime(ct) || is_pkcs7_sig(ct) ||
	    strcmp(ct, "application/octet-stream") == 0)
		return 1;
	if ((fn = mime_part_filename(p)) == NULL || (n = strlen(fn)) < 4)
		return 0;
	ext = fn + n - 4;
	return strcasecmp(ext, ".p7m") == 0 || strcasecmp(ext, ".p7s") == 0 ||
	       strcasecmp(ext, ".p7c") == 0 || strcasecmp(ext, ".p7z") == 0;
}

/*
 * An encrypted part anywhere below the root (EFAIL direct exfiltration:
 * decrypting it would mix attacker text with the plaintext): one whose
 * label says enveloped (or leaves it open), or one that may hold CMS
 * and whose CMS content type is enveloped-data or authEnveloped-data,
 * whatever its label says (a relabelled part is still decrypted by a
 * reader that goes by the CMS object).
 */
static int
nested_encrypted(const unsigned char *msg, const struct mime_part *root)
{
	const struct mime_part *p;
	enum kind k;

	for (p = mime_part_next(root); p != NULL; p = mime_part_next(p)) {
		k = classify(p);
		if (k == K_ENVELOPED ||
		    (k == K_PKCS7 && !is_pkcs7_sig(mime_part_content_type(p))))
			return 1;
		if (may_hold_cms(p) && part_is_enveloped(msg, p))
			return 1;
	}
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
 * The outermost layer's parse: past the MIME parser's depth ceiling, a
 * multipart or message is a leaf (MIME_DEFECT_TOO_DEEP) instead of a
 * failure, so that ordinary mail nested that deep can be delivered.
 */
static int
parse_outer(const unsigned char *e, size_t n, struct mime_tree **out)
{
	struct mime_limits lim;
	struct mime_parser *mp;
	int rc;

	*out = NULL;
	mime_limits_default(&lim);
	lim.depth_as_leaf = 1;
	/* An S/MIME body is read by the base64 decoder or d2i, which
	 * refuse what they cannot take; only its range matters here. */
	lim.root_body_unread = 1;
	if ((mp = mime_parser_new(&lim)) == NULL)
		return GW_ERR_NOMEM;
	if ((rc = mime_parser_feed(mp, e, n)) == 0)
		rc = mime_parser_finish(mp, out);
	mime_parser_free(mp);
	return rc;
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
	if (depth == 0)
		return parse_outer(e, n, out);
	if ((h = mime_header_block_len(e, n)) < n) {
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

/*
 * Whether an entity (e, n bytes) is itself an S/MIME layer.  parsed:
 * the same entity as the layer's tree has it (the first part of a
 * multipart/signed), or NULL.  Its header block was parsed there over
 * the same bytes by the same parser: its content type and parameters
 * (all that classify() reads but for a multipart/signed's parts) are
 * what a parse of the entity alone gives, and are read there.  Only a
 * multipart/signed, whose parts sit deeper in that tree, is parsed on
 * its own.
 */
static int
content_is_smime(const unsigned char *e, size_t n,
		 const struct mime_part *parsed)
{
	struct mime_tree *t = NULL;
	enum kind k = K_NONE;

	if (parsed != NULL &&
	    strcmp(mime_part_content_type(parsed), "multipart/signed") != 0)
		k = classify(parsed);
	else if (parse_layer(e, n, 1, &t) == 0)
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

/* What the plaintext's BIO shows of each write: its line ends. */
static void
crlf_tap(void *arg, const unsigned char *p, size_t n)
{
	mime_crlf_scan_feed(arg, p, n);
}

/* The envelope's content decrypted, appended to plain; sc (set up by
 * the caller) looks at its line ends as they are written. */
static int
decrypt_layer(CMS_ContentInfo *cms, BIO *dcont, size_t clen,
	      const struct smime_open_opts *o, struct gw_buf *plain,
	      struct mime_crlf_scan *sc, struct smime_open_result *res)
{
	unsigned char *dst;
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
	/* The plaintext is at most the ciphertext: room for it at once,
	 * not grown (each step a copy and a wipe) as it comes. */
	if (clen > 0 && (rc = gw_buf_reserve(plain, clen, &dst)) != 0)
		goto out;
	if ((out = gw_buf_bio_tap(plain, crlf_tap, sc)) == NULL) {
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
	if (!CMS_decrypt(cms, key, cert, dcont, out,
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


/*
 * A detached signature of the common kind checked without CMS_verify()
 * (smime_sigcheck.c) over the bytes received, on what part_cms() cut
 * (a cms_peek): 1 when it passed (the signer is in res as
 * verify_layer() puts it), 0 when CMS_verify() is to check it
 * (whatever the reason: a failure is its to word), or GW_ERR_NOMEM.
 */
static int
detached_fast(const struct cms_peek *pk, const unsigned char *der, size_t n,
	      STACK_OF(X509) *certs, struct gw_buf *owned)
{
	X509 *signer = NULL;
	int rc;

	(void)owned;
	if (!smime_sigcheck(der, n, certs, pk->content, pk->clen,
			    pk->o->trust, pk->o->extra, &signer))
		return 0;
	if ((rc = signer_passed(signer, pk->from, pk->res)) == 0) {
		if (open_layer(pk->res) != NULL)
			pk->res->signatures++;
		rc = 1;
	}
	X509_free(signer);
	return rc;
}

/*
 * An opaque signature of the common kind checked without CMS_verify()
 * (smime_sigcheck_opaque()), on what part_cms() cut and decoded into
 * owned: 1 when it passed (*pk->signer, *pk->extra set, and owned
 * becomes pk->entity, cut down to the content, as CMS_verify() would
 * write it, with no copy of it made), 0 when CMS_verify() is to check
 * it (DER that is the message's own bytes, binary, included).  The
 * signer goes through signer_passed() in signed_layer(), once the
 * layer is open.
 */
static int
opaque_fast(const struct cms_peek *pk, const unsigned char *der, size_t n,
	    STACK_OF(X509) *certs, struct gw_buf *owned)
{
	const unsigned char *c;
	size_t clen, used;
	X509 *signer;
	struct gw_buf *e = pk->entity;

	if (owned == NULL ||
	    !smime_sigcheck_opaque(owned->data + (der - owned->data), n, certs,
				   pk->o->trust, pk->o->extra, &signer, &c,
				   &clen, &used))
		return 0;
	*pk->extra = der_trailing(der, used, n);
	/* The block holds the DER up to its end (its len is not kept
	 * while it is decoded into): the content is cut out of that.
	 * What entity held (a layer before, decrypted perhaps) is
	 * wiped. */
	gw_buf_free_secret(e);
	*e = *owned;
	gw_buf_init(owned, SMIME_MSG_MAX);
	e->len = (size_t)(der + n - e->data);
	gw_buf_skip(e, (size_t)(c - e->data));
	e->len = clen;
	e->data[clen] = '\0';
	*pk->signer = signer;
	return 1;
}

/* Whether the bytes hold anything but white space. */
static int
has_text(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			return 1;
	return 0;
}

/* Whether a layer of kind k (by label) is worth opaque_fast(): it may
 * be an opaque signature, and the open is not a decrypt-only one
 * (which refuses a signature at the top). */
static int
opaque_peek(enum kind k, int depth, const struct smime_open_opts *o)
{
	return (k == K_SIGNED_OPAQUE || k == K_PKCS7) &&
	       !(depth == 0 && o->only == SMIME_OPEN_DECRYPT);
}

/*
 * Checks a signed layer (root of cd) and finds its content: *ed, *el
 * (NULL when there is none to go on with), and *extra when the layer
 * carries text that its signature does not cover (after the close
 * delimiter of a multipart/signed, or after the CMS object).  A failed
 * signature still gives its content, so that the layers inside can be
 * opened.  cms holds the layer's CMS object for an opaque one, or NULL;
 * fast: the signer of an opaque one whose signature opaque_fast()
 * passed (its content then in entity, cms NULL), or NULL.  0, or a
 * GW_ERR_* code for the message; the layer's own outcome is in res.
 */
static int
signed_layer(const unsigned char *cd, const struct mime_part *root,
	     enum kind k, CMS_ContentInfo **cms, X509 *fast, int cms_extra,
	     const struct smime_open_opts *o, struct gw_buf *entity,
	     const unsigned char **ed, size_t *el, int *extra,
	     struct smime_open_result *res)
{
	const struct mime_part *from = root; /* whose From fields to cover */
	struct mime_range r, epi;
	struct cms_peek peek = {0};
	ASN1_OCTET_STRING **pos;
	int rc;

	*ed = NULL;
	*el = 0;
	*extra = 0;
	if (k == K_SIGNED_DETACHED) {
		r = mime_part_range(mime_part_child(root, 0));
		epi = mime_part_epilogue(root);
		peek.fn = detached_fast;
		peek.content = cd + r.start;
		peek.clen = r.end - r.start;
		peek.from = from;
		peek.o = o;
		peek.res = res;
		/* A signature part holds no content: nothing secret. */
		if ((rc = part_cms(cd, mime_part_child(root, 1), cms, NULL,
				   res, NULL, &peek, 0)) != 0)
			return rc == GW_ERR_PARSE ? 0 : rc;
		if (*cms != NULL &&
		    (rc = verify_detached(*cms, cd + r.start, r.end - r.start,
					  from, o, entity, res)) != 0)
			return rc;
		/* The content is the signed part, in place. */
		*ed = cd + r.start;
		*el = r.end - r.start;
		*extra = has_text(cd + epi.start, epi.end - epi.start);
		return 0;
	}
	if (fast != NULL) {
		if ((rc = signer_passed(fast, from, res)) != 0)
			return rc;
		if (open_layer(res) != NULL)
			res->signatures++;
	} else if ((rc = verify_layer(*cms, NULL, from, o, entity, res)) !=
		   0) {
		return rc;
	}
	*extra = cms_extra;
	if (open_layer(res) != NULL || fast != NULL) {
		/* Verified, or (fast) refused by the From check only: the
		 * content is in entity, exactly as it came. */
		*ed = entity->data;
		*el = entity->len;
	} else if ((pos = CMS_get0_content(*cms)) != NULL && *pos != NULL) {
		/* Not verified: the encapsulated content as it came. */
		*ed = ASN1_STRING_get0_data(*pos);
		*el = (size_t)ASN1_STRING_length(*pos);
	}
	return 0;
}

/*
 * Whether the content can be decrypted over the DER it is read from:
 * the DER is ours (decoded from base64, not the message's own bytes),
 * and nothing there is still needed: what d2i needed before the content
 * was copied out (cms_cut_content()), and the plaintext written from
 * the start never passes the ciphertext read, which begins further on
 * and is never shorter (the cipher BIO reads ahead before it writes).
 * So the message's only decoded copy becomes the plaintext.
 */
static int
in_der(const struct econt *ec)
{
	return ec->bio != NULL && ec->der.data != NULL;
}

/*
 * An envelope layer (root of cd, its CMS object cms, its content in ec
 * when cut out): decrypted, and its entity rewrapped into next (empty
 * on entry).  0 also when the layer failed (res says so; next then
 * holds nothing to deliver), or a GW_ERR_* code.
 */
static int
envelope_layer(const unsigned char *cd, const struct mime_part *root,
	       CMS_ContentInfo *cms, struct econt *ec,
	       const struct smime_open_opts *o, struct gw_buf *next,
	       struct smime_open_result *res)
{
	struct mime_crlf_scan sc;
	int over = in_der(ec) || ec->streamed, rc;
	size_t eh = 0, max;

	mime_crlf_scan_init(&sc);
	if ((rc = rewrap_start(cd, root, over ? 0 : ec->len, next)) != 0)
		return rc;
	if (ec->streamed) {
		/* Decrypted as it was decoded, in place. */
		res->decrypted++;
		sc = ec->sc;
	} else if (over) {
		/* Over its own DER, then the outer fields go in front.  The
		 * BIO reads from that block: it must never be moved, so the
		 * buffer may not grow past it (a write that would fails). */
		max = ec->der.max;
		ec->der.max = ec->der.cap - 1;
		ec->der.len = 0;
		ec->plain = 1;
		rc = decrypt_layer(cms, ec->bio, ec->len, o, &ec->der, &sc,
				   res);
		ec->der.max = max;
	} else {
		/* Into next, after its outer fields. */
		eh = next->len;
		rc = decrypt_layer(cms, ec->bio, ec->len, o, next, &sc, res);
	}
	BIO_free(ec->bio);
	ec->bio = NULL;
	if (rc != 0 || open_layer(res) == NULL)
		return rc;
	if (!over)
		return rewrap_in_place(next, eh, NULL,
				       mime_crlf_scan_done(&sc));
	if ((rc = rewrap_in_place(&ec->der, 0, next,
				  mime_crlf_scan_done(&sc))) != 0)
		return rc;
	gw_buf_free_secret(next);
	*next = ec->der;
	gw_buf_init(&ec->der, SMIME_MSG_MAX);
	ec->plain = 0;
	return 0;
}

int
smime_open(const unsigned char *msg, size_t len,
	   const struct smime_open_opts *o, struct gw_buf *out,
	   struct smime_open_result *res)
{
	struct gw_buf cur, next, entity;
	struct econt ec;
	const unsigned char *cd, *ed; /* the current layer, its content */
	size_t cl, el;
	struct mime_tree *tree = NULL;
	const struct mime_part *root;
	struct smime_layer *l;
	CMS_ContentInfo *cms = NULL;
	X509 *fast = NULL; /* an opaque signature's signer: opaque_fast() */
	struct cms_peek peek = {0};
	enum kind k;
	const char *eol = "\r\n";
	int depth, rc, changed = 0, smime_inside, removed = 0, extra = 0;
	int sig_ok, auth;
	/*
	 * Only decrypted content is secret: the input, and what was
	 * signed in it, came over the wire.  plain: entity and next may
	 * hold decrypted content (from the first decryption on, failed or
	 * not); cur_plain: cur does (from the first rewrap of it on).
	 */
	int plain = 0, cur_plain = 0;
	/*
	 * covered: a good signature covers all of the current message's
	 * entity, or an authenticated envelope made it; cbc: the content
	 * of an enveloped-data (CBC, malleable) was decrypted.
	 */
	int covered = 0, cbc = 0;

	memset(res, 0, sizeof(*res));
	res->ar = "none";
	gw_buf_init(&cur, SMIME_MSG_MAX);
	gw_buf_init(&next, SMIME_MSG_MAX);
	gw_buf_init(&entity, SMIME_MSG_MAX);
	econt_init(&ec);
	if (o->now != 0)
		X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(o->trust),
					   o->now);
	if ((rc = parse_outer(msg, len, &tree)) != 0)
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
	if (mime_part_defects_all(root) & MIME_DEFECT_TOO_DEEP) {
		/* Ordinary mail is delivered as it is, flagged; S/MIME
		 * work is not done on what the parser could not see. */
		if (classify(root) != K_NONE) {
			rc = gw_err_set(GW_ERR_LIMIT,
					"MIME nesting deeper than %u in an "
					"S/MIME message",
					MIME_LIMIT_DEPTH);
			goto out;
		}
		res->mime_too_deep = 1;
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

	/* What opaque_fast() is given, the same for every layer. */
	peek.fn = opaque_fast;
	peek.o = o;
	peek.entity = &entity;
	peek.signer = &fast;
	peek.extra = &extra;
	for (depth = 0;; depth++) {
		CMS_ContentInfo_free(cms);
		cms = NULL;
		X509_free(fast);
		fast = NULL;
		econt_free(&ec);
		gw_buf_reset(&entity);
		gw_buf_reset(&next);
		if (tree == NULL &&
		    (rc = parse_layer(cd, cl, depth, &tree)) != 0)
			goto out;
		root = mime_tree_root(tree);
		k = classify(root);
		if (depth == MAX_LAYERS && k != K_NONE) {
			fail(res, "permerror", "more than %d S/MIME layers",
			     MAX_LAYERS);
			break;
		}
		if (k == K_PKCS7 || k == K_ENVELOPED || k == K_SIGNED_OPAQUE ||
		    k == K_CERTS_ONLY) {
			/* Room in front of the DER for the outer fields,
			 * the entity's head and the result fields, should
			 * the content be decrypted over it: the body then
			 * never moves. */
			ec.room = mime_part_header_range(root).end +
				  REWRAP_SLACK;
			if ((rc = part_stream(cd, root, k, depth, o, &ec, &cms,
					      &extra)) < 0)
				goto out;
			/* An opaque signature of the common kind is checked
			 * before d2i, off the DER (opaque_fast()). */
			if (rc == 0 &&
			    (rc = part_cms(cd, root, &cms, &extra, res, &ec,
					   opaque_peek(k, depth, o) ? &peek
								     : NULL,
					   plain)) != 0) {
				if (rc != GW_ERR_PARSE)
					goto out;
				res->smime = 1;
				rc = 0;
				break;
			}
			/* The CMS content type decides; the smime-type
			 * label is only a hint. */
			k = fast != NULL ? K_SIGNED_OPAQUE : kind_of_cms(cms);
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
			if (depth == 0 && nested_encrypted(cd, root)) {
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
			layer_close(res, "neutral");
			if (res->signer_certs == NULL)
				res->signer_certs = CMS_get1_certs(cms);
			if (res->status == SMIME_OK && res->signatures == 0 &&
			    res->decrypted == 0)
				res->ar = "neutral";
			break;
		}
		if (k == K_ENVELOPED) {
			auth = OBJ_obj2nid(CMS_get0_type(cms)) ==
			       NID_id_smime_ct_authEnvelopedData;
			add_layer(res, auth ? "authEnveloped-data"
					    : "enveloped-data");
			plain = 1;
			if ((rc = envelope_layer(cd, root, cms, &ec, o, &next,
						 res)) != 0)
				goto out;
			if (open_layer(res) == NULL)
				break; /* it failed */
			layer_close(res, "decrypted");
			/* What CBC gives is what anyone who reorders its
			 * blocks wants; GCM's tag leaves nobody that. */
			covered = auth;
			cbc |= !auth;
			econt_free(&ec);
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
		if ((rc = signed_layer(cd, root, k, &cms, fast, extra, o,
				       &entity, &ed, &el, &extra, res)) != 0)
			goto out;
		if ((l = open_layer(res)) != NULL) {
			gw_str_copy(l->signer, sizeof(l->signer),
				    res->signer);
			layer_close(res, "pass");
			sig_ok = 1;
		} else {
			res->failed_signatures++;
			sig_ok = 0;
		}
		smime_inside =
		    ed != NULL &&
		    content_is_smime(ed, el,
				     k == K_SIGNED_DETACHED
					 ? mime_part_child(root, 0)
					 : NULL);
		/* A failed signature is taken off only to open what is
		 * inside it; the innermost one stays as it came. */
		if (!sig_ok && (!smime_inside || o->only == SMIME_OPEN_VERIFY))
			break;
		covered = sig_ok && !extra;
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
			/* What was not covered is gone with the layer. */
			covered = sig_ok;
		}
		if (!smime_inside || o->only == SMIME_OPEN_VERIFY)
			break;
	}
	if (res->status == SMIME_OK) {
		if (res->signatures > 0)
			res->ar = "pass";
		else if (res->decrypted > 0)
			res->ar = "none";
	}
	/* Verified: something was opened, nothing failed, and a good
	 * signature (or an authenticated envelope) covers what is
	 * delivered. */
	res->verified = res->status == SMIME_OK && res->smime && covered &&
			res->signatures + res->decrypted > 0;
	res->unauthenticated = cbc && !covered;
	/* The last layer's content (an opaque signature's entity, as
	 * large as the message) is not part of the output: gone before
	 * the output is made. */
	buf_free(&entity, plain);
	if (out->len == 0 && cd == cur.data && cl == cur.len) {
		/* The message is ours (rewrapped): the result fields go in
		 * front of it in place, and out takes it, no copy. */
		if ((rc = result_in_place(o, res, changed ? "\r\n" : eol, &cur,
					  out)) != 0)
			goto out;
		cur_plain = 0; /* cur is empty now */
	} else if ((rc = out_room(out, cl)) != 0 ||
		   (rc = result_headers(o, res, changed ? "\r\n" : eol,
					out)) != 0 ||
		   (rc = gw_buf_add(out, cd, cl)) != 0)
		goto out;
out:
	CMS_ContentInfo_free(cms);
	X509_free(fast);
	econt_free(&ec);
	mime_tree_free(tree);
	buf_free(&cur, cur_plain);
	buf_free(&next, plain);
	buf_free(&entity, plain);
	return rc;
}
