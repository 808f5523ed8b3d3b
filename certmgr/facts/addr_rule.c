/*
 * addr_rule.c - how a certificate's names cover a mail address: the one
 * home of the address rule (addr_rule.h).
 *
 * Every name of a certificate is turned into a struct name (kind,
 * local part, domain, all counted and normalised) by one function, and
 * one function compares such a name with the address; addr_rule_match()
 * and addr_rule_covers() are two views of the same walk.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "addr_rule.h"
#include "gw_err.h"
#include "textfmt.h"

#define SUBJECT_NOTE " (subject emailAddress)"

static enum addr_local_part local_mode = ADDR_LOCAL_INSENSITIVE;

void
addr_rule_set_local_part(enum addr_local_part mode)
{
	local_mode = mode == ADDR_LOCAL_EXACT ? ADDR_LOCAL_EXACT
					      : ADDR_LOCAL_INSENSITIVE;
}

enum addr_local_part
addr_rule_local_part(void)
{
	return local_mode;
}

const char *
addr_rule_local_part_name(enum addr_local_part mode)
{
	return mode == ADDR_LOCAL_EXACT ? "exact" : "insensitive";
}

int
addr_rule_local_part_parse(const char *s, enum addr_local_part *out)
{
	if (s != NULL && strcmp(s, "insensitive") == 0) {
		*out = ADDR_LOCAL_INSENSITIVE;
		return 0;
	}
	if (s != NULL && strcmp(s, "exact") == 0) {
		*out = ADDR_LOCAL_EXACT;
		return 0;
	}
	return gw_err_set_at(GW_ERR_INVALID, "address_local_part",
			     "'%.64s' is not insensitive or exact",
			     s ? s : "");
}

const char *
addr_rule_match_name(enum addr_match kind)
{
	switch (kind) {
	case ADDR_MATCH_EMAIL:
		return "email";
	case ADDR_MATCH_DOMAIN:
		return "domain";
	case ADDR_MATCH_WILDCARD:
		return "wildcard";
	case ADDR_MATCH_NONE:
		break;
	}
	return "none";
}

/*
 * The length of domain d without one trailing dot, or 0 when it is no
 * domain: empty, an empty label, a space or a control character.
 */
static size_t
domain_len(const char *d, size_t n)
{
	size_t i;

	if (n > 0 && d[n - 1] == '.')
		n--;
	if (n == 0 || d[0] == '.' || d[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if ((unsigned char)d[i] <= 0x20 || (unsigned char)d[i] == 0x7f)
			return 0;
		if (d[i] == '.' && d[i + 1] == '.')
			return 0;
	}
	return n;
}

/* Splits the counted address a at its last '@'; -1 when it is none. */
static int
split(const char *a, size_t n, const char **local, size_t *llen,
      const char **dom, size_t *dlen)
{
	size_t i, at = n;

	if (n == 0 || n > ADDR_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		if ((unsigned char)a[i] < 0x20 || (unsigned char)a[i] == 0x7f)
			return -1;
		if (a[i] == '@')
			at = i;
	}
	if (at == n || at == 0)
		return -1;
	/* A '*' belongs in a wildcard dNSName, never in an address. */
	if ((*dlen = domain_len(a + at + 1, n - at - 1)) == 0 ||
	    memchr(a + at + 1, '*', *dlen) != NULL)
		return -1;
	*local = a;
	*llen = at;
	*dom = a + at + 1;
	return 0;
}

int
addr_rule_split(const char *addr, const char **local, size_t *llen,
		const char **dom, size_t *dlen)
{
	if (addr == NULL)
		return -1;
	return split(addr, strnlen(addr, ADDR_MAX + 1), local, llen, dom,
		     dlen);
}

#define LIST_SEPS " \t,"

/*
 * Calls fn for each entry of a domain list as a pattern ("@" + entry,
 * "" when too long for one); stops at the first non-zero return and
 * gives it.
 */
static int
each_domain(const char *list, int (*fn)(void *, const char *), void *arg)
{
	char pat[ADDR_MAX + 2];
	size_t n;
	int rc;

	while (list != NULL && *list != '\0') {
		list += strspn(list, LIST_SEPS);
		if ((n = strcspn(list, LIST_SEPS)) == 0)
			break;
		if (n + 2 > sizeof(pat))
			pat[0] = '\0';
		else
			snprintf(pat, sizeof(pat), "@%.*s", (int)n, list);
		if ((rc = fn(arg, pat)) != 0)
			return rc;
		list += n;
	}
	return 0;
}

struct list_why {
	char *why;
	size_t whylen;
};

static int
domain_valid(void *arg, const char *pat)
{
	struct list_why *c = arg;

	if (pat[0] == '@' && pat[1] != '@' &&
	    addr_rule_pattern_valid(pat, NULL, 0) == 0)
		return 0;
	if (c->why != NULL)
		snprintf(c->why, c->whylen,
			 "'%.80s' is not a domain (example.com) or its "
			 "subdomains (.example.com)",
			 pat[0] ? pat + 1 : "(an entry too long)");
	return -1;
}

int
addr_rule_domains_valid(const char *list, char *why, size_t whylen)
{
	struct list_why c = {why, whylen};

	if (why != NULL && whylen > 0)
		why[0] = '\0';
	return each_domain(list, domain_valid, &c);
}

static int
domain_has(void *arg, const char *pat)
{
	return addr_rule_pattern_match(pat, arg);
}

int
addr_rule_in_domains(const char *list, const char *addr)
{
	if (addr == NULL || *addr == '\0')
		return 0;
	return each_domain(list, domain_has, (void *)addr) == 1;
}

/* What the rule compares: an address (local part given) or a domain. */
struct target {
	const char *local;	/* NULL: a bare domain */
	size_t llen;
	const char *dom;
	size_t dlen;
};

static int
target_init(struct target *t, const char *addr)
{
	memset(t, 0, sizeof(*t));
	if (addr == NULL)
		return -1;
	if (strchr(addr, '@') != NULL)
		return addr_rule_split(addr, &t->local, &t->llen, &t->dom,
				       &t->dlen);
	if (strnlen(addr, ADDR_MAX + 1) > ADDR_MAX)
		return -1;
	t->dom = addr;
	t->dlen = domain_len(addr, strlen(addr));
	return t->dlen == 0 || memchr(addr, '*', t->dlen) != NULL ? -1 : 0;
}

static int
local_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (local_mode == ADDR_LOCAL_EXACT)
		return alen == blen && memcmp(a, b, alen) == 0;
	return textfmt_ci_eq(a, alen, b, blen);
}

/* ---- address patterns --------------------------------------------------- */

/* A pattern's parts: local part (NULL: a domain pattern), domain,
 * whether it names the subdomains. */
struct pattern {
	const char *local;
	size_t llen;
	const char *dom;
	size_t dlen;
	int sub;
};

static int
pattern_split(const char *pat, struct pattern *p, char *why, size_t whylen)
{
	const char *d;
	size_t n;

	memset(p, 0, sizeof(*p));
	if (why != NULL && whylen > 0)
		*why = '\0';
	if (pat == NULL || (n = strnlen(pat, ADDR_MAX + 1)) == 0) {
		if (why != NULL)
			snprintf(why, whylen, "an empty pattern");
		return -1;
	}
	if (pat[0] != '@') {
		if (split(pat, n, &p->local, &p->llen, &p->dom, &p->dlen) == 0)
			return 0;
		if (why != NULL)
			snprintf(why, whylen, "'%.80s' is not an address, "
				 "@domain or @.domain", pat);
		return -1;
	}
	d = pat + 1;
	if (*d == '.') {
		p->sub = 1;
		d++;
	}
	/* A domain pattern is the domain of an address that would split. */
	if (n > ADDR_MAX || strchr(d, '@') != NULL ||
	    (p->dlen = domain_len(d, strlen(d))) == 0 ||
	    memchr(d, '*', p->dlen) != NULL) {
		if (why != NULL)
			snprintf(why, whylen, "'%.80s': '%.80s' is not a "
				 "domain", pat, d);
		return -1;
	}
	p->dom = d;
	return 0;
}

int
addr_rule_pattern_valid(const char *pat, char *why, size_t whylen)
{
	struct pattern p;

	return pattern_split(pat, &p, why, whylen);
}

int
addr_rule_pattern_norm(const char *pat, char *out, size_t len)
{
	struct pattern p;
	size_t pre, i;

	if (pattern_split(pat, &p, NULL, 0) != 0)
		return -1;
	pre = (size_t)(p.dom - pat);	/* "local@", "@" or "@." */
	if (pre + p.dlen + 1 > len)
		return -1;
	memcpy(out, pat, pre);
	for (i = 0; i < p.dlen; i++)
		out[pre + i] = p.dom[i] >= 'A' && p.dom[i] <= 'Z'
				   ? (char)(p.dom[i] + ('a' - 'A'))
				   : p.dom[i];
	out[pre + p.dlen] = '\0';
	return 0;
}

int
addr_rule_pattern_match(const char *pat, const char *addr)
{
	struct pattern p;
	const char *local, *dom;
	size_t llen, dlen;

	if (pattern_split(pat, &p, NULL, 0) != 0 ||
	    addr_rule_split(addr, &local, &llen, &dom, &dlen) != 0)
		return 0;
	if (p.local != NULL)
		return local_eq(p.local, p.llen, local, llen) &&
		       textfmt_ci_eq(p.dom, p.dlen, dom, dlen);
	if (!p.sub)
		return textfmt_ci_eq(p.dom, p.dlen, dom, dlen);
	/* label(s) "." domain: longer by a dot and one label at least. */
	return dlen > p.dlen + 1 && dom[dlen - p.dlen - 1] == '.' &&
	       textfmt_ci_eq(p.dom, p.dlen, dom + dlen - p.dlen, p.dlen);
}

/* How an address-valued entry (rfc822Name, emailAddress) names t. */
static enum addr_match
email_match(const char *v, size_t n, const struct target *t)
{
	const char *local, *dom;
	size_t llen, dlen;

	if (t->local == NULL || split(v, n, &local, &llen, &dom, &dlen) != 0)
		return ADDR_MATCH_NONE;
	if (local_eq(local, llen, t->local, t->llen) &&
	    textfmt_ci_eq(dom, dlen, t->dom, t->dlen))
		return ADDR_MATCH_EMAIL;
	return ADDR_MATCH_NONE;
}

/* How one dNSName value names t's domain. */
static enum addr_match
dns_match(const char *v, size_t n, const struct target *t)
{
	const char *dot;

	if ((n = domain_len(v, n)) == 0)
		return ADDR_MATCH_NONE;
	if (textfmt_ci_eq(v, n, t->dom, t->dlen))
		return ADDR_MATCH_DOMAIN;
	/* "*.rest": rest has two labels at least; the domain is
	 * label.rest with a label that is not empty. */
	if (n < 5 || v[0] != '*' || v[1] != '.' ||
	    memchr(v + 2, '.', n - 2) == NULL || memchr(v + 2, '*', n - 2))
		return ADDR_MATCH_NONE;
	if ((dot = memchr(t->dom, '.', t->dlen)) == NULL || dot == t->dom)
		return ADDR_MATCH_NONE;
	if (textfmt_ci_eq(v + 2, n - 2, dot + 1,
			  t->dlen - (size_t)(dot + 1 - t->dom)))
		return ADDR_MATCH_WILDCARD;
	return ADDR_MATCH_NONE;
}

/* The best match so far and the entry that gave it. */
struct walk {
	const struct target *t;
	enum addr_match best;
	char *shown;		/* may be NULL */
	size_t shownlen;
	int first;		/* shown holds the first name, no match */
	int notes;		/* mark an entry of the subject as such */
};

static void
walk_show(struct walk *w, const char *v, size_t n, const char *note)
{
	size_t len;

	if (w->shown == NULL || w->shownlen == 0)
		return;
	textfmt_escape(w->shown, w->shownlen, v, n, 0);
	len = strlen(w->shown);
	if (note != NULL && len + strlen(note) < w->shownlen)
		memcpy(w->shown + len, note, strlen(note) + 1);
}

static void
walk_entry(struct walk *w, enum addr_match k, const char *v, size_t n,
	   const char *note)
{
	if (k == ADDR_MATCH_NONE) {
		if (w->first && w->best == ADDR_MATCH_NONE)
			walk_show(w, v, n, NULL);
		w->first = 0;
		return;
	}
	w->first = 0;
	if (w->best != ADDR_MATCH_NONE && k >= w->best)
		return;
	w->best = k;
	walk_show(w, v, n, note);
}

/* The entry's bytes when it holds no NUL byte, else NULL. */
static const char *
entry(const ASN1_STRING *s, size_t *n)
{
	const char *v = (const char *)ASN1_STRING_get0_data(s);
	int len = ASN1_STRING_length(s);

	if (v == NULL || len <= 0 || memchr(v, '\0', (size_t)len) != NULL)
		return NULL;
	*n = (size_t)len;
	return v;
}

/* ---- a certificate's names, decoded once ------------------------------- */

/*
 * The names the rule reads, in the order it reads them: the SAN's
 * rfc822Name and dNSName entries, then the subject's emailAddress
 * attributes; entries holding a NUL byte are left out.  Decoding the
 * SAN extension costs more than the rest of a message's From binding,
 * and senders repeat, so the names are kept for the last few
 * certificates met, keyed by exactly what they are read from: the
 * extnValue bytes of every subjectAltName extension and the subject
 * name's DER.  A certificate that differs there is another key and
 * is decoded on its own; one that differs elsewhere only (the key,
 * the signature, other extensions) has the same names.  Nothing but
 * the names is kept: the address is compared with them every time.
 */
enum name_kind {
	NAME_EMAIL,		/* SAN rfc822Name */
	NAME_DNS,		/* SAN dNSName */
	NAME_SUBJECT_EMAIL,	/* the subject's emailAddress */
};

struct cert_name {
	enum name_kind kind;
	const char *v;
	size_t n;
};

/* One block: this, the names, the key's bytes, the names' bytes. */
struct cert_names {
	struct cert_name *name;
	size_t nname;
	const unsigned char *key;
	size_t klen;
};

#define NAMES_SLOTS 32		/* certificates whose names are kept */
#define NAMES_KEY_MAX 2048	/* a longer key is not kept */
#define NAMES_MAX 64		/* nor more names than this */
#define NAMES_BYTES_MAX 4096	/* nor more bytes of them */

static struct {
	pthread_mutex_t lock;
	struct cert_names *slot[NAMES_SLOTS];
	unsigned next;		/* the slot to take next */
	unsigned long hits, misses;
} names_cache = {PTHREAD_MUTEX_INITIALIZER, {NULL}, 0, 0, 0};

/* Appends n bytes (with their length before them) to the key; 0 when
 * the key would be too long. */
static int
key_add(unsigned char *key, size_t *klen, const void *p, size_t n)
{
	if (n > NAMES_KEY_MAX || *klen > NAMES_KEY_MAX - sizeof(n) - n)
		return 0;
	memcpy(key + *klen, &n, sizeof(n));
	memcpy(key + *klen + sizeof(n), p, n);
	*klen += sizeof(n) + n;
	return 1;
}

/* What cert's names are read from (see above), in key; 0 when that is
 * longer than NAMES_KEY_MAX (not kept then). */
static int
names_key(X509 *cert, unsigned char *key, size_t *klen)
{
	const ASN1_OCTET_STRING *d;
	const unsigned char *der;
	size_t dlen;
	int i = -1;

	*klen = 0;
	while ((i = X509_get_ext_by_NID(cert, NID_subject_alt_name, i)) >= 0) {
		d = X509_EXTENSION_get_data(X509_get_ext(cert, i));
		if (d == NULL ||
		    !key_add(key, klen, ASN1_STRING_get0_data(d),
			     (size_t)ASN1_STRING_length(d)))
			return 0;
	}
	return X509_NAME_get0_der(X509_get_subject_name(cert), &der, &dlen) &&
	       key_add(key, klen, der, dlen);
}

/*
 * Calls add (when not NULL) for each of cert's names (gens: its SAN),
 * in the order the rule reads them; the count and their bytes in *nn
 * and *bytes.
 */
static void
names_each(X509 *cert, const GENERAL_NAMES *gens, struct cert_names *add,
	   size_t *nn, size_t *bytes)
{
	const X509_NAME *subj = X509_get_subject_name(cert);
	const GENERAL_NAME *g;
	struct cert_name *e;
	const char *v;
	size_t n;
	int i, idx = -1;

	*nn = *bytes = 0;
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if ((g->type != GEN_EMAIL && g->type != GEN_DNS) ||
		    (v = entry(g->d.ia5, &n)) == NULL)
			continue;
		if (add != NULL) {
			e = &add->name[*nn];
			e->kind = g->type == GEN_EMAIL ? NAME_EMAIL : NAME_DNS;
			e->v = v;
			e->n = n;
		}
		(*nn)++;
		*bytes += n;
	}
	while ((idx = X509_NAME_get_index_by_NID(subj, NID_pkcs9_emailAddress,
						 idx)) >= 0) {
		v = entry(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx)),
			  &n);
		if (v == NULL)
			continue;
		if (add != NULL) {
			e = &add->name[*nn];
			e->kind = NAME_SUBJECT_EMAIL;
			e->v = v;
			e->n = n;
		}
		(*nn)++;
		*bytes += n;
	}
}

/* The names of cert as the rule reads them, and key (klen bytes), in
 * one block (free() it); NULL when out of memory.  *small: whether
 * they are few enough to be kept. */
static struct cert_names *
names_decode(X509 *cert, const unsigned char *key, size_t klen, int *small)
{
	struct cert_names *cn = NULL;
	GENERAL_NAMES *gens;
	unsigned char *p;
	size_t nn, bytes, i;

	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	names_each(cert, gens, NULL, &nn, &bytes);
	*small = nn <= NAMES_MAX && bytes <= NAMES_BYTES_MAX;
	if (nn > SIZE_MAX / 2 / sizeof(*cn->name) ||
	    (cn = malloc(sizeof(*cn) + nn * sizeof(*cn->name) + klen +
			 bytes)) == NULL)
		goto out;
	cn->name = (struct cert_name *)(cn + 1);
	names_each(cert, gens, cn, &cn->nname, &bytes);
	/* The bytes are copied into the block: gens goes. */
	p = (unsigned char *)(cn->name + cn->nname);
	if (klen > 0)
		memcpy(p, key, klen);
	cn->key = p;
	cn->klen = klen;
	p += klen;
	for (i = 0; i < cn->nname; i++) {
		memcpy(p, cn->name[i].v, cn->name[i].n);
		cn->name[i].v = (const char *)p;
		p += cn->name[i].n;
	}
out:
	GENERAL_NAMES_free(gens);
	return cn;
}

static void walk_names(struct walk *w, const struct cert_names *cn);

/*
 * Walks w over cert's names: those kept for its key under the lock, or
 * decoded (and kept when the key and the names are small enough).  Out
 * of memory there are no names: nothing is covered (as when the SAN
 * could not be decoded for want of memory before).
 */
static void
walk_cert(struct walk *w, X509 *cert)
{
	unsigned char key[NAMES_KEY_MAX];
	struct cert_names *cn, *old = NULL;
	size_t klen;
	int keep, small, i;

	keep = names_key(cert, key, &klen);
	pthread_mutex_lock(&names_cache.lock);
	for (i = 0; keep && i < NAMES_SLOTS; i++) {
		cn = names_cache.slot[i];
		if (cn != NULL && cn->klen == klen &&
		    memcmp(cn->key, key, klen) == 0) {
			names_cache.hits++;
			walk_names(w, cn);
			pthread_mutex_unlock(&names_cache.lock);
			return;
		}
	}
	names_cache.misses++;
	pthread_mutex_unlock(&names_cache.lock);
	if ((cn = names_decode(cert, key, keep ? klen : 0, &small)) == NULL)
		return;
	walk_names(w, cn);
	if (!keep || !small) {
		free(cn);
		return;
	}
	pthread_mutex_lock(&names_cache.lock);
	old = names_cache.slot[names_cache.next];
	names_cache.slot[names_cache.next] = cn;
	names_cache.next = (names_cache.next + 1) % NAMES_SLOTS;
	pthread_mutex_unlock(&names_cache.lock);
	free(old);
}

void
addr_rule_names_stats_for_tests(unsigned long *hits, unsigned long *misses)
{
	pthread_mutex_lock(&names_cache.lock);
	*hits = names_cache.hits;
	*misses = names_cache.misses;
	pthread_mutex_unlock(&names_cache.lock);
}

static void
walk_names(struct walk *w, const struct cert_names *cn)
{
	const struct cert_name *e;
	size_t i;

	for (i = 0; i < cn->nname; i++) {
		e = &cn->name[i];
		switch (e->kind) {
		case NAME_EMAIL:
			walk_entry(w, email_match(e->v, e->n, w->t), e->v,
				   e->n, NULL);
			break;
		case NAME_DNS:
			walk_entry(w, dns_match(e->v, e->n, w->t), e->v, e->n,
				   NULL);
			break;
		case NAME_SUBJECT_EMAIL:
			walk_entry(w, email_match(e->v, e->n, w->t), e->v,
				   e->n, w->notes ? SUBJECT_NOTE : NULL);
			break;
		}
	}
}

static enum addr_match
walk(X509 *cert, const struct target *t, char *shown, size_t shownlen,
     int notes)
{
	struct walk w;

	memset(&w, 0, sizeof(w));
	w.t = t;
	w.notes = notes;
	w.shown = shown;
	w.shownlen = shownlen;
	w.first = 1;
	if (shown != NULL && shownlen > 0)
		shown[0] = '\0';
	walk_cert(&w, cert);
	/* What a SAN that does not decode left (the caller's queue is
	 * left empty as before; looking is cheaper than clearing). */
	if (ERR_peek_error() != 0)
		ERR_clear_error();
	return w.best;
}

enum addr_match
addr_rule_match(X509 *cert, const char *addr, char *san, size_t sanlen)
{
	struct target t;
	enum addr_match k;

	if (san != NULL && sanlen > 0)
		san[0] = '\0';
	if (cert == NULL || target_init(&t, addr) != 0)
		return ADDR_MATCH_NONE;
	k = walk(cert, &t, san, sanlen, 1);
	if (k == ADDR_MATCH_NONE && san != NULL && sanlen > 0)
		san[0] = '\0';
	return k;
}

/* ---- index names (addr_rule.h) ------------------------------------------ */

/* kind ':' then the parts (a NULL part is left out), folded; 0 or fn's
 * code; names too long for the index are skipped. */
static int
index_name(addr_index_fn fn, void *arg, char kind, const char *a, size_t alen,
	   const char *b, size_t blen)
{
	char buf[ADDR_INDEX_MAX + 1];
	size_t i, n;

	n = 2 + alen + (b != NULL ? 1 + blen : 0);
	if (n > ADDR_INDEX_MAX)
		return 0;
	buf[0] = kind;
	buf[1] = ':';
	memcpy(buf + 2, a, alen);
	if (b != NULL) {
		buf[2 + alen] = '@';
		memcpy(buf + 3 + alen, b, blen);
	}
	for (i = 2; i < n; i++)
		if (buf[i] >= 'A' && buf[i] <= 'Z')
			buf[i] = (char)(buf[i] + ('a' - 'A'));
	return fn(arg, buf, n);
}

static int
index_email(addr_index_fn fn, void *arg, const char *v, size_t n)
{
	const char *local, *dom;
	size_t llen, dlen;

	if (split(v, n, &local, &llen, &dom, &dlen) != 0)
		return 0;
	return index_name(fn, arg, 'e', local, llen, dom, dlen);
}

static int
index_dns(addr_index_fn fn, void *arg, const char *v, size_t n)
{
	int rc;

	if ((n = domain_len(v, n)) == 0)
		return 0;
	if ((rc = index_name(fn, arg, 'd', v, n, NULL, 0)) != 0)
		return rc;
	/* The shape dns_match() accepts for a wildcard. */
	if (n < 5 || v[0] != '*' || v[1] != '.' ||
	    memchr(v + 2, '.', n - 2) == NULL || memchr(v + 2, '*', n - 2))
		return 0;
	return index_name(fn, arg, 'w', v + 2, n - 2, NULL, 0);
}

int
addr_rule_index_names(X509 *cert, addr_index_fn fn, void *arg)
{
	struct cert_names *cn;
	const struct cert_name *e;
	size_t i;
	int small, rc = 0;

	if (cert == NULL)
		return 0;
	if ((cn = names_decode(cert, NULL, 0, &small)) == NULL) {
		ERR_clear_error();
		return GW_ERR_NOMEM;
	}
	for (i = 0; rc == 0 && i < cn->nname; i++) {
		e = &cn->name[i];
		rc = e->kind == NAME_DNS ? index_dns(fn, arg, e->v, e->n)
					 : index_email(fn, arg, e->v, e->n);
	}
	free(cn);
	ERR_clear_error();
	return rc;
}

int
addr_rule_index_query(const char *addr, addr_index_fn fn, void *arg)
{
	struct target t;
	const char *dot;
	int rc;

	if (target_init(&t, addr) != 0 || t.local == NULL)
		return -1;
	if ((rc = index_name(fn, arg, 'e', t.local, t.llen, t.dom, t.dlen)) !=
		0 ||
	    (rc = index_name(fn, arg, 'd', t.dom, t.dlen, NULL, 0)) != 0)
		return rc;
	if ((dot = memchr(t.dom, '.', t.dlen)) == NULL || dot == t.dom)
		return 0;
	return index_name(fn, arg, 'w', dot + 1,
			  t.dlen - (size_t)(dot + 1 - t.dom), NULL, 0);
}

int
addr_rule_covers(X509 *cert, const char *addr, char *identity, size_t idlen)
{
	struct target t;
	char cn[256];
	enum addr_match k;
	int len;

	if (identity != NULL && idlen > 0)
		identity[0] = '\0';
	if (cert == NULL)
		return 0;
	if (target_init(&t, addr) != 0 || t.local == NULL) {
		/* Not an address: nothing covers it; name the cert. */
		memset(&t, 0, sizeof(t));
		t.dom = "";
	}
	k = walk(cert, &t, identity, idlen, 0);
	if (identity != NULL && idlen > 0 && identity[0] == '\0') {
		len = X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
						NID_commonName, cn,
						(int)sizeof(cn));
		if (len > 0)
			textfmt_escape(identity, idlen, cn, (size_t)len, 0);
		ERR_clear_error();
	}
	return t.local != NULL && k != ADDR_MATCH_NONE;
}
