/*
 * cert_info.h - human-readable facts about a certificate, for show and
 * list commands.  Output goes to a FILE; nothing is allocated for the
 * caller.
 */
#ifndef CERT_INFO_H
#define CERT_INFO_H

#include <stddef.h>
#include <stdio.h>

#include <openssl/bio.h>
#include <openssl/x509.h>

/* "RSA-2048", "EC P-256", ... into buf. */
const char *cert_info_key_desc(EVP_PKEY *pk, char *buf, size_t len);
/* SHA-256 fingerprint as colon-separated upper-case hex (96 bytes). */
const char *cert_info_fingerprint(X509 *x, char buf[96]);
/* "YYYY-MM-DD HH:MM:SS UTC" */
const char *cert_info_time(const ASN1_TIME *t, char buf[32]);
/* RFC 2253-style one-line subject/issuer, UTF-8, into buf. */
const char *cert_info_name(const X509_NAME *n, char *buf, size_t len);
/* 1 when subject equals issuer and x's own key verifies its
 * signature, else 0 (the OpenSSL error queue is cleared). */
int cert_info_self_signed(X509 *x);
/* Prints the labelled fields (subject, issuer, serial, validity, SANs,
 * key usage, EKU, key, fingerprint), one per line, labels padded to
 * width. */
void cert_info_print(FILE *fp, X509 *x, int width);

/* Ceiling of a certificate or PKCS#12 file read whole. */
#define CERT_FILE_MAX ((long)4 << 20)

/* A whole file of at most CERT_FILE_MAX bytes in a memory BIO (*out,
 * the caller frees).  GW_ERR_IO or GW_ERR_LIMIT naming the file. */
int cert_info_read_file(const char *path, BIO **out);

/* Every certificate of a PEM bundle, or the one DER certificate, from
 * a file of at most CERT_FILE_MAX bytes.  GW_ERR_PARSE naming the file
 * otherwise. */
int cert_info_read_certs(const char *path, STACK_OF(X509) **out);

#endif
