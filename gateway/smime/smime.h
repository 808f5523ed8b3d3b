/*
 * smime.h - S/MIME operations on whole RFC 5322 messages.
 *
 * Outgoing: smime_sign() and smime_encrypt() take a message, keep its
 * outer header fields outside (From, To, Subject, Date, Message-ID,
 * Received, ...: everything but Content-* and MIME-Version, in order),
 * move the Content-* fields and the body into the protected entity, and
 * append the new message (CRLF line ends) to out.  Private keys are
 * EVP_PKEYs from p11_key_load(): the operations run on the token.
 *
 * Defaults follow what interoperates widest (Outlook included): SHA-256,
 * RSA PKCS#1 v1.5 signatures, AES-256-CBC, RSA PKCS#1 v1.5 key
 * transport; signer certificate and chain included; signingTime and
 * SMIMECapabilities signed attributes.  Options: RSASSA-PSS (salt =
 * digest length), RSA-OAEP (SHA-256, MGF1-SHA-256), AES-GCM
 * AuthEnvelopedData (RFC 5083/5084), ECDH recipients (kari, SHA-256 KDF).
 *
 * Every function returns 0 or a GW_ERR_* code with a latched detail.
 */
#ifndef SMIME_H
#define SMIME_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "addr_rule.h"
#include "cms_alg.h"
#include "gw_buf.h"

/* Ceiling for a message taken in (a message to sign, encrypt or open). */
#define SMIME_MSG_MAX ((size_t)64 << 20)
/*
 * Ceiling for what smime makes of one: each layer of base64 adds a third
 * and line ends, so triple wrap of SMIME_MSG_MAX bytes comes to about
 * 2.6 times as much.
 */
#define SMIME_OUT_MAX (3 * SMIME_MSG_MAX)


struct smime_signer {
	X509 *cert;		/* get0 */
	EVP_PKEY *key;		/* get0: the token key */
	STACK_OF(X509) *chain;	/* get0, may be NULL */
	const EVP_MD *md;	/* NULL: SHA-256 */
	int pss;		/* RSASSA-PSS instead of PKCS#1 v1.5 */
	enum smime_sign_mode mode;
};

struct smime_recipients {
	STACK_OF(X509) *certs;	  /* get0, at least one */
	const EVP_CIPHER *cipher; /* NULL: AES-256-CBC; GCM: AuthEnveloped */
	int oaep;		  /* RSA-OAEP for RSA recipients */
};

int smime_sign(const unsigned char *msg, size_t len,
	       const struct smime_signer *signer, struct gw_buf *out);
int smime_encrypt(const unsigned char *msg, size_t len,
		  const struct smime_recipients *rcpt, struct gw_buf *out);

struct mime_tree;

/*
 * Where a message made by smime_sign_msg() or smime_encrypt_msg() splits,
 * as offsets from its first byte: [0, outer_len) are the outer header
 * fields (CRLF), then our MIME-Version field, then from entity_start to
 * the end the entity: our Content-* fields, the empty line and the body,
 * in canonical form (CRLF line ends, 7-bit).  What parsing the message
 * again would find, known from building it.
 */
struct smime_layout {
	size_t outer_len;
	size_t entity_start;
};

/*
 * A message to sign or encrypt, with what is known of it already:
 *   tree    its parse (smime_parse(); for encryption alone the header
 *           block is enough: smime_parse_header()), or
 *   layout  how smime_sign_msg() or smime_encrypt_msg() made it;
 * both NULL: the function parses it.  Borrowed.
 */
struct smime_msg {
	const unsigned char *data;
	size_t len;
	const struct mime_tree *tree;
	const struct smime_layout *layout;
};

/*
 * smime_sign() and smime_encrypt() on a message parsed or made already:
 * the same output, byte for byte, without parsing it again.  made (may
 * be NULL) gets the layout of the message appended to out, to hand the
 * result to the next operation.
 */
int smime_sign_msg(const struct smime_msg *m,
		   const struct smime_signer *signer, struct gw_buf *out,
		   struct smime_layout *made);
int smime_encrypt_msg(const struct smime_msg *m,
		      const struct smime_recipients *rcpt, struct gw_buf *out,
		      struct smime_layout *made);


/*
 * Whether cert may be used to encrypt to: RSA with keyEncipherment or
 * EC with keyAgreement when keyUsage is present (RFC 8550 4.4.2; the
 * extension is required under cert_requirements = strict:
 * cert_key_usage_allows()), and within its validity at now.  GW_ERR_REQUIREMENT naming the fault.
 */
int smime_check_recipient(X509 *cert, time_t now);


/*
 * Parses a message with the default MIME limits (GW_ERR_LIMIT or
 * GW_ERR_NOMEM only: malformed MIME is never an error).
 */
int smime_parse(const unsigned char *msg, size_t len, struct mime_tree **out);

/*
 * The same, of the header block alone (up to the first empty line),
 * unless the parser ends the block elsewhere (a delimiter line, say):
 * then of the whole message.  What encryption needs: its entity's body
 * is never looked into.
 */
int smime_parse_header(const unsigned char *msg, size_t len,
		       struct mime_tree **out);

#endif
