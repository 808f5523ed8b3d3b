/*
 * mime_addr.h - addresses in header fields: an RFC 5322 address-list
 * parser, I/O-free, that yields the addr-spec of each mailbox.
 *
 * Grammar: address-list of RFC 5322 section 3.4 (mailboxes and groups,
 * which RFC 6854 allows in From) with the obsolete syntax of section 4.4
 * that real mail still uses: comments and folding white space between
 * any two tokens, empty list elements (", ,"), display names with dots
 * ("John Q. Public"), local parts made of quoted and unquoted words
 * ("john".smith), routes in angle addresses (<@relay:a@b>), domains
 * written as atoms with comments around the dots.  Bytes of 0x80 and
 * above count as text (RFC 6532).  Deliberately lenient only where
 * mobile carriers' mail needs it: a local part may have empty words
 * between dots (a..b@, a.@).
 *
 * What a mailbox yields is its addr-spec as "local@domain":
 *   - comments, white space and line folds between tokens are dropped;
 *   - display names (atoms, quoted strings, RFC 2047 encoded-words,
 *     dots) are skipped, never decoded; '<', '>', ',', '@' inside a
 *     quoted string or a comment are text, not structure;
 *   - a local part is its words joined by the dots between them; when
 *     every byte of it is atext or '.', it is given unquoted
 *     ("a.b"@x gives a.b@x), otherwise as one quoted-string with '"'
 *     and '\' escaped;
 *   - a domain is its atoms joined by dots, or a domain literal
 *     "[...]" without white space; a route is dropped.
 * Anything else is an error: a mailbox without '@', two addresses
 * without a ',' between them, an unclosed comment, quoted string,
 * angle address or group, a group inside a group, a control character
 * in an address, a line break that is not folding white space, a NUL.
 *
 * Ceilings: an addr-spec longer than MIME_ADDR_LEN bytes, or more than
 * MIME_ADDR_MAX mailboxes in one call, is GW_ERR_LIMIT.  The parser
 * keeps no state between calls and allocates nothing; comment nesting
 * is a counter, not recursion.
 *
 * Errors latch a gw_err detail naming the field and the byte at fault
 * ("From field: ... (byte 12)").
 */
#ifndef MIME_ADDR_H
#define MIME_ADDR_H

#include <stddef.h>

struct mime_part;

/* Longest addr-spec yielded (RFC 5321: 64 + 1 + 255, as ADDR_MAX). */
#define MIME_ADDR_LEN 320
/* Most mailboxes one call walks (every From field of a part together). */
#define MIME_ADDR_MAX 100

/*
 * Called with each mailbox's addr-spec (NUL-terminated, at most
 * MIME_ADDR_LEN bytes, valid during the call).  0 goes on; anything
 * else stops the walk, and the walk returns it.
 */
typedef int (*mime_addr_fn)(void *arg, const char *addr);

/*
 * Walks the address-list value[0..len) (a field value, unfolded or
 * not; it may hold NUL bytes, which are an error), calling fn for each
 * mailbox in order.  field names the field in error details ("From").
 * Returns 0 after the last mailbox, what fn returned when it stopped
 * the walk, GW_ERR_PARSE when the value is not an address list or has
 * no mailbox at all (an empty value, an empty group), GW_ERR_LIMIT
 * (see the ceilings above), GW_ERR_INVALID for a NULL value or fn.
 * Mailboxes before an error have been passed to fn.
 */
int mime_addr_list_each(const char *value, size_t len, const char *field,
			mime_addr_fn fn, void *arg);

/*
 * Walks every From field of part's own header block (field names
 * compared as mime_header_name_is() does, so "FROM :" counts), in
 * order, as mime_addr_list_each() does; MIME_ADDR_MAX applies to all
 * of them together, and each field must have a mailbox.  Returns
 * GW_ERR_NOT_FOUND, without a detail, when part has no From field.
 */
int mime_addr_from_each(const struct mime_part *part, mime_addr_fn fn,
			void *arg);

/*
 * The addr-spec of the one mailbox that part's From fields name, into
 * buf (len bytes, MIME_ADDR_LEN + 1 suffice): 0; GW_ERR_NOT_FOUND when
 * there is no From field (no detail); GW_ERR_PARSE when a From field is
 * not an address list or they name more than one mailbox; GW_ERR_LIMIT
 * when the address does not fit in buf.  buf is "" on failure.
 */
int mime_addr_from_one(const struct mime_part *part, char *buf, size_t len);

#endif
