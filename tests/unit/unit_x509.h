/*
 * unit_x509.h - certificate fixtures shared by the unit tests.
 */
#ifndef UNIT_X509_H
#define UNIT_X509_H

#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Adds to x the extension nid from its configuration text (as
 * openssl.cnf writes it), with issuer (x itself when self-signed) for
 * the identifiers that refer to it: 1, or 0. */
static inline int
unit_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok == 1;
}

/*
 * A version 3 certificate for the key k, subject CN=cn, the serial,
 * valid from an hour ago for a day, named as issued by issuer (by
 * itself when NULL); not signed yet, no extensions.  NULL on failure.
 */
static inline X509 *
unit_cert_new(EVP_PKEY *k, const char *cn, long serial, X509 *issuer)
{
	X509 *x;
	X509_NAME *n;

	if ((x = X509_new()) == NULL)
		return NULL;
	n = X509_get_subject_name(x);
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), serial) ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, issuer != NULL
					 ? X509_get_subject_name(issuer)
					 : n) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 86400) ||
	    !X509_set_pubkey(x, k)) {
		X509_free(x);
		return NULL;
	}
	return x;
}

#endif
