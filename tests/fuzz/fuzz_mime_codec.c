/*
 * fuzz_mime_codec.c - libFuzzer target for the base64 decoder's
 * instruction-set paths: each path the CPU has (SSSE3, AVX2) must give
 * the scalar path's return code, length, bytes and flags.
 *
 * Byte 0 picks the input, byte 1 the output size:
 *   byte 0 bits 0-1: 0, the rest as it is; 1, the rest base64-encoded
 *     (76-column CRLF lines); 2, encoded and laid out as lines of
 *     4 * (byte 2 % 64 + 1) characters (bit 7 of byte 2: LF, else CRLF),
 *     the rest of the input from byte 3 on; 3, as 2, then byte 3 is a
 *     count of changes, each three bytes (a 16-bit position, a value)
 *     that replace one byte of the text, from byte 4 on.
 *   byte 0 bits 2-3: the text starts 0 to 3 bytes into its buffer.
 *   byte 1: 0-127, mime_base64_decoded_max(); 128-255, a fraction
 *     (byte 1 - 128) / 128 of the scalar decoded length, plus 0-3.
 * Every buffer is exactly as large as given to the decoder, so that an
 * address sanitizer sees any read or write past it.  The same text's
 * mime_crlf_canon_len() must be the length mime_crlf_canon() gives.
 *
 * Built with clang -fsanitize=fuzzer, or with replay.c under any
 * compiler to run a corpus as a plain test.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "gw_err.h"
#include "mime_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TEXT_MAX (256u * 1024u) /* characters decoded per input */

struct dec {
	int rc;
	size_t len;
	unsigned flags;
	unsigned char *out;
};

static void
decode(int isa, const unsigned char *in, size_t n, size_t outsz,
       struct dec *d)
{
	CHECK(mime_set_isa(isa) == 0);
	d->out = malloc(outsz > 0 ? outsz : 1);
	CHECK(d->out != NULL);
	d->len = (size_t)-1;
	d->flags = 0;
	d->rc = mime_base64_decode(in, n, d->out, outsz, &d->len, &d->flags);
	CHECK(d->rc == 0 || d->rc == GW_ERR_LIMIT);
	CHECK(d->rc != 0 || d->len <= outsz);
}

/* data[0..n) base64-encoded by the scalar path, in lines of width w
 * characters (0: as the encoder writes them) ending in eol. */
static unsigned char *
encode(const uint8_t *data, size_t n, size_t w, const char *eol, size_t *len)
{
	size_t max = mime_base64_encoded_max(n), elen, i, o = 0, col = 0;
	size_t el = strlen(eol);
	unsigned char *enc, *out;

	CHECK(mime_set_isa(MIME_ISA_SCALAR) == 0);
	enc = malloc(max + 1);
	CHECK(enc != NULL);
	CHECK(mime_base64_encode(data, n, enc, max, &elen) == 0);
	if (w == 0) {
		*len = elen;
		return enc;
	}
	out = malloc(elen / w * el + elen + el + 1);
	CHECK(out != NULL);
	for (i = 0; i < elen; i++) {
		if (enc[i] == '\r' || enc[i] == '\n')
			continue;
		out[o++] = enc[i];
		if (++col == w) {
			memcpy(out + o, eol, el);
			o += el;
			col = 0;
		}
	}
	if (col > 0) {
		memcpy(out + o, eol, el);
		o += el;
	}
	free(enc);
	*len = o;
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int isas[] = {MIME_ISA_SSSE3, MIME_ISA_AVX2};
	unsigned char *text = NULL, *buf;
	const uint8_t *rest;
	size_t len, n, shift, outsz, k, at, changes = 0;
	struct dec a, b;
	unsigned mode;

	if (size < 2)
		return 0;
	mode = data[0] & 3u;
	shift = (data[0] >> 2) & 3u;
	rest = data + 2;
	n = size - 2;
	if (mode == 0) {
		len = n < TEXT_MAX ? n : TEXT_MAX;
		text = malloc(len + 1);
		CHECK(text != NULL);
		memcpy(text, rest, len);
	} else if (mode == 1) {
		if (n > TEXT_MAX / 2)
			n = TEXT_MAX / 2;
		text = encode(rest, n, 0, "", &len);
	} else {
		if (n < 1 + (mode == 3))
			return 0;
		k = 4 * (rest[0] % 64u + 1);
		if (mode == 3) {
			changes = rest[1];
			if (n - 2 < 3 * changes)
				changes = (n - 2) / 3;
		}
		at = 1 + (mode == 3) + 3 * changes;
		n -= at;
		if (n > TEXT_MAX / 2)
			n = TEXT_MAX / 2;
		text = encode(rest + at, n, k, rest[0] & 0x80 ? "\n" : "\r\n",
			      &len);
		for (k = 0; k < changes && len > 0; k++) {
			at = (size_t)(rest[2 + 3 * k] << 8 | rest[3 + 3 * k]);
			text[at % len] = rest[4 + 3 * k];
		}
	}
	/* The text at an offset, in a buffer of exactly its size. */
	buf = malloc(shift + len > 0 ? shift + len : 1);
	CHECK(buf != NULL);
	memcpy(buf + shift, text, len);
	free(text);
	outsz = mime_base64_decoded_max(len);
	if (data[1] >= 128) {
		decode(MIME_ISA_SCALAR, buf + shift, len, outsz, &a);
		CHECK(a.rc == 0);
		outsz = a.len / 128 * (data[1] - 128u) +
			a.len % 128 * (data[1] - 128u) / 128 + (data[1] & 3u);
		free(a.out);
	}
	decode(MIME_ISA_SCALAR, buf + shift, len, outsz, &a);
	for (k = 0; k < sizeof(isas) / sizeof(isas[0]); k++) {
		if (mime_set_isa(isas[k]) != 0)
			continue; /* not on this CPU */
		decode(isas[k], buf + shift, len, outsz, &b);
		CHECK(a.rc == b.rc);
		if (a.rc == 0) {
			CHECK(a.len == b.len);
			CHECK(memcmp(a.out, b.out, a.len) == 0);
			CHECK(a.flags == b.flags);
		}
		free(b.out);
	}
	free(a.out);
	/* The canonical length (canonical text taken in blocks) is the
	 * length of the conversion (a walk per line). */
	a.out = malloc(len > 0 ? mime_crlf_max(len) : 1);
	CHECK(a.out != NULL);
	CHECK(mime_crlf_canon(buf + shift, len, len > 0 ? a.out : NULL,
			      len > 0 ? mime_crlf_max(len) : 0, &a.len) == 0);
	CHECK(mime_crlf_canon_len(buf + shift, len) == a.len);
	free(a.out);
	free(buf);
	CHECK(mime_set_isa(MIME_ISA_AUTO) == 0);
	return 0;
}
