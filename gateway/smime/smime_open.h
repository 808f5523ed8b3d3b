/*
 * smime_open.h - incoming S/MIME: find the layers, decrypt, verify.
 *
 * smime_open() peels the S/MIME layers of a message from the outside in:
 * application/(x-)pkcs7-mime enveloped-data, authEnveloped-data and
 * signed-data, multipart/signed with (x-)pkcs7-signature, certs-only.
 *
 * - Decryption needs a key: opts->find_key is asked with the CMS object
 *   and returns the certificate and (token) key of an identity that one
 *   of its RecipientInfos names (issuer+serial or subject key id).
 * - Signatures are verified with CMS over exactly the bytes received
 *   (detached) and the signer chain is validated against opts->trust
 *   for S/MIME signing at opts->now.  The signer's certificate must
 *   cover the From address (SAN email, or SAN DNS equal to or
 *   wildcard-matching its domain) when the message has one.
 * - A signature whose content is another S/MIME layer is an outer
 *   signature (triple wrap, or sign-after-encrypt): it is removed once
 *   checked, and the layer inside is opened next, whether it verified
 *   or failed (a failed outer signature does not hide the inner layers:
 *   each one is reported).  The innermost signature is retained, or
 *   removed with opts->remove_signature when it verified.
 * - Only a whole-body encrypted entity is decrypted; an encrypted part
 *   nested inside another multipart is left alone and flagged (EFAIL
 *   direct exfiltration).  Whether a part is encrypted is decided by
 *   its CMS content type whatever its label says (smime-type, content
 *   type or file name), for every part that may hold CMS.
 * - A decryption that fails because the token failed (opts->key_fault
 *   says so: a device, session or module fault) is temporary: the
 *   result's ar is "temperror" and its error the fault's code, so that
 *   the caller can defer the message instead of delivering it
 *   undecrypted.
 * - Any other layer that fails (no key, bad decrypt, a failed innermost
 *   signature, a CMS object that cannot be read) is left exactly as it
 *   was, with every layer outside it removed; a message that fails at
 *   its outermost layer comes out byte for byte unchanged apart from
 *   the result headers.
 * - Verified means that a good signature covers the whole delivered
 *   entity: the retained or removed signature is the entity itself (no
 *   part or text around it, no text after its close delimiter or after
 *   its CMS object), or the entity came out of an authenticated
 *   envelope (authEnveloped-data).  Content of an envelope without
 *   authentication (enveloped-data: CBC, malleable without the key) is
 *   never verified by itself: unless a good signature inside it covers
 *   the entity, res->unauthenticated is set.
 * - Ceilings: at most SMIME_OPEN_MAX_LAYERS layers are opened (one more
 *   is a permerror, left in place); a SignedData with more than
 *   SMIME_OPEN_MAX_CERTS certificates or SMIME_OPEN_MAX_SIGNERS signers
 *   is refused (GW_ERR_LIMIT) before it is parsed.  A message nested
 *   deeper than the MIME parser's max_depth is parsed up to it and
 *   delivered with res->mime_too_deep when its body is no S/MIME layer;
 *   when it is one, that is GW_ERR_LIMIT as before.
 * - The certificates of a SignedData are decoded through the process's
 *   cache (cert_cache_shared(), lib/cert_cache.h): a certificate
 *   met before, byte for byte, is not decoded again.  Only the decoding
 *   is saved; the signer chain, its times and the signatures are checked
 *   for every message.  The certificates in signer_certs,
 *   unverified_certs and the CMS object may therefore be shared with the
 *   cache and other messages: read them, never change them.
 *
 * The output starts with an Authentication-Results field (RFC 8601)
 * with the smime method of RFC 7281, one result per signature met
 * (outermost first) and one for a failure of another kind, or a single
 * one (none, neutral, permerror) when there is neither; then an
 * X-SMIME-Gateway field with the smime-gateway-message and
 * smime-gateway-verified flags and the others of res.  Every
 * X-SMIME-Gateway field that arrived, and every Authentication-Results
 * field that arrived bearing opts->authserv_id in any spelling a reader
 * could take for it, is dropped first (smime_is_our_result()).
 *
 * A signature passes only when each signer's certificate covers every
 * mailbox of every From field of the message (smime_from_covered());
 * a From field that is not an RFC 5322 address list, or names no
 * mailbox, fails it.
 *
 * Returns 0 when the result is written (whatever the S/MIME outcome:
 * see res->status), or a GW_ERR_* code when no output could be made
 * (input over the ceiling, out of memory).
 */
#ifndef SMIME_OPEN_H
#define SMIME_OPEN_H

#include <stddef.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/x509.h>

#include "gw_buf.h"

#define SMIME_OPEN_MAX_LAYERS 8
#define SMIME_OPEN_MAX_CERTS 64		/* per SignedData */
#define SMIME_OPEN_MAX_SIGNERS 16	/* per SignedData */

enum smime_open_only {
	SMIME_OPEN_ALL,
	SMIME_OPEN_DECRYPT, /* one layer, which must be encrypted */
	SMIME_OPEN_VERIFY,  /* one layer, which must be signed */
};

/* Returns 0 and get1 cert and key of a matching identity; GW_ERR_NOT_FOUND
 * when none matches; another GW_ERR_* (e.g. token trouble) to fail. */
typedef int (*smime_find_key_fn)(void *arg, CMS_ContentInfo *cms,
				 X509 **cert, EVP_PKEY **key);

/* Asked, when a decryption with a key from find_key failed, whether the
 * key's backend failed (a token fault): its GW_ERR_* (temporary), with
 * a latched detail, or 0 when the message is to blame.  Called before
 * OpenSSL's error queue is cleared. */
typedef int (*smime_key_fault_fn)(void *arg);

/* Asked before a SignedData is verified: may add to extra the
 * certificates of its signers that the message does not carry (the
 * pinned public keys, read by issuer and serial or subject key
 * identifier: engine_find_signers()).  0, or a GW_ERR_* (a store
 * fault) that ends the open with that error. */
typedef int (*smime_find_signers_fn)(void *arg, CMS_ContentInfo *cms,
				     STACK_OF(X509) *extra);

struct smime_open_opts {
	X509_STORE *trust;	/* get0: trust anchors for signers */
	STACK_OF(X509) *extra;	/* get0, may be NULL: untrusted helpers */
	smime_find_signers_fn find_signers; /* may be NULL; needs extra */
	void *find_signers_arg;
	int remove_signature;
	const char *authserv_id;
	time_t now;		/* 0: time(NULL) */
	enum smime_open_only only;
	smime_find_key_fn find_key;
	void *find_key_arg;
	smime_key_fault_fn key_fault; /* may be NULL; arg: find_key_arg */
};

enum smime_status {
	SMIME_OK = 0,	  /* every layer decrypted and verified */
	SMIME_FAILED = 1, /* some layer failed; see reason */
	SMIME_WRONG_KIND = 2, /* decrypt/verify only: not that kind */
};

/* One layer met, outermost first. */
struct smime_layer {
	char kind[24];		/* enveloped-data, authEnveloped-data,
				 * signed-data, certs-only, unsupported */
	const char *result;	/* pass, fail, permerror, temperror (an AR
				 * smime result), decrypted, neutral */
	char signer[256];	/* pass: the identity that covers From */
	char reason[512];	/* why it failed, or "" */
};

struct smime_open_result {
	enum smime_status status;
	int smime;		/* smime-gateway-message */
	int verified;		/* smime-gateway-verified */
	int decrypted;		/* layers decrypted */
	int signatures;		/* signatures verified */
	int efail;		/* nested encrypted part left alone */
	int failed_signatures;	/* signatures that failed (each reported) */
	int unauthenticated;	/* content of an enveloped-data (CBC) that
				 * no good signature inside covers */
	int mime_too_deep;	/* MIME nested deeper than the parser's
				 * ceiling: not looked into below it */
	struct smime_layer layer[SMIME_OPEN_MAX_LAYERS + 1];
	int nlayers;
	int failed_layer;	/* 1-based index in layer[] of the layer
				 * that failed first; 0: none, or the
				 * first failure is no layer's (EFAIL) */
	const char *ar;		/* none, pass, fail, neutral, permerror, temperror */
	char signer[256];	/* identity of the (last) verified signer */
	char layers[128];	/* e.g. "enveloped-data,signed-data" */
	char reason[512];	/* why it failed (the first failure), for
				 * people */
	int error;		/* the GW_ERR_* code behind a failure that was
				 * not the message's fault (gw_err_class()
				 * tells a token outage from the rest); 0 */
	STACK_OF(X509) *signer_certs; /* get1: signers seen; caller frees */
	STACK_OF(X509) *unverified_certs; /* get1: signers of signatures
					   * that failed (harvesting on
					   * failure); caller frees */
};

void smime_open_result_free(struct smime_open_result *res);

struct cert_cache;

/* The cache of decoded certificates smime_open() uses: the process's
 * (cert_cache_shared()); NULL when out of memory: then every
 * certificate is decoded. */
struct cert_cache *smime_open_cert_cache(void);

int smime_open(const unsigned char *msg, size_t len,
	       const struct smime_open_opts *opts, struct gw_buf *out,
	       struct smime_open_result *res);

#endif
