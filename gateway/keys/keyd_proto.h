/*
 * keyd_proto.h - the requests a mail worker sends to smimegw-keyd and
 * the replies it gets: the one definition of the key protocol, used by
 * both ends (gateway/keyd/ serves it, keysrc_keyd.c speaks it).
 *
 * Every message is one lib/ipc.h frame; the frame's request id pairs a
 * reply with its request (the worker numbers its requests; keyd copies
 * the id into the reply).  The set of requests is closed:
 *
 *   KEYD_PUBKEY   uri                          -> the public key (DER
 *                                                 SubjectPublicKeyInfo)
 *   KEYD_SIGN     uri, md, pad, saltlen, mgf1, digest -> the signature
 *   KEYD_DECRYPT  uri, pad, oaep md, mgf1, label, blob -> the plaintext
 *   KEYD_DERIVE   uri, peer public key (DER)   -> the raw ECDH secret
 *
 * and every reply is KEYD_OK (bytes) or KEYD_ERROR (a GW_ERR_* code,
 * its class, a detail for the log).  Field by field, in order:
 *
 *   PUBKEY   bytes uri
 *   SIGN     bytes uri | u32 md nid | u32 pad | u32 saltlen (int32:
 *            -1 = the digest's length) | u32 mgf1 nid | bytes digest
 *   DECRYPT  bytes uri | u32 pad | u32 oaep md nid | u32 mgf1 nid |
 *            bytes label | bytes blob
 *   DERIVE   bytes uri | bytes peer
 *   OK       bytes result
 *   ERROR    u32 -code | u32 class (enum gw_err_class) | bytes detail
 *
 * NIDs are OpenSSL's, which both ends share (one build, one libcrypto);
 * keyd accepts only the digests below and refuses anything else.
 *
 * Caps: the key URI KEYD_URI_MAX, a digest KEYSRC_DIGEST_MAX, a key
 * transport KEYSRC_BLOB_MAX, an OAEP label KEYD_LABEL_MAX, a public key
 * KEYD_PUBKEY_MAX, a detail KEYD_DETAIL_MAX (longer ones are cut), and
 * the frame itself IPC_MAX_PAYLOAD.
 */
#ifndef KEYD_PROTO_H
#define KEYD_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "ipc.h"
#include "keysrc.h"

#define KEYD_URI_MAX 1024
#define KEYD_LABEL_MAX 256
#define KEYD_PUBKEY_MAX 4096
#define KEYD_DETAIL_MAX 1024

enum keyd_type {
	KEYD_PUBKEY = 1,
	KEYD_SIGN = 2,
	KEYD_DECRYPT = 3,
	KEYD_DERIVE = 4,
	KEYD_OK = 64,
	KEYD_ERROR = 65,
	/* keyd -> smimegwd's master on its --status-fd, never on a
	 * worker's stream: bytes state ("up", "down", "refused",
	 * "reopening") | bytes detail (why it is not up). */
	KEYD_STATUS = 96,
};

/* A request as keyd reads it.  Pointers are borrowed from the frame
 * (valid until ipc_frame_free()). */
struct keyd_req {
	uint32_t type;
	uint32_t id;
	char uri[KEYD_URI_MAX + 1];
	struct keysrc_sign_params sign;	   /* KEYD_SIGN */
	struct keysrc_decrypt_params dec;  /* KEYD_DECRYPT (label inside) */
	const unsigned char *data;	   /* digest, blob or peer key */
	size_t len;
};

/* The name of a request or reply type, "unknown" for others. */
const char *keyd_type_name(uint32_t type);

/*
 * Builders (the worker's side).  m is initialised here; free it with
 * ipc_msg_free() whatever the result.  Return 0 or the builder's
 * latched failure; GW_ERR_LIMIT when a field is over its cap.
 */
int keyd_req_pubkey(struct ipc_msg *m, uint32_t id, const char *uri);
int keyd_req_sign(struct ipc_msg *m, uint32_t id, const char *uri,
		  const struct keysrc_sign_params *p,
		  const unsigned char *dgst, size_t dlen);
int keyd_req_decrypt(struct ipc_msg *m, uint32_t id, const char *uri,
		     const struct keysrc_decrypt_params *p,
		     const unsigned char *in, size_t inlen);
int keyd_req_derive(struct ipc_msg *m, uint32_t id, const char *uri,
		    const unsigned char *peer, size_t peerlen);

/*
 * Reads a request (keyd's side).  Returns:
 *   0                    *r filled;
 *   GW_ERR_UNSUPPORTED   a type outside the closed set (nothing read:
 *                        refuse it with an error reply);
 *   GW_ERR_LIMIT         a field over its cap;
 *   GW_ERR_INVALID       a parameter outside what keyd accepts (a
 *                        digest, a padding);
 *   GW_ERR_PARSE         a malformed frame (missing, extra or mistyped
 *                        fields): close the connection.
 * Each with a detail.  r->type and r->id are set in every case.
 */
int keyd_req_read(struct ipc_frame *f, struct keyd_req *r);

/* Replies (keyd's side); m as for the builders. */
int keyd_reply_ok(struct ipc_msg *m, uint32_t id, const unsigned char *p,
		  size_t n);
int keyd_reply_error(struct ipc_msg *m, uint32_t id, int code,
		     const char *detail);

/*
 * Reads the reply to request id (the worker's side).  Returns 0 when
 * the reply is well formed: *code is 0 and *p, *n (borrowed from f)
 * hold KEYD_OK's result, or *code is keyd's GW_ERR_* code
 * (GW_ERR_INTERNAL for a number that is not one) with keyd's detail
 * latched as "smimegw-keyd: DETAIL".  GW_ERR_PARSE for anything else
 * (wrong id or type, malformed): the stream is then out of step and
 * must be closed.
 */
int keyd_reply_read(struct ipc_frame *f, uint32_t id, int *code,
		    const unsigned char **p, size_t *n);

#endif
