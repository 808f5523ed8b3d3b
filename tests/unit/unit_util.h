/*
 * unit_util.h - helpers shared by the unit tests (tests/unit/test_*.c):
 * a substring assertion, a private temporary directory and a CRLF
 * text of a given length.  Include it
 * after <cmocka.h>.  Header-only: every test is one program.
 */
#ifndef UNIT_UTIL_H
#define UNIT_UTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fails the case unless needle occurs in hay. */
#define assert_substr(hay, needle)                                      \
	do {                                                            \
		if (strstr((hay), (needle)) == NULL)                    \
			fail_msg("'%s' not found in '%s'", (needle),    \
				 (hay));                                \
	} while (0)

/* A CRLF text of n bytes, NUL-terminated (malloc'd; never ending in
 * a lone CR). */
static inline unsigned char *
unit_crlf_text(size_t n)
{
	unsigned char *t = malloc(n + 1);
	size_t i;

	assert_non_null(t);
	for (i = 0; i < n; i++)
		t[i] = i % 66 == 64   ? '\r'
		       : i % 66 == 65 ? '\n'
				      : (unsigned char)('a' + i % 26);
	if (n > 0 && t[n - 1] == '\r')
		t[n - 1] = '.';
	t[n] = '\0';
	return t;
}

/* A fresh directory "/tmp/NAME.XXXXXX" (mkdtemp) into dir: 0, or -1
 * with errno set. */
static inline int
unit_tmpdir(char *dir, size_t size, const char *name)
{
	snprintf(dir, size, "/tmp/%s.XXXXXX", name);
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static inline int
unit_rm_one(const char *path, const struct stat *sb, int flag,
	    struct FTW *ftw)
{
	return remove(path);
}

/* Removes dir and everything under it, depth first, following no
 * links: 0, or -1 with errno set. */
static inline int
unit_rmtree(const char *dir)
{
	return nftw(dir, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
