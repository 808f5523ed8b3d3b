/* cert_build.c - self-signed certificates and CSRs with token keys. */
#include "cert_build.h"

#include <ctype.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "gw_err.h"

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int
cert_spec_split(char *buf, const char *opt, const char **slots, size_t *n)
{
	char *p = buf, *comma, *item;

	while (p != NULL) {
		if ((comma = strchr(p, ',')) != NULL)
			*comma = '\0';
		item = trim(p);
		p = comma != NULL ? comma + 1 : NULL;
		if (*item == '\0')
			return gw_err_set(GW_ERR_INVALID,
					  "%s: empty entry in the list", opt);
		if (*n == CERT_MAX_SANS)
			return gw_err_set(GW_ERR_LIMIT,
					  "%s: more than %d entries", opt,
					  CERT_MAX_SANS);
		slots[(*n)++] = item;
	}
	return 0;
}

/* Host name syntax (not necessarily fully qualified): LDH labels, a
 * leftmost "*" label allowed when wildcard is set. */
static int
dns_syntax_ok(const char *s, int wildcard)
{
	size_t lab = 0, total = strlen(s);
	const char *p = s;

	if (total == 0 || total > 253)
		return 0;
	if (wildcard && p[0] == '*' && p[1] == '.')
		p += 2;
	for (; *p; p++) {
		if (*p == '.') {
			if (lab == 0 || p[-1] == '-')
				return 0;
			lab = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-')
			return 0;
		if (*p == '-' && lab == 0)
			return 0;
		if (++lab > 63)
			return 0;
	}
	return lab > 0 && p[-1] != '-';
}

static int
email_ok(const char *s)
{
	const char *at = strrchr(s, '@'), *p;

	if (at == NULL || at == s || strlen(s) > 254)
		return 0;
	for (p = s; p < at; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    strchr("\"(),:;<>[\\]", *p) != NULL)
			return 0;
	return dns_syntax_ok(at + 1, 0);
}

static int
check_len(const char *opt, const char *v, size_t max)
{
	if (v == NULL)
		return 0;
	if (*v == '\0')
		return gw_err_set(GW_ERR_INVALID, "%s: empty value", opt);
	if (strlen(v) > max)
		return gw_err_set_at(GW_ERR_INVALID, opt,
				     "longer than %zu characters", max);
	return 0;
}

int
cert_spec_validate(const struct cert_spec *s, int fqdn_check)
{
	size_t i;
	int rc;

	if (s->cn == NULL)
		return gw_err_set_at(GW_ERR_INVALID, "cn", "required");
	if (s->country == NULL)
		return gw_err_set_at(GW_ERR_INVALID, "country", "required");
	/* Upper bounds from RFC 5280 Appendix A (ub-*). */
	if ((rc = check_len("cn", s->cn, 64)) != 0 ||
	    (rc = check_len("org", s->org, 64)) != 0 ||
	    (rc = check_len("ou", s->ou, 64)) != 0 ||
	    (rc = check_len("locality", s->locality, 128)) != 0 ||
	    (rc = check_len("state", s->state, 128)) != 0)
		return rc;
	if (strlen(s->country) != 2 || !isalpha((unsigned char)s->country[0]) ||
	    !isalpha((unsigned char)s->country[1]))
		return gw_err_set_at(GW_ERR_INVALID, "country",
				  "'%s' is not a two-letter ISO "
				  "3166 code",
				  s->country);
	if (s->days < 1 || s->days > 36500)
		return gw_err_set_at(GW_ERR_INVALID, "days",
				  "%ld is out of range (1..36500)",
				  s->days);
	if (fqdn_check && !cert_fqdn_valid(s->cn, 1))
		return gw_err_set_at(GW_ERR_INVALID, "cn",
				  "'%s' is not a fully qualified domain "
				  "name",
				  s->cn);
	for (i = 0; i < s->n_dns; i++) {
		if (!dns_syntax_ok(s->san_dns[i], 1))
			return gw_err_set_at(GW_ERR_INVALID, "san-dns",
					  "'%s' is not a domain "
					  "name",
					  s->san_dns[i]);
		if (fqdn_check && !cert_fqdn_valid(s->san_dns[i], 1))
			return gw_err_set_at(GW_ERR_INVALID, "san-dns",
					  "'%s' is not a fully "
					  "qualified domain name",
					  s->san_dns[i]);
	}
	for (i = 0; i < s->n_email; i++)
		if (!email_ok(s->san_email[i]))
			return gw_err_set_at(GW_ERR_INVALID, "san-email",
					  "'%s' is not an email "
					  "address",
					  s->san_email[i]);
	return 0;
}

const EVP_MD *
cert_digest_for(EVP_PKEY *pub)
{
	if (EVP_PKEY_is_a(pub, "EC") && EVP_PKEY_get_bits(pub) > 384)
		return EVP_sha512();
	if (EVP_PKEY_is_a(pub, "EC") && EVP_PKEY_get_bits(pub) > 256)
		return EVP_sha384();
	return EVP_sha256();
}

static int
add_name(X509_NAME *n, const char *field, const char *v)
{
	if (v == NULL)
		return 0;
	if (!X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8,
					(const unsigned char *)v, -1, -1, 0))
		return gw_err_set_ssl(GW_ERR_INVALID, "subject %s '%s'", field,
				      v);
	return 0;
}

static int
add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext;
	int ok;

	if ((ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value)) == NULL)
		return gw_err_set_ssl(GW_ERR_CRYPTO, "extension %s",
				      OBJ_nid2sn(nid));
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : gw_err_set_ssl(GW_ERR_CRYPTO, "adding extension");
}

/* The SAN built from typed entries, never by pasting user text into a
 * config string (a comma in a value could otherwise add names). */
static int
add_san(X509 *x, const struct cert_spec *s)
{
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *gen = NULL;
	ASN1_IA5STRING *ia5 = NULL;
	size_t i;
	int rc = GW_ERR_NOMEM;

	if (s->n_dns + s->n_email == 0)
		return 0;
	if ((gens = GENERAL_NAMES_new()) == NULL)
		goto out;
	for (i = 0; i < s->n_dns + s->n_email; i++) {
		const char *v = i < s->n_dns ? s->san_dns[i]
					     : s->san_email[i - s->n_dns];
		if ((gen = GENERAL_NAME_new()) == NULL ||
		    (ia5 = ASN1_IA5STRING_new()) == NULL ||
		    !ASN1_STRING_set(ia5, v, (int)strlen(v)))
			goto out;
		GENERAL_NAME_set0_value(gen, i < s->n_dns ? GEN_DNS : GEN_EMAIL,
					ia5);
		ia5 = NULL;
		if (!sk_GENERAL_NAME_push(gens, gen))
			goto out;
		gen = NULL;
	}
	if (!X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0)) {
		rc = gw_err_set_ssl(GW_ERR_CRYPTO, "subjectAltName");
		goto out;
	}
	rc = 0;
out:
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(gen);
	GENERAL_NAMES_free(gens);
	return rc;
}

static const char *
key_usage_value(enum cert_usage usage, EVP_PKEY *pub)
{
	int ec = EVP_PKEY_is_a(pub, "EC");

	switch (usage) {
	case CERT_USAGE_SIGN:
		return "critical,digitalSignature,nonRepudiation";
	case CERT_USAGE_ENCRYPT:
		return ec ? "critical,keyAgreement" : "critical,keyEncipherment";
	default:
		return ec ? "critical,digitalSignature,nonRepudiation,"
			    "keyAgreement"
			  : "critical,digitalSignature,nonRepudiation,"
			    "keyEncipherment";
	}
}

static int
random_serial(X509 *x)
{
	unsigned char b[16];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	int rc = GW_ERR_CRYPTO;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return gw_err_set_ssl(GW_ERR_CRYPTO, "RAND_bytes");
	b[0] &= 0x7f; /* positive */
	b[0] |= 0x40; /* and always 16 bytes long */
	if ((bn = BN_bin2bn(b, sizeof(b), NULL)) == NULL ||
	    (ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    !X509_set_serialNumber(x, ai))
		goto out;
	rc = 0;
out:
	BN_free(bn);
	ASN1_INTEGER_free(ai);
	return rc;
}

int
cert_build_selfsigned(const struct cert_spec *s, EVP_PKEY *pub,
		      EVP_PKEY *signkey, X509 **out)
{
	X509 *x = NULL;
	X509_NAME *name = NULL;
	X509V3_CTX ctx;
	char country[3];
	time_t now = s->now ? s->now : time(NULL);
	int rc;

	*out = NULL;
	if ((x = X509_new()) == NULL || (name = X509_NAME_new()) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	country[0] = (char)toupper((unsigned char)s->country[0]);
	country[1] = (char)toupper((unsigned char)s->country[1]);
	country[2] = '\0';
	if ((rc = add_name(name, "C", country)) != 0 ||
	    (rc = add_name(name, "ST", s->state)) != 0 ||
	    (rc = add_name(name, "L", s->locality)) != 0 ||
	    (rc = add_name(name, "O", s->org)) != 0 ||
	    (rc = add_name(name, "OU", s->ou)) != 0 ||
	    (rc = add_name(name, "CN", s->cn)) != 0)
		goto out;
	rc = GW_ERR_CRYPTO;
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name) ||
	    X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)s->days, 0, &now) ==
		NULL ||
	    !X509_set_pubkey(x, pub)) {
		rc = gw_err_set_ssl(GW_ERR_CRYPTO, "building the certificate");
		goto out;
	}
	if ((rc = random_serial(x)) != 0)
		goto out;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((rc = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE")) !=
		0 ||
	    (rc = add_ext(x, &ctx, NID_key_usage,
			  key_usage_value(s->usage, pub))) != 0 ||
	    (rc = add_ext(x, &ctx, NID_ext_key_usage, "emailProtection")) != 0 ||
	    (rc = add_san(x, s)) != 0 ||
	    (rc = add_ext(x, &ctx, NID_subject_key_identifier, "hash")) != 0 ||
	    (rc = add_ext(x, &ctx, NID_authority_key_identifier,
			  "keyid:always")) != 0)
		goto out;
	if (X509_sign(x, signkey, cert_digest_for(pub)) <= 0) {
		rc = gw_err_set_ssl(GW_ERR_P11,
				    "signing the certificate with the token "
				    "key failed");
		goto out;
	}
	*out = x;
	x = NULL;
	rc = 0;
out:
	X509_NAME_free(name);
	X509_free(x);
	return rc;
}

int
cert_build_csr(X509 *cert, EVP_PKEY *signkey, X509_REQ **out)
{
	static const int nids[] = {NID_subject_alt_name, NID_key_usage,
				   NID_ext_key_usage, NID_basic_constraints};
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext;
	X509_REQ *req = NULL;
	EVP_PKEY *pub;
	size_t i;
	int idx, rc = GW_ERR_CRYPTO;

	*out = NULL;
	pub = X509_get0_pubkey(cert);
	if ((req = X509_REQ_new()) == NULL ||
	    (exts = sk_X509_EXTENSION_new_null()) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	if (!X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !X509_REQ_set_subject_name(req, X509_get_subject_name(cert)) ||
	    pub == NULL || !X509_REQ_set_pubkey(req, pub))
		goto ssl;
	for (i = 0; i < sizeof(nids) / sizeof(nids[0]); i++) {
		if ((idx = X509_get_ext_by_NID(cert, nids[i], -1)) < 0)
			continue;
		if ((ext = X509_EXTENSION_dup(X509_get_ext(cert, idx))) ==
			NULL ||
		    !sk_X509_EXTENSION_push(exts, ext)) {
			X509_EXTENSION_free(ext);
			goto ssl;
		}
	}
	if (sk_X509_EXTENSION_num(exts) > 0 &&
	    !X509_REQ_add_extensions(req, exts))
		goto ssl;
	if (X509_REQ_sign(req, signkey, cert_digest_for(pub)) <= 0) {
		rc = gw_err_set_ssl(GW_ERR_P11,
				    "signing the CSR with the token key failed");
		goto out;
	}
	*out = req;
	req = NULL;
	rc = 0;
	goto out;
ssl:
	rc = gw_err_set_ssl(GW_ERR_CRYPTO, "building the CSR");
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	return rc;
}
