/*
 * engine.h - the S/MIME engine bound to the gateway's stores and token:
 * what "smimegw message", "smimegw process" and the daemon-to-be share.
 *
 *   engine_sign()      signs with an identity after the checks the
 *                      reference asks for (usage, validity, From
 *                      covered), the key used through the token;
 *   engine_find_key()  the smime_find_key_fn that picks the identity a
 *                      message is encrypted to;
 *   engine_trust()     the trust anchors for incoming signatures.
 *
 * Functions return 0 or a negative GW_ERR_* with a latched detail.
 */
#ifndef ENGINE_H
#define ENGINE_H

#include <stddef.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/x509.h>

#include "gw_buf.h"
#include "gw_store.h"
#include "keysrc.h"
#include "smime.h"

struct mime_part;

/* What the engine works with: the store (identities, keys, CAs) and
 * the key source (private keys), both borrowed; and the identity that
 * decrypts for any recipient (smimegw.conf decrypt_catch_all; NULL or
 * "": none). */
struct engine {
	struct gw_store *store;
	struct keysrc *keys;
	const char *decrypt_catch_all;
};

/*
 * engine_find_key()'s argument: the engine and the message's envelope
 * recipients.  An identity decrypts only for the recipients it covers
 * (keysrc_for), or as the engine's catch-all; any lets every identity
 * decrypt ("message open" without a recipient: an administrator's
 * tool, never the mail path).
 */
struct engine_open_for {
	const struct engine *e;
	const char *const *rcpt;
	size_t nrcpt;
	int any;
};

struct engine_sign_opts {
	const char *identity;	/* the identity's name */
	const EVP_MD *md;	/* NULL: SHA-256 */
	int pss;
	enum smime_sign_mode mode;
	time_t now;		/* 0: time(NULL) */
	const struct mime_part *from_hdr; /* get0: the part whose From
				   fields to cover; NULL: m's own */
};

/*
 * Signs the message m (smime_sign_msg(): its parse or layout is used
 * when given; made may be NULL) with the identity o->identity.  The
 * identity must cover every mailbox of every From field
 * (mime_addr_from_each()) of o->from_hdr, else of m (then m is parsed
 * here unless m->tree is set, once for both).  Refusals (GW_ERR_NOT_FOUND,
 * GW_ERR_REQUIREMENT, GW_ERR_EXPIRED, GW_ERR_INVALID: no From field)
 * name the field ("--cert: ...") so a CLI can print them as they are;
 * GW_ERR_PARSE / GW_ERR_LIMIT: a From field is not an address list
 * (mime_addr.h); token failures are the GW_ERR_P11_* codes.
 */
int engine_sign(const struct engine *e, const struct engine_sign_opts *o,
		const struct smime_msg *m, struct gw_buf *out,
		struct smime_layout *made);

/* smime_find_key_fn; arg is a struct engine_open_for.  The identity
 * is read in a transaction of its own, closed before the key source
 * works.  GW_ERR_NOT_FOUND, with a detail, when the message is
 * encrypted to an identity that may not decrypt it for these
 * recipients (keysrc_find_recipient()). */
int engine_find_key(void *arg, CMS_ContentInfo *cms, X509 **cert,
		    EVP_PKEY **key);

/* smime_key_fault_fn; arg is the struct engine_open_for, as for
 * engine_find_key(): the key source's fault
 * (keysrc_fault()) behind a failed decryption, or 0. */
int engine_key_fault(void *arg);

/*
 * Trust anchors read in txn: ca_file (may be NULL), the gateway's own
 * identities, the trusted CAs, the partners' public keys that may
 * verify (pinned: trusted as they are) and, with system, the system's
 * default trust store.  Partial chains are allowed (an anchored
 * intermediate or a pinned end-entity certificate is enough).  *extra
 * gets those public keys again, for signers whose message does not
 * carry their certificate (smime_open_opts.extra).
 *
 * In a store of format 3 (addr_index.h) the identities, CAs and public
 * keys are not read here: the returned store has a lookup that reads,
 * from e's store, the anchors of a subject name when the chain building
 * asks for it, and engine_find_signers() (smime_open_opts.find_signers, arg e)
 * adds a signer's pinned key to *extra by its issuer and serial or
 * subject key identifier.  A store error in the lookup makes it find
 * nothing; engine_trust_fault() then returns that error (with its
 * detail), which the caller reports instead of the result.  The
 * returned store reads e->store until it is freed.
 *
 * A pinned public key is trusted for itself only: a chain whose trust
 * anchor is a pinned key and that goes beyond it (a certificate the
 * pinned key issued) fails with X509_V_ERR_INVALID_CA, whatever its
 * basicConstraints say, unless the same certificate is also a trusted
 * CA (ca_file or "ca add").  The store's verify callback does that;
 * the store must not be given another.
 */
int engine_trust(const struct engine *e, struct gw_txn *txn,
		 const char *ca_file, int system, X509_STORE **out,
		 STACK_OF(X509) **extra);
int engine_find_signers(void *arg, CMS_ContentInfo *cms,
			STACK_OF(X509) *extra);
/* 0, or the store error a lookup of store met (GW_ERR_*, detail set). */
int engine_trust_fault(X509_STORE *store);

#endif
