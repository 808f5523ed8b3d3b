/*
 * test_p11_uri.c - table tests for pkcs11/p11_uri.c.
 *
 * Three tables: URIs that parse (every field of the record is asserted,
 * absent ones as NULL), URIs that are refused (the code and the exact
 * latched detail), and p11_uri_format() outputs, golden and then parsed
 * back (format -> parse is the identity on what was formatted).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_err.h"
#include "p11_uri.h"

#define URI_MAX 4096 /* p11_uri.c's ceiling */

#define NOT_SUPP(a)                                                     \
	"PKCS#11 URI: attribute '" a "' is not supported (name the token " \
	"by its label: token=...)"
#define PIN_VALUE                                                       \
	"PKCS#11 URI: attribute 'pin-value' is not supported (the PIN is " \
	"read from pin_file)"

/* A binary id with its length. */
struct bin {
	const char *p;
	size_t len;
};
#define BIN(s) {(s), sizeof(s) - 1}

struct parse_case {
	const char *name;
	const char *uri;
	int rc;
	const char *detail; /* exact; rc != 0 */
	/* rc == 0: the record; NULL means absent */
	const char *token, *manufacturer, *model, *serial, *object, *type;
	struct bin id;	    /* .p NULL: absent */
};

static const struct parse_case parse_cases[] = {
	/* Accepted */
	{.name = "token only",
	 .uri = "pkcs11:token=smimegw", .token = "smimegw"},
	{.name = "every path attribute",
	 .uri = "pkcs11:token=gw;manufacturer=SoftHSM%20project;model=SoftHSM"
		"%20v2;serial=0123abcd;object=sign;type=private;id=%01%02",
	 .token = "gw", .manufacturer = "SoftHSM project",
	 .model = "SoftHSM v2", .serial = "0123abcd", .object = "sign",
	 .type = "private", .id = BIN("\x01\x02")},
	{.name = "attributes in any order",
	 .uri = "pkcs11:type=cert;object=enc;token=gw",
	 .token = "gw", .object = "enc", .type = "cert"},
	{.name = "percent-decoding of reserved characters",
	 .uri = "pkcs11:token=My%20Token%3B%3f%25%2F%3D",
	 .token = "My Token;?%/="},
	{.name = "percent-decoding: lower- and upper-case hex",
	 .uri = "pkcs11:object=%c3%bc%C3%BC", .object = "\xc3\xbc\xc3\xbc"},
	{.name = "percent-decoding: UTF-8 label",
	 .uri = "pkcs11:token=Z%C3%BCrich", .token = "Z\xc3\xbcrich"},
	{.name = "raw UTF-8 label",
	 .uri = "pkcs11:token=Z\xc3\xbcrich", .token = "Z\xc3\xbcrich"},
	{.name = "id: binary with NUL bytes",
	 .uri = "pkcs11:id=%00%FF%00%7f", .id = BIN("\x00\xff\x00\x7f")},
	{.name = "id: unencoded characters are bytes",
	 .uri = "pkcs11:id=ab%63", .id = BIN("abc")},
	{.name = "id: empty",
	 .uri = "pkcs11:token=gw;id=", .token = "gw", .id = BIN("")},
	{.name = "empty value",
	 .uri = "pkcs11:token=", .token = ""},
	{.name = "'=' inside a value",
	 .uri = "pkcs11:object=a=b", .object = "a=b"},
	{.name = "no attributes at all",
	 .uri = "pkcs11:"},
	{.name = "empty segments are skipped",
	 .uri = "pkcs11:;token=gw;;", .token = "gw"},
	{.name = "pin-source query is ignored",
	 .uri = "pkcs11:token=gw?pin-source=file:/etc/smimegw/pin",
	 .token = "gw"},
	{.name = "pin-source twice, with '&'",
	 .uri = "pkcs11:token=gw?pin-source=a&pin-source=b", .token = "gw"},
	{.name = "pin-source in the path is ignored too",
	 .uri = "pkcs11:pin-source=%zz;token=gw", .token = "gw"},
	{.name = "';' in the query is part of the value",
	 .uri = "pkcs11:token=gw?pin-source=a;b", .token = "gw"},
	{.name = "empty query",
	 .uri = "pkcs11:token=gw?", .token = "gw"},

	/* Prefix and size */
	{.name = "NULL string",
	 .uri = NULL, .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI must start with 'pkcs11:'"},
	{.name = "empty string",
	 .uri = "", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI must start with 'pkcs11:'"},
	{.name = "scheme without ':'",
	 .uri = "pkcs11", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI must start with 'pkcs11:'"},
	{.name = "scheme in upper case",
	 .uri = "PKCS11:token=gw", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI must start with 'pkcs11:'"},
	{.name = "leading space",
	 .uri = " pkcs11:token=gw", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI must start with 'pkcs11:'"},
	{.name = "a bare label",
	 .uri = "smimegw", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI must start with 'pkcs11:'"},

	/* Refused attributes */
	{.name = "pin-value in the query",
	 .uri = "pkcs11:token=gw?pin-value=1234", .rc = GW_ERR_UNSUPPORTED,
	 .detail = PIN_VALUE},
	{.name = "pin-value in the path",
	 .uri = "pkcs11:token=gw;pin-value=1234", .rc = GW_ERR_UNSUPPORTED,
	 .detail = PIN_VALUE},
	{.name = "pin-value after pin-source",
	 .uri = "pkcs11:token=gw?pin-source=x&pin-value=1",
	 .rc = GW_ERR_UNSUPPORTED, .detail = PIN_VALUE},
	{.name = "pin-value with an empty value",
	 .uri = "pkcs11:pin-value=", .rc = GW_ERR_UNSUPPORTED,
	 .detail = PIN_VALUE},
	{.name = "slot-id",
	 .uri = "pkcs11:slot-id=0", .rc = GW_ERR_UNSUPPORTED,
	 .detail = NOT_SUPP("slot-id")},
	{.name = "slot-description",
	 .uri = "pkcs11:token=gw;slot-description=x", .rc = GW_ERR_UNSUPPORTED,
	 .detail = NOT_SUPP("slot-description")},
	{.name = "slot-manufacturer",
	 .uri = "pkcs11:slot-manufacturer=x", .rc = GW_ERR_UNSUPPORTED,
	 .detail = NOT_SUPP("slot-manufacturer")},
	{.name = "library-manufacturer",
	 .uri = "pkcs11:library-manufacturer=x", .rc = GW_ERR_UNSUPPORTED,
	 .detail = NOT_SUPP("library-manufacturer")},
	{.name = "library-description",
	 .uri = "pkcs11:library-description=x", .rc = GW_ERR_UNSUPPORTED,
	 .detail = NOT_SUPP("library-description")},
	{.name = "library-version",
	 .uri = "pkcs11:library-version=1.0", .rc = GW_ERR_UNSUPPORTED,
	 .detail = NOT_SUPP("library-version")},
	{.name = "module-name in the query",
	 .uri = "pkcs11:token=gw?module-name=softhsm2",
	 .rc = GW_ERR_UNSUPPORTED, .detail = NOT_SUPP("module-name")},
	{.name = "module-path in the query",
	 .uri = "pkcs11:token=gw?module-path=/usr/lib/softhsm/libsofthsm2.so",
	 .rc = GW_ERR_UNSUPPORTED, .detail = NOT_SUPP("module-path")},
	{.name = "module-path in the path",
	 .uri = "pkcs11:module-path=%2Fx.so;token=gw", .rc = GW_ERR_UNSUPPORTED,
	 .detail = NOT_SUPP("module-path")},
	{.name = "refused attribute is checked before its value",
	 .uri = "pkcs11:slot-id=%zz", .rc = GW_ERR_UNSUPPORTED,
	 .detail = NOT_SUPP("slot-id")},

	/* Malformed */
	{.name = "unknown attribute",
	 .uri = "pkcs11:label=gw", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: unknown attribute 'label'"},
	{.name = "attribute names are case-sensitive",
	 .uri = "pkcs11:Token=gw", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: unknown attribute 'Token'"},
	{.name = "empty attribute name",
	 .uri = "pkcs11:=gw", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: unknown attribute ''"},
	{.name = "unknown query attribute",
	 .uri = "pkcs11:token=gw?pin=1234", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: unknown attribute 'pin'"},
	{.name = "attribute without '='",
	 .uri = "pkcs11:token", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: 'token' has no '='"},
	{.name = "second attribute without '='",
	 .uri = "pkcs11:token=gw;object", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: 'object' has no '='"},
	{.name = "repeated token",
	 .uri = "pkcs11:token=a;token=b", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: attribute 'token' repeated"},
	{.name = "repeated token, same value",
	 .uri = "pkcs11:token=a;token=a", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: attribute 'token' repeated"},
	{.name = "repeated id",
	 .uri = "pkcs11:id=%01;id=%02", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: attribute 'id' repeated"},
	{.name = "repeated type",
	 .uri = "pkcs11:type=cert;type=private", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: attribute 'type' repeated"},
	{.name = "token with %00",
	 .uri = "pkcs11:token=a%00b", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: token contains a NUL byte"},
	{.name = "object with a trailing %00",
	 .uri = "pkcs11:object=key%00", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: object contains a NUL byte"},
	{.name = "bad %-escape: not hex",
	 .uri = "pkcs11:token=g%zzw", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: token: bad %-escape"},
	{.name = "bad %-escape: second digit",
	 .uri = "pkcs11:object=%4g", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: object: bad %-escape"},
	{.name = "bad %-escape: first digit",
	 .uri = "pkcs11:serial=%g4", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: serial: bad %-escape"},
	{.name = "bad %-escape: '%%' is not an escape",
	 .uri = "pkcs11:model=%%41", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: model: bad %-escape"},
	{.name = "bad %-escape in id",
	 .uri = "pkcs11:id=%0x", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: id: bad %-escape"},
	{.name = "truncated %-escape: lone '%'",
	 .uri = "pkcs11:token=gw%", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: token: truncated %-escape"},
	{.name = "truncated %-escape: one digit",
	 .uri = "pkcs11:token=gw%4", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: token: truncated %-escape"},
	{.name = "truncated %-escape before ';'",
	 .uri = "pkcs11:manufacturer=%4;token=gw", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: manufacturer: truncated %-escape"},
	{.name = "truncated %-escape before '?'",
	 .uri = "pkcs11:type=%?pin-source=x", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: type: truncated %-escape"},
	{.name = "first error wins",
	 .uri = "pkcs11:tokn=a;pin-value=1", .rc = GW_ERR_PARSE,
	 .detail = "PKCS#11 URI: unknown attribute 'tokn'"},
};

#define NPARSE (sizeof(parse_cases) / sizeof(parse_cases[0]))

struct format_case {
	const char *name;
	const char *token, *object, *type;
	struct bin id;
	const char *want; /* golden output */
};

static const struct format_case format_cases[] = {
	{.name = "token only", .token = "smimegw",
	 .want = "pkcs11:token=smimegw"},
	{.name = "nothing at all", .want = "pkcs11:"},
	{.name = "object only", .object = "sign",
	 .want = "pkcs11:object=sign"},
	{.name = "type only", .type = "private", .want = "pkcs11:type=private"},
	{.name = "id only", .id = BIN("\x01"), .want = "pkcs11:id=%01"},
	{.name = "every field, in a fixed order",
	 .token = "My Token", .object = "gw key", .id = BIN("\x01\xab"),
	 .type = "private",
	 .want = "pkcs11:token=My%20Token;object=gw%20key;id=%01%AB;"
		 "type=private"},
	{.name = "reserved characters are encoded",
	 .token = "a;b?c%d=e&f/g#h", .want = "pkcs11:token=a%3Bb%3Fc%25d%3De"
					  "%26f%2Fg%23h"},
	{.name = "unreserved characters are kept",
	 .object = "AZaz09-._~", .want = "pkcs11:object=AZaz09-._~"},
	{.name = "UTF-8 is encoded byte by byte",
	 .token = "Z\xc3\xbcrich", .want = "pkcs11:token=Z%C3%BCrich"},
	{.name = "id: every byte is encoded, letters too",
	 .id = BIN("AB\x00z"), .want = "pkcs11:id=%41%42%00%7A"},
	{.name = "id: non-NULL with length 0 is left out",
	 .token = "gw", .id = {"\x01", 0}, .want = "pkcs11:token=gw"},
	{.name = "empty strings are kept",
	 .token = "", .object = "", .type = "",
	 .want = "pkcs11:token=;object=;type="},
	{.name = "control characters and spaces are encoded",
	 .object = "\t \x7f\x01", .want = "pkcs11:object=%09%20%7F%01"},
};

#define NFORMAT (sizeof(format_cases) / sizeof(format_cases[0]))

static int
case_setup(void **state)
{
	(void)state;
	gw_err_clear();
	return 0;
}

static void
assert_str_or_null(const char *got, const char *want, const char *what)
{
	if (want == NULL && got == NULL)
		return;
	if (want == NULL)
		fail_msg("%s: '%s', want absent", what, got);
	if (got == NULL)
		fail_msg("%s: absent, want '%s'", what, want);
	if (strcmp(got, want) != 0)
		fail_msg("%s: '%s', want '%s'", what, got, want);
}

static void
test_parse(void **state)
{
	const struct parse_case *tc = *state;
	struct p11_uri *u = (struct p11_uri *)&u; /* poison */
	int rc;

	rc = p11_uri_parse(tc->uri, &u);
	if (rc != tc->rc)
		fail_msg("rc %d (%s), want %d; detail '%s'", rc,
			 gw_strerror(rc), tc->rc, gw_err_detail());
	if (rc != 0) {
		assert_null(u);
		assert_string_equal(gw_err_detail(), tc->detail);
		return;
	}
	assert_non_null(u);
	assert_string_equal(gw_err_detail(), "");
	assert_str_or_null(u->token, tc->token, "token");
	assert_str_or_null(u->manufacturer, tc->manufacturer, "manufacturer");
	assert_str_or_null(u->model, tc->model, "model");
	assert_str_or_null(u->serial, tc->serial, "serial");
	assert_str_or_null(u->object, tc->object, "object");
	assert_str_or_null(u->type, tc->type, "type");
	if (tc->id.p == NULL) {
		assert_null(u->id);
		assert_int_equal(u->id_len, 0);
	} else {
		assert_non_null(u->id);
		assert_int_equal(u->id_len, tc->id.len);
		assert_memory_equal(u->id, tc->id.p, tc->id.len);
	}
	p11_uri_free(u);
}

static void
test_format(void **state)
{
	const struct format_case *tc = *state;
	struct p11_uri *u = NULL;
	char *s;

	s = p11_uri_format(tc->token, tc->object,
			   (const unsigned char *)tc->id.p, tc->id.len,
			   tc->type);
	assert_non_null(s);
	assert_string_equal(s, tc->want);

	/* And back: format -> parse gives what was formatted. */
	if (p11_uri_parse(s, &u) != 0)
		fail_msg("'%s' does not parse: %s", s, gw_err_detail());
	assert_str_or_null(u->token, tc->token, "token");
	assert_str_or_null(u->object, tc->object, "object");
	assert_str_or_null(u->type, tc->type, "type");
	assert_null(u->manufacturer);
	assert_null(u->model);
	assert_null(u->serial);
	if (tc->id.len == 0) {
		assert_null(u->id);
	} else {
		assert_int_equal(u->id_len, tc->id.len);
		assert_memory_equal(u->id, tc->id.p, tc->id.len);
	}
	p11_uri_free(u);
	free(s);
}

/*
 * Cases that do not fit the tables.
 */

/* Every byte value 1..255 in each string field and 0..255 in the id
 * survives format -> parse, and every buffer is exactly big enough
 * (ASan watches the worst case: every byte encoded). */
static void
test_round_trip_every_byte(void **state)
{
	char str[256];
	unsigned char id[256];
	struct p11_uri *u = NULL;
	char *s;
	int i;

	(void)state;
	for (i = 1; i < 256; i++)
		str[i - 1] = (char)i;
	str[255] = '\0';
	for (i = 0; i < 256; i++)
		id[i] = (unsigned char)i;
	assert_non_null(s = p11_uri_format(str, str, id, sizeof(id), str));
	assert_int_equal(p11_uri_parse(s, &u), 0);
	assert_string_equal(u->token, str);
	assert_string_equal(u->object, str);
	assert_string_equal(u->type, str);
	assert_int_equal(u->id_len, sizeof(id));
	assert_memory_equal(u->id, id, sizeof(id));
	p11_uri_free(u);
	free(s);
}

/* The worst-case expansion of a long label: three bytes per byte. */
static void
test_format_worst_case_size(void **state)
{
	char tok[1001];
	char *s;
	size_t i;

	(void)state;
	memset(tok, 0xff, sizeof(tok) - 1);
	tok[sizeof(tok) - 1] = '\0';
	assert_non_null(s = p11_uri_format(tok, NULL, NULL, 0, NULL));
	assert_int_equal(strlen(s), strlen("pkcs11:token=") + 3 * 1000);
	for (i = strlen("pkcs11:token="); s[i] != '\0'; i += 3)
		assert_memory_equal(s + i, "%FF", 3);
	free(s);
}

/* URIs of exactly URI_MAX bytes parse; one more is a GW_ERR_LIMIT. */
static void
test_length_limit(void **state)
{
	char uri[URI_MAX + 2];
	struct p11_uri *u = NULL;
	size_t pre = strlen("pkcs11:token=");

	(void)state;
	memcpy(uri, "pkcs11:token=", pre);
	memset(uri + pre, 'a', URI_MAX - pre);
	uri[URI_MAX] = '\0';
	assert_int_equal(p11_uri_parse(uri, &u), 0);
	assert_int_equal(strlen(u->token), URI_MAX - pre);
	p11_uri_free(u);

	uri[URI_MAX] = 'a';
	uri[URI_MAX + 1] = '\0';
	u = (struct p11_uri *)&u;
	assert_int_equal(p11_uri_parse(uri, &u), GW_ERR_LIMIT);
	assert_null(u);
	assert_string_equal(gw_err_detail(), "PKCS#11 URI longer than 4096");
}

static void
test_free_null(void **state)
{
	(void)state;
	p11_uri_free(NULL);
}

int
main(void)
{
	static const struct CMUnitTest misc[] = {
	    cmocka_unit_test_setup(test_round_trip_every_byte, case_setup),
	    cmocka_unit_test_setup(test_format_worst_case_size, case_setup),
	    cmocka_unit_test_setup(test_length_limit, case_setup),
	    cmocka_unit_test_setup(test_free_null, case_setup),
	};
	static struct CMUnitTest parse[NPARSE], format[NFORMAT];
	size_t i;
	int failed = 0;

	for (i = 0; i < NPARSE; i++) {
		parse[i].name = parse_cases[i].name;
		parse[i].test_func = test_parse;
		parse[i].setup_func = case_setup;
		parse[i].initial_state = (void *)&parse_cases[i];
	}
	for (i = 0; i < NFORMAT; i++) {
		format[i].name = format_cases[i].name;
		format[i].test_func = test_format;
		format[i].setup_func = case_setup;
		format[i].initial_state = (void *)&format_cases[i];
	}
	failed += _cmocka_run_group_tests("p11_uri_parse", parse, NPARSE, NULL,
					  NULL);
	failed += _cmocka_run_group_tests("p11_uri_format", format, NFORMAT,
					  NULL, NULL);
	failed += _cmocka_run_group_tests("p11_uri_misc", misc,
					  sizeof(misc) / sizeof(misc[0]), NULL,
					  NULL);
	return failed != 0;
}
