/*
 * test_log.c - table tests for lib/log.c.
 *
 * Each case points fd 2 at a temporary file for the duration of the
 * calls, then compares everything written with the exact expected text:
 * which levels get through, the "ident: " and level prefixes, escaping
 * of bytes taken from input, the cut of an over-long line, the OpenSSL
 * error queue on one line, and the per-message summary line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "unit_util.h"

#include "gw_err.h"
#include "log.h"

/* ---- stderr capture ---------------------------------------------------- */

static FILE *cap_fp;
static int cap_saved = -1;

static void
capture_start(void)
{
	fflush(stderr);
	assert_non_null(cap_fp = tmpfile());
	assert_true((cap_saved = dup(STDERR_FILENO)) >= 0);
	assert_true(dup2(fileno(cap_fp), STDERR_FILENO) >= 0);
}

/* Restores fd 2 and returns what was written (caller frees). */
static char *
capture_end(void)
{
	long n;
	char *s;

	fflush(stderr);
	assert_true(dup2(cap_saved, STDERR_FILENO) >= 0);
	close(cap_saved);
	cap_saved = -1;
	assert_int_equal(fseek(cap_fp, 0, SEEK_END), 0);
	n = ftell(cap_fp);
	assert_true(n >= 0);
	rewind(cap_fp);
	assert_non_null(s = malloc((size_t)n + 1));
	assert_int_equal(fread(s, 1, (size_t)n, cap_fp), (size_t)n);
	s[n] = '\0';
	fclose(cap_fp);
	cap_fp = NULL;
	return s;
}

/* ---- levels ------------------------------------------------------------ */

/* One line at every level; what each configured level lets through. */
static void
log_every_level(void)
{
	log_err("e %d", 1);
	log_warn("w %d", 2);
	log_notice("n %d", 3);
	log_info("i %d", 4);
	log_debug("d %d", 5);
}

#define ALL_E "t: e 1\n"
#define ALL_W "t: warning: w 2\n"
#define ALL_N "t: n 3\n"
#define ALL_I "t: i 4\n"
#define ALL_D "t: debug: d 5\n"

static const struct level_case {
	const char *name;
	int level;
	const char *want;
} level_cases[] = {
	{"error", LOG_LEVEL_ERROR, ALL_E},
	{"warning", LOG_LEVEL_WARNING, ALL_E ALL_W},
	{"notice", LOG_LEVEL_NOTICE, ALL_E ALL_W ALL_N},
	{"info", LOG_LEVEL_INFO, ALL_E ALL_W ALL_N ALL_I},
	{"debug", LOG_LEVEL_DEBUG, ALL_E ALL_W ALL_N ALL_I ALL_D},
	{"below error clamps to error", -5, ALL_E},
	{"above debug clamps to debug", 99, ALL_E ALL_W ALL_N ALL_I ALL_D},
};

static void
test_levels(void **state)
{
	size_t i;
	char *got;

	for (i = 0; i < sizeof(level_cases) / sizeof(level_cases[0]); i++) {
		const struct level_case *c = &level_cases[i];

		log_init("t", 0, c->level);
		capture_start();
		log_every_level();
		got = capture_end();
		if (strcmp(got, c->want) != 0)
			fail_msg("%s: got '%s', want '%s'", c->name, got,
				 c->want);
		free(got);
	}
}

static void
test_log_msg_and_enabled(void **state)
{
	char *got;

	log_init("smimegw message open", 0, LOG_LEVEL_NOTICE);
	assert_int_equal(log_enabled(LOG_LEVEL_NOTICE), 1);
	assert_int_equal(log_enabled(LOG_LEVEL_INFO), 0);
	capture_start();
	log_msg(LOG_LEVEL_NOTICE, "stored %s", "key");
	log_msg(LOG_LEVEL_INFO, "not shown");
	got = capture_end();
	assert_string_equal(got, "smimegw message open: stored key\n");
	free(got);
}

static const struct parse_case {
	const char *text;
	int rc;
	int level;
} parse_cases[] = {
	{"error", 0, LOG_LEVEL_ERROR},
	{"warning", 0, LOG_LEVEL_WARNING},
	{"notice", 0, LOG_LEVEL_NOTICE},
	{"info", 0, LOG_LEVEL_INFO},
	{"debug", 0, LOG_LEVEL_DEBUG},
	{"Info", GW_ERR_INVALID, -1},
	{"warn", GW_ERR_INVALID, -1},
	{"", GW_ERR_INVALID, -1},
	{"info ", GW_ERR_INVALID, -1},
};

static void
test_level_parse(void **state)
{
	size_t i;
	int level, rc;

	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];

		gw_err_clear();
		level = -1;
		rc = log_level_parse(c->text, &level);
		if (rc != c->rc || level != c->level)
			fail_msg("'%s': rc %d level %d, want rc %d level %d",
				 c->text, rc, level, c->rc, c->level);
		if (rc != 0)
			assert_substr(gw_err_detail(), "unknown log level");
		else
			assert_string_equal(log_level_name(level), c->text);
	}
	assert_string_equal(log_level_name(17), "unknown");
}

/* ---- escaping and the cut ---------------------------------------------- */

static const struct escape_case {
	const char *name;
	const char *arg;
	const char *want;
} escape_cases[] = {
	{"plain", "alice@example.com", "t: from alice@example.com\n"},
	{"CR LF cannot start a line", "a\r\nt: forged",
	 "t: from a\\r\\nt: forged\n"},
	{"tab", "a\tb", "t: from a\\tb\n"},
	{"terminal escape", "\x1b[31mred", "t: from \\x1b[31mred\n"},
	{"DEL", "x\x7fy", "t: from x\\x7fy\n"},
	{"8-bit bytes", "caf\xc3\xa9", "t: from caf\\xc3\\xa9\n"},
	{"C1 control", "\xc2\x9b" "2J", "t: from \\xc2\\x9b2J\n"},
	{"backslash stays", "a\\b", "t: from a\\b\n"},
};

static void
test_escaping(void **state)
{
	size_t i;
	char *got;

	log_init("t", 0, LOG_LEVEL_INFO);
	for (i = 0; i < sizeof(escape_cases) / sizeof(escape_cases[0]); i++) {
		const struct escape_case *c = &escape_cases[i];

		capture_start();
		log_info("from %s", c->arg);
		got = capture_end();
		if (strcmp(got, c->want) != 0)
			fail_msg("%s: got '%s', want '%s'", c->name, got,
				 c->want);
		free(got);
	}
}

static void
test_long_line_is_cut(void **state)
{
	char big[3 * LOG_LINE_MAX], *got;
	size_t len;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* Escapes near the end must not be split either. */
	memset(big + LOG_LINE_MAX - 40, '\x01', 40);
	log_init("t", 0, LOG_LEVEL_INFO);
	capture_start();
	log_info("%s", big);
	got = capture_end();
	len = strlen(got);
	assert_true(len <= strlen("t: ") + LOG_LINE_MAX);
	assert_int_equal(strchr(got, '\n') - got, (long)len - 1);
	assert_memory_equal(got + len - 4, "...\n", 4);
	/* Whatever escape precedes the cut is whole. */
	assert_non_null(strstr(got, "\\x01..."));
	free(got);
}

/* ---- OpenSSL errors ---------------------------------------------------- */

static void
test_ssl_queue(void **state)
{
	char *got;

	log_init("t", 0, LOG_LEVEL_WARNING);
	ERR_clear_error();
	ERR_raise(ERR_LIB_EVP, EVP_R_BAD_DECRYPT);
	ERR_raise(ERR_LIB_EVP, EVP_R_UNSUPPORTED_CIPHER);
	capture_start();
	log_ssl(LOG_LEVEL_ERROR, "unwrap for %s", "bob");
	got = capture_end();
	assert_string_equal(got,
			    "t: unwrap for bob: bad decrypt: unsupported cipher\n");
	free(got);
	assert_int_equal(ERR_peek_error(), 0);

	/* A dropped line still drains the queue. */
	ERR_raise(ERR_LIB_EVP, EVP_R_BAD_DECRYPT);
	capture_start();
	log_ssl(LOG_LEVEL_DEBUG, "not shown");
	got = capture_end();
	assert_string_equal(got, "");
	free(got);
	assert_int_equal(ERR_peek_error(), 0);

	/* An empty queue adds nothing. */
	capture_start();
	log_ssl(LOG_LEVEL_ERROR, "nothing queued");
	got = capture_end();
	assert_string_equal(got, "t: nothing queued\n");
	free(got);
}

/* ---- the summary line -------------------------------------------------- */

static const struct log_rcpt two_rcpts[] = {
	{"bob@example.com", "encrypted"},
	{"carol@example.org", "refused"},
};

static const struct log_rcpt odd_rcpts[] = {
	{"\"a b\"@example.com", "signed"},
	{"x\r\nsummary: forged@example.com", "encrypted"},
	{"back\\slash=eq@example.com", ""},
	{NULL, NULL},
};

static const struct summary_case {
	const char *name;
	struct log_summary s;
	const char *want;
} summary_cases[] = {
	{"full",
	 {"4XyZ1", "outbound", "sign-encrypt", "default", "pass", two_rcpts,
	  2},
	 "summary: queue_id=4XyZ1 direction=outbound decision=sign-encrypt "
	 "profile=default smime=pass rcpts=2 to=bob@example.com "
	 "status=encrypted to=carol@example.org status=refused"},
	{"no queue id, unknown fields",
	 {NULL, "inbound", NULL, NULL, "none", NULL, 0},
	 "summary: direction=inbound decision=- profile=- smime=none "
	 "rcpts=0"},
	{"values from input are quoted and escaped",
	 {"Q\t1", "outbound", "sign", "p\"x", "fail", odd_rcpts, 4},
	 "summary: queue_id=\"Q\\t1\" direction=outbound decision=sign "
	 "profile=\"p\\\"x\" smime=fail rcpts=4 "
	 "to=\"\\\"a b\\\"@example.com\" status=signed "
	 "to=\"x\\r\\nsummary: forged@example.com\" status=encrypted "
	 "to=\"back\\\\slash=eq@example.com\" status=\"\" to=- status=-"},
};

static void
test_summary_format(void **state)
{
	char buf[LOG_LINE_MAX];
	size_t i, n;

	for (i = 0; i < sizeof(summary_cases) / sizeof(summary_cases[0]);
	     i++) {
		const struct summary_case *c = &summary_cases[i];

		n = log_summary_format(&c->s, buf, sizeof(buf));
		if (strcmp(buf, c->want) != 0)
			fail_msg("%s:\n got '%s'\nwant '%s'", c->name, buf,
				 c->want);
		assert_int_equal(n, strlen(c->want));
	}
}

static void
test_summary_small_buffer(void **state)
{
	char buf[40];
	size_t n;

	n = log_summary_format(&summary_cases[0].s, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_true(n < sizeof(buf));
	assert_string_equal(buf + n - 3, "...");
	assert_memory_equal(buf, "summary: queue_id=4XyZ1", 23);
}

static void
test_summary_logged(void **state)
{
	char *got;

	log_init("smimegw", 0, LOG_LEVEL_INFO);
	capture_start();
	log_message_summary(&summary_cases[0].s);
	got = capture_end();
	assert_int_equal(strncmp(got, "smimegw: summary: queue_id=4XyZ1 ",
				 33), 0);
	assert_string_equal(got + strlen("smimegw: "),
			    "summary: queue_id=4XyZ1 direction=outbound "
			    "decision=sign-encrypt profile=default smime=pass "
			    "rcpts=2 to=bob@example.com status=encrypted "
			    "to=carol@example.org status=refused\n");
	free(got);

	/* Below info: nothing. */
	log_init("smimegw", 0, LOG_LEVEL_NOTICE);
	capture_start();
	log_message_summary(&summary_cases[0].s);
	got = capture_end();
	assert_string_equal(got, "");
	free(got);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_log_msg_and_enabled),
		cmocka_unit_test(test_level_parse),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_long_line_is_cut),
		cmocka_unit_test(test_ssl_queue),
		cmocka_unit_test(test_summary_format),
		cmocka_unit_test(test_summary_small_buffer),
		cmocka_unit_test(test_summary_logged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
