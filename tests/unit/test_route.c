/*
 * test_route.c - table tests for the treatment of a message: address
 * patterns and domain lists (addr_rule.c), the sending profile table
 * (store/route.c: positions, duplicates, its record), the choice per
 * recipient (policy/treatment.c: first match wins, sender and recipient
 * entries, the default, the direction by internal_domains) and the
 * table's section of the configuration export (policy_route.c).
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

#include "addr_rule.h"
#include "gw_err.h"
#include "gw_store.h"
#include "policy_route.h"
#include "profile.h"
#include "route.h"
#include "treatment.h"

/* ---- patterns ----------------------------------------------------------- */

static const struct pcase {
	const char *pat, *addr;
	int match;
} pcases[] = {
    /* a full address: domain ignoring case and a trailing dot */
    {"bob@example.com", "bob@example.com", 1},
    {"bob@example.com", "BOB@Example.COM", 1},
    {"bob@example.com.", "bob@example.com", 1},
    {"bob@example.com", "bob@example.com.", 1},
    {"bob@example.com", "bobby@example.com", 0},
    {"bob@example.com", "bob@a.example.com", 0},
    {"bob@example.com", "bob@example.co", 0},
    /* @domain: that domain only */
    {"@example.com", "anyone@example.com", 1},
    {"@example.com", "anyone@EXAMPLE.com.", 1},
    {"@Example.Com.", "x@example.com", 1},
    {"@example.com", "x@a.example.com", 0},
    {"@example.com", "x@badexample.com", 0},
    {"@example.com", "x@example.com.evil", 0},
    /* @.domain: subdomains at any depth, not the domain itself */
    {"@.example.com", "x@a.example.com", 1},
    {"@.example.com", "x@b.a.example.com", 1},
    {"@.example.com", "x@A.EXAMPLE.COM.", 1},
    {"@.example.com", "x@example.com", 0},
    {"@.example.com", "x@badexample.com", 0},
    {"@.example.com", "x@.example.com", 0},
    /* the last '@' splits, as everywhere in the rule */
    {"@example.com", "\"a@b\"@example.com", 1},
    /* not addresses: nothing matches them */
    {"@example.com", "", 0},
    {"@example.com", "example.com", 0},
    {"@example.com", "x@", 0},
    {"@example.com", NULL, 0},
};

static void
test_pattern_match(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++)
		if (addr_rule_pattern_match(pcases[i].pat, pcases[i].addr) !=
		    pcases[i].match)
			fail_msg("'%s' vs '%s': expected %d", pcases[i].pat,
				 pcases[i].addr ? pcases[i].addr : "(null)",
				 pcases[i].match);
}

static void
test_pattern_local_part(void **state)
{
	(void)state;
	addr_rule_set_local_part(ADDR_LOCAL_EXACT);
	assert_int_equal(addr_rule_pattern_match("Bob@example.com",
						 "bob@example.com"),
			 0);
	assert_int_equal(addr_rule_pattern_match("Bob@example.com",
						 "Bob@EXAMPLE.com"),
			 1);
	addr_rule_set_local_part(ADDR_LOCAL_INSENSITIVE);
	assert_int_equal(addr_rule_pattern_match("Bob@example.com",
						 "bob@example.com"),
			 1);
}

static void
test_pattern_valid(void **state)
{
	static const char *const good[] = {
	    "bob@example.com", "@example.com", "@.example.com", "@localhost",
	    "@example.com.",
	};
	static const char *const bad[] = {
	    "", "@", "@.", "@..example.com", "@example..com", "example.com",
	    "@*.example.com", "@a@b.com", "bob@", "@exa mple.com",
	    "@.example.com..", "bob@*.example.com",
	};
	char why[256], out[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (addr_rule_pattern_valid(good[i], why, sizeof(why)) != 0)
			fail_msg("'%s' refused: %s", good[i], why);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (addr_rule_pattern_valid(bad[i], why, sizeof(why)) == 0)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(addr_rule_pattern_valid("@a..b", why, sizeof(why)),
			 -1);
	assert_substr(why, "is not a domain");
	assert_int_equal(addr_rule_pattern_norm("Bob@Example.COM.", out,
						sizeof(out)),
			 0);
	assert_string_equal(out, "Bob@example.com");
	assert_int_equal(addr_rule_pattern_norm("@.A.Example.", out,
						sizeof(out)),
			 0);
	assert_string_equal(out, "@.a.example");
	assert_int_equal(addr_rule_pattern_norm("@x.org", out, 4), -1);
}

static void
test_domains(void **state)
{
	const char *l = "example.com, .corp.example  other.org";
	char why[256];

	(void)state;
	assert_int_equal(addr_rule_domains_valid(l, why, sizeof(why)), 0);
	assert_int_equal(addr_rule_domains_valid("", why, sizeof(why)), 0);
	assert_int_equal(addr_rule_domains_valid("a.com @b.com", why,
						 sizeof(why)),
			 -1);
	assert_substr(why, "'@b.com' is not a domain");
	assert_int_equal(addr_rule_domains_valid("a..com", why, sizeof(why)),
			 -1);
	assert_int_equal(addr_rule_domains_valid("x@a.com", why, sizeof(why)),
			 -1);
	assert_int_equal(addr_rule_in_domains(l, "a@example.com"), 1);
	assert_int_equal(addr_rule_in_domains(l, "a@EXAMPLE.COM."), 1);
	assert_int_equal(addr_rule_in_domains(l, "a@sub.example.com"), 0);
	assert_int_equal(addr_rule_in_domains(l, "a@x.corp.example"), 1);
	assert_int_equal(addr_rule_in_domains(l, "a@corp.example"), 0);
	assert_int_equal(addr_rule_in_domains(l, "a@other.org"), 1);
	assert_int_equal(addr_rule_in_domains(l, ""), 0);
	assert_int_equal(addr_rule_in_domains("", "a@example.com"), 0);
}

/* ---- direction ----------------------------------------------------------- */

static void
test_direction(void **state)
{
	static const struct {
		const char *from, *to;
		enum treatment_dir dir;
	} c[] = {
	    {"a@example.com", "b@partner.net", TREATMENT_OUTGOING},
	    {"a@x.corp.example", "b@partner.net", TREATMENT_OUTGOING},
	    {"a@example.com", "b@example.com", TREATMENT_INCOMING},
	    {"a@partner.net", "b@example.com", TREATMENT_INCOMING},
	    {"a@partner.net", "b@other.net", TREATMENT_INCOMING},
	    {"", "b@partner.net", TREATMENT_INCOMING},
	};
	const char *l = "example.com .corp.example";
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		if (treatment_direction(l, c[i].from, c[i].to) != c[i].dir)
			fail_msg("%s -> %s: wrong direction", c[i].from,
				 c[i].to);
}

/* ---- the table ----------------------------------------------------------- */

static void
entry(struct route *r, enum route_field f, const char *pat,
      const char *profile)
{
	memset(r, 0, sizeof(*r));
	r->field = f;
	snprintf(r->pattern, sizeof(r->pattern), "%s", pat);
	snprintf(r->profile, sizeof(r->profile), "%s", profile);
}

static void
add(struct route_table *t, size_t pos, enum route_field f, const char *pat,
    const char *profile)
{
	struct route r;

	entry(&r, f, pat, profile);
	assert_int_equal(route_normalize(&r), 0);
	assert_int_equal(route_table_insert(t, pos, &r), 0);
}

static void
test_table_edit(void **state)
{
	struct route_table t;
	struct route r;

	(void)state;
	route_table_init(&t);
	add(&t, 0, ROUTE_RECIPIENT, "@b.example", "p2");
	add(&t, 1, ROUTE_SENDER, "@a.example", "p1");
	add(&t, 3, ROUTE_RECIPIENT, "@c.example", "p3");
	add(&t, 2, ROUTE_RECIPIENT, "@d.example", "p4");
	assert_int_equal(t.n, 4);
	assert_string_equal(t.r[0].profile, "p1");
	assert_string_equal(t.r[1].profile, "p4");
	assert_string_equal(t.r[2].profile, "p2");
	assert_string_equal(t.r[3].profile, "p3");
	/* the same field and pattern (as normalised) twice */
	entry(&r, ROUTE_RECIPIENT, "@B.Example.", "p9");
	assert_int_equal(route_normalize(&r), 0);
	gw_err_clear();
	assert_int_equal(route_table_insert(&t, 0, &r), GW_ERR_INVALID);
	assert_substr(gw_err_detail(), "already at position 3");
	/* the same pattern for the other field is another entry */
	entry(&r, ROUTE_SENDER, "@b.example", "p9");
	assert_int_equal(route_table_insert(&t, 0, &r), 0);
	gw_err_clear();
	entry(&r, ROUTE_SENDER, "@z.example", "p9");
	assert_int_equal(route_table_insert(&t, 7, &r), GW_ERR_INVALID);
	assert_substr(gw_err_detail(), "position: 7 is not in 1..6");
	gw_err_clear();
	assert_int_equal(route_table_remove(&t, 6), GW_ERR_NOT_FOUND);
	gw_err_clear();
	assert_int_equal(route_table_remove(&t, 0), GW_ERR_NOT_FOUND);
	gw_err_clear();
	assert_int_equal(route_table_remove(&t, 2), 0);
	assert_int_equal(t.n, 4);
	assert_string_equal(t.r[1].profile, "p2");
	assert_int_equal(route_table_uses(&t, "p3"), 3);
	assert_int_equal(route_table_uses(&t, "p4"), 0);
	route_table_free(&t);
}

static void
test_validate(void **state)
{
	struct route r;

	(void)state;
	entry(&r, ROUTE_SENDER, "@a..b", "p");
	gw_err_clear();
	assert_int_equal(route_validate(&r), GW_ERR_INVALID);
	assert_substr(gw_err_detail(), "sender: '@a..b'");
	entry(&r, ROUTE_RECIPIENT, "nobody", "p");
	gw_err_clear();
	assert_int_equal(route_validate(&r), GW_ERR_INVALID);
	assert_substr(gw_err_detail(), "recipient: 'nobody' is not an "
				       "address, @domain or @.domain");
	entry(&r, ROUTE_RECIPIENT, "@a.b", "-bad");
	gw_err_clear();
	assert_int_equal(route_validate(&r), GW_ERR_INVALID);
	assert_substr(gw_err_detail(), "profile: '-bad'");
	entry(&r, ROUTE_RECIPIENT, "@a.b", "p");
	r.field = 7;
	gw_err_clear();
	assert_int_equal(route_validate(&r), GW_ERR_INVALID);
	assert_substr(gw_err_detail(), "field: 7");
	gw_err_clear();
}

/* ---- which profile --------------------------------------------------------- */

static void
test_first_match(void **state)
{
	static const struct {
		const char *from, *to, *profile;
		size_t route;
	} c[] = {
	    /* entry 1: the boss's mail is always signed */
	    {"boss@example.com", "x@partner.net", "signed", 1},
	    {"BOSS@example.com.", "x@a.partner.net", "signed", 1},
	    /* entry 2: one partner address */
	    {"a@example.com", "Carol@Partner.net", "carol", 2},
	    /* entry 3: the partner's domain */
	    {"a@example.com", "x@partner.net", "partners", 3},
	    /* entry 4: its subdomains */
	    {"a@example.com", "x@eu.partner.net", "subs", 4},
	    /* entry 5: a sender domain */
	    {"a@sales.example.com", "x@else.org", "sales", 5},
	    /* no match: the default */
	    {"a@example.com", "x@else.org", "dflt", 0},
	    {"", "x@else.org", "dflt", 0},
	};
	struct route_table t;
	struct treatment tr;
	size_t i;

	(void)state;
	route_table_init(&t);
	add(&t, 0, ROUTE_SENDER, "boss@example.com", "signed");
	add(&t, 0, ROUTE_RECIPIENT, "carol@partner.net", "carol");
	add(&t, 0, ROUTE_RECIPIENT, "@partner.net", "partners");
	add(&t, 0, ROUTE_RECIPIENT, "@.partner.net", "subs");
	add(&t, 0, ROUTE_SENDER, "@sales.example.com", "sales");
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		treatment_profile(&t, "dflt", c[i].from, c[i].to, &tr);
		assert_int_equal(tr.dir, TREATMENT_OUTGOING);
		if (tr.profile == NULL || strcmp(tr.profile, c[i].profile) != 0 ||
		    tr.route != c[i].route)
			fail_msg("%s -> %s: got %s (entry %zu), expected %s "
				 "(entry %zu)",
				 c[i].from, c[i].to,
				 tr.profile ? tr.profile : "none", tr.route,
				 c[i].profile, c[i].route);
	}
	/* no default: none, the message goes out unchanged */
	treatment_profile(&t, "", "a@example.com", "x@else.org", &tr);
	assert_null(tr.profile);
	treatment_profile(&t, NULL, "a@example.com", "x@else.org", &tr);
	assert_null(tr.profile);
	treatment_profile(NULL, "dflt", "boss@example.com", "x@else.org",
			  &tr);
	assert_string_equal(tr.profile, "dflt");
	route_table_free(&t);
}

/* ---- the store and the file ------------------------------------------------ */

static char tmpdir[64];
static struct gw_store *st;

static void
put_profile(struct gw_txn *txn, const char *name)
{
	struct profile p;

	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "%s", name);
	p.mode = PROFILE_MODE_ENCRYPT;
	p.action = PROFILE_ACTION_SPLIT;
	assert_int_equal(profile_put(txn, &p, 0), 0);
}

static int
setup(void **state)
{
	struct gw_txn *txn = NULL;

	(void)state;
	assert_int_equal(unit_tmpdir(tmpdir, sizeof(tmpdir), "test_route"), 0);
	assert_int_equal(gw_store_open(tmpdir, 0, &st), 0);
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	put_profile(txn, "p1");
	put_profile(txn, "p2");
	assert_int_equal(gw_txn_commit(txn), 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	gw_store_close(st);
	unit_rmtree(tmpdir);
	return 0;
}

static void
test_store_and_decide(void **state)
{
	struct treatment_conf tc = {1, TREATMENT_OUTGOING, "example.com",
				    "p2"};
	const char *to[] = {"a@partner.net", "b@example.com", "c@other.org"};
	struct route_table t, back;
	struct treatment tr[3];
	struct gw_txn *txn = NULL;
	struct route r;

	(void)state;
	route_table_init(&t);
	add(&t, 0, ROUTE_RECIPIENT, "@partner.net", "p1");
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	entry(&r, ROUTE_RECIPIENT, "@x.org", "nope");
	gw_err_clear();
	assert_int_equal(route_check(txn, &r), GW_ERR_INVALID);
	assert_substr(gw_err_detail(), "profile: no sending profile named "
				       "'nope'");
	gw_err_clear();
	assert_int_equal(route_table_put(txn, &t), 0);
	assert_int_equal(gw_txn_commit(txn), 0);

	assert_int_equal(gw_txn_begin(st, GW_TXN_READ, &txn), 0);
	assert_int_equal(route_table_get(txn, &back), 0);
	assert_int_equal(route_table_same(&t, &back), 1);
	route_table_free(&back);
	/* auto: a@partner.net and c@other.org go out, b@example.com is
	 * internal and so incoming */
	assert_int_equal(treatment_decide(txn, &tc, "me@example.com", to, 3,
					  &back, tr),
			 0);
	assert_int_equal(tr[0].dir, TREATMENT_OUTGOING);
	assert_string_equal(tr[0].profile, "p1");
	assert_int_equal(tr[0].route, 1);
	assert_int_equal(tr[1].dir, TREATMENT_INCOMING);
	assert_null(tr[1].profile);
	assert_int_equal(tr[2].dir, TREATMENT_OUTGOING);
	assert_string_equal(tr[2].profile, "p2");
	assert_int_equal(treatment_same(&tr[0], &tr[2]), 0);
	assert_int_equal(treatment_same(&tr[1], &tr[1]), 1);
	route_table_free(&back);
	/* an external sender: everything incoming, the table not read */
	assert_int_equal(treatment_decide(txn, &tc, "x@partner.net", to, 3,
					  &back, tr),
			 0);
	assert_int_equal(back.n, 0);
	assert_int_equal(tr[0].dir, TREATMENT_INCOMING);
	gw_txn_abort(txn);

	/* an empty table removes the record */
	route_table_free(&t);
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	assert_int_equal(route_table_put(txn, &t), 0);
	assert_int_equal(route_table_get(txn, &back), 0);
	assert_int_equal(back.n, 0);
	assert_int_equal(gw_txn_commit(txn), 0);
}

static const struct fcase {
	const char *text, *error;	/* NULL: parses */
	size_t n;
} fcases[] = {
    {"smimegw-routes 1\n", NULL, 0},
    {"smimegw-routes 1\n# c\n\nsender: @A.example.\nprofile: p1\n"
     "recipient: x@b.example\nprofile: p2\n",
     NULL, 2},
    {"smimegw-routes 2\n", "t:10: unsupported", 0},
    {"smimegw-routes 1\nprofile: p1\n", "t:11: 'profile:' before", 0},
    {"smimegw-routes 1\nsender: @a.example\n", "t:11: the entry has no", 0},
    {"smimegw-routes 1\nsender: @a.example\nrecipient: @b.example\n"
     "profile: p1\n",
     "t:11: the entry has no", 0},
    {"smimegw-routes 1\nsender: @a.example\nprofile: p1\nprofile: p2\n",
     "t:13: profile given twice", 0},
    {"smimegw-routes 1\nsender: @a..example\nprofile: p1\n",
     "t:11: sender: '@a..example'", 0},
    {"smimegw-routes 1\nsender: @a.example\nprofile: -x\n",
     "t:12: profile: '-x'", 0},
    {"smimegw-routes 1\nsender: @a.example\nprofile: p1\n"
     "sender: @A.EXAMPLE\nprofile: p2\n",
     "t:13: sender '@A.EXAMPLE' already given at line 11", 0},
    {"smimegw-routes 1\nmatch: @a.example\n", "t:11: unknown attribute", 0},
    {"smimegw-routes 1\njunk\n", "t:11: unexpected line 'junk'", 0},
};

static void
test_file(void **state)
{
	struct policy_route *pr;
	struct gw_txn *txn = NULL;
	struct gw_buf out;
	size_t i, n, conf = 0;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(fcases) / sizeof(fcases[0]); i++) {
		gw_err_clear();
		rc = policy_route_parse(fcases[i].text, strlen(fcases[i].text),
					"t", 10, &pr);
		if (fcases[i].error == NULL) {
			if (rc != 0)
				fail_msg("case %zu: %s", i, gw_err_detail());
			assert_int_equal(pr->t.n, fcases[i].n);
			policy_route_free(pr);
			continue;
		}
		if (rc == 0)
			fail_msg("case %zu parsed", i);
		assert_substr(gw_err_detail(), fcases[i].error);
	}
	/* the round trip through the store, and the outcomes */
	assert_int_equal(policy_route_parse(fcases[1].text,
					    strlen(fcases[1].text), "t", 1,
					    &pr),
			 0);
	assert_string_equal(pr->t.r[0].pattern, "@a.example");
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	assert_int_equal(policy_route_classify(txn, pr, &conf), 0);
	assert_int_equal(pr->outcome, POLICY_FILE_ADDED);
	assert_int_equal(policy_route_validate(txn, pr, "t", NULL, NULL), 0);
	assert_int_equal(policy_route_apply(txn, pr, 0), 0);
	assert_int_equal(policy_route_classify(txn, pr, &conf), 0);
	assert_int_equal(pr->outcome, POLICY_FILE_DUPLICATE);
	assert_int_equal(conf, 0);
	gw_buf_init(&out, 1 << 20);
	assert_int_equal(policy_route_export(txn, &out, &n), 0);
	assert_int_equal(n, 2);
	assert_non_null(strstr((const char *)out.data,
			       "\nsender: @a.example\nprofile: p1\n\n"
			       "recipient: x@b.example\nprofile: p2\n"));
	gw_buf_free(&out);
	policy_route_free(pr);
	/* another table conflicts; a profile that is nowhere is refused */
	{
		static const char gone[] =
		    "smimegw-routes 1\nsender: @c.x\nprofile: gone\n";

		assert_int_equal(policy_route_parse(gone, strlen(gone), "t", 1,
						    &pr),
				 0);
	}
	assert_int_equal(policy_route_classify(txn, pr, &conf), 0);
	assert_int_equal(pr->outcome, POLICY_FILE_CONFLICT);
	assert_int_equal(conf, 1);
	gw_err_clear();
	assert_int_equal(policy_route_validate(txn, pr, "t", NULL, NULL),
			 GW_ERR_INVALID);
	assert_substr(gw_err_detail(), "t:2: profile: no sending profile "
				       "named 'gone'");
	policy_route_free(pr);
	gw_txn_abort(txn);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pattern_match),
	    cmocka_unit_test(test_pattern_local_part),
	    cmocka_unit_test(test_pattern_valid),
	    cmocka_unit_test(test_domains),
	    cmocka_unit_test(test_direction),
	    cmocka_unit_test(test_table_edit),
	    cmocka_unit_test(test_validate),
	    cmocka_unit_test(test_first_match),
	    cmocka_unit_test(test_store_and_decide),
	    cmocka_unit_test(test_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
