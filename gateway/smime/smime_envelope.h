/*
 * smime_envelope.h - an EnvelopedData written directly, without
 * OpenSSL's CMS structures: for the common case, RSA recipients and
 * AES-CBC, where building a CMS_ContentInfo, finishing it through a
 * cipher BIO chain and encoding it twice (once for its length) costs
 * more than the RSA operation itself.
 *
 * The encoding is the DER that CMS_encrypt(), CMS_final() and
 * i2d_CMS_ContentInfo() make of the same input with the recipients set
 * up as smime_encrypt() sets them (tests/unit/test_smime_envelope.c
 * compares the two byte for byte outside the random parts): ContentInfo
 * id-envelopedData, EnvelopedData version 0, one KeyTransRecipientInfo
 * per recipient (version 0, issuerAndSerialNumber, rsaEncryption or
 * id-RSAES-OAEP with SHA-256 and MGF1-SHA-256), sorted as DER sorts a
 * SET OF, and the content as id-data in AES-CBC with PKCS#7 padding.
 */
#ifndef SMIME_ENVELOPE_H
#define SMIME_ENVELOPE_H

#include <stddef.h>

#include "gw_buf.h"
#include "smime.h"

/*
 * Whether smime_envelope_der() can write the envelope for r: its cipher
 * (NULL: AES-256-CBC) is AES-128, -192 or -256 in CBC mode and every
 * recipient's key is RSA.  1 or 0; anything else goes through OpenSSL's
 * CMS code.
 */
int smime_envelope_fits(const struct smime_recipients *r);

/*
 * Appends to der the envelope of the content made of the npieces byte
 * ranges p[i], n[i] (borrowed, read in order, never joined) for the
 * recipients r, which smime_envelope_fits() accepts: a fresh content
 * key (wiped after use) and IV, the key encrypted to each recipient
 * (PKCS#1 v1.5, or RSA-OAEP when r->oaep).  0, or GW_ERR_CRYPTO (naming
 * what failed, with OpenSSL's errors), GW_ERR_UNSUPPORTED for what does
 * not fit, GW_ERR_LIMIT past der's ceiling or GW_ERR_NOMEM; on failure
 * der's contents are as they were.
 */
int smime_envelope_der(const struct smime_recipients *r,
		       const unsigned char *const p[], const size_t n[],
		       int npieces, struct gw_buf *der);

/* Takes the next n bytes of an encoding: 0, or an error code (which
 * stops the encoding and is returned). */
typedef int (*smime_der_put)(void *arg, const unsigned char *p, size_t n);

/*
 * The same envelope as smime_envelope_der() (definite lengths, DER),
 * given to put in order as it is made instead of held whole: the part
 * before the ciphertext at once, then the ciphertext 64 KiB at a time
 * from one scratch block, so that a large envelope is never in memory
 * twice.  0 or an error as smime_envelope_der(), or put's; after a
 * failure what put was given is no envelope.
 */
int smime_envelope_stream(const struct smime_recipients *r,
			  const unsigned char *const p[], const size_t n[],
			  int npieces, smime_der_put put, void *arg);

#endif
