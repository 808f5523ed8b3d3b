/*
 * test_mime_parser.c - MIME parser and codec tests (cmocka).
 *
 * Parser cases are a table: input, limits, expected result and the
 * expected tree dump (every offset of every part and header field).
 * Each case is parsed whole, then again split into two chunks at every
 * byte position, then fed byte by byte; every run must give the same
 * result and the same dump.  MIME_TEST_PRINT=1 prints the dumps as C
 * literals (for reviewing a new case, never for blessing a failing one).
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
#include "mime_parser.h"

/* ---- a small string builder for dumps -------------------------------- */

struct sb {
	char *s;
	size_t len;
	size_t cap;
};

static void sb_printf(struct sb *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s != NULL ? b->s + b->len : NULL,
			      b->s != NULL ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if (b->s != NULL && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		assert_non_null(b->s);
	}
}

/* A quoted, escaped rendering of n bytes. */
static void
sb_quote(struct sb *b, const char *s, size_t n)
{
	size_t i;
	unsigned char c;

	sb_printf(b, "\"");
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			sb_printf(b, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			sb_printf(b, "\\x%02x", c);
		else
			sb_printf(b, "%c", c);
	}
	sb_printf(b, "\"");
}

static void
sb_defects(struct sb *b, unsigned d)
{
	unsigned bit;
	const char *sep = "";

	for (bit = 1; bit != 0 && bit <= MIME_DEFECT_LAST; bit <<= 1) {
		if (d & bit) {
			sb_printf(b, "%s%s", sep, mime_defect_name(bit));
			sep = ",";
		}
	}
}

static void
dump_part(struct sb *b, const struct mime_part *p, const char *path)
{
	static const char *const dnames[] = {"filename", "size",
					     "creation-date"};
	struct mime_range hr = mime_part_header_range(p);
	struct mime_range br = mime_part_body_range(p);
	struct mime_range pr = mime_part_preamble(p);
	struct mime_range er = mime_part_epilogue(p);
	const struct mime_header *h;
	const char *v;
	unsigned eol = mime_part_eol(p);
	size_t i;
	char sub[256];

	sb_printf(b, "%s %s %s h=%zu-%zu b=%zu-%zu", path,
		  mime_kind_name(mime_part_kind(p)), mime_part_content_type(p),
		  hr.start, hr.end, br.start, br.end);
	if (mime_part_kind(p) == MIME_KIND_MULTIPART)
		sb_printf(b, " pre=%zu-%zu epi=%zu-%zu", pr.start, pr.end,
			  er.start, er.end);
	sb_printf(b, " cte=%s eol=%s%s", mime_part_cte(p),
		  (eol & MIME_EOL_CRLF) ? "C" : "", (eol & MIME_EOL_LF) ? "L" : "");
	if ((v = mime_part_boundary(p)) != NULL) {
		sb_printf(b, " bnd=");
		sb_quote(b, v, strlen(v));
	}
	if ((v = mime_part_disposition(p)) != NULL)
		sb_printf(b, " disp=%s", v);
	if ((v = mime_part_filename(p)) != NULL) {
		sb_printf(b, " fn=");
		sb_quote(b, v, strlen(v));
	}
	if (mime_part_defects(p) != 0) {
		sb_printf(b, " d=");
		sb_defects(b, mime_part_defects(p));
	}
	sb_printf(b, "\n");
	for (i = 0; i < mime_part_header_count(p); i++) {
		h = mime_part_header_at(p, i);
		sb_printf(b, "  H %zu+%zu ", mime_header_offset(h),
			  mime_header_length(h));
		sb_quote(b, mime_header_name(h), strlen(mime_header_name(h)));
		sb_printf(b, " ");
		sb_quote(b, mime_header_value(h), mime_header_value_len(h));
		sb_printf(b, "\n");
	}
	for (i = 0; i < mime_part_param_count(p); i++) {
		sb_printf(b, "  P %s=", mime_part_param_name(p, i));
		v = mime_part_param_value(p, i);
		sb_quote(b, v, strlen(v));
		sb_printf(b, "\n");
	}
	/* Disposition parameters, by the names the cases use. */
	for (i = 0; i < sizeof(dnames) / sizeof(dnames[0]); i++) {
		if ((v = mime_part_disposition_param(p, dnames[i])) == NULL)
			continue;
		sb_printf(b, "  D %s=", dnames[i]);
		sb_quote(b, v, strlen(v));
		sb_printf(b, "\n");
	}
	for (i = 0; i < mime_part_child_count(p); i++) {
		snprintf(sub, sizeof(sub), "%s.%zu", path, i);
		dump_part(b, mime_part_child(p, i), sub);
	}
}

/* The whole tree, plus cross-checks of the navigation accessors. */
static char *
dump_tree(const struct mime_tree *t)
{
	struct sb b = {NULL, 0, 0};
	const struct mime_part *p, *root = mime_tree_root(t);
	size_t n = 0;

	sb_printf(&b, "size=%zu parts=%zu all=", mime_tree_size(t),
		  mime_tree_part_count(t));
	sb_defects(&b, mime_part_defects_all(root));
	sb_printf(&b, "\n");
	dump_part(&b, root, "r");
	for (p = root; p != NULL; p = mime_part_next(p)) {
		if (mime_part_parent(p) != NULL) {
			assert_ptr_equal(mime_part_child(mime_part_parent(p),
							 mime_part_index(p)),
					 p);
			assert_int_equal(mime_part_depth(p),
					 mime_part_depth(mime_part_parent(p)) + 1);
		}
		n++;
	}
	assert_int_equal(n, mime_tree_part_count(t));
	return b.s;
}

/* ---- parser cases ---------------------------------------------------- */

struct pcase {
	const char *name;
	const char *in;
	size_t len;
	struct mime_limits lim; /* zero fields: defaults */
	int err;
	const char *detail; /* expected gw_err_detail() when err != 0 */
	const char *dump;
};

#define IN(s) s, sizeof(s) - 1

/*
 * Feed in chunks at the given cut points (ascending, may be empty), then
 * finish.  Returns the dump (or NULL) and the result in *errp.
 */
static char *
parse_cuts(const struct pcase *c, const size_t *cuts, size_t ncuts, int *errp)
{
	struct mime_parser *mp;
	struct mime_tree *t = NULL;
	const unsigned char *in = (const unsigned char *)c->in;
	size_t prev = 0, i, at;
	char *d = NULL;
	int r = 0;

	gw_err_clear();
	assert_non_null(mp = mime_parser_new(&c->lim));
	for (i = 0; i <= ncuts && r == 0; i++) {
		at = i < ncuts ? cuts[i] : c->len;
		r = mime_parser_feed(mp, in + prev, at - prev);
		prev = at;
	}
	if (r == 0)
		r = mime_parser_finish(mp, &t);
	else
		assert_int_equal(mime_parser_finish(mp, &t), r); /* latched */
	if (r == 0)
		d = dump_tree(t);
	else
		assert_null(t);
	mime_tree_free(t);
	mime_parser_free(mp);
	*errp = r;
	return d;
}

static void
print_literal(const char *name, const char *d)
{
	const char *p;

	printf("/* %s */\n\"", name);
	for (p = d; p != NULL && *p != '\0'; p++) {
		if (*p == '\n')
			printf("\\n\"\n\"");
		else if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else
			putchar(*p);
	}
	printf("\",\n");
}

static void
run_case(void **state)
{
	const struct pcase *c = *state;
	size_t cut, *cuts;
	char *whole, *d;
	int err, err2;

	whole = parse_cuts(c, NULL, 0, &err);
	if (getenv("MIME_TEST_PRINT") != NULL)
		print_literal(c->name, whole != NULL ? whole : "");
	assert_int_equal(err, c->err);
	if (err != 0)
		assert_string_equal(gw_err_detail(), c->detail);
	else
		assert_string_equal(whole, c->dump);

	/* Two chunks, every split point. */
	for (cut = 0; cut <= c->len; cut++) {
		d = parse_cuts(c, &cut, 1, &err2);
		assert_int_equal(err2, err);
		if (err == 0)
			assert_string_equal(d, whole);
		free(d);
	}
	/* One byte at a time. */
	assert_non_null(cuts = calloc(c->len + 1, sizeof(*cuts)));
	for (cut = 0; cut < c->len; cut++)
		cuts[cut] = cut;
	d = parse_cuts(c, cuts, c->len, &err2);
	assert_int_equal(err2, err);
	if (err == 0)
		assert_string_equal(d, whole);
	free(d);
	free(cuts);
	free(whole);
}

/* ---- the case table -------------------------------------------------- */

#define LIM(hb, line, depth, parts, total, fields, params)                   \
	{hb, line, depth, parts, total, fields, params, 0, 0}

static struct pcase cases[] = {
{"simple_crlf",
 IN("From: a@example.com\r\n"
    "To: b@example.com\r\n"
    "Subject: hi\r\n"
    "MIME-Version: 1.0\r\n"
    "\r\n"
    "Hello\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=81 parts=1 all=\n"
 "r leaf text/plain h=0-72 b=74-81 cte=7bit eol=C\n"
 "  H 0+21 \"From\" \"a@example.com\"\n"
 "  H 21+19 \"To\" \"b@example.com\"\n"
 "  H 40+13 \"Subject\" \"hi\"\n"
 "  H 53+19 \"MIME-Version\" \"1.0\"\n"},
{"lf_only_no_mime_version",
 IN("From: a\n"
    "Subject: x\n"
    "\n"
    "line1\n"
    "line2\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=32 parts=1 all=no-mime-version,bare-lf\n"
 "r leaf text/plain h=0-19 b=20-32 cte=7bit eol=L d=no-mime-version,bare-lf\n"
 "  H 0+8 \"From\" \"a\"\n"
 "  H 8+11 \"Subject\" \"x\"\n"},
{"folded_header_last_line_open",
 IN("Subject: part one\r\n"
    " part two\r\n"
    "\tpart three\r\n"
    "MIME-Version: 1.0\r\n"
    "\r\n"
    "body"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=68 parts=1 all=\n"
 "r leaf text/plain h=0-62 b=64-68 cte=7bit eol=C\n"
 "  H 0+43 \"Subject\" \"part one part two\\x09part three\"\n"
 "  H 43+19 \"MIME-Version\" \"1.0\"\n"},
{"mixed_eol",
 IN("MIME-Version: 1.0\r\n"
    "Subject: x\n"
    "\r\n"
    "body\r\n"
    "more\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=43 parts=1 all=bare-lf,mixed-eol\n"
 "r leaf text/plain h=0-30 b=32-43 cte=7bit eol=CL d=bare-lf,mixed-eol\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+11 \"Subject\" \"x\"\n"},
{"multipart_mixed_preamble_epilogue",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"XyZ\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--XyZ\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "first\r\n"
    "--XyZ\r\n"
    "\r\n"
    "second\r\n"
    "--XyZ--\r\n"
    "epilogue\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=174 parts=3 all=\n"
 "r multipart multipart/mixed h=0-66 b=68-174 pre=68-76 epi=164-174 cte=7bit eol=C bnd=\"XyZ\"\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+47 \"Content-Type\" \"multipart/mixed; boundary=\\\"XyZ\\\"\"\n"
 "  P boundary=\"XyZ\"\n"
 "r.0 leaf text/plain h=85-129 b=131-136 cte=7bit eol=C\n"
 "  H 85+44 \"Content-Type\" \"text/plain; charset=us-ascii\"\n"
 "  P charset=\"us-ascii\"\n"
 "r.1 leaf text/plain h=145-145 b=147-153 cte=7bit eol=C\n"},
{"multipart_signed",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n"
    "\tmicalg=sha-256; boundary=\"----S1\"\r\n"
    "\r\n"
    "This is an S/MIME signed message\r\n"
    "------S1\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "signed text\r\n"
    "------S1\r\n"
    "Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Disposition: attachment; filename=smime.p7s\r\n"
    "\r\n"
    "MIIBsig==\r\n"
    "------S1--\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=397 parts=3 all=\n"
 "r multipart multipart/signed h=0-128 b=130-397 pre=130-162 epi=397-397 cte=7bit eol=C bnd=\"----S1\"\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+109 \"Content-Type\" \"multipart/signed; protocol=\\\"application/pkcs7-signature\\\";\\x09micalg=sha-256; boundary=\\\"----S1\\\"\"\n"
 "  P protocol=\"application/pkcs7-signature\"\n"
 "  P micalg=\"sha-256\"\n"
 "  P boundary=\"----S1\"\n"
 "r.0 leaf text/plain h=174-200 b=202-213 cte=7bit eol=C\n"
 "  H 174+26 \"Content-Type\" \"text/plain\"\n"
 "r.1 leaf application/pkcs7-signature h=225-372 b=374-383 cte=base64 eol=C disp=attachment fn=\"smime.p7s\"\n"
 "  H 225+59 \"Content-Type\" \"application/pkcs7-signature; name=smime.p7s\"\n"
 "  H 284+35 \"Content-Transfer-Encoding\" \"base64\"\n"
 "  H 319+53 \"Content-Disposition\" \"attachment; filename=smime.p7s\"\n"
 "  P name=\"smime.p7s\"\n"
 "  D filename=\"smime.p7s\"\n"},
{"pkcs7_mime_upper_case",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: APPLICATION/X-PKCS7-MIME; SMIME-TYPE=enveloped-data;"
    " Name=\"smime.p7m\"\r\n"
    "Content-Transfer-Encoding: BASE64\r\n"
    "Content-Disposition: ATTACHMENT; FILENAME=\"smime.p7m\"\r\n"
    "\r\n"
    "MIAGCSqGSIb3DQEHA6CAMIACAQAx\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=226 parts=1 all=\n"
 "r leaf application/x-pkcs7-mime h=0-194 b=196-226 cte=base64 eol=C disp=attachment fn=\"smime.p7m\"\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+85 \"Content-Type\" \"APPLICATION/X-PKCS7-MIME; SMIME-TYPE=enveloped-data; Name=\\\"smime.p7m\\\"\"\n"
 "  H 104+35 \"Content-Transfer-Encoding\" \"BASE64\"\n"
 "  H 139+55 \"Content-Disposition\" \"ATTACHMENT; FILENAME=\\\"smime.p7m\\\"\"\n"
 "  P smime-type=\"enveloped-data\"\n"
 "  P name=\"smime.p7m\"\n"
 "  D filename=\"smime.p7m\"\n"},
{"multipart_lf_only",
 IN("MIME-Version: 1.0\n"
    "Content-Type: multipart/alternative; boundary=alt\n"
    "\n"
    "--alt\n"
    "Content-Type: text/plain\n"
    "\n"
    "plain\n"
    "--alt\n"
    "Content-Type: text/html\n"
    "\n"
    "<p>html</p>\n"
    "--alt--\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=158 parts=3 all=bare-lf\n"
 "r multipart multipart/alternative h=0-68 b=69-158 pre=69-69 epi=158-158 cte=7bit eol=L bnd=\"alt\" d=bare-lf\n"
 "  H 0+18 \"MIME-Version\" \"1.0\"\n"
 "  H 18+50 \"Content-Type\" \"multipart/alternative; boundary=alt\"\n"
 "  P boundary=\"alt\"\n"
 "r.0 leaf text/plain h=75-100 b=101-106 cte=7bit eol=L d=bare-lf\n"
 "  H 75+25 \"Content-Type\" \"text/plain\"\n"
 "r.1 leaf text/html h=113-137 b=138-149 cte=7bit eol=L d=bare-lf\n"
 "  H 113+24 \"Content-Type\" \"text/html\"\n"},
{"boundary_trailing_whitespace",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b \t \r\n"
    "\r\n"
    "one\r\n"
    "--b--\t\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=87 parts=2 all=\n"
 "r multipart multipart/mixed h=0-62 b=64-87 pre=64-64 epi=87-87 cte=7bit eol=C bnd=\"b\"\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+43 \"Content-Type\" \"multipart/mixed; boundary=b\"\n"
 "  P boundary=\"b\"\n"
 "r.0 leaf text/plain h=72-72 b=74-77 cte=7bit eol=C\n"},
{"boundary_garbage_prefix_match",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--bXYZ\r\n"
    "\r\n"
    "one\r\n"
    "--b--\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=86 parts=2 all=boundary-garbage\n"
 "r multipart multipart/mixed h=0-62 b=64-86 pre=64-64 epi=86-86 cte=7bit eol=C bnd=\"b\" d=boundary-garbage\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+43 \"Content-Type\" \"multipart/mixed; boundary=b\"\n"
 "  P boundary=\"b\"\n"
 "r.0 leaf text/plain h=72-72 b=74-77 cte=7bit eol=C\n"},
{"unterminated_multipart",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "\r\n"
    "one\r\n"
    "--b\r\n"
    "\r\n"
    "two, no close\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=98 parts=3 all=unterminated\n"
 "r multipart multipart/mixed h=0-62 b=64-98 pre=64-64 epi=98-98 cte=7bit eol=C bnd=\"b\" d=unterminated\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+43 \"Content-Type\" \"multipart/mixed; boundary=b\"\n"
 "  P boundary=\"b\"\n"
 "r.0 leaf text/plain h=69-69 b=71-74 cte=7bit eol=C\n"
 "r.1 leaf text/plain h=81-81 b=83-98 cte=7bit eol=C\n"},
{"multipart_without_delimiters",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "no delimiter\r\n"
    "at all\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=86 parts=1 all=unterminated\n"
 "r multipart multipart/mixed h=0-62 b=64-86 pre=64-86 epi=86-86 cte=7bit eol=C bnd=\"b\" d=unterminated\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+43 \"Content-Type\" \"multipart/mixed; boundary=b\"\n"
 "  P boundary=\"b\"\n"},
{"multipart_missing_boundary",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed\r\n"
    "\r\n"
    "--b\r\n"
    "\r\n"
    "x\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=62 parts=1 all=no-boundary\n"
 "r leaf multipart/mixed h=0-50 b=52-62 cte=7bit eol=C d=no-boundary\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+31 \"Content-Type\" \"multipart/mixed\"\n"},
{"nested_multipart",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=outer\r\n"
    "\r\n"
    "--outer\r\n"
    "Content-Type: multipart/alternative; boundary=inner\r\n"
    "\r\n"
    "--inner\r\n"
    "\r\n"
    "text\r\n"
    "--inner\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<b>x</b>\r\n"
    "--inner--\r\n"
    "inner epilogue\r\n"
    "--outer\r\n"
    "Content-Type: application/pdf; name=a.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "JVBERi0=\r\n"
    "--outer--\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=332 parts=5 all=\n"
 "r multipart multipart/mixed h=0-66 b=68-332 pre=68-68 epi=332-332 cte=7bit eol=C bnd=\"outer\"\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+47 \"Content-Type\" \"multipart/mixed; boundary=outer\"\n"
 "  P boundary=\"outer\"\n"
 "r.0 multipart multipart/alternative h=77-130 b=132-220 pre=132-132 epi=206-220 cte=7bit eol=C bnd=\"inner\"\n"
 "  H 77+53 \"Content-Type\" \"multipart/alternative; boundary=inner\"\n"
 "  P boundary=\"inner\"\n"
 "r.0.0 leaf text/plain h=141-141 b=143-147 cte=7bit eol=C\n"
 "r.0.1 leaf text/html h=158-183 b=185-193 cte=7bit eol=C\n"
 "  H 158+25 \"Content-Type\" \"text/html\"\n"
 "r.1 leaf application/pdf h=231-309 b=311-319 cte=base64 eol=C fn=\"a.pdf\"\n"
 "  H 231+43 \"Content-Type\" \"application/pdf; name=a.pdf\"\n"
 "  H 274+35 \"Content-Transfer-Encoding\" \"base64\"\n"
 "  P name=\"a.pdf\"\n"},
{"outer_delimiter_closes_inner",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=out\r\n"
    "\r\n"
    "--out\r\n"
    "Content-Type: multipart/related; boundary=in\r\n"
    "\r\n"
    "--in\r\n"
    "\r\n"
    "a\r\n"
    "--out\r\n"
    "\r\n"
    "b\r\n"
    "--out--\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=153 parts=4 all=unterminated\n"
 "r multipart multipart/mixed h=0-64 b=66-153 pre=66-66 epi=153-153 cte=7bit eol=C bnd=\"out\"\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+45 \"Content-Type\" \"multipart/mixed; boundary=out\"\n"
 "  P boundary=\"out\"\n"
 "r.0 multipart multipart/related h=73-119 b=121-130 pre=121-121 epi=130-130 cte=7bit eol=C bnd=\"in\" d=unterminated\n"
 "  H 73+46 \"Content-Type\" \"multipart/related; boundary=in\"\n"
 "  P boundary=\"in\"\n"
 "r.0.0 leaf text/plain h=127-127 b=129-130 cte=7bit eol=C\n"
 "r.1 leaf text/plain h=139-139 b=141-142 cte=7bit eol=C\n"},
{"message_rfc822_nested",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=m\r\n"
    "\r\n"
    "--m\r\n"
    "\r\n"
    "see attached\r\n"
    "--m\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: inner\r\n"
    "Content-Type: multipart/alternative; boundary=i\r\n"
    "\r\n"
    "--i\r\n"
    "\r\n"
    "inner text\r\n"
    "--i--\r\n"
    "--m--\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=222 parts=5 all=no-mime-version\n"
 "r multipart multipart/mixed h=0-62 b=64-222 pre=64-64 epi=222-222 cte=7bit eol=C bnd=\"m\"\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+43 \"Content-Type\" \"multipart/mixed; boundary=m\"\n"
 "  P boundary=\"m\"\n"
 "r.0 leaf text/plain h=69-69 b=71-83 cte=7bit eol=C\n"
 "r.1 message message/rfc822 h=90-120 b=122-213 cte=7bit eol=C\n"
 "  H 90+30 \"Content-Type\" \"message/rfc822\"\n"
 "r.1.0 multipart multipart/alternative h=122-187 b=189-213 pre=189-189 epi=213-213 cte=7bit eol=C bnd=\"i\" d=no-mime-version\n"
 "  H 122+16 \"Subject\" \"inner\"\n"
 "  H 138+49 \"Content-Type\" \"multipart/alternative; boundary=i\"\n"
 "  P boundary=\"i\"\n"
 "r.1.0.0 leaf text/plain h=194-194 b=196-206 cte=7bit eol=C\n"},
{"digest_default_type",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: multipart/digest; boundary=d\r\n"
    "\r\n"
    "--d\r\n"
    "\r\n"
    "Subject: one\r\n"
    "\r\n"
    "body one\r\n"
    "--d\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "not a message\r\n"
    "--d--\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=153 parts=4 all=no-mime-version\n"
 "r multipart multipart/digest h=0-63 b=65-153 pre=65-65 epi=153-153 cte=7bit eol=C bnd=\"d\"\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+44 \"Content-Type\" \"multipart/digest; boundary=d\"\n"
 "  P boundary=\"d\"\n"
 "r.0 message message/rfc822 h=70-70 b=72-96 cte=7bit eol=C\n"
 "r.0.0 leaf text/plain h=72-86 b=88-96 cte=7bit eol=C d=no-mime-version\n"
 "  H 72+14 \"Subject\" \"one\"\n"
 "r.1 leaf text/plain h=103-129 b=131-144 cte=7bit eol=C\n"
 "  H 103+26 \"Content-Type\" \"text/plain\"\n"},
{"headers_only_no_blank_line",
 IN("From: a\r\n"
    "Subject: b\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=21 parts=1 all=no-mime-version,no-blank-line\n"
 "r leaf text/plain h=0-21 b=21-21 cte=7bit eol=C d=no-mime-version,no-blank-line\n"
 "  H 0+9 \"From\" \"a\"\n"
 "  H 9+12 \"Subject\" \"b\"\n"},
{"headers_only_unterminated_line",
 IN("From: a\r\n"
    "Subject: b"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=19 parts=1 all=no-mime-version,no-blank-line\n"
 "r leaf text/plain h=0-19 b=19-19 cte=7bit eol=C d=no-mime-version,no-blank-line\n"
 "  H 0+9 \"From\" \"a\"\n"
 "  H 9+10 \"Subject\" \"b\"\n"},
{"empty_input",
 "", 0,
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=0 parts=1 all=no-mime-version,no-blank-line\n"
 "r leaf text/plain h=0-0 b=0-0 cte=7bit eol= d=no-mime-version,no-blank-line\n"},
{"header_defects",
 IN("  leading continuation\r\n"
    "NoColonLine\r\n"
    "Bad Name: x\r\n"
    "Subject : y\r\n"
    "X-8bit: caf\xc3\xa9\r\n"
    "X-Nul: a\0b\r\n"
    "X-Cr: a\rb\r\n"
    ": empty name\r\n"
    "\r\n"
    "body\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=123 parts=1 all=no-mime-version,bare-cr,nul,8bit-header,header-no-colon,header-bad-name,header-cont-first\n"
 "r leaf text/plain h=0-115 b=117-123 cte=7bit eol=C d=no-mime-version,bare-cr,nul,8bit-header,header-no-colon,header-bad-name,header-cont-first\n"
 "  H 0+24 \"leading continuation\" \"\"\n"
 "  H 24+13 \"NoColonLine\" \"\"\n"
 "  H 37+13 \"Bad Name\" \"x\"\n"
 "  H 50+13 \"Subject\" \"y\"\n"
 "  H 63+15 \"X-8bit\" \"caf\\xc3\\xa9\"\n"
 "  H 78+12 \"X-Nul\" \"a\\x00b\"\n"
 "  H 90+11 \"X-Cr\" \"a\\x0db\"\n"
 "  H 101+14 \"\" \"empty name\"\n"},
{"lone_cr_before_name",
 /* What a copy of the field says (the CR dropped) is what counts. */
 IN("\rContent-Type: text/html\r\n"
    "\r\t X-Late: z\r\n"
    "\r\n"
    "<p>\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=47 parts=1 all=no-mime-version,bare-cr,header-bad-name\n"
 "r leaf text/html h=0-40 b=42-47 cte=7bit eol=C d=no-mime-version,bare-cr,header-bad-name\n"
 "  H 0+26 \"Content-Type\" \"text/html\"\n"
 "  H 26+14 \"X-Late\" \"z\"\n"},
{"duplicate_content_type_first_wins",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "\r\n"
    "x\r\n"
    "--b--\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=107 parts=1 all=dup-content-header\n"
 "r leaf text/plain h=0-88 b=90-107 cte=7bit eol=C d=dup-content-header\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+26 \"Content-Type\" \"text/plain\"\n"
 "  H 45+43 \"Content-Type\" \"multipart/mixed; boundary=b\"\n"},
{"rfc2231_parameters",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: application/octet-stream;\r\n"
    " name*0*=utf-8''na%C3%AFve;\r\n"
    " name*1=\" file.txt\"; name=\"fallback.txt\";\r\n"
    " title*=us-ascii'en'This%20is%20%2A%2A%2Afun%2A%2A%2A;\r\n"
    " x-koi*=koi8-r''%F0%D2\r\n"
    "Content-Disposition: attachment;\r\n"
    " filename*=iso-8859-1'fr'caf%E9.txt; size=12\r\n"
    "\r\n"
    "data\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=300 parts=1 all=\n"
 "r leaf application/octet-stream h=0-292 b=294-300 cte=7bit eol=C disp=attachment fn=\"caf\\xc3\\xa9.txt\"\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+193 \"Content-Type\" \"application/octet-stream; name*0*=utf-8''na%C3%AFve; name*1=\\\" file.txt\\\"; name=\\\"fallback.txt\\\"; title*=us-ascii'en'This%20is%20%2A%2A%2Afun%2A%2A%2A; x-koi*=koi8-r''%F0%D2\"\n"
 "  H 212+80 \"Content-Disposition\" \"attachment; filename*=iso-8859-1'fr'caf%E9.txt; size=12\"\n"
 "  P name=\"na\\xc3\\xafve file.txt\"\n"
 "  P title=\"This is ***fun***\"\n"
 "  P x-koi=\"\\xef\\xbf\\xbd\\xef\\xbf\\xbd\"\n"
 "  D filename=\"caf\\xc3\\xa9.txt\"\n"
 "  D size=\"12\"\n"},
{"rfc2231_defects",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=us-ascii; charset=utf-8;\r\n"
    " a*1=x; b*0=1; b*2=3; c*=noquotes%2; d=\"open; e\r\n"
    "\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=130 parts=1 all=bad-params\n"
 "r leaf text/plain h=0-128 b=130-130 cte=7bit eol=C d=bad-params\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+109 \"Content-Type\" \"text/plain; charset=us-ascii; charset=utf-8; a*1=x; b*0=1; b*2=3; c*=noquotes%2; d=\\\"open; e\"\n"
 "  P charset=\"us-ascii\"\n"
 "  P b=\"1\"\n"
 "  P c=\"noquotes%2\"\n"
 "  P d=\"open; e\"\n"},
{"rfc2047_filename",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: application/pdf; name=\"=?utf-8?B?w6lsw6h2ZS5wZGY=?=\"\r\n"
    "Content-Disposition: inline\r\n"
    "\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=118 parts=1 all=\n"
 "r leaf application/pdf h=0-116 b=118-118 cte=7bit eol=C disp=inline fn=\"\\xc3\\xa9l\\xc3\\xa8ve.pdf\"\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+68 \"Content-Type\" \"application/pdf; name=\\\"=?utf-8?B?w6lsw6h2ZS5wZGY=?=\\\"\"\n"
 "  H 87+29 \"Content-Disposition\" \"inline\"\n"
 "  P name=\"=?utf-8?B?w6lsw6h2ZS5wZGY=?=\"\n"},
{"comments_and_quoted_boundary",
 IN("MIME-Version: 1.0 (produced by x)\r\n"
    "Content-Type: (c1) Multipart/Mixed (c2 (nested)) ;\r\n"
    "  BOUNDARY = \"a b:c=\\\"d\" (c3)\r\n"
    "\r\n"
    "--a b:c=\"d\r\n"
    "\r\n"
    "x\r\n"
    "--a b:c=\"d--\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=151 parts=2 all=bad-boundary\n"
 "r multipart multipart/mixed h=0-118 b=120-151 pre=120-120 epi=151-151 cte=7bit eol=C bnd=\"a b:c=\\\"d\" d=bad-boundary\n"
 "  H 0+35 \"MIME-Version\" \"1.0 (produced by x)\"\n"
 "  H 35+83 \"Content-Type\" \"(c1) Multipart/Mixed (c2 (nested)) ;  BOUNDARY = \\\"a b:c=\\\\\\\"d\\\" (c3)\"\n"
 "  P boundary=\"a b:c=\\\"d\"\n"
 "r.0 leaf text/plain h=132-132 b=134-135 cte=7bit eol=C\n"},
{"encoded_composite_is_leaf",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "--b\r\n"
    "\r\n"
    "--b--\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=113 parts=1 all=encoded-composite\n"
 "r leaf multipart/mixed h=0-97 b=99-113 cte=base64 eol=C d=encoded-composite\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+43 \"Content-Type\" \"multipart/mixed; boundary=b\"\n"
 "  H 62+35 \"Content-Transfer-Encoding\" \"base64\"\n"
 "  P boundary=\"b\"\n"},
{"empty_parts_and_close_at_eof",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "--b\r\n"
    "\r\n"
    "--b\r\n"
    "\r\n"
    "\r\n"
    "--b--"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=90 parts=4 all=no-blank-line\n"
 "r multipart multipart/mixed h=0-62 b=64-90 pre=64-64 epi=90-90 cte=7bit eol=C bnd=\"b\"\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+43 \"Content-Type\" \"multipart/mixed; boundary=b\"\n"
 "  P boundary=\"b\"\n"
 "r.0 leaf text/plain h=69-69 b=69-69 cte=7bit eol= d=no-blank-line\n"
 "r.1 leaf text/plain h=74-74 b=74-74 cte=7bit eol=C\n"
 "r.2 leaf text/plain h=81-81 b=83-83 cte=7bit eol=C\n"},
{"boundary_inside_header_block",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/plain\r\n"
    "--b--\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=102 parts=2 all=no-blank-line\n"
 "r multipart multipart/mixed h=0-62 b=64-102 pre=64-64 epi=102-102 cte=7bit eol=C bnd=\"b\"\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+43 \"Content-Type\" \"multipart/mixed; boundary=b\"\n"
 "  P boundary=\"b\"\n"
 "r.0 leaf text/plain h=69-93 b=93-93 cte=7bit eol=C d=no-blank-line\n"
 "  H 69+24 \"Content-Type\" \"text/plain\"\n"},
{"body_bytes_defects",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "\r\n"
    "bare\rcr, nul \0 and 8bit \xe9\r\n"
    "--b\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "8bit \xe9 is fine here\r\n"
    "--b--\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=166 parts=3 all=bare-cr,nul,8bit-body\n"
 "r multipart multipart/mixed h=0-62 b=64-166 pre=64-64 epi=166-166 cte=7bit eol=C bnd=\"b\"\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+43 \"Content-Type\" \"multipart/mixed; boundary=b\"\n"
 "  P boundary=\"b\"\n"
 "r.0 leaf text/plain h=69-69 b=71-96 cte=7bit eol=C d=bare-cr,nul,8bit-body\n"
 "r.1 leaf text/plain h=103-136 b=138-157 cte=8bit eol=C\n"
 "  H 103+33 \"Content-Transfer-Encoding\" \"8bit\"\n"},
{"inner_boundary_extends_outer",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=abc\r\n"
    "\r\n"
    "--abc\r\n"
    "Content-Type: multipart/alternative; boundary=abc-1\r\n"
    "\r\n"
    "--abc-1\r\n"
    "\r\n"
    "x\r\n"
    "--abc-1--\r\n"
    "--abc--\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=162 parts=3 all=\n"
 "r multipart multipart/mixed h=0-64 b=66-162 pre=66-66 epi=162-162 cte=7bit eol=C bnd=\"abc\"\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+45 \"Content-Type\" \"multipart/mixed; boundary=abc\"\n"
 "  P boundary=\"abc\"\n"
 "r.0 multipart multipart/alternative h=73-126 b=128-151 pre=128-128 epi=151-151 cte=7bit eol=C bnd=\"abc-1\"\n"
 "  H 73+53 \"Content-Type\" \"multipart/alternative; boundary=abc-1\"\n"
 "  P boundary=\"abc-1\"\n"
 "r.0.0 leaf text/plain h=137-137 b=139-140 cte=7bit eol=C\n"},
{"cte_and_x_types",
 IN("MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: X-Unknown/X-Foo\r\n"
    "Content-Transfer-Encoding: X-UUENCODE\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text\r\n"
    "Content-Transfer-Encoding: 7-bit\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "\r\n"
    "\0\x01\x02\xff\r\r\n"
    "--b--\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=298 parts=4 all=bare-cr,nul,bad-content-type,bad-cte\n"
 "r multipart multipart/mixed h=0-62 b=64-298 pre=64-64 epi=298-298 cte=7bit eol=C bnd=\"b\"\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"
 "  H 19+43 \"Content-Type\" \"multipart/mixed; boundary=b\"\n"
 "  P boundary=\"b\"\n"
 "r.0 leaf x-unknown/x-foo h=69-139 b=139-139 cte=x-uuencode eol=C\n"
 "  H 69+31 \"Content-Type\" \"X-Unknown/X-Foo\"\n"
 "  H 100+39 \"Content-Transfer-Encoding\" \"X-UUENCODE\"\n"
 "r.1 leaf text/plain h=146-200 b=200-200 cte=7-bit eol=C d=bad-content-type,bad-cte\n"
 "  H 146+20 \"Content-Type\" \"text\"\n"
 "  H 166+34 \"Content-Transfer-Encoding\" \"7-bit\"\n"
 "r.2 leaf application/octet-stream h=207-282 b=284-289 cte=binary eol=C d=bare-cr,nul\n"
 "  H 207+40 \"Content-Type\" \"application/octet-stream\"\n"
 "  H 247+35 \"Content-Transfer-Encoding\" \"binary\"\n"},
{"empty_body_blank_line_is_delimiters",
 IN("Content-Type: multipart/signed; boundary=s\r\n"
    "\r\n"
    "--s\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "--s\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: inner, empty body\r\n"
    "\r\n"
    "--s--\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=153 parts=4 all=no-mime-version\n"
 "r multipart multipart/signed h=0-44 b=46-153 pre=46-46 epi=153-153 cte=7bit eol=C bnd=\"s\" d=no-mime-version\n"
 "  H 0+44 \"Content-Type\" \"multipart/signed; boundary=s\"\n"
 "  P boundary=\"s\"\n"
 "r.0 leaf text/plain h=51-77 b=77-77 cte=7bit eol=C\n"
 "  H 51+26 \"Content-Type\" \"text/plain\"\n"
 "r.1 message message/rfc822 h=84-114 b=116-144 cte=7bit eol=C\n"
 "  H 84+30 \"Content-Type\" \"message/rfc822\"\n"
 "r.1.0 leaf text/plain h=116-144 b=144-144 cte=7bit eol=C d=no-mime-version\n"
 "  H 116+28 \"Subject\" \"inner, empty body\"\n"},
{"empty_part_then_outer_delimiter",
 IN("Content-Type: multipart/mixed; boundary=o\r\n"
    "\r\n"
    "--o\r\n"
    "Content-Type: multipart/mixed; boundary=i\r\n"
    "\r\n"
    "--i\r\n"
    "\r\n"
    "x\r\n"
    "--i\r\n"
    "--o--\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=117 parts=4 all=no-mime-version,unterminated,no-blank-line\n"
 "r multipart multipart/mixed h=0-43 b=45-117 pre=45-45 epi=117-117 cte=7bit eol=C bnd=\"o\" d=no-mime-version\n"
 "  H 0+43 \"Content-Type\" \"multipart/mixed; boundary=o\"\n"
 "  P boundary=\"o\"\n"
 "r.0 multipart multipart/mixed h=50-93 b=95-108 pre=95-95 epi=108-108 cte=7bit eol=C bnd=\"i\" d=unterminated\n"
 "  H 50+43 \"Content-Type\" \"multipart/mixed; boundary=i\"\n"
 "  P boundary=\"i\"\n"
 "r.0.0 leaf text/plain h=100-100 b=102-103 cte=7bit eol=C\n"
 "r.0.1 leaf text/plain h=108-108 b=108-108 cte=7bit eol= d=no-blank-line\n"},
{"line_at_limits",
 IN("MIME-Version: 1.0\r\n"
    "\r\n"
    "0123456789012345678\r\n"
    "0123456789012345678\n"
    "0123456789012345678"),
 LIM(0, 19, 0, 0, 0, 0, 0), 0, NULL,
 "size=81 parts=1 all=bare-lf,mixed-eol\n"
 "r leaf text/plain h=0-19 b=21-81 cte=7bit eol=CL d=bare-lf,mixed-eol\n"
 "  H 0+19 \"MIME-Version\" \"1.0\"\n"},
{"limit_line_body",
 IN("MIME-Version: 1.0\r\n"
    "\r\n"
    "01234567890123456789\r\n"),
 LIM(0, 19, 0, 0, 0, 0, 0), GW_ERR_LIMIT, "MIME line longer than 19 bytes",
 ""},
{"limit_line_header",
 IN("Subject: 01234567890123\r\n\r\n"),
 LIM(0, 19, 0, 0, 0, 0, 0), GW_ERR_LIMIT, "MIME line longer than 19 bytes",
 ""},
{"limit_depth",
 IN("Content-Type: multipart/mixed; boundary=1\r\n"
    "\r\n"
    "--1\r\n"
    "Content-Type: multipart/mixed; boundary=2\r\n"
    "\r\n"
    "--2\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: too deep\r\n"),
 LIM(0, 0, 2, 0, 0, 0, 0), GW_ERR_LIMIT, "MIME nesting deeper than 2",
 ""},
{"limit_depth_ok",
 IN("Content-Type: multipart/mixed; boundary=1\r\n"
    "\r\n"
    "--1\r\n"
    "Content-Type: multipart/mixed; boundary=2\r\n"
    "\r\n"
    "--2\r\n"
    "\r\n"
    "deep enough\r\n"),
 LIM(0, 0, 2, 0, 0, 0, 0), 0, NULL,
 "size=115 parts=3 all=no-mime-version,unterminated\n"
 "r multipart multipart/mixed h=0-43 b=45-115 pre=45-45 epi=115-115 cte=7bit eol=C bnd=\"1\" d=no-mime-version,unterminated\n"
 "  H 0+43 \"Content-Type\" \"multipart/mixed; boundary=1\"\n"
 "  P boundary=\"1\"\n"
 "r.0 multipart multipart/mixed h=50-93 b=95-115 pre=95-95 epi=115-115 cte=7bit eol=C bnd=\"2\" d=unterminated\n"
 "  H 50+43 \"Content-Type\" \"multipart/mixed; boundary=2\"\n"
 "  P boundary=\"2\"\n"
 "r.0.0 leaf text/plain h=100-100 b=102-115 cte=7bit eol=C\n"},
{"limit_parts",
 IN("Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "\r\n"
    "--b\r\n"
    "\r\n"
    "--b\r\n"
    "\r\n"
    "--b--\r\n"),
 LIM(0, 0, 0, 3, 0, 0, 0), GW_ERR_LIMIT,
 "MIME message has more than 3 parts", ""},
{"limit_header_bytes",
 IN("Subject: 0123456789\r\n"
    "X: 1\r\n"
    "\r\n"),
 LIM(25, 0, 0, 0, 0, 0, 0), GW_ERR_LIMIT,
 "MIME header block larger than 25 bytes", ""},
{"limit_header_bytes_exact",
 IN("Subject: 0123456789\r\n"
    "X: 1\r\n"
    "\r\n"),
 LIM(29, 0, 0, 0, 0, 0, 0), 0, NULL,
 "size=29 parts=1 all=no-mime-version\n"
 "r leaf text/plain h=0-27 b=29-29 cte=7bit eol=C d=no-mime-version\n"
 "  H 0+21 \"Subject\" \"0123456789\"\n"
 "  H 21+6 \"X\" \"1\"\n"},
{"limit_total",
 IN("Subject: x\r\n\r\n0123456789"),
 LIM(0, 0, 0, 0, 23, 0, 0), GW_ERR_LIMIT,
 "MIME message larger than 23 bytes", ""},
{"limit_fields",
 IN("A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"),
 LIM(0, 0, 0, 0, 0, 3, 0), GW_ERR_LIMIT,
 "MIME message has more than 3 header fields", ""},
{"limit_params",
 IN("Content-Type: text/plain; a=1; b=2; c=3\r\n\r\n"),
 LIM(0, 0, 0, 0, 0, 0, 2), GW_ERR_LIMIT,
 "MIME header field has more than 2 parameters", ""},
};

/* ---- API edge cases -------------------------------------------------- */

/*
 * The body scan's fast path (whole lines a block at a time) against the
 * per-line machine: random bodies made of the bytes that matter (LF,
 * CR, NUL, 8-bit, TAB, '-' and delimiter lines, lines around 998 bytes
 * and around a small max_line), under each kind of cte, parsed whole
 * (the fast path takes every run of lines it can), one byte at a time
 * (the per-line machine takes every line) and at random cuts: the same
 * result and the same dump every time.
 */
static uint32_t
body_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* Each round draws its own few special bytes and how often they come,
 * so that a defect the fast path misses is often the only one of its
 * kind in its part (and the dumps differ). */
struct body_mix {
	unsigned char special[2];
	uint32_t rate;
	uint32_t eol_rate;
};

static size_t
body_line(unsigned char *o, const struct body_mix *mx, uint32_t *x)
{
	size_t n = 0, len, i;

	switch (body_rand(x) % 8) {
	case 0:
		return (size_t)snprintf((char *)o, 8, "--b%s",
					body_rand(x) % 2 ? "--" : "");
	case 1:
		len = 990 + body_rand(x) % 20; /* around RFC_LINE_MAX */
		break;
	case 2:
		len = 30 + body_rand(x) % 40; /* around a small max_line */
		break;
	default:
		len = body_rand(x) % 90;
		break;
	}
	for (i = 0; i < len; i++)
		o[n++] = body_rand(x) % mx->rate == 0
			     ? mx->special[body_rand(x) % 2]
			     : (unsigned char)('A' + body_rand(x) % 26);
	return n;
}

static void
test_body_scan_splits(void **state)
{
	static const char *const ctes[] = {"7bit", "8bit", "binary", "base64",
					   "quoted-printable"};
	static const char *const eols[] = {"\r\n", "\n", "\r", "\r\r\n"};
	static const unsigned char pick[] = {'\r', '\n', '\0', 0x80, 0xff,
					     '\t', '-', ' ', 0x1f, 0x7f};
	struct body_mix mx;
	struct pcase c;
	unsigned char *in;
	size_t n, i, k, cut[7], *cuts;
	char *whole, *d;
	uint32_t x = 0x2545f491u;
	int round, err, err2, multi;

	(void)state;
	assert_non_null(in = malloc(64 * 1024));
	for (round = 0; round < 2000; round++) {
		multi = round % 3 != 0;
		k = body_rand(&x) % 5;
		n = (size_t)snprintf((char *)in, 256,
				    multi ? "Content-Type: multipart/mixed; "
					    "boundary=b\r\n\r\n--b\r\n"
					    "Content-Transfer-Encoding: %s\r\n"
					    "\r\n"
					  : "Content-Transfer-Encoding: %s\r\n"
					    "\r\n",
				    ctes[k]);
		mx.special[0] = pick[body_rand(&x) % sizeof(pick)];
		mx.special[1] = pick[body_rand(&x) % sizeof(pick)];
		mx.rate = 13 + body_rand(&x) % 1000;
		mx.eol_rate = 4 + body_rand(&x) % 200;
		for (i = body_rand(&x) % 60; i > 0; i--) {
			n += body_line(in + n, &mx, &x);
			k = body_rand(&x) % mx.eol_rate;
			if (k < 4) { /* mostly CRLF, the others sometimes */
				memcpy(in + n, eols[k], strlen(eols[k]));
				n += strlen(eols[k]);
			} else {
				memcpy(in + n, "\r\n", 2);
				n += 2;
			}
		}
		memset(&c, 0, sizeof(c));
		c.name = "body_scan";
		c.in = (const char *)in;
		c.len = n;
		if (round % 4 == 1)
			c.lim.max_line = 40 + body_rand(&x) % 30;
		whole = parse_cuts(&c, NULL, 0, &err);
		assert_non_null(cuts = calloc(n + 1, sizeof(*cuts)));
		for (i = 0; i < n; i++)
			cuts[i] = i;
		d = parse_cuts(&c, cuts, n, &err2);
		assert_int_equal(err2, err);
		if (err == 0)
			assert_string_equal(d, whole);
		free(d);
		free(cuts);
		for (i = 0; i < 7; i++)
			cut[i] = n == 0 ? 0 : body_rand(&x) % n;
		for (i = 1; i < 7; i++) /* ascending */
			for (k = i; k > 0 && cut[k - 1] > cut[k]; k--) {
				size_t t = cut[k];

				cut[k] = cut[k - 1];
				cut[k - 1] = t;
			}
		d = parse_cuts(&c, cut, 7, &err2);
		assert_int_equal(err2, err);
		if (err == 0)
			assert_string_equal(d, whole);
		free(d);
		free(whole);
	}
	free(in);
}

/*
 * mime_crlf_scan against mime_crlf_canon_len(): CRLF only exactly when
 * the canonical form is as long as the input, for random bytes (mostly
 * CRLF lines, sometimes a lone CR or LF, CR CR LF, a CR at the end), fed
 * whole, byte by byte, and at random cuts.
 */
static void
test_crlf_scan(void **state)
{
	struct mime_crlf_scan sc;
	unsigned char in[600];
	size_t n, i, j, at, next;
	uint32_t x = 0x9e3779b9u, rate;
	int round, want, yes = 0;

	(void)state;
	for (round = 0; round < 20000; round++) {
		n = body_rand(&x) % sizeof(in);
		rate = 2 + body_rand(&x) % 400;
		for (i = 0; i < n;) {
			if (body_rand(&x) % 20 != 0) {
				in[i++] = (unsigned char)('a' +
							  body_rand(&x) % 26);
				continue;
			}
			if (body_rand(&x) % rate == 0)
				in[i++] = body_rand(&x) % 2 ? '\r' : '\n';
			else if (i + 2 <= n) {
				in[i++] = '\r';
				in[i++] = '\n';
			} else {
				in[i++] = 'z';
			}
		}
		want = mime_crlf_canon_len(in, n) == n;
		yes += want;
		mime_crlf_scan_init(&sc);
		mime_crlf_scan_feed(&sc, in, n);
		assert_int_equal(mime_crlf_scan_done(&sc), want);
		mime_crlf_scan_init(&sc);
		for (i = 0; i < n; i++)
			mime_crlf_scan_feed(&sc, in + i, 1);
		assert_int_equal(mime_crlf_scan_done(&sc), want);
		mime_crlf_scan_init(&sc);
		for (at = 0; at < n; at = next) {
			next = at + 1 + body_rand(&x) % 40;
			if (next > n)
				next = n;
			j = next - at;
			mime_crlf_scan_feed(&sc, in + at, j);
		}
		assert_int_equal(mime_crlf_scan_done(&sc), want);
	}
	/* Both answers came up often. */
	assert_true(yes > 2000 && yes < 18000);
}

/*
 * mime_crlf_scan_feed() by each instruction-set path the CPU has
 * (mime_set_isa(): scalar, SSE2, AVX2), the same pieces to each, and
 * after every piece each path's state equal to the scalar path's and the
 * scalar path's to a byte-by-byte model: bad exactly when the bytes so
 * far hold an LF without a CR before it or a CR with a byte other than
 * LF after it, and otherwise cr exactly when the last byte was a CR.
 * The vector paths test a piece from its second byte on in blocks of 64
 * (SSE2) or 128 (AVX2) bytes, the last block overlapping the one before,
 * so every length from 0 to 300 has a CR, an LF or a letter put on each
 * of its bytes (every block edge of both, the very end included); the
 * pieces are cut anywhere, at block sizes and next to a CR or LF, and
 * each is copied to a heap block of its own (ASan sees a read outside
 * it).  A path the CPU lacks is skipped, and said so.
 */
struct crlf_paths {
	int isa[3];
	const char *name[3];
	size_t n;
};

/* pbad[k]: the first k bytes of in hold a line end other than CRLF (a
 * CR is judged by the byte after it). */
static unsigned char *
crlf_model(const unsigned char *in, size_t n)
{
	unsigned char *pbad;
	size_t k;

	assert_non_null(pbad = malloc(n + 1));
	pbad[0] = 0;
	for (k = 1; k <= n; k++)
		pbad[k] = pbad[k - 1] ||
			  (in[k - 1] == '\n' && (k < 2 || in[k - 2] != '\r')) ||
			  (k >= 2 && in[k - 2] == '\r' && in[k - 1] != '\n');
	return pbad;
}

/* in, in pieces that end at cut[0..ncut), to every path. */
static void
crlf_feed_paths(const struct crlf_paths *cp, const unsigned char *in,
		size_t n, const size_t *cut, size_t ncut)
{
	struct mime_crlf_scan sc[3];
	unsigned char *pbad = crlf_model(in, n), *blk;
	size_t at = 0, len, off, c, k;

	for (k = 0; k < cp->n; k++)
		mime_crlf_scan_init(&sc[k]);
	for (c = 0; c < ncut; at = cut[c++]) {
		len = cut[c] - at;
		off = c % 2 ? 0 : at % 32; /* the piece's alignment varies */
		assert_non_null(blk = malloc(off + len + (off + len == 0)));
		memcpy(blk + off, in + at, len);
		for (k = 0; k < cp->n; k++) {
			assert_int_equal(mime_set_isa(cp->isa[k]), 0);
			mime_crlf_scan_feed(&sc[k], blk + off, len);
			if (sc[k].bad != sc[0].bad ||
			    (!sc[k].bad && sc[k].cr != sc[0].cr))
				fail_msg("%s: %zu bytes, piece %zu-%zu: "
					 "bad %d cr %d, scalar bad %d cr %d",
					 cp->name[k], n, at, cut[c], sc[k].bad,
					 sc[k].cr, sc[0].bad, sc[0].cr);
		}
		free(blk);
		assert_int_equal(sc[0].bad, pbad[cut[c]]);
		if (!sc[0].bad)
			assert_int_equal(sc[0].cr,
					 cut[c] > 0 && in[cut[c] - 1] == '\r');
	}
	for (k = 0; k < cp->n; k++)
		assert_int_equal(mime_crlf_scan_done(&sc[k]),
				 !pbad[n] && (n == 0 || in[n - 1] != '\r'));
	free(pbad);
}

/*
 * Piece ends for in (room for 2n + 1): lengths from the block sizes and
 * one either side, next to the next CR or LF (before it, after it, one
 * further), up to maxlen, and now and then empty.
 */
static size_t
crlf_cuts(uint32_t *x, const unsigned char *in, size_t n, size_t maxlen,
	  size_t *cut)
{
	static const size_t edge[] = {1,  2,   31,  32,  33,  63,  64,
				      65, 66,  95,  96,  97,  127, 128,
				      129, 130, 191, 192, 193, 256, 257};
	size_t at = 0, nc = 0, len;

	while (at < n) {
		switch (body_rand(x) % 4) {
		case 0:
			len = edge[body_rand(x) % (sizeof(edge) /
						  sizeof(edge[0]))];
			break;
		case 1:
			for (len = 0; at + len < n && in[at + len] != '\r' &&
				      in[at + len] != '\n';
			     len++)
				;
			len += body_rand(x) % 3;
			break;
		case 2:
			len = body_rand(x) % (maxlen + 1);
			break;
		default:
			len = 1 + body_rand(x) % 300;
			break;
		}
		if (len > n - at)
			len = n - at;
		if (len == 0 && nc > 0 && cut[nc - 1] == at)
			len = 1; /* no two empty pieces in a row */
		at += len;
		cut[nc++] = at;
	}
	if (nc == 0)
		cut[nc++] = 0;
	return nc;
}

/* in fed whole, at random cuts (twice) and, if bytes, byte by byte. */
static void
crlf_feed_ways(const struct crlf_paths *cp, uint32_t *x,
	       const unsigned char *in, size_t n, size_t maxlen, int bytes)
{
	size_t *cut, i, nc;

	assert_non_null(cut = malloc((2 * n + 1) * sizeof(*cut)));
	cut[0] = n;
	crlf_feed_paths(cp, in, n, cut, 1);
	for (i = 0; i < 2; i++) {
		nc = crlf_cuts(x, in, n, maxlen, cut);
		crlf_feed_paths(cp, in, n, cut, nc);
	}
	if (bytes && n > 0) {
		for (i = 0; i < n; i++)
			cut[i] = i + 1;
		crlf_feed_paths(cp, in, n, cut, n);
	}
	free(cut);
}

/* n bytes of CRLF lines of 0 to 150 letters (the last one cut short). */
static void
crlf_text(uint32_t *x, unsigned char *o, size_t n)
{
	size_t i = 0, line = 0;

	while (i < n) {
		if (line == 0) {
			line = 1 + body_rand(x) % 151;
		} else if (--line == 0) {
			o[i++] = '\r';
			if (i < n)
				o[i++] = '\n';
			continue;
		}
		o[i++] = (unsigned char)('a' + body_rand(x) % 26);
	}
}

static void
test_crlf_scan_paths(void **state)
{
	static const int isas[] = {MIME_ISA_SCALAR, MIME_ISA_SSE2,
				   MIME_ISA_AVX2};
	static const char *const names[] = {"scalar", "sse2", "avx2"};
	static const unsigned char put[] = {'\r', '\n', 'x'};
	enum { BIG = 1024 * 1024 + 37 };
	struct crlf_paths cp;
	unsigned char *base, *in;
	size_t n, pos, k, i, at[14];
	uint32_t x = 0x6a09e667u, rate;
	int round;

	(void)state;
	memset(&cp, 0, sizeof(cp));
	for (k = 0; k < 3; k++) {
		if (mime_set_isa(isas[k]) != 0) {
			print_message("crlf scan: no %s path on this CPU, "
				      "that path skipped\n", names[k]);
			continue;
		}
		cp.isa[cp.n] = isas[k];
		cp.name[cp.n++] = names[k];
	}
	assert_int_equal(cp.isa[0], MIME_ISA_SCALAR);
	assert_non_null(base = malloc(BIG + 1));
	assert_non_null(in = malloc(BIG + 1));

	/* Every length to 300: clean, ending in a CR, and a CR, an LF or
	 * a letter on each byte. */
	for (n = 0; n <= 300; n++) {
		crlf_text(&x, base, n);
		crlf_feed_ways(&cp, &x, base, n, 300, 1);
		memcpy(in, base, n);
		in[n] = '\r';
		crlf_feed_ways(&cp, &x, in, n + 1, 300, 1);
		for (pos = 0; pos < n; pos++)
			for (k = 0; k < sizeof(put); k++) {
				memcpy(in, base, n);
				in[pos] = put[k];
				crlf_feed_ways(&cp, &x, in, n, 300,
					       pos % 37 == 0);
			}
	}

	/* Random bytes: mostly CRLF lines, lone CRs and LFs, CR CR LF, LF
	 * LF, at rates that change from round to round. */
	for (round = 0; round < 3000; round++) {
		n = body_rand(&x) % 10 == 0 ? 300 + body_rand(&x) % 5000
					    : body_rand(&x) % 301;
		rate = 2 + body_rand(&x) % 400;
		for (i = 0; i < n; i++) {
			if (body_rand(&x) % 16 != 0)
				in[i] = (unsigned char)('a' +
							body_rand(&x) % 26);
			else if (body_rand(&x) % rate == 0)
				in[i] = "\r\n\r\n\r\r\n\n"[body_rand(&x) % 8];
			else if (i + 2 <= n) {
				in[i++] = '\r';
				in[i] = '\n';
			} else
				in[i] = 'z';
		}
		crlf_feed_ways(&cp, &x, in, n, 400, n <= 300);
	}

	/* Large: clean, and one CR, LF or letter near each end, at block
	 * edges, and in the middle; in pieces of up to 70 000 bytes, and
	 * of 32 KiB as the decryption's. */
	n = BIG;
	crlf_text(&x, base, n);
	crlf_feed_ways(&cp, &x, base, 70000, 70000, 1);
	crlf_feed_ways(&cp, &x, base, n, 70000, 0);
	at[0] = 0, at[1] = 1, at[2] = 63, at[3] = 64, at[4] = 65;
	at[5] = 128, at[6] = 129, at[7] = n / 2, at[8] = n - 129;
	at[9] = n - 128, at[10] = n - 65, at[11] = n - 64, at[12] = n - 2;
	at[13] = n - 1;
	for (i = 0; i < 14; i++)
		for (k = 0; k < sizeof(put); k++) {
			size_t cut[BIG / 32768 + 1], nc = 0, end;

			memcpy(in, base, n);
			in[at[i]] = put[k];
			crlf_feed_ways(&cp, &x, in, n, 70000, 0);
			for (end = 32768; end < n; end += 32768)
				cut[nc++] = end;
			cut[nc++] = n;
			crlf_feed_paths(&cp, in, n, cut, nc);
		}
	free(base);
	free(in);
}

/* Back to the best path for the tests after this one. */
static int
isa_auto(void **state)
{
	(void)state;
	return mime_set_isa(MIME_ISA_AUTO);
}

static void
test_api_misuse(void **state)
{
	struct mime_parser *mp;
	struct mime_tree *t = NULL, *t2 = (struct mime_tree *)&t2;
	struct mime_limits lim;
	const unsigned char msg[] = "Subject: x\r\n\r\nbody\r\n";

	(void)state;
	assert_int_equal(mime_parser_feed(NULL, msg, 1), GW_ERR_INVALID);
	assert_int_equal(mime_parser_finish(NULL, &t), GW_ERR_INVALID);
	mime_parser_free(NULL);
	mime_tree_free(NULL);
	assert_null(mime_tree_root(NULL));
	assert_null(mime_part_content_type(NULL));
	assert_null(mime_part_header(NULL, "x"));
	assert_int_equal(mime_part_child_count(NULL), 0);

	assert_non_null(mp = mime_parser_new(NULL));
	assert_int_equal(mime_parser_feed(mp, NULL, 1), GW_ERR_INVALID);
	assert_int_equal(mime_parser_feed(mp, NULL, 0), 0);
	assert_int_equal(mime_parser_feed(mp, msg, sizeof(msg) - 1), 0);
	assert_int_equal(mime_parser_finish(mp, NULL), GW_ERR_INVALID);
	assert_int_equal(mime_parser_finish(mp, &t), 0);
	assert_non_null(t);
	/* Spent. */
	assert_int_equal(mime_parser_feed(mp, msg, 1), GW_ERR_INVALID);
	assert_int_equal(mime_parser_finish(mp, &t2), GW_ERR_INVALID);
	assert_null(t2);
	mime_parser_free(mp);
	mime_tree_free(t);
	t = NULL;

	/* The tree outlives the parser, and lookups are case-blind. */
	assert_non_null(mp = mime_parser_new(NULL));
	assert_int_equal(mime_parser_feed(mp, msg, sizeof(msg) - 1), 0);
	assert_int_equal(mime_parser_finish(mp, &t), 0);
	mime_parser_free(mp);
	assert_string_equal(mime_part_header(mime_tree_root(t), "SUBJECT"),
			    "x");
	assert_null(mime_part_header(mime_tree_root(t), "subjec"));
	assert_null(mime_part_param(mime_tree_root(t), "charset"));
	assert_null(mime_part_disposition(mime_tree_root(t)));
	assert_string_equal(mime_part_cte(mime_tree_root(t)), "7bit");
	mime_tree_free(t);

	/* A parser that is never finished frees its tree. */
	assert_non_null(mp = mime_parser_new(NULL));
	assert_int_equal(mime_parser_feed(mp, msg, 5), 0);
	mime_parser_free(mp);

	/* Errors are latched. */
	memset(&lim, 0, sizeof(lim));
	lim.max_total = 4;
	gw_err_clear();
	assert_non_null(mp = mime_parser_new(&lim));
	assert_int_equal(mime_parser_feed(mp, msg, 5), GW_ERR_LIMIT);
	assert_int_equal(mime_parser_feed(mp, msg, 1), GW_ERR_LIMIT);
	assert_int_equal(mime_parser_finish(mp, &t), GW_ERR_LIMIT);
	assert_null(t);
	mime_parser_free(mp);
	assert_string_equal(gw_err_detail(), "MIME message larger than 4 bytes");

	mime_limits_default(&lim);
	assert_int_equal(lim.max_depth, 32);
	assert_int_equal(lim.max_parts, 10000);
	assert_int_equal(lim.max_header_bytes, 256 * 1024);
	assert_int_equal(lim.max_line, 1024 * 1024);
	assert_int_equal(lim.max_total, 64 * 1024 * 1024);
	assert_string_equal(mime_defect_name(MIME_DEFECT_UNTERMINATED),
			    "unterminated");
	assert_string_equal(mime_defect_name(3), "unknown");
	assert_string_equal(mime_kind_name(MIME_KIND_MESSAGE), "message");
}

/* The tree of msg (n bytes) parsed with lim, fed in pieces of step. */
static struct mime_tree *
parse_with(const struct mime_limits *lim, const char *msg, size_t n,
	   size_t step)
{
	struct mime_parser *mp;
	struct mime_tree *t = NULL;
	size_t at, k;

	assert_non_null(mp = mime_parser_new(lim));
	for (at = 0; at < n; at += k) {
		k = n - at < step ? n - at : step;
		assert_int_equal(mime_parser_feed(mp, (const unsigned char *)msg +
							  at,
						  k),
				 0);
	}
	assert_int_equal(mime_parser_finish(mp, &t), 0);
	mime_parser_free(mp);
	return t;
}

/*
 * root_body_unread: a root leaf's body is the rest of the input, unread
 * (no defects, no line limit), in every split; a root multipart or
 * message is parsed as without it.
 */
static void
test_root_body_unread(void **state)
{
	static const char leaf[] =
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n"
	    "MIIB\r\nAAAA\0\xff\r\r\n"
	    "a line longer than the limit set below: more than sixty-four "
	    "bytes\n";
	static const char multi[] =
	    "Content-Type: multipart/mixed; boundary=b\r\n"
	    "\r\n"
	    "--b\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "a\0b\r\n"
	    "--b--\r\n"
	    "epilogue\r\n";
	static const char msg[] =
	    "Content-Type: message/rfc822\r\n"
	    "\r\n"
	    "Subject: inner\r\n"
	    "\r\n"
	    "x\0y\r\n";
	const char *both[2] = {multi, msg};
	size_t blen[2] = {sizeof(multi) - 1, sizeof(msg) - 1};
	struct mime_limits lim;
	struct mime_tree *t, *u;
	const struct mime_part *r, *q;
	struct mime_range b;
	size_t steps[] = {1, 7, 4096}, i, j, h;

	(void)state;
	mime_limits_default(&lim);
	assert_int_equal(lim.root_body_unread, 0);
	lim.root_body_unread = 1;
	lim.max_line = 64;
	h = strstr(leaf, "\r\n\r\n") - leaf + 4;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		t = parse_with(&lim, leaf, sizeof(leaf) - 1, steps[i]);
		r = mime_tree_root(t);
		b = mime_part_body_range(r);
		assert_int_equal(b.start, h);
		assert_int_equal(b.end, sizeof(leaf) - 1);
		assert_int_equal(mime_part_defects_all(r), 0);
		assert_string_equal(mime_part_content_type(r),
				    "application/pkcs7-mime");
		mime_tree_free(t);
	}
	/* Read, the same body fails the line limit. */
	lim.root_body_unread = 0;
	{
		struct mime_parser *mp = mime_parser_new(&lim);

		assert_non_null(mp);
		assert_int_equal(mime_parser_feed(mp,
						  (const unsigned char *)leaf,
						  sizeof(leaf) - 1),
				 GW_ERR_LIMIT);
		mime_parser_free(mp);
	}
	lim.max_line = 0;
	for (j = 0; j < 2; j++)
		for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
			lim.root_body_unread = 1;
			t = parse_with(&lim, both[j], blen[j], steps[i]);
			lim.root_body_unread = 0;
			u = parse_with(&lim, both[j], blen[j], steps[i]);
			r = mime_tree_root(t);
			q = mime_tree_root(u);
			assert_int_equal(mime_part_defects_all(r),
					 mime_part_defects_all(q));
			assert_true(mime_part_defects_all(r) &
				    MIME_DEFECT_NUL);
			assert_int_equal(mime_part_child_count(r),
					 mime_part_child_count(q));
			assert_int_equal(mime_part_range(mime_part_child(r, 0))
					     .end,
					 mime_part_range(mime_part_child(q, 0))
					     .end);
			mime_tree_free(t);
			mime_tree_free(u);
		}
}

/* The detached-signature use: slice the signed entity by offsets. */
static void
test_signed_slice(void **state)
{
	static const char msg[] =
	    "Content-Type: multipart/signed; boundary=sig;\r\n"
	    " protocol=\"application/pkcs7-signature\"\r\n"
	    "MIME-Version: 1.0\r\n"
	    "\r\n"
	    "--sig\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "Line 1\r\n"
	    "\r\n"
	    "--sig\r\n"
	    "Content-Type: application/pkcs7-signature\r\n"
	    "\r\n"
	    "AAAA\r\n"
	    "--sig--\r\n";
	static const char entity[] = "Content-Type: text/plain\r\n"
				     "\r\n"
				     "Line 1\r\n";
	struct mime_parser *mp;
	struct mime_tree *t = NULL;
	const struct mime_part *signed_part;
	struct mime_range rg;

	(void)state;
	assert_non_null(mp = mime_parser_new(NULL));
	assert_int_equal(mime_parser_feed(mp, (const unsigned char *)msg,
					  sizeof(msg) - 1),
			 0);
	assert_int_equal(mime_parser_finish(mp, &t), 0);
	signed_part = mime_part_child(mime_tree_root(t), 0);
	rg = mime_part_range(signed_part);
	/* The CRLF before "--sig" belongs to the delimiter, the empty line
	 * before it to the entity. */
	assert_int_equal(rg.end - rg.start, sizeof(entity) - 1);
	assert_memory_equal(msg + rg.start, entity, sizeof(entity) - 1);
	assert_string_equal(
	    mime_part_param(mime_tree_root(t), "protocol"),
	    "application/pkcs7-signature");
	mime_tree_free(t);
	mime_parser_free(mp);
}

/* ---- codecs ---------------------------------------------------------- */

static void
fill_random(unsigned char *p, size_t n, uint32_t *seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		*seed = *seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(*seed >> 16);
	}
}

static void
b64_expect(const char *in, const char *want, unsigned want_flags)
{
	unsigned char out[256];
	size_t olen = 0;
	unsigned fl = 0;

	assert_true(mime_base64_decoded_max(strlen(in)) <= sizeof(out));
	assert_int_equal(mime_base64_decode((const unsigned char *)in,
					    strlen(in), out, sizeof(out), &olen,
					    &fl),
			 0);
	assert_int_equal(olen, strlen(want));
	assert_memory_equal(out, want, olen);
	assert_int_equal(fl, want_flags);
}

static void
test_base64(void **state)
{
	static const char *const vec[][2] = {
	    {"", ""},		  {"f", "Zg==\r\n"},
	    {"fo", "Zm8=\r\n"},	  {"foo", "Zm9v\r\n"},
	    {"foob", "Zm9vYg==\r\n"}, {"fooba", "Zm9vYmE=\r\n"},
	    {"foobar", "Zm9vYmFy\r\n"},
	};
	unsigned char buf[4096], enc[8192], dec[4096];
	size_t i, n, elen, dlen, col, k;
	uint32_t seed = 1;
	unsigned fl;

	(void)state;
	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		n = strlen(vec[i][0]);
		assert_int_equal(mime_base64_encode((const unsigned char *)vec[i][0],
						    n, enc, sizeof(enc), &elen),
				 0);
		assert_int_equal(elen, strlen(vec[i][1]));
		assert_int_equal(elen, mime_base64_encoded_max(n));
		assert_memory_equal(enc, vec[i][1], elen);
		b64_expect(vec[i][1], vec[i][0], 0);
	}
	/* Odd line lengths, LF only, blanks, junk, missing padding. */
	b64_expect("Zm9v\nYmFy", "foobar", 0);
	b64_expect("Z m 9\tv Y\r\nmF\ny\n", "foobar", 0);
	b64_expect("Zm9vYmE", "fooba", MIME_DEC_NO_PAD);
	b64_expect("Zm9vY", "foo", MIME_DEC_TRUNCATED);
	b64_expect("Zm9v!YmFy", "foobar", MIME_DEC_BAD_CHAR);
	b64_expect("Zg==Zm9v", "f", MIME_DEC_AFTER_PAD);
	b64_expect("Zg==\r\n==\r\n", "f", 0);
	b64_expect("Zm9v=", "foo", MIME_DEC_BAD_CHAR);
	b64_expect("Zm9vYmFyYmF6cXV4\r\nZm9v", "foobarbazquxfoo", 0);

	/* Round trips at every length up to 600, and lines of 76. */
	for (n = 0; n <= 600; n++) {
		fill_random(buf, n, &seed);
		assert_int_equal(mime_base64_encode(buf, n, enc, sizeof(enc),
						    &elen),
				 0);
		for (col = 0, k = 0; k < elen; k++) {
			if (enc[k] == '\r') {
				assert_int_equal(enc[k + 1], '\n');
				assert_true(col == 76 || k + 2 == elen);
				col = 0;
				k++;
				continue;
			}
			assert_true(++col <= 76);
		}
		fl = 0;
		assert_int_equal(mime_base64_decode(enc, elen, dec, sizeof(dec),
						    &dlen, &fl),
				 0);
		assert_int_equal(fl, 0);
		assert_int_equal(dlen, n);
		assert_memory_equal(dec, buf, n);
	}
	/* Ceilings. */
	assert_int_equal(mime_base64_encode(buf, 3, enc, 5, &elen),
			 GW_ERR_LIMIT);
	assert_int_equal(mime_base64_decode((const unsigned char *)"Zm9vYmFy",
					    8, dec, 5, &dlen, NULL),
			 GW_ERR_LIMIT);
	assert_int_equal(mime_base64_decode(NULL, 1, dec, 5, &dlen, NULL),
			 GW_ERR_INVALID);
	assert_int_equal(mime_base64_encoded_max(SIZE_MAX), SIZE_MAX);
}

static void
qp_dec_expect(const char *in, const char *want, unsigned want_flags)
{
	unsigned char out[512];
	size_t olen = 0;
	unsigned fl = 0;

	assert_int_equal(mime_qp_decode((const unsigned char *)in, strlen(in),
					out, sizeof(out), &olen, &fl),
			 0);
	assert_int_equal(olen, strlen(want));
	assert_memory_equal(out, want, olen);
	assert_int_equal(fl, want_flags);
}

static void
qp_enc_expect(const char *in, unsigned flags, const char *want)
{
	unsigned char out[1024];
	size_t olen = 0;

	assert_true(mime_qp_encoded_max(strlen(in)) <= sizeof(out));
	assert_int_equal(mime_qp_encode((const unsigned char *)in, strlen(in),
					flags, out, sizeof(out), &olen),
			 0);
	assert_int_equal(olen, strlen(want));
	assert_memory_equal(out, want, olen);
}

/* Every line <= 76 columns, CRLF only, 7-bit printable. */
static void
qp_check_shape(const unsigned char *s, size_t n)
{
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '\r') {
			assert_true(i + 1 < n && s[i + 1] == '\n');
			/* no whitespace before a line end */
			assert_true(i == 0 || (s[i - 1] != ' ' && s[i - 1] != '\t'));
			col = 0;
			i++;
			continue;
		}
		assert_true(s[i] == '\t' || (s[i] >= 32 && s[i] < 127));
		assert_true(++col <= 76);
	}
	assert_true(n == 0 || (s[n - 1] != ' ' && s[n - 1] != '\t'));
}

static void
test_qp(void **state)
{
	unsigned char buf[3000], enc[12000], dec[3000];
	size_t n, elen, dlen, i;
	uint32_t seed = 7;
	unsigned fl;
	char line[200];

	(void)state;
	qp_dec_expect("caf=C3=A9", "caf\xc3\xa9", 0);
	qp_dec_expect("caf=c3=a9", "caf\xc3\xa9", 0);
	qp_dec_expect("soft=\r\nbreak", "softbreak", 0);
	qp_dec_expect("soft= \t\nbreak\n", "softbreak\n", 0);
	qp_dec_expect("trail   \r\nnext\t\r\n", "trail\r\nnext\r\n", 0);
	qp_dec_expect("a=3Db=\r\n", "a=b", 0);
	qp_dec_expect("50=% off =ZZ=4", "50=% off =ZZ=4", MIME_DEC_BAD_ESCAPE);
	qp_dec_expect("x=", "x", 0);

	qp_enc_expect("hello world", 0, "hello world");
	qp_enc_expect("a=b", 0, "a=3Db");
	qp_enc_expect("trailing \r\nspace\t\nx ", 0,
		      "trailing=20\r\nspace=09\r\nx=20");
	qp_enc_expect("caf\xc3\xa9\n", 0, "caf=C3=A9\r\n");
	qp_enc_expect("From me\r\nFrom you", 0, "=46rom me\r\n=46rom you");
	qp_enc_expect("a\rb", 0, "a=0Db");
	qp_enc_expect("a\r\nb", MIME_QP_BINARY, "a=0D=0Ab");
	memset(line, 'x', 80);
	line[80] = '\0';
	qp_enc_expect(line, 0,
		      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		      "xxxxxxxxxxxxxxxxxx=\r\nxxxxx");

	/* Binary round trips, and the shape of the output. */
	for (n = 0; n <= 2000; n += 37) {
		fill_random(buf, n, &seed);
		assert_int_equal(mime_qp_encode(buf, n, MIME_QP_BINARY, enc,
						sizeof(enc), &elen),
				 0);
		assert_true(elen <= mime_qp_encoded_max(n));
		qp_check_shape(enc, elen);
		fl = 0;
		assert_int_equal(mime_qp_decode(enc, elen, dec, sizeof(dec),
						&dlen, &fl),
				 0);
		assert_int_equal(fl, 0);
		assert_int_equal(dlen, n);
		assert_memory_equal(dec, buf, n);
	}
	/* Text round trip: CRLF lines with trailing blanks survive. */
	for (n = 0, i = 0; i < 25; i++) {
		memcpy(buf + n, "From a line with trailing blanks \t ", 35);
		n += 35;
		memset(buf + n, 'y', i * 3);
		n += i * 3;
		memcpy(buf + n, " \r\n", 3);
		n += 3;
	}
	assert_int_equal(mime_qp_encode(buf, n, 0, enc, sizeof(enc), &elen), 0);
	qp_check_shape(enc, elen);
	assert_int_equal(mime_qp_decode(enc, elen, dec, sizeof(dec), &dlen, NULL),
			 0);
	assert_int_equal(dlen, n);
	assert_memory_equal(dec, buf, n);
	/* Worst case size holds. */
	memset(buf, 0xff, 1000);
	assert_int_equal(mime_qp_encode(buf, 1000, 0, enc,
					mime_qp_encoded_max(1000), &elen),
			 0);
	assert_int_equal(mime_qp_encode(buf, 10, 0, enc, 29, &elen),
			 GW_ERR_LIMIT);
}

static void
crlf_expect(const char *in, const char *want)
{
	unsigned char out[256];
	size_t olen = 0, n = strlen(in);

	assert_int_equal(mime_crlf_canon((const unsigned char *)in, n, out,
					 sizeof(out), &olen),
			 0);
	assert_int_equal(olen, strlen(want));
	assert_memory_equal(out, want, olen);
	assert_int_equal(mime_crlf_canon_len((const unsigned char *)in, n),
			 olen);
	assert_true(olen <= mime_crlf_max(n));
	if (olen > 0)
		assert_int_equal(mime_crlf_canon((const unsigned char *)in, n,
						 out, olen - 1, &olen),
				 GW_ERR_LIMIT);
}

static void
test_crlf(void **state)
{
	(void)state;
	crlf_expect("", "");
	crlf_expect("abc", "abc");
	crlf_expect("a\nb\r\nc\rd\r", "a\r\nb\r\nc\r\nd\r\n");
	crlf_expect("\n\n", "\r\n\r\n");
	crlf_expect("\r\r\n\r", "\r\n\r\n\r\n");
	crlf_expect("x\r\n\ry\n", "x\r\n\r\ny\r\n");
	crlf_expect("already\r\ncanonical\r\n", "already\r\ncanonical\r\n");
}

static void
rfc2047_expect(const char *in, const char *want)
{
	char out[512];

	assert_true(mime_rfc2047_decoded_max(strlen(in)) <= sizeof(out));
	assert_int_equal(mime_decode_rfc2047(in, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void
test_rfc2047(void **state)
{
	char small[4];
	char out[64];
	size_t olen;

	(void)state;
	/* RFC 2047 section 8. */
	rfc2047_expect("(=?ISO-8859-1?Q?a?=)", "(a)");
	rfc2047_expect("(=?ISO-8859-1?Q?a?= b)", "(a b)");
	rfc2047_expect("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)");
	rfc2047_expect("(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)");
	rfc2047_expect("(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)");
	rfc2047_expect("(=?ISO-8859-1?Q?a_b?=)", "(a b)");
	rfc2047_expect("(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)",
		       "(a =?ISO-8859-2?Q?_b?=)");
	rfc2047_expect("=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>",
		       "Keith Moore <moore@cs.utk.edu>");
	rfc2047_expect("=?ISO-8859-1?Q?Andr=E9?= Pirard", "Andr\xc3\xa9 Pirard");
	rfc2047_expect("=?utf-8?B?w6lsw6h2ZQ==?=", "\xc3\xa9l\xc3\xa8ve");
	rfc2047_expect("=?UTF-8?b?w6lsw6h2ZQ?=", "\xc3\xa9l\xc3\xa8ve");
	/* A character split across two words is joined. */
	rfc2047_expect("=?utf-8?Q?=C3?= =?utf-8?Q?=A9?=", "\xc3\xa9");
	rfc2047_expect("=?utf-8?Q?=C3?= x", "\xef\xbf\xbd x");
	rfc2047_expect("=?windows-1252?q?=80?=", "\xe2\x82\xac");
	rfc2047_expect("=?iso-8859-1*en?q?caf=E9?=", "caf\xc3\xa9");
	/* Controls never come out; malformed words stay. */
	rfc2047_expect("=?utf-8?q?a=0Ab=00c?=", "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c");
	rfc2047_expect("=?utf-8?x?abc?=", "=?utf-8?x?abc?=");
	rfc2047_expect("=?utf-8?q?a b?=", "=?utf-8?q?a b?=");
	rfc2047_expect("=?utf-8?q?unterminated", "=?utf-8?q?unterminated");
	rfc2047_expect("raw \xc3\xa9 and \xff", "raw \xc3\xa9 and \xef\xbf\xbd");
	rfc2047_expect("=?koi8-r?B?8NLJ18XU?= =?utf-8?q?x?=",
		       "=?koi8-r?B?8NLJ18XU?= x");
	rfc2047_expect("a=?utf-8?q?b?=c", "abc");
	/* Truncation keeps whole characters. */
	assert_int_equal(mime_decode_rfc2047("=?utf-8?q?=C3=A9=C3=A9?=", small,
					     sizeof(small)),
			 GW_ERR_LIMIT);
	assert_string_equal(small, "\xc3\xa9");
	assert_int_equal(mime_decode_rfc2047("x", small, 0), GW_ERR_INVALID);

	assert_int_equal(mime_charset_to_utf8("ISO-8859-1",
					      (const unsigned char *)"\xe9\x80",
					      2, out, sizeof(out), &olen),
			 0);
	assert_string_equal(out, "\xc3\xa9\xef\xbf\xbd");
	assert_int_equal(olen, 5);
	assert_int_equal(mime_charset_to_utf8("shift_jis",
					      (const unsigned char *)"a", 1,
					      out, sizeof(out), &olen),
			 GW_ERR_UNSUPPORTED);
	/* Overlong, surrogate and out-of-range UTF-8 are replaced. */
	assert_int_equal(mime_charset_to_utf8("utf-8",
					      (const unsigned char *)
					      "\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80",
					      9, out, sizeof(out), &olen),
			 0);
	assert_int_equal(strstr(out, "\xed\xa0") == NULL, 1);
	assert_int_equal(strspn(out, "\xef\xbf\xbd"), olen);
	assert_true(mime_charset_supported("UTF8"));
	assert_false(mime_charset_supported("utf-16"));
}

int
main(void)
{
	enum { NCASES = sizeof(cases) / sizeof(cases[0]) };
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_api_misuse),
	    cmocka_unit_test(test_signed_slice),
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_qp),
	    cmocka_unit_test(test_crlf),
	    cmocka_unit_test(test_rfc2047),
	    cmocka_unit_test(test_body_scan_splits),
	    cmocka_unit_test(test_crlf_scan),
	    cmocka_unit_test_teardown(test_crlf_scan_paths, isa_auto),
	    cmocka_unit_test(test_root_body_unread),
	};
	struct CMUnitTest tests[NCASES + sizeof(fixed) / sizeof(fixed[0])];
	size_t i;

	memset(tests, 0, sizeof(tests));
	for (i = 0; i < NCASES; i++) {
		if (cases[i].len == 0)
			cases[i].len = strlen(cases[i].in);
		tests[i].name = cases[i].name;
		tests[i].test_func = run_case;
		tests[i].initial_state = &cases[i];
	}
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		tests[NCASES + i] = fixed[i];
	return _cmocka_run_group_tests("mime_parser", tests,
				       sizeof(tests) / sizeof(tests[0]), NULL,
				       NULL);
}
