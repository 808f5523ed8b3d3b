/*
 * fuzz_mime_parser.c - libFuzzer target for mime_parser and mime_codec.
 *
 * The first input byte picks the chunk size and whether small limits
 * apply; the rest is the message.  The message is parsed twice, whole
 * and in chunks, and the two trees must be identical (a digest over
 * every accessor); every offset invariant of mime_parser.h is checked;
 * then the codecs run over each body and header, with round trips, and
 * the From fields of every part through the address parser (each
 * addr-spec within its ceiling, with an '@' and no control character).
 * Any violation aborts, which libFuzzer reports as a crash.
 *
 * Built with clang -fsanitize=fuzzer, or with replay.c under any
 * compiler to run a corpus as a plain test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "gw_err.h"
#include "mime_addr.h"
#include "mime_codec.h"
#include "mime_header.h"
#include "mime_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CODEC_MAX (64u * 1024u) /* bytes of one body run through codecs */

static void
mix(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++) {
		*h ^= s[i];
		*h *= 0x100000001b3ULL;
	}
	*h ^= 0xff;
	*h *= 0x100000001b3ULL;
}

static void
mix_str(uint64_t *h, const char *s)
{
	if (s == NULL)
		mix(h, "(null)", 6);
	else
		mix(h, s, strlen(s));
}

static void
mix_sz(uint64_t *h, size_t v)
{
	mix(h, &v, sizeof(v));
}

static void
check_range(struct mime_range rg, size_t lo, size_t hi)
{
	CHECK(rg.start <= rg.end);
	CHECK(rg.start >= lo);
	CHECK(rg.end <= hi);
}

/* Digest every accessor of one part and check its invariants. */
static void
walk_part(const struct mime_part *p, size_t size, uint64_t *h)
{
	static const char *const names[] = {
	    "boundary", "charset", "name", "smime-type", "protocol",
	    "micalg",	"filename", "size", "x",
	};
	struct mime_range hr = mime_part_header_range(p);
	struct mime_range br = mime_part_body_range(p);
	struct mime_range all = mime_part_range(p);
	struct mime_range pr = mime_part_preamble(p);
	struct mime_range er = mime_part_epilogue(p);
	const struct mime_part *c, *prev = NULL;
	const struct mime_header *hd;
	size_t i, n;

	check_range(hr, 0, size);
	CHECK(hr.end <= br.start);
	check_range(br, 0, size);
	CHECK(all.start == hr.start && all.end == br.end);
	check_range(pr, br.start, br.end);
	CHECK(pr.start == br.start);
	check_range(er, br.start, br.end);
	CHECK(er.end == br.end);
	CHECK(pr.end <= er.start);
	mix_sz(h, hr.start);
	mix_sz(h, hr.end);
	mix_sz(h, br.start);
	mix_sz(h, br.end);
	mix_sz(h, pr.end);
	mix_sz(h, er.start);
	mix_sz(h, mime_part_kind(p));
	mix_sz(h, mime_part_depth(p));
	mix_sz(h, mime_part_index(p));
	mix_sz(h, mime_part_defects(p));
	mix_sz(h, mime_part_defects_all(p));
	mix_sz(h, mime_part_eol(p));
	CHECK((mime_part_defects(p) & ~mime_part_defects_all(p)) == 0);
	mix_str(h, mime_kind_name(mime_part_kind(p)));
	CHECK(mime_part_content_type(p) != NULL);
	CHECK(strchr(mime_part_content_type(p), '/') != NULL);
	mix_str(h, mime_part_content_type(p));
	CHECK(mime_part_cte(p) != NULL);
	mix_str(h, mime_part_cte(p));
	mix_str(h, mime_part_boundary(p));
	CHECK((mime_part_boundary(p) != NULL) ==
	      (mime_part_kind(p) == MIME_KIND_MULTIPART));
	mix_str(h, mime_part_disposition(p));
	mix_str(h, mime_part_filename(p));
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		mix_str(h, mime_part_param(p, names[i]));
		mix_str(h, mime_part_disposition_param(p, names[i]));
		mix_str(h, mime_part_header(p, names[i]));
	}
	mix_str(h, mime_part_header(p, "content-type"));
	n = mime_part_param_count(p);
	mix_sz(h, n);
	for (i = 0; i < n; i++) {
		mix_str(h, mime_part_param_name(p, i));
		mix_str(h, mime_part_param_value(p, i));
		CHECK(mime_part_param(p, mime_part_param_name(p, i)) != NULL);
	}
	CHECK(mime_part_param_name(p, n) == NULL);
	n = mime_part_header_count(p);
	mix_sz(h, n);
	for (i = 0; i < n; i++) {
		hd = mime_part_header_at(p, i);
		CHECK(hd != NULL);
		CHECK(mime_header_offset(hd) >= hr.start);
		CHECK(mime_header_offset(hd) + mime_header_length(hd) <= hr.end);
		CHECK(mime_header_value_len(hd) < mime_header_length(hd) + 1);
		mix_sz(h, mime_header_offset(hd));
		mix_sz(h, mime_header_length(hd));
		mix_str(h, mime_header_name(hd));
		mix(h, mime_header_value(hd), mime_header_value_len(hd));
	}
	CHECK(mime_part_header_at(p, n) == NULL);
	n = mime_part_child_count(p);
	if (mime_part_kind(p) == MIME_KIND_LEAF)
		CHECK(n == 0);
	if (mime_part_kind(p) == MIME_KIND_MESSAGE)
		CHECK(n == 1);
	for (i = 0; i < n; i++) {
		c = mime_part_child(p, i);
		CHECK(mime_part_parent(c) == p);
		CHECK(mime_part_index(c) == i);
		CHECK(mime_part_depth(c) == mime_part_depth(p) + 1);
		/* Children lie in the body, in order, after the preamble. */
		check_range(mime_part_range(c), br.start, br.end);
		if (mime_part_kind(p) == MIME_KIND_MULTIPART)
			CHECK(mime_part_range(c).start >= pr.end);
		if (prev != NULL)
			CHECK(mime_part_range(c).start >=
			      mime_part_range(prev).end);
		prev = c;
	}
	CHECK(mime_part_child(p, n) == NULL);
	if (prev != NULL && mime_part_kind(p) == MIME_KIND_MULTIPART)
		CHECK(er.start >= mime_part_range(prev).end);
}

static int
parse(const uint8_t *msg, size_t len, size_t chunk,
      const struct mime_limits *lim, uint64_t *digest,
      struct mime_tree **treep)
{
	struct mime_parser *mp;
	struct mime_tree *t = NULL;
	const struct mime_part *p;
	size_t off = 0, n, count = 0;
	int r = 0;

	*digest = 0xcbf29ce484222325ULL;
	gw_err_clear();
	if ((mp = mime_parser_new(lim)) == NULL)
		abort();
	while (off < len && r == 0) {
		n = len - off < chunk ? len - off : chunk;
		r = mime_parser_feed(mp, msg + off, n);
		off += n;
	}
	if (r == 0)
		r = mime_parser_finish(mp, &t);
	mime_parser_free(mp);
	if (r != 0) {
		CHECK(t == NULL);
		CHECK(r == GW_ERR_LIMIT);
		CHECK(gw_err_detail()[0] != '\0');
		mix_sz(digest, (size_t)-r);
		return r;
	}
	CHECK(mime_tree_size(t) == len);
	p = mime_tree_root(t);
	CHECK(mime_part_range(p).start == 0 && mime_part_range(p).end == len);
	for (; p != NULL; p = mime_part_next(p)) {
		walk_part(p, len, digest);
		count++;
	}
	CHECK(count == mime_tree_part_count(t));
	*treep = t;
	return 0;
}

static void
codec_body(const uint8_t *s, size_t n)
{
	unsigned char *a = NULL, *b = NULL;
	size_t alen, blen, sz;
	unsigned fl = 0;

	if (n > CODEC_MAX)
		n = CODEC_MAX;
	sz = mime_qp_encoded_max(n);
	if (mime_crlf_max(n) > sz)
		sz = mime_crlf_max(n);
	if (mime_base64_encoded_max(n) > sz)
		sz = mime_base64_encoded_max(n);
	if ((a = malloc(sz + 1)) == NULL || (b = malloc(sz + 1)) == NULL)
		abort();
	/* Decoders over whatever the body holds. */
	CHECK(mime_base64_decode(s, n, a, mime_base64_decoded_max(n), &alen,
				 &fl) == 0);
	CHECK(alen <= mime_base64_decoded_max(n));
	CHECK(mime_qp_decode(s, n, a, mime_qp_decoded_max(n), &alen, &fl) == 0);
	CHECK(alen <= n);
	CHECK(mime_crlf_canon(s, n, a, mime_crlf_max(n), &alen) == 0);
	CHECK(alen == mime_crlf_canon_len(s, n));
	/* Canonical output is stable. */
	CHECK(mime_crlf_canon_len(a, alen) == alen);
	/* Round trips. */
	CHECK(mime_base64_encode(s, n, a, sz, &alen) == 0);
	CHECK(mime_base64_decode(a, alen, b, sz, &blen, &fl) == 0);
	CHECK(blen == n && memcmp(b, s, n) == 0);
	CHECK(mime_qp_encode(s, n, MIME_QP_BINARY, a, sz, &alen) == 0);
	fl = 0;
	CHECK(mime_qp_decode(a, alen, b, sz, &blen, &fl) == 0);
	CHECK(fl == 0);
	CHECK(blen == n && memcmp(b, s, n) == 0);
	CHECK(mime_qp_encode(s, n, 0, a, sz, &alen) == 0);
	CHECK(mime_qp_decode(a, alen, b, sz, &blen, NULL) == 0);
	free(a);
	free(b);
}

static void
codec_header(const char *v)
{
	size_t sz = mime_rfc2047_decoded_max(strlen(v));
	char *out;

	if ((out = malloc(sz)) == NULL)
		abort();
	CHECK(mime_decode_rfc2047(v, out, sz) == 0);
	/* Display text never carries a control character but HT. */
	for (const char *q = out; *q != '\0'; q++)
		CHECK((unsigned char)*q >= 0x20 || *q == '\t');
	free(out);
}

/* mime_addr_fn: what mime_addr.h promises of every addr-spec. */
static int
check_addr(void *arg, const char *addr)
{
	size_t i, n = strlen(addr);

	(void)arg;
	CHECK(n > 0 && n <= MIME_ADDR_LEN);
	CHECK(strchr(addr, '@') != NULL);
	for (i = 0; i < n; i++)
		CHECK((unsigned char)addr[i] >= 0x20 && addr[i] != 0x7f);
	return 0;
}

/* The From fields and the result-field checks of one part. */
static void
header_checks(const struct mime_part *p)
{
	const struct mime_header *hd;
	char one[MIME_ADDR_LEN + 1];
	size_t i;
	int rc;

	rc = mime_addr_from_each(p, check_addr, NULL);
	CHECK(rc == 0 || rc == GW_ERR_NOT_FOUND || rc == GW_ERR_PARSE ||
	      rc == GW_ERR_LIMIT);
	rc = mime_addr_from_one(p, one, sizeof(one));
	CHECK(rc == 0 || one[0] == '\0');
	for (i = 0; i < mime_part_header_count(p); i++) {
		hd = mime_part_header_at(p, i);
		(void)mime_header_name_is(mime_header_name(hd), "From");
		(void)mime_header_authserv_is(mime_header_value(hd),
					      mime_header_value_len(hd),
					      "gw.test");
	}
	gw_err_clear();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[8] = {1, 2, 3, 5, 17, 64, 1000, 4096};
	struct mime_limits lim;
	struct mime_tree *t1 = NULL, *t2 = NULL;
	const struct mime_part *p;
	struct mime_range br;
	uint64_t d1, d2;
	const uint8_t *msg;
	size_t len, i;
	int r1, r2;

	if (size < 1)
		return 0;
	msg = data + 1;
	len = size - 1;
	memset(&lim, 0, sizeof(lim));
	if (data[0] & 0x08) {
		/* Small ceilings, so that every limit path is reached. */
		lim.max_header_bytes = 256;
		lim.max_line = 128;
		lim.max_depth = 4;
		lim.max_parts = 12;
		lim.max_fields = 24;
		lim.max_params = 4;
		lim.max_total = 2048;
	}
	r1 = parse(msg, len, len > 0 ? len : 1, &lim, &d1, &t1);
	r2 = parse(msg, len, chunks[data[0] & 7], &lim, &d2, &t2);
	CHECK(r1 == r2);
	CHECK(d1 == d2);
	mime_tree_free(t2);
	if (r1 != 0)
		return 0;
	for (p = mime_tree_root(t1); p != NULL; p = mime_part_next(p)) {
		br = mime_part_body_range(p);
		if (mime_part_kind(p) == MIME_KIND_LEAF && (data[0] & 0x10) == 0)
			codec_body(msg + br.start, br.end - br.start);
		for (i = 0; i < mime_part_header_count(p); i++)
			codec_header(mime_header_value(mime_part_header_at(p, i)));
		header_checks(p);
	}
	mime_tree_free(t1);
	return 0;
}
