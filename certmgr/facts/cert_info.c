/* cert_info.c - certificate facts for people. */
#include "cert_info.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cert_lean.h"
#include "gw_err.h"

const char *
cert_info_key_desc(EVP_PKEY *pk, char *buf, size_t len)
{
	char grp[64];

	if (pk == NULL)
		snprintf(buf, len, "unknown");
	else if (EVP_PKEY_is_a(pk, "RSA") || EVP_PKEY_is_a(pk, "RSA-PSS"))
		snprintf(buf, len, "RSA-%d", EVP_PKEY_get_bits(pk));
	else if (EVP_PKEY_is_a(pk, "EC") &&
		 EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME,
						grp, sizeof(grp), NULL))
		snprintf(buf, len, "EC %s",
			 strcmp(grp, "prime256v1") == 0   ? "P-256"
			 : strcmp(grp, "secp384r1") == 0 ? "P-384"
			 : strcmp(grp, "secp521r1") == 0 ? "P-521"
							 : grp);
	else
		snprintf(buf, len, "%s-%d", EVP_PKEY_get0_type_name(pk),
			 EVP_PKEY_get_bits(pk));
	return buf;
}

int
cert_info_self_signed(X509 *x)
{
	EVP_PKEY *pk = cert_pubkey(x);
	int ok;

	if (pk == NULL || X509_NAME_cmp(X509_get_subject_name(x),
					X509_get_issuer_name(x)) != 0)
		return 0;
	ok = X509_verify(x, pk) == 1;
	ERR_clear_error();
	return ok;
}

const char *
cert_info_fingerprint(X509 *x, char buf[96])
{
	unsigned char md[32];
	unsigned int i;

	buf[0] = '\0';
	if (cert_sha256(x, md) != 0) {
		gw_err_clear();
		return buf;
	}
	for (i = 0; i < sizeof(md); i++)
		snprintf(buf + 3 * i, 4, "%02X%s", md[i],
			 i + 1 < sizeof(md) ? ":" : "");
	return buf;
}

const char *
cert_info_time(const ASN1_TIME *t, char buf[32])
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm)) {
		snprintf(buf, 32, "invalid");
		return buf;
	}
	strftime(buf, 32, "%Y-%m-%d %H:%M:%S UTC", &tm);
	return buf;
}

const char *
cert_info_name(const X509_NAME *n, char *buf, size_t len)
{
	BIO *b;
	int r;

	buf[0] = '\0';
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return buf;
	X509_NAME_print_ex(b, n, 0,
			   XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
	r = BIO_read(b, buf, (int)len - 1);
	buf[r > 0 ? r : 0] = '\0';
	BIO_free(b);
	return buf;
}

/* Certificate bytes to a terminal: printable ASCII as is, the rest as
 * \xNN, so a hostile certificate cannot send control sequences. */
static void
print_safe(FILE *fp, const unsigned char *p, int len)
{
	int i;

	for (i = 0; i < len; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			fputc(p[i], fp);
		else
			fprintf(fp, "\\x%02X", p[i]);
	}
}

static void
print_sans(FILE *fp, X509 *x, int type, const char *label, int w)
{
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	int i, first = 1;

	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	fprintf(fp, "%-*s ", w, label);
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != type)
			continue;
		fprintf(fp, "%s", first ? "" : ", ");
		print_safe(fp, ASN1_STRING_get0_data(g->d.ia5),
			   ASN1_STRING_length(g->d.ia5));
		first = 0;
	}
	fprintf(fp, "%s\n", first ? "-" : "");
	GENERAL_NAMES_free(gens);
}

static void
print_ext_value(FILE *fp, X509 *x, int nid, const char *label, int w)
{
	X509_EXTENSION *ext;
	BIO *b;
	char buf[512];
	int idx, r;

	fprintf(fp, "%-*s ", w, label);
	if ((idx = X509_get_ext_by_NID(x, nid, -1)) < 0) {
		fprintf(fp, "-\n");
		return;
	}
	ext = X509_get_ext(x, idx);
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return;
	if (!X509V3_EXT_print(b, ext, 0, 0))
		BIO_puts(b, "(unreadable)");
	r = BIO_read(b, buf, sizeof(buf) - 1);
	buf[r > 0 ? r : 0] = '\0';
	BIO_free(b);
	fprintf(fp, "%s%s\n", buf,
		X509_EXTENSION_get_critical(ext) ? " (critical)" : "");
}

void
cert_info_print(FILE *fp, X509 *x, int w)
{
	char buf[1024], t[32];
	const ASN1_INTEGER *ser;
	BIGNUM *bn;
	char *hex;

	fprintf(fp, "%-*s %s\n", w, "Subject:",
		cert_info_name(X509_get_subject_name(x), buf, sizeof(buf)));
	fprintf(fp, "%-*s %s\n", w, "Issuer:",
		cert_info_name(X509_get_issuer_name(x), buf, sizeof(buf)));
	ser = X509_get0_serialNumber(x);
	bn = ASN1_INTEGER_to_BN(ser, NULL);
	hex = bn ? BN_bn2hex(bn) : NULL;
	fprintf(fp, "%-*s %s\n", w, "Serial:", hex ? hex : "?");
	OPENSSL_free(hex);
	BN_free(bn);
	fprintf(fp, "%-*s %s\n", w, "Not before:",
		cert_info_time(X509_get0_notBefore(x), t));
	fprintf(fp, "%-*s %s\n", w, "Not after:",
		cert_info_time(X509_get0_notAfter(x), t));
	print_sans(fp, x, GEN_DNS, "SAN DNS:", w);
	print_sans(fp, x, GEN_EMAIL, "SAN email:", w);
	print_ext_value(fp, x, NID_key_usage, "Key usage:", w);
	print_ext_value(fp, x, NID_ext_key_usage, "Extended key usage:", w);
	fprintf(fp, "%-*s %s\n", w, "Key:",
		cert_info_key_desc(cert_pubkey(x), buf, sizeof(buf)));
	fprintf(fp, "%-*s %s\n", w, "SHA-256 fingerprint:",
		cert_info_fingerprint(x, buf));
}

int
cert_info_read_file(const char *path, BIO **out)
{
	FILE *fp;
	BIO *b = NULL;
	char buf[8192];
	size_t n;
	long total = 0;
	int rc = 0;

	*out = NULL;
	if ((fp = fopen(path, "rb")) == NULL)
		return gw_err_set(GW_ERR_IO, "%s: %s", path, strerror(errno));
	if ((b = BIO_new(BIO_s_mem())) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0) {
		total += (long)n;
		if (total > CERT_FILE_MAX) {
			rc = gw_err_set(GW_ERR_LIMIT,
					"%s: larger than %ld bytes", path,
					CERT_FILE_MAX);
			goto out;
		}
		if (BIO_write(b, buf, (int)n) != (int)n) {
			rc = GW_ERR_NOMEM;
			goto out;
		}
	}
	if (ferror(fp)) {
		rc = gw_err_set(GW_ERR_IO, "%s: read error", path);
		goto out;
	}
	if (total == 0) {
		rc = gw_err_set(GW_ERR_PARSE, "%s: empty file", path);
		goto out;
	}
	*out = b;
	b = NULL;
out:
	BIO_free(b);
	fclose(fp);
	return rc;
}

int
cert_info_read_certs(const char *path, STACK_OF(X509) **out)
{
	STACK_OF(X509) *sk = NULL;
	BIO *b = NULL;
	X509 *x;
	char *data;
	long len;
	int rc;

	*out = NULL;
	if ((rc = cert_info_read_file(path, &b)) != 0)
		return rc;
	if ((sk = sk_X509_new_null()) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	len = BIO_get_mem_data(b, &data);
	if (len > 10 && memmem(data, (size_t)len, "-----BEGIN", 10) != NULL) {
		while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
			if (!sk_X509_push(sk, x)) {
				X509_free(x);
				rc = GW_ERR_NOMEM;
				goto out;
			}
		/* End of input is fine; anything else is a broken block. */
		if (ERR_GET_REASON(ERR_peek_last_error()) ==
		    PEM_R_NO_START_LINE)
			ERR_clear_error();
		if (ERR_peek_error() != 0) {
			rc = gw_err_set_ssl(GW_ERR_PARSE,
					    "%s: malformed PEM certificate",
					    path);
			goto out;
		}
	} else {
		const unsigned char *p = (const unsigned char *)data;
		if ((x = d2i_X509(NULL, &p, len)) == NULL) {
			rc = gw_err_set_ssl(GW_ERR_PARSE,
					    "%s: neither a PEM nor a DER "
					    "certificate",
					    path);
			goto out;
		}
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			rc = GW_ERR_NOMEM;
			goto out;
		}
	}
	if (sk_X509_num(sk) == 0) {
		rc = gw_err_set(GW_ERR_PARSE, "%s: no certificate found", path);
		goto out;
	}
	*out = sk;
	sk = NULL;
	rc = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	BIO_free(b);
	return rc;
}
