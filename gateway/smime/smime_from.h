/*
 * smime_from.h - the binding of a signature to the sender a reader
 * sees: whether a signer's certificate covers the From field.
 */
#ifndef SMIME_FROM_H
#define SMIME_FROM_H

#include <stddef.h>

#include <openssl/x509.h>

struct mime_part;

/*
 * 1 when cert covers (addr_rule_covers()) every mailbox of every From
 * field of hdr's own header block (mime_addr_from_each(): comments,
 * quoted display names and groups parsed as RFC 5322 says), or when
 * hdr has no From field at all; identity (idlen bytes) then gets the
 * name that covered the first mailbox, or without a From field the
 * certificate's first name.
 *
 * 0 otherwise, with why (whylen bytes) saying which mailbox cert does
 * not cover, or why the From fields cannot be bound to any signer
 * (not an address list, no mailbox, more than MIME_ADDR_MAX
 * mailboxes).  That reason is a result, not an error: the gw_err
 * detail is cleared before and after the walk.
 */
int smime_from_covered(X509 *cert, const struct mime_part *hdr,
		       char *identity, size_t idlen, char *why,
		       size_t whylen);

#endif
