/*
 * mime_parser.c - streaming MIME structure parser.  See mime_parser.h.
 *
 * A line machine with two modes.  In HEADER mode each line is buffered
 * whole in hbuf, after the field it may continue; a field is cut as soon
 * as the first byte of the next line shows that it is not a
 * continuation, so hbuf never holds more than one field plus one line.
 * In BODY mode nothing is kept: a line that starts with '-' while some
 * boundary is active has its first `need` bytes copied to pbuf and is
 * tested for a delimiter; every other byte is only scanned (for the line
 * end and for defects), eight at a time where possible.
 *
 * Every part that is open lies on the chain from `cur` (the deepest) to
 * the root; the multiparts among them that have not seen their close
 * delimiter are on bstack, outermost first.  A delimiter of bstack[i]
 * closes every part below it on the chain.
 */
#include "mime_parser.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define MIME_X86 1 /* AVX2 code, taken when mime_isa() allows it */
#include <immintrin.h>
#endif

#include "gw_err.h"
#include "mime_codec.h"

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif
#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#endif

#define RFC_LINE_MAX 998 /* RFC 5322 2.1.1, line end excluded */
#define RFC_BOUNDARY_MAX 70
#define PBUF_MAX (2 + MIME_BOUNDARY_MAX + 2)
#define SECTION_MAX 9999 /* highest RFC 2231 section number accepted */
#define CHARSET_MAX 64

enum cte_class {
	CTE_7BIT,
	CTE_8BIT,
	CTE_BINARY,
	CTE_BASE64,
	CTE_QP,
	CTE_OTHER,
};

enum mp_state {
	MP_NONE,
	MP_PREAMBLE, /* before the first delimiter */
	MP_CHILD,    /* inside a body part */
	MP_EPILOGUE, /* after the close delimiter */
};

enum pmode {
	PM_HEADER,
	PM_BODY,
};

enum lstate {
	LS_START,  /* no byte of the current line seen yet */
	LS_PREFIX, /* body: collecting a possible delimiter in pbuf */
	LS_TEXT,   /* inside an ordinary line */
	LS_DELIM,  /* body: inside a delimiter line, after the boundary */
};

struct mime_param {
	char *name;  /* lowercased */
	const char *value; /* display UTF-8 */
};

struct mime_header {
	size_t off;
	size_t len;
	size_t vlen;
	char *name; /* both point into this allocation */
	char *value;
};

struct mime_part {
	struct mime_part *parent;
	struct mime_part **child;
	size_t nchild;
	size_t cchild;
	struct mime_tree *tree;
	size_t seq;   /* position in tree->parts: document order */
	size_t index; /* position among the parent's children */
	unsigned depth;
	enum mime_kind kind;
	int message; /* a message header block: MIME-Version expected */
	const char *default_type;
	size_t hdr_start;
	size_t hdr_end;
	size_t body_start;
	size_t body_end;
	size_t pre_end;
	size_t epi_start;
	size_t epi_end;
	size_t hdr_bytes;
	struct mime_header **hdr;
	size_t nhdr;
	size_t chdr;
	const char *ctype;
	struct mime_param *param;
	size_t nparam;
	const char *cte;
	enum cte_class cte_class;
	const char *disp;
	struct mime_param *dparam;
	size_t ndparam;
	const char *filename;
	const char *boundary;
	size_t blen;
	enum mp_state mp;
	unsigned defects;
	unsigned defects_all;
	unsigned eol;
	unsigned eol_all;
};

/* The tree's memory: chunks, each used from its start (see arena_alloc()). */
struct chunk {
	struct chunk *next;
	size_t size;		/* bytes after this header */
};

struct mime_tree {
	struct mime_part **parts;
	size_t nparts;
	size_t cparts;
	size_t size;
	struct chunk *chunks;	/* the newest first */
	unsigned char *at;	/* the next free byte of the newest */
	size_t left;		/* bytes free there */
	size_t next;		/* the next chunk's size, at least */
};

struct mime_parser {
	struct mime_limits lim;
	struct mime_tree *tree;
	struct mime_part *cur;
	struct mime_part *line_part; /* the part the current line counts for */
	int err;		     /* latched */
	int finished;
	size_t off; /* stream offset of the next byte */
	enum pmode mode;
	enum lstate ls;
	size_t line_start;
	size_t prev_eol; /* where the previous line's line end began */
	int pending_cr;	 /* the last byte scanned was a CR */
	int flag8;	 /* 8-bit bytes on this body line are a defect */
	unsigned nfields;
	/* header mode: the pending field, then the current line */
	unsigned char *hbuf;
	size_t hlen;
	size_t hcap;
	size_t line_off;
	size_t field_start;
	int field_pending;
	/* body mode */
	unsigned char pbuf[PBUF_MAX];
	size_t plen;
	size_t need; /* bytes that decide whether a line is a delimiter */
	struct mime_part *dl_mp;
	int dl_close;
	int dl_garbage;
	struct mime_part **bstack;
	size_t bdepth;
	size_t bcap;
};

/* ---- small helpers --------------------------------------------------- */

/* The capacity an array of cap elements of elsz bytes doubles to so
 * that need fit (cap when they do); 0 when that would overflow. */
static size_t
grown_cap(size_t cap, size_t need, size_t elsz)
{
	size_t ncap = cap > 0 ? cap : 4;

	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / elsz)
			return 0;
		ncap *= 2;
	}
	return ncap;
}

static void *
grow(void *arr, size_t *cap, size_t need, size_t elsz)
{
	size_t ncap;
	void *n;

	if (need <= *cap)
		return arr;
	if ((ncap = grown_cap(*cap, need, elsz)) == 0 ||
	    (n = realloc(arr, ncap * elsz)) == NULL)
		return NULL;
	*cap = ncap;
	return n;
}

/*
 * Everything a tree holds (parts, fields, strings, arrays) comes from
 * its chunks and goes with the tree at once: a small message's header
 * blocks made a hundred allocations, and their malloc() and free() were
 * a third of parsing it.  Nothing is freed on its own; an array that
 * grows is copied and its old copy left (at most as much again as the
 * arrays hold), a parameter's lexed pieces too (bounded by the header
 * block).  Under ASan the bytes after each allocation stay poisoned, so
 * that an overrun into the next one is caught as before.
 */
#define ARENA_ALIGN 16
#define ARENA_CHUNK 4096	  /* the first chunk's bytes; doubling */
#define ARENA_CHUNK_MAX 65536	  /* up to this */
#ifdef ARENA_ASAN
#define ARENA_GAP ARENA_ALIGN
#else
#define ARENA_GAP 0
#endif

/* n bytes (aligned for any field) that live as long as t; NULL on OOM. */
static void *
arena_alloc(struct mime_tree *t, size_t n)
{
	struct chunk *c;
	size_t want, size;
	void *p;

	if (n > SIZE_MAX / 2)
		return NULL;
	want = (n + ARENA_GAP + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (want > t->left) {
		if (t->next < ARENA_CHUNK)
			t->next = ARENA_CHUNK;
		size = t->next < want ? want : t->next;
		if (t->next < ARENA_CHUNK_MAX)
			t->next *= 2;
		/* The header is ARENA_ALIGN bytes: what follows is
		 * aligned as malloc()'s block is. */
		if ((c = malloc(ARENA_ALIGN + size)) == NULL)
			return NULL;
		c->next = t->chunks;
		c->size = size;
		t->chunks = c;
		t->at = (unsigned char *)c + ARENA_ALIGN;
		t->left = size;
#ifdef ARENA_ASAN
		ASAN_POISON_MEMORY_REGION(t->at, size);
#endif
	}
	p = t->at;
	t->at += want;
	t->left -= want;
#ifdef ARENA_ASAN
	ASAN_UNPOISON_MEMORY_REGION(p, n);
#endif
	return p;
}

static void *
arena_zalloc(struct mime_tree *t, size_t n)
{
	void *p;

	if ((p = arena_alloc(t, n)) != NULL)
		memset(p, 0, n);
	return p;
}

/* grow() for an array of the tree holding n elements: a copy when it
 * must grow. */
static void *
arena_grow(struct mime_tree *t, void *arr, size_t n, size_t *cap,
	   size_t need, size_t elsz)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return arr;
	if ((ncap = grown_cap(*cap, need, elsz)) == 0 ||
	    (p = arena_alloc(t, ncap * elsz)) == NULL)
		return NULL;
	if (n > 0)
		memcpy(p, arr, n * elsz);
	*cap = ncap;
	return p;
}

static void
arena_free(struct mime_tree *t)
{
	struct chunk *c, *next;

	for (c = t->chunks; c != NULL; c = next) {
		next = c->next;
#ifdef ARENA_ASAN
		ASAN_UNPOISON_MEMORY_REGION((unsigned char *)c + ARENA_ALIGN,
					    c->size);
#endif
		free(c);
	}
	t->chunks = NULL;
	t->at = NULL;
	t->left = 0;
}

static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static int
name_eq(const char *a, const char *b)
{
	while (*a != '\0' && lower((unsigned char)*a) == lower((unsigned char)*b)) {
		a++;
		b++;
	}
	return *a == '\0' && *b == '\0';
}

static char *
lower_dup(struct mime_tree *t, const unsigned char *s, size_t n)
{
	char *d;
	size_t i;

	if ((d = arena_alloc(t, n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		d[i] = (char)lower(s[i]);
	d[n] = '\0';
	return d;
}

static int
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Whether ASCII byte c is in the set whose bit c is set in lo (c < 64)
 * or bit c - 64 in hi; no byte from 128 on is. */
static int
in_ascii_set(unsigned char c, uint64_t lo, uint64_t hi)
{
	if (c < 64)
		return (int)((lo >> c) & 1);
	return c < 128 && ((hi >> (c - 64)) & 1);
}

/* RFC 2045 token character: 0x21-0x7e but the tspecials ()<>@,;:\"/[]?= */
static int
is_token(unsigned char c)
{
	return in_ascii_set(c, 0x03ff6cfa00000000ULL, 0x7fffffffc7fffffeULL);
}

static size_t
max_sz(size_t a, size_t b)
{
	return a > b ? a : b;
}

static int
limit_line(const struct mime_parser *mp)
{
	return gw_err_set(GW_ERR_LIMIT, "MIME line longer than %zu bytes",
			  mp->lim.max_line);
}

static void
eol_flags(struct mime_part *part, size_t eol)
{
	if (eol == 2) {
		part->eol |= MIME_EOL_CRLF;
	} else if (eol == 1) {
		part->eol |= MIME_EOL_LF;
		part->defects |= MIME_DEFECT_BARE_LF;
	}
}

/* ---- tree ------------------------------------------------------------ */

void
mime_tree_free(struct mime_tree *tree)
{
	if (tree == NULL)
		return;
	arena_free(tree);
	free(tree);
}

static int
part_new(struct mime_parser *mp, struct mime_part *parent, size_t at,
	 struct mime_part **out)
{
	struct mime_tree *t = mp->tree;
	struct mime_part *p = NULL;
	void *tmp;
	unsigned depth = parent != NULL ? parent->depth + 1 : 0;
	int r;

	*out = NULL;
	if (t->nparts >= mp->lim.max_parts) {
		r = gw_err_set(GW_ERR_LIMIT, "MIME message has more than %u parts",
			       mp->lim.max_parts);
		goto out;
	}
	if (depth > mp->lim.max_depth) {
		r = gw_err_set(GW_ERR_LIMIT, "MIME nesting deeper than %u",
			       mp->lim.max_depth);
		goto out;
	}
	r = GW_ERR_NOMEM;
	if ((tmp = arena_grow(t, t->parts, t->nparts, &t->cparts,
			      t->nparts + 1, sizeof(*t->parts))) == NULL)
		goto out;
	t->parts = tmp;
	if (parent != NULL) {
		if ((tmp = arena_grow(t, parent->child, parent->nchild,
				      &parent->cchild, parent->nchild + 1,
				      sizeof(*parent->child))) == NULL)
			goto out;
		parent->child = tmp;
	}
	if ((p = arena_zalloc(t, sizeof(*p))) == NULL)
		goto out;
	p->parent = parent;
	p->tree = t;
	p->depth = depth;
	p->kind = MIME_KIND_LEAF;
	p->message = parent == NULL || parent->kind == MIME_KIND_MESSAGE;
	p->default_type = "text/plain";
	if (parent != NULL && parent->kind == MIME_KIND_MULTIPART &&
	    strcmp(parent->ctype, "multipart/digest") == 0)
		p->default_type = "message/rfc822";
	p->hdr_start = p->hdr_end = p->body_start = p->body_end = at;
	p->pre_end = p->epi_start = p->epi_end = at;
	p->seq = t->nparts;
	t->parts[t->nparts++] = p;
	if (parent != NULL) {
		p->index = parent->nchild;
		parent->child[parent->nchild++] = p;
	}
	*out = p;
	r = 0;
out:
	return r;
}

/* ---- boundary stack -------------------------------------------------- */

static void
bstack_need(struct mime_parser *mp)
{
	size_t i, m = 0;

	for (i = 0; i < mp->bdepth; i++)
		m = max_sz(m, mp->bstack[i]->blen);
	mp->need = 2 + m + 2;
}

static int
bstack_push(struct mime_parser *mp, struct mime_part *p)
{
	void *tmp;

	if ((tmp = grow(mp->bstack, &mp->bcap, mp->bdepth + 1,
			sizeof(*mp->bstack))) == NULL)
		return GW_ERR_NOMEM;
	mp->bstack = tmp;
	mp->bstack[mp->bdepth++] = p;
	bstack_need(mp);
	return 0;
}

/* Parts close innermost first, so p is always on top. */
static void
bstack_pop(struct mime_parser *mp, struct mime_part *p)
{
	if (mp->bdepth > 0 && mp->bstack[mp->bdepth - 1] == p)
		mp->bdepth--;
	bstack_need(mp);
}

/*
 * Is s[0..n) (a line or its first `need` bytes, line end included when
 * it came) a delimiter line?  Returns the bstack index, innermost match
 * first, or -1.
 */
static int
delim_match(const struct mime_parser *mp, const unsigned char *s, size_t n,
	    int *close, size_t *mlen)
{
	const struct mime_part *m;
	size_t i, k;

	if (n < 2 || s[0] != '-' || s[1] != '-')
		return -1;
	for (i = mp->bdepth; i-- > 0;) {
		m = mp->bstack[i];
		k = m->blen;
		if (n - 2 < k || memcmp(s + 2, m->boundary, k) != 0)
			continue;
		*close = n - 2 - k >= 2 && s[2 + k] == '-' && s[3 + k] == '-';
		*mlen = 2 + k + (*close ? 2 : 0);
		return (int)i;
	}
	return -1;
}

/* ---- header fields --------------------------------------------------- */

static int
hbuf_append(struct mime_parser *mp, const unsigned char *s, size_t n)
{
	void *tmp;

	/* hlen never exceeds the header block, itself under its ceiling. */
	if ((tmp = grow(mp->hbuf, &mp->hcap, mp->hlen + n, 1)) == NULL)
		return GW_ERR_NOMEM;
	mp->hbuf = tmp;
	memcpy(mp->hbuf + mp->hlen, s, n);
	mp->hlen += n;
	return 0;
}

/*
 * Whether a field name's n bytes are all printable and not blank, 33 to
 * 126 (RFC 5322 ftext): eight at a time, then one by one.
 */
static int
name_ok(const unsigned char *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t highs = 0x8080808080808080ULL;
	uint64_t w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		/* a byte below 33, or above 126 */
		if ((((w - ones * 33) & ~w) | ((w + ones) | w)) & highs)
			return 0;
	}
	for (; i < n; i++)
		if ((unsigned char)(p[i] - 33) > 126 - 33)
			return 0;
	return 1;
}

/* hbuf[0..hlen) is one whole field: record it, then empty hbuf. */
static int
field_finish(struct mime_parser *mp)
{
	struct mime_part *part = mp->cur;
	const unsigned char *raw = mp->hbuf, *lf, *colon;
	struct mime_header *h = NULL;
	size_t len = mp->hlen, first, nlen, ns, vstart, vl, i, s;
	char *v;
	void *tmp;
	int bad = 0;
	int r;

	mp->field_pending = 0;
	mp->hlen = 0;
	if (mp->nfields >= mp->lim.max_fields) {
		r = gw_err_set(GW_ERR_LIMIT,
			       "MIME message has more than %u header fields",
			       mp->lim.max_fields);
		goto out;
	}
	lf = memchr(raw, '\n', len);
	first = lf != NULL ? (size_t)(lf - raw) : len;
	/*
	 * Lone CRs and blanks before the name are not part of it: whoever
	 * copies the field drops them (mime_header_add_field()), so the
	 * name must be what a reader of that copy sees ("\rContent-Type"
	 * is a Content-Type field, a defect).
	 */
	for (ns = 0; ns < first && (raw[ns] == '\r' || is_wsp(raw[ns])); ns++)
		bad = 1;
	if ((colon = memchr(raw, ':', first)) == NULL) {
		part->defects |= MIME_DEFECT_HEADER_NO_COLON;
		nlen = first;
		if (nlen > ns && raw[nlen - 1] == '\r')
			nlen--;
		vstart = len;
	} else {
		nlen = (size_t)(colon - raw);
		vstart = nlen + 1;
		if (ns > nlen)
			ns = nlen;
		while (nlen > ns && is_wsp(raw[nlen - 1])) {
			nlen--;
			bad = 1;
		}
		if (bad || nlen == ns || !name_ok(raw + ns, nlen - ns))
			part->defects |= MIME_DEFECT_HEADER_BAD_NAME;
	}
	if (ns > nlen)
		ns = nlen;
	r = GW_ERR_NOMEM;
	if ((tmp = arena_grow(mp->tree, part->hdr, part->nhdr, &part->chdr,
			      part->nhdr + 1, sizeof(*part->hdr))) == NULL)
		goto out;
	part->hdr = tmp;
	if ((h = arena_alloc(mp->tree, sizeof(*h) + (nlen - ns) + 1 +
					   (len - vstart) + 1)) == NULL)
		goto out;
	h->name = (char *)(h + 1);
	memcpy(h->name, raw + ns, nlen - ns);
	h->name[nlen - ns] = '\0';
	v = h->value = h->name + (nlen - ns) + 1;
	/* Unfold: drop each LF and the CR right before it, a run of the
	 * line between them at a time (the first line's LF is known), and
	 * the blanks before the first byte kept. */
	lf = raw + first;
	for (vl = 0, i = vstart; i < len; i = (size_t)(lf - raw) + 1) {
		if (i > first && (lf = memchr(raw + i, '\n', len - i)) == NULL)
			lf = raw + len;
		s = (size_t)(lf - raw);
		if (s < len && s > i && raw[s - 1] == '\r')
			s--;
		while (vl == 0 && i < s && is_wsp(raw[i]))
			i++;
		memcpy(v + vl, raw + i, s - i);
		vl += s - i;
	}
	while (vl > 0 && (is_wsp((unsigned char)v[vl - 1]) || v[vl - 1] == '\r'))
		vl--;
	v[vl] = '\0';
	h->vlen = vl;
	h->off = mp->field_start;
	h->len = len;
	part->hdr[part->nhdr++] = h;
	mp->nfields++;
	r = 0;
out:
	return r;
}

/* ---- parameters (RFC 2045 5.1, RFC 2231) ----------------------------- */

/* Skip whitespace and (nested) comments. */
static size_t
skip_cfws(const unsigned char *v, size_t n, size_t i)
{
	unsigned depth;

	for (;;) {
		while (i < n && (is_wsp(v[i]) || v[i] == '\r' || v[i] == '\n'))
			i++;
		if (i >= n || v[i] != '(')
			return i;
		for (depth = 0; i < n; i++) {
			if (v[i] == '\\') {
				i++;
				continue;
			}
			if (v[i] == '(')
				depth++;
			else if (v[i] == ')' && --depth == 0)
				break;
		}
		if (i < n)
			i++;
	}
}

static size_t
skip_to_semi(const unsigned char *v, size_t n, size_t i)
{
	while (i < n && v[i] != ';') {
		if (v[i] == '"') {
			for (i++; i < n && v[i] != '"'; i++)
				if (v[i] == '\\')
					i++;
		}
		if (i < n)
			i++;
	}
	return i;
}

struct rawparam {
	char *base; /* lowercased name without the RFC 2231 suffix */
	int section;
	int ext;
	unsigned char *val;
	size_t vlen;
	int used;
};

/* name, name*, name*N, name*N*  ->  base, section (-1), ext.  0 if bad. */
static int
split_attr(const unsigned char *a, size_t alen, size_t *blen, int *section,
	   int *ext)
{
	const unsigned char *star, *d;
	size_t rest, nd;
	int sec = 0;

	*section = -1;
	*ext = 0;
	if ((star = memchr(a, '*', alen)) == NULL) {
		*blen = alen;
		return alen > 0;
	}
	*blen = (size_t)(star - a);
	d = star + 1;
	rest = alen - *blen - 1;
	if (*blen == 0)
		return 0;
	if (rest == 0) {
		*ext = 1;
		return 1;
	}
	for (nd = 0; nd < rest && d[nd] >= '0' && d[nd] <= '9'; nd++) {
		if (nd >= 4 || (nd == 1 && d[0] == '0'))
			return 0;
		sec = sec * 10 + (d[nd] - '0');
	}
	if (nd == 0)
		return 0;
	if (nd + 1 == rest && d[nd] == '*')
		*ext = 1;
	else if (nd != rest)
		return 0;
	*section = sec;
	return 1;
}

/* Lex "; attr=value" pairs from v[i..n) into *rpp. */
static int
params_lex(struct mime_parser *mp, struct mime_part *part,
	   const unsigned char *v, size_t n, size_t i, struct rawparam **rpp,
	   size_t *nrp)
{
	struct rawparam *rp = NULL, *e;
	const unsigned char *q;
	size_t nr = 0, cr = 0, a0, alen, blen, v0, j, k, e0;
	unsigned char *val = NULL;
	void *tmp;
	int section, ext, r;

	for (;;) {
		i = skip_cfws(v, n, i);
		if (i >= n)
			break;
		if (v[i] != ';') {
			part->defects |= MIME_DEFECT_BAD_PARAMS;
			i = skip_to_semi(v, n, i);
			continue;
		}
		i = skip_cfws(v, n, i + 1);
		if (i >= n || v[i] == ';')
			continue;
		a0 = i;
		while (i < n && is_token(v[i]))
			i++;
		alen = i - a0;
		i = skip_cfws(v, n, i);
		if (alen == 0 || i >= n || v[i] != '=') {
			part->defects |= MIME_DEFECT_BAD_PARAMS;
			i = skip_to_semi(v, n, i);
			continue;
		}
		i = skip_cfws(v, n, i + 1);
		r = GW_ERR_NOMEM;
		if ((val = arena_alloc(mp->tree, n - i + 1)) == NULL)
			goto out;
		k = 0;
		if (i < n && v[i] == '"') {
			/* Without a quoted-pair up to its end, the value is
			 * copied at once. */
			j = i + 1;
			q = memchr(v + j, '"', n - j);
			e0 = q != NULL ? (size_t)(q - v) : n;
			if (memchr(v + j, '\\', e0 - j) == NULL) {
				memcpy(val, v + j, e0 - j);
				k = e0 - j;
				j = e0;
			}
			for (; j < n && v[j] != '"'; j++) {
				if (v[j] == '\\' && j + 1 < n)
					j++;
				val[k++] = v[j];
			}
			if (j >= n)
				part->defects |= MIME_DEFECT_BAD_PARAMS;
			i = j < n ? j + 1 : n;
		} else {
			/* Lenient token: tspecials such as '=' or '/' occur
			 * unquoted in real boundaries. */
			for (v0 = i; i < n && v[i] > ' ' && v[i] != ';' &&
				     v[i] != '"' && v[i] != '(' && v[i] != 127;
			     i++)
				;
			memcpy(val, v + v0, i - v0);
			k = i - v0;
		}
		if (!split_attr(v + a0, alen, &blen, &section, &ext)) {
			part->defects |= MIME_DEFECT_BAD_PARAMS;
			continue;
		}
		if (nr >= mp->lim.max_params) {
			r = gw_err_set(GW_ERR_LIMIT,
				       "MIME header field has more than %u "
				       "parameters",
				       mp->lim.max_params);
			goto out;
		}
		r = GW_ERR_NOMEM;
		if ((tmp = arena_grow(mp->tree, rp, nr, &cr, nr + 1,
				      sizeof(*rp))) == NULL)
			goto out;
		rp = tmp;
		e = &rp[nr];
		memset(e, 0, sizeof(*e));
		if ((e->base = lower_dup(mp->tree, v + a0, blen)) == NULL)
			goto out;
		nr++;
		e->section = section;
		e->ext = ext;
		e->val = val;
		e->vlen = k;
	}
	*rpp = rp;
	*nrp = nr;
	r = 0;
out:
	return r;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Append an RFC 2231 extended segment, %XX decoded. */
static void
pct_append(struct mime_part *part, unsigned char *dst, size_t *dl,
	   const unsigned char *s, size_t n)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (s[i] == '%' && n - i >= 3 && (hi = hexval(s[i + 1])) >= 0 &&
		    (lo = hexval(s[i + 2])) >= 0) {
			dst[(*dl)++] = (unsigned char)(hi << 4 | lo);
			i += 2;
			continue;
		}
		if (s[i] == '%')
			part->defects |= MIME_DEFECT_BAD_PARAMS;
		dst[(*dl)++] = s[i];
	}
}

/*
 * The first extended segment: "charset'lang'value".  Copies the charset
 * (empty when too long or absent) and appends the decoded value.
 */
static void
ext_first(struct mime_part *part, const struct rawparam *e, char *charset,
	  unsigned char *dst, size_t *dl)
{
	const unsigned char *q1, *q2;
	size_t cl;

	charset[0] = '\0';
	q1 = memchr(e->val, '\'', e->vlen);
	q2 = q1 != NULL ? memchr(q1 + 1, '\'',
				 e->vlen - (size_t)(q1 + 1 - e->val))
			: NULL;
	if (q2 == NULL) {
		part->defects |= MIME_DEFECT_BAD_PARAMS;
		pct_append(part, dst, dl, e->val, e->vlen);
		return;
	}
	cl = (size_t)(q1 - e->val);
	if (cl < CHARSET_MAX) {
		memcpy(charset, e->val, cl);
		charset[cl] = '\0';
	}
	pct_append(part, dst, dl, q2 + 1, e->vlen - (size_t)(q2 + 1 - e->val));
}

static int
boundary_usable(const unsigned char *b, size_t n)
{
	return n > 0 && n <= MIME_BOUNDARY_MAX && memchr(b, '\r', n) == NULL &&
	       memchr(b, '\n', n) == NULL && memchr(b, '\0', n) == NULL;
}

/* RFC 2046 bchars: digits, letters and '()+_,-./:=? and space. */
static int
is_bchar(unsigned char c)
{
	return in_ascii_set(c, 0xa7fffb8100000000ULL, 0x07fffffe87fffffeULL);
}

static int
boundary_strict(const unsigned char *b, size_t n)
{
	size_t i;

	if (n > RFC_BOUNDARY_MAX || b[n - 1] == ' ')
		return 0;
	for (i = 0; i < n; i++)
		if (!is_bchar(b[i]))
			return 0;
	return 1;
}

/*
 * Whether v[0..n) is shown as it is: bytes that mime_charset_to_utf8()
 * maps to themselves in every charset it knows (HT, 0x20-0x7f).
 */
static int
display_as_is(const unsigned char *v, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t highs = 0x8080808080808080ULL;
	uint64_t w;
	size_t i = 0, j;

	/* Eight at a time while no byte is below 0x20 (HT included, then
	 * looked at one by one) or from 0x80 on. */
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, v + i, 8);
		if (((w | ((w - ones * 0x20) & ~w)) & highs) == 0)
			continue;
		for (j = i; j < i + 8; j++)
			if ((v[j] < 0x20 && v[j] != '\t') || v[j] >= 0x80)
				return 0;
	}
	for (; i < n; i++)
		if ((v[i] < 0x20 && v[i] != '\t') || v[i] >= 0x80)
			return 0;
	return 1;
}

/*
 * Parse the parameters of a Content-Type (bnd != NULL: also set the
 * part's boundary from the raw "boundary" value) or Content-Disposition.
 */
static int
params_parse(struct mime_parser *mp, struct mime_part *part,
	     const unsigned char *v, size_t n, size_t i,
	     struct mime_param **outp, size_t *noutp, int want_boundary)
{
	struct rawparam *rp = NULL, *plain, *star, *sec0, *e;
	struct mime_param *out = NULL;
	size_t nr = 0, nout = 0, cout = 0, a, b, total, dl, nsec, used_sec, s;
	unsigned char *raw = NULL;
	char *disp = NULL;
	char charset[CHARSET_MAX];
	void *tmp;
	int found, r;

	if ((r = params_lex(mp, part, v, n, i, &rp, &nr)) != 0)
		goto out;
	for (a = 0; a < nr; a++) {
		if (rp[a].used)
			continue;
		plain = star = sec0 = NULL;
		total = 0;
		nsec = 0;
		for (b = a; b < nr; b++) {
			e = &rp[b];
			if (e->used || strcmp(e->base, rp[a].base) != 0)
				continue;
			e->used = 1;
			total += e->vlen;
			if (e->section >= 0) {
				nsec++;
				if (e->section == 0 && sec0 == NULL)
					sec0 = e;
			} else if (e->ext) {
				if (star != NULL)
					part->defects |= MIME_DEFECT_BAD_PARAMS;
				else
					star = e;
			} else {
				if (plain != NULL)
					part->defects |= MIME_DEFECT_BAD_PARAMS;
				else
					plain = e;
			}
		}
		r = GW_ERR_NOMEM;
		if ((sec0 != NULL || star != NULL) &&
		    (raw = arena_alloc(mp->tree, total + 1)) == NULL)
			goto out;
		dl = 0;
		charset[0] = '\0';
		if (sec0 != NULL) {
			/* Join sections 0, 1, ... while they are contiguous. */
			used_sec = 0;
			for (s = 0;; s++) {
				found = 0;
				for (b = a; b < nr && !found; b++) {
					e = &rp[b];
					if (e->section != (int)s ||
					    strcmp(e->base, rp[a].base) != 0)
						continue;
					found = 1;
					if (s == 0 && e->ext)
						ext_first(part, e, charset, raw,
							  &dl);
					else if (e->ext)
						pct_append(part, raw, &dl,
							   e->val, e->vlen);
					else {
						memcpy(raw + dl, e->val,
						       e->vlen);
						dl += e->vlen;
					}
				}
				if (!found)
					break;
				used_sec++;
			}
			if (used_sec != nsec)
				part->defects |= MIME_DEFECT_BAD_PARAMS;
		} else if (star != NULL) {
			if (nsec > 0)
				part->defects |= MIME_DEFECT_BAD_PARAMS;
			ext_first(part, star, charset, raw, &dl);
		} else if (plain != NULL) {
			if (nsec > 0)
				part->defects |= MIME_DEFECT_BAD_PARAMS;
			/* The value as lexed is the raw value: take it. */
			raw = plain->val;
			dl = plain->vlen;
		} else {
			/* Continuations without a section 0. */
			part->defects |= MIME_DEFECT_BAD_PARAMS;
			continue;
		}
		/* Room for it: the lexed value, or total + 1. */
		raw[dl] = '\0';
		if (display_as_is(raw, dl)) {
			/* What every charset maps to itself: the raw bytes
			 * are shown (and never written to again). */
			disp = (char *)raw;
		} else {
			if ((disp = arena_alloc(mp->tree, 3 * dl + 1)) == NULL)
				goto out;
			if (charset[0] == '\0' ||
			    !mime_charset_supported(charset))
				(void)memcpy(charset, "utf-8", 6);
			if ((r = mime_charset_to_utf8(charset, raw, dl, disp,
						      3 * dl + 1, NULL)) != 0)
				goto out;
		}
		/* The group's name is rp[a]'s (not looked at again). */
		r = GW_ERR_NOMEM;
		if ((tmp = arena_grow(mp->tree, out, nout, &cout, nout + 1,
				      sizeof(*out))) == NULL)
			goto out;
		out = tmp;
		out[nout].name = rp[a].base;
		out[nout].value = disp;
		nout++;
		if (want_boundary && part->boundary == NULL &&
		    strcmp(out[nout - 1].name, "boundary") == 0) {
			if (!boundary_usable(raw, dl)) {
				part->defects |= MIME_DEFECT_NO_BOUNDARY;
			} else {
				if (!boundary_strict(raw, dl))
					part->defects |=
					    MIME_DEFECT_BAD_BOUNDARY;
				part->boundary = (const char *)raw;
				part->blen = dl;
			}
		}
	}
	*outp = out;
	*noutp = nout;
	r = 0;
out:
	return r;
}

static const char *
param_find(const struct mime_param *p, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (name_eq(p[i].name, name))
			return p[i].value;
	return NULL;
}

/* ---- content headers ------------------------------------------------- */

static int
parse_cte(struct mime_part *part, const struct mime_header *h)
{
	static const struct {
		const char *name;
		size_t len;
		enum cte_class cls;
	} known[] = {
	    {"7bit", 4, CTE_7BIT},	  {"8bit", 4, CTE_8BIT},
	    {"binary", 6, CTE_BINARY},	  {"base64", 6, CTE_BASE64},
	    {"quoted-printable", 16, CTE_QP},
	};
	const unsigned char *v;
	size_t n, i, t0, k;

	part->cte_class = CTE_7BIT;
	part->cte = "7bit";
	if (h == NULL)
		return 0;
	v = (const unsigned char *)h->value;
	n = h->vlen;
	i = skip_cfws(v, n, 0);
	for (t0 = i; i < n && is_token(v[i]); i++)
		;
	if (i == t0) {
		part->defects |= MIME_DEFECT_BAD_CTE;
		return 0;
	}
	if ((part->cte = lower_dup(part->tree, v + t0, i - t0)) == NULL)
		return GW_ERR_NOMEM;
	if (skip_cfws(v, n, i) < n)
		part->defects |= MIME_DEFECT_BAD_CTE;
	part->cte_class = CTE_OTHER;
	for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		if (i - t0 == known[k].len &&
		    memcmp(part->cte, known[k].name, known[k].len) == 0)
			part->cte_class = known[k].cls;
	if (part->cte_class == CTE_OTHER && strncmp(part->cte, "x-", 2) != 0)
		part->defects |= MIME_DEFECT_BAD_CTE;
	return 0;
}

static int
parse_ctype(struct mime_parser *mp, struct mime_part *part,
	    const struct mime_header *h)
{
	const unsigned char *v = (const unsigned char *)h->value;
	size_t n = h->vlen, i, t0, tl, s0, sl, k;
	char *ct;
	int r = 0;

	i = skip_cfws(v, n, 0);
	for (t0 = i; i < n && is_token(v[i]); i++)
		;
	tl = i - t0;
	i = skip_cfws(v, n, i);
	if (tl == 0 || i >= n || v[i] != '/') {
		part->defects |= MIME_DEFECT_BAD_CONTENT_TYPE;
		goto out;
	}
	i = skip_cfws(v, n, i + 1);
	for (s0 = i; i < n && is_token(v[i]); i++)
		;
	if ((sl = i - s0) == 0) {
		part->defects |= MIME_DEFECT_BAD_CONTENT_TYPE;
		goto out;
	}
	r = GW_ERR_NOMEM;
	if ((ct = arena_alloc(mp->tree, tl + 1 + sl + 1)) == NULL)
		goto out;
	for (k = 0; k < tl; k++)
		ct[k] = (char)lower(v[t0 + k]);
	ct[tl] = '/';
	for (k = 0; k < sl; k++)
		ct[tl + 1 + k] = (char)lower(v[s0 + k]);
	ct[tl + 1 + sl] = '\0';
	part->ctype = ct;
	r = params_parse(mp, part, v, n, i, &part->param, &part->nparam, 1);
out:
	return r;
}

static int
parse_disp(struct mime_parser *mp, struct mime_part *part,
	   const struct mime_header *h)
{
	const unsigned char *v = (const unsigned char *)h->value;
	size_t n = h->vlen, i, t0;

	i = skip_cfws(v, n, 0);
	for (t0 = i; i < n && is_token(v[i]); i++)
		;
	if (i == t0)
		part->defects |= MIME_DEFECT_BAD_PARAMS;
	if ((part->disp = lower_dup(mp->tree, v + t0, i - t0)) == NULL)
		return GW_ERR_NOMEM;
	return params_parse(mp, part, v, n, i, &part->dparam, &part->ndparam,
			    0);
}

static int
set_filename(struct mime_part *part)
{
	const char *fn;
	char *d;
	size_t sz, n, i;

	if ((fn = param_find(part->dparam, part->ndparam, "filename")) == NULL &&
	    (fn = param_find(part->param, part->nparam, "name")) == NULL)
		return 0;
	n = strlen(fn);
	/* Printable ASCII (and HT) without "=?" holds no encoded word and
	 * nothing the decoder replaces: it comes out as it is. */
	for (i = 0; i < n; i++)
		if (((unsigned char)fn[i] < 0x20 && fn[i] != '\t') ||
		    (unsigned char)fn[i] > 0x7e || (fn[i] == '=' && fn[i + 1] == '?'))
			break;
	if (i == n) {
		if ((d = arena_alloc(part->tree, n + 1)) == NULL)
			return GW_ERR_NOMEM;
		memcpy(d, fn, n + 1);
		part->filename = d;
		return 0;
	}
	sz = mime_rfc2047_decoded_max(n);
	if ((d = arena_alloc(part->tree, sz)) == NULL)
		return GW_ERR_NOMEM;
	part->filename = d;
	return mime_decode_rfc2047(fn, d, sz);
}

enum cfield {
	CF_OTHER,
	CF_TYPE,
	CF_CTE,
	CF_DISP,
	CF_MIME_VERSION,
};

/* Whether the n bytes at a are s (lower case), ignoring ASCII case. */
static int
ci_is(const char *a, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != (unsigned char)s[i])
			return 0;
	return 1;
}

/* Which of the fields analyze() looks at the name is (case-insensitive,
 * up to a NUL as name_eq() reads it), its length deciding most names. */
static enum cfield
content_field(const char *name)
{
	switch (strlen(name)) {
	case 12:
		if (ci_is(name, "content-type", 12))
			return CF_TYPE;
		return ci_is(name, "mime-version", 12) ? CF_MIME_VERSION
						       : CF_OTHER;
	case 19:
		return ci_is(name, "content-disposition", 19) ? CF_DISP
							      : CF_OTHER;
	case 25:
		return ci_is(name, "content-transfer-encoding", 25) ? CF_CTE
								    : CF_OTHER;
	default:
		return CF_OTHER;
	}
}

/* The header block is complete: work out what the body is. */
static int
analyze(struct mime_parser *mp, struct mime_part *part)
{
	const struct mime_header *ct = NULL, *cte = NULL, *cd = NULL, *h;
	unsigned nct = 0, ncte = 0, ncd = 0, nmv = 0;
	size_t i;
	int identity, r;

	for (i = 0; i < part->nhdr; i++) {
		h = part->hdr[i];
		switch (content_field(h->name)) {
		case CF_TYPE:
			if (nct++ == 0)
				ct = h;
			break;
		case CF_CTE:
			if (ncte++ == 0)
				cte = h;
			break;
		case CF_DISP:
			if (ncd++ == 0)
				cd = h;
			break;
		case CF_MIME_VERSION:
			nmv++;
			break;
		case CF_OTHER:
			break;
		}
	}
	if (nct > 1 || ncte > 1 || ncd > 1 || nmv > 1)
		part->defects |= MIME_DEFECT_DUP_CONTENT_HEADER;
	if (part->message && nmv == 0)
		part->defects |= MIME_DEFECT_NO_MIME_VERSION;
	if ((r = parse_cte(part, cte)) != 0)
		goto out;
	if (ct != NULL && (r = parse_ctype(mp, part, ct)) != 0)
		goto out;
	if (part->ctype == NULL)
		part->ctype = part->default_type;
	if (cd != NULL && (r = parse_disp(mp, part, cd)) != 0)
		goto out;
	identity = part->cte_class != CTE_BASE64 && part->cte_class != CTE_QP;
	if (strncmp(part->ctype, "multipart/", 10) == 0) {
		if (part->boundary == NULL)
			part->defects |= MIME_DEFECT_NO_BOUNDARY;
		else if (!identity)
			part->defects |= MIME_DEFECT_ENCODED_COMPOSITE;
		else
			part->kind = MIME_KIND_MULTIPART;
	} else if (strcmp(part->ctype, "message/rfc822") == 0 ||
		   strcmp(part->ctype, "message/global") == 0) {
		if (!identity)
			part->defects |= MIME_DEFECT_ENCODED_COMPOSITE;
		else
			part->kind = MIME_KIND_MESSAGE;
	}
	/* Degrading as Dovecot does: its children would be too deep. */
	if (part->kind != MIME_KIND_LEAF && mp->lim.depth_as_leaf &&
	    part->depth >= mp->lim.max_depth) {
		part->kind = MIME_KIND_LEAF;
		part->defects |= MIME_DEFECT_TOO_DEEP;
	}
	if (part->kind != MIME_KIND_MULTIPART) {
		part->boundary = NULL;
		part->blen = 0;
	}
	r = set_filename(part);
out:
	return r;
}

/* ---- structure ------------------------------------------------------- */

/*
 * End the header block of cur at hend; its body starts at bstart.
 * Opens the body: pushes a multipart's boundary, or starts the inner
 * message of a message/rfc822 (which becomes cur, in HEADER mode).
 */
static int
header_end(struct mime_parser *mp, size_t hend, size_t bstart, int blank)
{
	struct mime_part *part = mp->cur, *c = NULL;
	int r = 0;

	if (mp->field_pending && (r = field_finish(mp)) != 0)
		goto out;
	mp->hlen = 0;
	part->hdr_end = hend;
	part->body_start = part->body_end = bstart;
	part->pre_end = part->epi_start = part->epi_end = bstart;
	if (!blank)
		part->defects |= MIME_DEFECT_NO_BLANK_LINE;
	if ((r = analyze(mp, part)) != 0)
		goto out;
	mp->mode = PM_BODY;
	mp->ls = LS_START;
	if (part->kind == MIME_KIND_MULTIPART) {
		part->mp = MP_PREAMBLE;
		r = bstack_push(mp, part);
	} else if (part->kind == MIME_KIND_MESSAGE) {
		if ((r = part_new(mp, part, bstart, &c)) != 0)
			goto out;
		mp->cur = c;
		mp->mode = PM_HEADER;
	}
out:
	return r;
}

/*
 * Close an open part (in BODY mode) at end.  For a delimiter, end is
 * where the line end before it begins: that line end belongs to the
 * delimiter (RFC 2046 5.1.1), even when it is the empty line after the
 * headers (an empty body) or the end of the last header field.  Offsets
 * past end are pulled back to it, so that a part is exactly the octets
 * between its delimiter lines; a part that had no octets at all before
 * end (created by a delimiter line that is directly followed by an
 * outer delimiter) becomes empty at end.
 */
static void
part_close(struct mime_parser *mp, struct mime_part *p, size_t end)
{
	if (p->hdr_start > end)
		p->hdr_start = end;
	if (p->hdr_end > end)
		p->hdr_end = end;
	if (p->body_start > end)
		p->body_start = end;
	if (p->pre_end > end)
		p->pre_end = end;
	p->body_end = end;
	if (p->kind != MIME_KIND_MULTIPART) {
		p->pre_end = p->body_start;
		p->epi_start = p->epi_end = end;
		return;
	}
	if (p->mp == MP_EPILOGUE) {
		/* The line end after the close delimiter may be the one
		 * before an outer delimiter: the epilogue is then empty. */
		p->epi_end = end;
		if (p->epi_start > end)
			p->epi_start = end;
		return;
	}
	if (p->mp == MP_PREAMBLE)
		p->pre_end = end;
	p->epi_start = p->epi_end = end;
	p->defects |= MIME_DEFECT_UNTERMINATED;
	bstack_pop(mp, p);
}

/*
 * A delimiter line of multipart m starts; the previous line's line end
 * began at e.  Close everything inside m, all at one offset: e, but
 * never before the first byte of m's current child.
 */
static int
delim_start(struct mime_parser *mp, struct mime_part *m, int close, size_t e)
{
	struct mime_part *top;
	struct mime_header *h;
	size_t end = e;
	int r;

	for (top = mp->cur; top != m && top->parent != m; top = top->parent)
		;
	if (top != m)
		end = max_sz(top->hdr_start, e);
	if (mp->mode == PM_HEADER) {
		/* A header block cut by the delimiter: the line end of its
		 * last field is the delimiter's.  (Fields are recorded when
		 * the next line starts, so that field is already done.) */
		if (mp->cur->nhdr > 0) {
			h = mp->cur->hdr[mp->cur->nhdr - 1];
			if (h->off + h->len > end)
				h->len = end - h->off;
		}
		while (mp->mode == PM_HEADER)
			if ((r = header_end(mp, end, end, 0)) != 0)
				return r;
	}
	while (mp->cur != m) {
		part_close(mp, mp->cur, end);
		mp->cur = mp->cur->parent;
	}
	if (m->mp == MP_PREAMBLE)
		m->pre_end = max_sz(m->body_start, e);
	if (close) {
		bstack_pop(mp, m);
		m->mp = MP_EPILOGUE;
	} else {
		m->mp = MP_CHILD;
	}
	mp->dl_mp = m;
	mp->dl_close = close;
	mp->dl_garbage = 0;
	mp->line_part = m;
	mp->flag8 = m->cte_class != CTE_8BIT && m->cte_class != CTE_BINARY;
	return 0;
}

/* The delimiter line ended; the next byte is at x. */
static int
delim_end(struct mime_parser *mp, size_t x)
{
	struct mime_part *m = mp->dl_mp, *c = NULL;
	int r;

	mp->dl_mp = NULL;
	mp->ls = LS_START;
	mp->mode = PM_BODY;
	mp->cur = m;
	if (mp->dl_garbage)
		m->defects |= MIME_DEFECT_BOUNDARY_GARBAGE;
	if (mp->dl_close) {
		m->epi_start = x;
		return 0;
	}
	if ((r = part_new(mp, m, x, &c)) != 0)
		return r;
	mp->cur = c;
	mp->mode = PM_HEADER;
	return 0;
}

/* ---- header mode ----------------------------------------------------- */

/* Whether any of the 8 bytes in w is NUL, CR or has its high bit set. */
static int
hdr_word_flagged(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t highs = 0x8080808080808080ULL;
	uint64_t cr = w ^ (ones * '\r');

	return ((w & highs) | ((w - ones) & ~w & highs) |
		((cr - ones) & ~cr & highs)) != 0;
}

static void
hdr_line_flags(struct mime_part *part, const unsigned char *line, size_t cont,
	       size_t eol)
{
	uint64_t w;
	size_t i = 0;

	/* Sixteen or eight bytes at a time up to the first block that has
	 * one. */
#if defined(__SSE2__)
	for (; i + 16 <= cont; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(line + i));
		__m128i f = _mm_or_si128(
		    v, _mm_or_si128(_mm_cmpeq_epi8(v, _mm_setzero_si128()),
				    _mm_cmpeq_epi8(v, _mm_set1_epi8('\r'))));

		if (_mm_movemask_epi8(f) != 0)
			break;
	}
#endif
	for (; i + 8 <= cont; i += 8) {
		memcpy(&w, line + i, 8);
		if (hdr_word_flagged(w))
			break;
	}
	for (; i < cont; i++) {
		if (line[i] == '\0')
			part->defects |= MIME_DEFECT_NUL;
		else if (line[i] >= 0x80)
			part->defects |= MIME_DEFECT_8BIT_HEADER;
		else if (line[i] == '\r')
			part->defects |= MIME_DEFECT_BARE_CR;
	}
	if (cont > RFC_LINE_MAX)
		part->defects |= MIME_DEFECT_LONG_LINE;
	eol_flags(part, eol);
}

/* A whole header-mode line is at hbuf[line_off..hlen); eof: no LF. */
static int
hdr_line(struct mime_parser *mp, int eof)
{
	struct mime_part *part = mp->cur, *m;
	unsigned char *line = mp->hbuf + mp->line_off;
	size_t len = mp->hlen - mp->line_off, eol = 0, cont, mlen = 0, i;
	size_t l = mp->line_start, e = mp->prev_eol;
	int close = 0, idx = -1, garbage = 0, r;

	if (!eof)
		eol = len >= 2 && line[len - 2] == '\r' ? 2 : 1;
	cont = len - eol;
	if (cont > mp->lim.max_line)
		return limit_line(mp);
	mp->prev_eol = l + cont;
	mp->ls = LS_START;
	if (mp->bdepth > 0)
		idx = delim_match(mp, line, len, &close, &mlen);
	if (idx >= 0) {
		m = mp->bstack[idx];
		for (i = mlen; i < cont; i++)
			if (!is_wsp(line[i]))
				garbage = 1;
		mp->hlen = mp->line_off; /* not part of any field */
		if ((r = delim_start(mp, m, close, e)) != 0)
			return r;
		mp->dl_garbage = garbage;
		if (cont > RFC_LINE_MAX)
			m->defects |= MIME_DEFECT_LONG_LINE;
		eol_flags(m, eol);
		return delim_end(mp, mp->off);
	}
	hdr_line_flags(part, line, cont, eol);
	if (cont == 0 && !eof) {
		mp->hlen = mp->line_off;
		return header_end(mp, l, mp->off, 1);
	}
	if (!is_wsp(line[0])) {
		mp->field_pending = 1;
		mp->field_start = l;
	} else if (!mp->field_pending) {
		part->defects |= MIME_DEFECT_HEADER_CONT_FIRST;
		mp->field_pending = 1;
		mp->field_start = l;
	}
	return 0;
}

static int
hdr_step(struct mime_parser *mp, const unsigned char *s, size_t n,
	 size_t *used)
{
	struct mime_part *part = mp->cur;
	const unsigned char *lf;
	size_t take, cont;
	int r = 0;

	if (mp->ls == LS_START) {
		/* The first byte tells whether the pending field goes on. */
		if (mp->field_pending && !is_wsp(s[0]) &&
		    (r = field_finish(mp)) != 0)
			goto out;
		mp->line_start = mp->off;
		mp->line_part = part;
		mp->line_off = mp->hlen;
		mp->ls = LS_TEXT;
	}
	lf = memchr(s, '\n', n);
	take = lf != NULL ? (size_t)(lf - s) + 1 : n;
	if (take > mp->lim.max_header_bytes - part->hdr_bytes) {
		r = gw_err_set(GW_ERR_LIMIT,
			       "MIME header block larger than %zu bytes",
			       mp->lim.max_header_bytes);
		goto out;
	}
	if ((r = hbuf_append(mp, s, take)) != 0)
		goto out;
	part->hdr_bytes += take;
	mp->off += take;
	*used = take;
	if (lf != NULL) {
		r = hdr_line(mp, 0);
		goto out;
	}
	cont = mp->hlen - mp->line_off;
	if (mp->hbuf[mp->hlen - 1] == '\r')
		cont--;
	if (cont > mp->lim.max_line)
		r = limit_line(mp);
out:
	return r;
}

/* ---- body mode ------------------------------------------------------- */

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static int
word_interesting(uint64_t w)
{
	uint64_t lf = w ^ (ONES * '\n'), cr = w ^ (ONES * '\r');

	return ((w & HIGHS) | ((w - ONES) & ~w & HIGHS) |
		((lf - ONES) & ~lf & HIGHS) | ((cr - ONES) & ~cr & HIGHS)) != 0;
}

/*
 * Scan body bytes up to and including the first LF; record defects on
 * line_part.  Returns the number of bytes consumed; *lf set if the line
 * ended.
 */
static size_t
scan_text(struct mime_parser *mp, const unsigned char *s, size_t n, int *lf)
{
	unsigned fl = 0;
	size_t i = 0;
	uint64_t w;
	int cr = mp->pending_cr, delim = mp->ls == LS_DELIM;
	unsigned char c;

	*lf = 0;
	while (i < n) {
		if (!cr && !delim) {
			while (n - i >= 8) {
				memcpy(&w, s + i, 8);
				if (word_interesting(w))
					break;
				i += 8;
			}
			if (i >= n)
				break;
		}
		c = s[i++];
		if (c == '\n') {
			*lf = 1;
			break;
		}
		if (cr) {
			fl |= MIME_DEFECT_BARE_CR;
			if (delim)
				mp->dl_garbage = 1;
			cr = 0;
		}
		if (c == '\r') {
			cr = 1;
			continue;
		}
		if (c == '\0')
			fl |= MIME_DEFECT_NUL;
		else if (c >= 0x80 && mp->flag8)
			fl |= MIME_DEFECT_8BIT_BODY;
		if (delim && !is_wsp(c))
			mp->dl_garbage = 1;
	}
	mp->pending_cr = cr;
	mp->line_part->defects |= fl;
	return i;
}

/*
 * The bytes a body scan must stop at: below 0x20 (LF, CR, NUL, but
 * also TAB, FF, ...) and, when 8-bit bytes are a defect, 0x80 and
 * above.  scan_mask() gives one block of SCAN_W bytes as a mask, the
 * stop bytes' bits set and nothing else; byte i of the block is bit
 * (i << SCAN_SHIFT).  With SSE2 (every x86-64) a block is 32 bytes, a
 * bit each; otherwise 8 bytes in a word, the top bit of each byte.
 */
#if defined(__SSE2__)
#define SCAN_W 32
#define SCAN_SHIFT 0

static unsigned
scan_mask16(const unsigned char *p, int flag8)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i stop;

	if (flag8) /* signed: 0x80 and above are negative */
		stop = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
	else /* unsigned v <= 0x1f */
		stop = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
	return (unsigned)_mm_movemask_epi8(stop);
}

static uint64_t
scan_mask(const unsigned char *p, int flag8)
{
	return (uint64_t)scan_mask16(p, flag8) |
	       (uint64_t)scan_mask16(p + 16, flag8) << 16;
}
#else
#define SCAN_W 8
#define SCAN_SHIFT 3

static uint64_t
scan_mask(const unsigned char *p, int flag8)
{
	uint64_t w, low;

	memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w); /* byte 0 in the low bits */
#endif
	/* Exact per byte: below 0x80, x + 0x60 reaches 0x80 iff x >= 0x20,
	 * and no carry leaves a byte. */
	low = ~((w & ~HIGHS) + ONES * 0x60) & ~w & HIGHS;
	return flag8 ? low | (w & HIGHS) : low;
}
#endif

/* The same for the last n < SCAN_W bytes, one at a time. */
static uint64_t
scan_mask_tail(const unsigned char *p, size_t n, int flag8)
{
	uint64_t m = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] < 0x20 || (flag8 && p[i] >= 0x80))
			m |= (uint64_t)1 << ((i << SCAN_SHIFT) +
					     (SCAN_SHIFT != 0 ? 7 : 0));
	return m;
}

/*
 * Fast path for the common case, called at the start of a line: consume
 * a run of complete ordinary lines from s[0..n) in one go and return the
 * number of bytes taken (0: nothing taken, use the per-line machine).
 *
 * A line can only be a delimiter when it starts with '-' and some
 * multipart is open, so every other line that ends (LF) inside this
 * chunk is plain text of mp->cur: the part, its cte and so flag8 are the
 * same for the whole run, and only the bookkeeping of scan_text and
 * body_line_end matters.  The run stops before
 *   - a line that starts with '-' while bdepth > 0 (maybe a delimiter),
 *   - a line without its LF in this chunk (it may continue in the next
 *     chunk; the per-line machine keeps its state across chunks),
 *   - a line longer than max_line (the per-line machine fails on it,
 *     with the same error at the same point),
 * so the result is the same for every split of the input.
 *
 * The chunk is scanned a block at a time (scan_mask()) and only its
 * stop bytes are looked at: an LF ends a line, whose content is the
 * bytes before it (and before its CR, if one comes right before it:
 * the CR then ends the line, and its LF is passed over); the defects in
 * a line's content are
 *   NUL         any 0x00 byte;
 *   8BIT_BODY   any byte >= 0x80, when flag8 (cte not 8bit/binary);
 *   BARE_CR     any CR not right before the LF (the byte after it is
 *               still content, or the CR of the CRLF);
 * TAB and the other control bytes are none.  Per line: LONG_LINE
 * (content > 998 bytes, not binary) via the longest line, and the
 * line-end style (CRLF / LF, BARE_LF) as in body_line_end.  A line's
 * defects count only once its LF is seen.
 */
static size_t
text_run(struct mime_parser *mp, const unsigned char *s, size_t n)
{
	struct mime_part *part = mp->cur;
	const unsigned char *end = s + n, *line = s, *last = s, *b, *q;
	size_t cont, lastcont = 0, maxcont = 0;
	uint64_t m;
	unsigned fl = 0, lfl = 0, eol = 0, e;
	int dash = mp->bdepth > 0;
	int flag8 = part->cte_class != CTE_8BIT &&
		    part->cte_class != CTE_BINARY;

	if (n == 0 || (dash && *s == '-'))
		return 0;
	for (b = s; b < end; b += SCAN_W) {
		/* A large body comes from memory: fetched ahead, as the
		 * base64 decoder does (B64_PREFETCH). */
		if (((uintptr_t)b & 63) < SCAN_W)
			__builtin_prefetch(b + 2048);
		m = (size_t)(end - b) >= SCAN_W
			? scan_mask(b, flag8)
			: scan_mask_tail(b, (size_t)(end - b), flag8);
		for (; m != 0; m &= m - 1) {
			q = b + ((unsigned)__builtin_ctzll(m) >> SCAN_SHIFT);
			if (*q == '\n') {
				if (q < line)
					continue; /* a CRLF's, ended at the CR */
				e = MIME_EOL_LF;
			} else if (*q == '\r') {
				if (q + 1 >= end)
					continue; /* the line goes on */
				if (q[1] != '\n') {
					lfl |= MIME_DEFECT_BARE_CR;
					continue;
				}
				e = MIME_EOL_CRLF;
			} else {
				if (*q == '\0')
					lfl |= MIME_DEFECT_NUL;
				else if (*q >= 0x80)
					lfl |= MIME_DEFECT_8BIT_BODY;
				continue;
			}
			cont = (size_t)(q - line);
			if (cont > mp->lim.max_line)
				goto done;
			eol |= e;
			fl |= lfl;
			lfl = 0;
			if (cont > maxcont)
				maxcont = cont;
			last = line;
			lastcont = cont;
			line = q + (e == MIME_EOL_CRLF ? 2 : 1);
			if (dash && line < end && *line == '-')
				goto done;
		}
	}
done:
	if (line == s)
		return 0;
	n = (size_t)(line - s);

	if (maxcont > RFC_LINE_MAX && part->cte_class != CTE_BINARY)
		fl |= MIME_DEFECT_LONG_LINE;
	part->defects |= fl;
	if (eol & MIME_EOL_CRLF)
		eol_flags(part, 2);
	if (eol & MIME_EOL_LF)
		eol_flags(part, 1);

	/* The state body_line_end leaves after the last line of the run. */
	mp->line_part = part;
	mp->flag8 = flag8;
	mp->line_start = mp->off + (size_t)(last - s);
	mp->prev_eol = mp->line_start + lastcont;
	mp->pending_cr = 0;
	mp->off += n;
	mp->ls = LS_START;
	return n;
}

/* ---- CRLF only? (mime_crlf_scan) ------------------------------------ */

void
mime_crlf_scan_init(struct mime_crlf_scan *sc)
{
	sc->cr = 0;
	sc->bad = 0;
}

/* One byte against the one before it (cr: that was a CR). */
static int
crlf_byte(unsigned char c, unsigned *cr)
{
	int bad = c == '\n' ? !*cr : *cr != 0;

	*cr = c == '\r';
	return bad;
}

/*
 * Every LF has a CR right before it and every CR an LF right after it
 * exactly when each byte is an LF just when the byte before it is a CR.
 * The vector paths test p[1..n) so, past the first byte, which the
 * scalar path takes against the CR carried over: a block of bytes is
 * compared with the block one byte earlier (two loads, two compares),
 * with no look at the lines one by one and one test for several blocks;
 * the last test overlaps the one before (a byte looked at twice gives
 * the same answer).  Each returns 1 when it finds a line end other than
 * CRLF, and takes n > CRLF_VEC_MIN.
 */
#define CRLF_VEC_MIN 64

#if defined(__SSE2__)
/* The bytes at p that are an LF but not after a CR, or after a CR but
 * not an LF (p[-1] is read). */
static inline __m128i
crlf_diff16(const unsigned char *p)
{
	const __m128i *v = (const __m128i *)(const void *)p;
	const __m128i *w = (const __m128i *)(const void *)(p - 1);

	return _mm_xor_si128(
	    _mm_cmpeq_epi8(_mm_loadu_si128(v), _mm_set1_epi8('\n')),
	    _mm_cmpeq_epi8(_mm_loadu_si128(w), _mm_set1_epi8('\r')));
}

/* SSE2: 16 bytes a compare, one test per 64. */
static int
crlf_bad_sse2(const unsigned char *p, size_t n)
{
	__m128i d;
	size_t i;

	for (i = 1; i < n; i += 64) {
		if (n - i < 64) /* the last 64 bytes, again in part */
			i = n - 64;
		d = _mm_or_si128(crlf_diff16(p + i), crlf_diff16(p + i + 16));
		d = _mm_or_si128(d, crlf_diff16(p + i + 32));
		d = _mm_or_si128(d, crlf_diff16(p + i + 48));
		if (_mm_movemask_epi8(d) != 0)
			return 1;
	}
	return 0;
}
#endif

#ifdef MIME_X86
/* crlf_diff16() on 32 bytes. */
__attribute__((target("avx2"), always_inline)) static inline __m256i
crlf_diff32(const unsigned char *p)
{
	const __m256i *v = (const __m256i *)(const void *)p;
	const __m256i *w = (const __m256i *)(const void *)(p - 1);

	return _mm256_xor_si256(
	    _mm256_cmpeq_epi8(_mm256_loadu_si256(v), _mm256_set1_epi8('\n')),
	    _mm256_cmpeq_epi8(_mm256_loadu_si256(w), _mm256_set1_epi8('\r')));
}

/* 1 when the 128 bytes at p hold a byte that crlf_diff32() marks. */
__attribute__((target("avx2"), always_inline)) static inline int
crlf_bad128(const unsigned char *p)
{
	__m256i d;

	d = _mm256_or_si256(crlf_diff32(p), crlf_diff32(p + 32));
	d = _mm256_or_si256(d, crlf_diff32(p + 64));
	d = _mm256_or_si256(d, crlf_diff32(p + 96));
	return !_mm256_testz_si256(d, d);
}

/*
 * AVX2: 32 bytes a compare, one test per 128; 65 to 128 bytes are two
 * blocks of 64, the second overlapping the first.  The whole loop is in
 * this one function, which calls nothing: no legacy-SSE code runs while
 * the upper halves of the ymm registers are dirty, and GCC ends it with
 * vzeroupper (docs/performance.md, "Base64 per instruction set").
 */
__attribute__((target("avx2"))) static int
crlf_bad_avx2(const unsigned char *p, size_t n)
{
	__m256i d;
	size_t i;

	if (n <= 128) {
		d = _mm256_or_si256(crlf_diff32(p + 1), crlf_diff32(p + 33));
		d = _mm256_or_si256(d, crlf_diff32(p + n - 64));
		d = _mm256_or_si256(d, crlf_diff32(p + n - 32));
		return !_mm256_testz_si256(d, d);
	}
	for (i = 1; n - i > 128; i += 128)
		if (crlf_bad128(p + i))
			return 1;
	return crlf_bad128(p + n - 128); /* the last 128, again in part */
}
#endif

/*
 * p[1..n) by the best vector path that mime_isa() allows: 1 or 0 as
 * above, or -1 when it allows none (the scalar path).
 */
static int
crlf_bad_vec(const unsigned char *p, size_t n)
{
	int isa = mime_isa();

#ifdef MIME_X86
	if (isa >= MIME_ISA_AVX2)
		return crlf_bad_avx2(p, n);
#endif
#if defined(__SSE2__)
	if (isa >= MIME_ISA_SSE2)
		return crlf_bad_sse2(p, n);
#endif
	(void)isa;
	return -1;
}

void
mime_crlf_scan_feed(struct mime_crlf_scan *sc, const unsigned char *p,
		    size_t n)
{
	unsigned cr = (unsigned)sc->cr;
	size_t i = 0;
	int bad = sc->bad, vec;

	if (n > 0 && !bad)
		bad = crlf_byte(p[i++], &cr);
	if (n > CRLF_VEC_MIN && !bad && (vec = crlf_bad_vec(p, n)) >= 0) {
		bad = vec;
		cr = p[n - 1] == '\r';
		i = n;
	}
	for (; i < n && !bad; i++)
		bad = crlf_byte(p[i], &cr);
	sc->cr = (int)cr;
	sc->bad = bad;
}

int
mime_crlf_scan_done(const struct mime_crlf_scan *sc)
{
	return !sc->bad && !sc->cr;
}

/* The body line ended at mp->off (past its LF, or at end of input). */
static int
body_line_end(struct mime_parser *mp, int eof)
{
	struct mime_part *part = mp->line_part;
	size_t eol = 0, cont;

	if (!eof) {
		eol = mp->pending_cr ? 2 : 1;
	} else if (mp->pending_cr) {
		part->defects |= MIME_DEFECT_BARE_CR;
		if (mp->ls == LS_DELIM)
			mp->dl_garbage = 1;
	}
	cont = mp->off - mp->line_start - eol;
	if (cont > mp->lim.max_line)
		return limit_line(mp);
	if (cont > RFC_LINE_MAX && part->cte_class != CTE_BINARY)
		part->defects |= MIME_DEFECT_LONG_LINE;
	eol_flags(part, eol);
	mp->prev_eol = mp->line_start + cont;
	mp->pending_cr = 0;
	if (mp->ls == LS_DELIM)
		return delim_end(mp, mp->off);
	mp->ls = LS_START;
	return 0;
}

/* pbuf holds the start of a line (or all of it): delimiter or text? */
static int
prefix_resolve(struct mime_parser *mp, int eof)
{
	size_t mlen = 0, cont;
	int close = 0, idx, lf = 0, r;

	idx = delim_match(mp, mp->pbuf, mp->plen, &close, &mlen);
	if (idx >= 0) {
		if ((r = delim_start(mp, mp->bstack[idx], close,
				     mp->prev_eol)) != 0)
			return r;
		mp->ls = LS_DELIM;
	} else {
		mp->ls = LS_TEXT;
		mlen = 0;
	}
	(void)scan_text(mp, mp->pbuf + mlen, mp->plen - mlen, &lf);
	if (lf)
		return body_line_end(mp, 0);
	if (eof)
		return body_line_end(mp, 1);
	cont = mp->off - mp->line_start - (mp->pending_cr ? 1 : 0);
	return cont > mp->lim.max_line ? limit_line(mp) : 0;
}

static int
body_step(struct mime_parser *mp, const unsigned char *s, size_t n,
	  size_t *used)
{
	const unsigned char *nl;
	size_t take, cont;
	int lf = 0, r = 0;

	*used = 0;
	if (mp->lim.root_body_unread && mp->cur->parent == NULL &&
	    mp->cur->kind == MIME_KIND_LEAF) {
		/* Nothing comes after a root leaf's body: all of it is. */
		mp->off += n;
		*used = n;
		return 0;
	}
	switch (mp->ls) {
	case LS_START:
		/* Whole ordinary lines in bulk; the rest line by line. */
		if ((take = text_run(mp, s, n)) > 0) {
			*used = take;
			break;
		}
		mp->line_start = mp->off;
		mp->line_part = mp->cur;
		mp->flag8 = mp->cur->cte_class != CTE_8BIT &&
			    mp->cur->cte_class != CTE_BINARY;
		mp->pending_cr = 0;
		if (mp->bdepth > 0 && s[0] == '-') {
			mp->ls = LS_PREFIX;
			mp->plen = 0;
		} else {
			mp->ls = LS_TEXT;
		}
		break;
	case LS_PREFIX:
		take = mp->need - mp->plen;
		if (take > n)
			take = n;
		if ((nl = memchr(s, '\n', take)) != NULL)
			take = (size_t)(nl - s) + 1;
		memcpy(mp->pbuf + mp->plen, s, take);
		mp->plen += take;
		mp->off += take;
		*used = take;
		if (nl != NULL || mp->plen == mp->need) {
			r = prefix_resolve(mp, 0);
			break;
		}
		cont = mp->off - mp->line_start -
		       (mp->pbuf[mp->plen - 1] == '\r' ? 1 : 0);
		if (cont > mp->lim.max_line)
			r = limit_line(mp);
		break;
	default:
		take = scan_text(mp, s, n, &lf);
		mp->off += take;
		*used = take;
		if (lf) {
			r = body_line_end(mp, 0);
			break;
		}
		cont = mp->off - mp->line_start - (mp->pending_cr ? 1 : 0);
		if (cont > mp->lim.max_line)
			r = limit_line(mp);
		break;
	}
	return r;
}

/* ---- API ------------------------------------------------------------- */

void
mime_limits_default(struct mime_limits *lim)
{
	if (lim == NULL)
		return;
	lim->max_header_bytes = MIME_LIMIT_HEADER_BYTES;
	lim->max_line = MIME_LIMIT_LINE;
	lim->max_depth = MIME_LIMIT_DEPTH;
	lim->max_parts = MIME_LIMIT_PARTS;
	lim->max_total = MIME_LIMIT_TOTAL;
	lim->max_fields = MIME_LIMIT_FIELDS;
	lim->max_params = MIME_LIMIT_PARAMS;
	lim->depth_as_leaf = 0;
	lim->root_body_unread = 0;
}

struct mime_parser *
mime_parser_new(const struct mime_limits *lim)
{
	struct mime_parser *mp = NULL, *ret = NULL;
	struct mime_part *root = NULL;

	if ((mp = calloc(1, sizeof(*mp))) == NULL)
		goto out;
	mime_limits_default(&mp->lim);
	if (lim != NULL) {
		if (lim->max_header_bytes != 0)
			mp->lim.max_header_bytes = lim->max_header_bytes;
		if (lim->max_line != 0)
			mp->lim.max_line = lim->max_line;
		if (lim->max_depth != 0)
			mp->lim.max_depth = lim->max_depth;
		if (lim->max_parts != 0)
			mp->lim.max_parts = lim->max_parts;
		if (lim->max_total != 0)
			mp->lim.max_total = lim->max_total;
		if (lim->max_fields != 0)
			mp->lim.max_fields = lim->max_fields;
		if (lim->max_params != 0)
			mp->lim.max_params = lim->max_params;
		mp->lim.depth_as_leaf = lim->depth_as_leaf;
		mp->lim.root_body_unread = lim->root_body_unread;
	}
	if ((mp->tree = calloc(1, sizeof(*mp->tree))) == NULL)
		goto out;
	if (part_new(mp, NULL, 0, &root) != 0)
		goto out;
	mp->cur = root;
	mp->line_part = root;
	mp->mode = PM_HEADER;
	mp->ls = LS_START;
	bstack_need(mp);
	ret = mp;
	mp = NULL;
out:
	mime_parser_free(mp);
	return ret;
}

void
mime_parser_free(struct mime_parser *mp)
{
	if (mp == NULL)
		return;
	mime_tree_free(mp->tree);
	free(mp->hbuf);
	free(mp->bstack);
	free(mp);
}

int
mime_parser_feed(struct mime_parser *mp, const unsigned char *buf, size_t len)
{
	size_t used;
	int r = GW_ERR_INVALID;

	if (mp == NULL || (buf == NULL && len > 0))
		return GW_ERR_INVALID;
	if (mp->err != 0)
		return mp->err;
	if (mp->finished)
		return GW_ERR_INVALID;
	if (len > mp->lim.max_total - mp->off) {
		r = gw_err_set(GW_ERR_LIMIT, "MIME message larger than %zu bytes",
			       mp->lim.max_total);
		goto out;
	}
	r = 0;
	while (len > 0) {
		used = 0;
		if (mp->mode == PM_HEADER)
			r = hdr_step(mp, buf, len, &used);
		else
			r = body_step(mp, buf, len, &used);
		if (r != 0)
			goto out;
		buf += used;
		len -= used;
	}
out:
	if (r != 0)
		mp->err = r;
	return r;
}

static void
tree_aggregate(struct mime_tree *t)
{
	const unsigned both = MIME_EOL_CRLF | MIME_EOL_LF;
	struct mime_part *p;
	size_t i;

	/* Children come after their parent in document order. */
	for (i = t->nparts; i-- > 0;) {
		p = t->parts[i];
		if ((p->eol & both) == both)
			p->defects |= MIME_DEFECT_MIXED_EOL;
		p->defects_all |= p->defects;
		p->eol_all |= p->eol;
		if ((p->eol_all & both) == both)
			p->defects_all |= MIME_DEFECT_MIXED_EOL;
		if (p->parent != NULL) {
			p->parent->defects_all |= p->defects_all;
			p->parent->eol_all |= p->eol_all;
		}
	}
}

int
mime_parser_finish(struct mime_parser *mp, struct mime_tree **out)
{
	struct mime_part *p;
	int r = 0;

	if (out != NULL)
		*out = NULL;
	if (mp == NULL || out == NULL)
		return GW_ERR_INVALID;
	if (mp->err != 0)
		return mp->err;
	if (mp->finished)
		return GW_ERR_INVALID;
	/* A last line without its line end. */
	if (mp->mode == PM_HEADER) {
		if (mp->ls != LS_START)
			r = hdr_line(mp, 1);
	} else if (mp->ls == LS_PREFIX) {
		r = prefix_resolve(mp, 1);
	} else if (mp->ls != LS_START) {
		r = body_line_end(mp, 1);
	}
	if (r != 0)
		goto out;
	while (mp->mode == PM_HEADER)
		if ((r = header_end(mp, mp->off, mp->off, 0)) != 0)
			goto out;
	for (p = mp->cur; p != NULL; p = p->parent)
		part_close(mp, p, mp->off);
	mp->cur = NULL;
	tree_aggregate(mp->tree);
	mp->tree->size = mp->off;
	*out = mp->tree;
	mp->tree = NULL;
	mp->finished = 1;
out:
	if (r != 0)
		mp->err = r;
	return r;
}

const struct mime_part *
mime_tree_root(const struct mime_tree *tree)
{
	return tree != NULL && tree->nparts > 0 ? tree->parts[0] : NULL;
}

size_t
mime_tree_size(const struct mime_tree *tree)
{
	return tree != NULL ? tree->size : 0;
}

size_t
mime_tree_part_count(const struct mime_tree *tree)
{
	return tree != NULL ? tree->nparts : 0;
}

const struct mime_part *
mime_part_parent(const struct mime_part *part)
{
	return part != NULL ? part->parent : NULL;
}

size_t
mime_part_child_count(const struct mime_part *part)
{
	return part != NULL ? part->nchild : 0;
}

const struct mime_part *
mime_part_child(const struct mime_part *part, size_t i)
{
	return part != NULL && i < part->nchild ? part->child[i] : NULL;
}

const struct mime_part *
mime_part_next(const struct mime_part *part)
{
	if (part == NULL || part->seq + 1 >= part->tree->nparts)
		return NULL;
	return part->tree->parts[part->seq + 1];
}

unsigned
mime_part_depth(const struct mime_part *part)
{
	return part != NULL ? part->depth : 0;
}

size_t
mime_part_index(const struct mime_part *part)
{
	return part != NULL ? part->index : 0;
}

enum mime_kind
mime_part_kind(const struct mime_part *part)
{
	return part != NULL ? part->kind : MIME_KIND_LEAF;
}

static struct mime_range
range(size_t start, size_t end)
{
	struct mime_range rg;

	rg.start = start;
	rg.end = end;
	return rg;
}

struct mime_range
mime_part_header_range(const struct mime_part *part)
{
	return part != NULL ? range(part->hdr_start, part->hdr_end)
			    : range(0, 0);
}

struct mime_range
mime_part_body_range(const struct mime_part *part)
{
	return part != NULL ? range(part->body_start, part->body_end)
			    : range(0, 0);
}

struct mime_range
mime_part_range(const struct mime_part *part)
{
	return part != NULL ? range(part->hdr_start, part->body_end)
			    : range(0, 0);
}

struct mime_range
mime_part_preamble(const struct mime_part *part)
{
	return part != NULL ? range(part->body_start, part->pre_end)
			    : range(0, 0);
}

struct mime_range
mime_part_epilogue(const struct mime_part *part)
{
	return part != NULL ? range(part->epi_start, part->epi_end)
			    : range(0, 0);
}

const char *
mime_part_content_type(const struct mime_part *part)
{
	return part != NULL ? part->ctype : NULL;
}

const char *
mime_part_param(const struct mime_part *part, const char *name)
{
	if (part == NULL || name == NULL)
		return NULL;
	return param_find(part->param, part->nparam, name);
}

size_t
mime_part_param_count(const struct mime_part *part)
{
	return part != NULL ? part->nparam : 0;
}

const char *
mime_part_param_name(const struct mime_part *part, size_t i)
{
	return part != NULL && i < part->nparam ? part->param[i].name : NULL;
}

const char *
mime_part_param_value(const struct mime_part *part, size_t i)
{
	return part != NULL && i < part->nparam ? part->param[i].value : NULL;
}

const char *
mime_part_boundary(const struct mime_part *part)
{
	return part != NULL ? part->boundary : NULL;
}

const char *
mime_part_cte(const struct mime_part *part)
{
	return part != NULL ? part->cte : NULL;
}

const char *
mime_part_disposition(const struct mime_part *part)
{
	return part != NULL ? part->disp : NULL;
}

const char *
mime_part_disposition_param(const struct mime_part *part, const char *name)
{
	if (part == NULL || name == NULL)
		return NULL;
	return param_find(part->dparam, part->ndparam, name);
}

const char *
mime_part_filename(const struct mime_part *part)
{
	return part != NULL ? part->filename : NULL;
}

const char *
mime_part_header(const struct mime_part *part, const char *name)
{
	size_t i;

	if (part == NULL || name == NULL)
		return NULL;
	for (i = 0; i < part->nhdr; i++)
		if (name_eq(part->hdr[i]->name, name))
			return part->hdr[i]->value;
	return NULL;
}

size_t
mime_part_header_count(const struct mime_part *part)
{
	return part != NULL ? part->nhdr : 0;
}

const struct mime_header *
mime_part_header_at(const struct mime_part *part, size_t i)
{
	return part != NULL && i < part->nhdr ? part->hdr[i] : NULL;
}

const char *
mime_header_name(const struct mime_header *h)
{
	return h != NULL ? h->name : NULL;
}

const char *
mime_header_value(const struct mime_header *h)
{
	return h != NULL ? h->value : NULL;
}

size_t
mime_header_value_len(const struct mime_header *h)
{
	return h != NULL ? h->vlen : 0;
}

size_t
mime_header_offset(const struct mime_header *h)
{
	return h != NULL ? h->off : 0;
}

size_t
mime_header_length(const struct mime_header *h)
{
	return h != NULL ? h->len : 0;
}

unsigned
mime_part_defects(const struct mime_part *part)
{
	return part != NULL ? part->defects : 0;
}

unsigned
mime_part_defects_all(const struct mime_part *part)
{
	return part != NULL ? part->defects_all : 0;
}

unsigned
mime_part_eol(const struct mime_part *part)
{
	return part != NULL ? part->eol_all : 0;
}

const char *
mime_defect_name(unsigned defect_bit)
{
	static const char *const names[] = {
	    "no-mime-version",	  "no-boundary",	"bad-boundary",
	    "unterminated",	  "boundary-garbage",	"bare-lf",
	    "mixed-eol",	  "bare-cr",		"nul",
	    "8bit-header",	  "8bit-body",		"long-line",
	    "header-no-colon",	  "header-bad-name",	"header-cont-first",
	    "no-blank-line",	  "dup-content-header", "bad-content-type",
	    "bad-params",	  "bad-cte",		"encoded-composite",
	    "too-deep",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (defect_bit == 1u << i)
			return names[i];
	return "unknown";
}

const char *
mime_kind_name(enum mime_kind kind)
{
	switch (kind) {
	case MIME_KIND_LEAF:
		return "leaf";
	case MIME_KIND_MULTIPART:
		return "multipart";
	case MIME_KIND_MESSAGE:
		return "message";
	}
	return "unknown";
}
