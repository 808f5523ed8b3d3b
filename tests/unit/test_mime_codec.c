/*
 * test_mime_codec.c - every base64 instruction-set path against the
 * scalar one (cmocka).
 *
 * mime_set_isa() forces a path; each case runs the same inputs
 * through the scalar path and through the path under test and requires
 * the same return code, length, bytes and flags.  The inputs come from
 * a fixed-seed generator: every length from 0 to a few KiB, then
 * decoder inputs with LF-only and odd line lengths, whitespace, bad
 * bytes, '=' in odd places, truncation and too-small outputs.  Every
 * output buffer is exactly the size given to the codec, followed by
 * guard bytes that must stay untouched.  A path the CPU lacks is
 * skipped; scalar runs everywhere.  The scalar path itself is checked
 * against a plain byte-by-byte model of the contract in mime_codec.h
 * (model_decode(), in every comparison), against RFC 4648 vectors and
 * by round trip in test_mime_parser.c.
 *
 * The vector decoders take lines whole once they have seen one line and
 * its line end, so the inputs also have many lines of one length, of
 * lengths that change from line to line, CRLF and LF mixed, whitespace
 * at line ends, a byte of every value at every position of the first
 * lines (the line that teaches the length and the ones taken whole),
 * every prefix (a body cut anywhere), padding cases, and every output
 * size around the exact one.
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
	case MIME_ISA_SCALAR:
		return "scalar";
	case MIME_ISA_SSE2:
		return "sse2";
	case MIME_ISA_SSSE3:
		return "ssse3";
	case MIME_ISA_AVX2:
		return "avx2";
	default:
		return "auto";
	}
}

static void
set_isa(int isa)
{
	assert_int_equal(mime_set_isa(isa), 0);
	assert_int_equal(mime_isa(), isa);
}

/* The path under test, or skip() when the CPU lacks it. */
static int
isa_or_skip(void **state)
{
	int isa = *(const int *)*state;

	if (mime_set_isa(isa) == GW_ERR_UNSUPPORTED) {
		print_message("%s: not on this CPU, skipped\n", isa_name(isa));
		skip();
	}
	return isa;
}

static int
case_teardown(void **state)
{
	return mime_set_isa(MIME_ISA_AUTO);
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

	enc_run(MIME_ISA_SCALAR, in, n, outsz, &a);
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

static const char b64_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * The decoder's contract (mime_codec.h), byte by byte and plainly: SP,
 * HT, CR and LF skipped, other bytes outside the alphabet skipped and
 * flagged, the first '=' ends the data, then the final quantum and what
 * follows the '='.  Writes the decoded bytes to out (room for
 * mime_base64_decoded_max(n)); returns their number.  The decoder
 * returns GW_ERR_LIMIT exactly when that number exceeds outsz.
 */
static size_t
model_decode(const unsigned char *in, size_t n, unsigned char *out,
	     unsigned *flags)
{
	static int alpha_val[256];
	size_t i = 0, o = 0;
	uint32_t acc = 0;
	unsigned q = 0, fl = 0;
	int padded = 0;

	if (alpha_val[0] == 0) {
		for (i = 0; i < 256; i++)
			alpha_val[i] = -1;
		for (i = 0; i < 64; i++)
			alpha_val[(unsigned char)b64_alpha[i]] = (int)i;
		i = 0;
	}
	for (; i < n && !padded; i++) {
		if (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' ||
		    in[i] == '\n')
			continue;
		if (in[i] == '=') {
			padded = 1;
			continue;
		}
		if (alpha_val[in[i]] < 0) {
			fl |= MIME_DEC_BAD_CHAR;
			continue;
		}
		acc = acc << 6 | (uint32_t)alpha_val[in[i]];
		if (++q == 4) {
			out[o++] = (unsigned char)(acc >> 16);
			out[o++] = (unsigned char)(acc >> 8);
			out[o++] = (unsigned char)acc;
			acc = 0;
			q = 0;
		}
	}
	if (q == 0 && padded)
		fl |= MIME_DEC_BAD_CHAR;
	if (q == 1)
		fl |= MIME_DEC_TRUNCATED;
	if (q == 2)
		out[o++] = (unsigned char)(acc >> 4);
	if (q == 3) {
		out[o++] = (unsigned char)(acc >> 10);
		out[o++] = (unsigned char)(acc >> 2);
	}
	if (q >= 2 && !padded)
		fl |= MIME_DEC_NO_PAD;
	for (; padded && i < n; i++) {
		if (in[i] != '=' && in[i] != ' ' && in[i] != '\t' &&
		    in[i] != '\r' && in[i] != '\n') {
			fl |= MIME_DEC_AFTER_PAD;
			break;
		}
	}
	*flags = fl;
	return o;
}

/* The scalar result a equals the model's for in[0..n) into outsz. */
static void
model_check(const unsigned char *in, size_t n, size_t outsz,
	    const struct dec_res *a, const char *what)
{
	unsigned char *m = malloc(mime_base64_decoded_max(n));
	unsigned fl;
	size_t len;

	assert_non_null(m);
	len = model_decode(in, n, m, &fl);
	if (a->rc != (len > outsz ? GW_ERR_LIMIT : 0))
		fail_msg("scalar decode (%s), %zu bytes into %zu: rc %d, "
			 "model %zu bytes",
			 what, n, outsz, a->rc, len);
	if (a->rc == 0 && (a->len != len || memcmp(a->out, m, len) != 0 ||
			   a->flags != fl))
		fail_msg("scalar decode (%s), %zu bytes: %zu bytes flags %#x, "
			 "model %zu bytes flags %#x%s",
			 what, n, a->len, a->flags, len, fl,
			 a->len == len ? " (or the bytes differ)" : "");
	free(m);
}

/*
 * isa and scalar agree on decoding in[0..n) into outsz bytes (the full
 * mime_base64_decoded_max() when outsz is SIZE_MAX), and scalar agrees
 * with model_decode().  Returns the scalar return code.
 */
static int
dec_compare(int isa, const unsigned char *in, size_t n, size_t outsz,
	    const char *what)
{
	struct dec_res a, b;
	int rc;

	if (outsz == SIZE_MAX)
		outsz = mime_base64_decoded_max(n);
	dec_run(MIME_ISA_SCALAR, in, n, outsz, &a);
	model_check(in, n, outsz, &a, what);
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
	set_isa(MIME_ISA_SCALAR);
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

/* ---- lines as the vector decoders take them ------------------------- */

/* A line end other than CRLF and LF, now and then. */
static const char *
odd_eol(uint64_t *seed)
{
	static const char *const eols[] = {" \r\n", "\t\n", "\r\n ", "\n\n",
					   "\r",    "\r\r\n", "\n\r\n", "  "};

	return eols[rnd_below(seed, sizeof(eols) / sizeof(eols[0]))];
}

/*
 * The characters chars[0..n) as lines for layout mode (see
 * test_decode_lines), into out (room for 4 * n + 16).  Returns the
 * length; *clean is 1 when only CRLF and LF were added.
 */
static size_t
relines(uint64_t *seed, const unsigned char *chars, size_t n, unsigned mode,
	unsigned char *out, int *clean)
{
	static const size_t widths[] = {4,  8,  12, 16, 20,  28,  32,  36,
					40, 44, 48, 60, 64,  72,  76,  80,
					92, 96, 128, 200, 500, 996};
	enum { NW = sizeof(widths) / sizeof(widths[0]) };
	size_t i = 0, o = 0, w, k, left = 0;
	size_t fixed = widths[rnd_below(seed, NW)];
	const char *eol = "\r\n";

	*clean = 1;
	if (mode == 6) /* any width, quanta split across lines */
		fixed = rnd_below(seed, 998) + 1;
	while (i < n) {
		w = fixed;
		if (mode == 4) /* every line its own width */
			w = widths[rnd_below(seed, NW)];
		if (mode == 5) { /* runs of 1 to 10 lines of one width */
			if (left == 0) {
				fixed = widths[rnd_below(seed, NW)];
				left = rnd_below(seed, 10) + 1;
			}
			w = fixed;
			left--;
		}
		if (mode == 1)
			eol = "\n";
		else if (mode == 2)
			eol = rnd(seed) % 2 ? "\n" : "\r\n";
		else if (mode == 3 && rnd_below(seed, 20) == 0) {
			eol = odd_eol(seed);
			*clean = 0;
		} else
			eol = "\r\n";
		if (w > n - i)
			w = n - i;
		memcpy(out + o, chars + i, w);
		o += w;
		i += w;
		k = strlen(eol);
		memcpy(out + o, eol, k);
		o += k;
	}
	return o;
}

/*
 * Random bytes encoded, then laid out as lines: mode 0, one width from
 * a list (4 to 996) and CRLF; 1, LF; 2, CRLF or LF at random per line;
 * 3, CRLF with an odd line end (whitespace around it, a blank line, a
 * lone CR) now and then; 4, a width per line; 5, runs of lines of one
 * width; 6, any width from 1 to 998 (lines that split quanta).  Each
 * decodes to the bytes encoded when the line ends were CRLF and LF
 * only, and into the exact output size; one byte less is GW_ERR_LIMIT.
 */
static void
test_decode_lines(void **state)
{
	int isa = isa_or_skip(state);
	uint64_t seed = 0x452821e638d01377u;
	unsigned char *raw, *enc, *chars, *lines;
	size_t r, n, len, cn, ln;
	struct dec_res d;
	unsigned mode;
	int clean;
	char what[64];

	for (r = 0; r < 700; r++) {
		n = r % 10 == 0 ? rnd_below(&seed, 40000)
				: rnd_below(&seed, 6000);
		mode = (unsigned)(r % 7);
		raw = guarded(n);
		fill_random(&seed, raw, n);
		enc = guarded(mime_base64_encoded_max(n));
		set_isa(MIME_ISA_SCALAR);
		assert_int_equal(mime_base64_encode(raw, n, enc,
						    mime_base64_encoded_max(n),
						    &len),
				 0);
		chars = guarded(len);
		cn = rewrap(enc, len, 0, "", chars);
		lines = guarded(4 * cn + 16);
		ln = relines(&seed, chars, cn, mode, lines, &clean);
		snprintf(what, sizeof(what), "lines, mode %u", mode);
		assert_int_equal(dec_compare(isa, lines, ln, SIZE_MAX, what),
				 0);
		dec_compare(isa, lines, ln, n, what);
		if (n > 0)
			dec_compare(isa, lines, ln, n - 1, what);
		if (clean) {
			dec_run(isa, lines, ln, n, &d);
			if (d.rc != 0 || d.len != n || d.flags != 0 ||
			    memcmp(d.out, raw, n) != 0)
				fail_msg("%s decode (%s), %zu bytes: not the "
					 "bytes encoded",
					 isa_name(isa), what, ln);
			free(d.out);
		}
		free(lines);
		free(chars);
		free(enc);
		free(raw);
	}
}

/* Alphabet lines of width w ending in eol, nl of them, into p. */
static size_t
alpha_lines(uint64_t *seed, size_t w, const char *eol, size_t nl,
	    unsigned char *p)
{
	size_t l, k, o = 0, el = strlen(eol);

	for (l = 0; l < nl; l++) {
		for (k = 0; k < w; k++)
			p[o++] = (unsigned char)b64_alpha[rnd_below(seed, 64)];
		memcpy(p + o, eol, el);
		o += el;
	}
	return o;
}

/*
 * In lines of several widths and line ends, a byte of every value
 * replacing each byte of the first four lines (the first teaches the
 * vector decoders the line; the next are taken whole), and some bytes
 * inserted there (which moves the line ends after them).
 */
static void
test_decode_every_byte(void **state)
{
	int isa = isa_or_skip(state);
	static const struct {
		size_t w;
		const char *eol;
		int all; /* all 256 values, or the class edges */
	} fmt[] = {
	    {76, "\r\n", 1}, {64, "\n", 1},    {32, "\r\n", 0},
	    {16, "\n", 0},   {100, "\r\n", 0}, {44, "\n", 0},
	};
	static const unsigned char edges[] = {
	    0x00, 0x09, 0x0a, 0x0d, 0x20, '*', '+', ',', '.', '/', '0',
	    '9',  ':',  '=',  '@',  'A',  'O', 'P', 'Z', '[', '`', 'a',
	    'o',  'p',  'z',  '{',  0x7f, 0x80, 0xab, 0xff};
	static const unsigned char ins[] = {'\r', '\n', ' ', '=', 'A', 0x80};
	uint64_t seed = 0xbe5466cf34e90c6cu;
	unsigned char *base = guarded(6 * 103), *p = guarded(6 * 103 + 1);
	size_t f, len, at, v, nv, span;
	char what[64];

	for (f = 0; f < sizeof(fmt) / sizeof(fmt[0]); f++) {
		len = alpha_lines(&seed, fmt[f].w, fmt[f].eol, 6, base);
		span = 4 * (fmt[f].w + strlen(fmt[f].eol));
		nv = fmt[f].all ? 256 : sizeof(edges);
		snprintf(what, sizeof(what), "byte in %zu%s lines", fmt[f].w,
			 fmt[f].eol[0] == '\r' ? " crlf" : " lf");
		for (at = 0; at < span; at++) {
			for (v = 0; v < nv; v++) {
				memcpy(p, base, len);
				p[at] = fmt[f].all ? (unsigned char)v
						   : edges[v];
				dec_compare(isa, p, len, SIZE_MAX, what);
			}
			for (v = 0; v < sizeof(ins); v++) {
				memcpy(p, base, at);
				p[at] = ins[v];
				memcpy(p + at + 1, base + at, len - at);
				dec_compare(isa, p, len + 1, SIZE_MAX, what);
			}
		}
	}
	free(base);
	free(p);
}

/*
 * Every prefix of a body (cut anywhere: in a line, in its line end),
 * and the body from each of its first 160 offsets (the decoder starts
 * in the middle of a line and of a quantum), CRLF and LF.
 */
static void
test_decode_cuts(void **state)
{
	int isa = isa_or_skip(state);
	uint64_t seed = 0x7bde8f0e2c4a1b93u;
	unsigned char *enc, *lf;
	size_t n, len, ll, k;

	for (n = 700; n <= 702; n++) {
		enc = encoded(&seed, n, &len, 0);
		lf = guarded(2 * len);
		ll = rewrap(enc, len, 76, "\n", lf);
		for (k = 0; k <= len; k++)
			dec_compare(isa, enc, k, SIZE_MAX, "prefix, crlf");
		for (k = 0; k <= ll; k++)
			dec_compare(isa, lf, k, SIZE_MAX, "prefix, lf");
		for (k = 0; k < 160; k++) {
			dec_compare(isa, enc + k, len - k, SIZE_MAX,
				    "from an offset, crlf");
			dec_compare(isa, lf + k, ll - k, SIZE_MAX,
				    "from an offset, lf");
		}
		free(lf);
		free(enc);
	}
}

/*
 * The end of the data: every tail length (0 to 2 spare bytes) after 0 to
 * 3 whole lines, with its padding as written, without it, with one
 * '=' too many, '=' where no quantum is open, whitespace or data or
 * garbage after the padding, and a padding split by a line end.
 */
/*
 * Decoded a piece at a time (mime_base64_dec_*), cut at random points,
 * every text gives what one call gives: bytes, length and flags.
 */
static void
test_decode_pieces(void **state)
{
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
				    "opqrstuvwxyz0123456789+/";
	uint64_t seed = 0x5be0cd19137e2179u;
	unsigned char *p = guarded(4096), *one, *many;
	struct mime_b64_dec d;
	size_t r, n, i, k, at, len1, len, got;
	unsigned fl1, fl;

	(void)isa_or_skip(state);
	one = malloc(mime_base64_decoded_max(4096));
	many = malloc(mime_base64_decoded_max(2 * 4096 + 64));
	assert_non_null(one);
	assert_non_null(many);
	for (r = 0; r < 3000; r++) {
		n = rnd_below(&seed, 4096);
		for (i = 0; i < n; i++) {
			k = rnd_below(&seed, 1000);
			if (i % 78 == 76)
				p[i] = '\r';
			else if (i % 78 == 77)
				p[i] = '\n';
			else if (k < 2)
				p[i] = (unsigned char)rnd(&seed);
			else if (k < 3 && r % 2)
				p[i] = '=';
			else
				p[i] = (unsigned char)
				    alpha[rnd_below(&seed, sizeof(alpha) - 1)];
		}
		fl1 = 0;
		assert_int_equal(mime_base64_decode(p, n, one,
						    mime_base64_decoded_max(n),
						    &len1, &fl1),
				 0);
		mime_base64_dec_init(&d);
		for (at = 0, len = 0; at < n; at += k) {
			k = 1 + rnd_below(&seed, r % 3 == 0 ? 8 : 600);
			if (k > n - at)
				k = n - at;
			assert_int_equal(mime_base64_dec_update(
					     &d, p + at, k, many + len,
					     mime_base64_decoded_max(k + 3),
					     &got),
					 0);
			len += got;
		}
		fl = 0;
		assert_int_equal(mime_base64_dec_final(&d, many + len, 2, &got,
						       &fl),
				 0);
		len += got;
		assert_int_equal(len, len1);
		assert_memory_equal(many, one, len1);
		assert_int_equal(fl, fl1);
	}
	free(one);
	free(many);
	free(p);
}

static void
test_decode_padding(void **state)
{
	int isa = isa_or_skip(state);
	static const char *const tails[] = {
	    "",	     "=",	 "==",	      "===",	"= =",	  "=\r\n=",
	    "=\r\n", "= \t\r\n", "=QUJD",     "==\r\nQUJD\r\n",
	    "=-",    "=\x80",	 "\r\n=\r\n", "A",	"AB=",	  "ABC",
	    "-",     "=\r\n-"};
	uint64_t seed = 0x3f84d5b5b5470917u;
	unsigned char *enc, *p;
	size_t n, len, body, t, tl;
	char what[64];

	for (n = 0; n <= 57 * 3 + 3; n++) {
		enc = encoded(&seed, n, &len, 0);
		p = guarded(len + 32);
		/* The characters without their padding and last line end. */
		body = len;
		while (body > 0 && (enc[body - 1] == '\n' ||
				    enc[body - 1] == '\r' ||
				    enc[body - 1] == '='))
			body--;
		for (t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
			memcpy(p, enc, body);
			tl = strlen(tails[t]);
			memcpy(p + body, tails[t], tl);
			memcpy(p + body + tl, "\r\n", 2);
			snprintf(what, sizeof(what), "%zu bytes, tail %zu", n,
				 t);
			dec_compare(isa, p, body + tl + 2, SIZE_MAX, what);
			dec_compare(isa, p, body + tl, SIZE_MAX, what);
		}
		dec_compare(isa, enc, len, SIZE_MAX, "as written");
		free(p);
		free(enc);
	}
}

/*
 * Every output size from 80 bytes short of the decoded length to 10
 * over it, and the full mime_base64_decoded_max(): the vector stores
 * need room past the bytes they keep, so they give way to narrower ones
 * near the end of out; GW_ERR_LIMIT exactly when the data does not fit.
 */
static void
test_decode_outsz(void **state)
{
	int isa = isa_or_skip(state);
	static const size_t sizes[] = {0,  1,   2,   3,	  4,	56,   57,
				       58, 100, 570, 571, 572, 4095, 4096};
	uint64_t seed = 0x0801f2e2858efc16u;
	unsigned char *enc, *lf;
	size_t k, n, len, ll, outsz;

	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		n = sizes[k];
		enc = encoded(&seed, n, &len, 0);
		lf = guarded(2 * len + 1);
		ll = rewrap(enc, len, 64, "\n", lf);
		for (outsz = n > 80 ? n - 80 : 0; outsz <= n + 10; outsz++) {
			assert_int_equal(dec_compare(isa, enc, len, outsz,
						     "room, crlf"),
					 outsz < n ? GW_ERR_LIMIT : 0);
			dec_compare(isa, lf, ll, outsz, "room, lf");
		}
		dec_compare(isa, enc, len, SIZE_MAX, "room, crlf");
		free(lf);
		free(enc);
	}
}

/* ---- CRLF ----------------------------------------------------------- */

/* mime_crlf_canon_len() by its definition: a bare LF and a lone CR
 * (one not followed by LF, at the end too) each become CRLF. */
static size_t
model_crlf_len(const unsigned char *p, size_t n)
{
	size_t i, len = n;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			len++;
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			len++;
	}
	return len;
}

static void
crlf_check(const unsigned char *p, size_t n)
{
	unsigned char *out = guarded(mime_crlf_max(n));
	size_t want = model_crlf_len(p, n), got = mime_crlf_canon_len(p, n);
	size_t olen = 0;

	if (got != want)
		fail_msg("crlf length of %zu bytes: %zu, model %zu", n, got,
			 want);
	assert_int_equal(mime_crlf_canon(p, n, out, mime_crlf_max(n), &olen),
			 0);
	assert_int_equal(olen, want);
	assert_int_equal(model_crlf_len(out, olen), olen);
	free(out);
}

/*
 * The canonical length (which takes canonical text 16 bytes at a time)
 * against the model and the conversion: canonical lines with CRLF at
 * every position around the block edges, then one defect (a bare LF, a
 * lone CR, a CR dropped or added) at every position; random text of CR,
 * LF and letters.
 */
static void
test_crlf_len(void **state)
{
	uint64_t seed = 0x5a2b8c1d9e0f3a47u;
	unsigned char *base = guarded(2100), *p = guarded(2101);
	size_t n, i, at, w;

	(void)state;
	for (w = 1; w <= 40; w++) {
		for (n = 0, i = 0; n + 2 <= 300; i++) {
			if (i % (w + 2) == w)
				base[n++] = '\r';
			else if (i % (w + 2) == w + 1)
				base[n++] = '\n';
			else
				base[n++] = 'a';
		}
		crlf_check(base, n);
		for (at = 0; at < n; at++) {
			memcpy(p, base, n);
			if (p[at] == '\r')
				p[at] = '\n';
			else
				p[at] = p[at] == '\n' ? '\r' : '\n';
			crlf_check(p, n);
			p[at] = 'x';
			crlf_check(p, n);
			memcpy(p, base, at);
			p[at] = '\r';
			memcpy(p + at + 1, base + at, n - at);
			crlf_check(p, n + 1);
			crlf_check(p, at + 1); /* ends in a CR */
		}
	}
	for (i = 0; i < 3000; i++) {
		n = rnd_below(&seed, i % 10 == 0 ? 2000 : 80);
		for (at = 0; at < n; at++) {
			w = rnd_below(&seed, 10);
			base[at] = w < 2 ? '\r' : w < 4 ? '\n' : 'a';
		}
		crlf_check(base, n);
	}
	free(base);
	free(p);
}

static void
test_isa_api(void **state)
{
	int best;

	assert_int_equal(mime_set_isa(MIME_ISA_AUTO), 0);
	best = mime_isa();
	assert_true(best >= MIME_ISA_SCALAR && best <= MIME_ISA_AVX2);
	assert_int_equal(mime_set_isa(MIME_ISA_SCALAR), 0);
	assert_int_equal(mime_isa(), MIME_ISA_SCALAR);
	assert_int_equal(mime_set_isa(-1), GW_ERR_INVALID);
	assert_int_equal(mime_set_isa(MIME_ISA_AVX2 + 1), GW_ERR_INVALID);
	assert_int_equal(mime_isa(), MIME_ISA_SCALAR);
	assert_int_equal(mime_set_isa(MIME_ISA_AUTO), 0);
	assert_int_equal(mime_isa(), best);
	print_message("best level on this CPU: %s\n", isa_name(best));
}

int
main(void)
{
	static int isas[] = {MIME_ISA_SCALAR, MIME_ISA_SSSE3,
			     MIME_ISA_AVX2};
	static const struct {
		const char *name;
		CMUnitTestFunction fn;
	} per_isa[] = {
	    {"encode", test_encode},
	    {"decode_clean", test_decode_clean},
	    {"decode_mutated", test_decode_mutated},
	    {"decode_soup", test_decode_soup},
	    {"decode_lines", test_decode_lines},
	    {"decode_every_byte", test_decode_every_byte},
	    {"decode_cuts", test_decode_cuts},
	    {"decode_padding", test_decode_padding},
	    {"decode_pieces", test_decode_pieces},
	    {"decode_outsz", test_decode_outsz},
	};
	enum {
		NISA = sizeof(isas) / sizeof(isas[0]),
		NPER = sizeof(per_isa) / sizeof(per_isa[0]),
	};
	static char names[NPER * NISA][48];
	struct CMUnitTest tests[2 + NPER * NISA];
	size_t i, j, t = 0;

	memset(tests, 0, sizeof(tests));
	tests[t].name = "isa_api";
	tests[t].test_func = test_isa_api;
	tests[t++].teardown_func = case_teardown;
	tests[t].name = "crlf_len";
	tests[t++].test_func = test_crlf_len;
	for (i = 0; i < NPER; i++) {
		for (j = 0; j < NISA; j++) {
			snprintf(names[i * NISA + j], sizeof(names[0]), "%s/%s",
				 per_isa[i].name, isa_name(isas[j]));
			tests[t].name = names[i * NISA + j];
			tests[t].test_func = per_isa[i].fn;
			tests[t].teardown_func = case_teardown;
			tests[t++].initial_state = &isas[j];
		}
	}
	return _cmocka_run_group_tests("mime_codec", tests, t, NULL, NULL);
}
