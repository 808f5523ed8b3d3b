/*
 * textstream.h - a text file read in bounded pieces of whole entries:
 * the imports that must not hold a whole file in memory (issue 10).
 *
 * The file is read through a fixed buffer; a chunk is a run of whole
 * lines (each with its LF, as in the file) cut only before a line that
 * begins an entry, so that each chunk can be handed to the parsers of
 * textfmt.h as a text of its own, with the number of its first line in
 * the file.  A line over TEXTFMT_LINE_MAX bytes is GW_ERR_PARSE
 * ("SRC:LINE: line longer than ... bytes", as textfmt_next_line()
 * says), and so is a chunk that cannot be cut before
 * TEXTSTREAM_CHUNK_MAX bytes (no entry begins in that many bytes).
 * Everything else about the text (NUL bytes, syntax) is the parsers'.
 */
#ifndef TEXTSTREAM_H
#define TEXTSTREAM_H

#include <stddef.h>
#include <stdio.h>

#include "gw_buf.h"
#include "textfmt.h"

#define TEXTSTREAM_CHUNK ((size_t)1 << 20)	 /* a chunk's usual size */
#define TEXTSTREAM_CHUNK_MAX ((size_t)64 << 20) /* and its largest */

struct textstream {
	FILE *fp;			/* borrowed */
	const char *src;		/* borrowed, for messages */
	unsigned no;			/* lines handed out so far */
	unsigned long long bytes;	/* bytes handed out so far */
	unsigned char rbuf[65536];
	size_t rpos, rlen;
	int eof;
	char line[TEXTFMT_LINE_MAX + 2]; /* the line read ahead */
	size_t llen;
	int have;			/* line holds a line not handed out */
};

void textstream_init(struct textstream *ts, FILE *fp, const char *src);

/* The next line without taking it (with its LF if it has one): 1, 0 at
 * the end of the file, GW_ERR_PARSE, GW_ERR_IO. */
int textstream_peek(struct textstream *ts, const char **line, size_t *len);
/* Takes the line textstream_peek() showed. */
void textstream_take(struct textstream *ts);
/* Takes the next line whatever it is (a section's header) and appends
 * it to out: 1 and its number in *no, 0 at the end of the file, < 0 on
 * error (nothing taken). */
int textstream_take_into(struct textstream *ts, struct gw_buf *out,
			 unsigned *no);

/*
 * Appends whole lines to out: until the end of the file; or a line for
 * which stop() (may be NULL) returns 1, which is left for the next
 * call; or, once out has grown by at least want bytes, a line for which
 * starts() returns 1 (also left).  *first is the number of the first
 * line appended.  1 when lines were appended, 0 when none were (the
 * end, or a stop line next), < 0 on error.
 */
typedef int (*textstream_line_fn)(const char *line, size_t len);
int textstream_chunk(struct textstream *ts, struct gw_buf *out, size_t want,
		     textstream_line_fn starts, textstream_line_fn stop,
		     unsigned *first);

#endif
