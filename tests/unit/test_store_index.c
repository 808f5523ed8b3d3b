/*
 * test_store_index.c - the address indexes of the key stores
 * (gateway/store/addr_index.c, issue 10).
 *
 *   agree     records and indexes agree (addr_index_check()) after
 *             add, replace, delete, harvest, harvested delete,
 *             eviction and import;
 *   same      the lookup through the index gives the answers the
 *             walk over every record gives (a format-1 store), for
 *             random certificates and addresses, in both local-part
 *             modes: the key, its match kind and entry, and for no
 *             usable key the same detail;
 *   upgrade   a format-1 store is looked up by the walk, then indexed
 *             by its first write;
 *   check     store check's test finds a missing entry, a dangling
 *             one and one that no record calls for;
 *   crash     a writer killed in the middle of an import leaves
 *             records and indexes as they were;
 *   names     the certificate names (fingerprint, issuer and serial,
 *             subject key identifier, subject) find their records
 *             after add, replace, delete and harvest, and nothing else;
 *   lru       the first LRU entry is the least recently used harvested
 *             key, the one the scan of every record picks, after puts
 *             and touches;
 *   format 2  a store with the address names only is checked as such,
 *             and its first write builds the rest;
 *   identity  an identity's current and previous certificates are found
 *             by issuer and serial and by key identifier after put,
 *             a new certificate and delete; store check names a
 *             missing entry;
 *   CAs       a trusted CA is found by its subject after add, not after
 *             delete; store check names a missing entry;
 *   broken    store check names a missing certificate or LRU entry and
 *             one left at an old LRU time;
 *   walked    store/walked names the file after an open that walked it
 *             and after each commit on it; a file changed behind the
 *             store's back is not vouched for by a later commit, and
 *             the next open walks it and names it again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_util.h"

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "addr_index.h"
#include "addr_rule.h"
#include "fpid.h"
#include "gw_err.h"
#include "gw_store.h"
#include "castore.h"
#include "harvest.h"
#include "identity.h"
#include "keystore.h"
#include "lookup.h"
#include "unit_x509.h"

#define T0 ((time_t)1750000000)
#define DAY (24 * 3600)
#define IX_TEST_KEY_MAX (ADDR_INDEX_MAX + 1 + 256)

static char tmpdir[64];
static unsigned case_no;
static EVP_PKEY *key;
static unsigned long serial = 1;

/* A self-signed partner certificate with the SAN text san (may be
 * NULL), the subject emailAddress subj (may be NULL), valid from
 * T0 + from days for days days. */
static X509 *
cert(const char *san, const char *subj, long from, long days)
{
	X509_NAME *n;
	X509 *x;
	time_t t = T0;

	assert_non_null(x = X509_new());
	assert_true(X509_set_version(x, 2));
	assert_true(ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial++));
	n = X509_get_subject_name(x);
	assert_true(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
					       (const unsigned char *)"p", -1,
					       -1, 0));
	if (subj != NULL)
		assert_true(X509_NAME_add_entry_by_NID(
		    n, NID_pkcs9_emailAddress, MBSTRING_ASC,
		    (const unsigned char *)subj, -1, -1, 0));
	assert_true(X509_set_issuer_name(x, n));
	assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), (int)from, 0,
					 &t));
	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x),
					 (int)(from + days), 0, &t));
	assert_true(X509_set_pubkey(x, key));
	assert_true(unit_add_ext(x, x, NID_basic_constraints,
				 "critical,CA:FALSE"));
	assert_true(unit_add_ext(x, x, NID_key_usage,
				 "critical,digitalSignature,keyAgreement"));
	if (san != NULL)
		assert_true(unit_add_ext(x, x, NID_subject_alt_name, san));
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

static struct gw_store *
new_store(void)
{
	struct gw_store *st = NULL;
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/s%u", tmpdir, ++case_no);
	assert_int_equal(gw_store_open(dir, (size_t)64 << 20, &st), 0);
	return st;
}

static void
put_key(struct gw_txn *txn, const char *name, X509 *x)
{
	struct keystore_key k;

	memset(&k, 0, sizeof(k));
	k.name = (char *)name;
	k.cert = x;
	k.caps = keystore_caps(x);
	k.source = (char *)"added";
	k.added = k.updated = (uint64_t)T0;
	gw_err_clear();
	if (keystore_put(txn, &k, 0) != 0)
		fail_msg("put %s: %s", name, gw_err_detail());
}

static void
put_harvested(struct gw_txn *txn, X509 *x, const char *addr)
{
	struct harvested_key k;

	memset(&k, 0, sizeof(k));
	k.cert = x;
	assert_int_equal(fpid_of(x, k.id), 0);
	k.address = (char *)addr;
	k.message_id = (char *)"<m@x.example>";
	k.sender = (char *)addr;
	k.verification = (char *)"pass";
	k.first_seen = k.last_seen = (uint64_t)T0;
	k.seen_count = 1;
	assert_int_equal(harvested_put(txn, &k), 0);
}

static void
agree(struct gw_txn *txn)
{
	gw_err_clear();
	if (addr_index_check(txn) != 0)
		fail_msg("records and indexes disagree: %s", gw_err_detail());
}

static size_t
count(struct gw_txn *txn, const char *db)
{
	size_t n = 0;

	assert_int_equal(gw_txn_count(txn, db, &n), 0);
	return n;
}

/* The name lookup_key_match() picks for addr, or "-" and the detail. */
static void
answer(struct gw_txn *txn, const char *addr, char *buf, size_t size)
{
	struct lookup_match m;
	X509 *got = NULL;
	int rc;

	gw_err_clear();
	rc = lookup_key_match(txn, addr, T0, &got, &m);
	if (rc == 0)
		snprintf(buf, size, "%s %d %s %d", m.name, (int)m.kind, m.san,
			 m.harvested);
	else
		snprintf(buf, size, "- %d %s", rc, gw_err_detail());
	X509_free(got);
	gw_err_clear();
}

/* ---- agree ------------------------------------------------------------- */

static void
test_agree_after_changes(void **state)
{
	struct gw_store *st = new_store();
	struct gw_txn *txn = NULL;
	struct keystore_import *imp = NULL;
	struct harvest_opts o;
	struct harvest_report rep;
	struct harvest_msg hm;
	struct gw_buf exp;
	STACK_OF(X509) *sk;
	X509 *a, *b, *c, *d, *hx[6];
	char got[1200], addr[64];
	size_t i;

	(void)state;
	a = cert("email:alice@partner.example", NULL, -1, 365);
	b = cert("DNS:partner.example", "Bob@Partner.Example", -1, 365);
	c = cert("DNS:*.sub.partner.example", NULL, -1, 365);
	d = cert("email:carol@other.example", NULL, -1, 365);
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	/* Add. */
	put_key(txn, "alice", a);
	put_key(txn, "bob", b);
	put_key(txn, "wild", c);
	agree(txn);
	assert_int_equal(addr_index_ready(txn), 1);
	answer(txn, "ALICE@partner.example", got, sizeof(got));
	assert_string_equal(got, "alice 1 alice@partner.example 0");
	answer(txn, "x@a.sub.partner.example", got, sizeof(got));
	assert_string_equal(got, "wild 3 *.sub.partner.example 0");
	answer(txn, "bob@partner.example", got, sizeof(got));
	assert_string_equal(got,
			    "bob 1 Bob@Partner.Example (subject emailAddress) 0");
	/* Replace: alice's name now holds carol's certificate. */
	put_key(txn, "alice", d);
	agree(txn);
	answer(txn, "alice@partner.example", got, sizeof(got));
	assert_string_equal(got, "bob 2 partner.example 0");
	answer(txn, "carol@other.example", got, sizeof(got));
	assert_string_equal(got, "alice 1 carol@other.example 0");
	/* Delete. */
	assert_int_equal(keystore_del(txn, "bob"), 0);
	agree(txn);
	answer(txn, "alice@partner.example", got, sizeof(got));
	got[strcspn(got, " ")] = '\0'; /* the first word */
	assert_string_equal(got, "-");
	/* Harvest, then delete a harvested key. */
	for (i = 0; i < 6; i++) {
		snprintf(addr, sizeof(addr), "email:h%zu@harvest.example", i);
		hx[i] = cert(addr, NULL, -1, 365);
		put_harvested(txn, hx[i], addr + 6);
	}
	agree(txn);
	answer(txn, "h3@harvest.example", got, sizeof(got));
	assert_non_null(strstr(got, " 1 h3@harvest.example 1"));
	assert_int_equal(harvested_del(txn, "h3@harvest.example"), 0);
	agree(txn);
	answer(txn, "h3@harvest.example", got, sizeof(got));
	got[strcspn(got, " ")] = '\0'; /* the first word */
	assert_string_equal(got, "-");
	/* Eviction: a bound that holds about two records. */
	memset(&o, 0, sizeof(o));
	o.allow_self_signed = 1;
	assert_int_equal(harvested_bytes(txn, &o.max_bytes), 0);
	o.max_bytes = o.max_bytes / 5 * 2 + 10;
	assert_non_null(sk = sk_X509_new_null());
	X509_free(hx[3]);
	hx[3] = cert("email:new@harvest.example", NULL, -1, 365);
	assert_true(sk_X509_push(sk, hx[3]) > 0);
	memset(&hm, 0, sizeof(hm));
	hm.signers = sk;
	hm.verified = 1;
	hm.sender = "new@harvest.example";
	hm.message_id = "<e@harvest.example>";
	assert_int_equal(harvest_message(txn, &hm, &o, T0, &rep), 0);
	assert_int_equal(rep.o[0].what, HARVEST_NEW);
	assert_true(rep.evicted > 0);
	sk_X509_free(sk);
	agree(txn);
	answer(txn, "new@harvest.example", got, sizeof(got));
	assert_non_null(strstr(got, " 1 new@harvest.example 1"));
	/* Import: the export of this store, replacing what it holds,
	 * and into it again under new names. */
	gw_buf_init(&exp, (size_t)1 << 20);
	assert_int_equal(keystore_export(txn, &exp), 0);
	assert_int_equal(keystore_import_parse((const char *)exp.data, exp.len,
					       "exp", 0, T0, &imp),
			 0);
	assert_int_equal(keystore_import_apply(txn, imp, 1, T0), 0);
	keystore_import_free(imp);
	agree(txn);
	assert_int_equal(keystore_del(txn, "alice"), 0);
	assert_int_equal(keystore_import_parse((const char *)exp.data, exp.len,
					       "exp", 0, T0, &imp),
			 0);
	assert_int_equal(keystore_import_apply(txn, imp, 0, T0), 0);
	keystore_import_free(imp);
	gw_buf_free(&exp);
	agree(txn);
	answer(txn, "carol@other.example", got, sizeof(got));
	assert_string_equal(got, "alice 1 carol@other.example 0");
	assert_int_equal(gw_txn_commit(txn), 0);
	/* And as a new transaction reads it. */
	assert_int_equal(gw_txn_begin(st, GW_TXN_READ, &txn), 0);
	agree(txn);
	gw_txn_abort(txn);
	gw_store_close(st);
	X509_free(a);
	X509_free(b);
	X509_free(c);
	X509_free(d);
	for (i = 0; i < 6; i++)
		X509_free(hx[i]);
}

/* ---- same answers ------------------------------------------------------ */

static const char *const locals[] = {"alice", "Alice", "bob", "BOB", "x"};
static const char *const domains[] = {
    "partner.example", "PARTNER.example.", "a.partner.example",
    "b.a.partner.example", "other.example", "example"};

static void
random_san(char *buf, size_t size, const char **subj)
{
	size_t o = 0, i, n = 1 + (size_t)rand() % 3;
	const char *l, *d;

	buf[0] = '\0';
	*subj = NULL;
	for (i = 0; i < n && o + 100 < size; i++) {
		l = locals[rand() % 5];
		d = domains[rand() % 6];
		switch (rand() % 4) {
		case 0:
		case 1:
			o += (size_t)snprintf(buf + o, size - o, "%semail:%s@%s",
					      o ? "," : "", l, d);
			break;
		case 2:
			o += (size_t)snprintf(buf + o, size - o, "%sDNS:%s",
					      o ? "," : "", d);
			break;
		default:
			o += (size_t)snprintf(buf + o, size - o, "%sDNS:*.%s",
					      o ? "," : "", d);
			break;
		}
	}
	if (rand() % 5 == 0) {
		static char s[80];

		snprintf(s, sizeof(s), "%s@%s", locals[rand() % 5],
			 domains[rand() % 6]);
		*subj = s;
	}
}

/* The answers with and without the index for every address. */
static void
compare_all(struct gw_txn *txn)
{
	static const char *const extra[] = {"z.partner.example",
					    "PARTNER.EXAMPLE", "q.other.example",
					    "b.A.partner.example."};
	char addr[128], with[1200], without[1200], fmt_text[16];
	const void *val;
	size_t li, di, vlen;
	unsigned fmt;

	snprintf(fmt_text, sizeof(fmt_text), "%d", ADDR_INDEX_FORMAT);
	for (li = 0; li < 5; li++) {
		for (di = 0; di < 10; di++) {
			snprintf(addr, sizeof(addr), "%s@%s", locals[li],
				 di < 6 ? domains[di] : extra[di - 6]);
			assert_int_equal(addr_index_ready(txn), 1);
			answer(txn, addr, with, sizeof(with));
			/* Format 1: the walk over every record. */
			assert_int_equal(gw_txn_get(txn, GW_DB_META,
						    ADDR_INDEX_META_KEY,
						    strlen(ADDR_INDEX_META_KEY),
						    &val, &vlen),
					 0);
			assert_int_equal(gw_txn_del(txn, GW_DB_META,
						    ADDR_INDEX_META_KEY,
						    strlen(ADDR_INDEX_META_KEY)),
					 0);
			assert_int_equal(addr_index_format(txn, &fmt), 0);
			assert_int_equal(fmt, 1);
			answer(txn, addr, without, sizeof(without));
			assert_int_equal(gw_txn_put(txn, GW_DB_META,
						    ADDR_INDEX_META_KEY,
						    strlen(ADDR_INDEX_META_KEY),
						    fmt_text, strlen(fmt_text), 0),
					 0);
			if (strcmp(with, without) != 0)
				fail_msg("%s: index '%s', walk '%s'", addr,
					 with, without);
		}
	}
}

static void
test_same_answers(void **state)
{
	struct gw_store *st = new_store();
	struct gw_txn *txn = NULL;
	char san[512], name[32], hsan[600];
	const char *subj;
	X509 *x;
	int i, mode;

	(void)state;
	srand(10);
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	for (i = 0; i < 120; i++) {
		random_san(san, sizeof(san), &subj);
		/* Some expired, some not yet valid: the detail lists them. */
		x = cert(san[0] ? san : NULL, subj,
			 i % 7 == 0 ? -400 : i % 11 == 0 ? 10 : -1 - i % 5, 365);
		if (i % 3 == 0) {
			snprintf(hsan, sizeof(hsan), "h%d@harvest.example", i);
			put_harvested(txn, x, hsan);
		} else {
			snprintf(name, sizeof(name), "k%03d", i);
			put_key(txn, name, x);
		}
		X509_free(x);
	}
	agree(txn);
	for (mode = 0; mode < 2; mode++) {
		addr_rule_set_local_part(mode ? ADDR_LOCAL_EXACT
					      : ADDR_LOCAL_INSENSITIVE);
		compare_all(txn);
	}
	addr_rule_set_local_part(ADDR_LOCAL_INSENSITIVE);
	gw_txn_abort(txn);
	gw_store_close(st);
}

/* ---- upgrade ------------------------------------------------------------ */

static void
test_upgrade_on_first_write(void **state)
{
	struct gw_store *st = new_store();
	struct gw_txn *txn = NULL;
	X509 *a, *b;
	char got[1200];
	unsigned fmt;

	(void)state;
	a = cert("email:alice@partner.example", NULL, -1, 365);
	b = cert("email:bob@partner.example", NULL, -1, 365);
	/* A store as a version without indexes left it. */
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	put_key(txn, "alice", a);
	put_harvested(txn, b, "bob@partner.example");
	assert_int_equal(gw_txn_clear(txn, GW_DB_PUBKEYS_IX), 0);
	assert_int_equal(gw_txn_clear(txn, GW_DB_HARVESTED_IX), 0);
	assert_int_equal(gw_txn_del(txn, GW_DB_META, ADDR_INDEX_META_KEY,
				    strlen(ADDR_INDEX_META_KEY)),
			 0);
	assert_int_equal(gw_txn_commit(txn), 0);
	assert_int_equal(gw_txn_begin(st, GW_TXN_READ, &txn), 0);
	assert_int_equal(addr_index_format(txn, &fmt), 0);
	assert_int_equal(fmt, 1);
	agree(txn);
	answer(txn, "alice@partner.example", got, sizeof(got));
	assert_string_equal(got, "alice 1 alice@partner.example 0");
	answer(txn, "bob@partner.example", got, sizeof(got));
	assert_non_null(strstr(got, " 1 bob@partner.example 1"));
	gw_txn_abort(txn);
	/* The first write indexes everything. */
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	assert_int_equal(keystore_del(txn, "alice"), 0);
	assert_int_equal(addr_index_format(txn, &fmt), 0);
	assert_int_equal(fmt, ADDR_INDEX_FORMAT);
	assert_int_equal(count(txn, GW_DB_PUBKEYS_IX), 0);
	/* e:bob@partner.example, s:bob@partner.example, its fingerprint
	 * (f:), issuer and serial (i:), subject (n:) and LRU time (u:);
	 * no subject key identifier (k:) in these certificates */
	assert_int_equal(count(txn, GW_DB_HARVESTED_IX), 6);
	agree(txn);
	answer(txn, "bob@partner.example", got, sizeof(got));
	assert_non_null(strstr(got, " 1 bob@partner.example 1"));
	assert_int_equal(gw_txn_commit(txn), 0);
	gw_store_close(st);
	X509_free(a);
	X509_free(b);
}

/* ---- check -------------------------------------------------------------- */

static void
expect_disagree(struct gw_txn *txn, const char *what)
{
	gw_err_clear();
	assert_int_equal(addr_index_check(txn), GW_ERR_STORE);
	assert_substr(gw_err_detail(), what);
	gw_err_clear();
}

static void
test_check_finds_disagreement(void **state)
{
	struct gw_store *st = new_store();
	struct gw_txn *txn = NULL;
	static const char missing[] = "e:alice@partner.example\0alice";
	static const char dangling[] = "e:zed@partner.example\0zed";
	static const char extra[] = "d:other.example\0alice";
	X509 *a;

	(void)state;
	a = cert("email:alice@partner.example", NULL, -1, 365);
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	put_key(txn, "alice", a);
	agree(txn);
	assert_int_equal(gw_txn_del(txn, GW_DB_PUBKEYS_IX, missing,
				    sizeof(missing) - 1),
			 0);
	expect_disagree(txn, "record 'alice' is not indexed under "
			     "'e:alice@partner.example'");
	assert_int_equal(gw_txn_put(txn, GW_DB_PUBKEYS_IX, missing,
				    sizeof(missing) - 1, "", 0, 0),
			 0);
	agree(txn);
	assert_int_equal(gw_txn_put(txn, GW_DB_PUBKEYS_IX, dangling,
				    sizeof(dangling) - 1, "", 0, 0),
			 0);
	expect_disagree(txn, "names record 'zed', which 'pubkeys' does not "
			     "hold");
	assert_int_equal(gw_txn_del(txn, GW_DB_PUBKEYS_IX, dangling,
				    sizeof(dangling) - 1),
			 0);
	assert_int_equal(gw_txn_put(txn, GW_DB_PUBKEYS_IX, extra,
				    sizeof(extra) - 1, "", 0, 0),
			 0);
	/* e:, f:, i:, n: (the certificate has no subject key identifier) */
	expect_disagree(txn, "database 'pubkeys-ix': 5 entries, the records "
			     "of 'pubkeys' call for 4");
	gw_txn_abort(txn);
	gw_store_close(st);
	X509_free(a);
}

/* ---- certificate names -------------------------------------------------- */

/* The record keys under name in ixdb, space-separated ("" for none). */
static void
hits_of(struct gw_txn *txn, const char *ixdb, const char *name, char *buf,
	size_t size)
{
	struct addr_index_hits h;
	size_t i, o = 0;

	assert_int_equal(addr_index_find_name(txn, ixdb, name, &h), 0);
	buf[0] = '\0';
	for (i = 0; i < h.n && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%.16s",
				      i ? " " : "", h.key[i]);
	addr_index_hits_free(&h);
}

static void
names_for(X509 *x, char *isn, char *ski, char *subj, char *fp)
{
	unsigned char md[32];
	size_t i;

	assert_int_equal(addr_index_name_issuer(X509_get_issuer_name(x),
						X509_get0_serialNumber(x), isn,
						ADDR_INDEX_MAX + 1),
			 0);
	if (X509_get0_subject_key_id(x) != NULL)
		assert_int_equal(addr_index_name_ski(X509_get0_subject_key_id(x),
						     ski, ADDR_INDEX_MAX + 1),
				 0);
	else
		ski[0] = '\0';
	assert_int_equal(addr_index_name_subject(X509_get_subject_name(x),
						 subj, ADDR_INDEX_MAX + 1),
			 0);
	assert_true(X509_digest(x, EVP_sha256(), md, NULL));
	fp[0] = 'f';
	fp[1] = ':';
	for (i = 0; i < 32; i++)
		snprintf(fp + 2 + 2 * i, 3, "%02x", md[i]);
}

static void
test_cert_names(void **state)
{
	struct gw_store *st = new_store();
	struct gw_txn *txn = NULL;
	char isn[4][ADDR_INDEX_MAX + 1], ski[4][ADDR_INDEX_MAX + 1];
	char subj[4][ADDR_INDEX_MAX + 1], fp[4][ADDR_INDEX_MAX + 1];
	char got[256], hid[HARVEST_ID_LEN + 1];
	X509 *x[4];
	int i;

	(void)state;
	x[0] = cert("email:a@partner.example", NULL, -1, 365);
	assert_true(unit_add_ext(x[0], x[0], NID_subject_key_identifier,
				 "hash"));
	assert_true(X509_sign(x[0], key, EVP_sha256()) > 0);
	x[1] = cert("email:b@partner.example", NULL, -1, 365);
	x[2] = cert("email:c@partner.example", "c@partner.example", -1, 365);
	assert_true(unit_add_ext(x[2], x[2], NID_subject_key_identifier,
				 "0102030405"));
	assert_true(X509_sign(x[2], key, EVP_sha256()) > 0);
	x[3] = cert("email:h@harvest.example", NULL, -1, 365);
	for (i = 0; i < 4; i++)
		names_for(x[i], isn[i], ski[i], subj[i], fp[i]);
	assert_non_null(strstr(isn[0], "i:"));
	assert_int_equal(strlen(fp[0]), 66);
	assert_string_equal(ski[2], "k:0102030405");
	assert_string_equal(ski[1], "");
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	put_key(txn, "a", x[0]);
	put_key(txn, "b", x[1]);
	put_harvested(txn, x[3], "h@harvest.example");
	assert_int_equal(fpid_of(x[3], hid), 0);
	agree(txn);
	hits_of(txn, GW_DB_PUBKEYS_IX, isn[0], got, sizeof(got));
	assert_string_equal(got, "a");
	hits_of(txn, GW_DB_PUBKEYS_IX, isn[1], got, sizeof(got));
	assert_string_equal(got, "b");
	hits_of(txn, GW_DB_PUBKEYS_IX, ski[0], got, sizeof(got));
	assert_string_equal(got, "a");
	hits_of(txn, GW_DB_PUBKEYS_IX, fp[1], got, sizeof(got));
	assert_string_equal(got, "b");
	/* Both have the subject CN=p. */
	hits_of(txn, GW_DB_PUBKEYS_IX, subj[0], got, sizeof(got));
	assert_string_equal(got, "a b");
	/* The harvested key is in its own index only. */
	hits_of(txn, GW_DB_PUBKEYS_IX, isn[3], got, sizeof(got));
	assert_string_equal(got, "");
	hits_of(txn, GW_DB_HARVESTED_IX, isn[3], got, sizeof(got));
	assert_memory_equal(got, hid, 16);
	hits_of(txn, GW_DB_HARVESTED_IX, fp[3], got, sizeof(got));
	assert_memory_equal(got, hid, 16);
	/* Replace a's certificate: its old names go, the new ones come. */
	put_key(txn, "a", x[2]);
	agree(txn);
	hits_of(txn, GW_DB_PUBKEYS_IX, isn[0], got, sizeof(got));
	assert_string_equal(got, "");
	hits_of(txn, GW_DB_PUBKEYS_IX, ski[0], got, sizeof(got));
	assert_string_equal(got, "");
	hits_of(txn, GW_DB_PUBKEYS_IX, isn[2], got, sizeof(got));
	assert_string_equal(got, "a");
	hits_of(txn, GW_DB_PUBKEYS_IX, ski[2], got, sizeof(got));
	assert_string_equal(got, "a");
	hits_of(txn, GW_DB_PUBKEYS_IX, subj[2], got, sizeof(got));
	assert_string_equal(got, "a");
	hits_of(txn, GW_DB_PUBKEYS_IX, subj[1], got, sizeof(got));
	assert_string_equal(got, "b");
	/* Delete. */
	assert_int_equal(keystore_del(txn, "b"), 0);
	assert_int_equal(harvested_del(txn, hid), 0);
	agree(txn);
	hits_of(txn, GW_DB_PUBKEYS_IX, isn[1], got, sizeof(got));
	assert_string_equal(got, "");
	hits_of(txn, GW_DB_HARVESTED_IX, isn[3], got, sizeof(got));
	assert_string_equal(got, "");
	assert_int_equal(count(txn, GW_DB_HARVESTED_IX), 0);
	gw_txn_abort(txn);
	gw_store_close(st);
	for (i = 0; i < 4; i++)
		X509_free(x[i]);
}

/* ---- LRU order ---------------------------------------------------------- */

/* The least recently used key as a scan of every record finds it. */
struct lru_scan {
	uint64_t when;
	char id[HARVEST_ID_LEN + 1];
	const char *exclude;
};

static int
lru_scan_one(void *arg, const struct harvested_key *k)
{
	struct lru_scan *c = arg;
	uint64_t w = harvested_lru_time(k);

	if (c->exclude != NULL && strcmp(c->exclude, k->id) == 0)
		return 0;
	if (c->id[0] == '\0' || w < c->when) {
		c->when = w;
		memcpy(c->id, k->id, sizeof(c->id));
	}
	return 0;
}

static void
lru_same(struct gw_txn *txn, const char *exclude)
{
	struct lru_scan c;
	char id[HARVEST_ID_LEN + 1];

	memset(&c, 0, sizeof(c));
	c.exclude = exclude;
	assert_int_equal(harvested_foreach(txn, lru_scan_one, &c), 0);
	assert_int_equal(addr_index_lru_oldest(txn, exclude, id), 1);
	assert_string_equal(id, c.id);
}

static void
test_lru_order(void **state)
{
	struct gw_store *st = new_store();
	struct gw_txn *txn = NULL;
	struct harvested_key k;
	char addr[64], id[6][HARVEST_ID_LEN + 1], got[HARVEST_ID_LEN + 1];
	X509 *x[6];
	int i;

	(void)state;
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	assert_int_equal(addr_index_upgrade(txn), 0);
	assert_int_equal(addr_index_lru_oldest(txn, NULL, got), 0);
	for (i = 0; i < 6; i++) {
		snprintf(addr, sizeof(addr), "email:l%d@harvest.example", i);
		x[i] = cert(addr, NULL, -1, 365);
		memset(&k, 0, sizeof(k));
		k.cert = x[i];
		assert_int_equal(fpid_of(x[i], k.id), 0);
		memcpy(id[i], k.id, sizeof(id[i]));
		k.address = addr + 6;
		k.message_id = (char *)"<m@x.example>";
		k.sender = addr + 6;
		k.verification = (char *)"pass";
		/* Seen in the order 3 1 5 0 4 2; 0 and 4 at the same time. */
		k.first_seen = k.last_seen =
		    (uint64_t)T0 + (uint64_t)"314052"[i] * 10;
		k.seen_count = 1;
		assert_int_equal(harvested_put(txn, &k), 0);
	}
	agree(txn);
	lru_same(txn, NULL);
	lru_same(txn, id[0]);
	/* Used: it goes to the back of the order. */
	assert_int_equal(addr_index_lru_oldest(txn, NULL, got), 1);
	assert_int_equal(harvest_touch(txn, got, T0 + 5000), 0);
	agree(txn);
	lru_same(txn, NULL);
	assert_int_equal(addr_index_lru_oldest(txn, NULL, got), 1);
	assert_int_equal(harvest_touch(txn, got, T0 + 6000), 0);
	lru_same(txn, NULL);
	lru_same(txn, got);
	/* A record written again with an older time moves forward. */
	assert_int_equal(harvest_touch(txn, id[2], T0 + 1), 0);
	agree(txn);
	assert_int_equal(addr_index_lru_oldest(txn, NULL, got), 1);
	assert_string_equal(got, id[2]);
	lru_same(txn, id[2]);
	gw_txn_abort(txn);
	gw_store_close(st);
	for (i = 0; i < 6; i++)
		X509_free(x[i]);
}

/* ---- format 2 ----------------------------------------------------------- */

/* Deletes the entries of db whose names start with one of kinds. */
struct strip_ctx {
	const char *kinds;
	size_t n;
	char (*key)[IX_TEST_KEY_MAX];
	size_t *len;
};

static int
strip_one(void *arg, const void *k0, size_t klen, const void *val,
	  size_t vlen)
{
	struct strip_ctx *c = arg;
	const char *k = k0;

	(void)val;
	(void)vlen;
	if (klen < 2 || k[1] != ':' || strchr(c->kinds, k[0]) == NULL)
		return 0;
	assert_true(c->n < 64 && klen <= IX_TEST_KEY_MAX);
	memcpy(c->key[c->n], k0, klen);
	c->len[c->n++] = klen;
	return 0;
}

static void
strip(struct gw_txn *txn, const char *db, const char *kinds)
{
	char keys[64][IX_TEST_KEY_MAX];
	size_t len[64], i;
	struct strip_ctx c = {kinds, 0, keys, len};

	assert_int_equal(gw_txn_foreach(txn, db, strip_one, &c), 0);
	for (i = 0; i < c.n; i++)
		assert_int_equal(gw_txn_del(txn, db, keys[i], len[i]), 0);
}

static void
test_upgrade_from_format_2(void **state)
{
	struct gw_store *st = new_store();
	struct gw_txn *txn = NULL;
	X509 *a, *b, *c;
	char got[1200], isn[ADDR_INDEX_MAX + 1];
	unsigned fmt;

	(void)state;
	a = cert("email:alice@partner.example", NULL, -1, 365);
	b = cert("email:bob@partner.example", NULL, -1, 365);
	c = cert("email:carol@partner.example", NULL, -1, 365);
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	put_key(txn, "alice", a);
	put_harvested(txn, b, "bob@partner.example");
	/* A store as the version with address indexes only left it. */
	strip(txn, GW_DB_PUBKEYS_IX, "fink");
	strip(txn, GW_DB_HARVESTED_IX, "finku");
	assert_int_equal(gw_txn_put(txn, GW_DB_META, ADDR_INDEX_META_KEY,
				    strlen(ADDR_INDEX_META_KEY), "2", 1, 0),
			 0);
	assert_int_equal(count(txn, GW_DB_PUBKEYS_IX), 1);
	assert_int_equal(count(txn, GW_DB_HARVESTED_IX), 2);
	assert_int_equal(addr_index_ready(txn), 1);
	assert_int_equal(addr_index_ready_ids(txn), 0);
	/* Checked as format 2, looked up through its address names. */
	agree(txn);
	answer(txn, "alice@partner.example", got, sizeof(got));
	assert_string_equal(got, "alice 1 alice@partner.example 0");
	answer(txn, "bob@partner.example", got, sizeof(got));
	assert_non_null(strstr(got, " 1 bob@partner.example 1"));
	/* The first write builds the rest. */
	put_key(txn, "carol", c);
	assert_int_equal(addr_index_format(txn, &fmt), 0);
	assert_int_equal(fmt, ADDR_INDEX_FORMAT);
	assert_int_equal(addr_index_ready_ids(txn), 1);
	agree(txn);
	assert_int_equal(count(txn, GW_DB_PUBKEYS_IX), 8);
	assert_int_equal(count(txn, GW_DB_HARVESTED_IX), 6);
	assert_int_equal(addr_index_name_issuer(X509_get_issuer_name(a),
						X509_get0_serialNumber(a), isn,
						sizeof(isn)),
			 0);
	hits_of(txn, GW_DB_PUBKEYS_IX, isn, got, sizeof(got));
	assert_string_equal(got, "alice");
	gw_txn_abort(txn);
	gw_store_close(st);
	X509_free(a);
	X509_free(b);
	X509_free(c);
}

/* ---- broken certificate and LRU entries --------------------------------- */

static void
test_check_finds_broken_names(void **state)
{
	struct gw_store *st = new_store();
	struct gw_txn *txn = NULL;
	char fp[ADDR_INDEX_MAX + 1], isn[ADDR_INDEX_MAX + 1];
	char ski[ADDR_INDEX_MAX + 1], subj[ADDR_INDEX_MAX + 1];
	char ik[IX_TEST_KEY_MAX], hid[HARVEST_ID_LEN + 1], want[160];
	size_t len;
	X509 *a, *h;

	(void)state;
	a = cert("email:alice@partner.example", NULL, -1, 365);
	h = cert("email:h@harvest.example", NULL, -1, 365);
	names_for(a, isn, ski, subj, fp);
	assert_int_equal(fpid_of(h, hid), 0);
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	put_key(txn, "alice", a);
	put_harvested(txn, h, "h@harvest.example");
	agree(txn);
	/* A missing fingerprint entry. */
	len = (size_t)snprintf(ik, sizeof(ik), "%s", fp) + 1;
	memcpy(ik + len, "alice", 5);
	len += 5;
	assert_int_equal(gw_txn_del(txn, GW_DB_PUBKEYS_IX, ik, len), 0);
	snprintf(want, sizeof(want), "record 'alice' is not indexed under "
				     "'%.40s",
		 fp);
	expect_disagree(txn, want);
	assert_int_equal(gw_txn_put(txn, GW_DB_PUBKEYS_IX, ik, len, "", 0, 0),
			 0);
	agree(txn);
	/* A missing issuer-and-serial entry. */
	len = (size_t)snprintf(ik, sizeof(ik), "%s", isn) + 1;
	memcpy(ik + len, "alice", 5);
	len += 5;
	assert_int_equal(gw_txn_del(txn, GW_DB_PUBKEYS_IX, ik, len), 0);
	expect_disagree(txn, "is not indexed under 'i:");
	assert_int_equal(gw_txn_put(txn, GW_DB_PUBKEYS_IX, ik, len, "", 0, 0),
			 0);
	agree(txn);
	/* The LRU entry left at another time than the record's. */
	len = (size_t)snprintf(ik, sizeof(ik), "u:%016llx",
			       (unsigned long long)T0) + 1;
	memcpy(ik + len, hid, HARVEST_ID_LEN);
	len += HARVEST_ID_LEN;
	assert_int_equal(gw_txn_del(txn, GW_DB_HARVESTED_IX, ik, len), 0);
	ik[len - HARVEST_ID_LEN - 2] ^= 1;
	assert_int_equal(gw_txn_put(txn, GW_DB_HARVESTED_IX, ik, len, "", 0,
				    0),
			 0);
	expect_disagree(txn, "is not indexed under 'u:");
	gw_txn_abort(txn);
	gw_store_close(st);
	X509_free(a);
	X509_free(h);
}

/* ---- identities --------------------------------------------------------- */

static void
test_identity_index(void **state)
{
	struct gw_store *st = new_store();
	struct gw_txn *txn = NULL;
	struct identity id;
	char isn[3][ADDR_INDEX_MAX + 1], ski[3][ADDR_INDEX_MAX + 1];
	char subj[ADDR_INDEX_MAX + 1], fp[ADDR_INDEX_MAX + 1], got[256];
	char ik[IX_TEST_KEY_MAX];
	size_t len;
	X509 *x[3];
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		x[i] = cert("email:gw@corp.example", NULL, -1, 365);
		if (i != 1) {
			assert_true(unit_add_ext(x[i], x[i],
						 NID_subject_key_identifier,
						 i == 0 ? "aa01" : "aa02"));
			assert_true(X509_sign(x[i], key, EVP_sha256()) > 0);
		}
		names_for(x[i], isn[i], ski[i], subj, fp);
	}
	memset(&id, 0, sizeof(id));
	id.name = (char *)"gw";
	id.key_uri = (char *)"pkcs11:object=gw";
	id.cert = x[0];
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	assert_int_equal(addr_index_upgrade(txn), 0);
	assert_int_equal(identity_put(txn, &id, GW_PUT_NOOVERWRITE), 0);
	agree(txn);
	hits_of(txn, GW_DB_IDENTITIES_IX, isn[0], got, sizeof(got));
	assert_string_equal(got, "gw");
	hits_of(txn, GW_DB_IDENTITIES_IX, ski[0], got, sizeof(got));
	assert_string_equal(got, "gw");
	/* A new certificate; the old one stays findable as a previous.
	 * id holds references of its own from here. */
	assert_true(X509_up_ref(x[0]));
	assert_true(X509_up_ref(x[1]));
	assert_int_equal(identity_set_cert(&id, x[1]), 0);
	assert_int_equal(identity_put(txn, &id, 0), 0);
	agree(txn);
	hits_of(txn, GW_DB_IDENTITIES_IX, isn[1], got, sizeof(got));
	assert_string_equal(got, "gw");
	hits_of(txn, GW_DB_IDENTITIES_IX, isn[0], got, sizeof(got));
	assert_string_equal(got, "gw");
	hits_of(txn, GW_DB_IDENTITIES_IX, isn[2], got, sizeof(got));
	assert_string_equal(got, "");
	/* Its previous certificates forgotten: only the current one. */
	sk_X509_pop_free(id.previous, X509_free);
	id.previous = NULL;
	assert_int_equal(identity_put(txn, &id, 0), 0);
	agree(txn);
	hits_of(txn, GW_DB_IDENTITIES_IX, isn[0], got, sizeof(got));
	assert_string_equal(got, "");
	hits_of(txn, GW_DB_IDENTITIES_IX, ski[0], got, sizeof(got));
	assert_string_equal(got, "");
	/* n: and i: of the current one (it has no key identifier) */
	assert_int_equal(count(txn, GW_DB_IDENTITIES_IX), 2);
	/* A missing entry is named. */
	len = (size_t)snprintf(ik, sizeof(ik), "%s", isn[1]) + 1;
	memcpy(ik + len, "gw", 2);
	len += 2;
	assert_int_equal(gw_txn_del(txn, GW_DB_IDENTITIES_IX, ik, len), 0);
	expect_disagree(txn, "identity 'gw' is not indexed under 'i:");
	assert_int_equal(gw_txn_put(txn, GW_DB_IDENTITIES_IX, ik, len, "", 0,
				    0),
			 0);
	agree(txn);
	assert_int_equal(identity_del(txn, "gw"), 0);
	agree(txn);
	assert_int_equal(count(txn, GW_DB_IDENTITIES_IX), 0);
	gw_txn_abort(txn);
	gw_store_close(st);
	X509_free(id.cert);
	for (i = 0; i < 3; i++)
		X509_free(x[i]);
}

/* ---- CAs ---------------------------------------------------------------- */

static int
ca_seen(void *arg, const struct castore_ca *ca)
{
	(void)ca;
	(*(int *)arg)++;
	return 0;
}

static void
test_ca_index(void **state)
{
	struct gw_store *st = new_store();
	struct gw_txn *txn = NULL;
	char id[CASTORE_ID_LEN + 1], name[ADDR_INDEX_MAX + 1];
	char ik[IX_TEST_KEY_MAX];
	X509_NAME *n;
	X509 *ca;
	size_t len;
	int seen;

	(void)state;
	assert_non_null(ca = X509_new());
	assert_true(X509_set_version(ca, 2));
	assert_true(ASN1_INTEGER_set_uint64(X509_get_serialNumber(ca),
					    serial++));
	n = X509_get_subject_name(ca);
	assert_true(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
					       (const unsigned char *)"Test CA",
					       -1, -1, 0));
	assert_true(X509_set_issuer_name(ca, n));
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(ca), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(ca), 86400));
	assert_true(X509_set_pubkey(ca, key));
	assert_true(unit_add_ext(ca, ca, NID_basic_constraints,
				 "critical,CA:TRUE"));
	assert_true(unit_add_ext(ca, ca, NID_key_usage,
				 "critical,keyCertSign,cRLSign"));
	assert_true(X509_sign(ca, key, EVP_sha256()) > 0);
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	assert_int_equal(addr_index_upgrade(txn), 0);
	assert_int_equal(castore_add(txn, ca, T0, id), 0);
	agree(txn);
	seen = 0;
	assert_int_equal(castore_by_subject(txn, n, ca_seen, &seen), 0);
	assert_int_equal(seen, 1);
	/* A missing entry is named. */
	assert_int_equal(castore_index_name(ca, name, sizeof(name)), 0);
	len = (size_t)snprintf(ik, sizeof(ik), "%s", name) + 1;
	memcpy(ik + len, id, CASTORE_ID_LEN);
	len += CASTORE_ID_LEN;
	assert_int_equal(gw_txn_del(txn, GW_DB_CAS_IX, ik, len), 0);
	expect_disagree(txn, "is not indexed under 'n:");
	seen = 0;
	assert_int_equal(castore_by_subject(txn, n, ca_seen, &seen), 0);
	assert_int_equal(seen, 0);
	assert_int_equal(gw_txn_put(txn, GW_DB_CAS_IX, ik, len, "", 0, 0), 0);
	agree(txn);
	assert_int_equal(castore_del(txn, id, NULL), 0);
	agree(txn);
	assert_int_equal(count(txn, GW_DB_CAS_IX), 0);
	seen = 0;
	assert_int_equal(castore_by_subject(txn, n, ca_seen, &seen), 0);
	assert_int_equal(seen, 0);
	gw_txn_abort(txn);
	gw_store_close(st);
	X509_free(ca);
}

/* ---- crash -------------------------------------------------------------- */

static void
test_crash_in_import(void **state)
{
	struct gw_store *st = new_store();
	struct gw_txn *txn = NULL;
	char dir[256], name[32], san[64];
	X509 *x;
	pid_t pid;
	int i, status;

	(void)state;
	snprintf(dir, sizeof(dir), "%s", gw_store_path(st));
	dir[strlen(dir) - strlen("/store")] = '\0';
	x = cert("email:first@partner.example", NULL, -1, 365);
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	put_key(txn, "first", x);
	assert_int_equal(gw_txn_commit(txn), 0);
	X509_free(x);
	gw_store_close(st);
	st = NULL;
	/* A child writes half an import and dies without committing. */
	if ((pid = fork()) == 0) {
		if (gw_store_open(dir, (size_t)64 << 20, &st) != 0 ||
		    gw_txn_begin(st, GW_TXN_WRITE, &txn) != 0)
			_exit(1);
		for (i = 0; i < 200; i++) {
			snprintf(name, sizeof(name), "k%d", i);
			snprintf(san, sizeof(san), "email:u%d@partner.example",
				 i);
			x = cert(san, NULL, -1, 365);
			put_key(txn, name, x);
			X509_free(x);
		}
		assert_int_equal(keystore_del(txn, "first"), 0);
		_exit(9);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 9);
	assert_int_equal(gw_store_open(dir, (size_t)64 << 20, &st), 0);
	assert_int_equal(gw_txn_begin(st, GW_TXN_READ, &txn), 0);
	assert_int_equal(count(txn, GW_DB_PUBKEYS), 1);
	/* e:, f:, i:, n: of "first" */
	assert_int_equal(count(txn, GW_DB_PUBKEYS_IX), 4);
	agree(txn);
	gw_txn_abort(txn);
	gw_store_close(st);
}

/* ---- walked ------------------------------------------------------------- */

/* 1 when store/walked names data.mdb's size, inode and mtime now. */
static int
walked_names_file(const char *store)
{
	unsigned long long dev, ino, size, ms, mns;
	char path[300], line[256];
	struct stat sb;
	FILE *fp;
	int ok;

	snprintf(path, sizeof(path), "%s/data.mdb", store);
	assert_int_equal(stat(path, &sb), 0);
	snprintf(path, sizeof(path), "%s/walked", store);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	ok = fgets(line, sizeof(line), fp) != NULL &&
	     sscanf(line, "%llu %llu %llu %llu.%llu", &dev, &ino, &size, &ms,
		    &mns) == 5 &&
	     ino == (unsigned long long)sb.st_ino &&
	     size == (unsigned long long)sb.st_size &&
	     ms == (unsigned long long)sb.st_mtim.tv_sec &&
	     mns == (unsigned long long)sb.st_mtim.tv_nsec;
	fclose(fp);
	return ok;
}

static void
test_walked_follows_commits(void **state)
{
	struct gw_store *st = new_store();
	struct gw_txn *txn = NULL;
	char dir[256], store[256], file[300];
	struct timespec ts[2];
	X509 *a, *b;

	(void)state;
	snprintf(store, sizeof(store), "%s", gw_store_path(st));
	snprintf(dir, sizeof(dir), "%s", store);
	dir[strlen(dir) - strlen("/store")] = '\0';
	snprintf(file, sizeof(file), "%s/data.mdb", store);
	a = cert("email:a@partner.example", NULL, -1, 365);
	b = cert("email:b@partner.example", NULL, -1, 365);
	assert_true(walked_names_file(store));
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	put_key(txn, "a", a);
	assert_int_equal(gw_txn_commit(txn), 0);
	assert_true(walked_names_file(store));
	/* The file changed behind the store's back (its times here). */
	ts[0].tv_sec = ts[1].tv_sec = T0;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, file, ts, 0), 0);
	assert_false(walked_names_file(store));
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	put_key(txn, "b", b);
	assert_int_equal(gw_txn_commit(txn), 0);
	assert_false(walked_names_file(store));
	gw_store_close(st);
	/* The next open walks it, finds it sound and names it. */
	assert_int_equal(gw_store_open_ex(dir, (size_t)64 << 20, 0, &st), 0);
	assert_true(walked_names_file(store));
	gw_store_close(st);
	X509_free(a);
	X509_free(b);
}

static int
group_setup(void **state)
{
	(void)state;
	if (unit_tmpdir(tmpdir, sizeof(tmpdir), "test_store_index") != 0)
		return -1;
	return (key = EVP_EC_gen("P-256")) == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(key);
	return unit_rmtree(tmpdir) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_agree_after_changes),
	    cmocka_unit_test(test_same_answers),
	    cmocka_unit_test(test_upgrade_on_first_write),
	    cmocka_unit_test(test_check_finds_disagreement),
	    cmocka_unit_test(test_cert_names),
	    cmocka_unit_test(test_lru_order),
	    cmocka_unit_test(test_upgrade_from_format_2),
	    cmocka_unit_test(test_check_finds_broken_names),
	    cmocka_unit_test(test_identity_index),
	    cmocka_unit_test(test_ca_index),
	    cmocka_unit_test(test_crash_in_import),
	    cmocka_unit_test(test_walked_follows_commits),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
