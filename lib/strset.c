/* strset.c - a set of short strings with their lines (strset.h). */
#include "strset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_err.h"

/* An entry in the arena: the line (4 bytes), the length (2 bytes, at
 * most 65535), then the bytes. */
#define HDR 6

void
strset_init(struct strset *s)
{
	memset(s, 0, sizeof(*s));
}

void
strset_free(struct strset *s)
{
	free(s->arena);
	free(s->slot);
	memset(s, 0, sizeof(*s));
}

static uint64_t
hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	while (n-- > 0)
		h = (h ^ (unsigned char)*p++) * 1099511628211ULL;
	return h;
}

static const char *
entry(const struct strset *s, unsigned slot, size_t *len, unsigned *line)
{
	const char *e = s->arena + slot - 1;
	uint16_t l16;

	memcpy(line, e, 4);
	memcpy(&l16, e + 4, 2);
	*len = l16;
	return e + HDR;
}

/* The slot for p (n bytes): where it is, or the empty one it goes in. */
static size_t
find(const struct strset *s, const char *p, size_t n)
{
	size_t i = (size_t)hash(p, n) & (s->nslot - 1), len;
	unsigned line;
	const char *e;

	while (s->slot[i] != 0) {
		e = entry(s, s->slot[i], &len, &line);
		if (len == n && memcmp(e, p, n) == 0)
			break;
		i = (i + 1) & (s->nslot - 1);
	}
	return i;
}

static int
rehash(struct strset *s)
{
	unsigned *old = s->slot;
	size_t oldn = s->nslot, i, len, j;
	unsigned line;
	const char *e;

	s->nslot = oldn ? oldn * 2 : 1024;
	if ((s->slot = calloc(s->nslot, sizeof(*s->slot))) == NULL) {
		s->slot = old;
		s->nslot = oldn;
		return GW_ERR_NOMEM;
	}
	for (i = 0; i < oldn; i++) {
		if (old[i] == 0)
			continue;
		e = entry(s, old[i], &len, &line);
		j = find(s, e, len);
		s->slot[j] = old[i];
	}
	free(old);
	return 0;
}

int
strset_add(struct strset *s, const char *p, size_t n, unsigned line,
	   unsigned *first)
{
	size_t i, need, len, cap;
	uint16_t l16;
	char *na;
	int rc;

	if (n > UINT16_MAX)
		return gw_err_set(GW_ERR_LIMIT, "a name of %zu bytes", n);
	if ((s->n + 1) * 2 > s->nslot && (rc = rehash(s)) != 0)
		return rc;
	i = find(s, p, n);
	if (s->slot[i] != 0) {
		entry(s, s->slot[i], &len, first);
		return 1;
	}
	need = HDR + n;
	if (s->alen + need + 1 > UINT32_MAX)
		return gw_err_set(GW_ERR_LIMIT, "too many names");
	if (s->alen + need > s->acap) {
		cap = s->acap ? s->acap * 2 : 65536;
		while (cap < s->alen + need)
			cap *= 2;
		if ((na = realloc(s->arena, cap)) == NULL)
			return GW_ERR_NOMEM;
		s->arena = na;
		s->acap = cap;
	}
	l16 = (uint16_t)n;
	memcpy(s->arena + s->alen, &line, 4);
	memcpy(s->arena + s->alen + 4, &l16, 2);
	memcpy(s->arena + s->alen + HDR, p, n);
	s->slot[i] = (unsigned)(s->alen + 1);
	s->alen += need;
	s->n++;
	return 0;
}
