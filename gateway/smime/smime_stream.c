/*
 * smime_stream.c - a large base64 envelope decrypted as it is decoded.
 *
 * Decoded whole first, a 10 MiB envelope is written to memory as DER
 * and read back to be decrypted: two passes over 10 MiB that the cache
 * cannot hold, more than the decryption costs.  Here the base64 text is
 * decoded 32 KiB at a time into one scratch block and each piece of
 * ciphertext is decrypted from there, straight into the plaintext; the
 * only passes over memory left are the read of the text and the write
 * of the plaintext.
 *
 * The envelope's start (everything before the encryptedContent: the
 * recipients, the algorithm) is decoded first and given to d2i with an
 * empty content, so that OpenSSL finds the recipient and decrypts the
 * content key as for any envelope (CMS_decrypt_set1_pkey_and_peer(),
 * CMS_DEBUG_DECRYPT); the cipher context CMS_dataInit() sets up for it
 * then decrypts the segments as they come.  What follows the content
 * is kept, and at the end the envelope without its content (the same
 * DER cms_cut_content() in smime_open.c makes) must decode, as it must
 * there.
 *
 * Only a success is decided here: any failure (the key, the token, the
 * padding, DER that does not walk or decode) gives the part back to the
 * whole way, which meets the same failure and words it.  Only AES-CBC
 * enveloped-data is taken; authEnveloped-data (GCM, its tag checked at
 * the end) and other ciphers go the whole way.
 */
#include "smime_stream.h"

#include <limits.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "gw_err.h"
#include "mime_codec.h"
#include "smime.h"
#include "smime_der.h"

#define TEXT_STEP ((size_t)32 << 10)	/* base64 decoded at a time */
#define HEAD_MAX ((size_t)256 << 10)	/* DER before the content */
#define CARRY_MAX 8			/* a segment header cut in two */

/* aes-N-cbc: 2.16.840.1.101.3.4.1.{2,22,42} */
static const unsigned char aes_arc[] = {0x60, 0x86, 0x48, 0x01,
					0x65, 0x03, 0x04, 0x01};

/* The start of an envelope, up to its encryptedContent. */
struct head {
	/* ContentInfo, its [0], EnvelopedData, EncryptedContentInfo */
	struct der_wrap w[4];
	size_t cs;		/* where the encryptedContent starts */
	struct der c;		/* its header */
};

/* Whether the AlgorithmIdentifier's content (p, n) is AES-CBC with a
 * 16-byte IV. */
static int
aes_cbc(const unsigned char *p, size_t n)
{
	struct der d;
	const unsigned char *o;
	size_t at;

	if (der_hdr(p, n, &d) != 0 || p[0] != 0x06 ||
	    d.len != sizeof(aes_arc) + 1)
		return 0;
	o = p + d.hlen;
	if (memcmp(o, aes_arc, sizeof(aes_arc)) != 0 ||
	    (o[8] != 2 && o[8] != 22 && o[8] != 42))
		return 0;
	at = d.hlen + d.len;
	return der_hdr(p + at, n - at, &d) == 0 && p[at] == 0x04 &&
	       d.len == 16 && at + d.hlen + d.len == n;
}

/* A wrap's header at p[*at] (tag), not its content: *at moves past it. */
static int
open_wrap(const unsigned char *p, size_t n, size_t *at, unsigned char tag,
	  struct der_wrap *w)
{
	if (*at >= n || p[*at] != tag ||
	    der_hdr_open(p + *at, n - *at, &w->d) != 0)
		return -1;
	w->off = *at;
	*at += w->d.hlen;
	return 0;
}

/*
 * The start of an enveloped-data (p, n: what is decoded so far): 1 when
 * it holds everything up to the encryptedContent's header, 0 when it
 * may once more is decoded, -1 when it is no envelope for this file.
 */
static int
head_parse(const unsigned char *p, size_t n, struct head *h)
{
	struct der d;
	size_t at = 0, u;
	int i;

	if (open_wrap(p, n, &at, 0x30, &h->w[0]) != 0 ||
	    der_hdr(p + at, n - at, &d) != 0)
		return n < 64 ? 0 : -1;
	if (p[at] != 0x06 ||
	    !oid_is(p + at + d.hlen, d.len, oid_enveloped,
		    sizeof(oid_enveloped)))
		return -1;
	at += d.hlen + d.len;
	if (open_wrap(p, n, &at, 0xa0, &h->w[1]) != 0 ||
	    open_wrap(p, n, &at, 0x30, &h->w[2]) != 0)
		return 0;
	/* version, originatorInfo, recipientInfos: up to the first
	 * SEQUENCE, the encryptedContentInfo */
	for (i = 0; at < n && p[at] != 0x30; i++, at += u)
		if (i == 3 || p[at] == 0 || der_skip(p + at, n - at, 0, &u) != 0)
			return i == 3 || p[at] == 0 ? -1 : 0;
	if (open_wrap(p, n, &at, 0x30, &h->w[3]) != 0 ||
	    der_hdr(p + at, n - at, &d) != 0 || p[at] != 0x06)
		return 0;
	at += d.hlen + d.len; /* contentType */
	if (der_hdr(p + at, n - at, &d) != 0 || p[at] != 0x30)
		return 0;
	if (!aes_cbc(p + at + d.hlen, d.len))
		return -1;
	at += d.hlen + d.len;
	if (at >= n)
		return 0;
	if (p[at] != 0x80 && p[at] != 0xa0)
		return -1;
	if (der_hdr_open(p + at, n - at, &h->c) != 0)
		return 0;
	h->cs = at;
	/* A definite wrap must hold the content's header. */
	for (i = 0; i < 4; i++)
		if (!h->w[i].d.indef &&
		    h->w[i].off + h->w[i].d.hlen + h->w[i].d.len <
			at + h->c.hlen)
			return -1;
	return 1;
}

/*
 * The envelope with an empty encryptedContent (80 00) and nothing after
 * it, into dst (room for the head's cs bytes and 32 more): each wrap
 * ends where the content does, an indefinite one with its
 * end-of-contents, a definite one with the length that makes it so.
 */
static size_t
shell(const unsigned char *p, const struct head *h, unsigned char *dst)
{
	size_t len[4], inner = 2, from, to, o = 0;
	int i;

	for (i = 3; i >= 0; i--) {
		from = h->w[i].off + h->w[i].d.hlen;
		to = i < 3 ? h->w[i + 1].off : h->cs;
		len[i] = to - from + inner;
		inner = h->w[i].d.indef ? 2 + len[i] + 2
					: der_hdr_len(len[i]) + len[i];
	}
	for (i = 0; i < 4; i++) {
		if (h->w[i].d.indef) {
			dst[o++] = h->w[i].d.tag;
			dst[o++] = 0x80;
		} else {
			o += der_put_hdr(dst + o, h->w[i].d.tag, len[i]);
		}
		from = h->w[i].off + h->w[i].d.hlen;
		to = i < 3 ? h->w[i + 1].off : h->cs;
		memcpy(dst + o, p + from, to - from);
		o += to - from;
	}
	dst[o++] = 0x80;
	dst[o++] = 0x00;
	for (i = 3; i >= 0; i--)
		if (h->w[i].d.indef) {
			dst[o++] = 0;
			dst[o++] = 0;
		}
	return o;
}

/* ---- the content, segment by segment --------------------------------- */

struct content {
	EVP_CIPHER_CTX *ctx;
	struct mime_crlf_scan *sc;
	unsigned char *out;	/* the plaintext so far */
	size_t olen;
	size_t cap;		/* room for it */
	int prim;		/* one primitive run */
	int indef;		/* segments up to an end-of-contents */
	size_t left;		/* of the current segment (or run) */
	size_t outer;		/* of a definite constructed content */
	size_t used;		/* the content element's bytes so far */
	int done;
};

static int
decrypt(struct content *c, const unsigned char *p, size_t n)
{
	int w;

	if (c->cap - c->olen < EVP_MAX_BLOCK_LENGTH ||
	    n > c->cap - c->olen - EVP_MAX_BLOCK_LENGTH ||
	    !EVP_DecryptUpdate(c->ctx, c->out + c->olen, &w, p, (int)n))
		return -1;
	mime_crlf_scan_feed(c->sc, c->out + c->olen, (size_t)w);
	c->olen += (size_t)w;
	return 0;
}

/*
 * Takes what it can of p (n bytes of DER): *took.  Fewer than n only
 * when the content ended (the rest is what follows it) or a segment's
 * header is cut by the end of p (then fewer than CARRY_MAX are left).
 * -1 when the segments do not walk.
 */
static int
content_feed(struct content *c, const unsigned char *p, size_t n,
	     size_t *took)
{
	struct der d;
	size_t i = 0, k;

	while (i < n && !c->done) {
		if (c->left > 0) {
			k = n - i < c->left ? n - i : c->left;
			if (k > INT_MAX / 2)
				k = INT_MAX / 2;
			if (decrypt(c, p + i, k) != 0)
				return -1;
			i += k;
			c->left -= k;
			c->used += k;
			if (!c->prim && !c->indef)
				c->outer -= k;
			if (c->prim && c->left == 0)
				c->done = 1;
			continue;
		}
		if (c->prim || (!c->indef && c->outer == 0)) {
			c->done = 1;
			break;
		}
		if (c->indef && n - i >= 2 && p[i] == 0 && p[i + 1] == 0) {
			c->used += 2;
			i += 2;
			c->done = 1;
			break;
		}
		if (der_hdr_open(p + i, n - i, &d) != 0) {
			if (n - i < CARRY_MAX)
				break; /* the header goes on in the next piece */
			return -1;
		}
		if (p[i] != 0x04 || (!c->indef && d.hlen + d.len > c->outer))
			return -1;
		c->left = d.len;
		c->used += d.hlen;
		if (!c->indef)
			c->outer -= d.hlen;
		i += d.hlen;
	}
	*took = i;
	return 0;
}

/* ---- the whole ------------------------------------------------------- */

struct run {
	const unsigned char *text;	/* the base64 body */
	size_t n, at;			/* its length, and what was decoded */
	struct mime_b64_dec dec;
	int ended;			/* the decoder's last bytes given */
};

/* The next piece of the text decoded, appended to b. */
static int
run_step(struct run *r, struct gw_buf *b)
{
	size_t k = r->n - r->at < TEXT_STEP ? r->n - r->at : TEXT_STEP, got;
	unsigned char *dst;
	int rc;

	if ((rc = gw_buf_reserve(b, mime_base64_decoded_max(k + 3) + 2,
				 &dst)) != 0)
		return rc;
	if (k > 0) {
		if ((rc = mime_base64_dec_update(&r->dec, r->text + r->at, k,
						 dst,
						 mime_base64_decoded_max(k +
									 3),
						 &got)) != 0)
			return rc;
		r->at += k;
		b->len += got;
		dst += got;
	}
	if (r->at == r->n && !r->ended) {
		if ((rc = mime_base64_dec_final(&r->dec, dst, 2, &got, NULL)) !=
		    0)
			return rc;
		b->len += got;
		r->ended = 1;
	}
	return 0;
}

static int
run_done(const struct run *r)
{
	return r->ended;
}

/* The envelope's start decoded into head and read: 1, 0 (not such an
 * envelope), or a GW_ERR_*. */
static int
read_head(struct run *r, struct gw_buf *head, struct head *h)
{
	int rc, p;

	for (;;) {
		if ((rc = run_step(r, head)) != 0)
			return rc;
		if ((p = head_parse(head->data, head->len, h)) != 0)
			return p > 0;
		if (run_done(r) || head->len > HEAD_MAX)
			return 0;
	}
}

/* The key from find_key, the content key from the recipient, and the
 * cipher context set up for the content: 1, or 0. */
static int
content_key(CMS_ContentInfo *cms, const struct smime_open_opts *o,
	    BIO **chain, EVP_CIPHER_CTX **ctx)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	BIO *cb;
	int ok = 0;

	*chain = NULL;
	if (o->find_key == NULL ||
	    o->find_key(o->find_key_arg, cms, &cert, &key) != 0)
		goto out;
	/* CMS_DEBUG_DECRYPT, as decrypt_layer() sets it: a key-transport
	 * failure fails, instead of going on with a random key.  Called
	 * with nothing else, CMS_decrypt() only sets the flags. */
	if (!CMS_decrypt(cms, NULL, NULL, NULL, NULL, CMS_DEBUG_DECRYPT) ||
	    !CMS_decrypt_set1_pkey_and_peer(cms, key, cert, NULL) ||
	    (*chain = CMS_dataInit(cms, NULL)) == NULL ||
	    (cb = BIO_find_type(*chain, BIO_TYPE_CIPHER)) == NULL ||
	    BIO_get_cipher_ctx(cb, ctx) <= 0 || *ctx == NULL ||
	    EVP_CIPHER_CTX_get_mode(*ctx) != EVP_CIPH_CBC_MODE ||
	    EVP_CIPHER_CTX_is_encrypting(*ctx))
		goto out;
	ok = 1;
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	return ok;
}

/* The envelope without its content, as cms_cut_content() makes it from
 * the whole DER, decoded: *cms and *extra, or 0 when it does not. */
static int
final_object(const struct gw_buf *head, const struct head *h, size_t cu,
	     const struct gw_buf *tail, CMS_ContentInfo **cms, int *extra)
{
	struct gw_buf whole;
	const unsigned char *q, *q0;
	unsigned char *dst;
	size_t len, end;
	int k, ok = 0;

	for (k = 0; k < 4; k++) {
		end = h->w[k].off + h->w[k].d.hlen + h->w[k].d.len;
		if (!h->w[k].d.indef && end < h->cs + cu)
			return 0;
	}
	gw_buf_init(&whole, SMIME_MSG_MAX);
	if (gw_buf_reserve(&whole, h->cs + tail->len, &dst) != 0)
		goto out;
	len = der_cut(head->data, h->w, 4, h->cs, cu, tail->data, tail->len,
		      dst);
	q = q0 = dst;
	if ((*cms = smime_d2i_cut_envelope(&q, len)) == NULL)
		goto out;
	*extra = der_trailing(q0, (size_t)(q - q0), len);
	ok = 1;
out:
	gw_buf_free(&whole);
	return ok;
}

CMS_ContentInfo *
smime_d2i_cut_envelope(const unsigned char **q, size_t len)
{
	CMS_ContentInfo *cms;
	ASN1_OCTET_STRING **pos;

	if ((cms = d2i_CMS_ContentInfo(NULL, q, (long)len)) == NULL)
		return NULL;
	if ((pos = CMS_get0_content(cms)) == NULL || *pos != NULL) {
		CMS_ContentInfo_free(cms);
		return NULL;
	}
	return cms;
}

/* The envelope's start with an empty content, decoded (for the key). */
static CMS_ContentInfo *
provisional(const struct gw_buf *head, const struct head *h)
{
	CMS_ContentInfo *cms = NULL;
	struct gw_buf s;
	const unsigned char *q;
	unsigned char *dst;
	size_t len;

	gw_buf_init(&s, SMIME_MSG_MAX);
	if (gw_buf_reserve(&s, h->cs + 32, &dst) == 0) {
		len = shell(head->data, h, dst);
		q = dst;
		cms = d2i_CMS_ContentInfo(NULL, &q, (long)len);
	}
	gw_buf_free(&s);
	return cms;
}

/*
 * The content decrypted from p (n bytes: the rest of what the head
 * holds, then each piece decoded), carrying a segment header cut in
 * two into the next piece; what follows the content goes to tail.
 * 1, 0 (the segments do not walk, or the text ends in them), or a
 * GW_ERR_*.
 */
static int
read_content(struct run *r, struct content *c, const unsigned char *p,
	     size_t n, struct gw_buf *win, struct gw_buf *tail)
{
	unsigned char *dst;
	size_t took;
	int rc;

	for (;;) {
		if (content_feed(c, p, n, &took) != 0)
			return 0;
		if (c->done)
			break;
		if (run_done(r))
			return 0; /* the text ended inside the content */
		/* What is left is a header cut in two, which p (win's own
		 * data, or the head's) keeps for the next piece. */
		if (n - took >= CARRY_MAX ||
		    (rc = gw_buf_reserve(win, CARRY_MAX, &dst)) != 0)
			return n - took >= CARRY_MAX ? 0 : rc;
		memmove(win->data, p + took, n - took);
		win->len = n - took;
		if ((rc = run_step(r, win)) != 0)
			return rc;
		p = win->data;
		n = win->len;
	}
	if ((rc = gw_buf_add(tail, p + took, n - took)) != 0)
		return rc;
	while (!run_done(r))
		if ((rc = run_step(r, tail)) != 0)
			return rc;
	return 1;
}

int
smime_stream_decrypt(const unsigned char *b64, size_t n, size_t room,
		     const struct smime_open_opts *o, struct gw_buf *plain,
		     struct mime_crlf_scan *sc, CMS_ContentInfo **cms,
		     int *extra)
{
	struct run r;
	struct gw_buf head, win, tail;
	struct head h;
	struct content c;
	CMS_ContentInfo *pre = NULL;
	unsigned char *dst;
	BIO *chain = NULL;
	size_t at;
	int rc, w, ok = 0;

	*cms = NULL;
	*extra = 0;
	memset(&r, 0, sizeof(r));
	memset(&c, 0, sizeof(c));
	r.text = b64;
	r.n = n;
	mime_base64_dec_init(&r.dec);
	gw_buf_init(&head, HEAD_MAX + TEXT_STEP);
	gw_buf_init(&win, 2 * TEXT_STEP);
	gw_buf_init(&tail, SMIME_MSG_MAX);
	if ((rc = read_head(&r, &head, &h)) != 1 ||
	    (pre = provisional(&head, &h)) == NULL ||
	    !content_key(pre, o, &chain, &c.ctx))
		goto out;
	/* Room for the plaintext, never longer than the DER, in one block
	 * (and one more for the last, padded update). */
	if ((rc = gw_buf_reserve(plain, room + mime_base64_decoded_max(n) +
						2 * EVP_MAX_BLOCK_LENGTH,
				 &dst)) != 0)
		goto out;
	plain->len = room;
	gw_buf_skip(plain, room);
	c.out = plain->data;
	c.cap = plain->cap - 1; /* and the NUL */
	c.sc = sc;
	c.prim = h.c.tag == 0x80;
	c.indef = h.c.indef;
	c.left = c.prim ? h.c.len : 0;
	c.outer = c.prim || c.indef ? 0 : h.c.len;
	c.used = h.c.hlen;
	c.done = c.prim && c.left == 0;
	at = h.cs + h.c.hlen;
	if ((rc = read_content(&r, &c, head.data + at, head.len - at, &win,
			       &tail)) != 1 ||
	    !EVP_DecryptFinal_ex(c.ctx, c.out + c.olen, &w))
		goto out;
	mime_crlf_scan_feed(sc, c.out + c.olen, (size_t)w);
	c.olen += (size_t)w;
	if (!final_object(&head, &h, c.used, &tail, cms, extra))
		goto out;
	plain->len = c.olen;
	plain->data[plain->len] = '\0';
	ok = 1;
out:
	ERR_clear_error();
	gw_err_clear();
	BIO_free_all(chain); /* reads from pre: freed first */
	CMS_ContentInfo_free(pre);
	gw_buf_free(&head);
	gw_buf_free(&win);
	gw_buf_free(&tail);
	if (!ok) {
		gw_buf_free_secret(plain);
		CMS_ContentInfo_free(*cms);
		*cms = NULL;
		*extra = 0;
	}
	return rc == GW_ERR_NOMEM ? rc : ok;
}
