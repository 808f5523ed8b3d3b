/*
 * test_mime_header.c - gateway/mime/mime_header.c: content fields, the
 * header block's length, appending one field (and whether that would
 * change it) and CRLF-canonical bytes,
 * field names and authserv-ids as a lenient reader takes them (the
 * From field's addresses: test_mime_addr.c).  Table tests;
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
#include "mime_codec.h"
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

/*
 * mime_header_field_kept() says 1 exactly when mime_header_add_field()
 * would append the field unchanged: every string of up to 7 bytes over
 * an alphabet of name, colon, blank, CR and LF, with and without canon.
 */
static void
test_field_kept(void **state)
{
	static const unsigned char al[] = {'a', ':', ' ', '\t', '\r', '\n'};
	unsigned char in[7];
	struct gw_buf b;
	size_t n, i, k, total, nal = sizeof(al);
	unsigned long kept = 0;
	int canon, same;

	(void)state;
	for (n = 0; n <= sizeof(in); n++) {
		for (total = 1, i = 0; i < n; i++)
			total *= nal;
		for (k = 0; k < total; k++) {
			size_t v = k;

			for (i = 0; i < n; i++, v /= nal)
				in[i] = al[v % nal];
			for (canon = 0; canon <= 1; canon++) {
				gw_buf_init(&b, 1 << 16);
				assert_int_equal(
				    mime_header_add_field(&b, in, n, canon), 0);
				same = b.len == n &&
				       (n == 0 || memcmp(b.data, in, n) == 0);
				assert_int_equal(
				    mime_header_field_kept(in, n, canon), same);
				kept += (unsigned long)same;
				gw_buf_free(&b);
			}
		}
	}
	assert_true(kept > 1000); /* both answers were seen */
	assert_int_equal(mime_header_field_kept(T("Subject: hi\r\n"), 1), 1);
	assert_int_equal(mime_header_field_kept(T("Subject: a\n"), 1), 0);
	assert_int_equal(mime_header_field_kept(T("Subject: a\n"), 0), 1);
	assert_int_equal(mime_header_field_kept(T("Subject: a\rb\r\n"), 0),
			 0);
}

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

/* One input: mime_header_crlf_canonical() against
 * mime_crlf_canon_len(), and mime_header_add_crlf() (after a prefix
 * already in the buffer) against mime_crlf_canon(). */
static void
crlf_one(const unsigned char *in, size_t n, unsigned long *canon)
{
	unsigned char want[2 * 64 + 2];
	size_t wlen = 0;
	struct gw_buf b;
	int is = mime_crlf_canon_len(in, n) == n;

	assert_true(n <= 64);
	assert_int_equal(mime_header_crlf_canonical(in, n), is);
	*canon += (unsigned long)is;
	assert_int_equal(mime_crlf_canon(in, n, want, sizeof(want), &wlen),
			 0);
	gw_buf_init(&b, 1 << 16);
	assert_int_equal(gw_buf_adds(&b, "P"), 0);
	assert_int_equal(mime_header_add_crlf(&b, in, n), 0);
	assert_int_equal(b.len, 1 + wlen);
	assert_memory_equal(b.data, "P", 1);
	if (wlen > 0)
		assert_memory_equal(b.data + 1, want, wlen);
	assert_int_equal(b.data[b.len], '\0');
	gw_buf_free(&b);
}

/* 40 bytes of 'a' at in + off with a CR or an LF (bits of k) at a, b
 * and c. */
static void
three_marks(unsigned char *in, size_t off, size_t a, size_t b, size_t c,
	    size_t k, unsigned long *canon)
{
	memset(in, 'a', 64);
	in[off + a] = k & 1 ? '\r' : '\n';
	in[off + b] = k & 2 ? '\r' : '\n';
	in[off + c] = k & 4 ? '\r' : '\n';
	crlf_one(in + off, 40, canon);
}

/*
 * The canonical check and copy, 16 bytes at a time, against the codec's
 * byte-by-byte one: every string of up to 10 bytes of a, CR and LF;
 * then 40 bytes of 'a' with CRs and LFs at up to three places (the
 * 16-byte blocks' edges among them), at each of the first 8 offsets.
 */
static void
test_crlf_canonical(void **state)
{
	static const unsigned char al[] = {'a', '\r', '\n'};
	unsigned char in[64];
	unsigned long canon = 0;
	size_t n, i, k, v, total, a, b, c, off;

	(void)state;
	for (n = 0; n <= 10; n++) {
		for (total = 1, i = 0; i < n; i++)
			total *= 3;
		for (k = 0; k < total; k++) {
			for (v = k, i = 0; i < n; i++, v /= 3)
				in[i] = al[v % 3];
			crlf_one(in, n, &canon);
		}
	}
	for (off = 0; off < 8; off++)
		for (a = 0; a < 40; a++)
			for (b = a; b < 40; b++)
				for (c = b; c < 40; c += 7)
					for (k = 0; k < 8; k++)
						three_marks(in, off, a, b, c, k,
							    &canon);
	/* Canonical lines of every length up to 20 across the blocks. */
	for (n = 1; n <= 20; n++)
		for (off = 0; off < 16; off++) {
			memset(in, 'a', sizeof(in));
			for (i = off + n; i + 1 < 64; i += n + 2) {
				in[i] = '\r';
				in[i + 1] = '\n';
			}
			crlf_one(in, 64, &canon);
			crlf_one(in, 62, &canon);
		}
	assert_true(canon > 500); /* both answers were seen */
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
test_name_is(void **state)
{
	static const struct {
		const char *name, *want;
		int is;
	} c[] = {
	    {"From", "From", 1},
	    {"FROM", "From", 1},
	    {"from", "From", 1},
	    {"From ", "From", 1},
	    {" From\t", "From", 1},
	    {"From\xc2\xa0", "From", 1},		/* no-break space */
	    {"\xef\xbb\xbfX-SMIME-Gateway", "X-SMIME-Gateway", 1}, /* BOM */
	    {"x-smime-gateway\xe2\x80\x8b", "X-SMIME-Gateway", 1}, /* ZWSP */
	    {"X-SMIME-Gateway\x0b", "X-SMIME-Gateway", 1},
	    {"X-SMIME-Gateways", "X-SMIME-Gateway", 0},
	    {"X-SMIME-Gate way", "X-SMIME-Gateway", 0},
	    {"Resent-From", "From", 0},
	    {"Fro", "From", 0},
	    {"", "From", 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		if (mime_header_name_is(c[i].name, c[i].want) != c[i].is)
			fail_msg("case %zu: '%s' as '%s' wanted %d", i,
				 c[i].name, c[i].want, c[i].is);
	assert_int_equal(mime_header_name_is(NULL, "From"), 0);
	assert_int_equal(mime_header_blank_len((const unsigned char *)"a", 1),
			 0);
	assert_int_equal(
	    mime_header_blank_len((const unsigned char *)"\xc2\xa0", 2), 2);
	assert_int_equal(
	    mime_header_blank_len((const unsigned char *)"\xc2", 1), 0);
	assert_int_equal(
	    mime_header_blank_len((const unsigned char *)"\xe3\x80\x80", 3),
	    3);
}

/* Item 09: every spelling of our authserv-id a reader could take for
 * it is ours; other ids are not. */
static void
test_authserv_is(void **state)
{
	static const struct {
		const char *value;
		int is;
	} c[] = {
	    {"gw.test; smime=pass", 1},
	    {"GW.TEST; smime=pass", 1},
	    {"gw.test.; smime=pass", 1},		/* trailing dot */
	    {"gw.test..; smime=pass", 1},
	    {"gw.test\xc2\xa0; smime=pass", 1},		/* NBSP after */
	    {"\xc2\xa0gw.test; smime=pass", 1},		/* NBSP before */
	    {"gw.test\xc2\xa0" "1; smime=pass", 1},	/* NBSP, version */
	    {"gw.test\xe2\x80\x8b; smime=pass", 1},	/* zero-width space */
	    {"gw.test\xe3\x80\x80; smime=pass", 1},	/* ideographic space */
	    {"\xef\xbb\xbfgw.test; smime=pass", 1},	/* BOM */
	    {"gw.test\x0b; smime=pass", 1},		/* VT */
	    {"gw.test 1; smime=pass", 1},		/* version */
	    {"gw.test; none", 1},
	    {"gw.test", 1},
	    {"  gw.test  ;smime=pass", 1},
	    {"(c) gw.test; smime=pass", 1},
	    {"(nested (c) \\) ) gw.test (x); smime=pass", 1},
	    {"\"gw.test\"; smime=pass", 1},
	    {"\"gw.test.\"; smime=pass", 1},
	    {"\" gw.test \"; smime=pass", 1},
	    {"\"gw\\.test\"; smime=pass", 1},
	    {"gw(x).test; smime=pass", 1},		/* comment inside */
	    {"gw.test(x); smime=pass", 1},
	    {"gw.test/1; smime=pass", 1},
	    {"gw.test. (c); smime=pass", 1},
	    {"other.example; smime=pass", 0},
	    {"gw.test.example; smime=pass", 0},
	    {"evil.gw.test; smime=pass", 0},
	    {"gw.tes; smime=pass", 0},
	    {"gw.testt; smime=pass", 0},
	    {"other.example; reason=\"gw.test\"", 0},
	    {"; gw.test", 0},
	    {"", 0},
	    {"(gw.test) other.example; smime=pass", 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		if (mime_header_authserv_is(c[i].value, strlen(c[i].value),
					    "gw.test") != c[i].is)
			fail_msg("case %zu: '%s' wanted %d", i, c[i].value,
				 c[i].is);
	/* Our own id with a trailing dot still matches the plain one. */
	assert_int_equal(mime_header_authserv_is("gw.test; a=b", 12,
						 "gw.test."),
			 1);
	assert_int_equal(mime_header_authserv_is("x", 1, NULL), 0);
	assert_int_equal(mime_header_authserv_is("x", 1, ""), 0);
	assert_int_equal(mime_header_authserv_is("", 0, "."), 0);
	/* A NUL ends nothing: what follows is not read as the id. */
	assert_int_equal(mime_header_authserv_is("gw.test\0x", 9, "gw.test"),
			 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_is_content),
	    cmocka_unit_test(test_block_len),
	    cmocka_unit_test(test_add_field),
	    cmocka_unit_test(test_field_kept),
	    cmocka_unit_test(test_add_crlf),
	    cmocka_unit_test(test_crlf_canonical),
	    cmocka_unit_test(test_add_limit),
	    cmocka_unit_test(test_name_is),
	    cmocka_unit_test(test_authserv_is),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
