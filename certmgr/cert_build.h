/*
 * cert_build.h - self-signed S/MIME certificates and PKCS#10 requests,
 * signed by a token key.
 *
 * The certificate carries every field of the reference's "Creating a
 * Self-Signed S/MIME Certificate" table: CN, O, OU, L, ST, C, validity
 * in days, SAN dNSName (wildcards allowed) and rfc822Name entries; plus
 * basicConstraints CA:FALSE (critical), keyUsage (critical) per usage
 * (sign: digitalSignature + nonRepudiation; encrypt: keyEncipherment for
 * RSA, keyAgreement for EC; both: all of them), extendedKeyUsage
 * emailProtection, subject and authority key identifiers, a random
 * positive 127-bit serial.  Digest: see cert_digest_for().
 */
#ifndef CERT_BUILD_H
#define CERT_BUILD_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cert_check.h"

#define CERT_MAX_SANS 64

struct cert_spec {
	const char *cn;
	const char *country;
	const char *org;
	const char *ou;
	const char *locality;
	const char *state;
	const char *san_dns[CERT_MAX_SANS];
	size_t n_dns;
	const char *san_email[CERT_MAX_SANS];
	size_t n_email;
	long days;
	enum cert_usage usage;
	time_t now; /* 0: time(NULL) */
};

/* Splits a comma-separated list into spec slots (trimming blanks; the
 * strings point into buf, which the caller keeps alive).  opt names the
 * option for errors. */
int cert_spec_split(char *buf, const char *opt, const char **slots,
		    size_t *n);

/* Checks every field; the detail names the option at fault
 * ("--country: 'USA' is not a two-letter ISO 3166 code").  With
 * fqdn_check, CN and SAN DNS names must be FQDNs. */
int cert_spec_validate(const struct cert_spec *spec, int fqdn_check);

/* Builds and signs the certificate.  pub is the public key (plain),
 * signkey the token key.  *out is the new certificate. */
int cert_build_selfsigned(const struct cert_spec *spec, EVP_PKEY *pub,
			  EVP_PKEY *signkey, X509 **out);

/* A CSR with cert's subject and its SAN, keyUsage, extendedKeyUsage and
 * basicConstraints extensions, for cert's public key, signed by
 * signkey. */
int cert_build_csr(X509 *cert, EVP_PKEY *signkey, X509_REQ **out);

/* The digest smimegw signs with for this key: SHA-512 for P-521,
 * SHA-384 for P-384, SHA-256 otherwise. */
const EVP_MD *cert_digest_for(EVP_PKEY *pub);

#endif
