/*
 * cert_names.c - the index names of a certificate's identifiers
 * (cert_names.h).
 */
#include "cert_names.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "gw_err.h"

static const char hexd[] = "0123456789abcdef";

int
cert_name_hex(char kind, const unsigned char *p, size_t n, char *buf,
	      size_t size)
{
	unsigned char md[32];
	size_t i;

	if (n > 32) {
		if (!EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL))
			return gw_err_set_ssl(GW_ERR_CRYPTO,
					      "certificate name: SHA-256");
		p = md;
		n = sizeof(md);
	}
	if (size < 2 * n + 3)
		return gw_err_set(GW_ERR_INVALID,
				  "certificate name: buffer too small");
	buf[0] = kind;
	buf[1] = ':';
	for (i = 0; i < n; i++) {
		buf[2 + 2 * i] = hexd[p[i] >> 4];
		buf[3 + 2 * i] = hexd[p[i] & 0xf];
	}
	buf[2 + 2 * n] = '\0';
	return 0;
}

/* The hash OpenSSL's own lookups by name use. */
static int
name_hash(const X509_NAME *nm, unsigned long *h)
{
	int ok = 0;

	*h = X509_NAME_hash_ex(nm, NULL, NULL, &ok);
	if (!ok)
		return gw_err_set_ssl(GW_ERR_CRYPTO,
				      "certificate name: name hash");
	return 0;
}

int
cert_name_ski(const ASN1_OCTET_STRING *ski, char *buf, size_t size)
{
	return cert_name_hex('k', ASN1_STRING_get0_data(ski),
			     (size_t)ASN1_STRING_length(ski), buf, size);
}

int
cert_name_issuer(const X509_NAME *issuer, const ASN1_INTEGER *serial,
		 char *buf, size_t size)
{
	char sn[2 * 32 + 3];
	unsigned char *der = NULL;
	unsigned long h;
	int n, rc;

	if ((rc = name_hash(issuer, &h)) != 0)
		return rc;
	/* The serial's DER: its sign is part of it. */
	if ((n = i2d_ASN1_INTEGER(serial, &der)) <= 0)
		return gw_err_set_ssl(GW_ERR_CRYPTO,
				      "certificate name: serial number");
	rc = cert_name_hex('i', der, (size_t)n, sn, sizeof(sn));
	OPENSSL_free(der);
	if (rc != 0)
		return rc;
	if ((size_t)snprintf(buf, size, "i:%08lx:%s", h & 0xffffffffUL,
			     sn + 2) >= size)
		return gw_err_set(GW_ERR_INVALID,
				  "certificate name: buffer too small");
	return 0;
}

int
cert_name_subject(const X509_NAME *subject, char *buf, size_t size)
{
	unsigned long h;
	int rc;

	if ((rc = name_hash(subject, &h)) != 0)
		return rc;
	if (size < 11)
		return gw_err_set(GW_ERR_INVALID,
				  "certificate name: buffer too small");
	snprintf(buf, size, "n:%08lx", h & 0xffffffffUL);
	return 0;
}
