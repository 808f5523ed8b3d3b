/*
 * test_addr_rule.c - the address rule (certmgr/facts/addr_rule.c), one
 * table of named cases run through every consumer.
 *
 * Each case is a certificate (SAN entries, an optional emailAddress in
 * the subject name), an address, the local-part mode, and the one
 * expected answer: how the certificate names the address (email,
 * domain, wildcard or none) and the entry shown for it.  Every case is
 * asked of:
 *
 *   match    addr_rule_match(): the recipient lookup's precedence;
 *   covers   addr_rule_covers(): signing (engine.c), verification
 *            (smime_open.c) and harvesting (harvest.c) ask this;
 *   lookup   lookup_key_match() over a store holding the certificate as
 *            a public key, and lookup_harvested() as a harvested one;
 *   harvest  harvest_message() with the address as the sender: it
 *            refuses "does not cover the sender address" exactly when
 *            the rule says no (unless the case names an earlier reason).
 *
 * The names of a certificate are kept decoded for the next time it is
 * met (test_names_kept_by_bytes, test_names_bounds): only for the same
 * bytes of the SAN and the subject, within the bounds.
 *
 * Cases named item01_* are the review's (issue 8, item 1): before the
 * rule had one home, addr_rule_match() and addr_rule_covers() answered
 * differently for upper-case local parts, "*.com" wildcards and
 * trailing dots, and neither looked at the subject's emailAddress.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unit_util.h"

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "addr_rule.h"
#include "gw_err.h"
#include "gw_store.h"
#include "harvest.h"
#include "keystore.h"
#include "lookup.h"
#include "unit_x509.h"

#define T0 ((time_t)1750000000) /* 2025-06-15 15:06:40 UTC */
#define DAY (24 * 3600)
#define INS ADDR_LOCAL_INSENSITIVE
#define EXACT ADDR_LOCAL_EXACT

struct tcase {
	const char *name;
	const char *san;	/* X509V3 text ("email:a@b,DNS:c"); NULL: none */
	const char *subj_email;	/* the subject's emailAddress; NULL: none */
	const char *addr;
	enum addr_local_part mode;
	enum addr_match kind;	/* the answer of the rule */
	const char *shown;	/* the entry named (identity when none) */
	const char *harvest;	/* NULL: coverage decides; else the reason
				   harvest_message() stops at first */
};

#define SUBJ " (subject emailAddress)"

static const struct tcase cases[] = {
	/* RFC 8550 section 3: the subject's emailAddress is an address. */
	{"item01_subject_email_only", NULL, "alice@partner.example",
	 "alice@partner.example", INS, ADDR_MATCH_EMAIL,
	 "alice@partner.example" SUBJ, NULL},
	{"item01_subject_email_with_dns_san", "DNS:other.example",
	 "alice@partner.example", "alice@partner.example", INS,
	 ADDR_MATCH_EMAIL, "alice@partner.example" SUBJ, NULL},
	{"item01_subject_email_domain_case", NULL, "alice@PARTNER.Example",
	 "alice@partner.example", INS, ADDR_MATCH_EMAIL,
	 "alice@PARTNER.Example" SUBJ, NULL},
	{"item01_subject_email_local_case", NULL, "Alice@partner.example",
	 "alice@partner.example", INS, ADDR_MATCH_EMAIL,
	 "Alice@partner.example" SUBJ, NULL},
	{"item01_subject_email_local_case_exact", NULL, "Alice@partner.example",
	 "alice@partner.example", EXACT, ADDR_MATCH_NONE,
	 "Alice@partner.example", NULL},
	{"subject_email_other_address", NULL, "bob@partner.example",
	 "alice@partner.example", INS, ADDR_MATCH_NONE, "bob@partner.example", NULL},
	{"item01_san_email_before_subject_email", "email:alice@partner.example",
	 "alice@partner.example", "alice@partner.example", INS,
	 ADDR_MATCH_EMAIL, "alice@partner.example", NULL},
	{"item01_subject_email_beats_san_domain", "DNS:partner.example",
	 "alice@partner.example", "alice@partner.example", INS,
	 ADDR_MATCH_EMAIL, "alice@partner.example" SUBJ, NULL},
	{"cn_is_no_address", NULL, NULL, "alice@partner.example", INS,
	 ADDR_MATCH_NONE, "cn.example", "partner requirements"},

	/* Case: domains always ignore it; local parts by the mode. */
	{"item01_local_case_insensitive_by_default",
	 "email:Alice@partner.example", NULL, "alice@partner.example", INS,
	 ADDR_MATCH_EMAIL, "Alice@partner.example", NULL},
	{"item01_upper_address_insensitive", "email:alice@partner.example",
	 NULL, "ALICE@PARTNER.EXAMPLE", INS, ADDR_MATCH_EMAIL,
	 "alice@partner.example", NULL},
	{"item01_local_case_exact_mode", "email:Alice@partner.example", NULL,
	 "alice@partner.example", EXACT, ADDR_MATCH_NONE,
	 "Alice@partner.example", NULL},
	{"local_same_case_exact_mode", "email:Alice@partner.example",
	 NULL, "Alice@partner.example", EXACT, ADDR_MATCH_EMAIL,
	 "Alice@partner.example", NULL},
	{"domain_case_exact_mode", "email:alice@Partner.EXAMPLE", NULL,
	 "alice@partner.example", EXACT, ADDR_MATCH_EMAIL,
	 "alice@Partner.EXAMPLE", NULL},
	{"dns_domain_case", "DNS:PARTNER.example", NULL,
	 "bob@partner.EXAMPLE", EXACT, ADDR_MATCH_DOMAIN,
	 "PARTNER.example", NULL},
	{"non_ascii_local_part_exact_bytes", "email:j\xc3\xa9@partner.example",
	 NULL, "J\xc3\xa9@partner.example", INS, ADDR_MATCH_EMAIL,
	 "j\\xc3\\xa9@partner.example", "partner requirements"},

	/* Precedence: email, then domain, then wildcard. */
	{"domain_entry", "DNS:partner.example", NULL, "bob@partner.example",
	 INS, ADDR_MATCH_DOMAIN, "partner.example", NULL},
	{"email_beats_domain", "DNS:partner.example,email:bob@partner.example",
	 NULL, "bob@partner.example", INS, ADDR_MATCH_EMAIL,
	 "bob@partner.example", NULL},
	{"domain_beats_wildcard", "DNS:*.partner.example,DNS:eu.partner.example",
	 NULL, "bob@eu.partner.example", INS, ADDR_MATCH_DOMAIN,
	 "eu.partner.example", NULL},
	{"other_email_no_match", "email:carol@partner.example", NULL,
	 "bob@partner.example", INS, ADDR_MATCH_NONE, "carol@partner.example", NULL},
	{"domain_is_no_subdomain", "DNS:partner.example", NULL,
	 "bob@eu.partner.example", INS, ADDR_MATCH_NONE, "partner.example", NULL},

	/* Wildcards: one label, never over a single-label rest. */
	{"wildcard_one_label", "DNS:*.partner.example", NULL,
	 "bob@eu.partner.example", INS, ADDR_MATCH_WILDCARD,
	 "*.partner.example", NULL},
	{"wildcard_case", "DNS:*.Partner.Example", NULL,
	 "bob@EU.partner.example", INS, ADDR_MATCH_WILDCARD,
	 "*.Partner.Example", NULL},
	{"wildcard_not_the_apex", "DNS:*.partner.example", NULL,
	 "bob@partner.example", INS, ADDR_MATCH_NONE, "*.partner.example", NULL},
	{"wildcard_not_two_labels", "DNS:*.partner.example", NULL,
	 "bob@a.eu.partner.example", INS, ADDR_MATCH_NONE,
	 "*.partner.example", NULL},
	{"item01_wildcard_single_label_refused", "DNS:*.com", NULL,
	 "ceo@example.com", INS, ADDR_MATCH_NONE, "*.com", NULL},
	{"wildcard_star_alone_refused", "DNS:*", NULL,
	 "ceo@example.com", INS, ADDR_MATCH_NONE, "*", NULL},
	{"wildcard_partial_label_refused", "DNS:b*.partner.example", NULL,
	 "x@bob.partner.example", INS, ADDR_MATCH_NONE, "b*.partner.example", NULL},
	{"wildcard_second_star_refused", "DNS:*.*.example", NULL,
	 "x@a.b.example", INS, ADDR_MATCH_NONE, "*.*.example", NULL},
	{"item01_star_in_address_refused", "DNS:*.partner.example", NULL,
	 "x@*.partner.example", INS, ADDR_MATCH_NONE, "*.partner.example", NULL},

	/* One trailing dot is dropped on both sides; two are no domain. */
	{"item01_trailing_dot_in_address", "email:bob@partner.example", NULL,
	 "bob@partner.example.", INS, ADDR_MATCH_EMAIL, "bob@partner.example", NULL},
	{"item01_trailing_dot_in_san_email", "email:bob@partner.example.",
	 NULL, "bob@partner.example", INS, ADDR_MATCH_EMAIL,
	 "bob@partner.example.", "partner requirements"},
	{"item01_trailing_dot_in_dns", "DNS:partner.example.", NULL,
	 "bob@partner.example", INS, ADDR_MATCH_DOMAIN, "partner.example.", NULL},
	{"trailing_dot_in_wildcard", "DNS:*.partner.example.", NULL,
	 "bob@eu.partner.example.", INS, ADDR_MATCH_WILDCARD,
	 "*.partner.example.", NULL},
	{"two_trailing_dots_no_address", "email:bob@partner.example", NULL,
	 "bob@partner.example..", INS, ADDR_MATCH_NONE, "bob@partner.example", NULL},
	{"empty_label_no_address", "DNS:partner..example", NULL,
	 "bob@partner..example", INS, ADDR_MATCH_NONE, "partner..example", NULL},
	{"leading_dot_no_address", "DNS:partner.example", NULL,
	 "bob@.partner.example", INS, ADDR_MATCH_NONE, "partner.example", NULL},

	/* What is an address. */
	{"last_at_splits", "email:\"a@b\"@partner.example", NULL,
	 "\"A@B\"@partner.example", INS, ADDR_MATCH_EMAIL,
	 "\"a@b\"@partner.example", NULL},
	{"no_local_part", "DNS:partner.example", NULL, "@partner.example", INS,
	 ADDR_MATCH_NONE, "partner.example", "no usable sender address"},
	{"no_domain", "email:bob@partner.example", NULL, "bob@", INS,
	 ADDR_MATCH_NONE, "bob@partner.example", "no usable sender address"},
	{"control_character", "email:bob@partner.example", NULL,
	 "bob\r@partner.example", INS, ADDR_MATCH_NONE,
	 "bob@partner.example", "no usable sender address"},
	{"bare_domain_names_dns_only", "DNS:partner.example", NULL,
	 "partner.example", INS, ADDR_MATCH_DOMAIN, "partner.example", NULL},
	{"bare_domain_no_email_match", "email:bob@partner.example", NULL,
	 "partner.example", INS, ADDR_MATCH_NONE, "bob@partner.example", NULL},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static char tmpdir[64];
static unsigned case_no;
static EVP_PKEY *ca_key, *ee_key;
static X509 *ca_cert;
static long serial = 1;

static X509 *
make_cert(const char *cn, const char *email, EVP_PKEY *key, X509 *issuer)
{
	X509 *x;
	X509_NAME *n;

	assert_non_null(x = X509_new());
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), -1, 0,
					 &(time_t){T0}));
	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 365, 0,
					 &(time_t){T0}));
	assert_non_null(n = X509_NAME_new());
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
			 (const unsigned char *)cn, -1, -1, 0), 1);
	if (email != NULL)
		assert_int_equal(X509_NAME_add_entry_by_NID(n,
				 NID_pkcs9_emailAddress, V_ASN1_IA5STRING,
				 (const unsigned char *)email, -1, -1, 0), 1);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_NAME_free(n);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	return x;
}

/* A partner certificate from the test CA: EC P-256, keyUsage for
 * signing and key agreement, emailProtection, the case's names. */
static X509 *
case_cert(const struct tcase *tc)
{
	X509 *x = make_cert("cn.example", tc->subj_email, ee_key, ca_cert);

	assert_true(unit_add_ext(x, ca_cert, NID_basic_constraints,
				 "critical,CA:FALSE"));
	assert_true(unit_add_ext(x, ca_cert, NID_key_usage,
				 "critical,digitalSignature,keyAgreement"));
	assert_true(unit_add_ext(x, ca_cert, NID_ext_key_usage,
				 "emailProtection"));
	if (tc->san != NULL)
		assert_true(unit_add_ext(x, ca_cert, NID_subject_alt_name,
					 tc->san));
	assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
	return x;
}

static int
group_setup(void **state)
{
	(void)state;
	if (unit_tmpdir(tmpdir, sizeof(tmpdir), "test_addr_rule") != 0)
		return -1;
	if ((ca_key = EVP_EC_gen("P-256")) == NULL ||
	    (ee_key = EVP_EC_gen("P-256")) == NULL)
		return -1;
	ca_cert = make_cert("Test CA", NULL, ca_key, NULL);
	assert_true(unit_add_ext(ca_cert, ca_cert, NID_basic_constraints,
				 "critical,CA:TRUE"));
	assert_true(unit_add_ext(ca_cert, ca_cert, NID_key_usage,
				 "critical,keyCertSign"));
	return X509_sign(ca_cert, ca_key, EVP_sha256()) > 0 ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	addr_rule_set_local_part(ADDR_LOCAL_INSENSITIVE);
	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(ee_key);
	return unit_rmtree(tmpdir) == 0 ? 0 : -1;
}

static int
has_at(const char *addr)
{
	return strchr(addr, '@') != NULL;
}

/* The rule's two entry points. */
static void
check_rule(const struct tcase *tc, X509 *x)
{
	char san[256], id[256];
	size_t n;
	int covers;

	assert_int_equal(addr_rule_match(x, tc->addr, san, sizeof(san)),
			 tc->kind);
	assert_string_equal(san, tc->kind != ADDR_MATCH_NONE ? tc->shown : "");
	assert_int_equal(addr_rule_match(x, tc->addr, NULL, 0), tc->kind);
	covers = addr_rule_covers(x, tc->addr, id, sizeof(id));
	assert_int_equal(covers, tc->kind != ADDR_MATCH_NONE && has_at(tc->addr));
	/* The identity is the entry's value, without the note. */
	n = strlen(tc->shown);
	if (n > strlen(SUBJ) && strcmp(tc->shown + n - strlen(SUBJ), SUBJ) == 0)
		n -= strlen(SUBJ);
	assert_int_equal(strlen(id), n);
	assert_memory_equal(id, tc->shown, n);
}

/* The recipient lookup over a public key and over a harvested key. */
static void
check_lookup(const struct tcase *tc, X509 *x, struct gw_txn *txn)
{
	struct keystore_key k;
	struct lookup_match m;
	X509 *got = NULL;
	const char *local, *dom;
	size_t llen, dlen;
	int rc, want;

	memset(&k, 0, sizeof(k));
	k.name = (char *)"partner";
	k.cert = x;
	k.caps = KEYSTORE_CAP_ENCRYPT | KEYSTORE_CAP_VERIFY;
	k.source = (char *)"added";
	assert_int_equal(keystore_put(txn, &k, 0), 0);
	want = addr_rule_split(tc->addr, &local, &llen, &dom, &dlen) != 0
		   ? GW_ERR_INVALID
	       : tc->kind == ADDR_MATCH_NONE ? GW_ERR_NOT_FOUND
					     : 0;
	gw_err_clear();
	rc = lookup_key_match(txn, tc->addr, T0, &got, &m);
	assert_int_equal(rc, want);
	if (rc == 0) {
		assert_int_equal(m.kind, tc->kind);
		assert_int_equal(m.harvested, 0);
		assert_string_equal(m.san, tc->shown);
		assert_int_equal(X509_cmp(got, x), 0);
	}
	X509_free(got);
	got = NULL;
	assert_int_equal(keystore_del(txn, "partner"), 0);
	gw_err_clear();
}

static void
check_harvest(const struct tcase *tc, X509 *x, struct gw_txn *txn)
{
	struct harvest_opts o;
	struct harvest_report rep;
	struct harvest_msg hm;
	struct lookup_match m;
	X509 *got = NULL;
	STACK_OF(X509) *sk;
	const struct harvest_outcome *oc;
	int covers = tc->kind != ADDR_MATCH_NONE && has_at(tc->addr);

	if (!has_at(tc->addr))
		return;
	assert_non_null(sk = sk_X509_new_null());
	assert_true(sk_X509_push(sk, x) > 0);
	memset(&o, 0, sizeof(o));
	memset(&hm, 0, sizeof(hm));
	hm.signers = sk;
	hm.verified = 1;
	hm.sender = tc->addr;
	hm.message_id = "<m@partner.example>";
	gw_err_clear();
	assert_int_equal(harvest_message(txn, &hm, &o, T0, &rep), 0);
	sk_X509_free(sk);
	assert_int_equal(rep.n, 1);
	oc = &rep.o[0];
	if (tc->harvest != NULL) {
		assert_int_equal(oc->what, HARVEST_SKIPPED);
		assert_substr(oc->reason, tc->harvest);
		return;
	}
	if (!covers) {
		assert_int_equal(oc->what, HARVEST_SKIPPED);
		assert_substr(oc->reason, "does not cover the sender address");
		return;
	}
	assert_int_equal(oc->what, HARVEST_NEW);
	/* The harvested key answers the lookup by the same rule. */
	assert_int_equal(lookup_harvested(txn, tc->addr, T0, &got, &m), 0);
	assert_int_equal(m.kind, tc->kind);
	assert_int_equal(m.harvested, 1);
	X509_free(got);
}

static void
test_case(void **state)
{
	const struct tcase *tc = *state;
	struct gw_store *st = NULL;
	struct gw_txn *txn = NULL;
	char dir[128];
	X509 *x;

	addr_rule_set_local_part(tc->mode);
	assert_int_equal(addr_rule_local_part(), tc->mode);
	x = case_cert(tc);
	check_rule(tc, x);
	snprintf(dir, sizeof(dir), "%s/c%u", tmpdir, ++case_no);
	assert_int_equal(gw_store_open(dir, (size_t)16 << 20, &st), 0);
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	check_lookup(tc, x, txn);
	check_harvest(tc, x, txn);
	gw_txn_abort(txn);
	gw_store_close(st);
	X509_free(x);
	addr_rule_set_local_part(ADDR_LOCAL_INSENSITIVE);
}

/* ---- the mode and its names ---------------------------------------------- */

static void
test_local_part_names(void **state)
{
	enum addr_local_part m = ADDR_LOCAL_EXACT;

	(void)state;
	assert_int_equal(addr_rule_local_part_parse("insensitive", &m), 0);
	assert_int_equal(m, ADDR_LOCAL_INSENSITIVE);
	assert_int_equal(addr_rule_local_part_parse("exact", &m), 0);
	assert_int_equal(m, ADDR_LOCAL_EXACT);
	gw_err_clear();
	assert_int_equal(addr_rule_local_part_parse("Exact", &m),
			 GW_ERR_INVALID);
	assert_substr(gw_err_detail(), "'Exact' is not insensitive or exact");
	gw_err_clear();
	assert_string_equal(addr_rule_local_part_name(ADDR_LOCAL_EXACT),
			    "exact");
	assert_string_equal(addr_rule_local_part_name(ADDR_LOCAL_INSENSITIVE),
			    "insensitive");
	assert_int_equal(addr_rule_local_part(), ADDR_LOCAL_INSENSITIVE);
}

/* NULL and oversized input never match and never crash. */
static void
test_bad_input(void **state)
{
	struct tcase tc = {"x", "email:bob@partner.example", NULL, "", INS,
			   ADDR_MATCH_NONE, "", NULL};
	char big[ADDR_MAX + 40], id[64];
	X509 *x;

	(void)state;
	x = case_cert(&tc);
	assert_int_equal(addr_rule_match(x, NULL, NULL, 0), ADDR_MATCH_NONE);
	assert_int_equal(addr_rule_match(NULL, "bob@partner.example", NULL, 0),
			 ADDR_MATCH_NONE);
	assert_int_equal(addr_rule_covers(x, NULL, id, sizeof(id)), 0);
	assert_string_equal(id, "bob@partner.example");
	assert_int_equal(addr_rule_covers(x, "", id, sizeof(id)), 0);
	memset(big, 'a', sizeof(big));
	memcpy(big + sizeof(big) - 1 - 20, "@partner.example", 17);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(addr_rule_match(x, big, NULL, 0), ADDR_MATCH_NONE);
	/* A short identity buffer is cut, never overrun. */
	assert_int_equal(addr_rule_covers(x, "bob@partner.example", id, 8), 1);
	assert_int_equal(strlen(id) < 8, 1);
	X509_free(x);
}

/* ---- the names kept per certificate ---------------------------------- */

static void
names_stats(unsigned long *hits, unsigned long *misses)
{
	addr_rule_names_stats_for_tests(hits, misses);
}

/* x's DER with the first occurrence of what changed to to (same
 * length), decoded again: another certificate, its signature no longer
 * valid (the rule does not look at it). */
static X509 *
changed_copy(X509 *x, const char *what, const char *to)
{
	unsigned char *der = NULL, *at = NULL;
	const unsigned char *p;
	size_t n = strlen(what), i;
	int len = i2d_X509(x, &der);
	X509 *y;

	assert_true(len > 0);
	assert_int_equal(strlen(to), n);
	for (i = 0; i + n <= (size_t)len && at == NULL; i++)
		if (memcmp(der + i, what, n) == 0)
			at = der + i;
	assert_non_null(at);
	memcpy(at, to, n);
	p = der;
	assert_non_null(y = d2i_X509(NULL, &p, len));
	OPENSSL_free(der);
	return y;
}

/* Asks the rule about addr of x: whether it covers, and the identity. */
static void
expect(X509 *x, const char *addr, int covers, const char *identity)
{
	char id[256];

	assert_int_equal(addr_rule_covers(x, addr, id, sizeof(id)), covers);
	assert_string_equal(id, identity);
}

/*
 * The names come from the certificate met before only when the bytes
 * they are read from are the same: one byte changed in the SAN's
 * rfc822Name, in its dNSName or in the subject's emailAddress, and the
 * certificate is decoded on its own (a miss), and answers for its own
 * names.  One that differs elsewhere only (the serial) has the same
 * names (a hit).  The first still hits after them, with its answers.
 */
static void
test_names_kept_by_bytes(void **state)
{
	struct tcase tc = {"x", "email:alice@partner.example,DNS:eu.example",
			   "carol@partner.example", "", INS, ADDR_MATCH_NONE,
			   "", NULL};
	unsigned long h0, m0, h, m;
	X509 *x, *y;

	(void)state;
	x = case_cert(&tc);
	names_stats(&h0, &m0);
	expect(x, "alice@partner.example", 1, "alice@partner.example");
	names_stats(&h, &m);
	assert_int_equal(m, m0 + 1);
	expect(x, "bob@eu.example", 1, "eu.example");
	expect(x, "carol@partner.example", 1, "carol@partner.example");
	names_stats(&h, &m);
	assert_int_equal(h, h0 + 2);
	assert_int_equal(m, m0 + 1);

	/* the SAN's rfc822Name, one byte */
	y = changed_copy(x, "alice@", "alica@");
	names_stats(&h0, &m0);
	expect(y, "alice@partner.example", 0, "alica@partner.example");
	expect(y, "alica@partner.example", 1, "alica@partner.example");
	names_stats(&h, &m);
	assert_int_equal(m, m0 + 1);
	assert_int_equal(h, h0 + 1);
	X509_free(y);
	/* its dNSName */
	y = changed_copy(x, "eu.example", "ev.example");
	expect(y, "bob@eu.example", 0, "alice@partner.example");
	expect(y, "bob@ev.example", 1, "ev.example");
	X509_free(y);
	/* the subject's emailAddress */
	y = changed_copy(x, "carol@", "caro1@");
	expect(y, "carol@partner.example", 0, "alice@partner.example");
	expect(y, "caro1@partner.example", 1, "caro1@partner.example");
	X509_free(y);
	names_stats(&h0, &m0);
	/* the same names in another certificate */
	tc.name = "y";
	y = case_cert(&tc);
	assert_int_not_equal(X509_cmp(x, y), 0);
	expect(y, "alice@partner.example", 1, "alice@partner.example");
	names_stats(&h, &m);
	assert_int_equal(h, h0 + 1);
	assert_int_equal(m, m0);
	X509_free(y);
	expect(x, "alica@partner.example", 0, "alice@partner.example");
	expect(x, "alice@partner.example", 1, "alice@partner.example");
	X509_free(x);
}

/*
 * More certificates than are kept, asked in turn twice (every one
 * pushed out before it comes again); and a certificate with more names
 * than are kept: each answers for its own names every time.
 */
static void
test_names_bounds(void **state)
{
	struct tcase tc = {"x", NULL, NULL, "", INS, ADDR_MATCH_NONE, "", NULL};
	char san[64 * 24 + 32], addr[64], other[64];
	unsigned long h0, m0, h, m;
	X509 *x[40];
	size_t len;
	int i, round;

	(void)state;
	for (i = 0; i < 40; i++) {
		snprintf(san, sizeof(san), "email:u%d@partner.example", i);
		tc.san = san;
		x[i] = case_cert(&tc);
	}
	for (round = 0; round < 2; round++)
		for (i = 0; i < 40; i++) {
			snprintf(addr, sizeof(addr), "u%d@partner.example", i);
			snprintf(other, sizeof(other), "u%d@partner.example",
				 (i + 1) % 40);
			expect(x[i], addr, 1, addr);
			expect(x[i], other, 0, addr);
		}
	for (i = 0; i < 40; i++)
		X509_free(x[i]);
	/* 70 dNSNames: more than are kept */
	len = 0;
	for (i = 0; i < 70; i++)
		len += (size_t)snprintf(san + len, sizeof(san) - len,
					"%sDNS:d%d.example", i ? "," : "", i);
	tc.san = san;
	x[0] = case_cert(&tc);
	names_stats(&h0, &m0);
	for (round = 0; round < 2; round++) {
		expect(x[0], "a@d69.example", 1, "d69.example");
		expect(x[0], "a@d70.example", 0, "d0.example");
	}
	names_stats(&h, &m);
	assert_int_equal(h, h0);
	assert_int_equal(m, m0 + 4);
	X509_free(x[0]);
}

int
main(void)
{
	struct CMUnitTest tests[NCASES + 4];
	size_t i;

	for (i = 0; i < NCASES; i++) {
		tests[i].name = cases[i].name;
		tests[i].test_func = test_case;
		tests[i].setup_func = NULL;
		tests[i].teardown_func = NULL;
		tests[i].initial_state = (void *)&cases[i];
	}
	tests[i++] = (struct CMUnitTest)cmocka_unit_test(test_local_part_names);
	tests[i++] = (struct CMUnitTest)cmocka_unit_test(test_bad_input);
	tests[i++] =
	    (struct CMUnitTest)cmocka_unit_test(test_names_kept_by_bytes);
	tests[i++] = (struct CMUnitTest)cmocka_unit_test(test_names_bounds);
	return _cmocka_run_group_tests("addr_rule", tests, i, group_setup,
				       group_teardown);
}
