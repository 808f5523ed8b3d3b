/*
 * test_mime_codec.c - every base64 instruction-set path against the
 * scalar one (cmocka).
 *
 * mime_base64_set_isa() forces a path; each case runs the same inputs
 * through the scalar path and through the path under test and requires
 * the same return code, length, bytes and flags.  The inputs come from
 * a fixed-seed generator: every length from 0 to a few KiB, then
 * decoder inputs with LF-only and odd line lengths, whitespace, bad
 * bytes, '=' in odd places, truncation and too-small outputs.  Every
 * output buffer is exactly the size given to the codec, followed by
 * guard bytes that must stay untouched.  A path the CPU lacks is
 * skipped; scalar runs everywhere.  The scalar path itself is checked
 * against RFC 4648 vectors and by round trip in test_mime_parser.c.
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
#include "mime_codec.h"

#define GUARD 64
#define GUARD_BYTE 0xa5
#define ENC_LEN_MAX 4200 /* every input length up to this */
#define DEC_ROUNDS 3000	 /* mutated decoder inputs per path */

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static size_t
rnd_below(uint64_t *s, size_t n)
{
	return n == 0 ? 0 : (size_t)(rnd(s) % n);
}

static void
fill_random(uint64_t *s, unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)rnd(s);
}

/* A buffer of n bytes followed by GUARD guard bytes. */
static unsigned char *
guarded(size_t n)
{
	unsigned char *p = malloc(n + GUARD);

	assert_non_null(p);
	memset(p, 0, n);
	memset(p + n, GUARD_BYTE, GUARD);
	return p;
}

static void
assert_guard(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < GUARD; i++)
		if (p[n + i] != GUARD_BYTE)
			fail_msg("write past outsz %zu at +%zu", n, i);
}

static const char *
isa_name(int isa)
{
	switch (isa) {
	case MIME_B64_ISA_SCALAR:
		return "scalar";
	case MIME_B64_ISA_SSSE3:
		return "ssse3";
	case MIME_B64_ISA_AVX2:
		return "avx2";
	default:
		return "auto";
	}
}

static void
set_isa(int isa)
{
	assert_int_equal(mime_base64_set_isa(isa), 0);
	assert_int_equal(mime_base64_isa(), isa);
}

/* The path under test, or skip() when the CPU lacks it. */
static int
isa_or_skip(void **state)
{
	int isa = *(const int *)*state;

	if (mime_base64_set_isa(isa) == GW_ERR_UNSUPPORTED) {
		print_message("%s: not on this CPU, skipped\n", isa_name(isa));
		skip();
	}
	return isa;
}

static int
case_teardown(void **state)
{
	return mime_base64_set_isa(MIME_B64_ISA_AUTO);
}

/* ---- encoding -------------------------------------------------------- */

struct enc_res {
	int rc;
	size_t len;
	unsigned char *out;
	size_t outsz;
};

static void
enc_run(int isa, const unsigned char *in, size_t n, size_t outsz,
	struct enc_res *r)
{
	set_isa(isa);
	r->outsz = outsz;
	r->out = guarded(outsz);
	r->len = (size_t)-1;
	r->rc = mime_base64_encode(in, n, r->out, outsz, &r->len);
	assert_guard(r->out, outsz);
}

/* isa and scalar agree on encoding in[0..n) into outsz bytes. */
static void
enc_compare(int isa, const unsigned char *in, size_t n, size_t outsz)
{
	struct enc_res a, b;

	enc_run(MIME_B64_ISA_SCALAR, in, n, outsz, &a);
	enc_run(isa, in, n, outsz, &b);
	if (a.rc != b.rc)
		fail_msg("%s encode, %zu bytes into %zu: rc %d, scalar %d",
			 isa_name(isa), n, outsz, b.rc, a.rc);
	if (a.rc == 0) {
		if (a.len != b.len)
			fail_msg("%s encode, %zu bytes: length %zu, scalar %zu",
				 isa_name(isa), n, b.len, a.len);
		if (memcmp(a.out, b.out, a.len) != 0)
			fail_msg("%s encode, %zu bytes: output differs",
				 isa_name(isa), n);
	}
	free(a.out);
	free(b.out);
}

static void
test_encode(void **state)
{
	int isa = isa_or_skip(state);
	uint64_t seed = 0x9e3779b97f4a7c15u;
	unsigned char *in = guarded(ENC_LEN_MAX + 57 * 40);
	size_t n, max;

	/* Every length, random bytes, exact-size output; one byte short
	 * must fail the same way. */
	for (n = 0; n <= ENC_LEN_MAX; n++) {
		fill_random(&seed, in, n);
		max = mime_base64_encoded_max(n);
		enc_compare(isa, in, n, max);
		if (max > 0 && n % 7 == 0)
			enc_compare(isa, in, n, max - 1);
	}
	/* Whole lines and a line +-1, 2 around larger sizes. */
	for (n = 57 * 40 - 2; n <= 57 * 40 + 2; n++) {
		fill_random(&seed, in, n);
		enc_compare(isa, in, n, mime_base64_encoded_max(n));
	}
	/* Every byte value in every position of a line. */
	for (n = 0; n < 256; n++) {
		memset(in, (int)n, 57 * 3);
		in[n % 57] = (unsigned char)~n;
		enc_compare(isa, in, 57 * 3, mime_base64_encoded_max(57 * 3));
	}
	/* Unaligned input. */
	fill_random(&seed, in, 57 * 20 + 8);
	for (n = 1; n < 8; n++)
		enc_compare(isa, in + n, 57 * 20 - n,
			    mime_base64_encoded_max(57 * 20 - n));
	free(in);
}

/* ---- decoding -------------------------------------------------------- */

struct dec_res {
	int rc;
	size_t len;
	unsigned flags;
	unsigned char *out;
};

static void
dec_run(int isa, const unsigned char *in, size_t n, size_t outsz,
	struct dec_res *r)
{
	set_isa(isa);
	r->out = guarded(outsz);
	r->len = (size_t)-1;
	r->flags = 0;
	r->rc = mime_base64_decode(in, n, r->out, outsz, &r->len, &r->flags);
	assert_guard(r->out, outsz);
}

/*
 * isa and scalar agree on decoding in[0..n) into outsz bytes (the full
 * mime_base64_decoded_max() when outsz is SIZE_MAX).  Returns the
 * scalar return code.
 */
static int
dec_compare(int isa, const unsigned char *in, size_t n, size_t outsz,
	    const char *what)
{
	struct dec_res a, b;
	int rc;

	if (outsz == SIZE_MAX)
		outsz = mime_base64_decoded_max(n);
	dec_run(MIME_B64_ISA_SCALAR, in, n, outsz, &a);
	dec_run(isa, in, n, outsz, &b);
	if (a.rc != b.rc)
		fail_msg("%s decode (%s), %zu bytes into %zu: rc %d, scalar %d",
			 isa_name(isa), what, n, outsz, b.rc, a.rc);
	if (a.rc == 0) {
		if (a.len != b.len)
			fail_msg("%s decode (%s), %zu bytes: length %zu, "
				 "scalar %zu",
				 isa_name(isa), what, n, b.len, a.len);
		if (memcmp(a.out, b.out, a.len) != 0)
			fail_msg("%s decode (%s), %zu bytes: output differs",
				 isa_name(isa), what, n);
		if (a.flags != b.flags)
			fail_msg("%s decode (%s), %zu bytes: flags %#x, "
				 "scalar %#x",
				 isa_name(isa), what, n, b.flags, a.flags);
	}
	rc = a.rc;
	free(a.out);
	free(b.out);
	return rc;
}

/* Scalar-encoded random bytes: *len characters in a malloc'ed buffer
 * with room for cap more. */
static unsigned char *
encoded(uint64_t *seed, size_t n, size_t *len, size_t cap)
{
	unsigned char *raw = guarded(n);
	size_t max = mime_base64_encoded_max(n);
	unsigned char *enc = guarded(max + cap);

	fill_random(seed, raw, n);
	set_isa(MIME_B64_ISA_SCALAR);
	assert_int_equal(mime_base64_encode(raw, n, enc, max, len), 0);
	free(raw);
	return enc;
}

/* The characters of enc without line ends, as lines of width w ending
 * in eol (w 0: no line ends). */
static size_t
rewrap(const unsigned char *enc, size_t n, size_t w, const char *eol,
       unsigned char *out)
{
	size_t i, o = 0, col = 0, el = strlen(eol);

	for (i = 0; i < n; i++) {
		if (enc[i] == '\r' || enc[i] == '\n')
			continue;
		out[o++] = enc[i];
		if (w > 0 && ++col == w) {
			memcpy(out + o, eol, el);
			o += el;
			col = 0;
		}
	}
	return o;
}

static void
test_decode_clean(void **state)
{
	int isa = isa_or_skip(state);
	uint64_t seed = 0x243f6a8885a308d3u;
	static const size_t widths[] = {0, 4, 16, 60, 64, 72, 75, 76, 77, 100};
	unsigned char *enc, *wrapped;
	size_t n, len, wl, k;
	char what[64];

	for (n = 0; n <= ENC_LEN_MAX; n++) {
		enc = encoded(&seed, n, &len, 0);
		/* As written, 76-column CRLF lines: must decode cleanly. */
		assert_int_equal(dec_compare(isa, enc, len, SIZE_MAX, "crlf"),
				 0);
		/* LF-only and other widths, for some lengths. */
		if (n % 5 == 0 || n < 300) {
			wrapped = guarded(2 * len + 8);
			k = n % (sizeof(widths) / sizeof(widths[0]));
			wl = rewrap(enc, len, widths[k], n % 2 ? "\n" : "\r\n",
				    wrapped);
			snprintf(what, sizeof(what), "width %zu", widths[k]);
			dec_compare(isa, wrapped, wl, SIZE_MAX, what);
			wl = rewrap(enc, len, 76, "\n", wrapped);
			dec_compare(isa, wrapped, wl, SIZE_MAX, "lf");
			free(wrapped);
		}
		free(enc);
	}
}

/* One random change to p[0..*n) (room for 8 more bytes). */
static const char *
mutate(uint64_t *seed, unsigned char *p, size_t *n)
{
	static const unsigned char ws[] = {' ', '\t', '\r', '\n'};
	static const unsigned char odd[] = {'=', '-', '_', '.', ':', 0x00,
					    0x80, 0xff, '\r', '\n', '*'};
	size_t at = rnd_below(seed, *n + 1);

	switch (rnd_below(seed, 7)) {
	case 0: /* whitespace inserted */
		memmove(p + at + 1, p + at, *n - at);
		p[at] = ws[rnd_below(seed, sizeof(ws))];
		(*n)++;
		return "whitespace";
	case 1: /* a byte replaced by any value */
		if (at < *n)
			p[at] = (unsigned char)rnd(seed);
		return "any byte";
	case 2: /* a byte outside the alphabet or '=' inserted */
		memmove(p + at + 1, p + at, *n - at);
		p[at] = odd[rnd_below(seed, sizeof(odd))];
		(*n)++;
		return "odd byte";
	case 3: /* truncated */
		*n = at;
		return "truncated";
	case 4: /* padding in the middle */
		memmove(p + at + 2, p + at, *n - at);
		p[at] = '=';
		p[at + 1] = '=';
		*n += 2;
		return "padding";
	case 5: /* a line end removed */
		for (; at < *n && p[at] != '\n'; at++)
			;
		if (at < *n) {
			memmove(p + at, p + at + 1, *n - at - 1);
			(*n)--;
		}
		return "line end removed";
	default: /* a CR dropped before its LF */
		for (; at < *n && p[at] != '\r'; at++)
			;
		if (at < *n) {
			memmove(p + at, p + at + 1, *n - at - 1);
			(*n)--;
		}
		return "cr removed";
	}
}

static void
test_decode_mutated(void **state)
{
	int isa = isa_or_skip(state);
	uint64_t seed = 0x13198a2e03707344u;
	unsigned char *enc;
	size_t r, n, len, m, outsz, max;
	const char *what = "";
	int rc;

	for (r = 0; r < DEC_ROUNDS; r++) {
		n = r % 3 == 0 ? rnd_below(&seed, 4096) : rnd_below(&seed, 600);
		enc = encoded(&seed, n, &len, 8 * 8);
		/* 1 to 8 changes. */
		for (m = rnd_below(&seed, 8) + 1; m > 0; m--)
			what = mutate(&seed, enc, &len);
		rc = dec_compare(isa, enc, len, SIZE_MAX, what);
		assert_int_equal(rc, 0);
		/* Too-small outputs: the same rc (contents unspecified). */
		max = mime_base64_decoded_max(len);
		outsz = rnd_below(&seed, max + 1);
		dec_compare(isa, enc, len, outsz, what);
		/* From an odd offset. */
		if (len > 3)
			dec_compare(isa, enc + r % 3 + 1, len - r % 3 - 1,
				    SIZE_MAX, what);
		free(enc);
	}
}

static void
test_decode_soup(void **state)
{
	int isa = isa_or_skip(state);
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
				    "opqrstuvwxyz0123456789+/";
	uint64_t seed = 0xa4093822299f31d0u;
	unsigned char *p = guarded(8192);
	size_t r, n, i, out;

	/* Mostly alphabet with a few odd bytes, in valid-looking lines. */
	for (r = 0; r < 2000; r++) {
		n = rnd_below(&seed, 8192);
		for (i = 0; i < n; i++) {
			out = rnd_below(&seed, 1000);
			if (i % 78 == 76)
				p[i] = '\r';
			else if (i % 78 == 77)
				p[i] = '\n';
			else if (out < 2)
				p[i] = (unsigned char)rnd(&seed);
			else if (out < 3)
				p[i] = '=';
			else
				p[i] = (unsigned char)
				    alpha[rnd_below(&seed, sizeof(alpha) - 1)];
		}
		dec_compare(isa, p, n, SIZE_MAX, "soup");
		dec_compare(isa, p, n, rnd_below(&seed, n), "soup, small");
	}
	/* Every byte value at every position of the first lines. */
	for (i = 0; i < 160; i++) {
		for (n = 0; n < 256; n++) {
			for (out = 0; out < 78 * 3; out++)
				p[out] = out % 78 == 76	  ? '\r'
					 : out % 78 == 77 ? '\n'
							  : (unsigned char)
							    alpha[out % 64];
			p[i] = (unsigned char)n;
			dec_compare(isa, p, 78 * 3, SIZE_MAX, "byte at");
		}
	}
	free(p);
}

static void
test_isa_api(void **state)
{
	int best;

	assert_int_equal(mime_base64_set_isa(MIME_B64_ISA_AUTO), 0);
	best = mime_base64_isa();
	assert_true(best >= MIME_B64_ISA_SCALAR && best <= MIME_B64_ISA_AVX2);
	assert_int_equal(mime_base64_set_isa(MIME_B64_ISA_SCALAR), 0);
	assert_int_equal(mime_base64_isa(), MIME_B64_ISA_SCALAR);
	assert_int_equal(mime_base64_set_isa(-1), GW_ERR_INVALID);
	assert_int_equal(mime_base64_set_isa(MIME_B64_ISA_AVX2 + 1),
			 GW_ERR_INVALID);
	assert_int_equal(mime_base64_isa(), MIME_B64_ISA_SCALAR);
	assert_int_equal(mime_base64_set_isa(MIME_B64_ISA_AUTO), 0);
	assert_int_equal(mime_base64_isa(), best);
	print_message("best base64 path on this CPU: %s\n", isa_name(best));
}

int
main(void)
{
	static int isas[] = {MIME_B64_ISA_SCALAR, MIME_B64_ISA_SSSE3,
			     MIME_B64_ISA_AVX2};
	static const struct {
		const char *name;
		CMUnitTestFunction fn;
	} per_isa[] = {
	    {"encode", test_encode},
	    {"decode_clean", test_decode_clean},
	    {"decode_mutated", test_decode_mutated},
	    {"decode_soup", test_decode_soup},
	};
	enum {
		NISA = sizeof(isas) / sizeof(isas[0]),
		NPER = sizeof(per_isa) / sizeof(per_isa[0]),
	};
	static char names[NPER * NISA][48];
	struct CMUnitTest tests[1 + NPER * NISA];
	size_t i, j, t = 0;

	memset(tests, 0, sizeof(tests));
	tests[t].name = "isa_api";
	tests[t].test_func = test_isa_api;
	tests[t++].teardown_func = case_teardown;
	for (i = 0; i < NPER; i++) {
		for (j = 0; j < NISA; j++) {
			snprintf(names[t - 1], sizeof(names[0]), "%s/%s",
				 per_isa[i].name, isa_name(isas[j]));
			tests[t].name = names[t - 1];
			tests[t].test_func = per_isa[i].fn;
			tests[t].teardown_func = case_teardown;
			tests[t++].initial_state = &isas[j];
		}
	}
	return _cmocka_run_group_tests("mime_codec", tests, t, NULL, NULL);
}
