/*
 * test_mime_addr.c - gateway/mime/mime_addr.c, the RFC 5322
 * address-list parser behind the From binding (issue 8, item 06): a
 * table of hostile and real-world field values with the mailboxes each
 * yields or the error it gets, the ceilings, and the walk over every
 * From field of a parsed message.
 *
 * The old mime_addr_from() took the last "<...>" anywhere in the value
 * (inside a comment or a quoted display name too) or else the first
 * word, and looked at one From field and one mailbox only: the item06_
 * cases below name what it returned instead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "unit_util.h"

#include "gw_err.h"
#include "mime_addr.h"
#include "mime_parser.h"

/* Collects the mailboxes as "a|b|c". */
struct got {
	char s[4096];
	unsigned n;
	unsigned stop_at; /* 0: never; else return 7 at that mailbox */
};

static int
collect(void *arg, const char *addr)
{
	struct got *g = arg;
	size_t l = strlen(g->s);

	g->n++;
	snprintf(g->s + l, sizeof(g->s) - l, "%s%s", l ? "|" : "", addr);
	return g->stop_at != 0 && g->n == g->stop_at ? 7 : 0;
}

struct tcase {
	const char *name;
	const char *value;
	size_t len; /* 0: strlen */
	int rc;
	const char *want; /* mailboxes, or a substring of the detail */
};

static const struct tcase cases[] = {
    /* Real-world forms. */
    {"addr-spec", "alice@example.test", 0, 0, "alice@example.test"},
    {"name-addr", "Alice Example <alice@example.test>", 0, 0,
     "alice@example.test"},
    {"angle only", "<alice@example.test>", 0, 0, "alice@example.test"},
    {"quoted name", "\"Alice\" <alice@example.test>", 0, 0,
     "alice@example.test"},
    {"empty quoted name", "\"\" <alice@example.test>", 0, 0,
     "alice@example.test"},
    {"old-style comment name", "alice@example.test (Alice Example)", 0, 0,
     "alice@example.test"},
    {"comment after name-addr", "Alice <alice@example.test> (work)", 0, 0,
     "alice@example.test"},
    {"quoted name with comma", "\"Doe, John\" <john@x.test>", 0, 0,
     "john@x.test"},
    {"obs-phrase with dots", "John Q. Public <jqp@x.test>", 0, 0,
     "jqp@x.test"},
    {"RFC 5322 A.5 Pete",
     "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", 0, 0,
     "pete@silly.test"},
    {"RFC 5322 A.5 Chris",
     "Chris Jones <c@(Chris's host.)public.example>", 0, 0,
     "c@public.example"},
    {"obs-route", "Mary Smith <@node.test:mary@example.net>", 0, 0,
     "mary@example.net"},
    {"obs-route list", "<@a.test,@b.test:joe@c.test>", 0, 0, "joe@c.test"},
    {"obs-local-part quoted word", "\"joe\".smith@x.test", 0, 0,
     "joe.smith@x.test"},
    {"quoted local part kept quoted", "\"joe smith\"@x.test", 0, 0,
     "\"joe smith\"@x.test"},
    {"quoted local part escapes", "\"a\\\"b\"@x.test", 0, 0,
     "\"a\\\"b\"@x.test"},
    {"quoted dot-atom unquoted", "<\"alice\"@x.test>", 0, 0, "alice@x.test"},
    {"CFWS around dots", "joe . smith @ x . test", 0, 0, "joe.smith@x.test"},
    {"carrier local part a..b", "a..b@docomo.ne.jp", 0, 0,
     "a..b@docomo.ne.jp"},
    {"carrier local part a.", "Taro <a.@docomo.ne.jp>", 0, 0,
     "a.@docomo.ne.jp"},
    {"domain literal", "a@[192.0.2.1]", 0, 0, "a@[192.0.2.1]"},
    {"two mailboxes", "a@x.test, Bob <b@y.test>", 0, 0, "a@x.test|b@y.test"},
    {"obs-mbox-list empty elements", ", , a@x.test, ,", 0, 0, "a@x.test"},
    {"group", "Team: a@x.test, b@y.test;", 0, 0, "a@x.test|b@y.test"},
    {"group then mailbox", "Team: a@x.test, Bob <b@y.test>;, c@z.test", 0, 0,
     "a@x.test|b@y.test|c@z.test"},
    {"group with comment and empty members", "T (x): , a@x.test ,;", 0, 0,
     "a@x.test"},
    {"encoded-word name ignored",
     "=?utf-8?q?Alice_=3Cceo=40example.com=3E?= <alice@partner.example>", 0,
     0, "alice@partner.example"},
    {"base64 encoded-word name", "=?utf-8?b?QWxpY2U=?= <alice@x.test>", 0, 0,
     "alice@x.test"},
    {"UTF-8 display name", "J\xc3\xb6rg <j@x.test>", 0, 0, "j@x.test"},
    {"folded display name", "Alice\r\n <alice@x.test>", 0, 0,
     "alice@x.test"},
    {"folded list", "a@x.test,\r\n\tb@y.test", 0, 0, "a@x.test|b@y.test"},
    {"nested comments", "((((x) y) \\( z)) a@x.test", 0, 0, "a@x.test"},
    {"quote inside a comment", "Alice <alice@x.test> (say \"hi)", 0, 0,
     "alice@x.test"},
    {"paren inside a quoted name", "\"Al(ice\" <alice@x.test>", 0, 0,
     "alice@x.test"},
    {"long display name",
     "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "\" <a@x.test>",
     0, 0, "a@x.test"},

    /* Hostile forms.  Old: the address in the last <...>. */
    {"item06_from_mailbox_in_comment",
     "ceo@example.com (<alice@partner.example>)", 0, 0, "ceo@example.com"},
    {"item06_mailbox_in_comment_after_name_addr",
     "Alice <alice@x.test>, (<mallory@evil.test>)", 0, 0, "alice@x.test"},
    {"item06_angle_in_quoted_name (old: ceo)",
     "\"ceo@example.com <ceo@example.com>, \" <alice@partner.example>", 0,
     0, "alice@partner.example"},
    {"item06_quoted_address_as_name",
     "\"alice@partner.example\" <ceo@example.com>", 0, 0, "ceo@example.com"},
    {"item06_two_angle_addrs (old: the second)",
     "ceo@example.com <alice@partner.example>", 0, GW_ERR_PARSE,
     "',' was expected after an address"},
    {"item06_name_addr_then_angle",
     "Alice <alice@x.test> <mallory@evil.test>", 0, GW_ERR_PARSE,
     "',' was expected after an address"},
    {"item06_two_addr_specs", "alice@x.test mallory@evil.test", 0,
     GW_ERR_PARSE, "',' was expected after an address"},
    {"item06_unquoted_comma_name (old: john)", "Doe, John <john@x.test>", 0,
     GW_ERR_PARSE, "a mailbox has no '@' and no <...>"},
    {"item06_words_before_at", "alice mallory@evil.test", 0, GW_ERR_PARSE,
     "words without a dot or '<' before '@'"},
    {"item06_quoted_then_addr",
     "\"<alice@partner.example>\" ceo@example.com", 0, GW_ERR_PARSE,
     "words without a dot or '<' before '@'"},
    {"item06_unclosed_comment", "ceo@example.com(<alice@partner.example>",
     0, GW_ERR_PARSE, "a comment is not closed with ')'"},
    {"item06_unclosed_quote", "\"ceo <alice@partner.example>", 0,
     GW_ERR_PARSE, "a quoted string is not closed"},
    {"item06_unclosed_angle", "Alice <alice@x.test", 0, GW_ERR_PARSE,
     "'>' was expected"},
    {"item06_empty_angle", "<>", 0, GW_ERR_PARSE, "an empty address <>"},
    {"item06_empty_group", "undisclosed-recipients:;", 0, GW_ERR_PARSE,
     "From field: no mailbox"},
    {"item06_empty_value", "", 0, GW_ERR_PARSE, "From field: no mailbox"},
    {"item06_comment_only", "  (just <alice@partner.example>)", 0,
     GW_ERR_PARSE, "From field: no mailbox"},
    {"item06_group_not_closed", "Team: a@x.test", 0, GW_ERR_PARSE,
     "a group is not closed with ';'"},
    {"item06_group_in_group", "A: B: c@d.test;;", 0, GW_ERR_PARSE,
     "a group inside a group"},
    {"item06_semicolon_outside_group", "Alice <alice@x.test>;", 0,
     GW_ERR_PARSE, "',' was expected after an address"},
    {"item06_name_only", "Alice Example", 0, GW_ERR_PARSE,
     "a mailbox has no '@' and no <...>"},
    {"item06_no_domain", "alice@", 0, GW_ERR_PARSE,
     "a domain was expected"},
    {"item06_no_local_part", "@x.test", 0, GW_ERR_PARSE,
     "an address without a local part"},
    {"item06_trailing_dot_domain", "alice@x.test.", 0, 0, "alice@x.test."},
    {"item06_trailing_dot_domain_folded", "Alice <alice@x.test . >", 0, 0,
     "alice@x.test."},
    {"item06_two_trailing_dots", "alice@x.test..", 0, GW_ERR_PARSE,
     "a domain was expected"},
    {"item06_trailing_dot_only", "alice@.", 0, GW_ERR_PARSE,
     "a domain was expected"},
    {"item06_empty_label", "alice@x..test", 0, GW_ERR_PARSE,
     "a domain was expected"},
    {"item06_lone_cr", "Alice <alice@x.test>\rBcc: x@y.test", 0,
     GW_ERR_PARSE, "a line break that is not folding white space"},
    {"item06_unfolded_lf", "alice@x.test\nmallory@evil.test", 0,
     GW_ERR_PARSE, "a line break that is not folding white space"},
    {"item06_nul", "alice@x.test\0mallory@evil.test", 30, GW_ERR_PARSE,
     "a NUL byte"},
    {"item06_control_in_local", "\"a\001b\"@x.test", 0, GW_ERR_PARSE,
     "a control character in the local part"},
    {"item06_control_in_value", "alice@x.test\001", 0, GW_ERR_PARSE,
     "a control character"},
    {"item06_bad_route", "<@a.test b@c.test>", 0, GW_ERR_PARSE,
     "a route ends with ':'"},
    {"item06_bad_domain_literal", "a@[1.2\\.3]", 0, GW_ERR_PARSE,
     "a domain literal has dtext"},
    {"item06_nbsp_is_not_a_separator", "alice@partner.example\xc2\xa0", 0,
     0, "alice@partner.example\xc2\xa0"},
};

static void
test_table(void **state)
{
	const struct tcase *c;
	struct got g;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = &cases[i];
		memset(&g, 0, sizeof(g));
		gw_err_clear();
		rc = mime_addr_list_each(c->value,
					 c->len ? c->len : strlen(c->value),
					 "From", collect, &g);
		if (rc != c->rc)
			fail_msg("%s: rc %d, wanted %d (%s; got '%s')",
				 c->name, rc, c->rc, gw_err_detail(), g.s);
		if (c->rc == 0 && strcmp(g.s, c->want) != 0)
			fail_msg("%s: got '%s', wanted '%s'", c->name, g.s,
				 c->want);
		if (c->rc != 0 && strstr(gw_err_detail(), c->want) == NULL)
			fail_msg("%s: detail '%s' lacks '%s'", c->name,
				 gw_err_detail(), c->want);
		if (c->rc != 0)
			assert_substr(gw_err_detail(), "From field: ");
	}
	gw_err_clear();
}

static void
test_ceilings(void **state)
{
	char v[8192], a[MIME_ADDR_LEN + 2];
	struct got g;
	size_t n = 0;
	int i;

	(void)state;
	/* MIME_ADDR_MAX mailboxes pass, one more is a limit. */
	for (i = 0; i < MIME_ADDR_MAX; i++)
		n += (size_t)snprintf(v + n, sizeof(v) - n, "%sa%d@x.test",
				      i ? "," : "", i);
	memset(&g, 0, sizeof(g));
	assert_int_equal(mime_addr_list_each(v, n, "From", collect, &g), 0);
	assert_int_equal(g.n, MIME_ADDR_MAX);
	n += (size_t)snprintf(v + n, sizeof(v) - n, ",last@x.test");
	memset(&g, 0, sizeof(g));
	gw_err_clear();
	assert_int_equal(mime_addr_list_each(v, n, "From", collect, &g),
			 GW_ERR_LIMIT);
	assert_substr(gw_err_detail(), "more than 100 mailboxes");
	assert_int_equal(g.n, MIME_ADDR_MAX);

	/* An addr-spec of MIME_ADDR_LEN bytes passes, one more is a limit,
	 * in the local part and in the domain. */
	memset(a, 'l', sizeof(a));
	memcpy(a + 64, "@", 1);
	memcpy(a + MIME_ADDR_LEN - 5, ".test", 5);
	a[MIME_ADDR_LEN] = '\0';
	memset(&g, 0, sizeof(g));
	assert_int_equal(
	    mime_addr_list_each(a, strlen(a), "From", collect, &g), 0);
	assert_int_equal(strlen(g.s), MIME_ADDR_LEN);
	memmove(a + 1, a, MIME_ADDR_LEN + 1);
	gw_err_clear();
	assert_int_equal(
	    mime_addr_list_each(a, strlen(a), "From", collect, &g),
	    GW_ERR_LIMIT);
	assert_substr(gw_err_detail(), "an address longer than 320 bytes");
	memset(a, 'l', sizeof(a));
	a[0] = '"';
	a[5] = ' '; /* needs quoting: 2 bytes more than its content */
	a[MIME_ADDR_LEN - 2] = '"';
	memcpy(a + MIME_ADDR_LEN - 1, "@x", 3);
	gw_err_clear();
	assert_int_equal(
	    mime_addr_list_each(a, strlen(a), "From", collect, &g),
	    GW_ERR_LIMIT);
	assert_substr(gw_err_detail(), "an address longer than 320 bytes");

	/* Deep comments are a counter, not recursion. */
	memset(v, '(', 4000);
	memset(v + 4000, ')', 4000);
	memcpy(v + 8000, "a@x.test", 8);
	memset(&g, 0, sizeof(g));
	assert_int_equal(mime_addr_list_each(v, 8008, "From", collect, &g), 0);
	assert_string_equal(g.s, "a@x.test");
	gw_err_clear();
}

static void
test_callback_stops(void **state)
{
	struct got g;

	(void)state;
	memset(&g, 0, sizeof(g));
	g.stop_at = 2;
	assert_int_equal(mime_addr_list_each("a@x.test, b@x.test, c@x.test",
					     28, "From", collect, &g),
			 7);
	assert_string_equal(g.s, "a@x.test|b@x.test");
	/* Mailboxes before an error have been seen. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(mime_addr_list_each("a@x.test, b", 11, "From",
					     collect, &g),
			 GW_ERR_PARSE);
	assert_string_equal(g.s, "a@x.test");
	assert_int_equal(mime_addr_list_each(NULL, 0, "From", collect, &g),
			 GW_ERR_INVALID);
	assert_int_equal(mime_addr_list_each("a@b", 3, "From", NULL, NULL),
			 GW_ERR_INVALID);
	gw_err_clear();
}

static struct mime_tree *
parse(const char *msg)
{
	struct mime_parser *mp;
	struct mime_tree *t = NULL;

	assert_non_null(mp = mime_parser_new(NULL));
	assert_int_equal(
	    mime_parser_feed(mp, (const unsigned char *)msg, strlen(msg)), 0);
	assert_int_equal(mime_parser_finish(mp, &t), 0);
	mime_parser_free(mp);
	return t;
}

/* Every From field of a message, however it is spelt or folded. */
static void
test_from_fields(void **state)
{
	static const struct {
		const char *name, *msg;
		int rc;
		const char *want;
	} c[] = {
	    {"one field", "From: Alice <alice@x.test>\r\nTo: b@y.test\r\n\r\nb",
	     0, "alice@x.test"},
	    {"item06_second_from_field (old: the first only)",
	     "From: Alice <alice@partner.example>\r\nTo: b@y.test\r\n"
	     "From: ceo@example.com\r\n\r\nbody",
	     0, "alice@partner.example|ceo@example.com"},
	    {"item06_from_spelt_upper_with_space",
	     "From: a@x.test\r\nFROM : ceo@example.com\r\n\r\n", 0,
	     "a@x.test|ceo@example.com"},
	    {"item06_from_with_nbsp_name",
	     "From: a@x.test\r\nFrom\xc2\xa0: ceo@example.com\r\n\r\n", 0,
	     "a@x.test|ceo@example.com"},
	    {"folded field",
	     "From: Alice\r\n <alice@x.test>,\r\n"
	     "\tBob\r\n <bob@y.test>\r\n\r\n",
	     0, "alice@x.test|bob@y.test"},
	    {"LF only", "From: Team: a@x.test,\n b@y.test;\n\nbody", 0,
	     "a@x.test|b@y.test"},
	    {"item06_second_field_empty",
	     "From: a@x.test\r\nFrom: undisclosed:;\r\n\r\n", GW_ERR_PARSE,
	     "From field: no mailbox"},
	    {"item06_second_field_bad",
	     "From: a@x.test\r\nFrom: Alice\r\n\r\n", GW_ERR_PARSE,
	     "a mailbox has no '@'"},
	    {"no From", "To: b@y.test\r\nResent-From: c@z.test\r\n\r\n",
	     GW_ERR_NOT_FOUND, ""},
	};
	struct mime_tree *t;
	struct got g;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		t = parse(c[i].msg);
		memset(&g, 0, sizeof(g));
		gw_err_clear();
		rc = mime_addr_from_each(mime_tree_root(t), collect, &g);
		if (rc != c[i].rc)
			fail_msg("%s: rc %d, wanted %d (%s)", c[i].name, rc,
				 c[i].rc, gw_err_detail());
		if (rc == 0 && strcmp(g.s, c[i].want) != 0)
			fail_msg("%s: got '%s', wanted '%s'", c[i].name, g.s,
				 c[i].want);
		if (rc != 0 && strstr(gw_err_detail(), c[i].want) == NULL)
			fail_msg("%s: detail '%s' lacks '%s'", c[i].name,
				 gw_err_detail(), c[i].want);
		mime_tree_free(t);
	}
	assert_int_equal(mime_addr_from_each(NULL, collect, &g),
			 GW_ERR_NOT_FOUND);
	gw_err_clear();
}

/* The ceiling counts the mailboxes of all From fields together. */
static void
test_from_fields_ceiling(void **state)
{
	char msg[8192];
	struct mime_tree *t;
	struct got g;
	size_t n = 0;
	int f, i;

	(void)state;
	for (f = 0; f < 2; f++) {
		n += (size_t)snprintf(msg + n, sizeof(msg) - n, "From: ");
		for (i = 0; i < MIME_ADDR_MAX / 2 + 1; i++)
			n += (size_t)snprintf(msg + n, sizeof(msg) - n,
					      "%sa%d@x.test", i ? "," : "", i);
		n += (size_t)snprintf(msg + n, sizeof(msg) - n, "\r\n");
	}
	snprintf(msg + n, sizeof(msg) - n, "\r\nbody\r\n");
	t = parse(msg);
	memset(&g, 0, sizeof(g));
	gw_err_clear();
	assert_int_equal(mime_addr_from_each(mime_tree_root(t), collect, &g),
			 GW_ERR_LIMIT);
	assert_int_equal(g.n, MIME_ADDR_MAX);
	mime_tree_free(t);
	gw_err_clear();
}

static void
test_from_one(void **state)
{
	char buf[MIME_ADDR_LEN + 1], small[8];
	struct mime_tree *t;

	(void)state;
	t = parse("From: \"Alice\" <alice@x.test> (hi)\r\n\r\n");
	assert_int_equal(mime_addr_from_one(mime_tree_root(t), buf,
					    sizeof(buf)),
			 0);
	assert_string_equal(buf, "alice@x.test");
	gw_err_clear();
	assert_int_equal(mime_addr_from_one(mime_tree_root(t), small,
					    sizeof(small)),
			 GW_ERR_LIMIT);
	assert_string_equal(small, "");
	mime_tree_free(t);

	t = parse("From: a@x.test, b@x.test\r\n\r\n");
	gw_err_clear();
	assert_int_equal(mime_addr_from_one(mime_tree_root(t), buf,
					    sizeof(buf)),
			 GW_ERR_PARSE);
	assert_substr(gw_err_detail(), "more than one mailbox");
	assert_string_equal(buf, "");
	mime_tree_free(t);

	t = parse("From: a@x.test\r\nFrom: b@x.test\r\n\r\n");
	gw_err_clear();
	assert_int_equal(mime_addr_from_one(mime_tree_root(t), buf,
					    sizeof(buf)),
			 GW_ERR_PARSE);
	mime_tree_free(t);

	t = parse("To: a@x.test\r\n\r\n");
	gw_err_clear();
	assert_int_equal(mime_addr_from_one(mime_tree_root(t), buf,
					    sizeof(buf)),
			 GW_ERR_NOT_FOUND);
	assert_string_equal(gw_err_detail(), "");
	mime_tree_free(t);
	gw_err_clear();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_ceilings),
	    cmocka_unit_test(test_callback_stops),
	    cmocka_unit_test(test_from_fields),
	    cmocka_unit_test(test_from_fields_ceiling),
	    cmocka_unit_test(test_from_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
