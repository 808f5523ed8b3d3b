/*
 * smime_signed.h - a SignedData with a detached signature written
 * directly, without OpenSSL's CMS structures: for the common case, an
 * RSA key signing with PKCS#1 v1.5 and SHA-256, -384 or -512, where
 * building a CMS_ContentInfo, finishing it through a digest BIO and
 * encoding it twice (once for its length) costs as much as everything
 * else of a signature but the token's RSA operation.
 *
 * The encoding is the DER that CMS_sign(), CMS_add1_signer(),
 * CMS_add1_cert(), CMS_final() and i2d_CMS_ContentInfo() make of the
 * same input with CMS_PARTIAL | CMS_BINARY | CMS_DETACHED, as
 * smime.c's sign_der() calls them (tests/unit/test_smime_signed.c
 * compares the two byte for byte, the same signing time given to
 * both): ContentInfo id-signedData, SignedData version 1, the digest
 * algorithm without parameters (RFC 5754), id-data without content,
 * the signer's certificate and the chain's sorted as DER sorts a SET
 * OF, and one SignerInfo: version 1, issuerAndSerialNumber, the signed
 * attributes contentType, signingTime, messageDigest and our
 * smimeCapabilities (smime_signed_caps()), rsaEncryption with NULL
 * parameters, and
 * the signature over the attributes' DER (RFC 5652 5.4).
 */
#ifndef SMIME_SIGNED_H
#define SMIME_SIGNED_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

#include "gw_buf.h"
#include "smime.h"

/*
 * Whether smime_signed_der() can sign for s with md: PKCS#1 v1.5
 * (s->pss == 0), an RSA key (a token's through an ENGINE, keyd's proxy
 * or a software key) of at most 16384 bits, and md SHA-256, -384 or
 * -512.  1 or 0; anything else goes through OpenSSL's CMS code.
 */
int smime_signed_fits(const struct smime_signer *s, const EVP_MD *md);

/*
 * The smimeCapabilities every signature of ours announces, on this path
 * and OpenSSL's (smime.c adds them there): the DER of the attribute's
 * value, a SEQUENCE OF SMIMECapability, static; its length in *len.
 */
const unsigned char *smime_signed_caps(size_t *len);

/*
 * Appends to der the detached signature by s (which
 * smime_signed_fits() accepts with md) of the content [p, p + n)
 * (borrowed), signed at now (UTCTime through 2049, GeneralizedTime
 * from 2050).  A chain certificate that is the signer's again, or one
 * of the chain's twice, is written once.  0, or GW_ERR_P11 when the key
 * fails to sign (a token fault: temporary), GW_ERR_CRYPTO for the rest
 * of OpenSSL's failures (a key that is not the certificate's
 * included), GW_ERR_UNSUPPORTED for what does not fit, GW_ERR_INVALID
 * for a time outside the years 0 to 9999, GW_ERR_LIMIT past der's
 * ceiling or GW_ERR_NOMEM, each naming what failed; on failure der's
 * contents are as they were.
 */
int smime_signed_der(const struct smime_signer *s, const EVP_MD *md,
		     const unsigned char *p, size_t n, time_t now,
		     struct gw_buf *der);

#endif
