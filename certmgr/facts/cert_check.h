/*
 * cert_check.h - S/MIME certificate requirement checks.
 *
 * The rules come from the reference's "S/MIME Certificate Requirements"
 * (signing: digitalSignature and nonRepudiation when keyUsage is present;
 * encryption: keyUsage present with keyEncipherment for RSA keys,
 * keyAgreement for EC keys) and RFC 8550 (emailProtection EKU, SANs).
 *
 * Two roles: CERT_ROLE_IDENTITY is one of the gateway's own certificates
 * (held with a token key), held to the reference's requirements in full;
 * CERT_ROLE_PARTNER is a partner's public certificate, for which a
 * verifying certificate only needs digitalSignature (when keyUsage is
 * present) and an encrypting one keyEncipherment (RSA) / keyAgreement
 * (EC).
 *
 * cert_check() runs every check, records each result in the report (in
 * a fixed order, see cert_check.c) and returns 0 when no check FAILed,
 * GW_ERR_REQUIREMENT when one did (the detail names the first failing
 * check and the value at fault), GW_ERR_INVALID for a NULL argument.
 * WARN results never fail the call.  The report is filled in either
 * case and owns no memory.
 *
 * The latched detail reads "<check>: <detail>", e.g. "key: RSA-1024 is
 * too small (minimum 2048)".  A usage other than sign/encrypt/both or an
 * unknown role is also GW_ERR_INVALID; on GW_ERR_INVALID the report (if
 * any) is left empty (n == 0).  Values quoted from the certificate are
 * escaped (\xNN) and cut, so a detail is safe to log on one line.  An
 * extension present twice or not decodable FAILs the check reading it.
 */
#ifndef CERT_CHECK_H
#define CERT_CHECK_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

enum cert_usage {
	CERT_USAGE_SIGN = 1,
	CERT_USAGE_ENCRYPT = 2,
	CERT_USAGE_BOTH = 3,
};

enum cert_role {
	CERT_ROLE_IDENTITY,
	CERT_ROLE_PARTNER,
};

enum cert_check_status {
	CERT_CHECK_PASS,
	CERT_CHECK_WARN,
	CERT_CHECK_FAIL,
};

struct cert_check_result {
	const char *name; /* static, e.g. "key-usage-sign" */
	enum cert_check_status status;
	char detail[256];
};

#define CERT_CHECK_MAX 16

struct cert_check_report {
	size_t n;
	struct cert_check_result r[CERT_CHECK_MAX];
};

struct cert_check_opts {
	enum cert_usage usage;
	enum cert_role role;
	int fqdn_check; /* CN and SAN DNS names must be FQDNs */
	time_t now;	/* 0 means time(NULL); injectable for tests */
};

/* "sign", "encrypt", "both" -> 0 and *out; GW_ERR_INVALID otherwise. */
int cert_usage_parse(const char *s, enum cert_usage *out);
/* "sign", "encrypt" or "both". */
const char *cert_usage_name(enum cert_usage usage);
/* "pass", "warn" or "fail". */
const char *cert_check_status_name(enum cert_check_status st);

int cert_check(X509 *cert, const struct cert_check_opts *opts,
	       struct cert_check_report *report);

/*
 * 1 when name is a fully qualified domain name: at least two labels,
 * each 1-63 characters of letters, digits and inner hyphens, total at
 * most 253, the last label not all digits; a single trailing dot is
 * allowed.  With allow_wildcard, a leftmost label of exactly "*" is
 * allowed ("*.domain.net"), but not "*" alone, "*.net" or "a*.b.c".
 * 0 otherwise.
 */
int cert_fqdn_valid(const char *name, int allow_wildcard);

#endif
