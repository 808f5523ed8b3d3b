/* textstream.c - a text file read in chunks of whole entries
 * (textstream.h). */
#include "textstream.h"

#include <errno.h>
#include <string.h>

#include "gw_err.h"

void
textstream_init(struct textstream *ts, FILE *fp, const char *src)
{
	memset(ts, 0, sizeof(*ts));
	ts->fp = fp;
	ts->src = src;
}

static int
fill(struct textstream *ts)
{
	size_t n;

	if (ts->eof)
		return 0;
	n = fread(ts->rbuf, 1, sizeof(ts->rbuf), ts->fp);
	if (n == 0) {
		if (ferror(ts->fp))
			return gw_err_set(GW_ERR_IO, "%s: read error: %s",
					  ts->src, strerror(errno));
		ts->eof = 1;
		return 0;
	}
	ts->rpos = 0;
	ts->rlen = n;
	return 1;
}

int
textstream_peek(struct textstream *ts, const char **line, size_t *len)
{
	const unsigned char *p, *nl;
	size_t n;
	int r;

	while (!ts->have) {
		if (ts->rpos == ts->rlen) {
			if ((r = fill(ts)) < 0)
				return r;
			if (r == 0) {
				if (ts->llen == 0)
					return 0;
				ts->have = 1; /* a last line without LF */
				break;
			}
		}
		p = ts->rbuf + ts->rpos;
		nl = memchr(p, '\n', ts->rlen - ts->rpos);
		n = nl ? (size_t)(nl - p) + 1 : ts->rlen - ts->rpos;
		/* As textfmt_next_line() counts: all but the LF. */
		if (ts->llen + n - (nl ? 1 : 0) > TEXTFMT_LINE_MAX)
			return gw_err_set(GW_ERR_PARSE,
					  "%s:%u: line longer than %d bytes",
					  ts->src, ts->no + 1,
					  TEXTFMT_LINE_MAX);
		memcpy(ts->line + ts->llen, p, n);
		ts->llen += n;
		ts->rpos += n;
		if (nl != NULL)
			ts->have = 1;
	}
	*line = ts->line;
	*len = ts->llen;
	return 1;
}

void
textstream_take(struct textstream *ts)
{
	if (!ts->have)
		return;
	ts->no++;
	ts->bytes += ts->llen;
	ts->have = 0;
	ts->llen = 0;
}

int
textstream_take_into(struct textstream *ts, struct gw_buf *out,
		     unsigned *no)
{
	const char *line;
	size_t n;
	int r;

	if ((r = textstream_peek(ts, &line, &n)) <= 0)
		return r;
	if ((r = gw_buf_add(out, line, n)) != 0)
		return r;
	textstream_take(ts);
	*no = ts->no;
	return 1;
}

int
textstream_chunk(struct textstream *ts, struct gw_buf *out, size_t want,
		 textstream_line_fn starts, textstream_line_fn stop,
		 unsigned *first)
{
	const char *line;
	size_t len, start = out->len;
	int r, any = 0;

	*first = ts->no + 1;
	while ((r = textstream_peek(ts, &line, &len)) == 1) {
		if (stop != NULL && stop(line, len))
			break;
		if (any && out->len - start >= want && starts != NULL &&
		    starts(line, len))
			break;
		if (out->len - start + len > TEXTSTREAM_CHUNK_MAX)
			return gw_err_set(GW_ERR_LIMIT,
					  "%s:%u: no entry begins in %zu "
					  "bytes",
					  ts->src, *first,
					  TEXTSTREAM_CHUNK_MAX);
		if ((r = gw_buf_add(out, line, len)) != 0)
			return r;
		textstream_take(ts);
		any = 1;
	}
	if (r < 0)
		return r;
	return any;
}
