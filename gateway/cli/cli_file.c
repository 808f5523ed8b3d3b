/* cli_file.c - whole-file input and atomic output for the CLI. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "gw_err.h"

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
