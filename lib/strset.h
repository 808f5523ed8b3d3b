/*
 * strset.h - a set of short strings, each with the line it came from:
 * the names and IDs a streamed import has seen, so that one used twice
 * in a file is refused when the entries are no longer in memory.
 * Strings are copied into one growing arena; an open-addressed table
 * of offsets finds them (about 16 bytes a string plus the string).
 */
#ifndef STRSET_H
#define STRSET_H

#include <stddef.h>

struct strset {
	char *arena;
	size_t alen, acap;
	unsigned *slot;	     /* 0: empty, else arena offset + 1 */
	size_t nslot, n;
};

void strset_init(struct strset *s);
void strset_free(struct strset *s);
/* Adds s (len bytes, no NUL inside) seen at line: 0 when new; 1 when
 * already there, with *first the line it was added with; GW_ERR_NOMEM. */
int strset_add(struct strset *set, const char *s, size_t len, unsigned line,
	       unsigned *first);

#endif
