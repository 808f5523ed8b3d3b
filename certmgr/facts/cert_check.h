/*
 * cert_check.h - S/MIME certificate requirement checks.
 *
 * Two sets of key usage rules (enum cert_rules):
 *
 *   CERT_RULES_REFERENCE  the reference's "S/MIME Certificate
 *       Requirements": an identity that signs needs digitalSignature and
 *       nonRepudiation when keyUsage is present; encryption needs the
 *       keyUsage extension, with keyEncipherment for RSA keys and
 *       keyAgreement for EC keys.  For the certificates smimegw makes
 *       itself (cert create), and for every certificate under
 *       cert_requirements = strict.
 *   CERT_RULES_STANDARD   RFC 8550 section 4.4.2 and the CA/Browser
 *       Forum S/MIME Baseline Requirements, for certificates others made
 *       (imported and installed identities, partners' keys): no keyUsage
 *       extension allows every use; signing needs digitalSignature
 *       (nonRepudiation optional); encryption needs keyEncipherment
 *       (RSA) or keyAgreement (EC).  What the reference's rules would
 *       refuse beyond these is a WARN whose detail says
 *       "(advice: the reference's requirements ...)", never a FAIL.
 *
 * Two roles: CERT_ROLE_IDENTITY is one of the gateway's own certificates
 * (held with a token key); CERT_ROLE_PARTNER is a partner's public
 * certificate.  Under either rule set a partner's signing certificate
 * needs only digitalSignature (when keyUsage is present), and only an
 * identity is refused for CA:TRUE or warned for a thin subject.
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

/* 0 is the reference's rules, so that a zeroed cert_check_opts is the
 * stricter choice. */
enum cert_rules {
	CERT_RULES_REFERENCE = 0,
	CERT_RULES_STANDARD = 1,
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
	enum cert_rules rules;
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
 * The rules for certificates smimegw did not make, for the whole
 * process: CERT_RULES_STANDARD unless set otherwise.  Set once by the
 * program that read smimegw.conf (cert_requirements), before any
 * thread starts and before any certificate is checked.
 */
void cert_rules_set_others(enum cert_rules rules);
enum cert_rules cert_rules_others(void);
/* cert_requirements: "standard" -> CERT_RULES_STANDARD, "strict" ->
 * CERT_RULES_REFERENCE; GW_ERR_INVALID otherwise. */
int cert_requirements_parse(const char *s, enum cert_rules *out);
/* "reference" or "standard". */
const char *cert_rules_name(enum cert_rules rules);

/*
 * 1 when cert's keyUsage lets its key do usage (CERT_USAGE_SIGN:
 * verify or make signatures; CERT_USAGE_ENCRYPT: be encrypted to;
 * CERT_USAGE_BOTH: both) under rules, else 0: no keyUsage extension
 * allows signing under both rule sets and encryption under
 * CERT_RULES_STANDARD only; signing needs digitalSignature; encryption
 * needs an RSA key with keyEncipherment or an EC key with keyAgreement.
 * A keyUsage that cannot be decoded or appears twice allows nothing.
 */
int cert_key_usage_allows(X509 *cert, enum cert_usage usage,
			  enum cert_rules rules);

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
