/*
 * cert_lean.h - certificates decoded in bulk (imports), with their
 * public key decoded by one decoder made once.
 *
 * d2i_X509() in OpenSSL 3.0 decodes the certificate's public key as
 * it goes, and for that sets up a decoder context anew for every
 * certificate: it gathers every provider's key managers and decoders
 * (allocations, locks, name compares), some 100 us of a 120 us decode.
 * An import of a million public keys spends nearly all its time
 * there.  cert_lean_d2i() reads the certificate in a library context
 * that has only the null provider, so the key is left undecoded, then
 * decodes the SubjectPublicKeyInfo with a decoder context kept for the
 * process (one per key algorithm), and hangs the key and the
 * certificate's SHA-256 on it (ex_data).  The
 * certificate is otherwise an ordinary one: its fields, extensions,
 * digests and encoding are those of d2i_X509() (tests/unit, lean
 * against d2i_X509).
 *
 * The one difference: X509_get0_pubkey() of such a certificate is
 * NULL, and OpenSSL's own uses of the key (chain building, CMS,
 * X509_verify() with the issuer's key, the EXFLAG_SS "self-signed"
 * extension flag) do not see it.  So lean
 * certificates are for reading and checking records in bulk (public
 * and harvested keys on import), and every check that needs the key
 * takes it from cert_pubkey(), which answers for both kinds.  An
 * X509_dup() of a lean certificate is an ordinary one.
 */
#ifndef SMIMEGW_CERT_LEAN_H
#define SMIMEGW_CERT_LEAN_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * Decodes exactly one certificate from der (len bytes) into *out.
 * *end, if not NULL, gets where the certificate ended (so callers can
 * refuse trailing bytes with their own words).  A key that no decoder
 * takes is left out, as d2i_X509() leaves it.  0, GW_ERR_PARSE when
 * der does not begin with a certificate (no detail is latched and
 * OpenSSL's error queue is cleared: the caller words it), GW_ERR_NOMEM.
 * Safe in several threads at once: each has its own decoders (freed
 * when it ends).
 */
int cert_lean_d2i(const unsigned char *der, size_t len,
		  const unsigned char **end, X509 **out);

/* The public key of x, lean or not (borrowed); NULL when it has none
 * that OpenSSL decodes. */
EVP_PKEY *cert_pubkey(const X509 *x);

/*
 * The SHA-256 of x's DER (its fingerprint, the one home of it: the
 * index names, the fingerprint IDs and the printed fingerprints use
 * it).  A lean certificate had it computed from the bytes it was read
 * from.  0, or GW_ERR_CRYPTO with the detail set.
 */
int cert_sha256(const X509 *x, unsigned char md[32]);

#endif
