/*
 * smime_stream.h - a large base64 envelope decrypted as it is decoded.
 */
#ifndef SMIME_STREAM_H
#define SMIME_STREAM_H

#include <stddef.h>

#include <openssl/cms.h>

#include "gw_buf.h"
#include "mime_parser.h"
#include "smime_open.h"

/* Below this many base64 bytes an envelope is decoded whole first. */
#define SMIME_STREAM_OPEN_MIN ((size_t)128 << 10)

/*
 * The base64 body b64 (n bytes) of an enveloped-data part with AES-CBC
 * content, decoded a piece at a time, each piece of ciphertext decrypted
 * while it is in the cache: the DER is never held whole.  The content
 * key comes from o->find_key, as decrypt_layer() gets it.
 *
 * 1: decrypted: plain (empty on entry) holds the plaintext with room
 * bytes in front of it (gw_buf_skip()), sc has seen it, *cms is the
 * envelope's CMS object without its content, as part_cms() gives it,
 * and *extra says whether bytes other than zeros follow the object.
 * 0: not done here, nothing kept (plain wiped and empty): not such an
 * envelope, or anything failed (the key not found, the token, the
 * padding, DER that does not walk or decode); the caller then opens the
 * part the whole way, which says what is wrong in its words.
 * GW_ERR_NOMEM.
 */
int smime_stream_decrypt(const unsigned char *b64, size_t n, size_t room,
			 const struct smime_open_opts *o, struct gw_buf *plain,
			 struct mime_crlf_scan *sc, CMS_ContentInfo **cms,
			 int *extra);

/*
 * d2i of an envelope (len bytes at *q) whose encryptedContent was cut
 * out (der_cut()): NULL when it does not decode, or when it still holds
 * a content, which only an element after the cut can be (a second
 * [0], say, that OpenSSL refuses in the whole object): such an object
 * is left to be decoded whole, as it came.
 */
CMS_ContentInfo *smime_d2i_cut_envelope(const unsigned char **q, size_t len);

#endif
