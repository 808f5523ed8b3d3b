/*
 * cert_names.h - the index names of a certificate's identifiers, as the
 * key stores' indexes hold them (gateway/store/addr_index.h) and as the
 * identities' index does (identity.h): text, at most CERT_NAME_MAX
 * bytes and a NUL.
 *
 *   "k:HEX"              a subject key identifier;
 *   "i:HHHHHHHH:HEX"     an issuer name and a serial number: the hash
 *                        of the name's canonical form
 *                        (X509_NAME_hash_ex(), so that names
 *                        X509_NAME_cmp() finds equal share it) and the
 *                        hex of the serial's DER;
 *   "n:HHHHHHHH"         a subject name, hashed the same way.
 *
 * An identifier longer than 32 bytes is named by the hex of its
 * SHA-256.  A name finds candidates; the reader compares each one's
 * certificate as OpenSSL would.  0, or GW_ERR_* with a detail.
 */
#ifndef CERT_NAMES_H
#define CERT_NAMES_H

#include <stddef.h>

#include <openssl/x509.h>

#define CERT_NAME_MAX 80

int cert_name_ski(const ASN1_OCTET_STRING *ski, char *buf, size_t size);
int cert_name_issuer(const X509_NAME *issuer, const ASN1_INTEGER *serial,
		     char *buf, size_t size);
int cert_name_subject(const X509_NAME *subject, char *buf, size_t size);
/* kind, ':', the hex of p (or of its SHA-256 beyond 32 bytes). */
int cert_name_hex(char kind, const unsigned char *p, size_t n, char *buf,
		  size_t size);

#endif
