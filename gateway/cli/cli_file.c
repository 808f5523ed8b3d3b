/* cli_file.c - whole-file input and atomic output for the CLI, and the
 * streams of large imports and exports (cli.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "gw_err.h"
#include "gw_store.h"

#define CHUNK 65536

int
cli_file_read(const char *path, size_t max, struct gw_buf *b)
{
	int use_stdin = path == NULL || strcmp(path, "-") == 0;
	const char *label = use_stdin ? "stdin" : path;
	FILE *fp = stdin;
	unsigned char *dst;
	size_t n;
	int rc = 0;

	gw_buf_init(b, max);
	if (!use_stdin && (fp = fopen(path, "rb")) == NULL)
		return gw_err_set(GW_ERR_IO, "%s: %s", path, strerror(errno));
	for (;;) {
		if ((rc = gw_buf_reserve(b, CHUNK, &dst)) != 0) {
			if (rc == GW_ERR_LIMIT) {
				gw_err_clear();
				rc = gw_err_set(GW_ERR_LIMIT,
						"%s: larger than %zu bytes",
						label, max);
			}
			break;
		}
		n = fread(dst, 1, CHUNK, fp);
		b->len += n;
		if (n < CHUNK)
			break;
	}
	if (rc == 0 && ferror(fp))
		rc = gw_err_set(GW_ERR_IO, "%s: read error", label);
	if (rc == 0 && b->len == 0)
		rc = gw_err_set(GW_ERR_PARSE, "%s: empty input", label);
	if (fp != stdin)
		fclose(fp);
	return rc;
}

int
cli_file_write(const char *path, const struct gw_buf *b)
{
	char *tmp = NULL;
	size_t len;
	FILE *fp = NULL;
	int fd = -1, rc = 0;

	if (strcmp(path, "-") == 0) {
		if (fwrite(b->data, 1, b->len, stdout) != b->len ||
		    fflush(stdout) != 0)
			return gw_err_set(GW_ERR_IO, "cannot write stdout");
		return 0;
	}
	len = strlen(path) + sizeof(".XXXXXX");
	if ((tmp = malloc(len)) == NULL)
		return GW_ERR_NOMEM;
	snprintf(tmp, len, "%s.XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0) {
		rc = gw_err_set(GW_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((fp = fdopen(fd, "wb")) == NULL) {
		rc = gw_err_set(GW_ERR_IO, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (fwrite(b->data, 1, b->len, fp) != b->len || fflush(fp) != 0 ||
	    fsync(fileno(fp)) != 0)
		rc = gw_err_set(GW_ERR_IO, "%s: %s", tmp, strerror(errno));
	if (fclose(fp) != 0 && rc == 0)
		rc = gw_err_set(GW_ERR_IO, "%s: %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, path) != 0)
		rc = gw_err_set(GW_ERR_IO, "%s: %s", path, strerror(errno));
	if (rc != 0)
		unlink(tmp);
out:
	free(tmp);
	return rc;
}

int
cli_file_export(const char *path, const struct gw_buf *b, size_t n,
		const char *noun)
{
	int rc;

	if ((rc = cli_file_write(path, b)) != 0)
		return rc;
	if (strcmp(path, "-") != 0)
		printf("exported %zu %s%s to %s\n", n, noun, n == 1 ? "" : "s",
		       path);
	return 0;
}

/* ---- large files ---------------------------------------------------------- */

/* in copied to an unlinked temporary file, which *out is, at its
 * start. */
static int
spool(FILE *in, const char *label, FILE **out)
{
	unsigned char buf[CHUNK];
	FILE *fp;
	size_t n;

	*out = NULL;
	if ((fp = tmpfile()) == NULL)
		return gw_err_set(GW_ERR_IO,
				  "%s: cannot make a temporary file: %s",
				  label, strerror(errno));
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, fp) != n)
			break;
	if (ferror(in) || ferror(fp) || fflush(fp) != 0 ||
	    fseek(fp, 0, SEEK_SET) != 0) {
		fclose(fp);
		return gw_err_set(GW_ERR_IO, "%s: cannot read it into a "
				  "temporary file",
				  label);
	}
	*out = fp;
	return 0;
}

int
cli_input_open(const char *path, FILE **out, unsigned long long *size)
{
	int use_stdin = path == NULL || strcmp(path, "-") == 0;
	const char *label = use_stdin ? "stdin" : path;
	struct stat sb;
	FILE *fp = stdin, *tmp;
	int rc;

	*out = NULL;
	*size = 0;
	if (!use_stdin && (fp = fopen(path, "rb")) == NULL)
		return gw_err_set(GW_ERR_IO, "%s: %s", path, strerror(errno));
	if (fstat(fileno(fp), &sb) != 0)
		sb.st_mode = 0;
	/* A pipe is copied to disk: an import may read it twice. */
	if (use_stdin || !S_ISREG(sb.st_mode)) {
		rc = spool(fp, label, &tmp);
		if (fp != stdin)
			fclose(fp);
		if (rc != 0)
			return rc;
		fp = tmp;
		if (fstat(fileno(fp), &sb) != 0) {
			fclose(fp);
			return gw_err_set(GW_ERR_IO, "%s: %s", label,
					  strerror(errno));
		}
	}
	if (sb.st_size == 0) {
		fclose(fp);
		return gw_err_set(GW_ERR_PARSE, "%s: empty input", label);
	}
	*size = (unsigned long long)sb.st_size;
	*out = fp;
	return 0;
}

int
cli_output_open(struct cli_output *o, const char *path)
{
	size_t len;
	int fd;

	memset(o, 0, sizeof(*o));
	o->path = path;
	if (strcmp(path, "-") == 0) {
		o->fp = stdout;
		return 0;
	}
	len = strlen(path) + sizeof(".XXXXXX");
	if ((o->tmp = malloc(len)) == NULL)
		return GW_ERR_NOMEM;
	snprintf(o->tmp, len, "%s.XXXXXX", path);
	if ((fd = mkstemp(o->tmp)) < 0 || (o->fp = fdopen(fd, "wb")) == NULL) {
		if (fd >= 0) {
			close(fd);
			unlink(o->tmp);
		}
		free(o->tmp);
		o->tmp = NULL;
		return gw_err_set(GW_ERR_IO, "%s: %s", path, strerror(errno));
	}
	return 0;
}

int
cli_output_sink(void *arg, const unsigned char *p, size_t n)
{
	struct cli_output *o = arg;

	if (fwrite(p, 1, n, o->fp) != n)
		return gw_err_set(GW_ERR_IO, "%s: %s",
				  o->tmp ? o->tmp : "stdout", strerror(errno));
	o->bytes += n;
	/* What was read to make these bytes need not stay resident. */
	if (o->st != NULL)
		gw_store_trim(o->st);
	return 0;
}

int
cli_output_close(struct cli_output *o, int ok)
{
	int rc = 0;

	if (o->fp == NULL)
		return 0;
	if (o->tmp == NULL) {
		o->fp = NULL;
		if (fflush(stdout) != 0)
			return gw_err_set(GW_ERR_IO, "cannot write stdout");
		return 0;
	}
	if (ok && (fflush(o->fp) != 0 || fsync(fileno(o->fp)) != 0))
		rc = gw_err_set(GW_ERR_IO, "%s: %s", o->tmp, strerror(errno));
	if (fclose(o->fp) != 0 && ok && rc == 0)
		rc = gw_err_set(GW_ERR_IO, "%s: %s", o->tmp, strerror(errno));
	o->fp = NULL;
	if (ok && rc == 0 && rename(o->tmp, o->path) != 0)
		rc = gw_err_set(GW_ERR_IO, "%s: %s", o->path, strerror(errno));
	if (!ok || rc != 0)
		unlink(o->tmp);
	free(o->tmp);
	o->tmp = NULL;
	return rc;
}
