/*
 * cert_check.c - S/MIME certificate requirement checks.
 *
 * cert_check() records one entry per check, always in this order:
 *
 *  1 version              X.509 v3
 *  2 validity             notBefore <= now <= notAfter
 *  3 key                  RSA >= 2048 bits or EC on P-256/P-384/P-521
 *  4 subject              commonName or SAN; countryName; IDENTITY fields
 *  5 key-usage-sign       only when the usage includes SIGN (rules)
 *  6 key-usage-encrypt    only when the usage includes ENCRYPT (rules)
 *  7 extended-key-usage   emailProtection or anyExtendedKeyUsage
 *  8 subject-alt-name     rfc822Name / dNSName, well-formed addresses
 *  9 fqdn                 only with opts->fqdn_check
 * 10 signature-algorithm  MD5 / SHA-1 based signatures WARN
 * 11 basic-constraints    CA:TRUE FAILs an identity, WARNs a partner
 *
 * The extensions the checks share (subjectAltName, keyUsage,
 * extendedKeyUsage, basicConstraints) are decoded once into a struct
 * check_ctx and freed at the end.  An extension that is present but
 * cannot be decoded, or is present more than once, FAILs the check that
 * reads it.  Every value quoted from the certificate is escaped (bytes
 * outside printable ASCII become \xNN) and cut to SHOW_MAX characters,
 * so a detail is safe to log on one line.
 *
 * Decoding errors pushed on the OpenSSL error queue while checking are
 * popped again: a FAIL result is the report, not a queued error.
 */
#include "cert_check.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cert_lean.h"
#include "gw_err.h"

#define RSA_MIN_BITS 2048
#define FQDN_MAX 253	/* without the optional trailing dot */
#define LABEL_MAX 63
#define VALUE_MAX 255	/* longest name we copy out to validate */
#define SHOW_MAX 80	/* longest quoted value in a detail */
#define SHOW_SIZE (SHOW_MAX + 4)
#define LIST_SIZE 160	/* "digitalSignature, nonRepudiation, ..." */

/* keyUsage bits, RFC 5280 4.2.1.3 */
#define BIT_DIGITAL_SIGNATURE 0
#define BIT_NON_REPUDIATION 1
#define BIT_KEY_ENCIPHERMENT 2
#define BIT_KEY_AGREEMENT 4

enum key_kind {
	KEY_RSA,
	KEY_EC,
	KEY_OTHER,
};

enum ext_state {
	EXT_ABSENT,
	EXT_PRESENT,
	EXT_DUPLICATE,
	EXT_BAD,
};

struct check_ctx {
	X509 *cert;
	const struct cert_check_opts *opts;
	time_t now;
	EVP_PKEY *pkey; /* get0: owned by cert */
	enum key_kind kind;
	const char *key_label; /* "RSA", "EC", "Ed25519", ... */
	GENERAL_NAMES *san;
	enum ext_state san_st;
	ASN1_BIT_STRING *ku;
	enum ext_state ku_st;
	EXTENDED_KEY_USAGE *eku;
	enum ext_state eku_st;
	BASIC_CONSTRAINTS *bc;
	enum ext_state bc_st;
};

typedef void check_fn(const struct check_ctx *, struct cert_check_result *);

static check_fn check_version, check_validity, check_key, check_subject,
    check_ku_sign, check_ku_encrypt, check_eku, check_san, check_fqdn,
    check_sigalg, check_bc;

enum check_when {
	WHEN_ALWAYS,
	WHEN_SIGN,
	WHEN_ENCRYPT,
	WHEN_FQDN,
};

static const struct {
	const char *name;
	check_fn *fn;
	enum check_when when;
} checks[] = {
	{"version", check_version, WHEN_ALWAYS},
	{"validity", check_validity, WHEN_ALWAYS},
	{"key", check_key, WHEN_ALWAYS},
	{"subject", check_subject, WHEN_ALWAYS},
	{"key-usage-sign", check_ku_sign, WHEN_SIGN},
	{"key-usage-encrypt", check_ku_encrypt, WHEN_ENCRYPT},
	{"extended-key-usage", check_eku, WHEN_ALWAYS},
	{"subject-alt-name", check_san, WHEN_ALWAYS},
	{"fqdn", check_fqdn, WHEN_FQDN},
	{"signature-algorithm", check_sigalg, WHEN_ALWAYS},
	{"basic-constraints", check_bc, WHEN_ALWAYS},
};

_Static_assert(sizeof(checks) / sizeof(checks[0]) <= CERT_CHECK_MAX,
	       "cert_check_report too small for every check");

static const struct {
	int bit;
	const char *name;
} ku_bits[] = {
	{0, "digitalSignature"}, {1, "nonRepudiation"},
	{2, "keyEncipherment"},	 {3, "dataEncipherment"},
	{4, "keyAgreement"},	 {5, "keyCertSign"},
	{6, "cRLSign"},		 {7, "encipherOnly"},
	{8, "decipherOnly"},
};

static void result_set(struct cert_check_result *r,
		       enum cert_check_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
result_set(struct cert_check_result *r, enum cert_check_status st,
	   const char *fmt, ...)
{
	va_list ap;

	r->status = st;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

/*
 * Escape len bytes of src into dst for a one-line detail: printable
 * ASCII is kept, other bytes and the backslash become \xNN; at most
 * SHOW_MAX characters, then "...".
 */
static void
show(char *dst, size_t size, const unsigned char *src, size_t len)
{
	size_t i, o = 0, need, cap;
	unsigned char ch;

	cap = size < SHOW_MAX + 4 ? size : SHOW_MAX + 4;
	if (cap < 4) {
		if (size > 0)
			dst[0] = '\0';
		return;
	}
	for (i = 0; i < len; i++) {
		ch = src[i];
		need = ch >= 0x20 && ch < 0x7f && ch != '\\' ? 1 : 4;
		/* Keep room for "..." and the NUL after this character. */
		if (o + need + 4 > cap) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (need == 1) {
			dst[o++] = (char)ch;
		} else {
			snprintf(dst + o, cap - o, "\\x%02x", ch);
			o += 4;
		}
	}
	dst[o] = '\0';
}

static void
show_str(char *dst, size_t size, const char *src)
{
	show(dst, size, (const unsigned char *)src, strlen(src));
}

/*
 * Copy an ASN.1 string as UTF-8 into buf.  -1 when it cannot be
 * converted, holds a NUL byte or does not fit.
 */
static int
asn1_utf8(const ASN1_STRING *s, char *buf, size_t size)
{
	unsigned char *u = NULL;
	int len, rc = -1;

	buf[0] = '\0';
	if ((len = ASN1_STRING_to_UTF8(&u, s)) < 0)
		goto out;
	if ((size_t)len >= size || memchr(u, '\0', (size_t)len) != NULL)
		goto out;
	memcpy(buf, u, (size_t)len);
	buf[len] = '\0';
	rc = 0;
out:
	OPENSSL_free(u);
	return rc;
}

/* Quote an ASN.1 string: as UTF-8 when it converts, raw bytes if not. */
static void
show_asn1(char *dst, size_t size, const ASN1_STRING *s)
{
	char buf[VALUE_MAX + 1];
	int len;

	if (asn1_utf8(s, buf, sizeof(buf)) == 0) {
		show_str(dst, size, buf);
		return;
	}
	len = ASN1_STRING_length(s);
	show(dst, size, ASN1_STRING_get0_data(s), len > 0 ? (size_t)len : 0);
}

/* Append ", item" (or just item) to buf, truncating at size. */
static void
list_add(char *buf, size_t size, const char *item)
{
	size_t len = strlen(buf);

	snprintf(buf + len, size - len, "%s%s", len > 0 ? ", " : "", item);
}

static void *
ext_get(X509 *cert, int nid, enum ext_state *st)
{
	void *ext;
	int crit = -1;

	if ((ext = X509_get_ext_d2i(cert, nid, &crit, NULL)) != NULL)
		*st = EXT_PRESENT;
	else if (crit == -1)
		*st = EXT_ABSENT;
	else if (crit == -2)
		*st = EXT_DUPLICATE;
	else
		*st = EXT_BAD;
	return ext;
}

/* FAIL r for a duplicate or undecodable extension; 1 when it did. */
static int
ext_broken(enum ext_state st, const char *ext, struct cert_check_result *r)
{
	if (st == EXT_DUPLICATE) {
		result_set(r, CERT_CHECK_FAIL, "more than one %s extension",
			   ext);
		return 1;
	}
	if (st == EXT_BAD) {
		result_set(r, CERT_CHECK_FAIL,
			   "%s extension cannot be decoded", ext);
		return 1;
	}
	return 0;
}

static const char *
key_label(const EVP_PKEY *pkey)
{
	static const struct {
		const char *ossl;
		const char *label;
	} names[] = {
		{"RSA-PSS", "RSA-PSS"}, {"DSA", "DSA"},
		{"ED25519", "Ed25519"}, {"ED448", "Ed448"},
		{"X25519", "X25519"},	{"X448", "X448"},
		{"DHX", "DHX"},		{"DH", "DH"},
		{"SM2", "SM2"},
	};
	const char *name;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (EVP_PKEY_is_a(pkey, names[i].ossl))
			return names[i].label;
	if ((name = EVP_PKEY_get0_type_name(pkey)) != NULL)
		return name;
	return "unknown";
}

static void
ctx_load(struct check_ctx *c, X509 *cert, const struct cert_check_opts *opts)
{
	c->cert = cert;
	c->opts = opts;
	c->now = opts->now != 0 ? opts->now : time(NULL);
	c->pkey = cert_pubkey(cert);
	if (c->pkey == NULL) {
		c->kind = KEY_OTHER;
		c->key_label = "undecodable";
	} else if (EVP_PKEY_is_a(c->pkey, "RSA")) {
		c->kind = KEY_RSA;
		c->key_label = "RSA";
	} else if (EVP_PKEY_is_a(c->pkey, "EC")) {
		c->kind = KEY_EC;
		c->key_label = "EC";
	} else {
		c->kind = KEY_OTHER;
		c->key_label = key_label(c->pkey);
	}
	c->san = ext_get(cert, NID_subject_alt_name, &c->san_st);
	c->ku = ext_get(cert, NID_key_usage, &c->ku_st);
	c->eku = ext_get(cert, NID_ext_key_usage, &c->eku_st);
	c->bc = ext_get(cert, NID_basic_constraints, &c->bc_st);
}

static void
ctx_free(struct check_ctx *c)
{
	GENERAL_NAMES_free(c->san);
	ASN1_BIT_STRING_free(c->ku);
	EXTENDED_KEY_USAGE_free(c->eku);
	BASIC_CONSTRAINTS_free(c->bc);
}

/* 1: version */
static void
check_version(const struct check_ctx *c, struct cert_check_result *r)
{
	long v = X509_get_version(c->cert);

	if (v == X509_VERSION_3)
		result_set(r, CERT_CHECK_PASS, "v3");
	else
		result_set(r, CERT_CHECK_FAIL,
			   "v%ld certificate; X.509 v3 required", v + 1);
}

static int
time_fmt(const ASN1_TIME *t, struct tm *tm, char *buf, size_t size)
{
	if (t == NULL || !ASN1_TIME_to_tm(t, tm))
		return -1;
	if (strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", tm) == 0)
		return -1;
	return 0;
}

/* 2: validity */
static void
check_validity(const struct check_ctx *c, struct cert_check_result *r)
{
	const ASN1_TIME *nb = X509_get0_notBefore(c->cert);
	const ASN1_TIME *na = X509_get0_notAfter(c->cert);
	struct tm nbtm, natm, nowtm;
	char nbs[32], nas[32];
	int days = 0, secs = 0;

	if (time_fmt(nb, &nbtm, nbs, sizeof(nbs)) != 0) {
		result_set(r, CERT_CHECK_FAIL, "notBefore cannot be parsed");
		return;
	}
	if (time_fmt(na, &natm, nas, sizeof(nas)) != 0) {
		result_set(r, CERT_CHECK_FAIL, "notAfter cannot be parsed");
		return;
	}
	if (ASN1_TIME_cmp_time_t(nb, c->now) == 1) {
		result_set(r, CERT_CHECK_FAIL, "not yet valid until %s", nbs);
		return;
	}
	if (ASN1_TIME_cmp_time_t(na, c->now) == -1) {
		result_set(r, CERT_CHECK_FAIL, "expired on %s", nas);
		return;
	}
	if (OPENSSL_gmtime(&c->now, &nowtm) == NULL ||
	    !OPENSSL_gmtime_diff(&days, &secs, &nowtm, &natm))
		days = 0;
	result_set(r, CERT_CHECK_PASS, "valid from %s until %s (%d days left)",
		   nbs, nas, days);
}

/* 3: key */
static void
check_key(const struct check_ctx *c, struct cert_check_result *r)
{
	static const int curves[] = {
		NID_X9_62_prime256v1,
		NID_secp384r1,
		NID_secp521r1,
	};
	char group[64], shown[SHOW_SIZE];
	size_t i, len = 0;
	int bits, nid;

	if (c->pkey == NULL) {
		result_set(r, CERT_CHECK_FAIL,
			   "public key cannot be decoded");
		return;
	}
	switch (c->kind) {
	case KEY_RSA:
		bits = EVP_PKEY_get_bits(c->pkey);
		if (bits < RSA_MIN_BITS)
			result_set(r, CERT_CHECK_FAIL,
				   "RSA-%d is too small (minimum %d)", bits,
				   RSA_MIN_BITS);
		else
			result_set(r, CERT_CHECK_PASS, "RSA-%d", bits);
		return;
	case KEY_EC:
		if (!EVP_PKEY_get_group_name(c->pkey, group, sizeof(group),
					     &len)) {
			result_set(r, CERT_CHECK_FAIL,
				   "EC key without a named curve (P-256, "
				   "P-384 or P-521 required)");
			return;
		}
		nid = OBJ_txt2nid(group);
		for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
			if (nid == curves[i]) {
				result_set(r, CERT_CHECK_PASS, "EC %s",
					   EC_curve_nid2nist(nid));
				return;
			}
		}
		show_str(shown, sizeof(shown), group);
		result_set(r, CERT_CHECK_FAIL,
			   "EC curve %s is not allowed (P-256, P-384 or "
			   "P-521 required)",
			   shown);
		return;
	case KEY_OTHER:
		break;
	}
	result_set(r, CERT_CHECK_FAIL,
		   "%s keys are not allowed (RSA >= %d bits or EC P-256, "
		   "P-384, P-521 required)",
		   c->key_label, RSA_MIN_BITS);
}

/* The entry exists with a non-empty value. */
static int
name_has(const X509_NAME *name, int nid)
{
	const X509_NAME_ENTRY *ent;
	int idx = -1;

	while ((idx = X509_NAME_get_index_by_NID(name, nid, idx)) >= 0) {
		ent = X509_NAME_get_entry(name, idx);
		if (ASN1_STRING_length(X509_NAME_ENTRY_get_data(ent)) > 0)
			return 1;
	}
	return 0;
}

static int
country_ok(const ASN1_STRING *s)
{
	const unsigned char *d = ASN1_STRING_get0_data(s);
	int i;

	if (ASN1_STRING_length(s) != 2)
		return 0;
	for (i = 0; i < 2; i++)
		if (!((d[i] >= 'A' && d[i] <= 'Z') ||
		      (d[i] >= 'a' && d[i] <= 'z')))
			return 0;
	return 1;
}

/* 4: subject */
static void
check_subject(const struct check_ctx *c, struct cert_check_result *r)
{
	static const struct {
		int nid;
		const char *name;
	} wanted[] = {
		{NID_organizationName, "organizationName"},
		{NID_organizationalUnitName, "organizationalUnitName"},
		{NID_localityName, "localityName"},
		{NID_stateOrProvinceName, "stateOrProvinceName"},
		{NID_countryName, "countryName"},
	};
	const X509_NAME *name = X509_get_subject_name(c->cert);
	const X509_NAME_ENTRY *ent;
	char missing[LIST_SIZE] = "", shown[SHOW_SIZE];
	int idx, has_cn, has_san;
	size_t i;

	has_cn = name_has(name, NID_commonName);
	has_san = c->san_st == EXT_PRESENT && sk_GENERAL_NAME_num(c->san) > 0;
	if (!has_cn && !has_san) {
		result_set(r, CERT_CHECK_FAIL,
			   "no commonName and no subjectAltName");
		return;
	}
	idx = -1;
	while ((idx = X509_NAME_get_index_by_NID(name, NID_countryName,
						 idx)) >= 0) {
		ent = X509_NAME_get_entry(name, idx);
		if (!country_ok(X509_NAME_ENTRY_get_data(ent))) {
			show_asn1(shown, sizeof(shown),
				  X509_NAME_ENTRY_get_data(ent));
			result_set(r, CERT_CHECK_FAIL,
				   "countryName '%s' is not a two-letter code",
				   shown);
			return;
		}
	}
	if (c->opts->role == CERT_ROLE_IDENTITY) {
		for (i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
			if (!name_has(name, wanted[i].nid))
				list_add(missing, sizeof(missing),
					 wanted[i].name);
		if (missing[0] != '\0') {
			result_set(r, CERT_CHECK_WARN, "missing: %s", missing);
			return;
		}
	}
	if (!has_cn) {
		result_set(r, CERT_CHECK_PASS,
			   "no commonName; named by subjectAltName");
		return;
	}
	idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	ent = X509_NAME_get_entry(name, idx);
	show_asn1(shown, sizeof(shown), X509_NAME_ENTRY_get_data(ent));
	result_set(r, CERT_CHECK_PASS, "CN '%s'", shown);
}

static int
ku_has(const ASN1_BIT_STRING *ku, int bit)
{
	return ASN1_BIT_STRING_get_bit(ku, bit);
}

static void
ku_list(const ASN1_BIT_STRING *ku, char *buf, size_t size)
{
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < sizeof(ku_bits) / sizeof(ku_bits[0]); i++)
		if (ku_has(ku, ku_bits[i].bit))
			list_add(buf, size, ku_bits[i].name);
	if (buf[0] == '\0')
		snprintf(buf, size, "none");
}

/* 5: key-usage-sign */
static void
check_ku_sign(const struct check_ctx *c, struct cert_check_result *r)
{
	char has[LIST_SIZE];
	const char *lacks = NULL;
	int ds, nr, want_nr;

	if (c->ku_st == EXT_ABSENT) {
		result_set(r, CERT_CHECK_PASS,
			   "absent: digitalSignature and nonRepudiation "
			   "presumed");
		return;
	}
	if (ext_broken(c->ku_st, "keyUsage", r))
		return;
	ds = ku_has(c->ku, BIT_DIGITAL_SIGNATURE);
	nr = ku_has(c->ku, BIT_NON_REPUDIATION);
	/* The reference wants nonRepudiation on our signing identities;
	 * RFC 8550 and the Baseline Requirements make it optional. */
	want_nr = c->opts->role == CERT_ROLE_IDENTITY && !nr;
	if (!ds && want_nr && c->opts->rules == CERT_RULES_REFERENCE)
		lacks = "digitalSignature and nonRepudiation";
	else if (!ds)
		lacks = "digitalSignature";
	else if (want_nr && c->opts->rules == CERT_RULES_REFERENCE)
		lacks = "nonRepudiation";
	ku_list(c->ku, has, sizeof(has));
	if (lacks != NULL)
		result_set(r, CERT_CHECK_FAIL, "keyUsage lacks %s (has: %s)",
			   lacks, has);
	else if (want_nr)
		result_set(r, CERT_CHECK_WARN,
			   "%s (advice: the reference's requirements also "
			   "want nonRepudiation)",
			   has);
	else
		result_set(r, CERT_CHECK_PASS, "%s", has);
}

/* The keyUsage bit that lets a key of this kind be encrypted to. */
static int
encrypt_bit(enum key_kind kind, const char **need)
{
	switch (kind) {
	case KEY_RSA:
		*need = "keyEncipherment";
		return BIT_KEY_ENCIPHERMENT;
	case KEY_EC:
		*need = "keyAgreement";
		return BIT_KEY_AGREEMENT;
	case KEY_OTHER:
		break;
	}
	*need = NULL;
	return -1;
}

/* 6: key-usage-encrypt */
static void
check_ku_encrypt(const struct check_ctx *c, struct cert_check_result *r)
{
	char has[LIST_SIZE];
	const char *need;
	int bit;

	if ((bit = encrypt_bit(c->kind, &need)) < 0) {
		result_set(r, CERT_CHECK_FAIL,
			   "%s keys cannot be used for S/MIME encryption",
			   c->key_label);
		return;
	}
	if (c->ku_st == EXT_ABSENT) {
		if (c->opts->rules == CERT_RULES_REFERENCE)
			result_set(r, CERT_CHECK_FAIL,
				   "keyUsage extension absent; %s required",
				   need);
		else
			result_set(r, CERT_CHECK_WARN,
				   "absent: every use allowed (advice: the "
				   "reference's requirements want keyUsage "
				   "with %s)",
				   need);
		return;
	}
	if (ext_broken(c->ku_st, "keyUsage", r))
		return;
	ku_list(c->ku, has, sizeof(has));
	if (!ku_has(c->ku, bit))
		result_set(r, CERT_CHECK_FAIL,
			   "keyUsage lacks %s, required for %s keys (has: %s)",
			   need, c->key_label, has);
	else
		result_set(r, CERT_CHECK_PASS, "%s", has);
}

/* 7: extended-key-usage */
static void
check_eku(const struct check_ctx *c, struct cert_check_result *r)
{
	char list[LIST_SIZE] = "", oid[80];
	const ASN1_OBJECT *obj;
	int i, n, nid, ok = 0;

	if (c->eku_st == EXT_ABSENT) {
		result_set(r, CERT_CHECK_PASS, "absent: any purpose");
		return;
	}
	if (ext_broken(c->eku_st, "extendedKeyUsage", r))
		return;
	n = sk_ASN1_OBJECT_num(c->eku);
	for (i = 0; i < n; i++) {
		obj = sk_ASN1_OBJECT_value(c->eku, i);
		nid = OBJ_obj2nid(obj);
		if (nid == NID_email_protect || nid == NID_anyExtendedKeyUsage)
			ok = 1;
		if (nid != NID_undef)
			list_add(list, sizeof(list), OBJ_nid2sn(nid));
		else if (OBJ_obj2txt(oid, sizeof(oid), obj, 1) > 0)
			list_add(list, sizeof(list), oid);
		else
			list_add(list, sizeof(list), "?");
	}
	if (ok)
		result_set(r, CERT_CHECK_PASS, "%s", list);
	else if (n == 0)
		result_set(r, CERT_CHECK_FAIL,
			   "empty extendedKeyUsage, emailProtection required");
	else
		result_set(r, CERT_CHECK_FAIL,
			   "%s only, emailProtection required", list);
}

/*
 * Copy an IA5String GeneralName into buf; -1 when it holds a NUL byte
 * or does not fit.
 */
static int
ia5_copy(const ASN1_STRING *s, char *buf, size_t size)
{
	int len = ASN1_STRING_length(s);
	const unsigned char *d = ASN1_STRING_get0_data(s);

	buf[0] = '\0';
	if (len < 0 || (size_t)len >= size ||
	    (len > 0 && memchr(d, '\0', (size_t)len) != NULL))
		return -1;
	if (len > 0)
		memcpy(buf, d, (size_t)len);
	buf[len] = '\0';
	return 0;
}

/*
 * local@domain: a non-empty local part of printable ASCII without
 * spaces, split at the last '@', and a domain that is a host name
 * (cert_fqdn_valid() without wildcard or trailing dot).
 */
static int
email_valid(const ASN1_STRING *s)
{
	char buf[VALUE_MAX + 1];
	const char *at, *p;
	size_t dlen;

	if (ia5_copy(s, buf, sizeof(buf)) != 0)
		return 0;
	if ((at = strrchr(buf, '@')) == NULL || at == buf)
		return 0;
	for (p = buf; p < at; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return 0;
	dlen = strlen(at + 1);
	if (dlen == 0 || at[dlen] == '.')
		return 0;
	return cert_fqdn_valid(at + 1, 0);
}

/* 8: subject-alt-name */
static void
check_san(const struct check_ctx *c, struct cert_check_result *r)
{
	const GENERAL_NAME *gn;
	char shown[SHOW_SIZE];
	int i, n, n_email = 0, n_dns = 0;

	if (ext_broken(c->san_st, "subjectAltName", r))
		return;
	n = c->san_st == EXT_PRESENT ? sk_GENERAL_NAME_num(c->san) : 0;
	for (i = 0; i < n; i++) {
		gn = sk_GENERAL_NAME_value(c->san, i);
		if (gn->type == GEN_DNS) {
			n_dns++;
		} else if (gn->type == GEN_EMAIL) {
			n_email++;
			if (!email_valid(gn->d.rfc822Name)) {
				show_asn1(shown, sizeof(shown),
					  gn->d.rfc822Name);
				result_set(r, CERT_CHECK_FAIL,
					   "rfc822Name '%s' is not a valid "
					   "address (local@domain)",
					   shown);
				return;
			}
		}
	}
	if (n_email + n_dns > 0) {
		result_set(r, CERT_CHECK_PASS, "%d rfc822Name, %d dNSName",
			   n_email, n_dns);
		return;
	}
	if (name_has(X509_get_subject_name(c->cert), NID_pkcs9_emailAddress))
		result_set(r, CERT_CHECK_WARN,
			   "no SAN; legacy emailAddress in subject");
	else if (c->san_st == EXT_PRESENT)
		result_set(r, CERT_CHECK_FAIL,
			   "subjectAltName has no rfc822Name or dNSName, no "
			   "emailAddress in subject");
	else
		result_set(r, CERT_CHECK_FAIL,
			   "no subjectAltName and no emailAddress in subject");
}

/* 9: fqdn */
static void
check_fqdn(const struct check_ctx *c, struct cert_check_result *r)
{
	const X509_NAME *name = X509_get_subject_name(c->cert);
	const ASN1_STRING *s;
	const GENERAL_NAME *gn;
	char buf[VALUE_MAX + 1], shown[SHOW_SIZE];
	int i, n, idx = -1, n_cn = 0, n_dns = 0;

	while ((idx = X509_NAME_get_index_by_NID(name, NID_commonName,
						 idx)) >= 0) {
		s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
		if (asn1_utf8(s, buf, sizeof(buf)) != 0 ||
		    !cert_fqdn_valid(buf, 1)) {
			show_asn1(shown, sizeof(shown), s);
			result_set(r, CERT_CHECK_FAIL,
				   "CN '%s' is not a fully qualified domain "
				   "name",
				   shown);
			return;
		}
		n_cn++;
	}
	n = c->san_st == EXT_PRESENT ? sk_GENERAL_NAME_num(c->san) : 0;
	for (i = 0; i < n; i++) {
		gn = sk_GENERAL_NAME_value(c->san, i);
		if (gn->type != GEN_DNS)
			continue;
		if (ia5_copy(gn->d.dNSName, buf, sizeof(buf)) != 0 ||
		    !cert_fqdn_valid(buf, 1)) {
			show_asn1(shown, sizeof(shown), gn->d.dNSName);
			result_set(r, CERT_CHECK_FAIL,
				   "dNSName '%s' is not a fully qualified "
				   "domain name",
				   shown);
			return;
		}
		n_dns++;
	}
	if (n_cn + n_dns == 0)
		result_set(r, CERT_CHECK_PASS,
			   "no commonName or dNSName to check");
	else
		result_set(r, CERT_CHECK_PASS,
			   "%d commonName, %d dNSName are FQDNs", n_cn, n_dns);
}

static const char *
weak_digest(int md_nid)
{
	switch (md_nid) {
	case NID_md2:
		return "MD2";
	case NID_md4:
		return "MD4";
	case NID_md5:
		return "MD5";
	case NID_md5_sha1:
		return "MD5+SHA-1";
	case NID_mdc2:
		return "MDC2";
	case NID_sha1:
		return "SHA-1";
	default:
		return NULL;
	}
}

/* 10: signature-algorithm */
static void
check_sigalg(const struct check_ctx *c, struct cert_check_result *r)
{
	const X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *obj = NULL;
	const char *weak;
	char name[80];
	int sig, md = NID_undef, pk = NID_undef, secbits = 0;
	uint32_t flags = 0;

	sig = X509_get_signature_nid(c->cert);
	if (sig == NID_undef) {
		X509_get0_signature(NULL, &alg, c->cert);
		X509_ALGOR_get0(&obj, NULL, NULL, alg);
		if (obj == NULL || OBJ_obj2txt(name, sizeof(name), obj, 1) <= 0)
			snprintf(name, sizeof(name), "?");
		result_set(r, CERT_CHECK_WARN,
			   "unrecognised signature algorithm %s", name);
		return;
	}
	snprintf(name, sizeof(name), "%s", OBJ_nid2ln(sig));
	if (!OBJ_find_sigid_algs(sig, &md, &pk))
		md = NID_undef;
	/* RSASSA-PSS carries its digest in the parameters. */
	if (md == NID_undef && sig == NID_rsassaPss) {
		if (X509_get_signature_info(c->cert, &md, &pk, &secbits,
					    &flags) != 1)
			md = NID_undef;
		if (md != NID_undef)
			list_add(name, sizeof(name), OBJ_nid2sn(md));
	}
	if ((weak = weak_digest(md)) != NULL)
		result_set(r, CERT_CHECK_WARN, "%s: %s is deprecated", name,
			   weak);
	else
		result_set(r, CERT_CHECK_PASS, "%s", name);
}

/* 11: basic-constraints */
static void
check_bc(const struct check_ctx *c, struct cert_check_result *r)
{
	if (c->bc_st == EXT_ABSENT) {
		result_set(r, CERT_CHECK_PASS, "absent: not a CA");
		return;
	}
	if (ext_broken(c->bc_st, "basicConstraints", r))
		return;
	if (!c->bc->ca)
		result_set(r, CERT_CHECK_PASS, "CA:FALSE");
	else if (c->opts->role == CERT_ROLE_IDENTITY)
		result_set(r, CERT_CHECK_FAIL,
			   "CA:TRUE; a CA certificate cannot be an S/MIME "
			   "identity");
	else
		result_set(r, CERT_CHECK_WARN,
			   "CA:TRUE on a partner certificate");
}

int
cert_check(X509 *cert, const struct cert_check_opts *opts,
	   struct cert_check_report *report)
{
	struct check_ctx c;
	struct cert_check_result *r;
	size_t i;
	int rc = 0, run, mark = 0;

	memset(&c, 0, sizeof(c));
	if (report != NULL)
		memset(report, 0, sizeof(*report));
	if (cert == NULL || opts == NULL || report == NULL) {
		rc = gw_err_set(GW_ERR_INVALID, "cert_check: NULL argument");
		goto out;
	}
	if (opts->usage != CERT_USAGE_SIGN &&
	    opts->usage != CERT_USAGE_ENCRYPT &&
	    opts->usage != CERT_USAGE_BOTH) {
		rc = gw_err_set(GW_ERR_INVALID,
				"cert_check: usage %d is not sign, encrypt "
				"or both",
				(int)opts->usage);
		goto out;
	}
	if (opts->rules != CERT_RULES_REFERENCE &&
	    opts->rules != CERT_RULES_STANDARD) {
		rc = gw_err_set(GW_ERR_INVALID, "cert_check: unknown rules %d",
				(int)opts->rules);
		goto out;
	}
	if (opts->role != CERT_ROLE_IDENTITY &&
	    opts->role != CERT_ROLE_PARTNER) {
		rc = gw_err_set(GW_ERR_INVALID, "cert_check: unknown role %d",
				(int)opts->role);
		goto out;
	}
	mark = ERR_set_mark();
	ctx_load(&c, cert, opts);
	for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		switch (checks[i].when) {
		case WHEN_SIGN:
			run = (opts->usage & CERT_USAGE_SIGN) != 0;
			break;
		case WHEN_ENCRYPT:
			run = (opts->usage & CERT_USAGE_ENCRYPT) != 0;
			break;
		case WHEN_FQDN:
			run = opts->fqdn_check != 0;
			break;
		case WHEN_ALWAYS:
		default:
			run = 1;
			break;
		}
		if (!run)
			continue;
		r = &report->r[report->n++];
		r->name = checks[i].name;
		r->status = CERT_CHECK_PASS;
		r->detail[0] = '\0';
		checks[i].fn(&c, r);
		if (r->status == CERT_CHECK_FAIL && rc == 0)
			rc = gw_err_set(GW_ERR_REQUIREMENT, "%s: %s", r->name,
					r->detail);
	}
out:
	if (mark)
		ERR_pop_to_mark();
	ctx_free(&c);
	return rc;
}

int
cert_usage_parse(const char *s, enum cert_usage *out)
{
	static const struct {
		const char *name;
		enum cert_usage usage;
	} usages[] = {
		{"sign", CERT_USAGE_SIGN},
		{"encrypt", CERT_USAGE_ENCRYPT},
		{"both", CERT_USAGE_BOTH},
	};
	char shown[SHOW_SIZE];
	size_t i;

	if (s == NULL || out == NULL)
		return gw_err_set(GW_ERR_INVALID, "usage: NULL argument");
	for (i = 0; i < sizeof(usages) / sizeof(usages[0]); i++) {
		if (strcmp(s, usages[i].name) == 0) {
			*out = usages[i].usage;
			return 0;
		}
	}
	show_str(shown, sizeof(shown), s);
	return gw_err_set(GW_ERR_INVALID,
			  "usage '%s': expected sign, encrypt or both", shown);
}

const char *
cert_usage_name(enum cert_usage usage)
{
	switch (usage) {
	case CERT_USAGE_SIGN:
		return "sign";
	case CERT_USAGE_ENCRYPT:
		return "encrypt";
	case CERT_USAGE_BOTH:
		return "both";
	}
	return "unknown";
}

static enum cert_rules others_rules = CERT_RULES_STANDARD;

void
cert_rules_set_others(enum cert_rules rules)
{
	others_rules = rules == CERT_RULES_REFERENCE ? CERT_RULES_REFERENCE
						     : CERT_RULES_STANDARD;
}

enum cert_rules
cert_rules_others(void)
{
	return others_rules;
}

int
cert_requirements_parse(const char *s, enum cert_rules *out)
{
	if (s != NULL && strcmp(s, "standard") == 0) {
		*out = CERT_RULES_STANDARD;
		return 0;
	}
	if (s != NULL && strcmp(s, "strict") == 0) {
		*out = CERT_RULES_REFERENCE;
		return 0;
	}
	return gw_err_set_at(GW_ERR_INVALID, "cert_requirements",
			     "'%.64s' is not standard or strict", s ? s : "");
}

const char *
cert_rules_name(enum cert_rules rules)
{
	return rules == CERT_RULES_STANDARD ? "standard" : "reference";
}

int
cert_key_usage_allows(X509 *cert, enum cert_usage usage,
		      enum cert_rules rules)
{
	ASN1_BIT_STRING *ku;
	enum ext_state st;
	EVP_PKEY *pk;
	enum key_kind kind = KEY_OTHER;
	const char *need;
	int bit, ok = 1, mark;

	if (cert == NULL || (usage & CERT_USAGE_BOTH) == 0)
		return 0;
	if ((pk = cert_pubkey(cert)) == NULL) {
		ERR_clear_error();
		return 0;
	}
	if (EVP_PKEY_is_a(pk, "RSA"))
		kind = KEY_RSA;
	else if (EVP_PKEY_is_a(pk, "EC"))
		kind = KEY_EC;
	mark = ERR_set_mark();
	ku = ext_get(cert, NID_key_usage, &st);
	if (mark)
		ERR_pop_to_mark();
	if (st == EXT_DUPLICATE || st == EXT_BAD) {
		ok = 0;
		goto out;
	}
	if ((usage & CERT_USAGE_SIGN) && st == EXT_PRESENT &&
	    !ku_has(ku, BIT_DIGITAL_SIGNATURE))
		ok = 0;
	if (usage & CERT_USAGE_ENCRYPT) {
		if ((bit = encrypt_bit(kind, &need)) < 0)
			ok = 0;
		else if (st == EXT_ABSENT)
			ok = ok && rules == CERT_RULES_STANDARD;
		else if (!ku_has(ku, bit))
			ok = 0;
	}
out:
	ASN1_BIT_STRING_free(ku);
	return ok;
}

const char *
cert_check_status_name(enum cert_check_status st)
{
	switch (st) {
	case CERT_CHECK_PASS:
		return "pass";
	case CERT_CHECK_WARN:
		return "warn";
	case CERT_CHECK_FAIL:
		return "fail";
	}
	return "unknown";
}

/*
 * One label of n bytes: 1-63 letters, digits and inner hyphens, or "*"
 * when wild is set.  *digits is set when it is all digits.
 */
static int
label_valid(const char *l, size_t n, int wild, int *digits)
{
	size_t i;
	char ch;

	*digits = 0;
	if (n == 1 && l[0] == '*')
		return wild;
	if (n == 0 || n > LABEL_MAX || l[0] == '-' || l[n - 1] == '-')
		return 0;
	*digits = 1;
	for (i = 0; i < n; i++) {
		ch = l[i];
		if (ch >= '0' && ch <= '9')
			continue;
		*digits = 0;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    ch == '-')
			continue;
		return 0;
	}
	return 1;
}

int
cert_fqdn_valid(const char *name, int allow_wildcard)
{
	size_t len, i, start = 0, labels = 0;
	int digits = 0;

	if (name == NULL)
		return 0;
	len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > FQDN_MAX)
		return 0;
	for (i = 0; i <= len; i++) {
		if (i < len && name[i] != '.')
			continue;
		if (!label_valid(name + start, i - start,
				 labels == 0 && allow_wildcard, &digits))
			return 0;
		labels++;
		start = i + 1;
	}
	if (labels < 2 || digits)
		return 0;
	/* "*.net" would match a whole top-level domain. */
	if (name[0] == '*' && labels < 3)
		return 0;
	return 1;
}
