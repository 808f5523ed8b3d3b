/* cert_cache.c - decoded certificates, keyed by the SHA-256 of their DER. */
#include "cert_cache.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "gw_err.h"

struct entry {
	unsigned char md[32];	/* SHA-256 of der */
	unsigned char *der;
	size_t len;
	X509 *x;
	struct entry *next;	/* in its bucket */
	struct entry *newer, *older;
};

struct cert_cache {
	pthread_mutex_t lock;
	EVP_MD *sha256;		/* fetched once: no provider lookup per hash */
	EVP_MD_CTX *mdctx;
	struct entry **bucket;
	size_t nbucket;		/* a power of two */
	struct entry *newest, *oldest;
	size_t max_entries, max_bytes;
	struct cert_cache_stats st;
};

struct cert_cache *
cert_cache_new(size_t max_entries, size_t max_bytes)
{
	struct cert_cache *c;
	size_t nb = 16;

	if (max_entries == 0 || max_bytes == 0 ||
	    (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	while (nb < 2 * max_entries && nb < ((size_t)1 << 20))
		nb <<= 1;
	c->nbucket = nb;
	c->max_entries = max_entries;
	c->max_bytes = max_bytes;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return NULL;
	}
	if ((c->bucket = calloc(nb, sizeof(*c->bucket))) == NULL ||
	    (c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (c->mdctx = EVP_MD_CTX_new()) == NULL) {
		cert_cache_free(c);
		return NULL;
	}
	return c;
}

static void
entry_free(struct entry *e)
{
	X509_free(e->x);
	free(e->der);
	free(e);
}

void
cert_cache_free(struct cert_cache *c)
{
	struct entry *e, *o;

	if (c == NULL)
		return;
	for (e = c->newest; e != NULL; e = o) {
		o = e->older;
		entry_free(e);
	}
	free(c->bucket);
	EVP_MD_CTX_free(c->mdctx);
	EVP_MD_free(c->sha256);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static size_t
slot(const struct cert_cache *c, const unsigned char *md)
{
	uint64_t h;

	memcpy(&h, md, sizeof(h)); /* SHA-256 bits are evenly spread */
	return (size_t)h & (c->nbucket - 1);
}

static void
lru_unlink(struct cert_cache *c, struct entry *e)
{
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void
lru_push(struct cert_cache *c, struct entry *e)
{
	e->newer = NULL;
	e->older = c->newest;
	if (c->newest != NULL)
		c->newest->newer = e;
	c->newest = e;
	if (c->oldest == NULL)
		c->oldest = e;
}

static void
evict_oldest(struct cert_cache *c)
{
	struct entry *e = c->oldest, **pp;

	for (pp = &c->bucket[slot(c, e->md)]; *pp != e; pp = &(*pp)->next)
		;
	*pp = e->next;
	lru_unlink(c, e);
	c->st.entries--;
	c->st.bytes -= e->len;
	c->st.evictions++;
	entry_free(e);
}

static struct entry *
find(struct cert_cache *c, const unsigned char *md, const unsigned char *der,
     size_t len)
{
	struct entry *e;

	for (e = c->bucket[slot(c, md)]; e != NULL; e = e->next)
		if (memcmp(e->md, md, sizeof(e->md)) == 0 && e->len == len &&
		    memcmp(e->der, der, len) == 0)
			return e;
	return NULL;
}

/* Keeps x (a reference of its own) for der; no room is no error. */
static int
keep(struct cert_cache *c, const unsigned char *md, const unsigned char *der,
     size_t len, X509 *x)
{
	struct entry *e;
	size_t s;

	if (len > c->max_bytes / 4) /* one huge certificate cannot flush all */
		return 0;
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->der = malloc(len)) == NULL) {
		free(e);
		return GW_ERR_NOMEM;
	}
	if (!X509_up_ref(x)) {
		free(e->der);
		free(e);
		return GW_ERR_NOMEM;
	}
	while (c->st.entries > 0 && (c->st.entries >= c->max_entries ||
				     c->st.bytes + len > c->max_bytes))
		evict_oldest(c);
	memcpy(e->md, md, sizeof(e->md));
	memcpy(e->der, der, len);
	e->len = len;
	e->x = x;
	s = slot(c, md);
	e->next = c->bucket[s];
	c->bucket[s] = e;
	lru_push(c, e);
	c->st.entries++;
	c->st.bytes += len;
	return 0;
}

static int
get_locked(struct cert_cache *c, const unsigned char *der, size_t len,
	   X509 **out)
{
	unsigned char md[32];
	const unsigned char *p = der;
	struct entry *e;
	unsigned int mdlen = 0;
	X509 *x;

	if (!EVP_DigestInit_ex(c->mdctx, c->sha256, NULL) ||
	    !EVP_DigestUpdate(c->mdctx, der, len) ||
	    !EVP_DigestFinal_ex(c->mdctx, md, &mdlen) || mdlen != sizeof(md))
		return GW_ERR_NOMEM;
	if ((e = find(c, md, der, len)) != NULL) {
		if (!X509_up_ref(e->x))
			return GW_ERR_NOMEM;
		lru_unlink(c, e);
		lru_push(c, e);
		c->st.hits++;
		*out = e->x;
		return 0;
	}
	c->st.misses++;
	if (len > LONG_MAX || (x = d2i_X509(NULL, &p, (long)len)) == NULL)
		return GW_ERR_PARSE;
	if (p != der + len) { /* not exactly one certificate */
		X509_free(x);
		return GW_ERR_PARSE;
	}
	if (keep(c, md, der, len, x) != 0) {
		X509_free(x);
		return GW_ERR_NOMEM;
	}
	*out = x;
	return 0;
}

int
cert_cache_get(struct cert_cache *c, const unsigned char *der, size_t len,
	       X509 **out)
{
	int rc;

	*out = NULL;
	if (len == 0)
		return GW_ERR_PARSE;
	if (pthread_mutex_lock(&c->lock) != 0)
		return GW_ERR_INTERNAL;
	rc = get_locked(c, der, len, out);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void
cert_cache_stats(struct cert_cache *c, struct cert_cache_stats *st)
{
	pthread_mutex_lock(&c->lock);
	*st = c->st;
	pthread_mutex_unlock(&c->lock);
}

static struct cert_cache *shared;
static pthread_once_t shared_once = PTHREAD_ONCE_INIT;

static void
shared_init(void)
{
	shared = cert_cache_new(CERT_CACHE_ENTRIES, CERT_CACHE_BYTES);
}

struct cert_cache *
cert_cache_shared(void)
{
	pthread_once(&shared_once, shared_init);
	return shared;
}
