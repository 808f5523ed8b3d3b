/*
 * test_cert_check.c - table tests for certmgr/cert_check.c.
 *
 * Every case builds a certificate in memory with software keys (made
 * once per run in the group setup), round-trips it through DER as a
 * parsed certificate would be, runs cert_check() at a fixed clock and
 * asserts the return code, the status and detail of one named check,
 * and the latched gw_err_detail().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "unit_util.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cert_check.h"
#include "gw_err.h"

#define NOW ((time_t)1735689600) /* 2025-01-01 00:00:00 UTC */
#define DAY 86400L

#define ABSENT ""    /* cert_spec string: leave the field out */
#define OMITTED (-1) /* expected status: the check has no entry */

#define DEF_SUBJECT                                                     \
	"/CN=gw.example.com/O=Example Corp/OU=Mail/L=Berlin/ST=Berlin/C=DE"
#define DEF_SAN "email:gw@example.com,DNS:gw.example.com"
#define DEF_KU_RSA "critical,digitalSignature,nonRepudiation,keyEncipherment"
#define DEF_KU_EC "critical,digitalSignature,nonRepudiation,keyAgreement"
#define DEF_EKU "emailProtection"
#define DEF_BC "critical,CA:FALSE"

/* 40 characters; two of them make a label longer than 63. */
#define LONG_LABEL "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

enum tkey {
	K_RSA2048,
	K_RSA1024,
	K_P256,
	K_P384,
	K_K256,
	K_ED25519,
	K_X25519,
	K_DSA,
	K_COUNT,
};

enum tsig {
	S_SHA256,
	S_SHA1,
	S_MD5,
	S_ECDSA_SHA384,
	S_PSS,
};

struct cert_spec {
	int v1;			/* build a v1 certificate, no extensions */
	enum tkey key;		/* subject key; K_RSA2048 by default */
	const char *subject;	/* NULL: DEF_SUBJECT; "/CN=a/O=b" */
	const char *san;	/* NULL: default, ABSENT: none */
	const char *ku;		/* NULL: DEF_KU_RSA or DEF_KU_EC */
	const char *eku;
	const char *bc;
	long nb, na;		/* offsets from now; both 0: -30d, +365d */
	enum tsig sig;
	int bad_ku;		/* keyUsage that does not decode */
	int dup_san;		/* subjectAltName twice */
};

struct tcase {
	const char *name;
	struct cert_spec spec;
	int usage;		/* 0: CERT_USAGE_BOTH */
	enum cert_role role;	/* CERT_ROLE_IDENTITY by default */
	enum cert_rules rules;	/* CERT_RULES_REFERENCE by default */
	int fqdn;
	int real_clock;		/* opts.now = 0: time(NULL) */
	int rc;
	const char *check;	/* the named check asserted */
	int status;		/* its status, or OMITTED */
	const char *detail;	/* substring of its detail */
	const char *latched;	/* substring of gw_err_detail(); NULL: "" */
};

static EVP_PKEY *keys[K_COUNT];
static X509 *cur_cert;

/* A 2048-bit DSA key: generating DSA parameters per run is too slow. */
static const char dsa_pub_pem[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MIIDQjCCAjUGByqGSM44BAEwggIoAoIBAQCfs5JvpI/saFvhHopmj3y2Vq/Tkj4/\n"
	"hI+hvLaT0zrbzmu43I1aKbOM+Q7VCJwxpK8tQpJhGI2OVIAWjVG5efpeebTxYiYO\n"
	"6xlVsper7CqcI0+yd+sRPl+LoKHHeMuGRTpyOn6y3JhQqy7uaMB8+ZFye7lx/sob\n"
	"JVYpLUHeU+0zJ39afFOdb9V3zJ8DnPRo9WRAVvzu4VyVhoNvDHlsjAznqbYUvh/e\n"
	"bgt+bvLSCe60gLZp+PhnzJApPH7GuMqi3/sBxw3bd+ip9YSchcPyMTuiZM3wVcvb\n"
	"l88/BH82GiMcTJMeG3JJz/XY9jaPL8oxfIDcW6kqVhziLQPQsE5uKP+hAh0AjZOF\n"
	"F5WnwqpdYy/G3H4lSwW+wxvq6xpH6MPsxQKCAQA3E5ts4T5Jtp8kb0ie+Jtq3WfD\n"
	"kwH0WP2o12PLfe2jQbn1NxrYZAfRQQ/dEjGlGOJxiLeZUDdQ7MfG83KQgc2P4vR/\n"
	"w6KlJVTschAeYZ6q/BvD2HTx89782zPPQ9OziHZHYVy4VFwBMPjgO7JGcwi3HGj5\n"
	"F2wq7EgLCTfKg6OMt4ldHwp2VH2534Wntr4J2gaHz5v6U7pcqDpd3+pim5njOtVl\n"
	"uBpKOUJzllX7ibqE6snwMV5n4RTAItR6B7gA7RAkzR1YWeAVu37tT5ivEwI8TJjE\n"
	"x9AQGgnj8cBJ53bHx58ObaT3sCAZtfEo2Y6k0Nn4gFFE2S0gXxReNbTQYhDUA4IB\n"
	"BQACggEADoD2hjbzl5QGDrl4HkbNsQswRnwspPLfOj6fS1j/GZ28VUI3zOL3brRE\n"
	"bfvcw7+PwKhoN6YSXFV6Xhd9andNXdGqbTsuW9WuuyKgVsNn3v4Tbe0ml7baBSkT\n"
	"HBR7QJnxsZwmvXqkvR2qhU8kmZ5nBqzyquyZ9mHW5xIxvATHwMKLFNpxw8Qb/jOQ\n"
	"uy7TPa3mpPafvR23UTdtuZZWzTGDa7XJ6EIJaTQ2JtZD0FTQKdprHX2rRkr1wI3N\n"
	"YNNFOa4HRmuM3+WFCrc4/ofH/HQnxsHAOgvzum8OFSClOD9xVeb2JRLDsRsjcGGB\n"
	"/QUtY1uVoB3Pv31v/GjQMnbjYxahVA==\n"
	"-----END PUBLIC KEY-----\n";

static const struct tcase cases[] = {
	/* Baselines */
	{.name = "good RSA identity, sign+encrypt",
	 .check = "key", .status = CERT_CHECK_PASS, .detail = "RSA-2048"},
	{.name = "good EC P-256 identity, sign+encrypt",
	 .spec = {.key = K_P256},
	 .check = "key-usage-encrypt", .status = CERT_CHECK_PASS,
	 .detail = "keyAgreement"},
	{.name = "good partner, minimal subject",
	 .spec = {.subject = "/CN=partner.example.org"},
	 .role = CERT_ROLE_PARTNER,
	 .check = "subject", .status = CERT_CHECK_PASS,
	 .detail = "CN 'partner.example.org'"},

	/* 1 version */
	{.name = "version: v1 certificate fails",
	 .spec = {.v1 = 1},
	 .rc = GW_ERR_REQUIREMENT, .check = "version",
	 .status = CERT_CHECK_FAIL, .detail = "v1 certificate",
	 .latched = "version: v1 certificate; X.509 v3 required"},

	/* 2 validity */
	{.name = "validity: not yet valid",
	 .spec = {.nb = DAY, .na = 365 * DAY},
	 .rc = GW_ERR_REQUIREMENT, .check = "validity",
	 .status = CERT_CHECK_FAIL,
	 .detail = "not yet valid until 2025-01-02 00:00:00 UTC",
	 .latched = "validity: not yet valid until 2025-01-02 00:00:00 UTC"},
	{.name = "validity: expired",
	 .spec = {.nb = -365 * DAY, .na = -DAY},
	 .rc = GW_ERR_REQUIREMENT, .check = "validity",
	 .status = CERT_CHECK_FAIL,
	 .detail = "expired on 2024-12-31 00:00:00 UTC",
	 .latched = "validity: expired on 2024-12-31 00:00:00 UTC"},
	{.name = "validity: notAfter equal to now still valid",
	 .spec = {.nb = -DAY, .na = 0},
	 .check = "validity", .status = CERT_CHECK_PASS,
	 .detail = "until 2025-01-01 00:00:00 UTC (0 days left)"},
	{.name = "validity: shows both dates and days left",
	 .spec = {.nb = -30 * DAY, .na = 10 * DAY + 3600},
	 .check = "validity", .status = CERT_CHECK_PASS,
	 .detail = "valid from 2024-12-02 00:00:00 UTC until "
		   "2025-01-11 01:00:00 UTC (10 days left)"},
	{.name = "validity: now=0 uses the real clock",
	 .real_clock = 1,
	 .check = "validity", .status = CERT_CHECK_PASS,
	 .detail = "days left"},

	/* 3 key */
	{.name = "key: RSA-1024 too small",
	 .spec = {.key = K_RSA1024},
	 .rc = GW_ERR_REQUIREMENT, .check = "key", .status = CERT_CHECK_FAIL,
	 .detail = "RSA-1024 is too small (minimum 2048)",
	 .latched = "key: RSA-1024 is too small (minimum 2048)"},
	{.name = "key: EC P-256 passes",
	 .spec = {.key = K_P256},
	 .check = "key", .status = CERT_CHECK_PASS, .detail = "EC P-256"},
	{.name = "key: EC P-384 passes",
	 .spec = {.key = K_P384},
	 .check = "key", .status = CERT_CHECK_PASS, .detail = "EC P-384"},
	{.name = "key: EC secp256k1 fails",
	 .spec = {.key = K_K256},
	 .rc = GW_ERR_REQUIREMENT, .check = "key", .status = CERT_CHECK_FAIL,
	 .detail = "EC curve secp256k1 is not allowed",
	 .latched = "key: EC curve secp256k1"},
	{.name = "key: Ed25519 fails",
	 .spec = {.key = K_ED25519, .ku = "critical,digitalSignature,"
						"nonRepudiation"},
	 .usage = CERT_USAGE_SIGN,
	 .rc = GW_ERR_REQUIREMENT, .check = "key", .status = CERT_CHECK_FAIL,
	 .detail = "Ed25519 keys are not allowed",
	 .latched = "key: Ed25519 keys are not allowed"},
	{.name = "key: X25519 fails",
	 .spec = {.key = K_X25519, .ku = "critical,keyAgreement"},
	 .usage = CERT_USAGE_ENCRYPT,
	 .rc = GW_ERR_REQUIREMENT, .check = "key", .status = CERT_CHECK_FAIL,
	 .detail = "X25519 keys are not allowed",
	 .latched = "key: X25519"},
	{.name = "key: DSA fails",
	 .spec = {.key = K_DSA},
	 .usage = CERT_USAGE_SIGN,
	 .rc = GW_ERR_REQUIREMENT, .check = "key", .status = CERT_CHECK_FAIL,
	 .detail = "DSA keys are not allowed", .latched = "key: DSA"},
	{.name = "key-usage-encrypt: X25519 cannot encrypt",
	 .spec = {.key = K_X25519, .ku = "critical,keyAgreement"},
	 .usage = CERT_USAGE_ENCRYPT,
	 .rc = GW_ERR_REQUIREMENT, .check = "key-usage-encrypt",
	 .status = CERT_CHECK_FAIL,
	 .detail = "X25519 keys cannot be used for S/MIME encryption",
	 .latched = "key: X25519"},

	/* 4 subject */
	{.name = "subject: no CN and no SAN fails",
	 .spec = {.subject = "/O=Example Corp/OU=Mail/L=Berlin/ST=Berlin/C=DE",
		  .san = ABSENT},
	 .rc = GW_ERR_REQUIREMENT, .check = "subject",
	 .status = CERT_CHECK_FAIL,
	 .detail = "no commonName and no subjectAltName",
	 .latched = "subject: no commonName and no subjectAltName"},
	{.name = "subject: no CN but a SAN passes",
	 .spec = {.subject = "/O=Example Corp/OU=Mail/L=Berlin/ST=Berlin/C=DE"},
	 .check = "subject", .status = CERT_CHECK_PASS,
	 .detail = "no commonName; named by subjectAltName"},
	{.name = "subject: three-letter countryName fails",
	 .spec = {.subject = "/CN=gw.example.com/O=Example Corp/OU=Mail"
			     "/L=Berlin/ST=Berlin/C=DEU"},
	 .rc = GW_ERR_REQUIREMENT, .check = "subject",
	 .status = CERT_CHECK_FAIL,
	 .detail = "countryName 'DEU' is not a two-letter code",
	 .latched = "subject: countryName 'DEU'"},
	{.name = "subject: countryName with a digit fails",
	 .spec = {.subject = "/CN=partner.example.org/C=D1"},
	 .role = CERT_ROLE_PARTNER,
	 .rc = GW_ERR_REQUIREMENT, .check = "subject",
	 .status = CERT_CHECK_FAIL, .detail = "countryName 'D1'",
	 .latched = "subject: countryName 'D1' is not a two-letter code"},
	{.name = "subject: identity missing O and L warns",
	 .spec = {.subject = "/CN=gw.example.com/OU=Mail/ST=Berlin/C=DE"},
	 .check = "subject", .status = CERT_CHECK_WARN,
	 .detail = "missing: organizationName, localityName"},
	{.name = "subject: identity with CN only lists every field",
	 .spec = {.subject = "/CN=gw.example.com"},
	 .check = "subject", .status = CERT_CHECK_WARN,
	 .detail = "missing: organizationName, organizationalUnitName, "
		   "localityName, stateOrProvinceName, countryName"},
	{.name = "subject: partner with CN only passes",
	 .spec = {.subject = "/CN=partner.example.org"},
	 .role = CERT_ROLE_PARTNER,
	 .check = "subject", .status = CERT_CHECK_PASS,
	 .detail = "CN 'partner.example.org'"},

	/* 5 key-usage-sign */
	{.name = "key-usage-sign: absent presumes both bits",
	 .spec = {.ku = ABSENT},
	 .usage = CERT_USAGE_SIGN,
	 .check = "key-usage-sign", .status = CERT_CHECK_PASS,
	 .detail = "absent: digitalSignature and nonRepudiation presumed"},
	{.name = "key-usage-sign: identity without nonRepudiation fails",
	 .spec = {.ku = "critical,digitalSignature,keyEncipherment"},
	 .rc = GW_ERR_REQUIREMENT, .check = "key-usage-sign",
	 .status = CERT_CHECK_FAIL,
	 .detail = "keyUsage lacks nonRepudiation (has: digitalSignature, "
		   "keyEncipherment)",
	 .latched = "key-usage-sign: keyUsage lacks nonRepudiation"},
	{.name = "key-usage-sign: identity without either bit fails",
	 .spec = {.ku = "critical,keyEncipherment"},
	 .usage = CERT_USAGE_SIGN,
	 .rc = GW_ERR_REQUIREMENT, .check = "key-usage-sign",
	 .status = CERT_CHECK_FAIL,
	 .detail = "lacks digitalSignature and nonRepudiation",
	 .latched = "key-usage-sign: keyUsage lacks digitalSignature and "
		    "nonRepudiation"},
	{.name = "key-usage-sign: partner needs digitalSignature only",
	 .spec = {.ku = "critical,digitalSignature"},
	 .usage = CERT_USAGE_SIGN, .role = CERT_ROLE_PARTNER,
	 .check = "key-usage-sign", .status = CERT_CHECK_PASS,
	 .detail = "digitalSignature"},
	{.name = "key-usage-sign: partner without digitalSignature fails",
	 .spec = {.ku = "critical,nonRepudiation,keyEncipherment"},
	 .usage = CERT_USAGE_SIGN, .role = CERT_ROLE_PARTNER,
	 .rc = GW_ERR_REQUIREMENT, .check = "key-usage-sign",
	 .status = CERT_CHECK_FAIL,
	 .detail = "keyUsage lacks digitalSignature (has: nonRepudiation, "
		   "keyEncipherment)",
	 .latched = "key-usage-sign: keyUsage lacks digitalSignature"},
	{.name = "item02_standard_identity_without_nonrepudiation_warns",
	 .spec = {.ku = "critical,digitalSignature"},
	 .usage = CERT_USAGE_SIGN, .rules = CERT_RULES_STANDARD,
	 .check = "key-usage-sign", .status = CERT_CHECK_WARN,
	 .detail = "digitalSignature (advice: the reference's requirements "
		   "also want nonRepudiation)"},
	{.name = "item02_standard_identity_without_digitalsignature_fails",
	 .spec = {.ku = "critical,nonRepudiation"},
	 .usage = CERT_USAGE_SIGN, .rules = CERT_RULES_STANDARD,
	 .rc = GW_ERR_REQUIREMENT, .check = "key-usage-sign",
	 .status = CERT_CHECK_FAIL,
	 .detail = "keyUsage lacks digitalSignature (has: nonRepudiation)",
	 .latched = "key-usage-sign: keyUsage lacks digitalSignature"},
	{.name = "standard identity with both bits passes",
	 .spec = {.ku = "critical,digitalSignature,nonRepudiation"},
	 .usage = CERT_USAGE_SIGN, .rules = CERT_RULES_STANDARD,
	 .check = "key-usage-sign", .status = CERT_CHECK_PASS,
	 .detail = "digitalSignature, nonRepudiation"},
	{.name = "key-usage-sign: omitted for encrypt-only usage",
	 .spec = {.ku = "critical,keyEncipherment"},
	 .usage = CERT_USAGE_ENCRYPT,
	 .check = "key-usage-sign", .status = OMITTED},
	{.name = "key-usage-sign: undecodable keyUsage fails",
	 .spec = {.ku = ABSENT, .bad_ku = 1},
	 .usage = CERT_USAGE_SIGN,
	 .rc = GW_ERR_REQUIREMENT, .check = "key-usage-sign",
	 .status = CERT_CHECK_FAIL,
	 .detail = "keyUsage extension cannot be decoded",
	 .latched = "key-usage-sign: keyUsage extension cannot be decoded"},

	/* 6 key-usage-encrypt */
	{.name = "key-usage-encrypt: absent keyUsage fails",
	 .spec = {.ku = ABSENT},
	 .usage = CERT_USAGE_ENCRYPT,
	 .rc = GW_ERR_REQUIREMENT, .check = "key-usage-encrypt",
	 .status = CERT_CHECK_FAIL,
	 .detail = "keyUsage extension absent; keyEncipherment required",
	 .latched = "key-usage-encrypt: keyUsage extension absent; "
		    "keyEncipherment required"},
	{.name = "key-usage-encrypt: EC with absent keyUsage fails",
	 .spec = {.key = K_P256, .ku = ABSENT},
	 .usage = CERT_USAGE_ENCRYPT,
	 .rc = GW_ERR_REQUIREMENT, .check = "key-usage-encrypt",
	 .status = CERT_CHECK_FAIL,
	 .detail = "keyUsage extension absent; keyAgreement required",
	 .latched = "key-usage-encrypt: keyUsage extension absent"},
	{.name = "key-usage-encrypt: RSA without keyEncipherment fails",
	 .spec = {.ku = "critical,digitalSignature,nonRepudiation"},
	 .rc = GW_ERR_REQUIREMENT, .check = "key-usage-encrypt",
	 .status = CERT_CHECK_FAIL,
	 .detail = "keyUsage lacks keyEncipherment, required for RSA keys",
	 .latched = "key-usage-encrypt: keyUsage lacks keyEncipherment"},
	{.name = "key-usage-encrypt: EC without keyAgreement fails",
	 .spec = {.key = K_P256,
		  .ku = "critical,digitalSignature,nonRepudiation,"
			"keyEncipherment"},
	 .rc = GW_ERR_REQUIREMENT, .check = "key-usage-encrypt",
	 .status = CERT_CHECK_FAIL,
	 .detail = "keyUsage lacks keyAgreement, required for EC keys "
		   "(has: digitalSignature, nonRepudiation, keyEncipherment)",
	 .latched = "key-usage-encrypt: keyUsage lacks keyAgreement"},
	{.name = "key-usage-encrypt: partner RSA keyEncipherment only passes",
	 .spec = {.ku = "critical,keyEncipherment"},
	 .usage = CERT_USAGE_ENCRYPT, .role = CERT_ROLE_PARTNER,
	 .check = "key-usage-encrypt", .status = CERT_CHECK_PASS,
	 .detail = "keyEncipherment"},
	{.name = "item02_standard_absent_keyusage_encrypts_with_advice",
	 .spec = {.ku = ABSENT},
	 .usage = CERT_USAGE_ENCRYPT, .rules = CERT_RULES_STANDARD,
	 .check = "key-usage-encrypt", .status = CERT_CHECK_WARN,
	 .detail = "absent: every use allowed (advice: the reference's "
		   "requirements want keyUsage with keyEncipherment)"},
	{.name = "item02_standard_partner_ec_absent_keyusage_warns",
	 .spec = {.key = K_P256, .ku = ABSENT},
	 .usage = CERT_USAGE_ENCRYPT, .role = CERT_ROLE_PARTNER,
	 .rules = CERT_RULES_STANDARD,
	 .check = "key-usage-encrypt", .status = CERT_CHECK_WARN,
	 .detail = "want keyUsage with keyAgreement"},
	{.name = "standard rules: keyUsage without keyEncipherment still fails",
	 .spec = {.ku = "critical,digitalSignature"},
	 .usage = CERT_USAGE_ENCRYPT, .rules = CERT_RULES_STANDARD,
	 .rc = GW_ERR_REQUIREMENT, .check = "key-usage-encrypt",
	 .status = CERT_CHECK_FAIL,
	 .detail = "keyUsage lacks keyEncipherment, required for RSA keys",
	 .latched = "key-usage-encrypt: keyUsage lacks keyEncipherment"},
	{.name = "key-usage-encrypt: omitted for sign-only usage",
	 .spec = {.ku = "critical,digitalSignature,nonRepudiation"},
	 .usage = CERT_USAGE_SIGN,
	 .check = "key-usage-encrypt", .status = OMITTED},

	/* 7 extended-key-usage */
	{.name = "extended-key-usage: absent passes",
	 .spec = {.eku = ABSENT},
	 .check = "extended-key-usage", .status = CERT_CHECK_PASS,
	 .detail = "absent: any purpose"},
	{.name = "extended-key-usage: codeSigning only fails",
	 .spec = {.eku = "codeSigning"},
	 .rc = GW_ERR_REQUIREMENT, .check = "extended-key-usage",
	 .status = CERT_CHECK_FAIL,
	 .detail = "codeSigning only, emailProtection required",
	 .latched = "extended-key-usage: codeSigning only, emailProtection "
		    "required"},
	{.name = "extended-key-usage: TLS purposes only fails",
	 .spec = {.eku = "serverAuth,clientAuth"},
	 .rc = GW_ERR_REQUIREMENT, .check = "extended-key-usage",
	 .status = CERT_CHECK_FAIL,
	 .detail = "serverAuth, clientAuth only, emailProtection required",
	 .latched = "extended-key-usage: serverAuth, clientAuth only"},
	{.name = "extended-key-usage: anyExtendedKeyUsage passes",
	 .spec = {.eku = "anyExtendedKeyUsage"},
	 .check = "extended-key-usage", .status = CERT_CHECK_PASS,
	 .detail = "anyExtendedKeyUsage"},
	{.name = "extended-key-usage: emailProtection among others passes",
	 .spec = {.eku = "clientAuth,emailProtection"},
	 .check = "extended-key-usage", .status = CERT_CHECK_PASS,
	 .detail = "clientAuth, emailProtection"},

	/* 8 subject-alt-name */
	{.name = "subject-alt-name: counts rfc822Name and dNSName",
	 .spec = {.san = "email:a@example.com,email:b@example.com,"
			 "DNS:gw.example.com"},
	 .check = "subject-alt-name", .status = CERT_CHECK_PASS,
	 .detail = "2 rfc822Name, 1 dNSName"},
	{.name = "subject-alt-name: dNSName only passes",
	 .spec = {.san = "DNS:gw.example.com"},
	 .check = "subject-alt-name", .status = CERT_CHECK_PASS,
	 .detail = "0 rfc822Name, 1 dNSName"},
	{.name = "subject-alt-name: legacy emailAddress warns",
	 .spec = {.subject = "/CN=gw.example.com/O=Example Corp/OU=Mail"
			     "/L=Berlin/ST=Berlin/C=DE"
			     "/emailAddress=gw@example.com",
		  .san = ABSENT},
	 .check = "subject-alt-name", .status = CERT_CHECK_WARN,
	 .detail = "no SAN; legacy emailAddress in subject"},
	{.name = "subject-alt-name: none at all fails",
	 .spec = {.san = ABSENT},
	 .rc = GW_ERR_REQUIREMENT, .check = "subject-alt-name",
	 .status = CERT_CHECK_FAIL,
	 .detail = "no subjectAltName and no emailAddress in subject",
	 .latched = "subject-alt-name: no subjectAltName"},
	{.name = "subject-alt-name: URI only fails",
	 .spec = {.san = "URI:https://www.example.com/"},
	 .rc = GW_ERR_REQUIREMENT, .check = "subject-alt-name",
	 .status = CERT_CHECK_FAIL,
	 .detail = "subjectAltName has no rfc822Name or dNSName",
	 .latched = "subject-alt-name: subjectAltName has no rfc822Name"},
	{.name = "subject-alt-name: rfc822Name with empty local part fails",
	 .spec = {.san = "email:@example.com"},
	 .rc = GW_ERR_REQUIREMENT, .check = "subject-alt-name",
	 .status = CERT_CHECK_FAIL,
	 .detail = "rfc822Name '@example.com' is not a valid address",
	 .latched = "subject-alt-name: rfc822Name '@example.com'"},
	{.name = "subject-alt-name: rfc822Name without @ fails",
	 .spec = {.san = "email:gw.example.com"},
	 .rc = GW_ERR_REQUIREMENT, .check = "subject-alt-name",
	 .status = CERT_CHECK_FAIL,
	 .detail = "rfc822Name 'gw.example.com' is not a valid address",
	 .latched = "subject-alt-name: rfc822Name 'gw.example.com'"},
	{.name = "subject-alt-name: rfc822Name with a bad domain fails",
	 .spec = {.san = "email:ok@example.com,email:user@example..com"},
	 .rc = GW_ERR_REQUIREMENT, .check = "subject-alt-name",
	 .status = CERT_CHECK_FAIL,
	 .detail = "rfc822Name 'user@example..com'",
	 .latched = "subject-alt-name: rfc822Name 'user@example..com'"},
	{.name = "subject-alt-name: rfc822Name with a dotless domain fails",
	 .spec = {.san = "email:user@localhost"},
	 .rc = GW_ERR_REQUIREMENT, .check = "subject-alt-name",
	 .status = CERT_CHECK_FAIL, .detail = "rfc822Name 'user@localhost'",
	 .latched = "subject-alt-name: rfc822Name 'user@localhost'"},
	{.name = "subject-alt-name: duplicate extension fails",
	 .spec = {.dup_san = 1},
	 .rc = GW_ERR_REQUIREMENT, .check = "subject-alt-name",
	 .status = CERT_CHECK_FAIL,
	 .detail = "more than one subjectAltName extension",
	 .latched = "subject-alt-name: more than one subjectAltName"},

	/* 9 fqdn */
	{.name = "fqdn: CN 'gateway' fails",
	 .spec = {.subject = "/CN=gateway/O=Example Corp/OU=Mail/L=Berlin"
			     "/ST=Berlin/C=DE"},
	 .fqdn = 1,
	 .rc = GW_ERR_REQUIREMENT, .check = "fqdn", .status = CERT_CHECK_FAIL,
	 .detail = "CN 'gateway' is not a fully qualified domain name",
	 .latched = "fqdn: CN 'gateway' is not a fully qualified domain "
		    "name"},
	{.name = "fqdn: SAN dNSName 'mail' fails",
	 .spec = {.san = "email:gw@example.com,DNS:gw.example.com,DNS:mail"},
	 .fqdn = 1,
	 .rc = GW_ERR_REQUIREMENT, .check = "fqdn", .status = CERT_CHECK_FAIL,
	 .detail = "dNSName 'mail' is not a fully qualified domain name",
	 .latched = "fqdn: dNSName 'mail'"},
	{.name = "fqdn: wildcard CN and dNSName pass",
	 .spec = {.subject = "/CN=*.example.net/O=Example Corp/OU=Mail"
			     "/L=Berlin/ST=Berlin/C=DE",
		  .san = "email:gw@example.net,DNS:*.example.net,"
			 "DNS:example.net"},
	 .fqdn = 1,
	 .check = "fqdn", .status = CERT_CHECK_PASS,
	 .detail = "1 commonName, 2 dNSName are FQDNs"},
	{.name = "fqdn: wildcard on a TLD fails",
	 .spec = {.san = "email:gw@example.com,DNS:*.net"},
	 .fqdn = 1,
	 .rc = GW_ERR_REQUIREMENT, .check = "fqdn", .status = CERT_CHECK_FAIL,
	 .detail = "dNSName '*.net'", .latched = "fqdn: dNSName '*.net'"},
	{.name = "fqdn: control character in CN is escaped",
	 .spec = {.subject = "/CN=gate\001way.example.com/O=Example Corp"
			     "/OU=Mail/L=Berlin/ST=Berlin/C=DE"},
	 .fqdn = 1,
	 .rc = GW_ERR_REQUIREMENT, .check = "fqdn", .status = CERT_CHECK_FAIL,
	 .detail = "CN 'gate\\x01way.example.com'",
	 .latched = "fqdn: CN 'gate\\x01way.example.com'"},
	{.name = "fqdn: a long value is cut in the detail",
	 .spec = {.san = "email:gw@example.com,DNS:" LONG_LABEL LONG_LABEL
			 LONG_LABEL ".example.com"},
	 .fqdn = 1,
	 .rc = GW_ERR_REQUIREMENT, .check = "fqdn", .status = CERT_CHECK_FAIL,
	 .detail = "dNSName '" LONG_LABEL LONG_LABEL "...' is not a fully "
		   "qualified domain name",
	 .latched = "fqdn: dNSName 'aaaa"},
	{.name = "fqdn: omitted unless enabled",
	 .spec = {.subject = "/CN=gateway/O=Example Corp/OU=Mail/L=Berlin"
			     "/ST=Berlin/C=DE"},
	 .check = "fqdn", .status = OMITTED},

	/* 10 signature-algorithm */
	{.name = "signature-algorithm: SHA-256 RSA passes",
	 .check = "signature-algorithm", .status = CERT_CHECK_PASS,
	 .detail = "sha256WithRSAEncryption"},
	{.name = "signature-algorithm: SHA-1 warns",
	 .spec = {.sig = S_SHA1},
	 .check = "signature-algorithm", .status = CERT_CHECK_WARN,
	 .detail = "sha1WithRSAEncryption: SHA-1 is deprecated"},
	{.name = "signature-algorithm: MD5 warns",
	 .spec = {.sig = S_MD5},
	 .check = "signature-algorithm", .status = CERT_CHECK_WARN,
	 .detail = "md5WithRSAEncryption: MD5 is deprecated"},
	{.name = "signature-algorithm: ECDSA SHA-384 passes",
	 .spec = {.sig = S_ECDSA_SHA384},
	 .check = "signature-algorithm", .status = CERT_CHECK_PASS,
	 .detail = "ecdsa-with-SHA384"},
	{.name = "signature-algorithm: RSASSA-PSS names its digest",
	 .spec = {.sig = S_PSS},
	 .check = "signature-algorithm", .status = CERT_CHECK_PASS,
	 .detail = "rsassaPss, SHA256"},

	/* 11 basic-constraints */
	{.name = "basic-constraints: CA identity fails",
	 .spec = {.bc = "critical,CA:TRUE"},
	 .rc = GW_ERR_REQUIREMENT, .check = "basic-constraints",
	 .status = CERT_CHECK_FAIL,
	 .detail = "a CA certificate cannot be an S/MIME identity",
	 .latched = "basic-constraints: CA:TRUE; a CA certificate cannot be "
		    "an S/MIME identity"},
	{.name = "basic-constraints: CA partner warns",
	 .spec = {.bc = "critical,CA:TRUE"},
	 .role = CERT_ROLE_PARTNER,
	 .check = "basic-constraints", .status = CERT_CHECK_WARN,
	 .detail = "CA:TRUE on a partner certificate"},
	{.name = "basic-constraints: absent passes",
	 .spec = {.bc = ABSENT},
	 .check = "basic-constraints", .status = CERT_CHECK_PASS,
	 .detail = "absent"},

	/* The first failure is latched; later ones are still reported. */
	{.name = "latch: expired RSA-1024 names validity first",
	 .spec = {.key = K_RSA1024, .nb = -365 * DAY, .na = -DAY},
	 .rc = GW_ERR_REQUIREMENT, .check = "key", .status = CERT_CHECK_FAIL,
	 .detail = "RSA-1024 is too small",
	 .latched = "validity: expired on 2024-12-31 00:00:00 UTC"},
	{.name = "latch: WARNs alone do not fail the call",
	 .spec = {.sig = S_SHA1, .bc = "CA:TRUE", .san = ABSENT,
		  .subject = "/CN=partner.example.org"
			     "/emailAddress=p@example.org"},
	 .role = CERT_ROLE_PARTNER,
	 .check = "subject-alt-name", .status = CERT_CHECK_WARN,
	 .detail = "legacy emailAddress"},
};

static const char *
status_str(int st)
{
	if (st == OMITTED)
		return "omitted";
	return cert_check_status_name((enum cert_check_status)st);
}

static const struct cert_check_result *
report_find(const struct cert_check_report *rep, const char *name)
{
	size_t i;

	for (i = 0; i < rep->n; i++)
		if (strcmp(rep->r[i].name, name) == 0)
			return &rep->r[i];
	return NULL;
}

static void
report_dump(const struct cert_check_report *rep)
{
	size_t i;

	for (i = 0; i < rep->n; i++)
		print_message("    %-20s %-4s %s\n", rep->r[i].name,
			      cert_check_status_name(rep->r[i].status),
			      rep->r[i].detail);
	print_message("    latched: %s\n", gw_err_detail());
}

/* "/CN=a/O=b" -> X509_NAME; countryName goes in raw so "DEU" is kept. */
static X509_NAME *
name_build(const char *spec)
{
	X509_NAME *name = NULL, *ret = NULL;
	const char *p = spec, *end, *eq;
	char field[32], value[128];
	size_t flen, vlen;
	int type;

	if ((name = X509_NAME_new()) == NULL)
		goto out;
	while (*p == '/') {
		p++;
		if ((end = strchr(p, '/')) == NULL)
			end = p + strlen(p);
		if ((eq = memchr(p, '=', (size_t)(end - p))) == NULL)
			goto out;
		flen = (size_t)(eq - p);
		vlen = (size_t)(end - eq - 1);
		if (flen >= sizeof(field) || vlen >= sizeof(value))
			goto out;
		memcpy(field, p, flen);
		field[flen] = '\0';
		memcpy(value, eq + 1, vlen);
		value[vlen] = '\0';
		type = strcmp(field, "C") == 0 ? V_ASN1_PRINTABLESTRING
					       : MBSTRING_UTF8;
		if (!X509_NAME_add_entry_by_txt(name, field, type,
						(const unsigned char *)value,
						-1, -1, 0))
			goto out;
		p = end;
	}
	if (*p != '\0')
		goto out;
	ret = name;
	name = NULL;
out:
	X509_NAME_free(name);
	return ret;
}

static int
ext_add(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext = NULL;
	int ok = 0;

	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value)) == NULL)
		goto out;
	ok = X509_add_ext(x, ext, -1);
out:
	X509_EXTENSION_free(ext);
	return ok;
}

/* A critical keyUsage whose value is not a BIT STRING. */
static int
ext_add_bad_ku(X509 *x)
{
	static const unsigned char junk[] = {0x30, 0x03, 0x01};
	ASN1_OCTET_STRING *os = NULL;
	X509_EXTENSION *ext = NULL;
	int ok = 0;

	if ((os = ASN1_OCTET_STRING_new()) == NULL ||
	    !ASN1_OCTET_STRING_set(os, junk, sizeof(junk)))
		goto out;
	if ((ext = X509_EXTENSION_create_by_NID(NULL, NID_key_usage, 1,
						os)) == NULL)
		goto out;
	ok = X509_add_ext(x, ext, -1);
out:
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	return ok;
}

static int
cert_sign(X509 *x, enum tsig sig)
{
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	int ok = 0;

	switch (sig) {
	case S_SHA256:
		ok = X509_sign(x, keys[K_RSA2048], EVP_sha256()) > 0;
		break;
	case S_SHA1:
		ok = X509_sign(x, keys[K_RSA2048], EVP_sha1()) > 0;
		break;
	case S_MD5:
		ok = X509_sign(x, keys[K_RSA2048], EVP_md5()) > 0;
		break;
	case S_ECDSA_SHA384:
		ok = X509_sign(x, keys[K_P256], EVP_sha384()) > 0;
		break;
	case S_PSS:
		if ((mctx = EVP_MD_CTX_new()) == NULL)
			goto out;
		if (EVP_DigestSignInit(mctx, &pctx, EVP_sha256(), NULL,
				       keys[K_RSA2048]) != 1 ||
		    EVP_PKEY_CTX_set_rsa_padding(pctx,
						 RSA_PKCS1_PSS_PADDING) != 1)
			goto out;
		ok = X509_sign_ctx(x, mctx) > 0;
		break;
	}
out:
	EVP_MD_CTX_free(mctx);
	return ok;
}

static const char *
spec_str(const char *v, const char *def)
{
	return v != NULL ? v : def;
}

/*
 * Build the certificate of spec, signed by the RSA-2048 (or, for
 * ECDSA, the P-256) key, and hand back a copy parsed from its DER.
 */
static X509 *
cert_build(const struct cert_spec *sp, time_t now)
{
	X509 *x = NULL, *ret = NULL;
	X509_NAME *subj = NULL, *iss = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	const char *san, *ku, *eku, *bc;
	long nb = sp->nb, na = sp->na;
	int len, ec;

	if (nb == 0 && na == 0) {
		nb = -30 * DAY;
		na = 365 * DAY;
	}
	ec = sp->key == K_P256 || sp->key == K_P384;
	san = spec_str(sp->san, DEF_SAN);
	ku = spec_str(sp->ku, ec ? DEF_KU_EC : DEF_KU_RSA);
	eku = spec_str(sp->eku, DEF_EKU);
	bc = spec_str(sp->bc, DEF_BC);

	if ((x = X509_new()) == NULL ||
	    !X509_set_version(x, sp->v1 ? X509_VERSION_1 : X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 4711))
		goto out;
	if ((subj = name_build(spec_str(sp->subject, DEF_SUBJECT))) == NULL ||
	    (iss = name_build("/CN=Test CA/O=Example Corp/C=DE")) == NULL ||
	    !X509_set_subject_name(x, subj) || !X509_set_issuer_name(x, iss))
		goto out;
	if (ASN1_TIME_set(X509_getm_notBefore(x), now + nb) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), now + na) == NULL ||
	    !X509_set_pubkey(x, keys[sp->key]))
		goto out;
	if (!sp->v1) {
		if ((*san && !ext_add(x, NID_subject_alt_name, san)) ||
		    (sp->dup_san && !ext_add(x, NID_subject_alt_name, san)) ||
		    (*ku && !ext_add(x, NID_key_usage, ku)) ||
		    (sp->bad_ku && !ext_add_bad_ku(x)) ||
		    (*eku && !ext_add(x, NID_ext_key_usage, eku)) ||
		    (*bc && !ext_add(x, NID_basic_constraints, bc)))
			goto out;
	}
	if (!cert_sign(x, sp->sig))
		goto out;
	if ((len = i2d_X509(x, &der)) <= 0)
		goto out;
	p = der;
	ret = d2i_X509(NULL, &p, len);
out:
	OPENSSL_free(der);
	X509_NAME_free(subj);
	X509_NAME_free(iss);
	X509_free(x);
	return ret;
}

static int
keys_setup(void **state)
{
	BIO *bio = NULL;
	int rc = -1;

	(void)state;
	if ((keys[K_RSA2048] = EVP_RSA_gen(2048)) == NULL ||
	    (keys[K_RSA1024] = EVP_RSA_gen(1024)) == NULL ||
	    (keys[K_P256] = EVP_EC_gen("P-256")) == NULL ||
	    (keys[K_P384] = EVP_EC_gen("P-384")) == NULL ||
	    (keys[K_K256] = EVP_EC_gen("secp256k1")) == NULL ||
	    (keys[K_ED25519] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) ==
		NULL ||
	    (keys[K_X25519] = EVP_PKEY_Q_keygen(NULL, NULL, "X25519")) == NULL)
		goto out;
	if ((bio = BIO_new_mem_buf(dsa_pub_pem, -1)) == NULL ||
	    (keys[K_DSA] = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL)
		goto out;
	rc = 0;
out:
	BIO_free(bio);
	return rc;
}

static int
keys_teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < K_COUNT; i++) {
		EVP_PKEY_free(keys[i]);
		keys[i] = NULL;
	}
	return 0;
}

static int
case_teardown(void **state)
{
	(void)state;
	X509_free(cur_cert);
	cur_cert = NULL;
	gw_err_clear();
	return 0;
}

static void
test_case(void **state)
{
	const struct tcase *tc = *state;
	const struct cert_check_result *res;
	struct cert_check_opts opts;
	struct cert_check_report rep;
	int rc, ok;

	gw_err_clear();
	cur_cert = cert_build(&tc->spec, tc->real_clock ? time(NULL) : NOW);
	assert_non_null(cur_cert);
	memset(&opts, 0, sizeof(opts));
	opts.usage = tc->usage != 0 ? (enum cert_usage)tc->usage
				    : CERT_USAGE_BOTH;
	opts.role = tc->role;
	opts.rules = tc->rules;
	opts.fqdn_check = tc->fqdn;
	opts.now = tc->real_clock ? 0 : NOW;

	rc = cert_check(cur_cert, &opts, &rep);
	res = report_find(&rep, tc->check);
	ok = rc == tc->rc &&
	     (tc->status == OMITTED
		  ? res == NULL
		  : res != NULL && (int)res->status == tc->status);
	if (!ok)
		report_dump(&rep);
	assert_int_equal(rc, tc->rc);
	if (tc->status == OMITTED) {
		if (res != NULL)
			fail_msg("check '%s' present, expected omitted",
				 tc->check);
	} else {
		if (res == NULL)
			fail_msg("check '%s' missing from the report",
				 tc->check);
		assert_string_equal(cert_check_status_name(res->status),
				    status_str(tc->status));
		assert_substr(res->detail, tc->detail);
	}
	if (tc->latched != NULL)
		assert_substr(gw_err_detail(), tc->latched);
	else
		assert_string_equal(gw_err_detail(), "");
}

/* A good certificate with every check on: order, names, all PASS. */
static void
test_report_order(void **state)
{
	static const char *const all[] = {
		"version",	     "validity",
		"key",		     "subject",
		"key-usage-sign",    "key-usage-encrypt",
		"extended-key-usage", "subject-alt-name",
		"fqdn",		     "signature-algorithm",
		"basic-constraints",
	};
	static const char *const sign_only[] = {
		"version",	     "validity",	  "key",
		"subject",	     "key-usage-sign",	  "extended-key-usage",
		"subject-alt-name", "signature-algorithm", "basic-constraints",
	};
	struct cert_spec spec;
	struct cert_check_opts opts;
	struct cert_check_report rep;
	size_t i;

	(void)state;
	gw_err_clear();
	memset(&spec, 0, sizeof(spec));
	cur_cert = cert_build(&spec, NOW);
	assert_non_null(cur_cert);

	memset(&opts, 0, sizeof(opts));
	opts.usage = CERT_USAGE_BOTH;
	opts.role = CERT_ROLE_IDENTITY;
	opts.fqdn_check = 1;
	opts.now = NOW;
	assert_int_equal(cert_check(cur_cert, &opts, &rep), 0);
	assert_int_equal(rep.n, sizeof(all) / sizeof(all[0]));
	for (i = 0; i < rep.n; i++) {
		assert_string_equal(rep.r[i].name, all[i]);
		assert_string_equal(cert_check_status_name(rep.r[i].status),
				    "pass");
		assert_true(rep.r[i].detail[0] != '\0');
	}
	assert_string_equal(gw_err_detail(), "");

	opts.usage = CERT_USAGE_SIGN;
	opts.fqdn_check = 0;
	assert_int_equal(cert_check(cur_cert, &opts, &rep), 0);
	assert_int_equal(rep.n, sizeof(sign_only) / sizeof(sign_only[0]));
	for (i = 0; i < rep.n; i++)
		assert_string_equal(rep.r[i].name, sign_only[i]);
}

static void
test_invalid_args(void **state)
{
	struct cert_spec spec;
	struct cert_check_opts opts;
	struct cert_check_report rep;

	(void)state;
	memset(&spec, 0, sizeof(spec));
	cur_cert = cert_build(&spec, NOW);
	assert_non_null(cur_cert);
	memset(&opts, 0, sizeof(opts));
	opts.usage = CERT_USAGE_BOTH;
	opts.now = NOW;

	gw_err_clear();
	rep.n = 7;
	assert_int_equal(cert_check(NULL, &opts, &rep), GW_ERR_INVALID);
	assert_int_equal(rep.n, 0);
	assert_substr(gw_err_detail(), "NULL argument");

	gw_err_clear();
	assert_int_equal(cert_check(cur_cert, NULL, &rep), GW_ERR_INVALID);
	assert_substr(gw_err_detail(), "NULL argument");

	gw_err_clear();
	assert_int_equal(cert_check(cur_cert, &opts, NULL), GW_ERR_INVALID);
	assert_substr(gw_err_detail(), "NULL argument");

	gw_err_clear();
	opts.usage = (enum cert_usage)0;
	assert_int_equal(cert_check(cur_cert, &opts, &rep), GW_ERR_INVALID);
	assert_int_equal(rep.n, 0);
	assert_substr(gw_err_detail(), "usage 0 is not sign, encrypt or both");

	gw_err_clear();
	opts.usage = (enum cert_usage)4;
	assert_int_equal(cert_check(cur_cert, &opts, &rep), GW_ERR_INVALID);
	assert_substr(gw_err_detail(), "usage 4");

	gw_err_clear();
	opts.usage = CERT_USAGE_SIGN;
	opts.role = (enum cert_role)9;
	assert_int_equal(cert_check(cur_cert, &opts, &rep), GW_ERR_INVALID);
	assert_substr(gw_err_detail(), "unknown role 9");
}

/* cert_key_usage_allows(): what a partner's key may do, by rules. */
static void
test_key_usage_allows(void **state)
{
	static const struct {
		const char *name;
		struct cert_spec spec;
		int usage;
		enum cert_rules rules;
		int want;
	} t[] = {
		{"item02 no keyUsage: encrypt (standard)", {.ku = ABSENT},
		 CERT_USAGE_ENCRYPT, CERT_RULES_STANDARD, 1},
		{"no keyUsage: no encrypt (reference)", {.ku = ABSENT},
		 CERT_USAGE_ENCRYPT, CERT_RULES_REFERENCE, 0},
		{"no keyUsage: sign (reference)", {.ku = ABSENT},
		 CERT_USAGE_SIGN, CERT_RULES_REFERENCE, 1},
		{"no keyUsage: both (standard)", {.ku = ABSENT},
		 CERT_USAGE_BOTH, CERT_RULES_STANDARD, 1},
		{"digitalSignature: sign", {.ku = "critical,digitalSignature"},
		 CERT_USAGE_SIGN, CERT_RULES_STANDARD, 1},
		{"digitalSignature: no encrypt",
		 {.ku = "critical,digitalSignature"}, CERT_USAGE_ENCRYPT,
		 CERT_RULES_STANDARD, 0},
		{"nonRepudiation alone: no sign",
		 {.ku = "critical,nonRepudiation"}, CERT_USAGE_SIGN,
		 CERT_RULES_STANDARD, 0},
		{"RSA keyEncipherment: encrypt", {.ku = "critical,keyEncipherment"},
		 CERT_USAGE_ENCRYPT, CERT_RULES_REFERENCE, 1},
		{"EC keyEncipherment: no encrypt",
		 {.key = K_P256, .ku = "critical,keyEncipherment"},
		 CERT_USAGE_ENCRYPT, CERT_RULES_STANDARD, 0},
		{"EC keyAgreement: encrypt",
		 {.key = K_P256, .ku = "critical,keyAgreement"},
		 CERT_USAGE_ENCRYPT, CERT_RULES_STANDARD, 1},
		{"RSA keyAgreement: no encrypt", {.ku = "critical,keyAgreement"},
		 CERT_USAGE_ENCRYPT, CERT_RULES_STANDARD, 0},
		{"Ed25519 without keyUsage: no encrypt",
		 {.key = K_ED25519, .ku = ABSENT}, CERT_USAGE_ENCRYPT,
		 CERT_RULES_STANDARD, 0},
		{"undecodable keyUsage: nothing", {.ku = ABSENT, .bad_ku = 1},
		 CERT_USAGE_SIGN, CERT_RULES_STANDARD, 0},
	};
	size_t i;
	X509 *x;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_non_null(x = cert_build(&t[i].spec, NOW));
		if (cert_key_usage_allows(x, (enum cert_usage)t[i].usage,
					  t[i].rules) != t[i].want)
			fail_msg("%s: expected %d", t[i].name, t[i].want);
		X509_free(x);
	}
	assert_int_equal(cert_key_usage_allows(NULL, CERT_USAGE_SIGN,
					       CERT_RULES_STANDARD), 0);
}

/* cert_requirements and the process-wide rules for others' certs. */
static void
test_requirements_setting(void **state)
{
	enum cert_rules r = CERT_RULES_REFERENCE;

	(void)state;
	assert_int_equal(cert_rules_others(), CERT_RULES_STANDARD);
	assert_int_equal(cert_requirements_parse("standard", &r), 0);
	assert_int_equal(r, CERT_RULES_STANDARD);
	assert_int_equal(cert_requirements_parse("strict", &r), 0);
	assert_int_equal(r, CERT_RULES_REFERENCE);
	gw_err_clear();
	assert_int_equal(cert_requirements_parse("lax", &r), GW_ERR_INVALID);
	assert_substr(gw_err_detail(), "'lax' is not standard or strict");
	gw_err_clear();
	cert_rules_set_others(CERT_RULES_REFERENCE);
	assert_int_equal(cert_rules_others(), CERT_RULES_REFERENCE);
	cert_rules_set_others(CERT_RULES_STANDARD);
	assert_string_equal(cert_rules_name(CERT_RULES_STANDARD), "standard");
	assert_string_equal(cert_rules_name(CERT_RULES_REFERENCE), "reference");
}

static void
test_usage_parse(void **state)
{
	static const struct {
		const char *s;
		int rc;
		enum cert_usage usage;
		const char *detail;
	} t[] = {
		{"sign", 0, CERT_USAGE_SIGN, ""},
		{"encrypt", 0, CERT_USAGE_ENCRYPT, ""},
		{"both", 0, CERT_USAGE_BOTH, ""},
		{"Sign", GW_ERR_INVALID, 0,
		 "usage 'Sign': expected sign, encrypt or both"},
		{"", GW_ERR_INVALID, 0, "usage '': expected"},
		{"signs", GW_ERR_INVALID, 0, "usage 'signs'"},
		{"sign\n", GW_ERR_INVALID, 0, "usage 'sign\\x0a'"},
		{NULL, GW_ERR_INVALID, 0, "NULL argument"},
	};
	enum cert_usage u;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		gw_err_clear();
		u = (enum cert_usage)0;
		assert_int_equal(cert_usage_parse(t[i].s, &u), t[i].rc);
		if (t[i].rc == 0) {
			assert_int_equal(u, t[i].usage);
			assert_string_equal(cert_usage_name(u), t[i].s);
			assert_string_equal(gw_err_detail(), "");
		} else {
			assert_substr(gw_err_detail(), t[i].detail);
		}
	}
	gw_err_clear();
	assert_int_equal(cert_usage_parse("sign", NULL), GW_ERR_INVALID);
	gw_err_clear();
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(cert_usage_name(CERT_USAGE_SIGN), "sign");
	assert_string_equal(cert_usage_name(CERT_USAGE_ENCRYPT), "encrypt");
	assert_string_equal(cert_usage_name(CERT_USAGE_BOTH), "both");
	assert_string_equal(cert_usage_name((enum cert_usage)0), "unknown");
	assert_string_equal(cert_check_status_name(CERT_CHECK_PASS), "pass");
	assert_string_equal(cert_check_status_name(CERT_CHECK_WARN), "warn");
	assert_string_equal(cert_check_status_name(CERT_CHECK_FAIL), "fail");
	assert_string_equal(
	    cert_check_status_name((enum cert_check_status)42), "unknown");
}

static const struct fqdn_case {
	const char *name;
	int wildcard;
	int want;
} fqdn_cases[] = {
	{"domain.com", 0, 1},
	{"*.domain.net", 1, 1},
	{"*.domain.net", 0, 0},
	{"gateway", 0, 0},
	{"gateway", 1, 0},
	{"*", 1, 0},
	{"*.net", 1, 0},
	{"a*.b.c", 1, 0},
	{"*.*.domain.net", 1, 0},
	{"a.*.domain.net", 1, 0},
	{"-a.b.com", 0, 0},
	{"a-.b.com", 0, 0},
	{"a-b.c-d.com", 0, 1},
	{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
	 0, 0},
	{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
	 0, 1},
	{"1.2.3.4", 0, 0},
	{"1.2.3.com", 0, 1},
	{"a.b.com.", 0, 1},
	{"a.b.com..", 0, 0},
	{".a.b.com", 0, 0},
	{"a..b.com", 0, 0},
	{"", 0, 0},
	{".", 0, 0},
	{"xn--bcher-kva.example", 0, 1},
	{"under_score.example.com", 0, 0},
	{"sp ace.example.com", 0, 0},
	{"b\xc3\xbc" "cher.example", 0, 0},
	{NULL, 1, 0},
};

static void
test_fqdn(void **state)
{
	const struct fqdn_case *fc = *state;

	assert_int_equal(cert_fqdn_valid(fc->name, fc->wildcard), fc->want);
}

/* 253 characters pass, 254 do not (a trailing dot is not counted). */
static void
test_fqdn_length(void **state)
{
	char name[260];
	size_t i;

	(void)state;
	/* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 */
	memset(name, 'a', sizeof(name));
	for (i = 63; i < 253; i += 64)
		name[i] = '.';
	name[253] = '\0';
	assert_int_equal(cert_fqdn_valid(name, 0), 1);
	name[253] = '.';
	name[254] = '\0';
	assert_int_equal(cert_fqdn_valid(name, 0), 1);
	name[253] = 'a';
	assert_int_equal(cert_fqdn_valid(name, 0), 0);
}

/* cert_fqdn_valid("a.b", 1) == 1; long names as their length. */
static void
fqdn_case_name(const struct fqdn_case *fc, char *buf, size_t size)
{
	if (fc->name == NULL)
		snprintf(buf, size, "cert_fqdn_valid(NULL, %d) == %d",
			 fc->wildcard, fc->want);
	else if (strlen(fc->name) > 40)
		snprintf(buf, size,
			 "cert_fqdn_valid(\"%.12s...\" (%zu chars), %d) == %d",
			 fc->name, strlen(fc->name), fc->wildcard, fc->want);
	else
		snprintf(buf, size, "cert_fqdn_valid(\"%s\", %d) == %d",
			 fc->name, fc->wildcard, fc->want);
}

#define NCASES (sizeof(cases) / sizeof(cases[0]))
#define NFQDN (sizeof(fqdn_cases) / sizeof(fqdn_cases[0]))
#define NWITHKEYS 3

int
main(void)
{
	/* Everything that needs keys runs in one group: keys made once. */
	static const struct CMUnitTest with_keys[] = {
		cmocka_unit_test_teardown(test_report_order, case_teardown),
		cmocka_unit_test_teardown(test_invalid_args, case_teardown),
		cmocka_unit_test(test_key_usage_allows),
	};
	static const struct CMUnitTest misc[] = {
		cmocka_unit_test(test_usage_parse),
		cmocka_unit_test(test_requirements_setting),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_fqdn_length),
	};
	static struct CMUnitTest table[NCASES + NWITHKEYS];
	static struct CMUnitTest fqdn[NFQDN];
	static char fqdn_names[NFQDN][96];
	size_t i;
	int failed = 0;

	for (i = 0; i < NCASES; i++) {
		table[i].name = cases[i].name;
		table[i].test_func = test_case;
		table[i].teardown_func = case_teardown;
		table[i].initial_state = (void *)&cases[i];
	}
	for (i = 0; i < NWITHKEYS; i++)
		table[NCASES + i] = with_keys[i];
	for (i = 0; i < NFQDN; i++) {
		fqdn_case_name(&fqdn_cases[i], fqdn_names[i],
			       sizeof(fqdn_names[i]));
		fqdn[i].name = fqdn_names[i];
		fqdn[i].test_func = test_fqdn;
		fqdn[i].initial_state = (void *)&fqdn_cases[i];
	}
	failed += _cmocka_run_group_tests("cert_check", table,
					  NCASES + NWITHKEYS, keys_setup,
					  keys_teardown);
	failed += _cmocka_run_group_tests("cert_check_names", misc,
					  sizeof(misc) / sizeof(misc[0]), NULL,
					  NULL);
	failed += _cmocka_run_group_tests("cert_fqdn_valid", fqdn, NFQDN,
					  NULL, NULL);
	return failed != 0;
}
