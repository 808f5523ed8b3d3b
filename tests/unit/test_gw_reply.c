/*
 * test_gw_reply.c - the one exit-status and SMTP-reply policy
 * (lib/gw_reply.c) and the field latched with an error detail
 * (lib/gw_err.c): a table of every error code and what a message gets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sysexits.h>

#include <cmocka.h>

#include "gw_err.h"
#include "gw_reply.h"

static const struct {
	const char *name;
	int err;
	int exit_status;
	int smtp;
	const char *enhanced;
} cases[] = {
    {"success", GW_OK, EX_OK, 250, "2.0.0"},
    {"malformed input rejects", GW_ERR_PARSE, EX_DATAERR, 554, "5.6.0"},
    {"a ceiling rejects", GW_ERR_LIMIT, EX_DATAERR, 552, "5.3.4"},
    {"out of memory defers", GW_ERR_NOMEM, EX_TEMPFAIL, 451, "4.3.0"},
    {"store busy defers", GW_ERR_STORE_BUSY, EX_TEMPFAIL, 451, "4.3.0"},
    {"store full defers", GW_ERR_STORE_FULL, EX_TEMPFAIL, 451, "4.3.0"},
    {"token gone defers", GW_ERR_P11_DEVICE_REMOVED, EX_TEMPFAIL, 451,
     "4.3.0"},
    {"session lost defers", GW_ERR_P11_SESSION, EX_TEMPFAIL, 451, "4.3.0"},
    {"a missing profile defers", GW_ERR_CONFIG, EX_TEMPFAIL, 451, "4.3.0"},
    {"not found defers", GW_ERR_NOT_FOUND, EX_TEMPFAIL, 451, "4.3.0"},
    {"an internal error defers", GW_ERR_INTERNAL, EX_TEMPFAIL, 451,
     "4.3.0"},
    {"an unknown code defers", -12345, EX_TEMPFAIL, 451, "4.3.0"},
};

static void
test_reply_table(void **state)
{
	struct gw_reply r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = gw_reply_for_error(cases[i].err);
		print_message("%s\n", cases[i].name);
		assert_int_equal(r.exit_status, cases[i].exit_status);
		assert_int_equal(r.smtp_code, cases[i].smtp);
		assert_string_equal(r.enhanced, cases[i].enhanced);
		assert_int_equal(gw_reply_is_temporary(&r),
				 cases[i].smtp / 100 == 4);
	}
}

static void
test_reply_bounce(void **state)
{
	struct gw_reply r = gw_reply_bounce();

	(void)state;
	assert_int_equal(r.exit_status, EX_UNAVAILABLE);
	assert_int_equal(r.smtp_code, 550);
	assert_string_equal(r.enhanced, "5.7.1");
	assert_false(gw_reply_is_temporary(&r));
}

static void
test_field_latched(void **state)
{
	(void)state;
	gw_err_clear();
	assert_null(gw_err_field());
	assert_int_equal(gw_err_set_at(GW_ERR_INVALID, "country",
				       "'%s' is not a two-letter code", "DEU"),
			 GW_ERR_INVALID);
	/* The first failure stays: a later one changes neither part. */
	gw_err_set_at(GW_ERR_INVALID, "days", "later");
	gw_err_set(GW_ERR_IO, "later still");
	assert_string_equal(gw_err_field(), "country");
	assert_string_equal(gw_err_detail(), "'DEU' is not a two-letter code");
	gw_err_clear();
	assert_null(gw_err_field());
	assert_string_equal(gw_err_detail(), "");
	/* A detail without a field has none. */
	gw_err_set(GW_ERR_IO, "plain");
	assert_null(gw_err_field());
	gw_err_clear();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reply_table),
	    cmocka_unit_test(test_reply_bounce),
	    cmocka_unit_test(test_field_latched),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
