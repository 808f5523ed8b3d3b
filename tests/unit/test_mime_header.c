/*
 * test_mime_header.c - gateway/mime/mime_header.c and mime_addr.c:
 * content fields, the header block's length, appending one field and
 * CRLF-canonical bytes, and the From field's addr-spec.  Table tests;
 * inputs are literals with their lengths (they may hold CR, LF, NUL).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "unit_util.h"

#include "gw_buf.h"
#include "gw_err.h"
#include "mime_addr.h"
#include "mime_header.h"

#define T(s) (const unsigned char *)(s), sizeof(s) - 1

static void
test_is_content(void **state)
{
	(void)state;
	assert_int_equal(mime_header_is_content("Content-Type"), 1);
	assert_int_equal(mime_header_is_content("content-transfer-encoding"),
			 1);
	assert_int_equal(mime_header_is_content("CONTENT-"), 1);
	assert_int_equal(mime_header_is_content("Content"), 0);
	assert_int_equal(mime_header_is_content("MIME-Version"), 0);
	assert_int_equal(mime_header_is_content("X-Content-Type"), 0);
	assert_int_equal(mime_header_is_content(""), 0);
	assert_int_equal(mime_header_is_content(NULL), 0);
}

static void
test_block_len(void **state)
{
	static const struct {
		const char *msg;
		size_t len, want;
	} c[] = {
	    {"A: 1\r\nB: 2\r\n\r\nbody", 18, 14},
	    {"A: 1\nB: 2\n\nbody", 15, 11},
	    {"A: 1\n\r\nbody\n\nmore", 17, 7},
	    {"\r\nbody", 6, 2},
	    {"\nbody", 5, 1},
	    {"A: 1\r\nB: 2\r\n", 12, 12},
	    {"A: 1\r\n \r\nB: 2\r\n\r\n", 17, 17},
	    {"A: 1\r\n\r", 7, 7},
	    {"", 0, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		assert_int_equal(mime_header_block_len(
				     (const unsigned char *)c[i].msg, c[i].len),
				 c[i].want);
}

/* Appends in with mime_header_add_field() and compares with want. */
static void
field_case(const unsigned char *in, size_t n, int canon, const char *want,
	   size_t wlen)
{
	struct gw_buf b;

	gw_buf_init(&b, 1 << 16);
	assert_int_equal(mime_header_add_field(&b, in, n, canon), 0);
	assert_int_equal(b.len, wlen);
	if (wlen > 0)
		assert_memory_equal(b.data, want, wlen);
	gw_buf_free(&b);
}

#define FIELD(in, canon, want) field_case(T(in), canon, want, sizeof(want) - 1)

static void
test_add_field(void **state)
{
	(void)state;
	/* As it is when it is one CRLF field. */
	FIELD("Subject: hi\r\n", 1, "Subject: hi\r\n");
	FIELD("Subject: a\r\n b\r\n", 1, "Subject: a\r\n b\r\n");
	/* Bare LF: CRLF with canon, kept without. */
	FIELD("Subject: a\n b\n", 1, "Subject: a\r\n b\r\n");
	FIELD("Subject: a\n b\n", 0, "Subject: a\n b\n");
	/* A lone CR becomes a space. */
	FIELD("Subject: a\rb\r\n", 1, "Subject: a b\r\n");
	FIELD("Subject: a\rb\n", 0, "Subject: a b\n");
	FIELD("Subject: a\r", 1, "Subject: a \r\n");
	/* No line end: one is added. */
	FIELD("Subject: a", 1, "Subject: a\r\n");
	FIELD("Subject: a", 0, "Subject: a\n");
	/* Blanks and lone CRs before the name go. */
	FIELD("  Subject: a\r\n", 1, "Subject: a\r\n");
	FIELD("\r\tX: a\n", 1, "X: a\r\n");
	/* A field that was nothing else goes whole. */
	FIELD(" \r\n", 1, "");
	FIELD("\t\n", 0, "");
	FIELD("  ", 1, "");
	/* Bytes otherwise as they are, NUL and 8-bit included. */
	FIELD("X: \xc3\xa4\x00z\r\n", 1, "X: \xc3\xa4\x00z\r\n");
}

static void
test_add_crlf(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
		size_t wlen;
	} c[] = {
	    {"a\r\nb\r\n", 6, "a\r\nb\r\n", 6},
	    {"a\nb\n", 4, "a\r\nb\r\n", 6},
	    {"a\r\nb\nc", 6, "a\r\nb\r\nc", 7},
	    {"", 0, "", 0},
	};
	struct gw_buf b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		gw_buf_init(&b, 1 << 16);
		assert_int_equal(mime_header_add_crlf(
				     &b, (const unsigned char *)c[i].in,
				     c[i].len),
				 0);
		assert_int_equal(b.len, c[i].wlen);
		if (c[i].wlen > 0)
			assert_memory_equal(b.data, c[i].want, c[i].wlen);
		gw_buf_free(&b);
	}
	/* Appends: what is there stays. */
	gw_buf_init(&b, 1 << 16);
	assert_int_equal(gw_buf_adds(&b, "X"), 0);
	assert_int_equal(mime_header_add_crlf(&b, T("y\n")), 0);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "Xy\r\n", 4);
	gw_buf_free(&b);
}

static void
test_add_limit(void **state)
{
	struct gw_buf b;

	(void)state;
	gw_buf_init(&b, 8);
	assert_int_equal(mime_header_add_field(&b, T("Subject: long\r\n"), 1),
			 GW_ERR_LIMIT);
	gw_buf_free(&b);
	gw_err_clear();
	gw_buf_init(&b, 4);
	assert_int_equal(mime_header_add_crlf(&b, T("abc\ndef\n")),
			 GW_ERR_LIMIT);
	gw_buf_free(&b);
	gw_err_clear();
}

static void
test_addr_from(void **state)
{
	static const struct {
		const char *from, *want;
	} c[] = {
	    {"alice@example.test", "alice@example.test"},
	    {"  alice@example.test (Alice)", "alice@example.test"},
	    {"Alice <alice@example.test>", "alice@example.test"},
	    {"\"A <x@y>\" <alice@example.test>", "alice@example.test"},
	    {"<a@b>, c@d", "a@b"},
	    {"a@b, c@d", "a@b"},
	    {"a@b;", "a@b"},
	    {"Alice Example", ""},
	    {"Alice <alice>", ""},
	    {"<>", ""},
	    {"Alice <alice@example.test", ""},
	    {"", ""},
	};
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		mime_addr_from(c[i].from, buf, sizeof(buf));
		assert_string_equal(buf, c[i].want);
	}
	mime_addr_from(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "");
	/* Too long for the buffer: none. */
	mime_addr_from("abcdef@example.test", buf, 10);
	assert_string_equal(buf, "");
	mime_addr_from("abc@e.t", buf, 8);
	assert_string_equal(buf, "abc@e.t");
	mime_addr_from("abcd@e.t", buf, 8);
	assert_string_equal(buf, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_is_content),
	    cmocka_unit_test(test_block_len),
	    cmocka_unit_test(test_add_field),
	    cmocka_unit_test(test_add_crlf),
	    cmocka_unit_test(test_add_limit),
	    cmocka_unit_test(test_addr_from),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
