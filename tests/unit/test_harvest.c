/*
 * test_harvest.c - named cases for gateway/harvest.c, alerts.c and the
 * lookup over harvested keys (lookup_harvested()).
 *
 * Each case opens a fresh LMDB store in its own directory under one
 * mkdtemp directory.  Certificates are made here with the OpenSSL API:
 * one EC P-256 CA issues end-entity certificates (keyUsage
 * digitalSignature + keyAgreement, EKU emailProtection unless a case
 * says otherwise, the SAN it asks for) with validity given relative to
 * the fixed clock T0, which every call receives as now.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_util.h"

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "alerts.h"
#include "gw_err.h"
#include "gw_store.h"
#include "harvest.h"
#include "keystore.h"
#include "lookup.h"
#include "unit_x509.h"

#define T0 ((time_t)1750000000) /* 2025-06-15 15:06:40 UTC */
#define DAY (24 * 3600)
#define ENC_KU "critical,digitalSignature,keyAgreement"

static char tmpdir[64];
static unsigned case_no;
static EVP_PKEY *ca_key, *ee_key;
static X509 *ca_cert;
static long serial = 1;

/* ---- certificates ------------------------------------------------------- */

struct spec {
	const char *san;	/* "email:a@b" or "DNS:b" */
	long nb, na;		/* validity, seconds from T0 */
	const char *ku;		/* NULL: ENC_KU */
	const char *eku;	/* NULL: emailProtection */
	int self;		/* self-signed */
};

static X509 *
make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
	  long nb, long na)
{
	X509 *x;
	X509_NAME *n;

	assert_non_null(x = X509_new());
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), 0, nb,
					 &(time_t){T0}));
	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 0, na,
					 &(time_t){T0}));
	assert_non_null(n = X509_NAME_new());
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_NAME_free(n);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	(void)ikey;
	return x;
}

static X509 *
cert(const struct spec *s)
{
	X509 *x, *issuer;
	EVP_PKEY *ikey;

	x = make_cert(s->san, ee_key, s->self ? NULL : ca_cert,
		      s->self ? ee_key : ca_key, s->nb, s->na);
	issuer = s->self ? x : ca_cert;
	ikey = s->self ? ee_key : ca_key;
	assert_true(unit_add_ext(x, issuer, NID_basic_constraints,
				 "critical,CA:FALSE"));
	assert_true(unit_add_ext(x, issuer, NID_key_usage,
				 s->ku ? s->ku : ENC_KU));
	assert_true(unit_add_ext(x, issuer, NID_ext_key_usage,
				 s->eku ? s->eku : "emailProtection"));
	assert_true(unit_add_ext(x, issuer, NID_subject_alt_name, s->san));
	assert_true(X509_sign(x, ikey, EVP_sha256()) > 0);
	return x;
}

/* A valid certificate for san, made newer by age seconds (nb = -age). */
static X509 *
cert_for(const char *san, long age)
{
	struct spec s = {san, -age, 365L * DAY, NULL, NULL, 0};

	return cert(&s);
}

static void
id_of(X509 *x, char id[HARVEST_ID_LEN + 1])
{
	unsigned char md[32];
	unsigned int n = 0, i;

	assert_true(X509_digest(x, EVP_sha256(), md, &n));
	for (i = 0; i < n; i++)
		snprintf(id + 2 * i, 3, "%02x", md[i]);
}

static int
group_setup(void **state)
{
	(void)state;
	if (unit_tmpdir(tmpdir, sizeof(tmpdir), "test_harvest") != 0)
		return -1;
	if ((ca_key = EVP_EC_gen("P-256")) == NULL ||
	    (ee_key = EVP_EC_gen("P-256")) == NULL)
		return -1;
	ca_cert = make_cert("Test CA", ca_key, NULL, ca_key, -1000L * DAY,
			    3650L * DAY);
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
	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(ee_key);
	return unit_rmtree(tmpdir) == 0 ? 0 : -1;
}

/* ---- fixture: a fresh store per case ------------------------------------ */

struct fx {
	struct gw_store *st;
	struct gw_txn *txn; /* an open write transaction */
	struct harvest_opts o;
	struct harvest_report rep;
};

static int
case_setup(void **state)
{
	struct fx *f;
	char dir[128];

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	snprintf(dir, sizeof(dir), "%s/c%u", tmpdir, ++case_no);
	gw_err_clear();
	if (gw_store_open(dir, (size_t)64 << 20, &f->st) != 0 ||
	    gw_txn_begin(f->st, GW_TXN_WRITE, &f->txn) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
case_teardown(void **state)
{
	struct fx *f = *state;

	gw_txn_abort(f->txn);
	gw_store_close(f->st);
	free(f);
	return 0;
}

/* Harvests the certificates (borrowed) as the signers of one message
 * and returns the report's first outcome. */
static const struct harvest_outcome *
harvest(struct fx *f, time_t now, int verified, const char *sender,
	const char *msgid, X509 *a, X509 *b)
{
	struct harvest_msg m;
	STACK_OF(X509) *sk;

	assert_non_null(sk = sk_X509_new_null());
	sk_X509_push(sk, a);
	if (b != NULL)
		sk_X509_push(sk, b);
	memset(&m, 0, sizeof(m));
	m.signers = sk;
	m.verified = verified;
	m.sender = sender;
	m.message_id = msgid;
	assert_int_equal(harvest_message(f->txn, &m, &f->o, now, &f->rep), 0);
	sk_X509_free(sk);
	assert_true(f->rep.n >= 1);
	return &f->rep.o[0];
}

static int
count_one(void *arg, const struct harvested_key *k)
{
	(*(size_t *)arg)++;
	return 0;
}

static size_t
stored(struct fx *f)
{
	size_t n = 0;

	assert_int_equal(harvested_foreach(f->txn, count_one, &n), 0);
	return n;
}

static struct harvested_key *
get(struct fx *f, const char *ref)
{
	struct harvested_key *k = NULL;

	assert_int_equal(harvested_get(f->txn, ref, &k), 0);
	return k;
}

static int
alert_one(void *arg, const struct alert *a)
{
	char *buf = arg;
	size_t len = strlen(buf);

	snprintf(buf + len, 4096 - len, "%s|%s|%s|%s\n", a->kind,
		 a->domain ? a->domain : "", a->message_id ? a->message_id : "",
		 a->text);
	return 0;
}

/* The stored alerts as "kind|domain|msgid|text" lines. */
static const char *
alerts_text(struct fx *f, char buf[4096])
{
	buf[0] = '\0';
	assert_int_equal(alerts_foreach(f->txn, 0, alert_one, buf), 0);
	return buf;
}

static size_t
nlines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* ---- the rules ----------------------------------------------------------- */

static void
test_verified_only_by_default(void **state)
{
	struct fx *f = *state;
	X509 *x = cert_for("email:a@x.example", DAY);
	const struct harvest_outcome *oc;

	oc = harvest(f, T0, 0, "a@x.example", "<m@x>", x, NULL);
	assert_int_equal(oc->what, HARVEST_SKIPPED);
	assert_substr(oc->reason, "signature did not verify");
	assert_int_equal(stored(f), 0);
	X509_free(x);
}

static void
test_on_failure_harvests(void **state)
{
	struct fx *f = *state;
	X509 *x = cert_for("email:a@x.example", DAY);
	struct harvested_key *k;
	char id[HARVEST_ID_LEN + 1];

	f->o.on_failure = 1;
	assert_int_equal(harvest(f, T0, 0, "a@x.example", "<m@x>", x, NULL)
			     ->what,
			 HARVEST_NEW);
	id_of(x, id);
	k = get(f, id);
	assert_string_equal(k->verification, "fail");
	assert_string_equal(k->address, "a@x.example");
	assert_string_equal(k->message_id, "<m@x>");
	assert_int_equal(k->first_seen, T0);
	assert_int_equal(k->seen_count, 1);
	harvested_key_free(k);
	X509_free(x);
}

static void
test_expired_refused(void **state)
{
	struct fx *f = *state;
	struct spec s = {"email:a@x.example", -30L * DAY, -DAY, 0, 0, 0};
	X509 *x = cert(&s);
	const struct harvest_outcome *oc;

	oc = harvest(f, T0, 1, "a@x.example", "", x, NULL);
	assert_int_equal(oc->what, HARVEST_SKIPPED);
	assert_substr(oc->reason, "expired on 2025-06-14 15:06:40 UTC");
	assert_int_equal(stored(f), 0);
	X509_free(x);
}

static void
test_not_yet_valid_refused(void **state)
{
	struct fx *f = *state;
	struct spec s = {"email:a@x.example", DAY, 30L * DAY, 0, 0, 0};
	X509 *x = cert(&s);

	assert_substr(harvest(f, T0, 1, "a@x.example", "", x, NULL)->reason,
		      "not valid before 2025-06-16 15:06:40 UTC");
	assert_int_equal(stored(f), 0);
	X509_free(x);
}

static void
test_expired_allowed(void **state)
{
	struct fx *f = *state;
	struct spec s = {"email:a@x.example", -30L * DAY, -DAY, 0, 0, 0};
	X509 *x = cert(&s);

	f->o.allow_expired = 1;
	assert_int_equal(harvest(f, T0, 1, "a@x.example", "", x, NULL)->what,
			 HARVEST_NEW);
	assert_int_equal(stored(f), 1);
	X509_free(x);
}

static void
test_self_signed_refused(void **state)
{
	struct fx *f = *state;
	struct spec s = {"email:a@x.example", -DAY, DAY, 0, 0, 1};
	X509 *x = cert(&s);
	const struct harvest_outcome *oc;

	oc = harvest(f, T0, 1, "a@x.example", "", x, NULL);
	assert_int_equal(oc->what, HARVEST_SKIPPED);
	assert_substr(oc->reason, "self-signed certificate");
	assert_int_equal(stored(f), 0);
	X509_free(x);
}

static void
test_self_signed_allowed(void **state)
{
	struct fx *f = *state;
	struct spec s = {"email:a@x.example", -DAY, DAY, 0, 0, 1};
	X509 *x = cert(&s);

	f->o.allow_self_signed = 1;
	assert_int_equal(harvest(f, T0, 1, "a@x.example", "", x, NULL)->what,
			 HARVEST_NEW);
	X509_free(x);
}

static void
test_not_covering_sender_skipped(void **state)
{
	struct fx *f = *state;
	X509 *x = cert_for("email:a@x.example", DAY);
	const struct harvest_outcome *oc;

	oc = harvest(f, T0, 1, "b@x.example", "", x, NULL);
	assert_int_equal(oc->what, HARVEST_SKIPPED);
	assert_string_equal(oc->reason, "does not cover the sender address "
					"b@x.example");
	oc = harvest(f, T0, 1, "", "", x, NULL);
	assert_string_equal(oc->reason, "no usable sender address");
	assert_int_equal(stored(f), 0);
	X509_free(x);
}

static void
test_no_encrypt_skipped(void **state)
{
	struct fx *f = *state;
	struct spec s = {"email:a@x.example", -DAY, DAY,
			 "critical,digitalSignature", 0, 0};
	X509 *x = cert(&s);
	const struct harvest_outcome *oc;

	oc = harvest(f, T0, 1, "a@x.example", "", x, NULL);
	assert_int_equal(oc->what, HARVEST_SKIPPED);
	assert_substr(oc->reason, "cannot encrypt");
	assert_substr(oc->reason, ": verify");
	assert_int_equal(stored(f), 0);
	X509_free(x);
}

static void
test_requirements_skipped_caller_detail_kept(void **state)
{
	struct fx *f = *state;
	struct spec s = {"email:a@x.example", -DAY, DAY, 0, "serverAuth", 0};
	X509 *x = cert(&s);
	const struct harvest_outcome *oc;

	gw_err_set(GW_ERR_CRYPTO, "the caller's detail");
	oc = harvest(f, T0, 1, "a@x.example", "", x, NULL);
	assert_int_equal(oc->what, HARVEST_SKIPPED);
	assert_substr(oc->reason, "partner requirements: extended-key-usage");
	assert_string_equal(gw_err_detail(), "the caller's detail");
	gw_err_clear();
	X509_free(x);
}

static void
test_seen_refreshes(void **state)
{
	struct fx *f = *state;
	X509 *x = cert_for("email:a@x.example", DAY);
	struct harvested_key *k;
	char id[HARVEST_ID_LEN + 1];
	const struct harvest_outcome *oc;

	harvest(f, T0, 1, "a@x.example", "<m1@x>", x, NULL);
	f->o.on_failure = 1;
	oc = harvest(f, T0 + 100, 0, "A@X.example", "<m2@x>", x, NULL);
	assert_int_equal(oc->what, HARVEST_SEEN);
	assert_string_equal(oc->address, "a@x.example");
	id_of(x, id);
	k = get(f, id);
	assert_int_equal(k->first_seen, T0);
	assert_int_equal(k->last_seen, T0 + 100);
	assert_int_equal(k->seen_count, 2);
	assert_string_equal(k->message_id, "<m2@x>");
	assert_string_equal(k->sender, "A@X.example");
	assert_string_equal(k->verification, "fail");
	assert_string_equal(k->address, "a@x.example");
	assert_int_equal(stored(f), 1);
	harvested_key_free(k);
	X509_free(x);
}

static void
test_update_refused_without_updates(void **state)
{
	struct fx *f = *state;
	X509 *a = cert_for("email:a@x.example", 2 * DAY);
	X509 *b = cert_for("email:a@x.example", DAY);
	const struct harvest_outcome *oc;

	harvest(f, T0, 1, "a@x.example", "", a, NULL);
	oc = harvest(f, T0 + 1, 1, "a@x.example", "", b, NULL);
	assert_int_equal(oc->what, HARVEST_SKIPPED);
	assert_substr(oc->reason, "harvesting updated keys is off");
	assert_int_equal(stored(f), 1);
	X509_free(a);
	X509_free(b);
}

static void
test_update_stored_with_updates(void **state)
{
	struct fx *f = *state;
	X509 *a = cert_for("email:a@x.example", 2 * DAY);
	X509 *b = cert_for("email:a@x.example", DAY);
	char ida[HARVEST_ID_LEN + 1], idb[HARVEST_ID_LEN + 1];
	struct harvested_key *k;

	f->o.updates = 1;
	harvest(f, T0, 1, "a@x.example", "", a, NULL);
	assert_int_equal(harvest(f, T0 + 1, 1, "a@x.example", "", b, NULL)
			     ->what,
			 HARVEST_UPDATED);
	id_of(a, ida);
	id_of(b, idb);
	k = get(f, idb);
	assert_true(k->updated);
	assert_string_equal(k->replaces, ida);
	harvested_key_free(k);
	k = get(f, ida); /* the old key is kept */
	assert_false(k->updated);
	assert_null(k->replaces);
	harvested_key_free(k);
	assert_int_equal(f->rep.nalerts, 0);
	X509_free(a);
	X509_free(b);
}

static void
test_one_update_per_message(void **state)
{
	struct fx *f = *state;
	X509 *a = cert_for("email:a@x.example", 3 * DAY);
	X509 *b = cert_for("email:a@x.example", 2 * DAY);
	X509 *c = cert_for("email:a@x.example", DAY);

	f->o.updates = 1;
	harvest(f, T0, 1, "a@x.example", "", a, NULL);
	harvest(f, T0 + 1, 1, "a@x.example", "<m@x>", b, c);
	assert_int_equal(f->rep.n, 2);
	assert_int_equal(f->rep.o[0].what, HARVEST_UPDATED);
	assert_int_equal(f->rep.o[1].what, HARVEST_SKIPPED);
	assert_string_equal(f->rep.o[1].reason,
			    "another signer of this message already updated "
			    "a key (at most one per message)");
	assert_int_equal(stored(f), 2);
	X509_free(a);
	X509_free(b);
	X509_free(c);
}

/* ---- the 48-hour alert ---------------------------------------------------- */

/* One key for each of two addresses, then an update of the first at t1
 * and of the second at t2; returns the alerts stored. */
static const char *
two_updates(struct fx *f, const char *a1, const char *a2, const char *m1,
	    const char *m2, time_t t2, char buf[4096])
{
	char san[128];
	X509 *x[4];
	int i;

	f->o.updates = 1;
	for (i = 0; i < 4; i++) {
		snprintf(san, sizeof(san), "email:%s", i % 2 ? a2 : a1);
		x[i] = cert_for(san, (4 - i) * DAY);
	}
	harvest(f, T0 - 3600, 1, a1, "", x[0], NULL);
	harvest(f, T0 - 3600, 1, a2, "", x[1], NULL);
	assert_int_equal(harvest(f, T0, 1, a1, m1, x[2], NULL)->what,
			 HARVEST_UPDATED);
	assert_int_equal(f->rep.nalerts, 0);
	assert_int_equal(harvest(f, t2, 1, a2, m2, x[3], NULL)->what,
			 HARVEST_UPDATED);
	for (i = 0; i < 4; i++)
		X509_free(x[i]);
	return alerts_text(f, buf);
}

static void
test_alert_none_for_one_update(void **state)
{
	struct fx *f = *state;
	char buf[4096];

	/* Different domains and Message-IDs: two unrelated updates. */
	two_updates(f, "a@x.example", "b@y.example", "<1@x>", "<2@y>",
		    T0 + 60, buf);
	assert_string_equal(buf, "");
	assert_int_equal(f->rep.nalerts, 0);
}

static void
test_alert_same_domain_within_48h(void **state)
{
	struct fx *f = *state;
	char buf[4096];

	two_updates(f, "a@x.example", "b@X.Example", "<1@x>", "<2@x>",
		    T0 + HARVEST_ALERT_WINDOW, buf);
	assert_int_equal(nlines(buf), 1);
	assert_substr(buf, "harvest-updates|x.example|<2@x>|more than one "
			   "updated public key for the same domain within "
			   "48 hours: key ");
	assert_substr(buf, "previous update: key ");
	assert_substr(buf, "for a@x.example at 2025-06-15 15:06:40 UTC "
			   "(Message-ID <1@x>)");
	assert_int_equal(f->rep.nalerts, 1);
	assert_substr(f->rep.alerts[0], "harvest-updates: more than one");
}

static void
test_alert_none_after_48h(void **state)
{
	struct fx *f = *state;
	char buf[4096];

	two_updates(f, "a@x.example", "b@x.example", "<1@x>", "<2@x>",
		    T0 + HARVEST_ALERT_WINDOW + 1, buf);
	assert_string_equal(buf, "");
}

static void
test_alert_same_message_id(void **state)
{
	struct fx *f = *state;
	char buf[4096];

	two_updates(f, "a@x.example", "b@y.example", "<same@z>", "<same@z>",
		    T0 + 3600, buf);
	assert_int_equal(nlines(buf), 1);
	assert_substr(buf, "harvest-updates|y.example|<same@z>|more than one "
			   "updated public key for the same Message-ID within "
			   "48 hours");
}

static char logged[2048];

static void
log_sink(int prio, const char *line)
{
	size_t len = strlen(logged);

	snprintf(logged + len, sizeof(logged) - len, "%d %s\n", prio, line);
}

static void
test_report_log_to_syslog(void **state)
{
	struct fx *f = *state;
	char buf[4096], want[256];

	two_updates(f, "a@x.example", "b@x.example", "<1@x>", "<2@x>",
		    T0 + 60, buf);
	logged[0] = '\0';
	alerts_set_sink(log_sink);
	harvest_report_log(&f->rep);
	alerts_set_sink(NULL);
	/* "<2@x>" differs from "<1@x>": the domain only. */
	snprintf(want, sizeof(want), "%d alert harvest-updates: more than "
				     "one updated public key for the same "
				     "domain within",
		 LOG_MAIL | LOG_WARNING);
	assert_substr(logged, want);
	assert_int_equal(nlines(logged), 1);
}

/* ---- the bound ------------------------------------------------------------- */

static int
sum_one(void *arg, const void *key, size_t klen, const void *val,
	size_t vlen)
{
	*(uint64_t *)arg += klen + vlen;
	return 0;
}

/* The counter equals a recount of the records. */
static void
assert_bytes_consistent(struct fx *f)
{
	uint64_t counted = 0, total = 0;

	assert_int_equal(gw_txn_foreach(f->txn, GW_DB_HARVESTED, sum_one,
					&counted),
			 0);
	assert_int_equal(harvested_bytes(f->txn, &total), 0);
	assert_int_equal(total, counted);
}

static void
test_lru_eviction(void **state)
{
	struct fx *f = *state;
	X509 *x[4];
	char id[4][HARVEST_ID_LEN + 1], san[64], addr[64], buf[4096];
	struct harvested_key *k = NULL;
	uint64_t one = 0;
	int i;

	for (i = 0; i < 4; i++) {
		snprintf(san, sizeof(san), "email:k%d@lru.example", i);
		x[i] = cert_for(san, DAY);
		id_of(x[i], id[i]);
	}
	harvest(f, T0, 1, "k0@lru.example", "<m@x>", x[0], NULL);
	assert_int_equal(harvested_bytes(f->txn, &one), 0);
	assert_true(one > HARVEST_ID_LEN);
	f->o.max_bytes = one * 5 / 2; /* room for two */
	harvest(f, T0 + 10, 1, "k1@lru.example", "<m@x>", x[1], NULL);
	assert_int_equal(f->rep.evicted, 0);
	/* k0 is older by last seen, but a lookup used it last. */
	assert_int_equal(harvest_touch(f->txn, id[0], T0 + 20), 0);
	assert_bytes_consistent(f);
	harvest(f, T0 + 30, 1, "k2@lru.example", "<m@x>", x[2], NULL);
	assert_int_equal(f->rep.o[0].what, HARVEST_NEW);
	assert_int_equal(f->rep.evicted, 1);
	assert_int_equal(harvested_get(f->txn, id[1], &k), GW_ERR_NOT_FOUND);
	gw_err_clear();
	k = get(f, id[0]);
	assert_int_equal(k->last_used, T0 + 20);
	harvested_key_free(k);
	assert_int_equal(f->rep.nalerts, 1);
	assert_substr(f->rep.alerts[0],
		      "harvest-evicted: evicted 1 least recently used "
		      "harvested key: the repository reached "
		      "harvest_max_size");
	assert_substr(alerts_text(f, buf), "harvest-evicted||<m@x>|evicted 1");
	assert_bytes_consistent(f);
	/* Without the touch k0 (used T0+20) now goes before k2 (T0+30). */
	harvest(f, T0 + 40, 1, "k3@lru.example", "", x[3], NULL);
	assert_int_equal(f->rep.evicted, 1);
	assert_int_equal(harvested_get(f->txn, id[0], &k), GW_ERR_NOT_FOUND);
	gw_err_clear();
	assert_int_equal(stored(f), 2);
	/* Deleting keeps the counter right too. */
	snprintf(addr, sizeof(addr), "k2@lru.example");
	assert_int_equal(harvested_del(f->txn, addr), 0);
	assert_bytes_consistent(f);
	assert_int_equal(stored(f), 1);
	for (i = 0; i < 4; i++)
		X509_free(x[i]);
}

static void
test_too_large_for_bound(void **state)
{
	struct fx *f = *state;
	X509 *x = cert_for("email:a@x.example", DAY);

	f->o.max_bytes = 100;
	assert_substr(harvest(f, T0, 1, "a@x.example", "", x, NULL)->reason,
		      "does not fit harvest_max_size (100 bytes)");
	assert_int_equal(stored(f), 0);
	X509_free(x);
}

/* ---- references ------------------------------------------------------------ */

static void
test_refs(void **state)
{
	struct fx *f = *state;
	X509 *x = cert_for("email:a@x.example", DAY);
	struct harvested_key *k = NULL;
	const void *val;
	size_t vlen;
	char id[HARVEST_ID_LEN + 1], k1[HARVEST_ID_LEN + 1];
	char k2[HARVEST_ID_LEN + 1];
	unsigned char *copy;

	harvest(f, T0, 1, "a@x.example", "", x, NULL);
	id_of(x, id);
	k = get(f, "A@X.EXAMPLE");
	assert_string_equal(k->id, id);
	harvested_key_free(k);
	assert_int_equal(harvested_get(f->txn, "xyz", &k), GW_ERR_INVALID);
	assert_string_equal(gw_err_detail(),
			    "REF: 'xyz' is neither 8 to 64 hex digits of a "
			    "SHA-256 fingerprint nor an address");
	gw_err_clear();
	/* Two records whose IDs share a prefix (copies under made-up
	 * keys): the prefix is ambiguous. */
	assert_int_equal(gw_txn_get(f->txn, GW_DB_HARVESTED, id,
				    HARVEST_ID_LEN, &val, &vlen),
			 0);
	assert_non_null(copy = malloc(vlen));
	memcpy(copy, val, vlen);
	memset(k1, 'a', HARVEST_ID_LEN);
	k1[HARVEST_ID_LEN] = '\0';
	memcpy(k2, k1, sizeof(k2));
	k2[HARVEST_ID_LEN - 1] = 'b';
	assert_int_equal(gw_txn_put(f->txn, GW_DB_HARVESTED, k1,
				    HARVEST_ID_LEN, copy, vlen, 0),
			 0);
	assert_int_equal(gw_txn_put(f->txn, GW_DB_HARVESTED, k2,
				    HARVEST_ID_LEN, copy, vlen, 0),
			 0);
	free(copy);
	assert_int_equal(harvested_get(f->txn, "AAAA:AAAA", &k),
			 GW_ERR_INVALID);
	assert_string_equal(gw_err_detail(),
			    "ID aaaaaaaa is ambiguous: 2 harvested keys start "
			    "with it; give more digits");
	gw_err_clear();
	assert_int_equal(harvested_get(f->txn, "a@x.example", &k),
			 GW_ERR_INVALID);
	assert_string_equal(gw_err_detail(),
			    "a@x.example has 3 harvested keys; give the ID");
	gw_err_clear();
	assert_int_equal(harvested_get(f->txn, "00000001", &k),
			 GW_ERR_NOT_FOUND);
	assert_string_equal(gw_err_detail(),
			    "no harvested key with ID 00000001");
	gw_err_clear();
	assert_int_equal(harvest_touch(f->txn, k2, T0), 0);
	X509_free(x);
}

/* ---- lookup over harvested keys ------------------------------------------- */

static void
expect_lookup(struct fx *f, const char *addr, const char *id,
	      enum addr_match kind, int harvested)
{
	struct lookup_match m;
	X509 *out = NULL;

	assert_int_equal(lookup_key_match(f->txn, addr, T0, &out, &m), 0);
	assert_string_equal(m.name, id);
	assert_int_equal(m.kind, kind);
	assert_int_equal(m.harvested, harvested);
	X509_free(out);
}

static void
test_lookup_precedence(void **state)
{
	struct fx *f = *state;
	X509 *e = cert_for("email:alice@sub.prec.example", 5 * DAY);
	X509 *d = cert_for("DNS:sub.prec.example", 5 * DAY);
	X509 *w = cert_for("DNS:*.prec.example", 5 * DAY);
	char ide[HARVEST_ID_LEN + 1], idd[HARVEST_ID_LEN + 1];
	char idw[HARVEST_ID_LEN + 1];
	const char *addr = "alice@sub.prec.example";

	harvest(f, T0, 1, "carol@sub.prec.example", "", w, NULL);
	harvest(f, T0, 1, "bob@sub.prec.example", "", d, NULL);
	harvest(f, T0, 1, addr, "", e, NULL);
	assert_int_equal(stored(f), 3);
	id_of(e, ide);
	id_of(d, idd);
	id_of(w, idw);
	expect_lookup(f, addr, ide, ADDR_MATCH_EMAIL, 1);
	assert_int_equal(harvested_del(f->txn, ide), 0);
	expect_lookup(f, addr, idd, ADDR_MATCH_DOMAIN, 1);
	assert_int_equal(harvested_del(f->txn, idd), 0);
	expect_lookup(f, addr, idw, ADDR_MATCH_WILDCARD, 1);
	X509_free(e);
	X509_free(d);
	X509_free(w);
}

static void
test_lookup_newest_valid(void **state)
{
	struct fx *f = *state;
	X509 *old = cert_for("email:n@n.example", 10 * DAY);
	X509 *mid = cert_for("email:n@n.example", 5 * DAY);
	struct spec s = {"email:n@n.example", -DAY, -60, 0, 0, 0};
	X509 *expired = cert(&s);
	struct lookup_match m;
	char id[HARVEST_ID_LEN + 1];
	X509 *out = NULL;

	f->o.updates = 1;
	f->o.allow_expired = 1;
	harvest(f, T0 - 100, 1, "n@n.example", "<1@n>", old, NULL);
	harvest(f, T0 - 50, 1, "n@n.example", "<2@n>", mid, NULL);
	harvest(f, T0 - 10, 1, "n@n.example", "<3@n>", expired, NULL);
	assert_int_equal(stored(f), 3);
	id_of(mid, id);
	expect_lookup(f, "n@n.example", id, ADDR_MATCH_EMAIL, 1);
	assert_int_equal(lookup_harvested(f->txn, "n@n.example", T0,
						   &out, &m),
			 0);
	assert_string_equal(m.name, id);
	assert_int_equal(m.harvested, 1);
	X509_free(out);
	out = NULL;
	assert_int_equal(lookup_harvested(f->txn, "z@n.example", T0,
						   &out, &m),
			 GW_ERR_NOT_FOUND);
	assert_substr(gw_err_detail(), "no harvested key for z@n.example");
	gw_err_clear();
	X509_free(old);
	X509_free(mid);
	X509_free(expired);
}

static void
test_public_keys_win(void **state)
{
	struct fx *f = *state;
	X509 *h = cert_for("email:p@p.example", DAY);
	X509 *p = cert_for("DNS:p.example", 10 * DAY);
	char id[HARVEST_ID_LEN + 1];

	harvest(f, T0, 1, "p@p.example", "", h, NULL);
	id_of(h, id);
	expect_lookup(f, "p@p.example", id, ADDR_MATCH_EMAIL, 1);
	/* A public key wins even with a weaker match and an older key. */
	assert_int_equal(keystore_add(f->txn, "partner", p, 0, T0), 0);
	expect_lookup(f, "p@p.example", "partner", ADDR_MATCH_DOMAIN, 0);
	X509_free(h);
	X509_free(p);
}

/* ---- alerts store ------------------------------------------------------------ */

static void
test_alerts_store(void **state)
{
	struct fx *f = *state;
	struct alert a = {T0, NULL, "k", "text\x01 one", "d", NULL};
	char buf[4096];
	size_t n = 0;

	assert_int_equal(alerts_add(f->txn, &a), 0);
	a.text = "two";
	assert_int_equal(alerts_add(f->txn, &a), 0); /* same second */
	a.time = T0 - 10;
	a.text = "earlier";
	assert_int_equal(alerts_add(f->txn, &a), 0);
	assert_string_equal(alerts_text(f, buf), "k|d||earlier\n"
						 "k|d||text? one\n"
						 "k|d||two\n");
	a.text = "";
	assert_int_equal(alerts_add(f->txn, &a), GW_ERR_INVALID);
	assert_string_equal(gw_err_detail(),
			    "alert: kind and text are required");
	gw_err_clear();
	assert_int_equal(alerts_clear(f->txn, T0, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(alerts_text(f, buf), "k|d||text? one\nk|d||two\n");
	assert_int_equal(alerts_clear(f->txn, 0, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(alerts_text(f, buf), "");
}

struct first_alert {
	uint64_t time;
	size_t n;
};

static int
first_alert(void *arg, const struct alert *a)
{
	struct first_alert *fa = arg;

	if (fa->n++ == 0)
		fa->time = a->time;
	return 0;
}

/* A flood of alerts keeps the newest ALERTS_KEEP_MAX. */
static void
test_alerts_bounded(void **state)
{
	struct fx *f = *state;
	struct alert a = {0, NULL, "k", "flood", NULL, NULL};
	struct first_alert fa = {0, 0};
	size_t i, n = 0;

	for (i = 0; i < ALERTS_KEEP_MAX + 5; i++) {
		a.time = T0 + i;
		assert_int_equal(alerts_add(f->txn, &a), 0);
	}
	assert_int_equal(gw_txn_count(f->txn, GW_DB_ALERTS, &n), 0);
	assert_int_equal(n, ALERTS_KEEP_MAX);
	assert_int_equal(alerts_foreach(f->txn, 0, first_alert, &fa), 0);
	assert_int_equal(fa.n, ALERTS_KEEP_MAX);
	assert_int_equal(fa.time, T0 + 5); /* the five oldest went */
}

#define CASE(fn) cmocka_unit_test_setup_teardown(fn, case_setup, case_teardown)

int
main(void)
{
	static const struct CMUnitTest tests[] = {
	    CASE(test_verified_only_by_default),
	    CASE(test_alerts_bounded),
	    CASE(test_on_failure_harvests),
	    CASE(test_expired_refused),
	    CASE(test_not_yet_valid_refused),
	    CASE(test_expired_allowed),
	    CASE(test_self_signed_refused),
	    CASE(test_self_signed_allowed),
	    CASE(test_not_covering_sender_skipped),
	    CASE(test_no_encrypt_skipped),
	    CASE(test_requirements_skipped_caller_detail_kept),
	    CASE(test_seen_refreshes),
	    CASE(test_update_refused_without_updates),
	    CASE(test_update_stored_with_updates),
	    CASE(test_one_update_per_message),
	    CASE(test_alert_none_for_one_update),
	    CASE(test_alert_same_domain_within_48h),
	    CASE(test_alert_none_after_48h),
	    CASE(test_alert_same_message_id),
	    CASE(test_report_log_to_syslog),
	    CASE(test_lru_eviction),
	    CASE(test_too_large_for_bound),
	    CASE(test_refs),
	    CASE(test_lookup_precedence),
	    CASE(test_lookup_newest_valid),
	    CASE(test_public_keys_win),
	    CASE(test_alerts_store),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
