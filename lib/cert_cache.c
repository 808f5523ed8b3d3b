/* cert_cache.c - decoded certificates, keyed by a keyed hash of their
 * DER; a hit compares the bytes. */
#include "cert_cache.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "gw_err.h"

struct entry {
	uint64_t h;		/* hash(der) */
	unsigned char *der;
	size_t len;
	X509 *x;
	struct entry *next;	/* in its bucket */
	struct entry *newer, *older;
};

struct cert_cache {
	pthread_mutex_t lock;
	uint64_t k0, k1;	/* the hash key, random per cache */
	int collide;		/* tests: every hash the same */
	struct entry **bucket;
	size_t nbucket;		/* a power of two */
	struct entry *newest, *oldest;
	size_t max_entries, max_bytes;
	struct cert_cache_stats st;
};

/* ---- SipHash-2-4 (Aumasson and Bernstein, 2012) ------------------------ */

/* The 8 bytes at p as a little-endian number. */
static uint64_t
le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static void
sipround(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = ROTL(v[1], 13);
	v[1] ^= v[0];
	v[0] = ROTL(v[0], 32);
	v[2] += v[3];
	v[3] = ROTL(v[3], 16);
	v[3] ^= v[2];
	v[0] += v[3];
	v[3] = ROTL(v[3], 21);
	v[3] ^= v[0];
	v[2] += v[1];
	v[1] = ROTL(v[1], 17);
	v[1] ^= v[2];
	v[2] = ROTL(v[2], 32);
}

/* SipHash-2-4 of p[0..n) under the key (k0, k1). */
static uint64_t
siphash(uint64_t k0, uint64_t k1, const unsigned char *p, size_t n)
{
	uint64_t v[4], m;
	size_t i, tail = n & 7;

	v[0] = k0 ^ 0x736f6d6570736575ULL;
	v[1] = k1 ^ 0x646f72616e646f6dULL;
	v[2] = k0 ^ 0x6c7967656e657261ULL;
	v[3] = k1 ^ 0x7465646279746573ULL;
	for (i = 0; i + 8 <= n; i += 8) {
		m = le64(p + i);
		v[3] ^= m;
		sipround(v);
		sipround(v);
		v[0] ^= m;
	}
	/* The last block: the bytes left and the length's low octet. */
	m = (uint64_t)(n & 0xff) << 56;
	while (tail-- > 0)
		m |= (uint64_t)p[i + tail] << (8 * tail);
	v[3] ^= m;
	sipround(v);
	sipround(v);
	v[0] ^= m;
	v[2] ^= 0xff;
	sipround(v);
	sipround(v);
	sipround(v);
	sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* ---- the cache ------------------------------------------------------- */

struct cert_cache *
cert_cache_new(size_t max_entries, size_t max_bytes)
{
	struct cert_cache *c;
	unsigned char key[16];
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
	    RAND_bytes(key, sizeof(key)) != 1) {
		cert_cache_free(c);
		return NULL;
	}
	c->k0 = le64(key);
	c->k1 = le64(key + 8);
	OPENSSL_cleanse(key, sizeof(key));
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
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* A keyed hash's bits are evenly spread, and unknown to a sender who
 * would fill one bucket. */
static size_t
slot(const struct cert_cache *c, uint64_t h)
{
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

	for (pp = &c->bucket[slot(c, e->h)]; *pp != e; pp = &(*pp)->next)
		;
	*pp = e->next;
	lru_unlink(c, e);
	c->st.entries--;
	c->st.bytes -= e->len;
	c->st.evictions++;
	entry_free(e);
}

/*
 * The few most recently used entries, compared before anything is
 * hashed: a sender's certificates (the signer and its chain) come again
 * and again, and the hash of a certificate's DER costs more than
 * comparing it with these.  The bytes decide here as in find().
 */
#define RECENT 4

static struct entry *
find_recent(struct cert_cache *c, const unsigned char *der, size_t len)
{
	struct entry *e;
	int i;

	for (e = c->newest, i = 0; e != NULL && i < RECENT; e = e->older, i++)
		if (e->len == len && memcmp(e->der, der, len) == 0)
			return e;
	return NULL;
}

/* The bytes decide: the hash only says where to look. */
static struct entry *
find(struct cert_cache *c, uint64_t h, const unsigned char *der, size_t len)
{
	struct entry *e;

	for (e = c->bucket[slot(c, h)]; e != NULL; e = e->next)
		if (e->h == h && e->len == len &&
		    memcmp(e->der, der, len) == 0)
			return e;
	return NULL;
}

/* Keeps x (a reference of its own) for der; no room is no error. */
static int
keep(struct cert_cache *c, uint64_t h, const unsigned char *der, size_t len,
     X509 *x)
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
	e->h = h;
	memcpy(e->der, der, len);
	e->len = len;
	e->x = x;
	s = slot(c, h);
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
	const unsigned char *p = der;
	uint64_t h = 0;
	struct entry *e;
	X509 *x;

	if ((e = find_recent(c, der, len)) == NULL) {
		h = c->collide ? 0 : siphash(c->k0, c->k1, der, len);
		e = find(c, h, der, len);
	}
	if (e != NULL) {
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
	if (keep(c, h, der, len, x) != 0) {
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
cert_cache_collide_for_tests(struct cert_cache *c)
{
	pthread_mutex_lock(&c->lock);
	c->collide = 1;
	pthread_mutex_unlock(&c->lock);
}

uint64_t
cert_cache_hash_for_tests(const unsigned char key[16], const unsigned char *p,
			  size_t n)
{
	return siphash(le64(key), le64(key + 8), p, n);
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
