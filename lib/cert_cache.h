/*
 * cert_cache.h - decoded certificates, found by a keyed hash of their
 * DER and told apart by the DER itself.
 *
 * Decoding a certificate with OpenSSL 3.0 costs far more than checking a
 * signature with it: its public key goes through the provider decoders
 * (OSSL_DECODER_*, locks, allocations) every time.  Senders repeat, so a
 * certificate met before is taken from here: its cost is a hash, a
 * lookup and a compare of the bytes; for one of the few most recently
 * used (a sender's signer and chain, met again) only the compare.
 *
 * What the cache vouches for is only "these exact bytes decode to this
 * object".  A hit needs the same bytes, compared in full: the hash
 * (SipHash-2-4 under a key drawn at random for each cache, so that no
 * sender can aim many certificates at one bucket) only says where to
 * look, and two certificates with the same hash are still two entries.
 * A certificate with any byte changed is a different key and is decoded
 * on its own.  Nothing about trust is kept:
 * chain validation, time and purpose checks and signatures are done by
 * the caller for every use.  Bytes that are not exactly one certificate
 * (trailing bytes, or no certificate at all) are never cached.
 *
 * Bounded: at most max_entries certificates and max_bytes of DER; the
 * least recently used go first.  The decoded object is several times
 * its DER: 4.5 KiB of heap for a 733-byte RSA-2048 certificate
 * (measured), so the shared cache full of such is about 4.6 MiB.  The objects handed out are shared (X509_up_ref): callers must
 * not change them.  Safe to call from several threads (one mutex); a
 * worker process has one thread, so the lock is never contended.
 *
 * cert_cache_shared() is the process's cache: the certificates of
 * incoming SignedData (smime_open) and of store records
 * (gw_rec_get_x509: identities, CAs, partner keys) go through it.
 */
#ifndef SMIMEGW_CERT_CACHE_H
#define SMIMEGW_CERT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#define CERT_CACHE_ENTRIES 1024		/* the shared cache's bounds */
#define CERT_CACHE_BYTES (4u << 20)	/* of DER */

struct cert_cache;

struct cert_cache_stats {
	size_t entries;		/* certificates held */
	size_t bytes;		/* their DER */
	unsigned long hits, misses, evictions;
};

/* NULL when out of memory (or a bound is 0). */
struct cert_cache *cert_cache_new(size_t max_entries, size_t max_bytes);
void cert_cache_free(struct cert_cache *c);

/*
 * The certificate whose DER is der[0..len), as a new reference in *out
 * (X509_free it): from the cache, or decoded and kept.  GW_ERR_PARSE when
 * the bytes are not exactly one certificate (nothing kept, the OpenSSL
 * error queue holds why), GW_ERR_NOMEM.
 */
int cert_cache_get(struct cert_cache *c, const unsigned char *der,
		   size_t len, X509 **out);

void cert_cache_stats(struct cert_cache *c, struct cert_cache_stats *st);

/*
 * For the tests only (the gateway never calls them): every certificate
 * of c gets the same hash from now on, so that only the compare of the
 * bytes tells entries apart; and the hash itself, SipHash-2-4 of
 * p[0..n) under key (its known answers).
 */
void cert_cache_collide_for_tests(struct cert_cache *c);
uint64_t cert_cache_hash_for_tests(const unsigned char key[16],
				   const unsigned char *p, size_t n);

/* The process's cache (created on first use); NULL when out of memory:
 * then callers decode every certificate themselves. */
struct cert_cache *cert_cache_shared(void);

#endif
