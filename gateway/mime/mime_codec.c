/*
 * mime_codec.c - base64, quoted-printable, CRLF canonicalisation, and
 * RFC 2047 / charset decoding to display UTF-8.  See mime_codec.h.
 */
#include "mime_codec.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "gw_err.h"

/* Base64 alphabet value, or one of these classes. */
#define B64_BAD 0xffu
#define B64_WS 0xfeu
#define B64_PAD 0xfdu

static const unsigned char b64_val[256] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xfe, 0xfe, 0xff, 0xff, 0xfe, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0x3e, 0xff, 0xff, 0xff, 0x3f,
	0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b,
	0x3c, 0x3d, 0xff, 0xff, 0xff, 0xfd, 0xff, 0xff,
	0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
	0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
	0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
	0x17, 0x18, 0x19, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
	0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
	0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30,
	0x31, 0x32, 0x33, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

/*
 * Decoding tables: the value of each alphabet byte pre-shifted to its
 * place in a 24-bit group, and bit 24 set for everything else, so that
 * a quantum is four loads, three ORs and one test.  Built at compile
 * time from B64V().
 */
#define B64V(c)                                                              \
	((c) >= 'A' && (c) <= 'Z'   ? (c) - 'A'                              \
	 : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26                         \
	 : (c) >= '0' && (c) <= '9' ? (c) - '0' + 52                         \
	 : (c) == '+'		    ? 62                                     \
	 : (c) == '/'		    ? 63                                     \
				    : -1)
#define B64T(c, sh)                                                          \
	(B64V(c) < 0 ? 0x01000000u : (uint32_t)B64V(c) << (sh))
#define B64R(b, sh)                                                          \
	B64T(b, sh), B64T(b + 1, sh), B64T(b + 2, sh), B64T(b + 3, sh),     \
	    B64T(b + 4, sh), B64T(b + 5, sh), B64T(b + 6, sh),               \
	    B64T(b + 7, sh), B64T(b + 8, sh), B64T(b + 9, sh),               \
	    B64T(b + 10, sh), B64T(b + 11, sh), B64T(b + 12, sh),            \
	    B64T(b + 13, sh), B64T(b + 14, sh), B64T(b + 15, sh)
#define B64TAB(sh)                                                           \
	{                                                                    \
		B64R(0, sh), B64R(16, sh), B64R(32, sh), B64R(48, sh),       \
		    B64R(64, sh), B64R(80, sh), B64R(96, sh), B64R(112, sh), \
		    B64R(128, sh), B64R(144, sh), B64R(160, sh),             \
		    B64R(176, sh), B64R(192, sh), B64R(208, sh),             \
		    B64R(224, sh), B64R(240, sh)                             \
	}

static const uint32_t b64_d0[256] = B64TAB(18);
static const uint32_t b64_d1[256] = B64TAB(12);
static const uint32_t b64_d2[256] = B64TAB(6);
static const uint32_t b64_d3[256] = B64TAB(0);

static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static const char hex_upper[] = "0123456789ABCDEF";

/* windows-1252 0x80..0x9f; the undefined slots map to U+FFFD. */
static const uint16_t cp1252_c1[32] = {
	0x20ac, 0xfffd, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0xfffd, 0x017d, 0xfffd,
	0xfffd, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0xfffd, 0x017e, 0x0178,
};

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int
bad_args(const void *in, size_t inlen, const void *out, size_t outsz,
	 const size_t *outlen)
{
	return (in == NULL && inlen > 0) || (out == NULL && outsz > 0) ||
	       outlen == NULL;
}

/* ---- instruction-set paths (mime_isa) ------------------------------- */

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define MIME_X86 1
#endif
#if defined(MIME_X86) || defined(__SSE2__)
#include <immintrin.h>
#endif

/* MIME_ISA_*: the level forced by mime_set_isa(), or AUTO. */
static _Atomic int isa_forced = MIME_ISA_AUTO;

/* 1 when the CPU (and the build) has that level. */
static int
isa_cpu_has(int isa)
{
	switch (isa) {
	case MIME_ISA_SCALAR:
		return 1;
#ifdef MIME_X86
	case MIME_ISA_SSE2:
		return __builtin_cpu_supports("sse2");
	case MIME_ISA_SSSE3:
		return __builtin_cpu_supports("ssse3");
	case MIME_ISA_AVX2:
		return __builtin_cpu_supports("avx2");
#endif
	default:
		return 0;
	}
}

/* The best level the CPU has. */
static int
isa_cpu_best(void)
{
	int isa = MIME_ISA_AVX2;

	while (isa > MIME_ISA_SCALAR && !isa_cpu_has(isa))
		isa--;
	return isa;
}

int
mime_set_isa(int isa)
{
	int r = GW_ERR_INVALID;

	if (isa < MIME_ISA_AUTO || isa > MIME_ISA_AVX2)
		goto out;
	r = GW_ERR_UNSUPPORTED;
	if (isa != MIME_ISA_AUTO && !isa_cpu_has(isa))
		goto out;
	atomic_store_explicit(&isa_forced, isa, memory_order_relaxed);
	r = 0;
out:
	return r;
}

int
mime_isa(void)
{
	int f = atomic_load_explicit(&isa_forced, memory_order_relaxed);

	return f != MIME_ISA_AUTO ? f : isa_cpu_best();
}

/* ---- base64 ---------------------------------------------------------- */

size_t
mime_base64_decoded_max(size_t inlen)
{
	return inlen / 4 * 3 + 3;
}

/*
 * Vector blocks (x86 only, chosen at run time): the same work as the
 * 32-bit tables and b64_quantum(), on 16 input bytes at a time (SSSE3)
 * or 32 (AVX2), a decoded block taken only up to its first byte outside
 * the alphabet, in whole quanta.  b64_simd() says which path to take:
 * the best that mime_isa() allows; every caller keeps the scalar path
 * for the rest.
 */
enum b64_simd {
	B64_SCALAR,
	B64_SSSE3,
	B64_AVX2,
};

static enum b64_simd
b64_simd(void)
{
	int isa = mime_isa();

	if (isa >= MIME_ISA_AVX2)
		return B64_AVX2;
	if (isa >= MIME_ISA_SSSE3)
		return B64_SSSE3;
	return B64_SCALAR;
}

/*
 * A MIME line as base64 encoders write it: 76 characters, then CRLF.
 * The scalar fast path takes such a line whole, with one validity test;
 * the vector ones take lines of any length so, and have a copy of their
 * lines loop unrolled for this one.
 */
#define B64_LINE 76
/*
 * How far ahead of the line being decoded its input is fetched into the
 * cache.  A large body comes from memory, not the cache: measured on
 * 13.7 MB of mail-formatted base64 decoded in 32 KiB pieces (the
 * streamed decryption), 2 KiB ahead took the AVX2 path from 6-7 GB/s
 * to 9-10 GB/s; 1 KiB and 4 KiB did less.
 */
#define B64_PREFETCH 2048

static int
b64_crlf_line(const unsigned char *in, size_t inlen, size_t i)
{
	return inlen - i >= B64_LINE + 2 && in[i + B64_LINE] == '\r' &&
	       in[i + B64_LINE + 1] == '\n';
}

/*
 * Whole quanta of four alphabet bytes at in + i, through the 32-bit
 * tables, as many as there are and as out has room for: the number of
 * input bytes taken (a multiple of 4).
 */
static inline size_t
b64_dec_quanta(const unsigned char *in, size_t inlen, size_t i,
	       unsigned char *out, size_t outsz, size_t o)
{
	size_t n = 0;
	uint32_t w;

	while (inlen - i - n >= 4 && outsz - o >= 3) {
		w = b64_d0[in[i + n]] | b64_d1[in[i + n + 1]] |
		    b64_d2[in[i + n + 2]] | b64_d3[in[i + n + 3]];
		if (w >> 24)
			break;
		out[o] = (unsigned char)(w >> 16);
		out[o + 1] = (unsigned char)(w >> 8);
		out[o + 2] = (unsigned char)w;
		n += 4;
		o += 3;
	}
	return n;
}

/* The index after the whitespace (SP, HT, CR, LF) at in + i. */
static inline size_t
b64_skip_ws(const unsigned char *in, size_t inlen, size_t i)
{
	while (i < inlen && b64_val[in[i]] == B64_WS)
		i++;
	return i;
}

#ifdef MIME_X86
/*
 * Legacy SSE and AVX: a function compiled for SSSE3 uses the legacy
 * (non-VEX) encoding of the SSE instructions, and legacy SSE code run
 * while the upper halves of the ymm registers are dirty costs an
 * AVX-SSE transition (a state save and restore per transition on some
 * CPUs, a false dependency per instruction on others: up to 11x
 * slower, docs/performance.md).  So the helpers shared by the SSSE3 and the AVX2
 * paths are always inlined, and each caller compiles them for its own
 * target (VEX-encoded in the AVX2 ones); no AVX2 function calls a
 * function compiled for SSSE3, and every AVX2 function ends with
 * vzeroupper, so the code after it (ours, the C library's, OpenSSL's)
 * starts clean.
 */
#define B64_SHARED                                                           \
	__attribute__((target("ssse3"), always_inline)) static inline

/*
 * Vector decoding, a block of 16 bytes (SSSE3) or 32 (AVX2) at a time,
 * three table lookups (pshufb) per block:
 *
 * - Which bytes are outside the alphabet.  The high nibble of a byte
 *   picks its class (a bit): 2 ('+' and '/' live there), 3 (digits),
 *   4 and 6 (letters from 1), 5 and 7 (letters up to 0xA), anything
 *   else (no alphabet byte).  The low nibble picks the classes in which
 *   it is not an alphabet byte.  The byte is bad when the two share a
 *   bit.  Bytes from 0x80 have high nibbles 8-F, the last class.
 * - Each byte's 6-bit value: the byte plus an offset picked by its high
 *   nibble, where '/' (high nibble 2, like '+') takes slot 1 instead.
 *   The offsets of bad bytes do not matter: what they decode to is
 *   never taken.
 * - The four values of each quantum (a 32-bit lane) to its three
 *   bytes, as b64_dec_pack16() does.
 */
#define B64_DEC_BAD_LO                                                       \
	0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13,    \
	    0x1a, 0x1b, 0x1b, 0x1b, 0x1a
#define B64_DEC_CLASS_HI                                                     \
	0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10,    \
	    0x10, 0x10, 0x10, 0x10, 0x10
#define B64_DEC_OFFSET                                                       \
	0, 63 - '/', 62 - '+', 52 - '0', -'A', -'A', 26 - 'a', 26 - 'a', 0,  \
	    0, 0, 0, 0, 0, 0, 0

/*
 * Four 6-bit values per 32-bit lane (a, b, c, d in memory order) to the
 * 24-bit group a<<18 | b<<12 | c<<6 | d, then its three bytes, most
 * significant first, packed into the low 12 bytes.
 */
B64_SHARED __m128i
b64_dec_pack16(__m128i vals)
{
	__m128i t;

	t = _mm_maddubs_epi16(vals, _mm_set1_epi16(0x0140));
	t = _mm_madd_epi16(t, _mm_set1_epi32(0x00011000));
	return _mm_shuffle_epi8(t, _mm_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8,
						 14, 13, 12, -1, -1, -1, -1));
}

/*
 * 16 input bytes at in to 12 output bytes at out (16 written).  Returns
 * a vector that is zero in the bytes of the alphabet, non-zero in the
 * others; the output of a quantum holding one of those is garbage.
 */
B64_SHARED __m128i
b64_dec16(const unsigned char *in, unsigned char *out)
{
	__m128i v, hi, lo, bad, vals;

	v = _mm_loadu_si128((const __m128i *)(const void *)in);
	hi = _mm_and_si128(_mm_srli_epi32(v, 4), _mm_set1_epi8(0x0f));
	lo = _mm_and_si128(v, _mm_set1_epi8(0x0f));
	bad = _mm_and_si128(
	    _mm_shuffle_epi8(_mm_setr_epi8(B64_DEC_BAD_LO), lo),
	    _mm_shuffle_epi8(_mm_setr_epi8(B64_DEC_CLASS_HI), hi));
	hi = _mm_add_epi8(hi, _mm_cmpeq_epi8(v, _mm_set1_epi8('/')));
	vals = _mm_add_epi8(
	    v, _mm_shuffle_epi8(_mm_setr_epi8(B64_DEC_OFFSET), hi));
	_mm_storeu_si128((__m128i *)(void *)out, b64_dec_pack16(vals));
	return bad;
}

/* A bit per byte that b64_dec16()'s result marks (bit 0: the first). */
B64_SHARED unsigned
b64_bad16(__m128i bad)
{
	return ~(unsigned)_mm_movemask_epi8(
		   _mm_cmpeq_epi8(bad, _mm_setzero_si128())) &
	       0xffffu;
}

/*
 * Lines of len alphabet bytes each (len a multiple of 4, at least 16),
 * each followed by the same line end of eollen bytes, "\n" or "\r\n".
 * Each line is decoded in 16-byte blocks, the last of which ends where
 * the line does (it may overlap the one before), and tested once.
 * Stops before the first line that is not such, or does not fit.
 */
B64_SHARED void
b64_dec_lines16(const unsigned char *in, size_t inlen, size_t *ip,
		unsigned char *out, size_t outsz, size_t *op, size_t len,
		size_t eollen)
{
	size_t i = *ip, o = *op, k, last = len - 16;
	__m128i bad;

	while (inlen - i >= len + eollen && outsz - o >= len / 4 * 3 + 4 &&
	       in[i + len + eollen - 1] == '\n' &&
	       (eollen == 1 || in[i + len] == '\r')) {
		_mm_prefetch((const char *)in + i + B64_PREFETCH, _MM_HINT_T0);
		bad = _mm_setzero_si128();
		for (k = 0; k < last; k += 16)
			bad = _mm_or_si128(
			    bad, b64_dec16(in + i + k, out + o + k / 4 * 3));
		bad = _mm_or_si128(
		    bad, b64_dec16(in + i + last, out + o + last / 4 * 3));
		if (b64_bad16(bad) != 0)
			break;
		i += len + eollen;
		o += len / 4 * 3;
	}
	*ip = i;
	*op = o;
}

/*
 * After a block whose first byte outside the alphabet is at in + *ip +
 * p, in a line that started at line: the block's whole quanta are
 * taken.  Returns 0 to stop, at the last quantum boundary, for the
 * careful path.  When that byte starts whitespace at a quantum
 * boundary, the whitespace is skipped; then 2 when it was a line end
 * ("\n" or "\r\n") after a line of 16 or more alphabet bytes (whose
 * sizes are then in *len and *eollen, for the lines loop), else 1.
 */
static inline int
b64_dec_after(const unsigned char *in, size_t inlen, size_t *ip, size_t *op,
	      size_t p, size_t line, size_t *len, size_t *eollen)
{
	size_t i = *ip + (p & ~(size_t)3), j;

	*op += p / 4 * 3;
	*ip = i;
	if (p & 3)
		return 0;
	if ((j = b64_skip_ws(in, inlen, i)) == i)
		return 0;
	*ip = j;
	*len = i - line;
	*eollen = j - i;
	if (*len >= 16 && *len % 4 == 0 && in[j - 1] == '\n' &&
	    (*eollen == 1 || (*eollen == 2 && in[i] == '\r')))
		return 2;
	return 1;
}

/*
 * The vector fast path, from a quantum boundary: runs of alphabet bytes
 * in blocks, each run ending in whitespace at a quantum boundary, which
 * is skipped.  Once a line and its line end are found, the lines after
 * it that have the same length and line end are taken whole (the lines
 * loop), so mail's lines (76 characters and CRLF, or any other length
 * that is a multiple of 4, CRLF or LF) take no per-byte pass and one
 * test per line.  The end of the input (or of out's room) is taken in
 * 16-byte blocks and then quanta.  Stops at anything else (a byte
 * outside the alphabet, '=', a line that splits a quantum) with *ip and
 * *op at a quantum boundary, where the careful path goes on.
 */
__attribute__((target("ssse3"))) static void
b64_dec_ssse3(const unsigned char *in, size_t inlen, size_t *ip,
	      unsigned char *out, size_t outsz, size_t *op)
{
	size_t i = *ip, o = *op, line = i, len, eollen, p;
	unsigned bad;
	int r;

	for (;;) {
		if (inlen - i >= 16 && outsz - o >= 16) {
			bad = b64_bad16(b64_dec16(in + i, out + o));
			if (bad == 0) {
				i += 16;
				o += 12;
				continue;
			}
			p = (size_t)__builtin_ctz(bad);
		} else {
			p = b64_dec_quanta(in, inlen, i, out, outsz, o);
		}
		r = b64_dec_after(in, inlen, &i, &o, p, line, &len, &eollen);
		if (r == 0)
			break;
		if (r == 2 && len == B64_LINE) /* unrolled for mail's lines */
			b64_dec_lines16(in, inlen, &i, out, outsz, &o, B64_LINE,
					eollen);
		else if (r == 2)
			b64_dec_lines16(in, inlen, &i, out, outsz, &o, len,
					eollen);
		line = i;
	}
	*ip = i;
	*op = o;
}

/*
 * 32 input bytes at in to 24 output bytes at out (32 written), as
 * b64_dec16() does per 128-bit lane, then the two lanes' 12 bytes
 * joined.  Returns the same marks as b64_dec16().
 */
__attribute__((target("avx2"), always_inline)) static inline __m256i
b64_dec32(const unsigned char *in, unsigned char *out)
{
	__m256i v, hi, lo, bad, vals, t;

	v = _mm256_loadu_si256((const __m256i *)(const void *)in);
	hi = _mm256_and_si256(_mm256_srli_epi32(v, 4), _mm256_set1_epi8(0x0f));
	lo = _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
	bad = _mm256_and_si256(
	    _mm256_shuffle_epi8(
		_mm256_setr_epi8(B64_DEC_BAD_LO, B64_DEC_BAD_LO), lo),
	    _mm256_shuffle_epi8(
		_mm256_setr_epi8(B64_DEC_CLASS_HI, B64_DEC_CLASS_HI), hi));
	hi = _mm256_add_epi8(hi, _mm256_cmpeq_epi8(v, _mm256_set1_epi8('/')));
	vals = _mm256_add_epi8(
	    v, _mm256_shuffle_epi8(
		   _mm256_setr_epi8(B64_DEC_OFFSET, B64_DEC_OFFSET), hi));
	t = _mm256_maddubs_epi16(vals, _mm256_set1_epi16(0x0140));
	t = _mm256_madd_epi16(t, _mm256_set1_epi32(0x00011000));
	t = _mm256_shuffle_epi8(
	    t, _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1,
				-1, -1, 2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12,
				-1, -1, -1, -1));
	t = _mm256_permutevar8x32_epi32(
	    t, _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7));
	_mm256_storeu_si256((__m256i *)(void *)out, t);
	return bad;
}

/* b64_dec_lines16() with 32-byte blocks, for lines of 32 or more. */
__attribute__((target("avx2"), always_inline)) static inline void
b64_dec_lines32(const unsigned char *in, size_t inlen, size_t *ip,
		unsigned char *out, size_t outsz, size_t *op, size_t len,
		size_t eollen)
{
	size_t i = *ip, o = *op, k, last = len - 32;
	__m256i bad;

	while (inlen - i >= len + eollen && outsz - o >= len / 4 * 3 + 8 &&
	       in[i + len + eollen - 1] == '\n' &&
	       (eollen == 1 || in[i + len] == '\r')) {
		_mm_prefetch((const char *)in + i + B64_PREFETCH, _MM_HINT_T0);
		bad = _mm256_setzero_si256();
		for (k = 0; k < last; k += 32)
			bad = _mm256_or_si256(
			    bad, b64_dec32(in + i + k, out + o + k / 4 * 3));
		bad = _mm256_or_si256(
		    bad, b64_dec32(in + i + last, out + o + last / 4 * 3));
		if (!_mm256_testz_si256(bad, bad))
			break;
		i += len + eollen;
		o += len / 4 * 3;
	}
	*ip = i;
	*op = o;
}

/*
 * b64_dec_ssse3() with 32-byte blocks, then 16-byte ones (VEX-encoded
 * here, see B64_SHARED) and quanta; vzeroupper once at the end.
 */
__attribute__((target("avx2"))) static void
b64_dec_avx2(const unsigned char *in, size_t inlen, size_t *ip,
	     unsigned char *out, size_t outsz, size_t *op)
{
	size_t i = *ip, o = *op, line = i, len, eollen, p;
	uint32_t bad;
	int r;

	for (;;) {
		if (inlen - i >= 32 && outsz - o >= 32) {
			bad = ~(uint32_t)_mm256_movemask_epi8(
			    _mm256_cmpeq_epi8(b64_dec32(in + i, out + o),
					      _mm256_setzero_si256()));
			if (bad == 0) {
				i += 32;
				o += 24;
				continue;
			}
			p = (size_t)__builtin_ctz(bad);
		} else if (inlen - i >= 16 && outsz - o >= 16) {
			bad = b64_bad16(b64_dec16(in + i, out + o));
			if (bad == 0) {
				i += 16;
				o += 12;
				continue;
			}
			p = (size_t)__builtin_ctz(bad);
		} else {
			p = b64_dec_quanta(in, inlen, i, out, outsz, o);
		}
		r = b64_dec_after(in, inlen, &i, &o, p, line, &len, &eollen);
		if (r == 0)
			break;
		if (r == 2 && len == B64_LINE) /* unrolled for mail's lines */
			b64_dec_lines32(in, inlen, &i, out, outsz, &o, B64_LINE,
					eollen);
		else if (r == 2 && len >= 32)
			b64_dec_lines32(in, inlen, &i, out, outsz, &o, len,
					eollen);
		else if (r == 2)
			b64_dec_lines16(in, inlen, &i, out, outsz, &o, len,
					eollen);
		line = i;
	}
	_mm256_zeroupper();
	*ip = i;
	*op = o;
}

#endif

/*
 * The fast path, at a quantum boundary: whole quanta of four alphabet
 * bytes and the whitespace between them at quantum boundaries (line
 * ends), which the careful path would skip as well.  Stops at anything
 * else with *ip and *op at a quantum boundary, where the careful path
 * goes on.  The vector paths are above; the scalar one takes whole
 * 76-character CRLF lines with one test per line, then quanta.
 */
static void
b64_dec_fast(enum b64_simd simd, const unsigned char *in, size_t inlen,
	     size_t *ip, unsigned char *out, size_t outsz, size_t *op)
{
	size_t i = *ip, o = *op, k;
	uint32_t w, bad;

#ifdef MIME_X86
	if (simd == B64_AVX2) {
		b64_dec_avx2(in, inlen, ip, out, outsz, op);
		return;
	}
	if (simd == B64_SSSE3) {
		b64_dec_ssse3(in, inlen, ip, out, outsz, op);
		return;
	}
#else
	(void)simd;
#endif
	for (;;) {
		while (b64_crlf_line(in, inlen, i) && outsz - o >= 57) {
			__builtin_prefetch(in + i + B64_PREFETCH);
			bad = 0;
			for (k = 0; k < B64_LINE / 4; k++) {
				w = b64_d0[in[i + 4 * k]] |
				    b64_d1[in[i + 4 * k + 1]] |
				    b64_d2[in[i + 4 * k + 2]] |
				    b64_d3[in[i + 4 * k + 3]];
				bad |= w;
				out[o + 3 * k] = (unsigned char)(w >> 16);
				out[o + 3 * k + 1] = (unsigned char)(w >> 8);
				out[o + 3 * k + 2] = (unsigned char)w;
			}
			if (bad >> 24)
				break;
			i += B64_LINE + 2;
			o += 57;
		}
		while (inlen - i >= 4 && outsz - o >= 3) {
			w = b64_d0[in[i]] | b64_d1[in[i + 1]] |
			    b64_d2[in[i + 2]] | b64_d3[in[i + 3]];
			if (w >> 24)
				break;
			out[o] = (unsigned char)(w >> 16);
			out[o + 1] = (unsigned char)(w >> 8);
			out[o + 2] = (unsigned char)w;
			i += 4;
			o += 3;
		}
		if ((k = b64_skip_ws(in, inlen, i)) == i)
			break;
		i = k;
	}
	*ip = i;
	*op = o;
}

void
mime_base64_dec_init(struct mime_b64_dec *d)
{
	memset(d, 0, sizeof(*d));
}

int
mime_base64_dec_update(struct mime_b64_dec *d, const unsigned char *in,
		       size_t inlen, unsigned char *out, size_t outsz,
		       size_t *outlen)
{
	enum b64_simd simd = b64_simd();
	size_t i = 0, o = 0;
	uint32_t acc = d->acc;
	unsigned q = d->q, v;

	if (bad_args(in, inlen, out, outsz, outlen))
		return GW_ERR_INVALID;
	while (!d->padded && i < inlen) {
		/* The fast path takes nothing that starts with a bad byte. */
		if (q == 0 && b64_val[in[i]] != B64_BAD) {
			b64_dec_fast(simd, in, inlen, &i, out, outsz, &o);
			if (i >= inlen)
				break;
		}
		v = b64_val[in[i++]];
		if (v < 64) {
			acc = acc << 6 | v;
			if (++q == 4) {
				if (outsz - o < 3)
					return GW_ERR_LIMIT;
				out[o++] = (unsigned char)(acc >> 16);
				out[o++] = (unsigned char)(acc >> 8);
				out[o++] = (unsigned char)acc;
				q = 0;
				acc = 0;
			}
		} else if (v == B64_PAD) {
			d->padded = 1;
		} else if (v != B64_WS) {
			d->fl |= MIME_DEC_BAD_CHAR;
		}
	}
	/* After the '=' that ends the data: only '=' and white space. */
	for (; d->padded && i < inlen && !(d->fl & MIME_DEC_AFTER_PAD); i++) {
		v = b64_val[in[i]];
		if (v != B64_PAD && v != B64_WS)
			d->fl |= MIME_DEC_AFTER_PAD;
	}
	d->acc = acc;
	d->q = q;
	*outlen = o;
	return 0;
}

int
mime_base64_dec_final(struct mime_b64_dec *d, unsigned char *out,
		      size_t outsz, size_t *outlen, unsigned *flags)
{
	size_t o = 0;

	if (bad_args(out, 0, out, outsz, outlen))
		return GW_ERR_INVALID;
	/* The final, partial quantum. */
	switch (d->q) {
	case 0:
		if (d->padded)
			d->fl |= MIME_DEC_BAD_CHAR; /* '=' where no quantum
						       was open */
		break;
	case 1:
		d->fl |= MIME_DEC_TRUNCATED;
		break;
	case 2:
		if (outsz < 1)
			return GW_ERR_LIMIT;
		out[o++] = (unsigned char)(d->acc >> 4);
		break;
	case 3:
		if (outsz < 2)
			return GW_ERR_LIMIT;
		out[o++] = (unsigned char)(d->acc >> 10);
		out[o++] = (unsigned char)(d->acc >> 2);
		break;
	}
	if (d->q >= 2 && !d->padded)
		d->fl |= MIME_DEC_NO_PAD;
	*outlen = o;
	if (flags != NULL)
		*flags |= d->fl;
	return 0;
}

int
mime_base64_decode(const unsigned char *in, size_t inlen, unsigned char *out,
		   size_t outsz, size_t *outlen, unsigned *flags)
{
	struct mime_b64_dec d;
	size_t o, t;
	int r;

	if (bad_args(in, inlen, out, outsz, outlen))
		return GW_ERR_INVALID;
	mime_base64_dec_init(&d);
	if ((r = mime_base64_dec_update(&d, in, inlen, out, outsz, &o)) != 0 ||
	    (r = mime_base64_dec_final(&d, out + o, outsz - o, &t, flags)) !=
		0)
		return r;
	*outlen = o + t;
	return 0;
}

size_t
mime_base64_encoded_max(size_t inlen)
{
	size_t chars;

	if (inlen > SIZE_MAX / 3)
		return SIZE_MAX;
	chars = (inlen + 2) / 3 * 4;
	return chars + (chars + 75) / 76 * 2;
}

static void
b64_quantum(const unsigned char *in, unsigned char *out)
{
	uint32_t w = (uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2];

	out[0] = (unsigned char)b64_chars[w >> 18];
	out[1] = (unsigned char)b64_chars[(w >> 12) & 63];
	out[2] = (unsigned char)b64_chars[(w >> 6) & 63];
	out[3] = (unsigned char)b64_chars[w & 63];
}

/* Whole 57-byte lines to 76 characters and CRLF each: n lines. */
static void
b64_enc_lines_scalar(const unsigned char *in, size_t n, unsigned char *out)
{
	size_t l, k;

	for (l = 0; l < n; l++, in += 57, out += 78) {
		for (k = 0; k < 19; k++)
			b64_quantum(in + 3 * k, out + 4 * k);
		out[76] = '\r';
		out[77] = '\n';
	}
}

#ifdef MIME_X86
/*
 * Encoding, 12 input bytes to 16 characters: each 3-byte group into a
 * 32-bit lane as a 24-bit number, its four 6-bit indices into the
 * lane's bytes, most significant first, then each index plus the offset
 * of its alphabet range.  The 12 bytes are the low 12 of the 16 loaded
 * (b64_enc_low) or the high 12 (b64_enc_high, for the end of a line).
 */
#define b64_enc_low()                                                        \
	_mm_setr_epi8(2, 1, 0, -1, 5, 4, 3, -1, 8, 7, 6, -1, 11, 10, 9, -1)
#define b64_enc_high()                                                       \
	_mm_setr_epi8(6, 5, 4, -1, 9, 8, 7, -1, 12, 11, 10, -1, 15, 14, 13, -1)

B64_SHARED __m128i
b64_enc_block16(__m128i v, __m128i groups)
{
	__m128i n, idx, red, lt26;

	n = _mm_shuffle_epi8(v, groups);
	idx = _mm_or_si128(
	    _mm_or_si128(
		_mm_and_si128(_mm_srli_epi32(n, 18), _mm_set1_epi32(0x3f)),
		_mm_and_si128(_mm_srli_epi32(n, 4), _mm_set1_epi32(0x3f00))),
	    _mm_or_si128(
		_mm_and_si128(_mm_slli_epi32(n, 10), _mm_set1_epi32(0x3f0000)),
		_mm_and_si128(_mm_slli_epi32(n, 24),
			      _mm_set1_epi32(0x3f000000))));
	/* 0-25: 13, 26-51: 0, 52-61: 1-10, '+': 11, '/': 12. */
	red = _mm_subs_epu8(idx, _mm_set1_epi8(51));
	lt26 = _mm_cmplt_epi8(idx, _mm_set1_epi8(26));
	red = _mm_or_si128(red, _mm_and_si128(lt26, _mm_set1_epi8(13)));
	return _mm_add_epi8(
	    idx, _mm_shuffle_epi8(_mm_setr_epi8('a' - 26, '0' - 52, '0' - 52,
						 '0' - 52, '0' - 52, '0' - 52,
						 '0' - 52, '0' - 52, '0' - 52,
						 '0' - 52, '0' - 52, '+' - 62,
						 '/' - 63, 'A', 0, 0),
				  red));
}

/* Input bytes 45-56 of a 57-byte line (loaded from 41) to its last 16
 * characters, 60-75, and the CRLF after them. */
B64_SHARED void
b64_enc_line_end(const unsigned char *in, unsigned char *out)
{
	_mm_storeu_si128(
	    (__m128i *)(void *)(out + 60),
	    b64_enc_block16(
		_mm_loadu_si128((const __m128i *)(const void *)(in + 41)),
		b64_enc_high()));
	out[76] = '\r';
	out[77] = '\n';
}

/* Whole 57-byte lines to 76 characters and CRLF each: n lines. */
__attribute__((target("ssse3"))) static void
b64_enc_lines_ssse3(const unsigned char *in, size_t n, unsigned char *out)
{
	__m128i v;
	size_t l;
	unsigned k;

	for (l = 0; l < n; l++, in += 57, out += 78) {
		for (k = 0; k < 4; k++) {
			v = _mm_loadu_si128(
			    (const __m128i *)(const void *)(in + 12 * k));
			_mm_storeu_si128((__m128i *)(void *)(out + 16 * k),
					 b64_enc_block16(v, b64_enc_low()));
		}
		b64_enc_line_end(in, out);
	}
}

/*
 * The same with AVX2, 24 input bytes per step: the lanes load bytes
 * 0-15 and 12-27, so each lane finds its 12 bytes at the bottom.
 */
__attribute__((target("avx2"), always_inline)) static inline void
b64_enc_step24(const unsigned char *in, unsigned char *out, __m256i lut)
{
	__m256i v, n, idx, red, lt26;

	v = _mm256_inserti128_si256(
	    _mm256_castsi128_si256(
		_mm_loadu_si128((const __m128i *)(const void *)in)),
	    _mm_loadu_si128((const __m128i *)(const void *)(in + 12)), 1);
	n = _mm256_shuffle_epi8(
	    v, _mm256_setr_epi8(2, 1, 0, -1, 5, 4, 3, -1, 8, 7, 6, -1, 11, 10,
				9, -1, 2, 1, 0, -1, 5, 4, 3, -1, 8, 7, 6, -1,
				11, 10, 9, -1));
	idx = _mm256_or_si256(
	    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(n, 18),
					     _mm256_set1_epi32(0x3f)),
			    _mm256_and_si256(_mm256_srli_epi32(n, 4),
					     _mm256_set1_epi32(0x3f00))),
	    _mm256_or_si256(_mm256_and_si256(_mm256_slli_epi32(n, 10),
					     _mm256_set1_epi32(0x3f0000)),
			    _mm256_and_si256(_mm256_slli_epi32(n, 24),
					     _mm256_set1_epi32(0x3f000000))));
	red = _mm256_subs_epu8(idx, _mm256_set1_epi8(51));
	lt26 = _mm256_cmpgt_epi8(_mm256_set1_epi8(26), idx);
	red = _mm256_or_si256(red, _mm256_and_si256(lt26, _mm256_set1_epi8(13)));
	_mm256_storeu_si256((__m256i *)(void *)out,
			    _mm256_add_epi8(idx, _mm256_shuffle_epi8(lut, red)));
}

/*
 * Whole lines with AVX2: two 24-byte steps, then the last 12 bytes of
 * the line in one 16-byte step (VEX-encoded here, see B64_SHARED), and
 * vzeroupper once at the end.
 */
__attribute__((target("avx2"))) static void
b64_enc_lines_avx2(const unsigned char *in, size_t n, unsigned char *out)
{
	__m256i lut;
	size_t l;

	lut = _mm256_setr_epi8('a' - 26, '0' - 52, '0' - 52, '0' - 52,
			       '0' - 52, '0' - 52, '0' - 52, '0' - 52,
			       '0' - 52, '0' - 52, '0' - 52, '+' - 62,
			       '/' - 63, 'A', 0, 0, 'a' - 26, '0' - 52,
			       '0' - 52, '0' - 52, '0' - 52, '0' - 52,
			       '0' - 52, '0' - 52, '0' - 52, '0' - 52,
			       '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0);
	for (l = 0; l < n; l++, in += 57, out += 78) {
		b64_enc_step24(in, out, lut);
		b64_enc_step24(in + 24, out + 32, lut);
		b64_enc_line_end(in, out);
	}
	_mm256_zeroupper();
}
#endif

int
mime_base64_encode(const unsigned char *in, size_t inlen, unsigned char *out,
		   size_t outsz, size_t *outlen)
{
	enum b64_simd simd = b64_simd();
	size_t i, o, col = 0, rest, lines;
	unsigned char tail[3];
	int r = GW_ERR_INVALID;

	(void)simd; /* without MIME_X86 */
	if (bad_args(in, inlen, out, outsz, outlen))
		goto out;
	r = GW_ERR_LIMIT;
	/* The size is exact, so one check covers every write below. */
	if (outsz < mime_base64_encoded_max(inlen))
		goto out;
	/*
	 * Whole lines: 57 bytes make 76 characters.  The vector code's
	 * loads and stores stay inside the line.
	 */
	lines = inlen / 57;
	switch (simd) {
#ifdef MIME_X86
	case B64_AVX2:
		b64_enc_lines_avx2(in, lines, out);
		break;
	case B64_SSSE3:
		b64_enc_lines_ssse3(in, lines, out);
		break;
#endif
	default:
		b64_enc_lines_scalar(in, lines, out);
		break;
	}
	i = lines * 57;
	o = lines * 78;
	for (; inlen - i >= 3; i += 3, o += 4, col += 4)
		b64_quantum(in + i, out + o);
	rest = inlen - i;
	if (rest > 0) {
		memset(tail, 0, sizeof(tail));
		memcpy(tail, in + i, rest);
		b64_quantum(tail, out + o);
		if (rest == 1)
			out[o + 2] = '=';
		out[o + 3] = '=';
		o += 4;
		col += 4;
	}
	if (col > 0) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	*outlen = o;
	r = 0;
out:
	return r;
}

/* ---- quoted-printable ------------------------------------------------ */

size_t
mime_qp_decoded_max(size_t inlen)
{
	return inlen;
}

int
mime_qp_decode(const unsigned char *in, size_t inlen, unsigned char *out,
	       size_t outsz, size_t *outlen, unsigned *flags)
{
	const unsigned char *lf;
	size_t i = 0, o = 0, e, el, t, j;
	unsigned fl = 0;
	int soft, hi, lo;
	int r = GW_ERR_INVALID;

	if (bad_args(in, inlen, out, outsz, outlen))
		goto out;
	r = GW_ERR_LIMIT;
	while (i < inlen) {
		/* One line: content [i, e), line end of el bytes. */
		lf = memchr(in + i, '\n', inlen - i);
		if (lf != NULL) {
			e = (size_t)(lf - in);
			el = 1;
			if (e > i && in[e - 1] == '\r') {
				e--;
				el = 2;
			}
		} else {
			e = inlen;
			el = 0;
		}
		/* Whitespace ending a line is transport padding. */
		t = e;
		while (t > i && (in[t - 1] == ' ' || in[t - 1] == '\t'))
			t--;
		soft = 0;
		for (j = i; j < t; j++) {
			if (o >= outsz)
				goto out;
			if (in[j] != '=') {
				out[o++] = in[j];
				continue;
			}
			if (j + 1 == t) {
				soft = 1;
				break;
			}
			if (j + 2 < t && (hi = hexval(in[j + 1])) >= 0 &&
			    (lo = hexval(in[j + 2])) >= 0) {
				out[o++] = (unsigned char)(hi << 4 | lo);
				j += 2;
				continue;
			}
			fl |= MIME_DEC_BAD_ESCAPE;
			out[o++] = '=';
		}
		if (!soft && el > 0) {
			if (outsz - o < el)
				goto out;
			memcpy(out + o, in + e, el);
			o += el;
		}
		i = e + el;
	}
	*outlen = o;
	if (flags != NULL)
		*flags |= fl;
	r = 0;
out:
	return r;
}

size_t
mime_qp_encoded_max(size_t inlen)
{
	if (inlen > SIZE_MAX / 4)
		return SIZE_MAX;
	/* 3 per byte, plus a soft break after at least 73 columns. */
	return 3 * inlen + 3 * (inlen / 24 + 1);
}

int
mime_qp_encode(const unsigned char *in, size_t inlen, unsigned qpflags,
	       unsigned char *out, size_t outsz, size_t *outlen)
{
	size_t i = 0, o = 0, col = 0, tok;
	unsigned char c;
	int binary = (qpflags & MIME_QP_BINARY) != 0;
	int literal, eol_next;
	int r = GW_ERR_INVALID;

	if (bad_args(in, inlen, out, outsz, outlen))
		goto out;
	r = GW_ERR_LIMIT;
	while (i < inlen) {
		c = in[i];
		if (!binary && (c == '\n' ||
				(c == '\r' && i + 1 < inlen && in[i + 1] == '\n'))) {
			if (outsz - o < 2)
				goto out;
			out[o++] = '\r';
			out[o++] = '\n';
			col = 0;
			i += c == '\r' ? 2 : 1;
			continue;
		}
		literal = c >= 33 && c <= 126 && c != '=';
		if (c == ' ' || c == '\t') {
			eol_next = i + 1 == inlen;
			if (!binary && !eol_next)
				eol_next = in[i + 1] == '\n' ||
					   (in[i + 1] == '\r' && i + 2 < inlen &&
					    in[i + 2] == '\n');
			literal = !eol_next;
		}
		tok = literal ? 1 : 3;
		if (col + tok > 75) {
			if (outsz - o < 3)
				goto out;
			out[o++] = '=';
			out[o++] = '\r';
			out[o++] = '\n';
			col = 0;
		}
		if (col == 0 && c == 'F' && inlen - i >= 5 &&
		    memcmp(in + i, "From ", 5) == 0) {
			literal = 0;
			tok = 3;
		}
		if (outsz - o < tok)
			goto out;
		if (literal) {
			out[o++] = c;
		} else {
			out[o++] = '=';
			out[o++] = (unsigned char)hex_upper[c >> 4];
			out[o++] = (unsigned char)hex_upper[c & 15];
		}
		col += tok;
		i++;
	}
	*outlen = o;
	r = 0;
out:
	return r;
}

/* ---- CRLF ------------------------------------------------------------ */

size_t
mime_crlf_max(size_t inlen)
{
	if (inlen > SIZE_MAX / 2)
		return SIZE_MAX;
	return inlen * 2;
}

/*
 * Walk in[] as runs of plain bytes each followed by one line end; call
 * emit for each run, with the line end (if any) made CRLF.  Shared by
 * the length and the conversion so that they always agree.
 */
struct crlf_sink {
	unsigned char *out;
	size_t outsz;
	size_t len;
	int overflow;
};

static void
crlf_put(struct crlf_sink *k, const unsigned char *s, size_t n, int eol)
{
	size_t need = n + (eol ? 2 : 0);

	if (k->out != NULL) {
		if (k->outsz - k->len < need) {
			k->overflow = 1;
			return;
		}
		memcpy(k->out + k->len, s, n);
		if (eol) {
			k->out[k->len + n] = '\r';
			k->out[k->len + n + 1] = '\n';
		}
	}
	k->len += need;
}

static void
crlf_walk(const unsigned char *in, size_t inlen, struct crlf_sink *k)
{
	const unsigned char *lf, *cr;
	size_t i = 0, seg, at;

	while (i < inlen && !k->overflow) {
		lf = memchr(in + i, '\n', inlen - i);
		seg = lf != NULL ? (size_t)(lf - in) : inlen;
		/* Lone CRs inside [i, seg). */
		while (i < seg && !k->overflow &&
		       (cr = memchr(in + i, '\r', seg - i)) != NULL) {
			at = (size_t)(cr - in);
			if (lf != NULL && at + 1 == seg)
				break; /* the CR of a CRLF */
			crlf_put(k, in + i, at - i, 1);
			i = at + 1;
		}
		if (lf == NULL) {
			crlf_put(k, in + i, seg - i, 0);
			break;
		}
		if (seg > i && in[seg - 1] == '\r')
			crlf_put(k, in + i, seg - 1 - i, 1);
		else
			crlf_put(k, in + i, seg - i, 1);
		i = seg + 1;
	}
}

/*
 * 1 when in[] is canonical already (every CR followed by LF, every LF
 * preceded by CR), as most text is that is checked: then the length is
 * inlen, found without a pass per line.  64 bytes at a time with SSE2
 * (on x86-64 always there): the LFs of a block are exactly where a CR
 * is before them, the CR at the end of a block carried to the next.
 */
#ifdef __SSE2__
/* A bit per byte of in[0..16) that is c. */
static inline uint64_t
crlf_mask16(const unsigned char *in, char c)
{
	return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(
	    _mm_loadu_si128((const __m128i *)(const void *)in),
	    _mm_set1_epi8(c)));
}
#endif

static int
crlf_is_canon(const unsigned char *in, size_t inlen)
{
	size_t i = 0;
	uint64_t cr_before = 0; /* in[i - 1] is a CR */

#ifdef __SSE2__
	uint64_t cr, lf;

	for (; inlen - i >= 64; i += 64) {
		cr = crlf_mask16(in + i, '\r') |
		     crlf_mask16(in + i + 16, '\r') << 16 |
		     crlf_mask16(in + i + 32, '\r') << 32 |
		     crlf_mask16(in + i + 48, '\r') << 48;
		lf = crlf_mask16(in + i, '\n') |
		     crlf_mask16(in + i + 16, '\n') << 16 |
		     crlf_mask16(in + i + 32, '\n') << 32 |
		     crlf_mask16(in + i + 48, '\n') << 48;
		if (lf != (cr << 1 | cr_before))
			return 0;
		cr_before = cr >> 63;
	}
#endif
	for (; i < inlen; i++) {
		if ((in[i] == '\n') != cr_before)
			return 0;
		cr_before = in[i] == '\r';
	}
	return !cr_before;
}

size_t
mime_crlf_canon_len(const unsigned char *in, size_t inlen)
{
	struct crlf_sink k = {NULL, 0, 0, 0};

	if (in == NULL)
		return 0;
	if (crlf_is_canon(in, inlen))
		return inlen;
	crlf_walk(in, inlen, &k);
	return k.len;
}

int
mime_crlf_canon(const unsigned char *in, size_t inlen, unsigned char *out,
		size_t outsz, size_t *outlen)
{
	struct crlf_sink k = {out, outsz, 0, 0};
	int r = GW_ERR_INVALID;

	if (bad_args(in, inlen, out, outsz, outlen))
		goto out;
	if (out == NULL) {
		/* Zero-sized output: only an empty input fits. */
		r = inlen == 0 ? 0 : GW_ERR_LIMIT;
		if (r == 0)
			*outlen = 0;
		goto out;
	}
	crlf_walk(in, inlen, &k);
	r = GW_ERR_LIMIT;
	if (k.overflow)
		goto out;
	*outlen = k.len;
	r = 0;
out:
	return r;
}

/* ---- display UTF-8 --------------------------------------------------- */

enum charset {
	CS_NONE,
	CS_UTF8, /* utf-8 and us-ascii: validated */
	CS_LATIN1,
	CS_CP1252,
};

static int
ascii_ncaseeq(const char *a, size_t alen, const char *b)
{
	size_t i;
	unsigned char x, y;

	if (strlen(b) != alen)
		return 0;
	for (i = 0; i < alen; i++) {
		x = (unsigned char)a[i];
		y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (x != y)
			return 0;
	}
	return 1;
}

static enum charset
charset_lookup(const char *name, size_t len)
{
	static const struct {
		const char *name;
		enum charset cs;
	} names[] = {
	    {"utf-8", CS_UTF8},		{"utf8", CS_UTF8},
	    {"us-ascii", CS_UTF8},	{"ascii", CS_UTF8},
	    {"iso-8859-1", CS_LATIN1},	{"iso8859-1", CS_LATIN1},
	    {"iso_8859-1", CS_LATIN1},	{"latin1", CS_LATIN1},
	    {"l1", CS_LATIN1},		{"windows-1252", CS_CP1252},
	    {"cp1252", CS_CP1252},
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (ascii_ncaseeq(name, len, names[i].name))
			return names[i].cs;
	return CS_NONE;
}

/* A bounded writer of sanitised UTF-8 that validates what it is fed. */
struct u8w {
	char *buf;
	size_t sz;
	size_t len;
	int full;
	unsigned char seq[4];
	unsigned nseq;
	unsigned need;
};

static void
u8w_init(struct u8w *w, char *buf, size_t sz)
{
	memset(w, 0, sizeof(*w));
	w->buf = buf;
	w->sz = sz;
	buf[0] = '\0';
}

static void
u8w_cp(struct u8w *w, uint32_t cp)
{
	unsigned char b[4];
	size_t n;

	if (w->full)
		return;
	if ((cp < 0x20 && cp != '\t') || (cp >= 0x80 && cp < 0xa0))
		cp = 0xfffd;
	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | cp >> 6);
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | cp >> 12);
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | cp >> 18);
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (w->sz - w->len < n + 1) {
		w->full = 1;
		return;
	}
	memcpy(w->buf + w->len, b, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

/* A pending incomplete sequence becomes one U+FFFD. */
static void
u8w_flush(struct u8w *w)
{
	if (w->need > 0)
		u8w_cp(w, 0xfffd);
	w->need = 0;
	w->nseq = 0;
}

static void
u8w_byte(struct u8w *w, unsigned char c)
{
	unsigned char lo = 0x80, hi = 0xbf;
	uint32_t cp;

	if (w->need > 0) {
		if (w->nseq == 1) {
			switch (w->seq[0]) {
			case 0xe0:
				lo = 0xa0;
				break;
			case 0xed:
				hi = 0x9f;
				break;
			case 0xf0:
				lo = 0x90;
				break;
			case 0xf4:
				hi = 0x8f;
				break;
			}
		}
		if (c >= lo && c <= hi) {
			w->seq[w->nseq++] = c;
			if (--w->need > 0)
				return;
			switch (w->nseq) {
			case 2:
				cp = (uint32_t)(w->seq[0] & 0x1f) << 6 |
				     (w->seq[1] & 0x3f);
				break;
			case 3:
				cp = (uint32_t)(w->seq[0] & 0x0f) << 12 |
				     (uint32_t)(w->seq[1] & 0x3f) << 6 |
				     (w->seq[2] & 0x3f);
				break;
			default:
				cp = (uint32_t)(w->seq[0] & 0x07) << 18 |
				     (uint32_t)(w->seq[1] & 0x3f) << 12 |
				     (uint32_t)(w->seq[2] & 0x3f) << 6 |
				     (w->seq[3] & 0x3f);
				break;
			}
			w->nseq = 0;
			u8w_cp(w, cp);
			return;
		}
		/* Broken sequence: one U+FFFD, then c starts afresh. */
		u8w_flush(w);
	}
	if (c < 0x80) {
		u8w_cp(w, c);
		return;
	}
	if (c >= 0xc2 && c <= 0xdf)
		w->need = 1;
	else if (c >= 0xe0 && c <= 0xef)
		w->need = 2;
	else if (c >= 0xf0 && c <= 0xf4)
		w->need = 3;
	else {
		u8w_cp(w, 0xfffd);
		return;
	}
	w->seq[0] = c;
	w->nseq = 1;
}

static void
u8w_put(struct u8w *w, enum charset cs, unsigned char c)
{
	switch (cs) {
	case CS_LATIN1:
		u8w_cp(w, c);
		break;
	case CS_CP1252:
		u8w_cp(w, c >= 0x80 && c < 0xa0 ? cp1252_c1[c - 0x80] : c);
		break;
	default:
		u8w_byte(w, c);
		break;
	}
}

size_t
mime_rfc2047_decoded_max(size_t inlen)
{
	if (inlen > (SIZE_MAX - 1) / 3)
		return SIZE_MAX;
	return 3 * inlen + 1;
}

int
mime_charset_supported(const char *charset)
{
	return charset != NULL &&
	       charset_lookup(charset, strlen(charset)) != CS_NONE;
}

int
mime_charset_to_utf8(const char *charset, const unsigned char *in,
		     size_t inlen, char *out, size_t outsz, size_t *outlen)
{
	struct u8w w;
	enum charset cs;
	size_t i;
	int r = GW_ERR_INVALID;

	if (charset == NULL || (in == NULL && inlen > 0) || out == NULL ||
	    outsz == 0)
		goto out;
	r = GW_ERR_UNSUPPORTED;
	if ((cs = charset_lookup(charset, strlen(charset))) == CS_NONE)
		goto out;
	u8w_init(&w, out, outsz);
	for (i = 0; i < inlen && !w.full; i++)
		u8w_put(&w, cs, in[i]);
	u8w_flush(&w);
	if (outlen != NULL)
		*outlen = w.len;
	r = w.full ? GW_ERR_LIMIT : 0;
out:
	return r;
}

/* ---- RFC 2047 -------------------------------------------------------- */

struct ew {
	enum charset cs; /* CS_NONE: a well-formed word we do not decode */
	char enc;	 /* 'b' or 'q' */
	const char *text;
	size_t textlen;
	const char *end; /* just past "?=" */
};

/* Parse an encoded word at s (which starts "=?"); 0 when it is none. */
static int
ew_parse(const char *s, struct ew *ew)
{
	const char *p = s + 2, *cs, *star;
	size_t cslen;

	cs = p;
	while (*p != '\0' && *p != '?' && (unsigned char)*p > ' ' &&
	       (unsigned char)*p < 127)
		p++;
	if (*p != '?' || p == cs)
		return 0;
	cslen = (size_t)(p - cs);
	if ((star = memchr(cs, '*', cslen)) != NULL)
		cslen = (size_t)(star - cs); /* RFC 2231 5: charset*lang */
	p++;
	if (*p != 'B' && *p != 'b' && *p != 'Q' && *p != 'q')
		return 0;
	ew->enc = (*p == 'B' || *p == 'b') ? 'b' : 'q';
	p++;
	if (*p != '?')
		return 0;
	p++;
	ew->text = p;
	while (*p != '\0' && *p != '?' && (unsigned char)*p > ' ' &&
	       (unsigned char)*p < 127)
		p++;
	if (p[0] != '?' || p[1] != '=')
		return 0;
	ew->textlen = (size_t)(p - ew->text);
	ew->end = p + 2;
	ew->cs = cslen > 0 ? charset_lookup(cs, cslen) : CS_NONE;
	return 1;
}

static void
ew_decode(struct u8w *w, const struct ew *ew)
{
	const unsigned char *t = (const unsigned char *)ew->text;
	size_t i;
	uint32_t acc = 0;
	unsigned q = 0, v;
	int hi, lo;

	for (i = 0; i < ew->textlen; i++) {
		if (ew->enc == 'q') {
			if (t[i] == '_') {
				u8w_put(w, ew->cs, ' ');
			} else if (t[i] == '=' && i + 2 < ew->textlen &&
				   (hi = hexval(t[i + 1])) >= 0 &&
				   (lo = hexval(t[i + 2])) >= 0) {
				u8w_put(w, ew->cs, (unsigned char)(hi << 4 | lo));
				i += 2;
			} else {
				u8w_put(w, ew->cs, t[i]);
			}
			continue;
		}
		if ((v = b64_val[t[i]]) >= 64)
			continue; /* padding and stray bytes */
		acc = acc << 6 | v;
		if (++q == 4) {
			u8w_put(w, ew->cs, (unsigned char)(acc >> 16));
			u8w_put(w, ew->cs, (unsigned char)(acc >> 8));
			u8w_put(w, ew->cs, (unsigned char)acc);
			q = 0;
			acc = 0;
		}
	}
	if (q == 2) {
		u8w_put(w, ew->cs, (unsigned char)(acc >> 4));
	} else if (q == 3) {
		u8w_put(w, ew->cs, (unsigned char)(acc >> 10));
		u8w_put(w, ew->cs, (unsigned char)(acc >> 2));
	}
}

static int
is_lwsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A decodable word starts at s. */
static int
ew_decodable(const char *s, struct ew *ew)
{
	return s[0] == '=' && s[1] == '?' && ew_parse(s, ew) &&
	       ew->cs != CS_NONE;
}

int
mime_decode_rfc2047(const char *in, char *out, size_t outsz)
{
	struct u8w w;
	struct ew ew;
	const char *s, *q;
	enum charset prev_cs = CS_NONE;
	int prev_word = 0;
	int r = GW_ERR_INVALID;

	if (in == NULL || out == NULL || outsz == 0)
		goto out;
	u8w_init(&w, out, outsz);
	s = in;
	while (*s != '\0' && !w.full) {
		if (ew_decodable(s, &ew)) {
			/* Adjacent words of one charset may split a char. */
			if (!prev_word || ew.cs != prev_cs)
				u8w_flush(&w);
			ew_decode(&w, &ew);
			prev_word = 1;
			prev_cs = ew.cs;
			s = ew.end;
			continue;
		}
		if (prev_word && is_lwsp(*s)) {
			for (q = s; is_lwsp(*q); q++)
				;
			if (ew_decodable(q, &ew)) {
				s = q; /* whitespace between words goes */
				continue;
			}
		}
		if (prev_word)
			u8w_flush(&w);
		prev_word = 0;
		if (s[0] == '=' && s[1] == '?' && ew_parse(s, &ew)) {
			/* A word in a charset we leave alone: copy it. */
			for (q = s; q < ew.end; q++)
				u8w_byte(&w, (unsigned char)*q);
			s = ew.end;
			continue;
		}
		u8w_byte(&w, (unsigned char)*s++);
	}
	u8w_flush(&w);
	r = w.full ? GW_ERR_LIMIT : 0;
out:
	return r;
}
