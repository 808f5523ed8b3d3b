/*
 * smime_sigcheck.h - the common signature, detached or opaque, checked
 * without CMS_verify(): one RSA signer, SHA-2, signed attributes, its
 * certificate in the message.
 */
#ifndef SMIME_SIGCHECK_H
#define SMIME_SIGCHECK_H

#include <stddef.h>

#include <openssl/x509.h>

/*
 * der, n: a ContentInfo holding a SignedData without eContent whose
 * certificates were cut out into certs (in the message's order; NULL
 * or empty when it had none); content, clen: the detached content as
 * it is to be digested.  trust, extra: as CMS_verify() takes them.
 *
 * 1 when the signature is good and its signer's certificate chain
 * verifies for S/MIME signing against trust: *signer then holds a
 * reference to that certificate.  0 when the check is left to
 * CMS_verify(): every failure, and every object that is not of the
 * common kind this file reads (see smime_sigcheck.c); that includes
 * an allocation failure.  It never accepts what CMS_verify() with the
 * same arguments (CMS_BINARY) would refuse.
 */
int smime_sigcheck(const unsigned char *der, size_t n, STACK_OF(X509) *certs,
		   const unsigned char *content, size_t clen,
		   X509_STORE *trust, STACK_OF(X509) *extra, X509 **signer);

/*
 * The same for an opaque signature: der, n hold a SignedData whose
 * eContent is one primitive OCTET STRING or a constructed one of
 * primitive segments (BER, as streaming encoders write it).  On a pass
 * *content and *clen give its value inside der (what CMS_verify() with
 * CMS_BINARY would write out): a constructed string's segments are
 * joined in place there, so der is changed from the first segment on
 * (the signature is checked by then); *used is the ContentInfo's
 * length (bytes after it are not part of the object and not changed).
 */
int smime_sigcheck_opaque(unsigned char *der, size_t n,
			  STACK_OF(X509) *certs, X509_STORE *trust,
			  STACK_OF(X509) *extra, X509 **signer,
			  const unsigned char **content, size_t *clen,
			  size_t *used);

/* How many signatures the two functions above passed, process-wide
 * (the rest went to CMS_verify()). */
unsigned long smime_sigcheck_passed(void);

#endif
