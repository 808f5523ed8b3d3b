/*
 * smime_sigcheck.h - the common detached signature checked without
 * CMS_verify(): one RSA signer, SHA-2, signed attributes, its
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

#endif
