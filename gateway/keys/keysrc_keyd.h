/*
 * keysrc_keyd.h - the key source backend of the daemon's workers: every
 * private-key operation is a request to smimegw-keyd over a stream
 * (keyd_proto.h), so the worker never maps the PKCS#11 module, never
 * reads the PIN and holds no token session.
 *
 * keysrc_key() (load) asks keyd for the key's public half (PUBKEY) and
 * gives OpenSSL a proxy EVP_PKEY: the public key, bound to a private
 * ENGINE object of this file (never loaded from disk, never registered
 * as a default) whose EVP_PKEY_METHODs for RSA and EC are OpenSSL's own
 * (EVP_PKEY_meth_copy) with sign, decrypt and derive replaced.  Those
 * read the mechanism's parameters from the EVP_PKEY_CTX with the
 * methods' own "get" controls (padding, signature digest, PSS salt
 * length and MGF1 digest; OAEP digest, MGF1 digest and label; the ECDH
 * KDF settings: OpenSSL 3.0's EVP_PKEY_CTX_get_*() wrappers go through
 * an OSSL_PARAM translation that fails or crashes on legacy contexts)
 * and send
 * them to keyd with the digest or key transport, so CMS_sign() and
 * CMS_decrypt() run unchanged: RSA PKCS#1 v1.5 and RSASSA-PSS, ECDSA,
 * ktri with RSA v1.5 and RSA-OAEP, kari with ECDH.  The ECDH secret is
 * derived by keyd (the raw secret, as the token computes it); the X9.63
 * KDF that CMS asks for is applied here, in software.  No request ever
 * asks keyd for raw RSA, which strict HSM policies forbid.
 *
 * Why an ENGINE and not a provider: under OpenSSL 3.0 a key bound to an
 * engine's EVP_PKEY_METHOD takes the legacy path through EVP and CMS,
 * where CMS sets every parameter on the same EVP_PKEY_CTX that our
 * method reads, which is what libp11's engine relies on too (and what
 * the token backend uses in the CLI); a provider would need its own key
 * management, signature, asymmetric cipher and key exchange with the
 * CMS parameter plumbing re-done in OSSL_PARAMs, several times the code
 * for the same behaviour.  The ENGINE API goes in OpenSSL 4.0, together
 * with libp11's engine: this file and pkcs11/p11_key.c are the two
 * places that change then.
 *
 * Public keys are cached per key URI (up to KEYSRC_KEYD_CACHE), so a
 * message costs one request per private-key operation.
 *
 * Failures: keyd's own error replies come back with keyd's GW_ERR_*
 * code and detail (a token outage is temporary, an unknown key
 * GW_ERR_NOT_FOUND).  Every transport failure (keyd gone, the stream
 * closed, a reply not in time, a malformed reply) is GW_ERR_IO, which
 * is temporary (the worker answers 4xx), and closes the stream: the
 * request and reply are out of step, so every later operation of this
 * key source fails the same way until the worker gets a new one.
 * Inside OpenSSL (CMS_sign(), CMS_decrypt()) the operation fails and
 * the GW_ERR_* detail is latched (gw_err_detail()).
 *
 * One struct keysrc per thread: a stream carries one request at a time.
 */
#ifndef KEYSRC_KEYD_H
#define KEYSRC_KEYD_H

#include "keysrc.h"

#define KEYSRC_KEYD_CACHE 32
/* How long a reply may take, in milliseconds, by default. */
#define KEYSRC_KEYD_TIMEOUT_MS 30000

/*
 * A key source over fd, a stream connected to smimegw-keyd (one end of
 * a socketpair); it takes fd (closed by keysrc_free(), or on a
 * transport failure).  timeout_ms bounds the wait for each reply (0:
 * KEYSRC_KEYD_TIMEOUT_MS).  NULL when out of memory (fd is closed).
 * Proxy keys handed out may outlive the key source: their operations
 * then fail with GW_ERR_IO.
 */
struct keysrc *keysrc_keyd_new(int fd, int timeout_ms);

/*
 * The GW_ERR_* code of the last private operation of a proxy key that
 * failed in this thread (0 when none did since the last call), and
 * forgets it.  OpenSSL reports such a failure only as "the operation
 * failed": CMS_decrypt() says the same for a keyd that is gone (a
 * temporary fault) and for a key transport that does not decrypt (the
 * message's fault).  The key source's keysrc_fault() reports the
 * temporary ones through this (smime_open()'s key_fault hook, via
 * engine_key_fault()), so the pipeline defers such a message as it does
 * for the in-process token; tests call this to see every code.
 */
int keysrc_keyd_take_fault(void);

#endif
