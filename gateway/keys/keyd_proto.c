/* keyd_proto.c - the key protocol between workers and smimegw-keyd
 * (keyd_proto.h). */
#include "keyd_proto.h"

#include <string.h>

#include <openssl/obj_mac.h>

#include "gw_err.h"

const char *
keyd_type_name(uint32_t type)
{
	switch (type) {
	case KEYD_PUBKEY:
		return "PUBKEY";
	case KEYD_SIGN:
		return "SIGN";
	case KEYD_DECRYPT:
		return "DECRYPT";
	case KEYD_DERIVE:
		return "DERIVE";
	case KEYD_OK:
		return "OK";
	case KEYD_ERROR:
		return "ERROR";
	case KEYD_STATUS:
		return "STATUS";
	default:
		return "unknown";
	}
}

/* ---- building requests ------------------------------------------------- */

static int
put_uri(struct ipc_msg *m, const char *uri)
{
	size_t n = strlen(uri);

	if (n == 0 || n > KEYD_URI_MAX)
		return m->err = gw_err_set(GW_ERR_LIMIT,
					   "a key URI of %zu bytes (1-%d)", n,
					   KEYD_URI_MAX);
	return ipc_put_bytes(m, uri, n);
}

int
keyd_req_pubkey(struct ipc_msg *m, uint32_t id, const char *uri)
{
	ipc_msg_init(m, KEYD_PUBKEY, id);
	return put_uri(m, uri);
}

int
keyd_req_sign(struct ipc_msg *m, uint32_t id, const char *uri,
	      const struct keysrc_sign_params *p, const unsigned char *dgst,
	      size_t dlen)
{
	ipc_msg_init(m, KEYD_SIGN, id);
	if (dlen == 0 || dlen > KEYSRC_DIGEST_MAX)
		return m->err = gw_err_set(GW_ERR_LIMIT,
					   "a digest to sign is %zu bytes "
					   "(1-%d)", dlen, KEYSRC_DIGEST_MAX);
	put_uri(m, uri);
	ipc_put_u32(m, (uint32_t)p->md_nid);
	ipc_put_u32(m, (uint32_t)p->pad);
	ipc_put_u32(m, (uint32_t)(int32_t)p->pss_saltlen);
	ipc_put_u32(m, (uint32_t)p->mgf1_md_nid);
	return ipc_put_bytes(m, dgst, dlen);
}

int
keyd_req_decrypt(struct ipc_msg *m, uint32_t id, const char *uri,
		 const struct keysrc_decrypt_params *p,
		 const unsigned char *in, size_t inlen)
{
	ipc_msg_init(m, KEYD_DECRYPT, id);
	if (inlen == 0 || inlen > KEYSRC_BLOB_MAX)
		return m->err = gw_err_set(GW_ERR_LIMIT,
					   "a key transport is %zu bytes "
					   "(1-%d)", inlen, KEYSRC_BLOB_MAX);
	if (p->labellen > KEYD_LABEL_MAX)
		return m->err = gw_err_set(GW_ERR_LIMIT,
					   "an OAEP label of %zu bytes (at "
					   "most %d)", p->labellen,
					   KEYD_LABEL_MAX);
	put_uri(m, uri);
	ipc_put_u32(m, (uint32_t)p->pad);
	ipc_put_u32(m, (uint32_t)p->oaep_md_nid);
	ipc_put_u32(m, (uint32_t)p->mgf1_md_nid);
	ipc_put_bytes(m, p->label, p->labellen);
	return ipc_put_bytes(m, in, inlen);
}

int
keyd_req_derive(struct ipc_msg *m, uint32_t id, const char *uri,
		const unsigned char *peer, size_t peerlen)
{
	ipc_msg_init(m, KEYD_DERIVE, id);
	if (peerlen == 0 || peerlen > KEYD_PUBKEY_MAX)
		return m->err = gw_err_set(GW_ERR_LIMIT,
					   "a peer public key of %zu bytes "
					   "(1-%d)", peerlen, KEYD_PUBKEY_MAX);
	put_uri(m, uri);
	return ipc_put_bytes(m, peer, peerlen);
}

/* ---- reading requests -------------------------------------------------- */

/* The digests keyd signs with and uses for OAEP and MGF1. */
static int
md_allowed(uint32_t nid)
{
	switch (nid) {
	case NID_sha1:
	case NID_sha224:
	case NID_sha256:
	case NID_sha384:
	case NID_sha512:
		return 1;
	default:
		return 0;
	}
}

/*
 * The value checks run after ipc_end(), so that a malformed frame is
 * always GW_ERR_PARSE (close) and a well-formed but unacceptable one
 * always an error reply.
 */
static int
check_sign(struct keyd_req *r, uint32_t md, uint32_t pad, uint32_t salt,
	   uint32_t mgf1)
{
	int32_t s = (int32_t)salt;

	if (!md_allowed(md))
		return gw_err_set(GW_ERR_INVALID,
				  "SIGN: digest NID %u is not offered", md);
	if (r->len != (size_t)(md == NID_sha1	  ? 20
			       : md == NID_sha224 ? 28
			       : md == NID_sha256 ? 32
			       : md == NID_sha384 ? 48
						  : 64))
		return gw_err_set(GW_ERR_INVALID,
				  "SIGN: a digest of %zu bytes for NID %u",
				  r->len, md);
	if (pad != KEYSRC_PAD_PKCS1 && pad != KEYSRC_PAD_PSS &&
	    pad != KEYSRC_PAD_NONE)
		return gw_err_set(GW_ERR_INVALID,
				  "SIGN: padding %u is not offered", pad);
	if (pad == KEYSRC_PAD_PSS &&
	    ((s < 0 && s != -1) || s > KEYSRC_BLOB_MAX ||
	     (mgf1 != 0 && !md_allowed(mgf1))))
		return gw_err_set(GW_ERR_INVALID,
				  "SIGN: PSS salt length %d or MGF1 NID %u "
				  "refused", (int)s, mgf1);
	r->sign.md_nid = (int)md;
	r->sign.pad = (enum keysrc_pad)pad;
	r->sign.pss_saltlen = s;
	r->sign.mgf1_md_nid = (int)mgf1;
	return 0;
}

static int
check_decrypt(struct keyd_req *r, uint32_t pad, uint32_t md, uint32_t mgf1,
	      size_t labellen)
{
	if (pad != KEYSRC_PAD_PKCS1 && pad != KEYSRC_PAD_OAEP)
		return gw_err_set(GW_ERR_INVALID,
				  "DECRYPT: padding %u is not offered", pad);
	if ((md != 0 && !md_allowed(md)) || (mgf1 != 0 && !md_allowed(mgf1)))
		return gw_err_set(GW_ERR_INVALID,
				  "DECRYPT: OAEP digest NID %u or MGF1 NID "
				  "%u refused", md, mgf1);
	if (labellen > KEYD_LABEL_MAX)
		return gw_err_set(GW_ERR_LIMIT,
				  "DECRYPT: an OAEP label of %zu bytes (at "
				  "most %d)", labellen, KEYD_LABEL_MAX);
	if (r->len == 0 || r->len > KEYSRC_BLOB_MAX)
		return gw_err_set(GW_ERR_LIMIT,
				  "DECRYPT: a key transport of %zu bytes "
				  "(1-%d)", r->len, KEYSRC_BLOB_MAX);
	r->dec.pad = (enum keysrc_pad)pad;
	r->dec.oaep_md_nid = (int)md;
	r->dec.mgf1_md_nid = (int)mgf1;
	return 0;
}

int
keyd_req_read(struct ipc_frame *f, struct keyd_req *r)
{
	const unsigned char *uri = NULL;
	size_t urilen = 0;
	uint32_t a = 0, b = 0, c = 0, d = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	r->type = ipc_frame_type(f);
	r->id = ipc_frame_id(f);
	if (r->type < KEYD_PUBKEY || r->type > KEYD_DERIVE)
		return gw_err_set(GW_ERR_UNSUPPORTED,
				  "request type %u is not one keyd serves",
				  r->type);
	ipc_get_bytes(f, &uri, &urilen);
	switch (r->type) {
	case KEYD_PUBKEY:
		break;
	case KEYD_SIGN:
		ipc_get_u32(f, &a);
		ipc_get_u32(f, &b);
		ipc_get_u32(f, &c);
		ipc_get_u32(f, &d);
		ipc_get_bytes(f, &r->data, &r->len);
		break;
	case KEYD_DECRYPT:
		ipc_get_u32(f, &a);
		ipc_get_u32(f, &b);
		ipc_get_u32(f, &c);
		ipc_get_bytes(f, &r->dec.label, &r->dec.labellen);
		ipc_get_bytes(f, &r->data, &r->len);
		break;
	default: /* KEYD_DERIVE */
		ipc_get_bytes(f, &r->data, &r->len);
		break;
	}
	if ((rc = ipc_end(f)) != 0)
		return rc;
	if (urilen == 0 || urilen > KEYD_URI_MAX ||
	    memchr(uri, '\0', urilen) != NULL)
		return gw_err_set(GW_ERR_LIMIT,
				  "%s: a key URI of %zu bytes (1-%d, no NUL)",
				  keyd_type_name(r->type), urilen,
				  KEYD_URI_MAX);
	memcpy(r->uri, uri, urilen);
	r->uri[urilen] = '\0';
	switch (r->type) {
	case KEYD_SIGN:
		if (r->len == 0 || r->len > KEYSRC_DIGEST_MAX)
			return gw_err_set(GW_ERR_LIMIT,
					  "SIGN: a digest of %zu bytes (1-%d)",
					  r->len, KEYSRC_DIGEST_MAX);
		return check_sign(r, a, b, c, d);
	case KEYD_DECRYPT:
		return check_decrypt(r, a, b, c, r->dec.labellen);
	case KEYD_DERIVE:
		if (r->len == 0 || r->len > KEYD_PUBKEY_MAX)
			return gw_err_set(GW_ERR_LIMIT,
					  "DERIVE: a peer key of %zu bytes "
					  "(1-%d)", r->len, KEYD_PUBKEY_MAX);
		return 0;
	default:
		return 0;
	}
}

/* ---- replies ----------------------------------------------------------- */

int
keyd_reply_ok(struct ipc_msg *m, uint32_t id, const unsigned char *p,
	      size_t n)
{
	ipc_msg_init(m, KEYD_OK, id);
	return ipc_put_bytes(m, p, n);
}

int
keyd_reply_error(struct ipc_msg *m, uint32_t id, int code,
		 const char *detail)
{
	size_t n = detail == NULL ? 0 : strlen(detail);

	if (n > KEYD_DETAIL_MAX)
		n = KEYD_DETAIL_MAX;
	if (code >= 0)
		code = GW_ERR_INTERNAL;
	ipc_msg_init(m, KEYD_ERROR, id);
	ipc_put_u32(m, (uint32_t)-code);
	ipc_put_u32(m, (uint32_t)gw_err_class(code));
	return ipc_put_bytes(m, detail, n);
}

/* Whether c is one of our codes. */
static int
known_code(int c)
{
	return c < 0 && strcmp(gw_strerror(c), gw_strerror(-1000)) != 0;
}

int
keyd_reply_read(struct ipc_frame *f, uint32_t id, int *code,
		const unsigned char **p, size_t *n)
{
	const unsigned char *d = NULL;
	uint32_t c = 0, cls = 0;
	size_t dn = 0;
	int rc;

	*code = 0;
	*p = NULL;
	*n = 0;
	if (ipc_frame_id(f) != id)
		return gw_err_set(GW_ERR_PARSE,
				  "smimegw-keyd answered request %u, not %u",
				  ipc_frame_id(f), id);
	if (ipc_frame_type(f) == KEYD_OK) {
		ipc_get_bytes(f, p, n);
		if ((rc = ipc_end(f)) != 0) {
			*p = NULL;
			*n = 0;
		}
		return rc;
	}
	if (ipc_frame_type(f) != KEYD_ERROR)
		return gw_err_set(GW_ERR_PARSE,
				  "smimegw-keyd answered with frame type %u",
				  ipc_frame_type(f));
	ipc_get_u32(f, &c);
	ipc_get_u32(f, &cls);
	ipc_get_bytes(f, &d, &dn);
	if ((rc = ipc_end(f)) != 0)
		return rc;
	if (dn > KEYD_DETAIL_MAX)
		dn = KEYD_DETAIL_MAX;
	*code = c == 0 || c > 1000 || !known_code(-(int)c) ? GW_ERR_INTERNAL
							    : -(int)c;
	gw_err_set(*code, "smimegw-keyd: %.*s", (int)dn, (const char *)d);
	return 0;
}
