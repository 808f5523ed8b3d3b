/*
 * p11_pin.h - reading the token PIN from its file.
 *
 * The PIN lives in a file readable by its owner only (mode 0600 or 0400,
 * owned by the effective user or root, a regular file reached without
 * following a symlink).  One trailing "\n" or "\r\n" is stripped, so a
 * file written with echo works; any other control character is refused.
 * The PIN never comes from argv or the environment.
 */
#ifndef P11_PIN_H
#define P11_PIN_H

#include <stddef.h>

#define P11_PIN_MAX 256

/* Reads the PIN into buf (NUL-terminated, at most P11_PIN_MAX - 1
 * bytes) and its length into *len.  Returns 0, GW_ERR_PERM for unsafe
 * ownership or mode, GW_ERR_IO when unreadable, GW_ERR_INVALID for an
 * empty, oversized or malformed PIN.  The detail names the file.  The
 * caller wipes buf with OPENSSL_cleanse() when done; on failure buf is
 * already wiped. */
int p11_pin_read(const char *path, char buf[P11_PIN_MAX], size_t *len);

#endif
