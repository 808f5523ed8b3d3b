/*
 * mime_codec.h - MIME content codecs and header-text decoding.
 *
 * Every function here works on one caller-owned input buffer and writes
 * into one caller-owned output buffer; nothing allocates, nothing does
 * I/O, and nothing keeps state between calls but what the caller holds
 * (struct mime_b64_dec).
 *
 * Output sizing: each encoder/decoder has a *_max() function that returns
 * an output size sufficient for any input of that length (SIZE_MAX when
 * the computation would overflow, so that the allocation fails rather
 * than wraps).  The conversion functions check every write: an output
 * buffer that turns out too small gives GW_ERR_LIMIT, and the contents
 * of out are then unspecified (but never written past outsz).  *outlen
 * is set on success only.  The base64 functions may also leave scratch
 * bytes past *outlen on success (vector stores of whole blocks), never
 * past outsz.  A NULL buffer with a non-zero length, or a
 * NULL outlen, gives GW_ERR_INVALID.
 *
 * The decoders are lenient, as RFC 2045 asks of them: they skip what
 * they cannot use and report it in *flags (MIME_DEC_* bits, may be NULL)
 * instead of failing, so a caller can decide by policy.
 *
 * Text for display (mime_decode_rfc2047, mime_charset_to_utf8) is always
 * valid UTF-8: malformed sequences, C0 controls other than HT, and C1
 * controls (U+0080-U+009F) come out as U+FFFD, so a decoded string can
 * be logged or shown but never carries a line break or a NUL.  It is
 * for display and policy conditions only; the message itself is never
 * rewritten from it.
 */
#ifndef MIME_CODEC_H
#define MIME_CODEC_H

#include <stddef.h>

/* Decoder findings (bit flags, ORed into *flags). */
#define MIME_DEC_BAD_CHAR 0x01u	  /* byte outside the alphabet, skipped */
#define MIME_DEC_TRUNCATED 0x02u  /* base64 ended with 6 spare bits */
#define MIME_DEC_NO_PAD 0x04u	  /* base64 ended without its '=' padding */
#define MIME_DEC_AFTER_PAD 0x08u  /* base64: more after '=', ignored */
#define MIME_DEC_BAD_ESCAPE 0x10u /* QP '=' not followed by hex or EOL */

/*
 * Base64 (RFC 2045 6.8).  The decoder skips SP, HT, CR and LF anywhere
 * (odd line lengths, LF-only or CRLF input are all fine), skips other
 * bytes outside the alphabet (MIME_DEC_BAD_CHAR), accepts a missing
 * final padding (MIME_DEC_NO_PAD) and stops at the first '=' that ends
 * the data (any byte after it but '=' and whitespace:
 * MIME_DEC_AFTER_PAD).
 * mime_base64_decoded_max(n) >= what n input bytes can decode to.
 *
 * The encoder writes lines of 76 characters, each line including the
 * last ending in CRLF; an empty input gives an empty output.
 */
size_t mime_base64_decoded_max(size_t inlen);
int mime_base64_decode(const unsigned char *in, size_t inlen,
		       unsigned char *out, size_t outsz, size_t *outlen,
		       unsigned *flags);

/*
 * The same decoder a piece at a time (the input cut anywhere): the
 * partial quantum, the padding and the flags are carried in d from one
 * update to the next.  An update takes all of in and needs outsz >=
 * mime_base64_decoded_max(inlen + 3); final writes the last partial
 * quantum (at most 2 bytes) and ORs the flags of all pieces into *flags.
 * mime_base64_decode() is init, one update, final.
 */
struct mime_b64_dec {
	unsigned long acc;	/* the bits of the open quantum */
	unsigned q;		/* its characters so far, 0-3 */
	unsigned fl;		/* MIME_DEC_* so far */
	int padded;		/* the data ended at a '=' */
};

void mime_base64_dec_init(struct mime_b64_dec *d);
int mime_base64_dec_update(struct mime_b64_dec *d, const unsigned char *in,
			   size_t inlen, unsigned char *out, size_t outsz,
			   size_t *outlen);
int mime_base64_dec_final(struct mime_b64_dec *d, unsigned char *out,
			  size_t outsz, size_t *outlen, unsigned *flags);
size_t mime_base64_encoded_max(size_t inlen);
int mime_base64_encode(const unsigned char *in, size_t inlen,
		       unsigned char *out, size_t outsz, size_t *outlen);

/*
 * For the tests and the benchmark only (the gateway never sets it):
 * which instruction-set paths the MIME code takes, one setting for all
 * of them: the base64 encoder and decoder (scalar, SSSE3, AVX2) and
 * mime_crlf_scan_feed() in mime_parser.h (scalar, SSE2, AVX2).  The
 * setting is a level, and each takes its best path at or below it:
 * MIME_ISA_SSSE3 gives base64 its SSSE3 path and the scan its SSE2 one,
 * MIME_ISA_SSE2 gives base64 the scalar one.  MIME_ISA_AUTO, the
 * default, is the best level the CPU has (__builtin_cpu_supports(),
 * which reads what cpuid said at start-up); the others force one, so
 * that each path can be compared with the scalar one on any machine.
 * Every path gives the same output, return code and flags.  The
 * setting is process-wide (an atomic, so calls running in other threads
 * see either the old or the new path).
 *
 * mime_set_isa() returns 0, GW_ERR_UNSUPPORTED when the CPU (or the
 * build) lacks that level, or GW_ERR_INVALID for an unknown value; the
 * setting is then unchanged.  mime_isa() is the level the next call
 * takes: MIME_ISA_SCALAR to MIME_ISA_AVX2, never MIME_ISA_AUTO.
 */
#define MIME_ISA_AUTO 0
#define MIME_ISA_SCALAR 1
#define MIME_ISA_SSE2 2
#define MIME_ISA_SSSE3 3
#define MIME_ISA_AVX2 4
int mime_set_isa(int isa);
int mime_isa(void);

/*
 * Quoted-printable (RFC 2045 6.7).  The decoder turns "=XX" (either
 * case of hex) into the byte, removes soft line breaks ("=" then
 * optional whitespace then CRLF or LF) and the whitespace that ends a
 * line, keeps hard line ends exactly as they were (CRLF or LF) and keeps
 * a stray '=' literally (MIME_DEC_BAD_ESCAPE).  Output <= input.
 *
 * The encoder writes 7-bit output with CRLF line ends, soft breaks so
 * that no line exceeds 76 characters including the '=', encodes SP/HT
 * that would end a line, encodes '=' and every byte outside 33..126,
 * and encodes the 'F' of a line starting "From " (mbox safety).  In the
 * default (text) mode CRLF and bare LF in the input are hard line
 * breaks (CRLF) and a bare CR is "=0D"; with MIME_QP_BINARY every CR
 * and LF is encoded and the only line breaks are soft.
 */
#define MIME_QP_BINARY 0x01u
size_t mime_qp_decoded_max(size_t inlen);
int mime_qp_decode(const unsigned char *in, size_t inlen, unsigned char *out,
		   size_t outsz, size_t *outlen, unsigned *flags);
size_t mime_qp_encoded_max(size_t inlen);
int mime_qp_encode(const unsigned char *in, size_t inlen, unsigned qpflags,
		   unsigned char *out, size_t outsz, size_t *outlen);

/*
 * Canonical line ends (RFC 5751 3.1.1): LF -> CRLF, a CR not followed by
 * LF (including one at the very end) -> CRLF, CRLF kept.  One-shot: a
 * CRLF split between two calls would become CRLF CRLF, so give it whole
 * buffers.  mime_crlf_canon_len() is the exact output length.
 */
size_t mime_crlf_max(size_t inlen);
size_t mime_crlf_canon_len(const unsigned char *in, size_t inlen);
int mime_crlf_canon(const unsigned char *in, size_t inlen, unsigned char *out,
		    size_t outsz, size_t *outlen);

/*
 * Decode RFC 2047 encoded words ("=?charset?B|Q?text?=", charset may
 * carry an RFC 2231 "*lang" suffix) in a NUL-terminated header value to
 * UTF-8 for display.  Charsets decoded: utf-8, us-ascii, iso-8859-1,
 * windows-1252 (and their usual aliases); words in any other charset,
 * and malformed words, are copied unchanged.  Whitespace between two
 * decoded words is dropped (RFC 2047 6.2); a UTF-8 sequence split
 * across adjacent words is joined.  Text outside encoded words is taken
 * as UTF-8 (RFC 6532).
 *
 * out is always NUL-terminated (outsz must be >= 1).  Returns 0, or
 * GW_ERR_LIMIT when the result did not fit: out then holds as many
 * whole characters as fit.  outsz >= mime_rfc2047_decoded_max(strlen(in))
 * never truncates.  GW_ERR_INVALID for NULL arguments or outsz 0.
 */
size_t mime_rfc2047_decoded_max(size_t inlen);
int mime_decode_rfc2047(const char *in, char *out, size_t outsz);

/*
 * Convert inlen bytes in the named charset (case-insensitive) to UTF-8
 * for display, NUL-terminated, under the rules above.  Returns 0,
 * GW_ERR_UNSUPPORTED for a charset not in the list above (nothing is
 * written), GW_ERR_LIMIT when out was too small (out holds whole
 * characters only).  outsz >= mime_rfc2047_decoded_max(inlen) always
 * suffices.  *outlen (may be NULL) excludes the NUL.
 */
int mime_charset_to_utf8(const char *charset, const unsigned char *in,
			 size_t inlen, char *out, size_t outsz,
			 size_t *outlen);
/* 1 when mime_charset_to_utf8() converts this charset, 0 otherwise. */
int mime_charset_supported(const char *charset);

#endif
