/*
 * test_textstream.c - large texts read in chunks of whole entries
 * (lib/textstream.c) and the set of names seen (lib/strset.c), the
 * pieces under the streamed imports (issue 10).
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
#include "strset.h"
#include "textstream.h"

static int
starts(const char *line, size_t len)
{
	return len >= 5 && memcmp(line, "name:", 5) == 0;
}

static int
stops(const char *line, size_t len)
{
	return len >= 8 && memcmp(line, "smimegw-", 8) == 0;
}

static FILE *
text(const char *s, size_t n)
{
	FILE *fp = tmpfile();

	assert_non_null(fp);
	assert_int_equal(fwrite(s, 1, n, fp), n);
	rewind(fp);
	return fp;
}

/* Chunks cut only before an entry, once big enough; every byte once, in
 * order; the line numbers of each chunk's first line; a stop line ends
 * the run and is left; the last line may lack its LF. */
static void
chunks_of_entries(void **state)
{
	static const char in[] =
	    "hdr 1\n# c\nname: a\nx\ny\nname: b\r\nz\n\nname: c\nw\n"
	    "smimegw-next 1\nname: d\nlast";
	struct textstream ts;
	struct gw_buf b, all;
	unsigned first, firsts[8], n = 0;
	FILE *fp = text(in, sizeof(in) - 1);
	const char *line;
	size_t len;
	int r;

	(void)state;
	gw_buf_init(&b, 1 << 20);
	gw_buf_init(&all, 1 << 20);
	textstream_init(&ts, fp, "t");
	while ((r = textstream_chunk(&ts, &b, 1, starts, stops, &first)) ==
	       1) {
		assert_true(n < 8);
		firsts[n++] = first;
		assert_int_equal(gw_buf_add(&all, b.data, b.len), 0);
		/* Each chunk after the first begins with an entry. */
		if (n > 1)
			assert_memory_equal(b.data, "name:", 5);
		gw_buf_reset(&b);
	}
	assert_int_equal(r, 0);
	assert_int_equal(n, 4);
	assert_int_equal(firsts[0], 1);
	assert_int_equal(firsts[1], 3);
	assert_int_equal(firsts[2], 6);
	assert_int_equal(firsts[3], 9);
	assert_int_equal(textstream_peek(&ts, &line, &len), 1);
	assert_true(len == 15 && memcmp(line, "smimegw-next 1\n", 15) == 0);
	textstream_take(&ts);
	assert_int_equal(textstream_chunk(&ts, &b, 1, starts, stops, &first),
			 1);
	assert_int_equal(first, 12);
	assert_int_equal(gw_buf_add(&all, "smimegw-next 1\n", 15), 0);
	assert_int_equal(gw_buf_add(&all, b.data, b.len), 0);
	assert_int_equal(all.len, sizeof(in) - 1);
	assert_memory_equal(all.data, in, all.len);
	assert_int_equal(textstream_chunk(&ts, &b, 1, starts, stops, &first),
			 0);
	assert_int_equal(ts.no, 13);
	gw_buf_free(&b);
	gw_buf_free(&all);
	fclose(fp);
}

/* A line over TEXTFMT_LINE_MAX (the LF not counted) is refused with its
 * number, as textfmt_next_line() does; one of exactly the most is not. */
static void
long_lines(void **state)
{
	struct textstream ts;
	struct gw_buf b;
	unsigned first;
	char *in = malloc(3 * TEXTFMT_LINE_MAX + 16);
	size_t o = 0;
	FILE *fp;

	(void)state;
	assert_non_null(in);
	memcpy(in, "a\n", 2);
	o = 2;
	memset(in + o, 'x', TEXTFMT_LINE_MAX);
	o += TEXTFMT_LINE_MAX;
	in[o++] = '\n';
	memset(in + o, 'y', TEXTFMT_LINE_MAX + 1);
	o += TEXTFMT_LINE_MAX + 1;
	in[o++] = '\n';
	fp = text(in, o);
	gw_buf_init(&b, 1 << 20);
	textstream_init(&ts, fp, "long.txt");
	assert_int_equal(textstream_chunk(&ts, &b, 1 << 20, NULL, NULL,
					  &first),
			 GW_ERR_PARSE);
	assert_string_equal(gw_err_detail(),
			    "long.txt:3: line longer than 4096 bytes");
	gw_err_clear();
	/* The first two lines were taken, whole. */
	assert_int_equal(b.len, 2 + TEXTFMT_LINE_MAX + 1);
	gw_buf_free(&b);
	fclose(fp);
	free(in);
}

/* Names seen once are new, a repeat gives the line it was first seen
 * on; many names (the table grows). */
static void
names_seen(void **state)
{
	struct strset s;
	unsigned first = 0, i;
	char name[32];

	(void)state;
	strset_init(&s);
	for (i = 0; i < 50000; i++) {
		snprintf(name, sizeof(name), "k%u", i);
		assert_int_equal(strset_add(&s, name, strlen(name), i + 10,
					    &first),
				 0);
	}
	assert_int_equal(strset_add(&s, "k4242", 5, 7, &first), 1);
	assert_int_equal(first, 4252);
	assert_int_equal(strset_add(&s, "k42", 3, 7, &first), 1);
	assert_int_equal(first, 52);
	assert_int_equal(strset_add(&s, "k", 1, 7, &first), 0);
	assert_int_equal(strset_add(&s, "", 0, 8, &first), 0);
	assert_int_equal(strset_add(&s, "", 0, 9, &first), 1);
	assert_int_equal(first, 8);
	strset_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(chunks_of_entries),
	    cmocka_unit_test(long_lines),
	    cmocka_unit_test(names_seen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
