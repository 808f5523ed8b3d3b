/*
 * test_process_json.c - table tests for gateway/pipeline/process_json.c.
 *
 * Strings: a table of texts put in the "reason" of a result, each with
 * the JSON string it must become (control characters and DEL escaped,
 * bytes that are not UTF-8 as U+FFFD, valid UTF-8 kept).  Documents:
 * whole result.json texts, golden, for an outgoing split delivery, an
 * outgoing bounce and a deferred run.
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

#include "gw_buf.h"
#include "gw_err.h"
#include "process.h"
#include "process_json.h"

#define JSON_MAX ((size_t)1 << 20)

/* ---- strings --------------------------------------------------------- */

struct str_case {
	const char *name;
	const char *in;
	const char *json; /* the string as written, quotes included */
};

static const struct str_case str_cases[] = {
    {"plain ASCII", "no key for b@example.net",
     "\"no key for b@example.net\""},
    {"empty", "", "\"\""},
    {"quote and backslash", "say \"hi\" \\ bye",
     "\"say \\\"hi\\\" \\\\ bye\""},
    {"control characters", "a\x01" "b\tc\nd\re\x1f",
     "\"a\\u0001b\\u0009c\\u000ad\\u000de\\u001f\""},
    {"DEL", "x\x7fy", "\"x\\u007fy\""},
    {"valid UTF-8 kept", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
     "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
    {"Latin-1 byte", "caf\xe9!", "\"caf\\ufffd!\""},
    {"lone continuation byte", "a\x80z", "\"a\\ufffdz\""},
    {"overlong encoding", "\xc0\xaf", "\"\\ufffd\\ufffd\""},
    {"surrogate", "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},
    {"above U+10FFFF", "\xf4\x90\x80\x80",
     "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},
    {"truncated at the end", "ok\xe2\x82", "\"ok\\ufffd\\ufffd\""},
    {"bad byte then quote", "\xff\"", "\"\\ufffd\\\"\""},
};

static void
test_string(void **state)
{
	const struct str_case *c = *state;
	struct process_req req;
	struct process_result res;
	struct gw_buf b;
	char want[512];

	memset(&req, 0, sizeof(req));
	req.direction = PROCESS_INCOMING;
	req.from = "a@example.org";
	process_result_init(&res);
	gw_buf_init(&b, JSON_MAX);
	assert_int_equal(process_json(&req, &res, "deliver", c->in, &b), 0);
	snprintf(want, sizeof(want), "\n  \"reason\": %s,\n", c->json);
	assert_substr((const char *)b.data, want);
	gw_buf_free(&b);
	process_result_free(&res);
}

/* ---- documents ------------------------------------------------------- */

static const char *const split_to[] = {"b@example.net", "c@example.net"};

static const char split_json[] =
    "{\n"
    "  \"direction\": \"outgoing\",\n"
    "  \"decision\": \"deliver\",\n"
    "  \"reason\": \"\",\n"
    "  \"from\": \"a@example.org\",\n"
    "  \"profile\": \"acme\",\n"
    "  \"mode\": \"sign-encrypt\",\n"
    "  \"copies\": [\n"
    "    {\"file\": \"copy-1.eml\", \"applied\": \"sign-encrypt\", "
    "\"bytes\": 3, \"encrypted_to_keys\": 1, \"recipients\": "
    "[\"b@example.net\"]},\n"
    "    {\"file\": \"copy-2.eml\", \"applied\": \"sign\", \"bytes\": 5, "
    "\"recipients\": [\"c@example.net\"]}\n"
    "  ],\n"
    "  \"recipients\": [\n"
    "    {\"address\": \"b@example.net\", \"outcome\": \"protected\", "
    "\"copy\": \"copy-1.eml\", \"key\": \"bob\", \"key_source\": "
    "\"pubkey\", \"match\": \"email\"},\n"
    "    {\"address\": \"c@example.net\", \"outcome\": \"unencrypted\", "
    "\"copy\": \"copy-2.eml\", \"reason\": \"no public key\"}\n"
    "  ],\n"
    "  \"alerts\": []\n"
    "}\n";

static void
test_deliver_split(void **state)
{
	struct process_req req;
	struct process_result res;
	struct process_rcpt rc[2];
	struct gw_buf b;

	memset(&req, 0, sizeof(req));
	req.direction = PROCESS_OUTGOING;
	req.from = "a@example.org";
	req.to = split_to;
	req.nto = 2;
	req.profile = "acme";
	process_result_init(&res);
	res.decision = PROCESS_DELIVER;
	snprintf(res.profile_mode, sizeof(res.profile_mode), "sign-encrypt");
	res.ncopies = 2;
	assert_int_equal(gw_buf_adds(&res.copies[0].msg, "abc"), 0);
	res.copies[0].applied = "sign-encrypt";
	res.copies[0].nkeys = 1;
	assert_int_equal(gw_buf_adds(&res.copies[1].msg, "hello"), 0);
	res.copies[1].applied = "sign";
	memset(rc, 0, sizeof(rc));
	rc[0].address = split_to[0];
	rc[0].outcome = PROCESS_RCPT_PROTECTED;
	rc[0].copy = 1;
	rc[0].has_key = 1;
	rc[0].match.kind = ADDR_MATCH_EMAIL;
	snprintf(rc[0].match.name, sizeof(rc[0].match.name), "bob");
	rc[1].address = split_to[1];
	rc[1].outcome = PROCESS_RCPT_UNENCRYPTED;
	rc[1].copy = 2;
	snprintf(rc[1].reason, sizeof(rc[1].reason), "no public key");
	res.rcpts = rc;
	res.nrcpts = 2;
	gw_buf_init(&b, JSON_MAX);
	assert_int_equal(process_json(&req, &res,
				      process_decision_name(res.decision),
				      res.reason, &b),
			 0);
	assert_string_equal((const char *)b.data, split_json);
	gw_buf_free(&b);
	res.rcpts = NULL; /* on the stack */
	process_result_free(&res);
}

static const char bounce_json[] =
    "{\n"
    "  \"direction\": \"outgoing\",\n"
    "  \"decision\": \"bounce\",\n"
    "  \"reason\": \"no public key for c@example.net\",\n"
    "  \"from\": \"\",\n"
    "  \"profile\": \"acme\",\n"
    "  \"mode\": \"encrypt\",\n"
    "  \"copies\": [],\n"
    "  \"recipients\": [\n"
    "    {\"address\": \"b@example.net\", \"outcome\": \"bounced\", "
    "\"key\": \"*.example.net\", \"key_source\": \"harvested\", "
    "\"match\": \"wildcard\"},\n"
    "    {\"address\": \"c@example.net\", \"outcome\": \"bounced\", "
    "\"reason\": \"no key \\\"here\\\"\\u000a\"}\n"
    "  ],\n"
    "  \"alerts\": []\n"
    "}\n";

static void
test_bounce(void **state)
{
	struct process_req req;
	struct process_result res;
	struct process_rcpt rc[2];
	struct gw_buf b;

	memset(&req, 0, sizeof(req));
	req.direction = PROCESS_OUTGOING;
	req.from = "";
	req.to = split_to;
	req.nto = 2;
	req.profile = "acme";
	process_result_init(&res);
	res.decision = PROCESS_BOUNCE;
	snprintf(res.reason, sizeof(res.reason),
		 "no public key for c@example.net");
	snprintf(res.profile_mode, sizeof(res.profile_mode), "encrypt");
	memset(rc, 0, sizeof(rc));
	rc[0].address = split_to[0];
	rc[0].outcome = PROCESS_RCPT_BOUNCED;
	rc[0].has_key = 1;
	rc[0].match.kind = ADDR_MATCH_WILDCARD;
	rc[0].match.harvested = 1;
	snprintf(rc[0].match.name, sizeof(rc[0].match.name),
		 "*.example.net");
	rc[1].address = split_to[1];
	rc[1].outcome = PROCESS_RCPT_BOUNCED;
	snprintf(rc[1].reason, sizeof(rc[1].reason), "no key \"here\"\n");
	res.rcpts = rc;
	res.nrcpts = 2;
	gw_buf_init(&b, JSON_MAX);
	assert_int_equal(process_json(&req, &res,
				      process_decision_name(res.decision),
				      res.reason, &b),
			 0);
	assert_string_equal((const char *)b.data, bounce_json);
	gw_buf_free(&b);
	res.rcpts = NULL;
	process_result_free(&res);
}

/* process_message() failed: an empty result, no profile. */
static const char defer_json[] =
    "{\n"
    "  \"direction\": \"outgoing\",\n"
    "  \"decision\": \"defer\",\n"
    "  \"reason\": \"token unavailable\",\n"
    "  \"from\": \"a@example.org\",\n"
    "  \"profile\": null,\n"
    "  \"copies\": [],\n"
    "  \"recipients\": [],\n"
    "  \"alerts\": []\n"
    "}\n";

static void
test_defer(void **state)
{
	struct process_req req;
	struct process_result res;
	struct gw_buf b;

	memset(&req, 0, sizeof(req));
	req.direction = PROCESS_OUTGOING;
	req.from = "a@example.org";
	process_result_init(&res);
	gw_buf_init(&b, JSON_MAX);
	assert_int_equal(
	    process_json(&req, &res, "defer", "token unavailable", &b), 0);
	assert_string_equal((const char *)b.data, defer_json);
	gw_buf_free(&b);
	process_result_free(&res);
}

static void
test_copy_name(void **state)
{
	char f[32];

	process_json_copy_name(f, sizeof(f), 0);
	assert_string_equal(f, "copy-1.eml");
	process_json_copy_name(f, sizeof(f), 1);
	assert_string_equal(f, "copy-2.eml");
}

#define NSTR (sizeof(str_cases) / sizeof(str_cases[0]))

int
main(void)
{
	static const struct CMUnitTest docs[] = {
	    cmocka_unit_test(test_deliver_split),
	    cmocka_unit_test(test_bounce),
	    cmocka_unit_test(test_defer),
	    cmocka_unit_test(test_copy_name),
	};
	struct CMUnitTest strs[NSTR];
	size_t i;
	int failed = 0;

	for (i = 0; i < NSTR; i++) {
		memset(&strs[i], 0, sizeof(strs[i]));
		strs[i].name = str_cases[i].name;
		strs[i].test_func = test_string;
		strs[i].initial_state = (void *)&str_cases[i];
	}
	failed += _cmocka_run_group_tests("process_json strings", strs, NSTR,
					  NULL, NULL);
	failed += cmocka_run_group_tests_name("process_json documents", docs,
					      NULL, NULL);
	return failed;
}
